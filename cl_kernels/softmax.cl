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

// 8-element chunks a work-item of softmax_fwd_wg keeps in private memory: rows of up to
// L * SM_CACHE chunks are read once with one exp per element, longer rows are re-read. The host
// sets it by device (-DSM_CACHE: large on CPUs, where private memory is the cached stack).
#ifndef SM_CACHE
#define SM_CACHE 8
#endif

inline float sm_log_out(float v) { return v < -SM_MAX(Y_DT) && v != -INFINITY ? -SM_MAX(Y_DT) : v; }
inline float8 sm_log_out8(float8 v) {
    return select(v, (float8)(-SM_MAX(Y_DT)), (v < -SM_MAX(Y_DT)) & (v != (float8)(-INFINITY)));
}

// (Work-group tree reductions: hcl_wg_sum / hcl_wg_max in common.h.)
// max(a, b) per lane ignoring a NaN in b like fmax, as a compare and select (fmax is a library
// call on some CPU drivers); lane reductions of a float8 in a fixed order.
inline float8 sm_max8(float8 a, float8 b) { return select(a, b, b > a); }
inline float sm_hmax8(float8 v) {
    float4 a = select(v.lo, v.hi, v.hi > v.lo);
    float2 b = select(a.lo, a.hi, a.hi > a.lo);
    return b.hi > b.lo ? b.hi : b.lo;
}
inline float sm_hsum8(float8 v) {
    float4 a = v.lo + v.hi;
    float2 b = a.lo + a.hi;
    return b.lo + b.hi;
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
    for (size_t c = 0; c < cols; c++) s += hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m);
    if (log_out) {
        float ls = log(s);
        for (size_t c = 0; c < cols; c++) HCL_STORE(Y_DT, y, yb + c, sm_log_out((HCL_LOAD(X_DT, x, xb + c) - m) - ls));
    } else {
        float inv = 1.0f / s;
        for (size_t c = 0; c < cols; c++) HCL_STORE(Y_DT, y, yb + c, hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m) * inv);
    }
}

// y (rows, cols) Y_DT = softmax or log_softmax of x (rows, cols) X_DT over cols.
// One work-group per row: global = rows * L, local = L (power of two), scratch L floats. Work-item
// lid takes the 8-element chunks lid, lid + L, ... of the row; work-item 0 also the cols % 8 tail.
kernel void softmax_fwd_wg(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off,
                           ulong rows, ulong cols, int log_out, local float *scratch) {
    size_t r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (r >= rows) return;  // uniform over the work-group
    size_t xb = x_off + r * cols, yb = y_off + r * cols, nv = cols / 8, tail = nv * 8;
    float8 m8 = (float8)(-INFINITY);
    if (nv <= L * SM_CACHE) {
        // the row fits SM_CACHE chunks per work-item: one global read and one exp per element
        float8 e[SM_CACHE];
        for (int j = 0; j < SM_CACHE; j++) {
            size_t k = lid + (size_t)j * L;
            if (k >= nv) break;
            e[j] = HCL_LOAD8(X_DT, x, xb + k * 8);
            m8 = sm_max8(m8, e[j]);
        }
        float m = sm_hmax8(m8);
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) m = fmax(m, HCL_LOAD(X_DT, x, xb + c));
        m = hcl_wg_max(scratch, m);
        float8 s8 = (float8)(0.0f);
        for (int j = 0; j < SM_CACHE; j += 2) {  // two chunks per exp: 16 lanes on wide SIMD CPUs
            size_t k = lid + (size_t)j * L;
            if (k >= nv) break;
            if (k + L < nv && j + 1 < SM_CACHE) {
                e[j] -= m;
                e[j + 1] -= m;
                float16 ex = hcl_exp16((float16)(e[j], e[j + 1]));
                s8 += ex.lo;
                s8 += ex.hi;
                if (!log_out) {
                    e[j] = ex.lo;
                    e[j + 1] = ex.hi;
                }
            } else {
                e[j] -= m;
                float8 ex = hcl_exp8(e[j]);
                s8 += ex;
                if (!log_out) e[j] = ex;
            }
        }
        float s = sm_hsum8(s8);
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) s += hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m);
        s = hcl_wg_sum(scratch, s);
        float ls = log(s), inv = 1.0f / s;
        for (int j = 0; j < SM_CACHE; j++) {
            size_t k = lid + (size_t)j * L;
            if (k >= nv) break;
            float8 v = log_out ? e[j] - ls : e[j] * inv;
            if (log_out) v = sm_log_out8(v);
            HCL_STORE8(Y_DT, y, yb + k * 8, v);
        }
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) {
                float d = HCL_LOAD(X_DT, x, xb + c) - m;
                HCL_STORE(Y_DT, y, yb + c, log_out ? sm_log_out(d - ls) : hcl_exp(d) * inv);
            }
        return;
    }
    // long rows: read x three times, exp twice (softmax)
    for (size_t k = lid; k < nv; k += L) m8 = sm_max8(m8, HCL_LOAD8(X_DT, x, xb + k * 8));
    float m = sm_hmax8(m8);
    if (lid == 0)
        for (size_t c = tail; c < cols; c++) m = fmax(m, HCL_LOAD(X_DT, x, xb + c));
    m = hcl_wg_max(scratch, m);
    float8 s8 = (float8)(0.0f);
    for (size_t k = lid; k < nv; k += L) s8 += hcl_exp8(HCL_LOAD8(X_DT, x, xb + k * 8) - m);
    float s = sm_hsum8(s8);
    if (lid == 0)
        for (size_t c = tail; c < cols; c++) s += hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m);
    s = hcl_wg_sum(scratch, s);
    if (log_out) {
        float ls = log(s);
        for (size_t k = lid; k < nv; k += L) {
            float8 v = (HCL_LOAD8(X_DT, x, xb + k * 8) - m) - ls;
            HCL_STORE8(Y_DT, y, yb + k * 8, sm_log_out8(v));
        }
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) HCL_STORE(Y_DT, y, yb + c, sm_log_out((HCL_LOAD(X_DT, x, xb + c) - m) - ls));
    } else {
        float inv = 1.0f / s;
        for (size_t k = lid; k < nv; k += L) HCL_STORE8(Y_DT, y, yb + k * 8, hcl_exp8(HCL_LOAD8(X_DT, x, xb + k * 8) - m) * inv);
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) HCL_STORE(Y_DT, y, yb + c, hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m) * inv);
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
            HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(DY_DT, dy, gb + c) - hcl_exp(HCL_LOAD(Y_DT, y, yb + c)) * s);
    } else {
        for (size_t c = 0; c < cols; c++) s += HCL_LOAD(DY_DT, dy, gb + c) * HCL_LOAD(Y_DT, y, yb + c);
        for (size_t c = 0; c < cols; c++)
            HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(Y_DT, y, yb + c) * (HCL_LOAD(DY_DT, dy, gb + c) - s));
    }
}

