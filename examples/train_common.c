/* Shared driver of the training examples: flags, the training loop (no host sync inside a step;
 * the device is read only for the progress bar on a terminal, the step log every 1024 steps and
 * at epoch ends), evaluation, checkpoints and the JSON summary line. */
#define _POSIX_C_SOURCE 200809L
#include "train_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_RING 1024

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int ex_find(const char *dir, const char *name, char *out, size_t len) {
    if (!out || len == 0) return 0; /* also keeps gcc's UBSan build from seeing a NULL snprintf path */
    const char *ext[2] = {".gz", ""};
    for (int i = 0; i < 2; i++) {
        snprintf(out, len, "%s/%s%s", dir, name, ext[i]);
        if (access(out, R_OK) == 0) return 1;
    }
    return 0;
}

static void usage(FILE *f, const char *name, const char *default_data, const char *about) {
    fprintf(f,
            "usage: %s [flags]\n%s\n"
            "  --data DIR          data set folder (default %s)\n"
            "  --precision P       fp32 | mixed_f16 | mixed_bf16 | pure_f16 (default mixed_f16)\n"
            "  --epochs N          total epochs, including those of a resumed checkpoint (default 5)\n"
            "  --batch B           batch size (default 64)\n"
            "  --lr LR             Adam learning rate (default 1e-3)\n"
            "  --seed S            parameter init and shuffling seed (default 1)\n"
            "  --save FILE         checkpoint after every epoch (safetensors, written atomically)\n"
            "  --resume FILE       continue from a checkpoint written by --save\n"
            "  --log FILE.csv      per-step loss, loss scale and skipped steps\n"
            "  --limit N           use only the first N training and test images\n"
            "  --profile           print the device time of each kernel per epoch (stderr)\n"
            "The last line of stdout is a JSON object with the results.\n",
            name, about, default_data);
}

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= lo && x <= hi)) {
        fprintf(stderr, "%s: invalid value '%s' (expected a number in [%g, %g])\n", flag, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

int ex_parse(int argc, char **argv, const char *name, const char *default_data, const char *about, ex_args *a) {
    memset(a, 0, sizeof *a);
    a->data = default_data;
    a->precision = HCL_PRECISION_MIXED_F16;
    a->epochs = 5;
    a->batch = 64;
    a->lr = 1e-3f;
    a->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout, name, default_data, about);
            return 1;
        }
        if (!strcmp(f, "--profile")) {
            a->profile = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: unknown flag or missing value: %s\n", name, f);
            usage(stderr, name, default_data, about);
            return 2;
        }
        const char *v = argv[++i];
        double x;
        if (!strcmp(f, "--data")) a->data = v;
        else if (!strcmp(f, "--save")) a->save = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--log")) a->log = v;
        else if (!strcmp(f, "--precision")) {
            if (hcl_precision_parse(v, &a->precision) != HCL_OK) {
                fprintf(stderr, "--precision: '%s' is not fp32, mixed_f16, mixed_bf16 or pure_f16\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--epochs")) {
            if (!parse_num(f, v, 0, 1e6, &x)) return 2;
            a->epochs = (int)x;
        } else if (!strcmp(f, "--batch")) {
            if (!parse_num(f, v, 1, 1 << 20, &x)) return 2;
            a->batch = (int64_t)x;
        } else if (!strcmp(f, "--lr")) {
            if (!parse_num(f, v, 0, 1e3, &x)) return 2;
            a->lr = (float)x;
        } else if (!strcmp(f, "--seed")) {
            if (!parse_num(f, v, 0, 1.8e19, &x)) return 2;
            a->seed = (uint64_t)x;
        } else if (!strcmp(f, "--limit")) {
            if (!parse_num(f, v, 0, 1e12, &x)) return 2;
            a->limit = (size_t)x;
        } else {
            fprintf(stderr, "%s: unknown flag %s\n", name, f);
            usage(stderr, name, default_data, about);
            return 2;
        }
    }
    return 0;
}

typedef struct run_state {
    hcl_context *ctx;
    hcl_model *model;
    FILE *log;
    size_t batches;
} run_state;

/* Drains the device step log into the CSV file (a sync). */
static hcl_status flush_log(run_state *r) {
    if (!r->log) return HCL_OK;
    static hcl_step_record rec[LOG_RING];
    size_t n = 0;
    hcl_status st = hcl_model_log_read(r->model, rec, LOG_RING, &n);
    if (st != HCL_OK) return st;
    for (size_t i = 0; i < n; i++)
        fprintf(r->log, "%llu,%llu,%.6g,%.8g,%u,%d\n", (unsigned long long)rec[i].step,
                (unsigned long long)(rec[i].step / r->batches), (double)rec[i].loss, (double)rec[i].scale, rec[i].skipped,
                rec[i].was_skipped);
    fflush(r->log);
    return HCL_OK;
}

