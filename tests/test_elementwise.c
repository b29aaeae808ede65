/* Elementwise ops and reductions against FP64 host references in F32/F16/BF16 and mixed storage:
 * hcl_binary (3 ops x 3 broadcasts, in place), scale (in place), axpy, hcl_reduce (every axis,
 * sum/mean/max, chunked two-pass path, determinism, NaN), hcl_reduce_broadcast (the gradient of
 * a broadcast operand: against the analytic sum and finite differences), argmax (ties, NaN),
 * count_correct; the 8-elements-per-work-item path on unaligned views; exactness of the
 * branch-free F16/BF16 conversions; every bad-input status. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "ops/ops_internal.h"

/* Sums are tested on inputs in [0.1, 1] (no cancellation, so the FP32-accumulated result is
 * relatively accurate to ~R eps, R <= a few thousand); max/argmax on signed normal inputs. */
static void fill_pos(float *x, size_t n, hcl_dtype dt) {
    test_fill_uniform(x, n, 0.1, 1.0);
    test_round_to_dtype(x, n, dt);
}

static void fill_signed(float *x, size_t n, hcl_dtype dt) {
    test_fill_normal(x, n, 2.0);
    test_round_to_dtype(x, n, dt);
}

static size_t count_of(int rank, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
    return n;
}

static float *host_alloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double *host_alloc_d(size_t n) {
    double *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Index of b for element e of a (rank, shape) under a broadcast mode. */
static size_t bcast_index(int rank, const int64_t *shape, hcl_broadcast bc, size_t e) {
    if (bc == HCL_BCAST_NONE) return e;
    if (bc == HCL_BCAST_ROW) return e % (size_t)shape[rank - 1];
    size_t inner = count_of(rank - 2, shape + 2);
    return (e / inner) % (size_t)shape[1];
}

static size_t bcast_count(int rank, const int64_t *shape, hcl_broadcast bc) {
    return bc == HCL_BCAST_NONE ? count_of(rank, shape) : bc == HCL_BCAST_ROW ? (size_t)shape[rank - 1] : (size_t)shape[1];
}

static double ref_binop(hcl_binary_op op, double a, double b) { return op == HCL_OP_ADD ? a + b : op == HCL_OP_SUB ? a - b : a * b; }

typedef struct shape_case { int rank; int64_t shape[4]; } shape_case;

static const shape_case none_shapes[] = {{1, {1}}, {1, {7}}, {2, {3, 33}}};
static const shape_case channel_shapes[] = {{3, {1, 1, 1}}, {4, {2, 3, 5, 7}}, {2, {3, 33}}, {3, {2, 3, 131}}};
static const shape_case row_shapes[] = {{1, {1}}, {2, {7, 33}}, {2, {5, 1031}}};

static void shapes_for(hcl_broadcast bc, const shape_case **s, size_t *n) {
    if (bc == HCL_BCAST_NONE) { *s = none_shapes; *n = 3; }
    else if (bc == HCL_BCAST_CHANNEL) { *s = channel_shapes; *n = 4; }
    else { *s = row_shapes; *n = 3; }
}

/* y = a op b for every op, broadcast and shape; also y == a in place. Views at element offset
 * `off` of larger buffers (0 = plain tensors). */
static void check_binary(hcl_context *ctx, hcl_dtype yd, hcl_dtype ad, hcl_dtype bd, size_t off) {
    for (int bc = 0; bc < 3; bc++) {
        const shape_case *sc;
        size_t ns;
        shapes_for((hcl_broadcast)bc, &sc, &ns);
        for (size_t si = 0; si < ns; si++) {
            int rank = sc[si].rank;
            const int64_t *shape = sc[si].shape;
            size_t n = count_of(rank, shape), nb = bcast_count(rank, shape, (hcl_broadcast)bc);
            for (int op = 0; op < 3; op++) {
                float *a = host_alloc(n + off), *b = host_alloc(nb + off);
                double *ref = host_alloc_d(n);
                fill_signed(a, n + off, ad);
                fill_signed(b, nb + off, bd);
                for (size_t e = 0; e < n; e++)
                    ref[e] = ref_binop((hcl_binary_op)op, a[off + e], b[off + bcast_index(rank, shape, (hcl_broadcast)bc, e)]);
                int64_t fa = (int64_t)(n + off), fb = (int64_t)(nb + off);
                hcl_tensor *ba = test_tensor_from(ctx, ad, 1, &fa, a), *bb = test_tensor_from(ctx, bd, 1, &fb, b);
                hcl_tensor *by = test_tensor_poisoned(ctx, yd, 1, &fa);
                hcl_tensor *va, *vb, *vy;
                int64_t sb = (int64_t)nb;
                CK_OK(ctx, hcl_tensor_view(ba, off, rank, shape, &va));
                CK_OK(ctx, hcl_tensor_view(bb, off, 1, &sb, &vb));
                CK_OK(ctx, hcl_tensor_view(by, off, rank, shape, &vy));
                CK_OK(ctx, hcl_binary(ctx, vy, va, vb, (hcl_binary_op)op, (hcl_broadcast)bc));
                float *y = test_download(by);
                for (size_t i = 0; i < off; i++) ck_assert_msg(isnan(y[i]), "binary wrote before the view");
                double e = test_rel_err(y + off, ref, n), tol = test_tolerance(yd);
                ck_assert_msg(e <= tol, "binary op %d bcast %d n=%zu y %s a %s b %s off %zu: rel err %g > %g (%s)", op, bc, n,
                              hcl_dtype_name(yd), hcl_dtype_name(ad), hcl_dtype_name(bd), off, e, tol, test_seed_note());
                if (ad == yd) { /* in place: y == a */
                    CK_OK(ctx, hcl_binary(ctx, va, va, vb, (hcl_binary_op)op, (hcl_broadcast)bc));
                    float *y2 = test_download(ba);
                    e = test_rel_err(y2 + off, ref, n);
                    ck_assert_msg(e <= tol, "in-place binary op %d bcast %d n=%zu %s: rel err %g (%s)", op, bc, n,
                                  hcl_dtype_name(yd), e, test_seed_note());
                    free(y2);
                }
                free(a); free(b); free(ref); free(y);
                hcl_tensor_free(va); hcl_tensor_free(vb); hcl_tensor_free(vy);
                hcl_tensor_free(ba); hcl_tensor_free(bb); hcl_tensor_free(by);
            }
        }
    }
}

/* scale (also in place) and axpy at a few sizes. */
static void check_scale_axpy(hcl_context *ctx, hcl_dtype yd, hcl_dtype xd, size_t off) {
    const size_t sizes[] = {1, 7, 33, 1031};
    for (size_t si = 0; si < 4; si++) {
        size_t n = sizes[si];
        int64_t fn = (int64_t)(n + off), sn = (int64_t)n;
        float *x = host_alloc(n + off), *y0 = host_alloc(n + off);
        double *rs = host_alloc_d(n), *ra = host_alloc_d(n);
        fill_signed(x, n + off, xd);
        fill_signed(y0, n + off, yd);
        float alpha = (float)test_uniform(-2, 2);
        for (size_t i = 0; i < n; i++) {
            rs[i] = (double)alpha * x[off + i];
            ra[i] = y0[off + i] + (double)alpha * x[off + i];
        }
        hcl_tensor *bx = test_tensor_from(ctx, xd, 1, &fn, x), *bs = test_tensor_poisoned(ctx, yd, 1, &fn);
        hcl_tensor *ba = test_tensor_from(ctx, yd, 1, &fn, y0), *vx, *vs, *va;
        CK_OK(ctx, hcl_tensor_view(bx, off, 1, &sn, &vx));
        CK_OK(ctx, hcl_tensor_view(bs, off, 1, &sn, &vs));
        CK_OK(ctx, hcl_tensor_view(ba, off, 1, &sn, &va));
        CK_OK(ctx, hcl_scale(ctx, vs, vx, alpha));
        CK_OK(ctx, hcl_axpy(ctx, va, alpha, vx));
        float *s = test_download(bs), *a = test_download(ba);
        double tol = test_tolerance(yd);
        for (size_t i = 0; i < off; i++) ck_assert_msg(isnan(s[i]) && a[i] == y0[i], "wrote before the view");
        double es = test_rel_err(s + off, rs, n), ea = test_rel_err(a + off, ra, n);
        ck_assert_msg(es <= tol && ea <= tol, "scale/axpy n=%zu y %s x %s: %g %g (%s)", n, hcl_dtype_name(yd),
                      hcl_dtype_name(xd), es, ea, test_seed_note());
        if (xd == yd) { /* scale in place */
            CK_OK(ctx, hcl_scale(ctx, vx, vx, alpha));
            float *s2 = test_download(bx);
            ck_assert_msg(test_rel_err(s2 + off, rs, n) <= tol, "in-place scale n=%zu (%s)", n, test_seed_note());
            free(s2);
        }
        free(x); free(y0); free(rs); free(ra); free(s); free(a);
        hcl_tensor_free(vx); hcl_tensor_free(vs); hcl_tensor_free(va);
        hcl_tensor_free(bx); hcl_tensor_free(bs); hcl_tensor_free(ba);
    }
}

/* FP64 reduction of x (outer, R, inner) over R. */
static void ref_reduce(const float *x, size_t outer, size_t R, size_t inner, hcl_reduce_op op, double *y) {
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double acc = op == HCL_REDUCE_MAX ? -INFINITY : 0;
            for (size_t r = 0; r < R; r++) {
                double v = x[(o * R + r) * inner + i];
                acc = op == HCL_REDUCE_MAX ? (v > acc || isnan(v) ? v : acc) : acc + v;
            }
            y[o * inner + i] = op == HCL_REDUCE_MEAN ? acc / (double)R : acc;
        }
}

