/* amp layer: precision policies, parameter arenas (aligned views, init, zero/sync), every
 * optimizer over several steps against an FP64 host reference under each policy, the loss
 * scaler (overflow injection skips bit-for-bit, growth, cap, floor, static/off), clipping by the
 * global norm, no host sync inside a step, the F16 underflow experiment (loss curves printed),
 * learning-rate schedules, and checkpoints (bit-identical resume, corrupt files). */
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

/* HALFCL_TEST_SMALL=1 (the oclgrind run): smaller BF16-state statistics and convergence runs. */
static int test_small(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0");
}

/* The parameter set every optimizer test uses: odd sizes, a scalar-like 1, a prime. */
static const int64_t shape_a[1] = {7}, shape_b[2] = {33, 3}, shape_c[1] = {1}, shape_d[2] = {4, 5};

static hcl_params *make_params(hcl_context *ctx, hcl_precision pol) {
    hcl_params *p = NULL;
    CK_OK(ctx, hcl_params_create(ctx, pol, &p));
    CK_OK(ctx, hcl_params_add(p, "a", 1, shape_a, NULL));
    CK_OK(ctx, hcl_params_add(p, "b.weight", 2, shape_b, NULL));
    CK_OK(ctx, hcl_params_add(p, "c", 1, shape_c, NULL));
    CK_OK(ctx, hcl_params_add(p, "d", 2, shape_d, NULL));
    CK_OK(ctx, hcl_params_alloc(p));
    return p;
}

/* Concatenated host values of all parameters (no padding), in parameter order. */
static void upload_all(hcl_context *ctx, hcl_params *p, const float *x) {
    size_t at = 0;
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = hcl_params_weight(p, i)->count;
        CK_OK(ctx, hcl_params_upload(p, i, x + at, n));
        at += n;
    }
}

static void download_all(hcl_context *ctx, hcl_params *p, float *x) {
    size_t at = 0;
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = hcl_params_weight(p, i)->count;
        CK_OK(ctx, hcl_params_download(p, i, x + at, n));
        at += n;
    }
}

static void upload_grads(hcl_context *ctx, hcl_params *p, const float *g) {
    size_t at = 0;
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        hcl_tensor *t = hcl_params_grad(p, i);
        CK_OK(ctx, hcl_tensor_upload_f32(t, g + at, t->count));
        at += t->count;
    }
}

/* Arena-sized F32 tensor (state) -> host values of the parameters only. */
static void download_state(hcl_context *ctx, hcl_params *p, hcl_tensor *s, float *x) {
    float *all = malloc(s->count * sizeof *all);
    ck_assert_ptr_nonnull(all);
    CK_OK(ctx, hcl_tensor_download_f32(s, all, s->count));
    size_t at = 0;
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = hcl_params_weight(p, i)->count, off = hcl_params_offset(p, i);
        memcpy(x + at, all + off, n * sizeof *x);
        at += n;
    }
    free(all);
}

static void *download_bytes(hcl_context *ctx, const hcl_tensor *t) {
    size_t b = hcl_tensor_bytes(t);
    void *h = malloc(b);
    ck_assert_ptr_nonnull(h);
    CK_OK(ctx, hcl_tensor_download_raw(t, h, b));
    return h;
}

static double round_to(double x, hcl_dtype dt) {
    float f = (float)x;
    if (dt == HCL_F16) return hcl_f16_to_f32(hcl_f32_to_f16(f));
    if (dt == HCL_BF16) return hcl_bf16_to_f32(hcl_f32_to_bf16(f));
    return f;
}

/* ---------------------------------------------------------------- FP64 reference optimizers */

typedef struct ref_opt {
    size_t n;
    long t; /* steps taken */
    double *p, *s0, *s1, *s2;
} ref_opt;

static void ref_init(ref_opt *r, size_t n, const float *p, const hcl_optim_config *c) {
    r->n = n;
    r->t = 0;
    r->p = calloc(n, sizeof(double));
    r->s0 = calloc(n, sizeof(double));
    r->s1 = calloc(n, sizeof(double));
    r->s2 = calloc(n, sizeof(double));
    ck_assert(r->p && r->s0 && r->s1 && r->s2);
    for (size_t i = 0; i < n; i++) {
        r->p[i] = p[i];
        if (c->kind == HCL_OPTIM_ADAGRAD) r->s0[i] = c->initial_accumulator_value;
    }
}

static void ref_free(ref_opt *r) {
    free(r->p);
    free(r->s0);
    free(r->s1);
    free(r->s2);
}

/* One PyTorch step with unscaled gradients g times `factor` (the clip factor); hyper-parameters
 * are the float values the device gets. Rounds the weights to `pdt` (pure_f16 has no master). */
static void ref_step(ref_opt *r, const hcl_optim_config *c, double lr, const double *g_in, double factor, hcl_dtype pdt) {
    r->t++;
    double t = (double)r->t, wd = c->weight_decay;
    for (size_t i = 0; i < r->n; i++) {
        double g = g_in[i] * factor, p = r->p[i];
        switch (c->kind) {
        case HCL_OPTIM_SGD: {
            double d = g + wd * p, mom = c->momentum;
            if (mom != 0) {
                double buf = r->t == 1 ? d : mom * r->s0[i] + (1.0 - (double)c->dampening) * d;
                r->s0[i] = buf;
                d = c->nesterov ? d + mom * buf : buf;
            }
            p -= lr * d;
            break;
        }
        case HCL_OPTIM_ADAM:
        case HCL_OPTIM_ADAMW: {
            double b1 = c->beta1, b2 = c->beta2;
            if (c->kind == HCL_OPTIM_ADAMW) p *= 1.0 - lr * wd;
            else g += wd * p;
            double m = r->s0[i] + (1.0 - b1) * (g - r->s0[i]);
            double v = b2 * r->s1[i] + (1.0 - b2) * g * g;
            r->s0[i] = m;
            r->s1[i] = v;
            double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
            p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + (double)c->eps);
            break;
        }
        case HCL_OPTIM_RMSPROP: {
            double a = c->alpha;
            g += wd * p;
            double sq = a * r->s0[i] + (1.0 - a) * g * g, avg;
            r->s0[i] = sq;
            if (c->centered) {
                double ga = r->s2[i] + (1.0 - a) * (g - r->s2[i]);
                r->s2[i] = ga;
                avg = sqrt(fmax(sq - ga * ga, 0.0));
            } else {
                avg = sqrt(sq);
            }
            avg += c->eps;
            if (c->momentum > 0) {
                double buf = c->momentum * r->s1[i] + g / avg;
                r->s1[i] = buf;
                p -= lr * buf;
            } else {
                p -= lr * g / avg;
            }
            break;
        }
        case HCL_OPTIM_ADAGRAD: {
            g += wd * p;
            double clr = lr / (1.0 + (t - 1.0) * c->lr_decay);
            r->s0[i] += g * g;
            p -= clr * g / (sqrt(r->s0[i]) + c->eps);
            break;
        }
        default: break;
        }
        r->p[i] = pdt == HCL_F32 ? p : round_to(p, pdt);
    }
}

/* Arena index of element k of the concatenated parameters (upload_all order). */
static size_t arena_index(hcl_params *p, size_t k) {
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = hcl_params_weight(p, i)->count;
        if (k < n) return hcl_params_offset(p, i) + k;
        k -= n;
    }
    return SIZE_MAX;
}

/* The device's stochastic rounding of an F32 value to BF16 bits (cl_kernels/optim.cl): Philox
 * counter (chunk = arena element / 8, step, slot), key = seed; lane e % 8 takes 16 bits of word
 * lane / 2 (low half for even lanes); bits = (f + r) >> 16; NaN as RNE. */
static uint16_t ref_sr_bf16(float f, uint64_t seed, size_t e, uint32_t step, uint32_t slot) {
    uint64_t chunk = e / 8;
    unsigned lane = (unsigned)(e % 8);
    uint32_t ctr[4] = {(uint32_t)chunk, (uint32_t)(chunk >> 32), step, slot}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    hcl_philox4x32_10(ctr, key, out);
    uint32_t w = out[lane / 2], r = lane % 2 ? w >> 16 : w & 0xffffu, x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return hcl_f32_to_bf16(f);
    return (uint16_t)((x + r) >> 16);
}

/* Rounds the reference's moments as the device stores them after device step `step` (BF16 states:
 * RNE or stochastic with the config's seed, slot k = s_k; F32 states: to float). idx: arena index
 * of each reference element. */
static void ref_round_states(ref_opt *r, const hcl_optim_config *c, const size_t *idx, uint32_t step) {
    double *s[3] = {r->s0, r->s1, r->s2};
    for (uint32_t k = 0; k < 3; k++)
        for (size_t i = 0; i < r->n; i++) {
            if (c->state_dtype != HCL_BF16) s[k][i] = (float)s[k][i];
            else if (c->state_rounding == HCL_STATE_ROUND_STOCHASTIC)
                s[k][i] = hcl_bf16_to_f32(ref_sr_bf16((float)s[k][i], c->state_seed, idx[i], step, k));
            else s[k][i] = round_to(s[k][i], HCL_BF16);
        }
}

/* ---------------------------------------------------------------- policies and arenas */

START_TEST(policy_names_and_dtypes) {
    const char *names[4] = {"fp32", "mixed_f16", "mixed_bf16", "pure_f16"};
    hcl_dtype dts[4] = {HCL_F32, HCL_F16, HCL_BF16, HCL_F16};
    int masters[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) {
        hcl_precision p;
        ck_assert_int_eq(hcl_precision_parse(names[i], &p), HCL_OK);
        ck_assert_int_eq(p, i);
        ck_assert_str_eq(hcl_precision_name(p), names[i]);
        ck_assert_int_eq(hcl_precision_compute_dtype(p), dts[i]);
        ck_assert_int_eq(hcl_precision_grad_dtype(p), dts[i]);
        ck_assert_int_eq(hcl_precision_has_master(p), masters[i]);
    }
    hcl_precision p;
    ck_assert_int_eq(hcl_precision_parse("fp16", &p), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(hcl_precision_name((hcl_precision)9));
    hcl_scaler_config sc;
    hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
    ck_assert_int_eq(sc.mode, HCL_SCALER_DYNAMIC);
    ck_assert(sc.init_scale == 65536.0f && sc.growth_factor == 2.0f && sc.backoff_factor == 0.5f);
    ck_assert(sc.growth_interval == 2000 && sc.max_scale == 16777216.0f && sc.min_scale == 1.0f);
    hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_BF16);
    ck_assert_int_eq(sc.mode, HCL_SCALER_OFF);
}
END_TEST

