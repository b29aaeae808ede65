/* Loss scaler and fused optimizers over parameter arenas: configuration defaults and validation,
 * state arenas, the device amp state, and the three launches of a step (cl_kernels/optim.cl):
 * unscale + check, finalize (flag, norm, clip, scaler, step counter), optimizer. No host sync. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "amp/amp_internal.h"
#include "ops/ops_internal.h"

/* Check-pass launch shape: many short work-items on GPUs (coalesced strided chunks), fewer and
 * longer ones on CPUs (PoCL runs a work-group's items in a loop; barriers cost per item). */
#define CHECK_MAX_GROUPS 1024

static const char *const optim_names[HCL_OPTIM_COUNT_] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};

const char *hcl_optim_name(hcl_optim_kind k) { return (unsigned)k < HCL_OPTIM_COUNT_ ? optim_names[k] : NULL; }

void hcl_scaler_config_init(hcl_scaler_config *c, hcl_precision policy) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->mode = policy == HCL_PRECISION_MIXED_F16 ? HCL_SCALER_DYNAMIC : HCL_SCALER_OFF;
    c->init_scale = 65536.0f;
    c->growth_factor = 2.0f;
    c->backoff_factor = 0.5f;
    c->growth_interval = 2000;
    c->max_scale = 16777216.0f;
    c->min_scale = 1.0f;
}

void hcl_optim_config_init(hcl_optim_config *c, hcl_optim_kind kind) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->alpha = 0.99f;
    if (kind == HCL_OPTIM_ADAMW) c->weight_decay = 1e-2f;
    if (kind == HCL_OPTIM_ADAGRAD) c->eps = 1e-10f;
    c->state_dtype = HCL_F32;
    c->state_rounding = HCL_STATE_ROUND_NEAREST;
    c->state_seed = 0;
}

static int finite_ge(float x, float lo) { return isfinite(x) && x >= lo; }

