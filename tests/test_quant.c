/* Quantization ops against FP64 host references in F32/F16/BF16 storage at odd shapes: fake-quant
 * forward (per tensor and per channel along axis 0, 1 and the last, both schemes), its STE
 * backward (the exact mask, and finite differences of the STE's surrogate clamp(x, lo, hi)),
 * ties to even, clamping, NaN and inf, quantize/dequantize, the range observer (first and EMA,
 * chunked, NaN ignored), scale/zero point from a range, the int8 GEMM (integer sums exact) and
 * the int8 conv (padding reads the zero point). Outputs are poisoned first. HALFCL_TEST_SMALL=1
 * drops the largest sizes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "ops/ops_internal.h"

static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

static double qmin_of(hcl_quant_scheme s) { return s == HCL_QUANT_INT8_SYMMETRIC ? -127 : 0; }
static double qmax_of(hcl_quant_scheme s) { return s == HCL_QUANT_INT8_SYMMETRIC ? 127 : 255; }

/* FP64 references (rint: the host's default rounding mode is to nearest even) */
static double ref_qraw(double x, double s, double z) { return rint(x / s) + z; }
static double ref_quant(double x, double s, double z, hcl_quant_scheme sc) {
    if (isnan(x)) return z;
    double q = ref_qraw(x, s, z);
    return q < qmin_of(sc) ? qmin_of(sc) : q > qmax_of(sc) ? qmax_of(sc) : q;
}
static double ref_fq(double x, double s, double z, hcl_quant_scheme sc) {
    return isnan(x) ? x : (ref_quant(x, s, z, sc) - z) * s;
}
static int ref_in_range(double x, double s, double z, hcl_quant_scheme sc) {
    double q = ref_qraw(x, s, z);
    return !(q < qmin_of(sc) || q > qmax_of(sc));
}

/* a tensor (outer, C, inner) of the given shape and axis */
typedef struct geo { size_t outer, C, inner, n; } geo;
static geo geo_of(int rank, const int64_t *shape, int axis) {
    geo g = {1, 1, 1, 1};
    for (int i = 0; i < rank; i++) g.n *= (size_t)shape[i];
    if (axis < 0) { g.inner = g.n; return g; }
    for (int i = 0; i < axis; i++) g.outer *= (size_t)shape[i];
    for (int i = axis + 1; i < rank; i++) g.inner *= (size_t)shape[i];
    g.C = (size_t)shape[axis];
    return g;
}
static size_t chan(const geo *g, size_t e) { return (e / g->inner) % g->C; }

/* Random per-channel parameters: scale in [0.005, 0.05], zero point in 0..255 (asymmetric). */
static void random_params(float *s, float *z, size_t C, hcl_quant_scheme sc) {
    for (size_t c = 0; c < C; c++) {
        s[c] = (float)test_uniform(0.005, 0.05);
        z[c] = sc == HCL_QUANT_INT8_SYMMETRIC ? 0.0f : (float)(int)test_uniform(0, 256);
    }
}

/* x spread over the quantized range and beyond (some clamp), rounded to dt, and at least 0.02 of a
 * quantum from every rounding boundary (x/s + k.5), so the F32 division on the device and the FP64
 * one round the same way. */
static void random_x(float *x, const geo *g, const float *s, const float *z, hcl_quant_scheme sc, hcl_dtype dt) {
    for (size_t e = 0; e < g->n; e++) {
        size_t c = chan(g, e);
        double lo = (qmin_of(sc) - z[c] - 20) * s[c], hi = (qmax_of(sc) - z[c] + 20) * s[c];
        float v = (float)test_uniform(lo, hi);
        for (int tries = 0;; tries++) {
            test_round_to_dtype(&v, 1, dt);
            double t = v / (double)s[c], f = t - floor(t);
            if (fabs(f - 0.5) >= 0.02) break;
            v = tries < 2 ? (float)((floor(t) + 0.25) * s[c]) : (float)(0.25 * s[c]);
        }
        x[e] = v;
    }
}

static hcl_tensor *f32_tensor(hcl_context *ctx, size_t n, const float *h) {
    int64_t s = (int64_t)n;
    return test_tensor_from(ctx, HCL_F32, 1, &s, h);
}
static hcl_tensor *i32_tensor(hcl_context *ctx, size_t n, const float *h) {
    int64_t s = (int64_t)n;
    return test_tensor_from(ctx, HCL_I32, 1, &s, h);
}

typedef struct shape_case { int rank; int64_t shape[4]; int axis; } shape_case;
static const shape_case shapes[] = {
    {1, {1}, -1}, {1, {7}, -1}, {1, {33}, 0}, {2, {7, 33}, 0}, {2, {7, 33}, 1}, {2, {33, 7}, -1},
    {4, {3, 5, 7, 2}, 1}, {4, {2, 3, 5, 7}, 3}, {3, {1, 1, 1}, 2}, {2, {130, 65}, 0},
};
#define NSHAPES (sizeof shapes / sizeof *shapes)

