/* Shared test helpers: a context on the device under test (skip when none), seeded random
 * inputs with the seed printed on failure, NaN poisoning, FP64 relative error, and the
 * central finite-difference gradient check used by every backward test. */
#ifndef HCL_TEST_HELPERS_H
#define HCL_TEST_HELPERS_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include "halfcl/halfcl.h"

/* A context on $HALFCL_DEVICE (default device) with the disk cache in the build tree. When no
 * device exists the test process exits 77 (skip), unless HALFCL_REQUIRE_DEVICE=1. */
hcl_context *test_context(void);
/* A context whose F16 kernels are the native-half (HCL_HALF_NATIVE) or the storage-only
 * (HCL_HALF_STORAGE) variants; both are the same on a device without cl_khr_fp16. */
hcl_context *test_context_half(hcl_half_mode mode);
/* n F16 bit patterns, as floats (exact): mostly random normals of every exponent, with zeros,
 * subnormals, the largest finite values, infinities and NaN mixed in. */
void test_fill_half_patterns(float *x, size_t n);
/* Asserts that two F16 tensors of n elements hold the same bits (any NaN matches any NaN). */
void test_assert_same_f16(hcl_tensor *a, hcl_tensor *b, size_t n, const char *what);
/* Runs a Check suite; exits 77 if no device and not required (call from main). */
int test_run_suite(Suite *suite);

/* ck_assert on an hcl_status, printing the context's message on failure. */
#define CK_OK(ctx, expr)                                                                          \
    do {                                                                                          \
        hcl_status st_ = (expr);                                                                  \
        ck_assert_msg(st_ == HCL_OK, "%s -> %s: %s", #expr, hcl_status_name(st_), hcl_last_error(ctx)); \
    } while (0)
/* ck_assert that expr returns the given status. */
#define CK_STATUS(ctx, expr, want)                                                                \
    do {                                                                                          \
        hcl_status st_ = (expr);                                                                  \
        ck_assert_msg(st_ == (want), "%s -> %s, want %s (%s)", #expr, hcl_status_name(st_),       \
                      hcl_status_name(want), hcl_last_error(ctx));                                \
    } while (0)

/* Seeded RNG (xorshift64*): the seed is fresh per process ($HALFCL_TEST_SEED to replay) and is
 * printed by test_seed_note() in failure messages. */
uint64_t test_seed(void);
void test_rng_reset(uint64_t seed);
double test_uniform(double lo, double hi);
double test_normal(void);
void test_fill_uniform(float *x, size_t n, double lo, double hi);
void test_fill_normal(float *x, size_t n, double scale);
/* Zeroed host arrays of n (at least 1) elements; a failed allocation fails the test. */
double *test_dalloc(size_t n);
float *test_falloc(size_t n);
const char *test_seed_note(void); /* "seed=1234 (HALFCL_TEST_SEED to replay)" */

/* Rounds a host array through a storage dtype (what the device sees after upload). */
void test_round_to_dtype(float *x, size_t n, hcl_dtype dtype);

/* Relative error ||a - ref|| / ||ref|| (FP64); NaN or inf anywhere in `a` gives +inf. */
double test_rel_err(const float *a, const double *ref, size_t n);
double test_rel_err_f(const float *a, const float *ref, size_t n);
/* Bound on relative error for outputs stored in a dtype (justified in helpers.c). */
double test_tolerance(hcl_dtype dtype);

/* Creates a tensor and uploads host data (converted to dtype). */
hcl_tensor *test_tensor_from(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape, const float *host);
/* Creates a tensor filled with NaN (all-ones bits for ints) so an unwritten element shows. */
hcl_tensor *test_tensor_poisoned(hcl_context *ctx, hcl_dtype dtype, int rank, const int64_t *shape);
/* Downloads into a new malloc'd float array. */
float *test_download(hcl_tensor *t);

/* Central finite differences of a scalar function f(x) (FP64) at x: grad[i] = (f(x+h e_i) -
 * f(x-h e_i)) / 2h. `f` gets the perturbed x and `user`. */
typedef double (*test_scalar_fn)(const double *x, void *user);
void test_numeric_grad(test_scalar_fn f, void *user, double *x, size_t n, double h, double *grad);

/* Temp folders and environment for tests that touch files (cache, runtime, io). */
/* Removes a file or a folder tree. */
void test_rm_rf(const char *path);
/* The pid of a child process that has exited and been reaped: a writer that no longer runs. */
long test_dead_pid(void);
/* mkdtemp("/tmp/halfcl-test-<tag>-XXXXXX"); the caller frees the returned path. */
/* Number of entries in a folder other than . and .. (asserts that it opens). */
int test_dir_entries(const char *dir);
/* A whole file in a new buffer with a NUL after its *n bytes (asserts that it reads). */
unsigned char *test_read_bytes(const char *path, size_t *n);
/* Writes n bytes to path (created or truncated); fails the test on any error. */
void test_write_file(const char *path, const void *data, size_t n);
/* "dir/name", malloc'ed. */
char *test_path_in(const char *dir, const char *name);
char *test_make_tmpdir(const char *tag);
/* Sets (or unsets, value NULL) an environment variable for the duration of a test and puts the
 * old value back: under CK_FORK=no every test runs in the same process. */
typedef struct test_env_saved { const char *name; char *old; } test_env_saved;
void test_env_push(test_env_saved *s, const char *name, const char *value);
void test_env_pop(test_env_saved *s);

/* The float dtypes every op is tested in. */
extern const hcl_dtype test_float_dtypes[3];

#endif
