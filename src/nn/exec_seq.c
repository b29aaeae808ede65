/* Sequence layers, execution side: forward and backward of the embedding, positions, layer norm,
 * attention, GRU/LSTM and sequence pooling nodes (model_seq.c describes their state buffers). The
 * lengths of the last forward (m->lengths) go to the RNN, the pooling and, as key padding, the
 * attention. */
#include <string.h>
#include "nn/nn_internal.h"

/* The first `count` elements of a node-owned buffer as a tensor of `shape`. */
static hcl_tensor state_view(const hcl_tensor *t, int rank, const int64_t *shape) { return nn_reshape(t, rank, shape); }

/* x (N, T, D) as (N, T * D) and the (T, D) table as (T * D), for the row broadcast. */
static void pos_views(const hcl_tensor *x, const hcl_tensor *table, hcl_tensor *x2, hcl_tensor *p1) {
    int64_t per = (int64_t)(x->count / (size_t)x->shape[0]); /* the first T' rows of the (T, D) table */
    int64_t s2[2] = {x->shape[0], per}, s1 = per;
    *x2 = nn_reshape(x, 2, s2);
    *p1 = nn_reshape(table, 1, &s1);
}

static hcl_tensor *pos_table(hcl_model *m, nn_node *d) {
    return d->pos_kind == HCL_POS_SINUSOIDAL ? d->state[0] : hcl_params_weight(m->params, (size_t)d->w_idx);
}

/* LayerNorm's saved statistics for the current batch: one F32 per row. */
static void ln_stats(const nn_node *d, hcl_tensor *mean, hcl_tensor *invstd) {
    int64_t rows = (int64_t)(d->out.count / (size_t)d->shape[d->rank - 1]);
    *mean = state_view(d->state[0], 1, &rows);
    *invstd = state_view(d->state[1], 1, &rows);
}

/* (N, T, E) as (N, T, heads, E / heads). */
static hcl_tensor heads4(const hcl_tensor *t, int heads) {
    int64_t s[4] = {t->shape[0], t->shape[1], heads, t->shape[2] / heads};
    return nn_reshape(t, 4, s);
}

static void att_desc(const nn_node *d, hcl_attention_desc *a) {
    hcl_attention_desc_init(a);
    a->causal = d->causal;
}

/* Copies `cols` columns of every row between (rows, src_cols) and (rows, dst_cols) row-major
 * tensors of one dtype, from column src_col0 to dst_col0: the bidirectional RNN's concat and split
 * as one rectangular copy (no kernel). */
static hcl_status copy_columns(hcl_model *m, hcl_tensor *dst, int64_t dst_cols, int64_t dst_col0, const hcl_tensor *src,
                               int64_t src_cols, int64_t src_col0, int64_t cols, int64_t rows) {
    size_t es = hcl_dtype_size(dst->dtype);
    size_t src_origin[3] = {(src->offset + (size_t)src_col0) * es, 0, 0};
    size_t dst_origin[3] = {(dst->offset + (size_t)dst_col0) * es, 0, 0};
    size_t region[3] = {(size_t)cols * es, (size_t)rows, 1};
    HCL_CL_TRY(m->ctx, clEnqueueCopyBufferRect(m->ctx->queue, src->buffer, dst->buffer, src_origin, dst_origin, region,
                                               (size_t)src_cols * es, 0, (size_t)dst_cols * es, 0, 0, NULL, NULL));
    return HCL_OK;
}

/* Parameters of direction dir of an RNN node: w_ih, w_hh, b_ih, b_hh. */
static void rnn_params(hcl_model *m, nn_node *d, int dir, int grad, hcl_tensor *p[4]) {
    for (int k = 0; k < 4; k++) {
        size_t idx = (size_t)d->extra_idx[dir * 4 + k];
        p[k] = grad ? hcl_params_grad(m->params, idx) : hcl_params_weight(m->params, idx);
    }
}

/* Output of direction dir: the node's output (one direction) or its own (N, T, H) buffer. */
static hcl_tensor rnn_dir_out(hcl_model *m, nn_node *d, int dir) {
    if (!d->bidir) return d->out;
    int64_t s[3] = {m->cur_n, nn_steps(m, d), d->hidden};
    return state_view(d->state[2 + dir], 3, s);
}

