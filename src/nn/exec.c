/* Model execution: views into the planned arena for the current batch size, the forward pass (train
 * and eval), loss + backward (parameter gradients accumulate; a gradient with several consumers is
 * written by the first and added to by the others), the optimizer step, device-side metrics,
 * evaluation over a batcher and the device ring buffer of per-step loss and amp state. Everything
 * here is queued: nothing syncs except the explicit reads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/nn_internal.h"
#include "io/io_internal.h"

/* A struct view (never freed) of `bytes_off` in the arena with dtype and shape (n, shape...). */
static void arena_view(hcl_model *m, hcl_tensor *v, size_t bytes_off, hcl_dtype dt, int64_t n, int rank,
                       const int64_t *shape) {
    *v = *m->arena;
    v->block = NULL;
    v->dtype = dt;
    v->offset = (m->arena->offset + bytes_off) / hcl_dtype_size(dt);
    memset(v->shape, 0, sizeof v->shape);
    v->rank = rank + 1;
    v->shape[0] = n;
    size_t c = (size_t)n;
    for (int i = 0; i < rank; i++) {
        v->shape[i + 1] = shape[i];
        c *= (size_t)shape[i];
    }
    v->count = c;
}

/* The same memory with another shape (rank 2: rows x cols). */
static hcl_tensor as2d(const hcl_tensor *t, int64_t rows, int64_t cols) {
    hcl_tensor v = *t;
    v.block = NULL;
    memset(v.shape, 0, sizeof v.shape);
    v.rank = 2;
    v.shape[0] = rows;
    v.shape[1] = cols;
    return v;
}

hcl_tensor nn_reshape(const hcl_tensor *t, int rank, const int64_t *shape) {
    hcl_tensor v = *t;
    v.block = NULL;
    memset(v.shape, 0, sizeof v.shape);
    v.rank = rank;
    v.count = 1;
    for (int i = 0; i < rank; i++) {
        v.shape[i] = shape[i];
        v.count *= (size_t)shape[i];
    }
    return v;
}

/* Node d's per-sample shape with t steps on its time axis (a sequence node). */
static const int64_t *steps_shape(const nn_node *d, int64_t t, int64_t buf[HCL_MAX_RANK]) {
    if (!d->seq) return d->shape;
    memcpy(buf, d->shape, sizeof d->shape);
    buf[0] = t;
    return buf;
}

int64_t nn_steps(const hcl_model *m, const nn_node *d) { return d->seq ? m->cur_t : d->shape[0]; }

hcl_status nn_set_views(hcl_model *m, int64_t n, int64_t t) {
    int64_t sb[HCL_MAX_RANK];
    for (size_t i = 0; i < m->count; i++) {
        nn_node *d = &m->nodes[i];
        const nn_node *orr = &m->nodes[d->out_root];
        const int64_t *sh = steps_shape(d, t, sb);
        d->out_valid = orr->kind != HCL_LAYER_INPUT;
        if (d->out_valid) arena_view(m, &d->out, m->bufs[orr->b_out].offset, m->dt, n, d->rank, sh);
        const nn_node *gr = &m->nodes[d->grad_root];
        d->grad_valid = d->has_grad && gr->b_grad >= 0;
        if (d->grad_valid) arena_view(m, &d->grad, m->bufs[gr->b_grad].offset, m->dt, n, d->rank, sh);
        if (d->b_aux >= 0) arena_view(m, &d->aux, m->bufs[d->b_aux].offset, nn_argmax_dtype(d), n, d->rank, sh);
        for (int s = 0; s < d->nin; s++)
            if (d->b_tmp[s] >= 0) {
                const nn_node *p = &m->nodes[d->in[s]];
                arena_view(m, &d->tmp[s], m->bufs[d->b_tmp[s]].offset, m->dt, n, p->rank, steps_shape(p, t, sb));
            }
    }
    m->cur_n = n;
    m->cur_t = t;
    return HCL_OK;
}

/* The forward value of node id (the input's views come from x). */
const hcl_tensor *nn_value(hcl_model *m, int id, hcl_tensor *scratch) {
    nn_node *d = &m->nodes[id];
    if (d->out_valid) return &d->out;
    /* a view of the model input (the input itself or a flatten of it) */
    *scratch = *m->x;
    scratch->block = NULL;
    memset(scratch->shape, 0, sizeof scratch->shape);
    scratch->rank = d->rank + 1;
    scratch->shape[0] = m->cur_n;
    for (int i = 0; i < d->rank; i++) scratch->shape[i + 1] = d->shape[i];
    if (d->seq) scratch->shape[1] = m->cur_t;
    return scratch;
}

