/* Sequence layers, graph side: the constructors (token input, embedding, positions, layer norm,
 * attention and the composite MHA / pre-LN Transformer block, GRU/LSTM layers, sequence pooling,
 * the tied output head, lengths) and their build-time parts: the RNN's extra parameters, the
 * parameter inits that differ from the linear/conv ones, and the node-owned device buffers
 * (state[]) sized for max_batch:
 *   layernorm      state[0], [1]: save_mean, save_invstd (F32, one per row)
 *   attention      state[0]: lse (F32, N * heads * Tq)
 *   rnn            state[0], [1]: reserve of each direction (U8); bidirectional only: state[2],
 *                  [3]: each direction's (N, T, H) output (reused for its output gradient in
 *                  backward) and state[4]: the backward direction's dx (N, T, I)
 *   pos_embedding  sinusoidal: state[0]: the (T, D) table in the compute dtype */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/nn_internal.h"

#define OPEN(m)                                \
    do {                                       \
        if (!(m)) return HCL_ERR_NULL_POINTER; \
        HCL_TRY(nn_check_open(m));             \
    } while (0)

int nn_has_params(const nn_node *n) { return n->w_idx >= 0 || n->nextra > 0; }

hcl_status hcl_model_input_tokens(hcl_model *m, int64_t T, int *id) {
    OPEN(m);
    if (T < 1) return hcl_error(m->ctx, HCL_ERR_SHAPE, "input_tokens: T %lld < 1", (long long)T);
    HCL_TRY(hcl_model_input(m, 1, &T, id));
    m->nodes[m->count - 1].tokens = 1;
    m->nodes[m->count - 1].seq = 1;
    return HCL_OK;
}

hcl_status hcl_model_embedding(hcl_model *m, int in, int64_t vocab, int dim, int padding_idx, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "embedding"));
    const nn_node *p = &m->nodes[in];
    if (!p->tokens) return hcl_error(m->ctx, HCL_ERR_DTYPE, "embedding: node %d (%s) is not a token input", in, p->name);
    if (vocab < 1 || vocab > INT32_MAX || dim < 1 || padding_idx < -1 || padding_idx >= vocab) /* ids are I32 */
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "embedding: vocab %lld, dim %d, padding_idx %d (-1 or < vocab)",
                         (long long)vocab, dim, padding_idx);
    int64_t sh[2] = {p->shape[0], dim};
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, HCL_LAYER_EMBEDDING, &in, 1, 2, sh, &n, id));
    n->padding_idx = padding_idx;
    n->wrank = 2;
    n->wshape[0] = vocab;
    n->wshape[1] = dim;
    return HCL_OK;
}

/* The input of a sequence layer: (T, D). */
static hcl_status need_td(hcl_model *m, int in, const char *what) {
    const nn_node *p = &m->nodes[in];
    if (p->rank != 2)
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "%s needs a (T, D) input; node %d (%s) gives rank %d", what, in, p->name, p->rank);
    return HCL_OK;
}

/* A width E split into `heads` heads of at most HCL_ATTENTION_MAX_D. */
static hcl_status check_heads(hcl_model *m, int64_t E, int heads, const char *what) {
    if (heads < 1 || E % heads || E / heads > HCL_ATTENTION_MAX_D)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: width %lld is not heads %d x a head dim of 1..%d", what,
                         (long long)E, heads, HCL_ATTENTION_MAX_D);
    return HCL_OK;
}

hcl_status hcl_model_pos_embedding(hcl_model *m, int in, hcl_pos_kind kind, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "pos_embedding"));
    HCL_TRY(need_td(m, in, "pos_embedding"));
    if ((unsigned)kind > HCL_POS_SINUSOIDAL) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "pos_embedding: invalid kind %d", (int)kind);
    nn_node *n = NULL;
    int64_t sh[2] = {m->nodes[in].shape[0], m->nodes[in].shape[1]};
    HCL_TRY(nn_push(m, HCL_LAYER_POS_EMBEDDING, &in, 1, 2, sh, &n, id));
    n->pos_kind = kind;
    if (kind == HCL_POS_LEARNED) {
        n->wrank = 2;
        n->wshape[0] = sh[0];
        n->wshape[1] = sh[1];
    }
    return HCL_OK;
}

