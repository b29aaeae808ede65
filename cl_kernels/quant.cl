// Quantization: fake-quant forward/backward (STE), range observers, scale/zero-point from a range,
// quantize/dequantize, the int8 GEMM (U8 activations with a zero point x I8 weights, int32
// accumulation, F32 dequant epilogue) and the U8 im2col that feeds it for int8 convolution.
// Float tensors load/store through common.h (-DX_DT -DY_DT -DG_DT; native half only for the
// load/store itself: the math is F32), quantized tensors are -DQ_DT=i8|u8.
//
// Rounding is rint (round half to even under the default rounding mode). Per-channel parameters:
// the element at (o, c, i) of a tensor viewed as (outer, C, inner) uses scale[c], zp[c]; per
// tensor is C = 1. NaN: fake-quant keeps NaN (y = NaN, dx = dy), quantize maps it to the zero
// point; +-inf clamp to the range ends.
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
#ifndef Q_DT
#define Q_DT i8
#endif
#ifndef C_DT
#define C_DT f32
#endif
#ifndef BIAS_DT
#define BIAS_DT f32
#endif
#ifndef RL
#define RL 64
#endif

// round half to even of v, for |v| <= 2^22 (adding and removing 1.5 * 2^23 leaves an integer,
// rounded by the FPU's default mode): rint() itself is a library call that keeps PoCL from
// vectorising the work-item loop (measured 15x slower)
inline float quant_rne(float v) { return (v + 12582912.0f) - 12582912.0f; }
// the quantized integer q + z (unclamped, as float; NaN for NaN x) of x with scale s. |x / s|
// beyond 2^22 is clamped there first (the result clamps to the range anyway); NaN stays NaN.
inline float quant_raw(float x, float s, float z) {
    float v = x / s;
    float c = v > 4194304.0f ? 4194304.0f : v < -4194304.0f ? -4194304.0f : v;
    return quant_rne(c) + z;
}

// 8-wide forms (the same math lane by lane)
inline float8 quant_rne8(float8 v) { return (v + 12582912.0f) - 12582912.0f; }
inline float8 quant_raw8(float8 x, float s, float z) {
    float8 v = x / s;
    v = select(v, (float8)(4194304.0f), v > 4194304.0f);
    v = select(v, (float8)(-4194304.0f), v < -4194304.0f);
    return quant_rne8(v) + z;
}

#if HCL_CAT(HCL_DT_CODE_, Q_DT) == HCL_DT_CODE_i8
#define Q_V8 char8
#define Q_CVT8(v) convert_char8(v)
#else
#define Q_V8 uchar8
#define Q_CVT8(v) convert_uchar8(v)
#endif

// The elementwise kernels take QV = 8 consecutive elements of a channel's row per work-item
// (float8 loads, one load of the channel's parameters: PoCL re-reads a per-work-item parameter
// load on every element, 5-10x slower), the row's tail one by one.
// global = (ceil(inner / 8), C, outer) for a tensor viewed as (outer, C, inner)
#define QV 8
#define QPROLOGUE                                                                      \
    size_t i = get_global_id(0) * QV, c = get_global_id(1), o = get_global_id(2);      \
    if (i >= inner) return;                                                            \
    size_t e = (o * C + c) * inner + i;                                                \
    const float s = scale[s_off + c];                                                  \
    const float z = has_zp ? (float)zp[zp_off + c] : 0.0f;                             \
    const size_t cnt = min((size_t)QV, (size_t)inner - i)

// y (outer, C, inner) Y_DT = (clamp(rint(x/s) + z, qmin, qmax) - z) * s, x X_DT; NaN stays NaN;
// y may be x (each element is read, then written, by one work-item)
kernel void fake_quant_forward(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                               const global float *scale, ulong s_off, const global int *zp, ulong zp_off, int has_zp,
                               ulong inner, ulong C, float qmin, float qmax) {
    QPROLOGUE;
    if (cnt == QV) {
        float8 v = HCL_LOAD8(X_DT, x, x_off + e);
        float8 q = fmin(fmax(quant_raw8(v, s, z), qmin), qmax);
        HCL_STORE8(Y_DT, y, y_off + e, select((q - z) * s, v, isnan(v)));
        return;
    }
    for (size_t t = 0; t < cnt; t++) {
        float v = HCL_LOAD(X_DT, x, x_off + e + t);
        float q = fmin(fmax(quant_raw(v, s, z), qmin), qmax);
        HCL_STORE(Y_DT, y, y_off + e + t, isnan(v) ? v : (q - z) * s);
    }
}

