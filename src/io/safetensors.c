/* safetensors files: an atomic writer (temp file, fsync, rename) and a reader that treats the
 * header as untrusted input and checks every size and offset against the file before use; plus
 * device tensors to and from such files. The JSON header is parsed and printed with cJSON. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "halfcl/io.h"
#include "io/io_internal.h"
#include "runtime/internal.h"

#define META_KEY "__metadata__"
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger integers do not survive a double */

/* ---- shared helpers ---- */

static const struct { const char *name; hcl_dtype dtype; } st_dtypes[] = {
    {"F32", HCL_F32}, {"F16", HCL_F16}, {"BF16", HCL_BF16}, {"I32", HCL_I32}, {"U8", HCL_U8}, {"I8", HCL_I8},
};

static const char *st_dtype_name(hcl_dtype d) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].dtype == d) return st_dtypes[i].name;
    return NULL;
}

static int st_dtype_parse(const char *s, hcl_dtype *d) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(st_dtypes[i].name, s)) { *d = st_dtypes[i].dtype; return 1; }
    return 0;
}

typedef struct name_item { const char *name; size_t index; } name_item;
static int name_item_cmp(const void *a, const void *b) {
    return strcmp(((const name_item *)a)->name, ((const name_item *)b)->name);
}

/* Sorts (name, index) pairs; returns the first repeated name or NULL. */
static const char *sort_names(name_item *items, size_t n) {
    qsort(items, n, sizeof *items, name_item_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(items[i - 1].name, items[i].name)) return items[i].name;
    return NULL;
}

/* Reads exactly n bytes; a short read (the file ended) is HCL_ERR_FORMAT, an OS error HCL_ERR_IO. */
static hcl_status read_full(hcl_context *ctx, int fd, void *buf, size_t n, const char *path, const char *what) {
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < ((size_t)1 << 30) ? n - done : ((size_t)1 << 30);
        ssize_t r = read(fd, p + done, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            return hcl_error(ctx, HCL_ERR_IO, "safetensors %s: reading the %s: %s", path, what, strerror(errno));
        }
        if (r == 0)
            return hcl_error(ctx, HCL_ERR_FORMAT, "safetensors %s: truncated: the %s ends after %zu of %zu bytes",
                             path, what, done, n);
        done += (size_t)r;
    }
    return HCL_OK;
}

/* ---- writer ---- */

typedef struct order_item { size_t index, elem; } order_item;

/* Larger elements first, then request order: keeps every entry aligned to its dtype. */
static int order_cmp(const void *a, const void *b) {
    const order_item *x = a, *y = b;
    if (x->elem != y->elem) return x->elem > y->elem ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static hcl_status check_text(hcl_context *ctx, const char *s, const char *what, size_t i, size_t max_len) {
    size_t len = strlen(s);
    if (max_len && (len == 0 || len > max_len))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors save: %s %zu has %zu bytes (must be 1..%zu)",
                         what, i, len, max_len);
    if (!hcl_utf8_valid((const unsigned char *)s, len))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors save: %s %zu is not valid UTF-8", what, i);
    return HCL_OK;
}

