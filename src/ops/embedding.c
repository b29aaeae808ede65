/* Embedding launchers (cl_kernels/embedding.cl): lookup, and a deterministic backward without
 * float atomics: positions with equal index are linked in index order by one work-group (integer
 * work), then each (first occurrence, column) sums its list in that order into dtable. The three
 * integer arrays (next, head: one per position; tail: one per table row) share the workspace. */
#include <limits.h>
#include "ops/ops_internal.h"

#define EMB_LINK_WG 256

/* idx (...) I32 with R positions; table-like (V, D) float. */
static hcl_status check_common(hcl_context *ctx, const hcl_tensor *idx, const hcl_tensor *table, const char *tn) {
    HCL_TRY(hcl_check_dtype(ctx, idx, HCL_I32, "idx"));
    HCL_TRY(hcl_check_float(ctx, table, tn));
    HCL_TRY(hcl_check_rank(ctx, table, 2, tn));
    if (idx->count > (size_t)INT_MAX)
        return hcl_error(ctx, HCL_ERR_SHAPE, "idx has %zu positions; at most %d are supported", idx->count, INT_MAX);
    if ((uint64_t)table->shape[0] > (uint64_t)INT_MAX)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %lld rows; at most %d are supported", tn, (long long)table->shape[0], INT_MAX);
    return HCL_OK;
}

/* y must be idx's shape with D appended. */
static hcl_status check_y(hcl_context *ctx, const hcl_tensor *y, const char *yn, const hcl_tensor *idx, int64_t D) {
    HCL_TRY(hcl_check_float(ctx, y, yn));
    int ok = y->rank == idx->rank + 1 && y->shape[y->rank - 1] == D;
    for (int i = 0; ok && i < idx->rank; i++) ok = y->shape[i] == idx->shape[i];
    if (!ok)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s (rank %d, %zu elements) must have idx's shape (rank %d) followed by D = %lld",
                         yn, y->rank, y->count, idx->rank, (long long)D);
    return HCL_OK;
}

// y (..., D) = table (V, D) rows at idx (...) i32
hcl_status hcl_embedding_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *idx, const hcl_tensor *table) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, y);
    HCL_TRY(check_common(ctx, idx, table, "table"));
    HCL_TRY(check_y(ctx, y, "y", idx, table->shape[1]));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", idx, "idx"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", table, "table"));
    char opts[64];
    hcl_dt_options(opts, sizeof opts, "T", table->dtype, "Y", y->dtype, NULL);
    cl_kernel k;
    /* CPUs: a row per work-item (8-wide copies); elsewhere an element per work-item (coalesced) */
    int rows = ctx->info.is_cpu;
    HCL_TRY(hcl_kernel_get(ctx, "embedding", opts, rows ? "embedding_forward_rows" : "embedding_forward", &k));
    cl_ulong y_off = hcl_off(y), i_off = hcl_off(idx), t_off = hcl_off(table), R = idx->count;
    cl_ulong D = (cl_ulong)table->shape[1], V = (cl_ulong)table->shape[0];
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(idx->buffer), HCL_ARG(i_off), HCL_ARG(table->buffer),
                       HCL_ARG(t_off), HCL_ARG(R), HCL_ARG(D), HCL_ARG(V)};
    return hcl_launch_1d(ctx, k, rows ? R : y->count, 0, args, sizeof args / sizeof args[0]);
}

// dtable (V, D) += scatter of dy (..., D) by idx (...) i32; indices outside [0, V) are skipped
hcl_status hcl_embedding_backward(hcl_context *ctx, hcl_tensor *dtable, const hcl_tensor *dy, const hcl_tensor *idx) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, dy);
    HCL_TRY(check_common(ctx, idx, dtable, "dtable"));
    HCL_TRY(check_y(ctx, dy, "dy", idx, dtable->shape[1]));
    HCL_TRY(hcl_check_no_alias(ctx, dtable, "dtable", idx, "idx"));
    HCL_TRY(hcl_check_no_alias(ctx, dtable, "dtable", dy, "dy"));
    size_t R = idx->count, V = (size_t)dtable->shape[0], D = (size_t)dtable->shape[1];
    char opts[64];
    hcl_dt_options(opts, sizeof opts, "T", dtable->dtype, "Y", dy->dtype, NULL);
    cl_kernel kinit, klink, kacc;
    HCL_TRY(hcl_kernel_get(ctx, "embedding", opts, "embedding_tail_init", &kinit));
    HCL_TRY(hcl_kernel_get(ctx, "embedding", opts, "embedding_link", &klink));
    HCL_TRY(hcl_kernel_get(ctx, "embedding", opts, "embedding_accumulate", &kacc));
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, (2 * R + V) * sizeof(cl_int), &ws));
    cl_ulong next_off = 0, head_off = R, tail_off = 2 * R, r = R, v = V, d = D;
    cl_ulong i_off = hcl_off(idx), t_off = hcl_off(dtable), dy_off = hcl_off(dy);

    hcl_karg a0[] = {HCL_ARG(ws), HCL_ARG(tail_off), HCL_ARG(v)};
    HCL_TRY(hcl_launch_1d(ctx, kinit, V, 0, a0, 3));

    size_t wg = 0, lim = EMB_LINK_WG;
    HCL_CL_TRY(ctx, clGetKernelWorkGroupInfo(klink, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL));
    if (wg && wg < lim) lim = wg;
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < lim) lim = ctx->info.max_work_group_size;
    for (wg = 1; wg * 2 <= lim;) wg *= 2;
    hcl_karg a1[] = {HCL_ARG(ws), HCL_ARG(next_off), HCL_ARG(head_off), HCL_ARG(tail_off), HCL_ARG(idx->buffer),
                     HCL_ARG(i_off), HCL_ARG(r), HCL_ARG(v), HCL_LOCAL(wg * sizeof(cl_int))};
    HCL_TRY(hcl_kernel_set_args(ctx, klink, a1, sizeof a1 / sizeof a1[0]));
    HCL_TRY(hcl_kernel_run(ctx, klink, 1, &wg, &wg));

    hcl_karg a2[] = {HCL_ARG(dtable->buffer), HCL_ARG(t_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(idx->buffer),
                     HCL_ARG(i_off), HCL_ARG(ws), HCL_ARG(next_off), HCL_ARG(head_off), HCL_ARG(r), HCL_ARG(d)};
    HCL_TRY(hcl_kernel_set_args(ctx, kacc, a2, sizeof a2 / sizeof a2[0]));
    size_t global[2] = {D, R}, local[2] = {32, 1}; /* global rounds up to 32; the kernel guards d < D */
    return hcl_kernel_run(ctx, kacc, 2, global, D >= 32 ? local : NULL);
}
