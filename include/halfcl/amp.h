/* halfcl amp: mixed-precision training state. Precision policies, parameters in flat arenas (FP32
 * masters, working copies in the compute dtype, gradients), seeded parameter init, the device-side
 * loss scaler, fused optimizers (SGD/momentum/Nesterov, Adam, AdamW, RMSProp, AdaGrad) with global
 * norm clipping, F32 or BF16 moments and pruning masks, learning-rate schedules, and checkpoints.
 * A training step needs no host sync. */
#ifndef HALFCL_AMP_H
#define HALFCL_AMP_H

#include "halfcl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- precision policies */
typedef enum hcl_precision {
    HCL_PRECISION_FP32 = 0,   /* weights, activations, gradients F32 (the master is the weight) */
    HCL_PRECISION_MIXED_F16,  /* F32 masters; F16 working weights, activations and gradients */
    HCL_PRECISION_MIXED_BF16, /* F32 masters; BF16 working weights, activations and gradients */
    HCL_PRECISION_PURE_F16,   /* F16 weights updated in place, no master copy: for comparison only */
    HCL_PRECISION_COUNT_
} hcl_precision;

const char *hcl_precision_name(hcl_precision p);     /* "fp32", "mixed_f16", ...; NULL if invalid */
/* "fp32" | "mixed_f16" | "mixed_bf16" | "pure_f16" -> policy; HCL_ERR_INVALID_ARGUMENT otherwise. */
hcl_status hcl_precision_parse(const char *name, hcl_precision *p);
hcl_dtype hcl_precision_compute_dtype(hcl_precision p); /* working weights and activations */
hcl_dtype hcl_precision_grad_dtype(hcl_precision p);    /* gradients (= compute dtype) */
int hcl_precision_has_master(hcl_precision p);          /* 1: a separate F32 master arena exists */

/* ---------------------------------------------------------------- parameters (flat arenas) */
/* A set of parameters. Declare them with hcl_params_add, then hcl_params_alloc creates one arena
 * per role (masters F32, working copies, gradients); each parameter is a view (arena, offset,
 * count) whose offset is aligned to the device's base alignment (padding elements are zero and
 * stay zero). Under fp32 the working copy IS the master (same buffer); under pure_f16 there is no
 * master (the F16 working copy is updated in place). Not thread-safe, like the context. */
typedef struct hcl_params hcl_params;

hcl_status hcl_params_create(hcl_context *ctx, hcl_precision policy, hcl_params **params);
void hcl_params_free(hcl_params *params); /* NULL is a no-op; free optimizers on it first */

/* Declares a parameter (name unique, 1..255 bytes; every dim >= 1). *index (may be NULL) gets its
 * index (declaration order). Only before hcl_params_alloc. */
hcl_status hcl_params_add(hcl_params *params, const char *name, int rank, const int64_t *shape, size_t *index);
/* Allocates the arenas and the views; masters, working copies and gradients start at zero. */
hcl_status hcl_params_alloc(hcl_params *params);

hcl_precision hcl_params_policy(const hcl_params *params);
hcl_context *hcl_params_context(const hcl_params *params);
size_t hcl_params_count(const hcl_params *params);            /* parameters declared */
size_t hcl_params_numel(const hcl_params *params);            /* sum of their element counts */
size_t hcl_params_arena_numel(const hcl_params *params);      /* arena elements incl. padding (after alloc) */
/* Index of `name`, or HCL_ERR_INVALID_ARGUMENT when absent. */
hcl_status hcl_params_find(const hcl_params *params, const char *name, size_t *index);
const char *hcl_params_name(const hcl_params *params, size_t index);        /* NULL if out of range */
size_t hcl_params_offset(const hcl_params *params, size_t index);           /* element offset in the arenas */

/* Views (after alloc; NULL when index is out of range). Ops take these directly: weight() is the
 * working copy in the compute dtype for forward/backward, grad() the gradient the backward ops
 * accumulate into. master() is the F32 master (= weight() under fp32, NULL under pure_f16). */
