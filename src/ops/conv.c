/* 2-D convolution launchers (NCHW, weights (K, C/groups, R, S)): validation, then one of three
 * paths: direct kernels for small patches (C/groups*R*S <= 32, e.g. first layers) and depthwise
 * convs; a plain GEMM for 1x1 stride-1 pointwise convs; im2col (into the context workspace,
 * chunked over images) + the internal GEMM for the rest. Direct convs use kernels specialised
 * for the layer's geometry (a program per geometry, built with -D constants) where their
 * unrolled bodies stay small, else generic ones. Kernels live in cl_kernels/conv.cl. */
#include <limits.h>
#include <stdio.h>
#include "ops/ops_internal.h"

/* Direct kernels for C/groups*R*S up to this (im2col would only copy x R*S times for a tiny
 * GEMM K-dim) and for depthwise convs; output channels per direct work-item (conv.cl). */
#define CONV_PATCH_MAX 32
#define CONV_KB 8
/* Work items targeted by the stage-1 reductions of dw and dbias (chunk count from shapes only,
 * so the result bits depend on the shapes, not on the device). */
#define CONV_REDUCE_ITEMS 16384
#define CONV_ALIGN 256
/* Specialised kernels (conv.cl, CONV_SPEC): the forward unrolls KB*C/G*R*S multiply-adds per
 * work-item, backward data K/G*R*S loads times C/G, backward weight keeps KBW*R*S float16
 * accumulators; these bound them. */
#define SPEC_FWD_CRS_MAX 64
#define SPEC_FWD_UNROLL 1024
#define SPEC_FWD_KB_MAX 32
#define SPEC_DATA_KRS_MAX 576
#define SPEC_DATA_WEIGHTS_MAX 1024
#define SPEC_WGT_RS_MAX 16
/* Work items targeted by the specialised dw stage 1 (each sums whole rows of dy). */
#define SPEC_WGT_ITEMS 256

/* Columns per chunk of images stay under this many bytes (a single image may exceed it). */
static size_t g_workspace_limit = (size_t)64 << 20;

/* Internal, for tests only: lowers the chunking limit so small shapes take the multi-chunk path.
 * 0 restores the default. Not thread-safe; not part of the API. */
void hcl_conv_set_workspace_limit_for_tests(size_t bytes);
void hcl_conv_set_workspace_limit_for_tests(size_t bytes) { g_workspace_limit = bytes ? bytes : (size_t)64 << 20; }

/* Internal, for tests only: 1 makes the direct path use the generic kernels only. */
static int g_generic_only = 0;
void hcl_conv_set_generic_for_tests(int on);
void hcl_conv_set_generic_for_tests(int on) { g_generic_only = on; }

void hcl_conv2d_desc_init(hcl_conv2d_desc *d) {
    if (!d) return;
    d->stride_h = d->stride_w = 1;
    d->pad_h = d->pad_w = 0;
    d->dilation_h = d->dilation_w = 1;
    d->groups = 1;
}

int64_t hcl_conv2d_out_size(int64_t in, int64_t k, int stride, int pad, int dilation) {
    if (in < 1 || k < 1 || stride < 1 || pad < 0 || dilation < 1) return 0;
    /* unsigned, so that no size overflows: span < 2^64 since in < 2^63 and pad < 2^31 */
    uint64_t span = (uint64_t)in + 2 * (uint64_t)pad, kk = (uint64_t)(k - 1);
    if (kk > (span - 1) / (uint64_t)dilation) return 0; /* the window (dilation (k - 1) + 1) exceeds span */
    uint64_t out = (span - 1 - kk * (uint64_t)dilation) / (uint64_t)stride + 1;
    return out > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)out;
}

/* Shapes of one conv call (the first 16 in the order of the kernels' geometry arguments). */
typedef struct conv_geo {
    int n, c, h, w, k, p, q, r, s, sh, sw, ph, pw, dh, dw, g;
    int cpg, kpg;
    size_t crs_g, crs, pq, hw; /* C/G*R*S, C*R*S, P*Q, H*W */
} conv_geo;

typedef enum conv_path { PATH_DIRECT, PATH_POINTWISE, PATH_IM2COL } conv_path;

/* The kernels' geometry arguments: 16 ints in the order of CONV_GEO in conv.cl. */
typedef struct geo_ints { cl_int v[16]; } geo_ints;
#define GEO_KARGS(gi)                                                                                  \
    HCL_ARG((gi).v[0]), HCL_ARG((gi).v[1]), HCL_ARG((gi).v[2]), HCL_ARG((gi).v[3]), HCL_ARG((gi).v[4]),  \
        HCL_ARG((gi).v[5]), HCL_ARG((gi).v[6]), HCL_ARG((gi).v[7]), HCL_ARG((gi).v[8]), HCL_ARG((gi).v[9]), \
        HCL_ARG((gi).v[10]), HCL_ARG((gi).v[11]), HCL_ARG((gi).v[12]), HCL_ARG((gi).v[13]),             \
        HCL_ARG((gi).v[14]), HCL_ARG((gi).v[15])

static geo_ints geo_arg(const conv_geo *g) {
    geo_ints v = {{g->n, g->c, g->h, g->w, g->k, g->p, g->q, g->r, g->s, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw, g->g}};
    return v;
}

static conv_path choose_path(const conv_geo *g) {
    if (g->cpg == 1 || g->crs_g <= CONV_PATCH_MAX) return PATH_DIRECT;
    if (g->r == 1 && g->s == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0) return PATH_POINTWISE;
    return PATH_IM2COL;
}

/* Validates x-side (N,C,H,W), w-side (K,C/G,R,S), y-side (N,K,P,Q) and bias (K) tensors of a
 * conv call (names as the caller knows them) and fills the geometry. */
