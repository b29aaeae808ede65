/* Text data on the host: corpora read from TSV files or the aclImdb folders (validated, with line
 * numbers in every message), a stratified seeded split, word and character tokenizers with a
 * small Unicode lowercase table, the vocabulary (counted, ordered deterministically, saved and
 * loaded as one token per line) and the encoding to padded I32 id rows. No device, no globals. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "halfcl/io.h"
#include "io/io_internal.h"
#include "runtime/internal.h"

#define SPLIT_TAG 0x73706c74u /* 'splt' */

static const char PAD_TOKEN[] = "<pad>";
static const char UNK_TOKEN[] = "<unk>";

/* ---- a string -> index hash map that owns copies of its keys ---- */

typedef struct strmap {
    uint32_t *slots;   /* entry + 1; 0 = empty; cap (a power of two) slots */
    size_t cap;
    size_t n, ncap;    /* entries */
    size_t *key_off;   /* entry -> offset of its NUL-terminated key in `keys` */
    size_t *key_len;
    uint64_t *hash;
    uint64_t *count;   /* how often sm_add() met the key */
    char *keys;
    size_t keys_len, keys_cap;
} strmap;

static uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static void sm_free(strmap *m) {
    free(m->slots);
    free(m->key_off);
    free(m->key_len);
    free(m->hash);
    free(m->count);
    free(m->keys);
    memset(m, 0, sizeof *m);
}

static const char *sm_key(const strmap *m, size_t e) { return m->keys + m->key_off[e]; }

