/* Shared driver of the training examples (fashion_mnist, cifar10, text_classify, char_lm):
 * command-line flags, a batch source over image or token batchers, the training loop with a
 * progress bar on a terminal, one line per epoch, the device-side step log written as CSV,
 * checkpoints, and the final JSON line on stdout. */
#ifndef HCL_EXAMPLES_TRAIN_COMMON_H
#define HCL_EXAMPLES_TRAIN_COMMON_H

#include "halfcl/halfcl.h"

/* ---------------------------------------------------------------- flags */
typedef struct ex_args {
    const char *data, *save, *resume, *log;
    hcl_precision precision;
    int epochs;
    int64_t batch;
    float lr;
    uint64_t seed;
    size_t limit; /* 0 = all */
    int profile;  /* print device time per kernel for each epoch's training steps */
    hcl_dtype state_dtype;             /* optimizer moments: HCL_F32 or HCL_BF16 (--state-dtype) */
    hcl_state_rounding state_rounding; /* BF16 moments: nearest or stochastic (--state-rounding) */
    const char *export_path;   /* --export: inference weights written after training (NULL = none) */
    hcl_dtype export_dtype;    /* --export-dtype: F16 (default), BF16 or F32 */
    const char *export_logits; /* --export-logits: eval logits + inputs of the first test batch */
    int ranks;                 /* --ranks: data-parallel replicas in this process (1) */
    hcl_dtype wire_dtype;      /* --wire: gradients between processes, F32 (default) or F16 */
} ex_args;

/* An example's own flag: a string, an integer or a number in [lo, hi] (exactly one of str,
 * integer, number is set; it holds the default and receives the value). */
typedef struct ex_flag {
    const char *name; /* "--max-len" */
    const char *arg;  /* "N" in the usage text */
    const char *help; /* "tokens per sequence" (the default is appended) */
    const char **str;
    int64_t *integer;
    double *number;
    double lo, hi;
} ex_flag;

/* What the usage text says about a program. */
typedef struct ex_program {
    const char *name, *about;
    const char *data_arg;   /* "DIR" or "FILE" */
    const char *data_help;  /* "data set folder" */
    const ex_flag *flags;   /* the example's own flags (may be NULL) */
    size_t flag_count;
} ex_program;

/* Sets the common defaults (mixed_f16, 5 epochs, batch 64, lr 1e-3, seed 1); an example may
 * change them before ex_parse, whose usage text shows them. */
void ex_args_init(ex_args *a, const char *default_data);
/* Parses flags (prints usage and returns 2 on a bad flag, 1 for --help handled, 0 ok). */
/* A number of flag `flag` in [lo, hi] from v, or a message on stderr and 0. */
int ex_parse_num(const char *flag, const char *v, double lo, double hi, double *out);
int ex_parse(int argc, char **argv, const ex_program *p, ex_args *a);
/* Monotonic seconds, for timing epochs and steps. */
double ex_now(void);
/* min(limit, n) (limit 0 = n). */
size_t ex_limit(const ex_args *a, size_t n);

/* ---------------------------------------------------------------- batches */
/* One training or test batch: the model input x (N, ...), the loss target (labels, or per-step
 * ids of a language model) and the valid steps of each sequence (NULL for images). */
typedef struct ex_batch {
    const hcl_tensor *x, *target, *lengths;
    size_t n;
} ex_batch;

/* Batches from an image batcher (images, labels), or from a token batcher (ids, lengths, labels)
 * and, for per-step targets, a second token batcher whose ids replace the labels: created with
 * the same count, options and seed, it draws the same permutation, so its batches hold the same
 * rows. Owns the batchers (ex_source_free). */
typedef struct ex_source {
    hcl_batcher *images;
    hcl_token_batcher *tokens;
    hcl_token_batcher *targets;
} ex_source;

hcl_status ex_source_next(ex_source *s, ex_batch *b); /* b->n = 0 at the end of an epoch */
hcl_status ex_source_seek_epoch(ex_source *s, uint64_t epoch);
size_t ex_source_batches(const ex_source *s);
size_t ex_source_count(const ex_source *s);
void ex_source_free(ex_source *s);
/* Batcher options from the flags (batch, seed; shuffle on). */
void ex_batcher_options(const ex_args *a, hcl_batcher_options *o);

