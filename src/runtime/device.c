/* Device discovery through the ICD loader, capability probing, and the HALFCL_DEVICE choice
 * rule ("P:D", "gpu", "cpu", or a case-insensitive substring of platform or device name; the
 * platform vendor counts too, since PoCL's platform is "Portable Computing Language" and only
 * its vendor, "The pocl project", says "pocl"), with an optional "@s/N" suffix: sub-device s of
 * the device split into N equal parts (clCreateSubDevices). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

static void get_str(cl_int (*fn)(void *, cl_uint, size_t, void *, size_t *), void *obj, cl_uint what,
                    char *out, size_t len) {
    out[0] = '\0';
    if (fn(obj, what, len, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[len - 1] = '\0';
}

static cl_int platform_info(void *p, cl_uint w, size_t n, void *v, size_t *r) {
    return clGetPlatformInfo((cl_platform_id)p, (cl_platform_info)w, n, v, r);
}
static cl_int device_info(void *d, cl_uint w, size_t n, void *v, size_t *r) {
    return clGetDeviceInfo((cl_device_id)d, (cl_device_info)w, n, v, r);
}

static int has_extension(cl_device_id device, const char *ext) {
    size_t len = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &len) != CL_SUCCESS || len == 0) return 0;
    char *s = malloc(len + 1);
    if (!s) return 0;
    int found = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, len, s, NULL) == CL_SUCCESS) {
        s[len] = '\0';
        size_t el = strlen(ext);
        for (char *p = strstr(s, ext); p; p = strstr(p + 1, ext))
            if ((p == s || p[-1] == ' ') && (p[el] == ' ' || p[el] == '\0')) { found = 1; break; }
    }
    free(s);
    return found;
}

hcl_status hcl_device_query(hcl_context *ctx, cl_platform_id platform, cl_device_id device,
                            unsigned platform_index, unsigned device_index, hcl_device_info *info) {
    memset(info, 0, sizeof *info);
    info->platform_index = platform_index;
    info->device_index = device_index;
    get_str(platform_info, platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    get_str(platform_info, platform, CL_PLATFORM_VENDOR, info->platform_vendor, sizeof info->platform_vendor);
    get_str(platform_info, platform, CL_PLATFORM_VERSION, info->platform_version, sizeof info->platform_version);
    get_str(device_info, device, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_str(device_info, device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_str(device_info, device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_str(device_info, device, CL_DEVICE_VERSION, info->version, sizeof info->version);
    get_str(device_info, device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);

    cl_device_type type = 0;
    cl_ulong gmem = 0, lmem = 0, maxalloc = 0;
    size_t wg = 0;
    cl_uint cu = 0, clock = 0, align_bits = 0;
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL));
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL));
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL));
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL));
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL));
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL));
    HCL_CL_TRY(ctx, clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL));
    if (clGetDeviceInfo(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof clock, &clock, NULL) != CL_SUCCESS) clock = 0;
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    info->has_fp16 = has_extension(device, "cl_khr_fp16");
    info->has_fp64 = has_extension(device, "cl_khr_fp64");
    /* Intel's CPU runtime names the conversion built-ins' extension cl_intel_bfloat16 */
    info->has_bf16_conversions = has_extension(device, "cl_intel_bfloat16_conversions") ||
                                 has_extension(device, "cl_intel_bfloat16");
    info->global_mem_bytes = gmem;
    info->local_mem_bytes = lmem;
    info->max_alloc_bytes = maxalloc;
    info->max_work_group_size = wg;
    info->compute_units = cu;
    info->max_clock_mhz = clock;
    info->base_align_bytes = align_bits / 8 ? align_bits / 8 : 1;
    return HCL_OK;
}

