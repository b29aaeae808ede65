/* Loss launchers (loss.cl): fused softmax cross-entropy, MSE, BCE with logits, distillation. Each computes
 * per-group partial sums in FP32 into the context workspace and reduces them in one work-group
 * in a fixed order (deterministic, no float atomics); small problems run as a single group
 * that writes the loss directly (one launch). */
#include <math.h>
#include "ops/ops_internal.h"

/* Rows of at most this many classes take the one-work-item-per-row cross-entropy kernel. */
#define LOSS_ROW_MAX_COLS 64
#define LOSS_WG_MAX 256
/* Most partial sums (work-groups) of the first pass. */
#define LOSS_MAX_GROUPS 256
/* Elements (or rows) per work-item before a second work-group is used. */
#define LOSS_ITEMS_PER_WI 16

static hcl_status loss_pow2_local(hcl_context *ctx, cl_kernel k, size_t cap, size_t *local) {
    size_t kmax = 0;
    HCL_CL_TRY(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL));
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < kmax) kmax = ctx->info.max_work_group_size;
    if (kmax < cap) cap = kmax;
    size_t l = 1;
    while (l * 2 <= cap) l *= 2;
    *local = l;
    return HCL_OK;
}

/* Smallest power of two >= n, at most cap. */
static size_t loss_pow2_ceil(size_t n, size_t cap) {
    size_t l = 1;
    while (l < n && l < cap) l *= 2;
    return l;
}

/* Checks shared by every loss: loss is a one-element F32 tensor, the gradient and grad_scale as
 * documented, and no output overlaps an input or the other output. */
static hcl_status loss_check_common(hcl_context *ctx, const hcl_tensor *loss, const hcl_tensor *grad, const char *grad_name,
                                    const hcl_tensor *input, const char *input_name, const hcl_tensor *other,
                                    const char *other_name, const hcl_tensor *grad_scale) {
    HCL_TRY(hcl_check_scalar_f32(ctx, loss, "loss", 0));
    HCL_TRY(hcl_check_scalar_f32(ctx, grad_scale, "grad_scale", 1));
    if (grad) {
        HCL_TRY(hcl_check_float(ctx, grad, grad_name));
        HCL_TRY(hcl_check_same_shape(ctx, grad, grad_name, input, input_name));
        HCL_TRY(hcl_check_no_alias(ctx, grad, grad_name, input, input_name));
        HCL_TRY(hcl_check_no_alias(ctx, grad, grad_name, other, other_name));
        HCL_TRY(hcl_check_no_alias(ctx, grad, grad_name, grad_scale, "grad_scale"));
        HCL_TRY(hcl_check_no_alias(ctx, loss, "loss", grad, grad_name));
    }
    HCL_TRY(hcl_check_no_alias(ctx, loss, "loss", input, input_name));
    HCL_TRY(hcl_check_no_alias(ctx, loss, "loss", other, other_name));
    HCL_TRY(hcl_check_no_alias(ctx, loss, "loss", grad_scale, "grad_scale"));
    return HCL_OK;
}

