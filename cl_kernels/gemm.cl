// Fast GEMM kernels: C[b] = act(alpha op(A[b]) op(B[b]) + beta C[b] + bias), row-major, storage
// f32/f16/bf16 per tensor (-DA_DT= -DB_DT= -DC_DT= -DBIAS_DT=), accumulation always f32. Packed
// panels (16 rows of op(A), 32 columns of op(B), as float) feed a 16x32 register-tile kernel;
// gemm_small covers tiny and skinny shapes in one launch. Host recipe: src/ops/gemm.c.
//
// op(A) is M x K, op(B) is K x N, C is M x N; op = identity or transpose (int flags). bias (optional)
// is per column. act = enum hcl_activation code, applied with common.h's hcl_act_forward.
// beta == 0 never reads C. Elements of C outside each batch's M x N window are never written.
// Batch strides may be 0 (shared operand). Offsets, leading dims and strides are in elements of the
// buffer's own type; lda/ldb/ldc are the row strides of the STORED (untransposed) matrices.
//
// Packed float layouts, MP = ceil(M/16), NT = ceil(N/32):
//   Ap[((b*MP + p)*K + k)*16 + r] = op(A)[b][16p + r][k]   (0 for rows >= M); batch*MP*16*K floats.
//   Bp[((b*NT + t)*K + k)*32 + c] = op(B)[b][k][32t + c]   (0 for cols >= N); batch*NT*32*K floats.
//   part[((b*S + s)*MP*16 + m)*NT*32 + n] = split-K partial sums; batch*S*MP*16*NT*32 floats.
//
// Launch shapes (RUP(x, y) = x rounded up to a multiple of y). Never local = NULL: PoCL then makes
// one work-group of the whole range and runs it on one thread.
//   gemm_pack_a         global (RUP(ceil(K/16), 4), MP, batch), local (4, 1, 1); 16x16 block per item
//   gemm_pack_b         global (RUP(ceil(K/16), 4), NT, batch), local (4, 1, 1); 16(k) x 32(n) per item
//   gemm_main(_bd)      global (RUP(MP, GEMM_WG), NT, batch*nsplit), local (GEMM_WG, 1, 1); 16x32 tile
//   gemm_splitk_reduce  global (2*NT, RUP(M, 4), batch), local (1, 4, 1); 16 columns of one row
//   gemm_small          global (ceil(N/16), RUP(ceil(M/4), 2), batch), local (1, 2, 1); 4x16 tile
// Never build with -cl-fast-relaxed-math (the conversions rely on exact IEEE behaviour).
#include "common.h"

#ifndef A_DT
#define A_DT f32
#endif
#ifndef B_DT
#define B_DT f32
#endif
#ifndef C_DT
#define C_DT f32
#endif
#ifndef BIAS_DT
#define BIAS_DT f32
#endif
#define A_T HCL_T(A_DT)
#define B_T HCL_T(B_DT)
#define C_T HCL_T(C_DT)
#define BIAS_T HCL_T(BIAS_DT)
// scalar accesses use HCL_LOAD/HCL_STORE (branch-free conversions), 16-wide ones HCL_LOAD16/
// HCL_STORE16 (the x86 F16 instructions where PoCL targets them; see common.h)
#define LOAD_A(p, i) HCL_LOAD(A_DT, p, i)
#define LOAD_A16(p, i) HCL_LOAD16(A_DT, p, i)
#define LOAD_B(p, i) HCL_LOAD(B_DT, p, i)
#define LOAD_B16(p, i) HCL_LOAD16(B_DT, p, i)
#define B_V16 HCL_V16(B_DT)
#define CVT_B16(v) HCL_CVT16(B_DT, v)
#define LOAD_C(p, i) HCL_LOAD(C_DT, p, i)
#define LOAD_C16(p, i) HCL_LOAD16(C_DT, p, i)
#define STORE_C(p, i, v) HCL_STORE(C_DT, p, i, v)
#define STORE_C16(p, i, v) HCL_STORE16(C_DT, p, i, v)
#define LOAD_BIAS(p, i) HCL_LOAD(BIAS_DT, p, i)
#define LOAD_BIAS16(p, i) HCL_LOAD16(BIAS_DT, p, i)

#define GEMM_TM 16            /* rows of C per work-item == packed A panel height */
#define GEMM_TN 32            /* cols of C per work-item (two float16) */
#ifndef GEMM_WG
#define GEMM_WG 4             /* required local size of gemm_main (dim 0) */
#endif

