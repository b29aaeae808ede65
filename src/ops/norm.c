/* Normalisation launchers (cl_kernels/norm.cl): BatchNorm2d training/inference/backward and
 * LayerNorm forward/backward. Statistics are FP32 (Welford per work-item, fixed-tree Chan merge
 * per work-group: one work-group per BN channel or LN row), so results are the same bits every
 * run on a device. gamma/beta may be any float dtype (or NULL for 1 and 0), independently of x. */
#include <math.h>
#include <stdio.h>
#include "ops/ops_internal.h"

#define NORM_MAX_WG 256

/* The work-group size for `want` items per group: 64 or 256 (two sizes only, since drivers like
 * PoCL compile a kernel once per local size), within the device and kernel limits (then the
 * largest power of two below them). */
static hcl_status pick_wg(hcl_context *ctx, cl_kernel k, size_t want, size_t *wg) {
    want = want <= 64 ? 64 : NORM_MAX_WG;
    size_t kmax = 0;
    HCL_CL_TRY(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL));
    size_t lim = NORM_MAX_WG;
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < lim) lim = ctx->info.max_work_group_size;
    if (kmax && kmax < lim) lim = kmax;
    if (want < lim) lim = want;
    size_t p = 1;
    while (p * 2 <= lim) p *= 2;
    *wg = p;
    return HCL_OK;
}

/* Work-group size of the row kernels (LayerNorm: one work-group per row). On CPUs each barrier is
 * a pass over the work-group, so a few work-items that each take >= 32 elements of the row beat
 * a wide tree reduction (PoCL: 10x on (2048, 128)); elsewhere the wide reduction. */
static size_t pow2_ceil(size_t n) {
    size_t p = 1;
    while (p < n && p < ((size_t)1 << 30)) p *= 2;
    return p;
}

/* An optional float tensor of `count` elements (gamma, beta, dgamma, dbeta). */
static hcl_status check_param(hcl_context *ctx, const hcl_tensor *t, const char *name, size_t count) {
    if (!t) return HCL_OK;
    HCL_TRY(hcl_check_float(ctx, t, name));
    if (t->count != count) return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements; it must have %zu", name, t->count, count);
    return HCL_OK;
}