static hcl_status conv_check(hcl_context *ctx, const hcl_conv2d_desc *d, const hcl_tensor *x, const char *xn,
                             const hcl_tensor *w, const char *wn, const hcl_tensor *y, const char *yn,
                             const hcl_tensor *bias, const char *bn, conv_geo *g) {
    HCL_CHECK_NULL(ctx, d);
    HCL_TRY(hcl_check_float(ctx, x, xn));
    HCL_TRY(hcl_check_float(ctx, w, wn));
    HCL_TRY(hcl_check_float(ctx, y, yn));
    if (bias) HCL_TRY(hcl_check_float(ctx, bias, bn));
    HCL_TRY(hcl_check_rank(ctx, x, 4, xn));
    HCL_TRY(hcl_check_rank(ctx, w, 4, wn));
    HCL_TRY(hcl_check_rank(ctx, y, 4, yn));
    if (d->stride_h < 1 || d->stride_w < 1 || d->dilation_h < 1 || d->dilation_w < 1 || d->pad_h < 0 || d->pad_w < 0 ||
        d->groups < 1)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT,
                         "conv desc: stride %dx%d, dilation %dx%d, pad %dx%d, groups %d (stride, dilation, groups >= 1, pad >= 0)",
                         d->stride_h, d->stride_w, d->dilation_h, d->dilation_w, d->pad_h, d->pad_w, d->groups);
    for (int i = 0; i < 4; i++)
        if (x->shape[i] > INT_MAX || w->shape[i] > INT_MAX || y->shape[i] > INT_MAX)
            return hcl_error(ctx, HCL_ERR_OVERFLOW, "conv dims must fit in int");
    g->n = (int)x->shape[0]; g->c = (int)x->shape[1]; g->h = (int)x->shape[2]; g->w = (int)x->shape[3];
    g->k = (int)w->shape[0]; g->r = (int)w->shape[2]; g->s = (int)w->shape[3];
    g->sh = d->stride_h; g->sw = d->stride_w; g->ph = d->pad_h; g->pw = d->pad_w;
    g->dh = d->dilation_h; g->dw = d->dilation_w; g->g = d->groups;
    if (g->c % g->g || g->k % g->g)
        return hcl_error(ctx, HCL_ERR_SHAPE, "groups %d must divide %s channels C=%d and %s channels K=%d", g->g, xn, g->c,
                         wn, g->k);
    g->cpg = g->c / g->g;
    g->kpg = g->k / g->g;
    if (w->shape[1] != g->cpg)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %lld input channels per group; %s has C=%d in %d groups, so %d",
                         wn, (long long)w->shape[1], xn, g->c, g->g, g->cpg);
    int64_t p = hcl_conv2d_out_size(g->h, g->r, g->sh, g->ph, g->dh);
    int64_t q = hcl_conv2d_out_size(g->w, g->s, g->sw, g->pw, g->dw);
    if (p < 1 || q < 1)
        return hcl_error(ctx, HCL_ERR_SHAPE,
                         "conv output would be empty: %s %dx%d with kernel %dx%d, pad %dx%d, dilation %dx%d, stride %dx%d",
                         xn, g->h, g->w, g->r, g->s, g->ph, g->pw, g->dh, g->dw, g->sh, g->sw);
    if (p > INT_MAX || q > INT_MAX) return hcl_error(ctx, HCL_ERR_OVERFLOW, "conv output dims must fit in int");
    g->p = (int)p;
    g->q = (int)q;
    if (y->shape[0] != g->n || y->shape[1] != g->k || y->shape[2] != p || y->shape[3] != q)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s is (%lld,%lld,%lld,%lld); it must be (N,K,P,Q) = (%d,%d,%lld,%lld)", yn,
                         (long long)y->shape[0], (long long)y->shape[1], (long long)y->shape[2], (long long)y->shape[3],
                         g->n, g->k, (long long)p, (long long)q);
    if (bias && bias->count != (size_t)g->k)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements; it must have K=%d", bn, bias->count, g->k);
    int64_t rs = (int64_t)g->r * g->s, big = INT_MAX;
    if ((int64_t)g->n * g->c * rs > big || (int64_t)g->n * g->k * rs > big || (int64_t)g->n * p > big ||
        (int64_t)p * q > big || (int64_t)g->n * g->c > big)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "conv too large for 32-bit kernel indices (N*C*R*S, N*K*R*S, N*P, P*Q)");
    g->crs_g = (size_t)g->cpg * g->r * g->s;
    g->crs = g->crs_g * g->g;
    g->pq = (size_t)g->p * g->q;
    g->hw = (size_t)g->h * g->w;
    return HCL_OK;
}

static hcl_status conv_kernel(hcl_context *ctx, hcl_dtype xd, hcl_dtype wd, hcl_dtype yd, hcl_dtype bd, const char *name,
                              cl_kernel *k) {
    char opts[160];
    hcl_dt_options(opts, sizeof opts, "X", xd, "W", wd, "Y", yd, "B", bd, NULL);
    return hcl_kernel_get(ctx, "conv", opts, name, k);
}

/* Which specialised direct kernels a geometry gets, and their blocks and work-groups. */
typedef struct conv_spec {
    int fwd, data, wgt;  /* kernel usable */
    int kb, kbw;         /* output channels per forward / backward-weight work-item */
    int l0, l1, dl0, dl1; /* forward / backward-data work-groups */
} conv_spec;

/* Work-groups of the specialised forward and backward data: 16 along the row (the vector width
 * PoCL uses on AVX-512; 8 for short rows) by all rows, or an even share of them, up to 256 items
 * in all (any GPU takes that many): few, large work-groups (PoCL runs one as a loop; its
 * per-group set-up is then paid rarely). */
#define SPEC_WG_MAX 256
static int spec_l0(int width) { return width <= 8 ? 8 : 16; }
static int spec_l1(int rows, int l0) {
    int most = SPEC_WG_MAX / l0, parts = (rows + most - 1) / most;
    return (rows + parts - 1) / parts;
}

