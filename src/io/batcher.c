/* Batchers: serve shuffled batches of a host data set to the device. One core (per-epoch Philox
 * permutation, two slots of pinned staging buffer + device tensors, non-blocking uploads, the
 * next batch prepared and enqueued while the device computes the current one) with two fill
 * functions: u8 images turned into the device dtype through a per-channel lookup table (256
 * entries) with u8 labels as I32 (hcl_batcher), and I32 token rows with lengths and labels
 * (hcl_token_batcher). */
#include <stdlib.h>
#include <string.h>
#include "halfcl/io.h"
#include "io/io_internal.h"
#include "runtime/internal.h"

#define SLOTS 2
#define OUTS 3                 /* tensors per batch at most */
#define SHUFFLE_TAG 0x73687566u /* 'shuf' */
#define BUCKET_TAG 0x6275636bu  /* 'buck' */

typedef struct batch_slot {
    cl_mem stage;              /* pinned host staging: the outputs one after another */
    void *host;                /* its mapping (kept for the batcher's life) */
    hcl_tensor *dev[OUTS];     /* device tensors at max batch; NULL for an output not produced */
    hcl_tensor view[OUTS];     /* (n, ...) views handed out */
    cl_event done;             /* the last upload from this slot, or NULL */
} batch_slot;

/* Writes the rows of samples idx[0..n) of every produced output k into dst[k]. */
typedef void (*fill_fn)(hcl_batcher *b, void *const *dst, const size_t *idx, size_t n);

struct hcl_batcher {
    hcl_context *ctx;
    size_t count, batches;
    hcl_batcher_options opt;
    fill_fn fill;
    size_t row_elems[OUTS];    /* elements per sample of each output; 0 = not produced */
    size_t row_bytes[OUTS];
    size_t stage_at[OUTS];     /* byte offset of each output in the staging buffer */
    size_t *perm;
    uint64_t epoch;            /* epoch of the next batch */
    size_t next_batch;         /* index of the next batch in the epoch */
    int end_pending;           /* the epoch's batches are all handed out: next call returns n = 0 */
    batch_slot slot[SLOTS];
    int cur;                   /* slot of the next batch to hand out */
    int prepared;              /* slot `cur` holds the upload of batch (epoch, next_batch) */
    /* images */
    const uint8_t *images, *labels;
    size_t channels, plane;    /* per-sample channels and elements per channel */
    float *lut_f32;            /* channels * 256 (F32) */
    uint16_t *lut_u16;         /* channels * 256 (F16/BF16 bits) */
    /* tokens */
    const int32_t *tokens, *lengths, *tlabels;
    size_t max_len;
    size_t trim_len;           /* trim: row length of the batch being prepared (0 = max_len) */
};

/* A token batcher is the core in token mode (a distinct type for the public API). */
struct hcl_token_batcher {
    hcl_batcher core;
};

void hcl_batcher_options_init(hcl_batcher_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->shuffle = 1;
    o->dtype = HCL_F32;
    o->scale = 1.0f / 255.0f;
    for (int i = 0; i < HCL_BATCHER_MAX_CHANNELS; i++) o->std[i] = 1.0f;
    o->shard_count = 1;
    o->shard_index = 0;
}

/* ---- core ---- */

typedef struct len_idx {
    int32_t len;
    size_t idx;
} len_idx;

