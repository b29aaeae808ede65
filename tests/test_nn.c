/* Tests of the model API (nn.h) and the batcher (io.h): a tiny MLP and a tiny CNN trained on
 * synthetic separable problems to > 95% in fp32, mixed_f16 and mixed_bf16; the gradients of a
 * residual graph (multi-consumer accumulation, add, in-place ReLU, ReLU moved after max-pool,
 * flatten, linear) against central finite differences of an FP64 host reference, with and without
 * fusion; summary numbers and the memory plan; batcher shuffling, normalisation and epochs; the
 * step log; bad inputs; distillation (the model's loss and gradients against an FP64 reference, a
 * student learning from a teacher's F16 logits alone). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* ------------------------------------------------------------------ synthetic data */

/* MLP data: 4 Gaussian clusters in 8-D (centres 4 e_c, unit noise; Bayes accuracy ~99%),
 * quantised to u8 as v = 128 + 20 x (the batcher undoes it: x = v / 20 - 6.4). */
#define MLP_D 8
#define MLP_K 4
static void make_clusters(uint8_t *x, uint8_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % MLP_K);
        y[i] = (uint8_t)c;
        for (int d = 0; d < MLP_D; d++) {
            double v = (d == c ? 4.0 : 0.0) + test_normal();
            double q = 128.0 + 20.0 * v;
            x[i * MLP_D + d] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q + 0.5);
        }
    }
}

/* CNN data: 8x8 images, noise plus a bright 3x3 blob in quadrant c (class c). */
#define IMG 8
static void make_blobs(uint8_t *x, uint8_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % 4);
        y[i] = (uint8_t)c;
        uint8_t *im = x + i * IMG * IMG;
        for (int k = 0; k < IMG * IMG; k++) im[k] = (uint8_t)test_uniform(0, 80);
        int r0 = (c / 2) * 4 + (int)test_uniform(0, 2), c0 = (c % 2) * 4 + (int)test_uniform(0, 2);
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 3; q++) im[(r0 + r) * IMG + c0 + q] = (uint8_t)test_uniform(180, 255);
    }
}

static hcl_batcher *make_batcher(hcl_context *ctx, const uint8_t *x, const uint8_t *y, size_t n, int rank,
                                 const int64_t *shape, int64_t batch, hcl_dtype dt, float scale, float mean, int shuffle) {
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    o.batch = batch;
    o.dtype = dt;
    o.scale = scale;
    o.mean[0] = mean;
    o.shuffle = shuffle;
    o.seed = 7;
    hcl_batcher *b = NULL;
    CK_OK(ctx, hcl_batcher_create(ctx, x, y, n, rank, shape, &o, &b));
    return b;
}

/* HALFCL_TEST_SMALL=1 (the oclgrind run): one epoch, no accuracy bound — the kernels are
 * checked for out-of-bounds accesses and races, not the learning. */
static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

/* Trains `m` for `epochs` over train and returns the eval accuracy on test. */
static double train_eval(hcl_context *ctx, hcl_model *m, hcl_batcher *train, hcl_batcher *test, int epochs, float lr) {
    if (small_run()) epochs = 1;
    for (int e = 0; e < epochs; e++) {
        for (;;) {
            const hcl_tensor *x, *y;
            size_t n;
            CK_OK(ctx, hcl_batcher_next(train, &x, &y, &n));
            if (!n) break;
            CK_OK(ctx, hcl_model_train_step(m, x, y, lr));
        }
    }
    hcl_metrics tm, em;
    CK_OK(ctx, hcl_model_metrics_read(m, &tm));
    CK_OK(ctx, hcl_model_evaluate(m, test, &em));
    ck_assert_msg(isfinite(em.loss) && em.samples == hcl_batcher_count(test), "eval loss %g samples %zu", em.loss, em.samples);
    return em.accuracy;
}

static void run_mlp(hcl_precision p) {
    hcl_context *ctx = test_context();
    enum { NTR = 256, NTE = 256 };
    uint8_t xtr[NTR * MLP_D], ytr[NTR], xte[NTE * MLP_D], yte[NTE];
    make_clusters(xtr, ytr, NTR);
    make_clusters(xte, yte, NTE);
    int64_t in[1] = {MLP_D};
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &m));
    CK_OK(ctx, hcl_model_input(m, 1, in, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 16, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, MLP_K, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    o.max_batch = 32;
    o.seed = 3;
    CK_OK(ctx, hcl_model_build(m, &o));
    hcl_dtype dt = hcl_model_dtype(m);
    hcl_batcher *tr = make_batcher(ctx, xtr, ytr, NTR, 1, in, 32, dt, 1.0f / 20, 6.4f, 1);
    hcl_batcher *te = make_batcher(ctx, xte, yte, NTE, 1, in, 32, dt, 1.0f / 20, 6.4f, 0);
    double acc = train_eval(ctx, m, tr, te, 12, 1e-2f);
    if (small_run()) fprintf(stderr, "HALFCL_TEST_SMALL: MLP trained 1 epoch (accuracy %.3f not checked)\n", acc);
    else ck_assert_msg(acc > 0.95, "%s MLP accuracy %.3f (%s)", hcl_precision_name(p), acc, test_seed_note());
    hcl_batcher_free(tr);
    hcl_batcher_free(te);
    hcl_model_free(m);
    hcl_context_free(ctx);
}

static void run_cnn(hcl_precision p) {
    hcl_context *ctx = test_context();
    enum { NTR = 192, NTE = 128 };
    static uint8_t xtr[NTR * IMG * IMG], ytr[NTR], xte[NTE * IMG * IMG], yte[NTE];
    make_blobs(xtr, ytr, NTR);
    make_blobs(xte, yte, NTE);
    int64_t in[3] = {1, IMG, IMG};
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &m));
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 4, 3, 1, 1, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL));
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 4, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    o.max_batch = 32;
    o.seed = 5;
    CK_OK(ctx, hcl_model_build(m, &o));
    hcl_dtype dt = hcl_model_dtype(m);
    hcl_batcher *tr = make_batcher(ctx, xtr, ytr, NTR, 3, in, 32, dt, 1.0f / 255, 0.0f, 1);
    hcl_batcher *te = make_batcher(ctx, xte, yte, NTE, 3, in, 32, dt, 1.0f / 255, 0.0f, 0);
    double acc = train_eval(ctx, m, tr, te, 10, 1e-2f);
    if (small_run()) fprintf(stderr, "HALFCL_TEST_SMALL: CNN trained 1 epoch (accuracy %.3f not checked)\n", acc);
    else ck_assert_msg(acc > 0.95, "%s CNN accuracy %.3f (%s)", hcl_precision_name(p), acc, test_seed_note());
    hcl_batcher_free(tr);
    hcl_batcher_free(te);
    hcl_model_free(m);
    hcl_context_free(ctx);
}