/* fake-quant forward and backward (exact STE mask) and quantize/dequantize for one shape, scheme
 * and dtype */
static void check_shape(hcl_context *ctx, const shape_case *sh, hcl_quant_scheme sc, hcl_dtype dt) {
    geo g = geo_of(sh->rank, sh->shape, sh->axis);
    float *s = test_falloc(g.C), *z = test_falloc(g.C), *x = test_falloc(g.n), *dy = test_falloc(g.n);
    random_params(s, z, g.C, sc);
    random_x(x, &g, s, z, sc, dt);
    test_fill_normal(dy, g.n, 1.0);
    test_round_to_dtype(dy, g.n, dt);
    hcl_tensor *ts = f32_tensor(ctx, g.C, s), *tz = sc == HCL_QUANT_INT8_SYMMETRIC ? NULL : i32_tensor(ctx, g.C, z);
    hcl_tensor *tx = test_tensor_from(ctx, dt, sh->rank, sh->shape, x), *tdy = test_tensor_from(ctx, dt, sh->rank, sh->shape, dy);
    hcl_tensor *ty = test_tensor_poisoned(ctx, dt, sh->rank, sh->shape), *tdx = test_tensor_poisoned(ctx, dt, sh->rank, sh->shape);
    hcl_dtype qdt = sc == HCL_QUANT_INT8_SYMMETRIC ? HCL_I8 : HCL_U8;
    hcl_tensor *tq = test_tensor_poisoned(ctx, qdt, sh->rank, sh->shape), *tdq = test_tensor_poisoned(ctx, dt, sh->rank, sh->shape);
    CK_OK(ctx, hcl_fake_quant_forward(ctx, ty, tx, ts, tz, sc, sh->axis));
    CK_OK(ctx, hcl_fake_quant_backward(ctx, tdx, tdy, tx, ts, tz, sc, sh->axis));
    CK_OK(ctx, hcl_quantize(ctx, tq, tx, ts, tz, sc, sh->axis));
    CK_OK(ctx, hcl_dequantize(ctx, tdq, tq, ts, tz, sh->axis));
    float *y = test_download(ty), *dx = test_download(tdx), *q = test_download(tq), *dq = test_download(tdq);
    double *ry = test_dalloc(g.n), *rdq = test_dalloc(g.n);
    size_t clamped = 0;
    for (size_t e = 0; e < g.n; e++) {
        size_t c = chan(&g, e);
        ry[e] = ref_fq(x[e], s[c], z[c], sc);
        double rq = ref_quant(x[e], s[c], z[c], sc);
        ck_assert_msg(q[e] == rq, "quantize %s rank %d axis %d [%zu]: x %.9g s %.9g z %g -> %g, want %g (%s)", hcl_dtype_name(dt),
                      sh->rank, sh->axis, e, x[e], s[c], z[c], q[e], rq, test_seed_note());
        rdq[e] = (rq - z[c]) * s[c];
        int in = ref_in_range(x[e], s[c], z[c], sc);
        clamped += !in;
        ck_assert_msg(dx[e] == (in ? dy[e] : 0.0f), "fake-quant backward %s [%zu]: x %.9g s %.9g z %g: dx %g, want %g (%s)",
                      hcl_dtype_name(dt), e, x[e], s[c], z[c], dx[e], in ? dy[e] : 0.0f, test_seed_note());
    }
    double ey = test_rel_err(y, ry, g.n), eq = test_rel_err(dq, rdq, g.n);
    ck_assert_msg(ey <= test_tolerance(dt), "fake-quant forward %s scheme %d rank %d axis %d n %zu: error %g (%s)",
                  hcl_dtype_name(dt), (int)sc, sh->rank, sh->axis, g.n, ey, test_seed_note());
    ck_assert_msg(eq <= test_tolerance(dt), "dequantize %s: error %g (%s)", hcl_dtype_name(dt), eq, test_seed_note());
    /* F32: every element one rounding of (q - z) s */
    if (dt == HCL_F32)
        for (size_t e = 0; e < g.n; e++) ck_assert_msg(y[e] == (float)ry[e] && dq[e] == (float)rdq[e], "F32 [%zu]", e);
    (void)clamped;
    free(s); free(z); free(x); free(dy); free(y); free(dx); free(q); free(dq); free(ry); free(rdq);
    hcl_tensor_free(ts); hcl_tensor_free(tz); hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(ty);
    hcl_tensor_free(tdx); hcl_tensor_free(tq); hcl_tensor_free(tdq);
}

START_TEST(elementwise_each_dtype) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    for (size_t i = 0; i < NSHAPES; i++)
        for (int sc = 0; sc < 2; sc++) check_shape(ctx, &shapes[i], (hcl_quant_scheme)sc, dt);
    hcl_context_free(ctx);
}
END_TEST

