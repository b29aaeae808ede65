/* text: TSV reading (good files, CRLF, BOM, gzip, every rejected line with its number, limits),
 * the aclImdb reader on a small folder tree, the stratified seeded split, word and character
 * tokenizers (UTF-8, lowercasing, invalid bytes), vocabulary order and limits, building from the
 * training split only, encoding against a reference (truncation from either end, padding), the
 * vocabulary file (round trip, atomic write, rejected files), the token batcher on the device, and
 * tools/make_text_datasets.sh on the installed Debian word lists and fortunes. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include "helpers.h"

/* ---- files ---- */

static void write_str(const char *path, const char *s) { test_write_file(path, s, strlen(s)); }

static void make_dir(const char *path) { ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s", path); }

/* ---- corpora and encodings ---- */

static hcl_text_corpus *corpus_of(hcl_context *ctx, const char *const *texts, const int32_t *labels, size_t n,
                                  size_t classes) {
    hcl_text_corpus *c = NULL;
    CK_OK(ctx, hcl_text_corpus_create(ctx, texts, labels, n, classes, NULL, &c));
    return c;
}

static hcl_vocab *vocab_of(hcl_context *ctx, const hcl_text_corpus *c, const hcl_text_options *o) {
    hcl_vocab *v = NULL;
    CK_OK(ctx, hcl_vocab_build(ctx, c, o, &v));
    return v;
}

static hcl_text_encoded *encode(hcl_context *ctx, const hcl_text_corpus *c, const hcl_vocab *v,
                                const hcl_text_options *o) {
    hcl_text_encoded *e = NULL;
    CK_OK(ctx, hcl_text_encode(ctx, c, v, o, &e));
    return e;
}

/* The ids of one row as a string "3 4 0 0" (static buffer). */
static const char *row_str(const hcl_text_encoded *e, size_t i) {
    static char s[4096];
    size_t o = 0;
    for (int64_t k = 0; k < e->max_len && o < sizeof s - 16; k++)
        o += (size_t)snprintf(s + o, sizeof s - o, k ? " %d" : "%d", (int)e->tokens[i * (size_t)e->max_len + (size_t)k]);
    return s;
}

static void assert_tsv_error(hcl_context *ctx, const char *path, hcl_status want, const char *needle) {
    hcl_text_corpus *c = (hcl_text_corpus *)(uintptr_t)1;
    CK_STATUS(ctx, hcl_text_read_tsv(ctx, path, &c), want);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(hcl_last_error(ctx), needle), "message \"%s\" lacks \"%s\"", hcl_last_error(ctx), needle);
}

/* ------------------------------------------------------------------ TSV */