static conv_spec spec_of(const conv_geo *g) {
    conv_spec sp = {0, 0, 0, 1, 1, 16, 4, 16, 4};
    if (g_generic_only) return sp;
    int crs = (int)g->crs_g, rs = g->r * g->s;
    sp.fwd = crs <= SPEC_FWD_CRS_MAX;
    /* forward: channel blocks as even as possible, each at most kb_max */
    int kb_max = SPEC_FWD_UNROLL / crs < SPEC_FWD_KB_MAX ? SPEC_FWD_UNROLL / crs : SPEC_FWD_KB_MAX;
    if (kb_max < 1) kb_max = 1;
    int nb = (g->kpg + kb_max - 1) / kb_max;
    sp.kb = (g->kpg + nb - 1) / nb;
    sp.data = (int64_t)g->kpg * rs <= SPEC_DATA_KRS_MAX && (int64_t)g->kpg * crs <= SPEC_DATA_WEIGHTS_MAX;
    sp.wgt = rs <= SPEC_WGT_RS_MAX;
    sp.kbw = rs <= 4 ? 4 : rs <= 9 ? 2 : 1;
    if (sp.kbw > g->kpg) sp.kbw = g->kpg;
    sp.l0 = spec_l0(g->q);
    sp.l1 = spec_l1(g->p, sp.l0);
    sp.dl0 = spec_l0(g->w);
    sp.dl1 = spec_l1(g->h, sp.dl0);
    return sp;
}

/* A kernel of the program specialised for this geometry (one option string per layer shape
 * without the batch, and dtypes: the forward, backward-data and backward-weight kernels of a
 * layer share one build). */
static hcl_status conv_spec_kernel(hcl_context *ctx, const conv_geo *g, const conv_spec *sp, hcl_dtype xd, hcl_dtype wd,
                                   hcl_dtype yd, hcl_dtype bd, const char *name, cl_kernel *k) {
    char dts[160], opts[512];
    hcl_dt_options(dts, sizeof dts, "X", xd, "W", wd, "Y", yd, "B", bd, NULL);
    snprintf(opts, sizeof opts,
             "%s -DCONV_SPEC=1 -DCONV_G=%d -DCONV_CPG=%d -DCONV_KPG=%d -DCONV_H=%d -DCONV_W=%d -DCONV_P=%d -DCONV_Q=%d "
             "-DCONV_R=%d -DCONV_S=%d -DCONV_SH=%d -DCONV_SW=%d -DCONV_PH=%d -DCONV_PW=%d -DCONV_DH=%d -DCONV_DW=%d "
             "-DCONV_KB=%d -DCONV_KBW=%d -DCONV_L0=%d -DCONV_L1=%d -DCONV_DL0=%d -DCONV_DL1=%d -DCONV_DATA=%d",
             dts, g->g, g->cpg, g->kpg, g->h, g->w, g->p, g->q, g->r, g->s, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw, sp->kb,
             sp->kbw, sp->l0, sp->l1, sp->dl0, sp->dl1, sp->data);
    return hcl_kernel_get(ctx, "conv", opts, name, k);
}

/* Sets the args and runs a 3-D range with work-group (l0, l1, 1), global rounded up to it. */
static hcl_status launch3_wg(hcl_context *ctx, cl_kernel k, const hcl_karg *args, size_t nargs, size_t g0, size_t g1,
                             size_t g2, size_t l0, size_t l1) {
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, nargs));
    size_t global[3] = {(g0 + l0 - 1) / l0 * l0, (g1 + l1 - 1) / l1 * l1, g2}, local[3] = {l0, l1, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* Sets the args and runs a 3-D range (x fastest) with work-groups of up to 64 items along the
 * two fast dims; the kernels guard the rounded-up edges. */
static hcl_status launch3(hcl_context *ctx, cl_kernel k, const hcl_karg *args, size_t nargs, size_t g0, size_t g1,
                          size_t g2) {
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, nargs));
    size_t l0 = g0 < 32 ? (g0 ? g0 : 1) : 32;
    size_t l1 = 64 / l0;
    if (l1 > g1) l1 = g1 ? g1 : 1;
    size_t global[3] = {g0, g1, g2}, local[3] = {l0, l1, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

static size_t align_up(size_t v) { return (v + CONV_ALIGN - 1) / CONV_ALIGN * CONV_ALIGN; }

/* Images per chunk so that per_image * chunk stays under the workspace limit (at least 1). */
static int chunk_images(int n, size_t per_image) {
    size_t c = per_image ? g_workspace_limit / per_image : (size_t)n;
    if (c < 1) c = 1;
    if (c > (size_t)n) c = (size_t)n;
    return (int)c;
}

/* Chunking of the N*P output rows for the two-stage reductions over E outputs. */
static void reduce_chunks(const conv_geo *g, size_t e_count, int *nchunks, int *rpc) {
    size_t rows = (size_t)g->n * g->p;
    size_t j = (CONV_REDUCE_ITEMS + e_count - 1) / e_count;
    if (j > 1024) j = 1024;
    if (j > rows) j = rows;
    if (j < 1) j = 1;
    size_t per = (rows + j - 1) / j;
    *rpc = (int)per;
    *nchunks = (int)((rows + per - 1) / per);
}

/* dbias (K) += sum of dy over N,P,Q: stage 1 into part (F32 workspace at byte offset), stage 2. */
static hcl_status bias_grad(hcl_context *ctx, const conv_geo *g, hcl_tensor *dbias, const hcl_tensor *dy, hcl_dtype xd,
                            hcl_dtype wd, cl_mem ws, size_t ws_byte_off) {
    int nch, rpc;
    reduce_chunks(g, (size_t)g->k, &nch, &rpc);
    cl_kernel k1, k2;
    HCL_TRY(conv_kernel(ctx, xd, wd, dy->dtype, dbias->dtype, "conv_bias_grad_part", &k1));
    HCL_TRY(conv_kernel(ctx, xd, wd, dy->dtype, dbias->dtype, "conv_reduce_b", &k2));
    geo_ints geo = geo_arg(g);
    cl_ulong part_off = ws_byte_off / 4, dy_off = hcl_off(dy), db_off = hcl_off(dbias), e = (cl_ulong)g->k;
    hcl_karg a1[] = {HCL_ARG(ws), HCL_ARG(part_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), GEO_KARGS(geo), HCL_ARG(nch), HCL_ARG(rpc)};
    HCL_TRY(launch3(ctx, k1, a1, sizeof a1 / sizeof a1[0], (size_t)g->k, (size_t)nch, 1));
    hcl_karg a2[] = {HCL_ARG(dbias->buffer), HCL_ARG(db_off), HCL_ARG(ws), HCL_ARG(part_off), HCL_ARG(e), HCL_ARG(nch)};
    return hcl_launch_1d(ctx, k2, (size_t)g->k, 0, a2, sizeof a2 / sizeof a2[0]);
}

static size_t bias_grad_bytes(const conv_geo *g) {
    int nch, rpc;
    reduce_chunks(g, (size_t)g->k, &nch, &rpc);
    return align_up((size_t)nch * g->k * 4);
}

/* ---------------------------------------------------------------- forward */

/* y (N,K,P,Q) = bias (K) broadcast, before the GEMMs add into y (one rounding of the sum). */
static hcl_status bias_fill(hcl_context *ctx, const conv_geo *g, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *w,
                            const hcl_tensor *bias) {
    cl_kernel k;
    HCL_TRY(conv_kernel(ctx, x->dtype, w->dtype, y->dtype, bias->dtype, "conv_bias_fill", &k));
    geo_ints geo = geo_arg(g);
    cl_ulong y_off = hcl_off(y), b_off = hcl_off(bias);
    hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(bias->buffer), HCL_ARG(b_off), GEO_KARGS(geo)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], g->pq, (size_t)g->k, (size_t)g->n);
}

