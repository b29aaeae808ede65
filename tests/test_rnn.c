/* Recurrent layers (GRU, LSTM) and sequence pooling against FP64 host references written here (a
 * plain per-sequence forward over the valid steps only, and backprop through time): forward y,
 * h_n, c_n and every gradient, also against central finite differences; forward and reverse,
 * with and without lengths, h0/c0 given or not, odd sizes, F32/F16/BF16 storage with poisoned
 * outputs; padded steps that never influence anything, accumulation, inference vs training,
 * clamped lengths, reserve dtypes and offsets, and the bad-input matrix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* HALFCL_TEST_SMALL=1 (the oclgrind run): the 33-wide cases and BF16 are dropped from the big
 * matrix; every code path (cells, directions, lengths, h0, dtypes F32/F16) stays covered. */
static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && !strcmp(s, "1");
}

static double *to_double(const float *x, size_t n) {
    if (!x) return NULL;
    double *d = test_dalloc(n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}
static double sigm(double v) { return 1 / (1 + exp(-v)); }

/* ---------------------------------------------------------------- FP64 reference */
typedef struct rcfg {
    int lstm, reverse;
    size_t B, T, I, H;
    const int *len; /* (B) or NULL = all T; clamped to [1, T] as the library does */
} rcfg;

static size_t gates(const rcfg *c) { return c->lstm ? 4 : 3; }
static size_t ref_len(const rcfg *c, size_t b) {
    if (!c->len) return c->T;
    int l = c->len[b];
    return l < 1 ? 1 : (size_t)l > c->T ? c->T : (size_t)l;
}

/* Inputs (NULL h0/c0/biases = zeros) and, for backward, the output gradients (NULL = 0). */
typedef struct rin { const double *x, *h0, *c0, *wih, *whh, *bih, *bhh, *dy, *dhn, *dcn; } rin;
/* Outputs; gradient arrays are overwritten (NULL = not wanted). */
typedef struct rout { double *y, *hn, *cn, *dx, *dh0, *dc0, *dwih, *dwhh, *dbih, *dbhh; } rout;

/* Forward over each sequence's valid steps in processing order, then (when o->dx is set)
 * backprop through time in reverse. Per step k the trace keeps h_prev, c_prev, the activations
 * and GRU's hidden n pre-activation or LSTM's new c. */
static void ref_rnn(const rcfg *c, const rin *in, rout *o) {
    size_t B = c->B, T = c->T, I = c->I, H = c->H, G = gates(c), GH = G * H;
    int grads = o->dx != NULL;
    if (o->y) memset(o->y, 0, B * T * H * sizeof(double));
    if (grads) {
        memset(o->dx, 0, B * T * I * sizeof(double));
        memset(o->dwih, 0, GH * I * sizeof(double));
        memset(o->dwhh, 0, GH * H * sizeof(double));
        memset(o->dbih, 0, GH * sizeof(double));
        memset(o->dbhh, 0, GH * sizeof(double));
    }
    double *hp = test_dalloc(T * H), *cp = test_dalloc(T * H), *act = test_dalloc(T * GH), *ext = test_dalloc(T * H);
    double *h = test_dalloc(H), *cc = test_dalloc(H), *ax = test_dalloc(GH), *ah = test_dalloc(GH);
    double *dh = test_dalloc(H), *dc = test_dalloc(H), *dgx = test_dalloc(GH), *dgh = test_dalloc(GH), *tmp = test_dalloc(H);
    for (size_t b = 0; b < B; b++) {
        size_t L = ref_len(c, b);
        for (size_t j = 0; j < H; j++) {
            h[j] = in->h0 ? in->h0[b * H + j] : 0;
            cc[j] = in->c0 ? in->c0[b * H + j] : 0;
        }
        for (size_t k = 0; k < L; k++) {
            size_t t = c->reverse ? L - 1 - k : k;
            const double *xt = in->x + (b * T + t) * I;
            memcpy(hp + k * H, h, H * sizeof(double));
            memcpy(cp + k * H, cc, H * sizeof(double));
            for (size_t g = 0; g < GH; g++) {
                double sx = in->bih ? in->bih[g] : 0, sh = in->bhh ? in->bhh[g] : 0;
                for (size_t i = 0; i < I; i++) sx += in->wih[g * I + i] * xt[i];
                for (size_t i = 0; i < H; i++) sh += in->whh[g * H + i] * h[i];
                ax[g] = sx;
                ah[g] = sh;
            }
            double *a = act + k * GH;
            for (size_t j = 0; j < H; j++) {
                if (!c->lstm) {
                    double r = sigm(ax[j] + ah[j]), z = sigm(ax[H + j] + ah[H + j]);
                    double n = tanh(ax[2 * H + j] + r * ah[2 * H + j]);
                    a[j] = r, a[H + j] = z, a[2 * H + j] = n, ext[k * H + j] = ah[2 * H + j];
                    h[j] = (1 - z) * n + z * h[j];
                } else {
                    double gi = sigm(ax[j] + ah[j]), gf = sigm(ax[H + j] + ah[H + j]);
                    double gg = tanh(ax[2 * H + j] + ah[2 * H + j]), go = sigm(ax[3 * H + j] + ah[3 * H + j]);
                    a[j] = gi, a[H + j] = gf, a[2 * H + j] = gg, a[3 * H + j] = go;
                    cc[j] = gf * cc[j] + gi * gg;
                    ext[k * H + j] = cc[j];
                    h[j] = go * tanh(cc[j]);
                }
            }
            if (o->y) memcpy(o->y + (b * T + t) * H, h, H * sizeof(double));
        }
        if (o->hn) memcpy(o->hn + b * H, h, H * sizeof(double));
        if (o->cn) memcpy(o->cn + b * H, cc, H * sizeof(double));
        if (!grads) continue;
        for (size_t j = 0; j < H; j++) {
            dh[j] = in->dhn ? in->dhn[b * H + j] : 0;
            dc[j] = in->dcn ? in->dcn[b * H + j] : 0;
        }
        for (size_t k = L; k-- > 0;) {
            size_t t = c->reverse ? L - 1 - k : k;
            const double *xt = in->x + (b * T + t) * I, *a = act + k * GH, *hprev = hp + k * H;
            for (size_t j = 0; j < H; j++) {
                double d = dh[j] + (in->dy ? in->dy[(b * T + t) * H + j] : 0);
                if (!c->lstm) {
                    double r = a[j], z = a[H + j], n = a[2 * H + j], hn = ext[k * H + j];
                    double dan = d * (1 - z) * (1 - n * n);
                    dgx[j] = dgh[j] = dan * hn * r * (1 - r);
                    dgx[H + j] = dgh[H + j] = d * (hprev[j] - n) * z * (1 - z);
                    dgx[2 * H + j] = dan;
                    dgh[2 * H + j] = dan * r;
                    tmp[j] = d * z;
                } else {
                    double gi = a[j], gf = a[H + j], gg = a[2 * H + j], go = a[3 * H + j], cn = ext[k * H + j];
                    double tc = tanh(cn), dcv = dc[j] + d * go * (1 - tc * tc);
                    dgx[j] = dcv * gg * gi * (1 - gi);
                    dgx[H + j] = dcv * cp[k * H + j] * gf * (1 - gf);
                    dgx[2 * H + j] = dcv * gi * (1 - gg * gg);
                    dgx[3 * H + j] = d * tc * go * (1 - go);
                    for (size_t g = 0; g < 4; g++) dgh[g * H + j] = dgx[g * H + j];
                    dc[j] = dcv * gf;
                    tmp[j] = 0;
                }
            }
            for (size_t g = 0; g < GH; g++) {
                o->dbih[g] += dgx[g];
                o->dbhh[g] += dgh[g];
                for (size_t i = 0; i < I; i++) o->dwih[g * I + i] += dgx[g] * xt[i];
                for (size_t i = 0; i < H; i++) o->dwhh[g * H + i] += dgh[g] * hprev[i];
            }
            for (size_t i = 0; i < I; i++) {
                double s = 0;
                for (size_t g = 0; g < GH; g++) s += dgx[g] * in->wih[g * I + i];
                o->dx[(b * T + t) * I + i] = s;
            }
            for (size_t i = 0; i < H; i++) {
                double s = tmp[i];
                for (size_t g = 0; g < GH; g++) s += dgh[g] * in->whh[g * H + i];
                dh[i] = s;
            }
        }
        if (o->dh0) memcpy(o->dh0 + b * H, dh, H * sizeof(double));
        if (o->dc0) memcpy(o->dc0 + b * H, dc, H * sizeof(double));
    }
    free(hp); free(cp); free(act); free(ext); free(h); free(cc); free(ax); free(ah);
    free(dh); free(dc); free(dgx); free(dgh); free(tmp);
}

/* ---------------------------------------------------------------- a case on the device */
typedef struct rcase {
    int lstm, reverse;
    int64_t B, T, I, H;
    int has_len;
    int len[4];
    int has_h0;   /* 0: no h0 (nor c0); 1: h0 (and c0 for LSTM); 2: h0 but no c0 */
    int has_bias;
} rcase;

/* Host data of a case (floats already rounded to the dtypes the device sees). */
typedef struct rdata {
    size_t B, T, I, H, GH;
    float *x, *h0, *c0, *wih, *whh, *bih, *bhh, *dy, *dhn, *dcn, *dwih0, *dwhh0, *dbih0, *dbhh0;
    int *len;
} rdata;

/* Dtypes of a run: compute (x, y, h, dy...), parameters (weights, biases) and their gradients. */
typedef struct rdts { hcl_dtype c, w, g; } rdts;

static void data_make(const rcase *k, rdts dt, rdata *d) {
    memset(d, 0, sizeof *d);
    size_t B = (size_t)k->B, T = (size_t)k->T, I = (size_t)k->I, H = (size_t)k->H, GH = (k->lstm ? 4 : 3) * H;
    d->B = B, d->T = T, d->I = I, d->H = H, d->GH = GH;
    double ws = 1 / sqrt((double)H); /* PyTorch's init range */
    d->x = test_falloc(B * T * I), d->dy = test_falloc(B * T * H);
    d->wih = test_falloc(GH * I), d->whh = test_falloc(GH * H), d->dwih0 = test_falloc(GH * I), d->dwhh0 = test_falloc(GH * H);
    d->dbih0 = test_falloc(GH), d->dbhh0 = test_falloc(GH), d->dhn = test_falloc(B * H);
    test_fill_normal(d->x, B * T * I, 1.0);
    test_fill_normal(d->dy, B * T * H, 1.0);
    test_fill_normal(d->dhn, B * H, 1.0);
    test_fill_uniform(d->wih, GH * I, -ws, ws);
    test_fill_uniform(d->whh, GH * H, -ws, ws);
    test_fill_uniform(d->dwih0, GH * I, -1, 1);
    test_fill_uniform(d->dwhh0, GH * H, -1, 1);
    test_fill_uniform(d->dbih0, GH, -1, 1);
    test_fill_uniform(d->dbhh0, GH, -1, 1);
    if (k->has_bias) {
        d->bih = test_falloc(GH), d->bhh = test_falloc(GH);
        test_fill_uniform(d->bih, GH, -ws, ws);
        test_fill_uniform(d->bhh, GH, -ws, ws);
        test_round_to_dtype(d->bih, GH, dt.w);
        test_round_to_dtype(d->bhh, GH, dt.w);
    }
    if (k->has_h0) {
        d->h0 = test_falloc(B * H);
        test_fill_uniform(d->h0, B * H, -1, 1);
        test_round_to_dtype(d->h0, B * H, dt.c);
        if (k->lstm && k->has_h0 == 1) { /* has_h0 2: h0 without c0 */
            d->c0 = test_falloc(B * H);
            test_fill_normal(d->c0, B * H, 1.0);
            test_round_to_dtype(d->c0, B * H, dt.c);
        }
    }
    if (k->lstm) {
        d->dcn = test_falloc(B * H);
        test_fill_normal(d->dcn, B * H, 1.0);
        test_round_to_dtype(d->dcn, B * H, dt.c);
    }
    if (k->has_len) {
        d->len = calloc(B, sizeof *d->len);
        ck_assert_ptr_nonnull(d->len);
        for (size_t b = 0; b < B; b++) d->len[b] = k->len[b];
    }
    test_round_to_dtype(d->x, B * T * I, dt.c);
    test_round_to_dtype(d->dy, B * T * H, dt.c);
    test_round_to_dtype(d->dhn, B * H, dt.c);
    test_round_to_dtype(d->wih, GH * I, dt.w);
    test_round_to_dtype(d->whh, GH * H, dt.w);
    test_round_to_dtype(d->dwih0, GH * I, dt.g);
    test_round_to_dtype(d->dwhh0, GH * H, dt.g);
    test_round_to_dtype(d->dbih0, GH, dt.g);
    test_round_to_dtype(d->dbhh0, GH, dt.g);
}

static void data_free(rdata *d) {
    float *f[] = {d->x, d->h0, d->c0, d->wih, d->whh, d->bih, d->bhh, d->dy, d->dhn, d->dcn, d->dwih0, d->dwhh0, d->dbih0, d->dbhh0};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    free(d->len);
}

/* Device results (downloaded; NULL where the case has no such output). */
typedef struct dres { float *y, *hn, *cn, *dx, *dh0, *dc0, *dwih, *dwhh, *dbih, *dbhh; } dres;
#define NRES 10
static float **res_arr(dres *r, int i) {
    float **a[NRES] = {&r->y, &r->hn, &r->cn, &r->dx, &r->dh0, &r->dc0, &r->dwih, &r->dwhh, &r->dbih, &r->dbhh};
    return a[i];
}
static const char *res_names[NRES] = {"y", "h_n", "c_n", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"};
static void res_free(dres *r) {
    for (int i = 0; i < NRES; i++) free(*res_arr(r, i));
    memset(r, 0, sizeof *r);
}

/* Options of a device run. */
typedef struct ropts {
    int reserve_mode;  /* 0: U8 tensor; 1: a tensor of the compute dtype; 2: a U8 view at byte offset 8 */
    int backward;      /* run backward too */
    int no_dy;         /* backward without dy (only dh_n/dc_n) */
    int no_dhn;        /* backward without dh_n and dc_n (only dy) */
} ropts;

static hcl_tensor *maybe_from(hcl_context *ctx, hcl_dtype dt, int rank, const int64_t *shape, const float *h) {
    return h ? test_tensor_from(ctx, dt, rank, shape, h) : NULL;
}

/* Forward (training, with a reserve) + backward on the device; outputs poisoned first. */
static void dev_run(hcl_context *ctx, const rcase *k, rdts dt, const rdata *d, ropts op, dres *r) {
    memset(r, 0, sizeof *r);
    size_t GH = d->GH;
    int64_t sx[3] = {k->B, k->T, k->I}, sy[3] = {k->B, k->T, k->H}, sh[2] = {k->B, k->H}, sb[1] = {k->B};
    int64_t swi[2] = {(int64_t)GH, k->I}, swh[2] = {(int64_t)GH, k->H}, sg[1] = {(int64_t)GH};
    hcl_rnn_desc desc;
    hcl_rnn_desc_init(&desc, k->lstm ? HCL_RNN_LSTM : HCL_RNN_GRU);
    desc.reverse = k->reverse;
    hcl_tensor *x = test_tensor_from(ctx, dt.c, 3, sx, d->x), *y = test_tensor_poisoned(ctx, dt.c, 3, sy);
    hcl_tensor *h0 = maybe_from(ctx, dt.c, 2, sh, d->h0), *c0 = maybe_from(ctx, dt.c, 2, sh, d->c0);
    hcl_tensor *hn = test_tensor_poisoned(ctx, dt.c, 2, sh), *cn = k->lstm ? test_tensor_poisoned(ctx, dt.c, 2, sh) : NULL;
    hcl_tensor *wih = test_tensor_from(ctx, dt.w, 2, swi, d->wih), *whh = test_tensor_from(ctx, dt.w, 2, swh, d->whh);
    hcl_tensor *bih = maybe_from(ctx, dt.w, 1, sg, d->bih), *bhh = maybe_from(ctx, dt.w, 1, sg, d->bhh);
    hcl_tensor *len = NULL;
    if (d->len) {
        float lf[8];
        for (size_t b = 0; b < d->B; b++) lf[b] = (float)d->len[b];
        len = test_tensor_from(ctx, HCL_I32, 1, sb, lf);
    }
    size_t rb = hcl_rnn_reserve_bytes(&desc, k->B, k->T, k->H, dt.c);
    ck_assert_uint_gt(rb, 0);
    hcl_tensor *rbase = NULL, *res = NULL;
    if (op.reserve_mode == 1) {
        int64_t n[1] = {(int64_t)((rb + hcl_dtype_size(dt.c) - 1) / hcl_dtype_size(dt.c))};
        res = test_tensor_poisoned(ctx, dt.c, 1, n);
    } else {
        int64_t n[1] = {(int64_t)rb + (op.reserve_mode == 2 ? 8 : 0)};
        rbase = test_tensor_poisoned(ctx, HCL_U8, 1, n);
        if (op.reserve_mode == 2) {
            int64_t nv[1] = {(int64_t)rb};
            CK_OK(ctx, hcl_tensor_view(rbase, 8, 1, nv, &res));
        } else {
            res = rbase;
            rbase = NULL;
        }
    }
    CK_OK(ctx, hcl_rnn_forward(ctx, y, hn, cn, res, x, h0, c0, len, wih, whh, bih, bhh, &desc));
    r->y = test_download(y);
    r->hn = test_download(hn);
    if (cn) r->cn = test_download(cn);
    hcl_tensor *ts[32];
    size_t nt = 0;
    if (op.backward) {
        hcl_tensor *dy = op.no_dy ? NULL : test_tensor_from(ctx, dt.c, 3, sy, d->dy);
        hcl_tensor *dhn = op.no_dhn ? NULL : test_tensor_from(ctx, dt.c, 2, sh, d->dhn);
        hcl_tensor *dcn = op.no_dhn ? NULL : maybe_from(ctx, dt.c, 2, sh, d->dcn);
        hcl_tensor *dx = test_tensor_poisoned(ctx, dt.c, 3, sx), *dh0 = test_tensor_poisoned(ctx, dt.c, 2, sh);
        hcl_tensor *dc0 = k->lstm ? test_tensor_poisoned(ctx, dt.c, 2, sh) : NULL;
        hcl_tensor *dwih = test_tensor_from(ctx, dt.g, 2, swi, d->dwih0), *dwhh = test_tensor_from(ctx, dt.g, 2, swh, d->dwhh0);
        hcl_tensor *dbih = test_tensor_from(ctx, dt.g, 1, sg, d->dbih0), *dbhh = test_tensor_from(ctx, dt.g, 1, sg, d->dbhh0);
        CK_OK(ctx, hcl_rnn_backward(ctx, dx, dh0, dc0, dwih, dwhh, dbih, dbhh, dy, dhn, dcn, res, x, h0, c0, len, wih, whh,
                                    &desc));
        r->dx = test_download(dx);
        r->dh0 = test_download(dh0);
        if (dc0) r->dc0 = test_download(dc0);
        r->dwih = test_download(dwih);
        r->dwhh = test_download(dwhh);
        r->dbih = test_download(dbih);
        r->dbhh = test_download(dbhh);
        hcl_tensor *bt[] = {dy, dhn, dcn, dx, dh0, dc0, dwih, dwhh, dbih, dbhh};
        for (size_t i = 0; i < sizeof bt / sizeof bt[0]; i++) ts[nt++] = bt[i];
    }
    hcl_tensor *ft[] = {res, rbase, x, y, h0, c0, hn, cn, wih, whh, bih, bhh, len};
    for (size_t i = 0; i < sizeof ft / sizeof ft[0]; i++) ts[nt++] = ft[i];
    for (size_t i = 0; i < nt; i++) hcl_tensor_free(ts[i]);
}

/* The FP64 reference of a case's data (gradients include the initial dW/db values). */
static void ref_case(const rcase *k, const rdata *d, ropts op, double **out /* NRES arrays */) {
    size_t B = d->B, T = d->T, I = d->I, H = d->H, GH = d->GH;
    size_t n[NRES] = {B * T * H, B * H, B * H, B * T * I, B * H, B * H, GH * I, GH * H, GH, GH};
    for (int i = 0; i < NRES; i++) out[i] = test_dalloc(n[i]);
    rcfg c = {k->lstm, k->reverse, B, T, I, H, d->len};
    double *x = to_double(d->x, B * T * I), *h0 = to_double(d->h0, B * H), *c0 = to_double(d->c0, B * H);
    double *wih = to_double(d->wih, GH * I), *whh = to_double(d->whh, GH * H), *bih = to_double(d->bih, GH);
    double *bhh = to_double(d->bhh, GH), *dy = op.no_dy ? NULL : to_double(d->dy, B * T * H);
    double *dhn = op.no_dhn ? NULL : to_double(d->dhn, B * H), *dcn = op.no_dhn ? NULL : to_double(d->dcn, B * H);
    rin in = {x, h0, c0, wih, whh, bih, bhh, dy, dhn, dcn};
    rout o = {out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7], out[8], out[9]};
    ref_rnn(&c, &in, &o);
    for (size_t i = 0; i < GH * I; i++) out[6][i] += d->dwih0[i];
    for (size_t i = 0; i < GH * H; i++) out[7][i] += d->dwhh0[i];
    for (size_t i = 0; i < GH; i++) out[8][i] += d->dbih0[i], out[9][i] += d->dbhh0[i];
    double *f[] = {x, h0, c0, wih, whh, bih, bhh, dy, dhn, dcn};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
}

/* ||got - ref|| / max(||ref||, 0.25 sqrt(n)): relative, except for a vector whose RMS is below
 * 0.25, the typical size of the activations and gradients here (PyTorch's init, unit inputs),
 * where it becomes the error against that scale. A single output that cancels, e.g. (1 - z) n +
 * z h ~ 0 at B = H = 1, keeps the absolute error of its terms (in F16 ~1e-4: the input
 * projection is stored in F16), which relative to a near-zero result would be arbitrarily large. */
static double rel_err_floor(const float *got, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num) / fmax(sqrt(den), 0.25 * sqrt((double)n));
}

