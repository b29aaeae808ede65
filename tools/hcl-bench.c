/* hcl-bench: kernel microbenchmarks. `hcl-bench [suite...] [--csv|--json] [--reps N] [--warmup N]
 * [--m M --n N --k K] [--trans NN|NT|TN|TT] [--dtype f32|f16|bf16] [--half native|storage] [--quick]`.
 * --half storage builds the F16 kernels without native half arithmetic on a cl_khr_fp16 device (the
 * variants every other device runs), to compare them with the native ones on the same device. Each suite prints
 * rows (table by default; CSV header suite,case,impl,dtype,m,n,k,ms,gflops,gbps,rel_err). */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

/* Suites of op families, present when their bench_<family>.c is built (meson defines). */
#define BENCH_SUITES(X) X(gemm) X(conv) X(pool) X(norm) X(activation) X(elementwise) X(softmax) X(loss) X(random) X(optim) X(rnn) \
    X(attention) X(quant)
#define DECLARE_SUITE(name) int bench_suite_##name(bench_ctx *b) __attribute__((weak));
BENCH_SUITES(DECLARE_SUITE)

typedef struct suite_entry { const char *name; int (*fn)(bench_ctx *); } suite_entry;

static const suite_entry base_suites[] = {
    {"copy", bench_suite_copy}, {"convert", bench_suite_convert}, {"launch", bench_suite_launch},
};

static size_t list_suites(suite_entry *out) {
    size_t n = 0;
    for (size_t i = 0; i < sizeof base_suites / sizeof base_suites[0]; i++) out[n++] = base_suites[i];
#define ADD_SUITE(name) if (bench_suite_##name) out[n++] = (suite_entry){#name, bench_suite_##name};
    BENCH_SUITES(ADD_SUITE)
#undef ADD_SUITE
    return n;
}

static void usage(const suite_entry *s, size_t n) {
    printf("usage: hcl-bench [suite...] [--csv|--json] [--reps N] [--warmup N] [--m M] [--n N] [--k K]\n"
           "                 [--trans NN|NT|TN|TT] [--dtype f32|f16|bf16] [--half native|storage] [--quick]\n"
           "--half storage: on a cl_khr_fp16 device, the storage-only F16 kernels (F32 math), to compare\n"
           "                with the native-half ones (the default there; also HALFCL_NATIVE_HALF=0|1)\n"
           "suites (default: all):");
    for (size_t i = 0; i < n; i++) printf(" %s", s[i].name);
    printf("\nThe device comes from HALFCL_DEVICE (see hcl-info).\n");
}

int main(int argc, char **argv) {
    suite_entry suites[32];
    size_t nsuites = list_suites(suites);
    bench_ctx b = {.warmup = 2, .reps = 7};
    hcl_half_mode half_mode = HCL_HALF_AUTO;
    const char *chosen[32];
    int nchosen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--csv")) b.format = BENCH_CSV;
        else if (!strcmp(a, "--json")) b.format = BENCH_JSON;
        else if (!strcmp(a, "--quick")) b.quick = 1;
        else if (!strcmp(a, "--reps") && has_val) b.reps = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && has_val) b.warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--m") && has_val) b.m = atol(argv[++i]);
        else if (!strcmp(a, "--n") && has_val) b.n = atol(argv[++i]);
        else if (!strcmp(a, "--k") && has_val) b.k = atol(argv[++i]);
        else if (!strcmp(a, "--trans") && has_val) b.trans = argv[++i];
        else if (!strcmp(a, "--dtype") && has_val) b.dtype = argv[++i];
        else if (!strcmp(a, "--half") && has_val) {
            const char *v = argv[++i];
            if (!strcmp(v, "native")) half_mode = HCL_HALF_NATIVE;
            else if (!strcmp(v, "storage")) half_mode = HCL_HALF_STORAGE;
            else { fprintf(stderr, "hcl-bench: --half takes native or storage, not '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(suites, nsuites); return 0; }
        else if (a[0] == '-') { fprintf(stderr, "hcl-bench: unknown or incomplete option '%s'\n", a); return 2; }
        else if (nchosen < 32) chosen[nchosen++] = a;
    }
    if (b.reps < 1) b.reps = 1;
    if (b.warmup < 0) b.warmup = 0;
    for (int c = 0; c < nchosen; c++) {
        int found = 0;
        for (size_t s = 0; s < nsuites; s++) found |= !strcmp(chosen[c], suites[s].name);
        if (!found) {
            fprintf(stderr, "hcl-bench: unknown suite '%s'\n", chosen[c]);
            usage(suites, nsuites);
            return 2;
        }
    }
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.log = hcl_log_stderr;
    o.half_mode = half_mode;
    char err[2048];
    hcl_status st = hcl_context_create(&b.ctx, &o, err, sizeof err);
    if (st != HCL_OK) {
        fprintf(stderr, "hcl-bench: no context: %s\n", err);
        return 1;
    }
    const hcl_device_info *d = hcl_context_device(b.ctx);
    if (b.format == BENCH_TABLE)
        printf("# device %u:%u %s / %s (%s), median of %d reps after %d warm-up\n", d->platform_index, d->device_index,
               d->platform_name, d->name,
               hcl_context_native_half(b.ctx) ? "f16 kernels: native half"
               : d->has_fp16 ? "f16 kernels: storage-only, native half off" : "f16 storage-only",
               b.reps, b.warmup);
    int rc = 0;
    for (size_t s = 0; s < nsuites; s++) {
        int run = nchosen == 0;
        for (int c = 0; c < nchosen; c++) run |= !strcmp(chosen[c], suites[s].name);
        if (run && suites[s].fn(&b) != 0) rc = 1;
    }
    if (b.format == BENCH_JSON) printf(b.rows_emitted ? "]\n" : "[]\n");
    if (b.failures) rc = 1;
    hcl_context_free(b.ctx);
    return rc;
}
