/* hcl-info: every OpenCL platform and device, the default one marked, capabilities (with a clear
 * fp16 line: native cl_khr_fp16 arithmetic or storage-only) and the kernel cache folder.
 * Usage: hcl-info [--json] [--build-kernels]
 * --build-kernels builds every embedded kernel family on the chosen device through the disk cache
 * and prints the time and whether it came from source or from the cache (run twice to see both). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include "halfcl/halfcl.h"

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Builds all kernel families once through the disk cache and reports the time. */
static int build_kernels(void) {
    hcl_context *ctx = NULL;
    char err[2048];
    hcl_context_options o;
    hcl_context_options_init(&o);
    if (hcl_context_create(&ctx, &o, err, sizeof err) != HCL_OK) {
        fprintf(stderr, "hcl-info: no context: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    hcl_status st = hcl_context_build_all(ctx);
    double dt = now_s() - t0;
    hcl_program_stats ps;
    hcl_program_stats_get(ctx, &ps);
    if (st != HCL_OK) fprintf(stderr, "hcl-info: %s\n", hcl_last_error(ctx));
    else
        printf("built all kernel families in %.2f s: %lu from source, %lu from the cache (%s%s), %lu cache entries "
               "rejected\n",
               dt, ps.source_builds, ps.cache_loads, hcl_context_cache_dir(ctx) ? hcl_context_cache_dir(ctx) : "off",
               hcl_context_cache_dir(ctx) && !hcl_context_cache_writes(ctx) ? ", read only: the driver caches" : "",
               ps.cache_rejects);
    hcl_context_free(ctx);
    return st == HCL_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--build-kernels")) return build_kernels();
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: hcl-info [--json] [--build-kernels]\n  Lists OpenCL devices; the one halfcl uses (HALFCL_DEVICE or default) is marked '*'.\n");
            return 0;
        } else {
            fprintf(stderr, "hcl-info: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    hcl_device_info *devs = NULL;
    size_t n = 0;
    hcl_status st = hcl_devices_list(&devs, &n);
    if (st != HCL_OK) {
        fprintf(stderr, "hcl-info: listing devices failed: %s\n", hcl_status_string(st));
        return 1;
    }
    const char *spec = getenv("HALFCL_DEVICE");
    size_t chosen = (size_t)-1;
    char msg[2048] = "";
    hcl_status cst = hcl_device_choose(devs, n, spec, &chosen, msg, sizeof msg);
    if (cst != HCL_OK) chosen = (size_t)-1;

    /* the cache folder as a context would resolve it */
    char cache[4096] = "off";
    const char *cd = getenv("HALFCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cd && *cd) snprintf(cache, sizeof cache, "%s", cd);
    else if (xdg && *xdg) snprintf(cache, sizeof cache, "%s/halfcl", xdg);
    else if (home && *home) snprintf(cache, sizeof cache, "%s/.cache/halfcl", home);

    if (json) {
        printf("{\"devices\":[");
        for (size_t i = 0; i < n; i++) {
            const hcl_device_info *d = &devs[i];
            printf("%s{\"index\":\"%u:%u\",\"default\":%s,\"platform\":", i ? "," : "", d->platform_index, d->device_index,
                   i == chosen ? "true" : "false");
            json_str(d->platform_name);
            printf(",\"platform_version\":"); json_str(d->platform_version);
            printf(",\"name\":"); json_str(d->name);
            printf(",\"vendor\":"); json_str(d->vendor);
            printf(",\"driver_version\":"); json_str(d->driver_version);
            printf(",\"version\":"); json_str(d->version);
            printf(",\"opencl_c_version\":"); json_str(d->opencl_c_version);
            printf(",\"type\":\"%s\",\"fp16\":\"%s\",\"bf16_conversions\":%s,\"fp64\":%s,\"global_mem_bytes\":%llu,\"local_mem_bytes\":%llu,"
                   "\"max_alloc_bytes\":%llu,\"max_work_group_size\":%zu,\"compute_units\":%u,\"max_clock_mhz\":%u,"
                   "\"base_align_bytes\":%u}",
                   d->is_gpu ? "gpu" : d->is_cpu ? "cpu" : "other", d->has_fp16 ? "native" : "storage-only",
                   d->has_bf16_conversions ? "true" : "false", d->has_fp64 ? "true" : "false", (unsigned long long)d->global_mem_bytes,
                   (unsigned long long)d->local_mem_bytes, (unsigned long long)d->max_alloc_bytes, d->max_work_group_size,
                   d->compute_units, d->max_clock_mhz, d->base_align_bytes);
        }
        printf("],\"selector\":");
        json_str(spec ? spec : "");
        printf(",\"selector_error\":");
        json_str(cst == HCL_OK ? "" : msg);
        printf(",\"kernel_cache\":");
        json_str(cache);
        printf("}\n");
    } else {
        if (n == 0) printf("No OpenCL devices found. Install an ICD, e.g. pocl-opencl-icd.\n");
        for (size_t i = 0; i < n; i++) {
            const hcl_device_info *d = &devs[i];
            printf("%s [%u:%u] %s / %s\n", i == chosen ? "*" : " ", d->platform_index, d->device_index, d->platform_name, d->name);
            printf("      type          %s\n", d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other");
            printf("      vendor        %s\n", d->vendor);
            printf("      version       %s (driver %s, %s)\n", d->version, d->driver_version, d->opencl_c_version);
            printf("      fp16          %s\n", d->has_fp16 ? "native cl_khr_fp16 arithmetic"
                                                            : "storage-only (vload_half/vstore_half, compute in fp32)");
            printf("      bf16          %s\n", d->has_bf16_conversions ? "hardware conversions (Intel bfloat16 built-ins)"
                                                                      : "integer conversions");
            printf("      fp64          %s\n", d->has_fp64 ? "yes" : "no");
            printf("      global mem    %.2f GiB (max allocation %.2f GiB)\n", d->global_mem_bytes / 1073741824.0,
                   d->max_alloc_bytes / 1073741824.0);
            printf("      local mem     %llu KiB\n", (unsigned long long)d->local_mem_bytes / 1024);
            printf("      compute units %u @ %u MHz, max work-group %zu, base alignment %u bytes\n", d->compute_units,
                   d->max_clock_mhz, d->max_work_group_size, d->base_align_bytes);
        }
        if (cst != HCL_OK) printf("HALFCL_DEVICE: %s\n", msg);
        else if (n) printf("* = the device halfcl uses (HALFCL_DEVICE=%s)\n", spec ? spec : "<unset: first GPU, else PoCL, Intel, another CPU>");
        printf("kernel cache: %s\n", cache);
    }
    hcl_devices_free(devs);
    return cst == HCL_OK ? 0 : 1;
}
