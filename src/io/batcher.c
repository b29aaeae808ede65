/* Batcher: serves shuffled, normalised batches of a u8 data set to the device. Pixels are turned
 * into the device dtype on the host through a per-channel lookup table (256 entries), written into
 * a pinned staging buffer and uploaded with a non-blocking clEnqueueWriteBuffer; two slots
 * alternate so the next batch is prepared and enqueued while the device computes the current one. */
#include <stdlib.h>
#include <string.h>
#include "halfcl/io.h"
#include "halfcl/ops.h"
#include "runtime/internal.h"

#define SLOTS 2

typedef struct batch_slot {
    cl_mem stage;          /* pinned host staging: images then labels */
    void *host;            /* its mapping (kept for the batcher's life) */
    hcl_tensor *images, *labels; /* device tensors at max batch */
    hcl_tensor img_view, lab_view; /* (n, ...) views handed out */
    cl_event done;         /* the last upload from this slot, or NULL */
} batch_slot;

struct hcl_batcher {
    hcl_context *ctx;
    const uint8_t *images, *labels;
    size_t count, sample, batches;
    int rank;
    int64_t shape[HCL_MAX_RANK];
    hcl_batcher_options opt;
    size_t channels, plane; /* per-sample channels and elements per channel */
    size_t esize;
    float *lut_f32;         /* channels * 256 (F32) */
    uint16_t *lut_u16;      /* channels * 256 (F16/BF16 bits) */
    size_t *perm;
    uint64_t epoch;         /* epoch of the next batch */
    size_t next_batch;      /* index of the next batch in the epoch */
    int end_pending;        /* the epoch's batches are all handed out: next call returns n = 0 */
    batch_slot slot[SLOTS];
    int cur;                /* slot of the next batch to hand out */
    int prepared;           /* slot `cur` holds the upload of batch (epoch, next_batch) */
};

void hcl_batcher_options_init(hcl_batcher_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->shuffle = 1;
    o->dtype = HCL_F32;
    o->scale = 1.0f / 255.0f;
    for (int i = 0; i < HCL_BATCHER_MAX_CHANNELS; i++) o->std[i] = 1.0f;
}

/* Fisher-Yates with Philox(counter = (i/2, epoch lo, epoch hi, 'shuf'), key = seed). */
static void shuffle(hcl_batcher *b) {
    for (size_t i = 0; i < b->count; i++) b->perm[i] = i;
    if (!b->opt.shuffle) return;
    uint32_t key[2] = {(uint32_t)b->opt.seed, (uint32_t)(b->opt.seed >> 32)};
    for (size_t i = b->count; i > 1; i--) {
        uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), (uint32_t)b->epoch, 0x73687566u ^ (uint32_t)(b->epoch >> 32)};
        uint32_t r[4];
        hcl_philox4x32_10(ctr, key, r);
        uint64_t v = ((uint64_t)r[0] << 32) | r[1];
        size_t j = (size_t)(v % (uint64_t)i);
        size_t t = b->perm[i - 1];
        b->perm[i - 1] = b->perm[j];
        b->perm[j] = t;
    }
}

static size_t batch_len(const hcl_batcher *b, size_t index) {
    size_t start = index * (size_t)b->opt.batch;
    size_t n = b->count - start;
    return n < (size_t)b->opt.batch ? n : (size_t)b->opt.batch;
}

static hcl_status slot_wait(hcl_batcher *b, batch_slot *s) {
    if (!s->done) return HCL_OK;
    cl_int err = clWaitForEvents(1, &s->done);
    clReleaseEvent(s->done);
    s->done = NULL;
    if (err != CL_SUCCESS) return hcl_cl_error_at(b->ctx, err, "clWaitForEvents", __FILE__, __LINE__);
    return HCL_OK;
}

/* Converts batch `index` of the current epoch into slot s's staging buffer and enqueues its
 * non-blocking uploads. */
