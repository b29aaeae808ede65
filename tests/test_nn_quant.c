/* Tests of model quantization (nn.h "quantization"): the QAT forward of a conv + linear model
 * against an FP64 host reference built from the downloaded weights (fake-quantized weights per
 * channel, inputs per tensor with EMA ranges), the straight-through backward against the host
 * reference's gradients, QAT training on a toy task in fp32 and mixed_f16, PTQ calibration ranges
 * against host min/max and percentiles, the int8 inference path against the fake-quant evaluation
 * of the same model and the float model, the int8 export file and corrupt exports, and the
 * quantization state across a checkpoint (training resumes bit-identically). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "runtime/internal.h" /* ctx->memory_limit: an allocation failure part-way */

static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

/* ------------------------------------------------------------------ host quantization reference
 * The formulas of ops.h's quantization section, in F32 like the kernels. */

static float rne(float v) { return nearbyintf(v); }

/* Asymmetric uint8 parameters of a range (widened to include 0). */
static void asym_params(float lo, float hi, float *s, int *z) {
    if (lo > 0.0f) lo = 0.0f;
    if (hi < 0.0f) hi = 0.0f;
    float sc = (hi - lo) / 255.0f;
    if (!(sc >= FLT_EPSILON)) sc = FLT_EPSILON;
    float zz = rne(-lo / sc);
    *s = sc;
    *z = (int)(zz < 0 ? 0 : zz > 255 ? 255 : zz);
}
static float sym_scale(const float *w, size_t n) {
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(w[i]));
    float s = mx / 127.0f;
    return s >= FLT_EPSILON ? s : FLT_EPSILON;
}
static double fq_asym(float v, float s, int z, int *clamped) {
    float t = rne(v / s) + (float)z;
    if (clamped) *clamped = t < 0.0f || t > 255.0f;
    t = t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t;
    return ((double)t - z) * s;
}
static double fq_sym(float v, float s) {
    float t = rne(v / s);
    t = t < -127.0f ? -127.0f : t > 127.0f ? 127.0f : t;
    return (double)t * s;
}
static void minmax(const float *v, size_t n, float r[2]) {
    r[0] = r[1] = v[0];
    for (size_t i = 1; i < n; i++) {
        r[0] = fminf(r[0], v[i]);
        r[1] = fmaxf(r[1], v[i]);
    }
}

static float *download_param(hcl_model *m, const char *node, const char *what, int grad) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", node, what);
    size_t idx = 0;
    hcl_params *p = hcl_model_params(m);
    CK_OK(hcl_model_context(m), hcl_params_find(p, name, &idx));
    hcl_tensor *t = grad ? hcl_params_grad(p, idx) : hcl_params_weight(p, idx);
    return test_download(t);
}

/* ------------------------------------------------------------------ QAT forward/backward vs host */
/* x (2,6,6) -> conv 3x3 pad 1 (3 channels) -> ReLU (in place) -> flatten (108) -> linear 4; MSE. */
#define RN 5
#define RC 2
#define RH 6
#define RK 3
#define RF (RK * RH * RH)
#define RO 4

/* conv of x (RC,RH,RH) with w (RK,RC,3,3), pad 1, into y (RK,RH,RH) (FP64). */
static void ref_conv(const double *x, const double *w, const float *b, double *y) {
    for (int o = 0; o < RK; o++)
        for (int i = 0; i < RH; i++)
            for (int j = 0; j < RH; j++) {
                double s = b[o];
                for (int c = 0; c < RC; c++)
                    for (int r = 0; r < 3; r++)
                        for (int q = 0; q < 3; q++) {
                            int ii = i + r - 1, jj = j + q - 1;
                            if (ii < 0 || jj < 0 || ii >= RH || jj >= RH) continue;
                            s += w[((o * RC + c) * 3 + r) * 3 + q] * x[(c * RH + ii) * RH + jj];
                        }
                y[(o * RH + i) * RH + j] = s;
            }
}

typedef struct ref_state {
    float wc[RK * RC * 9], bc[RK], wl[RO * RF], bl[RO];
    double wcq[RK * RC * 9], wlq[RO * RF];
    double xq[RN * RC * RH * RH], h[RN * RF], hq[RN * RF], out[RN * RO];
    int hclamp[RN * RF];
} ref_state;

/* The host forward with input range r0 and hidden range r1 (as the device holds them). The host
 * conv of the fake-quantized input and weight is compared with the device's hidden values hdev
 * (*herr gets the relative error); the linear part then runs on hdev, so that a hidden value at a
 * rounding boundary cannot round differently on the host (FP64 sums) and on the device (F32). */
static void ref_forward(ref_state *s, const float *x, const float r0[2], const float r1[2], const float *hdev, double *herr) {
    for (int o = 0; o < RK; o++) {
        float sc = sym_scale(s->wc + o * RC * 9, RC * 9);
        for (int k = 0; k < RC * 9; k++) s->wcq[o * RC * 9 + k] = fq_sym(s->wc[o * RC * 9 + k], sc);
    }
    for (int o = 0; o < RO; o++) {
        float sc = sym_scale(s->wl + o * RF, RF);
        for (int k = 0; k < RF; k++) s->wlq[o * RF + k] = fq_sym(s->wl[o * RF + k], sc);
    }
    float s0;
    int z0;
    asym_params(r0[0], r0[1], &s0, &z0);
    for (int i = 0; i < RN * RC * RH * RH; i++) s->xq[i] = fq_asym(x[i], s0, z0, NULL);
    for (int n = 0; n < RN; n++) {
        ref_conv(s->xq + n * RC * RH * RH, s->wcq, s->bc, s->h + n * RF);
        for (int i = 0; i < RF; i++) s->h[n * RF + i] = s->h[n * RF + i] > 0 ? s->h[n * RF + i] : 0;
    }
    *herr = test_rel_err(hdev, s->h, RN * RF);
    for (int i = 0; i < RN * RF; i++) s->h[i] = hdev[i];
    float s1;
    int z1;
    asym_params(r1[0], r1[1], &s1, &z1);
    for (int i = 0; i < RN * RF; i++) s->hq[i] = fq_asym(hdev[i], s1, z1, &s->hclamp[i]);
    for (int n = 0; n < RN; n++)
        for (int o = 0; o < RO; o++) {
            double v = s->bl[o];
            for (int k = 0; k < RF; k++) v += s->wlq[o * RF + k] * s->hq[n * RF + k];
            s->out[n * RO + o] = v;
        }
}

/* The model's conv -> ReLU part alone (same weights, same QAT ranges when run in lockstep): its
 * output is the device's hidden values. */
static hcl_model *prefix_model(hcl_context *ctx, const ref_state *s, const hcl_qat_config *qc) {
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m));
    const int64_t in[3] = {RC, RH, RH};
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, RK, 3, 1, 1, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0.0f, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_FP32);
    o.max_batch = 8;
    o.loss = HCL_LOSS_MSE;
    CK_OK(ctx, hcl_model_build(m, &o));
    CK_OK(ctx, hcl_params_upload(hcl_model_params(m), 0, s->wc, RK * RC * 9));
    CK_OK(ctx, hcl_params_upload(hcl_model_params(m), 1, s->bc, RK));
    CK_OK(ctx, hcl_model_enable_qat(m, qc));
    return m;
}

/* Forward of the prefix model; its output (the hidden values) into h. */
static void prefix_forward(hcl_context *ctx, hcl_model *p, hcl_tensor *x, int train, float *h) {
    CK_OK(ctx, hcl_model_forward(p, x, train));
    CK_OK(ctx, hcl_tensor_download_f32(hcl_model_output(p), h, RN * RF));
}

static double rel_err_d(const float *a, const double *ref, size_t n) { return test_rel_err(a, ref, n); }

