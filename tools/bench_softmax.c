/* hcl-bench suite `softmax`: softmax and log-softmax over the last dim, forward and backward,
 * on long rows (4096 x 1000: one work-group per row) and short rows (65536 x 10: one work-item
 * per row). Memory-bound: GB/s (bytes read + written once) next to the copy ceiling; the forward
 * rows carry the relative error against an FP64 host reference. --quick uses a quarter of the rows;
 * --m/--n override rows/cols. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_softmax(bench_ctx *b);

typedef struct sm_job {
    hcl_context *ctx;
    hcl_tensor *x, *y, *dy, *dx;
    int log, bwd;
} sm_job;

static hcl_status run_sm(void *u) {
    sm_job *j = u;
    return j->bwd ? hcl_softmax_backward(j->ctx, j->dx, j->dy, j->y, j->log) : hcl_softmax_forward(j->ctx, j->y, j->x, j->log);
}

static int want_dtype(const bench_ctx *b, hcl_dtype dt) {
    if (b->dtype) return !strcmp(b->dtype, hcl_dtype_name(dt));
    return dt == HCL_F32 || dt == HCL_F16;
}

/* Relative error of the forward output against FP64 softmax of the (dtype-rounded) input. */
static double forward_err(const sm_job *j, const float *x, size_t rows, size_t cols) {
    size_t n = rows * cols;
    float *y = malloc(n * sizeof *y);
    double *ref = malloc(n * sizeof *ref);
    double err = -1;
    if (y && ref && hcl_tensor_download_f32(j->y, y, n) == HCL_OK) {
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols;
            double m = -INFINITY, s = 0;
            for (size_t c = 0; c < cols; c++) m = fmax(m, xr[c]);
            for (size_t c = 0; c < cols; c++) s += exp(xr[c] - m);
            for (size_t c = 0; c < cols; c++) ref[r * cols + c] = j->log ? (xr[c] - m) - log(s) : exp(xr[c] - m) / s;
        }
        err = bench_rel_err(y, ref, n);
    }
    free(y);
    free(ref);
    return err;
}

int bench_suite_softmax(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    static const long shapes[2][2] = {{4096, 1000}, {65536, 10}};
    double ceiling = bench_copy_ceiling(b);
    if (ceiling > 0) bench_note(b, "copy ceiling %.2f GB/s", ceiling);
    int rc = 0;
    int nshapes = (b->m > 0 || b->n > 0) ? 1 : 2;
    for (int si = 0; si < nshapes; si++) {
        size_t rows = (size_t)(b->m > 0 ? b->m : b->quick ? shapes[si][0] / 4 : shapes[si][0]);
        size_t cols = (size_t)(b->n > 0 ? b->n : shapes[si][1]);
        size_t n = rows * cols;
        float *hx = malloc(n * sizeof *hx), *hg = malloc(n * sizeof *hg);
        if (!hx || !hg) { free(hx); free(hg); return 1; }
        bench_fill(hx, n, -8.0f, 8.0f, 1);
        bench_fill(hg, n, -1.0f, 1.0f, 2);
        for (int di = 0; di < 3; di++) {
            hcl_dtype dt = dts[di];
            if (!want_dtype(b, dt)) continue;
            int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
            sm_job j = {.ctx = b->ctx};
            float *xr = malloc(n * sizeof *xr);
            if (!xr || hcl_tensor_create(b->ctx, dt, 2, shape, &j.x) != HCL_OK ||
                hcl_tensor_create(b->ctx, dt, 2, shape, &j.y) != HCL_OK || hcl_tensor_create(b->ctx, dt, 2, shape, &j.dy) != HCL_OK ||
                hcl_tensor_create(b->ctx, dt, 2, shape, &j.dx) != HCL_OK || hcl_tensor_upload_f32(j.x, hx, n) != HCL_OK ||
                hcl_tensor_upload_f32(j.dy, hg, n) != HCL_OK || hcl_tensor_download_f32(j.x, xr, n) != HCL_OK) {
                fprintf(stderr, "hcl-bench softmax: %s\n", hcl_last_error(b->ctx));
                rc = 1;
            } else {
                size_t es = hcl_dtype_size(dt);
                for (int op = 0; op < 4; op++) {
                    j.log = op & 1;
                    j.bwd = op >> 1;
                    bench_row row;
                    bench_row_init(&row, "softmax", "halfcl", hcl_dtype_name(dt));
                    snprintf(row.case_name, sizeof row.case_name, "%s %s %zux%zu", j.log ? "log_softmax" : "softmax",
                             j.bwd ? "bwd" : "fwd", rows, cols);
                    row.m = (long)rows;
                    row.n = (long)cols;
                    if (j.bwd && run_sm(&(sm_job){b->ctx, j.x, j.y, j.dy, j.dx, j.log, 0}) != HCL_OK) rc = 1;
                    row.ms = bench_median_ms(b, run_sm, &j);
                    if (row.ms > 0) row.gbps = (double)((j.bwd ? 3 : 2) * n * es) / (row.ms * 1e6);
                    if (!j.bwd && row.ms > 0) row.rel_err = forward_err(&j, xr, rows, cols);
                    bench_emit(b, &row);
                    if (row.gbps > 0 && ceiling > 0) bench_note(b, "  %.0f%% of the copy ceiling", 100 * row.gbps / ceiling);
                }
            }
            free(xr);
            hcl_tensor_free(j.x);
            hcl_tensor_free(j.y);
            hcl_tensor_free(j.dy);
            hcl_tensor_free(j.dx);
        }
        free(hx);
        free(hg);
    }
    return rc;
}
