/* io: safetensors round trips of every dtype (odd shapes, scalars, empty tensors, metadata),
 * interop with the Python reference package when it is installed, corrupt and hostile files
 * (truncation at every length, byte flips all over the header, crafted headers for each rule),
 * atomic saves that leave the previous file intact, device tensors to and from files with dtype
 * conversion; IDX (plain, gzip, Fashion-MNIST when installed) and CIFAR-10 readers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "helpers.h"

/* ---- temp folders and files ---- */

typedef struct tmpdir { char dir[256]; char path[512]; } tmpdir;

static void tmp_open(tmpdir *t) {
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/halfcl-io-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
}
static const char *tmp_file(tmpdir *t, const char *name) {
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    return t->path;
}
static void tmp_close(tmpdir *t) { test_rm_rf(t->dir); }

/* Rewrites a file in place (no O_TRUNC: on ext4 with discard, freeing the blocks of a file on
 * every rewrite costs milliseconds, and the corruption tests rewrite thousands of times). */
static void write_bytes(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    ck_assert(n == 0 || pwrite(fd, data, n, 0) == (ssize_t)n);
    ck_assert_int_eq(ftruncate(fd, (off_t)n), 0);
    ck_assert_int_eq(close(fd), 0);
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

static uint64_t fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* ---- a sample set of entries covering every dtype ---- */

typedef struct sample {
    hcl_safetensors_entry e[12];
    int64_t shapes[12][4];
    unsigned char *data[12];
    size_t count;
} sample;

static void sample_add(sample *s, const char *name, hcl_dtype dt, int rank, const int64_t *shape) {
    size_t i = s->count++;
    size_t n = 1;
    for (int d = 0; d < rank; d++) { s->shapes[i][d] = shape[d]; n *= (size_t)shape[d]; }
    size_t bytes = n * hcl_dtype_size(dt);
    s->data[i] = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(s->data[i]);
    for (size_t b = 0; b < bytes; b++) s->data[i][b] = (unsigned char)(test_uniform(0, 256));
    s->e[i] = (hcl_safetensors_entry){name, dt, rank, s->shapes[i], s->data[i], bytes};
}

/* U8 first so that without reordering the F32 entries after it would be misaligned. */
static void sample_init(sample *s) {
    memset(s, 0, sizeof *s);
    sample_add(s, "u8.odd", HCL_U8, 1, (int64_t[]){13});
    sample_add(s, "w.f32", HCL_F32, 3, (int64_t[]){3, 5, 7});
    sample_add(s, "h.f16", HCL_F16, 2, (int64_t[]){1, 33});
    sample_add(s, "b.bf16", HCL_BF16, 1, (int64_t[]){7});
    sample_add(s, "i.i32", HCL_I32, 3, (int64_t[]){2, 1, 3});
    sample_add(s, "q.i8", HCL_I8, 2, (int64_t[]){3, 5});
    sample_add(s, "scalar", HCL_F32, 0, NULL);
    sample_add(s, "empty", HCL_U8, 2, (int64_t[]){0, 4});
    sample_add(s, "utf8-\xc3\xa9\xe2\x82\xac", HCL_F16, 4, (int64_t[]){2, 1, 1, 3});
}

static void sample_free(sample *s) {
    for (size_t i = 0; i < s->count; i++) free(s->data[i]);
}

static void check_loaded(hcl_context *ctx, const hcl_safetensors *f, const sample *s) {
    ck_assert_uint_eq(hcl_safetensors_count(f), s->count);
    for (size_t i = 0; i < s->count; i++) {
        const hcl_safetensors_entry *e = &s->e[i];
        const hcl_safetensors_tensor *t = hcl_safetensors_find(f, e->name);
        ck_assert_msg(t != NULL, "missing %s (%s)", e->name, hcl_last_error(ctx));
        ck_assert_str_eq(t->name, e->name);
        ck_assert_int_eq(t->dtype, e->dtype);
        ck_assert_int_eq(t->rank, e->rank);
        size_t n = 1;
        for (int d = 0; d < e->rank; d++) { ck_assert_int_eq(t->shape[d], e->shape[d]); n *= (size_t)e->shape[d]; }
        ck_assert_uint_eq(t->count, n);
        ck_assert_uint_eq(t->bytes, e->bytes);
        if (e->bytes) ck_assert_msg(!memcmp(t->data, e->data, e->bytes), "%s: data differ", e->name);
    }
    /* data order: offsets ascending and contiguous (data pointers increase by bytes) */
    for (size_t i = 1; i < hcl_safetensors_count(f); i++) {
        const hcl_safetensors_tensor *a = hcl_safetensors_at(f, i - 1), *b = hcl_safetensors_at(f, i);
        ck_assert_ptr_eq((const unsigned char *)a->data + a->bytes, b->data);
    }
    ck_assert_ptr_null(hcl_safetensors_at(f, s->count));
    ck_assert_ptr_null(hcl_safetensors_find(f, "no such tensor"));
}

START_TEST(safetensors_roundtrip_every_dtype) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    sample s;
    sample_init(&s);
    const char *path = tmp_file(&td, "all.safetensors");

    /* no metadata */
    CK_OK(ctx, hcl_safetensors_save(ctx, path, s.e, s.count, NULL, 0));
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    check_loaded(ctx, f, &s);
    ck_assert_uint_eq(hcl_safetensors_metadata_count(f), 0);
    ck_assert_ptr_null(hcl_safetensors_metadata(f, "format"));
    hcl_safetensors_free(f);

    /* the file layout: header padded to 8, no "__metadata__", every entry aligned to its dtype */
    size_t n = 0;
    unsigned char *raw = test_read_bytes(path, &n);
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--) hlen = (hlen << 8) | raw[b];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_le(8 + hlen, n);
    ck_assert(strstr((char *)raw + 8, "__metadata__") == NULL);
    free(raw);
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    const unsigned char *base = hcl_safetensors_at(f, 0)->data;
    for (size_t i = 0; i < hcl_safetensors_count(f); i++) {
        const hcl_safetensors_tensor *t = hcl_safetensors_at(f, i);
        size_t off = (size_t)((const unsigned char *)t->data - base);
        ck_assert_msg(off % hcl_dtype_size(t->dtype) == 0, "%s at data offset %zu is misaligned", t->name, off);
    }
    hcl_safetensors_free(f);

    /* with metadata (escapes and UTF-8), saved over the previous file */
    hcl_safetensors_meta meta[] = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n tab \t h\xc3\xa9llo"},
                                   {"empty", ""}};
    CK_OK(ctx, hcl_safetensors_save(ctx, path, s.e, s.count, meta, 3));
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    check_loaded(ctx, f, &s);
    ck_assert_uint_eq(hcl_safetensors_metadata_count(f), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(hcl_safetensors_metadata(f, meta[i].key), meta[i].value);
        ck_assert_str_eq(hcl_safetensors_metadata_at(f, i)->key, meta[i].key);
    }
    ck_assert_ptr_null(hcl_safetensors_metadata_at(f, 3));
    hcl_safetensors_free(f);
    ck_assert_int_eq(test_dir_entries(td.dir), 1); /* no temporary file left behind */

    /* no tensors at all, metadata only; then nothing at all */
    CK_OK(ctx, hcl_safetensors_save(ctx, path, NULL, 0, meta, 1));
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    ck_assert_uint_eq(hcl_safetensors_count(f), 0);
    ck_assert_str_eq(hcl_safetensors_metadata(f, "format"), "pt");
    hcl_safetensors_free(f);
    CK_OK(ctx, hcl_safetensors_save(ctx, path, NULL, 0, NULL, 0));
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    ck_assert_uint_eq(hcl_safetensors_count(f), 0);
    hcl_safetensors_free(f);
    hcl_safetensors_free(NULL);

    sample_free(&s);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

