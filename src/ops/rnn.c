/* Recurrent layer launchers (cl_kernels/rnn.cl): GRU and LSTM forward and backward through time,
 * one layer and one direction per call, and sequence pooling (mean / last valid step). Forward is
 * one GEMM for every step's input projection, then per step the hidden GEMM and one fused gate
 * kernel; backward is per step one gate-gradient kernel and one GEMM, then whole-sequence GEMMs
 * for dW_ih, dW_hh and dx and one bias reduction. Scratch lives in the context workspace (GEMMs
 * use their own), what backward needs in the caller's reserve. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "ops/ops_internal.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Flags: the RNN_* bits of rnn.cl. */
enum {
    F_HAS_H0 = 1, F_HAS_C0 = 2, F_HAS_LEN = 4, F_CELL = 8, F_HAS_HG = 16, F_HAS_BHH = 32, F_HAS_DY = 64, F_HAS_DHN = 128,
    F_HAS_DCN = 256
};

/* Sections of the reserve and of the workspace start at multiples of this many bytes. */
#define RNN_ALIGN 256

void hcl_rnn_desc_init(hcl_rnn_desc *d, hcl_rnn_cell cell) {
    if (!d) return;
    d->cell = cell;
    d->reverse = 0;
}

static size_t gates_of(hcl_rnn_cell cell) { return cell == HCL_RNN_GRU ? 3 : 4; }

/* a * b (* c) into *r, 0 on overflow. */
static int mul3(size_t a, size_t b, size_t c, size_t *r) {
    if (a && b > SIZE_MAX / a) return 0;
    size_t ab = a * b;
    if (ab && c > SIZE_MAX / ab) return 0;
    *r = ab * c;
    return 1;
}

/* Appends a section of `bytes` at the aligned end of *total; its offset goes to *off. 0 on overflow. */
static int carve(size_t *total, size_t bytes, size_t *off) {
    size_t start = (*total + RNN_ALIGN - 1) / RNN_ALIGN * RNN_ALIGN;
    if (start < *total || bytes > SIZE_MAX - start) return 0;
    *off = start;
    *total = start + bytes;
    return 1;
}

/* The reserve (byte offsets): act (B,T,G*H) cdt: the input projection, then the gate activations;
 * hprev (B,T,H) cdt: the state entering each step; extra (B,T,H): GRU: the hidden n
 * pre-activation hn (cdt), LSTM: c after each step (f32). */
typedef struct rnn_layout { size_t act, hprev, extra, total; } rnn_layout;

static int layout_of(hcl_rnn_cell cell, size_t B, size_t T, size_t H, hcl_dtype cdt, rnn_layout *l) {
    size_t es = hcl_dtype_size(cdt), bth, act;
    if (!mul3(B, T, H, &bth) || !mul3(bth, gates_of(cell), es, &act) || bth > SIZE_MAX / 4) return 0;
    size_t end = 0;
    if (!carve(&end, act, &l->act) || !carve(&end, bth * es, &l->hprev) ||
        !carve(&end, bth * (cell == HCL_RNN_LSTM ? 4 : es), &l->extra) || !carve(&end, 0, &l->total))
        return 0;
    return 1;
}

size_t hcl_rnn_reserve_bytes(const hcl_rnn_desc *d, int64_t B, int64_t T, int64_t H, hcl_dtype dtype) {
    if (!d || (unsigned)d->cell > HCL_RNN_LSTM || B < 1 || T < 1 || H < 1 || !hcl_dtype_is_float(dtype)) return 0;
    if ((uint64_t)B > SIZE_MAX || (uint64_t)T > SIZE_MAX || (uint64_t)H > SIZE_MAX) return 0;
    rnn_layout l;
    return layout_of(d->cell, (size_t)B, (size_t)T, (size_t)H, dtype, &l) ? l.total : 0;
}

/* ------------------------------------------------------------------------------ validation */
static hcl_status check_desc(hcl_context *ctx, const hcl_rnn_desc *d) {
    HCL_CHECK_NULL(ctx, d);
    if ((unsigned)d->cell > HCL_RNN_LSTM) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid RNN cell %d", (int)d->cell);
    if (d->reverse != 0 && d->reverse != 1)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "reverse must be 0 or 1, is %d", d->reverse);
    return HCL_OK;
}

/* A float tensor of shape (d0, d1) (rank 2) or (d0, d1, d2) (rank 3, d2 >= 0); NULL allowed when nullable. */
static hcl_status check_shape(hcl_context *ctx, const hcl_tensor *t, const char *name, int rank, size_t d0, size_t d1,
                              size_t d2, int nullable) {
    if (!t && nullable) return HCL_OK;
    HCL_TRY(hcl_check_float(ctx, t, name));
    HCL_TRY(hcl_check_rank(ctx, t, rank, name));
    size_t want[3] = {d0, d1, d2};
    for (int i = 0; i < rank; i++)
        if ((uint64_t)t->shape[i] != (uint64_t)want[i]) {
            if (rank == 2)
                return hcl_error(ctx, HCL_ERR_SHAPE, "%s is (%lld,%lld); it must be (%zu,%zu)", name, (long long)t->shape[0],
                                 (long long)t->shape[1], d0, d1);
            return hcl_error(ctx, HCL_ERR_SHAPE, "%s is (%lld,%lld,%lld); it must be (%zu,%zu,%zu)", name,
                             (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], d0, d1, d2);
        }
    return HCL_OK;
}

/* A bias-like float tensor of `count` elements, or NULL. */
static hcl_status check_vec(hcl_context *ctx, const hcl_tensor *t, const char *name, size_t count) {
    if (!t) return HCL_OK;
    HCL_TRY(hcl_check_float(ctx, t, name));
    if (t->count != count) return hcl_error(ctx, HCL_ERR_SHAPE, "%s has %zu elements; it must have %zu", name, t->count, count);
    return HCL_OK;
}

static hcl_status check_lengths(hcl_context *ctx, const hcl_tensor *t, size_t B) {
    if (!t) return HCL_OK;
    HCL_TRY(hcl_check_dtype(ctx, t, HCL_I32, "lengths"));
    HCL_TRY(hcl_check_rank(ctx, t, 1, "lengths"));
    if ((size_t)t->shape[0] != B) return hcl_error(ctx, HCL_ERR_SHAPE, "lengths has %lld elements; it must have B = %zu", (long long)t->shape[0], B);
    return HCL_OK;
}

