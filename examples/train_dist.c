/* Data-parallel training of the image examples (hcl_dist): --ranks N replicas in this process
 * (one per device or CPU sub-device) and/or one or more processes started by mpirun. Every
 * replica holds the whole model and trains on its shard of each global batch (--batch samples per
 * replica); gradients are summed over all replicas while the backward runs, and every replica
 * takes the same step. Process 0 prints the epoch lines, evaluates on its first replica, writes
 * --save checkpoints and the JSON line; every process resumes from --resume, a checkpoint of any
 * replica count with the same global batch (--batch x replicas: the epoch is found from the step
 * count). A failure in one process ends the group (hcl_dist_abort): the others would wait. */
#define _POSIX_C_SOURCE 200809L
#include "train_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOCAL 16

int ex_mpi_launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) return 1;
    }
    return 0;
}

typedef struct replica {
    hcl_context *ctx;
    hcl_model *model;
    hcl_batcher *train;
} replica;

typedef struct dist_run {
    const char *name;
    const ex_args *a;
    const ex_data *d;
    hcl_dist *dist;
    replica r[MAX_LOCAL];
    size_t n;          /* local replicas */
    int rank, world;   /* process rank, replicas in the group */
    int lead;          /* process 0: prints, evaluates, saves */
} dist_run;

static void fail(const dist_run *run, const char *what, hcl_status st, hcl_context *ctx) {
    fprintf(stderr, "%s[rank %d]: %s failed: %s: %s%s%s\n", run->name, run->rank, what, hcl_status_name(st),
            ctx ? hcl_last_error(ctx) : "", run->dist ? " / " : "", run->dist ? hcl_dist_last_error(run->dist) : "");
}

