/* halfcl ops: stateless forward/backward launchers. Each validates its arguments (status +
 * message on the context), picks a kernel variant for the tensors' dtypes, and enqueues; none
 * syncs with the host or allocates outside the context's allocator/workspace.
 *
 * Conventions (see DESIGN.md): arguments are outputs, saved statistics, inputs, weights, sizes.
 * Float tensors may be F32, F16 or BF16 (mixed dtypes allowed unless stated); math and every
 * accumulation is FP32; stores round to nearest even. Data gradients (dx) are overwritten;
 * parameter gradients (dw, dbias, dgamma, dbeta, dtable) are ACCUMULATED into (+=), so zero
 * them explicitly before a step. Unless stated, an output must not alias an input. */
#ifndef HALFCL_OPS_H
#define HALFCL_OPS_H

#include "halfcl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- activations (activation.cl) */
typedef enum hcl_activation {
    HCL_ACT_NONE = 0,
    HCL_ACT_RELU,
    HCL_ACT_LEAKY_RELU, /* slope `alpha` for x < 0 */
    HCL_ACT_SIGMOID,
    HCL_ACT_TANH,
    HCL_ACT_GELU,       /* exact: x * Phi(x) with erf */
    HCL_ACT_GELU_TANH,  /* tanh approximation */
    HCL_ACT_SILU,       /* x * sigmoid(x) */
    HCL_ACT_COUNT_
} hcl_activation;

const char *hcl_activation_name(hcl_activation act);

/* y = act(x); same count. y may be x (in place). */
hcl_status hcl_activation_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, hcl_activation act, float alpha);
/* dx = dy * act'(x); x is the forward input. dx may be dy (in place). */
hcl_status hcl_activation_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *x,
                                   hcl_activation act, float alpha);

/* ---------------------------------------------------------------- GEMM (gemm.cl) */
typedef enum hcl_gemm_backend {
    HCL_GEMM_AUTO = 0,   /* own kernels, or CLBlast for F32 where the measured rule says it is faster:
                            CLBlast SGEMM only on GPU devices, A, B, C all F32, M, N, K >= 512. On CPU
                            devices never (PoCL 3.1, 2-core Skylake: CLBlast 2-40x slower than ours in
                            every hcl-bench gemm case, 1.2 vs 25-40 GFLOP/s at 1024^3; the suite shows
                            both). The GPU side of the rule is not yet measured. */
    HCL_GEMM_OWN,        /* always our kernels */
    HCL_GEMM_CLBLAST,    /* CLBlast (F32; F16 only with allow_half_accumulation; other dtypes
                            HCL_ERR_DTYPE); bias/epilogue applied by a kernel after it */
} hcl_gemm_backend;

typedef struct hcl_gemm_desc {
    int trans_a, trans_b;       /* op(A) = A^T when set */
    float alpha, beta;          /* C = act(alpha*op(A)*op(B) + beta*C + bias); beta 0 never reads C */
    hcl_activation epilogue;    /* NONE, RELU, GELU, SILU (others allowed too) */
    float epilogue_alpha;       /* leaky slope */
    hcl_gemm_backend backend;
    int allow_half_accumulation; /* opt in to CLBlast HGEMM (accumulates in half): not for training */
} hcl_gemm_desc;

void hcl_gemm_desc_init(hcl_gemm_desc *desc); /* NN, alpha 1, beta 0, no epilogue, AUTO */

/* C (M,N) = op(A) (M,K) * op(B) (K,N). A is (M,K), or (K,M) when trans_a; B is (K,N), or (N,K)
 * when trans_b. Strided batched when C is rank 3 (batch,M,N): A and B are then rank 3 with the
 * same batch, or rank 2 (shared by every batch). bias: NULL or (N), added per column.
 * Dtypes of A, B, C, bias: any of F32/F16/BF16, independently. */
hcl_status hcl_gemm(hcl_context *ctx, hcl_tensor *c, const hcl_tensor *a, const hcl_tensor *b, const hcl_tensor *bias,
                    const hcl_gemm_desc *desc);