static hcl_status validate_config(hcl_context *ctx, const hcl_optim_config *c) {
    if ((unsigned)c->kind >= HCL_OPTIM_COUNT_) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid optimizer kind %d", (int)c->kind);
    if (!finite_ge(c->weight_decay, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "weight_decay %g must be finite and >= 0", (double)c->weight_decay);
    if (!(c->max_grad_norm >= 0.0f) || isinf(c->max_grad_norm))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "max_grad_norm %g must be finite and >= 0 (0 = no clipping)", (double)c->max_grad_norm);
    if (c->state_dtype != HCL_F32 && c->state_dtype != HCL_BF16)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "state_dtype %s: optimizer states are f32 or bf16",
                         hcl_dtype_name(c->state_dtype) ? hcl_dtype_name(c->state_dtype) : "(invalid)");
    if ((unsigned)c->state_rounding >= HCL_STATE_ROUND_COUNT_)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid state_rounding %d", (int)c->state_rounding);
    switch (c->kind) {
    case HCL_OPTIM_SGD:
        if (!finite_ge(c->momentum, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "momentum %g must be >= 0", (double)c->momentum);
        if (!(c->dampening >= 0.0f && c->dampening <= 1.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "dampening %g must be in [0, 1]", (double)c->dampening);
        if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "nesterov momentum requires a momentum > 0 and zero dampening");
        break;
    case HCL_OPTIM_ADAM:
    case HCL_OPTIM_ADAMW:
        if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "betas (%g, %g) must be in [0, 1)", (double)c->beta1, (double)c->beta2);
        if (!finite_ge(c->eps, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "eps %g must be >= 0", (double)c->eps);
        break;
    case HCL_OPTIM_RMSPROP:
        if (!(c->alpha >= 0.0f && c->alpha <= 1.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "alpha %g must be in [0, 1]", (double)c->alpha);
        if (!finite_ge(c->eps, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "eps %g must be >= 0", (double)c->eps);
        if (!finite_ge(c->momentum, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "momentum %g must be >= 0", (double)c->momentum);
        break;
    case HCL_OPTIM_ADAGRAD:
        if (!finite_ge(c->eps, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "eps %g must be >= 0", (double)c->eps);
        if (!finite_ge(c->lr_decay, 0.0f)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "lr_decay %g must be >= 0", (double)c->lr_decay);
        if (!finite_ge(c->initial_accumulator_value, 0.0f))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "initial_accumulator_value %g must be >= 0", (double)c->initial_accumulator_value);
        break;
    default: break;
    }
    return HCL_OK;
}

static hcl_status validate_scaler(hcl_context *ctx, const hcl_scaler_config *s) {
    if ((unsigned)s->mode > HCL_SCALER_DYNAMIC) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid scaler mode %d", (int)s->mode);
    if (s->mode == HCL_SCALER_OFF) return HCL_OK;
    if (!(isfinite(s->init_scale) && s->init_scale > 0.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "init_scale %g must be finite and > 0", (double)s->init_scale);
    if (s->mode == HCL_SCALER_STATIC) return HCL_OK;
    if (!(isfinite(s->growth_factor) && s->growth_factor >= 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "growth_factor %g must be finite and >= 1", (double)s->growth_factor);
    if (!(s->backoff_factor > 0.0f && s->backoff_factor <= 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "backoff_factor %g must be in (0, 1]", (double)s->backoff_factor);
    if (s->growth_interval < 1) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "growth_interval must be >= 1");
    if (!(isfinite(s->max_scale) && s->min_scale > 0.0f && s->min_scale <= s->init_scale && s->init_scale <= s->max_scale))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "need 0 < min_scale (%g) <= init_scale (%g) <= max_scale (%g) < inf",
                         (double)s->min_scale, (double)s->init_scale, (double)s->max_scale);
    return HCL_OK;
}

hcl_status hcl_optim_validate(hcl_context *ctx, const hcl_optim_config *config, const hcl_scaler_config *scaler) {
    HCL_TRY(validate_config(ctx, config));
    return scaler ? validate_scaler(ctx, scaler) : HCL_OK;
}

/* "-DG_DT=f16 -DP_DT=f32 -DW_DT=f16 -DHAS_WORK=1 -DS_DT=bf16 -DS_SR=0": one program for the
 * kernels of a step */
static const char *options(const hcl_optimizer *o, char *buf, size_t len) {
    const hcl_params *p = o->params;
    hcl_dtype pdt = p->master_arena ? HCL_F32 : p->weight_dt;
    int has_work = p->master_arena && p->master_arena != p->weight_arena;
    int bf16 = o->cfg.state_dtype == HCL_BF16;
    snprintf(buf, len, "-DG_DT=%s -DP_DT=%s -DW_DT=%s -DHAS_WORK=%d -DS_DT=%s -DS_SR=%d", hcl_dtype_name(p->grad_dt),
             hcl_dtype_name(pdt), hcl_dtype_name(p->weight_dt), has_work, bf16 ? "bf16" : "f32",
             bf16 && o->cfg.state_rounding == HCL_STATE_ROUND_STOCHASTIC);
    return buf;
}

void hcl_optimizer_free(hcl_optimizer *o) {
    if (!o) return;
    for (size_t i = 0; i < HCL_OPTIM_MAX_STATES; i++) hcl_tensor_free(o->state[i]);
    hcl_tensor_free(o->scale_view);
    hcl_tensor_free(o->amp);
    hcl_tensor_free(o->partials);
    hcl_tensor_free(o->mask);
    free(o);
}

hcl_status hcl_amp_state_reset(hcl_optimizer *o) {
    float w[HCL_AMP_WORDS];
    memset(w, 0, sizeof w);
    float scale = o->scaler.mode == HCL_SCALER_OFF ? 1.0f : o->scaler.init_scale;
    w[HCL_AMP_SCALE] = scale;
    w[HCL_AMP_NORM] = 0.0f;
    w[HCL_AMP_GSCALE] = 1.0f / scale;
    w[HCL_AMP_BC1] = w[HCL_AMP_BC2] = w[HCL_AMP_CLR] = w[HCL_AMP_CLIP] = 1.0f;
    return hcl_tensor_upload_raw(o->amp, w, sizeof w);
}

static hcl_status create_state(hcl_optimizer *o, size_t slot, const char *name, float init) {
    int64_t shape[1] = {(int64_t)o->params->arena_numel};
    HCL_TRY(hcl_tensor_create(o->ctx, o->cfg.state_dtype, 1, shape, &o->state[slot]));
    o->state_names[slot] = name;
    return hcl_tensor_fill(o->state[slot], init);
}

static hcl_status create_parts(hcl_optimizer *o) {
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    char opts[128];
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "optim", options(o, opts, sizeof opts), "unscale_check", &k));
    size_t kwg = 0;
    HCL_CL_TRY(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL));
    size_t lim = kwg < ctx->info.max_work_group_size ? kwg : ctx->info.max_work_group_size;
    int gpu = ctx->info.is_gpu;
    size_t local = gpu ? 256 : 64;
    while (local > 1 && local > lim) local /= 2;  /* power of two for the tree reduction */
    size_t n = (p->arena_numel + 7) / 8, per = local * (gpu ? 4 : 64); /* 8-element chunks per group */
    size_t groups = (n + per - 1) / per;
    if (groups > CHECK_MAX_GROUPS) groups = CHECK_MAX_GROUPS;
    if (groups < 1) groups = 1;
    o->check_local = local;
    o->check_groups = groups;
    int64_t shape[1] = {(int64_t)(2 * groups)};
    HCL_TRY(hcl_tensor_create(ctx, HCL_F32, 1, shape, &o->partials));
    return hcl_tensor_fill(o->partials, 0.0);
}

static hcl_status create_all(hcl_optimizer *o) {
    const hcl_optim_config *c = &o->cfg;
    switch (c->kind) {
    case HCL_OPTIM_SGD:
        if (c->momentum != 0.0f) HCL_TRY(create_state(o, 0, "momentum_buffer", 0.0f));
        break;
    case HCL_OPTIM_ADAM:
    case HCL_OPTIM_ADAMW:
        HCL_TRY(create_state(o, 0, "exp_avg", 0.0f));
        HCL_TRY(create_state(o, 1, "exp_avg_sq", 0.0f));
        break;
    case HCL_OPTIM_RMSPROP:
        HCL_TRY(create_state(o, 0, "square_avg", 0.0f));
        if (c->momentum > 0.0f) HCL_TRY(create_state(o, 1, "momentum_buffer", 0.0f));
        if (c->centered) HCL_TRY(create_state(o, 2, "grad_avg", 0.0f));
        break;
    case HCL_OPTIM_ADAGRAD: HCL_TRY(create_state(o, 0, "sum", c->initial_accumulator_value)); break;
    default: break;
    }
    for (size_t i = 0; i < HCL_OPTIM_MAX_STATES; i++) o->nstates += o->state[i] != NULL;
    int64_t shape[1] = {HCL_AMP_WORDS};
    HCL_TRY(hcl_tensor_create(o->ctx, HCL_F32, 1, shape, &o->amp));
    int64_t one[1] = {1};
    HCL_TRY(hcl_tensor_view(o->amp, HCL_AMP_SCALE, 1, one, &o->scale_view));
    HCL_TRY(create_parts(o));
    return hcl_amp_state_reset(o);
}

hcl_status hcl_optimizer_create(hcl_params *params, const hcl_optim_config *config, const hcl_scaler_config *scaler,
                                hcl_optimizer **out) {
    if (!params) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = params->ctx;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, config);
    if (!params->allocated) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameters not allocated (call hcl_params_alloc)");
    HCL_TRY(validate_config(ctx, config));
    hcl_scaler_config sc;
    if (scaler) sc = *scaler;
    else hcl_scaler_config_init(&sc, params->policy);
    HCL_TRY(validate_scaler(ctx, &sc));
    hcl_optimizer *o = calloc(1, sizeof *o);
    if (!o) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    o->ctx = ctx;
    o->params = params;
    o->cfg = *config;
    o->scaler = sc;
    hcl_status st = create_all(o);
    if (st != HCL_OK) {
        hcl_optimizer_free(o);
        return st;
    }
    *out = o;
    return HCL_OK;
}