/* An F32 statistics tensor of `count` elements; NULL allowed when nullable. */
static hcl_status check_stat(hcl_context *ctx, const hcl_tensor *t, const char *name, size_t count, int nullable) {
    if (!t && nullable) return HCL_OK;
    HCL_TRY(hcl_check_dtype(ctx, t, HCL_F32, name));
    if (t->count != count) return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements; it must have %zu", name, t->count, count);
    return HCL_OK;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* x (N,C,H,W) float; y the same shape. Sets N, C, HW. */
static hcl_status check_bn_xy(hcl_context *ctx, const hcl_tensor *y, const char *yn, const hcl_tensor *x, const char *xn,
                              size_t *N, size_t *C, size_t *HW) {
    HCL_TRY(hcl_check_float(ctx, y, yn));
    HCL_TRY(hcl_check_float(ctx, x, xn));
    HCL_TRY(hcl_check_rank(ctx, x, 4, xn));
    HCL_TRY(hcl_check_same_shape(ctx, y, yn, x, xn));
    *N = (size_t)x->shape[0];
    *C = (size_t)x->shape[1];
    *HW = (size_t)x->shape[2] * (size_t)x->shape[3];
    return HCL_OK;
}

static hcl_dtype dt_or(const hcl_tensor *t, hcl_dtype dflt) { return t ? t->dtype : dflt; }

/* One option set for every kernel of norm.cl, the dtypes a launcher does not use derived from
 * the ones it does, so that a forward and its backward (dy in y's dtype, dgamma/dbeta in
 * gamma's) share one program build. */
static const char *fwd_options(char *buf, size_t len, const hcl_tensor *x, const hcl_tensor *y, const hcl_tensor *g,
                               const hcl_tensor *b) {
    hcl_dtype gd = dt_or(g, HCL_F32), bd = dt_or(b, gd);
    return hcl_dt_options(buf, len, "X", x->dtype, "Y", y->dtype, "G", gd, "B", bd, "DY", y->dtype, "DG", gd, "DB", bd, NULL);
}
static const char *bwd_options(char *buf, size_t len, const hcl_tensor *x, const hcl_tensor *dx, const hcl_tensor *g,
                               const hcl_tensor *dy, const hcl_tensor *dg, const hcl_tensor *db) {
    hcl_dtype gd = dt_or(g, dt_or(dg, HCL_F32)), dgd = dt_or(dg, gd), dbd = dt_or(db, dgd);
    return hcl_dt_options(buf, len, "X", x->dtype, "Y", dx->dtype, "G", gd, "B", dbd, "DY", dy->dtype, "DG", dgd, "DB", dbd,
                          NULL);
}
static cl_mem buf_or(const hcl_tensor *t, const hcl_tensor *fallback) { return t ? t->buffer : fallback->buffer; }
static cl_ulong off_or0(const hcl_tensor *t) { return t ? hcl_off(t) : 0; }

// y (N,C,H,W), save_mean/save_invstd (C) f32, running_mean/running_var (C) f32 or NULL, x (N,C,H,W),
// gamma/beta (C) or NULL
hcl_status hcl_batchnorm2d_forward_train(hcl_context *ctx, hcl_tensor *y, hcl_tensor *save_mean, hcl_tensor *save_invstd,
                                         hcl_tensor *running_mean, hcl_tensor *running_var, const hcl_tensor *x,
                                         const hcl_tensor *gamma, const hcl_tensor *beta, float momentum, float eps) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    size_t N = 0, C = 0, HW = 0;
    HCL_TRY(check_bn_xy(ctx, y, "y", x, "x", &N, &C, &HW));
    HCL_TRY(check_stat(ctx, save_mean, "save_mean", C, 0));
    HCL_TRY(check_stat(ctx, save_invstd, "save_invstd", C, 0));
    HCL_TRY(check_stat(ctx, running_mean, "running_mean", C, 1));
    HCL_TRY(check_stat(ctx, running_var, "running_var", C, 1));
    HCL_TRY(check_param(ctx, gamma, "gamma", C));
    HCL_TRY(check_param(ctx, beta, "beta", C));
    const hcl_tensor *outs[] = {y, save_mean, save_invstd, running_mean, running_var};
    const char *onames[] = {"y", "save_mean", "save_invstd", "running_mean", "running_var"};
    const hcl_tensor *ins[] = {x, gamma, beta};
    const char *inames[] = {"x", "gamma", "beta"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));
    if (!isfinite(momentum) || momentum < 0 || momentum > 1)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "momentum %g must be in [0, 1]", (double)momentum);
    if (!isfinite(eps) || eps < 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "eps %g must be finite and >= 0", (double)eps);
    if (N * HW < 2) /* as PyTorch: the unbiased variance of one value is undefined */
        return hcl_error(ctx, HCL_ERR_SHAPE,
                         "batch norm training needs more than one value per channel (N*H*W = %zu)", N * HW);
    char opts[192];
    fwd_options(opts, sizeof opts, x, y, gamma, beta);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "bn_forward_train", &k));
    size_t wg;
    HCL_TRY(pick_wg(ctx, k, pow2_ceil(N * HW), &wg));
    cl_ulong y_off = hcl_off(y), sm_off = hcl_off(save_mean), si_off = hcl_off(save_invstd);
    cl_ulong rm_off = off_or0(running_mean), rv_off = off_or0(running_var), x_off = hcl_off(x);
    cl_ulong g_off = off_or0(gamma), b_off = off_or0(beta), n = N, c = C, hw = HW;
    cl_int has_rm = running_mean != NULL, has_rv = running_var != NULL, has_g = gamma != NULL, has_b = beta != NULL;
    cl_mem rm = buf_or(running_mean, save_mean), rv = buf_or(running_var, save_mean);
    cl_mem g = buf_or(gamma, x), b = buf_or(beta, x);
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(save_mean->buffer), HCL_ARG(sm_off),
                       HCL_ARG(save_invstd->buffer), HCL_ARG(si_off), HCL_ARG(rm), HCL_ARG(rm_off), HCL_ARG(has_rm),
                       HCL_ARG(rv), HCL_ARG(rv_off), HCL_ARG(has_rv), HCL_ARG(x->buffer), HCL_ARG(x_off),
                       HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g), HCL_ARG(b), HCL_ARG(b_off), HCL_ARG(has_b),
                       HCL_ARG(n), HCL_ARG(c), HCL_ARG(hw), HCL_ARG(momentum), HCL_ARG(eps),
                       HCL_LOCAL(wg * sizeof(float)), HCL_LOCAL(wg * sizeof(float)), HCL_LOCAL(wg * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, NELEM(args)));
    size_t global = C * wg;
    return hcl_kernel_run(ctx, k, 1, &global, &wg);
}

