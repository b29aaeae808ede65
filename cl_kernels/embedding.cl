// Embedding lookup and its deterministic backward. The backward never adds floats atomically:
// a single work-group links the positions of each index into a list in index order (integer
// work only), then one work-item per (first occurrence, column) walks its list summing dy in
// index order and adds the sum into the table row: the same bits every run, however often an
// index repeats.
// Built with -DT_DT= (table / dtable) -DY_DT= (y / dy) float dtypes.
#include "common.h"

#ifndef T_DT
#define T_DT f32
#endif
#ifndef Y_DT
#define Y_DT f32
#endif

// y (R, D) Y_DT = table (V, D) T_DT rows at idx (R) i32; an index outside [0, V) gives a NaN row.
kernel void embedding_forward(global HCL_T(Y_DT) *y, ulong y_off, const global int *idx, ulong idx_off,
                              const global HCL_T(T_DT) *table, ulong t_off, ulong R, ulong D, ulong V) {
    size_t i = get_global_id(0);
    if (i >= R * D) return;
    ulong r = i / D, d = i - r * D;
    int v = idx[idx_off + r];
    float val = (v >= 0 && (ulong)v < V) ? HCL_LOAD(T_DT, table, t_off + (ulong)v * D + d) : as_float(0x7fc00000u);
    HCL_STORE(Y_DT, y, y_off + i, val);
}

// The same with one work-item per row and 8-wide copies (CPUs: no division per element, vector
// conversions). global = R.
kernel void embedding_forward_rows(global HCL_T(Y_DT) *y, ulong y_off, const global int *idx, ulong idx_off,
                                   const global HCL_T(T_DT) *table, ulong t_off, ulong R, ulong D, ulong V) {
    size_t r = get_global_id(0);
    if (r >= R) return;
    int v = idx[idx_off + r];
    ulong yb = y_off + r * D, D8 = D & ~(ulong)7, d;
    if (v < 0 || (ulong)v >= V) {
        for (d = 0; d < D; d++) HCL_STORE(Y_DT, y, yb + d, as_float(0x7fc00000u));
        return;
    }
    ulong tb = t_off + (ulong)v * D;
    for (d = 0; d < D8; d += 8) HCL_STORE8(Y_DT, y, yb + d, HCL_LOAD8(T_DT, table, tb + d));
    for (; d < D; d++) HCL_STORE(Y_DT, y, yb + d, HCL_LOAD(T_DT, table, tb + d));
}

// tail (V) i32 = -1 (no position of this index seen yet)
kernel void embedding_tail_init(global int *tail, ulong tail_off, ulong V) {
    size_t v = get_global_id(0);
    if (v >= V) return;
    tail[tail_off + v] = -1;
}

// Links positions with equal index in index order: next (R) i32 = the next position with the same
// index or -1; head (R) i32 = 1 for the first position of each index (0 otherwise, and 0 for
// indices outside [0, V), which are skipped). tail (V) i32 scratch, -1 on entry. All three live in
// the workspace ws at their offsets. ONE work-group of L items walks the positions in blocks of L;
// lidx (L) local.
kernel void embedding_link(global int *ws, ulong next_off, ulong head_off, ulong tail_off, const global int *idx,
                           ulong idx_off, ulong R, ulong V, local int *lidx) {
    size_t t = get_local_id(0), L = get_local_size(0);
    global int *nx = ws + next_off, *hd = ws + head_off, *tl = ws + tail_off;
    for (ulong base = 0; base < R; base += L) {
        ulong r = base + t;
        int v = -1;
        if (r < R) {
            v = idx[idx_off + r];
            if (v < 0 || (ulong)v >= V) v = -1;
        }
        lidx[t] = v;
        barrier(CLK_LOCAL_MEM_FENCE);
        // predecessor: the nearest earlier position of v in this block, else tail[v]
        int prev = -1, last = 1;
        if (v >= 0) {
            for (size_t j = t; j-- > 0;)
                if (lidx[j] == v) { prev = (int)(base + j); break; }
            if (prev < 0) prev = tl[v];
            for (size_t j = t + 1; j < L && base + j < R; j++)
                if (lidx[j] == v) { last = 0; break; }
        }
        if (r < R) {
            nx[r] = -1;
            hd[r] = v >= 0 && prev < 0;
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
        if (v >= 0) {
            if (prev >= 0) nx[prev] = (int)r;
            if (last) tl[v] = (int)r;
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }
}

// dtable (V, D) T_DT += sum of dy (R, D) Y_DT over the positions of each index, in index order.
// global = (D, R): work-item (d, r) works only when r is the first position of its index.
kernel void embedding_accumulate(global HCL_T(T_DT) *dtable, ulong t_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                 const global int *idx, ulong idx_off, const global int *ws, ulong next_off,
                                 ulong head_off, ulong R, ulong D) {
    size_t d = get_global_id(0), r = get_global_id(1);
    if (d >= D || r >= R) return;
    if (!ws[head_off + r]) return;
    ulong v = (ulong)idx[idx_off + r];
    float s = 0.0f;
    for (int q = (int)r; q >= 0; q = ws[next_off + q]) s += HCL_LOAD(Y_DT, dy, dy_off + (ulong)q * D + d);
    ulong o = t_off + v * D + d;
    HCL_STORE(T_DT, dtable, o, HCL_LOAD(T_DT, dtable, o) + s);
}
