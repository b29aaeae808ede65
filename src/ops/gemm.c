/* GEMM launchers: the public hcl_gemm (shape/dtype validation, batching) and the internal
 * hcl_gemm_enqueue on raw buffers that conv and other ops use. Kernel choice (gemm.cl): gemm_small
 * for tiny/skinny shapes, else packed panels + the 16x32 register-tile kernel (+ split-K reduce);
 * CLBlast SGEMM when asked for, or in AUTO where the rule in ops.h sends a case to it. */
#include <limits.h>
#include <stdio.h>
#include <clblast_c.h>
#include "ops/ops_internal.h"

void hcl_gemm_desc_init(hcl_gemm_desc *d) {
    if (!d) return;
    d->trans_a = d->trans_b = 0;
    d->alpha = 1.0f;
    d->beta = 0.0f;
    d->epilogue = HCL_ACT_NONE;
    d->epilogue_alpha = 0.01f;
    d->backend = HCL_GEMM_AUTO;
    d->allow_half_accumulation = 0;
}

/* Tile sizes of gemm.cl (GEMM_TM, GEMM_TN, GEMM_WG there). */
enum { TM = 16, TN = 32, WG = 4 };
/* gemm_small when M*N*K <= SMALL_MNK or M < SMALL_MIN or N < SMALL_MIN (measured on PoCL: below
 * these the packing passes and launches cost more than they save). */
#define SMALL_MNK 65536.0
enum { SMALL_MIN = 8 };
/* B read in place by gemm_main_bd (no pack pass): f32, not transposed, N % 32 == 0, M <= BD_MAX_M.
 * F16 B in place measured ~15% slower than packing it on PoCL (fc1 dX/dW shapes): not enabled. */
enum { BD_MAX_M = 256 };
/* split-K when K >= SPLIT_MIN_K and fewer than SPLIT_TILES output tiles; chunks of >= SPLIT_MIN_CHUNK. */
enum { SPLIT_MIN_K = 1024, SPLIT_TILES = 64, SPLIT_MIN_CHUNK = 256 };

static size_t rup(size_t x, size_t y) { return (x + y - 1) / y * y; }
static size_t cdiv(size_t x, size_t y) { return (x + y - 1) / y; }

static hcl_status gemm_kernel(hcl_context *ctx, const hcl_gemm_args *g, const char *name, cl_kernel *k) {
    char opts[160];
    hcl_dt_options(opts, sizeof opts, "A", g->a_dt, "B", g->b_dt, "C", g->c_dt, "BIAS", g->bias ? g->bias_dt : g->c_dt, NULL);
    return hcl_kernel_get(ctx, "gemm", opts, name, k);
}

static int uses_small(size_t m, size_t n, size_t k) {
    return (double)m * (double)n * (double)k <= SMALL_MNK || m < SMALL_MIN || n < SMALL_MIN;
}

/* The one-launch kernels that read A and B as stored (gemm_small, gemm_dot_nt): sizes, (transposes
 * when the kernel takes them), the three operands with leading dimensions and batch strides, the
 * epilogue. */
