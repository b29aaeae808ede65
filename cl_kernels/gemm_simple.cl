// Simple, always-correct GEMM: one work-item per element of C. Used for tiny shapes and as the
// fallback; the fast packed kernels live in gemm.cl.
// Built with -DA_DT= -DB_DT= -DC_DT= -DBIAS_DT= (f32/f16/bf16).
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

// C (batch, M, N) = act(alpha op(A) op(B) + beta C + bias); A (M,K) or (K,M) if trans_a with row
// stride lda; B (K,N) or (N,K) if trans_b with row stride ldb; batch strides sa, sb, sc.
// global = (N, M, batch)
kernel void gemm_simple(global HCL_T(C_DT) *c, ulong c_off, ulong ldc, ulong sc,
                        const global HCL_T(A_DT) *a, ulong a_off, ulong lda, ulong sa,
                        const global HCL_T(B_DT) *b, ulong b_off, ulong ldb, ulong sb,
                        const global HCL_T(BIAS_DT) *bias, ulong bias_off, int has_bias,
                        ulong M, ulong N, ulong K, int trans_a, int trans_b,
                        float alpha, float beta, int act, float act_alpha) {
    size_t n = get_global_id(0), m = get_global_id(1), bt = get_global_id(2);
    if (n >= N || m >= M) return;
    size_t ab = a_off + bt * sa, bb = b_off + bt * sb, cb = c_off + bt * sc;
    float acc = 0.0f;
    for (size_t k = 0; k < K; k++) {
        float av = HCL_LOAD(A_DT, a, ab + (trans_a ? k * lda + m : m * lda + k));
        float bv = HCL_LOAD(B_DT, b, bb + (trans_b ? n * ldb + k : k * ldb + n));
        acc = fma(av, bv, acc);
    }
    float v = alpha * acc;
    if (beta != 0.0f) v += beta * HCL_LOAD(C_DT, c, cb + m * ldc + n);
    if (has_bias) v += HCL_LOAD(BIAS_DT, bias, bias_off + n);
    HCL_STORE(C_DT, c, cb + m * ldc + n, hcl_act_forward(act, v, act_alpha));
}
