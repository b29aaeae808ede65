/* 2-D pooling: max (values and I32 / U8 argmax exactly, first maximum on ties, NaN), average (both
 * count_include_pad modes) and global average, forward and backward, against FP64 references
 * (the backward also against central finite differences) in F32/F16/BF16 and mixed dtypes, on
 * odd shapes with overlapping windows and padding; determinism and bad arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

typedef struct pool_case {
    const char *name;
    int n, c, h, w, kh, kw, sh, sw, ph, pw, cip;
} pool_case;

static const pool_case cases[] = {
    /* name                     n  c  h  w kh kw sh sw ph pw cip */
    {"2x2 s2 odd",              2, 3, 7, 9, 2, 2, 2, 2, 0, 0, 1},
    {"3x3 s2 p1 overlap",       2, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1},
    {"3x3 s2 p1 exclude pad",   1, 3, 7, 7, 3, 3, 2, 2, 1, 1, 0},
    {"3x3 s1 overlap",          1, 2, 5, 7, 3, 3, 1, 1, 0, 0, 1},
    {"2x2 s1 p1 exclude pad",   2, 1, 6, 5, 2, 2, 1, 1, 1, 1, 0},
    {"1x1",                     1, 7, 3, 3, 1, 1, 1, 1, 0, 0, 1},
    {"rect 3x2 s1x2 p1",        1, 2, 8, 9, 3, 2, 1, 2, 1, 1, 0},
    {"window = image",          3, 2, 5, 5, 5, 5, 1, 1, 0, 0, 1},
    {"big stride disjoint",     1, 1, 27, 7, 2, 3, 5, 3, 1, 1, 1},
    /* fixed-window kernels: paired stores (even W), rows after the last block, Q > 16 (two lane
     * groups per row), stride > kernel with padding, and a tensor too small for them (generic) */
    {"2x2 s2 even W odd H",     2, 3, 9, 10, 2, 2, 2, 2, 0, 0, 1},
    {"2x2 s2 Q 19",             1, 3, 5, 38, 2, 2, 2, 2, 0, 0, 1},
    {"2x1 s2 even W",           3, 1, 7, 34, 2, 1, 2, 2, 0, 0, 1},
    {"2x2 s3 p1 exclude pad",   2, 2, 11, 10, 2, 2, 3, 3, 1, 1, 0},
    {"3x3 s3 rows after",       1, 33, 8, 7, 3, 3, 3, 3, 0, 0, 1},
    {"3x3 s2 even W",           2, 2, 9, 12, 3, 3, 2, 2, 0, 0, 1},
    {"2x2 s2 tiny",             1, 1, 2, 4, 2, 2, 2, 2, 0, 0, 1},
    /* the largest window a U8 argmax holds: offsets up to 255 */
    {"16x16 s1 overlap",        1, 2, 17, 18, 16, 16, 1, 1, 0, 0, 1},
    {"16x16 s3 p8 exclude pad", 1, 1, 19, 17, 16, 16, 3, 3, 8, 8, 0},
};
/* argmax storage: I32 flat indices and U8 window offsets */
static const hcl_dtype am_dtypes[2] = {HCL_I32, HCL_U8};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static int out_p(const pool_case *pc) { return (int)hcl_conv2d_out_size(pc->h, pc->kh, pc->sh, pc->ph, 1); }
static int out_q(const pool_case *pc) { return (int)hcl_conv2d_out_size(pc->w, pc->kw, pc->sw, pc->pw, 1); }

static void desc_of(const pool_case *pc, hcl_pool2d_desc *d) {
    hcl_pool2d_desc_init(d, pc->kh, pc->sh);
    d->kernel_w = pc->kw;
    d->stride_w = pc->sw;
    d->pad_h = pc->ph;
    d->pad_w = pc->pw;
    d->count_include_pad = pc->cip;
}

