/* halfcl runtime: status codes, device discovery and choice, the context (device, queue,
 * program cache, allocator, last error) and logging. Everything above it takes an hcl_context. */
#ifndef HALFCL_RUNTIME_H
#define HALFCL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One table generates the enum, hcl_status_name() and hcl_status_string(). */
#define HCL_STATUS_TABLE(X)                                                           \
    X(HCL_OK, "success")                                                              \
    X(HCL_ERR_INVALID_ARGUMENT, "invalid argument")                                   \
    X(HCL_ERR_NULL_POINTER, "a required pointer argument is NULL")                    \
    X(HCL_ERR_SHAPE, "tensor shape or rank is invalid or does not match")             \
    X(HCL_ERR_DTYPE, "tensor dtype is invalid or does not match")                     \
    X(HCL_ERR_OVERFLOW, "size computation overflows")                                 \
    X(HCL_ERR_HOST_MEMORY, "host memory allocation failed")                           \
    X(HCL_ERR_DEVICE_MEMORY, "device memory allocation failed or exceeds the device") \
    X(HCL_ERR_NO_DEVICE, "no OpenCL device found")                                    \
    X(HCL_ERR_DEVICE_NOT_FOUND, "the requested device matches no OpenCL device")      \
    X(HCL_ERR_OPENCL, "an OpenCL call failed")                                        \
    X(HCL_ERR_BUILD, "kernel program build failed")                                   \
    X(HCL_ERR_KERNEL_SOURCE, "kernel source not found")                               \
    X(HCL_ERR_IO, "file input/output failed")                                         \
    X(HCL_ERR_FORMAT, "file is corrupt, truncated or not of the expected format")     \
    X(HCL_ERR_ALIASING, "outputs alias inputs where that is not allowed")             \
    X(HCL_ERR_CAPABILITY, "the device lacks a capability this call needs")

typedef enum hcl_status {
#define HCL_STATUS_ENUM_(name, text) name,
    HCL_STATUS_TABLE(HCL_STATUS_ENUM_)
#undef HCL_STATUS_ENUM_
    HCL_STATUS_COUNT_
} hcl_status;

/* "HCL_ERR_SHAPE"; "HCL_STATUS_UNKNOWN" for values outside the table. */
const char *hcl_status_name(hcl_status status);
/* "tensor shape or rank is invalid or does not match". */
const char *hcl_status_string(hcl_status status);
/* OpenCL error code to its name: -5 -> "CL_OUT_OF_RESOURCES". */
const char *hcl_cl_error_name(cl_int err);

/* ---- logging: the library never prints; it hands messages to an optional callback ---- */
typedef enum hcl_log_level { HCL_LOG_ERROR = 0, HCL_LOG_WARN, HCL_LOG_INFO, HCL_LOG_DEBUG } hcl_log_level;
typedef void (*hcl_log_fn)(void *user, hcl_log_level level, const char *message);
/* A ready-made callback that writes "halfcl: <level>: <message>" to stderr (for programs). */
void hcl_log_stderr(void *user, hcl_log_level level, const char *message);

/* ---- devices ---- */
typedef struct hcl_device_info {
    unsigned platform_index, device_index;  /* the "P:D" of HALFCL_DEVICE */
    char platform_name[128], platform_vendor[128], platform_version[128];
    char name[128], vendor[128], driver_version[128], version[128], opencl_c_version[128];
    int is_gpu, is_cpu;
    int has_fp16;  /* cl_khr_fp16: native half arithmetic (else storage-only via vload/vstore_half) */
    int has_fp64;  /* cl_khr_fp64 */
    int has_bf16_conversions; /* cl_intel_bfloat16_conversions (or Intel's CPU cl_intel_bfloat16):
                                 float <-> bfloat16 conversion built-ins. Reported only: the
                                 kernels' integer BF16 conversions measured as fast there */
    uint64_t global_mem_bytes, local_mem_bytes, max_alloc_bytes;
    size_t max_work_group_size;
    unsigned compute_units, max_clock_mhz;
    unsigned base_align_bytes;  /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    unsigned sub_device_index, sub_device_count; /* a context on "<spec>@s/N": s and N (the rest of
                                   the info, compute_units included, is the sub-device's; P:D is
                                   its parent's); 0 and 0 for a whole device */
} hcl_device_info;