hcl_tensor *hcl_params_weight(hcl_params *params, size_t index);
hcl_tensor *hcl_params_grad(hcl_params *params, size_t index);
hcl_tensor *hcl_params_master(hcl_params *params, size_t index);
/* Whole-arena rank-1 tensors (after alloc). master_arena is NULL under pure_f16. */
hcl_tensor *hcl_params_weight_arena(hcl_params *params);
hcl_tensor *hcl_params_grad_arena(hcl_params *params);
hcl_tensor *hcl_params_master_arena(hcl_params *params);

/* Zeroes the whole gradient arena: one launch. Queued. */
hcl_status hcl_params_zero_grad(hcl_params *params);
/* Working copies = masters cast to the compute dtype (RNE), one launch over the arena; a no-op
 * under fp32 and pure_f16. Call after writing masters directly. Queued. */
hcl_status hcl_params_sync_weights(hcl_params *params);
/* Host F32 values -> parameter `index` (the master, then the working copy cast from it; under
 * pure_f16 the F16 weight). Blocking. */
hcl_status hcl_params_upload(hcl_params *params, size_t index, const float *host, size_t count);
/* Parameter `index` -> host F32 (the master; under pure_f16 the F16 weight). Blocking. */
hcl_status hcl_params_download(const hcl_params *params, size_t index, float *host, size_t count);

/* Initialisation from a seed with the Philox ops (hcl_random_uniform/normal). Draws come from the
 * stream (seed, offset = the parameter's arena offset), so the parameters of a set use disjoint
 * parts of one stream and a result depends only on (seed, layout). Writes the F32 master, then casts the
 * working copy from it (pure_f16: draws straight into the F16 weight). Queued. */
typedef enum hcl_init_kind {
    HCL_INIT_CONSTANT = 0,  /* a */
    HCL_INIT_UNIFORM,       /* U[a, b) */
    HCL_INIT_NORMAL,        /* N(mean a, std b) */
    HCL_INIT_HE_UNIFORM,    /* U[-bound, bound), bound = gain * sqrt(3 / fan_in)   (kaiming_uniform_) */
    HCL_INIT_HE_NORMAL,     /* N(0, gain / sqrt(fan_in))                           (kaiming_normal_)  */
    HCL_INIT_XAVIER_UNIFORM,/* bound = gain * sqrt(6 / (fan_in + fan_out))         (xavier_uniform_)  */
    HCL_INIT_XAVIER_NORMAL, /* std = gain * sqrt(2 / (fan_in + fan_out))           (xavier_normal_)   */
} hcl_init_kind;

typedef struct hcl_init {
    hcl_init_kind kind;
    float a, b;              /* constant / uniform bounds / normal mean and std */
    float gain;              /* He/Xavier gain: sqrt(2) for ReLU (hcl_init_he), 1 for linear/Xavier */
    int64_t fan_in, fan_out; /* He/Xavier; 0 = from the shape like PyTorch: dims (out, in, k...) */
} hcl_init;

hcl_status hcl_params_init(hcl_params *params, size_t index, const hcl_init *init, uint64_t seed);
/* PyTorch's fans of a weight of shape (out, in, k...): fan_in = in * prod(k), fan_out = out * prod(k);
 * rank 1: fan_in = fan_out = dim 0. */
void hcl_init_fans(int rank, const int64_t *shape, int64_t *fan_in, int64_t *fan_out);
/* Ready-made descriptors. */
hcl_init hcl_init_constant(float value);
hcl_init hcl_init_uniform(float lo, float hi);
hcl_init hcl_init_normal(float mean, float std);
hcl_init hcl_init_he(int normal);     /* gain sqrt(2), fans from the shape */
hcl_init hcl_init_xavier(int normal); /* gain 1, fans from the shape */

/* ---------------------------------------------------------------- loss scaler */
typedef enum hcl_scaler_mode {
    HCL_SCALER_OFF = 0, /* scale 1 */
    HCL_SCALER_STATIC,  /* fixed init_scale */
    HCL_SCALER_DYNAMIC, /* grows after growth_interval clean steps, backs off on inf/NaN */
} hcl_scaler_mode;

