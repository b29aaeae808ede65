/* halfcl io: safetensors files (write atomically, read with full validation of the untrusted
 * header), device tensors to and from them, and the IDX (MNIST/Fashion-MNIST) and CIFAR-10
 * binary data set readers. Uses the tensor layer only. */
#ifndef HALFCL_IO_H
#define HALFCL_IO_H

#include "halfcl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every function here records its message on ctx, which may be NULL for the host-only calls
 * (the status is still returned; the message is lost). Reader failures are HCL_ERR_FORMAT for a
 * corrupt, truncated or unsupported file and HCL_ERR_IO for an operating-system error; the
 * message names the file and the problem. */

/* ---- safetensors ----
 * Layout: u64 little-endian header length N, N bytes of JSON
 *   {"name":{"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]}, ...,
 *    "__metadata__":{"key":"value", ...}}
 * then the raw little-endian data; offsets are relative to the data start. Dtypes: F32, F16,
 * BF16, I32, U8 (the halfcl dtypes; files with others are rejected as HCL_ERR_FORMAT). */

#define HCL_SAFETENSORS_MAX_NAME 1024            /* bytes of a tensor name or metadata key */
#define HCL_SAFETENSORS_MAX_HEADER (100u << 20)  /* bytes of the JSON header */

/* One tensor to write: `bytes` must equal prod(shape) * hcl_dtype_size(dtype) (it is checked);
 * dims may be 0 (an empty tensor; data may then be NULL); rank 0 is a scalar. */
typedef struct hcl_safetensors_entry {
    const char *name;      /* UTF-8, 1..HCL_SAFETENSORS_MAX_NAME bytes, not "__metadata__" */
    hcl_dtype dtype;
    int rank;              /* 0..HCL_MAX_RANK */
    const int64_t *shape;  /* rank dims, each >= 0 (may be NULL when rank is 0) */
    const void *data;      /* host bytes in the host's (little-endian) order */
    size_t bytes;
} hcl_safetensors_entry;

/* One metadata pair ("__metadata__" holds strings only). UTF-8. */
typedef struct hcl_safetensors_meta {
    const char *key;
    const char *value;
} hcl_safetensors_meta;

/* Writes `count` entries and `meta_count` metadata pairs (both may be 0) to `path` atomically:
 * everything is validated first, then written to "<path>.tmp.<pid>", flushed and fsync'ed, and
 * renamed over `path`. On any failure the temporary file is removed and an existing `path` is left
 * untouched. Data are laid out by decreasing element size (so each entry is aligned to its dtype
 * in the file) and the header is padded with spaces to a multiple of 8. Invalid requests return
 * HCL_ERR_INVALID_ARGUMENT, HCL_ERR_NULL_POINTER, HCL_ERR_DTYPE, HCL_ERR_SHAPE or
 * HCL_ERR_OVERFLOW; OS failures HCL_ERR_IO. */
hcl_status hcl_safetensors_save(hcl_context *ctx, const char *path, const hcl_safetensors_entry *entries,
                                size_t count, const hcl_safetensors_meta *meta, size_t meta_count);

/* A file read into memory. The tensor records and strings live until hcl_safetensors_free(). */
typedef struct hcl_safetensors hcl_safetensors;

typedef struct hcl_safetensors_tensor {
    const char *name;
    hcl_dtype dtype;
    int rank;
    int64_t shape[HCL_MAX_RANK];
    size_t count;          /* elements (1 for rank 0, 0 when a dim is 0) */
    const void *data;      /* `bytes` bytes, little-endian; not necessarily aligned for the dtype
                              (files from other writers): copy with memcpy */
    size_t bytes;
} hcl_safetensors_tensor;

/* Reads and validates a whole file: header length against the file size and
 * HCL_SAFETENSORS_MAX_HEADER, UTF-8 JSON object, known dtypes, shapes of non-negative integers
 * whose byte size equals end - begin (no overflow), offsets sorted, contiguous from 0 with no
 * holes or overlaps and ending exactly at the end of the file, names unique and at most
 * HCL_SAFETENSORS_MAX_NAME bytes, metadata values strings. On failure *file is NULL. */
hcl_status hcl_safetensors_load(hcl_context *ctx, const char *path, hcl_safetensors **file);
void hcl_safetensors_free(hcl_safetensors *file); /* NULL is a no-op */

/* Tensors in data order (by offset); index < hcl_safetensors_count(). */
size_t hcl_safetensors_count(const hcl_safetensors *file);
const hcl_safetensors_tensor *hcl_safetensors_at(const hcl_safetensors *file, size_t index);
/* The tensor called `name`, or NULL (O(log n)). */
const hcl_safetensors_tensor *hcl_safetensors_find(const hcl_safetensors *file, const char *name);
/* Metadata: value of `key` or NULL; pairs in file order. */
const char *hcl_safetensors_metadata(const hcl_safetensors *file, const char *key);
size_t hcl_safetensors_metadata_count(const hcl_safetensors *file);
const hcl_safetensors_meta *hcl_safetensors_metadata_at(const hcl_safetensors *file, size_t index);

/* Downloads `count` device tensors (all on ctx; names[i] names tensors[i]) and saves them with
 * hcl_safetensors_save() in their own dtypes and shapes. Blocking. */
hcl_status hcl_safetensors_save_tensors(hcl_context *ctx, const char *path, const char *const *names,
                                        const hcl_tensor *const *tensors, size_t count,
                                        const hcl_safetensors_meta *meta, size_t meta_count);

/* Uploads the entry `name` of a loaded file into an existing tensor of the same shape (same rank
 * and dims). The dtypes must match (HCL_ERR_DTYPE otherwise) unless `convert` is set and both are
 * float dtypes: then the values are converted through F32 with round-to-nearest-even (F32 -> F16
 * may overflow to inf; F16 <-> BF16 may round). A missing name is HCL_ERR_INVALID_ARGUMENT, a
 * shape mismatch HCL_ERR_SHAPE. Blocking. */