/* One GEMM per group (batched over images), or one batched over groups when there is one image:
 * y_n,g (K/G, PQ) = w_g (K/G, C/G*R*S) * b_n,g (C/G*R*S, PQ), where b is x itself (pointwise) or
 * the columns. b_img_stride: elements between images of b; b_off: of image 0; beta 1 adds into
 * y (pre-filled with the bias). */
static hcl_status forward_gemm(hcl_context *ctx, const conv_geo *g, hcl_tensor *y, size_t y_off, const hcl_tensor *w,
                               cl_mem b, size_t b_off, hcl_dtype b_dt, size_t b_img_stride, int nimg, float beta) {
    hcl_gemm_args a = {
        .a = w->buffer, .b = b, .c = y->buffer, .bias = NULL,
        .a_dt = w->dtype, .b_dt = b_dt, .c_dt = y->dtype, .bias_dt = HCL_F32,
        .lda = g->crs_g, .ldb = g->pq, .ldc = g->pq,
        .m = (size_t)g->kpg, .n = g->pq, .k = g->crs_g,
        .alpha = 1.0f, .beta = beta, .act = HCL_ACT_NONE, .backend = HCL_GEMM_AUTO,
    };
    if (g->g == 1 || nimg == 1) {
        /* batch over images (G == 1) or over groups (one image) */
        int over_groups = g->g > 1;
        for (int n = 0; n < (over_groups ? nimg : 1); n++) {
            a.a_off = w->offset;
            a.b_off = b_off + (size_t)n * b_img_stride;
            a.c_off = y_off + (size_t)n * g->k * g->pq;
            a.stride_a = over_groups ? (size_t)g->kpg * g->crs_g : 0;
            a.stride_b = over_groups ? g->crs_g * g->pq : b_img_stride;
            a.stride_c = over_groups ? (size_t)g->kpg * g->pq : (size_t)g->k * g->pq;
            a.batch = over_groups ? (size_t)g->g : (size_t)nimg;
            HCL_TRY(hcl_gemm_enqueue(ctx, &a));
        }
        return HCL_OK;
    }
    for (int gi = 0; gi < g->g; gi++) {
        a.a_off = w->offset + (size_t)gi * g->kpg * g->crs_g;
        a.b_off = b_off + (size_t)gi * g->crs_g * g->pq;
        a.c_off = y_off + (size_t)gi * g->kpg * g->pq;
        a.stride_a = 0;
        a.stride_b = b_img_stride;
        a.stride_c = (size_t)g->k * g->pq;
        a.batch = (size_t)nimg;
        HCL_TRY(hcl_gemm_enqueue(ctx, &a));
    }
    return HCL_OK;
}

/* Output channels per work-item of the direct kernels: 8, or 1 when groups are that small. */
static int direct_kb(const conv_geo *g) { return g->kpg >= 4 ? CONV_KB : 1; }

/* The weights (and, when with_bias_slot, K bias values or zeros) as F32 into the workspace for
 * the specialised kernels; *wf is the buffer. */
static hcl_status spec_prep_w(hcl_context *ctx, const conv_geo *g, const conv_spec *sp, const hcl_tensor *w,
                              const hcl_tensor *bias, int with_bias_slot, hcl_dtype xd, hcl_dtype yd, cl_mem *wf) {
    size_t e_count = (size_t)g->k * g->crs_g, nb = with_bias_slot ? (size_t)g->k : 0;
    HCL_TRY(hcl_workspace_get(ctx, (e_count + nb) * 4, wf));
    const hcl_tensor *bt = bias ? bias : w; /* unused without a bias */
    cl_kernel k;
    HCL_TRY(conv_spec_kernel(ctx, g, sp, xd, w->dtype, yd, bt->dtype, "conv_spec_prep_w", &k));
    cl_ulong wf_off = 0, w_off = hcl_off(w), b_off = hcl_off(bt);
    cl_int has_bias = bias != NULL, ec = (cl_int)e_count, nbi = (cl_int)nb;
    hcl_karg a[] = {HCL_ARG(*wf), HCL_ARG(wf_off), HCL_ARG(w->buffer), HCL_ARG(w_off), HCL_ARG(bt->buffer),
                    HCL_ARG(b_off), HCL_ARG(has_bias), HCL_ARG(ec), HCL_ARG(nbi)};
    return hcl_launch_1d(ctx, k, e_count + nb, 0, a, sizeof a / sizeof a[0]);
}