START_TEST(params_layout_and_views) {
    hcl_context *ctx = test_context();
    unsigned align = hcl_context_device(ctx)->base_align_bytes;
    for (int pol = 0; pol < HCL_PRECISION_COUNT_; pol++) {
        hcl_params *p = make_params(ctx, (hcl_precision)pol);
        hcl_dtype wdt = hcl_precision_compute_dtype((hcl_precision)pol);
        ck_assert_uint_eq(hcl_params_count(p), 4);
        ck_assert_uint_eq(hcl_params_numel(p), 7 + 99 + 1 + 20);
        size_t idx = 99;
        CK_OK(ctx, hcl_params_find(p, "b.weight", &idx));
        ck_assert_uint_eq(idx, 1);
        CK_STATUS(ctx, hcl_params_find(p, "nope", &idx), HCL_ERR_INVALID_ARGUMENT);
        size_t end = 0;
        for (size_t i = 0; i < 4; i++) {
            hcl_tensor *w = hcl_params_weight(p, i), *g = hcl_params_grad(p, i), *m = hcl_params_master(p, i);
            size_t off = hcl_params_offset(p, i);
            ck_assert_msg((off * 2) % align == 0 && (off * 4) % align == 0, "offset %zu not aligned to %u bytes", off, align);
            ck_assert_uint_ge(off, end);
            end = off + w->count;
            ck_assert_int_eq(w->dtype, wdt);
            ck_assert_int_eq(g->dtype, wdt);
            ck_assert_uint_eq(w->offset, off);
            ck_assert_uint_eq(g->offset, off);
            ck_assert_ptr_eq(w->buffer, hcl_params_weight_arena(p)->buffer);
            ck_assert_ptr_eq(g->buffer, hcl_params_grad_arena(p)->buffer);
            if (pol == HCL_PRECISION_FP32) ck_assert_ptr_eq(m, w);
            else if (pol == HCL_PRECISION_PURE_F16) ck_assert_ptr_null(m);
            else {
                ck_assert_int_eq(m->dtype, HCL_F32);
                ck_assert_uint_eq(m->offset, off);
                ck_assert(hcl_tensor_same_shape(m, w));
            }
        }
        ck_assert(hcl_tensor_same_shape(hcl_params_weight(p, 1), &(hcl_tensor){.rank = 2, .shape = {33, 3}}));
        ck_assert_uint_ge(hcl_params_arena_numel(p), end);
        ck_assert_ptr_null(hcl_params_weight(p, 4));
        /* everything starts at zero, padding included */
        float *all = test_download(hcl_params_grad_arena(p));
        for (size_t i = 0; i < hcl_params_arena_numel(p); i++) ck_assert(all[i] == 0.0f);
        free(all);
        hcl_params_free(p);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(params_errors) {
    hcl_context *ctx = test_context();
    hcl_params *p = NULL;
    CK_STATUS(ctx, hcl_params_create(ctx, (hcl_precision)7, &p), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_params_create(ctx, HCL_PRECISION_FP32, NULL), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_MIXED_F16, &p));
    CK_STATUS(ctx, hcl_params_alloc(p), HCL_ERR_INVALID_ARGUMENT); /* nothing declared */
    int64_t bad[2] = {3, 0};
    CK_STATUS(ctx, hcl_params_add(p, "x", 2, bad, NULL), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_params_add(p, "x", 0, bad, NULL), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_params_add(p, "", 1, shape_a, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_params_add(p, NULL, 1, shape_a, NULL), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_params_add(p, "x", 1, shape_a, NULL));
    CK_STATUS(ctx, hcl_params_add(p, "x", 1, shape_a, NULL), HCL_ERR_INVALID_ARGUMENT);
    hcl_optim_config oc;
    hcl_optim_config_init(&oc, HCL_OPTIM_ADAM);
    hcl_optimizer *o = NULL;
    CK_STATUS(ctx, hcl_optimizer_create(p, &oc, NULL, &o), HCL_ERR_INVALID_ARGUMENT); /* not allocated */
    CK_STATUS(ctx, hcl_params_zero_grad(p), HCL_ERR_INVALID_ARGUMENT);
    float v[7] = {0};
    CK_STATUS(ctx, hcl_params_upload(p, 0, v, 7), HCL_ERR_INVALID_ARGUMENT);
    CK_OK(ctx, hcl_params_alloc(p));
    CK_STATUS(ctx, hcl_params_alloc(p), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_params_add(p, "y", 1, shape_a, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_params_upload(p, 1, v, 7), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_params_upload(p, 0, v, 6), HCL_ERR_SHAPE);
    hcl_init bad_init = {.kind = (hcl_init_kind)42};
    CK_STATUS(ctx, hcl_params_init(p, 0, &bad_init, 1), HCL_ERR_INVALID_ARGUMENT);
    /* optimizer configuration checks */
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_SGD);
    c.nesterov = 1;
    CK_STATUS(ctx, hcl_optimizer_create(p, &c, NULL, &o), HCL_ERR_INVALID_ARGUMENT);
    hcl_optim_config_init(&c, HCL_OPTIM_ADAM);
    c.beta2 = 1.0f;
    CK_STATUS(ctx, hcl_optimizer_create(p, &c, NULL, &o), HCL_ERR_INVALID_ARGUMENT);
    hcl_optim_config_init(&c, HCL_OPTIM_ADAMW);
    c.weight_decay = -1.0f;
    CK_STATUS(ctx, hcl_optimizer_create(p, &c, NULL, &o), HCL_ERR_INVALID_ARGUMENT);
    hcl_optim_config_init(&c, HCL_OPTIM_RMSPROP);
    c.max_grad_norm = NAN;
    CK_STATUS(ctx, hcl_optimizer_create(p, &c, NULL, &o), HCL_ERR_INVALID_ARGUMENT);
    c.max_grad_norm = 0;
    c.kind = (hcl_optim_kind)17;
    CK_STATUS(ctx, hcl_optimizer_create(p, &c, NULL, &o), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_optimizer_create(p, NULL, NULL, &o), HCL_ERR_NULL_POINTER);
    hcl_scaler_config sc;
    hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
    sc.max_scale = INFINITY;
    CK_STATUS(ctx, hcl_optimizer_create(p, &oc, &sc, &o), HCL_ERR_INVALID_ARGUMENT);
    hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
    sc.backoff_factor = 0.0f;
    CK_STATUS(ctx, hcl_optimizer_create(p, &oc, &sc, &o), HCL_ERR_INVALID_ARGUMENT);
    hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
    sc.init_scale = 0.5f; /* below min_scale 1 */
    CK_STATUS(ctx, hcl_optimizer_create(p, &oc, &sc, &o), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(o);
    CK_OK(ctx, hcl_optimizer_create(p, &oc, NULL, &o));
    CK_STATUS(ctx, hcl_optimizer_step(o, NAN), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_optimizer_step(o, -1.0f), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_optimizer_step(NULL, 1.0f), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_optimizer_read_stats(o, NULL), HCL_ERR_NULL_POINTER);
    ck_assert_uint_eq(hcl_optimizer_host_step(o), 0);
    hcl_optimizer_free(o);
    hcl_optimizer_free(NULL);
    hcl_params_free(p);
    hcl_params_free(NULL);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(params_init_seeded) {
    hcl_context *ctx = test_context();
    uint64_t seed = test_seed();
    for (int pol = 0; pol < HCL_PRECISION_COUNT_; pol++) {
        hcl_params *p = make_params(ctx, (hcl_precision)pol);
        hcl_dtype sdt = pol == HCL_PRECISION_PURE_F16 ? HCL_F16 : HCL_F32; /* where init draws */
        hcl_init inits[4] = {hcl_init_uniform(-0.5f, 2.0f), hcl_init_he(0), hcl_init_constant(0.25f), hcl_init_xavier(1)};
        for (size_t i = 0; i < 4; i++) CK_OK(ctx, hcl_params_init(p, i, &inits[i], seed));
        /* each parameter equals the Philox op on a standalone tensor at offset = arena offset */
        for (size_t i = 0; i < 4; i++) {
            hcl_tensor *w = hcl_params_weight(p, i);
            hcl_tensor *ref = NULL;
            CK_OK(ctx, hcl_tensor_create(ctx, sdt, w->rank, w->shape, &ref));
            int64_t fi, fo;
            hcl_init_fans(w->rank, w->shape, &fi, &fo);
            uint64_t off = hcl_params_offset(p, i);
            if (i == 0) CK_OK(ctx, hcl_random_uniform(ctx, ref, -0.5f, 2.0f, seed, off));
            if (i == 1) {
                float bound = (float)(sqrt(2.0) * sqrt(3.0 / (double)fi));
                CK_OK(ctx, hcl_random_uniform(ctx, ref, -bound, bound, seed, off));
            }
            if (i == 2) CK_OK(ctx, hcl_tensor_fill(ref, 0.25));
            if (i == 3) CK_OK(ctx, hcl_random_normal(ctx, ref, 0.0f, (float)sqrt(2.0 / (double)(fi + fo)), seed, off));
            hcl_tensor *st = pol == HCL_PRECISION_PURE_F16 ? w : hcl_params_master(p, i);
            void *a = download_bytes(ctx, st), *b = download_bytes(ctx, ref);
            ck_assert_msg(!memcmp(a, b, hcl_tensor_bytes(ref)), "%s param %zu differs from the Philox op (%s)",
                          hcl_precision_name((hcl_precision)pol), i, test_seed_note());
            free(a);
            free(b);
            /* the working copy is the master rounded to nearest even */
            if (pol == HCL_PRECISION_MIXED_F16 || pol == HCL_PRECISION_MIXED_BF16) {
                float *m = test_download(hcl_params_master(p, i));
                uint16_t *bits = download_bytes(ctx, w);
                for (size_t j = 0; j < w->count; j++) {
                    uint16_t want = pol == HCL_PRECISION_MIXED_F16 ? hcl_f32_to_f16(m[j]) : hcl_f32_to_bf16(m[j]);
                    ck_assert_uint_eq(bits[j], want);
                }
                free(m);
                free(bits);
            }
            hcl_tensor_free(ref);
        }
        /* He bound and Xavier spread sanity (99 and 20 draws) */
        float *b = test_download(hcl_params_weight(p, 1));
        double bound = sqrt(2.0) * sqrt(3.0 / 3.0) * 1.001;
        for (size_t j = 0; j < 99; j++) ck_assert(fabs(b[j]) <= bound);
        free(b);
        hcl_params_free(p);
    }
    int64_t fi, fo, s4[4] = {16, 8, 3, 3};
    hcl_init_fans(4, s4, &fi, &fo);
    ck_assert(fi == 72 && fo == 144);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(params_zero_grad_and_sync) {
    hcl_context *ctx = test_context();
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_BF16);
    size_t n = hcl_params_numel(p);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    test_fill_uniform(x, n, -3, 3);
    upload_grads(ctx, p, x);
    CK_OK(ctx, hcl_params_zero_grad(p));
    float *g = test_download(hcl_params_grad_arena(p));
    for (size_t i = 0; i < hcl_params_arena_numel(p); i++) ck_assert(g[i] == 0.0f);
    free(g);
    /* write masters directly, then sync the working copies in one launch */
    for (size_t i = 0, at = 0; i < hcl_params_count(p); i++) {
        hcl_tensor *m = hcl_params_master(p, i);
        CK_OK(ctx, hcl_tensor_upload_f32(m, x + at, m->count));
        at += m->count;
    }
    CK_OK(ctx, hcl_params_sync_weights(p));
    for (size_t i = 0, at = 0; i < hcl_params_count(p); i++) {
        hcl_tensor *w = hcl_params_weight(p, i);
        CK_OK(ctx, hcl_tensor_download_f32(w, y + at, w->count));
        for (size_t j = 0; j < w->count; j++) ck_assert(y[at + j] == hcl_bf16_to_f32(hcl_f32_to_bf16(x[at + j])));
        at += w->count;
    }
    free(x);
    free(y);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- optimizers vs FP64 */

typedef struct variant {
    const char *name;
    hcl_optim_config cfg;
    float lr, gmag; /* learning rate; gradients uniform in [-gmag, gmag] */
} variant;

static size_t make_variants(variant *v) {
    size_t n = 0;
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_SGD);
    v[n++] = (variant){"sgd", c, 0.1f, 0.5f};
    c.weight_decay = 0.05f;
    c.momentum = 0.9f;
    c.dampening = 0.2f;
    v[n++] = (variant){"sgd momentum dampening wd", c, 0.05f, 0.5f};
    c.dampening = 0.0f;
    c.nesterov = 1;
    v[n++] = (variant){"sgd nesterov wd", c, 0.05f, 0.5f};
    hcl_optim_config_init(&c, HCL_OPTIM_ADAM);
    v[n++] = (variant){"adam", c, 0.01f, 0.5f};
    c.weight_decay = 0.1f;
    c.beta1 = 0.8f;
    c.beta2 = 0.99f;
    v[n++] = (variant){"adam L2 betas", c, 0.01f, 0.5f};
    hcl_optim_config_init(&c, HCL_OPTIM_ADAM);
    c.eps = 1e-3f; /* gradients ~1e-3: eps placement (outside the bias-corrected sqrt) matters */
    v[n++] = (variant){"adam eps 1e-3", c, 0.01f, 2e-3f};
    hcl_optim_config_init(&c, HCL_OPTIM_ADAMW);
    c.weight_decay = 0.5f;
    v[n++] = (variant){"adamw wd 0.5", c, 0.01f, 0.5f};
    hcl_optim_config_init(&c, HCL_OPTIM_RMSPROP);
    v[n++] = (variant){"rmsprop", c, 0.01f, 0.5f};
    c.centered = 1;
    c.momentum = 0.5f;
    c.weight_decay = 0.05f;
    c.eps = 1e-3f;
    v[n++] = (variant){"rmsprop centered momentum wd", c, 0.01f, 0.5f};
    hcl_optim_config_init(&c, HCL_OPTIM_ADAGRAD);
    v[n++] = (variant){"adagrad", c, 0.1f, 0.5f};
    c.lr_decay = 0.1f;
    c.initial_accumulator_value = 0.1f;
    c.weight_decay = 0.05f;
    c.eps = 1e-2f;
    v[n++] = (variant){"adagrad lr_decay init wd", c, 0.1f, 0.5f};
    return n;
}

#define OPT_STEPS 5

/* Masters after OPT_STEPS steps: compare the change from the start (the part the optimizer
 * computes) with the FP64 reference. F32 masters: float rounding of a few ops per step on values
 * of size ~1 (2^-24 each) against changes of ~1e-2: < 1e-4 relative; states 1e-5.
 * pure_f16: each step's weight is rounded to F16 on both sides, and a float/double difference can
 * flip a rounding (one F16 ulp, 2^-11 relative to |p| ~ 1, against changes ~5e-2): 2e-2. */
static void run_optimizer_states(hcl_precision pol, hcl_dtype sdt, hcl_state_rounding rnd) {
    hcl_context *ctx = test_context();
    variant v[16];
    size_t nv = make_variants(v);
    hcl_dtype gdt = hcl_precision_grad_dtype(pol);
    hcl_dtype pdt = pol == HCL_PRECISION_PURE_F16 ? HCL_F16 : HCL_F32;
    int bf16 = sdt == HCL_BF16;
    for (size_t vi = 0; vi < nv; vi++) {
        hcl_optim_config cfg = v[vi].cfg;
        cfg.state_dtype = sdt;
        cfg.state_rounding = rnd;
        cfg.state_seed = test_seed() ^ (uint64_t)vi << 40;
        const hcl_optim_config *c = &cfg;
        hcl_params *p = make_params(ctx, pol);
        size_t n = hcl_params_numel(p);
        float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got), *g = malloc(n * sizeof *g);
        double *gd = malloc(n * sizeof *gd);
        size_t *idx = malloc(n * sizeof *idx);
        ck_assert(x && got && g && gd && idx);
        for (size_t i = 0; i < n; i++) idx[i] = arena_index(p, i);
        test_fill_uniform(x, n, -1, 1);
        test_round_to_dtype(x, n, pdt);
        upload_all(ctx, p, x);
        hcl_optimizer *o = NULL;
        CK_OK(ctx, hcl_optimizer_create(p, c, NULL, &o));
        hcl_scaler_config sc;
        hcl_scaler_config_init(&sc, pol);
        double scale = sc.mode == HCL_SCALER_DYNAMIC ? sc.init_scale : 1.0;
        ref_opt r;
        ref_init(&r, n, x, c);
        if (bf16)
            for (size_t i = 0; i < n; i++) r.s0[i] = round_to(r.s0[i], HCL_BF16); /* AdaGrad's initial value (RNE fill) */
        for (int s = 0; s < OPT_STEPS; s++) {
            test_fill_uniform(g, n, -v[vi].gmag, v[vi].gmag);
            for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * scale);
            test_round_to_dtype(g, n, gdt); /* what the backward stored (scaled) */
            for (size_t i = 0; i < n; i++) gd[i] = g[i] / scale;
            upload_grads(ctx, p, g);
            CK_OK(ctx, hcl_optimizer_step(o, v[vi].lr));
            ref_step(&r, c, v[vi].lr, gd, 1.0, pdt);
            if (bf16) ref_round_states(&r, c, idx, (uint32_t)s + 1);
        }
        download_all(ctx, p, got);
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double d = ((double)got[i] - x[i]) - (r.p[i] - x[i]);
            num += d * d;
            den += (r.p[i] - x[i]) * (r.p[i] - x[i]);
        }
        double err = sqrt(num / den), tol = pdt == HCL_F16 ? 2e-2 : bf16 ? 2e-3 : 1e-4;
        ck_assert_msg(err <= tol, "%s %s (%s states%s): master change rel err %g > %g (%s)", hcl_precision_name(pol), v[vi].name,
                      hcl_dtype_name(sdt), rnd ? ", stochastic" : "", err, tol, test_seed_note());
        /* states */
        double *refs[3] = {r.s0, r.s1, r.s2};
        for (size_t k = 0; k < hcl_optimizer_state_count(o); k++) {
            const char *nm = hcl_optimizer_state_name(o, k);
            double *ref = !strcmp(nm, "exp_avg_sq") || (!strcmp(nm, "momentum_buffer") && c->kind == HCL_OPTIM_RMSPROP) ? refs[1]
                          : !strcmp(nm, "grad_avg") ? refs[2] : refs[0];
            ck_assert_int_eq(hcl_optimizer_state(o, k)->dtype, sdt);
            download_state(ctx, p, hcl_optimizer_state(o, k), got);
            /* BF16: the reference rounds its moments the same way each step; a float-vs-double
             * difference can flip one rounding (one BF16 ulp, 2^-8) now and then */
            double e = test_rel_err(got, ref, n), stol = pdt == HCL_F16 ? 2e-2 : bf16 ? 2e-3 : 1e-5;
            ck_assert_msg(e <= stol, "%s %s (%s states%s): state %s rel err %g > %g (%s)", hcl_precision_name(pol), v[vi].name,
                          hcl_dtype_name(sdt), rnd ? ", stochastic" : "", nm, e, stol, test_seed_note());
        }
        /* working copies are the masters rounded to nearest even */
        if (hcl_precision_has_master(pol)) {
            for (size_t i = 0; i < hcl_params_count(p); i++) {
                hcl_tensor *w = hcl_params_weight(p, i);
                float *m = test_download(hcl_params_master(p, i));
                uint16_t *bits = download_bytes(ctx, w);
                for (size_t j = 0; j < w->count; j++)
                    ck_assert_uint_eq(bits[j], w->dtype == HCL_F16 ? hcl_f32_to_f16(m[j]) : hcl_f32_to_bf16(m[j]));
                free(m);
                free(bits);
            }
        }
        hcl_amp_stats st;
        CK_OK(ctx, hcl_optimizer_read_stats(o, &st));
        ck_assert_uint_eq(st.step, OPT_STEPS);
        ck_assert_uint_eq(st.skipped, 0);
        ck_assert_int_eq(st.last_skipped, 0);
        ck_assert(st.scale == (float)scale);
        ck_assert_uint_eq(hcl_optimizer_host_step(o), OPT_STEPS);
        ref_free(&r);
        free(x);
        free(got);
        free(g);
        free(gd);
        free(idx);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    hcl_context_free(ctx);
}

static void run_optimizer_policy(hcl_precision pol) { run_optimizer_states(pol, HCL_F32, HCL_STATE_ROUND_NEAREST); }

START_TEST(optimizers_fp32) { run_optimizer_policy(HCL_PRECISION_FP32); }
END_TEST
START_TEST(optimizers_mixed_f16) { run_optimizer_policy(HCL_PRECISION_MIXED_F16); }
END_TEST
START_TEST(optimizers_mixed_bf16) { run_optimizer_policy(HCL_PRECISION_MIXED_BF16); }
END_TEST
START_TEST(optimizers_pure_f16) { run_optimizer_policy(HCL_PRECISION_PURE_F16); }
END_TEST

/* BF16 moments (RNE and stochastic) in every policy with a master, against the FP64 reference
 * that rounds its moments the same way each step (stochastic: the same Philox bits). */
START_TEST(bf16_states_fp32) { run_optimizer_states(HCL_PRECISION_FP32, HCL_BF16, HCL_STATE_ROUND_NEAREST); }
END_TEST
START_TEST(bf16_states_mixed_f16) { run_optimizer_states(HCL_PRECISION_MIXED_F16, HCL_BF16, HCL_STATE_ROUND_NEAREST); }
END_TEST
START_TEST(bf16_states_mixed_bf16) { run_optimizer_states(HCL_PRECISION_MIXED_BF16, HCL_BF16, HCL_STATE_ROUND_NEAREST); }
END_TEST
START_TEST(bf16_states_sr_fp32) { run_optimizer_states(HCL_PRECISION_FP32, HCL_BF16, HCL_STATE_ROUND_STOCHASTIC); }
END_TEST
START_TEST(bf16_states_sr_mixed_f16) { run_optimizer_states(HCL_PRECISION_MIXED_F16, HCL_BF16, HCL_STATE_ROUND_STOCHASTIC); }
END_TEST
START_TEST(bf16_states_sr_mixed_bf16) { run_optimizer_states(HCL_PRECISION_MIXED_BF16, HCL_BF16, HCL_STATE_ROUND_STOCHASTIC); }
END_TEST
START_TEST(bf16_states_pure_f16) { run_optimizer_states(HCL_PRECISION_PURE_F16, HCL_BF16, HCL_STATE_ROUND_STOCHASTIC); }
END_TEST

/* The BF16 stores bit for bit after one step under fp32 (unit scale, so the unscaled gradient is
 * the uploaded one): SGD's momentum buffer is the gradient, Adam's moments are (1 - beta1) g and
 * ((1 - beta2) g) g in float; each stored RNE or stochastically with the reference Philox bits. */
START_TEST(bf16_state_rounding_exact) {
    hcl_context *ctx = test_context();
    for (int kind = 0; kind < 2; kind++)
        for (int rnd = 0; rnd < 2; rnd++) {
            hcl_params *p = make_params(ctx, HCL_PRECISION_FP32);
            size_t n = hcl_params_numel(p), an = hcl_params_arena_numel(p);
            hcl_optim_config c;
            hcl_optim_config_init(&c, kind ? HCL_OPTIM_ADAM : HCL_OPTIM_SGD);
            c.momentum = 0.9f;
            c.state_dtype = HCL_BF16;
            c.state_rounding = rnd ? HCL_STATE_ROUND_STOCHASTIC : HCL_STATE_ROUND_NEAREST;
            c.state_seed = test_seed() + 77;
            hcl_optimizer *o = NULL;
            CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
            float *g = malloc(n * sizeof *g), *ga = calloc(an, sizeof *ga);
            ck_assert(g && ga);
            test_fill_uniform(g, n, -3, 3);
            for (size_t i = 0; i < n; i++) ga[arena_index(p, i)] = g[i];
            upload_grads(ctx, p, g);
            CK_OK(ctx, hcl_optimizer_step(o, 0.01f));
            for (size_t k = 0; k < hcl_optimizer_state_count(o); k++) {
                uint16_t *bits = download_bytes(ctx, hcl_optimizer_state(o, k));
                size_t ups = 0;
                for (size_t e = 0; e < an; e++) {
                    float want = ga[e];
                    if (kind && k == 0) want = (1.0f - c.beta1) * ga[e];
                    if (kind && k == 1) {
                        volatile float t = (1.0f - c.beta2) * ga[e];
                        want = t * ga[e];
                    }
                    uint16_t w = rnd ? ref_sr_bf16(want, c.state_seed, e, 1, (uint32_t)k) : hcl_f32_to_bf16(want);
                    ck_assert_msg(bits[e] == w, "%s %s state %s element %zu: %04x, want %04x (value %a)", kind ? "adam" : "sgd",
                                  rnd ? "stochastic" : "nearest", hcl_optimizer_state_name(o, k), e, bits[e], w, (double)want);
                    uint32_t x;
                    memcpy(&x, &want, 4);
                    ups += (x >> 16) != bits[e];
                }
                if (rnd) ck_assert_msg(ups > 0 && ups < n, "stochastic rounding rounded %zu of %zu away from zero", ups, n);
                free(bits);
            }
            free(g);
            free(ga);
            hcl_optimizer_free(o);
            hcl_params_free(p);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Stochastic rounding is unbiased: momentum buffers of constant gradients x = b + f ulp (b a BF16
 * value, f in {0.01, 0.25, 0.5, 0.7}, both signs) round away from zero in a fraction f of the
 * elements (within 5 sigma), and their mean is x; the same seed gives the same bits, another seed
 * other bits, and RNE (always toward the nearer value) differs. */
START_TEST(bf16_state_stochastic_unbiased) {
    hcl_context *ctx = test_context();
    const int64_t n = test_small() ? 4096 : 32768;
    const float fr[4] = {0.01f, 0.25f, 0.5f, 0.7f};
    uint16_t *bits[4] = {NULL, NULL, NULL, NULL};
    for (int run = 0; run < 4; run++) { /* 0, 1: seed A; 2: seed B; 3: nearest */
        hcl_params *p = NULL;
        CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_FP32, &p));
        CK_OK(ctx, hcl_params_add(p, "w", 1, &n, NULL));
        CK_OK(ctx, hcl_params_alloc(p));
        hcl_optim_config c;
        hcl_optim_config_init(&c, HCL_OPTIM_SGD);
        c.momentum = 0.5f;
        c.state_dtype = HCL_BF16;
        c.state_rounding = run == 3 ? HCL_STATE_ROUND_NEAREST : HCL_STATE_ROUND_STOCHASTIC;
        c.state_seed = run == 2 ? 0x5eed0002u : 0x5eed0001u;
        hcl_optimizer *o = NULL;
        CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
        float *g = malloc((size_t)n * sizeof *g);
        ck_assert_ptr_nonnull(g);
        for (int64_t i = 0; i < n; i++) { /* b = +-1.5 (ulp 2^-7), class i % 8 */
            int cls = (int)(i % 8);
            g[i] = (cls < 4 ? 1.0f : -1.0f) * (1.5f + fr[cls % 4] * 0.0078125f);
        }
        CK_OK(ctx, hcl_tensor_upload_f32(hcl_params_grad(p, 0), g, (size_t)n));
        CK_OK(ctx, hcl_optimizer_step(o, 0.0f));
        bits[run] = download_bytes(ctx, hcl_optimizer_state(o, 0));
        if (run == 0)
            for (int cls = 0; cls < 8; cls++) {
                double f = fr[cls % 4], cnt = 0, up = 0, sum = 0;
                for (int64_t i = cls; i < n; i += 8) {
                    float v = hcl_bf16_to_f32(bits[run][i]);
                    cnt++;
                    up += fabsf(v) > 1.5f;
                    sum += v;
                }
                double ph = up / cnt, sigma = sqrt(f * (1 - f) / cnt);
                ck_assert_msg(fabs(ph - f) <= 5 * sigma + 1e-12, "class %d: rounded up %.4f of the time, want %.2f (+- %.4f)", cls,
                              ph, f, 5 * sigma);
                double want = g[cls], mean = sum / cnt;
                ck_assert_msg(fabs(mean - want) <= 5 * sigma * 0.0078125 + 1e-9, "class %d: mean %.9f, want %.9f", cls, mean, want);
            }
        free(g);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    size_t bytes = (size_t)n * 2;
    ck_assert_msg(!memcmp(bits[0], bits[1], bytes), "the same seed gave other bits");
    ck_assert_msg(memcmp(bits[0], bits[2], bytes), "another seed gave the same bits");
    ck_assert_msg(memcmp(bits[0], bits[3], bytes), "stochastic equals nearest");
    for (int64_t i = 0; i < n; i++) /* RNE: f < 0.5 down; 0.5 to even (1.5 + 0.5 ulp -> 1.5078125? even mantissa) */
        if (fr[i % 4] != 0.5f)
            ck_assert_float_eq(fabsf(hcl_bf16_to_f32(bits[3][i])), fr[i % 4] < 0.5f ? 1.5f : 1.5078125f);
    for (int r = 0; r < 4; r++) free(bits[r]);
    hcl_context_free(ctx);
}
END_TEST

/* Convergence sanity: Adam on a separable quadratic sum (w - t)^2 over 1000 weights, gradients
 * computed on the host each step, 300 steps with a linearly decaying learning rate: BF16 moments
 * (nearest and stochastic) reach a loss within 2x (+ a floor) of F32 moments, each 1e-4 of the start. */
START_TEST(bf16_state_convergence) {
    hcl_context *ctx = test_context();
    const int64_t n = 1000;
    const int steps = test_small() ? 100 : 300;
    float *t = malloc(n * sizeof *t), *w = malloc(n * sizeof *w), *g = malloc(n * sizeof *g);
    ck_assert(t && w && g);
    test_fill_uniform(t, (size_t)n, -2, 2);
    double loss[3], start = 0;
    for (int64_t i = 0; i < n; i++) start += (double)t[i] * t[i];
    for (int cfgi = 0; cfgi < 3; cfgi++) {
        hcl_params *p = NULL;
        CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_MIXED_F16, &p));
        CK_OK(ctx, hcl_params_add(p, "w", 1, &n, NULL));
        CK_OK(ctx, hcl_params_alloc(p));
        hcl_optim_config c;
        hcl_optim_config_init(&c, HCL_OPTIM_ADAM);
        c.state_dtype = cfgi ? HCL_BF16 : HCL_F32;
        c.state_rounding = cfgi == 2 ? HCL_STATE_ROUND_STOCHASTIC : HCL_STATE_ROUND_NEAREST;
        hcl_scaler_config sc;
        hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
        sc.mode = HCL_SCALER_STATIC;
        sc.init_scale = 1024.0f;
        hcl_optimizer *o = NULL;
        CK_OK(ctx, hcl_optimizer_create(p, &c, &sc, &o));
        for (int s = 0; s < steps; s++) {
            CK_OK(ctx, hcl_params_download(p, 0, w, (size_t)n));
            for (int64_t i = 0; i < n; i++) g[i] = 2.0f * (w[i] - t[i]) * 1024.0f;
            CK_OK(ctx, hcl_tensor_upload_f32(hcl_params_grad(p, 0), g, (size_t)n));
            CK_OK(ctx, hcl_optimizer_step(o, 0.1f * (1.0f - (float)s / (float)steps)));
        }
        CK_OK(ctx, hcl_params_download(p, 0, w, (size_t)n));
        loss[cfgi] = 0;
        for (int64_t i = 0; i < n; i++) loss[cfgi] += ((double)w[i] - t[i]) * ((double)w[i] - t[i]);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    printf("bf16_state_convergence: start %g; final loss f32 %g, bf16 nearest %g, bf16 stochastic %g\n", start, loss[0], loss[1],
           loss[2]);
    for (int k = 0; k < 3; k++) ck_assert_msg(loss[k] < 1e-4 * start, "config %d: loss %g of %g", k, loss[k], start);
    for (int k = 1; k < 3; k++) ck_assert_msg(loss[k] <= 2 * loss[0] + 1e-6 * start, "bf16 config %d: %g vs f32 %g", k, loss[k], loss[0]);
    free(t);
    free(w);
    free(g);
    hcl_context_free(ctx);
}
END_TEST

static hcl_amp_stats stats_of(hcl_context *ctx, hcl_optimizer *o);

/* ---------------------------------------------------------------- pruning masks */

/* A random arena mask (about 40% pruned, padding included) uploaded as U8; host copy in *host. */
static hcl_tensor *random_mask(hcl_context *ctx, hcl_params *p, unsigned char **host) {
    size_t an = hcl_params_arena_numel(p);
    unsigned char *m = malloc(an);
    float *u = malloc(an * sizeof *u);
    ck_assert(m && u);
    test_fill_uniform(u, an, 0, 1);
    for (size_t i = 0; i < an; i++) m[i] = u[i] < 0.4f ? 0 : (unsigned char)(1 + (i % 3)); /* any nonzero keeps */
    m[arena_index(p, 0)] = 0;
    m[arena_index(p, 1)] = 1;
    int64_t shape[2] = {1, (int64_t)an};
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 2, shape, &t));
    CK_OK(ctx, hcl_tensor_upload_raw(t, m, an));
    free(u);
    *host = m;
    return t;
}

