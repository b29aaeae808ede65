/* Kernel profiler: on a context created with `profiling`, every launch keeps its event and kernel
 * name; hcl_profile_get() waits for them and sums device time per kernel. Nothing is recorded
 * (and no event is created) on a context without profiling, so the training step stays sync-free. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

struct hcl_profiler {
    struct pending { cl_event event; size_t entry; } *pending;
    size_t pending_count, pending_cap;
    hcl_kernel_profile *entries;
    size_t entry_count, entry_cap;
};

static hcl_status profiler_get(hcl_context *ctx, hcl_profiler **out) {
    if (!ctx->profiler) {
        ctx->profiler = calloc(1, sizeof *ctx->profiler);
        if (!ctx->profiler) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "profiler: out of host memory");
    }
    *out = ctx->profiler;
    return HCL_OK;
}

static hcl_status entry_index(hcl_context *ctx, hcl_profiler *p, const char *name, size_t *index) {
    for (size_t i = 0; i < p->entry_count; i++)
        if (strcmp(p->entries[i].name, name) == 0) { *index = i; return HCL_OK; }
    if (p->entry_count == p->entry_cap) {
        size_t cap = p->entry_cap ? 2 * p->entry_cap : 32;
        hcl_kernel_profile *e = realloc(p->entries, cap * sizeof *e);
        if (!e) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "profiler: out of host memory");
        p->entries = e;
        p->entry_cap = cap;
    }
    hcl_kernel_profile *e = &p->entries[p->entry_count];
    memset(e, 0, sizeof *e);
    size_t len = strlen(name);
    if (len >= sizeof e->name) len = sizeof e->name - 1;
    memcpy(e->name, name, len);
    *index = p->entry_count++;
    return HCL_OK;
}

/* Adds a finished event's time to its entry and releases it. */
static hcl_status fold(hcl_context *ctx, hcl_profiler *p, struct pending *pe) {
    cl_ulong start = 0, end = 0;
    cl_int err = clWaitForEvents(1, &pe->event);
    if (err == CL_SUCCESS) err = clGetEventProfilingInfo(pe->event, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
    if (err == CL_SUCCESS) err = clGetEventProfilingInfo(pe->event, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
    clReleaseEvent(pe->event);
    pe->event = NULL;
    if (err != CL_SUCCESS) return hcl_cl_error_at(ctx, err, "clGetEventProfilingInfo", __FILE__, __LINE__);
    hcl_kernel_profile *e = &p->entries[pe->entry];
    e->launches++;
    e->total_ms += end > start ? (double)(end - start) * 1e-6 : 0.0;
    return HCL_OK;
}

/* Folds the events that have finished, keeping the rest in order. */
static hcl_status fold_finished(hcl_context *ctx, hcl_profiler *p, int wait_all) {
    size_t kept = 0;
    hcl_status st = HCL_OK;
    for (size_t i = 0; i < p->pending_count; i++) {
        struct pending *pe = &p->pending[i];
        cl_int status = CL_COMPLETE;
        if (!wait_all && st == HCL_OK)
            clGetEventInfo(pe->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
        if (st == HCL_OK && (status == CL_COMPLETE || status < 0)) {
            st = fold(ctx, p, pe);
        } else if (st != HCL_OK && wait_all) {
            clReleaseEvent(pe->event);
        } else {
            p->pending[kept++] = *pe;
        }
    }
    p->pending_count = kept;
    return st;
}

hcl_status hcl_profile_record(hcl_context *ctx, cl_kernel kernel, cl_event event) {
    hcl_profiler *p = NULL;
    char name[sizeof p->entries->name] = "?";
    hcl_status st = profiler_get(ctx, &p);
    size_t index = 0;
    if (st == HCL_OK) {
        clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        name[sizeof name - 1] = '\0';
        st = entry_index(ctx, p, name, &index);
    }
    /* Bounded memory over a long run: fold what the device has finished. */
    if (st == HCL_OK && p->pending_count == p->pending_cap && p->pending_cap >= 4096) st = fold_finished(ctx, p, 0);
    if (st == HCL_OK && p->pending_count == p->pending_cap) {
        size_t cap = p->pending_cap ? 2 * p->pending_cap : 256;
        struct pending *n = realloc(p->pending, cap * sizeof *n);
        if (!n) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "profiler: out of host memory");
        else { p->pending = n; p->pending_cap = cap; }
    }
    if (st != HCL_OK) { clReleaseEvent(event); return st; }
    p->pending[p->pending_count++] = (struct pending){event, index};
    return HCL_OK;
}

static int by_time_desc(const void *a, const void *b) {
    double ta = ((const hcl_kernel_profile *)a)->total_ms, tb = ((const hcl_kernel_profile *)b)->total_ms;
    return (ta < tb) - (ta > tb);
}

hcl_status hcl_profile_get(hcl_context *ctx, hcl_kernel_profile **entries, size_t *count) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, entries);
    HCL_CHECK_NULL(ctx, count);
    *entries = NULL;
    *count = 0;
    if (!ctx->profiling) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "the context was not created with profiling");
    if (!ctx->profiler) return HCL_OK;
    hcl_profiler *p = ctx->profiler;
    HCL_TRY(fold_finished(ctx, p, 1));
    size_t n = 0;
    for (size_t i = 0; i < p->entry_count; i++) n += p->entries[i].launches > 0;
    if (n == 0) return HCL_OK;
    hcl_kernel_profile *out = malloc(n * sizeof *out);
    if (!out) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "profiler: out of host memory");
    n = 0;
    for (size_t i = 0; i < p->entry_count; i++)
        if (p->entries[i].launches) out[n++] = p->entries[i];
    qsort(out, n, sizeof *out, by_time_desc);
    *entries = out;
    *count = n;
    return HCL_OK;
}

void hcl_profile_reset(hcl_context *ctx) {
    if (!ctx || !ctx->profiler) return;
    hcl_profiler *p = ctx->profiler;
    for (size_t i = 0; i < p->pending_count; i++) clReleaseEvent(p->pending[i].event);
    p->pending_count = 0;
    p->entry_count = 0;
}

void hcl_profile_entries_free(hcl_kernel_profile *entries) { free(entries); }

void hcl_profiler_free(hcl_context *ctx) {
    if (!ctx || !ctx->profiler) return;
    hcl_profile_reset(ctx);
    free(ctx->profiler->pending);
    free(ctx->profiler->entries);
    free(ctx->profiler);
    ctx->profiler = NULL;
}
