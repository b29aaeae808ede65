/* char_lm: a small GPT-style character language model trained with halfcl in mixed precision.
 * Token embedding + learned positions -> N pre-LN Transformer blocks (causal self-attention,
 * GELU MLP of 4 x dim, dropout) -> LayerNorm -> output head tied to the embedding; cross-entropy
 * at every step. Data: the texts of a TSV file (default data/text/fortunes.tsv) split 90/10
 * (stratified by label, --seed), each split joined with "\n" into one character stream and cut
 * into non-overlapping windows of context + 1 characters (x = the first context, y = the last
 * context). Reports the held-out bits per character and samples text at the end. Adam lr 1e-3,
 * batch 32 (the recipe of tools/compare_pytorch.py --model char_lm). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_common.h"

#define NAME "char_lm"
#define DEFAULT_DATA "data/text/fortunes.tsv"

typedef struct options {
    const char *export_path;
    int64_t context, dim, layers, heads, steps, sample;
    double dropout, temperature, test_fraction;
} options;

/* The model's sizes (the user pointer of build). */
typedef struct shape {
    int64_t T, vocab;
    int dim, layers, heads;
    float dropout;
} shape;

static hcl_status build(hcl_model *m, const void *user) {
    const shape *s = user;
    hcl_status st;
    int table;
    if ((st = hcl_model_input_tokens(m, s->T, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_embedding(m, HCL_NN_PREV, s->vocab, s->dim, -1, &table)) != HCL_OK) return st;
    if ((st = hcl_model_pos_embedding(m, HCL_NN_PREV, HCL_POS_LEARNED, NULL)) != HCL_OK) return st;
    for (int l = 0; l < s->layers; l++)
        if ((st = hcl_model_transformer_block(m, HCL_NN_PREV, s->heads, 4 * s->dim, s->dropout, 1, NULL)) != HCL_OK)
            return st;
    if ((st = hcl_model_layernorm(m, HCL_NN_PREV, 1e-5f, NULL)) != HCL_OK) return st;
    return hcl_model_linear_tied(m, HCL_NN_PREV, table, NULL);
}

/* GPT-2's initialisation of the token table, N(0, 0.02), instead of the embedding layer's N(0, 1)
 * (PyTorch's nn.Embedding): with the tied head the logits are h E^T over a unit-variance h, so
 * N(0, 1) rows start them at a standard deviation of sqrt(dim) (a first loss near 20 nats). */
static hcl_status init_table(hcl_model *m, uint64_t seed) {
    for (int id = 0; id < (int)hcl_model_node_count(m); id++) {
        if (hcl_model_node_kind(m, id) != HCL_LAYER_EMBEDDING) continue;
        char name[256];
        size_t index;
        snprintf(name, sizeof name, "%s.weight", hcl_model_node_name(m, id));
        hcl_params *p = hcl_model_params(m);
        hcl_status st = hcl_params_find(p, name, &index);
        if (st != HCL_OK) return st;
        hcl_init init = {HCL_INIT_NORMAL, 0.0f, 0.02f, 1.0f, 0, 0};
        return hcl_params_init(p, index, &init, seed);
    }
    return HCL_ERR_INVALID_ARGUMENT;
}

/* ------------------------------------------------------------------ data */

/* A character vocabulary plus one id for "\n": the tokenizer turns every ASCII white space
 * character into " ", so the line break that joins the texts gets an id of its own after the
 * vocabulary's (ids: <pad>, <unk>, the characters of the training split, "\n"). */
typedef struct charset {
    hcl_vocab *vocab;
    int32_t newline; /* = hcl_vocab_size(vocab) */
    int64_t size;    /* newline + 1 */
} charset;

/* Bytes of the UTF-8 sequence starting at p (1 for a byte that starts none; texts read from a
 * TSV file are valid UTF-8). */
static size_t utf8_len(const unsigned char *p) {
    size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
               : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 1;
    return n;
}

/* The texts of c joined with "\n" as one id stream (the tokenizer's character rules: each code
 * point its id, ASCII white space " ", UNK when not in the vocabulary). NULL when out of memory. */
static int32_t *encode_stream(const hcl_text_corpus *c, const charset *cs, size_t *len) {
    size_t cap = c->count;
    for (size_t i = 0; i < c->count; i++) cap += c->lengths[i];
    int32_t *ids = malloc((cap ? cap : 1) * sizeof *ids);
    if (!ids) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (i) ids[n++] = cs->newline;
        const unsigned char *p = (const unsigned char *)c->texts[i];
        for (size_t k = 0; k < c->lengths[i];) {
            size_t b = utf8_len(p + k);
            char ch[5] = {0};
            memcpy(ch, p + k, b);
            if (b == 1 && strchr("\t\n\v\f\r", ch[0])) ch[0] = ' ';
            ids[n++] = hcl_vocab_lookup(cs->vocab, ch);
            k += b;
        }
    }
    *len = n;
    return ids;
}

