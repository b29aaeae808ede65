// Elementwise arithmetic with broadcasting, scale/axpy, and deterministic reductions (sum, mean,
// max over an axis; argmax; correct-prediction count). One program per (dtypes, VEC) holds every
// variant as its own kernel (binary_<op>_<bcast>, reduce_*_<sum|max>) so the variant is a
// compile-time constant (PoCL vectorises the work-item loop only then). Options: -DVEC=<1|8>
// elements per work-item, -DRL=<work-group size of the reductions>, dtypes -DY_DT -DA_DT -DB_DT
// -DX_DT. Broadcast index math has no division: the launch is 3-D (inner / VEC, mid, outer).
#include "common.h"

#ifndef VEC
#define VEC 1
#endif
#ifndef RL
#define RL 64
#endif
#ifndef Y_DT
#define Y_DT f32
#endif
#ifndef A_DT
#define A_DT f32
#endif
#ifndef B_DT
#define B_DT f32
#endif
#ifndef X_DT
#define X_DT f32
#endif

// codes of hcl_binary_op and hcl_broadcast
#define OP_ADD 0
#define OP_SUB 1
#define OP_MUL 2
#define BCAST_NONE 0
#define BCAST_CHANNEL 1
#define BCAST_ROW 2

#define BINOP(op, a, b) ((op) == OP_ADD ? (a) + (b) : (op) == OP_SUB ? (a) - (b) : (a) * (b))

// One element: y[yi] = a[ai] op b[bi]. All-F16 on a cl_khr_fp16 device, eight lanes or one in
// half, no conversions (one rounded add, sub or mul of halves: the bits of the float path, see
// common.h).
#if HCL_NATIVE_HALF && HCL_IS_F16(Y_DT) && HCL_IS_F16(A_DT) && HCL_IS_F16(B_DT)
#define BINARY_HALF8(op, bcast, y, yi, a, ai, b, bi)                                                \
    do {                                                                                          \
        half8 hb = (bcast) == BCAST_CHANNEL ? (half8)(HCL_HLOAD(b, bi)) : HCL_HLOAD8(b, bi);       \
        HCL_HSTORE8(y, yi, BINOP(op, HCL_HLOAD8(a, ai), hb));                                     \
        return;                                                                                   \
    } while (0)
#define BINARY_ELEM(op, y, yi, a, ai, b, bi) HCL_HSTORE(y, yi, BINOP(op, HCL_HLOAD(a, ai), HCL_HLOAD(b, bi)))
#else
#define BINARY_HALF8(op, bcast, y, yi, a, ai, b, bi) do { } while (0)
#define BINARY_ELEM(op, y, yi, a, ai, b, bi) \
    HCL_STORE(Y_DT, y, yi, BINOP(op, HCL_LOAD(A_DT, a, ai), HCL_LOAD(B_DT, b, bi)))
#endif

// y (outer, mid, inner) Y_DT = a (outer, mid, inner) A_DT op b B_DT, where b is (outer, mid,
// inner) for BCAST_NONE, (mid) for BCAST_CHANNEL, (inner) for BCAST_ROW. global = (ceil(inner /
// VEC), mid, outer); y may be a (each element is read and written by one work-item).
#define BINARY_KERNEL(op, bcast)                                                                           \
    kernel void binary_##op##_##bcast(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(A_DT) *a,     \
                                      ulong a_off, const global HCL_T(B_DT) *b, ulong b_off, ulong inner,  \
                                      ulong mid) {                                                         \
        size_t j = get_global_id(0) * VEC, m = get_global_id(1), o = get_global_id(2);                     \
        if (j >= inner) return;                                                                            \
        size_t e = (o * mid + m) * inner + j; /* element index in a and y */                               \
        size_t bi = (bcast) == BCAST_NONE ? e : (bcast) == BCAST_CHANNEL ? m : j;                          \
        size_t bstep = (bcast) == BCAST_CHANNEL ? 0 : 1; /* b's index step along the row */                \
        if (VEC == 8 && j + 8 <= inner) {                                                                  \
            BINARY_HALF8(op, bcast, y, y_off + e, a, a_off + e, b, b_off + bi);                            \
            float8 bv = (bcast) == BCAST_CHANNEL ? (float8)(HCL_LOAD(B_DT, b, b_off + bi))                \
                                                 : HCL_LOAD8(B_DT, b, b_off + bi);                         \
            HCL_STORE8(Y_DT, y, y_off + e, BINOP(op, HCL_LOAD8(A_DT, a, a_off + e), bv));                  \
            return;                                                                                        \
        }                                                                                                  \
        size_t cnt = min((size_t)VEC, (size_t)inner - j); /* one element, or the row's tail */             \
        for (size_t t = 0; t < cnt; t++)                                                                   \
            BINARY_ELEM(op, y, y_off + e + t, a, a_off + e + t, b, b_off + bi + t * bstep);                \
    }
