/* libFuzzer harness for the CIFAR-10 binary reader (hcl_cifar10_load), plain and gzip. The first
 * input byte picks the mode as in fuzz_idx.c: even, the rest is the file as is; odd, the rest is
 * gzip-compressed here first. Records are 3073 bytes: run with -max_len of a few records. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "halfcl/io.h"

#define RECORD 3073

static char *path;

static int make_file(const uint8_t *data, size_t size, const char *out) {
    if (size == 0) return fuzz_write_file(out, data, 0);
    return (data[0] & 1) ? fuzz_write_gzip(out, data + 1, size - 1) : fuzz_write_file(out, data + 1, size - 1);
}

static int write_seeds(const char *dir) {
    static uint8_t buf[3 * RECORD];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (int r = 0; r < 3; r++) buf[r * RECORD] = (uint8_t)(r * 4 + 1); /* labels 1, 5, 9 */
    int r = 0;
    r |= fuzz_seed(dir, "one-plain", 0, buf, RECORD);
    r |= fuzz_seed(dir, "three-plain", 0, buf, sizeof buf);
    r |= fuzz_seed(dir, "two-gzip-here", 1, buf, 2 * RECORD);
    char *gz = fuzz_tmp_path("seed.gz");
    r |= fuzz_write_gzip(gz, buf, 2 * RECORD);
    r |= fuzz_seed_from_file(dir, "two-gzip-bytes", 0, gz);
    free(gz);
    return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_handle_options(argc, argv, write_seeds, make_file);
    path = fuzz_tmp_path("input.bin");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (make_file(data, size, path)) abort();
    hcl_cifar10 *c = NULL;
    hcl_status st = hcl_cifar10_load(fuzz_host_context(), path, &c);
    if (st == HCL_OK) {
        if (c->count == 0) abort();
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < c->count; i++) {
            if (c->labels[i] >= 10) abort();
            sum += c->images[i * (RECORD - 1)] + c->images[(i + 1) * (RECORD - 1) - 1];
        }
        (void)sum;
    } else if (c) {
        abort();
    }
    hcl_cifar10_free(c);
    return 0;
}