/* ---- interop with the Python reference package ---- */

static const char *script_path(void) {
    static char buf[1024];
    const char *root = getenv("HALFCL_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/tools/check_safetensors.py", root && *root ? root : ".");
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static int python_safetensors_available(void) {
    return system("python3 -c 'import safetensors, numpy' >/dev/null 2>&1") == 0;
}

START_TEST(safetensors_python_interop) {
    const char *script = script_path();
    if (!script || !python_safetensors_available()) {
        fprintf(stderr, "test_io: SKIPPED safetensors_python_interop: %s\n",
                !script ? "tools/check_safetensors.py not found (set HALFCL_SOURCE_ROOT)"
                        : "python3 cannot import safetensors and numpy (pip install safetensors numpy)");
        return;
    }
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    sample s;
    sample_init(&s);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_file(&td, "ours.safetensors"));
    hcl_safetensors_meta meta[] = {{"format", "pt"}, {"producer", "halfcl"}};
    CK_OK(ctx, hcl_safetensors_save(ctx, path, s.e, s.count, meta, 2));

    /* expected output: metadata then tensors, sorted by name (bytewise) */
    char expect[4096] = "";
    size_t len = 0;
    len += (size_t)snprintf(expect + len, sizeof expect - len, "meta format=pt\nmeta producer=halfcl\n");
    size_t order[12];
    for (size_t i = 0; i < s.count; i++) order[i] = i;
    for (size_t i = 0; i < s.count; i++)
        for (size_t j = i + 1; j < s.count; j++)
            if (strcmp(s.e[order[j]].name, s.e[order[i]].name) < 0) { size_t t = order[i]; order[i] = order[j]; order[j] = t; }
    static const char *const st_names[] = {"F32", "F16", "BF16", "I32", "U8", "I8"};
    for (size_t k = 0; k < s.count; k++) {
        const hcl_safetensors_entry *e = &s.e[order[k]];
        len += (size_t)snprintf(expect + len, sizeof expect - len, "tensor %s %s (", e->name, st_names[e->dtype]);
        for (int d = 0; d < e->rank; d++)
            len += (size_t)snprintf(expect + len, sizeof expect - len, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        len += (size_t)snprintf(expect + len, sizeof expect - len, ") %016llx\n",
                                (unsigned long long)fnv1a64(e->data, e->bytes));
    }
    char cmd[4096];
    const char *out = tmp_file(&td, "python.out");
    char out_path[512];
    snprintf(out_path, sizeof out_path, "%s", out);
    /* one interpreter start for both directions (each costs a second on a loaded machine) */
    const char *ref = tmp_file(&td, "python.safetensors");
    char ref_path[512];
    snprintf(ref_path, sizeof ref_path, "%s", ref);
    snprintf(cmd, sizeof cmd, "PYTHONIOENCODING=utf-8 python3 '%s' --write '%s' '%s' > '%s' 2>&1", script, ref_path,
             path, out_path);
    int rc = system(cmd);
    size_t n = 0;
    unsigned char *got = test_read_bytes(out_path, &n);
    got[n] = '\0';
    ck_assert_msg(rc == 0, "%s failed:\n%s", cmd, got);
    ck_assert_msg(!strcmp((char *)got, expect), "python sees:\n%s\nexpected:\n%s", got, expect);
    free(got);

    /* the other way: a file written by safetensors.numpy.save_file (values in the script) */
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, ref_path, &f));
    ck_assert_uint_eq(hcl_safetensors_count(f), 6);
    ck_assert_str_eq(hcl_safetensors_metadata(f, "format"), "pt");
    ck_assert_str_eq(hcl_safetensors_metadata(f, "note"), "h\xc3\xa9llo");
    const hcl_safetensors_tensor *t = hcl_safetensors_find(f, "a");
    ck_assert(t && t->dtype == HCL_F32 && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    for (size_t i = 0; i < 6; i++) { float v; memcpy(&v, (const char *)t->data + 4 * i, 4); ck_assert(v == 0.5f * (float)i - 1); }
    t = hcl_safetensors_find(f, "b");
    ck_assert(t && t->dtype == HCL_F16 && t->rank == 1 && t->count == 5);
    for (size_t i = 0; i < 5; i++) { uint16_t h; memcpy(&h, (const char *)t->data + 2 * i, 2); ck_assert(hcl_f16_to_f32(h) == (float)i / 4); }
    t = hcl_safetensors_find(f, "c");
    ck_assert(t && t->dtype == HCL_I32 && t->rank == 2 && t->shape[0] == 3 && t->shape[1] == 1);
    for (size_t i = 0; i < 3; i++) { int32_t v; memcpy(&v, (const char *)t->data + 4 * i, 4); ck_assert_int_eq(v, -1000 * (int)i); }
    t = hcl_safetensors_find(f, "d");
    ck_assert(t && t->dtype == HCL_U8 && t->count == 4);
    for (size_t i = 0; i < 4; i++) ck_assert_uint_eq(((const unsigned char *)t->data)[i], 250 + i);
    t = hcl_safetensors_find(f, "s");
    ck_assert(t && t->rank == 0 && t->count == 1);
    { float v; memcpy(&v, t->data, 4); ck_assert(v == 3.25f); }
    t = hcl_safetensors_find(f, "e");
    ck_assert(t && t->rank == 2 && t->shape[0] == 0 && t->count == 0 && t->bytes == 0);
    hcl_safetensors_free(f);

    sample_free(&s);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

/* ---- corrupt and hostile files ---- */

/* A file from a JSON header (padded to 8 with spaces) and `data_len` data bytes (value i&0x7f|1,
 * never a space, so a wrong header length shows). */
static void write_st(const char *path, const char *json, size_t data_len) {
    size_t jl = strlen(json), hl = (jl + 7) & ~(size_t)7;
    unsigned char *b = malloc(8 + hl + data_len + 1);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, jl);
    memset(b + 8 + jl, ' ', hl - jl);
    for (size_t i = 0; i < data_len; i++) b[8 + hl + i] = (unsigned char)((i & 0x7f) | 1);
    write_bytes(path, b, 8 + hl + data_len);
    free(b);
}

