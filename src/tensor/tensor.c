/* Tensors: creation with overflow-checked sizes, views, host transfers with conversion, and the
 * fill/copy/cast kernels of cl_kernels/tensor.cl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

static const char *const dtype_names[HCL_DTYPE_COUNT_] = {"f32", "f16", "bf16", "i32", "u8", "i8"};
static const size_t dtype_sizes[HCL_DTYPE_COUNT_] = {4, 2, 2, 4, 1, 1};

static int dtype_valid(hcl_dtype d) { return (unsigned)d < HCL_DTYPE_COUNT_; }
const char *hcl_dtype_name(hcl_dtype d) { return dtype_valid(d) ? dtype_names[d] : NULL; }
size_t hcl_dtype_size(hcl_dtype d) { return dtype_valid(d) ? dtype_sizes[d] : 0; }
int hcl_dtype_is_float(hcl_dtype d) { return d == HCL_F32 || d == HCL_F16 || d == HCL_BF16; }

size_t hcl_tensor_bytes(const hcl_tensor *t) { return t ? t->count * hcl_dtype_size(t->dtype) : 0; }

int hcl_tensor_same_shape(const hcl_tensor *a, const hcl_tensor *b) {
    if (!a || !b || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++) if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Validates rank/dims and computes the element count and bytes without overflow. */
static hcl_status shape_count(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape, size_t *count) {
    if (!dtype_valid(dtype)) return hcl_error(ctx, HCL_ERR_DTYPE, "invalid dtype %d", (int)dtype);
    if (rank < 0 || rank > HCL_MAX_RANK) return hcl_error(ctx, HCL_ERR_SHAPE, "rank %d outside 0..%d", rank, HCL_MAX_RANK);
    if (rank > 0 && !shape) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "shape is NULL");
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] <= 0)
            return hcl_error(ctx, HCL_ERR_SHAPE, "dim %d is %lld: every dim must be >= 1", i, (long long)shape[i]);
        if ((uint64_t)shape[i] > SIZE_MAX / n)
            return hcl_error(ctx, HCL_ERR_OVERFLOW, "element count overflows size_t at dim %d", i);
        n *= (size_t)shape[i];
    }
    if (n > SIZE_MAX / hcl_dtype_size(dtype)) return hcl_error(ctx, HCL_ERR_OVERFLOW, "byte count overflows size_t");
    *count = n;
    return HCL_OK;
}

hcl_status hcl_tensor_create(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape, hcl_tensor **out) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    size_t n = 0;
    HCL_TRY(shape_count(ctx, dtype, rank, shape, &n));
    hcl_tensor *t = calloc(1, sizeof *t);
    if (!t) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_block_alloc(ctx, n * hcl_dtype_size(dtype), &t->block);
    if (st != HCL_OK) { free(t); return st; }
    t->ctx = ctx;
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->count = n;
    t->buffer = hcl_block_buffer(t->block);
    *out = t;
    return HCL_OK;
}

hcl_status hcl_tensor_view(hcl_tensor *base, size_t offset, int rank, const int64_t *shape, hcl_tensor **out) {
    if (!base) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = base->ctx;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    size_t n = 0;
    HCL_TRY(shape_count(ctx, base->dtype, rank, shape, &n));
    if (offset > base->count || n > base->count - offset)
        return hcl_error(ctx, HCL_ERR_SHAPE, "view of %zu elements at offset %zu exceeds the base's %zu", n, offset, base->count);
    hcl_tensor *t = calloc(1, sizeof *t);
    if (!t) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    *t = *base;
    t->block = NULL;
    t->rank = rank;
    memset(t->shape, 0, sizeof t->shape);
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->count = n;
    t->offset = base->offset + offset;
    *out = t;
    return HCL_OK;
}

void hcl_tensor_free(hcl_tensor *t) {
    if (!t) return;
    if (t->block) hcl_block_release(t->ctx, t->block);
    free(t);
}

static hcl_status check_transfer(const hcl_tensor *t, const void *host, size_t got, size_t want, const char *what) {
    if (!t) return HCL_ERR_NULL_POINTER;
    if (!host) return hcl_error(t->ctx, HCL_ERR_NULL_POINTER, "host pointer is NULL");
    if (got != want)
        return hcl_error(t->ctx, HCL_ERR_SHAPE, "%s: host has %zu, tensor needs %zu", what, got, want);
    return HCL_OK;
}