START_TEST(qat_forward_backward_reference) {
    hcl_context *ctx = test_context();
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m));
    const int64_t in[3] = {RC, RH, RH};
    int conv = 0, lin = 0;
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, RK, 3, 1, 1, &conv));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0.0f, NULL));
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, RO, &lin));
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_FP32);
    o.max_batch = 8;
    o.seed = 11;
    o.loss = HCL_LOSS_MSE;
    CK_OK(ctx, hcl_model_build(m, &o));
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_NONE);
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    ck_assert(qc.momentum == 0.01f && qc.observe == 1);
    qc.momentum = 0.25f;
    CK_OK(ctx, hcl_model_enable_qat(m, &qc));
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_FAKE);

    enum { NX = RN * RC * RH * RH };
    static float xa[NX], xb[NX], tg[RN * RO];
    test_fill_uniform(xa, NX, -1.0, 1.5);
    test_fill_uniform(xb, NX, -3.0, 3.0);
    test_fill_uniform(tg, RN * RO, -1.0, 1.0);
    const int64_t xs[4] = {RN, RC, RH, RH}, ts[2] = {RN, RO};
    hcl_tensor *ta = test_tensor_from(ctx, HCL_F32, 4, xs, xa), *tb = test_tensor_from(ctx, HCL_F32, 4, xs, xb);
    hcl_tensor *tt = test_tensor_from(ctx, HCL_F32, 2, ts, tg);

    /* eval before any observation: an error, nothing queued */
    CK_STATUS(ctx, hcl_model_forward(m, ta, 0), HCL_ERR_INVALID_ARGUMENT);

    static ref_state s;
    const char *cn = hcl_model_node_name(m, conv), *ln = hcl_model_node_name(m, lin);
    float *p;
    p = download_param(m, cn, "weight", 0); memcpy(s.wc, p, sizeof s.wc); free(p);
    p = download_param(m, cn, "bias", 0); memcpy(s.bc, p, sizeof s.bc); free(p);
    p = download_param(m, ln, "weight", 0); memcpy(s.wl, p, sizeof s.wl); free(p);
    p = download_param(m, ln, "bias", 0); memcpy(s.bl, p, sizeof s.bl); free(p);

    hcl_model *pm = prefix_model(ctx, &s, &qc);
    static float hd[RN * RF];
    double herr;

    /* 1: the first train forward sets the ranges to the batch's */
    CK_OK(ctx, hcl_model_forward(m, ta, 1));
    prefix_forward(ctx, pm, ta, 1, hd);
    float r0[2], r1[2], h0[2], h1[2];
    CK_OK(ctx, hcl_model_quant_range(m, conv, r0));
    CK_OK(ctx, hcl_model_quant_range(m, lin, r1));
    minmax(xa, NX, h0);
    ck_assert_msg(r0[0] == h0[0] && r0[1] == h0[1], "input range [%g, %g], host [%g, %g]", r0[0], r0[1], h0[0], h0[1]);
    minmax(hd, RN * RF, h1);
    ck_assert_msg(r1[0] == h1[0] && r1[1] == h1[1], "hidden range [%g, %g], of the hidden values [%g, %g]", r1[0], r1[1], h1[0], h1[1]);
    ref_forward(&s, xa, r0, r1, hd, &herr);
    ck_assert_msg(herr < 1e-5, "QAT conv (fake-quant input and weight) vs host: rel err %.3g (%s)", herr, test_seed_note());
    float *out = test_download((hcl_tensor *)hcl_model_output(m));
    double e = rel_err_d(out, s.out, RN * RO);
    free(out);
    ck_assert_msg(e < 1e-5, "QAT forward vs host: rel err %.3g (%s)", e, test_seed_note());

    /* 2: a wider batch moves the ranges by momentum (EMA), so both inputs now clamp */
    CK_OK(ctx, hcl_params_zero_grad(hcl_model_params(m)));
    CK_OK(ctx, hcl_model_forward(m, tb, 1));
    prefix_forward(ctx, pm, tb, 1, hd);
    float q0[2], q1[2], b0[2], b1[2];
    CK_OK(ctx, hcl_model_quant_range(m, conv, q0));
    CK_OK(ctx, hcl_model_quant_range(m, lin, q1));
    minmax(xb, NX, b0);
    for (int k = 0; k < 2; k++) {
        float want = r0[k] + 0.25f * (b0[k] - r0[k]);
        ck_assert_msg(fabsf(q0[k] - want) <= 1e-6f * fabsf(want) + 1e-7f, "EMA input range %d: %g, host %g", k, q0[k], want);
    }
    minmax(hd, RN * RF, b1);
    for (int k = 0; k < 2; k++) {
        float want = r1[k] + 0.25f * (b1[k] - r1[k]);
        ck_assert_msg(fabsf(q1[k] - want) <= 1e-6f * fabsf(b1[1]), "EMA hidden range %d: %g, host %g", k, q1[k], want);
    }
    ref_forward(&s, xb, q0, q1, hd, &herr);
    ck_assert_msg(herr < 1e-5, "QAT conv (EMA range) vs host: rel err %.3g", herr);
    out = test_download((hcl_tensor *)hcl_model_output(m));
    e = rel_err_d(out, s.out, RN * RO);
    free(out);
    ck_assert_msg(e < 1e-5, "QAT forward (EMA ranges) vs host: rel err %.3g", e);
    int nclamp = 0;
    for (int i = 0; i < RN * RF; i++) nclamp += s.hclamp[i];
    ck_assert_msg(nclamp > 0, "the test needs clamped hidden values");

    /* backward: MSE mean over RN*RO; STE through the hidden input's clamp */
    CK_OK(ctx, hcl_model_backward(m, tt));
    static double dout[RN * RO], da[RN * RF], dwl[RO * RF], dbl[RO], dwc[RK * RC * 9], dbc[RK];
    memset(dwl, 0, sizeof dwl); memset(dbl, 0, sizeof dbl); memset(dwc, 0, sizeof dwc); memset(dbc, 0, sizeof dbc);
    for (int i = 0; i < RN * RO; i++) dout[i] = 2.0 * (s.out[i] - tg[i]) / (RN * RO);
    for (int n = 0; n < RN; n++)
        for (int k = 0; k < RF; k++) {
            double v = 0;
            for (int o = 0; o < RO; o++) v += dout[n * RO + o] * s.wlq[o * RF + k];
            da[n * RF + k] = s.hclamp[n * RF + k] || !(s.h[n * RF + k] > 0) ? 0.0 : v;
        }
    for (int n = 0; n < RN; n++)
        for (int o = 0; o < RO; o++) {
            dbl[o] += dout[n * RO + o];
            for (int k = 0; k < RF; k++) dwl[o * RF + k] += dout[n * RO + o] * s.hq[n * RF + k];
        }
    for (int n = 0; n < RN; n++)
        for (int o = 0; o < RK; o++)
            for (int i = 0; i < RH; i++)
                for (int j = 0; j < RH; j++) {
                    double g = da[n * RF + (o * RH + i) * RH + j];
                    dbc[o] += g;
                    for (int c = 0; c < RC; c++)
                        for (int r = 0; r < 3; r++)
                            for (int q = 0; q < 3; q++) {
                                int ii = i + r - 1, jj = j + q - 1;
                                if (ii < 0 || jj < 0 || ii >= RH || jj >= RH) continue;
                                dwc[((o * RC + c) * 3 + r) * 3 + q] += g * s.xq[((n * RC + c) * RH + ii) * RH + jj];
                            }
                }
    struct { const char *node, *what; const double *ref; size_t n; } checks[] = {
        {ln, "weight", dwl, RO * RF}, {ln, "bias", dbl, RO}, {cn, "weight", dwc, RK * RC * 9}, {cn, "bias", dbc, RK}};
    for (size_t k = 0; k < 4; k++) {
        float *g = download_param(m, checks[k].node, checks[k].what, 1);
        e = rel_err_d(g, checks[k].ref, checks[k].n);
        free(g);
        ck_assert_msg(e < 1e-4, "STE gradient of %s.%s: rel err %.3g (%s)", checks[k].node, checks[k].what, e, test_seed_note());
    }

    /* eval mode: ranges frozen, same fake-quant grid */
    CK_OK(ctx, hcl_model_forward(m, ta, 0));
    float e0[2], e1[2];
    CK_OK(ctx, hcl_model_quant_range(m, conv, e0));
    CK_OK(ctx, hcl_model_quant_range(m, lin, e1));
    ck_assert(e0[0] == q0[0] && e0[1] == q0[1] && e1[0] == q1[0] && e1[1] == q1[1]);
    prefix_forward(ctx, pm, ta, 0, hd);
    ref_forward(&s, xa, q0, q1, hd, &herr);
    ck_assert_msg(herr < 1e-5, "eval conv vs host: rel err %.3g", herr);
    out = test_download((hcl_tensor *)hcl_model_output(m));
    e = rel_err_d(out, s.out, RN * RO);
    free(out);
    ck_assert_msg(e < 1e-5, "eval (frozen ranges) vs host: rel err %.3g", e);

    /* observe = 0 freezes the ranges in train mode too */
    qc.observe = 0;
    CK_OK(ctx, hcl_model_enable_qat(m, &qc));
    CK_OK(ctx, hcl_model_forward(m, ta, 1));
    CK_OK(ctx, hcl_model_quant_range(m, conv, e0));
    ck_assert(e0[0] == q0[0] && e0[1] == q0[1]);

    hcl_tensor_free(ta);
    hcl_tensor_free(tb);
    hcl_tensor_free(tt);
    hcl_model_free(pm);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ toy task */
