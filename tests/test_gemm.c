/* GEMM: every transpose in F32/F16/BF16 and mixed dtypes against an FP64 host reference, on every
 * kernel path (gemm_small, the packed panels, sizes either side of the thresholds and off the 16x32
 * tiles, in-place B in every dtype, split-K; on CPUs NT with a long K against min(M, N) is
 * gemm_dot_nt), batched with shared operands, alpha/beta (beta 0 never reads
 * C; F16 C read back), bias in each dtype, every epilogue, every finite F16 value exactly through
 * the packed path, offset views, the Linear-layer backward identities
 * against finite differences and the analytic FP64 gradients, the CLBlast backend, bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

/* HALFCL_TEST_SMALL=1 (the oclgrind run) drops the largest cases; each path stays covered. */
static int small_run(void) {
    const char *s = getenv("HALFCL_TEST_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

static double ref_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static double ref_act(int act, double x, double alpha) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0 ? x : 0;
    case HCL_ACT_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case HCL_ACT_SIGMOID: return ref_sigmoid(x);
    case HCL_ACT_TANH: return tanh(x);
    case HCL_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case HCL_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case HCL_ACT_SILU: return x * ref_sigmoid(x);
    default: return x;
    }
}

/* One GEMM case: C (batch?, M, N) = act(alpha op(A) op(B) + beta C + bias). a_rank/b_rank 2 with
 * batch > 1 share the operand; batch 0 means rank-2 C. off > 0 puts A, B, C at that element offset
 * in a larger buffer (views), so the kernels see unaligned starts. */
typedef struct gcase {
    int m, n, k, batch, ta, tb;
    hcl_dtype ad, bd, cd, biasd;
    int has_bias, act, a_rank, b_rank, off;
    float alpha, beta;
    hcl_gemm_backend backend;
} gcase;

static gcase gc(int m, int n, int k, int ta, int tb, hcl_dtype dt) {
    gcase c = {.m = m, .n = n, .k = k, .ta = ta, .tb = tb, .ad = dt, .bd = dt, .cd = dt, .biasd = dt,
               .a_rank = 2, .b_rank = 2, .alpha = 1.0f, .beta = 0.0f, .backend = HCL_GEMM_AUTO};
    return c;
}

static hcl_tensor *make(hcl_context *ctx, hcl_dtype dt, int rank, const int64_t *shape, const float *host, int off,
                        hcl_tensor **base) {
    size_t count = 1;
    for (int i = 0; i < rank; i++) count *= (size_t)shape[i];
    if (!off) {
        *base = NULL;
        return host ? test_tensor_from(ctx, dt, rank, shape, host) : test_tensor_poisoned(ctx, dt, rank, shape);
    }
    int64_t total = (int64_t)(count + (size_t)off + 5);
    *base = test_tensor_poisoned(ctx, dt, 1, &total);
    hcl_tensor *v = NULL;
    CK_OK(ctx, hcl_tensor_view(*base, (size_t)off, rank, shape, &v));
    if (host) CK_OK(ctx, hcl_tensor_upload_f32(v, host, count));
    return v;
}

