/* Bad-input matrix (issue 13): every public function of include/halfcl/ called with NULL
 * pointers, zero/negative/huge sizes, bad enums and descriptors, wrong dtypes and ranks, tensors of
 * another context and aliasing where the header forbids it. Each such call must return an error
 * status with a message naming it (on the context, when there is one), crash nothing, leak nothing
 * (run under the ASan build) and queue nothing: both contexts are profiled, so any kernel launch
 * shows in their counters, and the tensors a call could write are poisoned and must keep their
 * bits. Calls returning void, pointers or sizes must give their documented defaults. One test per
 * header; main() adds up the calls ("bad-input matrix: N calls" on stderr) and checks, against the
 * headers themselves ($HALFCL_SOURCE_ROOT, set by meson test), that every public function was called
 * at least once: a new public function fails this suite until it has its cases here.
 *
 * Ops are table-driven: per op one row of tensor slots (dtype, shape, flags) with valid values;
 * the driver derives the mutations (each slot NULL, of the other context, of a wrong dtype, of a
 * wrong rank or size; output/input overlaps) and a per-op function adds the bad scalar arguments. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "helpers.h"

/* ================================================================ matrix infrastructure ===== */

static hcl_context *A, *B;  /* two profiled contexts on the device under test */
static int matrix_fd = -1;  /* pipe to main(): "calls N" and "fn NAME" lines of each test */
static unsigned long n_calls;
static char seen[400][64];  /* public functions called in this test */
static size_t n_seen;

static hcl_context *profiled_context(void) {
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.profiling = 1;
    if (!getenv("HALFCL_CACHE_DIR")) o.cache_dir = "off";
    hcl_context *ctx = NULL;
    char err[2048];
    hcl_status st = hcl_context_create(&ctx, &o, err, sizeof err);
    ck_assert_msg(st == HCL_OK, "no context: %s: %s", hcl_status_name(st), err);
    return ctx;
}

/* Records the public function an expression calls: the identifier before its first '('. */
static void note_fn(const char *expr) {
    while (*expr == ' ' || *expr == '(') expr++;
    char name[64];
    size_t n = 0;
    while (expr[n] && expr[n] != '(' && expr[n] != ' ' && n + 1 < sizeof name) { name[n] = expr[n]; n++; }
    name[n] = '\0';
    ck_assert_msg(!strncmp(name, "hcl_", 4), "matrix call '%s' does not start with a public function", expr);
    n_calls++;
    for (size_t i = 0; i < n_seen; i++) if (!strcmp(seen[i], name)) return;
    ck_assert(n_seen < sizeof seen / sizeof *seen);
    memcpy(seen[n_seen++], name, n + 1);
}

/* Kernel launches so far on a profiled context (waits for the queue). */
static unsigned long launches(hcl_context *ctx) {
    hcl_kernel_profile *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(hcl_profile_get(ctx, &e, &n), HCL_OK);
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i++) sum += e[i].launches;
    hcl_profile_entries_free(e);
    return sum;
}

/* Watched tensors: their bits when watched, compared after each call. */
enum { MAX_WATCH = 64 };
static const hcl_tensor *watch_t[MAX_WATCH];
static unsigned char *watch_bits[MAX_WATCH];
static size_t n_watch;

static unsigned char *download_bytes(const hcl_tensor *t) {
    size_t n = hcl_tensor_bytes(t);
    unsigned char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(hcl_tensor_download_raw(t, p, n), HCL_OK);
    return p;
}

/* Fills t with a pattern (a blocking write, no kernel) and watches it. */
static void watch(const hcl_tensor *t) {
    if (!t) return;
    for (size_t i = 0; i < n_watch; i++) if (watch_t[i] == t) return;
    ck_assert(n_watch < MAX_WATCH);
    size_t n = hcl_tensor_bytes(t);
    unsigned char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(0x5b + 37 * (i + n_watch));
    ck_assert_int_eq(hcl_tensor_upload_raw((hcl_tensor *)t, p, n), HCL_OK);
    watch_t[n_watch] = t;
    watch_bits[n_watch++] = p;
}

static void unwatch_all(void) {
    for (size_t i = 0; i < n_watch; i++) free(watch_bits[i]);
    n_watch = 0;
}

static unsigned long launches_a, launches_b;

static void before_call(void) {
    hcl_clear_error(A);
    hcl_clear_error(B);
    launches_a = launches(A);
    launches_b = launches(B);
}

/* Nothing was queued and no watched tensor changed. */
static void nothing_queued(const char *what, int line) {
    unsigned long la = launches(A), lb = launches(B);
    ck_assert_msg(la == launches_a && lb == launches_b, "line %d: %s queued %lu kernel launches", line, what,
                  (la - launches_a) + (lb - launches_b));
    for (size_t i = 0; i < n_watch; i++) {
        unsigned char *now = download_bytes(watch_t[i]);
        ck_assert_msg(!memcmp(now, watch_bits[i], hcl_tensor_bytes(watch_t[i])),
                      "line %d: %s changed a poisoned tensor (watch %zu)", line, what, i);
        free(now);
    }
}

/* A failed call: an error status (want, or any when want < 0) with a message naming it on ctx
 * (when not NULL), nothing queued. `fn` is the public function, `what` the call for messages. */
static void after_err(hcl_context *ctx, const char *fn, const char *what, hcl_status st, int want, int line) {
    note_fn(fn);
    ck_assert_msg(st != HCL_OK, "line %d: %s returned HCL_OK", line, what);
    ck_assert_msg((unsigned)st < HCL_STATUS_COUNT_, "line %d: %s returned status %d outside the table", line, what, (int)st);
    if (want >= 0)
        ck_assert_msg(st == (hcl_status)want, "line %d: %s -> %s, want %s (%s)", line, what, hcl_status_name(st),
                      hcl_status_name((hcl_status)want), ctx ? hcl_last_error(ctx) : "");
    if (ctx) {
        const char *m = hcl_last_error(ctx);
        ck_assert_msg(m && *m, "line %d: %s -> %s with an empty message", line, what, hcl_status_name(st));
        ck_assert_msg(strstr(m, hcl_status_name(st)) != NULL, "line %d: %s -> %s but the message is '%s'", line, what,
                      hcl_status_name(st), m);
    }
    nothing_queued(what, line);
}