START_TEST(tsv_good_files) {
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("text");
    char *p = test_path_in(dir, "good.tsv");
    /* BOM, CRLF and LF lines, blank lines, a tab inside the text, an empty text, no final newline */
    write_str(p, "\xef\xbb\xbf"
                 "pos\tgreat film\r\n"
                 "neg\tdull\n"
                 "\n"
                 "\r\n"
                 "zz\ttab\tinside\n"
                 "neg\t\n"
                 "pos\tcaf\xc3\xa9 \xc3\x9c" "ber");
    hcl_text_corpus *c = NULL;
    CK_OK(ctx, hcl_text_read_tsv(ctx, p, &c));
    ck_assert_uint_eq(c->count, 5);
    ck_assert_uint_eq(c->classes, 3);
    ck_assert_str_eq(c->class_names[0], "neg"); /* byte order, not order of appearance */
    ck_assert_str_eq(c->class_names[1], "pos");
    ck_assert_str_eq(c->class_names[2], "zz");
    const char *texts[5] = {"great film", "dull", "tab\tinside", "", "caf\xc3\xa9 \xc3\x9c" "ber"};
    const int32_t labels[5] = {1, 0, 2, 0, 1};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(c->texts[i], texts[i]);
        ck_assert_uint_eq(c->lengths[i], strlen(texts[i]));
        ck_assert_int_eq(c->labels[i], labels[i]);
    }
    hcl_text_corpus_free(c);
    /* the same lines gzip-compressed, in another order: same class ids */
    char *gz = test_path_in(dir, "good.tsv.gz");
    gzFile g = gzopen(gz, "wb");
    ck_assert_ptr_nonnull(g);
    const char *body = "zz\tz\npos\tp\nneg\tn\n";
    ck_assert_int_eq(gzwrite(g, body, (unsigned)strlen(body)), (int)strlen(body));
    ck_assert_int_eq(gzclose(g), Z_OK);
    CK_OK(ctx, hcl_text_read_tsv(ctx, gz, &c));
    ck_assert_uint_eq(c->count, 3);
    ck_assert_int_eq(c->labels[0], 2);
    ck_assert_int_eq(c->labels[1], 1);
    ck_assert_int_eq(c->labels[2], 0);
    hcl_text_corpus_free(c);
    hcl_text_corpus_free(NULL);
    free(gz);
    free(p);
    test_rm_rf(dir);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(tsv_bad_files) {
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("text");
    char *p = test_path_in(dir, "bad.tsv");
    static const struct { const char *body; size_t len; const char *needle; } cases[] = {
        {"a\tx\nno tab here\n", 0, "line 2: no tab"},
        {"a\tx\r\nb\ty\r\n\tempty label\r\n", 0, "line 3: empty label"},
        {"a\tok\nb\tbad \xff byte\n", 0, "line 2: invalid UTF-8 at byte 7 (0xff)"},
        {"a\tok\nb\toverlong \xc0\xaf\n", 0, "line 2: invalid UTF-8 at byte 12 (0xc0)"},
        {"a\tok\n\nb\ttruncated \xe2\x82\n", 0, "line 3: invalid UTF-8 at byte 13"},
        {"a\tnul\0inside\n", 13, "line 1: NUL byte at byte 6"},
        {"", 0, "no data lines"},
        {"\n\r\n\n", 0, "no data lines"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        test_write_file(p, cases[i].body, cases[i].len ? cases[i].len : strlen(cases[i].body));
        assert_tsv_error(ctx, p, HCL_ERR_FORMAT, cases[i].needle);
        ck_assert(strstr(hcl_last_error(ctx), p)); /* the file is named */
    }
    /* a label over the limit */
    char *line = malloc(HCL_TEXT_MAX_LABEL + 16);
    ck_assert_ptr_nonnull(line);
    memset(line, 'L', HCL_TEXT_MAX_LABEL + 1);
    strcpy(line + HCL_TEXT_MAX_LABEL + 1, "\tx\n");
    write_str(p, line);
    assert_tsv_error(ctx, p, HCL_ERR_FORMAT, "line 1: label of 257 bytes");
    memset(line, 'L', HCL_TEXT_MAX_LABEL); /* exactly at the limit: fine */
    strcpy(line + HCL_TEXT_MAX_LABEL, "\tx\n");
    write_str(p, line);
    hcl_text_corpus *c = NULL;
    CK_OK(ctx, hcl_text_read_tsv(ctx, p, &c));
    ck_assert_uint_eq(strlen(c->class_names[0]), HCL_TEXT_MAX_LABEL);
    hcl_text_corpus_free(c);
    free(line);
    /* a line over HCL_TEXT_MAX_TEXT (the limit itself is accepted) */
    size_t big = HCL_TEXT_MAX_TEXT + 1;
    char *huge = malloc(big + 32);
    ck_assert_ptr_nonnull(huge);
    memcpy(huge, "a\tok\nb\t", 7);
    memset(huge + 7, 'x', big - 2);
    memcpy(huge + 5 + big, "\na\tend\n", 7);
    test_write_file(p, huge, 5 + big + 7);
    assert_tsv_error(ctx, p, HCL_ERR_FORMAT, "line 2: 1048577 bytes, longer than the 1048576-byte limit");
    test_write_file(p, huge, 5 + big - 1);
    CK_OK(ctx, hcl_text_read_tsv(ctx, p, &c));
    ck_assert_uint_eq(c->lengths[1], HCL_TEXT_MAX_TEXT - 2);
    hcl_text_corpus_free(c);
    free(huge);
    /* no such file, a folder */
    char *missing = test_path_in(dir, "missing.tsv");
    assert_tsv_error(ctx, missing, HCL_ERR_IO, "cannot open: No such file or directory");
    ck_assert(strstr(hcl_last_error(ctx), missing));
    free(missing);
    CK_STATUS(ctx, hcl_text_read_tsv(ctx, NULL, &c), HCL_ERR_NULL_POINTER);
    CK_STATUS(ctx, hcl_text_read_tsv(ctx, p, NULL), HCL_ERR_NULL_POINTER);
    free(p);
    test_rm_rf(dir);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ aclImdb */

START_TEST(imdb_reader) {
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("text");
    char *root = test_path_in(dir, "aclImdb");
    make_dir(root);
    const char *folders[] = {"train", "train/pos", "train/neg", "train/unsup", "test", "test/pos", "test/neg",
                             "train/pos/folder.txt"};
    for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
        char *f = test_path_in(root, folders[i]);
        make_dir(f);
        free(f);
    }
    static const struct { const char *name, *body; } files[] = {
        {"train/neg/2_3.txt", "Bad.<br /><br />Very bad."},
        {"train/neg/10_1.txt", "Awful\nfilm"},
        {"train/neg/0_2.txt", "Boring<br/>and<br>long"},
        {"train/neg/notes.md", "not a review"},
        {"train/neg/.hidden.txt", "not a review"},
        {"train/pos/1_9.txt", "Caf\xc3\xa9 scene: superb!"},
        {"train/pos/0_10.txt", "Loved it"},
        {"train/unsup/0_0.txt", "unlabelled"},
        {"test/neg/0_1.txt", "meh"},
        {"test/pos/0_8.txt", "fine"},
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *f = test_path_in(root, files[i].name);
        write_str(f, files[i].body);
        free(f);
    }
    hcl_text_corpus *c = NULL;
    CK_OK(ctx, hcl_text_read_imdb(ctx, root, "train", &c));
    ck_assert_uint_eq(c->count, 5);
    ck_assert_uint_eq(c->classes, 2);
    ck_assert_str_eq(c->class_names[0], "neg");
    ck_assert_str_eq(c->class_names[1], "pos");
    /* neg then pos, names in byte order ("0_2" < "10_1" < "2_3") */
    const char *want[5] = {"Boring and long", "Awful film", "Bad.  Very bad.", "Loved it", "Caf\xc3\xa9 scene: superb!"};
    const int32_t labels[5] = {0, 0, 0, 1, 1};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(c->texts[i], want[i]);
        ck_assert_uint_eq(c->lengths[i], strlen(want[i]));
        ck_assert_int_eq(c->labels[i], labels[i]);
    }
    hcl_text_corpus_free(c);
    CK_OK(ctx, hcl_text_read_imdb(ctx, root, "test", &c));
    ck_assert_uint_eq(c->count, 2);
    ck_assert_str_eq(c->texts[0], "meh");
    ck_assert_int_eq(c->labels[1], 1);
    hcl_text_corpus_free(c);
    /* errors */
    CK_STATUS(ctx, hcl_text_read_imdb(ctx, root, "unsup", &c), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    ck_assert(strstr(hcl_last_error(ctx), "\"unsup\""));
    CK_STATUS(ctx, hcl_text_read_imdb(ctx, dir, "train", &c), HCL_ERR_IO);
    ck_assert_msg(strstr(hcl_last_error(ctx), "train/neg: cannot open the folder"), "%s", hcl_last_error(ctx));
    char *bad = test_path_in(root, "test/pos/9_9.txt");
    write_str(bad, "latin-1 caf\xe9");
    CK_STATUS(ctx, hcl_text_read_imdb(ctx, root, "test", &c), HCL_ERR_FORMAT);
    ck_assert_msg(strstr(hcl_last_error(ctx), "9_9.txt: invalid UTF-8 at byte 12 (0xe9)"), "%s", hcl_last_error(ctx));
    unlink(bad);
    free(bad);
    bad = test_path_in(root, "test/pos/0_8.txt");
    unlink(bad);
    free(bad);
    CK_STATUS(ctx, hcl_text_read_imdb(ctx, root, "test", &c), HCL_ERR_FORMAT);
    ck_assert_msg(strstr(hcl_last_error(ctx), "test/pos: no .txt files"), "%s", hcl_last_error(ctx));
    ck_assert_ptr_null(c);
    free(root);
    test_rm_rf(dir);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ split */

START_TEST(split_stratified_and_deterministic) {
    hcl_context *ctx = test_context();
    enum { N = 87 };
    static const size_t sizes[3] = {50, 30, 7};
    char names[N][8];
    const char *texts[N];
    int32_t labels[N];
    /* classes interleaved so that order preservation is visible */
    size_t left[3] = {50, 30, 7};
    for (size_t i = 0, c = 0; i < N; i++) {
        while (!left[c % 3]) c++;
        labels[i] = (int32_t)(c % 3);
        left[c % 3]--;
        c++;
        snprintf(names[i], sizeof names[i], "t%zu", i);
        texts[i] = names[i];
    }
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, N, 3);
    static const double fractions[] = {0.0, 0.1, 0.2, 0.25, 1.0 / 3.0, 0.5, 0.9, 1.0};
    for (size_t f = 0; f < sizeof fractions / sizeof *fractions; f++) {
        double frac = fractions[f];
        hcl_text_corpus *tr = NULL, *te = NULL, *tr2 = NULL, *te2 = NULL;
        CK_OK(ctx, hcl_text_split(ctx, c, frac, 42, &tr, &te));
        ck_assert_uint_eq(te->count, (size_t)floor(N * frac + 0.5));
        ck_assert_uint_eq(tr->count + te->count, N);
        ck_assert_uint_eq(tr->classes, 3);
        ck_assert_str_eq(te->class_names[2], "2");
        /* per class: within one of n_c * f; a partition of the corpus; corpus order kept */
        size_t per[3] = {0}, seen[N] = {0};
        const hcl_text_corpus *parts[2] = {tr, te};
        for (int k = 0; k < 2; k++) {
            long prev = -1;
            for (size_t i = 0; i < parts[k]->count; i++) {
                long idx = strtol(parts[k]->texts[i] + 1, NULL, 10);
                ck_assert(idx > prev && idx < N);
                prev = idx;
                seen[idx]++;
                ck_assert_int_eq(parts[k]->labels[i], labels[idx]);
                if (k) per[parts[k]->labels[i]]++;
            }
        }
        for (size_t i = 0; i < N; i++) ck_assert_uint_eq(seen[i], 1);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(fabs((double)per[k] - (double)sizes[k] * frac) < 1.0, "f %g class %d: %zu of %zu", frac, k,
                          per[k], sizes[k]);
        /* same seed, same split */
        CK_OK(ctx, hcl_text_split(ctx, c, frac, 42, &tr2, &te2));
        ck_assert_uint_eq(te2->count, te->count);
        for (size_t i = 0; i < te->count; i++) ck_assert_str_eq(te->texts[i], te2->texts[i]);
        hcl_text_corpus_free(tr2);
        hcl_text_corpus_free(te2);
        /* another seed draws other texts (when there is a choice) */
        if (frac > 0.05 && frac < 0.95) {
            CK_OK(ctx, hcl_text_split(ctx, c, frac, 43, &tr2, &te2));
            int differ = 0;
            for (size_t i = 0; i < te->count; i++) differ |= strcmp(te->texts[i], te2->texts[i]) != 0;
            ck_assert_msg(differ, "seeds 42 and 43 drew the same test split at f = %g", frac);
            hcl_text_corpus_free(tr2);
            hcl_text_corpus_free(te2);
        }
        hcl_text_corpus_free(tr);
        hcl_text_corpus_free(te);
    }
    hcl_text_corpus *tr = NULL, *te = NULL;
    CK_STATUS(ctx, hcl_text_split(ctx, c, -0.1, 1, &tr, &te), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_text_split(ctx, c, 1.5, 1, &tr, &te), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_text_split(ctx, c, NAN, 1, &tr, &te), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(tr);
    ck_assert_ptr_null(te);
    hcl_text_corpus_free(c);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ tokenizer and vocabulary */

START_TEST(tokenize_words_utf8) {
    hcl_context *ctx = test_context();
    const char *texts[] = {"\xc3\x9c" "ber caf\xc3\xa9 na\xc3\xaf" "ve", /* Über café naïve */
                           "Don't STOP\xe2\x80\x94now! 42x \xc2\xab" "cit\xc3\xa9" "\xc2\xbb", /* —, «cité» */
                           "\xce\x91\xce\x92\xce\x93 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xc3\x86" "on "
                           "\xc4\xb0stanbul \xc5\xb8 \xc5\x81\xc3\xb3" "d\xc5\xba", /* ΑΒΓ Привет Æon İstanbul Ÿ Łódź */
                           "bad\xff" "byte"};
    int32_t labels[4] = {0, 0, 0, 0};
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, 4, 1);
    hcl_text_options o;
    hcl_text_options_init(&o);
    ck_assert_int_eq(o.level, HCL_TEXT_WORDS);
    ck_assert_int_eq(o.lowercase, 1);
    hcl_vocab *v = vocab_of(ctx, c, &o);
    const char *words[] = {"\xc3\xbc" "ber", "caf\xc3\xa9", "na\xc3\xaf" "ve", "don", "t", "stop", "now", "42x",
                           "cit\xc3\xa9", "\xce\xb1\xce\xb2\xce\xb3", "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
                           "\xc3\xa6" "on", "istanbul", "\xc3\xbf", "\xc5\x82\xc3\xb3" "d\xc5\xba", "bad", "byte"};
    size_t nw = sizeof words / sizeof *words;
    ck_assert_uint_eq(hcl_vocab_size(v), 2 + nw);
    for (size_t i = 0; i < nw; i++) ck_assert_msg(hcl_vocab_lookup(v, words[i]) >= 2, "word %zu (%s) missing", i, words[i]);
    ck_assert_int_eq(hcl_vocab_lookup(v, "\xc3\x9c" "ber"), HCL_TEXT_UNK); /* exact bytes: no lowercasing */
    o.max_len = 4;
    hcl_text_encoded *e = encode(ctx, c, v, &o);
    ck_assert_int_eq(e->tokens[0], hcl_vocab_lookup(v, words[0]));
    ck_assert_int_eq(e->tokens[1], hcl_vocab_lookup(v, words[1]));
    ck_assert_int_eq(e->tokens[2], hcl_vocab_lookup(v, words[2]));
    ck_assert_int_eq(e->tokens[3], HCL_TEXT_PAD);
    ck_assert_int_eq(e->lengths[0], 3);
    ck_assert_int_eq(e->lengths[1], 4);
    ck_assert_uint_eq(e->truncated, 2); /* texts 1 and 2 have 6 tokens */
    ck_assert_uint_eq(e->unknown, 0);
    hcl_text_encoded_free(e);
    hcl_vocab_free(v);
    /* without lowercasing the capitals stay */
    o.lowercase = 0;
    v = vocab_of(ctx, c, &o);
    ck_assert_int_ge(hcl_vocab_lookup(v, "\xc3\x9c" "ber"), 2);
    ck_assert_int_ge(hcl_vocab_lookup(v, "STOP"), 2);
    ck_assert_int_eq(hcl_vocab_lookup(v, "stop"), HCL_TEXT_UNK);
    ck_assert_int_ge(hcl_vocab_lookup(v, "\xc4\xb0stanbul"), 2);
    hcl_vocab_free(v);
    hcl_vocab_free(NULL);
    hcl_text_corpus_free(c);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(tokenize_chars_utf8) {
    hcl_context *ctx = test_context();
    const char *texts[] = {"\xc3\x9c" "ber caf\xc3\xa9", "a\tb\nA\xffz\xe2\x82", ""};
    int32_t labels[3] = {0, 1, 1};
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, 3, 2);
    hcl_text_options o;
    hcl_text_options_init(&o);
    o.level = HCL_TEXT_CHARS;
    o.max_len = 12;
    hcl_vocab *v = vocab_of(ctx, c, &o);
    /* counts: " " 3, "a" 3, "b" 2, then single: "c" "e" "f" "r" "z" "é" "ü" (byte order) */
    const char *want[] = {"<pad>", "<unk>", " ", "a", "b", "c", "e", "f", "r", "z", "\xc3\xa9", "\xc3\xbc"};
    ck_assert_uint_eq(hcl_vocab_size(v), sizeof want / sizeof *want);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) ck_assert_str_eq(hcl_vocab_token(v, (int32_t)i), want[i]);
    hcl_text_encoded *e = encode(ctx, c, v, &o);
    ck_assert_str_eq(row_str(e, 0), "11 4 6 8 2 5 3 7 10 0 0 0"); /* ü b e r ␠ c a f é */
    ck_assert_int_eq(e->lengths[0], 9);
    /* a ␠ b ␠ a UNK z UNK(\xe2) UNK(\x82) */
    ck_assert_str_eq(row_str(e, 1), "3 2 4 2 3 1 9 1 1 0 0 0");
    ck_assert_int_eq(e->lengths[1], 9);
    ck_assert_str_eq(row_str(e, 2), "1 0 0 0 0 0 0 0 0 0 0 0"); /* empty: one UNK */
    ck_assert_int_eq(e->lengths[2], 1);
    ck_assert_uint_eq(e->unknown, 3);
    ck_assert_int_eq(e->labels[1], 1);
    ck_assert_uint_eq(e->classes, 2);
    hcl_text_encoded_free(e);
    hcl_text_encoded_free(NULL);
    hcl_vocab_free(v);
    hcl_text_corpus_free(c);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(vocab_order_and_limits) {
    hcl_context *ctx = test_context();
    const char *texts[] = {"b a c", "b a b d", "e"};
    int32_t labels[3] = {0, 0, 0};
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, 3, 1);
    hcl_text_options o;
    hcl_text_options_init(&o);
    hcl_vocab *v = vocab_of(ctx, c, &o);
    /* b 3, a 2, then c d e once each in byte order */
    const char *want[] = {"<pad>", "<unk>", "b", "a", "c", "d", "e"};
    ck_assert_uint_eq(hcl_vocab_size(v), 7);
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(hcl_vocab_token(v, i), want[i]);
        ck_assert_int_eq(hcl_vocab_lookup(v, want[i]), i);
    }
    ck_assert_ptr_null(hcl_vocab_token(v, 7));
    ck_assert_ptr_null(hcl_vocab_token(v, -1));
    ck_assert_int_eq(hcl_vocab_lookup(v, "zzz"), HCL_TEXT_UNK);
    ck_assert_int_eq(hcl_vocab_lookup(v, ""), HCL_TEXT_UNK);
    ck_assert_int_eq(hcl_vocab_lookup(v, NULL), HCL_TEXT_UNK);
    hcl_vocab_free(v);
    o.min_count = 2;
    v = vocab_of(ctx, c, &o);
    ck_assert_uint_eq(hcl_vocab_size(v), 4);
    ck_assert_str_eq(hcl_vocab_token(v, 3), "a");
    hcl_vocab_free(v);
    o.min_count = 1;
    o.max_vocab = 3;
    v = vocab_of(ctx, c, &o);
    ck_assert_uint_eq(hcl_vocab_size(v), 3);
    ck_assert_str_eq(hcl_vocab_token(v, 2), "b");
    o.max_len = 5;
    hcl_text_encoded *e = encode(ctx, c, v, &o);
    ck_assert_str_eq(row_str(e, 1), "2 1 2 1 0"); /* b UNK b UNK */
    ck_assert_uint_eq(e->unknown, 5);
    hcl_text_encoded_free(e);
    hcl_vocab_free(v);
    o.max_vocab = 2; /* only the specials */
    v = vocab_of(ctx, c, &o);
    ck_assert_uint_eq(hcl_vocab_size(v), 2);
    hcl_vocab_free(v);
    /* bad options */
    o.max_vocab = 1;
    CK_STATUS(ctx, hcl_vocab_build(ctx, c, &o, &v), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(v);
    o.max_vocab = 0;
    o.level = (hcl_text_level)7;
    CK_STATUS(ctx, hcl_vocab_build(ctx, c, &o, &v), HCL_ERR_INVALID_ARGUMENT);
    o.level = HCL_TEXT_WORDS;
    o.max_len = 0;
    v = NULL;
    CK_STATUS(ctx, hcl_vocab_build(ctx, c, &o, &v), HCL_ERR_INVALID_ARGUMENT);
    hcl_text_options_init(&o);
    v = vocab_of(ctx, c, &o);
    o.max_len = HCL_TEXT_MAX_LEN + 1;
    CK_STATUS(ctx, hcl_text_encode(ctx, c, v, &o, &e), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(e);
    hcl_vocab_free(v);
    hcl_text_corpus_free(c);
    /* corpus arguments */
    const int32_t bad_label[1] = {3};
    CK_STATUS(ctx, hcl_text_corpus_create(ctx, texts, bad_label, 1, 2, NULL, &c), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    const char *null_text[1] = {NULL};
    CK_STATUS(ctx, hcl_text_corpus_create(ctx, null_text, labels, 1, 1, NULL, &c), HCL_ERR_NULL_POINTER);
    CK_OK(ctx, hcl_text_corpus_create(ctx, NULL, NULL, 0, 0, NULL, &c)); /* empty is fine */
    ck_assert_uint_eq(c->count, 0);
    hcl_text_options_init(&o);
    v = vocab_of(ctx, c, &o);
    ck_assert_uint_eq(hcl_vocab_size(v), 2);
    e = encode(ctx, c, v, &o);
    ck_assert_uint_eq(e->count, 0);
    hcl_text_encoded_free(e);
    hcl_vocab_free(v);
    hcl_text_corpus_free(c);
    hcl_context_free(ctx);
}
END_TEST

START_TEST(vocab_from_train_split_only) {
    hcl_context *ctx = test_context();
    /* "zebra" appears only in texts of class 1 that the split sends to test */
    enum { N = 40 };
    char buf[N][32];
    const char *texts[N];
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 2;
        snprintf(buf[i], sizeof buf[i], "common word%d", i % 4);
        texts[i] = buf[i];
    }
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, N, 2);
    hcl_text_corpus *tr = NULL, *te = NULL;
    CK_OK(ctx, hcl_text_split(ctx, c, 0.25, 7, &tr, &te));
    hcl_text_corpus_free(c);
    /* put a test-only word into the test texts (rebuild the test corpus with it appended) */
    const char **tt = malloc(te->count * sizeof *tt);
    char (*tb)[48] = malloc(te->count * sizeof *tb);
    ck_assert(tt && tb);
    for (size_t i = 0; i < te->count; i++) {
        snprintf(tb[i], sizeof tb[i], "%s zebra", te->texts[i]);
        tt[i] = tb[i];
    }
    hcl_text_corpus *te2 = corpus_of(ctx, tt, te->labels, te->count, 2);
    hcl_text_options o;
    hcl_text_options_init(&o);
    o.max_len = 4;
    hcl_vocab *v = vocab_of(ctx, tr, &o);
    ck_assert_int_eq(hcl_vocab_lookup(v, "zebra"), HCL_TEXT_UNK);
    ck_assert_str_eq(hcl_vocab_token(v, 2), "common");
    hcl_text_encoded *e = encode(ctx, te2, v, &o);
    for (size_t i = 0; i < e->count; i++) {
        ck_assert_int_eq(e->lengths[i], 3);
        ck_assert_int_eq(e->tokens[i * 4 + 0], 2);
        ck_assert_int_ge(e->tokens[i * 4 + 1], 3);
        ck_assert_int_eq(e->tokens[i * 4 + 2], HCL_TEXT_UNK);
        ck_assert_int_eq(e->tokens[i * 4 + 3], HCL_TEXT_PAD);
    }
    ck_assert_uint_eq(e->unknown, e->count);
    hcl_text_encoded_free(e);
    hcl_vocab_free(v);
    hcl_text_corpus_free(te2);
    free(tt);
    free(tb);
    hcl_text_corpus_free(tr);
    hcl_text_corpus_free(te);
    hcl_context_free(ctx);
}
END_TEST

/* Random ASCII texts of words "w<k>" and punctuation, encoded against a reference tokenizer:
 * every max_len from 1 to 9, truncation from either end. */
START_TEST(encode_truncate_and_pad_reference) {
    hcl_context *ctx = test_context();
    test_rng_reset(test_seed());
    enum { N = 60, MAXW = 12 };
    char buf[N][MAXW * 8 + 8];
    const char *texts[N];
    int32_t labels[N];
    int words[N][MAXW], nwords[N];
    for (int i = 0; i < N; i++) {
        nwords[i] = (int)test_uniform(0, MAXW + 1) % (MAXW + 1);
        size_t o = 0;
        buf[i][0] = '\0';
        for (int k = 0; k < nwords[i]; k++) {
            words[i][k] = (int)test_uniform(0, 15);
            static const char *const seps[] = {" ", ", ", "! ", "  -- ", "\t"};
            o += (size_t)snprintf(buf[i] + o, sizeof buf[i] - o, "%sW%d", seps[(int)test_uniform(0, 5) % 5], words[i][k]);
        }
        if (i % 7 == 0) o += (size_t)snprintf(buf[i] + o, sizeof buf[i] - o, " ?!");
        texts[i] = buf[i];
        labels[i] = i % 3;
    }
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, N, 3);
    hcl_text_options o;
    hcl_text_options_init(&o);
    hcl_vocab *v = vocab_of(ctx, c, &o);
    for (int64_t T = 1; T <= 9; T++)
        for (int from_start = 0; from_start < 2; from_start++) {
            o.max_len = T;
            o.truncate_start = from_start;
            hcl_text_encoded *e = encode(ctx, c, v, &o);
            ck_assert_int_eq(e->max_len, T);
            size_t truncated = 0;
            for (int i = 0; i < N; i++) {
                int n = nwords[i], kept = n < T ? n : (int)T, first = from_start && n > T ? n - (int)T : 0;
                truncated += n > T;
                int32_t want[16];
                for (int k = 0; k < T; k++) want[k] = HCL_TEXT_PAD;
                for (int k = 0; k < kept; k++) {
                    char w[16];
                    snprintf(w, sizeof w, "w%d", words[i][first + k]);
                    want[k] = hcl_vocab_lookup(v, w);
                    ck_assert_int_ge(want[k], 2);
                }
                if (!kept) want[0] = HCL_TEXT_UNK;
                ck_assert_int_eq(e->lengths[i], kept ? kept : 1);
                ck_assert_int_eq(e->labels[i], labels[i]);
                for (int k = 0; k < T; k++)
                    ck_assert_msg(e->tokens[(size_t)i * (size_t)T + (size_t)k] == want[k],
                                  "text %d \"%s\" T %lld from_start %d: row %s (%s)", i, texts[i], (long long)T,
                                  from_start, row_str(e, (size_t)i), test_seed_note());
            }
            ck_assert_uint_eq(e->truncated, truncated);
            hcl_text_encoded_free(e);
        }
    hcl_vocab_free(v);
    hcl_text_corpus_free(c);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ vocabulary files */

START_TEST(vocab_save_load) {
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("text");
    char *p = test_path_in(dir, "vocab.txt");
    const char *texts[] = {"\xc3\x9c" "ber caf\xc3\xa9 na\xc3\xaf" "ve", "a b\tc", "A <b>"};
    int32_t labels[3] = {0, 0, 0};
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, 3, 1);
    for (int level = 0; level < 2; level++) {
        hcl_text_options o;
        hcl_text_options_init(&o);
        o.level = (hcl_text_level)level;
        o.max_len = 16;
        hcl_vocab *v = vocab_of(ctx, c, &o);
        CK_OK(ctx, hcl_vocab_save(ctx, v, p));
        ck_assert_int_eq(test_dir_entries(dir), 1); /* no temporary file left */
        CK_OK(ctx, hcl_vocab_save(ctx, v, p)); /* over an existing file */
        ck_assert_int_eq(test_dir_entries(dir), 1);
        size_t n;
        unsigned char *bytes = test_read_bytes(p, &n);
        ck_assert_msg(!memcmp(bytes, "<pad>\n<unk>\n", 12), "file starts \"%.20s\"", bytes);
        ck_assert_int_eq(bytes[n - 1], '\n');
        free(bytes);
        hcl_vocab *w = NULL;
        CK_OK(ctx, hcl_vocab_load(ctx, p, &w));
        ck_assert_uint_eq(hcl_vocab_size(w), hcl_vocab_size(v));
        for (int32_t i = 0; i < (int32_t)hcl_vocab_size(v); i++) {
            ck_assert_str_eq(hcl_vocab_token(w, i), hcl_vocab_token(v, i));
            ck_assert_int_eq(hcl_vocab_lookup(w, hcl_vocab_token(v, i)), i);
        }
        hcl_text_encoded *e1 = encode(ctx, c, v, &o), *e2 = encode(ctx, c, w, &o);
        ck_assert(!memcmp(e1->tokens, e2->tokens, 3 * 16 * sizeof(int32_t)));
        hcl_text_encoded_free(e1);
        hcl_text_encoded_free(e2);
        hcl_vocab_free(w);
        hcl_vocab_free(v);
    }
    /* CRLF and no final newline are fine */
    write_str(p, "<pad>\r\n<unk>\r\nb\r\na");
    hcl_vocab *w = NULL;
    CK_OK(ctx, hcl_vocab_load(ctx, p, &w));
    ck_assert_uint_eq(hcl_vocab_size(w), 4);
    ck_assert_int_eq(hcl_vocab_lookup(w, "a"), 3);
    hcl_vocab_free(w);
    /* rejected files */
    static const struct { const char *body; const char *needle; } bad[] = {
        {"", "0 lines"},
        {"<pad>\n", "1 lines"},
        {"<unk>\n<pad>\nx\n", "line 1: \"<unk>\" where \"<pad>\" must be"},
        {"<pad>\n<unk>\nx\ny\nx\n", "line 5: token \"x\" repeats"},
        {"<pad>\n<unk>\nx\n\ny\n", "line 4: empty token"},
        {"<pad>\n<unk>\nx\xff\n", "line 3: invalid UTF-8 at byte 2"},
        {"<pad>\n<unk>\n<pad>\n", "line 3: token \"<pad>\" repeats"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_str(p, bad[i].body);
        w = (hcl_vocab *)(uintptr_t)1;
        CK_STATUS(ctx, hcl_vocab_load(ctx, p, &w), HCL_ERR_FORMAT);
        ck_assert_ptr_null(w);
        ck_assert_msg(strstr(hcl_last_error(ctx), bad[i].needle), "case %zu: \"%s\" lacks \"%s\"", i,
                      hcl_last_error(ctx), bad[i].needle);
    }
    char *missing = test_path_in(dir, "missing/vocab.txt");
    CK_STATUS(ctx, hcl_vocab_load(ctx, missing, &w), HCL_ERR_IO);
    hcl_text_options o;
    hcl_text_options_init(&o);
    hcl_vocab *v = vocab_of(ctx, c, &o);
    CK_STATUS(ctx, hcl_vocab_save(ctx, v, missing), HCL_ERR_IO); /* no such folder */
    ck_assert(strstr(hcl_last_error(ctx), "cannot create"));
    ck_assert_int_eq(test_dir_entries(dir), 1);
    hcl_vocab_free(v);
    free(missing);
    hcl_text_corpus_free(c);
    free(p);
    test_rm_rf(dir);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ token batcher */

typedef struct batch_seen {
    int32_t order[64];
    size_t n;
} batch_seen;

/* Runs one epoch; checks shapes, rows against the host arrays and that each sample comes once. */
static void run_epoch(hcl_context *ctx, hcl_token_batcher *b, const int32_t *tokens, const int32_t *lengths,
                      size_t count, int64_t T, size_t batch, int drop_last, batch_seen *seen) {
    int counts[64] = {0};
    seen->n = 0;
    size_t batches = hcl_token_batcher_batches(b);
    int32_t *tv = malloc(batch * (size_t)T * sizeof *tv);
    ck_assert_ptr_nonnull(tv);
    for (size_t k = 0;; k++) {
        const hcl_tensor *xt = NULL, *lt = NULL, *yt = NULL;
        size_t n = 99;
        CK_OK(ctx, hcl_token_batcher_next(b, &xt, &lt, &yt, &n));
        if (!n) {
            ck_assert_uint_eq(k, batches);
            ck_assert_ptr_null(xt);
            ck_assert_ptr_null(yt);
            break;
        }
        size_t want = k + 1 < batches || drop_last || count % batch == 0 ? batch : count % batch;
        ck_assert_uint_eq(n, want);
        ck_assert_int_eq(xt->dtype, HCL_I32);
        ck_assert_int_eq(xt->rank, 2);
        ck_assert_int_eq(xt->shape[0], (int64_t)n);
        ck_assert_int_eq(xt->shape[1], T);
        ck_assert_int_eq(yt->rank, 1);
        ck_assert_int_eq(yt->shape[0], (int64_t)n);
        int32_t lv[64], yv[64];
        CK_OK(ctx, hcl_tensor_download_raw(xt, tv, n * (size_t)T * 4));
        CK_OK(ctx, hcl_tensor_download_raw(yt, yv, n * 4));
        if (lengths) {
            ck_assert_int_eq(lt->shape[0], (int64_t)n);
            CK_OK(ctx, hcl_tensor_download_raw(lt, lv, n * 4));
        } else {
            ck_assert_ptr_null(lt);
        }
        for (size_t i = 0; i < n; i++) {
            int32_t s = yv[i]; /* labels are the sample indices */
            ck_assert(s >= 0 && (size_t)s < count);
            counts[s]++;
            seen->order[seen->n++] = s;
            ck_assert(!memcmp(tv + i * (size_t)T, tokens + (size_t)s * (size_t)T, (size_t)T * 4));
            if (lengths) ck_assert_int_eq(lv[i], lengths[s]);
        }
    }
    for (size_t i = 0; i < count; i++) ck_assert_int_le(counts[i], 1);
    if (!drop_last)
        for (size_t i = 0; i < count; i++) ck_assert_msg(counts[i] == 1, "sample %zu served %d times", i, counts[i]);
    ck_assert_uint_eq(seen->n, drop_last ? count / batch * batch : count);
    free(tv);
}

START_TEST(token_batcher_epochs) {
    hcl_context *ctx = test_context();
    enum { N = 37, T = 5, B = 8 };
    int32_t tokens[N * T], lengths[N], labels[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < T; k++) tokens[i * T + k] = 1000 * i + k;
        lengths[i] = i % T + 1;
        labels[i] = i;
    }
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    o.batch = B;
    o.seed = 1234;
    hcl_token_batcher *b = NULL;
    CK_OK(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b));
    ck_assert_uint_eq(hcl_token_batcher_count(b), N);
    ck_assert_uint_eq(hcl_token_batcher_batches(b), 5);
    ck_assert_int_eq(hcl_token_batcher_batch_size(b), B);
    batch_seen e0, e1, again;
    run_epoch(ctx, b, tokens, lengths, N, T, B, 0, &e0);
    ck_assert_uint_eq(hcl_token_batcher_epoch(b), 1);
    run_epoch(ctx, b, tokens, lengths, N, T, B, 0, &e1);
    ck_assert_uint_eq(hcl_token_batcher_epoch(b), 2);
    ck_assert_msg(memcmp(e0.order, e1.order, N * sizeof(int32_t)) != 0, "epochs 0 and 1 drew the same order");
    int identity = 1;
    for (int i = 0; i < N; i++) identity &= e0.order[i] == i;
    ck_assert_msg(!identity, "epoch 0 was not shuffled");
    /* seeking replays an epoch */
    CK_OK(ctx, hcl_token_batcher_seek_epoch(b, 0));
    run_epoch(ctx, b, tokens, lengths, N, T, B, 0, &again);
    ck_assert(!memcmp(e0.order, again.order, N * sizeof(int32_t)));
    hcl_token_batcher_free(b);
    /* a new batcher with the same seed: the same orders; another seed: another */
    CK_OK(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b));
    run_epoch(ctx, b, tokens, lengths, N, T, B, 0, &again);
    ck_assert(!memcmp(e0.order, again.order, N * sizeof(int32_t)));
    run_epoch(ctx, b, tokens, lengths, N, T, B, 0, &again);
    ck_assert(!memcmp(e1.order, again.order, N * sizeof(int32_t)));
    hcl_token_batcher_free(b);
    o.seed = 1235;
    CK_OK(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b));
    run_epoch(ctx, b, tokens, lengths, N, T, B, 0, &again);
    ck_assert(memcmp(e0.order, again.order, N * sizeof(int32_t)) != 0);
    hcl_token_batcher_free(b);
    /* drop_last, no lengths */
    o.drop_last = 1;
    CK_OK(ctx, hcl_token_batcher_create(ctx, tokens, NULL, labels, N, T, &o, &b));
    ck_assert_uint_eq(hcl_token_batcher_batches(b), 4);
    run_epoch(ctx, b, tokens, NULL, N, T, B, 1, &again);
    hcl_token_batcher_free(b);
    /* no shuffling: corpus order; a batch that divides the count */
    o.drop_last = 0;
    o.shuffle = 0;
    o.batch = 37;
    CK_OK(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b));
    run_epoch(ctx, b, tokens, lengths, N, T, 37, 0, &again);
    for (int i = 0; i < N; i++) ck_assert_int_eq(again.order[i], i);
    hcl_token_batcher_free(b);
    hcl_token_batcher_free(NULL);
    /* bad arguments */
    o.batch = 0;
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(b);
    o.batch = 4;
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, 0, T, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, 0, &o, &b), HCL_ERR_SHAPE);
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, NULL, lengths, labels, N, T, &o, &b), HCL_ERR_NULL_POINTER);
    lengths[3] = T + 1;
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    ck_assert(strstr(hcl_last_error(ctx), "lengths[3]"));
    o.drop_last = 1;
    o.batch = 64;
    lengths[3] = 1;
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(b);
    hcl_context_free(ctx);
}
END_TEST

