/* Tensor layer: dtypes, creation at every rank, views (offsets, sharing, bounds), host transfers
 * with conversion and raw, fill/fill_bits/copy/cast against the exact host conversions on odd
 * sizes with poisoned outputs and guard elements, the caching allocator's exact counters, and a
 * status with a message for every kind of bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "runtime/internal.h"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* ck_assert in Check's fork mode reports every passing check to the parent through a pipe:
 * element loops use this, which costs nothing until it fails. */
#define CK_FAST(cond, ...)                                 \
    do {                                                   \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);            \
    } while (0)

/* The bit pattern test_tensor_poisoned() writes. */
static uint32_t poison_bits(hcl_dtype dt) {
    switch (dt) {
    case HCL_F32: return 0x7fc00000u;
    case HCL_F16: return 0x7e00u;
    case HCL_BF16: return 0x7fc0u;
    case HCL_I32: return 0xffffffffu;
    default: return 0xffu;
    }
}

/* Element i of raw storage of a dtype, as bits. */
static uint32_t elem_bits(const void *raw, hcl_dtype dt, size_t i) {
    const unsigned char *p = raw;
    switch (hcl_dtype_size(dt)) {
    case 4: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case 2: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    default: return p[i];
    }
}

static void *download_raw(hcl_tensor *t) {
    size_t bytes = hcl_tensor_bytes(t);
    void *raw = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(raw);
    CK_OK(t->ctx, hcl_tensor_download_raw(t, raw, bytes));
    return raw;
}

/* Expects `st` and a message on ctx naming the status and containing `what`. */
#define CK_ERR(ctx, expr, want, what)                                                                   \
    do {                                                                                                \
        hcl_clear_error(ctx);                                                                           \
        hcl_status st_ = (expr);                                                                        \
        ck_assert_msg(st_ == (want), "%s -> %s, want %s (%s)", #expr, hcl_status_name(st_),             \
                      hcl_status_name(want), hcl_last_error(ctx));                                      \
        const char *m_ = hcl_last_error(ctx);                                                           \
        ck_assert_msg(strstr(m_, hcl_status_name(want)) && strstr(m_, (what)),                          \
                      "%s: message '%s' should name %s and contain '%s'", #expr, m_, hcl_status_name(want), \
                      (what));                                                                          \
    } while (0)

/* The first element count at which a dtype uses the vector/tail path fully: odd sizes. */
static const size_t odd_sizes[] = {1, 2, 3, 5, 7, 8, 9, 33, 1001};

/* ---------------------------------------------------------------------------- dtypes ---- */

START_TEST(dtypes) {
    const char *names[] = {"f32", "f16", "bf16", "i32", "u8", "i8"};
    const size_t sizes[] = {4, 2, 2, 4, 1, 1};
    const int floats[] = {1, 1, 1, 0, 0, 0};
    ck_assert_int_eq(HCL_DTYPE_COUNT_, 6);
    for (int d = 0; d < HCL_DTYPE_COUNT_; d++) {
        ck_assert_str_eq(hcl_dtype_name((hcl_dtype)d), names[d]);
        ck_assert_str_eq(hcl_dtype_cl_name((hcl_dtype)d), names[d]);
        ck_assert_uint_eq(hcl_dtype_size((hcl_dtype)d), sizes[d]);
        ck_assert_int_eq(!!hcl_dtype_is_float((hcl_dtype)d), floats[d]);
    }
    const int bad[] = {HCL_DTYPE_COUNT_, 7, 100, -1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_ptr_null(hcl_dtype_name((hcl_dtype)bad[i]));
        ck_assert_uint_eq(hcl_dtype_size((hcl_dtype)bad[i]), 0);
        ck_assert_int_eq(hcl_dtype_is_float((hcl_dtype)bad[i]), 0);
    }
    ck_assert_uint_eq(hcl_tensor_bytes(NULL), 0);
    ck_assert_int_eq(hcl_tensor_same_shape(NULL, NULL), 0);
    hcl_tensor_free(NULL);
}
END_TEST

/* ----------------------------------------------------------------------- create ranks ---- */

START_TEST(create_every_rank) {
    hcl_context *ctx = test_context();
    const int64_t dims[HCL_MAX_RANK] = {2, 1, 3, 1, 2, 1, 1, 2};
    for (int rank = 0; rank <= HCL_MAX_RANK; rank++) {
        for (int d = 0; d < HCL_DTYPE_COUNT_; d++) {
            hcl_dtype dt = (hcl_dtype)d;
            size_t want = 1;
            for (int i = 0; i < rank; i++) want *= (size_t)dims[i];
            hcl_tensor *t = NULL;
            CK_OK(ctx, hcl_tensor_create(ctx, dt, rank, rank ? dims : NULL, &t));
            ck_assert_ptr_eq(t->ctx, ctx);
            ck_assert_int_eq(t->dtype, dt);
            ck_assert_int_eq(t->rank, rank);
            ck_assert_uint_eq(t->count, want);
            ck_assert_uint_eq(t->offset, 0);
            ck_assert_ptr_nonnull(t->buffer);
            ck_assert_ptr_nonnull(t->block);
            ck_assert_uint_eq(hcl_tensor_bytes(t), want * hcl_dtype_size(dt));
            for (int i = 0; i < rank; i++) ck_assert_int_eq(t->shape[i], dims[i]);
            /* the contents round-trip */
            size_t bytes = hcl_tensor_bytes(t);
            unsigned char src[128], got[128];
            for (size_t i = 0; i < bytes; i++) src[i] = (unsigned char)(i * 37 + (size_t)rank * 11 + (size_t)d);
            if (dt == HCL_F32 || dt == HCL_F16 || dt == HCL_BF16)
                for (size_t i = 0; i < bytes; i += hcl_dtype_size(dt)) src[i + hcl_dtype_size(dt) - 1] &= 0x3f; /* finite */
            CK_OK(ctx, hcl_tensor_upload_raw(t, src, bytes));
            CK_OK(ctx, hcl_tensor_download_raw(t, got, bytes));
            ck_assert_int_eq(memcmp(src, got, bytes), 0);
            /* same_shape: itself yes, a different rank no */
            ck_assert(hcl_tensor_same_shape(t, t));
            hcl_tensor_free(t);
        }
    }
    /* rank 0 ignores the shape pointer; a scalar is one element */
    hcl_tensor *s = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 0, dims, &s));
    ck_assert_uint_eq(s->count, 1);
    CK_OK(ctx, hcl_tensor_fill(s, 4.25));
    float v = 0;
    CK_OK(ctx, hcl_tensor_download_f32(s, &v, 1));
    ck_assert_float_eq(v, 4.25f);
    /* same_shape compares rank and dims only */
    const int64_t a_shape[2] = {2, 3}, b_shape[2] = {3, 2}, c_shape[1] = {6};
    hcl_tensor *a = NULL, *b = NULL, *c = NULL, *a2 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, a_shape, &a));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, b_shape, &b));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, c_shape, &c));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 2, a_shape, &a2));
    ck_assert(!hcl_tensor_same_shape(a, b));
    ck_assert(!hcl_tensor_same_shape(a, c));
    ck_assert(!hcl_tensor_same_shape(s, c));
    ck_assert(hcl_tensor_same_shape(a, a2));
    ck_assert(!hcl_tensor_same_shape(a, NULL));
    hcl_tensor_free(a);
    hcl_tensor_free(b);
    hcl_tensor_free(c);
    hcl_tensor_free(a2);
    hcl_tensor_free(s);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(create_bad_input) {
    hcl_context *ctx = test_context();
    hcl_memory_stats before, after;
    hcl_memory_stats_get(ctx, &before);
    const int64_t ok[HCL_MAX_RANK + 1] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
    hcl_tensor *t = (hcl_tensor *)ctx; /* must come back NULL */
    ck_assert_int_eq(hcl_tensor_create(NULL, HCL_F32, 1, ok, &t), HCL_ERR_NULL_POINTER);
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ok, NULL), HCL_ERR_NULL_POINTER, "NULL");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 2, NULL, &t), HCL_ERR_NULL_POINTER, "shape");
    ck_assert_ptr_null(t);
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, HCL_MAX_RANK + 1, ok, &t), HCL_ERR_SHAPE, "rank 9");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, -1, ok, &t), HCL_ERR_SHAPE, "rank -1");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 1000, ok, &t), HCL_ERR_SHAPE, "rank");
    CK_ERR(ctx, hcl_tensor_create(ctx, (hcl_dtype)HCL_DTYPE_COUNT_, 1, ok, &t), HCL_ERR_DTYPE, "dtype");
    CK_ERR(ctx, hcl_tensor_create(ctx, (hcl_dtype)-1, 1, ok, &t), HCL_ERR_DTYPE, "dtype");
    const int64_t zero[3] = {4, 0, 4}, neg[3] = {4, 4, -3}, min[1] = {INT64_MIN};
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 3, zero, &t), HCL_ERR_SHAPE, "dim 1 is 0");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 3, neg, &t), HCL_ERR_SHAPE, "dim 2 is -3");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_U8, 1, min, &t), HCL_ERR_SHAPE, "dim 0");
    /* element and byte counts that overflow size_t */
    const int64_t huge2[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    const int64_t huge8[8] = {256, 256, 256, 256, 256, 256, 256, 256};
    const int64_t bytes_over[1] = {(int64_t)1 << 62}; /* 2^62 elements of 4 bytes */
    const int64_t max_dim[2] = {INT64_MAX, 3};
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_U8, 2, huge2, &t), HCL_ERR_OVERFLOW, "overflow");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_U8, 8, huge8, &t), HCL_ERR_OVERFLOW, "overflow");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 1, bytes_over, &t), HCL_ERR_OVERFLOW, "overflow");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 2, max_dim, &t), HCL_ERR_OVERFLOW, "overflow");
    /* larger than the device allows in one allocation: refused before any OpenCL call */
    uint64_t max_alloc = hcl_context_device(ctx)->max_alloc_bytes;
    const int64_t over[1] = {(int64_t)max_alloc + 1};
    const int64_t over_f32[1] = {(int64_t)(max_alloc / 4) + 1};
    const int64_t way_over[1] = {(int64_t)1 << 61};
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_U8, 1, over, &t), HCL_ERR_DEVICE_MEMORY, "max allocation");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 1, over_f32, &t), HCL_ERR_DEVICE_MEMORY, "max allocation");
    CK_ERR(ctx, hcl_tensor_create(ctx, HCL_F32, 1, way_over, &t), HCL_ERR_DEVICE_MEMORY, "exceeds");
    ck_assert_ptr_null(t);
    /* nothing was allocated or counted by the failures */
    hcl_memory_stats_get(ctx, &after);
    ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
    ck_assert_uint_eq(after.allocations, 0);
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------- views ---- */

