/* Magnitude pruning (issue 11): unstructured or whole-channel, global or per layer, one-shot or
 * Zhu & Gupta's gradual cubic schedule. Masks are chosen on the host from the downloaded masters
 * at schedule points only and handed to the fused optimizer (hcl_optimizer_set_mask), which keeps
 * pruned weights exactly 0. Selection is an exact sort by (key, position): deterministic, exactly
 * round(s * n) pruned, previously pruned entries first so masks only grow. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "amp/amp_internal.h"

typedef struct prune_item {
    size_t w, b; /* parameter indices; b = SIZE_MAX: no bias */
} prune_item;

struct hcl_pruner {
    hcl_optimizer *opt;
    hcl_params *params;
    hcl_context *ctx;
    hcl_prune_config cfg;
    prune_item *items;
    size_t n, cap;
    double applied; /* sparsity of the last masks set (0: none) */
};

/* One candidate: a weight (unstructured) or a channel; key = |w| or the L2 norm, -1 when already pruned. */
typedef struct prune_entry {
    double key;
    size_t pos; /* arena position of the weight / the channel's first weight: the tie order */
} prune_entry;

static int entry_cmp(const void *a, const void *b) {
    const prune_entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void hcl_prune_config_init(hcl_prune_config *c, float target_sparsity) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->kind = HCL_PRUNE_UNSTRUCTURED;
    c->scope = HCL_PRUNE_GLOBAL;
    c->target_sparsity = target_sparsity;
    c->initial_sparsity = 0.0f;
    c->begin_step = c->end_step = 0;
    c->frequency = 1;
}

static hcl_status validate(hcl_context *ctx, const hcl_prune_config *c) {
    if ((unsigned)c->kind >= HCL_PRUNE_KIND_COUNT_) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid prune kind %d", (int)c->kind);
    if ((unsigned)c->scope >= HCL_PRUNE_SCOPE_COUNT_)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid prune scope %d", (int)c->scope);
    if (!(c->target_sparsity >= 0.0f && c->target_sparsity <= 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "target_sparsity %g is not in [0, 1]", (double)c->target_sparsity);
    if (!(c->initial_sparsity >= 0.0f && c->initial_sparsity <= c->target_sparsity))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "initial_sparsity %g is not in [0, target_sparsity %g]",
                         (double)c->initial_sparsity, (double)c->target_sparsity);
    if (c->begin_step < 0 || c->end_step < c->begin_step)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "need 0 <= begin_step (%lld) <= end_step (%lld)", (long long)c->begin_step,
                         (long long)c->end_step);
    if (c->frequency < 1) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "frequency %lld must be >= 1", (long long)c->frequency);
    return HCL_OK;
}

hcl_status hcl_pruner_create(hcl_optimizer *opt, const hcl_prune_config *config, hcl_pruner **out) {
    if (!opt) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = opt->ctx;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, config);
    HCL_TRY(validate(ctx, config));
    hcl_pruner *p = calloc(1, sizeof *p);
    if (!p) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    p->opt = opt;
    p->params = opt->params;
    p->ctx = ctx;
    p->cfg = *config;
    *out = p;
    return HCL_OK;
}

void hcl_pruner_free(hcl_pruner *p) {
    if (!p) return;
    free(p->items);
    free(p);
}

static int already_added(const hcl_pruner *p, size_t idx) {
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].w == idx || p->items[i].b == idx) return 1;
    return 0;
}

