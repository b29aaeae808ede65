/* hcl-bench suite `attention`: attention forward and backward (B=4, H=4, D=64, T = 128, 256, 512,
 * causal and not) in GFLOP/s next to a naive path from existing ops (batched hcl_gemm into a
 * (B*H,T,T) buffer, hcl_softmax, hcl_gemm), with the peak device bytes of each: linear in T for
 * ours, quadratic for the naive one. --quick: B=2, T = 64..256; --m T, --n D, --dtype one dtype. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_attention(bench_ctx *b);

typedef struct att_job {
    hcl_context *ctx;
    int B, T, H, D, causal, naive, bwd;
    float scale;
    hcl_attention_desc desc;
    /* ours: (B,T,H,D) tensors; naive: (B*H,T,D) tensors and (B*H,T,T) buffers */
    hcl_tensor *q, *k, *v, *out, *lse, *g, *dq, *dk, *dv;
    hcl_tensor *s, *p, *dp, *ds;
} att_job;

static hcl_status naive_forward(att_job *j) {
    hcl_gemm_desc d;
    hcl_gemm_desc_init(&d);
    d.trans_b = 1;
    d.alpha = j->scale;
    hcl_status st = hcl_gemm(j->ctx, j->s, j->q, j->k, NULL, &d); /* S = scale Q K^T */
    if (st != HCL_OK) return st;
    st = hcl_softmax_forward(j->ctx, j->p, j->s, 0); /* P = softmax(S) */
    if (st != HCL_OK) return st;
    hcl_gemm_desc_init(&d);
    return hcl_gemm(j->ctx, j->out, j->p, j->v, NULL, &d); /* O = P V */
}

static hcl_status naive_backward(att_job *j) {
    hcl_gemm_desc d;
    hcl_gemm_desc_init(&d);
    d.trans_a = 1;
    hcl_status st = hcl_gemm(j->ctx, j->dv, j->p, j->g, NULL, &d); /* dV = P^T dO */
    if (st != HCL_OK) return st;
    hcl_gemm_desc_init(&d);
    d.trans_b = 1;
    if ((st = hcl_gemm(j->ctx, j->dp, j->g, j->v, NULL, &d)) != HCL_OK) return st; /* dP = dO V^T */
    if ((st = hcl_softmax_backward(j->ctx, j->ds, j->dp, j->p, 0)) != HCL_OK) return st; /* dS */
    hcl_gemm_desc_init(&d);
    d.alpha = j->scale;
    if ((st = hcl_gemm(j->ctx, j->dq, j->ds, j->k, NULL, &d)) != HCL_OK) return st; /* dQ = scale dS K */
    d.trans_a = 1;
    return hcl_gemm(j->ctx, j->dk, j->ds, j->q, NULL, &d); /* dK = scale dS^T Q */
}

static hcl_status run_att(void *u) {
    att_job *j = u;
    if (j->naive) return j->bwd ? naive_backward(j) : naive_forward(j);
    if (j->bwd)
        return hcl_attention_backward(j->ctx, j->dq, j->dk, j->dv, j->g, j->out, j->lse, j->q, j->k, j->v, NULL, &j->desc);
    return hcl_attention_forward(j->ctx, j->out, j->lse, j->q, j->k, j->v, NULL, &j->desc);
}

static void free_job(att_job *j) {
    hcl_tensor *ts[] = {j->q, j->k, j->v, j->out, j->lse, j->g, j->dq, j->dk, j->dv, j->s, j->p, j->dp, j->ds};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
}

/* Creates the job's tensors on ctx, in a training step's order: inputs, the forward's outputs and
 * saved tensors (naive: S and P), one forward for a backward job, then (S freed: only P is saved)
 * dout and the gradients (naive: dP, dS). Host data: q, k, v, dout in (B,T,H,D) order, permuted
 * to (B*H,T,D) for the naive path. */
static int upload(att_job *j, hcl_tensor *t, const float *h) {
    size_t n = (size_t)j->B * j->T * j->H * j->D;
    if (!j->naive) return hcl_tensor_upload_f32(t, h, n) == HCL_OK;
    float *perm = malloc(n * sizeof *perm);
    if (!perm) return 0;
    for (int b = 0; b < j->B; b++)
        for (int i = 0; i < j->T; i++)
            for (int hh = 0; hh < j->H; hh++)
                memcpy(perm + (((size_t)b * j->H + hh) * j->T + i) * j->D, h + (((size_t)b * j->T + i) * j->H + hh) * j->D,
                       (size_t)j->D * sizeof *perm);
    int ok = hcl_tensor_upload_f32(t, perm, n) == HCL_OK;
    free(perm);
    return ok;
}

