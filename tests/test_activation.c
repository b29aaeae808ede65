/* Activations: every forward against an FP64 host reference, every backward against the analytic
 * FP64 derivative and central finite differences of the reference, in F32/F16/BF16 storage and
 * mixed; in place (y == x, dx == dy); both kernel paths (1 and 8 elements per work-item, offset
 * views); large |x| stays finite and correct; every bad-input status. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "ops/ops_internal.h"

static const size_t sizes[] = {1, 7, 33, 1031};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- FP64 references ---- */
static double ref_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static double ref_act(int act, double x, double alpha) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0 ? x : 0;
    case HCL_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case HCL_ACT_SIGMOID: return ref_sigmoid(x);
    case HCL_ACT_TANH: return tanh(x);
    case HCL_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case HCL_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case HCL_ACT_SILU: return x * ref_sigmoid(x);
    default: return x;
    }
}

static double ref_dact(int act, double x, double alpha) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0 ? 1 : 0;
    case HCL_ACT_LEAKY_RELU: return x > 0 ? 1 : alpha;
    case HCL_ACT_SIGMOID: { double s = ref_sigmoid(x); return s * ref_sigmoid(-x); }
    case HCL_ACT_TANH: { double c = cosh(x); return isinf(c) ? 0 : 1.0 / (c * c); }
    case HCL_ACT_GELU: return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
    case HCL_ACT_GELU_TANH: {
        double c = sqrt(2.0 / 3.14159265358979323846), u = c * (x + 0.044715 * x * x * x), t = tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
    case HCL_ACT_SILU: { double s = ref_sigmoid(x); return s + x * s * ref_sigmoid(-x); }
    default: return 1;
    }
}

/* x in [-6, 6] (large |x| has its own test) and at least 0.05 from ReLU's kink, so central
 * differences with h = 1e-4 never straddle it; their truncation (h^2/6 |f'''|) and rounding
 * (~1e-16 |f| / h) errors stay below 1e-7 of the smallest derivative met (tanh'(6) = 2.5e-5). */
static void fill_inputs(float *x, size_t n, hcl_dtype dt) {
    test_fill_normal(x, n, 2.5);
    for (size_t i = 0; i < n; i++) {
        x[i] = x[i] >= 0 ? x[i] + 0.05f : x[i] - 0.05f;
        x[i] = x[i] > 6.0f ? 6.0f : x[i] < -6.0f ? -6.0f : x[i];
    }
    test_round_to_dtype(x, n, dt);
}

/* ||a - ref|| / max(||ref||, sqrt(n)): the relative error, with an absolute floor at the O(1)
 * scale of these inputs (x ~ 2.5 N(0,1), dy ~ N(0,1)). Near a zero of f (GELU' at -0.75, tanh'
 * at |x| = 6, one small dy) FP32 math has absolute error ~eps and F16 stores subnormals, which a
 * pure relative error of a single element would wrongly count as large. */
static double err_floor(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        num += (a[i] - ref[i]) * (a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / fmax(den, (double)n));
}

static void check_in_place(hcl_context *ctx, hcl_dtype dt);

static hcl_tensor *vec1(hcl_context *ctx, hcl_dtype dt, size_t n, const float *host) {
    int64_t s = (int64_t)n;
    return host ? test_tensor_from(ctx, dt, 1, &s, host) : test_tensor_poisoned(ctx, dt, 1, &s);
}

/* Forward of every activation at every size, output dtype yd, input dtype xd. */
static void check_forward(hcl_context *ctx, hcl_dtype yd, hcl_dtype xd) {
    for (int act = 0; act < HCL_ACT_COUNT_; act++) {
        for (size_t si = 0; si < NSIZES; si++) {
            size_t n = sizes[si];
            float alpha = (float)test_uniform(0.01, 0.3);
            float *x = malloc(n * sizeof *x);
            double *ref = malloc(n * sizeof *ref);
            fill_inputs(x, n, xd);
            for (size_t i = 0; i < n; i++) ref[i] = ref_act(act, x[i], alpha);
            hcl_tensor *tx = vec1(ctx, xd, n, x), *ty = vec1(ctx, yd, n, NULL);
            CK_OK(ctx, hcl_activation_forward(ctx, ty, tx, (hcl_activation)act, alpha));
            float *y = test_download(ty);
            double e = err_floor(y, ref, n);
            ck_assert_msg(e <= test_tolerance(yd), "%s forward y %s x %s n=%zu: error %g > %g (%s)", hcl_activation_name(act),
                          hcl_dtype_name(yd), hcl_dtype_name(xd), n, e, test_tolerance(yd), test_seed_note());
            free(x); free(ref); free(y);
            hcl_tensor_free(tx); hcl_tensor_free(ty);
        }
    }
}

