/* Quantization launchers: fake-quant forward/backward (STE), the range observer, scale/zero point
 * from a range, quantize/dequantize, the int8 GEMM (U8 x I8, int32 accumulation, F32 epilogue)
 * and int8 conv2d (U8 im2col into the workspace + the int8 GEMM kernel). Kernels:
 * cl_kernels/quant.cl. Parameters stay on the device: nothing here syncs with the host. */
#include <stdio.h>
#include "ops/ops_internal.h"

/* Largest K of the int8 GEMM: |sum_k (a - z) w| <= K * 255 * 128 stays below 2^31. */
#define I8_MAX_K 65536
/* Tiles of gemm_i8 (QTM x QTN per work-item, QWG work-items per group along M). */
enum { QTM = 4, QTN = 4, QWG = 4 };
/* Elements per work-item of the elementwise kernels (QV in quant.cl). */
enum { QV = 8 };
/* k per exact float chunk of the packed int8 GEMM (QKC in quant.cl): 512 * 255 * 128 < 2^24. */
enum { I8_KC = 512 };
/* Observer: elements of one channel per chunk (pass 1), at most OBS_MAX_CHUNKS chunks. */
enum { OBS_CHUNK_MIN = 4096, OBS_MAX_CHUNKS = 64 };
/* Images per im2col pass of the int8 conv: the U8 columns of a pass stay within this. */
#define CONV_I8_COLS_CAP ((size_t)16 << 20)

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t rup(size_t a, size_t b) { return cdiv(a, b) * b; }

/* Work-groups along dim 0 only (a power of two up to 64, no more than dim 0 needs). */
static void local_dim0(const hcl_context *ctx, const size_t global[3], size_t local[3]) {
    local[0] = local[1] = local[2] = 1;
    while (local[0] < 64 && local[0] < global[0] && local[0] * 2 <= ctx->info.max_work_group_size) local[0] *= 2;
}

static int same_tensor(const hcl_tensor *out, const hcl_tensor *in) {
    return out->buffer == in->buffer && out->offset == in->offset && out->dtype == in->dtype && out->count == in->count;
}

static hcl_status check_scheme(hcl_context *ctx, hcl_quant_scheme scheme) {
    if ((unsigned)scheme > HCL_QUANT_UINT8_ASYMMETRIC)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid quantization scheme %d", (int)scheme);
    return HCL_OK;
}

/* x viewed as (outer, C, inner) for `axis` (-1: per tensor, C = 1). */
typedef struct qgeo { size_t outer, C, inner; } qgeo;

static hcl_status axis_geo(hcl_context *ctx, const hcl_tensor *x, int axis, qgeo *g) {
    if (axis == -1) {
        *g = (qgeo){1, 1, x->count};
        return HCL_OK;
    }
    if (axis < 0 || axis >= x->rank)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "axis %d outside -1 (per tensor) or 0..%d (rank %d)", axis,
                         x->rank - 1, x->rank);
    g->outer = g->inner = 1;
    for (int i = 0; i < axis; i++) g->outer *= (size_t)x->shape[i];
    for (int i = axis + 1; i < x->rank; i++) g->inner *= (size_t)x->shape[i];
    g->C = (size_t)x->shape[axis];
    return HCL_OK;
}

/* scale (C) F32, zero_point (C) I32 or NULL (must be NULL when symmetric; scheme < 0: either). */
static hcl_status check_params(hcl_context *ctx, const hcl_tensor *scale, const hcl_tensor *zp, int scheme, size_t C,
                               const char *sname, const char *zname) {
    HCL_TRY(hcl_check_dtype(ctx, scale, HCL_F32, sname));
    if (scale->count != C)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements; it needs %zu (one per %s)", sname, scale->count, C,
                         C == 1 ? "tensor" : "channel");
    if (!zp) return HCL_OK;
    if (scheme == HCL_QUANT_INT8_SYMMETRIC)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s must be NULL for the symmetric int8 scheme (zero point 0)", zname);
    HCL_TRY(hcl_check_dtype(ctx, zp, HCL_I32, zname));
    if (zp->count != C)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements; it needs %zu like the scale", zname, zp->count, C);
    return HCL_OK;
}

static void qrange(hcl_quant_scheme scheme, float *qmin, float *qmax) {
    *qmin = scheme == HCL_QUANT_INT8_SYMMETRIC ? -127.0f : 0.0f;
    *qmax = scheme == HCL_QUANT_INT8_SYMMETRIC ? 127.0f : 255.0f;
}