/* Non-overlapping windows of T + 1 ids of a stream: x (n, T) = each window's first T ids and
 * y (n, T) its last T. */
typedef struct windows {
    size_t n;
    int32_t *x, *y;
} windows;

static int cut_windows(const int32_t *ids, size_t len, int64_t T, windows *w) {
    size_t t = (size_t)T;
    w->n = len / (t + 1);
    w->x = malloc((w->n ? w->n : 1) * t * sizeof(int32_t));
    w->y = malloc((w->n ? w->n : 1) * t * sizeof(int32_t));
    if (!w->x || !w->y) return 0;
    for (size_t i = 0; i < w->n; i++) {
        memcpy(w->x + i * t, ids + i * (t + 1), t * sizeof(int32_t));
        memcpy(w->y + i * t, ids + i * (t + 1) + 1, t * sizeof(int32_t));
    }
    return 1;
}

static void windows_free(windows *w) {
    free(w->x);
    free(w->y);
}

/* Reads the TSV file, splits it, builds the character set from the training split and cuts both
 * streams into windows. 0 after printing why. */
static int load(ex_session *s, const options *o, charset *cs, windows *train, windows *test) {
    const char *path = s->args->data;
    if (!ex_text_data_present(NAME, path, DEFAULT_DATA,
                              "(the fortunes come with tools/setup.sh), or pass --data FILE (label<TAB>text lines)"))
        return 0;
    hcl_text_corpus *all = NULL, *tr = NULL, *te = NULL;
    hcl_text_options to;
    hcl_text_options_init(&to);
    to.level = HCL_TEXT_CHARS;
    to.lowercase = 0;
    hcl_status st = hcl_text_read_tsv(s->ctx, path, &all);
    if (st == HCL_OK) st = hcl_text_split(s->ctx, all, o->test_fraction, s->args->seed, &tr, &te);
    if (st == HCL_OK) st = hcl_vocab_build(s->ctx, tr, &to, &cs->vocab);
    int ok = st == HCL_OK;
    if (!ok) ex_fail(s, "reading the text", st);
    size_t ntr = 0, nte = 0;
    int32_t *str = NULL, *ste = NULL;
    if (ok) {
        cs->newline = (int32_t)hcl_vocab_size(cs->vocab);
        cs->size = cs->newline + 1;
        str = encode_stream(tr, cs, &ntr);
        ste = str ? encode_stream(te, cs, &nte) : NULL;
        ok = ste && cut_windows(str, ntr, o->context, train) && cut_windows(ste, nte, o->context, test);
        if (!ok) fprintf(stderr, NAME ": out of host memory\n");
    }
    if (ok) {
        fprintf(stderr, NAME ": %zu training and %zu test characters (%zu and %zu texts), %lld symbols; %zu and %zu "
                        "windows of %lld + 1\n",
                ntr, nte, tr->count, te->count, (long long)cs->size, train->n, test->n, (long long)o->context);
        if (!train->n || !test->n) {
            fprintf(stderr, NAME ": the training or test text is shorter than one window (--context)\n");
            ok = 0;
        }
    }
    free(str);
    free(ste);
    hcl_text_corpus_free(all);
    hcl_text_corpus_free(tr);
    hcl_text_corpus_free(te);
    return ok;
}

/* Writes the windows (the first ntr and nte) for tools/compare_pytorch.py. */
static hcl_status export_data(ex_session *s, const char *path, const windows *tr, size_t ntr, const windows *te,
                              size_t nte, const charset *cs, int64_t T) {
    int64_t s_tr[2] = {(int64_t)ntr, T}, s_te[2] = {(int64_t)nte, T};
    size_t btr = ntr * (size_t)T * 4, bte = nte * (size_t)T * 4;
    hcl_safetensors_entry e[4] = {
        {"train_x", HCL_I32, 2, s_tr, tr->x, btr},
        {"train_y", HCL_I32, 2, s_tr, tr->y, btr},
        {"test_x", HCL_I32, 2, s_te, te->x, bte},
        {"test_y", HCL_I32, 2, s_te, te->y, bte},
    };
    char v[32], t[32];
    snprintf(v, sizeof v, "%lld", (long long)cs->size);
    snprintf(t, sizeof t, "%lld", (long long)T);
    hcl_safetensors_meta meta[3] = {{"example", NAME}, {"vocab_size", v}, {"context", t}};
    return hcl_safetensors_save(s->ctx, path, e, 4, meta, 3);
}

/* ------------------------------------------------------------------ batches */