/* GRU has no cell state: c0, c_n, dc0, dc_n must be NULL. */
static hcl_status check_no_cell(hcl_context *ctx, const hcl_rnn_desc *d, const hcl_tensor *t, const char *name) {
    if (t && d->cell == HCL_RNN_GRU) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s must be NULL for a GRU (no cell state)", name);
    return HCL_OK;
}

static hcl_status check_reserve(hcl_context *ctx, const hcl_tensor *r, hcl_dtype cdt, size_t need) {
    HCL_TRY(hcl_check_tensor(ctx, r, "reserve"));
    if (r->dtype != HCL_U8 && r->dtype != cdt)
        return hcl_error(ctx, HCL_ERR_DTYPE, "reserve is %s; it must be u8 or the compute dtype %s", hcl_dtype_name(r->dtype),
                         hcl_dtype_name(cdt));
    if (hcl_tensor_bytes(r) < need)
        return hcl_error(ctx, HCL_ERR_SHAPE, "reserve has %zu bytes; hcl_rnn_reserve_bytes says %zu", hcl_tensor_bytes(r), need);
    if ((r->offset * hcl_dtype_size(r->dtype)) % 4)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "reserve starts at byte %zu of its buffer; it must be a multiple of 4",
                         r->offset * hcl_dtype_size(r->dtype));
    return HCL_OK;
}

/* Sizes of one call. */
typedef struct rnn_dims { size_t B, T, I, H, G, GH; hcl_dtype cdt; } rnn_dims;

/* x (B,T,I) sets B, T, I and the compute dtype; w_hh (G*H, H) sets H; w_ih must be (G*H, I).
 * Kernel and GEMM sizes must fit in int. */
static hcl_status check_core(hcl_context *ctx, const hcl_rnn_desc *d, const hcl_tensor *x, const hcl_tensor *w_ih,
                             const hcl_tensor *w_hh, rnn_dims *m) {
    HCL_TRY(check_desc(ctx, d));
    HCL_TRY(hcl_check_float(ctx, x, "x"));
    HCL_TRY(hcl_check_rank(ctx, x, 3, "x"));
    HCL_TRY(hcl_check_float(ctx, w_hh, "w_hh"));
    HCL_TRY(hcl_check_rank(ctx, w_hh, 2, "w_hh"));
    m->B = (size_t)x->shape[0];
    m->T = (size_t)x->shape[1];
    m->I = (size_t)x->shape[2];
    m->H = (size_t)w_hh->shape[1];
    m->G = gates_of(d->cell);
    m->GH = m->G * m->H;
    m->cdt = x->dtype;
    if (m->H > INT_MAX / 4 || m->I > INT_MAX || m->T > INT_MAX / (4 * m->H) || m->B > INT_MAX / m->T)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "RNN sizes too large for 32-bit GEMM/kernel sizes (B*T, T*4H and I must fit in int)");
    if ((size_t)w_hh->shape[0] != m->GH)
        return hcl_error(ctx, HCL_ERR_SHAPE, "w_hh is (%lld,%lld); a %s with H = %zu needs (%zu,%zu)", (long long)w_hh->shape[0],
                         (long long)w_hh->shape[1], d->cell == HCL_RNN_GRU ? "GRU" : "LSTM", m->H, m->GH, m->H);
    return check_shape(ctx, w_ih, "w_ih", 2, m->GH, m->I, 0, 0);
}

/* ------------------------------------------------------------------------------ options */
static hcl_dtype dt_or(const hcl_tensor *t, hcl_dtype d) { return t ? t->dtype : d; }

/* One option set for every kernel of rnn.cl. Absent tensors take the compute dtype c (states,
 * their gradients) or w_hh's dtype (b_hh, the bias gradients), and sequence pooling's PX/PY are c
 * here, so that a forward, its backward and pooling of the same dtype share one program build
 * (with F32 parameter gradients under F16 weights the backward needs a second). */
typedef struct rnn_dts { const hcl_tensor *h0, *hn, *c0, *cn, *bhh, *dy, *dhn, *dcn, *dh0, *dc0, *dbi, *dbh, *w; } rnn_dts;
static const char *rnn_options(char *buf, size_t len, hcl_dtype c, const rnn_dts *t) {
    hcl_dtype w = dt_or(t->w, c);
    return hcl_dt_options(buf, len, "Y", c, "H0", dt_or(t->h0, c), "HN", dt_or(t->hn, c), "C0", dt_or(t->c0, c), "CN",
                          dt_or(t->cn, c), "BHH", dt_or(t->bhh, w), "DY", dt_or(t->dy, c), "DHN", dt_or(t->dhn, c), "DCN",
                          dt_or(t->dcn, c), "DH0", dt_or(t->dh0, c), "DC0", dt_or(t->dc0, c), "DBI", dt_or(t->dbi, w), "DBH",
                          dt_or(t->dbh, dt_or(t->dbi, w)), "W", w, "PX", c, "PY", c, NULL);
}

/* Local size of the (H, B) step kernels: a power of two up to 64 along H (the kernels guard the
 * rounded-up range), so PoCL vectorises along j and a group never spans two sequences. */
static void step_local(const hcl_context *ctx, size_t H, size_t local[3]) {
    size_t l = 1;
    while (l < 64 && l < H && l * 2 <= ctx->info.max_work_group_size) l *= 2;
    local[0] = l;
    local[1] = local[2] = 1;
}

/* A buffer and element offset (any valid buffer with offset 0 for an absent tensor). */
typedef struct bref { cl_mem buf; cl_ulong off; } bref;
static bref ref_of(const hcl_tensor *t, const hcl_tensor *fallback) {
    bref r = {t ? t->buffer : fallback->buffer, t ? (cl_ulong)t->offset : 0};
    return r;
}