/* Runs one of the elementwise kernels (fake_quant_*, quantize, dequantize) over g: args are the
 * kernel's leading tensor arguments, then scale/zp/geometry (and qmin/qmax when with_range). */
static hcl_status launch_elementwise(hcl_context *ctx, const char *opts, const char *name, hcl_karg *lead, size_t nlead,
                                     const hcl_tensor *scale, const hcl_tensor *zp, const qgeo *g, int with_range,
                                     float qmin, float qmax) {
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, name, &k));
    cl_mem zbuf = zp ? zp->buffer : scale->buffer; /* any valid buffer when has_zp is 0 */
    cl_ulong so = hcl_off(scale), zo = zp ? hcl_off(zp) : 0, inner = g->inner, C = g->C;
    cl_int has_zp = zp != NULL;
    hcl_karg args[16];
    size_t n = 0;
    for (size_t i = 0; i < nlead; i++) args[n++] = lead[i];
    hcl_karg rest[] = {HCL_ARG(scale->buffer), HCL_ARG(so), HCL_ARG(zbuf), HCL_ARG(zo), HCL_ARG(has_zp),
                       HCL_ARG(inner), HCL_ARG(C), HCL_ARG(qmin), HCL_ARG(qmax)};
    size_t nrest = with_range ? 9 : 7;
    for (size_t i = 0; i < nrest; i++) args[n++] = rest[i];
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, n));
    size_t global[3] = {cdiv(g->inner, QV), g->C, g->outer}, local[3];
    local_dim0(ctx, global, local);
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* ------------------------------------------------------------------ fake quant */

/* y = fake_quant(x); y may be x. */
hcl_status hcl_fake_quant_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *scale,
                                  const hcl_tensor *zero_point, hcl_quant_scheme scheme, int axis) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(check_scheme(ctx, scheme));
    HCL_TRY(hcl_check_same_count(ctx, y, "y", x, "x"));
    qgeo g;
    HCL_TRY(axis_geo(ctx, x, axis, &g));
    HCL_TRY(check_params(ctx, scale, zero_point, (int)scheme, g.C, "scale", "zero_point"));
    if (!same_tensor(y, x)) HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", scale, "scale"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", zero_point, "zero_point"));
    char opts[96];
    hcl_dt_options(opts, sizeof opts, "Y", y->dtype, "X", x->dtype, NULL);
    cl_ulong yo = hcl_off(y), xo = hcl_off(x);
    hcl_karg lead[] = {HCL_ARG(y->buffer), HCL_ARG(yo), HCL_ARG(x->buffer), HCL_ARG(xo)};
    float qmin, qmax;
    qrange(scheme, &qmin, &qmax);
    return launch_elementwise(ctx, opts, "fake_quant_forward", lead, 4, scale, zero_point, &g, 1, qmin, qmax);
}

/* dx = dy * [rne(x/s) + z in range]; dx may be dy, never x. */
hcl_status hcl_fake_quant_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *x,
                                   const hcl_tensor *scale, const hcl_tensor *zero_point, hcl_quant_scheme scheme, int axis) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, dx, "dx"));
    HCL_TRY(hcl_check_float(ctx, dy, "dy"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(check_scheme(ctx, scheme));
    HCL_TRY(hcl_check_same_count(ctx, dx, "dx", x, "x"));
    HCL_TRY(hcl_check_same_count(ctx, dy, "dy", x, "x"));
    qgeo g;
    HCL_TRY(axis_geo(ctx, x, axis, &g));
    HCL_TRY(check_params(ctx, scale, zero_point, (int)scheme, g.C, "scale", "zero_point"));
    if (!same_tensor(dx, dy)) HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", scale, "scale"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", zero_point, "zero_point"));
    char opts[96];
    hcl_dt_options(opts, sizeof opts, "Y", dx->dtype, "G", dy->dtype, "X", x->dtype, NULL);
    cl_ulong dxo = hcl_off(dx), dyo = hcl_off(dy), xo = hcl_off(x);
    hcl_karg lead[] = {HCL_ARG(dx->buffer), HCL_ARG(dxo), HCL_ARG(dy->buffer), HCL_ARG(dyo), HCL_ARG(x->buffer), HCL_ARG(xo)};
    float qmin, qmax;
    qrange(scheme, &qmin, &qmax);
    return launch_elementwise(ctx, opts, "fake_quant_backward", lead, 6, scale, zero_point, &g, 1, qmin, qmax);
}