/* 8x8 images, noise plus a bright 3x3 blob in quadrant c (class c). */
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

static hcl_batcher *make_batcher(hcl_context *ctx, const uint8_t *x, const uint8_t *y, size_t n, int64_t batch, hcl_dtype dt,
                                 int shuffle) {
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    o.batch = batch;
    o.dtype = dt;
    o.scale = 1.0f / 255;
    o.shuffle = shuffle;
    o.seed = 7;
    hcl_batcher *b = NULL;
    const int64_t shape[3] = {1, IMG, IMG};
    CK_OK(ctx, hcl_batcher_create(ctx, x, y, n, 3, shape, &o, &b));
    return b;
}

/* Mean training loss of each epoch into losses (may be NULL). */
static void train_epochs(hcl_context *ctx, hcl_model *m, hcl_batcher *b, int epochs, float lr, double *losses) {
    for (int e = 0; e < epochs; e++) {
        CK_OK(ctx, hcl_model_metrics_reset(m));
        for (;;) {
            const hcl_tensor *x, *y;
            size_t n;
            CK_OK(ctx, hcl_batcher_next(b, &x, &y, &n));
            if (!n) break;
            CK_OK(ctx, hcl_model_train_step(m, x, y, lr));
        }
        hcl_metrics met;
        CK_OK(ctx, hcl_model_metrics_read(m, &met));
        if (losses) losses[e] = met.loss;
    }
}

/* blobs -> conv 4 3x3 pad 1 [-> batch norm] -> ReLU -> max-pool 2 [-> depthwise-separable 8 -> ReLU]
 * -> flatten -> linear 4. */
static hcl_model *blob_model(hcl_context *ctx, hcl_precision p, int big, int64_t batch) {
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &m));
    const int64_t in[3] = {1, IMG, IMG};
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 4, 3, 1, 1, NULL));
    if (big) CK_OK(ctx, hcl_model_batchnorm2d(m, HCL_NN_PREV, 0.1f, 1e-5f, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL));
    if (big) {
        CK_OK(ctx, hcl_model_dwsep_conv2d(m, HCL_NN_PREV, 8, 3, 1, 1, NULL));
        CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    }
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 4, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    o.max_batch = batch;
    o.seed = 5;
    CK_OK(ctx, hcl_model_build(m, &o));
    return m;
}

static void run_qat_train(hcl_precision p) {
    hcl_context *ctx = test_context();
    enum { NTR = 192, NTE = 128 };
    static uint8_t xtr[NTR * IMG * IMG], ytr[NTR], xte[NTE * IMG * IMG], yte[NTE];
    make_blobs(xtr, ytr, NTR);
    make_blobs(xte, yte, NTE);
    hcl_model *m = blob_model(ctx, p, 1, 32);
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    qc.momentum = 0.1f;
    CK_OK(ctx, hcl_model_enable_qat(m, &qc)); /* QAT from scratch */
    hcl_dtype dt = hcl_model_dtype(m);
    hcl_batcher *tr = make_batcher(ctx, xtr, ytr, NTR, 32, dt, 1), *te = make_batcher(ctx, xte, yte, NTE, 32, dt, 0);
    int epochs = small_run() ? 1 : 10;
    double losses[10];
    train_epochs(ctx, m, tr, epochs, 1e-2f, losses);
    hcl_metrics em;
    CK_OK(ctx, hcl_model_evaluate(m, te, &em));
    fprintf(stderr, "QAT %s: loss %.3f -> %.3f, test accuracy %.3f\n", hcl_precision_name(p), losses[0], losses[epochs - 1],
            em.accuracy);
    ck_assert(isfinite(em.loss));
    if (!small_run()) {
        ck_assert_msg(losses[epochs - 1] < 0.5 * losses[0], "QAT loss %.3f -> %.3f", losses[0], losses[epochs - 1]);
        ck_assert_msg(em.accuracy > 0.95, "%s QAT accuracy %.3f (%s)", hcl_precision_name(p), em.accuracy, test_seed_note());
    }
    /* the QAT model exported to int8 and evaluated on the int8 path */
    char *dir = test_make_tmpdir("nnquant-qat");
    char *path = test_path_in(dir, "qat.int8.safetensors");
    CK_OK(ctx, hcl_model_export_int8(m, path));
    hcl_model *m8 = blob_model(ctx, p, 1, 32);
    CK_OK(ctx, hcl_model_load_int8(m8, path));
    hcl_metrics im;
    CK_OK(ctx, hcl_model_evaluate(m8, te, &im));
    fprintf(stderr, "QAT %s: int8 test accuracy %.3f (fake-quant %.3f)\n", hcl_precision_name(p), im.accuracy, em.accuracy);
    ck_assert_msg(fabs(im.accuracy - em.accuracy) <= 0.02, "int8 %.3f vs QAT fake-quant %.3f", im.accuracy, em.accuracy);
    hcl_model_free(m8);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    hcl_batcher_free(tr);
    hcl_batcher_free(te);
    hcl_model_free(m);
    hcl_context_free(ctx);
}

START_TEST(qat_trains_fp32) { run_qat_train(HCL_PRECISION_FP32); }
END_TEST
START_TEST(qat_trains_mixed_f16) { run_qat_train(HCL_PRECISION_MIXED_F16); }
END_TEST

/* ------------------------------------------------------------------ calibration */

static double quantile(const float *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= n) return v[n - 1];
    return (double)v[i] + (pos - (double)i) * ((double)v[i + 1] - (double)v[i]);
}
static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