/* Loads `path` and asserts HCL_ERR_FORMAT with a message that names the file and contains `what`. */
static void expect_format(hcl_context *ctx, const char *path, const char *what, const char *label) {
    hcl_safetensors *f = (hcl_safetensors *)(uintptr_t)1;
    hcl_status st = hcl_safetensors_load(ctx, path, &f);
    ck_assert_msg(st == HCL_ERR_FORMAT, "%s: got %s (%s), want HCL_ERR_FORMAT", label, hcl_status_name(st),
                  hcl_last_error(ctx));
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(hcl_last_error(ctx), path), "%s: message does not name the file: %s", label, hcl_last_error(ctx));
    if (what)
        ck_assert_msg(strstr(hcl_last_error(ctx), what), "%s: message lacks \"%s\": %s", label, what, hcl_last_error(ctx));
}

#define U8E(name, n, b, e) "\"" name "\":{\"dtype\":\"U8\",\"shape\":[" #n "],\"data_offsets\":[" #b "," #e "]}"

START_TEST(safetensors_crafted_headers) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    const char *p = tmp_file(&td, "bad.safetensors");
    static const struct { const char *json; size_t data; const char *what; } cases[] = {
        {"{" U8E("a", 4, 0, 4) "," U8E("b", 4, 2, 6) "}", 6, "overlap"},
        {"{" U8E("a", 4, 0, 4) "," U8E("b", 4, 5, 9) "}", 9, "hole"},
        {"{" U8E("a", 4, 4, 8) "}", 8, "hole"},
        {"{" U8E("a", 4, 0, 4) "," U8E("b", 4, 0, 4) "}", 4, "overlap"},
        {"{" U8E("a", 4, 0, 4) "}", 5, "cover 4 data bytes but the file holds 5"},
        {"{" U8E("a", 4, 0, 4) "}", 3, "past the 3 data bytes"},
        {"{}", 1, "cover 0 data bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "spans 8 bytes but its F32 shape needs 12"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4, "spans 4 bytes"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype \"F64\""},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unsupported dtype"},
        {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype is not a string"},
        {"{" U8E("a", 4, 0, 4) "," U8E("a", 4, 4, 8) "}", 8, "duplicate tensor name \"a\""},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, "not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1, "not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1, "not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,1]}}", 1, "not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1, "shape is not an array"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "rank > 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387],\"data_offsets\":[0,4]}}", 4, "spans 4 bytes"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1, "not a pair"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1, "end before they begin"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,-1]}}", 1, "not non-negative integers"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551617]}}", 1, "not non-negative"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "lacks \"data_offsets\""},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "lacks \"dtype\""},
        {"{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "repeats \"dtype\""},
        {"{\"a\":1}", 0, "is not an object"},
        {"{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "has 0 bytes"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "is not a string"},
        {"{\"__metadata__\":[]}", 0, "is not an object"},
        {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate metadata key \"k\""},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\""},
        {"[]", 0, "does not start with '{'"},
        {" {}", 0, "does not start with '{'"},
        {"{\"a\":", 0, "not valid JSON"},
        {"{\"a\" 1}", 0, "not valid JSON"},
        {"{} x", 0, "unexpected byte 0x78"},
        {"{}{}", 0, "unexpected byte"},
        {"{\"\xff\":{}}", 0, "not valid UTF-8"},
        {"{\"\xc0\xaf\":{}}", 0, "not valid UTF-8"},
        {"{\"\xed\xa0\x80\":{}}", 0, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(p, cases[i].json, cases[i].data);
        char label[64];
        snprintf(label, sizeof label, "case %zu", i);
        expect_format(ctx, p, cases[i].what, label);
    }
    /* unknown fields inside an entry are ignored, as the reference implementation does */
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"extra\":[1]}}", 2);
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, p, &f));
    ck_assert_uint_eq(hcl_safetensors_count(f), 1);
    hcl_safetensors_free(f);
    /* zero-size entries may share an offset */
    write_st(p, "{" U8E("a", 0, 0, 0) "," U8E("b", 2, 0, 2) "," U8E("c", 0, 2, 2) "}", 2);
    CK_OK(ctx, hcl_safetensors_load(ctx, p, &f));
    ck_assert_uint_eq(hcl_safetensors_count(f), 3);
    hcl_safetensors_free(f);

    /* a NUL inside the header */
    unsigned char nul[24] = {16, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', 0, '"', ':', '1', '}', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    write_bytes(p, nul, sizeof nul);
    expect_format(ctx, p, "NUL", "nul");
    /* a name over the limit */
    size_t big = HCL_SAFETENSORS_MAX_NAME + 1;
    char *json = malloc(big + 64);
    ck_assert_ptr_nonnull(json);
    json[0] = '{';
    json[1] = '"';
    memset(json + 2, 'n', big);
    strcpy(json + 2 + big, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
    write_st(p, json, 1);
    expect_format(ctx, p, "1025 bytes", "long name");
    free(json);
    /* header length: larger than the file, over the sanity limit, too small; short files */
    unsigned char head[16] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    write_bytes(p, head, sizeof head);
    expect_format(ctx, p, "header length 1000 exceeds the 8 bytes", "length > file");
    head[0] = 0; head[1] = 0; head[2] = 0; head[3] = 0x10; /* 256 MiB */
    write_bytes(p, head, sizeof head);
    expect_format(ctx, p, "limit", "length > limit");
    head[3] = 0; head[0] = 1;
    write_bytes(p, head, sizeof head);
    expect_format(ctx, p, "too short for a JSON object", "length 1");
    write_bytes(p, head, 0);
    expect_format(ctx, p, "too short", "empty file");
    write_bytes(p, head, 5);
    expect_format(ctx, p, "too short", "5 bytes");
    /* not there / not a file */
    hcl_safetensors *g = NULL;
    CK_STATUS(ctx, hcl_safetensors_load(ctx, tmp_file(&td, "missing.safetensors"), &g), HCL_ERR_IO);
    ck_assert(strstr(hcl_last_error(ctx), "missing.safetensors"));
    CK_STATUS(ctx, hcl_safetensors_load(ctx, td.dir, &g), HCL_ERR_IO);
    CK_STATUS(ctx, hcl_safetensors_load(ctx, NULL, &g), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_safetensors_load(ctx, p, NULL), HCL_ERR_NULL_POINTER);
    ck_assert_ptr_null(g);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

/* Every truncation length and a byte flip at every header position and in the data: each load
 * either fails with HCL_ERR_FORMAT or (for a benign flip, e.g. inside a name) succeeds; never
 * anything else, never a crash or leak. */
START_TEST(safetensors_truncation_and_flips) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    sample s;
    sample_init(&s);
    const char *good = tmp_file(&td, "good.safetensors");
    CK_OK(ctx, hcl_safetensors_save(ctx, good, s.e, s.count, (hcl_safetensors_meta[]){{"k", "v"}}, 1));
    size_t n = 0;
    unsigned char *raw = test_read_bytes(good, &n);
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--) hlen = (hlen << 8) | raw[b];
    const char *p = tmp_file(&td, "mut.safetensors");
    char path[512];
    snprintf(path, sizeof path, "%s", p);

    for (size_t len = 0; len < n; len++) {
        write_bytes(path, raw, len);
        char label[64];
        snprintf(label, sizeof label, "truncated to %zu of %zu", len, n);
        expect_format(ctx, path, NULL, label);
    }
    /* flips of the header length bytes always fail */
    for (int b = 0; b < 8; b++) {
        for (int bit = 0; bit < 8; bit += 3) {
            raw[b] ^= (unsigned char)(1u << bit);
            write_bytes(path, raw, n);
            char label[64];
            snprintf(label, sizeof label, "length byte %d bit %d", b, bit);
            expect_format(ctx, path, NULL, label);
            raw[b] ^= (unsigned char)(1u << bit);
        }
    }
    /* a changed digit in any offset always fails (the span no longer matches the shape) */
    int offsets_seen = 0;
    for (size_t i = 8; i + 16 < 8 + hlen; i++) {
        if (memcmp(raw + i, "\"data_offsets\":[", 16)) continue;
        for (int which = 0; which < 2; which++) {
            size_t at = i + 16;
            if (which) while (raw[at] != ',') at++;
            at += (size_t)which;
            unsigned char keep = raw[at];
            raw[at] = (unsigned char)(keep == '9' ? '8' : keep + 1);
            write_bytes(path, raw, n);
            char label[64];
            snprintf(label, sizeof label, "offset digit at %zu", at);
            expect_format(ctx, path, NULL, label);
            raw[at] = keep;
        }
        offsets_seen++;
    }
    ck_assert_int_eq(offsets_seen, (int)s.count);
    /* flips in the JSON: FORMAT or a clean load */
    int failures = 0, loads = 0;
    static const unsigned char flips[] = {0x01, 0x20, 0x80};
    for (size_t i = 8; i < 8 + hlen; i++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            raw[i] ^= flips[k];
            write_bytes(path, raw, n);
            hcl_safetensors *f = NULL;
            hcl_status st = hcl_safetensors_load(ctx, path, &f);
            ck_assert_msg(st == HCL_OK || st == HCL_ERR_FORMAT, "flip at %zu: %s (%s)", i, hcl_status_name(st),
                          hcl_last_error(ctx));
            if (st == HCL_OK) {
                loads++;
                /* whatever loaded is self-consistent */
                for (size_t t = 0; t < hcl_safetensors_count(f); t++) {
                    const hcl_safetensors_tensor *e = hcl_safetensors_at(f, t);
                    ck_assert_uint_eq(e->bytes, e->count * hcl_dtype_size(e->dtype));
                    ck_assert_ptr_eq(hcl_safetensors_find(f, e->name), e);
                }
            } else {
                failures++;
                ck_assert_ptr_null(f);
                ck_assert_msg(strstr(hcl_last_error(ctx), path), "flip at %zu: %s", i, hcl_last_error(ctx));
            }
            hcl_safetensors_free(f);
            raw[i] ^= flips[k];
        }
    }
    ck_assert_int_gt(failures, 0);
    ck_assert_int_gt(loads, 0);
    /* flipping data bytes changes values only */
    raw[n - 1] ^= 0xff;
    write_bytes(path, raw, n);
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    hcl_safetensors_free(f);
    free(raw);
    sample_free(&s);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