// Software prefetch where the kernel is compiled for a CPU (PoCL: x86-64 or AArch64 target;
// SPIR-based compilers such as rusticl's and oclgrind's define neither): PoCL's prefetch() is a
// no-op, clang's builtin is the CPU's prefetch instruction.
#ifndef GEMM_PREFETCH
#if defined(__x86_64__) || defined(__aarch64__)
#define GEMM_PREFETCH 1
#else
#define GEMM_PREFETCH 0
#endif
#endif
#if GEMM_PREFETCH
// every 64-byte line of [p, p + bytes)
#define GEMM_PF(p, bytes) do { \
    __global const char *pf_ = (__global const char *)(p); \
    for (int o_ = 0; o_ < (int)(bytes); o_ += 64) __builtin_prefetch(pf_ + o_); \
} while (0)
#endif

// epilogue activation of 16 values: hcl_act_forward per element (its formulas, one definition)
inline float16 gemm_act16(float16 x, int act, float act_alpha)
{
    if (act == HCL_ACT_NONE) return x;
    float t[16];
    vstore16(x, 0, t);
    for (int i = 0; i < 16; i++) t[i] = hcl_act_forward(act, t[i], act_alpha);
    return vload16(0, t);
}

/* 16x16 register transpose: row i of the result = component i of v[0..15] */
#define GEMM_TROW(v, i) (float16)(v[0].s##i, v[1].s##i, v[2].s##i, v[3].s##i, v[4].s##i, v[5].s##i, v[6].s##i, v[7].s##i, v[8].s##i, v[9].s##i, v[10].s##i, v[11].s##i, v[12].s##i, v[13].s##i, v[14].s##i, v[15].s##i)
#define GEMM_TSTORE16(v, dst, ds) do { \
    vstore16(GEMM_TROW(v, 0), 0, (dst) + 0 * (ds)); \
    vstore16(GEMM_TROW(v, 1), 0, (dst) + 1 * (ds)); \
    vstore16(GEMM_TROW(v, 2), 0, (dst) + 2 * (ds)); \
    vstore16(GEMM_TROW(v, 3), 0, (dst) + 3 * (ds)); \
    vstore16(GEMM_TROW(v, 4), 0, (dst) + 4 * (ds)); \
    vstore16(GEMM_TROW(v, 5), 0, (dst) + 5 * (ds)); \
    vstore16(GEMM_TROW(v, 6), 0, (dst) + 6 * (ds)); \
    vstore16(GEMM_TROW(v, 7), 0, (dst) + 7 * (ds)); \
    vstore16(GEMM_TROW(v, 8), 0, (dst) + 8 * (ds)); \
    vstore16(GEMM_TROW(v, 9), 0, (dst) + 9 * (ds)); \
    vstore16(GEMM_TROW(v, a), 0, (dst) + 10 * (ds)); \
    vstore16(GEMM_TROW(v, b), 0, (dst) + 11 * (ds)); \
    vstore16(GEMM_TROW(v, c), 0, (dst) + 12 * (ds)); \
    vstore16(GEMM_TROW(v, d), 0, (dst) + 13 * (ds)); \
    vstore16(GEMM_TROW(v, e), 0, (dst) + 14 * (ds)); \
    vstore16(GEMM_TROW(v, f), 0, (dst) + 15 * (ds)); \
} while (0)