hcl_status hcl_pruner_add(hcl_pruner *p, size_t w, size_t b) {
    if (!p) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = p->ctx;
    const hcl_params *ps = p->params;
    if (w >= ps->count) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "weight_index %zu out of range (%zu parameters)", w, ps->count);
    if (already_added(p, w)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameter %zu (%s) is already pruned", w, ps->p[w].name);
    if (p->cfg.kind == HCL_PRUNE_UNSTRUCTURED) {
        if (b != SIZE_MAX)
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "unstructured pruning takes no bias (bias_index must be SIZE_MAX)");
    } else {
        const hcl_param *q = &ps->p[w];
        if (q->rank < 2)
            return hcl_error(ctx, HCL_ERR_SHAPE, "channel pruning needs a weight of rank >= 2 (output channels first); %s has rank %d",
                             q->name, q->rank);
        if (b != SIZE_MAX) {
            if (b >= ps->count) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "bias_index %zu out of range (%zu parameters)", b, ps->count);
            if (b == w || already_added(p, b))
                return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "bias parameter %zu is the weight or already pruned", b);
            const hcl_param *r = &ps->p[b];
            if (r->rank != 1 || r->shape[0] != q->shape[0])
                return hcl_error(ctx, HCL_ERR_SHAPE, "bias %s must be rank 1 with %lld elements (the channels of %s)", r->name,
                                 (long long)q->shape[0], q->name);
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        prune_item *it = realloc(p->items, cap * sizeof *it);
        if (!it) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        p->items = it;
        p->cap = cap;
    }
    p->items[p->n++] = (prune_item){w, b};
    return HCL_OK;
}

/* Zhu & Gupta at the last schedule point <= step. */
static double target_at(const hcl_prune_config *c, int64_t step) {
    if (step < c->begin_step) return 0.0;
    if (step >= c->end_step) return c->target_sparsity;
    int64_t t = c->begin_step + (step - c->begin_step) / c->frequency * c->frequency;
    double frac = 1.0 - (double)(t - c->begin_step) / (double)(c->end_step - c->begin_step);
    double sf = c->target_sparsity, si = c->initial_sparsity;
    return sf + (si - sf) * frac * frac * frac;
}

float hcl_pruner_target_at(const hcl_pruner *p, int64_t step) { return p ? (float)target_at(&p->cfg, step) : 0.0f; }

/* round(s * n), within [0, n] */
static size_t prune_count(double s, size_t n) {
    double k = floor(s * (double)n + 0.5);
    return k <= 0 ? 0 : k >= (double)n ? n : (size_t)k;
}

/* Sorts entries [0, n) and clears the mask of the k smallest (through clear()). */
typedef struct select_ctx {
    const hcl_params *ps;
    const prune_item *items;
    size_t nitems;
    unsigned char *mask;
    int channels;
} select_ctx;

/* Clears the mask of the candidate at arena position pos (a weight, or a whole channel and its bias). */
static void clear_entry(const select_ctx *s, size_t pos) {
    if (!s->channels) {
        s->mask[pos] = 0;
        return;
    }
    for (size_t i = 0; i < s->nitems; i++) {
        const hcl_param *q = &s->ps->p[s->items[i].w];
        if (pos < q->offset || pos >= q->offset + q->count) continue;
        size_t row = q->count / (size_t)q->shape[0], ch = (pos - q->offset) / row;
        memset(s->mask + q->offset + ch * row, 0, row);
        if (s->items[i].b != SIZE_MAX) s->mask[s->ps->p[s->items[i].b].offset + ch] = 0;
        return;
    }
}

/* Fills the candidates of item i (its weights, or its channels) from its host master values. */
static size_t fill_entries(const select_ctx *s, size_t i, const float *w, prune_entry *e) {
    const hcl_param *q = &s->ps->p[s->items[i].w];
    const unsigned char *m = s->mask + q->offset;
    if (!s->channels) {
        for (size_t j = 0; j < q->count; j++) {
            double a = fabs((double)w[j]);
            e[j].key = !m[j] ? -1.0 : isnan(a) ? INFINITY : a;
            e[j].pos = q->offset + j;
        }
        return q->count;
    }
    /* a channel's key: the L2 norm of its weight row (the bias is not part of it) */
    size_t K = (size_t)q->shape[0], row = q->count / K;
    for (size_t c = 0; c < K; c++) {
        double ss = 0;
        int pruned = 1;
        for (size_t j = 0; j < row; j++) {
            ss += (double)w[c * row + j] * w[c * row + j];
            pruned &= !m[c * row + j];
        }
        e[c].key = pruned ? -1.0 : isnan(ss) ? INFINITY : sqrt(ss);
        e[c].pos = q->offset + c * row;
    }
    return K;
}

