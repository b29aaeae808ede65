/* Scaled dot-product attention against FP64 host references (forward out and lse; backward
 * analytic and finite differences) in F32/F16/BF16, all masks, odd T and D, every kernel variant;
 * plus rows with no visible key, large scores, padded keys that influence nothing, determinism,
 * mixed dtypes, views, native vs storage half, the head-dim limit and bad arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* attention.c's test hook: 0 by device, 1 CPU variant (16 lanes), 2 GPU variant (row per
 * work-item, local tiles), 3 8 lanes x 4 work-items per group. */
void hcl_attention_set_variant_for_tests(int variant);

/* HALFCL_TEST_SMALL=1 (the oclgrind run): the T = 70 cases become T = 20, fewer repeats. */
static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && !strcmp(s, "1");
}
static int big_t(void) { return small_run() ? 20 : 70; }

/* ---- problem description and FP64 references ---- */
typedef struct prob {
    int B, Tq, Tk, H, D, causal;
    float scale;     /* as passed to the op (0 = 1/sqrt(D)) */
    const int *kl;   /* NULL or B key lengths */
} prob;

static size_t n_q(const prob *p) { return (size_t)p->B * p->Tq * p->H * p->D; }
static size_t n_k(const prob *p) { return (size_t)p->B * p->Tk * p->H * p->D; }
static size_t n_l(const prob *p) { return (size_t)p->B * p->H * p->Tq; }
static size_t row_at(const prob *p, int T, int b, int t, int h) { return (((size_t)b * T + t) * p->H + h) * p->D; }
static double eff_scale(const prob *p) { return p->scale != 0.0f ? (double)p->scale : (double)(1.0f / sqrtf((float)p->D)); }
static int kmax_of(const prob *p, int b) {
    int m = p->kl ? p->kl[b] : p->Tk;
    return m < 0 ? 0 : m > p->Tk ? p->Tk : m;
}
static int visible(const prob *p, int b, int i, int j) {
    return j < kmax_of(p, b) && (!p->causal || j <= i + p->Tk - p->Tq);
}
static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int d = 0; d < n; d++) s += a[d] * b[d];
    return s;
}

/* Probabilities of row (b, i, h) into pr[Tk] (0 where masked); returns the lse (-inf: no key). */
static double ref_row(const prob *p, const double *q, const double *k, int b, int i, int h, double *pr) {
    const double *qi = q + row_at(p, p->Tq, b, i, h);
    double m = -INFINITY, sc = eff_scale(p);
    for (int j = 0; j < p->Tk; j++) {
        pr[j] = visible(p, b, i, j) ? sc * dot(qi, k + row_at(p, p->Tk, b, j, h), p->D) : -INFINITY;
        m = fmax(m, pr[j]);
    }
    if (m == -INFINITY) {
        for (int j = 0; j < p->Tk; j++) pr[j] = 0;
        return -INFINITY;
    }
    double l = 0;
    for (int j = 0; j < p->Tk; j++) l += pr[j] = pr[j] == -INFINITY ? 0 : exp(pr[j] - m);
    for (int j = 0; j < p->Tk; j++) pr[j] /= l;
    return m + log(l);
}

static void ref_forward(const prob *p, const double *q, const double *k, const double *v, double *out, double *lse) {
    double *pr = malloc((size_t)p->Tk * sizeof *pr);
    ck_assert_ptr_nonnull(pr);
    for (int b = 0; b < p->B; b++)
        for (int h = 0; h < p->H; h++)
            for (int i = 0; i < p->Tq; i++) {
                double ls = ref_row(p, q, k, b, i, h, pr);
                if (lse) lse[((size_t)b * p->H + h) * p->Tq + i] = ls;
                double *o = out + row_at(p, p->Tq, b, i, h);
                for (int d = 0; d < p->D; d++) o[d] = 0;
                for (int j = 0; j < p->Tk; j++) {
                    if (pr[j] == 0) continue;
                    const double *vj = v + row_at(p, p->Tk, b, j, h);
                    for (int d = 0; d < p->D; d++) o[d] += pr[j] * vj[d];
                }
            }
    free(pr);
}

/* dq, dk, dv of sum(dout * out) (overwritten). */
static void ref_backward(const prob *p, const double *q, const double *k, const double *v, const double *g, double *dq,
                         double *dk, double *dv) {
    memset(dq, 0, n_q(p) * sizeof *dq);
    memset(dk, 0, n_k(p) * sizeof *dk);
    memset(dv, 0, n_k(p) * sizeof *dv);
    double *pr = malloc((size_t)p->Tk * sizeof *pr), *dp = malloc((size_t)p->Tk * sizeof *dp), sc = eff_scale(p);
    ck_assert(pr && dp);
    for (int b = 0; b < p->B; b++)
        for (int h = 0; h < p->H; h++)
            for (int i = 0; i < p->Tq; i++) {
                if (ref_row(p, q, k, b, i, h, pr) == -INFINITY) continue;
                size_t ri = row_at(p, p->Tq, b, i, h);
                double delta = 0;
                for (int j = 0; j < p->Tk; j++) {
                    dp[j] = dot(g + ri, v + row_at(p, p->Tk, b, j, h), p->D);
                    delta += pr[j] * dp[j];
                }
                for (int j = 0; j < p->Tk; j++) {
                    if (!visible(p, b, i, j)) continue;
                    size_t rj = row_at(p, p->Tk, b, j, h);
                    double ds = pr[j] * (dp[j] - delta);
                    for (int d = 0; d < p->D; d++) {
                        dq[ri + d] += sc * ds * k[rj + d];
                        dk[rj + d] += sc * ds * q[ri + d];
                        dv[rj + d] += pr[j] * g[ri + d];
                    }
                }
            }
    free(pr);
    free(dp);
}