/* Second pass: loss = sum of `groups` partials at the start of ws, divided by denom. */
static hcl_status loss_reduce(hcl_context *ctx, const char *opts, hcl_tensor *loss, cl_mem ws, size_t groups, float denom) {
    cl_kernel k; /* from the first pass's program (same options): no extra build */
    HCL_TRY(hcl_kernel_get(ctx, "loss", opts, "loss_reduce", &k));
    size_t L;
    HCL_TRY(loss_pow2_local(ctx, k, LOSS_WG_MAX, &L));
    cl_ulong lo = hcl_off(loss), po = 0, n = groups;
    hcl_karg args[] = {HCL_ARG(loss->buffer), HCL_ARG(lo), HCL_ARG(ws), HCL_ARG(po), HCL_ARG(n), HCL_ARG(denom),
                       HCL_LOCAL(L * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    return hcl_kernel_run(ctx, k, 1, &L, &L);
}

/* Where the first pass writes: the loss itself (one group) or the workspace partials. */
static hcl_status loss_out(hcl_context *ctx, hcl_tensor *loss, size_t groups, cl_mem *out, cl_ulong *out_off, cl_int *final_out) {
    *final_out = groups == 1;
    if (*final_out) {
        *out = loss->buffer;
        *out_off = hcl_off(loss);
        return HCL_OK;
    }
    *out_off = 0;
    return hcl_workspace_get(ctx, groups * sizeof(float), out);
}

// loss (1) f32, dlogits (N,C) G (or NULL) from logits (N,C) X, labels (N) i32, grad_scale (1) f32 (or NULL)
hcl_status hcl_softmax_cross_entropy(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dlogits, const hcl_tensor *logits,
                                     const hcl_tensor *labels, float label_smoothing, const hcl_tensor *grad_scale) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, logits, "logits"));
    HCL_TRY(hcl_check_rank(ctx, logits, 2, "logits"));
    HCL_TRY(hcl_check_dtype(ctx, labels, HCL_I32, "labels"));
    HCL_TRY(hcl_check_rank(ctx, labels, 1, "labels"));
    size_t N = (size_t)logits->shape[0], C = (size_t)logits->shape[1];
    if (labels->count != N)
        return hcl_error(ctx, HCL_ERR_SHAPE, "labels has %zu elements but logits has %zu rows", labels->count, N);
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "label_smoothing %g is not in [0, 1)", (double)label_smoothing);
    HCL_TRY(loss_check_common(ctx, loss, dlogits, "dlogits", logits, "logits", labels, "labels", grad_scale));

    char opts[96];
    hcl_dt_options(opts, sizeof opts, "X", logits->dtype, "G", dlogits ? dlogits->dtype : logits->dtype, NULL);
    int wg = C > LOSS_ROW_MAX_COLS;
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "loss", opts, wg ? "ce_fwd_bwd_wg" : "ce_fwd_bwd_row", &k));
    size_t L, groups;
    if (wg) {
        /* GPUs: about 4 classes per work-item; CPUs (PoCL): few work-items, since each barrier is a
         * pass over the work-group (as in softmax.c) */
        size_t want = ctx->info.is_cpu ? (C + 511) / 512 : C / 4, cap = 1, max = ctx->info.is_cpu ? 16 : LOSS_WG_MAX;
        while (cap < want && cap < max) cap *= 2;
        HCL_TRY(loss_pow2_local(ctx, k, cap, &L));
        groups = N < LOSS_MAX_GROUPS * 4 ? N : LOSS_MAX_GROUPS * 4;
    } else {
        HCL_TRY(loss_pow2_local(ctx, k, loss_pow2_ceil(N, LOSS_WG_MAX), &L));
        groups = (N + L * LOSS_ITEMS_PER_WI - 1) / (L * LOSS_ITEMS_PER_WI);
        if (groups > LOSS_MAX_GROUPS) groups = LOSS_MAX_GROUPS;
    }
    cl_mem out;
    cl_ulong out_off;
    cl_int final_out;
    HCL_TRY(loss_out(ctx, loss, groups, &out, &out_off, &final_out));
    cl_mem g = dlogits ? dlogits->buffer : loss->buffer, sc = grad_scale ? grad_scale->buffer : loss->buffer;
    cl_ulong go = dlogits ? hcl_off(dlogits) : 0, xo = hcl_off(logits), lo = hcl_off(labels);
    cl_ulong so = grad_scale ? hcl_off(grad_scale) : 0, n_rows = N, n_cols = C;
    cl_int has_grad = dlogits != NULL, has_scale = grad_scale != NULL;
    float ls = label_smoothing, denom = (float)N;
    hcl_karg args[] = {HCL_ARG(out), HCL_ARG(out_off), HCL_ARG(final_out), HCL_ARG(g), HCL_ARG(go), HCL_ARG(has_grad),
                       HCL_ARG(logits->buffer), HCL_ARG(xo), HCL_ARG(labels->buffer), HCL_ARG(lo),
                       HCL_ARG(sc), HCL_ARG(so), HCL_ARG(has_scale), HCL_ARG(n_rows), HCL_ARG(n_cols), HCL_ARG(ls),
                       HCL_ARG(denom), HCL_LOCAL((wg ? 2 : 1) * L * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global = groups * L;
    HCL_TRY(hcl_kernel_run(ctx, k, 1, &global, &L));
    return final_out ? HCL_OK : loss_reduce(ctx, opts, loss, out, groups, denom);
}

/* First-pass shape for a row loss (C classes, N rows): the work-group-per-row kernel for long
 * rows, else one work-item per row. Sets *wg, *L and *groups. */
static hcl_status row_loss_shape(hcl_context *ctx, const char *opts, const char *row_kernel, const char *wg_kernel,
                                 size_t N, size_t C, cl_kernel *k, int *wg, size_t *L, size_t *groups) {
    *wg = C > LOSS_ROW_MAX_COLS;
    HCL_TRY(hcl_kernel_get(ctx, "loss", opts, *wg ? wg_kernel : row_kernel, k));
    if (*wg) {
        /* as cross-entropy: ~4 classes per work-item on GPUs, few work-items on CPUs */
        size_t want = ctx->info.is_cpu ? (C + 511) / 512 : C / 4, cap = 1, max = ctx->info.is_cpu ? 16 : LOSS_WG_MAX;
        while (cap < want && cap < max) cap *= 2;
        HCL_TRY(loss_pow2_local(ctx, *k, cap, L));
        *groups = N < LOSS_MAX_GROUPS * 4 ? N : LOSS_MAX_GROUPS * 4;
    } else {
        HCL_TRY(loss_pow2_local(ctx, *k, loss_pow2_ceil(N, LOSS_WG_MAX), L));
        *groups = (N + *L * LOSS_ITEMS_PER_WI - 1) / (*L * LOSS_ITEMS_PER_WI);
        if (*groups > LOSS_MAX_GROUPS) *groups = LOSS_MAX_GROUPS;
    }
    return HCL_OK;
}

// loss (1) f32, dlogits (N,C) G (or NULL) from logits (N,C) X, teacher (N,C) T, labels (N) i32 (or
// NULL when alpha = 1), grad_scale (1) f32 (or NULL)
hcl_status hcl_distillation_loss(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dlogits, const hcl_tensor *logits,
                                 const hcl_tensor *teacher_logits, const hcl_tensor *labels, float temperature,
                                 float alpha, const hcl_tensor *grad_scale) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, logits, "logits"));
    HCL_TRY(hcl_check_rank(ctx, logits, 2, "logits"));
    HCL_TRY(hcl_check_float(ctx, teacher_logits, "teacher_logits"));
    HCL_TRY(hcl_check_same_shape(ctx, teacher_logits, "teacher_logits", logits, "logits"));
    size_t N = (size_t)logits->shape[0], C = (size_t)logits->shape[1];
    if (!(isfinite(temperature) && temperature > 0.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "temperature %g must be finite and > 0", (double)temperature);
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "alpha %g is not in [0, 1]", (double)alpha);
    int hard = alpha != 1.0f;
    if (labels || hard) {
        if (!labels) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "labels is NULL but alpha %g != 1 (the hard-label part needs them)", (double)alpha);
        HCL_TRY(hcl_check_dtype(ctx, labels, HCL_I32, "labels"));
        HCL_TRY(hcl_check_rank(ctx, labels, 1, "labels"));
        if (labels->count != N)
            return hcl_error(ctx, HCL_ERR_SHAPE, "labels has %zu elements but logits has %zu rows", labels->count, N);
    }
    HCL_TRY(loss_check_common(ctx, loss, dlogits, "dlogits", logits, "logits", teacher_logits, "teacher_logits", grad_scale));
    HCL_TRY(hcl_check_no_alias(ctx, dlogits, "dlogits", labels, "labels"));
    HCL_TRY(hcl_check_no_alias(ctx, loss, "loss", labels, "labels"));

    char opts[128];
    hcl_dt_options(opts, sizeof opts, "X", logits->dtype, "T", teacher_logits->dtype, "G",
                   dlogits ? dlogits->dtype : logits->dtype, NULL);
    cl_kernel k;
    int wg;
    size_t L, groups;
    HCL_TRY(row_loss_shape(ctx, opts, "distill_row", "distill_wg", N, C, &k, &wg, &L, &groups));
    cl_mem out;
    cl_ulong out_off;
    cl_int final_out;
    HCL_TRY(loss_out(ctx, loss, groups, &out, &out_off, &final_out));
    cl_mem g = dlogits ? dlogits->buffer : loss->buffer, sc = grad_scale ? grad_scale->buffer : loss->buffer;
    cl_mem lb = labels ? labels->buffer : loss->buffer; /* not read unless hard */
    cl_ulong go = dlogits ? hcl_off(dlogits) : 0, xo = hcl_off(logits), to = hcl_off(teacher_logits);
    cl_ulong lo = labels ? hcl_off(labels) : 0, so = grad_scale ? hcl_off(grad_scale) : 0, n_rows = N, n_cols = C;
    cl_int has_grad = dlogits != NULL, has_scale = grad_scale != NULL, hd = hard;
    float T = temperature, al = alpha, denom = (float)N;
    hcl_karg args[] = {HCL_ARG(out), HCL_ARG(out_off), HCL_ARG(final_out), HCL_ARG(g), HCL_ARG(go), HCL_ARG(has_grad),
                       HCL_ARG(logits->buffer), HCL_ARG(xo), HCL_ARG(teacher_logits->buffer), HCL_ARG(to),
                       HCL_ARG(lb), HCL_ARG(lo), HCL_ARG(hd), HCL_ARG(sc), HCL_ARG(so), HCL_ARG(has_scale),
                       HCL_ARG(n_rows), HCL_ARG(n_cols), HCL_ARG(T), HCL_ARG(al), HCL_ARG(denom),
                       HCL_LOCAL(L * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global = groups * L;
    HCL_TRY(hcl_kernel_run(ctx, k, 1, &global, &L));
    return final_out ? HCL_OK : loss_reduce(ctx, opts, loss, out, groups, denom);
}

static hcl_status ew_loss(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *grad, const char *grad_name, const hcl_tensor *x,
                          const char *x_name, const hcl_tensor *t, const char *t_name, const hcl_tensor *grad_scale, int kind) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, x, x_name));
    HCL_CHECK_NULL(ctx, t);
    if (t->dtype != HCL_I32 || kind != 1) HCL_TRY(hcl_check_float(ctx, t, t_name)); /* BCE: also I32 0/1 labels */
    else HCL_TRY(hcl_check_tensor(ctx, t, t_name));
    HCL_TRY(hcl_check_same_shape(ctx, x, x_name, t, t_name));
    HCL_TRY(loss_check_common(ctx, loss, grad, grad_name, x, x_name, t, t_name, grad_scale));
    char opts[128];
    hcl_dt_options(opts, sizeof opts, "X", x->dtype, "T", t->dtype, "G", grad ? grad->dtype : x->dtype, NULL);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "loss", opts, "ew_loss", &k));
    size_t n = x->count, L;
    HCL_TRY(loss_pow2_local(ctx, k, loss_pow2_ceil(n, LOSS_WG_MAX), &L));
    size_t groups = (n + L * LOSS_ITEMS_PER_WI - 1) / (L * LOSS_ITEMS_PER_WI);
    if (groups > LOSS_MAX_GROUPS) groups = LOSS_MAX_GROUPS;
    cl_mem out;
    cl_ulong out_off;
    cl_int final_out;
    HCL_TRY(loss_out(ctx, loss, groups, &out, &out_off, &final_out));
    cl_mem g = grad ? grad->buffer : loss->buffer, sc = grad_scale ? grad_scale->buffer : loss->buffer;
    cl_ulong go = grad ? hcl_off(grad) : 0, xo = hcl_off(x), to = hcl_off(t), so = grad_scale ? hcl_off(grad_scale) : 0;
    cl_ulong count = n;
    cl_int has_grad = grad != NULL, has_scale = grad_scale != NULL, kd = kind;
    float denom = (float)n;
    hcl_karg args[] = {HCL_ARG(out), HCL_ARG(out_off), HCL_ARG(final_out), HCL_ARG(g), HCL_ARG(go), HCL_ARG(has_grad),
                       HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(t->buffer), HCL_ARG(to),
                       HCL_ARG(sc), HCL_ARG(so), HCL_ARG(has_scale), HCL_ARG(count), HCL_ARG(kd), HCL_ARG(denom),
                       HCL_LOCAL(L * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global = groups * L;
    HCL_TRY(hcl_kernel_run(ctx, k, 1, &global, &L));
    return final_out ? HCL_OK : loss_reduce(ctx, opts, loss, out, groups, denom);
}

// loss (1) f32, dpred (...) G (or NULL) from pred (...) X, target (...) T, grad_scale (1) f32 (or NULL)
hcl_status hcl_mse_loss(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dpred, const hcl_tensor *pred,
                        const hcl_tensor *target, const hcl_tensor *grad_scale) {
    return ew_loss(ctx, loss, dpred, "dpred", pred, "pred", target, "target", grad_scale, 0);
}

// loss (1) f32, dlogits (...) G (or NULL) from logits (...) X, targets (...) T in [0,1], grad_scale (1) f32 (or NULL)
hcl_status hcl_bce_with_logits(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dlogits, const hcl_tensor *logits,
                               const hcl_tensor *targets, const hcl_tensor *grad_scale) {
    return ew_loss(ctx, loss, dlogits, "dlogits", logits, "logits", targets, "targets", grad_scale, 1);
}
