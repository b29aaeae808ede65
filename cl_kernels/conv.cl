// 2-D convolution kernels (NCHW): im2col and the col2im gather used around the internal GEMM,
// direct kernels for small patches (first layers) and depthwise convs (generic, and specialised
// per layer geometry for PoCL's vectoriser), the deterministic two-stage reductions for dw and
// dbias, a bias fill and a transpose-pack for dy.
// Built with -DX_DT= -DW_DT= -DY_DT= -DB_DT= (f32/f16/bf16): X is x or dx, W is w or dw, Y is y
// or dy, B is bias or dbias. No atomics: every output element is written by one work-item.
#include "common.h"

#ifndef X_DT
#define X_DT f32
#endif
#ifndef W_DT
#define W_DT f32
#endif
#ifndef Y_DT
#define Y_DT f32
#endif
#ifndef B_DT
#define B_DT f32
#endif

// Geometry as 16 scalar int arguments: x (N,C,H,W), w (K,C/G,R,S), y (N,K,P,Q), stride, pad,
// dilation, groups. (Scalars, not an int16: LLVM folds products of two lanes of one vector into a
// shufflevector with undef lanes, which crashes oclgrind's uninitialised-value checker.)
#define CONV_GEO int GN, int GC, int GH, int GW, int GK, int GP, int GQ, int GR, int GS, int GSH, int GSW, \
                 int GPH, int GPW, int GDH, int GDW, int GG
#define CONV_GEO_ARGS GN, GC, GH, GW, GK, GP, GQ, GR, GS, GSH, GSW, GPH, GPW, GDH, GDW, GG

#ifndef CONV_SPEC
// ---- generic kernels (runtime geometry) ----

// cols: per image n (of the chunk starting at n0), row crs = (c*R + r)*S + s, column pq:
// cols[n*col_ns + crs*col_rs + pq] = x[n0+n, c, p*sh - ph + r*dh, q*sw - pw + s*dw] (0 in padding).
// x (N,C,H,W) X_DT, cols X_DT; global = (Q, P, nc*C*R*S)
kernel void conv_im2col(global HCL_T(X_DT) *cols, ulong cols_off, ulong col_ns, ulong col_rs,
                        const global HCL_T(X_DT) *x, ulong x_off, CONV_GEO, int n0, int nc) {
    int q = get_global_id(0), p = get_global_id(1), t = get_global_id(2);
    int crsn = GC * GR * GS;
    if (q >= GQ || p >= GP || t >= nc * crsn) return;
    int n = t / crsn, crs = t - n * crsn;
    int c = crs / (GR * GS), rs = crs - c * (GR * GS);
    int r = rs / GS, s = rs - r * GS;
    int h = p * GSH - GPH + r * GDH, w = q * GSW - GPW + s * GDW;
    float v = 0.0f;
    if (h >= 0 && h < GH && w >= 0 && w < GW)
        v = HCL_LOAD(X_DT, x, x_off + (((size_t)(n0 + n) * GC + c) * GH + h) * GW + w);
    HCL_STORE(X_DT, cols, cols_off + n * col_ns + crs * col_rs + (size_t)p * GQ + q, v);
}

// dx[n0+n, c, h, w] = sum over (r, s), in that order, of the F32 columns that im2col would have
// read from (c, h, w): cols per image (C*R*S, P*Q). A gather: deterministic, no atomics.
// dx (N,C,H,W) X_DT, cols F32; global = (W, H, nc*C)
kernel void conv_col2im(global HCL_T(X_DT) *dx, ulong dx_off, const global float *cols, ulong cols_off,
                        CONV_GEO, int n0, int nc) {
    int w = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
    if (w >= GW || h >= GH || t >= nc * GC) return;
    int n = t / GC, c = t - n * GC;
    size_t pqn = (size_t)GP * GQ;
    const global float *cn = cols + cols_off + ((size_t)n * GC + c) * GR * GS * pqn;
    float acc = 0.0f;
    for (int r = 0; r < GR; r++) {
        int hp = h + GPH - r * GDH;
        if (hp < 0) continue;
        int p = hp / GSH;
        if (p * GSH != hp || p >= GP) continue;
        for (int s = 0; s < GS; s++) {
            int wq = w + GPW - s * GDW;
            if (wq < 0) continue;
            int q = wq / GSW;
            if (q * GSW != wq || q >= GQ) continue;
            acc += cn[((size_t)r * GS + s) * pqn + (size_t)p * GQ + q];
        }
    }
    HCL_STORE(X_DT, dx, dx_off + (((size_t)n0 + n) * GC + c) * GH * GW + (size_t)h * GW + w, acc);
}