/* Entry of key, or SIZE_MAX. */
static size_t sm_find(const strmap *m, const char *k, size_t len, uint64_t h) {
    if (!m->cap) return SIZE_MAX;
    for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        uint32_t s = m->slots[i];
        if (!s) return SIZE_MAX;
        size_t e = s - 1;
        if (m->hash[e] == h && m->key_len[e] == len && !memcmp(sm_key(m, e), k, len)) return e;
    }
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static int sm_rehash(strmap *m, size_t cap) {
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return 0;
    for (size_t e = 0; e < m->n; e++) {
        size_t i = (size_t)m->hash[e] & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)(e + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 1;
}

/* The entry of key (added when new) with its count incremented, or SIZE_MAX when out of memory. */
static size_t sm_add(strmap *m, const char *k, size_t len) {
    uint64_t h = str_hash(k, len);
    size_t e = sm_find(m, k, len, h);
    if (e != SIZE_MAX) {
        m->count[e]++;
        return e;
    }
    if (m->n >= UINT32_MAX - 1) return SIZE_MAX;
    if ((m->n + 1) * 2 > m->cap && !sm_rehash(m, m->cap ? m->cap * 2 : 64)) return SIZE_MAX;
    size_t need = m->n + 1, c = m->ncap;
    if (!grow((void **)&m->key_off, &c, need, sizeof *m->key_off)) return SIZE_MAX;
    c = m->ncap;
    if (!grow((void **)&m->key_len, &c, need, sizeof *m->key_len)) return SIZE_MAX;
    c = m->ncap;
    if (!grow((void **)&m->hash, &c, need, sizeof *m->hash)) return SIZE_MAX;
    c = m->ncap;
    if (!grow((void **)&m->count, &c, need, sizeof *m->count)) return SIZE_MAX;
    m->ncap = c;
    if (!grow((void **)&m->keys, &m->keys_cap, m->keys_len + len + 1, 1)) return SIZE_MAX;
    e = m->n++;
    memcpy(m->keys + m->keys_len, k, len);
    m->keys[m->keys_len + len] = '\0';
    m->key_off[e] = m->keys_len;
    m->key_len[e] = len;
    m->hash[e] = h;
    m->count[e] = 1;
    m->keys_len += len + 1;
    size_t i = (size_t)h & (m->cap - 1);
    while (m->slots[i]) i = (i + 1) & (m->cap - 1);
    m->slots[i] = (uint32_t)(e + 1);
    return e;
}

/* Byte-wise order of two keys (a prefix first). */
static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

/* qsort over entries of one map (qsort has no user pointer: the map travels with each item). */
typedef struct entry_ref { const strmap *m; size_t e; } entry_ref;

static int by_bytes(const void *pa, const void *pb) {
    const entry_ref *a = pa, *b = pb;
    return bytes_cmp(sm_key(a->m, a->e), a->m->key_len[a->e], sm_key(b->m, b->e), b->m->key_len[b->e]);
}

static int by_count_then_bytes(const void *pa, const void *pb) {
    const entry_ref *a = pa, *b = pb;
    uint64_t ca = a->m->count[a->e], cb = b->m->count[b->e];
    if (ca != cb) return ca > cb ? -1 : 1;
    return by_bytes(pa, pb);
}

/* ---- corpora ---- */

typedef struct corpus_impl {
    hcl_text_corpus pub; /* first: the public pointer is the impl's */
    char *arena;         /* the texts' bytes */
    char *names;         /* the class names' bytes */
} corpus_impl;

void hcl_text_corpus_free(hcl_text_corpus *c) {
    if (!c) return;
    corpus_impl *ci = (corpus_impl *)(void *)c;
    free(ci->arena);
    free(ci->names);
    free(c->texts);
    free(c->lengths);
    free(c->labels);
    free(c->class_names);
    free(ci);
}

/* Sets the class names: names[i] (lens[i] bytes, or strlen when lens is NULL), or "0", "1", ...
 * when names is NULL. */
static hcl_status set_classes(hcl_context *ctx, corpus_impl *ci, size_t classes, const char *const *names,
                              const size_t *lens) {
    size_t bytes = 0;
    for (size_t c = 0; c < classes; c++) bytes += names ? (lens ? lens[c] : strlen(names[c])) + 1 : 21;
    ci->pub.class_names = malloc((classes ? classes : 1) * sizeof *ci->pub.class_names);
    ci->names = malloc(bytes ? bytes : 1);
    if (!ci->pub.class_names || !ci->names) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    char *p = ci->names;
    for (size_t c = 0; c < classes; c++) {
        ci->pub.class_names[c] = p;
        if (names) {
            size_t n = lens ? lens[c] : strlen(names[c]);
            memcpy(p, names[c], n);
            p[n] = '\0';
            p += n + 1;
        } else {
            p += snprintf(p, 21, "%zu", c) + 1;
        }
    }
    ci->pub.classes = classes;
    return HCL_OK;
}

/* Collects texts into one growing arena (offsets until the end: the arena moves). */
typedef struct builder {
    char *buf;
    size_t len, cap;
    size_t *off, *lens;
    int32_t *labels;
    size_t n, ncap;
} builder;

static void builder_free(builder *b) {
    free(b->buf);
    free(b->off);
    free(b->lens);
    free(b->labels);
}

static hcl_status builder_add(hcl_context *ctx, builder *b, const char *text, size_t len, int32_t label) {
    size_t c = b->ncap;
    int ok = grow((void **)&b->off, &c, b->n + 1, sizeof *b->off);
    c = b->ncap;
    ok = ok && grow((void **)&b->lens, &c, b->n + 1, sizeof *b->lens);
    c = b->ncap;
    ok = ok && grow((void **)&b->labels, &c, b->n + 1, sizeof *b->labels);
    if (ok) b->ncap = c;
    ok = ok && grow((void **)&b->buf, &b->cap, b->len + len + 1, 1);
    if (!ok) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory for %zu texts", b->n + 1);
    memcpy(b->buf + b->len, text, len);
    b->buf[b->len + len] = '\0';
    b->off[b->n] = b->len;
    b->lens[b->n] = len;
    b->labels[b->n] = label;
    b->n++;
    b->len += len + 1;
    return HCL_OK;
}

/* Turns the builder into a corpus (the builder is emptied either way). */
static hcl_status builder_finish(hcl_context *ctx, builder *b, size_t classes, const char *const *names,
                                 hcl_text_corpus **out) {
    corpus_impl *ci = calloc(1, sizeof *ci);
    hcl_status st = ci ? HCL_OK : hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) {
        ci->arena = b->buf;
        ci->pub.lengths = b->lens;
        ci->pub.labels = b->labels;
        ci->pub.count = b->n;
        b->buf = NULL;
        b->lens = NULL;
        b->labels = NULL;
        ci->pub.texts = malloc((b->n ? b->n : 1) * sizeof *ci->pub.texts);
        if (!ci->pub.texts) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        for (size_t i = 0; st == HCL_OK && i < b->n; i++) ci->pub.texts[i] = ci->arena + b->off[i];
    }
    if (st == HCL_OK) st = set_classes(ctx, ci, classes, names, NULL);
    builder_free(b);
    memset(b, 0, sizeof *b);
    if (st != HCL_OK) {
        hcl_text_corpus_free(ci ? &ci->pub : NULL);
        return st;
    }
    *out = &ci->pub;
    return HCL_OK;
}

hcl_status hcl_text_corpus_create(hcl_context *ctx, const char *const *texts, const int32_t *labels, size_t count,
                                  size_t classes, const char *const *class_names, hcl_text_corpus **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    if (count) {
        HCL_CHECK_NULL(ctx, texts);
        HCL_CHECK_NULL(ctx, labels);
    }
    if (classes > INT32_MAX)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "text corpus: %zu classes (at most %d)", classes, INT32_MAX);
    for (size_t c = 0; class_names && c < classes; c++)
        if (!class_names[c]) return hcl_error(ctx, HCL_ERR_NULL_POINTER, "text corpus: class_names[%zu] is NULL", c);
    builder b = {0};
    for (size_t i = 0; i < count; i++) {
        hcl_status st = HCL_OK;
        if (!texts[i]) st = hcl_error(ctx, HCL_ERR_NULL_POINTER, "text corpus: texts[%zu] is NULL", i);
        else if (labels[i] < 0 || (size_t)labels[i] >= classes)
            st = hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "text corpus: labels[%zu] = %d not in 0..%zu", i,
                           (int)labels[i], classes ? classes - 1 : 0);
        else st = builder_add(ctx, &b, texts[i], strlen(texts[i]), labels[i]);
        if (st != HCL_OK) {
            builder_free(&b);
            return st;
        }
    }
    return builder_finish(ctx, &b, classes, class_names, out);
}