/* f(q, k, v) = sum(dout * out) over x = [q; k; v], for central differences. */
typedef struct fd_user { const prob *p; const double *g; double *out; } fd_user;
static double fd_fn(const double *x, void *user) {
    fd_user *u = user;
    const prob *p = u->p;
    ref_forward(p, x, x + n_q(p), x + n_q(p) + n_k(p), u->out, NULL);
    double s = 0;
    for (size_t i = 0; i < n_q(p); i++) s += u->g[i] * u->out[i];
    return s;
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---- a problem on the device ---- */
typedef struct att_dt { hcl_dtype q, k, v, out, dout, dq, dk, dv; } att_dt;
static att_dt same_dt(hcl_dtype d) { return (att_dt){d, d, d, d, d, d, d, d}; }

typedef struct fixture {
    hcl_context *ctx;
    prob p;
    att_dt dt;
    int kl_host[8];
    float *q, *k, *v, *g;         /* host inputs, rounded to their dtypes */
    hcl_tensor *tq, *tk, *tv, *tg, *tkl, *tout, *tlse, *tdq, *tdk, *tdv;
    int64_t sq[4], sk[4], sl[3];
} fixture;

/* Random inputs: q, k ~ N(0, qk_scale), v, dout ~ N(0, 1); outputs poisoned. */
static void fx_init(fixture *f, hcl_context *ctx, const prob *p, att_dt dt, double qk_scale) {
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->p = *p;
    f->dt = dt;
    ck_assert(p->B <= 8);
    if (p->kl) {
        memcpy(f->kl_host, p->kl, (size_t)p->B * sizeof(int));
        f->p.kl = f->kl_host;
    }
    int64_t sq[4] = {p->B, p->Tq, p->H, p->D}, sk[4] = {p->B, p->Tk, p->H, p->D}, sl[3] = {p->B, p->H, p->Tq};
    memcpy(f->sq, sq, sizeof sq);
    memcpy(f->sk, sk, sizeof sk);
    memcpy(f->sl, sl, sizeof sl);
    size_t nq = n_q(p), nk = n_k(p);
    f->q = malloc(nq * sizeof(float));
    f->g = malloc(nq * sizeof(float));
    f->k = malloc(nk * sizeof(float));
    f->v = malloc(nk * sizeof(float));
    ck_assert(f->q && f->g && f->k && f->v);
    test_fill_normal(f->q, nq, qk_scale);
    test_fill_normal(f->k, nk, qk_scale);
    test_fill_normal(f->v, nk, 1.0);
    test_fill_normal(f->g, nq, 1.0);
    test_round_to_dtype(f->q, nq, dt.q);
    test_round_to_dtype(f->k, nk, dt.k);
    test_round_to_dtype(f->v, nk, dt.v);
    test_round_to_dtype(f->g, nq, dt.dout);
    f->tq = test_tensor_from(ctx, dt.q, 4, sq, f->q);
    f->tk = test_tensor_from(ctx, dt.k, 4, sk, f->k);
    f->tv = test_tensor_from(ctx, dt.v, 4, sk, f->v);
    f->tg = test_tensor_from(ctx, dt.dout, 4, sq, f->g);
    if (p->kl) {
        float klf[8];
        int64_t sb[1] = {p->B};
        for (int b = 0; b < p->B; b++) klf[b] = (float)p->kl[b];
        f->tkl = test_tensor_from(ctx, HCL_I32, 1, sb, klf);
    }
    f->tout = test_tensor_poisoned(ctx, dt.out, 4, sq);
    f->tlse = test_tensor_poisoned(ctx, HCL_F32, 3, sl);
    f->tdq = test_tensor_poisoned(ctx, dt.dq, 4, sq);
    f->tdk = test_tensor_poisoned(ctx, dt.dk, 4, sk);
    f->tdv = test_tensor_poisoned(ctx, dt.dv, 4, sk);
}

static void fx_free(fixture *f) {
    free(f->q); free(f->k); free(f->v); free(f->g);
    hcl_tensor_free(f->tq); hcl_tensor_free(f->tk); hcl_tensor_free(f->tv); hcl_tensor_free(f->tg);
    hcl_tensor_free(f->tkl); hcl_tensor_free(f->tout); hcl_tensor_free(f->tlse);
    hcl_tensor_free(f->tdq); hcl_tensor_free(f->tdk); hcl_tensor_free(f->tdv);
}

static hcl_attention_desc fx_desc(const fixture *f) {
    hcl_attention_desc d;
    hcl_attention_desc_init(&d);
    d.causal = f->p.causal;
    d.scale = f->p.scale;
    return d;
}

static void fx_forward(fixture *f) {
    hcl_attention_desc d = fx_desc(f);
    CK_OK(f->ctx, hcl_attention_forward(f->ctx, f->tout, f->tlse, f->tq, f->tk, f->tv, f->tkl, &d));
}

/* The backward from the device's own forward out and lse, as in training. */
static void fx_backward(fixture *f) {
    hcl_attention_desc d = fx_desc(f);
    CK_OK(f->ctx, hcl_attention_backward(f->ctx, f->tdq, f->tdk, f->tdv, f->tg, f->tout, f->tlse, f->tq, f->tk, f->tv,
                                         f->tkl, &d));
}

static void describe(const fixture *f, char *buf, size_t len) {
    const prob *p = &f->p;
    snprintf(buf, len, "B%d Tq%d Tk%d H%d D%d causal%d kl%s q/k/v/out %s/%s/%s/%s", p->B, p->Tq, p->Tk, p->H, p->D, p->causal,
             p->kl ? "+" : "-", hcl_dtype_name(f->dt.q), hcl_dtype_name(f->dt.k), hcl_dtype_name(f->dt.v),
             hcl_dtype_name(f->dt.out));
}

/* lse against FP64: -inf exactly where the reference has it, relative error over the rest, each
 * entry's magnitude floored at 1: a row's lse is its max score plus log of a sum >= 1, and the
 * score's F32 dot product errs relative to its terms, not to a sum that cancelled (Tk 1: lse is
 * that one score, near 0 at times; oclgrind's rounding measured 1.7e-5 of such a row set). */
static void check_lse(const fixture *f, const double *ref, double tol, const char *what) {
    size_t n = n_l(&f->p);
    float *lse = test_download(f->tlse);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (ref[i] == -INFINITY) {
            ck_assert_msg(lse[i] == -INFINITY, "%s: lse[%zu] = %g, want -inf (%s)", what, i, lse[i], test_seed_note());
            continue;
        }
        ck_assert_msg(isfinite(lse[i]), "%s: lse[%zu] = %g not finite (%s)", what, i, lse[i], test_seed_note());
        num += (lse[i] - ref[i]) * (lse[i] - ref[i]);
        den += fmax(ref[i] * ref[i], 1.0);
    }
    double err = den > 0 ? sqrt(num / den) : sqrt(num);
    ck_assert_msg(err <= tol, "%s: lse rel err %g > %g (%s)", what, err, tol, test_seed_note());
    free(lse);
}