// y[n, k, :, :] = bias[k], before a GEMM that adds into y (beta = 1): the sum is rounded to
// Y_DT once (adding the bias after the GEMM stored y rounded twice, badly where they cancel)
// y (N,K,P,Q) Y_DT, bias (K) B_DT; global = (P*Q, K, N)
kernel void conv_bias_fill(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(B_DT) *bias, ulong b_off,
                           CONV_GEO) {
    int pq = get_global_id(0), k = get_global_id(1), n = get_global_id(2);
    if (pq >= GP * GQ || k >= GK || n >= GN) return;
    HCL_STORE(Y_DT, y, y_off + ((size_t)n * GK + k) * GP * GQ + pq, HCL_LOAD(B_DT, bias, b_off + k));
}

// ---- direct kernels (small C/G*R*S and depthwise): each work-item computes 8 consecutive
// outputs along the fastest spatial dim as a float8, and (forward, dw) a block of KB output
// channels that share the input loads. KB is 8, or 1 for depthwise-like groups (K/G < 4).

// 8 values of row `row` (X_DT) at columns c0 + l*step, 0 where outside [0, width) or !ok.
inline float8 conv_load8_x(const global HCL_T(X_DT) *x, size_t row, int c0, int step, int width, bool ok) {
    float v[8];
    for (int l = 0; l < 8; l++) {
        int c = c0 + l * step;
        v[l] = ok && c >= 0 && c < width ? HCL_LOAD(X_DT, x, row + c) : 0.0f;
    }
    return vload8(0, v);
}

// y[n, k0+kk, p, q0..q0+7] for kk < KB. global = (ceil(Q/8), P, N*G*ceil((K/G)/KB))
inline void conv_fwd_direct(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                            const global HCL_T(W_DT) *wt, ulong w_off, const global HCL_T(B_DT) *bias, ulong b_off,
                            int has_bias, CONV_GEO, const int KB) {
    int q0 = get_global_id(0) * 8, p = get_global_id(1), t = get_global_id(2);
    int cpg = GC / GG, kpg = GK / GG, nkb = (kpg + KB - 1) / KB;
    if (q0 >= GQ || p >= GP || t >= GN * GG * nkb) return;
    // (written without %: oclgrind's uninitialised-value checker cannot run the `freeze` LLVM
    // emits for a / and % pair)
    int gn = t / nkb, kb = t - gn * nkb;
    int n = gn / GG, g = gn - n * GG;
    int k0 = g * kpg + kb * KB, nk = min(KB, (g + 1) * kpg - k0);
    int h0 = p * GSH - GPH, w0 = q0 * GSW - GPW, crs = cpg * GR * GS;
    float8 acc[8];
    for (int kk = 0; kk < KB; kk++) acc[kk] = (float8)(0.0f);
    size_t wb = w_off + (size_t)k0 * crs;
    int i = 0;
    for (int c = 0; c < cpg; c++) {
        size_t xc = x_off + ((size_t)n * GC + g * cpg + c) * GH * GW;
        for (int r = 0; r < GR; r++) {
            int h = h0 + r * GDH;
            bool hok = h >= 0 && h < GH;
            size_t xr = xc + (size_t)(hok ? h : 0) * GW;
            for (int s = 0; s < GS; s++, i++) {
                float8 xv = conv_load8_x(x, xr, w0 + s * GDW, GSW, GW, hok);
                for (int kk = 0; kk < KB; kk++)
                    acc[kk] = fma(xv, (float8)(HCL_LOAD(W_DT, wt, wb + (size_t)min(kk, nk - 1) * crs + i)), acc[kk]);
            }
        }
    }
    for (int kk = 0; kk < KB; kk++) {
        if (kk >= nk) break;
        float8 o = acc[kk];
        if (has_bias) o += HCL_LOAD(B_DT, bias, b_off + k0 + kk);
        float ov[8];
        vstore8(o, 0, ov);
        size_t yo = y_off + (((size_t)n * GK + k0 + kk) * GP + p) * GQ + q0;
        for (int l = 0; l < 8 && q0 + l < GQ; l++) HCL_STORE(Y_DT, y, yo + l, ov[l]);
    }
}

// y (N,K,P,Q) Y_DT, x (N,C,H,W) X_DT, w (K,C/G,R,S) W_DT, bias (K) B_DT or unused;
// global = (ceil(Q/8), P, N*G*ceil((K/G)/8))
kernel void conv_direct_fwd_kb8(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                                const global HCL_T(W_DT) *wt, ulong w_off, const global HCL_T(B_DT) *bias, ulong b_off,
                                int has_bias, CONV_GEO) {
    conv_fwd_direct(y, y_off, x, x_off, wt, w_off, bias, b_off, has_bias, CONV_GEO_ARGS, 8);
}

