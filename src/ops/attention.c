/* Scaled dot-product attention launchers (attention.cl): validation, the kernel variant by device
 * (CPUs: 16 rows per work-item as vector lanes; GPUs: one row per work-item, tiles shared in local
 * memory), the forward in one launch, the backward in three (delta, dq, dk/dv) with delta, the
 * only scratch, B*H*Tq floats in the context workspace. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "ops/ops_internal.h"

void hcl_attention_desc_init(hcl_attention_desc *desc) {
    if (!desc) return;
    memset(desc, 0, sizeof *desc);
}

/* Kernel shape (see attention.cl): rows (or keys) per work-item as vector lanes, work-group size,
 * keys per K/V tile (forward, dq), queries per Q/dout tile (dk/dv). */
typedef struct att_cfg { int vw, lq, bk, bq; } att_cfg;

/* Test hook: 0 = by device; 1 = the CPU variant (16 lanes, one work-item per group); 2 = the GPU
 * variant (one row per work-item, 64 per group); 3 = 8 lanes and 4 work-items per group (vector
 * lanes with tiles shared by several work-items). Any variant runs on any device. */
static int g_variant;
void hcl_attention_set_variant_for_tests(int variant);
void hcl_attention_set_variant_for_tests(int variant) { g_variant = variant >= 0 && variant <= 3 ? variant : 0; }

static hcl_status att_config(hcl_context *ctx, int D, int bwd, att_cfg *c) {
    int variant = g_variant ? g_variant : ctx->info.is_cpu ? 1 : 2;
    if (variant == 1) {
        /* 16 lanes: one AVX-512 register, two AVX2 ones. Tiles of 16 keys keep the 16 score
         * vectors in registers (forward); the backward holds two sets (scores and dout.v), so 8. */
        *c = (att_cfg){16, 1, bwd ? 8 : 16, 8};
    } else if (variant == 3) {
        *c = (att_cfg){8, 4, 8, 8};
    } else {
        size_t lq = 64, max = ctx->info.max_work_group_size ? ctx->info.max_work_group_size : 64;
        while (lq > max) lq /= 2;
        /* local memory: two tiles of bk (bq) rows of D floats, at most half the device's */
        int bk = 32;
        size_t local = ctx->info.local_mem_bytes ? (size_t)ctx->info.local_mem_bytes : 32768;
        while (bk > 4 && (size_t)2 * bk * D * sizeof(float) + 2 * bk * sizeof(float) > local / 2) bk /= 2;
        *c = (att_cfg){1, (int)lq, bk, bk};
    }
    return HCL_OK;
}

static void att_options(char *opts, size_t len, int D, const att_cfg *c, int bwd) {
    size_t n = strlen(opts);
    snprintf(opts + n, len - n, " -DATT_BWD=%d -DATT_D=%d -DATT_VW=%d -DATT_LQ=%d -DATT_BK=%d -DATT_BQ=%d", bwd, D, c->vw, c->lq,
             c->bk, c->bq);
}

/* Sizes read from q (B,Tq,H,D) and k (B,Tk,H,D). */
typedef struct att_dims { int B, Tq, Tk, H, D; } att_dims;

static hcl_status check_4d(hcl_context *ctx, const hcl_tensor *t, const char *name) {
    HCL_TRY(hcl_check_float(ctx, t, name));
    if (t->rank != 4) return hcl_error(ctx, HCL_ERR_SHAPE, "%s has rank %d; it must be 4 (B,T,H,D)", name, t->rank);
    return HCL_OK;
}

static hcl_status check_dims(hcl_context *ctx, const hcl_tensor *t, const char *name, int64_t d0, int64_t d1, int64_t d2,
                             int64_t d3) {
    if (t->shape[0] != d0 || t->shape[1] != d1 || t->shape[2] != d2 || t->shape[3] != d3)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s is (%lld,%lld,%lld,%lld); it must be (%lld,%lld,%lld,%lld)", name,
                         (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3],
                         (long long)d0, (long long)d1, (long long)d2, (long long)d3);
    return HCL_OK;
}