START_TEST(calibration_ranges) {
    hcl_context *ctx = test_context();
    enum { NS = 48, B = 16, NB = 3 };
    static uint8_t x[NS * IMG * IMG], y[NS];
    make_blobs(x, y, NS);
    hcl_model *m = blob_model(ctx, HCL_PRECISION_FP32, 0, B); /* nodes: 0 in, 1 conv, 2 relu, 3 pool, 4 flatten, 5 linear */
    hcl_batcher *b = make_batcher(ctx, x, y, NS, B, HCL_F32, 0);
    /* host: the normalised inputs and the linear layer's inputs (ReLU(max-pool(conv))) */
    static float xin[NS * IMG * IMG], lin[NS * 64];
    for (size_t i = 0; i < NS * IMG * IMG; i++) xin[i] = (float)x[i] * (1.0f / 255);
    float *w = download_param(m, hcl_model_node_name(m, 1), "weight", 0), *bb = download_param(m, hcl_model_node_name(m, 1), "bias", 0);
    for (int n = 0; n < NS; n++)
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double mx = -INFINITY;
                    for (int r = 0; r < 2; r++)
                        for (int q = 0; q < 2; q++) {
                            int pi = 2 * i + r, pj = 2 * j + q;
                            double sacc = bb[o];
                            for (int kr = 0; kr < 3; kr++)
                                for (int kq = 0; kq < 3; kq++) {
                                    int ii = pi + kr - 1, jj = pj + kq - 1;
                                    if (ii < 0 || jj < 0 || ii >= IMG || jj >= IMG) continue;
                                    sacc += (double)w[(o * 3 + kr) * 3 + kq] * xin[n * IMG * IMG + ii * IMG + jj];
                                }
                            if (sacc > mx) mx = sacc;
                        }
                    lin[n * 64 + (o * 4 + i) * 4 + j] = (float)(mx > 0 ? mx : 0);
                }
    free(w);
    free(bb);
    /* min/max over the first NB batches */
    CK_OK(ctx, hcl_model_calibrate(m, b, NB, HCL_CALIB_MINMAX, 0.0f));
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_FAKE);
    float r[2], h[2];
    CK_OK(ctx, hcl_model_quant_range(m, 1, r));
    minmax(xin, NS * IMG * IMG, h);
    ck_assert_msg(r[0] == h[0] && r[1] == h[1], "conv input range [%g, %g], host [%g, %g]", r[0], r[1], h[0], h[1]);
    CK_OK(ctx, hcl_model_quant_range(m, 5, r));
    minmax(lin, NS * 64, h);
    ck_assert_msg(fabsf(r[0] - h[0]) <= 1e-5f * h[1] && fabsf(r[1] - h[1]) <= 1e-5f * h[1], "linear input range [%g, %g], host [%g, %g]",
                  r[0], r[1], h[0], h[1]);
    CK_STATUS(ctx, hcl_model_quant_range(m, 2, r), HCL_ERR_INVALID_ARGUMENT); /* a ReLU */
    /* the same driven by the caller: begin, eval forwards of the three batches, end */
    float r1[2], r5[2];
    CK_OK(ctx, hcl_model_quant_range(m, 1, r1));
    CK_OK(ctx, hcl_model_quant_range(m, 5, r5));
    CK_OK(ctx, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f));
    CK_STATUS(ctx, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT); /* running */
    const int64_t bs[4] = {B, 1, IMG, IMG};
    for (int k = 0; k < NB; k++) {
        hcl_tensor *xk = test_tensor_from(ctx, HCL_F32, 4, bs, xin + (size_t)k * B * IMG * IMG);
        if (k == 0) CK_STATUS(ctx, hcl_model_forward(m, xk, 1), HCL_ERR_INVALID_ARGUMENT); /* train mode */
        CK_OK(ctx, hcl_model_forward(m, xk, 0));
        hcl_tensor_free(xk);
    }
    CK_OK(ctx, hcl_model_calibrate_end(m));
    CK_STATUS(ctx, hcl_model_calibrate_end(m), HCL_ERR_INVALID_ARGUMENT); /* not running */
    CK_OK(ctx, hcl_model_quant_range(m, 1, r));
    ck_assert(r[0] == r1[0] && r[1] == r1[1]);
    CK_OK(ctx, hcl_model_quant_range(m, 5, r));
    ck_assert(r[0] == r5[0] && r[1] == r5[1]);
    /* an end without a forward fails and keeps the ranges */
    CK_OK(ctx, hcl_model_calibrate_begin(m, HCL_CALIB_PERCENTILE, 99.9f));
    CK_STATUS(ctx, hcl_model_calibrate_end(m), HCL_ERR_INVALID_ARGUMENT);
    CK_OK(ctx, hcl_model_quant_range(m, 1, r));
    ck_assert(r[0] == r1[0] && r[1] == r1[1]);
    /* percentile 99 over the same batches (values kept: exact order statistics) */
    CK_OK(ctx, hcl_batcher_seek_epoch(b, 0));
    CK_OK(ctx, hcl_model_calibrate(m, b, NB, HCL_CALIB_PERCENTILE, 99.0f));
    qsort(xin, NS * IMG * IMG, sizeof *xin, cmpf);
    qsort(lin, NS * 64, sizeof *lin, cmpf);
    CK_OK(ctx, hcl_model_quant_range(m, 1, r));
    double lo = quantile(xin, NS * IMG * IMG, 0.01), hi = quantile(xin, NS * IMG * IMG, 0.99);
    ck_assert_msg(fabs(r[0] - lo) <= 1e-6 && fabs(r[1] - hi) <= 1e-6 * hi, "conv input p99 range [%g, %g], host [%g, %g]", r[0], r[1], lo, hi);
    CK_OK(ctx, hcl_model_quant_range(m, 5, r));
    lo = quantile(lin, NS * 64, 0.01);
    hi = quantile(lin, NS * 64, 0.99);
    ck_assert_msg(fabs(r[0] - lo) <= 1e-5 * hi && fabs(r[1] - hi) <= 1e-5 * hi, "linear input p99 range [%g, %g], host [%g, %g]", r[0], r[1],
                  lo, hi);
    ck_assert_msg(r[1] < h[1], "the 99th percentile %g is below the max %g", r[1], h[1]);
    /* fewer batches than asked: the epoch ends (3 batches) */
    CK_OK(ctx, hcl_batcher_seek_epoch(b, 0));
    CK_OK(ctx, hcl_model_calibrate(m, b, 100, HCL_CALIB_MINMAX, 0.0f));
    CK_OK(ctx, hcl_model_quant_range(m, 1, r));
    ck_assert(r[0] == xin[0] && r[1] == xin[NS * IMG * IMG - 1]);
    hcl_batcher_free(b);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ int8 export and inference */

static char *tmp_file(const char *tag, const char *name) {
    char *dir = test_make_tmpdir(tag);
    char *p = test_path_in(dir, name);
    free(dir);
    return p;
}

/* Logits of a fixed batch (eval mode). */
static float *eval_logits(hcl_context *ctx, hcl_model *m, hcl_tensor *x) {
    CK_OK(ctx, hcl_model_forward(m, x, 0));
    return test_download((hcl_tensor *)hcl_model_output(m));
}

static int argmax4(const float *v) {
    int a = 0;
    for (int k = 1; k < 4; k++)
        if (v[k] > v[a]) a = k;
    return a;
}