static hcl_status prepare(hcl_batcher *b, batch_slot *s, size_t index) {
    HCL_TRY(slot_wait(b, s)); /* the staging buffer may still be read by the previous upload */
    size_t n = batch_len(b, index), first = index * (size_t)b->opt.batch;
    uint8_t *dst = s->host;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *src = b->images + b->perm[first + i] * b->sample;
        size_t base = i * b->sample;
        for (size_t c = 0; c < b->channels; c++) {
            const uint8_t *sp = src + c * b->plane;
            size_t o = base + c * b->plane;
            if (b->esize == 4) {
                const float *lut = b->lut_f32 + c * 256;
                float *d = (float *)(void *)dst + o;
                for (size_t k = 0; k < b->plane; k++) d[k] = lut[sp[k]];
            } else {
                const uint16_t *lut = b->lut_u16 + c * 256;
                uint16_t *d = (uint16_t *)(void *)dst + o;
                for (size_t k = 0; k < b->plane; k++) d[k] = lut[sp[k]];
            }
        }
    }
    size_t img_bytes = n * b->sample * b->esize;
    size_t lab_at = (size_t)b->opt.batch * b->sample * b->esize;
    lab_at = (lab_at + 63) & ~(size_t)63;
    int32_t *lab = (int32_t *)(void *)(dst + lab_at);
    if (b->labels)
        for (size_t i = 0; i < n; i++) lab[i] = b->labels[b->perm[first + i]];
    cl_command_queue q = b->ctx->queue;
    if (b->labels) {
        HCL_CL_TRY(b->ctx, clEnqueueWriteBuffer(q, s->images->buffer, CL_FALSE, s->images->offset * b->esize, img_bytes,
                                                dst, 0, NULL, NULL));
        HCL_CL_TRY(b->ctx, clEnqueueWriteBuffer(q, s->labels->buffer, CL_FALSE, s->labels->offset * 4, n * 4, lab, 0,
                                                NULL, &s->done));
    } else {
        HCL_CL_TRY(b->ctx, clEnqueueWriteBuffer(q, s->images->buffer, CL_FALSE, s->images->offset * b->esize, img_bytes,
                                                dst, 0, NULL, &s->done));
    }
    s->img_view = *s->images;
    s->img_view.block = NULL;
    s->img_view.shape[0] = (int64_t)n;
    s->img_view.count = n * b->sample;
    if (b->labels) {
        s->lab_view = *s->labels;
        s->lab_view.block = NULL;
        s->lab_view.shape[0] = (int64_t)n;
        s->lab_view.count = n;
    }
    /* start the transfer now (non-blocking) */
    HCL_CL_TRY(b->ctx, clFlush(q));
    return HCL_OK;
}

hcl_status hcl_batcher_create(hcl_context *ctx, const uint8_t *images, const uint8_t *labels, size_t count, int rank,
                              const int64_t *sample_shape, const hcl_batcher_options *o, hcl_batcher **out) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, images);
    HCL_CHECK_NULL(ctx, sample_shape);
    HCL_CHECK_NULL(ctx, o);
    if (count == 0) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "batcher: the data set is empty");
    if (o->batch < 1) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "batcher: batch %lld < 1", (long long)o->batch);
    if (o->dtype != HCL_F32 && o->dtype != HCL_F16 && o->dtype != HCL_BF16)
        return hcl_error(ctx, HCL_ERR_DTYPE, "batcher: dtype %s is not F32, F16 or BF16",
                         hcl_dtype_name(o->dtype) ? hcl_dtype_name(o->dtype) : "(invalid)");
    if (rank < 1 || rank >= HCL_MAX_RANK)
        return hcl_error(ctx, HCL_ERR_SHAPE, "batcher: sample rank %d not in 1..%d", rank, HCL_MAX_RANK - 1);
    size_t sample = 1;
    for (int i = 0; i < rank; i++) {
        if (sample_shape[i] < 1) return hcl_error(ctx, HCL_ERR_SHAPE, "batcher: sample dim %d is %lld", i, (long long)sample_shape[i]);
        sample *= (size_t)sample_shape[i];
    }
    size_t channels = rank == 3 ? (size_t)sample_shape[0] : 1;
    if (channels > HCL_BATCHER_MAX_CHANNELS)
        return hcl_error(ctx, HCL_ERR_SHAPE, "batcher: %zu channels (at most %d)", channels, HCL_BATCHER_MAX_CHANNELS);
    for (size_t c = 0; c < channels; c++)
        if (!(o->std[c] > 0.0f))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "batcher: std[%zu] = %g must be > 0", c, (double)o->std[c]);
    if (o->drop_last && count < (size_t)o->batch)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "batcher: drop_last with %zu samples < batch %lld", count,
                         (long long)o->batch);

    hcl_batcher *b = calloc(1, sizeof *b);
    if (!b) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    b->ctx = ctx;
    b->images = images;
    b->labels = labels;
    b->count = count;
    b->sample = sample;
    b->rank = rank;
    for (int i = 0; i < rank; i++) b->shape[i] = sample_shape[i];
    b->opt = *o;
    b->channels = channels;
    b->plane = sample / channels;
    b->esize = hcl_dtype_size(o->dtype);
    b->batches = o->drop_last ? count / (size_t)o->batch : (count + (size_t)o->batch - 1) / (size_t)o->batch;
    hcl_status st = HCL_OK;
    b->perm = malloc(count * sizeof *b->perm);
    b->lut_f32 = malloc(channels * 256 * sizeof(float));
    b->lut_u16 = malloc(channels * 256 * sizeof(uint16_t));
    if (!b->perm || !b->lut_f32 || !b->lut_u16) {
        st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    for (size_t c = 0; c < channels; c++)
        for (int v = 0; v < 256; v++) {
            float x = ((float)v * o->scale - o->mean[c]) / o->std[c];
            b->lut_f32[c * 256 + (size_t)v] = x;
            b->lut_u16[c * 256 + (size_t)v] = o->dtype == HCL_BF16 ? hcl_f32_to_bf16(x) : hcl_f32_to_f16(x);
        }
    size_t img_bytes = (size_t)o->batch * sample * b->esize;
    size_t stage_bytes = ((img_bytes + 63) & ~(size_t)63) + (size_t)o->batch * 4;
    int64_t ishape[HCL_MAX_RANK];
    ishape[0] = o->batch;
    for (int i = 0; i < rank; i++) ishape[i + 1] = sample_shape[i];
    for (int k = 0; k < SLOTS; k++) {
        batch_slot *s = &b->slot[k];
        cl_int err = CL_SUCCESS;
        s->stage = clCreateBuffer(ctx->cl_ctx, CL_MEM_ALLOC_HOST_PTR | CL_MEM_READ_WRITE, stage_bytes, NULL, &err);
        if (err != CL_SUCCESS) {
            st = hcl_cl_error_at(ctx, err, "clCreateBuffer (batcher staging)", __FILE__, __LINE__);
            goto fail;
        }
        s->host = clEnqueueMapBuffer(ctx->queue, s->stage, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, stage_bytes, 0, NULL,
                                     NULL, &err);
        if (err != CL_SUCCESS) {
            st = hcl_cl_error_at(ctx, err, "clEnqueueMapBuffer (batcher staging)", __FILE__, __LINE__);
            goto fail;
        }
        if ((st = hcl_tensor_create(ctx, o->dtype, rank + 1, ishape, &s->images)) != HCL_OK) goto fail;
        if (labels && (st = hcl_tensor_create(ctx, HCL_I32, 1, &o->batch, &s->labels)) != HCL_OK) goto fail;
    }
    shuffle(b);
    *out = b;
    return HCL_OK;
fail:
    hcl_batcher_free(b);
    return st;
}