/* An error with a message on ctx (NULL: status only). EXPECT_STATUS also wants one status. */
#define EXPECT_ERR(ctx, call)                                               \
    do {                                                                    \
        before_call();                                                      \
        hcl_status st_ = (call);                                            \
        after_err((ctx), #call, #call, st_, -1, __LINE__);                  \
    } while (0)
#define EXPECT_STATUS(ctx, call, want)                                      \
    do {                                                                    \
        before_call();                                                      \
        hcl_status st_ = (call);                                            \
        after_err((ctx), #call, #call, st_, (int)(want), __LINE__);         \
    } while (0)
/* A call returning `type` whose value v_ must satisfy cond; nothing queued. */
#define EXPECT_VAL_(type, call, cond, text)                                            \
    do {                                                                               \
        before_call();                                                                 \
        type v_ = (call);                                                              \
        (void)v_;                                                                      \
        note_fn(text);                                                                 \
        ck_assert_msg((cond), "line %d: %s: not %s", __LINE__, text, #cond);           \
        nothing_queued(text, __LINE__);                                                \
    } while (0)
#define EXPECT_VAL(type, call, cond) EXPECT_VAL_(type, call, cond, #call)
#define EXPECT_NULL(call) EXPECT_VAL_(const void *, (const void *)(call), v_ == NULL, #call)
#define EXPECT_VOID(call)                   \
    do {                                    \
        before_call();                      \
        call;                               \
        note_fn(#call);                     \
        nothing_queued(#call, __LINE__);    \
    } while (0)
/* A valid call the cases build on (not counted). */
#define CK(call) CK_OK(A, call)

static void matrix_begin(void) {
    n_calls = 0;
    n_seen = 0;
    A = profiled_context();
    B = profiled_context();
    /* the checks must see what they look for: a launch, and a changed watched tensor */
    hcl_tensor *t = NULL;
    const int64_t n = 5;
    CK_OK(A, hcl_tensor_create(A, HCL_F32, 1, &n, &t));
    watch(t);
    before_call();
    CK_OK(A, hcl_tensor_fill(t, 1.0));
    ck_assert_uint_gt(launches(A), launches_a);
    unsigned char *now = download_bytes(t);
    ck_assert(memcmp(now, watch_bits[0], hcl_tensor_bytes(t)) != 0);
    free(now);
    unwatch_all();
    hcl_tensor_free(t);
}

/* Reports this test's calls and functions to main() and frees the contexts. */
static void matrix_end(const char *header) {
    unwatch_all();
    fprintf(stderr, "bad-input matrix: %s: %lu calls, %zu functions\n", header, n_calls, n_seen);
    if (matrix_fd >= 0) {
        char line[96];
        int n = snprintf(line, sizeof line, "calls %lu\n", n_calls);
        ck_assert(write(matrix_fd, line, (size_t)n) == n);
        for (size_t i = 0; i < n_seen; i++) {
            n = snprintf(line, sizeof line, "fn %s\n", seen[i]);
            ck_assert(write(matrix_fd, line, (size_t)n) == n);
        }
    }
    hcl_context_free(A);
    hcl_context_free(B);
    A = B = NULL;
}

static hcl_tensor *tensor(hcl_context *ctx, hcl_dtype dt, int rank, const int64_t *shape) {
    hcl_tensor *t = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, dt, rank, shape, &t));
    return t;
}

static hcl_tensor *tensor1(hcl_context *ctx, hcl_dtype dt, int64_t n) { return tensor(ctx, dt, 1, &n); }

/* ================================================================ runtime.h ================ */

START_TEST(runtime_h) {
    matrix_begin();
    /* status table and names: values outside the table get the documented fallbacks */
    const int bad_status[] = {-1, HCL_STATUS_COUNT_, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad_status / sizeof *bad_status; i++) {
        EXPECT_VAL(const char *, hcl_status_name((hcl_status)bad_status[i]), v_ && !strcmp(v_, "HCL_STATUS_UNKNOWN"));
        EXPECT_VAL(const char *, hcl_status_string((hcl_status)bad_status[i]), v_ && *v_);
    }
    const cl_int bad_cl[] = {1, -9999, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad_cl / sizeof *bad_cl; i++)
        EXPECT_VAL(const char *, hcl_cl_error_name(bad_cl[i]), v_ && !strcmp(v_, "CL_UNKNOWN_ERROR"));
    /* the ready-made log callback with a level outside the enum and a NULL message */
    EXPECT_VOID(hcl_log_stderr(NULL, (hcl_log_level)99, "bad-input matrix: a log line with level 99"));
    EXPECT_VOID(hcl_log_stderr(NULL, (hcl_log_level)-1, NULL));

    /* devices */
    hcl_device_info *devs = NULL;
    size_t ndev = 0;
    EXPECT_STATUS(NULL, hcl_devices_list(NULL, &ndev), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_devices_list(&devs, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_VOID(hcl_devices_free(NULL));
    CK(hcl_devices_list(&devs, &ndev));
    ck_assert_uint_gt(ndev, 0);
    size_t index = 12345;
    char msg[512];
    /* with a message buffer, every failure explains itself there */
#define EXPECT_CHOOSE(call, want)                                                         \
    do {                                                                                  \
        strcpy(msg, "");                                                                  \
        EXPECT_STATUS(NULL, call, want);                                                  \
        ck_assert_msg(msg[0] != '\0', "line %d: %s left no message", __LINE__, #call);    \
        ck_assert_uint_eq(index, 12345);                                                  \
    } while (0)
    EXPECT_CHOOSE(hcl_device_choose(NULL, 1, NULL, &index, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    EXPECT_CHOOSE(hcl_device_choose(devs, ndev, NULL, NULL, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    EXPECT_CHOOSE(hcl_device_choose(devs, 0, NULL, &index, msg, sizeof msg), HCL_ERR_NO_DEVICE);
    const char *bad_specs[] = {"no-such-device-anywhere", "99:99", "0:0x", "-1:-1", "gpux"};
    for (size_t i = 0; i < sizeof bad_specs / sizeof *bad_specs; i++) {
        int has_gpu = 0;
        for (size_t d = 0; d < ndev; d++) has_gpu |= devs[d].is_gpu;
        if (!strcmp(bad_specs[i], "gpux") && has_gpu) continue;
        EXPECT_CHOOSE(hcl_device_choose(devs, ndev, bad_specs[i], &index, msg, sizeof msg), HCL_ERR_DEVICE_NOT_FOUND);
    }
    /* no message buffer, or one of length 0 or 1: still a status, no write past it */
    EXPECT_STATUS(NULL, hcl_device_choose(devs, ndev, "no-such-device", &index, NULL, 100), HCL_ERR_DEVICE_NOT_FOUND);
    msg[0] = 'x';
    EXPECT_STATUS(NULL, hcl_device_choose(devs, ndev, "no-such-device", &index, msg, 0), HCL_ERR_DEVICE_NOT_FOUND);
    ck_assert_int_eq(msg[0], 'x');
    msg[1] = 'y';
    EXPECT_STATUS(NULL, hcl_device_choose(devs, ndev, "no-such-device", &index, msg, 1), HCL_ERR_DEVICE_NOT_FOUND);
    ck_assert(msg[0] == '\0' && msg[1] == 'y');
#undef EXPECT_CHOOSE
    hcl_devices_free(devs);

    /* context creation: the reason goes to `error` (there is no context to hold it) */
    hcl_context *c = (hcl_context *)&c;
    hcl_context_options o;
    EXPECT_VOID(hcl_context_options_init(NULL));
#define EXPECT_CREATE(call, want)                                                                    \
    do {                                                                                             \
        strcpy(msg, "");                                                                             \
        EXPECT_STATUS(NULL, call, want);                                                             \
        ck_assert_msg(msg[0] != '\0', "line %d: %s left no message in error", __LINE__, #call);     \
    } while (0)
    EXPECT_CREATE(hcl_context_create(NULL, NULL, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    hcl_context_options_init(&o);
    o.device = "no-such-device-anywhere";
    EXPECT_CREATE(hcl_context_create(&c, &o, msg, sizeof msg), HCL_ERR_DEVICE_NOT_FOUND);
    ck_assert_ptr_null(c);
    hcl_context_options_init(&o);
    o.half_mode = (hcl_half_mode)7;
    EXPECT_CREATE(hcl_context_create(&c, &o, msg, sizeof msg), HCL_ERR_INVALID_ARGUMENT);
    o.half_mode = (hcl_half_mode)-1;
    EXPECT_CREATE(hcl_context_create(&c, &o, msg, sizeof msg), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_context_create(&c, &o, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);

    /* around OpenCL objects: NULL handles, a queue of another OpenCL context, an out-of-order queue */
    cl_context cla = hcl_context_cl(A), clb = hcl_context_cl(B);
    cl_device_id dev = hcl_context_cl_device(A);
    cl_command_queue qa = hcl_context_queue(A), qb = hcl_context_queue(B);
    EXPECT_CREATE(hcl_context_create_from_cl(NULL, cla, dev, qa, NULL, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    EXPECT_CREATE(hcl_context_create_from_cl(&c, NULL, dev, qa, NULL, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    EXPECT_CREATE(hcl_context_create_from_cl(&c, cla, NULL, qa, NULL, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    EXPECT_CREATE(hcl_context_create_from_cl(&c, cla, dev, NULL, NULL, msg, sizeof msg), HCL_ERR_NULL_POINTER);
    EXPECT_CREATE(hcl_context_create_from_cl(&c, cla, dev, qb, NULL, msg, sizeof msg), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_CREATE(hcl_context_create_from_cl(&c, clb, dev, qa, NULL, msg, sizeof msg), HCL_ERR_INVALID_ARGUMENT);
    hcl_context_options_init(&o);
    o.half_mode = (hcl_half_mode)7;
    EXPECT_CREATE(hcl_context_create_from_cl(&c, cla, dev, qa, &o, msg, sizeof msg), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    cl_int err = CL_SUCCESS;
    cl_command_queue ooo = clCreateCommandQueue(cla, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err == CL_SUCCESS) {
        EXPECT_CREATE(hcl_context_create_from_cl(&c, cla, dev, ooo, NULL, msg, sizeof msg), HCL_ERR_INVALID_ARGUMENT);
        clReleaseCommandQueue(ooo);
    }
#undef EXPECT_CREATE
    EXPECT_VOID(hcl_context_free(NULL));

    /* accessors of a NULL context: the documented defaults */
    EXPECT_VAL(const char *, hcl_last_error(NULL), v_ != NULL);
    EXPECT_VOID(hcl_clear_error(NULL));
    EXPECT_NULL(hcl_context_device(NULL));
    EXPECT_NULL(hcl_context_cl(NULL));
    EXPECT_NULL(hcl_context_cl_device(NULL));
    EXPECT_NULL(hcl_context_queue(NULL));
    EXPECT_VAL(int, hcl_context_native_half(NULL), v_ == 0);
    EXPECT_NULL(hcl_context_cache_dir(NULL));
    EXPECT_VAL(int, hcl_context_cache_writes(NULL), v_ == 0);
    EXPECT_STATUS(NULL, hcl_finish(NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_flush(NULL), HCL_ERR_NULL_POINTER);
    hcl_program_stats ps;
    memset(&ps, 0xff, sizeof ps);
    EXPECT_VOID(hcl_program_stats_get(NULL, &ps));
    ck_assert(ps.source_builds == 0 && ps.cache_loads == 0 && ps.cache_rejects == 0 && ps.cache_writes == 0);
    EXPECT_VOID(hcl_program_stats_get(A, NULL));

    /* profiler: NULL outputs, a context without profiling */
    hcl_kernel_profile *pe = NULL;
    size_t pn = 0;
    EXPECT_STATUS(NULL, hcl_profile_get(NULL, &pe, &pn), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_profile_get(A, NULL, &pn), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_profile_get(A, &pe, NULL), HCL_ERR_NULL_POINTER);
    hcl_context *plain = test_context();
    EXPECT_STATUS(plain, hcl_profile_get(plain, &pe, &pn), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(pe == NULL && pn == 0);
    EXPECT_VOID(hcl_profile_reset(plain)); /* nothing recorded: nothing to do */
    hcl_context_free(plain);
    EXPECT_VOID(hcl_profile_entries_free(NULL));
    EXPECT_VOID(hcl_profile_reset(NULL));

    /* build_all: NULL, and a kernel folder that does not exist */
    EXPECT_STATUS(NULL, hcl_context_build_all(NULL), HCL_ERR_NULL_POINTER);
    hcl_context_options_init(&o);
    o.cache_dir = "off";
    o.kernel_dir = "/nonexistent/halfcl-kernels";
    o.profiling = 1;
    hcl_context *nokern = NULL;
    CK(hcl_context_create(&nokern, &o, NULL, 0));
    EXPECT_STATUS(nokern, hcl_context_build_all(nokern), HCL_ERR_KERNEL_SOURCE);
    ck_assert_uint_eq(launches(nokern), 0);
    hcl_context_free(nokern);
    matrix_end("runtime.h");
}
END_TEST

/* ================================================================ tensor.h ================= */

START_TEST(tensor_h) {
    matrix_begin();
    const int bad_dt[] = {-1, HCL_DTYPE_COUNT_, 100, INT_MIN};
    for (size_t i = 0; i < sizeof bad_dt / sizeof *bad_dt; i++) {
        EXPECT_NULL(hcl_dtype_name((hcl_dtype)bad_dt[i]));
        EXPECT_VAL(size_t, hcl_dtype_size((hcl_dtype)bad_dt[i]), v_ == 0);
        EXPECT_VAL(int, hcl_dtype_is_float((hcl_dtype)bad_dt[i]), v_ == 0);
    }

    /* creation: every bad rank, dim, dtype and size; *out is NULL after a failure */
    hcl_tensor *t = (hcl_tensor *)&t;
    const int64_t s23[2] = {2, 3};
    hcl_memory_stats m0, m1;
    hcl_memory_stats_get(A, &m0);
    EXPECT_STATUS(NULL, hcl_tensor_create(NULL, HCL_F32, 2, s23, &t), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_create(A, HCL_F32, 2, s23, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_create(A, HCL_F32, 2, NULL, &t), HCL_ERR_NULL_POINTER);
    ck_assert_ptr_null(t);
    for (size_t i = 0; i < sizeof bad_dt / sizeof *bad_dt; i++)
        EXPECT_STATUS(A, hcl_tensor_create(A, (hcl_dtype)bad_dt[i], 2, s23, &t), HCL_ERR_DTYPE);
    const int bad_rank[] = {-1, HCL_MAX_RANK + 1, INT_MAX, INT_MIN};
    const int64_t dims9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < sizeof bad_rank / sizeof *bad_rank; i++)
        EXPECT_STATUS(A, hcl_tensor_create(A, HCL_F32, bad_rank[i], dims9, &t), HCL_ERR_SHAPE);
    const int64_t bad_dims[][2] = {{0, 3}, {2, 0}, {-1, 3}, {2, -5}, {INT64_MIN, 1}, {1, INT64_MIN}};
    for (size_t i = 0; i < sizeof bad_dims / sizeof *bad_dims; i++)
        EXPECT_STATUS(A, hcl_tensor_create(A, HCL_F16, 2, bad_dims[i], &t), HCL_ERR_SHAPE);
    const int64_t huge[][3] = {{INT64_MAX, 1, 1}, {INT64_MAX, INT64_MAX, 1}, {1 << 30, 1 << 30, 1 << 30},
                               {INT64_MAX, 2, 2}, {(int64_t)1 << 62, 4, 1}};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++)
        for (int dt = 0; dt < HCL_DTYPE_COUNT_; dt++) EXPECT_ERR(A, hcl_tensor_create(A, (hcl_dtype)dt, 3, huge[i], &t));
    /* larger than the device: a memory error with the sizes, not an OpenCL failure */
    const int64_t too_big[1] = {(int64_t)1 << 60};
    EXPECT_STATUS(A, hcl_tensor_create(A, HCL_U8, 1, too_big, &t), HCL_ERR_DEVICE_MEMORY);
    ck_assert_ptr_null(t);
    hcl_memory_stats_get(A, &m1);
    ck_assert_uint_eq(m1.current_bytes, m0.current_bytes);
    ck_assert_uint_eq(m1.allocations, m0.allocations);

    /* views */
    hcl_tensor *base = tensor(A, HCL_F32, 2, s23), *v = (hcl_tensor *)&v;
    watch(base);
    const int64_t s6[1] = {6}, s7[1] = {7}, s5[1] = {5};
    EXPECT_STATUS(NULL, hcl_tensor_view(NULL, 0, 1, s6, &v), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_view(base, 0, 1, s6, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_view(base, 0, 1, NULL, &v), HCL_ERR_NULL_POINTER);
    ck_assert_ptr_null(v);
    EXPECT_STATUS(A, hcl_tensor_view(base, 0, 1, s7, &v), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_tensor_view(base, 2, 1, s5, &v), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_tensor_view(base, 7, 0, NULL, &v), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_tensor_view(base, SIZE_MAX, 1, s6, &v), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_tensor_view(base, SIZE_MAX - 2, 1, s5, &v), HCL_ERR_SHAPE);
    for (size_t i = 0; i < sizeof bad_rank / sizeof *bad_rank; i++)
        EXPECT_STATUS(A, hcl_tensor_view(base, 0, bad_rank[i], dims9, &v), HCL_ERR_SHAPE);
    for (size_t i = 0; i < sizeof bad_dims / sizeof *bad_dims; i++)
        EXPECT_STATUS(A, hcl_tensor_view(base, 0, 2, bad_dims[i], &v), HCL_ERR_SHAPE);
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) EXPECT_ERR(A, hcl_tensor_view(base, 0, 3, huge[i], &v));
    ck_assert_ptr_null(v);

    EXPECT_VOID(hcl_tensor_free(NULL));
    EXPECT_VAL(size_t, hcl_tensor_bytes(NULL), v_ == 0);
    EXPECT_VAL(int, hcl_tensor_same_shape(NULL, base), v_ == 0);
    EXPECT_VAL(int, hcl_tensor_same_shape(base, NULL), v_ == 0);
    EXPECT_VAL(int, hcl_tensor_same_shape(NULL, NULL), v_ == 0);

    /* transfers: NULL tensor or host, counts and byte sizes that are not the tensor's */
    float host[8] = {0};
    unsigned char raw[32] = {0};
    const size_t bad_counts[] = {0, 5, 7, SIZE_MAX, SIZE_MAX / 4 + 6};
    EXPECT_STATUS(NULL, hcl_tensor_upload_f32(NULL, host, 6), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_upload_f32(base, NULL, 6), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_tensor_download_f32(NULL, host, 6), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_download_f32(base, NULL, 6), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_tensor_upload_raw(NULL, raw, 24), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_upload_raw(base, NULL, 24), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_tensor_download_raw(NULL, raw, 24), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_download_raw(base, NULL, 24), HCL_ERR_NULL_POINTER);
    for (size_t i = 0; i < sizeof bad_counts / sizeof *bad_counts; i++) {
        EXPECT_STATUS(A, hcl_tensor_upload_f32(base, host, bad_counts[i]), HCL_ERR_SHAPE);
        EXPECT_STATUS(A, hcl_tensor_download_f32(base, host, bad_counts[i]), HCL_ERR_SHAPE);
        EXPECT_STATUS(A, hcl_tensor_upload_raw(base, raw, bad_counts[i] * 4), HCL_ERR_SHAPE);
        EXPECT_STATUS(A, hcl_tensor_download_raw(base, raw, bad_counts[i] * 4), HCL_ERR_SHAPE);
    }
    /* f32 transfers into integer tensors */
    hcl_tensor *ti = tensor(A, HCL_I32, 2, s23), *tu = tensor(A, HCL_U8, 2, s23);
    watch(ti);
    watch(tu);
    EXPECT_STATUS(A, hcl_tensor_upload_f32(ti, host, 6), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_upload_f32(tu, host, 6), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_download_f32(ti, host, 6), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_download_f32(tu, host, 6), HCL_ERR_DTYPE);

    /* fill, copy, cast */
    EXPECT_STATUS(NULL, hcl_tensor_fill(NULL, 1.0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_tensor_fill_bits(NULL, 0), HCL_ERR_NULL_POINTER);
    hcl_tensor *f16 = tensor(A, HCL_F16, 2, s23), *f32b = tensor(B, HCL_F32, 2, s23), *f32_7 = tensor1(A, HCL_F32, 7);
    watch(f16);
    watch(f32b);
    watch(f32_7);
    EXPECT_STATUS(NULL, hcl_tensor_copy(NULL, base), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_copy(base, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_copy(base, f16), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_copy(base, ti), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_copy(base, f32_7), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_tensor_copy(base, f32b), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(B, hcl_tensor_copy(f32b, base), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_tensor_cast(NULL, base), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_cast(f16, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_tensor_cast(f16, ti), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_cast(ti, f16), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_cast(tu, base), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_tensor_cast(f16, f32_7), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_tensor_cast(f16, f32b), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(B, hcl_tensor_cast(f32b, f16), HCL_ERR_INVALID_ARGUMENT);

    /* allocator statistics of a NULL context, NULL outputs */
    hcl_memory_stats ms;
    memset(&ms, 0xff, sizeof ms);
    EXPECT_VOID(hcl_memory_stats_get(NULL, &ms));
    ck_assert(ms.current_bytes == 0 && ms.peak_bytes == 0 && ms.cached_bytes == 0 && ms.allocations == 0);
    EXPECT_VOID(hcl_memory_stats_get(A, NULL));
    EXPECT_VOID(hcl_memory_reset_peak(NULL));
    EXPECT_VOID(hcl_memory_trim(NULL));

    /* host conversions: NaN stays NaN, infinities stay infinite; NULL arrays do nothing */
    EXPECT_VAL(uint16_t, hcl_f32_to_f16(NAN), (v_ & 0x7c00u) == 0x7c00u && (v_ & 0x3ffu));
    EXPECT_VAL(uint16_t, hcl_f32_to_bf16(-NAN), (v_ & 0x7f80u) == 0x7f80u && (v_ & 0x7fu));
    EXPECT_VAL(uint16_t, hcl_f32_to_f16(1e30f), v_ == 0x7c00u);
    EXPECT_VAL(float, hcl_f16_to_f32(0xfe01u), isnan(v_));
    EXPECT_VAL(float, hcl_bf16_to_f32(0xff81u), isnan(v_));
    uint16_t h16[4] = {0};
    float f4[4] = {0};
    EXPECT_VOID(hcl_f32_to_f16_array(NULL, NULL, 0));
    EXPECT_VOID(hcl_f32_to_f16_array(NULL, f4, 4));
    EXPECT_VOID(hcl_f32_to_f16_array(h16, NULL, 4));
    EXPECT_VOID(hcl_f16_to_f32_array(NULL, h16, 4));
    EXPECT_VOID(hcl_f16_to_f32_array(f4, NULL, 4));
    EXPECT_VOID(hcl_f32_to_bf16_array(NULL, f4, 4));
    EXPECT_VOID(hcl_f32_to_bf16_array(h16, NULL, 4));
    EXPECT_VOID(hcl_bf16_to_f32_array(NULL, h16, 4));
    EXPECT_VOID(hcl_bf16_to_f32_array(f4, NULL, SIZE_MAX));

    unwatch_all();
    hcl_tensor *all[] = {base, ti, tu, f16, f32b, f32_7};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) hcl_tensor_free(all[i]);
    matrix_end("tensor.h");
}
END_TEST

/* ================================================================ ops.h: the table ========= */

enum {
    OPT = 1,      /* may be NULL */
    OUT = 2,      /* written: must not overlap the other tensors (unless listed as in place) */
    NORANK = 4,   /* one more trailing dim is still valid (no rank mutation) */
    NODIM0 = 8,   /* another size of dim 0 is still valid */
    ANYDIM = NORANK | NODIM0,
    EXACT = 16,   /* exactly this float dtype: another float dtype is an error too */
    BADU8 = 32,   /* the wrong dtype to try is U8 (I32 is valid here) */
};
enum { MAX_SLOTS = 18 };

typedef struct slot {
    const char *name;  /* as in the header; NULL ends the list */
    hcl_dtype dt;
    unsigned flags;
    int rank;
    int64_t dims[4];
} slot;

/* The non-tensor arguments, valid by default; the per-op cases change one field. */
typedef struct op_args {
    hcl_gemm_desc gemm;
    hcl_conv2d_desc conv;
    hcl_pool2d_desc pool;
    hcl_rnn_desc rnn;
    hcl_attention_desc attn;
    int null_desc; /* pass NULL for the op's descriptor */
    int act, mode, axis, op, bcast, flag;
    float f0, f1;  /* alpha, p, momentum, label smoothing, lo, mean (0); eps, hi, stddev (1) */
} op_args;

typedef struct op_case op_case;
typedef hcl_status (*op_call)(hcl_context *ctx, hcl_tensor *const *t, const op_args *a);
typedef void (*op_extra)(const op_case *oc, hcl_tensor *const *t, const op_args *a0);
struct op_case {
    const char *fn;
    op_call call;
    slot s[MAX_SLOTS];
    const char *in_place; /* "out=in ..." pairs the header allows to be the same tensor */
    void (*init)(op_args *a);
    op_extra extra;
};

static op_args default_args(void) {
    op_args a;
    memset(&a, 0, sizeof a);
    hcl_gemm_desc_init(&a.gemm);
    hcl_conv2d_desc_init(&a.conv);
    hcl_pool2d_desc_init(&a.pool, 3, 2);
    hcl_rnn_desc_init(&a.rnn, HCL_RNN_LSTM);
    hcl_attention_desc_init(&a.attn);
    a.act = HCL_ACT_RELU;
    a.axis = 1;
    a.f0 = 0.0f;
    a.f1 = 1.0f;
    return a;
}

#define DESC(field) (a->null_desc ? NULL : &a->field)
#define OP(name, ...)                                                                          \
    static hcl_status op_##name(hcl_context *c, hcl_tensor *const *t, const op_args *a) {      \
        (void)a;                                                                               \
        return __VA_ARGS__;                                                                    \
    }
OP(activation_forward, hcl_activation_forward(c, t[0], t[1], (hcl_activation)a->act, a->f0))
OP(activation_backward, hcl_activation_backward(c, t[0], t[1], t[2], (hcl_activation)a->act, a->f0))
OP(gemm, hcl_gemm(c, t[0], t[1], t[2], t[3], DESC(gemm)))
OP(conv2d_forward, hcl_conv2d_forward(c, t[0], t[1], t[2], t[3], DESC(conv)))
OP(conv2d_backward_data, hcl_conv2d_backward_data(c, t[0], t[1], t[2], DESC(conv)))
OP(conv2d_backward_weight, hcl_conv2d_backward_weight(c, t[0], t[1], t[2], t[3], DESC(conv)))
OP(maxpool2d_forward, hcl_maxpool2d_forward(c, t[0], t[1], t[2], DESC(pool)))
OP(maxpool2d_backward, hcl_maxpool2d_backward(c, t[0], t[1], t[2], DESC(pool)))
OP(avgpool2d_forward, hcl_avgpool2d_forward(c, t[0], t[1], DESC(pool)))
OP(avgpool2d_backward, hcl_avgpool2d_backward(c, t[0], t[1], DESC(pool)))
OP(global_avgpool_forward, hcl_global_avgpool_forward(c, t[0], t[1]))
OP(global_avgpool_backward, hcl_global_avgpool_backward(c, t[0], t[1]))
OP(batchnorm2d_forward_train, hcl_batchnorm2d_forward_train(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], a->f0, a->f1))
OP(batchnorm2d_forward_inference, hcl_batchnorm2d_forward_inference(c, t[0], t[1], t[2], t[3], t[4], t[5], a->f1))
OP(batchnorm2d_backward, hcl_batchnorm2d_backward(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]))
OP(layernorm_forward, hcl_layernorm_forward(c, t[0], t[1], t[2], t[3], t[4], t[5], a->f1))
OP(layernorm_backward, hcl_layernorm_backward(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]))
OP(softmax_forward, hcl_softmax_forward(c, t[0], t[1], a->flag))
OP(softmax_backward, hcl_softmax_backward(c, t[0], t[1], t[2], a->flag))
OP(softmax_cross_entropy, hcl_softmax_cross_entropy(c, t[0], t[1], t[2], t[3], a->f0, t[4]))
OP(mse_loss, hcl_mse_loss(c, t[0], t[1], t[2], t[3], t[4]))
OP(bce_with_logits, hcl_bce_with_logits(c, t[0], t[1], t[2], t[3], t[4]))
OP(distillation_loss, hcl_distillation_loss(c, t[0], t[1], t[2], t[3], t[4], a->f1, a->f0, t[5]))
OP(binary, hcl_binary(c, t[0], t[1], t[2], (hcl_binary_op)a->op, (hcl_broadcast)a->bcast))
OP(reduce_broadcast, hcl_reduce_broadcast(c, t[0], t[1], (hcl_broadcast)a->bcast, a->flag))
OP(scale, hcl_scale(c, t[0], t[1], a->f0))
OP(axpy, hcl_axpy(c, t[0], a->f0, t[1]))
OP(reduce, hcl_reduce(c, t[0], t[1], a->axis, (hcl_reduce_op)a->op))
OP(argmax, hcl_argmax(c, t[0], t[1]))
OP(count_correct, hcl_count_correct(c, t[0], t[1], t[2]))
OP(embedding_forward, hcl_embedding_forward(c, t[0], t[1], t[2]))
OP(embedding_backward, hcl_embedding_backward(c, t[0], t[1], t[2]))
OP(rnn_forward, hcl_rnn_forward(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], DESC(rnn)))
OP(rnn_backward, hcl_rnn_backward(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13],
                                  t[14], t[15], t[16], DESC(rnn)))
OP(seq_pool_forward, hcl_seq_pool_forward(c, t[0], t[1], t[2], (hcl_seq_pool_mode)a->mode))
OP(seq_pool_backward, hcl_seq_pool_backward(c, t[0], t[1], t[2], (hcl_seq_pool_mode)a->mode))
OP(random_uniform, hcl_random_uniform(c, t[0], a->f0, a->f1, 7, 0))
OP(random_normal, hcl_random_normal(c, t[0], a->f0, a->f1, 7, 0))
OP(dropout_forward, hcl_dropout_forward(c, t[0], t[1], a->f0, 7, 0))
OP(dropout_backward, hcl_dropout_backward(c, t[0], t[1], a->f0, 7, 0))
OP(attention_forward, hcl_attention_forward(c, t[0], t[1], t[2], t[3], t[4], t[5], DESC(attn)))
OP(attention_backward, hcl_attention_backward(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], DESC(attn)))
OP(fake_quant_forward, hcl_fake_quant_forward(c, t[0], t[1], t[2], t[3], (hcl_quant_scheme)a->mode, a->axis))
OP(fake_quant_backward, hcl_fake_quant_backward(c, t[0], t[1], t[2], t[3], t[4], (hcl_quant_scheme)a->mode, a->axis))
OP(quant_observe, hcl_quant_observe(c, t[0], t[1], a->axis, a->f0, a->flag))
OP(quant_params_from_range, hcl_quant_params_from_range(c, t[0], t[1], t[2], (hcl_quant_scheme)a->mode))
OP(quantize, hcl_quantize(c, t[0], t[1], t[2], t[3], (hcl_quant_scheme)a->mode, a->axis))
OP(dequantize, hcl_dequantize(c, t[0], t[1], t[2], t[3], a->axis))
OP(gemm_i8, hcl_gemm_i8(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], (hcl_activation)a->act))
OP(conv2d_i8_forward, hcl_conv2d_i8_forward(c, t[0], t[1], t[2], t[3], t[4], t[5], t[6], a->conv.stride_h, a->conv.pad_h,
                                            (hcl_activation)a->act))
#undef OP

/* One bad call of an op: ctx_arg is passed, the message is expected on ctx_msg. */
static void op_expect(const op_case *oc, hcl_context *ctx_msg, hcl_context *ctx_arg, hcl_tensor *const *t,
                      const op_args *a, int want, const char *what, int line) {
    char desc[256];
    snprintf(desc, sizeof desc, "%s with %s", oc->fn, what);
    before_call();
    hcl_status st = oc->call(ctx_arg, t, a);
    after_err(ctx_msg, oc->fn, desc, st, want, line);
}

/* In the per-op cases: the valid tensors t, the args changed by `stmt`. */
#define WITH(stmt, want)                                                    \
    do {                                                                    \
        op_args a = *a0;                                                    \
        stmt;                                                               \
        op_expect(oc, A, A, t, &a, (want), #stmt, __LINE__);                \
    } while (0)
/* ... and slot i replaced by tensor x (freed after). */
#define WITH_T(i, x, want, what)                                            \
    do {                                                                    \
        hcl_tensor *u_[MAX_SLOTS];                                          \
        memcpy(u_, t, sizeof u_);                                           \
        u_[i] = (x);                                                        \
        op_expect(oc, A, A, u_, a0, (want), what, __LINE__);                \
        hcl_tensor_free(u_[i]);                                             \
    } while (0)

static size_t slot_count(const op_case *oc) {
    size_t n = 0;
    while (n < MAX_SLOTS && oc->s[n].name) n++;
    return n;
}

static size_t slot_elems(const slot *s) {
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= (size_t)s->dims[i];
    return n;
}

static hcl_tensor *slot_tensor(hcl_context *ctx, const slot *s, hcl_dtype dt, int extra_dim, int64_t dim0_add) {
    int64_t d[HCL_MAX_RANK];
    for (int i = 0; i < s->rank; i++) d[i] = s->dims[i];
    if (s->rank > 0) d[0] += dim0_add;
    int rank = s->rank;
    if (extra_dim) d[rank++] = 2;
    return tensor(ctx, dt, rank, d);
}

static int same_spec(const slot *a, const slot *b) {
    if (a->dt != b->dt || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++) if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

static int in_place_allowed(const op_case *oc, const char *out, const char *in) {
    if (!oc->in_place) return 0;
    char pair[64];
    snprintf(pair, sizeof pair, "%s=%s", out, in);
    const char *p = oc->in_place;
    size_t n = strlen(pair);
    while ((p = strstr(p, pair)) != NULL) {
        if ((p == oc->in_place || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
        p += n;
    }
    return 0;
}

static hcl_dtype wrong_dtype(const slot *s) {
    if (s->flags & BADU8) return HCL_U8;
    return hcl_dtype_is_float(s->dt) ? HCL_I32 : s->dt == HCL_I32 ? HCL_F32 : HCL_I32;
}

/* Every derived bad call of one op, its own cases, then the valid call it was all derived from. */
static void run_op(const op_case *oc) {
    size_t n = slot_count(oc);
    hcl_tensor *ta[MAX_SLOTS] = {0}, *tb[MAX_SLOTS] = {0}, *t[MAX_SLOTS] = {0};
    for (size_t i = 0; i < n; i++) {
        ta[i] = slot_tensor(A, &oc->s[i], oc->s[i].dt, 0, 0);
        tb[i] = slot_tensor(B, &oc->s[i], oc->s[i].dt, 0, 0);
        watch(ta[i]);
        watch(tb[i]);
    }
    op_args a0 = default_args();
    if (oc->init) oc->init(&a0);
    memcpy(t, ta, sizeof t);
    op_expect(oc, NULL, NULL, t, &a0, HCL_ERR_NULL_POINTER, "ctx NULL", __LINE__);
    op_expect(oc, B, B, t, &a0, HCL_ERR_INVALID_ARGUMENT, "ctx of the other context than the tensors", __LINE__);
    char what[128];
    for (size_t i = 0; i < n; i++) {
        const slot *s = &oc->s[i];
        if (!(s->flags & OPT)) {
            t[i] = NULL;
            snprintf(what, sizeof what, "%s NULL", s->name);
            op_expect(oc, A, A, t, &a0, HCL_ERR_NULL_POINTER, what, __LINE__);
        }
        t[i] = tb[i];
        snprintf(what, sizeof what, "%s of another context", s->name);
        op_expect(oc, A, A, t, &a0, HCL_ERR_INVALID_ARGUMENT, what, __LINE__);
        hcl_dtype wrong[2] = {wrong_dtype(s), s->dt == HCL_F32 ? HCL_F16 : HCL_F32};
        for (int w = 0; w < ((s->flags & EXACT) ? 2 : 1); w++) {
            t[i] = slot_tensor(A, s, wrong[w], 0, 0);
            snprintf(what, sizeof what, "%s of dtype %s", s->name, hcl_dtype_name(wrong[w]));
            op_expect(oc, A, A, t, &a0, HCL_ERR_DTYPE, what, __LINE__);
            hcl_tensor_free(t[i]);
        }
        if (!(s->flags & NORANK) && s->rank < HCL_MAX_RANK) {
            t[i] = slot_tensor(A, s, s->dt, 1, 0);
            snprintf(what, sizeof what, "%s of rank %d", s->name, s->rank + 1);
            op_expect(oc, A, A, t, &a0, HCL_ERR_SHAPE, what, __LINE__);
            hcl_tensor_free(t[i]);
        }
        if (!(s->flags & NODIM0) && s->rank > 0) {
            t[i] = slot_tensor(A, s, s->dt, 0, 1);
            snprintf(what, sizeof what, "%s with dim 0 of %lld", s->name, (long long)s->dims[0] + 1);
            op_expect(oc, A, A, t, &a0, HCL_ERR_SHAPE, what, __LINE__);
            hcl_tensor_free(t[i]);
        }
        t[i] = ta[i];
    }
    /* an output overlapping another tensor of its dtype: views of one buffer, or the same tensor */
    for (size_t o = 0; o < n; o++) {
        const slot *so = &oc->s[o];
        if (!(so->flags & OUT)) continue;
        for (size_t i = 0; i < n; i++) {
            const slot *si = &oc->s[i];
            if (i == o || si->dt != so->dt || ((si->flags & OUT) && i < o)) continue;
            size_t co = slot_elems(so), ci = slot_elems(si), off = co > 1 && ci > 1 ? 1 : 0;
            hcl_tensor *base = tensor1(A, so->dt, (int64_t)((co > ci ? co : ci) + 1)), *vo = NULL, *vi = NULL;
            CK(hcl_tensor_view(base, 0, so->rank, so->dims, &vo));
            CK(hcl_tensor_view(base, off, si->rank, si->dims, &vi));
            t[o] = vo;
            t[i] = vi;
            snprintf(what, sizeof what, "%s overlapping %s", so->name, si->name);
            op_expect(oc, A, A, t, &a0, HCL_ERR_ALIASING, what, __LINE__);
            hcl_tensor_free(vo);
            hcl_tensor_free(vi);
            hcl_tensor_free(base);
            t[o] = ta[o];
            t[i] = ta[i];
            if (same_spec(so, si) && !in_place_allowed(oc, so->name, si->name)) {
                t[i] = ta[o];
                snprintf(what, sizeof what, "%s passed as %s too", so->name, si->name);
                op_expect(oc, A, A, t, &a0, HCL_ERR_ALIASING, what, __LINE__);
                t[i] = ta[i];
            }
        }
    }
    if (oc->extra) oc->extra(oc, t, &a0);
    /* the valid call: every case above differs from it in one thing (integer inputs zeroed) */
    unwatch_all();
    for (size_t i = 0; i < n; i++) {
        if (ta[i]->dtype != HCL_I32) continue;
        int32_t *z = calloc(ta[i]->count, 4);
        ck_assert_ptr_nonnull(z);
        CK(hcl_tensor_upload_raw(ta[i], z, ta[i]->count * 4));
        free(z);
    }
    hcl_status st = oc->call(A, ta, &a0);
    ck_assert_msg(st == HCL_OK, "%s: the valid call the cases derive from fails: %s", oc->fn, hcl_last_error(A));
    CK(hcl_finish(A));
    for (size_t i = 0; i < n; i++) {
        hcl_tensor_free(ta[i]);
        hcl_tensor_free(tb[i]);
    }
}

/* ---------------------------------------------------------------- ops.h: per-op cases */
static const int bad_enums[] = {-1, 99, INT_MAX, INT_MIN};
#define NBAD (sizeof bad_enums / sizeof *bad_enums)

static void x_activation(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.act = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.act = HCL_ACT_COUNT_, HCL_ERR_INVALID_ARGUMENT);
}

static void x_gemm(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.null_desc = 1, HCL_ERR_NULL_POINTER);
    WITH(a.gemm.epilogue = HCL_ACT_COUNT_, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.gemm.epilogue = (hcl_activation)-1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.gemm.backend = (hcl_gemm_backend)3, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.gemm.backend = (hcl_gemm_backend)-1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.gemm.trans_a = 1, HCL_ERR_SHAPE);
    WITH(a.gemm.trans_b = 1, HCL_ERR_SHAPE);
}

/* conv descriptors: zero/negative/huge strides, pads, dilations and groups */
static void conv_descs(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.null_desc = 1, HCL_ERR_NULL_POINTER);
    WITH(a.conv.stride_h = 0, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.stride_w = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.pad_h = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.pad_w = INT_MIN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.dilation_h = 0, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.dilation_w = -3, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.groups = 0, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.groups = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.groups = 2, -1);       /* C = 3 is not a multiple */
    WITH(a.conv.groups = INT_MAX, -1);
    WITH(a.conv.pad_h = INT_MAX, -1);  /* huge: a different (or too large) output */
    WITH(a.conv.pad_w = INT_MAX / 2, -1);
    WITH(a.conv.stride_h = INT_MAX, HCL_ERR_SHAPE);
    WITH(a.conv.dilation_w = INT_MAX, HCL_ERR_SHAPE);
    WITH((a.conv.dilation_h = INT_MAX, a.conv.pad_h = INT_MAX), -1);
}

static void pool_descs(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.null_desc = 1, HCL_ERR_NULL_POINTER);
    WITH(a.pool.kernel_h = 0, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.pool.kernel_w = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.pool.stride_h = 0, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.pool.stride_w = INT_MIN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.pool.pad_h = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.pool.pad_w = 2, HCL_ERR_INVALID_ARGUMENT); /* more than half the kernel */
    WITH(a.pool.pad_h = INT_MAX, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.pool.kernel_w = INT_MAX, HCL_ERR_SHAPE);  /* larger than the input */
    WITH((a.pool.kernel_h = INT_MAX, a.pool.pad_h = INT_MAX / 2), -1);
    WITH(a.pool.stride_h = INT_MAX, HCL_ERR_SHAPE);
}

static void x_batchnorm_train(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f0 = -0.1f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = 1.5f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = -1.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = INFINITY, HCL_ERR_INVALID_ARGUMENT);
    /* one value per channel: the unbiased variance is 0/0 */
    const int64_t one[4] = {1, 3, 1, 1};
    hcl_tensor *u[MAX_SLOTS];
    memcpy(u, t, sizeof u);
    u[0] = tensor(A, HCL_F32, 4, one);
    u[5] = tensor(A, HCL_F32, 4, one);
    op_expect(oc, A, A, u, a0, HCL_ERR_SHAPE, "x (1,3,1,1)", __LINE__);
    hcl_tensor_free(u[0]);
    hcl_tensor_free(u[5]);
}

static void x_eps(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f1 = -1.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = -INFINITY, HCL_ERR_INVALID_ARGUMENT);
}

static void x_cross_entropy(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f0 = -0.1f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = 1.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = INFINITY, HCL_ERR_INVALID_ARGUMENT);
}

/* distillation: f0 = alpha (0), f1 = temperature (1); labels (slot 4) may be NULL only with alpha 1 */
static void x_distillation(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f0 = -0.1f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = 1.5f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = 0.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = -2.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = INFINITY, HCL_ERR_INVALID_ARGUMENT);
    WITH_T(4, NULL, HCL_ERR_NULL_POINTER, "labels NULL with alpha 0");
    hcl_tensor *u[MAX_SLOTS];
    memcpy(u, t, sizeof u);
    u[4] = NULL;
    op_args a1 = *a0;
    a1.f0 = 0.5f;
    op_expect(oc, A, A, u, &a1, HCL_ERR_NULL_POINTER, "labels NULL with alpha 0.5", __LINE__);
}

static void x_binary(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.op = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    for (size_t k = 0; k < NBAD; k++) WITH(a.bcast = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.bcast = HCL_BCAST_CHANNEL, HCL_ERR_SHAPE);
    WITH(a.bcast = HCL_BCAST_ROW, HCL_ERR_SHAPE);
}

static void init_reduce_broadcast(op_args *a) { a->bcast = HCL_BCAST_CHANNEL; }
static void x_reduce_broadcast(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.bcast = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.bcast = HCL_BCAST_ROW, HCL_ERR_SHAPE);
    WITH(a.bcast = HCL_BCAST_NONE, HCL_ERR_SHAPE);
}

static void x_reduce(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.op = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = 3, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = -4, HCL_ERR_INVALID_ARGUMENT); /* -1 is the last axis */
    WITH(a.axis = -1, HCL_ERR_SHAPE);
    WITH(a.axis = INT_MAX, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = INT_MIN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = 0, HCL_ERR_SHAPE); /* y (2,5) is x (2,3,5) without axis 1, not 0 */
}

static size_t rnn_reserve(void) {
    hcl_rnn_desc d;
    hcl_rnn_desc_init(&d, HCL_RNN_LSTM);
    return hcl_rnn_reserve_bytes(&d, 2, 3, 5, HCL_F32);
}

/* RNN cases shared by forward and backward; `reserve` is the reserve's slot */
static void rnn_cases(const op_case *oc, hcl_tensor *const *t, const op_args *a0, size_t reserve) {
    WITH(a.null_desc = 1, HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < NBAD; k++) WITH(a.rnn.cell = (hcl_rnn_cell)bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.rnn.reverse = 2, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.rnn.reverse = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.rnn.cell = HCL_RNN_GRU, -1); /* LSTM weights (20 rows), and c0/c_n given */
    WITH_T(reserve, tensor1(A, HCL_U8, (int64_t)rnn_reserve() - 1), HCL_ERR_SHAPE, "reserve one byte short");
    WITH_T(reserve, tensor1(A, HCL_F16, (int64_t)rnn_reserve() / 2), HCL_ERR_DTYPE, "reserve of f16 (compute dtype f32)");
    /* a reserve whose byte offset is not a multiple of 4 */
    hcl_tensor *base = tensor1(A, HCL_U8, (int64_t)rnn_reserve() + 8), *v = NULL;
    const int64_t rs[1] = {(int64_t)rnn_reserve()};
    CK(hcl_tensor_view(base, 2, 1, rs, &v));
    WITH_T(reserve, v, HCL_ERR_INVALID_ARGUMENT, "reserve at byte offset 2");
    hcl_tensor_free(base);
}

static void x_rnn_forward(const op_case *oc, hcl_tensor *const *t, const op_args *a0) { rnn_cases(oc, t, a0, 3); }
static void x_rnn_backward(const op_case *oc, hcl_tensor *const *t, const op_args *a0) { rnn_cases(oc, t, a0, 10); }

static void x_seq_pool(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.mode = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
}

static void x_uniform(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f0 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = INFINITY, HCL_ERR_INVALID_ARGUMENT);
    WITH((a.f0 = -3e38f, a.f1 = 3e38f), HCL_ERR_INVALID_ARGUMENT); /* hi - lo overflows */
}

static void x_normal(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f0 = INFINITY, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = -1.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f1 = NAN, HCL_ERR_INVALID_ARGUMENT);
}

static void x_dropout(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.f0 = 1.0f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = -0.1f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = NAN, HCL_ERR_INVALID_ARGUMENT);
}

static void x_attention(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.null_desc = 1, HCL_ERR_NULL_POINTER);
    WITH(a.attn.scale = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.attn.scale = -INFINITY, HCL_ERR_INVALID_ARGUMENT);
}

/* D larger than HCL_ATTENTION_MAX_D: every (B,T,H,D) tensor replaced */
static void x_attention_d(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    x_attention(oc, t, a0);
    hcl_tensor *u[MAX_SLOTS];
    memcpy(u, t, sizeof u);
    size_t n = slot_count(oc);
    for (size_t i = 0; i < n; i++) {
        const slot *s = &oc->s[i];
        if (s->rank != 4) continue;
        const int64_t d[4] = {s->dims[0], s->dims[1], s->dims[2], HCL_ATTENTION_MAX_D + 1};
        u[i] = tensor(A, s->dt, 4, d);
    }
    op_expect(oc, A, A, u, a0, HCL_ERR_INVALID_ARGUMENT, "head dim D = HCL_ATTENTION_MAX_D + 1", __LINE__);
    for (size_t i = 0; i < n; i++) if (u[i] != t[i]) hcl_tensor_free(u[i]);
}

/* quantization: the asymmetric scheme (its zero point may be given), per channel along axis 1 */
static void init_quant(op_args *a) { a->mode = HCL_QUANT_UINT8_ASYMMETRIC; }
/* axis and scheme cases shared by the per-channel ops; zp = the zero point's slot (or -1) */
static void quant_axis_cases(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    WITH(a.axis = 3, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = -2, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = INT_MAX, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = INT_MIN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.axis = -1, HCL_ERR_SHAPE); /* per tensor: one scale, not 3 */
    WITH(a.axis = 0, HCL_ERR_SHAPE);  /* 2 channels along axis 0, 3 scales */
}
static void x_fake_quant(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    quant_axis_cases(oc, t, a0);
    for (size_t k = 0; k < NBAD; k++) WITH(a.mode = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.mode = HCL_QUANT_INT8_SYMMETRIC, HCL_ERR_INVALID_ARGUMENT); /* a zero point with the symmetric scheme */
}
static void x_quant_observe(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    quant_axis_cases(oc, t, a0);
    WITH(a.f0 = -0.1f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = 1.5f, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = NAN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.f0 = INFINITY, HCL_ERR_INVALID_ARGUMENT);
}
static void x_quant_params(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.mode = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.mode = HCL_QUANT_INT8_SYMMETRIC, HCL_ERR_INVALID_ARGUMENT);
    WITH_T(1, NULL, HCL_ERR_NULL_POINTER, "zero_point NULL with the asymmetric scheme");
    WITH_T(2, tensor1(A, HCL_F32, 5), HCL_ERR_SHAPE, "range of 5 elements");
}
static void x_quantize(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    quant_axis_cases(oc, t, a0);
    for (size_t k = 0; k < NBAD; k++) WITH(a.mode = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.mode = HCL_QUANT_INT8_SYMMETRIC, HCL_ERR_DTYPE); /* the symmetric scheme stores I8 */
    const int64_t s[3] = {2, 3, 5};
    WITH_T(0, tensor(A, HCL_I8, 3, s), HCL_ERR_DTYPE, "q of i8 with the asymmetric scheme");
}
static void x_dequantize(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    quant_axis_cases(oc, t, a0);
    const int64_t s[3] = {2, 3, 5};
    WITH_T(1, tensor(A, HCL_F16, 3, s), HCL_ERR_DTYPE, "q of f16");
}
static void x_gemm_i8(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.act = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.act = HCL_ACT_COUNT_, HCL_ERR_INVALID_ARGUMENT);
    const int64_t w56[2] = {6, 6};
    WITH_T(4, tensor(A, HCL_I8, 2, w56), HCL_ERR_SHAPE, "w with K 6, a with K 5");
    WITH_T(5, tensor1(A, HCL_F32, 2), HCL_ERR_SHAPE, "w_scale of 2 (N = 6)");
    /* K over 65536: the int32 sum could overflow */
    hcl_tensor *u[MAX_SLOTS];
    memcpy(u, t, sizeof u);
    const int64_t ab[2] = {4, 65537}, wb[2] = {6, 65537};
    u[1] = tensor(A, HCL_U8, 2, ab);
    u[4] = tensor(A, HCL_I8, 2, wb);
    op_expect(oc, A, A, u, a0, HCL_ERR_SHAPE, "K = 65537", __LINE__);
    hcl_tensor_free(u[1]);
    hcl_tensor_free(u[4]);
}
static void x_conv2d_i8(const op_case *oc, hcl_tensor *const *t, const op_args *a0) {
    for (size_t k = 0; k < NBAD; k++) WITH(a.act = bad_enums[k], HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.stride_h = 0, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.stride_h = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.pad_h = -1, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.pad_h = INT_MIN, HCL_ERR_INVALID_ARGUMENT);
    WITH(a.conv.pad_h = 1, HCL_ERR_SHAPE);         /* a 7x7 output, y is 5x5 */
    WITH(a.conv.stride_h = 2, HCL_ERR_SHAPE);      /* 3x3 */
    WITH(a.conv.stride_h = INT_MAX, HCL_ERR_SHAPE);
    WITH(a.conv.pad_h = INT_MAX, -1);              /* huge: too large an image */
    const int64_t wr[4] = {4, 3, 3, 2}, wc[4] = {4, 2, 3, 3}, wbig[4] = {4, 3, 9, 9};
    WITH_T(4, tensor(A, HCL_I8, 4, wr), HCL_ERR_SHAPE, "w 3x2 (not square)");
    WITH_T(4, tensor(A, HCL_I8, 4, wc), HCL_ERR_SHAPE, "w with 2 input channels, x with 3");
    WITH_T(4, tensor(A, HCL_I8, 4, wbig), HCL_ERR_SHAPE, "a 9x9 kernel on a 7x7 image");
}

#define F HCL_F32
#define I HCL_I32
#define ROW(name) "hcl_" #name, op_##name
/* Valid shapes: (N,C,H,W) = (2,3,7,7) images, conv K = 4 3x3, pool 3 stride 2; (4,7) logits;
 * RNN LSTM B 2, T 3, I 4, H 5 (G*H = 20); attention B 2, Tq 3, Tk 5, H 2, D 4. */
static const op_case op_cases[] = {
    {ROW(activation_forward), {{"y", F, OUT, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}}, "y=x", NULL, x_activation},
    {ROW(activation_backward), {{"dx", F, OUT, 3, {2, 3, 5}}, {"dy", F, 0, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}},
     "dx=dy", NULL, x_activation},
    {ROW(gemm), {{"C", F, OUT, 2, {4, 6}}, {"A", F, 0, 2, {4, 5}}, {"B", F, 0, 2, {5, 6}}, {"bias", F, OPT, 1, {6}}},
     NULL, NULL, x_gemm},
    {ROW(conv2d_forward), {{"y", F, OUT, 4, {2, 4, 5, 5}}, {"x", F, 0, 4, {2, 3, 7, 7}}, {"w", F, 0, 4, {4, 3, 3, 3}},
                           {"bias", F, OPT, 1, {4}}}, NULL, NULL, conv_descs},
    {ROW(conv2d_backward_data), {{"dx", F, OUT, 4, {2, 3, 7, 7}}, {"dy", F, 0, 4, {2, 4, 5, 5}}, {"w", F, 0, 4, {4, 3, 3, 3}}},
     NULL, NULL, conv_descs},
    {ROW(conv2d_backward_weight), {{"dw", F, OUT, 4, {4, 3, 3, 3}}, {"dbias", F, OUT | OPT, 1, {4}},
                                   {"dy", F, 0, 4, {2, 4, 5, 5}}, {"x", F, 0, 4, {2, 3, 7, 7}}}, NULL, NULL, conv_descs},
    {ROW(maxpool2d_forward), {{"y", F, OUT, 4, {2, 3, 3, 3}}, {"argmax", I, OUT | OPT, 4, {2, 3, 3, 3}},
                              {"x", F, 0, 4, {2, 3, 7, 7}}}, NULL, NULL, pool_descs},
    {ROW(maxpool2d_backward), {{"dx", F, OUT, 4, {2, 3, 7, 7}}, {"dy", F, 0, 4, {2, 3, 3, 3}},
                               {"argmax", I, 0, 4, {2, 3, 3, 3}}}, NULL, NULL, pool_descs},
    {ROW(avgpool2d_forward), {{"y", F, OUT, 4, {2, 3, 3, 3}}, {"x", F, 0, 4, {2, 3, 7, 7}}}, NULL, NULL, pool_descs},
    {ROW(avgpool2d_backward), {{"dx", F, OUT, 4, {2, 3, 7, 7}}, {"dy", F, 0, 4, {2, 3, 3, 3}}}, NULL, NULL, pool_descs},
    {ROW(global_avgpool_forward), {{"y", F, OUT, 2, {2, 3}}, {"x", F, 0, 4, {2, 3, 7, 7}}}, NULL, NULL, NULL},
    {ROW(global_avgpool_backward), {{"dx", F, OUT, 4, {2, 3, 7, 7}}, {"dy", F, 0, 2, {2, 3}}}, NULL, NULL, NULL},
    {ROW(batchnorm2d_forward_train), {{"y", F, OUT, 4, {2, 3, 4, 4}}, {"save_mean", F, OUT | EXACT, 1, {3}},
                                      {"save_invstd", F, OUT | EXACT, 1, {3}}, {"running_mean", F, OUT | OPT | EXACT, 1, {3}},
                                      {"running_var", F, OUT | OPT | EXACT, 1, {3}}, {"x", F, 0, 4, {2, 3, 4, 4}},
                                      {"gamma", F, OPT, 1, {3}}, {"beta", F, OPT, 1, {3}}}, NULL, NULL, x_batchnorm_train},
    {ROW(batchnorm2d_forward_inference), {{"y", F, OUT, 4, {2, 3, 4, 4}}, {"x", F, 0, 4, {2, 3, 4, 4}},
                                          {"running_mean", F, EXACT, 1, {3}}, {"running_var", F, EXACT, 1, {3}},
                                          {"gamma", F, OPT, 1, {3}}, {"beta", F, OPT, 1, {3}}}, NULL, NULL, x_eps},
    {ROW(batchnorm2d_backward), {{"dx", F, OUT, 4, {2, 3, 4, 4}}, {"dgamma", F, OUT | OPT, 1, {3}},
                                 {"dbeta", F, OUT | OPT, 1, {3}}, {"dy", F, 0, 4, {2, 3, 4, 4}}, {"x", F, 0, 4, {2, 3, 4, 4}},
                                 {"gamma", F, OPT, 1, {3}}, {"save_mean", F, EXACT, 1, {3}},
                                 {"save_invstd", F, EXACT, 1, {3}}}, NULL, NULL, NULL},
    {ROW(layernorm_forward), {{"y", F, OUT, 3, {2, 3, 8}}, {"save_mean", F, OUT | EXACT, 1, {6}},
                              {"save_invstd", F, OUT | EXACT, 1, {6}}, {"x", F, 0, 3, {2, 3, 8}}, {"gamma", F, OPT, 1, {8}},
                              {"beta", F, OPT, 1, {8}}}, NULL, NULL, x_eps},
    {ROW(layernorm_backward), {{"dx", F, OUT, 3, {2, 3, 8}}, {"dgamma", F, OUT | OPT, 1, {8}}, {"dbeta", F, OUT | OPT, 1, {8}},
                               {"dy", F, 0, 3, {2, 3, 8}}, {"x", F, 0, 3, {2, 3, 8}}, {"gamma", F, OPT, 1, {8}},
                               {"save_mean", F, EXACT, 1, {6}}, {"save_invstd", F, EXACT, 1, {6}}}, NULL, NULL, NULL},
    {ROW(softmax_forward), {{"y", F, OUT, 2, {4, 7}}, {"x", F, 0, 2, {4, 7}}}, NULL, NULL, NULL},
    {ROW(softmax_backward), {{"dx", F, OUT, 2, {4, 7}}, {"dy", F, 0, 2, {4, 7}}, {"y", F, 0, 2, {4, 7}}}, NULL, NULL, NULL},
    {ROW(softmax_cross_entropy), {{"loss", F, OUT | EXACT, 1, {1}}, {"dlogits", F, OUT | OPT, 2, {4, 7}},
                                  {"logits", F, 0, 2, {4, 7}}, {"labels", I, 0, 1, {4}}, {"grad_scale", F, OPT | EXACT, 1, {1}}},
     NULL, NULL, x_cross_entropy},
    {ROW(mse_loss), {{"loss", F, OUT | EXACT, 1, {1}}, {"dpred", F, OUT | OPT, 2, {4, 7}}, {"pred", F, 0, 2, {4, 7}},
                     {"target", F, 0, 2, {4, 7}}, {"grad_scale", F, OPT | EXACT, 1, {1}}}, NULL, NULL, NULL},
    {ROW(bce_with_logits), {{"loss", F, OUT | EXACT, 1, {1}}, {"dlogits", F, OUT | OPT, 2, {4, 7}},
                            {"logits", F, 0, 2, {4, 7}}, {"targets", F, BADU8, 2, {4, 7}},
                            {"grad_scale", F, OPT | EXACT, 1, {1}}}, NULL, NULL, NULL},
    {ROW(bce_with_logits), {{"loss", F, OUT | EXACT, 1, {1}}, {"dlogits", F, OUT | OPT, 2, {4, 7}},
                            {"logits", F, 0, 2, {4, 7}}, {"targets", I, BADU8, 2, {4, 7}},
                            {"grad_scale", F, OPT | EXACT, 1, {1}}}, NULL, NULL, NULL}, /* I32 0/1 targets */
    {ROW(distillation_loss), {{"loss", F, OUT | EXACT, 1, {1}}, {"dlogits", F, OUT | OPT, 2, {4, 7}},
                              {"logits", F, 0, 2, {4, 7}}, {"teacher_logits", F, 0, 2, {4, 7}},
                              {"labels", I, OPT, 1, {4}}, {"grad_scale", F, OPT | EXACT, 1, {1}}},
     NULL, NULL, x_distillation},
    {ROW(binary), {{"y", F, OUT, 3, {2, 3, 5}}, {"a", F, 0, 3, {2, 3, 5}}, {"b", F, 0, 3, {2, 3, 5}}}, "y=a", NULL, x_binary},
    {ROW(reduce_broadcast), {{"db", F, OUT, 1, {3}}, {"dy", F, ANYDIM, 3, {2, 3, 5}}}, NULL, init_reduce_broadcast,
     x_reduce_broadcast},
    {ROW(scale), {{"y", F, OUT, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}}, "y=x", NULL, NULL},
    {ROW(axpy), {{"y", F, OUT, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}}, NULL, NULL, NULL},
    {ROW(reduce), {{"y", F, OUT, 2, {2, 5}}, {"x", F, 0, 3, {2, 3, 5}}}, NULL, NULL, x_reduce},
    {ROW(argmax), {{"idx", I, OUT, 1, {4}}, {"x", F, 0, 2, {4, 7}}}, NULL, NULL, NULL},
    {ROW(count_correct), {{"correct", I, OUT, 1, {1}}, {"logits", F, 0, 2, {4, 7}}, {"labels", I, 0, 1, {4}}}, NULL, NULL, NULL},
    {ROW(embedding_forward), {{"y", F, OUT, 3, {2, 3, 8}}, {"idx", I, 0, 2, {2, 3}}, {"table", F, NODIM0, 2, {10, 8}}},
     NULL, NULL, NULL},
    {ROW(embedding_backward), {{"dtable", F, OUT | NODIM0, 2, {10, 8}}, {"dy", F, 0, 3, {2, 3, 8}}, {"idx", I, 0, 2, {2, 3}}},
     NULL, NULL, NULL},
    {ROW(rnn_forward), {{"y", F, OUT | EXACT, 3, {2, 3, 5}}, {"h_n", F, OUT | OPT, 2, {2, 5}}, {"c_n", F, OUT | OPT, 2, {2, 5}},
                        {"reserve", HCL_U8, OUT | OPT | ANYDIM, 1, {0}}, {"x", F, EXACT, 3, {2, 3, 4}},
                        {"h0", F, OPT, 2, {2, 5}}, {"c0", F, OPT, 2, {2, 5}}, {"lengths", I, OPT, 1, {2}},
                        {"w_ih", F, 0, 2, {20, 4}}, {"w_hh", F, 0, 2, {20, 5}}, {"b_ih", F, OPT, 1, {20}},
                        {"b_hh", F, OPT, 1, {20}}}, NULL, NULL, x_rnn_forward},
    {ROW(rnn_backward), {{"dx", F, OUT | OPT, 3, {2, 3, 4}}, {"dh0", F, OUT | OPT, 2, {2, 5}}, {"dc0", F, OUT | OPT, 2, {2, 5}},
                         {"dw_ih", F, OUT | OPT, 2, {20, 4}}, {"dw_hh", F, OUT | OPT, 2, {20, 5}},
                         {"db_ih", F, OUT | OPT, 1, {20}}, {"db_hh", F, OUT | OPT, 1, {20}}, {"dy", F, OPT, 3, {2, 3, 5}},
                         {"dh_n", F, OPT, 2, {2, 5}}, {"dc_n", F, OPT, 2, {2, 5}}, {"reserve", HCL_U8, ANYDIM, 1, {0}},
                         {"x", F, 0, 3, {2, 3, 4}}, {"h0", F, OPT, 2, {2, 5}}, {"c0", F, OPT, 2, {2, 5}},
                         {"lengths", I, OPT, 1, {2}}, {"w_ih", F, 0, 2, {20, 4}}, {"w_hh", F, 0, 2, {20, 5}}},
     NULL, NULL, x_rnn_backward},
    {ROW(seq_pool_forward), {{"y", F, OUT, 2, {2, 5}}, {"x", F, 0, 3, {2, 3, 5}}, {"lengths", I, OPT, 1, {2}}}, NULL, NULL,
     x_seq_pool},
    {ROW(seq_pool_backward), {{"dx", F, OUT, 3, {2, 3, 5}}, {"dy", F, 0, 2, {2, 5}}, {"lengths", I, OPT, 1, {2}}}, NULL, NULL,
     x_seq_pool},
    {ROW(random_uniform), {{"y", F, OUT | ANYDIM, 3, {2, 3, 5}}}, NULL, NULL, x_uniform},
    {ROW(random_normal), {{"y", F, OUT | ANYDIM, 3, {2, 3, 5}}}, NULL, NULL, x_normal},
    {ROW(dropout_forward), {{"y", F, OUT, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}}, NULL, NULL, x_dropout},
    {ROW(dropout_backward), {{"dx", F, OUT, 3, {2, 3, 5}}, {"dy", F, 0, 3, {2, 3, 5}}}, NULL, NULL, x_dropout},
    {ROW(attention_forward), {{"out", F, OUT, 4, {2, 3, 2, 4}}, {"lse", F, OUT | EXACT, 3, {2, 2, 3}},
                              {"q", F, 0, 4, {2, 3, 2, 4}}, {"k", F, 0, 4, {2, 5, 2, 4}}, {"v", F, 0, 4, {2, 5, 2, 4}},
                              {"key_lengths", I, OPT, 1, {2}}}, NULL, NULL, x_attention_d},
    {ROW(attention_backward), {{"dq", F, OUT, 4, {2, 3, 2, 4}}, {"dk", F, OUT, 4, {2, 5, 2, 4}}, {"dv", F, OUT, 4, {2, 5, 2, 4}},
                               {"dout", F, 0, 4, {2, 3, 2, 4}}, {"out", F, 0, 4, {2, 3, 2, 4}},
                               {"lse", F, EXACT, 3, {2, 2, 3}}, {"q", F, 0, 4, {2, 3, 2, 4}}, {"k", F, 0, 4, {2, 5, 2, 4}},
                               {"v", F, 0, 4, {2, 5, 2, 4}}, {"key_lengths", I, OPT, 1, {2}}}, NULL, NULL, x_attention_d},
    {ROW(fake_quant_forward), {{"y", F, OUT, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}, {"scale", F, EXACT, 1, {3}},
                               {"zero_point", I, OPT, 1, {3}}}, "y=x", init_quant, x_fake_quant},
    {ROW(fake_quant_backward), {{"dx", F, OUT, 3, {2, 3, 5}}, {"dy", F, 0, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}},
                                {"scale", F, EXACT, 1, {3}}, {"zero_point", I, OPT, 1, {3}}}, "dx=dy", init_quant, x_fake_quant},
    {ROW(quant_observe), {{"range", F, OUT | EXACT, 2, {3, 2}}, {"x", F, ANYDIM, 3, {2, 3, 5}}}, NULL, NULL, x_quant_observe},
    {ROW(quant_params_from_range), {{"scale", F, OUT | EXACT, 1, {3}}, {"zero_point", I, OUT | OPT, 1, {3}},
                                    {"range", F, EXACT, 2, {3, 2}}}, NULL, init_quant, x_quant_params},
    {ROW(quantize), {{"q", HCL_U8, OUT, 3, {2, 3, 5}}, {"x", F, 0, 3, {2, 3, 5}}, {"scale", F, EXACT, 1, {3}},
                     {"zero_point", I, OPT, 1, {3}}}, NULL, init_quant, x_quantize},
    {ROW(dequantize), {{"x", F, OUT, 3, {2, 3, 5}}, {"q", HCL_U8, 0, 3, {2, 3, 5}}, {"scale", F, EXACT, 1, {3}},
                       {"zero_point", I, OPT, 1, {3}}}, NULL, NULL, x_dequantize},
    {ROW(gemm_i8), {{"c", F, OUT, 2, {4, 6}}, {"a", HCL_U8, 0, 2, {4, 5}}, {"a_scale", F, EXACT, 1, {1}},
                    {"a_zero_point", I, OPT, 1, {1}}, {"w", HCL_I8, 0, 2, {6, 5}}, {"w_scale", F, EXACT, 1, {6}},
                    {"bias", F, OPT, 1, {6}}}, NULL, NULL, x_gemm_i8},
    {ROW(conv2d_i8_forward), {{"y", F, OUT, 4, {2, 4, 5, 5}}, {"x", HCL_U8, 0, 4, {2, 3, 7, 7}}, {"x_scale", F, EXACT, 1, {1}},
                              {"x_zero_point", I, OPT, 1, {1}}, {"w", HCL_I8, 0, 4, {4, 3, 3, 3}},
                              {"w_scale", F, EXACT, 1, {4}}, {"bias", F, OPT, 1, {4}}}, NULL, NULL, x_conv2d_i8},
};
#undef F
#undef I
#undef ROW

START_TEST(ops_h) {
    matrix_begin();
    /* the reserve slots' size is only known at run time */
    op_case cases[sizeof op_cases / sizeof *op_cases];
    memcpy(cases, op_cases, sizeof cases);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (size_t i = 0; i < MAX_SLOTS && cases[c].s[i].name; i++)
            if (!strcmp(cases[c].s[i].name, "reserve")) cases[c].s[i].dims[0] = (int64_t)rnn_reserve();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) run_op(&cases[c]);

    /* the functions without tensors */
    for (size_t k = 0; k < NBAD; k++) EXPECT_NULL(hcl_activation_name((hcl_activation)bad_enums[k]));
    EXPECT_NULL(hcl_activation_name(HCL_ACT_COUNT_));
    EXPECT_VOID(hcl_gemm_desc_init(NULL));
    EXPECT_VOID(hcl_conv2d_desc_init(NULL));
    EXPECT_VOID(hcl_pool2d_desc_init(NULL, 3, 2));
    EXPECT_VOID(hcl_rnn_desc_init(NULL, HCL_RNN_GRU));
    EXPECT_VOID(hcl_attention_desc_init(NULL));
    /* output sizes: 0 for every invalid or empty case, no overflow for huge ones */
    const int64_t huge_in[] = {0, -1, INT64_MIN, INT64_MAX};
    for (size_t k = 0; k < 4; k++) {
        EXPECT_VAL(int64_t, hcl_conv2d_out_size(huge_in[k], 3, 1, 0, 1), huge_in[k] == INT64_MAX ? v_ == INT64_MAX - 2 : v_ == 0);
        EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, huge_in[k], 1, 0, 1), v_ == 0);
    }
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, 3, 0, 0, 1), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, 3, -1, 0, 1), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, 3, 1, -1, 1), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, 3, 1, 0, 0), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, 3, 1, 0, INT_MAX), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(7, INT64_MAX, 1, 0, INT_MAX), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(INT64_MAX, 1, 1, INT_MAX, 1), v_ > 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(INT64_MAX, INT64_MAX, INT_MAX, INT_MAX, INT_MAX), v_ == 0);
    EXPECT_VAL(int64_t, hcl_conv2d_out_size(INT64_MAX, INT64_MAX, 1, INT_MAX, 1), v_ > 0);
    /* reserve sizes: 0 for every invalid argument and for sizes that overflow */
    hcl_rnn_desc rd;
    hcl_rnn_desc_init(&rd, HCL_RNN_LSTM);
    EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(NULL, 2, 3, 5, HCL_F32), v_ == 0);
    const int64_t bad_sizes[] = {0, -1, INT64_MIN, INT64_MAX, (int64_t)1 << 40};
    for (size_t k = 0; k < sizeof bad_sizes / sizeof *bad_sizes; k++) {
        EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, bad_sizes[k], 3, 5, HCL_F32), v_ == 0 || bad_sizes[k] == (int64_t)1 << 40);
        EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, 2, bad_sizes[k], 5, HCL_F32), v_ == 0 || bad_sizes[k] == (int64_t)1 << 40);
        EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, 2, 3, bad_sizes[k], HCL_F32), v_ == 0 || bad_sizes[k] == (int64_t)1 << 40);
    }
    EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, INT64_MAX, INT64_MAX, INT64_MAX, HCL_F32), v_ == 0);
    EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, (int64_t)1 << 40, (int64_t)1 << 40, 5, HCL_F16), v_ == 0);
    EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, 2, 3, 5, HCL_I32), v_ == 0);
    EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, 2, 3, 5, (hcl_dtype)99), v_ == 0);
    rd.cell = (hcl_rnn_cell)7;
    EXPECT_VAL(size_t, hcl_rnn_reserve_bytes(&rd, 2, 3, 5, HCL_F32), v_ == 0);
    /* Philox: NULL arrays do nothing */
    uint32_t ctr[4] = {1, 2, 3, 4}, key[2] = {5, 6}, out[4] = {0};
    EXPECT_VOID(hcl_philox4x32_10(NULL, key, out));
    EXPECT_VOID(hcl_philox4x32_10(ctr, NULL, out));
    EXPECT_VOID(hcl_philox4x32_10(ctr, key, NULL));
    matrix_end("ops.h");
}
END_TEST