/* ---- TSV ---- */

/* Checks the bytes of a line (line_no >= 1) or a whole file (line_no 0): no NUL, valid UTF-8. */
static hcl_status check_line(hcl_context *ctx, const char *kind, const char *path, size_t line_no, const char *p,
                             size_t len) {
    char where[48] = "";
    if (line_no) snprintf(where, sizeof where, "line %zu: ", line_no);
    const char *nul = memchr(p, '\0', len);
    if (nul)
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s %s: %sNUL byte at byte %zu", kind, path, where, (size_t)(nul - p) + 1);
    size_t bad = hcl_utf8_invalid_at((const unsigned char *)p, len);
    if (bad < len)
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s %s: %sinvalid UTF-8 at byte %zu (0x%02x)", kind, path, where, bad + 1,
                         (unsigned char)p[bad]);
    return HCL_OK;
}

typedef struct tsv_state {
    corpus_impl *ci;
    size_t ncap;
    uint32_t *label_entry; /* per text: its label's entry in `labels` */
    strmap labels;
} tsv_state;

/* Parses the file held (NUL-terminated) in ci->arena in place: tabs and line ends become NULs. */
static hcl_status tsv_parse(hcl_context *ctx, const char *path, size_t size, tsv_state *t) {
    hcl_text_corpus *c = &t->ci->pub;
    char *p = t->ci->arena, *end = p + size;
    if (size >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3;
    for (size_t line_no = 1; p < end; line_no++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *next = nl ? nl + 1 : end;
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len && p[len - 1] == '\r') len--;
        if (len > HCL_TEXT_MAX_TEXT)
            return hcl_error(ctx, HCL_ERR_FORMAT, "TSV %s: line %zu: %zu bytes, longer than the %zu-byte limit", path,
                             line_no, len, HCL_TEXT_MAX_TEXT);
        if (len == 0) {
            p = next;
            continue;
        }
        HCL_TRY(check_line(ctx, "TSV", path, line_no, p, len));
        char *tab = memchr(p, '\t', len);
        if (!tab)
            return hcl_error(ctx, HCL_ERR_FORMAT, "TSV %s: line %zu: no tab between the label and the text", path,
                             line_no);
        size_t label_len = (size_t)(tab - p);
        if (label_len == 0) return hcl_error(ctx, HCL_ERR_FORMAT, "TSV %s: line %zu: empty label", path, line_no);
        if (label_len > HCL_TEXT_MAX_LABEL)
            return hcl_error(ctx, HCL_ERR_FORMAT, "TSV %s: line %zu: label of %zu bytes (at most %d)", path, line_no,
                             label_len, HCL_TEXT_MAX_LABEL);
        size_t e = sm_add(&t->labels, p, label_len);
        size_t ncap = t->ncap;
        int ok = e != SIZE_MAX && grow((void **)&c->texts, &ncap, c->count + 1, sizeof *c->texts);
        ncap = t->ncap;
        ok = ok && grow((void **)&c->lengths, &ncap, c->count + 1, sizeof *c->lengths);
        ncap = t->ncap;
        ok = ok && grow((void **)&t->label_entry, &ncap, c->count + 1, sizeof *t->label_entry);
        if (!ok) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "TSV %s: out of host memory at line %zu", path, line_no);
        t->ncap = ncap;
        char *text = tab + 1;
        size_t text_len = len - label_len - 1;
        text[text_len] = '\0'; /* the CR, the LF or the buffer's closing NUL */
        c->texts[c->count] = text;
        c->lengths[c->count] = text_len;
        t->label_entry[c->count] = (uint32_t)e;
        c->count++;
        p = next;
    }
    if (c->count == 0) return hcl_error(ctx, HCL_ERR_FORMAT, "TSV %s: no data lines", path);
    /* class ids: labels in byte order */
    size_t classes = t->labels.n;
    entry_ref *order = malloc(classes * sizeof *order);
    const char **names = malloc(classes * sizeof *names);
    size_t *lens = malloc(classes * sizeof *lens);
    uint32_t *id_of = malloc(classes * sizeof *id_of);
    hcl_status st = HCL_OK;
    c->labels = malloc(c->count * sizeof *c->labels);
    if (!order || !names || !lens || !id_of || !c->labels) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) {
        for (size_t k = 0; k < classes; k++) order[k] = (entry_ref){&t->labels, k};
        qsort(order, classes, sizeof *order, by_bytes);
        for (size_t k = 0; k < classes; k++) {
            id_of[order[k].e] = (uint32_t)k;
            names[k] = sm_key(&t->labels, order[k].e);
            lens[k] = t->labels.key_len[order[k].e];
        }
        for (size_t i = 0; i < c->count; i++) c->labels[i] = (int32_t)id_of[t->label_entry[i]];
        st = set_classes(ctx, t->ci, classes, names, lens);
    }
    free(order);
    free(names);
    free(lens);
    free(id_of);
    return st;
}

