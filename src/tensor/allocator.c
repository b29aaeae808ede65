/* Per-context caching allocator: requests are rounded up to size classes (four per power of two,
 * at least 256 bytes; from 1 MiB up only to a multiple of 4 KiB, so a model's big arenas do not
 * waste up to a quarter, or up to 64 KiB, each); a freed block goes to its class's free list and is reused by the
 * next request of that class that it can hold, so a training step creates no cl_mem. Counts
 * current/peak/cached bytes, including the context's op workspaces. */
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

#define MIN_BLOCK 256u
#define LARGE_BLOCK ((size_t)1 << 20)
#define LARGE_ROUND ((size_t)4 << 10)
#define NUM_CLASSES 256

struct hcl_block {
    cl_mem buffer;
    size_t bytes;   /* class size */
    int cls;
    struct hcl_block *next_free;
};

struct hcl_allocator {
    struct hcl_block *free_list[NUM_CLASSES];
    hcl_memory_stats stats;
};

/* Smallest class size >= bytes: classes are 2^k * {4,5,6,7}/4. */
static int size_class(size_t bytes, size_t *class_bytes) {
    if (bytes < MIN_BLOCK) bytes = MIN_BLOCK;
    int k = 0;
    while (k < 62 && ((size_t)1 << (k + 1)) <= bytes) k++;
    size_t base = (size_t)1 << k;   /* base <= bytes < 2 base */
    size_t step = base / 4;
    size_t q = (bytes - base + step - 1) / step;  /* 0..4 */
    size_t cb = base + q * step;
    if (bytes >= LARGE_BLOCK) cb = (bytes + LARGE_ROUND - 1) / LARGE_ROUND * LARGE_ROUND;
    *class_bytes = cb;
    int cls = k * 4 + (int)q;       /* q == 4 equals the next power's class 0: same size, fine */
    return cls < NUM_CLASSES ? cls : NUM_CLASSES - 1;
}

hcl_status hcl_allocator_create(hcl_context *ctx) {
    ctx->allocator = calloc(1, sizeof *ctx->allocator);
    return ctx->allocator ? HCL_OK : hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
}

void hcl_memory_trim(hcl_context *ctx) {
    if (!ctx || !ctx->allocator) return;
    hcl_allocator *a = ctx->allocator;
    for (int c = 0; c < NUM_CLASSES; c++) {
        struct hcl_block *b = a->free_list[c];
        while (b) {
            struct hcl_block *n = b->next_free;
            a->stats.cached_bytes -= b->bytes;
            clReleaseMemObject(b->buffer);
            free(b);
            b = n;
        }
        a->free_list[c] = NULL;
    }
}

void hcl_allocator_free(hcl_context *ctx) {
    if (!ctx->allocator) return;
    hcl_memory_trim(ctx);
    free(ctx->allocator);
    ctx->allocator = NULL;
}

hcl_status hcl_block_alloc(hcl_context *ctx, size_t bytes, struct hcl_block **out) {
    hcl_allocator *a = ctx->allocator;
    if (bytes > ctx->info.max_alloc_bytes)
        return hcl_error(ctx, HCL_ERR_DEVICE_MEMORY, "allocation of %zu bytes exceeds the device's max allocation of %llu bytes",
                         bytes, (unsigned long long)ctx->info.max_alloc_bytes);
    size_t cb = 0;
    int cls = size_class(bytes, &cb);
    if (cb > ctx->info.max_alloc_bytes) cb = bytes; /* the rounding must not push it over the limit */
    struct hcl_block *b = a->free_list[cls];
    while (b && b->bytes < bytes) b = b->next_free; /* large classes and the last hold mixed sizes */
    if (b) {
        struct hcl_block **pp = &a->free_list[cls];
        while (*pp != b) pp = &(*pp)->next_free;
        *pp = b->next_free;
        a->stats.cached_bytes -= b->bytes;
        a->stats.reuses++;
    } else {
        HCL_TRY(hcl_memory_admit(ctx, cb, "a tensor"));
        cl_int err = CL_SUCCESS;
        cl_mem m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, cb, NULL, &err);
        if (err != CL_SUCCESS && a->stats.cached_bytes) { /* retry after giving the cache back */
            hcl_memory_trim(ctx);
            m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, cb, NULL, &err);
        }
        if (err != CL_SUCCESS) return hcl_memory_create_failed(ctx, err, cb, "a tensor");
        b = calloc(1, sizeof *b);
        if (!b) { clReleaseMemObject(m); return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory"); }
        b->buffer = m;
        b->bytes = cb;
        b->cls = cls;
        a->stats.allocations++;
    }
    b->next_free = NULL;
    a->stats.current_bytes += b->bytes;
    if (a->stats.current_bytes > a->stats.peak_bytes) a->stats.peak_bytes = a->stats.current_bytes;
    *out = b;
    return HCL_OK;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

