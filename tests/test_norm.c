/* Normalisation: BatchNorm2d (train with batch statistics and running-stat update, inference,
 * backward) and LayerNorm (forward, backward) against FP64 host references written here, the
 * backward also against central finite differences; F32/F16/BF16 storage with gamma/beta in F32
 * or in x's dtype or absent; odd shapes (1, 7, 33, > one work-group); poisoned outputs,
 * accumulation into dgamma/dbeta, bit-identical reruns and bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"


/* ---------------------------------------------------------------- FP64 references */
/* BN over x (N,C,HW): mean, biased var per channel. g, b may be NULL. */
static void ref_bn_stats(const float *x, size_t N, size_t C, size_t HW, double *mean, double *var) {
    for (size_t c = 0; c < C; c++) {
        double s = 0, s2 = 0, M = (double)(N * HW);
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
        mean[c] = s / M;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                double d = x[(n * C + c) * HW + i] - mean[c];
                s2 += d * d;
            }
        var[c] = s2 / M;
    }
}

static void ref_bn_forward(const double *x, size_t N, size_t C, size_t HW, const double *g, const double *b, double eps,
                           double *y) {
    for (size_t c = 0; c < C; c++) {
        double s = 0, s2 = 0, M = (double)(N * HW);
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
        double mean = s / M;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) s2 += (x[(n * C + c) * HW + i] - mean) * (x[(n * C + c) * HW + i] - mean);
        double invstd = 1 / sqrt(s2 / M + eps);
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t k = (n * C + c) * HW + i;
                y[k] = (x[k] - mean) * invstd * (g ? g[c] : 1) + (b ? b[c] : 0);
            }
    }
}

/* Analytic BN backward: dx overwritten, dg/db (C) overwritten (may be NULL). */
static void ref_bn_backward(const double *dy, const double *x, size_t N, size_t C, size_t HW, const double *g, double eps,
                            double *dx, double *dg, double *db) {
    double M = (double)(N * HW);
    for (size_t c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
        double mean = s / M;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) s2 += (x[(n * C + c) * HW + i] - mean) * (x[(n * C + c) * HW + i] - mean);
        double invstd = 1 / sqrt(s2 / M + eps), sdy = 0, sdyx = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t k = (n * C + c) * HW + i;
                sdy += dy[k];
                sdyx += dy[k] * (x[k] - mean) * invstd;
            }
        if (dg) dg[c] = sdyx;
        if (db) db[c] = sdy;
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t k = (n * C + c) * HW + i;
                double xh = (x[k] - mean) * invstd;
                dx[k] = (g ? g[c] : 1) * invstd * (dy[k] - sdy / M - xh * sdyx / M);
            }
    }
}

static void ref_ln_forward(const double *x, size_t R, size_t D, const double *g, const double *b, double eps, double *y,
                           double *mean_out, double *invstd_out) {
    for (size_t r = 0; r < R; r++) {
        double s = 0, s2 = 0;
        for (size_t d = 0; d < D; d++) s += x[r * D + d];
        double mean = s / (double)D;
        for (size_t d = 0; d < D; d++) s2 += (x[r * D + d] - mean) * (x[r * D + d] - mean);
        double invstd = 1 / sqrt(s2 / (double)D + eps);
        if (mean_out) mean_out[r] = mean;
        if (invstd_out) invstd_out[r] = invstd;
        for (size_t d = 0; d < D; d++) y[r * D + d] = (x[r * D + d] - mean) * invstd * (g ? g[d] : 1) + (b ? b[d] : 0);
    }
}

static void ref_ln_backward(const double *dy, const double *x, size_t R, size_t D, const double *g, double eps, double *dx,
                            double *dg, double *db) {
    if (dg) memset(dg, 0, D * sizeof *dg);
    if (db) memset(db, 0, D * sizeof *db);
    for (size_t r = 0; r < R; r++) {
        double s = 0, s2 = 0;
        for (size_t d = 0; d < D; d++) s += x[r * D + d];
        double mean = s / (double)D;
        for (size_t d = 0; d < D; d++) s2 += (x[r * D + d] - mean) * (x[r * D + d] - mean);
        double invstd = 1 / sqrt(s2 / (double)D + eps), m1 = 0, m2 = 0;
        for (size_t d = 0; d < D; d++) {
            double gd = dy[r * D + d] * (g ? g[d] : 1), xh = (x[r * D + d] - mean) * invstd;
            m1 += gd / (double)D;
            m2 += gd * xh / (double)D;
            if (dg) dg[d] += dy[r * D + d] * xh;
            if (db) db[d] += dy[r * D + d];
        }
        for (size_t d = 0; d < D; d++) {
            double gd = dy[r * D + d] * (g ? g[d] : 1), xh = (x[r * D + d] - mean) * invstd;
            dx[r * D + d] = invstd * (gd - m1 - xh * m2);
        }
    }
}