/* Every device of every platform, in platform then device order. Free with hcl_devices_free().
 * *count may be 0 (no error) when the ICD loader finds no platform. */
hcl_status hcl_devices_list(hcl_device_info **devices, size_t *count);
void hcl_devices_free(hcl_device_info *devices);
/* Which of `devices` a spec chooses: "P:D", "gpu", "cpu", or a case-insensitive substring of the
 * platform name, platform vendor or device name ("pocl" matches PoCL by its vendor; platform
 * names and vendors are matched before device names); NULL or "" = the default: the first GPU,
 * else a CPU device by implementation — PoCL, then Intel's CPU runtime, then any other, in the
 * order measured fastest for training here (README; "cpu" ranks CPUs the same way) — else the
 * first device.
 * Any of these may end in a sub-device suffix "@s/N" ("pocl@1/2", "0:0@0/2", "cpu@3/4", or
 * "@1/2" alone for the default device): a context then runs on sub-device s (0-based) of the
 * chosen device split into N equal parts by clCreateSubDevices(CL_DEVICE_PARTITION_EQUALLY,
 * compute units / N), each with compute units / N of them (CPU replicas for data parallelism).
 * The suffix is the text after the last '@' when a digit follows it; it must be exactly "s/N",
 * N >= 1, s < N (else HCL_ERR_INVALID_ARGUMENT). hcl_device_choose returns the parent device;
 * a device that is not partitionable equally, or has fewer compute units or a lower
 * CL_DEVICE_PARTITION_MAX_SUB_DEVICES than N, fails at context creation with
 * HCL_ERR_DEVICE_NOT_FOUND and the reason; a partition the driver refuses (Intel's CPU runtime:
 * N = 1) with HCL_ERR_OPENCL and the CL error.
 * On no match returns HCL_ERR_DEVICE_NOT_FOUND and writes a message listing the devices. */
hcl_status hcl_device_choose(const hcl_device_info *devices, size_t count, const char *spec,
                             size_t *index, char *message, size_t message_len);

/* ---- context ---- */
typedef struct hcl_context hcl_context;

/* Which kernel variants F16 tensors get on a device with cl_khr_fp16. */
typedef enum hcl_half_mode {
    HCL_HALF_AUTO = 0,    /* $HALFCL_NATIVE_HALF (0 or 1) if set, else native where the device has it */
    HCL_HALF_NATIVE = 1,  /* half arithmetic and conversions where the device has cl_khr_fp16 */
    HCL_HALF_STORAGE = 2  /* the storage-only variants (F32 math) even there: for comparison */
} hcl_half_mode;

/* When built programs are written to the disk cache. Exporting a binary is free on most drivers,
 * but PoCL then compiles every kernel of the program for a generic work-group size, which doubled
 * cold builds (test_elementwise 37 -> 63 s, test_loss 32 -> 405 s on 2 cores), while PoCL keeps its
 * own compiled-kernel cache (~/.cache/pocl) that a later run hits anyway. */
typedef enum hcl_cache_writes {
    HCL_CACHE_WRITES_AUTO = 0,   /* write, except on PoCL with its own kernel cache on */
    HCL_CACHE_WRITES_ALWAYS = 1, /* write on every driver */
    HCL_CACHE_WRITES_NEVER = 2   /* read existing entries only */
} hcl_cache_writes;

typedef struct hcl_context_options {
    const char *device;     /* device spec; NULL = $HALFCL_DEVICE, else the default device */
    const char *cache_dir;  /* NULL = $HALFCL_CACHE_DIR, else $XDG_CACHE_HOME/halfcl or
                               ~/.cache/halfcl; "off" disables the on-disk binary cache */
    hcl_cache_writes cache_writes; /* which builds are written there (see hcl_cache_writes) */
    const char *kernel_dir; /* NULL = $HALFCL_KERNEL_DIR, else the embedded kernel sources */
    int profiling;          /* create the queue with CL_QUEUE_PROFILING_ENABLE */
    hcl_log_fn log;         /* NULL = no logging */
    void *log_user;
    int log_level;          /* messages up to this level reach `log`; -1 = $HALFCL_LOG_LEVEL or WARN */
    hcl_half_mode half_mode; /* native half variants or storage-only ones (see hcl_half_mode) */
    uint64_t memory_limit;   /* device bytes this context may hold (tensors, cached blocks, op
                                workspaces); 0 = the device's global memory. Past it, allocations
                                fail with HCL_ERR_DEVICE_MEMORY (sizes in the message) after the
                                cache of freed blocks is given back, and the context stays usable. */
} hcl_context_options;

