/* Elementwise and reduction launchers: y = a op b with channel/row broadcasting, the broadcast
 * gradient (sum over the broadcast dims), scale, axpy, sum/mean/max over any axis, argmax and
 * the correct-prediction count. Kernels: cl_kernels/elementwise.cl. Reductions are deterministic:
 * a fixed order that depends only on the shape and the device's work-group size, FP32 partials
 * in the context workspace, no float atomics. */
#include <stdio.h>
#include "ops/ops_internal.h"

int hcl_elementwise_vec_override = 0;

int hcl_elementwise_vec(const hcl_context *ctx) {
    if (hcl_elementwise_vec_override == 1 || hcl_elementwise_vec_override == 8) return hcl_elementwise_vec_override;
    return ctx->info.is_gpu ? 8 : 1;
}

/* out is exactly in (same buffer, offset, dtype and count): the allowed in-place case. */
static int same_tensor(const hcl_tensor *out, const hcl_tensor *in) {
    return out->buffer == in->buffer && out->offset == in->offset && out->dtype == in->dtype && out->count == in->count;
}

static size_t dims_product(const hcl_tensor *t, int from, int to) {
    size_t p = 1;
    for (int i = from; i < to; i++) p *= (size_t)t->shape[i];
    return p;
}

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* Work-group size of the reductions and count_correct: 64, or the largest power of two the
 * device allows. */
static size_t red_local(const hcl_context *ctx) {
    size_t l = 64;
    while (l > 1 && l > ctx->info.max_work_group_size) l /= 2;
    return l;
}

/* Work-groups of a 3-D launch along dim 0 only: the driver's choice can put the small outer
 * dims in a group, which PoCL runs up to 10x slower. A power of two up to 64, no more than
 * dim 0 needs (kernels guard the rounded-up range). */
static void row_local(const hcl_context *ctx, const size_t global[3], size_t local[3]) {
    local[0] = local[1] = local[2] = 1;
    while (local[0] < 64 && local[0] < global[0] && local[0] * 2 <= ctx->info.max_work_group_size) local[0] *= 2;
}

/* Build options of elementwise.cl: one program per (elements per work-item, dtypes) holds every
 * kernel, so ops on the same dtypes share one build. */
static const char *elt_options(hcl_context *ctx, char *buf, size_t len, hcl_dtype y, hcl_dtype a, hcl_dtype b, hcl_dtype x) {
    int used = snprintf(buf, len, "-DVEC=%d -DRL=%zu ", hcl_elementwise_vec(ctx), red_local(ctx));
    hcl_dt_options(buf + used, len - (size_t)used, "Y", y, "A", a, "B", b, "X", x, NULL);
    return buf;
}

/* ------------------------------------------------------------------ binary */

