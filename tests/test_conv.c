/* 2-D convolution: forward, backward-data and backward-weight against an FP64 direct reference
 * (and the reference's backward against central finite differences), in F32/F16/BF16 and mixed
 * dtypes, over shapes that take every path (direct small-patch, direct depthwise, pointwise GEMM,
 * im2col + GEMM, chunked over images) with stride, padding, dilation, groups and bias; dw/dbias
 * accumulation into pre-filled gradients, determinism, and bad arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* Internal (src/ops/conv.c), for tests: bytes of columns per chunk of images (0 = default), and
 * direct convs with the generic kernels only (1) instead of the geometry-specialised ones. */
void hcl_conv_set_workspace_limit_for_tests(size_t bytes);
void hcl_conv_set_generic_for_tests(int on);

typedef struct conv_case {
    const char *name;
    int n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, g, bias;
} conv_case;

/* Paths (see conv.c): direct when C/G*R*S <= 32 or depthwise; pointwise GEMM for 1x1 stride 1
 * pad 0; im2col + GEMM otherwise. Direct convs use the geometry-specialised kernels (forward when
 * C/G*R*S <= 64, backward data when K/G*R*S <= 576, backward weight when R*S <= 16), else the
 * generic ones: "1->80" takes the generic backward data, "depthwise 9x9" the generic forward and
 * backward weight, "depthwise 7x7" the generic backward weight. */