/* ---------------------------------------------------------------- quantization (quant.cl) */
/* Linear quantization with round half to even (rint) everywhere. Parameters live on the device:
 * scale F32 and zero_point I32, one each per tensor (count 1, axis = -1) or per channel along
 * `axis` (count x->shape[axis], axis in 0..rank-1). zero_point NULL means 0 (required NULL for
 * SYMMETRIC, whose zero point is 0). Scales must be > 0 (hcl_quant_params_from_range never gives
 * 0). Float tensors F32/F16/BF16 (math in F32). NaN: fake-quant keeps NaN (y = NaN, dx = dy),
 * quantize maps NaN to the zero point; +-inf clamp to the range ends. */
typedef enum hcl_quant_scheme {
    HCL_QUANT_INT8_SYMMETRIC = 0, /* q = clamp(rne(x / s), -127, 127), zero point 0; q stored as HCL_I8 */
    HCL_QUANT_UINT8_ASYMMETRIC,   /* q = clamp(rne(x / s) + z, 0, 255), z in 0..255; q stored as HCL_U8 */
} hcl_quant_scheme;

/* y = (clamp(rne(x/s) + z, qmin, qmax) - z) * s, same count as x. y may be x (in place). */
hcl_status hcl_fake_quant_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *scale,
                                  const hcl_tensor *zero_point, hcl_quant_scheme scheme, int axis);
/* Straight-through estimator: dx = dy where rne(x/s) + z is within [qmin, qmax], 0 where clamped
 * (overwritten). x is the forward input. dx may be dy. */
hcl_status hcl_fake_quant_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *x,
                                   const hcl_tensor *scale, const hcl_tensor *zero_point, hcl_quant_scheme scheme, int axis);
/* Range observer: range (C,2) or (1,2) (any shape of 2C elements) F32 [min, max] per channel along
 * axis (or per tensor, axis -1). first != 0: range = the batch's range; else range += momentum *
 * (batch range - range) (EMA; momentum in [0, 1], checked when first == 0). NaNs are ignored (a channel of only NaN has the batch range [0, 0]).
 * Queued; the per-channel min/max is exact, so the result is deterministic. */
hcl_status hcl_quant_observe(hcl_context *ctx, hcl_tensor *range, const hcl_tensor *x, int axis, float momentum, int first);
/* scale (C) F32 / zero_point (C) I32 (NULL for symmetric; required for asymmetric) from a range
 * (C,2) F32, on the device: symmetric s = max(|min|,|max|)/127; asymmetric: range widened to
 * include 0, s = (max-min)/255, z = clamp(rne(-min/s), 0, 255). s >= FLT_EPSILON (PyTorch's floor),
 * never 0; a NaN bound counts as 0. */
hcl_status hcl_quant_params_from_range(hcl_context *ctx, hcl_tensor *scale, hcl_tensor *zero_point,
                                       const hcl_tensor *range, hcl_quant_scheme scheme);
/* q (x's shape or count) = clamp(rne(x/s) + z, qmin, qmax): I8 for SYMMETRIC, U8 for ASYMMETRIC. */
hcl_status hcl_quantize(hcl_context *ctx, hcl_tensor *q, const hcl_tensor *x, const hcl_tensor *scale,
                        const hcl_tensor *zero_point, hcl_quant_scheme scheme, int axis);
/* x (float) = (q - z) * s, q I8 or U8 (same count); zero_point NULL = 0. */
hcl_status hcl_dequantize(hcl_context *ctx, hcl_tensor *x, const hcl_tensor *q, const hcl_tensor *scale,
                          const hcl_tensor *zero_point, int axis);
/* int8 GEMM, int32 accumulation: c (M,N) float = act(a_scale * w_scale[n] * sum_k (a[m,k] - a_zp) *
 * w[n,k] + bias[n]). a (M,K) U8 (asymmetric, per-tensor scale (1) F32 and zero point (1) I32, NULL =
 * 0; values clamped to 0..255), w (N,K) I8 symmetric (w_scale (N) or (1) F32), bias (N) any float
 * or NULL. The integer sum is exact (K <= 65536, checked); the epilogue is F32. act's alpha (leaky
 * slope) is 0.01. c must not alias an input. */
hcl_status hcl_gemm_i8(hcl_context *ctx, hcl_tensor *c, const hcl_tensor *a, const hcl_tensor *a_scale,
                       const hcl_tensor *a_zero_point, const hcl_tensor *w, const hcl_tensor *w_scale,
                       const hcl_tensor *bias, hcl_activation act);