/* q, k, v, lse, key_lengths and desc: dtypes, ranks, shapes, the head-dim limit and sizes. */
static hcl_status check_common(hcl_context *ctx, const hcl_tensor *lse, const hcl_tensor *q, const hcl_tensor *k,
                               const hcl_tensor *v, const hcl_tensor *key_lengths, const hcl_attention_desc *desc,
                               att_dims *dm) {
    HCL_CHECK_NULL(ctx, desc);
    HCL_TRY(check_4d(ctx, q, "q"));
    HCL_TRY(check_4d(ctx, k, "k"));
    HCL_TRY(check_4d(ctx, v, "v"));
    HCL_TRY(hcl_check_dtype(ctx, lse, HCL_F32, "lse"));
    if (key_lengths) {
        HCL_TRY(hcl_check_dtype(ctx, key_lengths, HCL_I32, "key_lengths"));
        if (key_lengths->rank != 1 || key_lengths->shape[0] != q->shape[0])
            return hcl_error(ctx, HCL_ERR_SHAPE, "key_lengths must be (B) = (%lld)", (long long)q->shape[0]);
    }
    int64_t B = q->shape[0], Tq = q->shape[1], H = q->shape[2], D = q->shape[3], Tk = k->shape[1];
    HCL_TRY(check_dims(ctx, k, "k", B, Tk, H, D));
    HCL_TRY(check_dims(ctx, v, "v", B, Tk, H, D));
    if (lse->rank != 3 || lse->shape[0] != B || lse->shape[1] != H || lse->shape[2] != Tq)
        return hcl_error(ctx, HCL_ERR_SHAPE, "lse must be (B,H,Tq) = (%lld,%lld,%lld) F32", (long long)B, (long long)H,
                         (long long)Tq);
    if (D > HCL_ATTENTION_MAX_D)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "head dim D = %lld exceeds the supported %d", (long long)D,
                         HCL_ATTENTION_MAX_D);
    if (!isfinite(desc->scale))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "scale %g is not finite", (double)desc->scale);
    /* the kernels index rows, keys and heads with int */
    if (Tq > INT_MAX / 2 || Tk > INT_MAX / 2 || B * H > INT_MAX)
        return hcl_error(ctx, HCL_ERR_SHAPE, "attention sizes exceed the kernels' int range (Tq %lld, Tk %lld, B*H %lld)",
                         (long long)Tq, (long long)Tk, (long long)(B * H));
    *dm = (att_dims){(int)B, (int)Tq, (int)Tk, (int)H, (int)D};
    return HCL_OK;
}

static float att_scale(const hcl_attention_desc *desc, int D) {
    return desc->scale != 0.0f ? desc->scale : 1.0f / sqrtf((float)D);
}

/* out must not overlap any of the n inputs. */
static hcl_status check_no_alias_all(hcl_context *ctx, const hcl_tensor *out, const char *on, const hcl_tensor *const *in,
                                     const char *const *names, int n) {
    for (int i = 0; i < n; i++) HCL_TRY(hcl_check_no_alias(ctx, out, on, in[i], names[i]));
    return HCL_OK;
}

static size_t att_groups(int rows, const att_cfg *c) {
    size_t per = (size_t)c->vw * (size_t)c->lq;
    return ((size_t)rows + per - 1) / per;
}