// A (batch, M, K) or (batch, K, M) when transA, A_DT -> Ap (batch, MP, K, 16) f32
// Ap[b][p][k][r] = op(A)[b][16p + r][k], 0 for rows >= M. One work-item packs a 16(m) x 16(k) block.
// global = (RUP(ceil(K/16), 4), MP, batch), local = (4, 1, 1)
__kernel void gemm_pack_a(int M, int K, int transA,
                          __global const A_T *A, ulong a_off, int lda, ulong a_bstride,
                          __global float *Ap, ulong ap_off)
{
    const int k0 = get_global_id(0) * 16;
    const int p = get_global_id(1);
    const int b = get_global_id(2);
    const int MP = (M + 15) / 16;
    const int m0 = p * 16;
    if (k0 >= K || p >= MP) return;
    __global const A_T *a = A + a_off + (ulong)b * a_bstride;
    __global float *dst = Ap + ap_off + ((ulong)b * MP + p) * ((ulong)K * 16) + (ulong)k0 * 16;
#if GEMM_PREFETCH
    if (transA) for (int kk = 0; kk < min(16, K - k0); kk++) GEMM_PF(a + (ulong)(k0 + kk) * lda + m0, min(16, M - m0) * sizeof(A_T));
    else for (int r = 0; r < min(16, M - m0); r++) GEMM_PF(a + (ulong)(m0 + r) * lda + k0, min(16, K - k0) * sizeof(A_T));
#endif
    if (m0 + 16 <= M && k0 + 16 <= K) {
        if (transA) {                       /* op(A)[m][k] = A[k*lda + m]: rows of A are k */
            for (int kk = 0; kk < 16; kk++)
                vstore16(LOAD_A16(a, (ulong)(k0 + kk) * lda + m0), kk, dst);
        } else {                            /* op(A)[m][k] = A[m*lda + k]: transpose 16x16 */
            float16 v[16];
#pragma unroll
            for (int r = 0; r < 16; r++) v[r] = LOAD_A16(a, (ulong)(m0 + r) * lda + k0);
            GEMM_TSTORE16(v, dst, 16);
        }
        return;
    }
    const int kn = min(16, K - k0);
    for (int kk = 0; kk < kn; kk++)
        for (int r = 0; r < 16; r++) {
            const int m = m0 + r, k = k0 + kk;
            dst[kk * 16 + r] = (m < M) ? LOAD_A(a, transA ? (ulong)k * lda + m : (ulong)m * lda + k) : 0.0f;
        }
}

// B (batch, K, N) or (batch, N, K) when transB, B_DT -> Bp (batch, NT, K, 32) f32
// Bp[b][t][k][c] = op(B)[b][k][32t + c], 0 for columns >= N. One work-item packs 16(k) x 32(n).
// global = (RUP(ceil(K/16), 4), NT, batch), local = (4, 1, 1)
__kernel void gemm_pack_b(int N, int K, int transB,
                          __global const B_T *B, ulong b_off, int ldb, ulong b_bstride,
                          __global float *Bp, ulong bp_off)
{
    const int k0 = get_global_id(0) * 16;
    const int t = get_global_id(1);
    const int b = get_global_id(2);
    const int NT = (N + 31) / 32;
    const int n0 = t * 32;
    if (k0 >= K || t >= NT) return;
    __global const B_T *src = B + b_off + (ulong)b * b_bstride;
    __global float *dst = Bp + bp_off + ((ulong)b * NT + t) * ((ulong)K * 32) + (ulong)k0 * 32;
#if GEMM_PREFETCH
    /* the rows below lie ldb apart: request them all before the first use */
    if (!transB) for (int kk = 0; kk < min(16, K - k0); kk++) GEMM_PF(src + (ulong)(k0 + kk) * ldb + n0, min(32, N - n0) * sizeof(B_T));
    else for (int c = 0; c < min(32, N - n0); c++) GEMM_PF(src + (ulong)(n0 + c) * ldb + k0, min(16, K - k0) * sizeof(B_T));
#endif
    if (n0 + 32 <= N && k0 + 16 <= K) {
        if (!transB) {                      /* op(B)[k][n] = B[k*ldb + n] */
            for (int kk = 0; kk < 16; kk++) {
                vstore16(LOAD_B16(src, (ulong)(k0 + kk) * ldb + n0), 2 * kk, dst);
                vstore16(LOAD_B16(src, (ulong)(k0 + kk) * ldb + n0 + 16), 2 * kk + 1, dst);
            }
        } else {                            /* op(B)[k][n] = B[n*ldb + k]: transpose 32x16 */
            float16 v[16];
#pragma unroll
            for (int c = 0; c < 16; c++) v[c] = LOAD_B16(src, (ulong)(n0 + c) * ldb + k0);
            GEMM_TSTORE16(v, dst, 32);
#pragma unroll
            for (int c = 0; c < 16; c++) v[c] = LOAD_B16(src, (ulong)(n0 + 16 + c) * ldb + k0);
            GEMM_TSTORE16(v, dst + 16, 32);
        }
        return;
    }
    const int kn = min(16, K - k0);
    for (int kk = 0; kk < kn; kk++)
        for (int c = 0; c < 32; c++) {
            const int n = n0 + c, k = k0 + kk;
            dst[kk * 32 + c] = (n < N) ? LOAD_B(src, transB ? (ulong)n * ldb + k : (ulong)k * ldb + n) : 0.0f;
        }
}