/* hcl_reduce of x (rank, shape) over axis with op; y with the axis dropped (or kept as 1). */
static void check_reduce_one(hcl_context *ctx, hcl_dtype yd, hcl_dtype xd, int rank, const int64_t *shape, int axis,
                             hcl_reduce_op op, int keep) {
    int ax = axis < 0 ? axis + rank : axis;
    size_t n = count_of(rank, shape), outer = count_of(ax, shape), R = (size_t)shape[ax];
    size_t inner = count_of(rank - ax - 1, shape + ax + 1);
    float *x = host_alloc(n);
    double *ref = host_alloc_d(outer * inner);
    if (op == HCL_REDUCE_MAX) fill_signed(x, n, xd);
    else fill_pos(x, n, xd);
    ref_reduce(x, outer, R, inner, op, ref);
    int64_t ys[8];
    int yr = 0;
    for (int i = 0; i < rank; i++) {
        if (i != ax) ys[yr++] = shape[i];
        else if (keep) ys[yr++] = 1;
    }
    hcl_tensor *tx = test_tensor_from(ctx, xd, rank, shape, x), *ty = test_tensor_poisoned(ctx, yd, yr, ys);
    CK_OK(ctx, hcl_reduce(ctx, ty, tx, axis, op));
    float *y = test_download(ty);
    double e = test_rel_err(y, ref, outer * inner), tol = test_tolerance(yd);
    if (op == HCL_REDUCE_MAX && yd == xd) tol = 0; /* max is exact */
    ck_assert_msg(e <= tol, "reduce op %d axis %d rank %d (%zu,%zu,%zu) y %s x %s: rel err %g > %g (%s)", op, axis, rank, outer,
                  R, inner, hcl_dtype_name(yd), hcl_dtype_name(xd), e, tol, test_seed_note());
    free(x); free(ref); free(y);
    hcl_tensor_free(tx); hcl_tensor_free(ty);
}

