/* Training checkpoints in safetensors (through io.h): masters, optimizer states in their dtype
 * (F32 or BF16), the pruning mask, the amp state, the host step index, the application's RNG
 * stream and free-form metadata, with a CRC-32 over all tensor data; loading validates everything
 * before touching memory. Plus the F16/BF16/F32
 * export of the weights for inference. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "amp/amp_internal.h"
#include "halfcl/io.h"

#define CKPT_FORMAT "halfcl-checkpoint-1"
#define AMP_SCALARS 4
static const char *const amp_names[AMP_SCALARS] = {"amp.scale", "amp.growth_tracker", "amp.step", "amp.skipped"};

/* ---- host images of the arenas ---- */

typedef struct ckpt_image {
    size_t nparams, nstates, arena;
    hcl_dtype pdt;          /* F32 masters, or F16 weights under pure_f16 */
    hcl_dtype sdt;          /* states: F32 or BF16 (the file's, when loading) */
    void *params;           /* arena of pdt */
    void *state[HCL_OPTIM_MAX_STATES]; /* arenas of sdt */
    unsigned char *mask;    /* arena of U8, or NULL: no mask */
    uint32_t amp[HCL_AMP_WORDS];
} ckpt_image;

static void image_free(ckpt_image *im) {
    free(im->params);
    for (size_t i = 0; i < HCL_OPTIM_MAX_STATES; i++) free(im->state[i]);
    free(im->mask);
}

static hcl_status image_alloc(hcl_optimizer *o, ckpt_image *im, hcl_dtype sdt, int has_mask) {
    hcl_params *p = o->params;
    memset(im, 0, sizeof *im);
    im->nparams = p->count;
    im->nstates = o->nstates;
    im->arena = p->arena_numel;
    im->pdt = p->master_arena ? HCL_F32 : p->weight_dt;
    im->sdt = sdt;
    im->params = calloc(im->arena, hcl_dtype_size(im->pdt));
    if (!im->params) return hcl_error(o->ctx, HCL_ERR_HOST_MEMORY, "out of host memory for a checkpoint image");
    for (size_t s = 0; s < o->nstates; s++) {
        im->state[s] = calloc(im->arena, hcl_dtype_size(sdt));
        if (!im->state[s]) return hcl_error(o->ctx, HCL_ERR_HOST_MEMORY, "out of host memory for a checkpoint image");
    }
    if (has_mask && !(im->mask = calloc(im->arena, 1)))
        return hcl_error(o->ctx, HCL_ERR_HOST_MEMORY, "out of host memory for a checkpoint image");
    return HCL_OK;
}

/* The k-th existing state tensor of the optimizer (slots may be empty). */
static hcl_tensor *state_at(hcl_optimizer *o, size_t k) { return hcl_optimizer_state(o, k); }

static char *fmt_name(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) + 1 : 0) + 1;
    char *s = malloc(n);
    if (s) {
        if (c) snprintf(s, n, "%s%s.%s", a, b, c);
        else snprintf(s, n, "%s%s", a, b);
    }
    return s;
}

/* The checkpoint's tensors in one canonical order (params, then states by parameter, then the
 * amp scalars): names, dtypes, shapes, data pointers into the image. */
typedef struct ckpt_layout {
    size_t count;
    char **names;
    hcl_safetensors_entry *e;
    int64_t mask_shape[1];
} ckpt_layout;

static void layout_free(ckpt_layout *l) {
    if (l->names)
        for (size_t i = 0; i < l->count; i++) free(l->names[i]); /* NULL for "mask" and the amp scalars */
    free(l->names);
    free(l->e);
}