static int setup(att_job *j, hcl_context *ctx, hcl_dtype dt, const float *hq, const float *hk, const float *hv, const float *hg) {
    j->ctx = ctx;
    int64_t s4[4] = {j->B, j->T, j->H, j->D}, s3[3] = {(int64_t)j->B * j->H, j->T, j->D}, sl[3] = {j->B, j->H, j->T};
    int64_t st[3] = {(int64_t)j->B * j->H, j->T, j->T};
    int rank = j->naive ? 3 : 4;
    const int64_t *sh = j->naive ? s3 : s4;
    int ok = hcl_tensor_create(ctx, dt, rank, sh, &j->q) == HCL_OK && hcl_tensor_create(ctx, dt, rank, sh, &j->k) == HCL_OK &&
             hcl_tensor_create(ctx, dt, rank, sh, &j->v) == HCL_OK && hcl_tensor_create(ctx, dt, rank, sh, &j->out) == HCL_OK;
    ok = ok && upload(j, j->q, hq) && upload(j, j->k, hk) && upload(j, j->v, hv);
    if (ok && !j->naive) ok = hcl_tensor_create(ctx, HCL_F32, 3, sl, &j->lse) == HCL_OK;
    if (ok && j->naive) ok = hcl_tensor_create(ctx, dt, 3, st, &j->s) == HCL_OK && hcl_tensor_create(ctx, dt, 3, st, &j->p) == HCL_OK;
    if (!ok || !j->bwd) return ok;
    ok = (j->naive ? naive_forward(j) : hcl_attention_forward(ctx, j->out, j->lse, j->q, j->k, j->v, NULL, &j->desc)) == HCL_OK;
    hcl_tensor_free(j->s);
    j->s = NULL;
    ok = ok && hcl_tensor_create(ctx, dt, rank, sh, &j->g) == HCL_OK && upload(j, j->g, hg);
    ok = ok && hcl_tensor_create(ctx, dt, rank, sh, &j->dq) == HCL_OK && hcl_tensor_create(ctx, dt, rank, sh, &j->dk) == HCL_OK &&
         hcl_tensor_create(ctx, dt, rank, sh, &j->dv) == HCL_OK;
    if (ok && j->naive) ok = hcl_tensor_create(ctx, dt, 3, st, &j->dp) == HCL_OK && hcl_tensor_create(ctx, dt, 3, st, &j->ds) == HCL_OK;
    return ok;
}

/* Relative error of the forward output of (b, h) = (0, 0) against FP64. */
static double forward_err(att_job *j, const float *hq, const float *hk, const float *hv) {
    size_t n = j->out->count;
    float *o = malloc(n * sizeof *o);
    double *ref = malloc((size_t)j->T * j->D * sizeof *ref), *s = malloc((size_t)j->T * sizeof *s);
    float *got = malloc((size_t)j->T * j->D * sizeof *got);
    double err = -1;
    if (o && ref && s && got && hcl_tensor_download_f32(j->out, o, n) == HCL_OK) {
        size_t rs = (size_t)j->H * j->D; /* (B,T,H,D) row stride of (0, t, 0) */
        for (int i = 0; i < j->T; i++) {
            double m = -INFINITY, l = 0;
            int jend = j->causal ? i + 1 : j->T;
            for (int t = 0; t < jend; t++) {
                double d = 0;
                for (int e = 0; e < j->D; e++) d += (double)hq[i * rs + e] * hk[t * rs + e];
                s[t] = d * j->scale;
                m = fmax(m, s[t]);
            }
            for (int e = 0; e < j->D; e++) ref[(size_t)i * j->D + e] = 0;
            for (int t = 0; t < jend; t++) {
                double p = exp(s[t] - m);
                l += p;
                for (int e = 0; e < j->D; e++) ref[(size_t)i * j->D + e] += p * hv[t * rs + e];
            }
            for (int e = 0; e < j->D; e++) {
                ref[(size_t)i * j->D + e] /= l;
                got[(size_t)i * j->D + e] = j->naive ? o[(size_t)i * j->D + e] : o[i * rs + e];
            }
        }
        err = bench_rel_err(got, ref, (size_t)j->T * j->D);
    }
    free(o); free(ref); free(s); free(got);
    return err;
}