// as conv_direct_fwd_kb8 with one output channel per work-item; global = (ceil(Q/8), P, N*K)
kernel void conv_direct_fwd_kb1(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                                const global HCL_T(W_DT) *wt, ulong w_off, const global HCL_T(B_DT) *bias, ulong b_off,
                                int has_bias, CONV_GEO) {
    conv_fwd_direct(y, y_off, x, x_off, wt, w_off, bias, b_off, has_bias, CONV_GEO_ARGS, 1);
}

// Direct backward data (gather): dx[n,c,h,w] = sum over r, s, then k of c's group (that order),
// of dy[n,k,p,q] w[k,c',r,s] where h = p*sh - ph + r*dh and w = q*sw - pw + s*dw; 8 cells along
// w per work-item.
// dx (N,C,H,W) X_DT, dy (N,K,P,Q) Y_DT, w (K,C/G,R,S) W_DT; global = (ceil(W/8), H, N*C)
kernel void conv_direct_bwd_data(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                 const global HCL_T(W_DT) *wt, ulong w_off, CONV_GEO) {
    int w0 = get_global_id(0) * 8, h = get_global_id(1), t = get_global_id(2);
    if (w0 >= GW || h >= GH || t >= GN * GC) return;
    int cpg = GC / GG, kpg = GK / GG;
    int n = t / GC, c = t - n * GC;
    int g = c / cpg, cl = c - g * cpg;
    size_t pqn = (size_t)GP * GQ;
    float8 acc = (float8)(0.0f);
    for (int r = 0; r < GR; r++) {
        int hp = h + GPH - r * GDH;
        if (hp < 0) continue;
        int p = GSH == 1 ? hp : hp / GSH;
        if (p * GSH != hp || p >= GP) continue;
        for (int s = 0; s < GS; s++) {
            int qi[8];
            bool any = false;
            for (int l = 0; l < 8; l++) {
                int wq = w0 + l + GPW - s * GDW;
                int q = wq < 0 ? -1 : GSW == 1 ? wq : wq / GSW;
                qi[l] = q >= 0 && q * GSW == wq && q < GQ && w0 + l < GW ? q : -1;
                any = any || qi[l] >= 0;
            }
            if (!any) continue;
            for (int k = g * kpg; k < (g + 1) * kpg; k++) {
                size_t dyr = dy_off + ((size_t)n * GK + k) * pqn + (size_t)p * GQ;
                float v[8];
                for (int l = 0; l < 8; l++) v[l] = qi[l] >= 0 ? HCL_LOAD(Y_DT, dy, dyr + qi[l]) : 0.0f;
                float wv = HCL_LOAD(W_DT, wt, w_off + (((size_t)k * cpg + cl) * GR + r) * GS + s);
                acc = fma(vload8(0, v), (float8)(wv), acc);
            }
        }
    }
    float ov[8];
    vstore8(acc, 0, ov);
    size_t o = dx_off + ((size_t)t * GH + h) * GW + w0;
    for (int l = 0; l < 8 && w0 + l < GW; l++) HCL_STORE(X_DT, dx, o + l, ov[l]);
}