/* y (outer, mid, inner) = a op b; b indexed as the broadcast mode says. */
static hcl_status binary_enqueue(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *a, const hcl_tensor *b,
                                 hcl_binary_op op, hcl_broadcast bcast, size_t outer, size_t mid, size_t inner) {
    int vec = hcl_elementwise_vec(ctx);
    char opts[192], name[32];
    elt_options(ctx, opts, sizeof opts, y->dtype, a->dtype, b->dtype, a->dtype);
    snprintf(name, sizeof name, "binary_%d_%d", (int)op, (int)bcast);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "elementwise", opts, name, &k));
    cl_ulong yo = hcl_off(y), ao = hcl_off(a), bo = hcl_off(b), in = inner, md = mid;
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(yo), HCL_ARG(a->buffer), HCL_ARG(ao),
                       HCL_ARG(b->buffer), HCL_ARG(bo), HCL_ARG(in), HCL_ARG(md)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global[3] = {ceil_div(inner, (size_t)vec), mid, outer}, local[3];
    row_local(ctx, global, local);
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* y = a op b (b broadcast per bcast); y may be a. */
hcl_status hcl_binary(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *a, const hcl_tensor *b, hcl_binary_op op,
                      hcl_broadcast bcast) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, a, "a"));
    HCL_TRY(hcl_check_float(ctx, b, "b"));
    if ((unsigned)op > HCL_OP_MUL) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid binary op %d", (int)op);
    if ((unsigned)bcast > HCL_BCAST_ROW) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid broadcast %d", (int)bcast);
    HCL_TRY(hcl_check_same_count(ctx, y, "y", a, "a"));
    size_t outer = 1, mid = 1, inner = a->count;
    if (bcast == HCL_BCAST_NONE) {
        HCL_TRY(hcl_check_same_count(ctx, b, "b", a, "a"));
    } else if (bcast == HCL_BCAST_CHANNEL) {
        if (a->rank < 2) return hcl_error(ctx, HCL_ERR_SHAPE, "channel broadcast needs a of rank >= 2 (N,C,...), a has rank %d", a->rank);
        mid = (size_t)a->shape[1];
        if (b->count != mid) return hcl_error(ctx, HCL_ERR_SHAPE, "b has %zu elements, a has %zu channels", b->count, mid);
        outer = (size_t)a->shape[0];
        inner = dims_product(a, 2, a->rank);
        if (inner == 1) { /* (N, C): the same as a row broadcast, which vectorises along C */
            bcast = HCL_BCAST_ROW;
            inner = mid;
            mid = outer;
            outer = 1;
        }
    } else {
        if (a->rank < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "row broadcast needs a of rank >= 1");
        inner = (size_t)a->shape[a->rank - 1];
        if (b->count != inner) return hcl_error(ctx, HCL_ERR_SHAPE, "b has %zu elements, a's rows have %zu", b->count, inner);
        mid = a->count / inner;
    }
    if (!same_tensor(y, a)) HCL_TRY(hcl_check_no_alias(ctx, y, "y", a, "a"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", b, "b"));
    return binary_enqueue(ctx, y, a, b, op, bcast, outer, mid, inner);
}

/* ------------------------------------------------------------------ scale, axpy */

static hcl_status unary_enqueue(hcl_context *ctx, const char *name, hcl_tensor *y, const hcl_tensor *x, float alpha) {
    int vec = hcl_elementwise_vec(ctx);
    char opts[192];
    elt_options(ctx, opts, sizeof opts, y->dtype, x->dtype, x->dtype, x->dtype);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "elementwise", opts, name, &k));
    cl_ulong yo = hcl_off(y), xo = hcl_off(x), n = x->count;
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(yo), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(n), HCL_ARG(alpha)};
    return hcl_launch_1d(ctx, k, ceil_div(x->count, (size_t)vec), 0, args, sizeof args / sizeof args[0]);
}

/* y = alpha x; y may be x. */
hcl_status hcl_scale(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, float alpha) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(hcl_check_same_count(ctx, y, "y", x, "x"));
    if (!same_tensor(y, x)) HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    return unary_enqueue(ctx, "scale", y, x, alpha);
}

