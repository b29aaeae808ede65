/* Softmax / log-softmax over the last dim: forward against an FP64 host reference, backward
 * against the analytic FP64 backward and central finite differences, in F32/F16/BF16, on odd
 * shapes covering both kernels (row-per-work-item for short rows, work-group-per-row for long
 * ones), large-magnitude inputs, mixed dtypes, offsets, determinism and bad arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* ---- FP64 references ---- */
static void ref_softmax(const double *x, size_t rows, size_t cols, int log_out, double *y) {
    for (size_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols;
        double *yr = y + r * cols;
        double m = -INFINITY, s = 0;
        for (size_t c = 0; c < cols; c++) m = fmax(m, xr[c]);
        for (size_t c = 0; c < cols; c++) s += exp(xr[c] - m);
        for (size_t c = 0; c < cols; c++) yr[c] = log_out ? (xr[c] - m) - log(s) : exp(xr[c] - m) / s;
    }
}

static void ref_softmax_bwd(const double *dy, const double *y, size_t rows, size_t cols, int log_out, double *dx) {
    for (size_t r = 0; r < rows; r++) {
        const double *g = dy + r * cols, *yr = y + r * cols;
        double s = 0;
        for (size_t c = 0; c < cols; c++) s += log_out ? g[c] : g[c] * yr[c];
        for (size_t c = 0; c < cols; c++) dx[r * cols + c] = log_out ? g[c] - exp(yr[c]) * s : yr[c] * (g[c] - s);
    }
}

/* f(x) = sum(dy * softmax(x)) for the finite-difference check of the backward. */
typedef struct fd_user { size_t rows, cols; int log_out; const double *dy; double *tmp; } fd_user;
static double fd_fn(const double *x, void *user) {
    fd_user *u = user;
    ref_softmax(x, u->rows, u->cols, u->log_out, u->tmp);
    double s = 0;
    for (size_t i = 0; i < u->rows * u->cols; i++) s += u->dy[i] * u->tmp[i];
    return s;
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* Saturation of finite log-softmax values in F16 storage (documented in ops.h). */
static void saturate_for(double *y, size_t n, hcl_dtype dt) {
    if (dt != HCL_F16) return;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i]) && y[i] < -65504.0) y[i] = -65504.0;
}

typedef struct shape2 { size_t rows, cols; } shape2;
/* Both kernel paths (row kernel for cols <= 32, work-group kernel above); in the work-group
 * kernel, rows held in private memory and (1 x 9000: longer than 16 work-items x 64 chunks of 8
 * on CPUs) rows re-read from global memory. */
static const shape2 fwd_shapes[] = {{1, 1}, {1, 7}, {7, 1}, {7, 33}, {33, 7}, {33, 1}, {3, 32}, {2, 33}, {1, 1000}, {7, 1000},
                                    {1, 9000}};
#define N_FWD_SHAPES (sizeof fwd_shapes / sizeof fwd_shapes[0])

/* Forward: x ~ N(0, 3) rounded to the dtype; y poisoned; relative error vs FP64 within the
 * dtype's bound (softmax sums are FP32, a few ulps; the output rounding dominates). */
static void check_forward(hcl_context *ctx, hcl_dtype xdt, hcl_dtype ydt, size_t rows, size_t cols, int log_out, double scale) {
    size_t n = rows * cols;
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    test_fill_normal(x, n, scale);
    test_round_to_dtype(x, n, xdt);
    double *xd = to_double(x, n), *ref = malloc(n * sizeof *ref);
    ck_assert_ptr_nonnull(ref);
    ref_softmax(xd, rows, cols, log_out, ref);
    saturate_for(ref, n, ydt);
    hcl_tensor *tx = test_tensor_from(ctx, xdt, 2, shape, x), *ty = test_tensor_poisoned(ctx, ydt, 2, shape);
    CK_OK(ctx, hcl_softmax_forward(ctx, ty, tx, log_out));
    float *y = test_download(ty);
    double err = test_rel_err(y, ref, n);
    ck_assert_msg(err <= test_tolerance(ydt), "softmax fwd %s->%s %zux%zu log=%d scale=%g: rel err %g > %g (%s)",
                  hcl_dtype_name(xdt), hcl_dtype_name(ydt), rows, cols, log_out, scale, err, test_tolerance(ydt),
                  test_seed_note());
    free(x); free(xd); free(ref); free(y);
    hcl_tensor_free(tx); hcl_tensor_free(ty);
}

