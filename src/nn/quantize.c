/* Model quantization (nn.h "quantization"): the per-layer state of the quantized conv2d and linear
 * layers (fake-quantized weight and input buffers, the EMA input range, the int8 weight and scales
 * of an int8 model), the forward and backward of those layers that exec.c hands over to here
 * (fake-quant with the straight-through estimator; int8 inference), PTQ calibration, the
 * quantization-state file beside a checkpoint, and the int8 export and its loader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/nn_internal.h"
#include "io/io_internal.h"

#define NQ_CAL_MAX ((size_t)1 << 22) /* input values kept per layer for a percentile calibration */

struct nn_quant {
    int depthwise;              /* groups > 1: int8 inference runs the float conv of dequantized values */
    hcl_tensor *in_range;       /* F32 (1, 2) [min, max] of the input (EMA in train mode) */
    hcl_tensor *in_scale;       /* F32 (1) */
    hcl_tensor *in_zp;          /* I32 (1) */
    hcl_tensor *w_range;        /* F32 (out, 2) the working weight's per-channel range, each forward */
    hcl_tensor *w_scale;        /* F32 (out) */
    hcl_tensor *wq;             /* the fake-quantized weight (compute dtype, weight shape) */
    hcl_tensor *xq;             /* the fake-quantized input, then its gradient in the backward
                                   (compute dtype, (max_batch, input sample)) */
    hcl_tensor *w8;             /* int8 model: I8 weight */
    int observed;               /* in_range holds a range */
    /* calibration (host) */
    float *cal;
    size_t cal_n, cal_cap, cal_seen;
    double cal_min, cal_max;
    uint64_t cal_rng, cal_seed; /* reservoir sampling stream (restarts at each calibration) */
    int cal_any, cal_keep, nan_seen; /* a value was seen; values are kept (percentile); a NaN was seen */
};

struct nn_quant_model {
    hcl_qat_config cfg;
    hcl_quant_mode mode;
    int calibrating;            /* between calibrate begin and end */
    int cal_fresh;              /* the calibration created the states (freed if it fails) */
    hcl_calib_method cal_method;
    float cal_percentile;
    size_t cal_batches;         /* eval forwards collected */
    hcl_tensor *x8;             /* int8 model: U8 quantized input, the largest layer input at max_batch */
    size_t bytes;               /* device bytes of all of this */
};

#define Q_SYM HCL_QUANT_INT8_SYMMETRIC
#define Q_ASYM HCL_QUANT_UINT8_ASYMMETRIC

int nn_quant_eligible(const nn_node *n) {
    return (n->kind == HCL_LAYER_CONV2D || (n->kind == HCL_LAYER_LINEAR && n->tied < 0)) && n->w_idx >= 0;
}

void hcl_qat_config_init(hcl_qat_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->momentum = 0.01f;
    c->observe = 1;
}

hcl_quant_mode hcl_model_quant_mode(const hcl_model *m) {
    return m && m->quant ? m->quant->mode : HCL_QUANT_MODE_NONE;
}

static void free_layer(nn_quant *q) {
    if (!q) return;
    hcl_tensor *ts[] = {q->in_range, q->in_scale, q->in_zp, q->w_range, q->w_scale, q->wq, q->xq, q->w8};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) hcl_tensor_free(ts[i]);
    free(q->cal);
    free(q);
}

/* Frees every quantization state of the model (the model becomes a float model again). */
static void free_states(hcl_model *m) {
    for (size_t i = 0; i < m->count; i++) {
        free_layer(m->nodes[i].quant);
        m->nodes[i].quant = NULL;
    }
    if (m->quant) {
        hcl_tensor_free(m->quant->x8);
        m->other_bytes -= m->quant->bytes;
        free(m->quant);
        m->quant = NULL;
    }
}

void nn_quant_free(hcl_model *m) {
    if (m) free_states(m);
}

static hcl_status new_tensor(hcl_model *m, hcl_dtype dt, int rank, const int64_t *shape, hcl_tensor **t) {
    HCL_TRY(hcl_tensor_create(m->ctx, dt, rank, shape, t));
    m->quant->bytes += hcl_tensor_bytes(*t);
    m->other_bytes += hcl_tensor_bytes(*t);
    return HCL_OK;
}

/* Frees a tensor made by new_tensor (NULL: nothing) and takes its bytes off the counts. */
static void drop_tensor(hcl_model *m, hcl_tensor *t) {
    if (!t) return;
    m->quant->bytes -= hcl_tensor_bytes(t);
    m->other_bytes -= hcl_tensor_bytes(t);
    hcl_tensor_free(t);
}

/* The per-layer states (fresh ranges, not observed) and the model state in mode NONE. */
static hcl_status create_states(hcl_model *m) {
    m->quant = calloc(1, sizeof *m->quant);
    if (!m->quant) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_qat_config_init(&m->quant->cfg);
    size_t x8 = 0;
    hcl_status st = HCL_OK;
    for (size_t i = 0; i < m->count && st == HCL_OK; i++) {
        nn_node *n = &m->nodes[i];
        if (!nn_quant_eligible(n)) continue;
        nn_quant *q = calloc(1, sizeof *q);
        if (!q) {
            st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            break;
        }
        n->quant = q;
        q->depthwise = n->kind == HCL_LAYER_CONV2D && n->groups > 1;
        q->cal_seed = (0x9E3779B97F4A7C15ull ^ ((uint64_t)i * 0xBF58476D1CE4E5B9ull)) | 1; /* xorshift: never 0 */
        const nn_node *p = &m->nodes[n->in[0]];
        int64_t r2[2] = {1, 2}, one = 1, k = n->wshape[0], kr[2] = {k, 2};
        int64_t xs[HCL_MAX_RANK];
        xs[0] = m->opt.max_batch;
        for (int d = 0; d < p->rank; d++) xs[d + 1] = p->shape[d];
        size_t xin = (size_t)m->opt.max_batch * p->sample;
        if (xin > x8) x8 = xin;
        if ((st = new_tensor(m, HCL_F32, 2, r2, &q->in_range)) != HCL_OK) break;
        if ((st = hcl_tensor_fill(q->in_range, 0.0)) != HCL_OK) break;
        if ((st = new_tensor(m, HCL_F32, 1, &one, &q->in_scale)) != HCL_OK) break;
        if ((st = new_tensor(m, HCL_I32, 1, &one, &q->in_zp)) != HCL_OK) break;
        if ((st = new_tensor(m, HCL_F32, 2, kr, &q->w_range)) != HCL_OK) break;
        if ((st = new_tensor(m, HCL_F32, 1, &k, &q->w_scale)) != HCL_OK) break;
        if ((st = new_tensor(m, m->dt, n->wrank, n->wshape, &q->wq)) != HCL_OK) break;
        if ((st = new_tensor(m, m->dt, p->rank + 1, xs, &q->xq)) != HCL_OK) break;
    }
    if (st == HCL_OK && x8) {
        int64_t n8 = (int64_t)x8;
        st = new_tensor(m, HCL_U8, 1, &n8, &m->quant->x8);
    }
    if (st != HCL_OK) free_states(m);
    return st;
}