/* ---- atomic save ---- */

static void expect_unchanged(const char *path, const unsigned char *want, size_t want_n) {
    size_t n = 0;
    unsigned char *b = test_read_bytes(path, &n);
    ck_assert_msg(n == want_n && !memcmp(b, want, n), "%s changed", path);
    free(b);
}

START_TEST(safetensors_atomic_save) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    sample s;
    sample_init(&s);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_file(&td, "model.safetensors"));
    CK_OK(ctx, hcl_safetensors_save(ctx, path, s.e, s.count, NULL, 0));
    size_t n = 0;
    unsigned char *before = test_read_bytes(path, &n);

    /* invalid requests: each leaves the old file byte-identical and no temporary file */
    hcl_safetensors_entry e[2] = {s.e[1], s.e[2]};
    e[1].bytes += 2;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(hcl_last_error(ctx), "h.f16"));
    expect_unchanged(path, before, n);
    e[1] = s.e[2];
    e[1].data = NULL;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_NULL_POINTER);
    e[1] = s.e[1];
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(hcl_last_error(ctx), "duplicate entry name \"w.f32\""));
    e[1] = s.e[2];
    e[1].dtype = (hcl_dtype)42;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_DTYPE);
    e[1] = s.e[2];
    e[1].rank = 9;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_SHAPE);
    int64_t neg[2] = {-1, 2};
    e[1] = s.e[2];
    e[1].shape = neg;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_SHAPE);
    int64_t huge[3] = {1ll << 40, 1ll << 40, 1ll << 40};
    e[1] = s.e[2];
    e[1].rank = 3;
    e[1].shape = huge;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_OVERFLOW);
    e[1] = s.e[2];
    e[1].name = "__metadata__";
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    e[1].name = "bad\xff";
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    e[1].name = "";
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_INVALID_ARGUMENT);
    e[1].name = NULL;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0), HCL_ERR_NULL_POINTER);
    e[1] = s.e[2];
    hcl_safetensors_meta dup[2] = {{"k", "a"}, {"k", "b"}};
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, dup, 2), HCL_ERR_INVALID_ARGUMENT);
    dup[1].value = NULL;
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, e, 2, dup, 2), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_safetensors_save(ctx, path, NULL, 2, NULL, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_safetensors_save(ctx, NULL, e, 2, NULL, 0), HCL_ERR_NULL_POINTER);
    expect_unchanged(path, before, n);
    ck_assert_int_eq(test_dir_entries(td.dir), 1);

    /* OS failures: a folder that does not exist, a parent that is a file, a target that is a
     * non-empty folder (the rename fails after the temporary file was written: it is removed) */
    char other[600];
    snprintf(other, sizeof other, "%s/no/such/dir/x.safetensors", td.dir);
    CK_STATUS(ctx, hcl_safetensors_save(ctx, other, e, 2, NULL, 0), HCL_ERR_IO);
    ck_assert(strstr(hcl_last_error(ctx), "x.safetensors"));
    snprintf(other, sizeof other, "%s/x.safetensors", path);
    CK_STATUS(ctx, hcl_safetensors_save(ctx, other, e, 2, NULL, 0), HCL_ERR_IO);
    snprintf(other, sizeof other, "%s/folder", td.dir);
    ck_assert_int_eq(mkdir(other, 0700), 0);
    char inner[700];
    snprintf(inner, sizeof inner, "%s/keep", other);
    write_bytes(inner, "x", 1);
    CK_STATUS(ctx, hcl_safetensors_save(ctx, other, e, 2, NULL, 0), HCL_ERR_IO);
    ck_assert(strstr(hcl_last_error(ctx), "rename"));
    ck_assert_int_eq(test_dir_entries(td.dir), 2); /* model.safetensors and folder: no temporary */
    expect_unchanged(path, before, n);

    /* a stale temporary of ours (same pid) is replaced, and a valid save replaces the file */
    char stale[600];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
    write_bytes(stale, "stale", 5);
    CK_OK(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0));
    ck_assert_int_eq(access(stale, F_OK), -1);
    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    ck_assert_uint_eq(hcl_safetensors_count(f), 2);
    hcl_safetensors_free(f);

    /* temporaries of writers that were killed (dead pids) are removed by the next save of the
     * same path; a live writer's (the test runner, our parent), another target's and names
     * that are not temporaries stay */
    long dead = test_dead_pid();
    const char *left[] = {".tmp.%ld", ".tmp.%ld.0x55d0c0ffee"}, *kept[] = {".tmp.%ld", ".tmp.x%ld", ".tmpx.%ld"};
    char name[700];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s", path);
        snprintf(name + strlen(name), sizeof name - strlen(name), left[i], dead);
        write_bytes(name, "stale", 5);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s", path);
        snprintf(name + strlen(name), sizeof name - strlen(name), kept[i], i == 0 ? (long)getppid() : dead);
        write_bytes(name, "keep", 4);
    }
    snprintf(name, sizeof name, "%s/other.safetensors.tmp.%ld", td.dir, dead);
    write_bytes(name, "other", 5);
    ck_assert_int_eq(test_dir_entries(td.dir), 2 + 2 + 3 + 1);
    CK_OK(ctx, hcl_safetensors_save(ctx, path, e, 2, NULL, 0));
    ck_assert_int_eq(test_dir_entries(td.dir), 2 + 3 + 1);
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s", path);
        snprintf(name + strlen(name), sizeof name - strlen(name), left[i], dead);
        ck_assert_msg(access(name, F_OK) == -1, "%s was not removed", name);
    }
    snprintf(name, sizeof name, "%s.tmp.%ld", path, (long)getppid());
    ck_assert_int_eq(access(name, F_OK), 0);
    free(before);
    sample_free(&s);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

