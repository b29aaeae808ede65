/* halfcl io: safetensors files (write atomically, read with full validation of the untrusted
 * header), device tensors to and from them, the IDX (MNIST/Fashion-MNIST) and CIFAR-10 binary
 * data set readers, text corpora (TSV, aclImdb) with their tokenizer, vocabulary and encoding,
 * and the batchers that upload images or token sequences. Uses the tensor layer only. */
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
    /* token batcher with lengths only: */
    int trim;           /* 1: each batch's tokens are (n, L) with L its longest length (0) */
    int bucket;         /* k >= 2: after the shuffle, each run of k batches is sorted by length
                           (longest first) and the full batches are then shuffled: batches of
                           similar lengths, so trimmed batches run fewer steps (0: off) */
    /* data-parallel sharding (dist.h): every replica creates its batcher with the same options
     * and seed and its own shard_index. Each epoch's order is cut into global batches of
     * batch * shard_count samples and shard r serves samples [r*batch, (r+1)*batch) of each. The
     * last partial global batch of G samples is split into shard_count contiguous pieces whose
     * sizes differ by at most 1 (the first pieces the larger); when G < shard_count it is
     * dropped (at most shard_count - 1 samples of an epoch), with drop_last every partial
     * global batch is. So every shard serves the same number of batches (hcl_batcher_batches),
     * none empty, and across shards every sample once per epoch. */
    int shard_count;    /* replicas sharing the data set (1) */
    int shard_index;    /* this replica's shard: 0..shard_count-1 (0) */
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

/* ---- text: TSV and aclImdb readers, deterministic split, tokenizer, vocabulary, encoding ----
 * Host only (no device). A corpus is N UTF-8 texts with a class id each. The vocabulary maps
 * tokens to ids (PAD = 0, UNK = 1, then the tokens of the corpus it was built from by decreasing
 * count, ties in byte order); hcl_text_encode() turns a corpus into (N, max_len) I32 token ids
 * padded with PAD on the right, (N) I32 lengths and (N) I32 labels, which the token batcher
 * below serves to the device. Build the vocabulary from the training split only: a token seen
 * only in the test split is then UNK, as it would be for new text. */

#define HCL_TEXT_PAD 0                          /* id of the padding token "<pad>" */
#define HCL_TEXT_UNK 1                          /* id of the unknown token "<unk>" */
#define HCL_TEXT_MAX_TEXT ((size_t)1 << 20)     /* bytes of one text (a TSV line, a review) */
#define HCL_TEXT_MAX_BYTES ((size_t)1 << 30)    /* bytes of a TSV file, of all reviews of a split */
#define HCL_TEXT_MAX_LABEL 256                  /* bytes of a label */
#define HCL_TEXT_MAX_LEN ((int64_t)1 << 20)     /* tokens per encoded sequence (max_len) */

/* Read-only after creation. Texts are NUL-terminated (texts[i][lengths[i]] == '\0') and contain
 * no NUL byte. Class ids are 0..classes-1; class_names[id] is the label's string. */
typedef struct hcl_text_corpus {
    size_t count;              /* N texts */
    const char **texts;        /* N UTF-8 texts */
    size_t *lengths;           /* N byte lengths */
    int32_t *labels;           /* N class ids */
    size_t classes;
    const char **class_names;  /* `classes` NUL-terminated names */
} hcl_text_corpus;

/* Reads a TSV file of lines "label<TAB>text" (plain or gzip). Labels are the bytes before the
 * first tab (1..HCL_TEXT_MAX_LABEL bytes); the text is the rest of the line (further tabs stay in
 * it; it may be empty). Class ids number the distinct labels in byte-wise sorted order (so they do
 * not depend on the line order: "0" "1" "10" "2" sort as strings). Line ends are LF or CRLF; empty
 * lines are skipped and a UTF-8 byte order mark at the start is ignored. HCL_ERR_FORMAT, with the
 * line number, for: a line without a tab, an empty or too long label, a line longer than
 * HCL_TEXT_MAX_TEXT, invalid UTF-8 (the byte is named), a NUL byte, a file with no data lines, a
 * file over HCL_TEXT_MAX_BYTES. HCL_ERR_IO when it cannot be opened or read. */
hcl_status hcl_text_read_tsv(hcl_context *ctx, const char *path, hcl_text_corpus **corpus);