typedef struct hcl_scaler_config {
    hcl_scaler_mode mode;
    float init_scale;         /* 65536 (2^16) */
    float growth_factor;      /* 2 */
    float backoff_factor;     /* 0.5 */
    uint32_t growth_interval; /* 2000 consecutive clean steps */
    float max_scale;          /* 2^24: growth never passes it (and never reaches inf) */
    float min_scale;          /* 1: backoff never goes below it */
} hcl_scaler_config;

/* The defaults above, with mode DYNAMIC for mixed_f16 and OFF for the other policies (bf16 has
 * F32's range; pure_f16 is the unscaled comparison). */
void hcl_scaler_config_init(hcl_scaler_config *config, hcl_precision policy);

/* ---------------------------------------------------------------- optimizers */
typedef enum hcl_optim_kind {
    HCL_OPTIM_SGD = 0, /* momentum, dampening, nesterov, weight_decay (L2) */
    HCL_OPTIM_ADAM,    /* beta1, beta2, eps, weight_decay (L2, added to the gradient) */
    HCL_OPTIM_ADAMW,   /* beta1, beta2, eps, weight_decay (decoupled: p *= 1 - lr * wd) */
    HCL_OPTIM_RMSPROP, /* alpha, eps, momentum, centered, weight_decay */
    HCL_OPTIM_ADAGRAD, /* lr_decay, initial_accumulator_value, eps, weight_decay */
    HCL_OPTIM_COUNT_
} hcl_optim_kind;

/* How BF16 optimizer moments are rounded when stored (the math is FP32 either way). */
typedef enum hcl_state_rounding {
    HCL_STATE_ROUND_NEAREST = 0, /* round to nearest even */
    HCL_STATE_ROUND_STOCHASTIC,  /* up with probability (dropped bits) / 2^16: unbiased; Philox keyed
                                    by state_seed, the step counter, the state and the element */
    HCL_STATE_ROUND_COUNT_
} hcl_state_rounding;

typedef struct hcl_optim_config {
    hcl_optim_kind kind;
    float weight_decay;
    float momentum, dampening; /* SGD; momentum also RMSProp */
    int nesterov;              /* SGD (needs momentum > 0 and dampening 0, as PyTorch) */
    float beta1, beta2;        /* Adam/AdamW */
    float eps;                 /* Adam/AdamW/RMSProp/AdaGrad */
    float alpha;               /* RMSProp smoothing */
    int centered;              /* RMSProp */
    float lr_decay;            /* AdaGrad */
    float initial_accumulator_value; /* AdaGrad */
    float max_grad_norm;       /* > 0: clip by the global L2 norm of the unscaled gradients */
    hcl_dtype state_dtype;     /* HCL_F32 (default) or HCL_BF16: optimizer moments stored in BF16
                                  (half the state bytes; loaded as float, math in FP32) */
    hcl_state_rounding state_rounding; /* BF16 stores: nearest even (default) or stochastic */
    uint64_t state_seed;       /* stochastic rounding stream (with the device step counter) */
} hcl_optim_config;

/* PyTorch's defaults for `kind`: SGD (all 0), Adam (0.9, 0.999, 1e-8, wd 0), AdamW (wd 1e-2),
 * RMSProp (alpha 0.99, eps 1e-8), AdaGrad (eps 1e-10); no clipping; F32 states, nearest, seed 0. */
void hcl_optim_config_init(hcl_optim_config *config, hcl_optim_kind kind);
const char *hcl_optim_name(hcl_optim_kind kind); /* "sgd", "adam", ... */

/* The optimizer of a parameter set: state arenas in config->state_dtype (PyTorch names:
 * momentum_buffer; exp_avg, exp_avg_sq; square_avg, momentum_buffer, grad_avg; sum), an optional
 * pruning mask, and the device amp state: loss scale,
 * growth tracker, step counter (optimizer steps taken), skipped-step counter, last gradient norm.
 * `params` must be allocated and must outlive the optimizer. scaler may be NULL (policy default). */