/* ---- device tensors ---- */

START_TEST(safetensors_device_tensors) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_file(&td, "dev.safetensors"));
    static const hcl_dtype dts[5] = {HCL_F32, HCL_F16, HCL_BF16, HCL_I32, HCL_U8};
    static const int64_t shapes[5][3] = {{3, 7, 2}, {33, 1, 1}, {5, 4, 1}, {2, 3, 1}, {11, 1, 1}};
    static const int ranks[5] = {3, 1, 2, 2, 1};
    const char *names[6] = {"f32", "f16", "bf16", "i32", "u8", "scalar"};
    hcl_tensor *t[6];
    float *host[6];
    for (int i = 0; i < 5; i++) {
        size_t cnt = 1;
        for (int d = 0; d < ranks[i]; d++) cnt *= (size_t)shapes[i][d];
        host[i] = malloc(cnt * sizeof(float));
        ck_assert_ptr_nonnull(host[i]);
        if (dts[i] == HCL_I32) for (size_t k = 0; k < cnt; k++) host[i][k] = (float)((int)k * 7919 - 20000);
        else if (dts[i] == HCL_U8) for (size_t k = 0; k < cnt; k++) host[i][k] = (float)((k * 37) & 255);
        else { test_fill_normal(host[i], cnt, 3.0); test_round_to_dtype(host[i], cnt, dts[i]); }
        t[i] = test_tensor_from(ctx, dts[i], ranks[i], shapes[i], host[i]);
    }
    host[5] = malloc(sizeof(float));
    host[5][0] = -2.5f;
    t[5] = test_tensor_from(ctx, HCL_F32, 0, NULL, host[5]);
    hcl_safetensors_meta meta = {"step", "12"};
    CK_OK(ctx, hcl_safetensors_save_tensors(ctx, path, names, (const hcl_tensor *const *)t, 6, &meta, 1));

    hcl_safetensors *f = NULL;
    CK_OK(ctx, hcl_safetensors_load(ctx, path, &f));
    ck_assert_str_eq(hcl_safetensors_metadata(f, "step"), "12");
    for (int i = 0; i < 6; i++) {
        hcl_tensor *back = test_tensor_poisoned(ctx, t[i]->dtype, t[i]->rank, t[i]->shape);
        CK_OK(ctx, hcl_safetensors_load_tensor(ctx, f, names[i], back, 0));
        float *got = test_download(back);
        for (size_t k = 0; k < back->count; k++)
            ck_assert_msg(got[k] == host[i][k], "%s[%zu] = %g, want %g", names[i], k, got[k], host[i][k]);
        free(got);
        hcl_tensor_free(back);
    }
    /* conversions between float dtypes go through F32 with round to nearest even */
    for (int src = 0; src < 3; src++) {
        for (int dst = 0; dst < 3; dst++) {
            if (src == dst) continue;
            hcl_tensor *back = test_tensor_poisoned(ctx, dts[dst], ranks[src], shapes[src]);
            CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, f, names[src], back, 0), HCL_ERR_DTYPE);
            CK_OK(ctx, hcl_safetensors_load_tensor(ctx, f, names[src], back, 1));
            float *got = test_download(back);
            float *want = malloc(back->count * sizeof *want);
            memcpy(want, host[src], back->count * sizeof *want);
            test_round_to_dtype(want, back->count, dts[dst]);
            for (size_t k = 0; k < back->count; k++)
                ck_assert_msg(got[k] == want[k], "%s -> %s [%zu] = %g, want %g", names[src],
                              hcl_dtype_name(dts[dst]), k, got[k], want[k]);
            free(got);
            free(want);
            hcl_tensor_free(back);
        }
    }
    /* errors: integer conversion, shape, rank, missing name, other context */
    hcl_tensor *wrong = NULL;
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, ranks[3], shapes[3], &wrong));
    CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, f, "i32", wrong, 1), HCL_ERR_DTYPE);
    hcl_tensor_free(wrong);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 3, (int64_t[]){3, 2, 7}, &wrong));
    CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, f, "f32", wrong, 0), HCL_ERR_SHAPE);
    ck_assert(strstr(hcl_last_error(ctx), "(3,7,2)") && strstr(hcl_last_error(ctx), "(3,2,7)"));
    hcl_tensor_free(wrong);
    CK_OK(ctx, hcl_tensor_create(ctx, HCL_F32, 2, (int64_t[]){21, 2}, &wrong));
    CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, f, "f32", wrong, 0), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, f, "nope", wrong, 0), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(hcl_last_error(ctx), "nope"));
    CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, f, NULL, wrong, 0), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_safetensors_load_tensor(ctx, NULL, "f32", wrong, 0), HCL_ERR_NULL_POINTER);
    hcl_tensor_free(wrong);
    hcl_safetensors_free(f);
    const hcl_tensor *none[1] = {NULL};
    CK_STATUS(ctx, hcl_safetensors_save_tensors(ctx, path, names, none, 1, NULL, 0), HCL_ERR_NULL_POINTER);
    const char *dup_names[2] = {"x", "x"};
    CK_STATUS(ctx, hcl_safetensors_save_tensors(ctx, path, dup_names, (const hcl_tensor *const *)t, 2, NULL, 0),
              HCL_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 6; i++) { hcl_tensor_free(t[i]); free(host[i]); }
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