START_TEST(views) {
    hcl_context *ctx = test_context();
    const int64_t shape[1] = {10};
    float host[10], got[10];
    for (int i = 0; i < 10; i++) host[i] = (float)i;
    hcl_tensor *base = test_tensor_from(ctx, HCL_F32, 1, shape, host);
    hcl_memory_stats before, after;
    hcl_memory_stats_get(ctx, &before);

    const int64_t s22[2] = {2, 2}, s2[1] = {2};
    hcl_tensor *v = NULL, *vv = NULL;
    CK_OK(ctx, hcl_tensor_view(base, 3, 2, s22, &v));
    ck_assert_ptr_eq(v->buffer, base->buffer);
    ck_assert_ptr_null(v->block);
    ck_assert_ptr_eq(v->ctx, ctx);
    ck_assert_int_eq(v->dtype, HCL_F32);
    ck_assert_int_eq(v->rank, 2);
    ck_assert_uint_eq(v->count, 4);
    ck_assert_uint_eq(v->offset, 3);
    ck_assert_uint_eq(hcl_tensor_bytes(v), 16);
    CK_OK(ctx, hcl_tensor_download_f32(v, got, 4));
    for (int i = 0; i < 4; i++) ck_assert_float_eq(got[i], (float)(3 + i));
    /* a view of a view: offsets add up, bounds are the inner view's */
    CK_OK(ctx, hcl_tensor_view(v, 1, 1, s2, &vv));
    ck_assert_uint_eq(vv->offset, 4);
    CK_OK(ctx, hcl_tensor_download_f32(vv, got, 2));
    ck_assert_float_eq(got[0], 4.0f);
    ck_assert_float_eq(got[1], 5.0f);
    hcl_tensor *bad = (hcl_tensor *)ctx;
    const int64_t s3[1] = {3}, s4[1] = {4}, s1[1] = {1}, s11[1] = {11}, s5x2[2] = {5, 2};
    CK_ERR(ctx, hcl_tensor_view(v, 2, 1, s3, &bad), HCL_ERR_SHAPE, "exceeds");
    ck_assert_ptr_null(bad);

    /* writes through views land in the shared buffer, and only in their range */
    CK_OK(ctx, hcl_tensor_fill(v, -1.0));
    const float up[2] = {100.0f, 200.0f};
    CK_OK(ctx, hcl_tensor_upload_f32(vv, up, 2));
    CK_OK(ctx, hcl_tensor_download_f32(base, got, 10));
    const float want[10] = {0, 1, 2, -1, 100, 200, -1, 7, 8, 9};
    for (int i = 0; i < 10; i++) ck_assert_msg(got[i] == want[i], "base[%d] = %g, want %g", i, got[i], want[i]);

    /* bounds: exactly to the end is fine; one past, a huge offset or more elements is not */
    hcl_tensor *end = NULL, *scalar = NULL, *reshaped = NULL;
    CK_OK(ctx, hcl_tensor_view(base, 6, 1, s4, &end));
    CK_OK(ctx, hcl_tensor_download_f32(end, got, 4));
    ck_assert_float_eq(got[3], 9.0f);
    CK_OK(ctx, hcl_tensor_view(base, 9, 0, NULL, &scalar));
    ck_assert_uint_eq(scalar->count, 1);
    CK_OK(ctx, hcl_tensor_view(base, 0, 2, s5x2, &reshaped));
    ck_assert_uint_eq(reshaped->count, 10);
    ck_assert_int_eq(reshaped->shape[0], 5);
    CK_ERR(ctx, hcl_tensor_view(base, 7, 1, s4, &bad), HCL_ERR_SHAPE, "exceeds");
    CK_ERR(ctx, hcl_tensor_view(base, 10, 1, s1, &bad), HCL_ERR_SHAPE, "exceeds");
    CK_ERR(ctx, hcl_tensor_view(base, 11, 0, NULL, &bad), HCL_ERR_SHAPE, "exceeds");
    CK_ERR(ctx, hcl_tensor_view(base, SIZE_MAX, 1, s1, &bad), HCL_ERR_SHAPE, "exceeds");
    CK_ERR(ctx, hcl_tensor_view(base, SIZE_MAX - 2, 1, s4, &bad), HCL_ERR_SHAPE, "exceeds");
    CK_ERR(ctx, hcl_tensor_view(base, 0, 1, s11, &bad), HCL_ERR_SHAPE, "exceeds");
    /* bad arguments */
    const int64_t zero[1] = {0}, neg[2] = {2, -5}, huge2[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    ck_assert_int_eq(hcl_tensor_view(NULL, 0, 1, s1, &bad), HCL_ERR_NULL_POINTER);
    CK_ERR(ctx, hcl_tensor_view(base, 0, 1, s1, NULL), HCL_ERR_NULL_POINTER, "NULL");
    CK_ERR(ctx, hcl_tensor_view(base, 0, 1, NULL, &bad), HCL_ERR_NULL_POINTER, "shape");
    CK_ERR(ctx, hcl_tensor_view(base, 0, HCL_MAX_RANK + 1, s1, &bad), HCL_ERR_SHAPE, "rank");
    CK_ERR(ctx, hcl_tensor_view(base, 0, -2, s1, &bad), HCL_ERR_SHAPE, "rank");
    CK_ERR(ctx, hcl_tensor_view(base, 0, 1, zero, &bad), HCL_ERR_SHAPE, "dim 0 is 0");
    CK_ERR(ctx, hcl_tensor_view(base, 0, 2, neg, &bad), HCL_ERR_SHAPE, "dim 1 is -5");
    CK_ERR(ctx, hcl_tensor_view(base, 0, 2, huge2, &bad), HCL_ERR_OVERFLOW, "overflow");
    ck_assert_ptr_null(bad);

    /* views allocate nothing */
    hcl_memory_stats_get(ctx, &after);
    ck_assert_uint_eq(after.current_bytes, before.current_bytes);
    ck_assert_uint_eq(after.allocations, before.allocations);
    hcl_tensor_free(reshaped);
    hcl_tensor_free(scalar);
    hcl_tensor_free(end);
    hcl_tensor_free(vv);
    hcl_tensor_free(v);
    hcl_memory_stats_get(ctx, &after);
    ck_assert_uint_eq(after.current_bytes, before.current_bytes);
    ck_assert_uint_eq(after.cached_bytes, before.cached_bytes);
    hcl_tensor_free(base);
    hcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- host transfers ---- */

/* Inputs that exercise rounding: random normals over many magnitudes, halfway cases,
 * subnormals of each dtype, overflow, signed zeros, infinities and NaN. */
static void interesting_f32(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (i % 5) {
        case 0: x[i] = (float)(test_normal() * pow(2.0, test_uniform(-30, 30))); break;
        case 1: x[i] = (float)test_uniform(-70000, 70000); break;
        case 2: x[i] = (float)(test_normal() * 1e-6); break;  /* F16 subnormals */
        case 3: { uint32_t u = (uint32_t)test_uniform(0, 4294967296.0); memcpy(&x[i], &u, 4); break; }
        default: x[i] = (float)(int)test_uniform(-2048, 2048) + 0.5f; break;
        }
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65520.0f, 6.0e-8f, 1.0e-40f, 3.4e38f};
    for (size_t i = 0; i < sizeof special / sizeof *special && i < n; i++) x[n - 1 - i] = special[i];
}

START_TEST(upload_download_f32) {
    hcl_context *ctx = test_context();
    for (size_t si = 0; si < sizeof odd_sizes / sizeof *odd_sizes; si++) {
        size_t n = odd_sizes[si];
        float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got);
        uint16_t *raw = malloc(n * 2);
        interesting_f32(x, n);
        const int64_t shape[1] = {(int64_t)n};
        for (int d = 0; d < 3; d++) {
            hcl_dtype dt = test_float_dtypes[d];
            hcl_tensor *t = test_tensor_poisoned(ctx, dt, 1, shape);
            CK_OK(ctx, hcl_tensor_upload_f32(t, x, n));
            CK_OK(ctx, hcl_tensor_download_f32(t, got, n));
            for (size_t i = 0; i < n; i++) {
                float want = x[i];
                test_round_to_dtype(&want, 1, dt);
                if (isnan(want)) CK_FAST(isnan(got[i]), "%s[%zu]: NaN became %g", hcl_dtype_name(dt), i, got[i]);
                else CK_FAST(f2u(got[i]) == f2u(want), "%s[%zu]: %a -> %a, want %a (%s)", hcl_dtype_name(dt), i,
                             (double)x[i], (double)got[i], (double)want, test_seed_note());
            }
            /* the stored bits are the host conversion's, exactly */
            if (dt != HCL_F32) {
                CK_OK(ctx, hcl_tensor_download_raw(t, raw, n * 2));
                for (size_t i = 0; i < n; i++) {
                    uint16_t want = dt == HCL_F16 ? hcl_f32_to_f16(x[i]) : hcl_f32_to_bf16(x[i]);
                    CK_FAST(raw[i] == want, "%s[%zu] bits %04x, want %04x", hcl_dtype_name(dt), i, raw[i], want);
                }
            } else {
                uint32_t *r32 = download_raw(t);
                for (size_t i = 0; i < n; i++) CK_FAST(r32[i] == f2u(x[i]), "f32[%zu] bits %x, want %x", i, r32[i], f2u(x[i]));
                free(r32);
            }
            hcl_tensor_free(t);
        }
        free(x);
        free(got);
        free(raw);
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(raw_transfers_every_dtype) {
    hcl_context *ctx = test_context();
    for (int d = 0; d < HCL_DTYPE_COUNT_; d++) {
        hcl_dtype dt = (hcl_dtype)d;
        size_t es = hcl_dtype_size(dt);
        for (size_t si = 0; si < sizeof odd_sizes / sizeof *odd_sizes; si++) {
            size_t n = odd_sizes[si];
            unsigned char *src = malloc(n * es), *got = malloc((n + 6) * es);
            for (size_t i = 0; i < n * es; i++) src[i] = (unsigned char)test_uniform(0, 256);
            const int64_t shape[1] = {(int64_t)n}, big[1] = {(int64_t)n + 6};
            hcl_tensor *t = NULL;
            CK_OK(ctx, hcl_tensor_create(ctx, dt, 1, shape, &t));
            CK_OK(ctx, hcl_tensor_upload_raw(t, src, n * es));
            memset(got, 0, n * es);
            CK_OK(ctx, hcl_tensor_download_raw(t, got, n * es));
            ck_assert_msg(memcmp(src, got, n * es) == 0, "%s raw round trip of %zu", hcl_dtype_name(dt), n);
            hcl_tensor_free(t);
            /* through a view at an element offset: the bytes land at offset * size */
            hcl_tensor *b = test_tensor_poisoned(ctx, dt, 1, big), *v = NULL;
            CK_OK(ctx, hcl_tensor_view(b, 5, 1, shape, &v));
            CK_OK(ctx, hcl_tensor_upload_raw(v, src, n * es));
            CK_OK(ctx, hcl_tensor_download_raw(b, got, (n + 6) * es));
            for (size_t i = 0; i < n + 6; i++) {
                uint32_t want = (i >= 5 && i < 5 + n) ? elem_bits(src, dt, i - 5) : poison_bits(dt);
                CK_FAST(elem_bits(got, dt, i) == want, "%s view upload n=%zu: [%zu] = %x, want %x", hcl_dtype_name(dt), n,
                              i, elem_bits(got, dt, i), want);
            }
            memset(got, 0, n * es);
            CK_OK(ctx, hcl_tensor_download_raw(v, got, n * es));
            ck_assert_int_eq(memcmp(src, got, n * es), 0);
            hcl_tensor_free(v);
            hcl_tensor_free(b);
            free(src);
            free(got);
        }
    }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(transfer_bad_input) {
    hcl_context *ctx = test_context();
    const int64_t shape[1] = {8};
    float f[9] = {0};
    unsigned char raw[64] = {0};
    hcl_tensor *t32 = NULL, *t16 = NULL, *ti = NULL, *tu = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, shape, &t32));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, shape, &t16));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, shape, &ti));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, shape, &tu));

    ck_assert_int_eq(hcl_tensor_upload_f32(NULL, f, 8), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(hcl_tensor_download_f32(NULL, f, 8), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(hcl_tensor_upload_raw(NULL, raw, 32), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(hcl_tensor_download_raw(NULL, raw, 32), HCL_ERR_NULL_POINTER);
    CK_ERR(ctx, hcl_tensor_upload_f32(t32, NULL, 8), HCL_ERR_NULL_POINTER, "host");
    CK_ERR(ctx, hcl_tensor_download_f32(t16, NULL, 8), HCL_ERR_NULL_POINTER, "host");
    CK_ERR(ctx, hcl_tensor_upload_raw(tu, NULL, 8), HCL_ERR_NULL_POINTER, "host");
    CK_ERR(ctx, hcl_tensor_download_raw(ti, NULL, 32), HCL_ERR_NULL_POINTER, "host");
    /* sizes must match exactly */
    CK_ERR(ctx, hcl_tensor_upload_f32(t32, f, 7), HCL_ERR_SHAPE, "7");
    CK_ERR(ctx, hcl_tensor_upload_f32(t16, f, 9), HCL_ERR_SHAPE, "9");
    CK_ERR(ctx, hcl_tensor_download_f32(t32, f, 9), HCL_ERR_SHAPE, "8");
    CK_ERR(ctx, hcl_tensor_download_f32(t16, f, 0), HCL_ERR_SHAPE, "8");
    CK_ERR(ctx, hcl_tensor_upload_raw(t32, raw, 8), HCL_ERR_SHAPE, "32");   /* elements, not bytes */
    CK_ERR(ctx, hcl_tensor_upload_raw(t16, raw, 32), HCL_ERR_SHAPE, "16");
    CK_ERR(ctx, hcl_tensor_download_raw(ti, raw, 31), HCL_ERR_SHAPE, "32");
    CK_ERR(ctx, hcl_tensor_download_raw(tu, raw, 9), HCL_ERR_SHAPE, "8");
    /* f32 transfers need a float tensor */
    CK_ERR(ctx, hcl_tensor_upload_f32(ti, f, 8), HCL_ERR_DTYPE, "i32");
    CK_ERR(ctx, hcl_tensor_upload_f32(tu, f, 8), HCL_ERR_DTYPE, "u8");
    CK_ERR(ctx, hcl_tensor_download_f32(ti, f, 8), HCL_ERR_DTYPE, "i32");
    CK_ERR(ctx, hcl_tensor_download_f32(tu, f, 8), HCL_ERR_DTYPE, "u8");
    /* nothing was written by the refused uploads */
    CK_OK(ctx, hcl_tensor_fill_bits(ti, 0x11223344u));
    CK_ERR(ctx, hcl_tensor_upload_f32(ti, f, 8), HCL_ERR_DTYPE, "i32");
    CK_ERR(ctx, hcl_tensor_upload_raw(ti, raw, 31), HCL_ERR_SHAPE, "32");
    uint32_t back[8];
    CK_OK(ctx, hcl_tensor_download_raw(ti, back, sizeof back));
    for (int i = 0; i < 8; i++) ck_assert_uint_eq(back[i], 0x11223344u);
    hcl_tensor_free(t32);
    hcl_tensor_free(t16);
    hcl_tensor_free(ti);
    hcl_tensor_free(tu);
    hcl_context_free(ctx);
}
END_TEST

/* -------------------------------------------------------------------------- fill ---- */

START_TEST(fill_every_dtype) {
    hcl_context *ctx = test_context();
    const double values[] = {0.1, -3.3, 1.5, 70000.0, -0.0, 1e-7};
    for (size_t si = 0; si < sizeof odd_sizes / sizeof *odd_sizes; si++) {
        size_t n = odd_sizes[si];
        const int64_t shape[1] = {(int64_t)n}, big[1] = {(int64_t)n + 4};
        for (int d = 0; d < HCL_DTYPE_COUNT_; d++) {
            hcl_dtype dt = (hcl_dtype)d;
            /* a view in the middle of a poisoned buffer: the guards must stay poisoned */
            hcl_tensor *b = test_tensor_poisoned(ctx, dt, 1, big), *v = NULL;
            CK_OK(ctx, hcl_tensor_view(b, 2, 1, shape, &v));
            double value = values[(si + (size_t)d) % (sizeof values / sizeof *values)];
            if (dt == HCL_I32) value = si % 2 ? -7.9 : 123456789.0; /* truncated; exact in double */
            if (dt == HCL_U8) value = si % 2 ? 200.7 : 3.0;
            if (dt == HCL_I8) value = si % 3 == 0 ? -7.9 : si % 3 == 1 ? 300.0 : -1000.0; /* truncated, saturated */
            CK_OK(ctx, hcl_tensor_fill(v, value));
            uint32_t want;
            float fv = (float)value;
            switch (dt) {
            case HCL_F32: want = f2u(fv); break;
            case HCL_F16: want = hcl_f32_to_f16(fv); break;
            case HCL_BF16: want = hcl_f32_to_bf16(fv); break;
            case HCL_I32: { int32_t iv = (int32_t)value; memcpy(&want, &iv, 4); break; }
            case HCL_I8: want = (uint32_t)(uint8_t)(int8_t)(value >= 127.0 ? 127 : value <= -128.0 ? -128 : (int)value); break;
            default: want = (uint32_t)(uint8_t)value; break;
            }
            void *raw = download_raw(b);
            for (size_t i = 0; i < n + 4; i++) {
                uint32_t w = (i >= 2 && i < n + 2) ? want : poison_bits(dt);
                CK_FAST(elem_bits(raw, dt, i) == w, "fill %s n=%zu with %g: [%zu] = %x, want %x", hcl_dtype_name(dt), n,
                              value, i, elem_bits(raw, dt, i), w);
            }
            free(raw);
            /* fill_bits uses the low bits per the dtype size */
            uint32_t bits = 0xa5c3e10fu ^ (uint32_t)(n * 2654435761u);
            CK_OK(ctx, hcl_tensor_fill_bits(v, bits));
            size_t es = hcl_dtype_size(dt);
            uint32_t wb = es == 4 ? bits : es == 2 ? (bits & 0xffffu) : (bits & 0xffu);
            raw = download_raw(b);
            for (size_t i = 0; i < n + 4; i++) {
                uint32_t w = (i >= 2 && i < n + 2) ? wb : poison_bits(dt);
                CK_FAST(elem_bits(raw, dt, i) == w, "fill_bits %s n=%zu: [%zu] = %x, want %x", hcl_dtype_name(dt), n, i,
                              elem_bits(raw, dt, i), w);
            }
            free(raw);
            hcl_tensor_free(v);
            hcl_tensor_free(b);
        }
    }
    /* specific values */
    const int64_t one[1] = {3};
    hcl_tensor *i32 = NULL, *f16 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, one, &i32));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, one, &f16));
    CK_OK(ctx, hcl_tensor_fill(i32, -2147483648.0));
    int32_t iv[3];
    CK_OK(ctx, hcl_tensor_download_raw(i32, iv, sizeof iv));
    ck_assert_int_eq(iv[2], INT32_MIN);
    /* integers: truncated, saturated at the range, NaN -> 0 */
    const double ivals[] = {1e10, -1e10, 2147483647.9, -2147483648.9, NAN, -INFINITY, -0.9, 77.99};
    const int32_t iwant[] = {INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 0, INT32_MIN, 0, 77};
    for (size_t k = 0; k < sizeof ivals / sizeof *ivals; k++) {
        CK_OK(ctx, hcl_tensor_fill(i32, ivals[k]));
        CK_OK(ctx, hcl_tensor_download_raw(i32, iv, sizeof iv));
        ck_assert_msg(iv[0] == iwant[k] && iv[2] == iwant[k], "i32 fill %g -> %d, want %d", ivals[k], iv[0], iwant[k]);
    }
    hcl_tensor *u8 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, one, &u8));
    const double uvals[] = {300.0, -5.0, NAN, INFINITY, 254.99, 255.0, 0.5};
    const uint8_t uwant[] = {255, 0, 0, 255, 254, 255, 0};
    for (size_t k = 0; k < sizeof uvals / sizeof *uvals; k++) {
        uint8_t uv[3];
        CK_OK(ctx, hcl_tensor_fill(u8, uvals[k]));
        CK_OK(ctx, hcl_tensor_download_raw(u8, uv, sizeof uv));
        ck_assert_msg(uv[0] == uwant[k] && uv[2] == uwant[k], "u8 fill %g -> %u, want %u", uvals[k], uv[0], uwant[k]);
    }
    hcl_tensor_free(u8);
    hcl_tensor *i8 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I8, 1, one, &i8));
    const double bvals[] = {300.0, -300.0, NAN, INFINITY, -INFINITY, 126.99, -127.9, -128.0, -0.9, 5.5};
    const int8_t bwant[] = {127, -128, 0, 127, -128, 126, -127, -128, 0, 5};
    for (size_t k = 0; k < sizeof bvals / sizeof *bvals; k++) {
        int8_t bv[3];
        CK_OK(ctx, hcl_tensor_fill(i8, bvals[k]));
        CK_OK(ctx, hcl_tensor_download_raw(i8, bv, sizeof bv));
        ck_assert_msg(bv[0] == bwant[k] && bv[2] == bwant[k], "i8 fill %g -> %d, want %d", bvals[k], bv[0], bwant[k]);
    }
    /* I8 has no f32 transfers and no casts */
    float f3[3] = {0};
    CK_ERR(ctx, hcl_tensor_upload_f32(i8, f3, 3), HCL_ERR_DTYPE, "i8");
    CK_ERR(ctx, hcl_tensor_download_f32(i8, f3, 3), HCL_ERR_DTYPE, "i8");
    CK_ERR(ctx, hcl_tensor_cast(i8, f16), HCL_ERR_DTYPE, "i8");
    CK_ERR(ctx, hcl_tensor_cast(f16, i8), HCL_ERR_DTYPE, "i8");
    hcl_tensor_free(i8);
    CK_OK(ctx, hcl_tensor_fill(f16, INFINITY));
    uint16_t hv[3];
    CK_OK(ctx, hcl_tensor_download_raw(f16, hv, sizeof hv));
    ck_assert_uint_eq(hv[0], 0x7c00);
    CK_OK(ctx, hcl_tensor_fill(f16, NAN));
    CK_OK(ctx, hcl_tensor_download_raw(f16, hv, sizeof hv));
    ck_assert_msg((hv[1] & 0x7c00) == 0x7c00 && (hv[1] & 0x3ff), "NaN fill gave %04x", hv[1]);
    CK_OK(ctx, hcl_tensor_fill(f16, 65520.0)); /* rounds to inf */
    CK_OK(ctx, hcl_tensor_download_raw(f16, hv, sizeof hv));
    ck_assert_uint_eq(hv[2], 0x7c00);
    ck_assert_int_eq(hcl_tensor_fill(NULL, 1.0), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(hcl_tensor_fill_bits(NULL, 1), HCL_ERR_NULL_POINTER);
    hcl_tensor_free(i32);
    hcl_tensor_free(f16);
    hcl_context_free(ctx);
}
END_TEST

