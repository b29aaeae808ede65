// Normalisation: BatchNorm2d (training with batch statistics, inference with running statistics,
// backward) and LayerNorm over the last dim (forward, backward). Statistics are FP32 and
// numerically stable: each work-item runs Welford over its strided share, then the work-group
// merges (count, mean, M2) with Chan's formula in a fixed tree, so the result is the same bits
// every run. One work-group per channel (BN) or per row (LN); the work-group size is a power of
// two chosen by the launcher and the local arrays come in as kernel arguments.
// Built with -DX_DT= -DY_DT= -DG_DT= (gamma) -DB_DT= (beta) -DDY_DT= -DDG_DT= (dgamma) -DDB_DT= (dbeta).
#include "common.h"

#ifndef X_DT
#define X_DT f32
#endif
#ifndef Y_DT
#define Y_DT f32
#endif
#ifndef G_DT
#define G_DT f32
#endif
#ifndef B_DT
#define B_DT f32
#endif
#ifndef DY_DT
#define DY_DT f32
#endif
#ifndef DG_DT
#define DG_DT f32
#endif
#ifndef DB_DT
#define DB_DT f32
#endif

// One Welford step: the running (n, mean, m2) takes value v.
inline void welford_add(float v, float *n, float *mean, float *m2) {
    *n += 1.0f;
    float d = v - *mean;
    *mean += d / *n;
    *m2 = fma(d, v - *mean, *m2);
}

