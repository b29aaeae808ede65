/* Tests of data-parallel training (dist.h) in one process with the in-process transport: N
 * replicas (each on its own context of the test device) training on shards of a global batch
 * against one model on the whole batch (SGD with momentum and Adam, fp32 and mixed_f16, odd and
 * uneven shards), replica agreement after every step, the loss-scaler skip reaching every replica,
 * broadcast, overlap and bucket size giving bit-identical results, the weighted gradient
 * all-reduce, checkpoint resume into groups of another size, batcher sharding, bad inputs, and
 * replicas on CPU sub-devices (equivalence; hcl_dist_local_devices' "P:D@i/N" specs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "halfcl/dist.h"
#include "runtime/internal.h" /* hcl_device_can_split */

#define D_IN 6
#define D_HID 10
#define D_OUT 3
#define MAXR 3

static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

static hcl_model *make_model(hcl_context *ctx, hcl_precision pol, hcl_optim_kind kind, uint64_t seed, int64_t max_batch) {
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, pol, &m));
    int64_t in[1] = {D_IN};
    CK_OK(ctx, hcl_model_input(m, 1, in, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, D_HID, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0.0f, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, D_HID, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_TANH, 0.0f, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, D_OUT, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, pol);
    o.max_batch = max_batch;
    o.seed = seed;
    hcl_optim_config_init(&o.optim, kind);
    if (kind == HCL_OPTIM_SGD) o.optim.momentum = 0.9f;
    /* Adam's eps above the F16 rounding of near-zero gradients: with 1e-8, an element whose
     * gradient is ~0 takes a full-size step whose sign follows that rounding, in either run */
    if (kind == HCL_OPTIM_ADAM) o.optim.eps = 1e-3f;
    CK_OK(ctx, hcl_model_build(m, &o));
    return m;
}

static hcl_dist *make_dist(int overlap, size_t bucket_bytes) {
    hcl_dist_options o;
    hcl_dist_options_init(&o);
    o.transport = HCL_DIST_LOCAL;
    o.overlap = overlap;
    o.bucket_bytes = bucket_bytes;
    hcl_dist *d = NULL;
    char err[256];
    hcl_status st = hcl_dist_create(&d, &o, err, sizeof err);
    ck_assert_msg(st == HCL_OK, "hcl_dist_create: %s", err);
    ck_assert_int_eq(hcl_dist_transport_used(d), HCL_DIST_LOCAL);
    ck_assert_int_eq(hcl_dist_size(d), 1);
    ck_assert_int_eq(hcl_dist_rank(d), 0);
    return d;
}

#define DIST_OK(d, expr)                                                                                        \
    do {                                                                                                        \
        hcl_status st_ = (expr);                                                                                \
        ck_assert_msg(st_ == HCL_OK, "%s -> %s: %s (%s)", #expr, hcl_status_name(st_), hcl_dist_last_error(d), \
                      test_seed_note());                                                                        \
    } while (0)
#define DIST_STATUS(d, expr, want)                                                                      \
    do {                                                                                                \
        hcl_status st_ = (expr);                                                                        \
        ck_assert_msg(st_ == (want), "%s -> %s, want %s (%s)", #expr, hcl_status_name(st_),             \
                      hcl_status_name(want), hcl_dist_last_error(d));                                   \
        ck_assert_msg(hcl_dist_last_error(d)[0] != '\0', "%s: no message", #expr);                      \
    } while (0)

/* All masters of a model (arena order, padding included: it stays zero) into a new array. */
static float *masters(hcl_model *m, size_t *n) {
    hcl_params *p = hcl_model_params(m);
    hcl_tensor *a = hcl_params_master_arena(p);
    *n = hcl_params_arena_numel(p);
    float *h = test_falloc(*n);
    CK_OK(hcl_model_context(m), hcl_tensor_download_f32(a, h, *n));
    return h;
}

/* A global batch: rows x D_IN inputs and labels, split by `sizes` over the replicas' contexts. */
typedef struct gbatch {
    size_t rows;
    float x[64 * D_IN];
    int32_t y[64];
} gbatch;

static void gbatch_fill(gbatch *g, size_t rows) {
    g->rows = rows;
    test_fill_normal(g->x, rows * D_IN, 1.0);
    for (size_t i = 0; i < rows; i++) g->y[i] = (int32_t)test_uniform(0, D_OUT - 1e-9);
}

/* Tensors for rows [first, first + n) of g on ctx. */
static void gbatch_slice(hcl_context *ctx, const gbatch *g, size_t first, size_t n, hcl_tensor **x, hcl_tensor **y) {
    int64_t xs[2] = {(int64_t)n, D_IN}, ys[1] = {(int64_t)n};
    *x = test_tensor_from(ctx, HCL_F32, 2, xs, g->x + first * D_IN);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, ys, y));
    CK_OK(ctx, hcl_tensor_upload_raw(*y, g->y + first, n * sizeof(int32_t)));
}

/* One dist step of g split into sizes[0..n) over the replicas. */
static void dist_step(hcl_dist *d, hcl_model **rep, size_t n, const gbatch *g, const size_t *sizes, float lr) {
    hcl_tensor *x[MAXR] = {NULL}, *y[MAXR] = {NULL};
    size_t first = 0;
    for (size_t i = 0; i < n; i++) {
        if (sizes[i]) gbatch_slice(hcl_model_context(rep[i]), g, first, sizes[i], &x[i], &y[i]);
        first += sizes[i];
    }
    ck_assert_uint_eq(first, g->rows);
    DIST_OK(d, hcl_dist_train_step(d, rep, n, (const hcl_tensor *const *)x, (const hcl_tensor *const *)y, lr));
    for (size_t i = 0; i < n; i++) {
        CK_OK(hcl_model_context(rep[i]), hcl_finish(hcl_model_context(rep[i])));
        hcl_tensor_free(x[i]);
        hcl_tensor_free(y[i]);
    }
}