static void check_reduce(hcl_context *ctx, hcl_dtype yd, hcl_dtype xd) {
    const int64_t s3[3] = {3, 5, 7}, s1[1] = {33}, s2[2] = {3, 300};
    for (int op = 0; op < 3; op++) {
        for (int axis = 0; axis < 3; axis++) check_reduce_one(ctx, yd, xd, 3, s3, axis, (hcl_reduce_op)op, axis == 1);
        check_reduce_one(ctx, yd, xd, 3, s3, -1, (hcl_reduce_op)op, 0);
        check_reduce_one(ctx, yd, xd, 1, s1, 0, (hcl_reduce_op)op, 0);  /* to a rank-0 scalar */
        check_reduce_one(ctx, yd, xd, 2, s2, 1, (hcl_reduce_op)op, 1);  /* rows of 300: work-group per row */
    }
}

typedef struct fd_bias { int rank; const int64_t *shape; hcl_broadcast bc; hcl_binary_op op; const double *a, *dy; size_t n; } fd_bias;

/* f(b) = sum_e dy_e (a_e op b_bcast(e)): its gradient is the broadcast reduction of dy (ADD) or
 * dy * a (MUL). */
static double fd_bias_fn(const double *b, void *user) {
    const fd_bias *u = user;
    double s = 0;
    for (size_t e = 0; e < u->n; e++) s += u->dy[e] * ref_binop(u->op, u->a[e], b[bcast_index(u->rank, u->shape, u->bc, e)]);
    return s;
}

/* db (+)= sum of dy over the broadcast dims, against the analytic sum and finite differences of
 * f(b) above; MUL through the composition binary(dy * a) then reduce_broadcast. */
static void check_reduce_broadcast(hcl_context *ctx, hcl_dtype dbd, hcl_dtype dyd) {
    static const shape_case cases[] = {{2, {7, 5}}, {4, {2, 3, 5, 7}}, {2, {4, 9}}, {2, {33, 7}}, {2, {5, 1}}};
    static const hcl_broadcast modes[] = {HCL_BCAST_NONE, HCL_BCAST_CHANNEL, HCL_BCAST_CHANNEL, HCL_BCAST_ROW, HCL_BCAST_ROW};
    for (int c = 0; c < 5; c++) {
        for (int v = 0; v < 3; v++) { /* 0: overwrite, 1: accumulate, 2: MUL composition */
            int rank = cases[c].rank, acc = v == 1;
            const int64_t *shape = cases[c].shape;
            hcl_broadcast bc = modes[c];
            hcl_binary_op op = v == 2 ? HCL_OP_MUL : HCL_OP_ADD;
            size_t n = count_of(rank, shape), nb = bcast_count(rank, shape, bc);
            float *dy = host_alloc(n), *a = host_alloc(n), *db0 = host_alloc(nb);
            double *ref = host_alloc_d(nb), *num = host_alloc_d(nb), *b64 = host_alloc_d(nb);
            double *a64 = host_alloc_d(n), *dy64 = host_alloc_d(n);
            fill_pos(dy, n, dyd);
            fill_pos(a, n, dyd);
            fill_pos(db0, nb, dbd);
            for (size_t i = 0; i < nb; i++) { ref[i] = acc ? db0[i] : 0; b64[i] = 0.5; }
            for (size_t e = 0; e < n; e++) {
                ref[bcast_index(rank, shape, bc, e)] += (double)dy[e] * (op == HCL_OP_MUL ? a[e] : 1.0);
                a64[e] = a[e];
                dy64[e] = dy[e];
            }
            int64_t sb = (int64_t)nb;
            hcl_tensor *tdy = test_tensor_from(ctx, dyd, rank, shape, dy), *tdb;
            hcl_tensor *ta = test_tensor_from(ctx, dyd, rank, shape, a), *tp = test_tensor_poisoned(ctx, dyd, rank, shape);
            tdb = acc ? test_tensor_from(ctx, dbd, 1, &sb, db0) : test_tensor_poisoned(ctx, dbd, 1, &sb);
            if (op == HCL_OP_MUL) {
                CK_OK(ctx, hcl_binary(ctx, tp, tdy, ta, HCL_OP_MUL, HCL_BCAST_NONE));
                CK_OK(ctx, hcl_reduce_broadcast(ctx, tdb, tp, bc, 0));
            } else {
                CK_OK(ctx, hcl_reduce_broadcast(ctx, tdb, tdy, bc, acc));
            }
            float *db = test_download(tdb);
            /* MUL: dy * a is stored in dy's dtype before the sum: one more rounding per term */
            double tol = test_tolerance(dbd) + (op == HCL_OP_MUL ? test_tolerance(dyd) : 0);
            double e = test_rel_err(db, ref, nb);
            ck_assert_msg(e <= tol, "reduce_broadcast bcast %d case %d variant %d db %s dy %s: rel err %g > %g (%s)", bc, c, v,
                          hcl_dtype_name(dbd), hcl_dtype_name(dyd), e, tol, test_seed_note());
            if (!acc) { /* f is linear in b: central differences are exact up to rounding */
                fd_bias u = {rank, shape, bc, op, a64, dy64, n};
                test_numeric_grad(fd_bias_fn, &u, b64, nb, 1e-3, num);
                double en = test_rel_err(db, num, nb);
                ck_assert_msg(en <= tol + 1e-9, "reduce_broadcast vs finite differences bcast %d case %d: %g (%s)", bc, c, en,
                              test_seed_note());
            }
            free(dy); free(a); free(db0); free(ref); free(num); free(b64); free(a64); free(dy64); free(db);
            hcl_tensor_free(tdy); hcl_tensor_free(ta); hcl_tensor_free(tp); hcl_tensor_free(tdb);
        }
    }
}

