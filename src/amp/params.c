/* Precision policies and parameter sets: declaration, arena allocation with aligned views,
 * zeroing, master -> working casts, host transfers, and seeded init through the Philox ops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "amp/amp_internal.h"
#include "halfcl/ops.h"

static const char *const precision_names[HCL_PRECISION_COUNT_] = {"fp32", "mixed_f16", "mixed_bf16", "pure_f16"};

static int policy_valid(hcl_precision p) { return (unsigned)p < HCL_PRECISION_COUNT_; }

const char *hcl_precision_name(hcl_precision p) { return policy_valid(p) ? precision_names[p] : NULL; }

hcl_status hcl_precision_parse(const char *name, hcl_precision *p) {
    if (!name || !p) return HCL_ERR_NULL_POINTER;
    for (int i = 0; i < HCL_PRECISION_COUNT_; i++) {
        if (!strcmp(name, precision_names[i])) {
            *p = (hcl_precision)i;
            return HCL_OK;
        }
    }
    return HCL_ERR_INVALID_ARGUMENT;
}

hcl_dtype hcl_precision_compute_dtype(hcl_precision p) {
    switch (p) {
    case HCL_PRECISION_MIXED_F16:
    case HCL_PRECISION_PURE_F16: return HCL_F16;
    case HCL_PRECISION_MIXED_BF16: return HCL_BF16;
    default: return HCL_F32;
    }
}

hcl_dtype hcl_precision_grad_dtype(hcl_precision p) { return hcl_precision_compute_dtype(p); }

int hcl_precision_has_master(hcl_precision p) { return p == HCL_PRECISION_MIXED_F16 || p == HCL_PRECISION_MIXED_BF16; }

hcl_status hcl_params_create(hcl_context *ctx, hcl_precision policy, hcl_params **out) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    if (!policy_valid(policy)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid precision policy %d", (int)policy);
    hcl_params *p = calloc(1, sizeof *p);
    if (!p) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    p->ctx = ctx;
    p->policy = policy;
    p->weight_dt = hcl_precision_compute_dtype(policy);
    p->grad_dt = hcl_precision_grad_dtype(policy);
    /* offsets aligned so that every arena (2- or 4-byte elements) starts a view on base_align */
    unsigned a = ctx->info.base_align_bytes;
    p->align = a >= 2 ? a / 2 : 1;
    *out = p;
    return HCL_OK;
}

void hcl_params_free(hcl_params *p) {
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) {
        hcl_param *q = &p->p[i];
        if (q->master != q->weight) hcl_tensor_free(q->master);
        hcl_tensor_free(q->weight);
        hcl_tensor_free(q->grad);
        free(q->name);
    }
    free(p->p);
    if (p->master_arena != p->weight_arena) hcl_tensor_free(p->master_arena);
    hcl_tensor_free(p->weight_arena);
    hcl_tensor_free(p->grad_arena);
    free(p);
}

hcl_status hcl_params_add(hcl_params *p, const char *name, int rank, const int64_t *shape, size_t *index) {
    if (!p) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = p->ctx;
    HCL_CHECK_NULL(ctx, name);
    if (p->allocated) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameter '%s' added after hcl_params_alloc", name);
    size_t len = strlen(name);
    if (len == 0 || len > HCL_PARAM_NAME_MAX)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameter name must have 1..%d bytes (has %zu)", HCL_PARAM_NAME_MAX, len);
    if (rank < 1 || rank > HCL_MAX_RANK)
        return hcl_error(ctx, HCL_ERR_SHAPE, "parameter '%s': rank %d outside 1..%d", name, rank, HCL_MAX_RANK);
    HCL_CHECK_NULL(ctx, shape);
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "parameter '%s': dim %d is %lld (must be >= 1)", name, i, (long long)shape[i]);
        if ((uint64_t)shape[i] > (SIZE_MAX / 8) / n) return hcl_error(ctx, HCL_ERR_OVERFLOW, "parameter '%s' is too large", name);
        n *= (size_t)shape[i];
    }
    for (size_t i = 0; i < p->count; i++)
        if (!strcmp(p->p[i].name, name)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameter '%s' declared twice", name);
    if (p->numel > (SIZE_MAX / 8) - n - p->align * (p->count + 1))
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "parameter arena size overflows");
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        hcl_param *np = realloc(p->p, cap * sizeof *np);
        if (!np) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        p->p = np;
        p->cap = cap;
    }
    hcl_param *q = &p->p[p->count];
    memset(q, 0, sizeof *q);
    q->name = malloc(len + 1);
    if (!q->name) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    memcpy(q->name, name, len + 1);
    q->rank = rank;
    for (int i = 0; i < rank; i++) q->shape[i] = shape[i];
    q->count = n;
    p->numel += n;
    if (index) *index = p->count;
    p->count++;
    return HCL_OK;
}

