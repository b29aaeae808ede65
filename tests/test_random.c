/* Randomness: the host Philox4x32-10 against the published known-answer vectors (Random123),
 * device uniform fills bit-for-bit against the host stream, sub-ranges at an offset, normal
 * fills against an FP64 Box-Muller reference, simple statistics, and dropout forward/backward
 * (mask regenerated from (seed, offset)) against the host, finite differences and keep rate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* ---- host model of the stream mapping documented in random.cl ---- */
static uint32_t stream_word(uint64_t seed, uint64_t e) {
    uint64_t j = e / 4;
    uint32_t c[4] = {(uint32_t)j, (uint32_t)(j >> 32), 0, 0}, k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, out[4];
    hcl_philox4x32_10(c, k, out);
    return out[e % 4];
}
static float u24(uint32_t w) { return (float)(w >> 8) * 5.9604644775390625e-8f; }
static float ref_uniform(uint64_t seed, uint64_t e, float lo, float hi) { return fmaf(hi - lo, u24(stream_word(seed, e)), lo); }
static double ref_normal(uint64_t seed, uint64_t e, double mean, double stddev) {
    uint64_t base = e & ~(uint64_t)1;
    uint32_t a = stream_word(seed, base), b = stream_word(seed, base + 1);
    double u1 = ((double)(a >> 8) + 1) * 5.9604644775390625e-8, u2 = (double)(b >> 8) * 5.9604644775390625e-8;
    double r = sqrt(-2 * log(u1)), th = 6.283185307179586476925 * u2;
    return mean + stddev * r * ((e & 1) ? sin(th) : cos(th));
}
static int ref_keep(uint64_t seed, uint64_t e, float p) { return u24(stream_word(seed, e)) >= p; }

static float round_dt(float v, hcl_dtype dt) {
    test_round_to_dtype(&v, 1, dt);
    return v;
}
/* Samples for the statistics tests: 1e5, or 2e4 when HALFCL_TEST_SMALL=1 (the oclgrind run);
 * bounds scale with sqrt(1e5 / n). */
static int64_t stat_samples(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && !strcmp(s, "1") ? 20000 : 100000;
}
static double stat_widen(int64_t n) { return sqrt(1e5 / (double)n); }

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

START_TEST(philox_known_answers) {
    /* Random123 kat_vectors: philox4x32 10 rounds */
    static const uint32_t cases[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int c = 0; c < 3; c++) {
        uint32_t out[4];
        hcl_philox4x32_10(cases[c], cases[c] + 4, out);
        for (int w = 0; w < 4; w++)
            ck_assert_msg(out[w] == cases[c][6 + w], "case %d word %d: %08x, want %08x", c, w, out[w], cases[c][6 + w]);
    }
}
END_TEST

/* Device uniform == host stream, bit for bit, in every dtype, for odd sizes and offsets. */
START_TEST(uniform_matches_host) {
    hcl_context *ctx = test_context();
    static const int64_t sizes[] = {1, 7, 33, 1003};
    static const uint64_t offsets[] = {0, 5, 0xfffffffeull, 0x123456789abcdull};
    uint64_t seed = test_seed() * 0x9E3779B97F4A7C15ull;
    for (int d = 0; d < 3; d++)
        for (int si = 0; si < 4; si++) {
            hcl_dtype dt = test_float_dtypes[d];
            uint64_t off = offsets[si];
            hcl_tensor *y = test_tensor_poisoned(ctx, dt, 1, &sizes[si]);
            CK_OK(ctx, hcl_random_uniform(ctx, y, -2.0f, 3.0f, seed, off));
            float *h = test_download(y);
            for (int64_t i = 0; i < sizes[si]; i++) {
                float want = round_dt(ref_uniform(seed, off + (uint64_t)i, -2.0f, 3.0f), dt);
                ck_assert_msg(same_bits(h[i], want), "%s n=%lld off=%llu i=%lld: %a vs %a (%s)", hcl_dtype_name(dt),
                              (long long)sizes[si], (unsigned long long)off, (long long)i, (double)h[i], (double)want,
                              test_seed_note());
                ck_assert(h[i] >= -2.0f && h[i] <= 3.0f);
            }
            free(h);
            hcl_tensor_free(y);
        }
    hcl_context_free(ctx);
}
END_TEST

/* A fill of a sub-range at offset o equals elements o.. of one fill at offset 0 (uniform, normal,
 * dropout), whatever the launch shape; a view at a tensor offset writes only its elements. */
