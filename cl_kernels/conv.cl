// 2-D convolution kernels (NCHW): im2col and the col2im gather used around the internal GEMM,
// direct kernels for small patches (first layers) and depthwise convs, the deterministic
// two-stage reductions for dw and dbias, a bias add and a transpose-pack for dy.
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

// y[n, k, :, :] += bias[k] (after a GEMM that wrote y)
// y (N,K,P,Q) Y_DT, bias (K) B_DT; global = (P*Q, K, N)
kernel void conv_bias_add(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(B_DT) *bias, ulong b_off,
                          CONV_GEO) {
    int pq = get_global_id(0), k = get_global_id(1), n = get_global_id(2);
    if (pq >= GP * GQ || k >= GK || n >= GN) return;
    size_t i = y_off + ((size_t)n * GK + k) * GP * GQ + pq;
    HCL_STORE(Y_DT, y, i, HCL_LOAD(Y_DT, y, i) + HCL_LOAD(B_DT, bias, b_off + k));
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