const hcl_tensor *hcl_optimizer_grad_scale(const hcl_optimizer *o) { return o ? o->scale_view : NULL; }
hcl_params *hcl_optimizer_params(const hcl_optimizer *o) { return o ? o->params : NULL; }
const hcl_optim_config *hcl_optimizer_config(const hcl_optimizer *o) { return o ? &o->cfg : NULL; }
size_t hcl_optimizer_state_count(const hcl_optimizer *o) { return o ? o->nstates : 0; }
uint64_t hcl_optimizer_host_step(const hcl_optimizer *o) { return o ? o->host_step : 0; }

static int state_slot(const hcl_optimizer *o, size_t which) {
    if (!o) return -1;
    for (size_t i = 0; i < HCL_OPTIM_MAX_STATES; i++) {
        if (!o->state[i]) continue;
        if (which-- == 0) return (int)i;
    }
    return -1;
}

const char *hcl_optimizer_state_name(const hcl_optimizer *o, size_t which) {
    int s = state_slot(o, which);
    return s < 0 ? NULL : o->state_names[s];
}

hcl_tensor *hcl_optimizer_state(hcl_optimizer *o, size_t which) {
    int s = state_slot(o, which);
    return s < 0 ? NULL : o->state[s];
}

// g (arena) grad dtype -> partials (2 * groups) f32
hcl_status hcl_amp_check_enqueue(hcl_optimizer *o) {
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    char opts[128];
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "optim", options(o, opts, sizeof opts), "unscale_check", &k));
    cl_ulong g_off = hcl_off(p->grad_arena), n = p->arena_numel;
    size_t local = o->check_local, global = o->check_groups * local;
    cl_int blocked = !ctx->info.is_gpu, has_mask = o->mask != NULL;
    cl_mem mb = has_mask ? o->mask->buffer : o->amp->buffer; /* never read without a mask */
    cl_ulong m_off = has_mask ? hcl_off(o->mask) : 0;
    hcl_karg args[] = {HCL_ARG(p->grad_arena->buffer), HCL_ARG(g_off), HCL_ARG(mb), HCL_ARG(m_off), HCL_ARG(has_mask),
                       HCL_ARG(o->amp->buffer), HCL_ARG(o->partials->buffer), HCL_ARG(n), HCL_ARG(blocked),
                       HCL_LOCAL(local * sizeof(float)), HCL_LOCAL(local * sizeof(float))};
    return hcl_launch_1d(ctx, k, global, local, args, sizeof args / sizeof args[0]);
}

