/* hcl_context: one device, one in-order queue, the program cache, the allocator, the workspace
 * and the last error. Created on a chosen device or around an application's own CL objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

void hcl_context_options_init(hcl_context_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->log_level = -1;
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int parse_log_level(const char *s) {
    if (!s) return HCL_LOG_WARN;
    if (!strcmp(s, "error")) return HCL_LOG_ERROR;
    if (!strcmp(s, "warn")) return HCL_LOG_WARN;
    if (!strcmp(s, "info")) return HCL_LOG_INFO;
    if (!strcmp(s, "debug")) return HCL_LOG_DEBUG;
    int v = atoi(s);
    return v < 0 ? 0 : v;
}

/* The cache folder: option, $HALFCL_CACHE_DIR, $XDG_CACHE_HOME/halfcl, ~/.cache/halfcl; "off" = none. */
static hcl_status resolve_cache_dir(const hcl_context_options *o, char **out) {
    *out = NULL;
    const char *dir = o->cache_dir ? o->cache_dir : hcl_env("HALFCL_CACHE_DIR");
    char buf[4096];
    if (dir && !strcmp(dir, "off")) return HCL_OK;
    if (!dir) {
        const char *xdg = hcl_env("XDG_CACHE_HOME"), *home = hcl_env("HOME");
        if (xdg) snprintf(buf, sizeof buf, "%s/halfcl", xdg);
        else if (home) snprintf(buf, sizeof buf, "%s/.cache/halfcl", home);
        else return HCL_OK; /* nowhere sensible: run without a disk cache */
        dir = buf;
    }
    *out = dup_str(dir);
    return *out ? HCL_OK : HCL_ERR_HOST_MEMORY;
}

/* AUTO writes unless the driver is PoCL with its own kernel cache on (POCL_KERNEL_CACHE unset or
 * not 0): there a binary export recompiles every kernel (see hcl_cache_writes). Called once the
 * device is known; ctx->cache_writes holds the requested hcl_cache_writes until then. */
static int resolve_cache_writes(const hcl_context *ctx) {
    if (!ctx->cache_dir || ctx->cache_writes == HCL_CACHE_WRITES_NEVER) return 0;
    if (ctx->cache_writes == HCL_CACHE_WRITES_ALWAYS) return 1;
    const char *pocl_cache = hcl_env("POCL_KERNEL_CACHE");
    int pocl_caches = !pocl_cache || strcmp(pocl_cache, "0");
    int pocl = strstr(ctx->info.platform_vendor, "pocl") || strstr(ctx->info.platform_name, "Portable Computing Language");
    return !(pocl && pocl_caches);
}

static hcl_status context_init(hcl_context *ctx, const hcl_context_options *opts) {
    hcl_context_options defaults;
    if (!opts) { hcl_context_options_init(&defaults); opts = &defaults; }
    ctx->profiling = opts->profiling;
    ctx->log = opts->log;
    ctx->log_user = opts->log_user;
    ctx->log_level = opts->log_level >= 0 ? opts->log_level : parse_log_level(hcl_env("HALFCL_LOG_LEVEL"));
    if (resolve_cache_dir(opts, &ctx->cache_dir) != HCL_OK) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if ((unsigned)opts->cache_writes > HCL_CACHE_WRITES_NEVER)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "unknown cache_writes %d", (int)opts->cache_writes);
    ctx->cache_writes = (int)opts->cache_writes;
    const char *kdir = opts->kernel_dir ? opts->kernel_dir : hcl_env("HALFCL_KERNEL_DIR");
    if (kdir && !(ctx->kernel_dir = dup_str(kdir))) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    ctx->memory_limit = opts->memory_limit; /* 0: the device's global memory, once known */
    /* what is asked for here; narrowed to the device's cl_khr_fp16 once the device is known */
    if (opts->half_mode == HCL_HALF_AUTO) {
        const char *e = hcl_env("HALFCL_NATIVE_HALF");
        if (e && strcmp(e, "0") && strcmp(e, "1"))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "HALFCL_NATIVE_HALF must be 0 or 1, not '%s'", e);
        ctx->native_half = !(e && !strcmp(e, "0"));
    } else if (opts->half_mode == HCL_HALF_NATIVE || opts->half_mode == HCL_HALF_STORAGE) {
        ctx->native_half = opts->half_mode == HCL_HALF_NATIVE;
    } else {
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "unknown half_mode %d", (int)opts->half_mode);
    }
    return hcl_allocator_create(ctx);
}

static void report(hcl_context *ctx, char *error, size_t error_len) {
    if (error && error_len) snprintf(error, error_len, "%s", ctx->error);
}