/* x and y windows through two token batchers created with the same options and seed. */
static hcl_status source(ex_session *s, const windows *w, size_t n, int64_t T, int shuffle, ex_source *src) {
    hcl_batcher_options bo;
    ex_batcher_options(s->args, &bo);
    bo.shuffle = shuffle;
    hcl_status st = hcl_token_batcher_create(s->ctx, w->x, NULL, NULL, n, T, &bo, &src->tokens);
    return st == HCL_OK ? hcl_token_batcher_create(s->ctx, w->y, NULL, NULL, n, T, &bo, &src->targets) : st;
}

/* Checks that the two batchers serve the same windows: in the first batch, y must be x shifted by
 * one in every row (windows do not overlap, so another row's y would not match). Then rewinds. */
static int check_aligned(ex_session *s, ex_source *src, int64_t T) {
    ex_batch b;
    int32_t *x = NULL, *y = NULL;
    int ok = 0;
    hcl_status st = ex_source_next(src, &b);
    if (st == HCL_OK && b.n) {
        size_t n = b.n * (size_t)T;
        x = malloc(n * 4);
        y = malloc(n * 4);
        if (x && y && (st = hcl_tensor_download_raw(b.x, x, n * 4)) == HCL_OK &&
            (st = hcl_tensor_download_raw(b.target, y, n * 4)) == HCL_OK) {
            ok = 1;
            for (size_t r = 0; r < b.n && ok; r++)
                ok = T < 2 || !memcmp(x + r * (size_t)T + 1, y + r * (size_t)T, ((size_t)T - 1) * 4);
            if (!ok) fprintf(stderr, NAME ": the x and y batches do not hold the same windows\n");
        }
    }
    if (st == HCL_OK) st = ex_source_seek_epoch(src, 0);
    if (st != HCL_OK) ex_fail(s, "checking the batches", st);
    free(x);
    free(y);
    return ok && st == HCL_OK;
}

/* ------------------------------------------------------------------ sampling */

/* splitmix64: the sampler's host random numbers, uniform in [0, 1). */
static double uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* Draws an id from softmax(logits / temperature) over ids 1..V-1 (never <pad>). */
static int32_t draw(const float *logits, int64_t V, double temperature, uint64_t *rng, double *p) {
    double top = -INFINITY, sum = 0;
    for (int64_t i = 1; i < V; i++) top = fmax(top, (double)logits[i]);
    for (int64_t i = 1; i < V; i++) sum += p[i] = exp(((double)logits[i] - top) / temperature);
    double u = uniform(rng) * sum;
    for (int64_t i = 1; i < V; i++)
        if ((u -= p[i]) < 0) return (int32_t)i;
    return (int32_t)(V - 1);
}

static void print_id(const charset *cs, int32_t id) {
    if (id == cs->newline) fputs("\n  ", stdout);
    else if (id == HCL_TEXT_UNK) fputs("\xEF\xBF\xBD", stdout); /* U+FFFD */
    else fputs(hcl_vocab_token(cs->vocab, id), stdout);
}

/* Generates o->sample characters from a "\n" prompt: each step an eval-mode forward of batch 1
 * over the last <= T ids, right-padded (causal attention: the padding after the last valid
 * position cannot influence it), and a draw from the logits at that position. Prints the text
 * indented on stdout. */
static int sample(ex_session *s, const charset *cs, const options *o) {
    int64_t T = o->context, V = cs->size, shape1[2] = {1, T};
    size_t total = 1 + (size_t)o->sample;
    int32_t *hist = malloc(total * 4), *row = malloc((size_t)T * 4);
    float *logits = malloc((size_t)(T * V) * sizeof(float));
    double *p = malloc((size_t)V * sizeof(double));
    hcl_tensor *ids = NULL;
    uint64_t rng = s->args->seed ^ 0x5A3C1E0Full;
    int rc = 1;
    hcl_status st = hist && row && logits && p ? hcl_tensor_create(s->ctx, HCL_I32, 2, shape1, &ids) : HCL_ERR_HOST_MEMORY;
    if (st == HCL_OK) {
        printf("sample (%lld characters, temperature %g):\n  ", (long long)o->sample, o->temperature);
        hist[0] = cs->newline;
    }
    for (size_t n = 1; n < total && st == HCL_OK; n++) {
        size_t L = n < (size_t)T ? n : (size_t)T;
        memset(row, 0, (size_t)T * 4);
        memcpy(row, hist + n - L, L * 4);
        if ((st = hcl_tensor_upload_raw(ids, row, (size_t)T * 4)) != HCL_OK) break;
        if ((st = hcl_model_forward(s->model, ids, 0)) != HCL_OK) break;
        if ((st = hcl_tensor_download_f32(hcl_model_output(s->model), logits, (size_t)(T * V))) != HCL_OK) break;
        hist[n] = draw(logits + (L - 1) * (size_t)V, V, o->temperature, &rng, p);
        print_id(cs, hist[n]);
    }
    if (st == HCL_OK) {
        printf("\n");
        rc = 0;
    } else {
        ex_fail(s, "sampling", st);
    }
    hcl_tensor_free(ids);
    free(hist);
    free(row);
    free(logits);
    free(p);
    return rc;
}