hcl_status hcl_text_read_tsv(hcl_context *ctx, const char *path, hcl_text_corpus **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, path);
    tsv_state t = {0};
    t.ci = calloc(1, sizeof *t.ci);
    if (!t.ci) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    size_t size = 0;
    hcl_status st = hcl_read_file(ctx, "TSV", path, HCL_TEXT_MAX_BYTES, &t.ci->arena, &size);
    if (st == HCL_OK) st = tsv_parse(ctx, path, size, &t);
    free(t.label_entry);
    sm_free(&t.labels);
    if (st != HCL_OK) {
        hcl_text_corpus_free(&t.ci->pub);
        return st;
    }
    *out = &t.ci->pub;
    return HCL_OK;
}

/* ---- aclImdb ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* The sorted names of the "*.txt" regular files in `folder` (not starting with '.'). */
static hcl_status list_txt(hcl_context *ctx, const char *folder, char ***out, size_t *count) {
    *out = NULL;
    *count = 0;
    DIR *d = opendir(folder);
    if (!d) return hcl_error(ctx, HCL_ERR_IO, "IMDB %s: cannot open the folder: %s", folder, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    hcl_status st = HCL_OK;
    struct dirent *e;
    while (st == HCL_OK && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".txt")) continue;
        char *name = strdup(e->d_name);
        if (!name || !grow((void **)&names, &cap, n + 1, sizeof *names)) {
            free(name);
            st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            break;
        }
        names[n++] = name;
    }
    closedir(d);
    if (st != HCL_OK) {
        free_names(names, n);
        return st;
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *count = n;
    return HCL_OK;
}

/* In place: "<br />", "<br/>", "<br>" and tab, CR, LF become one space each. Returns the new length. */
static size_t imdb_clean(char *s, size_t n) {
    static const char *const br[] = {"<br />", "<br/>", "<br>"};
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t skip = 0;
        if (s[i] == '<')
            for (size_t k = 0; k < 3 && !skip; k++) {
                size_t bl = strlen(br[k]);
                if (n - i >= bl && !memcmp(s + i, br[k], bl)) skip = bl;
            }
        if (skip) {
            s[o++] = ' ';
            i += skip;
        } else {
            char ch = s[i++];
            s[o++] = (ch == '\t' || ch == '\r' || ch == '\n') ? ' ' : ch;
        }
    }
    s[o] = '\0';
    return o;
}

static hcl_status imdb_class(hcl_context *ctx, const char *dir, const char *split, const char *cls, int32_t label,
                             builder *b) {
    size_t flen = strlen(dir) + strlen(split) + strlen(cls) + 3;
    char *folder = malloc(flen);
    if (!folder) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    snprintf(folder, flen, "%s/%s/%s", dir, split, cls);
    char **names = NULL;
    size_t n = 0;
    hcl_status st = list_txt(ctx, folder, &names, &n);
    size_t found = 0;
    for (size_t i = 0; st == HCL_OK && i < n; i++) {
        size_t plen = flen + strlen(names[i]) + 1;
        char *path = malloc(plen);
        if (!path) {
            st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            break;
        }
        snprintf(path, plen, "%s/%s", folder, names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) { /* a folder named x.txt, a dangling link */
            free(path);
            continue;
        }
        char *text = NULL;
        size_t len = 0;
        st = hcl_read_file(ctx, "IMDB review", path, HCL_TEXT_MAX_TEXT, &text, &len);
        if (st == HCL_OK) st = check_line(ctx, "IMDB review", path, 0, text, len);
        if (st == HCL_OK && b->len + len + 1 > HCL_TEXT_MAX_BYTES)
            st = hcl_error(ctx, HCL_ERR_FORMAT, "IMDB %s/%s: the reviews exceed the %zu-byte limit", dir, split,
                           HCL_TEXT_MAX_BYTES);
        if (st == HCL_OK) st = builder_add(ctx, b, text, imdb_clean(text, len), label);
        found++;
        free(text);
        free(path);
    }
    if (st == HCL_OK && found == 0) st = hcl_error(ctx, HCL_ERR_FORMAT, "IMDB %s: no .txt files", folder);
    free_names(names, n);
    free(folder);
    return st;
}

hcl_status hcl_text_read_imdb(hcl_context *ctx, const char *dir, const char *split, hcl_text_corpus **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, dir);
    HCL_CHECK_NULL(ctx, split);
    if (strcmp(split, "train") && strcmp(split, "test"))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "IMDB: split \"%s\" is not \"train\" or \"test\"", split);
    static const char *const names[2] = {"neg", "pos"};
    builder b = {0};
    hcl_status st = HCL_OK;
    for (int32_t c = 0; c < 2 && st == HCL_OK; c++) st = imdb_class(ctx, dir, split, names[c], c, &b);
    if (st != HCL_OK) {
        builder_free(&b);
        return st;
    }
    return builder_finish(ctx, &b, 2, names, out);
}

