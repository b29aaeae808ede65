/* hcl-bench suite `activation`: forward and backward of the activations on a few million
 * elements per dtype, as GB/s (bytes read + written) next to the device's copy ceiling (the
 * issue's target: >= 70% of it), with the relative error of a checked prefix against FP64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_activation(bench_ctx *b);

typedef struct act_job {
    hcl_context *ctx;
    hcl_tensor *y, *x, *dy;
    hcl_activation act;
    int backward;
} act_job;

static hcl_status act_run(void *user) {
    act_job *j = user;
    if (j->backward) return hcl_activation_backward(j->ctx, j->y, j->dy, j->x, j->act, 0.1f);
    return hcl_activation_forward(j->ctx, j->y, j->x, j->act, 0.1f);
}

static double ref_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

static double ref_fwd(hcl_activation act, double x) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0 ? x : 0;
    case HCL_ACT_SIGMOID: return ref_sigmoid(x);
    case HCL_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case HCL_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case HCL_ACT_SILU: return x * ref_sigmoid(x);
    default: return x;
    }
}

static double ref_bwd(hcl_activation act, double x) {
    switch (act) {
    case HCL_ACT_RELU: return x > 0 ? 1 : 0;
    case HCL_ACT_GELU: return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979323846);
    case HCL_ACT_SILU: { double s = ref_sigmoid(x); return s + x * s * (1 - s); }
    default: return 1;
    }
}

static hcl_tensor *make(bench_ctx *b, hcl_dtype dt, size_t n, const float *host) {
    int64_t s = (int64_t)n;
    hcl_tensor *t = NULL;
    if (hcl_tensor_create(b->ctx, dt, 1, &s, &t) != HCL_OK) return NULL;
    if (host && hcl_tensor_upload_f32(t, host, n) != HCL_OK) { hcl_tensor_free(t); return NULL; }
    return t;
}

int bench_suite_activation(bench_ctx *b) {
    size_t n = b->n > 0 ? (size_t)b->n : b->quick ? ((size_t)1 << 20) : ((size_t)1 << 22);
    size_t check = n < 65536 ? n : 65536; /* elements checked against FP64 */
    static const hcl_dtype dtypes[] = {HCL_F32, HCL_F16, HCL_BF16};
    static const struct { hcl_activation act; int backward; } cases[] = {
        {HCL_ACT_RELU, 0}, {HCL_ACT_SIGMOID, 0}, {HCL_ACT_GELU, 0}, {HCL_ACT_GELU_TANH, 0}, {HCL_ACT_SILU, 0},
        {HCL_ACT_RELU, 1}, {HCL_ACT_GELU, 1}, {HCL_ACT_SILU, 1},
    };
    double ceiling = bench_copy_ceiling(b);
    float *hx = malloc(n * sizeof *hx), *hdy = malloc(n * sizeof *hdy), *hy = malloc(check * sizeof *hy);
    double *ref = malloc(check * sizeof *ref);
    if (!hx || !hdy || !hy || !ref) { free(hx); free(hdy); free(hy); free(ref); return 1; }
    bench_fill(hx, n, -4, 4, 1);
    bench_fill(hdy, n, -1, 1, 2);
    int rc = 0;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        hcl_dtype dt = dtypes[d];
        if (b->dtype && strcmp(b->dtype, hcl_dtype_name(dt))) continue;
        if (!b->dtype && b->quick && dt == HCL_BF16) continue;
        hcl_tensor *x = make(b, dt, n, hx), *dy = make(b, dt, n, hdy), *y = make(b, dt, n, NULL);
        float *xr = malloc(check * sizeof *xr), *dyr = malloc(check * sizeof *dyr);
        if (!x || !dy || !y || !xr || !dyr) {
            fprintf(stderr, "hcl-bench activation: %s\n", hcl_last_error(b->ctx));
            rc = 1;
        } else {
            /* the stored inputs, as the device sees them */
            hcl_tensor *xv = NULL, *dyv = NULL;
            int64_t sc = (int64_t)check;
            if (hcl_tensor_view(x, 0, 1, &sc, &xv) == HCL_OK && hcl_tensor_view(dy, 0, 1, &sc, &dyv) == HCL_OK) {
                hcl_tensor_download_f32(xv, xr, check);
                hcl_tensor_download_f32(dyv, dyr, check);
            }
            hcl_tensor_free(xv);
            hcl_tensor_free(dyv);
            size_t es = hcl_dtype_size(dt);
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                if (b->quick && c % 2) continue;
                act_job j = {b->ctx, y, x, dy, cases[c].act, cases[c].backward};
                double ms = bench_median_ms(b, act_run, &j);
                bench_row r;
                bench_row_init(&r, "activation", "halfcl", hcl_dtype_name(dt));
                snprintf(r.case_name, sizeof r.case_name, "%s %s", cases[c].backward ? "backward" : "forward",
                         hcl_activation_name(cases[c].act));
                r.m = (long)n;
                r.ms = ms;
                double bytes = (double)n * es * (cases[c].backward ? 3 : 2);
                if (ms > 0) {
                    r.gbps = bytes / (ms * 1e6);
                    hcl_tensor *yv = NULL;
                    if (hcl_tensor_view(y, 0, 1, &sc, &yv) == HCL_OK && hcl_tensor_download_f32(yv, hy, check) == HCL_OK) {
                        for (size_t i = 0; i < check; i++)
                            ref[i] = cases[c].backward ? dyr[i] * ref_bwd(cases[c].act, xr[i]) : ref_fwd(cases[c].act, xr[i]);
                        r.rel_err = bench_rel_err(hy, ref, check);
                    }
                    hcl_tensor_free(yv);
                }
                bench_emit(b, &r);
                if (ms > 0 && ceiling > 0)
                    bench_note(b, "  %s %s: %.1f%% of the copy ceiling (%.1f GB/s)", r.case_name, r.dtype, 100 * r.gbps / ceiling, ceiling);
            }
        }
        free(xr); free(dyr);
        hcl_tensor_free(x); hcl_tensor_free(dy); hcl_tensor_free(y);
    }
    free(hx); free(hdy); free(hy); free(ref);
    return rc;
}