void hcl_batcher_free(hcl_batcher *b) {
    if (!b) return;
    for (int k = 0; k < SLOTS; k++) {
        batch_slot *s = &b->slot[k];
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
        hcl_tensor_free(s->images);
        hcl_tensor_free(s->labels);
    }
    free(b->perm);
    free(b->lut_f32);
    free(b->lut_u16);
    free(b);
}

size_t hcl_batcher_count(const hcl_batcher *b) { return b ? b->count : 0; }
size_t hcl_batcher_batches(const hcl_batcher *b) { return b ? b->batches : 0; }
int64_t hcl_batcher_batch_size(const hcl_batcher *b) { return b ? b->opt.batch : 0; }
hcl_dtype hcl_batcher_dtype(const hcl_batcher *b) { return b ? b->opt.dtype : HCL_F32; }
uint64_t hcl_batcher_epoch(const hcl_batcher *b) { return b ? b->epoch : 0; }

hcl_status hcl_batcher_seek_epoch(hcl_batcher *b, uint64_t epoch) {
    if (!b) return HCL_ERR_NULL_POINTER;
    for (int k = 0; k < SLOTS; k++) HCL_TRY(slot_wait(b, &b->slot[k]));
    b->epoch = epoch;
    b->next_batch = 0;
    b->end_pending = 0;
    b->prepared = 0;
    shuffle(b);
    return HCL_OK;
}

hcl_status hcl_batcher_next(hcl_batcher *b, const hcl_tensor **images, const hcl_tensor **labels, size_t *n) {
    if (!b) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(b->ctx, images);
    HCL_CHECK_NULL(b->ctx, n);
    *images = NULL;
    if (labels) *labels = NULL;
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
    *images = &s->img_view;
    if (labels) *labels = b->labels ? &s->lab_view : NULL;
    *n = (size_t)s->img_view.shape[0];
    b->next_batch++;
    b->cur = (b->cur + 1) % SLOTS;
    if (b->next_batch >= b->batches) {
        b->end_pending = 1; /* the next epoch's order is drawn at the boundary */
    } else {
        /* prefetch: convert and enqueue the next batch into the other slot now */
        HCL_TRY(prepare(b, &b->slot[b->cur], b->next_batch));
        b->prepared = 1;
    }
    return HCL_OK;
}