// dx (outer, C, inner) Y_DT = dy G_DT where rint(x/s) + z lies in [qmin, qmax] (or x is NaN),
// else 0: the straight-through estimator; dx may be dy
kernel void fake_quant_backward(global HCL_T(Y_DT) *dx, ulong dx_off, const global HCL_T(G_DT) *dy, ulong dy_off,
                                const global HCL_T(X_DT) *x, ulong x_off,
                                const global float *scale, ulong s_off, const global int *zp, ulong zp_off, int has_zp,
                                ulong inner, ulong C, float qmin, float qmax) {
    QPROLOGUE;
    if (cnt == QV) {
        float8 q = quant_raw8(HCL_LOAD8(X_DT, x, x_off + e), s, z);
        float8 g = HCL_LOAD8(G_DT, dy, dy_off + e);
        HCL_STORE8(Y_DT, dx, dx_off + e, select(g, (float8)(0.0f), (q < qmin) | (q > qmax)));
        return;
    }
    for (size_t t = 0; t < cnt; t++) {
        float q = quant_raw(HCL_LOAD(X_DT, x, x_off + e + t), s, z);
        float g = HCL_LOAD(G_DT, dy, dy_off + e + t);
        HCL_STORE(Y_DT, dx, dx_off + e + t, (q < qmin || q > qmax) ? 0.0f : g);
    }
}

// q (outer, C, inner) Q_DT = clamp(rint(x/s) + z, qmin, qmax), NaN -> z (clamped)
kernel void quantize(global HCL_T(Q_DT) *qt, ulong q_off, const global HCL_T(X_DT) *x, ulong x_off,
                     const global float *scale, ulong s_off, const global int *zp, ulong zp_off, int has_zp,
                     ulong inner, ulong C, float qmin, float qmax) {
    QPROLOGUE;
    const float zc = clamp(z, qmin, qmax);
    if (cnt == QV) {
        float8 q = quant_raw8(HCL_LOAD8(X_DT, x, x_off + e), s, z);
        q = select(fmin(fmax(q, qmin), qmax), (float8)(zc), isnan(q));
        vstore8(Q_CVT8(q), 0, qt + q_off + e);
        return;
    }
    for (size_t t = 0; t < cnt; t++) {
        float q = quant_raw(HCL_LOAD(X_DT, x, x_off + e + t), s, z);
        q = isnan(q) ? zc : fmin(fmax(q, qmin), qmax);
        qt[q_off + e + t] = (HCL_T(Q_DT))(int)q;
    }
}

// x (outer, C, inner) Y_DT = (q - z) * s, q Q_DT ((q - z) is exact in float: one rounding)
kernel void dequantize(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(Q_DT) *qt, ulong q_off,
                       const global float *scale, ulong s_off, const global int *zp, ulong zp_off, int has_zp,
                       ulong inner, ulong C) {
    QPROLOGUE;
    if (cnt == QV) {
        float8 q = convert_float8(vload8(0, qt + q_off + e));
        HCL_STORE8(Y_DT, y, y_off + e, (q - z) * s);
        return;
    }
    for (size_t t = 0; t < cnt; t++) HCL_STORE(Y_DT, y, y_off + e + t, ((float)qt[q_off + e + t] - z) * s);
}