/* ---- IDX ---- */

/* An IDX image: magic, dims, then `data_n` bytes of pattern (i * 7 + 3). */
static unsigned char *make_idx(int type, int rank, const uint32_t *dims, size_t data_n, size_t *n) {
    *n = 4 + 4 * (size_t)rank + data_n;
    unsigned char *b = malloc(*n);
    ck_assert_ptr_nonnull(b);
    b[0] = 0; b[1] = 0; b[2] = (unsigned char)type; b[3] = (unsigned char)rank;
    for (int i = 0; i < rank; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    for (size_t i = 0; i < data_n; i++) b[4 + 4 * (size_t)rank + i] = (unsigned char)(i * 7 + 3);
    return b;
}

static void expect_idx_error(hcl_context *ctx, const char *path, hcl_status want, const char *what) {
    hcl_idx *idx = (hcl_idx *)(uintptr_t)1;
    hcl_status st = hcl_idx_load(ctx, path, &idx);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", what, hcl_status_name(st), hcl_last_error(ctx), hcl_status_name(want));
    ck_assert_ptr_null(idx);
    ck_assert_msg(strstr(hcl_last_error(ctx), path), "message does not name the file: %s", hcl_last_error(ctx));
    ck_assert_msg(strstr(hcl_last_error(ctx), what), "message lacks \"%s\": %s", what, hcl_last_error(ctx));
}

START_TEST(idx_plain_gzip_and_errors) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    char plain[512], gz[512];
    snprintf(plain, sizeof plain, "%s", tmp_file(&td, "images-idx3-ubyte"));
    snprintf(gz, sizeof gz, "%s", tmp_file(&td, "images-idx3-ubyte.gz"));
    const uint32_t dims[3] = {3, 5, 7};
    size_t n = 0;
    unsigned char *b = make_idx(0x08, 3, dims, 105, &n);
    write_bytes(plain, b, n);
    write_gz(gz, b, n);
    const char *paths[2] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        hcl_idx *idx = NULL;
        CK_OK(ctx, hcl_idx_load(ctx, paths[k], &idx));
        ck_assert_int_eq(idx->dtype, HCL_U8);
        ck_assert_int_eq(idx->rank, 3);
        ck_assert(idx->shape[0] == 3 && idx->shape[1] == 5 && idx->shape[2] == 7);
        ck_assert_uint_eq(idx->count, 105);
        ck_assert(!memcmp(idx->data, b + 16, 105));
        hcl_idx_free(idx);
    }
    hcl_idx_free(NULL);
    /* truncated data, plain and gzip; truncated dims; truncated gzip stream */
    write_bytes(plain, b, n - 1);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "truncated: 104 of the 105");
    write_gz(gz, b, n - 10);
    expect_idx_error(ctx, gz, HCL_ERR_FORMAT, "truncated: 95 of the 105");
    write_bytes(plain, b, 10);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "truncated in the dimensions");
    write_bytes(plain, b, 3);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "too short for the magic");
    write_gz(gz, b, n);
    size_t gn = 0;
    unsigned char *gzb = test_read_bytes(gz, &gn);
    write_bytes(gz, gzb, gn - 12);
    expect_idx_error(ctx, gz, HCL_ERR_FORMAT, "gzip");
    gzb[gn / 2] ^= 0x55; /* corrupt deflate data or CRC */
    write_bytes(gz, gzb, gn);
    {
        hcl_idx *idx = NULL;
        hcl_status st = hcl_idx_load(ctx, gz, &idx);
        ck_assert_msg(st == HCL_ERR_FORMAT, "corrupt gzip: %s (%s)", hcl_status_name(st), hcl_last_error(ctx));
        ck_assert_ptr_null(idx);
    }
    free(gzb);
    /* trailing data */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    write_bytes(plain, longer, n + 1);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "more data than the 105 bytes");
    free(longer);
    free(b);
    /* bad magic, unsupported type, rank 0 / 9, zero dim, wrong dims, absurd dims */
    b = make_idx(0x08, 3, dims, 105, &n);
    b[0] = 1;
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "bad magic 01 00 08 03");
    free(b);
    b = make_idx(0x0D, 3, dims, 105 * 4, &n);
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "type 0x0d is not supported");
    free(b);
    b = make_idx(0x08, 0, dims, 1, &n);
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "rank 0");
    free(b);
    const uint32_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    b = make_idx(0x08, 9, nine, 1, &n);
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "rank 9");
    free(b);
    const uint32_t zero[2] = {4, 0};
    b = make_idx(0x08, 2, zero, 0, &n);
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "dimension 1 is 0");
    free(b);
    const uint32_t wrong[3] = {3, 5, 8};
    b = make_idx(0x08, 3, wrong, 105, &n);
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "truncated: 105 of the 120");
    free(b);
    const uint32_t absurd[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    b = make_idx(0x08, 3, absurd, 16, &n);
    write_bytes(plain, b, n);
    expect_idx_error(ctx, plain, HCL_ERR_FORMAT, "overflows");
    free(b);
    const uint32_t big[2] = {0xffffffffu, 0xfffu}; /* claims 2^44 bytes: must not allocate them */
    b = make_idx(0x08, 2, big, 16, &n);
    write_gz(gz, b, n);
    expect_idx_error(ctx, gz, HCL_ERR_FORMAT, "truncated: 16 of the");
    free(b);
    expect_idx_error(ctx, tmp_file(&td, "missing-idx"), HCL_ERR_IO, "missing-idx");
    hcl_idx *idx = NULL;
    CK_STATUS(ctx, hcl_idx_load(ctx, NULL, &idx), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_idx_load(ctx, plain, NULL), HCL_ERR_NULL_POINTER);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

START_TEST(idx_fashion_mnist) {
    char path[256];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", FASHION_DIR);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "test_io: SKIPPED idx_fashion_mnist: %s not installed (apt-get install dataset-fashion-mnist)\n",
                FASHION_DIR);
        return;
    }
    hcl_context *ctx = test_context();
    static const struct { const char *file; size_t n; int images; } sets[] = {
        {"t10k-labels-idx1-ubyte.gz", 10000, 0}, {"t10k-images-idx3-ubyte.gz", 10000, 1},
        {"train-labels-idx1-ubyte.gz", 60000, 0}, {"train-images-idx3-ubyte.gz", 60000, 1},
    };
    for (size_t s = 0; s < 4; s++) {
        snprintf(path, sizeof path, "%s/%s", FASHION_DIR, sets[s].file);
        hcl_idx *idx = NULL;
        CK_OK(ctx, hcl_idx_load(ctx, path, &idx));
        ck_assert_int_eq(idx->rank, sets[s].images ? 3 : 1);
        ck_assert_int_eq(idx->shape[0], (int64_t)sets[s].n);
        if (sets[s].images) {
            ck_assert(idx->shape[1] == 28 && idx->shape[2] == 28);
            ck_assert_uint_eq(idx->count, sets[s].n * 784);
            size_t nonzero = 0;
            for (size_t i = 0; i < idx->count; i++) nonzero += idx->data[i] != 0;
            ck_assert_uint_gt(nonzero, idx->count / 4); /* real pictures, not zeros */
        } else {
            /* Fashion-MNIST is balanced: n/10 of each of the 10 classes */
            size_t hist[256] = {0};
            for (size_t i = 0; i < idx->count; i++) hist[idx->data[i]]++;
            for (int c = 0; c < 10; c++) ck_assert_uint_eq(hist[c], sets[s].n / 10);
        }
        hcl_idx_free(idx);
    }
    hcl_context_free(ctx);
}
END_TEST