START_TEST(mlp_fp32) { run_mlp(HCL_PRECISION_FP32); }
END_TEST
START_TEST(mlp_mixed_f16) { run_mlp(HCL_PRECISION_MIXED_F16); }
END_TEST
START_TEST(mlp_mixed_bf16) { run_mlp(HCL_PRECISION_MIXED_BF16); }
END_TEST
START_TEST(cnn_fp32) { run_cnn(HCL_PRECISION_FP32); }
END_TEST
START_TEST(cnn_mixed_f16) { run_cnn(HCL_PRECISION_MIXED_F16); }
END_TEST
START_TEST(cnn_mixed_bf16) { run_cnn(HCL_PRECISION_MIXED_BF16); }
END_TEST

/* ------------------------------------------------------------------ residual graph gradients */
/* x (2,6,6) -> A = convA(x) (3,6,6) pad 1 -> B = relu(A) -> C = convB(B) (3,6,6) pad 1
 * -> D = A + C -> E = relu(D) -> F = maxpool2(E) (3,3,3) -> G = flatten -> H = linear(27 -> 4).
 * A feeds both B and D (its gradient accumulates); E moves after F when fused. */
#define GN 3
#define GC 2
#define GK 3
#define GH 6
#define GO 4
typedef struct gparams {
    double wa[GK * GC * 9], ba[GK], wb[GK * GK * 9], bb[GK], wl[GO * 27], bl[GO];
} gparams;
typedef struct gcase {
    double x[GN * GC * GH * GH];
    int labels[GN];
} gcase;

static void ref_conv(const double *x, int c, const double *w, const double *b, int k, double *y) {
    for (int o = 0; o < k; o++)
        for (int i = 0; i < GH; i++)
            for (int j = 0; j < GH; j++) {
                double s = b[o];
                for (int ci = 0; ci < c; ci++)
                    for (int r = 0; r < 3; r++)
                        for (int q = 0; q < 3; q++) {
                            int ii = i + r - 1, jj = j + q - 1;
                            if (ii < 0 || jj < 0 || ii >= GH || jj >= GH) continue;
                            s += w[((o * c + ci) * 3 + r) * 3 + q] * x[(ci * GH + ii) * GH + jj];
                        }
                y[(o * GH + i) * GH + j] = s;
            }
}

static double ref_loss(const double *flat, void *user) {
    const gcase *gc = user;
    const gparams *p = (const gparams *)(const void *)flat;
    double total = 0;
    for (int n = 0; n < GN; n++) {
        double a[GK * GH * GH], bq[GK * GH * GH], c[GK * GH * GH], f[27];
        ref_conv(gc->x + n * GC * GH * GH, GC, p->wa, p->ba, GK, a);
        for (int i = 0; i < GK * GH * GH; i++) bq[i] = a[i] > 0 ? a[i] : 0;
        ref_conv(bq, GK, p->wb, p->bb, GK, c);
        for (int i = 0; i < GK * GH * GH; i++) c[i] = a[i] + c[i] > 0 ? a[i] + c[i] : 0; /* E */
        for (int ch = 0; ch < GK; ch++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    double mx = -INFINITY;
                    for (int r = 0; r < 2; r++)
                        for (int q = 0; q < 2; q++) {
                            double v = c[(ch * GH + 2 * i + r) * GH + 2 * j + q];
                            if (v > mx) mx = v;
                        }
                    f[(ch * 3 + i) * 3 + j] = mx;
                }
        double logits[GO], mx = -INFINITY, se = 0;
        for (int o = 0; o < GO; o++) {
            logits[o] = p->bl[o];
            for (int i = 0; i < 27; i++) logits[o] += p->wl[o * 27 + i] * f[i];
            if (logits[o] > mx) mx = logits[o];
        }
        for (int o = 0; o < GO; o++) se += exp(logits[o] - mx);
        total += -(logits[gc->labels[n]] - mx - log(se));
    }
    return total / GN;
}