/* Every optimizer variant (weight decay, momentum, Adam, RMSProp centered, AdaGrad with an initial
 * accumulator) with a mask, in F32 and BF16 states: the pruned elements' masters, working copies
 * and states are exactly +0 after set_mask and after every step (a non-finite gradient on a pruned
 * element, and random ones elsewhere on pruned elements, change nothing), the kept ones follow the
 * FP64 reference; the user's mask tensor may be freed at once; NULL removes the mask. */
static void run_masked_policy(hcl_precision pol) {
    hcl_context *ctx = test_context();
    variant v[16];
    size_t nv = make_variants(v);
    hcl_dtype gdt = hcl_precision_grad_dtype(pol);
    for (size_t vi = 0; vi < nv; vi++)
        for (int sdt = 0; sdt < 2; sdt++) {
            hcl_optim_config c = v[vi].cfg;
            c.state_dtype = sdt ? HCL_BF16 : HCL_F32;
            hcl_dtype pdt = pol == HCL_PRECISION_PURE_F16 ? HCL_F16 : HCL_F32;
            hcl_params *p = make_params(ctx, pol);
            size_t n = hcl_params_numel(p), an = hcl_params_arena_numel(p);
            float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got), *g = malloc(n * sizeof *g);
            double *gd = malloc(n * sizeof *gd);
            ck_assert(x && got && g && gd);
            test_fill_uniform(x, n, -1, 1);
            test_round_to_dtype(x, n, pdt);
            upload_all(ctx, p, x);
            hcl_optimizer *o = NULL;
            CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
            unsigned char *hm = NULL;
            hcl_tensor *mt = random_mask(ctx, p, &hm);
            CK_OK(ctx, hcl_optimizer_set_mask(o, mt));
            hcl_tensor_free(mt); /* copied (queued) */
            ck_assert_ptr_nonnull(hcl_optimizer_mask(o));
            ck_assert_int_eq(hcl_optimizer_mask(o)->dtype, HCL_U8);
            ck_assert_uint_eq(hcl_optimizer_mask(o)->count, an);
            for (size_t k = 0; k < n; k++)
                if (!hm[arena_index(p, k)]) x[k] = 0.0f;
            hcl_scaler_config sc;
            hcl_scaler_config_init(&sc, pol);
            double scale = sc.mode == HCL_SCALER_DYNAMIC ? sc.init_scale : 1.0;
            ref_opt r;
            ref_init(&r, n, x, &c);
            if (sdt)
                for (size_t i = 0; i < n; i++) r.s0[i] = round_to(r.s0[i], HCL_BF16); /* AdaGrad's initial value */
            for (int s = 0; s < OPT_STEPS; s++) {
                test_fill_uniform(g, n, -v[vi].gmag, v[vi].gmag);
                for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * scale);
                test_round_to_dtype(g, n, gdt);
                for (size_t i = 0; i < n; i++) gd[i] = g[i] / scale;
                if (s == 2) g[0] = s % 2 ? NAN : INFINITY; /* element 0 is pruned: no skip */
                upload_grads(ctx, p, g);
                CK_OK(ctx, hcl_optimizer_step(o, v[vi].lr));
                ref_step(&r, &c, v[vi].lr, gd, 1.0, pdt);
                if (c.state_dtype == HCL_BF16)
                    for (size_t i = 0; i < n; i++) {
                        r.s0[i] = round_to(r.s0[i], HCL_BF16);
                        r.s1[i] = round_to(r.s1[i], HCL_BF16);
                        r.s2[i] = round_to(r.s2[i], HCL_BF16);
                    }
            }
            hcl_amp_stats st;
            CK_OK(ctx, hcl_optimizer_read_stats(o, &st));
            ck_assert_uint_eq(st.skipped, 0);
            download_all(ctx, p, got);
            double num = 0, den = 0;
            for (size_t i = 0; i < n; i++) {
                if (!hm[arena_index(p, i)]) {
                    ck_assert_msg(got[i] == 0.0f && !signbit(got[i]), "%s %s: pruned master %zu is %g", hcl_precision_name(pol),
                                  v[vi].name, i, (double)got[i]);
                    continue;
                }
                double d = ((double)got[i] - x[i]) - (r.p[i] - x[i]);
                num += d * d;
                den += (r.p[i] - x[i]) * (r.p[i] - x[i]);
            }
            double err = sqrt(num / den), tol = pdt == HCL_F16 ? 2e-2 : sdt ? 2e-3 : 1e-4;
            ck_assert_msg(err <= tol, "%s %s (%s states) masked: kept masters rel err %g > %g (%s)", hcl_precision_name(pol),
                          v[vi].name, sdt ? "bf16" : "f32", err, tol, test_seed_note());
            /* pruned elements are +0 bits in the working copy and every state */
            uint16_t *wb = download_bytes(ctx, hcl_params_weight_arena(p));
            for (size_t i = 0; i < an; i++)
                if (!hm[i]) {
                    if (hcl_params_weight_arena(p)->dtype == HCL_F32) ck_assert_uint_eq(((uint32_t *)wb)[i], 0);
                    else ck_assert_uint_eq(wb[i], 0);
                }
            free(wb);
            for (size_t k = 0; k < hcl_optimizer_state_count(o); k++) {
                hcl_tensor *t = hcl_optimizer_state(o, k);
                ck_assert_int_eq(t->dtype, c.state_dtype);
                unsigned char *b = download_bytes(ctx, t);
                size_t es = hcl_dtype_size(t->dtype);
                for (size_t i = 0; i < an; i++)
                    if (!hm[i])
                        for (size_t e = 0; e < es; e++)
                            ck_assert_msg(b[i * es + e] == 0, "%s %s: state %s of pruned element %zu is not 0", hcl_precision_name(pol),
                                          v[vi].name, hcl_optimizer_state_name(o, k), i);
                free(b);
            }
            /* removing the mask: the pruned elements train again (SGD-like steps move them) */
            CK_OK(ctx, hcl_optimizer_set_mask(o, NULL));
            ck_assert_ptr_null(hcl_optimizer_mask(o));
            for (size_t i = 0; i < n; i++) g[i] = (float)(0.25 * scale);
            test_round_to_dtype(g, n, gdt);
            upload_grads(ctx, p, g);
            CK_OK(ctx, hcl_optimizer_step(o, v[vi].lr));
            download_all(ctx, p, got);
            ck_assert_msg(got[0] != 0.0f, "%s %s: element 0 did not move after the mask was removed", hcl_precision_name(pol),
                          v[vi].name);
            ref_free(&r);
            free(hm);
            free(x);
            free(got);
            free(g);
            free(gd);
            hcl_optimizer_free(o);
            hcl_params_free(p);
        }
    hcl_context_free(ctx);
}

