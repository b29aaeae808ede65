// Recurrent layers (GRU, LSTM; PyTorch gate order, batch-first) and sequence pooling. The GEMMs
// of a step (h W_hh^T forward, dG W_hh backward) run through the library's GEMM; these kernels do
// everything else of a step in one launch per step: the gate math in F32, masking by lengths,
// the new state and what backward needs (forward), or the gate gradients (backward); per call
// also an init kernel (carries, clamped lengths) and a transposed copy of w_hh.
// Built with -DY_DT= (x, y, the reserve: the compute dtype) -DW_DT= (w_hh) -DH0_DT= -DHN_DT=
// -DC0_DT= -DCN_DT= -DBHH_DT= (forward) -DDY_DT= -DDHN_DT= -DDCN_DT= -DDH0_DT= -DDC0_DT= -DDBI_DT=
// -DDBH_DT= (backward) -DPX_DT= (x / dx) -DPY_DT= (y / dy) (sequence pooling).
#include "common.h"

#ifndef Y_DT
#define Y_DT f32
#endif
#ifndef H0_DT
#define H0_DT f32
#endif
#ifndef HN_DT
#define HN_DT f32
#endif
#ifndef C0_DT
#define C0_DT f32
#endif
#ifndef CN_DT
#define CN_DT f32
#endif
#ifndef BHH_DT
#define BHH_DT f32
#endif
#ifndef DY_DT
#define DY_DT f32
#endif
#ifndef DHN_DT
#define DHN_DT f32
#endif
#ifndef DCN_DT
#define DCN_DT f32
#endif
#ifndef DH0_DT
#define DH0_DT f32
#endif
#ifndef DC0_DT
#define DC0_DT f32
#endif
#ifndef DBI_DT
#define DBI_DT f32
#endif
#ifndef DBH_DT
#define DBH_DT f32
#endif
#ifndef W_DT
#define W_DT f32
#endif
#ifndef PX_DT
#define PX_DT f32
#endif
#ifndef PY_DT
#define PY_DT f32
#endif

// Flags (the same bits as in src/ops/rnn.c).
#define RNN_HAS_H0 1    // init: h0 given (else zeros)
#define RNN_HAS_C0 2    // init: c0 given (else zeros)
#define RNN_HAS_LEN 4   // init: lengths given (else T)
#define RNN_CELL 8      // init: the cell has a c state (LSTM)
#define RNN_HAS_HG 16   // step: the hidden GEMM ran (else h W_hh^T = 0: first step without h0)
#define RNN_HAS_BHH 32  // step: b_hh given
#define RNN_HAS_DY 64   // backward step: dy given
#define RNN_HAS_DHN 128 // backward init: dh_n given (else zeros)
#define RNN_HAS_DCN 256 // backward init: dc_n given (else zeros)

// The per-step kernels are straight-line code (selects, every load and store unconditional, one
// element per work-item): PoCL vectorises such a work-item loop and gives up on any runtime
// branch in it (a flag-dependent store made the F16 GRU step 12x slower). So the launcher points
// every output somewhere valid (a scratch "sink" in the workspace when a step has nothing to
// write there), optional inputs are selects of loads from valid memory, and what differs on the
// first step (h0/c0 or zeros, clamped lengths, dh_n/dc_n) is written once per call by an init
// kernel into the carries the steps read.

// v rounded to the compute dtype Y_DT (the value a Y_DT store then load gives), so the state
// carried between steps, y and h_n are the same number.
inline float rnn_round_y(float v) {
#if HCL_CAT(HCL_DT_CODE_, Y_DT) == HCL_DT_CODE_f16
#if HCL_NATIVE_HALF
    return (float)(half)v;
#else
    return hcl_f16_bits_to_f32(hcl_f32_to_f16_bits(v));
#endif
#elif HCL_CAT(HCL_DT_CODE_, Y_DT) == HCL_DT_CODE_bf16
    return hcl_bf16_bits_to_f32(hcl_f32_to_bf16_bits(v));
#else
    return v;
#endif
}

