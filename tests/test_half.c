/* Host F32 <-> F16/BF16 conversions: exhaustive over all 65,536 patterns, checked against an
 * independent FP64 reference at every halfway case, the subnormal boundary, overflow and random
 * values; then the device cast kernels bit-for-bit against the host on the same inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Independent reference decode: value of an F16 pattern from its fields in FP64. */
static double ref_f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -24);
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* Independent reference encode: nearest F16 by searching the ordered finite patterns in FP64,
 * ties to the even pattern; beyond 65504 + half ulp (65520) -> inf. */
static uint16_t ref_f32_to_f16(float f) {
    if (isnan(f)) return 0x7e00;
    double a = fabs((double)f);
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    if (a >= 65520.0) return sign | 0x7c00;
    /* binary search over magnitudes 0..0x7bff (monotonic in the bit pattern) */
    int lo = 0, hi = 0x7bff;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ref_f16_value((uint16_t)mid) <= a) lo = mid; else hi = mid - 1;
    }
    double below = ref_f16_value((uint16_t)lo);
    if (below == a || lo == 0x7bff) return sign | (uint16_t)lo;
    double above = ref_f16_value((uint16_t)(lo + 1));
    double dl = a - below, du = above - a;
    int pick = dl < du ? lo : du < dl ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
    return sign | (uint16_t)pick;
}

static uint16_t ref_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if (isnan(f)) return 0x7fc0;
    /* nearest of the two candidates by exact FP64 distance, ties to even */
    uint32_t lo = x & 0xffff0000u, hi = lo + 0x10000u;
    double dl = fabs((double)f - (double)u2f(lo));
    double du = isinf(u2f(hi)) && !isinf(f) ? INFINITY : fabs((double)u2f(hi) - (double)f);
    /* overflow: values at or past the halfway point to 2^128 round to inf */
    if ((x & 0x7fffffffu) >= 0x7f7f8000u && (x & 0x7fffffffu) < 0x7f800000u) {
        uint32_t top = x & 0x7fffffffu;
        int to_inf = top > 0x7f7f8000u || ((top >> 16) & 1u);
        return (uint16_t)(((x >> 16) & 0x8000u) | (to_inf ? 0x7f80u : 0x7f7fu));
    }
    if (dl < du) return (uint16_t)(lo >> 16);
    if (du < dl) return (uint16_t)(hi >> 16);
    return (uint16_t)(((lo >> 16) & 1u) ? (hi >> 16) : (lo >> 16));
}

static int same_f16(uint16_t a, uint16_t b) {
    int an = (a & 0x7c00) == 0x7c00 && (a & 0x3ff), bn = (b & 0x7c00) == 0x7c00 && (b & 0x3ff);
    return (an && bn) || a == b;
}

static int same_bf16(uint16_t a, uint16_t b) {
    int an = (a & 0x7f80) == 0x7f80 && (a & 0x7f), bn = (b & 0x7f80) == 0x7f80 && (b & 0x7f);
    return (an && bn) || a == b;
}

START_TEST(f16_all_patterns_roundtrip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = hcl_f16_to_f32((uint16_t)h);
        double ref = ref_f16_value((uint16_t)h);
        if (isnan(ref)) ck_assert_msg(isnan(f), "f16 %04x should decode to NaN", h);
        else ck_assert_msg((double)f == ref && !!signbit(f) == !!signbit(ref), "f16 %04x -> %g, want %g", h, f, ref);
        ck_assert_msg(hcl_f32_to_f16(f) == h, "f16 %04x -> f32 -> %04x", h, hcl_f32_to_f16(f));
    }
}
END_TEST

START_TEST(bf16_all_patterns_roundtrip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = hcl_bf16_to_f32((uint16_t)h);
        ck_assert_uint_eq(f2u(f), h << 16);
        ck_assert_msg(hcl_f32_to_bf16(f) == h, "bf16 %04x -> f32 -> %04x", h, hcl_f32_to_bf16(f));
    }
}
END_TEST