static void single_step(hcl_model *m, const gbatch *g, float lr) {
    hcl_context *ctx = hcl_model_context(m);
    hcl_tensor *x, *y;
    gbatch_slice(ctx, g, 0, g->rows, &x, &y);
    CK_OK(ctx, hcl_model_train_step(m, x, y, lr));
    CK_OK(ctx, hcl_finish(ctx));
    hcl_tensor_free(x);
    hcl_tensor_free(y);
}

static void assert_same(hcl_dist *d, hcl_model **rep, size_t n, const char *what) {
    int same = 0;
    DIST_OK(d, hcl_dist_check_replicas(d, rep, n, &same));
    ck_assert_msg(same == 1, "%s: replicas differ (%s)", what, test_seed_note());
}

/* The disagreement relative to how far training moved: fp32 ||a - b||_inf / ||b - init||_inf (every
 * element within a few ulps of the sums); mixed_f16 in L2 norms, because there Adam turns the F16
 * rounding of a near-zero gradient into a full-size step of either sign for that one element. */
static double rel_drift(const float *a, const float *b, const float *init, size_t n, int l2) {
    double diff = 0.0, move = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]), mv = fabs((double)b[i] - (double)init[i]);
        if (l2) diff += e * e, move += mv * mv;
        else {
            if (!(e <= diff)) diff = e; /* NaN propagates */
            if (mv > move) move = mv;
        }
    }
    if (l2) diff = sqrt(diff), move = sqrt(move);
    return move > 0 ? diff / move : diff;
}

static hcl_context *ctxs[MAXR];
/* Contexts on these device specs instead of the test device, when set (sub-device replicas). */
static const char (*ctx_specs)[HCL_DIST_SPEC_LEN];
static void open_contexts(size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!ctx_specs) {
            ctxs[i] = test_context();
            continue;
        }
        hcl_context_options o;
        hcl_context_options_init(&o);
        if (!getenv("HALFCL_CACHE_DIR")) o.cache_dir = "off";
        o.device = ctx_specs[i];
        char err[2048];
        hcl_status st = hcl_context_create(&ctxs[i], &o, err, sizeof err);
        ck_assert_msg(st == HCL_OK, "context on '%s': %s: %s", ctx_specs[i], hcl_status_name(st), err);
    }
}
static void close_contexts(size_t n) {
    for (size_t i = 0; i < n; i++) hcl_context_free(ctxs[i]);
}

/* Bounds on rel_drift after the steps below, measured (see equivalence()): fp32 sums are
 * reordered (per-replica GEMMs, then the weighted host sum), a few ulps of each gradient per
 * step; mixed_f16 rounds each replica's gradient to F16 before the sum and the sum again, so a
 * gradient differs by up to ~2^-11 relative. */
static double drift_bound(hcl_precision pol) { return pol == HCL_PRECISION_FP32 ? 1e-5 : 5e-3; }

/* N replicas x shards of a global batch vs one model on the whole batch, `steps` steps; the last
 * step uneven. Replicas must agree bit for bit after every step. */
static void equivalence(hcl_precision pol, hcl_optim_kind kind, size_t n) {
    uint64_t seed = test_seed();
    open_contexts(n);
    hcl_model *rep[MAXR];
    for (size_t i = 0; i < n; i++) rep[i] = make_model(ctxs[i], pol, kind, seed, 64);
    hcl_model *ref = make_model(ctxs[0], pol, kind, seed, 64);
    hcl_dist *d = make_dist(1, 128); /* small buckets: several per step */
    size_t np = 0;
    float *init = masters(ref, &np);
    int steps = small_run() ? 3 : 5;
    float lr = kind == HCL_OPTIM_SGD ? 0.05f : 0.01f;
    for (int s = 0; s < steps; s++) {
        size_t sizes[MAXR] = {7, 7, 7};
        if (s == steps - 1) sizes[0] = 5, sizes[1] = 7, sizes[2] = 3; /* uneven last global batch */
        gbatch g;
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) rows += sizes[i];
        gbatch_fill(&g, rows);
        dist_step(d, rep, n, &g, sizes, lr);
        single_step(ref, &g, lr);
        assert_same(d, rep, n, "after a step");
    }
    hcl_amp_stats sr, s0;
    CK_OK(ctxs[0], hcl_optimizer_read_stats(hcl_model_optimizer(ref), &sr));
    CK_OK(ctxs[0], hcl_optimizer_read_stats(hcl_model_optimizer(rep[0]), &s0));
    ck_assert_uint_eq(s0.skipped, sr.skipped); /* the same scaler decisions */
    size_t nr = 0;
    float *a = masters(rep[0], &nr), *b = masters(ref, &np);
    double drift = rel_drift(a, b, init, np, pol != HCL_PRECISION_FP32);
    printf("dist equivalence %s %s N=%zu: |replica - 1x| / |movement| = %.3g after %d steps (bound %.0e) %s\n",
           hcl_precision_name(pol), hcl_optim_name(kind), n, drift, steps, drift_bound(pol), test_seed_note());
    ck_assert_msg(drift <= drift_bound(pol), "%s %s N=%zu: drift %g > %g (%s)", hcl_precision_name(pol),
                  hcl_optim_name(kind), n, drift, drift_bound(pol), test_seed_note());
    hcl_dist_stats st;
    hcl_dist_stats_get(d, &st);
    ck_assert_uint_eq(st.steps, (uint64_t)steps);
    ck_assert_uint_gt(st.buckets, (uint64_t)steps); /* more than one bucket per step */
    ck_assert_uint_eq(st.wire_bytes, 0); /* one process: nothing on the wire */
    hcl_dist_stats_reset(d);
    hcl_dist_stats_get(d, &st);
    ck_assert_uint_eq(st.steps, 0);
    free(a);
    free(b);
    free(init);
    hcl_dist_free(d);
    hcl_model_free(ref);
    for (size_t i = 0; i < n; i++) hcl_model_free(rep[i]);
    close_contexts(n);
}