START_TEST(subrange_at_offset) {
    hcl_context *ctx = test_context();
    uint64_t seed = test_seed() + 17;
    int64_t n = 203, m = 61;
    hcl_tensor *full = test_tensor_poisoned(ctx, HCL_F32, 1, &n);
    hcl_tensor *part = test_tensor_poisoned(ctx, HCL_F32, 1, &n);
    hcl_tensor *view = NULL;
    for (int kind = 0; kind < 2; kind++) {
        for (uint64_t o = 0; o < 9; o += 3) {
            CK_OK(ctx, hcl_tensor_fill_bits(part, 0x7fc00000u));
            CK_OK(ctx, hcl_tensor_view(part, 7, 1, &m, &view));
            if (kind == 0) {
                CK_OK(ctx, hcl_random_uniform(ctx, full, 0, 1, seed, 100));
                CK_OK(ctx, hcl_random_uniform(ctx, view, 0, 1, seed, 100 + 5 + o));
            } else {
                CK_OK(ctx, hcl_random_normal(ctx, full, 0, 1, seed, 100));
                CK_OK(ctx, hcl_random_normal(ctx, view, 0, 1, seed, 100 + 5 + o));
            }
            hcl_tensor_free(view);
            view = NULL;
            float *f = test_download(full), *p = test_download(part);
            for (int64_t i = 0; i < n; i++) {
                if (i < 7 || i >= 7 + m) ck_assert_msg(isnan(p[i]), "element %lld outside the view was written", (long long)i);
                else ck_assert_msg(same_bits(p[i], f[i - 7 + 5 + (int64_t)o]), "kind %d o=%llu i=%lld", kind,
                                   (unsigned long long)o, (long long)i);
            }
            free(f);
            free(p);
        }
    }
    hcl_tensor_free(full);
    hcl_tensor_free(part);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(normal_matches_reference) {
    hcl_context *ctx = test_context();
    uint64_t seed = test_seed() ^ 0xabcdef;
    static const int64_t sizes[] = {1, 7, 33, 1001};
    for (int d = 0; d < 3; d++)
        for (int si = 0; si < 4; si++) {
            hcl_dtype dt = test_float_dtypes[d];
            uint64_t off = (uint64_t)si * 3;
            hcl_tensor *y = test_tensor_poisoned(ctx, dt, 1, &sizes[si]);
            CK_OK(ctx, hcl_random_normal(ctx, y, 0.5f, 2.0f, seed, off));
            float *h = test_download(y);
            double *ref = malloc((size_t)sizes[si] * sizeof *ref);
            for (int64_t i = 0; i < sizes[si]; i++) ref[i] = ref_normal(seed, off + (uint64_t)i, 0.5, 2.0);
            /* per element: log/sqrt/sinpi/cospi are within a few float ulps, then one rounding to dt */
            for (int64_t i = 0; i < sizes[si]; i++)
                ck_assert_msg(fabs(h[i] - ref[i]) <= 4 * test_tolerance(dt) * (1 + fabs(ref[i])),
                              "%s i=%lld: %g vs %g (%s)", hcl_dtype_name(dt), (long long)i, (double)h[i], ref[i], test_seed_note());
            ck_assert(test_rel_err(h, ref, (size_t)sizes[si]) <= test_tolerance(dt));
            free(ref);
            free(h);
            hcl_tensor_free(y);
        }
    hcl_context_free(ctx);
}
END_TEST

/* 1e5 samples (see stat_samples): uniform [0,1) mean 1/2 (sd of the mean 0.0009), variance 1/12; normal mean 0
 * (sd 0.0032), variance 1 (sd 0.0045); bounds at > 5 sd. */
START_TEST(statistics) {
    hcl_context *ctx = test_context();
    int64_t n = stat_samples();
    double k = stat_widen(n);
    hcl_tensor *y = test_tensor_poisoned(ctx, HCL_F32, 1, &n);
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0) CK_OK(ctx, hcl_random_uniform(ctx, y, 0, 1, test_seed(), 12345));
        else CK_OK(ctx, hcl_random_normal(ctx, y, 0, 1, test_seed(), 12345));
        float *h = test_download(y);
        double s = 0, s2 = 0, mn = 1e9, mx = -1e9;
        for (int64_t i = 0; i < n; i++) {
            ck_assert(isfinite(h[i]));
            s += h[i];
            mn = fmin(mn, h[i]);
            mx = fmax(mx, h[i]);
        }
        double mean = s / (double)n;
        for (int64_t i = 0; i < n; i++) s2 += (h[i] - mean) * (h[i] - mean);
        double var = s2 / (double)(n - 1);
        if (kind == 0) {
            ck_assert_msg(fabs(mean - 0.5) < 0.005 * k && fabs(var - 1.0 / 12) < 0.003 * k && mn >= 0 && mx < 1,
                          "uniform mean %g var %g min %g max %g (%s)", mean, var, mn, mx, test_seed_note());
        } else {
            ck_assert_msg(fabs(mean) < 0.02 * k && fabs(var - 1) < 0.03 * k && mn > -6 && mx < 6,
                          "normal mean %g var %g min %g max %g (%s)", mean, var, mn, mx, test_seed_note());
        }
        free(h);
    }
    hcl_tensor_free(y);
    hcl_context_free(ctx);
}
END_TEST

