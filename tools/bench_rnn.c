/* hcl-bench suite `rnn`: GRU and LSTM, one step (a T = 1 forward: input GEMM, hidden GEMM, gate
 * kernel) and a whole sequence forward (training, with the reserve) and forward + backward, at
 * B = 64, I = H = 256, T = 32 (--quick: B 16, I = H = 64, T 8), F32 and F16 (--dtype picks one).
 * GFLOP/s count the GEMM flops: forward 2*B*T*G*H*(I+H), backward twice that. A profiling
 * context counts the kernel launches per step at the same sizes (launches at T and T/2). */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_rnn(bench_ctx *b);

typedef struct rnn_job {
    hcl_context *ctx;
    hcl_rnn_desc desc;
    hcl_tensor *x, *y, *h0, *c0, *hn, *cn, *wih, *whh, *bih, *bhh, *res;
    hcl_tensor *dy, *dx, *dh0, *dc0, *dwih, *dwhh, *dbih, *dbhh;
    int backward;
} rnn_job;

static hcl_status run_rnn(void *u) {
    rnn_job *j = u;
    hcl_status st = hcl_rnn_forward(j->ctx, j->y, j->hn, j->cn, j->res, j->x, j->h0, j->c0, NULL, j->wih, j->whh, j->bih,
                                    j->bhh, &j->desc);
    if (st != HCL_OK || !j->backward) return st;
    return hcl_rnn_backward(j->ctx, j->dx, j->dh0, j->dc0, j->dwih, j->dwhh, j->dbih, j->dbhh, j->dy, NULL, NULL, j->res,
                            j->x, j->h0, j->c0, NULL, j->wih, j->whh, &j->desc);
}

static void free_job(rnn_job *j) {
    hcl_tensor *ts[] = {j->x, j->y, j->h0, j->c0, j->hn, j->cn, j->wih, j->whh, j->bih, j->bhh, j->res,
                        j->dy, j->dx, j->dh0, j->dc0, j->dwih, j->dwhh, j->dbih, j->dbhh};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) hcl_tensor_free(ts[i]);
    memset(j, 0, sizeof *j);
}

static int make(hcl_context *ctx, hcl_dtype dt, int64_t n0, int64_t n1, int64_t n2, float lo, float hi, unsigned seed,
                int rank, hcl_tensor **t) {
    int64_t shape[3] = {n0, n1, n2};
    if (hcl_tensor_create(ctx, dt, rank, shape, t) != HCL_OK) return 0;
    if (lo == hi) return hcl_tensor_fill(*t, lo) == HCL_OK; /* outputs, the reserve, zeroed gradients */
    size_t n = (*t)->count;
    float *h = malloc(n * sizeof *h);
    if (!h) return 0;
    bench_fill(h, n, lo, hi, seed);
    int ok = hcl_tensor_upload_f32(*t, h, n) == HCL_OK;
    free(h);
    return ok;
}

/* Tensors for a (cell, dtype, B, T, I, H) job; weights in the compute dtype (the working copies
 * of mixed-precision training), gradients of the weights F32. */
