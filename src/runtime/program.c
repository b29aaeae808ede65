/* Kernel programs: source lookup (embedded, or $HALFCL_KERNEL_DIR with includes resolved), lazy
 * build per (family, options) with device options added, the disk binary cache, cached kernel
 * objects, and the small launch helpers every op uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/cache.h"
#include "runtime/embedded.h"
#include "runtime/hash.h"
#include "runtime/internal.h"

#define CACHE_FORMAT "halfcl-program-cache-v1"

typedef struct kernel_entry {
    char name[64];
    cl_kernel kernel;
    struct kernel_entry *next;
} kernel_entry;

struct hcl_program_entry {
    char *family;
    char *options;
    cl_program program;
    kernel_entry *kernels;
    struct hcl_program_entry *next;
};

static int cmp_family(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const hcl_embedded_source *)elem)->family);
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
            else { buf[n] = '\0'; *len = (size_t)n; }
        }
    }
    fclose(f);
    return buf;
}

/* Appends `src` to the growing buffer, replacing `#include "x"` lines by dir/x (once each). */
static int append_resolved(const char *dir, const char *src, char **out, size_t *len, size_t *cap, int depth) {
    if (depth > 8) return -1;
    const char *line = src;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) + 1 : strlen(line);
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        char name[256];
        if (sscanf(p, "#include \"%255[^\"]\"", name) == 1) {
            char path[4400];
            size_t n = 0;
            snprintf(path, sizeof path, "%s/%s", dir, name);
            char *inc = read_text(path, &n);
            if (!inc) return -1;
            int r = append_resolved(dir, inc, out, len, cap, depth + 1);
            free(inc);
            if (r) return r;
        } else {
            if (*len + ll + 1 > *cap) {
                size_t nc = (*cap + ll + 1) * 2;
                char *nb = realloc(*out, nc);
                if (!nb) return -1;
                *out = nb;
                *cap = nc;
            }
            memcpy(*out + *len, line, ll);
            *len += ll;
            (*out)[*len] = '\0';
        }
        line += ll;
    }
    return 0;
}

/* The full source of a family; *owned says whether the caller must free it. */
static hcl_status family_source(hcl_context *ctx, const char *family, const char **src, size_t *len, int *owned) {
    *owned = 0;
    if (ctx->kernel_dir) {
        char path[4400];
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s.cl", ctx->kernel_dir, family);
        char *raw = read_text(path, &n);
        if (!raw) return hcl_error(ctx, HCL_ERR_KERNEL_SOURCE, "cannot read kernel source %s (HALFCL_KERNEL_DIR)", path);
        char *out = NULL;
        size_t ol = 0, cap = 0;
        int r = append_resolved(ctx->kernel_dir, raw, &out, &ol, &cap, 0);
        free(raw);
        if (r || !out) {
            free(out);
            return hcl_error(ctx, HCL_ERR_KERNEL_SOURCE, "cannot resolve the includes of %s", path);
        }
        *src = out;
        *len = ol;
        *owned = 1;
        return HCL_OK;
    }
    const hcl_embedded_source *e = bsearch(family, hcl_embedded_sources, hcl_embedded_source_count,
                                           sizeof *e, cmp_family);
    if (!e) return hcl_error(ctx, HCL_ERR_KERNEL_SOURCE, "no embedded kernel family '%s'", family);
    *src = e->source;
    *len = e->length;
    return HCL_OK;
}

static hcl_status build_log_error(hcl_context *ctx, cl_program prog, cl_int err, const char *family, const char *opts) {
    char logbuf[1200] = "";
    size_t n = 0;
    clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof logbuf - 1, logbuf, &n);
    logbuf[sizeof logbuf - 1] = '\0';
    return hcl_error(ctx, HCL_ERR_BUILD, "building kernel family '%s' with options \"%s\" failed (%s); build log:\n%s",
                     family, opts, hcl_cl_error_name(err), logbuf);
}