// C row segment (nvalid of 16) C_DT = act(alpha acc + beta C + bias); beta 0 never reads C
inline void gemm_store16(__global C_T *crow, int nvalid, float16 acc, float alpha, float beta,
                         __global const BIAS_T *bias, int act, float act_alpha)
{
    float16 r = alpha * acc;
    if (nvalid >= 16) {
        if (beta != 0.0f) r += beta * LOAD_C16(crow, 0);
        if (bias) r += LOAD_BIAS16(bias, 0);
        r = gemm_act16(r, act, act_alpha);
        STORE_C16(crow, 0, r);
    } else {
        float t[16];
        vstore16(r, 0, t);
        for (int c = 0; c < nvalid; c++) {
            float x = t[c];
            if (beta != 0.0f) x += beta * LOAD_C(crow, c);
            if (bias) x += LOAD_BIAS(bias, c);
            STORE_C(crow, c, hcl_act_forward(act, x, act_alpha));
        }
    }
}

// C (batch, M, N) C_DT = epilogue(Ap (batch, MP, K, 16) f32 x B panels), or when nsplit > 1
// part (batch, nsplit, MP*16, NT*32) f32 = raw partial sums over k in [s*kchunk, (s+1)*kchunk).
// One work-item = one 16x32 tile of C in 32 float16 accumulators: A panel p = gid0, B panel
// tn = gid1, gid2 = b*nsplit + s. B panel tn starts at b_off + b*b_bstride + tn*b_tstride, one k row
// every b_rstride elements: packed Bp (gemm_main: b_bstride = NT*K*32, b_tstride = K*32,
// b_rstride = 32) or B itself (gemm_main_bd, B_DT, op(B) = B, N % 32 == 0: b_bstride = B's batch
// stride, b_tstride = 32, b_rstride = ldb). No bounds checks in the k loop (the padding is in the
// panels); C bounds are checked at the store.
// global = (RUP(MP, GEMM_WG), NT, batch*nsplit), local = (GEMM_WG, 1, 1)
// GEMM_PF_C: prefetch the C rows of tile (p, tn) that the epilogue will read (beta != 0): they
// lie ldc apart, which the hardware prefetchers do not follow. No-op without GEMM_PREFETCH.
#if GEMM_PREFETCH
#define GEMM_PF_C(cond, p, tn) do { \
    if ((cond) && (p) * GEMM_TM < M && (tn) * GEMM_TN < N) { \
        __global const C_T *cp_ = C + c_off + (ulong)b * c_bstride + (ulong)((p) * GEMM_TM) * ldc + (tn) * GEMM_TN; \
        for (int r_ = 0; r_ < min(GEMM_TM, M - (p) * GEMM_TM); r_++) GEMM_PF(cp_ + (ulong)r_ * ldc, GEMM_TN * sizeof(C_T)); \
    } \
} while (0)
#else
#define GEMM_PF_C(cond, p, tn) do { } while (0)
#endif
#define GEMM_LDF16(p, i) vload16(0, (p) + (i))
#define GEMM_MAIN_DEF(NAME, BT, BLD16) \
__kernel __attribute__((reqd_work_group_size(GEMM_WG, 1, 1))) \
void NAME(int M, int N, int K, \
          __global const float *Ap, ulong ap_off, \
          __global const BT *B, ulong b_off, ulong b_bstride, ulong b_tstride, int b_rstride, \
          __global C_T *C, ulong c_off, int ldc, ulong c_bstride, \
          float alpha, float beta, \
          __global const BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha, \
          int nsplit, int kchunk, __global float *part, ulong part_off) \
{ \
    const int p = get_global_id(0); \
    const int tn = get_global_id(1); \
    const int bs = get_global_id(2); \
    const int b = bs / nsplit, s = bs - b * nsplit; \
    const int n0 = tn * GEMM_TN; \
    const int MP = (M + GEMM_TM - 1) / GEMM_TM; \
    const int NT = (N + GEMM_TN - 1) / GEMM_TN; \
    if (n0 >= N || p >= MP) return; \
    const int kb = s * kchunk, ke = min(K, kb + kchunk); \
    __global const float *ap = Ap + ap_off + ((ulong)b * MP + p) * ((ulong)K * GEMM_TM) + (ulong)kb * GEMM_TM; \
    __global const BT *bp = B + b_off + (ulong)b * b_bstride + (ulong)tn * b_tstride + (ulong)kb * b_rstride; \
 \
    float16 c0[GEMM_TM], c1[GEMM_TM]; \
_Pragma("unroll") \
    for (int r = 0; r < GEMM_TM; r++) { c0[r] = 0.0f; c1[r] = 0.0f; } \
    GEMM_PF_C(beta != 0.0f && nsplit == 1, p, tn); \
 \
    for (int k = kb; k < ke; k++) { \
        const float16 b0 = BLD16(bp, 0); \
        const float16 b1 = BLD16(bp, 16); \
        bp += b_rstride; \
_Pragma("unroll") \
        for (int r = 0; r < GEMM_TM; r++) { \
            const float a = ap[r]; \
            c0[r] = fma((float16)a, b0, c0[r]); \
            c1[r] = fma((float16)a, b1, c1[r]); \
        } \
        ap += GEMM_TM; \
    } \
 \
    const int m0 = p * GEMM_TM; \
    if (nsplit > 1) { \
        __global float *pp = part + part_off + (((ulong)bs * MP + p) * GEMM_TM) * ((ulong)NT * GEMM_TN) + n0; \
_Pragma("unroll") \
        for (int r = 0; r < GEMM_TM; r++) { \
            vstore16(c0[r], 0, pp + (ulong)r * NT * GEMM_TN); \
            vstore16(c1[r], 0, pp + (ulong)r * NT * GEMM_TN + 16); \
        } \
        return; \
    } \
    __global C_T *cb = C + c_off + (ulong)b * c_bstride; \
    __global const BIAS_T *bb = has_bias ? (bias + bias_off + n0) : (__global const BIAS_T *)0; \
    const int nv = N - n0; \
_Pragma("unroll") \
    for (int r = 0; r < GEMM_TM; r++) { \
        if (m0 + r < M) { \
            __global C_T *crow = cb + (ulong)(m0 + r) * ldc + n0; \
            gemm_store16(crow, nv, c0[r], alpha, beta, bb, act, act_alpha); \
            if (nv > 16) gemm_store16(crow + 16, nv - 16, c1[r], alpha, beta, bb ? bb + 16 : bb, act, act_alpha); \
        } \
    } \
}