static const conv_case cases[] = {
    /*  name                  n  c  h  w  k  r  s sh sw ph pw dh dw  g bias */
    {"tiny 1ch direct",       1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0},
    {"first layer direct",    2, 1, 7, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"rgb direct",            2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"direct s2 p2 d2",       2, 2, 9, 9, 3, 3, 3, 2, 2, 2, 2, 2, 2, 1, 0},
    {"im2col s2 p1",          3, 5, 9, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"im2col dilation 2",     1, 4, 9, 8, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1, 0},
    {"im2col 1x1 out",        1, 5, 3, 3, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},
    {"im2col rect",           2, 7, 6, 9, 3, 2, 3, 1, 2, 1, 0, 1, 2, 1, 1},
    {"groups 2 direct",       2, 6, 7, 5, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
    {"groups 2 im2col",       2, 8, 6, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
    {"groups 2 im2col n1",    1, 8, 5, 5, 4, 3, 3, 2, 2, 0, 0, 1, 1, 2, 0},
    {"depthwise K=C",         2, 5, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1},
    {"depthwise K=2C s2",     2, 3, 9, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3, 0},
    {"depthwise 7x7",         1, 2, 9, 9, 2, 7, 7, 1, 1, 3, 3, 1, 1, 2, 1},
    {"pointwise",             2, 40, 5, 3, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"pointwise groups 2",    2, 66, 3, 3, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0},
    {"pointwise groups 2 n1", 1, 66, 3, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 1},
    {"1x1 stride 2 im2col",   2, 33, 7, 7, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
    /* specialised direct kernels: rows of 17 and 18 outputs (a full and a partial vector of
     * 16), forward channel blocks with a short last block, odd backward-weight channel blocks,
     * dilation at stride 1, rectangular filters with unequal strides and pads */
    {"first layer 1->32 n7",  7, 1, 20, 19, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1->80 blocks",          1, 1, 6, 5, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"direct d2 p1",          1, 2, 9, 8, 3, 3, 3, 1, 1, 1, 1, 2, 2, 1, 1},
    {"direct rect s2x1",      2, 2, 7, 9, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 1},
    {"groups 3 k5",           1, 6, 5, 6, 15, 2, 2, 1, 1, 0, 1, 1, 1, 3, 0},
    {"depthwise 9x9",         1, 2, 10, 10, 2, 9, 9, 1, 1, 4, 4, 1, 1, 2, 1},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static int out_p(const conv_case *cs) { return (int)hcl_conv2d_out_size(cs->h, cs->r, cs->sh, cs->ph, cs->dh); }
static int out_q(const conv_case *cs) { return (int)hcl_conv2d_out_size(cs->w, cs->s, cs->sw, cs->pw, cs->dw); }

/* ---- FP64 direct references ---- */
/* y (N,K,P,Q) = sum over c in group, r, s of x (N,C,H,W) w (K,C/G,R,S) + b (K) (b may be NULL). */
static void ref_fwd(const conv_case *cs, const double *x, const double *w, const double *b, double *y) {
    int P = out_p(cs), Q = out_q(cs), cpg = cs->c / cs->g, kpg = cs->k / cs->g;
    for (int n = 0; n < cs->n; n++)
        for (int k = 0; k < cs->k; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double acc = b ? b[k] : 0.0;
                    int g = k / kpg;
                    for (int c = 0; c < cpg; c++)
                        for (int r = 0; r < cs->r; r++)
                            for (int s = 0; s < cs->s; s++) {
                                int h = p * cs->sh - cs->ph + r * cs->dh, ww = q * cs->sw - cs->pw + s * cs->dw;
                                if (h < 0 || h >= cs->h || ww < 0 || ww >= cs->w) continue;
                                acc += x[(((size_t)n * cs->c + g * cpg + c) * cs->h + h) * cs->w + ww] *
                                       w[(((size_t)k * cpg + c) * cs->r + r) * cs->s + s];
                            }
                    y[(((size_t)n * cs->k + k) * P + p) * Q + q] = acc;
                }
}

/* Analytic backward of sum(y * dy): dx (overwritten), dw and db (added to). */
static void ref_bwd(const conv_case *cs, const double *x, const double *w, const double *dy, double *dx, double *dw,
                    double *db) {
    int P = out_p(cs), Q = out_q(cs), cpg = cs->c / cs->g, kpg = cs->k / cs->g;
    if (dx) memset(dx, 0, (size_t)cs->n * cs->c * cs->h * cs->w * sizeof *dx);
    for (int n = 0; n < cs->n; n++)
        for (int k = 0; k < cs->k; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double g_ = dy[(((size_t)n * cs->k + k) * P + p) * Q + q];
                    if (db) db[k] += g_;
                    int g = k / kpg;
                    for (int c = 0; c < cpg; c++)
                        for (int r = 0; r < cs->r; r++)
                            for (int s = 0; s < cs->s; s++) {
                                int h = p * cs->sh - cs->ph + r * cs->dh, ww = q * cs->sw - cs->pw + s * cs->dw;
                                if (h < 0 || h >= cs->h || ww < 0 || ww >= cs->w) continue;
                                size_t xi = (((size_t)n * cs->c + g * cpg + c) * cs->h + h) * cs->w + ww;
                                size_t wi = (((size_t)k * cpg + c) * cs->r + r) * cs->s + s;
                                if (dx) dx[xi] += g_ * w[wi];
                                if (dw) dw[wi] += g_ * x[xi];
                            }
                }
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static float *alloc_f(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Uniform random values rounded to the dtype. */
static float *rand_f(size_t n, double lo, double hi, hcl_dtype dt) {
    float *p = alloc_f(n);
    test_fill_uniform(p, n, lo, hi);
    test_round_to_dtype(p, n, dt);
    return p;
}

typedef struct conv_dts { hcl_dtype x, w, y, b; } conv_dts;

static void desc_of(const conv_case *cs, hcl_conv2d_desc *d) {
    hcl_conv2d_desc_init(d);
    d->stride_h = cs->sh; d->stride_w = cs->sw;
    d->pad_h = cs->ph; d->pad_w = cs->pw;
    d->dilation_h = cs->dh; d->dilation_w = cs->dw;
    d->groups = cs->g;
}

static void expect_close(const char *what, const conv_case *cs, const conv_dts *dt, const float *got, const double *ref,
                         size_t n, hcl_dtype out_dt) {
    double err = test_rel_err(got, ref, n), tol = test_tolerance(out_dt);
    ck_assert_msg(err <= tol, "%s [%s] x=%s w=%s y=%s: rel err %g > %g (%s)", what, cs->name, hcl_dtype_name(dt->x),
                  hcl_dtype_name(dt->w), hcl_dtype_name(dt->y), err, tol, test_seed_note());
}

/* Forward, backward-data and backward-weight of one case against the FP64 reference. Outputs
 * are poisoned; dw and dbias are pre-filled with random values and must come back as
 * prefill + gradient. */
static void check_case(hcl_context *ctx, const conv_case *cs, conv_dts dt) {
    int P = out_p(cs), Q = out_q(cs), cpg = cs->c / cs->g;
    size_t nx = (size_t)cs->n * cs->c * cs->h * cs->w, nw = (size_t)cs->k * cpg * cs->r * cs->s;
    size_t ny = (size_t)cs->n * cs->k * P * Q, nb = (size_t)cs->k;
    int64_t xs[4] = {cs->n, cs->c, cs->h, cs->w}, ws[4] = {cs->k, cpg, cs->r, cs->s}, ys[4] = {cs->n, cs->k, P, Q};
    int64_t bs[1] = {cs->k};
    double wscale = 1.0 / sqrt((double)cpg * cs->r * cs->s);
    float *x = rand_f(nx, -1, 1, dt.x), *w = rand_f(nw, -wscale, wscale, dt.w), *b = rand_f(nb, -0.5, 0.5, dt.b);
    float *dy = rand_f(ny, -1, 1, dt.y), *dw0 = rand_f(nw, -1, 1, dt.w), *db0 = rand_f(nb, -1, 1, dt.b);
    double *xd = to_double(x, nx), *wd = to_double(w, nw), *bd = to_double(b, nb), *dyd = to_double(dy, ny);
    double *yref = malloc(ny * sizeof *yref), *dxref = malloc(nx * sizeof *dxref);
    double *dwref = to_double(dw0, nw), *dbref = to_double(db0, nb);
    ck_assert(yref && dxref);
    ref_fwd(cs, xd, wd, cs->bias ? bd : NULL, yref);
    ref_bwd(cs, xd, wd, dyd, dxref, dwref, dbref);

    hcl_conv2d_desc d;
    desc_of(cs, &d);
    hcl_tensor *tx = test_tensor_from(ctx, dt.x, 4, xs, x), *tw = test_tensor_from(ctx, dt.w, 4, ws, w);
    hcl_tensor *tb = cs->bias ? test_tensor_from(ctx, dt.b, 1, bs, b) : NULL;
    hcl_tensor *ty = test_tensor_poisoned(ctx, dt.y, 4, ys);
    CK_OK(ctx, hcl_conv2d_forward(ctx, ty, tx, tw, tb, &d));
    float *y = test_download(ty);
    expect_close("forward", cs, &dt, y, yref, ny, dt.y);

    hcl_tensor *tdy = test_tensor_from(ctx, dt.y, 4, ys, dy), *tdx = test_tensor_poisoned(ctx, dt.x, 4, xs);
    CK_OK(ctx, hcl_conv2d_backward_data(ctx, tdx, tdy, tw, &d));
    float *dx = test_download(tdx);
    expect_close("backward_data", cs, &dt, dx, dxref, nx, dt.x);

    hcl_tensor *tdw = test_tensor_from(ctx, dt.w, 4, ws, dw0);
    hcl_tensor *tdb = cs->bias ? test_tensor_from(ctx, dt.b, 1, bs, db0) : NULL;
    CK_OK(ctx, hcl_conv2d_backward_weight(ctx, tdw, tdb, tdy, tx, &d));
    float *dw = test_download(tdw);
    expect_close("backward_weight dw", cs, &dt, dw, dwref, nw, dt.w);
    if (tdb) {
        float *db = test_download(tdb);
        expect_close("backward_weight dbias", cs, &dt, db, dbref, nb, dt.b);
        free(db);
    }
    hcl_tensor_free(tx); hcl_tensor_free(tw); hcl_tensor_free(tb); hcl_tensor_free(ty);
    hcl_tensor_free(tdy); hcl_tensor_free(tdx); hcl_tensor_free(tdw); hcl_tensor_free(tdb);
    free(x); free(w); free(b); free(dy); free(dw0); free(db0); free(xd); free(wd); free(bd); free(dyd);
    free(yref); free(dxref); free(dwref); free(dbref); free(y); free(dx); free(dw);
}

/* HALFCL_TEST_SMALL=1 (the oclgrind run): at most 2 images per case. */
static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0");
}

/* Whether case `ci` in dtype `di` runs the specialised direct kernels (where its geometry allows)
 * or the generic ones. Every specialised geometry builds its own program (about 10 s on PoCL,
 * more on rusticl), so the suite specialises each general direct case once (F16) and the cases
 * written for the specialised kernels (from "first layer 1->32 n7" on) in all dtypes; small runs
 * (rusticl, oclgrind) keep F16 only. The generic kernels cover the rest. */
#define FIRST_SPEC_CASE 18
static int specialise(int ci, int di) {
    if (di == 1) return 1;
    return ci >= FIRST_SPEC_CASE && !small_run();
}

START_TEST(conv_cases) {
    hcl_context *ctx = test_context();
    conv_case cs = cases[_i];
    if (small_run() && cs.n > 2) cs.n = 2;
    for (int i = 0; i < 3; i++) {
        hcl_dtype t = test_float_dtypes[i];
        hcl_conv_set_generic_for_tests(!specialise(_i, i));
        check_case(ctx, &cs, (conv_dts){t, t, t, t});
    }
    hcl_conv_set_generic_for_tests(0);
    hcl_context_free(ctx);
}
END_TEST

/* Mixed storage dtypes on each path. */
START_TEST(conv_mixed_dtypes) {
    hcl_context *ctx = test_context();
    static const int pick[] = {1, 4, 11, 14};
    for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
        check_case(ctx, &cases[pick[i]], (conv_dts){HCL_F16, HCL_F32, HCL_BF16, HCL_F16});
        check_case(ctx, &cases[pick[i]], (conv_dts){HCL_BF16, HCL_F16, HCL_F32, HCL_F32});
    }
    hcl_context_free(ctx);
}
END_TEST

/* Chunked over images: the column workspace limit is lowered so that every chunk holds one or
 * two images (F32 dw accumulates in place, F16/BF16 through the F32 accumulator). */
START_TEST(conv_chunked) {
    hcl_context *ctx = test_context();
    static const int pick[] = {4, 9, 14, 15, 17};
    for (int limit = 1; limit <= 2; limit++) {
        for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
            const conv_case *cs = &cases[pick[i]];
            size_t per_image = (size_t)cs->c * cs->r * cs->s * out_p(cs) * out_q(cs) * 4;
            hcl_conv_set_workspace_limit_for_tests(limit == 1 ? 1 : 2 * per_image + 8);
            for (int t = 0; t < 3; t++) {
                hcl_dtype d = test_float_dtypes[t];
                check_case(ctx, cs, (conv_dts){d, d, d, d});
            }
        }
    }
    hcl_conv_set_workspace_limit_for_tests(0);
    hcl_context_free(ctx);
}
END_TEST

/* The generic direct kernels (the fallback of the specialised ones) on the direct cases. */
START_TEST(conv_generic_direct) {
    hcl_context *ctx = test_context();
    static const int pick[] = {0, 1, 2, 3, 8, 11, 12, 13, 18, 21};
    hcl_conv_set_generic_for_tests(1);
    for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++)
        for (int t = 0; t < 3; t++) {
            hcl_dtype d = test_float_dtypes[t];
            check_case(ctx, &cases[pick[i]], (conv_dts){d, d, d, d});
        }
    hcl_conv_set_generic_for_tests(0);
    hcl_context_free(ctx);
}
END_TEST

/* ---- the FP64 reference's backward against central finite differences of its forward ---- */
typedef struct fd_user {
    const conv_case *cs;
    const double *dy;
    size_t nx, nw, nb, ny;
    double *y;
} fd_user;

/* v = [x | w | b]; returns sum(y * dy). */
static double fd_loss(const double *v, void *user) {
    fd_user *u = user;
    ref_fwd(u->cs, v, v + u->nx, u->cs->bias ? v + u->nx + u->nw : NULL, u->y);
    double s = 0;
    for (size_t i = 0; i < u->ny; i++) s += u->y[i] * u->dy[i];
    return s;
}

static double max_rel_diff(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(a[i] - b[i]));
        den = fmax(den, fabs(b[i]));
    }
    return den > 0 ? num / den : num;
}

/* Tiny cases of every path: the analytic FP64 backward matches finite differences, and the
 * device backward (F32) matches them too. */
START_TEST(conv_numeric_grad) {
    static const conv_case small[] = {
        {"fd direct", 2, 1, 5, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {"fd im2col s2 d2", 1, 4, 6, 5, 2, 3, 3, 2, 1, 1, 2, 2, 1, 1, 1},
        {"fd groups", 1, 10, 4, 3, 4, 2, 2, 1, 1, 1, 0, 1, 1, 2, 0},
        {"fd depthwise", 2, 2, 5, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2, 1},
        {"fd pointwise", 1, 33, 2, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    };
    hcl_context *ctx = test_context();
    for (size_t ci = 0; ci < sizeof small / sizeof small[0]; ci++) {
        const conv_case *cs = &small[ci];
        int P = out_p(cs), Q = out_q(cs), cpg = cs->c / cs->g;
        size_t nx = (size_t)cs->n * cs->c * cs->h * cs->w, nw = (size_t)cs->k * cpg * cs->r * cs->s;
        size_t nb = cs->bias ? (size_t)cs->k : 0, ny = (size_t)cs->n * cs->k * P * Q, nv = nx + nw + nb;
        ck_assert_msg(nv <= 400, "%s: %zu finite-difference inputs", cs->name, nv);
        float *vf = rand_f(nv, -1, 1, HCL_F32), *dyf = rand_f(ny, -1, 1, HCL_F32);
        double *v = to_double(vf, nv), *dy = to_double(dyf, ny), *num = malloc(nv * sizeof *num);
        double *ana = calloc(nv, sizeof *ana);
        fd_user u = {cs, dy, nx, nw, nb, ny, malloc(ny * sizeof(double))};
        ck_assert(num && ana && u.y);
        test_numeric_grad(fd_loss, &u, v, nv, 1e-3, num);
        ref_bwd(cs, v, v + nx, dy, ana, ana + nx, nb ? ana + nx + nw : NULL);
        double e = max_rel_diff(ana, num, nv);
        ck_assert_msg(e < 1e-8, "%s: analytic vs finite differences %g (%s)", cs->name, e, test_seed_note());

        hcl_conv2d_desc d;
        desc_of(cs, &d);
        int64_t xs[4] = {cs->n, cs->c, cs->h, cs->w}, ws[4] = {cs->k, cpg, cs->r, cs->s}, ys[4] = {cs->n, cs->k, P, Q};
        int64_t bs[1] = {cs->k};
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 4, xs, vf), *tw = test_tensor_from(ctx, HCL_F32, 4, ws, vf + nx);
        hcl_tensor *tdy = test_tensor_from(ctx, HCL_F32, 4, ys, dyf), *tdx = test_tensor_poisoned(ctx, HCL_F32, 4, xs);
        hcl_tensor *tdw = NULL, *tdb = NULL;
        CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 4, ws, &tdw));
        CK_OK(ctx, hcl_tensor_fill(tdw, 0.0));
        if (nb) {
            CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, bs, &tdb));
            CK_OK(ctx, hcl_tensor_fill(tdb, 0.0));
        }
        CK_OK(ctx, hcl_conv2d_backward_data(ctx, tdx, tdy, tw, &d));
        CK_OK(ctx, hcl_conv2d_backward_weight(ctx, tdw, tdb, tdy, tx, &d));
        float *dx = test_download(tdx), *dw = test_download(tdw), *db = tdb ? test_download(tdb) : NULL;
        double edx = test_rel_err(dx, num, nx), edw = test_rel_err(dw, num + nx, nw);
        double edb = db ? test_rel_err(db, num + nx + nw, nb) : 0;
        ck_assert_msg(edx < 1e-5 && edw < 1e-5 && edb < 1e-5, "%s: device vs finite differences dx %g dw %g db %g (%s)",
                      cs->name, edx, edw, edb, test_seed_note());
        hcl_tensor_free(tx); hcl_tensor_free(tw); hcl_tensor_free(tdy); hcl_tensor_free(tdx);
        hcl_tensor_free(tdw); hcl_tensor_free(tdb);
        free(vf); free(dyf); free(v); free(dy); free(num); free(ana); free(u.y); free(dx); free(dw); free(db);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Two runs give the same bits (fixed reduction order) on the direct and GEMM paths. */