static hcl_status layout_build(hcl_optimizer *o, ckpt_image *im, ckpt_layout *l) {
    hcl_params *p = o->params;
    memset(l, 0, sizeof *l);
    l->count = p->count * (1 + o->nstates) + (im->mask != NULL) + AMP_SCALARS;
    l->names = calloc(l->count, sizeof *l->names);
    l->e = calloc(l->count, sizeof *l->e);
    if (!l->names || !l->e) return hcl_error(o->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    size_t k = 0, ps = hcl_dtype_size(im->pdt), ss = hcl_dtype_size(im->sdt);
    for (size_t s = 0; s <= o->nstates; s++) {
        for (size_t i = 0; i < p->count; i++, k++) {
            const hcl_param *q = &p->p[i];
            l->names[k] = s == 0 ? fmt_name("param.", q->name, NULL)
                                 : fmt_name("state.", hcl_optimizer_state_name(o, s - 1), q->name);
            if (!l->names[k]) return hcl_error(o->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            hcl_safetensors_entry *e = &l->e[k];
            e->name = l->names[k];
            e->dtype = s == 0 ? im->pdt : im->sdt;
            e->rank = q->rank;
            e->shape = q->shape;
            e->data = s == 0 ? (const void *)((const char *)im->params + q->offset * ps)
                             : (const void *)((const char *)im->state[s - 1] + q->offset * ss);
            e->bytes = q->count * (s == 0 ? ps : ss);
        }
    }
    if (im->mask) { /* the whole arena, padding included */
        hcl_safetensors_entry *e = &l->e[k++];
        l->mask_shape[0] = (int64_t)im->arena;
        e->name = "mask";
        e->dtype = HCL_U8;
        e->rank = 1;
        e->shape = l->mask_shape;
        e->data = im->mask;
        e->bytes = im->arena;
    }
    static const int word[AMP_SCALARS] = {HCL_AMP_SCALE, HCL_AMP_TRACKER, HCL_AMP_STEP, HCL_AMP_SKIPPED};
    for (int a = 0; a < AMP_SCALARS; a++, k++) {
        hcl_safetensors_entry *e = &l->e[k];
        e->name = amp_names[a];
        e->dtype = a == 0 ? HCL_F32 : HCL_I32;
        e->rank = 0;
        e->shape = NULL;
        e->data = &im->amp[word[a]];
        e->bytes = 4;
    }
    return HCL_OK;
}

static uint32_t layout_crc(const ckpt_layout *l) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < l->count; i++) {
        const unsigned char *d = l->e[i].data;
        size_t left = l->e[i].bytes;
        while (left) {
            uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
            crc = crc32(crc, d, chunk);
            d += chunk;
            left -= chunk;
        }
    }
    return (uint32_t)crc;
}

/* ---- save ---- */

/* "halfcl.state_rounding" values */
static const char *rounding_name(hcl_state_rounding r) { return r == HCL_STATE_ROUND_STOCHASTIC ? "stochastic" : "nearest"; }

hcl_status hcl_checkpoint_save(hcl_optimizer *o, const char *path, const hcl_checkpoint_extra *extra) {
    if (!o) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    HCL_CHECK_NULL(ctx, path);
    size_t umeta = extra ? extra->meta_count : 0;
    if (umeta && !extra->meta) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "extra->meta is NULL with meta_count %zu", umeta);
    for (size_t i = 0; i < umeta; i++) {
        if (!extra->meta[i].key || !extra->meta[i].value) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "metadata pair %zu has a NULL key or value", i);
        if (!strncmp(extra->meta[i].key, "halfcl.", 7))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "metadata key '%s': the prefix 'halfcl.' is reserved", extra->meta[i].key);
    }
    ckpt_image im;
    ckpt_layout l = {0};
    hcl_safetensors_meta *meta = NULL;
    hcl_status st = image_alloc(o, &im, o->cfg.state_dtype, o->mask != NULL);
    if (st == HCL_OK) st = hcl_tensor_download_raw(hcl_params_storage_arena(p), im.params, im.arena * hcl_dtype_size(im.pdt));
    for (size_t s = 0; st == HCL_OK && s < o->nstates; s++)
        st = hcl_tensor_download_raw(state_at(o, s), im.state[s], im.arena * hcl_dtype_size(im.sdt));
    if (st == HCL_OK && im.mask) st = hcl_tensor_download_raw(o->mask, im.mask, im.arena);
    if (st == HCL_OK) st = hcl_tensor_download_raw(o->amp, im.amp, sizeof im.amp);
    if (st == HCL_OK) st = layout_build(o, &im, &l);
    char host_step[32], seed[32], offset[32], crc[16], nparams[32], sseed[32];
    if (st == HCL_OK) {
        snprintf(host_step, sizeof host_step, "%" PRIu64, o->host_step);
        snprintf(seed, sizeof seed, "%" PRIu64, extra ? extra->rng_seed : (uint64_t)0);
        snprintf(offset, sizeof offset, "%" PRIu64, extra ? extra->rng_offset : (uint64_t)0);
        snprintf(crc, sizeof crc, "%08" PRIx32, layout_crc(&l));
        snprintf(nparams, sizeof nparams, "%zu", p->count);
        snprintf(sseed, sizeof sseed, "%" PRIu64, o->cfg.state_seed);
        meta = calloc(10 + umeta, sizeof *meta);
        if (!meta) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    if (st == HCL_OK) {
        size_t m = 0;
        meta[m++] = (hcl_safetensors_meta){"halfcl.format", CKPT_FORMAT};
        meta[m++] = (hcl_safetensors_meta){"halfcl.policy", hcl_precision_name(p->policy)};
        meta[m++] = (hcl_safetensors_meta){"halfcl.optimizer", hcl_optim_name(o->cfg.kind)};
        meta[m++] = (hcl_safetensors_meta){"halfcl.params", nparams};
        meta[m++] = (hcl_safetensors_meta){"halfcl.host_step", host_step};
        meta[m++] = (hcl_safetensors_meta){"halfcl.rng_seed", seed};
        meta[m++] = (hcl_safetensors_meta){"halfcl.rng_offset", offset};
        meta[m++] = (hcl_safetensors_meta){"halfcl.crc32", crc};
        meta[m++] = (hcl_safetensors_meta){"halfcl.state_rounding", rounding_name(o->cfg.state_rounding)};
        meta[m++] = (hcl_safetensors_meta){"halfcl.state_seed", sseed};
        for (size_t i = 0; i < umeta; i++) meta[m++] = (hcl_safetensors_meta){extra->meta[i].key, extra->meta[i].value};
        st = hcl_safetensors_save(ctx, path, l.e, l.count, meta, m);
    }
    free(meta);
    layout_free(&l);
    image_free(&im);
    return st;
}