static void run_gradcheck(int fuse) {
    hcl_context *ctx = test_context();
    int64_t in[3] = {GC, GH, GH};
    hcl_model *m = NULL;
    int a, b, c, d;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m));
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, GK, 3, 1, 1, &a));
    CK_OK(ctx, hcl_model_activation(m, a, HCL_ACT_RELU, 0, &b));
    CK_OK(ctx, hcl_model_conv2d(m, b, GK, 3, 1, 1, &c));
    CK_OK(ctx, hcl_model_add(m, a, c, &d));
    CK_OK(ctx, hcl_model_activation(m, d, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL));
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, GO, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_FP32);
    o.max_batch = GN;
    o.seed = 11;
    o.fuse = fuse;
    CK_OK(ctx, hcl_model_build(m, &o));
    hcl_params *ps = hcl_model_params(m);
    ck_assert_uint_eq(hcl_params_count(ps), 6);

    static gparams gp;
    static gcase gc;
    double *flat = (double *)(void *)&gp;
    size_t np = sizeof gp / sizeof(double);
    ck_assert_uint_eq(np, hcl_params_numel(ps));
    /* the params in declaration order are the struct's fields in order */
    float *host = malloc(np * sizeof *host);
    size_t at = 0;
    for (size_t i = 0; i < 6; i++) {
        size_t cnt = hcl_params_weight(ps, i)->count;
        CK_OK(ctx, hcl_params_download(ps, i, host + at, cnt));
        at += cnt;
    }
    for (size_t i = 0; i < np; i++) flat[i] = host[i];
    float xs[GN * GC * GH * GH];
    test_fill_uniform(xs, GN * GC * GH * GH, -1, 1);
    for (size_t i = 0; i < GN * GC * GH * GH; i++) gc.x[i] = xs[i];
    int32_t lab[GN];
    for (int n = 0; n < GN; n++) lab[n] = gc.labels[n] = (int)test_uniform(0, GO - 1e-9);
    int64_t xshape[4] = {GN, GC, GH, GH}, lshape[1] = {GN};
    hcl_tensor *x = test_tensor_from(ctx, HCL_F32, 4, xshape, xs), *y = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, lshape, &y));
    CK_OK(ctx, hcl_tensor_upload_raw(y, lab, sizeof lab));

    CK_OK(ctx, hcl_params_zero_grad(ps));
    CK_OK(ctx, hcl_model_forward(m, x, 1));
    CK_OK(ctx, hcl_model_backward(m, y));
    float loss;
    CK_OK(ctx, hcl_tensor_download_f32(hcl_model_loss(m), &loss, 1));
    double ref = ref_loss(flat, &gc);
    ck_assert_msg(fabs(loss - ref) < 1e-5 * fmax(1, fabs(ref)), "loss %g vs reference %g (fuse %d)", (double)loss, ref, fuse);

    float *g = malloc(np * sizeof *g);
    at = 0;
    for (size_t i = 0; i < 6; i++) {
        size_t cnt = hcl_params_grad(ps, i)->count;
        CK_OK(ctx, hcl_tensor_download_f32(hcl_params_grad(ps, i), g + at, cnt));
        at += cnt;
    }
    double *num = malloc(np * sizeof *num);
    test_numeric_grad(ref_loss, &gc, flat, np, 1e-5, num);
    double err = test_rel_err(g, num, np);
    ck_assert_msg(err < 1e-4, "fuse %d: gradient rel err %g vs finite differences (%s)", fuse, err, test_seed_note());
    free(host);
    free(g);
    free(num);
    hcl_tensor_free(x);
    hcl_tensor_free(y);
    hcl_model_free(m);
    hcl_context_free(ctx);
}

START_TEST(residual_gradcheck_fused) { run_gradcheck(1); }
END_TEST
START_TEST(residual_gradcheck_unfused) { run_gradcheck(0); }
END_TEST

/* ------------------------------------------------------------------ summary and memory plan */

static hcl_model *fashion_cnn(hcl_context *ctx, hcl_precision p, int64_t batch) {
    int64_t in[3] = {1, 28, 28};
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &m));
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 32, 3, 1, 0, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL));
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 128, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 10, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    o.max_batch = batch;
    CK_OK(ctx, hcl_model_build(m, &o));
    return m;
}

