/* Library-internal runtime API: the context layout, error recording (HCL_CL_TRY records
 * file:line, the CL call and the error name, then returns), logging, kernel lookup and the
 * device workspace. Not installed. */
#ifndef HCL_RUNTIME_INTERNAL_H
#define HCL_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include "halfcl/runtime.h"
#include "halfcl/tensor.h"

#define HCL_ERROR_LEN 2048

typedef struct hcl_program_entry hcl_program_entry;
typedef struct hcl_allocator hcl_allocator;
typedef struct hcl_profiler hcl_profiler;

struct hcl_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl_ctx;
    cl_command_queue queue;
    hcl_device_info info;
    int profiling;
    int native_half;   /* kernels built with -DHCL_NATIVE_HALF=1 (see hcl_half_mode) */
    uint64_t memory_limit; /* device bytes the allocator and workspaces may hold (0 until the device is known) */
    hcl_profiler *profiler;  /* per-kernel events and sums; NULL until the first profiled launch */
    char *cache_dir;   /* NULL = disk cache off */
    int cache_writes;  /* built programs are written to cache_dir (hcl_cache_writes, resolved) */
    char *kernel_dir;  /* NULL = embedded sources */
    hcl_log_fn log;
    void *log_user;
    int log_level;
    hcl_program_entry *programs; /* singly linked, most recent first */
    hcl_program_stats program_stats;
    hcl_allocator *allocator;
    cl_mem workspace;            /* scratch for ops (im2col, partial sums), grown on demand */
    size_t workspace_bytes;
    cl_mem gemm_workspace;       /* GEMM's own packing scratch: separate, since ops that keep
                                    data in `workspace` (conv's columns) call GEMM on it */
    size_t gemm_workspace_bytes;
    char error[HCL_ERROR_LEN];
};

/* Whether `bytes` more device memory may be created under ctx->memory_limit: gives the cache of
 * freed blocks back first if that makes room; else HCL_ERR_DEVICE_MEMORY naming `what` and the
 * sizes. And the same error, with the sizes, for a clCreateBuffer that failed for lack of memory
 * (other failures stay HCL_ERR_OPENCL). */
hcl_status hcl_memory_admit(hcl_context *ctx, size_t bytes, const char *what);
hcl_status hcl_memory_create_failed(hcl_context *ctx, cl_int err, size_t bytes, const char *what);

/* Atomic writers name their temp file "<path>.tmp.<pid>[.<suffix>]". This removes the ones in
 * path's folder whose writer process no longer exists (kill(pid, 0) fails with ESRCH), never
 * this process's and never a live writer's; best effort, returns how many it removed. */
int hcl_remove_stale_temps(const char *path);