/* -------------------------------------------------------------------------- copy ---- */

START_TEST(copy_every_dtype) {
    hcl_context *ctx = test_context();
    for (size_t si = 0; si < sizeof odd_sizes / sizeof *odd_sizes; si++) {
        size_t n = odd_sizes[si];
        for (int d = 0; d < HCL_DTYPE_COUNT_; d++) {
            hcl_dtype dt = (hcl_dtype)d;
            size_t es = hcl_dtype_size(dt);
            unsigned char *src = malloc(n * es);
            for (size_t i = 0; i < n * es; i++) src[i] = (unsigned char)test_uniform(0, 256);
            /* source and destination are views at odd offsets inside larger buffers, with
             * different shapes of the same count */
            const int64_t sbig[1] = {(int64_t)n + 3}, dbig[1] = {(int64_t)n + 8}, sshape[1] = {(int64_t)n};
            const int64_t dshape[2] = {1, (int64_t)n};
            hcl_tensor *sb = NULL, *sv = NULL, *db = test_tensor_poisoned(ctx, dt, 1, dbig), *dv = NULL;
            CK_OK(ctx, hcl_tensor_create(ctx, dt, 1, sbig, &sb));
            CK_OK(ctx, hcl_tensor_fill_bits(sb, 0x5a5a5a5au));
            CK_OK(ctx, hcl_tensor_view(sb, 3, 1, sshape, &sv));
            CK_OK(ctx, hcl_tensor_upload_raw(sv, src, n * es));
            CK_OK(ctx, hcl_tensor_view(db, 5, 2, dshape, &dv));
            CK_OK(ctx, hcl_tensor_copy(dv, sv));
            void *raw = download_raw(db);
            for (size_t i = 0; i < n + 8; i++) {
                uint32_t w = (i >= 5 && i < n + 5) ? elem_bits(src, dt, i - 5) : poison_bits(dt);
                CK_FAST(elem_bits(raw, dt, i) == w, "copy %s n=%zu: [%zu] = %x, want %x", hcl_dtype_name(dt), n, i,
                              elem_bits(raw, dt, i), w);
            }
            free(raw);
            /* whole tensors at offset 0 too */
            hcl_tensor *a = NULL, *b = test_tensor_poisoned(ctx, dt, 1, sshape);
            CK_OK(ctx, hcl_tensor_create(ctx, dt, 1, sshape, &a));
            CK_OK(ctx, hcl_tensor_upload_raw(a, src, n * es));
            CK_OK(ctx, hcl_tensor_copy(b, a));
            raw = download_raw(b);
            ck_assert_msg(memcmp(raw, src, n * es) == 0, "copy %s n=%zu at offset 0", hcl_dtype_name(dt), n);
            free(raw);
            hcl_tensor_free(a);
            hcl_tensor_free(b);
            hcl_tensor_free(sv);
            hcl_tensor_free(dv);
            hcl_tensor_free(sb);
            hcl_tensor_free(db);
            free(src);
        }
    }
    hcl_context_free(ctx);
}
END_TEST