/* ---- load ---- */

static int parse_u64(const char *s, uint64_t *v) {
    if (!s || !*s || strlen(s) > 20) return 0;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9') return 0;
    errno = 0;
    unsigned long long x = strtoull(s, NULL, 10);
    if (errno) return 0;
    *v = (uint64_t)x;
    return 1;
}

static hcl_status expect_meta(hcl_context *ctx, const hcl_safetensors *f, const char *path, const char *key, const char *want) {
    const char *v = hcl_safetensors_metadata(f, key);
    if (!v) return hcl_error(ctx, HCL_ERR_FORMAT, "%s: not a halfcl checkpoint (no '%s' in the metadata)", path, key);
    if (strcmp(v, want))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "%s: checkpoint %s is '%s' but this optimizer has '%s'", path, key + 7, v, want);
    return HCL_OK;
}

static hcl_status meta_u64(hcl_context *ctx, const hcl_safetensors *f, const char *path, const char *key, uint64_t *v) {
    if (!parse_u64(hcl_safetensors_metadata(f, key), v))
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s: metadata '%s' is missing or not a decimal integer", path, key);
    return HCL_OK;
}

/* Validates the whole file against the optimizer and fills the image; touches nothing else. */
static hcl_status load_image(hcl_optimizer *o, const hcl_safetensors *f, const char *path, ckpt_image *im, uint64_t *host_step,
                             uint64_t *seed, uint64_t *offset) {
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    const char *fmt = hcl_safetensors_metadata(f, "halfcl.format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT))
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s: not a halfcl checkpoint (format '%s', want '%s')", path, fmt ? fmt : "", CKPT_FORMAT);
    HCL_TRY(expect_meta(ctx, f, path, "halfcl.policy", hcl_precision_name(p->policy)));
    HCL_TRY(expect_meta(ctx, f, path, "halfcl.optimizer", hcl_optim_name(o->cfg.kind)));
    uint64_t np = 0, crc_want = 0;
    HCL_TRY(meta_u64(ctx, f, path, "halfcl.params", &np));
    HCL_TRY(meta_u64(ctx, f, path, "halfcl.host_step", host_step));
    HCL_TRY(meta_u64(ctx, f, path, "halfcl.rng_seed", seed));
    HCL_TRY(meta_u64(ctx, f, path, "halfcl.rng_offset", offset));
    const char *crc_s = hcl_safetensors_metadata(f, "halfcl.crc32");
    char *end = NULL;
    if (!crc_s || strlen(crc_s) != 8 || (crc_want = strtoull(crc_s, &end, 16), *end))
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s: metadata 'halfcl.crc32' is missing or malformed", path);
    if (np != p->count)
        return hcl_error(ctx, HCL_ERR_SHAPE, "%s: checkpoint has %" PRIu64 " parameters, this model %zu", path, np, p->count);
    /* the states' dtype: the file's (that of its first state tensor); BF16 widens exactly into an
     * F32-state optimizer, F32 would have to be rounded into a BF16 one: refused */
    hcl_dtype sdt = o->cfg.state_dtype;
    if (o->nstates && p->count) {
        char *first = fmt_name("state.", hcl_optimizer_state_name(o, 0), p->p[0].name);
        if (!first) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        const hcl_safetensors_tensor *t = hcl_safetensors_find(f, first);
        free(first);
        if (t && (t->dtype == HCL_F32 || t->dtype == HCL_BF16)) sdt = t->dtype;
        if (sdt == HCL_F32 && o->cfg.state_dtype == HCL_BF16)
            return hcl_error(ctx, HCL_ERR_DTYPE,
                             "%s: the optimizer states are f32 in the checkpoint but this optimizer keeps them in bf16: "
                             "rounding them would not resume exactly (load with state_dtype f32, save, then switch)",
                             path);
    }
    /* how BF16 states were rounded (files from before these keys: not checked). It matters only
     * when this optimizer stores BF16 states (the file's are then BF16 too, see above): resuming
     * with another rounding, or another stochastic-rounding stream, would silently diverge from
     * the run that saved. F32 states (widened from BF16 or not) are never rounded. */
    const char *rnd_s = hcl_safetensors_metadata(f, "halfcl.state_rounding");
    if (rnd_s || hcl_safetensors_metadata(f, "halfcl.state_seed")) {
        uint64_t sseed = 0;
        hcl_state_rounding rnd;
        if (rnd_s && !strcmp(rnd_s, "nearest")) rnd = HCL_STATE_ROUND_NEAREST;
        else if (rnd_s && !strcmp(rnd_s, "stochastic")) rnd = HCL_STATE_ROUND_STOCHASTIC;
        else return hcl_error(ctx, HCL_ERR_FORMAT, "%s: metadata 'halfcl.state_rounding' is missing or not nearest/stochastic", path);
        HCL_TRY(meta_u64(ctx, f, path, "halfcl.state_seed", &sseed));
        if (o->nstates && o->cfg.state_dtype == HCL_BF16) {
            if (rnd != o->cfg.state_rounding)
                return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT,
                                 "%s: checkpoint state_rounding is '%s' but this optimizer has '%s' (bf16 states): "
                                 "the resumed run would diverge from the saved one",
                                 path, rnd_s, rounding_name(o->cfg.state_rounding));
            if (rnd == HCL_STATE_ROUND_STOCHASTIC && sseed != o->cfg.state_seed)
                return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT,
                                 "%s: checkpoint state_seed is %" PRIu64 " but this optimizer has %" PRIu64
                                 " (stochastic rounding of bf16 states): the resumed run would diverge from the saved one",
                                 path, sseed, o->cfg.state_seed);
        }
    }
    int has_mask = hcl_safetensors_find(f, "mask") != NULL;
    HCL_TRY(image_alloc(o, im, sdt, has_mask));
    ckpt_layout l;
    hcl_status st = layout_build(o, im, &l);
    if (st == HCL_OK && hcl_safetensors_count(f) != l.count)
        st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %zu tensors, expected %zu (parameters, %zu optimizer states each,%s amp state)",
                       path, hcl_safetensors_count(f), l.count, o->nstates, has_mask ? " mask," : "");
    for (size_t k = 0; st == HCL_OK && k < l.count; k++) {
        const hcl_safetensors_entry *e = &l.e[k];
        const hcl_safetensors_tensor *t = hcl_safetensors_find(f, e->name);
        if (!t) {
            st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: tensor '%s' is missing", path, e->name);
            break;
        }
        if (t->dtype != e->dtype) {
            st = hcl_error(ctx, HCL_ERR_DTYPE, "%s: '%s' is %s, expected %s", path, e->name, hcl_dtype_name(t->dtype), hcl_dtype_name(e->dtype));
            break;
        }
        int same = t->rank == e->rank;
        for (int d = 0; same && d < e->rank; d++) same = t->shape[d] == e->shape[d];
        if (!same || t->bytes != e->bytes) {
            st = hcl_error(ctx, HCL_ERR_SHAPE, "%s: '%s' has another shape (rank %d, %zu elements) than the model's%s", path, e->name,
                           t->rank, t->count, e->data == im->mask ? " (the mask covers the parameter arena, hcl_params_arena_numel)" : "");
            break;
        }
        memcpy((void *)e->data, t->data, e->bytes); /* into the image; e->data points there */
    }
    if (st == HCL_OK && layout_crc(&l) != (uint32_t)crc_want)
        st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: CRC-32 of the tensor data is %08" PRIx32 ", the file says %s: corrupt", path,
                       layout_crc(&l), crc_s);
    layout_free(&l);
    if (st != HCL_OK) return st;
    /* a mask must agree with the masters and states: zero wherever it prunes */
    for (size_t e = 0; im->mask && e < im->arena; e++) {
        if (im->mask[e]) continue;
        int nonzero = 0;
        if (im->pdt == HCL_F32) nonzero = ((const float *)im->params)[e] != 0.0f;
        else nonzero = (((const uint16_t *)im->params)[e] & 0x7fffu) != 0;
        for (size_t s = 0; !nonzero && s < im->nstates; s++)
            nonzero = im->sdt == HCL_F32 ? ((const float *)im->state[s])[e] != 0.0f : (((const uint16_t *)im->state[s])[e] & 0x7fffu) != 0;
        if (nonzero)
            return hcl_error(ctx, HCL_ERR_FORMAT, "%s: the mask prunes arena element %zu but its master or optimizer state is not 0: "
                             "the mask does not belong to these weights", path, e);
    }
    float scale;
    memcpy(&scale, &im->amp[HCL_AMP_SCALE], 4);
    if (!(isfinite(scale) && scale > 0.0f))
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s: loss scale %g is not finite and positive", path, (double)scale);
    return HCL_OK;
}

