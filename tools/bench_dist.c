/* hcl-bench-dist: the cost of one gradient-bucket sum over MPI processes (src/dist's transport),
 * run under mpirun (`mpirun -n 2 hcl-bench-dist [--csv|--json] [--reps N] [--warmup N] [--quick]
 * [--params N] [--bucket-bytes B]`). A separate program from hcl-bench: it needs mpirun and no
 * OpenCL device. Rows use hcl-bench's table / CSV / JSON format (tools/bench_common.c):
 *   sum <size>        one bucket of <size> F32 bytes, blocking (sum_start + sum_wait, the F16
 *                     conversions included); impl hcl-mpi-P, dtype the wire (f32/f16); m the bucket
 *                     in F32 bytes, n its floats, k the bytes this process puts on the wire; ms the
 *                     median over reps of the slowest rank; GB/s = F32 bucket bytes / time.
 *                     impl MPI_Allreduce: the plain blocking in-place F32 MPI_Allreduce (reference).
 *   grad <n> in <B> buckets  the whole gradient (--params, default the fashion_mnist example's
 *                     693,962) cut into buckets of B F32 bytes (256 KiB, 1 MiB, --bucket-bytes),
 *                     all started, then waited for: measured.
 *   fit               t = alpha + wire_bytes / beta by least squares on relative error over the sum
 *                     rows of that wire: ms = alpha, GB/s = beta.
 *   ring p=<p>        modelled ring all-reduce of the gradient over p processes (see model_note).
 * Only rank 0 prints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mpi.h>
#include "bench.h"
#include "dist/transport.h"

#define FASHION_MNIST_PARAMS 693962 /* conv 3x3x1x32+32, dense 5408x128+128, dense 128x10+10 */

typedef struct dist_bench {
    bench_ctx b;       /* format, reps, warmup, quick; b.ctx stays NULL: no device here */
    hcl_transport *t;
    float *data, *orig;
    size_t max_count;
    char err[1024];
} dist_bench;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One rep: the same inputs every time (in-place sums would grow them to inf), a barrier so every
 * rank starts together, the sum, then the slowest rank's time. wire < 0: plain MPI_Allreduce.
 * bucket > 0: the array as buckets of that many floats, all started, then waited for in order
 * (what dist.c does when the backward has finished: the exposed cost without overlap). */
