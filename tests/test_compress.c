/* Compression (issue 11): magnitude pruning through the optimizer's mask and weight sharing.
 * Pruning: the Zhu & Gupta schedule values, exactly round(s n) pruned (global and per layer, with
 * many ties) and exactly the host reference's choice, whole channels with their bias, masks that
 * only grow, pruned weights exactly 0 through Adam / SGD-momentum steps with weight decay.
 * Weight sharing: k-means against a host reference, weights always codebook[index], the codebook
 * update against an FP64 sum of the unscaled gradients, the skip on an inf gradient, pruned weights
 * left out of the clustering, the resume through the share file (and why re-adding is none). Every test
 * runs in the fp32, mixed_f16 and mixed_bf16 policies. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

static const hcl_precision policies[3] = {HCL_PRECISION_FP32, HCL_PRECISION_MIXED_F16, HCL_PRECISION_MIXED_BF16};

/* HALFCL_TEST_SMALL=1 (the rusticl/oclgrind runs): fewer steps, smaller shared layers. */
static int small(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && !strcmp(s, "1");
}

/* Parameters of the given shapes (names p0, p1, ...), allocated, masters uploaded from vals[i]. */
static hcl_params *make_params(hcl_context *ctx, hcl_precision pol, size_t n, const int *ranks, const int64_t (*shapes)[4]) {
    hcl_params *p = NULL;
    CK_OK(ctx, hcl_params_create(ctx, pol, &p));
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%zu", i);
        CK_OK(ctx, hcl_params_add(p, name, ranks[i], shapes[i], NULL));
    }
    CK_OK(ctx, hcl_params_alloc(p));
    return p;
}

static size_t pcount(hcl_params *p, size_t i) { return hcl_params_weight(p, i)->count; }

/* Nonzero values on a coarse grid (many exact ties), exact in every dtype. */
static void fill_ties(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double u = test_normal();
        float v = (float)((1.0 + floor(fabs(u) * 4.0)) / 4.0);
        x[i] = u < 0 ? -v : v;
    }
}

static void upload_param(hcl_params *p, size_t i, const float *x) {
    CK_OK(hcl_params_context(p), hcl_params_upload(p, i, x, pcount(p, i)));
}

static float *download_param(hcl_params *p, size_t i) {
    float *x = test_falloc(pcount(p, i));
    CK_OK(hcl_params_context(p), hcl_params_download(p, i, x, pcount(p, i)));
    return x;
}

static hcl_optimizer *make_opt(hcl_params *p, hcl_optim_kind kind, float wd, float momentum) {
    hcl_optim_config c;
    hcl_optim_config_init(&c, kind);
    c.weight_decay = wd;
    if (kind == HCL_OPTIM_SGD) c.momentum = momentum;
    hcl_optimizer *o = NULL;
    CK_OK(hcl_params_context(p), hcl_optimizer_create(p, &c, NULL, &o));
    return o;
}

/* Random gradients (unscaled g ~ N(0, 0.05), stored times the loss scale) into every parameter. */
static void random_grads(hcl_optimizer *o) {
    hcl_params *p = hcl_optimizer_params(o);
    hcl_context *ctx = hcl_params_context(p);
    hcl_amp_stats s;
    CK_OK(ctx, hcl_optimizer_read_stats(o, &s));
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = pcount(p, i);
        float *g = test_falloc(n);
        test_fill_normal(g, n, 0.05);
        for (size_t j = 0; j < n; j++) g[j] *= s.scale;
        CK_OK(ctx, hcl_tensor_upload_f32(hcl_params_grad(p, i), g, n));
        free(g);
    }
}