/* mixed dtypes (x F16, y BF16, dy F32 ...) and in place (y == x, dx == dy) */
START_TEST(mixed_and_in_place) {
    hcl_context *ctx = test_context();
    const int64_t sh[2] = {7, 33};
    geo g = geo_of(2, sh, 1);
    float s[33], z[33], *x = test_falloc(g.n), *dy = test_falloc(g.n);
    random_params(s, z, 33, HCL_QUANT_UINT8_ASYMMETRIC);
    random_x(x, &g, s, z, HCL_QUANT_UINT8_ASYMMETRIC, HCL_BF16); /* BF16 values are F16-safe here too? no: round to F16 below */
    test_round_to_dtype(x, g.n, HCL_F16);
    test_round_to_dtype(x, g.n, HCL_BF16);
    test_fill_normal(dy, g.n, 1.0);
    test_round_to_dtype(dy, g.n, HCL_BF16);
    hcl_tensor *ts = f32_tensor(ctx, 33, s), *tz = i32_tensor(ctx, 33, z);
    hcl_tensor *tx = test_tensor_from(ctx, HCL_F16, 2, sh, x), *ty = test_tensor_poisoned(ctx, HCL_BF16, 2, sh);
    hcl_tensor *tdy = test_tensor_from(ctx, HCL_F32, 2, sh, dy), *tdx = test_tensor_poisoned(ctx, HCL_F16, 2, sh);
    CK_OK(ctx, hcl_fake_quant_forward(ctx, ty, tx, ts, tz, HCL_QUANT_UINT8_ASYMMETRIC, 1));
    CK_OK(ctx, hcl_fake_quant_backward(ctx, tdx, tdy, tx, ts, tz, HCL_QUANT_UINT8_ASYMMETRIC, 1));
    float *y = test_download(ty), *dx = test_download(tdx);
    double *ry = test_dalloc(g.n);
    for (size_t e = 0; e < g.n; e++) {
        size_t c = chan(&g, e);
        ry[e] = ref_fq(x[e], s[c], z[c], HCL_QUANT_UINT8_ASYMMETRIC);
        ck_assert(dx[e] == (ref_in_range(x[e], s[c], z[c], HCL_QUANT_UINT8_ASYMMETRIC) ? dy[e] : 0.0f));
    }
    ck_assert_msg(test_rel_err(y, ry, g.n) <= test_tolerance(HCL_BF16), "mixed forward (%s)", test_seed_note());
    /* in place: y == x (F32), dx == dy */
    hcl_tensor *tx32 = test_tensor_from(ctx, HCL_F32, 2, sh, x), *tdy32 = test_tensor_from(ctx, HCL_F32, 2, sh, dy);
    CK_OK(ctx, hcl_fake_quant_backward(ctx, tdy32, tdy32, tx32, ts, tz, HCL_QUANT_UINT8_ASYMMETRIC, 1));
    CK_OK(ctx, hcl_fake_quant_forward(ctx, tx32, tx32, ts, tz, HCL_QUANT_UINT8_ASYMMETRIC, 1));
    float *yi = test_download(tx32), *dxi = test_download(tdy32);
    for (size_t e = 0; e < g.n; e++) {
        ck_assert(yi[e] == (float)ry[e]);
        ck_assert(dxi[e] == dx[e]);
    }
    free(x); free(dy); free(y); free(dx); free(ry); free(yi); free(dxi);
    hcl_tensor_free(ts); hcl_tensor_free(tz); hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tdy);
    hcl_tensor_free(tdx); hcl_tensor_free(tx32); hcl_tensor_free(tdy32);
    hcl_context_free(ctx);
}
END_TEST

/* The STE backward against central differences of its surrogate: f(x) = sum dy * clamp(x, lo, hi)
 * with lo = (qmin - z - 1/2) s, hi = (qmax - z + 1/2) s, the function whose derivative the STE
 * is. The inputs stay 0.02 quanta from the bounds, h = 1e-3 quanta. */
typedef struct fd_user { const double *dy; const double *s, *z; const geo *g; hcl_quant_scheme sc; } fd_user;
static double fd_fn(const double *x, void *user) {
    const fd_user *u = user;
    double f = 0;
    for (size_t e = 0; e < u->g->n; e++) {
        size_t c = chan(u->g, e);
        double lo = (qmin_of(u->sc) - u->z[c] - 0.5) * u->s[c], hi = (qmax_of(u->sc) - u->z[c] + 0.5) * u->s[c];
        f += u->dy[e] * (x[e] < lo ? lo : x[e] > hi ? hi : x[e]);
    }
    return f;
}