/* trim: each batch is (n, its longest length) with the rows' first tokens; bucket: every sample
 * once per epoch, batches of similar lengths (the summed batch maxima drop), the same order for
 * the same (seed, epoch), a partial batch last. */
START_TEST(token_batcher_trim_and_buckets) {
    hcl_context *ctx = test_context();
    enum { N = 203, T = 30, B = 8 };
    static int32_t tokens[N * T], lengths[N], labels[N];
    for (int i = 0; i < N; i++) {
        lengths[i] = 1 + (int32_t)test_uniform(0, T) % T;
        for (int k = 0; k < T; k++) tokens[i * T + k] = k < lengths[i] ? 1000 * i + k : 0;
        labels[i] = i;
    }
    long sums[2] = {0, 0};
    int32_t first_order[2][N];
    for (int bucket = 0; bucket < 2; bucket++) {
        hcl_batcher_options o;
        hcl_batcher_options_init(&o);
        o.batch = B;
        o.seed = 77;
        o.trim = 1;
        o.bucket = bucket ? 26 : 0; /* one run of 26 batches covers all 203 samples */
        for (int rep = 0; rep < 2; rep++) { /* a second batcher replays the order */
            hcl_token_batcher *b = NULL;
            CK_OK(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b));
            int seen[N] = {0}, pos = 0;
            size_t k = 0, batches = hcl_token_batcher_batches(b);
            for (;; k++) {
                const hcl_tensor *xt, *lt, *yt;
                size_t n;
                CK_OK(ctx, hcl_token_batcher_next(b, &xt, &lt, &yt, &n));
                if (!n) break;
                if (bucket) ck_assert_uint_eq(n, k + 1 < batches ? (size_t)B : (size_t)(N % B)); /* partial last */
                int32_t tv[B * T], lv[B], yv[B];
                CK_OK(ctx, hcl_tensor_download_raw(lt, lv, n * 4));
                CK_OK(ctx, hcl_tensor_download_raw(yt, yv, n * 4));
                int32_t L = 1;
                for (size_t i = 0; i < n; i++) L = lv[i] > L ? lv[i] : L;
                ck_assert_int_eq(xt->rank, 2);
                ck_assert_int_eq(xt->shape[1], L);
                ck_assert_uint_eq(xt->count, n * (size_t)L);
                CK_OK(ctx, hcl_tensor_download_raw(xt, tv, n * (size_t)L * 4));
                for (size_t i = 0; i < n; i++) {
                    ck_assert_int_eq(lv[i], lengths[yv[i]]);
                    ck_assert(!memcmp(tv + i * (size_t)L, tokens + (size_t)yv[i] * T, (size_t)L * 4));
                    seen[yv[i]]++;
                    if (rep == 0) first_order[bucket][pos] = yv[i];
                    else ck_assert_int_eq(first_order[bucket][pos], yv[i]);
                    pos++;
                }
                if (rep == 0) sums[bucket] += L;
            }
            ck_assert_uint_eq(k, batches);
            for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
            hcl_token_batcher_free(b);
        }
    }
    /* sorted: the summed batch maxima fall to ~0.58 of the shuffled ones (at most 0.66 in 20,000
     * simulated draws of these sizes) */
    ck_assert_msg(sums[1] * 4 < sums[0] * 3, "buckets: summed batch lengths %ld vs %ld shuffled", sums[1], sums[0]);
    /* trim or buckets without lengths */
    hcl_batcher_options o;
    hcl_batcher_options_init(&o);
    o.trim = 1;
    hcl_token_batcher *b = NULL;
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, NULL, labels, N, T, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    o.trim = 0;
    o.bucket = -1;
    CK_STATUS(ctx, hcl_token_batcher_create(ctx, tokens, lengths, labels, N, T, &o, &b), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(b);
    hcl_context_free(ctx);
}
END_TEST