START_TEST(equiv_fp32_sgd) { equivalence(HCL_PRECISION_FP32, HCL_OPTIM_SGD, 2 + (size_t)_i); }
END_TEST
START_TEST(equiv_fp32_adam) { equivalence(HCL_PRECISION_FP32, HCL_OPTIM_ADAM, 2 + (size_t)_i); }
END_TEST
START_TEST(equiv_f16_sgd) { equivalence(HCL_PRECISION_MIXED_F16, HCL_OPTIM_SGD, 2 + (size_t)_i); }
END_TEST
START_TEST(equiv_f16_adam) { equivalence(HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, 2 + (size_t)_i); }
END_TEST

/* The specs "P:D@0/2", "P:D@1/2" of the test device, or 0 when it cannot be split in two (and
 * then the context on one says why). */
static int sub_device_specs(char (*specs)[HCL_DIST_SPEC_LEN]) {
    hcl_context *c = test_context();
    hcl_device_info info = *hcl_context_device(c);
    hcl_context_free(c);
    char why[512];
    hcl_status can = hcl_device_can_split(info.platform_index, info.device_index, 2, why, sizeof why);
    for (unsigned s = 0; s < 2; s++)
        snprintf(specs[s], HCL_DIST_SPEC_LEN, "%u:%u@%u/2", info.platform_index, info.device_index, s);
    if (can == HCL_OK) return 1;
    ck_assert_int_eq(can, HCL_ERR_DEVICE_NOT_FOUND);
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.cache_dir = "off";
    o.device = specs[1];
    char err[2048];
    c = NULL;
    ck_assert_int_eq(hcl_context_create(&c, &o, err, sizeof err), HCL_ERR_DEVICE_NOT_FOUND);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, "cannot be split"), "%s", err);
    printf("dist sub-devices: %s / %s cannot be split in two: %s\n", info.platform_name, info.name, err);
    return 0;
}

/* 2 replicas on the 2 halves of a CPU (sub-devices) vs 1 x the whole batch, Adam, fp32: the
 * same bound as replicas sharing the device. On a device that cannot be split: the clear error. */
START_TEST(equiv_fp32_adam_sub_devices) {
    char specs[2][HCL_DIST_SPEC_LEN];
    if (!sub_device_specs(specs)) return;
    ctx_specs = (const char (*)[HCL_DIST_SPEC_LEN])specs;
    printf("dist equivalence on sub-devices %s and %s (the 1x model on %s):\n", specs[0], specs[1], specs[0]);
    equivalence(HCL_PRECISION_FP32, HCL_OPTIM_ADAM, 2);
    ctx_specs = NULL;
}
END_TEST

/* hcl_dist_local_devices on a CPU without a GPU: the default device split into max_devices
 * sub-devices where it can be (PoCL), else repeated; an explicit sub-device in $HALFCL_DEVICE is
 * repeated as given. */