/* t as F32 for a specialised kernel: t itself when F32, else converted into the workspace at
 * float offset ws_off (by conv_spec_prep_x or _y: which dtype macro t's dtype comes in). */
static hcl_status spec_prep_f32(hcl_context *ctx, const conv_geo *g, const conv_spec *sp, const hcl_tensor *t, int is_y,
                                hcl_dtype xd, hcl_dtype wd, hcl_dtype yd, cl_mem ws, size_t ws_off, cl_mem *buf,
                                cl_ulong *off) {
    *buf = t->buffer;
    *off = hcl_off(t);
    if (t->dtype == HCL_F32) return HCL_OK;
    cl_kernel k;
    HCL_TRY(conv_spec_kernel(ctx, g, sp, xd, wd, yd, yd, is_y ? "conv_spec_prep_y" : "conv_spec_prep_x", &k));
    cl_ulong o = ws_off, in_off = hcl_off(t), n = t->count;
    hcl_karg a[] = {HCL_ARG(ws), HCL_ARG(o), HCL_ARG(t->buffer), HCL_ARG(in_off), HCL_ARG(n)};
    HCL_TRY(hcl_launch_1d(ctx, k, t->count, 0, a, sizeof a / sizeof a[0]));
    *buf = ws;
    *off = o;
    return HCL_OK;
}

static hcl_status forward_direct(hcl_context *ctx, const conv_geo *g, hcl_tensor *y, const hcl_tensor *x,
                                 const hcl_tensor *w, const hcl_tensor *bias) {
    conv_spec sp = spec_of(g);
    geo_ints geo = geo_arg(g);
    cl_ulong y_off = hcl_off(y), x_off = hcl_off(x), w_off = hcl_off(w);
    cl_kernel k;
    if (sp.fwd) {
        cl_mem wf;
        HCL_TRY(spec_prep_w(ctx, g, &sp, w, bias, 1, x->dtype, y->dtype, &wf));
        HCL_TRY(conv_spec_kernel(ctx, g, &sp, x->dtype, w->dtype, y->dtype, bias ? bias->dtype : w->dtype,
                                 "conv_spec_fwd", &k));
        cl_ulong wf_off = 0;
        hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off), HCL_ARG(wf),
                        HCL_ARG(wf_off), GEO_KARGS(geo)};
        size_t planes = (size_t)g->n * g->g * ((g->kpg + sp.kb - 1) / sp.kb);
        return launch3_wg(ctx, k, a, sizeof a / sizeof a[0], (size_t)g->q, (size_t)g->p, planes, (size_t)sp.l0,
                          (size_t)sp.l1);
    }
    int kb = direct_kb(g);
    HCL_TRY(conv_kernel(ctx, x->dtype, w->dtype, y->dtype, bias ? bias->dtype : y->dtype,
                        kb == 1 ? "conv_direct_fwd_kb1" : "conv_direct_fwd_kb8", &k));
    cl_ulong b_off = bias ? hcl_off(bias) : 0;
    cl_int has_bias = bias != NULL;
    cl_mem bbuf = bias ? bias->buffer : y->buffer;
    hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off), HCL_ARG(w->buffer),
                    HCL_ARG(w_off), HCL_ARG(bbuf), HCL_ARG(b_off), HCL_ARG(has_bias), GEO_KARGS(geo)};
    size_t planes = (size_t)g->n * g->g * ((g->kpg + kb - 1) / kb);
    return launch3(ctx, k, a, sizeof a / sizeof a[0], ((size_t)g->q + 7) / 8, (size_t)g->p, planes);
}

/* Columns of images n0 .. n0+nc-1 into the workspace: per image (C*R*S, PQ) when per_image,
 * else (C*R*S, nc*PQ) with images side by side (for dw). */
static hcl_status im2col(hcl_context *ctx, const conv_geo *g, const hcl_tensor *x, hcl_dtype wd, hcl_dtype yd,
                         cl_mem ws, size_t cols_off, int n0, int nc, int per_image) {
    cl_kernel k;
    HCL_TRY(conv_kernel(ctx, x->dtype, wd, yd, yd, "conv_im2col", &k));
    geo_ints geo = geo_arg(g);
    cl_ulong co = cols_off, x_off = hcl_off(x);
    cl_ulong col_ns = per_image ? g->crs * g->pq : g->pq, col_rs = per_image ? g->pq : (size_t)nc * g->pq;
    hcl_karg a[] = {HCL_ARG(ws), HCL_ARG(co), HCL_ARG(col_ns), HCL_ARG(col_rs), HCL_ARG(x->buffer), HCL_ARG(x_off),
                    GEO_KARGS(geo), HCL_ARG(n0), HCL_ARG(nc)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g->q, (size_t)g->p, (size_t)nc * g->crs);
}

hcl_status hcl_conv2d_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *w,
                              const hcl_tensor *bias, const hcl_conv2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    conv_geo g;
    HCL_TRY(conv_check(ctx, desc, x, "x", w, "w", y, "y", bias, "bias", &g));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", w, "w"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", bias, "bias"));
    conv_path path = choose_path(&g);
    if (path == PATH_DIRECT) return forward_direct(ctx, &g, y, x, w, bias);
    float beta = bias ? 1.0f : 0.0f;
    if (bias) HCL_TRY(bias_fill(ctx, &g, y, x, w, bias));
    if (path == PATH_POINTWISE) {
        HCL_TRY(forward_gemm(ctx, &g, y, y->offset, w, x->buffer, x->offset, x->dtype, (size_t)g.c * g.hw, g.n, beta));
    } else {
        size_t es = hcl_dtype_size(x->dtype), per_image = g.crs * g.pq * es;
        int nc = chunk_images(g.n, per_image);
        cl_mem ws;
        HCL_TRY(hcl_workspace_get(ctx, per_image * (size_t)nc, &ws));
        for (int n0 = 0; n0 < g.n; n0 += nc) {
            int cnt = g.n - n0 < nc ? g.n - n0 : nc;
            HCL_TRY(im2col(ctx, &g, x, w->dtype, y->dtype, ws, 0, n0, cnt, 1));
            HCL_TRY(forward_gemm(ctx, &g, y, y->offset + (size_t)n0 * g.k * g.pq, w, ws, 0, x->dtype, g.crs * g.pq, cnt,
                                 beta));
        }
    }
    return HCL_OK;
}

