/* Library-internal layout of the amp objects (parameter arenas, optimizer, device amp state words)
 * shared by the src/amp files, and the check-pass launcher the benchmark times on its own. */
#ifndef HCL_AMP_INTERNAL_H
#define HCL_AMP_INTERNAL_H

#include "halfcl/amp.h"
#include "runtime/internal.h"

/* amp state words: the same numbers as cl_kernels/optim.cl */
enum {
    HCL_AMP_SCALE = 0,
    HCL_AMP_FOUND_INF = 1,
    HCL_AMP_TRACKER = 2,
    HCL_AMP_STEP = 3,
    HCL_AMP_SKIPPED = 4,
    HCL_AMP_NORM = 5,
    HCL_AMP_GSCALE = 6,
    HCL_AMP_BC1 = 7,
    HCL_AMP_BC2 = 8,
    HCL_AMP_CLR = 9,
    HCL_AMP_CLIP = 10,
    HCL_AMP_WORDS = 16
};

#define HCL_PARAM_NAME_MAX 255

typedef struct hcl_param {
    char *name;
    int rank;
    int64_t shape[HCL_MAX_RANK];
    size_t count, offset;
    hcl_tensor *master, *weight, *grad; /* views; master == weight under fp32, NULL under pure_f16 */
} hcl_param;

struct hcl_params {
    hcl_context *ctx;
    hcl_precision policy;
    hcl_dtype weight_dt, grad_dt;
    hcl_param *p;
    size_t count, cap, numel;
    size_t arena_numel, align; /* elements */
    int allocated;
    hcl_tensor *master_arena;  /* F32; NULL under pure_f16; == weight_arena under fp32 */
    hcl_tensor *weight_arena;
    hcl_tensor *grad_arena;
};

#define HCL_OPTIM_MAX_STATES 3

struct hcl_optimizer {
    hcl_context *ctx;
    hcl_params *params;
    hcl_optim_config cfg;
    hcl_scaler_config scaler;
    size_t nstates;
    const char *state_names[HCL_OPTIM_MAX_STATES];
    hcl_tensor *state[HCL_OPTIM_MAX_STATES]; /* cfg.state_dtype */
    hcl_tensor *mask;       /* U8 arena-sized, 0 = pruned; NULL when none */
    hcl_tensor *amp;        /* HCL_AMP_WORDS f32 */
    hcl_tensor *scale_view; /* amp word 0 */
    hcl_tensor *partials;   /* 2 * max groups f32 */
    size_t check_local, check_groups;
    uint64_t host_step;
};

/* The parameter storage the optimizer updates: the F32 master arena, or the F16 weights (pure). */
hcl_tensor *hcl_params_storage_arena(hcl_params *params);

/* Enqueues pass 1 of a step alone (unscale + non-finite check + sum of squares into partials). */
hcl_status hcl_amp_check_enqueue(hcl_optimizer *opt);

/* Enqueues pass 3 alone (the fused optimizer over the arena). */
hcl_status hcl_amp_update_enqueue(hcl_optimizer *opt, float lr);

/* Checks an optimizer config and a scaler config (NULL: none) as hcl_optimizer_create does, so a
 * caller can reject them before doing anything else (the model build). */
hcl_status hcl_optim_validate(hcl_context *ctx, const hcl_optim_config *config, const hcl_scaler_config *scaler);

/* Copies `mask` (U8, arena-sized; NULL = none) into the optimizer's mask arena, without zeroing
 * anything: the checkpoint loader, which restores masters and states itself. Queued. */
hcl_status hcl_optimizer_mask_copy(hcl_optimizer *opt, const hcl_tensor *mask);

/* Writes the initial amp state words (scale from the scaler config, counters zero). Blocking. */
hcl_status hcl_amp_state_reset(hcl_optimizer *opt);

#endif
