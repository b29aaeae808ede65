/* Data set readers: IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary batches, plain or gzip (zlib's
 * gzread reads both). Sizes claimed by a header are checked against the bytes actually read, and
 * buffers grow with the data rather than with the claim, so a lying header cannot force a huge
 * allocation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "halfcl/io.h"
#include "io/io_internal.h"
#include "runtime/internal.h"

/* ---- IDX ---- */

void hcl_idx_free(hcl_idx *idx) {
    if (!idx) return;
    free(idx->data);
    free(idx);
}

static hcl_status idx_read(hcl_context *ctx, const char *path, gzFile g, hcl_idx *idx) {
    unsigned char magic[4];
    size_t got = 0;
    HCL_TRY(hcl_gz_read(ctx, "IDX", path, g, magic, 4, &got));
    if (got < 4) return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: truncated: %zu bytes is too short for the magic", path, got);
    if (magic[0] != 0 || magic[1] != 0)
        return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: bad magic %02x %02x %02x %02x (want 00 00 08 <rank>)", path,
                         magic[0], magic[1], magic[2], magic[3]);
    if (magic[2] != 0x08)
        return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: element type 0x%02x is not supported (only unsigned byte 0x08)",
                         path, magic[2]);
    int rank = magic[3];
    if (rank < 1 || rank > HCL_MAX_RANK)
        return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: rank %d outside 1..%d", path, rank, HCL_MAX_RANK);
    unsigned char dims[4 * HCL_MAX_RANK];
    HCL_TRY(hcl_gz_read(ctx, "IDX", path, g, dims, 4 * (size_t)rank, &got));
    if (got < 4 * (size_t)rank)
        return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: truncated in the dimensions (%zu of %d bytes)", path, got, 4 * rank);
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t d = ((uint32_t)dims[4 * i] << 24) | ((uint32_t)dims[4 * i + 1] << 16) |
                     ((uint32_t)dims[4 * i + 2] << 8) | dims[4 * i + 3];
        if (d == 0) return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: dimension %d is 0", path, i);
        if (d > (SIZE_MAX - 1) / count)
            return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: the element count overflows at dimension %d", path, i);
        count *= d;
        idx->shape[i] = d;
    }
    idx->rank = rank;
    idx->dtype = HCL_U8;
    idx->count = count;
    /* one byte past the claim to detect trailing data */
    HCL_TRY(hcl_gz_read_all(ctx, "IDX", path, g, count + 1, &idx->data, &got));
    if (got < count)
        return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: truncated: %zu of the %zu data bytes the header claims", path, got,
                         count);
    if (got > count)
        return hcl_error(ctx, HCL_ERR_FORMAT, "IDX %s: more data than the %zu bytes the header claims", path, count);
    return HCL_OK;
}

hcl_status hcl_idx_load(hcl_context *ctx, const char *path, hcl_idx **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, path);
    hcl_idx *idx = calloc(1, sizeof *idx);
    if (!idx) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    gzFile g;
    hcl_status st = hcl_gz_open(ctx, "IDX", path, &g);
    if (st == HCL_OK) {
        st = idx_read(ctx, path, g, idx);
        gzclose(g);
    }
    if (st != HCL_OK) {
        hcl_idx_free(idx);
        return st;
    }
    *out = idx;
    return HCL_OK;
}

/* ---- CIFAR-10 ---- */

#define CIFAR_RECORD 3073u
#define CIFAR_PIXELS 3072u

void hcl_cifar10_free(hcl_cifar10 *c) {
    if (!c) return;
    free(c->images);
    free(c->labels);
    free(c);
}

static hcl_status cifar_read(hcl_context *ctx, const char *path, gzFile g, hcl_cifar10 *c) {
    uint8_t *raw = NULL;
    size_t got = 0;
    HCL_TRY(hcl_gz_read_all(ctx, "CIFAR-10", path, g, HCL_CIFAR10_MAX_BYTES + 1, &raw, &got));
    hcl_status st = HCL_OK;
    if (got > HCL_CIFAR10_MAX_BYTES)
        st = hcl_error(ctx, HCL_ERR_FORMAT, "CIFAR-10 %s: larger than the %zu-byte limit", path, HCL_CIFAR10_MAX_BYTES);
    else if (got == 0 || got % CIFAR_RECORD)
        st = hcl_error(ctx, HCL_ERR_FORMAT, "CIFAR-10 %s: %zu bytes is not a non-zero multiple of the %u-byte record",
                       path, got, CIFAR_RECORD);
    size_t n = got / CIFAR_RECORD;
    for (size_t i = 0; st == HCL_OK && i < n; i++)
        if (raw[i * CIFAR_RECORD] >= 10)
            st = hcl_error(ctx, HCL_ERR_FORMAT, "CIFAR-10 %s: record %zu has label %u (must be < 10)", path, i,
                           raw[i * CIFAR_RECORD]);
    if (st == HCL_OK) {
        c->images = malloc(n * CIFAR_PIXELS);
        c->labels = malloc(n);
        if (!c->images || !c->labels) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    if (st == HCL_OK) {
        for (size_t i = 0; i < n; i++) {
            c->labels[i] = raw[i * CIFAR_RECORD];
            memcpy(c->images + i * CIFAR_PIXELS, raw + i * CIFAR_RECORD + 1, CIFAR_PIXELS);
        }
        c->count = n;
    }
    free(raw);
    return st;
}

hcl_status hcl_cifar10_load(hcl_context *ctx, const char *path, hcl_cifar10 **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, path);
    hcl_cifar10 *c = calloc(1, sizeof *c);
    if (!c) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    gzFile g;
    hcl_status st = hcl_gz_open(ctx, "CIFAR-10", path, &g);
    if (st == HCL_OK) {
        st = cifar_read(ctx, path, g, c);
        gzclose(g);
    }
    if (st != HCL_OK) {
        hcl_cifar10_free(c);
        return st;
    }
    *out = c;
    return HCL_OK;
}
