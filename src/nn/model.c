/* Model graph construction and build: nodes with input lists and per-sample shape checks, then at
 * build the fusion rewrites (ReLU after the max-pool it feeds, in-place activations, bias +
 * activation in the GEMM epilogue), parameter declaration and seeded init, the optimizer, and the
 * memory plan: every activation, gradient, argmax and accumulation buffer gets a lifetime on the
 * forward+backward timeline and an offset in one arena (first fit; the best of a few orders). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/nn_internal.h"

const char *const nn_kind_names[HCL_LAYER_COUNT_] = {
    "input", "conv2d", "maxpool2d", "avgpool2d", "global_avgpool", "batchnorm2d", "linear",
    "dropout", "flatten", "activation", "softmax", "add", "embedding", "pos_embedding", "layernorm",
    "attention", "rnn", "seq_pool"};
#define kind_names nn_kind_names

const char *hcl_layer_kind_name(hcl_layer_kind k) { return (unsigned)k < HCL_LAYER_COUNT_ ? kind_names[k] : NULL; }

void hcl_model_options_init(hcl_model_options *o, hcl_precision policy) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->max_batch = 64;
    o->init = HCL_WINIT_TORCH;
    o->loss = HCL_LOSS_CROSS_ENTROPY;
    hcl_optim_config_init(&o->optim, HCL_OPTIM_ADAM);
    hcl_scaler_config_init(&o->scaler, policy);
    o->fuse = 1;
    o->distill_temperature = 4.0f;
    o->distill_alpha = 0.9f;
}

hcl_status hcl_model_create(hcl_context *ctx, hcl_precision policy, hcl_model **out) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    if ((unsigned)policy >= HCL_PRECISION_COUNT_)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid precision policy %d", (int)policy);
    hcl_model *m = calloc(1, sizeof *m);
    if (!m) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->policy = policy;
    m->dt = hcl_precision_compute_dtype(policy);
    m->output = -1;
    *out = m;
    return HCL_OK;
}

void hcl_model_free(hcl_model *m) {
    if (!m) return;
    if (m->ctx) hcl_finish(m->ctx);
    nn_quant_free(m);
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        hcl_tensor_free(n->run_mean);
        hcl_tensor_free(n->run_var);
        hcl_tensor_free(n->save_mean);
        hcl_tensor_free(n->save_invstd);
        for (int k = 0; k < NN_MAX_STATE; k++) hcl_tensor_free(n->state[k]);
    }
    hcl_optimizer_free(m->optim);
    hcl_params_free(m->params);
    hcl_tensor_free(m->arena);
    hcl_tensor *scalars[] = {m->loss, m->loss_sum, m->correct, m->eval_loss, m->eval_loss_sum, m->eval_correct, m->ring};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) hcl_tensor_free(scalars[i]);
    free(m->ring_step);
    free(m->bufs);
    free(m->order);
    free(m->nodes);
    free(m);
}

/* ------------------------------------------------------------------ graph construction */

hcl_status nn_check_open(hcl_model *m) {
    if (m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is built: no layer can be added");
    return HCL_OK;
}

/* Resolves an input id (HCL_NN_PREV = last node) and checks it exists. */
hcl_status nn_resolve(hcl_model *m, int *id, const char *what) {
    if (*id == HCL_NN_PREV) *id = (int)m->count - 1;
    if (*id < 0 || (size_t)*id >= m->count)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: input node %d does not exist (the model has %zu nodes%s)",
                         what, *id, m->count, m->count ? "" : "; add an input first");
    return HCL_OK;
}

/* Appends a node of `kind` with inputs (already resolved) and output shape; names it. */
hcl_status nn_push(hcl_model *m, hcl_layer_kind kind, const int *in, int nin, int rank, const int64_t *shape_in,
                   nn_node **node, int *id) {
    /* shape_in often points into m->nodes (an input's shape), which the realloc below may move */
    int64_t shape[HCL_MAX_RANK] = {0};
    if (rank < 0 || rank > HCL_MAX_RANK) return hcl_error(m->ctx, HCL_ERR_SHAPE, "rank %d not in 0..%d", rank, HCL_MAX_RANK);
    for (int i = 0; i < rank; i++) shape[i] = shape_in[i];
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        nn_node *p = realloc(m->nodes, cap * sizeof *p);
        if (!p) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        m->nodes = p;
        m->cap = cap;
    }
    for (int i = 0; i < nin; i++)
        if (m->nodes[in[i]].tokens && kind != HCL_LAYER_EMBEDDING)
            return hcl_error(m->ctx, HCL_ERR_DTYPE, "%s: node %d (%s) gives token ids; only an embedding takes them",
                             kind_names[kind], in[i], m->nodes[in[i]].name);
    nn_node *n = &m->nodes[m->count];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->nin = nin;
    for (int i = 0; i < nin; i++) n->in[i] = in[i];
    n->rank = rank;
    n->sample = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 1)
            return hcl_error(m->ctx, HCL_ERR_SHAPE, "%s: output dim %d would be %lld (the input is too small)", kind_names[kind],
                             i, (long long)shape[i]);
        if ((uint64_t)shape[i] > (SIZE_MAX / 8) / n->sample) /* 8: room for F32 bytes and a batch */
            return hcl_error(m->ctx, HCL_ERR_OVERFLOW, "%s: the per-sample output size overflows at dim %d", kind_names[kind], i);
        n->shape[i] = shape[i];
        n->sample *= (size_t)shape[i];
    }
    n->w_idx = n->b_idx = -1;
    n->tied = n->padding_idx = -1;
    n->b_out = n->b_grad = n->b_aux = -1;
    for (int i = 0; i < HCL_NN_MAX_INPUTS; i++) n->b_tmp[i] = -1;
    /* the time axis flows through layers that keep a (T, ...) shape: a consumer that keeps dim 0
     * of a sequence input is a sequence; one that drops it (pooling) ends it */
    for (int i = 0; i < nin; i++) {
        const nn_node *p = &m->nodes[in[i]];
        if (p->seq && kind != HCL_LAYER_SEQ_POOL && kind != HCL_LAYER_FLATTEN && rank >= 1 && shape[0] == p->shape[0])
            n->seq = 1;
    }
    snprintf(n->name, sizeof n->name, "%s_%zu", kind_names[kind], m->count);
    if (id) *id = (int)m->count;
    m->count++;
    *node = n;
    return HCL_OK;
}