static hcl_status check_built(hcl_model *m, const char *what) {
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: the model is not built (call hcl_model_build)", what);
    if (m->quant && m->quant->mode == HCL_QUANT_MODE_INT8)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: the model was loaded for int8 inference", what);
    int any = 0;
    for (size_t i = 0; i < m->count; i++) any |= nn_quant_eligible(&m->nodes[i]);
    if (!any) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: the model has no conv2d or linear layer to quantize", what);
    return HCL_OK;
}

static hcl_status check_config(hcl_model *m, const hcl_qat_config *c) {
    if (!(c->momentum > 0.0f && c->momentum <= 1.0f))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "qat: momentum %g is not in (0, 1]", (double)c->momentum);
    if (c->observe != 0 && c->observe != 1)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "qat: observe %d is not 0 or 1", c->observe);
    return HCL_OK;
}

hcl_status hcl_model_enable_qat(hcl_model *m, const hcl_qat_config *config) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, config);
    HCL_TRY(check_built(m, "enable_qat"));
    HCL_TRY(check_config(m, config));
    if (!m->quant) HCL_TRY(create_states(m));
    m->quant->cfg = *config;
    m->quant->mode = HCL_QUANT_MODE_FAKE;
    return HCL_OK;
}

/* ------------------------------------------------------------------ forward and backward */

hcl_status nn_quant_check_forward(hcl_model *m, int train) {
    nn_quant_model *qm = m->quant;
    if (!qm) return HCL_OK;
    if (qm->calibrating) {
        if (train)
            return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT,
                             "a calibration is running: only eval-mode forwards (end it with hcl_model_calibrate_end)");
        qm->cal_batches++;
        return HCL_OK;
    }
    if (qm->mode == HCL_QUANT_MODE_INT8) {
        if (train)
            return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT,
                             "the model was loaded for int8 inference: train-mode forwards are not supported");
        return HCL_OK;
    }
    if (qm->mode != HCL_QUANT_MODE_FAKE || (train && qm->cfg.observe)) return HCL_OK;
    for (size_t i = 0; i < m->count; i++) {
        const nn_node *n = &m->nodes[i];
        if (n->quant && !n->quant->observed)
            return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT,
                             "quantization: the input range of %s was never observed (run a train-mode forward with "
                             "observers on, or hcl_model_calibrate)", n->name);
    }
    return HCL_OK;
}

static void conv_desc(const nn_node *d, hcl_conv2d_desc *c) {
    hcl_conv2d_desc_init(c);
    c->stride_h = c->stride_w = d->stride;
    c->pad_h = c->pad_w = d->pad;
    c->groups = d->groups;
}

static hcl_tensor as2d(const hcl_tensor *t, int64_t rows, int64_t cols) {
    int64_t s[2] = {rows, cols};
    return nn_reshape(t, 2, s);
}

/* A view of buffer `t` (dtype kept) with x's shape. */
static hcl_tensor like(const hcl_tensor *t, const hcl_tensor *x) { return nn_reshape(t, x->rank, x->shape); }

/* Calibration: collect the input's values on the host (syncs). */
static hcl_status collect(hcl_model *m, nn_node *d, const hcl_tensor *x) {
    nn_quant *q = d->quant;
    float *v = malloc(x->count * sizeof *v);
    if (!v) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_tensor_download_f32(x, v, x->count);
    for (size_t i = 0; st == HCL_OK && i < x->count; i++) {
        double a = v[i];
        if (!q->cal_any) q->cal_min = q->cal_max = a;
        q->cal_any = 1;
        if (a < q->cal_min) q->cal_min = a;
        if (a > q->cal_max) q->cal_max = a;
        if (isnan(a)) q->nan_seen = 1;
        if (!q->cal_keep) continue; /* min/max only */
        q->cal_seen++;
        if (q->cal_n < NQ_CAL_MAX) {
            if (q->cal_n == q->cal_cap) {
                size_t cap = q->cal_cap ? q->cal_cap * 2 : 4096;
                if (cap > NQ_CAL_MAX) cap = NQ_CAL_MAX;
                float *p = realloc(q->cal, cap * sizeof *p);
                if (!p) {
                    st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
                    break;
                }
                q->cal = p;
                q->cal_cap = cap;
            }
            q->cal[q->cal_n++] = v[i];
        } else { /* reservoir sampling: every value seen is kept with probability cap / seen */
            q->cal_rng ^= q->cal_rng >> 12;
            q->cal_rng ^= q->cal_rng << 25;
            q->cal_rng ^= q->cal_rng >> 27;
            uint64_t r = (q->cal_rng * 0x2545F4914F6CDD1Dull) % q->cal_seen;
            if (r < NQ_CAL_MAX) q->cal[r] = v[i];
        }
    }
    free(v);
    return st;
}

/* The fake-quantized weight of d into q->wq (per output channel, from the working weight). */
static hcl_status fake_weight(hcl_model *m, nn_node *d, const hcl_tensor *w) {
    nn_quant *q = d->quant;
    HCL_TRY(hcl_quant_observe(m->ctx, q->w_range, w, 0, 1.0f, 1));
    HCL_TRY(hcl_quant_params_from_range(m->ctx, q->w_scale, NULL, q->w_range, Q_SYM));
    return hcl_fake_quant_forward(m->ctx, q->wq, w, q->w_scale, NULL, Q_SYM, 0);
}

