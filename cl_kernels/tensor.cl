// Tensor-layer kernels: fill with a bit pattern, copy, and cast between float dtypes.
// Built with -DSRC_DT=<dtype> -DDST_DT=<dtype> for cast (defaults f32 -> f16).
// The cast is bit-identical to the host conversions, NaN payloads included: integer F16 forms.
#define HCL_EXACT_NAN 1
#include "common.h"

#ifndef SRC_DT
#define SRC_DT f32
#endif
#ifndef DST_DT
#define DST_DT f16
#endif

// x (n) 32-bit elements = bits
kernel void fill_u32(global uint *x, ulong x_off, uint bits, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    x[x_off + i] = bits;
}

// x (n) 16-bit elements = bits
kernel void fill_u16(global ushort *x, ulong x_off, uint bits, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    x[x_off + i] = (ushort)bits;
}

// x (n) bytes = bits
kernel void fill_u8(global uchar *x, ulong x_off, uint bits, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    x[x_off + i] = (uchar)bits;
}

// y (n) = x (n), elements of 4, 2 or 1 bytes; 4 elements per work-item
#define HCL_COPY_KERNEL(name, T)                                                          \
    kernel void name(global T *y, ulong y_off, const global T *x, ulong x_off, ulong n) { \
        size_t i = get_global_id(0) * 4;                                                  \
        if (i + 4 <= n) {                                                                 \
            y[y_off + i] = x[x_off + i];                                                  \
            y[y_off + i + 1] = x[x_off + i + 1];                                          \
            y[y_off + i + 2] = x[x_off + i + 2];                                          \
            y[y_off + i + 3] = x[x_off + i + 3];                                          \
        } else {                                                                          \
            for (; i < n; i++) y[y_off + i] = x[x_off + i];                               \
        }                                                                                 \
    }
HCL_COPY_KERNEL(copy_u32, uint)
HCL_COPY_KERNEL(copy_u16, ushort)
HCL_COPY_KERNEL(copy_u8, uchar)

// y (n) DST_DT = x (n) SRC_DT, round to nearest even; 8 elements per work-item (vector path)
kernel void cast(global HCL_T(DST_DT) *y, ulong y_off, const global HCL_T(SRC_DT) *x, ulong x_off, ulong n) {
    size_t i = get_global_id(0) * 8;
    if (i + 8 <= n) {
        HCL_STORE8(DST_DT, y, y_off + i, HCL_LOAD8(SRC_DT, x, x_off + i));
    } else {
        for (; i < n; i++) HCL_STORE(DST_DT, y, y_off + i, HCL_LOAD(SRC_DT, x, x_off + i));
    }
}