// Gate nonlinearities through common.h's hcl_exp (branch-free Cephes exp, ~1 ulp): PoCL's
// built-in exp and tanh do not vectorise and made the gate kernels cost several times the step's
// GEMM. sigmoid = 1 / (1 + e^-x) (e^-x = inf for x << 0 gives 0, as it should); tanh for |x| >=
// 0.625 as 1 - 2 / (e^2|x| + 1) with the sign, below it Cephes' odd polynomial (tanhf, ~2 ulp), so
// the relative accuracy holds near 0. Both are selects of branch-free forms; NaN stays NaN. One
// definition for forward and backward (backward recomputes tanh(c) from the F32 c).
inline float rnn_sigmoid(float x) { return 1.0f / (1.0f + hcl_exp(-x)); }
inline float rnn_tanh(float x) {
    float a = fabs(x), s = x * x;
    float p = ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s + 1.33314422036e-1f) * s -
               3.33332819422e-1f) * s * x + x;
    float e = 1.0f - 2.0f / (hcl_exp(2.0f * a) + 1.0f);
    return a < 0.625f ? p : copysign(e, x);
}

// --------------------------------------------------------------------------------------- init
// Before the forward steps (global (H, B)): the h carry slot hs (row b at hs_off + b*hs_ld, Y_DT) =
// h0 (B,H) H0_DT or 0; for LSTM (RNN_CELL) the c carry slot cs (B,H) f32 = c0 C0_DT or 0; lens (B)
// i32 = lengths clamped to [1, T] (they live on the device, so the host cannot check them without
// a sync), or T.
kernel void rnn_fwd_init(int T, int H, int flags, const global HCL_T(H0_DT) *h0, ulong h0_off, global HCL_T(Y_DT) *hs,
                         ulong hs_off, ulong hs_ld, const global HCL_T(C0_DT) *c0, ulong c0_off, global float *cs, ulong cs_off,
                         const global int *len, ulong len_off, global int *lens, ulong lens_off) {
    ulong j = get_global_id(0), b = get_global_id(1), i = b * (ulong)H + j;
    if (j >= (ulong)H) return;
    HCL_STORE(Y_DT, hs, hs_off + b * hs_ld + j, (flags & RNN_HAS_H0) ? HCL_LOAD(H0_DT, h0, h0_off + i) : 0.0f);
    if (flags & RNN_CELL) cs[cs_off + i] = (flags & RNN_HAS_C0) ? HCL_LOAD(C0_DT, c0, c0_off + i) : 0.0f;
    if (j == 0) lens[lens_off + b] = (flags & RNN_HAS_LEN) ? clamp(len[len_off + b], 1, T) : T;
}

// Before the backward steps: the carries dh, dc (B,H) f32 = dh_n DHN_DT, dc_n DCN_DT or 0; for
// LSTM cp (B,H) f32 = c0 or 0 (c_prev of the forward's first step); lens as above; the bias
// accumulator dba (B,4H) f32 = 0. Flags:
// RNN_HAS_DHN, RNN_HAS_DCN, RNN_HAS_C0, RNN_HAS_LEN, RNN_CELL.
kernel void rnn_bwd_init(int T, int H, int flags, const global HCL_T(DHN_DT) *dhn, ulong dhn_off,
                         const global HCL_T(DCN_DT) *dcn, ulong dcn_off, global float *dh, ulong dh_off, global float *dc,
                         ulong dc_off, const global HCL_T(C0_DT) *c0, ulong c0_off, global float *cp, ulong cp_off,
                         const global int *len, ulong len_off, global int *lens, ulong lens_off, global float *dba,
                         ulong dba_off) {
    ulong j = get_global_id(0), b = get_global_id(1), i = b * (ulong)H + j;
    if (j >= (ulong)H) return;
    for (int g = 0; g < 4; g++) dba[dba_off + b * 4 * (ulong)H + (ulong)g * H + j] = 0.0f;
    dh[dh_off + i] = (flags & RNN_HAS_DHN) ? HCL_LOAD(DHN_DT, dhn, dhn_off + i) : 0.0f;
    if (flags & RNN_CELL) {
        dc[dc_off + i] = (flags & RNN_HAS_DCN) ? HCL_LOAD(DCN_DT, dcn, dcn_off + i) : 0.0f;
        cp[cp_off + i] = (flags & RNN_HAS_C0) ? HCL_LOAD(C0_DT, c0, c0_off + i) : 0.0f;
    }
    if (j == 0) lens[lens_off + b] = (flags & RNN_HAS_LEN) ? clamp(len[len_off + b], 1, T) : T;
}