GEMM_MAIN_DEF(gemm_main, float, GEMM_LDF16)        /* B = packed float panels (gemm_pack_b) */
GEMM_MAIN_DEF(gemm_main_bd, B_T, LOAD_B16)         /* B = raw op(B)=B (no transpose), N % 32 == 0 */

// C (batch, M, N) C_DT = epilogue(sum over s = 0..nsplit-1, in order, of part (batch, nsplit, MP*16, NT*32) f32)
// global = (2*NT, RUP(M, 4), batch), local = (1, 4, 1)
__kernel void gemm_splitk_reduce(int M, int N, int nsplit, __global const float *part, ulong part_off,
                                 __global C_T *C, ulong c_off, int ldc, ulong c_bstride,
                                 float alpha, float beta,
                                 __global const BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha)
{
    const int n0 = get_global_id(0) * 16;
    const int m = get_global_id(1);
    const int b = get_global_id(2);
    if (n0 >= N || m >= M) return;
    const int MP = (M + GEMM_TM - 1) / GEMM_TM;
    const int NT = (N + GEMM_TN - 1) / GEMM_TN;
    const ulong sstride = (ulong)MP * GEMM_TM * NT * GEMM_TN;
    __global const float *pp = part + part_off + (ulong)b * nsplit * sstride + (ulong)m * NT * GEMM_TN + n0;
    float16 acc = vload16(0, pp);
    for (int s = 1; s < nsplit; s++) acc += vload16(0, pp + s * sstride);
    __global const BIAS_T *bb = has_bias ? (bias + bias_off + n0) : (__global const BIAS_T *)0;
    gemm_store16(C + c_off + (ulong)b * c_bstride + (ulong)m * ldc + n0, N - n0, acc, alpha, beta, bb, act, act_alpha);
}