/* ---- split ---- */

/* Test quotas per class: round(N * f) in all, floor(n_c * f) each plus one for the classes with
 * the largest remainders (ties to the lower id). */
static void split_quotas(const size_t *sizes, size_t classes, size_t total, double f, size_t *quota, double *rem) {
    size_t want = (size_t)floor((double)total * f + 0.5), have = 0;
    for (size_t c = 0; c < classes; c++) {
        double x = (double)sizes[c] * f;
        quota[c] = (size_t)floor(x);
        if (quota[c] > sizes[c]) quota[c] = sizes[c];
        rem[c] = x - floor(x);
        have += quota[c];
    }
    while (have < want) { /* at most `classes` rounds */
        size_t best = SIZE_MAX;
        for (size_t c = 0; c < classes; c++)
            if (quota[c] < sizes[c] && (best == SIZE_MAX || rem[c] > rem[best])) best = c;
        if (best == SIZE_MAX) break;
        quota[best]++;
        rem[best] = -1.0;
        have++;
    }
    while (have > want) { /* only through rounding of n_c * f: take from the smallest remainders */
        size_t worst = SIZE_MAX;
        for (size_t c = 0; c < classes; c++)
            if (quota[c] > 0 && (worst == SIZE_MAX || rem[c] < rem[worst])) worst = c;
        if (worst == SIZE_MAX) break;
        quota[worst]--;
        rem[worst] = 2.0;
        have--;
    }
}

hcl_status hcl_text_split(hcl_context *ctx, const hcl_text_corpus *corpus, double test_fraction, uint64_t seed,
                          hcl_text_corpus **train, hcl_text_corpus **test) {
    HCL_CHECK_NULL(ctx, train);
    HCL_CHECK_NULL(ctx, test);
    *train = *test = NULL;
    HCL_CHECK_NULL(ctx, corpus);
    if (!(test_fraction >= 0.0 && test_fraction <= 1.0))
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "text split: test_fraction %g not in [0, 1]", test_fraction);
    size_t n = corpus->count, classes = corpus->classes;
    size_t *sizes = calloc(classes ? classes : 1, sizeof *sizes);
    size_t *quota = calloc(classes ? classes : 1, sizeof *quota);
    double *rem = calloc(classes ? classes : 1, sizeof *rem);
    size_t *start = calloc(classes + 1, sizeof *start);
    size_t *members = malloc((n ? n : 1) * sizeof *members);
    unsigned char *in_test = calloc(n ? n : 1, 1);
    hcl_status st = HCL_OK;
    if (!sizes || !quota || !rem || !start || !members || !in_test) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) {
        for (size_t i = 0; i < n; i++) sizes[corpus->labels[i]]++;
        split_quotas(sizes, classes, n, test_fraction, quota, rem);
        /* members of each class in corpus order, shuffled per class, the first quota[c] to test */
        for (size_t c = 0; c < classes; c++) start[c + 1] = start[c] + sizes[c];
        for (size_t c = 0; c < classes; c++) sizes[c] = 0;
        for (size_t i = 0; i < n; i++) {
            size_t c = (size_t)corpus->labels[i];
            members[start[c] + sizes[c]++] = i;
        }
        for (size_t c = 0; c < classes; c++) {
            hcl_philox_shuffle(members + start[c], sizes[c], seed, c, SPLIT_TAG);
            for (size_t k = 0; k < quota[c]; k++) in_test[members[start[c] + k]] = 1;
        }
    }
    builder parts[2] = {{0}, {0}};
    for (size_t i = 0; st == HCL_OK && i < n; i++)
        st = builder_add(ctx, &parts[in_test[i]], corpus->texts[i], corpus->lengths[i], corpus->labels[i]);
    free(sizes);
    free(quota);
    free(rem);
    free(start);
    free(members);
    free(in_test);
    if (st == HCL_OK) st = builder_finish(ctx, &parts[0], classes, corpus->class_names, train);
    if (st == HCL_OK) st = builder_finish(ctx, &parts[1], classes, corpus->class_names, test);
    builder_free(&parts[0]);
    builder_free(&parts[1]);
    if (st != HCL_OK) {
        hcl_text_corpus_free(*train);
        hcl_text_corpus_free(*test);
        *train = *test = NULL;
    }
    return st;
}

/* ---- tokenizer ---- */

void hcl_text_options_init(hcl_text_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->level = HCL_TEXT_WORDS;
    o->lowercase = 1;
    o->min_count = 1;
    o->max_len = 256;
}

