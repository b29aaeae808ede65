/* hcl-bench suite `conv`: the layers the example CNNs need (the Fashion-MNIST first layer
 * 1->32 3x3 as the example runs it, unpadded, and padded; a 64->64 3x3, a depthwise 3x3 and a
 * pointwise 64->128), forward, backward-data and backward-weight (with the bias gradient), in
 * GFLOP/s (2*N*K*P*Q*C/G*R*S per call) and ms. m, n, k are the GEMM
 * equivalent: K/G, N*P*Q, C/G*R*S. --quick uses a quarter of the batch. */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_conv(bench_ctx *b);

typedef struct conv_layer {
    const char *name, *path;
    int n, c, h, w, k, r, s, stride, pad, groups;
} conv_layer;

static const conv_layer layers[] = {
    {"1->32 3x3 28x28 p0 b64", "direct", 64, 1, 28, 28, 32, 3, 3, 1, 0, 1}, /* fashion_mnist's conv */
    {"1->32 3x3 28x28 b64", "direct", 64, 1, 28, 28, 32, 3, 3, 1, 1, 1},
    {"64->64 3x3 14x14 b32", "im2col+gemm", 32, 64, 14, 14, 64, 3, 3, 1, 1, 1},
    {"dw 64ch 3x3 14x14 b32", "direct", 32, 64, 14, 14, 64, 3, 3, 1, 1, 64},
    {"pw 64->128 14x14 b32", "pointwise gemm", 32, 64, 14, 14, 128, 1, 1, 1, 0, 1},
};

typedef struct conv_job {
    hcl_context *ctx;
    int op; /* 0 forward, 1 backward data, 2 backward weight */
    hcl_tensor *x, *w, *bias, *y, *dx, *dw, *dbias;
    hcl_conv2d_desc d;
} conv_job;

static hcl_status run_conv(void *u) {
    conv_job *j = u;
    switch (j->op) {
    case 0: return hcl_conv2d_forward(j->ctx, j->y, j->x, j->w, j->bias, &j->d);
    case 1: return hcl_conv2d_backward_data(j->ctx, j->dx, j->y, j->w, &j->d);
    default: return hcl_conv2d_backward_weight(j->ctx, j->dw, j->dbias, j->y, j->x, &j->d);
    }
}

static int want_dtype(const bench_ctx *b, hcl_dtype dt) {
    if (b->dtype) return !strcmp(b->dtype, hcl_dtype_name(dt));
    return dt == HCL_F32 || dt == HCL_F16;
}

static hcl_tensor *bench_tensor(bench_ctx *b, hcl_dtype dt, int rank, const int64_t *shape, unsigned seed) {
    hcl_tensor *t = NULL;
    if (hcl_tensor_create(b->ctx, dt, rank, shape, &t) != HCL_OK) return NULL;
    float *h = malloc(t->count * sizeof *h);
    if (!h) { hcl_tensor_free(t); return NULL; }
    bench_fill(h, t->count, -1.0f, 1.0f, seed);
    hcl_status st = hcl_tensor_upload_f32(t, h, t->count);
    free(h);
    if (st != HCL_OK) { hcl_tensor_free(t); return NULL; }
    return t;
}

int bench_suite_conv(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    static const char *const ops[3] = {"fwd", "bwd-data", "bwd-weight"};
    int rc = 0;
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; li++) {
        const conv_layer *L = &layers[li];
        int n = b->quick ? (L->n + 3) / 4 : L->n;
        for (int di = 0; di < 3; di++) {
            hcl_dtype dt = dts[di];
            if (!want_dtype(b, dt)) continue;
            conv_job j = {.ctx = b->ctx};
            hcl_conv2d_desc_init(&j.d);
            j.d.stride_h = j.d.stride_w = L->stride;
            j.d.pad_h = j.d.pad_w = L->pad;
            j.d.groups = L->groups;
            int64_t p = hcl_conv2d_out_size(L->h, L->r, L->stride, L->pad, 1);
            int64_t q = hcl_conv2d_out_size(L->w, L->s, L->stride, L->pad, 1);
            int64_t xs[4] = {n, L->c, L->h, L->w}, ws[4] = {L->k, L->c / L->groups, L->r, L->s}, ys[4] = {n, L->k, p, q};
            int64_t bs[1] = {L->k};
            j.x = bench_tensor(b, dt, 4, xs, 1);
            j.w = bench_tensor(b, dt, 4, ws, 2);
            j.bias = bench_tensor(b, dt, 1, bs, 3);
            j.y = bench_tensor(b, dt, 4, ys, 4);
            j.dx = bench_tensor(b, dt, 4, xs, 5);
            j.dw = bench_tensor(b, dt, 4, ws, 6);
            j.dbias = bench_tensor(b, dt, 1, bs, 7);
            if (!j.x || !j.w || !j.bias || !j.y || !j.dx || !j.dw || !j.dbias) {
                fprintf(stderr, "hcl-bench conv: %s\n", hcl_last_error(b->ctx));
                rc = 1;
            } else {
                double flops = 2.0 * n * L->k * (double)(p * q) * (L->c / L->groups) * L->r * L->s;
                for (int op = 0; op < 3; op++) {
                    j.op = op;
                    bench_row row;
                    bench_row_init(&row, "conv", L->path, hcl_dtype_name(dt));
                    snprintf(row.case_name, sizeof row.case_name, "%s %s", L->name, ops[op]);
                    row.m = L->k / L->groups;
                    row.n = (long)(n * p * q);
                    row.k = (long)(L->c / L->groups) * L->r * L->s;
                    row.ms = bench_median_ms(b, run_conv, &j);
                    if (row.ms > 0) row.gflops = flops / (row.ms * 1e6);
                    bench_emit(b, &row);
                }
            }
            hcl_tensor *ts[] = {j.x, j.w, j.bias, j.y, j.dx, j.dw, j.dbias};
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
        }
    }
    return rc;
}
