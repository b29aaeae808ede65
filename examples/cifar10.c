/* cifar10: the classic CIFAR-10 CNN trained with halfcl in mixed precision.
 * Conv 32 3x3 ReLU -> MaxPool 2 -> Conv 64 3x3 ReLU -> MaxPool 2 -> Conv 64 3x3 ReLU -> Flatten
 * -> Dense 64 ReLU -> Dense 10; Adam lr 1e-3, batch 64, pixels scaled to [0,1]. Reads the binary
 * version of CIFAR-10 (data_batch_1..5.bin, test_batch.bin; plain or .gz) from --data DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_common.h"

static hcl_status build(hcl_model *m) {
    hcl_status st;
    if ((st = hcl_model_conv2d(m, HCL_NN_PREV, 32, 3, 1, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_conv2d(m, HCL_NN_PREV, 64, 3, 1, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_conv2d(m, HCL_NN_PREV, 64, 3, 1, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_flatten(m, HCL_NN_PREV, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_linear(m, HCL_NN_PREV, 64, NULL)) != HCL_OK) return st;
    if ((st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL)) != HCL_OK) return st;
    return hcl_model_linear(m, HCL_NN_PREV, 10, NULL);
}

/* Appends the records of `path` to (x, y, n); 1 on success. */
static int append(const char *path, uint8_t **x, uint8_t **y, size_t *n) {
    hcl_cifar10 *c = NULL;
    hcl_status st = hcl_cifar10_load(NULL, path, &c);
    if (st != HCL_OK) {
        fprintf(stderr, "cifar10: %s: %s (not a CIFAR-10 binary batch: records of 1 label byte + 3072 pixels)\n", path,
                hcl_status_string(st));
        return 0;
    }
    uint8_t *nx = realloc(*x, (*n + c->count) * 3072), *ny = nx ? realloc(*y, *n + c->count) : NULL;
    if (nx) *x = nx;
    if (ny) *y = ny;
    if (!nx || !ny) {
        fprintf(stderr, "cifar10: out of memory\n");
        hcl_cifar10_free(c);
        return 0;
    }
    memcpy(*x + *n * 3072, c->images, c->count * 3072);
    memcpy(*y + *n, c->labels, c->count);
    *n += c->count;
    hcl_cifar10_free(c);
    return 1;
}

int main(int argc, char **argv) {
    ex_args a;
    ex_args_init(&a, "cifar-10-batches-bin");
    const ex_program prog = {"cifar10",
                             "Trains the classic CIFAR-10 CNN (Conv 32, Conv 64, Conv 64, Dense 64, Dense 10).",
                             "DIR", "data set folder", NULL, 0};
    int pr = ex_parse(argc, argv, &prog, &a);
    if (pr) return pr == 1 ? 0 : 2;
    uint8_t *xtr = NULL, *ytr = NULL, *xte = NULL, *yte = NULL;
    size_t ntr = 0, nte = 0;
    int rc = 1, ok = 1;
    char path[4096], name[32];
    for (int i = 1; i <= 5 && ok; i++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        if (ex_find(a.data, name, path, sizeof path)) ok = append(path, &xtr, &ytr, &ntr);
        if (a.limit && ntr >= a.limit) break;
    }
    if (ok && !ntr) {
        fprintf(stderr, "cifar10: no %s/data_batch_N.bin[.gz] (download the binary version of CIFAR-10 and pass --data DIR)\n",
                a.data);
        ok = 0;
    }
    if (ok && !ex_find(a.data, "test_batch.bin", path, sizeof path)) {
        fprintf(stderr, "cifar10: %s/test_batch.bin[.gz] not found\n", a.data);
        ok = 0;
    }
    if (ok) ok = append(path, &xte, &yte, &nte);
    if (ok) {
        ex_data d = {xtr, ytr, xte, yte, ntr, nte, {3, 32, 32}, {0, 0, 0}, {1, 1, 1}};
        rc = ex_run("cifar10", &a, &d, build);
    }
    free(xtr);
    free(ytr);
    free(xte);
    free(yte);
    return rc;
}