typedef struct fd_user { int act; double alpha; const double *dy; size_t n; } fd_user;

/* f(x) = sum_i dy_i act(x_i): its gradient is dy * act'(x). */
static double fd_fn(const double *x, void *user) {
    const fd_user *u = user;
    double s = 0;
    for (size_t i = 0; i < u->n; i++) s += u->dy[i] * ref_act(u->act, x[i], u->alpha);
    return s;
}

static void check_backward(hcl_context *ctx, hcl_dtype dxd, hcl_dtype dyd, hcl_dtype xd) {
    for (int act = 0; act < HCL_ACT_COUNT_; act++) {
        for (size_t si = 0; si < NSIZES; si++) {
            size_t n = sizes[si];
            float alpha = (float)test_uniform(0.01, 0.3);
            float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
            double *ref = malloc(n * sizeof *ref), *xd64 = malloc(n * sizeof *xd64), *dyd64 = malloc(n * sizeof *dyd64);
            double *num = malloc(n * sizeof *num);
            fill_inputs(x, n, xd);
            test_fill_normal(dy, n, 1.0);
            test_round_to_dtype(dy, n, dyd);
            for (size_t i = 0; i < n; i++) {
                ref[i] = dy[i] * ref_dact(act, x[i], alpha);
                xd64[i] = x[i];
                dyd64[i] = dy[i];
            }
            hcl_tensor *tx = vec1(ctx, xd, n, x), *tdy = vec1(ctx, dyd, n, dy), *tdx = vec1(ctx, dxd, n, NULL);
            CK_OK(ctx, hcl_activation_backward(ctx, tdx, tdy, tx, (hcl_activation)act, alpha));
            float *dx = test_download(tdx);
            double e = err_floor(dx, ref, n), tol = test_tolerance(dxd);
            ck_assert_msg(e <= tol, "%s backward dx %s n=%zu: error vs analytic %g > %g (%s)", hcl_activation_name(act),
                          hcl_dtype_name(dxd), n, e, tol, test_seed_note());
            if (n <= 200) { /* central differences of the FP64 forward reference */
                fd_user u = {act, alpha, dyd64, n};
                test_numeric_grad(fd_fn, &u, xd64, n, 1e-6, num);
                double en = err_floor(dx, num, n);
                ck_assert_msg(en <= tol + 1e-6, "%s backward dx %s n=%zu: error vs finite differences %g (%s)",
                              hcl_activation_name(act), hcl_dtype_name(dxd), n, en, test_seed_note());
            }
            free(x); free(dy); free(ref); free(xd64); free(dyd64); free(num); free(dx);
            hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(tdx);
        }
    }
}

START_TEST(mixed_dtypes) {
    hcl_context *ctx = test_context();
    check_forward(ctx, HCL_BF16, HCL_F32);
    check_backward(ctx, HCL_F32, HCL_F16, HCL_BF16);
    hcl_context_free(ctx);
}
END_TEST

/* None and ReLU on F16 compute in half on a cl_khr_fp16 device (the native variants): forward and
 * backward give the bits of the storage-only variants (float math), with one and eight elements
 * per work-item, at an odd view offset (unaligned half8) and a tail, over all kinds of half
 * values. On other devices both contexts run the same kernels. */
