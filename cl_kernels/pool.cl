// 2-D pooling kernels (NCHW): max (with I32 argmax, first maximum wins), average (divisor per
// count_include_pad) and global average, forward and backward. Backward kernels are gathers over
// the windows that cover each input cell, in a fixed order: deterministic, no atomics.
// Built with -DX_DT= -DY_DT= (f32/f16/bf16): X is x or dx, Y is y or dy.
#include "common.h"

#ifndef X_DT
#define X_DT f32
#endif
#ifndef Y_DT
#define Y_DT f32
#endif

// Geometry as 13 scalar int arguments: x (N,C,H,W), y (N,C,P,Q), window kh x kw, stride, pad,
// count_include_pad. (Scalars, not an int16: LLVM folds products of two lanes of one vector into
// a shufflevector with undef lanes, which crashes oclgrind's uninitialised-value checker.)
#define POOL_GEO int GN, int GC, int GH, int GW, int GP, int GQ, int GKH, int GKW, int GSH, int GSW, int GPH, \
                 int GPW, int GCIP
#define POOL_GEO_ARGS GN, GC, GH, GW, GP, GQ, GKH, GKW, GSH, GSW, GPH, GPW, GCIP

// Range of output rows [*lo, *hi) whose window (start o*stride - pad, size k) covers input i.
inline void pool_cover(int i, int k, int stride, int pad, int out, int *lo, int *hi) {
    int a = i + pad - k + 1;  // o*stride >= a
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    *hi = min(out, (i + pad) / stride + 1);
}

// y[n,c,p,q] = max of the window's cells inside x (padding never wins); argmax = h*W + w of the
// first maximum in row-major window order. NaN wins (and the first NaN is kept), as in PyTorch.
// y (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32 or unused, x (N,C,H,W) X_DT; global = (Q, P, N*C)
kernel void maxpool_fwd(global HCL_T(Y_DT) *y, ulong y_off, global int *argmax, ulong a_off, int has_argmax,
                        const global HCL_T(X_DT) *x, ulong x_off, POOL_GEO) {
    int q = get_global_id(0), p = get_global_id(1), nc = get_global_id(2);
    if (q >= GQ || p >= GP || nc >= GN * GC) return;
    size_t plane = x_off + (size_t)nc * GH * GW, gid = ((size_t)nc * GP + p) * GQ + q;
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    int h1 = min(h0 + GKH, GH), w1 = min(w0 + GKW, GW);
    float best = -INFINITY;
    int idx = -1;
    for (int h = max(h0, 0); h < h1; h++)
        for (int w = max(w0, 0); w < w1; w++) {
            float v = HCL_LOAD(X_DT, x, plane + (size_t)h * GW + w);
            if (idx < 0 || (!isnan(best) && (v > best || isnan(v)))) {
                best = v;
                idx = h * GW + w;
            }
        }
    HCL_STORE(Y_DT, y, y_off + gid, best);
    if (has_argmax) argmax[a_off + gid] = idx;
}

// dx[n,c,h,w] = sum over the windows (p, q) covering (h, w), in row-major order, whose argmax
// is h*W + w, of dy[n,c,p,q].
// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32; global = (W, H, N*C)
kernel void maxpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                        const global int *argmax, ulong a_off, POOL_GEO) {
    int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    if (w >= GW || h >= GH || nc >= GN * GC) return;
    size_t plane = (size_t)nc * GP * GQ, gid = ((size_t)nc * GH + h) * GW + w;
    int me = h * GW + w;
    int p0, p1, q0, q1;
    pool_cover(h, GKH, GSH, GPH, GP, &p0, &p1);
    pool_cover(w, GKW, GSW, GPW, GQ, &q0, &q1);
    float acc = 0.0f;
    for (int p = p0; p < p1; p++)
        for (int q = q0; q < q1; q++) {
            size_t o = plane + (size_t)p * GQ + q;
            if (argmax[a_off + o] == me) acc += HCL_LOAD(Y_DT, dy, dy_off + o);
        }
    HCL_STORE(X_DT, dx, dx_off + gid, acc);
}

// Divisor of window (p, q): the kernel area (count_include_pad; windows never pass the padded
// edge in floor mode) or the number of its cells inside x.
inline float avg_divisor(int p, int q, POOL_GEO) {
    if (GCIP) return (float)(GKH * GKW);
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    int nh = min(h0 + GKH, GH) - max(h0, 0), nw = min(w0 + GKW, GW) - max(w0, 0);
    return (float)(max(nh, 0) * max(nw, 0));
}