typedef struct hcl_optimizer hcl_optimizer;
hcl_status hcl_optimizer_create(hcl_params *params, const hcl_optim_config *config,
                                const hcl_scaler_config *scaler, hcl_optimizer **optimizer);
void hcl_optimizer_free(hcl_optimizer *optimizer); /* NULL is a no-op */

/* The loss scale: an F32 one-element device tensor to pass as `grad_scale` to the loss ops.
 * It is updated on the device by hcl_optimizer_step; never NULL for a valid optimizer. */
const hcl_tensor *hcl_optimizer_grad_scale(const hcl_optimizer *optimizer);

/* One training step over the whole arena, with NO host sync, as three launches:
 *  1. unscale + check: one pass over the gradient arena reading the (scaled) gradients, finding
 *     inf/NaN and summing the squares of the unscaled gradients in FP32 (per-group partials);
 *  2. a one-work-item kernel: non-finite flag, global norm, clip factor, then the scaler update
 *     (dynamic: x0.5 and skip on inf/NaN, x2 after growth_interval clean steps, clamped to
 *     [min_scale, max_scale]) and the step counter (+1 only on a clean step);
 *  3. the fused optimizer: reads the gradient, multiplies by clip / scale, updates the F32 master
 *     and states and writes the working copy (RNE) — or touches nothing when the flag is set.
 * A step with a non-finite gradient is skipped in every scaler mode. `lr` comes from the host
 * (e.g. hcl_lr_at of the host step index). Gradients are left as they are (zero them before the
 * next backward). */
hcl_status hcl_optimizer_step(hcl_optimizer *optimizer, float lr);

/* Explicit, syncing read of the device amp state, for logging. */
typedef struct hcl_amp_stats {
    float scale;             /* current loss scale */
    uint32_t growth_tracker; /* consecutive clean steps since the last change */
    uint32_t step;           /* optimizer steps taken (skipped steps not counted) */
    uint32_t skipped;        /* steps skipped for inf/NaN gradients */
    int last_skipped;        /* the most recent hcl_optimizer_step was skipped */
    float grad_norm;         /* global L2 norm of the unscaled gradients of the last step */
    float clip_factor;       /* min(1, max_grad_norm / (grad_norm + 1e-6)), 1 without clipping */
} hcl_amp_stats;
hcl_status hcl_optimizer_read_stats(hcl_optimizer *optimizer, hcl_amp_stats *stats);

hcl_params *hcl_optimizer_params(const hcl_optimizer *optimizer);
const hcl_optim_config *hcl_optimizer_config(const hcl_optimizer *optimizer);
/* Optimizer state arenas (arena-sized, in the config's state_dtype: F32 or BF16): count, name and
 * tensor of each. */
size_t hcl_optimizer_state_count(const hcl_optimizer *optimizer);
const char *hcl_optimizer_state_name(const hcl_optimizer *optimizer, size_t which);
hcl_tensor *hcl_optimizer_state(hcl_optimizer *optimizer, size_t which);
/* Number of hcl_optimizer_step calls made (host step index, skipped steps included; restored by
 * checkpoints): what learning-rate schedules are evaluated at. */
uint64_t hcl_optimizer_host_step(const hcl_optimizer *optimizer);

/* Pruning masks, applied inside the fused optimizer: mask U8 with hcl_params_arena_numel elements
 * (any shape), 0 = pruned: master, working copy and optimizer states of those elements are set to
 * 0 (queued, at once) and never updated (they stay exactly 0, whatever the weight decay, momentum
 * or Adam state; their gradients count as 0 in the inf/NaN check and the clipping norm). The
 * optimizer copies the mask into its own arena (queued: `mask` may be reused or freed after the
 * call); NULL removes it (nothing is restored). A step with a mask still needs no host sync.
 * Checkpoints save and restore the mask ("mask" U8) when one is set. */