static hcl_status check_options(hcl_context *ctx, const hcl_text_options *o) {
    if (o->level != HCL_TEXT_WORDS && o->level != HCL_TEXT_CHARS)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "text options: level %d is not words (0) or chars (1)", (int)o->level);
    if (o->max_vocab == 1 || o->max_vocab > (size_t)INT32_MAX)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "text options: max_vocab %zu (0 or 2..%d)", o->max_vocab,
                         INT32_MAX);
    if (o->max_len < 1 || o->max_len > HCL_TEXT_MAX_LEN)
        return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "text options: max_len %lld not in 1..%lld",
                         (long long)o->max_len, (long long)HCL_TEXT_MAX_LEN);
    return HCL_OK;
}

static uint32_t lower_cp(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xc0 && c <= 0xde) return c == 0xd7 ? c : c + 32;
    if (c >= 0x100 && c < 0x180) { /* Latin Extended-A: capital/small pairs */
        if (c == 0x130) return 'i';
        if (c == 0x178) return 0xff;
        if (c <= 0x137 || (c >= 0x14a && c <= 0x177)) return c | 1;              /* even = capital */
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return c & 1 ? c + 1 : c; /* odd */
        return c;
    }
    if (c >= 0x386 && c <= 0x3a9) { /* Greek */
        if (c == 0x386) return 0x3ac;
        if (c >= 0x388 && c <= 0x38a) return c + 37;
        if (c == 0x38c) return 0x3cc;
        if (c == 0x38e || c == 0x38f) return c + 63;
        if (c >= 0x391 && c != 0x3a2) return c + 32;
        return c;
    }
    if (c >= 0x400 && c <= 0x40f) return c + 80; /* Cyrillic */
    if (c >= 0x410 && c <= 0x42f) return c + 32;
    return c;
}

static int word_cp(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c < 0xc0 || c == 0xd7 || c == 0xf7 || c == 0xfeff) return 0;
    if ((c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f)) return 0;
    return 1;
}

static size_t put_utf8(char *o, uint32_t c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xc0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3f)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Walks one text. buf holds the current token; lowercasing never lengthens UTF-8 (every mapping
 * above stays within its byte length or shrinks), so len(text) + 4 bytes always suffice. */
typedef struct tokenizer {
    const unsigned char *s;
    size_t n, pos;
    int chars, lower;
    char *buf;
} tokenizer;

enum { TOK_END, TOK_TOKEN, TOK_INVALID };

