/* halfcl tensors: dtypes, contiguous row-major device tensors and views, host<->device transfer
 * with conversion, fill/copy/cast on the device, the per-context caching allocator and the exact
 * host F32 <-> F16 <-> BF16 conversions. */
#ifndef HALFCL_TENSOR_H
#define HALFCL_TENSOR_H

#include "halfcl/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* HCL_I8: signed bytes (int8 quantized weights, see hcl_quantize in ops.h); like I32 and U8 it
 * has raw transfers, fill (saturated to [-128, 127]), copy and views, no f32 transfers or casts. */
typedef enum hcl_dtype { HCL_F32 = 0, HCL_F16 = 1, HCL_BF16 = 2, HCL_I32 = 3, HCL_U8 = 4, HCL_I8 = 5, HCL_DTYPE_COUNT_ } hcl_dtype;

#define HCL_MAX_RANK 8

const char *hcl_dtype_name(hcl_dtype dtype);  /* "f16"; NULL when invalid */
size_t hcl_dtype_size(hcl_dtype dtype);       /* bytes per element; 0 when invalid */
int hcl_dtype_is_float(hcl_dtype dtype);      /* F32, F16, BF16 */

/* A contiguous row-major tensor (NCHW for images). Fields are read-only for users. A view shares
 * its base's buffer at an element offset and must be freed before the base. */
typedef struct hcl_tensor {
    hcl_context *ctx;
    hcl_dtype dtype;
    int rank;                      /* 0..HCL_MAX_RANK; rank 0 is a scalar of one element */
    int64_t shape[HCL_MAX_RANK];
    size_t count;                  /* number of elements */
    cl_mem buffer;                 /* device buffer (shared by views) */
    size_t offset;                 /* element offset into buffer */
    struct hcl_block *block;       /* allocator block; NULL for views */
} hcl_tensor;

/* Allocates a tensor (contents undefined). Every dim must be >= 1. */
hcl_status hcl_tensor_create(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape,
                             hcl_tensor **tensor);
/* A view of `count(shape)` elements of base starting at element `offset` (reshape = offset 0). */
hcl_status hcl_tensor_view(hcl_tensor *base, size_t offset, int rank, const int64_t *shape,
                           hcl_tensor **view);
void hcl_tensor_free(hcl_tensor *tensor);  /* NULL is a no-op */

size_t hcl_tensor_bytes(const hcl_tensor *tensor);
/* Same rank and dims. */
int hcl_tensor_same_shape(const hcl_tensor *a, const hcl_tensor *b);

/* Host F32 <-> any float dtype, converting with round-to-nearest-even. count must equal the
 * tensor's element count. These block until the transfer is done. */
hcl_status hcl_tensor_upload_f32(hcl_tensor *tensor, const float *host, size_t count);
hcl_status hcl_tensor_download_f32(const hcl_tensor *tensor, float *host, size_t count);
/* Raw stored bits, any dtype; bytes must equal hcl_tensor_bytes(). Blocking. */
hcl_status hcl_tensor_upload_raw(hcl_tensor *tensor, const void *host, size_t bytes);
hcl_status hcl_tensor_download_raw(const hcl_tensor *tensor, void *host, size_t bytes);

/* Sets every element to value (converted to the dtype; for I32/U8/I8 truncated toward zero and
 * saturated at the type's range, NaN -> 0). Queued. */
hcl_status hcl_tensor_fill(hcl_tensor *tensor, double value);
/* Sets every element to the given raw bit pattern (low bits used per the dtype size). Queued. */
hcl_status hcl_tensor_fill_bits(hcl_tensor *tensor, uint32_t bits);
/* dst = src: same dtype and element count (shapes may differ). Queued. */
hcl_status hcl_tensor_copy(hcl_tensor *dst, const hcl_tensor *src);
/* dst = src converted between F32/F16/BF16 (any pair, RNE): same element count. Queued. */
hcl_status hcl_tensor_cast(hcl_tensor *dst, const hcl_tensor *src);

/* ---- caching allocator ---- */
typedef struct hcl_memory_stats {
    size_t current_bytes;   /* bytes held by live tensors (rounded to size classes) and by the
                               context's op workspaces (im2col columns, GEMM panels, partial sums) */
    size_t peak_bytes;      /* the most current_bytes has been since creation or the last reset */
    size_t cached_bytes;    /* freed blocks kept for reuse */
    size_t device_bytes;    /* current + cached: what the device holds for us */
    unsigned long allocations, reuses; /* clCreateBuffer calls, allocations served from cache */
} hcl_memory_stats;
void hcl_memory_stats_get(const hcl_context *ctx, hcl_memory_stats *stats);
void hcl_memory_reset_peak(hcl_context *ctx);
/* Releases all cached (free) blocks to the device. */
void hcl_memory_trim(hcl_context *ctx);

/* ---- exact host conversions (round to nearest even, subnormals, +-inf, NaN stays NaN) ---- */
uint16_t hcl_f32_to_f16(float value);
float hcl_f16_to_f32(uint16_t bits);
uint16_t hcl_f32_to_bf16(float value);
float hcl_bf16_to_f32(uint16_t bits);
void hcl_f32_to_f16_array(uint16_t *dst, const float *src, size_t count);
void hcl_f16_to_f32_array(float *dst, const uint16_t *src, size_t count);
void hcl_f32_to_bf16_array(uint16_t *dst, const float *src, size_t count);
void hcl_bf16_to_f32_array(float *dst, const uint16_t *src, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_TENSOR_H */