static void run_int8(hcl_precision p) {
    hcl_context *ctx = test_context();
    enum { NTR = 192, NTE = 128, B = 32 };
    static uint8_t xtr[NTR * IMG * IMG], ytr[NTR], xte[NTE * IMG * IMG], yte[NTE];
    make_blobs(xtr, ytr, NTR);
    make_blobs(xte, yte, NTE);
    hcl_model *m = blob_model(ctx, p, 1, B);
    hcl_dtype dt = hcl_model_dtype(m);
    hcl_batcher *tr = make_batcher(ctx, xtr, ytr, NTR, B, dt, 1), *te = make_batcher(ctx, xte, yte, NTE, B, dt, 0);
    train_epochs(ctx, m, tr, small_run() ? 1 : 8, 1e-2f, NULL);
    hcl_metrics fp, fq, i8;
    CK_OK(ctx, hcl_model_evaluate(m, te, &fp));
    /* the whole test set as one F32 batch for the logits */
    static float xt[NTE * IMG * IMG];
    for (size_t i = 0; i < NTE * IMG * IMG; i++) xt[i] = (float)xte[i] * (1.0f / 255);
    const int64_t xs[4] = {B, 1, IMG, IMG};
    hcl_tensor *xb = test_tensor_from(ctx, HCL_F32, 4, xs, xt);
    float *lfp = eval_logits(ctx, m, xb);
    /* PTQ: min/max calibration over 4 training batches */
    CK_OK(ctx, hcl_model_calibrate(m, tr, 4, HCL_CALIB_MINMAX, 0.0f));
    CK_OK(ctx, hcl_model_evaluate(m, te, &fq));
    float *lfq = eval_logits(ctx, m, xb);
    char *path = tmp_file("nnquant", "model.int8.safetensors");
    CK_OK(ctx, hcl_model_export_int8(m, path));

    hcl_model *m8 = blob_model(ctx, p, 1, B);
    CK_OK(ctx, hcl_model_load_int8(m8, path));
    ck_assert_int_eq(hcl_model_quant_mode(m8), HCL_QUANT_MODE_INT8);
    CK_OK(ctx, hcl_model_evaluate(m8, te, &i8));
    float *li8 = eval_logits(ctx, m8, xb);
    double num = 0, den = 0, dfp = 0;
    int agree = 0, agree_fp = 0;
    for (int n = 0; n < B; n++) {
        for (int k = 0; k < 4; k++) {
            double d = (double)li8[n * 4 + k] - lfq[n * 4 + k];
            num += d * d;
            den += (double)lfq[n * 4 + k] * lfq[n * 4 + k];
            d = (double)lfq[n * 4 + k] - lfp[n * 4 + k];
            dfp += d * d;
        }
        agree += argmax4(li8 + n * 4) == argmax4(lfq + n * 4);
        agree_fp += argmax4(li8 + n * 4) == argmax4(lfp + n * 4);
    }
    double rel = sqrt(num / den), rel_fp = sqrt(dfp / den);
    fprintf(stderr,
            "int8 %s: accuracy fp %.4f, fake-quant %.4f, int8 %.4f; logits int8 vs fake-quant rel %.2e (fake-quant vs fp "
            "%.2e), argmax agreement %d/%d (vs fp %d/%d)\n",
            hcl_precision_name(p), fp.accuracy, fq.accuracy, i8.accuracy, rel, rel_fp, agree, B, agree_fp, B);
    double bound = p == HCL_PRECISION_FP32 ? 5e-3 : 3e-2; /* F32: ~1e-7, up to ~3e-4 when a hidden value rounds to the other step */
    ck_assert_msg(rel < bound, "int8 vs fake-quant logits: rel %.3g", rel);
    /* F32: the same grid, so only float rounding differs; mixed_f16 rounds every activation to
     * F16, so a value can land on the other side of a rounding step in the next layer */
    int fp32 = p == HCL_PRECISION_FP32;
    ck_assert_msg(agree >= (fp32 ? B - 1 : B - 3), "argmax agreement %d/%d", agree, B);
    ck_assert_msg(fabs(i8.accuracy - fq.accuracy) <= (fp32 ? 0.02 : 0.04), "int8 %.4f vs fake-quant %.4f", i8.accuracy, fq.accuracy);
    if (!small_run()) ck_assert_msg(fabs(i8.accuracy - fp.accuracy) <= 0.03, "int8 %.4f vs fp %.4f", i8.accuracy, fp.accuracy);
    /* the int8 model refuses training */
    const int64_t ls[1] = {B};
    float lab[B] = {0};
    hcl_tensor *yl = test_tensor_from(ctx, HCL_I32, 1, ls, lab);
    CK_STATUS(ctx, hcl_model_forward(m8, xb, 1), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_model_train_step(m8, xb, yl, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    CK_STATUS(ctx, hcl_model_enable_qat(m8, &qc), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_model_export_int8(m8, path), HCL_ERR_INVALID_ARGUMENT);
    hcl_tensor_free(yl);
    free(lfp);
    free(lfq);
    free(li8);
    unlink(path);
    free(path);
    hcl_tensor_free(xb);
    hcl_batcher_free(tr);
    hcl_batcher_free(te);
    hcl_model_free(m8);
    hcl_model_free(m);
    hcl_context_free(ctx);
}

START_TEST(int8_inference_fp32) { run_int8(HCL_PRECISION_FP32); }
END_TEST
START_TEST(int8_inference_mixed_f16) { run_int8(HCL_PRECISION_MIXED_F16); }
END_TEST

/* Linear layers on (T, D) inputs (rows = N * T) with a fused LeakyReLU epilogue: QAT forward,
 * export and the int8 path agree. */
START_TEST(sequence_linear_int8) {
    hcl_context *ctx = test_context();
    enum { N = 6, T = 5, D = 7 };
    hcl_model *m[2];
    for (int k = 0; k < 2; k++) {
        CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m[k]));
        const int64_t in[2] = {T, D};
        CK_OK(ctx, hcl_model_input(m[k], 2, in, NULL));
        CK_OK(ctx, hcl_model_linear(m[k], HCL_NN_PREV, 9, NULL));
        CK_OK(ctx, hcl_model_activation(m[k], HCL_NN_PREV, HCL_ACT_LEAKY_RELU, 0.2f, NULL));
        CK_OK(ctx, hcl_model_flatten(m[k], HCL_NN_PREV, NULL));
        CK_OK(ctx, hcl_model_linear(m[k], HCL_NN_PREV, 3, NULL));
        hcl_model_options o;
        hcl_model_options_init(&o, HCL_PRECISION_FP32);
        o.max_batch = N;
        o.seed = 21;
        CK_OK(ctx, hcl_model_build(m[k], &o));
    }
    float xv[N * T * D];
    test_fill_uniform(xv, N * T * D, -2.0, 2.0);
    const int64_t xs[3] = {N, T, D};
    hcl_tensor *x = test_tensor_from(ctx, HCL_F32, 3, xs, xv);
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    CK_OK(ctx, hcl_model_enable_qat(m[0], &qc));
    CK_OK(ctx, hcl_model_forward(m[0], x, 1)); /* observe */
    float r[2], h[2];
    CK_OK(ctx, hcl_model_quant_range(m[0], 1, r));
    minmax(xv, N * T * D, h);
    ck_assert(r[0] == h[0] && r[1] == h[1]);
    float *lfq = eval_logits(ctx, m[0], x);
    char *dir = test_make_tmpdir("nnquant-seq");
    char *path = test_path_in(dir, "seq.safetensors");
    CK_OK(ctx, hcl_model_export_int8(m[0], path));
    CK_OK(ctx, hcl_model_load_int8(m[1], path));
    float *li8 = eval_logits(ctx, m[1], x);
    double num = 0, den = 0;
    for (int i = 0; i < N * 3; i++) {
        num += ((double)li8[i] - lfq[i]) * ((double)li8[i] - lfq[i]);
        den += (double)lfq[i] * lfq[i];
    }
    ck_assert_msg(sqrt(num / den) < 5e-3, "int8 vs fake-quant logits: rel %.3g", sqrt(num / den));
    free(lfq);
    free(li8);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    hcl_tensor_free(x);
    hcl_model_free(m[0]);
    hcl_model_free(m[1]);
    hcl_context_free(ctx);
}
END_TEST

/* The export's tensors: I8 weights equal to clamp(rne(w / s)) of the masters with s = max|w| / 127
 * per output channel, F32 scales, the input scale / zero point of the calibrated range, F32
 * biases and batch-norm parameters and statistics, the metadata. */
