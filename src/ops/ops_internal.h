/* Shared by the op launchers: argument validation that records a message, aliasing checks,
 * the -D dtype option builder, and the internal GEMM entry used by conv and others. */
#ifndef HCL_OPS_INTERNAL_H
#define HCL_OPS_INTERNAL_H

#include "halfcl/ops.h"
#include "runtime/internal.h"

/* t is not NULL and belongs to ctx. */
hcl_status hcl_check_tensor(hcl_context *ctx, const hcl_tensor *t, const char *name);
/* ... and is F32/F16/BF16. */
hcl_status hcl_check_float(hcl_context *ctx, const hcl_tensor *t, const char *name);
/* ... and has exactly this dtype. */
hcl_status hcl_check_dtype(hcl_context *ctx, const hcl_tensor *t, hcl_dtype dtype, const char *name);
/* ... and has this rank. */
hcl_status hcl_check_rank(hcl_context *ctx, const hcl_tensor *t, int rank, const char *name);
/* a and b have the same element count. */
hcl_status hcl_check_same_count(hcl_context *ctx, const hcl_tensor *a, const char *an, const hcl_tensor *b, const char *bn);
/* a and b have the same shape. */
hcl_status hcl_check_same_shape(hcl_context *ctx, const hcl_tensor *a, const char *an, const hcl_tensor *b, const char *bn);
/* out and in share no bytes (HCL_ERR_ALIASING otherwise). NULLs pass. */
hcl_status hcl_check_no_alias(hcl_context *ctx, const hcl_tensor *out, const char *on, const hcl_tensor *in, const char *in_name);
/* No output overlaps another output or an input (NULL entries skipped). */
hcl_status hcl_check_no_alias_all(hcl_context *ctx, const hcl_tensor *const *outs, const char *const *out_names, size_t nout,
                                  const hcl_tensor *const *ins, const char *const *in_names, size_t nin);
/* A one-element F32 tensor or NULL (loss outputs, grad scale). */
hcl_status hcl_check_scalar_f32(hcl_context *ctx, const hcl_tensor *t, const char *name, int nullable);

/* Appends " -DNAME_DT=f16" for each (name, dtype) pair; list ends with a NULL name. Returns buf. */
const char *hcl_dt_options(char *buf, size_t len, ...);

/* Offsets as the kernels take them. */
static inline cl_ulong hcl_off(const hcl_tensor *t) { return (cl_ulong)t->offset; }

/* The internal GEMM: C = act(alpha op(A) op(B) + beta C + bias) on raw buffers with leading
 * dimensions and batch strides (elements; a stride of 0 shares the matrix across the batch). */
typedef struct hcl_gemm_args {
    cl_mem a, b, c, bias;           /* bias may be NULL */
    size_t a_off, b_off, c_off, bias_off;
    hcl_dtype a_dt, b_dt, c_dt, bias_dt;
    size_t lda, ldb, ldc;           /* row strides of the stored (untransposed) matrices */
    size_t stride_a, stride_b, stride_c;
    size_t m, n, k, batch;
    int trans_a, trans_b;
    float alpha, beta;
    hcl_activation act;
    float act_alpha;
    hcl_gemm_backend backend;
    int allow_half_accumulation;
} hcl_gemm_args;
hcl_status hcl_gemm_enqueue(hcl_context *ctx, const hcl_gemm_args *g);

/* Elementwise families (activation.c, elementwise.c): elements per work-item. 0 (default) = by
 * device: 1 on CPUs (PoCL vectorises the work-item loop; explicit vectors measured slower), 8 on
 * GPUs (vector loads). Tests set 8 to cover the GPU paths (vectors, work-group reductions) on any
 * device (defined in elementwise.c). */
extern int hcl_elementwise_vec_override;
int hcl_elementwise_vec(const hcl_context *ctx);

/* int8 GEMM (quant.c): which kernel. 0 (default) = by the size rule (the dot kernel for small or
 * skinny products, else the packed panels); tests set 1 (dot) or 2 (packed) to cover both paths on
 * any shape (defined in quant.c). */
extern int hcl_i8_gemm_force;

#endif