/* ---- FP64 references ---- */
/* Max over the cells inside x, first maximum in row-major order; NaN wins, first NaN kept. */
static void ref_max(const pool_case *pc, const double *x, double *y, int *am) {
    int P = out_p(pc), Q = out_q(pc);
    for (int i = 0; i < pc->n * pc->c; i++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double best = -INFINITY;
                int idx = -1;
                for (int h = p * pc->sh - pc->ph; h < p * pc->sh - pc->ph + pc->kh; h++)
                    for (int w = q * pc->sw - pc->pw; w < q * pc->sw - pc->pw + pc->kw; w++) {
                        if (h < 0 || h >= pc->h || w < 0 || w >= pc->w) continue;
                        double v = x[(size_t)i * pc->h * pc->w + (size_t)h * pc->w + w];
                        if (idx < 0 || (!isnan(best) && (v > best || isnan(v)))) { best = v; idx = h * pc->w + w; }
                    }
                size_t o = ((size_t)i * P + p) * Q + q;
                y[o] = best;
                am[o] = idx;
            }
}

/* The stored argmax of output o (its window at p, q) whose winner has the flat index `flat`: I32
 * keeps the flat index, U8 the winner's offset inside the window. */
static int am_stored(const pool_case *pc, hcl_dtype amd, size_t o, int flat) {
    if (amd == HCL_I32 || flat < 0) return flat;
    int Q = out_q(pc), P = out_p(pc), q = (int)(o % (size_t)Q), p = (int)(o / (size_t)Q % (size_t)P);
    int h = flat / pc->w, w = flat % pc->w;
    return (h - (p * pc->sh - pc->ph)) * pc->kw + (w - (q * pc->sw - pc->pw));
}

/* dx = dy routed to the argmax of each window (summed where windows share a winner). */
static void ref_max_bwd(const pool_case *pc, const double *dy, const int *am, double *dx) {
    int P = out_p(pc), Q = out_q(pc);
    memset(dx, 0, (size_t)pc->n * pc->c * pc->h * pc->w * sizeof *dx);
    for (int i = 0; i < pc->n * pc->c; i++)
        for (int o = 0; o < P * Q; o++) {
            int a = am[(size_t)i * P * Q + o];
            if (a >= 0) dx[(size_t)i * pc->h * pc->w + a] += dy[(size_t)i * P * Q + o];
        }
}

static double ref_divisor(const pool_case *pc, int p, int q) {
    if (pc->cip) return (double)pc->kh * pc->kw;
    int h0 = p * pc->sh - pc->ph, w0 = q * pc->sw - pc->pw;
    int nh = (h0 + pc->kh < pc->h ? h0 + pc->kh : pc->h) - (h0 > 0 ? h0 : 0);
    int nw = (w0 + pc->kw < pc->w ? w0 + pc->kw : pc->w) - (w0 > 0 ? w0 : 0);
    return (double)nh * nw;
}

/* avg forward when dx == NULL, else its backward: dx[cell] += dy[window] / divisor. */
static void ref_avg(const pool_case *pc, const double *x, double *y, const double *dy, double *dx) {
    int P = out_p(pc), Q = out_q(pc);
    if (dx) memset(dx, 0, (size_t)pc->n * pc->c * pc->h * pc->w * sizeof *dx);
    for (int i = 0; i < pc->n * pc->c; i++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double div = ref_divisor(pc, p, q), acc = 0;
                size_t o = ((size_t)i * P + p) * Q + q;
                for (int h = p * pc->sh - pc->ph; h < p * pc->sh - pc->ph + pc->kh; h++)
                    for (int w = q * pc->sw - pc->pw; w < q * pc->sw - pc->pw + pc->kw; w++) {
                        if (h < 0 || h >= pc->h || w < 0 || w >= pc->w) continue;
                        size_t xi = (size_t)i * pc->h * pc->w + (size_t)h * pc->w + w;
                        if (dx) dx[xi] += dy[o] / div;
                        else acc += x[xi];
                    }
                if (!dx) y[o] = acc / div;
            }
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static float *rand_f(size_t n, double lo, double hi, hcl_dtype dt) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    test_fill_uniform(p, n, lo, hi);
    test_round_to_dtype(p, n, dt);
    return p;
}

/* Small integers: many exact ties, so the first-maximum rule is exercised. */
static float *rand_ties(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) p[i] = (float)floor(test_uniform(0, 3));
    return p;
}

static void expect_close(const char *what, const pool_case *pc, hcl_dtype xd, hcl_dtype yd, const float *got,
                         const double *ref, size_t n, hcl_dtype out_dt) {
    double err = test_rel_err(got, ref, n), tol = test_tolerance(out_dt);
    ck_assert_msg(err <= tol, "%s [%s] x=%s y=%s: rel err %g > %g (%s)", what, pc->name, hcl_dtype_name(xd),
                  hcl_dtype_name(yd), err, tol, test_seed_note());
}