// C (batch, M, N) C_DT = act(alpha op(A) op(B) + beta C + bias), A (batch, M, K) A_DT or (K, M) when
// transA, B (batch, K, N) B_DT or (N, K) when transB: unpacked, any shape, one launch; one
// work-item computes a 4(m) x 16(n) tile of C.
// global = (ceil(N/16), RUP(ceil(M/4), 2), batch), local = (1, 2, 1)
__kernel void gemm_small(int M, int N, int K, int transA, int transB,
                         __global const A_T *A, ulong a_off, int lda, ulong a_bstride,
                         __global const B_T *B, ulong b_off, int ldb, ulong b_bstride,
                         __global C_T *C, ulong c_off, int ldc, ulong c_bstride,
                         float alpha, float beta,
                         __global const BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha)
{
    const int n0 = get_global_id(0) * 16;
    const int m0 = get_global_id(1) * 4;
    const int b = get_global_id(2);
    if (n0 >= N || m0 >= M) return;
    __global const A_T *a = A + a_off + (ulong)b * a_bstride;
    __global const B_T *bm = B + b_off + (ulong)b * b_bstride;
    /* rows past M are clamped to M-1 (valid memory); their results are never stored */
    const ulong r0 = min(m0, M - 1), r1 = min(m0 + 1, M - 1), r2 = min(m0 + 2, M - 1), r3 = min(m0 + 3, M - 1);
    const ulong as = transA ? (ulong)lda : 1;                       /* step along k */
    ulong i0 = transA ? r0 : r0 * lda, i1 = transA ? r1 : r1 * lda;
    ulong i2 = transA ? r2 : r2 * lda, i3 = transA ? r3 : r3 * lda;
    float16 c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
    if (!transB && n0 + 16 <= N) {
        __global const B_T *bp = bm + n0;
        for (int k = 0; k < K; k++) {
            const float16 bv = LOAD_B16(bp, 0);
            bp += ldb;
            c0 = fma((float16)LOAD_A(a, i0), bv, c0);
            c1 = fma((float16)LOAD_A(a, i1), bv, c1);
            c2 = fma((float16)LOAD_A(a, i2), bv, c2);
            c3 = fma((float16)LOAD_A(a, i3), bv, c3);
            i0 += as; i1 += as; i2 += as; i3 += as;
        }
    } else {
        /* columns past N are clamped to N-1 (valid memory); their results are never stored */
        const int16 cn = min((int16)(n0) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), (int16)(N - 1));
        ulong16 bo = transB ? convert_ulong16(cn) * (ulong)ldb : convert_ulong16(cn);
        const ulong bstep = transB ? 1 : (ulong)ldb;
        for (int k = 0; k < K; k++) {
            const float16 bv = CVT_B16((B_V16)(bm[bo.s0], bm[bo.s1], bm[bo.s2], bm[bo.s3], bm[bo.s4], bm[bo.s5], bm[bo.s6], bm[bo.s7], bm[bo.s8], bm[bo.s9], bm[bo.sa], bm[bo.sb], bm[bo.sc], bm[bo.sd], bm[bo.se], bm[bo.sf]));
            bo += bstep;
            c0 = fma((float16)LOAD_A(a, i0), bv, c0);
            c1 = fma((float16)LOAD_A(a, i1), bv, c1);
            c2 = fma((float16)LOAD_A(a, i2), bv, c2);
            c3 = fma((float16)LOAD_A(a, i3), bv, c3);
            i0 += as; i1 += as; i2 += as; i3 += as;
        }
    }
    __global C_T *cb = C + c_off + (ulong)b * c_bstride + (ulong)m0 * ldc + n0;
    __global const BIAS_T *bb = has_bias ? (bias + bias_off + n0) : (__global const BIAS_T *)0;
    const int nv = N - n0;
    gemm_store16(cb, nv, c0, alpha, beta, bb, act, act_alpha);
    if (m0 + 1 < M) gemm_store16(cb + ldc, nv, c1, alpha, beta, bb, act, act_alpha);
    if (m0 + 2 < M) gemm_store16(cb + 2 * (ulong)ldc, nv, c2, alpha, beta, bb, act, act_alpha);
    if (m0 + 3 < M) gemm_store16(cb + 3 * (ulong)ldc, nv, c3, alpha, beta, bb, act, act_alpha);
}

