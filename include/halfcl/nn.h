/* halfcl nn: models as graphs of layers (nodes with a list of input node ids), built once: the
 * model owns its parameter arenas and optimizer (amp) and plans every activation and gradient
 * buffer into one device arena at build time, so a training step allocates nothing and never
 * syncs with the host. Forward (train/eval), backward, optimizer step, metrics, evaluation over a
 * batcher (io.h), a Keras-like summary with memory per precision, and a device-side step log. */
#ifndef HALFCL_NN_H
#define HALFCL_NN_H

#include "halfcl/tensor.h"
#include "halfcl/ops.h"
#include "halfcl/amp.h"
#include "halfcl/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hcl_model hcl_model;

/* As an input id: the most recently added node (so consecutive calls form a sequential model). */
#define HCL_NN_PREV (-1)
/* Most inputs of one node. */
#define HCL_NN_MAX_INPUTS 4

typedef enum hcl_layer_kind {
    HCL_LAYER_INPUT = 0,
    HCL_LAYER_CONV2D,          /* also the depthwise half of DepthwiseSeparableConv2d (groups = C) */
    HCL_LAYER_MAXPOOL2D,
    HCL_LAYER_AVGPOOL2D,
    HCL_LAYER_GLOBAL_AVGPOOL,
    HCL_LAYER_BATCHNORM2D,
    HCL_LAYER_LINEAR,
    HCL_LAYER_DROPOUT,
    HCL_LAYER_FLATTEN,
    HCL_LAYER_ACTIVATION,
    HCL_LAYER_SOFTMAX,
    HCL_LAYER_ADD,
    HCL_LAYER_EMBEDDING,       /* token ids -> vectors */
    HCL_LAYER_POS_EMBEDDING,   /* + learned or sinusoidal position vectors */
    HCL_LAYER_LAYERNORM,
    HCL_LAYER_ATTENTION,       /* scaled dot-product attention of (q, k, v) nodes */
    HCL_LAYER_RNN,             /* one GRU/LSTM layer, one or two directions */
    HCL_LAYER_SEQ_POOL,        /* mean over valid steps / last valid step */
    HCL_LAYER_COUNT_
} hcl_layer_kind;

const char *hcl_layer_kind_name(hcl_layer_kind kind); /* "conv2d", ...; NULL if invalid */

/* Creates an empty model whose parameters and activations follow `policy`. */
hcl_status hcl_model_create(hcl_context *ctx, hcl_precision policy, hcl_model **model);
void hcl_model_free(hcl_model *model); /* NULL is a no-op */

/* ---------------------------------------------------------------- graph construction
 * Each call adds one node (DepthwiseSeparableConv2d adds two) fed by the given input node ids
 * (HCL_NN_PREV = the last node added) and writes the new node's id to *id (may be NULL). Shapes
 * are per sample (without the batch dim) and are checked as nodes are added. Only before
 * hcl_model_build (HCL_ERR_INVALID_ARGUMENT after). The last node added is the model's output.
 * Composite layers (dwsep_conv2d, mha, transformer_block, multi-layer rnn) add several nodes and
 * write the last one's id. */

/* The model input: per-sample shape, e.g. (1, 28, 28) for images or (T, D) for sequences. Must
 * be the first node; exactly one. */
hcl_status hcl_model_input(hcl_model *m, int rank, const int64_t *shape, int *id);
/* (C,H,W) -> (out_channels, P, Q); square kernel, stride, zero padding; bias. */
hcl_status hcl_model_conv2d(hcl_model *m, int input, int out_channels, int kernel, int stride, int pad, int *id);
/* Depthwise (groups = C, kernel x kernel, stride, pad, bias) then pointwise 1x1 to out_channels. */
hcl_status hcl_model_dwsep_conv2d(hcl_model *m, int input, int out_channels, int kernel, int stride, int pad, int *id);
hcl_status hcl_model_maxpool2d(hcl_model *m, int input, int kernel, int stride, int *id);
hcl_status hcl_model_avgpool2d(hcl_model *m, int input, int kernel, int stride, int *id);
/* (C,H,W) -> (C). */
hcl_status hcl_model_global_avgpool(hcl_model *m, int input, int *id);
/* (C,H,W); gamma 1, beta 0; running statistics (PyTorch momentum semantics) used in eval mode. */
hcl_status hcl_model_batchnorm2d(hcl_model *m, int input, float momentum, float eps, int *id);
/* (..., in) -> (..., out_features): y = x W^T + b, W (out, in) like PyTorch; any leading dims
 * (so (T, D) sequences work). */