/* The batcher over a real encoding: the device rows are the host encoding's rows. */
START_TEST(token_batcher_serves_the_encoding) {
    hcl_context *ctx = test_context();
    const char *texts[] = {"the cat sat", "a dog", "the dog sat on the cat again and again", "", "cat", "sat dog a"};
    int32_t labels[6] = {0, 1, 0, 1, 1, 0};
    hcl_text_corpus *c = corpus_of(ctx, texts, labels, 6, 2);
    hcl_text_options o;
    hcl_text_options_init(&o);
    o.max_len = 7;
    hcl_vocab *v = vocab_of(ctx, c, &o);
    hcl_text_encoded *e = encode(ctx, c, v, &o);
    hcl_batcher_options bo;
    hcl_batcher_options_init(&bo);
    bo.batch = 4;
    bo.seed = 5;
    hcl_token_batcher *b = NULL;
    CK_OK(ctx, hcl_token_batcher_create(ctx, e->tokens, e->lengths, e->labels, e->count, e->max_len, &bo, &b));
    int served[6] = {0};
    for (;;) {
        const hcl_tensor *xt, *lt, *yt;
        size_t n;
        CK_OK(ctx, hcl_token_batcher_next(b, &xt, &lt, &yt, &n));
        if (!n) break;
        int32_t x[4 * 7], l[4], y[4];
        CK_OK(ctx, hcl_tensor_download_raw(xt, x, n * 7 * 4));
        CK_OK(ctx, hcl_tensor_download_raw(lt, l, n * 4));
        CK_OK(ctx, hcl_tensor_download_raw(yt, y, n * 4));
        for (size_t i = 0; i < n; i++) { /* find the sample by its row and length */
            int found = -1;
            for (int s = 0; s < 6; s++)
                if (!served[s] && l[i] == e->lengths[s] && y[i] == e->labels[s] && !memcmp(x + i * 7, e->tokens + s * 7, 28))
                    found = s;
            ck_assert_msg(found >= 0, "batch row %zu matches no unserved sample", i);
            served[found] = 1;
        }
    }
    for (int s = 0; s < 6; s++) ck_assert(served[s]);
    hcl_token_batcher_free(b);
    hcl_text_encoded_free(e);
    hcl_vocab_free(v);
    hcl_text_corpus_free(c);
    hcl_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ tools/make_text_datasets.sh */

static char *find_script(void) {
    const char *root = getenv("HALFCL_SOURCE_ROOT");
    const char *tries[] = {root, ".", "..", "../.."};
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        if (!tries[i]) continue;
        char *p = test_path_in(tries[i], "tools/make_text_datasets.sh");
        if (access(p, X_OK) == 0) return p;
        free(p);
    }
    return NULL;
}