static int ref_argmax(const float *x, size_t D) {
    int bi = 0;
    float best = -INFINITY;
    for (size_t d = 0; d < D; d++) {
        if (isnan(x[d])) return (int)d;
        if (x[d] > best) { best = x[d]; bi = (int)d; }
    }
    return bi;
}

static void check_argmax_count(hcl_context *ctx, hcl_dtype xd) {
    /* D = 1 is one binary logit: count_correct predicts x > 0 (argmax is still index 0) */
    const int64_t shapes[4][2] = {{1, 1}, {6, 7}, {70, 10}, {33, 1}};
    for (int s = 0; s < 4; s++) {
        size_t rows = (size_t)shapes[s][0], D = (size_t)shapes[s][1], n = rows * D;
        float *x = host_alloc(n), *lab = host_alloc(rows), one = 5;
        fill_signed(x, n, xd);
        if (rows >= 6 && D > 1) {
            x[0 * D + 5] = x[0 * D + 2] = 100;  /* tie: first wins */
            x[1 * D + 3] = NAN;                 /* NaN counts as the maximum */
            x[2 * D + 6] = x[2 * D + 4] = NAN;  /* first NaN wins */
            for (size_t d = 0; d < D; d++) x[3 * D + d] = -INFINITY; /* all -inf: index 0 */
        }
        int *ref = malloc(rows * sizeof *ref);
        int matches = 0;
        for (size_t r = 0; r < rows; r++) {
            ref[r] = ref_argmax(x + r * D, D);
            int pred = D == 1 ? x[r] > 0 : ref[r];
            /* labels: the prediction for most rows, another class, or out of range */
            int l = r % 3 == 0 ? pred : r % 3 == 1 ? (D == 1 ? 1 - pred : (int)((ref[r] + 1) % (int)D)) : (r % 2 ? -1 : (int)D);
            lab[r] = (float)l;
            matches += l == pred;
        }
        int64_t sr = (int64_t)rows, s1 = 1;
        hcl_tensor *tx = test_tensor_from(ctx, xd, 2, shapes[s], x), *ti = test_tensor_poisoned(ctx, HCL_I32, 1, &sr);
        hcl_tensor *tl = test_tensor_from(ctx, HCL_I32, 1, &sr, lab), *tc = test_tensor_from(ctx, HCL_I32, 1, &s1, &one);
        CK_OK(ctx, hcl_argmax(ctx, ti, tx));
        CK_OK(ctx, hcl_count_correct(ctx, tc, tx, tl));
        CK_OK(ctx, hcl_count_correct(ctx, tc, tx, tl)); /* accumulates */
        float *idx = test_download(ti), *cnt = test_download(tc);
        for (size_t r = 0; r < rows; r++)
            ck_assert_msg((int)idx[r] == ref[r], "argmax %s row %zu of (%zu,%zu): %d, want %d (%s)", hcl_dtype_name(xd), r, rows, D,
                          (int)idx[r], ref[r], test_seed_note());
        ck_assert_msg((int)cnt[0] == 5 + 2 * matches, "count_correct %s (%zu,%zu): %d, want %d (%s)", hcl_dtype_name(xd), rows, D,
                      (int)cnt[0], 5 + 2 * matches, test_seed_note());
        free(x); free(lab); free(ref); free(idx); free(cnt);
        hcl_tensor_free(tx); hcl_tensor_free(ti); hcl_tensor_free(tl); hcl_tensor_free(tc);
    }
}