hcl_status nn_quant_forward(hcl_model *m, nn_node *d, int train, int *handled) {
    hcl_context *ctx = m->ctx;
    nn_quant_model *qm = m->quant;
    nn_quant *q = d->quant;
    *handled = 0;
    if (!qm || !q) return HCL_OK;
    hcl_tensor xs;
    const hcl_tensor *x = nn_value(m, d->in[0], &xs);
    if (qm->calibrating) return collect(m, d, x); /* the float layer runs after this */
    if (qm->mode == HCL_QUANT_MODE_NONE) return HCL_OK;
    hcl_tensor *y = &d->out;
    hcl_tensor *w = hcl_params_weight(m->params, (size_t)d->w_idx);
    hcl_tensor *b = d->b_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->b_idx) : NULL;
    const hcl_tensor *wuse = q->wq;
    hcl_tensor xq = like(q->xq, x);
    *handled = 1;
    if (qm->mode == HCL_QUANT_MODE_INT8 && !q->depthwise) {
        hcl_tensor x8 = like(m->quant->x8, x);
        x8.dtype = HCL_U8;
        HCL_TRY(hcl_quantize(ctx, &x8, x, q->in_scale, q->in_zp, Q_ASYM, -1));
        if (d->kind == HCL_LAYER_CONV2D)
            return hcl_conv2d_i8_forward(ctx, y, &x8, q->in_scale, q->in_zp, q->w8, q->w_scale, b, d->stride, d->pad,
                                         HCL_ACT_NONE);
        int64_t fin = d->wshape[1], rows = (int64_t)(x->count / (size_t)fin);
        hcl_tensor a2 = as2d(&x8, rows, fin), y2 = as2d(y, rows, d->out_ch);
        /* the epilogue takes no slope: a fused LeakyReLU runs in place after */
        int leaky = d->epi_act == HCL_ACT_LEAKY_RELU;
        HCL_TRY(hcl_gemm_i8(ctx, &y2, &a2, q->in_scale, q->in_zp, q->w8, q->w_scale, b, leaky ? HCL_ACT_NONE : d->epi_act));
        if (leaky) HCL_TRY(hcl_activation_forward(ctx, &y2, &y2, d->epi_act, d->epi_alpha));
        return HCL_OK;
    }
    if (qm->mode == HCL_QUANT_MODE_FAKE) {
        HCL_TRY(fake_weight(m, d, w));
        if (train && qm->cfg.observe) {
            HCL_TRY(hcl_quant_observe(ctx, q->in_range, x, -1, qm->cfg.momentum, !q->observed));
            q->observed = 1;
        }
        HCL_TRY(hcl_quant_params_from_range(ctx, q->in_scale, q->in_zp, q->in_range, Q_ASYM));
    } /* int8 depthwise: wq holds the dequantized weight, in_scale/in_zp the stored ones */
    HCL_TRY(hcl_fake_quant_forward(ctx, &xq, x, q->in_scale, q->in_zp, Q_ASYM, -1));
    if (d->kind == HCL_LAYER_CONV2D) {
        hcl_conv2d_desc c;
        conv_desc(d, &c);
        return hcl_conv2d_forward(ctx, y, &xq, wuse, b, &c);
    }
    int64_t fin = d->wshape[1], rows = (int64_t)(x->count / (size_t)fin);
    hcl_tensor x2 = as2d(&xq, rows, fin), y2 = as2d(y, rows, d->out_ch);
    hcl_gemm_desc g;
    hcl_gemm_desc_init(&g);
    g.trans_b = 1;
    g.epilogue = d->epi_act;
    g.epilogue_alpha = d->epi_alpha;
    return hcl_gemm(ctx, &y2, &x2, wuse, b, &g);
}

/* Backward of a fake-quantized layer: the weight gradient of the fake-quantized weight with the
 * fake-quantized input, the input gradient through the STE. q->xq holds the fake-quantized input
 * until the weight gradient is done, then the gradient with respect to it. */
hcl_status nn_quant_backward(hcl_model *m, nn_node *d, int *handled) {
    hcl_context *ctx = m->ctx;
    nn_quant *q = d->quant;
    *handled = 0;
    if (!m->quant || !q || m->quant->mode != HCL_QUANT_MODE_FAKE) return HCL_OK;
    *handled = 1;
    hcl_tensor *dy = &d->grad;
    hcl_tensor xs;
    const hcl_tensor *x = nn_value(m, d->in[0], &xs);
    hcl_tensor xq = like(q->xq, x);
    hcl_tensor *dw = hcl_params_grad(m->params, (size_t)d->w_idx);
    hcl_tensor *db = d->b_idx >= 0 ? hcl_params_grad(m->params, (size_t)d->b_idx) : NULL;
    if (d->kind == HCL_LAYER_CONV2D) {
        hcl_conv2d_desc c;
        conv_desc(d, &c);
        HCL_TRY(hcl_conv2d_backward_weight(ctx, dw, db, dy, &xq, &c));
        if (!d->need_dx[0]) return HCL_OK;
        HCL_TRY(hcl_conv2d_backward_data(ctx, &xq, dy, q->wq, &c));
    } else {
        int64_t fin = d->wshape[1], rows = (int64_t)(x->count / (size_t)fin);
        hcl_tensor x2 = as2d(&xq, rows, fin), dy2 = as2d(dy, rows, d->out_ch);
        hcl_gemm_desc g;
        hcl_gemm_desc_init(&g);
        g.trans_a = 1;
        g.beta = 1.0f; /* dW += dy^T xq */
        HCL_TRY(hcl_gemm(ctx, dw, &dy2, &x2, NULL, &g));
        if (db) HCL_TRY(hcl_reduce_broadcast(ctx, db, &dy2, HCL_BCAST_ROW, 1));
        if (!d->need_dx[0]) return HCL_OK;
        hcl_gemm_desc_init(&g); /* dxq = dy Wq */
        HCL_TRY(hcl_gemm(ctx, &x2, &dy2, q->wq, NULL, &g));
    }
    HCL_TRY(hcl_fake_quant_backward(ctx, nn_dx_target(m, d, 0), &xq, x, q->in_scale, q->in_zp, Q_ASYM, -1));
    return nn_dx_finish(m, d, 0);
}