START_TEST(native_half_same_bits) {
    hcl_context *nat = test_context_half(HCL_HALF_NATIVE), *sto = test_context_half(HCL_HALF_STORAGE);
    ck_assert_int_eq(hcl_context_native_half(nat), hcl_context_device(nat)->has_fp16);
    ck_assert_int_eq(hcl_context_native_half(sto), 0);
    const size_t n = 1029, off = 3;
    int64_t full = (int64_t)(n + off), shape = (int64_t)n;
    float *x = malloc((n + off) * sizeof *x), *dy = malloc((n + off) * sizeof *dy);
    ck_assert(x && dy);
    test_fill_half_patterns(x, n + off);
    test_fill_half_patterns(dy, n + off);
    hcl_context *ctxs[2] = {nat, sto};
    hcl_tensor *tx[2], *tdy[2], *ty[2], *tdx[2], *vx[2], *vdy[2], *vy[2], *vdx[2];
    for (int c = 0; c < 2; c++) {
        tx[c] = test_tensor_from(ctxs[c], HCL_F16, 1, &full, x);
        tdy[c] = test_tensor_from(ctxs[c], HCL_F16, 1, &full, dy);
        ty[c] = test_tensor_poisoned(ctxs[c], HCL_F16, 1, &full);
        tdx[c] = test_tensor_poisoned(ctxs[c], HCL_F16, 1, &full);
        CK_OK(ctxs[c], hcl_tensor_view(tx[c], off, 1, &shape, &vx[c]));
        CK_OK(ctxs[c], hcl_tensor_view(tdy[c], off, 1, &shape, &vdy[c]));
        CK_OK(ctxs[c], hcl_tensor_view(ty[c], off, 1, &shape, &vy[c]));
        CK_OK(ctxs[c], hcl_tensor_view(tdx[c], off, 1, &shape, &vdx[c]));
    }
    const hcl_activation acts[] = {HCL_ACT_NONE, HCL_ACT_RELU};
    for (int vec = 1; vec <= 8; vec += 7) {
        hcl_elementwise_vec_override = vec;
        for (int a = 0; a < 2; a++) {
            for (int c = 0; c < 2; c++) {
                CK_OK(ctxs[c], hcl_activation_forward(ctxs[c], vy[c], vx[c], acts[a], 0.0f));
                CK_OK(ctxs[c], hcl_activation_backward(ctxs[c], vdx[c], vdy[c], vx[c], acts[a], 0.0f));
            }
            char what[64];
            snprintf(what, sizeof what, "act %d forward vec %d", (int)acts[a], vec);
            test_assert_same_f16(ty[0], ty[1], n + off, what);
            snprintf(what, sizeof what, "act %d backward vec %d", (int)acts[a], vec);
            test_assert_same_f16(tdx[0], tdx[1], n + off, what);
        }
    }
    for (int c = 0; c < 2; c++) {
        hcl_tensor *all[] = {vx[c], vdy[c], vy[c], vdx[c], tx[c], tdy[c], ty[c], tdx[c]};
        for (size_t i = 0; i < 8; i++) hcl_tensor_free(all[i]);
    }
    free(x);
    free(dy);
    hcl_context_free(nat);
    hcl_context_free(sto);
}
END_TEST

/* The 8-elements-per-work-item path (GPU default) on views at odd offsets, so vector loads are
 * unaligned and the last work-item has a tail; and in place. */
START_TEST(vector_path) {
    hcl_context *ctx = test_context();
    hcl_elementwise_vec_override = 8;
    const int acts[] = {HCL_ACT_LEAKY_RELU, HCL_ACT_GELU, HCL_ACT_SILU};
    for (int c = 0; c < 3 * 3; c++) {
        hcl_dtype dt = test_float_dtypes[c / 3];
        int a = c % 3;
        for (size_t si = 0; si < NSIZES; si++) {
            size_t n = sizes[si] + 8, off = 3;
            float *x = malloc((n + off) * sizeof *x), *dy = malloc((n + off) * sizeof *dy);
            double *ry = malloc(n * sizeof *ry), *rdx = malloc(n * sizeof *rdx);
            fill_inputs(x, n + off, dt);
            test_fill_normal(dy, n + off, 1.0);
            test_round_to_dtype(dy, n + off, dt);
            for (size_t i = 0; i < n; i++) {
                ry[i] = ref_act(acts[a], x[off + i], 0.1);
                rdx[i] = dy[off + i] * ref_dact(acts[a], x[off + i], 0.1);
            }
            hcl_tensor *bx = vec1(ctx, dt, n + off, x), *bdy = vec1(ctx, dt, n + off, dy);
            hcl_tensor *by = vec1(ctx, dt, n + off, NULL), *bdx = vec1(ctx, dt, n + off, NULL);
            hcl_tensor *vx, *vdy, *vy, *vdx;
            int64_t s = (int64_t)n;
            CK_OK(ctx, hcl_tensor_view(bx, off, 1, &s, &vx));
            CK_OK(ctx, hcl_tensor_view(bdy, off, 1, &s, &vdy));
            CK_OK(ctx, hcl_tensor_view(by, off, 1, &s, &vy));
            CK_OK(ctx, hcl_tensor_view(bdx, off, 1, &s, &vdx));
            CK_OK(ctx, hcl_activation_forward(ctx, vy, vx, (hcl_activation)acts[a], 0.1f));
            CK_OK(ctx, hcl_activation_backward(ctx, vdx, vdy, vx, (hcl_activation)acts[a], 0.1f));
            float *y = test_download(by), *dx = test_download(bdx);
            for (size_t i = 0; i < off; i++) ck_assert_msg(isnan(y[i]) && isnan(dx[i]), "wrote before the view");
            double ey = err_floor(y + off, ry, n), ed = err_floor(dx + off, rdx, n), tol = test_tolerance(dt);
            ck_assert_msg(ey <= tol && ed <= tol, "%s %s n=%zu vec 8: forward %g backward %g (%s)", hcl_activation_name(acts[a]),
                          hcl_dtype_name(dt), n, ey, ed, test_seed_note());
            free(x); free(dy); free(ry); free(rdx); free(y); free(dx);
            hcl_tensor_free(vx); hcl_tensor_free(vdy); hcl_tensor_free(vy); hcl_tensor_free(vdx);
            hcl_tensor_free(bx); hcl_tensor_free(bdy); hcl_tensor_free(by); hcl_tensor_free(bdx);
        }
    }
    for (int d = 0; d < 3; d++) check_in_place(ctx, test_float_dtypes[d]);
    hcl_context_free(ctx);
}
END_TEST

