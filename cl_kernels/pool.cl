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

// Geometry, one int16 argument: x (N,C,H,W), y (N,C,P,Q), window kh x kw, stride, pad.
#define GN geo.s0
#define GC geo.s1
#define GH geo.s2
#define GW geo.s3
#define GP geo.s4
#define GQ geo.s5
#define GKH geo.s6
#define GKW geo.s7
#define GSH geo.s8
#define GSW geo.s9
#define GPH geo.sa
#define GPW geo.sb
#define GCIP geo.sc

// Range of output rows [*lo, *hi) whose window (start o*stride - pad, size k) covers input i.
inline void pool_cover(int i, int k, int stride, int pad, int out, int *lo, int *hi) {
    int a = i + pad - k + 1;  // o*stride >= a
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    *hi = min(out, (i + pad) / stride + 1);
}

// y[n,c,p,q] = max of the window's cells inside x (padding never wins); argmax = h*W + w of the
// first maximum in row-major window order. NaN wins (and the first NaN is kept), as in PyTorch.
// y (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32 or unused, x (N,C,H,W) X_DT; global = N*C*P*Q
kernel void maxpool_fwd(global HCL_T(Y_DT) *y, ulong y_off, global int *argmax, ulong a_off, int has_argmax,
                        const global HCL_T(X_DT) *x, ulong x_off, int16 geo) {
    size_t gid = get_global_id(0);
    size_t pqn = (size_t)GP * GQ;
    if (gid >= (size_t)GN * GC * pqn) return;
    int q = (int)(gid % GQ), p = (int)((gid / GQ) % GP);
    size_t plane = x_off + (gid / pqn) * GH * GW;
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
// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32; global = N*C*H*W
kernel void maxpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                        const global int *argmax, ulong a_off, int16 geo) {
    size_t gid = get_global_id(0);
    size_t hw = (size_t)GH * GW;
    if (gid >= (size_t)GN * GC * hw) return;
    int w = (int)(gid % GW), h = (int)((gid / GW) % GH);
    size_t plane = (gid / hw) * GP * GQ;
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
inline float avg_divisor(int p, int q, int16 geo) {
    if (GCIP) return (float)(GKH * GKW);
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    int nh = min(h0 + GKH, GH) - max(h0, 0), nw = min(w0 + GKW, GW) - max(w0, 0);
    return (float)(max(nh, 0) * max(nw, 0));
}

// y[n,c,p,q] = sum of the window's cells inside x / divisor.
// y (N,C,P,Q) Y_DT, x (N,C,H,W) X_DT; global = N*C*P*Q
kernel void avgpool_fwd(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, int16 geo) {
    size_t gid = get_global_id(0);
    size_t pqn = (size_t)GP * GQ;
    if (gid >= (size_t)GN * GC * pqn) return;
    int q = (int)(gid % GQ), p = (int)((gid / GQ) % GP);
    size_t plane = x_off + (gid / pqn) * GH * GW;
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    int h1 = min(h0 + GKH, GH), w1 = min(w0 + GKW, GW);
    float acc = 0.0f;
    for (int h = max(h0, 0); h < h1; h++)
        for (int w = max(w0, 0); w < w1; w++) acc += HCL_LOAD(X_DT, x, plane + (size_t)h * GW + w);
    HCL_STORE(Y_DT, y, y_off + gid, acc / avg_divisor(p, q, geo));
}

// dx[n,c,h,w] = sum over the windows (p, q) covering (h, w), row-major, of dy[n,c,p,q] / divisor.
// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT; global = N*C*H*W
kernel void avgpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off, int16 geo) {
    size_t gid = get_global_id(0);
    size_t hw = (size_t)GH * GW;
    if (gid >= (size_t)GN * GC * hw) return;
    int w = (int)(gid % GW), h = (int)((gid / GW) % GH);
    size_t plane = dy_off + (gid / hw) * GP * GQ;
    int p0, p1, q0, q1;
    pool_cover(h, GKH, GSH, GPH, GP, &p0, &p1);
    pool_cover(w, GKW, GSW, GPW, GQ, &q0, &q1);
    float acc = 0.0f;
    for (int p = p0; p < p1; p++)
        for (int q = q0; q < q1; q++)
            acc += HCL_LOAD(Y_DT, dy, plane + (size_t)p * GQ + q) / avg_divisor(p, q, geo);
    HCL_STORE(X_DT, dx, dx_off + gid, acc);
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
// dx (N*C, hw) X_DT, dy (N*C) Y_DT; global = N*C*hw
kernel void global_avgpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                               ulong nc, ulong hw) {
    size_t gid = get_global_id(0);
    if (gid >= nc * hw) return;
    HCL_STORE(X_DT, dx, dx_off + gid, HCL_LOAD(Y_DT, dy, dy_off + gid / hw) / (float)hw);
}