static hcl_status launch_unpacked(hcl_context *ctx, const hcl_gemm_args *g, const char *name, int with_trans,
                                  const size_t global[3], const size_t local[3]) {
    cl_kernel k;
    HCL_TRY(gemm_kernel(ctx, g, name, &k));
    cl_int M = (cl_int)g->m, N = (cl_int)g->n, K = (cl_int)g->k, ta = g->trans_a, tb = g->trans_b;
    cl_int lda = (cl_int)g->lda, ldb = (cl_int)g->ldb, ldc = (cl_int)g->ldc;
    cl_ulong a_off = g->a_off, b_off = g->b_off, c_off = g->c_off, sa = g->stride_a, sb = g->stride_b, sc = g->stride_c;
    cl_mem bias = g->bias ? g->bias : g->c; /* any valid buffer when has_bias is 0 */
    cl_ulong bias_off = g->bias ? g->bias_off : 0;
    cl_int has_bias = g->bias != NULL, act = (cl_int)g->act;
    float alpha = g->alpha, beta = g->beta, act_alpha = g->act_alpha;
    hcl_karg args[24];
    size_t n = 0;
    args[n++] = HCL_ARG(M), args[n++] = HCL_ARG(N), args[n++] = HCL_ARG(K);
    if (with_trans) args[n++] = HCL_ARG(ta), args[n++] = HCL_ARG(tb);
    hcl_karg rest[] = {HCL_ARG(g->a), HCL_ARG(a_off), HCL_ARG(lda), HCL_ARG(sa),
                       HCL_ARG(g->b), HCL_ARG(b_off), HCL_ARG(ldb), HCL_ARG(sb),
                       HCL_ARG(g->c), HCL_ARG(c_off), HCL_ARG(ldc), HCL_ARG(sc),
                       HCL_ARG(alpha), HCL_ARG(beta), HCL_ARG(bias), HCL_ARG(bias_off), HCL_ARG(has_bias),
                       HCL_ARG(act), HCL_ARG(act_alpha)};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) args[n++] = rest[i];
    HCL_TRY(hcl_kernel_set_args(ctx, k, args, n));
    size_t gl[3] = {global[0], global[1], global[2]}, lo[3] = {local[0], local[1], local[2]};
    return hcl_kernel_run(ctx, k, 3, gl, lo);
}

/* C (batch,M,N) C_DT = epilogue(alpha op(A) op(B) + beta C) in one launch, 4x16 tile per item. */
static hcl_status launch_small(hcl_context *ctx, const hcl_gemm_args *g) {
    size_t global[3] = {cdiv(g->n, 16), rup(cdiv(g->m, 4), 2), g->batch}, local[3] = {1, 2, 1};
    return launch_unpacked(ctx, g, "gemm_small", 1, global, local);
}

/* gemm_dot_nt (gemm.cl): NT without packing, 4x4 block of row dot products per work-item. */
enum { DOT_TM = 4, DOT_TN = 4, DOT_WG = 4 };
/* ... when M or N is at most DOT_MAX_MN and K >= DOT_K_PER_MN * min(M, N): packing costs (M + N) K,
 * which the panels' faster inner loop repays unless K is long against the small side (PoCL, F16
 * NT: 64x128x5408 dot 0.9 ms vs packed 3.5; 64x512x2048 2.7 vs 5.0; but 2048x128x128 dot 3.7 vs
 * packed 1.0 and 64x192x64, an RNN step, 0.07 vs 0.03; 1024^3 NT: 2.5x slower without panels). */
enum { DOT_MAX_MN = 128, DOT_K_PER_MN = 16 };
/* ... and K >= DOT_MIN_K (below it the k loop is all scalar tail). */
enum { DOT_MIN_K = 16 };

/* NT on CPUs goes to gemm_dot_nt, small shapes included (gemm_small gathers the columns of a
 * transposed B; the dot kernel reads rows): the transposing B pack and the panels cost more than they
 * save (measured on PoCL, AVX-512). GPUs keep the packed panels (coalesced along the tile). */
static int uses_dot(const hcl_context *ctx, const hcl_gemm_args *g) {
    size_t small = g->m < g->n ? g->m : g->n;
    return !ctx->info.is_gpu && !g->trans_a && g->trans_b && g->k >= DOT_MIN_K && small <= DOT_MAX_MN &&
           g->k >= DOT_K_PER_MN * small;
}

static hcl_status launch_dot(hcl_context *ctx, const hcl_gemm_args *g) {
    size_t global[3] = {rup(cdiv(g->m, DOT_TM), DOT_WG), cdiv(g->n, DOT_TN), g->batch}, local[3] = {DOT_WG, 1, 1};
    return launch_unpacked(ctx, g, "gemm_dot_nt", 0, global, local);
}