// ------------------------------------------------------------------------------------- forward
// Common arguments of the forward steps (global (H, B): j = gid0 < H, b = gid1):
// T, H, t: sizes and the time step; flags RNN_HAS_HG, RNN_HAS_BHH.
// y (B,T,H) Y_DT: y[b,t] = h (0 at padded steps t >= lens[b]).
// act (B,T,G*H) Y_DT: on entry x W_ih^T + b_ih (the input GEMM); the gate activations are written
//   back in place (0 at padded steps): the reserve's saved activations.
// hg (B,G*H) f32: h_prev W_hh^T of this step (no bias), used with RNN_HAS_HG.
// bhh (G*H) BHH_DT, used with RNN_HAS_BHH (else any buffer of >= G*H elements).
// lens (B) i32: valid steps per sequence (from rnn_fwd_init).
// hin (row b at hin_off + b*hin_ld, Y_DT): the state entering step t; hout: the state leaving it.
// hfin (B,H) HN_DT: the state leaving step t as h_n (every step: the last one writes the result).
// A padded step passes the state through unchanged.
#define RNN_FWD_COMMON_ARGS                                                                                   \
    int T, int H, int t, int flags, global HCL_T(Y_DT) *y, ulong y_off, global HCL_T(Y_DT) *act, ulong act_off, \
        const global float *hg, ulong hg_off, const global HCL_T(BHH_DT) *bhh, ulong bhh_off, const global int *lens, \
        ulong lens_off, const global HCL_T(Y_DT) *hin, ulong hin_off, ulong hin_ld, global HCL_T(Y_DT) *hout,    \
        ulong hout_off, ulong hout_ld, global HCL_T(HN_DT) *hfin, ulong hfin_off

// The hidden pre-activation of gate row gj (= gate * H + j): h_prev W_hh^T + b_hh.
#define RNN_HIDDEN(gj)                                                                                        \
    (((flags & RNN_HAS_HG) ? hg[hg_off + b * GH + (gj)] : 0.0f) +                                              \
     ((flags & RNN_HAS_BHH) ? HCL_LOAD(BHH_DT, bhh, bhh_off + (gj)) : 0.0f))

// GRU step: r = s(xr + hr), z = s(xz + hz), n = tanh(xn + r hn), h = (1 - z) n + z h_prev, with
// hr/hz/hn the hidden pre-activations (h_prev W_h*^T + b_h*). hnv Y_DT: hn kept for backward at
// hnv_off + b*hnv_ldb + t*hnv_ldt (the reserve's (B,T,H); a sink in inference; 0 at padded steps).
kernel void rnn_gru_fwd(RNN_FWD_COMMON_ARGS, global HCL_T(Y_DT) *hnv, ulong hnv_off, ulong hnv_ldb, ulong hnv_ldt) {
    ulong j = get_global_id(0), b = get_global_id(1), Hu = (ulong)H, GH = 3 * Hu;
    if (j >= Hu) return;
    int valid = t < lens[lens_off + b];
    float h_prev = HCL_LOAD(Y_DT, hin, hin_off + b * hin_ld + j);
    ulong row = b * (ulong)T + (ulong)t, ai = act_off + row * GH + j;
    float hr = RNN_HIDDEN(j), hz = RNN_HIDDEN(Hu + j), hn = RNN_HIDDEN(2 * Hu + j);
    float r = rnn_sigmoid(HCL_LOAD(Y_DT, act, ai) + hr);
    float z = rnn_sigmoid(HCL_LOAD(Y_DT, act, ai + Hu) + hz);
    float n = rnn_tanh(fma(r, hn, HCL_LOAD(Y_DT, act, ai + 2 * Hu)));
    float h = valid ? rnn_round_y(fma(z, h_prev - n, n)) : h_prev;
    HCL_STORE(Y_DT, act, ai, valid ? r : 0.0f);
    HCL_STORE(Y_DT, act, ai + Hu, valid ? z : 0.0f);
    HCL_STORE(Y_DT, act, ai + 2 * Hu, valid ? n : 0.0f);
    HCL_STORE(Y_DT, hnv, hnv_off + b * hnv_ldb + (ulong)t * hnv_ldt + j, valid ? hn : 0.0f);
    HCL_STORE(Y_DT, y, y_off + row * Hu + j, valid ? h : 0.0f);
    HCL_STORE(Y_DT, hout, hout_off + b * hout_ld + j, h);
    HCL_STORE(HN_DT, hfin, hfin_off + b * Hu + j, h);
}