START_TEST(masks_fp32) { run_masked_policy(HCL_PRECISION_FP32); }
END_TEST
START_TEST(masks_mixed_f16) { run_masked_policy(HCL_PRECISION_MIXED_F16); }
END_TEST
START_TEST(masks_mixed_bf16) { run_masked_policy(HCL_PRECISION_MIXED_BF16); }
END_TEST
START_TEST(masks_pure_f16) { run_masked_policy(HCL_PRECISION_PURE_F16); }
END_TEST

/* A step with a mask still needs no host sync (the queue is held by an unsignalled user event). */
START_TEST(mask_step_needs_no_host_sync) {
    hcl_context *ctx = test_context();
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16);
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_ADAMW);
    c.state_dtype = HCL_BF16;
    c.state_rounding = HCL_STATE_ROUND_STOCHASTIC;
    hcl_optimizer *o = NULL;
    CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
    unsigned char *hm = NULL;
    hcl_tensor *mt = random_mask(ctx, p, &hm);
    CK_OK(ctx, hcl_optimizer_set_mask(o, mt));
    CK_OK(ctx, hcl_optimizer_step(o, 1e-3f));
    CK_OK(ctx, hcl_finish(ctx));
    cl_int err;
    cl_event gate = clCreateUserEvent(hcl_context_cl(ctx), &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    ck_assert_int_eq(clEnqueueBarrierWithWaitList(hcl_context_queue(ctx), 1, &gate, NULL), CL_SUCCESS);
    alarm(60);
    for (int s = 0; s < 3; s++) {
        CK_OK(ctx, hcl_optimizer_set_mask(o, mt));
        CK_OK(ctx, hcl_params_zero_grad(p));
        CK_OK(ctx, hcl_optimizer_step(o, 1e-3f));
    }
    alarm(0);
    ck_assert_int_eq(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    clReleaseEvent(gate);
    ck_assert_uint_eq(stats_of(ctx, o).step, 4);
    hcl_tensor_free(mt);
    free(hm);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- loss scaler */

typedef struct snapshot {
    void *master, *weight, *state[3], *amp_words;
} snapshot;

static void snap(hcl_context *ctx, hcl_params *p, hcl_optimizer *o, snapshot *s) {
    memset(s, 0, sizeof *s);
    hcl_tensor *m = hcl_params_master_arena(p);
    if (m) s->master = download_bytes(ctx, m);
    s->weight = download_bytes(ctx, hcl_params_weight_arena(p));
    for (size_t k = 0; k < hcl_optimizer_state_count(o); k++) s->state[k] = download_bytes(ctx, hcl_optimizer_state(o, k));
}

static void snap_free(snapshot *s) {
    free(s->master);
    free(s->weight);
    for (int k = 0; k < 3; k++) free(s->state[k]);
}

/* The first element of the parameters' views (not the arena padding, whose zeros' signs drivers
 * may set either way: rusticl's fma turns a padding master into -0) where two arena snapshots of
 * esize-byte elements differ, or SIZE_MAX. */
static size_t views_differ(hcl_params *p, const void *x, const void *y, size_t esize) {
    for (size_t k = 0; k < hcl_params_count(p); k++) {
        size_t off = hcl_params_offset(p, k), n = hcl_params_weight(p, k)->count;
        for (size_t e = off; e < off + n; e++)
            if (memcmp((const char *)x + e * esize, (const char *)y + e * esize, esize)) return e;
    }
    return SIZE_MAX;
}

static void snap_equal(hcl_context *ctx, hcl_params *p, hcl_optimizer *o, const snapshot *a, const char *what) {
    snapshot b;
    snap(ctx, p, o, &b);
    if (a->master) {
        size_t at = views_differ(p, a->master, b.master, 4);
        ck_assert_msg(at == SIZE_MAX, "%s: masters changed (first at arena element %zu: %08x -> %08x)", what, at,
                      at != SIZE_MAX ? ((const uint32_t *)a->master)[at] : 0, at != SIZE_MAX ? ((const uint32_t *)b.master)[at] : 0);
    }
    ck_assert_msg(views_differ(p, a->weight, b.weight, hcl_dtype_size(hcl_params_weight_arena(p)->dtype)) == SIZE_MAX,
                  "%s: weights changed", what);
    for (size_t k = 0; k < hcl_optimizer_state_count(o); k++) {
        const hcl_tensor *t = hcl_optimizer_state(o, k);
        ck_assert_msg(views_differ(p, a->state[k], b.state[k], hcl_dtype_size(t->dtype)) == SIZE_MAX, "%s: state %s changed",
                      what, hcl_optimizer_state_name(o, k));
    }
    snap_free(&b);
}

/* inf or NaN in one gradient element (of a random parameter, random position): the step is
 * skipped with masters, working copies and states bit-for-bit unchanged, the scale halves, the
 * step counter stays, and the next clean step proceeds exactly as the reference without the bad
 * step. Every optimizer, F16 gradients with dynamic scaling. */
START_TEST(overflow_skips_step) {
    hcl_context *ctx = test_context();
    variant v[16];
    size_t nv = make_variants(v);
    for (size_t vi = 0; vi < nv; vi++) {
        const hcl_optim_config *c = &v[vi].cfg;
        hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16);
        size_t n = hcl_params_numel(p);
        float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g), *got = malloc(n * sizeof *got);
        double *gd = malloc(n * sizeof *gd);
        test_fill_uniform(x, n, -1, 1);
        upload_all(ctx, p, x);
        hcl_optimizer *o = NULL;
        CK_OK(ctx, hcl_optimizer_create(p, c, NULL, &o));
        double scale = 65536.0;
        ref_opt r;
        ref_init(&r, n, x, c);
        for (int s = 0; s < 4; s++) {
            test_fill_uniform(g, n, -v[vi].gmag, v[vi].gmag);
            for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * scale);
            test_round_to_dtype(g, n, HCL_F16);
            for (size_t i = 0; i < n; i++) gd[i] = g[i] / scale;
            int bad = s == 2 ? 1 : 0;
            if (bad) {
                size_t at = (size_t)test_uniform(0, (double)n);
                g[at] = (vi % 2) ? NAN : ((vi % 4) ? -INFINITY : INFINITY);
            }
            upload_grads(ctx, p, g);
            snapshot before;
            snap(ctx, p, o, &before);
            CK_OK(ctx, hcl_optimizer_step(o, v[vi].lr));
            hcl_amp_stats st;
            CK_OK(ctx, hcl_optimizer_read_stats(o, &st));
            if (bad) {
                snap_equal(ctx, p, o, &before, v[vi].name);
                ck_assert_int_eq(st.last_skipped, 1);
                ck_assert_uint_eq(st.step, 2);
                ck_assert_uint_eq(st.skipped, 1);
                ck_assert_msg(st.scale == (float)(scale / 2), "%s: scale %g after overflow, want %g", v[vi].name, st.scale, scale / 2);
                scale /= 2;
            } else {
                ck_assert_int_eq(st.last_skipped, 0);
                ref_step(&r, c, v[vi].lr, gd, 1.0, HCL_F32);
                ck_assert_uint_eq(st.step, (unsigned)r.t);
                ck_assert(st.scale == (float)scale);
            }
            snap_free(&before);
        }
        download_all(ctx, p, got);
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double d = ((double)got[i] - x[i]) - (r.p[i] - x[i]);
            num += d * d;
            den += (r.p[i] - x[i]) * (r.p[i] - x[i]);
        }
        ck_assert_msg(sqrt(num / den) <= 1e-4, "%s: after a skipped step, rel err %g (%s)", v[vi].name, sqrt(num / den), test_seed_note());
        ref_free(&r);
        free(x);
        free(g);
        free(got);
        free(gd);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    hcl_context_free(ctx);
}
END_TEST

static hcl_amp_stats stats_of(hcl_context *ctx, hcl_optimizer *o) {
    hcl_amp_stats s;
    CK_OK(ctx, hcl_optimizer_read_stats(o, &s));
    return s;
}

/* Growth after growth_interval clean steps, the cap (never above max_scale, never inf), the floor,
 * and the static and off modes (the scale never moves; a bad step is still skipped). */
