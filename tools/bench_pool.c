/* hcl-bench suite `pool`: 2x2 stride-2 max pooling (with an I32 or a U8 argmax) and average
 * pooling, forward and backward, and global average pooling, on the Fashion-MNIST CNN's activation sizes. Pooling
 * is memory-bound: GB/s (bytes read + written) next to the device's copy ceiling. --quick uses a
 * quarter of the batch. */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_pool(bench_ctx *b);

typedef struct pool_job {
    hcl_context *ctx;
    int op; /* 0 max fwd, 1 max bwd, 2 avg fwd, 3 avg bwd, 4 global fwd, 5 global bwd, 6/7 max with U8 argmax */
    hcl_tensor *x, *y, *am, *am8, *g;
    hcl_pool2d_desc d;
} pool_job;

static hcl_status run_pool(void *u) {
    pool_job *j = u;
    switch (j->op) {
    case 0: return hcl_maxpool2d_forward(j->ctx, j->y, j->am, j->x, &j->d);
    case 1: return hcl_maxpool2d_backward(j->ctx, j->x, j->y, j->am, &j->d);
    case 6: return hcl_maxpool2d_forward(j->ctx, j->y, j->am8, j->x, &j->d);
    case 7: return hcl_maxpool2d_backward(j->ctx, j->x, j->y, j->am8, &j->d);
    case 2: return hcl_avgpool2d_forward(j->ctx, j->y, j->x, &j->d);
    case 3: return hcl_avgpool2d_backward(j->ctx, j->x, j->y, &j->d);
    case 4: return hcl_global_avgpool_forward(j->ctx, j->g, j->x);
    default: return hcl_global_avgpool_backward(j->ctx, j->x, j->g);
    }
}

static int want_dtype(const bench_ctx *b, hcl_dtype dt) {
    if (b->dtype) return !strcmp(b->dtype, hcl_dtype_name(dt));
    return dt == HCL_F32 || dt == HCL_F16;
}

int bench_suite_pool(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    static const char *const names[8] = {"max 2x2 fwd+argmax", "max 2x2 bwd", "avg 2x2 fwd", "avg 2x2 bwd",
                                         "global avg fwd", "global avg bwd", "max 2x2 fwd+argmax u8", "max 2x2 bwd u8"};
    /* (N, C, H, W): after the first conv layer (32 ch, 28x28) and after the second (64 ch, 14x14) */
    static const int shapes[3][4] = {{64, 32, 26, 26}, {64, 32, 28, 28}, {64, 64, 14, 14}};
    double ceiling = bench_copy_ceiling(b);
    if (ceiling > 0) bench_note(b, "copy ceiling %.2f GB/s", ceiling);
    int rc = 0;
    for (int si = 0; si < 3; si++) {
        int n = b->quick ? shapes[si][0] / 4 : shapes[si][0], c = shapes[si][1], h = shapes[si][2], w = shapes[si][3];
        for (int di = 0; di < 3; di++) {
            hcl_dtype dt = dts[di];
            if (!want_dtype(b, dt)) continue;
            pool_job j = {.ctx = b->ctx};
            hcl_pool2d_desc_init(&j.d, 2, 2);
            int64_t xs[4] = {n, c, h, w}, ys[4] = {n, c, h / 2, w / 2}, gs[2] = {n, c};
            if (hcl_tensor_create(b->ctx, dt, 4, xs, &j.x) != HCL_OK || hcl_tensor_create(b->ctx, dt, 4, ys, &j.y) != HCL_OK ||
                hcl_tensor_create(b->ctx, HCL_I32, 4, ys, &j.am) != HCL_OK ||
                hcl_tensor_create(b->ctx, HCL_U8, 4, ys, &j.am8) != HCL_OK ||
                hcl_tensor_create(b->ctx, dt, 2, gs, &j.g) != HCL_OK || hcl_tensor_fill(j.x, 0.5) != HCL_OK ||
                hcl_tensor_fill(j.y, 0.25) != HCL_OK || hcl_tensor_fill(j.g, 0.25) != HCL_OK ||
                hcl_maxpool2d_forward(b->ctx, j.y, j.am, j.x, &j.d) != HCL_OK ||
                hcl_maxpool2d_forward(b->ctx, j.y, j.am8, j.x, &j.d) != HCL_OK) {
                fprintf(stderr, "hcl-bench pool: %s\n", hcl_last_error(b->ctx));
                rc = 1;
            } else {
                size_t es = hcl_dtype_size(dt), nx = j.x->count, ny = j.y->count, ng = j.g->count;
                /* bytes each op must move at least */
                size_t bytes[8] = {nx * es + ny * (es + 4), ny * (es + 4) + nx * es, nx * es + ny * es, ny * es + nx * es,
                                   nx * es + ng * es, ng * es + nx * es, nx * es + ny * (es + 1), ny * (es + 1) + nx * es};
                for (int op = 0; op < 8; op++) {
                    j.op = op;
                    bench_row row;
                    bench_row_init(&row, "pool", "halfcl", hcl_dtype_name(dt));
                    snprintf(row.case_name, sizeof row.case_name, "%s %dx%dx%dx%d", names[op], n, c, h, w);
                    row.n = (long)nx;
                    row.ms = bench_median_ms(b, run_pool, &j);
                    if (row.ms > 0) row.gbps = bytes[op] / (row.ms * 1e6);
                    bench_emit(b, &row);
                    if (row.gbps > 0 && ceiling > 0) bench_note(b, "  %.0f%% of the copy ceiling", 100 * row.gbps / ceiling);
                }
            }
            hcl_tensor_free(j.x);
            hcl_tensor_free(j.y);
            hcl_tensor_free(j.am);
            hcl_tensor_free(j.am8);
            hcl_tensor_free(j.g);
        }
    }
    return rc;
}
