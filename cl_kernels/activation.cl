// Activations, elementwise: y = act(x) and dx = dy * act'(x), with the math of hcl_act_forward /
// hcl_act_backward in common.h (shared with the GEMM epilogues, so both give the same bits).
// One kernel per activation (act_forward_<code>, act_backward_<code>, code = enum
// hcl_activation) so the activation is a compile-time constant: a runtime switch keeps PoCL from
// vectorising the work-item loop (measured 13x slower for relu). Built with -DVEC=<1|8> elements
// per work-item and -DY_DT/-DX_DT (forward) or -DDX_DT/-DDY_DT/-DX_DT (backward).
#include "common.h"

#ifndef VEC
#define VEC 1
#endif
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

// f applied to each lane of a float8
#define HCL_MAP8(f, act, v, alpha)                                                              \
    ((float8)(f(act, (v).s0, alpha), f(act, (v).s1, alpha), f(act, (v).s2, alpha), f(act, (v).s3, alpha), \
              f(act, (v).s4, alpha), f(act, (v).s5, alpha), f(act, (v).s6, alpha), f(act, (v).s7, alpha)))

// One element, float math: y[yi] = act(x[xi]) and dx[dxi] = dy[dyi] * act'(x[xi]).
#define ACT_FWD_FLOAT(act, y, yi, x, xi, alpha) HCL_STORE(Y_DT, y, yi, hcl_act_forward(act, HCL_LOAD(X_DT, x, xi), alpha))
#define ACT_BWD_FLOAT(act, dx, dxi, dy, dyi, x, xi, alpha) \
    HCL_STORE(DX_DT, dx, dxi, HCL_LOAD(DY_DT, dy, dyi) * hcl_act_backward(act, HCL_LOAD(X_DT, x, xi), alpha))

// None and ReLU with all tensors F16 on a cl_khr_fp16 device: in half (eight lanes or one), no
// conversions; a select and a multiply by 0 or 1 give the bits of the float path. The other
// activations' curves stay in float.
#if HCL_NATIVE_HALF && HCL_IS_F16(X_DT) && HCL_IS_F16(Y_DT)
#define ACT_FORWARD_HALF8(act, y, yi, x, xi)                                                     \
    if ((act) <= 1) {                                                                          \
        half8 h = HCL_HLOAD8(x, xi);                                                           \
        HCL_HSTORE8(y, yi, (act) == 0 ? h : select((half8)((half)0), h, h > (half8)((half)0))); \
        return;                                                                                \
    }
#define ACT_FWD_ELEM(act, y, yi, x, xi, alpha)                                                   \
    if ((act) <= 1) {                                                                          \
        half h = HCL_HLOAD(x, xi);                                                             \
        HCL_HSTORE(y, yi, (act) == 0 || h > (half)0 ? h : (half)0);                            \
    } else                                                                                     \
        ACT_FWD_FLOAT(act, y, yi, x, xi, alpha)
#else
#define ACT_FORWARD_HALF8(act, y, yi, x, xi)
#define ACT_FWD_ELEM ACT_FWD_FLOAT
#endif
#if HCL_NATIVE_HALF && HCL_IS_F16(DX_DT) && HCL_IS_F16(DY_DT) && HCL_IS_F16(X_DT)
#define ACT_BACKWARD_HALF8(act, dx, dxi, dy, dyi, x, xi)                                          \
    if ((act) <= 1) {                                                                           \
        half8 one = (half8)((half)1), d = (act) == 0 ? one                                      \
                    : select((half8)((half)0), one, HCL_HLOAD8(x, xi) > (half8)((half)0));       \
        HCL_HSTORE8(dx, dxi, HCL_HLOAD8(dy, dyi) * d);                                          \
        return;                                                                                 \
    }
#define ACT_BWD_ELEM(act, dx, dxi, dy, dyi, x, xi, alpha)                                         \
    if ((act) <= 1)                                                                             \
        HCL_HSTORE(dx, dxi, HCL_HLOAD(dy, dyi) * ((act) == 0 || HCL_HLOAD(x, xi) > (half)0 ? (half)1 : (half)0)); \
    else                                                                                        \
        ACT_BWD_FLOAT(act, dx, dxi, dy, dyi, x, xi, alpha)