/* Runs one case and returns the relative error against the FP64 reference (checked by callers). */
static double run_case(hcl_context *ctx, const gcase *c) {
    int nb = c->batch ? c->batch : 1;
    int ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k; /* stored A rows x cols */
    int br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
    int a_b = (c->batch && c->a_rank == 3) ? nb : 1, b_b = (c->batch && c->b_rank == 3) ? nb : 1;
    size_t an = (size_t)a_b * ar * ac, bn = (size_t)b_b * br * bc, cn = (size_t)nb * c->m * c->n;
    float *A = malloc((an + 1) * sizeof *A), *B = malloc((bn + 1) * sizeof *B), *C0 = malloc((cn + 1) * sizeof *C0);
    float *bias = malloc(((size_t)c->n + 1) * sizeof *bias);
    double *ref = malloc((cn + 1) * sizeof *ref);
    test_fill_uniform(A, an, -1, 1);
    test_fill_uniform(B, bn, -1, 1);
    test_fill_uniform(C0, cn, -1, 1);
    test_fill_uniform(bias, (size_t)c->n, -1, 1);
    test_round_to_dtype(A, an, c->ad);
    test_round_to_dtype(B, bn, c->bd);
    test_round_to_dtype(C0, cn, c->cd);
    test_round_to_dtype(bias, (size_t)c->n, c->biasd);
    for (int b = 0; b < nb; b++) {
        const float *Ab = A + (a_b > 1 ? (size_t)b * ar * ac : 0), *Bb = B + (b_b > 1 ? (size_t)b * br * bc : 0);
        for (int i = 0; i < c->m; i++)
            for (int j = 0; j < c->n; j++) {
                double s = 0;
                for (int p = 0; p < c->k; p++) {
                    double av = c->ta ? Ab[(size_t)p * ac + i] : Ab[(size_t)i * ac + p];
                    double bv = c->tb ? Bb[(size_t)j * bc + p] : Bb[(size_t)p * bc + j];
                    s += av * bv;
                }
                size_t ci = ((size_t)b * c->m + i) * c->n + j;
                double v = c->alpha * s + (c->beta != 0.0f ? (double)c->beta * C0[ci] : 0.0) + (c->has_bias ? bias[j] : 0.0);
                ref[ci] = ref_act(c->act, v, 0.1);
            }
    }
    int64_t as[3] = {a_b, ar, ac}, bs[3] = {b_b, br, bc}, cs[3] = {nb, c->m, c->n}, biass[1] = {c->n};
    int arank = (c->batch && c->a_rank == 3) ? 3 : 2, brank = (c->batch && c->b_rank == 3) ? 3 : 2, crank = c->batch ? 3 : 2;
    hcl_tensor *abase, *bbase, *cbase, *biasbase;
    hcl_tensor *ta = make(ctx, c->ad, arank, as + 3 - arank, A, c->off, &abase);
    hcl_tensor *tb = make(ctx, c->bd, brank, bs + 3 - brank, B, c->off, &bbase);
    hcl_tensor *tc = make(ctx, c->cd, crank, cs + 3 - crank, c->beta != 0.0f ? C0 : NULL, c->off, &cbase);
    hcl_tensor *tbias = c->has_bias ? make(ctx, c->biasd, 1, biass, bias, 0, &biasbase) : NULL;
    hcl_gemm_desc d;
    hcl_gemm_desc_init(&d);
    d.trans_a = c->ta;
    d.trans_b = c->tb;
    d.alpha = c->alpha;
    d.beta = c->beta;
    d.epilogue = (hcl_activation)c->act;
    d.epilogue_alpha = 0.1f;
    d.backend = c->backend;
    CK_OK(ctx, hcl_gemm(ctx, tc, ta, tb, tbias, &d));
    float *out = test_download(tc);
    double e = test_rel_err(out, ref, cn);
    if (c->off) { /* the elements around the view stay poisoned: nothing outside C is written */
        float *all = test_download(cbase);
        for (int i = 0; i < c->off; i++) ck_assert_msg(isnan(all[i]), "element %d before C written", i);
        for (size_t i = (size_t)c->off + cn; i < cbase->count; i++) ck_assert_msg(isnan(all[i]), "element %zu after C written", i);
        free(all);
    }
    free(out);
    free(A); free(B); free(C0); free(bias); free(ref);
    hcl_tensor_free(ta); hcl_tensor_free(tb); hcl_tensor_free(tc); hcl_tensor_free(tbias);
    hcl_tensor_free(abase); hcl_tensor_free(bbase); hcl_tensor_free(cbase);
    return e;
}

/* The tolerance of C's dtype, x4 for F32 at large K (FP32 accumulation error grows ~sqrt(K) eps). */
static double tol(const gcase *c) { return test_tolerance(c->cd) * (c->cd == HCL_F32 && c->k > 512 ? 4 : 1); }

static void check(hcl_context *ctx, const gcase *c) {
    double e = run_case(ctx, c);
    ck_assert_msg(e <= tol(c), "gemm M=%d N=%d K=%d batch=%d %c%c A %s B %s C %s bias %s(%d) act %d alpha %g beta %g "
                  "ranks %d/%d off %d backend %d: rel err %g > %g (%s)", c->m, c->n, c->k, c->batch, c->ta ? 'T' : 'N',
                  c->tb ? 'T' : 'N', hcl_dtype_name(c->ad), hcl_dtype_name(c->bd), hcl_dtype_name(c->cd),
                  hcl_dtype_name(c->biasd), c->has_bias, c->act, c->alpha, c->beta, c->a_rank, c->b_rank, c->off,
                  (int)c->backend, e, tol(c), test_seed_note());
}