static int setup(hcl_context *ctx, rnn_job *j, hcl_rnn_cell cell, hcl_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H) {
    memset(j, 0, sizeof *j);
    j->ctx = ctx;
    hcl_rnn_desc_init(&j->desc, cell);
    int lstm = cell == HCL_RNN_LSTM;
    int64_t GH = (lstm ? 4 : 3) * H;
    float ws = 1.0f / 16.0f;
    int64_t rb = (int64_t)hcl_rnn_reserve_bytes(&j->desc, B, T, H, dt);
    int ok = rb > 0 && make(ctx, dt, B, T, I, -1, 1, 1, 3, &j->x) && make(ctx, dt, B, T, H, 0, 0, 1, 3, &j->y) &&
             make(ctx, dt, B, H, 1, -1, 1, 2, 2, &j->h0) && make(ctx, dt, B, H, 1, 0, 0, 1, 2, &j->hn) &&
             make(ctx, dt, GH, I, 1, -ws, ws, 3, 2, &j->wih) && make(ctx, dt, GH, H, 1, -ws, ws, 4, 2, &j->whh) &&
             make(ctx, dt, GH, 1, 1, -ws, ws, 5, 1, &j->bih) && make(ctx, dt, GH, 1, 1, -ws, ws, 6, 1, &j->bhh) &&
             make(ctx, HCL_U8, rb, 1, 1, 0, 0, 1, 1, &j->res) && make(ctx, dt, B, T, H, -1, 1, 7, 3, &j->dy) &&
             make(ctx, dt, B, T, I, 0, 0, 1, 3, &j->dx) && make(ctx, dt, B, H, 1, 0, 0, 1, 2, &j->dh0) &&
             make(ctx, HCL_F32, GH, I, 1, 0, 0, 1, 2, &j->dwih) && make(ctx, HCL_F32, GH, H, 1, 0, 0, 1, 2, &j->dwhh) &&
             make(ctx, HCL_F32, GH, 1, 1, 0, 0, 1, 1, &j->dbih) && make(ctx, HCL_F32, GH, 1, 1, 0, 0, 1, 1, &j->dbhh);
    if (ok && lstm)
        ok = make(ctx, dt, B, H, 1, -1, 1, 8, 2, &j->c0) && make(ctx, dt, B, H, 1, 0, 0, 1, 2, &j->cn) &&
             make(ctx, dt, B, H, 1, 0, 0, 1, 2, &j->dc0);
    if (!ok) fprintf(stderr, "hcl-bench rnn: setup failed: %s\n", hcl_last_error(ctx));
    return ok;
}

/* Launches of one forward (and backward) call, by kernel: total and GEMM-owned ones. */
static int count_launches(hcl_context *pctx, hcl_rnn_cell cell, hcl_dtype dt, int64_t B, int64_t T, int64_t I, int64_t H,
                          int backward, unsigned long *total, unsigned long *gemm) {
    rnn_job j;
    int ok = setup(pctx, &j, cell, dt, B, T, I, H);
    j.backward = backward;
    *total = *gemm = 0;
    ok = ok && run_rnn(&j) == HCL_OK && hcl_finish(pctx) == HCL_OK; /* builds, workspace growth */
    hcl_profile_reset(pctx);
    ok = ok && run_rnn(&j) == HCL_OK;
    hcl_kernel_profile *p = NULL;
    size_t n = 0;
    ok = ok && hcl_profile_get(pctx, &p, &n) == HCL_OK;
    for (size_t i = 0; ok && i < n; i++) {
        *total += p[i].launches;
        if (!strncmp(p[i].name, "gemm", 4)) *gemm += p[i].launches;
    }
    hcl_profile_entries_free(p);
    free_job(&j);
    return ok;
}

/* The most expensive kernels of one call on the profiling context (table mode notes). */
static void profile_note(bench_ctx *b, hcl_context *pctx, rnn_job *pj, const char *what) {
    if (run_rnn(pj) != HCL_OK || hcl_finish(pctx) != HCL_OK) return;
    hcl_profile_reset(pctx);
    if (run_rnn(pj) != HCL_OK) return;
    hcl_kernel_profile *p = NULL;
    size_t n = 0;
    if (hcl_profile_get(pctx, &p, &n) != HCL_OK) return;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += p[i].total_ms;
    char line[512];
    int used = snprintf(line, sizeof line, "  %s device time %.2f ms:", what, sum);
    for (size_t i = 0; i < n && i < 5 && used > 0 && (size_t)used < sizeof line; i++)
        used += snprintf(line + used, sizeof line - (size_t)used, " %s %.2f (%lu)", p[i].name, p[i].total_ms, p[i].launches);
    bench_note(b, "%s", line);
    hcl_profile_entries_free(p);
}