static hcl_status build_program(hcl_context *ctx, const char *family, const char *extra, cl_program *out) {
    const char *src = NULL;
    size_t len = 0;
    int owned = 0;
    HCL_TRY(family_source(ctx, family, &src, &len, &owned));

    char opts[2048];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DHCL_NATIVE_HALF=%d%s%s", ctx->native_half,
             extra && *extra ? " " : "", extra ? extra : "");

    hcl_hash h;
    hcl_hash_init(&h);
    hcl_hash_str(&h, CACHE_FORMAT);
    hcl_hash_str(&h, ctx->info.platform_name);
    hcl_hash_str(&h, ctx->info.platform_version);
    hcl_hash_str(&h, ctx->info.name);
    hcl_hash_str(&h, ctx->info.version);
    hcl_hash_str(&h, ctx->info.driver_version);
    hcl_hash_str(&h, opts);
    hcl_hash_update(&h, src, len);
    char key[33];
    hcl_hash_hex(&h, key);

    cl_int err = CL_SUCCESS;
    cl_program prog = NULL;
    hcl_status st = HCL_OK;
    if (ctx->cache_dir) {
        unsigned char *bin = NULL;
        size_t bin_len = 0;
        int r = hcl_cache_read(ctx, family, key, &bin, &bin_len);
        if (r < 0) ctx->program_stats.cache_rejects++;
        if (r > 0) {
            const unsigned char *bins[1] = {bin};
            cl_int bstatus = CL_SUCCESS;
            prog = clCreateProgramWithBinary(ctx->cl_ctx, 1, &ctx->device, &bin_len, bins, &bstatus, &err);
            if (err == CL_SUCCESS && bstatus == CL_SUCCESS)
                err = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
            if (err != CL_SUCCESS || bstatus != CL_SUCCESS) {
                hcl_log(ctx, HCL_LOG_WARN, "driver rejected cached binary for '%s' (%s); rebuilding", family,
                        hcl_cl_error_name(err != CL_SUCCESS ? err : bstatus));
                if (prog) clReleaseProgram(prog);
                prog = NULL;
                hcl_cache_remove(ctx, family, key);
                ctx->program_stats.cache_rejects++;
            } else {
                ctx->program_stats.cache_loads++;
            }
            free(bin);
        }
    }
    if (!prog) {
        const char *srcs[1] = {src};
        prog = clCreateProgramWithSource(ctx->cl_ctx, 1, srcs, &len, &err);
        if (err != CL_SUCCESS) st = hcl_cl_error_at(ctx, err, "clCreateProgramWithSource", __FILE__, __LINE__);
        if (st == HCL_OK) {
            err = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
            if (err != CL_SUCCESS) st = build_log_error(ctx, prog, err, family, opts);
        }
        if (st == HCL_OK) {
            ctx->program_stats.source_builds++;
            hcl_log(ctx, HCL_LOG_DEBUG, "built '%s' [%s]", family, opts);
            size_t bsize = 0;
            if (ctx->cache_dir && ctx->cache_writes &&
                clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bsize, &bsize, NULL) == CL_SUCCESS && bsize) {
                unsigned char *bin = malloc(bsize);
                unsigned char *bins[1] = {bin};
                if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS &&
                    hcl_cache_write(ctx, family, key, bin, bsize) == 0)
                    ctx->program_stats.cache_writes++;
                free(bin);
            }
        } else if (prog) {
            clReleaseProgram(prog);
            prog = NULL;
        }
    }
    if (owned) free((char *)src);
    if (st == HCL_OK) *out = prog;
    return st;
}