/* ------------------------------------------------------------------ calibration */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of n sorted values, interpolating linearly between neighbours. */
static double quantile(const float *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= n) return v[n - 1];
    double f = pos - (double)i;
    return (double)v[i] + f * ((double)v[i + 1] - (double)v[i]);
}

static void reset_cal(nn_quant *q, int keep) {
    free(q->cal);
    q->cal = NULL;
    q->cal_n = q->cal_cap = q->cal_seen = 0;
    q->cal_any = q->nan_seen = 0;
    q->cal_keep = keep;
    q->cal_rng = q->cal_seed;
}

static hcl_status check_method(hcl_model *m, hcl_calib_method method, float percentile) {
    if ((unsigned)method > HCL_CALIB_PERCENTILE)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: invalid method %d", (int)method);
    if (method == HCL_CALIB_PERCENTILE && !(percentile > 50.0f && percentile <= 100.0f))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: percentile %g is not in (50, 100]", (double)percentile);
    if (m->quant && m->quant->calibrating)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: a calibration is already running (hcl_model_calibrate_end)");
    return HCL_OK;
}

/* Starts collecting (method and percentile checked). */
static hcl_status cal_begin(hcl_model *m, hcl_calib_method method, float percentile) {
    int fresh = m->quant == NULL;
    if (fresh) HCL_TRY(create_states(m));
    nn_quant_model *qm = m->quant;
    for (size_t i = 0; i < m->count; i++)
        if (m->nodes[i].quant) reset_cal(m->nodes[i].quant, method == HCL_CALIB_PERCENTILE);
    qm->calibrating = 1;
    qm->cal_fresh = fresh;
    qm->cal_method = method;
    qm->cal_percentile = percentile;
    qm->cal_batches = 0;
    return HCL_OK;
}

/* Ends a calibration: with st == HCL_OK sets the ranges from what was collected; on any error
 * (st or its own) leaves the ranges as they were (a fresh state is freed). */
static hcl_status cal_end(hcl_model *m, hcl_status st) {
    nn_quant_model *qm = m->quant;
    qm->calibrating = 0;
    m->eval_ready = 0;
    if (st == HCL_OK && qm->cal_batches == 0)
        st = hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: no eval-mode forward ran since the calibration began");
    /* ranges: checked for every layer first, then uploaded */
    float *ranges = st == HCL_OK ? malloc(m->count * 2 * sizeof *ranges) : NULL;
    if (st == HCL_OK && !ranges) st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        nn_quant *q = m->nodes[i].quant;
        if (!q) continue;
        double lo = q->cal_min, hi = q->cal_max;
        if (qm->cal_method == HCL_CALIB_PERCENTILE && q->cal_n) {
            qsort(q->cal, q->cal_n, sizeof *q->cal, cmp_float);
            double p = (double)qm->cal_percentile / 100.0;
            lo = quantile(q->cal, q->cal_n, 1.0 - p);
            hi = quantile(q->cal, q->cal_n, p);
        }
        if (!q->cal_any || q->nan_seen || !isfinite(lo) || !isfinite(hi) || fabs(lo) > 3e38 || fabs(hi) > 3e38) {
            st = hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: the input of %s has non-finite values",
                           m->nodes[i].name);
            break;
        }
        ranges[2 * i] = (float)lo;
        ranges[2 * i + 1] = (float)hi;
    }
    /* into new range tensors, swapped in once every one is written: an allocation or upload
     * failure leaves the old ranges and observed flags as they were */
    hcl_tensor **nr = st == HCL_OK ? calloc(m->count, sizeof *nr) : NULL;
    if (st == HCL_OK && !nr) st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    static const int64_t r2[2] = {1, 2};
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        if (!m->nodes[i].quant) continue;
        if ((st = new_tensor(m, HCL_F32, 2, r2, &nr[i])) != HCL_OK) break;
        st = hcl_tensor_upload_f32(nr[i], ranges + 2 * i, 2);
    }
    for (size_t i = 0; nr && i < m->count; i++) {
        nn_quant *q = m->nodes[i].quant;
        if (!q || !nr[i]) continue;
        if (st == HCL_OK) {
            drop_tensor(m, q->in_range);
            q->in_range = nr[i];
            q->observed = 1;
        } else {
            drop_tensor(m, nr[i]);
        }
    }
    free(nr);
    free(ranges);
    for (size_t i = 0; i < m->count; i++)
        if (m->nodes[i].quant) reset_cal(m->nodes[i].quant, 0);
    if (st != HCL_OK) {
        if (qm->cal_fresh) free_states(m);
        return st;
    }
    qm->mode = HCL_QUANT_MODE_FAKE;
    return HCL_OK;
}

hcl_status hcl_model_calibrate_begin(hcl_model *m, hcl_calib_method method, float percentile) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_TRY(check_built(m, "calibrate_begin"));
    HCL_TRY(check_method(m, method, percentile));
    return cal_begin(m, method, percentile);
}

hcl_status hcl_model_calibrate_end(hcl_model *m) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->quant || !m->quant->calibrating)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate_end: no calibration is running (hcl_model_calibrate_begin)");
    return cal_end(m, HCL_OK);
}

hcl_status hcl_model_calibrate(hcl_model *m, hcl_batcher *data, size_t batches, hcl_calib_method method, float percentile) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, data);
    HCL_TRY(check_built(m, "calibrate"));
    HCL_TRY(check_method(m, method, percentile));
    if (batches < 1) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: batches must be >= 1");
    if (hcl_batcher_batch_size(data) > m->opt.max_batch)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "calibrate: batcher batch %lld exceeds max_batch %lld",
                         (long long)hcl_batcher_batch_size(data), (long long)m->opt.max_batch);
    const hcl_tensor *probe = NULL;
    int has_labels = 0;
    hcl_batcher_probe(data, &probe, &has_labels);
    if (probe->ctx != m->ctx) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "calibrate: the batcher belongs to another context");
    /* the batcher's sample shape and dtype must fit the model before anything runs */
    const nn_node *in = &m->nodes[0];
    int ok = !in->tokens && hcl_dtype_is_float(probe->dtype) && probe->rank == in->rank + 1;
    for (int i = 0; ok && i < in->rank; i++) ok = probe->shape[i + 1] == in->shape[i];
    if (!ok) return hcl_error(m->ctx, HCL_ERR_SHAPE, "calibrate: the batcher's samples do not fit the model's input");
    HCL_TRY(cal_begin(m, method, percentile));
    hcl_status st = HCL_OK;
    for (size_t done = 0; done < batches; done++) {
        const hcl_tensor *x, *y;
        size_t n = 0;
        if ((st = hcl_batcher_next(data, &x, &y, &n)) != HCL_OK || n == 0) break;
        if ((st = hcl_model_forward(m, x, 0)) != HCL_OK) break;
    }
    return cal_end(m, st);
}