// y (N,C,H,W) = normalise x (N,C,H,W) with running_mean/running_var (C) f32; gamma/beta (C) or NULL
hcl_status hcl_batchnorm2d_forward_inference(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x,
                                             const hcl_tensor *running_mean, const hcl_tensor *running_var,
                                             const hcl_tensor *gamma, const hcl_tensor *beta, float eps) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    size_t N = 0, C = 0, HW = 0;
    HCL_TRY(check_bn_xy(ctx, y, "y", x, "x", &N, &C, &HW));
    HCL_TRY(check_stat(ctx, running_mean, "running_mean", C, 0));
    HCL_TRY(check_stat(ctx, running_var, "running_var", C, 0));
    HCL_TRY(check_param(ctx, gamma, "gamma", C));
    HCL_TRY(check_param(ctx, beta, "beta", C));
    const hcl_tensor *outs[] = {y};
    const char *onames[] = {"y"};
    const hcl_tensor *ins[] = {x, running_mean, running_var, gamma, beta};
    const char *inames[] = {"x", "running_mean", "running_var", "gamma", "beta"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));
    if (!isfinite(eps) || eps < 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "eps %g must be finite and >= 0", (double)eps);
    char opts[192];
    fwd_options(opts, sizeof opts, x, y, gamma, beta);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "bn_forward_inference", &k));
    cl_ulong y_off = hcl_off(y), x_off = hcl_off(x), rm_off = hcl_off(running_mean), rv_off = hcl_off(running_var);
    cl_ulong g_off = off_or0(gamma), b_off = off_or0(beta), total = x->count, c = C, hw = HW;
    cl_int has_g = gamma != NULL, has_b = beta != NULL;
    cl_mem g = buf_or(gamma, x), b = buf_or(beta, x);
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off),
                       HCL_ARG(running_mean->buffer), HCL_ARG(rm_off), HCL_ARG(running_var->buffer), HCL_ARG(rv_off),
                       HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g), HCL_ARG(b), HCL_ARG(b_off), HCL_ARG(has_b),
                       HCL_ARG(total), HCL_ARG(c), HCL_ARG(hw), HCL_ARG(eps)};
    return hcl_launch_1d(ctx, k, x->count, 0, args, NELEM(args));
}