/* Forward: out within the out dtype's bound of FP64 (scores, softmax and sums are F32; the output
 * rounding dominates), lse within F32's; `extra` widens both (large scores). */
static void fx_check_forward(fixture *f, double extra) {
    const prob *p = &f->p;
    size_t nq = n_q(p), nl = n_l(p);
    double *qd = to_double(f->q, nq), *kd = to_double(f->k, n_k(p)), *vd = to_double(f->v, n_k(p));
    double *ref = malloc(nq * sizeof *ref), *lref = malloc(nl * sizeof *lref);
    ck_assert(ref && lref);
    ref_forward(p, qd, kd, vd, ref, lref);
    float *out = test_download(f->tout);
    char what[160];
    describe(f, what, sizeof what);
    double tol = test_tolerance(f->dt.out) + extra, err = test_rel_err(out, ref, nq);
    ck_assert_msg(err <= tol, "forward %s: out rel err %g > %g (%s)", what, err, tol, test_seed_note());
    check_lse(f, lref, test_tolerance(HCL_F32) + extra, what);
    free(qd); free(kd); free(vd); free(ref); free(lref); free(out);
}

/* Unit roundoff of a storage dtype. */
static double unit_roundoff(hcl_dtype dt) { return dt == HCL_F16 ? ldexp(1.0, -11) : dt == HCL_BF16 ? ldexp(1.0, -8) : ldexp(1.0, -24); }

/* Elementwise first-order error bounds eq, ek, ev of dq, dk, dv (the relative-error allowance
 * is their norm over the reference's) from what the backward cannot do exactly in F32:
 *  - p_ij = exp(scale q_i.k_j - lse_i) recomputed in F32: relative error
 *    eps_ij <= 2^-24 (D scale sum_d |q k| + 2 |lse_i| + 8) (the dot product, lse, exp);
 *  - delta_i = rowsum(dout_i * out_i) from the STORED out: error <= (u_out + D 2^-24) sum_d |dout out|,
 *    and dout_i.v_j in F32: <= D 2^-24 sum_d |dout v|.
 * ds_ij = p_ij (dout_i.v_j - delta_i) cancels where a row is nearly one-hot or D is tiny, which
 * amplifies both: e_ij = p_ij (eps_ij |dout_i.v_j - delta_i| + those two), then
 * eq_i = scale sum_j e_ij |k_j|, ek_j = scale sum_i e_ij |q_i|, ev_j = sum_i p_ij eps_ij |dout_i|. */
static void ref_allowance(const prob *p, const double *q, const double *k, const double *v, const double *g, double u_out,
                          double *eq, double *ek, double *ev) {
    memset(eq, 0, n_q(p) * sizeof *eq);
    memset(ek, 0, n_k(p) * sizeof *ek);
    memset(ev, 0, n_k(p) * sizeof *ev);
    double *pr = malloc((size_t)p->Tk * sizeof *pr), *dp = malloc((size_t)p->Tk * sizeof *dp);
    double *o = malloc((size_t)p->D * sizeof *o), sc = fabs(eff_scale(p)), u32 = ldexp(1.0, -24), uD = p->D * u32;
    ck_assert(pr && dp && o);
    for (int b = 0; b < p->B; b++)
        for (int h = 0; h < p->H; h++)
            for (int i = 0; i < p->Tq; i++) {
                double lse = ref_row(p, q, k, b, i, h, pr);
                if (lse == -INFINITY) continue;
                size_t ri = row_at(p, p->Tq, b, i, h);
                double delta = 0, go = 0;
                for (int d = 0; d < p->D; d++) o[d] = 0;
                for (int j = 0; j < p->Tk; j++) {
                    size_t rj = row_at(p, p->Tk, b, j, h);
                    dp[j] = dot(g + ri, v + rj, p->D);
                    delta += pr[j] * dp[j];
                    for (int d = 0; d < p->D; d++) o[d] += pr[j] * v[rj + d];
                }
                for (int d = 0; d < p->D; d++) go += fabs(g[ri + d] * o[d]);
                for (int j = 0; j < p->Tk; j++) {
                    if (pr[j] == 0) continue;
                    size_t rj = row_at(p, p->Tk, b, j, h);
                    double gv = 0, qk = 0;
                    for (int d = 0; d < p->D; d++) {
                        gv += fabs(g[ri + d] * v[rj + d]);
                        qk += fabs(q[ri + d] * k[rj + d]);
                    }
                    double eps = u32 * (p->D * sc * qk + 2 * fabs(lse) + 8);
                    double e = pr[j] * (eps * fabs(dp[j] - delta) + (u_out + uD) * go + uD * gv) * sc;
                    for (int d = 0; d < p->D; d++) {
                        eq[ri + d] += e * fabs(k[rj + d]);
                        ek[rj + d] += e * fabs(q[ri + d]);
                        ev[rj + d] += pr[j] * eps * fabs(g[ri + d]);
                    }
                }
            }
    free(pr);
    free(dp);
    free(o);
}

/* ||e|| / ||ref||: an elementwise error bound as a relative-error allowance. */
static double rel_norm(const double *e, const double *ref, size_t n) {
    double a = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        a += e[i] * e[i];
        r += ref[i] * ref[i];
    }
    return r > 0 ? sqrt(a / r) : sqrt(a);
}

static void check_grad(const fixture *f, hcl_tensor *t, const double *ref, size_t n, double tol, const char *name,
                       const char *against) {
    float *x = test_download(t);
    char what[160];
    describe(f, what, sizeof what);
    double err = test_rel_err(x, ref, n);
    ck_assert_msg(err <= tol, "backward %s: %s rel err vs %s %g > %g (%s)", what, name, against, err, tol, test_seed_note());
    free(x);
}

