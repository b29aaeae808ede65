/* Activation launchers: y = act(x) and dx = dy * act'(x) over any element count, any mix of
 * F32/F16/BF16, in place allowed (y == x, dx == dy). Kernels: cl_kernels/activation.cl, one
 * program per (dtypes, elements per work-item) holding a kernel per activation. */
#include <stdio.h>
#include "ops/ops_internal.h"

static const char *const act_names[HCL_ACT_COUNT_] = {"none", "relu", "leaky_relu", "sigmoid",
                                                       "tanh", "gelu", "gelu_tanh", "silu"};

const char *hcl_activation_name(hcl_activation act) {
    return (unsigned)act < HCL_ACT_COUNT_ ? act_names[act] : NULL;
}

/* out is exactly in (same buffer, offset, dtype and count): the allowed in-place case. */
static int same_tensor(const hcl_tensor *out, const hcl_tensor *in) {
    return out->buffer == in->buffer && out->offset == in->offset && out->dtype == in->dtype && out->count == in->count;
}

static hcl_status check_act(hcl_context *ctx, hcl_activation act) {
    if ((unsigned)act >= HCL_ACT_COUNT_) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid activation %d", (int)act);
    return HCL_OK;
}

/* y (n) = act(x (n)); y may be x. */
hcl_status hcl_activation_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, hcl_activation act, float alpha) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(check_act(ctx, act));
    HCL_TRY(hcl_check_same_count(ctx, y, "y", x, "x"));
    if (!same_tensor(y, x)) HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    int vec = hcl_elementwise_vec(ctx);
    char opts[128], name[32];
    int used = snprintf(opts, sizeof opts, "-DVEC=%d ", vec);
    /* forward and backward on the same dtypes share one program (DX = Y, DY = Y here) */
    hcl_dt_options(opts + used, sizeof opts - (size_t)used, "Y", y->dtype, "X", x->dtype, "DX", y->dtype, "DY", y->dtype, NULL);
    snprintf(name, sizeof name, "act_forward_%d", (int)act);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "activation", opts, name, &k));
    cl_ulong yo = hcl_off(y), xo = hcl_off(x), n = x->count;
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(yo), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(n), HCL_ARG(alpha)};
    return hcl_launch_1d(ctx, k, (x->count + (size_t)vec - 1) / (size_t)vec, 0, args, sizeof args / sizeof args[0]);
}

/* dx (n) = dy (n) * act'(x (n)); dx may be dy, never x. */
hcl_status hcl_activation_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *x,
                                   hcl_activation act, float alpha) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, dx, "dx"));
    HCL_TRY(hcl_check_float(ctx, dy, "dy"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(check_act(ctx, act));
    HCL_TRY(hcl_check_same_count(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_same_count(ctx, dx, "dx", x, "x"));
    if (!same_tensor(dx, dy)) HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", x, "x"));
    int vec = hcl_elementwise_vec(ctx);
    char opts[160], name[32];
    int used = snprintf(opts, sizeof opts, "-DVEC=%d ", vec);
    hcl_dt_options(opts + used, sizeof opts - (size_t)used, "Y", dx->dtype, "X", x->dtype, "DX", dx->dtype, "DY", dy->dtype, NULL);
    snprintf(name, sizeof name, "act_backward_%d", (int)act);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "activation", opts, name, &k));
    cl_ulong dxo = hcl_off(dx), dyo = hcl_off(dy), xo = hcl_off(x), n = x->count;
    hcl_karg args[] = {HCL_ARG(dx->buffer), HCL_ARG(dxo), HCL_ARG(dy->buffer), HCL_ARG(dyo),
                       HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(n), HCL_ARG(alpha)};
    return hcl_launch_1d(ctx, k, (x->count + (size_t)vec - 1) / (size_t)vec, 0, args, sizeof args / sizeof args[0]);
}