/* A weight of this shape has a size (elements, F32 bytes) that fits size_t. */
static hcl_status check_weight(hcl_model *m, const char *what, int rank, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] > 0 && (uint64_t)shape[i] > SIZE_MAX / 8 / n)
            return hcl_error(m->ctx, HCL_ERR_OVERFLOW, "%s: the weight's size overflows at dim %d", what, i);
        n *= shape[i] > 0 ? (size_t)shape[i] : 1;
    }
    return HCL_OK;
}

#define OPEN(m)                                     \
    do {                                            \
        if (!(m)) return HCL_ERR_NULL_POINTER;      \
        HCL_TRY(nn_check_open(m));                     \
    } while (0)

hcl_status hcl_model_input(hcl_model *m, int rank, const int64_t *shape, int *id) {
    OPEN(m);
    HCL_CHECK_NULL(m->ctx, shape);
    if (m->count) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the input must be the first node and the only one");
    if (rank < 1 || rank >= HCL_MAX_RANK)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "input: per-sample rank %d not in 1..%d", rank, HCL_MAX_RANK - 1);
    nn_node *n = NULL;
    return nn_push(m, HCL_LAYER_INPUT, NULL, 0, rank, shape, &n, id);
}

static hcl_status need_chw(hcl_model *m, int in, const char *what) {
    const nn_node *p = &m->nodes[in];
    if (p->rank != 3)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "%s needs a (C,H,W) input; node %d (%s) gives rank %d", what, in, p->name,
                         p->rank);
    return HCL_OK;
}

static hcl_status add_conv(hcl_model *m, int in, int out_ch, int kernel, int stride, int pad, int depthwise, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "conv2d"));
    HCL_TRY(need_chw(m, in, "conv2d"));
    if (out_ch < 1 || kernel < 1 || stride < 1 || pad < 0)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "conv2d: out_channels %d, kernel %d, stride %d, pad %d", out_ch,
                         kernel, stride, pad);
    const nn_node *p = &m->nodes[in];
    int64_t c = p->shape[0];
    int64_t sh[3] = {depthwise ? c : out_ch, hcl_conv2d_out_size(p->shape[1], kernel, stride, pad, 1),
                     hcl_conv2d_out_size(p->shape[2], kernel, stride, pad, 1)};
    const int64_t wsh[4] = {sh[0], depthwise ? 1 : c, kernel, kernel};
    if (sh[1] >= 1 && sh[2] >= 1) HCL_TRY(check_weight(m, "conv2d", 4, wsh)); /* nn_push reports an empty output */
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, HCL_LAYER_CONV2D, &in, 1, 3, sh, &n, id));
    n->out_ch = (int)sh[0];
    n->kernel = kernel;
    n->stride = stride;
    n->pad = pad;
    n->groups = depthwise ? (int)c : 1;
    n->has_bias = 1;
    n->wrank = 4;
    n->wshape[0] = sh[0];
    n->wshape[1] = depthwise ? 1 : c;
    n->wshape[2] = n->wshape[3] = kernel;
    if (depthwise) snprintf(n->name, sizeof n->name, "dwconv2d_%zu", m->count - 1);
    return HCL_OK;
}

hcl_status hcl_model_conv2d(hcl_model *m, int in, int out_ch, int kernel, int stride, int pad, int *id) {
    return add_conv(m, in, out_ch, kernel, stride, pad, 0, id);
}

hcl_status hcl_model_dwsep_conv2d(hcl_model *m, int in, int out_ch, int kernel, int stride, int pad, int *id) {
    OPEN(m);
    if (out_ch < 1) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "dwsep_conv2d: out_channels %d", out_ch);
    int dw = -1;
    HCL_TRY(add_conv(m, in, 1, kernel, stride, pad, 1, &dw));
    HCL_TRY(add_conv(m, dw, out_ch, 1, 1, 0, 0, id));
    snprintf(m->nodes[m->count - 1].name, NN_NAME_MAX, "pwconv2d_%zu", m->count - 1);
    return HCL_OK;
}