/* Longest first; ties by sample index (a total order: the same result from any sort). */
static int longer_first(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Length buckets (token batcher): each run of `bucket` batches of the shuffled order is sorted by
 * length, longest first, then the full batches are put in a second Philox order; a partial last
 * batch stays last. Without host memory for the scratch the shuffled order is kept (still a valid
 * epoch). */
static void bucket_by_length(hcl_batcher *b) {
    size_t B = (size_t)b->opt.batch, run = (size_t)b->opt.bucket * B, full = b->count / B;
    if (run > b->count) run = b->count;
    len_idx *key = malloc(run * sizeof *key);
    size_t *order = malloc(full * sizeof *order), *copy = malloc(full * B * sizeof *copy);
    if (key && order && copy) {
        for (size_t s = 0; s < b->count; s += run) {
            size_t n = b->count - s < run ? b->count - s : run;
            for (size_t i = 0; i < n; i++) key[i] = (len_idx){b->lengths[b->perm[s + i]], b->perm[s + i]};
            qsort(key, n, sizeof *key, longer_first);
            for (size_t i = 0; i < n; i++) b->perm[s + i] = key[i].idx;
        }
        for (size_t i = 0; i < full; i++) order[i] = i;
        hcl_philox_shuffle(order, full, b->opt.seed, b->epoch, BUCKET_TAG);
        memcpy(copy, b->perm, full * B * sizeof *copy);
        for (size_t i = 0; i < full; i++) memcpy(b->perm + i * B, copy + order[i] * B, B * sizeof *copy);
    }
    free(key);
    free(order);
    free(copy);
}

static void shuffle(hcl_batcher *b) {
    for (size_t i = 0; i < b->count; i++) b->perm[i] = i;
    if (b->opt.shuffle) hcl_philox_shuffle(b->perm, b->count, b->opt.seed, b->epoch, SHUFFLE_TAG);
    if (b->opt.bucket >= 2 && b->lengths) bucket_by_length(b);
}

/* Batch `index` of this shard: samples perm[*first .. *first + *n). Global batches hold
 * batch * shard_count samples; the last partial one is cut into shard_count near-equal pieces. */
static void batch_range(const hcl_batcher *b, size_t index, size_t *first, size_t *n) {
    size_t B = (size_t)b->opt.batch, S = (size_t)b->opt.shard_count, r = (size_t)b->opt.shard_index, G = B * S;
    size_t full = b->count / G;
    if (index < full) {
        *first = index * G + r * B;
        *n = B;
        return;
    }
    size_t rest = b->count - full * G, q = rest / S, extra = rest % S; /* rest >= S here */
    *first = full * G + r * q + (r < extra ? r : extra);
    *n = q + (r < extra);
}

/* Batches per epoch of every shard (see hcl_batcher_options). */
static size_t batch_count(size_t count, const hcl_batcher_options *o) {
    size_t G = (size_t)o->batch * (size_t)o->shard_count, full = count / G, rest = count - full * G;
    return full + (!o->drop_last && rest >= (size_t)o->shard_count);
}

static hcl_status slot_wait(hcl_batcher *b, batch_slot *s) {
    if (!s->done) return HCL_OK;
    cl_int err = clWaitForEvents(1, &s->done);
    clReleaseEvent(s->done);
    s->done = NULL;
    if (err != CL_SUCCESS) return hcl_cl_error_at(b->ctx, err, "clWaitForEvents", __FILE__, __LINE__);
    return HCL_OK;
}

/* Fills slot s's staging buffer with batch `index` of the current epoch and enqueues its
 * non-blocking uploads (the last one signals s->done: the queue is in order). */
static hcl_status prepare(hcl_batcher *b, batch_slot *s, size_t index) {
    HCL_TRY(slot_wait(b, s)); /* the staging buffer may still be read by the previous upload */
    size_t first, n;
    batch_range(b, index, &first, &n);
    void *dst[OUTS] = {NULL};
    int last = 0;
    for (int k = 0; k < OUTS; k++)
        if (s->dev[k]) {
            dst[k] = (uint8_t *)s->host + b->stage_at[k];
            last = k;
        }
    b->fill(b, dst, b->perm + first, n);
    cl_command_queue q = b->ctx->queue;
    for (int k = 0; k < OUTS; k++) {
        hcl_tensor *t = s->dev[k];
        if (!t) continue;
        size_t esize = hcl_dtype_size(t->dtype), elems = b->row_elems[k];
        if (k == 0 && b->trim_len) elems = b->trim_len; /* trimmed token rows (fill_tokens packed them) */
        HCL_CL_TRY(b->ctx, clEnqueueWriteBuffer(q, t->buffer, CL_FALSE, t->offset * esize, n * elems * esize, dst[k],
                                                0, NULL, k == last ? &s->done : NULL));
        s->view[k] = *t;
        s->view[k].block = NULL;
        s->view[k].shape[0] = (int64_t)n;
        if (k == 0 && b->trim_len) s->view[k].shape[1] = (int64_t)elems;
        s->view[k].count = n * elems;
    }
    /* start the transfer now (non-blocking) */
    HCL_CL_TRY(b->ctx, clFlush(q));
    return HCL_OK;
}

/* Checks the common options and allocates the batcher with its permutation. */
static hcl_status core_create(hcl_context *ctx, const char *what, size_t count, const hcl_batcher_options *o,
                              hcl_batcher **out) {
    if (count == 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s: the data set is empty", what);
    if (o->batch < 1) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s: batch %lld < 1", what, (long long)o->batch);
    if (count > SIZE_MAX / sizeof(size_t))
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "%s: %zu samples overflow the permutation's size", what, count);
    if (o->shard_count < 1 || o->shard_index < 0 || o->shard_index >= o->shard_count)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s: shard_index %d not in 0..shard_count-1 (shard_count %d >= 1)",
                         what, o->shard_index, o->shard_count);
    if ((uint64_t)o->batch > SIZE_MAX / (size_t)o->shard_count)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "%s: batch %lld x %d shards overflows", what, (long long)o->batch, o->shard_count);
    if (batch_count(count, o) == 0)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s: %zu samples make no batch of %lld x %d shard(s)%s", what, count,
                         (long long)o->batch, o->shard_count, o->drop_last ? " with drop_last" : "");
    hcl_batcher *b = calloc(1, sizeof *b);
    if (!b) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    b->ctx = ctx;
    b->count = count;
    b->opt = *o;
    b->batches = batch_count(count, o);
    b->perm = malloc(count * sizeof *b->perm);
    if (!b->perm) {
        free(b);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    *out = b;
    return HCL_OK;
}