/* ---------------------------------------------------------------- backward data */

/* c_n,g (C/G*R*S, PQ) = w_g^T (C/G*R*S, K/G) * dy_n,g (K/G, PQ) for images n0.., per group,
 * batched over images. c is dx itself (pointwise) or the F32 columns. */
static hcl_status backward_data_gemm(hcl_context *ctx, const conv_geo *g, cl_mem c, size_t c_off, hcl_dtype c_dt,
                                     size_t c_img_stride, const hcl_tensor *dy, const hcl_tensor *w, int n0, int nimg) {
    for (int gi = 0; gi < g->g; gi++) {
        hcl_gemm_args a = {
            .a = w->buffer, .b = dy->buffer, .c = c, .bias = NULL,
            .a_off = w->offset + (size_t)gi * g->kpg * g->crs_g,
            .b_off = dy->offset + ((size_t)n0 * g->k + (size_t)gi * g->kpg) * g->pq,
            .c_off = c_off + (size_t)gi * g->crs_g * g->pq,
            .a_dt = w->dtype, .b_dt = dy->dtype, .c_dt = c_dt, .bias_dt = HCL_F32,
            .lda = g->crs_g, .ldb = g->pq, .ldc = g->pq,
            .stride_a = 0, .stride_b = (size_t)g->k * g->pq, .stride_c = c_img_stride,
            .m = g->crs_g, .n = g->pq, .k = (size_t)g->kpg, .batch = (size_t)nimg,
            .trans_a = 1, .trans_b = 0, .alpha = 1.0f, .beta = 0.0f, .act = HCL_ACT_NONE, .backend = HCL_GEMM_AUTO,
        };
        HCL_TRY(hcl_gemm_enqueue(ctx, &a));
    }
    return HCL_OK;
}

hcl_status hcl_conv2d_backward_data(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *w,
                                    const hcl_conv2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    conv_geo g;
    HCL_TRY(conv_check(ctx, desc, dx, "dx", w, "w", dy, "dy", NULL, NULL, &g));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", w, "w"));
    conv_path path = choose_path(&g);
    geo_ints geo = geo_arg(&g);
    if (path == PATH_DIRECT) {
        conv_spec sp = spec_of(&g);
        cl_kernel k;
        cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy), w_off = hcl_off(w);
        if (sp.data) {
            /* workspace: F32 weights, then dy as F32 (unless it is F32) */
            size_t wf_bytes = align_up((size_t)g.k * g.crs_g * 4);
            cl_mem wf, ws, dyf;
            cl_ulong wf_off = 0, dyf_off;
            HCL_TRY(hcl_workspace_get(ctx, wf_bytes + (dy->dtype == HCL_F32 ? 0 : dy->count * 4), &ws));
            HCL_TRY(spec_prep_w(ctx, &g, &sp, w, NULL, 0, dx->dtype, dy->dtype, &wf));
            HCL_TRY(spec_prep_f32(ctx, &g, &sp, dy, 1, dx->dtype, w->dtype, dy->dtype, ws, wf_bytes / 4, &dyf, &dyf_off));
            HCL_TRY(conv_spec_kernel(ctx, &g, &sp, dx->dtype, w->dtype, dy->dtype, w->dtype, "conv_spec_bwd_data", &k));
            hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dyf), HCL_ARG(dyf_off), HCL_ARG(wf),
                            HCL_ARG(wf_off), GEO_KARGS(geo)};
            return launch3_wg(ctx, k, a, sizeof a / sizeof a[0], (size_t)g.w, (size_t)g.h, (size_t)g.n * g.g,
                              (size_t)sp.dl0, (size_t)sp.dl1);
        }
        HCL_TRY(conv_kernel(ctx, dx->dtype, w->dtype, dy->dtype, dy->dtype, "conv_direct_bwd_data", &k));
        hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(w->buffer),
                        HCL_ARG(w_off), GEO_KARGS(geo)};
        return launch3(ctx, k, a, sizeof a / sizeof a[0], ((size_t)g.w + 7) / 8, (size_t)g.h, (size_t)g.n * g.c);
    }
    if (path == PATH_POINTWISE)
        return backward_data_gemm(ctx, &g, dx->buffer, dx->offset, dx->dtype, (size_t)g.c * g.hw, dy, w, 0, g.n);
    size_t per_image = g.crs * g.pq * 4;
    int nc = chunk_images(g.n, per_image);
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, per_image * (size_t)nc, &ws));
    cl_kernel k;
    HCL_TRY(conv_kernel(ctx, dx->dtype, w->dtype, dy->dtype, dy->dtype, "conv_col2im", &k));
    for (int n0 = 0; n0 < g.n; n0 += nc) {
        int cnt = g.n - n0 < nc ? g.n - n0 : nc;
        HCL_TRY(backward_data_gemm(ctx, &g, ws, 0, HCL_F32, g.crs * g.pq, dy, w, n0, cnt));
        cl_ulong dx_off = hcl_off(dx), cols_off = 0;
        hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(ws), HCL_ARG(cols_off), GEO_KARGS(geo), HCL_ARG(n0),
                        HCL_ARG(cnt)};
        HCL_TRY(launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g.w, (size_t)g.h, (size_t)cnt * g.c));
    }
    return HCL_OK;
}

/* ---------------------------------------------------------------- backward weight */