static hcl_status make_arena(hcl_params *p, hcl_dtype dt, hcl_tensor **t) {
    int64_t shape[1] = {(int64_t)p->arena_numel};
    HCL_TRY(hcl_tensor_create(p->ctx, dt, 1, shape, t));
    return hcl_tensor_fill_bits(*t, 0);
}

static hcl_status release_arenas(hcl_params *p, hcl_status st) {
    for (size_t i = 0; i < p->count; i++) {
        hcl_param *q = &p->p[i];
        if (q->master != q->weight) hcl_tensor_free(q->master);
        hcl_tensor_free(q->weight);
        hcl_tensor_free(q->grad);
        q->master = q->weight = q->grad = NULL;
    }
    if (p->master_arena != p->weight_arena) hcl_tensor_free(p->master_arena);
    hcl_tensor_free(p->weight_arena);
    hcl_tensor_free(p->grad_arena);
    p->master_arena = p->weight_arena = p->grad_arena = NULL;
    return st;
}

hcl_status hcl_params_alloc(hcl_params *p) {
    if (!p) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = p->ctx;
    if (p->allocated) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameters already allocated");
    if (p->count == 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "no parameters declared");
    size_t off = 0;
    for (size_t i = 0; i < p->count; i++) {
        off = (off + p->align - 1) / p->align * p->align;
        p->p[i].offset = off;
        off += p->p[i].count;
    }
    p->arena_numel = off;
    hcl_status st;
    if ((st = make_arena(p, p->weight_dt, &p->weight_arena)) != HCL_OK) return release_arenas(p, st);
    if ((st = make_arena(p, p->grad_dt, &p->grad_arena)) != HCL_OK) return release_arenas(p, st);
    if (hcl_precision_has_master(p->policy)) {
        if ((st = make_arena(p, HCL_F32, &p->master_arena)) != HCL_OK) return release_arenas(p, st);
    } else if (p->policy == HCL_PRECISION_FP32) {
        p->master_arena = p->weight_arena;
    }
    for (size_t i = 0; i < p->count; i++) {
        hcl_param *q = &p->p[i];
        if ((st = hcl_tensor_view(p->weight_arena, q->offset, q->rank, q->shape, &q->weight)) != HCL_OK ||
            (st = hcl_tensor_view(p->grad_arena, q->offset, q->rank, q->shape, &q->grad)) != HCL_OK)
            return release_arenas(p, st);
        if (p->master_arena == p->weight_arena) q->master = q->weight;
        else if (p->master_arena && (st = hcl_tensor_view(p->master_arena, q->offset, q->rank, q->shape, &q->master)) != HCL_OK)
            return release_arenas(p, st);
    }
    p->allocated = 1;
    return HCL_OK;
}

hcl_precision hcl_params_policy(const hcl_params *p) { return p ? p->policy : HCL_PRECISION_FP32; }
hcl_context *hcl_params_context(const hcl_params *p) { return p ? p->ctx : NULL; }
size_t hcl_params_count(const hcl_params *p) { return p ? p->count : 0; }
size_t hcl_params_numel(const hcl_params *p) { return p ? p->numel : 0; }
size_t hcl_params_arena_numel(const hcl_params *p) { return p && p->allocated ? p->arena_numel : 0; }