static hcl_status validate_request(hcl_context *ctx, const hcl_safetensors_entry *entries, size_t count,
                                   const hcl_safetensors_meta *meta, size_t meta_count, uint64_t *total) {
    if (count && !entries) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save: entries is NULL");
    if (meta_count && !meta) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save: meta is NULL");
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        const hcl_safetensors_entry *e = &entries[i];
        if (!e->name) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save: entry %zu has a NULL name", i);
        HCL_TRY(check_text(ctx, e->name, "name of entry", i, HCL_SAFETENSORS_MAX_NAME));
        if (!strcmp(e->name, META_KEY))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors save: entry %zu is named \"%s\" (reserved)", i, META_KEY);
        if (!st_dtype_name(e->dtype))
            return hcl_error(ctx, HCL_ERR_DTYPE, "safetensors save: entry \"%s\" has invalid dtype %d", e->name, (int)e->dtype);
        if (e->rank < 0 || e->rank > HCL_MAX_RANK)
            return hcl_error(ctx, HCL_ERR_SHAPE, "safetensors save: entry \"%s\" has rank %d (must be 0..%d)",
                             e->name, e->rank, HCL_MAX_RANK);
        if (e->rank > 0 && !e->shape)
            return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save: entry \"%s\" has a NULL shape", e->name);
        uint64_t n = 1;
        int empty = 0;
        for (int d = 0; d < e->rank; d++) {
            if (e->shape[d] < 0)
                return hcl_error(ctx, HCL_ERR_SHAPE, "safetensors save: entry \"%s\" dim %d is %lld (must be >= 0)",
                                 e->name, d, (long long)e->shape[d]);
            if (e->shape[d] == 0) empty = 1;
            if ((double)e->shape[d] >= MAX_JSON_INT)
                return hcl_error(ctx, HCL_ERR_OVERFLOW, "safetensors save: entry \"%s\" dim %d is too large", e->name, d);
            if (!empty && (uint64_t)e->shape[d] > (uint64_t)MAX_JSON_INT / n)
                return hcl_error(ctx, HCL_ERR_OVERFLOW, "safetensors save: entry \"%s\" element count overflows", e->name);
            n *= (uint64_t)e->shape[d];
        }
        if (empty) n = 0;
        uint64_t bytes = n * hcl_dtype_size(e->dtype);
        if ((double)bytes >= MAX_JSON_INT || bytes > SIZE_MAX)
            return hcl_error(ctx, HCL_ERR_OVERFLOW, "safetensors save: entry \"%s\" byte count overflows", e->name);
        if ((uint64_t)e->bytes != bytes)
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT,
                             "safetensors save: entry \"%s\" has %zu bytes but its %s shape needs %llu",
                             e->name, e->bytes, st_dtype_name(e->dtype), (unsigned long long)bytes);
        if (bytes && !e->data)
            return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save: entry \"%s\" has NULL data", e->name);
        if (sum + bytes < sum || (double)(sum + bytes) >= MAX_JSON_INT)
            return hcl_error(ctx, HCL_ERR_OVERFLOW, "safetensors save: total data size overflows");
        sum += bytes;
    }
    for (size_t i = 0; i < meta_count; i++) {
        if (!meta[i].key || !meta[i].value)
            return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save: metadata pair %zu has a NULL key or value", i);
        HCL_TRY(check_text(ctx, meta[i].key, "metadata key", i, HCL_SAFETENSORS_MAX_NAME));
        HCL_TRY(check_text(ctx, meta[i].value, "metadata value", i, 0));
    }
    /* duplicate names and duplicate metadata keys */
    size_t most = count > meta_count ? count : meta_count;
    name_item *names = malloc((most ? most : 1) * sizeof *names);
    if (!names) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? count : meta_count;
        for (size_t i = 0; i < n; i++) names[i] = (name_item){pass == 0 ? entries[i].name : meta[i].key, i};
        const char *dup = sort_names(names, n);
        if (dup) {
            hcl_status st = hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors save: duplicate %s \"%s\"",
                                      pass == 0 ? "entry name" : "metadata key", dup);
            free(names);
            return st;
        }
    }
    free(names);
    *total = sum;
    return HCL_OK;
}