// LSTM step: i, f, g, o = s(.), s(.), tanh(.), s(.) of x W_ih^T + b_ih + h_prev W_hh^T + b_hh;
// c = f c_prev + i g (F32), h = o tanh(c). c_prev is read from cin (f32, row b at cin_off +
// b*cin_ld), c written to cout (in training the reserve's C (B,T,H), c after each step, which
// backward reads) and, as c_n, to cfin (B,H) CN_DT.
kernel void rnn_lstm_fwd(RNN_FWD_COMMON_ARGS, const global float *cin, ulong cin_off, ulong cin_ld, global float *cout,
                         ulong cout_off, ulong cout_ld, global HCL_T(CN_DT) *cfin, ulong cfin_off) {
    ulong j = get_global_id(0), b = get_global_id(1), Hu = (ulong)H, GH = 4 * Hu;
    if (j >= Hu) return;
    int valid = t < lens[lens_off + b];
    float h_prev = HCL_LOAD(Y_DT, hin, hin_off + b * hin_ld + j);
    float c_prev = cin[cin_off + b * cin_ld + j];
    ulong row = b * (ulong)T + (ulong)t, ai = act_off + row * GH + j;
    float gi = rnn_sigmoid(HCL_LOAD(Y_DT, act, ai) + RNN_HIDDEN(j));
    float gf = rnn_sigmoid(HCL_LOAD(Y_DT, act, ai + Hu) + RNN_HIDDEN(Hu + j));
    float gg = rnn_tanh(HCL_LOAD(Y_DT, act, ai + 2 * Hu) + RNN_HIDDEN(2 * Hu + j));
    float go = rnn_sigmoid(HCL_LOAD(Y_DT, act, ai + 3 * Hu) + RNN_HIDDEN(3 * Hu + j));
    float c = fma(gf, c_prev, gi * gg);
    float h = rnn_round_y(go * rnn_tanh(c));
    c = valid ? c : c_prev;
    h = valid ? h : h_prev;
    HCL_STORE(Y_DT, act, ai, valid ? gi : 0.0f);
    HCL_STORE(Y_DT, act, ai + Hu, valid ? gf : 0.0f);
    HCL_STORE(Y_DT, act, ai + 2 * Hu, valid ? gg : 0.0f);
    HCL_STORE(Y_DT, act, ai + 3 * Hu, valid ? go : 0.0f);
    cout[cout_off + b * cout_ld + j] = c;
    HCL_STORE(CN_DT, cfin, cfin_off + b * Hu + j, c);
    HCL_STORE(Y_DT, y, y_off + row * Hu + j, valid ? h : 0.0f);
    HCL_STORE(Y_DT, hout, hout_off + b * hout_ld + j, h);
    HCL_STORE(HN_DT, hfin, hfin_off + b * Hu + j, h);
}

