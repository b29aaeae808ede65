// Shared OpenCL C helpers: dtype storage types, exact F16/BF16 <-> F32 conversions (round to
// nearest even, subnormals, inf, NaN) and the load/store macros every kernel uses, so that a
// kernel is written once and its dtypes come in through -D options (e.g. -DX_DT=f16).
#ifndef HCL_COMMON_H
#define HCL_COMMON_H

#ifndef HCL_NATIVE_HALF
#define HCL_NATIVE_HALF 0
#endif
#if HCL_NATIVE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif
// A file that must keep NaN payloads bit for bit (tensor.cl's cast) defines HCL_EXACT_NAN 1
// first: its F16 conversions are then the integer forms on every device.
#ifndef HCL_EXACT_NAN
#define HCL_EXACT_NAN 0
#endif

// dtype codes, the same numbers as enum hcl_dtype on the host
#define HCL_DT_CODE_f32 0
#define HCL_DT_CODE_f16 1
#define HCL_DT_CODE_bf16 2
#define HCL_DT_CODE_i32 3
#define HCL_DT_CODE_u8 4
#define HCL_DT_CODE_i8 5

#define HCL_CAT_(a, b) a##b
#define HCL_CAT(a, b) HCL_CAT_(a, b)
#define HCL_IS_F16(dt) (HCL_CAT(HCL_DT_CODE_, dt) == HCL_DT_CODE_f16)

// Native half arithmetic (cl_khr_fp16) for kernels whose tensors are all F16, used only where it
// gives the same bits as the F32 path: one add, subtract, multiply, max or select of halves,
// rounded once to half, equals the float result rounded to half (float's 24-bit significand is
// at least 2 x 11 + 2 bits, so the double rounding is innocuous). Anything longer (activation
// curves, sums, norms, softmax, losses, optimizer updates) stays in float.
#if HCL_NATIVE_HALF
#define HCL_HLOAD8(p, i) vload8(0, (const global half *)(p) + (i))
#define HCL_HSTORE8(p, i, v) vstore8((v), 0, (global half *)(p) + (i))
#define HCL_HLOAD(p, i) (((const global half *)(p))[i])
#define HCL_HSTORE(p, i, v) (((global half *)(p))[i] = (v))
#endif

typedef float hcl_storage_f32;
typedef ushort hcl_storage_f16;
typedef ushort hcl_storage_bf16;
typedef int hcl_storage_i32;
typedef uchar hcl_storage_u8;
typedef char hcl_storage_i8;

// storage type, load (to float) and store (from float) for a dtype name: HCL_T(f16) etc.
#define HCL_T(dt) HCL_CAT(hcl_storage_, dt)
#define HCL_LOAD(dt, p, i) HCL_CAT(hcl_load_, dt)((p), (i))
#define HCL_STORE(dt, p, i, v) HCL_CAT(hcl_store_, dt)((p), (i), (v))

// ---- F16 bits <-> F32, exact, integer bit operations (PoCL's vload_half is slow). Branch-free
// (selects), so PoCL's work-item loop vectoriser handles 1-element kernels (F16 relu 4x faster). ----
inline float hcl_f16_bits_to_f32(uint h) {
    uint sign = (h & 0x8000u) << 16;
    int em = (int)(h & 0x7fffu);
    uint r = ((uint)em << 13) + 0x38000000u;                   // normal: rebias the exponent
    r = em >= 0x7c00 ? (((uint)em << 13) | 0x7f800000u) : r;   // inf / NaN, payload kept
    r = em < 0x400 ? as_uint((float)em * 5.9604644775390625e-8f) : r;  // zero / subnormal, exact
    return as_float(r | sign);
}