hcl_status hcl_tensor_upload_raw(hcl_tensor *t, const void *host, size_t bytes) {
    HCL_TRY(check_transfer(t, host, bytes, hcl_tensor_bytes(t), "raw upload bytes"));
    size_t es = hcl_dtype_size(t->dtype);
    HCL_CL_TRY(t->ctx, clEnqueueWriteBuffer(t->ctx->queue, t->buffer, CL_TRUE, t->offset * es, bytes, host, 0, NULL, NULL));
    return HCL_OK;
}

hcl_status hcl_tensor_download_raw(const hcl_tensor *t, void *host, size_t bytes) {
    HCL_TRY(check_transfer(t, host, bytes, hcl_tensor_bytes(t), "raw download bytes"));
    size_t es = hcl_dtype_size(t->dtype);
    HCL_CL_TRY(t->ctx, clEnqueueReadBuffer(t->ctx->queue, t->buffer, CL_TRUE, t->offset * es, bytes, host, 0, NULL, NULL));
    return HCL_OK;
}

hcl_status hcl_tensor_upload_f32(hcl_tensor *t, const float *host, size_t count) {
    HCL_TRY(check_transfer(t, host, count, t ? t->count : 0, "f32 upload elements"));
    if (t->dtype == HCL_F32) return hcl_tensor_upload_raw(t, host, count * 4);
    if (t->dtype != HCL_F16 && t->dtype != HCL_BF16)
        return hcl_error(t->ctx, HCL_ERR_DTYPE, "f32 upload into a %s tensor", hcl_dtype_name(t->dtype));
    uint16_t *tmp = malloc(count * 2);
    if (!tmp) return hcl_error(t->ctx, HCL_ERR_HOST_MEMORY, "out of host memory (%zu bytes)", count * 2);
    if (t->dtype == HCL_F16) hcl_f32_to_f16_array(tmp, host, count);
    else hcl_f32_to_bf16_array(tmp, host, count);
    hcl_status st = hcl_tensor_upload_raw(t, tmp, count * 2);
    free(tmp);
    return st;
}

hcl_status hcl_tensor_download_f32(const hcl_tensor *t, float *host, size_t count) {
    HCL_TRY(check_transfer(t, host, count, t ? t->count : 0, "f32 download elements"));
    if (t->dtype == HCL_F32) return hcl_tensor_download_raw(t, host, count * 4);
    if (t->dtype != HCL_F16 && t->dtype != HCL_BF16)
        return hcl_error(t->ctx, HCL_ERR_DTYPE, "f32 download from a %s tensor", hcl_dtype_name(t->dtype));
    uint16_t *tmp = malloc(count * 2);
    if (!tmp) return hcl_error(t->ctx, HCL_ERR_HOST_MEMORY, "out of host memory (%zu bytes)", count * 2);
    hcl_status st = hcl_tensor_download_raw(t, tmp, count * 2);
    if (st == HCL_OK) {
        if (t->dtype == HCL_F16) hcl_f16_to_f32_array(host, tmp, count);
        else hcl_bf16_to_f32_array(host, tmp, count);
    }
    free(tmp);
    return st;
}

hcl_status hcl_tensor_fill_bits(hcl_tensor *t, uint32_t bits) {
    if (!t) return HCL_ERR_NULL_POINTER;
    size_t es = hcl_dtype_size(t->dtype);
    const char *name = es == 4 ? "fill_u32" : es == 2 ? "fill_u16" : "fill_u8";
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(t->ctx, "tensor", NULL, name, &k));
    cl_ulong off = t->offset, n = t->count;
    cl_uint b = bits;
    hcl_karg args[] = {HCL_ARG(t->buffer), HCL_ARG(off), HCL_ARG(b), HCL_ARG(n)};
    return hcl_launch_1d(t->ctx, k, t->count, 0, args, 4);
}

