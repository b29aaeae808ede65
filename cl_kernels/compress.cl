// Model compression kernels (issue 11): weight sharing (Deep Compression). A shared parameter is
// a U8 index per weight into an F32 codebook; fine-tuning sums the unscaled gradients of each
// cluster in a fixed order (a precomputed permutation grouping the weights by cluster, one
// work-group per cluster, tree reduction: no float atomics, deterministic) and decodes the
// weights back into the master and working copies. Built with -DG_DT= (gradients) and -DW_DT=
// (working copies): f32/f16/bf16.
#include "common.h"

#ifndef G_DT
#define G_DT f32
#endif
#ifndef W_DT
#define W_DT f32
#endif

// amp state words (as cl_kernels/optim.cl)
#define AMP_FOUND_INF 1
#define AMP_GSCALE 6

// cb (K) f32 codebook, g (n) G_DT scaled gradients of the parameter, perm (n) i32 weight indices
// grouped by cluster, seg (K+1) i32 cluster k = perm[seg[k] .. seg[k+1]), mk (n) u8 pruning mask
// when has_mask (0: the weight's gradient is left out), st amp state. Group k: cb[k] -= lr *
// sum(g * gscale) over its cluster, unless the optimizer's last step found an inf/NaN gradient
// (the flag is uniform: every work-item returns or none). local = L (power of two), scratch L floats.
kernel void share_update(global float *cb, ulong cb_off, const global HCL_T(G_DT) *g, ulong g_off,
                         const global int *perm, ulong perm_off, const global int *seg, ulong seg_off,
                         const global uchar *mk, ulong mk_off, int has_mask, const global float *st, ulong st_off,
                         float lr, local float *scratch) {
    if (as_uint(st[st_off + AMP_FOUND_INF]) != 0u) return;
    size_t k = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    float gs = st[st_off + AMP_GSCALE];
    int b = seg[seg_off + k], e = seg[seg_off + k + 1];
    float s = 0.0f;
    for (int j = b + (int)lid; j < e; j += (int)L) {
        int i = perm[perm_off + j];
        if (!has_mask || mk[mk_off + i]) s += HCL_LOAD(G_DT, g, g_off + i) * gs;
    }
    s = hcl_wg_sum(scratch, s);
    if (lid == 0) cb[cb_off + k] -= lr * s;
}

// p (n) f32 master (written when write_p), w (n) W_DT working copy (written when write_w, RNE),
// from cb (K) f32 and idx (n) u8; a pruned weight (mask 0, when has_mask) is written as 0.
kernel void share_decode(global float *p, ulong p_off, int write_p, global HCL_T(W_DT) *w, ulong w_off, int write_w,
                         const global float *cb, ulong cb_off, const global uchar *idx, ulong idx_off,
                         const global uchar *mk, ulong mk_off, int has_mask, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    float v = cb[cb_off + idx[idx_off + i]];
    if (has_mask && !mk[mk_off + i]) v = 0.0f;
    if (write_p) p[p_off + i] = v;
    if (write_w) HCL_STORE(W_DT, w, w_off + i, v);
}