// Stage 1 of the direct dw: part[(j*8 + l)*E + e] = sum over rows (n,p) of chunk j (rows
// j*rpc .. of N*P) and q = l (mod 8) of dy[n,k,p,q] x[n,c,h,w] for e = (k*C/G + c')*R*S + r*S + s.
// A work-item covers one tap (c', r, s) for KB output channels k0.. of a group, 8 q at a time
// (float8 lanes l). part (J*8, E) F32; global = (C/G*R*S, G*ceil((K/G)/KB), J)
inline void conv_dw_part(global float *part, ulong part_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                         const global HCL_T(X_DT) *x, ulong x_off, CONV_GEO, int nchunks, int rpc, const int KB) {
    int tap = get_global_id(0), t = get_global_id(1), j = get_global_id(2);
    int cpg = GC / GG, kpg = GK / GG, nkb = (kpg + KB - 1) / KB, crs = cpg * GR * GS;
    if (tap >= crs || t >= GG * nkb || j >= nchunks) return;
    int g = t / nkb, kb = t - g * nkb;
    int k0 = g * kpg + kb * KB, nk = min(KB, (g + 1) * kpg - k0);
    int cr = tap / GS, s = tap - cr * GS, cc = cr / GR, r = cr - cc * GR, c = g * cpg + cc;
    size_t pqn = (size_t)GP * GQ;
    int rows = GN * GP, row0 = j * rpc, row1 = min(row0 + rpc, rows);
    // q range where w = q*sw - pw + s*dw lies in [0, W)
    int woff = s * GDW - GPW;
    int qa = woff >= 0 ? 0 : (-woff + GSW - 1) / GSW;
    int qb = GW - 1 - woff < 0 ? 0 : min(GQ, (GW - 1 - woff) / GSW + 1);
    float8 acc[8];
    for (int kk = 0; kk < KB; kk++) acc[kk] = (float8)(0.0f);
    int n = row0 / GP, p = row0 - n * GP;
    for (int row = row0; row < row1; row++) {
        int h = p * GSH - GPH + r * GDH;
        if (h >= 0 && h < GH) {
            size_t xr = x_off + (((size_t)n * GC + c) * GH + h) * GW;
            size_t dyr = dy_off + ((size_t)n * GK + k0) * pqn + (size_t)p * GQ;
            for (int q = qa; q < qb; q += 8) {
                // lanes past qb read x as 0, so their dy never counts
                float8 xv = conv_load8_x(x, xr, q * GSW + woff, GSW, min(GW, qb * GSW + woff), true);
                for (int kk = 0; kk < KB; kk++) {
                    size_t d = dyr + (size_t)min(kk, nk - 1) * pqn + q;
                    float v[8];
                    for (int l = 0; l < 8; l++) v[l] = q + l < qb ? HCL_LOAD(Y_DT, dy, d + l) : 0.0f;
                    acc[kk] = fma(vload8(0, v), xv, acc[kk]);
                }
            }
        }
        if (++p == GP) { p = 0; n++; }
    }
    size_t e_count = (size_t)GK * crs;
    // one partial per lane (no horizontal sum: stage 2 adds them in a fixed order, and a float8
    // lane sum becomes undef-lane shuffles that crash oclgrind's uninitialised-value checker)
    for (int kk = 0; kk < KB; kk++) {
        if (kk >= nk) break;
        float t[8];
        vstore8(acc[kk], 0, t);
        size_t e = (size_t)(k0 + kk) * crs + tap;
        for (int l = 0; l < 8; l++) part[part_off + ((size_t)j * 8 + l) * e_count + e] = t[l];
    }
}

// part (J*8, K*C/G*R*S) F32, dy (N,K,P,Q) Y_DT, x (N,C,H,W) X_DT; global = (C/G*R*S, G*ceil((K/G)/8), J)
kernel void conv_direct_bwd_weight_part_kb8(global float *part, ulong part_off, const global HCL_T(Y_DT) *dy,
                                            ulong dy_off, const global HCL_T(X_DT) *x, ulong x_off, CONV_GEO,
                                            int nchunks, int rpc) {
    conv_dw_part(part, part_off, dy, dy_off, x, x_off, CONV_GEO_ARGS, nchunks, rpc, 8);
}

// as conv_direct_bwd_weight_part_kb8 with one output channel per work-item; global = (C/G*R*S, K, J)
kernel void conv_direct_bwd_weight_part_kb1(global float *part, ulong part_off, const global HCL_T(Y_DT) *dy,
                                            ulong dy_off, const global HCL_T(X_DT) *x, ulong x_off, CONV_GEO,
                                            int nchunks, int rpc) {
    conv_dw_part(part, part_off, dy, dy_off, x, x_off, CONV_GEO_ARGS, nchunks, rpc, 1);
}

// Stage 1 of dbias: part[j*K + k] = sum over rows (n,p) of chunk j and q of dy[n,k,p,q].
// part (J, K) F32, dy (N,K,P,Q) Y_DT; global = (K, J)
kernel void conv_bias_grad_part(global float *part, ulong part_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                CONV_GEO, int nchunks, int rpc) {
    int k = get_global_id(0), j = get_global_id(1);
    if (k >= GK || j >= nchunks) return;
    size_t pqn = (size_t)GP * GQ;
    int rows = GN * GP;
    int row0 = j * rpc, row1 = min(row0 + rpc, rows);
    int n = row0 / GP, p = row0 - n * GP;
    float acc = 0.0f;
    for (int row = row0; row < row1; row++) {
        size_t base = dy_off + ((size_t)n * GK + k) * pqn + (size_t)p * GQ;
        for (int q = 0; q < GQ; q++) acc += HCL_LOAD(Y_DT, dy, base + q);
        if (++p == GP) { p = 0; n++; }
    }
    part[part_off + (size_t)j * GK + k] = acc;
}

#endif  // !CONV_SPEC