hcl_status hcl_tensor_fill(hcl_tensor *t, double value) {
    if (!t) return HCL_ERR_NULL_POINTER;
    uint32_t bits = 0;
    float f = (float)value;
    switch (t->dtype) {
    case HCL_F32: memcpy(&bits, &f, 4); break;
    case HCL_F16: bits = hcl_f32_to_f16(f); break;
    case HCL_BF16: bits = hcl_f32_to_bf16(f); break;
    /* integers: truncated toward zero, saturated at the type's range, NaN -> 0 (an out-of-range
     * double -> integer conversion is undefined in C) */
    case HCL_I32: {
        int32_t v = 0;
        if (value >= 2147483647.0) v = INT32_MAX;
        else if (value <= -2147483648.0) v = INT32_MIN;
        else if (value == value) v = (int32_t)value;
        memcpy(&bits, &v, 4);
        break;
    }
    case HCL_U8: bits = value != value || value <= 0.0 ? 0u : value >= 255.0 ? 255u : (uint8_t)value; break;
    case HCL_I8: {
        int8_t v = value != value ? 0 : value >= 127.0 ? 127 : value <= -128.0 ? -128 : (int8_t)value;
        bits = (uint8_t)v;
        break;
    }
    default: return hcl_error(t->ctx, HCL_ERR_DTYPE, "invalid dtype");
    }
    return hcl_tensor_fill_bits(t, bits);
}

hcl_status hcl_tensor_copy(hcl_tensor *dst, const hcl_tensor *src) {
    if (!dst || !src) return dst ? hcl_error(dst->ctx, HCL_ERR_NULL_POINTER, "src is NULL") : HCL_ERR_NULL_POINTER;
    if (dst->dtype != src->dtype)
        return hcl_error(dst->ctx, HCL_ERR_DTYPE, "copy %s -> %s: dtypes differ (use hcl_tensor_cast)",
                         hcl_dtype_name(src->dtype), hcl_dtype_name(dst->dtype));
    if (dst->count != src->count)
        return hcl_error(dst->ctx, HCL_ERR_SHAPE, "copy of %zu elements into %zu", src->count, dst->count);
    if (dst->ctx != src->ctx) return hcl_error(dst->ctx, HCL_ERR_INVALID_ARGUMENT, "tensors belong to different contexts");
    size_t es = hcl_dtype_size(dst->dtype);
    const char *name = es == 4 ? "copy_u32" : es == 2 ? "copy_u16" : "copy_u8";
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(dst->ctx, "tensor", NULL, name, &k));
    cl_ulong yo = dst->offset, xo = src->offset, n = dst->count;
    hcl_karg args[] = {HCL_ARG(dst->buffer), HCL_ARG(yo), HCL_ARG(src->buffer), HCL_ARG(xo), HCL_ARG(n)};
    return hcl_launch_1d(dst->ctx, k, (dst->count + 3) / 4, 0, args, 5);
}

hcl_status hcl_tensor_cast(hcl_tensor *dst, const hcl_tensor *src) {
    if (!dst || !src) return dst ? hcl_error(dst->ctx, HCL_ERR_NULL_POINTER, "src is NULL") : HCL_ERR_NULL_POINTER;
    if (!hcl_dtype_is_float(dst->dtype) || !hcl_dtype_is_float(src->dtype))
        return hcl_error(dst->ctx, HCL_ERR_DTYPE, "cast %s -> %s: only f32/f16/bf16", hcl_dtype_name(src->dtype),
                         hcl_dtype_name(dst->dtype));
    if (dst->count != src->count)
        return hcl_error(dst->ctx, HCL_ERR_SHAPE, "cast of %zu elements into %zu", src->count, dst->count);
    if (dst->ctx != src->ctx) return hcl_error(dst->ctx, HCL_ERR_INVALID_ARGUMENT, "tensors belong to different contexts");
    if (dst->dtype == src->dtype) return hcl_tensor_copy(dst, src);
    char opts[64];
    snprintf(opts, sizeof opts, "-DSRC_DT=%s -DDST_DT=%s", hcl_dtype_name(src->dtype), hcl_dtype_name(dst->dtype));
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(dst->ctx, "tensor", opts, "cast", &k));
    cl_ulong yo = dst->offset, xo = src->offset, n = dst->count;
    hcl_karg args[] = {HCL_ARG(dst->buffer), HCL_ARG(yo), HCL_ARG(src->buffer), HCL_ARG(xo), HCL_ARG(n)};
    return hcl_launch_1d(dst->ctx, k, (dst->count + 7) / 8, 0, args, 5);
}