/* One program per dtype: every op on plain tensors, in place where allowed. */
START_TEST(each_dtype) {
    hcl_context *ctx = test_context();
    hcl_dtype dt = test_float_dtypes[_i];
    check_binary(ctx, dt, dt, dt, 0);
    check_scale_axpy(ctx, dt, dt, 0);
    check_reduce(ctx, dt, dt);
    check_reduce_broadcast(ctx, dt, dt);
    check_argmax_count(ctx, dt);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(mixed_dtypes) {
    hcl_context *ctx = test_context();
    check_binary(ctx, HCL_F32, HCL_F16, HCL_BF16, 0);
    check_scale_axpy(ctx, HCL_F32, HCL_F16, 0);  /* these three share one program */
    check_reduce(ctx, HCL_F32, HCL_F16);
    check_reduce_broadcast(ctx, HCL_F32, HCL_F16);
    hcl_context_free(ctx);
}
END_TEST

/* The GPU paths on any device: 8 elements per work-item on views at odd offsets (unaligned
 * vector loads, rows that are not multiples of 8, tails) and work-group row reductions. */
START_TEST(vector_path) {
    hcl_context *ctx = test_context();
    hcl_elementwise_vec_override = 8;
    for (int d = 0; d < 3; d++) {
        check_binary(ctx, test_float_dtypes[d], test_float_dtypes[d], test_float_dtypes[d], 3);
        check_scale_axpy(ctx, test_float_dtypes[d], test_float_dtypes[d], 5);
        check_reduce(ctx, test_float_dtypes[d], test_float_dtypes[d]); /* work-group row reductions */
    }
    hcl_context_free(ctx);
}
END_TEST

/* F16 add/sub/mul on a cl_khr_fp16 device compute in half (the native variants): the same bits
 * as the storage-only variants (float math), for every broadcast, one and eight elements per
 * work-item, over all kinds of half values (subnormals, overflow to inf, NaN). On other devices
 * both contexts run the same kernels and the test checks that native half is reported off. */
START_TEST(native_half_same_bits) {
    hcl_context *nat = test_context_half(HCL_HALF_NATIVE), *sto = test_context_half(HCL_HALF_STORAGE);
    ck_assert_int_eq(hcl_context_native_half(nat), hcl_context_device(nat)->has_fp16);
    ck_assert_int_eq(hcl_context_native_half(sto), 0);
    const int64_t shape[3] = {2, 5, 37}; /* rows of 37: four 8-lane groups and a tail */
    size_t n = 2 * 5 * 37;
    float *a = host_alloc(n), *b = host_alloc(n);
    test_fill_half_patterns(a, n);
    test_fill_half_patterns(b, n);
    hcl_context *ctxs[2] = {nat, sto};
    hcl_tensor *ta[2], *tb[2][3], *ty[2];
    const int64_t bshape[3][1] = {{(int64_t)n}, {5}, {37}};
    for (int c = 0; c < 2; c++) {
        ta[c] = test_tensor_from(ctxs[c], HCL_F16, 3, shape, a);
        for (int bc = 0; bc < 3; bc++) tb[c][bc] = test_tensor_from(ctxs[c], HCL_F16, 1, bshape[bc], b);
        ty[c] = test_tensor_poisoned(ctxs[c], HCL_F16, 3, shape);
    }
    hcl_tensor *vb[2];
    for (int vec = 1; vec <= 8; vec += 7) {
        hcl_elementwise_vec_override = vec;
        for (int op = 0; op < 3; op++)
            for (int bc = 0; bc < 3; bc++) {
                for (int c = 0; c < 2; c++) {
                    if (bc == HCL_BCAST_NONE) CK_OK(ctxs[c], hcl_tensor_view(tb[c][bc], 0, 3, shape, &vb[c]));
                    else vb[c] = tb[c][bc];
                    CK_OK(ctxs[c], hcl_binary(ctxs[c], ty[c], ta[c], vb[c], (hcl_binary_op)op, (hcl_broadcast)bc));
                }
                char what[64];
                snprintf(what, sizeof what, "binary op %d bcast %d vec %d", op, bc, vec);
                test_assert_same_f16(ty[0], ty[1], n, what);
                for (int c = 0; c < 2 && bc == HCL_BCAST_NONE; c++) hcl_tensor_free(vb[c]);
            }
    }
    for (int c = 0; c < 2; c++) {
        hcl_tensor_free(ta[c]);
        hcl_tensor_free(ty[c]);
        for (int bc = 0; bc < 3; bc++) hcl_tensor_free(tb[c][bc]);
    }
    free(a);
    free(b);
    hcl_context_free(nat);
    hcl_context_free(sto);
}
END_TEST

/* Every kernel's F16 and BF16 store (here scale by 1 from F32) rounds like the host conversion:
 * to nearest even at ties, subnormals kept (not flushed), overflow to inf, NaN stays NaN, with
 * one and eight elements per work-item (on a cl_khr_fp16 device the F16 stores are the native
 * conversions). Loop: 0 = BF16, 1 = F16. */
START_TEST(half_store_rounding) {
    hcl_context *ctx = test_context();
    int f16 = _i == 1;
    hcl_dtype dt = f16 ? HCL_F16 : HCL_BF16;
    const size_t n = 4099;
    int64_t shape = (int64_t)n;
    float *x = host_alloc(n);
    uint16_t *want = malloc(n * 2), *got = malloc(n * 2);
    ck_assert(want && got);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)test_uniform(0.0, 4294967296.0);
        switch (i % 6) {
        case 0: bits &= 0x807fffffu; break;                    /* zero or F32 subnormal */
        case 1: bits = (bits & 0xffff0000u) | 0x8000u; break;  /* a tie */
        case 2: { /* BF16: the smallest normals; F16: its subnormals and smallest normals (2^-25 .. 2^-13) */
            uint32_t e = f16 ? 102u + (bits >> 24) % 13u : 1u;
            bits = (bits & 0x807fffffu) | (e << 23);
            break;
        }
        case 3: /* near the top: rounds to inf or the largest finite value */
            bits = (bits & 0x807fffffu) | (f16 ? 0x47000000u : 0x7f000000u);
            break;
        default: break;                                         /* anything, NaN and inf included */
        }
        if (f16 && i % 6 == 1) bits = (bits & 0xffffe000u) | 0x1000u; /* an F16 tie */
        memcpy(&x[i], &bits, 4);
        want[i] = f16 ? hcl_f32_to_f16(x[i]) : hcl_f32_to_bf16(x[i]);
    }
    hcl_tensor *tx = test_tensor_from(ctx, HCL_F32, 1, &shape, x);
    hcl_tensor *ty = test_tensor_poisoned(ctx, dt, 1, &shape);
    for (int vec = 1; vec <= 8; vec += 7) {
        hcl_elementwise_vec_override = vec;
        CK_OK(ctx, hcl_scale(ctx, ty, tx, 1.0f));
        CK_OK(ctx, hcl_tensor_download_raw(ty, got, n * 2));
        for (size_t i = 0; i < n; i++) {
            uint16_t inf = f16 ? 0x7c00 : 0x7f80;
            int nan_w = (want[i] & 0x7fff) > inf, nan_g = (got[i] & 0x7fff) > inf;
            ck_assert_msg(got[i] == want[i] || (nan_w && nan_g), "vec %d: f32 %a (0x%08x) -> %s 0x%04x, host 0x%04x", vec,
                          (double)x[i], ((const uint32_t *)x)[i], hcl_dtype_name(dt), got[i], want[i]);
        }
    }
    hcl_tensor_free(tx);
    hcl_tensor_free(ty);
    free(x);
    free(want);
    free(got);
    hcl_context_free(ctx);
}
END_TEST

