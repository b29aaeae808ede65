/* hcl-bench harness: timing (warm-up, median of reps, one host sync per rep), output as a table,
 * CSV with the fixed header, or JSON, and the measured copy ceiling. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_row_init(bench_row *r, const char *suite, const char *impl, const char *dtype) {
    memset(r, 0, sizeof *r);
    r->suite = suite;
    r->impl = impl;
    r->dtype = dtype ? dtype : "";
    r->m = r->n = r->k = -1;
    r->ms = r->gflops = r->gbps = r->rel_err = -1;
}

static void csv_num(FILE *f, double v, const char *fmt) {
    if (v >= 0) fprintf(f, fmt, v);
}

void bench_emit(bench_ctx *b, const bench_row *r) {
    FILE *f = stdout;
    if (b->format == BENCH_CSV) {
        if (b->rows_emitted == 0) fprintf(f, "suite,case,impl,dtype,m,n,k,ms,gflops,gbps,rel_err\n");
        fprintf(f, "%s,%s,%s,%s,", r->suite, r->case_name, r->impl, r->dtype);
        if (r->m >= 0) fprintf(f, "%ld", r->m);
        fputc(',', f);
        if (r->n >= 0) fprintf(f, "%ld", r->n);
        fputc(',', f);
        if (r->k >= 0) fprintf(f, "%ld", r->k);
        fputc(',', f);
        csv_num(f, r->ms, "%.4f");
        fputc(',', f);
        csv_num(f, r->gflops, "%.2f");
        fputc(',', f);
        csv_num(f, r->gbps, "%.2f");
        fputc(',', f);
        csv_num(f, r->rel_err, "%.2e");
        fputc('\n', f);
    } else if (b->format == BENCH_JSON) {
        fprintf(f, "%s{\"suite\":\"%s\",\"case\":\"%s\",\"impl\":\"%s\",\"dtype\":\"%s\"", b->rows_emitted ? ",\n " : "[",
                r->suite, r->case_name, r->impl, r->dtype);
        if (r->m >= 0) fprintf(f, ",\"m\":%ld", r->m);
        if (r->n >= 0) fprintf(f, ",\"n\":%ld", r->n);
        if (r->k >= 0) fprintf(f, ",\"k\":%ld", r->k);
        if (r->ms >= 0) fprintf(f, ",\"ms\":%.5f", r->ms);
        if (r->gflops >= 0) fprintf(f, ",\"gflops\":%.3f", r->gflops);
        if (r->gbps >= 0) fprintf(f, ",\"gbps\":%.3f", r->gbps);
        if (r->rel_err >= 0) fprintf(f, ",\"rel_err\":%.3e", r->rel_err);
        fputc('}', f);
    } else {
        if (b->rows_emitted == 0)
            fprintf(f, "%-8s %-34s %-20s %-5s %7s %7s %7s %10s %9s %8s %9s\n", "suite", "case", "impl", "dtype", "m", "n", "k",
                    "ms", "GFLOP/s", "GB/s", "rel_err");
        char m[24] = "", n[24] = "", k[24] = "", ms[24] = "", gf[24] = "", gb[24] = "", re[24] = "";
        if (r->m >= 0) snprintf(m, sizeof m, "%ld", r->m);
        if (r->n >= 0) snprintf(n, sizeof n, "%ld", r->n);
        if (r->k >= 0) snprintf(k, sizeof k, "%ld", r->k);
        if (r->ms >= 0) snprintf(ms, sizeof ms, "%.4f", r->ms);
        if (r->gflops >= 0) snprintf(gf, sizeof gf, "%.1f", r->gflops);
        if (r->gbps >= 0) snprintf(gb, sizeof gb, "%.2f", r->gbps);
        if (r->rel_err >= 0) snprintf(re, sizeof re, "%.1e", r->rel_err);
        fprintf(f, "%-8s %-34s %-20s %-5s %7s %7s %7s %10s %9s %8s %9s\n", r->suite, r->case_name, r->impl, r->dtype, m, n, k,
                ms, gf, gb, re);
    }
    fflush(f);
    b->rows_emitted++;
}

void bench_note(bench_ctx *b, const char *fmt, ...) {
    if (b->format != BENCH_TABLE) return;
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static double run_timed(bench_ctx *b, bench_device_fn fn, void *user, int calls) {
    for (int i = 0; i < b->warmup; i++) {
        hcl_status st = fn(user);
        if (st != HCL_OK) {
            fprintf(stderr, "hcl-bench: %s: %s\n", hcl_status_name(st), hcl_last_error(b->ctx));
            b->failures++;
            return -1;
        }
    }
    if (hcl_finish(b->ctx) != HCL_OK) { b->failures++; return -1; }
    double *t = malloc(sizeof(double) * (size_t)b->reps);
    if (!t) return -1;
    for (int r = 0; r < b->reps; r++) {
        double t0 = now_ms();
        for (int c = 0; c < calls; c++) {
            hcl_status st = fn(user);
            if (st != HCL_OK) {
                fprintf(stderr, "hcl-bench: %s: %s\n", hcl_status_name(st), hcl_last_error(b->ctx));
                b->failures++;
                free(t);
                return -1;
            }
        }
        if (hcl_finish(b->ctx) != HCL_OK) { b->failures++; free(t); return -1; }
        t[r] = (now_ms() - t0) / calls;
    }
    double med = median(t, b->reps);
    free(t);
    return med;
}

double bench_median_ms(bench_ctx *b, bench_device_fn fn, void *user) { return run_timed(b, fn, user, 1); }

double bench_median_ms_batched(bench_ctx *b, bench_device_fn fn, void *user, int calls) {
    return run_timed(b, fn, user, calls < 1 ? 1 : calls);
}

double bench_median_ms_host(bench_ctx *b, bench_host_fn fn, void *user) {
    for (int i = 0; i < b->warmup; i++) fn(user);
    double *t = malloc(sizeof(double) * (size_t)b->reps);
    if (!t) return -1;
    for (int r = 0; r < b->reps; r++) {
        double t0 = now_ms();
        fn(user);
        t[r] = now_ms() - t0;
    }
    double med = median(t, b->reps);
    free(t);
    return med;
}

void bench_fill(float *x, size_t n, float lo, float hi, unsigned seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        double u = (double)((s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

double bench_rel_err(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double d = a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