/* Enumerates (platform, device) handles in order; the info array is optional. */
static hcl_status enumerate(hcl_device_info **infos, cl_platform_id **plats, cl_device_id **devs,
                            size_t *count) {
    *count = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || np == 0) return HCL_OK;
    if (err != CL_SUCCESS) return HCL_ERR_OPENCL;
    cl_platform_id *platforms = calloc(np, sizeof *platforms);
    if (!platforms) return HCL_ERR_HOST_MEMORY;
    if (clGetPlatformIDs(np, platforms, NULL) != CL_SUCCESS) { free(platforms); return HCL_ERR_OPENCL; }

    size_t cap = 0, n = 0;
    hcl_device_info *info_arr = NULL;
    cl_platform_id *plat_arr = NULL;
    cl_device_id *dev_arr = NULL;
    hcl_status st = HCL_OK;
    for (cl_uint p = 0; p < np && st == HCL_OK; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id *ds = calloc(nd, sizeof *ds);
        if (!ds) { st = HCL_ERR_HOST_MEMORY; break; }
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, ds, NULL) != CL_SUCCESS) { free(ds); continue; }
        for (cl_uint d = 0; d < nd; d++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                hcl_device_info *ni = realloc(info_arr, cap * sizeof *ni);
                if (ni) info_arr = ni;
                cl_platform_id *np2 = realloc(plat_arr, cap * sizeof *np2);
                if (np2) plat_arr = np2;
                cl_device_id *nd2 = realloc(dev_arr, cap * sizeof *nd2);
                if (nd2) dev_arr = nd2;
                if (!ni || !np2 || !nd2) { st = HCL_ERR_HOST_MEMORY; break; }
            }
            if (hcl_device_query(NULL, platforms[p], ds[d], p, d, &info_arr[n]) != HCL_OK) continue;
            plat_arr[n] = platforms[p];
            dev_arr[n] = ds[d];
            n++;
        }
        free(ds);
    }
    free(platforms);
    if (st != HCL_OK) { free(info_arr); free(plat_arr); free(dev_arr); return st; }
    *count = n;
    if (infos) *infos = info_arr; else free(info_arr);
    if (plats) *plats = plat_arr; else free(plat_arr);
    if (devs) *devs = dev_arr; else free(dev_arr);
    return HCL_OK;
}

hcl_status hcl_devices_list(hcl_device_info **devices, size_t *count) {
    if (!devices || !count) return HCL_ERR_NULL_POINTER;
    *devices = NULL;
    return enumerate(devices, NULL, NULL, count);
}

void hcl_devices_free(hcl_device_info *devices) { free(devices); }

static int contains_nocase(const char *hay, const char *needle) {
    size_t nl = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == nl) return 1;
    }
    return nl == 0;
}

static int equals_nocase(const char *a, const char *b) {
    while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
    return *a == '\0' && *b == '\0';
}

/* The default CPU device when there is no GPU: the implementation that trains fastest here
 * (fashion_mnist, README "CPU OpenCL implementations"), not the ICD loader's platform order,
 * which follows the vendor files and differs between machines. Lower is preferred. */
static int cpu_preference(const hcl_device_info *d) {
    if (contains_nocase(d->platform_vendor, "pocl")) return 0;
    if (contains_nocase(d->platform_name, "Intel(R) OpenCL")) return 1;
    return 2;
}

/* The preferred CPU device of the list, or count when there is none. */
static size_t best_cpu(const hcl_device_info *devices, size_t count) {
    size_t best = count;
    for (size_t i = 0; i < count; i++)
        if (devices[i].is_cpu && (best == count || cpu_preference(&devices[i]) < cpu_preference(&devices[best]))) best = i;
    return best;
}