/* -------------------------------------------------------------------------- cast ---- */

/* Bits of x (stored as src dtype) converted to dst on the host. */
static uint32_t host_cast(uint32_t bits, hcl_dtype src, hcl_dtype dst) {
    float f;
    if (src == HCL_F32) memcpy(&f, &bits, 4);
    else if (src == HCL_F16) f = hcl_f16_to_f32((uint16_t)bits);
    else f = hcl_bf16_to_f32((uint16_t)bits);
    if (dst == HCL_F32) return src == HCL_F32 ? bits : f2u(f);
    if (dst == src) return bits;
    return dst == HCL_F16 ? hcl_f32_to_f16(f) : hcl_f32_to_bf16(f);
}

#if defined(__SANITIZE_ADDRESS__)
#define HCL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HCL_TEST_ASAN 1
#endif
#endif
#ifndef HCL_TEST_ASAN
#define HCL_TEST_ASAN 0
#endif

/* Where a million work-items cannot run in reasonable time: oclgrind simulates each one, and
 * Mesa 22.3 rusticl (llvmpipe) in an ASan process allocates per work-group through ASan's
 * allocator (a 100k-element fill takes 4 s and 2.6 GB there, a million exhausts memory). */
static int big_sizes_too_slow(hcl_context *ctx) {
    const hcl_device_info *d = hcl_context_device(ctx);
    if (strstr(d->platform_name, "Oclgrind") || strstr(d->name, "Oclgrind")) return 1;
    return HCL_TEST_ASAN && strstr(d->platform_name, "rusticl") != NULL;
}

