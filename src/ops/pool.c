/* 2-D pooling launchers (NCHW): max pooling with an I32 (flat index) or U8 (window offset) argmax, average pooling, global average
 * pooling, forward and backward. Output sizes use floor mode: (H + 2 pad - kernel) / stride + 1.
 * Kernels live in cl_kernels/pool.cl; the backward kernels gather (deterministic, no atomics).
 * Windows up to 16 cells run the fixed-window kernels (window compiled in), others the generic. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "ops/ops_internal.h"

void hcl_pool2d_desc_init(hcl_pool2d_desc *d, int kernel, int stride) {
    if (!d) return;
    d->kernel_h = d->kernel_w = kernel;
    d->stride_h = d->stride_w = stride;
    d->pad_h = d->pad_w = 0;
    d->count_include_pad = 1;
}

typedef struct pool_geo {
    int n, c, h, w, p, q;
} pool_geo;

/* The kernels' geometry arguments: 13 ints in the order of POOL_GEO in pool.cl. */
typedef struct geo_ints { cl_int v[13]; } geo_ints;
#define GEO_KARGS(gi)                                                                                  \
    HCL_ARG((gi).v[0]), HCL_ARG((gi).v[1]), HCL_ARG((gi).v[2]), HCL_ARG((gi).v[3]), HCL_ARG((gi).v[4]),  \
        HCL_ARG((gi).v[5]), HCL_ARG((gi).v[6]), HCL_ARG((gi).v[7]), HCL_ARG((gi).v[8]), HCL_ARG((gi).v[9]), \
        HCL_ARG((gi).v[10]), HCL_ARG((gi).v[11]), HCL_ARG((gi).v[12])

static geo_ints pool_geo_arg(const pool_geo *g, const hcl_pool2d_desc *d) {
    geo_ints v = {{g->n, g->c, g->h, g->w, g->p, g->q, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h,
                   d->pad_w, d->count_include_pad ? 1 : 0}};
    return v;
}

/* x-side (N,C,H,W) and y-side (N,C,P,Q) float tensors of a pooling call, the desc, and
 * optionally the argmax (I32, or U8 when the window has at most 256 cells; y's shape). */