// partials (2 * groups) f32 -> amp state (flag, norm, clip, scale, step)
static hcl_status finalize_enqueue(hcl_optimizer *o) {
    hcl_context *ctx = o->ctx;
    char opts[128];
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "optim", options(o, opts, sizeof opts), "amp_finalize", &k));
    const hcl_scaler_config *s = &o->scaler;
    const hcl_optim_config *c = &o->cfg;
    int adam = c->kind == HCL_OPTIM_ADAM || c->kind == HCL_OPTIM_ADAMW;
    cl_uint groups = (cl_uint)o->check_groups, interval = s->growth_interval;
    cl_int dynamic = s->mode == HCL_SCALER_DYNAMIC;
    float max_norm = c->max_grad_norm, growth = s->growth_factor, backoff = s->backoff_factor;
    float max_scale = s->max_scale, min_scale = s->min_scale;
    float beta1 = adam ? c->beta1 : 0.0f, beta2 = adam ? c->beta2 : 0.0f;
    float lr_decay = c->kind == HCL_OPTIM_ADAGRAD ? c->lr_decay : 0.0f;
    hcl_karg args[] = {HCL_ARG(o->partials->buffer), HCL_ARG(groups), HCL_ARG(o->amp->buffer), HCL_ARG(max_norm),
                       HCL_ARG(dynamic), HCL_ARG(growth), HCL_ARG(backoff), HCL_ARG(interval), HCL_ARG(max_scale),
                       HCL_ARG(min_scale), HCL_ARG(beta1), HCL_ARG(beta2), HCL_ARG(lr_decay)};
    return hcl_launch_1d(ctx, k, 1, 1, args, sizeof args / sizeof args[0]);
}