static hcl_status add_pool(hcl_model *m, hcl_layer_kind kind, int in, int kernel, int stride, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, kind_names[kind]));
    HCL_TRY(need_chw(m, in, kind_names[kind]));
    if (kernel < 1 || stride < 1)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: kernel %d, stride %d (both >= 1)", kind_names[kind], kernel, stride);
    const nn_node *p = &m->nodes[in];
    int64_t sh[3] = {p->shape[0], hcl_conv2d_out_size(p->shape[1], kernel, stride, 0, 1),
                     hcl_conv2d_out_size(p->shape[2], kernel, stride, 0, 1)};
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, kind, &in, 1, 3, sh, &n, id));
    n->kernel = kernel;
    n->stride = stride;
    return HCL_OK;
}

hcl_status hcl_model_maxpool2d(hcl_model *m, int in, int kernel, int stride, int *id) {
    return add_pool(m, HCL_LAYER_MAXPOOL2D, in, kernel, stride, id);
}
hcl_status hcl_model_avgpool2d(hcl_model *m, int in, int kernel, int stride, int *id) {
    return add_pool(m, HCL_LAYER_AVGPOOL2D, in, kernel, stride, id);
}

hcl_status hcl_model_global_avgpool(hcl_model *m, int in, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "global_avgpool"));
    HCL_TRY(need_chw(m, in, "global_avgpool"));
    nn_node *n = NULL;
    return nn_push(m, HCL_LAYER_GLOBAL_AVGPOOL, &in, 1, 1, m->nodes[in].shape, &n, id);
}

hcl_status hcl_model_batchnorm2d(hcl_model *m, int in, float momentum, float eps, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "batchnorm2d"));
    HCL_TRY(need_chw(m, in, "batchnorm2d"));
    if (!(momentum >= 0.0f && momentum <= 1.0f) || !(eps > 0.0f) || isinf(eps))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "batchnorm2d: momentum %g in [0,1], eps %g > 0", (double)momentum,
                         (double)eps);
    nn_node *n = NULL;
    int64_t sh[3];
    memcpy(sh, m->nodes[in].shape, sizeof sh);
    HCL_TRY(nn_push(m, HCL_LAYER_BATCHNORM2D, &in, 1, 3, sh, &n, id));
    n->momentum = momentum;
    n->eps = eps;
    n->wrank = 1;
    n->wshape[0] = sh[0];
    n->has_bias = 1;
    return HCL_OK;
}

hcl_status hcl_model_linear(hcl_model *m, int in, int out_features, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "linear"));
    if (out_features < 1) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "linear: out_features %d < 1", out_features);
    const nn_node *p = &m->nodes[in];
    int64_t sh[HCL_MAX_RANK];
    memcpy(sh, p->shape, sizeof sh);
    int64_t fin = sh[p->rank - 1];
    sh[p->rank - 1] = out_features;
    const int64_t wsh[2] = {out_features, fin};
    HCL_TRY(check_weight(m, "linear", 2, wsh));
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, HCL_LAYER_LINEAR, &in, 1, m->nodes[in].rank, sh, &n, id));
    n->out_ch = out_features;
    n->has_bias = 1;
    n->wrank = 2;
    n->wshape[0] = out_features;
    n->wshape[1] = fin;
    return HCL_OK;
}

hcl_status hcl_model_dropout(hcl_model *m, int in, float p, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "dropout"));
    if (!(p >= 0.0f && p < 1.0f)) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "dropout: p %g not in [0,1)", (double)p);
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, HCL_LAYER_DROPOUT, &in, 1, m->nodes[in].rank, m->nodes[in].shape, &n, id));
    n->p = p;
    return HCL_OK;
}

hcl_status hcl_model_flatten(hcl_model *m, int in, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "flatten"));
    int64_t sh[1] = {(int64_t)m->nodes[in].sample};
    nn_node *n = NULL;
    return nn_push(m, HCL_LAYER_FLATTEN, &in, 1, 1, sh, &n, id);
}

hcl_status hcl_model_activation(hcl_model *m, int in, hcl_activation act, float alpha, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "activation"));
    if ((unsigned)act >= HCL_ACT_COUNT_ || act == HCL_ACT_NONE)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "activation: invalid activation %d", (int)act);
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, HCL_LAYER_ACTIVATION, &in, 1, m->nodes[in].rank, m->nodes[in].shape, &n, id));
    n->act = act;
    n->alpha = alpha;
    snprintf(n->name, sizeof n->name, "%s_%zu", hcl_activation_name(act), m->count - 1);
    return HCL_OK;
}

hcl_status hcl_model_softmax(hcl_model *m, int in, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "softmax"));
    nn_node *n = NULL;
    return nn_push(m, HCL_LAYER_SOFTMAX, &in, 1, m->nodes[in].rank, m->nodes[in].shape, &n, id);
}