/* Peak device bytes (allocator blocks of every tensor plus the op workspaces) of a fresh context
 * on the same device that creates the job's tensors, runs its pass once (a backward job also its
 * forward first, as setup() does) and finishes. -1 on failure. */
static double peak_bytes(bench_ctx *b, const att_job *tmpl, hcl_dtype dt, const float *hq, const float *hk, const float *hv,
                         const float *hg) {
    const hcl_device_info *info = hcl_context_device(b->ctx);
    char spec[32];
    snprintf(spec, sizeof spec, "%u:%u", info->platform_index, info->device_index);
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.device = spec;
    o.half_mode = hcl_context_native_half(b->ctx) ? HCL_HALF_NATIVE : HCL_HALF_STORAGE;
    hcl_context *c = NULL;
    char err[512];
    if (hcl_context_create(&c, &o, err, sizeof err) != HCL_OK) return -1;
    att_job j = *tmpl;
    j.q = j.k = j.v = j.out = j.lse = j.g = j.dq = j.dk = j.dv = j.s = j.p = j.dp = j.ds = NULL;
    double peak = -1;
    if (setup(&j, c, dt, hq, hk, hv, hg) && run_att(&j) == HCL_OK && hcl_finish(c) == HCL_OK) {
        hcl_memory_stats ms;
        hcl_memory_stats_get(c, &ms);
        peak = (double)ms.peak_bytes;
    }
    free_job(&j);
    hcl_context_free(c);
    return peak;
}

static int want_dtype(const bench_ctx *b, hcl_dtype dt) {
    if (b->dtype) return !strcmp(b->dtype, hcl_dtype_name(dt));
    return dt == HCL_F32 || dt == HCL_F16;
}