static int same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static hcl_status program_get(hcl_context *ctx, const char *family, const char *options, hcl_program_entry **out) {
    for (hcl_program_entry *e = ctx->programs; e; e = e->next)
        if (!strcmp(e->family, family) && same(e->options, options)) { *out = e; return HCL_OK; }
    hcl_program_entry *e = calloc(1, sizeof *e);
    if (!e) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    e->family = malloc(strlen(family) + 1);
    e->options = malloc(strlen(options ? options : "") + 1);
    if (!e->family || !e->options) {
        free(e->family); free(e->options); free(e);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    strcpy(e->family, family);
    strcpy(e->options, options ? options : "");
    hcl_status st = build_program(ctx, family, options, &e->program);
    if (st != HCL_OK) {
        free(e->family); free(e->options); free(e);
        return st;
    }
    e->next = ctx->programs;
    ctx->programs = e;
    *out = e;
    return HCL_OK;
}

hcl_status hcl_kernel_get(hcl_context *ctx, const char *family, const char *options, const char *name, cl_kernel *kernel) {
    hcl_program_entry *p = NULL;
    HCL_TRY(program_get(ctx, family, options, &p));
    for (kernel_entry *k = p->kernels; k; k = k->next)
        if (!strcmp(k->name, name)) { *kernel = k->kernel; return HCL_OK; }
    if (strlen(name) >= sizeof ((kernel_entry *)0)->name)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "kernel name '%s' too long", name);
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(p->program, name, &err);
    if (err != CL_SUCCESS)
        return hcl_error(ctx, HCL_ERR_KERNEL_SOURCE, "kernel '%s' not found in family '%s' [%s]: %s", name, family,
                         options ? options : "", hcl_cl_error_name(err));
    kernel_entry *ke = calloc(1, sizeof *ke);
    if (!ke) { clReleaseKernel(k); return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory"); }
    strcpy(ke->name, name);
    ke->kernel = k;
    ke->next = p->kernels;
    p->kernels = ke;
    *kernel = k;
    return HCL_OK;
}

void hcl_program_cache_free(hcl_context *ctx) {
    hcl_program_entry *e = ctx->programs;
    while (e) {
        hcl_program_entry *next = e->next;
        kernel_entry *k = e->kernels;
        while (k) {
            kernel_entry *kn = k->next;
            clReleaseKernel(k->kernel);
            free(k);
            k = kn;
        }
        clReleaseProgram(e->program);
        free(e->family);
        free(e->options);
        free(e);
        e = next;
    }
    ctx->programs = NULL;
}

void hcl_program_stats_get(const hcl_context *ctx, hcl_program_stats *stats) {
    if (!stats) return;
    memset(stats, 0, sizeof *stats);
    if (ctx) *stats = ctx->program_stats;
}

hcl_status hcl_context_build_all(hcl_context *ctx) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    for (size_t i = 0; i < hcl_embedded_source_count; i++) {
        hcl_program_entry *p = NULL;
        HCL_TRY(program_get(ctx, hcl_embedded_sources[i].family, NULL, &p));
    }
    return HCL_OK;
}

hcl_status hcl_kernel_set_args(hcl_context *ctx, cl_kernel kernel, const hcl_karg *args, size_t count) {
    for (size_t i = 0; i < count; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char name[64] = "?";
            clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
            name[sizeof name - 1] = '\0';
            return hcl_error(ctx, HCL_ERR_OPENCL, "clSetKernelArg(%s, arg %zu) failed: %s", name, i, hcl_cl_error_name(err));
        }
    }
    return HCL_OK;
}

hcl_status hcl_kernel_run(hcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global, const size_t *local) {
    size_t g[3];
    if (dims < 1 || dims > 3) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%u work dimensions (1..3)", (unsigned)dims);
    for (cl_uint d = 0; d < dims; d++) {
        g[d] = global[d] ? global[d] : 1;
        if (local && local[d]) g[d] = (g[d] + local[d] - 1) / local[d] * local[d];
    }
    cl_event event = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, g, local, 0, NULL,
                                        ctx->profiling ? &event : NULL);
    if (err == CL_SUCCESS && event) return hcl_profile_record(ctx, kernel, event);
    if (err != CL_SUCCESS) {
        char name[64] = "?";
        clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        name[sizeof name - 1] = '\0';
        return hcl_error(ctx, err == CL_OUT_OF_RESOURCES ? HCL_ERR_DEVICE_MEMORY : HCL_ERR_OPENCL,
                         "clEnqueueNDRangeKernel(%s) failed: %s (%d)", name, hcl_cl_error_name(err), (int)err);
    }
    return HCL_OK;
}

hcl_status hcl_launch_1d(hcl_context *ctx, cl_kernel kernel, size_t n, size_t local, const hcl_karg *args, size_t nargs) {
    HCL_TRY(hcl_kernel_set_args(ctx, kernel, args, nargs));
    /* No local size from the caller: 256 (or n when smaller), never the driver's choice, which
     * is a divisor of n: for an n like 2 x prime PoCL runs work-groups of 2 items, each paying
     * the per-group overhead (a 690k-element fill took 0.8 ms instead of 0.1). The kernels guard
     * the rounded-up tail. */
    size_t l = local;
    if (!l) {
        l = ctx->info.max_work_group_size < 256 ? ctx->info.max_work_group_size : 256;
        if (n && n < l) l = n;
        if (!l) l = 1;
    }
    size_t g = n;
    return hcl_kernel_run(ctx, kernel, 1, &g, &l);
}

const char *hcl_dtype_cl_name(hcl_dtype dtype) { return hcl_dtype_name(dtype); }