inline uint hcl_f32_to_f16_bits(float f) {
    uint x = as_uint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint ax = x & 0x7fffffffu;
    uint r = (ax + 0xfffu + ((ax >> 13) & 1u) - 0x38000000u) >> 13;  // normal, RNE at bit 13
    r = ax >= 0x477ff000u ? 0x7c00u : r;                               // overflow -> inf
    // below the smallest normal: adding 0.5f puts the half ulp 2^-24 at the float's last bit,
    // so the FPU's round-to-nearest-even rounds
    r = ax < 0x38800000u ? as_uint(as_float(ax) + 0.5f) - 0x3f000000u : r;
    uint man = (ax >> 13) & 0x3ffu;
    r = ax > 0x7f800000u ? (0x7c00u | (man ? man : 0x200u)) : r;      // NaN stays NaN
    return r | sign;
}

// ---- BF16 bits <-> F32 ----
inline float hcl_bf16_bits_to_f32(uint h) { return as_float(h << 16); }

inline uint hcl_f32_to_bf16_bits(float f) {
    uint x = as_uint(f), h = x >> 16;
    uint r = (x + 0x7fffu + (h & 1u)) >> 16;
    return (x & 0x7fffffffu) > 0x7f800000u ? ((h & 0x7fu) ? h : (h | 0x40u)) : r;
}

// ---- element load/store by dtype; offsets are already applied by the caller's index ----
inline float hcl_load_f32(const global float *p, size_t i) { return p[i]; }
inline void hcl_store_f32(global float *p, size_t i, float v) { p[i] = v; }
#if HCL_NATIVE_HALF && !HCL_EXACT_NAN
// a half load or store and an implicit conversion (round to nearest even), not vload_half /
// vstore_half_rte / convert_half_rte: Intel's CPU compiler vectorises these across work-items
// (conv forward with F16 output 1.2-1.3 ms -> 0.3-0.6 ms; vload_half made training 1.7x slower)
inline float hcl_load_f16(const global ushort *p, size_t i) { return (float)((const global half *)p)[i]; }
inline void hcl_store_f16(global ushort *p, size_t i, float v) { ((global half *)p)[i] = (half)v; }
#else
inline float hcl_load_f16(const global ushort *p, size_t i) { return hcl_f16_bits_to_f32(p[i]); }
inline void hcl_store_f16(global ushort *p, size_t i, float v) { p[i] = (ushort)hcl_f32_to_f16_bits(v); }
#endif
inline float hcl_load_bf16(const global ushort *p, size_t i) { return hcl_bf16_bits_to_f32(p[i]); }
// BF16 stays in integer form on every device: Intel's bfloat16 conversion built-ins (probed as
// has_bf16_conversions) measured no faster on its CPU runtime (2026.2, AVX512-BF16 host)
inline void hcl_store_bf16(global ushort *p, size_t i, float v) { p[i] = (ushort)hcl_f32_to_bf16_bits(v); }
inline float hcl_load_i32(const global int *p, size_t i) { return (float)p[i]; }
inline void hcl_store_i32(global int *p, size_t i, float v) { p[i] = (int)v; }
inline float hcl_load_u8(const global uchar *p, size_t i) { return (float)p[i]; }
inline void hcl_store_u8(global uchar *p, size_t i, float v) { p[i] = (uchar)v; }
inline float hcl_load_i8(const global char *p, size_t i) { return (float)p[i]; }
inline void hcl_store_i8(global char *p, size_t i, float v) { p[i] = (char)v; }


#ifndef HCL_COMMON_ACT_H
#define HCL_COMMON_ACT_H
// ---- activations (codes = enum hcl_activation), shared by activation.cl and GEMM epilogues ----
#define HCL_ACT_NONE 0
#define HCL_ACT_RELU 1
#define HCL_ACT_LEAKY_RELU 2
#define HCL_ACT_SIGMOID 3
#define HCL_ACT_TANH 4
#define HCL_ACT_GELU 5
#define HCL_ACT_GELU_TANH 6
#define HCL_ACT_SILU 7