static double *to_double(const float *x, size_t n) {
    double *d = test_dalloc(n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---------------------------------------------------------------- cases */
typedef struct bn_shape { int64_t n, c, h, w; } bn_shape;
static const bn_shape bn_shapes[] = {
    {2, 3, 4, 5}, {1, 7, 1, 2}, {3, 1, 7, 1}, {2, 33, 3, 1}, {5, 2, 1, 1}, {3, 2, 11, 13}, {33, 3, 1, 7},
};
#define NBN (sizeof bn_shapes / sizeof bn_shapes[0])

/* Per-dtype parameter dtype choice: gamma/beta F32 for some cases, x's dtype for others, absent
 * for one. */
typedef enum { P_F32, P_SAME, P_NONE } pmode;

static void check_close(const float *got, const double *ref, size_t n, double tol, const char *what, const char *dt,
                        size_t shape_i, int pm) {
    double e = test_rel_err(got, ref, n);
    ck_assert_msg(e <= tol, "%s (%s, shape %zu, params %d): rel err %g > %g (%s)", what, dt, shape_i, pm, e, tol,
                  test_seed_note());
}

/* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)) can cancel to ~0 (e.g. two values per
 * channel), so its error is measured against the size of the cancelling terms, ||gamma invstd dy||
 * (scale[i] = |gamma invstd dy| per element), or ||ref|| when larger. */
static void check_dx(const float *got, const double *ref, const double *scale, size_t n, double tol, const char *what,
                     const char *dt, size_t shape_i) {
    double num = 0, den = 0, rr = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s[%zu] (%s, shape %zu) is %g", what, i, dt, shape_i, (double)got[i]);
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += scale[i] * scale[i];
        rr += ref[i] * ref[i];
    }
    double e = sqrt(num / fmax(fmax(den, rr), 1e-300));
    ck_assert_msg(e <= tol, "%s (%s, shape %zu): err %g > %g (%s)", what, dt, shape_i, e, tol, test_seed_note());
}

/* An accumulated parameter gradient (dgamma/dbeta += a sum over rows) can cancel to ~0, so its
 * error is measured against the sum of the magnitudes that were added (abs_sum[i]), the scale
 * that FP32 summation error grows with, or |ref| when larger. */
static void check_accumulated(const float *got, const double *ref, const double *abs_sum, size_t n, double tol,
                              const char *what, const char *dt, size_t shape_i) {
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]) / fmax(fmax(abs_sum[i], fabs(ref[i])), 1e-300);
        ck_assert_msg(e <= tol, "%s[%zu] (%s, shape %zu): %.9g vs %.9g, err %g > %g (%s)", what, i, dt, shape_i,
                      (double)got[i], ref[i], e, tol, test_seed_note());
    }
}

/* A mean near 0 has no meaningful relative error: measure it against |mean| + std instead. */
static void check_mean(const float *got, const double *mean, const double *var, size_t n, double tol, const char *what,
                       const char *dt, size_t shape_i) {
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - mean[i]) / (fabs(mean[i]) + sqrt(var[i]) + 1e-30);
        ck_assert_msg(e <= tol, "%s[%zu] (%s, shape %zu): %.9g vs %.9g, err %g > %g (%s)", what, i, dt, shape_i,
                      (double)got[i], mean[i], e, tol, test_seed_note());
    }
}

/* Parameter mode per case: F32 storage rotates through all three; F16 x takes F32 gamma/beta or
 * none; BF16 x takes BF16 gamma/beta (each x dtype then needs one program build). */
static pmode pm_for(hcl_dtype dt, size_t i) {
    if (dt == HCL_F32) return (pmode)(i % 3);
    if (dt == HCL_F16) return i % 2 ? P_NONE : P_F32;
    return P_SAME;
}

