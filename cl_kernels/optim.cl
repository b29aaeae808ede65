// Mixed-precision training kernels over whole parameter arenas: the fused unscale + non-finite
// check + sum of squares pass, the one-work-item finalize (flag, global norm, clip factor, loss
// scaler update, step counter), and the fused optimizers (SGD, Adam/AdamW, RMSProp, AdaGrad).
// Built with -DG_DT= (gradient), -DP_DT= (master: f32, or f16 under pure_f16), -DW_DT= (working
// copy), -DHAS_WORK=0|1 (a working copy separate from the master exists), -DS_DT=f32|bf16
// (optimizer moments) and -DS_SR=0|1 (BF16 moments stored with stochastic rounding, else RNE).
// An optional U8 mask (0 = pruned) pins masters, working copies and moments to exactly 0.
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
#ifndef S_DT
#define S_DT f32
#endif
#ifndef S_SR
#define S_SR 0
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

// 8 elements from p[i] as a float8 (cnt < 8 at the tail: lanes past cnt are 0) and the store
// back of the first cnt lanes: the optimizers run on float8 (vector loads on any device, and
// PoCL's CPU code vectorises), one code path for full chunks and the tail.
#define AMP_VEC_IO(dt)                                                                              \
    inline float8 HCL_CAT(amp_ld_, dt)(const global HCL_T(dt) *p, size_t i, uint cnt) {            \
        if (cnt >= 8u) return HCL_LOAD8(dt, p, i);                                                  \
        float t[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};                              \
        for (uint k = 0; k < cnt; k++) t[k] = HCL_LOAD(dt, p, i + k);                               \
        return vload8(0, t);                                                                        \
    }                                                                                               \
    inline void HCL_CAT(amp_st_, dt)(global HCL_T(dt) *p, size_t i, uint cnt, float8 v) {          \
        if (cnt >= 8u) {                                                                            \
            HCL_STORE8(dt, p, i, v);                                                                \
            return;                                                                                 \
        }                                                                                           \
        float t[8];                                                                                 \
        vstore8(v, 0, t);                                                                           \
        for (uint k = 0; k < cnt; k++) HCL_STORE(dt, p, i + k, t[k]);                               \
    }
AMP_VEC_IO(f32)
AMP_VEC_IO(f16)
AMP_VEC_IO(bf16)
#define AMP_LD(dt, p, i, cnt) HCL_CAT(amp_ld_, dt)((p), (i), (cnt))
#define AMP_ST(dt, p, i, cnt, v) HCL_CAT(amp_st_, dt)((p), (i), (cnt), (v))

// Mask lanes for the 8 elements at m[i] (cnt < 8 at the tail): -1 = kept (m != 0), 0 = pruned;
// all kept without a mask (has_mask 0).
// Lane by lane at the tail, no private array: Mesa 22's rusticl crashed compiling a uchar[8]
// written through vstore8 and read back through vload8.
inline int8 amp_keep8(const global uchar *m, size_t i, uint cnt, int has_mask) {
    if (!has_mask) return (int8)(-1);
    uchar8 t = (uchar8)(1);
    if (cnt >= 8u) {
        t = vload8(0, m + i);
    } else {
        t.s0 = m[i];
        if (cnt > 1u) t.s1 = m[i + 1];
        if (cnt > 2u) t.s2 = m[i + 2];
        if (cnt > 3u) t.s3 = m[i + 3];
        if (cnt > 4u) t.s4 = m[i + 4];
        if (cnt > 5u) t.s5 = m[i + 5];
        if (cnt > 6u) t.s6 = m[i + 6];
    }
    return convert_int8(t != (uchar8)(0));
}

#if S_SR
// Stochastic rounding of the BF16 moments. Philox4x32-10 (common.h, as random.cl) with
// counter (lo32(chunk), hi32(chunk), step, slot) and key (lo32(seed), hi32(seed)): chunk = arena
// element / 8, step = the device step counter of this update, slot = the state (0..2). Lane k of
// the chunk takes 16 bits of word k / 2 (the low half for even k, the high half for odd k); the
// stored value is (bits(x) + r) >> 16, i.e. x rounded away from zero with probability
// (x's 16 dropped bits) / 2^16: unbiased. NaN stays NaN (quiet), +-inf stays inf.
inline ushort8 optim_sr_bf16(float8 v, ulong chunk, uint step, uint slot, ulong seed) {
    uint4 w = philox4x32_10((uint4)((uint)chunk, (uint)(chunk >> 32), step, slot), (uint2)((uint)seed, (uint)(seed >> 32)));
    uint8 r = (uint8)(w.x & 0xffffu, w.x >> 16, w.y & 0xffffu, w.y >> 16, w.z & 0xffffu, w.z >> 16, w.w & 0xffffu, w.w >> 16);
    uint8 x = as_uint8(v);
    uint8 h = x >> 16;
    uint8 nan = select(h, h | 0x40u, (h & 0x7fu) == (uint8)0u);
    return convert_ushort8(select((x + r) >> 16, nan, (x & 0x7fffffffu) > (uint8)0x7f800000u));
}

