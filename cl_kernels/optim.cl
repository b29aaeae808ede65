// Mixed-precision training kernels over whole parameter arenas: the fused unscale + non-finite
// check + sum of squares pass, the one-work-item finalize (flag, global norm, clip factor, loss
// scaler update, step counter), and the fused optimizers (SGD, Adam/AdamW, RMSProp, AdaGrad).
// Built with -DG_DT= (gradient), -DP_DT= (master: f32, or f16 under pure_f16), -DW_DT= (working
// copy) and -DHAS_WORK=0|1 (a working copy separate from the master exists).
#include "common.h"

#ifndef G_DT
#define G_DT f32
#endif
#ifndef P_DT
#define P_DT f32
#endif
#ifndef W_DT
#define W_DT f32
#endif
#ifndef HAS_WORK
#define HAS_WORK 0
#endif

// amp state words (one F32 buffer; counters are uint bits), the same as src/amp/amp_internal.h
#define AMP_SCALE 0     // f32 loss scale
#define AMP_FOUND_INF 1 // u32 1 when the last step had an inf/NaN gradient (skipped)
#define AMP_TRACKER 2   // u32 consecutive clean steps
#define AMP_STEP 3      // u32 optimizer steps taken
#define AMP_SKIPPED 4   // u32 skipped steps
#define AMP_NORM 5      // f32 global norm of the unscaled gradients
#define AMP_GSCALE 6    // f32 clip / scale: what the optimizer multiplies the gradient by
#define AMP_BC1 7       // f32 1 - beta1^step
#define AMP_BC2 8       // f32 1 - beta2^step
#define AMP_CLR 9       // f32 1 / (1 + (step - 1) lr_decay)
#define AMP_CLIP 10     // f32 clip factor

// g (n) G_DT scaled gradients; st amp state; part (2 * groups) f32: per group the sum of squares
// of g / scale and a non-finite flag (0 or 1). Work-item j of the launch visits j, j + G, ... (G =
// global size) in order, then the group sums its items in a fixed tree: deterministic.
kernel void unscale_check(const global HCL_T(G_DT) *g, ulong g_off, const global float *st, global float *part,
                          ulong n, local float *ssum, local float *sbad) {
    size_t lid = get_local_id(0), lsz = get_local_size(0);
    size_t stride = get_global_size(0);
    float inv = 1.0f / st[AMP_SCALE];
    float sum = 0.0f, bad = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += stride) {
        float x = HCL_LOAD(G_DT, g, g_off + i);
        if (!isfinite(x)) bad = 1.0f;
        float u = x * inv;
        sum = fma(u, u, sum);
    }
    ssum[lid] = sum;
    sbad[lid] = bad;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = lsz / 2; s > 0; s >>= 1) {
        if (lid < s) {
            ssum[lid] += ssum[lid + s];
            sbad[lid] = fmax(sbad[lid], sbad[lid + s]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        part[2 * get_group_id(0)] = ssum[0];
        part[2 * get_group_id(0) + 1] = sbad[0];
    }
}

// One work-item: reduces part (2 * groups) in order, then writes the flag, norm, clip factor and
// gradient factor for this step and advances the scaler and the step counter (+1 on clean steps).
// dynamic: 1 = grow/back off the scale; 0 = keep it (static or off).
kernel void amp_finalize(const global float *part, uint groups, global float *st, float max_norm, int dynamic,
                         float growth, float backoff, uint interval, float max_scale, float min_scale, float beta1,
                         float beta2, float lr_decay) {
    if (get_global_id(0) != 0) return;
    float sum = 0.0f, bad = 0.0f;
    for (uint i = 0; i < groups; i++) {
        sum += part[2 * i];
        bad = fmax(bad, part[2 * i + 1]);
    }
    float scale = st[AMP_SCALE];
    float norm = sqrt(sum);
    float clip = 1.0f;
    if (max_norm > 0.0f) clip = fmin(1.0f, max_norm / (norm + 1e-6f));
    st[AMP_NORM] = norm;
    st[AMP_CLIP] = clip;
    st[AMP_GSCALE] = clip / scale;
    uint tracker = as_uint(st[AMP_TRACKER]);
    if (bad != 0.0f || !isfinite(norm)) {
        st[AMP_FOUND_INF] = as_float(1u);
        st[AMP_SKIPPED] = as_float(as_uint(st[AMP_SKIPPED]) + 1u);
        if (dynamic) {
            st[AMP_SCALE] = fmax(scale * backoff, min_scale);
            st[AMP_TRACKER] = as_float(0u);
        }
        return;
    }
    st[AMP_FOUND_INF] = as_float(0u);
    uint step = as_uint(st[AMP_STEP]) + 1u;
    st[AMP_STEP] = as_float(step);
    float t = (float)step;
    // 1 - b^t = -expm1(t log b): accurate when b^t is close to 1 (beta2 = 0.999, t small)
    st[AMP_BC1] = beta1 > 0.0f ? -expm1(t * log(beta1)) : 1.0f;
    st[AMP_BC2] = beta2 > 0.0f ? -expm1(t * log(beta2)) : 1.0f;
    st[AMP_CLR] = 1.0f / (1.0f + (t - 1.0f) * lr_decay);
    if (dynamic) {
        tracker += 1u;
        if (tracker >= interval) {
            float grown = scale * growth;
            st[AMP_SCALE] = isfinite(grown) ? fmin(grown, max_scale) : max_scale;
            tracker = 0u;
        }
        st[AMP_TRACKER] = as_float(tracker);
    }
}

// Shared signature of the optimizers: p (n) P_DT master, w (n) W_DT working copy (written when
// HAS_WORK), g (n) G_DT scaled gradient, s0..s2 (n) f32 states (unused ones may be any buffer),
// st amp state, lr and three hyper-parameters a, b, c, flags bits.
#define OPTIM_ARGS                                                                                        \
    global HCL_T(P_DT) *p, ulong p_off, global HCL_T(W_DT) *w, ulong w_off, const global HCL_T(G_DT) *g, \
        ulong g_off, global float *s0, ulong s0_off, global float *s1, ulong s1_off, global float *s2,    \
        ulong s2_off, const global float *st, float lr, float wd, float a, float b, float c, int flags, ulong n

// Skips everything on a flagged step; loads the unscaled, clipped gradient and the master.
#define OPTIM_BEGIN                                                 \
    size_t i = get_global_id(0);                                    \
    if (i >= n) return;                                             \
    if (as_uint(st[AMP_FOUND_INF]) != 0u) return;                   \
    float gr = HCL_LOAD(G_DT, g, g_off + i) * st[AMP_GSCALE];       \
    float pv = HCL_LOAD(P_DT, p, p_off + i);

#if HAS_WORK
#define OPTIM_END                        \
    HCL_STORE(P_DT, p, p_off + i, pv);   \
    HCL_STORE(W_DT, w, w_off + i, pv);
#else
#define OPTIM_END HCL_STORE(P_DT, p, p_off + i, pv);
#endif

// SGD: a = momentum, b = dampening, flags bit 0 = nesterov; s0 = momentum buffer (momentum != 0).
// PyTorch: d = g + wd p; buf = d on the first step, else momentum buf + (1 - dampening) d;
// d = nesterov ? d + momentum buf : buf; p -= lr d.
kernel void sgd_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    float d = wd != 0.0f ? fma(wd, pv, gr) : gr;
    if (a != 0.0f) {
        float buf;
        if (as_uint(st[AMP_STEP]) == 1u) buf = d;
        else buf = fma(a, s0[s0_off + i], (1.0f - b) * d);
        s0[s0_off + i] = buf;
        d = (flags & 1) ? fma(a, buf, d) : buf;
    }
    pv = fma(-lr, d, pv);
    OPTIM_END
}

