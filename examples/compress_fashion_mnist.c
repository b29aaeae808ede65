/* compress_fashion_mnist: the seed Fashion-MNIST CNN (Conv 32 3x3 ReLU, MaxPool 2, Dense 128 ReLU,
 * Dense 10; the network of fashion_mnist.c) trained and compressed every way halfcl offers, with a
 * table of test accuracy and stored model bytes: fp32, mixed_f16, gradual magnitude pruning,
 * int8 post-training quantization and quantization-aware fine-tuning (both evaluated by the int8
 * inference path on their exports), 4-bit weight sharing with a fine-tuned codebook, and a
 * half-width student distilled from the mixed_f16 model against the same student trained alone.
 *
 * Model bytes are what the stored model needs for inference (tensor data, no file header):
 *   fp32 4 B/param; mixed_f16 2 B/param (the --export f16 file);
 *   pruned: per conv/linear weight the nonzero values in F16 plus a presence bitmap of 1 bit per
 *     element, the biases dense in F16;
 *   int8 (PTQ, QAT): the tensors of hcl_model_export_int8's file (I8 weights, F32 per-channel
 *     weight scales, F32 input scale and I32 zero point per layer, F32 biases);
 *   shared: per weight bits/8 B per element (packed indices) plus a 2^bits F32 codebook, the
 *     biases in F16;
 *   students: 2 B/param (F16). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "train_common.h"

/* ------------------------------------------------------------------ options */

typedef struct opts {
    const char *data, *modes;
    int epochs, finetune_epochs, share_bits, calib_batches, json;
    int64_t batch;
    double lr, sparsity, share_lr, temperature, alpha, finetune_lr;
    uint64_t seed;
    size_t limit;
} opts;

enum { M_FP32, M_MIXED, M_PRUNED, M_QAT, M_PTQ, M_SHARED, M_STUDENT, M_DISTILLED, M_COUNT };
static const char *const mode_names[M_COUNT] = {"fp32", "mixed_f16", "pruned", "qat", "ptq", "shared", "student", "distilled"};

static void usage(FILE *f, const opts *o) {
    fprintf(f,
            "usage: compress_fashion_mnist [flags]\n"
            "Trains the Fashion-MNIST CNN (Conv 32 3x3 ReLU, MaxPool 2, Dense 128 ReLU, Dense 10) and compresses it:\n"
            "a table of test accuracy and stored model bytes per method.\n"
            "  --data DIR            Fashion-MNIST IDX folder (default %s)\n"
            "  --epochs N            training epochs of each model trained from scratch (default %d)\n"
            "  --batch B             batch size (default %lld)\n"
            "  --lr LR               Adam learning rate (default %g)\n"
            "  --seed S              init and shuffling seed (default %llu)\n"
            "  --limit N             use at most N training and N test images (0 = all)\n"
            "  --modes LIST          comma-separated subset of fp32,mixed_f16,pruned,qat,ptq,shared,student,distilled\n"
            "                        (default all; qat, ptq, shared and distilled start from the mixed_f16 model)\n"
            "  --sparsity S          pruning target, gradual (Zhu & Gupta) from 20%% to 60%% of the steps (default %g)\n"
            "  --share-bits B        weight sharing: 2^B shared values per layer (default %d)\n"
            "  --share-lr LR         weight sharing: codebook learning rate (default %g)\n"
            "  --finetune-epochs N   QAT and weight-sharing fine-tuning epochs (default %d)\n"
            "  --finetune-lr LR      their Adam learning rate (default %g)\n"
            "  --calib-batches N     PTQ calibration batches, min/max (default %d)\n"
            "  --temperature T       distillation temperature (default %g)\n"
            "  --alpha A             distillation: weight of the teacher's term (default %g)\n"
            "  --json                print the results as one JSON line after the table\n",
            o->data, o->epochs, (long long)o->batch, o->lr, (unsigned long long)o->seed, o->sparsity, o->share_bits,
            o->share_lr, o->finetune_epochs, o->finetune_lr, o->calib_batches, o->temperature, o->alpha);
}