hcl_status hcl_model_layernorm(hcl_model *m, int in, float eps, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "layernorm"));
    if (!(eps > 0.0f && eps < INFINITY))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "layernorm: eps %g must be finite and > 0", (double)eps);
    const nn_node *p = &m->nodes[in];
    nn_node *n = NULL;
    int64_t sh[HCL_MAX_RANK];
    memcpy(sh, p->shape, sizeof sh);
    HCL_TRY(nn_push(m, HCL_LAYER_LAYERNORM, &in, 1, p->rank, sh, &n, id));
    n->eps = eps;
    n->wrank = 1;
    n->wshape[0] = sh[n->rank - 1];
    n->has_bias = 1;
    return HCL_OK;
}

hcl_status hcl_model_attention(hcl_model *m, int q, int k, int v, int heads, int causal, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &q, "attention q"));
    HCL_TRY(nn_resolve(m, &k, "attention k"));
    HCL_TRY(nn_resolve(m, &v, "attention v"));
    int ids[3] = {q, k, v};
    for (int i = 0; i < 3; i++) HCL_TRY(need_td(m, ids[i], "attention"));
    const nn_node *pq = &m->nodes[q], *pk = &m->nodes[k], *pv = &m->nodes[v];
    int64_t E = pq->shape[1];
    if (pk->shape[1] != E || pv->shape[1] != E || pk->shape[0] != pv->shape[0])
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "attention: q (%lld, %lld), k (%lld, %lld) and v (%lld, %lld) do not fit",
                         (long long)pq->shape[0], (long long)E, (long long)pk->shape[0], (long long)pk->shape[1],
                         (long long)pv->shape[0], (long long)pv->shape[1]);
    HCL_TRY(check_heads(m, E, heads, "attention"));
    nn_node *n = NULL;
    int64_t sh[2] = {pq->shape[0], E};
    HCL_TRY(nn_push(m, HCL_LAYER_ATTENTION, ids, 3, 2, sh, &n, id));
    n->heads = heads;
    n->causal = causal != 0;
    return HCL_OK;
}

/* Names the node just added "<base>.<what>" (the parameters are then "<base>.<what>.weight"). */
static void rename_last(hcl_model *m, const char *base, const char *what) {
    snprintf(m->nodes[m->count - 1].name, NN_NAME_MAX, "%.30s.%.12s", base, what);
}

/* Q, K, V projections, attention, output projection; names under `base`. */
static hcl_status add_mha(hcl_model *m, int in, int heads, int causal, const char *base, int *id) {
    HCL_TRY(need_td(m, in, "mha"));
    HCL_TRY(check_heads(m, m->nodes[in].shape[1], heads, "mha")); /* before any node is added */
    int E = (int)m->nodes[in].shape[1], q, k, v, a;
    HCL_TRY(hcl_model_linear(m, in, E, &q));
    rename_last(m, base, "q");
    HCL_TRY(hcl_model_linear(m, in, E, &k));
    rename_last(m, base, "k");
    HCL_TRY(hcl_model_linear(m, in, E, &v));
    rename_last(m, base, "v");
    HCL_TRY(hcl_model_attention(m, q, k, v, heads, causal, &a));
    rename_last(m, base, "attention");
    HCL_TRY(hcl_model_linear(m, a, E, id));
    rename_last(m, base, "out");
    return HCL_OK;
}

hcl_status hcl_model_mha(hcl_model *m, int in, int heads, int causal, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "mha"));
    char base[NN_NAME_MAX];
    snprintf(base, sizeof base, "mha_%zu", m->count);
    return add_mha(m, in, heads, causal, base, id);
}