/* The device part of a spec (no sub-device suffix). */
static hcl_status choose_base(const hcl_device_info *devices, size_t count, const char *spec,
                              size_t *index, char *message, size_t message_len) {
    if (!index || (!devices && count)) {
        if (message && message_len) snprintf(message, message_len, "%s is NULL", index ? "devices" : "index");
        return HCL_ERR_NULL_POINTER;
    }
    if (count == 0) {
        if (message && message_len) snprintf(message, message_len, "no OpenCL device found (is an ICD such as pocl-opencl-icd installed?)");
        return HCL_ERR_NO_DEVICE;
    }
    if (!spec || !*spec) {
        for (size_t i = 0; i < count; i++) if (devices[i].is_gpu) { *index = i; return HCL_OK; }
        size_t best = best_cpu(devices, count);
        *index = best < count ? best : 0;
        return HCL_OK;
    }
    unsigned p, d;
    char tail;
    if (sscanf(spec, "%u:%u%c", &p, &d, &tail) == 2) {
        for (size_t i = 0; i < count; i++)
            if (devices[i].platform_index == p && devices[i].device_index == d) { *index = i; return HCL_OK; }
    } else if (equals_nocase(spec, "gpu") || equals_nocase(spec, "cpu")) {
        int want_gpu = tolower((unsigned char)spec[0]) == 'g';
        size_t best = want_gpu ? count : best_cpu(devices, count);
        for (size_t i = 0; i < count && want_gpu; i++)
            if (devices[i].is_gpu) { best = i; break; }
        if (best < count) { *index = best; return HCL_OK; }
    } else {
        /* platform names first: on an Intel CPU, PoCL's device is also named "...Intel(R) Core...",
         * and "intel" must still pick Intel's runtime */
        for (size_t i = 0; i < count; i++)
            if (contains_nocase(devices[i].platform_name, spec) || contains_nocase(devices[i].platform_vendor, spec)) {
                *index = i;
                return HCL_OK;
            }
        for (size_t i = 0; i < count; i++)
            if (contains_nocase(devices[i].name, spec)) {
                *index = i;
                return HCL_OK;
            }
    }
    if (message && message_len) {
        size_t used = (size_t)snprintf(message, message_len, "device '%s' matches none of:", spec);
        for (size_t i = 0; i < count && used < message_len; i++)
            used += (size_t)snprintf(message + used, message_len - used, " [%u:%u %s / %s]",
                                     devices[i].platform_index, devices[i].device_index,
                                     devices[i].platform_name, devices[i].name);
    }
    return HCL_ERR_DEVICE_NOT_FOUND;
}

/* A run of decimal digits as an unsigned value up to HCL_SUBDEVICE_MAX_PARTS; NULL when the text
 * at s is not one (empty, or too large). */
static const char *parse_count(const char *s, unsigned *value) {
    unsigned long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > HCL_SUBDEVICE_MAX_PARTS) return NULL;
        p++;
    }
    if (p == s) return NULL;
    *value = (unsigned)v;
    return p;
}