START_TEST(conv_deterministic) {
    hcl_context *ctx = test_context();
    static const int pick[] = {1, 4, 12};
    for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
        const conv_case *cs = &cases[pick[i]];
        int P = out_p(cs), Q = out_q(cs), cpg = cs->c / cs->g;
        size_t nx = (size_t)cs->n * cs->c * cs->h * cs->w, ny = (size_t)cs->n * cs->k * P * Q;
        size_t nw = (size_t)cs->k * cpg * cs->r * cs->s;
        int64_t xs[4] = {cs->n, cs->c, cs->h, cs->w}, ws[4] = {cs->k, cpg, cs->r, cs->s}, ys[4] = {cs->n, cs->k, P, Q};
        int64_t bs[1] = {cs->k};
        float *x = rand_f(nx, -1, 1, HCL_F16), *dy = rand_f(ny, -1, 1, HCL_F16), *w = rand_f(nw, -1, 1, HCL_F16);
        hcl_conv2d_desc d;
        desc_of(cs, &d);
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F16, 4, xs, x), *tdy = test_tensor_from(ctx, HCL_F16, 4, ys, dy);
        hcl_tensor *tw = test_tensor_from(ctx, HCL_F16, 4, ws, w);
        uint16_t *bits[2][3];
        for (int run = 0; run < 2; run++) {
            hcl_tensor *tdw = test_tensor_poisoned(ctx, HCL_F16, 4, ws), *tdb = test_tensor_poisoned(ctx, HCL_F16, 1, bs);
            hcl_tensor *tdx = test_tensor_poisoned(ctx, HCL_F16, 4, xs);
            CK_OK(ctx, hcl_tensor_fill(tdw, 0.0));
            CK_OK(ctx, hcl_tensor_fill(tdb, 0.0));
            CK_OK(ctx, hcl_conv2d_backward_weight(ctx, tdw, tdb, tdy, tx, &d));
            CK_OK(ctx, hcl_conv2d_backward_data(ctx, tdx, tdy, tw, &d));
            hcl_tensor *ts[3] = {tdw, tdb, tdx};
            for (int t = 0; t < 3; t++) {
                bits[run][t] = malloc(hcl_tensor_bytes(ts[t]));
                ck_assert_ptr_nonnull(bits[run][t]);
                CK_OK(ctx, hcl_tensor_download_raw(ts[t], bits[run][t], hcl_tensor_bytes(ts[t])));
            }
            size_t bytes[3] = {hcl_tensor_bytes(tdw), hcl_tensor_bytes(tdb), hcl_tensor_bytes(tdx)};
            if (run == 1)
                for (int t = 0; t < 3; t++)
                    ck_assert_msg(!memcmp(bits[0][t], bits[1][t], bytes[t]), "%s: output %d differs between runs", cs->name, t);
            hcl_tensor_free(tdw); hcl_tensor_free(tdb); hcl_tensor_free(tdx);
        }
        for (int run = 0; run < 2; run++)
            for (int t = 0; t < 3; t++) free(bits[run][t]);
        hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(tw);
        free(x); free(dy); free(w);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Inputs at an element offset inside larger buffers (views). */