static hcl_status pool_check(hcl_context *ctx, const hcl_pool2d_desc *d, const hcl_tensor *x, const char *xn,
                             const hcl_tensor *y, const char *yn, const hcl_tensor *am, int need_am, pool_geo *g) {
    HCL_CHECK_NULL(ctx, d);
    HCL_TRY(hcl_check_float(ctx, x, xn));
    HCL_TRY(hcl_check_float(ctx, y, yn));
    HCL_TRY(hcl_check_rank(ctx, x, 4, xn));
    HCL_TRY(hcl_check_rank(ctx, y, 4, yn));
    if (d->kernel_h < 1 || d->kernel_w < 1 || d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "pool desc: kernel %dx%d, stride %dx%d (>= 1), pad %dx%d (>= 0)",
                         d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    if (d->pad_h > d->kernel_h / 2 || d->pad_w > d->kernel_w / 2) /* 2 pad > kernel, without overflow */
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "pool pad %dx%d must be at most half the kernel %dx%d", d->pad_h,
                         d->pad_w, d->kernel_h, d->kernel_w);
    for (int i = 0; i < 4; i++)
        if (x->shape[i] > INT_MAX || y->shape[i] > INT_MAX) return hcl_error(ctx, HCL_ERR_OVERFLOW, "pool dims must fit in int");
    if (x->shape[0] * x->shape[1] > INT_MAX || x->shape[2] * x->shape[3] > INT_MAX)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "pool too large for 32-bit kernel indices (N*C, H*W)");
    g->n = (int)x->shape[0]; g->c = (int)x->shape[1]; g->h = (int)x->shape[2]; g->w = (int)x->shape[3];
    int64_t p = hcl_conv2d_out_size(g->h, d->kernel_h, d->stride_h, d->pad_h, 1);
    int64_t q = hcl_conv2d_out_size(g->w, d->kernel_w, d->stride_w, d->pad_w, 1);
    if (p < 1 || q < 1)
        return hcl_error(ctx, HCL_ERR_SHAPE, "pool output would be empty: %s %dx%d with kernel %dx%d, pad %dx%d", xn, g->h,
                         g->w, d->kernel_h, d->kernel_w, d->pad_h, d->pad_w);
    g->p = (int)p;
    g->q = (int)q;
    if (y->shape[0] != g->n || y->shape[1] != g->c || y->shape[2] != p || y->shape[3] != q)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s is (%lld,%lld,%lld,%lld); it must be (N,C,P,Q) = (%d,%d,%lld,%lld)", yn,
                         (long long)y->shape[0], (long long)y->shape[1], (long long)y->shape[2], (long long)y->shape[3],
                         g->n, g->c, (long long)p, (long long)q);
    if (am || need_am) {
        HCL_TRY(hcl_check_tensor(ctx, am, "argmax"));
        if (am->dtype != HCL_I32 && am->dtype != HCL_U8)
            return hcl_error(ctx, HCL_ERR_DTYPE, "argmax is %s; it must be i32 or u8", hcl_dtype_name(am->dtype));
        if (am->dtype == HCL_U8 && (int64_t)d->kernel_h * d->kernel_w > 256)
            return hcl_error(ctx, HCL_ERR_DTYPE, "a u8 argmax holds window offsets up to 255: the %dx%d "
                             "window needs an i32 argmax", d->kernel_h, d->kernel_w);
        if (!hcl_tensor_same_shape(am, y))
            return hcl_error(ctx, HCL_ERR_SHAPE, "argmax must have the shape of %s (N,C,P,Q)", yn);
    }
    return HCL_OK;
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

/* The argmax storage option of pool.cl (none for I32, the default, and for no argmax). */
static const char *am_option(const hcl_tensor *argmax) {
    return argmax && argmax->dtype == HCL_U8 ? " -DPOOL_AM_U8=1" : "";
}

static hcl_status pool_kernel(hcl_context *ctx, hcl_dtype xd, hcl_dtype yd, const hcl_tensor *argmax, const char *name,
                              cl_kernel *k) {
    char opts[128];
    hcl_dt_options(opts, sizeof opts, "X", xd, "Y", yd, NULL);
    size_t u = strlen(opts);
    snprintf(opts + u, sizeof opts - u, "%s", am_option(argmax));
    return hcl_kernel_get(ctx, "pool", opts, name, k);
}

/* ---- Fixed-window kernels (pool.cl's *_fixed): the window as -D constants, range (QR, P, N*C) ---- */
typedef struct fixed_plan {
    int ok;                 /* 0: use the generic kernels */
    int rem;                /* some cells of x lie in no window's stride block */
    int pair;               /* stride_w 2, kernel_w <= 2, pad_w 0, W and x's offset even: pair loads/stores */
    cl_int sizes[6];        /* POOL_SIZES: H, W, P, Q, QR, R0 */
    size_t global[3], local[3];
} fixed_plan;

/* Plans the fixed-window launch: small windows only (the loops unroll), and tensors large enough
 * that every lane's loads stay inside x and y. Lane l of row r computes column
 * q = l - (r >= R0 ? QR - Q : 0): R0 is the first row whose shifted lanes start inside x and y;
 * the rows before it read QR lanes forward, which must end inside x and y. */