START_TEST(cast_all_pairs) {
    hcl_context *ctx = test_context();
    size_t sizes[] = {1, 7, 33, 1000003};
    if (big_sizes_too_slow(ctx)) {
        sizes[3] = 4099;
        fprintf(stderr, "note: cast_all_pairs uses 4099 instead of 1000003 elements on this device/build\n");
    }
    for (size_t si = 0; si < 4; si++) {
        size_t n = sizes[si];
        /* random bits in every source dtype: all classes incl. subnormals, inf, NaN payloads */
        uint32_t *bits32 = malloc(n * 4);
        uint16_t *bits16 = malloc(n * 2);
        for (size_t i = 0; i < n; i++) {
            bits32[i] = (uint32_t)test_uniform(0, 4294967296.0);
            bits16[i] = (uint16_t)test_uniform(0, 65536.0);
        }
        const uint32_t sp32[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x477ff000u, 0x477fefffu,
                                 0x33000000u, 0x33000001u, 0x00000001u, 0x7f7fffffu, 0x3f800000u};
        const uint16_t sp16[] = {0, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x03ff, 0x7bff, 0x7f80, 0x7f7f, 0x3c00, 0x8001};
        for (size_t i = 0; i < 12 && i < n; i++) { bits32[n - 1 - i] = sp32[i]; bits16[n - 1 - i] = sp16[i]; }
        const int64_t shape[1] = {(int64_t)n}, big[1] = {(int64_t)n + 2};
        for (int s = 0; s < 3; s++) {
            hcl_dtype sdt = test_float_dtypes[s];
            hcl_tensor *src = NULL;
            CK_OK(ctx, hcl_tensor_create(ctx, sdt, 1, shape, &src));
            CK_OK(ctx, hcl_tensor_upload_raw(src, sdt == HCL_F32 ? (const void *)bits32 : (const void *)bits16,
                                             n * hcl_dtype_size(sdt)));
            for (int d = 0; d < 3; d++) {
                hcl_dtype ddt = test_float_dtypes[d];
                /* output: a poisoned view at offset 1 with a poisoned guard on each side */
                hcl_tensor *db = test_tensor_poisoned(ctx, ddt, 1, big), *dst = NULL;
                CK_OK(ctx, hcl_tensor_view(db, 1, 1, shape, &dst));
                CK_OK(ctx, hcl_tensor_cast(dst, src));
                void *raw = download_raw(db);
                ck_assert_uint_eq(elem_bits(raw, ddt, 0), poison_bits(ddt));
                ck_assert_uint_eq(elem_bits(raw, ddt, n + 1), poison_bits(ddt));
                for (size_t i = 0; i < n; i++) {
                    uint32_t in = sdt == HCL_F32 ? bits32[i] : bits16[i];
                    uint32_t want = host_cast(in, sdt, ddt), got = elem_bits(raw, ddt, i + 1);
                    CK_FAST(got == want, "cast %s -> %s n=%zu: [%zu] %x -> %x, want %x (%s)", hcl_dtype_name(sdt),
                                  hcl_dtype_name(ddt), n, i, in, got, want, test_seed_note());
                }
                free(raw);
                hcl_tensor_free(dst);
                hcl_tensor_free(db);
            }
            hcl_tensor_free(src);
        }
        free(bits32);
        free(bits16);
    }
    hcl_context_free(ctx);
}
END_TEST