hcl_status hcl_safetensors_load_tensor(hcl_context *ctx, const hcl_safetensors *file, const char *name,
                                       hcl_tensor *tensor, int convert);

/* ---- IDX (MNIST / Fashion-MNIST) ----
 * Plain or gzip-compressed files: magic 0x00 0x00 0x08 <rank>, `rank` big-endian u32 dims, then
 * prod(dims) unsigned bytes. Only the unsigned-byte type (0x08) is supported; rank 1..HCL_MAX_RANK;
 * the data must be exactly prod(dims) bytes (truncated or trailing bytes are HCL_ERR_FORMAT). */
typedef struct hcl_idx {
    hcl_dtype dtype;             /* HCL_U8 */
    int rank;
    int64_t shape[HCL_MAX_RANK]; /* e.g. (60000, 28, 28) for images, (60000) for labels */
    size_t count;                /* prod(shape) */
    uint8_t *data;               /* count bytes, row-major */
} hcl_idx;

hcl_status hcl_idx_load(hcl_context *ctx, const char *path, hcl_idx **idx);
void hcl_idx_free(hcl_idx *idx); /* NULL is a no-op */

/* ---- CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin; plain or gzip) ----
 * Records of 1 label byte (< 10) and 3072 pixel bytes (R, G, B planes of 32x32). The size must
 * be a non-zero multiple of 3073 and at most HCL_CIFAR10_MAX_BYTES. */
#define HCL_CIFAR10_MAX_BYTES ((size_t)1 << 30)
typedef struct hcl_cifar10 {
    size_t count;     /* N records */
    uint8_t *images;  /* (N, 3, 32, 32) u8 */
    uint8_t *labels;  /* (N) values 0..9 */
} hcl_cifar10;

hcl_status hcl_cifar10_load(hcl_context *ctx, const char *path, hcl_cifar10 **data);
void hcl_cifar10_free(hcl_cifar10 *data); /* NULL is a no-op */


/* ---- batcher: seeded shuffling, normalisation and double-buffered upload ----
 * Serves (images, labels) batches of a data set held in host memory as u8 samples: each pixel
 * becomes (v * scale - mean[c]) / std[c] (c = the channel, dim 0 of a rank-3 sample shape; one
 * channel otherwise), converted on the host straight to the device dtype (F32/F16/BF16) in a
 * pinned staging buffer (CL_MEM_ALLOC_HOST_PTR) and uploaded with a NON-blocking write; two
 * staging/device slots alternate, and batch i+1 is prepared and enqueued while the device still
 * runs the work queued for batch i. The host waits only for the upload of batch i-1 before
 * reusing its staging buffer. Labels (u8) are uploaded as I32. */
#define HCL_BATCHER_MAX_CHANNELS 16

typedef struct hcl_batcher_options {
    int64_t batch;      /* samples per batch (required, >= 1) */
    int shuffle;        /* 1: a new permutation every epoch from Philox(seed, epoch) (1) */
    uint64_t seed;      /* (0) */
    int drop_last;      /* 1: skip a final partial batch (0) */
    hcl_dtype dtype;    /* of the image batches: F32, F16 or BF16 (F32) */
    float scale;        /* applied to the u8 value first (1/255) */
    float mean[HCL_BATCHER_MAX_CHANNELS]; /* per channel (0) */
    float std[HCL_BATCHER_MAX_CHANNELS];  /* per channel (1; must be > 0) */
} hcl_batcher_options;
void hcl_batcher_options_init(hcl_batcher_options *options);

typedef struct hcl_batcher hcl_batcher;

/* images: count samples of prod(sample_shape) bytes each; labels: count bytes (or NULL: the label
 * tensors are then not produced). Both are BORROWED and must outlive the batcher. sample_shape:
 * e.g. (1, 28, 28) or (3, 32, 32); the image batches are (N, sample_shape...). */
hcl_status hcl_batcher_create(hcl_context *ctx, const uint8_t *images, const uint8_t *labels, size_t count,
                              int rank, const int64_t *sample_shape, const hcl_batcher_options *options,
                              hcl_batcher **batcher);
/* Waits for its uploads, then frees (NULL is a no-op). */
void hcl_batcher_free(hcl_batcher *batcher);

size_t hcl_batcher_count(const hcl_batcher *batcher);           /* samples */
size_t hcl_batcher_batches(const hcl_batcher *batcher);         /* batches per epoch */
int64_t hcl_batcher_batch_size(const hcl_batcher *batcher);
hcl_dtype hcl_batcher_dtype(const hcl_batcher *batcher);
/* The epoch the next batch comes from (0-based). */
uint64_t hcl_batcher_epoch(const hcl_batcher *batcher);
/* Restarts at the first batch of `epoch` (e.g. when resuming). Waits for pending uploads. */
hcl_status hcl_batcher_seek_epoch(hcl_batcher *batcher, uint64_t epoch);

/* The next batch of the current epoch: *images (N, sample...) in the batcher's dtype, *labels
 * (N) I32 (NULL without labels), *n = N. At the end of an epoch returns HCL_OK with *n = 0 and
 * NULL tensors; the following call starts the next epoch. The tensors belong to the batcher and
 * stay valid (and unchanged) until the second following call: work queued on them after this
 * call returns is ordered before their reuse by the in-order queue. Queued, no sync (the host
 * waits only for the upload two batches back to finish reading its staging buffer). */
hcl_status hcl_batcher_next(hcl_batcher *batcher, const hcl_tensor **images, const hcl_tensor **labels, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_IO_H */
