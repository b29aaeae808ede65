/* hcl-bench suite `quant`: the int8 GEMM (U8 x I8, int32 accumulation, F32 epilogue) against our
 * F32 and F16 GEMM on the same NT layout (c = a w^T, as a Linear layer) and host OpenBLAS
 * cblas_sgemm in the same table (GFLOP/s column = GOP/s for int8: 2MNK / time; GB/s = operand
 * and result bytes / time); the int8 conv against our F32/F16 conv; and quantize, dequantize and
 * fake-quant in GB/s. rel_err of the int8 rows: sampled entries against the exact integer sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#ifdef HCL_HAVE_OPENBLAS
#include <cblas.h>
#endif

int bench_suite_quant(bench_ctx *b);

typedef struct qjob {
    hcl_context *ctx;
    hcl_tensor *c, *a, *w, *as, *az, *ws, *fa, *fw, *x, *y, *q;
    hcl_gemm_desc d;
    hcl_conv2d_desc cd;
    long m, n, k;
    const float *ha, *hw;
    float *hc;
    int which;
} qjob;

static hcl_status run_i8(void *u) {
    qjob *j = u;
    return hcl_gemm_i8(j->ctx, j->c, j->a, j->as, j->az, j->w, j->ws, NULL, HCL_ACT_NONE);
}
static hcl_status run_float(void *u) {
    qjob *j = u;
    return hcl_gemm(j->ctx, j->c, j->fa, j->fw, NULL, &j->d);
}
static hcl_status run_conv_i8(void *u) {
    qjob *j = u;
    return hcl_conv2d_i8_forward(j->ctx, j->c, j->a, j->as, j->az, j->w, j->ws, NULL, 1, 1, HCL_ACT_NONE);
}
static hcl_status run_conv_float(void *u) {
    qjob *j = u;
    return hcl_conv2d_forward(j->ctx, j->c, j->fa, j->fw, NULL, &j->cd);
}
static hcl_status run_elementwise(void *u) {
    qjob *j = u;
    switch (j->which) {
    case 0: return hcl_quantize(j->ctx, j->q, j->x, j->as, j->az, HCL_QUANT_UINT8_ASYMMETRIC, -1);
    case 1: return hcl_dequantize(j->ctx, j->y, j->q, j->as, j->az, -1);
    default: return hcl_fake_quant_forward(j->ctx, j->y, j->x, j->as, j->az, HCL_QUANT_UINT8_ASYMMETRIC, -1);
    }
}
#ifdef HCL_HAVE_OPENBLAS
static void run_openblas(void *u) {
    qjob *j = u;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->m, (int)j->n, (int)j->k, 1.0f, j->ha, (int)j->k, j->hw,
                (int)j->k, 0.0f, j->hc, (int)j->n);
}
#endif

static hcl_tensor *make(bench_ctx *b, hcl_dtype dt, int rank, const int64_t *s) {
    hcl_tensor *t = NULL;
    return hcl_tensor_create(b->ctx, dt, rank, s, &t) == HCL_OK ? t : NULL;
}

/* bytes as U8/I8 of a host array of small integers (stored as floats) */
static int upload_bytes(hcl_tensor *t, const float *h) {
    unsigned char *raw = malloc(t->count);
    if (!raw) return 0;
    for (size_t i = 0; i < t->count; i++) raw[i] = (unsigned char)(signed char)(int)h[i];
    int ok = hcl_tensor_upload_raw(t, raw, t->count) == HCL_OK;
    free(raw);
    return ok;
}

static double emit(bench_ctx *b, const char *impl, const char *dt, const char *name, long m, long n, long k, double ms,
                   double ops, double bytes, double err) {
    bench_row r;
    bench_row_init(&r, "quant", impl, dt);
    snprintf(r.case_name, sizeof r.case_name, "%s", name);
    r.m = m; r.n = n; r.k = k;
    r.ms = ms;
    if (ms > 0) {
        if (ops > 0) r.gflops = ops / (ms * 1e6);
        if (bytes > 0) r.gbps = bytes / (ms * 1e6);
        r.rel_err = err;
    }
    bench_emit(b, &r);
    return r.gflops;
}