/* Creates both slots: output k (produced when present[k]) is a (batch, sample_shape[k]...) tensor
 * of dtypes[k] with sample rank ranks[k]. Then draws epoch 0's order. */
static hcl_status core_slots(hcl_batcher *b, const int *present, const hcl_dtype *dtypes, const int *ranks,
                             const int64_t (*sample_shape)[HCL_MAX_RANK]) {
    hcl_context *ctx = b->ctx;
    size_t stage_bytes = 0;
    for (int k = 0; k < OUTS; k++) {
        if (!present[k]) continue;
        size_t elems = 1;
        for (int i = 0; i < ranks[k]; i++) elems *= (size_t)sample_shape[k][i]; /* checked by the callers */
        b->row_elems[k] = elems;
        b->row_bytes[k] = elems * hcl_dtype_size(dtypes[k]);
        b->stage_at[k] = stage_bytes;
        size_t limit = (SIZE_MAX - 64 - stage_bytes) / (b->row_bytes[k] ? b->row_bytes[k] : 1);
        if ((uint64_t)b->opt.batch > limit)
            return hcl_error(ctx, HCL_ERR_OVERFLOW, "batcher: batch %lld of %zu-byte rows overflows the staging size",
                             (long long)b->opt.batch, b->row_bytes[k]);
        stage_bytes += ((size_t)b->opt.batch * b->row_bytes[k] + 63) & ~(size_t)63;
    }
    for (int j = 0; j < SLOTS; j++) {
        batch_slot *s = &b->slot[j];
        cl_int err = CL_SUCCESS;
        s->stage = clCreateBuffer(ctx->cl_ctx, CL_MEM_ALLOC_HOST_PTR | CL_MEM_READ_WRITE, stage_bytes, NULL, &err);
        if (err != CL_SUCCESS) return hcl_cl_error_at(ctx, err, "clCreateBuffer (batcher staging)", __FILE__, __LINE__);
        s->host = clEnqueueMapBuffer(ctx->queue, s->stage, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, stage_bytes, 0, NULL,
                                     NULL, &err);
        if (err != CL_SUCCESS)
            return hcl_cl_error_at(ctx, err, "clEnqueueMapBuffer (batcher staging)", __FILE__, __LINE__);
        for (int k = 0; k < OUTS; k++) {
            if (!present[k]) continue;
            int64_t shape[HCL_MAX_RANK];
            shape[0] = b->opt.batch;
            for (int i = 0; i < ranks[k]; i++) shape[i + 1] = sample_shape[k][i];
            HCL_TRY(hcl_tensor_create(ctx, dtypes[k], ranks[k] + 1, shape, &s->dev[k]));
        }
    }
    shuffle(b);
    return HCL_OK;
}