// ---- range observer: pass 1, part (C, chunks, 2) f32 = [min, max] over each chunk of a
// channel's outer*inner elements, NaN ignored (min = +inf, max = -inf when none). One work-group
// of RL items per (chunk, channel). global = (RL, chunks, C), local = (RL, 1, 1)
kernel void observe_partial(global float *part, ulong part_off, const global HCL_T(X_DT) *x, ulong x_off,
                            ulong inner, ulong C, ulong outer, ulong chunk) {
    local float bmin[RL], bmax[RL];
    size_t lid = get_local_id(0), ch = get_group_id(1), c = get_global_id(2), chunks = get_num_groups(1);
    ulong total = outer * inner, b = ch * chunk, e = min(total, b + chunk);
    float mn = INFINITY, mx = -INFINITY;
    for (ulong j = b + lid; j < e; j += RL) {
        ulong o = j / inner, i = j - o * inner;
        float v = HCL_LOAD(X_DT, x, x_off + (o * C + c) * inner + i);
        mn = fmin(mn, v);  // fmin/fmax ignore a NaN operand
        mx = fmax(mx, v);
    }
    bmin[lid] = mn;
    bmax[lid] = mx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t st = RL / 2; st > 0; st >>= 1) {
        if (lid < st) {
            bmin[lid] = fmin(bmin[lid], bmin[lid + st]);
            bmax[lid] = fmax(bmax[lid], bmax[lid + st]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        part[part_off + (c * chunks + ch) * 2] = bmin[0];
        part[part_off + (c * chunks + ch) * 2 + 1] = bmax[0];
    }
}

// pass 2, range (C, 2) f32: the batch range = min/max over the chunks (a channel with no
// non-NaN value gives [0, 0]); first != 0: range = batch, else range += momentum (batch - range).
// global = (C)
kernel void observe_final(global float *range, ulong r_off, const global float *part, ulong part_off, ulong C,
                          ulong chunks, float momentum, int first) {
    size_t c = get_global_id(0);
    if (c >= C) return;
    float mn = INFINITY, mx = -INFINITY;
    for (ulong ch = 0; ch < chunks; ch++) {
        mn = fmin(mn, part[part_off + (c * chunks + ch) * 2]);
        mx = fmax(mx, part[part_off + (c * chunks + ch) * 2 + 1]);
    }
    if (mn > mx) mn = mx = 0.0f;
    global float *r = range + r_off + c * 2;
    if (first) {
        r[0] = mn;
        r[1] = mx;
    } else {
        r[0] += momentum * (mn - r[0]);
        r[1] += momentum * (mx - r[1]);
    }
}

// scale (C) f32, zp (C) i32 (has_zp) from range (C, 2) f32 [min, max]. symmetric: s =
// max(|min|, |max|) / 127; asymmetric: the range widened to include 0, s = (max - min) / 255,
// z = clamp(rint(-min / s), 0, 255). s >= eps (never 0); NaN bounds count as 0. global = (C)
#define QUANT_EPS 1.1920928955078125e-7f  // FLT_EPSILON: PyTorch's observers' scale floor
kernel void params_from_range(global float *scale, ulong s_off, global int *zp, ulong zp_off, int has_zp,
                              const global float *range, ulong r_off, ulong C, int asymmetric) {
    size_t c = get_global_id(0);
    if (c >= C) return;
    float mn = range[r_off + 2 * c], mx = range[r_off + 2 * c + 1];
    mn = fmin(mn, 0.0f);  // also NaN -> 0
    mx = fmax(mx, 0.0f);
    float s, z = 0.0f;
    if (asymmetric) {
        s = fmax((mx - mn) / 255.0f, QUANT_EPS);
        z = clamp(quant_rne(fmin(-mn / s, 4194304.0f)), 0.0f, 255.0f);
    } else {
        s = fmax(fmax(-mn, mx) / 127.0f, QUANT_EPS);
    }
    scale[s_off + c] = s;
    if (has_zp) zp[zp_off + c] = (int)z;
}

// ---- int8 GEMM: C[b] (M, N) C_DT with C[b][m*c_rs + n*c_cs] = act(sa * sw[n] * sum_k (A[b][m][k]
// - za) * W[n][k] + bias[n]), A (batch, M, K) u8 with row stride lda, W (N, K) i8 with row stride
// ldw, int32 accumulation. (a - za) is in [-255, 255] and w in [-128, 127]: both are loaded as
// short, widened to int and multiplied in int (|p| <= 255 * 128 = 32640), and an even/odd pair of
// products is added in int (the x86 pmaddwd pattern). One work-item = a QTM x QTN block of dot
// products of whole rows, 16 k at a time (k tail scalar); rows past M / N are clamped (valid
// memory), their results never stored. The int32 sum is exact while |sum| < 2^31, i.e. for
// K <= 65793 (2^31 / 32640); the launcher refuses K > I8_MAX_K = 65536 (src/ops/quant.c).
// global = (RUP(ceil(M/QTM), QWG), ceil(N/QTN), batch), local = (QWG, 1, 1)
#define QTM 4
#define QTN 4
#define C_T HCL_T(C_DT)
#define BIAS_T HCL_T(BIAS_DT)

inline int8 qdot16(short16 a, short16 w) {
    return convert_int8(a.even) * convert_int8(w.even) + convert_int8(a.odd) * convert_int8(w.odd);
}
inline int qhsum8(int8 v) {
    int4 a = v.lo + v.hi;
    int2 b = a.lo + a.hi;
    return b.x + b.y;
}

kernel void gemm_i8(int M, int N, int K, const global uchar *A, ulong a_off, int lda, ulong a_bstride,
                    const global char *W, ulong w_off, int ldw,
                    global C_T *Cm, ulong c_off, ulong c_rs, ulong c_cs, ulong c_bstride,
                    const global float *a_scale, ulong as_off, const global int *a_zp, ulong az_off, int has_azp,
                    const global float *w_scale, ulong ws_off, int w_per_row,
                    const global BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha) {
    const int m0 = get_global_id(0) * QTM;
    const int n0 = get_global_id(1) * QTN;
    const int b = get_global_id(2);
    if (m0 >= M || n0 >= N) return;
    const global uchar *a = A + a_off + (ulong)b * a_bstride;
    const global char *w = W + w_off;
    const int za = has_azp ? clamp(a_zp[az_off], 0, 255) : 0;  // U8 zero points live in 0..255
    ulong ar[QTM], wr[QTN];
#pragma unroll
    for (int r = 0; r < QTM; r++) ar[r] = (ulong)min(m0 + r, M - 1) * lda;
#pragma unroll
    for (int c = 0; c < QTN; c++) wr[c] = (ulong)min(n0 + c, N - 1) * ldw;
    int8 acc[QTM][QTN];
#pragma unroll
    for (int r = 0; r < QTM; r++)
#pragma unroll
        for (int c = 0; c < QTN; c++) acc[r][c] = 0;
    const short16 zv = (short16)((short)za);
    const int K16 = K & ~15;
    for (int k = 0; k < K16; k += 16) {
        short16 wv[QTN];
#pragma unroll
        for (int c = 0; c < QTN; c++) wv[c] = convert_short16(vload16(0, w + wr[c] + k));
#pragma unroll
        for (int r = 0; r < QTM; r++) {
            const short16 av = convert_short16(vload16(0, a + ar[r] + k)) - zv;
#pragma unroll
            for (int c = 0; c < QTN; c++) acc[r][c] += qdot16(av, wv[c]);
        }
    }
    int s[QTM][QTN];
#pragma unroll
    for (int r = 0; r < QTM; r++)
#pragma unroll
        for (int c = 0; c < QTN; c++) s[r][c] = qhsum8(acc[r][c]);
    for (int k = K16; k < K; k++)
#pragma unroll
        for (int r = 0; r < QTM; r++) {
            const int av = (int)a[ar[r] + k] - za;
#pragma unroll
            for (int c = 0; c < QTN; c++) s[r][c] += av * (int)w[wr[c] + k];
        }
    const float sa = a_scale[as_off];
    global C_T *cb = Cm + c_off + (ulong)b * c_bstride;
#pragma unroll
    for (int c = 0; c < QTN; c++) {
        const int n = n0 + c;
        if (n >= N) break;
        const float sc = sa * w_scale[ws_off + (w_per_row ? n : 0)];
        const float bv = has_bias ? HCL_LOAD(BIAS_DT, bias, bias_off + n) : 0.0f;
#pragma unroll
        for (int r = 0; r < QTM; r++) {
            if (m0 + r < M)
                HCL_STORE(C_DT, cb, (ulong)(m0 + r) * c_rs + (ulong)n * c_cs,
                          hcl_act_forward(act, (float)s[r][c] * sc + bv, act_alpha));
        }
    }
}

// ---- int8 GEMM, packed path for larger shapes (the dot kernel above keeps the small and skinny
// ones). The CPUs this runs on (no VNNI under PoCL's target) multiply-add floats fastest, and
// float sums of integer products are exact below 2^24: each product (a - za) w is at most 32640
// in magnitude, so a chunk of QKC = 512 of them sums exactly in float. Panels as in gemm.cl:
//   Ap[((b*MP + p)*K + k)*16 + r] = a[b][16p + r][k] - za (0 for rows >= M), f32
//   Wp[(t*K + k)*32 + c] = w[32t + c][k] (0 for columns >= N), f32
// gemm_i8_main: one work-item = a 16x32 tile, float16 accumulators over each k chunk, added into
// int accumulators after it (exact: the sum in int32, as the dot kernel). Same epilogue.
#define QKC 512
// 16x16 register transpose (as gemm.cl's): row i of the result = component i of v[0..15]
#define QTROW(v, i) (float16)(v[0].s##i, v[1].s##i, v[2].s##i, v[3].s##i, v[4].s##i, v[5].s##i, v[6].s##i, v[7].s##i, v[8].s##i, v[9].s##i, v[10].s##i, v[11].s##i, v[12].s##i, v[13].s##i, v[14].s##i, v[15].s##i)
#define QTSTORE16(v, dst, ds) do { \
    vstore16(QTROW(v, 0), 0, (dst) + 0 * (ds)); vstore16(QTROW(v, 1), 0, (dst) + 1 * (ds)); \
    vstore16(QTROW(v, 2), 0, (dst) + 2 * (ds)); vstore16(QTROW(v, 3), 0, (dst) + 3 * (ds)); \
    vstore16(QTROW(v, 4), 0, (dst) + 4 * (ds)); vstore16(QTROW(v, 5), 0, (dst) + 5 * (ds)); \
    vstore16(QTROW(v, 6), 0, (dst) + 6 * (ds)); vstore16(QTROW(v, 7), 0, (dst) + 7 * (ds)); \
    vstore16(QTROW(v, 8), 0, (dst) + 8 * (ds)); vstore16(QTROW(v, 9), 0, (dst) + 9 * (ds)); \
    vstore16(QTROW(v, a), 0, (dst) + 10 * (ds)); vstore16(QTROW(v, b), 0, (dst) + 11 * (ds)); \
    vstore16(QTROW(v, c), 0, (dst) + 12 * (ds)); vstore16(QTROW(v, d), 0, (dst) + 13 * (ds)); \
    vstore16(QTROW(v, e), 0, (dst) + 14 * (ds)); vstore16(QTROW(v, f), 0, (dst) + 15 * (ds)); \
} while (0)

