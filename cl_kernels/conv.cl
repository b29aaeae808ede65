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
// largest C/groups * R * S held in private memory by conv_patch_fwd (host uses the same limit)
#ifndef HCL_CONV_PATCH_MAX
#define HCL_CONV_PATCH_MAX 32
#endif
// output channels per work-item in conv_patch_fwd
#ifndef HCL_CONV_KB
#define HCL_CONV_KB 8
#endif

// Geometry, one int16 argument: x (N,C,H,W), w (K,C/G,R,S), y (N,K,P,Q).
#define GN geo.s0
#define GC geo.s1
#define GH geo.s2
#define GW geo.s3
#define GK geo.s4
#define GP geo.s5
#define GQ geo.s6
#define GR geo.s7
#define GS geo.s8
#define GSH geo.s9
#define GSW geo.sa
#define GPH geo.sb
#define GPW geo.sc
#define GDH geo.sd
#define GDW geo.se
#define GG geo.sf

// cols: per image n (of the chunk starting at n0), row crs = (c*R + r)*S + s, column pq:
// cols[n*col_ns + crs*col_rs + pq] = x[n0+n, c, p*sh - ph + r*dh, q*sw - pw + s*dw] (0 in padding).
// x (N,C,H,W) X_DT, cols X_DT; global = (Q, P, nc*C*R*S)
kernel void conv_im2col(global HCL_T(X_DT) *cols, ulong cols_off, ulong col_ns, ulong col_rs,
                        const global HCL_T(X_DT) *x, ulong x_off, int16 geo, int n0, int nc) {
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
                        int16 geo, int n0, int nc) {
    int w = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
    if (w >= GW || h >= GH || t >= nc * GC) return;
    int n = t / GC, c = t - n * GC;
    size_t pqn = (size_t)GP * GQ;
    const global float *cn = cols + cols_off + ((size_t)n * GC + c) * GR * GS * pqn;
    float acc = 0.0f;
    for (int r = 0; r < GR; r++) {
        int hp = h + GPH - r * GDH;
        if (hp < 0 || hp % GSH) continue;
        int p = hp / GSH;
        if (p >= GP) continue;
        for (int s = 0; s < GS; s++) {
            int wq = w + GPW - s * GDW;
            if (wq < 0 || wq % GSW) continue;
            int q = wq / GSW;
            if (q >= GQ) continue;
            acc += cn[((size_t)r * GS + s) * pqn + (size_t)p * GQ + q];
        }
    }
    HCL_STORE(X_DT, dx, dx_off + (((size_t)n0 + n) * GC + c) * GH * GW + (size_t)h * GW + w, acc);
}

// y[n, k, :, :] += bias[k] (after a GEMM that wrote y)
// y (N,K,P,Q) Y_DT, bias (K) B_DT; global = (P*Q, K, N)
kernel void conv_bias_add(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(B_DT) *bias, ulong b_off,
                          int16 geo) {
    int pq = get_global_id(0), k = get_global_id(1), n = get_global_id(2);
    if (pq >= GP * GQ || k >= GK || n >= GN) return;
    size_t i = y_off + ((size_t)n * GK + k) * GP * GQ + pq;
    HCL_STORE(Y_DT, y, i, HCL_LOAD(Y_DT, y, i) + HCL_LOAD(B_DT, bias, b_off + k));
}