START_TEST(local_devices_sub_devices) {
    hcl_device_info *devs = NULL;
    size_t nd = 0;
    ck_assert_int_eq(hcl_devices_list(&devs, &nd), HCL_OK);
    int gpu = 0;
    for (size_t i = 0; i < nd; i++) gpu |= devs[i].is_gpu;
    hcl_devices_free(devs);
    char specs[3][HCL_DIST_SPEC_LEN], err[512];
    size_t count = 0;
    ck_assert_int_eq(hcl_dist_local_devices(2, specs, &count, err, sizeof err), HCL_OK);
    ck_assert_uint_eq(count, gpu ? count : 2);
    char sub[2][HCL_DIST_SPEC_LEN];
    int split = sub_device_specs(sub);
    hcl_context *c = test_context();
    const hcl_device_info *info = hcl_context_device(c);
    int pocl = strstr(info->platform_vendor, "pocl") != NULL;
    int is_cpu = info->is_cpu;
    char info_version[128];
    snprintf(info_version, sizeof info_version, "%s", info->platform_version);
    hcl_context_free(c);
    if (!gpu && is_cpu && split) {
        /* the device under test is the default ($HALFCL_DEVICE, as the contexts choose it) */
        ck_assert_str_eq(specs[0], sub[0]);
        ck_assert_str_eq(specs[1], sub[1]);
        for (size_t i = 0; i < 2; i++) {
            hcl_context_options co;
            hcl_context_options_init(&co);
            co.cache_dir = "off";
            co.device = specs[i];
            char e2[2048];
            ck_assert_msg(hcl_context_create(&c, &co, e2, sizeof e2) == HCL_OK, "spec %s: %s", specs[i], e2);
            ck_assert_uint_eq(hcl_context_device(c)->sub_device_count, 2);
            ck_assert_uint_eq(hcl_context_device(c)->sub_device_index, i);
            hcl_context_free(c);
        }
        printf("dist local devices: %s, %s\n", specs[0], specs[1]);
    } else {
        /* PoCL 4+ splits its CPU device; PoCL 3 is refused (hcl_device_can_split says why) */
        const char *v = strstr(info_version, "PoCL ");
        int major = 0;
        if (v) sscanf(v + 5, "%d", &major);
        ck_assert_msg(!pocl || gpu || major < 4, "PoCL %d's CPU device must split in two (%s)", major, specs[0]);
        ck_assert_msg(strchr(specs[0], '@') == NULL, "an unsplittable device came back as %s", specs[0]);
    }
    if (!gpu && is_cpu) {
        /* more parts than compute units: the device repeated, as before */
        char many[64][HCL_DIST_SPEC_LEN];
        hcl_context *c2 = test_context();
        unsigned cu = hcl_context_device(c2)->compute_units;
        hcl_context_free(c2);
        if (cu < 64) {
            ck_assert_int_eq(hcl_dist_local_devices(cu + 1, many, &count, err, sizeof err), HCL_OK);
            ck_assert_uint_eq(count, cu + 1);
            ck_assert_msg(strchr(many[0], '@') == NULL && !strcmp(many[0], many[cu]), "%s %s", many[0], many[cu]);
        }
        /* one replica: the whole device */
        ck_assert_int_eq(hcl_dist_local_devices(1, many, &count, err, sizeof err), HCL_OK);
        ck_assert_uint_eq(count, 1);
        ck_assert_ptr_null(strchr(many[0], '@'));
        /* $HALFCL_DEVICE naming a sub-device: that one, repeated */
        if (split) {
            test_env_saved e;
            test_env_push(&e, "HALFCL_DEVICE", sub[1]);
            ck_assert_int_eq(hcl_dist_local_devices(3, specs, &count, err, sizeof err), HCL_OK);
            test_env_pop(&e);
            ck_assert_uint_eq(count, 3);
            for (size_t i = 0; i < 3; i++) ck_assert_str_eq(specs[i], sub[1]);
        }
        test_env_saved e;
        test_env_push(&e, "HALFCL_DEVICE", "cpu@2/2");
        ck_assert_int_eq(hcl_dist_local_devices(2, specs, &count, err, sizeof err), HCL_ERR_INVALID_ARGUMENT);
        test_env_pop(&e);
        ck_assert_msg(strstr(err, "cpu@2/2") != NULL, "%s", err);
    }
}
END_TEST

/* Overlap 1 with tiny buckets and overlap 0 with one bucket give bit-identical masters. */
START_TEST(overlap_identical) {
    uint64_t seed = test_seed();
    open_contexts(2);
    float *res[2] = {NULL, NULL};
    size_t np = 0;
    uint64_t data_seed = seed ^ 0x5151;
    for (int run = 0; run < 2; run++) {
        hcl_model *rep[2];
        for (size_t i = 0; i < 2; i++) rep[i] = make_model(ctxs[i], HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, seed, 16);
        hcl_dist *d = run == 0 ? make_dist(1, 64) : make_dist(0, 0);
        test_rng_reset(data_seed);
        for (int s = 0; s < 3; s++) {
            gbatch g;
            size_t sizes[2] = {7, (size_t)(s == 2 ? 4 : 7)};
            gbatch_fill(&g, sizes[0] + sizes[1]);
            dist_step(d, rep, 2, &g, sizes, 0.01f);
        }
        res[run] = masters(rep[1], &np);
        hcl_dist_free(d);
        for (size_t i = 0; i < 2; i++) hcl_model_free(rep[i]);
    }
    ck_assert_msg(memcmp(res[0], res[1], np * sizeof(float)) == 0, "overlap 1 vs 0 differ (%s)", test_seed_note());
    free(res[0]);
    free(res[1]);
    close_contexts(2);
}
END_TEST

/* An inf in one replica's input: the summed gradient is non-finite, so every replica skips the
 * step and halves its scale alike; the masters stay as they were. */
START_TEST(overflow_skips_everywhere) {
    uint64_t seed = test_seed();
    open_contexts(2);
    hcl_model *rep[2];
    for (size_t i = 0; i < 2; i++) rep[i] = make_model(ctxs[i], HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, seed, 16);
    hcl_dist *d = make_dist(1, 128);
    gbatch g;
    size_t sizes[2] = {7, 6};
    gbatch_fill(&g, 13);
    dist_step(d, rep, 2, &g, sizes, 0.01f);
    hcl_amp_stats before[2], after[2];
    for (size_t i = 0; i < 2; i++) CK_OK(ctxs[i], hcl_optimizer_read_stats(hcl_model_optimizer(rep[i]), &before[i]));
    ck_assert(!before[0].last_skipped && !before[1].last_skipped);
    size_t np;
    float *m0 = masters(rep[0], &np);
    for (int victim = 1; victim >= 0; victim--) {
        gbatch_fill(&g, 13);
        size_t row = (size_t)victim * 7 + (size_t)test_uniform(0, 5.99);
        g.x[row * D_IN + (size_t)test_uniform(0, D_IN - 0.01)] = 1e30f; /* inf in F16 */
        dist_step(d, rep, 2, &g, sizes, 0.01f);
        for (size_t i = 0; i < 2; i++) CK_OK(ctxs[i], hcl_optimizer_read_stats(hcl_model_optimizer(rep[i]), &after[i]));
        for (size_t i = 0; i < 2; i++) {
            ck_assert_msg(after[i].last_skipped, "replica %zu did not skip (inf on replica %d, %s)", i, victim, test_seed_note());
            ck_assert_float_eq(after[i].scale, before[i].scale * 0.5f);
            ck_assert_uint_eq(after[i].skipped, before[i].skipped + 1);
            ck_assert_uint_eq(after[i].step, before[i].step);
        }
        ck_assert_float_eq(after[0].scale, after[1].scale);
        float *m1 = masters(rep[0], &np);
        ck_assert_msg(memcmp(m0, m1, np * sizeof(float)) == 0, "masters changed on a skipped step");
        free(m1);
        assert_same(d, rep, 2, "after a skipped step");
        before[0] = after[0], before[1] = after[1];
    }
    /* a clean step afterwards trains again on both */
    gbatch_fill(&g, 13);
    dist_step(d, rep, 2, &g, sizes, 0.01f);
    for (size_t i = 0; i < 2; i++) {
        CK_OK(ctxs[i], hcl_optimizer_read_stats(hcl_model_optimizer(rep[i]), &after[i]));
        ck_assert(!after[i].last_skipped);
    }
    assert_same(d, rep, 2, "after a clean step");
    free(m0);
    hcl_dist_free(d);
    for (size_t i = 0; i < 2; i++) hcl_model_free(rep[i]);
    close_contexts(2);
}
END_TEST

