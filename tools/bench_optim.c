/* Suite `optim`: the amp step over a flat parameter arena, in GB/s next to the copy ceiling.
 * Rows: the fused optimizer kernel alone (Adam with F16 gradients: grad read 2, master r/w 8,
 * m r/w 8, v r/w 8, working write 2 = 28 B/param; with BF16 moments m and v r/w 4 each = 20
 * B/param), the unscale + non-finite check pass alone (gradient read: 2 B/param for F16), and the
 * whole step (check + finalize + optimizer). BF16-moment rows (nearest and stochastic rounding)
 * follow their F32-moment case. */
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "amp/amp_internal.h"

int bench_suite_optim(bench_ctx *b);

typedef struct optim_job {
    hcl_optimizer *o;
    int what; /* 0 update kernel, 1 check pass, 2 full step */
} optim_job;

static hcl_status run_optim(void *u) {
    optim_job *j = u;
    switch (j->what) {
    case 0: return hcl_amp_update_enqueue(j->o, 1e-4f);
    case 1: return hcl_amp_check_enqueue(j->o);
    default: return hcl_optimizer_step(j->o, 1e-4f);
    }
}

typedef struct optim_case {
    hcl_precision pol;
    hcl_optim_kind kind;
    const char *label;
    hcl_dtype sdt;          /* optimizer moments */
    hcl_state_rounding rnd; /* BF16 moments */
} optim_case;

/* Bytes per parameter of the update kernel: gradient read, master read+write (or the working
 * weight under fp32/pure), each state read+write in its dtype, the working copy written. */
static double update_bytes(const hcl_params *p, const hcl_optimizer *o) {
    hcl_precision pol = hcl_params_policy(p);
    double g = (double)hcl_dtype_size(hcl_precision_grad_dtype(pol));
    double w = (double)hcl_dtype_size(hcl_precision_compute_dtype(pol));
    double master = hcl_precision_has_master(pol) ? 8.0 : 2.0 * w;
    double work = hcl_precision_has_master(pol) ? w : 0.0;
    double state = 2.0 * (double)hcl_dtype_size(hcl_optimizer_config(o)->state_dtype);
    return g + master + state * (double)hcl_optimizer_state_count(o) + work;
}

int bench_suite_optim(bench_ctx *b) {
    size_t n = b->n > 0 ? (size_t)b->n : b->quick ? (size_t)2000000 : (size_t)10000000;
    double ceiling = bench_copy_ceiling(b);
    optim_case cases[] = {
        {HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, "adam", HCL_F32, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, "adam bf16-state", HCL_BF16, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_MIXED_F16, HCL_OPTIM_ADAM, "adam bf16-state sr", HCL_BF16, HCL_STATE_ROUND_STOCHASTIC},
        {HCL_PRECISION_MIXED_BF16, HCL_OPTIM_ADAMW, "adamw", HCL_F32, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_MIXED_BF16, HCL_OPTIM_ADAMW, "adamw bf16-state", HCL_BF16, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_FP32, HCL_OPTIM_ADAM, "adam", HCL_F32, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_FP32, HCL_OPTIM_ADAM, "adam bf16-state", HCL_BF16, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_MIXED_F16, HCL_OPTIM_SGD, "sgd momentum", HCL_F32, HCL_STATE_ROUND_NEAREST},
        {HCL_PRECISION_MIXED_F16, HCL_OPTIM_SGD, "sgd momentum bf16-state", HCL_BF16, HCL_STATE_ROUND_NEAREST},
    };
    size_t ncases = b->quick ? 2 : sizeof cases / sizeof cases[0];
    int rc = 0;
    for (size_t ci = 0; ci < ncases; ci++) {
        hcl_dtype gdt = hcl_precision_grad_dtype(cases[ci].pol);
        if (b->dtype && strcmp(b->dtype, hcl_dtype_name(gdt))) continue;
        hcl_params *p = NULL;
        hcl_optimizer *o = NULL;
        int64_t shape[1] = {(int64_t)n};
        hcl_optim_config c;
        hcl_optim_config_init(&c, cases[ci].kind);
        if (cases[ci].kind == HCL_OPTIM_SGD) c.momentum = 0.9f;
        c.state_dtype = cases[ci].sdt;
        c.state_rounding = cases[ci].rnd;
        if (hcl_params_create(b->ctx, cases[ci].pol, &p) != HCL_OK || hcl_params_add(p, "w", 1, shape, NULL) != HCL_OK ||
            hcl_params_alloc(p) != HCL_OK || hcl_tensor_fill(hcl_params_grad_arena(p), 0.25) != HCL_OK ||
            hcl_optimizer_create(p, &c, NULL, &o) != HCL_OK) {
            fprintf(stderr, "hcl-bench optim: %s\n", hcl_last_error(b->ctx));
            hcl_params_free(p);
            rc = 1;
            continue;
        }
        const char *pol = hcl_precision_name(cases[ci].pol);
        double ub = update_bytes(p, o);
        struct { int what; const char *impl; double bytes; } rows[3] = {
            {0, "fused optimizer kernel", ub},
            {1, "unscale+check pass", (double)hcl_dtype_size(gdt)},
            {2, "full step (3 launches)", ub + (double)hcl_dtype_size(gdt)},
        };
        for (int r = 0; r < 3; r++) {
            int seen = 0; /* the check pass depends on the policy only: once per policy */
            for (size_t cj = 0; cj < ci; cj++) seen |= cases[cj].pol == cases[ci].pol;
            if (r == 1 && seen) continue;
            optim_job j = {o, rows[r].what};
            bench_row row;
            bench_row_init(&row, "optim", rows[r].impl, hcl_dtype_name(gdt));
            snprintf(row.case_name, sizeof row.case_name, "%s %s %.0fM", pol, r == 1 ? "check" : cases[ci].label, n / 1e6);
            row.n = (long)n;
            row.ms = bench_median_ms(b, run_optim, &j);
            row.gbps = row.ms > 0 ? rows[r].bytes * (double)n / (row.ms * 1e6) : -1;
            bench_emit(b, &row);
            if (row.gbps > 0 && ceiling > 0)
                bench_note(b, "  %s, %s: %.0f B/param, %.0f%% of the copy ceiling (%.2f GB/s)", row.case_name, rows[r].impl,
                           rows[r].bytes, 100 * row.gbps / ceiling, ceiling);
        }
        hcl_amp_stats st;
        if (hcl_optimizer_read_stats(o, &st) == HCL_OK && st.skipped)
            bench_note(b, "  %s: %u of the timed steps were skipped (non-finite gradients): rows not valid", pol, st.skipped);
        hcl_optimizer_free(o);
        hcl_params_free(p);
    }
    return rc;
}