// dx (N,C,H,W) overwritten; dgamma/dbeta (C) accumulated or NULL; dy, x (N,C,H,W); gamma (C) or
// NULL; save_mean/save_invstd (C) f32 from the training forward
hcl_status hcl_batchnorm2d_backward(hcl_context *ctx, hcl_tensor *dx, hcl_tensor *dgamma, hcl_tensor *dbeta,
                                    const hcl_tensor *dy, const hcl_tensor *x, const hcl_tensor *gamma,
                                    const hcl_tensor *save_mean, const hcl_tensor *save_invstd) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    size_t N = 0, C = 0, HW = 0;
    HCL_TRY(check_bn_xy(ctx, dx, "dx", x, "x", &N, &C, &HW));
    HCL_TRY(hcl_check_float(ctx, dy, "dy"));
    HCL_TRY(hcl_check_same_shape(ctx, dy, "dy", x, "x"));
    HCL_TRY(check_param(ctx, dgamma, "dgamma", C));
    HCL_TRY(check_param(ctx, dbeta, "dbeta", C));
    HCL_TRY(check_param(ctx, gamma, "gamma", C));
    HCL_TRY(check_stat(ctx, save_mean, "save_mean", C, 0));
    HCL_TRY(check_stat(ctx, save_invstd, "save_invstd", C, 0));
    const hcl_tensor *outs[] = {dx, dgamma, dbeta};
    const char *onames[] = {"dx", "dgamma", "dbeta"};
    const hcl_tensor *ins[] = {dy, x, gamma, save_mean, save_invstd};
    const char *inames[] = {"dy", "x", "gamma", "save_mean", "save_invstd"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));
    char opts[192];
    bwd_options(opts, sizeof opts, x, dx, gamma, dy, dgamma, dbeta);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "bn_backward", &k));
    size_t wg;
    HCL_TRY(pick_wg(ctx, k, pow2_ceil(N * HW), &wg));
    cl_ulong dx_off = hcl_off(dx), dg_off = off_or0(dgamma), db_off = off_or0(dbeta), dy_off = hcl_off(dy);
    cl_ulong x_off = hcl_off(x), g_off = off_or0(gamma), sm_off = hcl_off(save_mean), si_off = hcl_off(save_invstd);
    cl_ulong n = N, c = C, hw = HW;
    cl_int has_dg = dgamma != NULL, has_db = dbeta != NULL, has_g = gamma != NULL;
    cl_mem dg = buf_or(dgamma, dx), db = buf_or(dbeta, dx), g = buf_or(gamma, x);
    hcl_karg args[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dg), HCL_ARG(dg_off), HCL_ARG(has_dg),
                       HCL_ARG(db), HCL_ARG(db_off), HCL_ARG(has_db), HCL_ARG(dy->buffer), HCL_ARG(dy_off),
                       HCL_ARG(x->buffer), HCL_ARG(x_off), HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g),
                       HCL_ARG(save_mean->buffer), HCL_ARG(sm_off), HCL_ARG(save_invstd->buffer), HCL_ARG(si_off),
                       HCL_ARG(n), HCL_ARG(c), HCL_ARG(hw), HCL_LOCAL(wg * sizeof(float)), HCL_LOCAL(wg * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, NELEM(args)));
    size_t global = C * wg;
    return hcl_kernel_run(ctx, k, 1, &global, &wg);
}

/* x (..., D) float with rank >= 1; y the same shape. Sets R (rows) and D. */
static hcl_status check_ln_xy(hcl_context *ctx, const hcl_tensor *y, const char *yn, const hcl_tensor *x, size_t *R, size_t *D) {
    HCL_TRY(hcl_check_float(ctx, y, yn));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    if (x->rank < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "x must have rank >= 1 (..., D), has rank 0");
    HCL_TRY(hcl_check_same_shape(ctx, y, yn, x, "x"));
    *D = (size_t)x->shape[x->rank - 1];
    *R = x->count / *D;
    return HCL_OK;
}