/* Reads split "train" or "test" of the IMDB review set in its original aclImdb layout:
 * dir/split/neg/NAME.txt (label 0, "neg") then dir/split/pos/NAME.txt (label 1, "pos"), each folder's
 * files in byte-wise sorted name order (other names and sub-folders, such as train/unsup, are
 * ignored). In each review "<br />" (also "<br/>", "<br>") and tabs, CR and LF become a space.
 * A missing folder is HCL_ERR_IO; a folder without .txt files, a review that is not UTF-8, holds a
 * NUL or exceeds HCL_TEXT_MAX_TEXT, or a split over HCL_TEXT_MAX_BYTES is HCL_ERR_FORMAT. */
hcl_status hcl_text_read_imdb(hcl_context *ctx, const char *dir, const char *split, hcl_text_corpus **corpus);

/* A corpus from memory (copied): count texts (NUL-terminated, any bytes: invalid UTF-8 becomes UNK
 * tokens) with labels in 0..classes-1; class_names may be NULL (the names are then "0", "1", ...).
 * count may be 0. */
hcl_status hcl_text_corpus_create(hcl_context *ctx, const char *const *texts, const int32_t *labels, size_t count,
                                  size_t classes, const char *const *class_names, hcl_text_corpus **corpus);
void hcl_text_corpus_free(hcl_text_corpus *corpus); /* NULL is a no-op */

/* Splits a corpus into new train and test corpora (copies; same classes and class names),
 * stratified: the test split gets round(N * test_fraction) texts, shared out over the classes in
 * proportion to their sizes (largest remainders, ties to the lower class id), and within a class
 * the texts are drawn by a seeded Philox Fisher-Yates shuffle. Both keep the corpus order. The
 * same (corpus, fraction, seed) always gives the same split, on any machine. test_fraction in
 * [0, 1]; a split may be empty. */
hcl_status hcl_text_split(hcl_context *ctx, const hcl_text_corpus *corpus, double test_fraction, uint64_t seed,
                          hcl_text_corpus **train, hcl_text_corpus **test);

/* Tokens. Words: maximal runs of word characters: ASCII letters and digits and every other code
 * point from U+00C0 up except U+00D7, U+00F7, U+2000..U+206F (general punctuation: dashes,
 * quotes, ellipsis, special spaces), U+3000..U+303F (CJK punctuation) and U+FEFF; everything else
 * (ASCII punctuation and white space, U+0080..U+00BF, invalid UTF-8 bytes) separates words, so
 * "don't" is "don" "t". Characters: every code point is a token; the ASCII white space characters
 * (tab, LF, VT, FF, CR) become " " and each byte that does not start a valid UTF-8 sequence is one
 * UNK. Lowercasing maps ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals to their
 * small letters (U+0130 to "i"); other scripts are left unchanged. A text with no token is
 * encoded as one UNK, so every length is at least 1. */
typedef enum hcl_text_level { HCL_TEXT_WORDS = 0, HCL_TEXT_CHARS = 1 } hcl_text_level;

typedef struct hcl_text_options {
    hcl_text_level level; /* (HCL_TEXT_WORDS) */
    int lowercase;        /* (1) */
    size_t max_vocab;     /* ids in all, PAD and UNK included; 0 = no limit, else >= 2 (0) */
    size_t min_count;     /* tokens seen fewer times are left out (UNK) (1; 0 acts as 1) */
    int64_t max_len;      /* tokens per sequence, 1..HCL_TEXT_MAX_LEN: longer texts are cut,
                             shorter ones padded with PAD (256) */
    int truncate_start;   /* 0: keep the first max_len tokens; 1: keep the last (0) */
} hcl_text_options;
void hcl_text_options_init(hcl_text_options *options);

typedef struct hcl_vocab hcl_vocab;

/* Counts the tokens of `corpus` (the training split) under options (level, lowercase) and keeps
 * those with count >= min_count, most frequent first (ties in byte order), at most max_vocab - 2.
 * The whole options struct is checked (HCL_ERR_INVALID_ARGUMENT), max_len included. */
hcl_status hcl_vocab_build(hcl_context *ctx, const hcl_text_corpus *corpus, const hcl_text_options *options,
                           hcl_vocab **vocab);