// out (B,Tq,H,D), lse (B,H,Tq) F32 = attention(q (B,Tq,H,D), k, v (B,Tk,H,D)), key_lengths (B) I32 or NULL
hcl_status hcl_attention_forward(hcl_context *ctx, hcl_tensor *out, hcl_tensor *lse, const hcl_tensor *q,
                                 const hcl_tensor *k, const hcl_tensor *v, const hcl_tensor *key_lengths,
                                 const hcl_attention_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(check_4d(ctx, out, "out"));
    att_dims dm;
    HCL_TRY(check_common(ctx, lse, q, k, v, key_lengths, desc, &dm));
    HCL_TRY(check_dims(ctx, out, "out", dm.B, dm.Tq, dm.H, dm.D));
    const hcl_tensor *ins[] = {q, k, v, key_lengths};
    const char *names[] = {"q", "k", "v", "key_lengths"};
    HCL_TRY(check_no_alias_all(ctx, out, "out", ins, names, 4));
    HCL_TRY(check_no_alias_all(ctx, lse, "lse", ins, names, 4));
    HCL_TRY(hcl_check_no_alias(ctx, out, "out", lse, "lse"));

    att_cfg c;
    HCL_TRY(att_config(ctx, dm.D, 0, &c));
    char opts[256];
    hcl_dt_options(opts, sizeof opts, "Q", q->dtype, "K", k->dtype, "V", v->dtype, "O", out->dtype, NULL);
    att_options(opts, sizeof opts, dm.D, &c, 0);
    cl_kernel kern;
    HCL_TRY(hcl_kernel_get(ctx, "attention", opts, "attn_fwd", &kern));
    cl_ulong oo = hcl_off(out), lo = hcl_off(lse), qo = hcl_off(q), ko = hcl_off(k), vo = hcl_off(v);
    cl_ulong klo = key_lengths ? hcl_off(key_lengths) : 0;
    cl_mem klb = key_lengths ? key_lengths->buffer : q->buffer; /* any valid buffer when has_kl is 0 */
    cl_int has_kl = key_lengths != NULL, Tq = dm.Tq, Tk = dm.Tk, H = dm.H, causal = desc->causal != 0;
    cl_float scale = att_scale(desc, dm.D);
    hcl_karg args[] = {HCL_ARG(out->buffer), HCL_ARG(oo), HCL_ARG(lse->buffer), HCL_ARG(lo), HCL_ARG(q->buffer), HCL_ARG(qo),
                       HCL_ARG(k->buffer),   HCL_ARG(ko), HCL_ARG(v->buffer),   HCL_ARG(vo), HCL_ARG(klb),      HCL_ARG(klo),
                       HCL_ARG(has_kl),      HCL_ARG(Tq), HCL_ARG(Tk),          HCL_ARG(H),  HCL_ARG(causal),   HCL_ARG(scale)};
    HCL_TRY(hcl_kernel_set_args(ctx, kern, args, sizeof args / sizeof args[0]));
    size_t global[2] = {att_groups(dm.Tq, &c) * (size_t)c.lq, (size_t)dm.B * (size_t)dm.H}, local[2] = {(size_t)c.lq, 1};
    return hcl_kernel_run(ctx, kern, 2, global, local);
}