START_TEST(conv_views) {
    hcl_context *ctx = test_context();
    const conv_case *cs = &cases[4];
    int P = out_p(cs), Q = out_q(cs);
    size_t nx = (size_t)cs->n * cs->c * cs->h * cs->w, nw = (size_t)cs->k * cs->c * cs->r * cs->s;
    size_t ny = (size_t)cs->n * cs->k * P * Q;
    int64_t xs[4] = {cs->n, cs->c, cs->h, cs->w}, ws[4] = {cs->k, cs->c, cs->r, cs->s}, ys[4] = {cs->n, cs->k, P, Q};
    int64_t big[1] = {(int64_t)(nx + nw + ny + 30)};
    float *x = rand_f(nx, -1, 1, HCL_F32), *w = rand_f(nw, -1, 1, HCL_F32);
    double *xd = to_double(x, nx), *wd = to_double(w, nw), *yref = malloc(ny * sizeof *yref);
    ck_assert_ptr_nonnull(yref);
    ref_fwd(cs, xd, wd, NULL, yref);
    hcl_tensor *base = test_tensor_poisoned(ctx, HCL_F32, 1, big), *vx, *vw, *vy;
    CK_OK(ctx, hcl_tensor_view(base, 3, 4, xs, &vx));
    CK_OK(ctx, hcl_tensor_view(base, 3 + nx + 5, 4, ws, &vw));
    CK_OK(ctx, hcl_tensor_view(base, 3 + nx + 5 + nw + 7, 4, ys, &vy));
    CK_OK(ctx, hcl_tensor_upload_f32(vx, x, nx));
    CK_OK(ctx, hcl_tensor_upload_f32(vw, w, nw));
    hcl_conv2d_desc d;
    desc_of(cs, &d);
    CK_OK(ctx, hcl_conv2d_forward(ctx, vy, vx, vw, NULL, &d));
    float *y = test_download(vy);
    double err = test_rel_err(y, yref, ny);
    ck_assert_msg(err <= 1e-5, "view forward rel err %g (%s)", err, test_seed_note());
    hcl_tensor_free(vx); hcl_tensor_free(vw); hcl_tensor_free(vy); hcl_tensor_free(base);
    free(x); free(w); free(xd); free(wd); free(yref); free(y);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(conv_out_size) {
    ck_assert_int_eq(hcl_conv2d_out_size(5, 3, 1, 0, 1), 3);
    ck_assert_int_eq(hcl_conv2d_out_size(28, 3, 1, 1, 1), 28);
    ck_assert_int_eq(hcl_conv2d_out_size(28, 3, 1, 0, 1), 26);
    ck_assert_int_eq(hcl_conv2d_out_size(7, 3, 2, 1, 1), 4);
    ck_assert_int_eq(hcl_conv2d_out_size(9, 3, 1, 2, 2), 9);
    ck_assert_int_eq(hcl_conv2d_out_size(8, 2, 2, 0, 1), 4);
    ck_assert_int_eq(hcl_conv2d_out_size(2, 3, 1, 0, 1), 0);
    ck_assert_int_eq(hcl_conv2d_out_size(1, 3, 2, 0, 1), 0); /* negative numerator: not 1 */
    ck_assert_int_eq(hcl_conv2d_out_size(5, 3, 0, 0, 1), 0);
    ck_assert_int_eq(hcl_conv2d_out_size(5, 3, 1, -1, 1), 0);
    ck_assert_int_eq(hcl_conv2d_out_size(5, 3, 1, 0, 0), 0);
    hcl_conv2d_desc d;
    hcl_conv2d_desc_init(&d);
    ck_assert(d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 && d.pad_w == 0 && d.dilation_h == 1 &&
              d.dilation_w == 1 && d.groups == 1);
    hcl_conv2d_desc_init(NULL);
}
END_TEST

static hcl_tensor *mk(hcl_context *ctx, hcl_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, dt, 4, s, &t));
    return t;
}