/* GEMM C (m, n) c_dt = op(A) op(B) + beta C on raw buffers, no bias. */
static hcl_status gemm(hcl_context *ctx, cl_mem a, size_t a_off, hcl_dtype a_dt, size_t lda, int ta, cl_mem b, size_t b_off,
                       hcl_dtype b_dt, size_t ldb, int tb, cl_mem c, size_t c_off, hcl_dtype c_dt, size_t ldc, size_t m,
                       size_t n, size_t k, float beta) {
    hcl_gemm_args g = {
        .a = a, .b = b, .c = c, .bias = NULL, .a_off = a_off, .b_off = b_off, .c_off = c_off, .bias_off = 0,
        .a_dt = a_dt, .b_dt = b_dt, .c_dt = c_dt, .bias_dt = HCL_F32, .lda = lda, .ldb = ldb, .ldc = ldc,
        .stride_a = 0, .stride_b = 0, .stride_c = 0, .m = m, .n = n, .k = k, .batch = 1, .trans_a = ta, .trans_b = tb,
        .alpha = 1.0f, .beta = beta, .act = HCL_ACT_NONE, .act_alpha = 0.0f, .backend = HCL_GEMM_AUTO,
        .allow_half_accumulation = 0,
    };
    return hcl_gemm_enqueue(ctx, &g);
}

/* w_hh (GH, H) transposed to (H, GH) at element offset wt_off of ws, row stride wt_ld: the per-step
 * GEMMs read it as the K x N operand of h w_hh^T (forward, NN) and as the N x K operand of dG w_hh
 * (backward, NT). Measured on PoCL and Intel's CPU runtime at B 64, H 256, against w_hh as stored:
 * NN is the faster form for the forward's K = H (up to 2x on PoCL, whose NT path is its unpacked
 * dot kernel), NT for the backward's K = G*H (w_hh's own dtype: an F16 one is read at half the
 * bytes, no packing). The forward's copy is F32 with a row stride that is not a multiple of 4 KiB,
 * so the GEMM reads it in place instead of packing B on every step (it packs strides of 4 KiB
 * multiples, and any F16 B). f32: 1 for the F32 copy. The copy costs about what it saves on one
 * step (device time on PoCL, B 64, H 256: T = 1 faster without it by 20-30%, T = 2 faster with it
 * by 15-20%), so one-step calls use w_hh as stored (forward NT, backward NN). */
#define RNN_TRANSPOSE_MIN_T 2
static size_t wt_stride(size_t GH, int f32) {
    if (!f32) return GH;
    size_t ld = (GH + 31) / 32 * 32;
    return (ld * 4) % 4096 ? ld : ld + 32;
}

static hcl_status transpose_w(hcl_context *ctx, const char *opts, const hcl_tensor *w_hh, size_t GH, size_t H, cl_mem ws,
                              cl_ulong wt_off, int f32) {
    cl_kernel kt;
    HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, f32 ? "rnn_transpose_w_f32" : "rnn_transpose_w", &kt));
    cl_int cGH = (cl_int)GH, cH = (cl_int)H;
    cl_ulong w_off = w_hh->offset, ld = wt_stride(GH, f32);
    hcl_karg a[] = {HCL_ARG(cGH), HCL_ARG(cH), HCL_ARG(w_hh->buffer), HCL_ARG(w_off), HCL_ARG(ws), HCL_ARG(wt_off), HCL_ARG(ld)};
    HCL_TRY(hcl_kernel_set_args(ctx, kt, a, NELEM(a)));
    size_t gt[3] = {GH, H, 1}, lt[3];
    step_local(ctx, GH, lt);
    return hcl_kernel_run(ctx, kt, 2, gt, lt);
}