/* y += alpha x; y must not overlap x. */
hcl_status hcl_axpy(hcl_context *ctx, hcl_tensor *y, float alpha, const hcl_tensor *x) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(hcl_check_same_count(ctx, y, "y", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    return unary_enqueue(ctx, "axpy", y, x, alpha);
}

/* ------------------------------------------------------------------ reductions */

typedef struct red_buf { cl_mem buf; size_t off; hcl_dtype dt; } red_buf;

/* Below this many outputs, a long reduction is split into chunks (partials in the workspace,
 * reduced in a further pass) so that enough work-items run. On CPUs a strided reduction (inner >
 * 1) is cut into chunks of RED_CPU_ROWS rows whatever the output count: a work-item walks a
 * column, and the lines it shares with its neighbours must still be in cache when they run
 * (measured 10x on PoCL for 4096 x 1024). The chunking depends only on the shape and the device
 * type, so results are the same bits every run. */
#define RED_MIN_OUTPUTS 1024
#define RED_CHUNK_MIN 1024
#define RED_MAX_CHUNKS 64
#define RED_CPU_ROWS 64
/* Rows at least this long (inner == 1) get a work-group each on GPUs. */
#define RED_ROWS_MIN 256

static int red_gpu_paths(const hcl_context *ctx) { return ctx->info.is_gpu || hcl_elementwise_vec_override == 8; }

static size_t red_chunks(const hcl_context *ctx, size_t outer, size_t R, size_t inner) {
    if (!red_gpu_paths(ctx) && inner > 1 && R > 2 * RED_CPU_ROWS) return ceil_div(R, RED_CPU_ROWS);
    if (outer * inner >= RED_MIN_OUTPUTS || R < 2 * RED_CHUNK_MIN) return 1;
    size_t c = R / RED_CHUNK_MIN;
    return c > RED_MAX_CHUNKS ? RED_MAX_CHUNKS : c;
}

/* FP32 workspace elements a reduction of x (outer, R, inner) needs: its partials, then those of
 * the pass that reduces them. */
static size_t red_ws(const hcl_context *ctx, size_t outer, size_t R, size_t inner) {
    size_t c = red_chunks(ctx, outer, R, inner);
    return c > 1 ? outer * c * inner + red_ws(ctx, outer, c, inner) : 0;
}

static hcl_status red_pass(hcl_context *ctx, red_buf y, red_buf x, size_t outer, size_t R, size_t inner, size_t chunks,
                           int is_max, float div, int accumulate) {
    size_t rl = red_local(ctx);
    /* a work-group per row on GPUs (and in tests, with the override); on CPUs one work-item per
     * row streams it faster than PoCL runs barriers */
    int rows = inner == 1 && ceil_div(R, chunks) >= RED_ROWS_MIN && red_gpu_paths(ctx);
    char opts[192], name[32];
    elt_options(ctx, opts, sizeof opts, y.dt, x.dt, x.dt, x.dt);
    snprintf(name, sizeof name, "reduce_%s_%s", rows ? "rows" : "seq", is_max ? "max" : "sum");
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "elementwise", opts, name, &k));
    cl_ulong yo = y.off, xo = x.off, r = R, in = inner, cl = ceil_div(R, chunks), ch = chunks;
    cl_int acc = accumulate;
    if (rows) {
        hcl_karg args[] = {HCL_ARG(y.buf), HCL_ARG(yo), HCL_ARG(x.buf), HCL_ARG(xo), HCL_ARG(r),
                           HCL_ARG(cl), HCL_ARG(ch), HCL_ARG(div), HCL_ARG(acc)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
        size_t global[3] = {rl, chunks, outer}, local[3] = {rl, 1, 1};
        return hcl_kernel_run(ctx, k, 3, global, local);
    }
    hcl_karg args[] = {HCL_ARG(y.buf), HCL_ARG(yo), HCL_ARG(x.buf), HCL_ARG(xo), HCL_ARG(r),
                       HCL_ARG(in), HCL_ARG(cl), HCL_ARG(ch), HCL_ARG(div), HCL_ARG(acc)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, sizeof args / sizeof args[0]));
    size_t global[3] = {inner, chunks, outer}, local[3];
    row_local(ctx, global, local);
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* y (outer, inner) = reduction of x (outer, R, inner) over R: y = (accumulate ? y : 0) +
 * (sum or max) / div. Chunk partials go to the workspace at FP32 element ws_off. */
static hcl_status red_enqueue(hcl_context *ctx, red_buf y, red_buf x, size_t outer, size_t R, size_t inner, int is_max,
                              float div, int accumulate, cl_mem ws, size_t ws_off) {
    size_t chunks = red_chunks(ctx, outer, R, inner);
    if (chunks == 1) return red_pass(ctx, y, x, outer, R, inner, 1, is_max, div, accumulate);
    red_buf part = {ws, ws_off, HCL_F32};
    HCL_TRY(red_pass(ctx, part, x, outer, R, inner, chunks, is_max, 1.0f, 0));
    return red_enqueue(ctx, y, part, outer, chunks, inner, is_max, div, accumulate, ws, ws_off + outer * chunks * inner);
}