static cJSON *raw_u64(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

/* The JSON header (unpadded) for entries laid out in `order`. NULL when out of memory. */
static char *build_header(const hcl_safetensors_entry *entries, const order_item *order, size_t count,
                          const hcl_safetensors_meta *meta, size_t meta_count) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    int ok = 1;
    if (meta_count) {
        cJSON *m = cJSON_AddObjectToObject(root, META_KEY);
        ok = m != NULL;
        for (size_t i = 0; ok && i < meta_count; i++) ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t offset = 0;
    for (size_t k = 0; ok && k < count; k++) {
        const hcl_safetensors_entry *e = &entries[order[k].index];
        cJSON *obj = cJSON_AddObjectToObject(root, e->name);
        ok = obj && cJSON_AddStringToObject(obj, "dtype", st_dtype_name(e->dtype));
        cJSON *shape = ok ? cJSON_AddArrayToObject(obj, "shape") : NULL;
        cJSON *offs = shape ? cJSON_AddArrayToObject(obj, "data_offsets") : NULL;
        ok = offs != NULL;
        for (int d = 0; ok && d < e->rank; d++) {
            cJSON *v = raw_u64((uint64_t)e->shape[d]);
            ok = v && cJSON_AddItemToArray(shape, v);
            if (!ok) cJSON_Delete(v);
        }
        uint64_t bounds[2] = {offset, offset + e->bytes};
        for (int b = 0; ok && b < 2; b++) {
            cJSON *v = raw_u64(bounds[b]);
            ok = v && cJSON_AddItemToArray(offs, v);
            if (!ok) cJSON_Delete(v);
        }
        offset += e->bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

hcl_status hcl_safetensors_save(hcl_context *ctx, const char *path, const hcl_safetensors_entry *entries,
                                size_t count, const hcl_safetensors_meta *meta, size_t meta_count) {
    HCL_CHECK_NULL(ctx, path);
    if (!hcl_host_little_endian())
        return hcl_error(ctx, HCL_ERR_CAPABILITY, "safetensors save %s: only little-endian hosts are supported", path);
    uint64_t total = 0;
    HCL_TRY(validate_request(ctx, entries, count, meta, meta_count, &total));

    order_item *order = malloc((count ? count : 1) * sizeof *order);
    if (!order) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < count; i++) order[i] = (order_item){i, hcl_dtype_size(entries[i].dtype)};
    qsort(order, count, sizeof *order, order_cmp);
    char *json = build_header(entries, order, count, meta, meta_count);
    if (!json) {
        free(order);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "safetensors save %s: out of host memory building the header", path);
    }
    size_t json_len = strlen(json), header_len = (json_len + 7) & ~(size_t)7;
    if (header_len > HCL_SAFETENSORS_MAX_HEADER) {
        cJSON_free(json);
        free(order);
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors save %s: header of %zu bytes exceeds %u",
                         path, header_len, (unsigned)HCL_SAFETENSORS_MAX_HEADER);
    }
    unsigned char *head = malloc(8 + header_len);
    if (!head) {
        cJSON_free(json);
        free(order);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    for (int b = 0; b < 8; b++) head[b] = (unsigned char)((uint64_t)header_len >> (8 * b));
    memcpy(head + 8, json, json_len);
    memset(head + 8 + json_len, ' ', header_len - json_len);
    cJSON_free(json);

    hcl_write_chunk *chunks = malloc((count + 1) * sizeof *chunks);
    hcl_status st;
    if (!chunks) {
        st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    } else {
        chunks[0] = (hcl_write_chunk){head, 8 + header_len};
        for (size_t k = 0; k < count; k++)
            chunks[k + 1] = (hcl_write_chunk){entries[order[k].index].data, entries[order[k].index].bytes};
        st = hcl_write_atomic(ctx, "safetensors", path, chunks, count + 1);
    }
    free(chunks);
    free(head);
    free(order);
    return st;
}

/* ---- reader ---- */

struct hcl_safetensors {
    char *path;
    cJSON *root;                     /* names and metadata strings point into it */
    size_t count;
    hcl_safetensors_tensor *tensors; /* by offset */
    uint64_t *begin;                 /* data_offsets[0] of tensors[i] */
    size_t *by_name;                 /* indices into tensors, sorted by name */
    size_t meta_count;
    hcl_safetensors_meta *meta;
    unsigned char *data;
};

void hcl_safetensors_free(hcl_safetensors *f) {
    if (!f) return;
    cJSON_Delete(f->root);
    free(f->path);
    free(f->tensors);
    free(f->begin);
    free(f->by_name);
    free(f->meta);
    free(f->data);
    free(f);
}

size_t hcl_safetensors_count(const hcl_safetensors *f) { return f ? f->count : 0; }

const hcl_safetensors_tensor *hcl_safetensors_at(const hcl_safetensors *f, size_t i) {
    return f && i < f->count ? &f->tensors[i] : NULL;
}

const hcl_safetensors_tensor *hcl_safetensors_find(const hcl_safetensors *f, const char *name) {
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0) return &f->tensors[f->by_name[mid]];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

const char *hcl_safetensors_metadata(const hcl_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->meta_count; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

size_t hcl_safetensors_metadata_count(const hcl_safetensors *f) { return f ? f->meta_count : 0; }

const hcl_safetensors_meta *hcl_safetensors_metadata_at(const hcl_safetensors *f, size_t i) {
    return f && i < f->meta_count ? &f->meta[i] : NULL;
}

/* A JSON number that is an integer in [0, 2^53). */
static int json_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v < MAX_JSON_INT) || v != (double)(uint64_t)v) return 0;
    *out = (uint64_t)v;
    return 1;
}