/* ------------------------------------------------------------------------------ forward */
// y (B,T,H), h_n/c_n (B,H) or NULL, reserve or NULL; x (B,T,I), h0/c0 (B,H) or NULL, lengths (B)
// i32 or NULL, w_ih (GH,I), w_hh (GH,H), b_ih/b_hh (GH) or NULL
hcl_status hcl_rnn_forward(hcl_context *ctx, hcl_tensor *y, hcl_tensor *h_n, hcl_tensor *c_n, hcl_tensor *reserve,
                           const hcl_tensor *x, const hcl_tensor *h0, const hcl_tensor *c0, const hcl_tensor *lengths,
                           const hcl_tensor *w_ih, const hcl_tensor *w_hh, const hcl_tensor *b_ih, const hcl_tensor *b_hh,
                           const hcl_rnn_desc *d) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    rnn_dims m;
    HCL_TRY(check_core(ctx, d, x, w_ih, w_hh, &m));
    HCL_TRY(check_shape(ctx, y, "y", 3, m.B, m.T, m.H, 0));
    if (y->dtype != m.cdt)
        return hcl_error(ctx, HCL_ERR_DTYPE, "y is %s and x is %s; they must share the compute dtype", hcl_dtype_name(y->dtype),
                         hcl_dtype_name(m.cdt));
    HCL_TRY(check_vec(ctx, b_ih, "b_ih", m.GH));
    HCL_TRY(check_vec(ctx, b_hh, "b_hh", m.GH));
    HCL_TRY(check_no_cell(ctx, d, c0, "c0"));
    HCL_TRY(check_no_cell(ctx, d, c_n, "c_n"));
    HCL_TRY(check_shape(ctx, h0, "h0", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, h_n, "h_n", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, c0, "c0", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, c_n, "c_n", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_lengths(ctx, lengths, m.B));
    rnn_layout lay;
    if (!layout_of(d->cell, m.B, m.T, m.H, m.cdt, &lay)) return hcl_error(ctx, HCL_ERR_OVERFLOW, "reserve size overflows");
    if (reserve) HCL_TRY(check_reserve(ctx, reserve, m.cdt, lay.total));
    const hcl_tensor *outs[] = {y, h_n, c_n, reserve};
    const char *onames[] = {"y", "h_n", "c_n", "reserve"};
    const hcl_tensor *ins[] = {x, h0, c0, lengths, w_ih, w_hh, b_ih, b_hh};
    const char *inames[] = {"x", "h0", "c0", "lengths", "w_ih", "w_hh", "b_ih", "b_hh"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));

    const size_t B = m.B, T = m.T, H = m.H, GH = m.GH, es = hcl_dtype_size(m.cdt), BH = B * H;
    const int lstm = d->cell == HCL_RNN_LSTM, train = reserve != NULL;
    /* workspace: hg (B,GH) f32; lens (B) i32; two (B,H) slots of the h carry (cdt) and of the c
     * carry (f32): slot 1 takes the initial state, inference alternates between them (training
     * keeps the states in the reserve); sinks (B,H) for the stores a step does not need (one per
     * output, so that no two work-items ever write the same bytes); w_hh^T (H rows) f32; for
     * inference also the input projection (B,T,GH) cdt */
    size_t ws_bytes = 0, w_hg, w_lens, w_h[2], w_c[2], w_shout, w_shfin, w_shnv, w_scfin, w_wt, w_xg = 0, bth;
    int ok = mul3(B * T, H, 1, &bth) && carve(&ws_bytes, B * GH * 4, &w_hg) && carve(&ws_bytes, B * 4, &w_lens) &&
             carve(&ws_bytes, wt_stride(GH, 1) * H * 4, &w_wt) &&
             carve(&ws_bytes, BH * es, &w_h[0]) && carve(&ws_bytes, BH * es, &w_h[1]) && carve(&ws_bytes, BH * 4, &w_c[0]) &&
             carve(&ws_bytes, BH * 4, &w_c[1]) && carve(&ws_bytes, BH * es, &w_shout) &&
             carve(&ws_bytes, BH * hcl_dtype_size(h_n ? h_n->dtype : m.cdt), &w_shfin) && carve(&ws_bytes, BH * es, &w_shnv) &&
             carve(&ws_bytes, BH * hcl_dtype_size(c_n ? c_n->dtype : m.cdt), &w_scfin);
    if (!train) ok = ok && bth <= SIZE_MAX / (4 * es) && carve(&ws_bytes, bth * m.G * es, &w_xg);
    if (!ok) return hcl_error(ctx, HCL_ERR_OVERFLOW, "RNN workspace size overflows");
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, ws_bytes, &ws));

    /* the input projection / activations, and the reserve's entering states (Hprev), hn (GRU)
     * and C (LSTM), as element offsets */
    size_t rbase = reserve ? reserve->offset * hcl_dtype_size(reserve->dtype) : 0;
    cl_mem act_buf = train ? reserve->buffer : ws;
    cl_ulong act_off = train ? (rbase + lay.act) / es : w_xg / es;
    cl_ulong hprev_base = (rbase + lay.hprev) / es, hn_base = (rbase + lay.extra) / es, cs_base = (rbase + lay.extra) / 4;

    /* every step's input projection at once: act (B*T, GH) = x (B*T, I) w_ih^T + b_ih */
    hcl_gemm_args gx = {
        .a = x->buffer, .b = w_ih->buffer, .c = act_buf, .bias = b_ih ? b_ih->buffer : NULL, .a_off = x->offset,
        .b_off = w_ih->offset, .c_off = act_off, .bias_off = b_ih ? b_ih->offset : 0, .a_dt = m.cdt, .b_dt = w_ih->dtype,
        .c_dt = m.cdt, .bias_dt = b_ih ? b_ih->dtype : HCL_F32, .lda = m.I, .ldb = m.I, .ldc = GH, .m = B * T, .n = GH,
        .k = m.I, .batch = 1, .trans_b = 1, .alpha = 1.0f, .act = HCL_ACT_NONE, .backend = HCL_GEMM_AUTO,
    };
    HCL_TRY(hcl_gemm_enqueue(ctx, &gx));

    char opts[400];
    rnn_dts dts = {.h0 = h0, .hn = h_n, .c0 = c0, .cn = c_n, .bhh = b_hh, .w = w_hh};
    rnn_options(opts, sizeof opts, m.cdt, &dts);
    size_t global[3] = {H, B, 1}, local[3];
    step_local(ctx, H, local);
    cl_int cT = (cl_int)T, cH = (cl_int)H;
    cl_ulong c_lens = w_lens / 4;
    /* the entering state: h carry (training: the reserve's Hprev at the first step; inference: h
     * slot 1) and c slot 1 = h0, c0 or zeros; lens = the clamped lengths */
    size_t t0 = d->reverse ? T - 1 : 0;
    {
        cl_kernel ki;
        HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, "rnn_fwd_init", &ki));
        cl_int f = (h0 ? F_HAS_H0 : 0) | (c0 ? F_HAS_C0 : 0) | (lengths ? F_HAS_LEN : 0) | (lstm ? F_CELL : 0);
        bref rh0 = ref_of(h0, x), rc0 = ref_of(c0, x), rlen = ref_of(lengths, x);
        cl_mem hs = train ? reserve->buffer : ws;
        cl_ulong hs_off = train ? hprev_base + t0 * H : w_h[1] / es, hs_ld = train ? T * H : H, cs_off = w_c[1] / 4;
        hcl_karg a[] = {HCL_ARG(cT), HCL_ARG(cH), HCL_ARG(f), HCL_ARG(rh0.buf), HCL_ARG(rh0.off), HCL_ARG(hs), HCL_ARG(hs_off),
                        HCL_ARG(hs_ld), HCL_ARG(rc0.buf), HCL_ARG(rc0.off), HCL_ARG(ws), HCL_ARG(cs_off), HCL_ARG(rlen.buf),
                        HCL_ARG(rlen.off), HCL_ARG(ws), HCL_ARG(c_lens)};
        HCL_TRY(hcl_kernel_set_args(ctx, ki, a, NELEM(a)));
        HCL_TRY(hcl_kernel_run(ctx, ki, 2, global, local));
    }
    cl_ulong wt_off = w_wt / 4, wt_ld = wt_stride(GH, 1);
    const int use_wt = T >= RNN_TRANSPOSE_MIN_T;
    if (use_wt) HCL_TRY(transpose_w(ctx, opts, w_hh, GH, H, ws, wt_off, 1));
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, lstm ? "rnn_lstm_fwd" : "rnn_gru_fwd", &k));
    /* absent b_hh: any buffer with >= GH elements (the select never uses it) */
    cl_mem bhh_buf = b_hh ? b_hh->buffer : ws;
    cl_ulong y_off = hcl_off(y), c_hg = w_hg / 4, bhh_off = b_hh ? b_hh->offset : 0;
    cl_mem hfin_buf = h_n ? h_n->buffer : ws, cfin_buf = c_n ? c_n->buffer : ws;
    cl_ulong hfin_off = h_n ? h_n->offset : w_shfin / hcl_dtype_size(m.cdt);
    cl_ulong cfin_off = c_n ? c_n->offset : w_scfin / hcl_dtype_size(m.cdt);
    cl_mem st_buf = train ? reserve->buffer : ws; /* where the h states live */
    for (size_t s = 0; s < T; s++) {
        size_t t = d->reverse ? T - 1 - s : s;
        int last = s + 1 == T;
        size_t t_prev = d->reverse ? t + 1 : t - 1, t_next = d->reverse ? t - 1 : t + 1;
        /* h: training reads Hprev[t] and writes Hprev[t_next] (the sink after the last step);
         * inference reads slot (s+1)&1 and writes slot s&1 */
        cl_mem hin_buf = st_buf, hout_buf = st_buf;
        cl_ulong hin_off = train ? hprev_base + t * H : w_h[(s + 1) & 1] / es, hin_ld = train ? T * H : H;
        cl_ulong hout_off = train ? hprev_base + t_next * H : w_h[s & 1] / es, hout_ld = hin_ld;
        if (train && last) hout_buf = ws, hout_off = w_shout / es, hout_ld = H;
        int has_hg = s > 0 || h0;
        if (has_hg && use_wt) /* hg (B, GH) f32 = h_prev (B, H) w_hh^T (H, GH) */
            HCL_TRY(gemm(ctx, hin_buf, hin_off, m.cdt, hin_ld, 0, ws, wt_off, HCL_F32, wt_ld, 0, ws, w_hg / 4, HCL_F32, GH, B,
                         GH, H, 0.0f));
        else if (has_hg) /* the same with w_hh (GH, H) as stored */
            HCL_TRY(gemm(ctx, hin_buf, hin_off, m.cdt, hin_ld, 0, w_hh->buffer, w_hh->offset, w_hh->dtype, H, 1, ws, w_hg / 4,
                         HCL_F32, GH, B, GH, H, 0.0f));
        cl_int flags = (has_hg ? F_HAS_HG : 0) | (b_hh ? F_HAS_BHH : 0), ct = (cl_int)t;
        hcl_karg args[32];
        size_t na = 0;
        hcl_karg common[] = {HCL_ARG(cT), HCL_ARG(cH), HCL_ARG(ct), HCL_ARG(flags), HCL_ARG(y->buffer), HCL_ARG(y_off),
                             HCL_ARG(act_buf), HCL_ARG(act_off), HCL_ARG(ws), HCL_ARG(c_hg), HCL_ARG(bhh_buf), HCL_ARG(bhh_off),
                             HCL_ARG(ws), HCL_ARG(c_lens), HCL_ARG(hin_buf), HCL_ARG(hin_off), HCL_ARG(hin_ld),
                             HCL_ARG(hout_buf), HCL_ARG(hout_off), HCL_ARG(hout_ld), HCL_ARG(hfin_buf), HCL_ARG(hfin_off)};
        for (size_t i = 0; i < NELEM(common); i++) args[na++] = common[i];
        /* c: training reads C[t_prev] (slot 1 at the first step) and writes C[t]; inference
         * alternates between the slots as h does */
        cl_mem cin_buf = s == 0 || !train ? ws : reserve->buffer, cout_buf = train ? reserve->buffer : ws;
        cl_ulong cin_off = s == 0 ? w_c[1] / 4 : train ? cs_base + t_prev * H : w_c[(s + 1) & 1] / 4;
        cl_ulong cin_ld = s == 0 || !train ? H : T * H;
        cl_ulong cout_off = train ? cs_base + t * H : w_c[s & 1] / 4, cout_ld = train ? T * H : H;
        /* GRU's hn: the reserve's (B,T,H), or the sink (no step stride) */
        cl_mem hnv_buf = train ? reserve->buffer : ws;
        cl_ulong hnv_off = train ? hn_base : w_shnv / es, hnv_ldb = train ? T * H : H, hnv_ldt = train ? H : 0;
        if (lstm) {
            hcl_karg extra[] = {HCL_ARG(cin_buf), HCL_ARG(cin_off), HCL_ARG(cin_ld), HCL_ARG(cout_buf), HCL_ARG(cout_off),
                                HCL_ARG(cout_ld), HCL_ARG(cfin_buf), HCL_ARG(cfin_off)};
            for (size_t i = 0; i < NELEM(extra); i++) args[na++] = extra[i];
        } else {
            hcl_karg extra[] = {HCL_ARG(hnv_buf), HCL_ARG(hnv_off), HCL_ARG(hnv_ldb), HCL_ARG(hnv_ldt)};
            for (size_t i = 0; i < NELEM(extra); i++) args[na++] = extra[i];
        }
        HCL_TRY(hcl_kernel_set_args(ctx, k, args, na));
        HCL_TRY(hcl_kernel_run(ctx, k, 2, global, local));
    }
    return HCL_OK;
}