// Merges the partial statistics of all work-items into slot 0 (power-of-two local size, fixed
// tree). Ends with a barrier: every work-item may then read slot 0.
inline void welford_reduce(local float *ln, local float *lmean, local float *lm2, float n, float mean, float m2) {
    size_t lid = get_local_id(0);
    ln[lid] = n;
    lmean[lid] = mean;
    lm2[lid] = m2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) {
            float na = ln[lid], nb = ln[lid + s];
            if (nb > 0.0f) {
                float nt = na + nb, d = lmean[lid + s] - lmean[lid], fb = nb / nt;
                lmean[lid] = fma(d, fb, lmean[lid]);
                lm2[lid] = lm2[lid] + lm2[lid + s] + d * d * na * fb;
                ln[lid] = nt;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// Sums a and b of all work-items into slot 0 of la, lb (fixed tree); ends with a barrier.
inline void sum2_reduce(local float *la, local float *lb, float a, float b) {
    size_t lid = get_local_id(0);
    la[lid] = a;
    lb[lid] = b;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) {
            la[lid] += la[lid + s];
            lb[lid] += lb[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// Element j of channel c in (N, C, HW) order is at ((n * C + c) * HW + s) with j = n * HW + s.
// A work-item walks j = lid, lid + L, ... keeping (n, s) without a division per step.
#define BN_WALK_BEGIN(N, C, HW, c)                                                  \
    {                                                                               \
        size_t L_ = get_local_size(0), lid_ = get_local_id(0);                      \
        ulong step_n_ = L_ / (HW), step_s_ = L_ - step_n_ * (HW);                   \
        ulong n_ = lid_ / (HW), s_ = lid_ - n_ * (HW); /* no '%': oclgrind lacks freeze */ \
        for (; n_ < (N); n_ += step_n_, s_ += step_s_) {                            \
            if (s_ >= (HW)) { s_ -= (HW); n_++; if (n_ >= (N)) break; }             \
            ulong idx = (n_ * (C) + (c)) * (HW) + s_;
#define BN_WALK_END \
        }           \
    }

// y (N,C,H,W) Y_DT = (x - mean_c) * invstd_c * gamma_c + beta_c; x (N,C,H,W) X_DT;
// save_mean, save_invstd (C) f32 written; running_mean, running_var (C) f32 updated when has_*;
// gamma (C) G_DT, beta (C) B_DT or absent (1, 0). One work-group per channel: global = C * L.
kernel void bn_forward_train(global HCL_T(Y_DT) *y, ulong y_off, global float *save_mean, ulong sm_off,
                             global float *save_invstd, ulong si_off, global float *running_mean, ulong rm_off,
                             int has_rm, global float *running_var, ulong rv_off, int has_rv,
                             const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(G_DT) *gamma, ulong g_off,
                             int has_gamma, const global HCL_T(B_DT) *beta, ulong b_off, int has_beta, ulong N,
                             ulong C, ulong HW, float momentum, float eps, local float *ln, local float *lmean,
                             local float *lm2) {
    size_t c = get_group_id(0);
    float n = 0.0f, mean = 0.0f, m2 = 0.0f;
    BN_WALK_BEGIN(N, C, HW, c)
        welford_add(HCL_LOAD(X_DT, x, x_off + idx), &n, &mean, &m2);
    BN_WALK_END
    welford_reduce(ln, lmean, lm2, n, mean, m2);
    float count = ln[0];
    mean = lmean[0];
    float var = lm2[0] / count; // biased: used to normalise
    float invstd = 1.0f / sqrt(var + eps);
    if (get_local_id(0) == 0) {
        save_mean[sm_off + c] = mean;
        save_invstd[si_off + c] = invstd;
        if (has_rm) running_mean[rm_off + c] = fma(momentum, mean - running_mean[rm_off + c], running_mean[rm_off + c]);
        if (has_rv) { // unbiased (count > 1 is checked by the launcher)
            float uvar = lm2[0] / (count - 1.0f);
            running_var[rv_off + c] = fma(momentum, uvar - running_var[rv_off + c], running_var[rv_off + c]);
        }
    }
    float a = invstd * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + c) : 1.0f);
    float b = has_beta ? HCL_LOAD(B_DT, beta, b_off + c) : 0.0f;
    BN_WALK_BEGIN(N, C, HW, c)
        HCL_STORE(Y_DT, y, y_off + idx, fma(HCL_LOAD(X_DT, x, x_off + idx) - mean, a, b));
    BN_WALK_END
}

// y (N,C,H,W) Y_DT = (x - running_mean_c) / sqrt(running_var_c + eps) * gamma_c + beta_c;
// x (N,C,H,W) X_DT; running_mean, running_var (C) f32; gamma, beta (C) or absent. 1-D over N*C*HW.
kernel void bn_forward_inference(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                                 const global float *running_mean, ulong rm_off, const global float *running_var,
                                 ulong rv_off, const global HCL_T(G_DT) *gamma, ulong g_off, int has_gamma,
                                 const global HCL_T(B_DT) *beta, ulong b_off, int has_beta, ulong total, ulong C,
                                 ulong HW, float eps) {
    size_t i = get_global_id(0);
    if (i >= total) return;
    size_t c = (i / HW) % C;
    float invstd = 1.0f / sqrt(running_var[rv_off + c] + eps);
    float a = invstd * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + c) : 1.0f);
    float b = has_beta ? HCL_LOAD(B_DT, beta, b_off + c) : 0.0f;
    HCL_STORE(Y_DT, y, y_off + i, fma(HCL_LOAD(X_DT, x, x_off + i) - running_mean[rm_off + c], a, b));
}

