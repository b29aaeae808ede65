/* GEMM launchers: the public hcl_gemm (shape/dtype validation, batching) and the internal
 * hcl_gemm_enqueue on raw buffers that conv and other ops use. Kernel choice: the simple kernel
 * (gemm_simple.cl) for now; the packed fast kernels (gemm.cl) and CLBlast are added here. */
#include <stdio.h>
#include "ops/ops_internal.h"

void hcl_gemm_desc_init(hcl_gemm_desc *d) {
    if (!d) return;
    d->trans_a = d->trans_b = 0;
    d->alpha = 1.0f;
    d->beta = 0.0f;
    d->epilogue = HCL_ACT_NONE;
    d->epilogue_alpha = 0.01f;
    d->backend = HCL_GEMM_AUTO;
    d->allow_half_accumulation = 0;
}

static hcl_status gemm_simple(hcl_context *ctx, const hcl_gemm_args *g) {
    char opts[160];
    hcl_dt_options(opts, sizeof opts, "A", g->a_dt, "B", g->b_dt, "C", g->c_dt, "BIAS", g->bias ? g->bias_dt : HCL_F32, NULL);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "gemm_simple", opts, "gemm_simple", &k));
    cl_ulong c_off = g->c_off, ldc = g->ldc, sc = g->stride_c, a_off = g->a_off, lda = g->lda, sa = g->stride_a;
    cl_ulong b_off = g->b_off, ldb = g->ldb, sb = g->stride_b, bias_off = g->bias_off;
    cl_ulong M = g->m, N = g->n, K = g->k;
    cl_int has_bias = g->bias != NULL, ta = g->trans_a, tb = g->trans_b, act = (cl_int)g->act;
    cl_mem bias = g->bias ? g->bias : g->c; /* any valid buffer when unused */
    float alpha = g->alpha, beta = g->beta, act_alpha = g->act_alpha;
    hcl_karg args[] = {HCL_ARG(g->c), HCL_ARG(c_off), HCL_ARG(ldc), HCL_ARG(sc),
                       HCL_ARG(g->a), HCL_ARG(a_off), HCL_ARG(lda), HCL_ARG(sa),
                       HCL_ARG(g->b), HCL_ARG(b_off), HCL_ARG(ldb), HCL_ARG(sb),
                       HCL_ARG(bias), HCL_ARG(bias_off), HCL_ARG(has_bias),
                       HCL_ARG(M), HCL_ARG(N), HCL_ARG(K), HCL_ARG(ta), HCL_ARG(tb),
                       HCL_ARG(alpha), HCL_ARG(beta), HCL_ARG(act), HCL_ARG(act_alpha)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global[3] = {g->n, g->m, g->batch ? g->batch : 1};
    size_t local[3] = {g->n >= 16 ? 16 : g->n, g->m >= 4 ? 4 : 1, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

hcl_status hcl_gemm_enqueue(hcl_context *ctx, const hcl_gemm_args *g) {
    if (g->m == 0 || g->n == 0) return HCL_OK;
    return gemm_simple(ctx, g);
}

hcl_status hcl_gemm(hcl_context *ctx, hcl_tensor *c, const hcl_tensor *a, const hcl_tensor *b, const hcl_tensor *bias,
                    const hcl_gemm_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, desc);
    HCL_TRY(hcl_check_float(ctx, c, "C"));
    HCL_TRY(hcl_check_float(ctx, a, "A"));
    HCL_TRY(hcl_check_float(ctx, b, "B"));
    if (bias) HCL_TRY(hcl_check_float(ctx, bias, "bias"));
    HCL_TRY(hcl_check_no_alias(ctx, c, "C", a, "A"));
    HCL_TRY(hcl_check_no_alias(ctx, c, "C", b, "B"));
    HCL_TRY(hcl_check_no_alias(ctx, c, "C", bias, "bias"));
    if (c->rank != 2 && c->rank != 3) return hcl_error(ctx, HCL_ERR_SHAPE, "C must be rank 2 (M,N) or 3 (batch,M,N), is %d", c->rank);
    int batched = c->rank == 3;
    size_t batch = batched ? (size_t)c->shape[0] : 1;
    size_t m = (size_t)c->shape[c->rank - 2], n = (size_t)c->shape[c->rank - 1];
    const hcl_tensor *ops[2] = {a, b};
    size_t rows[2], cols[2], stride[2];
    for (int i = 0; i < 2; i++) {
        const hcl_tensor *t = ops[i];
        const char *nm = i ? "B" : "A";
        if (t->rank == 3 && batched) {
            if ((size_t)t->shape[0] != batch)
                return hcl_error(ctx, HCL_ERR_SHAPE, "%s has batch %lld, C has %zu", nm, (long long)t->shape[0], batch);
        } else if (t->rank != 2) {
            return hcl_error(ctx, HCL_ERR_SHAPE, "%s must be rank 2%s, is rank %d", nm, batched ? " or 3" : "", t->rank);
        }
        rows[i] = (size_t)t->shape[t->rank - 2];
        cols[i] = (size_t)t->shape[t->rank - 1];
        stride[i] = t->rank == 3 ? rows[i] * cols[i] : 0;
    }
    size_t am = desc->trans_a ? cols[0] : rows[0], ak = desc->trans_a ? rows[0] : cols[0];
    size_t bk = desc->trans_b ? cols[1] : rows[1], bn = desc->trans_b ? rows[1] : cols[1];
    if (am != m || bn != n || ak != bk)
        return hcl_error(ctx, HCL_ERR_SHAPE, "op(A) is %zux%zu, op(B) is %zux%zu, C is %zux%zu: inner or outer dims disagree",
                         am, ak, bk, bn, m, n);
    if (bias && bias->count != n) return hcl_error(ctx, HCL_ERR_SHAPE, "bias has %zu elements, C has %zu columns", bias->count, n);
    if ((unsigned)desc->epilogue >= HCL_ACT_COUNT_) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid epilogue %d", (int)desc->epilogue);
    hcl_gemm_args g = {
        .a = a->buffer, .b = b->buffer, .c = c->buffer, .bias = bias ? bias->buffer : NULL,
        .a_off = a->offset, .b_off = b->offset, .c_off = c->offset, .bias_off = bias ? bias->offset : 0,
        .a_dt = a->dtype, .b_dt = b->dtype, .c_dt = c->dtype, .bias_dt = bias ? bias->dtype : HCL_F32,
        .lda = cols[0], .ldb = cols[1], .ldc = n,
        .stride_a = stride[0], .stride_b = stride[1], .stride_c = batched ? m * n : 0,
        .m = m, .n = n, .k = ak, .batch = batch,
        .trans_a = desc->trans_a, .trans_b = desc->trans_b, .alpha = desc->alpha, .beta = desc->beta,
        .act = desc->epilogue, .act_alpha = desc->epilogue_alpha, .backend = desc->backend,
        .allow_half_accumulation = desc->allow_half_accumulation,
    };
    return hcl_gemm_enqueue(ctx, &g);
}