hcl_status hcl_optimizer_set_mask(hcl_optimizer *optimizer, const hcl_tensor *mask);
const hcl_tensor *hcl_optimizer_mask(const hcl_optimizer *optimizer); /* NULL when none */

/* ---------------------------------------------------------------- learning-rate schedules */
/* lr(step) = base_lr * warmup(step) * decay(step - warmup_steps), evaluated on the host. */
typedef enum hcl_lr_decay {
    HCL_LR_CONSTANT = 0,
    HCL_LR_STEP,   /* * gamma^floor(s / step_size) */
    HCL_LR_COSINE, /* min_lr + (base_lr - min_lr) (1 + cos(pi s / decay_steps)) / 2, min_lr after */
    HCL_LR_LINEAR, /* from base_lr to min_lr linearly over decay_steps, min_lr after */
} hcl_lr_decay;

typedef struct hcl_lr_schedule {
    float base_lr;
    int64_t warmup_steps;       /* linear warm-up over the first warmup_steps steps (0 = none) */
    float warmup_start_factor;  /* warm-up starts at base_lr * this (default 0) ... */
    hcl_lr_decay decay;
    int64_t step_size;          /* STEP */
    float gamma;                /* STEP (default 0.1) */
    int64_t decay_steps;        /* COSINE/LINEAR: steps after warm-up */
    float min_lr;               /* COSINE/LINEAR */
} hcl_lr_schedule;

void hcl_lr_schedule_init(hcl_lr_schedule *schedule, float base_lr); /* constant, no warm-up */
/* The learning rate at host step index `step` (0-based). During warm-up step s gives
 * base_lr * (f + (1 - f) * (s + 1) / warmup_steps), f = warmup_start_factor. */
float hcl_lr_at(const hcl_lr_schedule *schedule, int64_t step);

/* ---------------------------------------------------------------- checkpoints (safetensors) */
/* Extra training state stored with a checkpoint: the application's RNG stream (seed, offset),
 * and free-form metadata strings. */
typedef struct hcl_checkpoint_meta {
    const char *key, *value;
} hcl_checkpoint_meta;

typedef struct hcl_checkpoint_extra {
    uint64_t rng_seed, rng_offset;
    const hcl_checkpoint_meta *meta; /* save: pairs to store (keys must not start with "halfcl.") */
    size_t meta_count;
} hcl_checkpoint_extra;

/* Saves masters (F32; F16 weights under pure_f16) under "param.<name>", optimizer states in their
 * dtype (F32 or BF16) under "state.<state>.<name>", the mask ("mask", U8, arena-sized) when one is
 * set, the amp state (scale, growth tracker, step, skipped) and the host step index, the policy,
 * optimizer kind, the state rounding and seed, and extra. Blocking (downloads); written atomically (temp file
 * + rename), so an existing file survives any failure. extra may be NULL. */
hcl_status hcl_checkpoint_save(hcl_optimizer *optimizer, const char *path, const hcl_checkpoint_extra *extra);

/* Restores what hcl_checkpoint_save wrote, checking everything first (format, policy, optimizer
 * kind, names, shapes, dtypes, scalars, the mask: U8, arena-sized, with zero masters and states
 * where it is 0): on any error found in the file nothing in memory has changed (a device error
 * while writing the restored arenas afterwards can leave them partly written). Working copies are re-cast from the
 * masters, so training resumes bit-identically; the optimizer's mask becomes the file's (removed
 * when the file has none). State dtypes: BF16 states load into an F32-state optimizer exactly
 * (widened); F32 states into a BF16-state optimizer are refused (HCL_ERR_DTYPE: that would round).
 * The state rounding and seed are saved ("halfcl.state_rounding", "halfcl.state_seed"); into a
 * BF16-state optimizer a file with another rounding, or with stochastic rounding and another
 * state_seed, is refused (HCL_ERR_INVALID_ARGUMENT: the resumed run would diverge); a file
 * without them (saved before they were) is not checked. extra (may be NULL)
 * receives rng_seed and rng_offset; its meta is not filled (use hcl_safetensors_load for that). */