/* Runs BN training forward + backward on the device and checks everything against FP64. */
static void bn_case(hcl_context *ctx, size_t si, hcl_dtype dt, pmode pm, double shift) {
    bn_shape s = bn_shapes[si];
    size_t N = (size_t)s.n, C = (size_t)s.c, HW = (size_t)(s.h * s.w), cnt = N * C * HW;
    int64_t shape[4] = {s.n, s.c, s.h, s.w}, cs[1] = {s.c};
    hcl_dtype pdt = pm == P_F32 ? HCL_F32 : dt;
    float *x = test_falloc(cnt), *dy = test_falloc(cnt), *g = test_falloc(C), *b = test_falloc(C), *rm = test_falloc(C), *rv = test_falloc(C);
    float *dg0 = test_falloc(C), *db0 = test_falloc(C);
    test_fill_normal(x, cnt, 1.5);
    for (size_t i = 0; i < cnt; i++) x[i] += (float)(shift + 0.25 * (double)((i / HW) % C));
    test_fill_normal(dy, cnt, 1.0);
    test_fill_uniform(g, C, 0.5, 1.5);
    test_fill_uniform(b, C, -0.5, 0.5);
    test_fill_uniform(rm, C, -1, 1);
    test_fill_uniform(rv, C, 0.5, 2);
    test_fill_uniform(dg0, C, -1, 1);
    test_fill_uniform(db0, C, -1, 1);
    test_round_to_dtype(x, cnt, dt);
    test_round_to_dtype(dy, cnt, dt);
    test_round_to_dtype(g, C, pdt);
    test_round_to_dtype(b, C, pdt);
    test_round_to_dtype(dg0, C, pdt);
    test_round_to_dtype(db0, C, pdt);
    const float eps = 1e-5f, mom = 0.1f;

    hcl_tensor *tx = test_tensor_from(ctx, dt, 4, shape, x), *tdy = test_tensor_from(ctx, dt, 4, shape, dy);
    hcl_tensor *ty = test_tensor_poisoned(ctx, dt, 4, shape), *tdx = test_tensor_poisoned(ctx, dt, 4, shape);
    hcl_tensor *tsm = test_tensor_poisoned(ctx, HCL_F32, 1, cs), *tsi = test_tensor_poisoned(ctx, HCL_F32, 1, cs);
    hcl_tensor *trm = test_tensor_from(ctx, HCL_F32, 1, cs, rm), *trv = test_tensor_from(ctx, HCL_F32, 1, cs, rv);
    hcl_tensor *tg = NULL, *tb = NULL, *tdg = NULL, *tdb = NULL;
    if (pm != P_NONE) {
        tg = test_tensor_from(ctx, pdt, 1, cs, g);
        tb = test_tensor_from(ctx, pdt, 1, cs, b);
        tdg = test_tensor_from(ctx, pdt, 1, cs, dg0);
        tdb = test_tensor_from(ctx, pdt, 1, cs, db0);
    }
    CK_OK(ctx, hcl_batchnorm2d_forward_train(ctx, ty, tsm, tsi, trm, trv, tx, tg, tb, mom, eps));
    CK_OK(ctx, hcl_batchnorm2d_backward(ctx, tdx, tdg, tdb, tdy, tx, tg, tsm, tsi));

    double *xd = to_double(x, cnt), *dyd = to_double(dy, cnt), *gd = to_double(g, C), *bd = to_double(b, C);
    double *y_ref = test_dalloc(cnt), *dx_ref = test_dalloc(cnt), *mean = test_dalloc(C), *var = test_dalloc(C), *tmp = test_dalloc(C);
    double *dg_ref = test_dalloc(C), *db_ref = test_dalloc(C);
    int has_p = pm != P_NONE;
    ref_bn_forward(xd, N, C, HW, has_p ? gd : NULL, has_p ? bd : NULL, eps, y_ref);
    ref_bn_backward(dyd, xd, N, C, HW, has_p ? gd : NULL, eps, dx_ref, dg_ref, db_ref);
    ref_bn_stats(x, N, C, HW, mean, var);
    const char *dn = hcl_dtype_name(dt);

    float *y = test_download(ty), *sm = test_download(tsm), *sv = test_download(tsi);
    float *rm2 = test_download(trm), *rv2 = test_download(trv), *dx = test_download(tdx);
    check_close(y, y_ref, cnt, test_tolerance(dt), "bn y", dn, si, pm);
    /* statistics are F32 end to end: a few ulps of Welford/Chan rounding */
    check_mean(sm, mean, var, C, 1e-5, "save_mean", dn, si);
    for (size_t c = 0; c < C; c++) tmp[c] = 1 / sqrt(var[c] + eps);
    check_close(sv, tmp, C, 2e-5 * (1 + fabs(shift)), "save_invstd", dn, si, pm);
    for (size_t c = 0; c < C; c++) tmp[c] = (1 - mom) * rm[c] + mom * mean[c];
    check_close(rm2, tmp, C, 1e-5 * (1 + fabs(shift)), "running_mean", dn, si, pm);
    for (size_t c = 0; c < C; c++) tmp[c] = (1 - mom) * rv[c] + mom * var[c] * (double)(N * HW) / (double)(N * HW - 1);
    check_close(rv2, tmp, C, 2e-5 * (1 + fabs(shift)), "running_var (unbiased)", dn, si, pm);
    /* dx: FP32 terms cancel, so F32 gets 1e-4 of the cancelling terms' size; F16/BF16 are
     * dominated by the output rounding. */
    double *scale = test_dalloc(cnt);
    for (size_t i = 0; i < cnt; i++) {
        size_t c = (i / HW) % C;
        scale[i] = fabs((has_p ? gd[c] : 1) * dyd[i] / sqrt(var[c] + eps));
    }
    check_dx(dx, dx_ref, scale, cnt, dt == HCL_F32 ? 1e-4 * (1 + fabs(shift)) : test_tolerance(dt), "bn dx", dn, si);
    free(scale);
    if (has_p) {
        float *dg = test_download(tdg), *db = test_download(tdb);
        double *dg_abs = test_dalloc(C), *db_abs = test_dalloc(C);
        for (size_t c = 0; c < C; c++) {
            dg_ref[c] += dg0[c];
            db_ref[c] += db0[c];
            dg_abs[c] = fabs(dg0[c]);
            db_abs[c] = fabs(db0[c]);
        }
        for (size_t i = 0; i < cnt; i++) {
            size_t c = (i / HW) % C;
            dg_abs[c] += fabs(dyd[i] * (xd[i] - mean[c]) / sqrt(var[c] + eps));
            db_abs[c] += fabs(dyd[i]);
        }
        /* dgamma also carries the saved statistics' F32 error through xhat (the 1e-4 of dx) */
        check_accumulated(dg, dg_ref, dg_abs, C, pdt == HCL_F32 ? 1e-4 * (1 + fabs(shift)) : test_tolerance(pdt),
                          "bn dgamma (accumulated)", dn, si);
        check_accumulated(db, db_ref, db_abs, C, pdt == HCL_F32 ? 1e-5 : test_tolerance(pdt), "bn dbeta (accumulated)", dn, si);
        free(dg_abs);
        free(db_abs);
        free(dg);
        free(db);
    }
    free(y); free(sm); free(sv); free(rm2); free(rv2); free(dx);
    free(xd); free(dyd); free(gd); free(bd); free(y_ref); free(dx_ref); free(mean); free(var); free(tmp);
    free(dg_ref); free(db_ref);
    free(x); free(dy); free(g); free(b); free(rm); free(rv); free(dg0); free(db0);
    hcl_tensor *ts[] = {tx, tdy, ty, tdx, tsm, tsi, trm, trv, tg, tb, tdg, tdb};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
}