typedef struct parse_state {
    hcl_context *ctx;
    const char *path;
    hcl_safetensors *f;
} parse_state;

#define FMT_ERR(ps, ...) hcl_error((ps)->ctx, HCL_ERR_FORMAT, __VA_ARGS__)

static hcl_status parse_metadata(parse_state *ps, const cJSON *obj) {
    if (!cJSON_IsObject(obj))
        return FMT_ERR(ps, "safetensors %s: \"%s\" is not an object", ps->path, META_KEY);
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) n++;
    hcl_safetensors *f = ps->f;
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta) return hcl_error(ps->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string || !cJSON_IsString(c) || !c->valuestring)
            return FMT_ERR(ps, "safetensors %s: metadata \"%s\" is not a string", ps->path, c->string ? c->string : "?");
        size_t len = strlen(c->string);
        if (len > HCL_SAFETENSORS_MAX_NAME)
            return FMT_ERR(ps, "safetensors %s: a metadata key has %zu bytes (limit %d)", ps->path, len, HCL_SAFETENSORS_MAX_NAME);
        f->meta[f->meta_count].key = c->string;
        f->meta[f->meta_count].value = c->valuestring;
        f->meta_count++;
    }
    name_item *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return hcl_error(ps->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++) keys[i] = (name_item){f->meta[i].key, i};
    const char *dup = sort_names(keys, n);
    hcl_status st = dup ? FMT_ERR(ps, "safetensors %s: duplicate metadata key \"%s\"", ps->path, dup) : HCL_OK;
    free(keys);
    return st;
}

static hcl_status parse_entry(parse_state *ps, const cJSON *obj, hcl_safetensors_tensor *t, uint64_t *begin) {
    const char *name = obj->string;
    if (!cJSON_IsObject(obj)) return FMT_ERR(ps, "safetensors %s: entry \"%s\" is not an object", ps->path, name);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const cJSON **slot = !c->string ? NULL : !strcmp(c->string, "dtype") ? &dtype
                           : !strcmp(c->string, "shape") ? &shape : !strcmp(c->string, "data_offsets") ? &offs : NULL;
        if (!slot) continue; /* unknown fields are ignored, as the reference implementation does */
        if (*slot) return FMT_ERR(ps, "safetensors %s: entry \"%s\" repeats \"%s\"", ps->path, name, c->string);
        *slot = c;
    }
    if (!dtype || !shape || !offs)
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" lacks \"%s\"", ps->path, name,
                       !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" dtype is not a string", ps->path, name);
    if (!st_dtype_parse(dtype->valuestring, &t->dtype))
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" has unsupported dtype \"%.32s\" (F32, F16, BF16, I32, U8)",
                       ps->path, name, dtype->valuestring);
    if (!cJSON_IsArray(shape)) return FMT_ERR(ps, "safetensors %s: entry \"%s\" shape is not an array", ps->path, name);
    int rank = 0;
    uint64_t count = 1;
    int empty = 0;
    for (const cJSON *c = shape->child; c; c = c->next) {
        if (rank == HCL_MAX_RANK)
            return FMT_ERR(ps, "safetensors %s: entry \"%s\" has rank > %d", ps->path, name, HCL_MAX_RANK);
        uint64_t d;
        if (!json_u64(c, &d))
            return FMT_ERR(ps, "safetensors %s: entry \"%s\" dim %d is not a non-negative integer", ps->path, name, rank);
        if (d == 0) empty = 1;
        if (!empty && d > UINT64_MAX / count)
            return FMT_ERR(ps, "safetensors %s: entry \"%s\" element count overflows", ps->path, name);
        if (!empty) count *= d;
        t->shape[rank++] = (int64_t)d;
    }
    if (empty) count = 0;
    t->rank = rank;
    size_t es = hcl_dtype_size(t->dtype);
    if (count > UINT64_MAX / es || count * es > SIZE_MAX)
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" byte size overflows", ps->path, name);
    uint64_t bytes = count * es;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" data_offsets is not a pair", ps->path, name);
    uint64_t b, e;
    if (!json_u64(offs->child, &b) || !json_u64(offs->child->next, &e))
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" data_offsets are not non-negative integers", ps->path, name);
    if (e < b) return FMT_ERR(ps, "safetensors %s: entry \"%s\" data_offsets [%llu, %llu] end before they begin",
                              ps->path, name, (unsigned long long)b, (unsigned long long)e);
    if (e - b != bytes)
        return FMT_ERR(ps, "safetensors %s: entry \"%s\" spans %llu bytes but its %s shape needs %llu", ps->path, name,
                       (unsigned long long)(e - b), dtype->valuestring, (unsigned long long)bytes);
    t->name = name;
    t->count = (size_t)count;
    t->bytes = (size_t)bytes;
    *begin = b;
    return HCL_OK;
}