/* Differently seeded (and differently trained) replicas become identical: masters, working
 * copies, optimizer states, amp state and host step. */
START_TEST(broadcast_makes_identical) {
    uint64_t seed = test_seed();
    open_contexts(3);
    hcl_model *rep[3];
    for (size_t i = 0; i < 3; i++) rep[i] = make_model(ctxs[i], HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, seed + i, 16);
    hcl_dist *d = make_dist(1, 0);
    int same = 1;
    DIST_OK(d, hcl_dist_check_replicas(d, rep, 3, &same));
    ck_assert_int_eq(same, 0);
    gbatch g;
    gbatch_fill(&g, 7);
    for (int k = 0; k < 2; k++) single_step(rep[0], &g, 0.01f); /* replica 0: two steps of state */
    DIST_OK(d, hcl_dist_broadcast(d, rep, 3));
    DIST_OK(d, hcl_dist_check_replicas(d, rep, 3, &same));
    ck_assert_int_eq(same, 1);
    hcl_amp_stats s0, si;
    CK_OK(ctxs[0], hcl_optimizer_read_stats(hcl_model_optimizer(rep[0]), &s0));
    for (size_t i = 1; i < 3; i++) {
        hcl_optimizer *o0 = hcl_model_optimizer(rep[0]), *oi = hcl_model_optimizer(rep[i]);
        CK_OK(ctxs[i], hcl_optimizer_read_stats(oi, &si));
        ck_assert_float_eq(si.scale, s0.scale);
        ck_assert_uint_eq(si.step, s0.step);
        ck_assert_uint_eq(hcl_optimizer_host_step(oi), 2);
        for (size_t k = 0; k < hcl_optimizer_state_count(o0); k++) {
            float *a = test_download(hcl_optimizer_state(o0, k)), *b = test_download(hcl_optimizer_state(oi, k));
            ck_assert(memcmp(a, b, hcl_optimizer_state(o0, k)->count * sizeof(float)) == 0);
            free(a);
            free(b);
        }
    }
    /* and they stay identical through data-parallel steps */
    size_t sizes[3] = {3, 2, 2};
    dist_step(d, rep, 3, &g, sizes, 0.01f);
    assert_same(d, rep, 3, "after a step following the broadcast");
    hcl_dist_free(d);
    for (size_t i = 0; i < 3; i++) hcl_model_free(rep[i]);
    close_contexts(3);
}
END_TEST

/* The weighted all-reduce of gradient arenas against a host reference (F32 sums of the grads as
 * the device holds them, rounded back to the grad dtype). */
static void allreduce_case(hcl_precision pol) {
    open_contexts(2);
    hcl_params *p[2];
    int64_t sh[2][2] = {{5, 3}, {7, 1}};
    for (size_t i = 0; i < 2; i++) {
        CK_OK(ctxs[i], hcl_params_create(ctxs[i], pol, &p[i]));
        CK_OK(ctxs[i], hcl_params_add(p[i], "a", 2, sh[0], NULL));
        CK_OK(ctxs[i], hcl_params_add(p[i], "b", 2, sh[1], NULL));
        CK_OK(ctxs[i], hcl_params_alloc(p[i]));
    }
    size_t n = hcl_params_arena_numel(p[0]);
    hcl_dtype gdt = hcl_params_grad_arena(p[0])->dtype;
    float *g[2], *got = test_falloc(n);
    for (size_t i = 0; i < 2; i++) {
        g[i] = test_falloc(n);
        test_fill_normal(g[i], n, 100.0);
        test_round_to_dtype(g[i], n, gdt);
        CK_OK(ctxs[i], hcl_tensor_upload_f32(hcl_params_grad_arena(p[i]), g[i], n));
    }
    double w[2] = {0.25 + test_uniform(0, 0.5), 0};
    w[1] = 1.0 - w[0];
    hcl_dist *d = make_dist(0, 32);
    DIST_OK(d, hcl_dist_allreduce_grads(d, p, w, 2));
    float *want = test_falloc(n);
    for (size_t j = 0; j < n; j++) want[j] = 0.0f + (float)w[0] * g[0][j] + (float)w[1] * g[1][j];
    test_round_to_dtype(want, n, gdt);
    for (size_t i = 0; i < 2; i++) {
        CK_OK(ctxs[i], hcl_tensor_download_f32(hcl_params_grad_arena(p[i]), got, n));
        ck_assert_msg(memcmp(got, want, n * sizeof(float)) == 0, "replica %zu: weighted sum differs (%s)", i, test_seed_note());
    }
    /* NULL weights: the plain average */
    DIST_OK(d, hcl_dist_allreduce_grads(d, p, NULL, 2));
    CK_OK(ctxs[1], hcl_tensor_download_f32(hcl_params_grad_arena(p[1]), got, n));
    for (size_t j = 0; j < n; j++) {
        float avg = 0.0f + 0.5f * want[j] + 0.5f * want[j];
        float r[1] = {avg};
        test_round_to_dtype(r, 1, gdt);
        ck_assert_float_eq(got[j], r[0]);
    }
    hcl_dist_free(d);
    for (size_t i = 0; i < 2; i++) {
        hcl_params_free(p[i]);
        free(g[i]);
    }
    free(got);
    free(want);
    close_contexts(2);
}
START_TEST(allreduce_weighted) {
    test_seed();
    allreduce_case(_i ? HCL_PRECISION_MIXED_F16 : HCL_PRECISION_FP32);
}
END_TEST