/* The training steps' device time per kernel, most first (the --profile table). */
static hcl_status print_profile(hcl_context *ctx, size_t steps) {
    hcl_kernel_profile *p = NULL;
    size_t n = 0;
    hcl_status st = hcl_profile_get(ctx, &p, &n);
    if (st != HCL_OK) return st;
    double total = 0;
    for (size_t i = 0; i < n; i++) total += p[i].total_ms;
    fprintf(stderr, "%-40s %9s %11s %9s %6s\n", "kernel", "launches", "total ms", "ms/step", "share");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%-40s %9lu %11.1f %9.3f %5.1f%%\n", p[i].name, p[i].launches, p[i].total_ms,
                steps ? p[i].total_ms / (double)steps : 0.0, total > 0 ? 100 * p[i].total_ms / total : 0.0);
    fprintf(stderr, "%-40s %9s %11.1f %9.3f\n", "all kernels", "", total, steps ? total / (double)steps : 0.0);
    hcl_profile_entries_free(p);
    return HCL_OK;
}

#define CHECK(expr)                                                                                   \
    do {                                                                                              \
        hcl_status st_ = (expr);                                                                      \
        if (st_ != HCL_OK) {                                                                          \
            fprintf(stderr, "%s: %s failed: %s: %s\n", name, #expr, hcl_status_name(st_),            \
                    ctx ? hcl_last_error(ctx) : "");                                                  \
            goto done;                                                                                \
        }                                                                                             \
    } while (0)