START_TEST(summary_numbers) {
    hcl_context *ctx = test_context();
    hcl_model *m32 = fashion_cnn(ctx, HCL_PRECISION_FP32, 64), *m16 = fashion_cnn(ctx, HCL_PRECISION_MIXED_F16, 64);
    const size_t params = 32 * 9 + 32 + 5408 * 128 + 128 + 128 * 10 + 10;
    hcl_model_memory a, b;
    CK_OK(ctx, hcl_model_memory_get(m32, &a));
    CK_OK(ctx, hcl_model_memory_get(m16, &b));
    ck_assert_uint_eq(a.param_count, params);
    ck_assert_uint_eq(b.param_count, params);
    size_t arena = hcl_params_arena_numel(hcl_model_params(m16));
    ck_assert_uint_ge(arena, params);
    ck_assert_uint_eq(b.weight_bytes, arena * 2);
    ck_assert_uint_eq(b.master_bytes, arena * 4);
    ck_assert_uint_eq(b.grad_bytes, arena * 2);
    ck_assert_uint_eq(b.optim_bytes, arena * 8); /* Adam: exp_avg, exp_avg_sq */
    ck_assert_uint_eq(a.master_bytes, 0);
    ck_assert_uint_eq(a.weight_bytes, arena * 4);
    /* the plan shares memory, and half activations take about half */
    ck_assert_uint_lt(b.activation_bytes, b.activation_unplanned_bytes);
    ck_assert_uint_lt(b.activation_bytes, a.activation_bytes);
    /* layer rows: conv output (64,32,26,26) F16; pool argmax I32 */
    hcl_layer_summary s;
    CK_OK(ctx, hcl_model_layer_summary(m16, 1, &s));
    ck_assert_int_eq(s.kind, HCL_LAYER_CONV2D);
    ck_assert_int_eq(s.rank, 4);
    ck_assert(s.shape[0] == 64 && s.shape[1] == 32 && s.shape[2] == 26 && s.shape[3] == 26);
    ck_assert_uint_eq(s.params, 320);
    ck_assert_uint_eq(s.param_bytes, 640);
    ck_assert_uint_eq(s.activation_bytes, 64 * 32 * 26 * 26 * 2);
    CK_OK(ctx, hcl_model_layer_summary(m16, 3, &s));
    ck_assert_int_eq(s.kind, HCL_LAYER_MAXPOOL2D);
    ck_assert_uint_eq(s.activation_bytes, 64 * 32 * 13 * 13 * (2 + 4));
    CK_OK(ctx, hcl_model_layer_summary(m16, 2, &s)); /* the ReLU, moved after the pool, in place */
    ck_assert_int_eq(s.fused, 1);
    ck_assert(s.shape[2] == 13);
    CK_OK(ctx, hcl_model_layer_summary(m16, 5, &s));
    ck_assert_uint_eq(s.params, 5408 * 128 + 128);
    char text[4096];
    size_t need = 0;
    CK_OK(ctx, hcl_model_summary(m16, text, sizeof text, &need));
    ck_assert_msg(strstr(text, "Total params: 693962") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "conv2d_1") && strstr(text, "(64, 32, 26, 26)") && strstr(text, "GEMM epilogue"), "%s", text);
    ck_assert_uint_eq(need, strlen(text) + 1);
    char small[16];
    CK_OK(ctx, hcl_model_summary(m16, small, sizeof small, &need)); /* truncates */
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    /* sparsity: exact zeros of the masters (what a pruning mask holds at 0) */
    CK_OK(ctx, hcl_model_layer_summary(m16, 1, &s));
    ck_assert_uint_eq(s.zero_params, 0);
    ck_assert(s.sparsity == 0.0);
    CK_OK(ctx, hcl_model_layer_summary(m16, 0, &s)); /* no parameters */
    ck_assert(s.params == 0 && s.zero_params == 0 && s.sparsity == 0.0);
    float w[288];
    hcl_params *pp = hcl_model_params(m16);
    size_t wi;
    CK_OK(ctx, hcl_params_find(pp, "conv2d_1.weight", &wi));
    CK_OK(ctx, hcl_params_download(pp, wi, w, 288));
    for (int i = 0; i < 288; i += 3) w[i] = 0.0f; /* 96 zeros */
    w[1] = -0.0f;                                 /* a negative zero is a zero */
    w[2] = 1e-30f;                                /* tiny, not zero (0 in F16: masters count) */
    CK_OK(ctx, hcl_params_upload(pp, wi, w, 288));
    static float lw[5408 * 128];
    CK_OK(ctx, hcl_params_find(pp, "linear_5.weight", &wi));
    CK_OK(ctx, hcl_params_download(pp, wi, lw, 5408 * 128));
    size_t lz = 0;
    for (size_t i = 0; i < 5408 * 128; i++)
        if (i % 5 != 0) lw[i] = 0.0f, lz++; /* 80% */
    CK_OK(ctx, hcl_params_upload(pp, wi, lw, 5408 * 128));
    CK_OK(ctx, hcl_model_layer_summary(m16, 1, &s));
    ck_assert_uint_eq(s.zero_params, 97);
    ck_assert_double_eq_tol(s.sparsity, 97.0 / 320, 1e-12);
    CK_OK(ctx, hcl_model_layer_summary(m16, 5, &s));
    ck_assert_uint_eq(s.zero_params, lz);
    ck_assert_double_eq_tol(s.sparsity, (double)lz / (5408 * 128 + 128), 1e-12);
    CK_OK(ctx, hcl_model_summary(m16, text, sizeof text, &need));
    char want[128], want_layer[32];
    snprintf(want, sizeof want, "Total params: 693962 (sparsity %.2f%%: %zu exact zeros)", 100.0 * (double)(97 + lz) / 693962,
             97 + lz);
    snprintf(want_layer, sizeof want_layer, "%.2f%%", 100.0 * (double)lz / (5408 * 128 + 128));
    ck_assert_msg(strstr(text, want) && strstr(text, "30.31%") && strstr(text, want_layer), "want %s in\n%s", want, text);
    hcl_model_free(m32);
    hcl_model_free(m16);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ batcher and step log */