inline float hcl_sigmoid(float x) {
    // stable for large |x|: never exp of a large positive number
    float e = exp(-fabs(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

// erfc(x) to a few 1e-7 relative for |x| < 4 (Numerical Recipes' Chebyshev fit, fractional error
// < 1.2e-7; beyond, the rounding of x^2 costs up to ~4e-6 relative where erfc < 1e-7), with one
// exp: PoCL's own erf/erfc cost ~100x an exp.
inline float hcl_erfc(float x) {
    float z = fabs(x), t = 1.0f / (1.0f + 0.5f * z);
    float p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f +
              t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float r = t * exp(p - z * z);
    return x >= 0.0f ? r : 2.0f - r;
}

inline float hcl_act_forward(int act, float x, float alpha) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case HCL_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case HCL_ACT_SIGMOID: return hcl_sigmoid(x);
    case HCL_ACT_TANH: return tanh(x);
    // 1 + erf(z) = erfc(-z) and 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation for x << 0
    case HCL_ACT_GELU: return 0.5f * x * hcl_erfc(x * -0.70710678118654752f);
    case HCL_ACT_GELU_TANH: {
        float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
        return x * hcl_sigmoid(2.0f * u);
    }
    case HCL_ACT_SILU: return x * hcl_sigmoid(x);
    default: return x;
    }
}

// d act(x) / dx at the forward input x (dx = dy * hcl_act_backward(act, x, alpha)). Written to
// stay finite and accurate for large |x|: sigmoid' and tanh' as e/(1+e)^2 with e = exp(-|.|),
// GELU's Phi through erfc (no cancellation for x << 0).
inline float hcl_act_backward(int act, float x, float alpha) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case HCL_ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : alpha;
    case HCL_ACT_SIGMOID: {  // s (1 - s)
        float e = exp(-fabs(x));
        return e / ((1.0f + e) * (1.0f + e));
    }
    case HCL_ACT_TANH: {     // 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|x|)
        float e = exp(-2.0f * fabs(x));
        return 4.0f * e / ((1.0f + e) * (1.0f + e));
    }
    case HCL_ACT_GELU: {     // Phi(x) + x phi(x)
        float cdf = 0.5f * hcl_erfc(-x * 0.70710678118654752f);
        return cdf + x * 0.39894228040143268f * exp(-0.5f * x * x);
    }
    case HCL_ACT_GELU_TANH: { // 0.5 (1 + t) + 0.5 x (1 - t^2) u', t = tanh(u), u = c (x + 0.044715 x^3)
        float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
        float e = exp(-2.0f * fabs(u));
        float sech2 = 4.0f * e / ((1.0f + e) * (1.0f + e));
        return hcl_sigmoid(2.0f * u) + 0.5f * x * sech2 * 0.79788456080286536f * (1.0f + 0.134145f * x * x);
    }
    case HCL_ACT_SILU: {     // s + x s (1 - s), with s and 1 - s both computed without cancellation
        float e = exp(-fabs(x)), r = 1.0f / (1.0f + e);
        float s = x >= 0.0f ? r : e * r, oms = x >= 0.0f ? e * r : r;
        return s + x * s * oms;
    }
    default: return 1.0f;
    }
}
#endif  // HCL_COMMON_ACT_H

#ifndef HCL_COMMON_VEC_H
#define HCL_COMMON_VEC_H
// ---- 8-wide conversions and loads/stores for bandwidth-bound kernels. Branch-free (select),
// bit-identical to the scalar functions above. vload8/vstore8 need only element alignment, so
// any element offset works. ----
inline float8 hcl_f16x8_bits_to_f32(uint8 h) {
    uint8 sign = (h & 0x8000u) << 16;
    uint8 em = h & 0x7fffu;
    uint8 normal = (em << 13) + 0x38000000u;
    uint8 special = 0x7f800000u | ((em & 0x3ffu) << 13);
    uint8 sub = as_uint8(convert_float8(em) * 5.9604644775390625e-8f);
    uint8 r = select(normal, special, em >= (uint8)0x7c00u);
    r = select(r, sub, em < (uint8)0x400u);
    return as_float8(r | sign);
}