/* ---- pruning: reference selection ---- */
typedef struct ref_entry { double key; size_t pos; } ref_entry;
static int ref_cmp(const void *a, const void *b) {
    const ref_entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Expected keep flags (1 keep) of unstructured pruning of vals (concatenated, positions = arena
 * offsets pos[j]) to sparsity s, entries already 0 in `keep` first. */
static void ref_prune(const float *vals, const size_t *pos, unsigned char *keep, size_t n, double s) {
    ref_entry *e = malloc(n * sizeof *e);
    ck_assert_ptr_nonnull(e);
    for (size_t j = 0; j < n; j++) e[j] = (ref_entry){keep[j] ? fabs((double)vals[j]) : -1.0, pos[j]};
    qsort(e, n, sizeof *e, ref_cmp);
    size_t k = (size_t)floor(s * (double)n + 0.5);
    for (size_t j = 0; j < k; j++)
        for (size_t m = 0; m < n; m++)
            if (pos[m] == e[j].pos) keep[m] = 0;
    free(e);
}

START_TEST(prune_schedule) {
    hcl_context *ctx = test_context();
    const int ranks[1] = {1};
    const int64_t shapes[1][4] = {{10}};
    hcl_params *p = make_params(ctx, HCL_PRECISION_FP32, 1, ranks, shapes);
    hcl_optimizer *o = make_opt(p, HCL_OPTIM_SGD, 0, 0);
    hcl_prune_config c;
    hcl_prune_config_init(&c, 0.8f);
    ck_assert(c.kind == HCL_PRUNE_UNSTRUCTURED && c.scope == HCL_PRUNE_GLOBAL && c.begin_step == 0 && c.end_step == 0 &&
              c.frequency == 1 && c.initial_sparsity == 0.0f && c.target_sparsity == 0.8f);
    hcl_pruner *pr = NULL;
    /* one shot at 0 */
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    ck_assert(hcl_pruner_target_at(pr, 0) == 0.8f && hcl_pruner_target_at(pr, 1000) == 0.8f);
    hcl_pruner_free(pr);
    /* one shot at 50 */
    c.begin_step = c.end_step = 50;
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    ck_assert(hcl_pruner_target_at(pr, 49) == 0.0f && hcl_pruner_target_at(pr, 50) == 0.8f);
    hcl_pruner_free(pr);
    /* gradual: begin 10, end 105 (not a multiple of the frequency 10), s_i 0.1 */
    c.begin_step = 10;
    c.end_step = 105;
    c.frequency = 10;
    c.initial_sparsity = 0.1f;
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    for (int64_t t = -3; t < 130; t++) {
        double want;
        if (t < 10) want = 0;
        else if (t >= 105) want = 0.8f;
        else {
            int64_t tp = 10 + (t - 10) / 10 * 10;
            double f = 1.0 - (double)(tp - 10) / 95.0;
            want = (double)0.8f + ((double)0.1f - (double)0.8f) * f * f * f;
        }
        float got = hcl_pruner_target_at(pr, t);
        ck_assert_msg(fabs(got - want) <= 1e-6, "step %lld: %g, want %g", (long long)t, got, want);
        if (t > 10) ck_assert(got >= hcl_pruner_target_at(pr, t - 1)); /* non-decreasing */
    }
    ck_assert(hcl_pruner_target_at(pr, 10) == 0.1f);
    ck_assert(hcl_pruner_target_at(NULL, 10) == 0.0f);
    hcl_pruner_free(pr);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* Exactly round(s n) pruned, global and per layer, and exactly the reference's choice (ties by
 * position); the parameter not added is untouched. */
static void check_unstructured(hcl_context *ctx, hcl_precision pol, hcl_prune_scope scope, float target) {
    const int ranks[3] = {2, 2, 1};
    const int64_t shapes[3][4] = {{7, 33}, {33, 5}, {5}};
    hcl_params *p = make_params(ctx, pol, 3, ranks, shapes);
    size_t n0 = pcount(p, 0), n1 = pcount(p, 1), n2 = pcount(p, 2), nt = n0 + n1;
    float *v = test_falloc(nt), *b = test_falloc(n2);
    fill_ties(v, nt);
    fill_ties(b, n2);
    upload_param(p, 0, v);
    upload_param(p, 1, v + n0);
    upload_param(p, 2, b);
    hcl_optimizer *o = make_opt(p, HCL_OPTIM_ADAM, 0, 0);
    hcl_prune_config c;
    hcl_prune_config_init(&c, target);
    c.scope = scope;
    hcl_pruner *pr = NULL;
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
    CK_OK(ctx, hcl_pruner_add(pr, 1, SIZE_MAX));
    ck_assert_ptr_null(hcl_optimizer_mask(o));
    CK_OK(ctx, hcl_pruner_update(pr, 0));
    if (target > 0) ck_assert_ptr_nonnull(hcl_optimizer_mask(o));
    else ck_assert_ptr_null(hcl_optimizer_mask(o)); /* nothing to prune: no mask */
    size_t *pos = calloc(nt, sizeof *pos);
    unsigned char *keep = malloc(nt);
    ck_assert(pos && keep);
    for (size_t j = 0; j < nt; j++) pos[j] = j < n0 ? hcl_params_offset(p, 0) + j : hcl_params_offset(p, 1) + j - n0;
    memset(keep, 1, nt);
    if (scope == HCL_PRUNE_GLOBAL) ref_prune(v, pos, keep, nt, target);
    else {
        ref_prune(v, pos, keep, n0, target);
        ref_prune(v + n0, pos + n0, keep + n0, n1, target);
    }
    float *w0 = download_param(p, 0), *w1 = download_param(p, 1), *w2 = download_param(p, 2);
    size_t z = 0;
    for (size_t j = 0; j < nt; j++) {
        float got = j < n0 ? w0[j] : w1[j - n0];
        ck_assert_msg(got == (keep[j] ? v[j] : 0.0f), "%s scope %d: weight %zu = %g, want %g", hcl_precision_name(pol), scope, j,
                      got, keep[j] ? v[j] : 0.0f);
        z += got == 0.0f;
    }
    size_t want = scope == HCL_PRUNE_GLOBAL ? (size_t)floor(target * (double)nt + 0.5)
                                            : (size_t)floor(target * (double)n0 + 0.5) + (size_t)floor(target * (double)n1 + 0.5);
    ck_assert_uint_eq(z, want);
    ck_assert(!memcmp(w2, b, n2 * sizeof *b));
    double sp = -1;
    CK_OK(ctx, hcl_params_sparsity(p, 2, &sp));
    ck_assert(sp == 0.0);
    if (scope == HCL_PRUNE_PER_LAYER) {
        CK_OK(ctx, hcl_params_sparsity(p, 0, &sp));
        ck_assert(sp == floor(target * (double)n0 + 0.5) / (double)n0);
    }
    /* working copies are 0 too */
    float *wk = test_download(hcl_params_weight(p, 0));
    for (size_t j = 0; j < n0; j++) ck_assert(!keep[j] ? wk[j] == 0.0f : wk[j] != 0.0f);
    /* a second update at the same target changes nothing */
    CK_OK(ctx, hcl_pruner_update(pr, 5));
    free(wk); free(w0); free(w1); free(w2); free(v); free(b); free(pos); free(keep);
    hcl_pruner_free(pr);
    hcl_optimizer_free(o);
    hcl_params_free(p);
}

START_TEST(prune_unstructured_exact) {
    hcl_context *ctx = test_context();
    static const float targets[4] = {0.0f, 0.37f, 0.8f, 1.0f};
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < 4; t++) {
            check_unstructured(ctx, policies[k], HCL_PRUNE_GLOBAL, targets[t]);
            check_unstructured(ctx, policies[k], HCL_PRUNE_PER_LAYER, targets[t]);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Channels: whole rows (the smallest L2 norms, ties by position) and their bias elements. */
START_TEST(prune_channels) {
    hcl_context *ctx = test_context();
    for (int k = 0; k < 3; k++)
        for (int scope = 0; scope < 2; scope++) {
            const int ranks[4] = {4, 1, 2, 1};
            const int64_t shapes[4][4] = {{6, 3, 3, 3}, {6}, {5, 7}, {5}};
            hcl_params *p = make_params(ctx, policies[k], 4, ranks, shapes);
            float *vals[4];
            for (size_t i = 0; i < 4; i++) {
                vals[i] = test_falloc(pcount(p, i));
                fill_ties(vals[i], pcount(p, i));
                upload_param(p, i, vals[i]);
            }
            /* two equal rows in the conv weight: a tie */
            memcpy(vals[0] + 27, vals[0] + 4 * 27, 27 * sizeof(float));
            upload_param(p, 0, vals[0]);
            hcl_optimizer *o = make_opt(p, HCL_OPTIM_SGD, 1e-3f, 0.9f);
            hcl_prune_config c;
            hcl_prune_config_init(&c, 0.5f);
            c.kind = HCL_PRUNE_CHANNELS;
            c.scope = (hcl_prune_scope)scope;
            hcl_pruner *pr = NULL;
            CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
            CK_OK(ctx, hcl_pruner_add(pr, 0, 1));
            CK_OK(ctx, hcl_pruner_add(pr, 2, 3));
            CK_OK(ctx, hcl_pruner_update(pr, 0));
            /* reference: channel keys */
            ref_entry e[11];
            size_t ne = 0;
            for (int l = 0; l < 2; l++) {
                size_t wi = (size_t)(2 * l), K = (size_t)shapes[wi][0], row = pcount(p, wi) / K;
                for (size_t ch = 0; ch < K; ch++) {
                    double ss = 0;
                    for (size_t j = 0; j < row; j++) ss += (double)vals[wi][ch * row + j] * vals[wi][ch * row + j];
                    e[ne++] = (ref_entry){sqrt(ss), hcl_params_offset(p, wi) + ch * row};
                }
            }
            unsigned char pruned[11] = {0};
            if (scope == HCL_PRUNE_GLOBAL) {
                ref_entry s[11];
                memcpy(s, e, sizeof s);
                qsort(s, 11, sizeof *s, ref_cmp);
                for (size_t j = 0; j < 6; j++) /* round(0.5 * 11) = 6 */
                    for (size_t m = 0; m < 11; m++) pruned[m] |= e[m].pos == s[j].pos;
            } else {
                ref_entry s[6];
                memcpy(s, e, 6 * sizeof *s);
                qsort(s, 6, sizeof *s, ref_cmp);
                for (size_t j = 0; j < 3; j++)
                    for (size_t m = 0; m < 6; m++) pruned[m] |= e[m].pos == s[j].pos;
                memcpy(s, e + 6, 5 * sizeof *s);
                qsort(s, 5, sizeof *s, ref_cmp);
                for (size_t j = 0; j < 3; j++) /* round(2.5) = 3 */
                    for (size_t m = 6; m < 11; m++) pruned[m] |= e[m].pos == s[j].pos;
            }
            /* steps with weight decay and momentum: pruned channels stay exactly 0 */
            for (int st = 0; st < 3; st++) {
                random_grads(o);
                CK_OK(ctx, hcl_optimizer_step(o, 0.05f));
            }
            size_t m = 0;
            for (int l = 0; l < 2; l++) {
                size_t wi = (size_t)(2 * l), K = (size_t)shapes[wi][0], row = pcount(p, wi) / K;
                float *w = download_param(p, wi), *bb = download_param(p, wi + 1);
                float *wk = test_download(hcl_params_weight(p, wi));
                for (size_t ch = 0; ch < K; ch++, m++) {
                    int all0 = 1, any0 = 0;
                    for (size_t j = 0; j < row; j++) {
                        all0 &= w[ch * row + j] == 0.0f && wk[ch * row + j] == 0.0f;
                        any0 |= w[ch * row + j] == 0.0f;
                    }
                    ck_assert_msg(pruned[m] ? all0 && bb[ch] == 0.0f : !any0 && bb[ch] != 0.0f,
                                  "%s scope %d layer %d channel %zu: pruned %d", hcl_precision_name(policies[k]), scope, l, ch,
                                  pruned[m]);
                }
                free(w); free(bb); free(wk);
            }
            for (size_t i = 0; i < 4; i++) free(vals[i]);
            hcl_pruner_free(pr);
            hcl_optimizer_free(o);
            hcl_params_free(p);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Gradual pruning during training (Adam with L2 weight decay, and SGD momentum + decay): at each
 * schedule point exactly round(s_t n) zeros, masks only grow, pruned weights exactly 0 through every
 * step (masters and working copies). */
START_TEST(prune_gradual_training) {
    hcl_context *ctx = test_context();
    int steps = small() ? 12 : 30;
    for (int k = 0; k < 3; k++)
        for (int opt = 0; opt < 2; opt++) {
            const int ranks[2] = {2, 2};
            const int64_t shapes[2][4] = {{17, 9}, {9, 4}};
            hcl_params *p = make_params(ctx, policies[k], 2, ranks, shapes);
            size_t n0 = pcount(p, 0), n1 = pcount(p, 1);
            float *v = test_falloc(n0 + n1);
            test_fill_normal(v, n0 + n1, 1.0);
            for (size_t j = 0; j < n0 + n1; j++) if (v[j] == 0.0f) v[j] = 1.0f;
            upload_param(p, 0, v);
            upload_param(p, 1, v + n0);
            hcl_optimizer *o = opt ? make_opt(p, HCL_OPTIM_SGD, 1e-2f, 0.9f) : make_opt(p, HCL_OPTIM_ADAM, 1e-2f, 0);
            hcl_prune_config c;
            hcl_prune_config_init(&c, 0.75f);
            c.initial_sparsity = 0.2f;
            c.begin_step = 2;
            c.end_step = steps - 6;
            c.frequency = 3;
            hcl_pruner *pr = NULL;
            CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
            CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
            CK_OK(ctx, hcl_pruner_add(pr, 1, SIZE_MAX));
            unsigned char *prev = calloc(n0 + n1, 1); /* 1: pruned before */
            ck_assert_ptr_nonnull(prev);
            for (int64_t t = 0; t < steps; t++) {
                CK_OK(ctx, hcl_pruner_update(pr, t));
                random_grads(o);
                CK_OK(ctx, hcl_optimizer_step(o, 0.01f));
                float *w0 = download_param(p, 0), *w1 = download_param(p, 1);
                float *k0 = test_download(hcl_params_weight(p, 0)), *k1 = test_download(hcl_params_weight(p, 1));
                size_t z = 0;
                for (size_t j = 0; j < n0 + n1; j++) {
                    float w = j < n0 ? w0[j] : w1[j - n0], wk = j < n0 ? k0[j] : k1[j - n0];
                    if (prev[j]) ck_assert_msg(w == 0.0f && wk == 0.0f, "step %lld: pruned weight %zu became %g / %g", (long long)t, j, w, wk);
                    if (w == 0.0f) {
                        prev[j] = 1;
                        z++;
                    }
                }
                size_t want = (size_t)floor((double)hcl_pruner_target_at(pr, t) * (double)(n0 + n1) + 0.5);
                ck_assert_msg(z == want, "%s opt %d step %lld: %zu zeros, want %zu", hcl_precision_name(policies[k]), opt,
                              (long long)t, z, want);
                free(w0); free(w1); free(k0); free(k1);
            }
            ck_assert(hcl_pruner_target_at(pr, steps - 1) == 0.75f);
            /* the optimizer's mask agrees */
            const hcl_tensor *mt = hcl_optimizer_mask(o);
            unsigned char *mask = malloc(mt->count);
            ck_assert_ptr_nonnull(mask);
            CK_OK(ctx, hcl_tensor_download_raw(mt, mask, mt->count));
            for (size_t j = 0; j < n0; j++) ck_assert((mask[hcl_params_offset(p, 0) + j] == 0) == (prev[j] != 0));
            free(mask); free(prev); free(v);
            hcl_pruner_free(pr);
            hcl_optimizer_free(o);
            hcl_params_free(p);
        }
    hcl_context_free(ctx);
}
END_TEST

/* A pruner created on an optimizer that already has a mask (e.g. from a checkpoint) keeps it. */
START_TEST(prune_keeps_existing_mask) {
    hcl_context *ctx = test_context();
    const int ranks[1] = {1};
    const int64_t shapes[1][4] = {{20}};
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16, 1, ranks, shapes);
    float v[20];
    for (int j = 0; j < 20; j++) v[j] = (float)(j + 1); /* the smallest are the first */
    upload_param(p, 0, v);
    hcl_optimizer *o = make_opt(p, HCL_OPTIM_SGD, 0, 0);
    size_t an = hcl_params_arena_numel(p);
    unsigned char *m = malloc(an);
    ck_assert_ptr_nonnull(m);
    memset(m, 1, an);
    m[hcl_params_offset(p, 0) + 19] = 0; /* the largest weight */
    hcl_tensor *mt = NULL;
    int64_t ms[1] = {(int64_t)an};
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, ms, &mt));
    CK_OK(ctx, hcl_tensor_upload_raw(mt, m, an));
    CK_OK(ctx, hcl_optimizer_set_mask(o, mt));
    hcl_prune_config c;
    hcl_prune_config_init(&c, 0.25f);
    hcl_pruner *pr = NULL;
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
    CK_OK(ctx, hcl_pruner_update(pr, 0));
    float *w = download_param(p, 0);
    /* 5 pruned: the old one (19) and the 4 smallest */
    for (int j = 0; j < 20; j++) ck_assert_msg((w[j] == 0.0f) == (j < 4 || j == 19), "weight %d = %g", j, w[j]);
    free(w); free(m);
    hcl_tensor_free(mt);
    hcl_pruner_free(pr);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* ---- weight sharing ---- */
/* Reference k-means: linear init, Lloyd with a plain nearest search (ties: lower index), centroids
 * sorted after each update, until they stop changing. */
static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static int ref_nearest(const double *c, int K, double v) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (fabs(v - c[k]) < fabs(v - c[best])) best = k;
    return best;
}
static void ref_kmeans(const float *x, size_t n, int K, double *c, unsigned char *idx) {
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    for (int k = 0; k < K; k++) c[k] = mn + (mx - mn) * (double)k / (double)(K - 1);
    double *sum = test_dalloc((size_t)K), *nc = test_dalloc((size_t)K), *cnt = test_dalloc((size_t)K);
    for (int it = 0; it < 1000; it++) {
        memset(sum, 0, (size_t)K * sizeof *sum);
        memset(cnt, 0, (size_t)K * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            int k = ref_nearest(c, K, x[i]);
            sum[k] += x[i];
            cnt[k] += 1;
        }
        for (int k = 0; k < K; k++) nc[k] = cnt[k] > 0 ? sum[k] / cnt[k] : c[k];
        qsort(nc, (size_t)K, sizeof *nc, dcmp);
        int same = !memcmp(nc, c, (size_t)K * sizeof *c);
        memcpy(c, nc, (size_t)K * sizeof *c);
        if (same) break;
    }
    for (size_t i = 0; i < n; i++) idx[i] = (unsigned char)ref_nearest(c, K, x[i]);
    free(sum); free(nc); free(cnt);
}

/* Masters == codebook[idx] exactly; working copies == codebook[idx] rounded to their dtype. */
static void check_decoded(hcl_params *p, hcl_weight_share *s, size_t pi, const char *what) {
    size_t n = pcount(p, pi);
    const hcl_tensor *ti = hcl_weight_share_indices(s, pi), *tc = hcl_weight_share_codebook(s, pi);
    unsigned char *idx = malloc(n);
    ck_assert_ptr_nonnull(idx);
    CK_OK(ti->ctx, hcl_tensor_download_raw(ti, idx, n));
    float *cb = test_download((hcl_tensor *)tc), *w = download_param(p, pi), *wk = test_download(hcl_params_weight(p, pi));
    float *want = test_falloc(n);
    for (size_t i = 0; i < n; i++) want[i] = cb[idx[i]];
    for (size_t i = 0; i < n; i++) ck_assert_msg(w[i] == want[i], "%s: master %zu = %.9g, codebook[%u] = %.9g", what, i, w[i], idx[i], want[i]);
    test_round_to_dtype(want, n, hcl_params_weight(p, pi)->dtype);
    for (size_t i = 0; i < n; i++) ck_assert_msg(wk[i] == want[i], "%s: working copy %zu = %.9g, want %.9g", what, i, wk[i], want[i]);
    free(idx); free(cb); free(w); free(wk); free(want);
}

START_TEST(share_kmeans_reference) {
    hcl_context *ctx = test_context();
    for (int k = 0; k < 3; k++) {
        const int ranks[3] = {2, 1, 4};
        const int64_t shapes[3][4] = {{33, 15}, {7}, {4, 3, 3, 3}};
        hcl_params *p = make_params(ctx, policies[k], 3, ranks, shapes);
        hcl_optimizer *o = make_opt(p, HCL_OPTIM_SGD, 0, 0);
        hcl_weight_share *s = NULL;
        CK_OK(ctx, hcl_weight_share_create(o, &s));
        static const int bits[3] = {4, 2, 8};
        for (size_t pi = 0; pi < 3; pi++) {
            size_t n = pcount(p, pi);
            float *x = test_falloc(n);
            test_fill_normal(x, n, 0.3);
            if (pi == 1) x[3] = x[5]; /* duplicates */
            upload_param(p, pi, x);
            float *xm = download_param(p, pi); /* what the host clusters: the masters */
            int K = 1 << bits[pi];
            double *c = test_dalloc((size_t)K);
            unsigned char *idx = malloc(n), *got = malloc(n);
            ck_assert(idx && got);
            ref_kmeans(xm, n, K, c, idx);
            CK_OK(ctx, hcl_weight_share_add(s, pi, bits[pi]));
            const hcl_tensor *ti = hcl_weight_share_indices(s, pi), *tc = hcl_weight_share_codebook(s, pi);
            ck_assert(ti && tc && ti->dtype == HCL_U8 && tc->dtype == HCL_F32 && tc->count == (size_t)K);
            ck_assert(hcl_tensor_same_shape(ti, hcl_params_weight(p, pi)));
            CK_OK(ctx, hcl_tensor_download_raw(ti, got, n));
            float *cb = test_download((hcl_tensor *)tc);
            for (int j = 0; j < K; j++) ck_assert_msg(cb[j] == (float)c[j], "%s param %zu: codebook[%d] %.9g, reference %.9g",
                                                      hcl_precision_name(policies[k]), pi, j, cb[j], c[j]);
            ck_assert(!memcmp(idx, got, n));
            check_decoded(p, s, pi, hcl_precision_name(policies[k]));
            free(x); free(xm); free(c); free(idx); free(got); free(cb);
        }
        ck_assert_ptr_null(hcl_weight_share_indices(s, 99));
        ck_assert_ptr_null(hcl_weight_share_codebook(NULL, 0));
        hcl_weight_share_free(s);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Fine-tuning steps: codebook[k] -= lr * sum of the unscaled gradients of cluster k (FP64
 * reference from the stored gradients and the loss scale), weights = codebook[idx] after each step;
 * an inf gradient skips the update (codebook and weights keep their bits). */
START_TEST(share_steps) {
    hcl_context *ctx = test_context();
    int steps = small() ? 2 : 4;
    for (int k = 0; k < 3; k++)
        for (int opt = 0; opt < 2; opt++) {
            const int ranks[2] = {2, 1};
            const int64_t shapes[2][4] = {{small() ? 40 : 300, 33}, {9}};
            hcl_params *p = make_params(ctx, policies[k], 2, ranks, shapes);
            size_t n = pcount(p, 0);
            float *x = test_falloc(n);
            test_fill_normal(x, n, 0.5);
            upload_param(p, 0, x);
            float b[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
            upload_param(p, 1, b);
            hcl_optimizer *o = opt ? make_opt(p, HCL_OPTIM_ADAM, 1e-2f, 0) : make_opt(p, HCL_OPTIM_SGD, 1e-2f, 0.9f);
            hcl_weight_share *s = NULL;
            CK_OK(ctx, hcl_weight_share_create(o, &s));
            CK_OK(ctx, hcl_weight_share_add(s, 0, 5));
            const hcl_tensor *tc = hcl_weight_share_codebook(s, 0), *ti = hcl_weight_share_indices(s, 0);
            unsigned char *idx = malloc(n);
            ck_assert_ptr_nonnull(idx);
            CK_OK(ctx, hcl_tensor_download_raw(ti, idx, n));
            char what[96];
            for (int t = 0; t <= steps; t++) {
                int inject = t == steps; /* the last step: an inf gradient */
                snprintf(what, sizeof what, "%s opt %d step %d%s", hcl_precision_name(policies[k]), opt, t, inject ? " (inf)" : "");
                float *cb0 = test_download((hcl_tensor *)tc), *w0 = download_param(p, 0);
                hcl_amp_stats st;
                CK_OK(ctx, hcl_optimizer_read_stats(o, &st));
                random_grads(o);
                if (inject) {
                    float inf = INFINITY;
                    hcl_tensor *gv = NULL;
                    int64_t one[1] = {1};
                    CK_OK(ctx, hcl_tensor_view(hcl_params_grad(p, 1), 4, 1, one, &gv));
                    CK_OK(ctx, hcl_tensor_upload_f32(gv, &inf, 1));
                    hcl_tensor_free(gv);
                }
                float *g = test_download(hcl_params_grad(p, 0));
                CK_OK(ctx, hcl_optimizer_step(o, 0.01f));
                CK_OK(ctx, hcl_weight_share_step(s, 0.02f));
                float *cb = test_download((hcl_tensor *)tc);
                hcl_amp_stats st2;
                CK_OK(ctx, hcl_optimizer_read_stats(o, &st2));
                ck_assert_int_eq(st2.last_skipped, inject);
                if (inject) {
                    ck_assert_msg(!memcmp(cb, cb0, 32 * sizeof *cb), "%s: codebook changed on a skipped step", what);
                    float *w = download_param(p, 0);
                    ck_assert_msg(!memcmp(w, w0, n * sizeof *w), "%s: weights changed on a skipped step", what);
                    free(w);
                } else {
                    double sum[32] = {0}, ref[32];
                    for (size_t i = 0; i < n; i++) sum[idx[i]] += (double)g[i] / st.scale;
                    for (int j = 0; j < 32; j++) ref[j] = cb0[j] - 0.02 * sum[j];
                    double num = 0, den = 0;
                    for (int j = 0; j < 32; j++) {
                        num += (cb[j] - ref[j]) * (cb[j] - ref[j]);
                        den += (cb0[j] - ref[j]) * (cb0[j] - ref[j]);
                    }
                    /* the change against the FP64 change: FP32 sums */
                    ck_assert_msg(sqrt(num) <= 1e-5 * sqrt(den) + 1e-7, "%s: codebook update err %g of %g", what, sqrt(num), sqrt(den));
                }
                check_decoded(p, s, 0, what);
                free(cb0); free(w0); free(g); free(cb);
            }
            /* the unshared parameter was trained normally */
            float *bb = download_param(p, 1);
            ck_assert(memcmp(bb, b, sizeof b) != 0);
            free(bb); free(x); free(idx);
            hcl_weight_share_free(s);
            hcl_optimizer_free(o);
            hcl_params_free(p);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Repeated runs give the same bits (fixed-order cluster sums). */
START_TEST(share_deterministic) {
    hcl_context *ctx = test_context();
    float *res[2];
    size_t n = 0;
    for (int run = 0; run < 2; run++) {
        test_rng_reset(1234);
        const int ranks[1] = {1};
        const int64_t shapes[1][4] = {{5000}};
        hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16, 1, ranks, shapes);
        n = pcount(p, 0);
        float *x = test_falloc(n);
        test_fill_normal(x, n, 1.0);
        upload_param(p, 0, x);
        hcl_optimizer *o = make_opt(p, HCL_OPTIM_SGD, 0, 0);
        hcl_weight_share *s = NULL;
        CK_OK(ctx, hcl_weight_share_create(o, &s));
        CK_OK(ctx, hcl_weight_share_add(s, 0, 3));
        for (int t = 0; t < 3; t++) {
            random_grads(o);
            CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
            CK_OK(ctx, hcl_weight_share_step(s, 0.1f));
        }
        res[run] = test_download((hcl_tensor *)hcl_weight_share_codebook(s, 0));
        free(x);
        hcl_weight_share_free(s);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    ck_assert(!memcmp(res[0], res[1], 8 * sizeof(float)));
    free(res[0]); free(res[1]);
    (void)n;
    hcl_context_free(ctx);
}
END_TEST

/* Pruned and shared: decoding keeps pruned weights at 0. */
START_TEST(share_with_mask) {
    hcl_context *ctx = test_context();
    const int ranks[1] = {2};
    const int64_t shapes[1][4] = {{10, 10}};
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_BF16, 1, ranks, shapes);
    float x[100];
    test_fill_normal(x, 100, 1.0);
    upload_param(p, 0, x);
    hcl_optimizer *o = make_opt(p, HCL_OPTIM_ADAM, 0, 0);
    hcl_prune_config c;
    hcl_prune_config_init(&c, 0.5f);
    hcl_pruner *pr = NULL;
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
    CK_OK(ctx, hcl_pruner_update(pr, 0));
    hcl_weight_share *s = NULL;
    CK_OK(ctx, hcl_weight_share_create(o, &s));
    CK_OK(ctx, hcl_weight_share_add(s, 0, 2));
    for (int t = 0; t < 3; t++) {
        random_grads(o);
        CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
        CK_OK(ctx, hcl_weight_share_step(s, 0.1f));
    }
    double sp = 0;
    CK_OK(ctx, hcl_params_sparsity(p, 0, &sp));
    ck_assert_msg(sp >= 0.5, "sparsity %g after shared steps", sp);
    hcl_weight_share_free(s);
    hcl_pruner_free(pr);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* Pruned, then shared before any step: the pruned weights are left out of the k-means and stay
 * exactly 0 (master and working copy), so the mask and the masters agree and a checkpoint saved
 * now loads back (the loader refuses a mask that prunes a nonzero master). */
START_TEST(share_after_prune_keeps_zeros) {
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("share-prune");
    char *ck = test_path_in(dir, "ck.safetensors");
    for (int k = 0; k < 3; k++) {
        const int ranks[1] = {2};
        const int64_t shapes[1][4] = {{12, 10}};
        hcl_params *p = make_params(ctx, policies[k], 1, ranks, shapes);
        size_t n = pcount(p, 0);
        float *x = test_falloc(n);
        test_fill_normal(x, n, 1.0);
        upload_param(p, 0, x);
        hcl_optimizer *o = make_opt(p, HCL_OPTIM_ADAM, 0, 0);
        hcl_prune_config c;
        hcl_prune_config_init(&c, 0.6f);
        hcl_pruner *pr = NULL;
        CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
        CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
        CK_OK(ctx, hcl_pruner_update(pr, 0));
        unsigned char *keep = malloc(hcl_params_arena_numel(p));
        ck_assert_ptr_nonnull(keep);
        CK_OK(ctx, hcl_tensor_download_raw(hcl_optimizer_mask(o), keep, hcl_params_arena_numel(p)));
        keep += hcl_params_offset(p, 0);
        float *live = test_falloc(n), *xm = download_param(p, 0);
        size_t nl = 0;
        for (size_t i = 0; i < n; i++)
            if (keep[i]) live[nl++] = xm[i];
        ck_assert_uint_eq(nl, n - (size_t)floor(0.6 * (double)n + 0.5));
        hcl_weight_share *s = NULL;
        CK_OK(ctx, hcl_weight_share_create(o, &s));
        CK_OK(ctx, hcl_weight_share_add(s, 0, 3));
        /* the codebook is the k-means of the unpruned weights only */
        double cref[8];
        unsigned char *iref = malloc(nl);
        ck_assert_ptr_nonnull(iref);
        ref_kmeans(live, nl, 8, cref, iref);
        float *cb = test_download((hcl_tensor *)hcl_weight_share_codebook(s, 0));
        for (int j = 0; j < 8; j++)
            ck_assert_msg(cb[j] == (float)cref[j], "%s: codebook[%d] %.9g, k-means of the unpruned weights %.9g",
                          hcl_precision_name(policies[k]), j, cb[j], cref[j]);
        float *w = download_param(p, 0), *wk = test_download(hcl_params_weight(p, 0));
        for (size_t i = 0, j = 0; i < n; i++) {
            if (keep[i]) {
                ck_assert(w[i] == cb[iref[j++]]);
                continue;
            }
            ck_assert_msg(w[i] == 0.0f && !signbit(w[i]), "%s: pruned master %zu = %.9g after sharing", hcl_precision_name(policies[k]), i, w[i]);
            ck_assert_msg(wk[i] == 0.0f, "%s: pruned working copy %zu = %.9g after sharing", hcl_precision_name(policies[k]), i, wk[i]);
        }
        CK_OK(ctx, hcl_checkpoint_save(o, ck, NULL));
        hcl_optimizer *o2 = make_opt(p, HCL_OPTIM_ADAM, 0, 0);
        CK_OK(ctx, hcl_checkpoint_load(o2, ck, NULL));
        ck_assert_ptr_nonnull(hcl_optimizer_mask(o2));
        hcl_optimizer_free(o2);
        free(keep - hcl_params_offset(p, 0));
        free(x); free(live); free(xm); free(iref); free(cb); free(w); free(wk);
        hcl_weight_share_free(s);
        hcl_pruner_free(pr);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    test_rm_rf(dir);
    free(ck);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

/* Bits of a shared parameter's indices and codebook and of its masters, for comparisons. */
typedef struct share_bits { unsigned char *idx; float *cb, *w; size_t n; int K; } share_bits;
static share_bits share_get(hcl_params *p, hcl_weight_share *s, size_t pi) {
    share_bits b = {0};
    const hcl_tensor *ti = hcl_weight_share_indices(s, pi), *tc = hcl_weight_share_codebook(s, pi);
    ck_assert(ti && tc);
    b.n = ti->count;
    b.K = (int)tc->count;
    b.idx = malloc(b.n);
    ck_assert_ptr_nonnull(b.idx);
    CK_OK(ti->ctx, hcl_tensor_download_raw(ti, b.idx, b.n));
    b.cb = test_download((hcl_tensor *)tc);
    b.w = download_param(p, pi);
    return b;
}
static int share_same(const share_bits *a, const share_bits *b) {
    return a->n == b->n && a->K == b->K && !memcmp(a->idx, b->idx, a->n) && !memcmp(a->cb, b->cb, (size_t)a->K * sizeof *a->cb) &&
           !memcmp(a->w, b->w, a->n * sizeof *a->w);
}
static void share_bits_free(share_bits *b) { free(b->idx); free(b->cb); free(b->w); }

/* One fine-tuning step t with gradients drawn from (seed, t): the same in every run. */
static void share_train(hcl_optimizer *o, hcl_weight_share *s, uint64_t seed, int from, int to) {
    hcl_context *ctx = hcl_params_context(hcl_optimizer_params(o));
    for (int t = from; t < to; t++) {
        test_rng_reset(seed * 100 + (uint64_t)t);
        random_grads(o);
        CK_OK(ctx, hcl_optimizer_step(o, 0.05f));
        CK_OK(ctx, hcl_weight_share_step(s, 0.05f));
    }
}

/* Resuming shared fine-tuning: the sharing state saved beside the checkpoint and loaded into a new
 * share object resumes bit-identically (indices, codebooks, masters; with a pruning mask), in
 * every policy. Re-adding the parameters instead is not a restore: on these 12 weights (fp32,
 * bits 2) the k-means of the shared values merges two clusters. Bad files change nothing. */
START_TEST(share_resume) {
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("share-resume");
    char *ck = test_path_in(dir, "ck.safetensors"), *sh = test_path_in(dir, "share.safetensors"), *bad = test_path_in(dir, "bad.safetensors");
    uint64_t seed = test_seed() % 100000;
    for (int k = 0; k < 3; k++) {
        const int ranks[3] = {2, 1, 1};
        const int64_t shapes[3][4] = {{40, 30}, {9}, {50}};
        hcl_params *pa = make_params(ctx, policies[k], 3, ranks, shapes), *pb = make_params(ctx, policies[k], 3, ranks, shapes);
        for (size_t pi = 0; pi < 3; pi++) {
            size_t n = pcount(pa, pi);
            float *x = test_falloc(n);
            test_fill_normal(x, n, 0.5);
            upload_param(pa, pi, x);
            test_fill_normal(x, n, 0.5);
            upload_param(pb, pi, x); /* other values: the load must bring everything */
            free(x);
        }
        hcl_optimizer *oa = make_opt(pa, HCL_OPTIM_SGD, 1e-3f, 0.9f), *ob = make_opt(pb, HCL_OPTIM_SGD, 1e-3f, 0.9f);
        hcl_prune_config c;
        hcl_prune_config_init(&c, 0.3f);
        hcl_pruner *pr = NULL;
        CK_OK(ctx, hcl_pruner_create(oa, &c, &pr));
        CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
        CK_OK(ctx, hcl_pruner_update(pr, 0));
        hcl_weight_share *sa = NULL, *sb = NULL;
        CK_OK(ctx, hcl_weight_share_create(oa, &sa));
        CK_OK(ctx, hcl_weight_share_add(sa, 0, 4));
        CK_OK(ctx, hcl_weight_share_add(sa, 2, 2));
        share_train(oa, sa, seed, 0, 3);
        CK_OK(ctx, hcl_checkpoint_save(oa, ck, NULL));
        CK_OK(ctx, hcl_weight_share_save(sa, sh));
        share_train(oa, sa, seed, 3, 6);
        CK_OK(ctx, hcl_checkpoint_load(ob, ck, NULL));
        CK_OK(ctx, hcl_weight_share_create(ob, &sb));
        CK_OK(ctx, hcl_weight_share_load(sb, sh));
        ck_assert_ptr_null(hcl_weight_share_codebook(sb, 1));
        CK_STATUS(ctx, hcl_weight_share_load(sb, sh), HCL_ERR_INVALID_ARGUMENT); /* already sharing */
        share_train(ob, sb, seed, 3, 6);
        for (size_t pi = 0; pi < 3; pi += 2) {
            share_bits a = share_get(pa, sa, pi), b = share_get(pb, sb, pi);
            ck_assert_msg(share_same(&a, &b), "%s: parameter %zu differs after the resume", hcl_precision_name(policies[k]), pi);
            share_bits_free(&a);
            share_bits_free(&b);
        }
        float *wa = download_param(pa, 1), *wb = download_param(pb, 1);
        ck_assert(!memcmp(wa, wb, 9 * sizeof *wa));
        free(wa);
        free(wb);
        hcl_weight_share_free(sb);
        /* bad files: refused, nothing shared, nothing written */
        float *w0 = download_param(pb, 0);
        CK_OK(ctx, hcl_weight_share_create(ob, &sb));
        CK_STATUS(ctx, hcl_weight_share_load(sb, ck), HCL_ERR_FORMAT); /* a checkpoint */
        {
            hcl_safetensors *f = NULL;
            CK_OK(ctx, hcl_safetensors_load(ctx, sh, &f));
            size_t nt = hcl_safetensors_count(f);
            hcl_safetensors_entry *e = calloc(nt, sizeof *e);
            unsigned char *bytes = malloc(2000);
            ck_assert(e && bytes);
            hcl_safetensors_meta meta[1] = {{"halfcl.format", "halfcl-weight-share-1"}};
            for (int mut = 0; mut < 3; mut++) {
                size_t m = 0;
                for (size_t i = 0; i < nt; i++) {
                    const hcl_safetensors_tensor *t = hcl_safetensors_at(f, i);
                    e[m] = (hcl_safetensors_entry){t->name, t->dtype, t->rank, t->shape, t->data, t->bytes};
                    if (!strcmp(t->name, "share.p0.indices") && mut == 0) { /* an index past the codebook */
                        memcpy(bytes, t->data, t->bytes);
                        bytes[7] = 16;
                        e[m].data = bytes;
                    }
                    if (!strcmp(t->name, "share.p2.codebook") && mut == 1) continue; /* indices without a codebook */
                    if (!strcmp(t->name, "share.p0.codebook") && mut == 2) { /* a NaN */
                        float v = NAN;
                        memcpy(bytes, t->data, t->bytes);
                        memcpy(bytes + 4, &v, 4);
                        e[m].data = bytes;
                    }
                    m++;
                }
                CK_OK(ctx, hcl_safetensors_save(ctx, bad, e, m, meta, 1));
                CK_STATUS(ctx, hcl_weight_share_load(sb, bad), HCL_ERR_FORMAT);
                ck_assert_ptr_null(hcl_weight_share_codebook(sb, 0));
                ck_assert_ptr_null(hcl_weight_share_codebook(sb, 2));
            }
            free(e);
            free(bytes);
            hcl_safetensors_free(f);
        }
        float *w1 = download_param(pb, 0);
        ck_assert(!memcmp(w0, w1, pcount(pb, 0) * sizeof *w0));
        free(w0);
        free(w1);
        hcl_weight_share_free(sb);
        hcl_weight_share_free(sa);
        hcl_pruner_free(pr);
        hcl_optimizer_free(oa);
        hcl_optimizer_free(ob);
        hcl_params_free(pa);
        hcl_params_free(pb);
    }
    /* re-adding after a checkpoint load: another clustering */
    {
        static const float x[12] = {1.288f, 1.449f, 0.066f, -0.765f, -1.092f, 0.031f, -1.022f, -1.437f, 0.199f, 0.133f, 0.546f, -0.914f};
        const int ranks[1] = {1};
        const int64_t shapes[1][4] = {{12}};
        hcl_params *pa = make_params(ctx, HCL_PRECISION_FP32, 1, ranks, shapes), *pb = make_params(ctx, HCL_PRECISION_FP32, 1, ranks, shapes);
        upload_param(pa, 0, x);
        hcl_optimizer *oa = make_opt(pa, HCL_OPTIM_SGD, 0, 0), *ob = make_opt(pb, HCL_OPTIM_SGD, 0, 0);
        hcl_weight_share *sa = NULL, *sb = NULL, *sc = NULL;
        CK_OK(ctx, hcl_weight_share_create(oa, &sa));
        CK_OK(ctx, hcl_weight_share_add(sa, 0, 2));
        CK_OK(ctx, hcl_checkpoint_save(oa, ck, NULL));
        CK_OK(ctx, hcl_weight_share_save(sa, sh));
        CK_OK(ctx, hcl_checkpoint_load(ob, ck, NULL));
        CK_OK(ctx, hcl_weight_share_create(ob, &sb));
        CK_OK(ctx, hcl_weight_share_add(sb, 0, 2));
        share_bits a = share_get(pa, sa, 0), b = share_get(pb, sb, 0);
        ck_assert_msg(memcmp(a.idx, b.idx, 12) != 0, "re-adding gave back the clusters here");
        share_bits_free(&b);
        CK_OK(ctx, hcl_checkpoint_load(ob, ck, NULL));
        CK_OK(ctx, hcl_weight_share_create(ob, &sc));
        CK_OK(ctx, hcl_weight_share_load(sc, sh));
        b = share_get(pb, sc, 0);
        ck_assert(share_same(&a, &b));
        share_bits_free(&a);
        share_bits_free(&b);
        hcl_weight_share_free(sa);
        hcl_weight_share_free(sb);
        hcl_weight_share_free(sc);
        hcl_optimizer_free(oa);
        hcl_optimizer_free(ob);
        hcl_params_free(pa);
        hcl_params_free(pb);
    }
    test_rm_rf(dir);
    free(ck);
    free(sh);
    free(bad);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(bad_arguments) {
    hcl_context *ctx = test_context();
    const int ranks[3] = {2, 1, 1};
    const int64_t shapes[3][4] = {{4, 3}, {4}, {5}};
    hcl_params *p = make_params(ctx, HCL_PRECISION_FP32, 3, ranks, shapes);
    hcl_optimizer *o = make_opt(p, HCL_OPTIM_SGD, 0, 0);
    hcl_prune_config c;
    hcl_prune_config_init(&c, 0.5f);
    hcl_pruner *pr = (hcl_pruner *)&pr;
    CK_STATUS(ctx, hcl_pruner_create(NULL, &c, &pr), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_pruner_create(o, NULL, &pr), HCL_ERR_NULL_POINTER);
    ck_assert_ptr_null(pr);
    CK_STATUS(ctx, hcl_pruner_create(o, &c, NULL), HCL_ERR_NULL_POINTER);
#define BAD(stmt)                                                                  \
    do {                                                                           \
        hcl_prune_config b_ = c;                                                   \
        stmt;                                                                      \
        CK_STATUS(ctx, hcl_pruner_create(o, &b_, &pr), HCL_ERR_INVALID_ARGUMENT);  \
    } while (0)
    BAD(b_.target_sparsity = 1.5f);
    BAD(b_.target_sparsity = NAN);
    BAD(b_.initial_sparsity = 0.6f);
    BAD(b_.initial_sparsity = -0.1f);
    BAD(b_.begin_step = -1);
    BAD((b_.begin_step = 5, b_.end_step = 4));
    BAD(b_.frequency = 0);
    BAD(b_.kind = (hcl_prune_kind)7);
    BAD(b_.scope = (hcl_prune_scope)-1);
#undef BAD
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    CK_STATUS(ctx, hcl_pruner_add(NULL, 0, SIZE_MAX), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_pruner_add(pr, 3, SIZE_MAX), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_pruner_add(pr, 0, 1), HCL_ERR_INVALID_ARGUMENT); /* unstructured: no bias */
    CK_OK(ctx, hcl_pruner_add(pr, 0, SIZE_MAX));
    CK_STATUS(ctx, hcl_pruner_add(pr, 0, SIZE_MAX), HCL_ERR_INVALID_ARGUMENT); /* twice */
    CK_STATUS(ctx, hcl_pruner_update(NULL, 0), HCL_ERR_NULL_POINTER);
    hcl_pruner_free(pr);
    c.kind = HCL_PRUNE_CHANNELS;
    CK_OK(ctx, hcl_pruner_create(o, &c, &pr));
    CK_STATUS(ctx, hcl_pruner_add(pr, 1, SIZE_MAX), HCL_ERR_SHAPE);  /* rank 1 weight */
    CK_STATUS(ctx, hcl_pruner_add(pr, 0, 2), HCL_ERR_SHAPE);         /* bias of 5 for 4 channels */
    CK_STATUS(ctx, hcl_pruner_add(pr, 0, 0), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_pruner_add(pr, 0, 7), HCL_ERR_INVALID_ARGUMENT);
    CK_OK(ctx, hcl_pruner_add(pr, 0, 1));
    CK_STATUS(ctx, hcl_pruner_add(pr, 1, SIZE_MAX), HCL_ERR_INVALID_ARGUMENT); /* already the bias */
    hcl_pruner_free(pr);
    hcl_pruner_free(NULL);
    hcl_prune_config_init(NULL, 0.5f);
    double sp;
    CK_STATUS(ctx, hcl_params_sparsity(NULL, 0, &sp), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_params_sparsity(p, 0, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_params_sparsity(p, 3, &sp), HCL_ERR_INVALID_ARGUMENT);

    hcl_weight_share *s = (hcl_weight_share *)&s;
    CK_STATUS(ctx, hcl_weight_share_create(NULL, &s), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_weight_share_create(o, NULL), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_weight_share_create(o, &s));
    CK_STATUS(ctx, hcl_weight_share_add(NULL, 0, 4), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_weight_share_add(s, 3, 4), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_weight_share_add(s, 0, 1), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_weight_share_add(s, 0, 9), HCL_ERR_INVALID_ARGUMENT);
    float bad[12] = {1, 2, NAN};
    CK_OK(ctx, hcl_params_upload(p, 0, bad, 12));
    CK_STATUS(ctx, hcl_weight_share_add(s, 0, 2), HCL_ERR_INVALID_ARGUMENT); /* not finite */
    ck_assert_ptr_null(hcl_weight_share_codebook(s, 0));
    bad[2] = 3;
    CK_OK(ctx, hcl_params_upload(p, 0, bad, 12));
    CK_OK(ctx, hcl_weight_share_add(s, 0, 2));
    CK_STATUS(ctx, hcl_weight_share_add(s, 0, 2), HCL_ERR_INVALID_ARGUMENT); /* twice */
    CK_STATUS(ctx, hcl_weight_share_step(NULL, 0.1f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_weight_share_step(s, -1.0f), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_weight_share_step(s, NAN), HCL_ERR_INVALID_ARGUMENT);
    hcl_weight_share_free(s);
    hcl_weight_share_free(NULL);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("compress");
    tcase_add_test(tc, prune_schedule);
    tcase_add_test(tc, prune_unstructured_exact);
    tcase_add_test(tc, prune_channels);
    tcase_add_test(tc, prune_gradual_training);
    tcase_add_test(tc, prune_keeps_existing_mask);
    tcase_add_test(tc, share_kmeans_reference);
    tcase_add_test(tc, share_steps);
    tcase_add_test(tc, share_deterministic);
    tcase_add_test(tc, share_with_mask);
    tcase_add_test(tc, share_after_prune_keeps_zeros);
    tcase_add_test(tc, share_resume);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
