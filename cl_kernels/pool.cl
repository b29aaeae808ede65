// 2-D pooling kernels (NCHW): max (with an I32 or U8 argmax, first maximum wins), average (divisor per
// count_include_pad) and global average, forward and backward. Backward kernels are gathers over
// the windows that cover each input cell, in a fixed order: deterministic, no atomics. Small
// windows also have *_fixed kernels (window as -D constants; vectorised by CPU drivers).
// Built with -DX_DT= -DY_DT= (f32/f16/bf16): X is x or dx, Y is y or dy; -DPOOL_AM_U8=1 for a U8 argmax.
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

// Argmax storage. POOL_AM_U8 0: I32, the flat index h*W + w in the (n,c) plane; 1: U8, the
// offset (h - h0)*KW + (w - w0) of the cell inside its window (origin h0, w0; KH*KW <= 256: the
// launcher checks), a quarter of the bytes. POOL_AM_KEY is the stored value of cell (h, w).
#ifndef POOL_AM_U8
#define POOL_AM_U8 0
#endif
#if POOL_AM_U8
typedef uchar pool_am_t;
#else
typedef int pool_am_t;
#endif
#define POOL_AM_KEY(h, w, h0, w0, kw, W) (POOL_AM_U8 ? ((h) - (h0)) * (kw) + (w) - (w0) : (h) * (W) + (w))

// Range of output rows [*lo, *hi) whose window (start o*stride - pad, size k) covers input i.
inline void pool_cover(int i, int k, int stride, int pad, int out, int *lo, int *hi) {
    int a = i + pad - k + 1;  // o*stride >= a
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    *hi = min(out, (i + pad) / stride + 1);
}

// y[n,c,p,q] = max of the window's cells inside x (padding never wins); argmax = the key of the
// first maximum in row-major window order. NaN wins (and the first NaN is kept), as in PyTorch.
// y (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32/U8 or unused, x (N,C,H,W) X_DT; global = (Q, P, N*C)
kernel void maxpool_fwd(global HCL_T(Y_DT) *y, ulong y_off, global pool_am_t *argmax, ulong a_off, int has_argmax,
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
                idx = POOL_AM_KEY(h, w, h0, w0, GKW, GW);
            }
        }
    HCL_STORE(Y_DT, y, y_off + gid, best);
    if (has_argmax) argmax[a_off + gid] = (pool_am_t)idx;
}

// dx[n,c,h,w] = sum over the windows (p, q) covering (h, w), in row-major order, whose argmax
// is (h, w), of dy[n,c,p,q].
// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32/U8; global = (W, H, N*C)
kernel void maxpool_bwd(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                        const global pool_am_t *argmax, ulong a_off, POOL_GEO) {
    int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    if (w >= GW || h >= GH || nc >= GN * GC) return;
    size_t plane = (size_t)nc * GP * GQ, gid = ((size_t)nc * GH + h) * GW + w;
    int p0, p1, q0, q1;
    pool_cover(h, GKH, GSH, GPH, GP, &p0, &p1);
    pool_cover(w, GKW, GSW, GPW, GQ, &q0, &q1);
    float acc = 0.0f;
    for (int p = p0; p < p1; p++)
        for (int q = q0; q < q1; q++) {
            size_t o = plane + (size_t)p * GQ + q;
            if ((int)argmax[a_off + o] == POOL_AM_KEY(h, w, p * GSH - GPH, q * GSW - GPW, GKW, GW))
                acc += HCL_LOAD(Y_DT, dy, dy_off + o);
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
                              const global pool_am_t *argmax, ulong a_off, POOL_GEO, const bool is_max) {
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
            bool inwin = h < h0 + GKH && w < w0 + GKW;  // U8 keys are unique inside the window only
            bool hit = is_max ? inwin && POOL_AM_KEY(h, w, h0, w0, GKW, GW) == win : inwin;
            HCL_STORE(X_DT, dx, plane + (size_t)h * GW + w, hit ? g : 0.0f);
        }
}

// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32/U8; global = (Q, P, N*C)
kernel void maxpool_bwd_disjoint(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                 const global pool_am_t *argmax, ulong a_off, POOL_GEO) {
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

// ---- Fixed-window kernels. The window (PKH x PKW, stride PSH x PSW, pad PPH x PPW, PCIP; PREM
// = some cells lie in no window's stride block) comes in as -D constants, so the window loops
// have constant trip counts and unroll, and the body is straight-line: PoCL vectorises it across
// the work-items of dim 0. The range is (QR, P, N*C): dim 0 = a lane of output row
// r = (n*C + c)*P + p (QR = Q rounded up to the work-group width). There is no early return on
// the lane (it would stop the vectoriser); instead lane l computes column q = l - shift,
// shift = QR - Q for rows r >= R0 and 0 below, so every load, live or not, stays inside x and y
// (the launcher picks R0 so), and only lanes with 0 <= q < Q store. ----
#ifndef PKH  // the launcher always passes the full set; these defaults only let the file build
#define PKH 2
#define PKW 2
#define PSH 2
#define PSW 2
#define PPH 0
#define PPW 0
#define PCIP 1
#define PREM 0
#define PPAIR 0
#endif
#define POOL_SIZES int GH, int GW, int GP, int GQ, int QR, int R0

// Raw bits of a stored value as uint and back, the sign bit, the infinity's bits (a larger
// magnitude is a NaN), and the value of the bits as float: max pooling compares bits.
#define pool_bits_f32(v) as_uint(v)
#define pool_bits_f16(v) ((uint)(v))
#define pool_bits_bf16(v) ((uint)(v))
#define pool_store_f32(b) as_float(b)
#define pool_store_f16(b) ((ushort)(b))
#define pool_store_bf16(b) ((ushort)(b))
#define pool_decode_f32(b) as_float(b)
#define pool_decode_f16(b) hcl_f16_bits_to_f32(b)
#define pool_decode_bf16(b) hcl_bf16_bits_to_f32(b)
#define POOL_SIGN_f32 0x80000000u
#define POOL_SIGN_f16 0x8000u
#define POOL_SIGN_bf16 0x8000u
#define POOL_INF_f32 0x7f800000u
#define POOL_INF_f16 0x7c00u
#define POOL_INF_bf16 0x7f80u
#define POOL_SIGN(dt) HCL_CAT(POOL_SIGN_, dt)
#define POOL_INF(dt) HCL_CAT(POOL_INF_, dt)
#define HCL_DT_IS_f32 1
#define HCL_DT_IS_f16 0
#define HCL_DT_IS_bf16 0

// Output row p (rows past P, from rounding the range up, redo the last row), plane nc, lane l,
// output column q = l - shift, and whether the work-item stores (live). The range is 3-D, so no
// division: one by a runtime value would be sunk into the live-only code and run per lane.
// Addresses are a per-row base plus the lane (never q, which may be negative): the vectoriser
// then sees consecutive lanes at consecutive (or stride-PSW) addresses without runtime checks.
#define POOL_LANE                                                             \
    size_t l = get_global_id(0);                                              \
    int p = min((int)get_global_id(1), GP - 1), nc = get_global_id(2);        \
    int r = nc * GP + p, shift = r >= R0 ? QR - GQ : 0, q = (int)l - shift;   \
    bool live = q >= 0 && q < GQ && (int)get_global_id(1) < GP;               \
    size_t ybase = (size_t)((long)r * GQ - shift) /* + l: output (r, q) */

// x's cell (h, column j of this lane's window) in `plane`: hc, wc are the clamped row and column.
// Without column padding it is the row's base plus the lane (affine); with it, the clamped column.
#define POOL_XI(plane, hc, wc, j) \
    (PPW ? (plane) + (long)(hc) * GW + (wc) : (plane) + (long)(hc) * GW - (long)shift * PSW + l * PSW + (j))

// Window (p, q)'s divisor with the window as constants (see avg_divisor).
inline float pool_divisor_fixed(int p, int q, int GH, int GW) {
    if (PCIP) return (float)(PKH * PKW);
    int h0 = p * PSH - PPH, w0 = q * PSW - PPW;
    int nh = min(h0 + PKH, GH) - max(h0, 0), nw = min(w0 + PKW, GW) - max(w0, 0);
    return (float)(nh * nw);
}

// Pair mode (PPAIR: PSW == 2, PKW <= 2, PPW == 0, W and the x-side offset even, little-endian
// device): a window row's two columns are one aligned 32-bit (F16/BF16) or 64-bit (F32) word,
// loaded and stored whole. This also keeps LLVM's SLP vectoriser from packing the two neighbours into a
// 2-vector, after which PoCL's work-item loop no longer vectorises.
#if PPAIR && !defined(__ENDIAN_LITTLE__)
#undef PPAIR
#define PPAIR 0
#endif
#if HCL_CAT(HCL_DT_IS_, X_DT)
typedef ulong pool_pair;
#define POOL_HALF_BITS 32
#else
typedef uint pool_pair;
#define POOL_HALF_BITS 16
#endif
#define POOL_PAIR_LO(w) ((uint)((w) & ((pool_pair)1 << POOL_HALF_BITS) - 1))
#define POOL_PAIR_HI(w) ((uint)((w) >> POOL_HALF_BITS))

// One cell of a max window: raw bits b, whether it is inside x, its argmax key. Keys compare
// the bits as sign-magnitude integers (no F16 decode): same order as the values, -0 == +0; a NaN
// (magnitude above infinity's) wins and the first NaN stays.
inline void pool_max_cell(uint b, bool in, int at, int *best, uint *bits, bool *bnan, int *idx) {
    uint mag = b & (POOL_SIGN(X_DT) - 1u);
    int key = (b & POOL_SIGN(X_DT)) ? -(int)mag : (int)mag;
    bool nan = mag > POOL_INF(X_DT);
    bool take = in && (*idx < 0 || (!*bnan && (key > *best || nan)));
    *best = take ? key : *best;
    *bits = take ? b : *bits;
    *bnan = take ? nan : *bnan;
    *idx = take ? at : *idx;
}

// maxpool_fwd with the window as constants.
// y (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32/U8 or unused, x (N,C,H,W) X_DT; global = (QR, P, N*C)
kernel void maxpool_fwd_fixed(global HCL_T(Y_DT) *y, ulong y_off, global pool_am_t *argmax, ulong a_off, int has_argmax,
                              const global HCL_T(X_DT) *x, ulong x_off, POOL_SIZES) {
    POOL_LANE;
    size_t plane = x_off + (size_t)nc * GH * GW, o = ybase + l;
    int h0 = p * PSH - PPH, w0 = q * PSW - PPW;
    int best = 0, idx = -1;
    uint bits = 0;
    bool bnan = false;
    __attribute__((opencl_unroll_hint))
    for (int i = 0; i < PKH; i++) {
        int h = h0 + i, hc = PPH ? clamp(h, 0, GH - 1) : h;
        bool hin = PPH == 0 || (h >= 0 && h < GH);  // without padding every window cell is inside x
#if PPAIR
        pool_pair wd = ((const global pool_pair *)x)[(plane + (long)hc * GW - 2L * shift) / 2 + l];
        pool_max_cell(POOL_PAIR_LO(wd), hin, POOL_AM_KEY(h, w0, h0, w0, PKW, GW), &best, &bits, &bnan, &idx);
        if (PKW == 2)
            pool_max_cell(POOL_PAIR_HI(wd), hin, POOL_AM_KEY(h, w0 + 1, h0, w0, PKW, GW), &best, &bits, &bnan, &idx);
#else
        __attribute__((opencl_unroll_hint))
        for (int j = 0; j < PKW; j++) {
            int w = w0 + j, wc = PPW ? clamp(w, 0, GW - 1) : w;
            bool in = hin && (PPW == 0 || (w >= 0 && w < GW));
            pool_max_cell(HCL_CAT(pool_bits_, X_DT)(x[POOL_XI(plane, hc, wc, j)]), in,
                          POOL_AM_KEY(h, w, h0, w0, PKW, GW), &best, &bits, &bnan, &idx);
        }
#endif
    }
    if (!live) return;
#if HCL_CAT(HCL_DT_CODE_, X_DT) == HCL_CAT(HCL_DT_CODE_, Y_DT)
    y[y_off + o] = HCL_CAT(pool_store_, Y_DT)(bits);
#else
    HCL_STORE(Y_DT, y, y_off + o, HCL_CAT(pool_decode_, X_DT)(bits));
#endif
    if (has_argmax) argmax[a_off + o] = (pool_am_t)idx;
}

// avgpool_fwd with the window as constants.
// y (N,C,P,Q) Y_DT, x (N,C,H,W) X_DT; global = (QR, P, N*C)
kernel void avgpool_fwd_fixed(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                              POOL_SIZES) {
    POOL_LANE;
    size_t plane = x_off + (size_t)nc * GH * GW;
    int h0 = p * PSH - PPH;
    float acc = 0.0f;
    __attribute__((opencl_unroll_hint))
    for (int i = 0; i < PKH; i++) {
        int h = h0 + i, hc = PPH ? clamp(h, 0, GH - 1) : h;
        bool hin = PPH == 0 || (h >= 0 && h < GH);
#if PPAIR
        pool_pair wd = ((const global pool_pair *)x)[(plane + (long)hc * GW - 2L * shift) / 2 + l];
        // one accumulation chain: no independent per-row sums for the SLP vectoriser to pack
        acc += hin ? HCL_CAT(pool_decode_, X_DT)(POOL_PAIR_LO(wd)) : 0.0f;
        if (PKW == 2) acc += hin ? HCL_CAT(pool_decode_, X_DT)(POOL_PAIR_HI(wd)) : 0.0f;
#else
        __attribute__((opencl_unroll_hint))
        for (int j = 0; j < PKW; j++) {
            int w = q * PSW - PPW + j, wc = PPW ? clamp(w, 0, GW - 1) : w;
            float v = HCL_LOAD(X_DT, x, POOL_XI(plane, hc, wc, j));
            acc += hin && (PPW == 0 || (w >= 0 && w < GW)) ? v : 0.0f;
        }
#endif
    }
    float div = pool_divisor_fixed(p, q, GH, GW);
    if (!live) return;
    HCL_STORE(Y_DT, y, y_off + ybase + l, acc / div);
}

// pool_bwd_disjoint with the window as constants: window (p, q) writes its stride block, the
// last row / column of windows also the cells after it (PREM).
inline void pool_bwd_fixed(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                           const global pool_am_t *argmax, ulong a_off, POOL_SIZES,
                           const bool is_max) {
    POOL_LANE;
    size_t o = ybase + l;
    float g = HCL_LOAD(Y_DT, dy, dy_off + o);
    int win = is_max ? (int)argmax[a_off + o] : -1;
    if (!is_max) g /= pool_divisor_fixed(p, q, GH, GW);
    size_t plane = dx_off + (size_t)nc * GH * GW;
    int h0 = p * PSH - PPH, w0 = q * PSW - PPW;
    bool lastp = p == GP - 1;
#if PPAIR
    // pairs (see above); g converted once, each half is g's bits or 0 (+0.0 in every dtype)
#if HCL_CAT(HCL_DT_IS_, X_DT)
    pool_pair gb = as_uint(g);
#else
    pool_pair gb = HCL_CAT(hcl_f32_to_, HCL_CAT(X_DT, _bits))(g);
#endif
    __attribute__((opencl_unroll_hint))
    for (int i = 0; i < (PREM ? 2 : 1) * PSH; i++) {
        int h = h0 + i;
        bool hin = (PPH == 0 && i < PKH) || (h >= 0 && h < GH);
        bool own = live && hin && (i < PSH || lastp);
        int e = is_max ? win - POOL_AM_KEY(h, w0, h0, w0, PKW, GW) : (i < PKH ? (PKW == 2 ? 2 : 0) : -1);
        if (is_max && (e < 0 || e >= PKW || i >= PKH)) e = -1;  // 0, 1: that cell, 2: both, -1: none
        pool_pair wd = (e == 0 || e == 2 ? gb : 0) | (e == 1 || e == 2 ? gb << POOL_HALF_BITS : 0);
        if (own) ((global pool_pair *)dx)[(plane + (long)h * GW - 2L * shift) / 2 + l] = wd;
    }
#else
    bool lastq = q == GQ - 1;
    __attribute__((opencl_unroll_hint))
    for (int i = 0; i < (PREM ? 2 : 1) * PSH; i++)
        __attribute__((opencl_unroll_hint))
        for (int j = 0; j < (PREM ? 2 : 1) * PSW; j++) {
            int h = h0 + i, w = w0 + j;
            // a window's own cells are inside x when there is no padding
            bool hin = (PPH == 0 && i < PKH) || (h >= 0 && h < GH);
            bool win_ = (PPW == 0 && j < PKW) || (w >= 0 && w < GW);
            bool own = live && hin && win_ && (i < PSH || lastp) && (j < PSW || lastq);
            bool hit = i < PKH && j < PKW && (!is_max || POOL_AM_KEY(h, w, h0, w0, PKW, GW) == win);
            if (own) HCL_STORE(X_DT, dx, plane + (long)h * GW - (long)shift * PSW - PPW + l * PSW + j, hit ? g : 0.0f);
        }
#endif
}

// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT, argmax (N,C,P,Q) I32/U8; global = (QR, P, N*C)
kernel void maxpool_bwd_fixed(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                              const global pool_am_t *argmax, ulong a_off, POOL_SIZES) {
    pool_bwd_fixed(dx, dx_off, dy, dy_off, argmax, a_off, GH, GW, GP, GQ, QR, R0, true);
}

// dx (N,C,H,W) X_DT, dy (N,C,P,Q) Y_DT; global = (QR, P, N*C)
kernel void avgpool_bwd_fixed(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                              POOL_SIZES) {
    pool_bwd_fixed(dx, dx_off, dy, dy_off, 0, 0, GH, GW, GP, GQ, QR, R0, false);
}
