/* hcl-bench suite `gemm`: our kernels per dtype, CLBlast SGEMM on the same device and host
 * OpenBLAS cblas_sgemm in the same run, GFLOP/s = 2MNK / time, rel_err against an FP64 reference
 * on a sample of entries. Default sweep: 1024^3 in all transposes, the Fashion-MNIST training
 * shapes and 1x1000x1000; --m/--n/--k/--trans pick one case, --quick runs 256^3. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#ifdef HCL_HAVE_OPENBLAS
#include <cblas.h>
#endif

int bench_suite_gemm(bench_ctx *b);

typedef struct gemm_case { long m, n, k; int ta, tb; const char *label; } gemm_case;

static const gemm_case default_cases[] = {
    {1024, 1024, 1024, 0, 0, ""}, {1024, 1024, 1024, 0, 1, ""}, {1024, 1024, 1024, 1, 0, ""}, {1024, 1024, 1024, 1, 1, ""},
    /* the Linear layers of examples/fashion_mnist at batch 64 as src/nn/exec.c calls them:
     * Y = X W^T (NT), dW += dY^T X (TN), dX = dY W (NN) */
    {64, 128, 5408, 0, 1, "fc1 fwd"}, {128, 5408, 64, 1, 0, "fc1 dW"}, {64, 5408, 128, 0, 0, "fc1 dX"},
    {64, 10, 128, 0, 1, "fc2 fwd"}, {10, 128, 64, 1, 0, "fc2 dW"}, {64, 128, 10, 0, 0, "fc2 dX"},
    {1, 1000, 1000, 0, 0, "gemv"}, {1, 1000, 1000, 0, 1, "gemv"},
};
static const gemm_case quick_cases[] = {
    {256, 256, 256, 0, 0, ""}, {256, 256, 256, 0, 1, ""}, {256, 256, 256, 1, 0, ""}, {256, 256, 256, 1, 1, ""},
};

typedef struct gemm_job {
    hcl_context *ctx;
    hcl_tensor *a, *b, *c;
    hcl_gemm_desc d;
    const gemm_case *gc;
    const float *ha, *hb;
    float *hc;
} gemm_job;

static hcl_status run_gemm(void *u) {
    gemm_job *j = u;
    return hcl_gemm(j->ctx, j->c, j->a, j->b, NULL, &j->d);
}

#ifdef HCL_HAVE_OPENBLAS
static void run_openblas(void *u) {
    gemm_job *j = u;
    const gemm_case *g = j->gc;
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)g->m, (int)g->n,
                (int)g->k, 1.0f, j->ha, g->ta ? (int)g->m : (int)g->k, j->hb, g->tb ? (int)g->k : (int)g->n, 0.0f, j->hc, (int)g->n);
}
#endif

/* Relative error of C (host, m x n) against FP64 dot products of the (dtype-rounded) inputs on
 * 64 sampled entries. */
