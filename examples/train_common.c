/* Shared driver of the training examples: flags, batch sources over image or token batchers, the
 * training loop (no host sync inside a step; the device is read only for the progress bar on a
 * terminal, the step log every 1024 steps and at epoch ends), evaluation, checkpoints and the
 * JSON summary line. */
#define _POSIX_C_SOURCE 200809L
#include "train_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_RING 1024

double ex_now(void) {
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

/* ------------------------------------------------------------------ flags */

void ex_args_init(ex_args *a, const char *default_data) {
    memset(a, 0, sizeof *a);
    a->data = default_data;
    a->precision = HCL_PRECISION_MIXED_F16;
    a->epochs = 5;
    a->batch = 64;
    a->lr = 1e-3f;
    a->seed = 1;
    a->state_dtype = HCL_F32;
    a->state_rounding = HCL_STATE_ROUND_NEAREST;
    a->export_dtype = HCL_F16;
    a->ranks = 1;
    a->wire_dtype = HCL_F32;
}

static const char *rounding_name(hcl_state_rounding r) { return r == HCL_STATE_ROUND_STOCHASTIC ? "stochastic" : "nearest"; }

size_t ex_limit(const ex_args *a, size_t n) { return a->limit && a->limit < n ? a->limit : n; }

static void flag_line(FILE *f, const char *name, const char *arg, const char *help) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", name, arg ? " " : "", arg ? arg : "");
    fprintf(f, "  %-20s%s", left, help);
}

int ex_text_data_present(const char *name, const char *path, const char *default_path, const char *hint) {
    if (access(path, R_OK) == 0) return 1;
    fprintf(stderr, "%s: %s not found", name, path);
    if (!strcmp(path, default_path)) fprintf(stderr, ": build it with tools/make_text_datasets.sh %s", hint);
    fputc('\n', stderr);
    return 0;
}

static void usage(FILE *f, const ex_program *p, const ex_args *a) {
    fprintf(f, "usage: %s [flags]\n%s\n", p->name, p->about);
    flag_line(f, "--data", p->data_arg, p->data_help);
    fprintf(f, " (default %s)\n", a->data);
    fprintf(f, "  --precision P       fp32 | mixed_f16 | mixed_bf16 | pure_f16 (default %s)\n"
               "  --epochs N          total epochs, including those of a resumed checkpoint (default %d)\n"
               "  --batch B           batch size (default %lld)\n"
               "  --lr LR             Adam learning rate (default %g)\n"
               "  --seed S            parameter init, data split and shuffling seed (default %llu)\n"
               "  --save FILE         checkpoint after every epoch (safetensors, written atomically)\n"
               "  --resume FILE       continue from a checkpoint written by --save\n"
               "  --log FILE.csv      per-step loss, loss scale and skipped steps\n"
               "  --limit N           use at most N training and N test samples\n"
               "  --state-dtype D     optimizer moments: f32 | bf16 (default %s)\n"
               "  --state-rounding R  bf16 moments: nearest | stochastic (default %s)\n"
               "  --profile           print the device time of each kernel per epoch (stderr)\n"
               "  --export FILE       after training, write the weights for inference (safetensors: <layer>.weight,\n"
               "                      <layer>.bias in PyTorch's layouts)\n"
               "  --export-dtype D    f16 | bf16 | f32 for --export (default %s)\n"
               "  --export-logits FILE  eval-mode inputs and logits of the first test batch (to check an export)\n"
               "  --ranks N           image examples: N data-parallel replicas in this process, one per device or CPU\n"
               "                      sub-device (also under mpirun: N per process); --batch is per replica (default 1)\n"
               "  --wire D            data-parallel gradients between processes: f32 | f16 (default f32)\n",
            hcl_precision_name(a->precision), a->epochs, (long long)a->batch, (double)a->lr,
            (unsigned long long)a->seed, hcl_dtype_name(a->state_dtype), rounding_name(a->state_rounding),
            hcl_dtype_name(a->export_dtype));
    for (size_t i = 0; i < p->flag_count; i++) {
        const ex_flag *x = &p->flags[i];
        flag_line(f, x->name, x->arg, x->help);
        if (x->str && *x->str) fprintf(f, " (default %s)", *x->str);
        if (x->integer) fprintf(f, " (default %lld)", (long long)*x->integer);
        if (x->number) fprintf(f, " (default %g)", *x->number);
        fputc('\n', f);
    }
    fprintf(f, "The last line of stdout is a JSON object with the results.\n");
}