/* int8 conv2d inference: y (N,K,P,Q) float from x (N,C,H,W) U8 (padding reads the zero point),
 * w (K,C,R,R) I8 with per-output-channel scale (K) or (1); square kernel from w, stride >= 1,
 * pad >= 0 (P = (H + 2 pad - R) / stride + 1, likewise Q); int32 accumulation (C*R*R <= 65536);
 * im2col of x into the context workspace + hcl_gemm_i8's kernel. */
hcl_status hcl_conv2d_i8_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *x_scale,
                                 const hcl_tensor *x_zero_point, const hcl_tensor *w, const hcl_tensor *w_scale,
                                 const hcl_tensor *bias, int stride, int pad, hcl_activation act);

/* ---------------------------------------------------------------- convolution (conv.cl) */
typedef struct hcl_conv2d_desc {
    int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
} hcl_conv2d_desc;
void hcl_conv2d_desc_init(hcl_conv2d_desc *desc); /* stride 1, pad 0, dilation 1, groups 1 */
/* Output size of one spatial dim: (in + 2 pad - dilation (k - 1) - 1) / stride + 1 (0 if < 1). */
int64_t hcl_conv2d_out_size(int64_t in, int64_t k, int stride, int pad, int dilation);

/* y (N,K,P,Q) = conv(x (N,C,H,W), w (K, C/groups, R, S)) + bias (K) (bias may be NULL).
 * Depthwise = groups == C (K a multiple of C); 1x1 stride-1 pad-0 takes a pointwise GEMM path. */
hcl_status hcl_conv2d_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *w,
                              const hcl_tensor *bias, const hcl_conv2d_desc *desc);
/* dx (N,C,H,W) = conv-transpose of dy with w (overwritten). */
hcl_status hcl_conv2d_backward_data(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *w,
                                    const hcl_conv2d_desc *desc);
/* dw += grad of w; dbias (K) += sum of dy over N,P,Q (dbias may be NULL). */
hcl_status hcl_conv2d_backward_weight(hcl_context *ctx, hcl_tensor *dw, hcl_tensor *dbias, const hcl_tensor *dy,
                                      const hcl_tensor *x, const hcl_conv2d_desc *desc);

/* ---------------------------------------------------------------- pooling (pool.cl) */
typedef struct hcl_pool2d_desc {
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad; /* average pooling divisor: 1 = kernel area (PyTorch default), 0 = valid cells */
} hcl_pool2d_desc;
void hcl_pool2d_desc_init(hcl_pool2d_desc *desc, int kernel, int stride); /* square, pad 0, include pad */

/* y (N,C,P,Q) = max over each window of x (N,C,H,W) (padding never wins). argmax (N,C,P,Q) I32:
 * flat index h*W+w of the winner in its (n,c) plane, or U8 (a quarter of the bytes; windows of at
 * most 256 cells): the winner's offset (h-h0)*kernel_w + (w-w0) inside its window; first maximum in
 * row-major window order (deterministic ties); may be NULL for inference. The backward reads the
 * argmax in the dtype the forward wrote. */
hcl_status hcl_maxpool2d_forward(hcl_context *ctx, hcl_tensor *y, hcl_tensor *argmax, const hcl_tensor *x,
                                 const hcl_pool2d_desc *desc);
/* dx (N,C,H,W) = dy routed to each window's argmax (overlapping windows add up). Overwritten. */
hcl_status hcl_maxpool2d_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *argmax,
                                  const hcl_pool2d_desc *desc);
hcl_status hcl_avgpool2d_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_pool2d_desc *desc);
hcl_status hcl_avgpool2d_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_pool2d_desc *desc);
/* y (N,C) or (N,C,1,1) = mean of x (N,C,H,W) over H,W. */
hcl_status hcl_global_avgpool_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x);
hcl_status hcl_global_avgpool_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy);

/* ---------------------------------------------------------------- normalisation (norm.cl) */
/* Training: batch statistics over N,H,W in FP32. save_mean, save_invstd (C) F32 are written
 * for backward; running_mean/running_var (C) F32 are updated as r = (1-momentum) r + momentum b
 * with the unbiased batch variance (PyTorch semantics); either may be NULL. gamma, beta (C) any
 * float dtype, or NULL for 1 and 0. N*H*W must be > 1 (HCL_ERR_SHAPE otherwise, as PyTorch's
 * "Expected more than 1 value per channel when training": the unbiased variance is 0/0). */