static int bench_gemm_case(bench_ctx *b, long M, long N, long K, const char *label) {
    char name[96];
    snprintf(name, sizeof name, "gemm %ldx%ldx%ld NT%s%s", M, N, K, *label ? " " : "", label);
    size_t an = (size_t)(M * K), wn = (size_t)(N * K), cn = (size_t)(M * N);
    float *ha = malloc(an * 4), *hw = malloc(wn * 4), *hc = malloc(cn * 4), *fa = malloc(an * 4), *fw = malloc(wn * 4);
    if (!ha || !hw || !hc || !fa || !fw) { free(ha); free(hw); free(hc); free(fa); free(fw); return 1; }
    bench_fill(ha, an, 0.0f, 255.99f, 21);
    bench_fill(hw, wn, -127.99f, 127.99f, 22);
    for (size_t i = 0; i < an; i++) ha[i] = floorf(ha[i]);
    for (size_t i = 0; i < wn; i++) hw[i] = truncf(hw[i]);
    float one = 1.0f, zp = 128.0f, scale = 1.0f / 4096;
    int32_t zpi = 128;
    const int64_t sa[2] = {M, K}, sw[2] = {N, K}, sc[2] = {M, N}, s1 = 1;
    qjob j = {.ctx = b->ctx, .m = M, .n = N, .k = K, .ha = fa, .hw = fw, .hc = hc};
    j.a = make(b, HCL_U8, 2, sa);
    j.w = make(b, HCL_I8, 2, sw);
    j.c = make(b, HCL_F32, 2, sc);
    j.as = make(b, HCL_F32, 1, &s1);
    j.az = make(b, HCL_I32, 1, &s1);
    j.ws = make(b, HCL_F32, 1, &s1);
    int rc = 0;
    (void)one;
    if (!j.a || !j.w || !j.c || !j.as || !j.az || !j.ws || !upload_bytes(j.a, ha) || !upload_bytes(j.w, hw) ||
        hcl_tensor_upload_f32(j.as, &scale, 1) != HCL_OK || hcl_tensor_upload_raw(j.az, &zpi, 4) != HCL_OK ||
        hcl_tensor_upload_f32(j.ws, &one, 1) != HCL_OK) {
        fprintf(stderr, "hcl-bench quant: %s\n", hcl_last_error(b->ctx));
        rc = 1;
    } else {
        double ops = 2.0 * M * N * K;
        double ms = ops < 2e7 ? bench_median_ms_batched(b, run_i8, &j, 10) : bench_median_ms(b, run_i8, &j);
        double err = -1;
        if (ms > 0 && hcl_tensor_download_f32(j.c, hc, cn) == HCL_OK) {
            double num = 0, den = 0;
            for (int t = 0; t < 64; t++) {
                long i = (t * 7919L) % M, n = (t * 104729L) % N;
                double r = 0;
                for (long p = 0; p < K; p++) r += (ha[i * K + p] - zp) * hw[n * K + p];
                r *= scale;
                num += (hc[i * N + n] - r) * (hc[i * N + n] - r);
                den += r * r;
            }
            err = den > 0 ? sqrt(num / den) : sqrt(num);
        }
        double gi8 = emit(b, "halfcl", "i8", name, M, N, K, ms, ops, (double)an + wn + 4.0 * cn, err);
        /* the same product in floats: a and w as F32 / F16 (values centred like a - zp) */
        for (size_t i = 0; i < an; i++) fa[i] = ha[i] - zp;
        memcpy(fw, hw, wn * 4);
        double gf[2] = {-1, -1};
        for (int di = 0; di < 2; di++) {
            hcl_dtype dt = di ? HCL_F16 : HCL_F32;
            if (b->dtype && strcmp(b->dtype, hcl_dtype_name(dt)) != 0) continue;
            hcl_gemm_desc_init(&j.d);
            j.d.trans_b = 1;
            j.d.backend = HCL_GEMM_OWN;
            j.d.alpha = scale;
            j.fa = make(b, dt, 2, sa);
            j.fw = make(b, dt, 2, sw);
            if (j.fa && j.fw && hcl_tensor_upload_f32(j.fa, fa, an) == HCL_OK && hcl_tensor_upload_f32(j.fw, fw, wn) == HCL_OK) {
                double fms = ops < 2e7 ? bench_median_ms_batched(b, run_float, &j, 10) : bench_median_ms(b, run_float, &j);
                size_t es = di ? 2 : 4;
                gf[di] = emit(b, "halfcl", hcl_dtype_name(dt), name, M, N, K, fms, ops, (double)(an + wn) * es + 4.0 * cn, -1);
            } else {
                rc = 1;
            }
            hcl_tensor_free(j.fa);
            hcl_tensor_free(j.fw);
        }
        double blas = -1;
#ifdef HCL_HAVE_OPENBLAS
        double bms = bench_median_ms_host(b, run_openblas, &j);
        blas = emit(b, "openblas", "f32", name, M, N, K, bms, ops, 4.0 * (an + wn + cn), -1);
#endif
        if (gi8 > 0 && gf[0] > 0)
            bench_note(b, "%s: int8 %.1f GOP/s = %.2fx our F32%s", name, gi8, gi8 / gf[0], "");
        if (gi8 > 0 && blas > 0) bench_note(b, "%s: int8 at %.0f%% of OpenBLAS sgemm", name, 100.0 * gi8 / blas);
    }
    hcl_tensor_free(j.a); hcl_tensor_free(j.w); hcl_tensor_free(j.c); hcl_tensor_free(j.as); hcl_tensor_free(j.az);
    hcl_tensor_free(j.ws);
    free(ha); free(hw); free(hc); free(fa); free(fw);
    return rc;
}