/* Max pooling forward (values and argmax exactly) and backward, then average pooling. */
static void check_case(hcl_context *ctx, const pool_case *pc, hcl_dtype xd, hcl_dtype yd, hcl_dtype amd, int ties) {
    int P = out_p(pc), Q = out_q(pc);
    size_t nx = (size_t)pc->n * pc->c * pc->h * pc->w, ny = (size_t)pc->n * pc->c * P * Q;
    int64_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, P, Q};
    float *x = ties ? rand_ties(nx) : rand_f(nx, -2, 2, xd);
    test_round_to_dtype(x, nx, yd); /* max outputs are inputs: exact in y's dtype too */
    float *dy = rand_f(ny, -1, 1, yd);
    double *xdd = to_double(x, nx), *dyd = to_double(dy, ny);
    double *yref = malloc(ny * sizeof *yref), *dxref = malloc(nx * sizeof *dxref);
    int *amref = malloc(ny * sizeof *amref);
    ck_assert(yref && dxref && amref);
    hcl_pool2d_desc d;
    desc_of(pc, &d);

    ref_max(pc, xdd, yref, amref);
    hcl_tensor *tx = test_tensor_from(ctx, xd, 4, xs, x), *ty = test_tensor_poisoned(ctx, yd, 4, ys);
    hcl_tensor *tam = test_tensor_poisoned(ctx, amd, 4, ys);
    CK_OK(ctx, hcl_maxpool2d_forward(ctx, ty, tam, tx, &d));
    float *y = test_download(ty), *am = test_download(tam);
    for (size_t i = 0; i < ny; i++) {
        int want = am_stored(pc, amd, i, amref[i]);
        ck_assert_msg(y[i] == (float)yref[i] && (int)am[i] == want, "maxpool [%s] %s, %s argmax: out %zu = %g @%d, want %g @%d (%s)",
                      pc->name, hcl_dtype_name(xd), hcl_dtype_name(amd), i, y[i], (int)am[i], yref[i], want,
                      test_seed_note());
    }
    /* without argmax (inference) */
    hcl_tensor *ty2 = test_tensor_poisoned(ctx, yd, 4, ys);
    CK_OK(ctx, hcl_maxpool2d_forward(ctx, ty2, NULL, tx, &d));
    float *y2 = test_download(ty2);
    ck_assert_msg(!memcmp(y, y2, ny * sizeof *y), "maxpool [%s] without argmax differs", pc->name);

    hcl_tensor *tdy = test_tensor_from(ctx, yd, 4, ys, dy), *tdx = test_tensor_poisoned(ctx, xd, 4, xs);
    CK_OK(ctx, hcl_maxpool2d_backward(ctx, tdx, tdy, tam, &d));
    ref_max_bwd(pc, dyd, amref, dxref);
    float *dx = test_download(tdx);
    expect_close("maxpool backward", pc, xd, yd, dx, dxref, nx, xd);
    free(dx);

    ref_avg(pc, xdd, yref, NULL, NULL);
    hcl_tensor *tya = test_tensor_poisoned(ctx, yd, 4, ys);
    CK_OK(ctx, hcl_avgpool2d_forward(ctx, tya, tx, &d));
    float *ya = test_download(tya);
    expect_close("avgpool forward", pc, xd, yd, ya, yref, ny, yd);
    ref_avg(pc, NULL, NULL, dyd, dxref);
    hcl_tensor *tdxa = test_tensor_poisoned(ctx, xd, 4, xs);
    CK_OK(ctx, hcl_avgpool2d_backward(ctx, tdxa, tdy, &d));
    dx = test_download(tdxa);
    expect_close("avgpool backward", pc, xd, yd, dx, dxref, nx, xd);

    hcl_tensor *ts[] = {tx, ty, tam, ty2, tdy, tdx, tya, tdxa};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    free(x); free(dy); free(xdd); free(dyd); free(yref); free(dxref); free(amref); free(y); free(am); free(y2);
    free(ya); free(dx);
}