hcl_status hcl_params_find(const hcl_params *p, const char *name, size_t *index) {
    if (!p) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(p->ctx, name);
    HCL_CHECK_NULL(p->ctx, index);
    for (size_t i = 0; i < p->count; i++) {
        if (!strcmp(p->p[i].name, name)) {
            *index = i;
            return HCL_OK;
        }
    }
    return hcl_error(p->ctx, HCL_ERR_INVALID_ARGUMENT, "no parameter called '%s'", name);
}

const char *hcl_params_name(const hcl_params *p, size_t i) { return p && i < p->count ? p->p[i].name : NULL; }
size_t hcl_params_offset(const hcl_params *p, size_t i) { return p && i < p->count ? p->p[i].offset : 0; }
hcl_tensor *hcl_params_weight(hcl_params *p, size_t i) { return p && i < p->count ? p->p[i].weight : NULL; }
hcl_tensor *hcl_params_grad(hcl_params *p, size_t i) { return p && i < p->count ? p->p[i].grad : NULL; }
hcl_tensor *hcl_params_master(hcl_params *p, size_t i) { return p && i < p->count ? p->p[i].master : NULL; }
hcl_tensor *hcl_params_weight_arena(hcl_params *p) { return p ? p->weight_arena : NULL; }
hcl_tensor *hcl_params_grad_arena(hcl_params *p) { return p ? p->grad_arena : NULL; }
hcl_tensor *hcl_params_master_arena(hcl_params *p) { return p ? p->master_arena : NULL; }
hcl_tensor *hcl_params_storage_arena(hcl_params *p) { return p->master_arena ? p->master_arena : p->weight_arena; }

static hcl_status check_allocated(const hcl_params *p) {
    if (!p) return HCL_ERR_NULL_POINTER;
    if (!p->allocated) return hcl_error(p->ctx, HCL_ERR_INVALID_ARGUMENT, "parameters not allocated (call hcl_params_alloc)");
    return HCL_OK;
}

static hcl_status check_index(const hcl_params *p, size_t i) {
    HCL_TRY(check_allocated(p));
    if (i >= p->count) return hcl_error(p->ctx, HCL_ERR_INVALID_ARGUMENT, "parameter index %zu out of range (%zu)", i, p->count);
    return HCL_OK;
}

hcl_status hcl_params_zero_grad(hcl_params *p) {
    HCL_TRY(check_allocated(p));
    return hcl_tensor_fill_bits(p->grad_arena, 0);
}

hcl_status hcl_params_sync_weights(hcl_params *p) {
    HCL_TRY(check_allocated(p));
    if (!p->master_arena || p->master_arena == p->weight_arena) return HCL_OK;
    return hcl_tensor_cast(p->weight_arena, p->master_arena);
}

/* The tensor holding the values of parameter i: master, or the F16 weight under pure_f16. */
static hcl_tensor *storage(const hcl_params *p, size_t i) { return p->p[i].master ? p->p[i].master : p->p[i].weight; }

hcl_status hcl_params_upload(hcl_params *p, size_t i, const float *host, size_t count) {
    HCL_TRY(check_index(p, i));
    hcl_param *q = &p->p[i];
    HCL_TRY(hcl_tensor_upload_f32(storage(p, i), host, count));
    if (q->master && q->master != q->weight) HCL_TRY(hcl_tensor_cast(q->weight, q->master));
    return HCL_OK;
}

hcl_status hcl_params_download(const hcl_params *p, size_t i, float *host, size_t count) {
    HCL_TRY(check_index(p, i));
    return hcl_tensor_download_f32(storage(p, i), host, count);
}

/* ---- init ---- */