/* Dropout forward/backward bit for bit against the host mask, mixed dtypes, odd sizes/offsets. */
START_TEST(dropout_matches_host) {
    hcl_context *ctx = test_context();
    static const int64_t sizes[] = {1, 7, 33, 517};
    uint64_t seed = test_seed() * 31 + 7;
    /* same dtype in all three, and two mixed pairs (each pair is one program build) */
    static const hcl_dtype pairs[5][2] = {{HCL_F32, HCL_F32}, {HCL_F16, HCL_F16}, {HCL_BF16, HCL_BF16},
                                          {HCL_F16, HCL_F32}, {HCL_F32, HCL_BF16}};
    for (int pi = 0; pi < 5; pi++)
        for (int si = 0; si < 4; si++) {
            hcl_dtype xt = pairs[pi][0], yt = pairs[pi][1];
            int64_t n = sizes[si];
            uint64_t off = 1000 + (uint64_t)si;
            float p = si == 0 ? 0.0f : 0.3f, scale = 1.0f / (1.0f - p);
            float *x = malloc((size_t)n * sizeof *x);
            test_fill_normal(x, (size_t)n, 1.0);
            test_round_to_dtype(x, (size_t)n, xt);
            hcl_tensor *tx = test_tensor_from(ctx, xt, 1, &n, x);
            hcl_tensor *ty = test_tensor_poisoned(ctx, yt, 1, &n);
            hcl_tensor *tdx = test_tensor_poisoned(ctx, yt, 1, &n);
            CK_OK(ctx, hcl_dropout_forward(ctx, ty, tx, p, seed, off));
            CK_OK(ctx, hcl_dropout_backward(ctx, tdx, tx, p, seed, off)); /* dy = x: same mask, same values */
            float *y = test_download(ty), *g = test_download(tdx);
            for (int64_t i = 0; i < n; i++) {
                float want = round_dt(x[i] * (ref_keep(seed, off + (uint64_t)i, p) ? scale : 0.0f), yt);
                ck_assert_msg(same_bits(y[i], want), "%s->%s n=%lld i=%lld: %a vs %a (%s)", hcl_dtype_name(xt),
                              hcl_dtype_name(yt), (long long)n, (long long)i, (double)y[i], (double)want, test_seed_note());
                ck_assert(same_bits(g[i], want));
            }
            free(x);
            free(y);
            free(g);
            hcl_tensor_free(tx);
            hcl_tensor_free(ty);
            hcl_tensor_free(tdx);
        }
    hcl_context_free(ctx);
}
END_TEST

/* FP64 reference of L = sum(w * dropout(x)) for the finite-difference check. */
typedef struct drop_fd { const double *w; size_t n; uint64_t seed, off; float p; } drop_fd;
static double drop_loss(const double *x, void *user) {
    const drop_fd *d = user;
    double s = 0, scale = 1.0 / (1.0 - (double)d->p);
    for (size_t i = 0; i < d->n; i++) s += d->w[i] * (ref_keep(d->seed, d->off + i, d->p) ? x[i] * scale : 0);
    return s;
}

/* Backward vs finite differences of the FP64 reference and vs the analytic FP64 gradient. */
START_TEST(dropout_backward_gradients) {
    hcl_context *ctx = test_context();
    enum { N = 37 };
    int64_t n = N;
    double w[N], x[N], fd[N], an[N];
    float wf[N];
    test_fill_normal(wf, N, 1.0);
    for (int i = 0; i < N; i++) { w[i] = wf[i]; x[i] = test_normal(); }
    drop_fd d = {w, N, test_seed(), 77, 0.4f};
    test_numeric_grad(drop_loss, &d, x, N, 1e-3, fd);
    for (int i = 0; i < N; i++) an[i] = w[i] * (ref_keep(d.seed, d.off + (uint64_t)i, d.p) ? 1.0 / (1.0 - 0.4) : 0);
    for (int i = 0; i < N; i++) ck_assert_msg(fabs(fd[i] - an[i]) < 1e-6 * (1 + fabs(an[i])), "fd %g vs analytic %g", fd[i], an[i]);
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = test_float_dtypes[di];
        float wr[N];
        memcpy(wr, wf, sizeof wr);
        test_round_to_dtype(wr, N, dt);
        double ref[N];
        for (int i = 0; i < N; i++) ref[i] = wr[i] * (ref_keep(d.seed, d.off + (uint64_t)i, d.p) ? 1.0 / (1.0 - 0.4) : 0);
        hcl_tensor *dy = test_tensor_from(ctx, dt, 1, &n, wr), *dx = test_tensor_poisoned(ctx, dt, 1, &n);
        CK_OK(ctx, hcl_dropout_backward(ctx, dx, dy, d.p, d.seed, d.off));
        float *g = test_download(dx);
        ck_assert_msg(test_rel_err(g, ref, N) <= test_tolerance(dt), "%s: rel err %g", hcl_dtype_name(dt), test_rel_err(g, ref, N));
        free(g);
        hcl_tensor_free(dy);
        hcl_tensor_free(dx);
    }
    hcl_context_free(ctx);
}
END_TEST