// Direct forward for small patches (C/G*R*S <= HCL_CONV_PATCH_MAX): a work-item loads its input
// patch once and computes HCL_CONV_KB output channels of its group from it (first conv layers).
// y (N,K,P,Q) Y_DT, x (N,C,H,W) X_DT, w (K,C/G,R,S) W_DT, bias (K) B_DT or unused;
// global = (Q, P, N*G*ceil((K/G)/KB))
kernel void conv_patch_fwd(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                           const global HCL_T(W_DT) *wt, ulong w_off, const global HCL_T(B_DT) *bias, ulong b_off,
                           int has_bias, int16 geo) {
    int q = get_global_id(0), p = get_global_id(1), t = get_global_id(2);
    int cpg = GC / GG, kpg = GK / GG;
    int nkb = (kpg + HCL_CONV_KB - 1) / HCL_CONV_KB;
    if (q >= GQ || p >= GP || t >= GN * GG * nkb) return;
    int kb = t % nkb;
    t /= nkb;
    int g = t % GG, n = t / GG;
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    float patch[HCL_CONV_PATCH_MAX];
    int i = 0;
    for (int c = 0; c < cpg; c++) {
        size_t xc = x_off + (((size_t)n * GC + g * cpg + c) * GH) * GW;
        for (int r = 0; r < GR; r++) {
            int h = h0 + r * GDH;
            for (int s = 0; s < GS; s++, i++) {
                int w = w0 + s * GDW;
                patch[i] = (h >= 0 && h < GH && w >= 0 && w < GW) ? HCL_LOAD(X_DT, x, xc + (size_t)h * GW + w) : 0.0f;
            }
        }
    }
    int crs = i;
    int k0 = g * kpg + kb * HCL_CONV_KB, k1 = min(k0 + HCL_CONV_KB, (g + 1) * kpg);
    size_t pqn = (size_t)GP * GQ, yo = y_off + (size_t)p * GQ + q;
    for (int k = k0; k < k1; k++) {
        size_t wk = w_off + (size_t)k * crs;
        float acc = 0.0f;
        for (int j = 0; j < crs; j++) acc = fma(patch[j], HCL_LOAD(W_DT, wt, wk + j), acc);
        if (has_bias) acc += HCL_LOAD(B_DT, bias, b_off + k);
        HCL_STORE(Y_DT, y, yo + ((size_t)n * GK + k) * pqn, acc);
    }
}

// Direct forward, one output per work-item (depthwise convs with large R*S).
// y (N,K,P,Q) Y_DT, x (N,C,H,W) X_DT, w (K,C/G,R,S) W_DT, bias (K) B_DT or unused;
// global = (Q, P, N*K)
kernel void conv_direct_fwd(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                            const global HCL_T(W_DT) *wt, ulong w_off, const global HCL_T(B_DT) *bias, ulong b_off,
                            int has_bias, int16 geo) {
    int q = get_global_id(0), p = get_global_id(1), t = get_global_id(2);
    if (q >= GQ || p >= GP || t >= GN * GK) return;
    int cpg = GC / GG, kpg = GK / GG;
    int n = t / GK, k = t - n * GK;
    int g = k / kpg;
    int h0 = p * GSH - GPH, w0 = q * GSW - GPW;
    size_t wk = w_off + (size_t)k * cpg * GR * GS;
    float acc = 0.0f;
    for (int c = 0; c < cpg; c++) {
        size_t xc = x_off + (((size_t)n * GC + g * cpg + c) * GH) * GW;
        for (int r = 0; r < GR; r++) {
            int h = h0 + r * GDH;
            if (h < 0 || h >= GH) continue;
            for (int s = 0; s < GS; s++) {
                int w = w0 + s * GDW;
                if (w < 0 || w >= GW) continue;
                acc = fma(HCL_LOAD(X_DT, x, xc + (size_t)h * GW + w),
                          HCL_LOAD(W_DT, wt, wk + ((size_t)c * GR + r) * GS + s), acc);
            }
        }
    }
    if (has_bias) acc += HCL_LOAD(B_DT, bias, b_off + k);
    HCL_STORE(Y_DT, y, y_off + ((size_t)t * GP + p) * GQ + q, acc);
}