static int run_script(const char *script, const char *out, const char *log) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' >'%s' 2>&1", script, out, log);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Every text appears once in the whole file (so never under two labels); every class has texts. */
static void check_dataset(hcl_context *ctx, const char *path, size_t min_classes) {
    hcl_text_corpus *c = NULL;
    CK_OK(ctx, hcl_text_read_tsv(ctx, path, &c));
    ck_assert_uint_ge(c->classes, min_classes);
    size_t *per = calloc(c->classes, sizeof *per);
    const char **sorted = malloc(c->count * sizeof *sorted);
    ck_assert(per && sorted);
    for (size_t i = 0; i < c->count; i++) {
        per[c->labels[i]]++;
        sorted[i] = c->texts[i];
        ck_assert_msg(c->lengths[i] > 0, "%s: text %zu is empty", path, i);
    }
    for (size_t k = 0; k < c->classes; k++)
        ck_assert_msg(per[k] > 0, "%s: class %s has no texts", path, c->class_names[k]);
    qsort(sorted, c->count, sizeof *sorted, cmp_cstr);
    for (size_t i = 1; i < c->count; i++)
        ck_assert_msg(strcmp(sorted[i - 1], sorted[i]) != 0, "%s: \"%s\" appears twice", path, sorted[i]);
    fprintf(stderr, "%s: %zu texts in %zu classes\n", path, c->count, c->classes);
    free(per);
    free(sorted);
    hcl_text_corpus_free(c);
}