static void case_name(char *buf, size_t len, const rcase *k, rdts dt) {
    snprintf(buf, len, "%s %s B=%lld T=%lld I=%lld H=%lld len=%s h0=%d bias=%d %s/%s/%s", k->lstm ? "LSTM" : "GRU",
             k->reverse ? "rev" : "fwd", (long long)k->B, (long long)k->T, (long long)k->I, (long long)k->H,
             k->has_len ? "yes" : "no", k->has_h0, k->has_bias, hcl_dtype_name(dt.c), hcl_dtype_name(dt.w),
             hcl_dtype_name(dt.g));
}

/* Tolerance of each result against FP64 (see the comment at the case table). */
static double tol_of(int i, rdts dt) {
    hcl_dtype odt = i >= 6 ? dt.g : dt.c; /* the output's dtype */
    double t = test_tolerance(odt);
    if (dt.c != HCL_F32 && test_tolerance(dt.c) > t) t = test_tolerance(dt.c);
    return i >= 3 ? 2 * t : t;
}

static void check_case(hcl_context *ctx, const rcase *k, rdts dt, ropts op) {
    rdata d;
    data_make(k, dt, &d);
    dres r;
    dev_run(ctx, k, dt, &d, op, &r);
    double *ref[NRES];
    ref_case(k, &d, op, ref);
    size_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.GH;
    size_t n[NRES] = {B * T * H, B * H, B * H, B * T * I, B * H, B * H, GH * I, GH * H, GH, GH};
    char name[160];
    case_name(name, sizeof name, k, dt);
    for (int i = 0; i < NRES; i++) {
        float *got = *res_arr(&r, i);
        if (!got) continue;
        double e = rel_err_floor(got, ref[i], n[i]), tol = tol_of(i, dt);
        ck_assert_msg(e <= tol, "%s: %s rel err %g > %g (%s)", name, res_names[i], e, tol, test_seed_note());
    }
    /* y and dx exactly 0 at padded steps */
    for (size_t b = 0; b < B; b++)
        for (size_t t = d.len ? (size_t)d.len[b] : T; t < T; t++) {
            for (size_t j = 0; j < H; j++) ck_assert_msg(r.y[(b * T + t) * H + j] == 0.0f, "%s: y[%zu,%zu,%zu] = %g", name, b, t, j, (double)r.y[(b * T + t) * H + j]);
            if (r.dx)
                for (size_t i = 0; i < I; i++)
                    ck_assert_msg(r.dx[(b * T + t) * I + i] == 0.0f, "%s: dx[%zu,%zu,%zu] = %g", name, b, t, i, (double)r.dx[(b * T + t) * I + i]);
        }
    for (int i = 0; i < NRES; i++) free(ref[i]);
    res_free(&r);
    data_free(&d);
}