// dq (B,Tq,H,D), dk, dv (B,Tk,H,D) from dout, out (B,Tq,H,D), lse (B,H,Tq) F32, q, k, v
hcl_status hcl_attention_backward(hcl_context *ctx, hcl_tensor *dq, hcl_tensor *dk, hcl_tensor *dv,
                                  const hcl_tensor *dout, const hcl_tensor *out, const hcl_tensor *lse,
                                  const hcl_tensor *q, const hcl_tensor *k, const hcl_tensor *v,
                                  const hcl_tensor *key_lengths, const hcl_attention_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(check_4d(ctx, dq, "dq"));
    HCL_TRY(check_4d(ctx, dk, "dk"));
    HCL_TRY(check_4d(ctx, dv, "dv"));
    HCL_TRY(check_4d(ctx, dout, "dout"));
    HCL_TRY(check_4d(ctx, out, "out"));
    att_dims dm;
    HCL_TRY(check_common(ctx, lse, q, k, v, key_lengths, desc, &dm));
    HCL_TRY(check_dims(ctx, dq, "dq", dm.B, dm.Tq, dm.H, dm.D));
    HCL_TRY(check_dims(ctx, dout, "dout", dm.B, dm.Tq, dm.H, dm.D));
    HCL_TRY(check_dims(ctx, out, "out", dm.B, dm.Tq, dm.H, dm.D));
    HCL_TRY(check_dims(ctx, dk, "dk", dm.B, dm.Tk, dm.H, dm.D));
    HCL_TRY(check_dims(ctx, dv, "dv", dm.B, dm.Tk, dm.H, dm.D));
    const hcl_tensor *ins[] = {dout, out, lse, q, k, v, key_lengths};
    const char *names[] = {"dout", "out", "lse", "q", "k", "v", "key_lengths"};
    HCL_TRY(check_no_alias_all(ctx, dq, "dq", ins, names, 7));
    HCL_TRY(check_no_alias_all(ctx, dk, "dk", ins, names, 7));
    HCL_TRY(check_no_alias_all(ctx, dv, "dv", ins, names, 7));
    HCL_TRY(hcl_check_no_alias(ctx, dq, "dq", dk, "dk"));
    HCL_TRY(hcl_check_no_alias(ctx, dq, "dq", dv, "dv"));
    HCL_TRY(hcl_check_no_alias(ctx, dk, "dk", dv, "dv"));

    att_cfg c;
    HCL_TRY(att_config(ctx, dm.D, 1, &c));
    char opts[320];
    hcl_dt_options(opts, sizeof opts, "Q", q->dtype, "K", k->dtype, "V", v->dtype, "O", out->dtype, "DO", dout->dtype, "DQ",
                   dq->dtype, "DK", dk->dtype, "DV", dv->dtype, NULL);
    att_options(opts, sizeof opts, dm.D, &c, 1);
    cl_kernel kdel, kdq, kdkv;
    HCL_TRY(hcl_kernel_get(ctx, "attention", opts, "attn_bwd_delta", &kdel));
    HCL_TRY(hcl_kernel_get(ctx, "attention", opts, "attn_bwd_dq", &kdq));
    HCL_TRY(hcl_kernel_get(ctx, "attention", opts, "attn_bwd_dkdv", &kdkv));
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, (size_t)dm.B * dm.H * dm.Tq * sizeof(float), &ws));

    cl_ulong zero = 0, dqo = hcl_off(dq), dko = hcl_off(dk), dvo = hcl_off(dv), go = hcl_off(dout), oo = hcl_off(out);
    cl_ulong lo = hcl_off(lse), qo = hcl_off(q), ko = hcl_off(k), vo = hcl_off(v);
    cl_ulong klo = key_lengths ? hcl_off(key_lengths) : 0;
    cl_mem klb = key_lengths ? key_lengths->buffer : q->buffer; /* any valid buffer when has_kl is 0 */
    cl_int has_kl = key_lengths != NULL, Tq = dm.Tq, Tk = dm.Tk, H = dm.H, causal = desc->causal != 0;
    cl_float scale = att_scale(desc, dm.D);
    size_t bh = (size_t)dm.B * (size_t)dm.H;

    hcl_karg a0[] = {HCL_ARG(ws), HCL_ARG(zero), HCL_ARG(dout->buffer), HCL_ARG(go), HCL_ARG(out->buffer), HCL_ARG(oo),
                     HCL_ARG(Tq), HCL_ARG(H)};
    HCL_TRY(hcl_kernel_set_args(ctx, kdel, a0, sizeof a0 / sizeof a0[0]));
    size_t dl = 64;
    while (ctx->info.max_work_group_size && dl > ctx->info.max_work_group_size) dl /= 2;
    size_t g0[2] = {(size_t)dm.Tq, bh}, l0[2] = {dl, 1};
    HCL_TRY(hcl_kernel_run(ctx, kdel, 2, g0, l0));

    hcl_karg a1[] = {HCL_ARG(dq->buffer), HCL_ARG(dqo),    HCL_ARG(dout->buffer), HCL_ARG(go), HCL_ARG(lse->buffer),
                     HCL_ARG(lo),         HCL_ARG(ws),     HCL_ARG(zero),         HCL_ARG(q->buffer), HCL_ARG(qo),
                     HCL_ARG(k->buffer),  HCL_ARG(ko),     HCL_ARG(v->buffer),    HCL_ARG(vo), HCL_ARG(klb),
                     HCL_ARG(klo),        HCL_ARG(has_kl), HCL_ARG(Tq),           HCL_ARG(Tk), HCL_ARG(H),
                     HCL_ARG(causal),     HCL_ARG(scale)};
    HCL_TRY(hcl_kernel_set_args(ctx, kdq, a1, sizeof a1 / sizeof a1[0]));
    size_t g1[2] = {att_groups(dm.Tq, &c) * (size_t)c.lq, bh}, l1[2] = {(size_t)c.lq, 1};
    HCL_TRY(hcl_kernel_run(ctx, kdq, 2, g1, l1));

    hcl_karg a2[] = {HCL_ARG(dk->buffer), HCL_ARG(dko),  HCL_ARG(dv->buffer), HCL_ARG(dvo), HCL_ARG(dout->buffer), HCL_ARG(go),
                     HCL_ARG(lse->buffer), HCL_ARG(lo),  HCL_ARG(ws),         HCL_ARG(zero), HCL_ARG(q->buffer),   HCL_ARG(qo),
                     HCL_ARG(k->buffer),  HCL_ARG(ko),   HCL_ARG(v->buffer),  HCL_ARG(vo),   HCL_ARG(klb),         HCL_ARG(klo),
                     HCL_ARG(has_kl),     HCL_ARG(Tq),   HCL_ARG(Tk),         HCL_ARG(H),    HCL_ARG(causal),      HCL_ARG(scale)};
    HCL_TRY(hcl_kernel_set_args(ctx, kdkv, a2, sizeof a2 / sizeof a2[0]));
    size_t g2[2] = {att_groups(dm.Tk, &c) * (size_t)c.lq, bh}, l2[2] = {(size_t)c.lq, 1};
    return hcl_kernel_run(ctx, kdkv, 2, g2, l2);
}