static hcl_status workspace_floats(hcl_context *ctx, size_t floats, cl_mem *ws) {
    *ws = NULL;
    if (floats == 0) return HCL_OK;
    return hcl_workspace_get(ctx, floats * sizeof(float), ws);
}

static red_buf rb(const hcl_tensor *t) { return (red_buf){t->buffer, t->offset, t->dtype}; }

hcl_status hcl_reduce(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, int axis, hcl_reduce_op op) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, "y"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    if ((unsigned)op > HCL_REDUCE_MAX) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid reduce op %d", (int)op);
    int ax = axis < 0 ? axis + x->rank : axis;
    if (ax < 0 || ax >= x->rank)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "axis %d is outside x's rank %d", axis, x->rank);
    /* y: x's shape without axis, or with it as 1 */
    int ok = 0;
    if (y->rank == x->rank - 1) {
        ok = 1;
        for (int i = 0, j = 0; i < x->rank; i++)
            if (i != ax && x->shape[i] != y->shape[j++]) ok = 0;
    } else if (y->rank == x->rank) {
        ok = y->shape[ax] == 1;
        for (int i = 0; i < x->rank; i++)
            if (i != ax && x->shape[i] != y->shape[i]) ok = 0;
    }
    if (!ok)
        return hcl_error(ctx, HCL_ERR_SHAPE, "y (rank %d, %zu elements) must be x's shape (rank %d) without axis %d or with it as 1",
                         y->rank, y->count, x->rank, ax);
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    size_t outer = dims_product(x, 0, ax), R = (size_t)x->shape[ax], inner = dims_product(x, ax + 1, x->rank);
    cl_mem ws;
    HCL_TRY(workspace_floats(ctx, red_ws(ctx, outer, R, inner), &ws));
    float div = op == HCL_REDUCE_MEAN ? (float)R : 1.0f;
    return red_enqueue(ctx, rb(y), rb(x), outer, R, inner, op == HCL_REDUCE_MAX, div, 0, ws, 0);
}

hcl_status hcl_reduce_broadcast(hcl_context *ctx, hcl_tensor *db, const hcl_tensor *dy, hcl_broadcast bcast, int accumulate) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, db, "db"));
    HCL_TRY(hcl_check_float(ctx, dy, "dy"));
    if ((unsigned)bcast > HCL_BCAST_ROW) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid broadcast %d", (int)bcast);
    HCL_TRY(hcl_check_no_alias(ctx, db, "db", dy, "dy"));
    int acc = accumulate != 0;
    if (bcast == HCL_BCAST_NONE) {
        HCL_TRY(hcl_check_same_count(ctx, db, "db", dy, "dy"));
        return red_pass(ctx, rb(db), rb(dy), 1, 1, dy->count, 1, 0, 1.0f, acc);
    }
    if (bcast == HCL_BCAST_ROW) {
        if (dy->rank < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "row broadcast needs dy of rank >= 1");
        size_t D = (size_t)dy->shape[dy->rank - 1], rows = dy->count / D;
        if (db->count != D) return hcl_error(ctx, HCL_ERR_SHAPE, "db has %zu elements, dy's rows have %zu", db->count, D);
        cl_mem ws;
        HCL_TRY(workspace_floats(ctx, red_ws(ctx, 1, rows, D), &ws));
        return red_enqueue(ctx, rb(db), rb(dy), 1, rows, D, 0, 1.0f, acc, ws, 0);
    }
    if (dy->rank < 2) return hcl_error(ctx, HCL_ERR_SHAPE, "channel broadcast needs dy of rank >= 2 (N,C,...), dy has rank %d", dy->rank);
    size_t N = (size_t)dy->shape[0], C = (size_t)dy->shape[1], inner = dims_product(dy, 2, dy->rank);
    if (db->count != C) return hcl_error(ctx, HCL_ERR_SHAPE, "db has %zu elements, dy has %zu channels", db->count, C);
    if (inner == 1) { /* (N, C): a column sum */
        cl_mem ws;
        HCL_TRY(workspace_floats(ctx, red_ws(ctx, 1, N, C), &ws));
        return red_enqueue(ctx, rb(db), rb(dy), 1, N, C, 0, 1.0f, acc, ws, 0);
    }
    /* two stages: per (n, c) sums over the spatial dims into the workspace (N*C floats), then the
     * column sum over n; each stage's chunk partials follow in the same workspace */
    size_t nc = N * C, ws_a = red_ws(ctx, nc, inner, 1), ws_b = red_ws(ctx, 1, N, C);
    cl_mem ws;
    HCL_TRY(workspace_floats(ctx, nc + ws_a + ws_b, &ws));
    red_buf mid = {ws, 0, HCL_F32};
    HCL_TRY(red_enqueue(ctx, mid, rb(dy), nc, inner, 1, 0, 1.0f, 0, ws, nc));
    return red_enqueue(ctx, rb(db), mid, 1, N, C, 0, 1.0f, acc, ws, nc + ws_a);
}