hcl_status hcl_model_add(hcl_model *m, int a, int b, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &a, "add"));
    HCL_TRY(nn_resolve(m, &b, "add"));
    const nn_node *pa = &m->nodes[a], *pb = &m->nodes[b];
    int same = pa->rank == pb->rank;
    for (int i = 0; same && i < pa->rank; i++) same = pa->shape[i] == pb->shape[i];
    if (!same) return hcl_error(m->ctx, HCL_ERR_SHAPE, "add: %s and %s have different shapes", pa->name, pb->name);
    int in[2] = {a, b};
    nn_node *n = NULL;
    return nn_push(m, HCL_LAYER_ADD, in, 2, pa->rank, pa->shape, &n, id);
}

size_t hcl_model_node_count(const hcl_model *m) { return m ? m->count : 0; }
hcl_layer_kind hcl_model_node_kind(const hcl_model *m, int id) {
    return m && id >= 0 && (size_t)id < m->count ? m->nodes[id].kind : HCL_LAYER_COUNT_;
}
const char *hcl_model_node_name(const hcl_model *m, int id) {
    return m && id >= 0 && (size_t)id < m->count ? m->nodes[id].name : NULL;
}
int hcl_model_node_shape(const hcl_model *m, int id, int64_t shape[HCL_MAX_RANK]) {
    if (!m || id < 0 || (size_t)id >= m->count) return 0;
    if (shape) memcpy(shape, m->nodes[id].shape, sizeof m->nodes[id].shape);
    return m->nodes[id].rank;
}

hcl_context *hcl_model_context(const hcl_model *m) { return m ? m->ctx : NULL; }
hcl_precision hcl_model_policy(const hcl_model *m) { return m ? m->policy : HCL_PRECISION_COUNT_; }
hcl_dtype hcl_model_dtype(const hcl_model *m) { return m ? m->dt : HCL_DTYPE_COUNT_; }
hcl_params *hcl_model_params(hcl_model *m) { return m ? m->params : NULL; }
hcl_optimizer *hcl_model_optimizer(hcl_model *m) { return m ? m->optim : NULL; }

/* ------------------------------------------------------------------ build: analysis */

static void count_consumers(hcl_model *m) {
    for (size_t i = 0; i < m->count; i++) m->nodes[i].consumers = 0;
    for (size_t i = 0; i < m->count; i++)
        for (int s = 0; s < m->nodes[i].nin; s++) m->nodes[m->nodes[i].in[s]].consumers++;
}

/* Activations whose gradient follows from their output (ReLU, LeakyReLU with slope >= 0). */
static int act_from_output(hcl_activation a, float alpha) {
    return a == HCL_ACT_RELU || (a == HCL_ACT_LEAKY_RELU && alpha >= 0.0f);
}

/* conv -> ReLU -> maxpool becomes conv -> maxpool -> ReLU: max and a monotone activation commute,
 * and the gradients match (the window's winner is the same; ReLU' of the max). The ReLU then runs
 * on the pooled tensor and the conv output is dead after the pool's forward. */
static void move_relu_after_maxpool(hcl_model *m) {
    for (size_t pa = 0; pa + 1 < m->count; pa++) {
        nn_node *a = &m->nodes[m->order[pa]];
        if (a->kind != HCL_LAYER_ACTIVATION || !act_from_output(a->act, a->alpha) || a->consumers != 1) continue;
        int aid = m->order[pa];
        if (aid == m->output) continue;
        int mid = -1;
        size_t pm = 0;
        for (size_t q = pa + 1; q < m->count; q++)
            for (int s = 0; s < m->nodes[m->order[q]].nin; s++)
                if (m->nodes[m->order[q]].in[s] == aid) mid = m->order[q], pm = q;
        if (mid < 0) continue;
        nn_node *mp = &m->nodes[mid];
        if (mp->kind != HCL_LAYER_MAXPOOL2D || mid == m->output || mp->consumers < 1) continue;
        int cid = a->in[0];
        /* consumers of the pool now read the activation */
        for (size_t i = 0; i < m->count; i++)
            for (int s = 0; s < m->nodes[i].nin; s++)
                if (m->nodes[i].in[s] == mid) m->nodes[i].in[s] = aid;
        mp->in[0] = cid;
        a->in[0] = mid;
        a->rank = mp->rank;
        memcpy(a->shape, mp->shape, sizeof a->shape);
        a->sample = mp->sample;
        /* execution order: the activation right after the pool */
        for (size_t q = pa; q < pm; q++) m->order[q] = m->order[q + 1];
        m->order[pm] = aid;
        count_consumers(m);
        pa = 0; /* rescan (cheap; graphs are small) */
    }
}

