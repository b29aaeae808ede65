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

#define NN_MAX_EXTRA 8
#define NN_MAX_STATE 5

typedef struct nn_quant nn_quant;             /* quantize.c: a quantized layer's state */

/* Data-parallel hook (src/dist/dist.c): hcl_model_backward calls it after the backward of the
 * node at execution position `pos` has been queued (positions count down to 0). The gradient of a
 * parameter is final in the queue once the node at nn_param_final_positions()[param] has run. */
typedef hcl_status (*nn_backward_hook)(void *user, hcl_model *m, size_t pos);
typedef struct nn_quant_model nn_quant_model; /* quantize.c: the model's quantization mode */

/* A parameter beyond weight/bias: "<node>.<name>", U(-bound, bound) at init. */
typedef struct nn_extra_param {
    char name[24];
    int rank;
    int64_t shape[2];
    float bound;
} nn_extra_param;

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

    /* sequence layers (model_seq.c, exec_seq.c) */
    int tokens;                  /* input: I32 token ids */
    int seq;                     /* dim 0 of the per-sample shape is the model's time axis */
    int padding_idx;             /* embedding: -1 or the id whose row gets no gradient */
    int heads, causal;           /* attention */
    hcl_rnn_cell cell;           /* rnn */
    int hidden, bidir;
    hcl_seq_pool_mode pool;      /* seq_pool */
    hcl_pos_kind pos_kind;       /* pos_embedding */
    int tied;                    /* linear: the embedding node whose table is the weight, or -1 */
    int nextra;                  /* parameters beyond weight/bias (the RNN's), declared at build */
    nn_extra_param extra[NN_MAX_EXTRA];
    long extra_idx[NN_MAX_EXTRA];
    hcl_tensor *state[NN_MAX_STATE]; /* node-owned device buffers sized for max_batch (see model_seq.c) */
    nn_quant *quant;             /* conv2d/linear under QAT, calibration or int8 inference (quantize.c) */
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
    int64_t cur_t;               /* steps the views are set for (token models: any 1..T) */
    int var_t;                   /* a token model whose time axis reaches only sequence layers:
                                    batches may have fewer steps than T */
    const hcl_tensor *x;         /* input of the last forward */
    const hcl_tensor *next_lengths; /* set by hcl_model_set_lengths for the next forward */
    const hcl_tensor *lengths;   /* those of the last forward (NULL = full sequences) */
    const hcl_tensor *teacher;   /* distillation: teacher logits for the next backward (NULL = none) */
    int last_train;              /* the last forward was in train mode */
    uint64_t rng_offset;         /* dropout stream position */

    hcl_tensor *loss, *loss_sum, *correct;          /* training step loss and metrics */
    hcl_tensor *eval_loss, *eval_loss_sum, *eval_correct;
    size_t train_samples, eval_samples;
    int eval_ready;              /* an eval forward ran and hcl_model_eval_batch may follow */
    int counts_correct;          /* accuracy is defined: cross-entropy, or BCE once given I32 labels */

    hcl_tensor *ring;            /* step log: capacity * NN_LOG_WORDS F32 words */
    uint64_t *ring_step;
    size_t ring_cap, ring_written, ring_read;
    size_t other_bytes;
    nn_quant_model *quant;       /* quantization (quantize.c); NULL for a float model */
    nn_backward_hook bwd_hook;   /* NULL = none (set only while src/dist runs a step) */
    void *bwd_hook_user;
};

#define NN_LOG_WORDS (1 + HCL_AMP_WORDS)

/* model.c */
extern const char *const nn_kind_names[HCL_LAYER_COUNT_];
hcl_status nn_check_open(hcl_model *m);
/* Resolves an input id (HCL_NN_PREV = the last node) and checks that it exists. */
hcl_status nn_resolve(hcl_model *m, int *id, const char *what);
/* Appends a node of `kind` with resolved inputs and its per-sample output shape, named "<kind>_<id>". */
hcl_status nn_push(hcl_model *m, hcl_layer_kind kind, const int *in, int nin, int rank, const int64_t *shape,
                   nn_node **node, int *id);

/* exec.c */
hcl_status nn_set_views(hcl_model *m, int64_t n, int64_t t);
/* Steps of node d's time axis in the current views (its build-time shape[0] when not a sequence). */
int64_t nn_steps(const hcl_model *m, const nn_node *d);
/* dtype of a max-pool's argmax buffer (b_aux): U8 window offsets when the window has at most 256
 * cells (a quarter of I32's bytes), else I32 flat indices. */
static inline hcl_dtype nn_argmax_dtype(const nn_node *d) {
    return (int64_t)d->kernel * d->kernel <= 256 ? HCL_U8 : HCL_I32;
}
const hcl_tensor *nn_value(hcl_model *m, int id, hcl_tensor *scratch);
/* For every parameter of the built model (hcl_params_count entries in pos): the lowest execution
 * position among the nodes that use it (a tied weight has two), i.e. the last node of the
 * backward that adds to its gradient. A parameter no node uses gets 0 (final at the end). */
void nn_param_final_positions(const hcl_model *m, size_t *pos);
hcl_tensor *nn_dx_target(hcl_model *m, nn_node *d, int s);
hcl_status nn_dx_finish(hcl_model *m, nn_node *d, int s);
hcl_status nn_dx_pass(hcl_model *m, nn_node *d, int s);
/* The same memory as t with another shape (a struct view, never freed). */
hcl_tensor nn_reshape(const hcl_tensor *t, int rank, const int64_t *shape);

/* model_seq.c: build-time parts of the sequence layers */
int nn_has_params(const nn_node *n);
hcl_status nn_seq_declare_extra(hcl_model *m, nn_node *n);
hcl_status nn_seq_init_params(hcl_model *m, nn_node *n, int *handled);
hcl_status nn_seq_create_state(hcl_model *m, nn_node *n);

/* exec_seq.c: forward and backward of the sequence layers (*handled = 0 for other kinds) */
hcl_status nn_seq_forward(hcl_model *m, nn_node *d, int train, int *handled);
hcl_status nn_seq_backward(hcl_model *m, nn_node *d, int *handled);

/* quantize.c: conv2d and linear layers with a quantization state run here (*handled = 1) */
int nn_quant_eligible(const nn_node *n);
/* Before queueing a forward: int8 models refuse train mode; unobserved ranges are an error. */
hcl_status nn_quant_check_forward(hcl_model *m, int train);
hcl_status nn_quant_forward(hcl_model *m, nn_node *d, int train, int *handled);
hcl_status nn_quant_backward(hcl_model *m, nn_node *d, int *handled);
void nn_quant_free(hcl_model *m);

#endif