hcl_status hcl_model_transformer_block(hcl_model *m, int in, int heads, int mlp_hidden, float dropout, int causal, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "transformer_block"));
    HCL_TRY(need_td(m, in, "transformer_block"));
    if (mlp_hidden < 1 || !(dropout >= 0.0f && dropout < 1.0f))
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "transformer_block: mlp_hidden %d >= 1, dropout %g in [0,1)",
                         mlp_hidden, (double)dropout);
    HCL_TRY(check_heads(m, m->nodes[in].shape[1], heads, "transformer_block")); /* before any node is added */
    char base[NN_NAME_MAX];
    snprintf(base, sizeof base, "block_%zu", m->count);
    int E = (int)m->nodes[in].shape[1], x = in, t;
    HCL_TRY(hcl_model_layernorm(m, x, 1e-5f, &t));
    rename_last(m, base, "ln1");
    HCL_TRY(add_mha(m, t, heads, causal, base, &t));
    if (dropout > 0.0f) {
        HCL_TRY(hcl_model_dropout(m, t, dropout, &t));
        rename_last(m, base, "drop1");
    }
    HCL_TRY(hcl_model_add(m, x, t, &x));
    rename_last(m, base, "res1");
    HCL_TRY(hcl_model_layernorm(m, x, 1e-5f, &t));
    rename_last(m, base, "ln2");
    HCL_TRY(hcl_model_linear(m, t, mlp_hidden, &t));
    rename_last(m, base, "fc1");
    HCL_TRY(hcl_model_activation(m, t, HCL_ACT_GELU, 0.0f, &t));
    rename_last(m, base, "gelu");
    HCL_TRY(hcl_model_linear(m, t, E, &t));
    rename_last(m, base, "fc2");
    if (dropout > 0.0f) {
        HCL_TRY(hcl_model_dropout(m, t, dropout, &t));
        rename_last(m, base, "drop2");
    }
    HCL_TRY(hcl_model_add(m, x, t, id));
    rename_last(m, base, "res2");
    return HCL_OK;
}

/* One RNN layer node: PyTorch's parameter names per direction. */
static hcl_status add_rnn_layer(hcl_model *m, int in, hcl_rnn_cell cell, int hidden, int bidir, int *id) {
    const nn_node *p = &m->nodes[in];
    int64_t I = p->shape[1], G = cell == HCL_RNN_LSTM ? 4 : 3;
    int64_t sh[2] = {p->shape[0], (int64_t)hidden * (bidir ? 2 : 1)};
    nn_node *n = NULL;
    HCL_TRY(nn_push(m, HCL_LAYER_RNN, &in, 1, 2, sh, &n, id));
    snprintf(n->name, sizeof n->name, "%s_%zu", cell == HCL_RNN_LSTM ? "lstm" : "gru", m->count - 1);
    n->cell = cell;
    n->hidden = hidden;
    n->bidir = bidir;
    float bound = 1.0f / sqrtf((float)hidden);
    for (int dir = 0; dir < (bidir ? 2 : 1); dir++) {
        const char *sfx = dir ? "_reverse" : "";
        nn_extra_param *e = &n->extra[n->nextra];
        snprintf(e[0].name, sizeof e[0].name, "weight_ih%s", sfx);
        snprintf(e[1].name, sizeof e[1].name, "weight_hh%s", sfx);
        snprintf(e[2].name, sizeof e[2].name, "bias_ih%s", sfx);
        snprintf(e[3].name, sizeof e[3].name, "bias_hh%s", sfx);
        e[0].rank = e[1].rank = 2;
        e[0].shape[0] = e[1].shape[0] = G * hidden;
        e[0].shape[1] = I;
        e[1].shape[1] = hidden;
        e[2].rank = e[3].rank = 1;
        e[2].shape[0] = e[3].shape[0] = G * hidden;
        for (int k = 0; k < 4; k++) e[k].bound = bound;
        n->nextra += 4;
    }
    return HCL_OK;
}

hcl_status hcl_model_rnn(hcl_model *m, int in, hcl_rnn_cell cell, int hidden, int layers, int bidirectional, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "rnn"));
    HCL_TRY(need_td(m, in, "rnn"));
    if ((cell != HCL_RNN_GRU && cell != HCL_RNN_LSTM) || hidden < 1 || layers < 1 || layers > 64)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "rnn: cell %d (GRU or LSTM), hidden %d >= 1, layers %d in 1..64",
                         (int)cell, hidden, layers);
    int x = in;
    for (int l = 0; l < layers; l++) HCL_TRY(add_rnn_layer(m, x, cell, hidden, bidirectional != 0, &x));
    if (id) *id = x;
    return HCL_OK;
}