static int reads_b_in_place(const hcl_gemm_args *g) {
    return g->b_dt == HCL_F32 && !g->trans_b && g->n % TN == 0 && g->m <= BD_MAX_M && (g->ldb * 4) % 4096 != 0;
}

/* Split-K factor for `tiles` output tiles (all matrices of the batch) and depth K. */
static size_t split_of(size_t tiles, size_t K) {
    size_t S = 1;
    if (K >= SPLIT_MIN_K && tiles < SPLIT_TILES) {
        S = cdiv(SPLIT_TILES, tiles);
        if (S > K / SPLIT_MIN_CHUNK) S = K / SPLIT_MIN_CHUNK;
    }
    return cdiv(K, cdiv(K, S));
}

/* Slabs of the packed path. The panels are F32 copies of op(A) (M x K) and op(B) (K x N): for a
 * Linear layer's backward (fashion_mnist's fc1 at batch 256: dW 128x5408x256, B an F16 activation)
 * the whole op(B) panel alone is 5.5 MB of workspace, more than F16 storage saves. So when a panel
 * passes PANEL_CAP_BYTES, the smaller operand is packed once and whole, and the larger one in slabs
 * of whole tiles (rows of C for A, columns for B) of at most PANEL_CAP_BYTES (never under
 * SLAB_MIN_TILES tiles), each packed then multiplied before the next: every element is still
 * packed once, the workspace is the small panel plus one slab. */
#define PANEL_CAP_BYTES ((size_t)512 << 10)
enum { SLAB_MIN_TILES = 4 };
typedef struct slab_plan {
    int by_rows; /* 0: slabs of columns (A packed whole), 1: slabs of rows (B packed whole) */
    size_t width;  /* rows or columns of C per slab (all of them: one slab) */
} slab_plan;

static slab_plan plan_slabs(const hcl_gemm_args *g) {
    slab_plan sp = {0, g->n};
    size_t line = g->k * sizeof(float) * g->batch; /* panel bytes per row of op(A) / column of op(B) */
    if (line == 0) return sp;
    size_t ap = rup(g->m, TM) * line, bp = reads_b_in_place(g) ? 0 : rup(g->n, TN) * line;
    if (ap <= PANEL_CAP_BYTES && bp <= PANEL_CAP_BYTES) return sp;
    sp.by_rows = ap > bp;
    size_t unit = sp.by_rows ? TM : TN, total = sp.by_rows ? g->m : g->n;
    size_t w = PANEL_CAP_BYTES / line / unit * unit;
    if (w < SLAB_MIN_TILES * unit) w = SLAB_MIN_TILES * unit;
    sp.width = w < total ? w : total;
    return sp;
}

/* Workspace floats of the packed path for g and its slab plan (an upper bound over its slabs). */
static size_t packed_floats(const hcl_gemm_args *g, const slab_plan *sp) {
    size_t M = g->m, N = g->n, K = g->k, batch = g->batch;
    size_t ms = sp->by_rows ? sp->width : M, ns = sp->by_rows ? N : sp->width;
    size_t ap_n = batch * cdiv(ms, TM) * TM * K, bp_n = reads_b_in_place(g) ? 0 : batch * cdiv(ns, TN) * TN * K;
    size_t part_n = 0;
    /* the full slab and the (narrower, maybe more split) last one */
    size_t last = (sp->by_rows ? M : N) % sp->width;
    for (int i = 0; i < 2; i++) {
        size_t w = i == 0 ? sp->width : last;
        if (w == 0) continue;
        size_t mp = cdiv(sp->by_rows ? w : M, TM), nt = cdiv(sp->by_rows ? N : w, TN);
        size_t S = split_of(mp * nt * batch, K), p = S > 1 ? batch * S * mp * TM * nt * TN : 0;
        if (p > part_n) part_n = p;
    }
    return rup(ap_n, 16) + rup(bp_n, 16) + part_n;
}