hcl_status hcl_checkpoint_load(hcl_optimizer *optimizer, const char *path, hcl_checkpoint_extra *extra);

/* Exports the weights for inference in `dtype` (F16, BF16 or F32, RNE from the masters) under
 * "<name>", with the policy in the metadata. Blocking; atomic like hcl_checkpoint_save. */
hcl_status hcl_params_export(hcl_params *params, const char *path, hcl_dtype dtype,
                             const hcl_checkpoint_meta *meta, size_t meta_count);

/* ---------------------------------------------------------------- compression */
/* Magnitude pruning through the optimizer's mask (hcl_optimizer_set_mask): pruned weights are 0
 * and stay exactly 0 through every later step. Masks are chosen on the host from the downloaded
 * masters at schedule points only (they sync); between them a step needs no host round trip.
 *  - HCL_PRUNE_UNSTRUCTURED: single weights with the smallest |master|.
 *  - HCL_PRUNE_CHANNELS: whole output channels (dim 0 rows of a conv/linear weight) with the
 *    smallest L2 norm, the channel's bias element with it; sparsity counts channels.
 *  - HCL_PRUNE_GLOBAL: one threshold over everything added (for CHANNELS: over all channels' norms);
 *    HCL_PRUNE_PER_LAYER: each added weight pruned to the target on its own.
 * The count pruned is round(sparsity * n) exactly: ties are broken by position (earlier first),
 * so the choice is deterministic. Masks only grow: what is pruned stays pruned when the target rises
 * (an existing optimizer mask, e.g. from a checkpoint, is kept and extended). */
typedef enum hcl_prune_kind { HCL_PRUNE_UNSTRUCTURED = 0, HCL_PRUNE_CHANNELS, HCL_PRUNE_KIND_COUNT_ } hcl_prune_kind;
typedef enum hcl_prune_scope { HCL_PRUNE_GLOBAL = 0, HCL_PRUNE_PER_LAYER, HCL_PRUNE_SCOPE_COUNT_ } hcl_prune_scope;

typedef struct hcl_prune_config {
    hcl_prune_kind kind;
    hcl_prune_scope scope;
    float target_sparsity;  /* s_f in [0, 1] */
    float initial_sparsity; /* s_i in [0, s_f]: the gradual ramp's first value */
    /* begin_step == end_step: one shot at begin_step. Else Zhu & Gupta (2017) gradual pruning: at
     * the schedule points t = begin, begin + frequency, ... (and end_step itself) the sparsity is
     * s_t = s_f + (s_i - s_f) (1 - (t - begin) / (end - begin))^3; s_f from end_step on. */
    int64_t begin_step, end_step, frequency; /* 0 <= begin <= end; frequency >= 1 */
} hcl_prune_config;

/* One-shot (begin = end = 0), global, unstructured, initial 0, frequency 1. */
void hcl_prune_config_init(hcl_prune_config *config, float target_sparsity);

typedef struct hcl_pruner hcl_pruner;
/* A pruner for the optimizer's parameters (the optimizer must outlive it). */
hcl_status hcl_pruner_create(hcl_optimizer *optimizer, const hcl_prune_config *config, hcl_pruner **pruner);
void hcl_pruner_free(hcl_pruner *pruner); /* NULL is a no-op; the optimizer keeps its mask */
/* Adds a parameter to prune (each at most once). UNSTRUCTURED: bias_index must be SIZE_MAX.
 * CHANNELS: a weight of rank >= 2 whose dim 0 are output channels, and its bias (rank 1 with dim 0
 * elements; SIZE_MAX = none) pruned alongside. */
hcl_status hcl_pruner_add(hcl_pruner *pruner, size_t weight_index, size_t bias_index);
/* When the schedule's sparsity at `step` exceeds the last one applied (a schedule point, or the
 * first call after a resume), recomputes the masks from |master| and sets them on the optimizer
 * (blocking: downloads the masters). Else a no-op (no sync). */