/* ================================================================ amp.h ==================== */

/* An allocated fp32 parameter set on A: "w" (3,4) and "b" (4). */
static hcl_params *small_params(hcl_precision policy) {
    hcl_params *p = NULL;
    CK(hcl_params_create(A, policy, &p));
    const int64_t w[2] = {3, 4}, b[1] = {4};
    CK(hcl_params_add(p, "w", 2, w, NULL));
    CK(hcl_params_add(p, "b", 1, b, NULL));
    CK(hcl_params_alloc(p));
    return p;
}

/* No file appeared in dir (no temp file left by a failed writer). */
static void assert_dir_empty(const char *dir, int line) {
    ck_assert_msg(test_dir_entries(dir) == 0, "line %d: a failed write left a file in %s", line, dir);
}

START_TEST(amp_h) {
    matrix_begin();
    const int bad_policy[] = {-1, HCL_PRECISION_COUNT_, INT_MAX, INT_MIN};
    hcl_precision pol = HCL_PRECISION_MIXED_BF16;
    for (size_t k = 0; k < 4; k++) {
        hcl_precision bp = (hcl_precision)bad_policy[k];
        EXPECT_NULL(hcl_precision_name(bp));
        EXPECT_VAL(hcl_dtype, hcl_precision_compute_dtype(bp), v_ == HCL_F32);
        EXPECT_VAL(hcl_dtype, hcl_precision_grad_dtype(bp), v_ == HCL_F32);
        EXPECT_VAL(int, hcl_precision_has_master(bp), v_ == 0);
    }
    EXPECT_STATUS(NULL, hcl_precision_parse(NULL, &pol), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_precision_parse("fp32", NULL), HCL_ERR_NULL_POINTER);
    const char *bad_names[] = {"", "FP32", "mixed", "fp32 ", "bf16"};
    for (size_t k = 0; k < sizeof bad_names / sizeof *bad_names; k++)
        EXPECT_STATUS(NULL, hcl_precision_parse(bad_names[k], &pol), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pol, HCL_PRECISION_MIXED_BF16);

    /* parameter sets */
    hcl_params *p = (hcl_params *)&p;
    EXPECT_STATUS(NULL, hcl_params_create(NULL, HCL_PRECISION_FP32, &p), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_create(A, HCL_PRECISION_FP32, NULL), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 4; k++)
        EXPECT_STATUS(A, hcl_params_create(A, (hcl_precision)bad_policy[k], &p), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    EXPECT_VOID(hcl_params_free(NULL));

    hcl_params *d = NULL; /* declared, not allocated */
    CK(hcl_params_create(A, HCL_PRECISION_MIXED_F16, &d));
    const int64_t s34[2] = {3, 4};
    size_t idx = 77;
    EXPECT_STATUS(NULL, hcl_params_add(NULL, "w", 2, s34, &idx), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_add(d, NULL, 2, s34, &idx), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_add(d, "w", 2, NULL, &idx), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_add(d, "", 2, s34, &idx), HCL_ERR_INVALID_ARGUMENT);
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    EXPECT_STATUS(A, hcl_params_add(d, long_name, 2, s34, &idx), HCL_ERR_INVALID_ARGUMENT);
    const int bad_prank[] = {0, -1, HCL_MAX_RANK + 1, INT_MIN};
    const int64_t dims9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_params_add(d, "w", bad_prank[k], dims9, &idx), HCL_ERR_SHAPE);
    const int64_t bad_dims[][2] = {{0, 4}, {3, -1}, {INT64_MIN, 4}};
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_params_add(d, "w", 2, bad_dims[k], &idx), HCL_ERR_SHAPE);
    const int64_t huge[][2] = {{INT64_MAX, 1}, {INT64_MAX, INT64_MAX}, {(int64_t)1 << 40, (int64_t)1 << 40}};
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_params_add(d, "w", 2, huge[k], &idx), HCL_ERR_OVERFLOW);
    ck_assert_uint_eq(idx, 77);
    CK(hcl_params_add(d, "w", 2, s34, NULL));
    EXPECT_STATUS(A, hcl_params_add(d, "w", 2, s34, &idx), HCL_ERR_INVALID_ARGUMENT); /* declared twice */
    /* two declarations that fit one by one but not together; then more than the device holds */
    const int64_t big[1] = {(int64_t)1 << 60};
    CK(hcl_params_add(d, "big", 1, big, NULL));
    EXPECT_STATUS(A, hcl_params_add(d, "big2", 1, big, &idx), HCL_ERR_OVERFLOW);
    ck_assert_uint_eq(hcl_params_count(d), 2);
    hcl_memory_stats m0, m1;
    hcl_memory_stats_get(A, &m0);
    EXPECT_STATUS(A, hcl_params_alloc(d), HCL_ERR_DEVICE_MEMORY);
    hcl_memory_stats_get(A, &m1);
    ck_assert_uint_eq(m1.current_bytes, m0.current_bytes);
    EXPECT_STATUS(NULL, hcl_params_alloc(NULL), HCL_ERR_NULL_POINTER);
    hcl_params *empty = NULL;
    CK(hcl_params_create(A, HCL_PRECISION_FP32, &empty));
    EXPECT_STATUS(A, hcl_params_alloc(empty), HCL_ERR_INVALID_ARGUMENT);

    /* accessors: NULL, out-of-range indices, not yet allocated */
    EXPECT_VAL(hcl_precision, hcl_params_policy(NULL), v_ == HCL_PRECISION_FP32);
    EXPECT_NULL(hcl_params_context(NULL));
    EXPECT_VAL(size_t, hcl_params_count(NULL), v_ == 0);
    EXPECT_VAL(size_t, hcl_params_numel(NULL), v_ == 0);
    EXPECT_VAL(size_t, hcl_params_arena_numel(NULL), v_ == 0);
    EXPECT_VAL(size_t, hcl_params_arena_numel(d), v_ == 0);
    p = small_params(HCL_PRECISION_MIXED_F16);
    EXPECT_STATUS(A, hcl_params_alloc(p), HCL_ERR_INVALID_ARGUMENT); /* twice */
    EXPECT_STATUS(A, hcl_params_add(p, "late", 2, s34, &idx), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_params_find(NULL, "w", &idx), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_find(p, NULL, &idx), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_find(p, "w", NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_find(p, "nope", &idx), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_params_find(p, "", &idx), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(idx, 77);
    const size_t bad_index[] = {2, 99, SIZE_MAX};
    for (size_t k = 0; k < 3; k++) {
        size_t i = bad_index[k];
        EXPECT_NULL(hcl_params_name(p, i));
        EXPECT_VAL(size_t, hcl_params_offset(p, i), v_ == 0);
        EXPECT_NULL(hcl_params_weight(p, i));
        EXPECT_NULL(hcl_params_grad(p, i));
        EXPECT_NULL(hcl_params_master(p, i));
    }
    EXPECT_NULL(hcl_params_name(NULL, 0));
    EXPECT_VAL(size_t, hcl_params_offset(NULL, 0), v_ == 0);
    EXPECT_NULL(hcl_params_weight(NULL, 0));
    EXPECT_NULL(hcl_params_grad(NULL, 0));
    EXPECT_NULL(hcl_params_master(NULL, 0));
    EXPECT_NULL(hcl_params_weight(d, 0)); /* not allocated */
    EXPECT_NULL(hcl_params_weight_arena(NULL));
    EXPECT_NULL(hcl_params_grad_arena(NULL));
    EXPECT_NULL(hcl_params_master_arena(NULL));
    EXPECT_NULL(hcl_params_weight_arena(d));
    EXPECT_NULL(hcl_params_grad_arena(d));
    EXPECT_NULL(hcl_params_master_arena(d));
    EXPECT_NULL(hcl_params_master_arena(empty));

    /* queued and blocking parameter calls: NULL, not allocated, bad index, wrong counts */
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_grad_arena(p));
    watch(hcl_params_master_arena(p));
    EXPECT_STATUS(NULL, hcl_params_zero_grad(NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_zero_grad(d), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_params_sync_weights(NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_sync_weights(d), HCL_ERR_INVALID_ARGUMENT);
    float host[12] = {0};
    EXPECT_STATUS(NULL, hcl_params_upload(NULL, 0, host, 12), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_upload(d, 0, host, 12), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_params_upload(p, 0, NULL, 12), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_params_download(NULL, 0, host, 12), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_download(d, 0, host, 12), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_params_download(p, 0, NULL, 12), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 3; k++) {
        EXPECT_STATUS(A, hcl_params_upload(p, bad_index[k], host, 12), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_STATUS(A, hcl_params_download(p, bad_index[k], host, 12), HCL_ERR_INVALID_ARGUMENT);
    }
    const size_t bad_counts[] = {0, 4, 11, 13, SIZE_MAX};
    for (size_t k = 0; k < 5; k++) {
        EXPECT_STATUS(A, hcl_params_upload(p, 0, host, bad_counts[k]), HCL_ERR_SHAPE);
        EXPECT_STATUS(A, hcl_params_download(p, 0, host, bad_counts[k]), HCL_ERR_SHAPE);
    }

    /* init: NULL, index, kind, bad values of the descriptor */
    hcl_init ini = hcl_init_uniform(-1.0f, 1.0f);
    EXPECT_STATUS(NULL, hcl_params_init(NULL, 0, &ini, 1), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_init(d, 0, &ini, 1), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_params_init(p, 0, NULL, 1), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_params_init(p, bad_index[k], &ini, 1), HCL_ERR_INVALID_ARGUMENT);
    hcl_init bad_init[] = {hcl_init_uniform(NAN, 1.0f), hcl_init_uniform(-INFINITY, 1.0f), hcl_init_normal(0.0f, -1.0f),
                           hcl_init_normal(NAN, 1.0f), hcl_init_he(0), hcl_init_xavier(1), ini, ini};
    bad_init[4].gain = NAN;
    bad_init[5].gain = INFINITY;
    bad_init[6].kind = (hcl_init_kind)99;
    bad_init[7].kind = (hcl_init_kind)-1;
    for (size_t k = 0; k < sizeof bad_init / sizeof *bad_init; k++)
        EXPECT_STATUS(A, hcl_params_init(p, 0, &bad_init[k], 1), HCL_ERR_INVALID_ARGUMENT);
    /* the descriptor constructors take any value (the init call checks them) */
    EXPECT_VAL(hcl_init, hcl_init_constant(NAN), v_.kind == HCL_INIT_CONSTANT);
    EXPECT_VAL(hcl_init, hcl_init_uniform(INFINITY, -INFINITY), v_.kind == HCL_INIT_UNIFORM);
    EXPECT_VAL(hcl_init, hcl_init_normal(NAN, -1.0f), v_.kind == HCL_INIT_NORMAL);
    EXPECT_VAL(hcl_init, hcl_init_he(-7), v_.kind == HCL_INIT_HE_NORMAL);
    EXPECT_VAL(hcl_init, hcl_init_xavier(INT_MIN), v_.kind == HCL_INIT_XAVIER_NORMAL);
    /* fans: NULL shape and outputs, bad ranks, huge dims (saturate, no overflow) */
    int64_t fi = -5, fo = -5;
    const int64_t huge3[3] = {INT64_MAX, INT64_MAX, INT64_MAX};
    EXPECT_VOID(hcl_init_fans(2, NULL, &fi, &fo));
    ck_assert(fi == 1 && fo == 1);
    EXPECT_VOID(hcl_init_fans(2, s34, NULL, NULL));
    EXPECT_VOID(hcl_init_fans(-1, s34, &fi, &fo));
    EXPECT_VOID(hcl_init_fans(INT_MIN, s34, &fi, &fo));
    EXPECT_VOID(hcl_init_fans(3, huge3, &fi, &fo));
    ck_assert(fi == INT64_MAX && fo == INT64_MAX);
    /* huge fans in a descriptor: a tiny bound, no overflow (a valid call) */
    hcl_init huge_fans = hcl_init_xavier(0);
    huge_fans.fan_in = huge_fans.fan_out = INT64_MAX;
    unwatch_all();
    CK(hcl_params_init(p, 0, &huge_fans, 1));
    CK(hcl_finish(A));
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_grad_arena(p));
    watch(hcl_params_master_arena(p));

    /* configs */
    EXPECT_VOID(hcl_scaler_config_init(NULL, HCL_PRECISION_MIXED_F16));
    hcl_scaler_config sc;
    EXPECT_VOID(hcl_scaler_config_init(&sc, (hcl_precision)99));
    ck_assert_int_eq(sc.mode, HCL_SCALER_OFF);
    EXPECT_VOID(hcl_optim_config_init(NULL, HCL_OPTIM_ADAM));
    hcl_optim_config oc_bad;
    EXPECT_VOID(hcl_optim_config_init(&oc_bad, (hcl_optim_kind)99));
    const int bad_kind[] = {-1, HCL_OPTIM_COUNT_, INT_MAX, INT_MIN};
    for (size_t k = 0; k < 4; k++) EXPECT_NULL(hcl_optim_name((hcl_optim_kind)bad_kind[k]));

    /* optimizer creation: NULLs, unallocated parameters, every bad config and scaler field */
    hcl_optimizer *o = (hcl_optimizer *)&o;
    hcl_optim_config cfg;
    hcl_optim_config_init(&cfg, HCL_OPTIM_ADAM);
    EXPECT_STATUS(NULL, hcl_optimizer_create(NULL, &cfg, NULL, &o), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_optimizer_create(p, NULL, NULL, &o), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_optimizer_create(p, &cfg, NULL, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_optimizer_create(d, &cfg, NULL, &o), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(o);
#define BAD_CFG(kind, stmt)                                                              \
    do {                                                                                 \
        hcl_optim_config c_;                                                             \
        hcl_optim_config_init(&c_, kind);                                                \
        stmt;                                                                            \
        EXPECT_STATUS(A, hcl_optimizer_create(p, &c_, NULL, &o), HCL_ERR_INVALID_ARGUMENT); \
    } while (0)
    for (size_t k = 0; k < 4; k++) BAD_CFG(HCL_OPTIM_SGD, c_.kind = (hcl_optim_kind)bad_kind[k]);
    BAD_CFG(HCL_OPTIM_SGD, c_.weight_decay = -1.0f);
    BAD_CFG(HCL_OPTIM_SGD, c_.weight_decay = NAN);
    BAD_CFG(HCL_OPTIM_SGD, c_.max_grad_norm = -1.0f);
    BAD_CFG(HCL_OPTIM_SGD, c_.max_grad_norm = INFINITY);
    BAD_CFG(HCL_OPTIM_SGD, c_.momentum = -0.5f);
    BAD_CFG(HCL_OPTIM_SGD, c_.dampening = 2.0f);
    BAD_CFG(HCL_OPTIM_SGD, c_.nesterov = 1);
    BAD_CFG(HCL_OPTIM_SGD, (c_.nesterov = 1, c_.momentum = 0.9f, c_.dampening = 0.1f));
    BAD_CFG(HCL_OPTIM_ADAM, c_.beta1 = 1.0f);
    BAD_CFG(HCL_OPTIM_ADAM, c_.beta2 = -0.1f);
    BAD_CFG(HCL_OPTIM_ADAMW, c_.beta1 = NAN);
    BAD_CFG(HCL_OPTIM_ADAMW, c_.eps = -1e-8f);
    BAD_CFG(HCL_OPTIM_RMSPROP, c_.alpha = 1.5f);
    BAD_CFG(HCL_OPTIM_RMSPROP, c_.eps = INFINITY);
    BAD_CFG(HCL_OPTIM_RMSPROP, c_.momentum = NAN);
    BAD_CFG(HCL_OPTIM_ADAGRAD, c_.lr_decay = -1.0f);
    BAD_CFG(HCL_OPTIM_ADAGRAD, c_.initial_accumulator_value = -1.0f);
    BAD_CFG(HCL_OPTIM_ADAGRAD, c_.eps = NAN);
    BAD_CFG(HCL_OPTIM_ADAM, c_.state_dtype = HCL_F16);
    BAD_CFG(HCL_OPTIM_ADAM, c_.state_dtype = HCL_I32);
    BAD_CFG(HCL_OPTIM_ADAM, c_.state_dtype = HCL_U8);
    BAD_CFG(HCL_OPTIM_ADAM, c_.state_dtype = (hcl_dtype)99);
    BAD_CFG(HCL_OPTIM_SGD, (c_.momentum = 0.9f, c_.state_dtype = (hcl_dtype)-1));
    BAD_CFG(HCL_OPTIM_ADAM, (c_.state_dtype = HCL_BF16, c_.state_rounding = (hcl_state_rounding)2));
    BAD_CFG(HCL_OPTIM_ADAM, c_.state_rounding = (hcl_state_rounding)-1);
#undef BAD_CFG
#define BAD_SCALER(stmt)                                                                   \
    do {                                                                                   \
        hcl_scaler_config s_;                                                              \
        hcl_scaler_config_init(&s_, HCL_PRECISION_MIXED_F16);                              \
        stmt;                                                                              \
        EXPECT_STATUS(A, hcl_optimizer_create(p, &cfg, &s_, &o), HCL_ERR_INVALID_ARGUMENT); \
    } while (0)
    BAD_SCALER(s_.mode = (hcl_scaler_mode)99);
    BAD_SCALER(s_.mode = (hcl_scaler_mode)-1);
    BAD_SCALER(s_.init_scale = 0.0f);
    BAD_SCALER(s_.init_scale = -1.0f);
    BAD_SCALER(s_.init_scale = INFINITY);
    BAD_SCALER(s_.init_scale = NAN);
    BAD_SCALER(s_.growth_factor = 0.5f);
    BAD_SCALER(s_.backoff_factor = 0.0f);
    BAD_SCALER(s_.backoff_factor = 1.5f);
    BAD_SCALER(s_.growth_interval = 0);
    BAD_SCALER(s_.min_scale = 1e9f);
    BAD_SCALER(s_.max_scale = INFINITY);
    BAD_SCALER(s_.min_scale = 0.0f);
#undef BAD_SCALER
    ck_assert_ptr_null(o);
    EXPECT_VOID(hcl_optimizer_free(NULL));

    unwatch_all();
    CK(hcl_optimizer_create(p, &cfg, NULL, &o));
    CK(hcl_finish(A));
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_grad_arena(p));
    watch(hcl_params_master_arena(p));
    for (size_t s = 0; s < hcl_optimizer_state_count(o); s++) watch(hcl_optimizer_state(o, s));
    watch(hcl_optimizer_grad_scale(o));
    EXPECT_NULL(hcl_optimizer_grad_scale(NULL));
    EXPECT_NULL(hcl_optimizer_params(NULL));
    EXPECT_NULL(hcl_optimizer_config(NULL));
    EXPECT_VAL(size_t, hcl_optimizer_state_count(NULL), v_ == 0);
    EXPECT_VAL(uint64_t, hcl_optimizer_host_step(NULL), v_ == 0);
    EXPECT_NULL(hcl_optimizer_state_name(NULL, 0));
    EXPECT_NULL(hcl_optimizer_state(NULL, 0));
    for (size_t k = 0; k < 3; k++) {
        EXPECT_NULL(hcl_optimizer_state_name(o, bad_index[k]));
        EXPECT_NULL(hcl_optimizer_state(o, bad_index[k]));
    }
    EXPECT_STATUS(NULL, hcl_optimizer_step(NULL, 0.1f), HCL_ERR_NULL_POINTER);
    const float bad_lr[] = {-0.1f, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_optimizer_step(o, bad_lr[k]), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(hcl_optimizer_host_step(o), 0);
    hcl_amp_stats stats;
    EXPECT_STATUS(NULL, hcl_optimizer_read_stats(NULL, &stats), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_optimizer_read_stats(o, NULL), HCL_ERR_NULL_POINTER);

    /* masks: NULL optimizer, wrong dtype, wrong element count, another context's tensor */
    EXPECT_NULL(hcl_optimizer_mask(NULL));
    EXPECT_NULL(hcl_optimizer_mask(o));
    {
        int64_t an = (int64_t)hcl_params_arena_numel(p), an1 = an + 1, an_1 = an - 1;
        hcl_tensor *m_ok = NULL, *m_f32 = NULL, *m_long = NULL, *m_short = NULL, *m_other = NULL, *m_i32 = NULL;
        CK(hcl_tensor_create(A, HCL_U8, 1, &an, &m_ok));
        CK(hcl_tensor_create(A, HCL_F32, 1, &an, &m_f32));
        CK(hcl_tensor_create(A, HCL_I32, 1, &an, &m_i32));
        CK(hcl_tensor_create(A, HCL_U8, 1, &an1, &m_long));
        if (an_1 > 0) CK(hcl_tensor_create(A, HCL_U8, 1, &an_1, &m_short));
        CK_OK(B, hcl_tensor_create(B, HCL_U8, 1, &an, &m_other));
        CK(hcl_tensor_fill(m_ok, 0.0));
        CK(hcl_finish(A));
        EXPECT_STATUS(NULL, hcl_optimizer_set_mask(NULL, m_ok), HCL_ERR_NULL_POINTER);
        EXPECT_STATUS(A, hcl_optimizer_set_mask(o, m_f32), HCL_ERR_DTYPE);
        EXPECT_STATUS(A, hcl_optimizer_set_mask(o, m_i32), HCL_ERR_DTYPE);
        EXPECT_STATUS(A, hcl_optimizer_set_mask(o, m_long), HCL_ERR_SHAPE);
        if (m_short) EXPECT_STATUS(A, hcl_optimizer_set_mask(o, m_short), HCL_ERR_SHAPE);
        EXPECT_STATUS(A, hcl_optimizer_set_mask(o, m_other), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_NULL(hcl_optimizer_mask(o));
        hcl_tensor_free(m_ok);
        hcl_tensor_free(m_f32);
        hcl_tensor_free(m_i32);
        hcl_tensor_free(m_long);
        hcl_tensor_free(m_short);
        hcl_tensor_free(m_other);
    }

    /* learning-rate schedules: NULL, huge and negative steps, odd schedules stay finite */
    EXPECT_VOID(hcl_lr_schedule_init(NULL, 0.1f));
    EXPECT_VAL(float, hcl_lr_at(NULL, 5), v_ == 0.0f);
    hcl_lr_schedule ls;
    hcl_lr_schedule_init(&ls, 0.1f);
    const int64_t steps[] = {INT64_MIN, -1, INT64_MAX};
    const int64_t odd[] = {INT64_MIN, -1, 0, INT64_MAX};
    for (int decay = -1; decay <= HCL_LR_LINEAR + 1; decay++)
        for (size_t w = 0; w < 4; w++)
            for (size_t k = 0; k < 3; k++) {
                hcl_lr_schedule_init(&ls, 0.1f);
                ls.decay = (hcl_lr_decay)decay;
                ls.warmup_steps = odd[w];
                ls.step_size = odd[(w + 1) % 4];
                ls.decay_steps = odd[(w + 2) % 4];
                EXPECT_VAL(float, hcl_lr_at(&ls, steps[k]), isfinite(v_) && v_ >= 0.0f);
            }

    /* checkpoints and exports: NULLs, reserved or NULL metadata, unwritable paths, bad dtypes */
    char *dir = test_make_tmpdir("matrix-amp");
    char *ck = test_path_in(dir, "ck.safetensors"), *nodir = test_path_in(dir, "missing/ck.safetensors");
    hcl_checkpoint_meta meta_ok = {"note", "x"}, meta_nullkey = {NULL, "x"}, meta_nullval = {"k", NULL},
                        meta_reserved = {"halfcl.policy", "fp32"};
    hcl_checkpoint_extra ex = {0};
    EXPECT_STATUS(NULL, hcl_checkpoint_save(NULL, ck, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_checkpoint_save(o, NULL, NULL), HCL_ERR_NULL_POINTER);
    ex.meta_count = 2;
    EXPECT_STATUS(A, hcl_checkpoint_save(o, ck, &ex), HCL_ERR_NULL_POINTER);
    ex.meta_count = 1;
    ex.meta = &meta_nullkey;
    EXPECT_STATUS(A, hcl_checkpoint_save(o, ck, &ex), HCL_ERR_NULL_POINTER);
    ex.meta = &meta_nullval;
    EXPECT_STATUS(A, hcl_checkpoint_save(o, ck, &ex), HCL_ERR_NULL_POINTER);
    ex.meta = &meta_reserved;
    EXPECT_STATUS(A, hcl_checkpoint_save(o, ck, &ex), HCL_ERR_INVALID_ARGUMENT);
    ex.meta = &meta_ok;
    EXPECT_STATUS(A, hcl_checkpoint_save(o, nodir, &ex), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_checkpoint_save(o, dir, &ex), HCL_ERR_IO); /* a folder */
    EXPECT_STATUS(A, hcl_checkpoint_save(o, "", &ex), HCL_ERR_IO);
    assert_dir_empty(dir, __LINE__);
    EXPECT_STATUS(NULL, hcl_params_export(NULL, ck, HCL_F16, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_export(p, NULL, HCL_F16, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_export(d, ck, HCL_F16, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_params_export(p, ck, HCL_I32, NULL, 0), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_params_export(p, ck, (hcl_dtype)99, NULL, 0), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_params_export(p, ck, HCL_F16, NULL, 3), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_export(p, ck, HCL_F16, &meta_nullkey, 1), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_export(p, ck, HCL_F16, &meta_reserved, 1), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_params_export(p, nodir, HCL_F16, NULL, 0), HCL_ERR_IO);
    assert_dir_empty(dir, __LINE__);
    /* loading: NULL, missing, not a checkpoint, another optimizer, other parameters, truncated */
    EXPECT_STATUS(NULL, hcl_checkpoint_load(NULL, ck, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_checkpoint_load(o, NULL, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_checkpoint_load(o, ck, NULL), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_checkpoint_load(o, dir, NULL), -1);
    char *junk = test_path_in(dir, "junk.safetensors");
    test_write_file(junk, "not a checkpoint at all", 23);
    EXPECT_STATUS(A, hcl_checkpoint_load(o, junk, NULL), HCL_ERR_FORMAT);
    /* a plain export is a safetensors file but not a checkpoint */
    unwatch_all();
    CK(hcl_params_export(p, ck, HCL_F32, NULL, 0));
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_master_arena(p));
    for (size_t s = 0; s < hcl_optimizer_state_count(o); s++) watch(hcl_optimizer_state(o, s));
    EXPECT_STATUS(A, hcl_checkpoint_load(o, ck, &ex), HCL_ERR_FORMAT);
    /* checkpoints of an SGD optimizer, and of other parameters */
    hcl_optim_config sgd;
    hcl_optim_config_init(&sgd, HCL_OPTIM_SGD);
    hcl_params *p2 = small_params(HCL_PRECISION_MIXED_F16), *p3 = NULL;
    hcl_optimizer *o2 = NULL, *o3 = NULL;
    CK(hcl_optimizer_create(p2, &sgd, NULL, &o2));
    char *ck_sgd = test_path_in(dir, "sgd.safetensors"), *ck_other = test_path_in(dir, "other.safetensors");
    CK(hcl_checkpoint_save(o2, ck_sgd, NULL));
    CK(hcl_params_create(A, HCL_PRECISION_MIXED_F16, &p3));
    const int64_t s35[2] = {3, 5}, s4[1] = {4};
    CK(hcl_params_add(p3, "w", 2, s35, NULL));
    CK(hcl_params_add(p3, "b", 1, s4, NULL));
    CK(hcl_params_alloc(p3));
    CK(hcl_optimizer_create(p3, &cfg, NULL, &o3));
    CK(hcl_checkpoint_save(o3, ck_other, NULL));
    CK(hcl_finish(A));
    EXPECT_STATUS(A, hcl_checkpoint_load(o, ck_sgd, &ex), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_checkpoint_load(o, ck_other, &ex), HCL_ERR_SHAPE);
    size_t n = 0;
    unsigned char *bytes = test_read_bytes(ck_other, &n);
    test_write_file(junk, bytes, n / 2);
    free(bytes);
    EXPECT_STATUS(A, hcl_checkpoint_load(o, junk, &ex), HCL_ERR_FORMAT);
    ck_assert_uint_eq(hcl_optimizer_host_step(o), 0);
    ck_assert(ex.rng_seed == 0 && ex.rng_offset == 0);

    unwatch_all();
    hcl_optimizer_free(o);
    hcl_optimizer_free(o2);
    hcl_optimizer_free(o3);
    hcl_params_free(p);
    hcl_params_free(p2);
    hcl_params_free(p3);
    hcl_params_free(d);
    hcl_params_free(empty);
    test_rm_rf(dir);
    free(ck);
    free(nodir);
    free(junk);
    free(ck_sgd);
    free(ck_other);
    free(dir);
    matrix_end("amp.h");
}
END_TEST

/* amp.h, compression section (issue 11): pruning and weight sharing */
START_TEST(amp_compression_h) {
    matrix_begin();
    hcl_params *p = NULL;
    CK(hcl_params_create(A, HCL_PRECISION_MIXED_F16, &p));
    const int64_t w[2] = {4, 3}, b4[1] = {4}, b5[1] = {5};
    CK(hcl_params_add(p, "w", 2, w, NULL));
    CK(hcl_params_add(p, "b", 1, b4, NULL));
    CK(hcl_params_add(p, "c", 1, b5, NULL));
    CK(hcl_params_alloc(p));
    hcl_params *d = NULL; /* declared, not allocated */
    CK(hcl_params_create(A, HCL_PRECISION_FP32, &d));
    CK(hcl_params_add(d, "w", 2, w, NULL));
    hcl_optim_config oc;
    hcl_optim_config_init(&oc, HCL_OPTIM_ADAM);
    hcl_optimizer *o = NULL;
    CK(hcl_optimizer_create(p, &oc, NULL, &o));
    float vals[12] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12};
    CK(hcl_params_upload(p, 0, vals, 12));
    CK(hcl_finish(A));
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_master_arena(p));
    watch(hcl_params_grad_arena(p));
    for (size_t s = 0; s < hcl_optimizer_state_count(o); s++) watch(hcl_optimizer_state(o, s));

    /* pruning configs and pruners */
    EXPECT_VOID(hcl_prune_config_init(NULL, 0.5f));
    hcl_prune_config c;
    hcl_prune_config_init(&c, 0.5f);
    hcl_pruner *pr = (hcl_pruner *)&pr;
    EXPECT_STATUS(NULL, hcl_pruner_create(NULL, &c, &pr), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_pruner_create(o, NULL, &pr), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_pruner_create(o, &c, NULL), HCL_ERR_NULL_POINTER);
#define BAD_PRUNE(stmt)                                                                  \
    do {                                                                                 \
        hcl_prune_config b_ = c;                                                         \
        stmt;                                                                            \
        EXPECT_STATUS(A, hcl_pruner_create(o, &b_, &pr), HCL_ERR_INVALID_ARGUMENT);      \
    } while (0)
    for (size_t k = 0; k < NBAD; k++) BAD_PRUNE(b_.kind = (hcl_prune_kind)bad_enums[k]);
    for (size_t k = 0; k < NBAD; k++) BAD_PRUNE(b_.scope = (hcl_prune_scope)bad_enums[k]);
    BAD_PRUNE(b_.target_sparsity = -0.1f);
    BAD_PRUNE(b_.target_sparsity = 1.1f);
    BAD_PRUNE(b_.target_sparsity = NAN);
    BAD_PRUNE(b_.initial_sparsity = 0.7f);
    BAD_PRUNE(b_.initial_sparsity = NAN);
    BAD_PRUNE(b_.begin_step = -1);
    BAD_PRUNE(b_.begin_step = INT64_MIN);
    BAD_PRUNE((b_.begin_step = 10, b_.end_step = 9));
    BAD_PRUNE(b_.frequency = 0);
    BAD_PRUNE(b_.frequency = INT64_MIN);
#undef BAD_PRUNE
    ck_assert_ptr_null(pr);
    EXPECT_VOID(hcl_pruner_free(NULL));
    EXPECT_VAL(float, hcl_pruner_target_at(NULL, 5), v_ == 0.0f);
    CK(hcl_pruner_create(o, &c, &pr));
    const size_t bad_index[] = {3, 99, SIZE_MAX};
    EXPECT_STATUS(NULL, hcl_pruner_add(NULL, 0, SIZE_MAX), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_pruner_add(pr, bad_index[k], SIZE_MAX), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_pruner_add(pr, 0, 1), HCL_ERR_INVALID_ARGUMENT); /* unstructured takes no bias */
    CK(hcl_pruner_add(pr, 0, SIZE_MAX));
    EXPECT_STATUS(A, hcl_pruner_add(pr, 0, SIZE_MAX), HCL_ERR_INVALID_ARGUMENT); /* twice */
    EXPECT_STATUS(NULL, hcl_pruner_update(NULL, 0), HCL_ERR_NULL_POINTER);
    const int64_t huge_steps[] = {INT64_MIN, -1, INT64_MAX};
    for (size_t k = 0; k < 3; k++) EXPECT_VAL(float, hcl_pruner_target_at(pr, huge_steps[k]), v_ >= 0.0f && v_ <= 0.5f);
    hcl_pruner_free(pr);
    /* gradual schedule at extreme steps: finite, within [0, target] */
    c.begin_step = 0;
    c.end_step = INT64_MAX;
    c.frequency = INT64_MAX;
    c.initial_sparsity = 0.1f;
    CK(hcl_pruner_create(o, &c, &pr));
    for (size_t k = 0; k < 3; k++) EXPECT_VAL(float, hcl_pruner_target_at(pr, huge_steps[k]), v_ >= 0.0f && v_ <= 0.5f);
    hcl_pruner_free(pr);
    c.kind = HCL_PRUNE_CHANNELS;
    c.end_step = 0;
    c.initial_sparsity = 0.0f;
    CK(hcl_pruner_create(o, &c, &pr));
    EXPECT_STATUS(A, hcl_pruner_add(pr, 1, SIZE_MAX), HCL_ERR_SHAPE);       /* rank 1 weight */
    EXPECT_STATUS(A, hcl_pruner_add(pr, 0, 2), HCL_ERR_SHAPE);              /* bias of 5 for 4 channels */
    EXPECT_STATUS(A, hcl_pruner_add(pr, 0, 0), HCL_ERR_INVALID_ARGUMENT);   /* the weight as its bias */
    for (size_t k = 0; k < 2; k++) EXPECT_STATUS(A, hcl_pruner_add(pr, 0, bad_index[k]), HCL_ERR_INVALID_ARGUMENT);
    hcl_pruner_free(pr);

    /* sparsity */
    double sp = -1;
    EXPECT_STATUS(NULL, hcl_params_sparsity(NULL, 0, &sp), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_sparsity(p, 0, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_params_sparsity(d, 0, &sp), HCL_ERR_INVALID_ARGUMENT);
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_params_sparsity(p, bad_index[k], &sp), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(sp == -1);

    /* weight sharing */
    hcl_weight_share *s = (hcl_weight_share *)&s;
    EXPECT_STATUS(NULL, hcl_weight_share_create(NULL, &s), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_weight_share_create(o, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_VOID(hcl_weight_share_free(NULL));
    EXPECT_NULL(hcl_weight_share_indices(NULL, 0));
    EXPECT_NULL(hcl_weight_share_codebook(NULL, 0));
    CK(hcl_weight_share_create(o, &s));
    EXPECT_STATUS(NULL, hcl_weight_share_add(NULL, 0, 4), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_weight_share_add(s, bad_index[k], 4), HCL_ERR_INVALID_ARGUMENT);
    const int bad_bits[] = {-1, 0, 1, 9, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof bad_bits / sizeof *bad_bits; k++)
        EXPECT_STATUS(A, hcl_weight_share_add(s, 0, bad_bits[k]), HCL_ERR_INVALID_ARGUMENT);
    for (size_t k = 0; k < 3; k++) {
        EXPECT_NULL(hcl_weight_share_indices(s, bad_index[k]));
        EXPECT_NULL(hcl_weight_share_codebook(s, bad_index[k]));
    }
    EXPECT_NULL(hcl_weight_share_indices(s, 0)); /* not shared (yet) */
    /* non-finite weights cannot be clustered: nothing written */
    unwatch_all();
    float nanv[4] = {1, NAN, 2, 3};
    CK(hcl_params_upload(p, 1, nanv, 4));
    CK(hcl_finish(A));
    watch(hcl_params_weight_arena(p)); /* (watching the masters would overwrite the NaN) */
    EXPECT_STATUS(A, hcl_weight_share_add(s, 1, 2), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_NULL(hcl_weight_share_codebook(s, 1));
    EXPECT_STATUS(NULL, hcl_weight_share_step(NULL, 0.1f), HCL_ERR_NULL_POINTER);
    const float bad_lr[] = {-0.1f, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_weight_share_step(s, bad_lr[k]), HCL_ERR_INVALID_ARGUMENT);
    unwatch_all();
    CK(hcl_weight_share_add(s, 0, 2));
    CK(hcl_finish(A));
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_master_arena(p));
    watch(hcl_weight_share_codebook(s, 0));
    EXPECT_STATUS(A, hcl_weight_share_add(s, 0, 3), HCL_ERR_INVALID_ARGUMENT); /* twice */
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_weight_share_step(s, bad_lr[k]), HCL_ERR_INVALID_ARGUMENT);
    /* the sharing state beside a checkpoint: NULLs, unwritable paths, missing or foreign files, a
     * share object already sharing; nothing written, nothing shared */
    char *sdir = test_make_tmpdir("matrix-share");
    char *sf = test_path_in(sdir, "share.safetensors"), *smiss = test_path_in(sdir, "missing/share.safetensors");
    EXPECT_STATUS(NULL, hcl_weight_share_save(NULL, sf), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_weight_share_save(s, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_weight_share_save(s, smiss), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_weight_share_save(s, sdir), HCL_ERR_IO); /* a folder */
    EXPECT_STATUS(A, hcl_weight_share_save(s, ""), HCL_ERR_IO);
    assert_dir_empty(sdir, __LINE__);
    hcl_weight_share *s2 = NULL;
    CK(hcl_weight_share_create(o, &s2));
    EXPECT_STATUS(NULL, hcl_weight_share_load(NULL, sf), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_weight_share_load(s2, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_weight_share_load(s2, sf), HCL_ERR_IO); /* missing */
    EXPECT_STATUS(A, hcl_weight_share_load(s2, sdir), -1);
    test_write_file(sf, "not a share file", 16);
    EXPECT_STATUS(A, hcl_weight_share_load(s2, sf), HCL_ERR_FORMAT);
    unwatch_all();
    CK(hcl_params_export(p, sf, HCL_F32, NULL, 0)); /* safetensors, not a share file */
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_master_arena(p));
    EXPECT_STATUS(A, hcl_weight_share_load(s2, sf), HCL_ERR_FORMAT);
    EXPECT_NULL(hcl_weight_share_codebook(s2, 0));
    unwatch_all();
    CK(hcl_weight_share_save(s, sf));
    watch(hcl_params_weight_arena(p));
    watch(hcl_params_master_arena(p));
    EXPECT_STATUS(A, hcl_weight_share_load(s, sf), HCL_ERR_INVALID_ARGUMENT); /* already sharing */
    unwatch_all();
    hcl_weight_share_free(s2);
    test_rm_rf(sdir);
    free(sf);
    free(smiss);
    free(sdir);
    hcl_weight_share_free(s);
    hcl_optimizer_free(o);
    hcl_params_free(p);
    hcl_params_free(d);
    matrix_end("amp.h (compression)");
}
END_TEST

/* ================================================================ io.h ===================== */

/* The file readers: NULL arguments, a missing file, a folder, an empty file and garbage. Each
 * must fail with HCL_ERR_IO or HCL_ERR_FORMAT (any error for the folder) and leave *out NULL. */
typedef hcl_status (*reader_fn)(hcl_context *ctx, const char *path, void **out);
static hcl_status rd_safetensors(hcl_context *c, const char *p, void **o) { return hcl_safetensors_load(c, p, (hcl_safetensors **)o); }
static hcl_status rd_idx(hcl_context *c, const char *p, void **o) { return hcl_idx_load(c, p, (hcl_idx **)o); }
static hcl_status rd_cifar(hcl_context *c, const char *p, void **o) { return hcl_cifar10_load(c, p, (hcl_cifar10 **)o); }
static hcl_status rd_tsv(hcl_context *c, const char *p, void **o) { return hcl_text_read_tsv(c, p, (hcl_text_corpus **)o); }
static hcl_status rd_vocab(hcl_context *c, const char *p, void **o) { return hcl_vocab_load(c, p, (hcl_vocab **)o); }
static const struct { const char *fn; reader_fn read; } readers[] = {
    {"hcl_safetensors_load", rd_safetensors}, {"hcl_idx_load", rd_idx}, {"hcl_cifar10_load", rd_cifar},
    {"hcl_text_read_tsv", rd_tsv}, {"hcl_vocab_load", rd_vocab},
};

static void reader_expect(size_t r, hcl_context *ctx, const char *path, void **out, int want, const char *what, int line) {
    char desc[256];
    snprintf(desc, sizeof desc, "%s with %s", readers[r].fn, what);
    before_call();
    hcl_status st = readers[r].read(ctx, path, out);
    after_err(ctx, readers[r].fn, desc, st, want, line);
    if (out) ck_assert_msg(*out == NULL, "line %d: %s: *out is not NULL after a failure", line, desc);
}

/* 2 x 3 images of 1 x 2 x 2 bytes, labels, 3 token rows of 4 with lengths */
static const uint8_t img[3 * 4] = {0}, lab[3] = {0};
static const int32_t toks[3 * 4] = {0}, tlens[3] = {1, 2, 4}, tlabs[3] = {0, 1, 0};

START_TEST(io_h) {
    matrix_begin();
    char *dir = test_make_tmpdir("matrix-io");
    char *missing = test_path_in(dir, "missing"), *nodir = test_path_in(dir, "no/such/file"), *empty = test_path_in(dir, "empty"),
         *junk = test_path_in(dir, "junk"), *good = test_path_in(dir, "good.safetensors");
    test_write_file(empty, "", 0);
    static const char junk_bytes[] = "\x01\x02\x03\xff garbage \x00\x00 that is no format at all";
    test_write_file(junk, junk_bytes, sizeof junk_bytes - 1);

    /* every reader */
    for (size_t r = 0; r < sizeof readers / sizeof *readers; r++) {
        void *out = (void *)&out;
        reader_expect(r, A, junk, NULL, HCL_ERR_NULL_POINTER, "out NULL", __LINE__);
        reader_expect(r, A, NULL, &out, HCL_ERR_NULL_POINTER, "path NULL", __LINE__);
        reader_expect(r, A, missing, &out, HCL_ERR_IO, "a missing file", __LINE__);
        reader_expect(r, A, nodir, &out, HCL_ERR_IO, "a missing folder", __LINE__);
        reader_expect(r, A, "", &out, HCL_ERR_IO, "path \"\"", __LINE__);
        reader_expect(r, A, dir, &out, -1, "a folder", __LINE__);
        reader_expect(r, A, empty, &out, HCL_ERR_FORMAT, "an empty file", __LINE__);
        reader_expect(r, A, junk, &out, HCL_ERR_FORMAT, "garbage", __LINE__);
        /* no context: the status alone */
        reader_expect(r, NULL, junk, &out, HCL_ERR_FORMAT, "garbage and no context", __LINE__);
    }
    EXPECT_STATUS(A, hcl_text_read_imdb(A, dir, "train", NULL), HCL_ERR_NULL_POINTER);
    hcl_text_corpus *corpus = (hcl_text_corpus *)&corpus;
    EXPECT_STATUS(A, hcl_text_read_imdb(A, NULL, "train", &corpus), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_read_imdb(A, dir, NULL, &corpus), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_read_imdb(A, dir, "unsup", &corpus), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_text_read_imdb(A, dir, "", &corpus), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_text_read_imdb(A, missing, "train", &corpus), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_text_read_imdb(A, dir, "test", &corpus), HCL_ERR_IO); /* no test/neg folder */
    ck_assert_ptr_null(corpus);
    EXPECT_VOID(hcl_safetensors_free(NULL));
    EXPECT_VOID(hcl_idx_free(NULL));
    EXPECT_VOID(hcl_cifar10_free(NULL));
    EXPECT_VOID(hcl_text_corpus_free(NULL));
    EXPECT_VOID(hcl_vocab_free(NULL));
    EXPECT_VOID(hcl_text_encoded_free(NULL));

    /* safetensors writer: every bad entry field, metadata, paths; nothing is left in the folder */
    const int64_t s23[2] = {2, 3}, neg[2] = {2, -3}, huge[2] = {INT64_MAX, INT64_MAX}, big[2] = {(int64_t)1 << 40, 1 << 20};
    float data[6] = {0};
    hcl_safetensors_entry ok = {"t", HCL_F32, 2, s23, data, sizeof data};
    hcl_safetensors_meta mok = {"k", "v"};
    char long_name[HCL_SAFETENSORS_MAX_NAME + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    char *bad_dir_file = test_path_in(dir, "sub");
    mkdir(bad_dir_file, 0700); /* a folder where the file should go */
#define BAD_ENTRY(stmt, want)                                                                  \
    do {                                                                                       \
        hcl_safetensors_entry e_[2] = {ok, ok};                                                \
        e_[1].name = "u";                                                                      \
        stmt;                                                                                  \
        EXPECT_STATUS(A, hcl_safetensors_save(A, good, e_, 2, &mok, 1), want);                 \
    } while (0)
    BAD_ENTRY(e_[0].name = NULL, HCL_ERR_NULL_POINTER);
    BAD_ENTRY(e_[0].name = "", HCL_ERR_INVALID_ARGUMENT);
    BAD_ENTRY(e_[0].name = long_name, HCL_ERR_INVALID_ARGUMENT);
    BAD_ENTRY(e_[0].name = "__metadata__", HCL_ERR_INVALID_ARGUMENT);
    BAD_ENTRY(e_[0].name = "\xff\xfe", HCL_ERR_INVALID_ARGUMENT);
    BAD_ENTRY(e_[1].name = "t", HCL_ERR_INVALID_ARGUMENT); /* twice */
    BAD_ENTRY(e_[0].dtype = (hcl_dtype)99, HCL_ERR_DTYPE);
    BAD_ENTRY(e_[0].dtype = (hcl_dtype)-1, HCL_ERR_DTYPE);
    BAD_ENTRY(e_[0].rank = -1, HCL_ERR_SHAPE);
    BAD_ENTRY(e_[0].rank = HCL_MAX_RANK + 1, HCL_ERR_SHAPE);
    BAD_ENTRY(e_[0].shape = NULL, HCL_ERR_NULL_POINTER);
    BAD_ENTRY(e_[0].shape = neg, HCL_ERR_SHAPE);
    BAD_ENTRY(e_[0].shape = huge, HCL_ERR_OVERFLOW);
    BAD_ENTRY(e_[0].shape = big, HCL_ERR_OVERFLOW);
    BAD_ENTRY(e_[0].bytes = 23, HCL_ERR_INVALID_ARGUMENT);
    BAD_ENTRY(e_[0].bytes = SIZE_MAX, HCL_ERR_INVALID_ARGUMENT);
    BAD_ENTRY(e_[0].data = NULL, HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save(A, NULL, &ok, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save(A, good, NULL, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save(A, good, &ok, 1, NULL, 2), HCL_ERR_NULL_POINTER);
    hcl_safetensors_meta bad_meta[] = {{NULL, "v"}, {"k", NULL}, {"", "v"}, {long_name, "v"}, {"k", "\xc3"}};
    const int bad_meta_want[] = {HCL_ERR_NULL_POINTER, HCL_ERR_NULL_POINTER, HCL_ERR_INVALID_ARGUMENT,
                                 HCL_ERR_INVALID_ARGUMENT, HCL_ERR_INVALID_ARGUMENT};
    for (size_t k = 0; k < sizeof bad_meta / sizeof *bad_meta; k++)
        EXPECT_STATUS(A, hcl_safetensors_save(A, good, &ok, 1, &bad_meta[k], 1), bad_meta_want[k]);
    hcl_safetensors_meta dup_meta[2] = {mok, mok};
    EXPECT_STATUS(A, hcl_safetensors_save(A, good, &ok, 1, dup_meta, 2), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_safetensors_save(A, nodir, &ok, 1, NULL, 0), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_safetensors_save(A, bad_dir_file, &ok, 1, NULL, 0), HCL_ERR_IO);
    EXPECT_STATUS(NULL, hcl_safetensors_save(NULL, nodir, &ok, 1, NULL, 0), HCL_ERR_IO); /* host only: no context */
    ck_assert_int_eq(test_dir_entries(dir), 3); /* empty, junk, sub and nothing else */

    /* device tensors to a file and back */
    hcl_tensor *t = tensor(A, HCL_F32, 2, s23), *tb = tensor(B, HCL_F32, 2, s23);
    const hcl_tensor *ts[2] = {t, t};
    const char *names[2] = {"t", "u"};
    watch(t);
    watch(tb);
    EXPECT_STATUS(NULL, hcl_safetensors_save_tensors(NULL, good, names, ts, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, NULL, names, ts, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, NULL, ts, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, names, NULL, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    const hcl_tensor *with_null[2] = {t, NULL}, *with_b[2] = {t, tb};
    const char *null_name[2] = {"t", NULL}, *same_names[2] = {"t", "t"};
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, names, with_null, 2, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, names, with_b, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, null_name, ts, 2, NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, same_names, ts, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, good, names, ts, 2, NULL, 1), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_save_tensors(A, nodir, names, ts, 2, NULL, 0), HCL_ERR_IO);
    ck_assert_int_eq(test_dir_entries(dir), 3);
    /* a valid file to read back from */
    const int64_t s32[2] = {3, 2}, s6[1] = {6};
    int32_t i6[6] = {0};
    hcl_safetensors_entry ents[3] = {ok, {"i", HCL_I32, 2, s23, i6, sizeof i6}, {"h", HCL_F16, 1, s6, i6, 12}};
    CK(hcl_safetensors_save(A, good, ents, 3, &mok, 1));
    hcl_safetensors *f = NULL;
    CK(hcl_safetensors_load(A, good, &f));
    EXPECT_VAL(size_t, hcl_safetensors_count(NULL), v_ == 0);
    EXPECT_NULL(hcl_safetensors_at(NULL, 0));
    EXPECT_NULL(hcl_safetensors_at(f, 3));
    EXPECT_NULL(hcl_safetensors_at(f, SIZE_MAX));
    EXPECT_NULL(hcl_safetensors_find(NULL, "t"));
    EXPECT_NULL(hcl_safetensors_find(f, NULL));
    EXPECT_NULL(hcl_safetensors_find(f, "nope"));
    EXPECT_NULL(hcl_safetensors_find(f, ""));
    EXPECT_NULL(hcl_safetensors_metadata(NULL, "k"));
    EXPECT_NULL(hcl_safetensors_metadata(f, NULL));
    EXPECT_NULL(hcl_safetensors_metadata(f, "nope"));
    EXPECT_VAL(size_t, hcl_safetensors_metadata_count(NULL), v_ == 0);
    EXPECT_NULL(hcl_safetensors_metadata_at(NULL, 0));
    EXPECT_NULL(hcl_safetensors_metadata_at(f, 1));
    EXPECT_NULL(hcl_safetensors_metadata_at(f, SIZE_MAX));
    hcl_tensor *t32 = tensor(A, HCL_F32, 2, s32), *ti = tensor(A, HCL_I32, 2, s23), *t16 = tensor(A, HCL_F16, 2, s23);
    watch(t32);
    watch(ti);
    watch(t16);
    EXPECT_STATUS(NULL, hcl_safetensors_load_tensor(NULL, f, "t", t, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, NULL, "t", t, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, NULL, t, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "t", NULL, 0), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "nope", t, 0), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "t", tb, 0), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "t", t32, 0), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "h", t16, 1), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "t", ti, 1), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "i", t, 1), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_safetensors_load_tensor(A, f, "t", t16, 0), HCL_ERR_DTYPE);
    hcl_safetensors_free(f);
    /* a truncated copy of a valid file */
    size_t n = 0;
    unsigned char *bytes = test_read_bytes(good, &n);
    for (size_t cut = 1; cut < n; cut += n / 5) {
        test_write_file(junk, bytes, cut);
        void *out = NULL;
        reader_expect(0, A, junk, &out, HCL_ERR_FORMAT, "a truncated file", __LINE__);
    }
    free(bytes);

    /* image batcher */
    hcl_batcher_options bo;
    EXPECT_VOID(hcl_batcher_options_init(NULL));
    hcl_batcher_options_init(&bo);
    bo.batch = 2;
    const int64_t sample[3] = {1, 2, 2};
    hcl_batcher *b = (hcl_batcher *)&b;
    EXPECT_STATUS(NULL, hcl_batcher_create(NULL, img, lab, 3, 3, sample, &bo, &b), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_batcher_create(A, NULL, lab, 3, 3, sample, &bo, &b), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, 3, 3, NULL, &bo, &b), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, 3, 3, sample, NULL, &b), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, 3, 3, sample, &bo, NULL), HCL_ERR_NULL_POINTER);
    ck_assert_ptr_null(b);
    EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, 0, 3, sample, &bo, &b), HCL_ERR_INVALID_ARGUMENT);
    const size_t huge_counts[] = {SIZE_MAX, SIZE_MAX / 8 + 2, SIZE_MAX / 4 + 1};
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, huge_counts[k], 3, sample, &bo, &b), HCL_ERR_OVERFLOW);
    const int bad_brank[] = {0, -1, HCL_MAX_RANK, INT_MIN};
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, 3, bad_brank[k], sample, &bo, &b), HCL_ERR_SHAPE);
    const int64_t bad_samples[][3] = {{0, 2, 2}, {1, -2, 2}, {17, 2, 2}, {1, INT64_MAX, 2}, {INT64_MAX, INT64_MAX, INT64_MAX},
                                      {1, (int64_t)1 << 32, (int64_t)1 << 32}};
    for (size_t k = 0; k < sizeof bad_samples / sizeof *bad_samples; k++)
        EXPECT_ERR(A, hcl_batcher_create(A, img, lab, 3, 3, bad_samples[k], &bo, &b));