hcl_status hcl_context_create(hcl_context **out, const hcl_context_options *opts, char *error, size_t error_len) {
    if (error && error_len) error[0] = '\0';
    if (!out) {
        if (error && error_len) snprintf(error, error_len, "context (the pointer to the new context) is NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *out = NULL;
    hcl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return HCL_ERR_HOST_MEMORY;
    hcl_status st = context_init(ctx, opts);
    hcl_device_choice choice;
    memset(&choice, 0, sizeof choice);
    if (st == HCL_OK) {
        const char *spec = (opts && opts->device) ? opts->device : hcl_env("HALFCL_DEVICE");
        char msg[1536];
        st = hcl_device_open(spec, &choice, msg, sizeof msg);
        if (st != HCL_OK) hcl_error(ctx, st, "%s", msg);
        /* a sub-device is the context's from here: released once, in hcl_context_free */
        ctx->platform = choice.platform;
        ctx->device = choice.device;
    }
    /* the sub-device's own compute units; the parent's "P:D" and "@s/N" for reporting */
    if (st == HCL_OK)
        st = hcl_device_query(ctx, ctx->platform, ctx->device, choice.platform_index, choice.device_index, &ctx->info);
    if (st == HCL_OK) {
        ctx->info.sub_device_index = choice.sub_index;
        ctx->info.sub_device_count = choice.sub_count;
    }
    if (st == HCL_OK) ctx->native_half = ctx->native_half && ctx->info.has_fp16;
    if (st == HCL_OK) ctx->cache_writes = resolve_cache_writes(ctx);
    if (st == HCL_OK && !ctx->memory_limit) ctx->memory_limit = ctx->info.global_mem_bytes;
    if (st == HCL_OK) {
        cl_int err = CL_SUCCESS;
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
        ctx->cl_ctx = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
        if (err != CL_SUCCESS) st = hcl_cl_error_at(ctx, err, "clCreateContext", __FILE__, __LINE__);
    }
    if (st == HCL_OK) {
        cl_int err = CL_SUCCESS;
        cl_command_queue_properties qp = ctx->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
        ctx->queue = clCreateCommandQueue(ctx->cl_ctx, ctx->device, qp, &err);
        if (err != CL_SUCCESS) st = hcl_cl_error_at(ctx, err, "clCreateCommandQueue", __FILE__, __LINE__);
    }
    if (st != HCL_OK) {
        report(ctx, error, error_len);
        hcl_context_free(ctx);
        return st;
    }
    if (ctx->info.sub_device_count)
        hcl_log(ctx, HCL_LOG_INFO, "device %u:%u@%u/%u (sub-device, %u compute units) %s / %s", ctx->info.platform_index,
                ctx->info.device_index, ctx->info.sub_device_index, ctx->info.sub_device_count, ctx->info.compute_units,
                ctx->info.platform_name, ctx->info.name);
    else
        hcl_log(ctx, HCL_LOG_INFO, "device %u:%u %s / %s", ctx->info.platform_index, ctx->info.device_index,
                ctx->info.platform_name, ctx->info.name);
    *out = ctx;
    return HCL_OK;
}

hcl_status hcl_context_create_from_cl(hcl_context **out, cl_context cl_ctx, cl_device_id device,
                                      cl_command_queue queue, const hcl_context_options *opts,
                                      char *error, size_t error_len) {
    if (error && error_len) error[0] = '\0';
    if (!out) {
        if (error && error_len) snprintf(error, error_len, "context (the pointer to the new context) is NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *out = NULL;
    if (!cl_ctx || !device || !queue) {
        if (error && error_len) snprintf(error, error_len, "cl_context, cl_device_id and cl_command_queue must all be given");
        return HCL_ERR_NULL_POINTER;
    }
    hcl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return HCL_ERR_HOST_MEMORY;
    hcl_status st = context_init(ctx, opts);
    cl_command_queue_properties qp = 0;
    if (st == HCL_OK) {
        cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL);
        if (err != CL_SUCCESS) st = hcl_cl_error_at(ctx, err, "clGetCommandQueueInfo", __FILE__, __LINE__);
        else if (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
            st = hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "the command queue must be in-order");
    }
    if (st == HCL_OK) { /* the queue must be one of this OpenCL context and device */
        cl_context qctx = NULL;
        cl_device_id qdev = NULL;
        cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL);
        if (err == CL_SUCCESS) err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL);
        if (err != CL_SUCCESS) st = hcl_cl_error_at(ctx, err, "clGetCommandQueueInfo", __FILE__, __LINE__);
        else if (qctx != cl_ctx || qdev != device)
            st = hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "the command queue belongs to another %s",
                           qctx != cl_ctx ? "OpenCL context" : "device");
    }
    if (st == HCL_OK) {
        cl_int err = clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof ctx->platform, &ctx->platform, NULL);
        if (err != CL_SUCCESS) st = hcl_cl_error_at(ctx, err, "clGetDeviceInfo", __FILE__, __LINE__);
    }
    if (st == HCL_OK) st = hcl_device_query(ctx, ctx->platform, device, 0, 0, &ctx->info);
    if (st == HCL_OK) ctx->native_half = ctx->native_half && ctx->info.has_fp16;
    if (st == HCL_OK) ctx->cache_writes = resolve_cache_writes(ctx);
    if (st == HCL_OK && !ctx->memory_limit) ctx->memory_limit = ctx->info.global_mem_bytes;
    if (st == HCL_OK) hcl_device_locate(device, &ctx->info.platform_index, &ctx->info.device_index);
    if (st == HCL_OK) {
        /* borrowed: retain now, release exactly once in hcl_context_free */
        clRetainContext(cl_ctx);
        clRetainCommandQueue(queue);
        clRetainDevice(device);
        ctx->cl_ctx = cl_ctx;
        ctx->queue = queue;
        ctx->device = device;
        ctx->profiling = (qp & CL_QUEUE_PROFILING_ENABLE) != 0;
    }
    if (st != HCL_OK) {
        report(ctx, error, error_len);
        hcl_context_free(ctx);
        return st;
    }
    *out = ctx;
    return HCL_OK;
}