hcl_status hcl_pruner_update(hcl_pruner *pruner, int64_t step);
/* The schedule's sparsity in effect at `step` (0 before begin_step; NULL pruner: 0). */
float hcl_pruner_target_at(const hcl_pruner *pruner, int64_t step);
/* Fraction of exact zeros among the parameter's masters (F16 weights under pure_f16). Blocking. */
hcl_status hcl_params_sparsity(hcl_params *params, size_t index, double *sparsity);

/* Weight sharing (Deep Compression, Han et al. 2016): a parameter's weights are replaced by 2^bits
 * shared values (a codebook) and a U8 index per weight. k-means runs on the host when the parameter
 * is added (codebook linearly initialised over [min, max], Lloyd iterations to convergence:
 * deterministic); fine-tuning keeps the assignment and trains the codebook with the summed
 * gradients of each cluster, on the device. The optimizer must outlive the share object. */
typedef struct hcl_weight_share hcl_weight_share;
hcl_status hcl_weight_share_create(hcl_optimizer *optimizer, hcl_weight_share **share);
void hcl_weight_share_free(hcl_weight_share *share); /* NULL is a no-op */
/* Clusters the parameter's current masters into 2^bits values (bits 2..8) and writes masters and
 * working copies = codebook[index]. Weights pruned by the optimizer's mask are left out of the
 * clustering and stay exactly 0 (their index is the centroid nearest 0; they decode to 0 while the
 * mask prunes them; all pruned: a codebook of zeros). Blocking (downloads the masters and the
 * mask). Each parameter at most once. */
hcl_status hcl_weight_share_add(hcl_weight_share *share, size_t param_index, int bits);
/* Call after hcl_optimizer_step, with the gradients of that step still in place: for every shared
 * parameter codebook[k] -= lr * (sum of the unscaled gradients of the weights in cluster k: each
 * gradient times the optimizer's clip / loss scale, as the optimizer saw it), summed in a fixed
 * order (deterministic); skipped, like the optimizer's step, when that step found an inf/NaN
 * gradient; then masters and working copies = codebook[index] (working copies rounded to their
 * dtype; pure_f16: the F16 weights). Weights pruned by the optimizer's mask stay 0 and are left
 * out of the sums. Queued, no host sync. lr finite and >= 0. */
hcl_status hcl_weight_share_step(hcl_weight_share *share, float lr);
/* Indices (U8, the parameter's shape) and codebook (F32, 2^bits) of a shared parameter; NULL when
 * the parameter is not shared (or share is NULL). */
const hcl_tensor *hcl_weight_share_indices(const hcl_weight_share *share, size_t param_index);
const hcl_tensor *hcl_weight_share_codebook(const hcl_weight_share *share, size_t param_index);
/* Resuming: the sharing state (each shared parameter's indices and codebook) is NOT in
 * hcl_checkpoint_save's file, and re-adding the parameters after a load does not restore it: the
 * k-means of the trained masters need not give back the same clusters (codebook values that
 * moved close together or past each other are merged or renumbered) nor the values of empty
 * clusters. Save it beside the checkpoint with hcl_weight_share_save (atomically: per shared
 * parameter "share.<name>.indices" U8 of its shape and "share.<name>.codebook" F32 (2^bits),
 * metadata "halfcl.format" = "halfcl-weight-share-1"); to resume, hcl_checkpoint_load, then a new
 * share object on the optimizer and hcl_weight_share_load: the file is checked in full (names and
 * shapes of this parameter set, bits 2..8, finite codebooks, indices < 2^bits: HCL_ERR_FORMAT) and
 * the tensors are made before anything changes; then the parameters are shared as saved and their
 * masters and working copies = codebook[index] (pruned weights 0; a device error while writing
 * them can leave them partly written), so training resumes bit-identically. The share object must
 * have no shared parameter yet. Blocking. */
hcl_status hcl_weight_share_save(const hcl_weight_share *share, const char *path);
hcl_status hcl_weight_share_load(hcl_weight_share *share, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_AMP_H */