// y (..., D), save_mean/save_invstd (rows) f32, x (..., D), gamma/beta (D) or NULL
hcl_status hcl_layernorm_forward(hcl_context *ctx, hcl_tensor *y, hcl_tensor *save_mean, hcl_tensor *save_invstd,
                                 const hcl_tensor *x, const hcl_tensor *gamma, const hcl_tensor *beta, float eps) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    size_t R = 0, D = 1;
    HCL_TRY(check_ln_xy(ctx, y, "y", x, &R, &D));
    HCL_TRY(check_stat(ctx, save_mean, "save_mean", R, 0));
    HCL_TRY(check_stat(ctx, save_invstd, "save_invstd", R, 0));
    HCL_TRY(check_param(ctx, gamma, "gamma", D));
    HCL_TRY(check_param(ctx, beta, "beta", D));
    const hcl_tensor *outs[] = {y, save_mean, save_invstd};
    const char *onames[] = {"y", "save_mean", "save_invstd"};
    const hcl_tensor *ins[] = {x, gamma, beta};
    const char *inames[] = {"x", "gamma", "beta"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));
    if (!isfinite(eps) || eps < 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "eps %g must be finite and >= 0", (double)eps);
    char opts[192];
    fwd_options(opts, sizeof opts, x, y, gamma, beta);
    cl_kernel k;
    cl_ulong y_off = hcl_off(y), sm_off = hcl_off(save_mean), si_off = hcl_off(save_invstd), x_off = hcl_off(x);
    cl_ulong g_off = off_or0(gamma), b_off = off_or0(beta), d = D, r = R;
    cl_int has_g = gamma != NULL, has_b = beta != NULL;
    cl_mem g = buf_or(gamma, x), b = buf_or(beta, x);
    if (ctx->info.is_cpu) { /* a work-item per row: on CPUs each barrier is a pass over the work-group */
        HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "ln_forward_rows", &k));
        hcl_karg rargs[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(save_mean->buffer), HCL_ARG(sm_off),
                            HCL_ARG(save_invstd->buffer), HCL_ARG(si_off), HCL_ARG(x->buffer), HCL_ARG(x_off),
                            HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g), HCL_ARG(b), HCL_ARG(b_off), HCL_ARG(has_b),
                            HCL_ARG(d), HCL_ARG(eps), HCL_ARG(r)};
        return hcl_launch_1d(ctx, k, R, 0, rargs, NELEM(rargs));
    }
    HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "ln_forward", &k));
    size_t wg;
    HCL_TRY(pick_wg(ctx, k, pow2_ceil(D), &wg));
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(save_mean->buffer), HCL_ARG(sm_off),
                       HCL_ARG(save_invstd->buffer), HCL_ARG(si_off), HCL_ARG(x->buffer), HCL_ARG(x_off),
                       HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g), HCL_ARG(b), HCL_ARG(b_off), HCL_ARG(has_b),
                       HCL_ARG(d), HCL_ARG(eps), HCL_LOCAL(wg * sizeof(float)), HCL_LOCAL(wg * sizeof(float)),
                       HCL_LOCAL(wg * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, NELEM(args)));
    size_t global = R * wg;
    return hcl_kernel_run(ctx, k, 1, &global, &wg);
}

#define LN_ROWS_PER_BLOCK 32