// Adam / AdamW: a = beta1, b = beta2, c = eps, flags bit 0 = decoupled weight decay (AdamW);
// s0 = exp_avg, s1 = exp_avg_sq. PyTorch: (AdamW) p *= 1 - lr wd, (Adam) g += wd p;
// m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
// p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
kernel void adam_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (wd != 0.0f) {
        if (flags & 1) pv *= 1.0f - lr * wd;
        else gr = fma(wd, pv, gr);
    }
    float m = s0[s0_off + i], v = s1[s1_off + i];
    m = fma(1.0f - a, gr - m, m);
    v = fma(b, v, (1.0f - b) * gr * gr);
    s0[s0_off + i] = m;
    s1[s1_off + i] = v;
    float denom = sqrt(v) / sqrt(st[AMP_BC2]) + c;
    pv = fma(-(lr / st[AMP_BC1]), m / denom, pv);
    OPTIM_END
}

// RMSProp: a = alpha, b = eps, c = momentum, flags bit 0 = centered; s0 = square_avg,
// s1 = momentum_buffer (c > 0), s2 = grad_avg (centered). PyTorch: g += wd p;
// sq = alpha sq + (1 - alpha) g^2; centered: ga = lerp(ga, g, 1 - alpha), avg = sqrt(sq - ga^2)
// (clamped at 0 against rounding) else sqrt(sq); avg += eps; momentum: buf = c buf + g / avg,
// p -= lr buf; else p -= lr g / avg.
kernel void rmsprop_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (wd != 0.0f) gr = fma(wd, pv, gr);
    float sq = fma(a, s0[s0_off + i], (1.0f - a) * gr * gr);
    s0[s0_off + i] = sq;
    float avg;
    if (flags & 1) {
        float ga = s2[s2_off + i];
        ga = fma(1.0f - a, gr - ga, ga);
        s2[s2_off + i] = ga;
        avg = sqrt(fmax(fma(-ga, ga, sq), 0.0f));
    } else {
        avg = sqrt(sq);
    }
    avg += b;
    if (c > 0.0f) {
        float buf = fma(c, s1[s1_off + i], gr / avg);
        s1[s1_off + i] = buf;
        pv = fma(-lr, buf, pv);
    } else {
        pv = fma(-lr, gr / avg, pv);
    }
    OPTIM_END
}

// AdaGrad: c = eps; s0 = sum. PyTorch: g += wd p; clr = lr / (1 + (step - 1) lr_decay);
// sum += g^2; p -= clr g / (sqrt(sum) + eps).
kernel void adagrad_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (wd != 0.0f) gr = fma(wd, pv, gr);
    float sum = fma(gr, gr, s0[s0_off + i]);
    s0[s0_off + i] = sum;
    float clr = lr * st[AMP_CLR];
    pv = fma(-clr, gr / (sqrt(sum) + c), pv);
    OPTIM_END
}