// master/working/grad/states (arena) -> updated in place, unless the amp flag is set
hcl_status hcl_amp_update_enqueue(hcl_optimizer *o, float lr) {
    static const char *const kernels[HCL_OPTIM_COUNT_] = {"sgd_step", "adam_step", "adam_step", "rmsprop_step", "adagrad_step"};
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    const hcl_optim_config *c = &o->cfg;
    char opts[128];
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "optim", options(o, opts, sizeof opts), kernels[c->kind], &k));
    hcl_tensor *pt = hcl_params_storage_arena(p), *wt = p->weight_arena, *gt = p->grad_arena;
    cl_mem sb[HCL_OPTIM_MAX_STATES];
    cl_ulong so[HCL_OPTIM_MAX_STATES];
    for (size_t i = 0; i < HCL_OPTIM_MAX_STATES; i++) {
        sb[i] = o->state[i] ? o->state[i]->buffer : pt->buffer; /* unused slots: never accessed */
        so[i] = o->state[i] ? hcl_off(o->state[i]) : 0;
    }
    float wd = c->weight_decay, a = 0, b = 0, cc = 0;
    cl_int flags = 0;
    switch (c->kind) {
    case HCL_OPTIM_SGD: a = c->momentum; b = c->dampening; flags = c->nesterov ? 1 : 0; break;
    case HCL_OPTIM_ADAM:
    case HCL_OPTIM_ADAMW: a = c->beta1; b = c->beta2; cc = c->eps; flags = c->kind == HCL_OPTIM_ADAMW; break;
    case HCL_OPTIM_RMSPROP: a = c->alpha; b = c->eps; cc = c->momentum; flags = c->centered ? 1 : 0; break;
    case HCL_OPTIM_ADAGRAD: cc = c->eps; break;
    default: break;
    }
    cl_ulong p_off = hcl_off(pt), w_off = hcl_off(wt), g_off = hcl_off(gt), n = p->arena_numel;
    cl_int has_mask = o->mask != NULL;
    cl_mem mb = has_mask ? o->mask->buffer : o->amp->buffer; /* never read without a mask */
    cl_ulong m_off = has_mask ? hcl_off(o->mask) : 0, seed = c->state_seed;
    hcl_karg args[] = {HCL_ARG(pt->buffer), HCL_ARG(p_off), HCL_ARG(wt->buffer), HCL_ARG(w_off), HCL_ARG(gt->buffer),
                       HCL_ARG(g_off), HCL_ARG(sb[0]), HCL_ARG(so[0]), HCL_ARG(sb[1]), HCL_ARG(so[1]), HCL_ARG(sb[2]),
                       HCL_ARG(so[2]), HCL_ARG(mb), HCL_ARG(m_off), HCL_ARG(has_mask), HCL_ARG(seed),
                       HCL_ARG(o->amp->buffer), HCL_ARG(lr), HCL_ARG(wd), HCL_ARG(a), HCL_ARG(b), HCL_ARG(cc),
                       HCL_ARG(flags), HCL_ARG(n)};
    return hcl_launch_1d(ctx, k, (p->arena_numel + 7) / 8, 0, args, sizeof args / sizeof args[0]);
}

/* ---- masks ---- */

const hcl_tensor *hcl_optimizer_mask(const hcl_optimizer *o) { return o ? o->mask : NULL; }

hcl_status hcl_optimizer_mask_copy(hcl_optimizer *o, const hcl_tensor *mask) {
    if (!mask) {
        hcl_tensor_free(o->mask);
        o->mask = NULL;
        return HCL_OK;
    }
    if (o->mask && mask->buffer == o->mask->buffer) return HCL_OK; /* its own mask back */
    int fresh = !o->mask;
    if (fresh) {
        int64_t shape[1] = {(int64_t)o->params->arena_numel};
        HCL_TRY(hcl_tensor_create(o->ctx, HCL_U8, 1, shape, &o->mask));
    }
    hcl_status st = hcl_tensor_copy(o->mask, mask);
    if (st != HCL_OK && fresh) {
        hcl_tensor_free(o->mask);
        o->mask = NULL;
    }
    return st;
}