hcl_status hcl_model_linear(hcl_model *m, int input, int out_features, int *id);
/* Inverted dropout with probability p in [0,1) in train mode; identity in eval mode. */
hcl_status hcl_model_dropout(hcl_model *m, int input, float p, int *id);
/* (...) -> (prod) (a view: no copy). */
hcl_status hcl_model_flatten(hcl_model *m, int input, int *id);
/* Elementwise activation (ReLU, LeakyReLU with slope alpha, Sigmoid, Tanh, GELU, SiLU). */
hcl_status hcl_model_activation(hcl_model *m, int input, hcl_activation act, float alpha, int *id);
/* Softmax over the last dim (use a CROSS_ENTROPY loss on logits instead for classification). */
hcl_status hcl_model_softmax(hcl_model *m, int input, int *id);
/* a + b, same shapes (a residual connection). */
hcl_status hcl_model_add(hcl_model *m, int a, int b, int *id);

/* ---------------------------------------------------------------- sequences
 * Sequence nodes have per-sample shape (T, D). Variable lengths: hcl_model_set_lengths() gives
 * the valid steps of each sequence of the next forward (and its backward); the RNN, sequence
 * pooling and (as key padding) attention layers honour them, padded steps never influence a valid
 * one, and the other layers work on every step (their padded outputs are finite garbage that
 * nothing valid reads). */

/* The model input as token ids: per-sample (T) I32; x of hcl_model_forward is then (N, T') I32
 * with 1 <= T' <= T when the time axis reaches only sequence layers and sequence pooling (then
 * batches bucketed by length run only the steps they need; buffers are planned for T), else
 * (N, T). A per-step output then has T' steps. */
hcl_status hcl_model_input_tokens(hcl_model *m, int64_t T, int *id);
/* (T) ids -> (T, dim) rows of a (vocab, dim) table (vocab <= 2^31 - 1: I32 ids), initialised N(0, 1)
 * as PyTorch's (re-initialise it with hcl_params_init for e.g. a tied head's N(0, 0.02)). padding_idx
 * -1 or an id whose row starts at 0 and never receives a gradient (PyTorch's padding_idx). Ids
 * outside 0..vocab-1 give NaN rows. */
hcl_status hcl_model_embedding(hcl_model *m, int input, int64_t vocab, int dim, int padding_idx, int *id);
typedef enum hcl_pos_kind {
    HCL_POS_LEARNED = 0,   /* a (T, D) parameter, initialised N(0, 0.02) */
    HCL_POS_SINUSOIDAL,    /* the fixed table of "Attention is all you need" (no parameter) */
} hcl_pos_kind;
/* (T, D) -> (T, D) + position vectors. */
hcl_status hcl_model_pos_embedding(hcl_model *m, int input, hcl_pos_kind kind, int *id);
/* LayerNorm over the last dim (gamma 1, beta 0). */
hcl_status hcl_model_layernorm(hcl_model *m, int input, float eps, int *id);
/* softmax(q k^T / sqrt(D/heads)) v per head: q (Tq, E), k and v (Tk, E) -> (Tq, E), E divisible by
 * heads, E / heads <= HCL_ATTENTION_MAX_D. causal: query i sees keys j <= i + Tk - Tq. Keys at or
 * after a sequence's length are masked (key padding). */