hcl_status hcl_argmax(hcl_context *ctx, hcl_tensor *idx, const hcl_tensor *x) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_dtype(ctx, idx, HCL_I32, "idx"));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    if (x->rank < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "argmax needs x of rank >= 1");
    size_t D = (size_t)x->shape[x->rank - 1], rows = x->count / D;
    if (idx->count != rows) return hcl_error(ctx, HCL_ERR_SHAPE, "idx has %zu elements, x has %zu rows", idx->count, rows);
    char opts[192];
    elt_options(ctx, opts, sizeof opts, x->dtype, x->dtype, x->dtype, x->dtype);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "elementwise", opts, "argmax", &k));
    cl_ulong io = hcl_off(idx), xo = hcl_off(x), r = rows, d = D;
    hcl_karg args[] = {HCL_ARG(idx->buffer), HCL_ARG(io), HCL_ARG(x->buffer), HCL_ARG(xo), HCL_ARG(r), HCL_ARG(d)};
    return hcl_launch_1d(ctx, k, rows, 0, args, sizeof args / sizeof args[0]);
}

hcl_status hcl_count_correct(hcl_context *ctx, hcl_tensor *correct, const hcl_tensor *logits, const hcl_tensor *labels) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_dtype(ctx, correct, HCL_I32, "correct"));
    HCL_TRY(hcl_check_float(ctx, logits, "logits"));
    HCL_TRY(hcl_check_dtype(ctx, labels, HCL_I32, "labels"));
    if (correct->count != 1) return hcl_error(ctx, HCL_ERR_SHAPE, "correct must have one element, has %zu", correct->count);
    HCL_TRY(hcl_check_rank(ctx, logits, 2, "logits"));
    HCL_TRY(hcl_check_rank(ctx, labels, 1, "labels"));
    size_t N = (size_t)logits->shape[0], C = (size_t)logits->shape[1];
    if (labels->count != N) return hcl_error(ctx, HCL_ERR_SHAPE, "labels has %zu elements, logits has %zu rows", labels->count, N);
    HCL_TRY(hcl_check_no_alias(ctx, correct, "correct", labels, "labels"));
    size_t rl = red_local(ctx);
    char opts[192];
    hcl_dtype ld = logits->dtype;
    elt_options(ctx, opts, sizeof opts, ld, ld, ld, ld);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "elementwise", opts, "count_correct", &k));
    cl_ulong co = hcl_off(correct), lo = hcl_off(logits), lbo = hcl_off(labels), n = N, c = C;
    hcl_karg args[] = {HCL_ARG(correct->buffer), HCL_ARG(co), HCL_ARG(logits->buffer), HCL_ARG(lo),
                       HCL_ARG(labels->buffer), HCL_ARG(lbo), HCL_ARG(n), HCL_ARG(c)};
    return hcl_launch_1d(ctx, k, N, rl, args, sizeof args / sizeof args[0]);
}