/* (M, N, K) either side of the gemm_small threshold (M*N*K <= 65536 or M or N < 8) and off the
 * 16x32 tiles: 33x33x33 small; 33x40x65, 17x96x50 (in-place B for F32 NN/TN), 129^3 packed. */
static const int shapes[][3] = {{1, 1, 1}, {7, 7, 7}, {1, 129, 33}, {129, 1, 7}, {33, 33, 33},
                                {7, 33, 129}, {33, 40, 65}, {17, 96, 50}, {129, 129, 129}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static void transposes_in(hcl_dtype dt) {
    hcl_context *ctx = test_context();
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < NSHAPES; s++) {
            if (small_run() && shapes[s][0] == 129 && shapes[s][1] == 129) continue;
            gcase c = gc(shapes[s][0], shapes[s][1], shapes[s][2], t >> 1, t & 1, dt);
            check(ctx, &c);
        }
    hcl_context_free(ctx);
}

START_TEST(test_transposes_f32) { transposes_in(HCL_F32); }
END_TEST
START_TEST(test_transposes_f16) { transposes_in(HCL_F16); }
END_TEST
START_TEST(test_transposes_bf16) { transposes_in(HCL_BF16); }
END_TEST

START_TEST(test_mixed_dtypes) {
    hcl_context *ctx = test_context();
    static const hcl_dtype combos[][3] = {{HCL_F16, HCL_F32, HCL_F32}, {HCL_F32, HCL_BF16, HCL_F16}, {HCL_BF16, HCL_F16, HCL_F32}};
    static const int sh[][3] = {{7, 33, 13}, {33, 40, 65}, {20, 64, 70}};
    for (size_t i = 0; i < 3; i++)
        for (int t = 0; t < 4; t++)
            for (size_t s = 0; s < 3; s++) {
                gcase c = gc(sh[s][0], sh[s][1], sh[s][2], t >> 1, t & 1, combos[i][0]);
                c.bd = combos[i][1];
                c.cd = c.biasd = combos[i][2];
                check(ctx, &c);
            }
    hcl_context_free(ctx);
}
END_TEST

/* Split-K (K >= 1024 with few output tiles): partial sums then the ordered reduce. */
START_TEST(test_split_k) {
    hcl_context *ctx = test_context();
    static const int sh[][3] = {{9, 9, 1100}, {33, 33, 2049}, {16, 64, 1024}};
    for (size_t s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++) {
            if (small_run() && sh[s][2] > 1100) continue;
            gcase c = gc(sh[s][0], sh[s][1], sh[s][2], t >> 1, t & 1, s == 2 ? HCL_F16 : HCL_F32);
            c.has_bias = s == 1;
            c.act = s == 1 ? HCL_ACT_RELU : HCL_ACT_NONE;
            c.beta = s == 0 ? 0.5f : 0.0f;
            check(ctx, &c);
        }
    hcl_context_free(ctx);
}
END_TEST

/* gemm_dot_nt (CPUs, NT, K >= 16, min(M, N) <= 128 and K >= 16 min(M, N)) off its 4x4 blocks and
 * 16-wide k steps: K a multiple of 16 (no tail) and not, M or N the large one, M below gemm_small's
 * minimum, batched with a shared B, beta and bias + ReLU. */
START_TEST(test_dot_nt) {
    hcl_context *ctx = test_context();
    static const int sh[][4] = {{3, 200, 64, 0}, {200, 3, 49, 0}, {1, 7, 16, 0}, {130, 5, 81, 0}, {9, 14, 151, 2}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int i = 0; i < 3; i++) {
            gcase c = gc(sh[s][0], sh[s][1], sh[s][2], 0, 1, test_float_dtypes[i]);
            c.batch = sh[s][3];
            c.b_rank = 2;
            c.beta = (s + (size_t)i) % 2 ? 0.5f : 0.0f;
            c.has_bias = s % 2 == 0;
            c.act = s % 2 == 0 ? HCL_ACT_RELU : HCL_ACT_NONE;
            check(ctx, &c);
        }
    hcl_context_free(ctx);
}
END_TEST

/* The packed path in slabs (src/ops/gemm.c plan_slabs: a packed panel above 512 KiB): a wide B in
 * column slabs with A packed once (N not a multiple of the slab or the tile), a tall A in row
 * slabs with B packed once, and slabs with split-K (a narrower, more split last slab); bias + ReLU
 * and beta != 0 on the shifted rows/columns, all transposes, F32/F16/BF16, a batch of 2, offsets. */