START_TEST(backward_finite_differences) {
    hcl_context *ctx = test_context();
    const int64_t sh[2] = {5, 7};
    for (int sc = 0; sc < 2; sc++) {
        for (int axis = -1; axis < 2; axis++) {
            geo g = geo_of(2, sh, axis);
            float s[7], z[7], x[35], dy[35];
            random_params(s, z, g.C, (hcl_quant_scheme)sc);
            random_x(x, &g, s, z, (hcl_quant_scheme)sc, HCL_F32);
            test_fill_normal(dy, 35, 1.0);
            hcl_tensor *ts = f32_tensor(ctx, g.C, s), *tz = sc ? i32_tensor(ctx, g.C, z) : NULL;
            hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 2, sh, x), *tdy = test_tensor_from(ctx, HCL_F32, 2, sh, dy);
            hcl_tensor *tdx = test_tensor_poisoned(ctx, HCL_F32, 2, sh);
            CK_OK(ctx, hcl_fake_quant_backward(ctx, tdx, tdy, tx, ts, tz, (hcl_quant_scheme)sc, axis));
            float *dx = test_download(tdx);
            double xd[35], dyd[35], sd[7], zd[7], num[35];
            for (int i = 0; i < 35; i++) { xd[i] = x[i]; dyd[i] = dy[i]; }
            double smin = 1;
            for (size_t c = 0; c < g.C; c++) { sd[c] = s[c]; zd[c] = z[c]; smin = fmin(smin, s[c]); }
            fd_user u = {dyd, sd, zd, &g, (hcl_quant_scheme)sc};
            test_numeric_grad(fd_fn, &u, xd, 35, 1e-3 * smin, num);
            for (int i = 0; i < 35; i++)
                ck_assert_msg(fabs(dx[i] - num[i]) <= 1e-6 * (1 + fabs(num[i])), "scheme %d axis %d [%d]: dx %g, fd %g (%s)", sc,
                              axis, i, dx[i], num[i], test_seed_note());
            free(dx);
            hcl_tensor_free(ts); hcl_tensor_free(tz); hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(tdx);
        }
    }
    hcl_context_free(ctx);
}
END_TEST

/* Exact halves round to even; beyond the range clamps; NaN and inf. s = 0.5 (x/s exact). */
START_TEST(ties_clamp_nan) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    /* x / s = t */
    const double t[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 126.5, -126.5, 127.5, -127.5, 130, -130, 1e30, -1e30};
    /* the ties first, NaN and inf inside the second 8-element block (the kernels' vector path)
     * and NaN again in the tail */
    enum { NT = sizeof t / sizeof *t, N = NT + 4 };
    for (int sc = 0; sc < 2; sc++) {
        float x[N], s = 0.5f, z = sc ? 3.0f : 0.0f;
        int k = 0;
        for (int i = 0; i < 10; i++) x[k++] = (float)(t[i] * 0.5);
        x[k++] = NAN;
        x[k++] = INFINITY;
        x[k++] = -INFINITY;
        for (int i = 10; i < NT; i++) x[k++] = (float)(t[i] * 0.5);
        x[k++] = NAN;
        if (dt != HCL_F32) x[N - 3] = 60000.0f, x[N - 2] = -60000.0f; /* 1e30 is not finite in F16 */
        float check[N];
        memcpy(check, x, sizeof x);
        test_round_to_dtype(check, N, dt);
        for (int i = 0; i < 10; i++) ck_assert(check[i] == x[i]); /* the ties are exact in every dtype */
        memcpy(x, check, sizeof x);                             /* (BF16 rounds 63.75 = 127.5 s) */
        const int64_t n = N;
        hcl_tensor *ts = f32_tensor(ctx, 1, &s), *tz = sc ? i32_tensor(ctx, 1, &z) : NULL;
        hcl_tensor *tx = test_tensor_from(ctx, dt, 1, &n, x), *ty = test_tensor_poisoned(ctx, dt, 1, &n);
        hcl_tensor *tq = test_tensor_poisoned(ctx, sc ? HCL_U8 : HCL_I8, 1, &n);
        float ones[N];
        for (int i = 0; i < N; i++) ones[i] = 1.0f;
        hcl_tensor *tdy = test_tensor_from(ctx, dt, 1, &n, ones), *tdx = test_tensor_poisoned(ctx, dt, 1, &n);
        CK_OK(ctx, hcl_quantize(ctx, tq, tx, ts, tz, (hcl_quant_scheme)sc, -1));
        CK_OK(ctx, hcl_fake_quant_forward(ctx, ty, tx, ts, tz, (hcl_quant_scheme)sc, -1));
        CK_OK(ctx, hcl_fake_quant_backward(ctx, tdx, tdy, tx, ts, tz, (hcl_quant_scheme)sc, -1));
        float *q = test_download(tq), *y = test_download(ty), *dx = test_download(tdx);
        for (int i = 0; i < N; i++) {
            double want = ref_quant(x[i], s, z, (hcl_quant_scheme)sc);
            ck_assert_msg(q[i] == want, "%s scheme %d: x %g -> q %g, want %g", hcl_dtype_name(dt), sc, x[i], q[i], want);
            if (isnan(x[i])) {
                ck_assert(isnan(y[i]));
                ck_assert(dx[i] == 1.0f); /* NaN passes the gradient through */
            } else {
                ck_assert_msg(y[i] == (float)((want - z) * s), "%s: fake-quant of %g = %g", hcl_dtype_name(dt), x[i], y[i]);
                ck_assert(dx[i] == (ref_in_range(x[i], s, z, (hcl_quant_scheme)sc) ? 1.0f : 0.0f));
            }
        }
        /* the ties themselves: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2, -2.5 -> -2 */
        const double even[] = {0, 2, 2, 0, -2, -2, 4, -4, 126, -126};
        for (int i = 0; i < 10; i++) {
            double w = even[i] + z;
            w = w < qmin_of((hcl_quant_scheme)sc) ? qmin_of((hcl_quant_scheme)sc) : w;
            ck_assert_msg(q[i] == w, "tie %g -> %g, want %g", t[i], q[i], w);
        }
        free(q); free(y); free(dx);
        hcl_tensor_free(ts); hcl_tensor_free(tz); hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tq);
        hcl_tensor_free(tdy); hcl_tensor_free(tdx);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ observer and parameters */