START_TEST(bn_train_forward_backward) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (size_t si = 0; si < NBN; si++) bn_case(ctx, si, test_float_dtypes[d], pm_for(test_float_dtypes[d], si), 0.0);
    hcl_context_free(ctx);
}
END_TEST

/* Inputs with a large common offset (|mean| >> std): the Welford statistics stay accurate. */
START_TEST(bn_large_mean) {
    hcl_context *ctx = test_context();
    bn_case(ctx, 5, HCL_F32, P_F32, 100.0);
    bn_case(ctx, 6, HCL_F32, P_NONE, -30.0);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bn_inference) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (size_t si = 0; si < NBN; si += 2) {
            hcl_dtype dt = test_float_dtypes[d];
            pmode pm = pm_for(dt, si / 2);
            hcl_dtype pdt = pm == P_F32 ? HCL_F32 : dt;
            bn_shape s = bn_shapes[si];
            size_t C = (size_t)s.c, HW = (size_t)(s.h * s.w), cnt = (size_t)s.n * C * HW;
            int64_t shape[4] = {s.n, s.c, s.h, s.w}, cs[1] = {s.c};
            float *x = test_falloc(cnt), *g = test_falloc(C), *b = test_falloc(C), *rm = test_falloc(C), *rv = test_falloc(C);
            test_fill_normal(x, cnt, 2.0);
            test_fill_uniform(g, C, 0.5, 1.5);
            test_fill_uniform(b, C, -0.5, 0.5);
            test_fill_uniform(rm, C, -1, 1);
            test_fill_uniform(rv, C, 0.5, 2);
            test_round_to_dtype(x, cnt, dt);
            test_round_to_dtype(g, C, pdt);
            test_round_to_dtype(b, C, pdt);
            hcl_tensor *tx = test_tensor_from(ctx, dt, 4, shape, x), *ty = test_tensor_poisoned(ctx, dt, 4, shape);
            hcl_tensor *trm = test_tensor_from(ctx, HCL_F32, 1, cs, rm), *trv = test_tensor_from(ctx, HCL_F32, 1, cs, rv);
            hcl_tensor *tg = pm == P_NONE ? NULL : test_tensor_from(ctx, pdt, 1, cs, g);
            hcl_tensor *tb = pm == P_NONE ? NULL : test_tensor_from(ctx, pdt, 1, cs, b);
            CK_OK(ctx, hcl_batchnorm2d_forward_inference(ctx, ty, tx, trm, trv, tg, tb, 1e-3f));
            double *ref = test_dalloc(cnt);
            for (size_t i = 0; i < cnt; i++) {
                size_t c = (i / HW) % C;
                ref[i] = (x[i] - rm[c]) / sqrt((double)rv[c] + 1e-3f) * (tg ? g[c] : 1) + (tb ? b[c] : 0);
            }
            float *y = test_download(ty);
            check_close(y, ref, cnt, test_tolerance(dt), "bn inference y", hcl_dtype_name(dt), si, pm);
            free(y); free(ref); free(x); free(g); free(b); free(rm); free(rv);
            hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(trm); hcl_tensor_free(trv);
            hcl_tensor_free(tg); hcl_tensor_free(tb);
        }
    hcl_context_free(ctx);
}
END_TEST

/* ---- finite differences: L = sum(w * y(x, gamma, beta)) at tiny sizes, FP64 ---- */
typedef struct fd_ctx { size_t N, C, HW; const double *w; double eps; int ln; } fd_ctx;

static double fd_loss(const double *p, void *user) {
    const fd_ctx *f = user;
    size_t cnt = f->N * f->C * f->HW, np = f->ln ? f->HW : f->C; /* LN: rows N*C, D = HW */
    double *y = test_dalloc(cnt), L = 0;
    if (f->ln) ref_ln_forward(p, f->N * f->C, f->HW, p + cnt, p + cnt + np, f->eps, y, NULL, NULL);
    else ref_bn_forward(p, f->N, f->C, f->HW, p + cnt, p + cnt + np, f->eps, y);
    for (size_t i = 0; i < cnt; i++) L += f->w[i] * y[i];
    free(y);
    return L;
}

/* The analytic FP64 backward vs central differences of the FP64 forward, then the device (F32
 * storage) vs the finite differences directly, for BN (2,3,2,3) and LN (3,2 | 7). */
