/* Suites `copy` (device memory bandwidth: vector copy kernels, the library's tensor copy and
 * clEnqueueCopyBuffer), `convert` (on-device casts F32<->F16/BF16) and `launch` (empty-kernel
 * launch cost, queued and with a host sync). */
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "runtime/internal.h"

typedef struct copy_job {
    hcl_context *ctx;
    cl_kernel kernel;   /* NULL = clEnqueueCopyBuffer */
    cl_mem src, dst;
    size_t bytes, global, local;
    hcl_tensor *ts, *td; /* for the tensor copy / cast */
    int mode;            /* 0 kernel, 1 clEnqueueCopyBuffer, 2 hcl_tensor_copy, 3 hcl_tensor_cast */
} copy_job;

static hcl_status run_copy(void *u) {
    copy_job *j = u;
    switch (j->mode) {
    case 1:
        HCL_CL_TRY(j->ctx, clEnqueueCopyBuffer(j->ctx->queue, j->src, j->dst, 0, 0, j->bytes, 0, NULL, NULL));
        return HCL_OK;
    case 2: return hcl_tensor_copy(j->td, j->ts);
    case 3: return hcl_tensor_cast(j->td, j->ts);
    default: return hcl_kernel_run(j->ctx, j->kernel, 1, &j->global, j->local ? &j->local : NULL);
    }
}

/* Copies of `floats` floats with one of the bench.cl kernels; returns GB/s (read + write). */
static double copy_kernel_gbps(bench_ctx *b, const char *name, int vec, size_t floats, hcl_tensor *src, hcl_tensor *dst,
                               double *ms_out) {
    copy_job j = {.ctx = b->ctx, .src = src->buffer, .dst = dst->buffer, .bytes = floats * 4};
    if (hcl_kernel_get(b->ctx, "bench", NULL, name, &j.kernel) != HCL_OK) return -1;
    cl_ulong n = floats / (size_t)vec;
    hcl_karg args[] = {HCL_ARG(dst->buffer), HCL_ARG(src->buffer), HCL_ARG(n)};
    if (hcl_kernel_set_args(b->ctx, j.kernel, args, 3) != HCL_OK) return -1;
    j.global = (size_t)n;
    double ms = bench_median_ms(b, run_copy, &j);
    if (ms_out) *ms_out = ms;
    return ms > 0 ? 2.0 * floats * 4 / (ms * 1e6) : -1;
}

static size_t copy_floats(bench_ctx *b) { return b->quick ? (size_t)4 << 20 : (size_t)16 << 20; }

double bench_copy_ceiling(bench_ctx *b) {
    if (b->copy_gbps > 0) return b->copy_gbps;
    size_t n = copy_floats(b);
    int64_t shape[1] = {(int64_t)n};
    hcl_tensor *src = NULL, *dst = NULL;
    if (hcl_tensor_create(b->ctx, HCL_F32, 1, shape, &src) != HCL_OK ||
        hcl_tensor_create(b->ctx, HCL_F32, 1, shape, &dst) != HCL_OK || hcl_tensor_fill(src, 1.0) != HCL_OK) {
        hcl_tensor_free(src);
        return -1;
    }
    double best = 0;
    const char *names[2] = {"copy_float4", "copy_float16"};
    int vecs[2] = {4, 16};
    for (int i = 0; i < 2; i++) {
        double g = copy_kernel_gbps(b, names[i], vecs[i], n, src, dst, NULL);
        if (g > best) best = g;
    }
    hcl_tensor_free(src);
    hcl_tensor_free(dst);
    b->copy_gbps = best;
    return best;
}