static void conv_desc(const nn_node *d, hcl_conv2d_desc *c) {
    hcl_conv2d_desc_init(c);
    c->stride_h = c->stride_w = d->stride;
    c->pad_h = c->pad_w = d->pad;
    c->groups = d->groups;
}

static uint64_t dropout_seed(const hcl_model *m) { return m->opt.seed ^ 0x9E3779B97F4A7C15ull; }

static hcl_status forward_node(hcl_model *m, nn_node *d, int train) {
    hcl_context *ctx = m->ctx;
    if (d->quant) {
        int handled = 0;
        HCL_TRY(nn_quant_forward(m, d, train, &handled));
        if (handled) return HCL_OK;
    }
    hcl_tensor xs;
    const hcl_tensor *x = d->nin ? nn_value(m, d->in[0], &xs) : NULL;
    hcl_tensor *y = &d->out;
    hcl_tensor *w = d->w_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->w_idx) : NULL;
    hcl_tensor *b = d->b_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->b_idx) : NULL;
    switch (d->kind) {
    case HCL_LAYER_INPUT:
    case HCL_LAYER_FLATTEN:
        return HCL_OK;
    case HCL_LAYER_CONV2D: {
        hcl_conv2d_desc c;
        conv_desc(d, &c);
        return hcl_conv2d_forward(ctx, y, x, w, b, &c);
    }
    case HCL_LAYER_LINEAR: {
        int64_t fin = d->wshape[1], rows = (int64_t)(x->count / (size_t)fin);
        hcl_tensor x2 = as2d(x, rows, fin), y2 = as2d(y, rows, d->out_ch);
        hcl_gemm_desc g;
        hcl_gemm_desc_init(&g);
        g.trans_b = 1;
        g.epilogue = d->epi_act;
        g.epilogue_alpha = d->epi_alpha;
        return hcl_gemm(ctx, &y2, &x2, w, b, &g);
    }
    case HCL_LAYER_MAXPOOL2D:
    case HCL_LAYER_AVGPOOL2D: {
        hcl_pool2d_desc p;
        hcl_pool2d_desc_init(&p, d->kernel, d->stride);
        if (d->kind == HCL_LAYER_AVGPOOL2D) return hcl_avgpool2d_forward(ctx, y, x, &p);
        return hcl_maxpool2d_forward(ctx, y, train && d->b_aux >= 0 ? &d->aux : NULL, x, &p);
    }
    case HCL_LAYER_GLOBAL_AVGPOOL:
        return hcl_global_avgpool_forward(ctx, y, x);
    case HCL_LAYER_BATCHNORM2D:
        if (train)
            return hcl_batchnorm2d_forward_train(ctx, y, d->save_mean, d->save_invstd, d->run_mean, d->run_var, x, w, b,
                                                 d->momentum, d->eps);
        return hcl_batchnorm2d_forward_inference(ctx, y, x, d->run_mean, d->run_var, w, b, d->eps);
    case HCL_LAYER_DROPOUT:
        if (!train || d->p == 0.0f) return hcl_tensor_copy(y, x);
        d->drop_offset = m->rng_offset;
        m->rng_offset += x->count;
        return hcl_dropout_forward(ctx, y, x, d->p, dropout_seed(m), d->drop_offset);
    case HCL_LAYER_ACTIVATION:
        if (d->in_epilogue) return HCL_OK;
        return hcl_activation_forward(ctx, y, d->inplace ? y : x, d->act, d->alpha);
    case HCL_LAYER_SOFTMAX:
        return hcl_softmax_forward(ctx, y, x, 0);
    case HCL_LAYER_ADD: {
        hcl_tensor bs;
        const hcl_tensor *xb = nn_value(m, d->in[1], &bs);
        return hcl_binary(ctx, y, x, xb, HCL_OP_ADD, HCL_BCAST_NONE);
    }
    default: {
        int handled = 0;
        HCL_TRY(nn_seq_forward(m, d, train, &handled));
        if (handled) return HCL_OK;
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "node %s: unknown kind %d", d->name, (int)d->kind);
    }
    }
}