START_TEST(forward_all_dtypes_shapes) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (int lg = 0; lg < 2; lg++)
            for (size_t s = 0; s < N_FWD_SHAPES; s++)
                check_forward(ctx, test_float_dtypes[d], test_float_dtypes[d], fwd_shapes[s].rows, fwd_shapes[s].cols, lg, 3.0);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(forward_mixed_dtypes) {
    hcl_context *ctx = test_context();
    check_forward(ctx, HCL_F16, HCL_F32, 7, 33, 0, 3.0);
    check_forward(ctx, HCL_BF16, HCL_F16, 5, 7, 1, 3.0);
    check_forward(ctx, HCL_F32, HCL_BF16, 3, 100, 1, 3.0);
    hcl_context_free(ctx);
}
END_TEST

/* Backward: dx vs the analytic FP64 backward of the y and dy the device sees (both rounded to
 * their dtypes), and vs central differences of sum(dy * softmax(x)) in FP64 at small sizes. The
 * FD reference uses the exact y, so it also carries the rounding of y to its dtype: 2x bound. */
static void check_backward(hcl_context *ctx, hcl_dtype dxdt, hcl_dtype dydt, hcl_dtype ydt, size_t rows, size_t cols,
                           int log_out) {
    size_t n = rows * cols;
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *y = malloc(n * sizeof *y);
    ck_assert(x && dy && y);
    test_fill_normal(x, n, 2.0);
    test_fill_normal(dy, n, 1.0);
    test_round_to_dtype(dy, n, dydt);
    double *xd = to_double(x, n), *yexact = malloc(n * sizeof(double)), *ref = malloc(n * sizeof(double));
    ck_assert(yexact && ref);
    ref_softmax(xd, rows, cols, log_out, yexact);
    for (size_t i = 0; i < n; i++) y[i] = (float)yexact[i];
    test_round_to_dtype(y, n, ydt);
    double *yd = to_double(y, n), *dyd = to_double(dy, n);
    ref_softmax_bwd(dyd, yd, rows, cols, log_out, ref);

    hcl_tensor *tdy = test_tensor_from(ctx, dydt, 2, shape, dy), *ty = test_tensor_from(ctx, ydt, 2, shape, y);
    hcl_tensor *tdx = test_tensor_poisoned(ctx, dxdt, 2, shape);
    CK_OK(ctx, hcl_softmax_backward(ctx, tdx, tdy, ty, log_out));
    float *dx = test_download(tdx);
    double tol = test_tolerance(dxdt) > test_tolerance(ydt) ? test_tolerance(dxdt) : test_tolerance(ydt);
    double err = test_rel_err(dx, ref, n);
    ck_assert_msg(err <= tol, "softmax bwd %s/%s/%s %zux%zu log=%d: rel err vs analytic %g > %g (%s)", hcl_dtype_name(dxdt),
                  hcl_dtype_name(dydt), hcl_dtype_name(ydt), rows, cols, log_out, err, tol, test_seed_note());
    if (n <= 200) {
        double *fd = malloc(n * sizeof *fd), *tmp = malloc(n * sizeof *tmp);
        ck_assert(fd && tmp);
        fd_user u = {rows, cols, log_out, dyd, tmp};
        test_numeric_grad(fd_fn, &u, xd, n, 1e-5, fd);
        /* The device saw y rounded to its dtype, the differences the exact y. Rounding y moves dx_i by
         * up to about u * mag_i, mag_i = p_i (|dy_i| + sum_j p_j |dy_j|) for softmax (p = y) and
         * |dy_i| + p_i sum_j |dy_j| for log-softmax (p = exp y), so the error is measured against
         * ||mag||: dx itself may have cancelled far below it (its rows sum to 0). */
        double num = 0, den = 0;
        for (size_t r = 0; r < rows; r++) {
            const double *yr = yexact + r * cols, *dyr = dyd + r * cols;
            double sp = 0;
            for (size_t c = 0; c < cols; c++) sp += (log_out ? 1.0 : yr[c]) * fabs(dyr[c]);
            for (size_t c = 0; c < cols; c++) {
                double p = log_out ? exp(yr[c]) : yr[c];
                double mag = log_out ? fabs(dyr[c]) + p * sp : p * (fabs(dyr[c]) + sp);
                double d = (double)dx[r * cols + c] - fd[r * cols + c];
                num += d * d;
                den += mag * mag;
            }
        }
        double e2 = den > 0 ? sqrt(num / den) : sqrt(num), tol2 = 2 * tol > 2e-5 ? 2 * tol : 2e-5;
        ck_assert_msg(e2 <= tol2, "softmax bwd %s %zux%zu log=%d: error vs finite differences %g of the terms' scale > %g (%s)",
                      hcl_dtype_name(dxdt), rows, cols, log_out, e2, tol2, test_seed_note());
        free(fd); free(tmp);
    }
    free(x); free(dy); free(y); free(xd); free(yexact); free(ref); free(yd); free(dyd); free(dx);
    hcl_tensor_free(tdy); hcl_tensor_free(ty); hcl_tensor_free(tdx);
}