static hcl_status quant_node(hcl_model *m, int id, nn_quant **q) {
    if (id < 0 || (size_t)id >= m->count) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "node %d does not exist", id);
    if (!m->quant || m->quant->mode != HCL_QUANT_MODE_FAKE || !m->nodes[id].quant)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "node %d (%s) is not a quantized layer (enable QAT or calibrate)",
                         id, m->nodes[id].name);
    *q = m->nodes[id].quant;
    return HCL_OK;
}

hcl_status hcl_model_quant_range(hcl_model *m, int id, float range[2]) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, range);
    nn_quant *q = NULL;
    HCL_TRY(quant_node(m, id, &q));
    return hcl_tensor_download_f32(q->in_range, range, 2);
}

/* ------------------------------------------------------------------ quantization state file */

#define QSTATE_FORMAT "halfcl-quant-state-1"

hcl_status hcl_model_quant_save(hcl_model *m, const char *path) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, path);
    if (!m->quant || m->quant->mode != HCL_QUANT_MODE_FAKE)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "quant_save: quantization is not enabled (hcl_model_enable_qat)");
    size_t nq = 0;
    for (size_t i = 0; i < m->count; i++) nq += m->nodes[i].quant != NULL;
    hcl_safetensors_entry *e = calloc(2 * nq, sizeof *e);
    float *r = calloc(2 * nq, sizeof *r);
    int32_t *obs = calloc(nq, sizeof *obs);
    char(*names)[NN_NAME_MAX + 24] = calloc(2 * nq, sizeof *names);
    hcl_status st = e && r && obs && names ? HCL_OK : hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    static const int64_t two = 2, one = 1;
    size_t k = 0;
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        nn_quant *q = m->nodes[i].quant;
        if (!q) continue;
        st = hcl_tensor_download_f32(q->in_range, r + 2 * k, 2);
        obs[k] = q->observed;
        snprintf(names[2 * k], sizeof names[0], "%s.input_range", m->nodes[i].name);
        snprintf(names[2 * k + 1], sizeof names[0], "%s.input_observed", m->nodes[i].name);
        e[2 * k] = (hcl_safetensors_entry){names[2 * k], HCL_F32, 1, &two, r + 2 * k, 8};
        e[2 * k + 1] = (hcl_safetensors_entry){names[2 * k + 1], HCL_I32, 1, &one, obs + k, 4};
        k++;
    }
    char mom[32], ob[8];
    snprintf(mom, sizeof mom, "%.9g", (double)m->quant->cfg.momentum);
    snprintf(ob, sizeof ob, "%d", m->quant->cfg.observe);
    hcl_safetensors_meta meta[] = {{"halfcl.format", QSTATE_FORMAT}, {"halfcl.qat.momentum", mom}, {"halfcl.qat.observe", ob}};
    if (st == HCL_OK) st = hcl_safetensors_save(m->ctx, path, e, 2 * nq, meta, 3);
    free(e);
    free(r);
    free(obs);
    free(names);
    return st;
}

/* The tensor `name` of a loaded file with dtype and shape (rank dims), or a format error. */
static hcl_status want(hcl_model *m, const hcl_safetensors *f, const char *path, const char *name, hcl_dtype dt, int rank,
                       const int64_t *shape, const hcl_safetensors_tensor **t) {
    *t = hcl_safetensors_find(f, name);
    if (!*t) return hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: tensor %s is missing", path, name);
    if ((*t)->dtype != dt)
        return hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %s is %s, expected %s", path, name, hcl_dtype_name((*t)->dtype),
                         hcl_dtype_name(dt));
    int ok = (*t)->rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = (*t)->shape[i] == shape[i];
    if (!ok) {
        char want_s[96] = "", got[96] = "";
        for (int i = 0, u = 0; i < rank && u < 80; i++) u += snprintf(want_s + u, sizeof want_s - (size_t)u, "%s%lld", i ? "," : "", (long long)shape[i]);
        for (int i = 0, u = 0; i < (*t)->rank && u < 80; i++)
            u += snprintf(got + u, sizeof got - (size_t)u, "%s%lld", i ? "," : "", (long long)(*t)->shape[i]);
        return hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %s has shape (%s), the model needs (%s)", path, name, got, want_s);
    }
    return HCL_OK;
}

/* Every tensor of the file must be one the loader expects (names built by `known`). */
static hcl_status no_strangers(hcl_model *m, const hcl_safetensors *f, const char *path, size_t expected) {
    if (hcl_safetensors_count(f) != expected) {
        return hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %zu tensors, the model has %zu (another model?)", path,
                         hcl_safetensors_count(f), expected);
    }
    return HCL_OK;
}