/* ------------------------------------------------------------------ observer, parameters */

static size_t obs_local(const hcl_context *ctx) {
    size_t l = 64;
    while (l > 1 && l > ctx->info.max_work_group_size) l /= 2;
    return l;
}

hcl_status hcl_quant_observe(hcl_context *ctx, hcl_tensor *range, const hcl_tensor *x, int axis, float momentum, int first) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_dtype(ctx, range, HCL_F32, "range"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    qgeo g;
    HCL_TRY(axis_geo(ctx, x, axis, &g));
    if (range->count != 2 * g.C)
        return hcl_error(ctx, HCL_ERR_SHAPE, "range has %zu elements; it needs %zu ([min, max] for each of %zu %s)",
                         range->count, 2 * g.C, g.C, axis == -1 ? "tensor" : "channels");
    if (!first && !(momentum >= 0.0f && momentum <= 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "momentum %g outside [0, 1]", (double)momentum);
    HCL_TRY(hcl_check_no_alias(ctx, range, "range", x, "x"));
    size_t per = g.outer * g.inner, chunks = per / OBS_CHUNK_MIN;
    if (chunks < 1) chunks = 1;
    if (chunks > OBS_MAX_CHUNKS) chunks = OBS_MAX_CHUNKS;
    size_t chunk = cdiv(per, chunks);
    chunks = cdiv(per, chunk);
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, g.C * chunks * 2 * sizeof(float), &ws));
    size_t rl = obs_local(ctx);
    char opts[96];
    int used = snprintf(opts, sizeof opts, "-DRL=%zu ", rl);
    hcl_dt_options(opts + used, sizeof opts - (size_t)used, "X", x->dtype, NULL);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "observe_partial", &k));
    cl_ulong po = 0, xo = hcl_off(x), inner = g.inner, C = g.C, outer = g.outer, chk = chunk, nch = chunks;
    {
        hcl_karg a[] = {HCL_ARG(ws), HCL_ARG(po), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(inner), HCL_ARG(C),
                        HCL_ARG(outer), HCL_ARG(chk)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {rl, chunks, g.C}, local[3] = {rl, 1, 1};
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "observe_final", &k));
    cl_ulong ro = hcl_off(range);
    cl_int fi = first != 0;
    hcl_karg a[] = {HCL_ARG(range->buffer), HCL_ARG(ro), HCL_ARG(ws), HCL_ARG(po), HCL_ARG(C), HCL_ARG(nch),
                    HCL_ARG(momentum), HCL_ARG(fi)};
    return hcl_launch_1d(ctx, k, g.C, 0, a, sizeof a / sizeof a[0]);
}

hcl_status hcl_quant_params_from_range(hcl_context *ctx, hcl_tensor *scale, hcl_tensor *zero_point,
                                       const hcl_tensor *range, hcl_quant_scheme scheme) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(check_scheme(ctx, scheme));
    HCL_TRY(hcl_check_dtype(ctx, range, HCL_F32, "range"));
    if (range->count % 2) return hcl_error(ctx, HCL_ERR_SHAPE, "range has %zu elements; it must be (C, 2)", range->count);
    size_t C = range->count / 2;
    if (scheme == HCL_QUANT_UINT8_ASYMMETRIC && !zero_point)
        return hcl_error(ctx, HCL_ERR_NULL_POINTER, "zero_point is NULL; the asymmetric scheme needs one");
    HCL_TRY(check_params(ctx, scale, zero_point, (int)scheme, C, "scale", "zero_point"));
    HCL_TRY(hcl_check_no_alias(ctx, scale, "scale", range, "range"));
    HCL_TRY(hcl_check_no_alias(ctx, zero_point, "zero_point", range, "range"));
    HCL_TRY(hcl_check_no_alias(ctx, scale, "scale", zero_point, "zero_point"));
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "quant", NULL, "params_from_range", &k));
    cl_mem zbuf = zero_point ? zero_point->buffer : scale->buffer;
    cl_ulong so = hcl_off(scale), zo = zero_point ? hcl_off(zero_point) : 0, ro = hcl_off(range), c = C;
    cl_int has_zp = zero_point != NULL, asym = scheme == HCL_QUANT_UINT8_ASYMMETRIC;
    hcl_karg a[] = {HCL_ARG(scale->buffer), HCL_ARG(so), HCL_ARG(zbuf), HCL_ARG(zo), HCL_ARG(has_zp),
                    HCL_ARG(range->buffer), HCL_ARG(ro), HCL_ARG(c), HCL_ARG(asym)};
    return hcl_launch_1d(ctx, k, C, 0, a, sizeof a / sizeof a[0]);
}

