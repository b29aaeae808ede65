/* Losses: softmax cross-entropy (integer labels, label smoothing), MSE and BCE with logits,
 * knowledge distillation (temperature KL to a teacher + hard-label CE).
 * Loss against an FP64 host reference, gradient against the analytic FP64 gradient and central
 * finite differences of the reference, in F32/F16/BF16, with and without a device grad scale,
 * on shapes covering the one-launch and two-pass paths; large logits stay finite; out-of-range
 * labels give NaN; results are bitwise deterministic; bad arguments are rejected. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* The loss is FP32 math on inputs exact in FP32 (rounded to their dtype first), reduced in
 * FP32: a few FP32 ulps of relative error whatever the input dtype. */
#define LOSS_TOL 2e-5

/* ---- FP64 references ---- */
/* Mean over rows of -sum_j t_j log softmax(x)_j with t = (1 - ls) onehot(label) + ls / C; grad
 * (may be NULL) = (softmax - t) / N. Out-of-range labels make the loss NaN. */
static double ref_ce(const double *x, const int *labels, size_t N, size_t C, double ls, double *grad) {
    double total = 0;
    for (size_t r = 0; r < N; r++) {
        const double *xr = x + r * C;
        double m = -INFINITY, s = 0;
        for (size_t c = 0; c < C; c++) m = fmax(m, xr[c]);
        for (size_t c = 0; c < C; c++) s += exp(xr[c] - m);
        double lse = m + log(s);
        int lab = labels[r], valid = lab >= 0 && (size_t)lab < C;
        double l = 0;
        for (size_t c = 0; c < C; c++) {
            double t = ls / (double)C + (valid && (size_t)lab == c ? 1.0 - ls : 0.0);
            l += t * (lse - xr[c]);
            if (grad) grad[r * C + c] = valid ? (exp(xr[c] - m) / s - t) / (double)N : NAN;
        }
        total += valid ? l : NAN;
    }
    return total / (double)N;
}

static double ref_mse(const double *p, const double *t, size_t n, double *grad) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = p[i] - t[i];
        s += d * d;
        if (grad) grad[i] = 2 * d / (double)n;
    }
    return s / (double)n;
}

static double ref_bce(const double *x, const double *t, size_t n, double *grad) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += fmax(x[i], 0) - x[i] * t[i] + log1p(exp(-fabs(x[i])));
        if (grad) grad[i] = (1 / (1 + exp(-x[i])) - t[i]) / (double)n;
    }
    return s / (double)n;
}