/* conv 3x3 pad 1 stride 1: int8 vs our F32/F16 conv (same shapes) */
static int bench_conv_case(bench_ctx *b, long N, long C, long H, long K) {
    char name[96];
    snprintf(name, sizeof name, "conv %ldx%ldx%ldx%ld K%ld 3x3", N, C, H, H, K);
    const int64_t sx[4] = {N, C, H, H}, sw[4] = {K, C, 3, 3}, sy[4] = {N, K, H, H}, s1 = 1;
    size_t nx = (size_t)(N * C * H * H), nw = (size_t)(K * C * 9);
    float *hx = malloc(nx * 4), *hw = malloc(nw * 4);
    if (!hx || !hw) { free(hx); free(hw); return 1; }
    bench_fill(hx, nx, 0.0f, 255.99f, 31);
    bench_fill(hw, nw, -127.99f, 127.99f, 32);
    for (size_t i = 0; i < nx; i++) hx[i] = floorf(hx[i]);
    for (size_t i = 0; i < nw; i++) hw[i] = truncf(hw[i]);
    float scale = 1.0f / 4096, one = 1.0f;
    int32_t zpi = 128;
    qjob j = {.ctx = b->ctx};
    j.a = make(b, HCL_U8, 4, sx);
    j.w = make(b, HCL_I8, 4, sw);
    j.c = make(b, HCL_F32, 4, sy);
    j.as = make(b, HCL_F32, 1, &s1);
    j.az = make(b, HCL_I32, 1, &s1);
    j.ws = make(b, HCL_F32, 1, &s1);
    double ops = 2.0 * N * K * H * H * C * 9;
    int rc = 0;
    if (!j.a || !j.w || !j.c || !j.as || !j.az || !j.ws || !upload_bytes(j.a, hx) || !upload_bytes(j.w, hw) ||
        hcl_tensor_upload_f32(j.as, &scale, 1) != HCL_OK || hcl_tensor_upload_raw(j.az, &zpi, 4) != HCL_OK ||
        hcl_tensor_upload_f32(j.ws, &one, 1) != HCL_OK) {
        rc = 1;
    } else {
        double ms = bench_median_ms(b, run_conv_i8, &j);
        double gi8 = emit(b, "halfcl", "i8", name, -1, -1, -1, ms, ops, (double)nx + nw + 4.0 * N * K * H * H, -1);
        hcl_conv2d_desc_init(&j.cd);
        j.cd.pad_h = j.cd.pad_w = 1;
        for (size_t i = 0; i < nx; i++) hx[i] -= 128.0f;
        for (int di = 0; di < 2; di++) {
            hcl_dtype dt = di ? HCL_F16 : HCL_F32;
            hcl_tensor *c8 = j.c;
            j.fa = make(b, dt, 4, sx);
            j.fw = make(b, dt, 4, sw);
            j.c = make(b, dt, 4, sy);
            if (j.fa && j.fw && j.c && hcl_tensor_upload_f32(j.fa, hx, nx) == HCL_OK && hcl_tensor_upload_f32(j.fw, hw, nw) == HCL_OK) {
                double fms = bench_median_ms(b, run_conv_float, &j);
                double gf = emit(b, "halfcl", hcl_dtype_name(dt), name, -1, -1, -1, fms, ops, -1, -1);
                if (gi8 > 0 && gf > 0) bench_note(b, "%s: int8 %.2fx our %s conv", name, gi8 / gf, hcl_dtype_name(dt));
            }
            hcl_tensor_free(j.fa); hcl_tensor_free(j.fw); hcl_tensor_free(j.c);
            j.c = c8;
        }
    }
    hcl_tensor_free(j.a); hcl_tensor_free(j.w); hcl_tensor_free(j.c); hcl_tensor_free(j.as); hcl_tensor_free(j.az);
    hcl_tensor_free(j.ws);
    free(hx); free(hw);
    return rc;
}

