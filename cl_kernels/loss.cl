// Losses: fused softmax cross-entropy (integer labels, label smoothing), MSE and BCE with
// logits, and knowledge distillation (temperature-softened KL to a teacher plus hard-label CE). Everything in float; the mean over the batch is reduced deterministically: each
// work-group sums its share in a fixed order (local tree), writing one partial per group, and
// one work-group sums the partials in order (loss_reduce). With one group the first kernel
// writes the loss itself. Gradients are d(loss)/d(input) times the optional device grad scale.
// Built with -DX_DT= (logits / pred), -DT_DT= (targets / teacher logits), -DG_DT= (gradient):
// f32/f16/bf16.
#include "common.h"

#ifndef X_DT
#define X_DT f32
#endif
#ifndef T_DT
#define T_DT f32
#endif
#ifndef G_DT
#define G_DT f32
#endif

#define LOSS_MSE 0
#define LOSS_BCE 1

// The factor every gradient element is multiplied by: grad_scale / count.
inline float loss_grad_factor(const global float *scale, ulong scale_off, int has_scale, float denom) {
    return (has_scale ? scale[scale_off] : 1.0f) / denom;
}

// Work-group result: out[out_off + group] = sum (partial) or out[out_off] = sum / denom (final).
inline void loss_group_store(global float *out, ulong out_off, int final_out, float denom, float sum) {
    if (get_local_id(0) != 0) return;
    if (final_out) out[out_off] = sum / denom;
    else out[out_off + get_group_id(0)] = sum;
}

// loss (1) f32 = sum of partial (n) f32 / denom, in a fixed order; one work-group (local = L, a
// power of two, scratch L floats).
kernel void loss_reduce(global float *loss, ulong loss_off, const global float *partial, ulong partial_off, ulong n,
                        float denom, local float *scratch) {
    size_t lid = get_local_id(0), L = get_local_size(0);
    float s = 0.0f;
    for (size_t i = lid; i < n; i += L) s += partial[partial_off + i];
    s = hcl_wg_sum(scratch, s);
    if (lid == 0) loss[loss_off] = s / denom;
}

// Cross-entropy of one row from its max m, sum of exp(x - m) s and sum of (m - x) d, with target
// (1 - ls) onehot(label) + ls / C:  loss = log s + (1 - ls)(m - x_label) + ls (d / C).
inline float ce_row_loss(float m, float s, float d, float x_label, float ls, float C) {
    float l = log(s) + (1.0f - ls) * (m - x_label);
    if (ls != 0.0f) l += ls * (d / C);
    return l;
}

// Softmax cross-entropy, one work-item per row (short rows). logits (N,C) X_DT, labels (N) i32,
// dlogits (N,C) G_DT written when has_grad, grad scale (1) f32 when has_scale. Work-item gid
// handles rows gid, gid + global size, ...; out gets one partial per group (or the loss).
kernel void ce_fwd_bwd_row(global float *out, ulong out_off, int final_out,
                           global HCL_T(G_DT) *g, ulong g_off, int has_grad,
                           const global HCL_T(X_DT) *x, ulong x_off, const global int *labels, ulong labels_off,
                           const global float *scale, ulong scale_off, int has_scale,
                           ulong N, ulong C, float ls, float denom, local float *scratch) {
    size_t gsz = get_global_size(0);
    float gf = loss_grad_factor(scale, scale_off, has_scale, denom);
    float on = 1.0f - ls, off = ls / (float)C;
    float acc = 0.0f;
    for (size_t r = get_global_id(0); r < N; r += gsz) {
        size_t xb = x_off + r * C, gb = g_off + r * C;
        int lab = labels[labels_off + r];
        int valid = lab >= 0 && (ulong)lab < C;
        float m = -INFINITY;
        for (size_t c = 0; c < C; c++) m = fmax(m, HCL_LOAD(X_DT, x, xb + c));
        float s = 0.0f, d = 0.0f;
        for (size_t c = 0; c < C; c++) {
            float v = HCL_LOAD(X_DT, x, xb + c);
            s += hcl_exp(v - m);
            d += m - v;
        }
        acc += valid ? ce_row_loss(m, s, d, HCL_LOAD(X_DT, x, xb + (size_t)lab), ls, (float)C) : NAN;
        if (has_grad) {
            float inv = 1.0f / s;
            for (size_t c = 0; c < C; c++) {
                float p = hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m) * inv;
                float t = (valid && c == (size_t)lab) ? on + off : off;
                HCL_STORE(G_DT, g, gb + c, valid ? (p - t) * gf : NAN);
            }
        }
    }
    acc = hcl_wg_sum(scratch, acc);
    loss_group_store(out, out_off, final_out, denom, acc);
}