inline void optim_st_bits(global ushort *p, size_t i, uint cnt, ushort8 b) {
    if (cnt >= 8u) {
        vstore8(b, 0, p + i);
        return;
    }
    ushort t[8];
    vstore8(b, 0, t);
    for (uint k = 0; k < cnt; k++) p[i + k] = t[k];
}
#endif

// g (n) G_DT scaled gradients; st amp state; part (2 * groups) f32: per group the sum of squares
// of g / scale and a non-finite flag (0 or 1). With G work-items and K = ceil(chunks / G), item j
// visits the 8-element chunks j, j + G, ..., (blocked = 0: coalesced, for GPUs) or j K ... j K +
// K - 1 (blocked = 1: contiguous, for CPUs whose work-group runs item after item), in order, sums
// its lanes in a fixed order, then the group sums its items in a fixed tree: deterministic for a
// given n and launch shape. With a mask (has_mask), pruned elements' gradients count as 0 (no
// flag, not in the norm): they never reach the update.
kernel void unscale_check(const global HCL_T(G_DT) *g, ulong g_off, const global uchar *mk, ulong mk_off, int has_mask,
                          const global float *st, global float *part, ulong n, int blocked, local float *ssum,
                          local float *sbad) {
    size_t lid = get_local_id(0), lsz = get_local_size(0);
    size_t items = get_global_size(0), chunks = (n + 7) / 8, per = (chunks + items - 1) / items;
    size_t first = blocked ? get_global_id(0) * per : get_global_id(0), step = blocked ? 1 : items;
    float inv = 1.0f / st[AMP_SCALE];
    float8 acc = (float8)(0.0f);
    int8 bad8 = (int8)(0);
    for (size_t k = 0, c = first; k < per && c < chunks; k++, c += step) {
        size_t i = c * 8;
        uint cnt = (uint)min((ulong)8, n - i);
        float8 x = AMP_LD(G_DT, g, g_off + i, cnt);
        x = select((float8)(0.0f), x, amp_keep8(mk, mk_off + i, cnt, has_mask));
        bad8 |= isnan(x) | isinf(x);
        float8 u = x * inv;
        acc = fma(u, u, acc);
    }
    float4 a4 = acc.lo + acc.hi;
    float2 a2 = a4.lo + a4.hi;
    ssum[lid] = a2.x + a2.y;
    sbad[lid] = any(bad8) ? 1.0f : 0.0f;
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
// HAS_WORK), g (n) G_DT scaled gradient, s0..s2 (n) S_DT states (unused ones may be any buffer),
// mk (n) u8 mask when has_mask (0 = pruned: master, working copy and states written as 0), seed
// (stochastic rounding), st amp state, lr, weight decay and three hyper-parameters a, b, c, flags
// bits. Each work-item updates 8 consecutive elements (fewer at the tail); every branch is uniform
// across the launch. States are loaded as float and stored in S_DT (RNE, or stochastic: S_SR).
#define OPTIM_ARGS                                                                                         \
    global HCL_T(P_DT) *p, ulong p_off, global HCL_T(W_DT) *w, ulong w_off, const global HCL_T(G_DT) *g,  \
        ulong g_off, global HCL_T(S_DT) *s0, ulong s0_off, global HCL_T(S_DT) *s1, ulong s1_off,           \
        global HCL_T(S_DT) *s2, ulong s2_off, const global uchar *mk, ulong mk_off, int has_mask, ulong seed, \
        const global float *st, float lr, float wd, float a, float b, float c, int flags, ulong n

// Skips everything on a flagged step; loads the unscaled, clipped gradient and the master.
#define OPTIM_BEGIN                                                   \
    size_t i = get_global_id(0) * 8;                                  \
    if (i >= n) return;                                               \
    if (as_uint(st[AMP_FOUND_INF]) != 0u) return;                     \
    uint cnt = (uint)min((ulong)8, n - i);                            \
    float8 gr = AMP_LD(G_DT, g, g_off + i, cnt) * st[AMP_GSCALE];     \
    float8 pv = AMP_LD(P_DT, p, p_off + i, cnt);                      \
    int8 keep = amp_keep8(mk, mk_off + i, cnt, has_mask);             \
    uint step_now = as_uint(st[AMP_STEP]);                            \
    (void)step_now;                                                   \
    (void)seed;

#define S_LD(s) AMP_LD(S_DT, s, s##_off + i, cnt)
#if S_SR
#define S_ST(s, slot, v) \
    optim_st_bits(s, s##_off + i, cnt, optim_sr_bf16(select((float8)(0.0f), (v), keep), i / 8, step_now, (slot), seed))
#else
#define S_ST(s, slot, v) AMP_ST(S_DT, s, s##_off + i, cnt, select((float8)(0.0f), (v), keep))
#endif

#if HAS_WORK
#define OPTIM_END                                      \
    pv = select((float8)(0.0f), pv, keep);             \
    AMP_ST(P_DT, p, p_off + i, cnt, pv);               \
    AMP_ST(W_DT, w, w_off + i, cnt, pv);
#else
#define OPTIM_END                                      \
    pv = select((float8)(0.0f), pv, keep);             \
    AMP_ST(P_DT, p, p_off + i, cnt, pv);
#endif

// SGD: a = momentum, b = dampening, flags bit 0 = nesterov; s0 = momentum buffer (momentum != 0).
// PyTorch: d = g + wd p; buf = d on the first step, else momentum buf + (1 - dampening) d;
// d = nesterov ? d + momentum buf : buf; p -= lr d.
kernel void sgd_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    float8 d = wd != 0.0f ? fma((float8)(wd), pv, gr) : gr;
    if (a != 0.0f) {
        float8 buf;
        if (as_uint(st[AMP_STEP]) == 1u) buf = d;
        else buf = fma((float8)(a), S_LD(s0), (1.0f - b) * d);
        S_ST(s0, 0, buf);
        d = (flags & 1) ? fma((float8)(a), buf, d) : buf;
    }
    pv = fma((float8)(-lr), d, pv);
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
        else gr = fma((float8)(wd), pv, gr);
    }
    float8 m = S_LD(s0), v = S_LD(s1);
    m = fma((float8)(1.0f - a), gr - m, m);
    v = fma((float8)(b), v, (1.0f - b) * gr * gr);
    S_ST(s0, 0, m);
    S_ST(s1, 1, v);
    float8 denom = sqrt(v) / sqrt(st[AMP_BC2]) + c;
    pv = fma((float8)(-(lr / st[AMP_BC1])), m / denom, pv);
    OPTIM_END
}