// dx (N,C,H,W) Y_DT = gamma_c invstd_c (dy - mean(dy) - xhat mean(dy xhat)), xhat = (x - mean) invstd;
// dgamma (C) DG_DT += sum(dy xhat), dbeta (C) DB_DT += sum(dy) when has_*; dy DY_DT, x X_DT;
// save_mean, save_invstd (C) f32. One work-group per channel: global = C * L.
kernel void bn_backward(global HCL_T(Y_DT) *dx, ulong dx_off, global HCL_T(DG_DT) *dgamma, ulong dg_off, int has_dg,
                        global HCL_T(DB_DT) *dbeta, ulong db_off, int has_db, const global HCL_T(DY_DT) *dy,
                        ulong dy_off, const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(G_DT) *gamma,
                        ulong g_off, int has_gamma, const global float *save_mean, ulong sm_off,
                        const global float *save_invstd, ulong si_off, ulong N, ulong C, ulong HW, local float *la,
                        local float *lb) {
    size_t c = get_group_id(0);
    float mean = save_mean[sm_off + c], invstd = save_invstd[si_off + c];
    float sdy = 0.0f, sdyx = 0.0f;
    BN_WALK_BEGIN(N, C, HW, c)
        float g = HCL_LOAD(DY_DT, dy, dy_off + idx);
        sdy += g;
        sdyx = fma(g, (HCL_LOAD(X_DT, x, x_off + idx) - mean) * invstd, sdyx);
    BN_WALK_END
    sum2_reduce(la, lb, sdy, sdyx);
    sdy = la[0];
    sdyx = lb[0];
    if (get_local_id(0) == 0) {
        if (has_dg) HCL_STORE(DG_DT, dgamma, dg_off + c, HCL_LOAD(DG_DT, dgamma, dg_off + c) + sdyx);
        if (has_db) HCL_STORE(DB_DT, dbeta, db_off + c, HCL_LOAD(DB_DT, dbeta, db_off + c) + sdy);
    }
    float M = (float)(N * HW);
    float mdy = sdy / M, mdyx = sdyx / M;
    float k = invstd * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + c) : 1.0f);
    BN_WALK_BEGIN(N, C, HW, c)
        float xhat = (HCL_LOAD(X_DT, x, x_off + idx) - mean) * invstd;
        float g = HCL_LOAD(DY_DT, dy, dy_off + idx);
        HCL_STORE(Y_DT, dx, dx_off + idx, k * (g - mdy - xhat * mdyx));
    BN_WALK_END
}

// y (R,D) Y_DT = (x - mean_r) * invstd_r * gamma + beta; x (R,D) X_DT; save_mean, save_invstd (R)
// f32 written; gamma (D) G_DT, beta (D) B_DT or absent. One work-group per row: global = R * L.
kernel void ln_forward(global HCL_T(Y_DT) *y, ulong y_off, global float *save_mean, ulong sm_off,
                       global float *save_invstd, ulong si_off, const global HCL_T(X_DT) *x, ulong x_off,
                       const global HCL_T(G_DT) *gamma, ulong g_off, int has_gamma, const global HCL_T(B_DT) *beta,
                       ulong b_off, int has_beta, ulong D, float eps, local float *ln, local float *lmean,
                       local float *lm2) {
    size_t r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    ulong base = r * D;
    float n = 0.0f, mean = 0.0f, m2 = 0.0f;
    for (size_t d = lid; d < D; d += L) welford_add(HCL_LOAD(X_DT, x, x_off + base + d), &n, &mean, &m2);
    welford_reduce(ln, lmean, lm2, n, mean, m2);
    mean = lmean[0];
    float invstd = 1.0f / sqrt(lm2[0] / ln[0] + eps);
    if (lid == 0) {
        save_mean[sm_off + r] = mean;
        save_invstd[si_off + r] = invstd;
    }
    for (size_t d = lid; d < D; d += L) {
        float g = has_gamma ? HCL_LOAD(G_DT, gamma, g_off + d) : 1.0f;
        float b = has_beta ? HCL_LOAD(B_DT, beta, b_off + d) : 0.0f;
        HCL_STORE(Y_DT, y, y_off + base + d, fma((HCL_LOAD(X_DT, x, x_off + base + d) - mean) * invstd, g, b));
    }
}

