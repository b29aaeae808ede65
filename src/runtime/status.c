/* Status names and texts (from HCL_STATUS_TABLE), OpenCL error names, error recording on the
 * context, and the logging hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

const char *hcl_status_name(hcl_status status) {
    switch (status) {
#define HCL_STATUS_NAME_(name, text) case name: return #name;
        HCL_STATUS_TABLE(HCL_STATUS_NAME_)
#undef HCL_STATUS_NAME_
    default: return "HCL_STATUS_UNKNOWN";
    }
}

const char *hcl_status_string(hcl_status status) {
    switch (status) {
#define HCL_STATUS_TEXT_(name, text) case name: return text;
        HCL_STATUS_TABLE(HCL_STATUS_TEXT_)
#undef HCL_STATUS_TEXT_
    default: return "unknown status";
    }
}

const char *hcl_cl_error_name(cl_int err) {
    switch (err) {
#define E(x) case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
        E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
        E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
        E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE)
        E(CL_INVALID_CONTEXT) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE)
        E(CL_INVALID_HOST_PTR) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
        E(CL_INVALID_IMAGE_SIZE) E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
        E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
        E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
        E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
        E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
        E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

static void log_message(hcl_context *ctx, hcl_log_level level, const char *message) {
    if (ctx && ctx->log && (int)level <= ctx->log_level) ctx->log(ctx->log_user, level, message);
}

hcl_status hcl_error_at(hcl_context *ctx, hcl_status status, const char *file, int line,
                        const char *fmt, ...) {
    if (!ctx) return status;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(ctx->error, sizeof ctx->error, "%s: %s:%d: ", hcl_status_name(status), base, line);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof ctx->error) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error + n, sizeof ctx->error - (size_t)n, fmt, ap);
        va_end(ap);
    }
    log_message(ctx, HCL_LOG_ERROR, ctx->error);
    return status;
}

hcl_status hcl_cl_error_at(hcl_context *ctx, cl_int err, const char *call, const char *file, int line) {
    /* keep only the function name of the call expression: "clFoo(a, b)" -> "clFoo" */
    char fn[64];
    size_t i = 0;
    while (call[i] && call[i] != '(' && i + 1 < sizeof fn) { fn[i] = call[i]; i++; }
    fn[i] = '\0';
    hcl_status status = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                         err == CL_INVALID_BUFFER_SIZE)
                            ? HCL_ERR_DEVICE_MEMORY : HCL_ERR_OPENCL;
    return hcl_error_at(ctx, status, file, line, "%s failed: %s (%d)", fn, hcl_cl_error_name(err), (int)err);
}

const char *hcl_last_error(const hcl_context *ctx) { return ctx ? ctx->error : "context is NULL"; }

void hcl_clear_error(hcl_context *ctx) {
    if (ctx) ctx->error[0] = '\0';
}

void hcl_log(hcl_context *ctx, hcl_log_level level, const char *fmt, ...) {
    if (!ctx || !ctx->log || (int)level > ctx->log_level) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, buf);
}

void hcl_log_stderr(void *user, hcl_log_level level, const char *message) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    (void)user;
    fprintf(stderr, "halfcl: %s: %s\n", names[(unsigned)level < 4 ? level : 3], message ? message : "");
}

const char *hcl_env(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}