START_TEST(pool_cases) {
    hcl_context *ctx = test_context();
    /* each dtype with one argmax dtype, alternating over the cases: every (case, dtype) runs and every
     * dtype meets both argmax forms, at half the kernel builds of all combinations (cold compiles
     * dominate this suite's time in CI) */
    for (int i = 0; i < 3; i++)
        check_case(ctx, &cases[_i], test_float_dtypes[i], test_float_dtypes[i], am_dtypes[(_i + i) % 2], 0);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(pool_ties) {
    hcl_context *ctx = test_context();
    for (int c = 0; c < N_CASES; c++)
        for (int i = 0; i < 3; i++)
            check_case(ctx, &cases[c], test_float_dtypes[i], test_float_dtypes[i], am_dtypes[(c + i + 1) % 2], 1);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(pool_mixed_dtypes) {
    hcl_context *ctx = test_context();
    for (int a = 0; a < 2; a++) {
        check_case(ctx, &cases[1], HCL_F16, HCL_F32, am_dtypes[a], 0);
        check_case(ctx, &cases[2], HCL_F32, HCL_BF16, am_dtypes[a], 0);
        check_case(ctx, &cases[6], HCL_BF16, HCL_F16, am_dtypes[a], 1);
        check_case(ctx, &cases[10], HCL_F16, HCL_BF16, am_dtypes[a], 1);
    }
    hcl_context_free(ctx);
}
END_TEST

/* NaN in a window wins (and the first NaN is the argmax); -inf is an ordinary value. */
START_TEST(pool_nan) {
    hcl_context *ctx = test_context();
    int64_t xs[4] = {1, 1, 2, 4}, ys[4] = {1, 1, 1, 2};
    float x[8] = {1, NAN, 5, -INFINITY, NAN, 9, -INFINITY, -INFINITY};
    hcl_pool2d_desc d;
    hcl_pool2d_desc_init(&d, 2, 2);
    for (int i = 0; i < 6; i++) {
        hcl_dtype dt = test_float_dtypes[i % 3], amd = am_dtypes[i / 3];
        int want1 = amd == HCL_U8 ? 0 : 2; /* x[2] is window 1's offset 0 */
        hcl_tensor *tx = test_tensor_from(ctx, dt, 4, xs, x), *ty = test_tensor_poisoned(ctx, dt, 4, ys);
        hcl_tensor *tam = test_tensor_poisoned(ctx, amd, 4, ys);
        CK_OK(ctx, hcl_maxpool2d_forward(ctx, ty, tam, tx, &d));
        float *y = test_download(ty), *am = test_download(tam);
        ck_assert_msg(isnan(y[0]) && (int)am[0] == 1, "%s: window 0 = %g @%d, want NaN @1", hcl_dtype_name(dt), y[0], (int)am[0]);
        ck_assert_msg(y[1] == 5 && (int)am[1] == want1, "%s %s: window 1 = %g @%d, want 5 @%d", hcl_dtype_name(dt),
                      hcl_dtype_name(amd), y[1], (int)am[1], want1);
        free(y); free(am);
        hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tam);
    }
    hcl_context_free(ctx);
}
END_TEST

/* The same rules on the fixed-window kernels (tensors large enough for them, windows with and
 * without padding): NaN, +-inf and signed zeros (ties: the first of -0 / +0 wins) among small
 * integers, values and argmax against the reference, NaN for NaN. */
START_TEST(pool_nan_fixed) {
    hcl_context *ctx = test_context();
    static const pool_case pcs[] = {
        {"2x2 s2 specials", 2, 3, 6, 20, 2, 2, 2, 2, 0, 0, 1},
        {"3x3 s2 p1 specials", 1, 2, 7, 9, 3, 3, 2, 2, 1, 1, 1},
    };
    static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
    for (size_t ci = 0; ci < sizeof pcs / sizeof pcs[0]; ci++)
        for (int t = 0; t < 6; t++) {
            const pool_case *pc = &pcs[ci];
            hcl_dtype dt = test_float_dtypes[t % 3], amd = am_dtypes[t / 3];
            int P = out_p(pc), Q = out_q(pc);
            size_t nx = (size_t)pc->n * pc->c * pc->h * pc->w, ny = (size_t)pc->n * pc->c * P * Q;
            int64_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, P, Q};
            float *x = rand_ties(nx);
            for (size_t i = 0; i < nx; i++)
                if (test_uniform(0, 1) < 0.2) x[i] = special[(size_t)test_uniform(0, 5) % 5];
            double *xdd = to_double(x, nx), *yref = malloc(ny * sizeof *yref);
            int *amref = malloc(ny * sizeof *amref);
            ck_assert(yref && amref);
            ref_max(pc, xdd, yref, amref);
            hcl_pool2d_desc d;
            desc_of(pc, &d);
            hcl_tensor *tx = test_tensor_from(ctx, dt, 4, xs, x), *ty = test_tensor_poisoned(ctx, dt, 4, ys);
            hcl_tensor *tam = test_tensor_poisoned(ctx, amd, 4, ys);
            CK_OK(ctx, hcl_maxpool2d_forward(ctx, ty, tam, tx, &d));
            float *y = test_download(ty), *am = test_download(tam);
            for (size_t i = 0; i < ny; i++) {
                int same = isnan(yref[i]) ? isnan(y[i]) : y[i] == (float)yref[i], want = am_stored(pc, amd, i, amref[i]);
                ck_assert_msg(same && (int)am[i] == want, "maxpool [%s] %s, %s argmax: out %zu = %g @%d, want %g @%d (%s)",
                              pc->name, hcl_dtype_name(dt), hcl_dtype_name(amd), i, y[i], (int)am[i], yref[i], want,
                              test_seed_note());
            }
            hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tam);
            free(x); free(xdd); free(yref); free(amref); free(y); free(am);
        }
    hcl_context_free(ctx);
}
END_TEST