/* Specialised dw and dbias: stage 1 writes J partials of each (dw into part, dbias after it),
 * stage 2 adds them in order. J from the shapes only (so the bits do not depend on the device). */
static hcl_status backward_weight_spec(hcl_context *ctx, const conv_geo *g, const conv_spec *sp, hcl_tensor *dw,
                                       hcl_tensor *dbias, const hcl_tensor *dy, const hcl_tensor *x) {
    size_t e_count = (size_t)g->k * g->crs_g, rows = (size_t)g->n * g->p;
    size_t kblocks = (size_t)g->g * ((g->kpg + sp->kbw - 1) / sp->kbw), items = kblocks * g->cpg;
    size_t j = (SPEC_WGT_ITEMS + items - 1) / items;
    if (j > rows) j = rows;
    int rpc = (int)((rows + j - 1) / j), nch = (int)((rows + rpc - 1) / rpc);
    size_t part_bytes = align_up((size_t)nch * e_count * 4), bias_bytes = dbias ? align_up((size_t)nch * g->k * 4) : 0;
    /* F16/BF16 x as F32 after the partials: it is read R*S times per channel block */
    size_t nx = (size_t)g->n * g->c * g->hw, xf_bytes = x->dtype == HCL_F32 ? 0 : nx * 4;
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, part_bytes + bias_bytes + xf_bytes, &ws));
    hcl_dtype bd = dbias ? dbias->dtype : dy->dtype;
    cl_kernel k1, k2;
    cl_mem xf;
    cl_ulong x_off;
    HCL_TRY(spec_prep_f32(ctx, g, sp, x, 0, x->dtype, dw->dtype, dy->dtype, ws, (part_bytes + bias_bytes) / 4, &xf,
                          &x_off));
    HCL_TRY(conv_spec_kernel(ctx, g, sp, x->dtype, dw->dtype, dy->dtype, bd, "conv_spec_bwd_weight_part", &k1));
    HCL_TRY(conv_spec_kernel(ctx, g, sp, x->dtype, dw->dtype, dy->dtype, bd, "conv_reduce_w", &k2));
    geo_ints geo = geo_arg(g);
    cl_ulong part_off = 0, bpart_off = part_bytes / 4, dy_off = hcl_off(dy), dw_off = hcl_off(dw);
    cl_ulong e = e_count;
    cl_int with_bias = dbias != NULL;
    hcl_karg a1[] = {HCL_ARG(ws), HCL_ARG(part_off), HCL_ARG(bpart_off), HCL_ARG(with_bias), HCL_ARG(dy->buffer),
                     HCL_ARG(dy_off), HCL_ARG(xf), HCL_ARG(x_off), GEO_KARGS(geo), HCL_ARG(nch), HCL_ARG(rpc)};
    HCL_TRY(launch3(ctx, k1, a1, sizeof a1 / sizeof a1[0], kblocks, (size_t)g->cpg, (size_t)nch));
    hcl_karg a2[] = {HCL_ARG(dw->buffer), HCL_ARG(dw_off), HCL_ARG(ws), HCL_ARG(part_off), HCL_ARG(e), HCL_ARG(nch)};
    HCL_TRY(hcl_launch_1d(ctx, k2, e_count, 0, a2, sizeof a2 / sizeof a2[0]));
    if (!dbias) return HCL_OK;
    cl_kernel k3;
    HCL_TRY(conv_spec_kernel(ctx, g, sp, x->dtype, dw->dtype, dy->dtype, bd, "conv_reduce_b", &k3));
    cl_ulong db_off = hcl_off(dbias), kc = (cl_ulong)g->k;
    hcl_karg a3[] = {HCL_ARG(dbias->buffer), HCL_ARG(db_off), HCL_ARG(ws), HCL_ARG(bpart_off), HCL_ARG(kc), HCL_ARG(nch)};
    return hcl_launch_1d(ctx, k3, (size_t)g->k, 0, a3, sizeof a3 / sizeof a3[0]);
}

static hcl_status backward_weight_direct(hcl_context *ctx, const conv_geo *g, hcl_tensor *dw, hcl_tensor *dbias,
                                         const hcl_tensor *dy, const hcl_tensor *x) {
    conv_spec sp = spec_of(g);
    if (sp.wgt) return backward_weight_spec(ctx, g, &sp, dw, dbias, dy, x);
    size_t e_count = (size_t)g->k * g->crs_g;
    int nch, rpc;
    reduce_chunks(g, e_count, &nch, &rpc);
    int nparts = 8 * nch; /* one partial per float8 lane of each chunk (conv.cl) */
    size_t part_bytes = align_up((size_t)nparts * e_count * 4);
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, part_bytes + (dbias ? bias_grad_bytes(g) : 0), &ws));
    hcl_dtype bd = dbias ? dbias->dtype : dy->dtype;
    cl_kernel k1, k2;
    int kb = direct_kb(g);
    HCL_TRY(conv_kernel(ctx, x->dtype, dw->dtype, dy->dtype, bd,
                        kb == 1 ? "conv_direct_bwd_weight_part_kb1" : "conv_direct_bwd_weight_part_kb8", &k1));
    HCL_TRY(conv_kernel(ctx, x->dtype, dw->dtype, dy->dtype, bd, "conv_reduce_w", &k2));
    geo_ints geo = geo_arg(g);
    cl_ulong part_off = 0, dy_off = hcl_off(dy), x_off = hcl_off(x), dw_off = hcl_off(dw), e = e_count;
    hcl_karg a1[] = {HCL_ARG(ws), HCL_ARG(part_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(x->buffer),
                     HCL_ARG(x_off), GEO_KARGS(geo), HCL_ARG(nch), HCL_ARG(rpc)};
    size_t kblocks = (size_t)g->g * ((g->kpg + kb - 1) / kb);
    HCL_TRY(launch3(ctx, k1, a1, sizeof a1 / sizeof a1[0], g->crs_g, kblocks, (size_t)nch));
    hcl_karg a2[] = {HCL_ARG(dw->buffer), HCL_ARG(dw_off), HCL_ARG(ws), HCL_ARG(part_off), HCL_ARG(e), HCL_ARG(nparts)};
    HCL_TRY(hcl_launch_1d(ctx, k2, e_count, 0, a2, sizeof a2 / sizeof a2[0]));
    if (dbias) HCL_TRY(bias_grad(ctx, g, dbias, dy, x->dtype, dw->dtype, ws, part_bytes));
    return HCL_OK;
}