hcl_status hcl_model_attention(hcl_model *m, int q, int k, int v, int heads, int causal, int *id);
/* Multi-head self-attention: Q, K, V projections (three linears), attention, output projection. */
hcl_status hcl_model_mha(hcl_model *m, int input, int heads, int causal, int *id);
/* Pre-LN Transformer encoder block: x + Drop(MHA(LN(x))), then r + Drop(W2 GELU(W1 LN(r) + b1) + b2)
 * with hidden width mlp_hidden (dropout p in [0,1); 0 = none). Adds 12 nodes (14 with dropout). */
hcl_status hcl_model_transformer_block(hcl_model *m, int input, int heads, int mlp_hidden, float dropout, int causal,
                                       int *id);
/* GRU or LSTM, batch-first (T, I) -> (T, hidden * (bidirectional ? 2 : 1)), `layers` stacked
 * layers (one node each), PyTorch's weight layout and init U(+-1/sqrt(hidden)); a bidirectional
 * layer's output is [forward | backward] per step. Honours the lengths (packed semantics: 0 at
 * padded steps, the backward direction starts at each sequence's last valid step). */
hcl_status hcl_model_rnn(hcl_model *m, int input, hcl_rnn_cell cell, int hidden, int layers, int bidirectional, int *id);
/* (T, D) -> (D): mean over the valid steps or the last valid step. */
hcl_status hcl_model_seq_pool(hcl_model *m, int input, hcl_seq_pool_mode mode, int *id);
/* (..., D) -> (..., vocab): y = x E^T with the table E (vocab, D) of `embedding` (weight tying; no
 * bias; both uses add to the one gradient). */
hcl_status hcl_model_linear_tied(hcl_model *m, int input, int embedding, int *id);

/* Valid steps per sequence for the next hcl_model_forward (and the backward after it): (N) I32 on
 * the device with values in 1..T (others are clamped), or NULL = every sequence has T steps. The
 * tensor must stay unchanged until that work is done. Cleared by each forward. */
hcl_status hcl_model_set_lengths(hcl_model *m, const hcl_tensor *lengths);

/* Number of nodes, a node's kind, name ("conv2d_1"; parameters are "<name>.weight", ".bias")
 * and per-sample output shape (rank returned; shape may be NULL). */
size_t hcl_model_node_count(const hcl_model *m);
hcl_layer_kind hcl_model_node_kind(const hcl_model *m, int id);
const char *hcl_model_node_name(const hcl_model *m, int id);
int hcl_model_node_shape(const hcl_model *m, int id, int64_t shape[HCL_MAX_RANK]);

/* ---------------------------------------------------------------- build */
typedef enum hcl_weight_init {
    HCL_WINIT_TORCH = 0,     /* PyTorch's defaults: W ~ U(+-1/sqrt(fan_in)), b ~ U(+-1/sqrt(fan_in)) */
    HCL_WINIT_HE_UNIFORM,    /* W He uniform (gain sqrt 2), b = 0 */
    HCL_WINIT_HE_NORMAL,     /* W He normal, b = 0 */
    HCL_WINIT_XAVIER_UNIFORM,/* W Xavier uniform, b = 0 */
    HCL_WINIT_XAVIER_NORMAL, /* W Xavier normal, b = 0 */
} hcl_weight_init;

typedef enum hcl_loss_kind {
    HCL_LOSS_CROSS_ENTROPY = 0, /* output (N, C) logits, targets (N) I32 class labels; or per-step
                                   logits (N, T, C) with targets (N, T) (a language model: loss,
                                   accuracy and sample counts are then per step) */
    HCL_LOSS_MSE,               /* targets: float, the output's shape */
    HCL_LOSS_BCE_WITH_LOGITS,   /* targets: float in [0,1] of the output's shape, or I32 0/1
                                   labels (N) for an output of one logit per sample (accuracy:
                                   logit > 0 predicts 1) */
    HCL_LOSS_DISTILLATION,      /* knowledge distillation (hcl_distillation_loss): output (N, C)
                                   student logits, targets (N) I32 labels, and the teacher's (N, C)
                                   logits given by hcl_model_set_teacher_logits before each
                                   backward: loss = alpha T^2 KL(softmax(t/T) || softmax(s/T)) +
                                   (1 - alpha) CE(s, labels) with T = distill_temperature, alpha =
                                   distill_alpha (alpha 1: the labels only count accuracy).
                                   Evaluation (eval_batch, evaluate) reports the cross-entropy
                                   against the labels: no teacher needed */
} hcl_loss_kind;