/* Records a message on ctx (if not NULL) and returns status. printf-style. */
hcl_status hcl_error_at(hcl_context *ctx, hcl_status status, const char *file, int line,
                        const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
#define hcl_error(ctx, status, ...) hcl_error_at((ctx), (status), __FILE__, __LINE__, __VA_ARGS__)

/* Records an OpenCL failure: "file:line: clFoo failed: CL_OUT_OF_RESOURCES (-5)". */
hcl_status hcl_cl_error_at(hcl_context *ctx, cl_int err, const char *call, const char *file, int line);

/* Evaluates an OpenCL call; on failure records it on ctx and returns HCL_ERR_OPENCL. */
#define HCL_CL_TRY(ctx, call)                                                    \
    do {                                                                         \
        cl_int hcl_err_ = (call);                                                \
        if (hcl_err_ != CL_SUCCESS)                                              \
            return hcl_cl_error_at((ctx), hcl_err_, #call, __FILE__, __LINE__);  \
    } while (0)

/* Propagates a failing hcl_status. */
#define HCL_TRY(expr)                      \
    do {                                   \
        hcl_status hcl_st_ = (expr);       \
        if (hcl_st_ != HCL_OK) return hcl_st_; \
    } while (0)

/* Argument checks that record a message and return. */
#define HCL_CHECK_NULL(ctx, ptr) \
    do { if (!(ptr)) return hcl_error((ctx), HCL_ERR_NULL_POINTER, "%s is NULL", #ptr); } while (0)

void hcl_log(hcl_context *ctx, hcl_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Returns the kernel `name` of family `family` built with the extra build `options` (dtype and
 * tile -D macros; may be NULL). Programs are built once per (family, options) and kept on the
 * context; cl_kernel objects are cached too, so set all arguments before each enqueue. */
hcl_status hcl_kernel_get(hcl_context *ctx, const char *family, const char *options,
                          const char *name, cl_kernel *kernel);

/* Sets kernel arguments from a list of (size, pointer) pairs; records which one failed. */
typedef struct hcl_karg { size_t size; const void *value; } hcl_karg;
#define HCL_ARG(v) ((hcl_karg){sizeof(v), &(v)})
#define HCL_LOCAL(bytes) ((hcl_karg){(bytes), NULL})
hcl_status hcl_kernel_set_args(hcl_context *ctx, cl_kernel kernel, const hcl_karg *args, size_t count);

/* Enqueues an ND-range with local NULL (local may be NULL) after rounding global up to local. */
hcl_status hcl_kernel_run(hcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                          const size_t *local);

/* Convenience: set args then run a 1-D kernel over n items with work-group `local` (0 = driver). */
hcl_status hcl_launch_1d(hcl_context *ctx, cl_kernel kernel, size_t n, size_t local,
                         const hcl_karg *args, size_t nargs);

/* A scratch buffer of at least `bytes` for the op being enqueued. It is shared by all ops of the
 * context: valid until the next call (the in-order queue makes reuse by a later op safe). */
hcl_status hcl_workspace_get(hcl_context *ctx, size_t bytes, cl_mem *buffer);
/* The same for GEMM's packed panels only (a second buffer, so an op's workspace data can be a
 * GEMM operand). */
hcl_status hcl_gemm_workspace_get(hcl_context *ctx, size_t bytes, cl_mem *buffer);

/* The "-DX_DT=f16" style name of a dtype ("f32", "f16", ...). */
const char *hcl_dtype_cl_name(hcl_dtype dtype);

/* Internal helpers shared by runtime files. */
/* Sub-device specs ("<spec>@s/N", see hcl_device_choose): N is at most this. */
#define HCL_SUBDEVICE_MAX_PARTS 4096u
/* Splits a device spec into its device part (copied to base when base_len > 0; "" for "@s/N"
 * alone, which means the default device) and its sub-device suffix: *sub_index = s and
 * *sub_count = N, both 0 without a suffix (also for a NULL spec). The suffix is the text after the
 * last '@' when a digit follows it (so a device name such as "CPU @ 2.60GHz" is still a name);
 * it must be exactly "s/N" with N >= 1 and s < N, else HCL_ERR_INVALID_ARGUMENT with the reason. */
hcl_status hcl_device_spec_parse(const char *spec, char *base, size_t base_len, unsigned *sub_index,
                                 unsigned *sub_count, char *message, size_t message_len);
/* What hcl_device_open chose. A sub-device is the caller's: clReleaseDevice it exactly once
 * (on a root device clReleaseDevice does nothing, so releasing `device` always is right). */
typedef struct hcl_device_choice {
    cl_platform_id platform;
    cl_device_id device;
    unsigned platform_index, device_index; /* "P:D" of the device, or of the sub-device's parent */
    unsigned sub_index, sub_count;         /* "@s/N"; 0, 0 for a whole device */
} hcl_device_choice;
/* The device a spec (with an optional "@s/N") chooses; a sub-device is made by
 * clCreateSubDevices(CL_DEVICE_PARTITION_EQUALLY, compute units / N) and the siblings released. */
hcl_status hcl_device_open(const char *spec, hcl_device_choice *choice, char *message, size_t message_len);
/* HCL_OK when device P:D can be split into `parts` equal sub-devices (CL_DEVICE_PARTITION_EQUALLY,
 * parts <= compute units and <= CL_DEVICE_PARTITION_MAX_SUB_DEVICES); else
 * HCL_ERR_DEVICE_NOT_FOUND and the reason in message. */
hcl_status hcl_device_can_split(unsigned platform_index, unsigned device_index, unsigned parts, char *message,
                                size_t message_len);
/* The "P:D" of a device handle as hcl_devices_list numbers it (0:0 when not found). */
void hcl_device_locate(cl_device_id device, unsigned *platform_index, unsigned *device_index);
hcl_status hcl_device_query(hcl_context *ctx, cl_platform_id platform, cl_device_id device,
                            unsigned platform_index, unsigned device_index, hcl_device_info *info);
const char *hcl_env(const char *name); /* getenv, NULL when unset or empty */
void hcl_program_cache_free(hcl_context *ctx);
/* Profiler (profile.c): keeps `event` of a launch of `kernel` (takes ownership), and frees all. */
hcl_status hcl_profile_record(hcl_context *ctx, cl_kernel kernel, cl_event event);
void hcl_profiler_free(hcl_context *ctx);

/* Allocator internals used by tensor.c and context.c. */
hcl_status hcl_allocator_create(hcl_context *ctx);
void hcl_allocator_free(hcl_context *ctx);
hcl_status hcl_block_alloc(hcl_context *ctx, size_t bytes, struct hcl_block **block);
void hcl_block_release(hcl_context *ctx, struct hcl_block *block);
cl_mem hcl_block_buffer(const struct hcl_block *block);
/* Counts device memory held outside the allocator (the op workspaces) in current/peak bytes. */
void hcl_memory_account(hcl_context *ctx, size_t add, size_t sub);

#endif