hcl_status hcl_batchnorm2d_forward_train(hcl_context *ctx, hcl_tensor *y, hcl_tensor *save_mean, hcl_tensor *save_invstd,
                                         hcl_tensor *running_mean, hcl_tensor *running_var, const hcl_tensor *x,
                                         const hcl_tensor *gamma, const hcl_tensor *beta, float momentum, float eps);
hcl_status hcl_batchnorm2d_forward_inference(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x,
                                             const hcl_tensor *running_mean, const hcl_tensor *running_var,
                                             const hcl_tensor *gamma, const hcl_tensor *beta, float eps);
/* dx overwritten; dgamma, dbeta (C) accumulated (may be NULL). */
hcl_status hcl_batchnorm2d_backward(hcl_context *ctx, hcl_tensor *dx, hcl_tensor *dgamma, hcl_tensor *dbeta,
                                    const hcl_tensor *dy, const hcl_tensor *x, const hcl_tensor *gamma,
                                    const hcl_tensor *save_mean, const hcl_tensor *save_invstd);
/* LayerNorm over the last dim D of x (..., D); save_mean/save_invstd have one F32 per row
 * (count x / D). gamma, beta (D) or NULL. */
hcl_status hcl_layernorm_forward(hcl_context *ctx, hcl_tensor *y, hcl_tensor *save_mean, hcl_tensor *save_invstd,
                                 const hcl_tensor *x, const hcl_tensor *gamma, const hcl_tensor *beta, float eps);
hcl_status hcl_layernorm_backward(hcl_context *ctx, hcl_tensor *dx, hcl_tensor *dgamma, hcl_tensor *dbeta,
                                  const hcl_tensor *dy, const hcl_tensor *x, const hcl_tensor *gamma,
                                  const hcl_tensor *save_mean, const hcl_tensor *save_invstd);

/* ---------------------------------------------------------------- softmax (softmax.cl) */
/* y = softmax(x) (or log_softmax when log) over the last dim. A finite log_softmax value below
 * the output dtype's range saturates at its lowest finite value (-65504 in F16) instead of
 * becoming -inf; exp() of either is 0, so the backward pass is unaffected. */
hcl_status hcl_softmax_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, int log);
/* dx from dy and the forward OUTPUT y. */
hcl_status hcl_softmax_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *y, int log);

/* ---------------------------------------------------------------- losses (loss.cl) */
/* Every loss is computed and reduced in FP32 and is the MEAN over the batch. loss: F32 tensor
 * of one element (written). The gradient (may be NULL) is d(loss)/d(input) multiplied by
 * `grad_scale` (NULL = 1; else an F32 one-element device tensor: the loss scale, so the scaled
 * gradient needs no host round trip), stored in the gradient tensor's dtype (overwritten). */
/* logits (N,C), labels (N) I32 in [0,C) (out-of-range labels give a NaN loss and NaN gradient
 * rows for them, not a crash); label_smoothing in [0,1). */
hcl_status hcl_softmax_cross_entropy(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dlogits, const hcl_tensor *logits,
                                     const hcl_tensor *labels, float label_smoothing, const hcl_tensor *grad_scale);
/* mean((pred - target)^2) over all elements. */
hcl_status hcl_mse_loss(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dpred, const hcl_tensor *pred,
                        const hcl_tensor *target, const hcl_tensor *grad_scale);
/* mean over all elements of BCE(sigmoid(logits), targets), computed stably from logits. targets:
 * any float dtype, or I32 (class labels 0/1). */
hcl_status hcl_bce_with_logits(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dlogits, const hcl_tensor *logits,
                               const hcl_tensor *targets, const hcl_tensor *grad_scale);
/* Knowledge distillation (Hinton et al. 2015): with p = softmax(teacher_logits / T) and
 * q = softmax(logits / T), loss = mean over rows of alpha T^2 KL(p || q) + (1 - alpha) CE(logits,
 * labels), FP32 math (max-subtracted log-sum-exp). logits (N,C) and teacher_logits (N,C) any float
 * dtypes; labels (N) I32 in [0,C), or NULL when alpha = 1 (then not read); temperature finite > 0;
 * alpha in [0,1] (a term with weight 0 is skipped). dlogits = grad_scale [alpha T (q - p) +
 * (1 - alpha)(softmax(logits) - onehot(labels))] / N. Out-of-range labels (alpha < 1) give NaN
 * as in hcl_softmax_cross_entropy. Equal logits and teacher give an exactly zero KL part. */