inline uint8 hcl_f32x8_to_f16_bits(float8 f) {
    uint8 x = as_uint8(f);
    uint8 sign = (x >> 16) & 0x8000u;
    uint8 ax = x & 0x7fffffffu;
    uint8 normal = (ax + 0xfffu + ((ax >> 13) & 1u) - 0x38000000u) >> 13;
    // subnormal/zero: adding 0.5f aligns the half's ulp (2^-24) with the float's last bit, so the
    // FPU's round-to-nearest-even does the rounding
    uint8 sub = as_uint8(as_float8(ax) + 0.5f) - 0x3f000000u;
    uint8 man = (ax >> 13) & 0x3ffu;
    uint8 nan = 0x7c00u | select(man, (uint8)0x200u, man == (uint8)0u);
    uint8 r = select(normal, sub, ax < (uint8)0x38800000u);
    r = select(r, (uint8)0x7c00u, ax >= (uint8)0x477ff000u);
    r = select(r, nan, ax > (uint8)0x7f800000u);
    return r | sign;
}

inline float8 hcl_bf16x8_bits_to_f32(uint8 h) { return as_float8(h << 16); }

inline uint8 hcl_f32x8_to_bf16_bits(float8 f) {
    uint8 x = as_uint8(f);
    uint8 r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    uint8 h = x >> 16;
    uint8 nan = select(h, h | 0x40u, (h & 0x7fu) == (uint8)0u);
    return select(r, nan, (x & 0x7fffffffu) > (uint8)0x7f800000u);
}

// 8 consecutive elements starting at p[i], as float8 / stored from float8: HCL_LOAD8(dt, p, i)
#define HCL_LOAD8(dt, p, i) HCL_CAT(hcl_load8_, dt)((p), (i))
#define HCL_STORE8(dt, p, i, v) HCL_CAT(hcl_store8_, dt)((p), (i), (v))
inline float8 hcl_load8_f32(const global float *p, size_t i) { return vload8(0, p + i); }
inline void hcl_store8_f32(global float *p, size_t i, float8 v) { vstore8(v, 0, p + i); }
// F16 vectors: the x86 conversion instructions where the compiler targets them (PoCL on x86 with
// F16C: vcvtph2ps exact, vcvtps2ph round to nearest even; subnormals and infinities kept, a
// signalling NaN comes back quiet), several times fewer instructions than the integer form that
// every other target (SPIR-based rusticl and oclgrind, GPUs) uses. Not under HCL_EXACT_NAN.
#if defined(__F16C__) && !HCL_NATIVE_HALF && !HCL_EXACT_NAN
#define HCL_HW_F16 1
#else
#define HCL_HW_F16 0
#endif
#if HCL_NATIVE_HALF && !HCL_EXACT_NAN
// cl_khr_fp16 devices: the built-in conversions (hardware on GPUs and Intel's CPU runtime)
inline float8 hcl_load8_f16(const global ushort *p, size_t i) { return vload_half8(0, (const global half *)(p + i)); }
inline void hcl_store8_f16(global ushort *p, size_t i, float8 v) { vstore_half8_rte(v, 0, (global half *)(p + i)); }
#elif HCL_HW_F16
typedef short hcl_v8hi __attribute__((vector_size(16)));
typedef float hcl_v8sf __attribute__((vector_size(32)));
inline float8 hcl_f16x8_to_f32_hw(short8 h) {
    hcl_v8sf r = __builtin_ia32_vcvtph2ps256(*(const hcl_v8hi *)&h);
    return *(const float8 *)&r;
}
inline float8 hcl_load8_f16(const global ushort *p, size_t i) { return hcl_f16x8_to_f32_hw(as_short8(vload8(0, p + i))); }
inline void hcl_store8_f16(global ushort *p, size_t i, float8 v) {
    hcl_v8hi h = __builtin_ia32_vcvtps2ph256(*(const hcl_v8sf *)&v, 0);  // imm 0: nearest even
    vstore8(as_ushort8(*(const short8 *)&h), 0, p + i);
}
#else
inline float8 hcl_load8_f16(const global ushort *p, size_t i) { return hcl_f16x8_bits_to_f32(convert_uint8(vload8(0, p + i))); }
inline void hcl_store8_f16(global ushort *p, size_t i, float8 v) { vstore8(convert_ushort8(hcl_f32x8_to_f16_bits(v)), 0, p + i); }
#endif
inline float8 hcl_load8_bf16(const global ushort *p, size_t i) { return hcl_bf16x8_bits_to_f32(convert_uint8(vload8(0, p + i))); }
inline void hcl_store8_bf16(global ushort *p, size_t i, float8 v) { vstore8(convert_ushort8(hcl_f32x8_to_bf16_bits(v)), 0, p + i); }
#endif  // HCL_COMMON_VEC_H