START_TEST(export_file) {
    hcl_context *ctx = test_context();
    enum { NS = 64, B = 32 };
    static uint8_t x[NS * IMG * IMG], y[NS];
    make_blobs(x, y, NS);
    hcl_model *m = blob_model(ctx, HCL_PRECISION_FP32, 1, B);
    hcl_batcher *b = make_batcher(ctx, x, y, NS, B, HCL_F32, 0);
    char *path = tmp_file("nnquant", "export.safetensors");
    CK_STATUS(ctx, hcl_model_export_int8(m, path), HCL_ERR_INVALID_ARGUMENT); /* not quantized */
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    CK_OK(ctx, hcl_model_enable_qat(m, &qc));
    CK_STATUS(ctx, hcl_model_export_int8(m, path), HCL_ERR_INVALID_ARGUMENT); /* ranges not observed */
    CK_OK(ctx, hcl_model_calibrate(m, b, 2, HCL_CALIB_MINMAX, 0.0f));
    CK_OK(ctx, hcl_model_export_int8(m, path));
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.format"), "int8");
    ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.weight_quant"), "int8_symmetric_per_channel");
    ck_assert_str_eq(hcl_safetensors_metadata(f, "halfcl.input_quant"), "uint8_asymmetric_per_tensor");
    int nq = 0;
    for (size_t id = 0; id < hcl_model_node_count(m); id++) {
        hcl_layer_kind k = hcl_model_node_kind(m, (int)id);
        const char *nn = hcl_model_node_name(m, (int)id);
        char name[96];
        if (k == HCL_LAYER_BATCHNORM2D) {
            const char *sfx[] = {"weight", "bias", "running_mean", "running_var"};
            for (int s = 0; s < 4; s++) {
                snprintf(name, sizeof name, "%s.%s", nn, sfx[s]);
                const hcl_safetensors_tensor *t = hcl_safetensors_find(f, name);
                ck_assert_msg(t && t->dtype == HCL_F32 && t->rank == 1 && t->shape[0] == 4, "%s", name);
            }
            continue;
        }
        if (k != HCL_LAYER_CONV2D && k != HCL_LAYER_LINEAR) continue;
        nq++;
        float *w = download_param(m, nn, "weight", 0);
        snprintf(name, sizeof name, "%s.weight", nn);
        const hcl_safetensors_tensor *tw = hcl_safetensors_find(f, name);
        ck_assert_msg(tw && tw->dtype == HCL_I8, "%s is I8", name);
        int64_t K = tw->shape[0];
        ck_assert_int_eq(tw->rank, k == HCL_LAYER_CONV2D ? 4 : 2);
        snprintf(name, sizeof name, "%s.weight_scale", nn);
        const hcl_safetensors_tensor *ts = hcl_safetensors_find(f, name);
        ck_assert_msg(ts && ts->dtype == HCL_F32 && ts->rank == 1 && ts->shape[0] == K, "%s", name);
        snprintf(name, sizeof name, "%s.input_scale", nn);
        const hcl_safetensors_tensor *tis = hcl_safetensors_find(f, name);
        ck_assert_msg(tis && tis->dtype == HCL_F32 && tis->count == 1, "%s", name);
        snprintf(name, sizeof name, "%s.input_zero_point", nn);
        const hcl_safetensors_tensor *tiz = hcl_safetensors_find(f, name);
        ck_assert_msg(tiz && tiz->dtype == HCL_I32 && tiz->count == 1, "%s", name);
        snprintf(name, sizeof name, "%s.bias", nn);
        const hcl_safetensors_tensor *tb = hcl_safetensors_find(f, name);
        ck_assert_msg(tb && tb->dtype == HCL_F32 && tb->count == (size_t)K, "%s", name);
        size_t per = tw->count / (size_t)K;
        int off = 0;
        for (int64_t c = 0; c < K; c++) {
            float s;
            memcpy(&s, (const char *)ts->data + 4 * c, 4);
            float want = sym_scale(w + c * per, per);
            ck_assert_msg(fabsf(s - want) <= 1e-6f * want, "%s scale %lld: %g, host %g", nn, (long long)c, s, want);
            for (size_t e = 0; e < per; e++) {
                int q = ((const int8_t *)tw->data)[c * per + e];
                float hf = rne(w[c * per + e] / s);
                int hq = (int)(hf < -127.0f ? -127.0f : hf > 127.0f ? 127.0f : hf);
                off += abs(q - hq) > 0;
                ck_assert_msg(abs(q - hq) <= 1 && q >= -127, "%s weight %zu: %d, host %d", nn, (size_t)(c * per + e), q, hq);
            }
        }
        ck_assert_msg(off <= (int)(tw->count / 100), "%s: %d weights off by one", nn, off);
        /* the input scale and zero point of the calibrated range */
        float r[2], s, hs;
        int32_t z;
        int hz;
        CK_OK(ctx, hcl_model_quant_range(m, (int)id, r));
        memcpy(&s, tis->data, 4);
        memcpy(&z, tiz->data, 4);
        asym_params(r[0], r[1], &hs, &hz);
        ck_assert_msg(fabsf(s - hs) <= 1e-6f * hs && z == hz, "%s input scale %g zp %d, host %g %d", nn, s, (int)z, hs, hz);
        free(w);
    }
    ck_assert_int_eq(nq, 4); /* conv, depthwise, pointwise, linear */
    hcl_safetensors_free(f);
    unlink(path);
    free(path);
    hcl_batcher_free(b);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

/* Corrupt or mismatching exports are rejected with HCL_ERR_FORMAT and leave the model as it was. */
enum { MUT_DROP, MUT_DTYPE, MUT_SHAPE, MUT_ZP, MUT_SCALE0, MUT_SCALE_NAN, MUT_Q128, MUT_FORMAT, MUT_EXTRA, MUT_BIAS_NAN, MUT_COUNT };
static const char *const mut_names[MUT_COUNT] = {"missing weight_scale", "weight U8", "linear weight (64,4)", "zero point 300",
                                                 "input scale 0", "weight scale NaN", "weight -128", "format fp16",
                                                 "extra tensor", "bias NaN"};

static void write_mutated(hcl_context *ctx, const char *src, const char *dst, int mut, const char *conv, const char *lin) {
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, src, &f));
    size_t n = hcl_safetensors_count(f);
    hcl_safetensors_entry *e = calloc(n + 1, sizeof *e);
    void **data = calloc(n + 1, sizeof *data);
    int64_t(*shapes)[HCL_MAX_RANK] = calloc(n + 1, sizeof *shapes);
    size_t k = 0;
    char name[96];
    for (size_t i = 0; i < n; i++) {
        const hcl_safetensors_tensor *t = hcl_safetensors_at(f, i);
        data[k] = malloc(t->bytes + 1);
        memcpy(data[k], t->data, t->bytes);
        memcpy(shapes[k], t->shape, sizeof shapes[k]);
        e[k] = (hcl_safetensors_entry){t->name, t->dtype, t->rank, shapes[k], data[k], t->bytes};
        snprintf(name, sizeof name, "%s.weight_scale", conv);
        if (mut == MUT_DROP && !strcmp(t->name, name)) { free(data[k]); continue; }
        if (mut == MUT_SCALE_NAN && !strcmp(t->name, name)) { float v = NAN; memcpy(data[k], &v, 4); }
        snprintf(name, sizeof name, "%s.weight", conv);
        if (mut == MUT_DTYPE && !strcmp(t->name, name)) e[k].dtype = HCL_U8;
        if (mut == MUT_Q128 && !strcmp(t->name, name)) ((int8_t *)data[k])[3] = -128;
        snprintf(name, sizeof name, "%s.weight", lin);
        if (mut == MUT_SHAPE && !strcmp(t->name, name)) { int64_t a = shapes[k][0]; shapes[k][0] = shapes[k][1]; shapes[k][1] = a; }
        snprintf(name, sizeof name, "%s.input_zero_point", lin);
        if (mut == MUT_ZP && !strcmp(t->name, name)) { int32_t v = 300; memcpy(data[k], &v, 4); }
        snprintf(name, sizeof name, "%s.input_scale", lin);
        if (mut == MUT_SCALE0 && !strcmp(t->name, name)) { float v = 0.0f; memcpy(data[k], &v, 4); }
        snprintf(name, sizeof name, "%s.bias", lin);
        if (mut == MUT_BIAS_NAN && !strcmp(t->name, name)) { float v = NAN; memcpy(data[k], &v, 4); }
        k++;
    }
    static const float junk = 1.0f;
    static const int64_t one = 1;
    if (mut == MUT_EXTRA) e[k++] = (hcl_safetensors_entry){"junk", HCL_F32, 1, &one, &junk, 4};
    hcl_safetensors_meta meta[] = {{"halfcl.format", mut == MUT_FORMAT ? "fp16" : "int8"},
                                   {"halfcl.weight_quant", "int8_symmetric_per_channel"},
                                   {"halfcl.input_quant", "uint8_asymmetric_per_tensor"}};
    CK_OK(ctx, hcl_safetensors_save(ctx, dst, e, k, meta, 3));
    for (size_t i = 0; i < k; i++)
        if (e[i].data != &junk) free((void *)e[i].data);
    free(e);
    free(data);
    free(shapes);
    hcl_safetensors_free(f);
}