static void plan_fusion(hcl_model *m) {
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        n->out_root = n->grad_root = (int)i;
        n->epi_act = HCL_ACT_NONE;
    }
    if (!m->opt.fuse) goto aliases;
    move_relu_after_maxpool(m);
    for (size_t pos = 0; pos < m->count; pos++) {
        int id = m->order[pos];
        nn_node *a = &m->nodes[id];
        if (a->kind != HCL_LAYER_ACTIVATION || !act_from_output(a->act, a->alpha)) continue;
        nn_node *p = &m->nodes[a->in[0]];
        if (p->consumers != 1) continue;
        switch (p->kind) {
        case HCL_LAYER_CONV2D: case HCL_LAYER_LINEAR: case HCL_LAYER_MAXPOOL2D: case HCL_LAYER_AVGPOOL2D:
        case HCL_LAYER_GLOBAL_AVGPOOL: case HCL_LAYER_BATCHNORM2D: case HCL_LAYER_ADD: case HCL_LAYER_DROPOUT:
            break;
        default:
            continue;
        }
        a->inplace = 1;
        if (p->kind == HCL_LAYER_LINEAR) {
            a->in_epilogue = 1;
            p->epi_act = a->act;
            p->epi_alpha = a->alpha;
        }
    }
aliases:
    /* roots: in-place activations and flattens share their input's output buffer; their gradient
     * buffer too when they are the input's only consumer */
    for (size_t pos = 0; pos < m->count; pos++) {
        int id = m->order[pos];
        nn_node *n = &m->nodes[id];
        if (n->inplace || n->kind == HCL_LAYER_FLATTEN) {
            nn_node *p = &m->nodes[n->in[0]];
            n->out_root = p->out_root;
            if (p->consumers == 1) n->grad_root = p->grad_root;
        }
    }
}

static void analyse_grads(hcl_model *m) {
    for (size_t pos = 0; pos < m->count; pos++) {
        nn_node *n = &m->nodes[m->order[pos]];
        n->requires_grad = nn_has_params(n);
        for (int s = 0; s < n->nin; s++) n->requires_grad |= m->nodes[n->in[s]].requires_grad;
    }
    /* batch and layer norm's backward always write dx: give their input a gradient buffer */
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        for (int s = 0; s < n->nin; s++) {
            int need = m->nodes[n->in[s]].requires_grad && n->requires_grad;
            if ((n->kind == HCL_LAYER_BATCHNORM2D || n->kind == HCL_LAYER_LAYERNORM) && n->requires_grad) need = 1;
            n->need_dx[s] = need;
        }
    }
    for (size_t i = 0; i < m->count; i++) m->nodes[i].has_grad = 0;
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        for (int s = 0; s < n->nin; s++)
            if (n->need_dx[s]) m->nodes[n->in[s]].has_grad = 1;
    }
    m->nodes[m->output].has_grad = 1; /* the loss writes it */
    m->nodes[m->nodes[m->output].grad_root].has_grad = 1;
    /* the first gradient write of each node (backward order: latest consumer, lowest slot) */
    for (size_t i = 0; i < m->count; i++) {
        int best = -1, best_slot = -1;
        for (size_t j = 0; j < m->count; j++) {
            nn_node *c = &m->nodes[j];
            for (int s = 0; s < c->nin; s++) {
                if (c->in[s] != (int)i || !c->need_dx[s]) continue;
                if (best < 0 || c->pos > m->nodes[best].pos || (c->pos == m->nodes[best].pos && s < best_slot))
                    best = (int)j, best_slot = s;
            }
        }
        for (size_t j = 0; j < m->count; j++)
            for (int s = 0; s < m->nodes[j].nin; s++)
                if (m->nodes[j].in[s] == (int)i) m->nodes[j].first_writer[s] = (int)j == best && s == best_slot;
        if ((int)i == m->output) /* the loss writes the output's gradient first */
            for (size_t j = 0; j < m->count; j++)
                for (int s = 0; s < m->nodes[j].nin; s++)
                    if (m->nodes[j].in[s] == (int)i) m->nodes[j].first_writer[s] = 0;
    }
}

/* ------------------------------------------------------------------ build: memory plan */