/* The case matrix: sizes B 1, 3; T 1, 7; I 1, 5, 33; H 1, 7, 33; lengths with a length-1 and a
 * full sequence in one batch; h0/c0 given or not; biases or not. Tolerances (tol_of): forward
 * outputs test_tolerance of the output dtype (a few ulps: the state is re-rounded to the compute
 * dtype every step, but the recurrence is contracting at PyTorch's init), gradients twice that
 * (they also go through the activations kept in the compute dtype and one more GEMM). */
static const rcase cases[] = {
    {0, 0, 3, 7, 5, 7, 1, {7, 1, 4}, 1, 1},
    {0, 1, 3, 7, 33, 33, 1, {1, 7, 3}, 0, 1},
    {0, 0, 1, 1, 1, 1, 0, {0}, 1, 0},
    {0, 1, 1, 7, 5, 33, 0, {0}, 1, 1},
    {0, 0, 3, 1, 33, 7, 1, {1, 1, 1}, 0, 1},
    {1, 0, 3, 7, 5, 7, 1, {7, 1, 4}, 1, 1},
    {1, 1, 3, 7, 33, 33, 1, {1, 7, 3}, 0, 1},
    {1, 0, 1, 1, 1, 1, 0, {0}, 1, 1},
    {1, 1, 1, 7, 5, 33, 0, {0}, 1, 0},
    {1, 1, 3, 1, 1, 7, 1, {1, 1, 1}, 2, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

static int case_is_big(const rcase *k) { return k->I > 8 || k->H > 8; }

static void run_matrix(int lstm) {
    hcl_context *ctx = test_context();
    ropts op = {0, 1, 0, 0};
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = test_float_dtypes[di];
        if (small_run() && dt == HCL_BF16) continue;
        for (size_t i = 0; i < NCASES; i++) {
            if (cases[i].lstm != lstm || (small_run() && case_is_big(&cases[i]))) continue;
            /* BF16 skips the one-step cases: their path (w_hh as stored) is the F32/F16 one with other
             * conversions, and each dtype on it is one more GEMM program build (~6 s on PoCL) */
            if (dt == HCL_BF16 && cases[i].T == 1) continue;
            op.reserve_mode = (int)(i % 3); /* U8, compute dtype, U8 view at an offset */
            op.no_dhn = i % 4 == 3;         /* some without dh_n/dc_n */
            rdts d = {dt, dt, dt};
            check_case(ctx, &cases[i], d, op);
        }
    }
    hcl_context_free(ctx);
}

START_TEST(gru_vs_fp64) { run_matrix(0); }
END_TEST

START_TEST(lstm_vs_fp64) { run_matrix(1); }
END_TEST

/* Mixed precision as amp trains: F16/BF16 activations and working weights, F32 gradients;
 * backward from dh_n/dc_n only (no dy: a classifier on the last state) and from dy only. Also
 * F16 weights under F32 activations (GRU; full runs only: each dtype mix is more program builds). */
START_TEST(mixed_dtypes_and_no_dy) {
    hcl_context *ctx = test_context();
    for (int lstm = 0; lstm < 2; lstm++) {
        rcase k = {lstm, 1, 3, 7, 5, 7, 1, {2, 7, 1}, 1, 1};
        rdts dt = {HCL_F16, HCL_F16, HCL_F32};
        check_case(ctx, &k, dt, (ropts){0, 1, 0, 0});
        check_case(ctx, &k, dt, (ropts){0, 1, 1, 0});
        check_case(ctx, &k, dt, (ropts){0, 1, 0, 1});
        if (!small_run()) {
            rdts bt = {HCL_BF16, HCL_BF16, HCL_F32};
            k.reverse = 0;
            check_case(ctx, &k, bt, (ropts){0, 1, 0, 0});
        }
    }
    if (!small_run()) {
        rcase k = {0, 0, 3, 7, 5, 7, 1, {7, 3, 1}, 1, 1};
        check_case(ctx, &k, (rdts){HCL_F32, HCL_F16, HCL_F32}, (ropts){0, 1, 0, 0});
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- finite differences */
/* L = sum(wy y) + sum(wh h_n) + sum(wc c_n) as a function of every input and parameter, packed
 * in one vector p = [x, h0, c0, w_ih, w_hh, b_ih, b_hh]. */
typedef struct fd_ctx { rcfg c; const double *wy, *wh, *wc; } fd_ctx;
typedef struct fd_off { size_t x, h0, c0, wih, whh, bih, bhh, n; } fd_off;

static fd_off fd_offsets(const rcfg *c) {
    size_t B = c->B, T = c->T, I = c->I, H = c->H, GH = gates(c) * H;
    fd_off o;
    o.x = 0, o.h0 = B * T * I, o.c0 = o.h0 + B * H, o.wih = o.c0 + B * H, o.whh = o.wih + GH * I;
    o.bih = o.whh + GH * H, o.bhh = o.bih + GH, o.n = o.bhh + GH;
    return o;
}

static double fd_loss(const double *p, void *user) {
    const fd_ctx *f = user;
    const rcfg *c = &f->c;
    fd_off o = fd_offsets(c);
    size_t B = c->B, T = c->T, H = c->H;
    double *y = test_dalloc(B * T * H), *hn = test_dalloc(B * H), *cn = test_dalloc(B * H), L = 0;
    rin in = {p + o.x, p + o.h0, c->lstm ? p + o.c0 : NULL, p + o.wih, p + o.whh, p + o.bih, p + o.bhh, NULL, NULL, NULL};
    rout out = {y, hn, cn, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    ref_rnn(c, &in, &out);
    for (size_t i = 0; i < B * T * H; i++) L += f->wy[i] * y[i];
    for (size_t i = 0; i < B * H; i++) L += f->wh[i] * hn[i] + (c->lstm ? f->wc[i] * cn[i] : 0);
    free(y); free(hn); free(cn);
    return L;
}

/* The FP64 analytic backward vs central differences of the FP64 forward, then the device (F32)
 * vs the finite differences directly. B=2, T=3, I=3, H=2, lengths {3, 2}: every output matters
 * (random weights in L), padded x gets a zero gradient. */
START_TEST(backward_vs_finite_differences) {
    hcl_context *ctx = test_context();
    for (int lstm = 0; lstm < 2; lstm++)
        for (int rev = 0; rev < 2; rev++) {
            rcase k = {lstm, rev, 2, 3, 3, 2, 1, {3, 2}, 1, 1};
            rdts dt = {HCL_F32, HCL_F32, HCL_F32};
            rdata d;
            data_make(&k, dt, &d);
            /* the device accumulates into dW: start from 0 here */
            memset(d.dwih0, 0, d.GH * d.I * sizeof(float));
            memset(d.dwhh0, 0, d.GH * d.H * sizeof(float));
            memset(d.dbih0, 0, d.GH * sizeof(float));
            memset(d.dbhh0, 0, d.GH * sizeof(float));
            rcfg c = {lstm, rev, d.B, d.T, d.I, d.H, d.len};
            fd_off o = fd_offsets(&c);
            size_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.GH;
            double *p = test_dalloc(o.n), *fd = test_dalloc(o.n);
            for (size_t i = 0; i < B * T * I; i++) p[o.x + i] = d.x[i];
            for (size_t i = 0; i < B * H; i++) p[o.h0 + i] = d.h0[i], p[o.c0 + i] = lstm ? d.c0[i] : 0;
            for (size_t i = 0; i < GH * I; i++) p[o.wih + i] = d.wih[i];
            for (size_t i = 0; i < GH * H; i++) p[o.whh + i] = d.whh[i];
            for (size_t i = 0; i < GH; i++) p[o.bih + i] = d.bih[i], p[o.bhh + i] = d.bhh[i];
            double *wy = to_double(d.dy, B * T * H), *wh = to_double(d.dhn, B * H), *wc = lstm ? to_double(d.dcn, B * H) : NULL;
            fd_ctx f = {c, wy, wh, wc};
            test_numeric_grad(fd_loss, &f, p, o.n, 1e-5, fd);
            /* analytic FP64 */
            double *an[NRES];
            ref_case(&k, &d, (ropts){0, 1, 0, 0}, an);
            double *ag[7] = {an[3], an[4], an[5], an[6], an[7], an[8], an[9]};
            size_t off[7] = {o.x, o.h0, o.c0, o.wih, o.whh, o.bih, o.bhh};
            size_t cnt[7] = {B * T * I, B * H, B * H, GH * I, GH * H, GH, GH};
            const char *nm[7] = {"dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"};
            for (int g = 0; g < 7; g++) {
                if (g == 2 && !lstm) continue;
                for (size_t i = 0; i < cnt[g]; i++)
                    ck_assert_msg(fabs(fd[off[g] + i] - ag[g][i]) <= 1e-7 * (1 + fabs(ag[g][i])),
                                  "%s %s ref %s[%zu]: fd %.12g analytic %.12g", lstm ? "LSTM" : "GRU", rev ? "rev" : "fwd",
                                  nm[g], i, fd[off[g] + i], ag[g][i]);
            }
            /* device F32 vs the finite differences */
            dres r;
            dev_run(ctx, &k, dt, &d, (ropts){0, 1, 0, 0}, &r);
            float *dg[7] = {r.dx, r.dh0, r.dc0, r.dwih, r.dwhh, r.dbih, r.dbhh};
            for (int g = 0; g < 7; g++) {
                if (g == 2 && !lstm) continue;
                double e = rel_err_floor(dg[g], fd + off[g], cnt[g]);
                ck_assert_msg(e <= 1e-5, "%s %s device %s vs finite differences: rel err %g (%s)", lstm ? "LSTM" : "GRU",
                              rev ? "rev" : "fwd", nm[g], e, test_seed_note());
            }
            res_free(&r);
            for (int i = 0; i < NRES; i++) free(an[i]);
            free(p); free(fd); free(wy); free(wh); free(wc);
            data_free(&d);
        }
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- padded steps */
static void assert_same_bits(const float *a, const float *b, size_t n, const char *what, const char *name) {
    ck_assert_msg(memcmp(a, b, n * sizeof(float)) == 0, "%s: %s differs between runs (%s)", name, what, test_seed_note());
}

/* Changing x (to other, large values) and dy (also to NaN) at padded steps leaves every output
 * and gradient bit-identical; y and dx there are exactly 0 (checked in check_case too). */
START_TEST(padded_steps_never_matter) {
    hcl_context *ctx = test_context();
    for (int lstm = 0; lstm < 2; lstm++)
        for (int rev = 0; rev < 2; rev++)
            for (int di = 0; di < 2; di++) {
                rcase k = {lstm, rev, 3, 5, 6, 5, 1, {5, 1, 3}, 1, 1};
                hcl_dtype pd = di ? HCL_F16 : HCL_F32;
                rdts dt = {pd, pd, pd};
                rdata d;
                data_make(&k, dt, &d);
                dres r0, r1;
                dev_run(ctx, &k, dt, &d, (ropts){0, 1, 0, 0}, &r0);
                for (size_t b = 0; b < d.B; b++)
                    for (size_t t = (size_t)d.len[b]; t < d.T; t++) {
                        for (size_t i = 0; i < d.I; i++) d.x[(b * d.T + t) * d.I + i] = (float)test_uniform(-1000, 1000);
                        for (size_t j = 0; j < d.H; j++) /* dy there may be anything, NaN included */
                            d.dy[(b * d.T + t) * d.H + j] = j % 3 ? (float)test_uniform(-1000, 1000) : NAN;
                    }
                test_round_to_dtype(d.x, d.B * d.T * d.I, dt.c);
                test_round_to_dtype(d.dy, d.B * d.T * d.H, dt.c);
                dev_run(ctx, &k, dt, &d, (ropts){0, 1, 0, 0}, &r1);
                char name[160];
                case_name(name, sizeof name, &k, dt);
                size_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.GH;
                size_t n[NRES] = {B * T * H, B * H, B * H, B * T * I, B * H, B * H, GH * I, GH * H, GH, GH};
                for (int i = 0; i < NRES; i++) {
                    float *a = *res_arr(&r0, i), *b = *res_arr(&r1, i);
                    if (i == 3) { /* dx: equal at valid steps, 0 at padded ones */
                        for (size_t bb = 0; bb < B; bb++)
                            for (size_t t = 0; t < T; t++)
                                for (size_t ii = 0; ii < I; ii++) {
                                    size_t e = (bb * T + t) * I + ii;
                                    ck_assert_msg(memcmp(&a[e], &b[e], 4) == 0 && (t < (size_t)d.len[bb] || a[e] == 0.0f),
                                                  "%s: dx[%zu,%zu,%zu] %g vs %g", name, bb, t, ii, (double)a[e], (double)b[e]);
                                }
                        continue;
                    }
                    if (a) assert_same_bits(a, b, n[i], res_names[i], name);
                }
                res_free(&r0);
                res_free(&r1);
                data_free(&d);
            }
    hcl_context_free(ctx);
}
END_TEST

/* Lengths outside 1..T are clamped (they live on the device; checking them would need a host
 * sync): {0, T+3, -7} runs exactly as {1, T, 1}. */
START_TEST(lengths_clamped) {
    hcl_context *ctx = test_context();
    for (int lstm = 0; lstm < 2; lstm++) {
        rcase k = {lstm, lstm, 3, 4, 3, 5, 1, {0, 7, -7}, 1, 1}, k2 = k;
        k2.len[0] = 1, k2.len[1] = 4, k2.len[2] = 1;
        rdts dt = {HCL_F32, HCL_F32, HCL_F32};
        rdata d;
        data_make(&k, dt, &d);
        dres r0, r1;
        dev_run(ctx, &k, dt, &d, (ropts){0, 1, 0, 0}, &r0);
        for (int b = 0; b < 3; b++) d.len[b] = k2.len[b];
        dev_run(ctx, &k2, dt, &d, (ropts){0, 1, 0, 0}, &r1);
        size_t B = d.B, T = d.T, I = d.I, H = d.H, GH = d.GH;
        size_t n[NRES] = {B * T * H, B * H, B * H, B * T * I, B * H, B * H, GH * I, GH * H, GH, GH};
        for (int i = 0; i < NRES; i++)
            if (*res_arr(&r0, i)) assert_same_bits(*res_arr(&r0, i), *res_arr(&r1, i), n[i], res_names[i], lstm ? "LSTM" : "GRU");
        res_free(&r0);
        res_free(&r1);
        data_free(&d);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- semantics */
/* dW/db accumulate: two backward calls into zeroed F32 gradients give exactly twice one call
 * (the same bits each time: deterministic), and dx/dh0/dc0 are overwritten (the second call
 * gives the first call's bits). Inference (no reserve) gives the training forward's bits. */
START_TEST(accumulate_overwrite_inference) {
    hcl_context *ctx = test_context();
    for (int lstm = 0; lstm < 2; lstm++) {
        rcase k = {lstm, 0, 3, 5, 4, 6, 1, {5, 2, 1}, 1, 1};
        int64_t sx[3] = {3, 5, 4}, sy[3] = {3, 5, 6}, sh[2] = {3, 6}, sb[1] = {3};
        size_t G = lstm ? 4 : 3, GH = G * 6;
        int64_t swi[2] = {(int64_t)GH, 4}, swh[2] = {(int64_t)GH, 6}, sg[1] = {(int64_t)GH};
        rdata d;
        rdts dt = {HCL_F32, HCL_F32, HCL_F32};
        data_make(&k, dt, &d);
        float lf[3] = {5, 2, 1};
        hcl_rnn_desc desc;
        hcl_rnn_desc_init(&desc, lstm ? HCL_RNN_LSTM : HCL_RNN_GRU);
        hcl_tensor *x = test_tensor_from(ctx, HCL_F32, 3, sx, d.x), *len = test_tensor_from(ctx, HCL_I32, 1, sb, lf);
        hcl_tensor *h0 = test_tensor_from(ctx, HCL_F32, 2, sh, d.h0), *c0 = maybe_from(ctx, HCL_F32, 2, sh, d.c0);
        hcl_tensor *wih = test_tensor_from(ctx, HCL_F32, 2, swi, d.wih), *whh = test_tensor_from(ctx, HCL_F32, 2, swh, d.whh);
        hcl_tensor *bih = test_tensor_from(ctx, HCL_F32, 1, sg, d.bih), *bhh = test_tensor_from(ctx, HCL_F32, 1, sg, d.bhh);
        hcl_tensor *y = test_tensor_poisoned(ctx, HCL_F32, 3, sy), *y2 = test_tensor_poisoned(ctx, HCL_F32, 3, sy);
        hcl_tensor *hn = test_tensor_poisoned(ctx, HCL_F32, 2, sh), *hn2 = test_tensor_poisoned(ctx, HCL_F32, 2, sh);
        hcl_tensor *cn = lstm ? test_tensor_poisoned(ctx, HCL_F32, 2, sh) : NULL;
        hcl_tensor *cn2 = lstm ? test_tensor_poisoned(ctx, HCL_F32, 2, sh) : NULL;
        int64_t rn[1] = {(int64_t)hcl_rnn_reserve_bytes(&desc, 3, 5, 6, HCL_F32)};
        hcl_tensor *res = test_tensor_poisoned(ctx, HCL_U8, 1, rn);
        CK_OK(ctx, hcl_rnn_forward(ctx, y, hn, cn, res, x, h0, c0, len, wih, whh, bih, bhh, &desc));
        CK_OK(ctx, hcl_rnn_forward(ctx, y2, hn2, cn2, NULL, x, h0, c0, len, wih, whh, bih, bhh, &desc));
        float *a = test_download(y), *b = test_download(y2);
        assert_same_bits(a, b, 90, "y (inference vs training)", lstm ? "LSTM" : "GRU");
        free(a), free(b);
        a = test_download(hn), b = test_download(hn2);
        assert_same_bits(a, b, 18, "h_n (inference vs training)", lstm ? "LSTM" : "GRU");
        free(a), free(b);
        if (lstm) {
            a = test_download(cn), b = test_download(cn2);
            assert_same_bits(a, b, 18, "c_n (inference vs training)", "LSTM");
            free(a), free(b);
        }
        /* h_n is y at each sequence's last valid step (the same rounding) */
        a = test_download(y), b = test_download(hn);
        for (int bb = 0; bb < 3; bb++)
            for (int j = 0; j < 6; j++) ck_assert(a[(bb * 5 + (int)lf[bb] - 1) * 6 + j] == b[bb * 6 + j]);
        free(a), free(b);
        hcl_tensor *dy = test_tensor_from(ctx, HCL_F32, 3, sy, d.dy), *dhn = test_tensor_from(ctx, HCL_F32, 2, sh, d.dhn);
        hcl_tensor *dcn = maybe_from(ctx, HCL_F32, 2, sh, d.dcn);
        hcl_tensor *dx = test_tensor_poisoned(ctx, HCL_F32, 3, sx), *dh0 = test_tensor_poisoned(ctx, HCL_F32, 2, sh);
        hcl_tensor *dc0 = lstm ? test_tensor_poisoned(ctx, HCL_F32, 2, sh) : NULL;
        hcl_tensor *gw[4] = {NULL, NULL, NULL, NULL};
        const int64_t *gs[4] = {swi, swh, sg, sg};
        int gr[4] = {2, 2, 1, 1};
        for (int i = 0; i < 4; i++) {
            CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, gr[i], gs[i], &gw[i]));
            CK_OK(ctx, hcl_tensor_fill(gw[i], 0));
        }
        float *once[7], *twice[7];
        hcl_tensor *outs[7] = {dx, dh0, dc0, gw[0], gw[1], gw[2], gw[3]};
        for (int run = 0; run < 2; run++) {
            CK_OK(ctx, hcl_rnn_backward(ctx, dx, dh0, dc0, gw[0], gw[1], gw[2], gw[3], dy, dhn, dcn, res, x, h0, c0, len, wih,
                                        whh, &desc));
            for (int i = 0; i < 7; i++) (run ? twice : once)[i] = outs[i] ? test_download(outs[i]) : NULL;
        }
        for (int i = 0; i < 7; i++) {
            if (!outs[i]) continue;
            for (size_t e = 0; e < outs[i]->count; e++) {
                float want = i < 3 ? once[i][e] : 2 * once[i][e];
                ck_assert_msg(memcmp(&twice[i][e], &want, 4) == 0, "%s output %d element %zu: %g after two calls, %g after one",
                              lstm ? "LSTM" : "GRU", i, e, (double)twice[i][e], (double)once[i][e]);
            }
            free(once[i]);
            free(twice[i]);
        }
        /* NULL gradient outputs are skipped: only dw_hh requested */
        CK_OK(ctx, hcl_tensor_fill(gw[1], 0));
        CK_OK(ctx, hcl_rnn_backward(ctx, NULL, NULL, NULL, NULL, gw[1], NULL, NULL, dy, dhn, dcn, res, x, h0, c0, len, wih,
                                    whh, &desc));
        a = test_download(gw[1]);
        b = test_download(gw[0]);
        for (size_t e = 0; e < gw[1]->count; e++) ck_assert(isfinite(a[e]));
        free(a), free(b);
        hcl_tensor *ts[] = {x, len, h0, c0, wih, whh, bih, bhh, y, y2, hn, hn2, cn, cn2, res, dy, dhn, dcn, dx, dh0, dc0,
                            gw[0], gw[1], gw[2], gw[3]};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
        data_free(&d);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- sequence pooling */
START_TEST(seq_pool_vs_fp64) {
    hcl_context *ctx = test_context();
    static const int64_t shapes[][3] = {{3, 7, 33}, {1, 1, 1}, {2, 5, 7}};
    static const int lens[][3] = {{7, 1, 4}, {1, 0, 0}, {0, 9, 0}}; /* the last: clamped to {1, 5} */
    for (int di = 0; di < 3; di++)
        for (size_t si = 0; si < 3; si++)
            for (int use_len = 0; use_len < 2; use_len++)
                for (int mode = 0; mode < 2; mode++) {
                    hcl_dtype dt = test_float_dtypes[di];
                    size_t B = (size_t)shapes[si][0], T = (size_t)shapes[si][1], H = (size_t)shapes[si][2];
                    int64_t sy[2] = {(int64_t)B, (int64_t)H}, sb[1] = {(int64_t)B};
                    float *x = test_falloc(B * T * H), *dy = test_falloc(B * H), lf[3];
                    test_fill_normal(x, B * T * H, 1.0);
                    test_fill_normal(dy, B * H, 1.0);
                    test_round_to_dtype(x, B * T * H, dt);
                    test_round_to_dtype(dy, B * H, dt);
                    for (size_t b = 0; b < B; b++) lf[b] = (float)lens[si][b];
                    hcl_tensor *tx = test_tensor_from(ctx, dt, 3, shapes[si], x), *ty = test_tensor_poisoned(ctx, dt, 2, sy);
                    hcl_tensor *tdy = test_tensor_from(ctx, dt, 2, sy, dy), *tdx = test_tensor_poisoned(ctx, dt, 3, shapes[si]);
                    hcl_tensor *tl = use_len ? test_tensor_from(ctx, HCL_I32, 1, sb, lf) : NULL;
                    CK_OK(ctx, hcl_seq_pool_forward(ctx, ty, tx, tl, (hcl_seq_pool_mode)mode));
                    CK_OK(ctx, hcl_seq_pool_backward(ctx, tdx, tdy, tl, (hcl_seq_pool_mode)mode));
                    double *yr = test_dalloc(B * H), *dxr = test_dalloc(B * T * H);
                    for (size_t b = 0; b < B; b++) {
                        int l = use_len ? lens[si][b] : (int)T;
                        size_t L = l < 1 ? 1 : (size_t)l > T ? T : (size_t)l;
                        for (size_t j = 0; j < H; j++) {
                            double s = 0;
                            for (size_t t = 0; t < L; t++) s += x[(b * T + t) * H + j];
                            yr[b * H + j] = mode ? x[(b * T + L - 1) * H + j] : s / (double)L;
                            for (size_t t = 0; t < T; t++)
                                dxr[(b * T + t) * H + j] = mode ? (t == L - 1 ? dy[b * H + j] : 0) : (t < L ? dy[b * H + j] / (double)L : 0);
                        }
                    }
                    float *y = test_download(ty), *dx = test_download(tdx);
                    double ey = test_rel_err(y, yr, B * H), ex = test_rel_err(dx, dxr, B * T * H);
                    ck_assert_msg(ey <= test_tolerance(dt) && ex <= test_tolerance(dt),
                                  "seq pool %s mode %d shape %zu len %d: y err %g, dx err %g (%s)", hcl_dtype_name(dt), mode,
                                  si, use_len, ey, ex, test_seed_note());
                    for (size_t e = 0; e < B * T * H; e++)
                        if (dxr[e] == 0) ck_assert_msg(dx[e] == 0.0f, "seq pool dx[%zu] = %g, want 0", e, (double)dx[e]);
                    free(y); free(dx); free(yr); free(dxr); free(x); free(dy);
                    hcl_tensor_free(tx); hcl_tensor_free(ty); hcl_tensor_free(tdy); hcl_tensor_free(tdx); hcl_tensor_free(tl);
                }
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- bad inputs */
#define FWD(c, y_, hn, cn, r, x_, h0, c0, l, wi, wh, bi, bh, d) hcl_rnn_forward(c, y_, hn, cn, r, x_, h0, c0, l, wi, wh, bi, bh, d)
#define BWD(c, dx_, dh0, dc0, dwi, dwh, dbi, dbh, dy_, dhn, dcn, r, x_, h0, c0, l, wi, wh, d) \
    hcl_rnn_backward(c, dx_, dh0, dc0, dwi, dwh, dbi, dbh, dy_, dhn, dcn, r, x_, h0, c0, l, wi, wh, d)

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context();
    /* a valid GRU call: B 2, T 3, I 4, H 5 */
    int64_t sx[3] = {2, 3, 4}, sy[3] = {2, 3, 5}, sh[2] = {2, 5}, sb[1] = {2}, swi[2] = {15, 4}, swh[2] = {15, 5};
    int64_t sg[1] = {15}, swil[2] = {20, 4}, swhl[2] = {20, 5}, s2[2] = {6, 4}, sg16[1] = {16}, sb3[1] = {3}, sp[2] = {2, 4};
    hcl_rnn_desc gru, lstm, bad;
    hcl_rnn_desc_init(&gru, HCL_RNN_GRU);
    hcl_rnn_desc_init(&lstm, HCL_RNN_LSTM);
    size_t rbytes = hcl_rnn_reserve_bytes(&gru, 2, 3, 5, HCL_F32), lbytes = hcl_rnn_reserve_bytes(&lstm, 2, 3, 5, HCL_F32);
    ck_assert_uint_gt(rbytes, 0);
    ck_assert_uint_ge(lbytes, rbytes);
    ck_assert_uint_gt(hcl_rnn_reserve_bytes(&lstm, 8, 16, 32, HCL_F32), hcl_rnn_reserve_bytes(&gru, 8, 16, 32, HCL_F32));
    ck_assert_uint_lt(hcl_rnn_reserve_bytes(&gru, 2, 3, 5, HCL_F16), rbytes);
    ck_assert_uint_eq(hcl_rnn_reserve_bytes(NULL, 2, 3, 5, HCL_F32), 0);
    ck_assert_uint_eq(hcl_rnn_reserve_bytes(&gru, 0, 3, 5, HCL_F32), 0);
    ck_assert_uint_eq(hcl_rnn_reserve_bytes(&gru, 2, 3, -1, HCL_F32), 0);
    ck_assert_uint_eq(hcl_rnn_reserve_bytes(&gru, 2, 3, 5, HCL_I32), 0);
    ck_assert_uint_eq(hcl_rnn_reserve_bytes(&gru, INT64_MAX, INT64_MAX, 5, HCL_F32), 0);
    int64_t rn[1] = {(int64_t)rbytes}, rsmall[1] = {(int64_t)rbytes - 1}, rbig[1] = {(int64_t)rbytes + 8};
    int64_t rf[1] = {(int64_t)(rbytes + 3) / 4}, fb[1] = {(int64_t)(rbytes + 3) / 4 + 64};
    hcl_tensor *x = test_tensor_poisoned(ctx, HCL_F32, 3, sx), *y = test_tensor_poisoned(ctx, HCL_F32, 3, sy);
    hcl_tensor *y16 = test_tensor_poisoned(ctx, HCL_F16, 3, sy), *xi = test_tensor_poisoned(ctx, HCL_I32, 3, sx);
    hcl_tensor *h = test_tensor_poisoned(ctx, HCL_F32, 2, sh), *h2 = test_tensor_poisoned(ctx, HCL_F32, 2, sh);
    hcl_tensor *wih = test_tensor_poisoned(ctx, HCL_F32, 2, swi), *whh = test_tensor_poisoned(ctx, HCL_F32, 2, swh);
    hcl_tensor *wihl = test_tensor_poisoned(ctx, HCL_F32, 2, swil), *whhl = test_tensor_poisoned(ctx, HCL_F32, 2, swhl);
    hcl_tensor *b = test_tensor_poisoned(ctx, HCL_F32, 1, sg), *b2 = test_tensor_poisoned(ctx, HCL_F32, 1, sg);
    hcl_tensor *b16 = test_tensor_poisoned(ctx, HCL_F32, 1, sg16), *len = test_tensor_poisoned(ctx, HCL_I32, 1, sb);
    hcl_tensor *lenf = test_tensor_poisoned(ctx, HCL_F32, 1, sb), *len3 = test_tensor_poisoned(ctx, HCL_I32, 1, sb3);
    hcl_tensor *x2 = test_tensor_poisoned(ctx, HCL_F32, 2, s2), *res = test_tensor_poisoned(ctx, HCL_U8, 1, rn);
    hcl_tensor *ress = test_tensor_poisoned(ctx, HCL_U8, 1, rsmall), *resb = test_tensor_poisoned(ctx, HCL_U8, 1, rbig);
    hcl_tensor *res16 = test_tensor_poisoned(ctx, HCL_F16, 1, rn), *resf = test_tensor_poisoned(ctx, HCL_F32, 1, rf);
    hcl_tensor *fbuf = test_tensor_poisoned(ctx, HCL_F32, 1, fb), *dx = test_tensor_poisoned(ctx, HCL_F32, 3, sx);
    hcl_tensor *dwih = test_tensor_poisoned(ctx, HCL_F32, 2, swi), *py = test_tensor_poisoned(ctx, HCL_F32, 2, sp);
    CK_OK(ctx, hcl_tensor_fill(len, 2));
    CK_OK(ctx, hcl_tensor_fill(dwih, 0));
    CK_OK(ctx, hcl_tensor_fill(b, 0));
    hcl_tensor *resv = NULL, *hv = NULL, *yb = NULL, *rb = NULL, *rdx = NULL, *pyx = NULL;
    CK_OK(ctx, hcl_tensor_view(resb, 2, 1, rn, &resv)); /* starts at byte 2: misaligned */
    CK_OK(ctx, hcl_tensor_view(y, 0, 2, sh, &hv));      /* h_n over y */
    CK_OK(ctx, hcl_tensor_view(fbuf, 0, 3, sy, &yb));   /* y and an F32 reserve sharing 14 floats */
    CK_OK(ctx, hcl_tensor_view(fbuf, 16, 1, rf, &rb));
    CK_OK(ctx, hcl_tensor_view(resf, 0, 3, sx, &rdx));  /* dx inside an F32 reserve */
    CK_OK(ctx, hcl_tensor_view(x, 0, 2, sp, &pyx));     /* pooled y over x */
    /* forward */
    CK_OK(ctx, FWD(ctx, y, h2, NULL, res, x, h, NULL, len, wih, whh, b, NULL, &gru));
    CK_OK(ctx, FWD(ctx, y, NULL, NULL, resf, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru));
    CK_STATUS(ctx, FWD(NULL, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, FWD(ctx, NULL, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, NULL, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, NULL, whh, NULL, NULL, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, NULL, NULL, NULL, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, NULL), HCL_ERR_NULL_POINTER);
    hcl_rnn_desc_init(&bad, (hcl_rnn_cell)7);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &bad), HCL_ERR_INVALID_ARGUMENT);
    hcl_rnn_desc_init(&bad, HCL_RNN_GRU);
    bad.reverse = 2;
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &bad), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x2, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, h, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, xi, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, FWD(ctx, y16, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wihl, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whhl, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &lstm), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, b16, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, len, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, x2, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, x2, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, lenf, wih, whh, NULL, NULL, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, NULL, len3, wih, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, x, NULL, h, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, FWD(ctx, y, NULL, h2, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, ress, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, res16, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, resv, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, ress, x, NULL, NULL, NULL, wihl, whhl, NULL, NULL, &lstm), HCL_ERR_SHAPE);
    CK_STATUS(ctx, FWD(ctx, y, hv, NULL, NULL, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, FWD(ctx, y, h, NULL, NULL, x, h, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, FWD(ctx, yb, NULL, NULL, rb, x, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, NULL, b, &gru), HCL_OK);
    /* backward (res now holds the forward of y, x, no h0, lengths NULL) */
    CK_OK(ctx, BWD(ctx, dx, h2, NULL, dwih, NULL, b, NULL, y, NULL, NULL, res, x, h, NULL, len, wih, whh, &gru));
    CK_OK(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y16, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru));
    CK_STATUS(ctx, BWD(NULL, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, NULL, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, NULL, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, BWD(ctx, y, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, x, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, x2, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, whh, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, b16, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, ress, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_SHAPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res16, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, lenf, wih, whh, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, xi, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_DTYPE);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, h, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, h, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, h, NULL, wih, whh, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, BWD(ctx, x, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, BWD(ctx, dx, h, NULL, NULL, NULL, NULL, NULL, y, h, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, dwih, NULL, NULL, NULL, y, NULL, NULL, res, x, NULL, NULL, NULL, dwih, whh, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, b, b, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, BWD(ctx, rdx, NULL, NULL, NULL, NULL, NULL, NULL, y, NULL, NULL, resf, x, NULL, NULL, NULL, wih, whh, &gru), HCL_ERR_ALIASING);
    CK_STATUS(ctx, BWD(ctx, dx, NULL, NULL, NULL, NULL, b, b2, y, NULL, NULL, res, x, NULL, NULL, NULL, wih, whh, &gru), HCL_OK);
    /* sequence pooling */
    CK_OK(ctx, hcl_seq_pool_forward(ctx, py, x, len, HCL_SEQ_POOL_MEAN));
    CK_STATUS(ctx, hcl_seq_pool_forward(NULL, py, x, len, HCL_SEQ_POOL_MEAN), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, NULL, x, len, HCL_SEQ_POOL_MEAN), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, NULL, len, HCL_SEQ_POOL_MEAN), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, h, x, len, HCL_SEQ_POOL_MEAN), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, x2, len, HCL_SEQ_POOL_MEAN), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, xi, len, HCL_SEQ_POOL_MEAN), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, x, lenf, HCL_SEQ_POOL_MEAN), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, x, len3, HCL_SEQ_POOL_LAST), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, x, len, (hcl_seq_pool_mode)5), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, pyx, x, len, HCL_SEQ_POOL_MEAN), HCL_ERR_ALIASING);
    CK_OK(ctx, hcl_seq_pool_backward(ctx, dx, py, len, HCL_SEQ_POOL_LAST));
    CK_STATUS(ctx, hcl_seq_pool_backward(ctx, dx, NULL, len, HCL_SEQ_POOL_LAST), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_seq_pool_backward(ctx, dx, h, len, HCL_SEQ_POOL_LAST), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_seq_pool_backward(ctx, x, pyx, len, HCL_SEQ_POOL_LAST), HCL_ERR_ALIASING);
    /* a tensor of another context */
    hcl_context *other = test_context();
    hcl_tensor *ox = test_tensor_poisoned(other, HCL_F32, 3, sx);
    CK_STATUS(ctx, FWD(ctx, y, NULL, NULL, NULL, ox, NULL, NULL, NULL, wih, whh, NULL, NULL, &gru), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_seq_pool_forward(ctx, py, ox, NULL, HCL_SEQ_POOL_MEAN), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(ox);
    hcl_context_free(other);
    hcl_tensor *ts[] = {resv, hv, yb, rb, rdx, pyx, x, y, y16, xi, h, h2, wih, whh, wihl, whhl, b, b2, b16, len, lenf, len3,
                        x2, res, ress, resb, res16, resf, fbuf, dx, dwih, py};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("rnn");
    TCase *t = tcase_create("rnn");
    tcase_add_test(t, gru_vs_fp64);
    tcase_add_test(t, lstm_vs_fp64);
    tcase_add_test(t, mixed_dtypes_and_no_dy);
    tcase_add_test(t, backward_vs_finite_differences);
    tcase_add_test(t, padded_steps_never_matter);
    tcase_add_test(t, lengths_clamped);
    tcase_add_test(t, accumulate_overwrite_inference);
    tcase_add_test(t, seq_pool_vs_fp64);
    tcase_add_test(t, bad_inputs);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