#define BAD_OPT(stmt, want)                                                             \
    do {                                                                                \
        hcl_batcher_options o_ = bo;                                                    \
        stmt;                                                                           \
        EXPECT_STATUS(A, hcl_batcher_create(A, img, lab, 3, 3, sample, &o_, &b), want); \
    } while (0)
    BAD_OPT(o_.batch = 0, HCL_ERR_INVALID_ARGUMENT);
    BAD_OPT(o_.batch = -1, HCL_ERR_INVALID_ARGUMENT);
    BAD_OPT(o_.batch = INT64_MIN, HCL_ERR_INVALID_ARGUMENT);
    BAD_OPT(o_.batch = INT64_MAX, HCL_ERR_OVERFLOW);
    BAD_OPT(o_.batch = (int64_t)1 << 61, HCL_ERR_OVERFLOW);
    BAD_OPT((o_.drop_last = 1, o_.batch = 4), HCL_ERR_INVALID_ARGUMENT);
    BAD_OPT(o_.dtype = HCL_I32, HCL_ERR_DTYPE);
    BAD_OPT(o_.dtype = (hcl_dtype)99, HCL_ERR_DTYPE);
    BAD_OPT(o_.std[0] = 0.0f, HCL_ERR_INVALID_ARGUMENT);
    BAD_OPT(o_.std[0] = -1.0f, HCL_ERR_INVALID_ARGUMENT);
    BAD_OPT(o_.std[0] = NAN, HCL_ERR_INVALID_ARGUMENT);