START_TEST(scaler_growth_cap_floor) {
    hcl_context *ctx = test_context();
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16);
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_SGD);
    hcl_scaler_config sc;
    hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
    sc.init_scale = 1024.0f;
    sc.growth_interval = 3;
    sc.max_scale = 4096.0f;
    sc.min_scale = 256.0f;
    hcl_optimizer *o = NULL;
    CK_OK(ctx, hcl_optimizer_create(p, &c, &sc, &o));
    ck_assert(hcl_optimizer_grad_scale(o)->count == 1 && hcl_optimizer_grad_scale(o)->dtype == HCL_F32);
    float want[10] = {1024, 1024, 2048, 2048, 2048, 4096, 4096, 4096, 4096, 4096};
    for (int s = 0; s < 10; s++) {
        CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
        hcl_amp_stats st = stats_of(ctx, o);
        ck_assert_msg(st.scale == want[s], "step %d: scale %g, want %g", s + 1, st.scale, want[s]);
        ck_assert_uint_eq(st.growth_tracker, (unsigned)((s + 1) % 3));
    }
    /* the device scale tensor is what the loss ops read */
    float dev;
    CK_OK(ctx, hcl_tensor_download_f32(hcl_optimizer_grad_scale(o), &dev, 1));
    ck_assert(dev == 4096.0f);
    /* backoff to the floor and no further */
    uint16_t inf = 0x7c00;
    CK_OK(ctx, hcl_tensor_upload_raw(hcl_params_grad(p, 2), &inf, 2));
    float floor_want[5] = {2048, 1024, 512, 256, 256};
    for (int s = 0; s < 5; s++) {
        CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
        hcl_amp_stats st = stats_of(ctx, o);
        ck_assert_msg(st.scale == floor_want[s], "overflow %d: scale %g, want %g", s + 1, st.scale, floor_want[s]);
        ck_assert_uint_eq(st.growth_tracker, 0);
        ck_assert_uint_eq(st.skipped, (unsigned)s + 1);
        ck_assert_uint_eq(st.step, 10);
    }
    hcl_optimizer_free(o);

    /* a cap at the largest float: growth that would reach inf stops at max_scale */
    sc.init_scale = 0x1p126f;
    sc.max_scale = FLT_MAX;
    sc.growth_interval = 1;
    sc.min_scale = 1.0f;
    CK_OK(ctx, hcl_params_zero_grad(p));
    CK_OK(ctx, hcl_optimizer_create(p, &c, &sc, &o));
    for (int s = 0; s < 4; s++) CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
    hcl_amp_stats st = stats_of(ctx, o);
    ck_assert_msg(isfinite(st.scale) && st.scale == FLT_MAX, "scale %g at the cap", st.scale);
    ck_assert_uint_eq(st.skipped, 0);
    hcl_optimizer_free(o);

    /* static and off: the scale never moves, bad steps are skipped */
    for (int mode = HCL_SCALER_OFF; mode <= HCL_SCALER_STATIC; mode++) {
        hcl_scaler_config_init(&sc, HCL_PRECISION_MIXED_F16);
        sc.mode = (hcl_scaler_mode)mode;
        sc.init_scale = 128.0f;
        sc.growth_interval = 1;
        float expect = mode == HCL_SCALER_OFF ? 1.0f : 128.0f;
        CK_OK(ctx, hcl_params_zero_grad(p));
        CK_OK(ctx, hcl_optimizer_create(p, &c, &sc, &o));
        for (int s = 0; s < 3; s++) CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
        CK_OK(ctx, hcl_tensor_upload_raw(hcl_params_grad(p, 2), &inf, 2));
        CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
        st = stats_of(ctx, o);
        ck_assert(st.scale == expect);
        ck_assert(st.step == 3 && st.skipped == 1 && st.last_skipped == 1);
        hcl_optimizer_free(o);
    }
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* Clipping by the global L2 norm of the unscaled gradients (FP32, deterministic), applied inside
 * the optimizer: SGD (p -= lr * clip * g) against the reference, F16 gradients scaled by 2^16. */
START_TEST(clip_global_norm) {
    hcl_context *ctx = test_context();
    for (int round = 0; round < 2; round++) {
        hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16);
        size_t n = hcl_params_numel(p);
        float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g), *got = malloc(n * sizeof *got);
        double *gd = malloc(n * sizeof *gd);
        test_fill_uniform(x, n, -1, 1);
        upload_all(ctx, p, x);
        hcl_optim_config c;
        hcl_optim_config_init(&c, HCL_OPTIM_SGD);
        c.max_grad_norm = round == 0 ? 0.5f : 100.0f; /* clips / does not clip */
        hcl_optimizer *o = NULL;
        CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
        ref_opt r;
        ref_init(&r, n, x, &c);
        for (int s = 0; s < 3; s++) {
            test_fill_uniform(g, n, -0.4, 0.4);
            for (size_t i = 0; i < n; i++) g[i] *= 65536.0f;
            test_round_to_dtype(g, n, HCL_F16);
            double ss = 0;
            for (size_t i = 0; i < n; i++) {
                gd[i] = g[i] / 65536.0;
                ss += gd[i] * gd[i];
            }
            double norm = sqrt(ss), clip = fmin(1.0, c.max_grad_norm / (norm + 1e-6));
            upload_grads(ctx, p, g);
            CK_OK(ctx, hcl_optimizer_step(o, 0.1f));
            ref_step(&r, &c, 0.1, gd, clip, HCL_F32);
            hcl_amp_stats st = stats_of(ctx, o);
            ck_assert_msg(fabs(st.grad_norm - norm) <= 1e-5 * norm, "norm %.9g, want %.9g", st.grad_norm, norm);
            ck_assert_msg(fabs(st.clip_factor - clip) <= 1e-5 * clip, "clip %.9g, want %.9g", st.clip_factor, clip);
            if (round == 1) ck_assert(st.clip_factor == 1.0f);
        }
        download_all(ctx, p, got);
        double e = test_rel_err(got, r.p, n);
        ck_assert_msg(e <= 1e-6, "clipped SGD rel err %g (%s)", e, test_seed_note());
        ref_free(&r);
        free(x);
        free(g);
        free(got);
        free(gd);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Deterministic reduction: the same gradients give the same norm bits, run after run. */
START_TEST(norm_deterministic) {
    hcl_context *ctx = test_context();
    hcl_params *p = NULL;
    CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_FP32, &p));
    int64_t big[1] = {5003};
    CK_OK(ctx, hcl_params_add(p, "w", 1, big, NULL));
    CK_OK(ctx, hcl_params_alloc(p));
    float *g = malloc(5003 * sizeof *g);
    test_fill_normal(g, 5003, 3.0);
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_SGD);
    hcl_optimizer *o = NULL;
    CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
    float first = 0;
    for (int s = 0; s < 4; s++) {
        CK_OK(ctx, hcl_tensor_upload_f32(hcl_params_grad(p, 0), g, 5003));
        CK_OK(ctx, hcl_optimizer_step(o, 0.0f));
        hcl_amp_stats st = stats_of(ctx, o);
        if (s == 0) first = st.grad_norm;
        ck_assert(memcmp(&first, &st.grad_norm, 4) == 0);
    }
    free(g);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* A training step needs no host sync: with the queue blocked behind a user event, zero_grad and
 * a whole optimizer step return (a blocking call would hang here until the alarm fails the test). */
START_TEST(step_needs_no_host_sync) {
    hcl_context *ctx = test_context();
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16);
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_ADAMW);
    c.max_grad_norm = 1.0f;
    hcl_optimizer *o = NULL;
    CK_OK(ctx, hcl_optimizer_create(p, &c, NULL, &o));
    CK_OK(ctx, hcl_optimizer_step(o, 1e-3f)); /* builds the program outside the timed part */
    CK_OK(ctx, hcl_finish(ctx));
    cl_int err;
    cl_event gate = clCreateUserEvent(hcl_context_cl(ctx), &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    ck_assert_int_eq(clEnqueueBarrierWithWaitList(hcl_context_queue(ctx), 1, &gate, NULL), CL_SUCCESS);
    alarm(60);
    for (int s = 0; s < 3; s++) {
        CK_OK(ctx, hcl_params_zero_grad(p));
        CK_OK(ctx, hcl_optimizer_step(o, 1e-3f));
    }
    alarm(0);
    ck_assert_int_eq(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    clReleaseEvent(gate);
    hcl_amp_stats st = stats_of(ctx, o);
    ck_assert_uint_eq(st.step, 4);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- underflow experiment */

/* Linear regression y = X w* with badly scaled features: X (64, 4) ~ U(-1,1) * 1.2e-4, w* ~ U(-1,1),
 * w0 = 0, trained by SGD on MSE with GEMM + hcl_mse_loss. The true weight gradients are ~1e-8,
 * below half the smallest F16 subnormal (2^-25 = 2.98e-8): stored unscaled in F16 they flush to
 * zero and the loss never moves (pure_f16, and mixed_f16 without a scaler); scaled by 2^16 they are
 * exact enough that mixed_f16 follows the FP32 loss curve. The data come from a fixed seed so the
 * printed curves are the same every run. */
#define UF_N 64
#define UF_D 4
#define UF_STEPS 20

static void run_regression(hcl_context *ctx, hcl_precision pol, hcl_scaler_mode mode, const float *x, const float *y, float lr,
                           double *curve, int *grads_all_zero) {
    hcl_dtype dt = hcl_precision_compute_dtype(pol);
    int64_t xs[2] = {UF_N, UF_D}, ys[2] = {UF_N, 1}, ws[2] = {UF_D, 1}, one[1] = {1};
    hcl_tensor *X = test_tensor_from(ctx, dt, 2, xs, x);
    hcl_tensor *Y = test_tensor_from(ctx, HCL_F32, 2, ys, y);
    hcl_tensor *pred = NULL, *dpred = NULL, *loss = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, dt, 2, ys, &pred));
    CK_OK(ctx, hcl_tensor_create(ctx, dt, 2, ys, &dpred));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, one, &loss));
    hcl_params *p = NULL;
    CK_OK(ctx, hcl_params_create(ctx, pol, &p));
    CK_OK(ctx, hcl_params_add(p, "w", 2, ws, NULL));
    CK_OK(ctx, hcl_params_alloc(p));
    hcl_optim_config c;
    hcl_optim_config_init(&c, HCL_OPTIM_SGD);
    hcl_scaler_config sc;
    hcl_scaler_config_init(&sc, pol);
    sc.mode = mode;
    hcl_optimizer *o = NULL;
    CK_OK(ctx, hcl_optimizer_create(p, &c, &sc, &o));
    hcl_gemm_desc fwd, bwd;
    hcl_gemm_desc_init(&fwd);
    hcl_gemm_desc_init(&bwd);
    bwd.trans_a = 1;
    bwd.beta = 1.0f; /* parameter gradients accumulate */
    *grads_all_zero = 1;
    for (int s = 0; s < UF_STEPS; s++) {
        CK_OK(ctx, hcl_params_zero_grad(p));
        CK_OK(ctx, hcl_gemm(ctx, pred, X, hcl_params_weight(p, 0), NULL, &fwd));
        CK_OK(ctx, hcl_mse_loss(ctx, loss, dpred, pred, Y, hcl_optimizer_grad_scale(o)));
        CK_OK(ctx, hcl_gemm(ctx, hcl_params_grad(p, 0), X, dpred, NULL, &bwd));
        float l, gw[UF_D];
        CK_OK(ctx, hcl_tensor_download_f32(loss, &l, 1));
        CK_OK(ctx, hcl_tensor_download_f32(hcl_params_grad(p, 0), gw, UF_D));
        for (int j = 0; j < UF_D; j++) *grads_all_zero &= gw[j] == 0.0f;
        curve[s] = l;
        CK_OK(ctx, hcl_optimizer_step(o, lr));
    }
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_tensor_free(X);
    hcl_tensor_free(Y);
    hcl_tensor_free(pred);
    hcl_tensor_free(dpred);
    hcl_tensor_free(loss);
}

START_TEST(underflow_loss_curves) {
    hcl_context *ctx = test_context();
    float x[UF_N * UF_D], y[UF_N];
    double w_true[UF_D];
    test_rng_reset(20240601); /* fixed data: quotable curves */
    for (int i = 0; i < UF_N * UF_D; i++) x[i] = (float)(1.2e-4 * test_uniform(-1, 1));
    test_round_to_dtype(x, UF_N * UF_D, HCL_F16); /* the same data in every run */
    for (int j = 0; j < UF_D; j++) w_true[j] = test_uniform(-1, 1);
    for (int i = 0; i < UF_N; i++) {
        double s = 0;
        for (int j = 0; j < UF_D; j++) s += (double)x[i * UF_D + j] * w_true[j];
        y[i] = (float)s;
    }
    /* FP64: the true gradient at w = 0 and the largest Hessian eigenvalue (power iteration) */
    double H[UF_D][UF_D] = {{0}}, gmax = 0;
    for (int a = 0; a < UF_D; a++) {
        double g = 0;
        for (int i = 0; i < UF_N; i++) g += 2.0 / UF_N * x[i * UF_D + a] * (0.0 - y[i]);
        gmax = fmax(gmax, fabs(g));
        for (int b = 0; b < UF_D; b++)
            for (int i = 0; i < UF_N; i++) H[a][b] += 2.0 / UF_N * x[i * UF_D + a] * x[i * UF_D + b];
    }
    double v[UF_D] = {1, 1, 1, 1}, lam = 0;
    for (int it = 0; it < 200; it++) {
        double nv[UF_D] = {0}, nn = 0;
        for (int a = 0; a < UF_D; a++)
            for (int b = 0; b < UF_D; b++) nv[a] += H[a][b] * v[b];
        for (int a = 0; a < UF_D; a++) nn += nv[a] * nv[a];
        lam = sqrt(nn);
        for (int a = 0; a < UF_D; a++) v[a] = nv[a] / lam;
    }
    ck_assert_msg(gmax < 2.5e-8, "precondition: largest true gradient %g must be below 2^-25", gmax);
    float lr = (float)(0.5 / lam);
    double curves[4][UF_STEPS];
    int zero[4];
    run_regression(ctx, HCL_PRECISION_FP32, HCL_SCALER_OFF, x, y, lr, curves[0], &zero[0]);
    run_regression(ctx, HCL_PRECISION_MIXED_F16, HCL_SCALER_DYNAMIC, x, y, lr, curves[1], &zero[1]);
    run_regression(ctx, HCL_PRECISION_PURE_F16, HCL_SCALER_OFF, x, y, lr, curves[2], &zero[2]);
    run_regression(ctx, HCL_PRECISION_MIXED_F16, HCL_SCALER_OFF, x, y, lr, curves[3], &zero[3]);
    printf("# underflow experiment: largest true gradient %.3g, lr %.4g (0.5 / lambda_max)\n", gmax, (double)lr);
    printf("# step  fp32          mixed_f16(dyn) pure_f16      mixed_f16(no scaling)\n");
    for (int s = 0; s < UF_STEPS; s++)
        printf("%6d  %.6e  %.6e   %.6e  %.6e\n", s, curves[0][s], curves[1][s], curves[2][s], curves[3][s]);
    fflush(stdout);
    /* F32 learns: the loss falls by more than 100x */
    ck_assert_msg(curves[0][UF_STEPS - 1] < curves[0][0] / 100, "fp32 loss %g -> %g", curves[0][0], curves[0][UF_STEPS - 1]);
    /* unscaled F16 gradients flush to zero: the loss does not move at all */
    ck_assert(zero[2] && zero[3] && !zero[0] && !zero[1]);
    for (int s = 1; s < UF_STEPS; s++) {
        ck_assert_msg(curves[2][s] == curves[2][0], "pure_f16 loss moved at step %d", s);
        ck_assert_msg(curves[3][s] == curves[3][0], "unscaled mixed_f16 loss moved at step %d", s);
    }
    /* with dynamic scaling mixed_f16 follows F32: within 5% of the F32 loss + 1e-13 at every step.
     * The gap is F16 rounding of X w and of the working weights (|w| <= 1, ulp 2^-11): residuals
     * of ~1e-7, a loss floor of ~1e-14, which the curves reach after ~20 steps; the absolute 1e-13
     * covers that floor, the 5% the rounding of the scaled gradients along the way. */
    for (int s = 0; s < UF_STEPS; s++)
        ck_assert_msg(fabs(curves[1][s] - curves[0][s]) <= 0.05 * curves[0][s] + 1e-13, "step %d: mixed_f16 %g vs fp32 %g", s,
                      curves[1][s], curves[0][s]);
    ck_assert(curves[1][UF_STEPS - 1] < curves[1][0] / 1000);
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- learning-rate schedules */

START_TEST(lr_schedules) {
    hcl_lr_schedule s;
    hcl_lr_schedule_init(&s, 0.1f);
    ck_assert(hcl_lr_at(&s, 0) == 0.1f && hcl_lr_at(&s, 12345) == 0.1f);
    s.decay = HCL_LR_STEP;
    s.step_size = 10;
    s.gamma = 0.5f;
    ck_assert(hcl_lr_at(&s, 9) == 0.1f);
    ck_assert(fabsf(hcl_lr_at(&s, 10) - 0.05f) < 1e-9f);
    ck_assert(fabsf(hcl_lr_at(&s, 25) - 0.025f) < 1e-9f);
    /* warm-up 5 steps from 0, then cosine over 10 steps to 0.01 */
    hcl_lr_schedule_init(&s, 0.1f);
    s.warmup_steps = 5;
    s.decay = HCL_LR_COSINE;
    s.decay_steps = 10;
    s.min_lr = 0.01f;
    for (int i = 0; i < 5; i++) ck_assert(fabsf(hcl_lr_at(&s, i) - 0.1f * (i + 1) / 5) < 1e-8f);
    ck_assert(fabsf(hcl_lr_at(&s, 5) - 0.1f) < 1e-8f);
    ck_assert(fabsf(hcl_lr_at(&s, 10) - (0.01f + 0.09f * 0.5f)) < 1e-7f);
    ck_assert(fabsf(hcl_lr_at(&s, 15) - 0.01f) < 1e-8f && fabsf(hcl_lr_at(&s, 99) - 0.01f) < 1e-8f);
    s.decay = HCL_LR_LINEAR;
    s.warmup_start_factor = 0.5f;
    ck_assert(fabsf(hcl_lr_at(&s, 0) - 0.1f * (0.5f + 0.5f / 5)) < 1e-8f);
    ck_assert(fabsf(hcl_lr_at(&s, 10) - 0.055f) < 1e-7f);
    ck_assert(fabsf(hcl_lr_at(&s, 20) - 0.01f) < 1e-8f);
}
END_TEST

/* ---------------------------------------------------------------- checkpoints */

static char *tmp_path(const char *name) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/halfcl-amp-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const unsigned char *b, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(b, 1, len, f) == len);
    fclose(f);
}