typedef struct hcl_model_options {
    int64_t max_batch;        /* buffers are planned for this batch; any batch 1..max_batch runs (64) */
    uint64_t seed;            /* parameter init and dropout streams (0) */
    hcl_weight_init init;     /* TORCH */
    hcl_loss_kind loss;       /* CROSS_ENTROPY */
    float label_smoothing;    /* 0 */
    hcl_optim_config optim;   /* Adam, PyTorch defaults */
    hcl_scaler_config scaler; /* the policy's default (dynamic for mixed_f16) */
    int fuse;                 /* 1: in-place activations, bias+activation in the GEMM epilogue, ReLU
                                 moved after a max-pool it feeds (same values and gradients); 0: none */
    float distill_temperature;/* HCL_LOSS_DISTILLATION: T > 0 softening both distributions (4) */
    float distill_alpha;      /* HCL_LOSS_DISTILLATION: weight of the soft term in [0, 1] (0.9) */
} hcl_model_options;

void hcl_model_options_init(hcl_model_options *options, hcl_precision policy);

/* Fixes the graph, declares and allocates the parameter arenas, initialises the parameters from
 * options->seed, creates the optimizer and plans one device arena for all activations and
 * gradients (buffers whose lifetimes do not overlap share memory). Once. */
hcl_status hcl_model_build(hcl_model *m, const hcl_model_options *options);

hcl_context *hcl_model_context(const hcl_model *m);
hcl_precision hcl_model_policy(const hcl_model *m);
hcl_dtype hcl_model_dtype(const hcl_model *m);     /* activations and working weights */
hcl_params *hcl_model_params(hcl_model *m);        /* after build */
hcl_optimizer *hcl_model_optimizer(hcl_model *m);  /* after build */

/* ---------------------------------------------------------------- running
 * x: (N, per-sample input shape), any float dtype (the model's dtype avoids a conversion pass),
 * 1 <= N <= max_batch. x must stay unchanged until the queued work that reads it is done (in
 * train mode that is the end of the step: backward reads it). None of these syncs. */
hcl_status hcl_model_forward(hcl_model *m, const hcl_tensor *x, int train);
/* The output of the last forward: (N, output shape) in the model's dtype, owned by the model;
 * valid until the next forward or backward. */
const hcl_tensor *hcl_model_output(hcl_model *m);
/* After a train-mode forward: the loss against `target` (see hcl_loss_kind) into the step's loss
 * (F32, one element), its gradient multiplied by the optimizer's loss scale, then the backward
 * pass, which ACCUMULATES parameter gradients (zero them with hcl_params_zero_grad first). Also
 * adds the loss and correct predictions to the training metrics. */
hcl_status hcl_model_backward(hcl_model *m, const hcl_tensor *target);
/* HCL_LOSS_DISTILLATION: the teacher's logits for the next backward (hcl_model_train_step's
 * included): (N, C) of any float dtype on the model's context, N the batch and C the output's
 * classes (N is checked at the backward) — typically hcl_model_output of a teacher model after an
 * eval-mode forward of the same batch (an F16 mixed_f16 teacher's logits feed any student). The
 * tensor must stay unchanged until that backward's work is done; the backward consumes it (set it
 * again for the next). NULL clears it. Errors for other losses. */
hcl_status hcl_model_set_teacher_logits(hcl_model *m, const hcl_tensor *teacher);
/* The optimizer step through the loss scaler (hcl_optimizer_step). */
hcl_status hcl_model_step(hcl_model *m, float lr);
/* zero_grad + forward(train) + backward + step, all queued: one training step. */
hcl_status hcl_model_train_step(hcl_model *m, const hcl_tensor *x, const hcl_tensor *target, float lr);
/* The loss of the last backward (F32, one element, unscaled), owned by the model. */
const hcl_tensor *hcl_model_loss(hcl_model *m);