// Sum of the 8 lanes.
inline float hsum8(float8 v) {
    float4 a = v.lo + v.hi;
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

// ln_forward with one work-item per row, for CPUs: no barriers, 8-wide loads, two passes for the
// statistics (sum, then squared deviations) and one for y. The row stays in the L1 cache.
kernel void ln_forward_rows(global HCL_T(Y_DT) *y, ulong y_off, global float *save_mean, ulong sm_off,
                            global float *save_invstd, ulong si_off, const global HCL_T(X_DT) *x, ulong x_off,
                            const global HCL_T(G_DT) *gamma, ulong g_off, int has_gamma, const global HCL_T(B_DT) *beta,
                            ulong b_off, int has_beta, ulong D, float eps, ulong R) {
    size_t r = get_global_id(0);
    if (r >= R) return;
    ulong xb = x_off + r * D, yb = y_off + r * D, D8 = D & ~(ulong)7, d;
    float8 acc = 0.0f;
    float s = 0.0f;
    for (d = 0; d < D8; d += 8) acc += HCL_LOAD8(X_DT, x, xb + d);
    for (; d < D; d++) s += HCL_LOAD(X_DT, x, xb + d);
    float mean = (hsum8(acc) + s) / (float)D;
    acc = 0.0f;
    s = 0.0f;
    for (d = 0; d < D8; d += 8) {
        float8 t = HCL_LOAD8(X_DT, x, xb + d) - mean;
        acc = fma(t, t, acc);
    }
    for (; d < D; d++) {
        float t = HCL_LOAD(X_DT, x, xb + d) - mean;
        s = fma(t, t, s);
    }
    float invstd = 1.0f / sqrt((hsum8(acc) + s) / (float)D + eps);
    save_mean[sm_off + r] = mean;
    save_invstd[si_off + r] = invstd;
    for (d = 0; d < D8; d += 8) {
        float8 g = has_gamma ? HCL_LOAD8(G_DT, gamma, g_off + d) : (float8)1.0f;
        float8 b = has_beta ? HCL_LOAD8(B_DT, beta, b_off + d) : (float8)0.0f;
        HCL_STORE8(Y_DT, y, yb + d, fma((HCL_LOAD8(X_DT, x, xb + d) - mean) * invstd, g, b));
    }
    for (; d < D; d++) {
        float g = has_gamma ? HCL_LOAD(G_DT, gamma, g_off + d) : 1.0f;
        float b = has_beta ? HCL_LOAD(B_DT, beta, b_off + d) : 0.0f;
        HCL_STORE(Y_DT, y, yb + d, fma((HCL_LOAD(X_DT, x, xb + d) - mean) * invstd, g, b));
    }
}

// ln_backward_dx with one work-item per row and 8-wide loads (CPUs).
kernel void ln_backward_dx_rows(global HCL_T(Y_DT) *dx, ulong dx_off, const global HCL_T(DY_DT) *dy, ulong dy_off,
                                const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(G_DT) *gamma, ulong g_off,
                                int has_gamma, const global float *save_mean, ulong sm_off, const global float *save_invstd,
                                ulong si_off, ulong D, ulong R) {
    size_t r = get_global_id(0);
    if (r >= R) return;
    ulong xb = x_off + r * D, yb = dy_off + r * D, ob = dx_off + r * D, D8 = D & ~(ulong)7, d;
    float mean = save_mean[sm_off + r], invstd = save_invstd[si_off + r];
    float8 a1 = 0.0f, a2 = 0.0f;
    float s1 = 0.0f, s2 = 0.0f;
    for (d = 0; d < D8; d += 8) {
        float8 gd = HCL_LOAD8(DY_DT, dy, yb + d) * (has_gamma ? HCL_LOAD8(G_DT, gamma, g_off + d) : (float8)1.0f);
        a1 += gd;
        a2 = fma(gd, (HCL_LOAD8(X_DT, x, xb + d) - mean) * invstd, a2);
    }
    for (; d < D; d++) {
        float gd = HCL_LOAD(DY_DT, dy, yb + d) * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + d) : 1.0f);
        s1 += gd;
        s2 = fma(gd, (HCL_LOAD(X_DT, x, xb + d) - mean) * invstd, s2);
    }
    float m1 = (hsum8(a1) + s1) / (float)D, m2 = (hsum8(a2) + s2) / (float)D;
    for (d = 0; d < D8; d += 8) {
        float8 gd = HCL_LOAD8(DY_DT, dy, yb + d) * (has_gamma ? HCL_LOAD8(G_DT, gamma, g_off + d) : (float8)1.0f);
        float8 xhat = (HCL_LOAD8(X_DT, x, xb + d) - mean) * invstd;
        HCL_STORE8(Y_DT, dx, ob + d, invstd * (gd - m1 - xhat * m2));
    }
    for (; d < D; d++) {
        float gd = HCL_LOAD(DY_DT, dy, yb + d) * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + d) : 1.0f);
        float xhat = (HCL_LOAD(X_DT, x, xb + d) - mean) * invstd;
        HCL_STORE(Y_DT, dx, ob + d, invstd * (gd - m1 - xhat * m2));
    }
}