static int tok_next(tokenizer *t, size_t *len) {
    *len = 0;
    uint32_t c;
    if (t->chars) {
        if (t->pos >= t->n) return TOK_END;
        size_t k = hcl_utf8_decode(t->s + t->pos, t->n - t->pos, &c);
        if (!k) {
            t->pos++;
            return TOK_INVALID;
        }
        t->pos += k;
        if (c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') c = ' ';
        *len = put_utf8(t->buf, t->lower ? lower_cp(c) : c);
        return TOK_TOKEN;
    }
    for (;;) { /* skip separators (and invalid bytes) */
        if (t->pos >= t->n) return TOK_END;
        size_t k = hcl_utf8_decode(t->s + t->pos, t->n - t->pos, &c);
        if (k && word_cp(c)) break;
        t->pos += k ? k : 1;
    }
    while (t->pos < t->n) {
        size_t k = hcl_utf8_decode(t->s + t->pos, t->n - t->pos, &c);
        if (!k || !word_cp(c)) break;
        t->pos += k;
        *len += put_utf8(t->buf + *len, t->lower ? lower_cp(c) : c);
    }
    return TOK_TOKEN;
}

static char *token_buffer(hcl_context *ctx, const hcl_text_corpus *corpus) {
    size_t max = 0;
    for (size_t i = 0; i < corpus->count; i++)
        if (corpus->lengths[i] > max) max = corpus->lengths[i];
    char *buf = malloc(max + 8);
    if (!buf) hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    return buf;
}

/* ---- vocabulary ---- */

struct hcl_vocab {
    strmap map; /* entry i = id i */
};

void hcl_vocab_free(hcl_vocab *v) {
    if (!v) return;
    sm_free(&v->map);
    free(v);
}

size_t hcl_vocab_size(const hcl_vocab *v) { return v ? v->map.n : 0; }

const char *hcl_vocab_token(const hcl_vocab *v, int32_t id) {
    if (!v || id < 0 || (size_t)id >= v->map.n) return NULL;
    return sm_key(&v->map, (size_t)id);
}

static int32_t vocab_id(const hcl_vocab *v, const char *tok, size_t len) {
    size_t e = sm_find(&v->map, tok, len, str_hash(tok, len));
    return e == SIZE_MAX ? HCL_TEXT_UNK : (int32_t)e;
}

int32_t hcl_vocab_lookup(const hcl_vocab *v, const char *token) {
    if (!v || !token) return HCL_TEXT_UNK;
    return vocab_id(v, token, strlen(token));
}

static hcl_status vocab_new(hcl_context *ctx, hcl_vocab **out) {
    hcl_vocab *v = calloc(1, sizeof *v);
    if (!v || sm_add(&v->map, PAD_TOKEN, strlen(PAD_TOKEN)) != HCL_TEXT_PAD ||
        sm_add(&v->map, UNK_TOKEN, strlen(UNK_TOKEN)) != HCL_TEXT_UNK) {
        hcl_vocab_free(v);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    *out = v;
    return HCL_OK;
}

hcl_status hcl_vocab_build(hcl_context *ctx, const hcl_text_corpus *corpus, const hcl_text_options *o,
                           hcl_vocab **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, corpus);
    HCL_CHECK_NULL(ctx, o);
    HCL_TRY(check_options(ctx, o));
    char *buf = token_buffer(ctx, corpus);
    if (!buf) return HCL_ERR_HOST_MEMORY;
    strmap counts = {0};
    hcl_status st = HCL_OK;
    for (size_t i = 0; st == HCL_OK && i < corpus->count; i++) {
        tokenizer t = {(const unsigned char *)corpus->texts[i], corpus->lengths[i], 0, o->level == HCL_TEXT_CHARS,
                       o->lowercase, buf};
        size_t len;
        int r;
        while ((r = tok_next(&t, &len)) != TOK_END)
            if (r == TOK_TOKEN && sm_add(&counts, buf, len) == SIZE_MAX) {
                st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "vocabulary: out of host memory at text %zu", i);
                break;
            }
    }
    free(buf);
    entry_ref *order = NULL;
    if (st == HCL_OK && counts.n) {
        order = malloc(counts.n * sizeof *order);
        if (!order) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    hcl_vocab *v = NULL;
    if (st == HCL_OK) st = vocab_new(ctx, &v);
    if (st == HCL_OK) {
        size_t kept = 0, min_count = o->min_count ? o->min_count : 1;
        for (size_t e = 0; e < counts.n; e++)
            if (counts.count[e] >= min_count) order[kept++] = (entry_ref){&counts, e};
        if (kept) qsort(order, kept, sizeof *order, by_count_then_bytes);
        size_t room = o->max_vocab ? o->max_vocab - 2 : (size_t)INT32_MAX - 2;
        for (size_t k = 0; st == HCL_OK && k < kept && k < room; k++) {
            size_t e = order[k].e;
            size_t id = sm_add(&v->map, sm_key(&counts, e), counts.key_len[e]);
            if (id == SIZE_MAX) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
            else v->map.count[id] = counts.count[e];
        }
    }
    free(order);
    sm_free(&counts);
    if (st != HCL_OK) {
        hcl_vocab_free(v);
        return st;
    }
    *out = v;
    return HCL_OK;
}

hcl_status hcl_vocab_save(hcl_context *ctx, const hcl_vocab *v, const char *path) {
    HCL_CHECK_NULL(ctx, v);
    HCL_CHECK_NULL(ctx, path);
    for (size_t e = 0; e < v->map.n; e++)
        if (memchr(sm_key(&v->map, e), '\n', v->map.key_len[e]))
            return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "vocab save %s: token %zu holds a line feed", path, e);
    char *text = malloc(v->map.keys_len ? v->map.keys_len : 1);
    if (!text) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    size_t o = 0;
    for (size_t e = 0; e < v->map.n; e++) {
        memcpy(text + o, sm_key(&v->map, e), v->map.key_len[e]);
        o += v->map.key_len[e];
        text[o++] = '\n';
    }
    hcl_write_chunk chunk = {text, o};
    hcl_status st = hcl_write_atomic(ctx, "vocab", path, &chunk, 1);
    free(text);
    return st;
}

static hcl_status vocab_parse(hcl_context *ctx, const char *path, char *p, size_t size, hcl_vocab *v) {
    char *end = p + size;
    size_t line_no = 1;
    for (; p < end; line_no++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *next = nl ? nl + 1 : end;
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len && p[len - 1] == '\r') len--;
        if (len == 0) return hcl_error(ctx, HCL_ERR_FORMAT, "vocab %s: line %zu: empty token", path, line_no);
        if (len > HCL_TEXT_MAX_TEXT)
            return hcl_error(ctx, HCL_ERR_FORMAT, "vocab %s: line %zu: token of %zu bytes (at most %zu)", path, line_no,
                             len, HCL_TEXT_MAX_TEXT);
        HCL_TRY(check_line(ctx, "vocab", path, line_no, p, len));
        if (line_no <= 2) {
            const char *want = line_no == 1 ? PAD_TOKEN : UNK_TOKEN;
            if (len != strlen(want) || memcmp(p, want, len))
                return hcl_error(ctx, HCL_ERR_FORMAT, "vocab %s: line %zu: \"%.*s\" where \"%s\" must be", path, line_no,
                                 (int)(len < 64 ? len : 64), p, want);
        } else {
            if (v->map.n >= (size_t)INT32_MAX)
                return hcl_error(ctx, HCL_ERR_FORMAT, "vocab %s: more than %d tokens", path, INT32_MAX);
            if (sm_find(&v->map, p, len, str_hash(p, len)) != SIZE_MAX)
                return hcl_error(ctx, HCL_ERR_FORMAT, "vocab %s: line %zu: token \"%.*s\" repeats an earlier line", path,
                                 line_no, (int)(len < 64 ? len : 64), p);
            if (sm_add(&v->map, p, len) == SIZE_MAX) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        }
        p = next;
    }
    if (line_no <= 2)
        return hcl_error(ctx, HCL_ERR_FORMAT, "vocab %s: %zu lines: \"<pad>\" and \"<unk>\" must come first", path,
                         line_no - 1);
    return HCL_OK;
}