static hcl_status rnn_forward(hcl_model *m, nn_node *d, const hcl_tensor *x, int train) {
    int64_t rows = m->cur_n * nn_steps(m, d), H = d->hidden;
    for (int dir = 0; dir < (d->bidir ? 2 : 1); dir++) {
        hcl_rnn_desc desc;
        hcl_rnn_desc_init(&desc, d->cell);
        desc.reverse = dir;
        hcl_tensor *p[4];
        rnn_params(m, d, dir, 0, p);
        hcl_tensor y = rnn_dir_out(m, d, dir);
        HCL_TRY(hcl_rnn_forward(m->ctx, &y, NULL, NULL, train ? d->state[dir] : NULL, x, NULL, NULL, m->lengths, p[0], p[1],
                                p[2], p[3], &desc));
        if (d->bidir) HCL_TRY(copy_columns(m, &d->out, 2 * H, dir * H, &y, H, 0, H, rows));
    }
    return HCL_OK;
}

static hcl_status rnn_backward(hcl_model *m, nn_node *d, const hcl_tensor *x) {
    int64_t rows = m->cur_n * nn_steps(m, d), H = d->hidden;
    hcl_tensor *dx = d->need_dx[0] ? nn_dx_target(m, d, 0) : NULL;
    for (int dir = 0; dir < (d->bidir ? 2 : 1); dir++) {
        hcl_rnn_desc desc;
        hcl_rnn_desc_init(&desc, d->cell);
        desc.reverse = dir;
        hcl_tensor *p[4], *g[4];
        rnn_params(m, d, dir, 0, p);
        rnn_params(m, d, dir, 1, g);
        hcl_tensor dy = d->grad;
        if (d->bidir) { /* this direction's half of dy, into its output buffer (the forward value is no longer needed) */
            dy = rnn_dir_out(m, d, dir);
            HCL_TRY(copy_columns(m, &dy, H, 0, &d->grad, 2 * H, dir * H, H, rows));
        }
        /* the reverse direction's dx goes to a temporary, then adds to the forward direction's */
        hcl_tensor dxr, *dxd = dx;
        if (dx && dir == 1) {
            dxr = nn_reshape(d->state[4], x->rank, x->shape);
            dxd = &dxr;
        }
        HCL_TRY(hcl_rnn_backward(m->ctx, dxd, NULL, NULL, g[0], g[1], g[2], g[3], &dy, NULL, NULL, d->state[dir], x, NULL,
                                 NULL, m->lengths, p[0], p[1], &desc));
        if (dx && dir == 1) HCL_TRY(hcl_axpy(m->ctx, dx, 1.0f, &dxr));
    }
    return dx ? nn_dx_finish(m, d, 0) : HCL_OK;
}

hcl_status nn_seq_forward(hcl_model *m, nn_node *d, int train, int *handled) {
    hcl_context *ctx = m->ctx;
    hcl_tensor xs;
    const hcl_tensor *x = nn_value(m, d->in[0], &xs);
    hcl_tensor *y = &d->out;
    hcl_tensor *w = d->w_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->w_idx) : NULL;
    hcl_tensor *b = d->b_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->b_idx) : NULL;
    *handled = 1;
    switch (d->kind) {
    case HCL_LAYER_EMBEDDING:
        return hcl_embedding_forward(ctx, y, x, w);
    case HCL_LAYER_POS_EMBEDDING: {
        hcl_tensor x2, p1, y2;
        pos_views(x, pos_table(m, d), &x2, &p1);
        y2 = nn_reshape(y, 2, x2.shape);
        return hcl_binary(ctx, &y2, &x2, &p1, HCL_OP_ADD, HCL_BCAST_ROW);
    }
    case HCL_LAYER_LAYERNORM: {
        hcl_tensor mean, invstd;
        ln_stats(d, &mean, &invstd);
        return hcl_layernorm_forward(ctx, y, &mean, &invstd, x, w, b, d->eps);
    }
    case HCL_LAYER_ATTENTION: {
        hcl_tensor ks, vs;
        const hcl_tensor *k = nn_value(m, d->in[1], &ks), *v = nn_value(m, d->in[2], &vs);
        hcl_tensor q4 = heads4(x, d->heads), k4 = heads4(k, d->heads), v4 = heads4(v, d->heads), o4 = heads4(y, d->heads);
        int64_t ls[3] = {m->cur_n, d->heads, nn_steps(m, d)};
        hcl_tensor lse = state_view(d->state[0], 3, ls);
        hcl_attention_desc a;
        att_desc(d, &a);
        return hcl_attention_forward(ctx, &o4, &lse, &q4, &k4, &v4, m->lengths, &a);
    }
    case HCL_LAYER_RNN:
        return rnn_forward(m, d, x, train);
    case HCL_LAYER_SEQ_POOL:
        return hcl_seq_pool_forward(ctx, y, x, m->lengths, d->pool);
    default:
        *handled = 0;
        return HCL_OK;
    }
}