void hcl_context_free(hcl_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    hcl_profiler_free(ctx);
    hcl_program_cache_free(ctx);
    if (ctx->workspace) clReleaseMemObject(ctx->workspace);
    if (ctx->gemm_workspace) clReleaseMemObject(ctx->gemm_workspace);
    hcl_allocator_free(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl_ctx) clReleaseContext(ctx->cl_ctx);
    if (ctx->device) clReleaseDevice(ctx->device); /* a sub-device's one reference; no-op on a root device */
    free(ctx->cache_dir);
    free(ctx->kernel_dir);
    free(ctx);
}

const hcl_device_info *hcl_context_device(const hcl_context *ctx) { return ctx ? &ctx->info : NULL; }
cl_context hcl_context_cl(const hcl_context *ctx) { return ctx ? ctx->cl_ctx : NULL; }
cl_device_id hcl_context_cl_device(const hcl_context *ctx) { return ctx ? ctx->device : NULL; }
cl_command_queue hcl_context_queue(const hcl_context *ctx) { return ctx ? ctx->queue : NULL; }
const char *hcl_context_cache_dir(const hcl_context *ctx) { return ctx ? ctx->cache_dir : NULL; }

int hcl_context_cache_writes(const hcl_context *ctx) { return ctx ? ctx->cache_writes : 0; }

int hcl_context_native_half(const hcl_context *ctx) { return ctx ? ctx->native_half : 0; }

hcl_status hcl_finish(hcl_context *ctx) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CL_TRY(ctx, clFinish(ctx->queue));
    return HCL_OK;
}

hcl_status hcl_flush(hcl_context *ctx) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CL_TRY(ctx, clFlush(ctx->queue));
    return HCL_OK;
}

/* Grows a scratch buffer to `bytes` rounded up to 4 KiB. No headroom: the requests of a training
 * step are the same every step, so after the first one the slot never grows again, and a 1.5x
 * headroom was counted (and held) in the peak for nothing (issue 11: 0.39 MB of the 15.8 MB peak of
 * fashion_mnist mixed_f16 at batch 64, 3.2 MB at batch 256). */
static hcl_status scratch_get(hcl_context *ctx, cl_mem *slot, size_t *slot_bytes, size_t bytes, cl_mem *buffer) {
    if (bytes == 0) bytes = 1;
    if (bytes > ctx->info.max_alloc_bytes)
        return hcl_error(ctx, HCL_ERR_DEVICE_MEMORY, "workspace of %zu bytes exceeds the device's max allocation %llu",
                         bytes, (unsigned long long)ctx->info.max_alloc_bytes);
    if (bytes > *slot_bytes) {
        size_t want = (bytes + 4095) / 4096 * 4096;
        if (want > ctx->info.max_alloc_bytes) want = bytes;
        if (*slot) clReleaseMemObject(*slot); /* in-order queue: queued users finish first */
        hcl_memory_account(ctx, 0, *slot_bytes);
        *slot = NULL;
        *slot_bytes = 0;
        HCL_TRY(hcl_memory_admit(ctx, want, "an op workspace"));
        cl_int err = CL_SUCCESS;
        cl_mem m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, want, NULL, &err);
        if (err != CL_SUCCESS) return hcl_memory_create_failed(ctx, err, want, "an op workspace");
        *slot = m;
        *slot_bytes = want;
        hcl_memory_account(ctx, want, 0);
    }
    *buffer = *slot;
    return HCL_OK;
}

hcl_status hcl_workspace_get(hcl_context *ctx, size_t bytes, cl_mem *buffer) {
    return scratch_get(ctx, &ctx->workspace, &ctx->workspace_bytes, bytes, buffer);
}

hcl_status hcl_gemm_workspace_get(hcl_context *ctx, size_t bytes, cl_mem *buffer) {
    return scratch_get(ctx, &ctx->gemm_workspace, &ctx->gemm_workspace_bytes, bytes, buffer);
}