hcl_status hcl_vocab_load(hcl_context *ctx, const char *path, hcl_vocab **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, path);
    char *text = NULL;
    size_t size = 0;
    HCL_TRY(hcl_read_file(ctx, "vocab", path, HCL_TEXT_MAX_BYTES, &text, &size));
    hcl_vocab *v = NULL;
    hcl_status st = vocab_new(ctx, &v);
    if (st == HCL_OK) st = vocab_parse(ctx, path, text, size, v);
    free(text);
    if (st != HCL_OK) {
        hcl_vocab_free(v);
        return st;
    }
    *out = v;
    return HCL_OK;
}

/* ---- encoding ---- */

void hcl_text_encoded_free(hcl_text_encoded *e) {
    if (!e) return;
    free(e->tokens);
    free(e->lengths);
    free(e->labels);
    free(e);
}

/* Encodes one text into row[0..T): the kept ids (a ring of the last T when keeping the end). */
static void encode_text(const hcl_vocab *v, const hcl_text_options *o, tokenizer *t, int32_t *row,
                        hcl_text_encoded *e, size_t i) {
    size_t T = (size_t)o->max_len, total = 0;
    size_t len;
    int r;
    while ((r = tok_next(t, &len)) != TOK_END) {
        int32_t id = r == TOK_TOKEN ? vocab_id(v, t->buf, len) : HCL_TEXT_UNK;
        if (!o->truncate_start && total == T) { /* one more token: the text is cut */
            total++;
            break;
        }
        row[total % T] = id;
        total++;
    }
    if (total > T) {
        e->truncated++;
        if (o->truncate_start) { /* rotate the ring so the oldest kept token comes first */
            size_t s = total % T;
            int32_t *tmp = row + T; /* scratch after the row (the caller allots 2T) */
            memcpy(tmp, row + s, (T - s) * sizeof *row);
            memcpy(tmp + (T - s), row, s * sizeof *row);
            memcpy(row, tmp, T * sizeof *row);
        }
    }
    size_t kept = total > T ? T : total;
    for (size_t k = 0; k < kept; k++) e->unknown += row[k] == HCL_TEXT_UNK;
    if (kept == 0) { /* no token: one UNK */
        row[0] = HCL_TEXT_UNK;
        kept = 1;
    }
    for (size_t k = kept; k < T; k++) row[k] = HCL_TEXT_PAD;
    e->lengths[i] = (int32_t)kept;
}

hcl_status hcl_text_encode(hcl_context *ctx, const hcl_text_corpus *corpus, const hcl_vocab *v,
                           const hcl_text_options *o, hcl_text_encoded **out) {
    HCL_CHECK_NULL(ctx, out);
    *out = NULL;
    HCL_CHECK_NULL(ctx, corpus);
    HCL_CHECK_NULL(ctx, v);
    HCL_CHECK_NULL(ctx, o);
    HCL_TRY(check_options(ctx, o));
    size_t n = corpus->count, T = (size_t)o->max_len;
    if (n && T > SIZE_MAX / sizeof(int32_t) / n)
        return hcl_error(ctx, HCL_ERR_OVERFLOW, "text encode: %zu x %zu tokens overflow", n, T);
    hcl_text_encoded *e = calloc(1, sizeof *e);
    char *buf = token_buffer(ctx, corpus);
    int32_t *scratch = malloc(2 * T * sizeof *scratch);
    hcl_status st = HCL_OK;
    if (e) {
        e->tokens = malloc((n ? n * T : 1) * sizeof *e->tokens);
        e->lengths = malloc((n ? n : 1) * sizeof *e->lengths);
        e->labels = malloc((n ? n : 1) * sizeof *e->labels);
    }
    if (!e || !buf || !scratch || !e->tokens || !e->lengths || !e->labels)
        st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "text encode: out of host memory for %zu x %zu tokens", n, T);
    if (st == HCL_OK) {
        e->count = n;
        e->max_len = o->max_len;
        e->classes = corpus->classes;
        for (size_t i = 0; i < n; i++) {
            tokenizer t = {(const unsigned char *)corpus->texts[i], corpus->lengths[i], 0, o->level == HCL_TEXT_CHARS,
                           o->lowercase, buf};
            encode_text(v, o, &t, scratch, e, i);
            memcpy(e->tokens + i * T, scratch, T * sizeof *scratch);
            e->labels[i] = corpus->labels[i];
        }
    }
    free(buf);
    free(scratch);
    if (st != HCL_OK) {
        hcl_text_encoded_free(e);
        return st;
    }
    *out = e;
    return HCL_OK;
}