/* ------------------------------------------------------------------------------ backward */
// dx (B,T,I), dh0/dc0 (B,H), dw_ih (GH,I), dw_hh (GH,H), db_ih/db_hh (GH), each or NULL; dy
// (B,T,H), dh_n/dc_n (B,H) or NULL; reserve, x, h0, c0, lengths, w_ih, w_hh as in the forward
hcl_status hcl_rnn_backward(hcl_context *ctx, hcl_tensor *dx, hcl_tensor *dh0, hcl_tensor *dc0, hcl_tensor *dw_ih,
                            hcl_tensor *dw_hh, hcl_tensor *db_ih, hcl_tensor *db_hh, const hcl_tensor *dy,
                            const hcl_tensor *dh_n, const hcl_tensor *dc_n, const hcl_tensor *reserve, const hcl_tensor *x,
                            const hcl_tensor *h0, const hcl_tensor *c0, const hcl_tensor *lengths, const hcl_tensor *w_ih,
                            const hcl_tensor *w_hh, const hcl_rnn_desc *d) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    rnn_dims m;
    HCL_TRY(check_core(ctx, d, x, w_ih, w_hh, &m));
    HCL_TRY(check_no_cell(ctx, d, c0, "c0"));
    HCL_TRY(check_no_cell(ctx, d, dc_n, "dc_n"));
    HCL_TRY(check_no_cell(ctx, d, dc0, "dc0"));
    HCL_TRY(check_shape(ctx, dy, "dy", 3, m.B, m.T, m.H, 1));
    HCL_TRY(check_shape(ctx, dh_n, "dh_n", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, dc_n, "dc_n", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, h0, "h0", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, c0, "c0", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_lengths(ctx, lengths, m.B));
    HCL_TRY(check_shape(ctx, dx, "dx", 3, m.B, m.T, m.I, 1));
    HCL_TRY(check_shape(ctx, dh0, "dh0", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, dc0, "dc0", 2, m.B, m.H, 0, 1));
    HCL_TRY(check_shape(ctx, dw_ih, "dw_ih", 2, m.GH, m.I, 0, 1));
    HCL_TRY(check_shape(ctx, dw_hh, "dw_hh", 2, m.GH, m.H, 0, 1));
    HCL_TRY(check_vec(ctx, db_ih, "db_ih", m.GH));
    HCL_TRY(check_vec(ctx, db_hh, "db_hh", m.GH));
    rnn_layout lay;
    if (!layout_of(d->cell, m.B, m.T, m.H, m.cdt, &lay)) return hcl_error(ctx, HCL_ERR_OVERFLOW, "reserve size overflows");
    HCL_TRY(check_reserve(ctx, reserve, m.cdt, lay.total));
    const hcl_tensor *outs[] = {dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh};
    const char *onames[] = {"dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"};
    const hcl_tensor *ins[] = {dy, dh_n, dc_n, reserve, x, h0, c0, lengths, w_ih, w_hh};
    const char *inames[] = {"dy", "dh_n", "dc_n", "reserve", "x", "h0", "c0", "lengths", "w_ih", "w_hh"};
    HCL_TRY(hcl_check_no_alias_all(ctx, outs, onames, NELEM(outs), ins, inames, NELEM(ins)));

    const size_t B = m.B, T = m.T, H = m.H, GH = m.GH, es = hcl_dtype_size(m.cdt), rows = B * T;
    const int lstm = d->cell == HCL_RNN_LSTM;
    /* workspace: dg (B,T,4H) f32 gate gradients, ds (B,3H) f32 (GRU: this step's hidden-side
     * gradients), the dh and dc carries (B,H) f32, c0's copy cp (B,H) f32, lens (B) i32, w_hh^T
     * (H,GH) in w_hh's dtype, the per-sequence sums of the gate gradients dba (B,4H) f32 (for the biases) */
    size_t ws_bytes = 0, w_dg, w_ds, w_dh, w_dc, w_cp, w_lens, w_wt, w_dba, dgn;
    int ok = mul3(rows, 4 * H, 4, &dgn) && carve(&ws_bytes, dgn, &w_dg) && carve(&ws_bytes, B * 3 * H * 4, &w_ds) &&
             carve(&ws_bytes, B * H * 4, &w_dh) && carve(&ws_bytes, B * H * 4, &w_dc) && carve(&ws_bytes, B * H * 4, &w_cp) &&
             carve(&ws_bytes, B * 4, &w_lens) && carve(&ws_bytes, GH * H * hcl_dtype_size(w_hh->dtype), &w_wt) && carve(&ws_bytes, B * 4 * H * 4, &w_dba);
    if (!ok) return hcl_error(ctx, HCL_ERR_OVERFLOW, "RNN workspace size overflows");
    cl_mem ws;
    HCL_TRY(hcl_workspace_get(ctx, ws_bytes, &ws));
    size_t rbase = reserve->offset * hcl_dtype_size(reserve->dtype);
    cl_mem rbuf = reserve->buffer;
    cl_ulong act_off = (rbase + lay.act) / es, hprev_off = (rbase + lay.hprev) / es, extra_off = (rbase + lay.extra) / es;
    cl_ulong cs_off = (rbase + lay.extra) / 4;
    cl_ulong dg_off = w_dg / 4, ds_off = w_ds / 4, dh_off = w_dh / 4, dc_off = w_dc / 4, cp_off = w_cp / 4, c_lens = w_lens / 4;
    cl_ulong dba_off = w_dba / 4;

    char opts[400];
    rnn_dts dts = {.h0 = h0, .c0 = c0, .dy = dy, .dhn = dh_n, .dcn = dc_n, .dh0 = dh0, .dc0 = dc0, .dbi = db_ih, .dbh = db_hh, .w = w_hh};
    rnn_options(opts, sizeof opts, m.cdt, &dts);
    size_t global[3] = {H, B, 1}, local[3];
    step_local(ctx, H, local);
    cl_int cT = (cl_int)T, cH = (cl_int)H;
    { /* the carries from dh_n / dc_n (or zeros), c0's copy, the clamped lengths */
        cl_kernel ki;
        HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, "rnn_bwd_init", &ki));
        cl_int f = (dh_n ? F_HAS_DHN : 0) | (dc_n ? F_HAS_DCN : 0) | (c0 ? F_HAS_C0 : 0) | (lengths ? F_HAS_LEN : 0) | (lstm ? F_CELL : 0);
        bref rdhn = ref_of(dh_n, x), rdcn = ref_of(dc_n, x), rc0 = ref_of(c0, x), rlen = ref_of(lengths, x);
        hcl_karg a[] = {HCL_ARG(cT), HCL_ARG(cH), HCL_ARG(f), HCL_ARG(rdhn.buf), HCL_ARG(rdhn.off), HCL_ARG(rdcn.buf),
                        HCL_ARG(rdcn.off), HCL_ARG(ws), HCL_ARG(dh_off), HCL_ARG(ws), HCL_ARG(dc_off), HCL_ARG(rc0.buf),
                        HCL_ARG(rc0.off), HCL_ARG(ws), HCL_ARG(cp_off), HCL_ARG(rlen.buf), HCL_ARG(rlen.off), HCL_ARG(ws),
                        HCL_ARG(c_lens), HCL_ARG(ws), HCL_ARG(dba_off)};
        HCL_TRY(hcl_kernel_set_args(ctx, ki, a, NELEM(a)));
        HCL_TRY(hcl_kernel_run(ctx, ki, 2, global, local));
    }
    cl_ulong wt_off = w_wt / hcl_dtype_size(w_hh->dtype);
    const int use_wt = T >= RNN_TRANSPOSE_MIN_T;
    if (use_wt) HCL_TRY(transpose_w(ctx, opts, w_hh, GH, H, ws, wt_off, 0));
    /* the per-step GEMM's B: w_hh^T (H, GH) as N x K (NT), or w_hh (GH, H) as stored, K x N (NN) */
    cl_mem wb = use_wt ? ws : w_hh->buffer;
    size_t wb_off = use_wt ? wt_off : w_hh->offset, wb_ld = use_wt ? GH : H;
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, lstm ? "rnn_lstm_bwd" : "rnn_gru_bwd", &k));
    /* absent dy: any buffer of >= B*T*H compute-dtype elements (the reserve's activations) */
    cl_mem dy_buf = dy ? dy->buffer : rbuf;
    cl_ulong dy_off = dy ? dy->offset : act_off;
    cl_int flags = dy ? F_HAS_DY : 0;
    for (size_t s = T; s-- > 0;) {
        size_t t = d->reverse ? T - 1 - s : s;
        cl_int ct = (cl_int)t;
        hcl_karg args[32];
        size_t na = 0;
        hcl_karg common[] = {HCL_ARG(cT), HCL_ARG(cH), HCL_ARG(ct), HCL_ARG(flags), HCL_ARG(ws), HCL_ARG(dg_off), HCL_ARG(ws),
                             HCL_ARG(dba_off), HCL_ARG(ws), HCL_ARG(dh_off), HCL_ARG(dy_buf), HCL_ARG(dy_off), HCL_ARG(rbuf), HCL_ARG(act_off), HCL_ARG(ws),
                             HCL_ARG(c_lens)};
        for (size_t i = 0; i < NELEM(common); i++) args[na++] = common[i];
        /* LSTM's c_prev: C at the step before, or c0's copy on the forward's first step (declared
         * here: the argument list keeps their addresses until hcl_kernel_set_args) */
        size_t t_prev = d->reverse ? t + 1 : t - 1;
        cl_mem cp_buf = s == 0 ? ws : rbuf;
        cl_ulong cpo = s == 0 ? cp_off : cs_off + t_prev * H, cp_ld = s == 0 ? H : T * H;
        if (lstm) {
            hcl_karg extra[] = {HCL_ARG(ws), HCL_ARG(dc_off), HCL_ARG(rbuf), HCL_ARG(cs_off), HCL_ARG(cp_buf), HCL_ARG(cpo),
                                HCL_ARG(cp_ld)};
            for (size_t i = 0; i < NELEM(extra); i++) args[na++] = extra[i];
        } else {
            hcl_karg extra[] = {HCL_ARG(ws), HCL_ARG(ds_off), HCL_ARG(rbuf), HCL_ARG(extra_off), HCL_ARG(rbuf), HCL_ARG(hprev_off)};
            for (size_t i = 0; i < NELEM(extra); i++) args[na++] = extra[i];
        }
        HCL_TRY(hcl_kernel_set_args(ctx, k, args, na));
        HCL_TRY(hcl_kernel_run(ctx, k, 2, global, local));
        /* dh (B,H) += dG_h (B,GH) w_hh (GH,H), with w_hh^T (H,GH) as the NT operand: the gradient
         * reaching the state entering step t (not needed after the forward's first step unless
         * dh0 is asked for) */
        if (s > 0 || dh0) {
            if (lstm) HCL_TRY(gemm(ctx, ws, dg_off + t * 4 * H, HCL_F32, T * 4 * H, 0, wb, wb_off, w_hh->dtype, wb_ld, use_wt, ws,
                                   dh_off, HCL_F32, H, B, H, GH, 1.0f));
            else HCL_TRY(gemm(ctx, ws, ds_off, HCL_F32, 3 * H, 0, wb, wb_off, w_hh->dtype, wb_ld, use_wt, ws, dh_off, HCL_F32, H, B,
                              H, GH, 1.0f));
        }
    }
    if (dh0 || dc0) { /* dh0, dc0 = the carries */
        cl_kernel ko;
        HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, "rnn_bwd_out", &ko));
        cl_int oflags = (dh0 ? 1 : 0) | (dc0 ? 2 : 0);
        bref rdh0 = ref_of(dh0, x), rdc0 = ref_of(dc0, x);
        hcl_karg a[] = {HCL_ARG(cH), HCL_ARG(oflags), HCL_ARG(ws), HCL_ARG(dh_off), HCL_ARG(rdh0.buf), HCL_ARG(rdh0.off),
                        HCL_ARG(ws), HCL_ARG(dc_off), HCL_ARG(rdc0.buf), HCL_ARG(rdc0.off)};
        HCL_TRY(hcl_kernel_set_args(ctx, ko, a, NELEM(a)));
        HCL_TRY(hcl_kernel_run(ctx, ko, 2, global, local));
    }
    /* the input side: dG_x is dg's first GH columns (GRU: [r, z, n_x]; LSTM: all four) */
    if (dw_ih) /* dw_ih (GH, I) += dG_x^T (GH, B*T) x (B*T, I) */
        HCL_TRY(gemm(ctx, ws, dg_off, HCL_F32, 4 * H, 1, x->buffer, x->offset, m.cdt, m.I, 0, dw_ih->buffer, dw_ih->offset,
                     dw_ih->dtype, m.I, GH, m.I, rows, 1.0f));
    if (dx) /* dx (B*T, I) = dG_x (B*T, GH) w_ih (GH, I): exactly 0 on padded rows (dG is 0 there) */
        HCL_TRY(gemm(ctx, ws, dg_off, HCL_F32, 4 * H, 0, w_ih->buffer, w_ih->offset, w_ih->dtype, m.I, 0, dx->buffer, dx->offset,
                     dx->dtype, m.I, rows, m.I, GH, 0.0f));
    if (dw_hh) { /* dw_hh (GH, H) += dG_h^T Hprev (B*T, H); GRU's dG_h is columns [r, z] and n_h */
        if (lstm) {
            HCL_TRY(gemm(ctx, ws, dg_off, HCL_F32, 4 * H, 1, rbuf, hprev_off, m.cdt, H, 0, dw_hh->buffer, dw_hh->offset,
                         dw_hh->dtype, H, GH, H, rows, 1.0f));
        } else {
            HCL_TRY(gemm(ctx, ws, dg_off, HCL_F32, 4 * H, 1, rbuf, hprev_off, m.cdt, H, 0, dw_hh->buffer, dw_hh->offset,
                         dw_hh->dtype, H, 2 * H, H, rows, 1.0f));
            HCL_TRY(gemm(ctx, ws, dg_off + 3 * H, HCL_F32, 4 * H, 1, rbuf, hprev_off, m.cdt, H, 0, dw_hh->buffer,
                         dw_hh->offset + 2 * H * H, dw_hh->dtype, H, H, H, rows, 1.0f));
        }
    }
    if (db_ih || db_hh) { /* the per-sequence sums dba (B,4H), summed over B in order */
        cl_kernel kb;
        HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, "rnn_bias_grad", &kb));
        cl_ulong nb = B;
        cl_int gru = !lstm, bflags = (db_ih ? 1 : 0) | (db_hh ? 2 : 0);
        bref rbi = ref_of(db_ih, x), rbh = ref_of(db_hh, x);
        hcl_karg a[] = {HCL_ARG(nb), HCL_ARG(cH), HCL_ARG(gru), HCL_ARG(bflags), HCL_ARG(ws), HCL_ARG(dba_off),
                        HCL_ARG(rbi.buf), HCL_ARG(rbi.off), HCL_ARG(rbh.buf), HCL_ARG(rbh.off)};
        HCL_TRY(hcl_launch_1d(ctx, kb, 4 * H, 0, a, NELEM(a)));
    }
    return HCL_OK;
}