/* ------------------------------------------------------------------ main */

/* Exports, builds, trains, samples and reports. Returns the exit code. */
static int run(ex_session *s, const options *o, const charset *cs, const windows *wtr, const windows *wte) {
    const ex_args *a = s->args;
    int64_t T = o->context;
    size_t ntr = ex_limit(a, wtr->n), nte = ex_limit(a, wte->n);
    ex_source str = {0}, ste = {0};
    int rc = 1;
    hcl_status st;
    if (o->export_path) {
        if ((st = export_data(s, o->export_path, wtr, ntr, wte, nte, cs, T)) != HCL_OK) {
            ex_fail(s, "--export-data", st);
            return 1;
        }
        fprintf(stderr, NAME ": wrote the windows to %s\n", o->export_path);
        if (a->epochs == 0) return 0;
    }
    shape sh = {T, cs->size, (int)o->dim, (int)o->layers, (int)o->heads, (float)o->dropout};
    if (ex_build(s, build, &sh, HCL_LOSS_CROSS_ENTROPY)) return 1;
    if ((st = init_table(s->model, a->seed)) != HCL_OK) {
        ex_fail(s, "initialising the token table", st);
        return 1;
    }
    if ((st = source(s, wtr, ntr, T, 1, &str)) != HCL_OK || (st = source(s, wte, nte, T, 0, &ste)) != HCL_OK) {
        ex_fail(s, "hcl_token_batcher_create", st);
        goto done;
    }
    if (!check_aligned(s, &str, T)) goto done;
    s->unit = "seq";
    s->tokens_per_sample = (double)T;
    s->bits_per_token = 1;
    s->max_steps = (uint64_t)o->steps;
    rc = ex_train(s, &str, &ste);
    if (!rc && o->sample) rc = sample(s, cs, o);
    if (!rc) rc = ex_report(s);
done:
    ex_source_free(&str);
    ex_source_free(&ste);
    return rc;
}

int main(int argc, char **argv) {
    ex_args a;
    ex_args_init(&a, DEFAULT_DATA);
    a.epochs = 3;
    a.batch = 32;
    options o = {NULL, 64, 128, 2, 4, 0, 200, 0.1, 0.8, 0.1};
    const ex_flag flags[] = {
        {"--context", "T", "characters of context (window T + 1)", NULL, &o.context, NULL, 2, 4096},
        {"--dim", "D", "model width (embedding, attention)", NULL, &o.dim, NULL, 1, 1 << 14},
        {"--layers", "N", "Transformer blocks", NULL, &o.layers, NULL, 1, 64},
        {"--heads", "H", "attention heads (divides --dim)", NULL, &o.heads, NULL, 1, 1024},
        {"--dropout", "P", "dropout after attention and MLP", NULL, NULL, &o.dropout, 0, 0.99},
        {"--steps", "N", "stop after N training steps in all (0: run every epoch)", NULL, &o.steps, NULL, 0, 1e12},
        {"--sample", "N", "characters to generate at the end (0: none)", NULL, &o.sample, NULL, 0, 1e6},
        {"--temperature", "X", "sampling temperature", NULL, NULL, &o.temperature, 1e-3, 100},
        {"--test-fraction", "F", "held-out share of the texts (stratified by label)", NULL, NULL, &o.test_fraction,
         0.001, 0.999},
        {"--export-data", "FILE", "write the windows (safetensors) for tools/compare_pytorch.py; with --epochs 0 only "
                                  "that",
         &o.export_path, NULL, NULL, 0, 0},
    };
    const ex_program prog = {NAME,
                             "Trains a GPT-style character model (embedding + positions, pre-LN Transformer blocks, "
                             "tied head) and reports held-out bits per character.",
                             "FILE", "TSV file of label<TAB>text lines (the texts are used)", flags,
                             sizeof flags / sizeof flags[0]};
    int pr = ex_parse(argc, argv, &prog, &a);
    if (pr) return pr == 1 ? 0 : 2;
    if (o.dim % o.heads) {
        fprintf(stderr, NAME ": --heads %lld does not divide --dim %lld\n", (long long)o.heads, (long long)o.dim);
        return 2;
    }
    ex_session s;
    if (ex_open(&s, NAME, &a)) return 1;
    charset cs = {0};
    windows wtr = {0}, wte = {0};
    int rc = load(&s, &o, &cs, &wtr, &wte) ? run(&s, &o, &cs, &wtr, &wte) : 1;
    windows_free(&wtr);
    windows_free(&wte);
    hcl_vocab_free(cs.vocab);
    ex_close(&s);
    return rc;
}