hcl_status hcl_model_quant_load(hcl_model *m, const char *path) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, path);
    HCL_TRY(check_built(m, "quant_load"));
    hcl_safetensors *f = NULL;
    HCL_TRY(hcl_safetensors_load(m->ctx, path, &f));
    hcl_status st = HCL_OK;
    const char *fmt = hcl_safetensors_metadata(f, "halfcl.format");
    const char *mom = hcl_safetensors_metadata(f, "halfcl.qat.momentum");
    const char *ob = hcl_safetensors_metadata(f, "halfcl.qat.observe");
    hcl_qat_config cfg;
    hcl_qat_config_init(&cfg);
    if (!fmt || strcmp(fmt, QSTATE_FORMAT) != 0) st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: not a halfcl quantization state file", path);
    if (st == HCL_OK) {
        char *end = NULL;
        cfg.momentum = mom ? strtof(mom, &end) : NAN;
        int okm = mom && end && *end == '\0' && cfg.momentum > 0.0f && cfg.momentum <= 1.0f;
        int oko = ob && (!strcmp(ob, "0") || !strcmp(ob, "1"));
        if (!okm || !oko) st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: bad halfcl.qat.momentum / halfcl.qat.observe metadata", path);
        else cfg.observe = ob[0] == '1';
    }
    size_t nq = 0;
    for (size_t i = 0; i < m->count; i++) nq += nn_quant_eligible(&m->nodes[i]);
    if (st == HCL_OK) st = no_strangers(m, f, path, 2 * nq);
    float *r = calloc(2 * m->count, sizeof *r);
    int32_t *obs = calloc(m->count, sizeof *obs);
    if (st == HCL_OK && (!r || !obs)) st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    static const int64_t two = 2, one = 1;
    char name[NN_NAME_MAX + 24];
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        if (!nn_quant_eligible(&m->nodes[i])) continue;
        const hcl_safetensors_tensor *t = NULL;
        snprintf(name, sizeof name, "%s.input_range", m->nodes[i].name);
        if ((st = want(m, f, path, name, HCL_F32, 1, &two, &t)) != HCL_OK) break;
        memcpy(r + 2 * i, t->data, 8);
        snprintf(name, sizeof name, "%s.input_observed", m->nodes[i].name);
        if ((st = want(m, f, path, name, HCL_I32, 1, &one, &t)) != HCL_OK) break;
        memcpy(obs + i, t->data, 4);
        if ((obs[i] != 0 && obs[i] != 1) || !isfinite(r[2 * i]) || !isfinite(r[2 * i + 1]) || r[2 * i] > r[2 * i + 1])
            st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: the range of %s is invalid ([%g, %g], observed %d)", path,
                           m->nodes[i].name, (double)r[2 * i], (double)r[2 * i + 1], (int)obs[i]);
    }
    /* apply: enable quantization if it was not, then the ranges */
    int fresh = st == HCL_OK && !m->quant;
    if (fresh) st = create_states(m);
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        nn_quant *q = m->nodes[i].quant;
        if (!q) continue;
        st = hcl_tensor_upload_f32(q->in_range, r + 2 * i, 2);
        q->observed = obs[i];
    }
    if (st == HCL_OK) {
        m->quant->cfg = cfg;
        m->quant->mode = HCL_QUANT_MODE_FAKE;
    } else if (fresh && m->quant) {
        free_states(m);
    }
    free(r);
    free(obs);
    hcl_safetensors_free(f);
    return st;
}

/* ------------------------------------------------------------------ int8 export and loading */

#define INT8_FORMAT "int8"

/* Entries with owned names and data. */
typedef struct entry_list {
    hcl_safetensors_entry *e;
    char **names;
    void **data;
    int64_t (*shapes)[HCL_MAX_RANK];
    size_t n, cap;
} entry_list;

static void entries_free(entry_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
        free(l->data[i]);
    }
    free(l->e);
    free(l->names);
    free(l->data);
    free(l->shapes);
}

/* Adds an entry named "<a><b>" whose data (bytes, malloc'ed) the list then owns. */
static hcl_status entries_add(hcl_model *m, entry_list *l, const char *a, const char *b, hcl_dtype dt, int rank,
                              const int64_t *shape, void *data, size_t bytes) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        hcl_safetensors_entry *e = realloc(l->e, cap * sizeof *e);
        if (e) l->e = e;
        char **nm = realloc(l->names, cap * sizeof *nm);
        if (nm) l->names = nm;
        void **d = realloc(l->data, cap * sizeof *d);
        if (d) l->data = d;
        int64_t(*s)[HCL_MAX_RANK] = realloc(l->shapes, cap * sizeof *s);
        if (s) l->shapes = s;
        if (!e || !nm || !d || !s) {
            free(data);
            return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        }
        l->cap = cap;
    }
    size_t len = strlen(a) + strlen(b) + 1;
    char *name = malloc(len);
    if (!name) {
        free(data);
        return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    snprintf(name, len, "%s%s", a, b);
    size_t i = l->n++;
    l->names[i] = name;
    l->data[i] = data;
    memcpy(l->shapes[i], shape, (size_t)rank * sizeof *shape);
    l->e[i] = (hcl_safetensors_entry){name, dt, rank, NULL, data, bytes};
    return HCL_OK;
}

/* Downloads a device tensor into a new entry of its dtype and shape. */
static hcl_status entries_add_tensor(hcl_model *m, entry_list *l, const char *a, const char *b, const hcl_tensor *t) {
    size_t bytes = hcl_tensor_bytes(t);
    void *p = malloc(bytes ? bytes : 1);
    if (!p) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_tensor_download_raw(t, p, bytes);
    if (st != HCL_OK) {
        free(p);
        return st;
    }
    return entries_add(m, l, a, b, t->dtype, t->rank, t->shape, p, bytes);
}

/* A parameter's F32 values (masters) as a new entry. */
static hcl_status entries_add_param(hcl_model *m, entry_list *l, size_t idx) {
    hcl_tensor *w = hcl_params_weight(m->params, idx);
    float *p = malloc(w->count * sizeof *p);
    if (!p) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_params_download(m->params, idx, p, w->count);
    if (st != HCL_OK) {
        free(p);
        return st;
    }
    return entries_add(m, l, hcl_params_name(m->params, idx), "", HCL_F32, w->rank, w->shape, p, w->count * sizeof *p);
}

static const nn_node *node_of_weight(const hcl_model *m, size_t idx) {
    for (size_t i = 0; i < m->count; i++)
        if (m->nodes[i].quant && m->nodes[i].w_idx == (long)idx) return &m->nodes[i];
    return NULL;
}