/* ---- finite differences of the FP64 references ---- */
typedef struct fd_user { const pool_case *pc; const double *dy; int max; double *y; int *am; size_t ny; } fd_user;

static double fd_loss(const double *x, void *user) {
    fd_user *u = user;
    if (u->max) ref_max(u->pc, x, u->y, u->am);
    else ref_avg(u->pc, x, u->y, NULL, NULL);
    double s = 0;
    for (size_t i = 0; i < u->ny; i++) s += u->y[i] * u->dy[i];
    return s;
}

/* The reference backward and the device (F32) backward match central differences. Max pooling
 * uses distinct inputs spaced far more than the step, so no window changes its winner. */
START_TEST(pool_numeric_grad) {
    hcl_context *ctx = test_context();
    static const int pick[] = {2, 3, 4, 6, 8};
    for (size_t ci = 0; ci < sizeof pick / sizeof pick[0]; ci++) {
        const pool_case *pc = &cases[pick[ci]];
        int P = out_p(pc), Q = out_q(pc);
        size_t nx = (size_t)pc->n * pc->c * pc->h * pc->w, ny = (size_t)pc->n * pc->c * P * Q;
        ck_assert(nx <= 200);
        int64_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, P, Q};
        float *x = malloc(nx * sizeof *x), *dy = rand_f(ny, -1, 1, HCL_F32);
        ck_assert_ptr_nonnull(x);
        for (size_t i = 0; i < nx; i++) x[i] = (float)i * 0.125f; /* distinct, exact */
        for (size_t i = nx - 1; i > 0; i--) { /* shuffle */
            size_t j = (size_t)test_uniform(0, (double)(i + 1));
            if (j > i) j = i;
            float t = x[i]; x[i] = x[j]; x[j] = t;
        }
        double *xdd = to_double(x, nx), *dyd = to_double(dy, ny), *num = malloc(nx * sizeof *num);
        double *ana = malloc(nx * sizeof *ana);
        fd_user u = {pc, dyd, 1, malloc(ny * sizeof(double)), malloc(ny * sizeof(int)), ny};
        ck_assert(num && ana && u.y && u.am);
        hcl_pool2d_desc d;
        desc_of(pc, &d);
        hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 4, xs, x), *tdy = test_tensor_from(ctx, HCL_F32, 4, ys, dy);
        for (int max = 2; max >= 0; max--) { /* 2: max with a U8 argmax, 1: I32, 0: average */
            u.max = max;
            test_numeric_grad(fd_loss, &u, xdd, nx, 1e-3, num);
            if (max) {
                ref_max(pc, xdd, u.y, u.am);
                ref_max_bwd(pc, dyd, u.am, ana);
            } else {
                ref_avg(pc, NULL, NULL, dyd, ana);
            }
            double num_err = 0, den = 0;
            for (size_t i = 0; i < nx; i++) { num_err += (ana[i] - num[i]) * (ana[i] - num[i]); den += num[i] * num[i]; }
            double e = sqrt(num_err / (den > 0 ? den : 1));
            ck_assert_msg(e < 1e-9, "%s %s: analytic vs finite differences %g (%s)", max ? "max" : "avg", pc->name, e,
                          test_seed_note());
            hcl_tensor *tdx = test_tensor_poisoned(ctx, HCL_F32, 4, xs), *ty = test_tensor_poisoned(ctx, HCL_F32, 4, ys);
            hcl_tensor *tam = test_tensor_poisoned(ctx, max == 2 ? HCL_U8 : HCL_I32, 4, ys);
            if (max) {
                CK_OK(ctx, hcl_maxpool2d_forward(ctx, ty, tam, tx, &d));
                CK_OK(ctx, hcl_maxpool2d_backward(ctx, tdx, tdy, tam, &d));
            } else {
                CK_OK(ctx, hcl_avgpool2d_backward(ctx, tdx, tdy, &d));
            }
            float *dx = test_download(tdx);
            double ed = test_rel_err(dx, num, nx);
            ck_assert_msg(ed < 1e-5, "%s %s: device vs finite differences %g (%s)", max ? "max" : "avg", pc->name, ed,
                          test_seed_note());
            free(dx);
            hcl_tensor_free(tdx); hcl_tensor_free(ty); hcl_tensor_free(tam);
        }
        hcl_tensor_free(tx); hcl_tensor_free(tdy);
        free(x); free(dy); free(xdd); free(dyd); free(num); free(ana); free(u.y); free(u.am);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Global average pooling, y (N,C) and (N,C,1,1), forward and backward (incl. finite differences:
 * the op is linear, d/dx of sum(dy * mean) is dy / HW). */