// ------------------------------------------------------------------------------------ backward
// Steps run in the reverse of the forward's order. dh (B,H) f32 is the carry of dL/dh: on entry
// the gradient reaching the state leaving step t (dh_n on the first backward step, from
// rnn_bwd_init), on exit the part of dL/dh_prev that does not go through W_hh (GRU: z * dh; LSTM:
// 0): the launcher's GEMM then adds dG_h W_hh. A padded step passes dh (and dc) through and writes
// zero gate gradients. dg (B,T,4H) f32: the gate gradients of every step (pre-activation); dba
// (B,4H) f32 accumulates them over the steps for the bias gradients (each element belongs to one
// work-item, the steps are in order: deterministic, and no pass over dg afterwards). dy
// (B,T,H) DY_DT is added on valid steps with RNN_HAS_DY (else any buffer of >= B*T*H elements).
// Global (H, B).
#define RNN_BWD_COMMON_ARGS                                                                                \
    int T, int H, int t, int flags, global float *dg, ulong dg_off, global float *dba, ulong dba_off,          \
        global float *dh, ulong dh_off, const global HCL_T(DY_DT) *dy, ulong dy_off, const global HCL_T(Y_DT) *act, \
        ulong act_off, const global int *lens, ulong lens_off

// GRU: dg row = [da_r, da_z, da_n (input side), da_n * r (hidden side)]; ds (B,3H) f32 = [da_r,
// da_z, da_n * r]: the A operand of this step's GEMM dh += ds W_hh. hnv, hprev (B,T,H) Y_DT: hn and
// the entering state kept by the forward.
kernel void rnn_gru_bwd(RNN_BWD_COMMON_ARGS, global float *ds, ulong ds_off, const global HCL_T(Y_DT) *hnv,
                        ulong hnv_off, const global HCL_T(Y_DT) *hprev, ulong hprev_off) {
    ulong j = get_global_id(0), b = get_global_id(1), Hu = (ulong)H;
    if (j >= Hu) return;
    int valid = t < lens[lens_off + b];
    ulong row = b * (ulong)T + (ulong)t, ai = act_off + row * 3 * Hu + j, gi = dg_off + row * 4 * Hu + j;
    float dcarry = dh[dh_off + b * Hu + j];
    float d = dcarry + ((flags & RNN_HAS_DY) ? HCL_LOAD(DY_DT, dy, dy_off + row * Hu + j) : 0.0f);
    float r = HCL_LOAD(Y_DT, act, ai), z = HCL_LOAD(Y_DT, act, ai + Hu), n = HCL_LOAD(Y_DT, act, ai + 2 * Hu);
    float hn = HCL_LOAD(Y_DT, hnv, hnv_off + row * Hu + j), hp = HCL_LOAD(Y_DT, hprev, hprev_off + row * Hu + j);
    float dan = d * (1.0f - z) * (1.0f - n * n);
    float danh = valid ? dan * r : 0.0f;
    float dar = valid ? dan * hn * r * (1.0f - r) : 0.0f;
    float daz = valid ? d * (hp - n) * z * (1.0f - z) : 0.0f;
    dan = valid ? dan : 0.0f;
    dg[gi] = dar;
    dg[gi + Hu] = daz;
    dg[gi + 2 * Hu] = dan;
    dg[gi + 3 * Hu] = danh;
    ulong bi = dba_off + b * 4 * Hu + j;
    dba[bi] += dar;
    dba[bi + Hu] += daz;
    dba[bi + 2 * Hu] += dan;
    dba[bi + 3 * Hu] += danh;
    ulong si = ds_off + b * 3 * Hu + j;
    ds[si] = dar;
    ds[si + Hu] = daz;
    ds[si + 2 * Hu] = danh;
    dh[dh_off + b * Hu + j] = valid ? d * z : dcarry;
}