// Softmax cross-entropy, one work-group per row (long rows): group g handles rows g, g + groups,
// ... and work-item 0 adds their losses in row order. Arguments as ce_fwd_bwd_row; local = L (a
// power of two), scratch 2 L floats.
kernel void ce_fwd_bwd_wg(global float *out, ulong out_off, int final_out,
                          global HCL_T(G_DT) *g, ulong g_off, int has_grad,
                          const global HCL_T(X_DT) *x, ulong x_off, const global int *labels, ulong labels_off,
                          const global float *scale, ulong scale_off, int has_scale,
                          ulong N, ulong C, float ls, float denom, local float *scratch) {
    size_t lid = get_local_id(0), L = get_local_size(0), groups = get_num_groups(0);
    float gf = loss_grad_factor(scale, scale_off, has_scale, denom);
    float on = 1.0f - ls, off = ls / (float)C;
    float acc = 0.0f;
    for (size_t r = get_group_id(0); r < N; r += groups) {
        size_t xb = x_off + r * C, gb = g_off + r * C;
        int lab = labels[labels_off + r];
        int valid = lab >= 0 && (ulong)lab < C;
        float m = -INFINITY;
        for (size_t c = lid; c < C; c += L) m = fmax(m, HCL_LOAD(X_DT, x, xb + c));
        m = hcl_wg_max(scratch, m);
        float s = 0.0f, d = 0.0f;
        for (size_t c = lid; c < C; c += L) {
            float v = HCL_LOAD(X_DT, x, xb + c);
            s += hcl_exp(v - m);
            d += m - v;
        }
        s = hcl_wg_sum(scratch, s);
        d = ls != 0.0f ? hcl_wg_sum(scratch + L, d) : 0.0f;  // ls is uniform: same barriers everywhere
        if (lid == 0) acc += valid ? ce_row_loss(m, s, d, HCL_LOAD(X_DT, x, xb + (size_t)lab), ls, (float)C) : NAN;
        if (has_grad) {
            float inv = 1.0f / s;
            for (size_t c = lid; c < C; c += L) {
                float p = hcl_exp(HCL_LOAD(X_DT, x, xb + c) - m) * inv;
                float t = (valid && c == (size_t)lab) ? on + off : off;
                HCL_STORE(G_DT, g, gb + c, valid ? (p - t) * gf : NAN);
            }
        }
    }
    loss_group_store(out, out_off, final_out, denom, acc);
}

// Elementwise losses over n elements: pred (n) X_DT, target (n) T_DT, dpred (n) G_DT written
// when has_grad. kind LOSS_MSE: (p - t)^2, grad 2 (p - t); LOSS_BCE (p = logit): max(p, 0) - p t
// + log1p(exp(-|p|)), grad sigmoid(p) - t. Work-item gid handles gid, gid + global size, ...;
// out gets one partial per group (or the loss). local = L (power of two), scratch L floats.
kernel void ew_loss(global float *out, ulong out_off, int final_out,
                    global HCL_T(G_DT) *g, ulong g_off, int has_grad,
                    const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(T_DT) *t, ulong t_off,
                    const global float *scale, ulong scale_off, int has_scale,
                    ulong n, int kind, float denom, local float *scratch) {
    size_t gsz = get_global_size(0);
    float gf = loss_grad_factor(scale, scale_off, has_scale, denom);
    float acc = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += gsz) {
        float p = HCL_LOAD(X_DT, x, x_off + i), tv = HCL_LOAD(T_DT, t, t_off + i), l, gr;
        if (kind == LOSS_MSE) {
            float d = p - tv;
            l = d * d;
            gr = 2.0f * d;
        } else {
            l = fmax(p, 0.0f) - p * tv + log1p(hcl_exp(-fabs(p)));
            gr = hcl_sigmoid(p) - tv;
        }
        acc += l;
        if (has_grad) HCL_STORE(G_DT, g, g_off + i, gr * gf);
    }
    acc = hcl_wg_sum(scratch, acc);
    loss_group_store(out, out_off, final_out, denom, acc);
}