// global = (RUP(ceil(K/16), 4), MP, batch), local = (4, 1, 1); one 16(k) x 16(rows) block each
kernel void gemm_i8_pack_a(int M, int K, const global uchar *A, ulong a_off, int lda, ulong a_bstride,
                           const global int *a_zp, ulong az_off, int has_azp, global float *Ap, ulong ap_off) {
    const int k0 = get_global_id(0) * 16, p = get_global_id(1), b = get_global_id(2);
    const int MP = (M + 15) / 16;
    if (k0 >= K || p >= MP) return;
    const int za = has_azp ? clamp(a_zp[az_off], 0, 255) : 0;
    const global uchar *a = A + a_off + (ulong)b * a_bstride;
    global float *dst = Ap + ap_off + ((ulong)b * MP + p) * ((ulong)K * 16) + (ulong)k0 * 16;
    const int kn = min(16, K - k0);
    if (kn == 16 && p * 16 + 16 <= M) {
        float16 v[16];
        for (int r = 0; r < 16; r++) v[r] = convert_float16(convert_int16(vload16(0, a + (ulong)(p * 16 + r) * lda + k0)) - za);
        QTSTORE16(v, dst, 16);
        return;
    }
    for (int kk = 0; kk < kn; kk++)
        for (int r = 0; r < 16; r++) {
            const int m = p * 16 + r;
            dst[kk * 16 + r] = m < M ? (float)((int)a[(ulong)m * lda + k0 + kk] - za) : 0.0f;
        }
}