// y[n,c,p,q] = sum of the window's cells inside x / divisor.
// y (N,C,P,Q) Y_DT, x (N,C,H,W) X_DT; global = (Q, P, N*C)
kernel void avgpool_fwd(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, POOL_GEO) {
    int q = get_global_id(0), p = get_global_id(1), nc = get_global_id(2);
    if (q >= GQ || p >= GP || nc >= GN * GC) return;
    size_t plane = x_off + (size_t)nc * GH * GW, gid = ((size_t)nc * GP + p) * GQ + q;
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    int h1 = min(h0 + GKH, GH), w1 = min(w0 + GKW, GW);
    float acc = 0.0f;
    for (int h = max(h0, 0); h < h1; h++)
        for (int w = max(w0, 0); w < w1; w++) acc += HCL_LOAD(X_DT, x, plane + (size_t)h * GW + w);
    HCL_STORE(Y_DT, y, y_off + gid, acc / avg_divisor(p, q, POOL_GEO_ARGS));
}

// dx[n,c,h,w] = sum over the windows (p, q) covering (h, w), row-major, of dy[n,c,p,q] / divisor.
// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT; global = (W, H, N*C)
kernel void avgpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off, POOL_GEO) {
    int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    if (w >= GW || h >= GH || nc >= GN * GC) return;
    size_t plane = dy_off + (size_t)nc * GP * GQ, gid = ((size_t)nc * GH + h) * GW + w;
    int p0, p1, q0, q1;
    pool_cover(h, GKH, GSH, GPH, GP, &p0, &p1);
    pool_cover(w, GKW, GSW, GPW, GQ, &q0, &q1);
    float acc = 0.0f;
    for (int p = p0; p < p1; p++)
        for (int q = q0; q < q1; q++)
            acc += HCL_LOAD(Y_DT, dy, plane + (size_t)p * GQ + q) / avg_divisor(p, q, POOL_GEO_ARGS);
    HCL_STORE(X_DT, dx, dx_off + gid, acc);
}

// Backward of max (is_max) or average pooling when windows do not overlap (stride >= kernel, the
// usual 2x2 stride 2): window (p, q) owns the input cells of its stride block (the last block in
// each dim also owns the rest of the image), so each cell is written once, with dy where the
// window routes its gradient (argmax / any cell inside the window) and 0 elsewhere.
inline void pool_bwd_disjoint(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                              const global int *argmax, ulong a_off, POOL_GEO, const bool is_max) {
    int q = get_global_id(0), p = get_global_id(1), nc = get_global_id(2);
    if (q >= GQ || p >= GP || nc >= GN * GC) return;
    size_t o = ((size_t)nc * GP + p) * GQ + q;
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    int hb0 = max(h0, 0), hb1 = p == GP - 1 ? GH : min(h0 + GSH, GH);
    int wb0 = max(w0, 0), wb1 = q == GQ - 1 ? GW : min(w0 + GSW, GW);
    float g = HCL_LOAD(Y_DT, dy, dy_off + o);
    int win = -1;
    if (is_max) win = argmax[a_off + o];
    else g /= avg_divisor(p, q, POOL_GEO_ARGS);
    size_t plane = dx_off + (size_t)nc * GH * GW;
    for (int h = hb0; h < hb1; h++)
        for (int w = wb0; w < wb1; w++) {
            bool hit = is_max ? h * GW + w == win : (h < h0 + GKH && w < w0 + GKW);
            HCL_STORE(X_DT, dx, plane + (size_t)h * GW + w, hit ? g : 0.0f);
        }
}

// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32; global = (Q, P, N*C)
kernel void maxpool_bwd_disjoint(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                 const global int *argmax, ulong a_off, POOL_GEO) {
    pool_bwd_disjoint(dx, dx_off, dy, dy_off, argmax, a_off, POOL_GEO_ARGS, true);
}

// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT; global = (Q, P, N*C)
kernel void avgpool_bwd_disjoint(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                 POOL_GEO) {
    pool_bwd_disjoint(dx, dx_off, dy, dy_off, 0, 0, POOL_GEO_ARGS, false);
}

// y[i] = mean of x[i, :] over hw cells (i = n*C + c), summed in order.
// y (N*C) Y_DT, x (N*C, hw) X_DT; global = N*C
kernel void global_avgpool_fwd(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                               ulong nc, ulong hw) {
    size_t i = get_global_id(0);
    if (i >= nc) return;
    size_t base = x_off + i * hw;
    float acc = 0.0f;
    for (size_t j = 0; j < hw; j++) acc += HCL_LOAD(X_DT, x, base + j);
    HCL_STORE(Y_DT, y, y_off + i, acc / (float)hw);
}

// dx[i, j] = dy[i] / hw.
// dx (N*C, hw) X_DT, dy (N*C) Y_DT; global = (hw, N*C)
kernel void global_avgpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                               ulong nc, ulong hw) {
    size_t j = get_global_id(0), i = get_global_id(1);
    if (j >= hw || i >= nc) return;
    HCL_STORE(X_DT, dx, dx_off + i * hw + j, HCL_LOAD(Y_DT, dy, dy_off + i) / (float)hw);
}
