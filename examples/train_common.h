/* Shared driver of the training examples (fashion_mnist, cifar10): command-line flags, the
 * training loop over a halfcl model with a progress bar on a terminal, one line per epoch, the
 * device-side step log written as CSV, checkpoints, and the final JSON line on stdout. */
#ifndef HCL_EXAMPLES_TRAIN_COMMON_H
#define HCL_EXAMPLES_TRAIN_COMMON_H

#include "halfcl/halfcl.h"

typedef struct ex_args {
    const char *data, *save, *resume, *log;
    hcl_precision precision;
    int epochs;
    int64_t batch;
    float lr;
    uint64_t seed;
    size_t limit; /* 0 = all */
    int profile;  /* print device time per kernel for each epoch's training steps */
} ex_args;

/* A data set in host memory: u8 images (N, C, H, W) and u8 labels. */
typedef struct ex_data {
    uint8_t *train_x, *train_y, *test_x, *test_y;
    size_t train_n, test_n;
    int64_t shape[3];
    float mean[3], std[3];
} ex_data;

/* Adds the example's layers after the input node of `m`. */
typedef hcl_status (*ex_build_fn)(hcl_model *m);

/* Parses flags (prints usage and returns 2 on a bad flag, 1 for --help handled, 0 ok). */
int ex_parse(int argc, char **argv, const char *name, const char *default_data, const char *about, ex_args *a);
/* Creates the context, model and batchers, trains, evaluates and prints; returns the exit code. */
int ex_run(const char *name, const ex_args *a, const ex_data *d, ex_build_fn build);
/* Tries "dir/name.gz", then "dir/name"; writes the first that exists to out. 0 if none. */
int ex_find(const char *dir, const char *name, char *out, size_t len);

#endif
