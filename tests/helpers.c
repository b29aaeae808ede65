/* Shared test helpers (see helpers.h). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "helpers.h"

const hcl_dtype test_float_dtypes[3] = {HCL_F32, HCL_F16, HCL_BF16};

static uint64_t g_seed, g_state;
static int g_seeded;
static char g_note[96];

uint64_t test_seed(void) {
    if (!g_seeded) {
        const char *s = getenv("HALFCL_TEST_SEED");
        g_seed = s ? strtoull(s, NULL, 10) : ((uint64_t)time(NULL) * 2654435761u) ^ ((uint64_t)getpid() << 16);
        if (!g_seed) g_seed = 1;
        g_state = g_seed;
        g_seeded = 1;
        snprintf(g_note, sizeof g_note, "seed=%llu (HALFCL_TEST_SEED to replay)", (unsigned long long)g_seed);
    }
    return g_seed;
}

const char *test_seed_note(void) { test_seed(); return g_note; }

void test_rng_reset(uint64_t seed) {
    test_seed();
    g_state = seed ? seed : 1;
}

static uint64_t next_u64(void) {
    test_seed();
    g_state ^= g_state >> 12;
    g_state ^= g_state << 25;
    g_state ^= g_state >> 27;
    return g_state * 0x2545F4914F6CDD1DULL;
}

double test_uniform(double lo, double hi) { return lo + (hi - lo) * ((double)(next_u64() >> 11) / 9007199254740992.0); }

double test_normal(void) {
    double u1 = test_uniform(1e-12, 1.0), u2 = test_uniform(0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void test_fill_uniform(float *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = (float)test_uniform(lo, hi);
}

void test_fill_normal(float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * test_normal());
}

void test_round_to_dtype(float *x, size_t n, hcl_dtype dtype) {
    for (size_t i = 0; i < n; i++) {
        if (dtype == HCL_F16) x[i] = hcl_f16_to_f32(hcl_f32_to_f16(x[i]));
        else if (dtype == HCL_BF16) x[i] = hcl_bf16_to_f32(hcl_f32_to_bf16(x[i]));
    }
}

double test_rel_err(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    if (den == 0) return sqrt(num);
    return sqrt(num / den);
}

double test_rel_err_f(const float *a, const float *ref, size_t n) {
    double *r = malloc(n * sizeof *r);
    if (!r) return INFINITY;
    for (size_t i = 0; i < n; i++) r[i] = ref[i];
    double e = test_rel_err(a, r, n);
    free(r);
    return e;
}

/* Output stored in a dtype carries at most half an ulp of rounding per element on top of the
 * FP32-accumulated result: 2^-24 (F32), 2^-11 (F16), 2^-8 (BF16) relative. Inputs rounded to the
 * dtype are fed to the FP64 reference too, so the bound is a few ulps of the output dtype:
 * F32 1e-5 (accumulation-order noise over long sums), F16 2e-3 (~4 ulp), BF16 1.6e-2 (~4 ulp). */
double test_tolerance(hcl_dtype dtype) {
    switch (dtype) {
    case HCL_F16: return 2e-3;
    case HCL_BF16: return 1.6e-2;
    default: return 1e-5;
    }
}

hcl_tensor *test_tensor_from(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape, const float *host) {
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, dtype, rank, shape, &t));
    if (dtype == HCL_I32 || dtype == HCL_U8 || dtype == HCL_I8) {
        size_t es = hcl_dtype_size(dtype);
        unsigned char *raw = malloc(t->count * es);
        ck_assert_ptr_nonnull(raw);
        for (size_t i = 0; i < t->count; i++) {
            if (dtype == HCL_I32) { int32_t v = (int32_t)host[i]; memcpy(raw + 4 * i, &v, 4); }
            else if (dtype == HCL_I8) raw[i] = (unsigned char)(signed char)host[i];
            else raw[i] = (unsigned char)host[i];
        }
        CK_OK(ctx, hcl_tensor_upload_raw(t, raw, t->count * es));
        free(raw);
    } else {
        CK_OK(ctx, hcl_tensor_upload_f32(t, host, t->count));
    }
    return t;
}

hcl_tensor *test_tensor_poisoned(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape) {
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, dtype, rank, shape, &t));
    uint32_t nan_bits = dtype == HCL_F32 ? 0x7fc00000u : dtype == HCL_F16 ? 0x7e00u : dtype == HCL_BF16 ? 0x7fc0u : 0xffffffffu;
    CK_OK(ctx, hcl_tensor_fill_bits(t, nan_bits));
    return t;
}