/* 0 ok, 1 --help, 2 bad flag. */
static int parse(int argc, char **argv, opts *o, int want[M_COUNT]) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout, o);
            return 1;
        }
        if (!strcmp(f, "--json")) {
            o->json = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "compress_fashion_mnist: unknown flag or missing value: %s\n", f);
            usage(stderr, o);
            return 2;
        }
        const char *v = argv[++i];
        double x;
        struct {
            const char *name;
            double lo, hi;
            double *d;
            int *n;
        } num[] = {{"--epochs", 0, 1e4, NULL, &o->epochs},
                   {"--finetune-epochs", 0, 1e4, NULL, &o->finetune_epochs},
                   {"--share-bits", 2, 8, NULL, &o->share_bits},
                   {"--calib-batches", 1, 1e6, NULL, &o->calib_batches},
                   {"--lr", 0, 1e3, &o->lr, NULL},
                   {"--finetune-lr", 0, 1e3, &o->finetune_lr, NULL},
                   {"--sparsity", 0, 0.99, &o->sparsity, NULL},
                   {"--share-lr", 0, 1e3, &o->share_lr, NULL},
                   {"--temperature", 1e-3, 1e3, &o->temperature, NULL},
                   {"--alpha", 0, 1, &o->alpha, NULL}};
        int matched = 0;
        for (size_t k = 0; k < sizeof num / sizeof num[0] && !matched; k++) {
            if (strcmp(f, num[k].name)) continue;
            matched = 1;
            if (!ex_parse_num(f, v, num[k].lo, num[k].hi, &x)) return 2;
            if (num[k].d) *num[k].d = x;
            else if (x != floor(x)) {
                fprintf(stderr, "%s: '%s' is not an integer\n", f, v);
                return 2;
            } else *num[k].n = (int)x;
        }
        if (matched) continue;
        if (!strcmp(f, "--data")) o->data = v;
        else if (!strcmp(f, "--modes")) o->modes = v;
        else if (!strcmp(f, "--batch")) {
            if (!ex_parse_num(f, v, 1, 1 << 20, &x)) return 2;
            o->batch = (int64_t)x;
        } else if (!strcmp(f, "--seed")) {
            if (!ex_parse_num(f, v, 0, 1.8e19, &x)) return 2;
            o->seed = (uint64_t)x;
        } else if (!strcmp(f, "--limit")) {
            if (!ex_parse_num(f, v, 0, 1e12, &x)) return 2;
            o->limit = (size_t)x;
        } else {
            fprintf(stderr, "compress_fashion_mnist: unknown flag %s\n", f);
            usage(stderr, o);
            return 2;
        }
    }
    for (int k = 0; k < M_COUNT; k++) want[k] = o->modes == NULL;
    for (const char *p = o->modes; p && *p;) {
        size_t n = strcspn(p, ",");
        int k = 0;
        while (k < M_COUNT && (strlen(mode_names[k]) != n || strncmp(p, mode_names[k], n))) k++;
        if (k == M_COUNT) {
            fprintf(stderr, "--modes: '%.*s' is not one of fp32,mixed_f16,pruned,qat,ptq,shared,student,distilled\n", (int)n, p);
            return 2;
        }
        want[k] = 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* ------------------------------------------------------------------ the run */

typedef struct row {
    int done;
    char label[48];
    double acc;
    size_t params, bytes;
    char note[160];
} row;

typedef struct run {
    const opts *o;
    hcl_context *ctx;
    const ex_data *d;
    size_t train_n, test_n;
    hcl_batcher *train[2], *test[2]; /* [0] F32 for fp32 models, [1] F16 */
    row rows[M_COUNT];
    float **snapshot;                /* the trained mixed_f16 model's parameters (host F32) */
    size_t snapshot_count;
    char tmp[2][512];                /* int8 export files */
} run;

static void fail(const run *r, const char *what, hcl_status st) {
    fprintf(stderr, "compress_fashion_mnist: %s failed: %s: %s\n", what, hcl_status_name(st), r->ctx ? hcl_last_error(r->ctx) : "");
}

#define CHECK(expr)                       \
    do {                                  \
        hcl_status st_ = (expr);          \
        if (st_ != HCL_OK) {              \
            fail(r, #expr, st_);          \
            goto done;                    \
        }                                 \
    } while (0)

/* The seed CNN with `conv` channels and `fc` hidden units, built with the given loss. */
static hcl_status build_cnn(run *r, hcl_precision p, int conv, int fc, hcl_loss_kind loss, hcl_model **out) {
    const int64_t in[3] = {1, 28, 28};
    hcl_model *m = NULL;
    hcl_status st = hcl_model_create(r->ctx, p, &m);
    if (st == HCL_OK) st = hcl_model_input(m, 3, in, NULL);
    if (st == HCL_OK) st = hcl_model_conv2d(m, HCL_NN_PREV, conv, 3, 1, 0, NULL);
    if (st == HCL_OK) st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL);
    if (st == HCL_OK) st = hcl_model_maxpool2d(m, HCL_NN_PREV, 2, 2, NULL);
    if (st == HCL_OK) st = hcl_model_flatten(m, HCL_NN_PREV, NULL);
    if (st == HCL_OK) st = hcl_model_linear(m, HCL_NN_PREV, fc, NULL);
    if (st == HCL_OK) st = hcl_model_activation(m, HCL_NN_PREV, HCL_ACT_RELU, 0, NULL);
    if (st == HCL_OK) st = hcl_model_linear(m, HCL_NN_PREV, 10, NULL);
    if (st == HCL_OK) {
        hcl_model_options mo;
        hcl_model_options_init(&mo, p);
        mo.max_batch = r->o->batch;
        mo.seed = r->o->seed;
        mo.loss = loss;
        mo.distill_temperature = (float)r->o->temperature;
        mo.distill_alpha = (float)r->o->alpha;
        st = hcl_model_build(m, &mo);
    }
    if (st != HCL_OK) {
        hcl_model_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

static int batcher_slot(const hcl_model *m) { return hcl_model_dtype(m) == HCL_F32 ? 0 : 1; }

/* Called before (pre) or after (post) each training step with the 0-based step. */
typedef hcl_status (*step_hook)(void *user, uint64_t step);

/* Trains `epochs` epochs (each replays the same epoch order of the data: every method sees the
 * same batches), with the teacher's eval logits when teacher is set; prints one line per epoch. */
static int train(run *r, const char *label, hcl_model *m, int epochs, double lr, hcl_model *teacher, step_hook pre,
                 step_hook post, void *user) {
    hcl_batcher *b = r->train[batcher_slot(m)];
    uint64_t step = 0;
    for (int e = 0; e < epochs; e++) {
        double t0 = ex_now();
        CHECK(hcl_model_metrics_reset(m));
        CHECK(hcl_batcher_seek_epoch(b, (uint64_t)e));
        for (;;) {
            const hcl_tensor *x, *y;
            size_t n;
            CHECK(hcl_batcher_next(b, &x, &y, &n));
            if (!n) break;
            if (pre) CHECK(pre(user, step));
            if (teacher) {
                CHECK(hcl_model_forward(teacher, x, 0));
                CHECK(hcl_model_set_teacher_logits(m, hcl_model_output(teacher)));
            }
            CHECK(hcl_model_train_step(m, x, y, (float)lr));
            if (post) CHECK(post(user, step));
            step++;
        }
        hcl_metrics tm;
        CHECK(hcl_model_metrics_read(m, &tm));
        fprintf(stderr, "  %-12s epoch %d/%d: train loss %.4f acc %.2f%% (%.1f s)\n", label, e + 1, epochs, tm.loss,
                100 * tm.accuracy, ex_now() - t0);
    }
    return 0;
done:
    return 1;
}

static int evaluate(run *r, hcl_model *m, double *acc) {
    hcl_metrics em;
    CHECK(hcl_model_evaluate(m, r->test[batcher_slot(m)], &em));
    *acc = em.accuracy;
    return 0;
done:
    return 1;
}

static size_t batches_per_epoch(const run *r) { return (r->train_n + (size_t)r->o->batch - 1) / (size_t)r->o->batch; }

static void set_row(run *r, int k, const char *label, double acc, size_t params, size_t bytes) {
    row *w = &r->rows[k];
    w->done = 1;
    snprintf(w->label, sizeof w->label, "%s", label);
    w->acc = acc;
    w->params = params;
    w->bytes = bytes;
}

/* Parameters of a built model to host F32 arrays (a snapshot) and back into a model of the same graph. */
static int take_snapshot(run *r, hcl_model *m) {
    hcl_params *p = hcl_model_params(m);
    r->snapshot_count = hcl_params_count(p);
    r->snapshot = calloc(r->snapshot_count, sizeof *r->snapshot);
    if (!r->snapshot) return 1;
    for (size_t i = 0; i < r->snapshot_count; i++) {
        size_t n = hcl_params_weight(p, i)->count;
        if (!(r->snapshot[i] = malloc(n * sizeof(float)))) return 1;
        CHECK(hcl_params_download(p, i, r->snapshot[i], n));
    }
    return 0;
done:
    return 1;
}

static int restore_snapshot(run *r, hcl_model *m) {
    hcl_params *p = hcl_model_params(m);
    for (size_t i = 0; i < r->snapshot_count; i++) CHECK(hcl_params_upload(p, i, r->snapshot[i], hcl_params_weight(p, i)->count));
    return 0;
done:
    return 1;
}

/* A parameter that pruning and sharing compress: the weight of a conv or linear layer. */
static int is_weight(hcl_params *p, size_t i) {
    const char *name = hcl_params_name(p, i);
    size_t n = strlen(name);
    return n > 7 && !strcmp(name + n - 7, ".weight");
}

/* ------------------------------------------------------------------ methods */

static int run_fp32(run *r) {
    hcl_model *m = NULL;
    int rc = 1;
    double acc;
    CHECK(build_cnn(r, HCL_PRECISION_FP32, 32, 128, HCL_LOSS_CROSS_ENTROPY, &m));
    if (train(r, "fp32", m, r->o->epochs, r->o->lr, NULL, NULL, NULL, NULL) || evaluate(r, m, &acc)) goto done;
    size_t P = hcl_params_numel(hcl_model_params(m));
    set_row(r, M_FP32, "fp32", acc, P, 4 * P);
    snprintf(r->rows[M_FP32].note, sizeof r->rows[M_FP32].note, "F32 weights, 4 B/param");
    rc = 0;
done:
    hcl_model_free(m);
    return rc;
}

/* mixed_f16: also the teacher of the distilled student and the start of PTQ, QAT and sharing. */
static int run_mixed(run *r, hcl_model **out) {
    hcl_model *m = NULL;
    double acc;
    CHECK(build_cnn(r, HCL_PRECISION_MIXED_F16, 32, 128, HCL_LOSS_CROSS_ENTROPY, &m));
    if (train(r, "mixed_f16", m, r->o->epochs, r->o->lr, NULL, NULL, NULL, NULL) || evaluate(r, m, &acc)) goto done;
    size_t P = hcl_params_numel(hcl_model_params(m));
    set_row(r, M_MIXED, "mixed_f16", acc, P, 2 * P);
    snprintf(r->rows[M_MIXED].note, sizeof r->rows[M_MIXED].note, "F16 export (--export-dtype f16), 2 B/param");
    if (take_snapshot(r, m)) goto done;
    *out = m;
    return 0;
done:
    hcl_model_free(m);
    return 1;
}

typedef struct prune_ctx {
    hcl_pruner *pruner;
} prune_ctx;

static hcl_status prune_pre(void *user, uint64_t step) { return hcl_pruner_update(((prune_ctx *)user)->pruner, (int64_t)step); }

static int run_pruned(run *r) {
    hcl_model *m = NULL;
    prune_ctx pc = {NULL};
    int rc = 1;
    double acc;
    CHECK(build_cnn(r, HCL_PRECISION_MIXED_F16, 32, 128, HCL_LOSS_CROSS_ENTROPY, &m));
    hcl_params *p = hcl_model_params(m);
    int64_t steps = (int64_t)(batches_per_epoch(r) * (size_t)r->o->epochs);
    hcl_prune_config pc_cfg;
    hcl_prune_config_init(&pc_cfg, (float)r->o->sparsity);
    pc_cfg.kind = HCL_PRUNE_UNSTRUCTURED;
    pc_cfg.scope = HCL_PRUNE_GLOBAL;
    pc_cfg.initial_sparsity = 0.0f;
    pc_cfg.begin_step = steps / 5;
    pc_cfg.end_step = steps * 3 / 5 > pc_cfg.begin_step ? steps * 3 / 5 : pc_cfg.begin_step;
    pc_cfg.frequency = (int64_t)batches_per_epoch(r) / 10 > 0 ? (int64_t)batches_per_epoch(r) / 10 : 1;
    CHECK(hcl_pruner_create(hcl_model_optimizer(m), &pc_cfg, &pc.pruner));
    for (size_t i = 0; i < hcl_params_count(p); i++)
        if (is_weight(p, i)) CHECK(hcl_pruner_add(pc.pruner, i, SIZE_MAX));
    fprintf(stderr, "  pruned: global magnitude pruning to %.0f%% of the weights, cubic ramp over steps %lld..%lld, "
                    "masks every %lld steps\n", 100 * r->o->sparsity, (long long)pc_cfg.begin_step, (long long)pc_cfg.end_step,
            (long long)pc_cfg.frequency);
    if (train(r, "pruned", m, r->o->epochs, r->o->lr, NULL, prune_pre, NULL, &pc) || evaluate(r, m, &acc)) goto done;
    /* bytes: F16 nonzeros + 1-bit presence bitmap per weight; F16 biases */
    size_t P = hcl_params_numel(p), bytes = 0, wn = 0, wz = 0;
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = hcl_params_weight(p, i)->count;
        if (!is_weight(p, i)) {
            bytes += 2 * n;
            continue;
        }
        float *h = malloc(n * sizeof *h);
        if (!h) goto done;
        hcl_status st = hcl_params_download(p, i, h, n);
        size_t z = 0;
        for (size_t k = 0; k < n; k++) z += h[k] == 0.0f;
        free(h);
        CHECK(st);
        bytes += 2 * (n - z) + (n + 7) / 8;
        wn += n;
        wz += z;
    }
    static char summary[8192];
    CHECK(hcl_model_summary(m, summary, sizeof summary, NULL));
    fputs(summary, stderr);
    char label[48];
    snprintf(label, sizeof label, "pruned %.0f%%", 100 * r->o->sparsity);
    set_row(r, M_PRUNED, label, acc, P, bytes);
    snprintf(r->rows[M_PRUNED].note, sizeof r->rows[M_PRUNED].note,
             "%.1f%% of weights zero; F16 nonzeros + 1-bit bitmap, F16 biases", 100.0 * (double)wz / (double)(wn ? wn : 1));
    rc = 0;
done:
    hcl_pruner_free(pc.pruner);
    hcl_model_free(m);
    return rc;
}

/* Sum of the tensor data bytes of a safetensors file (what the stored model needs). */
static int file_tensor_bytes(run *r, const char *path, size_t *bytes) {
    hcl_safetensors *f = NULL;
    CHECK(hcl_safetensors_load(r->ctx, path, &f));
    *bytes = 0;
    for (size_t i = 0; i < hcl_safetensors_count(f); i++) *bytes += hcl_safetensors_at(f, i)->bytes;
    hcl_safetensors_free(f);
    return 0;
done:
    return 1;
}

/* Exports `m` (fake-quantized, ranges set) as int8, loads the file into a fresh model and
 * evaluates it through the int8 inference path. */
static int int8_eval(run *r, hcl_model *m, const char *path, double *acc, size_t *bytes) {
    hcl_model *q = NULL;
    int rc = 1;
    CHECK(hcl_model_export_int8(m, path));
    CHECK(build_cnn(r, HCL_PRECISION_MIXED_F16, 32, 128, HCL_LOSS_CROSS_ENTROPY, &q));
    CHECK(hcl_model_load_int8(q, path));
    if (evaluate(r, q, acc) || file_tensor_bytes(r, path, bytes)) goto done;
    rc = 0;
done:
    hcl_model_free(q);
    return rc;
}

/* PTQ (min/max calibration of the float mixed_f16 model), then QAT: the calibrated model
 * fine-tuned with fake quantization. Both are evaluated by int8 inference on their exports. */
static int run_quant(run *r, int want_ptq, int want_qat) {
    hcl_model *m = NULL;
    int rc = 1;
    double acc, fake_acc;
    size_t bytes;
    CHECK(build_cnn(r, HCL_PRECISION_MIXED_F16, 32, 128, HCL_LOSS_CROSS_ENTROPY, &m));
    if (restore_snapshot(r, m)) goto done;
    hcl_batcher *cal = r->train[1];
    CHECK(hcl_batcher_seek_epoch(cal, 0));
    CHECK(hcl_model_calibrate(m, cal, (size_t)r->o->calib_batches, HCL_CALIB_MINMAX, 0.0f));
    size_t P = hcl_params_numel(hcl_model_params(m));
    if (evaluate(r, m, &fake_acc)) goto done;
    if (want_ptq) {
        if (int8_eval(r, m, r->tmp[0], &acc, &bytes)) goto done;
        set_row(r, M_PTQ, "ptq int8", acc, P, bytes);
        snprintf(r->rows[M_PTQ].note, sizeof r->rows[M_PTQ].note,
                 "min/max over %d batches; int8 inference (fake-quant %.2f%%)", r->o->calib_batches, 100 * fake_acc);
    }
    if (want_qat) {
        hcl_qat_config qc;
        hcl_qat_config_init(&qc);
        CHECK(hcl_model_enable_qat(m, &qc));
        if (train(r, "qat", m, r->o->finetune_epochs, r->o->finetune_lr, NULL, NULL, NULL, NULL) || evaluate(r, m, &fake_acc))
            goto done;
        if (int8_eval(r, m, r->tmp[1], &acc, &bytes)) goto done;
        set_row(r, M_QAT, "qat int8", acc, P, bytes);
        snprintf(r->rows[M_QAT].note, sizeof r->rows[M_QAT].note,
                 "PTQ model + %d QAT epoch(s) at lr %g; int8 inference (fake-quant %.2f%%)", r->o->finetune_epochs,
                 r->o->finetune_lr, 100 * fake_acc);
    }
    rc = 0;
done:
    hcl_model_free(m);
    return rc;
}

typedef struct share_ctx {
    hcl_weight_share *share;
    float lr;
} share_ctx;

static hcl_status share_post(void *user, uint64_t step) {
    (void)step;
    share_ctx *s = user;
    return hcl_weight_share_step(s->share, s->lr);
}

static int run_shared(run *r) {
    hcl_model *m = NULL;
    share_ctx sc = {NULL, (float)r->o->share_lr};
    int rc = 1;
    double acc0, acc;
    CHECK(build_cnn(r, HCL_PRECISION_MIXED_F16, 32, 128, HCL_LOSS_CROSS_ENTROPY, &m));
    if (restore_snapshot(r, m)) goto done;
    hcl_params *p = hcl_model_params(m);
    CHECK(hcl_weight_share_create(hcl_model_optimizer(m), &sc.share));
    size_t P = hcl_params_numel(p), bytes = 0;
    int bits = r->o->share_bits;
    for (size_t i = 0; i < hcl_params_count(p); i++) {
        size_t n = hcl_params_weight(p, i)->count;
        if (!is_weight(p, i)) {
            bytes += 2 * n;
            continue;
        }
        CHECK(hcl_weight_share_add(sc.share, i, bits));
        bytes += (n * (size_t)bits + 7) / 8 + ((size_t)1 << bits) * 4;
    }
    if (evaluate(r, m, &acc0)) goto done;
    if (train(r, "shared", m, r->o->finetune_epochs, r->o->finetune_lr, NULL, NULL, share_post, &sc) || evaluate(r, m, &acc))
        goto done;
    char label[48];
    snprintf(label, sizeof label, "shared %d-bit", bits);
    set_row(r, M_SHARED, label, acc, P, bytes);
    snprintf(r->rows[M_SHARED].note, sizeof r->rows[M_SHARED].note,
             "k-means %d values/layer (%.2f%% before fine-tuning); packed indices + F32 codebook", 1 << bits, 100 * acc0);
    rc = 0;
done:
    hcl_weight_share_free(sc.share);
    hcl_model_free(m);
    return rc;
}

/* The half-width student (conv 16, fc 64) alone or distilled from `teacher`. */
static int run_student(run *r, hcl_model *teacher) {
    hcl_model *m = NULL;
    int rc = 1, k = teacher ? M_DISTILLED : M_STUDENT;
    double acc;
    CHECK(build_cnn(r, HCL_PRECISION_MIXED_F16, 16, 64, teacher ? HCL_LOSS_DISTILLATION : HCL_LOSS_CROSS_ENTROPY, &m));
    if (train(r, teacher ? "distilled" : "student", m, r->o->epochs, r->o->lr, teacher, NULL, NULL, NULL) ||
        evaluate(r, m, &acc))
        goto done;
    size_t P = hcl_params_numel(hcl_model_params(m));
    set_row(r, k, teacher ? "distilled 16/64" : "student 16/64", acc, P, 2 * P);
    if (teacher)
        snprintf(r->rows[k].note, sizeof r->rows[k].note, "T %g, alpha %g, teacher mixed_f16 (F16 logits); F16", r->o->temperature,
                 r->o->alpha);
    else
        snprintf(r->rows[k].note, sizeof r->rows[k].note, "conv 16, fc 64, trained alone; F16");
    rc = 0;
done:
    hcl_model_free(m);
    return rc;
}

/* ------------------------------------------------------------------ report */

static void print_table(const run *r) {
    const row *base = r->rows[M_FP32].done ? &r->rows[M_FP32] : r->rows[M_MIXED].done ? &r->rows[M_MIXED] : NULL;
    printf("%-16s %9s %8s %8s %12s %7s  %s\n", "method", "test acc", base == &r->rows[M_MIXED] ? "vs f16" : "vs fp32",
           "params", "model bytes", "ratio", "notes");
    static const int order[M_COUNT] = {M_FP32, M_MIXED, M_PRUNED, M_QAT, M_PTQ, M_SHARED, M_STUDENT, M_DISTILLED};
    for (int i = 0; i < M_COUNT; i++) {
        const row *w = &r->rows[order[i]];
        if (!w->done) continue;
        char vs[16] = "", ratio[16] = "";
        if (base) {
            snprintf(vs, sizeof vs, "%+.2f", 100 * (w->acc - base->acc));
            snprintf(ratio, sizeof ratio, "%.1fx", (double)base->bytes / (double)(w->bytes ? w->bytes : 1));
        }
        printf("%-16s %8.2f%% %8s %8zu %12zu %7s  %s\n", w->label, 100 * w->acc, vs, w->params, w->bytes, ratio, w->note);
    }
    if (r->rows[M_STUDENT].done && r->rows[M_DISTILLED].done)
        printf("distillation gain: %+.2f points (distilled %.2f%% vs alone %.2f%%)\n",
               100 * (r->rows[M_DISTILLED].acc - r->rows[M_STUDENT].acc), 100 * r->rows[M_DISTILLED].acc,
               100 * r->rows[M_STUDENT].acc);
}

static void print_json(const run *r) {
    printf("{\"impl\": \"halfcl\", \"example\": \"compress_fashion_mnist\", \"device\": \"%s\", \"epochs\": %d, "
           "\"batch\": %lld, \"train_images\": %zu, \"test_images\": %zu, \"methods\": [",
           hcl_context_device(r->ctx)->name, r->o->epochs, (long long)r->o->batch, r->train_n, r->test_n);
    int first = 1;
    for (int k = 0; k < M_COUNT; k++) {
        const row *w = &r->rows[k];
        if (!w->done) continue;
        printf("%s{\"mode\": \"%s\", \"label\": \"%s\", \"test_accuracy\": %.4f, \"params\": %zu, \"model_bytes\": %zu}",
               first ? "" : ", ", mode_names[k], w->label, w->acc, w->params, w->bytes);
        first = 0;
    }
    printf("]");
    if (r->rows[M_STUDENT].done && r->rows[M_DISTILLED].done)
        printf(", \"distill_gain\": %.4f", r->rows[M_DISTILLED].acc - r->rows[M_STUDENT].acc);
    printf("}\n");
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    opts o = {.data = "/usr/share/datasets/fashion-mnist", .epochs = 5, .finetune_epochs = 1, .share_bits = 4, .calib_batches = 32,
              .batch = 64, .lr = 1e-3, .sparsity = 0.8, .share_lr = 1e-4, .temperature = 2.0, .alpha = 0.5, .finetune_lr = 1e-4,
              .seed = 1};
    int want[M_COUNT];
    int pr = parse(argc, argv, &o, want);
    if (pr) return pr == 1 ? 0 : 2;
    ex_fashion f;
    if (ex_fashion_load("compress_fashion_mnist", o.data, &f)) return 1;
    run rr, *r = &rr;
    memset(r, 0, sizeof *r);
    r->o = &o;
    r->d = &f.d;
    int rc = 1;
    hcl_model *teacher = NULL;
    char err[2048];
    hcl_context_options co;
    hcl_context_options_init(&co);
    co.log = hcl_log_stderr;
    hcl_status cs = hcl_context_create(&r->ctx, &co, err, sizeof err);
    if (cs != HCL_OK) {
        fprintf(stderr, "compress_fashion_mnist: no OpenCL context: %s: %s\n", hcl_status_name(cs), err);
        ex_fashion_free(&f);
        return 1;
    }
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 0; i < 2; i++)
        snprintf(r->tmp[i], sizeof r->tmp[i], "%s/hcl-compress-%ld-%s.safetensors", tmpdir, (long)getpid(), i ? "qat" : "ptq");
    r->train_n = o.limit && o.limit < f.d.train_n ? o.limit : f.d.train_n;
    r->test_n = o.limit && o.limit < f.d.test_n ? o.limit : f.d.test_n;
    fprintf(stderr, "compress_fashion_mnist: %s on %s; %zu training, %zu test images, %d epochs, batch %lld\n",
            hcl_context_device(r->ctx)->name, hcl_context_device(r->ctx)->platform_name, r->train_n, r->test_n, o.epochs,
            (long long)o.batch);
    for (int k = 0; k < 2; k++) {
        hcl_batcher_options bo;
        hcl_batcher_options_init(&bo);
        bo.batch = o.batch;
        bo.seed = o.seed;
        bo.dtype = k ? HCL_F16 : HCL_F32;
        CHECK(hcl_batcher_create(r->ctx, f.d.train_x, f.d.train_y, r->train_n, 3, f.d.shape, &bo, &r->train[k]));
        bo.shuffle = 0;
        CHECK(hcl_batcher_create(r->ctx, f.d.test_x, f.d.test_y, r->test_n, 3, f.d.shape, &bo, &r->test[k]));
    }
    int need_mixed = want[M_MIXED] || want[M_QAT] || want[M_PTQ] || want[M_SHARED] || want[M_DISTILLED];
    if (want[M_DISTILLED]) want[M_STUDENT] = 1; /* the gain needs the student trained alone */
    double t0 = ex_now();
    if (want[M_FP32] && run_fp32(r)) goto done;
    if (need_mixed && run_mixed(r, &teacher)) goto done;
    if (want[M_STUDENT] && run_student(r, NULL)) goto done;
    if (want[M_DISTILLED] && run_student(r, teacher)) goto done;
    if (want[M_PRUNED] && run_pruned(r)) goto done;
    if (want[M_SHARED] && run_shared(r)) goto done;
    if ((want[M_PTQ] || want[M_QAT]) && run_quant(r, want[M_PTQ], want[M_QAT])) goto done;
    fprintf(stderr, "compress_fashion_mnist: all methods in %.1f s\n", ex_now() - t0);
    print_table(r);
    if (o.json) print_json(r);
    fflush(stdout);
    rc = 0;
done:
    for (int i = 0; i < 2; i++) remove(r->tmp[i]);
    for (size_t i = 0; i < r->snapshot_count; i++) free(r->snapshot ? r->snapshot[i] : NULL);
    free(r->snapshot);
    hcl_model_free(teacher);
    for (int k = 0; k < 2; k++) {
        hcl_batcher_free(r->train[k]);
        hcl_batcher_free(r->test[k]);
    }
    hcl_context_free(r->ctx);
    ex_fashion_free(&f);
    return rc;
}