#define BINARY_KERNELS(op) BINARY_KERNEL(op, 0) BINARY_KERNEL(op, 1) BINARY_KERNEL(op, 2)
BINARY_KERNELS(0)  // add
BINARY_KERNELS(1)  // sub
BINARY_KERNELS(2)  // mul

// y (n) Y_DT = alpha * x (n) X_DT; y may be x. VEC elements per work-item.
kernel void scale(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, ulong n, float alpha) {
    size_t i = get_global_id(0) * VEC;
    if (i >= n) return;
    if (VEC == 8 && i + 8 <= n) {
        HCL_STORE8(Y_DT, y, y_off + i, alpha * HCL_LOAD8(X_DT, x, x_off + i));
        return;
    }
    for (size_t e = min((size_t)n, i + VEC); i < e; i++) HCL_STORE(Y_DT, y, y_off + i, alpha * HCL_LOAD(X_DT, x, x_off + i));
}

// y (n) Y_DT += alpha * x (n) X_DT. VEC elements per work-item.
kernel void axpy(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, ulong n, float alpha) {
    size_t i = get_global_id(0) * VEC;
    if (i >= n) return;
    if (VEC == 8 && i + 8 <= n) {
        HCL_STORE8(Y_DT, y, y_off + i, HCL_LOAD8(Y_DT, y, y_off + i) + alpha * HCL_LOAD8(X_DT, x, x_off + i));
        return;
    }
    for (size_t e = min((size_t)n, i + VEC); i < e; i++)
        HCL_STORE(Y_DT, y, y_off + i, HCL_LOAD(Y_DT, y, y_off + i) + alpha * HCL_LOAD(X_DT, x, x_off + i));
}

// ---- reductions: sum (mean = sum / div) or max, always in float, in a fixed order ----
#define RINIT_sum 0.0f
#define RINIT_max (-INFINITY)
#define RCOMBINE_sum(acc, v) ((acc) + (v))
#define RCOMBINE_max(acc, v) (((v) > (acc) || isnan(v)) ? (v) : (acc)) /* propagates NaN from either side */

// Final step of a reduction output: divide (mean), add the old value (accumulate), store.
inline void reduce_store(global HCL_T(Y_DT) *y, size_t i, float v, float div, int accumulate) {
    v = v / div;
    if (accumulate) v += HCL_LOAD(Y_DT, y, i);
    HCL_STORE(Y_DT, y, i, v);
}

// y (outer, chunks, inner) Y_DT = reduction over r in chunk c (rows [c chunk_len, min(R, (c+1)
// chunk_len))) of x (outer, R, inner) X_DT; one work-item per output, r in increasing order.
// global = (inner, chunks, outer).
#define REDUCE_SEQ_KERNEL(kind)                                                                               \
    kernel void reduce_seq_##kind(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, \
                                  ulong R, ulong inner, ulong chunk_len, ulong chunks, float div, int accumulate) { \
        size_t i = get_global_id(0), c = get_global_id(1), o = get_global_id(2);                              \
        if (i >= inner) return;                                                                               \
        size_t r0 = c * chunk_len, r1 = min((size_t)R, r0 + (size_t)chunk_len);                               \
        size_t p = x_off + (o * R + r0) * inner + i;                                                          \
        float acc = RINIT_##kind;                                                                             \
        for (size_t r = r0; r < r1; r++, p += inner) acc = RCOMBINE_##kind(acc, HCL_LOAD(X_DT, x, p));       \
        reduce_store(y, y_off + (o * chunks + c) * inner + i, acc, div, accumulate);                          \
    }

