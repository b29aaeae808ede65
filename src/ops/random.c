/* Counter-based randomness: the host Philox4x32-10 reference (tested against the published
 * known-answer vectors) and the launchers of cl_kernels/random.cl: uniform and normal fills,
 * dropout forward/backward that regenerate the mask from (seed, offset). The stream mapping
 * (element i of a call -> counter block (offset + i) / 4, word (offset + i) % 4, key = seed) is
 * documented at the top of random.cl. */
#include <math.h>
#include "ops/ops_internal.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void hcl_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    if (!counter || !key || !out) return;
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Work-items: one per counter block touched by [offset, offset + n). */
static size_t block_count(size_t n, uint64_t offset) { return (size_t)((offset % 4 + (uint64_t)n + 3) / 4); }

static hcl_status check_out(hcl_context *ctx, const hcl_tensor *y, const char *name) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    return hcl_check_float(ctx, y, name);
}

// y (any shape) f32/f16/bf16 = uniform [lo, hi)
hcl_status hcl_random_uniform(hcl_context *ctx, hcl_tensor *y, float lo, float hi, uint64_t seed, uint64_t offset) {
    HCL_TRY(check_out(ctx, y, "y"));
    if (!isfinite(lo) || !isfinite(hi) || !isfinite(hi - lo))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "uniform bounds lo=%g hi=%g must be finite (and hi - lo too)",
                         (double)lo, (double)hi);
    char opts[64];
    hcl_dt_options(opts, sizeof opts, "Y", y->dtype, "X", y->dtype, NULL); /* shares dropout's program */
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "random", opts, "random_uniform", &k));
    cl_ulong y_off = hcl_off(y), n = y->count, s = seed, o = offset;
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(n), HCL_ARG(lo), HCL_ARG(hi), HCL_ARG(s), HCL_ARG(o)};
    return hcl_launch_1d(ctx, k, block_count(y->count, offset), 0, args, sizeof args / sizeof args[0]);
}

// y (any shape) f32/f16/bf16 = normal (mean, stddev)
hcl_status hcl_random_normal(hcl_context *ctx, hcl_tensor *y, float mean, float stddev, uint64_t seed, uint64_t offset) {
    HCL_TRY(check_out(ctx, y, "y"));
    if (!isfinite(mean) || !isfinite(stddev) || stddev < 0)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "normal needs a finite mean and a finite stddev >= 0 (got %g, %g)",
                         (double)mean, (double)stddev);
    char opts[64];
    hcl_dt_options(opts, sizeof opts, "Y", y->dtype, "X", y->dtype, NULL); /* shares dropout's program */
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "random", opts, "random_normal", &k));
    cl_ulong y_off = hcl_off(y), n = y->count, s = seed, o = offset;
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(n), HCL_ARG(mean), HCL_ARG(stddev), HCL_ARG(s), HCL_ARG(o)};
    return hcl_launch_1d(ctx, k, block_count(y->count, offset), 0, args, sizeof args / sizeof args[0]);
}

// y (n) = x (n) * keep / (1 - p); both any float dtype, same count
static hcl_status dropout(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, float p, uint64_t seed, uint64_t offset,
                          const char *yn, const char *xn) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_TRY(hcl_check_float(ctx, y, yn));
    HCL_TRY(hcl_check_float(ctx, x, xn));
    HCL_TRY(hcl_check_same_count(ctx, y, yn, x, xn));
    HCL_TRY(hcl_check_no_alias(ctx, y, yn, x, xn));
    if (!(p >= 0.0f && p < 1.0f))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "dropout probability p=%g must be in [0, 1)", (double)p);
    float scale = 1.0f / (1.0f - p);
    char opts[64];
    hcl_dt_options(opts, sizeof opts, "Y", y->dtype, "X", x->dtype, NULL);
    cl_kernel k;
    HCL_TRY(hcl_kernel_get(ctx, "random", opts, "dropout", &k));
    cl_ulong y_off = hcl_off(y), x_off = hcl_off(x), n = y->count, s = seed, o = offset;
    hcl_karg args[] = {HCL_ARG(y->buffer), HCL_ARG(y_off), HCL_ARG(x->buffer), HCL_ARG(x_off), HCL_ARG(n),
                       HCL_ARG(p), HCL_ARG(scale), HCL_ARG(s), HCL_ARG(o)};
    return hcl_launch_1d(ctx, k, block_count(y->count, offset), 0, args, sizeof args / sizeof args[0]);
}

hcl_status hcl_dropout_forward(hcl_context *ctx, hcl_tensor *y, const hcl_tensor *x, float p, uint64_t seed, uint64_t offset) {
    return dropout(ctx, y, x, p, seed, offset, "y", "x");
}

hcl_status hcl_dropout_backward(hcl_context *ctx, hcl_tensor *dx, const hcl_tensor *dy, float p, uint64_t seed, uint64_t offset) {
    return dropout(ctx, dx, dy, p, seed, offset, "dx", "dy");
}