hcl_status nn_seq_backward(hcl_model *m, nn_node *d, int *handled) {
    hcl_context *ctx = m->ctx;
    hcl_tensor xs;
    const hcl_tensor *x = nn_value(m, d->in[0], &xs);
    hcl_tensor *dy = &d->grad;
    hcl_tensor *w = d->w_idx >= 0 ? hcl_params_weight(m->params, (size_t)d->w_idx) : NULL;
    hcl_tensor *dw = d->w_idx >= 0 ? hcl_params_grad(m->params, (size_t)d->w_idx) : NULL;
    hcl_tensor *db = d->b_idx >= 0 ? hcl_params_grad(m->params, (size_t)d->b_idx) : NULL;
    *handled = 1;
    switch (d->kind) {
    case HCL_LAYER_EMBEDDING:
        HCL_TRY(hcl_embedding_backward(ctx, dw, dy, x));
        if (d->padding_idx >= 0) { /* PyTorch's padding_idx: that row never learns */
            hcl_tensor row = *dw;
            int64_t D = dw->shape[1];
            row.block = NULL;
            row.offset += (size_t)d->padding_idx * (size_t)D;
            row = nn_reshape(&row, 1, &D);
            HCL_TRY(hcl_tensor_fill(&row, 0.0));
        }
        return HCL_OK;
    case HCL_LAYER_POS_EMBEDDING:
        if (d->pos_kind == HCL_POS_LEARNED) {
            hcl_tensor dy2, dp1;
            pos_views(dy, dw, &dy2, &dp1);
            HCL_TRY(hcl_reduce_broadcast(ctx, &dp1, &dy2, HCL_BCAST_ROW, 1));
        }
        return d->need_dx[0] ? nn_dx_pass(m, d, 0) : HCL_OK;
    case HCL_LAYER_LAYERNORM: {
        /* the op always writes dx, so the build gives the input a gradient buffer (as for batch norm) */
        hcl_tensor mean, invstd;
        ln_stats(d, &mean, &invstd);
        HCL_TRY(hcl_layernorm_backward(ctx, nn_dx_target(m, d, 0), dw, db, dy, x, w, &mean, &invstd));
        return nn_dx_finish(m, d, 0);
    }
    case HCL_LAYER_ATTENTION: {
        int any = d->need_dx[0] || d->need_dx[1] || d->need_dx[2];
        if (!any) return HCL_OK;
        for (int s = 0; s < 3; s++)
            if (!d->need_dx[s])
                return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT,
                                 "%s: attention needs a gradient for all of q, k and v or none (give each a trainable producer)",
                                 d->name);
        hcl_tensor ks, vs;
        const hcl_tensor *k = nn_value(m, d->in[1], &ks), *v = nn_value(m, d->in[2], &vs);
        hcl_tensor q4 = heads4(x, d->heads), k4 = heads4(k, d->heads), v4 = heads4(v, d->heads);
        hcl_tensor o4 = heads4(&d->out, d->heads), do4 = heads4(dy, d->heads);
        hcl_tensor dq4 = heads4(nn_dx_target(m, d, 0), d->heads), dk4 = heads4(nn_dx_target(m, d, 1), d->heads);
        hcl_tensor dv4 = heads4(nn_dx_target(m, d, 2), d->heads);
        int64_t ls[3] = {m->cur_n, d->heads, nn_steps(m, d)};
        hcl_tensor lse = state_view(d->state[0], 3, ls);
        hcl_attention_desc a;
        att_desc(d, &a);
        HCL_TRY(hcl_attention_backward(ctx, &dq4, &dk4, &dv4, &do4, &o4, &lse, &q4, &k4, &v4, m->lengths, &a));
        for (int s = 0; s < 3; s++) HCL_TRY(nn_dx_finish(m, d, s));
        return HCL_OK;
    }
    case HCL_LAYER_RNN:
        return rnn_backward(m, d, x);
    case HCL_LAYER_SEQ_POOL:
        if (!d->need_dx[0]) return HCL_OK;
        HCL_TRY(hcl_seq_pool_backward(ctx, nn_dx_target(m, d, 0), dy, m->lengths, d->pool));
        return nn_dx_finish(m, d, 0);
    default:
        *handled = 0;
        return HCL_OK;
    }
}