/* F16 sums accumulate in F32 on every device, native half ones included: 4097 ones sum to 4097
 * exactly (a half accumulator sticks at 2048), along the last axis and along axis 0, with one
 * and eight elements per work-item. */
START_TEST(f16_sums_in_f32) {
    hcl_context *ctx = test_context();
    const int64_t n = 4097, rows_shape[2] = {3, n}, cols_shape[2] = {n, 3}, three = 3;
    float *ones = malloc((size_t)(3 * n) * sizeof *ones);
    for (int64_t i = 0; i < 3 * n; i++) ones[i] = 1.0f;
    hcl_tensor *rows = test_tensor_from(ctx, HCL_F16, 2, rows_shape, ones), *cols = test_tensor_from(ctx, HCL_F16, 2, cols_shape, ones);
    for (int vec = 1; vec <= 8; vec += 7) {
        hcl_elementwise_vec_override = vec;
        for (int axis = 0; axis < 2; axis++) {
            hcl_tensor *y = test_tensor_poisoned(ctx, HCL_F32, 1, &three);
            CK_OK(ctx, hcl_reduce(ctx, y, axis ? rows : cols, axis, HCL_REDUCE_SUM));
            float *h = test_download(y);
            for (int i = 0; i < 3; i++)
                ck_assert_msg(h[i] == 4097.0f, "vec %d axis %d: sum[%d] = %g, expected 4097", vec, axis, i, (double)h[i]);
            free(h);
            hcl_tensor_free(y);
        }
    }
    free(ones);
    hcl_tensor_free(rows);
    hcl_tensor_free(cols);
    hcl_context_free(ctx);
}
END_TEST

/* Long reductions split into chunks (partials in the workspace, then a second pass): correct,
 * the same bits on a second run, NaN propagates through both passes of max. */
START_TEST(chunked_reductions) {
    hcl_context *ctx = test_context();
    hcl_elementwise_vec_override = _i ? 8 : 1; /* row reductions: one work-item or a work-group per row */
    hcl_dtype dt = HCL_F32;
    const int64_t rows[1] = {6000}, cols[2] = {4500, 3};
    for (int op = 0; op < 3; op++) {
        check_reduce_one(ctx, dt, dt, 1, rows, 0, (hcl_reduce_op)op, 0);  /* rows, chunked */
        check_reduce_one(ctx, dt, dt, 2, cols, 0, (hcl_reduce_op)op, 0);  /* strided, chunked */
    }
    /* channel gradient with long spatial rows: stage 1 chunked */
    {
        int64_t shape[3] = {2, 3, 4100}, s3 = 3;
        size_t n = 2 * 3 * 4100;
        float *dy = host_alloc(n);
        double ref[3] = {0, 0, 0};
        fill_pos(dy, n, dt);
        for (size_t e = 0; e < n; e++) ref[(e / 4100) % 3] += dy[e];
        hcl_tensor *tdy = test_tensor_from(ctx, dt, 3, shape, dy), *tdb = test_tensor_poisoned(ctx, HCL_F32, 1, &s3);
        CK_OK(ctx, hcl_reduce_broadcast(ctx, tdb, tdy, HCL_BCAST_CHANNEL, 0));
        float *db = test_download(tdb);
        ck_assert_msg(test_rel_err(db, ref, 3) <= 1e-5, "chunked channel reduce_broadcast: %g (%s)", test_rel_err(db, ref, 3),
                      test_seed_note());
        free(dy); free(db);
        hcl_tensor_free(tdy); hcl_tensor_free(tdb);
    }
    /* determinism and NaN */
    {
        size_t n = 6000;
        float *x = host_alloc(n);
        fill_signed(x, n, dt);
        int64_t s = (int64_t)n;
        hcl_tensor *tx = test_tensor_from(ctx, dt, 1, &s, x), *y1 = test_tensor_poisoned(ctx, HCL_F32, 0, NULL);
        hcl_tensor *y2 = test_tensor_poisoned(ctx, HCL_F32, 0, NULL);
        CK_OK(ctx, hcl_reduce(ctx, y1, tx, 0, HCL_REDUCE_SUM));
        CK_OK(ctx, hcl_reduce(ctx, y2, tx, 0, HCL_REDUCE_SUM));
        float a, b;
        CK_OK(ctx, hcl_tensor_download_f32(y1, &a, 1));
        CK_OK(ctx, hcl_tensor_download_f32(y2, &b, 1));
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "sum not deterministic: %a vs %a", a, b);
        x[4321] = NAN;
        CK_OK(ctx, hcl_tensor_upload_f32(tx, x, n));
        CK_OK(ctx, hcl_reduce(ctx, y1, tx, 0, HCL_REDUCE_MAX));
        CK_OK(ctx, hcl_tensor_download_f32(y1, &a, 1));
        ck_assert_msg(isnan(a), "max over a NaN gave %g", a);
        free(x);
        hcl_tensor_free(tx); hcl_tensor_free(y1); hcl_tensor_free(y2);
    }
    hcl_context_free(ctx);
}
END_TEST