START_TEST(batcher_epochs) {
    hcl_context *ctx = test_context();
    enum { N = 10 };
    uint8_t x[N * 2], y[N];
    for (int i = 0; i < N; i++) x[2 * i] = x[2 * i + 1] = (uint8_t)(10 * i), y[i] = (uint8_t)i;
    int64_t shape[1] = {2};
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    o.batch = 4;
    o.dtype = HCL_F16;
    o.scale = 0.5f;
    o.mean[0] = 1.0f;
    o.std[0] = 2.0f;
    o.seed = 99;
    hcl_batcher *b = NULL;
    CK_OK(ctx, hcl_batcher_create(ctx, x, y, N, 1, shape, &o, &b));
    ck_assert_uint_eq(hcl_batcher_batches(b), 3);
    int order[2][N];
    for (int e = 0; e < 2; e++) {
        int seen = 0, counts[N] = {0};
        for (int k = 0;; k++) {
            const hcl_tensor *xi, *yi;
            size_t n;
            CK_OK(ctx, hcl_batcher_next(b, &xi, &yi, &n));
            if (!n) {
                ck_assert_int_eq(k, 3);
                break;
            }
            ck_assert_uint_eq(n, k < 2 ? 4 : 2);
            ck_assert_int_eq(xi->dtype, HCL_F16);
            float xv[8];
            int32_t yv[4];
            CK_OK(ctx, hcl_tensor_download_f32(xi, xv, n * 2));
            CK_OK(ctx, hcl_tensor_download_raw(yi, yv, n * 4));
            for (size_t i = 0; i < n; i++) {
                ck_assert(yv[i] >= 0 && yv[i] < N);
                counts[yv[i]]++;
                order[e][seen++] = yv[i];
                float want = ((float)(10 * yv[i]) * 0.5f - 1.0f) / 2.0f; /* exact in F16 */
                ck_assert_msg(xv[2 * i] == want && xv[2 * i + 1] == want, "x %g want %g", (double)xv[2 * i], (double)want);
            }
        }
        for (int i = 0; i < N; i++) ck_assert_int_eq(counts[i], 1);
        ck_assert_uint_eq(hcl_batcher_epoch(b), (uint64_t)e + 1);
    }
    ck_assert_msg(memcmp(order[0], order[1], sizeof order[0]) != 0, "epochs 0 and 1 drew the same order");
    /* seeking replays an epoch's order */
    CK_OK(ctx, hcl_batcher_seek_epoch(b, 1));
    const hcl_tensor *xi, *yi;
    size_t n;
    CK_OK(ctx, hcl_batcher_next(b, &xi, &yi, &n));
    int32_t yv[4];
    CK_OK(ctx, hcl_tensor_download_raw(yi, yv, n * 4));
    for (int i = 0; i < 4; i++) ck_assert_int_eq(yv[i], order[1][i]);
    hcl_batcher_free(b);
    /* bad arguments */
    o.batch = 0;
    CK_STATUS(ctx, hcl_batcher_create(ctx, x, y, N, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    o.batch = 4;
    o.std[0] = 0;
    CK_STATUS(ctx, hcl_batcher_create(ctx, x, y, N, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    o.std[0] = 1;
    o.dtype = HCL_I32;
    CK_STATUS(ctx, hcl_batcher_create(ctx, x, y, N, 1, shape, &o, &b), HCL_ERR_DTYPE);
    o.dtype = HCL_F32;
    CK_STATUS(ctx, hcl_batcher_create(ctx, NULL, y, N, 1, shape, &o, &b), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_batcher_create(ctx, x, y, 0, 1, shape, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(b);
    hcl_batcher_free(NULL);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(step_log_and_metrics) {
    hcl_context *ctx = test_context();
    enum { NTR = 64 };
    uint8_t xtr[NTR * MLP_D], ytr[NTR];
    make_clusters(xtr, ytr, NTR);
    int64_t in[1] = {MLP_D};
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_MIXED_F16, &m));
    CK_OK(ctx, hcl_model_input(m, 1, in, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, MLP_K, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_MIXED_F16);
    o.max_batch = 16;
    CK_OK(ctx, hcl_model_build(m, &o));
    CK_OK(ctx, hcl_model_log_enable(m, 8));
    CK_STATUS(ctx, hcl_model_log_enable(m, 8), HCL_ERR_INVALID_ARGUMENT);
    hcl_batcher *tr = make_batcher(ctx, xtr, ytr, NTR, 1, in, 16, HCL_F16, 1.0f / 20, 6.4f, 1);
    for (int e = 0; e < 2; e++)
        for (;;) {
            const hcl_tensor *x, *y;
            size_t n;
            CK_OK(ctx, hcl_batcher_next(tr, &x, &y, &n));
            if (!n) break;
            CK_OK(ctx, hcl_model_train_step(m, x, y, 1e-2f));
        }
    hcl_step_record rec[8];
    size_t cnt = 0;
    CK_OK(ctx, hcl_model_log_read(m, rec, 8, &cnt));
    ck_assert_uint_eq(cnt, 8);
    /* the scale starts at 2^16 and halves on each skipped step (early F16 gradients x 2^16 may
     * overflow); the skip counter counts them */
    float scale = 65536.0f;
    uint32_t skipped = 0;
    for (size_t i = 0; i < cnt; i++) {
        ck_assert_uint_eq(rec[i].step, i);
        ck_assert(isfinite(rec[i].loss) && rec[i].loss > 0);
        if (rec[i].was_skipped) scale *= 0.5f, skipped++;
        ck_assert_msg(rec[i].scale == scale, "step %zu: scale %g, want %g", i, (double)rec[i].scale, (double)scale);
        ck_assert_uint_eq(rec[i].skipped, skipped);
    }
    CK_OK(ctx, hcl_model_log_read(m, rec, 8, &cnt));
    ck_assert_uint_eq(cnt, 0);
    hcl_metrics mt;
    CK_OK(ctx, hcl_model_metrics_read(m, &mt));
    ck_assert_uint_eq(mt.samples, 2 * NTR);
    ck_assert(mt.loss > 0 && mt.accuracy >= 0 && mt.accuracy <= 1);
    CK_OK(ctx, hcl_model_metrics_reset(m));
    CK_OK(ctx, hcl_model_metrics_read(m, &mt));
    ck_assert_uint_eq(mt.samples, 0);
    hcl_batcher_free(tr);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ distillation */

/* FP64 reference of hcl_distillation_loss on (N, C) logits s, teacher t, labels y: the loss and
 * dlogits (scale 1): alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) CE(s, y), means. */
static double ref_distill(const float *s, const float *t, const int32_t *y, int N, int C, double T, double alpha,
                          double *ds) {
    double loss = 0;
    for (int n = 0; n < N; n++) {
        double ms = -INFINITY, mt = -INFINITY, m1 = -INFINITY, zs = 0, zt = 0, z1 = 0;
        for (int c = 0; c < C; c++) {
            ms = fmax(ms, s[n * C + c] / T);
            mt = fmax(mt, t[n * C + c] / T);
            m1 = fmax(m1, s[n * C + c]);
        }
        for (int c = 0; c < C; c++) {
            zs += exp(s[n * C + c] / T - ms);
            zt += exp(t[n * C + c] / T - mt);
            z1 += exp(s[n * C + c] - m1);
        }
        for (int c = 0; c < C; c++) {
            double lps = s[n * C + c] / T - ms - log(zs), lpt = t[n * C + c] / T - mt - log(zt);
            double p1 = exp(s[n * C + c] - m1) / z1, pt = exp(lpt);
            loss += alpha * T * T * pt * (lpt - lps) / N;
            if (c == y[n]) loss += (1 - alpha) * -log(p1) / N;
            ds[n * C + c] = (alpha * T * (exp(lps) - pt) + (1 - alpha) * (p1 - (c == y[n]))) / N;
        }
    }
    return loss;
}

/* A linear model (D -> C) with odd sizes: the model's distillation loss and the weight and bias
 * gradients (scaled by the loss scale) against the FP64 reference fed the model's own logits
 * and the teacher's values as stored (F16). */
static void run_distill_grad(hcl_precision p) {
    hcl_context *ctx = test_context();
    enum { N = 7, D = 5, C = 33 };
    const double T = 3.0, alpha = 0.7;
    int64_t in[1] = {D};
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &m));
    CK_OK(ctx, hcl_model_input(m, 1, in, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, C, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    o.max_batch = 8;
    o.loss = HCL_LOSS_DISTILLATION;
    o.distill_temperature = (float)T;
    o.distill_alpha = (float)alpha;
    o.scaler.init_scale = 256.0f; /* F16 gradients x 2^16 could overflow here */
    CK_OK(ctx, hcl_model_build(m, &o));
    hcl_dtype dt = hcl_model_dtype(m);
    float x[N * D], tl[N * C];
    int32_t y[N];
    test_fill_normal(x, N * D, 1.0);
    test_round_to_dtype(x, N * D, dt);
    test_fill_normal(tl, N * C, 2.0);
    for (int n = 0; n < N; n++) y[n] = (int32_t)((n * 5 + 3) % C);
    int64_t xs[2] = {N, D}, ts[2] = {N, C}, ys[1] = {N};
    hcl_tensor *xt = test_tensor_from(ctx, dt, 2, xs, x), *tt = test_tensor_from(ctx, HCL_F16, 2, ts, tl), *yt = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, ys, &yt));
    CK_OK(ctx, hcl_tensor_upload_raw(yt, y, sizeof y));
    CK_OK(ctx, hcl_tensor_download_f32(tt, tl, N * C)); /* the values the device sees (F16) */
    CK_OK(ctx, hcl_params_zero_grad(hcl_model_params(m)));
    CK_OK(ctx, hcl_model_forward(m, xt, 1));
    CK_OK(ctx, hcl_model_set_teacher_logits(m, tt));
    CK_OK(ctx, hcl_model_backward(m, yt));
    float s[N * C], loss, scale;
    CK_OK(ctx, hcl_tensor_download_f32(hcl_model_output(m), s, N * C));
    CK_OK(ctx, hcl_tensor_download_f32(hcl_model_loss(m), &loss, 1));
    CK_OK(ctx, hcl_tensor_download_f32(hcl_optimizer_grad_scale(hcl_model_optimizer(m)), &scale, 1));
    double ds[N * C], dw[C * D] = {0}, db[C] = {0};
    double want = ref_distill(s, tl, y, N, C, T, alpha, ds);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            db[c] += ds[n * C + c] * scale;
            for (int d = 0; d < D; d++) dw[c * D + d] += ds[n * C + c] * x[n * D + d] * scale;
        }
    ck_assert_msg(fabs(loss - want) <= 1e-5 * fabs(want) + 1e-6, "%s: loss %.8g, want %.8g", hcl_precision_name(p),
                  (double)loss, want);
    hcl_params *pp = hcl_model_params(m);
    float *gw = test_download(hcl_params_grad(pp, 0)), *gb = test_download(hcl_params_grad(pp, 1));
    double ew = test_rel_err(gw, dw, C * D), eb = test_rel_err(gb, db, C), tol = test_tolerance(hcl_precision_grad_dtype(p));
    ck_assert_msg(ew < tol && eb < tol, "%s: dW rel err %.3g, db %.3g (bound %.3g; %s)", hcl_precision_name(p), ew, eb, tol,
                  test_seed_note());
    /* the backward consumed the teacher logits: the next one needs them again */
    CK_OK(ctx, hcl_model_forward(m, xt, 1));
    CK_STATUS(ctx, hcl_model_backward(m, yt), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_model_train_step(m, xt, yt, 1e-3f), HCL_ERR_INVALID_ARGUMENT);
    /* evaluation is the plain cross-entropy against the labels, without a teacher */
    hcl_metrics em;
    CK_OK(ctx, hcl_model_eval_reset(m));
    CK_OK(ctx, hcl_model_forward(m, xt, 0));
    CK_OK(ctx, hcl_model_eval_batch(m, yt));
    CK_OK(ctx, hcl_model_eval_read(m, &em));
    double ce = 0;
    CK_OK(ctx, hcl_tensor_download_f32(hcl_model_output(m), s, N * C));
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY, z = 0;
        for (int c = 0; c < C; c++) mx = fmax(mx, s[n * C + c]);
        for (int c = 0; c < C; c++) z += exp(s[n * C + c] - mx);
        ce += (mx + log(z) - s[n * C + y[n]]) / N;
    }
    ck_assert_msg(fabs(em.loss - ce) < 1e-4 * ce + 1e-6 && em.accuracy >= 0, "eval loss %g, want CE %g", em.loss, ce);
    free(gw);
    free(gb);
    hcl_tensor_free(xt);
    hcl_tensor_free(tt);
    hcl_tensor_free(yt);
    hcl_model_free(m);
    hcl_context_free(ctx);
}

START_TEST(distill_grad_fp32) { run_distill_grad(HCL_PRECISION_FP32); }
END_TEST
START_TEST(distill_grad_mixed_f16) { run_distill_grad(HCL_PRECISION_MIXED_F16); }
END_TEST
START_TEST(distill_grad_mixed_bf16) { run_distill_grad(HCL_PRECISION_MIXED_BF16); }
END_TEST

/* A student learns from a teacher alone: the teacher (mixed_f16, 16 hidden units) is trained on
 * the labels; the student (fp32, 4 hidden units) sees only random labels with alpha = 1, so
 * whatever it learns comes from the teacher's F16 logits; it must classify the test set. */
START_TEST(student_learns_from_teacher) {
    hcl_context *ctx = test_context();
    enum { NTR = 256, NTE = 256 };
    uint8_t xtr[NTR * MLP_D], ytr[NTR], yrand[NTR], xte[NTE * MLP_D], yte[NTE];
    make_clusters(xtr, ytr, NTR);
    make_clusters(xte, yte, NTE);
    for (int i = 0; i < NTR; i++) yrand[i] = (uint8_t)test_uniform(0, MLP_K);
    int64_t in[1] = {MLP_D};
    hcl_model *teacher = NULL, *student = NULL;
    hcl_precision pol[2] = {HCL_PRECISION_MIXED_F16, HCL_PRECISION_FP32};
    int hidden[2] = {16, 4};
    for (int k = 0; k < 2; k++) {
        hcl_model **mm = k ? &student : &teacher;
        CK_OK(ctx, hcl_model_create(ctx, pol[k], mm));
        CK_OK(ctx, hcl_model_input(*mm, 1, in, NULL));
        CK_OK(ctx, hcl_model_linear(*mm, HCL_NN_PREV, hidden[k], NULL));
        CK_OK(ctx, hcl_model_activation(*mm, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
        CK_OK(ctx, hcl_model_linear(*mm, HCL_NN_PREV, MLP_K, NULL));
        hcl_model_options o;
        hcl_model_options_init(&o, pol[k]);
        o.max_batch = 32;
        o.seed = 3 + (uint64_t)k;
        if (k) {
            o.loss = HCL_LOSS_DISTILLATION;
            o.distill_temperature = 2.0f;
            o.distill_alpha = 1.0f;
        }
        CK_OK(ctx, hcl_model_build(*mm, &o));
    }
    hcl_batcher *tr = make_batcher(ctx, xtr, ytr, NTR, 1, in, 32, HCL_F16, 1.0f / 20, 6.4f, 1);
    hcl_batcher *te16 = make_batcher(ctx, xte, yte, NTE, 1, in, 32, HCL_F16, 1.0f / 20, 6.4f, 0);
    double tacc = train_eval(ctx, teacher, tr, te16, 12, 1e-2f);
    hcl_batcher *str = make_batcher(ctx, xtr, yrand, NTR, 1, in, 32, HCL_F32, 1.0f / 20, 6.4f, 1);
    hcl_batcher *te32 = make_batcher(ctx, xte, yte, NTE, 1, in, 32, HCL_F32, 1.0f / 20, 6.4f, 0);
    int epochs = small_run() ? 1 : 15;
    for (int e = 0; e < epochs; e++)
        for (;;) {
            const hcl_tensor *x, *y;
            size_t n;
            CK_OK(ctx, hcl_batcher_next(str, &x, &y, &n));
            if (!n) break;
            CK_OK(ctx, hcl_model_forward(teacher, x, 0)); /* F32 batch into the F16 teacher */
            CK_OK(ctx, hcl_model_set_teacher_logits(student, hcl_model_output(teacher)));
            CK_OK(ctx, hcl_model_train_step(student, x, y, 1e-2f));
        }
    hcl_metrics tm, em;
    CK_OK(ctx, hcl_model_metrics_read(student, &tm));
    CK_OK(ctx, hcl_model_evaluate(student, te32, &em));
    ck_assert_msg(isfinite(tm.loss) && tm.loss >= 0, "student train loss %g", tm.loss);
    if (small_run())
        fprintf(stderr, "HALFCL_TEST_SMALL: distillation 1 epoch (accuracy %.3f not checked)\n", em.accuracy);
    else
        ck_assert_msg(tacc > 0.95 && em.accuracy > 0.9, "teacher accuracy %.3f, student (random labels, alpha 1) %.3f (%s)",
                      tacc, em.accuracy, test_seed_note());
    hcl_batcher *bs[] = {tr, te16, str, te32};
    for (int k = 0; k < 4; k++) hcl_batcher_free(bs[k]);
    hcl_model_free(teacher);
    hcl_model_free(student);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ bad inputs */

START_TEST(bad_inputs) {
    hcl_context *ctx = test_context();
    hcl_model *m = NULL;
    int64_t in[3] = {1, 5, 5};
    CK_STATUS(ctx, hcl_model_create(NULL, HCL_PRECISION_FP32, &m), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_model_create(ctx, (hcl_precision)42, &m), HCL_ERR_INVALID_ARGUMENT);
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m));
    CK_STATUS(ctx, hcl_model_linear(m, HCL_NN_PREV, 3, NULL), HCL_ERR_INVALID_ARGUMENT); /* no input yet */
    CK_STATUS(ctx, hcl_model_input(m, 3, NULL, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_model_input(m, 0, in, NULL), HCL_ERR_SHAPE);
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_STATUS(ctx, hcl_model_input(m, 3, in, NULL), HCL_ERR_INVALID_ARGUMENT); /* a second input */
    CK_STATUS(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 2, 7, 1, 0, NULL), HCL_ERR_SHAPE); /* kernel > input */
    CK_STATUS(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 0, 3, 1, 0, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_model_conv2d(m, 5, 2, 3, 1, 0, NULL), HCL_ERR_INVALID_ARGUMENT); /* no node 5 */
    CK_STATUS(ctx, hcl_model_dropout(m, HCL_NN_PREV, 1.0f, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_model_activation(m, HCL_NN_PREV, (hcl_activation)99, 0, NULL), HCL_ERR_INVALID_ARGUMENT);
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_FP32);
    o.max_batch = 4;
    CK_STATUS(ctx, hcl_model_build(m, &o), HCL_ERR_INVALID_ARGUMENT); /* nothing but the input */
    int f;
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, &f));
    CK_STATUS(ctx, hcl_model_conv2d(m, f, 2, 3, 1, 0, NULL), HCL_ERR_SHAPE); /* conv on a flat vector */
    CK_STATUS(ctx, hcl_model_maxpool2d(m, f, 2, 2, NULL), HCL_ERR_SHAPE);
    int l1, l2;
    CK_OK(ctx, hcl_model_linear(m, f, 3, &l1));
    CK_OK(ctx, hcl_model_linear(m, f, 4, &l2));
    CK_STATUS(ctx, hcl_model_add(m, l1, l2, NULL), HCL_ERR_SHAPE);
    CK_OK(ctx, hcl_model_linear(m, l2, 3, NULL));
    CK_STATUS(ctx, hcl_model_build(m, NULL), HCL_ERR_NULL_POINTER);
    o.max_batch = 0;
    CK_STATUS(ctx, hcl_model_build(m, &o), HCL_ERR_INVALID_ARGUMENT);
    o.max_batch = 4;
    int64_t one = 1;
    hcl_tensor *early = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, &one, &early));
    CK_STATUS(ctx, hcl_model_forward(m, early, 0), HCL_ERR_INVALID_ARGUMENT); /* not built */
    hcl_tensor_free(early);
    CK_OK(ctx, hcl_model_build(m, &o));
    /* adding a layer or building again after build */
    CK_STATUS(ctx, hcl_model_linear(m, HCL_NN_PREV, 3, NULL), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_model_build(m, &o), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(hcl_last_error(ctx), "built") != NULL, "%s", hcl_last_error(ctx));
    /* wrong input shapes and batch sizes */
    int64_t bad[4] = {2, 1, 5, 4}, big[4] = {5, 1, 5, 5}, good[4] = {2, 1, 5, 5}, lab[1] = {2}, lab3[1] = {3};
    hcl_tensor *xb = NULL, *xbig = NULL, *x = NULL, *yl = NULL, *yf = NULL, *y3 = NULL, *xi = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 4, bad, &xb));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 4, big, &xbig));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 4, good, &x));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 4, good, &xi));
    CK_OK(ctx, hcl_tensor_fill(x, 0.5));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, lab, &yl));
    CK_OK(ctx, hcl_tensor_fill(yl, 1));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, lab, &yf));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, lab3, &y3));
    CK_STATUS(ctx, hcl_model_forward(m, xb, 1), HCL_ERR_SHAPE);
    ck_assert_msg(strstr(hcl_last_error(ctx), "(2, 1, 5, 4)") != NULL, "%s", hcl_last_error(ctx));
    CK_STATUS(ctx, hcl_model_forward(m, xbig, 1), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_model_forward(m, xi, 1), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_model_forward(m, NULL, 1), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_model_forward(NULL, x, 1), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_model_backward(m, yl), HCL_ERR_INVALID_ARGUMENT); /* no train forward yet */
    CK_OK(ctx, hcl_model_forward(m, x, 0));
    CK_STATUS(ctx, hcl_model_backward(m, yl), HCL_ERR_INVALID_ARGUMENT); /* eval forward */
    CK_OK(ctx, hcl_model_forward(m, x, 1));
    CK_STATUS(ctx, hcl_model_backward(m, yf), HCL_ERR_DTYPE);
    CK_STATUS(ctx, hcl_model_backward(m, y3), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_model_backward(m, NULL), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_model_train_step(m, x, yl, 1e-3f));
    const hcl_tensor *out = hcl_model_output(m);
    ck_assert_ptr_nonnull(out);
    ck_assert(out->shape[0] == 2 && out->shape[1] == 3);
    CK_STATUS(ctx, hcl_model_log_read(m, NULL, 0, NULL), HCL_ERR_NULL_POINTER);
    size_t cnt;
    CK_STATUS(ctx, hcl_model_log_read(m, NULL, 0, &cnt), HCL_ERR_INVALID_ARGUMENT); /* not enabled */
    CK_STATUS(ctx, hcl_model_summary(m, NULL, 10, NULL), HCL_ERR_NULL_POINTER);
    hcl_layer_summary s;
    CK_STATUS(ctx, hcl_model_layer_summary(m, 99, &s), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(hcl_model_node_name(m, 99));
    ck_assert_str_eq(hcl_layer_kind_name(HCL_LAYER_CONV2D), "conv2d");
    ck_assert_ptr_null(hcl_layer_kind_name(HCL_LAYER_COUNT_));
    hcl_tensor *ts[] = {xb, xbig, x, xi, yl, yf, y3};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    hcl_model_free(m);
    hcl_model_free(NULL);
    /* cross-entropy needs a (classes) output */
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m));
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 2, 3, 1, 0, NULL));
    CK_STATUS(ctx, hcl_model_build(m, &o), HCL_ERR_SHAPE);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn");
    TCase *t = tcase_create("train");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, mlp_fp32);
    tcase_add_test(t, mlp_mixed_f16);
    tcase_add_test(t, mlp_mixed_bf16);
    tcase_add_test(t, cnn_fp32);
    tcase_add_test(t, cnn_mixed_f16);
    tcase_add_test(t, cnn_mixed_bf16);
    suite_add_tcase(s, t);
    TCase *g = tcase_create("graph");
    tcase_set_timeout(g, 600);
    tcase_add_test(g, residual_gradcheck_fused);
    tcase_add_test(g, residual_gradcheck_unfused);
    tcase_add_test(g, summary_numbers);
    tcase_add_test(g, batcher_epochs);
    tcase_add_test(g, step_log_and_metrics);
    tcase_add_test(g, bad_inputs);
    suite_add_tcase(s, g);
    TCase *d = tcase_create("distill");
    tcase_set_timeout(d, 600);
    tcase_add_test(d, distill_grad_fp32);
    tcase_add_test(d, distill_grad_mixed_f16);
    tcase_add_test(d, distill_grad_mixed_bf16);
    tcase_add_test(d, student_learns_from_teacher);
    suite_add_tcase(s, d);
    return s;
}

int main(void) { return test_run_suite(suite()); }