/* Backward against the FP64 analytic gradients, and (fd) against central differences of
 * sum(dout * out) in FP64 (exact to ~1e-9 here). Bound: the gradient dtype's, plus the
 * allowance of ref_allowance. */
static void fx_check_backward(fixture *f, int fd) {
    const prob *p = &f->p;
    size_t nq = n_q(p), nk = n_k(p);
    double *qd = to_double(f->q, nq), *kd = to_double(f->k, nk), *vd = to_double(f->v, nk), *gd = to_double(f->g, nq);
    double *dq = malloc(nq * sizeof *dq), *dk = malloc(nk * sizeof *dk), *dv = malloc(nk * sizeof *dv);
    double *eq = malloc(nq * sizeof *eq), *ek = malloc(nk * sizeof *ek), *ev = malloc(nk * sizeof *ev);
    ck_assert(dq && dk && dv && eq && ek && ev);
    ref_backward(p, qd, kd, vd, gd, dq, dk, dv);
    ref_allowance(p, qd, kd, vd, gd, unit_roundoff(f->dt.out), eq, ek, ev);
    double tq = test_tolerance(f->dt.dq) + rel_norm(eq, dq, nq), tk = test_tolerance(f->dt.dk) + rel_norm(ek, dk, nk);
    double tv = test_tolerance(f->dt.dv) + rel_norm(ev, dv, nk);
    check_grad(f, f->tdq, dq, nq, tq, "dq", "analytic");
    check_grad(f, f->tdk, dk, nk, tk, "dk", "analytic");
    check_grad(f, f->tdv, dv, nk, tv, "dv", "analytic");
    if (fd) {
        size_t n = nq + 2 * nk;
        double *x = malloc(n * sizeof *x), *grad = malloc(n * sizeof *grad), *tmp = malloc(nq * sizeof *tmp);
        ck_assert(x && grad && tmp);
        memcpy(x, qd, nq * sizeof *x);
        memcpy(x + nq, kd, nk * sizeof *x);
        memcpy(x + nq + nk, vd, nk * sizeof *x);
        fd_user u = {p, gd, tmp};
        test_numeric_grad(fd_fn, &u, x, n, 1e-5, grad);
        check_grad(f, f->tdq, grad, nq, tq + 1e-6, "dq", "finite differences");
        check_grad(f, f->tdk, grad + nq, nk, tk + 1e-6, "dk", "finite differences");
        check_grad(f, f->tdv, grad + nq + nk, nk, tv + 1e-6, "dv", "finite differences");
        free(x); free(grad); free(tmp);
    }
    free(qd); free(kd); free(vd); free(gd); free(dq); free(dk); free(dv); free(eq); free(ek); free(ev);
}

/* ---- cases ---- */
typedef struct shape5 { int B, Tq, Tk, H, D; } shape5;

/* Mask modes: 0 none, 1 causal, 2 key padding, 3 both. Key lengths: random in [1, Tk], the
 * first batch always padded (Tk - 1 when Tk > 1). */
static prob make_prob(shape5 s, int mode, int *kl) {
    prob p = {s.B, s.Tq, s.Tk, s.H, s.D, mode & 1, 0.0f, NULL};
    if (mode & 2) {
        for (int b = 0; b < s.B; b++) kl[b] = 1 + (int)test_uniform(0, s.Tk);
        kl[0] = s.Tk > 1 ? s.Tk - 1 : 1;
        p.kl = kl;
    }
    return p;
}

static void run_case(hcl_context *ctx, shape5 s, int mode, att_dt dt, int bwd, int fd) {
    int kl[8];
    prob p = make_prob(s, mode, kl);
    fixture f;
    fx_init(&f, ctx, &p, dt, 1.0);
    fx_forward(&f);
    fx_check_forward(&f, 0);
    if (bwd) {
        fx_backward(&f);
        fx_check_backward(&f, fd);
    }
    fx_free(&f);
}

/* T = 1, 7, 33, 70 (20 in small runs); D = 1, 7, 64; H = 1, 3; B = 1, 2; Tq < Tk, Tq > Tk. */
static shape5 shape_at(int i) {
    int T = big_t();
    shape5 shapes[] = {{1, 1, 1, 1, 1}, {2, 7, 7, 3, 7},  {1, 33, 33, 1, 64}, {2, T, 33, 3, 7},  {1, 7, T, 1, 64},
                       {2, 33, T, 1, 1}, {1, T, T, 3, 64}, {2, 1, 33, 3, 64},  {1, 33, 1, 1, 7}, {2, 33, 7, 1, 64}};
    return shapes[i];
}
#define N_SHAPES 10

START_TEST(forward_shapes_masks_dtypes) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (int mode = 0; mode < 4; mode++)
            for (int s = 0; s < N_SHAPES; s++) run_case(ctx, shape_at(s), mode, same_dt(test_float_dtypes[d]), 0, 0);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(backward_shapes_masks_dtypes) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (int mode = 0; mode < 4; mode++)
            for (int s = 0; s < N_SHAPES; s++) run_case(ctx, shape_at(s), mode, same_dt(test_float_dtypes[d]), 1, 0);
    hcl_context_free(ctx);
}
END_TEST