/* Every halfway point between adjacent F16 values, and one F32 ulp either side of it. */
START_TEST(f16_halfway_cases) {
    for (uint32_t h = 0; h < 0x7bff; h++) {
        double a = ref_f16_value((uint16_t)h), b = ref_f16_value((uint16_t)(h + 1));
        float mid = (float)((a + b) / 2); /* exact in F32: F16 has 11 significant bits */
        ck_assert((double)mid == (a + b) / 2);
        float cases[3] = {mid, nextafterf(mid, 0), nextafterf(mid, INFINITY)};
        for (int c = 0; c < 3; c++)
            for (int s = 0; s < 2; s++) {
                float v = s ? -cases[c] : cases[c];
                uint16_t got = hcl_f32_to_f16(v), want = ref_f32_to_f16(v);
                ck_assert_msg(got == want, "f32 %a -> f16 %04x, want %04x", (double)v, got, want);
            }
    }
}
END_TEST

START_TEST(f16_boundaries) {
    ck_assert_uint_eq(hcl_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(hcl_f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(hcl_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(hcl_f32_to_f16(-65520.0f), 0xfc00);
    ck_assert_uint_eq(hcl_f32_to_f16(INFINITY), 0x7c00);
    ck_assert_uint_eq(hcl_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert_uint_eq(hcl_f32_to_f16(1e30f), 0x7c00);
    ck_assert_uint_eq(hcl_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(hcl_f32_to_f16(ldexpf(1, -24)), 0x0001);       /* smallest subnormal */
    ck_assert_uint_eq(hcl_f32_to_f16(ldexpf(1, -25)), 0x0000);       /* tie -> even (0) */
    ck_assert_uint_eq(hcl_f32_to_f16(nextafterf(ldexpf(1, -25), 1)), 0x0001);
    ck_assert_uint_eq(hcl_f32_to_f16(ldexpf(3, -25)), 0x0002);       /* 1.5 ulp tie -> even (2) */
    ck_assert_uint_eq(hcl_f32_to_f16(ldexpf(1, -14)), 0x0400);       /* smallest normal */
    ck_assert_uint_eq(hcl_f32_to_f16(ldexpf(1023, -24) + ldexpf(1, -25)), 0x0400); /* subnormal rounds up to normal */
    ck_assert_uint_eq(hcl_f32_to_f16(1.0f), 0x3c00);
    uint16_t n = hcl_f32_to_f16(NAN);
    ck_assert((n & 0x7c00) == 0x7c00 && (n & 0x3ff));
    n = hcl_f32_to_f16(u2f(0x7f800001u)); /* NaN whose payload sits below F16's mantissa */
    ck_assert((n & 0x7c00) == 0x7c00 && (n & 0x3ff));
    ck_assert_uint_eq(hcl_f32_to_bf16(u2f(0x7f800001u)) & 0x7f80, 0x7f80);
    ck_assert(hcl_f32_to_bf16(u2f(0x7f800001u)) & 0x7f);
    ck_assert_uint_eq(hcl_f32_to_bf16(INFINITY), 0x7f80);
    ck_assert_uint_eq(hcl_f32_to_bf16(3.4028235e38f), 0x7f80); /* FLT_MAX rounds to inf in bf16 */
    ck_assert_uint_eq(hcl_f32_to_bf16(u2f(0x3f808000u)), 0x3f80); /* tie -> even */
    ck_assert_uint_eq(hcl_f32_to_bf16(u2f(0x3f818000u)), 0x3f82); /* tie -> even (up) */
}
END_TEST

START_TEST(random_values_against_reference) {
    for (int i = 0; i < 400000; i++) {
        uint32_t bits = (uint32_t)(test_uniform(0, 4294967296.0));
        float v = u2f(bits);
        if (i & 1) v = (float)test_uniform(-70000, 70000) * (float)ldexp(1, (int)test_uniform(-30, 1));
        ck_assert_msg(same_f16(hcl_f32_to_f16(v), ref_f32_to_f16(v)), "f16 of %a: %04x vs %04x (%s)", (double)v,
                      hcl_f32_to_f16(v), ref_f32_to_f16(v), test_seed_note());
        ck_assert_msg(same_bf16(hcl_f32_to_bf16(v), ref_f32_to_bf16(v)), "bf16 of %a: %04x vs %04x (%s)", (double)v,
                      hcl_f32_to_bf16(v), ref_f32_to_bf16(v), test_seed_note());
    }
}
END_TEST

/* Device cast: all 65,536 patterns F16/BF16 -> F32, and >= 1M random F32 -> F16/BF16 (special
 * values and halfway cases included), bit-for-bit equal to the host conversions. */
START_TEST(device_cast_matches_host) {
    hcl_context *ctx = test_context();
    const size_t np = 65536;
    uint16_t *pat = malloc(np * 2);
    float *f = malloc(np * 4);
    for (size_t i = 0; i < np; i++) pat[i] = (uint16_t)i;
    int64_t shp[1] = {(int64_t)np};
    for (int d = 0; d < 2; d++) {
        hcl_dtype dt = d ? HCL_BF16 : HCL_F16;
        hcl_tensor *h = NULL, *o = NULL;
        CK_OK(ctx, hcl_tensor_create(ctx, dt, 1, shp, &h));
        CK_OK(ctx, hcl_tensor_upload_raw(h, pat, np * 2));
        o = test_tensor_poisoned(ctx, HCL_F32, 1, shp);
        CK_OK(ctx, hcl_tensor_cast(o, h));
        CK_OK(ctx, hcl_tensor_download_raw(o, f, np * 4));
        for (size_t i = 0; i < np; i++) {
            float want = d ? hcl_bf16_to_f32(pat[i]) : hcl_f16_to_f32(pat[i]);
            ck_assert_msg(f2u(f[i]) == f2u(want), "%s %04zx -> %08x on device, %08x on host", hcl_dtype_name(dt), i,
                          f2u(f[i]), f2u(want));
        }
        hcl_tensor_free(h);
        hcl_tensor_free(o);
    }
    free(pat);
    free(f);

    const size_t n = (size_t)1 << 20;
    float *x = malloc(n * 4);
    uint16_t *got = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        switch (i % 4) {
        case 0: x[i] = u2f((uint32_t)test_uniform(0, 4294967296.0)); break;
        case 1: x[i] = (float)test_uniform(-66000, 66000); break;
        case 2: { /* halfway between two F16 values */
            uint16_t h = (uint16_t)test_uniform(0, 0x7bff);
            x[i] = (float)((ref_f16_value(h) + ref_f16_value((uint16_t)(h + 1))) / 2);
            break;
        }
        default: x[i] = (float)test_normal() * 1e-5f; break; /* subnormal range of F16 */
        }
    }
    x[0] = NAN; x[1] = INFINITY; x[2] = -INFINITY; x[3] = 65520.0f; x[5] = 65519.0f; x[6] = -0.0f;
    int64_t shn[1] = {(int64_t)n};
    hcl_tensor *src = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, shn, &src));
    CK_OK(ctx, hcl_tensor_upload_raw(src, x, n * 4));
    for (int d = 0; d < 2; d++) {
        hcl_dtype dt = d ? HCL_BF16 : HCL_F16;
        hcl_tensor *dst = test_tensor_poisoned(ctx, dt, 1, shn);
        CK_OK(ctx, hcl_tensor_cast(dst, src));
        CK_OK(ctx, hcl_tensor_download_raw(dst, got, n * 2));
        for (size_t i = 0; i < n; i++) {
            uint16_t want = d ? hcl_f32_to_bf16(x[i]) : hcl_f32_to_f16(x[i]);
            ck_assert_msg(got[i] == want, "f32 %a -> %s %04x on device, %04x on host (%s)", (double)x[i],
                          hcl_dtype_name(dt), got[i], want, test_seed_note());
        }
        hcl_tensor_free(dst);
    }
    hcl_tensor_free(src);
    free(x);
    free(got);
    hcl_context_free(ctx);
}
END_TEST

static Suite *half_suite(void) {
    Suite *s = suite_create("half");
    TCase *host = tcase_create("host");
    tcase_add_test(host, f16_all_patterns_roundtrip);
    tcase_add_test(host, bf16_all_patterns_roundtrip);
    tcase_add_test(host, f16_halfway_cases);
    tcase_add_test(host, f16_boundaries);
    tcase_add_test(host, random_values_against_reference);
    suite_add_tcase(s, host);
    TCase *dev = tcase_create("device");
    tcase_add_test(dev, device_cast_matches_host);
    suite_add_tcase(s, dev);
    return s;
}

int main(void) { return test_run_suite(half_suite()); }