/* ---------------------------------------------------------------- metrics
 * Training metrics accumulate on the device (sum of loss * N, correct predictions) at each
 * backward; reading them syncs. accuracy is -1 for losses other than cross-entropy. */
typedef struct hcl_metrics {
    double loss;      /* mean loss per sample */
    double accuracy;  /* fraction correct */
    size_t samples;   /* samples, or steps for per-step outputs */
} hcl_metrics;
hcl_status hcl_model_metrics_reset(hcl_model *m);
hcl_status hcl_model_metrics_read(hcl_model *m, hcl_metrics *metrics);
/* Eval-mode loss and accuracy over one epoch of `data` (its batches must fit max_batch; labels
 * are the cross-entropy targets). Syncs once at the end. Training metrics are untouched. */
hcl_status hcl_model_evaluate(hcl_model *m, hcl_batcher *data, hcl_metrics *metrics);
/* Evaluation batch by batch (any input, e.g. token batches with lengths): reset, then per batch an
 * eval-mode forward (after hcl_model_set_lengths when needed) and hcl_model_eval_batch, which adds
 * the loss and correct predictions against `target` to the evaluation metrics; read syncs. The
 * training metrics are untouched. */
hcl_status hcl_model_eval_reset(hcl_model *m);
hcl_status hcl_model_eval_batch(hcl_model *m, const hcl_tensor *target);
hcl_status hcl_model_eval_read(hcl_model *m, hcl_metrics *metrics);

/* ---------------------------------------------------------------- step log (device ring buffer)
 * When enabled, each hcl_model_step copies the step's loss and the amp state after the step into
 * a device ring of `capacity` records (a queued copy, no sync); hcl_model_log_read downloads the
 * records written since the last read (at most capacity; read at least every capacity steps). */
typedef struct hcl_step_record {
    uint64_t step;        /* host step index (0-based) */
    float loss;           /* the step's loss */
    float scale;          /* loss scale after the step */
    uint32_t skipped;     /* skipped steps so far */
    int was_skipped;      /* this step was skipped (inf/NaN gradients) */
} hcl_step_record;
hcl_status hcl_model_log_enable(hcl_model *m, size_t capacity);
/* Writes up to max records (oldest first) to records; *count gets the number written. Syncs. */
hcl_status hcl_model_log_read(hcl_model *m, hcl_step_record *records, size_t max, size_t *count);

/* ---------------------------------------------------------------- summary */
typedef struct hcl_model_memory {
    size_t param_count;        /* parameters (elements) */
    size_t master_bytes;       /* F32 masters (0 when the working copy is the master or pure_f16) */
    size_t weight_bytes;       /* working copies in the compute dtype */
    size_t grad_bytes;
    size_t optim_bytes;        /* optimizer states */
    size_t activation_bytes;   /* the planned activation + gradient arena at max_batch */
    size_t activation_unplanned_bytes; /* the same buffers if none shared memory */
    size_t other_bytes;        /* batch-norm statistics, metrics, loss, log ring */
} hcl_model_memory;
/* After build. Bytes are those of the arenas (parameter arenas include alignment padding). */
hcl_status hcl_model_memory_get(const hcl_model *m, hcl_model_memory *mem);

/* Per node: output bytes at max_batch in the model's dtype (plus the max-pool argmax), and
 * parameters with their sparsity: the exact zeros among the F32 masters (the F16 weights under
 * pure_f16), which counts what a pruning mask on the optimizer holds at 0 (hcl_pruner) along with
 * any other zero. After build; reads the layer's parameters (a sync). */