/* Ap (batch, MP, K, 16) f32 at float offset wap <- op(A) (batch, M_, K) A_DT from a_off. */
static hcl_status pack_a(hcl_context *ctx, const hcl_gemm_args *g, cl_ulong a_off, size_t M_, cl_mem ws, cl_ulong wap) {
    cl_kernel k;
    HCL_TRY(gemm_kernel(ctx, g, "gemm_pack_a", &k));
    cl_int m = (cl_int)M_, K_ = (cl_int)g->k, ta = g->trans_a, lda = (cl_int)g->lda;
    cl_ulong sa = g->stride_a;
    hcl_karg a[] = {HCL_ARG(m), HCL_ARG(K_), HCL_ARG(ta), HCL_ARG(g->a), HCL_ARG(a_off), HCL_ARG(lda), HCL_ARG(sa),
                    HCL_ARG(ws), HCL_ARG(wap)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
    size_t global[3] = {rup(cdiv(g->k, 16), 4), cdiv(M_, TM), g->batch}, local[3] = {4, 1, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* Bp (batch, NT, K, 32) f32 at float offset wbp <- op(B) (batch, K, N_) B_DT from b_off. */
static hcl_status pack_b(hcl_context *ctx, const hcl_gemm_args *g, cl_ulong b_off, size_t N_, cl_mem ws, cl_ulong wbp) {
    cl_kernel k;
    HCL_TRY(gemm_kernel(ctx, g, "gemm_pack_b", &k));
    cl_int n = (cl_int)N_, K_ = (cl_int)g->k, tb = g->trans_b, ldb = (cl_int)g->ldb;
    cl_ulong sb = g->stride_b;
    hcl_karg a[] = {HCL_ARG(n), HCL_ARG(K_), HCL_ARG(tb), HCL_ARG(g->b), HCL_ARG(b_off), HCL_ARG(ldb), HCL_ARG(sb),
                    HCL_ARG(ws), HCL_ARG(wbp)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
    size_t global[3] = {rup(cdiv(g->k, 16), 4), cdiv(N_, TN), g->batch}, local[3] = {4, 1, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* The panels' B as gemm_main reads it: Bp in the workspace, or B itself (gemm_main_bd). */
typedef struct b_src {
    cl_mem buf;
    cl_ulong off, bstride, tstride; /* start, per matrix, per 32-column tile */
    cl_int rstride;                 /* per k */
} b_src;

/* C (batch, M_, N_) from the packed Ap at wap and B (bs), with split-K into part at wpart. */
static hcl_status multiply(hcl_context *ctx, const hcl_gemm_args *g, size_t M_, size_t N_, cl_mem ws, cl_ulong wap,
                           const b_src *bs, cl_ulong c_off, cl_ulong bias_off, cl_ulong wpart, int direct_b) {
    const size_t MP = cdiv(M_, TM), NT = cdiv(N_, TN), K = g->k, batch = g->batch;
    size_t S = split_of(MP * NT * batch, K), kchunk = cdiv(K, S);
    cl_int m = (cl_int)M_, n = (cl_int)N_, K_ = (cl_int)K, ldc = (cl_int)g->ldc;
    cl_ulong sc = g->stride_c;
    cl_mem bias = g->bias ? g->bias : g->c; /* any valid buffer when has_bias is 0 */
    if (!g->bias) bias_off = 0;
    cl_int has_bias = g->bias != NULL, act = (cl_int)g->act, nsplit = (cl_int)S, kch = (cl_int)kchunk;
    float alpha = g->alpha, beta = g->beta, act_alpha = g->act_alpha;
    cl_kernel k;
    {   /* C (batch, M, N) C_DT, or part (batch, S, MP*16, NT*32) f32 when split */
        HCL_TRY(gemm_kernel(ctx, g, direct_b ? "gemm_main_bd" : "gemm_main", &k));
        hcl_karg a[] = {HCL_ARG(m), HCL_ARG(n), HCL_ARG(K_), HCL_ARG(ws), HCL_ARG(wap),
                        HCL_ARG(bs->buf), HCL_ARG(bs->off), HCL_ARG(bs->bstride), HCL_ARG(bs->tstride), HCL_ARG(bs->rstride),
                        HCL_ARG(g->c), HCL_ARG(c_off), HCL_ARG(ldc), HCL_ARG(sc), HCL_ARG(alpha), HCL_ARG(beta),
                        HCL_ARG(bias), HCL_ARG(bias_off), HCL_ARG(has_bias), HCL_ARG(act), HCL_ARG(act_alpha),
                        HCL_ARG(nsplit), HCL_ARG(kch), HCL_ARG(ws), HCL_ARG(wpart)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {rup(MP, WG), NT, batch * S}, local[3] = {WG, 1, 1};
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    if (S > 1) { /* C (batch, M, N) C_DT = epilogue(sum over s of part) */
        HCL_TRY(gemm_kernel(ctx, g, "gemm_splitk_reduce", &k));
        hcl_karg a[] = {HCL_ARG(m), HCL_ARG(n), HCL_ARG(nsplit), HCL_ARG(ws), HCL_ARG(wpart),
                        HCL_ARG(g->c), HCL_ARG(c_off), HCL_ARG(ldc), HCL_ARG(sc), HCL_ARG(alpha), HCL_ARG(beta),
                        HCL_ARG(bias), HCL_ARG(bias_off), HCL_ARG(has_bias), HCL_ARG(act), HCL_ARG(act_alpha)};
        HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
        size_t global[3] = {2 * NT, rup(M_, 4), batch}, local[3] = {1, 4, 1};
        HCL_TRY(hcl_kernel_run(ctx, k, 3, global, local));
    }
    return HCL_OK;
}

/* Packed path for `batch` matrices starting at the offsets in g: the whole operand packed once,
 * then per slab the other operand's slab packed (unless B is read in place) and multiplied (main
 * kernel + split-K reduce). Ap, Bp and the partial sums are carved out of one GEMM workspace. */
static hcl_status launch_packed(hcl_context *ctx, const hcl_gemm_args *g, const slab_plan *sp) {
    const size_t M = g->m, N = g->n, K = g->k, batch = g->batch;
    int direct_b = reads_b_in_place(g);
    size_t ms = sp->by_rows ? sp->width : M, ns = sp->by_rows ? N : sp->width;
    /* float offsets of the three areas, each 64-byte aligned */
    size_t ap_n = batch * cdiv(ms, TM) * TM * K, bp_n = direct_b ? 0 : batch * cdiv(ns, TN) * TN * K;
    cl_ulong wap = 0, wbp = rup(ap_n, 16), wpart = wbp + rup(bp_n, 16);
    cl_mem ws;
    HCL_TRY(hcl_gemm_workspace_get(ctx, packed_floats(g, sp) * sizeof(float), &ws));
    /* B as the main kernel reads it, for columns from n0 */
    b_src bs = {g->b, g->b_off, g->stride_b, TN, (cl_int)g->ldb};
    if (!direct_b) bs = (b_src){ws, wbp, 0, (cl_ulong)K * TN, TN};
    if (!sp->by_rows) {
        HCL_TRY(pack_a(ctx, g, g->a_off, M, ws, wap));
        for (size_t n0 = 0; n0 < N; n0 += sp->width) {
            size_t nw = N - n0 < sp->width ? N - n0 : sp->width;
            b_src b = bs;
            if (direct_b) {
                b.off += n0;
            } else {
                HCL_TRY(pack_b(ctx, g, g->b_off + n0 * (g->trans_b ? g->ldb : 1), nw, ws, wbp));
                b.bstride = (cl_ulong)cdiv(nw, TN) * K * TN;
            }
            HCL_TRY(multiply(ctx, g, M, nw, ws, wap, &b, g->c_off + n0, g->bias_off + n0, wpart, direct_b));
        }
        return HCL_OK;
    }
    if (!direct_b) {
        HCL_TRY(pack_b(ctx, g, g->b_off, N, ws, wbp));
        bs.bstride = (cl_ulong)cdiv(N, TN) * K * TN;
    }
    for (size_t m0 = 0; m0 < M; m0 += sp->width) {
        size_t mh = M - m0 < sp->width ? M - m0 : sp->width;
        HCL_TRY(pack_a(ctx, g, g->a_off + m0 * (g->trans_a ? 1 : g->lda), mh, ws, wap));
        HCL_TRY(multiply(ctx, g, mh, N, ws, wap, &bs, g->c_off + m0 * g->ldc, g->bias_off, wpart, direct_b));
    }
    return HCL_OK;
}

/* C = act(C + bias) (batch, M, N) C_DT after CLBlast, which has no epilogue. */
static hcl_status launch_epilogue(hcl_context *ctx, const hcl_gemm_args *g) {
    if (!g->bias && g->act == HCL_ACT_NONE) return HCL_OK;
    cl_kernel k;
    HCL_TRY(gemm_kernel(ctx, g, "gemm_epilogue", &k));
    cl_int M = (cl_int)g->m, N = (cl_int)g->n, ldc = (cl_int)g->ldc;
    cl_ulong c_off = g->c_off, sc = g->stride_c;
    cl_mem bias = g->bias ? g->bias : g->c;
    cl_ulong bias_off = g->bias ? g->bias_off : 0;
    cl_int has_bias = g->bias != NULL, act = (cl_int)g->act;
    float act_alpha = g->act_alpha;
    hcl_karg a[] = {HCL_ARG(M), HCL_ARG(N), HCL_ARG(g->c), HCL_ARG(c_off), HCL_ARG(ldc), HCL_ARG(sc),
                    HCL_ARG(bias), HCL_ARG(bias_off), HCL_ARG(has_bias), HCL_ARG(act), HCL_ARG(act_alpha)};
    HCL_TRY(hcl_kernel_set_args(ctx, k, a, sizeof a / sizeof a[0]));
    size_t global[3] = {g->n, g->m, g->batch}, local[3] = {g->n >= 16 ? 16 : 1, 4, 1};
    return hcl_kernel_run(ctx, k, 3, global, local);
}

/* Which CLBlast routine fits the dtypes: 1 SGEMM, 2 HGEMM (opted in), 0 none. */
static int clblast_kind(const hcl_gemm_args *g) {
    if (g->a_dt == HCL_F32 && g->b_dt == HCL_F32 && g->c_dt == HCL_F32) return 1;
    if (g->allow_half_accumulation && g->a_dt == HCL_F16 && g->b_dt == HCL_F16 && g->c_dt == HCL_F16) return 2;
    return 0;
}

/* The AUTO rule (ops.h): CLBlast SGEMM only on GPUs, all-F32, M, N, K >= 512. On the CPU devices
 * measured (PoCL 3.1, 2-core Skylake) CLBlast was 2-40x slower than ours in every bench case, so CPUs
 * never. The GPU threshold is a guess until measured on one. */
static int auto_uses_clblast(const hcl_context *ctx, const hcl_gemm_args *g) {
    return ctx->info.is_gpu && clblast_kind(g) == 1 && g->m >= 512 && g->n >= 512 && g->k >= 512;
}

static hcl_status launch_clblast(hcl_context *ctx, const hcl_gemm_args *g) {
    int kind = clblast_kind(g);
    if (!kind)
        return hcl_error(ctx, HCL_ERR_DTYPE, "the CLBlast backend needs F32 A, B, C (or all F16 with "
                         "allow_half_accumulation); got A %s, B %s, C %s", hcl_dtype_name(g->a_dt),
                         hcl_dtype_name(g->b_dt), hcl_dtype_name(g->c_dt));
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_command_queue q = ctx->queue;
    cl_event ev = NULL;
    CLBlastStatusCode st;
    const char *fn;
    if (kind == 1 && g->batch == 1) {
        fn = "CLBlastSgemm";
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off, g->lda,
                          g->b, g->b_off, g->ldb, g->beta, g->c, g->c_off, g->ldc, &q, &ev);
    } else if (kind == 1) {
        fn = "CLBlastSgemmStridedBatched";
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha,
                                        g->a, g->a_off, g->lda, g->stride_a, g->b, g->b_off, g->ldb, g->stride_b,
                                        g->beta, g->c, g->c_off, g->ldc, g->stride_c, g->batch, &q, &ev);
    } else {
        fn = "CLBlastHgemm";
        cl_half alpha = hcl_f32_to_f16(g->alpha), beta = hcl_f32_to_f16(g->beta);
        st = CLBlastSuccess;
        for (size_t b = 0; b < g->batch && st == CLBlastSuccess; b++) {
            if (ev) clReleaseEvent(ev);
            ev = NULL;
            st = CLBlastHgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, alpha, g->a, g->a_off + b * g->stride_a, g->lda,
                              g->b, g->b_off + b * g->stride_b, g->ldb, beta, g->c, g->c_off + b * g->stride_c, g->ldc, &q, &ev);
        }
    }
    if (ev) clReleaseEvent(ev); /* in-order queue: later work waits for it anyway */
    if (st != CLBlastSuccess)
        return hcl_error(ctx, st == CLBlastNoHalfPrecision ? HCL_ERR_CAPABILITY : HCL_ERR_OPENCL,
                         "%s failed with CLBlast status %d", fn, (int)st);
    return launch_epilogue(ctx, g);
}

hcl_status hcl_gemm_enqueue(hcl_context *ctx, const hcl_gemm_args *args) {
    hcl_gemm_args gb = *args;
    if (gb.batch == 0) gb.batch = 1; /* an unset batch is one matrix */
    const hcl_gemm_args *g = &gb;
    if (g->m == 0 || g->n == 0) return HCL_OK;
    if (g->m > INT_MAX || g->n > INT_MAX || g->k > INT_MAX || g->lda > INT_MAX || g->ldb > INT_MAX || g->ldc > INT_MAX)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "GEMM sizes and leading dimensions must be below 2^31 (M %zu, N %zu, "
                         "K %zu, lda %zu, ldb %zu, ldc %zu)", g->m, g->n, g->k, g->lda, g->ldb, g->ldc);
    if (g->backend == HCL_GEMM_CLBLAST || (g->backend == HCL_GEMM_AUTO && auto_uses_clblast(ctx, g)))
        return launch_clblast(ctx, g);
    if (uses_dot(ctx, g)) return launch_dot(ctx, g);
    if (g->k == 0 || uses_small(g->m, g->n, g->k)) return launch_small(ctx, g);
    /* the packed path, in batch chunks whose panels fit one device allocation */
    hcl_gemm_args one = *g;
    one.batch = 1;
    slab_plan sp1 = plan_slabs(&one);
    size_t per = packed_floats(&one, &sp1) * sizeof(float);
    size_t cap = ctx->info.max_alloc_bytes ? (size_t)ctx->info.max_alloc_bytes : (size_t)1 << 30;
    if (per > cap) return launch_small(ctx, g);
    size_t chunk = cap / per;
    for (size_t b0 = 0; b0 < g->batch; b0 += chunk) {
        hcl_gemm_args c = *g;
        c.batch = g->batch - b0 < chunk ? g->batch - b0 : chunk;
        c.a_off += b0 * g->stride_a;
        c.b_off += b0 * g->stride_b;
        c.c_off += b0 * g->stride_c;
        slab_plan sp = plan_slabs(&c);
        HCL_TRY(launch_packed(ctx, &c, &sp));
    }
    return HCL_OK;
}

hcl_status hcl_gemm(hcl_context *ctx, hcl_tensor *c, const hcl_tensor *a, const hcl_tensor *b, const hcl_tensor *bias,
                    const hcl_gemm_desc *desc) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, desc);
    HCL_TRY(hcl_check_float(ctx, c, "C"));
    HCL_TRY(hcl_check_float(ctx, a, "A"));
    HCL_TRY(hcl_check_float(ctx, b, "B"));
    if (bias) HCL_TRY(hcl_check_float(ctx, bias, "bias"));
    HCL_TRY(hcl_check_no_alias(ctx, c, "C", a, "A"));
    HCL_TRY(hcl_check_no_alias(ctx, c, "C", b, "B"));
    HCL_TRY(hcl_check_no_alias(ctx, c, "C", bias, "bias"));
    if (c->rank != 2 && c->rank != 3) return hcl_error(ctx, HCL_ERR_SHAPE, "C must be rank 2 (M,N) or 3 (batch,M,N), is %d", c->rank);
    int batched = c->rank == 3;
    size_t batch = batched ? (size_t)c->shape[0] : 1;
    size_t m = (size_t)c->shape[c->rank - 2], n = (size_t)c->shape[c->rank - 1];
    const hcl_tensor *ops[2] = {a, b};
    size_t rows[2], cols[2], stride[2];
    for (int i = 0; i < 2; i++) {
        const hcl_tensor *t = ops[i];
        const char *nm = i ? "B" : "A";
        if (t->rank == 3 && batched) {
            if ((size_t)t->shape[0] != batch)
                return hcl_error(ctx, HCL_ERR_SHAPE, "%s has batch %lld, C has %zu", nm, (long long)t->shape[0], batch);
        } else if (t->rank != 2) {
            return hcl_error(ctx, HCL_ERR_SHAPE, "%s must be rank 2%s, is rank %d", nm, batched ? " or 3" : "", t->rank);
        }
        rows[i] = (size_t)t->shape[t->rank - 2];
        cols[i] = (size_t)t->shape[t->rank - 1];
        stride[i] = t->rank == 3 ? rows[i] * cols[i] : 0;
    }
    size_t am = desc->trans_a ? cols[0] : rows[0], ak = desc->trans_a ? rows[0] : cols[0];
    size_t bk = desc->trans_b ? cols[1] : rows[1], bn = desc->trans_b ? rows[1] : cols[1];
    if (am != m || bn != n || ak != bk)
        return hcl_error(ctx, HCL_ERR_SHAPE, "op(A) is %zux%zu, op(B) is %zux%zu, C is %zux%zu: inner or outer dims disagree",
                         am, ak, bk, bn, m, n);
    if (bias && bias->count != n) return hcl_error(ctx, HCL_ERR_SHAPE, "bias has %zu elements, C has %zu columns", bias->count, n);
    if ((unsigned)desc->epilogue >= HCL_ACT_COUNT_) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid epilogue %d", (int)desc->epilogue);
    if ((unsigned)desc->backend > HCL_GEMM_CLBLAST) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "invalid backend %d", (int)desc->backend);
    hcl_gemm_args g = {
        .a = a->buffer, .b = b->buffer, .c = c->buffer, .bias = bias ? bias->buffer : NULL,
        .a_off = a->offset, .b_off = b->offset, .c_off = c->offset, .bias_off = bias ? bias->offset : 0,
        .a_dt = a->dtype, .b_dt = b->dtype, .c_dt = c->dtype, .bias_dt = bias ? bias->dtype : HCL_F32,
        .lda = cols[0], .ldb = cols[1], .ldc = n,
        .stride_a = stride[0], .stride_b = stride[1], .stride_c = batched ? m * n : 0,
        .m = m, .n = n, .k = ak, .batch = batch,
        .trans_a = desc->trans_a, .trans_b = desc->trans_b, .alpha = desc->alpha, .beta = desc->beta,
        .act = desc->epilogue, .act_alpha = desc->epilogue_alpha, .backend = desc->backend,
        .allow_half_accumulation = desc->allow_half_accumulation,
    };
    return hcl_gemm_enqueue(ctx, &g);
}