hcl_status hcl_checkpoint_load(hcl_optimizer *o, const char *path, hcl_checkpoint_extra *extra) {
    if (!o) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = o->ctx;
    hcl_params *p = o->params;
    HCL_CHECK_NULL(ctx, path);
    hcl_safetensors *f = NULL;
    HCL_TRY(hcl_safetensors_load(ctx, path, &f));
    ckpt_image im;
    memset(&im, 0, sizeof im);
    uint64_t host_step = 0, seed = 0, offset = 0;
    hcl_status st = load_image(o, f, path, &im, &host_step, &seed, &offset);
    hcl_safetensors_free(f);
    if (st != HCL_OK) {
        image_free(&im);
        return st;
    }
    /* everything checked: write the device (padding is zero in the image) */
    float words[HCL_AMP_WORDS];
    memset(words, 0, sizeof words);
    memcpy(&words[HCL_AMP_SCALE], &im.amp[HCL_AMP_SCALE], 4);
    memcpy(&words[HCL_AMP_TRACKER], &im.amp[HCL_AMP_TRACKER], 4);
    memcpy(&words[HCL_AMP_STEP], &im.amp[HCL_AMP_STEP], 4);
    memcpy(&words[HCL_AMP_SKIPPED], &im.amp[HCL_AMP_SKIPPED], 4);
    words[HCL_AMP_GSCALE] = 1.0f / words[HCL_AMP_SCALE];
    words[HCL_AMP_BC1] = words[HCL_AMP_BC2] = words[HCL_AMP_CLR] = words[HCL_AMP_CLIP] = 1.0f;
    /* widen BF16 states for an F32-state optimizer (exact) */
    for (size_t s = 0; st == HCL_OK && s < o->nstates && im.sdt != o->cfg.state_dtype; s++) {
        float *w = malloc(im.arena * sizeof *w);
        if (!w) {
            st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            break;
        }
        hcl_bf16_to_f32_array(w, im.state[s], im.arena);
        free(im.state[s]);
        im.state[s] = w;
    }
    /* the mask arena first: it is the only allocation, so failing to allocate it changes nothing.
     * It is adopted (or copied into the optimizer's) before the uploads of the masters, states and
     * amp words, and those can still fail (a device error): then the optimizer is left partly
     * restored (not rolled back). Every check of the file has passed by now. */
    hcl_tensor *mask = NULL;
    if (st == HCL_OK && im.mask) {
        int64_t shape[1] = {(int64_t)im.arena};
        st = hcl_tensor_create(ctx, HCL_U8, 1, shape, &mask);
        if (st == HCL_OK) st = hcl_tensor_upload_raw(mask, im.mask, im.arena);
        if (st == HCL_OK && !o->mask) {
            o->mask = mask; /* adopt it */
            mask = NULL;
        }
    }
    if (st == HCL_OK) st = hcl_optimizer_mask_copy(o, im.mask ? (mask ? mask : o->mask) : NULL);
    hcl_tensor_free(mask);
    if (st == HCL_OK) st = hcl_tensor_upload_raw(hcl_params_storage_arena(p), im.params, im.arena * hcl_dtype_size(im.pdt));
    for (size_t s = 0; st == HCL_OK && s < o->nstates; s++)
        st = hcl_tensor_upload_raw(state_at(o, s), im.state[s], im.arena * hcl_dtype_size(o->cfg.state_dtype));
    if (st == HCL_OK) st = hcl_tensor_upload_raw(o->amp, words, sizeof words);
    if (st == HCL_OK) st = hcl_params_sync_weights(p);
    image_free(&im);
    if (st != HCL_OK) return st;
    o->host_step = host_step;
    if (extra) {
        extra->rng_seed = seed;
        extra->rng_offset = offset;
    }
    return HCL_OK;
}