typedef struct hcl_layer_summary {
    const char *name;
    hcl_layer_kind kind;
    int rank;                    /* of the output including the batch dim */
    int64_t shape[HCL_MAX_RANK]; /* (max_batch, ...) */
    size_t params;
    size_t param_bytes;          /* working weights in the compute dtype */
    size_t activation_bytes;     /* output (0 for views and in-place nodes) + saved state */
    int fused;                   /* 1: runs in place / inside its producer's kernel */
    size_t zero_params;          /* parameters that are exactly 0 */
    double sparsity;             /* zero_params / params (0 without parameters) */
} hcl_layer_summary;
hcl_status hcl_model_layer_summary(const hcl_model *m, int id, hcl_layer_summary *s);

/* Writes a Keras-like table (layer, output shape, parameters, sparsity, activation bytes) and the
 * totals (parameters and their sparsity, memory under the model's precision) to buf (always
 * NUL-terminated; truncated to len). After build; reads the parameters (a sync). *needed (may be
 * NULL) gets the full length + 1. */
hcl_status hcl_model_summary(const hcl_model *m, char *buf, size_t len, size_t *needed);


/* ---------------------------------------------------------------- quantization
 * int8 quantization of the conv2d (plain and depthwise) and linear layers (not tied heads): the
 * weight int8 symmetric per output channel (scale max|w| / 127 of each channel), the layer's input
 * uint8 asymmetric per tensor (scale and zero point from a [min, max] range that includes 0), with
 * the ops of ops.h's quantization section. Other layers stay in the model's dtype.
 *
 * Quantization-aware training: after hcl_model_enable_qat every forward of such a layer runs on
 * fake-quantized values: the weight's per-channel range is taken from the current working weight
 * at each forward (no state), the input's range is an EMA observer updated by train-mode forwards
 * (the first one, or a calibration, sets it) and frozen in eval mode. The backward is the
 * straight-through estimator: the input gradient is zero where the input was clamped to the range;
 * the weight gradient is that of the fake-quantized weight (a weight is never clamped: its scale
 * comes from its own channel's range). The F32 masters keep training; nothing syncs. Buffers:
 * per quantized layer a fake-quantized weight and a fake-quantized input at max_batch (in the
 * model's dtype; counted in hcl_model_memory's other_bytes). A forward that needs a range that was
 * never observed (eval mode before any train-mode forward or calibration) fails before queueing.
 *
 * Post-training quantization: hcl_model_calibrate sets the input ranges from eval-mode forwards of
 * the float model over some batches (min/max, or a percentile of the values); it enables the
 * quantization (as hcl_model_enable_qat with the defaults) if it was not.
 *
 * Export and int8 inference: hcl_model_export_int8 writes safetensors with, per quantized layer,
 * "<layer>.weight" I8 (the weight's shape), "<layer>.weight_scale" F32 (out), "<layer>.input_scale"
 * F32 (1), "<layer>.input_zero_point" I32 (1), "<layer>.bias" F32; every other parameter F32 under
 * its name; batch norm running statistics as "<layer>.running_mean" / ".running_var" F32; metadata
 * "halfcl.format" = "int8", "halfcl.weight_quant" = "int8_symmetric_per_channel",
 * "halfcl.input_quant" = "uint8_asymmetric_per_tensor", "halfcl.policy". The int8 weights are
 * quantized from the F32 masters (the fake-quant forwards use the working copies: the same values
 * under fp32; under mixed policies the working copy's F16/BF16 rounding can move a weight by one
 * step). hcl_model_load_int8 loads such a file into
 * a built model of the same graph and switches it to int8 inference: eval-mode forwards (and
 * hcl_model_evaluate) then quantize each quantized layer's input to U8 with the stored scale and
 * zero point and run hcl_conv2d_i8_forward / hcl_gemm_i8 (int32 accumulation, float output);
 * depthwise convolutions run as float convolutions of the dequantized weight and input (the same
 * values). Train-mode forwards of an int8 model fail. */

typedef struct hcl_qat_config {
    float momentum;  /* EMA momentum of the input range observers, in (0, 1] (0.01) */
    int observe;     /* 1: train-mode forwards update the input ranges; 0: the ranges are frozen (1) */
} hcl_qat_config;
void hcl_qat_config_init(hcl_qat_config *config);