START_TEST(backward_all_dtypes_shapes) {
    hcl_context *ctx = test_context();
    static const shape2 shapes[] = {{1, 1}, {1, 7}, {7, 7}, {3, 33}, {33, 5}, {2, 32}, {7, 1000}};
    for (int d = 0; d < 3; d++)
        for (int lg = 0; lg < 2; lg++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                hcl_dtype dt = test_float_dtypes[d];
                check_backward(ctx, dt, dt, dt, shapes[s].rows, shapes[s].cols, lg);
            }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(backward_mixed_dtypes) {
    hcl_context *ctx = test_context();
    check_backward(ctx, HCL_F16, HCL_BF16, HCL_F32, 5, 7, 0);
    check_backward(ctx, HCL_F32, HCL_F16, HCL_F32, 3, 40, 1);
    hcl_context_free(ctx);
}
END_TEST

/* Logits of +-1e4 (F32) and +-6e4 (F16, near its largest finite value): every output finite,
 * forward close to FP64 (log-softmax in F16 saturates at -65504 as documented), and the
 * backward from the device's own forward output finite and close to the analytic FP64 one. */
static void check_large(hcl_context *ctx, hcl_dtype dt, double mag, size_t rows, size_t cols, int log_out) {
    size_t n = rows * cols;
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
    ck_assert(x && dy);
    test_fill_uniform(x, n, -mag, mag);
    x[0] = (float)mag;  /* the extremes are present */
    x[n - 1] = (float)-mag;
    test_round_to_dtype(x, n, dt);
    test_fill_normal(dy, n, 1.0);
    test_round_to_dtype(dy, n, dt);
    double *xd = to_double(x, n), *ref = malloc(n * sizeof *ref), *dref = malloc(n * sizeof *dref);
    ck_assert(ref && dref);
    ref_softmax(xd, rows, cols, log_out, ref);
    saturate_for(ref, n, dt);
    hcl_tensor *tx = test_tensor_from(ctx, dt, 2, shape, x), *ty = test_tensor_poisoned(ctx, dt, 2, shape);
    hcl_tensor *tdy = test_tensor_from(ctx, dt, 2, shape, dy), *tdx = test_tensor_poisoned(ctx, dt, 2, shape);
    CK_OK(ctx, hcl_softmax_forward(ctx, ty, tx, log_out));
    CK_OK(ctx, hcl_softmax_backward(ctx, tdx, tdy, ty, log_out));
    float *y = test_download(ty), *dx = test_download(tdx);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(y[i]), "y[%zu] = %g not finite (%s mag %g log=%d, %s)", i, y[i], hcl_dtype_name(dt), mag, log_out,
                      test_seed_note());
        ck_assert_msg(isfinite(dx[i]), "dx[%zu] = %g not finite (%s mag %g log=%d, %s)", i, dx[i], hcl_dtype_name(dt), mag,
                      log_out, test_seed_note());
    }
    double err = test_rel_err(y, ref, n);
    ck_assert_msg(err <= test_tolerance(dt), "large fwd %s mag %g log=%d: rel err %g (%s)", hcl_dtype_name(dt), mag, log_out, err,
                  test_seed_note());
    double *yd = to_double(y, n), *dyd = to_double(dy, n);
    ref_softmax_bwd(dyd, yd, rows, cols, log_out, dref);
    /* Nearly one-hot rows make dx = y (dy - sum(dy y)) a cancellation whose exact value can be
     * far below its float rounding (ulp of the terms y dy): measure the error against the norm
     * of those terms when it exceeds the norm of the result. */
    double num = 0, den = 0, terms = 0;
    for (size_t i = 0; i < n; i++) {
        num += (dx[i] - dref[i]) * (dx[i] - dref[i]);
        den += dref[i] * dref[i];
        double t = log_out ? dyd[i] : yd[i] * dyd[i];
        terms += t * t;
    }
    double e2 = sqrt(num / fmax(den, terms));
    ck_assert_msg(e2 <= test_tolerance(dt), "large bwd %s mag %g log=%d: rel err %g (%s)", hcl_dtype_name(dt), mag, log_out, e2,
                  test_seed_note());
    free(x); free(dy); free(xd); free(ref); free(dref); free(y); free(dx); free(yd); free(dyd);
    hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tdy); hcl_tensor_free(tdx);
}

