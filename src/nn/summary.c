/* Model summary: per-layer output shape, parameters, their sparsity (exact zeros: what pruning
 * leaves) and activation bytes (Keras-like), and the totals of the model under its precision:
 * masters, working weights, gradients, optimizer states, the planned activation arena versus the
 * same buffers unshared. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/nn_internal.h"

/* Exact zeros of parameter `idx` (its master: hcl_params_download; a sync). */
static hcl_status count_zeros(const hcl_model *m, size_t idx, size_t count, size_t *zeros) {
    float *h = malloc((count ? count : 1) * sizeof *h);
    if (!h) return hcl_error(m->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_params_download(m->params, idx, h, count);
    if (st == HCL_OK)
        for (size_t i = 0; i < count; i++) *zeros += h[i] == 0.0f;
    free(h);
    return st;
}

hcl_status hcl_model_memory_get(const hcl_model *m, hcl_model_memory *mem) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, mem);
    if (!m->built || !m->arena)
        return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    memset(mem, 0, sizeof *mem);
    size_t arena = hcl_params_arena_numel(m->params);
    mem->param_count = hcl_params_numel(m->params);
    mem->weight_bytes = arena * hcl_dtype_size(hcl_precision_compute_dtype(m->policy));
    mem->master_bytes = m->policy == HCL_PRECISION_MIXED_F16 || m->policy == HCL_PRECISION_MIXED_BF16 ? arena * 4 : 0;
    mem->grad_bytes = arena * hcl_dtype_size(hcl_precision_grad_dtype(m->policy));
    mem->optim_bytes = hcl_optimizer_state_count(m->optim) * arena * hcl_dtype_size(hcl_optimizer_config(m->optim)->state_dtype);
    mem->activation_bytes = m->arena_bytes;
    mem->activation_unplanned_bytes = m->unplanned_bytes;
    mem->other_bytes = m->other_bytes;
    return HCL_OK;
}

hcl_status hcl_model_layer_summary(const hcl_model *m, int id, hcl_layer_summary *s) {
    if (!m) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(m->ctx, s);
    if (!m->built) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "the model is not built (call hcl_model_build)");
    if (id < 0 || (size_t)id >= m->count) return hcl_error(m->ctx, HCL_ERR_INVALID_ARGUMENT, "node %d does not exist", id);
    const nn_node *n = &m->nodes[id];
    memset(s, 0, sizeof *s);
    s->name = n->name;
    s->kind = n->kind;
    s->rank = n->rank + 1;
    s->shape[0] = m->opt.max_batch;
    for (int i = 0; i < n->rank; i++) s->shape[i + 1] = n->shape[i];
    size_t es = hcl_dtype_size(m->dt);
    long idx[2 + NN_MAX_EXTRA];
    int np = 0;
    if (n->tied < 0 && n->w_idx >= 0) idx[np++] = n->w_idx; /* a tied head's weight is its embedding's */
    if (n->b_idx >= 0) idx[np++] = n->b_idx;
    for (int k = 0; k < n->nextra; k++) idx[np++] = n->extra_idx[k];
    for (int k = 0; k < np; k++) {
        hcl_tensor *w = hcl_params_weight(m->params, (size_t)idx[k]);
        s->params += w->count;
        s->param_bytes += w->count * es;
        HCL_TRY(count_zeros(m, (size_t)idx[k], w->count, &s->zero_params));
    }
    s->sparsity = s->params ? (double)s->zero_params / (double)s->params : 0.0;
    for (int k = 0; k < NN_MAX_STATE; k++)
        if (n->state[k]) s->activation_bytes += hcl_tensor_bytes(n->state[k]);
    if (n->b_out >= 0) s->activation_bytes += (size_t)m->opt.max_batch * n->sample * es;
    if (n->b_aux >= 0) s->activation_bytes += (size_t)m->opt.max_batch * n->sample * 4;
    s->fused = n->inplace || n->kind == HCL_LAYER_FLATTEN;
    return HCL_OK;
}