#undef BAD_OPT
    ck_assert_ptr_null(b);
    EXPECT_VOID(hcl_batcher_free(NULL));
    EXPECT_VAL(size_t, hcl_batcher_count(NULL), v_ == 0);
    EXPECT_VAL(size_t, hcl_batcher_batches(NULL), v_ == 0);
    EXPECT_VAL(int64_t, hcl_batcher_batch_size(NULL), v_ == 0);
    EXPECT_VAL(hcl_dtype, hcl_batcher_dtype(NULL), v_ == HCL_F32);
    EXPECT_VAL(uint64_t, hcl_batcher_epoch(NULL), v_ == 0);
    EXPECT_STATUS(NULL, hcl_batcher_seek_epoch(NULL, 1), HCL_ERR_NULL_POINTER);
    CK(hcl_batcher_create(A, img, lab, 3, 3, sample, &bo, &b));
    const hcl_tensor *bi = NULL, *bl = NULL;
    size_t bn = 99;
    EXPECT_STATUS(NULL, hcl_batcher_next(NULL, &bi, &bl, &bn), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_batcher_next(b, NULL, &bl, &bn), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_batcher_next(b, &bi, &bl, NULL), HCL_ERR_NULL_POINTER);
    ck_assert_uint_eq(hcl_batcher_epoch(b), 0);
    hcl_batcher_free(b);

    /* token batcher */
    hcl_token_batcher *tbt = (hcl_token_batcher *)&tbt;
    EXPECT_STATUS(NULL, hcl_token_batcher_create(NULL, toks, tlens, tlabs, 3, 4, &bo, &tbt), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, NULL, tlens, tlabs, 3, 4, &bo, &tbt), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 4, NULL, &tbt), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 4, &bo, NULL), HCL_ERR_NULL_POINTER);
    ck_assert_ptr_null(tbt);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 0, 4, &bo, &tbt), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, NULL, NULL, SIZE_MAX, 4, &bo, &tbt), HCL_ERR_OVERFLOW);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, NULL, NULL, SIZE_MAX / 16 + 1, 4, &bo, &tbt), HCL_ERR_OVERFLOW);
    const int64_t bad_len[] = {0, -1, INT64_MIN, INT64_MAX, HCL_TEXT_MAX_LEN + 1};
    for (size_t k = 0; k < sizeof bad_len / sizeof *bad_len; k++)
        EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, bad_len[k], &bo, &tbt), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 3, &bo, &tbt), HCL_ERR_INVALID_ARGUMENT); /* a length 4 > 3 */
    const int32_t neg_len[3] = {1, -1, 2};
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, neg_len, tlabs, 3, 4, &bo, &tbt), HCL_ERR_INVALID_ARGUMENT);
    hcl_batcher_options to = bo;
    to.trim = 1;
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, NULL, tlabs, 3, 4, &to, &tbt), HCL_ERR_INVALID_ARGUMENT);
    to = bo;
    to.bucket = 2;
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, NULL, tlabs, 3, 4, &to, &tbt), HCL_ERR_INVALID_ARGUMENT);
    to.bucket = -1;
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 4, &to, &tbt), HCL_ERR_INVALID_ARGUMENT);
    to = bo;
    to.batch = 0;
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 4, &to, &tbt), HCL_ERR_INVALID_ARGUMENT);
    to.batch = INT64_MAX;
    EXPECT_STATUS(A, hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 4, &to, &tbt), HCL_ERR_OVERFLOW);
    ck_assert_ptr_null(tbt);
    EXPECT_VOID(hcl_token_batcher_free(NULL));
    EXPECT_VAL(size_t, hcl_token_batcher_count(NULL), v_ == 0);
    EXPECT_VAL(size_t, hcl_token_batcher_batches(NULL), v_ == 0);
    EXPECT_VAL(int64_t, hcl_token_batcher_batch_size(NULL), v_ == 0);
    EXPECT_VAL(uint64_t, hcl_token_batcher_epoch(NULL), v_ == 0);
    EXPECT_STATUS(NULL, hcl_token_batcher_seek_epoch(NULL, 1), HCL_ERR_NULL_POINTER);
    CK(hcl_token_batcher_create(A, toks, tlens, tlabs, 3, 4, &bo, &tbt));
    const hcl_tensor *tt = NULL, *tl = NULL, *tla = NULL;
    EXPECT_STATUS(NULL, hcl_token_batcher_next(NULL, &tt, &tl, &tla, &bn), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_token_batcher_next(tbt, NULL, &tl, &tla, &bn), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_token_batcher_next(tbt, &tt, &tl, &tla, NULL), HCL_ERR_NULL_POINTER);
    hcl_token_batcher_free(tbt);

    /* text corpora, splits, vocabularies, encodings */
    const char *texts[3] = {"a b", "b c", "c a"};
    const int32_t labels[3] = {0, 1, 0}, bad_labels[3] = {0, 2, 0}, neg_labels[3] = {0, -1, 0};
    const char *cls[2] = {"x", "y"}, *cls_null[2] = {"x", NULL}, *texts_null[3] = {"a", NULL, "c"};
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, labels, 3, 2, cls, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, NULL, labels, 3, 2, cls, &corpus), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, NULL, 3, 2, cls, &corpus), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts_null, labels, 3, 2, cls, &corpus), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, labels, 3, 2, cls_null, &corpus), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, bad_labels, 3, 2, cls, &corpus), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, neg_labels, 3, 2, cls, &corpus), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, labels, 3, 0, NULL, &corpus), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, labels, 3, SIZE_MAX, NULL, &corpus), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_text_corpus_create(A, texts, labels, 3, (size_t)INT32_MAX + 1, NULL, &corpus),
                  HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(corpus);
    CK(hcl_text_corpus_create(A, texts, labels, 3, 2, cls, &corpus));
    hcl_text_corpus *tr = (hcl_text_corpus *)&tr, *te = (hcl_text_corpus *)&te;
    EXPECT_STATUS(A, hcl_text_split(A, NULL, 0.5, 1, &tr, &te), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_split(A, corpus, 0.5, 1, NULL, &te), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_split(A, corpus, 0.5, 1, &tr, NULL), HCL_ERR_NULL_POINTER);
    const double bad_frac[] = {-0.1, 1.5, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 5; k++) EXPECT_STATUS(A, hcl_text_split(A, corpus, bad_frac[k], 1, &tr, &te), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(tr == NULL && te == NULL);
    hcl_text_options tops;
    EXPECT_VOID(hcl_text_options_init(NULL));
    hcl_text_options_init(&tops);
    hcl_vocab *voc = (hcl_vocab *)&voc;
    EXPECT_STATUS(A, hcl_vocab_build(A, corpus, &tops, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_vocab_build(A, NULL, &tops, &voc), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_vocab_build(A, corpus, NULL, &voc), HCL_ERR_NULL_POINTER);
#define BAD_TOPT(stmt, call)                           \
    do {                                               \
        hcl_text_options o_ = tops;                    \
        stmt;                                          \
        EXPECT_STATUS(A, call, HCL_ERR_INVALID_ARGUMENT); \
    } while (0)
    BAD_TOPT(o_.level = (hcl_text_level)2, hcl_vocab_build(A, corpus, &o_, &voc));
    BAD_TOPT(o_.level = (hcl_text_level)-1, hcl_vocab_build(A, corpus, &o_, &voc));
    BAD_TOPT(o_.max_vocab = 1, hcl_vocab_build(A, corpus, &o_, &voc));
    BAD_TOPT(o_.max_vocab = SIZE_MAX, hcl_vocab_build(A, corpus, &o_, &voc));
    BAD_TOPT(o_.max_len = 0, hcl_vocab_build(A, corpus, &o_, &voc));
    BAD_TOPT(o_.max_len = INT64_MAX, hcl_vocab_build(A, corpus, &o_, &voc));
    BAD_TOPT(o_.max_len = INT64_MIN, hcl_vocab_build(A, corpus, &o_, &voc));
    ck_assert_ptr_null(voc);
    CK(hcl_vocab_build(A, corpus, &tops, &voc));
    EXPECT_VAL(size_t, hcl_vocab_size(NULL), v_ == 0);
    const int32_t bad_ids[] = {-1, INT32_MIN, INT32_MAX, 5};
    for (size_t k = 0; k < 4; k++) EXPECT_NULL(hcl_vocab_token(voc, bad_ids[k]));
    EXPECT_NULL(hcl_vocab_token(NULL, 0));
    EXPECT_VAL(int32_t, hcl_vocab_lookup(NULL, "a"), v_ == HCL_TEXT_UNK);
    EXPECT_VAL(int32_t, hcl_vocab_lookup(voc, NULL), v_ == HCL_TEXT_UNK);
    EXPECT_VAL(int32_t, hcl_vocab_lookup(voc, "zzz"), v_ == HCL_TEXT_UNK);
    char *vpath = test_path_in(dir, "vocab.txt");
    EXPECT_STATUS(A, hcl_vocab_save(A, NULL, vpath), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_vocab_save(A, voc, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_vocab_save(A, voc, nodir), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_vocab_save(A, voc, bad_dir_file), HCL_ERR_IO);
    /* vocabulary files whose first lines are not <pad> <unk>, with empty or repeated tokens */
    const char *bad_vocabs[] = {"<unk>\n<pad>\n", "<pad>\n", "<pad>\n<unk>\n\nx\n", "<pad>\n<unk>\nx\nx\n",
                                "<pad>\n<unk>\n\xff\n"};
    for (size_t k = 0; k < sizeof bad_vocabs / sizeof *bad_vocabs; k++) {
        test_write_file(junk, bad_vocabs[k], strlen(bad_vocabs[k]));
        void *out = NULL;
        reader_expect(4, A, junk, &out, HCL_ERR_FORMAT, bad_vocabs[k], __LINE__);
    }
    hcl_text_encoded *enc = (hcl_text_encoded *)&enc;
    EXPECT_STATUS(A, hcl_text_encode(A, corpus, voc, &tops, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_encode(A, NULL, voc, &tops, &enc), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_encode(A, corpus, NULL, &tops, &enc), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_text_encode(A, corpus, voc, NULL, &enc), HCL_ERR_NULL_POINTER);
    BAD_TOPT(o_.max_len = 0, hcl_text_encode(A, corpus, voc, &o_, &enc));
    BAD_TOPT(o_.max_len = HCL_TEXT_MAX_LEN + 1, hcl_text_encode(A, corpus, voc, &o_, &enc));
    BAD_TOPT(o_.level = (hcl_text_level)7, hcl_text_encode(A, corpus, voc, &o_, &enc));
#undef BAD_TOPT
    ck_assert_ptr_null(enc);

    unwatch_all();
    hcl_vocab_free(voc);
    hcl_text_corpus_free(corpus);
    hcl_tensor *all[] = {t, tb, t32, ti, t16};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) hcl_tensor_free(all[k]);
    test_rm_rf(dir);
    char *paths[] = {dir, missing, nodir, empty, junk, good, bad_dir_file, vpath};
    for (size_t k = 0; k < sizeof paths / sizeof *paths; k++) free(paths[k]);
    matrix_end("io.h");
}
END_TEST

/* ================================================================ nn.h ===================== */

/* A graph call that must fail and leave the graph as it was (no node added). */
#define EXPECT_GRAPH(m, call, want)                                                              \
    do {                                                                                         \
        size_t nodes_ = hcl_model_node_count(m);                                                 \
        EXPECT_STATUS((m) ? A : NULL, call, want);                                               \
        ck_assert_msg(hcl_model_node_count(m) == nodes_, "line %d: %s added %zu nodes", __LINE__, \
                      #call, hcl_model_node_count(m) - nodes_);                                  \
    } while (0)

static const int bad_ids[] = {99, -2, INT_MAX, INT_MIN};

/* (3,6,6) -> conv 4 3x3 -> relu -> flatten -> linear 5; ids 0..4. */
static hcl_model *image_model(hcl_context *ctx) {
    hcl_model *m = NULL;
    CK_OK(ctx, hcl_model_create(ctx, HCL_PRECISION_MIXED_F16, &m));
    const int64_t in[3] = {3, 6, 6};
    CK_OK(ctx, hcl_model_input(m, 3, in, NULL));
    CK_OK(ctx, hcl_model_conv2d(m, HCL_NN_PREV, 4, 3, 1, 0, NULL));
    CK_OK(ctx, hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0.0f, NULL));
    CK_OK(ctx, hcl_model_flatten(m, HCL_NN_PREV, NULL));
    CK_OK(ctx, hcl_model_linear(m, HCL_NN_PREV, 5, NULL));
    return m;
}

START_TEST(nn_h) {
    matrix_begin();
    const int bad_kind[] = {-1, HCL_LAYER_COUNT_, INT_MAX, INT_MIN};
    for (size_t k = 0; k < 4; k++) EXPECT_NULL(hcl_layer_kind_name((hcl_layer_kind)bad_kind[k]));
    hcl_model *m = (hcl_model *)&m;
    EXPECT_STATUS(NULL, hcl_model_create(NULL, HCL_PRECISION_FP32, &m), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_create(A, HCL_PRECISION_FP32, NULL), HCL_ERR_NULL_POINTER);
    const int bad_policy[] = {-1, HCL_PRECISION_COUNT_, INT_MAX};
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_model_create(A, (hcl_precision)bad_policy[k], &m), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
    EXPECT_VOID(hcl_model_free(NULL));

    /* every constructor with a NULL model */
    const int64_t chw[3] = {3, 6, 6};
    int id = -7;
    EXPECT_STATUS(NULL, hcl_model_input(NULL, 3, chw, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_conv2d(NULL, HCL_NN_PREV, 4, 3, 1, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_dwsep_conv2d(NULL, HCL_NN_PREV, 4, 3, 1, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_maxpool2d(NULL, HCL_NN_PREV, 2, 2, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_avgpool2d(NULL, HCL_NN_PREV, 2, 2, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_global_avgpool(NULL, HCL_NN_PREV, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_batchnorm2d(NULL, HCL_NN_PREV, 0.1f, 1e-5f, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_linear(NULL, HCL_NN_PREV, 4, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_dropout(NULL, HCL_NN_PREV, 0.5f, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_flatten(NULL, HCL_NN_PREV, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_activation(NULL, HCL_NN_PREV, HCL_ACT_RELU, 0.0f, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_softmax(NULL, HCL_NN_PREV, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_add(NULL, 0, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_input_tokens(NULL, 8, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_embedding(NULL, HCL_NN_PREV, 10, 4, -1, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_pos_embedding(NULL, HCL_NN_PREV, HCL_POS_LEARNED, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_layernorm(NULL, HCL_NN_PREV, 1e-5f, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_attention(NULL, 0, 0, 0, 1, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_mha(NULL, HCL_NN_PREV, 1, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_transformer_block(NULL, HCL_NN_PREV, 1, 8, 0.0f, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_rnn(NULL, HCL_NN_PREV, HCL_RNN_GRU, 4, 1, 0, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_seq_pool(NULL, HCL_NN_PREV, HCL_SEQ_POOL_MEAN, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_linear_tied(NULL, HCL_NN_PREV, 1, &id), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_set_lengths(NULL, NULL), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(id, -7);

    /* the input: first and only, ranks, dims, sizes */
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &m));
    EXPECT_GRAPH(m, hcl_model_linear(m, HCL_NN_PREV, 4, &id), HCL_ERR_INVALID_ARGUMENT); /* no input yet */
    EXPECT_GRAPH(m, hcl_model_input(m, 3, NULL, &id), HCL_ERR_NULL_POINTER);
    const int bad_rank[] = {0, -1, HCL_MAX_RANK, INT_MIN};
    const int64_t dims8[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (size_t k = 0; k < 4; k++) EXPECT_GRAPH(m, hcl_model_input(m, bad_rank[k], dims8, &id), HCL_ERR_SHAPE);
    const int64_t bad_in[][3] = {{0, 6, 6}, {3, -1, 6}, {3, 6, INT64_MIN}};
    for (size_t k = 0; k < 3; k++) EXPECT_GRAPH(m, hcl_model_input(m, 3, bad_in[k], &id), HCL_ERR_SHAPE);
    const int64_t huge_in[][3] = {{INT64_MAX, INT64_MAX, 2}, {(int64_t)1 << 40, (int64_t)1 << 40, 1}};
    for (size_t k = 0; k < 2; k++) EXPECT_GRAPH(m, hcl_model_input(m, 3, huge_in[k], &id), HCL_ERR_OVERFLOW);
    const int64_t bad_t[] = {0, -1, INT64_MIN};
    for (size_t k = 0; k < 3; k++) EXPECT_GRAPH(m, hcl_model_input_tokens(m, bad_t[k], &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_input_tokens(m, INT64_MAX, &id), HCL_ERR_OVERFLOW);
    ck_assert_int_eq(id, -7);
    hcl_model_free(m);

    /* image layers on (3,6,6): bad input ids, sizes, parameters */
    m = image_model(A);
    const int64_t again[1] = {4};
    EXPECT_GRAPH(m, hcl_model_input(m, 1, again, &id), HCL_ERR_INVALID_ARGUMENT); /* a second input */
    EXPECT_GRAPH(m, hcl_model_input_tokens(m, 8, &id), HCL_ERR_INVALID_ARGUMENT);
    for (size_t k = 0; k < 4; k++) {
        int b = bad_ids[k];
        EXPECT_GRAPH(m, hcl_model_conv2d(m, b, 4, 3, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_dwsep_conv2d(m, b, 4, 3, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_maxpool2d(m, b, 2, 2, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_avgpool2d(m, b, 2, 2, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_global_avgpool(m, b, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_batchnorm2d(m, b, 0.1f, 1e-5f, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_linear(m, b, 4, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_dropout(m, b, 0.5f, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_flatten(m, b, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_activation(m, b, HCL_ACT_RELU, 0.0f, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_softmax(m, b, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_add(m, b, 4, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_add(m, 4, b, &id), HCL_ERR_INVALID_ARGUMENT);
    }
    /* (C,H,W) layers on the rank-1 output: shape errors */
    EXPECT_GRAPH(m, hcl_model_conv2d(m, HCL_NN_PREV, 4, 3, 1, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_dwsep_conv2d(m, HCL_NN_PREV, 4, 3, 1, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_avgpool2d(m, HCL_NN_PREV, 2, 2, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_global_avgpool(m, HCL_NN_PREV, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_batchnorm2d(m, HCL_NN_PREV, 0.1f, 1e-5f, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_add(m, 0, 4, &id), HCL_ERR_SHAPE);
    /* conv and pool parameters on the (3,6,6) input */
    const int conv_bad[][4] = {{0, 3, 1, 0}, {-1, 3, 1, 0}, {4, 0, 1, 0}, {4, -3, 1, 0}, {4, 3, 0, 0}, {4, 3, -1, 0},
                               {4, 3, 1, -1}, {4, 3, 1, INT_MIN}, {INT_MIN, 3, 1, 0}};
    for (size_t k = 0; k < sizeof conv_bad / sizeof *conv_bad; k++) {
        const int *c = conv_bad[k];
        EXPECT_GRAPH(m, hcl_model_conv2d(m, 0, c[0], c[1], c[2], c[3], &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_dwsep_conv2d(m, 0, c[0], c[1], c[2], c[3], &id), HCL_ERR_INVALID_ARGUMENT);
    }
    /* empty outputs; a 1x1 output of a weight too large for any size */
    const int conv_empty[][4] = {{4, 7, 1, 0}, {4, INT_MAX, 1, 0}, {4, INT_MAX, INT_MAX, INT_MAX / 2}};
    for (size_t k = 0; k < 3; k++) {
        const int *c = conv_empty[k];
        EXPECT_GRAPH(m, hcl_model_conv2d(m, 0, c[0], c[1], c[2], c[3], &id), k < 2 ? HCL_ERR_SHAPE : HCL_ERR_OVERFLOW);
        EXPECT_GRAPH(m, hcl_model_dwsep_conv2d(m, 0, c[0], c[1], c[2], c[3], &id), k < 2 ? HCL_ERR_SHAPE : HCL_ERR_OVERFLOW);
    }
    const int pool_bad[][2] = {{0, 2}, {-1, 2}, {2, 0}, {2, INT_MIN}};
    for (size_t k = 0; k < 4; k++) {
        EXPECT_GRAPH(m, hcl_model_maxpool2d(m, 0, pool_bad[k][0], pool_bad[k][1], &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_avgpool2d(m, 0, pool_bad[k][0], pool_bad[k][1], &id), HCL_ERR_INVALID_ARGUMENT);
    }
    EXPECT_GRAPH(m, hcl_model_maxpool2d(m, 0, 7, 1, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_avgpool2d(m, 0, INT_MAX, INT_MAX, &id), HCL_ERR_SHAPE);
    const float bn_bad[][2] = {{-0.1f, 1e-5f}, {1.5f, 1e-5f}, {NAN, 1e-5f}, {0.1f, 0.0f}, {0.1f, -1.0f}, {0.1f, NAN},
                               {0.1f, INFINITY}};
    for (size_t k = 0; k < sizeof bn_bad / sizeof *bn_bad; k++)
        EXPECT_GRAPH(m, hcl_model_batchnorm2d(m, 0, bn_bad[k][0], bn_bad[k][1], &id), HCL_ERR_INVALID_ARGUMENT);
    const int bad_width[] = {0, -1, INT_MIN};
    for (size_t k = 0; k < 3; k++) EXPECT_GRAPH(m, hcl_model_linear(m, HCL_NN_PREV, bad_width[k], &id), HCL_ERR_INVALID_ARGUMENT);
    const float bad_p[] = {1.0f, -0.1f, NAN, INFINITY};
    for (size_t k = 0; k < 4; k++) EXPECT_GRAPH(m, hcl_model_dropout(m, HCL_NN_PREV, bad_p[k], &id), HCL_ERR_INVALID_ARGUMENT);
    const int bad_act[] = {HCL_ACT_NONE, HCL_ACT_COUNT_, -1, INT_MAX};
    for (size_t k = 0; k < 4; k++)
        EXPECT_GRAPH(m, hcl_model_activation(m, HCL_NN_PREV, (hcl_activation)bad_act[k], 0.0f, &id), HCL_ERR_INVALID_ARGUMENT);
    /* sequence layers on an image model: (T, D) inputs and token inputs only */
    EXPECT_GRAPH(m, hcl_model_embedding(m, 0, 10, 4, -1, &id), HCL_ERR_DTYPE);
    EXPECT_GRAPH(m, hcl_model_pos_embedding(m, 0, HCL_POS_LEARNED, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_attention(m, 0, 0, 0, 1, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_mha(m, 0, 1, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_transformer_block(m, 0, 1, 8, 0.0f, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_rnn(m, 0, HCL_RNN_GRU, 4, 1, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_seq_pool(m, 0, HCL_SEQ_POOL_MEAN, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_linear_tied(m, HCL_NN_PREV, 1, &id), HCL_ERR_INVALID_ARGUMENT); /* not an embedding */
    ck_assert_int_eq(id, -7);

    /* node accessors */
    EXPECT_VAL(size_t, hcl_model_node_count(NULL), v_ == 0);
    int64_t shape[HCL_MAX_RANK] = {-5};
    for (size_t k = 0; k < 4; k++) {
        EXPECT_VAL(hcl_layer_kind, hcl_model_node_kind(m, bad_ids[k]), v_ == HCL_LAYER_COUNT_);
        EXPECT_NULL(hcl_model_node_name(m, bad_ids[k]));
        EXPECT_VAL(int, hcl_model_node_shape(m, bad_ids[k], shape), v_ == 0);
    }
    ck_assert(shape[0] == -5);
    EXPECT_VAL(hcl_layer_kind, hcl_model_node_kind(NULL, 0), v_ == HCL_LAYER_COUNT_);
    EXPECT_NULL(hcl_model_node_name(NULL, 0));
    EXPECT_VAL(int, hcl_model_node_shape(NULL, 0, shape), v_ == 0);
    EXPECT_VAL(int, hcl_model_node_shape(m, 0, NULL), v_ == 3);
    EXPECT_NULL(hcl_model_context(NULL));
    EXPECT_VAL(hcl_precision, hcl_model_policy(NULL), v_ == HCL_PRECISION_COUNT_);
    EXPECT_VAL(hcl_dtype, hcl_model_dtype(NULL), v_ == HCL_DTYPE_COUNT_);
    EXPECT_NULL(hcl_model_params(NULL));
    EXPECT_NULL(hcl_model_optimizer(NULL));
    EXPECT_NULL(hcl_model_params(m)); /* not built */
    EXPECT_NULL(hcl_model_optimizer(m));
    EXPECT_NULL(hcl_model_output(NULL));
    EXPECT_NULL(hcl_model_output(m));
    EXPECT_NULL(hcl_model_loss(NULL));

    /* before build: every run, metric, log and summary call */
    const int64_t xs[4] = {2, 3, 6, 6}, ls[1] = {2};
    hcl_tensor *x = tensor(A, HCL_F32, 4, xs), *y = tensor(A, HCL_I32, 1, ls);
    watch(x);
    watch(y);
    hcl_metrics met;
    hcl_step_record rec[4];
    size_t cnt = 77;
    hcl_model_memory mem;
    hcl_layer_summary lsum;
    char text[64];
    EXPECT_STATUS(A, hcl_model_forward(m, x, 1), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_backward(m, y), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_step(m, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_train_step(m, x, y, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_metrics_reset(m), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_metrics_read(m, &met), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_eval_reset(m), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_eval_batch(m, y), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_eval_read(m, &met), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_log_enable(m, 4), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_log_read(m, rec, 4, &cnt), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_memory_get(m, &mem), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_layer_summary(m, 0, &lsum), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_summary(m, text, sizeof text, NULL), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_set_teacher_logits(m, NULL), HCL_ERR_INVALID_ARGUMENT);

    /* build: NULLs and every bad option; a failed build leaves the model buildable */
    hcl_model_options mo;
    EXPECT_VOID(hcl_model_options_init(NULL, HCL_PRECISION_FP32));
    hcl_model_options_init(&mo, HCL_PRECISION_MIXED_F16);
    mo.max_batch = 4;
    EXPECT_STATUS(NULL, hcl_model_build(NULL, &mo), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_build(m, NULL), HCL_ERR_NULL_POINTER);
#define BAD_BUILD(stmt, want)                          \
    do {                                               \
        hcl_model_options o_ = mo;                     \
        stmt;                                          \
        EXPECT_STATUS(A, hcl_model_build(m, &o_), want); \
    } while (0)
    BAD_BUILD(o_.max_batch = 0, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.max_batch = -1, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.max_batch = INT64_MAX, HCL_ERR_OVERFLOW);
    BAD_BUILD(o_.max_batch = (int64_t)1 << 58, HCL_ERR_OVERFLOW);
    BAD_BUILD(o_.loss = (hcl_loss_kind)99, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.loss = (hcl_loss_kind)-1, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.init = (hcl_weight_init)99, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.label_smoothing = 1.0f, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.label_smoothing = NAN, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.optim.kind = (hcl_optim_kind)99, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.optim.beta1 = 1.0f, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.optim.weight_decay = NAN, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.scaler.init_scale = 0.0f, HCL_ERR_INVALID_ARGUMENT);
    BAD_BUILD(o_.scaler.mode = (hcl_scaler_mode)7, HCL_ERR_INVALID_ARGUMENT);
    const float bad_temp[] = {0.0f, -1.0f, NAN, INFINITY}, bad_alpha[] = {-0.1f, 1.5f, NAN, INFINITY};
    for (size_t k = 0; k < 4; k++) {
        BAD_BUILD((o_.loss = HCL_LOSS_DISTILLATION, o_.distill_temperature = bad_temp[k]), HCL_ERR_INVALID_ARGUMENT);
        BAD_BUILD((o_.loss = HCL_LOSS_DISTILLATION, o_.distill_alpha = bad_alpha[k]), HCL_ERR_INVALID_ARGUMENT);
    }
#undef BAD_BUILD
    hcl_model *m_small = NULL;
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &m_small));
    CK(hcl_model_input(m_small, 3, chw, NULL));
    EXPECT_STATUS(A, hcl_model_build(m_small, &mo), HCL_ERR_INVALID_ARGUMENT); /* only an input */
    CK(hcl_model_flatten(m_small, HCL_NN_PREV, NULL));
    EXPECT_STATUS(A, hcl_model_build(m_small, &mo), HCL_ERR_INVALID_ARGUMENT); /* nothing to train */
    CK(hcl_model_conv2d(m_small, 0, 2, 1, 1, 0, NULL));
    EXPECT_STATUS(A, hcl_model_build(m_small, &mo), HCL_ERR_SHAPE); /* cross-entropy on a (C,H,W) output */
    hcl_model_free(m_small);

    unwatch_all();
    CK(hcl_model_build(m, &mo));
    CK(hcl_finish(A));
    hcl_params *mp = hcl_model_params(m);
    hcl_optimizer *mopt = hcl_model_optimizer(m);
    watch(x);
    watch(y);
    watch(hcl_params_weight_arena(mp));
    watch(hcl_params_grad_arena(mp));
    watch(hcl_params_master_arena(mp));
    for (size_t s = 0; s < hcl_optimizer_state_count(mopt); s++) watch(hcl_optimizer_state(mopt, s));
    EXPECT_STATUS(A, hcl_model_build(m, &mo), HCL_ERR_INVALID_ARGUMENT); /* twice */
    EXPECT_GRAPH(m, hcl_model_linear(m, HCL_NN_PREV, 3, &id), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_GRAPH(m, hcl_model_softmax(m, HCL_NN_PREV, &id), HCL_ERR_INVALID_ARGUMENT);

    /* forward: NULL x, other context, dtype, shapes, batch sizes */
    const int64_t s_big[4] = {5, 3, 6, 6}, s_w[4] = {2, 3, 6, 5}, s_r3[3] = {2, 3, 36};
    hcl_tensor *xb = tensor(B, HCL_F32, 4, xs), *xi = tensor(A, HCL_I32, 4, xs), *x5 = tensor(A, HCL_F32, 4, s_big),
               *xw = tensor(A, HCL_F32, 4, s_w), *x3 = tensor(A, HCL_F32, 3, s_r3);
    hcl_tensor *bad_x[] = {xb, xi, x5, xw, x3};
    const int bad_x_want[] = {HCL_ERR_INVALID_ARGUMENT, HCL_ERR_DTYPE, HCL_ERR_SHAPE, HCL_ERR_SHAPE, HCL_ERR_SHAPE};
    EXPECT_STATUS(NULL, hcl_model_forward(NULL, x, 1), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_forward(m, NULL, 1), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 5; k++) EXPECT_STATUS(A, hcl_model_forward(m, bad_x[k], 1), bad_x_want[k]);
    /* backward needs a train-mode forward; then a bad target */
    const int64_t s3[1] = {3}, s25[2] = {2, 5};
    hcl_tensor *yb = tensor(B, HCL_I32, 1, ls), *yf = tensor(A, HCL_F32, 1, ls), *y3 = tensor(A, HCL_I32, 1, s3),
               *y25 = tensor(A, HCL_I32, 2, s25);
    hcl_tensor *bad_y[] = {yb, yf, y3, y25};
    const int bad_y_want[] = {HCL_ERR_INVALID_ARGUMENT, HCL_ERR_DTYPE, HCL_ERR_SHAPE, HCL_ERR_SHAPE};
    EXPECT_STATUS(NULL, hcl_model_backward(NULL, y), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_backward(m, y), HCL_ERR_INVALID_ARGUMENT);
    unwatch_all();
    CK(hcl_model_forward(m, x, 0));
    CK(hcl_finish(A));
    watch(x);
    watch(y);
    watch(hcl_params_weight_arena(mp));
    watch(hcl_params_grad_arena(mp));
    EXPECT_STATUS(A, hcl_model_backward(m, y), HCL_ERR_INVALID_ARGUMENT); /* after an eval-mode forward */
    EXPECT_STATUS(A, hcl_model_eval_batch(m, NULL), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_model_eval_batch(m, bad_y[k]), bad_y_want[k]);
    unwatch_all();
    CK(hcl_model_forward(m, x, 1));
    CK(hcl_finish(A));
    watch(x);
    watch(y);
    watch(hcl_params_weight_arena(mp));
    watch(hcl_params_grad_arena(mp));
    EXPECT_STATUS(A, hcl_model_backward(m, NULL), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_model_backward(m, bad_y[k]), bad_y_want[k]);
    EXPECT_STATUS(A, hcl_model_eval_batch(m, y), HCL_ERR_INVALID_ARGUMENT); /* after a train-mode forward */
    /* step and train step: bad learning rates, and every bad x and target before anything is queued */
    const float bad_lr[] = {-0.1f, NAN, INFINITY};
    EXPECT_STATUS(NULL, hcl_model_step(NULL, 0.1f), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_model_step(m, bad_lr[k]), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_model_train_step(NULL, x, y, 0.1f), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_train_step(m, NULL, y, 0.1f), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_train_step(m, x, NULL, 0.1f), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 5; k++) EXPECT_STATUS(A, hcl_model_train_step(m, bad_x[k], y, 0.1f), bad_x_want[k]);
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_model_train_step(m, x, bad_y[k], 0.1f), bad_y_want[k]);
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_model_train_step(m, x, y, bad_lr[k]), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(hcl_optimizer_host_step(mopt), 0);

    /* metrics and evaluation */
    EXPECT_STATUS(NULL, hcl_model_metrics_reset(NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_metrics_read(NULL, &met), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_metrics_read(m, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_eval_reset(NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_eval_batch(NULL, y), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_eval_read(NULL, &met), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_eval_read(m, NULL), HCL_ERR_NULL_POINTER);
    hcl_batcher_options bo;
    hcl_batcher_options_init(&bo);
    bo.batch = 2;
    static uint8_t pix[4 * 3 * 6 * 6], plab[4];
    const int64_t smp[3] = {3, 6, 6}, smp_w[3] = {3, 6, 5};
    hcl_batcher *good = NULL, *big = NULL, *other = NULL, *nolab = NULL, *wrong = NULL;
    CK(hcl_batcher_create(A, pix, plab, 4, 3, smp, &bo, &good));
    CK(hcl_batcher_create(A, pix, NULL, 4, 3, smp, &bo, &nolab));
    CK(hcl_batcher_create(A, pix, plab, 4, 3, smp_w, &bo, &wrong));
    CK_OK(B, hcl_batcher_create(B, pix, plab, 4, 3, smp, &bo, &other));
    bo.batch = 8;
    CK(hcl_batcher_create(A, pix, plab, 4, 3, smp, &bo, &big));
    CK(hcl_finish(A));
    CK_OK(B, hcl_finish(B));
    EXPECT_STATUS(NULL, hcl_model_evaluate(NULL, good, &met), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_evaluate(m, NULL, &met), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_evaluate(m, good, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_evaluate(m, big, &met), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_model_evaluate(m, other, &met), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_evaluate(m, nolab, &met), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_evaluate(m, wrong, &met), HCL_ERR_SHAPE);
    hcl_batcher *bs[] = {good, big, other, nolab, wrong};
    for (size_t k = 0; k < 5; k++) ck_assert_uint_eq(hcl_batcher_epoch(bs[k]), 0);

    /* the step log */
    EXPECT_STATUS(NULL, hcl_model_log_enable(NULL, 4), HCL_ERR_NULL_POINTER);
    const size_t bad_cap[] = {0, ((size_t)1 << 24) + 1, SIZE_MAX};
    for (size_t k = 0; k < 3; k++) EXPECT_STATUS(A, hcl_model_log_enable(m, bad_cap[k]), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_model_log_read(NULL, rec, 4, &cnt), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_log_read(m, rec, 4, &cnt), HCL_ERR_INVALID_ARGUMENT); /* not enabled */
    CK(hcl_model_log_enable(m, 4));
    EXPECT_STATUS(A, hcl_model_log_enable(m, 4), HCL_ERR_INVALID_ARGUMENT); /* twice */
    EXPECT_STATUS(A, hcl_model_log_read(m, rec, 4, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_log_read(m, NULL, 4, &cnt), HCL_ERR_NULL_POINTER);

    /* summaries */
    EXPECT_STATUS(NULL, hcl_model_memory_get(NULL, &mem), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_memory_get(m, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_layer_summary(NULL, 0, &lsum), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_layer_summary(m, 0, NULL), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_model_layer_summary(m, bad_ids[k], &lsum), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(NULL, hcl_model_summary(NULL, text, sizeof text, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_summary(m, NULL, 10, NULL), HCL_ERR_NULL_POINTER);

    /* distillation: teacher logits on a cross-entropy model; then a distillation model's bad
     * teachers (other context, dtype, rank, classes, batch), a backward without a teacher or with
     * one of another batch; a distillation model needs a (classes) output */
    const int64_t s23[2] = {2, 3}, s25t[2] = {2, 5}, s55[2] = {5, 5}, s35[2] = {3, 5};
    hcl_tensor *tgood = tensor(A, HCL_F16, 2, s25t);
    EXPECT_STATUS(NULL, hcl_model_set_teacher_logits(NULL, tgood), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_set_teacher_logits(m, tgood), HCL_ERR_INVALID_ARGUMENT); /* cross-entropy model */
    hcl_model *md = image_model(A);
    hcl_model_options mod = mo;
    mod.loss = HCL_LOSS_DISTILLATION;
    CK(hcl_model_build(md, &mod));
    hcl_tensor *tb = tensor(B, HCL_F16, 2, s25t), *ti = tensor(A, HCL_I32, 2, s25t), *t1 = tensor1(A, HCL_F32, 5),
               *t23 = tensor(A, HCL_F32, 2, s23), *t55 = tensor(A, HCL_F32, 2, s55), *t35 = tensor(A, HCL_F32, 2, s35);
    hcl_tensor *bad_teacher[] = {tb, ti, t1, t23, t55};
    const int bad_teacher_want[] = {HCL_ERR_INVALID_ARGUMENT, HCL_ERR_DTYPE, HCL_ERR_SHAPE, HCL_ERR_SHAPE, HCL_ERR_SHAPE};
    for (size_t k = 0; k < 5; k++) EXPECT_STATUS(A, hcl_model_set_teacher_logits(md, bad_teacher[k]), bad_teacher_want[k]);
    CK(hcl_model_forward(md, x, 1));
    CK(hcl_finish(A));
    hcl_params *mdp = hcl_model_params(md);
    watch(x);
    watch(y);
    watch(hcl_params_weight_arena(mdp));
    watch(hcl_params_grad_arena(mdp));
    EXPECT_STATUS(A, hcl_model_backward(md, y), HCL_ERR_INVALID_ARGUMENT); /* no teacher */
    EXPECT_STATUS(A, hcl_model_train_step(md, x, y, 0.1f), HCL_ERR_INVALID_ARGUMENT);
    CK(hcl_model_set_teacher_logits(md, t35)); /* valid (N <= max_batch), but not this batch's N */
    EXPECT_STATUS(A, hcl_model_backward(md, y), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_model_train_step(md, x, y, 0.1f), HCL_ERR_SHAPE);
    CK(hcl_model_set_teacher_logits(md, NULL));
    EXPECT_STATUS(A, hcl_model_backward(md, y), HCL_ERR_INVALID_ARGUMENT); /* cleared */
    CK(hcl_model_set_teacher_logits(md, tgood));
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_model_backward(md, bad_y[k]), bad_y_want[k]);
    ck_assert_uint_eq(hcl_optimizer_host_step(hcl_model_optimizer(md)), 0);
    unwatch_all();
    hcl_model *mdc = NULL;
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &mdc));
    CK(hcl_model_input(mdc, 3, chw, NULL));
    CK(hcl_model_conv2d(mdc, 0, 2, 1, 1, 0, NULL));
    EXPECT_STATUS(A, hcl_model_build(mdc, &mod), HCL_ERR_SHAPE); /* distillation on a (C,H,W) output */
    hcl_model_free(mdc);
    hcl_tensor *tts[] = {tgood, tb, ti, t1, t23, t55, t35};
    for (size_t k = 0; k < sizeof tts / sizeof *tts; k++) hcl_tensor_free(tts[k]);
    hcl_model_free(md);

    /* lengths: another context, wrong dtype or rank; a count that is not the batch's */
    hcl_tensor *lb = tensor(B, HCL_I32, 1, ls), *lf = tensor(A, HCL_F32, 1, ls), *l2 = tensor(A, HCL_I32, 2, s25),
               *l3 = tensor(A, HCL_I32, 1, s3);
    EXPECT_STATUS(A, hcl_model_set_lengths(m, lb), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_set_lengths(m, lf), HCL_ERR_DTYPE);
    EXPECT_STATUS(A, hcl_model_set_lengths(m, l2), HCL_ERR_SHAPE);
    CK(hcl_model_set_lengths(m, l3));
    EXPECT_STATUS(A, hcl_model_forward(m, x, 0), HCL_ERR_SHAPE);
    unwatch_all();

    hcl_tensor *ts[] = {x, y, xb, xi, x5, xw, x3, yb, yf, y3, y25, lb, lf, l2, l3};
    for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) hcl_tensor_free(ts[k]);
    for (size_t k = 0; k < 5; k++) hcl_batcher_free(bs[k]);
    hcl_model_free(m);
    matrix_end("nn.h");
}
END_TEST

/* Sequence layers (src/nn/model_seq.c): graph construction on (T, D) and token inputs. */
START_TEST(nn_seq_h) {
    matrix_begin();
    hcl_model *m = NULL;
    int id = -7;
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &m));
    const int64_t td[2] = {5, 8};
    CK(hcl_model_input(m, 2, td, NULL));
    EXPECT_GRAPH(m, hcl_model_embedding(m, 0, 10, 4, -1, &id), HCL_ERR_DTYPE); /* not token ids */
    for (size_t k = 0; k < 4; k++) {
        int b = bad_ids[k];
        EXPECT_GRAPH(m, hcl_model_pos_embedding(m, b, HCL_POS_LEARNED, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_layernorm(m, b, 1e-5f, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_attention(m, b, 0, 0, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_attention(m, 0, b, 0, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_attention(m, 0, 0, b, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_mha(m, b, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_transformer_block(m, b, 1, 8, 0.0f, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_rnn(m, b, HCL_RNN_GRU, 4, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_seq_pool(m, b, HCL_SEQ_POOL_MEAN, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_linear_tied(m, b, 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_linear_tied(m, 0, b, &id), HCL_ERR_INVALID_ARGUMENT);
    }
    for (size_t k = 0; k < 4; k++) {
        EXPECT_GRAPH(m, hcl_model_pos_embedding(m, 0, (hcl_pos_kind)bad_enums[k], &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_seq_pool(m, 0, (hcl_seq_pool_mode)bad_enums[k], &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_rnn(m, 0, (hcl_rnn_cell)bad_enums[k], 4, 1, 0, &id), HCL_ERR_INVALID_ARGUMENT);
    }
    const float bad_eps[] = {0.0f, -1.0f, NAN};
    for (size_t k = 0; k < 3; k++) EXPECT_GRAPH(m, hcl_model_layernorm(m, 0, bad_eps[k], &id), HCL_ERR_INVALID_ARGUMENT);
    const int bad_heads[] = {0, -1, 3, INT_MIN}; /* 3 does not divide 8 */
    for (size_t k = 0; k < 4; k++) EXPECT_GRAPH(m, hcl_model_attention(m, 0, 0, 0, bad_heads[k], 0, &id), HCL_ERR_INVALID_ARGUMENT);
    const int bad_rnn[][2] = {{0, 1}, {-1, 1}, {4, 0}, {4, -1}, {4, 65}, {INT_MIN, 1}};
    for (size_t k = 0; k < 6; k++)
        EXPECT_GRAPH(m, hcl_model_rnn(m, 0, HCL_RNN_LSTM, bad_rnn[k][0], bad_rnn[k][1], 0, &id), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_GRAPH(m, hcl_model_transformer_block(m, 0, 1, 0, 0.0f, 0, &id), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_GRAPH(m, hcl_model_transformer_block(m, 0, 1, 8, 1.0f, 0, &id), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_GRAPH(m, hcl_model_transformer_block(m, 0, 1, 8, NAN, 0, &id), HCL_ERR_INVALID_ARGUMENT);
    /* mha and transformer_block check heads before adding any node; layer norm's eps is finite */
    for (size_t k = 0; k < 4; k++) {
        EXPECT_GRAPH(m, hcl_model_mha(m, 0, bad_heads[k], 0, &id), HCL_ERR_INVALID_ARGUMENT);
        EXPECT_GRAPH(m, hcl_model_transformer_block(m, 0, bad_heads[k], 8, 0.0f, 0, &id), HCL_ERR_INVALID_ARGUMENT);
    }
    EXPECT_GRAPH(m, hcl_model_layernorm(m, 0, INFINITY, &id), HCL_ERR_INVALID_ARGUMENT);
    /* attention of (5, 8) q with (5, 6) k/v */
    CK(hcl_model_linear(m, 0, 6, NULL));
    EXPECT_GRAPH(m, hcl_model_attention(m, 0, 1, 1, 1, 0, &id), HCL_ERR_SHAPE);
    EXPECT_GRAPH(m, hcl_model_attention(m, 0, 0, 1, 1, 0, &id), HCL_ERR_SHAPE);
    hcl_model_free(m);

    /* token models: embedding sizes, the tied head */
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &m));
    CK(hcl_model_input_tokens(m, 5, NULL));
    const int64_t bad_vocab[] = {0, -1, INT64_MIN};
    for (size_t k = 0; k < 3; k++) EXPECT_GRAPH(m, hcl_model_embedding(m, 0, bad_vocab[k], 4, -1, &id), HCL_ERR_INVALID_ARGUMENT);
    const int bad_dim[] = {0, -1, INT_MIN};
    for (size_t k = 0; k < 3; k++) EXPECT_GRAPH(m, hcl_model_embedding(m, 0, 10, bad_dim[k], -1, &id), HCL_ERR_INVALID_ARGUMENT);
    const int bad_pad[] = {-2, 10, INT_MAX, INT_MIN};
    for (size_t k = 0; k < 4; k++) EXPECT_GRAPH(m, hcl_model_embedding(m, 0, 10, 4, bad_pad[k], &id), HCL_ERR_INVALID_ARGUMENT);
    /* token ids feed only an embedding */
    EXPECT_GRAPH(m, hcl_model_linear(m, 0, 4, &id), HCL_ERR_DTYPE);
    EXPECT_GRAPH(m, hcl_model_layernorm(m, 0, 1e-5f, &id), HCL_ERR_DTYPE);
    CK(hcl_model_embedding(m, 0, 10, 4, -1, NULL));
    CK(hcl_model_linear(m, 1, 6, NULL));
    EXPECT_GRAPH(m, hcl_model_linear_tied(m, 2, 1, &id), HCL_ERR_SHAPE); /* width 6, table width 4 */
    EXPECT_GRAPH(m, hcl_model_linear_tied(m, 1, 2, &id), HCL_ERR_INVALID_ARGUMENT); /* node 2 is no embedding */
    ck_assert_int_eq(id, -7);
    hcl_model_free(m);
    /* a vocabulary beyond I32 ids */
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &m));
    CK(hcl_model_input_tokens(m, 5, NULL));
    EXPECT_GRAPH(m, hcl_model_embedding(m, 0, INT64_MAX, 4, -1, &id), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_GRAPH(m, hcl_model_embedding(m, 0, (int64_t)INT32_MAX + 1, 4, -1, &id), HCL_ERR_INVALID_ARGUMENT);
    hcl_model_free(m);
    matrix_end("nn.h (sequence layers)");
}
END_TEST

/* Model quantization (nn.h "quantization", src/nn/quantize.c). */
START_TEST(nn_quant_h) {
    matrix_begin();
    EXPECT_VOID(hcl_qat_config_init(NULL));
    EXPECT_VAL(hcl_quant_mode, hcl_model_quant_mode(NULL), v_ == HCL_QUANT_MODE_NONE);
    hcl_qat_config qc;
    hcl_qat_config_init(&qc);
    float range[2];
    char *dir = test_make_tmpdir("badq");
    char *path = test_path_in(dir, "q.safetensors"), *junk = test_path_in(dir, "junk");
    test_write_file(junk, "not safetensors", 15);
    hcl_batcher_options bo;
    hcl_batcher_options_init(&bo);
    bo.batch = 2;
    static uint8_t pix[4 * 3 * 6 * 6], plab[4];
    const int64_t smp[3] = {3, 6, 6}, smp_w[3] = {3, 6, 5};
    hcl_batcher *good = NULL, *big = NULL, *other = NULL, *wrong = NULL;
    CK(hcl_batcher_create(A, pix, plab, 4, 3, smp, &bo, &good));
    CK(hcl_batcher_create(A, pix, plab, 4, 3, smp_w, &bo, &wrong));
    CK_OK(B, hcl_batcher_create(B, pix, plab, 4, 3, smp, &bo, &other));
    bo.batch = 8;
    CK(hcl_batcher_create(A, pix, plab, 4, 3, smp, &bo, &big));

    /* NULL model and pointers */
    hcl_model *m = image_model(A); /* not built yet */
    EXPECT_STATUS(NULL, hcl_model_enable_qat(NULL, &qc), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_enable_qat(m, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_calibrate(NULL, good, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_calibrate(m, NULL, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_quant_range(NULL, 1, range), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_quant_range(m, 1, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_quant_save(NULL, path), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_quant_save(m, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_quant_load(NULL, path), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_quant_load(m, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_export_int8(NULL, path), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_export_int8(m, NULL), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_load_int8(NULL, path), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(A, hcl_model_load_int8(m, NULL), HCL_ERR_NULL_POINTER);
    /* before build */
    EXPECT_STATUS(A, hcl_model_enable_qat(m, &qc), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate(m, good, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_export_int8(m, path), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_load_int8(m, junk), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_quant_load(m, junk), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT);
    hcl_model_options mo;
    hcl_model_options_init(&mo, HCL_PRECISION_MIXED_F16);
    mo.max_batch = 4;
    CK(hcl_model_build(m, &mo));
    /* not quantized yet */
    EXPECT_STATUS(A, hcl_model_quant_range(m, 1, range), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_quant_save(m, path), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_quant_load(m, junk), HCL_ERR_FORMAT);
    EXPECT_STATUS(A, hcl_model_export_int8(m, path), HCL_ERR_INVALID_ARGUMENT);
    /* bad configurations, methods, percentiles, counts and batchers */
    const float bad_mom[] = {0.0f, -0.5f, 1.5f, NAN, INFINITY};
    for (size_t k = 0; k < 5; k++) {
        hcl_qat_config c = qc;
        c.momentum = bad_mom[k];
        EXPECT_STATUS(A, hcl_model_enable_qat(m, &c), HCL_ERR_INVALID_ARGUMENT);
    }
    const int bad_obs[] = {-1, 2, INT_MAX};
    for (size_t k = 0; k < 3; k++) {
        hcl_qat_config c = qc;
        c.observe = bad_obs[k];
        EXPECT_STATUS(A, hcl_model_enable_qat(m, &c), HCL_ERR_INVALID_ARGUMENT);
    }
    for (size_t k = 0; k < 4; k++)
        EXPECT_STATUS(A, hcl_model_calibrate(m, good, 1, (hcl_calib_method)bad_enums[k], 99.0f), HCL_ERR_INVALID_ARGUMENT);
    const float bad_pct[] = {50.0f, 0.0f, -1.0f, 100.5f, NAN, INFINITY};
    for (size_t k = 0; k < 6; k++)
        EXPECT_STATUS(A, hcl_model_calibrate(m, good, 1, HCL_CALIB_PERCENTILE, bad_pct[k]), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate(m, good, 0, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate(m, big, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_SHAPE);
    EXPECT_STATUS(A, hcl_model_calibrate(m, other, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate(m, wrong, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_SHAPE);
    /* caller-driven calibration */
    EXPECT_STATUS(NULL, hcl_model_calibrate_begin(NULL, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_NULL_POINTER);
    EXPECT_STATUS(NULL, hcl_model_calibrate_end(NULL), HCL_ERR_NULL_POINTER);
    for (size_t k = 0; k < 4; k++)
        EXPECT_STATUS(A, hcl_model_calibrate_begin(m, (hcl_calib_method)bad_enums[k], 99.0f), HCL_ERR_INVALID_ARGUMENT);
    for (size_t k = 0; k < 6; k++)
        EXPECT_STATUS(A, hcl_model_calibrate_begin(m, HCL_CALIB_PERCENTILE, bad_pct[k]), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate_end(m), HCL_ERR_INVALID_ARGUMENT); /* not begun */
    CK(hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f));
    CK(hcl_finish(A));
    EXPECT_STATUS(A, hcl_model_calibrate_begin(m, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT); /* running */
    EXPECT_STATUS(A, hcl_model_calibrate(m, good, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate_end(m), HCL_ERR_INVALID_ARGUMENT); /* no forward ran */
    ck_assert_int_eq(hcl_model_quant_mode(m), HCL_QUANT_MODE_NONE);
    /* files: missing, not safetensors */
    EXPECT_STATUS(A, hcl_model_load_int8(m, path), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_model_load_int8(m, junk), HCL_ERR_FORMAT);
    CK(hcl_model_enable_qat(m, &qc));
    CK(hcl_finish(A));
    /* enabled, ranges never observed */
    for (size_t k = 0; k < 4; k++) EXPECT_STATUS(A, hcl_model_quant_range(m, bad_ids[k], range), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_quant_range(m, 2, range), HCL_ERR_INVALID_ARGUMENT); /* the ReLU */
    EXPECT_STATUS(A, hcl_model_export_int8(m, path), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_quant_load(m, path), HCL_ERR_IO);
    EXPECT_STATUS(A, hcl_model_quant_load(m, junk), HCL_ERR_FORMAT);
    /* a model with nothing to quantize */
    hcl_model *bn = NULL;
    CK(hcl_model_create(A, HCL_PRECISION_FP32, &bn));
    CK(hcl_model_input(bn, 3, smp, NULL));
    CK(hcl_model_batchnorm2d(bn, HCL_NN_PREV, 0.1f, 1e-5f, NULL));
    hcl_model_options bo2;
    hcl_model_options_init(&bo2, HCL_PRECISION_FP32);
    bo2.loss = HCL_LOSS_MSE;
    CK(hcl_model_build(bn, &bo2));
    EXPECT_STATUS(A, hcl_model_enable_qat(bn, &qc), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_calibrate(bn, good, 1, HCL_CALIB_MINMAX, 0.0f), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_quant_load(bn, junk), HCL_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(A, hcl_model_load_int8(bn, junk), HCL_ERR_INVALID_ARGUMENT);
    hcl_model_free(bn);
    hcl_model_free(m);
    hcl_batcher *bs[] = {good, big, other, wrong};
    for (size_t k = 0; k < 4; k++) hcl_batcher_free(bs[k]);
    unlink(junk);
    rmdir(dir);
    free(path);
    free(junk);
    free(dir);
    matrix_end("nn.h (quantization)");
}
END_TEST

/* ================================================================ main: totals and coverage == */

/* The public functions: identifiers followed by '(' in the headers outside comments and
 * preprocessor lines. Returns how many were written to names (at most max). */
static size_t header_functions(const char *root, char names[][64], size_t max) {
    static const char *const headers[] = {"runtime.h", "tensor.h", "ops.h", "amp.h", "io.h", "nn.h"};
    size_t count = 0;
    for (size_t h = 0; h < sizeof headers / sizeof *headers; h++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/include/halfcl/%s", root, headers[h]);
        FILE *f = fopen(path, "rb");
        if (!f) return 0;
        static char text[1 << 20];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        /* blank out comments and preprocessor lines (with their continuations) */
        for (size_t i = 0; i < n; i++) {
            if (text[i] == '/' && text[i + 1] == '*') {
                size_t j = i;
                while (j < n && !(text[j] == '*' && text[j + 1] == '/')) text[j++] = ' ';
                if (j < n) text[j] = text[j + 1] = ' ';
                i = j + 1;
            } else if (text[i] == '/' && text[i + 1] == '/') {
                while (i < n && text[i] != '\n') text[i++] = ' ';
            } else if (text[i] == '#' && (i == 0 || text[i - 1] == '\n')) {
                while (i < n && !(text[i] == '\n' && text[i - 1] != '\\')) text[i++] = ' ';
            }
        }
        for (const char *p = text; (p = strstr(p, "hcl_")) != NULL;) {
            if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) { p += 4; continue; }
            size_t len = 0;
            while (isalnum((unsigned char)p[len]) || p[len] == '_') len++;
            const char *q = p + len;
            while (*q == ' ' || *q == '\n') q++;
            if (*q == '(' && len < 64 && count < max) {
                int dup = 0;
                for (size_t i = 0; i < count; i++) dup |= !strncmp(names[i], p, len) && names[i][len] == '\0';
                if (!dup) {
                    memcpy(names[count], p, len);
                    names[count++][len] = '\0';
                }
            }
            p += len;
        }
    }
    return count;
}

static Suite *matrix_suite(void) {
    Suite *s = suite_create("bad_inputs");
    TCase *tc = tcase_create("matrix");
    tcase_add_test(tc, runtime_h);
    tcase_add_test(tc, tensor_h);
    tcase_add_test(tc, ops_h);
    tcase_add_test(tc, amp_h);
    tcase_add_test(tc, amp_compression_h);
    tcase_add_test(tc, io_h);
    tcase_add_test(tc, nn_h);
    tcase_add_test(tc, nn_seq_h);
    tcase_add_test(tc, nn_quant_h);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int fds[2];
    if (pipe(fds) != 0) return 1;
    matrix_fd = fds[1];
    int rc = test_run_suite(matrix_suite());
    close(fds[1]);
    matrix_fd = -1;
    if (rc == 77) return rc;
    /* totals from the tests (each ran in its own process under Check's fork mode) */
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    static char buf[1 << 16];
    size_t used = 0;
    ssize_t r;
    while (used < sizeof buf - 1 && (r = read(fds[0], buf + used, sizeof buf - 1 - used)) > 0) used += (size_t)r;
    buf[used] = '\0';
    close(fds[0]);
    unsigned long total = 0;
    static char called[512][64];
    size_t ncalled = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "calls ", 6)) total += strtoul(line + 6, NULL, 10);
        else if (!strncmp(line, "fn ", 3) && ncalled < 512) {
            int dup = 0;
            for (size_t i = 0; i < ncalled; i++) dup |= !strcmp(called[i], line + 3);
            if (!dup) snprintf(called[ncalled++], 64, "%s", line + 3);
        }
    }
    /* coverage against the headers */
    static char names[512][64];
    const char *root = getenv("HALFCL_SOURCE_ROOT");
    const char *tries[] = {root, ".", "..", "../.."};
    size_t nnames = 0;
    for (size_t i = 0; i < sizeof tries / sizeof *tries && !nnames; i++)
        if (tries[i]) nnames = header_functions(tries[i], names, 512);
    size_t covered = 0;
    for (size_t i = 0; i < nnames; i++) {
        int hit = 0;
        for (size_t j = 0; j < ncalled; j++) hit |= !strcmp(names[i], called[j]);
        if (hit) covered++;
        else fprintf(stderr, "bad-input matrix: %s is not covered\n", names[i]);
    }
    for (size_t j = 0; j < ncalled; j++) {
        int known = 0;
        for (size_t i = 0; i < nnames; i++) known |= !strcmp(names[i], called[j]);
        if (!known && nnames) fprintf(stderr, "bad-input matrix: %s is not a public function of the headers\n", called[j]);
        if (!known && nnames) rc = 1;
    }
    fprintf(stderr, "bad-input matrix: %lu calls, %zu of %zu public functions\n", total, covered, nnames);
    if (!nnames) fprintf(stderr, "bad-input matrix: headers not found (set HALFCL_SOURCE_ROOT): coverage not checked\n");
    if (covered < nnames) rc = 1;
    return rc;
}