#ifndef HCL_COMMON_VEC16_H
#define HCL_COMMON_VEC16_H
// ---- 16-wide conversions and loads/stores (GEMM panels): two 8-wide conversions from above, so
// the bits are those of HCL_LOAD/HCL_STORE. HCL_V16(dt) is a 16-vector of the storage type (for
// gathers) and HCL_CVT16(dt, v) converts one to float16. ----
inline float16 hcl_f16x16_bits_to_f32(uint16 h) { return (float16)(hcl_f16x8_bits_to_f32(h.lo), hcl_f16x8_bits_to_f32(h.hi)); }
inline uint16 hcl_f32x16_to_f16_bits(float16 f) { return (uint16)(hcl_f32x8_to_f16_bits(f.lo), hcl_f32x8_to_f16_bits(f.hi)); }
inline float16 hcl_bf16x16_bits_to_f32(uint16 h) { return as_float16(h << 16); }
inline uint16 hcl_f32x16_to_bf16_bits(float16 f) { return (uint16)(hcl_f32x8_to_bf16_bits(f.lo), hcl_f32x8_to_bf16_bits(f.hi)); }

#define HCL_LOAD16(dt, p, i) HCL_CAT(hcl_load16_, dt)((p), (i))
#define HCL_STORE16(dt, p, i, v) HCL_CAT(hcl_store16_, dt)((p), (i), (v))
inline float16 hcl_load16_f32(const global float *p, size_t i) { return vload16(0, p + i); }
inline void hcl_store16_f32(global float *p, size_t i, float16 v) { vstore16(v, 0, p + i); }
inline float16 hcl_load16_f16(const global ushort *p, size_t i) { return (float16)(hcl_load8_f16(p, i), hcl_load8_f16(p, i + 8)); }
inline void hcl_store16_f16(global ushort *p, size_t i, float16 v) {
    hcl_store8_f16(p, i, v.lo);
    hcl_store8_f16(p, i + 8, v.hi);
}
inline float16 hcl_load16_bf16(const global ushort *p, size_t i) { return hcl_bf16x16_bits_to_f32(convert_uint16(vload16(0, p + i))); }
inline void hcl_store16_bf16(global ushort *p, size_t i, float16 v) { vstore16(convert_ushort16(hcl_f32x16_to_bf16_bits(v)), 0, p + i); }

#define HCL_V16(dt) HCL_CAT(hcl_storage16_, dt)
#define HCL_CVT16(dt, v) HCL_CAT(hcl_cvt16_, dt)(v)
typedef float16 hcl_storage16_f32;
typedef ushort16 hcl_storage16_f16;
typedef ushort16 hcl_storage16_bf16;
inline float16 hcl_cvt16_f32(float16 v) { return v; }
#if HCL_NATIVE_HALF && !HCL_EXACT_NAN
inline float16 hcl_cvt16_f16(ushort16 v) { return convert_float16(as_half16(v)); }
#elif HCL_HW_F16
inline float16 hcl_cvt16_f16(ushort16 v) {
    short16 h = as_short16(v);
    return (float16)(hcl_f16x8_to_f32_hw(h.lo), hcl_f16x8_to_f32_hw(h.hi));
}
#else
inline float16 hcl_cvt16_f16(ushort16 v) { return hcl_f16x16_bits_to_f32(convert_uint16(v)); }
#endif
inline float16 hcl_cvt16_bf16(ushort16 v) { return hcl_bf16x16_bits_to_f32(convert_uint16(v)); }
#endif  // HCL_COMMON_VEC16_H