// Stage 2: out[e] += sum over j = 0..J-1 (in order) of part[j*E + e].
// dw (E) W_DT or dbias (E) B_DT, part (J, E) F32; global = E
kernel void conv_reduce_w(global HCL_T(W_DT) *out, ulong out_off, const global float *part, ulong part_off,
                          ulong e_count, int nchunks) {
    size_t e = get_global_id(0);
    if (e >= e_count) return;
    float acc = 0.0f;
    for (int j = 0; j < nchunks; j++) acc += part[part_off + (size_t)j * e_count + e];
    HCL_STORE(W_DT, out, out_off + e, HCL_LOAD(W_DT, out, out_off + e) + acc);
}

kernel void conv_reduce_b(global HCL_T(B_DT) *out, ulong out_off, const global float *part, ulong part_off,
                          ulong e_count, int nchunks) {
    size_t e = get_global_id(0);
    if (e >= e_count) return;
    float acc = 0.0f;
    for (int j = 0; j < nchunks; j++) acc += part[part_off + (size_t)j * e_count + e];
    HCL_STORE(B_DT, out, out_off + e, HCL_LOAD(B_DT, out, out_off + e) + acc);
}

#ifndef CONV_SPEC
// dyp[k, n*P*Q + pq] = dy[n0+n, k, pq]: the images of a chunk side by side, so one GEMM over
// K-dim nc*P*Q sums them in FP32.
// dyp (K, nc*P*Q) Y_DT, dy (N,K,P,Q) Y_DT; global = (P*Q, K, nc)
kernel void conv_pack_dy(global HCL_T(Y_DT) *dyp, ulong dyp_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                         CONV_GEO, int n0, int nc) {
    int pq = get_global_id(0), k = get_global_id(1), n = get_global_id(2);
    if (pq >= GP * GQ || k >= GK || n >= nc) return;
    size_t pqn = (size_t)GP * GQ;
    dyp[dyp_off + ((size_t)k * nc + n) * pqn + pq] = dy[dy_off + (((size_t)n0 + n) * GK + k) * pqn + pq];
}
#endif  // !CONV_SPEC

#ifdef CONV_SPEC
// ---- kernels specialised for one layer geometry (built with -DCONV_SPEC=1 and the constants
// below; the geometry arguments are passed as everywhere else, but only GN, the batch, is read).
// Every loop of the forward and backward-data bodies has a fixed trip count and unrolls, every
// division is by a constant: the body is straight-line and PoCL vectorises it across the
// work-items of dim 0 (consecutive output columns, addressed from the 64-bit id). Runtime
// divisors, or row offsets that are runtime multiples (which clang's SLP vectoriser packs into
// small vectors before PoCL builds its work-item loops), made the loop vectoriser give up. The
// weights come as F32 (conv_spec_prep_w): read unconditionally and uniform over a work-group,
// they are hoisted out of the work-item loop. Backward weight is a reduction over (n, p, q):
// explicit float16 accumulators over q instead.
//   CONV_G, CONV_CPG, CONV_KPG: groups, C/G, K/G; CONV_H, CONV_W, CONV_P, CONV_Q: input and
//   output size; CONV_R, CONV_S, CONV_SH, CONV_SW, CONV_PH, CONV_PW, CONV_DH, CONV_DW: filter,
//   stride, pad, dilation; CONV_KB: output channels per forward work-item; CONV_KBW: output
//   channels per backward-weight work-item; CONV_L0 x CONV_L1: forward work-group, CONV_DL0 x
//   CONV_DL1: backward-data work-group; CONV_DATA: backward data built (K/G*R*S small enough to
//   unroll).
#define CONV_RS (CONV_R * CONV_S)
#define CONV_C (CONV_G * CONV_CPG)
#define CONV_K (CONV_G * CONV_KPG)
#define CONV_CRS (CONV_CPG * CONV_RS)

// wf[e] = w[e] for e < E = K*C/G*R*S, then (when nb = K) wf[E + k] = bias[k] or 0 without a
// bias: the weights as F32 once per call, so the kernels below read them with no conversion.
// wf (E + nb) F32, w (E) W_DT, bias (K) B_DT or unused; global = E + nb
kernel void conv_spec_prep_w(global float *wf, ulong wf_off, const global HCL_T(W_DT) *wt, ulong w_off,
                             const global HCL_T(B_DT) *bias, ulong b_off, int has_bias, int e_count, int nb) {
    int i = get_global_id(0);
    if (i >= e_count + nb) return;
    float v = 0.0f;
    if (i < e_count) v = HCL_LOAD(W_DT, wt, w_off + i);
    else if (has_bias) v = HCL_LOAD(B_DT, bias, b_off + (i - e_count));
    wf[wf_off + i] = v;
}