// dx (rows, cols) DX_DT from dy and y as softmax_bwd_row; one work-group per row (global =
// rows * L, local = L a power of two, scratch L floats), 8-element chunks as softmax_fwd_wg.
kernel void softmax_bwd_wg(global HCL_T(DX_DT) *dx, ulong dx_off, const global HCL_T(DY_DT) *dy, ulong dy_off,
                           const global HCL_T(Y_DT) *y, ulong y_off, ulong rows, ulong cols, int log_out,
                           local float *scratch) {
    size_t r = get_group_id(0), lid = get_local_id(0), L = get_local_size(0);
    if (r >= rows) return;  // uniform over the work-group
    size_t xb = dx_off + r * cols, gb = dy_off + r * cols, yb = y_off + r * cols, nv = cols / 8, tail = nv * 8;
    float8 s8 = (float8)(0.0f);
    float s = 0.0f;
    if (log_out) {
        for (size_t k = lid; k < nv; k += L) s8 += HCL_LOAD8(DY_DT, dy, gb + k * 8);
        s = sm_hsum8(s8);
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) s += HCL_LOAD(DY_DT, dy, gb + c);
    } else {
        for (size_t k = lid; k < nv; k += L) s8 += HCL_LOAD8(DY_DT, dy, gb + k * 8) * HCL_LOAD8(Y_DT, y, yb + k * 8);
        s = sm_hsum8(s8);
        if (lid == 0)
            for (size_t c = tail; c < cols; c++) s += HCL_LOAD(DY_DT, dy, gb + c) * HCL_LOAD(Y_DT, y, yb + c);
    }
    s = hcl_wg_sum(scratch, s);
    if (log_out) {
        for (size_t k = lid; k < nv; k += L)
            HCL_STORE8(DX_DT, dx, xb + k * 8, HCL_LOAD8(DY_DT, dy, gb + k * 8) - hcl_exp8(HCL_LOAD8(Y_DT, y, yb + k * 8)) * s);
        if (lid == 0)
            for (size_t c = tail; c < cols; c++)
                HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(DY_DT, dy, gb + c) - hcl_exp(HCL_LOAD(Y_DT, y, yb + c)) * s);
    } else {
        for (size_t k = lid; k < nv; k += L)
            HCL_STORE8(DX_DT, dx, xb + k * 8, HCL_LOAD8(Y_DT, y, yb + k * 8) * (HCL_LOAD8(DY_DT, dy, gb + k * 8) - s));
        if (lid == 0)
            for (size_t c = tail; c < cols; c++)
                HCL_STORE(DX_DT, dx, xb + c, HCL_LOAD(Y_DT, y, yb + c) * (HCL_LOAD(DY_DT, dy, gb + c) - s));
    }
}