START_TEST(backward_vs_finite_differences) {
    hcl_context *ctx = test_context();
    for (int ln = 0; ln < 2; ln++) {
        size_t N = ln ? 3 : 2, C = ln ? 2 : 3, HW = ln ? 7 : 6, cnt = N * C * HW, np = ln ? HW : C, tot = cnt + 2 * np;
        float *xf = test_falloc(tot), *wf = test_falloc(cnt);
        test_fill_normal(xf, cnt, 1.0);
        test_fill_uniform(xf + cnt, np, 0.5, 1.5);
        test_fill_uniform(xf + cnt + np, np, -0.5, 0.5);
        test_fill_normal(wf, cnt, 1.0);
        double *p = to_double(xf, tot), *w = to_double(wf, cnt), *fd = test_dalloc(tot), *an = test_dalloc(tot);
        fd_ctx f = {N, C, HW, w, 1e-5, ln};
        test_numeric_grad(fd_loss, &f, p, tot, 1e-4, fd);
        if (ln) ref_ln_backward(w, p, N * C, HW, p + cnt, 1e-5, an, an + cnt, an + cnt + np);
        else ref_bn_backward(w, p, N, C, HW, p + cnt, 1e-5, an, an + cnt, an + cnt + np);
        for (size_t i = 0; i < tot; i++)
            ck_assert_msg(fabs(fd[i] - an[i]) <= 1e-5 * (1 + fabs(an[i])), "%s grad %zu: fd %.10g analytic %.10g",
                          ln ? "ln" : "bn", i, fd[i], an[i]);
        /* device */
        int64_t shape4[4] = {(int64_t)N, (int64_t)C, (int64_t)HW, 1}, shape3[3] = {(int64_t)N, (int64_t)C, (int64_t)HW};
        int64_t ps[1] = {(int64_t)np}, ss[1] = {(int64_t)(ln ? N * C : C)};
        int rank = ln ? 3 : 4;
        const int64_t *shape = ln ? shape3 : shape4;
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, rank, shape, xf), *tw = test_tensor_from(ctx, HCL_F32, rank, shape, wf);
        hcl_tensor *tg = test_tensor_from(ctx, HCL_F32, 1, ps, xf + cnt), *tb = test_tensor_from(ctx, HCL_F32, 1, ps, xf + cnt + np);
        hcl_tensor *ty = test_tensor_poisoned(ctx, HCL_F32, rank, shape), *tdx = test_tensor_poisoned(ctx, HCL_F32, rank, shape);
        hcl_tensor *tsm = test_tensor_poisoned(ctx, HCL_F32, 1, ss), *tsi = test_tensor_poisoned(ctx, HCL_F32, 1, ss);
        hcl_tensor *tdg = NULL, *tdb = NULL;
        CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ps, &tdg));
        CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ps, &tdb));
        CK_OK(ctx, hcl_tensor_fill(tdg, 0));
        CK_OK(ctx, hcl_tensor_fill(tdb, 0));
        if (ln) {
            CK_OK(ctx, hcl_layernorm_forward(ctx, ty, tsm, tsi, tx, tg, tb, 1e-5f));
            CK_OK(ctx, hcl_layernorm_backward(ctx, tdx, tdg, tdb, tw, tx, tg, tsm, tsi));
        } else {
            CK_OK(ctx, hcl_batchnorm2d_forward_train(ctx, ty, tsm, tsi, NULL, NULL, tx, tg, tb, 0.1f, 1e-5f));
            CK_OK(ctx, hcl_batchnorm2d_backward(ctx, tdx, tdg, tdb, tw, tx, tg, tsm, tsi));
        }
        float *dx = test_download(tdx), *dg = test_download(tdg), *db = test_download(tdb);
        check_close(dx, fd, cnt, 1e-4, "device dx vs fd", ln ? "ln" : "bn", 0, 0);
        check_close(dg, fd + cnt, np, 1e-4, "device dgamma vs fd", ln ? "ln" : "bn", 0, 0);
        check_close(db, fd + cnt + np, np, 1e-4, "device dbeta vs fd", ln ? "ln" : "bn", 0, 0);
        free(dx); free(dg); free(db);
        hcl_tensor *ts[] = {tx, tw, tg, tb, ty, tdx, tsm, tsi, tdg, tdb};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
        free(xf); free(wf); free(p); free(w); free(fd); free(an);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---- LayerNorm ---- */
typedef struct ln_shape { int rank; int64_t dims[3]; } ln_shape;
static const ln_shape ln_shapes[] = {
    {2, {1, 1}}, {2, {7, 1}}, {2, {5, 7}}, {3, {2, 3, 33}}, {2, {70, 7}}, {2, {3, 300}}, {1, {33}},
};
#define NLN (sizeof ln_shapes / sizeof ln_shapes[0])