hcl_status hcl_model_export_int8(hcl_model *m, const char *path) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, path);
    HCL_TRY(check_built(m, "export_int8"));
    if (!m->quant || m->quant->mode != HCL_QUANT_MODE_FAKE)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "export_int8: quantization is not enabled (QAT or calibrate first)");
    for (size_t i = 0; i < m->count; i++)
        if (m->nodes[i].quant && !m->nodes[i].quant->observed)
            return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "export_int8: the input range of %s was never observed",
                             m->nodes[i].name);
    entry_list l = {0};
    hcl_status st = HCL_OK;
    hcl_tensor *w8 = NULL;
    size_t np = hcl_params_count(m->params);
    for (size_t idx = 0; st == HCL_OK && idx < np; idx++) {
        const nn_node *n = node_of_weight(m, idx);
        if (!n) {
            st = entries_add_param(m, &l, idx);
            continue;
        }
        nn_quant *q = n->quant;
        hcl_tensor *src = hcl_params_master(m->params, idx);
        if (!src) src = hcl_params_weight(m->params, idx); /* pure_f16 */
        /* on the device, with the formulas of the fake-quant forward, from the F32 master */
        if ((st = hcl_tensor_create(m->ctx, HCL_I8, n->wrank, n->wshape, &w8)) != HCL_OK) break;
        if ((st = hcl_quant_observe(m->ctx, q->w_range, src, 0, 1.0f, 1)) != HCL_OK) break;
        if ((st = hcl_quant_params_from_range(m->ctx, q->w_scale, NULL, q->w_range, Q_SYM)) != HCL_OK) break;
        if ((st = hcl_quantize(m->ctx, w8, src, q->w_scale, NULL, Q_SYM, 0)) != HCL_OK) break;
        if ((st = hcl_quant_params_from_range(m->ctx, q->in_scale, q->in_zp, q->in_range, Q_ASYM)) != HCL_OK) break;
        if ((st = entries_add_tensor(m, &l, n->name, ".weight", w8)) != HCL_OK) break;
        if ((st = entries_add_tensor(m, &l, n->name, ".weight_scale", q->w_scale)) != HCL_OK) break;
        if ((st = entries_add_tensor(m, &l, n->name, ".input_scale", q->in_scale)) != HCL_OK) break;
        if ((st = entries_add_tensor(m, &l, n->name, ".input_zero_point", q->in_zp)) != HCL_OK) break;
        hcl_tensor_free(w8);
        w8 = NULL;
    }
    hcl_tensor_free(w8);
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        const nn_node *n = &m->nodes[i];
        if (n->kind != HCL_LAYER_BATCHNORM2D) continue;
        if ((st = entries_add_tensor(m, &l, n->name, ".running_mean", n->run_mean)) != HCL_OK) break;
        st = entries_add_tensor(m, &l, n->name, ".running_var", n->run_var);
    }
    for (size_t i = 0; i < l.n; i++) l.e[i].shape = l.shapes[i];
    hcl_safetensors_meta meta[] = {{"halfcl.format", INT8_FORMAT},
                                   {"halfcl.weight_quant", "int8_symmetric_per_channel"},
                                   {"halfcl.input_quant", "uint8_asymmetric_per_tensor"},
                                   {"halfcl.policy", hcl_precision_name(m->policy)}};
    if (st == HCL_OK) st = hcl_safetensors_save(m->ctx, path, l.e, l.n, meta, 4);
    entries_free(&l);
    return st;
}

/* Checked values of one quantized layer, read from the file before anything changes. */
typedef struct int8_layer {
    const hcl_safetensors_tensor *w, *ws, *is, *iz;
} int8_layer;