/* Casting from a view at an odd offset (the vector path reads unaligned). */
START_TEST(cast_from_offset_views) {
    hcl_context *ctx = test_context();
    const size_t n = 37;
    float x[40];
    for (size_t i = 0; i < 40; i++) x[i] = (float)(test_normal() * 100.0);
    const int64_t big[1] = {40}, shape[1] = {(int64_t)n};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 3; d++) {
            hcl_dtype sdt = test_float_dtypes[s], ddt = test_float_dtypes[d];
            hcl_tensor *sb = test_tensor_from(ctx, sdt, 1, big, x), *sv = NULL, *dst = test_tensor_poisoned(ctx, ddt, 1, shape);
            CK_OK(ctx, hcl_tensor_view(sb, 3, 1, shape, &sv));
            CK_OK(ctx, hcl_tensor_cast(dst, sv));
            float got[37];
            CK_OK(ctx, hcl_tensor_download_f32(dst, got, n));
            for (size_t i = 0; i < n; i++) {
                float want = x[i + 3];
                test_round_to_dtype(&want, 1, sdt);
                test_round_to_dtype(&want, 1, ddt);
                CK_FAST(f2u(got[i]) == f2u(want), "cast %s -> %s from offset 3: [%zu] %g, want %g", hcl_dtype_name(sdt),
                              hcl_dtype_name(ddt), i, got[i], want);
            }
            hcl_tensor_free(sv);
            hcl_tensor_free(sb);
            hcl_tensor_free(dst);
        }
    hcl_context_free(ctx);
}
END_TEST

START_TEST(copy_cast_bad_input) {
    hcl_context *ctx = test_context();
    hcl_context *other = test_context();
    const int64_t s8[1] = {8}, s9[1] = {9}, s24[2] = {2, 4};
    hcl_tensor *f32 = NULL, *f32b = NULL, *f16 = NULL, *i32 = NULL, *u8 = NULL, *f32_9 = NULL, *o32 = NULL, *o16 = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, s8, &f32));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, s24, &f32b));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, s8, &f16));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_I32, 1, s8, &i32));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, s8, &u8));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, s9, &f32_9));
    CK_OK(other, hcl_tensor_create(other, HCL_F32, 1, s8, &o32));
    CK_OK(other, hcl_tensor_create(other, HCL_F16, 1, s8, &o16));
    CK_OK(ctx, hcl_tensor_fill(f32, 1.0));
    CK_OK(ctx, hcl_tensor_fill(f32b, 2.0));
    CK_OK(ctx, hcl_tensor_fill(f16, 3.0));

    /* NULLs */
    ck_assert_int_eq(hcl_tensor_copy(NULL, f32), HCL_ERR_NULL_POINTER);
    ck_assert_int_eq(hcl_tensor_copy(NULL, NULL), HCL_ERR_NULL_POINTER);
    CK_ERR(ctx, hcl_tensor_copy(f32, NULL), HCL_ERR_NULL_POINTER, "src");
    ck_assert_int_eq(hcl_tensor_cast(NULL, f32), HCL_ERR_NULL_POINTER);
    CK_ERR(ctx, hcl_tensor_cast(f16, NULL), HCL_ERR_NULL_POINTER, "src");
    /* copy: same dtype and count (shapes may differ) */
    CK_OK(ctx, hcl_tensor_copy(f32, f32b));
    CK_ERR(ctx, hcl_tensor_copy(f16, f32), HCL_ERR_DTYPE, "cast");
    CK_ERR(ctx, hcl_tensor_copy(i32, f32), HCL_ERR_DTYPE, "i32");
    CK_ERR(ctx, hcl_tensor_copy(f32, i32), HCL_ERR_DTYPE, "f32");
    CK_ERR(ctx, hcl_tensor_copy(f32_9, f32), HCL_ERR_SHAPE, "9");
    CK_ERR(ctx, hcl_tensor_copy(f32, f32_9), HCL_ERR_SHAPE, "9");
    /* cast: float dtypes only, same count */
    CK_ERR(ctx, hcl_tensor_cast(i32, f32), HCL_ERR_DTYPE, "i32");
    CK_ERR(ctx, hcl_tensor_cast(u8, f16), HCL_ERR_DTYPE, "u8");
    CK_ERR(ctx, hcl_tensor_cast(f32, i32), HCL_ERR_DTYPE, "i32");
    CK_ERR(ctx, hcl_tensor_cast(f16, u8), HCL_ERR_DTYPE, "u8");
    CK_ERR(ctx, hcl_tensor_cast(f32_9, f16), HCL_ERR_SHAPE, "9");
    CK_ERR(ctx, hcl_tensor_cast(f16, f32_9), HCL_ERR_SHAPE, "9");
    /* tensors of different contexts */
    CK_ERR(ctx, hcl_tensor_copy(f32, o32), HCL_ERR_INVALID_ARGUMENT, "context");
    CK_ERR(other, hcl_tensor_copy(o32, f32), HCL_ERR_INVALID_ARGUMENT, "context");
    CK_ERR(ctx, hcl_tensor_cast(f16, o32), HCL_ERR_INVALID_ARGUMENT, "context");
    CK_ERR(other, hcl_tensor_cast(o16, f32), HCL_ERR_INVALID_ARGUMENT, "context");
    CK_ERR(ctx, hcl_tensor_cast(f32, o32), HCL_ERR_INVALID_ARGUMENT, "context");
    /* the refused calls wrote nothing */
    float got[8];
    CK_OK(ctx, hcl_tensor_download_f32(f32, got, 8));
    for (int i = 0; i < 8; i++) ck_assert_float_eq(got[i], 2.0f);
    CK_OK(ctx, hcl_tensor_download_f32(f16, got, 8));
    for (int i = 0; i < 8; i++) ck_assert_float_eq(got[i], 3.0f);
    hcl_tensor_free(f32);
    hcl_tensor_free(f32b);
    hcl_tensor_free(f16);
    hcl_tensor_free(i32);
    hcl_tensor_free(u8);
    hcl_tensor_free(f32_9);
    hcl_tensor_free(o32);
    hcl_tensor_free(o16);
    hcl_context_free(other);
    hcl_context_free(ctx);
}
END_TEST