// dx (..., D) overwritten; dgamma/dbeta (D) accumulated or NULL; dy, x (..., D); gamma (D) or NULL;
// save_mean/save_invstd (rows) f32. dgamma/dbeta: column sums over row blocks of 32 into the
// workspace, then the blocks in order (deterministic).
hcl_status hcl_layernorm_backward(hcl_context *ctx, hcl_tensor *dx, hcl_tensor *dgamma, hcl_tensor *dbeta,
                                  const hcl_tensor *dy, const hcl_tensor *x, const hcl_tensor *gamma,
                                  const hcl_tensor *save_mean, const hcl_tensor *save_invstd) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    size_t R = 0, D = 1;
    HCL_TRY(check_ln_xy(ctx, dx, "dx", x, &R, &D));
    HCL_TRY(hcl_check_float(ctx, dy, "dy"));
    HCL_TRY(hcl_check_same_shape(ctx, dy, "dy", x, "x"));
    HCL_TRY(check_param(ctx, dgamma, "dgamma", D));
    HCL_TRY(check_param(ctx, dbeta, "dbeta", D));
    HCL_TRY(check_param(ctx, gamma, "gamma", D));
    HCL_TRY(check_stat(ctx, save_mean, "save_mean", R, 0));
    HCL_TRY(check_stat(ctx, save_invstd, "save_invstd", R, 0));
    const hcl_tensor *outs[] = {dx, dgamma, dbeta};
    const char *onames[] = {"dx", "dgamma", "dbeta"};
    const hcl_tensor *ins[] = {dy, x, gamma, save_mean, save_invstd};
    const char *inames[] = {"dy", "x", "gamma", "save_mean", "save_invstd"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));
    char opts[192];
    bwd_options(opts, sizeof opts, x, dx, gamma, dy, dgamma, dbeta);
    cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy), x_off = hcl_off(x), g_off = off_or0(gamma);
    cl_ulong sm_off = hcl_off(save_mean), si_off = hcl_off(save_invstd), d = D, r = R;
    cl_int has_g = gamma != NULL;
    cl_mem g = buf_or(gamma, x);
    if (dgamma || dbeta) { /* parameter gradients first: the workspace is ours until we return */
        size_t nblk = (R + LN_ROWS_PER_BLOCK - 1) / LN_ROWS_PER_BLOCK;
        if (nblk > SIZE_MAX / (2 * sizeof(float)) / D) return hcl_error(ctx, HCL_ERR_OVERFLOW, "workspace size overflows");
        cl_mem ws;
        HCL_TRY(hcl_workspace_get(ctx, nblk * 2 * D * sizeof(float), &ws));
        cl_kernel kp, kf;
        HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "ln_backward_params_partial", &kp));
        HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "ln_backward_params_final", &kf));
        cl_ulong ws_off = 0, rpb = LN_ROWS_PER_BLOCK, nb = nblk;
        hcl_karg pargs[] = {HCL_ARG(ws), HCL_ARG(ws_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(x->buffer),
                            HCL_ARG(x_off), HCL_ARG(save_mean->buffer), HCL_ARG(sm_off), HCL_ARG(save_invstd->buffer),
                            HCL_ARG(si_off), HCL_ARG(r), HCL_ARG(d), HCL_ARG(rpb)};
        HCL_TRY(hcl_kernel_set_args(ctx, kp, pargs, NELEM(pargs)));
        size_t gp[2] = {D, nblk}, lp[2] = {64, 1}; /* global rounds up to 64; the kernel guards d < D */
        HCL_TRY(hcl_kernel_run(ctx, kp, 2, gp, D >= 64 ? lp : NULL));
        cl_ulong dg_off = off_or0(dgamma), db_off = off_or0(dbeta);
        cl_int has_dg = dgamma != NULL, has_db = dbeta != NULL;
        cl_mem dg = buf_or(dgamma, dx), db = buf_or(dbeta, dx);
        hcl_karg fargs[] = {HCL_ARG(dg), HCL_ARG(dg_off), HCL_ARG(has_dg), HCL_ARG(db), HCL_ARG(db_off), HCL_ARG(has_db),
                            HCL_ARG(ws), HCL_ARG(ws_off), HCL_ARG(nb), HCL_ARG(d)};
        HCL_TRY(hcl_launch_1d(ctx, kf, D, 0, fargs, NELEM(fargs)));
    }
    cl_kernel k;
    if (ctx->info.is_cpu) { /* as in the forward */
        HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "ln_backward_dx_rows", &k));
        hcl_karg rargs[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(x->buffer),
                            HCL_ARG(x_off), HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g), HCL_ARG(save_mean->buffer),
                            HCL_ARG(sm_off), HCL_ARG(save_invstd->buffer), HCL_ARG(si_off), HCL_ARG(d), HCL_ARG(r)};
        return hcl_launch_1d(ctx, k, R, 0, rargs, NELEM(rargs));
    }
    HCL_TRY(hcl_kernel_get(ctx, "norm", opts, "ln_backward_dx", &k));
    size_t wg;
    HCL_TRY(pick_wg(ctx, k, pow2_ceil(D), &wg));
    hcl_karg args[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(x->buffer),
                       HCL_ARG(x_off), HCL_ARG(g), HCL_ARG(g_off), HCL_ARG(has_g), HCL_ARG(save_mean->buffer),
                       HCL_ARG(sm_off), HCL_ARG(save_invstd->buffer), HCL_ARG(si_off), HCL_ARG(d),
                       HCL_LOCAL(wg * sizeof(float)), HCL_LOCAL(wg * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, NELEM(args)));
    size_t global = R * wg;
    return hcl_kernel_run(ctx, k, 1, &global, &wg);
}