START_TEST(observe_each_dtype) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    const shape_case cases[] = {
        {1, {1}, -1}, {2, {7, 33}, 0}, {2, {7, 33}, 1}, {4, {2, 3, 5, 7}, 1}, {2, {3, 20000}, 0}, {1, {100003}, -1},
    };
    size_t ncases = small_run() ? 4 : sizeof cases / sizeof *cases;
    for (size_t ci = 0; ci < ncases; ci++) {
        const shape_case *sh = &cases[ci];
        geo g = geo_of(sh->rank, sh->shape, sh->axis);
        float *x = test_falloc(g.n), *x2 = test_falloc(g.n);
        test_fill_normal(x, g.n, 3.0);
        test_fill_normal(x2, g.n, 2.0);
        if (g.n > 3) x[g.n / 2] = NAN, x[1] = NAN; /* ignored */
        test_round_to_dtype(x, g.n, dt);
        test_round_to_dtype(x2, g.n, dt);
        int64_t rs[2] = {(int64_t)g.C, 2};
        hcl_tensor *tx = test_tensor_from(ctx, dt, sh->rank, sh->shape, x), *tx2 = test_tensor_from(ctx, dt, sh->rank, sh->shape, x2);
        hcl_tensor *tr = test_tensor_poisoned(ctx, HCL_F32, 2, rs);
        CK_OK(ctx, hcl_quant_observe(ctx, tr, tx, sh->axis, 0.5f, 1));
        float *r1 = test_download(tr);
        float momentum = 0.1f;
        CK_OK(ctx, hcl_quant_observe(ctx, tr, tx2, sh->axis, momentum, 0));
        float *r2 = test_download(tr);
        double *mn = test_dalloc(g.C), *mx = test_dalloc(g.C), *mn2 = test_dalloc(g.C), *mx2 = test_dalloc(g.C);
        for (size_t c = 0; c < g.C; c++) mn[c] = mn2[c] = INFINITY, mx[c] = mx2[c] = -INFINITY;
        for (size_t e = 0; e < g.n; e++) {
            size_t c = chan(&g, e);
            if (!isnan(x[e])) mn[c] = fmin(mn[c], x[e]), mx[c] = fmax(mx[c], x[e]);
            mn2[c] = fmin(mn2[c], x2[e]);
            mx2[c] = fmax(mx2[c], x2[e]);
        }
        for (size_t c = 0; c < g.C; c++) {
            if (mn[c] > mx[c]) mn[c] = mx[c] = 0; /* only NaN */
            ck_assert_msg(r1[2 * c] == mn[c] && r1[2 * c + 1] == mx[c], "%s case %zu channel %zu: [%g, %g], want [%g, %g]",
                          hcl_dtype_name(dt), ci, c, r1[2 * c], r1[2 * c + 1], mn[c], mx[c]);
            double e0 = mn[c] + momentum * (mn2[c] - mn[c]), e1 = mx[c] + momentum * (mx2[c] - mx[c]);
            ck_assert_msg(fabs(r2[2 * c] - e0) <= 1e-6 * (1 + fabs(e0)) && fabs(r2[2 * c + 1] - e1) <= 1e-6 * (1 + fabs(e1)),
                          "EMA channel %zu: [%g, %g], want [%g, %g]", c, r2[2 * c], r2[2 * c + 1], e0, e1);
        }
        free(x); free(x2); free(r1); free(r2); free(mn); free(mx); free(mn2); free(mx2);
        hcl_tensor_free(tx); hcl_tensor_free(tx2); hcl_tensor_free(tr);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(params_from_range) {
    hcl_context *ctx = test_context();
    enum { C = 12 };
    float r[2 * C] = {-1, 2, 0.5f, 3, -4, -0.25f, 0, 0, -1e-9f, 1e-9f, NAN, 1, -2.54f, 2.54f, -0.001f, 100,
                      -100, 0.001f, 1e30f, 2e30f, -7.3f, 7.4f, 0, 5};
    int64_t rs[2] = {C, 2};
    hcl_tensor *tr = test_tensor_from(ctx, HCL_F32, 2, rs, r);
    for (int sc = 0; sc < 2; sc++) {
        int64_t c = C;
        hcl_tensor *ts = test_tensor_poisoned(ctx, HCL_F32, 1, &c), *tz = sc ? test_tensor_poisoned(ctx, HCL_I32, 1, &c) : NULL;
        CK_OK(ctx, hcl_quant_params_from_range(ctx, ts, tz, tr, (hcl_quant_scheme)sc));
        float *s = test_download(ts), *z = tz ? test_download(tz) : NULL;
        for (int i = 0; i < C; i++) {
            double lo = isnan(r[2 * i]) ? 0 : fmin(r[2 * i], 0), hi = isnan(r[2 * i + 1]) ? 0 : fmax(r[2 * i + 1], 0);
            double ws = sc ? (hi - lo) / 255 : fmax(-lo, hi) / 127;
            ws = fmax(ws, FLT_EPSILON);
            ck_assert_msg(fabs(s[i] - ws) <= 1e-6 * ws, "scheme %d range [%g, %g]: s %.9g, want %.9g", sc, r[2 * i], r[2 * i + 1],
                          s[i], ws);
            ck_assert(s[i] > 0);
            if (sc) {
                double t = -lo / s[i], wz = rint(t);
                wz = wz < 0 ? 0 : wz > 255 ? 255 : wz;
                if (fabs(t - floor(t) - 0.5) > 1e-4) ck_assert_msg(z[i] == wz, "range [%g, %g]: z %g, want %g", r[2 * i], r[2 * i + 1], z[i], wz);
                /* zero is exactly representable: fake-quant of 0 is 0 */
                ck_assert(ref_fq(0.0, s[i], z[i], HCL_QUANT_UINT8_ASYMMETRIC) == 0.0);
            }
        }
        free(s); free(z);
        hcl_tensor_free(ts); hcl_tensor_free(tz);
    }
    hcl_tensor_free(tr);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ int8 GEMM and conv */

static void fill_u8(float *a, size_t n) { for (size_t i = 0; i < n; i++) a[i] = (float)(int)test_uniform(0, 256); }
static void fill_i8(float *w, size_t n, int lo) { for (size_t i = 0; i < n; i++) w[i] = (float)(int)test_uniform(lo, 128); }

static double ref_act(hcl_activation act, double v) { return act == HCL_ACT_RELU ? (v > 0 ? v : 0) : v; }

/* c (M,N) dt vs FP64; exact: scales 1, no bias, F32 output, |sums| < 2^24 -> every element equal */
static void check_gemm(hcl_context *ctx, size_t M, size_t N, size_t K, hcl_dtype dt, int exact, int per_row, int with_zp,
                       int with_bias, hcl_activation act) {
    float *a = test_falloc(M * K), *w = test_falloc(N * K), ws[1024], bias[1024], as, az;
    fill_u8(a, M * K);
    fill_i8(w, N * K, exact ? -128 : -127);
    az = with_zp ? (float)(int)test_uniform(0, 256) : 0.0f;
    as = exact ? 1.0f : (float)test_uniform(0.001, 0.05);
    size_t nws = per_row ? N : 1;
    for (size_t i = 0; i < nws; i++) ws[i] = exact ? 1.0f : (float)test_uniform(0.001, 0.05);
    for (size_t i = 0; i < N; i++) bias[i] = (float)test_uniform(-2, 2);
    test_round_to_dtype(bias, N, dt);
    int64_t sa[2] = {(int64_t)M, (int64_t)K}, sw[2] = {(int64_t)N, (int64_t)K}, sc[2] = {(int64_t)M, (int64_t)N};
    hcl_tensor *ta = test_tensor_from(ctx, HCL_U8, 2, sa, a), *tw = test_tensor_from(ctx, HCL_I8, 2, sw, w);
    hcl_tensor *tas = f32_tensor(ctx, 1, &as), *taz = with_zp ? i32_tensor(ctx, 1, &az) : NULL, *tws = f32_tensor(ctx, nws, ws);
    int64_t nb = (int64_t)N;
    hcl_tensor *tb = with_bias ? test_tensor_from(ctx, dt, 1, &nb, bias) : NULL, *tc = test_tensor_poisoned(ctx, dt, 2, sc);
    CK_OK(ctx, hcl_gemm_i8(ctx, tc, ta, tas, taz, tw, tws, tb, act));
    float *c = test_download(tc);
    double *ref = test_dalloc(M * N), num = 0, den = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            int64_t acc = 0;
            for (size_t k = 0; k < K; k++) acc += (int64_t)((int)a[m * K + k] - (int)az) * (int64_t)w[n * K + k];
            double prod = (double)as * ws[per_row ? n : 0] * (double)acc, b = with_bias ? bias[n] : 0;
            ref[m * N + n] = ref_act(act, prod + b);
            /* the epilogue's F32 rounding is relative to its terms, not to a sum that cancelled
             * (1x1x1: scale*acc close to -bias measured 2.8e-6 of the result on Intel) */
            double d = c[m * N + n] - ref[m * N + n], mag = fmax(fabs(prod) + fabs(b), fabs(ref[m * N + n]));
            num += d * d;
            den += mag * mag;
            if (exact) ck_assert_msg(c[m * N + n] == (float)acc, "exact %zux%zux%zu [%zu,%zu]: %g, want %lld", M, N, K, m, n,
                                     c[m * N + n], (long long)acc);
        }
    double e = den > 0 ? sqrt(num / den) : sqrt(num), tol = dt == HCL_F32 ? 1e-6 : test_tolerance(dt);
    ck_assert_msg(e <= tol, "gemm_i8 %zux%zux%zu %s per_row %d zp %d bias %d act %d: error %g > %g (%s)", M, N, K, hcl_dtype_name(dt),
                  per_row, with_zp, with_bias, (int)act, e, tol, test_seed_note());
    free(a); free(w); free(c); free(ref);
    hcl_tensor_free(ta); hcl_tensor_free(tw); hcl_tensor_free(tas); hcl_tensor_free(taz); hcl_tensor_free(tws);
    hcl_tensor_free(tb); hcl_tensor_free(tc);
}

START_TEST(gemm_i8_shapes) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    const size_t sizes[] = {1, 7, 33, 130};
    size_t ns = small_run() ? 3 : 4, v = 0;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < ns; j++)
            for (size_t k = 0; k < ns; k++, v++) {
                if (dt == HCL_F32) check_gemm(ctx, sizes[i], sizes[j], sizes[k], dt, 1, 1, 1, 0, HCL_ACT_NONE);
                check_gemm(ctx, sizes[i], sizes[j], sizes[k], dt, 0, (int)(v % 2), (int)(v % 3 != 0), (int)(v % 4 != 1),
                           v % 5 == 2 ? HCL_ACT_RELU : HCL_ACT_NONE);
            }
    /* long K: the 16-wide k loop, its tail, sums beyond 2^24 */
    check_gemm(ctx, 9, 17, small_run() ? 1000 : 4133, dt, 0, 1, 1, 1, HCL_ACT_NONE);
    hcl_context_free(ctx);
}
END_TEST