// dx (R,D) Y_DT = invstd_r (gamma dy - mean(gamma dy) - xhat mean(gamma dy xhat)); dy (R,D) DY_DT,
// x (R,D) X_DT, gamma (D) G_DT or absent, save_mean/save_invstd (R) f32. Work-group per row.
kernel void ln_backward_dx(global HCL_T(Y_DT) *dx, ulong dx_off, const global HCL_T(DY_DT) *dy, ulong dy_off,
                           const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(G_DT) *gamma, ulong g_off,
                           int has_gamma, const global float *save_mean, ulong sm_off, const global float *save_invstd,
                           ulong si_off, ulong D, local float *la, local float *lb) {
    size_t r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    ulong base = r * D;
    float mean = save_mean[sm_off + r], invstd = save_invstd[si_off + r];
    float s1 = 0.0f, s2 = 0.0f;
    for (size_t d = lid; d < D; d += L) {
        float gd = HCL_LOAD(DY_DT, dy, dy_off + base + d) * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + d) : 1.0f);
        s1 += gd;
        s2 = fma(gd, (HCL_LOAD(X_DT, x, x_off + base + d) - mean) * invstd, s2);
    }
    sum2_reduce(la, lb, s1, s2);
    float m1 = la[0] / (float)D, m2 = lb[0] / (float)D;
    for (size_t d = lid; d < D; d += L) {
        float gd = HCL_LOAD(DY_DT, dy, dy_off + base + d) * (has_gamma ? HCL_LOAD(G_DT, gamma, g_off + d) : 1.0f);
        float xhat = (HCL_LOAD(X_DT, x, x_off + base + d) - mean) * invstd;
        HCL_STORE(Y_DT, dx, dx_off + base + d, invstd * (gd - m1 - xhat * m2));
    }
}

// part (nblk, 2, D) f32: column sums over the rows [blk * rows_per_blk, ...) of dy xhat (slot 0)
// and dy (slot 1); dy (R,D) DY_DT, x (R,D) X_DT. global = (D, nblk); rows in increasing order.
kernel void ln_backward_params_partial(global float *part, ulong part_off, const global HCL_T(DY_DT) *dy, ulong dy_off,
                                       const global HCL_T(X_DT) *x, ulong x_off, const global float *save_mean,
                                       ulong sm_off, const global float *save_invstd, ulong si_off, ulong R, ulong D,
                                       ulong rows_per_blk) {
    size_t d = get_global_id(0), blk = get_global_id(1);
    if (d >= D) return;
    ulong r0 = blk * rows_per_blk, r1 = min(R, r0 + rows_per_blk);
    float sg = 0.0f, sb = 0.0f;
    for (ulong r = r0; r < r1; r++) {
        float g = HCL_LOAD(DY_DT, dy, dy_off + r * D + d);
        float xhat = (HCL_LOAD(X_DT, x, x_off + r * D + d) - save_mean[sm_off + r]) * save_invstd[si_off + r];
        sg = fma(g, xhat, sg);
        sb += g;
    }
    part[part_off + (blk * 2) * D + d] = sg;
    part[part_off + (blk * 2 + 1) * D + d] = sb;
}

// dgamma (D) DG_DT += sum over blocks of part slot 0, dbeta (D) DB_DT += slot 1 (blocks in order).
kernel void ln_backward_params_final(global HCL_T(DG_DT) *dgamma, ulong dg_off, int has_dg, global HCL_T(DB_DT) *dbeta,
                                     ulong db_off, int has_db, const global float *part, ulong part_off, ulong nblk,
                                     ulong D) {
    size_t d = get_global_id(0);
    if (d >= D) return;
    float sg = 0.0f, sb = 0.0f;
    for (ulong b = 0; b < nblk; b++) {
        sg += part[part_off + (b * 2) * D + d];
        sb += part[part_off + (b * 2 + 1) * D + d];
    }
    if (has_dg) HCL_STORE(DG_DT, dgamma, dg_off + d, HCL_LOAD(DG_DT, dgamma, dg_off + d) + sg);
    if (has_db) HCL_STORE(DB_DT, dbeta, db_off + d, HCL_LOAD(DB_DT, dbeta, db_off + d) + sb);
}