typedef struct span_item { uint64_t begin; size_t bytes, index; } span_item;
static int span_cmp(const void *a, const void *b) {
    const span_item *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Validates the parsed header against the data section size and builds the tables. */
static hcl_status parse_header(parse_state *ps, const cJSON *root, uint64_t data_size) {
    hcl_safetensors *f = ps->f;
    if (!cJSON_IsObject(root)) return FMT_ERR(ps, "safetensors %s: the header is not a JSON object", ps->path);
    size_t n = 0;
    int seen_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string) return FMT_ERR(ps, "safetensors %s: a header member has no name", ps->path);
        if (!strcmp(c->string, META_KEY)) {
            if (seen_meta) return FMT_ERR(ps, "safetensors %s: duplicate \"%s\"", ps->path, META_KEY);
            seen_meta = 1;
            HCL_TRY(parse_metadata(ps, c));
        } else {
            n++;
        }
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->begin = calloc(n ? n : 1, sizeof *f->begin);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    span_item *spans = calloc(n ? n : 1, sizeof *spans);
    hcl_safetensors_tensor *parsed = calloc(n ? n : 1, sizeof *parsed);
    name_item *names = NULL;
    hcl_status st = HCL_OK;
    if (!f->tensors || !f->begin || !f->by_name || !spans || !parsed) {
        st = hcl_error(ps->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        goto out;
    }
    size_t i = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!strcmp(c->string, META_KEY)) continue;
        size_t len = strlen(c->string);
        if (len == 0 || len > HCL_SAFETENSORS_MAX_NAME) {
            st = FMT_ERR(ps, "safetensors %s: a tensor name has %zu bytes (must be 1..%d)", ps->path, len, HCL_SAFETENSORS_MAX_NAME);
            goto out;
        }
        st = parse_entry(ps, c, &parsed[i], &spans[i].begin);
        if (st != HCL_OK) goto out;
        spans[i].bytes = parsed[i].bytes;
        spans[i].index = i;
        i++;
    }
    /* offsets: sorted, contiguous from 0, no holes or overlaps, ending at the data size */
    qsort(spans, n, sizeof *spans, span_cmp);
    uint64_t expect = 0;
    for (i = 0; i < n; i++) {
        const hcl_safetensors_tensor *t = &parsed[spans[i].index];
        if (spans[i].begin != expect) {
            st = FMT_ERR(ps, "safetensors %s: entry \"%s\" begins at data offset %llu, expected %llu (%s)", ps->path,
                         t->name, (unsigned long long)spans[i].begin, (unsigned long long)expect,
                         spans[i].begin < expect ? "overlap" : "hole");
            goto out;
        }
        expect += spans[i].bytes;
        if (expect > data_size) {
            st = FMT_ERR(ps, "safetensors %s: entry \"%s\" ends at data offset %llu, past the %llu data bytes in the file",
                         ps->path, t->name, (unsigned long long)expect, (unsigned long long)data_size);
            goto out;
        }
        f->tensors[i] = *t;
        f->begin[i] = spans[i].begin;
        f->by_name[i] = i;
    }
    if (expect != data_size) {
        st = FMT_ERR(ps, "safetensors %s: the tensors cover %llu data bytes but the file holds %llu", ps->path,
                     (unsigned long long)expect, (unsigned long long)data_size);
        goto out;
    }
    f->count = n;
    names = malloc((n ? n : 1) * sizeof *names);
    if (!names) {
        st = hcl_error(ps->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        goto out;
    }
    for (i = 0; i < n; i++) names[i] = (name_item){f->tensors[i].name, i};
    const char *dup = sort_names(names, n);
    if (dup) {
        st = FMT_ERR(ps, "safetensors %s: duplicate tensor name \"%s\"", ps->path, dup);
        goto out;
    }
    for (i = 0; i < n; i++) f->by_name[i] = names[i].index;
out:
    free(names);
    free(spans);
    free(parsed);
    return st;
}