/* y (N,K,P,Q) vs the FP64 direct convolution; taps in the padding contribute (z - z) w = 0 */
static void check_conv(hcl_context *ctx, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int stride, int pad,
                       hcl_dtype dt, int per_channel, int with_bias) {
    int64_t P = hcl_conv2d_out_size(H, R, stride, pad, 1), Q = hcl_conv2d_out_size(W, R, stride, pad, 1);
    size_t nx = (size_t)(N * C * H * W), nw = (size_t)(K * C * R * R), ny = (size_t)(N * K * P * Q);
    float *x = test_falloc(nx), *w = test_falloc(nw), ws[64], bias[64], xs = (float)test_uniform(0.01, 0.1);
    float xz = (float)(int)test_uniform(0, 256);
    fill_u8(x, nx);
    fill_i8(w, nw, -127);
    for (int64_t k = 0; k < K; k++) ws[k] = (float)test_uniform(0.001, 0.05), bias[k] = (float)test_uniform(-1, 1);
    test_round_to_dtype(bias, (size_t)K, dt);
    int64_t sx[4] = {N, C, H, W}, sw[4] = {K, C, R, R}, sy[4] = {N, K, P, Q};
    hcl_tensor *tx = test_tensor_from(ctx, HCL_U8, 4, sx, x), *tw = test_tensor_from(ctx, HCL_I8, 4, sw, w);
    hcl_tensor *txs = f32_tensor(ctx, 1, &xs), *txz = i32_tensor(ctx, 1, &xz), *tws = f32_tensor(ctx, per_channel ? (size_t)K : 1, ws);
    hcl_tensor *tb = with_bias ? test_tensor_from(ctx, dt, 1, &K, bias) : NULL, *ty = test_tensor_poisoned(ctx, dt, 4, sy);
    CK_OK(ctx, hcl_conv2d_i8_forward(ctx, ty, tx, txs, txz, tw, tws, tb, stride, pad, HCL_ACT_NONE));
    float *y = test_download(ty);
    double *ref = test_dalloc(ny);
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t p = 0; p < P; p++)
                for (int64_t q = 0; q < Q; q++) {
                    int64_t acc = 0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t r = 0; r < R; r++)
                            for (int64_t s = 0; s < R; s++) {
                                int64_t h = p * stride - pad + r, wc = q * stride - pad + s;
                                double xv = (h < 0 || h >= H || wc < 0 || wc >= W) ? xz : x[((n * C + c) * H + h) * W + wc];
                                acc += (int64_t)(xv - xz) * (int64_t)w[((k * C + c) * R + r) * R + s];
                            }
                    ref[((n * K + k) * P + p) * Q + q] = (double)xs * ws[per_channel ? k : 0] * (double)acc + (with_bias ? bias[k] : 0);
                }
    double e = test_rel_err(y, ref, ny), tol = dt == HCL_F32 ? 1e-6 : test_tolerance(dt);
    ck_assert_msg(e <= tol, "conv_i8 N%lld C%lld %lldx%lld K%lld R%lld stride %d pad %d %s: error %g (%s)", (long long)N, (long long)C,
                  (long long)H, (long long)W, (long long)K, (long long)R, stride, pad, hcl_dtype_name(dt), e, test_seed_note());
    free(x); free(w); free(y); free(ref);
    hcl_tensor_free(tx); hcl_tensor_free(tw); hcl_tensor_free(txs); hcl_tensor_free(txz); hcl_tensor_free(tws);
    hcl_tensor_free(tb); hcl_tensor_free(ty);
}