hcl_status hcl_distillation_loss(hcl_context *ctx, hcl_tensor *loss, hcl_tensor *dlogits, const hcl_tensor *logits,
                                 const hcl_tensor *teacher_logits, const hcl_tensor *labels, float temperature,
                                 float alpha, const hcl_tensor *grad_scale);

/* ---------------------------------------------------------------- elementwise + reductions (elementwise.cl) */
typedef enum hcl_binary_op { HCL_OP_ADD = 0, HCL_OP_SUB, HCL_OP_MUL } hcl_binary_op;
typedef enum hcl_broadcast {
    HCL_BCAST_NONE = 0, /* b has a's element count */
    HCL_BCAST_CHANNEL,  /* a (N,C,...) and b (C): b[c] applies to every element of channel c (dim 1) */
    HCL_BCAST_ROW,      /* a (..., D) and b (D): b applies to every row (last dim) */
} hcl_broadcast;

/* y = a op b (b broadcast as given). y may alias a. */
hcl_status hcl_binary(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *a, const hcl_tensor *b, hcl_binary_op op,
                      hcl_broadcast bcast);
/* db (+)= sum of dy over the broadcast dims (db has b's shape): the gradient of a broadcast
 * operand (bias). accumulate: 1 adds into db, 0 overwrites. */
hcl_status hcl_reduce_broadcast(hcl_context *ctx, hcl_tensor *db, const hcl_tensor *dy, hcl_broadcast bcast, int accumulate);
/* y = alpha * x (y may be x). */
hcl_status hcl_scale(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, float alpha);
/* y += alpha * x. */
hcl_status hcl_axpy(hcl_context *ctx, hcl_tensor *y, float alpha, const hcl_tensor *x);

typedef enum hcl_reduce_op { HCL_REDUCE_SUM = 0, HCL_REDUCE_MEAN, HCL_REDUCE_MAX } hcl_reduce_op;
/* y = reduction of x over `axis` (y has x's shape without that axis, or with it as 1).
 * Deterministic: a fixed order, FP32 accumulation. */
hcl_status hcl_reduce(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, int axis, hcl_reduce_op op);
/* idx (rows) I32 = index of the maximum over the last dim (first one on ties). */
hcl_status hcl_argmax(hcl_context *ctx, hcl_tensor *idx, const hcl_tensor *x);
/* correct (one element, I32) += number of rows of logits (N,C) whose argmax equals labels (N).
 * C = 1 is one binary logit: the predicted class is 1 when the logit is > 0, else 0. */
hcl_status hcl_count_correct(hcl_context *ctx, hcl_tensor *correct, const hcl_tensor *logits, const hcl_tensor *labels);

/* ---------------------------------------------------------------- embedding (embedding.cl) */
/* y (..., D) = table (V, D) rows at idx (...) I32. Out-of-range indices give NaN rows. */
hcl_status hcl_embedding_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *idx, const hcl_tensor *table);
/* dtable (V, D) += scatter of dy by idx; deterministic (each row sums its occurrences in index
 * order in FP32, then adds the sum: the same bits every run). Out-of-range indices are skipped. */
hcl_status hcl_embedding_backward(hcl_context *ctx, hcl_tensor *dtable, const hcl_tensor *dy, const hcl_tensor *idx);

/* ---------------------------------------------------------------- recurrent layers (rnn.cl) */
/* One layer, one direction per call, batch-first, PyTorch semantics and weight layouts:
 *   GRU  (G = 3, gate rows r, z, n): r = s(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise,
 *        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)), h' = (1 - z) n + z h.
 *   LSTM (G = 4, gate rows i, f, g, o): c' = f c + i g, h' = o tanh(c').
 * x (B,T,I), y (B,T,H) float, both of the COMPUTE DTYPE (y must have x's dtype): h and y, the
 * state carried from step to step and the reserve's activations are stored in it; the gate math
 * is F32 and LSTM's cell state c is carried in F32. w_ih (G*H, I), w_hh (G*H, H), b_ih, b_hh (G*H)
 * (biases may be NULL = none); h0, h_n, c0, c_n (B,H); any float dtypes. h0/c0 NULL = zeros;
 * h_n/c_n NULL = not written; c0/c_n must be NULL for GRU. h0 enters the state rounded to the
 * compute dtype; h_n is the final state (y's value at the last valid step) in h_n's dtype.
 * lengths: NULL (every sequence has T steps) or (B) I32 (packed semantics): only steps t <
 * lengths[b] exist for sequence b; y is exactly 0 at the padded steps, the state stops at the last
 * valid step and h_n/c_n are the state after it; nothing at a padded step (x, dy) influences any
 * result, as long as x there is finite (dW_ih is one GEMM over all B*T rows of x, whose padded
 * rows meet zero gradients, and 0 * inf is NaN; dy at padded steps may be anything). Lengths live
 * on the device, so they are not checked: a value outside 1..T is clamped to it (<= 0 acts as 1,
 * > T as T). reverse = 1 runs each sequence from its last valid step down to step 0 (the
 * backward direction of a bidirectional packed RNN).
 * The op is a GEMM for every step's input projection at once, then per step one GEMM
 * (h W_hh^T) and one fused gate kernel; backward is per step one gate-gradient kernel and one
 * GEMM (dh += dG W_hh), then whole-sequence GEMMs for dW_ih, dW_hh, dx and one bias reduction. */