static int json_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static hcl_status load_fd(hcl_context *ctx, int fd, const char *path, hcl_safetensors *f) {
    parse_state ps = {ctx, path, f};
    struct stat sb;
    if (fstat(fd, &sb) != 0) return hcl_error(ctx, HCL_ERR_IO, "safetensors %s: stat failed: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return hcl_error(ctx, HCL_ERR_IO, "safetensors %s: not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) return FMT_ERR(&ps, "safetensors %s: %llu bytes is too short for the 8-byte header length", path,
                                 (unsigned long long)size);
    unsigned char len8[8];
    HCL_TRY(read_full(ctx, fd, len8, 8, path, "header length"));
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--) hlen = (hlen << 8) | len8[b];
    if (hlen > HCL_SAFETENSORS_MAX_HEADER)
        return FMT_ERR(&ps, "safetensors %s: header length %llu exceeds the %u-byte limit", path,
                       (unsigned long long)hlen, (unsigned)HCL_SAFETENSORS_MAX_HEADER);
    if (hlen > size - 8)
        return FMT_ERR(&ps, "safetensors %s: header length %llu exceeds the %llu bytes after it in the file", path,
                       (unsigned long long)hlen, (unsigned long long)(size - 8));
    if (hlen < 2) return FMT_ERR(&ps, "safetensors %s: header length %llu is too short for a JSON object", path,
                                 (unsigned long long)hlen);
    char *text = malloc((size_t)hlen + 1);
    if (!text) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = read_full(ctx, fd, text, (size_t)hlen, path, "header");
    if (st != HCL_OK) { free(text); return st; }
    text[hlen] = '\0';
    if (text[0] != '{') st = FMT_ERR(&ps, "safetensors %s: the header does not start with '{'", path);
    else if (memchr(text, '\0', (size_t)hlen)) st = FMT_ERR(&ps, "safetensors %s: the header contains a NUL byte", path);
    else if (!hcl_utf8_valid((const unsigned char *)text, (size_t)hlen))
        st = FMT_ERR(&ps, "safetensors %s: the header is not valid UTF-8", path);
    if (st == HCL_OK) {
        const char *end = NULL;
        f->root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
        if (!f->root) {
            size_t at = end && end >= text && end <= text + hlen ? (size_t)(end - text) : 0;
            st = FMT_ERR(&ps, "safetensors %s: the header is not valid JSON (near byte %zu of %llu)", path, at,
                         (unsigned long long)hlen);
        } else {
            for (const char *p = end; p < text + hlen; p++) {
                if (!json_space((unsigned char)*p)) {
                    st = FMT_ERR(&ps, "safetensors %s: unexpected byte 0x%02x after the header JSON at byte %zu", path,
                                 (unsigned char)*p, (size_t)(p - text));
                    break;
                }
            }
        }
    }
    free(text);
    if (st != HCL_OK) return st;
    uint64_t data_size = size - 8 - hlen;
    HCL_TRY(parse_header(&ps, f->root, data_size));
    if (data_size > SIZE_MAX - 1)
        return FMT_ERR(&ps, "safetensors %s: data section too large for this host", path);
    f->data = malloc(data_size ? (size_t)data_size : 1);
    if (!f->data)
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "safetensors %s: out of host memory for %llu data bytes", path,
                         (unsigned long long)data_size);
    HCL_TRY(read_full(ctx, fd, f->data, (size_t)data_size, path, "data section"));
    for (size_t i = 0; i < f->count; i++) f->tensors[i].data = f->data + f->begin[i];
    return HCL_OK;
}

hcl_status hcl_safetensors_load(hcl_context *ctx, const char *path, hcl_safetensors **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, path);
    if (!hcl_host_little_endian())
        return hcl_error(ctx, HCL_ERR_CAPABILITY, "safetensors %s: only little-endian hosts are supported", path);
    hcl_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = malloc(strlen(path) + 1))) {
        free(f);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    strcpy(f->path, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hcl_safetensors_free(f);
        return hcl_error(ctx, HCL_ERR_IO, "safetensors %s: cannot open: %s", path, strerror(errno));
    }
    hcl_status st = load_fd(ctx, fd, path, f);
    close(fd);
    if (st != HCL_OK) {
        hcl_safetensors_free(f);
        return st;
    }
    *out = f;
    return HCL_OK;
}