/* Central differences on small problems (every input element perturbed). */
START_TEST(backward_finite_differences) {
    hcl_context *ctx = test_context();
    static const shape5 shapes[] = {{1, 5, 7, 2, 7}, {2, 7, 4, 1, 1}, {1, 3, 4, 1, 64}};
    for (int d = 0; d < 3; d++)
        for (int mode = 0; mode < 4; mode++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                run_case(ctx, shapes[s], mode, same_dt(test_float_dtypes[d]), 1, 1);
    hcl_context_free(ctx);
}
END_TEST

/* Every kernel variant on any device (the others are what CPUs or GPUs take by default): tiles
 * with partial and fully masked blocks, several work-items per group, T past one group (of 64
 * rows in variant 2), D with only a tail, only 16-element chunks, and both. The load/store
 * conversions are the same code in every variant (F32 and F16 here; every dtype in the main
 * tests). Each (variant, D, dtypes) is a program build: few of them. */
START_TEST(variants) {
    hcl_context *ctx = test_context();
    int T = big_t();
    const shape5 shapes[] = {{2, T, 33, 3, 7}, {1, 33, T, 1, 64}, {2, 7, 7, 1, 7}, {1, T + 60, T + 61, 1, 20}, {2, 19, 35, 2, 20}};
    for (int variant = 1; variant <= 3; variant++) {
        hcl_attention_set_variant_for_tests(variant);
        for (int mode = 0; mode < 4; mode++)
            for (int s = 0; s < 5; s++) {
                if (small_run() && s == 3) continue;
                run_case(ctx, shapes[s], mode, same_dt(s < 3 ? HCL_F32 : HCL_F16), 1, 0);
            }
    }
    hcl_attention_set_variant_for_tests(0);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(mixed_dtypes) {
    hcl_context *ctx = test_context();
    shape5 s = {2, 9, 13, 2, 20};
    att_dt a = {HCL_F16, HCL_BF16, HCL_F32, HCL_F32, HCL_BF16, HCL_F32, HCL_F16, HCL_BF16};
    att_dt b = {HCL_F32, HCL_F16, HCL_BF16, HCL_F16, HCL_F32, HCL_BF16, HCL_F32, HCL_F16};
    for (int mode = 0; mode < 4; mode++) {
        run_case(ctx, s, mode, a, 1, 0);
        run_case(ctx, s, mode, b, 1, 0);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Rows with no visible key: causal with Tq > Tk (query i < Tq - Tk sees nothing) and a batch
 * whose key length is 0. out = 0 and lse = -inf there, dq = 0, and the keys of that batch get
 * dk = dv = 0; every other row is checked against FP64 by the usual checks. */
START_TEST(no_visible_key) {
    hcl_context *ctx = test_context();
    for (int variant = 0; variant <= 2; variant += 2) {
        hcl_attention_set_variant_for_tests(variant);
        for (int d = 0; d < (variant ? 1 : 3); d++) {
            int kl[2] = {0, 5};
            prob p = {2, 9, 5, 2, 7, 1, 0.0f, kl};
            fixture f;
            fx_init(&f, ctx, &p, same_dt(test_float_dtypes[d]), 1.0);
            fx_forward(&f);
            fx_check_forward(&f, 0);
            fx_backward(&f);
            fx_check_backward(&f, 0);
            float *out = test_download(f.tout), *lse = test_download(f.tlse), *dq = test_download(f.tdq);
            float *dk = test_download(f.tdk), *dv = test_download(f.tdv);
            for (int b = 0; b < 2; b++)
                for (int h = 0; h < 2; h++)
                    for (int i = 0; i < 9; i++) {
                        if (b == 1 && i >= 4) continue; /* sees keys 0 .. i - 4 */
                        ck_assert_msg(lse[((size_t)b * 2 + h) * 9 + i] == -INFINITY, "lse b%d h%d i%d = %g", b, h, i,
                                      lse[((size_t)b * 2 + h) * 9 + i]);
                        for (int dd = 0; dd < 7; dd++) {
                            size_t r = row_at(&f.p, 9, b, i, h) + dd;
                            ck_assert_msg(out[r] == 0.0f && dq[r] == 0.0f, "row b%d h%d i%d: out %g dq %g", b, h, i, out[r], dq[r]);
                        }
                    }
            for (size_t e = 0; e < n_k(&f.p) / 2; e++)
                ck_assert_msg(dk[e] == 0.0f && dv[e] == 0.0f, "batch 0 dk/dv[%zu] = %g/%g, want 0", e, dk[e], dv[e]);
            free(out); free(lse); free(dq); free(dk); free(dv);
            fx_free(&f);
        }
    }
    hcl_attention_set_variant_for_tests(0);
    hcl_context_free(ctx);
}
END_TEST

/* q, k ~ N(0, 6) at D = 64 and scale 1: scores of a few hundred up to ~1e3. Everything finite;
 * out and lse against FP64 within the dtype bound plus the F32 error of the scores themselves
 * (a score carries ~sqrt(D) * 2^-24 * sum |q k| absolute error, which exp turns into a relative
 * one of the same size); the backward against FP64 with the allowance of ref_allowance, which
 * accounts for the same score errors. */
START_TEST(large_scores) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < 3; d++)
        for (int mode = 0; mode < 4; mode += 3) {
            int kl[2];
            shape5 s = {2, 21, 37, 2, 64};
            prob p = make_prob(s, mode, kl);
            p.scale = 1.0f;
            fixture f;
            fx_init(&f, ctx, &p, same_dt(test_float_dtypes[d]), 6.0);
            double smax = 0, abs_sum = 0;
            for (int b = 0; b < p.B; b++)
                for (int h = 0; h < p.H; h++)
                    for (int i = 0; i < p.Tq; i++)
                        for (int j = 0; j < p.Tk; j++) {
                            const float *qi = f.q + row_at(&p, p.Tq, b, i, h), *kj = f.k + row_at(&p, p.Tk, b, j, h);
                            double sc = 0, sa = 0;
                            for (int e = 0; e < p.D; e++) {
                                sc += (double)qi[e] * kj[e];
                                sa += fabs((double)qi[e] * kj[e]);
                            }
                            smax = fmax(smax, fabs(sc));
                            abs_sum = fmax(abs_sum, sa);
                        }
            ck_assert_msg(smax > 500, "scores only reach %g", smax);
            double extra = 4 * sqrt((double)p.D) * ldexp(1.0, -24) * abs_sum;
            fx_forward(&f);
            fx_check_forward(&f, extra);
            fx_backward(&f);
            float *g[3] = {test_download(f.tdq), test_download(f.tdk), test_download(f.tdv)};
            size_t n[3] = {n_q(&p), n_k(&p), n_k(&p)};
            for (int t = 0; t < 3; t++) {
                for (size_t e = 0; e < n[t]; e++) ck_assert_msg(isfinite(g[t][e]), "gradient %d[%zu] = %g", t, e, g[t][e]);
                free(g[t]);
            }
            fx_check_backward(&f, 0);
            fx_free(&f);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Keys at or past key_lengths[b] never influence anything: replacing k and v there by other
 * values (huge, inf, NaN) leaves out, lse, dq and the dk/dv of unpadded keys bit-identical, and
 * dk, dv of padded keys are exactly 0. */
static void check_padding_isolated(hcl_context *ctx, hcl_dtype dt, int causal) {
    int kl[2] = {11, 4};
    prob p = {2, 13, 17, 3, 64, causal, 0.0f, kl};
    fixture f;
    fx_init(&f, ctx, &p, same_dt(dt), 1.0);
    fx_forward(&f);
    fx_backward(&f);
    hcl_tensor *res[5] = {f.tout, f.tlse, f.tdq, f.tdk, f.tdv};
    size_t bytes[5];
    unsigned char *first[5];
    for (int t = 0; t < 5; t++) {
        bytes[t] = hcl_tensor_bytes(res[t]);
        first[t] = malloc(bytes[t]);
        ck_assert_ptr_nonnull(first[t]);
        CK_OK(ctx, hcl_tensor_download_raw(res[t], first[t], bytes[t]));
    }
    static const float junk[] = {1e30f, -INFINITY, INFINITY, NAN, 3e4f, -7.0f};
    for (int b = 0; b < p.B; b++)
        for (int j = kl[b]; j < p.Tk; j++)
            for (int h = 0; h < p.H; h++)
                for (int e = 0; e < p.D; e++) {
                    size_t r = row_at(&p, p.Tk, b, j, h) + e;
                    f.k[r] = junk[(r + 1) % 6];
                    f.v[r] = junk[r % 6];
                }
    CK_OK(ctx, hcl_tensor_upload_f32(f.tk, f.k, n_k(&p)));
    CK_OK(ctx, hcl_tensor_upload_f32(f.tv, f.v, n_k(&p)));
    for (int t = 0; t < 5; t++) CK_OK(ctx, hcl_tensor_fill_bits(res[t], t == 1 ? 0x7fc00000u : dt == HCL_F32 ? 0x7fc00000u : dt == HCL_F16 ? 0x7e00u : 0x7fc0u));
    fx_forward(&f);
    fx_backward(&f);
    size_t es = hcl_dtype_size(dt);
    for (int t = 0; t < 5; t++) {
        unsigned char *second = malloc(bytes[t]);
        ck_assert_ptr_nonnull(second);
        CK_OK(ctx, hcl_tensor_download_raw(res[t], second, bytes[t]));
        if (t < 3) {
            ck_assert_msg(memcmp(first[t], second, bytes[t]) == 0, "%s causal %d: result %d changed with padded k/v",
                          hcl_dtype_name(dt), causal, t);
        } else {
            float *vals = test_download(res[t]);
            for (int b = 0; b < p.B; b++)
                for (int j = 0; j < p.Tk; j++)
                    for (int h = 0; h < p.H; h++) {
                        size_t r = row_at(&p, p.Tk, b, j, h);
                        if (j < kl[b]) {
                            ck_assert_msg(memcmp(first[t] + r * es, second + r * es, (size_t)p.D * es) == 0,
                                          "%s causal %d: d%s of unpadded key b%d j%d h%d changed", hcl_dtype_name(dt), causal,
                                          t == 3 ? "k" : "v", b, j, h);
                        } else {
                            for (int e = 0; e < p.D; e++)
                                ck_assert_msg(vals[r + e] == 0.0f, "%s: d%s of padded key b%d j%d = %g, want 0", hcl_dtype_name(dt),
                                              t == 3 ? "k" : "v", b, j, vals[r + e]);
                        }
                    }
            free(vals);
        }
        free(second);
        free(first[t]);
    }
    fx_free(&f);
}

START_TEST(padding_never_influences) {
    hcl_context *ctx = test_context();
    for (int variant = 0; variant <= 3; variant += variant ? 1 : 2) {
        hcl_attention_set_variant_for_tests(variant);
        for (int d = 0; d < (variant ? 1 : 3); d++)  /* variants 2, 3: F32 (programs the variants test builds) */
            for (int causal = 0; causal < 2; causal++) check_padding_isolated(ctx, test_float_dtypes[d], causal);
    }
    hcl_attention_set_variant_for_tests(0);
    hcl_context_free(ctx);
}
END_TEST

/* The same inputs give the same bits, forward and backward. */
START_TEST(deterministic) {
    hcl_context *ctx = test_context();
    int kl[2] = {30, 17};
    prob p = {2, 37, 41, 2, 64, 1, 0.0f, kl};
    fixture f;
    fx_init(&f, ctx, &p, same_dt(HCL_F16), 1.0);
    hcl_tensor *res[5] = {f.tout, f.tlse, f.tdq, f.tdk, f.tdv};
    unsigned char *first[5];
    fx_forward(&f);
    fx_backward(&f);
    for (int t = 0; t < 5; t++) {
        first[t] = malloc(hcl_tensor_bytes(res[t]));
        ck_assert_ptr_nonnull(first[t]);
        CK_OK(ctx, hcl_tensor_download_raw(res[t], first[t], hcl_tensor_bytes(res[t])));
    }
    for (int rep = 0; rep < 2; rep++) {
        fx_forward(&f);
        fx_backward(&f);
        for (int t = 0; t < 5; t++) {
            unsigned char *again = malloc(hcl_tensor_bytes(res[t]));
            ck_assert_ptr_nonnull(again);
            CK_OK(ctx, hcl_tensor_download_raw(res[t], again, hcl_tensor_bytes(res[t])));
            ck_assert_msg(memcmp(first[t], again, hcl_tensor_bytes(res[t])) == 0, "result %d differs on rerun %d", t, rep);
            free(again);
        }
    }
    for (int t = 0; t < 5; t++) free(first[t]);
    fx_free(&f);
    hcl_context_free(ctx);
}
END_TEST

/* Every tensor a view at an odd offset inside a poisoned buffer: results land at the offset and
 * nothing outside the views is written; the explicit scale is used. */
START_TEST(views_at_offsets) {
    hcl_context *ctx = test_context();
    int kl[2] = {6, 9};
    prob p = {2, 5, 9, 3, 7, 1, 0.37f, kl};
    size_t nq = n_q(&p), nk = n_k(&p), nl = n_l(&p), pad = 7;
    fixture f;
    fx_init(&f, ctx, &p, same_dt(HCL_F32), 1.0);
    int64_t big[1] = {(int64_t)(3 * nq + 2 * nk + nl + 8 * pad)};
    hcl_tensor *base = test_tensor_poisoned(ctx, HCL_F32, 1, big), *vo = NULL, *vl = NULL, *vdq = NULL, *vdk = NULL, *vdv = NULL;
    size_t o_out = pad, o_lse = o_out + nq + pad, o_dq = o_lse + nl + pad, o_dk = o_dq + nq + pad, o_dv = o_dk + nk + pad;
    CK_OK(ctx, hcl_tensor_view(base, o_out, 4, f.sq, &vo));
    CK_OK(ctx, hcl_tensor_view(base, o_lse, 3, f.sl, &vl));
    CK_OK(ctx, hcl_tensor_view(base, o_dq, 4, f.sq, &vdq));
    CK_OK(ctx, hcl_tensor_view(base, o_dk, 4, f.sk, &vdk));
    CK_OK(ctx, hcl_tensor_view(base, o_dv, 4, f.sk, &vdv));
    hcl_tensor *keep[5] = {f.tout, f.tlse, f.tdq, f.tdk, f.tdv};
    f.tout = vo; f.tlse = vl; f.tdq = vdq; f.tdk = vdk; f.tdv = vdv;
    fx_forward(&f);
    fx_check_forward(&f, 0);
    fx_backward(&f);
    fx_check_backward(&f, 0);
    float *all = test_download(base);
    size_t ends[5] = {o_out + nq, o_lse + nl, o_dq + nq, o_dk + nk, o_dv + nk};
    for (size_t i = 0; i < pad; i++) {
        ck_assert_msg(isnan(all[i]), "wrote before the first view");
        for (int t = 0; t < 5; t++) ck_assert_msg(isnan(all[ends[t] + i]), "wrote past view %d", t);
    }
    free(all);
    f.tout = keep[0]; f.tlse = keep[1]; f.tdq = keep[2]; f.tdk = keep[3]; f.tdv = keep[4];
    hcl_tensor_free(vo); hcl_tensor_free(vl); hcl_tensor_free(vdq); hcl_tensor_free(vdk); hcl_tensor_free(vdv);
    fx_free(&f);
    hcl_tensor_free(base);
    hcl_context_free(ctx);
}
END_TEST

/* D = HCL_ATTENTION_MAX_D works (against FP64); one more is HCL_ERR_INVALID_ARGUMENT. */
START_TEST(head_dim_limit) {
    hcl_context *ctx = test_context();
    run_case(ctx, (shape5){1, 19, 21, 2, HCL_ATTENTION_MAX_D}, 3, same_dt(HCL_F32), 1, 0);
    int64_t s[4] = {1, 3, 1, HCL_ATTENTION_MAX_D + 1}, sl[3] = {1, 1, 3};
    hcl_tensor *q = test_tensor_poisoned(ctx, HCL_F32, 4, s), *o = test_tensor_poisoned(ctx, HCL_F32, 4, s);
    hcl_tensor *g = test_tensor_poisoned(ctx, HCL_F32, 4, s), *k = test_tensor_poisoned(ctx, HCL_F32, 4, s);
    hcl_tensor *v = test_tensor_poisoned(ctx, HCL_F32, 4, s), *l = test_tensor_poisoned(ctx, HCL_F32, 3, sl);
    hcl_tensor *dq = test_tensor_poisoned(ctx, HCL_F32, 4, s), *dk = test_tensor_poisoned(ctx, HCL_F32, 4, s);
    hcl_tensor *dv = test_tensor_poisoned(ctx, HCL_F32, 4, s);
    hcl_attention_desc desc;
    hcl_attention_desc_init(&desc);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, NULL, &desc), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l, q, k, v, NULL, &desc), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(q); hcl_tensor_free(o); hcl_tensor_free(g); hcl_tensor_free(k); hcl_tensor_free(v); hcl_tensor_free(l);
    hcl_tensor_free(dq); hcl_tensor_free(dk); hcl_tensor_free(dv);
    hcl_context_free(ctx);
}
END_TEST

/* On a cl_khr_fp16 device the native-half F16 variant gives the storage variant's bits (only
 * loads and stores differ, both exact); elsewhere both contexts are the same. */
START_TEST(native_half_same_bits) {
    hcl_context *nat = test_context_half(HCL_HALF_NATIVE), *sto = test_context_half(HCL_HALF_STORAGE);
    int kl[2] = {20, 7};
    prob p = {2, 19, 23, 2, 64, 1, 0.0f, kl};
    fixture a, b;
    test_rng_reset(test_seed() + 11);
    fx_init(&a, nat, &p, same_dt(HCL_F16), 1.0);
    test_rng_reset(test_seed() + 11);
    fx_init(&b, sto, &p, same_dt(HCL_F16), 1.0);
    fx_forward(&a); fx_backward(&a);
    fx_forward(&b); fx_backward(&b);
    test_assert_same_f16(a.tout, b.tout, n_q(&p), "out");
    test_assert_same_f16(a.tdq, b.tdq, n_q(&p), "dq");
    test_assert_same_f16(a.tdk, b.tdk, n_k(&p), "dk");
    test_assert_same_f16(a.tdv, b.tdv, n_k(&p), "dv");
    fx_free(&a);
    fx_free(&b);
    hcl_context_free(nat);
    hcl_context_free(sto);
}
END_TEST

START_TEST(bad_arguments) {
    hcl_context *ctx = test_context();
    int64_t sq[4] = {2, 5, 3, 7}, sk[4] = {2, 6, 3, 7}, sl[3] = {2, 3, 5}, sb[1] = {2};
    int64_t s_badk[4] = {2, 6, 2, 7}, s_badd[4] = {2, 6, 3, 5}, s_badb[4] = {1, 6, 3, 7}, s_r3[3] = {2, 5, 21};
    int64_t sl_bad[3] = {2, 5, 3}, sb_bad[1] = {3};
    hcl_tensor *q = test_tensor_poisoned(ctx, HCL_F32, 4, sq), *k = test_tensor_poisoned(ctx, HCL_F32, 4, sk);
    hcl_tensor *v = test_tensor_poisoned(ctx, HCL_F32, 4, sk), *o = test_tensor_poisoned(ctx, HCL_F32, 4, sq);
    hcl_tensor *l = test_tensor_poisoned(ctx, HCL_F32, 3, sl), *kl = test_tensor_poisoned(ctx, HCL_I32, 1, sb);
    hcl_tensor *g = test_tensor_poisoned(ctx, HCL_F32, 4, sq), *dq = test_tensor_poisoned(ctx, HCL_F32, 4, sq);
    hcl_tensor *dk = test_tensor_poisoned(ctx, HCL_F32, 4, sk), *dv = test_tensor_poisoned(ctx, HCL_F32, 4, sk);
    hcl_tensor *qi = test_tensor_poisoned(ctx, HCL_I32, 4, sq), *l16 = test_tensor_poisoned(ctx, HCL_F16, 3, sl);
    hcl_tensor *klf = test_tensor_poisoned(ctx, HCL_F32, 1, sb), *kl3 = test_tensor_poisoned(ctx, HCL_I32, 1, sb_bad);
    hcl_tensor *kbad = test_tensor_poisoned(ctx, HCL_F32, 4, s_badk), *kbadd = test_tensor_poisoned(ctx, HCL_F32, 4, s_badd);
    hcl_tensor *kbadb = test_tensor_poisoned(ctx, HCL_F32, 4, s_badb), *q3 = test_tensor_poisoned(ctx, HCL_F32, 3, s_r3);
    hcl_tensor *lbad = test_tensor_poisoned(ctx, HCL_F32, 3, sl_bad), *obad = test_tensor_poisoned(ctx, HCL_F32, 4, sk);
    /* views of one buffer: vq and vo overlap */
    int64_t big[1] = {420};
    hcl_tensor *base = test_tensor_poisoned(ctx, HCL_F32, 1, big), *vq = NULL, *vo = NULL;
    CK_OK(ctx, hcl_tensor_view(base, 0, 4, sq, &vq));
    CK_OK(ctx, hcl_tensor_view(base, 200, 4, sq, &vo)); /* 210 elements each: overlap by 10 */
    hcl_attention_desc d;
    hcl_attention_desc_init(&d);
    ck_assert_int_eq(d.causal, 0);
    ck_assert(d.scale == 0.0f);
    hcl_attention_desc_init(NULL);

    /* forward */
    ck_assert_int_eq(hcl_attention_forward(NULL, o, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_attention_forward(ctx, o, l, q, k, v, kl, &d));
    CK_OK(ctx, hcl_attention_forward(ctx, o, l, q, k, v, NULL, &d));
    CK_STATUS(ctx, hcl_attention_forward(ctx, NULL, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, NULL, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, NULL, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, NULL, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, NULL, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, kl, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, qi, k, v, kl, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, qi, l, q, k, v, kl, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l16, q, k, v, kl, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, klf, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, kl3, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q3, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, kbad, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, kbadd, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, kbadb, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, kbad, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, obad, l, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, lbad, q, k, v, kl, &d), HCL_ERR_SHAPE);
    d.scale = INFINITY;
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, kl, &d), HCL_ERR_INVALID_ARGUMENT);
    d.scale = NAN;
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, kl, &d), HCL_ERR_INVALID_ARGUMENT);
    d.scale = 0.0f;
    CK_STATUS(ctx, hcl_attention_forward(ctx, q, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_forward(ctx, vo, l, vq, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, l, &d), HCL_ERR_DTYPE); /* I32 check before aliasing */

    /* backward */
    ck_assert_int_eq(hcl_attention_backward(NULL, dq, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l, q, k, v, kl, &d));
    CK_STATUS(ctx, hcl_attention_backward(ctx, NULL, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, NULL, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, NULL, g, o, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, NULL, o, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, NULL, l, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, NULL, q, k, v, kl, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l, q, k, v, kl, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l16, q, k, v, kl, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, qi, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, qi, o, l, q, k, v, kl, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l, q, k, v, klf, &d), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dk, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dq, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dq, g, o, l, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, dk, o, l, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, obad, l, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, lbad, q, k, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l, q, kbad, v, kl, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, g, o, l, q, k, v, kl3, &d), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_attention_backward(ctx, g, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, o, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, q, dk, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dv, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dk, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, k, dv, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, v, g, o, l, q, k, v, kl, &d), HCL_ERR_ALIASING);
    CK_STATUS(ctx, hcl_attention_backward(ctx, vo, dk, dv, g, o, l, vq, k, v, kl, &d), HCL_ERR_ALIASING);

    /* another context's tensors */
    hcl_context *ctx2 = test_context();
    hcl_tensor *q2 = test_tensor_poisoned(ctx2, HCL_F32, 4, sq), *kl2 = test_tensor_poisoned(ctx2, HCL_I32, 1, sb);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q2, k, v, kl, &d), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_attention_forward(ctx, o, l, q, k, v, kl2, &d), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_attention_backward(ctx, dq, dk, dv, q2, o, l, q, k, v, kl, &d), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(q2);
    hcl_tensor_free(kl2);
    hcl_context_free(ctx2);

    hcl_tensor *all[] = {q, k, v, o, l, kl, g, dq, dk, dv, qi, l16, klf, kl3, kbad, kbadd, kbadb, q3, lbad, obad, vq, vo, base};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hcl_tensor_free(all[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("attention");
    tcase_add_test(tc, forward_shapes_masks_dtypes);
    tcase_add_test(tc, backward_shapes_masks_dtypes);
    tcase_add_test(tc, backward_finite_differences);
    tcase_add_test(tc, variants);
    tcase_add_test(tc, mixed_dtypes);
    tcase_add_test(tc, no_visible_key);
    tcase_add_test(tc, large_scores);
    tcase_add_test(tc, padding_never_influences);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, views_at_offsets);
    tcase_add_test(tc, head_dim_limit);
    tcase_add_test(tc, native_half_same_bits);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