/* --------------------------------------------------------------------- allocator ---- */

/* The allocator's size classes, computed independently: the smallest 2^k * {4,5,6,7}/4 that
 * holds the request, never below 256 bytes; from 1 MiB up, the next multiple of 4 KiB. */
static size_t class_bytes(size_t bytes) {
    if (bytes < 256) bytes = 256;
    if (bytes >= ((size_t)1 << 20)) return (bytes + 4095) / 4096 * 4096;
    for (int k = 8; k < 62; k++)
        for (size_t q = 4; q <= 7; q++) {
            size_t c = ((size_t)1 << k) / 4 * q;
            if (c >= bytes) return c;
        }
    return bytes;
}

static hcl_memory_stats stats_of(hcl_context *ctx) {
    hcl_memory_stats s;
    memset(&s, 0xab, sizeof s);
    hcl_memory_stats_get(ctx, &s);
    ck_assert_uint_eq(s.device_bytes, s.current_bytes + s.cached_bytes);
    return s;
}

START_TEST(allocator_counters) {
    ck_assert_uint_eq(class_bytes(1), 256);
    ck_assert_uint_eq(class_bytes(257), 320);
    ck_assert_uint_eq(class_bytes(400), 448);
    ck_assert_uint_eq(class_bytes(449), 512);
    ck_assert_uint_eq(class_bytes(1000), 1024);
    ck_assert_uint_eq(class_bytes(1025), 1280);
    ck_assert_uint_eq(class_bytes((1 << 20) - 1), 1 << 20);
    ck_assert_uint_eq(class_bytes((1 << 20) + 1), (1 << 20) + 4096);
    ck_assert_uint_eq(class_bytes(5545000), 5545984); /* 1354 x 4 KiB, not the 6 MiB class */

    hcl_context *ctx = test_context();
    hcl_memory_stats s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, 0);
    ck_assert_uint_eq(s.peak_bytes, 0);
    ck_assert_uint_eq(s.cached_bytes, 0);
    ck_assert_uint_eq(s.allocations, 0);
    ck_assert_uint_eq(s.reuses, 0);

    const int64_t s100[1] = {100}, s1[1] = {1}, s200[1] = {200}, s105[1] = {105}, s250[1] = {250};
    hcl_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, s100, &a)); /* 400 bytes -> 448 */
    s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, 448);
    ck_assert_uint_eq(s.peak_bytes, 448);
    ck_assert_uint_eq(s.allocations, 1);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, s1, &b)); /* 1 byte -> 256 */
    s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, 704);
    ck_assert_uint_eq(s.peak_bytes, 704);
    ck_assert_uint_eq(s.allocations, 2);

    /* freed blocks are cached, and the next request of the class reuses them */
    cl_mem a_buf = a->buffer;
    hcl_tensor_free(a);
    s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, 256);
    ck_assert_uint_eq(s.cached_bytes, 448);
    ck_assert_uint_eq(s.peak_bytes, 704);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F16, 1, s200, &c)); /* 400 bytes -> the same class */
    s = stats_of(ctx);
    ck_assert_ptr_eq(c->buffer, a_buf);
    ck_assert_uint_eq(s.reuses, 1);
    ck_assert_uint_eq(s.allocations, 2);
    ck_assert_uint_eq(s.current_bytes, 704);
    ck_assert_uint_eq(s.cached_bytes, 0);
    /* a different size of the same class: nothing cached, so a new buffer */
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, s105, &d)); /* 420 -> 448 */
    s = stats_of(ctx);
    ck_assert_uint_eq(s.allocations, 3);
    ck_assert_uint_eq(s.current_bytes, 1152);
    ck_assert_uint_eq(s.peak_bytes, 1152);
    hcl_tensor_free(c);
    hcl_tensor_free(d);
    s = stats_of(ctx);
    ck_assert_uint_eq(s.cached_bytes, 896);
    ck_assert_uint_eq(s.current_bytes, 256);
    /* another size in the class reuses; a request of another class does not */
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_U8, 1, s105, &c)); /* 105 -> 256: a new one */
    s = stats_of(ctx);
    ck_assert_uint_eq(s.allocations, 4);
    ck_assert_uint_eq(s.reuses, 1);
    ck_assert_uint_eq(s.cached_bytes, 896);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_BF16, 1, s200, &d)); /* 400 -> 448: cached */
    s = stats_of(ctx);
    ck_assert_uint_eq(s.allocations, 4);
    ck_assert_uint_eq(s.reuses, 2);
    ck_assert_uint_eq(s.cached_bytes, 448);
    ck_assert_uint_eq(s.current_bytes, 256 + 256 + 448);
    /* a reused block works like a new one */
    CK_OK(ctx, hcl_tensor_fill(d, 0.75));
    float got[200];
    CK_OK(ctx, hcl_tensor_download_f32(d, got, 200));
    for (int i = 0; i < 200; i++) ck_assert_float_eq(got[i], 0.75f);

    /* peak: reset to current, then it follows new highs only */
    size_t cur = s.current_bytes;
    hcl_memory_reset_peak(ctx);
    s = stats_of(ctx);
    ck_assert_uint_eq(s.peak_bytes, cur);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, s250, &e)); /* 1000 -> 1024 */
    s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, cur + 1024);
    ck_assert_uint_eq(s.peak_bytes, cur + 1024);
    hcl_tensor_free(e);
    s = stats_of(ctx);
    ck_assert_uint_eq(s.peak_bytes, cur + 1024);
    ck_assert_uint_eq(s.current_bytes, cur);
    hcl_memory_reset_peak(ctx);
    ck_assert_uint_eq(stats_of(ctx).peak_bytes, cur);

    /* trim releases every cached block; the next request allocates again */
    ck_assert_uint_eq(s.cached_bytes, 448 + 1024);
    hcl_memory_trim(ctx);
    s = stats_of(ctx);
    ck_assert_uint_eq(s.cached_bytes, 0);
    ck_assert_uint_eq(s.device_bytes, cur);
    unsigned long allocs = s.allocations;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, s250, &e));
    ck_assert_uint_eq(stats_of(ctx).allocations, allocs + 1);
    hcl_tensor_free(e);
    hcl_tensor_free(b);
    hcl_tensor_free(c);
    hcl_tensor_free(d);
    s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, 0);
    ck_assert_uint_eq(s.cached_bytes, 256 + 256 + 448 + 1024);

    /* NULLs are harmless */
    hcl_memory_stats z;
    memset(&z, 0x11, sizeof z);
    hcl_memory_stats_get(NULL, &z);
    ck_assert_uint_eq(z.current_bytes + z.peak_bytes + z.cached_bytes + z.device_bytes + z.allocations + z.reuses, 0);
    hcl_memory_stats_get(ctx, NULL);
    hcl_memory_reset_peak(NULL);
    hcl_memory_trim(NULL);
    hcl_context_free(ctx);
}
END_TEST

/* Large blocks: rounded to 4 KiB, reused by any later request of the class they can hold; and
 * the op workspace counts in current and peak bytes. */