hcl_status hcl_device_spec_parse(const char *spec, char *base, size_t base_len, unsigned *sub_index,
                                 unsigned *sub_count, char *message, size_t message_len) {
    if (message && message_len) message[0] = '\0';
    if (base && base_len) base[0] = '\0';
    if (!sub_index || !sub_count) {
        if (message && message_len) snprintf(message, message_len, "sub_index and sub_count must not be NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *sub_index = *sub_count = 0;
    if (!spec) return HCL_OK;
    const char *at = strrchr(spec, '@');
    size_t base_n = strlen(spec);
    if (at && at[1] >= '0' && at[1] <= '9') { /* a suffix: it must be exactly "@s/N" */
        unsigned s = 0, n = 0;
        const char *p = parse_count(at + 1, &s);
        if (p && *p == '/') p = parse_count(p + 1, &n);
        else p = NULL;
        if (!p || *p) {
            if (message && message_len)
                snprintf(message, message_len, "device spec '%s': the sub-device suffix '%s' is not '@s/N' "
                         "(sub-device s of N, decimal, N <= %u)", spec, at, HCL_SUBDEVICE_MAX_PARTS);
            return HCL_ERR_INVALID_ARGUMENT;
        }
        if (n < 1 || s >= n) {
            if (message && message_len)
                snprintf(message, message_len, "device spec '%s': sub-device %u of %u does not exist (need N >= 1 and s < N)",
                         spec, s, n);
            return HCL_ERR_INVALID_ARGUMENT;
        }
        *sub_index = s;
        *sub_count = n;
        base_n = (size_t)(at - spec);
    }
    if (base && base_len) {
        if (base_n >= base_len) {
            if (message && message_len) snprintf(message, message_len, "device spec '%s' is too long", spec);
            return HCL_ERR_INVALID_ARGUMENT;
        }
        memcpy(base, spec, base_n);
        base[base_n] = '\0';
    }
    return HCL_OK;
}

hcl_status hcl_device_choose(const hcl_device_info *devices, size_t count, const char *spec,
                             size_t *index, char *message, size_t message_len) {
    if (message && message_len) message[0] = '\0';
    char base[512];
    unsigned s = 0, n = 0;
    hcl_status st = hcl_device_spec_parse(spec, base, sizeof base, &s, &n, message, message_len);
    if (st != HCL_OK) return st;
    return choose_base(devices, count, spec ? base : NULL, index, message, message_len);
}

/* Used by context.c: the "P:D" of a device handle as hcl_devices_list numbers it (0:0 when the
 * handle is not found, e.g. a sub-device). Compares handles, not names, so that two identical
 * GPUs keep their own indices. */
void hcl_device_locate(cl_device_id device, unsigned *platform_index, unsigned *device_index) {
    hcl_device_info *infos = NULL;
    cl_device_id *devs = NULL;
    size_t n = 0;
    *platform_index = *device_index = 0;
    if (enumerate(&infos, NULL, &devs, &n) != HCL_OK) return;
    for (size_t i = 0; i < n; i++)
        if (devs[i] == device) {
            *platform_index = infos[i].platform_index;
            *device_index = infos[i].device_index;
            break;
        }
    free(infos);
    free(devs);
}

/* Whether `device` (info: its hcl_device_info) can be split into `parts` equal sub-devices:
 * CL_DEVICE_PARTITION_EQUALLY supported, parts <= its compute units and <= its
 * CL_DEVICE_PARTITION_MAX_SUB_DEVICES. Else HCL_ERR_DEVICE_NOT_FOUND with the reason. */
static hcl_status split_check(cl_device_id device, const hcl_device_info *info, unsigned parts, char *message,
                              size_t message_len) {
    cl_device_partition_property props[16];
    size_t bytes = 0;
    int equally = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_PARTITION_PROPERTIES, sizeof props, props, &bytes) == CL_SUCCESS)
        for (size_t i = 0; i < bytes / sizeof *props && i < 16; i++) equally |= props[i] == CL_DEVICE_PARTITION_EQUALLY;
    cl_uint max_sub = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_PARTITION_MAX_SUB_DEVICES, sizeof max_sub, &max_sub, NULL) != CL_SUCCESS)
        max_sub = 0;
    const char *why = NULL;
    char buf[160];
    /* PoCL before 4.0 mishandles sub-device reference counts (pocl/pocl#1357): halfcl's CI crashed
     * inside it twice in a row (a segfault after a sub-device's release, under load), so it is
     * refused there; Intel's CPU runtime and later PoCL split */
    const char *pocl = strstr(info->platform_version, "PoCL ");
    int pocl_major = 0;
    if (pocl && sscanf(pocl + 5, "%d", &pocl_major) == 1 && pocl_major < 4) {
        snprintf(buf, sizeof buf, "PoCL %d's sub-devices are unsafe to release (pocl/pocl#1357; PoCL 4 or Intel's runtime split)",
                 pocl_major);
        why = buf;
    } else if (!equally) why = "it does not support CL_DEVICE_PARTITION_EQUALLY (not partitionable)";
    else if (parts > info->compute_units) {
        snprintf(buf, sizeof buf, "it has %u compute units", info->compute_units);
        why = buf;
    } else if (parts > max_sub) {
        snprintf(buf, sizeof buf, "its CL_DEVICE_PARTITION_MAX_SUB_DEVICES is %u", (unsigned)max_sub);
        why = buf;
    }
    if (!why) return HCL_OK;
    if (message && message_len)
        snprintf(message, message_len, "device %u:%u (%s / %s) cannot be split into %u equal sub-devices: %s",
                 info->platform_index, info->device_index, info->platform_name, info->name, parts, why);
    return HCL_ERR_DEVICE_NOT_FOUND;
}