#else
#define ACT_BACKWARD_HALF8(act, dx, dxi, dy, dyi, x, xi)
#define ACT_BWD_ELEM ACT_BWD_FLOAT
#endif

// y (n) Y_DT = act(x (n) X_DT); VEC consecutive elements per work-item; y may be x (in place:
// each element is read and written by the same work-item).
#define ACT_FORWARD_KERNEL(act)                                                                          \
    kernel void act_forward_##act(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x,       \
                                  ulong x_off, ulong n, float alpha) {                                   \
        size_t i = get_global_id(0) * VEC;                                                               \
        if (i >= n) return;                                                                              \
        if (VEC == 8 && i + 8 <= n) {                                                                    \
            ACT_FORWARD_HALF8(act, y, y_off + i, x, x_off + i)                                           \
            float8 v = HCL_LOAD8(X_DT, x, x_off + i);                                                    \
            HCL_STORE8(Y_DT, y, y_off + i, HCL_MAP8(hcl_act_forward, act, v, alpha));                    \
            return;                                                                                      \
        }                                                                                                \
        if (VEC == 1) { /* straight-line: PoCL vectorises the work-item loop */                      \
            ACT_FWD_ELEM(act, y, y_off + i, x, x_off + i, alpha);                                        \
            return;                                                                                      \
        }                                                                                                \
        for (size_t e = min((size_t)n, i + VEC); i < e; i++) { /* the tail */                          \
            ACT_FWD_ELEM(act, y, y_off + i, x, x_off + i, alpha);                                        \
        }                                                                                                \
    }

// dx (n) DX_DT = dy (n) DY_DT * act'(x (n) X_DT), x the forward input; VEC elements per
// work-item; dx may be dy.
#define ACT_BACKWARD_KERNEL(act)                                                                          \
    kernel void act_backward_##act(global HCL_T(DX_DT) *dx, ulong dx_off, const global HCL_T(DY_DT) *dy,  \
                                   ulong dy_off, const global HCL_T(X_DT) *x, ulong x_off, ulong n,       \
                                   float alpha) {                                                         \
        size_t i = get_global_id(0) * VEC;                                                                \
        if (i >= n) return;                                                                               \
        if (VEC == 8 && i + 8 <= n) {                                                                     \
            ACT_BACKWARD_HALF8(act, dx, dx_off + i, dy, dy_off + i, x, x_off + i)                         \
            float8 v = HCL_LOAD8(X_DT, x, x_off + i);                                                     \
            HCL_STORE8(DX_DT, dx, dx_off + i,                                                             \
                       HCL_LOAD8(DY_DT, dy, dy_off + i) * HCL_MAP8(hcl_act_backward, act, v, alpha));     \
            return;                                                                                       \
        }                                                                                                 \
        if (VEC == 1) {                                                                                   \
            ACT_BWD_ELEM(act, dx, dx_off + i, dy, dy_off + i, x, x_off + i, alpha);                       \
            return;                                                                                       \
        }                                                                                                 \
        for (size_t e = min((size_t)n, i + VEC); i < e; i++) {                                            \
            ACT_BWD_ELEM(act, dx, dx_off + i, dy, dy_off + i, x, x_off + i, alpha);                       \
        }                                                                                                 \
    }

#define ACT_KERNELS(act) ACT_FORWARD_KERNEL(act) ACT_BACKWARD_KERNEL(act)
ACT_KERNELS(0)  // none
ACT_KERNELS(1)  // relu
ACT_KERNELS(2)  // leaky_relu
ACT_KERNELS(3)  // sigmoid
ACT_KERNELS(4)  // tanh
ACT_KERNELS(5)  // gelu
ACT_KERNELS(6)  // gelu_tanh
ACT_KERNELS(7)  // silu
