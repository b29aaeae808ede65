/* text_classify: the classic text classifier trained with halfcl in mixed precision.
 * Embedding (padding id 0) -> bidirectional GRU (or LSTM) -> mean over the valid steps -> Dense:
 * classes logits and cross-entropy, or for two classes one logit and BCE (the sigmoid head).
 * Data: a TSV file (label<TAB>text, split stratified by --seed) or the aclImdb folders (--imdb);
 * lowercased word or character tokens, a vocabulary from the training split only, sequences
 * padded or cut to --max-len. Adam lr 2e-3, batch 64 (the recipe of tools/compare_pytorch.py
 * --model text_classify, which trains on the split written by --export-data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_common.h"

#define NAME "text_classify"
#define DEFAULT_DATA "data/text/langid.tsv"

typedef struct options {
    const char *imdb, *level, *rnn, *export_path;
    int64_t max_len, embed, hidden, layers, max_vocab, bucket;
    double test_fraction;
} options;

/* The model's sizes (the user pointer of build). */
typedef struct shape {
    int64_t T, vocab;
    int embed, hidden, layers, outputs;
    hcl_rnn_cell cell;
} shape;

static hcl_status build(hcl_model *m, const void *user) {
    const shape *s = user;
    hcl_status st;
    if ((st = hcl_model_input_tokens(m, s->T, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_embedding(m, HCL_NN_PREV, s->vocab, s->embed, HCL_TEXT_PAD, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_rnn(m, HCL_NN_PREV, s->cell, s->hidden, s->layers, 1, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_seq_pool(m, HCL_NN_PREV, HCL_SEQ_POOL_MEAN, NULL)) != HCL_OK) return st;
    return hcl_model_linear(m, HCL_NN_PREV, s->outputs, NULL);
}

/* The TSV file split stratified by --seed. */
static int load_tsv(ex_session *s, const options *o, hcl_text_corpus **train, hcl_text_corpus **test) {
    const char *path = s->args->data;
    if (!ex_text_data_present(NAME, path, DEFAULT_DATA,
                              "(the word lists and fortunes come with tools/setup.sh), or pass --data FILE "
                              "(label<TAB>text) or --imdb DIR"))
        return 0;
    hcl_text_corpus *all = NULL;
    hcl_status st;
    if ((st = hcl_text_read_tsv(s->ctx, path, &all)) == HCL_OK)
        st = hcl_text_split(s->ctx, all, o->test_fraction, s->args->seed, train, test);
    hcl_text_corpus_free(all);
    if (st != HCL_OK) ex_fail(s, "reading the TSV file", st);
    return st == HCL_OK;
}

/* --limit: at most n texts of *c, drawn stratified and seeded (the corpus order kept). The
 * corpora are grouped by label (TSV files from tools/make_text_datasets.sh, IMDB's neg then pos),
 * so their first n texts would be one class. */
static hcl_status subsample(hcl_context *ctx, hcl_text_corpus **c, size_t n, uint64_t seed) {
    if (!n || n >= (*c)->count) return HCL_OK;
    hcl_text_corpus *keep = NULL, *rest = NULL;
    hcl_status st = hcl_text_split(ctx, *c, (double)n / (double)(*c)->count, seed, &rest, &keep);
    hcl_text_corpus_free(rest);
    if (st == HCL_OK) {
        hcl_text_corpus_free(*c);
        *c = keep;
    }
    return st;
}

/* The training and test corpora (each cut to --limit): the two aclImdb splits, or the TSV file
 * split stratified. */
static int load(ex_session *s, const options *o, hcl_text_corpus **train, hcl_text_corpus **test) {
    const ex_args *a = s->args;
    hcl_status st;
    if (o->imdb) {
        if ((st = hcl_text_read_imdb(s->ctx, o->imdb, "train", train)) != HCL_OK ||
            (st = hcl_text_read_imdb(s->ctx, o->imdb, "test", test)) != HCL_OK) {
            ex_fail(s, "reading the aclImdb folder", st);
            return 0;
        }
    } else if (!load_tsv(s, o, train, test)) {
        return 0;
    }
    if ((st = subsample(s->ctx, train, a->limit, a->seed)) != HCL_OK ||
        (st = subsample(s->ctx, test, a->limit, a->seed)) != HCL_OK) {
        ex_fail(s, "--limit", st);
        return 0;
    }
    return 1;
}

/* Writes the encoded split for tools/compare_pytorch.py. */
static hcl_status export_data(ex_session *s, const char *path, const hcl_text_encoded *tr,
                              const hcl_text_encoded *te, size_t vocab, const char *level) {
    size_t ntr = tr->count, nte = te->count;
    int64_t T = tr->max_len, s_tr[2] = {(int64_t)ntr, T}, s_te[2] = {(int64_t)nte, T};
    hcl_safetensors_entry e[6] = {
        {"train_tokens", HCL_I32, 2, s_tr, tr->tokens, ntr * (size_t)T * 4},
        {"train_lengths", HCL_I32, 1, s_tr, tr->lengths, ntr * 4},
        {"train_labels", HCL_I32, 1, s_tr, tr->labels, ntr * 4},
        {"test_tokens", HCL_I32, 2, s_te, te->tokens, nte * (size_t)T * 4},
        {"test_lengths", HCL_I32, 1, s_te, te->lengths, nte * 4},
        {"test_labels", HCL_I32, 1, s_te, te->labels, nte * 4},
    };
    char v[32], c[32], t[32];
    snprintf(v, sizeof v, "%zu", vocab);
    snprintf(c, sizeof c, "%zu", tr->classes);
    snprintf(t, sizeof t, "%lld", (long long)T);
    hcl_safetensors_meta meta[5] = {
        {"example", NAME}, {"vocab_size", v}, {"classes", c}, {"max_len", t}, {"level", level}};
    return hcl_safetensors_save(s->ctx, path, e, 6, meta, 5);
}

/* Checks the example's own flags; 0 with a message when one is invalid. */
static int check_options(const options *o, hcl_text_options *to, hcl_rnn_cell *cell) {
    hcl_text_options_init(to);
    to->lowercase = 1;
    to->max_len = o->max_len;
    to->max_vocab = (size_t)o->max_vocab;
    /* words for IMDB reviews, characters for the word lists of the default data set */
    const char *level = o->level ? o->level : o->imdb ? "words" : "chars";
    if (!strcmp(level, "words")) to->level = HCL_TEXT_WORDS;
    else if (!strcmp(level, "chars")) to->level = HCL_TEXT_CHARS;
    else {
        fprintf(stderr, NAME ": --level: '%s' is not words or chars\n", level);
        return 0;
    }
    if (!strcmp(o->rnn, "gru")) *cell = HCL_RNN_GRU;
    else if (!strcmp(o->rnn, "lstm")) *cell = HCL_RNN_LSTM;
    else {
        fprintf(stderr, NAME ": --rnn: '%s' is not gru or lstm\n", o->rnn);
        return 0;
    }
    return 1;
}

/* Mean valid tokens per sequence (the tokens/s figure). */
static double mean_length(const hcl_text_encoded *e) {
    double sum = 0;
    for (size_t i = 0; i < e->count; i++) sum += e->lengths[i];
    return e->count ? sum / (double)e->count : 0.0;
}

/* A token batcher source over e, shuffled (and bucketed by length) or not. Each batch is trimmed
 * to its longest sequence: the RNN then runs only those steps (the same outputs and gradients). */
static hcl_status source(ex_session *s, const hcl_text_encoded *e, int shuffle, int64_t bucket, ex_source *src) {
    hcl_batcher_options bo;
    ex_batcher_options(s->args, &bo);
    bo.shuffle = shuffle;
    bo.trim = 1;
    bo.bucket = shuffle ? (int)bucket : 0;
    return hcl_token_batcher_create(s->ctx, e->tokens, e->lengths, e->labels, e->count, e->max_len, &bo, &src->tokens);
}

/* Encodes, optionally exports, builds, trains and reports. Returns the exit code. */
static int run(ex_session *s, const options *o, const hcl_text_options *to, hcl_rnn_cell cell,
               const hcl_text_corpus *train, const hcl_text_corpus *test) {
    const ex_args *a = s->args;
    hcl_vocab *vocab = NULL;
    hcl_text_encoded *etr = NULL, *ete = NULL;
    ex_source str = {0}, ste = {0};
    int rc = 1;
    hcl_status st;
    if ((st = hcl_vocab_build(s->ctx, train, to, &vocab)) != HCL_OK ||
        (st = hcl_text_encode(s->ctx, train, vocab, to, &etr)) != HCL_OK ||
        (st = hcl_text_encode(s->ctx, test, vocab, to, &ete)) != HCL_OK) {
        ex_fail(s, "tokenising", st);
        goto done;
    }
    size_t classes = train->classes;
    fprintf(stderr, NAME ": %zu classes, vocabulary %zu, %zu training texts (%zu cut to %lld tokens), %zu test texts "
                         "(%zu unknown tokens)\n",
            classes, hcl_vocab_size(vocab), etr->count, etr->truncated, (long long)to->max_len, ete->count, ete->unknown);
    if (classes < 2 || !etr->count || !ete->count) {
        fprintf(stderr, NAME ": need at least 2 classes and non-empty training and test splits\n");
        goto done;
    }
    if (o->export_path) {
        const char *level = to->level == HCL_TEXT_WORDS ? "words" : "chars";
        if ((st = export_data(s, o->export_path, etr, ete, hcl_vocab_size(vocab), level)) != HCL_OK) {
            ex_fail(s, "--export-data", st);
            goto done;
        }
        fprintf(stderr, NAME ": wrote the encoded split to %s\n", o->export_path);
        if (a->epochs == 0) {
            rc = 0;
            goto done;
        }
    }
    shape sh = {to->max_len, (int64_t)hcl_vocab_size(vocab), (int)o->embed, (int)o->hidden, (int)o->layers,
                classes > 2 ? (int)classes : 1, cell};
    if (ex_build(s, build, &sh, classes > 2 ? HCL_LOSS_CROSS_ENTROPY : HCL_LOSS_BCE_WITH_LOGITS)) goto done;
    if ((st = source(s, etr, 1, o->bucket, &str)) != HCL_OK || (st = source(s, ete, 0, 0, &ste)) != HCL_OK) {
        ex_fail(s, "hcl_token_batcher_create", st);
        goto done;
    }
    s->unit = "seq";
    s->tokens_per_sample = mean_length(etr);
    rc = ex_train(s, &str, &ste);
    if (!rc) rc = ex_report(s);
done:
    ex_source_free(&str);
    ex_source_free(&ste);
    hcl_text_encoded_free(etr);
    hcl_text_encoded_free(ete);
    hcl_vocab_free(vocab);
    return rc;
}

int main(int argc, char **argv) {
    ex_args a;
    ex_args_init(&a, DEFAULT_DATA);
    a.lr = 2e-3f;
    options o = {NULL, NULL, "gru", NULL, 32, 64, 64, 1, 20000, 0, 0.2};
    const ex_flag flags[] = {
        {"--imdb", "DIR", "aclImdb folder (train/ and test/ with pos/ and neg/): read it instead of --data", &o.imdb,
         NULL, NULL, 0, 0},
        {"--level", "L", "words | chars: tokens (lowercased); default chars, words with --imdb", &o.level, NULL, NULL,
         0, 0},
        {"--rnn", "R", "gru | lstm", &o.rnn, NULL, NULL, 0, 0},
        {"--max-len", "N", "tokens per sequence (longer texts are cut)", NULL, &o.max_len, NULL, 1, 1 << 16},
        {"--embed", "N", "embedding width", NULL, &o.embed, NULL, 1, 1 << 14},
        {"--hidden", "N", "RNN hidden size per direction", NULL, &o.hidden, NULL, 1, 1 << 14},
        {"--layers", "N", "stacked bidirectional RNN layers", NULL, &o.layers, NULL, 1, 16},
        {"--test-fraction", "F", "held-out share of the TSV file (stratified)", NULL, NULL, &o.test_fraction, 0.001,
         0.999},
        {"--max-vocab", "N", "vocabulary size, <pad> and <unk> included", NULL, &o.max_vocab, NULL, 3, 1e9},
        {"--bucket", "K", "sort each run of K shuffled batches by length, so batches run fewer steps (0: off)", NULL,
         &o.bucket, NULL, 0, 1 << 20},
        {"--export-data", "FILE", "write the encoded split (safetensors) for tools/compare_pytorch.py; with --epochs 0 "
                                  "only that",
         &o.export_path, NULL, NULL, 0, 0},
    };
    const ex_program prog = {NAME,
                             "Trains a text classifier: Embedding -> bidirectional GRU/LSTM -> mean over valid steps "
                             "-> Dense (sigmoid/BCE head for two classes).",
                             "FILE", "TSV file of label<TAB>text lines", flags, sizeof flags / sizeof flags[0]};
    int pr = ex_parse(argc, argv, &prog, &a);
    if (pr) return pr == 1 ? 0 : 2;
    hcl_text_options to;
    hcl_rnn_cell cell;
    if (!check_options(&o, &to, &cell)) return 2;

    ex_session s;
    if (ex_open(&s, NAME, &a)) return 1;
    hcl_text_corpus *train = NULL, *test = NULL;
    int rc = load(&s, &o, &train, &test) ? run(&s, &o, &to, cell, train, test) : 1;
    hcl_text_corpus_free(train);
    hcl_text_corpus_free(test);
    ex_close(&s);
    return rc;
}