/* Replica 0 of a 2-replica run saves a checkpoint; 1-, 2- and 3-replica groups resume from it:
 * the 2-replica group continues bit-identically, the others within the equivalence bound. */
START_TEST(checkpoint_resume) {
    uint64_t seed = test_seed();
    const hcl_precision pol = HCL_PRECISION_MIXED_F16;
    open_contexts(3);
    char *dir = test_make_tmpdir("dist"), *path = test_path_in(dir, "ck.safetensors");
    enum { STEPS = 4, SAVE_AT = 2, ROWS = 14 };
    gbatch g[STEPS];
    for (int s = 0; s < STEPS; s++) gbatch_fill(&g[s], ROWS);
    hcl_model *rep[3];
    for (size_t i = 0; i < 2; i++) rep[i] = make_model(ctxs[i], pol, HCL_OPTIM_ADAM, seed, 16);
    hcl_dist *d = make_dist(1, 128);
    size_t two[2] = {7, 7}, three[3] = {5, 5, 4}, one[1] = {ROWS};
    float *saved_init = NULL, *full = NULL;
    size_t np = 0;
    for (int s = 0; s < STEPS; s++) {
        if (s == SAVE_AT) {
            CK_OK(ctxs[0], hcl_checkpoint_save(hcl_model_optimizer(rep[0]), path, NULL));
            saved_init = masters(rep[0], &np);
        }
        dist_step(d, rep, 2, &g[s], two, 0.01f);
    }
    full = masters(rep[0], &np);
    for (size_t i = 0; i < 2; i++) hcl_model_free(rep[i]);
    for (size_t groups = 1; groups <= 3; groups++) {
        for (size_t i = 0; i < groups; i++) rep[i] = make_model(ctxs[i], pol, HCL_OPTIM_ADAM, seed + 99 + i, 16);
        CK_OK(ctxs[0], hcl_checkpoint_load(hcl_model_optimizer(rep[0]), path, NULL));
        DIST_OK(d, hcl_dist_broadcast(d, rep, groups));
        const size_t *sizes = groups == 1 ? one : groups == 2 ? two : three;
        for (int s = SAVE_AT; s < STEPS; s++) dist_step(d, rep, groups, &g[s], sizes, 0.01f);
        assert_same(d, rep, groups, "resumed group");
        float *got = masters(rep[groups - 1], &np);
        if (groups == 2) ck_assert_msg(memcmp(got, full, np * sizeof(float)) == 0, "2-replica resume differs (%s)", test_seed_note());
        double drift = rel_drift(got, full, saved_init, np, 1);
        printf("dist resume into %zu replica(s): drift %.3g vs the uninterrupted 2-replica run\n", groups, drift);
        ck_assert_msg(drift <= drift_bound(pol), "resume into %zu: drift %g (%s)", groups, drift, test_seed_note());
        free(got);
        for (size_t i = 0; i < groups; i++) hcl_model_free(rep[i]);
    }
    free(saved_init);
    free(full);
    hcl_dist_free(d);
    test_rm_rf(dir);
    free(path);
    free(dir);
    close_contexts(3);
}
END_TEST

/* ------------------------------------------------------------------ batcher sharding */

/* Every sample served by shards of (count, batch, S) over two epochs: each shard the same number
 * of batches, none empty; in global order the same samples as one unsharded batcher of batch
 * B * S (up to the dropped tail). Samples are their own index (u8 values). */