hcl_status hcl_model_seq_pool(hcl_model *m, int in, hcl_seq_pool_mode mode, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "seq_pool"));
    HCL_TRY(need_td(m, in, "seq_pool"));
    if (mode != HCL_SEQ_POOL_MEAN && mode != HCL_SEQ_POOL_LAST)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "seq_pool: invalid mode %d", (int)mode);
    nn_node *n = NULL;
    int64_t sh[1] = {m->nodes[in].shape[1]};
    HCL_TRY(nn_push(m, HCL_LAYER_SEQ_POOL, &in, 1, 1, sh, &n, id));
    n->pool = mode;
    return HCL_OK;
}

hcl_status hcl_model_linear_tied(hcl_model *m, int in, int emb, int *id) {
    OPEN(m);
    HCL_TRY(nn_resolve(m, &in, "linear_tied"));
    HCL_TRY(nn_resolve(m, &emb, "linear_tied embedding"));
    const nn_node *e = &m->nodes[emb], *p = &m->nodes[in];
    if (e->kind != HCL_LAYER_EMBEDDING)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "linear_tied: node %d (%s) is not an embedding", emb, e->name);
    if (p->shape[p->rank - 1] != e->wshape[1])
        return hcl_error(m->ctx, HCL_ERR_SHAPE, "linear_tied: input width %lld differs from the embedding's %lld",
                         (long long)p->shape[p->rank - 1], (long long)e->wshape[1]);
    int64_t V = e->wshape[0], D = e->wshape[1];
    if (V > INT32_MAX) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "linear_tied: vocabulary too large");
    HCL_TRY(hcl_model_linear(m, in, (int)V, id));
    nn_node *n = &m->nodes[m->count - 1];
    n->tied = emb;
    n->has_bias = 0;
    n->wshape[1] = D;
    return HCL_OK;
}

hcl_status hcl_model_set_lengths(hcl_model *m, const hcl_tensor *lengths) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (lengths) {
        if (lengths->ctx != m->ctx) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "lengths belong to another context");
        if (lengths->dtype != HCL_I32)
            return hcl_error(m->ctx, HCL_ERR_DTYPE, "lengths must be (N) I32, are %s", hcl_dtype_name(lengths->dtype));
        if (lengths->rank != 1) return hcl_error(m->ctx, HCL_ERR_SHAPE, "lengths must be (N), have rank %d", lengths->rank);
    }
    m->next_lengths = lengths;
    return HCL_OK;
}

/* ------------------------------------------------------------------ build */

hcl_status nn_seq_declare_extra(hcl_model *m, nn_node *n) {
    char name[NN_NAME_MAX + 32];
    for (int k = 0; k < n->nextra; k++) {
        size_t idx;
        snprintf(name, sizeof name, "%s.%s", n->name, n->extra[k].name);
        HCL_TRY(hcl_params_add(m->params, name, n->extra[k].rank, n->extra[k].shape, &idx));
        n->extra_idx[k] = (long)idx;
    }
    return HCL_OK;
}

