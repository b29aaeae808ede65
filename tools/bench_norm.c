/* hcl-bench suite `norm`: BatchNorm2d training forward and backward (32x64x32x32: one work-group
 * per channel) and LayerNorm forward and backward (4096 x 768: one work-group per row).
 * Memory-bound: GB/s counts each tensor once (forward x read + y written; backward x, dy read +
 * dx written; the kernels' second pass over x usually hits cache), next to the copy ceiling.
 * --quick uses a quarter of the batch/rows; --dtype picks one storage dtype (default f32, f16). */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_norm(bench_ctx *b);

typedef struct norm_job {
    hcl_context *ctx;
    hcl_tensor *x, *y, *dy, *dx, *mean, *invstd, *g, *bt, *dg, *db, *rm, *rv;
    int op; /* 0 BN fwd, 1 BN bwd, 2 LN fwd, 3 LN bwd */
} norm_job;

static hcl_status run_norm(void *u) {
    norm_job *j = u;
    switch (j->op) {
    case 0: return hcl_batchnorm2d_forward_train(j->ctx, j->y, j->mean, j->invstd, j->rm, j->rv, j->x, j->g, j->bt, 0.1f, 1e-5f);
    case 1: return hcl_batchnorm2d_backward(j->ctx, j->dx, j->dg, j->db, j->dy, j->x, j->g, j->mean, j->invstd);
    case 2: return hcl_layernorm_forward(j->ctx, j->y, j->mean, j->invstd, j->x, j->g, j->bt, 1e-5f);
    default: return hcl_layernorm_backward(j->ctx, j->dx, j->dg, j->db, j->dy, j->x, j->g, j->mean, j->invstd);
    }
}

static int want_dtype(const bench_ctx *b, hcl_dtype dt) {
    if (b->dtype) return !strcmp(b->dtype, hcl_dtype_name(dt));
    return dt == HCL_F32 || dt == HCL_F16;
}

static void free_job(norm_job *j) {
    hcl_tensor *ts[] = {j->x, j->y, j->dy, j->dx, j->mean, j->invstd, j->g, j->bt, j->dg, j->db, j->rm, j->rv};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
}

/* Creates the tensors for BN (ln = 0: x (N,C,H,W), stats (C)) or LN (x (rows, D), stats (rows)). */
static int setup(bench_ctx *b, norm_job *j, hcl_dtype dt, int ln, const int64_t *shape, int64_t nstat, int64_t nparam) {
    int rank = ln ? 2 : 4;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
    float *h = malloc(n * sizeof *h);
    int ok = h != NULL;
    ok = ok && hcl_tensor_create(b->ctx, dt, rank, shape, &j->x) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, dt, rank, shape, &j->y) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, dt, rank, shape, &j->dy) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, dt, rank, shape, &j->dx) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nstat, &j->mean) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nstat, &j->invstd) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nparam, &j->g) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nparam, &j->bt) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nparam, &j->dg) == HCL_OK;
    ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nparam, &j->db) == HCL_OK;
    if (!ln) {
        ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nparam, &j->rm) == HCL_OK && hcl_tensor_fill(j->rm, 0) == HCL_OK;
        ok = ok && hcl_tensor_create(b->ctx, HCL_F32, 1, &nparam, &j->rv) == HCL_OK && hcl_tensor_fill(j->rv, 1) == HCL_OK;
    }
    if (ok) bench_fill(h, n, -2.0f, 2.0f, 1);
    ok = ok && hcl_tensor_upload_f32(j->x, h, n) == HCL_OK;
    if (ok) bench_fill(h, n, -1.0f, 1.0f, 2);
    ok = ok && hcl_tensor_upload_f32(j->dy, h, n) == HCL_OK;
    ok = ok && hcl_tensor_fill(j->g, 1) == HCL_OK && hcl_tensor_fill(j->bt, 0) == HCL_OK;
    ok = ok && hcl_tensor_fill(j->dg, 0) == HCL_OK && hcl_tensor_fill(j->db, 0) == HCL_OK;
    /* forward once so backward has saved statistics */
    j->op = ln ? 2 : 0;
    ok = ok && run_norm(j) == HCL_OK;
    free(h);
    if (!ok) fprintf(stderr, "hcl-bench norm: %s\n", hcl_last_error(b->ctx));
    return ok;
}

int bench_suite_norm(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    static const char *names[4] = {"batchnorm2d fwd train", "batchnorm2d bwd", "layernorm fwd", "layernorm bwd"};
    double ceiling = bench_copy_ceiling(b);
    if (ceiling > 0) bench_note(b, "copy ceiling %.2f GB/s", ceiling);
    int rc = 0;
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = dts[di];
        if (!want_dtype(b, dt)) continue;
        for (int ln = 0; ln < 2; ln++) {
            int64_t bn_shape[4] = {b->quick ? 8 : 32, 64, 32, 32};
            int64_t ln_shape[2] = {b->m > 0 ? b->m : b->quick ? 1024 : 4096, b->n > 0 ? b->n : 768};
            const int64_t *shape = ln ? ln_shape : bn_shape;
            size_t n = ln ? (size_t)(ln_shape[0] * ln_shape[1]) : (size_t)(bn_shape[0] * bn_shape[1] * bn_shape[2] * bn_shape[3]);
            norm_job j = {.ctx = b->ctx};
            if (!setup(b, &j, dt, ln, shape, ln ? ln_shape[0] : bn_shape[1], ln ? ln_shape[1] : bn_shape[1])) {
                free_job(&j);
                rc = 1;
                continue;
            }
            for (int bwd = 0; bwd < 2; bwd++) {
                j.op = ln * 2 + bwd;
                bench_row r;
                bench_row_init(&r, "norm", "halfcl", hcl_dtype_name(dt));
                if (ln) snprintf(r.case_name, sizeof r.case_name, "%s %lldx%lld", names[j.op], (long long)ln_shape[0], (long long)ln_shape[1]);
                else snprintf(r.case_name, sizeof r.case_name, "%s %lldx%lldx%lldx%lld", names[j.op], (long long)bn_shape[0],
                              (long long)bn_shape[1], (long long)bn_shape[2], (long long)bn_shape[3]);
                r.m = (long)shape[0];
                r.n = (long)n;
                r.ms = bench_median_ms(b, run_norm, &j);
                double bytes = (double)n * hcl_dtype_size(dt) * (bwd ? 3 : 2);
                r.gbps = r.ms > 0 ? bytes / (r.ms * 1e6) : -1;
                bench_emit(b, &r);
                if (r.gbps > 0 && ceiling > 0) bench_note(b, "  %s: %.0f%% of the copy ceiling", r.case_name, 100 * r.gbps / ceiling);
            }
            free_job(&j);
        }
    }
    return rc;
}