START_TEST(test_slabs) {
    hcl_context *ctx = test_context();
    const int n = small_run() ? 2100 : 4133, k = small_run() ? 70 : 100;
    for (int t = 0; t < 4; t++)
        for (int v = 0; v < 3; v++) {
            gcase c = gc(33, n, k, t >> 1, t & 1, test_float_dtypes[v]);
            c.has_bias = 1;
            c.act = HCL_ACT_RELU;
            c.beta = v ? 0.5f : 0.0f;
            c.batch = v == 1 ? 0 : 2;
            c.a_rank = c.b_rank = v == 1 ? 2 : 3;
            c.off = v ? 3 : 0;
            check(ctx, &c); /* column slabs */
            c.m = n;
            c.n = 33;
            check(ctx, &c); /* row slabs */
            if (small_run()) continue;
            c = gc(20, 600, 2100, t >> 1, t & 1, test_float_dtypes[v]);
            c.has_bias = t == 0;
            c.beta = t == 1 ? -0.5f : 0.0f;
            check(ctx, &c); /* column slabs of 128, each split-K, the last one 88 wide */
            c.m = 600;
            c.n = 20;
            check(ctx, &c); /* row slabs with split-K */
        }
    hcl_context_free(ctx);
}
END_TEST

/* One larger case per path (skinny small path and packed), F32. */
START_TEST(test_large) {
    if (small_run()) return;
    hcl_context *ctx = test_context();
    gcase c = gc(1, 1000, 1000, 0, 1, HCL_F32);
    check(ctx, &c);
    c = gc(1000, 33, 37, 1, 0, HCL_F32);
    c.has_bias = 1;
    check(ctx, &c);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(test_batched) {
    hcl_context *ctx = test_context();
    static const int sh[][3] = {{7, 9, 5}, {33, 40, 65}, {17, 64, 30}};
    for (size_t s = 0; s < 3; s++)
        for (int ranks = 0; ranks < 3; ranks++) /* both rank 3, A shared, B shared */
            for (int t = 0; t < 4; t++) {
                gcase c = gc(sh[s][0], sh[s][1], sh[s][2], t >> 1, t & 1, s == 1 ? HCL_BF16 : HCL_F32);
                c.batch = 3;
                c.a_rank = ranks == 1 ? 2 : 3;
                c.b_rank = ranks == 2 ? 2 : 3;
                c.has_bias = t == 1;
                c.beta = t == 2 ? -0.5f : 0.0f;
                check(ctx, &c);
            }
    hcl_context_free(ctx);
}
END_TEST

/* alpha/beta: beta != 0 reads C; beta 0 with C poisoned NaN (run_case poisons C when beta is 0)
 * must not read it. Offset views on both paths. */
START_TEST(test_alpha_beta_offsets) {
    hcl_context *ctx = test_context();
    static const int sh[][3] = {{7, 33, 13}, {33, 40, 65}, {20, 64, 70}};
    for (size_t s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++)
            for (int bi = 0; bi < 2; bi++) {
                gcase c = gc(sh[s][0], sh[s][1], sh[s][2], t >> 1, t & 1, bi ? HCL_F16 : HCL_F32);
                c.alpha = -0.75f;
                c.beta = bi ? 0.0f : 1.25f;
                c.off = (int)s + 1;
                check(ctx, &c);
            }
    hcl_context_free(ctx);
}
END_TEST

/* Bias in each dtype (C F32) and every epilogue, on both paths and the split-K reduce. */
START_TEST(test_bias_epilogues) {
    hcl_context *ctx = test_context();
    for (size_t i = 0; i < 3; i++) {
        gcase c = gc(33, 40, 65, 0, 0, HCL_F32);
        c.has_bias = 1;
        c.biasd = test_float_dtypes[i];
        check(ctx, &c);
        c = gc(5, 19, 7, 1, 1, HCL_F32);
        c.has_bias = 1;
        c.biasd = test_float_dtypes[i];
        check(ctx, &c);
    }
    static const int sh[][3] = {{5, 19, 7}, {33, 40, 65}, {9, 9, 1100}};
    for (int act = 0; act < HCL_ACT_COUNT_; act++)
        for (size_t s = 0; s < 3; s++)
            for (int bi = 0; bi < 2; bi++) {
                gcase c = gc(sh[s][0], sh[s][1], sh[s][2], 0, 1, bi ? HCL_F16 : HCL_F32);
                c.has_bias = 1;
                c.act = act;
                c.beta = bi ? 0.0f : 0.5f;
                check(ctx, &c);
            }
    hcl_context_free(ctx);
}
END_TEST

/* F16 C read back with beta != 0 on the packed path and the split-K reduce (the epilogue's 16-wide
 * F16 load and store), every transpose. */
START_TEST(test_f16_beta) {
    hcl_context *ctx = test_context();
    static const int sh[][3] = {{33, 40, 65}, {17, 96, 50}, {20, 64, 1100}};
    for (size_t s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++) {
            if (small_run() && sh[s][2] > 1000) continue;
            gcase c = gc(sh[s][0], sh[s][1], sh[s][2], t >> 1, t & 1, HCL_F16);
            c.beta = 0.75f;
            c.has_bias = t == 1;
            check(ctx, &c);
        }
    hcl_context_free(ctx);
}
END_TEST

/* Every finite F16 value through the packed path's F16 loads and stores: C (16, 4096) = I (16, 16)
 * op(B) with B holding all 63,488 finite half bit patterns (and zeros), so C must equal B exactly
 * (one product by 1, the rest by 0: no rounding), subnormals included. */
/* F16 inputs accumulate in F32 on every device, native half ones included: a dot product of 4097
 * ones is exactly 4097 (a half accumulator sticks at 2048, where 2048 + 1 rounds back to 2048),
 * on the tiny, row-dot and packed paths (M x N = 1x1, 64x40 NT, 64x40 NN). */
START_TEST(test_f16_accumulates_in_f32) {
    hcl_context *ctx = test_context();
    const int K = 4097, shapes[3][3] = {{1, 1, 0}, {64, 40, 1}, {64, 40, 0}};
    for (int s = 0; s < 3; s++) {
        int M = shapes[s][0], N = shapes[s][1], tb = shapes[s][2];
        float *ones = malloc((size_t)K * (M > N ? M : N) * sizeof *ones);
        for (size_t i = 0; i < (size_t)K * (M > N ? M : N); i++) ones[i] = 1.0f;
        int64_t as[2] = {M, K}, bs[2] = {tb ? N : K, tb ? K : N}, cs[2] = {M, N};
        hcl_tensor *ta = test_tensor_from(ctx, HCL_F16, 2, as, ones), *tbt = test_tensor_from(ctx, HCL_F16, 2, bs, ones);
        hcl_tensor *tc = test_tensor_poisoned(ctx, HCL_F32, 2, cs);
        hcl_gemm_desc d;
        hcl_gemm_desc_init(&d);
        d.trans_b = tb;
        CK_OK(ctx, hcl_gemm(ctx, tc, ta, tbt, NULL, &d));
        float *out = test_download(tc);
        for (size_t i = 0; i < (size_t)M * N; i++)
            ck_assert_msg(out[i] == (float)K, "%dx%dx%d trans_b %d: C[%zu] = %g, expected %d", M, N, K, tb, i,
                          (double)out[i], K);
        free(out);
        free(ones);
        hcl_tensor_free(ta); hcl_tensor_free(tbt); hcl_tensor_free(tc);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(test_f16_exact) {
    hcl_context *ctx = test_context();
    const int M = 16, N = 4096, K = 16;
    float *A = calloc((size_t)M * K, sizeof *A), *B = calloc((size_t)K * N, sizeof *B);
    for (int i = 0; i < M; i++) A[i * K + i] = 1.0f;
    size_t j = 0;
    for (unsigned h = 0; h < 65536; h++)
        if ((h & 0x7c00u) != 0x7c00u) B[j++] = hcl_f16_to_f32((uint16_t)h);
    for (int tb = 0; tb < 2; tb++) {
        float *Bs = B, *Bt = NULL;
        if (tb) { /* stored (N, K): the transposing pack */
            Bt = malloc((size_t)K * N * sizeof *Bt);
            for (int k = 0; k < K; k++)
                for (int n = 0; n < N; n++) Bt[(size_t)n * K + k] = B[(size_t)k * N + n];
            Bs = Bt;
        }
        int64_t as[2] = {M, K}, bs[2] = {tb ? N : K, tb ? K : N}, cs[2] = {M, N};
        hcl_tensor *ta = test_tensor_from(ctx, HCL_F16, 2, as, A), *tbt = test_tensor_from(ctx, HCL_F16, 2, bs, Bs);
        hcl_tensor *tc = test_tensor_poisoned(ctx, HCL_F16, 2, cs);
        hcl_gemm_desc d;
        hcl_gemm_desc_init(&d);
        d.trans_b = tb;
        CK_OK(ctx, hcl_gemm(ctx, tc, ta, tbt, NULL, &d));
        float *out = test_download(tc);
        for (size_t i = 0; i < (size_t)M * N; i++)
            ck_assert_msg(out[i] == B[i], "trans_b %d: C[%zu] = %a, expected %a", tb, i, (double)out[i], (double)B[i]);
        free(out);
        free(Bt);
        hcl_tensor_free(ta); hcl_tensor_free(tbt); hcl_tensor_free(tc);
    }
    free(A); free(B);
    hcl_context_free(ctx);
}
END_TEST

/* ---- Linear layer Y (B, O) = X (B, I) W^T (W (O, I)) + b: with loss L = sum(G * Y), G = dY,
 * dX = dY W (NN GEMM) and dW += dY^T X (TN GEMM with beta 1, accumulating like every parameter
 * gradient). Checked against the analytic FP64 products and central differences of L. */
typedef struct lin_user { int B, I, O; const double *G, *X, *W; int wrt_w; } lin_user;

static double lin_loss(const double *v, void *user) {
    const lin_user *u = user;
    const double *X = u->wrt_w ? u->X : v, *W = u->wrt_w ? v : u->W;
    double L = 0;
    for (int b = 0; b < u->B; b++)
        for (int o = 0; o < u->O; o++) {
            double y = 0;
            for (int i = 0; i < u->I; i++) y += X[b * u->I + i] * W[o * u->I + i];
            L += u->G[b * u->O + o] * y; /* the bias adds a constant to dL/dX and dL/dW: left out */
        }
    return L;
}

static void linear_backward_in(hcl_dtype dt) {
    hcl_context *ctx = test_context();
    const int B = 5, I = 7, O = 6; /* 35 + 42 inputs for the finite differences */
    float X[35], W[42], G[30], dW0[42];
    test_fill_uniform(X, 35, -1, 1);
    test_fill_uniform(W, 42, -1, 1);
    test_fill_uniform(G, 30, -1, 1);
    test_fill_uniform(dW0, 42, -1, 1);
    test_round_to_dtype(X, 35, dt);
    test_round_to_dtype(W, 42, dt);
    test_round_to_dtype(G, 30, dt);
    test_round_to_dtype(dW0, 42, dt);
    double Xd[35], Wd[42], Gd[30], numX[35], numW[42], anX[35], anW[42];
    for (int i = 0; i < 35; i++) Xd[i] = X[i];
    for (int i = 0; i < 42; i++) Wd[i] = W[i];
    for (int i = 0; i < 30; i++) Gd[i] = G[i];
    lin_user u = {B, I, O, Gd, Xd, Wd, 0};
    test_numeric_grad(lin_loss, &u, Xd, 35, 1e-3, numX);
    u.wrt_w = 1;
    test_numeric_grad(lin_loss, &u, Wd, 42, 1e-3, numW);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int o = 0; o < O; o++) s += Gd[b * O + o] * Wd[o * I + i];
            anX[b * I + i] = s;
        }
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += Gd[b * O + o] * Xd[b * I + i];
            anW[o * I + i] = s;
        }
    /* the loss is bilinear: central differences are exact up to rounding (~1e-13) */
    for (int i = 0; i < 35; i++) ck_assert_msg(fabs(numX[i] - anX[i]) < 1e-9, "dX fd %g vs analytic %g", numX[i], anX[i]);
    for (int i = 0; i < 42; i++) ck_assert_msg(fabs(numW[i] - anW[i]) < 1e-9, "dW fd %g vs analytic %g", numW[i], anW[i]);
    int64_t xs[2] = {B, I}, ws[2] = {O, I}, gs[2] = {B, O};
    hcl_tensor *tX = test_tensor_from(ctx, dt, 2, xs, X), *tW = test_tensor_from(ctx, dt, 2, ws, W);
    hcl_tensor *tG = test_tensor_from(ctx, dt, 2, gs, G), *tdX = test_tensor_poisoned(ctx, dt, 2, xs);
    hcl_tensor *tdW = test_tensor_from(ctx, dt, 2, ws, dW0);
    hcl_gemm_desc d;
    hcl_gemm_desc_init(&d);
    CK_OK(ctx, hcl_gemm(ctx, tdX, tG, tW, NULL, &d)); /* dX = dY W */
    d.trans_a = 1;
    d.beta = 1.0f;
    CK_OK(ctx, hcl_gemm(ctx, tdW, tG, tX, NULL, &d)); /* dW += dY^T X */
    float *dX = test_download(tdX), *dW = test_download(tdW);
    double refW[42];
    for (int i = 0; i < 42; i++) refW[i] = anW[i] + dW0[i];
    double ex = test_rel_err(dX, numX, 35), ew = test_rel_err(dW, refW, 42);
    ck_assert_msg(ex <= test_tolerance(dt), "dX %s rel err %g (%s)", hcl_dtype_name(dt), ex, test_seed_note());
    ck_assert_msg(ew <= test_tolerance(dt), "dW %s rel err %g (%s)", hcl_dtype_name(dt), ew, test_seed_note());
    free(dX); free(dW);
    hcl_tensor_free(tX); hcl_tensor_free(tW); hcl_tensor_free(tG); hcl_tensor_free(tdX); hcl_tensor_free(tdW);
    hcl_context_free(ctx);
}