hcl_status hcl_model_load_int8(hcl_model *m, const char *path) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, path);
    HCL_TRY(check_built(m, "load_int8"));
    hcl_safetensors *f = NULL;
    HCL_TRY(hcl_safetensors_load(m->ctx, path, &f));
    hcl_status st = HCL_OK;
    const char *fmt = hcl_safetensors_metadata(f, "halfcl.format");
    const char *wq = hcl_safetensors_metadata(f, "halfcl.weight_quant");
    const char *iq = hcl_safetensors_metadata(f, "halfcl.input_quant");
    if (!fmt || strcmp(fmt, INT8_FORMAT) != 0)
        st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: not a halfcl int8 export (halfcl.format is %s)", path, fmt ? fmt : "missing");
    else if (!wq || strcmp(wq, "int8_symmetric_per_channel") != 0 || !iq || strcmp(iq, "uint8_asymmetric_per_tensor") != 0)
        st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: unsupported quantization scheme (%s, %s)", path, wq ? wq : "none",
                       iq ? iq : "none");
    int8_layer *ly = calloc(m->count, sizeof *ly);
    if (st == HCL_OK && !ly) st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    size_t expected = 0, np = hcl_params_count(m->params);
    char name[NN_NAME_MAX + 24];
    static const int64_t one = 1;
    /* every parameter, quantized or F32, with its shape and sane values */
    for (size_t idx = 0; st == HCL_OK && idx < np; idx++) {
        hcl_tensor *w = hcl_params_weight(m->params, idx);
        const char *pn = hcl_params_name(m->params, idx);
        const nn_node *n = NULL;
        for (size_t i = 0; i < m->count; i++)
            if (nn_quant_eligible(&m->nodes[i]) && m->nodes[i].w_idx == (long)idx) n = &m->nodes[i];
        const hcl_safetensors_tensor *t = NULL;
        if (!n) {
            if ((st = want(m, f, path, pn, HCL_F32, w->rank, w->shape, &t)) != HCL_OK) break;
            for (size_t k = 0; k < t->count && st == HCL_OK; k++) {
                float v;
                memcpy(&v, (const char *)t->data + 4 * k, 4);
                if (!isfinite(v)) st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %s has a non-finite value", path, pn);
            }
            expected++;
            continue;
        }
        int8_layer *L = &ly[n - m->nodes];
        int64_t k = n->wshape[0];
        if ((st = want(m, f, path, pn, HCL_I8, n->wrank, n->wshape, &L->w)) != HCL_OK) break;
        snprintf(name, sizeof name, "%s.weight_scale", n->name);
        if ((st = want(m, f, path, name, HCL_F32, 1, &k, &L->ws)) != HCL_OK) break;
        snprintf(name, sizeof name, "%s.input_scale", n->name);
        if ((st = want(m, f, path, name, HCL_F32, 1, &one, &L->is)) != HCL_OK) break;
        snprintf(name, sizeof name, "%s.input_zero_point", n->name);
        if ((st = want(m, f, path, name, HCL_I32, 1, &one, &L->iz)) != HCL_OK) break;
        expected += 4;
        for (int64_t c = 0; c <= k && st == HCL_OK; c++) {
            float s;
            memcpy(&s, c < k ? (const char *)L->ws->data + 4 * c : L->is->data, 4);
            if (!(s > 0.0f) || !isfinite(s))
                st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %s of %s is %g (scales must be finite and > 0)", path,
                               c < k ? "a weight scale" : "the input scale", n->name, (double)s);
        }
        int32_t z;
        memcpy(&z, L->iz->data, 4);
        if (st == HCL_OK && (z < 0 || z > 255))
            st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: the input zero point of %s is %d (not in 0..255)", path, n->name, (int)z);
        const int8_t *q8 = L->w->data;
        for (size_t e = 0; e < L->w->count && st == HCL_OK; e++)
            if (q8[e] == -128) st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %s holds -128 (symmetric int8 is -127..127)", path, pn);
    }
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        const nn_node *n = &m->nodes[i];
        if (n->kind != HCL_LAYER_BATCHNORM2D) continue;
        const hcl_safetensors_tensor *t = NULL;
        for (int s = 0; s < 2 && st == HCL_OK; s++) {
            snprintf(name, sizeof name, "%s.%s", n->name, s ? "running_var" : "running_mean");
            if ((st = want(m, f, path, name, HCL_F32, 1, n->wshape, &t)) != HCL_OK) break;
            for (size_t k = 0; k < t->count && st == HCL_OK; k++) {
                float v;
                memcpy(&v, (const char *)t->data + 4 * k, 4);
                if (!isfinite(v) || (s && v < 0.0f)) st = hcl_error(m->ctx, HCL_ERR_FORMAT, "%s: %s has a bad value %g", path, name, (double)v);
            }
            expected++;
        }
    }
    if (st == HCL_OK) st = no_strangers(m, f, path, expected);
    /* prepare, before the first change, everything but the uploads: the quantization states
     * (created when the model has none), an I8 weight per layer that has none, and the host values
     * of every parameter. A failure here (an allocation) frees what was made and changes nothing. */
    int fresh = 0;
    hcl_tensor **w8 = NULL; /* per node: a new I8 weight, adopted by the layer when the uploads start */
    float **vals = NULL;    /* per parameter: its F32 values (dequantized for the quantized weights) */
    if (st == HCL_OK && !m->quant) {
        st = create_states(m);
        fresh = st == HCL_OK;
    }
    if (st == HCL_OK) {
        w8 = calloc(m->count, sizeof *w8);
        vals = calloc(np, sizeof *vals);
        if (!w8 || !vals) st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        if (n->quant && !n->quant->w8) st = new_tensor(m, HCL_I8, n->wrank, n->wshape, &w8[i]);
    }
    for (size_t idx = 0; st == HCL_OK && idx < np; idx++) {
        const nn_node *n = node_of_weight(m, idx);
        const hcl_safetensors_tensor *t = n ? ly[n - m->nodes].w : hcl_safetensors_find(f, hcl_params_name(m->params, idx));
        if (!(vals[idx] = malloc(t->count * sizeof **vals))) {
            st = hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            break;
        }
        if (!n) {
            memcpy(vals[idx], t->data, t->count * sizeof **vals);
            continue;
        }
        /* the model's float weight = the dequantized one (also what a depthwise layer computes with) */
        const hcl_safetensors_tensor *ws = ly[n - m->nodes].ws;
        size_t per = t->count / (size_t)n->wshape[0];
        for (size_t e = 0; e < t->count; e++) {
            float sc;
            memcpy(&sc, (const char *)ws->data + 4 * (e / per), 4);
            vals[idx][e] = (float)((const int8_t *)t->data)[e] * sc;
        }
    }
    if (st != HCL_OK) {
        for (size_t i = 0; w8 && i < m->count; i++) drop_tensor(m, w8[i]);
        if (fresh) free_states(m);
    }
    /* apply: the layers' int8 state and weights, the other parameters, the statistics. Only a
     * device error can fail from here on; it leaves the parameters partly written, the model in
     * its mode (a fresh quantization state is freed again) */
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        nn_quant *q = n->quant;
        if (!q) continue;
        const int8_layer *L = &ly[i];
        if (w8[i]) {
            q->w8 = w8[i];
            w8[i] = NULL;
        }
        if ((st = hcl_tensor_upload_raw(q->w8, L->w->data, L->w->bytes)) != HCL_OK) break;
        if ((st = hcl_tensor_upload_raw(q->w_scale, L->ws->data, L->ws->bytes)) != HCL_OK) break;
        if ((st = hcl_tensor_upload_raw(q->in_scale, L->is->data, 4)) != HCL_OK) break;
        if ((st = hcl_tensor_upload_raw(q->in_zp, L->iz->data, 4)) != HCL_OK) break;
        if ((st = hcl_params_upload(m->params, (size_t)n->w_idx, vals[n->w_idx], L->w->count)) != HCL_OK) break;
        st = hcl_dequantize(m->ctx, q->wq, q->w8, q->w_scale, NULL, 0);
    }
    for (size_t idx = 0; st == HCL_OK && idx < np; idx++) {
        if (node_of_weight(m, idx)) continue;
        st = hcl_params_upload(m->params, idx, vals[idx], hcl_params_weight(m->params, idx)->count);
    }
    for (size_t i = 0; st == HCL_OK && i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        if (n->kind != HCL_LAYER_BATCHNORM2D) continue;
        snprintf(name, sizeof name, "%s.running_mean", n->name);
        if ((st = hcl_safetensors_load_tensor(m->ctx, f, name, n->run_mean, 0)) != HCL_OK) break;
        snprintf(name, sizeof name, "%s.running_var", n->name);
        st = hcl_safetensors_load_tensor(m->ctx, f, name, n->run_var, 0);
    }
    if (st == HCL_OK) {
        for (size_t i = 0; i < m->count; i++)
            if (m->nodes[i].quant) m->nodes[i].quant->observed = 0;
        m->quant->mode = HCL_QUANT_MODE_INT8;
    } else if (fresh && m->quant) {
        free_states(m);
    }
    for (size_t idx = 0; vals && idx < np; idx++) free(vals[idx]);
    free(vals);
    free(w8);
    free(ly);
    hcl_safetensors_free(f);
    return st;
}
