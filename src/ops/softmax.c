/* Softmax and log-softmax launchers over the last dim (softmax.cl): validation, then one
 * work-item per row for short rows or one work-group per row (local tree reduction) for long
 * rows, chosen by the row length. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops_internal.h"

/* Rows of at most this many elements take the one-work-item-per-row kernels. */
#define SM_ROW_MAX_COLS 32
/* Cap on the work-group size of the one-group-per-row kernels (CPUs: measured on PoCL, larger
 * groups only add passes over the group at each barrier). */
#define SM_WG_MAX 256
#define SM_WG_MAX_CPU 16

/* The largest power of two <= min(cap, the kernel's and the device's work-group limits). */
static hcl_status sm_pow2_local(hcl_context *ctx, cl_kernel k, size_t cap, size_t *local) {
    size_t kmax = 0;
    HCL_CL_TRY(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL));
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < kmax) kmax = ctx->info.max_work_group_size;
    if (kmax < cap) cap = kmax;
    size_t l = 1;
    while (l * 2 <= cap) l *= 2;
    *local = l;
    return HCL_OK;
}

/* Work-group size cap for a row of `cols`: each work-item takes 8-element chunks and keeps up to
 * SM_CACHE of them in private memory. CPUs: few work-items with many chunks each (private memory
 * is the cached stack; every barrier is a pass over the work-group); GPUs: about one chunk per
 * work-item and a small private cache. */
static size_t sm_cache_chunks(const hcl_context *ctx) { return ctx->info.is_cpu ? 64 : 8; }

static size_t sm_wg_cap(const hcl_context *ctx, size_t cols) {
    size_t chunks = (cols + 7) / 8, per_item = ctx->info.is_cpu ? sm_cache_chunks(ctx) : 1;
    size_t max = ctx->info.is_cpu ? SM_WG_MAX_CPU : SM_WG_MAX;
    size_t want = (chunks + per_item - 1) / per_item, cap = 1;
    while (cap < want && cap < max) cap *= 2;
    return cap;
}

/* Rows and row length of x (..., C); a rank-0 tensor is one row of one element. */
static void sm_rows_cols(const hcl_tensor *x, size_t *rows, size_t *cols) {
    *cols = x->rank ? (size_t)x->shape[x->rank - 1] : 1;
    *rows = x->count / *cols;
}

// y (..., C) Y = softmax / log_softmax of x (..., C) X over C
hcl_status hcl_softmax_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, int log) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(hcl_check_same_shape(ctx, y, "y", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    size_t rows, cols;
    sm_rows_cols(x, &rows, &cols);
    char opts[128];
    hcl_dt_options(opts, sizeof opts, "X", x->dtype, "Y", y->dtype, NULL);
    int wg = cols > SM_ROW_MAX_COLS;
    if (wg) snprintf(opts + strlen(opts), sizeof opts - strlen(opts), " -DSM_CACHE=%zu", sm_cache_chunks(ctx));
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "softmax", opts, wg ? "softmax_fwd_wg" : "softmax_fwd_row", &k));
    cl_ulong yo = hcl_off(y), xo = hcl_off(x), R = rows, C = cols;
    cl_int lg = log != 0;
    if (!wg) {
        hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(yo), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(R), HCL_ARG(C), HCL_ARG(lg)};
        return hcl_launch_1d(ctx, k, rows, 0, args, sizeof args / sizeof args[0]);
    }
    size_t L;
    HCL_TRY(sm_pow2_local(ctx, k, sm_wg_cap(ctx, cols), &L));
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(yo), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(R), HCL_ARG(C), HCL_ARG(lg),
                       HCL_LOCAL(L * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global = rows * L;
    return hcl_kernel_run(ctx, k, 1, &global, &L);
}

// dx (..., C) DX from dy (..., C) DY and the forward output y (..., C) Y
hcl_status hcl_softmax_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *y, int log) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, dx, "dx"));
    HCL_TRY(hcl_check_float(ctx, dy, "dy"));
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_same_shape(ctx, dy, "dy", y, "y"));
    HCL_TRY(hcl_check_same_shape(ctx, dx, "dx", y, "y"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", y, "y"));
    size_t rows, cols;
    sm_rows_cols(y, &rows, &cols);
    char opts[128];
    hcl_dt_options(opts, sizeof opts, "DX", dx->dtype, "DY", dy->dtype, "Y", y->dtype, NULL);
    int wg = cols > SM_ROW_MAX_COLS;
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "softmax", opts, wg ? "softmax_bwd_wg" : "softmax_bwd_row", &k));
    cl_ulong xo = hcl_off(dx), go = hcl_off(dy), yo = hcl_off(y), R = rows, C = cols;
    cl_int lg = log != 0;
    if (!wg) {
        hcl_karg args[] = {HCL_ARG(dx->buffer), HCL_ARG(xo), HCL_ARG(dy->buffer), HCL_ARG(go), HCL_ARG(y->buffer), HCL_ARG(yo),
                           HCL_ARG(R), HCL_ARG(C), HCL_ARG(lg)};
        return hcl_launch_1d(ctx, k, rows, 0, args, sizeof args / sizeof args[0]);
    }
    size_t L;
    HCL_TRY(sm_pow2_local(ctx, k, sm_wg_cap(ctx, cols), &L));
    hcl_karg args[] = {HCL_ARG(dx->buffer), HCL_ARG(xo), HCL_ARG(dy->buffer), HCL_ARG(go), HCL_ARG(y->buffer), HCL_ARG(yo),
                       HCL_ARG(R), HCL_ARG(C), HCL_ARG(lg), HCL_LOCAL(L * sizeof(float))};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global = rows * L;
    return hcl_kernel_run(ctx, k, 1, &global, &L);
}
