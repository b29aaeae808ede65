/* fashion_mnist: the classic Fashion-MNIST CNN trained with halfcl in mixed precision.
 * Conv2D 32 3x3 ReLU -> MaxPool 2x2 -> Flatten -> Dense 128 ReLU -> Dense 10; Adam lr 1e-3,
 * batch 64, pixels scaled to [0,1] (the recipe of tools/compare_pytorch.py). Reads the IDX files
 * (plain or .gz) of Fashion-MNIST or the original MNIST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_common.h"

static hcl_status build(hcl_model *m) {
    hcl_status st;
    if ((st = hcl_model_conv2d(m, HCL_NN_PREV, 32, 3, 1, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_flatten(m, HCL_NN_PREV, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_linear(m, HCL_NN_PREV, 128, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL)) != HCL_OK) return st;
    return hcl_model_linear(m, HCL_NN_PREV, 10, NULL);
}

/* Loads one IDX file of the expected rank (and image size); prints the reason on failure. */
static hcl_idx *load(const char *dir, const char *stem, int rank) {
    char path[4096];
    if (!ex_find(dir, stem, path, sizeof path)) {
        fprintf(stderr, "fashion_mnist: %s/%s[.gz] not found (install the Debian package dataset-fashion-mnist, "
                        "or pass --data DIR with the Fashion-MNIST or MNIST IDX files)\n", dir, stem);
        return NULL;
    }
    hcl_idx *idx = NULL;
    hcl_status st = hcl_idx_load(NULL, path, &idx);
    if (st != HCL_OK) {
        fprintf(stderr, "fashion_mnist: %s: %s (corrupt or truncated IDX file)\n", path, hcl_status_string(st));
        return NULL;
    }
    if (idx->rank != rank || (rank == 3 && (idx->shape[1] != 28 || idx->shape[2] != 28))) {
        fprintf(stderr, "fashion_mnist: %s: unexpected shape (rank %d; want %s)\n", path, idx->rank,
                rank == 3 ? "(N, 28, 28)" : "(N)");
        hcl_idx_free(idx);
        return NULL;
    }
    return idx;
}

int main(int argc, char **argv) {
    ex_args a;
    ex_args_init(&a, "/usr/share/datasets/fashion-mnist");
    const ex_program prog = {"fashion_mnist",
                             "Trains the classic Fashion-MNIST CNN (Conv 32 3x3 ReLU, MaxPool 2, Dense 128 ReLU, Dense 10).",
                             "DIR", "data set folder", NULL, 0};
    int pr = ex_parse(argc, argv, &prog, &a);
    if (pr) return pr == 1 ? 0 : 2;
    hcl_idx *xtr = load(a.data, "train-images-idx3-ubyte", 3), *ytr = xtr ? load(a.data, "train-labels-idx1-ubyte", 1) : NULL;
    hcl_idx *xte = ytr ? load(a.data, "t10k-images-idx3-ubyte", 3) : NULL, *yte = xte ? load(a.data, "t10k-labels-idx1-ubyte", 1) : NULL;
    int rc = 1;
    if (yte) {
        if (xtr->shape[0] != ytr->shape[0] || xte->shape[0] != yte->shape[0]) {
            fprintf(stderr, "fashion_mnist: image and label counts differ (%lld/%lld train, %lld/%lld test)\n",
                    (long long)xtr->shape[0], (long long)ytr->shape[0], (long long)xte->shape[0], (long long)yte->shape[0]);
        } else {
            ex_data d = {xtr->data, ytr->data, xte->data, yte->data, (size_t)xtr->shape[0], (size_t)xte->shape[0],
                         {1, 28, 28}, {0, 0, 0}, {1, 1, 1}};
            int bad = 0;
            for (size_t i = 0; i < d.train_n && !bad; i++) bad = d.train_y[i] > 9;
            for (size_t i = 0; i < d.test_n && !bad; i++) bad = d.test_y[i] > 9;
            if (bad) fprintf(stderr, "fashion_mnist: %s: a label is not in 0..9\n", a.data);
            else rc = ex_run("fashion_mnist", &a, &d, build);
        }
    }
    hcl_idx_free(xtr);
    hcl_idx_free(ytr);
    hcl_idx_free(xte);
    hcl_idx_free(yte);
    return rc;
}