// RMSProp: a = alpha, b = eps, c = momentum, flags bit 0 = centered; s0 = square_avg,
// s1 = momentum_buffer (c > 0), s2 = grad_avg (centered). PyTorch: g += wd p;
// sq = alpha sq + (1 - alpha) g^2; centered: ga = lerp(ga, g, 1 - alpha), avg = sqrt(sq - ga^2)
// (clamped at 0 against rounding) else sqrt(sq); avg += eps; momentum: buf = c buf + g / avg,
// p -= lr buf; else p -= lr g / avg.
kernel void rmsprop_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (wd != 0.0f) gr = fma((float8)(wd), pv, gr);
    float8 sq = fma((float8)(a), S_LD(s0), (1.0f - a) * gr * gr);
    S_ST(s0, 0, sq);
    float8 avg;
    if (flags & 1) {
        float8 ga = S_LD(s2);
        ga = fma((float8)(1.0f - a), gr - ga, ga);
        S_ST(s2, 2, ga);
        avg = sqrt(fmax(fma(-ga, ga, sq), 0.0f));
    } else {
        avg = sqrt(sq);
    }
    avg += b;
    if (c > 0.0f) {
        float8 buf = fma((float8)(c), S_LD(s1), gr / avg);
        S_ST(s1, 1, buf);
        pv = fma((float8)(-lr), buf, pv);
    } else {
        pv = fma((float8)(-lr), gr / avg, pv);
    }
    OPTIM_END
}

// AdaGrad: c = eps; s0 = sum. PyTorch: g += wd p; clr = lr / (1 + (step - 1) lr_decay);
// sum += g^2; p -= clr g / (sqrt(sum) + eps).
kernel void adagrad_step(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (wd != 0.0f) gr = fma((float8)(wd), pv, gr);
    float8 sum = fma(gr, gr, S_LD(s0));
    S_ST(s0, 0, sum);
    float clr = lr * st[AMP_CLR];
    pv = fma((float8)(-clr), gr / (sqrt(sum) + c), pv);
    OPTIM_END
}

// Pins the pruned elements (mk[i] == 0) of the master, the working copy (HAS_WORK) and the states
// present (bits 0..2 of slots) to exactly 0; the rest is untouched. Queued by hcl_optimizer_set_mask.
kernel void mask_apply(global HCL_T(P_DT) *p, ulong p_off, global HCL_T(W_DT) *w, ulong w_off, global HCL_T(S_DT) *s0,
                       ulong s0_off, global HCL_T(S_DT) *s1, ulong s1_off, global HCL_T(S_DT) *s2, ulong s2_off,
                       const global uchar *mk, ulong mk_off, int slots, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    if (mk[mk_off + i] != 0) return;
    HCL_STORE(P_DT, p, p_off + i, 0.0f);
#if HAS_WORK
    HCL_STORE(W_DT, w, w_off + i, 0.0f);
#endif
    if (slots & 1) HCL_STORE(S_DT, s0, s0_off + i, 0.0f);
    if (slots & 2) HCL_STORE(S_DT, s1, s1_off + i, 0.0f);
    if (slots & 4) HCL_STORE(S_DT, s2, s2_off + i, 0.0f);
}