static void core_free(hcl_batcher *b) {
    if (!b) return;
    for (int j = 0; j < SLOTS; j++) {
        batch_slot *s = &b->slot[j];
        if (s->done) {
            clWaitForEvents(1, &s->done);
            clReleaseEvent(s->done);
        }
        if (s->stage) {
            if (s->host) {
                cl_event ev = NULL;
                if (clEnqueueUnmapMemObject(b->ctx->queue, s->stage, s->host, 0, NULL, &ev) == CL_SUCCESS && ev) {
                    clWaitForEvents(1, &ev);
                    clReleaseEvent(ev);
                }
            }
            clReleaseMemObject(s->stage);
        }
        for (int k = 0; k < OUTS; k++) hcl_tensor_free(s->dev[k]);
    }
    free(b->perm);
    free(b->lut_f32);
    free(b->lut_u16);
    free(b);
}

static hcl_status core_seek_epoch(hcl_batcher *b, uint64_t epoch) {
    if (!b) return HCL_ERR_NULL_POINTER;
    for (int j = 0; j < SLOTS; j++) HCL_TRY(slot_wait(b, &b->slot[j]));
    b->epoch = epoch;
    b->next_batch = 0;
    b->end_pending = 0;
    b->prepared = 0;
    shuffle(b);
    return HCL_OK;
}

/* The next batch's views in out[k] (NULL for outputs not produced), or *n = 0 at an epoch end. */
static hcl_status core_next(hcl_batcher *b, const hcl_tensor *out[OUTS], size_t *n) {
    for (int k = 0; k < OUTS; k++) out[k] = NULL;
    *n = 0;
    if (b->end_pending) { /* epoch boundary: report it, then move on */
        b->end_pending = 0;
        b->epoch++;
        b->next_batch = 0;
        shuffle(b);
        return HCL_OK;
    }
    batch_slot *s = &b->slot[b->cur];
    if (!b->prepared) HCL_TRY(prepare(b, s, b->next_batch));
    b->prepared = 0;
    for (int k = 0; k < OUTS; k++) out[k] = s->dev[k] ? &s->view[k] : NULL;
    *n = (size_t)s->view[0].shape[0];
    b->next_batch++;
    b->cur = (b->cur + 1) % SLOTS;
    if (b->next_batch >= b->batches) {
        b->end_pending = 1; /* the next epoch's order is drawn at the boundary */
    } else {
        /* prefetch: fill and enqueue the next batch into the other slot now */
        HCL_TRY(prepare(b, &b->slot[b->cur], b->next_batch));
        b->prepared = 1;
    }
    return HCL_OK;
}

/* ---- images ---- */

static void fill_images(hcl_batcher *b, void *const *dst, const size_t *idx, size_t n) {
    size_t sample = b->row_elems[0];
    for (size_t i = 0; i < n; i++) {
        const uint8_t *src = b->images + idx[i] * sample;
        for (size_t c = 0; c < b->channels; c++) {
            const uint8_t *sp = src + c * b->plane;
            size_t o = i * sample + c * b->plane;
            if (b->lut_f32) {
                const float *lut = b->lut_f32 + c * 256;
                float *d = (float *)dst[0] + o;
                for (size_t k = 0; k < b->plane; k++) d[k] = lut[sp[k]];
            } else {
                const uint16_t *lut = b->lut_u16 + c * 256;
                uint16_t *d = (uint16_t *)dst[0] + o;
                for (size_t k = 0; k < b->plane; k++) d[k] = lut[sp[k]];
            }
        }
    }
    if (dst[1])
        for (size_t i = 0; i < n; i++) ((int32_t *)dst[1])[i] = b->labels[idx[i]];
}