/* ---- inference export ---- */

hcl_status hcl_params_export(hcl_params *p, const char *path, hcl_dtype dtype, const hcl_checkpoint_meta *meta, size_t meta_count) {
    if (!p) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = p->ctx;
    HCL_CHECK_NULL(ctx, path);
    if (!p->allocated) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameters not allocated (call hcl_params_alloc)");
    if (!hcl_dtype_is_float(dtype)) return hcl_error(ctx, HCL_ERR_DTYPE, "export dtype must be f32, f16 or bf16");
    if (meta_count && !meta) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "meta is NULL with meta_count %zu", meta_count);
    for (size_t i = 0; i < meta_count; i++) {
        if (!meta[i].key || !meta[i].value) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "metadata pair %zu has a NULL key or value", i);
        if (!strncmp(meta[i].key, "halfcl.", 7))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "metadata key '%s': the prefix 'halfcl.' is reserved", meta[i].key);
    }
    size_t n = p->arena_numel, es = hcl_dtype_size(dtype);
    float *f32 = malloc(n * sizeof *f32);
    void *out = dtype == HCL_F32 ? (void *)f32 : malloc(n * es);
    hcl_safetensors_entry *e = calloc(p->count, sizeof *e);
    hcl_safetensors_meta *m = calloc(meta_count + 2, sizeof *m);
    hcl_status st = HCL_OK;
    if (!f32 || !out || !e || !m) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) st = hcl_tensor_download_f32(hcl_params_storage_arena(p), f32, n);
    if (st == HCL_OK) {
        if (dtype == HCL_F16) hcl_f32_to_f16_array(out, f32, n);
        else if (dtype == HCL_BF16) hcl_f32_to_bf16_array(out, f32, n);
        for (size_t i = 0; i < p->count; i++) {
            const hcl_param *q = &p->p[i];
            e[i] = (hcl_safetensors_entry){q->name, dtype, q->rank, q->shape, (const char *)out + q->offset * es, q->count * es};
        }
        m[0] = (hcl_safetensors_meta){"halfcl.policy", hcl_precision_name(p->policy)};
        m[1] = (hcl_safetensors_meta){"halfcl.dtype", hcl_dtype_name(dtype)};
        for (size_t i = 0; i < meta_count; i++) m[2 + i] = (hcl_safetensors_meta){meta[i].key, meta[i].value};
        st = hcl_safetensors_save(ctx, path, e, p->count, m, meta_count + 2);
    }
    if (out != f32) free(out);
    free(f32);
    free(e);
    free(m);
    return st;
}