int ex_run(const char *name, const ex_args *a, const ex_data *d, ex_build_fn build) {
    int rc = 1;
    hcl_context *ctx = NULL;
    hcl_model *model = NULL;
    hcl_batcher *train = NULL, *test = NULL;
    run_state r = {0};
    char err[2048];
    hcl_context_options co;
    hcl_context_options_init(&co);
    co.log = hcl_log_stderr;
    co.profiling = a->profile;
    hcl_status cs = hcl_context_create(&ctx, &co, err, sizeof err);
    if (cs != HCL_OK) {
        fprintf(stderr, "%s: no OpenCL context: %s: %s\n", name, hcl_status_name(cs), err);
        return 1;
    }
    size_t ntr = a->limit && a->limit < d->train_n ? a->limit : d->train_n;
    size_t nte = a->limit && a->limit < d->test_n ? a->limit : d->test_n;
    fprintf(stderr, "%s: %s on %s; %zu training, %zu test images; precision %s, batch %lld, lr %g\n", name,
            hcl_context_device(ctx)->name, hcl_context_device(ctx)->platform_name, ntr, nte,
            hcl_precision_name(a->precision), (long long)a->batch, (double)a->lr);

    CHECK(hcl_model_create(ctx, a->precision, &model));
    CHECK(hcl_model_input(model, 3, d->shape, NULL));
    CHECK(build(model));
    hcl_model_options mo;
    hcl_model_options_init(&mo, a->precision);
    mo.max_batch = a->batch;
    mo.seed = a->seed;
    CHECK(hcl_model_build(model, &mo));
    static char summary[8192];
    CHECK(hcl_model_summary(model, summary, sizeof summary, NULL));
    fputs(summary, stderr);

    hcl_batcher_options bo;
    hcl_batcher_options_init(&bo);
    bo.batch = a->batch;
    bo.seed = a->seed;
    bo.dtype = hcl_model_dtype(model);
    for (int c = 0; c < 3; c++) bo.mean[c] = d->mean[c], bo.std[c] = d->std[c];
    CHECK(hcl_batcher_create(ctx, d->train_x, d->train_y, ntr, 3, d->shape, &bo, &train));
    bo.shuffle = 0;
    CHECK(hcl_batcher_create(ctx, d->test_x, d->test_y, nte, 3, d->shape, &bo, &test));

    r.ctx = ctx;
    r.model = model;
    r.batches = hcl_batcher_batches(train);
    hcl_optimizer *opt = hcl_model_optimizer(model);
    int start_epoch = 0;
    if (a->resume) {
        hcl_checkpoint_extra ex = {0};
        CHECK(hcl_checkpoint_load(opt, a->resume, &ex));
        start_epoch = (int)(hcl_optimizer_host_step(opt) / r.batches);
        fprintf(stderr, "%s: resumed from %s at step %llu (epoch %d)\n", name, a->resume,
                (unsigned long long)hcl_optimizer_host_step(opt), start_epoch);
        CHECK(hcl_batcher_seek_epoch(train, (uint64_t)start_epoch));
    }
    if (a->log) {
        r.log = fopen(a->log, a->resume ? "a" : "w");
        if (!r.log) {
            fprintf(stderr, "%s: cannot open %s: %s\n", name, a->log, strerror(errno));
            goto done;
        }
        fseek(r.log, 0, SEEK_END);
        if (ftell(r.log) == 0) fprintf(r.log, "step,epoch,loss,loss_scale,skipped_steps,step_skipped\n");
        CHECK(hcl_model_log_enable(model, LOG_RING));
    }

    int tty = isatty(fileno(stderr));
    double train_time = 0, first_step_end = 0;
    size_t timed_images = 0;
    hcl_metrics tm = {0}, em = {0};
    size_t since_flush = 0;
    for (int e = start_epoch; e < a->epochs; e++) {
        CHECK(hcl_model_metrics_reset(model));
        double t0 = now(), last_bar = t0;
        size_t k = 0, images = 0;
        for (;;) {
            const hcl_tensor *x, *y;
            size_t n;
            CHECK(hcl_batcher_next(train, &x, &y, &n));
            if (!n) break;
            CHECK(hcl_model_train_step(model, x, y, a->lr));
            k++;
            images += n;
            if (first_step_end == 0) { /* the first step builds or loads kernels: not timed */
                CHECK(hcl_finish(ctx));
                first_step_end = now();
                t0 = first_step_end;
                hcl_profile_reset(ctx);
                images = 0;
            } else {
                timed_images += n;
            }
            if (r.log && ++since_flush == LOG_RING) {
                CHECK(flush_log(&r));
                since_flush = 0;
            }
            if (tty && now() - last_bar > 0.5) {
                hcl_metrics pm;
                hcl_amp_stats as;
                CHECK(hcl_model_metrics_read(model, &pm));
                CHECK(hcl_optimizer_read_stats(opt, &as));
                double t = now();
                last_bar = t;
                int width = 30, done_w = (int)((double)width * (double)k / (double)r.batches);
                char bar[40];
                for (int i = 0; i < width; i++) bar[i] = i < done_w ? '=' : i == done_w ? '>' : ' ';
                bar[width] = 0;
                fprintf(stderr, "\repoch %d/%d [%s] %zu/%zu loss %.4f acc %.2f%% %.0f img/s scale %g ", e + 1, a->epochs,
                        bar, k, r.batches, pm.loss, 100 * pm.accuracy, t > t0 ? (double)images / (t - t0) : 0.0,
                        (double)as.scale);
            }
        }
        CHECK(hcl_finish(ctx));
        double t1 = now();
        train_time += t1 - t0;
        if (tty) fprintf(stderr, "\r%*s\r", 110, "");
        if (a->profile) CHECK(print_profile(ctx, k));
        CHECK(hcl_model_metrics_read(model, &tm));
        CHECK(hcl_model_evaluate(model, test, &em));
        hcl_profile_reset(ctx);
        CHECK(flush_log(&r));
        since_flush = 0;
        hcl_amp_stats as;
        CHECK(hcl_optimizer_read_stats(opt, &as));
        printf("epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.0f img/s | scale %g, skipped %u | %.1f s\n",
               e + 1, a->epochs, tm.loss, 100 * tm.accuracy, em.loss, 100 * em.accuracy,
               t1 > t0 ? (double)images / (t1 - t0) : 0.0, (double)as.scale, as.skipped, t1 - t0);
        fflush(stdout);
        if (a->save) {
            hcl_checkpoint_meta meta[1] = {{"example", name}};
            hcl_checkpoint_extra ex = {a->seed, 0, meta, 1};
            CHECK(hcl_checkpoint_save(opt, a->save, &ex));
        }
    }
    if (start_epoch >= a->epochs) CHECK(hcl_model_evaluate(model, test, &em));
    hcl_amp_stats as;
    CHECK(hcl_optimizer_read_stats(opt, &as));
    hcl_memory_stats ms;
    hcl_memory_stats_get(ctx, &ms);
    printf("{\"impl\": \"halfcl\", \"example\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"epochs\": %d, "
           "\"batch\": %lld, \"train_images\": %zu, \"test_accuracy\": %.4f, \"test_loss\": %.5f, "
           "\"final_train_loss\": %.5f, \"train_images_per_sec\": %.1f, \"peak_device_bytes\": %zu, "
           "\"skipped_steps\": %u, \"final_loss_scale\": %g}\n",
           name, hcl_context_device(ctx)->name, hcl_precision_name(a->precision), a->epochs, (long long)a->batch, ntr,
           em.accuracy, em.loss, tm.loss, train_time > 0 ? (double)timed_images / train_time : 0.0, ms.peak_bytes,
           as.skipped, (double)as.scale);
    rc = 0;
done:
    if (r.log) fclose(r.log);
    hcl_batcher_free(train);
    hcl_batcher_free(test);
    hcl_model_free(model);
    hcl_context_free(ctx);
    return rc;
}
