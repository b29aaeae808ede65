// Scaled dot-product attention, forward and backward, tile by tile with an online (running max)
// softmax in F32: memory linear in T (no Tq x Tk buffer), no atomics (deterministic). Host
// recipe and the variant choice: src/ops/attention.c.
//
// Layout: q, out, dout, dq (B,Tq,H,D); k, v, dk, dv (B,Tk,H,D); lse, delta (B,H,Tq) F32; key
// lengths (B) I32. Row (b, t, h) of a (B,T,H,D) tensor starts at ((b*T + t)*H + h)*D.
// Visibility of key j from query i: j < kmax = clamp(kl[b], 0, Tk) (key padding; Tk without kl)
// and, when causal, j <= i + (Tk - Tq) (bottom-right aligned). A query with no visible key gives
// out = 0, lse = -inf; keys past kmax are never read (the tiles hold zeros there), so padded
// keys cannot influence anything, and their dk, dv are exactly 0.
//
// Built with -DATT_D=<head dim> (compile-time: every d loop has a constant trip count),
// -DATT_VW=<1|8|16> (query rows, or keys in attn_bwd_dkdv, per work-item, one per vector lane),
// -DATT_LQ=<work-group size>, -DATT_BK=<keys per tile> (attn_fwd, attn_bwd_dq), -DATT_BQ=<queries
// per tile> (attn_bwd_dkdv), and the dtypes -DQ_DT= -DK_DT= -DV_DT= -DO_DT= (forward) or also
// -DDO_DT= -DDQ_DT= -DDK_DT= -DDV_DT= (backward): f32/f16/bf16.
//   CPUs: ATT_VW 16 (or 8), ATT_LQ 1: a work-item keeps its rows' state as float16 vectors (lanes =
//   rows) and broadcasts each key element to all of them: explicit vectors, no reliance on the
//   driver's work-item vectoriser, one F32 staging of each tile per work-item.
//   GPUs: ATT_VW 1, ATT_LQ 64: one row per work-item, the work-group stages each K/V (or Q/dO)
//   tile once in local memory as F32.
// Every score and sum is F32 with fma in a fixed order; exp is common.h's hcl_exp (never
// -cl-fast-relaxed-math).
#include "common.h"

#ifndef Q_DT
#define Q_DT f32
#endif
#ifndef K_DT
#define K_DT f32
#endif
#ifndef V_DT
#define V_DT f32
#endif
#ifndef O_DT
#define O_DT f32
#endif
#ifndef DO_DT
#define DO_DT f32
#endif
#ifndef DQ_DT
#define DQ_DT f32
#endif
#ifndef DK_DT
#define DK_DT f32
#endif
#ifndef DV_DT
#define DV_DT f32
#endif
#ifndef ATT_D
#define ATT_D 64
#endif
#ifndef ATT_VW
#define ATT_VW 1
#endif
#ifndef ATT_LQ
#define ATT_LQ 64
#endif
#ifndef ATT_BK
#define ATT_BK 16
#endif
#ifndef ATT_BQ
#define ATT_BQ 8
#endif
#ifndef ATT_BWD
#define ATT_BWD 0  // 0: attn_fwd; 1: the backward kernels (a program holds one pass)
#endif

// VT: ATT_VW floats (a float for 1), VI: the matching comparison / mask type, LANES: the lane
// index, VEXP: exp per lane, VLOADP / VSTOREP: from / to a private float array.
#if ATT_VW == 1
#define VT float
#define VI int
#define LANES 0
#define VEXP(x) hcl_exp(x)
#define VLOADP(p) (*(p))
#define VSTOREP(v, p) (*(p) = (v))
#elif ATT_VW == 8
#define VT float8
#define VI int8
#define LANES ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define VEXP(x) hcl_exp8(x)
#define VLOADP(p) vload8(0, (p))
#define VSTOREP(v, p) vstore8((v), 0, (p))
#elif ATT_VW == 16
#define VT float16
#define VI int16
#define LANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define VEXP(x) hcl_exp16(x)
#define VLOADP(p) vload16(0, (p))
#define VSTOREP(v, p) vstore16((v), 0, (p))
#else
#error "ATT_VW must be 1, 8 or 16"
#endif