static int new_buf(hcl_model *m, size_t bytes) {
    if (m->nbufs == m->cap_bufs) {
        size_t cap = m->cap_bufs ? m->cap_bufs * 2 : 32;
        nn_buffer *p = realloc(m->bufs, cap * sizeof *p);
        if (!p) return -1;
        m->bufs = p;
        m->cap_bufs = cap;
    }
    nn_buffer *b = &m->bufs[m->nbufs];
    b->bytes = (bytes + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN;
    b->first = INT32_MAX;
    b->last = -1;
    b->offset = 0;
    return (int)m->nbufs++;
}

static void touch(hcl_model *m, int buf, int t) {
    if (buf < 0) return;
    nn_buffer *b = &m->bufs[buf];
    if (t < b->first) b->first = t;
    if (t > b->last) b->last = t;
}

/* Timeline: forward of position p at p, the loss at N, backward of position p at 2N - p. */
#define T_FWD(n) ((n)->pos)
#define T_BWD(m, n) (2 * (int)(m)->count - (n)->pos)

static int uses_input_in_backward(const nn_node *n) {
    switch (n->kind) {
    case HCL_LAYER_CONV2D: case HCL_LAYER_LINEAR: case HCL_LAYER_BATCHNORM2D: return 1;
    case HCL_LAYER_EMBEDDING: case HCL_LAYER_LAYERNORM: case HCL_LAYER_ATTENTION: case HCL_LAYER_RNN: return 1;
    case HCL_LAYER_ACTIVATION: return !n->inplace;
    default: return 0;
    }
}
static int uses_output_in_backward(const nn_node *n) {
    return n->kind == HCL_LAYER_SOFTMAX || n->kind == HCL_LAYER_ATTENTION || (n->kind == HCL_LAYER_ACTIVATION && n->inplace);
}
/* Backward overwrites dx (so a non-first write goes through a temporary and an add). */
static int overwrites_dx(const nn_node *n) {
    return n->kind != HCL_LAYER_ADD && n->kind != HCL_LAYER_FLATTEN && n->kind != HCL_LAYER_POS_EMBEDDING;
}

/* Sort key of buffer b under a placement strategy (larger first). */
static double place_key(const nn_buffer *b, int strategy) {
    switch (strategy) {
    case 0: return (double)b->bytes;
    case 1: return -(double)b->first * 1e15 + (double)b->bytes;
    default: return (double)(b->last - b->first) * 1e15 + (double)b->bytes;
    }
}

/* First fit in the order of `strategy`: each buffer goes at the lowest offset that overlaps no
 * placed buffer live at the same time. Writes the offsets; returns the arena size. */
static size_t place(hcl_model *m, int strategy, int *idx, int *placed) {
    size_t nbufs = m->nbufs;
    for (size_t i = 0; i < nbufs; i++) idx[i] = (int)i;
    for (size_t i = 1; i < nbufs; i++) /* insertion sort: few buffers */
        for (size_t j = i; j > 0 && place_key(&m->bufs[idx[j]], strategy) > place_key(&m->bufs[idx[j - 1]], strategy); j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    size_t nplaced = 0, total = 0;
    for (size_t i = 0; i < nbufs; i++) {
        nn_buffer *b = &m->bufs[idx[i]];
        b->offset = 0;
        if (b->last < 0) continue; /* never used */
        size_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (size_t k = 0; k < nplaced; k++) {
                nn_buffer *q = &m->bufs[placed[k]];
                if (q->last < b->first || b->last < q->first) continue;                /* not live together */
                if (q->offset + q->bytes <= off || off + b->bytes <= q->offset) continue; /* no overlap */
                off = q->offset + q->bytes;
                moved = 1;
            }
        }
        b->offset = off;
        placed[nplaced++] = idx[i];
        if (off + b->bytes > total) total = off + b->bytes;
    }
    return total;
}

static hcl_status plan_memory(hcl_model *m) {
    size_t es = hcl_dtype_size(m->dt);
    size_t nb = (size_t)m->opt.max_batch;
    int N = (int)m->count;
    /* logical buffers for roots */
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        if (n->kind != HCL_LAYER_INPUT && n->out_root == (int)i) {
            if ((n->b_out = new_buf(m, nb * n->sample * es)) < 0) goto oom;
        }
        if (n->has_grad && n->grad_root == (int)i) {
            if ((n->b_grad = new_buf(m, nb * n->sample * es)) < 0) goto oom;
        }
        if (n->kind == HCL_LAYER_MAXPOOL2D && n->requires_grad) {
            if ((n->b_aux = new_buf(m, nb * n->sample * hcl_dtype_size(nn_argmax_dtype(n)))) < 0) goto oom;
        }
        for (int s = 0; s < n->nin; s++)
            if (n->need_dx[s] && !n->first_writer[s] && overwrites_dx(n)) {
                if ((n->b_tmp[s] = new_buf(m, nb * m->nodes[n->in[s]].sample * es)) < 0) goto oom;
            }
    }
    /* lifetimes */
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        int ob = m->nodes[n->out_root].b_out;
        touch(m, ob, T_FWD(n));
        if (uses_output_in_backward(n)) touch(m, ob, T_BWD(m, n));
        for (int s = 0; s < n->nin; s++) {
            nn_node *p = &m->nodes[n->in[s]];
            int pb = m->nodes[p->out_root].b_out;
            touch(m, pb, T_FWD(n));
            if (uses_input_in_backward(n)) touch(m, pb, T_BWD(m, n));
            if (n->need_dx[s]) {
                touch(m, m->nodes[p->grad_root].b_grad, T_BWD(m, n));
                touch(m, n->b_tmp[s], T_BWD(m, n));
            }
        }
        if (n->has_grad) touch(m, m->nodes[n->grad_root].b_grad, T_BWD(m, n));
        if (n->b_aux >= 0) {
            touch(m, n->b_aux, T_FWD(n));
            touch(m, n->b_aux, T_BWD(m, n));
        }
    }
    nn_node *o = &m->nodes[m->output];
    touch(m, m->nodes[o->out_root].b_out, 2 * N + 1); /* the output stays readable */
    touch(m, m->nodes[o->grad_root].b_grad, N);
    /* first fit under a few orders (by size, by first use, by lifetime); keep the smallest arena */
    size_t nbufs = m->nbufs;
    int *idx = malloc((nbufs + 1) * sizeof *idx);
    int *placed = malloc((nbufs + 1) * sizeof *placed);
    size_t *best = malloc((nbufs + 1) * sizeof *best);
    if (!idx || !placed || !best) {
        free(idx);
        free(placed);
        free(best);
        goto oom;
    }
    m->unplanned_bytes = 0;
    for (size_t i = 0; i < nbufs; i++) m->unplanned_bytes += m->bufs[i].bytes;
    size_t total = SIZE_MAX;
    for (int strategy = 0; strategy < 3; strategy++) {
        size_t t = place(m, strategy, idx, placed);
        if (t < total) {
            total = t;
            for (size_t i = 0; i < nbufs; i++) best[i] = m->bufs[i].offset;
        }
    }
    for (size_t i = 0; i < nbufs; i++) m->bufs[i].offset = best[i];
    free(idx);
    free(placed);
    free(best);
    m->arena_bytes = total ? total : NN_ALIGN;
    int64_t ab = (int64_t)m->arena_bytes;
    return hcl_tensor_create(m->ctx, HCL_U8, 1, &ab, &m->arena);