// global = (RUP(ceil(K/16), 4), NT, 1), local = (4, 1, 1); one 16(k) x 32(columns) block each
kernel void gemm_i8_pack_w(int N, int K, const global char *W, ulong w_off, int ldw, global float *Wp, ulong wp_off) {
    const int k0 = get_global_id(0) * 16, t = get_global_id(1);
    const int NT = (N + 31) / 32;
    if (k0 >= K || t >= NT) return;
    global float *dst = Wp + wp_off + ((ulong)t * K + k0) * 32;
    const int kn = min(16, K - k0);
    if (kn == 16 && t * 32 + 32 <= N) {
        float16 v[16];
        for (int h = 0; h < 2; h++) {
            for (int c = 0; c < 16; c++) v[c] = convert_float16(vload16(0, W + w_off + (ulong)(t * 32 + h * 16 + c) * ldw + k0));
            QTSTORE16(v, dst + h * 16, 32);
        }
        return;
    }
    for (int kk = 0; kk < kn; kk++)
        for (int c = 0; c < 32; c++) {
            const int n = t * 32 + c;
            dst[kk * 32 + c] = n < N ? (float)W[w_off + (ulong)n * ldw + k0 + kk] : 0.0f;
        }
}

// the int8 epilogue of one element: act(acc * sa * sw[n] + bias[n]) stored at (m, n)
inline void qstore(global C_T *cb, int m, int n, ulong c_rs, ulong c_cs, float acc, float sa, const global float *w_scale,
                   ulong ws_off, int w_per_row, const global BIAS_T *bias, ulong bias_off, int has_bias, int act,
                   float act_alpha) {
    const float sc = sa * w_scale[ws_off + (w_per_row ? n : 0)];
    const float bv = has_bias ? HCL_LOAD(BIAS_DT, bias, bias_off + n) : 0.0f;
    HCL_STORE(C_DT, cb, (ulong)m * c_rs + (ulong)n * c_cs, hcl_act_forward(act, acc * sc + bv, act_alpha));
}