// Direct backward data (gather): dx[n,c,h,w] = sum over k of c's group, r, s (that order) of
// dy[n,k,p,q] w[k,c',r,s] where h = p*sh - ph + r*dh and w = q*sw - pw + s*dw.
// dx (N,C,H,W) X_DT, dy (N,K,P,Q) Y_DT, w (K,C/G,R,S) W_DT; global = (W, H, N*C)
kernel void conv_direct_bwd_data(global HCL_T(X_DT) *dx, ulong dx_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                 const global HCL_T(W_DT) *wt, ulong w_off, int16 geo) {
    int w = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
    if (w >= GW || h >= GH || t >= GN * GC) return;
    int cpg = GC / GG, kpg = GK / GG;
    int n = t / GC, c = t - n * GC;
    int g = c / cpg, cl = c - g * cpg;
    size_t pqn = (size_t)GP * GQ;
    float acc = 0.0f;
    for (int k = g * kpg; k < (g + 1) * kpg; k++) {
        size_t dyk = dy_off + ((size_t)n * GK + k) * pqn;
        size_t wk = w_off + ((size_t)k * cpg + cl) * GR * GS;
        for (int r = 0; r < GR; r++) {
            int hp = h + GPH - r * GDH;
            if (hp < 0 || hp % GSH) continue;
            int p = hp / GSH;
            if (p >= GP) continue;
            for (int s = 0; s < GS; s++) {
                int wq = w + GPW - s * GDW;
                if (wq < 0 || wq % GSW) continue;
                int q = wq / GSW;
                if (q >= GQ) continue;
                acc = fma(HCL_LOAD(Y_DT, dy, dyk + (size_t)p * GQ + q), HCL_LOAD(W_DT, wt, wk + (size_t)r * GS + s), acc);
            }
        }
    }
    HCL_STORE(X_DT, dx, dx_off + ((size_t)t * GH + h) * GW + w, acc);
}

// Stage 1 of the direct dw: part[j*E + e] = sum over rows (n,p) of chunk j (rows j*rpc ..,
// of N*P) and q of dy[n,k,p,q] x[n,c,h,w] for weight element e = ((k*C/G + c')*R + r)*S + s.
// part (J, E) F32, dy (N,K,P,Q) Y_DT, x (N,C,H,W) X_DT; E = K*C/G*R*S; global = (E, J)
kernel void conv_direct_bwd_weight_part(global float *part, ulong part_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                        const global HCL_T(X_DT) *x, ulong x_off, int16 geo, int nchunks, int rpc) {
    int e = get_global_id(0), j = get_global_id(1);
    int cpg = GC / GG, kpg = GK / GG;
    int e_count = GK * cpg * GR * GS;
    if (e >= e_count || j >= nchunks) return;
    int s = e % GS, r = (e / GS) % GR;
    int kc = e / (GR * GS);
    int cl = kc % cpg, k = kc / cpg;
    int c = (k / kpg) * cpg + cl;
    size_t pqn = (size_t)GP * GQ;
    int rows = GN * GP;
    int row0 = j * rpc, row1 = min(row0 + rpc, rows);
    // q range where w = q*sw - pw + s*dw lies in [0, W)
    int woff = s * GDW - GPW;
    int q0 = woff >= 0 ? 0 : (-woff + GSW - 1) / GSW;
    int q1 = GW - 1 - woff < 0 ? 0 : min(GQ, (GW - 1 - woff) / GSW + 1);
    int n = row0 / GP, p = row0 - n * GP;
    float acc = 0.0f;
    for (int row = row0; row < row1; row++) {
        int h = p * GSH - GPH + r * GDH;
        if (h >= 0 && h < GH) {
            size_t dyr = dy_off + ((size_t)n * GK + k) * pqn + (size_t)p * GQ;
            size_t xr = x_off + (((size_t)n * GC + c) * GH + h) * GW + woff;
            for (int q = q0; q < q1; q++)
                acc = fma(HCL_LOAD(Y_DT, dy, dyr + q), HCL_LOAD(X_DT, x, xr + (size_t)q * GSW), acc);
        }
        if (++p == GP) { p = 0; n++; }
    }
    part[part_off + (size_t)j * e_count + e] = acc;
}

// Stage 1 of dbias: part[j*K + k] = sum over rows (n,p) of chunk j and q of dy[n,k,p,q].
// part (J, K) F32, dy (N,K,P,Q) Y_DT; global = (K, J)
kernel void conv_bias_grad_part(global float *part, ulong part_off, const global HCL_T(Y_DT) *dy, ulong dy_off,
                                int16 geo, int nchunks, int rpc) {
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
                         int16 geo, int n0, int nc) {
    int pq = get_global_id(0), k = get_global_id(1), n = get_global_id(2);
    if (pq >= GP * GQ || k >= GK || n >= nc) return;
    size_t pqn = (size_t)GP * GQ;
    dyp[dyp_off + ((size_t)k * nc + n) * pqn + pq] = dy[dy_off + (((size_t)n0 + n) * GK + k) * pqn + pq];
}
