/* Argument validation and option helpers shared by every op launcher (see ops_internal.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "ops/ops_internal.h"

hcl_status hcl_check_tensor(hcl_context *ctx, const hcl_tensor *t, const char *name) {
    if (!t) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "%s is NULL", name);
    if (t->ctx != ctx) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s belongs to another context", name);
    return HCL_OK;
}

hcl_status hcl_check_float(hcl_context *ctx, const hcl_tensor *t, const char *name) {
    HCL_TRY(hcl_check_tensor(ctx, t, name));
    if (!hcl_dtype_is_float(t->dtype))
        return hcl_error(ctx, HCL_ERR_DTYPE, "%s is %s; it must be f32, f16 or bf16", name, hcl_dtype_name(t->dtype));
    return HCL_OK;
}

hcl_status hcl_check_dtype(hcl_context *ctx, const hcl_tensor *t, hcl_dtype dtype, const char *name) {
    HCL_TRY(hcl_check_tensor(ctx, t, name));
    if (t->dtype != dtype)
        return hcl_error(ctx, HCL_ERR_DTYPE, "%s is %s; it must be %s", name, hcl_dtype_name(t->dtype), hcl_dtype_name(dtype));
    return HCL_OK;
}

hcl_status hcl_check_rank(hcl_context *ctx, const hcl_tensor *t, int rank, const char *name) {
    HCL_TRY(hcl_check_tensor(ctx, t, name));
    if (t->rank != rank) return hcl_error(ctx, HCL_ERR_SHAPE, "%s has rank %d; it must be %d", name, t->rank, rank);
    return HCL_OK;
}

hcl_status hcl_check_same_count(hcl_context *ctx, const hcl_tensor *a, const char *an, const hcl_tensor *b, const char *bn) {
    if (a->count != b->count)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements but %s has %zu", an, a->count, bn, b->count);
    return HCL_OK;
}

hcl_status hcl_check_same_shape(hcl_context *ctx, const hcl_tensor *a, const char *an, const hcl_tensor *b, const char *bn) {
    if (!hcl_tensor_same_shape(a, b))
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s (rank %d, %zu elements) and %s (rank %d, %zu elements) differ in shape",
                         an, a->rank, a->count, bn, b->rank, b->count);
    return HCL_OK;
}

hcl_status hcl_check_no_alias(hcl_context *ctx, const hcl_tensor *out, const char *on, const hcl_tensor *in, const char *in_name) {
    if (!out || !in || out->buffer != in->buffer) return HCL_OK;
    size_t ob = out->offset * hcl_dtype_size(out->dtype), oe = ob + hcl_tensor_bytes(out);
    size_t ib = in->offset * hcl_dtype_size(in->dtype), ie = ib + hcl_tensor_bytes(in);
    if (ob < ie && ib < oe) return hcl_error(ctx, HCL_ERR_ALIASING, "%s overlaps %s; they must not alias", on, in_name);
    return HCL_OK;
}

hcl_status hcl_check_scalar_f32(hcl_context *ctx, const hcl_tensor *t, const char *name, int nullable) {
    if (!t && nullable) return HCL_OK;
    HCL_TRY(hcl_check_dtype(ctx, t, HCL_F32, name));
    if (t->count != 1) return hcl_error(ctx, HCL_ERR_SHAPE, "%s must have one element, has %zu", name, t->count);
    return HCL_OK;
}

const char *hcl_dt_options(char *buf, size_t len, ...) {
    va_list ap;
    va_start(ap, len);
    size_t used = 0;
    buf[0] = '\0';
    for (;;) {
        const char *name = va_arg(ap, const char *);
        if (!name) break;
        hcl_dtype dt = (hcl_dtype)va_arg(ap, int);
        int n = snprintf(buf + used, len - used, "%s-D%s_DT=%s", used ? " " : "", name, hcl_dtype_name(dt));
        if (n < 0 || (size_t)n >= len - used) break;
        used += (size_t)n;
    }
    va_end(ap);
    return buf;
}

hcl_status hcl_check_no_alias_all(hcl_context *ctx, const hcl_tensor *const *outs, const char *const *out_names, size_t nout,
                                  const hcl_tensor *const *ins, const char *const *in_names, size_t nin) {
    for (size_t i = 0; i < nout; i++) {
        for (size_t j = i + 1; j < nout; j++) HCL_TRY(hcl_check_no_alias(ctx, outs[i], out_names[i], outs[j], out_names[j]));
        for (size_t j = 0; j < nin; j++) HCL_TRY(hcl_check_no_alias(ctx, outs[i], out_names[i], ins[j], in_names[j]));
    }
    return HCL_OK;
}