oom:
    return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
}

/* ------------------------------------------------------------------ build */

static hcl_status declare_params(hcl_model *m) {
    char name[NN_NAME_MAX + 16];
    for (size_t pos = 0; pos < m->count; pos++) {
        nn_node *n = &m->nodes[m->order[pos]];
        HCL_TRY(nn_seq_declare_extra(m, n));
        if (n->wrank == 0 || n->tied >= 0) continue;
        size_t idx;
        snprintf(name, sizeof name, "%s.weight", n->name);
        HCL_TRY(hcl_params_add(m->params, name, n->wrank, n->wshape, &idx));
        n->w_idx = (long)idx;
        if (n->has_bias) {
            snprintf(name, sizeof name, "%s.bias", n->name);
            HCL_TRY(hcl_params_add(m->params, name, 1, n->wshape, &idx));
            n->b_idx = (long)idx;
        }
    }
    for (size_t i = 0; i < m->count; i++) /* tied heads use their embedding's table */
        if (m->nodes[i].tied >= 0) m->nodes[i].w_idx = m->nodes[m->nodes[i].tied].w_idx;
    return HCL_OK;
}

static hcl_status init_params(hcl_model *m) {
    uint64_t seed = m->opt.seed;
    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        int handled = 0;
        HCL_TRY(nn_seq_init_params(m, n, &handled));
        if (handled || n->w_idx < 0 || n->tied >= 0) continue;
        if (n->kind == HCL_LAYER_BATCHNORM2D) {
            hcl_init one = hcl_init_constant(1.0f), zero = hcl_init_constant(0.0f);
            HCL_TRY(hcl_params_init(m->params, (size_t)n->w_idx, &one, seed));
            HCL_TRY(hcl_params_init(m->params, (size_t)n->b_idx, &zero, seed));
            continue;
        }
        int64_t fan_in, fan_out;
        hcl_init_fans(n->wrank, n->wshape, &fan_in, &fan_out);
        hcl_init w, b = hcl_init_constant(0.0f);
        switch (m->opt.init) {
        case HCL_WINIT_TORCH: {
            /* kaiming_uniform_(a = sqrt 5): bound = sqrt(6 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(fan_in) */
            w = hcl_init_he(0);
            w.gain = sqrtf(1.0f / 3.0f);
            float bound = 1.0f / sqrtf((float)fan_in);
            b = hcl_init_uniform(-bound, bound);
            break;
        }
        case HCL_WINIT_HE_UNIFORM: w = hcl_init_he(0); break;
        case HCL_WINIT_HE_NORMAL: w = hcl_init_he(1); break;
        case HCL_WINIT_XAVIER_UNIFORM: w = hcl_init_xavier(0); break;
        case HCL_WINIT_XAVIER_NORMAL: w = hcl_init_xavier(1); break;
        default: return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "invalid weight init %d", (int)m->opt.init);
        }
        HCL_TRY(hcl_params_init(m->params, (size_t)n->w_idx, &w, seed));
        if (n->b_idx >= 0) HCL_TRY(hcl_params_init(m->params, (size_t)n->b_idx, &b, seed));
    }
    return HCL_OK;
}

static hcl_status scalar(hcl_model *m, hcl_dtype dt, hcl_tensor **t) {
    int64_t one = 1;
    HCL_TRY(hcl_tensor_create(m->ctx, dt, 1, &one, t));
    m->other_bytes += hcl_tensor_bytes(*t);
    return hcl_tensor_fill(*t, 0.0);
}