/* y == x and dx == dy for every activation. */
static void check_in_place(hcl_context *ctx, hcl_dtype dt) {
    for (int act = 0; act < HCL_ACT_COUNT_; act++) {
        size_t n = 33;
        float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
        double *ry = malloc(n * sizeof *ry), *rdx = malloc(n * sizeof *rdx);
        fill_inputs(x, n, dt);
        test_fill_normal(dy, n, 1.0);
        test_round_to_dtype(dy, n, dt);
        for (size_t i = 0; i < n; i++) {
            ry[i] = ref_act(act, x[i], 0.2);
            rdx[i] = dy[i] * ref_dact(act, x[i], 0.2);
        }
        hcl_tensor *tx = vec1(ctx, dt, n, x), *tdy = vec1(ctx, dt, n, dy), *tx2 = vec1(ctx, dt, n, x);
        CK_OK(ctx, hcl_activation_backward(ctx, tdy, tdy, tx, (hcl_activation)act, 0.2f)); /* dx == dy */
        CK_OK(ctx, hcl_activation_forward(ctx, tx2, tx2, (hcl_activation)act, 0.2f));      /* y == x */
        float *y = test_download(tx2), *dx = test_download(tdy);
        double ey = err_floor(y, ry, n), ed = err_floor(dx, rdx, n), tol = test_tolerance(dt);
        ck_assert_msg(ey <= tol && ed <= tol, "in place %s %s: forward %g backward %g (%s)", hcl_activation_name(act),
                      hcl_dtype_name(dt), ey, ed, test_seed_note());
        free(x); free(dy); free(ry); free(rdx); free(y); free(dx);
        hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(tx2);
    }
}

/* sigmoid, tanh, GELU (both), SiLU at |x| up to 80: finite, and right to the dtype's tolerance
 * relative to max(1, |ref|) (the tiny tails underflow in F16/BF16, which is correct rounding). */
static void check_large_inputs(hcl_context *ctx, hcl_dtype dt) {
    const float xs[] = {-80, -40, -20, -10, -5, -1, 0, 1, 5, 10, 20, 40, 80};
    const size_t n = sizeof xs / sizeof xs[0];
    const int acts[] = {HCL_ACT_SIGMOID, HCL_ACT_TANH, HCL_ACT_GELU, HCL_ACT_GELU_TANH, HCL_ACT_SILU};
    float ones[sizeof xs / sizeof xs[0]];
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    for (int a = 0; a < 5; a++) {
        hcl_tensor *tx = vec1(ctx, dt, n, xs), *tdy = vec1(ctx, dt, n, ones);
        hcl_tensor *ty = vec1(ctx, dt, n, NULL), *tdx = vec1(ctx, dt, n, NULL);
        CK_OK(ctx, hcl_activation_forward(ctx, ty, tx, (hcl_activation)acts[a], 0.0f));
        CK_OK(ctx, hcl_activation_backward(ctx, tdx, tdy, tx, (hcl_activation)acts[a], 0.0f));
        float *y = test_download(ty), *dx = test_download(tdx);
        double tol = dt == HCL_F32 ? 1e-6 : test_tolerance(dt);
        for (size_t i = 0; i < n; i++) {
            double ry = ref_act(acts[a], xs[i], 0), rd = ref_dact(acts[a], xs[i], 0);
            ck_assert_msg(isfinite(y[i]) && fabs(y[i] - ry) <= tol * fmax(1.0, fabs(ry)),
                          "%s %s forward(%g) = %g, want %g", hcl_activation_name(acts[a]), hcl_dtype_name(dt), xs[i], y[i], ry);
            ck_assert_msg(isfinite(dx[i]) && fabs(dx[i] - rd) <= tol * fmax(1.0, fabs(rd)),
                          "%s %s backward(%g) = %g, want %g", hcl_activation_name(acts[a]), hcl_dtype_name(dt), xs[i], dx[i], rd);
        }
        free(y); free(dx);
        hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(ty); hcl_tensor_free(tdx);
    }
}