typedef enum hcl_rnn_cell { HCL_RNN_GRU = 0, HCL_RNN_LSTM } hcl_rnn_cell;
typedef struct hcl_rnn_desc {
    hcl_rnn_cell cell;
    int reverse;        /* 0: t = 0 .. len-1; 1: t = len-1 .. 0 */
} hcl_rnn_desc;
void hcl_rnn_desc_init(hcl_rnn_desc *desc, hcl_rnn_cell cell); /* forward direction */

/* Bytes of the reserve (what forward keeps for backward: gate activations and entering states
 * in `dtype`, plus GRU's hidden n pre-activation or LSTM's F32 cell states) for these sizes and
 * the compute dtype; 0 for invalid arguments. */
size_t hcl_rnn_reserve_bytes(const hcl_rnn_desc *desc, int64_t B, int64_t T, int64_t H, hcl_dtype dtype);

/* reserve: NULL for inference, else a U8 tensor or one of the compute dtype with at least
 * hcl_rnn_reserve_bytes() bytes, whose byte offset is a multiple of 4; it is overwritten and must
 * be passed unchanged to hcl_rnn_backward. y, h_n, c_n and reserve are written; y's bits do not
 * depend on whether a reserve is given. */
hcl_status hcl_rnn_forward(hcl_context *ctx, hcl_tensor *y, hcl_tensor *h_n, hcl_tensor *c_n, hcl_tensor *reserve,
                           const hcl_tensor *x, const hcl_tensor *h0, const hcl_tensor *c0, const hcl_tensor *lengths,
                           const hcl_tensor *w_ih, const hcl_tensor *w_hh, const hcl_tensor *b_ih, const hcl_tensor *b_hh,
                           const hcl_rnn_desc *desc);
/* Backward through time from dy (B,T,H), dh_n, dc_n (B,H) (each may be NULL = 0), with the reserve
 * and the inputs of the forward (x, h0, c0, lengths, weights: the same as in that call). dx
 * (B,T,I), dh0, dc0 (B,H) are overwritten (dx exactly 0 at padded steps); dw_ih, dw_hh, db_ih,
 * db_hh are ACCUMULATED into (+=). Any gradient output may be NULL (not computed). */
hcl_status hcl_rnn_backward(hcl_context *ctx, hcl_tensor *dx, hcl_tensor *dh0, hcl_tensor *dc0, hcl_tensor *dw_ih,
                            hcl_tensor *dw_hh, hcl_tensor *db_ih, hcl_tensor *db_hh, const hcl_tensor *dy,
                            const hcl_tensor *dh_n, const hcl_tensor *dc_n, const hcl_tensor *reserve, const hcl_tensor *x,
                            const hcl_tensor *h0, const hcl_tensor *c0, const hcl_tensor *lengths, const hcl_tensor *w_ih,
                            const hcl_tensor *w_hh, const hcl_rnn_desc *desc);

typedef enum hcl_seq_pool_mode {
    HCL_SEQ_POOL_MEAN = 0, /* mean over the valid steps */
    HCL_SEQ_POOL_LAST,     /* the last valid step (t = length - 1) */
} hcl_seq_pool_mode;
/* y (B,H) = pooling of x (B,T,H) over time; lengths NULL (all T) or (B) I32, clamped to 1..T as
 * for the RNN. Accumulates in F32. */
hcl_status hcl_seq_pool_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *lengths,
                                hcl_seq_pool_mode mode);