typedef struct ckpt_case {
    int masked; /* the saving run has a pruning mask */
    hcl_precision pol;
    hcl_optim_config cfg;
} ckpt_case;

static size_t ckpt_cases(ckpt_case *c) {
    size_t n = 0;
    hcl_optim_config o;
    hcl_optim_config_init(&o, HCL_OPTIM_ADAM);
    o.max_grad_norm = 2.0f;
    c[n++] = (ckpt_case){0, HCL_PRECISION_MIXED_F16, o};
    hcl_optim_config_init(&o, HCL_OPTIM_SGD);
    o.momentum = 0.9f;
    o.nesterov = 1;
    c[n++] = (ckpt_case){0, HCL_PRECISION_PURE_F16, o};
    hcl_optim_config_init(&o, HCL_OPTIM_RMSPROP);
    o.centered = 1;
    o.momentum = 0.5f;
    c[n++] = (ckpt_case){0, HCL_PRECISION_FP32, o};
    hcl_optim_config_init(&o, HCL_OPTIM_ADAGRAD);
    o.lr_decay = 0.01f;
    c[n++] = (ckpt_case){0, HCL_PRECISION_MIXED_BF16, o};
    /* BF16 moments (stochastic and nearest) and masks */
    hcl_optim_config_init(&o, HCL_OPTIM_ADAMW);
    o.state_dtype = HCL_BF16;
    o.state_rounding = HCL_STATE_ROUND_STOCHASTIC;
    o.state_seed = 42;
    c[n++] = (ckpt_case){1, HCL_PRECISION_MIXED_F16, o};
    hcl_optim_config_init(&o, HCL_OPTIM_RMSPROP);
    o.centered = 1;
    o.momentum = 0.5f;
    o.state_dtype = HCL_BF16;
    c[n++] = (ckpt_case){0, HCL_PRECISION_MIXED_BF16, o};
    hcl_optim_config_init(&o, HCL_OPTIM_SGD);
    o.momentum = 0.9f;
    o.weight_decay = 0.01f;
    o.state_dtype = HCL_BF16;
    c[n++] = (ckpt_case){1, HCL_PRECISION_FP32, o};
    return n;
}

/* A training run's pieces: params initialised from `seed`, the optimizer with a dynamic scaler
 * (growth every 2 clean steps, so the growth tracker matters on resume). */
typedef struct run {
    hcl_params *p;
    hcl_optimizer *o;
} run;

static run run_create(hcl_context *ctx, const ckpt_case *c, uint64_t seed) {
    run r;
    r.p = make_params(ctx, c->pol);
    hcl_init init = hcl_init_he(0);
    for (size_t i = 0; i < hcl_params_count(r.p); i++) CK_OK(ctx, hcl_params_init(r.p, i, &init, seed));
    hcl_scaler_config sc;
    hcl_scaler_config_init(&sc, c->pol);
    sc.mode = HCL_SCALER_DYNAMIC;
    sc.init_scale = 1024.0f;
    sc.growth_interval = 2;
    CK_OK(ctx, hcl_optimizer_create(r.p, &c->cfg, &sc, &r.o));
    return r;
}

/* A fixed mask: about a third of the arena pruned. */
static void run_set_mask(hcl_context *ctx, run *r) {
    size_t an = hcl_params_arena_numel(r->p);
    unsigned char *m = malloc(an);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < an; i++) m[i] = (i * 7 + 3) % 3 != 0;
    int64_t shape[1] = {(int64_t)an};
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, shape, &t));
    CK_OK(ctx, hcl_tensor_upload_raw(t, m, an));
    CK_OK(ctx, hcl_optimizer_set_mask(r->o, t));
    hcl_tensor_free(t);
    free(m);
}

static void run_free(run *r) {
    hcl_optimizer_free(r->o);
    hcl_params_free(r->p);
}

/* Step s of the run: gradients from (data_seed, s), scaled by the current scale (read: this is a
 * test driving the loss scale by hand), one inf on the steps in `bad_mask`; lr from a schedule at
 * the host step index. */
static void run_steps(hcl_context *ctx, run *r, uint64_t data_seed, int from, int to, unsigned bad_mask) {
    hcl_lr_schedule sched;
    hcl_lr_schedule_init(&sched, 0.05f);
    sched.warmup_steps = 2;
    sched.decay = HCL_LR_COSINE;
    sched.decay_steps = 8;
    size_t n = hcl_params_numel(r->p);
    float *g = malloc(n * sizeof *g);
    for (int s = from; s < to; s++) {
        ck_assert_uint_eq(hcl_optimizer_host_step(r->o), (unsigned)s);
        hcl_amp_stats st;
        CK_OK(ctx, hcl_optimizer_read_stats(r->o, &st));
        test_rng_reset(data_seed * 1000 + (uint64_t)s);
        test_fill_uniform(g, n, -1, 1);
        for (size_t i = 0; i < n; i++) g[i] *= st.scale;
        if (bad_mask & (1u << s)) g[(size_t)s % n] = INFINITY;
        upload_grads(ctx, r->p, g);
        CK_OK(ctx, hcl_optimizer_step(r->o, hcl_lr_at(&sched, (int64_t)hcl_optimizer_host_step(r->o))));
    }
    free(g);
}

/* Whole arenas (padding included), or with params_only the parameters' elements only: a load
 * writes zero padding, while training may have left -0 there (drivers differ in the sign of a
 * zero update, e.g. rusticl/llvmpipe). */
static void runs_identical(hcl_context *ctx, run *a, run *b, const char *what, int params_only) {
    if (params_only) {
        size_t n = hcl_params_numel(a->p);
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        download_all(ctx, a->p, x);
        download_all(ctx, b->p, y);
        ck_assert_msg(!memcmp(x, y, n * sizeof *x), "%s: parameters differ", what);
        for (size_t k = 0; k < hcl_optimizer_state_count(a->o); k++) {
            download_state(ctx, a->p, hcl_optimizer_state(a->o, k), x);
            download_state(ctx, b->p, hcl_optimizer_state(b->o, k), y);
            ck_assert_msg(!memcmp(x, y, n * sizeof *x), "%s: state %s differs", what, hcl_optimizer_state_name(a->o, k));
        }
        free(x);
        free(y);
    } else {
        snapshot sa;
        snap(ctx, a->p, a->o, &sa);
        snap_equal(ctx, b->p, b->o, &sa, what);
        snap_free(&sa);
    }
    hcl_amp_stats x, y;
    CK_OK(ctx, hcl_optimizer_read_stats(a->o, &x));
    CK_OK(ctx, hcl_optimizer_read_stats(b->o, &y));
    ck_assert_msg(x.scale == y.scale && x.growth_tracker == y.growth_tracker && x.step == y.step && x.skipped == y.skipped,
                  "%s: amp state differs (scale %g/%g tracker %u/%u step %u/%u skipped %u/%u)", what, x.scale, y.scale,
                  x.growth_tracker, y.growth_tracker, x.step, y.step, x.skipped, y.skipped);
    ck_assert_uint_eq(hcl_optimizer_host_step(a->o), hcl_optimizer_host_step(b->o));
    const hcl_tensor *ma = hcl_optimizer_mask(a->o), *mb = hcl_optimizer_mask(b->o);
    ck_assert_msg(!ma == !mb, "%s: one run has a mask, the other not", what);
    if (ma) {
        unsigned char *x = download_bytes(ctx, ma), *y = download_bytes(ctx, mb);
        ck_assert_msg(!memcmp(x, y, ma->count), "%s: masks differ", what);
        free(x);
        free(y);
    }
}

/* Train 4 steps, save, train 4 more; a fresh run (other init) that loads the checkpoint and
 * trains the same 4 steps ends with the same bits everywhere. Skipped steps on both sides. */
START_TEST(checkpoint_resume_bit_identical) {
    hcl_context *ctx = test_context();
    ckpt_case cases[8];
    size_t nc = ckpt_cases(cases);
    uint64_t data_seed = test_seed() % 100000;
    char *path = tmp_path("resume.safetensors");
    for (size_t ci = 0; ci < nc; ci++) {
        run a = run_create(ctx, &cases[ci], 11);
        if (cases[ci].masked) run_set_mask(ctx, &a);
        run_steps(ctx, &a, data_seed, 0, 4, 1u << 1);
        hcl_checkpoint_meta meta[2] = {{"epoch", "3"}, {"note", "resume test"}};
        hcl_checkpoint_extra ex = {.rng_seed = 0xfeedfacecafebeefULL, .rng_offset = 123456789, .meta = meta, .meta_count = 2};
        CK_OK(ctx, hcl_checkpoint_save(a.o, path, &ex));
        run_steps(ctx, &a, data_seed, 4, 8, 1u << 5);
        run b = run_create(ctx, &cases[ci], 99);
        ck_assert_ptr_null(hcl_optimizer_mask(b.o));
        hcl_checkpoint_extra got = {0};
        CK_OK(ctx, hcl_checkpoint_load(b.o, path, &got));
        ck_assert(!hcl_optimizer_mask(b.o) == !cases[ci].masked);
        ck_assert(got.rng_seed == 0xfeedfacecafebeefULL && got.rng_offset == 123456789);
        ck_assert_uint_eq(hcl_optimizer_host_step(b.o), 4);
        run_steps(ctx, &b, data_seed, 4, 8, 1u << 5);
        char what[96];
        snprintf(what, sizeof what, "%s %s resume", hcl_precision_name(cases[ci].pol), hcl_optim_name(cases[ci].cfg.kind));
        runs_identical(ctx, &a, &b, what, 0);
        hcl_amp_stats st;
        CK_OK(ctx, hcl_optimizer_read_stats(b.o, &st));
        ck_assert_uint_eq(st.skipped, 2);
        ck_assert_uint_eq(st.step, 6);
        /* user metadata is in the file */
        hcl_safetensors *f = NULL;
        CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
        ck_assert_str_eq(hcl_safetensors_metadata(f, "epoch"), "3");
        ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.policy"), hcl_precision_name(cases[ci].pol));
        /* moments in their dtype, the mask as U8 over the arena */
        char sname[64];
        snprintf(sname, sizeof sname, "state.%s.b.weight", hcl_optimizer_state_name(a.o, 0));
        const hcl_safetensors_tensor *t = hcl_safetensors_find(f, sname);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(t->dtype, cases[ci].cfg.state_dtype);
        t = hcl_safetensors_find(f, "mask");
        ck_assert(!t == !cases[ci].masked);
        if (t) {
            ck_assert_int_eq(t->dtype, HCL_U8);
            ck_assert_uint_eq(t->count, hcl_params_arena_numel(a.p));
        }
        hcl_safetensors_free(f);
        run_free(&a);
        run_free(&b);
    }
    unlink(path);
    free(path);
    hcl_context_free(ctx);
}
END_TEST

/* Corrupt, truncated and mismatched checkpoints are refused with nothing in memory changed; a
 * failing save leaves the existing file as it was. */