// LSTM: dg row = [da_i, da_f, da_g, da_o] (the same for the input and the hidden side). dc (B,H)
// f32: the carry of dL/dc. cs (B,T,H) f32: c after each step (from the forward); c_prev is read
// from cp (f32, row b at cp_off + b*cp_ld): cs at the step before, or c0 (rnn_bwd_init's copy)
// on the forward's first step.
kernel void rnn_lstm_bwd(RNN_BWD_COMMON_ARGS, global float *dc, ulong dc_off, const global float *cs, ulong cs_off,
                         const global float *cp, ulong cp_off, ulong cp_ld) {
    ulong j = get_global_id(0), b = get_global_id(1), Hu = (ulong)H;
    if (j >= Hu) return;
    int valid = t < lens[lens_off + b];
    ulong row = b * (ulong)T + (ulong)t, ai = act_off + row * 4 * Hu + j, gi = dg_off + row * 4 * Hu + j;
    float dcarry = dh[dh_off + b * Hu + j], dccarry = dc[dc_off + b * Hu + j];
    float d = dcarry + ((flags & RNN_HAS_DY) ? HCL_LOAD(DY_DT, dy, dy_off + row * Hu + j) : 0.0f);
    float gi_ = HCL_LOAD(Y_DT, act, ai), gf = HCL_LOAD(Y_DT, act, ai + Hu);
    float gg = HCL_LOAD(Y_DT, act, ai + 2 * Hu), go = HCL_LOAD(Y_DT, act, ai + 3 * Hu);
    float c = cs[cs_off + row * Hu + j], c_prev = cp[cp_off + b * cp_ld + j];
    float tc = rnn_tanh(c);
    float dcv = fma(d * go, 1.0f - tc * tc, dccarry);
    float dai = valid ? dcv * gg * gi_ * (1.0f - gi_) : 0.0f, daf = valid ? dcv * c_prev * gf * (1.0f - gf) : 0.0f;
    float dag = valid ? dcv * gi_ * (1.0f - gg * gg) : 0.0f, dao = valid ? d * tc * go * (1.0f - go) : 0.0f;
    dg[gi] = dai;
    dg[gi + Hu] = daf;
    dg[gi + 2 * Hu] = dag;
    dg[gi + 3 * Hu] = dao;
    ulong bi = dba_off + b * 4 * Hu + j;
    dba[bi] += dai;
    dba[bi + Hu] += daf;
    dba[bi + 2 * Hu] += dag;
    dba[bi + 3 * Hu] += dao;
    dh[dh_off + b * Hu + j] = valid ? 0.0f : dcarry;
    dc[dc_off + b * Hu + j] = valid ? dcv * gf : dccarry;
}

// dh0 (B,H) DH0_DT = dh, dc0 (B,H) DC0_DT = dc (the carries after the last backward step; each
// when its flag is set: 1 dh0, 2 dc0). Global (H, B).
kernel void rnn_bwd_out(int H, int flags, const global float *dh, ulong dh_off, global HCL_T(DH0_DT) *dh0, ulong dh0_off,
                        const global float *dc, ulong dc_off, global HCL_T(DC0_DT) *dc0, ulong dc0_off) {
    ulong j = get_global_id(0), b = get_global_id(1), i = b * (ulong)H + j;
    if (j >= (ulong)H) return;
    if (flags & 1) HCL_STORE(DH0_DT, dh0, dh0_off + i, dh[dh_off + i]);
    if (flags & 2) HCL_STORE(DC0_DT, dc0, dc0_off + i, dc[dc_off + i]);
}

// w_hh (G*H, H) W_DT transposed, once per call, into the operand layouts the per-step GEMMs run
// fastest with (see transpose_w in src/ops/rnn.c): wt (H rows of stride wt_ld) W_DT, the same
// bits (backward), or F32 (forward). Global (G*H, H).
kernel void rnn_transpose_w(int GH, int H, const global HCL_T(W_DT) *w, ulong w_off, global HCL_T(W_DT) *wt, ulong wt_off,
                            ulong wt_ld) {
    ulong g = get_global_id(0), i = get_global_id(1);
    if (g >= (ulong)GH) return;
    wt[wt_off + i * wt_ld + g] = w[w_off + g * (ulong)H + i];
}
kernel void rnn_transpose_w_f32(int GH, int H, const global HCL_T(W_DT) *w, ulong w_off, global float *wt, ulong wt_off,
                                ulong wt_ld) {
    ulong g = get_global_id(0), i = get_global_id(1);
    if (g >= (ulong)GH) return;
    wt[wt_off + i * wt_ld + g] = HCL_LOAD(W_DT, w, w_off + g * (ulong)H + i);
}