static fixed_plan plan_fixed(const pool_geo *g, const hcl_pool2d_desc *d, const hcl_tensor *x) {
    fixed_plan f;
    memset(&f, 0, sizeof f);
    if (d->kernel_h * d->kernel_w > 16 || d->stride_h > 4 || d->stride_w > 4) return f;
    int64_t l0 = g->q <= 8 ? 8 : 16, qr = (g->q + l0 - 1) / l0 * l0, shift = qr - g->q;
    int64_t rows = (int64_t)g->n * g->c * g->p, nx = (int64_t)g->n * g->c * g->h * g->w, ny = rows * g->q;
    if (rows > INT_MAX || ny + qr > INT_MAX) return f;
    int64_t r0 = 0;
    for (; r0 < rows && r0 < 64; r0++) {
        int64_t nc = r0 / g->p, h = r0 % g->p * d->stride_h - d->pad_h;
        int64_t xlo = (nc * g->h + (h > 0 ? h : 0)) * g->w; /* first cell the row reads */
        if ((d->pad_w > 0 || xlo >= shift * d->stride_w) && r0 * g->q >= shift) break;
    }
    if (r0 == rows || r0 == 64) r0 = rows;
    if (r0 > 0) {
        int64_t r = r0 - 1, nc = r / g->p, h = r % g->p * d->stride_h - d->pad_h + d->kernel_h - 1;
        if (h > g->h - 1) h = g->h - 1;
        int64_t xhi = (nc * g->h + h) * g->w + (qr - 1) * d->stride_w + d->kernel_w - 1; /* columns clamp when padded */
        if ((d->pad_w == 0 && xhi >= nx) || r * g->q + qr > ny) return f;
    }
    /* cells after the last window's block: rows from P*SH - PH, columns from Q*SW - PW */
    f.rem = (int64_t)g->p * d->stride_h - d->pad_h < g->h || (int64_t)g->q * d->stride_w - d->pad_w < g->w;
    f.pair = d->stride_w == 2 && d->kernel_w <= 2 && d->pad_w == 0 && g->w % 2 == 0 && hcl_off(x) % 2 == 0;
    cl_int s[6] = {g->h, g->w, g->p, g->q, (cl_int)qr, (cl_int)r0};
    memcpy(f.sizes, s, sizeof s);
    /* work-groups of QR x up to 256 / QR rows of one plane (more rows than P are clamped) */
    f.local[0] = (size_t)l0;
    f.local[1] = (size_t)(256 / l0 < g->p ? 256 / l0 : g->p);
    f.local[2] = 1;
    f.global[0] = (size_t)qr;
    f.global[1] = ((size_t)g->p + f.local[1] - 1) / f.local[1] * f.local[1];
    f.global[2] = (size_t)g->n * g->c;
    f.ok = 1;
    return f;
}

/* Gets a fixed-window kernel, sets its arguments (`args` then POOL_SIZES) and runs it. */
static hcl_status run_fixed(hcl_context *ctx, hcl_dtype xd, hcl_dtype yd, const hcl_tensor *argmax,
                            const hcl_pool2d_desc *d, const fixed_plan *f, const char *name, const hcl_karg *args,
                            size_t nargs) {
    char opts[256];
    hcl_dt_options(opts, sizeof opts, "X", xd, "Y", yd, NULL);
    size_t u = strlen(opts);
    snprintf(opts + u, sizeof opts - u, " -DPKH=%d -DPKW=%d -DPSH=%d -DPSW=%d -DPPH=%d -DPPW=%d -DPCIP=%d -DPREM=%d -DPPAIR=%d%s",
             d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->count_include_pad ? 1 : 0, f->rem,
             f->pair, am_option(argmax));
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "pool", opts, name, &k));
    hcl_karg a[16];
    size_t n = 0;
    for (; n < nargs; n++) a[n] = args[n];
    for (int i = 0; i < 6; i++) a[n++] = HCL_ARG(f->sizes[i]);
    HCL_TRY(hcl_kernel_set_args(ctx, k, a, n));
    return hcl_kernel_run(ctx, k, 3, f->global, f->local);
}

/* Windows do not overlap: the backward writes each window's own cells (no gather). */
static int disjoint(const hcl_pool2d_desc *d) { return d->stride_h >= d->kernel_h && d->stride_w >= d->kernel_w; }