hcl_status hcl_batcher_create(hcl_context *ctx, const uint8_t *images, const uint8_t *labels, size_t count, int rank,
                              const int64_t *sample_shape, const hcl_batcher_options *o, hcl_batcher **out) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, images);
    HCL_CHECK_NULL(ctx, sample_shape);
    HCL_CHECK_NULL(ctx, o);
    if (o->dtype != HCL_F32 && o->dtype != HCL_F16 && o->dtype != HCL_BF16)
        return hcl_error(ctx, HCL_ERR_DTYPE, "batcher: dtype %s is not F32, F16 or BF16",
                         hcl_dtype_name(o->dtype) ? hcl_dtype_name(o->dtype) : "(invalid)");
    if (rank < 1 || rank >= HCL_MAX_RANK)
        return hcl_error(ctx, HCL_ERR_SHAPE, "batcher: sample rank %d not in 1..%d", rank, HCL_MAX_RANK - 1);
    size_t sample = 1;
    for (int i = 0; i < rank; i++) {
        if (sample_shape[i] < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "batcher: sample dim %d is %lld", i, (long long)sample_shape[i]);
        if ((uint64_t)sample_shape[i] > SIZE_MAX / 4 / sample) /* 4: room for the F32 rows */
            return hcl_error(ctx, HCL_ERR_OVERFLOW, "batcher: the sample size overflows at dim %d", i);
        sample *= (size_t)sample_shape[i];
    }
    if (count > SIZE_MAX / sample)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "batcher: %zu samples of %zu bytes overflow", count, sample);
    size_t channels = rank == 3 ? (size_t)sample_shape[0] : 1;
    if (channels > HCL_BATCHER_MAX_CHANNELS)
        return hcl_error(ctx, HCL_ERR_SHAPE, "batcher: %zu channels (at most %d)", channels, HCL_BATCHER_MAX_CHANNELS);
    for (size_t c = 0; c < channels; c++)
        if (!(o->std[c] > 0.0f))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "batcher: std[%zu] = %g must be > 0", c, (double)o->std[c]);

    hcl_batcher *b = NULL;
    HCL_TRY(core_create(ctx, "batcher", count, o, &b));
    b->fill = fill_images;
    b->images = images;
    b->labels = labels;
    b->channels = channels;
    b->plane = sample / channels;
    hcl_status st = HCL_OK;
    if (o->dtype == HCL_F32) b->lut_f32 = malloc(channels * 256 * sizeof(float));
    else b->lut_u16 = malloc(channels * 256 * sizeof(uint16_t));
    if (!b->lut_f32 && !b->lut_u16) {
        core_free(b);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    for (size_t c = 0; c < channels; c++)
        for (int v = 0; v < 256; v++) {
            float x = ((float)v * o->scale - o->mean[c]) / o->std[c];
            if (b->lut_f32) b->lut_f32[c * 256 + (size_t)v] = x;
            else b->lut_u16[c * 256 + (size_t)v] = o->dtype == HCL_BF16 ? hcl_f32_to_bf16(x) : hcl_f32_to_f16(x);
        }
    int present[OUTS] = {1, labels != NULL, 0};
    hcl_dtype dtypes[OUTS] = {o->dtype, HCL_I32, HCL_I32};
    int ranks[OUTS] = {rank, 0, 0};
    int64_t shapes[OUTS][HCL_MAX_RANK] = {{0}};
    for (int i = 0; i < rank; i++) shapes[0][i] = sample_shape[i];
    if ((st = core_slots(b, present, dtypes, ranks, (const int64_t(*)[HCL_MAX_RANK])shapes)) != HCL_OK) {
        core_free(b);
        return st;
    }
    *out = b;
    return HCL_OK;
}

void hcl_batcher_free(hcl_batcher *b) { core_free(b); }
void hcl_batcher_probe(const hcl_batcher *b, const hcl_tensor **images, int *has_labels) {
    *images = b->slot[0].dev[0];
    *has_labels = b->slot[0].dev[1] != NULL;
}
size_t hcl_batcher_count(const hcl_batcher *b) { return b ? b->count : 0; }
size_t hcl_batcher_batches(const hcl_batcher *b) { return b ? b->batches : 0; }
int64_t hcl_batcher_batch_size(const hcl_batcher *b) { return b ? b->opt.batch : 0; }
hcl_dtype hcl_batcher_dtype(const hcl_batcher *b) { return b ? b->opt.dtype : HCL_F32; }
uint64_t hcl_batcher_epoch(const hcl_batcher *b) { return b ? b->epoch : 0; }
hcl_status hcl_batcher_seek_epoch(hcl_batcher *b, uint64_t epoch) { return core_seek_epoch(b, epoch); }

hcl_status hcl_batcher_next(hcl_batcher *b, const hcl_tensor **images, const hcl_tensor **labels, size_t *n) {
    if (!b) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(b->ctx, images);
    HCL_CHECK_NULL(b->ctx, n);
    const hcl_tensor *out[OUTS];
    hcl_status st = core_next(b, out, n);
    *images = out[0];
    if (labels) *labels = out[1];
    return st;
}

/* ---- token sequences ---- */