typedef struct ce_user { const int *labels; size_t N, C; double ls; } ce_user;
static double ce_fn(const double *x, void *u) {
    ce_user *c = u;
    return ref_ce(x, c->labels, c->N, c->C, c->ls, NULL);
}
typedef struct ew_user { const double *t; size_t n; int bce; } ew_user;
static double ew_fn(const double *x, void *u) {
    ew_user *e = u;
    return e->bce ? ref_bce(x, e->t, e->n, NULL) : ref_mse(x, e->t, e->n, NULL);
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static float read_loss(hcl_tensor *loss) {
    float v = 0;
    CK_OK(loss->ctx, hcl_tensor_download_f32(loss, &v, 1));
    return v;
}

static hcl_tensor *scalar_f32(hcl_context *ctx, float v) {
    int64_t one[1] = {1};
    return test_tensor_from(ctx, HCL_F32, 1, one, &v);
}

/* Distillation, FP64: mean over rows of alpha T^2 KL(softmax(t/T) || softmax(x/T)) + (1 - alpha)
 * CE(x, labels) (labels NULL: alpha must be 1); grad (may be NULL) analytic; *kl_part (may be
 * NULL) gets the mean KL alone. */
static double ref_distill(const double *x, const double *t, const int *labels, size_t N, size_t C, double T, double alpha,
                          double *grad, double *kl_part) {
    double total = 0, kls = 0;
    for (size_t r = 0; r < N; r++) {
        const double *xr = x + r * C, *tr = t + r * C;
        double ms = -INFINITY, mt = -INFINITY, zs = 0, zt = 0, z1 = 0;
        for (size_t c = 0; c < C; c++) {
            ms = fmax(ms, xr[c]);
            mt = fmax(mt, tr[c]);
        }
        for (size_t c = 0; c < C; c++) {
            zs += exp((xr[c] - ms) / T);
            zt += exp((tr[c] - mt) / T);
            z1 += exp(xr[c] - ms);
        }
        double kl = 0;
        for (size_t c = 0; c < C; c++) {
            double lp = (tr[c] - mt) / T - log(zt), lq = (xr[c] - ms) / T - log(zs);
            kl += exp(lp) * (lp - lq);
        }
        double ce = 0;
        int lab = labels ? labels[r] : -1;
        if (alpha != 1) ce = log(z1) + ms - xr[lab];
        kls += kl;
        total += alpha * T * T * kl + (1 - alpha) * ce;
        if (grad)
            for (size_t c = 0; c < C; c++) {
                double q = exp((xr[c] - ms) / T) / zs, p = exp((tr[c] - mt) / T) / zt, s1 = exp(xr[c] - ms) / z1;
                double g = alpha * T * (q - p);
                if (alpha != 1) g += (1 - alpha) * (s1 - ((size_t)lab == c ? 1.0 : 0.0));
                grad[r * C + c] = g / (double)N;
            }
    }
    if (kl_part) *kl_part = kls / (double)N;
    return total / (double)N;
}

typedef struct distill_user { const double *t; const int *labels; size_t N, C; double T, alpha; } distill_user;
static double distill_fn(const double *x, void *u) {
    distill_user *d = u;
    return ref_distill(x, d->t, d->labels, d->N, d->C, d->T, d->alpha, NULL, NULL);
}

static void check_loss_value(float got, double ref, const char *what) {
    double err = fabs(got - ref) / fmax(fabs(ref), 1e-30);
    ck_assert_msg(isfinite(got) && err <= LOSS_TOL, "%s: loss %.9g, reference %.9g, rel err %g (%s)", what, got, ref, err,
                  test_seed_note());
}

/* ---- cross-entropy ---- */
static void check_ce(hcl_context *ctx, hcl_dtype xdt, hcl_dtype gdt, size_t N, size_t C, float ls, float scale, double mag) {
    size_t n = N * C;
    int64_t shape[2] = {(int64_t)N, (int64_t)C}, lshape[1] = {(int64_t)N};
    float *x = malloc(n * sizeof *x), *labf = malloc(N * sizeof *labf);
    int *lab = malloc(N * sizeof *lab);
    ck_assert(x && labf && lab);
    if (mag > 0) {
        test_fill_uniform(x, n, -mag, mag);
        x[0] = (float)mag;
        x[n - 1] = (float)-mag;
    } else {
        test_fill_normal(x, n, 2.0);
    }
    test_round_to_dtype(x, n, xdt);
    for (size_t r = 0; r < N; r++) {
        lab[r] = (int)(test_uniform(0, (double)C));
        if ((size_t)lab[r] >= C) lab[r] = (int)C - 1;
        labf[r] = (float)lab[r];
    }
    double *xd = to_double(x, n), *gref = malloc(n * sizeof *gref);
    ck_assert_ptr_nonnull(gref);
    double lref = ref_ce(xd, lab, N, C, ls, gref);
    for (size_t i = 0; i < n; i++) gref[i] *= scale;

    hcl_tensor *tx = test_tensor_from(ctx, xdt, 2, shape, x), *tl = test_tensor_from(ctx, HCL_I32, 1, lshape, labf);
    hcl_tensor *tg = test_tensor_poisoned(ctx, gdt, 2, shape), *loss = test_tensor_poisoned(ctx, HCL_F32, 1, lshape);
    hcl_tensor *lv = NULL, *sc = scale != 1.0f ? scalar_f32(ctx, scale) : NULL;
    /* the loss is one element of a larger poisoned tensor: offset handling, nothing else written */
    int64_t one[1] = {1};
    CK_OK(ctx, hcl_tensor_view(loss, N > 1 ? 1 : 0, 1, one, &lv));
    CK_OK(ctx, hcl_softmax_cross_entropy(ctx, lv, tg, tx, tl, ls, sc));
    float *g = test_download(tg), *lall = test_download(loss);
    char what[160];
    snprintf(what, sizeof what, "CE %s->%s %zux%zu ls=%g scale=%g mag=%g", hcl_dtype_name(xdt), hcl_dtype_name(gdt), N, C, ls,
             scale, mag);
    check_loss_value(lall[N > 1 ? 1 : 0], lref, what);
    for (size_t i = 0; i < N; i++)
        if (i != (N > 1 ? 1u : 0u)) ck_assert_msg(isnan(lall[i]), "%s: wrote loss[%zu] outside the loss view", what, i);
    double err = test_rel_err(g, gref, n);
    ck_assert_msg(err <= test_tolerance(gdt), "%s: dlogits rel err vs analytic %g > %g (%s)", what, err, test_tolerance(gdt),
                  test_seed_note());
    if (n <= 200) {
        double *fd = malloc(n * sizeof *fd);
        ck_assert_ptr_nonnull(fd);
        ce_user u = {lab, N, C, ls};
        test_numeric_grad(ce_fn, &u, xd, n, 1e-5, fd);
        for (size_t i = 0; i < n; i++) fd[i] *= scale;
        double e2 = test_rel_err(g, fd, n), tol2 = fmax(test_tolerance(gdt), 1e-5) * 2; /* + FD truncation */
        ck_assert_msg(e2 <= tol2, "%s: dlogits rel err vs finite differences %g > %g (%s)", what, e2, tol2, test_seed_note());
        free(fd);
    }
    /* without a gradient: the same loss bits */
    hcl_tensor *loss2 = test_tensor_poisoned(ctx, HCL_F32, 1, one);
    CK_OK(ctx, hcl_softmax_cross_entropy(ctx, loss2, NULL, tx, tl, ls, NULL));
    ck_assert_msg(read_loss(loss2) == lall[N > 1 ? 1 : 0], "%s: loss differs without the gradient", what);
    hcl_tensor_free(loss2);
    free(x); free(labf); free(lab); free(xd); free(gref); free(g); free(lall);
    hcl_tensor_free(tx); hcl_tensor_free(tl); hcl_tensor_free(tg); hcl_tensor_free(lv); hcl_tensor_free(loss); hcl_tensor_free(sc);
}

typedef struct shape2 { size_t rows, cols; } shape2;

START_TEST(ce_all_dtypes_shapes) {
    hcl_context *ctx = test_context();
    /* C <= 64: one work-item per row; C > 64: one work-group per row (two passes when N > 1) */
    static const shape2 shapes[] = {{1, 1}, {1, 7}, {7, 10}, {33, 7}, {64, 10}, {5, 33}, {1, 100}, {7, 65}, {3, 1000}};
    for (int d = 0; d < 3; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            hcl_dtype dt = test_float_dtypes[d];
            check_ce(ctx, dt, dt, shapes[s].rows, shapes[s].cols, 0.0f, 1.0f, 0);
            check_ce(ctx, dt, dt, shapes[s].rows, shapes[s].cols, 0.1f, 1.0f, 0);
        }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(ce_grad_scale_and_mixed) {
    hcl_context *ctx = test_context();
    check_ce(ctx, HCL_F32, HCL_F32, 7, 10, 0.0f, 1024.0f, 0);
    check_ce(ctx, HCL_F16, HCL_F16, 7, 10, 0.2f, 65536.0f, 0);
    check_ce(ctx, HCL_BF16, HCL_F32, 5, 100, 0.1f, 0.5f, 0);
    check_ce(ctx, HCL_F16, HCL_BF16, 6, 7, 0.0f, 8.0f, 0);
    check_ce(ctx, HCL_F32, HCL_F16, 3, 80, 0.3f, 4096.0f, 0);
    hcl_context_free(ctx);
}
END_TEST

/* Many rows: the row kernel's two-pass path (more than one work-group of partials). */
START_TEST(ce_many_rows) {
    hcl_context *ctx = test_context();
    check_ce(ctx, HCL_F32, HCL_F32, 5000, 2, 0.0f, 1.0f, 0);
    check_ce(ctx, HCL_F16, HCL_F16, 4500, 3, 0.1f, 2.0f, 0);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(ce_large_logits_finite) {
    hcl_context *ctx = test_context();
    for (int ls = 0; ls < 2; ls++) {
        check_ce(ctx, HCL_F32, HCL_F32, 5, 10, ls ? 0.1f : 0.0f, 1.0f, 1e4);
        check_ce(ctx, HCL_F32, HCL_F32, 3, 1000, ls ? 0.1f : 0.0f, 1.0f, 1e4);
        check_ce(ctx, HCL_F16, HCL_F16, 5, 10, ls ? 0.1f : 0.0f, 1.0f, 6e4);
        check_ce(ctx, HCL_F16, HCL_F16, 3, 1000, ls ? 0.1f : 0.0f, 1.0f, 6e4);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Labels -1 and C: NaN loss and NaN gradient rows for them, the other rows untouched by it. */
START_TEST(ce_out_of_range_labels) {
    hcl_context *ctx = test_context();
    for (int wide = 0; wide < 2; wide++) {
        size_t N = 4, C = wide ? 100 : 10, n = N * C;
        int64_t shape[2] = {(int64_t)N, (int64_t)C}, lshape[1] = {(int64_t)N}, one[1] = {1};
        float *x = malloc(n * sizeof *x), labf[4] = {1, -1, 2, (float)C};
        ck_assert_ptr_nonnull(x);
        test_fill_normal(x, n, 1.0);
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 2, shape, x), *tl = test_tensor_from(ctx, HCL_I32, 1, lshape, labf);
        hcl_tensor *tg = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *loss = test_tensor_poisoned(ctx, HCL_F32, 1, one);
        CK_OK(ctx, hcl_softmax_cross_entropy(ctx, loss, tg, tx, tl, 0.0f, NULL));
        ck_assert(isnan(read_loss(loss)));
        float *g = test_download(tg);
        for (size_t r = 0; r < N; r++)
            for (size_t c = 0; c < C; c++) {
                int bad = r == 1 || r == 3;
                ck_assert_msg(bad ? isnan(g[r * C + c]) : isfinite(g[r * C + c]), "row %zu col %zu: %g", r, c, g[r * C + c]);
            }
        free(x); free(g);
        hcl_tensor_free(tx); hcl_tensor_free(tl); hcl_tensor_free(tg); hcl_tensor_free(loss);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---- MSE and BCE ---- */
static void check_ew(hcl_context *ctx, int bce, hcl_dtype xdt, hcl_dtype tdt, hcl_dtype gdt, int rank, const int64_t *shape,
                     float scale, double mag) {
    hcl_tensor *tx = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, xdt, rank, shape, &tx));
    size_t n = tx->count;
    hcl_tensor_free(tx);
    float *x = malloc(n * sizeof *x), *t = malloc(n * sizeof *t);
    ck_assert(x && t);
    if (mag > 0) test_fill_uniform(x, n, -mag, mag);
    else test_fill_normal(x, n, 2.0);
    if (bce) test_fill_uniform(t, n, 0, 1);
    else test_fill_normal(t, n, 2.0);
    if (tdt == HCL_I32)
        for (size_t i = 0; i < n; i++) t[i] = t[i] > 0.5f; /* BCE on 0/1 labels */
    test_round_to_dtype(x, n, xdt);
    if (tdt != HCL_I32) test_round_to_dtype(t, n, tdt);
    double *xd = to_double(x, n), *td = to_double(t, n), *gref = malloc(n * sizeof *gref);
    ck_assert_ptr_nonnull(gref);
    double lref = bce ? ref_bce(xd, td, n, gref) : ref_mse(xd, td, n, gref);
    for (size_t i = 0; i < n; i++) gref[i] *= scale;
    int64_t one[1] = {1};
    tx = test_tensor_from(ctx, xdt, rank, shape, x);
    hcl_tensor *tt = test_tensor_from(ctx, tdt, rank, shape, t), *tg = test_tensor_poisoned(ctx, gdt, rank, shape);
    hcl_tensor *loss = test_tensor_poisoned(ctx, HCL_F32, 1, one), *sc = scale != 1.0f ? scalar_f32(ctx, scale) : NULL;
    CK_OK(ctx, bce ? hcl_bce_with_logits(ctx, loss, tg, tx, tt, sc) : hcl_mse_loss(ctx, loss, tg, tx, tt, sc));
    float *g = test_download(tg);
    char what[160];
    snprintf(what, sizeof what, "%s %s/%s->%s n=%zu scale=%g mag=%g", bce ? "BCE" : "MSE", hcl_dtype_name(xdt),
             hcl_dtype_name(tdt), hcl_dtype_name(gdt), n, scale, mag);
    check_loss_value(read_loss(loss), lref, what);
    double err = test_rel_err(g, gref, n);
    ck_assert_msg(err <= test_tolerance(gdt), "%s: grad rel err vs analytic %g > %g (%s)", what, err, test_tolerance(gdt),
                  test_seed_note());
    if (n <= 200) {
        double *fd = malloc(n * sizeof *fd);
        ck_assert_ptr_nonnull(fd);
        ew_user u = {td, n, bce};
        test_numeric_grad(ew_fn, &u, xd, n, 1e-5, fd);
        for (size_t i = 0; i < n; i++) fd[i] *= scale;
        double e2 = test_rel_err(g, fd, n), tol2 = fmax(test_tolerance(gdt), 1e-5) * 2;
        ck_assert_msg(e2 <= tol2, "%s: grad rel err vs finite differences %g > %g (%s)", what, e2, tol2, test_seed_note());
        free(fd);
    }
    hcl_tensor *loss2 = test_tensor_poisoned(ctx, HCL_F32, 1, one);
    CK_OK(ctx, bce ? hcl_bce_with_logits(ctx, loss2, NULL, tx, tt, NULL) : hcl_mse_loss(ctx, loss2, NULL, tx, tt, NULL));
    ck_assert_msg(read_loss(loss2) == read_loss(loss), "%s: loss differs without the gradient", what);
    free(x); free(t); free(xd); free(td); free(gref); free(g);
    hcl_tensor_free(tx); hcl_tensor_free(tt); hcl_tensor_free(tg); hcl_tensor_free(loss); hcl_tensor_free(loss2);
    hcl_tensor_free(sc);
}

START_TEST(mse_bce_all_dtypes_shapes) {
    hcl_context *ctx = test_context();
    static const int64_t s1[1] = {1}, s7[1] = {7}, s33x7[2] = {33, 7}, s4d[4] = {2, 3, 5, 7};
    for (int bce = 0; bce < 2; bce++)
        for (int d = 0; d < 3; d++) {
            hcl_dtype dt = test_float_dtypes[d];
            check_ew(ctx, bce, dt, dt, dt, 1, s1, 1.0f, 0);
            check_ew(ctx, bce, dt, dt, dt, 1, s7, 1.0f, 0);
            check_ew(ctx, bce, dt, dt, dt, 2, s33x7, 1.0f, 0);
            check_ew(ctx, bce, dt, dt, dt, 4, s4d, 1.0f, 0);
        }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(mse_bce_scale_mixed_large) {
    hcl_context *ctx = test_context();
    static const int64_t s33[1] = {33}, s5000[1] = {5000}, s7x9[2] = {7, 9};
    for (int bce = 0; bce < 2; bce++) {
        check_ew(ctx, bce, HCL_F32, HCL_F32, HCL_F32, 1, s33, 1024.0f, 0);
        check_ew(ctx, bce, HCL_F16, HCL_F32, HCL_BF16, 2, s7x9, 256.0f, 0);
        check_ew(ctx, bce, HCL_BF16, HCL_F16, HCL_F32, 2, s7x9, 1.0f, 0);
        check_ew(ctx, bce, HCL_F32, HCL_F32, HCL_F32, 1, s5000, 2.0f, 0); /* two passes */
        check_ew(ctx, bce, HCL_F16, HCL_F16, HCL_F16, 1, s5000, 1.0f, 0);
    }
    /* BCE on I32 0/1 labels (the model's binary head) */
    check_ew(ctx, 1, HCL_F32, HCL_I32, HCL_F32, 1, s33, 1.0f, 0);
    check_ew(ctx, 1, HCL_F16, HCL_I32, HCL_F16, 2, s7x9, 256.0f, 0);
    /* BCE with large logits stays finite (stable form) */
    check_ew(ctx, 1, HCL_F32, HCL_F32, HCL_F32, 1, s33, 1.0f, 1e4);
    check_ew(ctx, 1, HCL_F16, HCL_F16, HCL_F16, 1, s33, 1.0f, 6e4);
    hcl_context_free(ctx);
}
END_TEST

/* Repeated calls give the same loss and gradient bits (fixed-order reductions), on every path. */
START_TEST(deterministic) {
    hcl_context *ctx = test_context();
    static const shape2 shapes[] = {{64, 10}, {5000, 3}, {9, 300}};
    int64_t one[1] = {1};
    for (size_t s = 0; s < 3; s++) {
        size_t N = shapes[s].rows, C = shapes[s].cols, n = N * C;
        int64_t shape[2] = {(int64_t)N, (int64_t)C}, lshape[1] = {(int64_t)N}, flat[1] = {(int64_t)n};
        float *x = malloc(n * sizeof *x), *labf = malloc(N * sizeof *labf), *t = malloc(n * sizeof *t);
        ck_assert(x && labf && t);
        test_fill_normal(x, n, 3.0);
        test_fill_uniform(t, n, 0, 1);
        for (size_t r = 0; r < N; r++) labf[r] = (float)(r * 7 % C);
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 2, shape, x), *tl = test_tensor_from(ctx, HCL_I32, 1, lshape, labf);
        hcl_tensor *xf = test_tensor_from(ctx, HCL_F32, 1, flat, x), *tf = test_tensor_from(ctx, HCL_F32, 1, flat, t);
        hcl_tensor *g1 = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *g2 = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
        hcl_tensor *l1 = test_tensor_poisoned(ctx, HCL_F32, 1, one), *l2 = test_tensor_poisoned(ctx, HCL_F32, 1, one);
        CK_OK(ctx, hcl_softmax_cross_entropy(ctx, l1, g1, tx, tl, 0.1f, NULL));
        CK_OK(ctx, hcl_softmax_cross_entropy(ctx, l2, g2, tx, tl, 0.1f, NULL));
        float *a = test_download(g1), *b = test_download(g2);
        ck_assert(read_loss(l1) == read_loss(l2));
        ck_assert(memcmp(a, b, n * sizeof *a) == 0);
        for (int bce = 0; bce < 2; bce++) {
            CK_OK(ctx, bce ? hcl_bce_with_logits(ctx, l1, NULL, xf, tf, NULL) : hcl_mse_loss(ctx, l1, NULL, xf, tf, NULL));
            CK_OK(ctx, bce ? hcl_bce_with_logits(ctx, l2, NULL, xf, tf, NULL) : hcl_mse_loss(ctx, l2, NULL, xf, tf, NULL));
            ck_assert(read_loss(l1) == read_loss(l2));
        }
        free(x); free(labf); free(t); free(a); free(b);
        hcl_tensor_free(tx); hcl_tensor_free(tl); hcl_tensor_free(xf); hcl_tensor_free(tf);
        hcl_tensor_free(g1); hcl_tensor_free(g2); hcl_tensor_free(l1); hcl_tensor_free(l2);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---- distillation ---- */
static double distill_mag; /* > 0: logits uniform in [-mag, mag] instead of normal */
/* One case: logits in xdt, teacher in tdt, gradient in gdt; `same`: teacher = student (the KL part
 * must be exactly 0, the loss the hard CE alone). Loss vs FP64, gradient vs analytic FP64 and
 * finite differences (small cases), gradient poisoned first, loss written only in its view. */
static void check_distill(hcl_context *ctx, hcl_dtype xdt, hcl_dtype tdt, hcl_dtype gdt, size_t N, size_t C, float T,
                          float alpha, int with_labels, float scale, int same) {
    size_t n = N * C;
    int64_t shape[2] = {(int64_t)N, (int64_t)C}, lshape[1] = {(int64_t)N}, one[1] = {1};
    float *x = test_falloc(n), *t = test_falloc(n), *labf = test_falloc(N);
    int *lab = malloc(N * sizeof *lab);
    ck_assert_ptr_nonnull(lab);
    if (distill_mag > 0) {
        test_fill_uniform(x, n, -distill_mag, distill_mag);
        test_fill_uniform(t, n, -distill_mag, distill_mag);
    } else {
        test_fill_normal(x, n, 2.0);
        test_fill_normal(t, n, 3.0);
    }
    test_round_to_dtype(x, n, xdt);
    if (same) {
        memcpy(t, x, n * sizeof *t);
        tdt = xdt;
    }
    test_round_to_dtype(t, n, tdt);
    for (size_t r = 0; r < N; r++) {
        lab[r] = (int)test_uniform(0, (double)C);
        if ((size_t)lab[r] >= C) lab[r] = (int)C - 1;
        labf[r] = (float)lab[r];
    }
    double *xd = to_double(x, n), *td = to_double(t, n), *gref = test_dalloc(n), kl_ref = 0;
    double lref = ref_distill(xd, td, with_labels ? lab : NULL, N, C, T, alpha, gref, &kl_ref);
    for (size_t i = 0; i < n; i++) gref[i] *= scale;

    hcl_tensor *tx = test_tensor_from(ctx, xdt, 2, shape, x), *tt = test_tensor_from(ctx, tdt, 2, shape, t);
    hcl_tensor *tl = with_labels ? test_tensor_from(ctx, HCL_I32, 1, lshape, labf) : NULL;
    hcl_tensor *tg = test_tensor_poisoned(ctx, gdt, 2, shape), *loss = test_tensor_poisoned(ctx, HCL_F32, 1, lshape);
    hcl_tensor *lv = NULL, *sc = scale != 1.0f ? scalar_f32(ctx, scale) : NULL;
    size_t at = N > 1 ? 1 : 0;
    CK_OK(ctx, hcl_tensor_view(loss, at, 1, one, &lv));
    CK_OK(ctx, hcl_distillation_loss(ctx, lv, tg, tx, tt, tl, T, alpha, sc));
    float *g = test_download(tg), *lall = test_download(loss);
    char what[200];
    snprintf(what, sizeof what, "distill %s/%s->%s %zux%zu T=%g alpha=%g labels=%d scale=%g same=%d", hcl_dtype_name(xdt),
             hcl_dtype_name(tdt), hcl_dtype_name(gdt), N, C, T, alpha, with_labels, scale, same);
    for (size_t i = 0; i < N; i++)
        if (i != at) ck_assert_msg(isnan(lall[i]), "%s: wrote loss[%zu] outside the loss view", what, i);
    if (same) {
        ck_assert_msg(kl_ref == 0.0, "%s: reference KL %g", what, kl_ref);
        /* only the hard part remains: exactly what hcl_softmax_cross_entropy gives times (1 - alpha) */
        if (alpha == 1.0f) {
            ck_assert_msg(lall[at] == 0.0f, "%s: loss %g, want exactly 0", what, lall[at]);
            for (size_t i = 0; i < n; i++) ck_assert_msg(g[i] == 0.0f, "%s: dlogits[%zu] = %g, want 0", what, i, g[i]);
        }
    }
    /* the loss: FP32 math; KL = sum p (t - s)/T - ... cancels a little: 1e-5 of the terms' size */
    double err = fabs(lall[at] - lref), bound = fmax(fabs(lref), 1e-30) * LOSS_TOL + 2e-6 * alpha * T * T * (1 + fabs(kl_ref));
    if (!same || alpha != 1.0f)
        ck_assert_msg(isfinite(lall[at]) && err <= bound, "%s: loss %.9g, reference %.9g, err %g > %g (%s)", what, lall[at],
                      lref, err, bound, test_seed_note());
    double gerr = test_rel_err(g, gref, n), gtol = test_tolerance(gdt) * 2;
    if (!(same && alpha == 1.0f))
        ck_assert_msg(gerr <= gtol, "%s: dlogits rel err vs analytic %g > %g (%s)", what, gerr, gtol, test_seed_note());
    if (n <= 300 && !same) {
        double *fd = test_dalloc(n);
        distill_user u = {td, with_labels ? lab : NULL, N, C, T, alpha};
        test_numeric_grad(distill_fn, &u, xd, n, 1e-5, fd);
        for (size_t i = 0; i < n; i++) fd[i] *= scale;
        double e2 = test_rel_err(g, fd, n), tol2 = fmax(test_tolerance(gdt), 1e-5) * 3;
        ck_assert_msg(e2 <= tol2, "%s: dlogits rel err vs finite differences %g > %g (%s)", what, e2, tol2, test_seed_note());
        free(fd);
    }
    /* without a gradient: the same loss bits */
    hcl_tensor *loss2 = test_tensor_poisoned(ctx, HCL_F32, 1, one);
    CK_OK(ctx, hcl_distillation_loss(ctx, loss2, NULL, tx, tt, tl, T, alpha, NULL));
    ck_assert_msg(read_loss(loss2) == lall[at], "%s: loss differs without the gradient", what);
    hcl_tensor_free(loss2);
    free(x); free(t); free(labf); free(lab); free(xd); free(td); free(gref); free(g); free(lall);
    hcl_tensor_free(tx); hcl_tensor_free(tt); hcl_tensor_free(tl); hcl_tensor_free(tg); hcl_tensor_free(lv);
    hcl_tensor_free(loss); hcl_tensor_free(sc);
}

START_TEST(distill_all_dtypes_shapes) {
    hcl_context *ctx = test_context();
    const char *sm = getenv("HALFCL_TEST_SMALL");
    int small = sm && !strcmp(sm, "1"); /* rusticl/oclgrind runs: the 1000-class rows once */
    /* C <= 64: one work-item per row; C > 64: one work-group per row */
    static const shape2 shapes[] = {{1, 1}, {1, 7}, {7, 33}, {33, 7}, {5, 1000}, {3, 1001}};
    static const float alphas[3] = {0.0f, 0.5f, 1.0f}, temps[2] = {1.0f, 4.0f};
    for (int d = 0; d < 3; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < 2; k++) {
                    if (small && shapes[s].cols >= 1000 && (a != 1 || k != 1)) continue;
                    hcl_dtype dt = test_float_dtypes[d];
                    check_distill(ctx, dt, dt, dt, shapes[s].rows, shapes[s].cols, temps[k], alphas[a], 1, 1.0f, 0);
                }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(distill_mixed_scale_nolabels) {
    hcl_context *ctx = test_context();
    /* teacher in F16 (the eval-mode teacher) with an F32 or BF16 student, device grad scales */
    check_distill(ctx, HCL_F32, HCL_F16, HCL_F32, 7, 10, 4.0f, 0.5f, 1, 1024.0f, 0);
    check_distill(ctx, HCL_BF16, HCL_F16, HCL_BF16, 9, 100, 2.0f, 0.7f, 1, 65536.0f, 0);
    check_distill(ctx, HCL_F16, HCL_F32, HCL_F32, 5, 33, 1.0f, 0.3f, 1, 0.5f, 0);
    /* labels NULL with alpha 1 */
    check_distill(ctx, HCL_F32, HCL_F32, HCL_F32, 7, 7, 4.0f, 1.0f, 0, 1.0f, 0);
    check_distill(ctx, HCL_F16, HCL_F16, HCL_F16, 3, 200, 1.0f, 1.0f, 0, 8.0f, 0);
    /* many rows: two passes */
    check_distill(ctx, HCL_F32, HCL_F16, HCL_F32, 5000, 3, 4.0f, 0.5f, 1, 1.0f, 0);
    /* teacher = student: KL part exactly 0 */
    for (int d = 0; d < 3; d++)
        for (int wide = 0; wide < 2; wide++) {
            hcl_dtype dt = test_float_dtypes[d];
            check_distill(ctx, dt, dt, dt, 7, wide ? 300 : 10, 4.0f, 1.0f, 0, 1.0f, 1);
            check_distill(ctx, dt, dt, dt, 7, wide ? 300 : 10, 1.0f, 0.5f, 1, 1.0f, 1);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Logits near the F16 limit: max-subtracted sums keep the loss and gradient finite and accurate. */
START_TEST(distill_large_logits) {
    hcl_context *ctx = test_context();
    distill_mag = 6e4;
    check_distill(ctx, HCL_F16, HCL_F16, HCL_F16, 5, 10, 4.0f, 0.5f, 1, 1.0f, 0);
    check_distill(ctx, HCL_F16, HCL_F16, HCL_F32, 3, 300, 1.0f, 0.9f, 1, 1.0f, 0);
    distill_mag = 1e4;
    check_distill(ctx, HCL_F32, HCL_BF16, HCL_F32, 7, 33, 2.0f, 1.0f, 0, 1.0f, 0);
    distill_mag = 0;
    hcl_context_free(ctx);
}
END_TEST

/* Equal teacher and student: the loss is (1 - alpha) times cross-entropy's, the gradient (1 -
 * alpha) times its gradient (the KL part contributes exactly 0). */
START_TEST(distill_equal_is_ce) {
    hcl_context *ctx = test_context();
    for (int wide = 0; wide < 2; wide++) {
        size_t N = 6, C = wide ? 150 : 9, n = N * C;
        int64_t shape[2] = {(int64_t)N, (int64_t)C}, lshape[1] = {(int64_t)N}, one[1] = {1};
        float *x = test_falloc(n), labf[6];
        test_fill_normal(x, n, 2.0);
        for (size_t r = 0; r < N; r++) labf[r] = (float)(r * 5 % C);
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 2, shape, x), *tt = test_tensor_from(ctx, HCL_F32, 2, shape, x);
        hcl_tensor *tl = test_tensor_from(ctx, HCL_I32, 1, lshape, labf);
        hcl_tensor *g1 = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *g2 = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
        hcl_tensor *l1 = test_tensor_poisoned(ctx, HCL_F32, 1, one), *l2 = test_tensor_poisoned(ctx, HCL_F32, 1, one);
        CK_OK(ctx, hcl_distillation_loss(ctx, l1, g1, tx, tt, tl, 3.0f, 0.0f, NULL));
        CK_OK(ctx, hcl_softmax_cross_entropy(ctx, l2, g2, tx, tl, 0.0f, NULL));
        float a = read_loss(l1), b = read_loss(l2);
        ck_assert_msg(fabs(a - b) <= 1e-6 * fabs(b), "alpha 0: %.9g vs CE %.9g", a, b);
        float *ga = test_download(g1), *gb = test_download(g2);
        ck_assert(test_rel_err_f(ga, gb, n) <= 1e-6);
        free(x); free(ga); free(gb);
        hcl_tensor_free(tx); hcl_tensor_free(tt); hcl_tensor_free(tl); hcl_tensor_free(g1); hcl_tensor_free(g2);
        hcl_tensor_free(l1); hcl_tensor_free(l2);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(distill_bad_arguments) {
    hcl_context *ctx = test_context();
    int64_t shape[2] = {4, 10}, lshape[1] = {4}, one[1] = {1}, s5[2] = {5, 10};
    hcl_tensor *x = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *t = test_tensor_poisoned(ctx, HCL_F16, 2, shape);
    hcl_tensor *g = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *lab = test_tensor_poisoned(ctx, HCL_I32, 1, lshape);
    hcl_tensor *loss = test_tensor_poisoned(ctx, HCL_F32, 1, one), *t5 = test_tensor_poisoned(ctx, HCL_F32, 2, s5);
    hcl_tensor *ti = test_tensor_poisoned(ctx, HCL_I32, 2, shape);
    ck_assert_int_eq(hcl_distillation_loss(NULL, loss, g, x, t, lab, 1, 0.5f, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, NULL, lab, 1, 0.5f, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, t, NULL, 1, 0.5f, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, t, NULL, 1, 0.0f, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, t5, lab, 1, 0.5f, NULL), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, ti, lab, 1, 0.5f, NULL), HCL_ERR_DTYPE);
    const float bad_t[] = {0.0f, -1.0f, NAN, INFINITY};
    for (int k = 0; k < 4; k++) CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, t, lab, bad_t[k], 0.5f, NULL), HCL_ERR_INVALID_ARGUMENT);
    const float bad_a[] = {-0.1f, 1.1f, NAN, INFINITY};
    for (int k = 0; k < 4; k++) CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, g, x, t, lab, 1, bad_a[k], NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_distillation_loss(ctx, loss, x, x, t, lab, 1, 0.5f, NULL), HCL_ERR_ALIASING);
    CK_OK(ctx, hcl_distillation_loss(ctx, loss, NULL, x, t, NULL, 2, 1.0f, NULL));
    hcl_tensor *all[] = {x, t, g, lab, loss, t5, ti};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hcl_tensor_free(all[i]);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_arguments) {
    hcl_context *ctx = test_context();
    int64_t shape[2] = {4, 10}, lshape[1] = {4}, l5[1] = {5}, one[1] = {1}, two[1] = {2}, r3[3] = {4, 10, 1}, big[1] = {60};
    hcl_tensor *x = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *g = test_tensor_poisoned(ctx, HCL_F32, 2, shape);
    hcl_tensor *lab = test_tensor_poisoned(ctx, HCL_I32, 1, lshape), *labf = test_tensor_poisoned(ctx, HCL_F32, 1, lshape);
    hcl_tensor *lab5 = test_tensor_poisoned(ctx, HCL_I32, 1, l5), *loss = test_tensor_poisoned(ctx, HCL_F32, 1, one);
    hcl_tensor *loss2 = test_tensor_poisoned(ctx, HCL_F32, 1, two), *lossh = test_tensor_poisoned(ctx, HCL_F16, 1, one);
    hcl_tensor *x3 = test_tensor_poisoned(ctx, HCL_F32, 3, r3), *gi = test_tensor_poisoned(ctx, HCL_I32, 2, shape);
    hcl_tensor *g5 = test_tensor_poisoned(ctx, HCL_F32, 2, (int64_t[2]){5, 10}), *base = test_tensor_poisoned(ctx, HCL_F32, 1, big);
    hcl_tensor *t = test_tensor_poisoned(ctx, HCL_F32, 2, shape), *t5 = test_tensor_poisoned(ctx, HCL_F32, 2, (int64_t[2]){5, 8});
    hcl_tensor *xi = test_tensor_poisoned(ctx, HCL_I32, 2, shape), *scale16 = test_tensor_poisoned(ctx, HCL_F16, 1, one);
    hcl_tensor *v_in = NULL, *v_loss = NULL, *v_g = NULL;
    CK_OK(ctx, hcl_tensor_view(base, 0, 2, shape, &v_in));
    CK_OK(ctx, hcl_tensor_view(base, 39, 1, one, &v_loss)); /* last element of v_in */
    CK_OK(ctx, hcl_tensor_view(base, 20, 2, shape, &v_g));  /* overlaps v_in */

    /* cross-entropy */
    ck_assert_int_eq(hcl_softmax_cross_entropy(NULL, loss, g, x, lab, 0, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, NULL, g, x, lab, 0, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, NULL, lab, 0, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, NULL, 0, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, labf, 0, NULL), HCL_ERR_DTYPE);  /* labels not I32 */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab5, 0, NULL), HCL_ERR_SHAPE);  /* N mismatch */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x3, lab, 0, NULL), HCL_ERR_SHAPE);  /* logits rank 3 */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, xi, lab, 0, NULL), HCL_ERR_DTYPE);  /* logits I32 */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss2, g, x, lab, 0, NULL), HCL_ERR_SHAPE);  /* loss 2 elements */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, lossh, g, x, lab, 0, NULL), HCL_ERR_DTYPE);  /* loss F16 */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, gi, x, lab, 0, NULL), HCL_ERR_DTYPE);  /* grad I32 */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g5, x, lab, 0, NULL), HCL_ERR_SHAPE);  /* grad shape */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab, 0, loss2), HCL_ERR_SHAPE);  /* scale 2 elements */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab, 0, scale16), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab, 1.0f, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab, -0.1f, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab, NAN, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, x, x, lab, 0, NULL), HCL_ERR_ALIASING);     /* grad = logits */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, v_g, v_in, lab, 0, NULL), HCL_ERR_ALIASING); /* partial overlap */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, v_loss, g, v_in, lab, 0, NULL), HCL_ERR_ALIASING); /* loss in logits */
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x, lab, 0, loss), HCL_ERR_ALIASING);     /* loss = scale */
    /* the gradient is optional: these pass */
    CK_OK(ctx, hcl_softmax_cross_entropy(ctx, loss, NULL, x, lab, 0, NULL));

    /* MSE / BCE */
    for (int bce = 0; bce < 2; bce++) {
#define EW(l, gr, p, tg, s) (bce ? hcl_bce_with_logits(ctx, l, gr, p, tg, s) : hcl_mse_loss(ctx, l, gr, p, tg, s))
        ck_assert_int_eq(bce ? hcl_bce_with_logits(NULL, loss, g, x, t, NULL) : hcl_mse_loss(NULL, loss, g, x, t, NULL),
                         HCL_ERR_NULL_POINTER);
        CK_STATUS(ctx, EW(NULL, g, x, t, NULL), HCL_ERR_NULL_POINTER);
        CK_STATUS(ctx, EW(loss, g, NULL, t, NULL), HCL_ERR_NULL_POINTER);
        CK_STATUS(ctx, EW(loss, g, x, NULL, NULL), HCL_ERR_NULL_POINTER);
        CK_STATUS(ctx, EW(loss, g, x, t5, NULL), HCL_ERR_SHAPE);
        CK_STATUS(ctx, EW(loss, g5, x, t, NULL), HCL_ERR_SHAPE);
        CK_STATUS(ctx, EW(loss, g, xi, t, NULL), HCL_ERR_DTYPE);
        if (!bce) CK_STATUS(ctx, EW(loss, g, x, xi, NULL), HCL_ERR_DTYPE); /* BCE takes I32 labels */
        CK_STATUS(ctx, EW(loss, gi, x, t, NULL), HCL_ERR_DTYPE);
        CK_STATUS(ctx, EW(loss2, g, x, t, NULL), HCL_ERR_SHAPE);
        CK_STATUS(ctx, EW(lossh, g, x, t, NULL), HCL_ERR_DTYPE);
        CK_STATUS(ctx, EW(loss, g, x, t, scale16), HCL_ERR_DTYPE);
        CK_STATUS(ctx, EW(loss, x, x, t, NULL), HCL_ERR_ALIASING);
        CK_STATUS(ctx, EW(loss, t, x, t, NULL), HCL_ERR_ALIASING);
        CK_STATUS(ctx, EW(v_loss, g, v_in, t, NULL), HCL_ERR_ALIASING);
        CK_STATUS(ctx, EW(loss, v_g, v_in, t, NULL), HCL_ERR_ALIASING);
        CK_STATUS(ctx, EW(loss, g, x, t, loss), HCL_ERR_ALIASING);
#undef EW
    }

    hcl_context *ctx2 = test_context();
    hcl_tensor *x2 = test_tensor_poisoned(ctx2, HCL_F32, 2, shape);
    CK_STATUS(ctx, hcl_softmax_cross_entropy(ctx, loss, g, x2, lab, 0, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_mse_loss(ctx, loss, g, x, x2, NULL), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(x2);
    hcl_context_free(ctx2);

    hcl_tensor_free(v_in); hcl_tensor_free(v_loss); hcl_tensor_free(v_g);
    hcl_tensor *all[] = {x, g, lab, labf, lab5, loss, loss2, lossh, x3, gi, g5, base, t, t5, xi, scale16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hcl_tensor_free(all[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, ce_all_dtypes_shapes);
    tcase_add_test(tc, ce_grad_scale_and_mixed);
    tcase_add_test(tc, ce_many_rows);
    tcase_add_test(tc, ce_large_logits_finite);
    tcase_add_test(tc, ce_out_of_range_labels);
    tcase_add_test(tc, mse_bce_all_dtypes_shapes);
    tcase_add_test(tc, mse_bce_scale_mixed_large);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, distill_all_dtypes_shapes);
    tcase_add_test(tc, distill_mixed_scale_nolabels);
    tcase_add_test(tc, distill_large_logits);
    tcase_add_test(tc, distill_equal_is_ce);
    tcase_add_test(tc, distill_bad_arguments);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