START_TEST(make_text_datasets_script) {
    static const char *const needed[] = {"/usr/share/dict/american-english", "/usr/share/dict/french",
                                         "/usr/share/dict/ngerman", "/usr/share/dict/spanish",
                                         "/usr/share/dict/italian", "/usr/share/dict/portuguese",
                                         "/usr/share/games/fortunes/fortunes"};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
        if (access(needed[i], R_OK) != 0) {
            fprintf(stderr, "make_text_datasets_script: skipped: %s is missing (tools/setup.sh installs it)\n",
                    needed[i]);
            return;
        }
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        fprintf(stderr, "make_text_datasets_script: skipped: no python3\n");
        return;
    }
    char *script = find_script();
    ck_assert_msg(script != NULL, "tools/make_text_datasets.sh not found (set HALFCL_SOURCE_ROOT)");
    hcl_context *ctx = test_context();
    char *dir = test_make_tmpdir("text");
    char *out1 = test_path_in(dir, "a"), *out2 = test_path_in(dir, "b"), *log = test_path_in(dir, "log");
    int rc = run_script(script, out1, log);
    size_t n;
    unsigned char *text = test_read_bytes(log, &n);
    ck_assert_msg(rc == 0, "the script failed (%d): %s", rc, text);
    ck_assert(strstr((char *)text, "langid.tsv english"));
    ck_assert(strstr((char *)text, "fortunes.tsv total"));
    free(text);
    ck_assert_int_eq(test_dir_entries(out1), 2); /* the two files, no temporary ones */
    char *langid = test_path_in(out1, "langid.tsv"), *fortunes = test_path_in(out1, "fortunes.tsv");
    check_dataset(ctx, langid, 6);
    check_dataset(ctx, fortunes, 5);
    /* the same bytes on a second run */
    ck_assert_int_eq(run_script(script, out2, log), 0);
    const char *names[2] = {"langid.tsv", "fortunes.tsv"};
    for (int k = 0; k < 2; k++) {
        char *a = test_path_in(out1, names[k]), *b = test_path_in(out2, names[k]);
        size_t na, nb;
        unsigned char *da = test_read_bytes(a, &na), *db = test_read_bytes(b, &nb);
        ck_assert_msg(na == nb && !memcmp(da, db, na), "%s differs between two runs", names[k]);
        free(da);
        free(db);
        free(a);
        free(b);
    }
    /* end to end: a character-level model's input from the word data */
    hcl_text_corpus *c = NULL, *tr = NULL, *te = NULL;
    CK_OK(ctx, hcl_text_read_tsv(ctx, langid, &c));
    CK_OK(ctx, hcl_text_split(ctx, c, 0.1, 1, &tr, &te));
    hcl_text_options o;
    hcl_text_options_init(&o);
    o.level = HCL_TEXT_CHARS;
    o.max_len = 16;
    hcl_vocab *v = vocab_of(ctx, tr, &o);
    ck_assert_uint_gt(hcl_vocab_size(v), 28);
    hcl_text_encoded *e = encode(ctx, te, v, &o);
    ck_assert_uint_eq(e->count, te->count);
    ck_assert_uint_lt(e->unknown, e->count); /* a few rare letters at most */
    hcl_text_encoded_free(e);
    hcl_vocab_free(v);
    hcl_text_corpus_free(tr);
    hcl_text_corpus_free(te);
    hcl_text_corpus_free(c);
    free(langid);
    free(fortunes);
    free(out1);
    free(out2);
    free(log);
    free(script);
    test_rm_rf(dir);
    free(dir);
    hcl_context_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, tsv_good_files);
    tcase_add_test(tc, tsv_bad_files);
    tcase_add_test(tc, imdb_reader);
    tcase_add_test(tc, split_stratified_and_deterministic);
    suite_add_tcase(s, tc);
    tc = tcase_create("tokens");
    tcase_add_test(tc, tokenize_words_utf8);
    tcase_add_test(tc, tokenize_chars_utf8);
    tcase_add_test(tc, vocab_order_and_limits);
    tcase_add_test(tc, vocab_from_train_split_only);
    tcase_add_test(tc, encode_truncate_and_pad_reference);
    tcase_add_test(tc, vocab_save_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("batcher");
    tcase_add_test(tc, token_batcher_epochs);
    tcase_add_test(tc, token_batcher_trim_and_buckets);
    tcase_add_test(tc, token_batcher_serves_the_encoding);
    suite_add_tcase(s, tc);
    tc = tcase_create("datasets"); /* two runs of a Python script over 2 M words: allow for a loaded machine */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, make_text_datasets_script);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(suite()); }