START_TEST(conv2d_i8_shapes) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    int64_t N = small_run() ? 1 : 2;
    check_conv(ctx, N, 3, 7, 9, 5, 3, 1, 1, dt, 1, 1);
    check_conv(ctx, N, 3, 7, 9, 5, 3, 2, 0, dt, 0, 0);
    check_conv(ctx, N, 1, 5, 5, 1, 1, 1, 0, dt, 1, 0);
    check_conv(ctx, N, 7, 11, 8, 33, 3, 2, 1, dt, 1, 1);
    check_conv(ctx, 1, 2, 4, 4, 3, 5, 1, 2, dt, 1, 1); /* kernel larger than the unpadded image */
    if (!small_run()) check_conv(ctx, 3, 16, 14, 14, 32, 3, 1, 1, dt, 1, 1);
    hcl_context_free(ctx);
}
END_TEST

/* Both int8 GEMM kernels (the dot kernel for small/skinny shapes, the packed panels) forced on
 * every shape, odd sizes and K beyond one exact float chunk (512) included. */
START_TEST(gemm_i8_both_paths) {
    hcl_context *ctx = test_context();
    const size_t sizes[][3] = {{1, 1, 1}, {1, 7, 33}, {7, 1, 130}, {33, 7, 1}, {17, 33, 16}, {130, 33, 7}, {33, 130, 1100},
                               {16, 32, 512}, {31, 65, 1025}};
    size_t n = small_run() ? 6 : sizeof sizes / sizeof *sizes;
    for (int force = 1; force <= 2; force++) {
        hcl_i8_gemm_force = force;
        for (size_t i = 0; i < n; i++) {
            check_gemm(ctx, sizes[i][0], sizes[i][1], sizes[i][2], HCL_F32, sizes[i][2] <= 130, 1, 1, 0, HCL_ACT_NONE);
            check_gemm(ctx, sizes[i][0], sizes[i][1], sizes[i][2], test_float_dtypes[i % 3], 0, (int)(i % 2), (int)(i % 3 != 1),
                       1, i % 2 ? HCL_ACT_RELU : HCL_ACT_NONE);
        }
        check_conv(ctx, 1, 3, 6, 7, 5, 3, 1, 1, HCL_F32, 1, 1);
        check_conv(ctx, 2, 4, 9, 9, 9, 3, 2, 1, HCL_BF16, 0, 1);
    }
    hcl_i8_gemm_force = 0;
    hcl_context_free(ctx);
}
END_TEST