hcl_status nn_seq_init_params(hcl_model *m, nn_node *n, int *handled) {
    uint64_t seed = m->opt.seed;
    *handled = 1;
    switch (n->kind) {
    case HCL_LAYER_EMBEDDING: {
        hcl_init w = hcl_init_normal(0.0f, 1.0f);
        HCL_TRY(hcl_params_init(m->params, (size_t)n->w_idx, &w, seed));
        if (n->padding_idx < 0) return HCL_OK;
        /* the padding row starts at 0 (its gradient is zeroed in backward, so it stays 0) */
        size_t D = (size_t)n->wshape[1], count = (size_t)n->wshape[0] * D;
        float *table = malloc(count * sizeof *table);
        if (!table) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        hcl_status st = hcl_params_download(m->params, (size_t)n->w_idx, table, count);
        if (st == HCL_OK) {
            memset(table + (size_t)n->padding_idx * D, 0, D * sizeof *table);
            st = hcl_params_upload(m->params, (size_t)n->w_idx, table, count);
        }
        free(table);
        return st;
    }
    case HCL_LAYER_POS_EMBEDDING: {
        if (n->w_idx < 0) return HCL_OK; /* sinusoidal: a fixed table */
        hcl_init w = hcl_init_normal(0.0f, 0.02f);
        return hcl_params_init(m->params, (size_t)n->w_idx, &w, seed);
    }
    case HCL_LAYER_LAYERNORM: {
        hcl_init one = hcl_init_constant(1.0f), zero = hcl_init_constant(0.0f);
        HCL_TRY(hcl_params_init(m->params, (size_t)n->w_idx, &one, seed));
        return hcl_params_init(m->params, (size_t)n->b_idx, &zero, seed);
    }
    case HCL_LAYER_RNN:
        for (int k = 0; k < n->nextra; k++) {
            hcl_init u = hcl_init_uniform(-n->extra[k].bound, n->extra[k].bound);
            HCL_TRY(hcl_params_init(m->params, (size_t)n->extra_idx[k], &u, seed));
        }
        return HCL_OK;
    default:
        *handled = 0;
        return HCL_OK;
    }
}

static hcl_status own(hcl_model *m, nn_node *n, int k, hcl_dtype dt, int64_t count) {
    HCL_TRY(hcl_tensor_create(m->ctx, dt, 1, &count, &n->state[k]));
    m->other_bytes += hcl_tensor_bytes(n->state[k]);
    return HCL_OK;
}

/* The fixed table of "Attention is all you need": PE(t, 2i) = sin(t / 10000^(2i/D)),
 * PE(t, 2i+1) = cos(the same angle). */
static hcl_status sinusoidal_table(hcl_model *m, nn_node *n) {
    int64_t T = n->shape[0], D = n->shape[1];
    HCL_TRY(own(m, n, 0, m->dt, T * D));
    float *pe = malloc((size_t)(T * D) * sizeof *pe);
    if (!pe) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < D; d++) {
            double angle = (double)t / pow(10000.0, (double)(d & ~(int64_t)1) / (double)D);
            pe[t * D + d] = (float)(d % 2 ? cos(angle) : sin(angle));
        }
    hcl_status st = hcl_tensor_upload_f32(n->state[0], pe, (size_t)(T * D));
    free(pe);
    return st;
}

hcl_status nn_seq_create_state(hcl_model *m, nn_node *n) {
    int64_t nb = m->opt.max_batch;
    switch (n->kind) {
    case HCL_LAYER_LAYERNORM: {
        int64_t rows = nb * (int64_t)(n->sample / (size_t)n->shape[n->rank - 1]);
        HCL_TRY(own(m, n, 0, HCL_F32, rows));
        return own(m, n, 1, HCL_F32, rows);
    }
    case HCL_LAYER_ATTENTION:
        return own(m, n, 0, HCL_F32, nb * n->heads * n->shape[0]);
    case HCL_LAYER_POS_EMBEDDING:
        return n->pos_kind == HCL_POS_SINUSOIDAL ? sinusoidal_table(m, n) : HCL_OK;
    case HCL_LAYER_RNN: {
        hcl_rnn_desc desc;
        hcl_rnn_desc_init(&desc, n->cell);
        int64_t T = n->shape[0], H = n->hidden, I = m->nodes[n->in[0]].shape[1];
        size_t rb = hcl_rnn_reserve_bytes(&desc, nb, T, H, m->dt);
        if (!rb) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "%s: no reserve size for these sizes", n->name);
        for (int dir = 0; dir < (n->bidir ? 2 : 1); dir++) HCL_TRY(own(m, n, dir, HCL_U8, (int64_t)rb));
        if (!n->bidir) return HCL_OK;
        HCL_TRY(own(m, n, 2, m->dt, nb * T * H));
        HCL_TRY(own(m, n, 3, m->dt, nb * T * H));
        return own(m, n, 4, m->dt, nb * T * I);
    }
    default:
        return HCL_OK;
    }
}