/* a * b for dims >= 1, saturated at INT64_MAX (huge shapes must not overflow) */
static int64_t mul_sat(int64_t a, int64_t b) { return a > 0 && b > INT64_MAX / a ? INT64_MAX : a * b; }

void hcl_init_fans(int rank, const int64_t *shape, int64_t *fan_in, int64_t *fan_out) {
    int64_t fi = 1, fo = 1;
    if (rank == 1 && shape) fi = fo = shape[0];
    else if (rank >= 2 && shape) {
        int64_t rf = 1;
        for (int i = 2; i < rank; i++) rf = mul_sat(rf, shape[i]);
        fi = mul_sat(shape[1], rf);
        fo = mul_sat(shape[0], rf);
    }
    if (fan_in) *fan_in = fi;
    if (fan_out) *fan_out = fo;
}

hcl_init hcl_init_constant(float value) { return (hcl_init){.kind = HCL_INIT_CONSTANT, .a = value, .gain = 1.0f}; }
hcl_init hcl_init_uniform(float lo, float hi) { return (hcl_init){.kind = HCL_INIT_UNIFORM, .a = lo, .b = hi, .gain = 1.0f}; }
hcl_init hcl_init_normal(float mean, float std) { return (hcl_init){.kind = HCL_INIT_NORMAL, .a = mean, .b = std, .gain = 1.0f}; }
hcl_init hcl_init_he(int normal) {
    return (hcl_init){.kind = normal ? HCL_INIT_HE_NORMAL : HCL_INIT_HE_UNIFORM, .gain = 1.41421356237309515f};
}
hcl_init hcl_init_xavier(int normal) {
    return (hcl_init){.kind = normal ? HCL_INIT_XAVIER_NORMAL : HCL_INIT_XAVIER_UNIFORM, .gain = 1.0f};
}

hcl_status hcl_params_init(hcl_params *p, size_t i, const hcl_init *init, uint64_t seed) {
    HCL_TRY(check_index(p, i));
    hcl_context *ctx = p->ctx;
    HCL_CHECK_NULL(ctx, init);
    hcl_param *q = &p->p[i];
    hcl_tensor *dst = storage(p, i);
    int64_t fi = init->fan_in, fo = init->fan_out, sfi, sfo;
    hcl_init_fans(q->rank, q->shape, &sfi, &sfo);
    if (fi <= 0) fi = sfi;
    if (fo <= 0) fo = sfo;
    uint64_t offset = (uint64_t)q->offset; /* stream position = arena position */
    double gain = init->gain;
    hcl_status st;
    switch (init->kind) {
    case HCL_INIT_CONSTANT: st = hcl_tensor_fill(dst, init->a); break;
    case HCL_INIT_UNIFORM: st = hcl_random_uniform(ctx, dst, init->a, init->b, seed, offset); break;
    case HCL_INIT_NORMAL: st = hcl_random_normal(ctx, dst, init->a, init->b, seed, offset); break;
    case HCL_INIT_HE_UNIFORM: {
        float bound = (float)(gain * sqrt(3.0 / (double)fi));
        st = hcl_random_uniform(ctx, dst, -bound, bound, seed, offset);
        break;
    }
    case HCL_INIT_HE_NORMAL: st = hcl_random_normal(ctx, dst, 0.0f, (float)(gain / sqrt((double)fi)), seed, offset); break;
    case HCL_INIT_XAVIER_UNIFORM: {
        float bound = (float)(gain * sqrt(6.0 / ((double)fi + (double)fo)));
        st = hcl_random_uniform(ctx, dst, -bound, bound, seed, offset);
        break;
    }
    case HCL_INIT_XAVIER_NORMAL:
        st = hcl_random_normal(ctx, dst, 0.0f, (float)(gain * sqrt(2.0 / ((double)fi + (double)fo))), seed, offset);
        break;
    default: return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid init kind %d", (int)init->kind);
    }
    HCL_TRY(st);
    if (q->master && q->master != q->weight) HCL_TRY(hcl_tensor_cast(q->weight, q->master));
    return HCL_OK;
}