/* ---- CIFAR-10 ---- */

START_TEST(cifar10_reader) {
    hcl_context *ctx = test_context();
    tmpdir td;
    tmp_open(&td);
    char plain[512], gz[512];
    snprintf(plain, sizeof plain, "%s", tmp_file(&td, "data_batch_1.bin"));
    snprintf(gz, sizeof gz, "%s", tmp_file(&td, "data_batch_1.bin.gz"));
    const size_t n = 5, rec = 3073;
    unsigned char *b = malloc(n * rec + 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++) {
        b[i * rec] = (unsigned char)((i * 3) % 10);
        for (size_t k = 0; k < 3072; k++) b[i * rec + 1 + k] = (unsigned char)(i * 31 + k * 7);
    }
    write_bytes(plain, b, n * rec);
    write_gz(gz, b, n * rec);
    const char *paths[2] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        hcl_cifar10 *c = NULL;
        CK_OK(ctx, hcl_cifar10_load(ctx, paths[k], &c));
        ck_assert_uint_eq(c->count, n);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_eq(c->labels[i], (i * 3) % 10);
            /* (N,3,32,32): channel ch, row y, column x of record i */
            for (size_t ch = 0; ch < 3; ch++)
                for (size_t y = 0; y < 32; y += 5)
                    for (size_t x = 0; x < 32; x += 3) {
                        size_t k2 = ch * 1024 + y * 32 + x;
                        ck_assert_uint_eq(c->images[i * 3072 + k2], (unsigned char)(i * 31 + k2 * 7));
                    }
        }
        hcl_cifar10_free(c);
    }
    hcl_cifar10_free(NULL);
    hcl_cifar10 *c = (hcl_cifar10 *)(uintptr_t)1;
    write_bytes(plain, b, n * rec - 1);
    CK_STATUS(ctx, hcl_cifar10_load(ctx, plain, &c), HCL_ERR_FORMAT);
    ck_assert_ptr_null(c);
    ck_assert(strstr(hcl_last_error(ctx), "15364 bytes is not a non-zero multiple of the 3073") &&
              strstr(hcl_last_error(ctx), plain));
    write_bytes(plain, b, n * rec + 1);
    CK_STATUS(ctx, hcl_cifar10_load(ctx, plain, &c), HCL_ERR_FORMAT);
    write_bytes(plain, b, 0);
    CK_STATUS(ctx, hcl_cifar10_load(ctx, plain, &c), HCL_ERR_FORMAT);
    b[2 * rec] = 10;
    write_bytes(plain, b, n * rec);
    CK_STATUS(ctx, hcl_cifar10_load(ctx, plain, &c), HCL_ERR_FORMAT);
    ck_assert(strstr(hcl_last_error(ctx), "record 2 has label 10"));
    write_gz(gz, b, n * rec);
    CK_STATUS(ctx, hcl_cifar10_load(ctx, gz, &c), HCL_ERR_FORMAT);
    CK_STATUS(ctx, hcl_cifar10_load(ctx, tmp_file(&td, "missing.bin"), &c), HCL_ERR_IO);
    ck_assert(strstr(hcl_last_error(ctx), "missing.bin"));
    CK_STATUS(ctx, hcl_cifar10_load(ctx, plain, NULL), HCL_ERR_NULL_POINTER);
    free(b);
    tmp_close(&td);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("safetensors");
    tcase_add_test(tc, safetensors_roundtrip_every_dtype);
    tcase_add_test(tc, safetensors_crafted_headers);
    tcase_add_test(tc, safetensors_truncation_and_flips);
    tcase_add_test(tc, safetensors_atomic_save);
    tcase_add_test(tc, safetensors_device_tensors);
    suite_add_tcase(s, tc);
    tc = tcase_create("interop"); /* starts a Python interpreter: allow for a loaded machine */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, safetensors_python_interop);
    suite_add_tcase(s, tc);
    tc = tcase_create("datasets");
    tcase_add_test(tc, idx_plain_gzip_and_errors);
    tcase_add_test(tc, idx_fashion_mnist);
    tcase_add_test(tc, cifar10_reader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
