/* libFuzzer harness for the safetensors reader (hcl_safetensors_load and the accessors of a loaded
 * file). The first input byte picks the mode: even, the rest is the file as is; odd, the rest is
 * "JSON header, NUL, data" and the 8-byte header length is computed here, so mutations of the JSON
 * are not all stopped by a wrong length. Run with -dict=tests/fuzz/safetensors.dict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "halfcl/io.h"

static char *path;

static int make_file(const uint8_t *data, size_t size, const char *out) {
    if (size == 0) return fuzz_write_file(out, data, 0);
    return (data[0] & 1) ? fuzz_write_safetensors_parts(out, data + 1, size - 1)
                         : fuzz_write_file(out, data + 1, size - 1);
}

/* Seeds a saved file in both modes: as is, and as "JSON, NUL, data". */
static int seed_both(const char *dir, const char *name, const char *file) {
    uint8_t *b;
    size_t n;
    if (fuzz_read_file(file, &b, &n) || n < 8) return -1;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b[i];
    if (hlen > n - 8) { free(b); return -1; }
    char raw[256], parts[256];
    snprintf(raw, sizeof raw, "%s-raw", name);
    snprintf(parts, sizeof parts, "%s-parts", name);
    int r = fuzz_seed(dir, raw, 0, b, n);
    uint8_t *p = malloc(n);
    if (!p) { free(b); return -1; }
    memcpy(p, b + 8, (size_t)hlen);
    p[hlen] = 0;
    memcpy(p + hlen + 1, b + 8 + hlen, n - 8 - (size_t)hlen);
    r |= fuzz_seed(dir, parts, 1, p, n - 7);
    free(p);
    free(b);
    return r;
}

static int write_seeds(const char *dir) {
    char *file = fuzz_tmp_path("seed.safetensors");
    hcl_context *ctx = fuzz_host_context();
    float f32[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t f16[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00};
    uint16_t bf16[3] = {0x3f80, 0xc000, 0x7f80};
    int32_t i32[4] = {1, -1, 2147483647, 0};
    uint8_t u8[5] = {0, 1, 2, 254, 255};
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s221[3] = {2, 2, 1}, s5[1] = {5}, s0[2] = {4, 0};
    hcl_safetensors_entry all[] = {
        {"weight.f32", HCL_F32, 2, s23, f32, sizeof f32},
        {"weight.f16", HCL_F16, 2, s23, f16, sizeof f16},
        {"bias.bf16", HCL_BF16, 1, s3, bf16, sizeof bf16},
        {"ids", HCL_I32, 3, s221, i32, sizeof i32},
        {"bytes", HCL_U8, 1, s5, u8, sizeof u8},
        {"scalar", HCL_F32, 0, NULL, f32, 4},
        {"empty", HCL_F16, 2, s0, NULL, 0},
    };
    hcl_safetensors_meta meta[] = {{"format", "pt"}, {"note", "fuzz seed \xc3\xa9"}};
    int r = 0;
    if (hcl_safetensors_save(ctx, file, all, sizeof all / sizeof *all, meta, 2) != HCL_OK) return -1;
    r |= seed_both(dir, "all-dtypes", file);
    if (hcl_safetensors_save(ctx, file, all + 1, 1, NULL, 0) != HCL_OK) return -1;
    r |= seed_both(dir, "one-f16", file);
    if (hcl_safetensors_save(ctx, file, NULL, 0, meta, 1) != HCL_OK) return -1;
    r |= seed_both(dir, "metadata-only", file);
    free(file);
    return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_handle_options(argc, argv, write_seeds, make_file);
    path = fuzz_tmp_path("input.safetensors");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (make_file(data, size, path)) abort();
    hcl_safetensors *f = NULL;
    hcl_status st = hcl_safetensors_load(fuzz_host_context(), path, &f);
    if (st != HCL_OK) {
        if (f) abort(); /* on failure *file is NULL */
        return 0;
    }
    /* every accessor, and every byte range a loaded file hands out */
    volatile unsigned sum = 0;
    for (size_t i = 0; i < hcl_safetensors_count(f); i++) {
        const hcl_safetensors_tensor *t = hcl_safetensors_at(f, i);
        if (!t || hcl_safetensors_find(f, t->name) != t) abort();
        if (t->rank < 0 || t->rank > HCL_MAX_RANK) abort();
        size_t count = 1;
        for (int d = 0; d < t->rank; d++) count *= (size_t)t->shape[d];
        if (count != t->count || t->bytes != count * hcl_dtype_size(t->dtype)) abort();
        if (t->bytes) {
            const uint8_t *b = t->data;
            sum += b[0] + b[t->bytes - 1];
        }
    }
    if (hcl_safetensors_at(f, hcl_safetensors_count(f))) abort();
    for (size_t i = 0; i < hcl_safetensors_metadata_count(f); i++) {
        const hcl_safetensors_meta *m = hcl_safetensors_metadata_at(f, i);
        if (!m || !m->key || !m->value) abort();
        const char *v = hcl_safetensors_metadata(f, m->key);
        if (!v) abort();
        sum += (unsigned)strlen(v);
    }
    (void)sum;
    hcl_safetensors_free(f);
    return 0;
}