#ifndef HCL_COMMON_EXP_H
#define HCL_COMMON_EXP_H
// exp in float, vectorised (Cephes expf: range reduction by ln 2 in two parts, degree-6
// polynomial, ~1 ulp over the normal range). Results below FLT_MIN flush to 0 (they cannot
// change a softmax sum that is >= 1), above FLT_MAX give inf, NaN stays NaN. The built-in exp
// is several times slower on CPU drivers (PoCL) and bounded softmax and the losses there.
// The rounding of x log2(e) to an integer n uses the 1.5 * 2^23 trick (exact for |n| < 2^22)
// and 2^n is built from its bits: no library calls, so it vectorises.
#define HCL_EXP_VEC(name, T, IT)                                                                 \
    inline T name(T x) {                                                                        \
        T xc = select(x, (T)(-87.5f), x < -87.5f); /* 2^n stays normal; tiny results flush */   \
        xc = select(xc, (T)(88.75f), xc > 88.75f);                                              \
        T big = xc * 1.44269504088896341f + 12582912.0f;                                        \
        T n = big - 12582912.0f;                                                                \
        IT ni = as_##IT(big) - 0x4b400000;                                                      \
        T r = xc - n * 0.693359375f;                                                            \
        r = r + n * 2.12194440e-4f;                                                             \
        T p = 1.9875691500e-4f;                                                                 \
        p = p * r + 1.3981999507e-3f;                                                           \
        p = p * r + 8.3334519073e-3f;                                                           \
        p = p * r + 4.1665795894e-2f;                                                           \
        p = p * r + 1.6666665459e-1f;                                                           \
        p = p * r + 5.0000001201e-1f;                                                           \
        p = p * (r * r) + r + 1.0f;                                                             \
        IT top = ni > 127; /* -1 where n = 128: 2^127 * 2 */                                    \
        T v = p * as_##T((ni + top + 127) << 23);                                               \
        v = select(v, v * 2.0f, top);                                                           \
        v = select(v, (T)(0.0f), x < -87.3365448f);                                             \
        v = select(v, (T)(INFINITY), x > 88.7228394f);                                          \
        return select(v, x, isnan(x));                                                          \
    }
HCL_EXP_VEC(hcl_exp8, float8, int8)
HCL_EXP_VEC(hcl_exp16, float16, int16)
inline float hcl_exp(float x) {
    float xc = x < -87.5f ? -87.5f : x > 88.75f ? 88.75f : x;
    float big = xc * 1.44269504088896341f + 12582912.0f;
    float n = big - 12582912.0f;
    int ni = as_int(big) - 0x4b400000;
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int top = ni > 127;
    float v = p * as_float((ni - top + 127) << 23);
    if (top) v *= 2.0f;
    if (x < -87.3365448f) v = 0.0f;
    if (x > 88.7228394f) v = INFINITY;
    return isnan(x) ? x : v;
}
#endif  // HCL_COMMON_EXP_H

#ifndef HCL_COMMON_WG_H
#define HCL_COMMON_WG_H
// Work-group tree reductions over buf[0..L) (L = local size, a power of two), fixed order so the
// result is deterministic; every work-item gets the result.
inline float hcl_wg_sum(local float *buf, float v) {
    size_t lid = get_local_id(0), L = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = L / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float hcl_wg_max(local float *buf, float v) {
    size_t lid = get_local_id(0), L = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = L / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmax(buf[lid], buf[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
#endif  // HCL_COMMON_WG_H

// Philox4x32-10 (Salmon et al. 2011): counter (4 words), key (2 words) -> 4 random words; the
// generator of random.cl (init, dropout) and of optim.cl's stochastic rounding.
inline uint4 philox4x32_10(uint4 c, uint2 k) {
#pragma unroll
    for (int r = 0; r < 10; r++) { // the key bump after the last round is unused
        ulong p0 = (ulong)0xD2511F53u * c.x, p1 = (ulong)0xCD9E8D57u * c.z; // 32x32 -> 64 (vectorises well)
        c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k.x, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k.y, (uint)p0);
        k.x += 0x9E3779B9u;
        k.y += 0xBB67AE85u;
    }
    return c;
}

#endif  // HCL_COMMON_H