/* A zero point outside 0..255 is clamped (the U8 operand's valid range); NULL zero point = 0. */
START_TEST(gemm_i8_zero_point_edges) {
    hcl_context *ctx = test_context();
    float a[4] = {0, 255, 10, 20}, w[4] = {1, -1, 2, 127}, one = 1.0f, zp = 300.0f;
    int64_t s[2] = {1, 4}, sc[2] = {1, 1};
    hcl_tensor *ta = test_tensor_from(ctx, HCL_U8, 2, s, a), *tw = test_tensor_from(ctx, HCL_I8, 2, s, w);
    hcl_tensor *t1 = f32_tensor(ctx, 1, &one), *tz = i32_tensor(ctx, 1, &zp), *tc = test_tensor_poisoned(ctx, HCL_F32, 2, sc);
    CK_OK(ctx, hcl_gemm_i8(ctx, tc, ta, t1, tz, tw, t1, NULL, HCL_ACT_NONE));
    float *c = test_download(tc);
    ck_assert_msg(c[0] == (float)((0 - 255) * 1 + (255 - 255) * -1 + (10 - 255) * 2 + (20 - 255) * 127), "clamped zp: %g", c[0]);
    free(c);
    CK_OK(ctx, hcl_gemm_i8(ctx, tc, ta, t1, NULL, tw, t1, NULL, HCL_ACT_NONE));
    c = test_download(tc);
    ck_assert(c[0] == (float)(0 - 255 + 20 + 20 * 127));
    free(c);
    hcl_tensor_free(ta); hcl_tensor_free(tw); hcl_tensor_free(t1); hcl_tensor_free(tz); hcl_tensor_free(tc);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("quant");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, elementwise_each_dtype, 0, 3);
    tcase_add_test(tc, mixed_and_in_place);
    tcase_add_test(tc, backward_finite_differences);
    tcase_add_loop_test(tc, ties_clamp_nan, 0, 3);
    tcase_add_loop_test(tc, observe_each_dtype, 0, 3);
    tcase_add_test(tc, params_from_range);
    tcase_add_loop_test(tc, gemm_i8_shapes, 0, 3);
    tcase_add_test(tc, gemm_i8_zero_point_edges);
    tcase_add_test(tc, gemm_i8_both_paths);
    tcase_add_loop_test(tc, conv2d_i8_shapes, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