static void ln_case(hcl_context *ctx, size_t si, hcl_dtype dt, pmode pm) {
    ln_shape s = ln_shapes[si];
    size_t D = (size_t)s.dims[s.rank - 1], cnt = 1;
    for (int i = 0; i < s.rank; i++) cnt *= (size_t)s.dims[i];
    size_t R = cnt / D;
    int64_t ds[1] = {(int64_t)D}, rs[1] = {(int64_t)R};
    hcl_dtype pdt = pm == P_F32 ? HCL_F32 : dt;
    float *x = test_falloc(cnt), *dy = test_falloc(cnt), *g = test_falloc(D), *b = test_falloc(D), *dg0 = test_falloc(D), *db0 = test_falloc(D);
    test_fill_normal(x, cnt, 2.0);
    for (size_t i = 0; i < cnt; i++) x[i] += (float)(0.1 * (double)(i / D));
    test_fill_normal(dy, cnt, 1.0);
    test_fill_uniform(g, D, 0.5, 1.5);
    test_fill_uniform(b, D, -0.5, 0.5);
    test_fill_uniform(dg0, D, -1, 1);
    test_fill_uniform(db0, D, -1, 1);
    test_round_to_dtype(x, cnt, dt);
    test_round_to_dtype(dy, cnt, dt);
    test_round_to_dtype(g, D, pdt);
    test_round_to_dtype(b, D, pdt);
    test_round_to_dtype(dg0, D, pdt);
    test_round_to_dtype(db0, D, pdt);
    const float eps = 1e-5f;
    int has_p = pm != P_NONE;
    hcl_tensor *tx = test_tensor_from(ctx, dt, s.rank, s.dims, x), *tdy = test_tensor_from(ctx, dt, s.rank, s.dims, dy);
    hcl_tensor *ty = test_tensor_poisoned(ctx, dt, s.rank, s.dims), *tdx = test_tensor_poisoned(ctx, dt, s.rank, s.dims);
    hcl_tensor *tsm = test_tensor_poisoned(ctx, HCL_F32, 1, rs), *tsi = test_tensor_poisoned(ctx, HCL_F32, 1, rs);
    hcl_tensor *tg = has_p ? test_tensor_from(ctx, pdt, 1, ds, g) : NULL, *tb = has_p ? test_tensor_from(ctx, pdt, 1, ds, b) : NULL;
    hcl_tensor *tdg = has_p ? test_tensor_from(ctx, pdt, 1, ds, dg0) : NULL;
    hcl_tensor *tdb = has_p ? test_tensor_from(ctx, pdt, 1, ds, db0) : NULL;
    CK_OK(ctx, hcl_layernorm_forward(ctx, ty, tsm, tsi, tx, tg, tb, eps));
    CK_OK(ctx, hcl_layernorm_backward(ctx, tdx, tdg, tdb, tdy, tx, tg, tsm, tsi));
    double *xd = to_double(x, cnt), *dyd = to_double(dy, cnt), *gd = to_double(g, D), *bd = to_double(b, D);
    double *y_ref = test_dalloc(cnt), *dx_ref = test_dalloc(cnt), *mean = test_dalloc(R), *invstd = test_dalloc(R), *dg_ref = test_dalloc(D), *db_ref = test_dalloc(D);
    ref_ln_forward(xd, R, D, has_p ? gd : NULL, has_p ? bd : NULL, eps, y_ref, mean, invstd);
    ref_ln_backward(dyd, xd, R, D, has_p ? gd : NULL, eps, dx_ref, dg_ref, db_ref);
    const char *dn = hcl_dtype_name(dt);
    float *y = test_download(ty), *sm = test_download(tsm), *sv = test_download(tsi), *dx = test_download(tdx);
    check_close(y, y_ref, cnt, test_tolerance(dt), "ln y", dn, si, pm);
    double *var = test_dalloc(R);
    for (size_t r = 0; r < R; r++) var[r] = fmax(1 / (invstd[r] * invstd[r]) - eps, 0);
    check_mean(sm, mean, var, R, 1e-5, "ln save_mean", dn, si);
    free(var);
    check_close(sv, invstd, R, 2e-5, "ln save_invstd", dn, si, pm);
    /* as for BN */
    double *scale = test_dalloc(cnt);
    for (size_t i = 0; i < cnt; i++) scale[i] = fabs((has_p ? gd[i % D] : 1) * dyd[i] * invstd[i / D]);
    check_dx(dx, dx_ref, scale, cnt, dt == HCL_F32 ? 1e-4 : test_tolerance(dt), "ln dx", dn, si);
    free(scale);
    if (has_p) {
        float *dg = test_download(tdg), *db = test_download(tdb);
        double *dg_abs = test_dalloc(D), *db_abs = test_dalloc(D);
        for (size_t d = 0; d < D; d++) {
            dg_ref[d] += dg0[d];
            db_ref[d] += db0[d];
            dg_abs[d] = fabs(dg0[d]);
            db_abs[d] = fabs(db0[d]);
        }
        for (size_t i = 0; i < cnt; i++) {
            dg_abs[i % D] += fabs(dyd[i] * (xd[i] - mean[i / D]) * invstd[i / D]);
            db_abs[i % D] += fabs(dyd[i]);
        }
        check_accumulated(dg, dg_ref, dg_abs, D, pdt == HCL_F32 ? 1e-4 : test_tolerance(pdt), "ln dgamma (accumulated)", dn, si);
        check_accumulated(db, db_ref, db_abs, D, pdt == HCL_F32 ? 1e-5 : test_tolerance(pdt), "ln dbeta (accumulated)", dn, si);
        free(dg_abs);
        free(db_abs);
        free(dg);
        free(db);
    }
    free(y); free(sm); free(sv); free(dx);
    free(xd); free(dyd); free(gd); free(bd); free(y_ref); free(dx_ref); free(mean); free(invstd); free(dg_ref); free(db_ref);
    free(x); free(dy); free(g); free(b); free(dg0); free(db0);
    hcl_tensor *ts[] = {tx, tdy, ty, tdx, tsm, tsi, tg, tb, tdg, tdb};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
}