static void shard_case(hcl_context *ctx, size_t count, int64_t B, int S, int drop_last) {
    uint8_t img[256], lab[256];
    for (size_t i = 0; i < count; i++) img[i] = lab[i] = (uint8_t)i;
    int64_t shape[1] = {1};
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    o.batch = B * S;
    o.scale = 1.0f;
    o.seed = test_seed();
    o.drop_last = drop_last;
    hcl_batcher *whole = NULL, *sh[8] = {NULL};
    CK_OK(ctx, hcl_batcher_create(ctx, img, lab, count, 1, shape, &o, &whole));
    o.batch = B;
    o.shard_count = S;
    for (int r = 0; r < S; r++) {
        o.shard_index = r;
        CK_OK(ctx, hcl_batcher_create(ctx, img, lab, count, 1, shape, &o, &sh[r]));
        ck_assert_uint_eq(hcl_batcher_batches(sh[r]), hcl_batcher_batches(sh[0]));
    }
    size_t G = (size_t)B * (size_t)S, rest = count % G;
    size_t expect_served = count - (drop_last || rest < (size_t)S ? rest : 0);
    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[256] = {0};
        size_t served = 0;
        float ref[256];
        size_t nref = 0;
        for (;;) { /* the unsharded order of this epoch */
            const hcl_tensor *x, *y;
            size_t n;
            CK_OK(ctx, hcl_batcher_next(whole, &x, &y, &n));
            if (!n) break;
            CK_OK(ctx, hcl_tensor_download_f32(x, ref + nref, n));
            nref += n;
        }
        for (size_t b = 0; b < hcl_batcher_batches(sh[0]); b++) {
            size_t sizes[8], lo = 0, hi = 0;
            for (int r = 0; r < S; r++) {
                const hcl_tensor *x, *y;
                size_t n;
                CK_OK(ctx, hcl_batcher_next(sh[r], &x, &y, &n));
                ck_assert_uint_gt(n, 0);
                sizes[r] = n;
                float v[64];
                CK_OK(ctx, hcl_tensor_download_f32(x, v, n));
                for (size_t k = 0; k < n; k++) {
                    ck_assert_float_eq(v[k], ref[served + k]); /* the same permutation */
                    ck_assert_int_eq(seen[(int)v[k]]++, 0);     /* once */
                }
                served += n;
            }
            for (int r = 0; r < S; r++) {
                if (r == 0 || sizes[r] < lo) lo = sizes[r];
                if (sizes[r] > hi) hi = sizes[r];
                if (r) ck_assert_uint_le(sizes[r], sizes[r - 1]); /* first pieces the larger */
            }
            ck_assert_uint_le(hi - lo, 1);
        }
        ck_assert_uint_eq(served, expect_served);
        for (int r = 0; r < S; r++) { /* then the epoch ends on every shard */
            const hcl_tensor *x, *y;
            size_t n = 1;
            CK_OK(ctx, hcl_batcher_next(sh[r], &x, &y, &n));
            ck_assert_uint_eq(n, 0);
        }
    }
    hcl_batcher_free(whole);
    for (int r = 0; r < S; r++) hcl_batcher_free(sh[r]);
}