static void select_prune(const select_ctx *s, prune_entry *e, size_t n, double sparsity) {
    qsort(e, n, sizeof *e, entry_cmp);
    size_t k = prune_count(sparsity, n);
    for (size_t j = 0; j < k; j++) clear_entry(s, e[j].pos);
}

static hcl_status apply(hcl_pruner *p, double sparsity) {
    hcl_context *ctx = p->ctx;
    hcl_params *ps = p->params;
    size_t an = ps->arena_numel, total = 0, maxcount = 0;
    int channels = p->cfg.kind == HCL_PRUNE_CHANNELS;
    for (size_t i = 0; i < p->n; i++) {
        const hcl_param *q = &ps->p[p->items[i].w];
        size_t c = channels ? (size_t)q->shape[0] : q->count;
        total += c;
        if (q->count > maxcount) maxcount = q->count;
    }
    unsigned char *mask = malloc(an);
    float *w = malloc(maxcount * sizeof *w);
    prune_entry *e = malloc((total ? total : 1) * sizeof *e);
    hcl_tensor *mt = NULL;
    hcl_status st = mask && w && e ? HCL_OK : hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    /* start from the optimizer's mask (masks only grow), else keep everything */
    const hcl_tensor *old = hcl_optimizer_mask(p->opt);
    if (st == HCL_OK) {
        if (old) st = hcl_tensor_download_raw(old, mask, an);
        else memset(mask, 1, an);
    }
    select_ctx s = {ps, p->items, p->n, mask, channels};
    size_t used = 0;
    for (size_t i = 0; i < p->n && st == HCL_OK; i++) {
        const hcl_param *q = &ps->p[p->items[i].w];
        st = hcl_params_download(ps, p->items[i].w, w, q->count);
        if (st != HCL_OK) break;
        size_t m = fill_entries(&s, i, w, e + used);
        if (p->cfg.scope == HCL_PRUNE_PER_LAYER) select_prune(&s, e + used, m, sparsity);
        else used += m;
    }
    if (st == HCL_OK && p->cfg.scope == HCL_PRUNE_GLOBAL) select_prune(&s, e, used, sparsity);
    if (st == HCL_OK) {
        int64_t shape[1] = {(int64_t)an};
        st = hcl_tensor_create(ctx, HCL_U8, 1, shape, &mt);
    }
    if (st == HCL_OK) st = hcl_tensor_upload_raw(mt, mask, an);
    if (st == HCL_OK) st = hcl_optimizer_set_mask(p->opt, mt); /* copied (queued, in order) before mt is reused */
    hcl_tensor_free(mt);
    free(mask);
    free(w);
    free(e);
    return st;
}

hcl_status hcl_pruner_update(hcl_pruner *p, int64_t step) {
    if (!p) return HCL_ERR_NULL_POINTER;
    double s = target_at(&p->cfg, step);
    if (!(s > p->applied) || p->n == 0) return HCL_OK;
    HCL_TRY(apply(p, s));
    p->applied = s;
    return HCL_OK;
}

hcl_status hcl_params_sparsity(hcl_params *ps, size_t index, double *sparsity) {
    if (!ps) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ps->ctx, sparsity);
    if (!ps->allocated) return hcl_error(ps->ctx, HCL_ERR_INVALID_ARGUMENT, "parameters not allocated (call hcl_params_alloc)");
    if (index >= ps->count) return hcl_error(ps->ctx, HCL_ERR_INVALID_ARGUMENT, "parameter index %zu out of range (%zu)", index, ps->count);
    size_t n = ps->p[index].count, zeros = 0;
    float *w = malloc(n * sizeof *w);
    if (!w) return hcl_error(ps->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_params_download(ps, index, w, n);
    if (st == HCL_OK) {
        for (size_t i = 0; i < n; i++) zeros += w[i] == 0.0f;
        *sparsity = (double)zeros / (double)n;
    }
    free(w);
    return st;
}