float *test_download(hcl_tensor *t) {
    float *h = malloc(t->count * sizeof *h);
    ck_assert_ptr_nonnull(h);
    if (t->dtype == HCL_I32 || t->dtype == HCL_U8 || t->dtype == HCL_I8) {
        size_t es = hcl_dtype_size(t->dtype);
        unsigned char *raw = malloc(t->count * es);
        ck_assert_ptr_nonnull(raw);
        CK_OK(t->ctx, hcl_tensor_download_raw(t, raw, t->count * es));
        for (size_t i = 0; i < t->count; i++) {
            if (t->dtype == HCL_I32) { int32_t v; memcpy(&v, raw + 4 * i, 4); h[i] = (float)v; }
            else if (t->dtype == HCL_I8) h[i] = (float)(signed char)raw[i];
            else h[i] = raw[i];
        }
        free(raw);
    } else {
        CK_OK(t->ctx, hcl_tensor_download_f32(t, h, t->count));
    }
    return h;
}

void test_numeric_grad(test_scalar_fn f, void *user, double *x, size_t n, double h, double *grad) {
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double fp = f(x, user);
        x[i] = keep - h;
        double fm = f(x, user);
        x[i] = keep;
        grad[i] = (fp - fm) / (2 * h);
    }
}

static int device_required(void) {
    const char *r = getenv("HALFCL_REQUIRE_DEVICE");
    return r && !strcmp(r, "1");
}

hcl_context *test_context(void) { return test_context_half(HCL_HALF_AUTO); }

double *test_dalloc(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

float *test_falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

long test_dead_pid(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    return (long)pid;
}

void test_fill_half_patterns(float *x, size_t n) {
    static const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0xfbff,
                                       0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xbc00, 0x3555, 0x0200};
    for (size_t i = 0; i < n; i++) {
        uint16_t bits = (uint16_t)(test_uniform(0.0, 65536.0));
        if (test_uniform(0.0, 1.0) < 0.25) bits = special[(size_t)test_uniform(0.0, 14.0) % 14];
        x[i] = hcl_f16_to_f32(bits);
    }
}

void test_assert_same_f16(hcl_tensor *a, hcl_tensor *b, size_t n, const char *what) {
    uint16_t *ha = malloc(n * 2), *hb = malloc(n * 2);
    ck_assert(ha && hb);
    ck_assert_int_eq(hcl_tensor_download_raw(a, ha, n * 2), HCL_OK);
    ck_assert_int_eq(hcl_tensor_download_raw(b, hb, n * 2), HCL_OK);
    for (size_t i = 0; i < n; i++) {
        int nan_a = (ha[i] & 0x7fff) > 0x7c00, nan_b = (hb[i] & 0x7fff) > 0x7c00;
        ck_assert_msg(ha[i] == hb[i] || (nan_a && nan_b), "%s: element %zu: 0x%04x vs 0x%04x (%s)", what, i, ha[i],
                      hb[i], test_seed_note());
    }
    free(ha);
    free(hb);
}

hcl_context *test_context_half(hcl_half_mode mode) {
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.half_mode = mode;
    if (!getenv("HALFCL_CACHE_DIR")) o.cache_dir = "off";
    hcl_context *ctx = NULL;
    char err[2048];
    hcl_status st = hcl_context_create(&ctx, &o, err, sizeof err);
    if (st == HCL_ERR_NO_DEVICE && !device_required()) exit(77);
    ck_assert_msg(st == HCL_OK, "no context: %s: %s", hcl_status_name(st), err);
    return ctx;
}

/* Probes for a device in a child process: OpenCL must not be initialised in the parent, since
 * Check forks every test and a driver's threads (PoCL's) do not survive fork(). */
static int device_present(void) {
    pid_t pid = fork();
    if (pid == 0) {
        hcl_device_info *devs = NULL;
        size_t n = 0;
        if (hcl_devices_list(&devs, &n) != HCL_OK) n = 0;
        hcl_devices_free(devs);
        _exit(n > 0 ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int test_run_suite(Suite *suite) {
    if (!device_present()) {
        if (device_required()) {
            fprintf(stderr, "HALFCL_REQUIRE_DEVICE=1 but no OpenCL device was found\n");
            return 1;
        }
        fprintf(stderr, "no OpenCL device: skipping\n");
        return 77;
    }
    fprintf(stderr, "%s\n", test_seed_note());
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

void test_rm_rf(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                test_rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

int test_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open the folder %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

unsigned char *test_read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

void test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

char *test_path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *test_make_tmpdir(const char *tag) {
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/halfcl-test-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return strdup(d);
}

void test_env_push(test_env_saved *s, const char *name, const char *value) {
    s->name = name;
    const char *old = getenv(name);
    s->old = old ? strdup(old) : NULL;
    if (value) setenv(name, value, 1); else unsetenv(name);
}

void test_env_pop(test_env_saved *s) {
    if (s->old) setenv(s->name, s->old, 1); else unsetenv(s->name);
    free(s->old);
    s->old = NULL;
}