// Knowledge distillation of one row, from (raw logits s of the student, t of the teacher,
// temperature T): ms = max s, mt = max t, zs = sum exp((s - ms)/T), zt = sum exp((t - mt)/T),
// a = sum exp((t - mt)/T) (t - s), z1 = sum exp(s - ms), s_label = s[label]. With
// p = softmax(t/T), q = softmax(s/T): KL(p || q) = sum p (t - s)/T - (mt - ms)/T + log zs - log zt
// (exactly 0 when t = s). loss = alpha T^2 KL + (1 - alpha) CE (hard = 1 - alpha != 0; an
// out-of-range label makes it NaN). A zero weight skips its term.
inline float distill_row_loss(float ms, float mt, float zs, float zt, float a, float z1, float s_label, int valid,
                              float T, float alpha, int hard) {
    float l = 0.0f;
    if (alpha != 0.0f) l = alpha * T * T * (a / (zt * T) - (mt - ms) / T + (log(zs) - log(zt)));
    if (hard) l += (1.0f - alpha) * (valid ? log(z1) + ms - s_label : NAN);
    return l;
}

// d(loss)/ds of one element (before the grad factor): alpha T (q - p) + (1 - alpha)(softmax(s) - onehot).
inline float distill_grad(float s, float t, float ms, float mt, float zs, float zt, float z1, int is_label, int valid,
                          float invT, float T, float alpha, int hard) {
    float g = 0.0f;
    if (alpha != 0.0f) g = alpha * T * (hcl_exp((s - ms) * invT) / zs - hcl_exp((t - mt) * invT) / zt);
    if (hard) g += (1.0f - alpha) * (valid ? hcl_exp(s - ms) / z1 - (is_label ? 1.0f : 0.0f) : NAN);
    return g;
}

// Distillation loss, one work-item per row (short rows). logits (N,C) X_DT, teacher (N,C) T_DT,
// labels (N) i32 (read when hard), dlogits (N,C) G_DT written when has_grad, grad scale (1) f32
// when has_scale. Work-item gid handles rows gid, gid + global size, ...; out gets one partial
// per group (or the loss). local = L (power of two), scratch L floats.
kernel void distill_row(global float *out, ulong out_off, int final_out,
                        global HCL_T(G_DT) *g, ulong g_off, int has_grad,
                        const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(T_DT) *t, ulong t_off,
                        const global int *labels, ulong labels_off, int hard,
                        const global float *scale, ulong scale_off, int has_scale,
                        ulong N, ulong C, float T, float alpha, float denom, local float *scratch) {
    size_t gsz = get_global_size(0);
    float gf = loss_grad_factor(scale, scale_off, has_scale, denom), invT = 1.0f / T;
    float acc = 0.0f;
    for (size_t r = get_global_id(0); r < N; r += gsz) {
        size_t xb = x_off + r * C, tb = t_off + r * C, gb = g_off + r * C;
        int lab = hard ? labels[labels_off + r] : 0;
        int valid = lab >= 0 && (ulong)lab < C;
        float ms = -INFINITY, mt = -INFINITY;
        for (size_t c = 0; c < C; c++) {
            ms = fmax(ms, HCL_LOAD(X_DT, x, xb + c));
            mt = fmax(mt, HCL_LOAD(T_DT, t, tb + c));
        }
        float zs = 0.0f, zt = 0.0f, a = 0.0f, z1 = 0.0f;
        for (size_t c = 0; c < C; c++) {
            float sv = HCL_LOAD(X_DT, x, xb + c), tv = HCL_LOAD(T_DT, t, tb + c);
            float et = hcl_exp((tv - mt) * invT);
            zs += hcl_exp((sv - ms) * invT);
            zt += et;
            a += et * (tv - sv);
            if (hard) z1 += hcl_exp(sv - ms);
        }
        float sl = hard && valid ? HCL_LOAD(X_DT, x, xb + (size_t)lab) : 0.0f;
        acc += distill_row_loss(ms, mt, zs, zt, a, z1, sl, valid, T, alpha, hard);
        if (has_grad)
            for (size_t c = 0; c < C; c++) {
                float sv = HCL_LOAD(X_DT, x, xb + c), tv = HCL_LOAD(T_DT, t, tb + c);
                HCL_STORE(G_DT, g, gb + c,
                          distill_grad(sv, tv, ms, mt, zs, zt, z1, c == (size_t)lab, valid, invT, T, alpha, hard) * gf);
            }
    }
    acc = hcl_wg_sum(scratch, acc);
    loss_group_store(out, out_off, final_out, denom, acc);
}