/* dx (N,C,H,W) from dy (N,C,P,Q) for non-overlapping windows: max (argmax given) or average. */
static hcl_status bwd_disjoint(hcl_context *ctx, const pool_geo *g, hcl_tensor *dx, const hcl_tensor *dy,
                               const hcl_tensor *argmax, const hcl_pool2d_desc *d, geo_ints geo) {
    fixed_plan f = plan_fixed(g, d, dx);
    if (f.ok) {
        cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy), a_off = argmax ? hcl_off(argmax) : 0;
        cl_mem abuf = argmax ? argmax->buffer : dy->buffer;
        hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(abuf),
                        HCL_ARG(a_off)};
        return run_fixed(ctx, dx->dtype, dy->dtype, argmax, d, &f, argmax ? "maxpool_bwd_fixed" : "avgpool_bwd_fixed", a,
                         argmax ? 6 : 4);
    }
    cl_kernel k;
    HCL_TRY(pool_kernel(ctx, dx->dtype, dy->dtype, argmax, argmax ? "maxpool_bwd_disjoint" : "avgpool_bwd_disjoint", &k));
    cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy);
    if (!argmax) {
        hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), GEO_KARGS(geo)};
        return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g->q, (size_t)g->p, (size_t)g->n * g->c);
    }
    cl_ulong a_off = hcl_off(argmax);
    hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(argmax->buffer),
                    HCL_ARG(a_off), GEO_KARGS(geo)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g->q, (size_t)g->p, (size_t)g->n * g->c);
}

hcl_status hcl_maxpool2d_forward(hcl_context *ctx, hcl_tensor *y, hcl_tensor *argmax, const hcl_tensor *x,
                                 const hcl_pool2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    pool_geo g;
    HCL_TRY(pool_check(ctx, desc, x, "x", y, "y", argmax, 0, &g));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, argmax, "argmax", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, argmax, "argmax", y, "y"));
    cl_ulong y_off = hcl_off(y), a_off = argmax ? hcl_off(argmax) : 0, x_off = hcl_off(x);
    cl_int has_am = argmax != NULL;
    cl_mem abuf = argmax ? argmax->buffer : y->buffer;
    fixed_plan f = plan_fixed(&g, desc, x);
    if (f.ok) {
        hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(abuf), HCL_ARG(a_off), HCL_ARG(has_am),
                        HCL_ARG(x->buffer), HCL_ARG(x_off)};
        return run_fixed(ctx, x->dtype, y->dtype, argmax, desc, &f, "maxpool_fwd_fixed", a, sizeof a / sizeof a[0]);
    }
    cl_kernel k;
    HCL_TRY(pool_kernel(ctx, x->dtype, y->dtype, argmax, "maxpool_fwd", &k));
    geo_ints geo = pool_geo_arg(&g, desc);
    hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(abuf), HCL_ARG(a_off), HCL_ARG(has_am),
                    HCL_ARG(x->buffer), HCL_ARG(x_off), GEO_KARGS(geo)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g.q, (size_t)g.p, (size_t)g.n * g.c);
}

hcl_status hcl_maxpool2d_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *argmax,
                                  const hcl_pool2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    pool_geo g;
    HCL_TRY(pool_check(ctx, desc, dx, "dx", dy, "dy", argmax, 1, &g));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", argmax, "argmax"));
    cl_kernel k;
    geo_ints geo = pool_geo_arg(&g, desc);
    cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy), a_off = hcl_off(argmax);
    if (disjoint(desc)) return bwd_disjoint(ctx, &g, dx, dy, argmax, desc, geo);
    HCL_TRY(pool_kernel(ctx, dx->dtype, dy->dtype, argmax, "maxpool_bwd", &k));
    hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(argmax->buffer),
                    HCL_ARG(a_off), GEO_KARGS(geo)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g.w, (size_t)g.h, (size_t)g.n * g.c);
}