START_TEST(pool_global_avg) {
    hcl_context *ctx = test_context();
    static const int shapes[][4] = {{2, 3, 7, 5}, {1, 1, 1, 1}, {3, 33, 2, 2}, {1, 2, 17, 19}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int t = 0; t < 3; t++)
            for (int rank4 = 0; rank4 < 2; rank4++) {
                hcl_dtype dt = test_float_dtypes[t], yt = test_float_dtypes[(t + rank4) % 3];
                int N = shapes[si][0], C = shapes[si][1], H = shapes[si][2], W = shapes[si][3];
                size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C;
                int64_t xs[4] = {N, C, H, W}, ys[4] = {N, C, 1, 1};
                float *x = rand_f(nx, -1, 1, dt), *dy = rand_f(ny, -1, 1, yt);
                double *yref = calloc(ny, sizeof *yref), *dxref = malloc(nx * sizeof *dxref);
                ck_assert(yref && dxref);
                for (size_t i = 0; i < nx; i++) yref[i / ((size_t)H * W)] += x[i] / ((double)H * W);
                for (size_t i = 0; i < nx; i++) dxref[i] = dy[i / ((size_t)H * W)] / ((double)H * W);
                hcl_tensor *tx = test_tensor_from(ctx, dt, 4, xs, x), *ty = test_tensor_poisoned(ctx, yt, rank4 ? 4 : 2, ys);
                hcl_tensor *tdy = test_tensor_from(ctx, yt, rank4 ? 4 : 2, ys, dy), *tdx = test_tensor_poisoned(ctx, dt, 4, xs);
                CK_OK(ctx, hcl_global_avgpool_forward(ctx, ty, tx));
                CK_OK(ctx, hcl_global_avgpool_backward(ctx, tdx, tdy));
                float *y = test_download(ty), *dx = test_download(tdx);
                double ey = test_rel_err(y, yref, ny), ex = test_rel_err(dx, dxref, nx);
                ck_assert_msg(ey <= test_tolerance(yt) && ex <= test_tolerance(dt),
                              "global avg %dx%dx%dx%d %s->%s: y err %g, dx err %g (%s)", N, C, H, W, hcl_dtype_name(dt),
                              hcl_dtype_name(yt), ey, ex, test_seed_note());
                hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tdy); hcl_tensor_free(tdx);
                free(x); free(dy); free(yref); free(dxref); free(y); free(dx);
            }
    hcl_context_free(ctx);
}
END_TEST