/* One program per dtype (forward and backward share it): every activation forward and backward
 * at every size, in place, and at large |x|. */
START_TEST(each_dtype) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    check_forward(ctx, dt, dt);
    check_backward(ctx, dt, dt, dt);
    check_in_place(ctx, dt);
    check_large_inputs(ctx, dt);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(names) {
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_NONE), "none");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_RELU), "relu");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_LEAKY_RELU), "leaky_relu");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_SIGMOID), "sigmoid");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_TANH), "tanh");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_GELU), "gelu");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_GELU_TANH), "gelu_tanh");
    ck_assert_str_eq(hcl_activation_name(HCL_ACT_SILU), "silu");
    ck_assert_ptr_null(hcl_activation_name(HCL_ACT_COUNT_));
    ck_assert_ptr_null(hcl_activation_name((hcl_activation)-1));
}
END_TEST

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context(), *other = test_context();
    int64_t s8 = 8, s9 = 9, s16 = 16;
    hcl_tensor *x = vec1(ctx, HCL_F32, 8, NULL), *y = vec1(ctx, HCL_F16, 8, NULL), *y9 = vec1(ctx, HCL_F32, 9, NULL);
    hcl_tensor *xi = NULL, *xo = NULL, *big = NULL, *v0 = NULL, *v1 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, &s8, &xi));
    CK_OK(other, hcl_tensor_create(other, HCL_F32, 1, &s8, &xo));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s16, &big));
    CK_OK(ctx, hcl_tensor_view(big, 0, 1, &s8, &v0));
    CK_OK(ctx, hcl_tensor_view(big, 1, 1, &s8, &v1)); /* overlaps v0 by 7 elements */
    (void)s9;
    /* forward */
    CK_STATUS(ctx, hcl_activation_forward(NULL, y, x, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_forward(ctx, NULL, x, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_forward(ctx, y, NULL, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_forward(ctx, y, xi, HCL_ACT_RELU, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_activation_forward(ctx, xi, x, HCL_ACT_RELU, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_activation_forward(ctx, y9, x, HCL_ACT_RELU, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_activation_forward(ctx, y, x, HCL_ACT_COUNT_, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_activation_forward(ctx, y, x, (hcl_activation)-1, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_activation_forward(ctx, y, xo, HCL_ACT_RELU, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_activation_forward(ctx, v1, v0, HCL_ACT_RELU, 0), HCL_ERR_ALIASING);
    /* backward */
    CK_STATUS(ctx, hcl_activation_backward(NULL, y, x, x, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_backward(ctx, NULL, x, x, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, NULL, x, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, x, NULL, HCL_ACT_RELU, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, xi, x, HCL_ACT_RELU, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, x, xi, HCL_ACT_RELU, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y9, x, x, HCL_ACT_RELU, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, x, y9, HCL_ACT_RELU, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, x, x, HCL_ACT_COUNT_, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_activation_backward(ctx, y, xo, x, HCL_ACT_RELU, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_activation_backward(ctx, v1, v0, x, HCL_ACT_RELU, 0), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_activation_backward(ctx, v1, y, v0, HCL_ACT_RELU, 0), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_activation_backward(ctx, x, y, x, HCL_ACT_RELU, 0), HCL_ERR_ALIASING); /* dx == x */
    ck_assert_str_ne(hcl_last_error(ctx), "");
    hcl_tensor_free(v0); hcl_tensor_free(v1); hcl_tensor_free(big);
    hcl_tensor_free(x); hcl_tensor_free(y); hcl_tensor_free(y9); hcl_tensor_free(xi); hcl_tensor_free(xo);
    hcl_context_free(other);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("activation");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, names);
    tcase_add_loop_test(tc, each_dtype, 0, 3);
    tcase_add_test(tc, mixed_dtypes);
    tcase_add_test(tc, vector_path);
    tcase_add_test(tc, native_half_same_bits);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