static hcl_status check_input(hcl_model *m, const hcl_tensor *x) {
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    HCL_CHECK_NULL(m->ctx, x);
    if (x->ctx != m->ctx) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "x belongs to another context");
    const nn_node *in = &m->nodes[0];
    if (in->tokens && x->dtype != HCL_I32)
        return hcl_error(m->ctx, HCL_ERR_DTYPE, "x is %s; the model takes I32 token ids", hcl_dtype_name(x->dtype));
    if (!in->tokens && !hcl_dtype_is_float(x->dtype))
        return hcl_error(m->ctx, HCL_ERR_DTYPE, "x is %s; the model takes F32, F16 or BF16", hcl_dtype_name(x->dtype));
    int ok = x->rank == in->rank + 1;
    for (int i = 0; ok && i < in->rank; i++) ok = x->shape[i + 1] == in->shape[i];
    if (!ok && m->var_t && x->rank == 2 && x->shape[1] >= 1 && x->shape[1] < in->shape[0]) ok = 1; /* fewer steps */
    if (!ok) {
        char want[128], got[128];
        int u = snprintf(want, sizeof want, "(N");
        for (int i = 0; i < in->rank && u < 100; i++) u += snprintf(want + u, sizeof want - (size_t)u, ", %lld", (long long)in->shape[i]);
        snprintf(want + u, sizeof want - (size_t)u, ")");
        u = snprintf(got, sizeof got, "(");
        for (int i = 0; i < x->rank && u < 100; i++) u += snprintf(got + u, sizeof got - (size_t)u, "%s%lld", i ? ", " : "", (long long)x->shape[i]);
        snprintf(got + u, sizeof got - (size_t)u, ")");
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "x has shape %s; the model's input is %s", got, want);
    }
    if (x->shape[0] < 1 || x->shape[0] > m->opt.max_batch)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "batch %lld is not in 1..max_batch %lld", (long long)x->shape[0],
                         (long long)m->opt.max_batch);
    return HCL_OK;
}

/* Checks x and the pending lengths (cleared when they do not fit) and sets the views for x's
 * batch: host work only, so a caller can check everything before queueing. */
static hcl_status prepare_input(hcl_model *m, const hcl_tensor *x) {
    HCL_TRY(check_input(m, x));
    const hcl_tensor *len = m->next_lengths;
    if (len && (int64_t)len->count != x->shape[0]) {
        m->next_lengths = NULL;
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "lengths has %zu values for a batch of %lld", len->count, (long long)x->shape[0]);
    }
    int64_t t = m->nodes[0].seq ? x->shape[1] : m->nodes[0].shape[0];
    if (x->shape[0] != m->cur_n || t != m->cur_t) HCL_TRY(nn_set_views(m, x->shape[0], t));
    return HCL_OK;
}

hcl_status hcl_model_forward(hcl_model *m, const hcl_tensor *x, int train) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_TRY(prepare_input(m, x));
    if (m->quant) HCL_TRY(nn_quant_check_forward(m, train));
    const hcl_tensor *len = m->next_lengths;
    m->next_lengths = NULL;
    m->x = x;
    m->lengths = len;
    m->last_train = 0;
    m->eval_ready = 0;
    for (size_t p = 0; p < m->count; p++) HCL_TRY(forward_node(m, &m->nodes[m->order[p]], train));
    m->last_train = train != 0;
    m->eval_ready = !train;
    return HCL_OK;
}

const hcl_tensor *hcl_model_output(hcl_model *m) {
    if (!m || !m->built || !m->x) return NULL;
    return &m->nodes[m->output].out;
}

const hcl_tensor *hcl_model_loss(hcl_model *m) { return m ? m->loss : NULL; }

/* Where the gradient of input `s` goes: the input's gradient buffer, or a temporary to add. */
hcl_tensor *nn_dx_target(hcl_model *m, nn_node *d, int s) {
    return d->b_tmp[s] >= 0 ? &d->tmp[s] : &m->nodes[d->in[s]].grad;
}
hcl_status nn_dx_finish(hcl_model *m, nn_node *d, int s) {
    if (d->b_tmp[s] < 0) return HCL_OK;
    return hcl_axpy(m->ctx, &m->nodes[d->in[s]].grad, 1.0f, &d->tmp[s]);
}
/* Passes dy on to input s unchanged (add, flatten without a shared buffer). */
hcl_status nn_dx_pass(hcl_model *m, nn_node *d, int s) {
    hcl_tensor *g = &m->nodes[d->in[s]].grad;
    if (g->buffer == d->grad.buffer && g->offset == d->grad.offset) return HCL_OK; /* shared buffer */
    if (d->first_writer[s]) return hcl_tensor_copy(g, &d->grad);
    hcl_tensor dy = d->grad; /* same count, maybe another shape */
    memcpy(dy.shape, g->shape, sizeof dy.shape);
    dy.rank = g->rank;
    return hcl_axpy(m->ctx, g, 1.0f, &dy);
}