// y (outer, chunks) Y_DT = reduction over chunk c of each row of x (outer, R) X_DT: one work-group
// of RL work-items per output, each combining a strided slice in order, then a fixed tree.
// global = (RL, chunks, outer), local = (RL, 1, 1).
#define REDUCE_ROWS_KERNEL(kind)                                                                               \
    kernel void reduce_rows_##kind(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, \
                                   ulong R, ulong chunk_len, ulong chunks, float div, int accumulate) {         \
        local float part[RL];                                                                                  \
        size_t l = get_local_id(0), c = get_global_id(1), o = get_global_id(2);                                \
        size_t r0 = c * chunk_len, r1 = min((size_t)R, r0 + (size_t)chunk_len);                                \
        size_t base = x_off + o * R;                                                                           \
        float acc = RINIT_##kind;                                                                              \
        for (size_t r = r0 + l; r < r1; r += RL) acc = RCOMBINE_##kind(acc, HCL_LOAD(X_DT, x, base + r));     \
        part[l] = acc;                                                                                         \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                          \
        for (size_t s = RL / 2; s > 0; s >>= 1) {                                                              \
            if (l < s) part[l] = RCOMBINE_##kind(part[l], part[l + s]);                                        \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                      \
        }                                                                                                      \
        if (l == 0) reduce_store(y, y_off + o * chunks + c, part[0], div, accumulate);                         \
    }
REDUCE_SEQ_KERNEL(sum)
REDUCE_SEQ_KERNEL(max)
REDUCE_ROWS_KERNEL(sum)
REDUCE_ROWS_KERNEL(max)

// Index of the first maximum of x[base .. base + D); a NaN counts as the maximum (first NaN wins).
inline int row_argmax(const global HCL_T(X_DT) *x, size_t base, size_t D) {
    float best = -INFINITY;
    int bi = 0;
    for (size_t d = 0; d < D; d++) {
        float v = HCL_LOAD(X_DT, x, base + d);
        if (isnan(v)) return (int)d;
        if (v > best) { best = v; bi = (int)d; }
    }
    return bi;
}

// idx (rows) I32 = argmax over the last dim of x (rows, D) X_DT; one work-item per row.
kernel void argmax(global int *idx, ulong idx_off, const global HCL_T(X_DT) *x, ulong x_off, ulong rows, ulong D) {
    size_t r = get_global_id(0);
    if (r >= rows) return;
    idx[idx_off + r] = row_argmax(x, x_off + r * D, D);
}

// correct (1) I32 += rows r of logits (N, C) X_DT whose argmax is labels[r] (N) I32 (C = 1: one
// binary logit, predicting 1 when > 0). One
// work-item per row, a fixed tree per work-group of RL, one integer atomic per work-group.
// global = N rounded up to RL, local = RL.
kernel void count_correct(global int *correct, ulong correct_off, const global HCL_T(X_DT) *logits, ulong logits_off,
                          const global int *labels, ulong labels_off, ulong N, ulong C) {
    local int hits[RL];
    size_t r = get_global_id(0), l = get_local_id(0);
    if (r < N) {
        int pred = C == 1 ? HCL_LOAD(X_DT, logits, logits_off + r) > 0.0f : row_argmax(logits, logits_off + r * C, C);
        hits[l] = pred == labels[labels_off + r];
    } else {
        hits[l] = 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = RL / 2; s > 0; s >>= 1) {
        if (l < s) hits[l] += hits[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0 && hits[0]) atomic_add(correct + correct_off, hits[0]);
}
