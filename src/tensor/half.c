/* Exact host conversions F32 <-> F16 <-> BF16: round to nearest even, subnormals, +-inf, and NaN
 * kept NaN with its payload (so F16/BF16 -> F32 -> F16/BF16 is bit-exact for every pattern).
 * Bit-for-bit the same rules as cl_kernels/common.h, which the device cast is tested against. */
#include <string.h>
#include "halfcl/tensor.h"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float hcl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {  /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t hcl_f32_to_f16(float f) {
    uint32_t x = f2u(f);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) {  /* NaN: top payload bits, never inf */
        uint32_t man = (ax >> 13) & 0x3ffu;
        return (uint16_t)(sign | 0x7c00u | (man ? man : 0x200u));
    }
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {  /* result is subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e, q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float hcl_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t hcl_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        uint32_t h = x >> 16;
        return (uint16_t)((h & 0x7fu) ? h : (h | 0x40u));
    }
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* NULL arrays: nothing to convert (no crash). */
void hcl_f32_to_f16_array(uint16_t *dst, const float *src, size_t n) {
    if (!dst || !src) return;
    for (size_t i = 0; i < n; i++) dst[i] = hcl_f32_to_f16(src[i]);
}
void hcl_f16_to_f32_array(float *dst, const uint16_t *src, size_t n) {
    if (!dst || !src) return;
    for (size_t i = 0; i < n; i++) dst[i] = hcl_f16_to_f32(src[i]);
}
void hcl_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n) {
    if (!dst || !src) return;
    for (size_t i = 0; i < n; i++) dst[i] = hcl_f32_to_bf16(src[i]);
}
void hcl_bf16_to_f32_array(float *dst, const uint16_t *src, size_t n) {
    if (!dst || !src) return;
    for (size_t i = 0; i < n; i++) dst[i] = hcl_bf16_to_f32(src[i]);
}