// F32 copies of x (for the backward weight, which reads each x element R*S times per block of
// output channels) and of dy (for the backward data, which reads each dy element about R*S
// times). out (n) F32, in (n) X_DT / Y_DT; global = n
kernel void conv_spec_prep_x(global float *out, ulong out_off, const global HCL_T(X_DT) *in, ulong in_off, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    out[out_off + i] = HCL_LOAD(X_DT, in, in_off + i);
}

kernel void conv_spec_prep_y(global float *out, ulong out_off, const global HCL_T(Y_DT) *in, ulong in_off, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    out[out_off + i] = HCL_LOAD(Y_DT, in, in_off + i);
}

// y (N,K,P,Q) Y_DT, x (N,C,H,W) X_DT, wf (K*C/G*R*S + K) F32: the weights, then the bias (or 0),
// from conv_spec_prep_w. One output pixel (p, q) and output channels k0 .. k0+KB-1 of one group
// per work-item.
// global = (roundup(Q, L0), roundup(P, L1), N*G*ceil((K/G)/KB)), local = (L0, L1, 1)
kernel __attribute__((reqd_work_group_size(CONV_L0, CONV_L1, 1)))
void conv_spec_fwd(global HCL_T(Y_DT) *restrict y, ulong y_off, const global HCL_T(X_DT) *restrict x, ulong x_off,
                   const global float *restrict wf, ulong wf_off, CONV_GEO) {
    // addresses along dim 0 are built from the 64-bit id (qz + constant), which LLVM sees as
    // consecutive across work-items (a sign-extended int index would become a gather)
    size_t qz = get_global_id(0);
    int q = (int)qz, p = get_global_id(1), t = get_global_id(2);
    const int nkb = (CONV_KPG + CONV_KB - 1) / CONV_KB;
    int gn = t / nkb, kb = t - gn * nkb;
    int n = gn / CONV_G, g = gn - n * CONV_G;
    int k0 = g * CONV_KPG + kb * CONV_KB, nk = min(CONV_KB, CONV_KPG - kb * CONV_KB);
    // The block's weights and bias: the same for all work-items of the work-group, read
    // unconditionally, so PoCL hoists them out of its work-item loop. Channels past the group's
    // end (nk < KB) repeat its last channel and are not stored.
    float wr[CONV_KB * CONV_CRS], br[CONV_KB];
    #pragma unroll
    for (int kk = 0; kk < CONV_KB; kk++) {
        size_t kw = (size_t)(k0 + min(kk, nk - 1));
        #pragma unroll
        for (int i = 0; i < CONV_CRS; i++) wr[kk * CONV_CRS + i] = wf[wf_off + kw * CONV_CRS + i];
        br[kk] = wf[wf_off + (size_t)CONV_K * CONV_CRS + kw];
    }
    if (q < CONV_Q && p < CONV_P) {
        float xv[CONV_CRS];
        int h0 = p * CONV_SH - CONV_PH, w0 = q * CONV_SW - CONV_PW;
        #pragma unroll
        for (int c = 0; c < CONV_CPG; c++) {
            size_t xc = x_off + ((size_t)n * CONV_C + g * CONV_CPG + c) * CONV_H * CONV_W;
            #pragma unroll
            for (int r = 0; r < CONV_R; r++) {
                int h = h0 + r * CONV_DH;
                size_t xr = xc + (size_t)(long)(h * CONV_W) + qz * CONV_SW;  // wraps where h < 0: not read
                #pragma unroll
                for (int s = 0; s < CONV_S; s++) {
                    int w = w0 + s * CONV_DW;
                    bool ok = (h >= 0) & (h < CONV_H) & (w >= 0) & (w < CONV_W);
                    xv[(c * CONV_R + r) * CONV_S + s] =
                        ok ? HCL_LOAD(X_DT, x, xr + (size_t)(long)(s * CONV_DW - CONV_PW)) : 0.0f;
                }
            }
        }
        size_t yo = y_off + (((size_t)n * CONV_K + k0) * CONV_P + p) * CONV_Q + qz;
        #pragma unroll
        for (int kk = 0; kk < CONV_KB; kk++) {
            float acc = br[kk];
            #pragma unroll
            for (int i = 0; i < CONV_CRS; i++) acc = fma(xv[i], wr[kk * CONV_CRS + i], acc);
            if (kk < nk) HCL_STORE(Y_DT, y, yo + (size_t)kk * CONV_P * CONV_Q, acc);
        }
    }
}