/* dx (B,T,H) overwritten from dy (B,H): 0 at padded steps (and, for LAST, at every step but the
 * last valid one). */
hcl_status hcl_seq_pool_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *lengths,
                                 hcl_seq_pool_mode mode);

/* ---------------------------------------------------------------- randomness (random.cl) */
/* Philox4x32-10: counter (4 words) and key (2 words) -> 4 random words. The host version is the
 * reference the device kernels are tested against. */
void hcl_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
/* Element i of a call with (seed, offset) is stream element e = offset + i: it uses word e % 4 of
 * Philox(counter = (lo32(e/4), hi32(e/4), 0, 0), key = (lo32(seed), hi32(seed))) (normal: the word
 * pair e & ~1, e | 1 of that block via Box-Muller; details in random.cl), so a result depends only
 * on (seed, offset + i): reproducible on any device and launch shape, and a call at offset o
 * reproduces elements o.. of a call at offset 0. Advance offset by the element count per draw. */
hcl_status hcl_random_uniform(hcl_context *ctx, hcl_tensor *y, float lo, float hi, uint64_t seed, uint64_t offset);
hcl_status hcl_random_normal(hcl_context *ctx, hcl_tensor *y, float mean, float stddev, uint64_t seed, uint64_t offset);
/* y = x * keep / (1 - p), keep drawn from (seed, offset) with probability 1 - p. No mask is
 * stored: backward regenerates it from the same (seed, offset). p in [0, 1). */
hcl_status hcl_dropout_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, float p, uint64_t seed, uint64_t offset);
hcl_status hcl_dropout_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, float p, uint64_t seed, uint64_t offset);

/* ---------------------------------------------------------------- attention (attention.cl) */
/* The largest head dim D: the kernels keep a few rows of D floats per work-item in registers or
 * private memory (D is compiled in, one program per D). Larger D: HCL_ERR_INVALID_ARGUMENT. */
#define HCL_ATTENTION_MAX_D 128

typedef struct hcl_attention_desc {
    int causal;   /* nonzero: query i sees keys j <= i + (Tk - Tq) (bottom-right aligned, as
                     PyTorch/FlashAttention for Tq != Tk) */
    float scale;  /* scores = scale * q.k; 0 = 1/sqrt(D); must be finite */
} hcl_attention_desc;
void hcl_attention_desc_init(hcl_attention_desc *desc); /* not causal, scale 0 */

/* q (B,Tq,H,D), k and v (B,Tk,H,D) -> out (B,Tq,H,D): softmax(scale q k^T + mask) v per batch and
 * head, computed tile by tile with an online (running max) softmax in F32: memory is linear in T
 * (no Tq x Tk buffer). lse (B,H,Tq) F32: the log-sum-exp of each row's masked, scaled scores,
 * saved for backward. key_lengths: NULL or (B) I32, keys j >= key_lengths[b] are masked (key
 * padding; values are clamped to [0, Tk]) and never read. A row with no visible key gives out = 0
 * and lse = -inf. q, k, v, out: F32/F16/BF16 independently; D <= HCL_ATTENTION_MAX_D. No output
 * may alias an input. The (B,T,H,D) layout is that of a (B*T, H*D) projection: no transposes. */
hcl_status hcl_attention_forward(hcl_context *ctx, hcl_tensor *out, hcl_tensor *lse, const hcl_tensor *q,
                                 const hcl_tensor *k, const hcl_tensor *v, const hcl_tensor *key_lengths,
                                 const hcl_attention_desc *desc);
/* dq, dk, dv overwritten (data gradients; masked keys get exactly 0) from dout and the forward's
 * out and lse. Recomputes the probabilities from q, k and lse tile by tile; deterministic (no
 * atomics: dk/dv owned per key block, dq per query block); a workspace of B*H*Tq floats
 * (delta = rowsum(dout * out)). Float tensors F32/F16/BF16 independently; no output may alias
 * an input or another output. */
hcl_status hcl_attention_backward(hcl_context *ctx, hcl_tensor *dq, hcl_tensor *dk, hcl_tensor *dv,
                                  const hcl_tensor *dout, const hcl_tensor *out, const hcl_tensor *lse,
                                  const hcl_tensor *q, const hcl_tensor *k, const hcl_tensor *v,
                                  const hcl_tensor *key_lengths, const hcl_attention_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_OPS_H */
