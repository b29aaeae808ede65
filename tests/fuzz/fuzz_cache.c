/* libFuzzer harness for the kernel-cache entry reader (hcl_cache_read, src/runtime/cache.c) on a
 * host-only context whose cache folder is the harness's temporary folder. The first input byte
 * picks the mode: even, the rest is written as the entry file and read back (a corrupt entry must
 * be rejected and removed); odd, the rest is a payload written with hcl_cache_write and read back,
 * which must give the same bytes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "runtime/cache.h"

#define FAMILY "fuzz"
#define KEY "0123456789abcdef0123456789abcdef"

static char entry[4200];

static int make_file(const uint8_t *data, size_t size, const char *out) {
    if (size == 0 || !(data[0] & 1)) return fuzz_write_file(out, size ? data + 1 : data, size ? size - 1 : 0);
    /* a payload: the entry hcl_cache_write makes of it */
    hcl_context *ctx = fuzz_host_context();
    char p[4200];
    if (hcl_cache_write(ctx, FAMILY, KEY, data + 1, size - 1) || hcl_cache_entry_path(ctx, FAMILY, KEY, p, sizeof p))
        return -1;
    uint8_t *b;
    size_t n;
    int r = fuzz_read_file(p, &b, &n);
    if (!r) {
        r = fuzz_write_file(out, b, n);
        free(b);
    }
    unlink(p);
    return r;
}

static int write_seeds(const char *dir) {
    static const uint8_t small[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 13 + 5);
    int r = 0;
    r |= fuzz_seed(dir, "payload-small", 1, small, sizeof small);
    r |= fuzz_seed(dir, "payload-300", 1, big, sizeof big);
    /* the entry files themselves */
    uint8_t in[sizeof big + 1];
    in[0] = 1;
    memcpy(in + 1, big, sizeof big);
    char *file = fuzz_tmp_path("seed.bin");
    r |= make_file(in, sizeof in, file);
    r |= fuzz_seed_from_file(dir, "entry-300", 0, file);
    memcpy(in + 1, small, sizeof small);
    r |= make_file(in, 1 + sizeof small, file);
    r |= fuzz_seed_from_file(dir, "entry-small", 0, file);
    free(file);
    return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hcl_context *ctx = fuzz_host_context();
    ctx->cache_dir = (char *)fuzz_tmpdir();
    fuzz_handle_options(argc, argv, write_seeds, make_file);
    if (hcl_cache_entry_path(ctx, FAMILY, KEY, entry, sizeof entry)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hcl_context *ctx = fuzz_host_context();
    unsigned char *payload = NULL;
    size_t n = 0;
    if (size && (data[0] & 1)) {
        /* round trip: what the writer wrote, the reader returns unchanged (an empty payload is
         * refused by the reader: the driver never hands out an empty binary) */
        if (hcl_cache_write(ctx, FAMILY, KEY, data + 1, size - 1)) abort();
        int r = hcl_cache_read(ctx, FAMILY, KEY, &payload, &n);
        if (size - 1 == 0 ? r != -1 : (r != 1 || n != size - 1 || memcmp(payload, data + 1, n))) abort();
    } else {
        if (fuzz_write_file(entry, size ? data + 1 : data, size ? size - 1 : 0)) abort();
        int r = hcl_cache_read(ctx, FAMILY, KEY, &payload, &n);
        if (r == 1) {
            if (!payload || n == 0 || n + 56 != size - 1) abort();
        } else {
            if (payload || n || r != -1) abort();
            if (access(entry, F_OK) == 0) abort(); /* a rejected entry is removed */
        }
    }
    free(payload);
    unlink(entry);
    return 0;
}