START_TEST(checkpoint_corrupt_and_mismatched) {
    hcl_context *ctx = test_context();
    ckpt_case cases[8];
    ckpt_cases(cases);
    uint64_t data_seed = test_seed() % 100000;
    char *good = tmp_path("good.safetensors"), *bad = tmp_path("bad.safetensors");
    run src = run_create(ctx, &cases[0], 5);
    run_steps(ctx, &src, data_seed, 0, 3, 0);
    CK_OK(ctx, hcl_checkpoint_save(src.o, good, NULL));
    run dst = run_create(ctx, &cases[0], 6);
    run_steps(ctx, &dst, data_seed + 1, 0, 5, 1u << 2);
    snapshot before;
    snap(ctx, dst.p, dst.o, &before);
    hcl_amp_stats st0;
    CK_OK(ctx, hcl_optimizer_read_stats(dst.o, &st0));
    size_t len;
    unsigned char *bytes = read_all(good, &len);
    unsigned char *copy = malloc(len);
    struct { const char *what; hcl_status want; } checks[] = {
        {"truncated by 7 bytes", HCL_ERR_FORMAT}, {"truncated to the header", HCL_ERR_FORMAT},
        {"a data byte flipped", HCL_ERR_FORMAT},  {"header length corrupted", HCL_ERR_FORMAT},
        {"missing file", HCL_ERR_IO},
    };
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
    for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
        memcpy(copy, bytes, len);
        size_t l = len;
        if (k == 0) l = len - 7;
        if (k == 1) l = 8 + (size_t)hlen;
        if (k == 2) copy[len - 3] ^= 0x10;
        if (k == 3) copy[0] ^= 0x5a;
        unlink(bad);
        if (k != 4) write_all(bad, copy, l);
        hcl_checkpoint_extra ex = {.rng_seed = 7, .rng_offset = 8};
        CK_STATUS(ctx, hcl_checkpoint_load(dst.o, bad, &ex), checks[k].want);
        ck_assert_msg(ex.rng_seed == 7 && ex.rng_offset == 8, "%s: extra written", checks[k].what);
        snap_equal(ctx, dst.p, dst.o, &before, checks[k].what);
        hcl_amp_stats st;
        CK_OK(ctx, hcl_optimizer_read_stats(dst.o, &st));
        ck_assert_msg(!memcmp(&st, &st0, sizeof st), "%s: amp state changed", checks[k].what);
        ck_assert_uint_eq(hcl_optimizer_host_step(dst.o), 5);
    }
    /* mismatched: another optimizer, another policy, another model, not a checkpoint */
    {
        hcl_optim_config c;
        hcl_optim_config_init(&c, HCL_OPTIM_ADAMW);
        hcl_optimizer *o = NULL;
        CK_OK(ctx, hcl_optimizer_create(src.p, &c, NULL, &o));
        CK_OK(ctx, hcl_checkpoint_save(o, bad, NULL));
        hcl_optimizer_free(o);
        CK_STATUS(ctx, hcl_checkpoint_load(dst.o, bad, NULL), HCL_ERR_INVALID_ARGUMENT);
        run other = run_create(ctx, &cases[0], 5);
        hcl_params *p2 = NULL;
        CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_MIXED_BF16, &p2));
        CK_OK(ctx, hcl_params_add(p2, "a", 1, shape_a, NULL));
        CK_OK(ctx, hcl_params_add(p2, "b.weight", 2, shape_b, NULL));
        CK_OK(ctx, hcl_params_add(p2, "c", 1, shape_c, NULL));
        CK_OK(ctx, hcl_params_add(p2, "d", 2, shape_d, NULL));
        CK_OK(ctx, hcl_params_alloc(p2));
        CK_OK(ctx, hcl_optimizer_create(p2, &cases[0].cfg, NULL, &o));
        CK_OK(ctx, hcl_checkpoint_save(o, bad, NULL));
        CK_STATUS(ctx, hcl_checkpoint_load(dst.o, bad, NULL), HCL_ERR_INVALID_ARGUMENT);
        hcl_optimizer_free(o);
        hcl_params_free(p2);
        /* same names, one shape differs */
        CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_MIXED_F16, &p2));
        int64_t d2[2] = {5, 4};
        CK_OK(ctx, hcl_params_add(p2, "a", 1, shape_a, NULL));
        CK_OK(ctx, hcl_params_add(p2, "b.weight", 2, shape_b, NULL));
        CK_OK(ctx, hcl_params_add(p2, "c", 1, shape_c, NULL));
        CK_OK(ctx, hcl_params_add(p2, "d", 2, d2, NULL));
        CK_OK(ctx, hcl_params_alloc(p2));
        CK_OK(ctx, hcl_optimizer_create(p2, &cases[0].cfg, NULL, &o));
        CK_OK(ctx, hcl_checkpoint_save(o, bad, NULL));
        CK_STATUS(ctx, hcl_checkpoint_load(dst.o, bad, NULL), HCL_ERR_SHAPE);
        hcl_optimizer_free(o);
        hcl_params_free(p2);
        /* a parameter renamed */
        CK_OK(ctx, hcl_params_create(ctx, HCL_PRECISION_MIXED_F16, &p2));
        CK_OK(ctx, hcl_params_add(p2, "a", 1, shape_a, NULL));
        CK_OK(ctx, hcl_params_add(p2, "b.bias", 2, shape_b, NULL));
        CK_OK(ctx, hcl_params_add(p2, "c", 1, shape_c, NULL));
        CK_OK(ctx, hcl_params_add(p2, "d", 2, shape_d, NULL));
        CK_OK(ctx, hcl_params_alloc(p2));
        CK_OK(ctx, hcl_optimizer_create(p2, &cases[0].cfg, NULL, &o));
        CK_OK(ctx, hcl_checkpoint_save(o, bad, NULL));
        CK_STATUS(ctx, hcl_checkpoint_load(dst.o, bad, NULL), HCL_ERR_FORMAT);
        hcl_optimizer_free(o);
        hcl_params_free(p2);
        /* an inference export is a safetensors file but not a checkpoint */
        CK_OK(ctx, hcl_params_export(other.p, bad, HCL_F16, NULL, 0));
        CK_STATUS(ctx, hcl_checkpoint_load(dst.o, bad, NULL), HCL_ERR_FORMAT);
        run_free(&other);
        snap_equal(ctx, dst.p, dst.o, &before, "mismatched checkpoints");
        hcl_amp_stats st;
        CK_OK(ctx, hcl_optimizer_read_stats(dst.o, &st));
        ck_assert(!memcmp(&st, &st0, sizeof st));
    }
    /* a failing save leaves the existing file untouched */
    hcl_checkpoint_meta reserved[1] = {{"halfcl.policy", "x"}};
    hcl_checkpoint_extra ex = {.meta = reserved, .meta_count = 1};
    CK_STATUS(ctx, hcl_checkpoint_save(dst.o, good, &ex), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_checkpoint_save(dst.o, "/nonexistent-halfcl-dir/x.safetensors", NULL), HCL_ERR_IO);
    size_t len2;
    unsigned char *again = read_all(good, &len2);
    ck_assert(len2 == len && !memcmp(again, bytes, len));
    free(again);
    /* and the good file still loads into dst: it then equals src */
    CK_OK(ctx, hcl_checkpoint_load(dst.o, good, NULL));
    runs_identical(ctx, &src, &dst, "reload of the good file", 1);
    snap_free(&before);
    free(bytes);
    free(copy);
    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
    run_free(&src);
    run_free(&dst);
    hcl_context_free(ctx);
}
END_TEST

/* Rewrites checkpoint `src` as `dst` through `edit` (which may change the mask entry's data, dtype
 * or shape), with the CRC-32 recomputed in the loader's order (params, states by parameter, mask,
 * amp scalars; names from the optimizer `o` of the same layout) so only the edit is wrong. */
typedef void (*ckpt_edit_fn)(hcl_safetensors_entry *mask, int64_t *shape, unsigned char *data, size_t an);

static void rewrite_checkpoint(hcl_context *ctx, hcl_optimizer *o, const char *src, const char *dst, ckpt_edit_fn edit) {
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, src, &f));
    size_t n = hcl_safetensors_count(f);
    hcl_safetensors_entry *e = calloc(n, sizeof *e);
    void **data = calloc(n, sizeof *data);
    int64_t (*shapes)[HCL_MAX_RANK] = calloc(n, sizeof *shapes);
    ck_assert(e && data && shapes);
    for (size_t i = 0; i < n; i++) {
        const hcl_safetensors_tensor *t = hcl_safetensors_at(f, i);
        data[i] = malloc(t->bytes + 64);
        ck_assert_ptr_nonnull(data[i]);
        memcpy(data[i], t->data, t->bytes);
        memcpy(shapes[i], t->shape, sizeof shapes[i]);
        e[i] = (hcl_safetensors_entry){t->name, t->dtype, t->rank, shapes[i], data[i], t->bytes};
        if (!strcmp(t->name, "mask")) edit(&e[i], shapes[i], data[i], t->bytes);
    }
    /* CRC in the loader's order */
    hcl_params *p = hcl_optimizer_params(o);
    uLong crc = crc32(0L, Z_NULL, 0);
    char name[300];
    for (size_t s = 0; s <= hcl_optimizer_state_count(o) + 2; s++) {
        size_t count = s <= hcl_optimizer_state_count(o) ? hcl_params_count(p) : s == hcl_optimizer_state_count(o) + 1 ? 1 : 4;
        for (size_t i = 0; i < count; i++) {
            static const char *const amp[4] = {"amp.scale", "amp.growth_tracker", "amp.step", "amp.skipped"};
            if (s == 0) snprintf(name, sizeof name, "param.%s", hcl_params_name(p, i));
            else if (s <= hcl_optimizer_state_count(o))
                snprintf(name, sizeof name, "state.%s.%s", hcl_optimizer_state_name(o, s - 1), hcl_params_name(p, i));
            else snprintf(name, sizeof name, "%s", s == hcl_optimizer_state_count(o) + 1 ? "mask" : amp[i]);
            for (size_t k = 0; k < n; k++)
                if (!strcmp(e[k].name, name)) crc = crc32(crc, e[k].data, (uInt)e[k].bytes);
        }
    }
    char crc_s[16];
    snprintf(crc_s, sizeof crc_s, "%08lx", (unsigned long)crc);
    static const char *const keys[] = {"halfcl.format", "halfcl.policy", "halfcl.optimizer", "halfcl.params",
                                       "halfcl.host_step", "halfcl.rng_seed", "halfcl.rng_offset", "halfcl.crc32"};
    hcl_safetensors_meta m[8];
    for (int k = 0; k < 8; k++) m[k] = (hcl_safetensors_meta){keys[k], k == 7 ? crc_s : hcl_safetensors_metadata(f, keys[k])};
    CK_OK(ctx, hcl_safetensors_save(ctx, dst, e, n, m, 8));
    for (size_t i = 0; i < n; i++) free(data[i]);
    free(data);
    free(e);
    free(shapes);
    hcl_safetensors_free(f);
}

static void edit_none(hcl_safetensors_entry *m, int64_t *sh, unsigned char *d, size_t an) { (void)m, (void)sh, (void)d, (void)an; }
static void edit_prune_more(hcl_safetensors_entry *m, int64_t *sh, unsigned char *d, size_t an) { /* prunes nonzero weights */
    (void)m, (void)sh;
    for (size_t i = 0; i < an; i++) d[i] = 0;
}
static void edit_dtype(hcl_safetensors_entry *m, int64_t *sh, unsigned char *d, size_t an) {
    (void)d;
    m->dtype = HCL_BF16; /* half the elements in the same bytes (an even) */
    sh[0] = (int64_t)(an / 2);
    m->bytes = an / 2 * 2;
}
static void edit_shape(hcl_safetensors_entry *m, int64_t *sh, unsigned char *d, size_t an) {
    (void)d;
    sh[0] = (int64_t)an - 1;
    m->bytes = an - 1;
}
static void edit_rank(hcl_safetensors_entry *m, int64_t *sh, unsigned char *d, size_t an) {
    (void)d;
    m->rank = 2;
    sh[0] = 1;
    sh[1] = (int64_t)an;
}

/* BF16 moments are stored as BF16 (half the bytes of F32); a BF16-state checkpoint loads into an
 * F32-state optimizer exactly (widened) and trains on; an F32-state checkpoint is refused by a
 * BF16-state optimizer (HCL_ERR_DTYPE); masks: a file without one removes the optimizer's; a
 * mask of another dtype, length or rank, or one that prunes nonzero weights, or a flipped mask
 * byte (CRC), is refused — each with nothing in memory changed. */
START_TEST(checkpoint_state_dtype_and_mask) {
    hcl_context *ctx = test_context();
    uint64_t data_seed = test_seed() % 100000;
    char *f32p = tmp_path("s-f32.safetensors"), *bf16p = tmp_path("s-bf16.safetensors"), *bad = tmp_path("s-bad.safetensors");
    ckpt_case c32 = {0, HCL_PRECISION_MIXED_F16, {0}}, c16;
    hcl_optim_config_init(&c32.cfg, HCL_OPTIM_ADAM);
    c16 = c32;
    c16.masked = 1;
    c16.cfg.state_dtype = HCL_BF16;
    c16.cfg.state_rounding = HCL_STATE_ROUND_STOCHASTIC;
    run a32 = run_create(ctx, &c32, 3), a16 = run_create(ctx, &c16, 3);
    run_set_mask(ctx, &a16);
    run_steps(ctx, &a32, data_seed, 0, 3, 0);
    run_steps(ctx, &a16, data_seed, 0, 3, 0);
    CK_OK(ctx, hcl_checkpoint_save(a32.o, f32p, NULL));
    CK_OK(ctx, hcl_checkpoint_save(a16.o, bf16p, NULL));
    size_t l32, l16;
    unsigned char *b32 = read_all(f32p, &l32), *b16 = read_all(bf16p, &l16);
    size_t an = hcl_params_arena_numel(a16.p), n = hcl_params_numel(a16.p);
    /* the tensor bytes (after the 8-byte length and the JSON header): the two moments at 2 B/param
     * less, plus the 1-byte mask over the arena (its padding too); exact at any model size (a
     * small model's header grows by more than that) */
    ck_assert(l32 > 8 && l16 > 8);
    uint64_t h32 = 0, h16 = 0;
    for (int k = 7; k >= 0; k--) h32 = h32 << 8 | b32[k], h16 = h16 << 8 | b16[k];
    ck_assert(h32 < l32 - 8 && h16 < l16 - 8);
    size_t d32 = l32 - 8 - (size_t)h32, d16 = l16 - 8 - (size_t)h16;
    ck_assert_msg(d16 + 4 * n == d32 + an, "bf16-state checkpoint data %zu bytes, f32 %zu, %zu params, arena %zu", d16,
                  d32, n, an);
    free(b32);
    free(b16);

    /* BF16 file -> F32-state optimizer: exact widening, the mask comes along */
    run w = run_create(ctx, &c32, 8);
    CK_OK(ctx, hcl_checkpoint_load(w.o, bf16p, NULL));
    ck_assert_ptr_nonnull(hcl_optimizer_mask(w.o));
    for (size_t k = 0; k < 2; k++) {
        float *x = malloc(an * sizeof *x), *y = malloc(an * sizeof *y);
        CK_OK(ctx, hcl_tensor_download_f32(hcl_optimizer_state(a16.o, k), x, an));
        CK_OK(ctx, hcl_tensor_download_f32(hcl_optimizer_state(w.o, k), y, an));
        ck_assert_int_eq(hcl_optimizer_state(w.o, k)->dtype, HCL_F32);
        ck_assert(!memcmp(x, y, an * sizeof *x));
        free(x);
        free(y);
    }
    run_steps(ctx, &w, data_seed, 3, 5, 0); /* trains on, the pruned elements stay 0 */
    {
        float *x = malloc(an * sizeof *x);
        unsigned char *m = download_bytes(ctx, hcl_optimizer_mask(w.o));
        CK_OK(ctx, hcl_tensor_download_f32(hcl_params_master_arena(w.p), x, an));
        size_t zeros = 0;
        for (size_t i = 0; i < an; i++)
            if (!m[i]) {
                ck_assert(x[i] == 0.0f);
                zeros++;
            }
        ck_assert(zeros > n / 4);
        free(x);
        free(m);
    }

    /* F32 file -> BF16-state optimizer: refused, nothing changed */
    run b = run_create(ctx, &c16, 9);
    run_steps(ctx, &b, data_seed + 5, 0, 2, 0);
    snapshot before;
    snap(ctx, b.p, b.o, &before);
    CK_STATUS(ctx, hcl_checkpoint_load(b.o, f32p, NULL), HCL_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(hcl_last_error(ctx), "bf16"));
    snap_equal(ctx, b.p, b.o, &before, "f32 states into a bf16 optimizer");
    ck_assert_uint_eq(hcl_optimizer_host_step(b.o), 2);

    /* bad masks: refused with nothing changed (b has no mask yet) */
    struct { ckpt_edit_fn fn; hcl_status want; const char *what; } edits[] = {
        {edit_prune_more, HCL_ERR_FORMAT, "a mask pruning nonzero weights"},
        {edit_dtype, HCL_ERR_DTYPE, "a bf16 mask"},
        {edit_shape, HCL_ERR_SHAPE, "a short mask"},
        {edit_rank, HCL_ERR_SHAPE, "a rank-2 mask"},
    };
    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        rewrite_checkpoint(ctx, a16.o, bf16p, bad, edits[k].fn);
        CK_STATUS(ctx, hcl_checkpoint_load(b.o, bad, NULL), edits[k].want);
        snap_equal(ctx, b.p, b.o, &before, edits[k].what);
        ck_assert_msg(hcl_optimizer_mask(b.o) == NULL, "%s: a mask appeared", edits[k].what);
    }
    /* a flipped mask byte: the CRC catches it */
    rewrite_checkpoint(ctx, a16.o, bf16p, bad, edit_none);
    CK_OK(ctx, hcl_checkpoint_load(b.o, bad, NULL)); /* the rewrite itself is faithful */
    runs_identical(ctx, &a16, &b, "rewritten checkpoint", 0);
    run_set_mask(ctx, &b);
    snap_free(&before);
    snap(ctx, b.p, b.o, &before);
    {
        size_t len;
        unsigned char *bytes = read_all(bf16p, &len);
        hcl_safetensors *f = NULL;
        CK_OK(ctx, hcl_safetensors_load(ctx, bf16p, &f));
        const hcl_safetensors_tensor *t = hcl_safetensors_find(f, "mask");
        size_t off = (size_t)((const unsigned char *)t->data - (const unsigned char *)hcl_safetensors_at(f, 0)->data);
        hcl_safetensors_free(f);
        /* data offset within the file: header length + 8 + the tensor's offset in the data area */
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
        size_t first = 0; /* the first tensor in data order starts the data area */
        bytes[8 + hlen + first + off + 5] ^= 1;
        write_all(bad, bytes, len);
        free(bytes);
    }
    CK_STATUS(ctx, hcl_checkpoint_load(b.o, bad, NULL), HCL_ERR_FORMAT);
    snap_equal(ctx, b.p, b.o, &before, "a flipped mask byte");
    /* a file without a mask removes b's mask (resume exactly as saved) */
    run c = run_create(ctx, &c16, 4);
    run_steps(ctx, &c, data_seed, 0, 2, 0);
    char *nomask = tmp_path("s-nomask.safetensors");
    CK_OK(ctx, hcl_checkpoint_save(c.o, nomask, NULL));
    ck_assert_ptr_nonnull(hcl_optimizer_mask(b.o));
    CK_OK(ctx, hcl_checkpoint_load(b.o, nomask, NULL));
    ck_assert_ptr_null(hcl_optimizer_mask(b.o));
    runs_identical(ctx, &c, &b, "load without a mask", 0);
    snap_free(&before);
    unlink(nomask);
    unlink(f32p);
    unlink(bf16p);
    unlink(bad);
    free(nomask);
    free(f32p);
    free(bf16p);
    free(bad);
    run_free(&a32);
    run_free(&a16);
    run_free(&w);
    run_free(&b);
    run_free(&c);
    hcl_context_free(ctx);
}
END_TEST