START_TEST(ln_forward_backward) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (size_t si = 0; si < NLN; si++) ln_case(ctx, si, test_float_dtypes[d], pm_for(test_float_dtypes[d], si));
    hcl_context_free(ctx);
}
END_TEST

/* Two runs of the same forward/backward give the same bits (fixed reduction trees). */
START_TEST(deterministic_reruns) {
    hcl_context *ctx = test_context();
    int64_t shape[4] = {4, 3, 9, 11}, cs[1] = {3}, ls[2] = {36, 33}, ds[1] = {33}, rs[1] = {36};
    size_t cnt = 4 * 3 * 99;
    float *x = test_falloc(cnt), *dy = test_falloc(cnt);
    test_fill_normal(x, cnt, 1.0);
    test_fill_normal(dy, cnt, 1.0);
    uint32_t *bits[2][4];
    for (int run = 0; run < 2; run++) {
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F16, 4, shape, x), *tdy = test_tensor_from(ctx, HCL_F16, 4, shape, dy);
        hcl_tensor *ty = test_tensor_poisoned(ctx, HCL_F16, 4, shape), *tdx = test_tensor_poisoned(ctx, HCL_F16, 4, shape);
        hcl_tensor *tsm = test_tensor_poisoned(ctx, HCL_F32, 1, cs), *tsi = test_tensor_poisoned(ctx, HCL_F32, 1, cs);
        hcl_tensor *tdg = NULL, *lx = NULL, *ldy = NULL, *lsm = test_tensor_poisoned(ctx, HCL_F32, 1, rs);
        hcl_tensor *lsi = test_tensor_poisoned(ctx, HCL_F32, 1, rs), *ldg = NULL;
        CK_OK(ctx, hcl_tensor_view(tx, 0, 2, ls, &lx));
        CK_OK(ctx, hcl_tensor_view(tdy, 0, 2, ls, &ldy));
        CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, cs, &tdg));
        CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ds, &ldg));
        CK_OK(ctx, hcl_tensor_fill(tdg, 0));
        CK_OK(ctx, hcl_tensor_fill(ldg, 0));
        CK_OK(ctx, hcl_batchnorm2d_forward_train(ctx, ty, tsm, tsi, NULL, NULL, tx, NULL, NULL, 0.1f, 1e-5f));
        CK_OK(ctx, hcl_batchnorm2d_backward(ctx, tdx, tdg, NULL, tdy, tx, NULL, tsm, tsi));
        bits[run][0] = (uint32_t *)test_download(tdx);
        bits[run][1] = (uint32_t *)test_download(tdg);
        hcl_tensor *ly = NULL, *ldx = NULL;
        CK_OK(ctx, hcl_tensor_view(ty, 0, 2, ls, &ly));
        CK_OK(ctx, hcl_tensor_view(tdx, 0, 2, ls, &ldx));
        CK_OK(ctx, hcl_layernorm_forward(ctx, ly, lsm, lsi, lx, NULL, NULL, 1e-5f));
        CK_OK(ctx, hcl_layernorm_backward(ctx, ldx, ldg, NULL, ldy, lx, NULL, lsm, lsi));
        bits[run][2] = (uint32_t *)test_download(tdx);
        bits[run][3] = (uint32_t *)test_download(ldg);
        hcl_tensor *ts[] = {ly, ldx, lx, ldy, tx, tdy, ty, tdx, tsm, tsi, tdg, lsm, lsi, ldg};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    }
    size_t n[4] = {cnt, 3, cnt, 33};
    for (int k = 0; k < 4; k++) { /* F16 results widened exactly to F32: compare the bits */
        ck_assert_msg(memcmp(bits[0][k], bits[1][k], n[k] * 4) == 0, "result %d differs between runs (%s)", k, test_seed_note());
        free(bits[0][k]);
        free(bits[1][k]);
    }
    free(x);
    free(dy);
    hcl_context_free(ctx);
}
END_TEST

/* N*H*W = 1 in training: rejected as PyTorch does ("Expected more than 1 value per channel when
 * training"), since the unbiased variance for running_var would be 0/0; inference accepts it. */