/* ---- device tensors ---- */

hcl_status hcl_safetensors_save_tensors(hcl_context *ctx, const char *path, const char *const *names,
                                        const hcl_tensor *const *tensors, size_t count,
                                        const hcl_safetensors_meta *meta, size_t meta_count) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, path);
    if (count && (!names || !tensors))
        return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save %s: names or tensors is NULL", path);
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (!tensors[i]) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "safetensors save %s: tensor %zu is NULL", path, i);
        if (tensors[i]->ctx != ctx)
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors save %s: tensor %zu belongs to another context", path, i);
        size_t b = hcl_tensor_bytes(tensors[i]);
        if (total + b < total) return hcl_error(ctx, HCL_ERR_OVERFLOW, "safetensors save %s: total size overflows", path);
        total += b;
    }
    hcl_safetensors_entry *entries = calloc(count ? count : 1, sizeof *entries);
    unsigned char *host = malloc(total ? total : 1);
    hcl_status st = HCL_OK;
    if (!entries || !host) {
        st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "safetensors save %s: out of host memory for %zu bytes", path, total);
        goto out;
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        const hcl_tensor *t = tensors[i];
        size_t b = hcl_tensor_bytes(t);
        st = hcl_tensor_download_raw(t, host + off, b);
        if (st != HCL_OK) goto out;
        entries[i] = (hcl_safetensors_entry){names[i], t->dtype, t->rank, t->shape, host + off, b};
        off += b;
    }
    st = hcl_safetensors_save(ctx, path, entries, count, meta, meta_count);
out:
    free(entries);
    free(host);
    return st;
}

static void shape_text(char *buf, size_t len, int rank, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < len) snprintf(buf + n, len - n, ")");
}

hcl_status hcl_safetensors_load_tensor(hcl_context *ctx, const hcl_safetensors *file, const char *name,
                                       hcl_tensor *tensor, int convert) {
    if (!ctx) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(ctx, file);
    HCL_CHECK_NULL(ctx, name);
    HCL_CHECK_NULL(ctx, tensor);
    if (tensor->ctx != ctx)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors %s: tensor for \"%s\" belongs to another context",
                         file->path, name);
    const hcl_safetensors_tensor *e = hcl_safetensors_find(file, name);
    if (!e) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "safetensors %s: no tensor named \"%s\"", file->path, name);
    int same = e->rank == tensor->rank;
    for (int i = 0; same && i < e->rank; i++) same = e->shape[i] == tensor->shape[i];
    if (!same) {
        char a[200], b[200];
        shape_text(a, sizeof a, e->rank, e->shape);
        shape_text(b, sizeof b, tensor->rank, tensor->shape);
        return hcl_error(ctx, HCL_ERR_SHAPE, "safetensors %s: \"%s\" has shape %s but the tensor is %s", file->path,
                         name, a, b);
    }
    if (e->dtype == tensor->dtype) return hcl_tensor_upload_raw(tensor, e->data, e->bytes);
    if (!convert || !hcl_dtype_is_float(e->dtype) || !hcl_dtype_is_float(tensor->dtype))
        return hcl_error(ctx, HCL_ERR_DTYPE, "safetensors %s: \"%s\" is %s but the tensor is %s%s", file->path, name,
                         hcl_dtype_name(e->dtype), hcl_dtype_name(tensor->dtype),
                         convert ? " (only float dtypes convert)" : " (conversion not requested)");
    float *tmp = malloc(e->count * sizeof *tmp);
    if (!tmp) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory (%zu floats)", e->count);
    const unsigned char *src = e->data;
    for (size_t i = 0; i < e->count; i++) {
        if (e->dtype == HCL_F32) {
            memcpy(&tmp[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            tmp[i] = e->dtype == HCL_F16 ? hcl_f16_to_f32(h) : hcl_bf16_to_f32(h);
        }
    }
    hcl_status st = hcl_tensor_upload_f32(tensor, tmp, e->count);
    free(tmp);
    return st;
}
