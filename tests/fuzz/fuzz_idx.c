/* libFuzzer harness for the IDX reader (hcl_idx_load), plain and gzip. The first input byte picks
 * the mode: even, the rest is the file as is (plain, or gzip bytes the fuzzer mutates directly);
 * odd, the rest is gzip-compressed here first, so the IDX structure is explored through zlib. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "halfcl/io.h"

static char *path;

static int make_file(const uint8_t *data, size_t size, const char *out) {
    if (size == 0) return fuzz_write_file(out, data, 0);
    return (data[0] & 1) ? fuzz_write_gzip(out, data + 1, size - 1) : fuzz_write_file(out, data + 1, size - 1);
}

/* An IDX file of unsigned bytes: magic, big-endian dims, prod(dims) values. */
static size_t idx_bytes(uint8_t *buf, int rank, const uint32_t *dims) {
    size_t n = 0, count = 1;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 0x08;
    buf[n++] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        for (int b = 3; b >= 0; b--) buf[n++] = (uint8_t)(dims[i] >> (8 * b));
        count *= dims[i];
    }
    for (size_t i = 0; i < count; i++) buf[n++] = (uint8_t)(i * 37 + 11);
    return n;
}

static int write_seeds(const char *dir) {
    static const uint32_t labels[] = {10}, images[] = {3, 4, 5}, rank4[] = {2, 1, 3, 2};
    uint8_t buf[512];
    int r = 0;
    size_t n = idx_bytes(buf, 1, labels);
    r |= fuzz_seed(dir, "labels-plain", 0, buf, n);
    r |= fuzz_seed(dir, "labels-gzip-here", 1, buf, n);
    n = idx_bytes(buf, 3, images);
    r |= fuzz_seed(dir, "images-plain", 0, buf, n);
    r |= fuzz_seed(dir, "images-gzip-here", 1, buf, n);
    /* a gzip file as stored bytes, so the fuzzer also mutates the compressed stream itself */
    char *gz = fuzz_tmp_path("seed.gz");
    r |= fuzz_write_gzip(gz, buf, n);
    r |= fuzz_seed_from_file(dir, "images-gzip-bytes", 0, gz);
    n = idx_bytes(buf, 4, rank4);
    r |= fuzz_seed(dir, "rank4-plain", 0, buf, n);
    r |= fuzz_write_gzip(gz, buf, n);
    r |= fuzz_seed_from_file(dir, "rank4-gzip-bytes", 0, gz);
    free(gz);
    return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_handle_options(argc, argv, write_seeds, make_file);
    path = fuzz_tmp_path("input.idx");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (make_file(data, size, path)) abort();
    hcl_idx *idx = NULL;
    hcl_status st = hcl_idx_load(fuzz_host_context(), path, &idx);
    if (st == HCL_OK) {
        /* a loaded file is self-consistent */
        size_t count = 1;
        for (int i = 0; i < idx->rank; i++) count *= (size_t)idx->shape[i];
        if (idx->rank < 1 || idx->rank > HCL_MAX_RANK || count != idx->count || idx->dtype != HCL_U8) abort();
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < idx->count; i++) sum += idx->data[i];
        (void)sum;
    } else if (idx) {
        abort(); /* on failure *idx is NULL */
    }
    hcl_idx_free(idx);
    return 0;
}