static int same_f16(uint16_t a, uint16_t b) {
    int an = (a & 0x7c00) == 0x7c00 && (a & 0x3ff), bn = (b & 0x7c00) == 0x7c00 && (b & 0x3ff);
    return (an && bn) || a == b;
}

static int same_bf16(uint16_t a, uint16_t b) {
    int an = (a & 0x7f80) == 0x7f80 && (a & 0x7f), bn = (b & 0x7f80) == 0x7f80 && (b & 0x7f);
    return (an && bn) || a == b;
}

/* The branch-free element conversions (HCL_LOADE/HCL_STOREE) are exact:
 * scale by 1 reproduces every F16 pattern, and F32 -> F16/BF16 matches the host's RNE on
 * halfway cases, the subnormal boundary, overflow, inf and NaN. */
START_TEST(conversions_exact) {
    hcl_context *ctx = test_context();
    size_t n = 65536;
    int64_t s = (int64_t)n;
    uint16_t *bits = malloc(n * 2), *out = malloc(n * 2);
    for (size_t i = 0; i < n; i++) bits[i] = (uint16_t)i;
    hcl_tensor *x16 = NULL, *y16 = NULL, *yb = NULL, *x32 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, &s, &x16));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, &s, &y16));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_BF16, 1, &s, &yb));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s, &x32));
    CK_OK(ctx, hcl_tensor_upload_raw(x16, bits, n * 2));
    CK_OK(ctx, hcl_scale(ctx, y16, x16, 1.0f));
    CK_OK(ctx, hcl_tensor_download_raw(y16, out, n * 2));
    for (size_t i = 0; i < n; i++) ck_assert_msg(same_f16(out[i], bits[i]), "f16 %04zx -> %04x", i, out[i]);
    /* F32 inputs around every F16 rounding boundary: the F16 values, the midpoints to their
     * neighbours and one F32 ulp either side of the midpoints */
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)i;
        float v = hcl_f16_to_f32(h), w = hcl_f16_to_f32((uint16_t)(h + 1));
        float mid = (isfinite(v) && isfinite(w) && (h & 0x7fff) != 0x7bff) ? (float)(((double)v + w) / 2) : v;
        if ((h & 0x7fff) == 0x7bff) mid = h & 0x8000 ? -65520.0f : 65520.0f;
        switch (i % 4) {
        case 0: f[i] = v; break;
        case 1: f[i] = mid; break;
        case 2: f[i] = nextafterf(mid, INFINITY); break;
        default: f[i] = nextafterf(mid, -INFINITY); break;
        }
    }
    f[1] = 1e-30f; f[2] = -3e-39f; f[3] = INFINITY; f[5] = NAN; f[6] = 1e30f; f[7] = 5.9604644775390625e-8f * 0.5f;
    CK_OK(ctx, hcl_tensor_upload_raw(x32, f, n * 4));
    CK_OK(ctx, hcl_scale(ctx, y16, x32, 1.0f));
    CK_OK(ctx, hcl_scale(ctx, yb, x32, 1.0f));
    CK_OK(ctx, hcl_tensor_download_raw(y16, out, n * 2));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(same_f16(out[i], hcl_f32_to_f16(f[i])), "f32 %a -> f16 %04x, want %04x", f[i], out[i], hcl_f32_to_f16(f[i]));
    CK_OK(ctx, hcl_tensor_download_raw(yb, out, n * 2));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(same_bf16(out[i], hcl_f32_to_bf16(f[i])), "f32 %a -> bf16 %04x, want %04x", f[i], out[i], hcl_f32_to_bf16(f[i]));
    free(bits); free(out); free(f);
    hcl_tensor_free(x16); hcl_tensor_free(y16); hcl_tensor_free(yb); hcl_tensor_free(x32);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context(), *other = test_context();
    int64_t s8 = 8, s9 = 9, s16 = 16, s2x4[2] = {2, 4}, s3 = 3;
    hcl_tensor *a = NULL, *b = NULL, *y = NULL, *y9 = NULL, *i8 = NULL, *o8 = NULL, *big = NULL, *v0 = NULL, *v1 = NULL;
    hcl_tensor *m = NULL, *b3 = NULL, *i1 = NULL, *i2 = NULL, *lab = NULL, *sc = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s8, &a));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, &s8, &b));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s8, &y));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s9, &y9));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, &s8, &i8));
    CK_OK(other, hcl_tensor_create(other, HCL_F32, 1, &s8, &o8));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s16, &big));
    CK_OK(ctx, hcl_tensor_view(big, 0, 1, &s8, &v0));
    CK_OK(ctx, hcl_tensor_view(big, 1, 1, &s8, &v1)); /* overlaps v0 */
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, s2x4, &m));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &s3, &b3));
    int64_t one = 1, two = 2;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, &one, &i1));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, &two, &i2));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, &two, &lab));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 0, NULL, &sc));
    /* binary */
    CK_STATUS(ctx, hcl_binary(NULL, y, a, b, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_binary(ctx, NULL, a, b, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_binary(ctx, y, NULL, b, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_binary(ctx, y, a, NULL, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_binary(ctx, i8, a, b, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_binary(ctx, y, i8, b, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_binary(ctx, y, a, o8, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_binary(ctx, y, a, b, (hcl_binary_op)3, HCL_BCAST_NONE), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_binary(ctx, y, a, b, HCL_OP_ADD, (hcl_broadcast)3), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_binary(ctx, y9, a, b, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_binary(ctx, y, a, y9, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_binary(ctx, y, a, b3, HCL_OP_ADD, HCL_BCAST_CHANNEL), HCL_ERR_SHAPE);  /* rank 1 */
    CK_STATUS(ctx, hcl_binary(ctx, m, m, b3, HCL_OP_ADD, HCL_BCAST_CHANNEL), HCL_ERR_SHAPE);  /* 4 channels */
    CK_STATUS(ctx, hcl_binary(ctx, m, m, b3, HCL_OP_ADD, HCL_BCAST_ROW), HCL_ERR_SHAPE);      /* rows of 4 */
    CK_STATUS(ctx, hcl_binary(ctx, sc, sc, sc, HCL_OP_ADD, HCL_BCAST_ROW), HCL_ERR_SHAPE);    /* rank 0 */
    CK_STATUS(ctx, hcl_binary(ctx, v1, v0, a, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_ALIASING); /* y overlaps a */
    CK_STATUS(ctx, hcl_binary(ctx, y, a, y, HCL_OP_ADD, HCL_BCAST_NONE), HCL_ERR_ALIASING);   /* y == b */
    /* scale, axpy */
    CK_STATUS(ctx, hcl_scale(NULL, y, a, 1), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_scale(ctx, NULL, a, 1), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_scale(ctx, y, NULL, 1), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_scale(ctx, y, i8, 1), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_scale(ctx, y9, a, 1), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_scale(ctx, y, o8, 1), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_scale(ctx, v1, v0, 1), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_axpy(NULL, y, 1, a), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_axpy(ctx, NULL, 1, a), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_axpy(ctx, y, 1, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_axpy(ctx, i8, 1, a), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_axpy(ctx, y9, 1, a), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_axpy(ctx, y, 1, o8), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_axpy(ctx, y, 1, y), HCL_ERR_ALIASING);
    /* reduce */
    CK_STATUS(ctx, hcl_reduce(NULL, b3, m, 0, HCL_REDUCE_SUM), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_reduce(ctx, NULL, m, 0, HCL_REDUCE_SUM), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_reduce(ctx, b3, NULL, 0, HCL_REDUCE_SUM), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_reduce(ctx, i2, m, 1, HCL_REDUCE_SUM), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_reduce(ctx, b3, m, 0, HCL_REDUCE_SUM), HCL_ERR_SHAPE);  /* want 4 */
    CK_STATUS(ctx, hcl_reduce(ctx, y, m, 2, HCL_REDUCE_SUM), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_reduce(ctx, y, m, -3, HCL_REDUCE_SUM), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_reduce(ctx, sc, a, 0, (hcl_reduce_op)3), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_reduce(ctx, sc, o8, 0, HCL_REDUCE_SUM), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_reduce(ctx, sc, sc, 0, HCL_REDUCE_SUM), HCL_ERR_INVALID_ARGUMENT);  /* rank 0 has no axis */
    {
        hcl_tensor *v2 = NULL;
        CK_OK(ctx, hcl_tensor_view(big, 0, 0, NULL, &v2)); /* y inside x */
        CK_STATUS(ctx, hcl_reduce(ctx, v2, v0, 0, HCL_REDUCE_SUM), HCL_ERR_ALIASING);
        hcl_tensor_free(v2);
    }
    /* reduce_broadcast */
    CK_STATUS(ctx, hcl_reduce_broadcast(NULL, b3, m, HCL_BCAST_ROW, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, NULL, m, HCL_BCAST_ROW, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, NULL, HCL_BCAST_ROW, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, i2, m, HCL_BCAST_CHANNEL, 0), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, o8, HCL_BCAST_ROW, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, m, (hcl_broadcast)7, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, m, HCL_BCAST_ROW, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, m, HCL_BCAST_CHANNEL, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, a, HCL_BCAST_CHANNEL, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, y9, a, HCL_BCAST_NONE, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, b3, sc, HCL_BCAST_ROW, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_reduce_broadcast(ctx, v1, v0, HCL_BCAST_NONE, 0), HCL_ERR_ALIASING);
    /* argmax, count_correct */
    CK_STATUS(ctx, hcl_argmax(NULL, i2, m), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_argmax(ctx, NULL, m), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_argmax(ctx, i2, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_argmax(ctx, b3, m), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_argmax(ctx, i2, i8), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_argmax(ctx, i1, m), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_argmax(ctx, i2, sc), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_argmax(ctx, i2, o8), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_count_correct(NULL, i1, m, lab), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_count_correct(ctx, NULL, m, lab), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, NULL, lab), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, m, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_count_correct(ctx, sc, m, lab), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, i2, lab), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, m, b3), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_count_correct(ctx, i2, m, lab), HCL_ERR_SHAPE);  /* two elements */
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, a, lab), HCL_ERR_SHAPE);  /* logits rank 1 */
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, m, i1), HCL_ERR_SHAPE);   /* one label for 2 rows */
    CK_STATUS(ctx, hcl_count_correct(ctx, i1, o8, lab), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_count_correct(ctx, lab, m, lab), HCL_ERR_SHAPE);
    ck_assert_str_ne(hcl_last_error(ctx), "");
    hcl_tensor *all[] = {a, b, y, y9, i8, o8, v0, v1, big, m, b3, i1, i2, lab, sc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hcl_tensor_free(all[i]);
    hcl_context_free(other);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, each_dtype, 0, 3);
    tcase_add_test(tc, mixed_dtypes);
    tcase_add_test(tc, vector_path);
    tcase_add_test(tc, native_half_same_bits);
    tcase_add_loop_test(tc, half_store_rounding, 0, 2);
    tcase_add_test(tc, f16_sums_in_f32);
    tcase_add_loop_test(tc, chunked_reductions, 0, 2);
    tcase_add_test(tc, conversions_exact);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