// Distillation loss, one work-group per row (long rows): group g handles rows g, g + groups, ...
// and work-item 0 adds their losses in row order. Arguments as distill_row; scratch L floats.
kernel void distill_wg(global float *out, ulong out_off, int final_out,
                       global HCL_T(G_DT) *g, ulong g_off, int has_grad,
                       const global HCL_T(X_DT) *x, ulong x_off, const global HCL_T(T_DT) *t, ulong t_off,
                       const global int *labels, ulong labels_off, int hard,
                       const global float *scale, ulong scale_off, int has_scale,
                       ulong N, ulong C, float T, float alpha, float denom, local float *scratch) {
    size_t lid = get_local_id(0), L = get_local_size(0), groups = get_num_groups(0);
    float gf = loss_grad_factor(scale, scale_off, has_scale, denom), invT = 1.0f / T;
    float acc = 0.0f;
    for (size_t r = get_group_id(0); r < N; r += groups) {
        size_t xb = x_off + r * C, tb = t_off + r * C, gb = g_off + r * C;
        int lab = hard ? labels[labels_off + r] : 0;
        int valid = lab >= 0 && (ulong)lab < C;
        float ms = -INFINITY, mt = -INFINITY;
        for (size_t c = lid; c < C; c += L) {
            ms = fmax(ms, HCL_LOAD(X_DT, x, xb + c));
            mt = fmax(mt, HCL_LOAD(T_DT, t, tb + c));
        }
        ms = hcl_wg_max(scratch, ms);
        mt = hcl_wg_max(scratch, mt);
        float zs = 0.0f, zt = 0.0f, a = 0.0f, z1 = 0.0f;
        for (size_t c = lid; c < C; c += L) {
            float sv = HCL_LOAD(X_DT, x, xb + c), tv = HCL_LOAD(T_DT, t, tb + c);
            float et = hcl_exp((tv - mt) * invT);
            zs += hcl_exp((sv - ms) * invT);
            zt += et;
            a += et * (tv - sv);
            if (hard) z1 += hcl_exp(sv - ms);
        }
        zs = hcl_wg_sum(scratch, zs);
        zt = hcl_wg_sum(scratch, zt);
        a = hcl_wg_sum(scratch, a);
        if (hard) z1 = hcl_wg_sum(scratch, z1); /* hard is uniform: same barriers everywhere */
        if (lid == 0) {
            float sl = hard && valid ? HCL_LOAD(X_DT, x, xb + (size_t)lab) : 0.0f;
            acc += distill_row_loss(ms, mt, zs, zt, a, z1, sl, valid, T, alpha, hard);
        }
        if (has_grad)
            for (size_t c = lid; c < C; c += L) {
                float sv = HCL_LOAD(X_DT, x, xb + c), tv = HCL_LOAD(T_DT, t, tb + c);
                HCL_STORE(G_DT, g, gb + c,
                          distill_grad(sv, tv, ms, mt, zs, zt, z1, c == (size_t)lab, valid, invT, T, alpha, hard) * gf);
            }
    }
    loss_group_store(out, out_off, final_out, denom, acc);
}
