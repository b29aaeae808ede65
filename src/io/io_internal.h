/* Library-internal helpers shared by the io readers and writers (files.c): UTF-8 decoding and
 * validation, host byte-order checks, whole-file reads (plain or gzip), atomic writes and the
 * seeded shuffle. Not installed. */
#ifndef HCL_IO_INTERNAL_H
#define HCL_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include "halfcl/runtime.h"

/* Decodes the code point at s[0] (n >= 1 bytes available): its byte length 1..4, or 0 when s[0]
 * does not start a well-formed sequence (overlongs, surrogates, past U+10FFFF, truncated). */
size_t hcl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Offset of the first byte that does not start a well-formed sequence, or n. */
size_t hcl_utf8_invalid_at(const unsigned char *s, size_t n);
/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int hcl_utf8_valid(const unsigned char *s, size_t n);

/* 1 on a little-endian host (the byte order of safetensors data and of our raw transfers). */
static inline int hcl_host_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* gzip or plain files through zlib. Messages start "<kind> <path>: ". An OS error is HCL_ERR_IO,
 * a corrupt gzip stream HCL_ERR_FORMAT. */
hcl_status hcl_gz_open(hcl_context *ctx, const char *kind, const char *path, gzFile *g);
/* Reads up to `want` bytes; *got < want at the end of the file. */
hcl_status hcl_gz_read(hcl_context *ctx, const char *kind, const char *path, gzFile g, void *buf, size_t want,
                       size_t *got);
/* Reads up to `limit` bytes from the current position into a new buffer that grows with the
 * data; *got < limit means the file ended. */
hcl_status hcl_gz_read_all(hcl_context *ctx, const char *kind, const char *path, gzFile g, size_t limit,
                           uint8_t **out, size_t *got);
/* A whole file into a new NUL-terminated buffer (free()); larger than `limit` bytes is
 * HCL_ERR_FORMAT ("larger than the N-byte limit"). */
hcl_status hcl_read_file(hcl_context *ctx, const char *kind, const char *path, size_t limit, char **out,
                         size_t *size);

/* Writes the chunks to "<path>.tmp.<pid>", fsyncs, closes and renames it over `path`, then fsyncs
 * the folder (best effort). On failure the temporary file is removed and `path` is untouched.
 * Messages start "<kind> save <path>: ". */
typedef struct hcl_write_chunk { const void *data; size_t bytes; } hcl_write_chunk;
hcl_status hcl_write_atomic(hcl_context *ctx, const char *kind, const char *path, const hcl_write_chunk *chunks,
                            size_t count);

/* Fisher-Yates over perm[0..n) with Philox4x32-10: key = seed, counter = (i lo, i hi, stream lo,
 * tag ^ stream hi) for the draw that places position i - 1. The batchers use stream = epoch and
 * tag 'shuf'; the text split stream = class id and tag 'splt'. */
void hcl_philox_shuffle(size_t *perm, size_t n, uint64_t seed, uint64_t stream, uint32_t tag);

/* The image tensor of the batcher's first slot ((batch, sample...) in its dtype and context) and
 * whether it produces labels: for callers that check a batcher's batches before using it (nn's
 * evaluate checks them against the model before queueing anything). */
typedef struct hcl_batcher hcl_batcher;
void hcl_batcher_probe(const hcl_batcher *batcher, const struct hcl_tensor **images, int *has_labels);

#endif