/* Same bits on every run (gather backward, fixed order). */
START_TEST(pool_deterministic) {
    hcl_context *ctx = test_context();
    const pool_case *pc = &cases[3];
    int P = out_p(pc), Q = out_q(pc);
    size_t nx = (size_t)pc->n * pc->c * pc->h * pc->w, ny = (size_t)pc->n * pc->c * P * Q;
    int64_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, P, Q};
    float *x = rand_ties(nx), *dy = rand_f(ny, -1, 1, HCL_F16);
    hcl_pool2d_desc d;
    desc_of(pc, &d);
    hcl_tensor *tx = test_tensor_from(ctx, HCL_F16, 4, xs, x), *tdy = test_tensor_from(ctx, HCL_F16, 4, ys, dy);
    hcl_tensor *ty = test_tensor_poisoned(ctx, HCL_F16, 4, ys), *tam = test_tensor_poisoned(ctx, HCL_I32, 4, ys);
    CK_OK(ctx, hcl_maxpool2d_forward(ctx, ty, tam, tx, &d));
    uint16_t *bits[2][2];
    for (int run = 0; run < 2; run++) {
        hcl_tensor *a = test_tensor_poisoned(ctx, HCL_F16, 4, xs), *b = test_tensor_poisoned(ctx, HCL_F16, 4, xs);
        CK_OK(ctx, hcl_maxpool2d_backward(ctx, a, tdy, tam, &d));
        CK_OK(ctx, hcl_avgpool2d_backward(ctx, b, tdy, &d));
        bits[run][0] = malloc(nx * 2);
        bits[run][1] = malloc(nx * 2);
        ck_assert(bits[run][0] && bits[run][1]);
        CK_OK(ctx, hcl_tensor_download_raw(a, bits[run][0], nx * 2));
        CK_OK(ctx, hcl_tensor_download_raw(b, bits[run][1], nx * 2));
        hcl_tensor_free(a); hcl_tensor_free(b);
    }
    ck_assert(!memcmp(bits[0][0], bits[1][0], nx * 2) && !memcmp(bits[0][1], bits[1][1], nx * 2));
    for (int r = 0; r < 2; r++) { free(bits[r][0]); free(bits[r][1]); }
    hcl_tensor_free(tx); hcl_tensor_free(tdy); hcl_tensor_free(ty); hcl_tensor_free(tam);
    free(x); free(dy);
    hcl_context_free(ctx);
}
END_TEST

static hcl_tensor *mk(hcl_context *ctx, hcl_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, dt, 4, s, &t));
    return t;
}

