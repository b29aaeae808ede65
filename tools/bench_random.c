/* hcl-bench suite `random`: Philox uniform and normal fills (bytes written) and dropout forward
 * (x read + y written), 16M elements (4M with --quick), in GB/s next to the copy ceiling.
 * --dtype picks one storage dtype (default f32, f16). */
#include <string.h>
#include "bench.h"

int bench_suite_random(bench_ctx *b);

typedef struct rnd_job { hcl_context *ctx; hcl_tensor *x, *y; int op; } rnd_job;

static hcl_status run_rnd(void *u) {
    rnd_job *j = u;
    switch (j->op) {
    case 0: return hcl_random_uniform(j->ctx, j->y, -1.0f, 1.0f, 1234, 0);
    case 1: return hcl_random_normal(j->ctx, j->y, 0.0f, 1.0f, 1234, 0);
    default: return hcl_dropout_forward(j->ctx, j->y, j->x, 0.1f, 1234, 0);
    }
}

int bench_suite_random(bench_ctx *b) {
    static const hcl_dtype dts[3] = {HCL_F32, HCL_F16, HCL_BF16};
    static const char *names[3] = {"uniform fill", "normal fill", "dropout fwd p=0.1"};
    double ceiling = bench_copy_ceiling(b);
    if (ceiling > 0) bench_note(b, "copy ceiling %.2f GB/s", ceiling);
    int64_t n = b->n > 0 ? b->n : b->quick ? (int64_t)4 << 20 : (int64_t)16 << 20;
    int rc = 0;
    for (int di = 0; di < 3; di++) {
        hcl_dtype dt = dts[di];
        if (b->dtype ? strcmp(b->dtype, hcl_dtype_name(dt)) != 0 : dt == HCL_BF16) continue;
        rnd_job j = {.ctx = b->ctx};
        if (hcl_tensor_create(b->ctx, dt, 1, &n, &j.x) != HCL_OK || hcl_tensor_create(b->ctx, dt, 1, &n, &j.y) != HCL_OK ||
            hcl_tensor_fill(j.x, 1.0) != HCL_OK) {
            fprintf(stderr, "hcl-bench random: %s\n", hcl_last_error(b->ctx));
            hcl_tensor_free(j.x);
            hcl_tensor_free(j.y);
            rc = 1;
            continue;
        }
        for (int op = 0; op < 3; op++) {
            j.op = op;
            bench_row r;
            bench_row_init(&r, "random", "halfcl", hcl_dtype_name(dt));
            snprintf(r.case_name, sizeof r.case_name, "%s %lldM", names[op], (long long)(n >> 20));
            r.n = (long)n;
            r.ms = bench_median_ms(b, run_rnd, &j);
            double bytes = (double)n * hcl_dtype_size(dt) * (op == 2 ? 2 : 1);
            r.gbps = r.ms > 0 ? bytes / (r.ms * 1e6) : -1;
            bench_emit(b, &r);
            if (r.gbps > 0 && ceiling > 0) bench_note(b, "  %s: %.0f%% of the copy ceiling", r.case_name, 100 * r.gbps / ceiling);
        }
        hcl_tensor_free(j.x);
        hcl_tensor_free(j.y);
    }
    return rc;
}