START_TEST(test_linear_backward) {
    for (int i = 0; i < 3; i++) linear_backward_in(test_float_dtypes[i]);
}
END_TEST

/* The CLBlast backend (F32) against the same reference: transposes, batched with a shared
 * operand, bias/epilogue applied after it, beta 0 over a NaN C. Its F16 route needs
 * allow_half_accumulation (and a device with half arithmetic). */
START_TEST(test_clblast) {
    hcl_context *ctx = test_context();
    static const int sh[][3] = {{7, 9, 5}, {33, 40, 65}};
    for (size_t s = 0; s < 2; s++)
        for (int t = 0; t < 4; t++) {
            gcase c = gc(sh[s][0], sh[s][1], sh[s][2], t >> 1, t & 1, HCL_F32);
            c.backend = HCL_GEMM_CLBLAST;
            c.alpha = 0.5f;
            c.beta = t == 3 ? 1.5f : 0.0f;
            c.has_bias = t & 1;
            c.biasd = HCL_F16;
            c.act = t == 2 ? HCL_ACT_GELU : HCL_ACT_NONE;
            if (s == 1) { c.batch = 2; c.b_rank = t == 1 ? 2 : 3; }
            check(ctx, &c);
        }
    int64_t s2[2] = {4, 4};
    hcl_tensor *a = test_tensor_poisoned(ctx, HCL_F16, 2, s2), *c = test_tensor_poisoned(ctx, HCL_F16, 2, s2);
    hcl_gemm_desc d;
    hcl_gemm_desc_init(&d);
    d.backend = HCL_GEMM_CLBLAST;
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, a, NULL, &d), HCL_ERR_DTYPE);
    d.allow_half_accumulation = 1;
    hcl_status st = hcl_gemm(ctx, c, a, a, NULL, &d);
    ck_assert_msg(st == HCL_OK || st == HCL_ERR_CAPABILITY, "HGEMM: %s (%s)", hcl_status_name(st), hcl_last_error(ctx));
    hcl_tensor_free(a); hcl_tensor_free(c);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(test_bad_inputs) {
    hcl_context *ctx = test_context();
    int64_t s23[2] = {2, 3}, s34[2] = {3, 4}, s24[2] = {2, 4}, s44[2] = {4, 4}, b3[3] = {3, 2, 3}, b2[3] = {2, 3, 4};
    int64_t c3[3] = {3, 2, 4}, n4[1] = {4}, n5[1] = {5}, big[1] = {64};
    hcl_tensor *a = test_tensor_poisoned(ctx, HCL_F32, 2, s23), *b = test_tensor_poisoned(ctx, HCL_F32, 2, s34);
    hcl_tensor *c = test_tensor_poisoned(ctx, HCL_F32, 2, s24), *bias4 = test_tensor_poisoned(ctx, HCL_F32, 1, n4);
    hcl_tensor *bias5 = test_tensor_poisoned(ctx, HCL_F32, 1, n5), *a3 = test_tensor_poisoned(ctx, HCL_F32, 3, b3);
    hcl_tensor *b3t = test_tensor_poisoned(ctx, HCL_F32, 3, b2), *c3t = test_tensor_poisoned(ctx, HCL_F32, 3, c3);
    hcl_tensor *ai = test_tensor_poisoned(ctx, HCL_I32, 2, s23), *c44 = test_tensor_poisoned(ctx, HCL_F32, 2, s44);
    hcl_tensor *pool = test_tensor_poisoned(ctx, HCL_F32, 1, big), *av, *cv;
    CK_OK(ctx, hcl_tensor_view(pool, 0, 2, s23, &av));
    CK_OK(ctx, hcl_tensor_view(pool, 4, 2, s24, &cv)); /* overlaps av */
    hcl_gemm_desc d;
    hcl_gemm_desc_init(&d);
    CK_OK(ctx, hcl_gemm(ctx, c, a, b, bias4, &d));
    CK_STATUS(ctx, hcl_gemm(NULL, c, a, b, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_gemm(ctx, NULL, a, b, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_gemm(ctx, c, NULL, b, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, NULL, NULL, &d), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, b, NULL, NULL), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, a, NULL, &d), HCL_ERR_SHAPE);      /* inner dims 3 vs 2 */
    CK_STATUS(ctx, hcl_gemm(ctx, c44, a, b, NULL, &d), HCL_ERR_SHAPE);    /* C rows */
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, b, bias5, &d), HCL_ERR_SHAPE);     /* bias size */
    CK_STATUS(ctx, hcl_gemm(ctx, bias4, a, b, NULL, &d), HCL_ERR_SHAPE);  /* C rank 1 */
    CK_STATUS(ctx, hcl_gemm(ctx, c, a3, b, NULL, &d), HCL_ERR_SHAPE);     /* rank-3 A with rank-2 C */
    CK_STATUS(ctx, hcl_gemm(ctx, c3t, a3, b3t, NULL, &d), HCL_ERR_SHAPE); /* batch 3 vs 2 */
    CK_STATUS(ctx, hcl_gemm(ctx, c, ai, b, NULL, &d), HCL_ERR_DTYPE);     /* I32 */
    CK_STATUS(ctx, hcl_gemm(ctx, cv, av, b, NULL, &d), HCL_ERR_ALIASING); /* C overlaps A */
    d.trans_a = 1;
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, b, NULL, &d), HCL_ERR_SHAPE);      /* op(A) is 3x2 */
    d.trans_a = 0;
    d.epilogue = HCL_ACT_COUNT_;
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, b, NULL, &d), HCL_ERR_INVALID_ARGUMENT);
    d.epilogue = HCL_ACT_NONE;
    d.backend = (hcl_gemm_backend)7;
    CK_STATUS(ctx, hcl_gemm(ctx, c, a, b, NULL, &d), HCL_ERR_INVALID_ARGUMENT);
    hcl_context *other = test_context();
    hcl_tensor *ao = test_tensor_poisoned(other, HCL_F32, 2, s23);
    d.backend = HCL_GEMM_AUTO;
    hcl_status st = hcl_gemm(ctx, c, ao, b, NULL, &d);
    ck_assert_msg(st != HCL_OK, "a tensor of another context was accepted");
    hcl_tensor *ts[] = {a, b, c, bias4, bias5, a3, b3t, c3t, ai, c44, av, cv, pool};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    hcl_tensor_free(ao);
    hcl_context_free(other);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_transposes_f32);
    tcase_add_test(tc, test_transposes_f16);
    tcase_add_test(tc, test_transposes_bf16);
    tcase_add_test(tc, test_mixed_dtypes);
    tcase_add_test(tc, test_split_k);
    tcase_add_test(tc, test_dot_nt);
    tcase_add_test(tc, test_slabs);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_batched);
    tcase_add_test(tc, test_alpha_beta_offsets);
    tcase_add_test(tc, test_bias_epilogues);
    tcase_add_test(tc, test_f16_beta);
    tcase_add_test(tc, test_f16_exact);
    tcase_add_test(tc, test_f16_accumulates_in_f32);
    tcase_add_test(tc, test_linear_backward);
    tcase_add_test(tc, test_clblast);
    tcase_add_test(tc, test_bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