static double sampled_err(const gemm_case *g, const float *a, const float *bm, const float *c) {
    double num = 0, den = 0;
    unsigned s = 12345;
    for (int t = 0; t < 64; t++) {
        s = s * 1103515245u + 12345u;
        long i = (long)((s >> 8) % (unsigned)g->m);
        s = s * 1103515245u + 12345u;
        long j = (long)((s >> 8) % (unsigned)g->n);
        double r = 0;
        for (long p = 0; p < g->k; p++) {
            double av = g->ta ? a[p * g->m + i] : a[i * g->k + p];
            double bv = g->tb ? bm[j * g->k + p] : bm[p * g->n + j];
            r += av * bv;
        }
        double d = c[i * g->n + j] - r;
        if (!isfinite(c[i * g->n + j])) return INFINITY;
        num += d * d;
        den += r * r;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void round_dtype(float *x, size_t n, hcl_dtype dt) {
    for (size_t i = 0; i < n; i++) {
        if (dt == HCL_F16) x[i] = hcl_f16_to_f32(hcl_f32_to_f16(x[i]));
        else if (dt == HCL_BF16) x[i] = hcl_bf16_to_f32(hcl_f32_to_bf16(x[i]));
    }
}

static hcl_tensor *make_tensor(bench_ctx *b, hcl_dtype dt, long r, long c, const float *h) {
    hcl_tensor *t = NULL;
    int64_t s[2] = {r, c};
    if (hcl_tensor_create(b->ctx, dt, 2, s, &t) != HCL_OK) return NULL;
    if (h && hcl_tensor_upload_f32(t, h, t->count) != HCL_OK) { hcl_tensor_free(t); return NULL; }
    return t;
}

/* Times one implementation; emits the row and returns its GFLOP/s (or < 0). */
static double time_row(bench_ctx *b, gemm_job *j, const char *impl, hcl_dtype dt, const char *case_name,
                       const float *ha_r, const float *hb_r) {
    const gemm_case *g = j->gc;
    double flops = 2.0 * g->m * g->n * g->k;
    bench_row row;
    bench_row_init(&row, "gemm", impl, hcl_dtype_name(dt));
    snprintf(row.case_name, sizeof row.case_name, "%s", case_name);
    row.m = g->m; row.n = g->n; row.k = g->k;
    int reps = b->reps, warmup = b->warmup;
    const hcl_device_info *info = hcl_context_device(b->ctx);
    if (!strcmp(impl, "clblast") && flops > 1e9 && !(info && info->is_gpu)) {
        b->reps = 1; /* CLBlast on CPUs: ~2 s a 1024^3 call on PoCL; one warm-up (its kernel build) and one timed call */
        b->warmup = 1;
    }
    if (!strcmp(impl, "openblas")) {
#ifdef HCL_HAVE_OPENBLAS
        row.ms = bench_median_ms_host(b, run_openblas, j);
#endif
    } else if (flops < 2e7) {
        row.ms = bench_median_ms_batched(b, run_gemm, j, 10);
    } else {
        row.ms = bench_median_ms(b, run_gemm, j);
    }
    b->reps = reps;
    b->warmup = warmup;
    if (row.ms > 0) {
        row.gflops = flops / (row.ms * 1e6);
        float *c = j->hc;
        if (strcmp(impl, "openblas") != 0 && hcl_tensor_download_f32(j->c, c, (size_t)(g->m * g->n)) != HCL_OK) c = NULL;
        if (c) row.rel_err = sampled_err(g, ha_r, hb_r, c);
    }
    bench_emit(b, &row);
    return row.ms > 0 ? row.gflops : -1;
}

int bench_suite_gemm(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    gemm_case one;
    const gemm_case *cases = b->quick ? quick_cases : default_cases;
    size_t ncases = b->quick ? sizeof quick_cases / sizeof quick_cases[0] : sizeof default_cases / sizeof default_cases[0];
    if (b->m || b->n || b->k) {
        long s = b->m ? b->m : b->n ? b->n : b->k;
        one = (gemm_case){b->m ? b->m : s, b->n ? b->n : s, b->k ? b->k : s, 0, 0, ""};
        cases = &one;
        ncases = 1;
    }
    const hcl_device_info *info = hcl_context_device(b->ctx);
    int is_gpu = info && info->is_gpu;
    bench_note(b, "AUTO sends F32 GEMMs to CLBlast on GPUs when M, N, K >= 512; this device is %s: %s", is_gpu ? "a GPU" : "not a GPU",
               is_gpu ? "CLBlast for those cases" : "own kernels always");
    int rc = 0;
    for (size_t ci = 0; ci < ncases; ci++) {
        for (int t = 0; t < 4; t++) {
            gemm_case g = cases[ci];
            static const char *const tn[4] = {"NN", "NT", "TN", "TT"};
            if (ncases == 1 && cases == &one) { g.ta = t >> 1; g.tb = t & 1; }
            else if (t != g.ta * 2 + g.tb) continue;
            if (b->trans && strcmp(b->trans, tn[t]) != 0) continue;
            char name[96];
            snprintf(name, sizeof name, "%ldx%ldx%ld %s%s%s", g.m, g.n, g.k, tn[t], *g.label ? " " : "", g.label);
            size_t an = (size_t)(g.m * g.k), bn = (size_t)(g.k * g.n), cn = (size_t)(g.m * g.n);
            float *ha = malloc(an * sizeof *ha), *hb = malloc(bn * sizeof *hb), *hc = malloc(cn * sizeof *hc);
            float *har = malloc(an * sizeof *har), *hbr = malloc(bn * sizeof *hbr);
            if (!ha || !hb || !hc || !har || !hbr) { free(ha); free(hb); free(hc); free(har); free(hbr); return 1; }
            bench_fill(ha, an, -1.0f, 1.0f, 11);
            bench_fill(hb, bn, -1.0f, 1.0f, 12);
            gemm_job j = {.ctx = b->ctx, .gc = &g, .ha = ha, .hb = hb, .hc = hc};
            hcl_gemm_desc_init(&j.d);
            j.d.trans_a = g.ta;
            j.d.trans_b = g.tb;
            double ours_f32 = -1, blas = -1;
            for (int di = 0; di < 4; di++) { /* f32, f16, bf16 ours, then CLBlast f32 */
                hcl_dtype dt = dts[di < 3 ? di : 0];
                if (b->dtype && strcmp(b->dtype, hcl_dtype_name(dt)) != 0) continue;
                memcpy(har, ha, an * sizeof *har);
                memcpy(hbr, hb, bn * sizeof *hbr);
                round_dtype(har, an, dt);
                round_dtype(hbr, bn, dt);
                j.a = make_tensor(b, dt, g.ta ? g.k : g.m, g.ta ? g.m : g.k, ha);
                j.b = make_tensor(b, dt, g.tb ? g.n : g.k, g.tb ? g.k : g.n, hb);
                j.c = make_tensor(b, dt, g.m, g.n, NULL);
                if (!j.a || !j.b || !j.c) {
                    fprintf(stderr, "hcl-bench gemm: %s\n", hcl_last_error(b->ctx));
                    rc = 1;
                } else {
                    j.d.backend = di < 3 ? HCL_GEMM_OWN : HCL_GEMM_CLBLAST;
                    double gf = time_row(b, &j, di < 3 ? "halfcl" : "clblast", dt, name, har, hbr);
                    if (di == 0) ours_f32 = gf;
                }
                hcl_tensor_free(j.a); hcl_tensor_free(j.b); hcl_tensor_free(j.c);
                j.a = j.b = j.c = NULL;
            }
#ifdef HCL_HAVE_OPENBLAS
            if (!b->dtype || !strcmp(b->dtype, "f32")) blas = time_row(b, &j, "openblas", HCL_F32, name, ha, hb);
#endif
            if (ours_f32 > 0 && blas > 0) bench_note(b, "%s: halfcl f32 at %.0f%% of OpenBLAS", name, 100.0 * ours_f32 / blas);
            free(ha); free(hb); free(hc); free(har); free(hbr);
        }
    }
    return rc;
}