// C as in gemm_i8 from the panels, one k chunk of at most QKC per gid2 = b*nsplit + s: with one
// chunk the (exact) float sums go through the epilogue; with several, each chunk's sums go to
// part (batch, nsplit, M, N) f32 and gemm_i8_reduce adds them in int32.
// global = (RUP(MP, 4), NT, batch*nsplit), local = (4, 1, 1)
kernel __attribute__((reqd_work_group_size(4, 1, 1)))
void gemm_i8_main(int M, int N, int K, const global float *Ap, ulong ap_off, const global float *Wp, ulong wp_off,
                  global C_T *Cm, ulong c_off, ulong c_rs, ulong c_cs, ulong c_bstride,
                  const global float *a_scale, ulong as_off, const global float *w_scale, ulong ws_off, int w_per_row,
                  const global BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha,
                  int nsplit, global float *part, ulong part_off) {
    const int p = get_global_id(0), tn = get_global_id(1), bs = get_global_id(2);
    const int b = bs / nsplit, s = bs - b * nsplit;
    const int MP = (M + 15) / 16, n0 = tn * 32;
    if (p >= MP || n0 >= N) return;
    const int kb = s * QKC, ke = min(K, kb + QKC);
    const global float *ap = Ap + ap_off + ((ulong)b * MP + p) * ((ulong)K * 16) + (ulong)kb * 16;
    const global float *bp = Wp + wp_off + (ulong)tn * K * 32 + (ulong)kb * 32;
    float16 c0[16], c1[16];
#pragma unroll
    for (int r = 0; r < 16; r++) { c0[r] = 0.0f; c1[r] = 0.0f; }
    for (int k = kb; k < ke; k++) {
        const float16 b0 = vload16(0, bp), b1 = vload16(0, bp + 16);
        bp += 32;
#pragma unroll
        for (int r = 0; r < 16; r++) {
            const float a = ap[r];
            c0[r] = fma((float16)a, b0, c0[r]);
            c1[r] = fma((float16)a, b1, c1[r]);
        }
        ap += 16;
    }
    const int nv = min(32, N - n0);
    if (nsplit > 1) {
        global float *pp = part + part_off + ((ulong)bs * M) * N;
        for (int r = 0; r < 16; r++) {
            const int m = p * 16 + r;
            if (m >= M) break;
            float t[32];
            vstore16(c0[r], 0, t);
            vstore16(c1[r], 0, t + 16);
            for (int c = 0; c < nv; c++) pp[(ulong)m * N + n0 + c] = t[c];
        }
        return;
    }
    const float sa = a_scale[as_off];
    global C_T *cb = Cm + c_off + (ulong)b * c_bstride;
    for (int r = 0; r < 16; r++) {
        const int m = p * 16 + r;
        if (m >= M) break;
        float t[32];
        vstore16(c0[r], 0, t);
        vstore16(c1[r], 0, t + 16);
        for (int c = 0; c < nv; c++)
            qstore(cb, m, n0 + c, c_rs, c_cs, t[c], sa, w_scale, ws_off, w_per_row, bias, bias_off, has_bias, act, act_alpha);
    }
}