typedef struct sbuf {
    char *buf;
    size_t len, used;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    size_t n = (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1;
    if (b->len && b->used < b->len - 1) {
        size_t room = b->len - 1 - b->used;
        memcpy(b->buf + b->used, tmp, n < room ? n : room);
        b->buf[b->used + (n < room ? n : room)] = '\0';
    }
    b->used += n;
}

static void put_bytes(char *out, size_t len, size_t bytes) {
    if (bytes >= ((size_t)1 << 20)) snprintf(out, len, "%.2f MiB", (double)bytes / (1 << 20));
    else if (bytes >= 1024) snprintf(out, len, "%.1f KiB", (double)bytes / 1024);
    else snprintf(out, len, "%zu B", bytes);
}

hcl_status hcl_model_summary(const hcl_model *m, char *buf, size_t len, size_t *needed) {
    if (!m) return HCL_ERR_NULL_POINTER;
    if (len) HCL_CHECK_NULL(m->ctx, buf);
    hcl_model_memory mem;
    HCL_TRY(hcl_model_memory_get(m, &mem));
    sbuf b = {buf, len, 0};
    if (len) buf[0] = '\0';
    put(&b, "Model: %zu nodes, precision %s (%s activations), max batch %lld\n", m->count, hcl_precision_name(m->policy),
        hcl_dtype_name(m->dt), (long long)m->opt.max_batch);
    put(&b, "%-22s %-24s %12s %9s %14s\n", "Layer (type)", "Output shape", "Params", "Sparsity", "Activations");
    put(&b, "%.*s\n", 85, "=====================================================================================");
    size_t zeros = 0;
    for (size_t pos = 0; pos < m->count; pos++) {
        int id = m->order[pos];
        hcl_layer_summary s;
        HCL_TRY(hcl_model_layer_summary(m, id, &s));
        char shape[96], name[64], act[32], sp[16];
        int u = snprintf(shape, sizeof shape, "(");
        for (int i = 0; i < s.rank && u < 80; i++) u += snprintf(shape + u, sizeof shape - (size_t)u, "%s%lld", i ? ", " : "", (long long)s.shape[i]);
        snprintf(shape + u, sizeof shape - (size_t)u, ")");
        const nn_node *n = &m->nodes[id];
        snprintf(name, sizeof name, "%s", n->name);
        if (n->kind == HCL_LAYER_ACTIVATION && n->in_epilogue) snprintf(act, sizeof act, "(GEMM epilogue)");
        else if (s.fused) snprintf(act, sizeof act, "(in place)");
        else put_bytes(act, sizeof act, s.activation_bytes);
        if (s.params) snprintf(sp, sizeof sp, "%.2f%%", 100.0 * s.sparsity);
        else snprintf(sp, sizeof sp, "-");
        zeros += s.zero_params;
        put(&b, "%-22s %-24s %12zu %9s %14s\n", name, shape, s.params, sp, act);
    }
    put(&b, "%.*s\n", 85, "=====================================================================================");
    char t[5][32];
    put(&b, "Total params: %zu (sparsity %.2f%%: %zu exact zeros)\n", mem.param_count,
        mem.param_count ? 100.0 * (double)zeros / (double)mem.param_count : 0.0, zeros);
    put_bytes(t[0], sizeof t[0], mem.master_bytes);
    put_bytes(t[1], sizeof t[1], mem.weight_bytes);
    put_bytes(t[2], sizeof t[2], mem.grad_bytes);
    put_bytes(t[3], sizeof t[3], mem.optim_bytes);
    put(&b, "Parameter memory: masters %s, weights %s (%s), gradients %s, optimizer states %s\n", t[0], t[1],
        hcl_dtype_name(m->dt), t[2], t[3]);
    put_bytes(t[0], sizeof t[0], mem.activation_bytes);
    put_bytes(t[1], sizeof t[1], mem.activation_unplanned_bytes);
    put_bytes(t[2], sizeof t[2], mem.other_bytes);
    put(&b, "Activations + gradients: %s planned arena (%s if unshared); other %s\n", t[0], t[1], t[2]);
    size_t total = mem.master_bytes + mem.weight_bytes + mem.grad_bytes + mem.optim_bytes + mem.activation_bytes + mem.other_bytes;
    put_bytes(t[0], sizeof t[0], total);
    put(&b, "Total model memory: %s (+ the input batches and op workspace)\n", t[0]);
    if (needed) *needed = b.used + 1;
    return HCL_OK;
}