void nn_param_final_positions(const hcl_model *m, size_t *pos) {
    size_t np = hcl_params_count(m->params);
    for (size_t i = 0; i < np; i++) pos[i] = 0;
    /* going down, the last assignment to a parameter is its lowest position */
    for (size_t p = m->count; p-- > 0;) {
        const nn_node *d = &m->nodes[m->order[p]];
        long idx[2 + NN_MAX_EXTRA];
        int k = 0;
        idx[k++] = d->w_idx;
        idx[k++] = d->b_idx;
        for (int e = 0; e < d->nextra; e++) idx[k++] = d->extra_idx[e];
        for (int j = 0; j < k; j++)
            if (idx[j] >= 0 && (size_t)idx[j] < np) pos[idx[j]] = p;
    }
}

static hcl_status backward_node(hcl_model *m, nn_node *d) {
    hcl_context *ctx = m->ctx;
    if (!d->has_grad) return HCL_OK;
    if (d->quant) {
        int handled = 0;
        HCL_TRY(nn_quant_backward(m, d, &handled));
        if (handled) return HCL_OK;
    }
    hcl_tensor *dy = &d->grad;
    hcl_tensor xs;
    const hcl_tensor *x = d->nin ? nn_value(m, d->in[0], &xs) : NULL;
    hcl_tensor *w = d->w_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->w_idx) : NULL;
    hcl_tensor *dw = d->w_idx >= 0 ? hcl_params_grad(m->params, (size_t)d->w_idx) : NULL;
    hcl_tensor *db = d->b_idx >= 0 ? hcl_params_grad(m->params, (size_t)d->b_idx) : NULL;
    switch (d->kind) {
    case HCL_LAYER_INPUT:
        return HCL_OK;
    case HCL_LAYER_FLATTEN:
        return d->need_dx[0] ? nn_dx_pass(m, d, 0) : HCL_OK;
    case HCL_LAYER_ADD:
        for (int s = 0; s < 2; s++)
            if (d->need_dx[s]) HCL_TRY(nn_dx_pass(m, d, s));
        return HCL_OK;
    case HCL_LAYER_CONV2D: {
        hcl_conv2d_desc c;
        conv_desc(d, &c);
        HCL_TRY(hcl_conv2d_backward_weight(ctx, dw, db, dy, x, &c));
        if (!d->need_dx[0]) return HCL_OK;
        HCL_TRY(hcl_conv2d_backward_data(ctx, nn_dx_target(m, d, 0), dy, w, &c));
        return nn_dx_finish(m, d, 0);
    }
    case HCL_LAYER_LINEAR: {
        int64_t fin = d->wshape[1], rows = (int64_t)(x->count / (size_t)fin);
        hcl_tensor x2 = as2d(x, rows, fin), dy2 = as2d(dy, rows, d->out_ch);
        hcl_gemm_desc g;
        hcl_gemm_desc_init(&g);
        g.trans_a = 1;
        g.beta = 1.0f; /* dW += dy^T x */
        HCL_TRY(hcl_gemm(ctx, dw, &dy2, &x2, NULL, &g));
        if (db) HCL_TRY(hcl_reduce_broadcast(ctx, db, &dy2, HCL_BCAST_ROW, 1));
        if (!d->need_dx[0]) return HCL_OK;
        hcl_tensor dx2 = as2d(nn_dx_target(m, d, 0), rows, fin);
        hcl_gemm_desc_init(&g); /* dx = dy W */
        HCL_TRY(hcl_gemm(ctx, &dx2, &dy2, w, NULL, &g));
        return nn_dx_finish(m, d, 0);
    }
    case HCL_LAYER_MAXPOOL2D:
    case HCL_LAYER_AVGPOOL2D: {
        if (!d->need_dx[0]) return HCL_OK;
        hcl_pool2d_desc p;
        hcl_pool2d_desc_init(&p, d->kernel, d->stride);
        if (d->kind == HCL_LAYER_MAXPOOL2D) HCL_TRY(hcl_maxpool2d_backward(ctx, nn_dx_target(m, d, 0), dy, &d->aux, &p));
        else HCL_TRY(hcl_avgpool2d_backward(ctx, nn_dx_target(m, d, 0), dy, &p));
        return nn_dx_finish(m, d, 0);
    }
    case HCL_LAYER_GLOBAL_AVGPOOL:
        if (!d->need_dx[0]) return HCL_OK;
        HCL_TRY(hcl_global_avgpool_backward(ctx, nn_dx_target(m, d, 0), dy));
        return nn_dx_finish(m, d, 0);
    case HCL_LAYER_BATCHNORM2D:
        HCL_TRY(hcl_batchnorm2d_backward(ctx, nn_dx_target(m, d, 0), dw, db, dy, x, w, d->save_mean, d->save_invstd));
        return nn_dx_finish(m, d, 0);
    case HCL_LAYER_DROPOUT:
        if (!d->need_dx[0]) return HCL_OK;
        if (d->p == 0.0f) HCL_TRY(hcl_tensor_copy(nn_dx_target(m, d, 0), dy));
        else HCL_TRY(hcl_dropout_backward(ctx, nn_dx_target(m, d, 0), dy, d->p, dropout_seed(m), d->drop_offset));
        return nn_dx_finish(m, d, 0);
    case HCL_LAYER_ACTIVATION:
        if (!d->need_dx[0]) return HCL_OK;
        /* in place: dx = dy's buffer, and the output stands in for x (ReLU-like only) */
        HCL_TRY(hcl_activation_backward(ctx, nn_dx_target(m, d, 0), dy, d->inplace ? &d->out : x, d->act, d->alpha));
        return nn_dx_finish(m, d, 0);
    case HCL_LAYER_SOFTMAX:
        if (!d->need_dx[0]) return HCL_OK;
        HCL_TRY(hcl_softmax_backward(ctx, nn_dx_target(m, d, 0), dy, &d->out, 0));
        return nn_dx_finish(m, d, 0);
    default: {
        int handled = 0;
        HCL_TRY(nn_seq_backward(m, d, &handled));
        if (handled) return HCL_OK;
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "node %s: unknown kind %d", d->name, (int)d->kind);
    }
    }
}