START_TEST(batcher_shards) {
    hcl_context *ctx = test_context();
    shard_case(ctx, 53, 4, 3, 0);  /* rest 5: pieces 2, 2, 1 */
    shard_case(ctx, 50, 4, 3, 0);  /* rest 2 < 3 shards: dropped */
    shard_case(ctx, 53, 4, 3, 1);  /* drop_last */
    shard_case(ctx, 48, 4, 3, 0);  /* no rest */
    shard_case(ctx, 37, 7, 1, 0);  /* one shard: the plain batcher */
    shard_case(ctx, 100, 7, 2, 0); /* rest 2: 1 + 1 */
    /* bad shard options */
    uint8_t img[16] = {0};
    int64_t shape[1] = {1};
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    ck_assert_int_eq(o.shard_count, 1);
    ck_assert_int_eq(o.shard_index, 0);
    hcl_batcher *b = NULL;
    o.batch = 2;
    o.shard_count = 0;
    CK_STATUS(ctx, hcl_batcher_create(ctx, img, NULL, 16, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    o.shard_count = 2, o.shard_index = 2;
    CK_STATUS(ctx, hcl_batcher_create(ctx, img, NULL, 16, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    o.shard_index = -1;
    CK_STATUS(ctx, hcl_batcher_create(ctx, img, NULL, 16, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    o.shard_count = 4, o.shard_index = 0, o.batch = 8;
    CK_STATUS(ctx, hcl_batcher_create(ctx, img, NULL, 3, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT); /* 3 < 4 shards */
    o.drop_last = 1;
    CK_STATUS(ctx, hcl_batcher_create(ctx, img, NULL, 16, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT); /* 16 < 32 */
    ck_assert_ptr_null(b);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ bad inputs */

START_TEST(bad_inputs) {
    test_seed();
    hcl_dist_options o;
    hcl_dist_options_init(&o);
    hcl_dist *d = NULL;
    char err[256] = "";
    o.wire_dtype = HCL_BF16;
    ck_assert_int_eq(hcl_dist_create(&d, &o, err, sizeof err), HCL_ERR_DTYPE);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "wire_dtype") != NULL, "message: %s", err);
    ck_assert_int_eq(hcl_dist_create(NULL, NULL, err, sizeof err), HCL_ERR_NULL_POINTER);
    hcl_dist_options_init(&o);
    o.transport = (hcl_dist_transport)7;
    ck_assert_int_eq(hcl_dist_create(&d, &o, err, sizeof err), HCL_ERR_INVALID_ARGUMENT);
    if (!hcl_dist_mpi_available()) {
        o.transport = HCL_DIST_MPI;
        ck_assert_int_eq(hcl_dist_create(&d, &o, err, sizeof err), HCL_ERR_INVALID_ARGUMENT);
        ck_assert_msg(strstr(err, "MPI") != NULL, "message: %s", err);
        ck_assert_ptr_null(d);
    }
    hcl_dist_free(NULL);
    ck_assert_int_eq(hcl_dist_size(NULL), 1);
    ck_assert_int_eq(hcl_dist_rank(NULL), 0);
    ck_assert_int_eq(hcl_dist_train_step(NULL, NULL, 0, NULL, NULL, 0.1f), HCL_ERR_NULL_POINTER);

    open_contexts(2);
    hcl_model *rep[3];
    rep[0] = make_model(ctxs[0], HCL_PRECISION_FP32, HCL_OPTIM_SGD, 1, 8);
    rep[1] = make_model(ctxs[1], HCL_PRECISION_FP32, HCL_OPTIM_SGD, 1, 8);
    d = make_dist(1, 0);
    gbatch g;
    gbatch_fill(&g, 6);
    hcl_tensor *x[2], *y[2];
    gbatch_slice(ctxs[0], &g, 0, 3, &x[0], &y[0]);
    gbatch_slice(ctxs[1], &g, 3, 3, &x[1], &y[1]);
    const hcl_tensor *const *cx = (const hcl_tensor *const *)x, *const *cy = (const hcl_tensor *const *)y;
    DIST_STATUS(d, hcl_dist_train_step(d, NULL, 2, cx, cy, 0.1f), HCL_ERR_NULL_POINTER);
    DIST_STATUS(d, hcl_dist_train_step(d, rep, 0, cx, cy, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    DIST_STATUS(d, hcl_dist_train_step(d, rep, 2, NULL, cy, 0.1f), HCL_ERR_NULL_POINTER);
    DIST_STATUS(d, hcl_dist_train_step(d, rep, 2, cx, cy, NAN), HCL_ERR_INVALID_ARGUMENT);
    const hcl_tensor *swapped[2] = {x[1], x[0]};
    DIST_STATUS(d, hcl_dist_train_step(d, rep, 2, swapped, cy, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    hcl_model *twice[2] = {rep[0], rep[0]};
    DIST_STATUS(d, hcl_dist_train_step(d, twice, 2, cx, cy, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    const hcl_tensor *none[2] = {NULL, NULL};
    DIST_STATUS(d, hcl_dist_train_step(d, rep, 2, none, none, 0.1f), HCL_ERR_INVALID_ARGUMENT); /* no rows at all */
    /* a replica of another policy, then one of another graph */
    hcl_model *other = make_model(ctxs[1], HCL_PRECISION_MIXED_F16, HCL_OPTIM_SGD, 1, 8);
    rep[2] = rep[1];
    rep[1] = other;
    DIST_STATUS(d, hcl_dist_train_step(d, rep, 2, cx, cy, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(hcl_dist_last_error(d), "replica 1") != NULL, "message: %s", hcl_dist_last_error(d));
    DIST_STATUS(d, hcl_dist_broadcast(d, rep, 2), HCL_ERR_INVALID_ARGUMENT);
    int same = 1;
    DIST_STATUS(d, hcl_dist_check_replicas(d, rep, 2, &same), HCL_ERR_INVALID_ARGUMENT);
    hcl_model_free(other);
    rep[1] = rep[2];
    DIST_STATUS(d, hcl_dist_check_replicas(d, rep, 2, NULL), HCL_ERR_NULL_POINTER);
    DIST_STATUS(d, hcl_dist_broadcast(d, rep, 0), HCL_ERR_INVALID_ARGUMENT);
    hcl_params *pp[2] = {hcl_model_params(rep[0]), NULL};
    DIST_STATUS(d, hcl_dist_allreduce_grads(d, pp, NULL, 2), HCL_ERR_NULL_POINTER);
    DIST_STATUS(d, hcl_dist_allreduce_grads(d, pp, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    /* a failed call leaves the group usable: a good step works and the replicas agree */
    DIST_OK(d, hcl_dist_train_step(d, rep, 2, cx, cy, 0.1f));
    /* one replica with no rows contributes nothing but still gets the step */
    const hcl_tensor *half_x[2] = {x[0], NULL}, *half_y[2] = {y[0], NULL};
    DIST_OK(d, hcl_dist_train_step(d, rep, 2, half_x, half_y, 0.1f));
    assert_same(d, rep, 2, "after steps with a 0-row replica");
    for (size_t i = 0; i < 2; i++) {
        hcl_tensor_free(x[i]);
        hcl_tensor_free(y[i]);
    }
    hcl_dist_free(d);
    hcl_model_free(rep[0]);
    hcl_model_free(rep[1]);
    close_contexts(2);

    /* local devices: specs a context accepts */
    char specs[3][HCL_DIST_SPEC_LEN];
    size_t count = 9;
    ck_assert_int_eq(hcl_dist_local_devices(0, specs, &count, err, sizeof err), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(hcl_dist_local_devices(3, NULL, &count, err, sizeof err), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(hcl_dist_local_devices(3, specs, &count, err, sizeof err), HCL_OK);
    ck_assert_uint_ge(count, 1);
    ck_assert_uint_le(count, 3);
    hcl_context_options co;
    hcl_context_options_init(&co);
    co.device = specs[count - 1];
    hcl_context *c = NULL;
    ck_assert_msg(hcl_context_create(&c, &co, err, sizeof err) == HCL_OK, "spec %s: %s", specs[count - 1], err);
    hcl_context_free(c);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("dist");
    TCase *e = tcase_create("equiv");
    tcase_set_timeout(e, 900);
    tcase_add_loop_test(e, equiv_fp32_sgd, 0, 2);
    tcase_add_loop_test(e, equiv_fp32_adam, 0, 2);
    tcase_add_loop_test(e, equiv_f16_sgd, 0, 2);
    tcase_add_loop_test(e, equiv_f16_adam, 0, 2);
    tcase_add_test(e, equiv_fp32_adam_sub_devices);
    suite_add_tcase(s, e);
    TCase *g = tcase_create("group");
    tcase_set_timeout(g, 900);
    tcase_add_test(g, overlap_identical);
    tcase_add_test(g, overflow_skips_everywhere);
    tcase_add_test(g, broadcast_makes_identical);
    tcase_add_loop_test(g, allreduce_weighted, 0, 2);
    tcase_add_test(g, checkpoint_resume);
    suite_add_tcase(s, g);
    TCase *b = tcase_create("misc");
    tcase_set_timeout(b, 600);
    tcase_add_test(b, batcher_shards);
    tcase_add_test(b, bad_inputs);
    tcase_add_test(b, local_devices_sub_devices);
    suite_add_tcase(s, b);
    return s;
}

int main(void) { return test_run_suite(suite()); }