/* ------------------------------------------------------------------------------ sequence pooling */
static hcl_status seq_pool_check(hcl_context *ctx, const hcl_tensor *xs, const char *xn, const hcl_tensor *ys,
                                 const char *yn, const hcl_tensor *lengths, hcl_seq_pool_mode mode) {
    HCL_TRY(hcl_check_float(ctx, xs, xn));
    HCL_TRY(hcl_check_rank(ctx, xs, 3, xn));
    size_t B = (size_t)xs->shape[0], T = (size_t)xs->shape[1], H = (size_t)xs->shape[2];
    HCL_TRY(check_shape(ctx, ys, yn, 2, B, H, 0, 0));
    HCL_TRY(check_lengths(ctx, lengths, B));
    if ((unsigned)mode > HCL_SEQ_POOL_LAST) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid sequence pooling mode %d", (int)mode);
    if (T > INT_MAX || H > INT_MAX) return hcl_error(ctx, HCL_ERR_OVERFLOW, "T and H must fit in int");
    return HCL_OK;
}

static hcl_status seq_pool_launch(hcl_context *ctx, const char *name, const hcl_tensor *xs, const hcl_tensor *ys,
                                  const hcl_tensor *lengths, hcl_seq_pool_mode mode, int dims) {
    /* the RNN's option set for x's dtype (the same program as an RNN of that dtype) with PX/PY */
    char opts[400];
    rnn_dts none = {0};
    rnn_options(opts, sizeof opts, xs->dtype, &none);
    char *px = strstr(opts, "-DPX_DT=");
    if (!px) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "internal: no PX option");
    hcl_dt_options(px, sizeof opts - (size_t)(px - opts), "PX", xs->dtype, "PY", ys->dtype, NULL);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "rnn", opts, name, &k));
    cl_int T = (cl_int)xs->shape[1], H = (cl_int)xs->shape[2], md = (cl_int)mode, has_len = lengths != NULL;
    bref rl = ref_of(lengths, xs);
    cl_ulong xo = hcl_off(xs), yo = hcl_off(ys);
    /* forward: (y, x); backward: (dx, dy), the output first */
    hcl_karg a[] = {HCL_ARG(T), HCL_ARG(H), HCL_ARG(md), HCL_ARG(has_len),
                    dims == 2 ? HCL_ARG(ys->buffer) : HCL_ARG(xs->buffer), dims == 2 ? HCL_ARG(yo) : HCL_ARG(xo),
                    dims == 2 ? HCL_ARG(xs->buffer) : HCL_ARG(ys->buffer), dims == 2 ? HCL_ARG(xo) : HCL_ARG(yo),
                    HCL_ARG(rl.buf), HCL_ARG(rl.off)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, a, NELEM(a)));
    size_t global[3] = {(size_t)H, dims == 2 ? (size_t)xs->shape[0] : (size_t)T, (size_t)xs->shape[0]}, local[3];
    step_local(ctx, (size_t)H, local);
    return hcl_kernel_run(ctx, k, (cl_uint)dims, global, local);
}

// y (B,H) = mean / last valid step of x (B,T,H) over time; lengths (B) i32 or NULL
hcl_status hcl_seq_pool_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, const hcl_tensor *lengths,
                                hcl_seq_pool_mode mode) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(seq_pool_check(ctx, x, "x", y, "y", lengths, mode));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", x, "x"));
    HCL_TRY(hcl_check_no_alias(ctx, y, "y", lengths, "lengths"));
    return seq_pool_launch(ctx, "seq_pool_fwd", x, y, lengths, mode, 2);
}

// dx (B,T,H) overwritten from dy (B,H); lengths (B) i32 or NULL
hcl_status hcl_seq_pool_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, const hcl_tensor *lengths,
                                 hcl_seq_pool_mode mode) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(seq_pool_check(ctx, dx, "dx", dy, "dy", lengths, mode));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", dy, "dy"));
    HCL_TRY(hcl_check_no_alias(ctx, dx, "dx", lengths, "lengths"));
    return seq_pool_launch(ctx, "seq_pool_bwd", dx, dy, lengths, mode, 3);
}