/* Per chunk of nc images: cols (C*R*S, nc*PQ) and dyp (K, nc*PQ) side by side, then per group
 * dw_g (K/G, C/G*R*S) (+)= dyp_g * cols_g^T in one GEMM batched over groups, whose K-dim
 * nc*PQ sums the chunk's images in FP32. Chunks accumulate with beta = 1 into dw itself when it
 * is F32, else into an F32 accumulator that is added to dw once at the end (one rounding). */
static hcl_status backward_weight_gemm(hcl_context *ctx, const conv_geo *g, hcl_tensor *dw, hcl_tensor *dbias,
                                       const hcl_tensor *dy, const hcl_tensor *x) {
    size_t xs = hcl_dtype_size(x->dtype), ys = hcl_dtype_size(dy->dtype);
    size_t per_image = g->crs * g->pq * xs + (size_t)g->k * g->pq * ys;
    int nc = chunk_images(g->n, per_image);
    size_t e_count = (size_t)g->k * g->crs_g;
    int direct_acc = dw->dtype == HCL_F32;
    size_t cols_bytes = align_up(g->crs * g->pq * xs * (size_t)nc);
    size_t dyp_bytes = align_up((size_t)g->k * g->pq * ys * (size_t)nc);
    size_t acc_bytes = direct_acc ? 0 : align_up(e_count * 4);
    size_t bias_bytes = dbias ? bias_grad_bytes(g) : 0;
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, cols_bytes + dyp_bytes + acc_bytes + bias_bytes, &ws));
    size_t cols_off = 0, dyp_off = cols_bytes / ys, acc_off = (cols_bytes + dyp_bytes) / 4;
    hcl_dtype bd = dbias ? dbias->dtype : dy->dtype;
    cl_kernel kpack;
    HCL_TRY(conv_kernel(ctx, x->dtype, dw->dtype, dy->dtype, bd, "conv_pack_dy", &kpack));
    geo_ints geo = geo_arg(g);
    for (int n0 = 0; n0 < g->n; n0 += nc) {
        int cnt = g->n - n0 < nc ? g->n - n0 : nc;
        size_t L = (size_t)cnt * g->pq;
        HCL_TRY(im2col(ctx, g, x, dw->dtype, dy->dtype, ws, cols_off, n0, cnt, 0));
        cl_ulong po = dyp_off, dy_off = hcl_off(dy);
        hcl_karg a[] = {HCL_ARG(ws), HCL_ARG(po), HCL_ARG(dy->buffer), HCL_ARG(dy_off), GEO_KARGS(geo), HCL_ARG(n0), HCL_ARG(cnt)};
        HCL_TRY(launch3(ctx, kpack, a, sizeof a / sizeof a[0], g->pq, (size_t)g->k, (size_t)cnt));
        hcl_gemm_args ga = {
            .a = ws, .b = ws, .c = direct_acc ? dw->buffer : ws, .bias = NULL,
            .a_off = dyp_off, .b_off = cols_off, .c_off = direct_acc ? dw->offset : acc_off,
            .a_dt = dy->dtype, .b_dt = x->dtype, .c_dt = HCL_F32, .bias_dt = HCL_F32,
            .lda = L, .ldb = L, .ldc = g->crs_g,
            .stride_a = (size_t)g->kpg * L, .stride_b = g->crs_g * L, .stride_c = (size_t)g->kpg * g->crs_g,
            .m = (size_t)g->kpg, .n = g->crs_g, .k = L, .batch = (size_t)g->g,
            .trans_a = 0, .trans_b = 1, .alpha = 1.0f, .beta = (direct_acc || n0 > 0) ? 1.0f : 0.0f,
            .act = HCL_ACT_NONE, .backend = HCL_GEMM_AUTO,
        };
        HCL_TRY(hcl_gemm_enqueue(ctx, &ga));
    }
    if (!direct_acc) {
        cl_kernel k;
        HCL_TRY(conv_kernel(ctx, x->dtype, dw->dtype, dy->dtype, bd, "conv_reduce_w", &k));
        cl_ulong dw_off = hcl_off(dw), ao = acc_off, e = e_count;
        cl_int one = 1;
        hcl_karg a[] = {HCL_ARG(dw->buffer), HCL_ARG(dw_off), HCL_ARG(ws), HCL_ARG(ao), HCL_ARG(e), HCL_ARG(one)};
        HCL_TRY(hcl_launch_1d(ctx, k, e_count, 0, a, sizeof a / sizeof a[0]));
    }
    if (dbias) HCL_TRY(bias_grad(ctx, g, dbias, dy, x->dtype, dw->dtype, ws, cols_bytes + dyp_bytes + acc_bytes));
    return HCL_OK;
}

hcl_status hcl_conv2d_backward_weight(hcl_context *ctx, hcl_tensor *dw, hcl_tensor *dbias, const hcl_tensor *dy,
                                      const hcl_tensor *x, const hcl_conv2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    conv_geo g;
    HCL_TRY(conv_check(ctx, desc, x, "x", dw, "dw", dy, "dy", dbias, "dbias", &g));
    HCL_TRY(hcl_check_no_alias(ctx, dw, "dw", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dw, "dw", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, dbias, "dbias", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dbias, "dbias", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, dbias, "dbias", dw, "dw"));
    if (choose_path(&g) == PATH_DIRECT) return backward_weight_direct(ctx, &g, dw, dbias, dy, x);
    return backward_weight_gemm(ctx, &g, dw, dbias, dy, x);
}