/* 1e5 elements (see stat_samples): the kept fraction is 1 - p within 5 sd (sd = sqrt(p (1-p) / n) <= 0.0016), and
 * a NaN input stays NaN where dropped (as x * mask / (1 - p) does). */
START_TEST(dropout_keep_rate) {
    hcl_context *ctx = test_context();
    int64_t n = stat_samples();
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f;
    x[3] = NAN;
    hcl_tensor *tx = test_tensor_from(ctx, HCL_F16, 1, &n, x), *ty = test_tensor_poisoned(ctx, HCL_F16, 1, &n);
    static const float ps[] = {0.1f, 0.5f, 0.9f};
    for (int k = 0; k < 3; k++) {
        CK_OK(ctx, hcl_dropout_forward(ctx, ty, tx, ps[k], test_seed() + (uint64_t)k, 0));
        float *y = test_download(ty);
        size_t kept = 0;
        for (int64_t i = 0; i < n; i++) {
            if (i == 3) { ck_assert(isnan(y[i])); continue; }
            ck_assert(y[i] == 0.0f || y[i] == round_dt(1.0f / (1.0f - ps[k]), HCL_F16));
            kept += y[i] != 0.0f;
        }
        double rate = (double)kept / (double)(n - 1);
        ck_assert_msg(fabs(rate - (1 - ps[k])) < 0.008 * stat_widen(n), "p=%g keep rate %g (%s)", (double)ps[k], rate, test_seed_note());
        free(y);
    }
    free(x);
    hcl_tensor_free(tx);
    hcl_tensor_free(ty);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context();
    int64_t n = 8, m = 9;
    hcl_tensor *a = test_tensor_poisoned(ctx, HCL_F32, 1, &n), *b = test_tensor_poisoned(ctx, HCL_F16, 1, &n);
    hcl_tensor *c = test_tensor_poisoned(ctx, HCL_F32, 1, &m), *i = test_tensor_poisoned(ctx, HCL_I32, 1, &n);
    CK_STATUS(ctx, hcl_random_uniform(NULL, a, 0, 1, 1, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_random_uniform(ctx, NULL, 0, 1, 1, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_random_uniform(ctx, i, 0, 1, 1, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_random_uniform(ctx, a, 0, INFINITY, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_random_uniform(ctx, a, -3e38f, 3e38f, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_random_normal(ctx, i, 0, 1, 1, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_random_normal(ctx, a, 0, -1, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_random_normal(ctx, a, NAN, 1, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, NULL, 0.5f, 1, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, b, 1.0f, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, b, -0.1f, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, b, NAN, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, c, 0.5f, 1, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, i, 0.5f, 1, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, a, 0.5f, 1, 0), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_dropout_backward(ctx, b, b, 0.5f, 1, 0), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_dropout_backward(ctx, NULL, b, 0.5f, 1, 0), HCL_ERR_NULL_POINTER);
    hcl_context *other = test_context();
    hcl_tensor *o = test_tensor_poisoned(other, HCL_F32, 1, &n);
    CK_STATUS(ctx, hcl_dropout_forward(ctx, a, o, 0.5f, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_random_uniform(ctx, o, 0, 1, 1, 0), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(o);
    hcl_context_free(other);
    hcl_tensor_free(a);
    hcl_tensor_free(b);
    hcl_tensor_free(c);
    hcl_tensor_free(i);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("random");
    TCase *t = tcase_create("random");
    tcase_add_test(t, philox_known_answers);
    tcase_add_test(t, uniform_matches_host);
    tcase_add_test(t, subrange_at_offset);
    tcase_add_test(t, normal_matches_reference);
    tcase_add_test(t, statistics);
    tcase_add_test(t, dropout_matches_host);
    tcase_add_test(t, dropout_backward_gradients);
    tcase_add_test(t, dropout_keep_rate);
    tcase_add_test(t, bad_inputs);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
