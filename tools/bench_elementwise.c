/* hcl-bench suite `elementwise`: binary ops (no, row and channel broadcast), scale, axpy and the
 * reductions on a few million elements per dtype, as GB/s (bytes read + written) next to the
 * device's copy ceiling (the target for elementwise kernels: >= 70% of it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_elementwise(bench_ctx *b);

enum { K_ADD, K_ADD_ROW, K_MUL_CHANNEL, K_SCALE, K_AXPY, K_SUM_ROWS, K_SUM_COLS, K_BIAS_GRAD_CHANNEL, K_ARGMAX, K_COUNT };
static const char *const kind_names[K_COUNT] = {
    "add", "add row bcast", "mul channel bcast", "scale", "axpy", "sum last axis (rows of 1024)",
    "sum axis 0 (1024 cols)", "reduce_broadcast channel", "argmax (rows of 1024)"};

typedef struct elt_job {
    hcl_context *ctx;
    int kind;
    hcl_tensor *y, *a, *b, *a4, *y4, *rows, *cols, *chan, *idx; /* views/tensors per case */
} elt_job;

static hcl_status elt_run(void *user) {
    elt_job *j = user;
    switch (j->kind) {
    case K_ADD: return hcl_binary(j->ctx, j->y, j->a, j->b, HCL_OP_ADD, HCL_BCAST_NONE);
    case K_ADD_ROW: return hcl_binary(j->ctx, j->y, j->a, j->rows, HCL_OP_ADD, HCL_BCAST_ROW);
    case K_MUL_CHANNEL: return hcl_binary(j->ctx, j->y4, j->a4, j->chan, HCL_OP_MUL, HCL_BCAST_CHANNEL);
    case K_SCALE: return hcl_scale(j->ctx, j->y, j->a, 0.5f);
    case K_AXPY: return hcl_axpy(j->ctx, j->y, 0.5f, j->a);
    case K_SUM_ROWS: return hcl_reduce(j->ctx, j->cols, j->a, 1, HCL_REDUCE_SUM); /* a as (n/1024, 1024) */
    case K_SUM_COLS: return hcl_reduce(j->ctx, j->rows, j->a, 0, HCL_REDUCE_SUM);
    case K_BIAS_GRAD_CHANNEL: return hcl_reduce_broadcast(j->ctx, j->chan, j->a4, HCL_BCAST_CHANNEL, 0);
    default: return hcl_argmax(j->ctx, j->idx, j->a);
    }
}

int bench_suite_elementwise(bench_ctx *b) {
    const size_t D = 1024, C = 64, N = 16;
    size_t n = b->n > 0 ? (size_t)b->n : b->quick ? ((size_t)1 << 20) : ((size_t)1 << 22);
    n = (n + N * C * D - 1) / (N * C * D) * (N * C * D); /* whole rows and channels */
    size_t R = n / D;
    static const hcl_dtype dtypes[] = {HCL_F32, HCL_F16, HCL_BF16};
    double ceiling = bench_copy_ceiling(b);
    float *h = malloc(n * sizeof *h), *hy = malloc(n * sizeof *hy);
    double *ref = malloc(n * sizeof *ref);
    if (!h || !hy || !ref) { free(h); free(hy); free(ref); return 1; }
    bench_fill(h, n, 0.5f, 1.5f, 3);
    int rc = 0;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        hcl_dtype dt = dtypes[d];
        if (b->dtype && strcmp(b->dtype, hcl_dtype_name(dt))) continue;
        if (!b->dtype && b->quick && dt == HCL_BF16) continue;
        int64_t s2[2] = {(int64_t)R, (int64_t)D}, s4[4] = {(int64_t)N, (int64_t)C, (int64_t)(n / (N * C)), 1};
        int64_t sd = (int64_t)D, sr = (int64_t)R, sc = (int64_t)C;
        elt_job j = {.ctx = b->ctx};
        hcl_context *ctx = b->ctx;
        int ok = hcl_tensor_create(ctx, dt, 2, s2, &j.a) == HCL_OK && hcl_tensor_create(ctx, dt, 2, s2, &j.b) == HCL_OK &&
                 hcl_tensor_create(ctx, dt, 2, s2, &j.y) == HCL_OK && hcl_tensor_create(ctx, dt, 1, &sd, &j.rows) == HCL_OK &&
                 hcl_tensor_create(ctx, dt, 1, &sr, &j.cols) == HCL_OK && hcl_tensor_create(ctx, dt, 1, &sc, &j.chan) == HCL_OK &&
                 hcl_tensor_create(ctx, HCL_I32, 1, &sr, &j.idx) == HCL_OK &&
                 hcl_tensor_upload_f32(j.a, h, n) == HCL_OK && hcl_tensor_upload_f32(j.b, h, n) == HCL_OK &&
                 hcl_tensor_fill(j.rows, 1.0) == HCL_OK && hcl_tensor_fill(j.chan, 2.0) == HCL_OK &&
                 hcl_tensor_view(j.a, 0, 4, s4, &j.a4) == HCL_OK && hcl_tensor_view(j.y, 0, 4, s4, &j.y4) == HCL_OK;
        if (!ok) {
            fprintf(stderr, "hcl-bench elementwise: %s\n", hcl_last_error(ctx));
            rc = 1;
        }
        size_t es = hcl_dtype_size(dt);
        for (int k = 0; ok && k < K_COUNT; k++) {
            if (b->quick && (k == K_SUM_COLS || k == K_ARGMAX)) continue;
            j.kind = k;
            double ms = bench_median_ms(b, elt_run, &j);
            double rd = (double)n * es, wr = 0; /* bytes read, written */
            switch (k) {
            case K_ADD: rd *= 2; wr = (double)n * es; break;
            case K_ADD_ROW: wr = (double)n * es; rd += (double)D * es; break;
            case K_MUL_CHANNEL: wr = (double)n * es; rd += (double)C * es; break;
            case K_SCALE: wr = (double)n * es; break;
            case K_AXPY: rd *= 2; wr = (double)n * es; break;
            case K_SUM_ROWS: wr = (double)R * es; break;
            case K_SUM_COLS: wr = (double)D * es; break;
            case K_BIAS_GRAD_CHANNEL: wr = (double)C * es; break;
            default: wr = (double)R * 4; break;
            }
            bench_row r;
            bench_row_init(&r, "elementwise", "halfcl", hcl_dtype_name(dt));
            snprintf(r.case_name, sizeof r.case_name, "%s", kind_names[k]);
            r.m = (long)n;
            r.ms = ms;
            if (ms > 0) {
                r.gbps = (rd + wr) / (ms * 1e6);
                if (k == K_ADD && hcl_tensor_download_f32(j.y, hy, n) == HCL_OK) { /* y = a + a */
                    float *ha = malloc(n * sizeof *ha);
                    if (ha && hcl_tensor_download_f32(j.a, ha, n) == HCL_OK) {
                        for (size_t i = 0; i < n; i++) ref[i] = 2.0 * ha[i];
                        r.rel_err = bench_rel_err(hy, ref, n);
                    }
                    free(ha);
                }
            }
            bench_emit(b, &r);
            if (ms > 0 && ceiling > 0)
                bench_note(b, "  %s %s: %.1f%% of the copy ceiling (%.1f GB/s)", r.case_name, r.dtype, 100 * r.gbps / ceiling, ceiling);
        }
        hcl_tensor *all[] = {j.a4, j.y4, j.a, j.b, j.y, j.rows, j.cols, j.chan, j.idx};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hcl_tensor_free(all[i]);
    }
    free(h); free(hy); free(ref);
    return rc;
}