START_TEST(bn_single_value_per_channel) {
    hcl_context *ctx = test_context();
    int64_t shape[4] = {1, 3, 1, 1}, cs[1] = {3};
    float x[3] = {1, 2, 3}, ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0};
    hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 4, shape, x), *ty = test_tensor_poisoned(ctx, HCL_F32, 4, shape);
    hcl_tensor *tsm = test_tensor_poisoned(ctx, HCL_F32, 1, cs), *tsi = test_tensor_poisoned(ctx, HCL_F32, 1, cs);
    hcl_tensor *trm = test_tensor_from(ctx, HCL_F32, 1, cs, zeros), *trv = test_tensor_from(ctx, HCL_F32, 1, cs, ones);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, ty, tsm, tsi, trm, trv, tx, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(hcl_last_error(ctx), "more than one value per channel"));
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, ty, tsm, tsi, NULL, NULL, tx, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_SHAPE);
    float *rv = test_download(trv);
    for (int c = 0; c < 3; c++) ck_assert(rv[c] == 1.0f); /* untouched */
    CK_OK(ctx, hcl_batchnorm2d_forward_inference(ctx, ty, tx, trm, trv, NULL, NULL, 0.0f));
    float *y = test_download(ty);
    for (int c = 0; c < 3; c++) ck_assert_msg(fabsf(y[c] - x[c]) < 1e-6f, "y[%d] = %g", c, (double)y[c]);
    free(rv);
    free(y);
    hcl_tensor *ts[] = {tx, ty, tsm, tsi, trm, trv};
    for (size_t i = 0; i < 6; i++) hcl_tensor_free(ts[i]);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context();
    int64_t s4[4] = {2, 3, 2, 2}, s3[3] = {2, 3, 4}, c3[1] = {3}, c4[1] = {4}, r6[1] = {6}, s2[2] = {6, 4};
    hcl_tensor *x = test_tensor_poisoned(ctx, HCL_F32, 4, s4), *y = test_tensor_poisoned(ctx, HCL_F16, 4, s4);
    hcl_tensor *x3 = test_tensor_poisoned(ctx, HCL_F32, 3, s3), *sm = test_tensor_poisoned(ctx, HCL_F32, 1, c3);
    hcl_tensor *si = test_tensor_poisoned(ctx, HCL_F32, 1, c3), *sm16 = test_tensor_poisoned(ctx, HCL_F16, 1, c3);
    hcl_tensor *p4 = test_tensor_poisoned(ctx, HCL_F32, 1, c4), *idx = test_tensor_poisoned(ctx, HCL_I32, 4, s4);
    hcl_tensor *lx = test_tensor_poisoned(ctx, HCL_F32, 2, s2), *ly = test_tensor_poisoned(ctx, HCL_F32, 2, s2);
    hcl_tensor *lsm = test_tensor_poisoned(ctx, HCL_F32, 1, r6), *lsi = test_tensor_poisoned(ctx, HCL_F32, 1, r6);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(NULL, y, sm, si, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, NULL, sm, si, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, NULL, si, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, x3, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, lx, sm, si, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm16, si, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, p4, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, x, p4, NULL, 0.1f, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, idx, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, x, NULL, idx, 0.1f, 1e-5f), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, sm, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, x, sm, si, NULL, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, sm, NULL, x, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, x, NULL, NULL, 2.0f, 1e-5f), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, x, NULL, NULL, 0.1f, -1.0f), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_inference(ctx, y, x, NULL, si, NULL, NULL, 1e-5f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_inference(ctx, y, x, sm, p4, NULL, NULL, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_inference(ctx, y, x, sm, si, NULL, NULL, NAN), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_batchnorm2d_backward(ctx, y, NULL, NULL, NULL, x, NULL, sm, si), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_batchnorm2d_backward(ctx, y, NULL, NULL, lx, x, NULL, sm, si), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_backward(ctx, y, p4, NULL, y, x, NULL, sm, si), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_batchnorm2d_backward(ctx, y, NULL, NULL, y, x, NULL, sm, si), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_batchnorm2d_backward(ctx, y, sm, NULL, x, x, NULL, sm, si), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_batchnorm2d_backward(ctx, y, NULL, NULL, x, x, NULL, sm16, si), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_layernorm_forward(ctx, ly, lsm, lsi, NULL, NULL, NULL, 1e-5f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_layernorm_forward(ctx, ly, sm, lsi, lx, NULL, NULL, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_layernorm_forward(ctx, ly, lsm, lsi, lx, sm, NULL, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_layernorm_forward(ctx, lx, lsm, lsi, lx, NULL, NULL, 1e-5f), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_layernorm_forward(ctx, x, lsm, lsi, lx, NULL, NULL, 1e-5f), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_layernorm_forward(ctx, ly, lsm, lsi, lx, NULL, NULL, INFINITY), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_layernorm_backward(ctx, ly, NULL, NULL, lx, lx, NULL, lsm, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_layernorm_backward(ctx, ly, sm, NULL, lx, lx, NULL, lsm, lsi), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_layernorm_backward(ctx, ly, NULL, NULL, ly, lx, NULL, lsm, lsi), HCL_ERR_ALIASING);
    hcl_context *other = test_context();
    hcl_tensor *ox = test_tensor_poisoned(other, HCL_F32, 4, s4);
    CK_STATUS(ctx, hcl_batchnorm2d_forward_train(ctx, y, sm, si, NULL, NULL, ox, NULL, NULL, 0.1f, 1e-5f), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(ox);
    hcl_context_free(other);
    hcl_tensor *ts[] = {x, y, x3, sm, si, sm16, p4, idx, lx, ly, lsm, lsi};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("norm");
    TCase *t = tcase_create("norm");
    tcase_add_test(t, bn_train_forward_backward);
    tcase_add_test(t, bn_large_mean);
    tcase_add_test(t, bn_inference);
    tcase_add_test(t, backward_vs_finite_differences);
    tcase_add_test(t, ln_forward_backward);
    tcase_add_test(t, deterministic_reruns);
    tcase_add_test(t, bn_single_value_per_channel);
    tcase_add_test(t, bad_inputs);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
