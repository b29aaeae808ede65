/* Library-internal layout of a model: nodes (kind, inputs, per-sample shape, parameters, fusion
 * flags, planned buffers and their views) shared by src/nn/model.c (graph, build, memory plan),
 * src/nn/exec.c (forward, backward, metrics, step log) and src/nn/summary.c. Not installed. */
#ifndef HCL_NN_INTERNAL_H
#define HCL_NN_INTERNAL_H

#include "halfcl/nn.h"
#include "runtime/internal.h"
#include "amp/amp_internal.h"

#define NN_NAME_MAX 48
#define NN_ALIGN 256 /* bytes: every planned buffer starts on this boundary */

typedef struct nn_node {
    hcl_layer_kind kind;
    char name[NN_NAME_MAX];
    int nin, in[HCL_NN_MAX_INPUTS];
    int rank;                    /* per-sample output rank and shape */
    int64_t shape[HCL_MAX_RANK];
    size_t sample;               /* elements per sample */

    /* configuration */
    int out_ch, kernel, stride, pad, groups;
    float p, alpha, momentum, eps;
    hcl_activation act;
    int has_bias;

    /* parameters (indices into the model's hcl_params), -1 = none */
    long w_idx, b_idx;
    int wrank;
    int64_t wshape[4];
    hcl_tensor *run_mean, *run_var, *save_mean, *save_invstd; /* batch norm (F32, C) */

    /* fusion (set at build) */
    int inplace;                 /* activation computed in place on its input's buffer */
    int in_epilogue;             /* ...and already applied by the producer's GEMM epilogue */
    hcl_activation epi_act;      /* on a linear: activation fused into its GEMM */
    float epi_alpha;
    int out_root, grad_root;     /* node whose buffer this node's output / gradient shares */

    /* analysis (set at build) */
    int pos;                     /* execution position */
    int consumers;
    int requires_grad;           /* the gradient of this node's output is needed */
    int has_grad;                /* has a gradient buffer (root or alias) */
    int first_writer[HCL_NN_MAX_INPUTS]; /* this edge overwrites the input's gradient */
    int need_dx[HCL_NN_MAX_INPUTS];

    /* planned buffers: logical ids into the model's buffer table, -1 = none */
    int b_out, b_grad, b_aux, b_tmp[HCL_NN_MAX_INPUTS];

    /* views for the current batch size (structs, never freed; block NULL) */
    hcl_tensor out, grad, aux, tmp[HCL_NN_MAX_INPUTS];
    int out_valid, grad_valid;

    uint64_t drop_offset;        /* dropout stream offset of the last train forward */
} nn_node;

typedef struct nn_buffer {
    size_t bytes;
    int first, last;             /* lifetime in timeline steps (inclusive) */
    size_t offset;               /* byte offset in the arena */
} nn_buffer;

struct hcl_model {
    hcl_context *ctx;
    hcl_precision policy;
    hcl_dtype dt;                /* compute dtype */
    nn_node *nodes;
    size_t count, cap;
    int built;
    int output;                  /* output node (after fusion rewrites) */
    int *order;                  /* execution order: order[pos] = node id */
    hcl_model_options opt;

    hcl_params *params;
    hcl_optimizer *optim;

    nn_buffer *bufs;
    size_t nbufs, cap_bufs;
    size_t arena_bytes, unplanned_bytes;
    hcl_tensor *arena;           /* U8 */

    int64_t cur_n;               /* batch size the views are set for (0 = none) */
    const hcl_tensor *x;         /* input of the last forward */
    int last_train;              /* the last forward was in train mode */
    uint64_t rng_offset;         /* dropout stream position */

    hcl_tensor *loss, *loss_sum, *correct;          /* training step loss and metrics */
    hcl_tensor *eval_loss, *eval_loss_sum, *eval_correct;
    size_t train_samples;

    hcl_tensor *ring;            /* step log: capacity * NN_LOG_WORDS F32 words */
    uint64_t *ring_step;
    size_t ring_cap, ring_written, ring_read;
    size_t other_bytes;
};

#define NN_LOG_WORDS (1 + HCL_AMP_WORDS)

/* exec.c */
hcl_status nn_set_views(hcl_model *m, int64_t n);

#endif
