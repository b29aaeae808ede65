/* hcl-bench suite `loss`: fused softmax cross-entropy (loss + logits gradient, label smoothing
 * 0.1, device grad scale) at the Fashion-MNIST shape (64 x 10: microseconds per call, launch
 * bound) and at 4096 x 1000 (GB/s next to the copy ceiling), and MSE / BCE with logits on 2^20
 * elements (GB/s), and distillation (student in the dtype, F16 teacher, T 4, alpha 0.5, hard
 * labels) at both cross-entropy shapes. --quick uses a quarter of the large sizes. */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int bench_suite_loss(bench_ctx *b);

typedef struct loss_job {
    hcl_context *ctx;
    int op; /* 0 cross-entropy, 1 MSE, 2 BCE, 3 distillation */
    hcl_tensor *loss, *grad, *x, *labels, *t, *scale;
} loss_job;

static hcl_status run_loss(void *u) {
    loss_job *j = u;
    switch (j->op) {
    case 0: return hcl_softmax_cross_entropy(j->ctx, j->loss, j->grad, j->x, j->labels, 0.1f, j->scale);
    case 3: return hcl_distillation_loss(j->ctx, j->loss, j->grad, j->x, j->t, j->labels, 4.0f, 0.5f, j->scale);
    case 1: return hcl_mse_loss(j->ctx, j->loss, j->grad, j->x, j->t, j->scale);
    default: return hcl_bce_with_logits(j->ctx, j->loss, j->grad, j->x, j->t, j->scale);
    }
}

static int want_dtype(const bench_ctx *b, hcl_dtype dt) {
    if (b->dtype) return !strcmp(b->dtype, hcl_dtype_name(dt));
    return dt == HCL_F32 || dt == HCL_F16;
}

static void free_job(loss_job *j) {
    hcl_tensor_free(j->loss);
    hcl_tensor_free(j->grad);
    hcl_tensor_free(j->x);
    hcl_tensor_free(j->labels);
    hcl_tensor_free(j->t);
    hcl_tensor_free(j->scale);
}

/* One case: rows x cols (op 0) or rows * cols elements (ops 1, 2). */
static int bench_case(bench_ctx *b, int op, hcl_dtype dt, size_t rows, size_t cols, int small, double ceiling) {
    static const char *const names[4] = {"cross_entropy fwd+bwd", "mse fwd+bwd", "bce_logits fwd+bwd",
                                         "distillation fwd+bwd"};
    int rows_op = op == 0 || op == 3; /* labels, rows x cols */
    size_t n = rows * cols;
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols}, lshape[1] = {(int64_t)rows}, one[1] = {1};
    loss_job j = {.ctx = b->ctx, .op = op};
    float *h = malloc(n * sizeof *h);
    int32_t *lab = malloc(rows * sizeof *lab);
    float s = 1024.0f;
    int rc = 0;
    hcl_status st = h && lab ? HCL_OK : HCL_ERR_HOST_MEMORY;
    if (st == HCL_OK) {
        bench_fill(h, n, -4.0f, 4.0f, 3);
        for (size_t r = 0; r < rows; r++) lab[r] = (int32_t)((r * 7919u) % cols);
    }
    if (st == HCL_OK) st = hcl_tensor_create(b->ctx, HCL_F32, 1, one, &j.loss);
    if (st == HCL_OK) st = hcl_tensor_create(b->ctx, HCL_F32, 1, one, &j.scale);
    if (st == HCL_OK) st = hcl_tensor_upload_f32(j.scale, &s, 1);
    if (st == HCL_OK) st = hcl_tensor_create(b->ctx, dt, 2, shape, &j.x);
    if (st == HCL_OK) st = hcl_tensor_create(b->ctx, dt, 2, shape, &j.grad);
    if (st == HCL_OK) st = hcl_tensor_upload_f32(j.x, h, n);
    if (st == HCL_OK && rows_op) st = hcl_tensor_create(b->ctx, HCL_I32, 1, lshape, &j.labels);
    if (st == HCL_OK && rows_op) st = hcl_tensor_upload_raw(j.labels, lab, rows * sizeof *lab);
    if (st == HCL_OK && op != 0) st = hcl_tensor_create(b->ctx, op == 3 ? HCL_F16 : dt, 2, shape, &j.t);
    if (st == HCL_OK && op == 3) {
        bench_fill(h, n, -6.0f, 6.0f, 5);
        st = hcl_tensor_upload_f32(j.t, h, n);
    } else if (st == HCL_OK && op != 0) {
        st = hcl_tensor_fill(j.t, 0.25);
    }
    if (st != HCL_OK) {
        fprintf(stderr, "hcl-bench loss: %s\n", hcl_last_error(b->ctx));
        rc = 1;
    } else {
        bench_row row;
        bench_row_init(&row, "loss", "halfcl", hcl_dtype_name(dt));
        snprintf(row.case_name, sizeof row.case_name, "%s %zux%zu", names[op], rows, cols);
        row.m = (long)rows;
        row.n = (long)cols;
        row.ms = small ? bench_median_ms_batched(b, run_loss, &j, 100) : bench_median_ms(b, run_loss, &j);
        size_t es = hcl_dtype_size(dt);
        /* bytes: read the input (and targets / labels), write the gradient */
        /* distillation: + the F16 teacher */
        size_t bytes = op == 3 ? n * (2 * es + 2) + rows * 4 : n * es * (op == 0 ? 2 : 3) + (op == 0 ? rows * 4 : 0);
        if (row.ms > 0) row.gbps = (double)bytes / (row.ms * 1e6);
        bench_emit(b, &row);
        if (row.ms > 0 && small) bench_note(b, "  %.1f us per call", row.ms * 1e3);
        else if (row.gbps > 0 && ceiling > 0) bench_note(b, "  %.0f%% of the copy ceiling", 100 * row.gbps / ceiling);
    }
    free(h);
    free(lab);
    free_job(&j);
    return rc;
}

int bench_suite_loss(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    double ceiling = bench_copy_ceiling(b);
    if (ceiling > 0) bench_note(b, "copy ceiling %.2f GB/s", ceiling);
    size_t big_rows = b->quick ? 1024 : 4096, ew_rows = b->quick ? 256 : 1024;
    int rc = 0;
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = dts[di];
        if (!want_dtype(b, dt)) continue;
        rc |= bench_case(b, 0, dt, 64, 10, 1, ceiling);
        rc |= bench_case(b, 0, dt, big_rows, 1000, 0, ceiling);
        rc |= bench_case(b, 1, dt, ew_rows, 1024, 0, ceiling);
        rc |= bench_case(b, 2, dt, ew_rows, 1024, 0, ceiling);
        rc |= bench_case(b, 3, dt, 64, 10, 1, ceiling);
        rc |= bench_case(b, 3, dt, big_rows, 1000, 0, ceiling);
    }
    return rc;
}