/* A copy of checkpoint src with its tensors and base metadata, and "halfcl.state_rounding" /
 * "halfcl.state_seed" set to rnd / seed (NULL: left out, as in files saved before these keys). */
static void rewrite_state_meta(hcl_context *ctx, const char *src, const char *dst, const char *rnd, const char *seed) {
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, src, &f));
    size_t n = hcl_safetensors_count(f);
    hcl_safetensors_entry *e = calloc(n, sizeof *e);
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < n; i++) {
        const hcl_safetensors_tensor *t = hcl_safetensors_at(f, i);
        e[i] = (hcl_safetensors_entry){t->name, t->dtype, t->rank, t->shape, t->data, t->bytes};
    }
    static const char *const keys[] = {"halfcl.format", "halfcl.policy", "halfcl.optimizer", "halfcl.params",
                                       "halfcl.host_step", "halfcl.rng_seed", "halfcl.rng_offset", "halfcl.crc32"};
    hcl_safetensors_meta m[10];
    size_t k = 0;
    for (; k < 8; k++) m[k] = (hcl_safetensors_meta){keys[k], hcl_safetensors_metadata(f, keys[k])};
    if (rnd) m[k++] = (hcl_safetensors_meta){"halfcl.state_rounding", rnd};
    if (seed) m[k++] = (hcl_safetensors_meta){"halfcl.state_seed", seed};
    CK_OK(ctx, hcl_safetensors_save(ctx, dst, e, n, m, k));
    free(e);
    hcl_safetensors_free(f);
}

/* The BF16 states' rounding and stochastic-rounding seed are saved; resuming a BF16-state run with
 * another rounding or seed is refused with nothing changed; a file without them (older) loads as
 * before; F32-state optimizers (nothing rounded) and nearest rounding (no seed) are not checked. */
START_TEST(checkpoint_state_rounding_and_seed) {
    hcl_context *ctx = test_context();
    uint64_t data_seed = test_seed() % 100000;
    char *sr = tmp_path("r-sr.safetensors"), *rne = tmp_path("r-rne.safetensors"), *bad = tmp_path("r-bad.safetensors");
    ckpt_case c = {0, HCL_PRECISION_MIXED_F16, {0}};
    hcl_optim_config_init(&c.cfg, HCL_OPTIM_ADAM);
    c.cfg.state_dtype = HCL_BF16;
    c.cfg.state_rounding = HCL_STATE_ROUND_STOCHASTIC;
    c.cfg.state_seed = 42;
    ckpt_case cn = c;
    cn.cfg.state_rounding = HCL_STATE_ROUND_NEAREST;
    cn.cfg.state_seed = 5;
    run a = run_create(ctx, &c, 3), an = run_create(ctx, &cn, 3);
    run_steps(ctx, &a, data_seed, 0, 3, 0);
    run_steps(ctx, &an, data_seed, 0, 3, 0);
    CK_OK(ctx, hcl_checkpoint_save(a.o, sr, NULL));
    CK_OK(ctx, hcl_checkpoint_save(an.o, rne, NULL));
    {
        hcl_safetensors *f = NULL;
        CK_OK(ctx, hcl_safetensors_load(ctx, sr, &f));
        ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.state_rounding"), "stochastic");
        ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.state_seed"), "42");
        hcl_safetensors_free(f);
    }
    /* the same rounding and seed: resumes exactly */
    run same = run_create(ctx, &c, 9);
    CK_OK(ctx, hcl_checkpoint_load(same.o, sr, NULL));
    run_steps(ctx, &a, data_seed, 3, 5, 0);
    run_steps(ctx, &same, data_seed, 3, 5, 0);
    runs_identical(ctx, &a, &same, "same rounding and seed", 1);

    /* another seed, another rounding (both ways): refused, nothing changed */
    struct { hcl_state_rounding rnd; uint64_t seed; const char *file; const char *msg; } refused[] = {
        {HCL_STATE_ROUND_STOCHASTIC, 43, sr, "state_seed"},
        {HCL_STATE_ROUND_NEAREST, 42, sr, "state_rounding"},
        {HCL_STATE_ROUND_STOCHASTIC, 5, rne, "state_rounding"},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        ckpt_case o = c;
        o.cfg.state_rounding = refused[k].rnd;
        o.cfg.state_seed = refused[k].seed;
        run b = run_create(ctx, &o, 9);
        run_steps(ctx, &b, data_seed + 7, 0, 2, 0);
        snapshot before;
        snap(ctx, b.p, b.o, &before);
        CK_STATUS(ctx, hcl_checkpoint_load(b.o, refused[k].file, NULL), HCL_ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(hcl_last_error(ctx), refused[k].msg), "case %zu: message '%s'", k, hcl_last_error(ctx));
        snap_equal(ctx, b.p, b.o, &before, refused[k].msg);
        ck_assert_uint_eq(hcl_optimizer_host_step(b.o), 2);
        /* a file without the keys (saved before them) is not checked: loads as before */
        rewrite_state_meta(ctx, refused[k].file, bad, NULL, NULL);
        CK_OK(ctx, hcl_checkpoint_load(b.o, bad, NULL));
        ck_assert_uint_eq(hcl_optimizer_host_step(b.o), 3);
        snap_free(&before);
        run_free(&b);
    }
    /* nearest: the seed does not matter; F32 states: the rounding does not matter (exact widening) */
    {
        ckpt_case o = cn;
        o.cfg.state_seed = 77;
        run b = run_create(ctx, &o, 9);
        CK_OK(ctx, hcl_checkpoint_load(b.o, rne, NULL));
        run_free(&b);
        o = c;
        o.cfg.state_dtype = HCL_F32;
        o.cfg.state_rounding = HCL_STATE_ROUND_NEAREST;
        o.cfg.state_seed = 1;
        b = run_create(ctx, &o, 9);
        CK_OK(ctx, hcl_checkpoint_load(b.o, sr, NULL));
        run_free(&b);
    }
    /* malformed values */
    {
        run b = run_create(ctx, &c, 9);
        rewrite_state_meta(ctx, sr, bad, "sometimes", "42");
        CK_STATUS(ctx, hcl_checkpoint_load(b.o, bad, NULL), HCL_ERR_FORMAT);
        rewrite_state_meta(ctx, sr, bad, "stochastic", "-1");
        CK_STATUS(ctx, hcl_checkpoint_load(b.o, bad, NULL), HCL_ERR_FORMAT);
        rewrite_state_meta(ctx, sr, bad, NULL, "42");
        CK_STATUS(ctx, hcl_checkpoint_load(b.o, bad, NULL), HCL_ERR_FORMAT);
        rewrite_state_meta(ctx, sr, bad, "stochastic", "42");
        CK_OK(ctx, hcl_checkpoint_load(b.o, bad, NULL));
        run_free(&b);
    }
    unlink(sr);
    unlink(rne);
    unlink(bad);
    free(sr);
    free(rne);
    free(bad);
    run_free(&a);
    run_free(&an);
    run_free(&same);
    hcl_context_free(ctx);
}
END_TEST

/* F16/BF16/F32 export for inference: each weight is its master rounded to nearest even. */
START_TEST(export_weights) {
    hcl_context *ctx = test_context();
    char *path = tmp_path("export.safetensors");
    hcl_params *p = make_params(ctx, HCL_PRECISION_MIXED_F16);
    hcl_init init = hcl_init_normal(0.0f, 3.0f);
    for (size_t i = 0; i < hcl_params_count(p); i++) CK_OK(ctx, hcl_params_init(p, i, &init, test_seed()));
    hcl_dtype dts[3] = {HCL_F16, HCL_BF16, HCL_F32};
    hcl_checkpoint_meta meta[1] = {{"model", "test"}};
    for (int d = 0; d < 3; d++) {
        CK_OK(ctx, hcl_params_export(p, path, dts[d], meta, 1));
        hcl_safetensors *f = NULL;
        CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
        ck_assert_uint_eq(hcl_safetensors_count(f), hcl_params_count(p));
        ck_assert_str_eq(hcl_safetensors_metadata(f, "model"), "test");
        ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.dtype"), hcl_dtype_name(dts[d]));
        for (size_t i = 0; i < hcl_params_count(p); i++) {
            const hcl_safetensors_tensor *t = hcl_safetensors_find(f, hcl_params_name(p, i));
            ck_assert_ptr_nonnull(t);
            hcl_tensor *m = hcl_params_master(p, i);
            ck_assert(t->dtype == dts[d] && t->rank == m->rank && t->count == m->count);
            float *mv = test_download(m);
            for (size_t j = 0; j < m->count; j++) {
                if (dts[d] == HCL_F32) {
                    float v;
                    memcpy(&v, (const char *)t->data + 4 * j, 4);
                    ck_assert(v == mv[j]);
                } else {
                    uint16_t b;
                    memcpy(&b, (const char *)t->data + 2 * j, 2);
                    ck_assert_uint_eq(b, dts[d] == HCL_F16 ? hcl_f32_to_f16(mv[j]) : hcl_f32_to_bf16(mv[j]));
                }
            }
            free(mv);
        }
        hcl_safetensors_free(f);
    }
    CK_STATUS(ctx, hcl_params_export(p, path, HCL_I32, NULL, 0), HCL_ERR_DTYPE);
    unlink(path);
    free(path);
    hcl_params_free(p);
    hcl_context_free(ctx);
}
END_TEST

static Suite *amp_suite(void) {
    Suite *s = suite_create("amp");
    TCase *host = tcase_create("host");
    tcase_add_test(host, policy_names_and_dtypes);
    tcase_add_test(host, lr_schedules);
    suite_add_tcase(s, host);
    TCase *params = tcase_create("params");
    tcase_add_test(params, params_layout_and_views);
    tcase_add_test(params, params_errors);
    tcase_add_test(params, params_init_seeded);
    tcase_add_test(params, params_zero_grad_and_sync);
    suite_add_tcase(s, params);
    TCase *opt = tcase_create("optimizers");
    tcase_add_test(opt, optimizers_fp32);
    tcase_add_test(opt, optimizers_mixed_f16);
    tcase_add_test(opt, optimizers_mixed_bf16);
    tcase_add_test(opt, optimizers_pure_f16);

    TCase *bst = tcase_create("bf16_states");
    tcase_add_test(bst, bf16_states_fp32);
    tcase_add_test(bst, bf16_states_mixed_f16);
    tcase_add_test(bst, bf16_states_mixed_bf16);
    tcase_add_test(bst, bf16_states_sr_fp32);
    tcase_add_test(bst, bf16_states_sr_mixed_f16);
    tcase_add_test(bst, bf16_states_sr_mixed_bf16);
    tcase_add_test(bst, bf16_states_pure_f16);
    tcase_add_test(bst, bf16_state_rounding_exact);
    tcase_add_test(bst, bf16_state_stochastic_unbiased);
    tcase_add_test(bst, bf16_state_convergence);
    tcase_add_test(opt, clip_global_norm);
    tcase_add_test(opt, norm_deterministic);
    suite_add_tcase(s, opt);
    TCase *mask = tcase_create("masks");
    tcase_add_test(mask, masks_fp32);
    tcase_add_test(mask, masks_mixed_f16);
    tcase_add_test(mask, masks_mixed_bf16);
    tcase_add_test(mask, masks_pure_f16);
    tcase_add_test(mask, mask_step_needs_no_host_sync);

    TCase *scaler = tcase_create("scaler");
    tcase_add_test(scaler, overflow_skips_step);
    tcase_add_test(scaler, scaler_growth_cap_floor);
    tcase_add_test(scaler, step_needs_no_host_sync);
    tcase_add_test(scaler, underflow_loss_curves);
    suite_add_tcase(s, bst);
    suite_add_tcase(s, mask);
    suite_add_tcase(s, scaler);
    TCase *ckpt = tcase_create("checkpoint");
    tcase_add_test(ckpt, checkpoint_resume_bit_identical);
    tcase_add_test(ckpt, checkpoint_corrupt_and_mismatched);
    tcase_add_test(ckpt, checkpoint_state_dtype_and_mask);
    tcase_add_test(ckpt, checkpoint_state_rounding_and_seed);
    tcase_add_test(ckpt, export_weights);
    suite_add_tcase(s, ckpt);
    return s;
}

int main(void) { return test_run_suite(amp_suite()); }