#define ATT_D16 (ATT_D / 16)            // full 16-element chunks of a row
#define ATT_DTAIL (ATT_D % 16)          // elements after them
#define ATT_NCH (ATT_D16 + (ATT_DTAIL ? 1 : 0))
#define ATT_ROWS (ATT_LQ * ATT_VW)      // query rows (attn_fwd, attn_bwd_dq) or keys (dkdv) per group

// Larger of two values per lane, ignoring a NaN in b (a compare and select: fmax is a library
// call on some CPU drivers).
#define VMAX(a, b) select((a), (b), (b) > (a))

// Rows r0 .. r0+nrows-1 of a (.,T,H,D) tensor, as F32 into the local tile dst[nrows][ATT_D]; rows
// at or past `valid` (< T) become zeros and are not read. Shared by the work-group: chunk c of the
// tile is staged by work-item c % ATT_LQ (16-element vector loads, scalar tail).
#define ATT_STAGE(DT, dst, src, base, rstride, r0, nrows, valid)                                    \
    for (int c_ = (int)get_local_id(0); c_ < (nrows) * ATT_NCH; c_ += ATT_LQ) {                     \
        int rr_ = c_ / ATT_NCH, ch_ = c_ - rr_ * ATT_NCH, row_ = (r0) + rr_;                       \
        local float *d_ = (dst) + rr_ * ATT_D + ch_ * 16;                                          \
        size_t s_ = (base) + (size_t)(row_ < (valid) ? row_ : 0) * (rstride) + (size_t)ch_ * 16;   \
        if (ch_ < ATT_D16) {                                                                       \
            float16 x_ = row_ < (valid) ? HCL_LOAD16(DT, src, s_) : (float16)(0.0f);               \
            vstore16(x_, 0, d_);                                                                   \
        } else {                                                                                   \
            for (int e_ = 0; e_ < ATT_DTAIL; e_++)                                                 \
                d_[e_] = row_ < (valid) ? HCL_LOAD(DT, src, s_ + e_) : 0.0f;                       \
        }                                                                                          \
    }

// This work-item's ATT_VW rows r0 + lane of a (.,T,H,D) tensor, transposed: dst[d] = lane vector
// of element d (0 for rows at or past `valid`).
#define ATT_LOAD_T(DT, dst, src, base, rstride, r0, valid)                                         \
    _Pragma("unroll 1") for (int d_ = 0; d_ < ATT_D; d_++) {                                                           \
        float t_[ATT_VW];                                                                          \
        for (int r_ = 0; r_ < ATT_VW; r_++) {                                                      \
            int row_ = (r0) + r_;                                                                  \
            t_[r_] = row_ < (valid) ? HCL_LOAD(DT, src, (base) + (size_t)row_ * (rstride) + d_) : 0.0f; \
        }                                                                                          \
        dst[d_] = VLOADP(t_);                                                                      \
    }

// Stores dst row r0 + lane = mul * src[d] (lane) for rows below `valid`; (.,T,H,D) layout.
#define ATT_STORE_T(DT, dst, base, rstride, r0, valid, src, mul)                                   \
    _Pragma("unroll 1") for (int d_ = 0; d_ < ATT_D; d_++) {                                                           \
        float t_[ATT_VW];                                                                          \
        VSTOREP((src)[d_] * (mul), t_);                                                            \
        for (int r_ = 0; r_ < ATT_VW; r_++) {                                                      \
            int row_ = (r0) + r_;                                                                  \
            if (row_ < (valid)) HCL_STORE(DT, dst, (base) + (size_t)row_ * (rstride) + d_, t_[r_]); \
        }                                                                                          \
    }

// A lane vector of F32 values p[r0 + lane] (0 past `valid`), and its store.
#define ATT_LOAD_VEC(dst, p, base, r0, valid)                                                      \
    {                                                                                              \
        float t_[ATT_VW];                                                                          \
        for (int r_ = 0; r_ < ATT_VW; r_++) t_[r_] = (r0) + r_ < (valid) ? (p)[(base) + (r0) + r_] : 0.0f; \
        dst = VLOADP(t_);                                                                          \
    }