static void fill_tokens(hcl_batcher *b, void *const *dst, const size_t *idx, size_t n) {
    size_t L = b->max_len;
    b->trim_len = 0;
    if (b->opt.trim && b->lengths) { /* rows cut to the batch's longest length (at least 1) */
        L = 1;
        for (size_t i = 0; i < n; i++)
            if ((size_t)b->lengths[idx[i]] > L) L = (size_t)b->lengths[idx[i]];
        b->trim_len = L;
    }
    for (size_t i = 0; i < n; i++)
        memcpy((int32_t *)dst[0] + i * L, b->tokens + idx[i] * b->max_len, L * sizeof(int32_t));
    if (dst[1])
        for (size_t i = 0; i < n; i++) ((int32_t *)dst[1])[i] = b->lengths[idx[i]];
    if (dst[2])
        for (size_t i = 0; i < n; i++) ((int32_t *)dst[2])[i] = b->tlabels[idx[i]];
}

hcl_status hcl_token_batcher_create(hcl_context *ctx, const int32_t *tokens, const int32_t *lengths,
                                    const int32_t *labels, size_t count, int64_t max_len,
                                    const hcl_batcher_options *o, hcl_token_batcher **out) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, tokens);
    HCL_CHECK_NULL(ctx, o);
    if (max_len < 1 || max_len > HCL_TEXT_MAX_LEN)
        return hcl_error(ctx, HCL_ERR_SHAPE, "token batcher: max_len %lld not in 1..%lld", (long long)max_len,
                         (long long)HCL_TEXT_MAX_LEN);
    if (count > SIZE_MAX / sizeof(int32_t) / (size_t)max_len)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "token batcher: %zu sequences of %lld tokens overflow", count,
                         (long long)max_len);
    for (size_t i = 0; lengths && i < count; i++)
        if (lengths[i] < 0 || lengths[i] > max_len)
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "token batcher: lengths[%zu] = %d not in 0..%lld", i,
                             (int)lengths[i], (long long)max_len);
    if ((o->trim || o->bucket >= 2) && !lengths)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "token batcher: trim and bucket need the lengths");
    if (o->bucket < 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "token batcher: bucket %d < 0", o->bucket);
    hcl_batcher *b = NULL;
    HCL_TRY(core_create(ctx, "token batcher", count, o, &b));
    b->fill = fill_tokens;
    b->tokens = tokens;
    b->lengths = lengths;
    b->tlabels = labels;
    b->max_len = (size_t)max_len;
    shuffle(b); /* again, now with the lengths: the first epoch's buckets */
    int present[OUTS] = {1, lengths != NULL, labels != NULL};
    hcl_dtype dtypes[OUTS] = {HCL_I32, HCL_I32, HCL_I32};
    int ranks[OUTS] = {1, 0, 0};
    int64_t shapes[OUTS][HCL_MAX_RANK] = {{max_len}};
    hcl_status st = core_slots(b, present, dtypes, ranks, (const int64_t(*)[HCL_MAX_RANK])shapes);
    if (st != HCL_OK) {
        core_free(b);
        return st;
    }
    *out = (hcl_token_batcher *)(void *)b;
    return HCL_OK;
}

void hcl_token_batcher_free(hcl_token_batcher *t) { core_free(t ? &t->core : NULL); }
size_t hcl_token_batcher_count(const hcl_token_batcher *t) { return t ? t->core.count : 0; }
size_t hcl_token_batcher_batches(const hcl_token_batcher *t) { return t ? t->core.batches : 0; }
int64_t hcl_token_batcher_batch_size(const hcl_token_batcher *t) { return t ? t->core.opt.batch : 0; }
uint64_t hcl_token_batcher_epoch(const hcl_token_batcher *t) { return t ? t->core.epoch : 0; }
hcl_status hcl_token_batcher_seek_epoch(hcl_token_batcher *t, uint64_t epoch) {
    return core_seek_epoch(t ? &t->core : NULL, epoch);
}

hcl_status hcl_token_batcher_next(hcl_token_batcher *t, const hcl_tensor **tokens, const hcl_tensor **lengths,
                                  const hcl_tensor **labels, size_t *n) {
    if (!t) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(t->core.ctx, tokens);
    HCL_CHECK_NULL(t->core.ctx, n);
    const hcl_tensor *out[OUTS];
    hcl_status st = core_next(&t->core, out, n);
    *tokens = out[0];
    if (lengths) *lengths = out[1];
    if (labels) *labels = out[2];
    return st;
}