START_TEST(large_magnitude_finite) {
    hcl_context *ctx = test_context();
    for (int lg = 0; lg < 2; lg++) {
        check_large(ctx, HCL_F32, 1e4, 5, 10, lg);
        check_large(ctx, HCL_F32, 1e4, 3, 1000, lg);
        check_large(ctx, HCL_F16, 6e4, 5, 10, lg);
        check_large(ctx, HCL_F16, 6e4, 3, 1000, lg);
        check_large(ctx, HCL_BF16, 1e4, 4, 50, lg);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Rank 1 and rank 4 tensors (the last dim is the row); views at an offset inside a poisoned
 * buffer: the result lands at the offset and nothing outside the view is written. */
START_TEST(ranks_offsets_and_bounds) {
    hcl_context *ctx = test_context();
    for (int wide = 0; wide < 2; wide++) {
        size_t cols = wide ? 70 : 9, rows = 6, n = rows * cols, pad = 5;
        int64_t base_shape[1] = {(int64_t)(n + 2 * pad)}, shape4[4] = {2, 3, 1, (int64_t)cols};
        float *x = malloc(n * sizeof *x);
        ck_assert_ptr_nonnull(x);
        test_fill_normal(x, n, 2.0);
        double *xd = to_double(x, n), *ref = malloc(n * sizeof *ref);
        ck_assert_ptr_nonnull(ref);
        ref_softmax(xd, rows, cols, 0, ref);
        hcl_tensor *base = test_tensor_poisoned(ctx, HCL_F32, 1, base_shape), *ty = NULL;
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 4, shape4, x);
        CK_OK(ctx, hcl_tensor_view(base, pad, 4, shape4, &ty));
        CK_OK(ctx, hcl_softmax_forward(ctx, ty, tx, 0));
        float *all = test_download(base);
        for (size_t i = 0; i < pad; i++) ck_assert_msg(isnan(all[i]) && isnan(all[n + pad + i]), "wrote outside the view");
        ck_assert_msg(test_rel_err(all + pad, ref, n) <= 1e-5, "offset view result wrong (%s)", test_seed_note());
        free(all);
        /* rank 1: a single row */
        int64_t s1[1] = {(int64_t)cols};
        hcl_tensor *x1 = test_tensor_from(ctx, HCL_F32, 1, s1, x), *y1 = test_tensor_poisoned(ctx, HCL_F32, 1, s1);
        CK_OK(ctx, hcl_softmax_forward(ctx, y1, x1, 0));
        float *h1 = test_download(y1);
        ck_assert_msg(test_rel_err(h1, ref, cols) <= 1e-5, "rank-1 softmax wrong (%s)", test_seed_note());
        free(h1); free(x); free(xd); free(ref);
        hcl_tensor_free(x1); hcl_tensor_free(y1); hcl_tensor_free(ty); hcl_tensor_free(tx); hcl_tensor_free(base);
    }
    hcl_context_free(ctx);
}
END_TEST

/* The same inputs give the same bits, for both kernels. */
/* F16 rows sum in F32 on every device, native half ones included: softmax of 4097 equal logits
 * is 1/4097 each (a half sum would stick at 2048 and give 1/2048), and cross-entropy's
 * log-sum-exp over them is log(4097). */
START_TEST(f16_sums_in_f32) {
    hcl_context *ctx = test_context();
    const int64_t C = 4097, shape[2] = {2, C};
    float *x = calloc((size_t)(2 * C), sizeof *x);
    hcl_tensor *tx = test_tensor_from(ctx, HCL_F16, 2, shape, x), *ty = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
    CK_OK(ctx, hcl_softmax_forward(ctx, ty, tx, 0));
    float *y = test_download(ty);
    for (int64_t i = 0; i < 2 * C; i++)
        ck_assert_msg(fabs(y[i] * 4097.0 - 1.0) < 1e-5, "softmax[%lld] = %g, expected 1/4097", (long long)i, (double)y[i]);
    int64_t ls = 2, one = 1;
    int32_t labels[2] = {0, 4096};
    hcl_tensor *tl = NULL, *tloss = test_tensor_poisoned(ctx, HCL_F32, 1, &one), *tdl = test_tensor_poisoned(ctx, HCL_F16, 2, shape);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, &ls, &tl));
    CK_OK(ctx, hcl_tensor_upload_raw(tl, labels, sizeof labels));
    CK_OK(ctx, hcl_softmax_cross_entropy(ctx, tloss, tdl, tx, tl, 0.0f, NULL));
    float *loss = test_download(tloss);
    ck_assert_msg(fabs(loss[0] - log(4097.0)) < 1e-5 * log(4097.0), "loss = %g, expected log 4097", (double)loss[0]);
    free(loss); free(y); free(x);
    hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tl); hcl_tensor_free(tloss); hcl_tensor_free(tdl);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(deterministic) {
    hcl_context *ctx = test_context();
    for (int wide = 0; wide < 2; wide++) {
        int64_t shape[2] = {5, wide ? 777 : 13};
        size_t n = (size_t)(shape[0] * shape[1]);
        float *x = malloc(n * sizeof *x);
        ck_assert_ptr_nonnull(x);
        test_fill_normal(x, n, 4.0);
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 2, shape, x), *y1 = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
        hcl_tensor *y2 = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *d1 = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
        hcl_tensor *d2 = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
        CK_OK(ctx, hcl_softmax_forward(ctx, y1, tx, 0));
        CK_OK(ctx, hcl_softmax_forward(ctx, y2, tx, 0));
        CK_OK(ctx, hcl_softmax_backward(ctx, d1, tx, y1, 0));
        CK_OK(ctx, hcl_softmax_backward(ctx, d2, tx, y1, 0));
        float *a = test_download(y1), *b = test_download(y2), *c = test_download(d1), *d = test_download(d2);
        ck_assert(memcmp(a, b, n * sizeof *a) == 0);
        ck_assert(memcmp(c, d, n * sizeof *c) == 0);
        free(x); free(a); free(b); free(c); free(d);
        hcl_tensor_free(tx); hcl_tensor_free(y1); hcl_tensor_free(y2); hcl_tensor_free(d1); hcl_tensor_free(d2);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_arguments) {
    hcl_context *ctx = test_context();
    int64_t shape[2] = {4, 6}, other[2] = {6, 4}, big[1] = {48};
    hcl_tensor *x = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *y = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
    hcl_tensor *dy = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *yt = test_tensor_poisoned(ctx, HCL_F32, 2, other);
    hcl_tensor *xi = test_tensor_poisoned(ctx, HCL_I32, 2, shape), *base = test_tensor_poisoned(ctx, HCL_F32, 1, big);
    hcl_tensor *v1 = NULL, *v2 = NULL, *scalar = NULL;
    CK_OK(ctx, hcl_tensor_view(base, 0, 2, shape, &v1));
    CK_OK(ctx, hcl_tensor_view(base, 20, 2, shape, &v2)); /* overlaps v1 by 4 elements */
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 0, NULL, &scalar));

    ck_assert_int_eq(hcl_softmax_forward(NULL, y, x, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, NULL, x, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, y, NULL, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, y, xi, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, xi, x, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, yt, x, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, x, x, 1), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, v2, v1, 0), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, scalar, scalar, 0), HCL_ERR_ALIASING);
    ck_assert_int_eq(hcl_softmax_backward(NULL, x, dy, y, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, NULL, dy, y, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, x, NULL, y, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, x, dy, NULL, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, x, dy, xi, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, x, dy, yt, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, yt, dy, y, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, dy, dy, y, 0), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, y, dy, y, 1), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, v2, dy, v1, 0), HCL_ERR_ALIASING);

    hcl_context *ctx2 = test_context();
    hcl_tensor *x2 = test_tensor_poisoned(ctx2, HCL_F32, 2, shape);
    CK_STATUS(ctx, hcl_softmax_forward(ctx, y, x2, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_softmax_backward(ctx, x, x2, y, 0), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(x2);
    hcl_context_free(ctx2);

    /* a rank-0 tensor is a row of one element */
    hcl_tensor *s2 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 0, NULL, &s2));
    CK_OK(ctx, hcl_tensor_fill(scalar, 3.0));
    CK_OK(ctx, hcl_softmax_forward(ctx, s2, scalar, 0));
    float one = 0;
    CK_OK(ctx, hcl_tensor_download_f32(s2, &one, 1));
    ck_assert(one == 1.0f);
    hcl_tensor_free(s2);

    hcl_tensor_free(v1); hcl_tensor_free(v2); hcl_tensor_free(scalar);
    hcl_tensor_free(x); hcl_tensor_free(y); hcl_tensor_free(dy); hcl_tensor_free(yt); hcl_tensor_free(xi); hcl_tensor_free(base);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("softmax");
    tcase_add_test(tc, forward_all_dtypes_shapes);
    tcase_add_test(tc, forward_mixed_dtypes);
    tcase_add_test(tc, f16_sums_in_f32);
    tcase_add_test(tc, backward_all_dtypes_shapes);
    tcase_add_test(tc, backward_mixed_dtypes);
    tcase_add_test(tc, large_magnitude_finite);
    tcase_add_test(tc, ranks_offsets_and_bounds);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