#if CONV_DATA
// dx (N,C,H,W) X_DT, dyf (N,K,P,Q) F32 (dy itself or conv_spec_prep_y), wf (K,C/G,R,S) F32
// (conv_spec_prep_w). A gather: one input pixel (h, w) and all C/G channels of its group per
// work-item, dx[n,c,h,w] = sum over r, s, then k of the group (that order) of dy[n,k,p,q]
// w[k,c',r,s] where h = p*sh - ph + r*dh, w = q*sw - pw + s*dw.
// global = (roundup(W, DL0), roundup(H, DL1), N*G), local = (DL0, DL1, 1)
kernel __attribute__((reqd_work_group_size(CONV_DL0, CONV_DL1, 1)))
void conv_spec_bwd_data(global HCL_T(X_DT) *restrict dx, ulong dx_off, const global float *restrict dyf,
                        ulong dy_off, const global float *restrict wf, ulong wf_off, CONV_GEO) {
    size_t wz = get_global_id(0);  // 64-bit, as qz in conv_spec_fwd
    int w = (int)wz, h = get_global_id(1), t = get_global_id(2);
    int n = t / CONV_G, g = t - n * CONV_G;
    // the group's weights (K/G, C/G, R, S), uniform over the work-group (as in conv_spec_fwd)
    float wr[CONV_KPG * CONV_CRS];
    #pragma unroll
    for (int i = 0; i < CONV_KPG * CONV_CRS; i++) wr[i] = wf[wf_off + (size_t)g * CONV_KPG * CONV_CRS + i];
    if (w < CONV_W && h < CONV_H) {
        float acc[CONV_CPG];
        #pragma unroll
        for (int c = 0; c < CONV_CPG; c++) acc[c] = 0.0f;
        size_t pqn = (size_t)CONV_P * CONV_Q, dyn = dy_off + ((size_t)n * CONV_K + g * CONV_KPG) * pqn;
        #pragma unroll
        for (int r = 0; r < CONV_R; r++) {
            int hp = h + CONV_PH - r * CONV_DH;
            int p = (hp >= 0 ? hp : 0) / CONV_SH;  // constant divisor: a multiply
            bool hok = hp >= 0 && p * CONV_SH == hp && p < CONV_P;
            #pragma unroll
            for (int s = 0; s < CONV_S; s++) {
                int wq = w + CONV_PW - s * CONV_DW;
                int q = (wq >= 0 ? wq : 0) / CONV_SW;
                bool ok = hok && wq >= 0 && q * CONV_SW == wq && q < CONV_Q;
                // stride 1: q = w + pw - s*dw, consecutive across work-items
                size_t d = dyn + (size_t)p * CONV_Q + (CONV_SW == 1 ? wz + (size_t)(long)(CONV_PW - s * CONV_DW) : (size_t)q);
                #pragma unroll
                for (int k = 0; k < CONV_KPG; k++) {
                    float v = ok ? dyf[d + k * pqn] : 0.0f;
                    #pragma unroll
                    for (int c = 0; c < CONV_CPG; c++)
                        acc[c] = fma(v, wr[(k * CONV_CPG + c) * CONV_RS + r * CONV_S + s], acc[c]);
                }
            }
        }
        size_t o = dx_off + (((size_t)n * CONV_C + g * CONV_CPG) * CONV_H + h) * CONV_W + wz;
        #pragma unroll
        for (int c = 0; c < CONV_CPG; c++) HCL_STORE(X_DT, dx, o + (size_t)c * CONV_H * CONV_W, acc[c]);
    }
}
#endif  // CONV_DATA