// C (batch, M, N) = epilogue(int32 sum over s of part (batch, nsplit, M, N)). global = (N, M, batch)
kernel void gemm_i8_reduce(int M, int N, int nsplit, const global float *part, ulong part_off,
                           global C_T *Cm, ulong c_off, ulong c_rs, ulong c_cs, ulong c_bstride,
                           const global float *a_scale, ulong as_off, const global float *w_scale, ulong ws_off,
                           int w_per_row, const global BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha) {
    const int n = get_global_id(0), m = get_global_id(1), b = get_global_id(2);
    if (n >= N || m >= M) return;
    const global float *pp = part + part_off + ((ulong)b * nsplit * M + m) * N + n;
    int acc = 0;
    for (int s = 0; s < nsplit; s++) acc += (int)pp[(ulong)s * M * N];
    qstore(Cm + c_off + (ulong)b * c_bstride, m, n, c_rs, c_cs, (float)acc, a_scale[as_off], w_scale, ws_off, w_per_row,
           bias, bias_off, has_bias, act, act_alpha);
}

// cols (batch, P*Q, C*R*S) u8 = im2col of x (batch, C, H, W) u8 for a square R x R kernel,
// stride, pad; taps in the padding read the zero point za. x starts at image n0.
// global = (C*R*S, P*Q, batch)
kernel void im2col_u8(global uchar *cols, ulong cols_off, const global uchar *x, ulong x_off, const global int *a_zp,
                      ulong az_off, int has_azp, int C, int H, int W, int R, int P, int Q, int stride, int pad) {
    const int kidx = get_global_id(0), pq = get_global_id(1), n = get_global_id(2);
    const int CRS = C * R * R;
    if (kidx >= CRS || pq >= P * Q) return;
    const int c = kidx / (R * R), rs = kidx - c * R * R, r = rs / R, sx = rs - r * R;
    const int p = pq / Q, q = pq - p * Q;
    const int h = p * stride - pad + r, wc = q * stride - pad + sx;
    const uchar zp = (uchar)(has_azp ? clamp(a_zp[az_off], 0, 255) : 0);
    uchar v = zp;
    if (h >= 0 && h < H && wc >= 0 && wc < W) v = x[x_off + (((ulong)n * C + c) * H + h) * W + wc];
    cols[cols_off + ((ulong)n * P * Q + pq) * CRS + kidx] = v;
}