/* quantize / dequantize / fake-quant of n elements: GB/s of bytes read + written */
static int bench_elementwise_case(bench_ctx *b, long n) {
    static const char *const names[3] = {"quantize", "dequantize", "fake_quant_forward"};
    const int64_t s = n, s1 = 1;
    float *h = malloc((size_t)n * 4), scale = 0.01f;
    int32_t zpi = 128;
    if (!h) return 1;
    bench_fill(h, (size_t)n, -1.5f, 1.5f, 41);
    int rc = 0;
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = di == 0 ? HCL_F32 : di == 1 ? HCL_F16 : HCL_BF16;
        if (b->dtype && strcmp(b->dtype, hcl_dtype_name(dt)) != 0) continue;
        qjob j = {.ctx = b->ctx};
        j.x = make(b, dt, 1, &s);
        j.y = make(b, dt, 1, &s);
        j.q = make(b, HCL_U8, 1, &s);
        j.as = make(b, HCL_F32, 1, &s1);
        j.az = make(b, HCL_I32, 1, &s1);
        if (j.x && j.y && j.q && j.as && j.az && hcl_tensor_upload_f32(j.x, h, (size_t)n) == HCL_OK &&
            hcl_tensor_upload_f32(j.as, &scale, 1) == HCL_OK && hcl_tensor_upload_raw(j.az, &zpi, 4) == HCL_OK) {
            for (int w = 0; w < 3; w++) {
                j.which = w;
                double ms = bench_median_ms(b, run_elementwise, &j);
                size_t es = hcl_dtype_size(dt);
                double bytes = w == 2 ? 2.0 * es * n : (double)(es + 1) * n;
                char name[96];
                snprintf(name, sizeof name, "%s %ld", names[w], n);
                emit(b, "halfcl", hcl_dtype_name(dt), name, n, -1, -1, ms, -1, bytes, -1);
            }
        } else {
            rc = 1;
        }
        hcl_tensor_free(j.x); hcl_tensor_free(j.y); hcl_tensor_free(j.q); hcl_tensor_free(j.as); hcl_tensor_free(j.az);
    }
    free(h);
    return rc;
}

int bench_suite_quant(bench_ctx *b) {
    int rc = 0;
    if (b->m || b->n || b->k) {
        long s = b->m ? b->m : b->n ? b->n : b->k;
        return bench_gemm_case(b, b->m ? b->m : s, b->n ? b->n : s, b->k ? b->k : s, "");
    }
    if (b->quick) {
        rc |= bench_gemm_case(b, 256, 256, 256, "");
        rc |= bench_elementwise_case(b, 1 << 20);
        return rc;
    }
    rc |= bench_gemm_case(b, 1024, 1024, 1024, "");
    rc |= bench_gemm_case(b, 64, 128, 5408, "fc1 fwd");
    rc |= bench_gemm_case(b, 1, 1000, 1000, "gemv");
    rc |= bench_conv_case(b, 64, 32, 14, 64);
    rc |= bench_elementwise_case(b, 1 << 22);
    return rc;
}