hcl_status hcl_avgpool2d_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_pool2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    pool_geo g;
    HCL_TRY(pool_check(ctx, desc, x, "x", y, "y", NULL, 0, &g));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    cl_ulong y_off = hcl_off(y), x_off = hcl_off(x);
    fixed_plan f = plan_fixed(&g, desc, x);
    if (f.ok) {
        hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off)};
        return run_fixed(ctx, x->dtype, y->dtype, NULL, desc, &f, "avgpool_fwd_fixed", a, sizeof a / sizeof a[0]);
    }
    cl_kernel k;
    HCL_TRY(pool_kernel(ctx, x->dtype, y->dtype, NULL, "avgpool_fwd", &k));
    geo_ints geo = pool_geo_arg(&g, desc);
    hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off), GEO_KARGS(geo)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g.q, (size_t)g.p, (size_t)g.n * g.c);
}

hcl_status hcl_avgpool2d_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_pool2d_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    pool_geo g;
    HCL_TRY(pool_check(ctx, desc, dx, "dx", dy, "dy", NULL, 0, &g));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    cl_kernel k;
    geo_ints geo = pool_geo_arg(&g, desc);
    if (disjoint(desc)) return bwd_disjoint(ctx, &g, dx, dy, NULL, desc, geo);
    HCL_TRY(pool_kernel(ctx, dx->dtype, dy->dtype, NULL, "avgpool_bwd", &k));
    cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy);
    hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), GEO_KARGS(geo)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)g.w, (size_t)g.h, (size_t)g.n * g.c);
}

/* x (N,C,H,W) and y (N,C) or (N,C,1,1). */
static hcl_status global_check(hcl_context *ctx, const hcl_tensor *x, const char *xn, const hcl_tensor *y, const char *yn) {
    HCL_TRY(hcl_check_float(ctx, x, xn));
    HCL_TRY(hcl_check_float(ctx, y, yn));
    HCL_TRY(hcl_check_rank(ctx, x, 4, xn));
    int ok = (y->rank == 2 || (y->rank == 4 && y->shape[2] == 1 && y->shape[3] == 1)) && y->shape[0] == x->shape[0] &&
             y->shape[1] == x->shape[1];
    if (!ok)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s must be (N,C) or (N,C,1,1) with N=%lld, C=%lld of %s", yn,
                         (long long)x->shape[0], (long long)x->shape[1], xn);
    return HCL_OK;
}

hcl_status hcl_global_avgpool_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(global_check(ctx, x, "x", y, "y"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    cl_kernel k;
    HCL_TRY(pool_kernel(ctx, x->dtype, y->dtype, NULL, "global_avgpool_fwd", &k));
    cl_ulong y_off = hcl_off(y), x_off = hcl_off(x), nc = y->count, hw = (cl_ulong)(x->shape[2] * x->shape[3]);
    hcl_karg a[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off), HCL_ARG(nc), HCL_ARG(hw)};
    return hcl_launch_1d(ctx, k, (size_t)nc, 0, a, sizeof a / sizeof a[0]);
}

hcl_status hcl_global_avgpool_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(global_check(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    cl_kernel k;
    HCL_TRY(pool_kernel(ctx, dx->dtype, dy->dtype, NULL, "global_avgpool_bwd", &k));
    cl_ulong dx_off = hcl_off(dx), dy_off = hcl_off(dy), nc = dy->count, hw = (cl_ulong)(dx->shape[2] * dx->shape[3]);
    hcl_karg a[] = {HCL_ARG(dx->buffer), HCL_ARG(dx_off), HCL_ARG(dy->buffer), HCL_ARG(dy_off), HCL_ARG(nc), HCL_ARG(hw)};
    return launch3(ctx, k, a, sizeof a / sizeof a[0], (size_t)hw, (size_t)nc, 1);
}