START_TEST(corrupt_exports) {
    hcl_context *ctx = test_context();
    enum { NS = 32, B = 32 };
    static uint8_t x[NS * IMG * IMG], y[NS];
    make_blobs(x, y, NS);
    hcl_model *m = blob_model(ctx, HCL_PRECISION_FP32, 0, B); /* 1 conv, 5 linear */
    hcl_batcher *b = make_batcher(ctx, x, y, NS, B, HCL_F32, 0);
    CK_OK(ctx, hcl_model_calibrate(m, b, 1, HCL_CALIB_MINMAX, 0.0f));
    char *dir = test_make_tmpdir("nnquant-bad");
    char *good = test_path_in(dir, "good.safetensors"), *bad = test_path_in(dir, "bad.safetensors");
    CK_OK(ctx, hcl_model_export_int8(m, good));
    hcl_model *m2 = blob_model(ctx, HCL_PRECISION_FP32, 0, B);
    const char *conv = hcl_model_node_name(m2, 1), *lin = hcl_model_node_name(m2, 5);
    for (int mut = 0; mut < MUT_COUNT; mut++) {
        write_mutated(ctx, good, bad, mut, conv, lin);
        hcl_status st = hcl_model_load_int8(m2, bad);
        ck_assert_msg(st == HCL_ERR_FORMAT, "%s: %s (%s)", mut_names[mut], hcl_status_name(st), hcl_last_error(ctx));
        ck_assert_int_eq(hcl_model_quant_mode(m2), HCL_QUANT_MODE_NONE);
    }
    /* truncated, not safetensors, missing */
    size_t nbytes = 0;
    unsigned char *bytes = test_read_bytes(good, &nbytes);
    test_write_file(bad, bytes, nbytes / 2);
    CK_STATUS(ctx, hcl_model_load_int8(m2, bad), HCL_ERR_FORMAT);
    test_write_file(bad, "hello", 5);
    CK_STATUS(ctx, hcl_model_load_int8(m2, bad), HCL_ERR_FORMAT);
    free(bytes);
    unlink(bad);
    CK_STATUS(ctx, hcl_model_load_int8(m2, bad), HCL_ERR_IO);
    /* another graph: a linear of 5 classes */
    hcl_model *m5 = NULL;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m5));
    const int64_t in[3] = {1, IMG, IMG};
    CK_OK(ctx, hcl_model_input(m5, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m5, HCL_NN_PREV, 4, 3, 1, 1, NULL));
    CK_OK(ctx, hcl_model_activation(m5, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_maxpool2d(m5, HCL_NN_PREV, 2, 2, NULL));
    CK_OK(ctx, hcl_model_flatten(m5, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m5, HCL_NN_PREV, 5, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_FP32);
    CK_OK(ctx, hcl_model_build(m5, &o));
    CK_STATUS(ctx, hcl_model_load_int8(m5, good), HCL_ERR_FORMAT);
    ck_assert_msg(strstr(hcl_last_error(ctx), "shape") != NULL, "message: %s", hcl_last_error(ctx));
    /* the good file still loads */
    CK_OK(ctx, hcl_model_load_int8(m2, good));
    ck_assert_int_eq(hcl_model_quant_mode(m2), HCL_QUANT_MODE_INT8);
    unlink(good);
    rmdir(dir);
    free(good);
    free(bad);
    free(dir);
    hcl_batcher_free(b);
    hcl_model_free(m5);
    hcl_model_free(m2);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ quantization state and checkpoints */

static hcl_model *mlp(hcl_context *ctx, hcl_precision p, int qat) {
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &m));
    const int64_t in[1] = {8};
    CK_OK(ctx, hcl_model_input(m, 1, in, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 16, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 4, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    o.max_batch = 16;
    o.seed = 9;
    CK_OK(ctx, hcl_model_build(m, &o));
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    qc.momentum = 0.3f;
    if (qat) CK_OK(ctx, hcl_model_enable_qat(m, &qc));
    return m;
}

static void steps(hcl_context *ctx, hcl_model *m, hcl_tensor *const *xs, hcl_tensor *y, int from, int to) {
    for (int s = from; s < to; s++) CK_OK(ctx, hcl_model_train_step(m, xs[s], y, 1e-2f));
}

static float *all_masters(hcl_model *m, size_t *n) {
    hcl_params *p = hcl_model_params(m);
    size_t total = hcl_params_numel(p), off = 0;
    float *v = test_falloc(total);
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t c = hcl_params_weight(p, i)->count;
        CK_OK(hcl_model_context(m), hcl_params_download(p, i, v + off, c));
        off += c;
    }
    *n = total;
    return v;
}

START_TEST(quant_state_checkpoint) {
    hcl_context *ctx = test_context();
    const hcl_precision p = HCL_PRECISION_MIXED_F16;
    hcl_model *a = mlp(ctx, p, 1);
    enum { S = 6, N = 16 };
    hcl_tensor *xs[S];
    const int64_t xsh[2] = {N, 8}, ysh[1] = {N};
    float xv[N * 8], yv[N];
    for (int s = 0; s < S; s++) {
        test_fill_uniform(xv, N * 8, -1.0 - s, 1.0 + s); /* widening batches: the ranges keep moving */
        xs[s] = test_tensor_from(ctx, HCL_F32, 2, xsh, xv);
    }
    for (int i = 0; i < N; i++) yv[i] = (float)(i % 4);
    hcl_tensor *y = test_tensor_from(ctx, HCL_I32, 1, ysh, yv);
    char *dir = test_make_tmpdir("nnquant-ckpt");
    char *ck = test_path_in(dir, "ck.safetensors"), *qs = test_path_in(dir, "quant.safetensors");
    steps(ctx, a, xs, y, 0, 3);
    CK_OK(ctx, hcl_checkpoint_save(hcl_model_optimizer(a), ck, NULL));
    CK_OK(ctx, hcl_model_quant_save(a, qs));
    steps(ctx, a, xs, y, 3, S);
    hcl_model *b = mlp(ctx, p, 0); /* quant_load enables QAT with the saved configuration */
    ck_assert_int_eq(hcl_model_quant_mode(b), HCL_QUANT_MODE_NONE);
    CK_OK(ctx, hcl_checkpoint_load(hcl_model_optimizer(b), ck, NULL));
    CK_OK(ctx, hcl_model_quant_load(b, qs));
    ck_assert_int_eq(hcl_model_quant_mode(b), HCL_QUANT_MODE_FAKE);
    steps(ctx, b, xs, y, 3, S);
    size_t na, nb;
    float *va = all_masters(a, &na), *vb = all_masters(b, &nb);
    ck_assert(na == nb && memcmp(va, vb, na * sizeof *va) == 0);
    for (int id = 1; id <= 3; id += 2) {
        float ra[2], rb[2];
        CK_OK(ctx, hcl_model_quant_range(a, id, ra));
        CK_OK(ctx, hcl_model_quant_range(b, id, rb));
        ck_assert_msg(ra[0] == rb[0] && ra[1] == rb[1], "range of node %d: [%g, %g] vs [%g, %g]", id, ra[0], ra[1], rb[0], rb[1]);
    }
    /* without the quantization state the resumed run differs (the ranges restart from the batch) */
    hcl_model *c = mlp(ctx, p, 1);
    CK_OK(ctx, hcl_checkpoint_load(hcl_model_optimizer(c), ck, NULL));
    steps(ctx, c, xs, y, 3, S);
    float *vc = all_masters(c, &nb);
    ck_assert(memcmp(va, vc, na * sizeof *va) != 0);
    /* a state file of another model, or not a state file, is rejected and changes nothing */
    hcl_model *d = NULL;
    CK_OK(ctx, hcl_model_create(ctx, p, &d));
    const int64_t in[1] = {8};
    CK_OK(ctx, hcl_model_input(d, 1, in, NULL));
    CK_OK(ctx, hcl_model_linear(d, HCL_NN_PREV, 4, NULL));
    hcl_model_options o;
    hcl_model_options_init(&o, p);
    CK_OK(ctx, hcl_model_build(d, &o));
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    CK_STATUS(ctx, hcl_model_quant_load(d, qs), HCL_ERR_FORMAT);
    ck_assert_int_eq(hcl_model_quant_mode(d), HCL_QUANT_MODE_NONE);
    CK_OK(ctx, hcl_model_enable_qat(d, &qc));
    CK_STATUS(ctx, hcl_model_quant_load(d, qs), HCL_ERR_FORMAT);
    CK_STATUS(ctx, hcl_model_quant_load(b, ck), HCL_ERR_FORMAT); /* a checkpoint, not a state file */
    float rb2[2], rb3[2];
    CK_OK(ctx, hcl_model_quant_range(b, 1, rb2));
    size_t nbytes = 0;
    unsigned char *bytes = test_read_bytes(qs, &nbytes);
    test_write_file(qs, bytes, nbytes - 3);
    CK_STATUS(ctx, hcl_model_quant_load(b, qs), HCL_ERR_FORMAT);
    CK_OK(ctx, hcl_model_quant_range(b, 1, rb3));
    ck_assert(rb2[0] == rb3[0] && rb2[1] == rb3[1]);
    free(bytes);
    free(va);
    free(vb);
    free(vc);
    unlink(ck);
    unlink(qs);
    rmdir(dir);
    free(ck);
    free(qs);
    free(dir);
    for (int s = 0; s < S; s++) hcl_tensor_free(xs[s]);
    hcl_tensor_free(y);
    hcl_model_free(a);
    hcl_model_free(b);
    hcl_model_free(c);
    hcl_model_free(d);
    hcl_context_free(ctx);
}
END_TEST

/* hcl_model_load_int8 into a calibrated model whose device memory runs out part-way (the first
 * layer's I8 weight fits under the context's memory limit, the second's does not): the load fails
 * with HCL_ERR_DEVICE_MEMORY and changes nothing (mode, parameters, ranges and observed flags, the
 * model's byte count), so the model still exports; with the limit lifted the same file loads. The
 * same for a calibration end that runs out of memory. */
START_TEST(load_int8_out_of_memory_changes_nothing) {
    hcl_context *ctx = test_context();
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_FP32, &m));
    const int64_t in[1] = {64};
    CK_OK(ctx, hcl_model_input(m, 1, in, NULL));
    int l1 = 0, l2 = 0;
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 256, &l1)); /* I8 weight 16 KiB */
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 512, &l2)); /* 128 KiB */
    hcl_model_options o;
    hcl_model_options_init(&o, HCL_PRECISION_FP32);
    o.max_batch = 16;
    o.seed = 3;
    CK_OK(ctx, hcl_model_build(m, &o));
    const int64_t xsh[2] = {16, 64};
    float xv[16 * 64];
    test_fill_uniform(xv, 16 * 64, -1.0, 1.0);
    hcl_tensor *x = test_tensor_from(ctx, HCL_F32, 2, xsh, xv);
    CK_OK(ctx, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f));
    CK_OK(ctx, hcl_model_forward(m, x, 0));
    CK_OK(ctx, hcl_model_calibrate_end(m));
    char *dir = test_make_tmpdir("nnquant-oom");
    char *path = test_path_in(dir, "m.int8.safetensors");
    CK_OK(ctx, hcl_model_export_int8(m, path));
    size_t n0, n1;
    float *before = all_masters(m, &n0), r1[2], r2[2], q[2];
    CK_OK(ctx, hcl_model_quant_range(m, l1, r1));
    CK_OK(ctx, hcl_model_quant_range(m, l2, r2));
    hcl_model_memory mem0, mem1;
    CK_OK(ctx, hcl_model_memory_get(m, &mem0));
    hcl_memory_trim(ctx);
    hcl_memory_stats ms;
    hcl_memory_stats_get(ctx, &ms);
    uint64_t old_limit = ctx->memory_limit;
    ctx->memory_limit = (uint64_t)ms.current_bytes + (16u << 10) + (8u << 10);
    CK_STATUS(ctx, hcl_model_load_int8(m, path), HCL_ERR_DEVICE_MEMORY);
    ctx->memory_limit = old_limit;
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_FAKE);
    float *after = all_masters(m, &n1);
    ck_assert(n0 == n1 && !memcmp(before, after, n0 * sizeof *before));
    CK_OK(ctx, hcl_model_quant_range(m, l1, q));
    ck_assert(q[0] == r1[0] && q[1] == r1[1]);
    CK_OK(ctx, hcl_model_quant_range(m, l2, q));
    ck_assert(q[0] == r2[0] && q[1] == r2[1]);
    CK_OK(ctx, hcl_model_memory_get(m, &mem1));
    ck_assert_uint_eq(mem1.other_bytes, mem0.other_bytes);
    hcl_memory_stats ms1;
    hcl_memory_stats_get(ctx, &ms1);
    ck_assert_uint_eq(ms1.current_bytes, ms.current_bytes); /* the first layer's I8 weight was freed */
    CK_OK(ctx, hcl_model_export_int8(m, path)); /* every range still observed */
    /* a calibration whose end runs out of memory (new ranges are written aside, then swapped in):
     * the old ranges and observed flags stay */
    for (size_t i = 0; i < 16 * 64; i++) xv[i] *= 3.0f;
    hcl_tensor *x3 = test_tensor_from(ctx, HCL_F32, 2, xsh, xv);
    CK_OK(ctx, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f));
    CK_OK(ctx, hcl_model_forward(m, x3, 0));
    hcl_memory_trim(ctx);
    hcl_memory_stats_get(ctx, &ms);
    ctx->memory_limit = (uint64_t)ms.current_bytes + 256 + 128; /* one range tensor (256-byte block), not two */
    CK_STATUS(ctx, hcl_model_calibrate_end(m), HCL_ERR_DEVICE_MEMORY);
    ctx->memory_limit = old_limit;
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_FAKE);
    CK_OK(ctx, hcl_model_quant_range(m, l1, q));
    ck_assert(q[0] == r1[0] && q[1] == r1[1]);
    CK_OK(ctx, hcl_model_quant_range(m, l2, q));
    ck_assert(q[0] == r2[0] && q[1] == r2[1]);
    hcl_memory_stats_get(ctx, &ms1);
    ck_assert_uint_eq(ms1.current_bytes, ms.current_bytes);
    CK_OK(ctx, hcl_model_export_int8(m, path));
    /* the same calibration with memory: the ranges move */
    CK_OK(ctx, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f));
    CK_OK(ctx, hcl_model_forward(m, x3, 0));
    CK_OK(ctx, hcl_model_calibrate_end(m));
    CK_OK(ctx, hcl_model_quant_range(m, l1, q));
    ck_assert(q[0] != r1[0] || q[1] != r1[1]);
    hcl_tensor_free(x3);
    CK_OK(ctx, hcl_model_load_int8(m, path));
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_INT8);
    free(before);
    free(after);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    hcl_tensor_free(x);
    hcl_model_free(m);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_quant");
    TCase *r = tcase_create("reference");
    tcase_set_timeout(r, 600);
    tcase_add_test(r, qat_forward_backward_reference);
    tcase_add_test(r, calibration_ranges);
    tcase_add_test(r, export_file);
    tcase_add_test(r, corrupt_exports);
    tcase_add_test(r, load_int8_out_of_memory_changes_nothing);
    tcase_add_test(r, quant_state_checkpoint);
    tcase_add_test(r, sequence_linear_int8);
    suite_add_tcase(s, r);
    TCase *t = tcase_create("train");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, qat_trains_fp32);
    tcase_add_test(t, qat_trains_mixed_f16);
    tcase_add_test(t, int8_inference_fp32);
    tcase_add_test(t, int8_inference_mixed_f16);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
