/* hcl-bench harness shared by the suites (tools/bench_<suite>.c): options, timing with warm-up
 * and median, result rows printed as a table, CSV (fixed header) or JSON, and the measured copy
 * ceiling that memory-bound kernels are reported against. */
#ifndef HCL_BENCH_H
#define HCL_BENCH_H

#include <stdio.h>
#include "halfcl/halfcl.h"

typedef enum bench_format { BENCH_TABLE = 0, BENCH_CSV, BENCH_JSON } bench_format;

typedef struct bench_ctx {
    hcl_context *ctx;
    bench_format format;
    int warmup, reps;        /* --warmup (default 2), --reps (default 7): median of reps */
    long m, n, k;            /* --m --n --k: 0 = the suite's default sweep */
    const char *trans;       /* --trans NN|NT|TN|TT, NULL = all */
    const char *dtype;       /* --dtype f32|f16|bf16, NULL = all */
    int quick;               /* --quick: smaller default sweeps (CI smoke run) */
    double copy_gbps;        /* the copy ceiling, measured on first use (bench_copy_ceiling) */
    int rows_emitted;
    int failures;            /* rows whose run failed */
} bench_ctx;

/* One result row; numeric fields < 0 print as empty. */
typedef struct bench_row {
    const char *suite;
    char case_name[96];
    const char *impl;        /* "halfcl", "clblast", "openblas", "clEnqueueCopyBuffer", ... */
    const char *dtype;       /* "f32", "f16", "bf16", or "" */
    long m, n, k;
    double ms, gflops, gbps, rel_err;
} bench_row;

void bench_row_init(bench_row *row, const char *suite, const char *impl, const char *dtype);
void bench_emit(bench_ctx *b, const bench_row *row);
/* A note line (table mode only; CSV/JSON stay machine-readable). */
void bench_note(bench_ctx *b, const char *fmt, ...);

/* Median milliseconds of one call of fn: `warmup` untimed calls, then `reps` timed calls, each
 * followed by hcl_finish. Returns < 0 (and counts a failure, printing the error to stderr) if
 * fn fails. */
typedef hcl_status (*bench_device_fn)(void *user);
double bench_median_ms(bench_ctx *b, bench_device_fn fn, void *user);
/* Same for host code (OpenBLAS). */
typedef void (*bench_host_fn)(void *user);
double bench_median_ms_host(bench_ctx *b, bench_host_fn fn, void *user);
/* Several queued calls per timed rep (for tiny kernels): median ms per call. */
double bench_median_ms_batched(bench_ctx *b, bench_device_fn fn, void *user, int calls_per_rep);

/* The device's copy bandwidth in GB/s (best of the float4/float16 copy kernels), measured once. */
double bench_copy_ceiling(bench_ctx *b);

/* Fills a host array with uniform values in [lo, hi) from a fixed seed. */
void bench_fill(float *x, size_t n, float lo, float hi, unsigned seed);
/* Relative error ||a - ref|| / ||ref|| in FP64. */
double bench_rel_err(const float *a, const double *ref, size_t n);

/* Suites. Each returns 0 on success. */
int bench_suite_copy(bench_ctx *b);
int bench_suite_convert(bench_ctx *b);
int bench_suite_launch(bench_ctx *b);

#endif