// C (batch, M, N) C_DT = act(alpha A B^T + beta C + bias), A (batch, M, K) A_DT, B (batch, N, K)
// B_DT: the NT case, where both operands run contiguously along k, without packing (CPUs: the
// transposing B pack cost more than the product). One work-item = a DOT_TM x DOT_TN block of dot
// products of whole rows, float16 accumulators over 16 k at a time (k tail scalar), each summed by a
// fixed tree at the end. Rows past M / N are clamped to the last one (valid memory); their results
// are never stored. dim 0 = blocks of m, so the work-items of a group share their B rows.
// global = (RUP(ceil(M/DOT_TM), DOT_WG), ceil(N/DOT_TN), batch), local = (DOT_WG, 1, 1)
#define DOT_TM 4
#define DOT_TN 4
inline float gemm_hsum16(float16 v)
{
    const float8 a = v.lo + v.hi;
    const float4 b = a.lo + a.hi;
    const float2 c = b.lo + b.hi;
    return c.x + c.y;
}
__kernel void gemm_dot_nt(int M, int N, int K,
                          __global const A_T *A, ulong a_off, int lda, ulong a_bstride,
                          __global const B_T *B, ulong b_off, int ldb, ulong b_bstride,
                          __global C_T *C, ulong c_off, int ldc, ulong c_bstride,
                          float alpha, float beta,
                          __global const BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha)
{
    const int m0 = get_global_id(0) * DOT_TM;
    const int n0 = get_global_id(1) * DOT_TN;
    const int b = get_global_id(2);
    if (m0 >= M || n0 >= N) return;
    __global const A_T *a = A + a_off + (ulong)b * a_bstride;
    __global const B_T *bm = B + b_off + (ulong)b * b_bstride;
    ulong ar[DOT_TM], br[DOT_TN];
#pragma unroll
    for (int r = 0; r < DOT_TM; r++) ar[r] = (ulong)min(m0 + r, M - 1) * lda;
#pragma unroll
    for (int c = 0; c < DOT_TN; c++) br[c] = (ulong)min(n0 + c, N - 1) * ldb;
    float16 acc[DOT_TM][DOT_TN];
#pragma unroll
    for (int r = 0; r < DOT_TM; r++)
#pragma unroll
        for (int c = 0; c < DOT_TN; c++) acc[r][c] = 0.0f;
    const int K16 = K & ~15;
    for (int k = 0; k < K16; k += 16) {
        float16 bv[DOT_TN];
#pragma unroll
        for (int c = 0; c < DOT_TN; c++) bv[c] = LOAD_B16(bm, br[c] + k);
#pragma unroll
        for (int r = 0; r < DOT_TM; r++) {
            const float16 av = LOAD_A16(a, ar[r] + k);
#pragma unroll
            for (int c = 0; c < DOT_TN; c++) acc[r][c] = fma(av, bv[c], acc[r][c]);
        }
    }
    float s[DOT_TM][DOT_TN];
#pragma unroll
    for (int r = 0; r < DOT_TM; r++)
#pragma unroll
        for (int c = 0; c < DOT_TN; c++) s[r][c] = gemm_hsum16(acc[r][c]);
    for (int k = K16; k < K; k++)
#pragma unroll
        for (int r = 0; r < DOT_TM; r++) {
            const float av = LOAD_A(a, ar[r] + k);
#pragma unroll
            for (int c = 0; c < DOT_TN; c++) s[r][c] = fma(av, LOAD_B(bm, br[c] + k), s[r][c]);
        }
    __global C_T *cb = C + c_off + (ulong)b * c_bstride;
#pragma unroll
    for (int r = 0; r < DOT_TM; r++)
#pragma unroll
        for (int c = 0; c < DOT_TN; c++) {
            if (m0 + r < M && n0 + c < N) {
                const ulong ci = (ulong)(m0 + r) * ldc + n0 + c;
                float x = alpha * s[r][c];
                if (beta != 0.0f) x += beta * LOAD_C(cb, ci);
                if (has_bias) x += LOAD_BIAS(bias, bias_off + n0 + c);
                STORE_C(cb, ci, hcl_act_forward(act, x, act_alpha));
            }
        }
}

// C (batch, M, N) C_DT = act(C + bias (N) BIAS_DT): the epilogue after CLBlast, which has none.
// global = (N, M, batch), any local
__kernel void gemm_epilogue(int M, int N, __global C_T *C, ulong c_off, int ldc, ulong c_bstride,
                            __global const BIAS_T *bias, ulong bias_off, int has_bias, int act, float act_alpha)
{
    const int n = get_global_id(0), m = get_global_id(1), b = get_global_id(2);
    if (n >= N || m >= M) return;
    const ulong i = c_off + (ulong)b * c_bstride + (ulong)m * ldc + n;
    float v = LOAD_C(C, i);
    if (has_bias) v += LOAD_BIAS(bias, bias_off + n);
    STORE_C(C, i, hcl_act_forward(act, v, act_alpha));
}
