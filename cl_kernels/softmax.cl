// Softmax and log-softmax over the last dim, forward and backward (from the forward output).
// Short rows: one work-item per row (*_row kernels). Long rows: one work-group per row with a
// local-memory tree reduction (*_wg kernels; the local size must be a power of two). All math
// and every sum in float, in a fixed order (deterministic).
// Built with -DX_DT= -DY_DT= (forward) or -DDX_DT= -DDY_DT= -DY_DT= (backward): f32/f16/bf16.
#include "common.h"

#ifndef X_DT
#define X_DT f32
#endif
#ifndef Y_DT
#define Y_DT f32
#endif
#ifndef DX_DT
#define DX_DT f32
#endif
#ifndef DY_DT
#define DY_DT f32
#endif

// Largest finite value of each storage dtype: a finite log-softmax value below -max would
// round to -inf in F16 storage; it saturates at -max instead (exp of either is 0 in float, so
// the backward pass is unchanged).
#define SM_MAX_f32 3.40282347e38f
#define SM_MAX_f16 65504.0f
#define SM_MAX_bf16 3.38953139e38f
#define SM_MAX(dt) HCL_CAT(SM_MAX_, dt)

inline float sm_log_out(float v) { return isfinite(v) ? fmax(v, -SM_MAX(Y_DT)) : v; }

// Work-group tree reductions over buf[0..L) (L = local size, a power of two). Every work-item
// gets the result; buf is free for reuse on return.
inline float wg_max(local float *buf, float v) {
    size_t lid = get_local_id(0), L = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = L / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = fmax(buf[lid], buf[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float wg_sum(local float *buf, float v) {
    size_t lid = get_local_id(0), L = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = L / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// y (rows, cols) Y_DT = softmax or log_softmax (log_out) of x (rows, cols) X_DT over cols.
// One work-item per row; global >= rows.
kernel void softmax_fwd_row(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                            ulong rows, ulong cols, int log_out) {
    size_t r = get_global_id(0);
    if (r >= rows) return;
    size_t xb = x_off + r * cols, yb = y_off + r * cols;
    float m = -INFINITY;
    for (size_t c = 0; c < cols; c++) m = fmax(m, HCL_LOAD(X_DT, x, xb + c));
    float s = 0.0f;
    for (size_t c = 0; c < cols; c++) s += exp(HCL_LOAD(X_DT, x, xb + c) - m);
    if (log_out) {
        float ls = log(s);
        for (size_t c = 0; c < cols; c++) HCL_STORE(Y_DT, y, yb + c, sm_log_out((HCL_LOAD(X_DT, x, xb + c) - m) - ls));
    } else {
        float inv = 1.0f / s;
        for (size_t c = 0; c < cols; c++) HCL_STORE(Y_DT, y, yb + c, exp(HCL_LOAD(X_DT, x, xb + c) - m) * inv);
    }
}

// y (rows, cols) Y_DT = softmax or log_softmax of x (rows, cols) X_DT over cols.
// One work-group per row: global = rows * L, local = L (power of two), scratch L floats.
kernel void softmax_fwd_wg(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                           ulong rows, ulong cols, int log_out, local float *scratch) {
    size_t r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (r >= rows) return;  // uniform over the work-group
    size_t xb = x_off + r * cols, yb = y_off + r * cols;
    float m = -INFINITY;
    for (size_t c = lid; c < cols; c += L) m = fmax(m, HCL_LOAD(X_DT, x, xb + c));
    m = wg_max(scratch, m);
    float s = 0.0f;
    for (size_t c = lid; c < cols; c += L) s += exp(HCL_LOAD(X_DT, x, xb + c) - m);
    s = wg_sum(scratch, s);
    if (log_out) {
        float ls = log(s);
        for (size_t c = lid; c < cols; c += L) HCL_STORE(Y_DT, y, yb + c, sm_log_out((HCL_LOAD(X_DT, x, xb + c) - m) - ls));
    } else {
        float inv = 1.0f / s;
        for (size_t c = lid; c < cols; c += L) HCL_STORE(Y_DT, y, yb + c, exp(HCL_LOAD(X_DT, x, xb + c) - m) * inv);
    }
}

// dx (rows, cols) DX_DT from dy (rows, cols) DY_DT and the forward output y (rows, cols) Y_DT:
// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - exp(y) sum(dy). One work-item per row.
kernel void softmax_bwd_row(global HCL_T(DX_DT) *dx, ulong dx_off, const global HCL_T(DY_DT) *dy, ulong dy_off,
                            const global HCL_T(Y_DT) *y, ulong y_off, ulong rows, ulong cols, int log_out) {
    size_t r = get_global_id(0);
    if (r >= rows) return;
    size_t xb = dx_off + r * cols, gb = dy_off + r * cols, yb = y_off + r * cols;
    float s = 0.0f;
    if (log_out) {
        for (size_t c = 0; c < cols; c++) s += HCL_LOAD(DY_DT, dy, gb + c);
        for (size_t c = 0; c < cols; c++)
            HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(DY_DT, dy, gb + c) - exp(HCL_LOAD(Y_DT, y, yb + c)) * s);
    } else {
        for (size_t c = 0; c < cols; c++) s += HCL_LOAD(DY_DT, dy, gb + c) * HCL_LOAD(Y_DT, y, yb + c);
        for (size_t c = 0; c < cols; c++)
            HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(Y_DT, y, yb + c) * (HCL_LOAD(DY_DT, dy, gb + c) - s));
    }
}

// dx (rows, cols) DX_DT from dy and y as softmax_bwd_row; one work-group per row (global =
// rows * L, local = L a power of two, scratch L floats).
kernel void softmax_bwd_wg(global HCL_T(DX_DT) *dx, ulong dx_off, const global HCL_T(DY_DT) *dy, ulong dy_off,
                           const global HCL_T(Y_DT) *y, ulong y_off, ulong rows, ulong cols, int log_out,
                           local float *scratch) {
    size_t r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (r >= rows) return;  // uniform over the work-group
    size_t xb = dx_off + r * cols, gb = dy_off + r * cols, yb = y_off + r * cols;
    float s = 0.0f;
    if (log_out) {
        for (size_t c = lid; c < cols; c += L) s += HCL_LOAD(DY_DT, dy, gb + c);
    } else {
        for (size_t c = lid; c < cols; c += L) s += HCL_LOAD(DY_DT, dy, gb + c) * HCL_LOAD(Y_DT, y, yb + c);
    }
    s = wg_sum(scratch, s);
    if (log_out) {
        for (size_t c = lid; c < cols; c += L)
            HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(DY_DT, dy, gb + c) - exp(HCL_LOAD(Y_DT, y, yb + c)) * s);
    } else {
        for (size_t c = lid; c < cols; c += L)
            HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(Y_DT, y, yb + c) * (HCL_LOAD(DY_DT, dy, gb + c) - s));
    }
}