/* Fills the defaults above (all NULL/0, log_level -1). */
void hcl_context_options_init(hcl_context_options *options);

/* Creates a context on a chosen device. options may be NULL. On failure *context is NULL and,
 * when error is not NULL, the reason is written there (the context that would hold it is gone). */
hcl_status hcl_context_create(hcl_context **context, const hcl_context_options *options,
                              char *error, size_t error_len);
/* Wraps an application's own OpenCL objects: they are borrowed (retained while the context
 * lives, never released beyond that). The queue must be in-order. */
hcl_status hcl_context_create_from_cl(hcl_context **context, cl_context cl_ctx, cl_device_id device,
                                      cl_command_queue queue, const hcl_context_options *options,
                                      char *error, size_t error_len);
void hcl_context_free(hcl_context *context); /* NULL is a no-op; waits for queued work */

/* The message of the last failing call on this context ("" if none): what failed, where
 * (file:line), and for OpenCL failures the call and the error name. */
const char *hcl_last_error(const hcl_context *context);
void hcl_clear_error(hcl_context *context);

const hcl_device_info *hcl_context_device(const hcl_context *context);
cl_context hcl_context_cl(const hcl_context *context);
cl_device_id hcl_context_cl_device(const hcl_context *context);
cl_command_queue hcl_context_queue(const hcl_context *context);
/* 1 when this context's kernels are built with native half arithmetic (HCL_NATIVE_HALF=1): the
 * device has cl_khr_fp16 and the half mode did not ask for the storage-only variants. */
int hcl_context_native_half(const hcl_context *context);
/* The on-disk cache folder in use, or NULL when the cache is off. */
const char *hcl_context_cache_dir(const hcl_context *context);
/* 1 when this context writes built programs to its cache folder (a folder and, for
 * HCL_CACHE_WRITES_AUTO, a driver without its own cache), else 0. */
int hcl_context_cache_writes(const hcl_context *context);

/* Blocks until all queued work is done (the only host sync the library does on request). */
hcl_status hcl_finish(hcl_context *context);
/* Enqueues a flush (does not wait). */
hcl_status hcl_flush(hcl_context *context);

/* Program cache counters, for tools and tests: builds from source, loads from the disk cache,
 * and disk entries rejected (corrupt, truncated, foreign) and rebuilt. */
typedef struct hcl_program_stats {
    unsigned long source_builds, cache_loads, cache_rejects, cache_writes;
} hcl_program_stats;
void hcl_program_stats_get(const hcl_context *context, hcl_program_stats *stats);

/* Kernel profiler. On a context created with `profiling`, every kernel launch is timed on the
 * device (queue profiling events); hcl_profile_get() waits for the queued launches and returns
 * one entry per kernel name, most total time first (free with hcl_profile_entries_free; *count
 * may be 0). hcl_profile_reset() starts the sums again. Without `profiling` nothing is recorded
 * and hcl_profile_get() fails with HCL_ERR_INVALID_ARGUMENT. */
typedef struct hcl_kernel_profile {
    char name[64];            /* the OpenCL kernel function name */
    unsigned long launches;
    double total_ms;          /* device time, CL_PROFILING_COMMAND_START to _END */
} hcl_kernel_profile;
hcl_status hcl_profile_get(hcl_context *context, hcl_kernel_profile **entries, size_t *count);
void hcl_profile_entries_free(hcl_kernel_profile *entries);
void hcl_profile_reset(hcl_context *context);

/* Builds the kernel programs of every embedded family with their default options (warms the
 * cache; used by tools to time first vs cached builds). */
hcl_status hcl_context_build_all(hcl_context *context);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_RUNTIME_H */