int bench_suite_copy(bench_ctx *b) {
    size_t n = copy_floats(b);
    int64_t shape[1] = {(int64_t)n};
    hcl_tensor *src = NULL, *dst = NULL;
    if (hcl_tensor_create(b->ctx, HCL_F32, 1, shape, &src) != HCL_OK || hcl_tensor_create(b->ctx, HCL_F32, 1, shape, &dst) != HCL_OK ||
        hcl_tensor_fill(src, 1.0) != HCL_OK) {
        fprintf(stderr, "hcl-bench copy: %s\n", hcl_last_error(b->ctx));
        hcl_tensor_free(src);
        return 1;
    }
    const char *names[2] = {"copy_float4", "copy_float16"};
    int vecs[2] = {4, 16};
    double best = 0;
    for (int i = 0; i < 2; i++) {
        bench_row r;
        bench_row_init(&r, "copy", names[i], "f32");
        snprintf(r.case_name, sizeof r.case_name, "%zu MiB", n * 4 >> 20);
        r.n = (long)n;
        r.gbps = copy_kernel_gbps(b, names[i], vecs[i], n, src, dst, &r.ms);
        if (r.gbps > best) best = r.gbps;
        bench_emit(b, &r);
    }
    if (best > b->copy_gbps) b->copy_gbps = best;
    copy_job tj = {.ctx = b->ctx, .ts = src, .td = dst, .mode = 2};
    bench_row r;
    bench_row_init(&r, "copy", "hcl_tensor_copy", "f32");
    snprintf(r.case_name, sizeof r.case_name, "%zu MiB", n * 4 >> 20);
    r.n = (long)n;
    r.ms = bench_median_ms(b, run_copy, &tj);
    r.gbps = r.ms > 0 ? 2.0 * n * 4 / (r.ms * 1e6) : -1;
    bench_emit(b, &r);
    copy_job cj = {.ctx = b->ctx, .src = src->buffer, .dst = dst->buffer, .bytes = n * 4, .mode = 1};
    bench_row_init(&r, "copy", "clEnqueueCopyBuffer", "f32");
    snprintf(r.case_name, sizeof r.case_name, "%zu MiB", n * 4 >> 20);
    r.n = (long)n;
    r.ms = bench_median_ms(b, run_copy, &cj);
    r.gbps = r.ms > 0 ? 2.0 * n * 4 / (r.ms * 1e6) : -1;
    bench_emit(b, &r);
    bench_note(b, "copy ceiling (best copy kernel, bytes read + written): %.2f GB/s", b->copy_gbps);
    hcl_tensor_free(src);
    hcl_tensor_free(dst);
    return 0;
}

int bench_suite_convert(bench_ctx *b) {
    size_t n = copy_floats(b);
    int64_t shape[1] = {(int64_t)n};
    struct { hcl_dtype from, to; } cases[] = {{HCL_F32, HCL_F16}, {HCL_F16, HCL_F32}, {HCL_F32, HCL_BF16}, {HCL_BF16, HCL_F32}};
    double ceiling = bench_copy_ceiling(b);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hcl_tensor *src = NULL, *dst = NULL;
        if (hcl_tensor_create(b->ctx, cases[i].from, 1, shape, &src) != HCL_OK ||
            hcl_tensor_create(b->ctx, cases[i].to, 1, shape, &dst) != HCL_OK || hcl_tensor_fill(src, 0.5) != HCL_OK) {
            fprintf(stderr, "hcl-bench convert: %s\n", hcl_last_error(b->ctx));
            hcl_tensor_free(src);
            return 1;
        }
        copy_job j = {.ctx = b->ctx, .ts = src, .td = dst, .mode = 3};
        bench_row r;
        bench_row_init(&r, "convert", "hcl_tensor_cast", hcl_dtype_name(cases[i].to));
        snprintf(r.case_name, sizeof r.case_name, "%s->%s", hcl_dtype_name(cases[i].from), hcl_dtype_name(cases[i].to));
        r.n = (long)n;
        r.ms = bench_median_ms(b, run_copy, &j);
        size_t bytes = n * (hcl_dtype_size(cases[i].from) + hcl_dtype_size(cases[i].to));
        r.gbps = r.ms > 0 ? bytes / (r.ms * 1e6) : -1;
        bench_emit(b, &r);
        if (r.gbps > 0 && ceiling > 0) bench_note(b, "  %s: %.0f%% of the copy ceiling", r.case_name, 100 * r.gbps / ceiling);
        hcl_tensor_free(src);
        hcl_tensor_free(dst);
    }
    return 0;
}

typedef struct launch_job { hcl_context *ctx; cl_kernel k; int sync; } launch_job;

static hcl_status run_launch(void *u) {
    launch_job *j = u;
    size_t g = 1;
    HCL_TRY(hcl_kernel_run(j->ctx, j->k, 1, &g, NULL));
    if (j->sync) HCL_CL_TRY(j->ctx, clFinish(j->ctx->queue));
    return HCL_OK;
}

int bench_suite_launch(bench_ctx *b) {
    launch_job j = {.ctx = b->ctx};
    if (hcl_kernel_get(b->ctx, "bench", NULL, "empty", &j.k) != HCL_OK) {
        fprintf(stderr, "hcl-bench launch: %s\n", hcl_last_error(b->ctx));
        return 1;
    }
    int calls = b->quick ? 200 : 1000;
    for (int sync = 0; sync < 2; sync++) {
        j.sync = sync;
        bench_row r;
        bench_row_init(&r, "launch", "empty kernel", "");
        snprintf(r.case_name, sizeof r.case_name, "%s", sync ? "launch + clFinish" : "queued (no sync)");
        r.ms = bench_median_ms_batched(b, run_launch, &j, calls);
        bench_emit(b, &r);
        if (r.ms > 0) bench_note(b, "  %s: %.1f us per launch", r.case_name, r.ms * 1e3);
    }
    return 0;
}