/* Checks the target against the output and gives the loss's 2-D views: logits (rows, C) and, for
 * cross-entropy and BCE on labels, labels (rows) or (rows, 1). *rows counts the samples (or steps
 * of a per-step output) for the metrics. */
static hcl_status check_teacher(hcl_model *m, int64_t N, int64_t C);

static hcl_status check_target(hcl_model *m, const hcl_tensor *t, const hcl_tensor *out, hcl_tensor *out2, hcl_tensor *t2,
                               size_t *rows, int train) {
    HCL_CHECK_NULL(m->ctx, t);
    if (t->ctx != m->ctx) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "target belongs to another context");
    int64_t N = out->shape[0], C = out->shape[out->rank - 1], R = (int64_t)(out->count / (size_t)C);
    *out2 = *out;
    *t2 = *t;
    *rows = (size_t)N;
    if (m->opt.loss == HCL_LOSS_DISTILLATION && train) HCL_TRY(check_teacher(m, N, C));
    if (m->opt.loss == HCL_LOSS_CROSS_ENTROPY || m->opt.loss == HCL_LOSS_DISTILLATION) {
        if (t->dtype != HCL_I32) return hcl_error(m->ctx, HCL_ERR_DTYPE, "cross-entropy labels must be I32, are %s", hcl_dtype_name(t->dtype));
        int per_step = out->rank == 3;
        int ok = per_step ? t->rank == 2 && t->shape[0] == N && t->shape[1] == out->shape[1] : t->rank == 1 && t->shape[0] == N;
        if (!ok)
            return hcl_error(m->ctx, HCL_ERR_SHAPE, "labels must be (%lld%s), have rank %d and %zu elements", (long long)N,
                             per_step ? ", T" : "", t->rank, t->count);
        int64_t s2[2] = {R, C};
        *out2 = nn_reshape(out, 2, s2);
        *t2 = nn_reshape(t, 1, &R);
        *rows = (size_t)R;
        return HCL_OK;
    }
    if (m->opt.loss == HCL_LOSS_BCE_WITH_LOGITS && t->dtype == HCL_I32) {
        if (out->count != (size_t)N || t->rank != 1 || t->shape[0] != N)
            return hcl_error(m->ctx, HCL_ERR_SHAPE, "I32 BCE labels need one logit per sample and labels (%lld)", (long long)N);
        int64_t s2[2] = {N, 1};
        *out2 = nn_reshape(out, 2, s2);
        *t2 = nn_reshape(t, 2, s2);
        m->counts_correct = 1;
        return HCL_OK;
    }
    if (!hcl_dtype_is_float(t->dtype)) return hcl_error(m->ctx, HCL_ERR_DTYPE, "targets must be a float dtype");
    if (!hcl_tensor_same_shape(t, out)) return hcl_error(m->ctx, HCL_ERR_SHAPE, "targets must have the output's shape");
    return HCL_OK;
}