int bench_suite_rnn(bench_ctx *b) {
    static const hcl_dtype dts[2] = {HCL_F32, HCL_F16};
    int64_t B = b->quick ? 16 : 64, T = b->quick ? 8 : 32, I = b->quick ? 64 : 256, H = b->quick ? 64 : 256;
    if (b->m > 0) B = b->m;
    if (b->n > 0) H = b->n;
    if (b->k > 0) I = b->k;
    /* a second context on the same device with profiling on, for the launch counts and the
     * per-kernel notes */
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.profiling = 1;
    o.half_mode = hcl_context_native_half(b->ctx) ? HCL_HALF_NATIVE
                  : hcl_context_device(b->ctx)->has_fp16 ? HCL_HALF_STORAGE : HCL_HALF_AUTO;
    hcl_context *pctx = NULL;
    char err[1024];
    if (hcl_context_create(&pctx, &o, err, sizeof err) != HCL_OK) pctx = NULL;
    int rc = 0;
    for (int cell = 0; cell < 2; cell++)
        for (int di = 0; di < 2; di++) {
            hcl_dtype dt = dts[di];
            if (b->dtype ? strcmp(b->dtype, hcl_dtype_name(dt)) != 0 : 0) continue;
            const char *cn = cell ? "lstm" : "gru";
            double G = cell ? 4 : 3;
            if (pctx) {
                /* per step: (launches at 2 Tc - at Tc) / Tc; the whole-sequence GEMMs keep their
                 * kernels between the two lengths (a length of 2 vs 3 changed the input GEMM's) */
                unsigned long f0, g0, f1, g1, b0, bg0, b1, bg1, Tc = (unsigned long)(T / 2 > 0 ? T / 2 : 1);
                if (count_launches(pctx, (hcl_rnn_cell)cell, dt, B, Tc, I, H, 0, &f0, &g0) &&
                    count_launches(pctx, (hcl_rnn_cell)cell, dt, B, 2 * Tc, I, H, 0, &f1, &g1) &&
                    count_launches(pctx, (hcl_rnn_cell)cell, dt, B, Tc, I, H, 1, &b0, &bg0) &&
                    count_launches(pctx, (hcl_rnn_cell)cell, dt, B, 2 * Tc, I, H, 1, &b1, &bg1))
                    bench_note(b, "%s %s kernel launches per step (B=%lld, I=%lld, H=%lld): forward %.1f (%.1f in the GEMM), "
                               "backward %.1f (%.1f in the GEMM)", cn, hcl_dtype_name(dt), (long long)B, (long long)I,
                               (long long)H, (double)(f1 - f0) / Tc, (double)(g1 - g0) / Tc,
                               (double)((b1 - b0) - (f1 - f0)) / Tc, (double)((bg1 - bg0) - (g1 - g0)) / Tc);
            }
            struct { const char *name; int64_t T; int backward; double flop_mult; } kinds[3] = {
                {"step", 1, 0, 1}, {"seq fwd", T, 0, 1}, {"seq fwd+bwd", T, 1, 3}};
            for (int kind = 0; kind < 3; kind++) {
                rnn_job j;
                if (!setup(b->ctx, &j, (hcl_rnn_cell)cell, dt, B, kinds[kind].T, I, H)) {
                    free_job(&j);
                    rc = 1;
                    continue;
                }
                j.backward = kinds[kind].backward;
                bench_row r;
                bench_row_init(&r, "rnn", "halfcl", hcl_dtype_name(dt));
                snprintf(r.case_name, sizeof r.case_name, "%s %s B%lld T%lld I%lld H%lld", cn, kinds[kind].name, (long long)B,
                         (long long)kinds[kind].T, (long long)I, (long long)H);
                r.m = (long)B;
                r.n = (long)H;
                r.k = (long)I;
                r.ms = bench_median_ms(b, run_rnn, &j);
                double flops = kinds[kind].flop_mult * 2.0 * (double)B * (double)kinds[kind].T * G * (double)H * (double)(I + H);
                r.gflops = r.ms > 0 ? flops / (r.ms * 1e6) : -1;
                bench_emit(b, &r);
                if (r.ms > 0 && kinds[kind].T > 1)
                    bench_note(b, "  %s: %.3f ms per step", r.case_name, r.ms / (double)kinds[kind].T);
                free_job(&j);
                if (pctx && b->format == BENCH_TABLE && kind > 0) {
                    rnn_job pj;
                    if (setup(pctx, &pj, (hcl_rnn_cell)cell, dt, B, kinds[kind].T, I, H)) {
                        pj.backward = kinds[kind].backward;
                        profile_note(b, pctx, &pj, r.case_name);
                    }
                    free_job(&pj);
                }
            }
        }
    hcl_context_free(pctx);
    return rc;
}
