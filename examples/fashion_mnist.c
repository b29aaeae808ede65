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

int main(int argc, char **argv) {
    ex_args a;
    ex_args_init(&a, "/usr/share/datasets/fashion-mnist");
    const ex_program prog = {"fashion_mnist",
                             "Trains the classic Fashion-MNIST CNN (Conv 32 3x3 ReLU, MaxPool 2, Dense 128 ReLU, Dense 10).",
                             "DIR", "data set folder", NULL, 0};
    int pr = ex_parse(argc, argv, &prog, &a);
    if (pr) return pr == 1 ? 0 : 2;
    ex_fashion f;
    if (ex_fashion_load("fashion_mnist", a.data, &f)) return 1;
    int rc = ex_run("fashion_mnist", &a, &f.d, build);
    ex_fashion_free(&f);
    return rc;
}