// 16 lanes (0, 1, .., 15) and the sum of a float16's lanes in a fixed order (a tree of halves)
#define CONV_LANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
inline float conv_sum16(float16 v) {
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

// dy[i + l] for lanes l < nl, else 0. [lo, hi) is dy's extent: one vector load when the 16
// elements lie inside it (lanes past nl read the next row and are dropped).
inline float16 conv_spec_dy16(const global HCL_T(Y_DT) *dy, long i, int nl, long lo, long hi) {
    if (i >= lo && i + 16 <= hi) return select((float16)(0.0f), HCL_LOAD16(Y_DT, dy, (size_t)i), CONV_LANES < nl);
    float v[16];
    for (int l = 0; l < 16; l++) v[l] = l < nl ? HCL_LOAD(Y_DT, dy, (size_t)(i + l)) : 0.0f;
    return vload16(0, v);
}

// xf[row + col0 + l*SW] for lanes l < nl whose column lies in [0, width), else 0; [lo, hi) is
// xf's extent (as conv_spec_dy16).
inline float16 conv_spec_x16(const global float *xf, long row, int col0, int nl, int width, long lo, long hi) {
    int16 col = col0 + CONV_LANES * CONV_SW;
    int16 ok = col >= 0 && col < width && CONV_LANES < nl;
    long i = row + col0;
    if (CONV_SW == 1 && i >= lo && i + 16 <= hi) return select((float16)(0.0f), vload16(0, xf + i), ok);
    float v[16];
    for (int l = 0; l < 16; l++) {
        int c = col0 + l * CONV_SW;
        v[l] = l < nl && c >= 0 && c < width ? xf[row + c] : 0.0f;
    }
    return vload16(0, v);
}

// Stage 1 of dw (and dbias): part[j*E + e] = sum over rows (n, p) of chunk j (rows j*rpc .. of
// N*P) and q of dy[n,k,p,q] x[n,c,h,w] for e = (k*C/G + c')*R*S + r*S + s; when with_bias,
// part[bpart_off + j*K + k] = the sum of dy over the same rows (by the c' = 0 work-items).
// A work-item covers KBW output channels of a group and one c', reads each dy row once and
// keeps all R*S taps in float16 accumulators over 16 q at a time.
// part F32, dy (N,K,P,Q) Y_DT, xf (N,C,H,W) F32 (x itself or conv_spec_prep_x);
// global = (G*ceil((K/G)/KBW), C/G, J)
kernel void conv_spec_bwd_weight_part(global float *restrict part, ulong part_off, ulong bpart_off, int with_bias,
                                      const global HCL_T(Y_DT) *restrict dy, ulong dy_off,
                                      const global float *restrict xf, ulong x_off, CONV_GEO, int nchunks, int rpc) {
    int t = get_global_id(0), cc = get_global_id(1), j = get_global_id(2);
    const int nkb = (CONV_KPG + CONV_KBW - 1) / CONV_KBW;
    if (t >= CONV_G * nkb || cc >= CONV_CPG || j >= nchunks) return;
    int g = t / nkb, kb = t - g * nkb;
    int k0 = g * CONV_KPG + kb * CONV_KBW, nk = min(CONV_KBW, CONV_KPG - kb * CONV_KBW);
    int c = g * CONV_CPG + cc;
    float16 acc[CONV_KBW][CONV_RS], accb[CONV_KBW];
    #pragma unroll
    for (int kk = 0; kk < CONV_KBW; kk++) {
        accb[kk] = (float16)(0.0f);
        #pragma unroll
        for (int i = 0; i < CONV_RS; i++) acc[kk][i] = (float16)(0.0f);
    }
    long pqn = (long)CONV_P * CONV_Q, hw = (long)CONV_H * CONV_W;
    long xlo = x_off, xhi = x_off + (long)GN * CONV_C * hw, ylo = dy_off, yhi = dy_off + (long)GN * CONV_K * pqn;
    int rows = GN * CONV_P, row0 = j * rpc, row1 = min(row0 + rpc, rows);
    int n = row0 / CONV_P, p = row0 - n * CONV_P;
    for (int row = row0; row < row1; row++) {
        long xc = x_off + ((long)n * CONV_C + c) * hw;
        long yr = dy_off + ((long)n * CONV_K + k0) * pqn + (long)p * CONV_Q;
        for (int q0 = 0; q0 < CONV_Q; q0 += 16) {
            int nl = CONV_Q - q0;
            float16 d[CONV_KBW];
            #pragma unroll
            for (int kk = 0; kk < CONV_KBW; kk++) {
                d[kk] = conv_spec_dy16(dy, yr + min(kk, nk - 1) * pqn + q0, nl, ylo, yhi);
                accb[kk] += d[kk];
            }
            #pragma unroll
            for (int r = 0; r < CONV_R; r++) {
                int h = p * CONV_SH - CONV_PH + r * CONV_DH;
                if (h < 0 || h >= CONV_H) continue;
                #pragma unroll
                for (int s = 0; s < CONV_S; s++) {
                    float16 xv = conv_spec_x16(xf, xc + (long)h * CONV_W, q0 * CONV_SW - CONV_PW + s * CONV_DW, nl, CONV_W,
                                               xlo, xhi);
                    #pragma unroll
                    for (int kk = 0; kk < CONV_KBW; kk++) acc[kk][r * CONV_S + s] = fma(d[kk], xv, acc[kk][r * CONV_S + s]);
                }
            }
        }
        if (++p == CONV_P) { p = 0; n++; }
    }
    size_t e_count = (size_t)CONV_K * CONV_CRS;
    #pragma unroll
    for (int kk = 0; kk < CONV_KBW; kk++) {
        size_t e = (size_t)(k0 + kk) * CONV_CRS + cc * CONV_RS;
        #pragma unroll
        for (int i = 0; i < CONV_RS; i++)
            if (kk < nk) part[part_off + (size_t)j * e_count + e + i] = conv_sum16(acc[kk][i]);
        if (kk < nk && with_bias && cc == 0) part[bpart_off + (size_t)j * CONV_K + k0 + kk] = conv_sum16(accb[kk]);
    }
}
#endif  // CONV_SPEC
