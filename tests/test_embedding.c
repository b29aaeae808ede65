/* Embedding: lookup against the host (NaN rows for out-of-range indices), and the deterministic
 * backward bit for bit against a host emulation of its documented order (each row sums its
 * occurrences in index order in FP32, then adds into dtable), against FP64 and finite
 * differences, with heavily repeated indices, reruns compared bit for bit, and bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

static float round_dt(float v, hcl_dtype dt) {
    test_round_to_dtype(&v, 1, dt);
    return v;
}
static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

/* idx values as floats (test_tensor_from converts them to I32). */
static hcl_tensor *idx_tensor(hcl_context *ctx, int rank, const int64_t *shape, const int *idx, size_t n) {
    float *f = test_falloc(n);
    for (size_t i = 0; i < n; i++) f[i] = (float)idx[i];
    hcl_tensor *t = test_tensor_from(ctx, HCL_I32, rank, shape, f);
    free(f);
    return t;
}

typedef struct emb_case { int rank; int64_t ishape[2]; int64_t V, D; int pattern; } emb_case;
/* pattern: 0 uniform over [0,V), 1 only {0, 3, V-1}, 2 all the same index, 3 with out-of-range */
static const emb_case cases[] = {
    {1, {7}, 33, 7, 0}, {2, {3, 11}, 5, 33, 1}, {1, {1}, 1, 1, 2}, {1, {200}, 7, 3, 2},
    {2, {4, 9}, 9, 5, 3}, {1, {300}, 4, 2, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void make_idx(int *idx, size_t n, int V, int pattern) {
    for (size_t i = 0; i < n; i++) {
        switch (pattern) {
        case 1: { int c[3] = {0, 3 % V, V - 1}; idx[i] = c[(int)test_uniform(0, 3)]; break; }
        case 2: idx[i] = V / 2; break;
        case 3: idx[i] = (int)test_uniform(-2, V + 2); break; /* -2..V+1 */
        default: idx[i] = (int)test_uniform(0, V); break;
        }
    }
}

START_TEST(forward_matches_host) {
    hcl_context *ctx = test_context();
    static const hcl_dtype pairs[4][2] = {{HCL_F32, HCL_F32}, {HCL_F16, HCL_F16}, {HCL_BF16, HCL_BF16}, {HCL_F32, HCL_F16}};
    for (int p = 0; p < 4; p++)
        for (size_t ci = 0; ci < NCASES; ci++) {
            emb_case c = cases[ci];
            hcl_dtype tdt = pairs[p][0], ydt = pairs[p][1];
            size_t R = (size_t)c.ishape[0] * (c.rank == 2 ? (size_t)c.ishape[1] : 1), V = (size_t)c.V, D = (size_t)c.D;
            int *idx = calloc(R, sizeof *idx);
            float *tab = test_falloc(V * D);
            make_idx(idx, R, (int)V, c.pattern);
            test_fill_normal(tab, V * D, 1.0);
            test_round_to_dtype(tab, V * D, tdt);
            int64_t ts[2] = {c.V, c.D}, ys[3] = {c.ishape[0], c.ishape[1], c.D};
            ys[c.rank] = c.D;
            hcl_tensor *ti = idx_tensor(ctx, c.rank, c.ishape, idx, R), *tt = test_tensor_from(ctx, tdt, 2, ts, tab);
            hcl_tensor *ty = test_tensor_poisoned(ctx, ydt, c.rank + 1, ys);
            CK_OK(ctx, hcl_tensor_fill(ty, 123.0)); /* NaN rows must be written, not left over */
            CK_OK(ctx, hcl_embedding_forward(ctx, ty, ti, tt));
            float *y = test_download(ty);
            for (size_t r = 0; r < R; r++)
                for (size_t d = 0; d < D; d++) {
                    int v = idx[r];
                    float want = v >= 0 && (size_t)v < V ? round_dt(tab[(size_t)v * D + d], ydt) : NAN;
                    ck_assert_msg(same_bits(y[r * D + d], want), "%s->%s case %zu r=%zu d=%zu idx=%d: %g vs %g (%s)",
                                  hcl_dtype_name(tdt), hcl_dtype_name(ydt), ci, r, d, v, (double)y[r * D + d], (double)want,
                                  test_seed_note());
                }
            free(y);
            free(idx);
            free(tab);
            hcl_tensor_free(ti);
            hcl_tensor_free(tt);
            hcl_tensor_free(ty);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Host emulation of the documented order: s = 0; s += dy[r] for each r with idx[r] == v in
 * increasing r (FP32); dtable[v] = store(load(dtable[v]) + s). */
static void emulate_backward(float *dtab, const float *dy, const int *idx, size_t R, size_t V, size_t D, hcl_dtype tdt) {
    for (size_t v = 0; v < V; v++)
        for (size_t d = 0; d < D; d++) {
            float s = 0.0f;
            int any = 0;
            for (size_t r = 0; r < R; r++)
                if (idx[r] == (int)v) { s += dy[r * D + d]; any = 1; }
            if (any) dtab[v * D + d] = round_dt(dtab[v * D + d] + s, tdt);
        }
}

START_TEST(backward_matches_host_order) {
    hcl_context *ctx = test_context();
    static const hcl_dtype pairs[4][2] = {{HCL_F32, HCL_F32}, {HCL_F16, HCL_F16}, {HCL_BF16, HCL_BF16}, {HCL_F32, HCL_F16}};
    for (int p = 0; p < 4; p++)
        for (size_t ci = 0; ci < NCASES; ci++) {
            emb_case c = cases[ci];
            hcl_dtype tdt = pairs[p][0], ydt = pairs[p][1];
            size_t R = (size_t)c.ishape[0] * (c.rank == 2 ? (size_t)c.ishape[1] : 1), V = (size_t)c.V, D = (size_t)c.D;
            int *idx = calloc(R, sizeof *idx);
            float *dtab0 = test_falloc(V * D), *dy = test_falloc(R * D);
            make_idx(idx, R, (int)V, c.pattern);
            test_fill_uniform(dtab0, V * D, -1, 1);
            test_fill_normal(dy, R * D, 1.0);
            test_round_to_dtype(dtab0, V * D, tdt);
            test_round_to_dtype(dy, R * D, ydt);
            int64_t ts[2] = {c.V, c.D}, ys[3] = {c.ishape[0], c.ishape[1], c.D};
            ys[c.rank] = c.D;
            hcl_tensor *ti = idx_tensor(ctx, c.rank, c.ishape, idx, R), *tt = test_tensor_from(ctx, tdt, 2, ts, dtab0);
            hcl_tensor *tdy = test_tensor_from(ctx, ydt, c.rank + 1, ys, dy);
            CK_OK(ctx, hcl_embedding_backward(ctx, tt, tdy, ti));
            float *got = test_download(tt);
            float *want = test_falloc(V * D);
            memcpy(want, dtab0, V * D * sizeof *want);
            emulate_backward(want, dy, idx, R, V, D, tdt);
            double *ref = calloc(V * D, sizeof *ref);
            for (size_t i = 0; i < V * D; i++) ref[i] = dtab0[i];
            for (size_t r = 0; r < R; r++)
                if (idx[r] >= 0 && (size_t)idx[r] < V)
                    for (size_t d = 0; d < D; d++) ref[(size_t)idx[r] * D + d] += dy[r * D + d];
            for (size_t i = 0; i < V * D; i++)
                ck_assert_msg(same_bits(got[i], want[i]), "%s/%s case %zu element %zu: %a vs host order %a (%s)",
                              hcl_dtype_name(tdt), hcl_dtype_name(ydt), ci, i, (double)got[i], (double)want[i], test_seed_note());
            /* and close to FP64: the FP32 sum of up to 300 terms, then one rounding to the table dtype */
            double tol = tdt == HCL_F32 ? 1e-5 : test_tolerance(tdt);
            ck_assert_msg(test_rel_err(got, ref, V * D) <= tol, "case %zu: rel err %g", ci, test_rel_err(got, ref, V * D));
            free(got); free(want); free(ref); free(idx); free(dtab0); free(dy);
            hcl_tensor_free(ti);
            hcl_tensor_free(tt);
            hcl_tensor_free(tdy);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Heavily repeated indices over several link blocks: two runs from the same dtable give the same
 * bits, and both equal the host order emulation. */
START_TEST(deterministic_repeated_indices) {
    hcl_context *ctx = test_context();
    size_t R = 1000, V = 5, D = 33;
    int *idx = calloc(R, sizeof *idx);
    for (size_t i = 0; i < R; i++) idx[i] = i % 7 == 0 ? 2 : (int)test_uniform(0, 2) * 3; /* {0, 2, 3} */
    float *dy = test_falloc(R * D), *t0 = test_falloc(V * D);
    test_fill_normal(dy, R * D, 1.0);
    test_fill_uniform(t0, V * D, -1, 1);
    int64_t is[1] = {(int64_t)R}, ts[2] = {(int64_t)V, (int64_t)D}, ys[2] = {(int64_t)R, (int64_t)D};
    hcl_tensor *ti = idx_tensor(ctx, 1, is, idx, R), *tdy = test_tensor_from(ctx, HCL_F32, 2, ys, dy);
    uint32_t bits[2][5 * 33];
    for (int run = 0; run < 2; run++) {
        hcl_tensor *tt = test_tensor_from(ctx, HCL_F32, 2, ts, t0);
        CK_OK(ctx, hcl_embedding_backward(ctx, tt, tdy, ti));
        CK_OK(ctx, hcl_tensor_download_raw(tt, bits[run], sizeof bits[run]));
        hcl_tensor_free(tt);
    }
    ck_assert_msg(memcmp(bits[0], bits[1], sizeof bits[0]) == 0, "reruns differ (%s)", test_seed_note());
    emulate_backward(t0, dy, idx, R, V, D, HCL_F32);
    ck_assert_msg(memcmp(bits[0], t0, sizeof bits[0]) == 0, "device differs from the index-order sum (%s)", test_seed_note());
    free(idx); free(dy); free(t0);
    hcl_tensor_free(ti);
    hcl_tensor_free(tdy);
    hcl_context_free(ctx);
}
END_TEST

/* L(table) = sum(w * embedding(idx, table)): finite differences of the FP64 reference vs the
 * analytic gradient (w scattered by idx), and the device backward vs both. */
typedef struct fd_emb { const int *idx; const double *w; size_t R, V, D; } fd_emb;
static double emb_loss(const double *tab, void *user) {
    const fd_emb *f = user;
    double L = 0;
    for (size_t r = 0; r < f->R; r++)
        for (size_t d = 0; d < f->D; d++) L += f->w[r * f->D + d] * tab[(size_t)f->idx[r] * f->D + d];
    return L;
}

START_TEST(backward_vs_finite_differences) {
    hcl_context *ctx = test_context();
    enum { R = 13, V = 6, D = 5 };
    int idx[R];
    make_idx(idx, R, V, 0);
    idx[3] = idx[7] = idx[11] = 4;
    float wf[R * D], tf[V * D], zero[V * D];
    test_fill_normal(wf, R * D, 1.0);
    test_fill_normal(tf, V * D, 1.0);
    double w[R * D], tab[V * D], fd[V * D], an[V * D];
    for (int i = 0; i < R * D; i++) w[i] = wf[i];
    for (int i = 0; i < V * D; i++) { tab[i] = tf[i]; an[i] = 0; zero[i] = 0; }
    fd_emb f = {idx, w, R, V, D};
    test_numeric_grad(emb_loss, &f, tab, V * D, 1e-3, fd);
    for (int r = 0; r < R; r++)
        for (int d = 0; d < D; d++) an[idx[r] * D + d] += w[r * D + d];
    for (int i = 0; i < V * D; i++) ck_assert_msg(fabs(fd[i] - an[i]) < 1e-8 * (1 + fabs(an[i])), "fd %g vs %g", fd[i], an[i]);
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = test_float_dtypes[di];
        float wr[R * D];
        memcpy(wr, wf, sizeof wr);
        test_round_to_dtype(wr, R * D, dt);
        double ref[V * D];
        memset(ref, 0, sizeof ref);
        for (int r = 0; r < R; r++)
            for (int d = 0; d < D; d++) ref[idx[r] * D + d] += wr[r * D + d];
        int64_t is[1] = {R}, ts[2] = {V, D}, ys[2] = {R, D};
        hcl_tensor *ti = idx_tensor(ctx, 1, is, idx, R), *tdy = test_tensor_from(ctx, dt, 2, ys, wr);
        hcl_tensor *tt = test_tensor_from(ctx, dt, 2, ts, zero);
        CK_OK(ctx, hcl_embedding_backward(ctx, tt, tdy, ti));
        float *g = test_download(tt);
        ck_assert_msg(test_rel_err(g, ref, V * D) <= test_tolerance(dt), "%s vs analytic: %g", hcl_dtype_name(dt),
                      test_rel_err(g, ref, V * D));
        if (dt == HCL_F32) ck_assert(test_rel_err(g, fd, V * D) <= 1e-5);
        free(g);
        hcl_tensor_free(ti);
        hcl_tensor_free(tdy);
        hcl_tensor_free(tt);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context();
    int64_t is[1] = {4}, ts[2] = {5, 3}, ys[2] = {4, 3}, bad[2] = {4, 2}, t1[1] = {15}, y3[3] = {4, 1, 3};
    hcl_tensor *idx = test_tensor_poisoned(ctx, HCL_I32, 1, is), *fidx = test_tensor_poisoned(ctx, HCL_F32, 1, is);
    hcl_tensor *tab = test_tensor_poisoned(ctx, HCL_F16, 2, ts), *y = test_tensor_poisoned(ctx, HCL_F32, 2, ys);
    hcl_tensor *yb = test_tensor_poisoned(ctx, HCL_F32, 2, bad), *tab1 = test_tensor_poisoned(ctx, HCL_F32, 1, t1);
    hcl_tensor *y3t = test_tensor_poisoned(ctx, HCL_F32, 3, y3), *iy = test_tensor_poisoned(ctx, HCL_I32, 2, ys);
    hcl_tensor *yv = NULL;
    CK_OK(ctx, hcl_tensor_view(tab, 0, 2, ys, &yv)); /* (4,3) over the table's buffer */
    CK_STATUS(ctx, hcl_embedding_forward(NULL, y, idx, tab), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, NULL, idx, tab), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y, NULL, tab), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y, idx, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y, fidx, tab), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y, idx, tab1), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y, idx, iy), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, yb, idx, tab), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y3t, idx, tab), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, iy, idx, tab), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, yv, idx, tab), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_embedding_backward(ctx, tab, NULL, idx), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_embedding_backward(ctx, tab, yb, idx), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_embedding_backward(ctx, tab, y, fidx), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_embedding_backward(ctx, tab1, y, idx), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_embedding_backward(ctx, tab, yv, idx), HCL_ERR_ALIASING);
    hcl_context *other = test_context();
    hcl_tensor *oi = test_tensor_poisoned(other, HCL_I32, 1, is);
    CK_STATUS(ctx, hcl_embedding_forward(ctx, y, oi, tab), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(oi);
    hcl_context_free(other);
    hcl_tensor *all[] = {yv, idx, fidx, tab, y, yb, tab1, y3t, iy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hcl_tensor_free(all[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("embedding");
    TCase *t = tcase_create("embedding");
    tcase_add_test(t, forward_matches_host);
    tcase_add_test(t, backward_matches_host_order);
    tcase_add_test(t, deterministic_repeated_indices);
    tcase_add_test(t, backward_vs_finite_differences);
    tcase_add_test(t, bad_inputs);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