int ex_parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
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

/* The example's own flag `f` = v: 1 matched and set, 0 not one of them, -1 bad value. */
static int parse_own(const ex_program *p, const char *f, const char *v) {
    for (size_t i = 0; i < p->flag_count; i++) {
        const ex_flag *x = &p->flags[i];
        if (strcmp(f, x->name)) continue;
        double d;
        if (x->str) *x->str = v;
        else if (!ex_parse_num(f, v, x->lo, x->hi, &d)) return -1;
        else if (x->number) *x->number = d;
        else if (d != floor(d)) {
            fprintf(stderr, "%s: '%s' is not an integer\n", f, v);
            return -1;
        } else *x->integer = (int64_t)d;
        return 1;
    }
    return 0;
}

int ex_parse(int argc, char **argv, const ex_program *p, ex_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout, p, a);
            return 1;
        }
        if (!strcmp(f, "--profile")) {
            a->profile = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: unknown flag or missing value: %s\n", p->name, f);
            usage(stderr, p, a);
            return 2;
        }
        const char *v = argv[++i];
        double x;
        int own;
        if (!strcmp(f, "--data")) a->data = v;
        else if (!strcmp(f, "--save")) a->save = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--log")) a->log = v;
        else if (!strcmp(f, "--export")) a->export_path = v;
        else if (!strcmp(f, "--export-logits")) a->export_logits = v;
        else if (!strcmp(f, "--export-dtype")) {
            if (!strcmp(v, "f16")) a->export_dtype = HCL_F16;
            else if (!strcmp(v, "bf16")) a->export_dtype = HCL_BF16;
            else if (!strcmp(v, "f32")) a->export_dtype = HCL_F32;
            else {
                fprintf(stderr, "--export-dtype: '%s' is not f16, bf16 or f32\n", v);
                return 2;
            }
        }
        else if (!strcmp(f, "--precision")) {
            if (hcl_precision_parse(v, &a->precision) != HCL_OK) {
                fprintf(stderr, "--precision: '%s' is not fp32, mixed_f16, mixed_bf16 or pure_f16\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--state-dtype")) {
            if (!strcmp(v, "f32")) a->state_dtype = HCL_F32;
            else if (!strcmp(v, "bf16")) a->state_dtype = HCL_BF16;
            else {
                fprintf(stderr, "--state-dtype: '%s' is not f32 or bf16\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--state-rounding")) {
            if (!strcmp(v, "nearest")) a->state_rounding = HCL_STATE_ROUND_NEAREST;
            else if (!strcmp(v, "stochastic")) a->state_rounding = HCL_STATE_ROUND_STOCHASTIC;
            else {
                fprintf(stderr, "--state-rounding: '%s' is not nearest or stochastic\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--epochs")) {
            if (!ex_parse_num(f, v, 0, 1e6, &x)) return 2;
            a->epochs = (int)x;
        } else if (!strcmp(f, "--batch")) {
            if (!ex_parse_num(f, v, 1, 1 << 20, &x)) return 2;
            a->batch = (int64_t)x;
        } else if (!strcmp(f, "--lr")) {
            if (!ex_parse_num(f, v, 0, 1e3, &x)) return 2;
            a->lr = (float)x;
        } else if (!strcmp(f, "--seed")) {
            if (!ex_parse_num(f, v, 0, 1.8e19, &x)) return 2;
            a->seed = (uint64_t)x;
        } else if (!strcmp(f, "--ranks")) {
            if (!ex_parse_num(f, v, 1, 16, &x)) return 2;
            if (x != floor(x)) {
                fprintf(stderr, "--ranks: '%s' is not an integer\n", v);
                return 2;
            }
            a->ranks = (int)x;
        } else if (!strcmp(f, "--wire")) {
            if (!strcmp(v, "f32")) a->wire_dtype = HCL_F32;
            else if (!strcmp(v, "f16")) a->wire_dtype = HCL_F16;
            else {
                fprintf(stderr, "--wire: '%s' is not f32 or f16\n", v);
                return 2;
            }
        } else if (!strcmp(f, "--limit")) {
            if (!ex_parse_num(f, v, 0, 1e12, &x)) return 2;
            a->limit = (size_t)x;
        } else if ((own = parse_own(p, f, v)) != 0) {
            if (own < 0) return 2;
        } else {
            fprintf(stderr, "%s: unknown flag %s\n", p->name, f);
            usage(stderr, p, a);
            return 2;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ batch sources */

hcl_status ex_source_next(ex_source *s, ex_batch *b) {
    memset(b, 0, sizeof *b);
    if (s->images) return hcl_batcher_next(s->images, &b->x, &b->target, &b->n);
    hcl_status st = hcl_token_batcher_next(s->tokens, &b->x, &b->lengths, s->targets ? NULL : &b->target, &b->n);
    if (st != HCL_OK || !s->targets) return st;
    size_t n2;
    st = hcl_token_batcher_next(s->targets, &b->target, NULL, NULL, &n2);
    if (st == HCL_OK && n2 != b->n) { /* created with other counts or options */
        fprintf(stderr, "the target batcher is out of step (%zu targets for %zu inputs)\n", n2, b->n);
        return HCL_ERR_SHAPE;
    }
    return st;
}

hcl_status ex_source_seek_epoch(ex_source *s, uint64_t epoch) {
    if (s->images) return hcl_batcher_seek_epoch(s->images, epoch);
    hcl_status st = hcl_token_batcher_seek_epoch(s->tokens, epoch);
    return st == HCL_OK && s->targets ? hcl_token_batcher_seek_epoch(s->targets, epoch) : st;
}

size_t ex_source_batches(const ex_source *s) {
    return s->images ? hcl_batcher_batches(s->images) : hcl_token_batcher_batches(s->tokens);
}

size_t ex_source_count(const ex_source *s) {
    return s->images ? hcl_batcher_count(s->images) : hcl_token_batcher_count(s->tokens);
}

void ex_source_free(ex_source *s) {
    hcl_batcher_free(s->images);
    hcl_token_batcher_free(s->tokens);
    hcl_token_batcher_free(s->targets);
    memset(s, 0, sizeof *s);
}

void ex_batcher_options(const ex_args *a, hcl_batcher_options *o) {
    hcl_batcher_options_init(o);
    o->batch = a->batch;
    o->seed = a->seed;
}

/* ------------------------------------------------------------------ session */

void ex_fail(const ex_session *s, const char *what, hcl_status st) {
    fprintf(stderr, "%s: %s failed: %s: %s\n", s->name, what, hcl_status_name(st), s->ctx ? hcl_last_error(s->ctx) : "");
}

#define CHECK(expr)                                                                                   \
    do {                                                                                              \
        hcl_status st_ = (expr);                                                                      \
        if (st_ != HCL_OK) {                                                                          \
            ex_fail(s, #expr, st_);                                                                   \
            goto done;                                                                                \
        }                                                                                             \
    } while (0)

int ex_open(ex_session *s, const char *name, const ex_args *a) {
    memset(s, 0, sizeof *s);
    s->name = name;
    s->args = a;
    s->unit = "img";
    char err[2048];
    hcl_context_options co;
    hcl_context_options_init(&co);
    co.log = hcl_log_stderr;
    co.profiling = a->profile;
    hcl_status cs = hcl_context_create(&s->ctx, &co, err, sizeof err);
    if (cs != HCL_OK) {
        fprintf(stderr, "%s: no OpenCL context: %s: %s\n", name, hcl_status_name(cs), err);
        return 1;
    }
    fprintf(stderr, "%s: %s on %s; precision %s, batch %lld, lr %g, optimizer states %s%s%s\n", name,
            hcl_context_device(s->ctx)->name, hcl_context_device(s->ctx)->platform_name, hcl_precision_name(a->precision),
            (long long)a->batch, (double)a->lr, hcl_dtype_name(a->state_dtype), a->state_dtype == HCL_BF16 ? " " : "",
            a->state_dtype == HCL_BF16 ? rounding_name(a->state_rounding) : "");
    return 0;
}

int ex_build(ex_session *s, ex_build_fn build, const void *user, hcl_loss_kind loss) {
    static char summary[16384];
    CHECK(hcl_model_create(s->ctx, s->args->precision, &s->model));
    CHECK(build(s->model, user));
    hcl_model_options mo;
    hcl_model_options_init(&mo, s->args->precision);
    mo.max_batch = s->args->batch;
    mo.seed = s->args->seed;
    mo.loss = loss;
    mo.optim.state_dtype = s->args->state_dtype;
    mo.optim.state_rounding = s->args->state_rounding;
    mo.optim.state_seed = s->args->seed;
    CHECK(hcl_model_build(s->model, &mo));
    CHECK(hcl_model_summary(s->model, summary, sizeof summary, NULL));
    fputs(summary, stderr);
    return 0;
done:
    return 1;
}

void ex_close(ex_session *s) {
    hcl_model_free(s->model);
    hcl_context_free(s->ctx);
    s->model = NULL;
    s->ctx = NULL;
}

/* ------------------------------------------------------------------ training loop */

typedef struct run_state {
    ex_session *s;
    FILE *log;
    size_t batches;
} run_state;

/* Drains the device step log into the CSV file (a sync). */
static hcl_status flush_log(run_state *r) {
    if (!r->log) return HCL_OK;
    static hcl_step_record rec[LOG_RING];
    size_t n = 0;
    hcl_status st = hcl_model_log_read(r->s->model, rec, LOG_RING, &n);
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

/* Eval-mode loss and accuracy over one epoch of `src`; syncs once at the end. */
static hcl_status evaluate(hcl_model *m, ex_source *src, hcl_metrics *out) {
    hcl_status st = hcl_model_eval_reset(m);
    for (ex_batch b; st == HCL_OK;) {
        if ((st = ex_source_next(src, &b)) != HCL_OK || !b.n) break;
        if (b.lengths && (st = hcl_model_set_lengths(m, b.lengths)) != HCL_OK) break;
        if ((st = hcl_model_forward(m, b.x, 0)) == HCL_OK) st = hcl_model_eval_batch(m, b.target);
    }
    return st == HCL_OK ? hcl_model_eval_read(m, out) : st;
}

/* One training step (queued, no sync): the lengths must be set right before the forward. */
static hcl_status train_step(hcl_model *m, const ex_batch *b, float lr) {
    if (b->lengths) {
        hcl_status st = hcl_model_set_lengths(m, b->lengths);
        if (st != HCL_OK) return st;
    }
    return hcl_model_train_step(m, b->x, b->target, lr);
}

/* The progress bar on a terminal (reads the device: a sync, at most twice a second). */
static hcl_status progress(ex_session *s, int e, size_t k, size_t batches, size_t samples, double t0) {
    hcl_metrics pm;
    hcl_amp_stats as;
    hcl_status st = hcl_model_metrics_read(s->model, &pm);
    if (st == HCL_OK) st = hcl_optimizer_read_stats(hcl_model_optimizer(s->model), &as);
    if (st != HCL_OK) return st;
    double t = ex_now();
    int width = 30, done_w = (int)((double)width * (double)k / (double)batches);
    char bar[40];
    for (int i = 0; i < width; i++) bar[i] = i < done_w ? '=' : i == done_w ? '>' : ' ';
    bar[width] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] %zu/%zu loss %.4f acc %.2f%% %.0f %s/s scale %g ", e + 1, s->args->epochs, bar,
            k, batches, pm.loss, 100 * pm.accuracy, t > t0 ? (double)samples / (t - t0) : 0.0, s->unit,
            (double)as.scale);
    return HCL_OK;
}

/* "test loss 1.2345 acc 56.78%", with the loss in bits per token for a language model. */
static void format_test(const ex_session *s, char *buf, size_t len) {
    if (s->bits_per_token)
        snprintf(buf, len, "test loss %.4f bpc %.4f acc %.2f%%", s->test.loss, s->test.loss / log(2.0),
                 100 * s->test.accuracy);
    else
        snprintf(buf, len, "test loss %.4f acc %.2f%%", s->test.loss, 100 * s->test.accuracy);
}

/* "1234 img/s" or "1234 seq/s, 56789 tok/s". */
static void format_speed(const ex_session *s, double per_sec, char *buf, size_t len) {
    int k = snprintf(buf, len, "%.0f %s/s", per_sec, s->unit);
    if (s->tokens_per_sample > 0 && k > 0 && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, ", %.0f tok/s", per_sec * s->tokens_per_sample);
}

/* Opens the CSV step log (appending when resuming) and enables the device log. 0 on failure. */
static int open_log(ex_session *s, run_state *r) {
    const ex_args *a = s->args;
    r->log = fopen(a->log, a->resume ? "a" : "w");
    if (!r->log) {
        fprintf(stderr, "%s: cannot open %s: %s\n", s->name, a->log, strerror(errno));
        return 0;
    }
    fseek(r->log, 0, SEEK_END);
    if (ftell(r->log) == 0) fprintf(r->log, "step,epoch,loss,loss_scale,skipped_steps,step_skipped\n");
    hcl_status st = hcl_model_log_enable(s->model, LOG_RING);
    if (st != HCL_OK) ex_fail(s, "hcl_model_log_enable", st);
    return st == HCL_OK;
}

static int steps_done(ex_session *s) {
    return s->max_steps && hcl_optimizer_host_step(hcl_model_optimizer(s->model)) >= s->max_steps;
}

int ex_train(ex_session *s, ex_source *train, ex_source *test) {
    const ex_args *a = s->args;
    hcl_context *ctx = s->ctx;
    hcl_model *model = s->model;
    hcl_optimizer *opt = hcl_model_optimizer(model);
    int rc = 1;
    run_state r = {s, NULL, ex_source_batches(train)};
    s->train_n = ex_source_count(train);
    fprintf(stderr, "%s: %zu training, %zu test samples, %zu batches per epoch\n", s->name, s->train_n,
            ex_source_count(test), r.batches);
    int start_epoch = 0;
    if (a->resume) {
        hcl_checkpoint_extra ex = {0};
        CHECK(hcl_checkpoint_load(opt, a->resume, &ex));
        start_epoch = (int)(hcl_optimizer_host_step(opt) / r.batches);
        fprintf(stderr, "%s: resumed from %s at step %llu (epoch %d)\n", s->name, a->resume,
                (unsigned long long)hcl_optimizer_host_step(opt), start_epoch);
        CHECK(ex_source_seek_epoch(train, (uint64_t)start_epoch));
    }
    if (a->log && !open_log(s, &r)) goto done;

    int tty = isatty(fileno(stderr));
    double train_time = 0, first_step_end = 0;
    size_t timed_samples = 0, since_flush = 0;
    int evaluated = 0;
    for (int e = start_epoch; e < a->epochs && !steps_done(s); e++) {
        CHECK(hcl_model_metrics_reset(model));
        double t0 = ex_now(), last_bar = t0;
        size_t k = 0, samples = 0;
        for (ex_batch b; !steps_done(s);) { /* stopped by max_steps: evaluated as an epoch end */
            CHECK(ex_source_next(train, &b));
            if (!b.n) break;
            CHECK(train_step(model, &b, a->lr));
            k++;
            samples += b.n;
            if (first_step_end == 0) { /* the first step builds or loads kernels: not timed */
                CHECK(hcl_finish(ctx));
                first_step_end = ex_now();
                t0 = first_step_end;
                hcl_profile_reset(ctx);
                samples = 0;
            } else {
                timed_samples += b.n;
            }
            if (r.log && ++since_flush == LOG_RING) {
                CHECK(flush_log(&r));
                since_flush = 0;
            }
            if (tty && ex_now() - last_bar > 0.5) {
                CHECK(progress(s, e, k, r.batches, samples, t0));
                last_bar = ex_now();
            }
        }
        CHECK(hcl_finish(ctx));
        double t1 = ex_now();
        train_time += t1 - t0;
        if (tty) fprintf(stderr, "\r%*s\r", 110, "");
        if (a->profile) CHECK(print_profile(ctx, k));
        CHECK(hcl_model_metrics_read(model, &s->train));
        CHECK(evaluate(model, test, &s->test));
        evaluated = 1;
        hcl_profile_reset(ctx);
        CHECK(flush_log(&r));
        since_flush = 0;
        hcl_amp_stats as;
        CHECK(hcl_optimizer_read_stats(opt, &as));
        char test_part[96], speed[64];
        format_test(s, test_part, sizeof test_part);
        format_speed(s, t1 > t0 ? (double)samples / (t1 - t0) : 0.0, speed, sizeof speed);
        printf("epoch %d/%d: train loss %.4f acc %.2f%% | %s | %s | scale %g, skipped %u | %.1f s\n", e + 1, a->epochs,
               s->train.loss, 100 * s->train.accuracy, test_part, speed, (double)as.scale, as.skipped, t1 - t0);
        fflush(stdout);
        if (a->save) {
            hcl_checkpoint_meta meta[1] = {{"example", s->name}};
            hcl_checkpoint_extra ex = {a->seed, 0, meta, 1};
            CHECK(hcl_checkpoint_save(opt, a->save, &ex));
        }
    }
    if (!evaluated) CHECK(evaluate(model, test, &s->test)); /* no epoch left to train */
    s->samples_per_sec = train_time > 0 ? (double)timed_samples / train_time : 0.0;
    if (ex_export(s, test)) goto done;
    rc = 0;
done:
    if (r.log) fclose(r.log);
    return rc;
}

/* Downloads t as F32 (float dtypes) or raw (I32 ids) into a malloc'd buffer: NULL on failure. */
static void *download_any(const hcl_tensor *t, hcl_dtype *dt, size_t *bytes, hcl_status *st) {
    *dt = hcl_dtype_is_float(t->dtype) ? HCL_F32 : t->dtype;
    *bytes = t->count * hcl_dtype_size(*dt);
    void *p = malloc(*bytes ? *bytes : 1);
    if (!p) {
        *st = HCL_ERR_HOST_MEMORY;
        return NULL;
    }
    *st = *dt == HCL_F32 ? hcl_tensor_download_f32(t, p, t->count) : hcl_tensor_download_raw(t, p, *bytes);
    if (*st != HCL_OK) {
        free(p);
        return NULL;
    }
    return p;
}

int ex_export(ex_session *s, ex_source *test) {
    const ex_args *a = s->args;
    void *xin = NULL, *lg = NULL;
    int rc = 1;
    if (a->export_path) {
        hcl_checkpoint_meta meta[1] = {{"example", s->name}};
        CHECK(hcl_params_export(hcl_model_params(s->model), a->export_path, a->export_dtype, meta, 1));
        fprintf(stderr, "%s: exported %zu parameters (%s) to %s\n", s->name, hcl_params_numel(hcl_model_params(s->model)),
                hcl_dtype_name(a->export_dtype), a->export_path);
    }
    if (a->export_logits) {
        ex_batch b;
        CHECK(ex_source_next(test, &b)); /* evaluate() ended an epoch: the first batch of the next (unshuffled) */
        if (!b.n) {
            fprintf(stderr, "%s: --export-logits: the test set is empty\n", s->name);
            goto done;
        }
        if (b.lengths) CHECK(hcl_model_set_lengths(s->model, b.lengths));
        CHECK(hcl_model_forward(s->model, b.x, 0));
        const hcl_tensor *out = hcl_model_output(s->model);
        hcl_dtype xdt, ldt;
        size_t xbytes, lbytes;
        hcl_status st;
        if (!(xin = download_any(b.x, &xdt, &xbytes, &st)) || !(lg = download_any(out, &ldt, &lbytes, &st))) {
            ex_fail(s, "--export-logits download", st);
            goto done;
        }
        hcl_safetensors_entry e[2] = {{"input", xdt, b.x->rank, b.x->shape, xin, xbytes},
                                      {"logits", ldt, out->rank, out->shape, lg, lbytes}};
        hcl_safetensors_meta meta[1] = {{"example", s->name}};
        CHECK(hcl_safetensors_save(s->ctx, a->export_logits, e, 2, meta, 1));
        fprintf(stderr, "%s: wrote the eval logits of %zu test samples to %s\n", s->name, b.n, a->export_logits);
    }
    rc = 0;
done:
    free(xin);
    free(lg);
    return rc;
}

int ex_report(ex_session *s) {
    const ex_args *a = s->args;
    hcl_optimizer *opt = hcl_model_optimizer(s->model);
    hcl_amp_stats as;
    CHECK(hcl_optimizer_read_stats(opt, &as));
    hcl_memory_stats ms;
    hcl_memory_stats_get(s->ctx, &ms);
    printf("{\"impl\": \"halfcl\", \"example\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"epochs\": %d, "
           "\"batch\": %lld, \"train_images\": %zu, \"test_accuracy\": %.4f, \"test_loss\": %.5f, "
           "\"final_train_loss\": %.5f, \"train_images_per_sec\": %.1f, ",
           s->name, hcl_context_device(s->ctx)->name, hcl_precision_name(a->precision), a->epochs, (long long)a->batch,
           s->train_n, s->test.accuracy, s->test.loss, s->train.loss, s->samples_per_sec);
    if (s->tokens_per_sample > 0)
        printf("\"train_tokens_per_sec\": %.1f, ", s->samples_per_sec * s->tokens_per_sample);
    if (s->bits_per_token)
        printf("\"test_bpc\": %.4f, \"train_steps\": %llu, ", s->test.loss / log(2.0),
               (unsigned long long)hcl_optimizer_host_step(opt));
    printf("\"state_dtype\": \"%s\", \"state_rounding\": \"%s\", ", hcl_dtype_name(a->state_dtype),
           a->state_dtype == HCL_BF16 ? rounding_name(a->state_rounding) : "none");
    printf("\"peak_device_bytes\": %zu, \"skipped_steps\": %u, \"final_loss_scale\": %g}\n", ms.peak_bytes, as.skipped,
           (double)as.scale);
    fflush(stdout);
    return 0;
done:
    return 1;
}

/* ------------------------------------------------------------------ image examples */

typedef struct image_task {
    const ex_data *d;
    ex_image_build_fn build;
} image_task;

static hcl_status build_image_model(hcl_model *m, const void *user) {
    const image_task *t = user;
    hcl_status st = hcl_model_input(m, 3, t->d->shape, NULL);
    return st == HCL_OK ? t->build(m) : st;
}

int ex_run(const char *name, const ex_args *a, const ex_data *d, ex_image_build_fn build) {
    if (a->ranks > 1 || ex_mpi_launched()) return ex_run_dist(name, a, d, build);
    ex_session ss, *s = &ss;
    ex_source train = {0}, test = {0};
    image_task task = {d, build};
    int rc = ex_open(s, name, a);
    if (!rc) rc = ex_build(s, build_image_model, &task, HCL_LOSS_CROSS_ENTROPY);
    if (!rc) {
        rc = 1;
        hcl_batcher_options bo;
        ex_batcher_options(a, &bo);
        bo.dtype = hcl_model_dtype(s->model);
        for (int c = 0; c < 3; c++) bo.mean[c] = d->mean[c], bo.std[c] = d->std[c];
        CHECK(hcl_batcher_create(s->ctx, d->train_x, d->train_y, ex_limit(a, d->train_n), 3, d->shape, &bo, &train.images));
        bo.shuffle = 0;
        CHECK(hcl_batcher_create(s->ctx, d->test_x, d->test_y, ex_limit(a, d->test_n), 3, d->shape, &bo, &test.images));
        rc = ex_train(s, &train, &test);
        if (!rc) rc = ex_report(s);
    }
done:
    ex_source_free(&train);
    ex_source_free(&test);
    ex_close(s);
    return rc;
}

/* ------------------------------------------------------------------ Fashion-MNIST */

/* Loads one IDX file of the expected rank (and image size); prints the reason on failure. */
static hcl_idx *load_idx(const char *name, const char *dir, const char *stem, int rank) {
    char path[4096];
    if (!ex_find(dir, stem, path, sizeof path)) {
        fprintf(stderr, "%s: %s/%s[.gz] not found (install the Debian package dataset-fashion-mnist, "
                        "or pass --data DIR with the Fashion-MNIST or MNIST IDX files)\n", name, dir, stem);
        return NULL;
    }
    hcl_idx *idx = NULL;
    hcl_status st = hcl_idx_load(NULL, path, &idx);
    if (st != HCL_OK) {
        fprintf(stderr, "%s: %s: %s (corrupt or truncated IDX file)\n", name, path, hcl_status_string(st));
        return NULL;
    }
    if (idx->rank != rank || (rank == 3 && (idx->shape[1] != 28 || idx->shape[2] != 28))) {
        fprintf(stderr, "%s: %s: unexpected shape (rank %d; want %s)\n", name, path, idx->rank,
                rank == 3 ? "(N, 28, 28)" : "(N)");
        hcl_idx_free(idx);
        return NULL;
    }
    return idx;
}

void ex_fashion_free(ex_fashion *f) {
    for (int i = 0; i < 4; i++) hcl_idx_free(f->idx[i]);
    memset(f, 0, sizeof *f);
}

int ex_fashion_load(const char *name, const char *dir, ex_fashion *f) {
    static const char *const stems[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                         "t10k-labels-idx1-ubyte"};
    memset(f, 0, sizeof *f);
    for (int i = 0; i < 4; i++)
        if (!(f->idx[i] = load_idx(name, dir, stems[i], i % 2 ? 1 : 3))) goto fail;
    hcl_idx **x = f->idx;
    if (x[0]->shape[0] != x[1]->shape[0] || x[2]->shape[0] != x[3]->shape[0]) {
        fprintf(stderr, "%s: image and label counts differ (%lld/%lld train, %lld/%lld test)\n", name,
                (long long)x[0]->shape[0], (long long)x[1]->shape[0], (long long)x[2]->shape[0], (long long)x[3]->shape[0]);
        goto fail;
    }
    ex_data d = {x[0]->data, x[1]->data, x[2]->data, x[3]->data, (size_t)x[0]->shape[0], (size_t)x[2]->shape[0],
                 {1, 28, 28}, {0, 0, 0}, {1, 1, 1}};
    int bad = 0;
    for (size_t i = 0; i < d.train_n && !bad; i++) bad = d.train_y[i] > 9;
    for (size_t i = 0; i < d.test_n && !bad; i++) bad = d.test_y[i] > 9;
    if (bad) {
        fprintf(stderr, "%s: %s: a label is not in 0..9\n", name, dir);
        goto fail;
    }
    f->d = d;
    return 0;
fail:
    ex_fashion_free(f);
    return 1;
}