/* Loss (and the output's gradient when dout is given) of the checked views out/t; then the metrics:
 * loss_sum += rows * loss, correct += correct predictions (when the loss defines them). */
static hcl_status loss_and_metrics(hcl_model *m, hcl_tensor *loss, const hcl_tensor *dout, const hcl_tensor *out,
                                   const hcl_tensor *t, size_t rows, hcl_tensor *loss_sum, hcl_tensor *correct) {
    const hcl_tensor *scale = dout ? hcl_optimizer_grad_scale(m->optim) : NULL;
    hcl_tensor d2;
    if (dout) d2 = nn_reshape(dout, out->rank, out->shape);
    switch (m->opt.loss) {
    case HCL_LOSS_CROSS_ENTROPY:
        HCL_TRY(hcl_softmax_cross_entropy(m->ctx, loss, dout ? &d2 : NULL, out, t, m->opt.label_smoothing, scale));
        HCL_TRY(hcl_count_correct(m->ctx, correct, out, t));
        break;
    case HCL_LOSS_DISTILLATION: /* training: against the teacher (checked); evaluation: plain cross-entropy */
        if (dout)
            HCL_TRY(hcl_distillation_loss(m->ctx, loss, &d2, out, m->teacher, t, m->opt.distill_temperature,
                                          m->opt.distill_alpha, scale));
        else
            HCL_TRY(hcl_softmax_cross_entropy(m->ctx, loss, NULL, out, t, 0.0f, NULL));
        HCL_TRY(hcl_count_correct(m->ctx, correct, out, t));
        break;
    case HCL_LOSS_MSE:
        HCL_TRY(hcl_mse_loss(m->ctx, loss, dout ? &d2 : NULL, out, t, scale));
        break;
    default:
        HCL_TRY(hcl_bce_with_logits(m->ctx, loss, dout ? &d2 : NULL, out, t, scale));
        if (t->dtype == HCL_I32) { /* labels: one logit per sample, (N, 1) views */
            int64_t n = out->shape[0];
            hcl_tensor lab = nn_reshape(t, 1, &n);
            HCL_TRY(hcl_count_correct(m->ctx, correct, out, &lab));
        }
        break;
    }
    return hcl_axpy(m->ctx, loss_sum, (float)rows, loss);
}

/* The teacher logits set for a distillation backward: (N, C) float on the model's context. */
static hcl_status check_teacher(hcl_model *m, int64_t N, int64_t C) {
    const hcl_tensor *t = m->teacher;
    if (!t)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT,
                         "distillation: no teacher logits for this backward (call hcl_model_set_teacher_logits)");
    if (t->rank != 2 || t->shape[0] != N || t->shape[1] != C)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "distillation: teacher logits must be (%lld, %lld), have rank %d and %zu elements",
                         (long long)N, (long long)C, t->rank, t->count);
    return HCL_OK;
}

hcl_status hcl_model_set_teacher_logits(hcl_model *m, const hcl_tensor *teacher) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    if (m->opt.loss != HCL_LOSS_DISTILLATION)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "teacher logits need the HCL_LOSS_DISTILLATION loss");
    if (teacher) {
        if (teacher->ctx != m->ctx) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "teacher logits belong to another context");
        if (!hcl_dtype_is_float(teacher->dtype))
            return hcl_error(m->ctx, HCL_ERR_DTYPE, "teacher logits must be a float dtype, are %s", hcl_dtype_name(teacher->dtype));
        const nn_node *o = &m->nodes[m->output];
        if (teacher->rank != 2 || teacher->shape[0] < 1 || teacher->shape[0] > m->opt.max_batch || teacher->shape[1] != o->shape[0])
            return hcl_error(m->ctx, HCL_ERR_SHAPE, "teacher logits must be (N <= %lld, %lld), have rank %d and %zu elements",
                             (long long)m->opt.max_batch, (long long)o->shape[0], teacher->rank, teacher->count);
    }
    m->teacher = teacher;
    return HCL_OK;
}