int bench_suite_attention(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    int Ts_full[3] = {128, 256, 512}, Ts_quick[3] = {64, 128, 256}, nT = 3;
    int *Ts = b->quick ? Ts_quick : Ts_full;
    int one_T[1];
    if (b->m > 0) {
        one_T[0] = (int)b->m;
        Ts = one_T;
        nT = 1;
    }
    int B = b->quick ? 2 : 4, H = 4, D = b->n > 0 ? (int)b->n : 64;
    if (D > HCL_ATTENTION_MAX_D) {
        fprintf(stderr, "hcl-bench attention: D = %d exceeds %d\n", D, HCL_ATTENTION_MAX_D);
        return 1;
    }
    bench_note(b, "B=%d H=%d D=%d; m = T (Tq = Tk), n = D, k = B*H. GFLOP/s: forward 4*B*H*T*T*D (half when causal), backward "
               "2.5x forward for every row (the naive backward's 4 GEMMs are 2x)", B, H, D);
    bench_note(b, "naive = hcl_gemm (S = scale Q K^T into (B*H,T,T)) + hcl_softmax + hcl_gemm, inputs already (B*H,T,D) (the "
               "transposes from a projection not counted), S/P/dP/dS in the storage dtype; no causal mask op exists, so non-causal only");
    bench_note(b, "peak = peak device bytes of a fresh context that holds the pass's tensors and runs it once (bwd: after its "
               "forward; ours: q k v out lse [dout dq dk dv + B*H*T floats of workspace]; naive: + S and P [P dP dS])");
    int rc = 0;
    double peaks[3][4][2]; /* [T][ours fwd, ours bwd, naive fwd, naive bwd][dtype f32/f16 slot] */
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 4; c++) peaks[a][c][0] = peaks[a][c][1] = -1;
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = dts[di];
        if (!want_dtype(b, dt)) continue;
        for (int ti = 0; ti < nT; ti++) {
            int T = Ts[ti];
            size_t n = (size_t)B * T * H * D;
            float *hq = malloc(n * sizeof *hq), *hk = malloc(n * sizeof *hk), *hv = malloc(n * sizeof *hv), *hg = malloc(n * sizeof *hg);
            if (!hq || !hk || !hv || !hg) { free(hq); free(hk); free(hv); free(hg); return 1; }
            bench_fill(hq, n, -1.0f, 1.0f, 21);
            bench_fill(hk, n, -1.0f, 1.0f, 22);
            bench_fill(hv, n, -1.0f, 1.0f, 23);
            bench_fill(hg, n, -1.0f, 1.0f, 24);
            /* what the device holds after the upload (for the error of the forward) */
            float *hqr = malloc(n * sizeof *hqr), *hkr = malloc(n * sizeof *hkr), *hvr = malloc(n * sizeof *hvr);
            if (!hqr || !hkr || !hvr) { free(hq); free(hk); free(hv); free(hg); free(hqr); free(hkr); free(hvr); return 1; }
            for (size_t i = 0; i < n; i++) {
                hqr[i] = dt == HCL_F16 ? hcl_f16_to_f32(hcl_f32_to_f16(hq[i])) : dt == HCL_BF16 ? hcl_bf16_to_f32(hcl_f32_to_bf16(hq[i])) : hq[i];
                hkr[i] = dt == HCL_F16 ? hcl_f16_to_f32(hcl_f32_to_f16(hk[i])) : dt == HCL_BF16 ? hcl_bf16_to_f32(hcl_f32_to_bf16(hk[i])) : hk[i];
                hvr[i] = dt == HCL_F16 ? hcl_f16_to_f32(hcl_f32_to_f16(hv[i])) : dt == HCL_BF16 ? hcl_bf16_to_f32(hcl_f32_to_bf16(hv[i])) : hv[i];
            }
            for (int naive = 0; naive < 2; naive++)
                for (int causal = 0; causal < 2; causal++) {
                    if (naive && causal) continue;
                    for (int bwd = 0; bwd < 2; bwd++) {
                        att_job j = {.B = B, .T = T, .H = H, .D = D, .causal = causal, .naive = naive, .bwd = bwd,
                                     .scale = 1.0f / sqrtf((float)D)};
                        hcl_attention_desc_init(&j.desc);
                        j.desc.causal = causal;
                        bench_row row;
                        bench_row_init(&row, "attention", naive ? "naive gemm+softmax" : "halfcl", hcl_dtype_name(dt));
                        snprintf(row.case_name, sizeof row.case_name, "%s T=%d%s", bwd ? "bwd" : "fwd", T, causal ? " causal" : "");
                        row.m = T;
                        row.n = D;
                        row.k = (long)B * H;
                        if (!setup(&j, b->ctx, dt, hq, hk, hv, hg)) {
                            fprintf(stderr, "hcl-bench attention: %s\n", hcl_last_error(b->ctx));
                            free_job(&j);
                            rc = 1;
                            continue;
                        }
                        row.ms = bench_median_ms(b, run_att, &j);
                        double flops = 4.0 * B * H * (double)T * T * D * (causal ? 0.5 : 1.0) * (bwd ? 2.5 : 1.0);
                        if (row.ms > 0) row.gflops = flops / (row.ms * 1e6);
                        if (row.ms > 0 && !bwd) row.rel_err = forward_err(&j, hqr, hkr, hvr);
                        free_job(&j);
                        bench_emit(b, &row);
                        double pk = peak_bytes(b, &j, dt, hq, hk, hv, hg);
                        if (pk >= 0) bench_note(b, "  peak %.2f MB", pk / 1e6);
                        if (!causal && ti < 3 && di < 2) peaks[ti][naive * 2 + bwd][di] = pk;
                    }
                }
            free(hq); free(hk); free(hv); free(hg); free(hqr); free(hkr); free(hvr);
        }
    }
    /* the memory picture: peak bytes against T (non-causal) */
    for (int di = 0; di < 2; di++) {
        if (!want_dtype(b, dts[di])) continue;
        bench_note(b, "peak device MB, %s (non-causal): T | halfcl fwd | halfcl fwd+bwd | naive fwd | naive fwd+bwd",
                   hcl_dtype_name(dts[di]));
        for (int ti = 0; ti < nT; ti++)
            bench_note(b, "  %5d | %10.2f | %14.2f | %9.2f | %13.2f", Ts[ti], peaks[ti][0][di] / 1e6, peaks[ti][1][di] / 1e6,
                       peaks[ti][2][di] / 1e6, peaks[ti][3][di] / 1e6);
    }
    return rc;
}