// Bias gradients from dba (B, 4H) f32 (each sequence's gate gradients summed over its steps by the
// backward steps): one work-item per column sums the B rows in order and adds the sum where it
// belongs. GRU (gru = 1; columns [r, z, n_x, n_h]): db_ih
// (3H) += columns 0..3H, db_hh (3H) += columns r, z and n_h. LSTM: both += every column. flags: 1
// db_ih, 2 db_hh. Global (4H).
kernel void rnn_bias_grad(ulong rows, int H, int gru, int flags, const global float *dg, ulong dg_off,
                          global HCL_T(DBI_DT) *dbi, ulong dbi_off, global HCL_T(DBH_DT) *dbh, ulong dbh_off) {
    ulong c = get_global_id(0), W = 4 * (ulong)H, Hu = (ulong)H;
    if (c >= W) return;
    float s = 0.0f;
    for (ulong r = 0; r < rows; r++) s += dg[dg_off + r * W + c];
    int to_i = (flags & 1) && (!gru || c < 3 * Hu), to_h = (flags & 2) && (!gru || c < 2 * Hu || c >= 3 * Hu);
    ulong ch = gru && c >= 3 * Hu ? c - Hu : c;
    if (to_i) HCL_STORE(DBI_DT, dbi, dbi_off + c, HCL_LOAD(DBI_DT, dbi, dbi_off + c) + s);
    if (to_h) HCL_STORE(DBH_DT, dbh, dbh_off + ch, HCL_LOAD(DBH_DT, dbh, dbh_off + ch) + s);
}

// --------------------------------------------------------------------------- sequence pooling
// y (B,H) PY_DT = mean over the valid steps (mode 0) or the last valid step (mode 1) of x (B,T,H)
// PX_DT; lengths clamped to [1, T] as above (has_len 0: all T). Global (H, B).
kernel void seq_pool_fwd(int T, int H, int mode, int has_len, global HCL_T(PY_DT) *y, ulong y_off,
                         const global HCL_T(PX_DT) *x, ulong x_off, const global int *len, ulong len_off) {
    ulong j = get_global_id(0), b = get_global_id(1), Hu = (ulong)H;
    if (j >= Hu) return;
    int L = has_len ? clamp(len[len_off + b], 1, T) : T;
    ulong base = x_off + b * (ulong)T * Hu + j;
    float v;
    if (mode == 1) {
        v = HCL_LOAD(PX_DT, x, base + (ulong)(L - 1) * Hu);
    } else {
        float s = 0.0f;
        for (int t = 0; t < L; t++) s += HCL_LOAD(PX_DT, x, base + (ulong)t * Hu);
        v = s / (float)L;
    }
    HCL_STORE(PY_DT, y, y_off + b * Hu + j, v);
}

// dx (B,T,H) PX_DT from dy (B,H) PY_DT: dy / len (mean) or dy at the last valid step (last) on the
// valid steps, 0 elsewhere. Global (H, T, B).
kernel void seq_pool_bwd(int T, int H, int mode, int has_len, global HCL_T(PX_DT) *dx, ulong dx_off,
                         const global HCL_T(PY_DT) *dy, ulong dy_off, const global int *len, ulong len_off) {
    ulong j = get_global_id(0), t = get_global_id(1), b = get_global_id(2), Hu = (ulong)H;
    if (j >= Hu) return;
    int L = has_len ? clamp(len[len_off + b], 1, T) : T;
    float g = HCL_LOAD(PY_DT, dy, dy_off + b * Hu + j), v = 0.0f;
    if (mode == 1) v = t == (ulong)(L - 1) ? g : 0.0f;
    else if (t < (ulong)L) v = g / (float)L;
    HCL_STORE(PX_DT, dx, dx_off + (b * (ulong)T + t) * Hu + j, v);
}