#define TRY(ctx, expr)                                                                                \
    do {                                                                                              \
        hcl_status st_ = (expr);                                                                      \
        if (st_ != HCL_OK) {                                                                          \
            fail(run, #expr, st_, (ctx));                                                             \
            goto done;                                                                                \
        }                                                                                             \
    } while (0)

static hcl_status build_layers(hcl_model *m, const dist_run *run, ex_image_build_fn build) {
    hcl_status st = hcl_model_input(m, 3, run->d->shape, NULL);
    return st == HCL_OK ? build(m) : st;
}

/* Replica i of this process: context on `spec`, the model (same seed everywhere: the broadcast
 * after it only has to confirm), its shard of the training set. 0 or 1. */
static int open_replica(dist_run *run, size_t i, const char *spec, ex_image_build_fn build) {
    const ex_args *a = run->a;
    replica *r = &run->r[i];
    char err[2048];
    hcl_context_options co;
    hcl_context_options_init(&co);
    co.device = spec;
    co.log = hcl_log_stderr;
    hcl_status cs = hcl_context_create(&r->ctx, &co, err, sizeof err);
    if (cs != HCL_OK) {
        fprintf(stderr, "%s[rank %d]: no OpenCL context on '%s': %s: %s\n", run->name, run->rank, spec ? spec : "default",
                hcl_status_name(cs), err);
        return 1;
    }
    TRY(r->ctx, hcl_model_create(r->ctx, a->precision, &r->model));
    TRY(r->ctx, build_layers(r->model, run, build));
    hcl_model_options mo;
    hcl_model_options_init(&mo, a->precision);
    mo.max_batch = a->batch;
    mo.seed = a->seed;
    mo.optim.state_dtype = a->state_dtype;
    mo.optim.state_rounding = a->state_rounding;
    mo.optim.state_seed = a->seed;
    TRY(r->ctx, hcl_model_build(r->model, &mo));
    hcl_batcher_options bo;
    ex_batcher_options(a, &bo);
    bo.dtype = hcl_model_dtype(r->model);
    for (int c = 0; c < 3; c++) bo.mean[c] = run->d->mean[c], bo.std[c] = run->d->std[c];
    bo.shard_count = run->world;
    bo.shard_index = run->rank * (int)run->n + (int)i;
    TRY(r->ctx, hcl_batcher_create(r->ctx, run->d->train_x, run->d->train_y, ex_limit(a, run->d->train_n), 3, run->d->shape,
                                   &bo, &r->train));
    return 0;
done:
    return 1;
}

/* Eval-mode metrics of replica 0 over the whole test set. */
static hcl_status evaluate(dist_run *run, hcl_batcher *test, hcl_metrics *out) {
    hcl_model *m = run->r[0].model;
    hcl_status st = hcl_model_eval_reset(m);
    for (;;) {
        const hcl_tensor *x, *y;
        size_t n = 0;
        if (st != HCL_OK || (st = hcl_batcher_next(test, &x, &y, &n)) != HCL_OK || !n) break;
        if ((st = hcl_model_forward(m, x, 0)) == HCL_OK) st = hcl_model_eval_batch(m, y);
    }
    return st == HCL_OK ? hcl_model_eval_read(m, out) : st;
}

int ex_run_dist(const char *name, const ex_args *a, const ex_data *d, ex_image_build_fn build) {
    dist_run runs, *run = &runs;
    memset(run, 0, sizeof *run);
    run->name = name;
    run->a = a;
    run->d = d;
    hcl_batcher *test = NULL;
    int rc = 1;
    if (a->ranks < 1 || a->ranks > MAX_LOCAL) {
        fprintf(stderr, "%s: --ranks must be 1..%d\n", name, MAX_LOCAL);
        return 2;
    }
    hcl_dist_options dop;
    hcl_dist_options_init(&dop);
    dop.wire_dtype = a->wire_dtype;
    char err[2048];
    hcl_status ds = hcl_dist_create(&run->dist, &dop, err, sizeof err);
    if (ds != HCL_OK) {
        fprintf(stderr, "%s: data-parallel group: %s: %s\n", name, hcl_status_name(ds), err);
        return 1;
    }
    if (ex_mpi_launched() && hcl_dist_transport_used(run->dist) != HCL_DIST_MPI) {
        fprintf(stderr, "%s: started by mpirun, but this halfcl has no MPI (hcl_dist_mpi_available() is 0): every "
                        "process would train alone\n", name);
        hcl_dist_free(run->dist);
        return 1;
    }
    run->rank = hcl_dist_rank(run->dist);
    run->lead = run->rank == 0;
    run->n = (size_t)a->ranks;
    run->world = hcl_dist_size(run->dist) * a->ranks; /* every process runs --ranks replicas */
    char specs[MAX_LOCAL][HCL_DIST_SPEC_LEN];
    size_t nspec = 0;
    hcl_status lds = hcl_dist_local_devices(run->n, specs, &nspec, err, sizeof err);
    if (lds != HCL_OK) {
        fprintf(stderr, "%s: devices for %zu replicas: %s: %s\n", name, run->n, hcl_status_name(lds), err);
        goto done;
    }
    for (size_t i = 0; i < run->n; i++)
        if (open_replica(run, i, nspec ? specs[i % nspec] : NULL, build)) goto done;
    hcl_model *models[MAX_LOCAL];
    for (size_t i = 0; i < run->n; i++) models[i] = run->r[i].model;
    hcl_context *ctx0 = run->r[0].ctx;
    if (run->lead) {
        fprintf(stderr, "%s: data-parallel over %d replicas (%d processes x %zu, %s transport, %s gradients on the wire); "
                        "replica 0 on %s; precision %s, batch %lld per replica (%lld global), lr %g\n",
                name, run->world, hcl_dist_size(run->dist), run->n,
                hcl_dist_transport_used(run->dist) == HCL_DIST_MPI ? "MPI" : "in-process", hcl_dtype_name(a->wire_dtype),
                hcl_context_device(ctx0)->name, hcl_precision_name(a->precision), (long long)a->batch,
                (long long)a->batch * run->world, (double)a->lr);
    }
    size_t batches = hcl_batcher_batches(run->r[0].train);
    int start_epoch = 0;
    if (a->resume) { /* every replica reads the file: it does not depend on the replica count */
        for (size_t i = 0; i < run->n; i++) {
            hcl_checkpoint_extra ex = {0};
            TRY(run->r[i].ctx, hcl_checkpoint_load(hcl_model_optimizer(models[i]), a->resume, &ex));
        }
        start_epoch = (int)(hcl_optimizer_host_step(hcl_model_optimizer(models[0])) / (batches ? batches : 1));
        for (size_t i = 0; i < run->n; i++) TRY(run->r[i].ctx, hcl_batcher_seek_epoch(run->r[i].train, (uint64_t)start_epoch));
        if (run->lead) fprintf(stderr, "%s: resumed from %s at epoch %d\n", name, a->resume, start_epoch);
    }
    TRY(ctx0, hcl_dist_broadcast(run->dist, models, run->n));
    if (run->lead) {
        hcl_batcher_options bo;
        ex_batcher_options(a, &bo);
        bo.dtype = hcl_model_dtype(models[0]);
        bo.shuffle = 0;
        for (int c = 0; c < 3; c++) bo.mean[c] = d->mean[c], bo.std[c] = d->std[c];
        TRY(ctx0, hcl_batcher_create(ctx0, d->test_x, d->test_y, ex_limit(a, d->test_n), 3, d->shape, &bo, &test));
    }

    hcl_metrics train = {0}, tm = {0};
    double train_time = 0;
    size_t timed = 0;
    int first = 1;
    for (int e = start_epoch; e < a->epochs; e++) {
        for (size_t i = 0; i < run->n; i++) TRY(run->r[i].ctx, hcl_model_metrics_reset(models[i]));
        hcl_dist_stats_reset(run->dist);
        double t0 = ex_now();
        size_t samples = 0, steps = 0;
        for (;;) {
            const hcl_tensor *x[MAX_LOCAL], *y[MAX_LOCAL];
            size_t rows = 0, nb[MAX_LOCAL];
            for (size_t i = 0; i < run->n; i++) {
                TRY(run->r[i].ctx, hcl_batcher_next(run->r[i].train, &x[i], &y[i], &nb[i]));
                rows += nb[i];
            }
            if (!nb[0]) break; /* every shard ends its epoch at the same batch */
            TRY(ctx0, hcl_dist_train_step(run->dist, models, run->n, x, y, a->lr));
            steps++;
            if (first) { /* the first step builds the kernels: not timed */
                for (size_t i = 0; i < run->n; i++) TRY(run->r[i].ctx, hcl_finish(run->r[i].ctx));
                first = 0;
                t0 = ex_now();
                hcl_dist_stats_reset(run->dist);
                continue;
            }
            samples += rows;
        }
        for (size_t i = 0; i < run->n; i++) TRY(run->r[i].ctx, hcl_finish(run->r[i].ctx));
        double t1 = ex_now();
        train_time += t1 - t0;
        timed += samples;
        hcl_dist_stats ds_;
        hcl_dist_stats_get(run->dist, &ds_);
        TRY(ctx0, hcl_model_metrics_read(models[0], &train));
        if (run->lead) {
            TRY(ctx0, evaluate(run, test, &tm));
            hcl_amp_stats as;
            TRY(ctx0, hcl_optimizer_read_stats(hcl_model_optimizer(models[0]), &as));
            double per = ds_.steps ? 1e3 / (double)ds_.steps : 0;
            /* samples counts this process's replicas; every process runs as many */
            printf("epoch %d/%d: train loss %.4f acc %.2f%% (replica 0's shard) | test loss %.4f acc %.2f%% | "
                   "%.0f img/s (all replicas) | reduce %.2f ms/step, exposed %.2f ms/step, %.0f KB/step payload | "
                   "scale %g, skipped %u | %.1f s\n",
                   e + 1, a->epochs, train.loss, 100 * train.accuracy, tm.loss, 100 * tm.accuracy,
                   t1 > t0 ? (double)samples * hcl_dist_size(run->dist) / (t1 - t0) : 0.0, ds_.reduce_seconds * per,
                   ds_.exposed_seconds * per, ds_.steps ? (double)ds_.wire_bytes / (double)ds_.steps / 1024 : 0.0,
                   (double)as.scale, as.skipped, t1 - t0);
            fflush(stdout);
            if (a->save) {
                hcl_checkpoint_meta meta[1] = {{"example", name}};
                hcl_checkpoint_extra ex = {a->seed, 0, meta, 1};
                TRY(ctx0, hcl_checkpoint_save(hcl_model_optimizer(models[0]), a->save, &ex));
            }
        }
    }
    int same = 0;
    TRY(ctx0, hcl_dist_check_replicas(run->dist, models, run->n, &same));
    if (!same) {
        fprintf(stderr, "%s[rank %d]: the replicas' weights differ\n", name, run->rank);
        goto done;
    }
    if (run->lead) {
        if (a->epochs <= start_epoch) TRY(ctx0, evaluate(run, test, &tm));
        hcl_amp_stats as;
        TRY(ctx0, hcl_optimizer_read_stats(hcl_model_optimizer(models[0]), &as));
        hcl_dist_stats ds_;
        hcl_dist_stats_get(run->dist, &ds_);
        printf("{\"impl\": \"halfcl\", \"example\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"epochs\": %d, "
               "\"batch\": %lld, \"replicas\": %d, \"processes\": %d, \"wire_dtype\": \"%s\", \"test_accuracy\": %.4f, "
               "\"test_loss\": %.5f, \"final_train_loss\": %.5f, \"train_images_per_sec\": %.1f, "
               "\"wire_bytes_per_step\": %.0f, \"replicas_identical\": true, \"skipped_steps\": %u, "
               "\"final_loss_scale\": %g}\n",
               name, hcl_context_device(ctx0)->name, hcl_precision_name(a->precision), a->epochs, (long long)a->batch,
               run->world, hcl_dist_size(run->dist), hcl_dtype_name(a->wire_dtype), tm.accuracy, tm.loss, train.loss,
               train_time > 0 ? (double)timed * hcl_dist_size(run->dist) / train_time : 0.0,
               ds_.steps ? (double)ds_.wire_bytes / (double)ds_.steps : 0.0, as.skipped, (double)as.scale);
        fflush(stdout);
    }
    rc = 0;
done:
    if (rc && hcl_dist_size(run->dist) > 1) {
        fprintf(stderr, "%s[rank %d]: ending every process of the group\n", name, run->rank);
        hcl_dist_abort(run->dist, 1);
    }
    hcl_batcher_free(test);
    for (size_t i = 0; i < MAX_LOCAL; i++) {
        hcl_batcher_free(run->r[i].train);
        hcl_model_free(run->r[i].model);
        hcl_context_free(run->r[i].ctx);
    }
    hcl_dist_free(run->dist);
    return rc;
}