typedef enum hcl_quant_mode {
    HCL_QUANT_MODE_NONE = 0, /* float model */
    HCL_QUANT_MODE_FAKE,     /* QAT / calibrated: fake-quantized forwards */
    HCL_QUANT_MODE_INT8,     /* loaded from an int8 export: int8 inference only */
} hcl_quant_mode;
hcl_quant_mode hcl_model_quant_mode(const hcl_model *m); /* NONE for NULL */

/* Enables QAT on a built model (or changes the configuration of an enabled one, keeping its
 * ranges). Allocates per quantized layer the fake-quantized weight and input buffers (max_batch). */
hcl_status hcl_model_enable_qat(hcl_model *m, const hcl_qat_config *config);

typedef enum hcl_calib_method {
    HCL_CALIB_MINMAX = 0,   /* range = [min, max] of the values seen */
    HCL_CALIB_PERCENTILE,   /* range = the (100 - p) and p percentiles of the values seen (linear
                               interpolation between sorted values; at most 2^22 values per layer
                               are kept, a seeded uniform sample beyond) */
} hcl_calib_method;
/* Eval-mode forwards of the float model over the next `batches` batches of `data` (1..; fewer
 * if its epoch ends first), collecting each quantized layer's input; then sets the ranges. p in
 * (50, 100] for PERCENTILE (e.g. 99.99), ignored for MINMAX. Syncs (downloads the inputs). */
hcl_status hcl_model_calibrate(hcl_model *m, hcl_batcher *data, size_t batches, hcl_calib_method method,
                               float percentile);
/* The same driven by the caller, for any input (e.g. token batches with hcl_model_set_lengths):
 * begin, then eval-mode forwards (train-mode forwards fail meanwhile), then end, which sets the
 * ranges (syncs). On an error of end (no forward ran, non-finite inputs, out of memory) the ranges
 * and their observed flags are unchanged. */
hcl_status hcl_model_calibrate_begin(hcl_model *m, hcl_calib_method method, float percentile);
hcl_status hcl_model_calibrate_end(hcl_model *m);
/* The input range [min, max] of quantized layer `id` (syncs). HCL_ERR_INVALID_ARGUMENT when the
 * node is not a quantized layer or quantization is not enabled. */
hcl_status hcl_model_quant_range(hcl_model *m, int id, float range[2]);

/* The quantization state beside a checkpoint (hcl_checkpoint_save holds the parameters and the
 * optimizer): save writes, atomically, per quantized layer "<layer>.input_range" F32 (2) and
 * "<layer>.input_observed" I32 (1), and the configuration as metadata ("halfcl.format" =
 * "halfcl-quant-state-1", "halfcl.qat.momentum", "halfcl.qat.observe"). load takes a built model
 * of the same graph, checks the whole file first (HCL_ERR_FORMAT; nothing changes on error), then
 * enables QAT with the saved configuration and ranges; after hcl_checkpoint_load and this,
 * training resumes bit-identically. */
hcl_status hcl_model_quant_save(hcl_model *m, const char *path);
hcl_status hcl_model_quant_load(hcl_model *m, const char *path);

/* Writes the int8 export described above (needs QAT or a calibration, every input range observed).
 * Blocking; atomic (temporary file + rename). */
hcl_status hcl_model_export_int8(hcl_model *m, const char *path);
/* Loads an int8 export into a built model of the same graph and switches it to int8 inference
 * (HCL_QUANT_MODE_INT8, for good). The file is checked in full and every allocation made before
 * anything changes: on a file error or an allocation failure nothing changed; only a device error
 * while writing the values can leave the parameters partly written (the mode, the ranges and
 * their observed flags stay as they were). The model's
 * parameters become the file's float ones (biases, batch norm) and the dequantized weights. Scales
 * must be finite and > 0, zero points in 0..255, weights in -127..127. A corrupt or mismatching
 * file is HCL_ERR_FORMAT (HCL_ERR_IO when it cannot be read). Blocking. */
hcl_status hcl_model_load_int8(hcl_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_NN_H */