hcl_status hcl_memory_admit(hcl_context *ctx, size_t bytes, const char *what) {
    hcl_memory_stats *st = &ctx->allocator->stats;
    uint64_t limit = ctx->memory_limit;
    if (!limit) return HCL_OK;
    if ((uint64_t)st->current_bytes + st->cached_bytes + bytes > limit && st->cached_bytes) hcl_memory_trim(ctx);
    if ((uint64_t)st->current_bytes + bytes <= limit) return HCL_OK;
    return hcl_error(ctx, HCL_ERR_DEVICE_MEMORY,
                     "out of device memory: %s of %zu bytes (%.1f MiB) does not fit: %.1f MiB in use of the %.1f MiB limit",
                     what, bytes, mib(bytes), mib(st->current_bytes), mib(limit));
}

hcl_status hcl_memory_create_failed(hcl_context *ctx, cl_int err, size_t bytes, const char *what) {
    if (err != CL_MEM_OBJECT_ALLOCATION_FAILURE && err != CL_OUT_OF_RESOURCES && err != CL_OUT_OF_HOST_MEMORY)
        return hcl_cl_error_at(ctx, err, "clCreateBuffer", __FILE__, __LINE__);
    return hcl_error(ctx, HCL_ERR_DEVICE_MEMORY,
                     "out of device memory: the driver refused %s of %zu bytes (%.1f MiB) with %s; %.1f MiB in use",
                     what, bytes, mib(bytes), hcl_cl_error_name(err), mib(ctx->allocator->stats.current_bytes));
}

void hcl_block_release(hcl_context *ctx, struct hcl_block *b) {
    if (!b) return;
    hcl_allocator *a = ctx->allocator;
    a->stats.current_bytes -= b->bytes;
    a->stats.cached_bytes += b->bytes;
    b->next_free = a->free_list[b->cls];
    a->free_list[b->cls] = b;
}

void hcl_memory_account(hcl_context *ctx, size_t add, size_t sub) {
    if (!ctx || !ctx->allocator) return;
    hcl_memory_stats *st = &ctx->allocator->stats;
    st->current_bytes = st->current_bytes + add - sub;
    if (st->current_bytes > st->peak_bytes) st->peak_bytes = st->current_bytes;
}

cl_mem hcl_block_buffer(const struct hcl_block *b) { return b->buffer; }

void hcl_memory_stats_get(const hcl_context *ctx, hcl_memory_stats *stats) {
    if (!stats) return;
    memset(stats, 0, sizeof *stats);
    if (!ctx || !ctx->allocator) return;
    *stats = ctx->allocator->stats;
    stats->device_bytes = stats->current_bytes + stats->cached_bytes;
}

void hcl_memory_reset_peak(hcl_context *ctx) {
    if (ctx && ctx->allocator) ctx->allocator->stats.peak_bytes = ctx->allocator->stats.current_bytes;
}