// mask (arena) u8 -> master, working copy and states zeroed where the mask is 0
static hcl_status mask_apply_enqueue(hcl_optimizer *o) {
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    char opts[128];
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "optim", options(o, opts, sizeof opts), "mask_apply", &k));
    hcl_tensor *pt = hcl_params_storage_arena(p), *wt = p->weight_arena;
    cl_mem sb[HCL_OPTIM_MAX_STATES];
    cl_ulong so[HCL_OPTIM_MAX_STATES];
    cl_int slots = 0;
    for (size_t i = 0; i < HCL_OPTIM_MAX_STATES; i++) {
        sb[i] = o->state[i] ? o->state[i]->buffer : pt->buffer; /* absent slots: never written */
        so[i] = o->state[i] ? hcl_off(o->state[i]) : 0;
        if (o->state[i]) slots |= 1 << i;
    }
    cl_ulong p_off = hcl_off(pt), w_off = hcl_off(wt), m_off = hcl_off(o->mask), n = p->arena_numel;
    hcl_karg args[] = {HCL_ARG(pt->buffer), HCL_ARG(p_off), HCL_ARG(wt->buffer), HCL_ARG(w_off), HCL_ARG(sb[0]),
                       HCL_ARG(so[0]), HCL_ARG(sb[1]), HCL_ARG(so[1]), HCL_ARG(sb[2]), HCL_ARG(so[2]),
                       HCL_ARG(o->mask->buffer), HCL_ARG(m_off), HCL_ARG(slots), HCL_ARG(n)};
    return hcl_launch_1d(ctx, k, p->arena_numel, 0, args, sizeof args / sizeof args[0]);
}

hcl_status hcl_optimizer_set_mask(hcl_optimizer *o, const hcl_tensor *mask) {
    if (!o) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = o->ctx;
    if (mask) {
        if (mask->ctx != ctx) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "the mask belongs to another context");
        if (mask->dtype != HCL_U8) return hcl_error(ctx, HCL_ERR_DTYPE, "mask is %s, expected u8", hcl_dtype_name(mask->dtype));
        if (mask->count != o->params->arena_numel)
            return hcl_error(ctx, HCL_ERR_SHAPE, "mask has %zu elements, the parameter arena %zu (hcl_params_arena_numel)",
                             mask->count, o->params->arena_numel);
    }
    HCL_TRY(hcl_optimizer_mask_copy(o, mask));
    return o->mask ? mask_apply_enqueue(o) : HCL_OK;
}

hcl_status hcl_optimizer_step(hcl_optimizer *o, float lr) {
    if (!o) return HCL_ERR_NULL_POINTER;
    if (!isfinite(lr) || lr < 0.0f) return hcl_error(o->ctx, HCL_ERR_INVALID_ARGUMENT, "learning rate %g must be finite and >= 0", (double)lr);
    HCL_TRY(hcl_amp_check_enqueue(o));
    HCL_TRY(finalize_enqueue(o));
    HCL_TRY(hcl_amp_update_enqueue(o, lr));
    o->host_step++;
    return HCL_OK;
}

hcl_status hcl_optimizer_read_stats(hcl_optimizer *o, hcl_amp_stats *s) {
    if (!o) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(o->ctx, s);
    uint32_t w[HCL_AMP_WORDS];
    HCL_TRY(hcl_tensor_download_raw(o->amp, w, sizeof w));
    float f[HCL_AMP_WORDS];
    memcpy(f, w, sizeof f);
    s->scale = f[HCL_AMP_SCALE];
    s->growth_tracker = w[HCL_AMP_TRACKER];
    s->step = w[HCL_AMP_STEP];
    s->skipped = w[HCL_AMP_SKIPPED];
    s->last_skipped = w[HCL_AMP_FOUND_INF] != 0;
    s->grad_norm = f[HCL_AMP_NORM];
    s->clip_factor = f[HCL_AMP_CLIP];
    return HCL_OK;
}