hcl_status hcl_model_backward(hcl_model *m, const hcl_tensor *target) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built || !m->x || !m->last_train)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "backward needs a train-mode forward first");
    nn_node *o = &m->nodes[m->output];
    hcl_tensor out2, t2;
    size_t rows = 0;
    HCL_TRY(check_target(m, target, &o->out, &out2, &t2, &rows, 1));
    HCL_TRY(loss_and_metrics(m, m->loss, &o->grad, &out2, &t2, rows, m->loss_sum, m->correct));
    m->teacher = NULL; /* consumed */
    m->train_samples += rows;
    for (size_t p = m->count; p-- > 0;) {
        HCL_TRY(backward_node(m, &m->nodes[m->order[p]]));
        if (m->bwd_hook) HCL_TRY(m->bwd_hook(m->bwd_hook_user, m, p));
    }
    m->last_train = 0; /* one backward per forward */
    return HCL_OK;
}

hcl_status hcl_model_step(hcl_model *m, float lr) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    uint64_t step = hcl_optimizer_host_step(m->optim);
    HCL_TRY(hcl_optimizer_step(m->optim, lr));
    if (m->ring) {
        size_t k = m->ring_written % m->ring_cap;
        size_t base = k * NN_LOG_WORDS * 4 + m->ring->offset * 4;
        cl_command_queue q = m->ctx->queue;
        HCL_CL_TRY(m->ctx, clEnqueueCopyBuffer(q, m->loss->buffer, m->ring->buffer, m->loss->offset * 4, base, 4, 0, NULL, NULL));
        HCL_CL_TRY(m->ctx, clEnqueueCopyBuffer(q, m->optim->amp->buffer, m->ring->buffer, m->optim->amp->offset * 4, base + 4,
                                               HCL_AMP_WORDS * 4, 0, NULL, NULL));
        m->ring_step[k] = step;
        m->ring_written++;
    }
    return HCL_OK;
}

hcl_status hcl_model_train_step(hcl_model *m, const hcl_tensor *x, const hcl_tensor *target, float lr) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    /* x, target and lr are checked before the first launch: a bad call queues nothing */
    HCL_TRY(prepare_input(m, x));
    hcl_tensor out2, t2;
    size_t rows = 0;
    HCL_TRY(check_target(m, target, &m->nodes[m->output].out, &out2, &t2, &rows, 1));
    if (!isfinite(lr) || lr < 0.0f)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "learning rate %g must be finite and >= 0", (double)lr);
    if (m->quant) HCL_TRY(nn_quant_check_forward(m, 1));
    HCL_TRY(hcl_params_zero_grad(m->params));
    HCL_TRY(hcl_model_forward(m, x, 1));
    HCL_TRY(hcl_model_backward(m, target));
    return hcl_model_step(m, lr);
}

/* ------------------------------------------------------------------ metrics */

hcl_status hcl_model_metrics_reset(hcl_model *m) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    HCL_TRY(hcl_tensor_fill(m->loss_sum, 0.0));
    HCL_TRY(hcl_tensor_fill(m->correct, 0.0));
    m->train_samples = 0;
    return HCL_OK;
}

static hcl_status read_metrics(hcl_model *m, hcl_tensor *loss_sum, hcl_tensor *correct, size_t samples, hcl_metrics *out) {
    float ls;
    int32_t c;
    HCL_TRY(hcl_tensor_download_f32(loss_sum, &ls, 1));
    HCL_TRY(hcl_tensor_download_raw(correct, &c, sizeof c));
    out->samples = samples;
    out->loss = samples ? (double)ls / (double)samples : 0.0;
    out->accuracy = !m->counts_correct ? -1.0 : samples ? (double)c / (double)samples : 0.0;
    return HCL_OK;
}

hcl_status hcl_model_metrics_read(hcl_model *m, hcl_metrics *out) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, out);
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    return read_metrics(m, m->loss_sum, m->correct, m->train_samples, out);
}

hcl_status hcl_model_eval_reset(hcl_model *m) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    HCL_TRY(hcl_tensor_fill(m->eval_loss_sum, 0.0));
    HCL_TRY(hcl_tensor_fill(m->eval_correct, 0.0));
    m->eval_samples = 0;
    return HCL_OK;
}