#define MAX_BUCKETS 4096
static int time_once(dist_bench *d, size_t count, int wire, size_t bucket, double *seconds) {
    memcpy(d->data, d->orig, count * sizeof(float));
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    if (wire < 0) {
        if (MPI_Allreduce(MPI_IN_PLACE, d->data, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
    } else {
        hcl_transport_request *req[MAX_BUCKETS];
        size_t step = bucket ? bucket : count, nb = 0;
        for (size_t off = 0; off < count && nb < MAX_BUCKETS; off += step, nb++) {
            size_t n = count - off < step ? count - off : step;
            if (d->t->sum_start(d->t, d->data + off, n, (hcl_dtype)wire, &req[nb], d->err, sizeof d->err) != HCL_OK) return -1;
        }
        for (size_t i = 0; i < nb; i++)
            if (req[i] && d->t->sum_wait(d->t, req[i], d->err, sizeof d->err) != HCL_OK) return -1;
    }
    double t = now_s() - t0;
    MPI_Allreduce(&t, seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return 0;
}

/* Median seconds of the slowest rank; < 0 on failure (every rank fails alike: same calls). */
static double time_sum(dist_bench *d, size_t count, int wire, size_t bucket) {
    if (bucket && (count + bucket - 1) / bucket > MAX_BUCKETS) bucket = (count + MAX_BUCKETS - 1) / MAX_BUCKETS;
    double *t = malloc(sizeof(double) * (size_t)d->b.reps), s;
    if (!t) return -1;
    for (int i = 0; i < d->b.warmup; i++)
        if (time_once(d, count, wire, bucket, &s)) goto fail;
    for (int i = 0; i < d->b.reps; i++)
        if (time_once(d, count, wire, bucket, &t[i])) goto fail;
    qsort(t, (size_t)d->b.reps, sizeof *t, cmp_double);
    int n = d->b.reps;
    s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return s;
fail:
    fprintf(stderr, "hcl-bench-dist: rank %d: %s\n", d->t->rank, d->err[0] ? d->err : "MPI_Allreduce failed");
    d->b.failures++;
    free(t);
    return -1;
}

static void size_label(char *buf, size_t len, size_t bytes) {
    if (bytes >= (1u << 20)) snprintf(buf, len, "%zuMiB", bytes >> 20);
    else snprintf(buf, len, "%zuKiB", bytes >> 10);
}

static void emit(dist_bench *d, const char *case_name, const char *impl, const char *dtype, long m, long n, long k, double ms,
                 double gbps) {
    if (d->t->rank != 0) return;
    bench_row r;
    bench_row_init(&r, "dist", impl, dtype);
    snprintf(r.case_name, sizeof r.case_name, "%s", case_name);
    r.m = m;
    r.n = n;
    r.k = k;
    r.ms = ms;
    r.gbps = gbps;
    bench_emit(&d->b, &r);
}

/* Weighted least squares of t = alpha + x / beta with weights 1/t^2 (relative error: the 4 KiB
 * points, where alpha shows, count as much as the 16 MiB ones). */
static void fit_alpha_beta(const double *x, const double *t, int n, double *alpha, double *beta) {
    double sw = 0, sx = 0, st = 0, sxx = 0, sxt = 0;
    for (int i = 0; i < n; i++) {
        double w = 1.0 / (t[i] * t[i]);
        sw += w, sx += w * x[i], st += w * t[i], sxx += w * x[i] * x[i], sxt += w * x[i] * t[i];
    }
    double det = sw * sxx - sx * sx, slope = det > 0 ? (sw * sxt - sx * st) / det : 0;
    *alpha = (st - slope * sx) / sw;
    if (*alpha < 0) *alpha = 0;
    *beta = slope > 0 ? 1.0 / slope : INFINITY;
}

int main(int argc, char **argv) {
    dist_bench d = {.b = {.warmup = 3, .reps = 15}};
    long params = FASHION_MNIST_PARAMS;
    size_t bucket_bytes = (size_t)4 << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--csv")) d.b.format = BENCH_CSV;
        else if (!strcmp(a, "--json")) d.b.format = BENCH_JSON;
        else if (!strcmp(a, "--quick")) d.b.quick = 1;
        else if (!strcmp(a, "--reps") && has_val) d.b.reps = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && has_val) d.b.warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--params") && has_val) params = atol(argv[++i]);
        else if (!strcmp(a, "--bucket-bytes") && has_val) bucket_bytes = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: mpirun -n P hcl-bench-dist [--csv|--json] [--reps N] [--warmup N] [--quick]\n"
                            "                  [--params N (gradient size for the ring estimate; %d)] [--bucket-bytes B (4 MiB)]\n",
                    FASHION_MNIST_PARAMS);
            return !strcmp(a, "--help") || !strcmp(a, "-h") ? 0 : 2;
        }
    }
    if (d.b.reps < 1) d.b.reps = 1;
    if (d.b.warmup < 0) d.b.warmup = 0;
    if (params < 1) params = 1;
    if (bucket_bytes < 4) bucket_bytes = 4;
    if (hcl_transport_mpi_create(&d.t, &argc, &argv, d.err, sizeof d.err) != HCL_OK) {
        fprintf(stderr, "hcl-bench-dist: %s\n", d.err);
        return 1;
    }
    const size_t min_bytes = 4 << 10, max_bytes = (size_t)(d.b.quick ? 1 << 20 : 16 << 20);
    d.max_count = max_bytes / 4 > (size_t)params ? max_bytes / 4 : (size_t)params;
    d.data = malloc(d.max_count * sizeof(float));
    d.orig = malloc(d.max_count * sizeof(float));
    int rc = 0;
    if (!d.data || !d.orig) {
        fprintf(stderr, "hcl-bench-dist: out of memory\n");
        rc = 1;
        goto out;
    }
    bench_fill(d.orig, d.max_count, -1.0f, 1.0f, 1234u + (unsigned)d.t->rank);
    if (d.t->rank == 0 && d.b.format == BENCH_TABLE) {
        char name[MPI_MAX_PROCESSOR_NAME];
        int len = 0;
        MPI_Get_processor_name(name, &len);
        printf("# hcl-bench-dist: %d processes (host %s), median of %d reps after %d warm-up, each rep the slowest rank\n",
               d.t->size, name, d.b.reps, d.b.warmup);
    }
    char impl[32];
    snprintf(impl, sizeof impl, "hcl-mpi-%d", d.t->size);
    enum { MAXPTS = 16 };
    double xs[2][MAXPTS], ts[2][MAXPTS], alpha[2], beta[2];
    int npts[2] = {0, 0};
    const hcl_dtype wires[2] = {HCL_F32, HCL_F16};
    for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
        size_t count = bytes / 4;
        char label[64], sz[32];
        size_label(sz, sizeof sz, bytes);
        snprintf(label, sizeof label, "sum %s", sz);
        for (int w = 0; w < 2; w++) {
            size_t wire_bytes = count * (wires[w] == HCL_F16 ? 2 : 4);
            double s = time_sum(&d, count, wires[w], 0);
            if (s < 0) { rc = 1; continue; }
            emit(&d, label, impl, wires[w] == HCL_F16 ? "f16" : "f32", (long)bytes, (long)count, (long)wire_bytes, s * 1e3,
                 bytes / s * 1e-9);
            if (npts[w] < MAXPTS) xs[w][npts[w]] = (double)wire_bytes, ts[w][npts[w]++] = s;
        }
        double s = time_sum(&d, count, -1, 0);
        if (s >= 0) emit(&d, label, "MPI_Allreduce", "f32", (long)bytes, (long)count, (long)bytes, s * 1e3, bytes / s * 1e-9);
    }
    char label[96];
    /* the gradient in buckets of 256 KiB, 1 MiB and --bucket-bytes (F32 bytes), all in flight */
    size_t buckets[3] = {256 << 10, 1 << 20, bucket_bytes};
    for (int bi = 0; bi < 3; bi++) {
        if (bi == 2 && (bucket_bytes == buckets[0] || bucket_bytes == buckets[1])) break;
        char sz[32];
        size_label(sz, sizeof sz, buckets[bi]);
        if (buckets[bi] % 1024) snprintf(sz, sizeof sz, "%zuB", buckets[bi]);
        snprintf(label, sizeof label, "grad %ld in %s buckets", params, sz);
        for (int w = 0; w < 2; w++) {
            double s = time_sum(&d, (size_t)params, wires[w], buckets[bi] / 4);
            size_t wire_bytes = (size_t)params * (wires[w] == HCL_F16 ? 2 : 4);
            if (s >= 0)
                emit(&d, label, impl, wires[w] == HCL_F16 ? "f16" : "f32", params * 4, params, (long)wire_bytes, s * 1e3,
                     params * 4.0 / s * 1e-9);
        }
    }
    for (int w = 0; w < 2; w++) {
        fit_alpha_beta(xs[w], ts[w], npts[w], &alpha[w], &beta[w]);
        emit(&d, "fit alpha+bytes/beta", impl, w ? "f16" : "f32", -1, -1, -1, alpha[w] * 1e3, beta[w] * 1e-9);
    }
    if (d.t->rank == 0 && d.b.format == BENCH_TABLE) {
        printf("# fit t = alpha + wire_bytes/beta over the %d-process sums: f32 alpha %.1f us beta %.2f GB/s; f16 alpha %.1f us"
               " beta %.2f GB/s (f16: per wire byte, conversions included)\n",
               d.t->size, alpha[0] * 1e6, beta[0] * 1e-9, alpha[1] * 1e6, beta[1] * 1e-9);
        printf("# ring model: a gradient of G wire bytes in buckets of B (F32) bytes; each bucket b_i costs\n"
               "#   t_i(p) = 2(p-1) a + 2(p-1)/p * b_i / beta   (reduce-scatter + allgather, p-1 steps each, one chunk of\n"
               "#   b_i/p per step), with a = alpha/%d and beta from the fit, so the model reproduces the measured %d-process\n"
               "#   sum. Bytes each process sends: 2(p-1)/p * G. Same host, shared memory, %d processes on this machine's\n"
               "#   cores: a network's alpha and beta differ; put them into the formula for a real cluster.\n",
               2 * (d.t->size - 1), d.t->size, d.t->size);
    }
    const int ps[2] = {8, 64};
    for (int w = 0; w < 2; w++) {
        double elem = wires[w] == HCL_F16 ? 2 : 4, g = params * elem, a = alpha[w] / (2.0 * (d.t->size - 1));
        size_t bucket_elems = bucket_bytes / 4, nb = ((size_t)params + bucket_elems - 1) / bucket_elems;
        for (int i = 0; i < 2; i++) {
            int p = ps[i];
            double t = nb * 2.0 * (p - 1) * a + 2.0 * (p - 1) / p * g / beta[w], sent = 2.0 * (p - 1) / p * g;
            snprintf(label, sizeof label, "ring p=%d %ld params %zu bucket%s", p, params, nb, nb == 1 ? "" : "s");
            emit(&d, label, "model", w ? "f16" : "f32", -1, params, (long)sent, t * 1e3, params * 4.0 / t * 1e-9);
            if (d.t->rank == 0 && d.b.format == BENCH_TABLE)
                printf("# ring p=%-2d %s wire: %.3f ms per step, %.2f MB sent per process (%zu bucket%s)\n", p,
                       w ? "f16" : "f32", t * 1e3, sent * 1e-6, nb, nb == 1 ? "" : "s");
        }
    }
    if (d.t->rank == 0 && d.b.format == BENCH_JSON) printf(d.b.rows_emitted ? "]\n" : "[]\n");
    if (d.b.failures) rc = 1;
out:
    free(d.data);
    free(d.orig);
    d.t->free(d.t);
    return rc;
}