#define ATT_STORE_VEC(p, base, r0, valid, v)                                                       \
    {                                                                                              \
        float t_[ATT_VW];                                                                          \
        VSTOREP((v), t_);                                                                          \
        for (int r_ = 0; r_ < ATT_VW; r_++)                                                        \
            if ((r0) + r_ < (valid)) (p)[(base) + (r0) + r_] = t_[r_];                             \
    }

// clamp(kl[b], 0, Tk), or Tk without key lengths
inline int att_kmax(const global int *kl, ulong kl_off, int has_kl, int b, int Tk) {
    return has_kl ? clamp(kl[kl_off + b], 0, Tk) : Tk;
}

#if !ATT_BWD
// out (B,Tq,H,D) O_DT, lse (B,H,Tq) F32 = attention of q (B,Tq,H,D) Q_DT over k, v (B,Tk,H,D)
// K_DT / V_DT; kl (B) I32 read when has_kl. Work-item: rows i0 .. i0+VW-1 of one (b, h); the
// work-group streams K/V tiles of ATT_BK keys through local memory up to its last visible key,
// with a running max m, sum l and output acc per row (acc rescaled by exp(m_old - m_new)).
// global = (ceil(Tq / ATT_ROWS) * ATT_LQ, B*H), local = (ATT_LQ, 1)
kernel __attribute__((reqd_work_group_size(ATT_LQ, 1, 1)))
void attn_fwd(global HCL_T(O_DT) *out, ulong out_off, global float *lse, ulong lse_off,
              const global HCL_T(Q_DT) *q, ulong q_off, const global HCL_T(K_DT) *k, ulong k_off,
              const global HCL_T(V_DT) *v, ulong v_off, const global int *kl, ulong kl_off, int has_kl,
              int Tq, int Tk, int H, int causal, float scale) {
    local float ks[ATT_BK * ATT_D], vs[ATT_BK * ATT_D];
    const int bh = get_group_id(1), b = bh / H, h = bh - b * H;
    const int g0 = get_group_id(0) * ATT_ROWS, i0 = g0 + (int)get_local_id(0) * ATT_VW;
    const int kmax = att_kmax(kl, kl_off, has_kl, b, Tk), off = Tk - Tq;
    const size_t rs = (size_t)H * ATT_D;  // row stride
    const size_t qb = q_off + ((size_t)b * Tq * H + h) * ATT_D, kb = k_off + ((size_t)b * Tk * H + h) * ATT_D;
    const size_t vb = v_off + ((size_t)b * Tk * H + h) * ATT_D, ob = out_off + ((size_t)b * Tq * H + h) * ATT_D;
    // keys visible to each lane's row: j < jend (0 for rows past Tq); the group's loop end
    VI iv = i0 + LANES;
    VI jend = (VI)kmax;
    if (causal) jend = min(jend, iv + (1 + off));
    jend = select(jend, (VI)0, iv >= Tq);
    int gend = kmax;
    if (causal) gend = min(kmax, min(g0 + ATT_ROWS, Tq) + off);

    VT qt[ATT_D], acc[ATT_D];
    ATT_LOAD_T(Q_DT, qt, q, qb, rs, i0, Tq)
    for (int d = 0; d < ATT_D; d++) acc[d] = (VT)0.0f;
    VT m = (VT)(-INFINITY), l = (VT)0.0f;
    for (int j0 = 0; j0 < gend; j0 += ATT_BK) {
        ATT_STAGE(K_DT, ks, k, kb, rs, j0, ATT_BK, kmax)
        ATT_STAGE(V_DT, vs, v, vb, rs, j0, ATT_BK, kmax)
        barrier(CLK_LOCAL_MEM_FENCE);
        VT s[ATT_BK];
#pragma unroll
        for (int jj = 0; jj < ATT_BK; jj++) s[jj] = (VT)0.0f;
        for (int d = 0; d < ATT_D; d++) {
            const VT qd = qt[d];
#pragma unroll
            for (int jj = 0; jj < ATT_BK; jj++) s[jj] = fma(qd, (VT)ks[jj * ATT_D + d], s[jj]);
        }
        VT bm = m;
#pragma unroll
        for (int jj = 0; jj < ATT_BK; jj++) {
            s[jj] = select(s[jj] * scale, (VT)(-INFINITY), (VI)(j0 + jj) >= jend);
            bm = VMAX(bm, s[jj]);
        }
        // exp relative to the new max; 0 while a row has seen no visible key (bm = -inf)
        const VT mb = select(bm, (VT)0.0f, bm == (VT)(-INFINITY));
        const VT alpha = VEXP(m - mb);
        l *= alpha;
#pragma unroll
        for (int jj = 0; jj < ATT_BK; jj++) {
            s[jj] = VEXP(s[jj] - mb);
            l += s[jj];
        }
        m = bm;
        for (int d = 0; d < ATT_D; d++) {
            VT a = acc[d] * alpha;
#pragma unroll
            for (int jj = 0; jj < ATT_BK; jj++) a = fma(s[jj], (VT)vs[jj * ATT_D + d], a);
            acc[d] = a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    // l == 0: no visible key (out 0, lse -inf); a NaN l stays NaN in both
    const VI none = l == (VT)0.0f;
    const VT inv = select(1.0f / l, (VT)0.0f, none);
    const VT lv = select(m + log(l), (VT)(-INFINITY), none);
    ATT_STORE_T(O_DT, out, ob, rs, i0, Tq, acc, inv)
    ATT_STORE_VEC(lse, lse_off + (size_t)bh * Tq, i0, Tq, lv)
}

#else  // ATT_BWD
// delta (B,H,Tq) F32 = rowsum(dout * out) over D, dout and out (B,Tq,H,D) DO_DT / O_DT.
// global = (Tq, B*H)
kernel void attn_bwd_delta(global float *delta, ulong delta_off, const global HCL_T(DO_DT) *dout, ulong do_off,
                           const global HCL_T(O_DT) *out, ulong out_off, int Tq, int H) {
    const int i = get_global_id(0), bh = get_global_id(1);
    if (i >= Tq) return;
    const int b = bh / H, h = bh - b * H;
    const size_t r = (((size_t)b * Tq + i) * H + h) * ATT_D;
    float s = 0.0f;
    for (int d = 0; d < ATT_D; d++) s = fma(HCL_LOAD(DO_DT, dout, do_off + r + d), HCL_LOAD(O_DT, out, out_off + r + d), s);
    delta[delta_off + (size_t)bh * Tq + i] = s;
}

// dq (B,Tq,H,D) DQ_DT = scale * sum_j ds_ij k_j with p_ij = exp(scale q_i.k_j - lse_i) (visible
// pairs), ds_ij = p_ij (dout_i.v_j - delta_i). Inputs as attn_fwd plus dout (B,Tq,H,D) DO_DT,
// lse and delta (B,H,Tq) F32. Work-items, groups and K/V tiles as attn_fwd.
// global = (ceil(Tq / ATT_ROWS) * ATT_LQ, B*H), local = (ATT_LQ, 1)
kernel __attribute__((reqd_work_group_size(ATT_LQ, 1, 1)))
void attn_bwd_dq(global HCL_T(DQ_DT) *dq, ulong dq_off, const global HCL_T(DO_DT) *dout, ulong do_off,
                 const global float *lse, ulong lse_off, const global float *delta, ulong delta_off,
                 const global HCL_T(Q_DT) *q, ulong q_off, const global HCL_T(K_DT) *k, ulong k_off,
                 const global HCL_T(V_DT) *v, ulong v_off, const global int *kl, ulong kl_off, int has_kl,
                 int Tq, int Tk, int H, int causal, float scale) {
    local float ks[ATT_BK * ATT_D], vs[ATT_BK * ATT_D];
    const int bh = get_group_id(1), b = bh / H, h = bh - b * H;
    const int g0 = get_group_id(0) * ATT_ROWS, i0 = g0 + (int)get_local_id(0) * ATT_VW;
    const int kmax = att_kmax(kl, kl_off, has_kl, b, Tk), off = Tk - Tq;
    const size_t rs = (size_t)H * ATT_D;
    const size_t qb = q_off + ((size_t)b * Tq * H + h) * ATT_D, kb = k_off + ((size_t)b * Tk * H + h) * ATT_D;
    const size_t vb = v_off + ((size_t)b * Tk * H + h) * ATT_D, gb = do_off + ((size_t)b * Tq * H + h) * ATT_D;
    const size_t db = dq_off + ((size_t)b * Tq * H + h) * ATT_D;
    VI iv = i0 + LANES;
    VI jend = (VI)kmax;
    if (causal) jend = min(jend, iv + (1 + off));
    jend = select(jend, (VI)0, iv >= Tq);
    int gend = kmax;
    if (causal) gend = min(kmax, min(g0 + ATT_ROWS, Tq) + off);

    VT qt[ATT_D], gt[ATT_D], acc[ATT_D];
    ATT_LOAD_T(Q_DT, qt, q, qb, rs, i0, Tq)
    ATT_LOAD_T(DO_DT, gt, dout, gb, rs, i0, Tq)
    for (int d = 0; d < ATT_D; d++) acc[d] = (VT)0.0f;
    for (int j0 = 0; j0 < gend; j0 += ATT_BK) {
        ATT_STAGE(K_DT, ks, k, kb, rs, j0, ATT_BK, kmax)
        ATT_STAGE(V_DT, vs, v, vb, rs, j0, ATT_BK, kmax)
        barrier(CLK_LOCAL_MEM_FENCE);
        // the rows' lse and delta, read per tile: held in registers across the barriers, lse came
        // out as 0 on Intel's CPU runtime (2026.2) when a group has several work-items
        VT lv, dl, s[ATT_BK], dp[ATT_BK];
        ATT_LOAD_VEC(lv, lse, lse_off + (size_t)bh * Tq, i0, Tq)
        ATT_LOAD_VEC(dl, delta, delta_off + (size_t)bh * Tq, i0, Tq)
#pragma unroll
        for (int jj = 0; jj < ATT_BK; jj++) s[jj] = dp[jj] = (VT)0.0f;
        for (int d = 0; d < ATT_D; d++) {
            const VT qd = qt[d], gd = gt[d];
#pragma unroll
            for (int jj = 0; jj < ATT_BK; jj++) {
                s[jj] = fma(qd, (VT)ks[jj * ATT_D + d], s[jj]);
                dp[jj] = fma(gd, (VT)vs[jj * ATT_D + d], dp[jj]);
            }
        }
#pragma unroll
        for (int jj = 0; jj < ATT_BK; jj++) {
            const VI vis = (VI)(j0 + jj) < jend;
            const VT p = select((VT)0.0f, VEXP(s[jj] * scale - lv), vis);
            s[jj] = select((VT)0.0f, p * (dp[jj] - dl), vis);  // ds
        }
        for (int d = 0; d < ATT_D; d++) {
            VT a = acc[d];
#pragma unroll
            for (int jj = 0; jj < ATT_BK; jj++) a = fma(s[jj], (VT)ks[jj * ATT_D + d], a);
            acc[d] = a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    ATT_STORE_T(DQ_DT, dq, db, rs, i0, Tq, acc, scale)
}

// dk (B,Tk,H,D) DK_DT = scale * sum_i ds_ij q_i, dv (B,Tk,H,D) DV_DT = sum_i p_ij dout_i, with
// p and ds as attn_bwd_dq. Work-item: keys j0 .. j0+VW-1 of one (b, h) (lanes = keys); the
// work-group streams Q/dout tiles of ATT_BQ queries (with their lse and delta) through local
// memory from its first query that sees one of its keys. Keys at or past kmax are not read and
// get dk = dv = 0.
// global = (ceil(Tk / ATT_ROWS) * ATT_LQ, B*H), local = (ATT_LQ, 1)
kernel __attribute__((reqd_work_group_size(ATT_LQ, 1, 1)))
void attn_bwd_dkdv(global HCL_T(DK_DT) *dk, ulong dk_off, global HCL_T(DV_DT) *dv, ulong dv_off,
                   const global HCL_T(DO_DT) *dout, ulong do_off, const global float *lse, ulong lse_off,
                   const global float *delta, ulong delta_off, const global HCL_T(Q_DT) *q, ulong q_off,
                   const global HCL_T(K_DT) *k, ulong k_off, const global HCL_T(V_DT) *v, ulong v_off,
                   const global int *kl, ulong kl_off, int has_kl, int Tq, int Tk, int H, int causal, float scale) {
    local float qs[ATT_BQ * ATT_D], gs[ATT_BQ * ATT_D], ls[ATT_BQ], dls[ATT_BQ];
    const int bh = get_group_id(1), b = bh / H, h = bh - b * H;
    const int g0 = get_group_id(0) * ATT_ROWS, j0 = g0 + (int)get_local_id(0) * ATT_VW;
    const int kmax = att_kmax(kl, kl_off, has_kl, b, Tk), off = Tk - Tq;
    const size_t rs = (size_t)H * ATT_D;
    const size_t qb = q_off + ((size_t)b * Tq * H + h) * ATT_D, kb = k_off + ((size_t)b * Tk * H + h) * ATT_D;
    const size_t vb = v_off + ((size_t)b * Tk * H + h) * ATT_D, gb = do_off + ((size_t)b * Tq * H + h) * ATT_D;
    const size_t dkb = dk_off + ((size_t)b * Tk * H + h) * ATT_D, dvb = dv_off + ((size_t)b * Tk * H + h) * ATT_D;
    const size_t sb = (size_t)bh * Tq;
    const VI jv = j0 + LANES;
    const VI kvis = jv < kmax;
    // first query that sees the group's first key; none when the group's keys are all padding
    int istart = causal ? max(0, g0 - off) : 0;
    if (g0 >= kmax) istart = Tq;

    VT kt[ATT_D], vt[ATT_D], dkt[ATT_D], dvt[ATT_D];
    ATT_LOAD_T(K_DT, kt, k, kb, rs, j0, kmax)
    ATT_LOAD_T(V_DT, vt, v, vb, rs, j0, kmax)
    for (int d = 0; d < ATT_D; d++) dkt[d] = dvt[d] = (VT)0.0f;
    for (int t0 = istart; t0 < Tq; t0 += ATT_BQ) {
        ATT_STAGE(Q_DT, qs, q, qb, rs, t0, ATT_BQ, Tq)
        ATT_STAGE(DO_DT, gs, dout, gb, rs, t0, ATT_BQ, Tq)
        for (int e = (int)get_local_id(0); e < ATT_BQ; e += ATT_LQ) {
            ls[e] = t0 + e < Tq ? lse[lse_off + sb + t0 + e] : 0.0f;
            dls[e] = t0 + e < Tq ? delta[delta_off + sb + t0 + e] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        VT s[ATT_BQ], dp[ATT_BQ];
#pragma unroll
        for (int ii = 0; ii < ATT_BQ; ii++) s[ii] = dp[ii] = (VT)0.0f;
        for (int d = 0; d < ATT_D; d++) {
            const VT kd = kt[d], vd = vt[d];
#pragma unroll
            for (int ii = 0; ii < ATT_BQ; ii++) {
                s[ii] = fma(kd, (VT)qs[ii * ATT_D + d], s[ii]);
                dp[ii] = fma(vd, (VT)gs[ii * ATT_D + d], dp[ii]);
            }
        }
#pragma unroll
        for (int ii = 0; ii < ATT_BQ; ii++) {
            const int i = t0 + ii;
            // (a scalar condition: oclgrind evaluated a compare of two splat vectors as +1, not -1)
            VI vis = i < Tq ? kvis : (VI)0;
            if (causal) vis &= jv - i <= off;
            s[ii] = select((VT)0.0f, VEXP(s[ii] * scale - ls[ii]), vis);  // p
            dp[ii] = select((VT)0.0f, s[ii] * (dp[ii] - dls[ii]), vis);  // ds
        }
        for (int d = 0; d < ATT_D; d++) {
            VT a = dvt[d], c = dkt[d];
#pragma unroll
            for (int ii = 0; ii < ATT_BQ; ii++) {
                a = fma(s[ii], (VT)gs[ii * ATT_D + d], a);
                c = fma(dp[ii], (VT)qs[ii * ATT_D + d], c);
            }
            dvt[d] = a;
            dkt[d] = c;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    ATT_STORE_T(DK_DT, dk, dkb, rs, j0, Tk, dkt, scale)
    ATT_STORE_T(DV_DT, dv, dvb, rs, j0, Tk, dvt, 1.0f)
}
#endif  // ATT_BWD