hcl_status hcl_model_eval_batch(hcl_model *m, const hcl_tensor *target) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built || !m->eval_ready)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "eval_batch needs an eval-mode forward first");
    nn_node *o = &m->nodes[m->output];
    hcl_tensor out2, t2;
    size_t rows = 0;
    HCL_TRY(check_target(m, target, &o->out, &out2, &t2, &rows, 0));
    HCL_TRY(loss_and_metrics(m, m->eval_loss, NULL, &out2, &t2, rows, m->eval_loss_sum, m->eval_correct));
    m->eval_samples += rows;
    m->eval_ready = 0; /* one evaluation per forward */
    return HCL_OK;
}

hcl_status hcl_model_eval_read(hcl_model *m, hcl_metrics *out) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, out);
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    return read_metrics(m, m->eval_loss_sum, m->eval_correct, m->eval_samples, out);
}

hcl_status hcl_model_evaluate(hcl_model *m, hcl_batcher *data, hcl_metrics *out) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, data);
    HCL_CHECK_NULL(m->ctx, out);
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    if (hcl_batcher_batch_size(data) > m->opt.max_batch)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "evaluate: batcher batch %lld exceeds max_batch %lld",
                         (long long)hcl_batcher_batch_size(data), (long long)m->opt.max_batch);
    /* the batches are checked against the model (context, dtype, shape, labels) before anything is queued */
    const hcl_tensor *probe = NULL;
    int has_labels = 0;
    hcl_batcher_probe(data, &probe, &has_labels);
    if (probe->ctx != m->ctx) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "evaluate: the batcher belongs to another context");
    if (!has_labels) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "evaluate: the batcher has no labels");
    HCL_TRY(check_input(m, probe));
    HCL_TRY(hcl_model_eval_reset(m));
    for (;;) {
        const hcl_tensor *x, *y;
        size_t n;
        HCL_TRY(hcl_batcher_next(data, &x, &y, &n));
        if (n == 0) break;
        if (!y) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "evaluate: the batcher has no labels");
        HCL_TRY(hcl_model_forward(m, x, 0));
        HCL_TRY(hcl_model_eval_batch(m, y));
    }
    return hcl_model_eval_read(m, out);
}

/* ------------------------------------------------------------------ step log */

hcl_status hcl_model_log_enable(hcl_model *m, size_t capacity) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    if (capacity < 1 || capacity > ((size_t)1 << 24)) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "log capacity %zu not in 1..2^24", capacity);
    if (m->ring) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the step log is already enabled");
    int64_t words = (int64_t)(capacity * NN_LOG_WORDS);
    HCL_TRY(hcl_tensor_create(m->ctx, HCL_F32, 1, &words, &m->ring));
    m->ring_step = calloc(capacity, sizeof *m->ring_step);
    if (!m->ring_step) {
        hcl_tensor_free(m->ring);
        m->ring = NULL;
        return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    m->other_bytes += hcl_tensor_bytes(m->ring);
    m->ring_cap = capacity;
    m->ring_written = m->ring_read = 0;
    return HCL_OK;
}

hcl_status hcl_model_log_read(hcl_model *m, hcl_step_record *rec, size_t max, size_t *count) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, count);
    *count = 0;
    if (!m->ring) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the step log is not enabled (hcl_model_log_enable)");
    if (max && !rec) return hcl_error(m->ctx, HCL_ERR_NULL_POINTER, "records is NULL");
    size_t avail = m->ring_written - m->ring_read;
    if (avail > m->ring_cap) { /* overwritten: keep the newest */
        m->ring_read = m->ring_written - m->ring_cap;
        avail = m->ring_cap;
    }
    if (avail > max) avail = max;
    if (!avail) return HCL_OK;
    uint32_t *words = malloc(m->ring_cap * NN_LOG_WORDS * 4);
    if (!words) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_tensor_download_raw(m->ring, words, m->ring_cap * NN_LOG_WORDS * 4);
    if (st == HCL_OK) {
        for (size_t i = 0; i < avail; i++) {
            size_t k = (m->ring_read + i) % m->ring_cap;
            const uint32_t *w = words + k * NN_LOG_WORDS;
            float f[NN_LOG_WORDS];
            memcpy(f, w, sizeof f);
            rec[i].step = m->ring_step[k];
            rec[i].loss = f[0];
            rec[i].scale = f[1 + HCL_AMP_SCALE];
            rec[i].skipped = w[1 + HCL_AMP_SKIPPED];
            rec[i].was_skipped = w[1 + HCL_AMP_FOUND_INF] != 0;
        }
        m->ring_read += avail;
        *count = avail;
    }
    free(words);
    return st;
}