/* ---------------------------------------------------------------- a training session */
typedef struct ex_session {
    const char *name;
    const ex_args *args;
    hcl_context *ctx;
    hcl_model *model;
    /* set by the example before ex_train */
    const char *unit;          /* throughput unit of the epoch line: "img" (default) or "seq" */
    double tokens_per_sample;  /* mean valid tokens of a training sample: > 0 reports tokens/s */
    int bits_per_token;        /* a language model: report the test loss in bits ("test_bpc") */
    uint64_t max_steps;        /* stop after this many training steps in all (0: no limit) */
    /* results of ex_train */
    hcl_metrics train, test;
    double samples_per_sec;
    size_t train_n;
} ex_session;

/* Adds every node of the model (the input included). */
typedef hcl_status (*ex_build_fn)(hcl_model *m, const void *user);

/* Creates the context (profiling on for --profile) and prints the device and recipe (stderr).
 * Returns 0, or 1 after printing why. */
int ex_open(ex_session *s, const char *name, const ex_args *a);
/* Creates and builds the model (max_batch = --batch, seed = --seed, the given loss) and prints
 * its summary. 0 or 1. */
int ex_build(ex_session *s, ex_build_fn build, const void *user, hcl_loss_kind loss);
/* Trains (resuming from --resume, logging to --log, saving to --save) and evaluates after every
 * epoch; prints one line per epoch on stdout; then writes --export and --export-logits. 0 or 1. */
int ex_train(ex_session *s, ex_source *train, ex_source *test);
/* Prints the JSON summary line (the last line of stdout). 0 or 1. */
int ex_report(ex_session *s);
void ex_close(ex_session *s);

/* --export FILE: the model's weights for inference in --export-dtype (hcl_params_export, metadata
 * "example" = name); --export-logits FILE: "input" (N, ...) F32 and "logits" (N, C) F32 of an
 * eval-mode forward of the first batch of `test` (to check the export against another framework).
 * Each only when its flag is set. 0 or 1. */
int ex_export(ex_session *s, ex_source *test);

/* Prints "<name>: <what> failed: <status>: <context message>" (stderr). */
void ex_fail(const ex_session *s, const char *what, hcl_status st);

/* ---------------------------------------------------------------- image examples */
/* A data set in host memory: u8 images (N, C, H, W) and u8 labels. */
typedef struct ex_data {
    uint8_t *train_x, *train_y, *test_x, *test_y;
    size_t train_n, test_n;
    int64_t shape[3];
    float mean[3], std[3];
} ex_data;

/* Adds the image example's layers after the input node of `m`. */
typedef hcl_status (*ex_image_build_fn)(hcl_model *m);

/* The whole run of an image classifier (cross-entropy): open, build, batchers, train, report.
 * Data-parallel (ex_run_dist) with --ranks > 1 or under mpirun. Returns the exit code. */
int ex_run(const char *name, const ex_args *a, const ex_data *d, ex_image_build_fn build);
/* train_dist.c: the same run data-parallel over --ranks replicas per process (hcl_dist). */
int ex_run_dist(const char *name, const ex_args *a, const ex_data *d, ex_image_build_fn build);
/* 1 when mpirun (or another launcher) started this process among several. */
int ex_mpi_launched(void);
/* Fashion-MNIST (or MNIST) IDX files of `dir` (plain or .gz) in host memory: d points into the
 * idx buffers (free them with ex_fashion_free). Prints why and returns 1 on failure (missing,
 * corrupt, wrong shapes, labels outside 0..9), else 0. */
typedef struct ex_fashion {
    hcl_idx *idx[4]; /* train images, train labels, test images, test labels */
    ex_data d;
} ex_fashion;
int ex_fashion_load(const char *name, const char *dir, ex_fashion *f);
void ex_fashion_free(ex_fashion *f);

/* Tries "dir/name.gz", then "dir/name"; writes the first that exists to out. 0 if none. */
int ex_find(const char *dir, const char *name, char *out, size_t len);
/* 1 if the text data file `path` is readable; else prints "<name>: <path> not found", plus how to
 * build it when it is the example's default (`hint`), and returns 0. */
int ex_text_data_present(const char *name, const char *path, const char *default_path, const char *hint);

#endif