START_TEST(conv_bad_args) {
    hcl_context *ctx = test_context();
    hcl_conv2d_desc d;
    hcl_conv2d_desc_init(&d);
    d.pad_h = d.pad_w = 1;
    hcl_tensor *x = mk(ctx, HCL_F32, 2, 4, 5, 5), *w = mk(ctx, HCL_F32, 6, 4, 3, 3), *y = mk(ctx, HCL_F32, 2, 6, 5, 5);
    hcl_tensor *bias = NULL, *bad_bias = NULL, *xi = mk(ctx, HCL_I32, 2, 4, 5, 5);
    int64_t ks[1] = {6}, k5[1] = {5}, r3[3] = {2, 4, 25};
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ks, &bias));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, k5, &bad_bias));
    /* defined inputs for the calls that run (oclgrind checks uninitialised reads) */
    CK_OK(ctx, hcl_tensor_fill(x, 1.0));
    CK_OK(ctx, hcl_tensor_fill(w, 0.5));
    CK_OK(ctx, hcl_tensor_fill(bias, 0.25));
    CK_OK(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, &d));
    CK_STATUS(ctx, hcl_conv2d_forward(NULL, y, x, w, bias, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, NULL, w, bias, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, NULL, x, w, bias, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_conv2d_backward_data(ctx, x, y, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_conv2d_backward_weight(ctx, NULL, bias, y, x, &d), HCL_ERR_NULL_POINTER);
    /* dtype */
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, xi, w, bias, &d), HCL_ERR_DTYPE);
    /* rank */
    hcl_tensor *x3 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 3, r3, &x3));
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x3, w, bias, &d), HCL_ERR_SHAPE);
    /* channel mismatch: w has 3 input channels, x has 4 */
    hcl_tensor *w3 = mk(ctx, HCL_F32, 6, 3, 3, 3);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w3, bias, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_backward_data(ctx, x, y, w3, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_backward_weight(ctx, w3, bias, y, x, &d), HCL_ERR_SHAPE);
    /* groups not dividing C (4 % 3) or K (6 % 4) */
    d.groups = 3;
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, &d), HCL_ERR_SHAPE);
    d.groups = 4;
    hcl_tensor *w1 = mk(ctx, HCL_F32, 6, 1, 3, 3);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w1, bias, &d), HCL_ERR_SHAPE);
    d.groups = 0;
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, &d), HCL_ERR_INVALID_ARGUMENT);
    d.groups = 1;
    d.stride_h = 0;
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, &d), HCL_ERR_INVALID_ARGUMENT);
    d.stride_h = 1;
    d.dilation_w = 0;
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, &d), HCL_ERR_INVALID_ARGUMENT);
    d.dilation_w = 1;
    d.pad_w = -1;
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bias, &d), HCL_ERR_INVALID_ARGUMENT);
    d.pad_w = 1;
    /* output shape wrong (P, K, N) */
    hcl_tensor *y4 = mk(ctx, HCL_F32, 2, 6, 4, 5), *yk = mk(ctx, HCL_F32, 2, 5, 5, 5), *yn = mk(ctx, HCL_F32, 1, 6, 5, 5);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y4, x, w, bias, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, yk, x, w, bias, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, yn, x, w, bias, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_backward_data(ctx, x, y4, w, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_backward_weight(ctx, w, bias, y4, x, &d), HCL_ERR_SHAPE);
    /* bias of the wrong length */
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, bad_bias, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_backward_weight(ctx, w, bad_bias, y, x, &d), HCL_ERR_SHAPE);
    /* zero-size output: 5x5 input, 7x7 kernel, pad 0 */
    hcl_tensor *w7 = mk(ctx, HCL_F32, 6, 4, 7, 7);
    d.pad_h = d.pad_w = 0;
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w7, NULL, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_conv2d_backward_data(ctx, x, y, w7, &d), HCL_ERR_SHAPE);
    d.pad_h = d.pad_w = 1;
    /* aliasing: y overlapping x, dx overlapping dy, dw overlapping x */
    int64_t big[1] = {2 * 4 * 25 + 2 * 6 * 25};
    hcl_tensor *base = NULL, *vx = NULL, *vy = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, big, &base));
    int64_t xs[4] = {2, 4, 5, 5}, ys[4] = {2, 6, 5, 5};
    CK_OK(ctx, hcl_tensor_view(base, 0, 4, xs, &vx));
    CK_OK(ctx, hcl_tensor_view(base, 50, 4, ys, &vy));
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, vy, vx, w, NULL, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_conv2d_backward_data(ctx, vx, vy, w, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x, w, NULL, &d), HCL_OK);
    hcl_tensor *vw = NULL;
    int64_t wsz[4] = {6, 4, 3, 3};
    CK_OK(ctx, hcl_tensor_view(base, 10, 4, wsz, &vw));
    CK_STATUS(ctx, hcl_conv2d_backward_weight(ctx, vw, NULL, y, vx, &d), HCL_ERR_ALIASING);
    /* another context */
    hcl_context *ctx2 = test_context();
    hcl_tensor *x2 = mk(ctx2, HCL_F32, 2, 4, 5, 5);
    CK_STATUS(ctx, hcl_conv2d_forward(ctx, y, x2, w, NULL, &d), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(x2);
    hcl_context_free(ctx2);
    hcl_tensor *ts[] = {x, w, y, bias, bad_bias, xi, x3, w3, w1, y4, yk, yn, w7, vx, vy, vw, base};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, conv_out_size);
    tcase_add_loop_test(tc, conv_cases, 0, N_CASES);
    tcase_add_test(tc, conv_mixed_dtypes);
    tcase_add_test(tc, conv_chunked);
    tcase_add_test(tc, conv_generic_direct);
    tcase_add_test(tc, conv_numeric_grad);
    tcase_add_test(tc, conv_deterministic);
    tcase_add_test(tc, conv_views);
    tcase_add_test(tc, conv_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