START_TEST(pool_bad_args) {
    hcl_context *ctx = test_context();
    hcl_pool2d_desc d;
    hcl_pool2d_desc_init(&d, 2, 2);
    ck_assert(d.kernel_h == 2 && d.kernel_w == 2 && d.stride_h == 2 && d.stride_w == 2 && d.pad_h == 0 && d.pad_w == 0 &&
              d.count_include_pad == 1);
    hcl_pool2d_desc_init(NULL, 2, 2);
    hcl_tensor *x = mk(ctx, HCL_F32, 2, 3, 6, 6), *y = mk(ctx, HCL_F32, 2, 3, 3, 3), *am = mk(ctx, HCL_I32, 2, 3, 3, 3);
    hcl_tensor *amf = mk(ctx, HCL_F32, 2, 3, 3, 3), *am2 = mk(ctx, HCL_I32, 2, 3, 3, 2), *yb = mk(ctx, HCL_F32, 2, 3, 3, 2);
    hcl_tensor *xi = mk(ctx, HCL_I32, 2, 3, 6, 6), *yc = mk(ctx, HCL_F32, 2, 2, 3, 3);
    CK_OK(ctx, hcl_tensor_fill(x, 1.0)); /* defined inputs for the calls that run (oclgrind) */
    CK_OK(ctx, hcl_maxpool2d_forward(ctx, y, am, x, &d));
    CK_STATUS(ctx, hcl_maxpool2d_forward(NULL, y, am, x, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, am, x, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, am, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_maxpool2d_backward(ctx, x, y, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, amf, x, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, am2, x, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, am, xi, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, yb, NULL, x, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, yc, NULL, x, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_avgpool2d_forward(ctx, yb, x, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_avgpool2d_backward(ctx, x, yb, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_maxpool2d_backward(ctx, x, yb, am, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_maxpool2d_backward(ctx, x, y, am2, &d), HCL_ERR_SHAPE);
    /* a U8 argmax holds windows of up to 256 cells: 16x16, not 17x16 */
    hcl_tensor *x17 = mk(ctx, HCL_F32, 1, 1, 17, 17), *y16 = mk(ctx, HCL_F32, 1, 1, 2, 2), *am16 = mk(ctx, HCL_U8, 1, 1, 2, 2);
    hcl_tensor *y17 = mk(ctx, HCL_F32, 1, 1, 1, 2), *am17 = mk(ctx, HCL_U8, 1, 1, 1, 2);
    CK_OK(ctx, hcl_tensor_fill(x17, 1.0));
    hcl_pool2d_desc d17;
    hcl_pool2d_desc_init(&d17, 16, 1);
    CK_OK(ctx, hcl_maxpool2d_forward(ctx, y16, am16, x17, &d17));
    d17.kernel_h = 17;
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y17, am17, x17, &d17), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_maxpool2d_backward(ctx, x17, y17, am17, &d17), HCL_ERR_DTYPE);
    hcl_tensor_free(y16); hcl_tensor_free(am16);
    hcl_tensor_free(x17); hcl_tensor_free(y17); hcl_tensor_free(am17);
    /* desc: kernel 0, stride 0, negative pad, pad more than half the kernel */
    d.kernel_w = 0;
    CK_STATUS(ctx, hcl_avgpool2d_forward(ctx, y, x, &d), HCL_ERR_INVALID_ARGUMENT);
    d.kernel_w = 2;
    d.stride_h = 0;
    CK_STATUS(ctx, hcl_avgpool2d_forward(ctx, y, x, &d), HCL_ERR_INVALID_ARGUMENT);
    d.stride_h = 2;
    d.pad_h = -1;
    CK_STATUS(ctx, hcl_avgpool2d_forward(ctx, y, x, &d), HCL_ERR_INVALID_ARGUMENT);
    d.pad_h = 2;
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, am, x, &d), HCL_ERR_INVALID_ARGUMENT);
    d.pad_h = 0;
    /* zero-size output: 6x6 input, 7x7 window */
    hcl_pool2d_desc d7;
    hcl_pool2d_desc_init(&d7, 7, 1);
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, y, am, x, &d7), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_avgpool2d_backward(ctx, x, y, &d7), HCL_ERR_SHAPE);
    /* aliasing */
    int64_t big[1] = {2 * 3 * 36};
    hcl_tensor *base = NULL, *vy = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, big, &base));
    int64_t xs[4] = {2, 3, 6, 6}, ys[4] = {2, 3, 3, 3};
    hcl_tensor *vx = NULL;
    CK_OK(ctx, hcl_tensor_view(base, 0, 4, xs, &vx));
    CK_OK(ctx, hcl_tensor_view(base, 10, 4, ys, &vy));
    CK_STATUS(ctx, hcl_maxpool2d_forward(ctx, vy, NULL, vx, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_avgpool2d_backward(ctx, vx, vy, &d), HCL_ERR_ALIASING);
    /* global: y must be (N,C) or (N,C,1,1) */
    int64_t g2[2] = {2, 3}, g2b[2] = {3, 2};
    hcl_tensor *gy = NULL, *gyb = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, g2, &gy));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, g2b, &gyb));
    CK_OK(ctx, hcl_global_avgpool_forward(ctx, gy, x));
    CK_STATUS(ctx, hcl_global_avgpool_forward(ctx, gyb, x), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_global_avgpool_forward(ctx, y, x), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_global_avgpool_backward(ctx, x, gyb), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_global_avgpool_forward(ctx, gy, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_global_avgpool_forward(ctx, gy, xi), HCL_ERR_DTYPE);
    hcl_tensor *ts[] = {x, y, am, amf, am2, yb, xi, yc, vx, vy, base, gy, gyb};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, pool_cases, 0, N_CASES);
    tcase_add_test(tc, pool_ties);
    tcase_add_test(tc, pool_mixed_dtypes);
    tcase_add_test(tc, pool_nan);
    tcase_add_test(tc, pool_nan_fixed);
    tcase_add_test(tc, pool_numeric_grad);
    tcase_add_test(tc, pool_global_avg);
    tcase_add_test(tc, pool_deterministic);
    tcase_add_test(tc, pool_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