/* ------------------------------------------------------------------ quantize, dequantize */

hcl_status hcl_quantize(hcl_context *ctx, hcl_tensor *q, const hcl_tensor *x, const hcl_tensor *scale,
                        const hcl_tensor *zero_point, hcl_quant_scheme scheme, int axis) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(check_scheme(ctx, scheme));
    HCL_TRY(hcl_check_dtype(ctx, q, scheme == HCL_QUANT_INT8_SYMMETRIC ? HCL_I8 : HCL_U8, "q"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(hcl_check_same_count(ctx, q, "q", x, "x"));
    qgeo g;
    HCL_TRY(axis_geo(ctx, x, axis, &g));
    HCL_TRY(check_params(ctx, scale, zero_point, (int)scheme, g.C, "scale", "zero_point"));
    HCL_TRY(hcl_check_no_alias(ctx, q, "q", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, q, "q", scale, "scale"));
    HCL_TRY(hcl_check_no_alias(ctx, q, "q", zero_point, "zero_point"));
    char opts[96];
    hcl_dt_options(opts, sizeof opts, "X", x->dtype, "Q", q->dtype, NULL);
    cl_ulong qo = hcl_off(q), xo = hcl_off(x);
    hcl_karg lead[] = {HCL_ARG(q->buffer), HCL_ARG(qo), HCL_ARG(x->buffer), HCL_ARG(xo)};
    float qmin, qmax;
    qrange(scheme, &qmin, &qmax);
    return launch_elementwise(ctx, opts, "quantize", lead, 4, scale, zero_point, &g, 1, qmin, qmax);
}

hcl_status hcl_dequantize(hcl_context *ctx, hcl_tensor *x, const hcl_tensor *q, const hcl_tensor *scale,
                          const hcl_tensor *zero_point, int axis) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(hcl_check_tensor(ctx, q, "q"));
    if (q->dtype != HCL_I8 && q->dtype != HCL_U8)
        return hcl_error(ctx, HCL_ERR_DTYPE, "q is %s; it must be i8 or u8", hcl_dtype_name(q->dtype));
    HCL_TRY(hcl_check_same_count(ctx, x, "x", q, "q"));
    qgeo g;
    HCL_TRY(axis_geo(ctx, q, axis, &g));
    HCL_TRY(check_params(ctx, scale, zero_point, -1, g.C, "scale", "zero_point"));
    HCL_TRY(hcl_check_no_alias(ctx, x, "x", q, "q"));
    HCL_TRY(hcl_check_no_alias(ctx, x, "x", scale, "scale"));
    HCL_TRY(hcl_check_no_alias(ctx, x, "x", zero_point, "zero_point"));
    char opts[96];
    hcl_dt_options(opts, sizeof opts, "Y", x->dtype, "Q", q->dtype, NULL);
    cl_ulong xo = hcl_off(x), qo = hcl_off(q);
    hcl_karg lead[] = {HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(q->buffer), HCL_ARG(qo)};
    return launch_elementwise(ctx, opts, "dequantize", lead, 4, scale, zero_point, &g, 0, 0.0f, 0.0f);
}

/* ------------------------------------------------------------------ int8 GEMM and conv */

/* One launch of gemm_i8 (quant.cl) on raw buffers. */
typedef struct i8_gemm {
    size_t m, n, k, batch;
    cl_mem a; size_t a_off, lda, a_bstride;
    cl_mem w; size_t w_off, ldw;
    const hcl_tensor *c; size_t c_off, c_rs, c_cs, c_bstride;
    const hcl_tensor *a_scale, *a_zp, *w_scale, *bias;
    hcl_activation act;
} i8_gemm;

/* The packed path (gemm_i8_pack_a/_pack_w/_main): panels of 16 rows / 32 columns as floats
 * in the GEMM workspace, float FMAs over exact k chunks. Returns 0 (nothing enqueued) when the
 * panels would not fit one allocation. */