hcl_status hcl_model_build(hcl_model *m, const hcl_model_options *o) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, o);
    HCL_TRY(nn_check_open(m));
    if (m->count < 2 || m->nodes[0].kind != HCL_LAYER_INPUT)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: the model needs an input and at least one layer");
    if (o->max_batch < 1) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: max_batch %lld < 1", (long long)o->max_batch);
    if ((unsigned)o->loss > HCL_LOSS_DISTILLATION) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: invalid loss %d", (int)o->loss);
    if (o->loss == HCL_LOSS_DISTILLATION && !(o->distill_temperature > 0.0f && isfinite(o->distill_temperature)))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: distill_temperature %g must be finite and > 0",
                         (double)o->distill_temperature);
    if (o->loss == HCL_LOSS_DISTILLATION && !(o->distill_alpha >= 0.0f && o->distill_alpha <= 1.0f))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: distill_alpha %g is not in [0, 1]", (double)o->distill_alpha);
    if ((unsigned)o->init > HCL_WINIT_XAVIER_NORMAL) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: invalid init %d", (int)o->init);
    if (!(o->label_smoothing >= 0.0f && o->label_smoothing < 1.0f))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: label_smoothing %g is not in [0, 1)", (double)o->label_smoothing);
    HCL_TRY(hcl_optim_validate(m->ctx, &o->optim, &o->scaler));
    /* every buffer at max_batch and every parameter must have a size (nothing is queued yet) */
    int trainable = 0;
    for (size_t i = 0; i < m->count; i++) {
        const nn_node *n = &m->nodes[i];
        trainable |= n->wrank > 0 || n->nextra > 0;
        if ((uint64_t)o->max_batch > SIZE_MAX / 8 / n->sample)
            return hcl_error(m->ctx, HCL_ERR_OVERFLOW, "build: max_batch %lld x %zu elements of %s overflows",
                             (long long)o->max_batch, n->sample, n->name);
        HCL_TRY(check_weight(m, n->name, n->wrank, n->wshape));
        for (int k = 0; k < n->nextra; k++) HCL_TRY(check_weight(m, n->name, n->extra[k].rank, n->extra[k].shape));
    }
    if (!trainable) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: the model has no trainable layer");
    m->opt = *o;
    m->output = (int)m->count - 1;
    const nn_node *out = &m->nodes[m->output];
    if (o->loss == HCL_LOSS_CROSS_ENTROPY && out->rank != 1 && out->rank != 2)
        return hcl_error(m->ctx, HCL_ERR_SHAPE,
                         "build: cross-entropy needs a (classes) or per-step (T, classes) output per sample; %s gives rank %d",
                         out->name, out->rank);
    if (o->loss == HCL_LOSS_DISTILLATION && out->rank != 1)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "build: distillation needs a (classes) output per sample; %s gives rank %d",
                         out->name, out->rank);
    /* BCE: from the first batch of I32 labels on */
    m->counts_correct = o->loss == HCL_LOSS_CROSS_ENTROPY || o->loss == HCL_LOSS_DISTILLATION;
    m->order = malloc(m->count * sizeof *m->order);
    if (!m->order) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < m->count; i++) m->order[i] = (int)i;
    count_consumers(m);
    m->built = 1; /* from here on the graph is fixed, even if a later step fails */
    /* variable steps: every consumer of a sequence is a sequence or a pooling over it */
    m->var_t = m->nodes[0].tokens;
    for (size_t i = 1; i < m->count; i++)
        for (int s = 0; s < m->nodes[i].nin; s++)
            if (m->nodes[m->nodes[i].in[s]].seq && !m->nodes[i].seq && m->nodes[i].kind != HCL_LAYER_SEQ_POOL) m->var_t = 0;
    plan_fusion(m);
    for (size_t p = 0; p < m->count; p++) m->nodes[m->order[p]].pos = (int)p;

    HCL_TRY(hcl_params_create(m->ctx, m->policy, &m->params));
    HCL_TRY(declare_params(m));
    if (hcl_params_count(m->params) == 0)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "build: the model has no trainable layer");
    HCL_TRY(hcl_params_alloc(m->params));
    HCL_TRY(init_params(m));
    HCL_TRY(hcl_optimizer_create(m->params, &o->optim, &o->scaler, &m->optim));

    for (size_t i = 0; i < m->count; i++) {
        nn_node *n = &m->nodes[i];
        HCL_TRY(nn_seq_create_state(m, n));
        if (n->kind != HCL_LAYER_BATCHNORM2D) continue;
        hcl_tensor **ts[4] = {&n->run_mean, &n->run_var, &n->save_mean, &n->save_invstd};
        for (int k = 0; k < 4; k++) {
            HCL_TRY(hcl_tensor_create(m->ctx, HCL_F32, 1, &n->wshape[0], ts[k]));
            m->other_bytes += hcl_tensor_bytes(*ts[k]);
            HCL_TRY(hcl_tensor_fill(*ts[k], k == 1 ? 1.0 : 0.0));
        }
    }
    analyse_grads(m);
    HCL_TRY(plan_memory(m));
    HCL_TRY(scalar(m, HCL_F32, &m->loss));
    HCL_TRY(scalar(m, HCL_F32, &m->loss_sum));
    HCL_TRY(scalar(m, HCL_I32, &m->correct));
    HCL_TRY(scalar(m, HCL_F32, &m->eval_loss));
    HCL_TRY(scalar(m, HCL_F32, &m->eval_loss_sum));
    HCL_TRY(scalar(m, HCL_I32, &m->eval_correct));
    m->rng_offset = 0;
    return nn_set_views(m, o->max_batch, m->nodes[0].shape[0]);
}