START_TEST(allocator_large_blocks_and_workspace) {
    hcl_context *ctx = test_context();
    const int64_t big[1] = {1300000}, smaller[1] = {1290000}, bigger[1] = {1320000};
    hcl_tensor *a = NULL, *b = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, big, &a)); /* 5,200,000 bytes */
    hcl_memory_stats s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, class_bytes(5200000));
    ck_assert_uint_lt(s.current_bytes, 5200000 + 4096);
    cl_mem buf = a->buffer;
    hcl_tensor_free(a);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, smaller, &b)); /* fits the cached block */
    ck_assert_ptr_eq(b->buffer, buf);
    ck_assert_uint_eq(stats_of(ctx).reuses, 1);
    hcl_tensor_free(b);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, bigger, &b)); /* does not fit: a new block */
    ck_assert_ptr_ne(b->buffer, buf);
    hcl_tensor_free(b);
    hcl_memory_trim(ctx);

    /* a column sum over many rows runs in chunks through the workspace */
    const int64_t xs[2] = {1 << 16, 3}, ys[1] = {3};
    hcl_tensor *x = NULL, *y = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, xs, &x));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ys, &y));
    CK_OK(ctx, hcl_tensor_fill(x, 1.0));
    size_t tensors = stats_of(ctx).current_bytes;
    CK_OK(ctx, hcl_reduce(ctx, y, x, 0, HCL_REDUCE_SUM));
    s = stats_of(ctx);
    ck_assert_msg(s.current_bytes > tensors, "workspace not counted: %zu bytes with, %zu without", s.current_bytes, tensors);
    ck_assert_uint_ge(s.peak_bytes, s.current_bytes);
    float got[3];
    CK_OK(ctx, hcl_tensor_download_f32(y, got, 3));
    for (int i = 0; i < 3; i++) ck_assert_float_eq(got[i], 65536.0f);
    hcl_tensor_free(x);
    hcl_tensor_free(y);
    hcl_context_free(ctx);
}
END_TEST

static hcl_context *limited_context(uint64_t limit) {
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.cache_dir = "off";
    o.memory_limit = limit;
    hcl_context *ctx = NULL;
    char err[512];
    ck_assert_msg(hcl_context_create(&ctx, &o, err, sizeof err) == HCL_OK, "%s", err);
    return ctx;
}

/* Past the context's memory limit a tensor or an op workspace fails with HCL_ERR_DEVICE_MEMORY and
 * the sizes, after the cache of freed blocks is given back; the context stays usable. */
START_TEST(memory_limit) {
    hcl_context *ctx = limited_context(8u << 20);
    const int64_t mib4[1] = {1 << 20}, mib6[1] = {6 << 18}, mib3[1] = {3 << 18}, mib45[1] = {9 << 17};
    hcl_tensor *a = NULL, *b = NULL, *c = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, mib4, &a));
    CK_STATUS(ctx, hcl_tensor_create(ctx, HCL_F32, 1, mib6, &b), HCL_ERR_DEVICE_MEMORY);
    ck_assert_ptr_null(b);
    const char *msg = hcl_last_error(ctx);
    ck_assert_msg(strstr(msg, "6291456 bytes") && strstr(msg, "4.0 MiB in use") && strstr(msg, "8.0 MiB limit"), "%s", msg);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, mib3, &c)); /* still usable */
    CK_OK(ctx, hcl_tensor_fill(c, 2.5));
    float *v = malloc(((size_t)3 << 18) * sizeof *v);
    CK_OK(ctx, hcl_tensor_download_f32(c, v, (size_t)3 << 18));
    ck_assert_float_eq(v[(3 << 18) - 1], 2.5f);
    free(v);
    hcl_tensor_free(a); /* cached: 3 + 4 cached + 4.5 > 8, so the cache goes back to make room */
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, mib45, &b));
    ck_assert_uint_eq(stats_of(ctx).cached_bytes, 0);
    hcl_tensor_free(b);
    hcl_tensor_free(c);
    hcl_context_free(ctx);

    /* an op whose workspace does not fit: the error names it, and the op runs once room is made */
    const int64_t xs[2] = {1 << 16, 3}, ys[1] = {3};
    ctx = limited_context(class_bytes((size_t)3 << 18) + class_bytes(12));
    hcl_tensor *x = NULL, *y = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, xs, &x));
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 1, ys, &y));
    CK_OK(ctx, hcl_tensor_fill(x, 1.0));
    CK_STATUS(ctx, hcl_reduce(ctx, y, x, 0, HCL_REDUCE_SUM), HCL_ERR_DEVICE_MEMORY);
    ck_assert_msg(strstr(hcl_last_error(ctx), "op workspace") != NULL, "%s", hcl_last_error(ctx));
    CK_OK(ctx, hcl_tensor_fill(y, 7.0)); /* usable */
    float got[3];
    CK_OK(ctx, hcl_tensor_download_f32(y, got, 3));
    ck_assert_float_eq(got[0], 7.0f);
    hcl_tensor_free(x);
    hcl_tensor_free(y);
    hcl_context_free(ctx);
}
END_TEST

/* Current bytes are exactly the size classes of the live tensors, for many sizes. */
START_TEST(allocator_size_classes) {
    hcl_context *ctx = test_context();
    enum { N = 60 };
    hcl_tensor *t[N];
    size_t want = 0, peak = 0;
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)i * 997 % 70001 + (size_t)i * i * 13;
        hcl_dtype dt = (hcl_dtype)(i % HCL_DTYPE_COUNT_);
        const int64_t shape[1] = {(int64_t)n};
        t[i] = NULL;
        CK_OK(ctx, hcl_tensor_create(ctx, dt, 1, shape, &t[i]));
        want += class_bytes(n * hcl_dtype_size(dt));
        if (want > peak) peak = want;
        hcl_memory_stats s = stats_of(ctx);
        ck_assert_msg(s.current_bytes == want, "after %d tensors (%zu x %s): current %zu, want %zu", i + 1, n,
                      hcl_dtype_name(dt), s.current_bytes, want);
        ck_assert_uint_eq(s.allocations + s.reuses, (unsigned long)i + 1);
        /* free every third one again right away: it must come back to the cache */
        if (i % 3 == 2) {
            want -= class_bytes(hcl_tensor_bytes(t[i]));
            hcl_tensor_free(t[i]);
            t[i] = NULL;
            ck_assert_uint_eq(stats_of(ctx).current_bytes, want);
        }
    }
    hcl_memory_stats s = stats_of(ctx);
    ck_assert_uint_eq(s.peak_bytes, peak);
    size_t cached = s.cached_bytes;
    for (int i = 0; i < N; i++) {
        if (!t[i]) continue;
        cached += class_bytes(hcl_tensor_bytes(t[i]));
        hcl_tensor_free(t[i]);
    }
    s = stats_of(ctx);
    ck_assert_uint_eq(s.current_bytes, 0);
    ck_assert_uint_eq(s.cached_bytes, cached);
    hcl_memory_trim(ctx);
    ck_assert_uint_eq(stats_of(ctx).device_bytes, 0);
    hcl_context_free(ctx);
}
END_TEST

static Suite *tensor_suite(void) {
    Suite *s = suite_create("tensor");
    TCase *host = tcase_create("host");
    tcase_add_test(host, dtypes);
    suite_add_tcase(s, host);
    TCase *dev = tcase_create("device");
    tcase_add_test(dev, create_every_rank);
    tcase_add_test(dev, create_bad_input);
    tcase_add_test(dev, views);
    tcase_add_test(dev, upload_download_f32);
    tcase_add_test(dev, raw_transfers_every_dtype);
    tcase_add_test(dev, transfer_bad_input);
    tcase_add_test(dev, fill_every_dtype);
    tcase_add_test(dev, copy_every_dtype);
    tcase_add_test(dev, cast_all_pairs);
    tcase_add_test(dev, cast_from_offset_views);
    tcase_add_test(dev, copy_cast_bad_input);
    tcase_add_test(dev, allocator_counters);
    tcase_add_test(dev, allocator_size_classes);
    tcase_add_test(dev, allocator_large_blocks_and_workspace);
    tcase_add_test(dev, memory_limit);
    suite_add_tcase(s, dev);
    return s;
}

int main(void) { return test_run_suite(tensor_suite()); }