static hcl_status i8_gemm_packed(hcl_context *ctx, const i8_gemm *g, const char *opts, int *done) {
    size_t MP = cdiv(g->m, 16), NT = cdiv(g->n, 32), S = cdiv(g->k, I8_KC);
    size_t ap_n = g->batch * MP * 16 * g->k, wp_n = NT * 32 * g->k, wp_off = rup(ap_n, 16), part_off = wp_off + rup(wp_n, 16);
    size_t part_n = S > 1 ? g->batch * S * g->m * g->n : 0;
    size_t bytes = (part_off + part_n) * sizeof(float), cap = ctx->info.max_alloc_bytes ? (size_t)ctx->info.max_alloc_bytes : (size_t)1 << 30;
    *done = 0;
    if (bytes > cap) return HCL_OK;
    cl_mem ws;
    HCL_TRY(hcl_gemm_workspace_get(ctx, bytes, &ws));
    cl_int M = (cl_int)g->m, N = (cl_int)g->n, K = (cl_int)g->k, lda = (cl_int)g->lda, ldw = (cl_int)g->ldw;
    cl_ulong ao = g->a_off, abs = g->a_bstride, wo = g->w_off, azo = g->a_zp ? hcl_off(g->a_zp) : 0, apo = 0, wpo = wp_off;
    cl_mem azb = g->a_zp ? g->a_zp->buffer : g->a_scale->buffer;
    cl_int has_azp = g->a_zp != NULL;
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "gemm_i8_pack_a", &k));
    {
        hcl_karg a[] = {HCL_ARG(M), HCL_ARG(K), HCL_ARG(g->a), HCL_ARG(ao), HCL_ARG(lda), HCL_ARG(abs),
                        HCL_ARG(azb), HCL_ARG(azo), HCL_ARG(has_azp), HCL_ARG(ws), HCL_ARG(apo)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {rup(cdiv(g->k, 16), 4), MP, g->batch}, local[3] = {4, 1, 1};
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "gemm_i8_pack_w", &k));
    {
        hcl_karg a[] = {HCL_ARG(N), HCL_ARG(K), HCL_ARG(g->w), HCL_ARG(wo), HCL_ARG(ldw), HCL_ARG(ws), HCL_ARG(wpo)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {rup(cdiv(g->k, 16), 4), NT, 1}, local[3] = {4, 1, 1};
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "gemm_i8_main", &k));
    cl_ulong co = g->c_off, crs = g->c_rs, ccs = g->c_cs, cbs = g->c_bstride, pto = part_off;
    cl_ulong aso = hcl_off(g->a_scale), wso = hcl_off(g->w_scale), bo = g->bias ? hcl_off(g->bias) : 0;
    const hcl_tensor *bt = g->bias ? g->bias : g->c;
    cl_int per_row = g->w_scale->count > 1, has_bias = g->bias != NULL, act = (cl_int)g->act, nsplit = (cl_int)S;
    float act_alpha = 0.01f;
    {
        hcl_karg a[] = {HCL_ARG(M), HCL_ARG(N), HCL_ARG(K), HCL_ARG(ws), HCL_ARG(apo), HCL_ARG(ws), HCL_ARG(wpo),
                        HCL_ARG(g->c->buffer), HCL_ARG(co), HCL_ARG(crs), HCL_ARG(ccs), HCL_ARG(cbs),
                        HCL_ARG(g->a_scale->buffer), HCL_ARG(aso), HCL_ARG(g->w_scale->buffer), HCL_ARG(wso), HCL_ARG(per_row),
                        HCL_ARG(bt->buffer), HCL_ARG(bo), HCL_ARG(has_bias), HCL_ARG(act), HCL_ARG(act_alpha),
                        HCL_ARG(nsplit), HCL_ARG(ws), HCL_ARG(pto)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {rup(MP, 4), NT, g->batch * S}, local[3] = {4, 1, 1};
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    if (S > 1) {
        HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "gemm_i8_reduce", &k));
        hcl_karg a[] = {HCL_ARG(M), HCL_ARG(N), HCL_ARG(nsplit), HCL_ARG(ws), HCL_ARG(pto),
                        HCL_ARG(g->c->buffer), HCL_ARG(co), HCL_ARG(crs), HCL_ARG(ccs), HCL_ARG(cbs),
                        HCL_ARG(g->a_scale->buffer), HCL_ARG(aso), HCL_ARG(g->w_scale->buffer), HCL_ARG(wso), HCL_ARG(per_row),
                        HCL_ARG(bt->buffer), HCL_ARG(bo), HCL_ARG(has_bias), HCL_ARG(act), HCL_ARG(act_alpha)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {g->n, g->m, g->batch}, local[3];
        local_dim0(ctx, global, local);
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    *done = 1;
    return HCL_OK;
}

/* The dot kernel for small or skinny products (measured as gemm.c's gemm_small rule), else the
 * packed path. hcl_i8_gemm_force: 1 dot, 2 packed (tests cover both paths on any shape). */
int hcl_i8_gemm_force = 0;
static int i8_uses_dot(const i8_gemm *g) {
    if (hcl_i8_gemm_force) return hcl_i8_gemm_force == 1;
    return (double)g->m * (double)g->n * (double)g->k <= 65536.0 || g->m < 8 || g->n < 8;
}

static hcl_status i8_gemm_enqueue(hcl_context *ctx, const i8_gemm *g) {
    char opts[96];
    const hcl_tensor *bt = g->bias ? g->bias : g->c;
    hcl_dt_options(opts, sizeof opts, "C", g->c->dtype, "BIAS", bt->dtype, NULL);
    if (g->m == 0 || g->n == 0) return HCL_OK;
    if (!i8_uses_dot(g)) {
        int done = 0;
        HCL_TRY(i8_gemm_packed(ctx, g, opts, &done));
        if (done) return HCL_OK;
    }
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "quant", opts, "gemm_i8", &k));
    cl_int M = (cl_int)g->m, N = (cl_int)g->n, K = (cl_int)g->k, lda = (cl_int)g->lda, ldw = (cl_int)g->ldw;
    cl_ulong ao = g->a_off, abs = g->a_bstride, wo = g->w_off, co = g->c_off, crs = g->c_rs, ccs = g->c_cs,
             cbs = g->c_bstride;
    cl_ulong aso = hcl_off(g->a_scale), azo = g->a_zp ? hcl_off(g->a_zp) : 0, wso = hcl_off(g->w_scale);
    cl_ulong bo = g->bias ? hcl_off(g->bias) : 0;
    cl_mem azb = g->a_zp ? g->a_zp->buffer : g->a_scale->buffer, bb = bt->buffer;
    cl_int has_azp = g->a_zp != NULL, per_row = g->w_scale->count > 1, has_bias = g->bias != NULL, act = (cl_int)g->act;
    float act_alpha = 0.01f;
    hcl_karg a[] = {HCL_ARG(M), HCL_ARG(N), HCL_ARG(K), HCL_ARG(g->a), HCL_ARG(ao), HCL_ARG(lda), HCL_ARG(abs),
                    HCL_ARG(g->w), HCL_ARG(wo), HCL_ARG(ldw),
                    HCL_ARG(g->c->buffer), HCL_ARG(co), HCL_ARG(crs), HCL_ARG(ccs), HCL_ARG(cbs),
                    HCL_ARG(g->a_scale->buffer), HCL_ARG(aso), HCL_ARG(azb), HCL_ARG(azo), HCL_ARG(has_azp),
                    HCL_ARG(g->w_scale->buffer), HCL_ARG(wso), HCL_ARG(per_row),
                    HCL_ARG(bb), HCL_ARG(bo), HCL_ARG(has_bias), HCL_ARG(act), HCL_ARG(act_alpha)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
    size_t global[3] = {rup(cdiv(g->m, QTM), QWG), cdiv(g->n, QTN), g->batch}, local[3] = {QWG, 1, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* The scales, zero point, bias and activation shared by the int8 GEMM and conv. */
static hcl_status check_i8_epilogue(hcl_context *ctx, const hcl_tensor *out, const char *out_name, const hcl_tensor *a_scale,
                                    const hcl_tensor *a_zp, const char *aname, const char *azname, const hcl_tensor *w_scale,
                                    size_t n, const hcl_tensor *bias, hcl_activation act, const hcl_tensor *a,
                                    const char *a_tname, const hcl_tensor *w) {
    HCL_TRY(check_params(ctx, a_scale, a_zp, HCL_QUANT_UINT8_ASYMMETRIC, 1, aname, azname));
    HCL_TRY(hcl_check_dtype(ctx, w_scale, HCL_F32, "w_scale"));
    if (w_scale->count != n && w_scale->count != 1)
        return hcl_error(ctx, HCL_ERR_SHAPE, "w_scale has %zu elements; it needs %zu (one per output channel) or 1",
                         w_scale->count, n);
    if (bias) {
        HCL_TRY(hcl_check_float(ctx, bias, "bias"));
        if (bias->count != n) return hcl_error(ctx, HCL_ERR_SHAPE, "bias has %zu elements; it needs %zu", bias->count, n);
    }
    if ((unsigned)act >= HCL_ACT_COUNT_) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid activation %d", (int)act);
    const hcl_tensor *ins[] = {a, w, a_scale, a_zp, w_scale, bias};
    const char *names[] = {a_tname, "w", aname, azname, "w_scale", "bias"};
    const hcl_tensor *outs[] = {out};
    const char *onames[] = {out_name};
    return hcl_check_no_alias_all(ctx, outs, onames, 1, ins, names, 6);
}

hcl_status hcl_gemm_i8(hcl_context *ctx, hcl_tensor *c, const hcl_tensor *a, const hcl_tensor *a_scale,
                       const hcl_tensor *a_zero_point, const hcl_tensor *w, const hcl_tensor *w_scale,
                       const hcl_tensor *bias, hcl_activation act) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, c, "c"));
    HCL_TRY(hcl_check_dtype(ctx, a, HCL_U8, "a"));
    HCL_TRY(hcl_check_dtype(ctx, w, HCL_I8, "w"));
    HCL_TRY(hcl_check_rank(ctx, c, 2, "c"));
    HCL_TRY(hcl_check_rank(ctx, a, 2, "a"));
    HCL_TRY(hcl_check_rank(ctx, w, 2, "w"));
    size_t M = (size_t)a->shape[0], K = (size_t)a->shape[1], N = (size_t)w->shape[0];
    if ((size_t)w->shape[1] != K)
        return hcl_error(ctx, HCL_ERR_SHAPE, "a is %zux%zu but w is %lldx%lld: K differs (w is (N, K))", M, K,
                         (long long)w->shape[0], (long long)w->shape[1]);
    if ((size_t)c->shape[0] != M || (size_t)c->shape[1] != N)
        return hcl_error(ctx, HCL_ERR_SHAPE, "c is %lldx%lld; it must be %zux%zu (M, N)", (long long)c->shape[0],
                         (long long)c->shape[1], M, N);
    if (K > I8_MAX_K)
        return hcl_error(ctx, HCL_ERR_SHAPE, "K = %zu exceeds %d: the int32 accumulation could overflow", K, I8_MAX_K);
    if (M > 0x7fffffff || N > 0x7fffffff)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "M and N must be below 2^31");
    HCL_TRY(check_i8_epilogue(ctx, c, "c", a_scale, a_zero_point, "a_scale", "a_zero_point", w_scale, N, bias, act, a, "a", w));
    i8_gemm g = {.m = M, .n = N, .k = K, .batch = 1, .a = a->buffer, .a_off = a->offset, .lda = K, .a_bstride = 0,
                 .w = w->buffer, .w_off = w->offset, .ldw = K, .c = c, .c_off = c->offset, .c_rs = N, .c_cs = 1,
                 .c_bstride = 0, .a_scale = a_scale, .a_zp = a_zero_point, .w_scale = w_scale, .bias = bias, .act = act};
    return i8_gemm_enqueue(ctx, &g);
}