void hcl_vocab_free(hcl_vocab *vocab); /* NULL is a no-op */
size_t hcl_vocab_size(const hcl_vocab *vocab);                 /* ids, PAD and UNK included */
/* The token of an id ("<pad>", "<unk>", then the tokens), NUL-terminated, or NULL out of range. */
const char *hcl_vocab_token(const hcl_vocab *vocab, int32_t id);
/* The id of a token (its exact bytes: no lowercasing), or HCL_TEXT_UNK when absent. */
int32_t hcl_vocab_lookup(const hcl_vocab *vocab, const char *token);
/* Text file of one token per line, line i = id i ("<pad>", "<unk>" first), LF ends, written
 * atomically (temporary file, fsync, rename). The options are not saved: encode with the same. */
hcl_status hcl_vocab_save(hcl_context *ctx, const hcl_vocab *vocab, const char *path);
/* Reads such a file (CRLF tolerated); HCL_ERR_FORMAT with the line number when the first two lines
 * are not "<pad>" "<unk>", a token is empty, repeated, not UTF-8 or longer than HCL_TEXT_MAX_TEXT,
 * or the file exceeds HCL_TEXT_MAX_BYTES. */
hcl_status hcl_vocab_load(hcl_context *ctx, const char *path, hcl_vocab **vocab);

typedef struct hcl_text_encoded {
    size_t count;       /* N */
    int64_t max_len;    /* T */
    int32_t *tokens;    /* (N, T) ids; PAD after each length */
    int32_t *lengths;   /* (N) tokens kept, 1..T */
    int32_t *labels;    /* (N) class ids */
    size_t classes;
    size_t truncated;   /* texts that had more than T tokens */
    size_t unknown;     /* UNK tokens among the kept ones */
} hcl_text_encoded;

/* Tokenises (options level, lowercase, max_len, truncate_start) and maps through `vocab`. */
hcl_status hcl_text_encode(hcl_context *ctx, const hcl_text_corpus *corpus, const hcl_vocab *vocab,
                           const hcl_text_options *options, hcl_text_encoded **encoded);
void hcl_text_encoded_free(hcl_text_encoded *encoded); /* NULL is a no-op */

/* ---- token batcher: the batcher's shuffling and double-buffered upload for token sequences ----
 * Serves (tokens (N, T) I32, lengths (N) I32, labels (N) I32) batches of count sequences of T =
 * max_len ids held in host memory (e.g. an hcl_text_encoded), with the image batcher's design:
 * the same Philox(seed, epoch) permutation per epoch, rows gathered into a pinned staging buffer,
 * non-blocking uploads alternating between two slots. Of the options, batch, shuffle, seed,
 * drop_last, trim and bucket are used (dtype, scale, mean and std are ignored). With trim, the
 * tokens of a batch are (n, L) with L the batch's longest length (for a model that takes fewer
 * steps, see hcl_model_input_tokens). */
typedef struct hcl_token_batcher hcl_token_batcher;

/* tokens: count * max_len ids; lengths, labels: count values each, or NULL (those tensors are
 * then not produced). All BORROWED: they must outlive the batcher. Each length must be in
 * 0..max_len (HCL_ERR_INVALID_ARGUMENT otherwise). */
hcl_status hcl_token_batcher_create(hcl_context *ctx, const int32_t *tokens, const int32_t *lengths,
                                    const int32_t *labels, size_t count, int64_t max_len,
                                    const hcl_batcher_options *options, hcl_token_batcher **batcher);
void hcl_token_batcher_free(hcl_token_batcher *batcher); /* waits for its uploads; NULL is a no-op */
size_t hcl_token_batcher_count(const hcl_token_batcher *batcher);
size_t hcl_token_batcher_batches(const hcl_token_batcher *batcher);
int64_t hcl_token_batcher_batch_size(const hcl_token_batcher *batcher);
uint64_t hcl_token_batcher_epoch(const hcl_token_batcher *batcher);
hcl_status hcl_token_batcher_seek_epoch(hcl_token_batcher *batcher, uint64_t epoch);
/* As hcl_batcher_next(): *n = 0 and NULL tensors at the end of each epoch; the tensors stay valid
 * until the second following call. lengths and labels may be NULL pointers (not wanted). */
hcl_status hcl_token_batcher_next(hcl_token_batcher *batcher, const hcl_tensor **tokens, const hcl_tensor **lengths,
                                  const hcl_tensor **labels, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* HALFCL_IO_H */