hcl_status hcl_device_can_split(unsigned platform_index, unsigned device_index, unsigned parts, char *message,
                                size_t message_len) {
    if (message && message_len) message[0] = '\0';
    hcl_device_info *infos = NULL;
    cl_device_id *devs = NULL;
    size_t n = 0;
    hcl_status st = enumerate(&infos, NULL, &devs, &n);
    if (st != HCL_OK) {
        if (message && message_len) snprintf(message, message_len, "listing OpenCL devices failed: %s", hcl_status_name(st));
        return st;
    }
    st = HCL_ERR_DEVICE_NOT_FOUND;
    if (message && message_len) snprintf(message, message_len, "no device %u:%u", platform_index, device_index);
    for (size_t i = 0; i < n; i++)
        if (infos[i].platform_index == platform_index && infos[i].device_index == device_index) {
            st = parts < 1 ? HCL_ERR_INVALID_ARGUMENT : split_check(devs[i], &infos[i], parts, message, message_len);
            if (parts < 1 && message && message_len) snprintf(message, message_len, "parts is 0");
            break;
        }
    free(infos);
    free(devs);
    return st;
}

/* Sub-device `sub` of `parts` equal ones of `device` (each floor(CUs / parts) compute units; the
 * siblings the partition call also made are released at once). */
static hcl_status make_sub_device(cl_device_id device, const hcl_device_info *info, unsigned sub, unsigned parts,
                                  cl_device_id *out, char *message, size_t message_len) {
    HCL_TRY(split_check(device, info, parts, message, message_len));
    cl_uint units = info->compute_units / parts;
    cl_device_partition_property props[] = {CL_DEVICE_PARTITION_EQUALLY, (cl_device_partition_property)units, 0};
    cl_uint cap = info->compute_units, got = 0;
    cl_device_id *subs = calloc(cap, sizeof *subs);
    if (!subs) return HCL_ERR_HOST_MEMORY;
    cl_int err = clCreateSubDevices(device, props, cap, subs, &got);
    if (err != CL_SUCCESS || got <= sub) {
        if (err == CL_SUCCESS)
            for (cl_uint i = 0; i < got; i++) clReleaseDevice(subs[i]);
        free(subs);
        if (message && message_len)
            snprintf(message, message_len, "clCreateSubDevices(CL_DEVICE_PARTITION_EQUALLY, %u) on device %u:%u (%s) %s%s",
                     (unsigned)units, info->platform_index, info->device_index, info->name,
                     err != CL_SUCCESS ? "failed: " : "made too few sub-devices",
                     err != CL_SUCCESS ? hcl_cl_error_name(err) : "");
        return HCL_ERR_OPENCL;
    }
    for (cl_uint i = 0; i < got; i++)
        if (i != sub) clReleaseDevice(subs[i]);
    *out = subs[sub];
    free(subs);
    return HCL_OK;
}

hcl_status hcl_device_open(const char *spec, hcl_device_choice *choice, char *message, size_t message_len) {
    memset(choice, 0, sizeof *choice);
    hcl_device_info *infos = NULL;
    cl_platform_id *plats = NULL;
    cl_device_id *devs = NULL;
    size_t n = 0, idx = 0;
    unsigned sub = 0, parts = 0;
    hcl_status st = hcl_device_spec_parse(spec, NULL, 0, &sub, &parts, message, message_len);
    if (st != HCL_OK) return st;
    st = enumerate(&infos, &plats, &devs, &n);
    if (st != HCL_OK) {
        if (message && message_len) snprintf(message, message_len, "listing OpenCL devices failed: %s", hcl_status_name(st));
        return st;
    }
    st = hcl_device_choose(infos, n, spec, &idx, message, message_len);
    if (st == HCL_OK) {
        choice->platform = plats[idx];
        choice->device = devs[idx];
        choice->platform_index = infos[idx].platform_index;
        choice->device_index = infos[idx].device_index;
        if (parts) {
            st = make_sub_device(devs[idx], &infos[idx], sub, parts, &choice->device, message, message_len);
            if (st == HCL_OK) {
                choice->sub_index = sub;
                choice->sub_count = parts;
            } else {
                choice->device = NULL;
            }
        }
    }
    free(infos);
    free(plats);
    free(devs);
    return st;
}