hcl_status hcl_conv2d_i8_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *x_scale,
                                 const hcl_tensor *x_zero_point, const hcl_tensor *w, const hcl_tensor *w_scale,
                                 const hcl_tensor *bias, int stride, int pad, hcl_activation act) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_dtype(ctx, x, HCL_U8, "x"));
    HCL_TRY(hcl_check_dtype(ctx, w, HCL_I8, "w"));
    HCL_TRY(hcl_check_rank(ctx, y, 4, "y"));
    HCL_TRY(hcl_check_rank(ctx, x, 4, "x"));
    HCL_TRY(hcl_check_rank(ctx, w, 4, "w"));
    if (stride < 1 || pad < 0)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "stride %d must be >= 1 and pad %d >= 0", stride, pad);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t K = w->shape[0], R = w->shape[2];
    if (w->shape[1] != C)
        return hcl_error(ctx, HCL_ERR_SHAPE, "w has %lld input channels, x has %lld", (long long)w->shape[1], (long long)C);
    if (w->shape[3] != R)
        return hcl_error(ctx, HCL_ERR_SHAPE, "w is %lldx%lld per channel: the int8 conv takes square kernels",
                         (long long)R, (long long)w->shape[3]);
    if (pad > 0x3fffffff || H + 2 * (int64_t)pad > 0x7fffffff || W + 2 * (int64_t)pad > 0x7fffffff)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "padded image too large");
    int64_t P = hcl_conv2d_out_size(H, R, stride, pad, 1), Q = hcl_conv2d_out_size(W, R, stride, pad, 1);
    if (P < 1 || Q < 1)
        return hcl_error(ctx, HCL_ERR_SHAPE, "a %lldx%lld kernel does not fit the %lldx%lld input with pad %d", (long long)R,
                         (long long)R, (long long)H, (long long)W, pad);
    if (y->shape[0] != N || y->shape[1] != K || y->shape[2] != P || y->shape[3] != Q)
        return hcl_error(ctx, HCL_ERR_SHAPE, "y is (%lld,%lld,%lld,%lld); it must be (%lld,%lld,%lld,%lld)",
                         (long long)y->shape[0], (long long)y->shape[1], (long long)y->shape[2], (long long)y->shape[3],
                         (long long)N, (long long)K, (long long)P, (long long)Q);
    size_t CRS = (size_t)(C * R * R), PQ = (size_t)(P * Q);
    if (CRS > I8_MAX_K)
        return hcl_error(ctx, HCL_ERR_SHAPE, "C*R*R = %zu exceeds %d: the int32 accumulation could overflow", CRS, I8_MAX_K);
    if (PQ > 0x7fffffff) return hcl_error(ctx, HCL_ERR_OVERFLOW, "P*Q must be below 2^31");
    HCL_TRY(check_i8_epilogue(ctx, y, "y", x_scale, x_zero_point, "x_scale", "x_zero_point", w_scale, (size_t)K, bias, act,
                              x, "x", w));
    size_t per_image = PQ * CRS;
    size_t nc = CONV_I8_COLS_CAP / per_image;
    if (nc < 1) nc = 1;
    if (nc > (size_t)N) nc = (size_t)N;
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, per_image * nc, &ws));
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "quant", NULL, "im2col_u8", &k));
    for (size_t n0 = 0; n0 < (size_t)N; n0 += nc) {
        size_t cnt = (size_t)N - n0 < nc ? (size_t)N - n0 : nc;
        cl_ulong co = 0, xo = x->offset + n0 * (size_t)(C * H * W), azo = x_zero_point ? hcl_off(x_zero_point) : 0;
        cl_mem azb = x_zero_point ? x_zero_point->buffer : x_scale->buffer;
        cl_int has_azp = x_zero_point != NULL, c_ = (cl_int)C, h_ = (cl_int)H, w_ = (cl_int)W, r_ = (cl_int)R,
               p_ = (cl_int)P, q_ = (cl_int)Q, st = stride, pd = pad;
        hcl_karg a[] = {HCL_ARG(ws), HCL_ARG(co), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(azb), HCL_ARG(azo),
                        HCL_ARG(has_azp), HCL_ARG(c_), HCL_ARG(h_), HCL_ARG(w_), HCL_ARG(r_), HCL_ARG(p_), HCL_ARG(q_),
                        HCL_ARG(st), HCL_ARG(pd)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {CRS, PQ, cnt}, local[3];
        local_dim0(ctx, global, local);
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
        /* y[n] (K, PQ) = w (K, CRS) . cols[n] (PQ, CRS)^T: rows of the U8 operand are pixels, the
         * output is stored transposed (pixel stride 1, channel stride PQ) */
        i8_gemm g = {.m = PQ, .n = (size_t)K, .k = CRS, .batch = cnt, .a = ws, .a_off = 0, .lda = CRS,
                     .a_bstride = per_image, .w = w->buffer, .w_off = w->offset, .ldw = CRS, .c = y,
                     .c_off = y->offset + n0 * (size_t)K * PQ, .c_rs = 1, .c_cs = PQ, .c_bstride = (size_t)K * PQ,
                     .a_scale = x_scale, .a_zp = x_zero_point, .w_scale = w_scale, .bias = bias, .act = act};
        HCL_TRY(i8_gemm_enqueue(ctx, &g));
    }
    return HCL_OK;
}
