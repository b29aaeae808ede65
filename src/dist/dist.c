/* Data-parallel training (dist.h): the group (transport choice), the gradient engine (buckets of
 * the gradient arena read from each local replica as soon as the backward has finished them,
 * summed on the host in F32 with the replicas' weights, reduced over the processes, converted back
 * and written to every replica), the train step around it, broadcast, the agreement check, and the
 * local device list. Every collective call first agrees on the replicas' layout (and on local
 * failures) over the whole group, so a process that fails never leaves the others waiting. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dist/transport.h"
#include "halfcl/dist.h"
#include "nn/nn_internal.h"
#include "runtime/hash.h"

#define DIST_DEFAULT_BUCKET ((size_t)1 << 20)
#define DIST_POLL_NS 20000 /* sleep between polls when nothing progressed: 20 us */

/* Host buffers of the gradient engine, kept between steps. The gradient writes read `out`; a call
 * waits for them before it returns (after queueing the optimizer steps behind them, which keep
 * running), so no device command outlives the call that owns its host memory and a replica's
 * context may be freed before or after the group. */
typedef struct dist_stage {
    size_t n, numel, esize;
    uint8_t **rd;      /* n replicas' gradient bytes (grad dtype) */
    float *sum;        /* the weighted F32 sum (arena elements) */
    uint8_t *out;      /* the sum in the grad dtype, written to every replica */
    cl_event *wev;     /* pending writes */
    size_t nwev, cap_wev;
} dist_stage;

struct hcl_dist {
    hcl_transport *t;
    hcl_dist_transport used; /* LOCAL or MPI */
    hcl_dist_options opt;
    hcl_dist_stats stats;
    dist_stage stage;
    char error[512];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static hcl_status fail(hcl_dist *d, hcl_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static hcl_status fail(hcl_dist *d, hcl_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
    return st;
}

/* A failure recorded on a replica's context: copied into the group's message. */
static hcl_status fail_ctx(hcl_dist *d, hcl_status st, hcl_context *ctx, size_t replica) {
    return fail(d, st, "replica %zu: %s", replica, hcl_last_error(ctx));
}

/* ------------------------------------------------------------------ group */

int hcl_dist_mpi_available(void) {
#ifdef HCL_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

void hcl_dist_options_init(hcl_dist_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->transport = HCL_DIST_AUTO;
    o->wire_dtype = HCL_F32;
    o->bucket_bytes = DIST_DEFAULT_BUCKET;
    o->overlap = 1;
}

static void set_error(char *error, size_t len, const char *msg) {
    if (error && len) snprintf(error, len, "%s", msg);
}

hcl_status hcl_dist_create(hcl_dist **out, const hcl_dist_options *options, char *error, size_t error_len) {
    set_error(error, error_len, "");
    if (!out) {
        set_error(error, error_len, "dist is NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *out = NULL;
    hcl_dist_options o;
    if (options) o = *options;
    else hcl_dist_options_init(&o);
    if (o.wire_dtype != HCL_F32 && o.wire_dtype != HCL_F16) {
        const char *name = hcl_dtype_name(o.wire_dtype);
        if (error && error_len)
            snprintf(error, error_len, "dist: wire_dtype %s is not supported (HCL_F32 or HCL_F16)", name ? name : "(invalid)");
        return HCL_ERR_DTYPE;
    }
    if ((unsigned)o.transport > HCL_DIST_MPI) {
        if (error && error_len) snprintf(error, error_len, "dist: invalid transport %d", (int)o.transport);
        return HCL_ERR_INVALID_ARGUMENT;
    }
    if (o.bucket_bytes == 0) o.bucket_bytes = DIST_DEFAULT_BUCKET;
    o.overlap = o.overlap != 0;
    int use_mpi = o.transport == HCL_DIST_MPI ||
                  (o.transport == HCL_DIST_AUTO && hcl_dist_mpi_available() && hcl_transport_launched_by_mpi());
    if (use_mpi && !hcl_dist_mpi_available()) {
        set_error(error, error_len, "dist: this build of halfcl has no MPI transport (meson option mpi)");
        return HCL_ERR_INVALID_ARGUMENT;
    }
    hcl_dist *d = calloc(1, sizeof *d);
    if (!d) {
        set_error(error, error_len, "out of host memory");
        return HCL_ERR_HOST_MEMORY;
    }
    d->opt = o;
    d->used = use_mpi ? HCL_DIST_MPI : HCL_DIST_LOCAL;
    hcl_status st;
#ifdef HCL_HAVE_MPI
    if (use_mpi) st = hcl_transport_mpi_create(&d->t, o.argc, o.argv, error, error_len);
    else
#endif
        st = hcl_transport_local_create(&d->t, error, error_len);
    if (st != HCL_OK) {
        free(d);
        return st;
    }
    *out = d;
    return HCL_OK;
}

/* One event at a time: the writes of several replicas belong to several contexts, and one
 * clWaitForEvents over them returns CL_INVALID_CONTEXT without waiting. A failed wait (a device
 * error) falls back to finishing the event's queue, so the host buffer is never reused early. */
static void stage_wait_writes(dist_stage *s) {
    for (size_t i = 0; i < s->nwev; i++) {
        if (clWaitForEvents(1, &s->wev[i]) != CL_SUCCESS) {
            cl_command_queue q = NULL;
            if (clGetEventInfo(s->wev[i], CL_EVENT_COMMAND_QUEUE, sizeof q, &q, NULL) == CL_SUCCESS && q) clFinish(q);
        }
        clReleaseEvent(s->wev[i]);
    }
    s->nwev = 0;
}

static void stage_free(dist_stage *s) {
    stage_wait_writes(s);
    for (size_t i = 0; i < s->n; i++) free(s->rd[i]);
    free(s->rd);
    free(s->sum);
    free(s->out);
    free(s->wev);
    memset(s, 0, sizeof *s);
}

void hcl_dist_free(hcl_dist *d) {
    if (!d) return;
    stage_free(&d->stage);
    if (d->t) d->t->free(d->t);
    free(d);
}

hcl_dist_transport hcl_dist_transport_used(const hcl_dist *d) { return d ? d->used : HCL_DIST_LOCAL; }
void hcl_dist_abort(hcl_dist *d, int code) {
    if (d && d->t->size > 1) d->t->abort_group(d->t, code);
}

int hcl_dist_rank(const hcl_dist *d) { return d ? d->t->rank : 0; }
int hcl_dist_size(const hcl_dist *d) { return d ? d->t->size : 1; }
const char *hcl_dist_last_error(const hcl_dist *d) { return d ? d->error : "dist is NULL"; }

void hcl_dist_stats_get(const hcl_dist *d, hcl_dist_stats *s) {
    if (!s) return;
    if (d) *s = d->stats;
    else memset(s, 0, sizeof *s);
}
void hcl_dist_stats_reset(hcl_dist *d) {
    if (d) memset(&d->stats, 0, sizeof d->stats);
}

/* ------------------------------------------------------------------ agreement */

/* A hash of what must match between replicas: policy, dtypes and every parameter's place. */
static uint64_t layout_sig(const hcl_params *p, const hcl_model *m) {
    hcl_hash h;
    hcl_hash_init(&h);
    uint64_t w[4] = {(uint64_t)p->policy, (uint64_t)p->grad_dt, p->arena_numel, p->count};
    hcl_hash_update(&h, w, sizeof w);
    for (size_t i = 0; i < p->count; i++) {
        uint64_t v[2] = {p->p[i].offset, p->p[i].count};
        hcl_hash_update(&h, v, sizeof v);
    }
    if (m) {
        const hcl_optimizer *o = m->optim;
        uint64_t v[4] = {m->count, (uint64_t)o->cfg.kind, o->nstates, (uint64_t)o->cfg.state_dtype};
        hcl_hash_update(&h, v, sizeof v);
    }
    return h.a;
}

/* Checks the local replicas (params[i], models[i] when given) against each other; then agrees
 * with the group: every process learns whether any failed or has another layout. `local` is the
 * status of this process's own checks so far (its message already in d->error). */
static hcl_status agree(hcl_dist *d, hcl_params **params, hcl_model **models, size_t n, hcl_status local) {
    uint64_t sig = 0;
    if (local == HCL_OK) {
        sig = layout_sig(params[0], models ? models[0] : NULL);
        for (size_t i = 1; i < n && local == HCL_OK; i++)
            if (layout_sig(params[i], models ? models[i] : NULL) != sig)
                local = fail(d, HCL_ERR_INVALID_ARGUMENT,
                             "replica %zu differs from replica 0 (graph, policy, optimizer or parameter layout)", i);
    }
    uint64_t v[3] = {local != HCL_OK, sig, ~sig};
    hcl_status st = d->t->max_u64(d->t, v, 3, d->error, sizeof d->error);
    if (st != HCL_OK) return st;
    if (local != HCL_OK) return local;
    if (v[0]) return fail(d, HCL_ERR_INVALID_ARGUMENT, "another process of the group failed its checks");
    if (v[1] != sig || v[2] != ~sig)
        return fail(d, HCL_ERR_INVALID_ARGUMENT, "the processes' replicas differ (graph, policy, optimizer or parameter layout)");
    return HCL_OK;
}

/* Local checks of a replica list: n >= 1, no NULL, each once. */
static hcl_status check_list(hcl_dist *d, void *const *items, size_t n, const char *what) {
    if (!items) return fail(d, HCL_ERR_NULL_POINTER, "%s is NULL", what);
    if (n == 0) return fail(d, HCL_ERR_INVALID_ARGUMENT, "%s: n = 0 (at least one local replica)", what);
    for (size_t i = 0; i < n; i++) {
        if (!items[i]) return fail(d, HCL_ERR_NULL_POINTER, "%s[%zu] is NULL", what, i);
        for (size_t j = 0; j < i; j++)
            if (items[j] == items[i]) return fail(d, HCL_ERR_INVALID_ARGUMENT, "%s[%zu] and [%zu] are the same object", what, j, i);
    }
    return HCL_OK;
}

static hcl_status check_models(hcl_dist *d, hcl_model **m, size_t n, hcl_params **params) {
    HCL_TRY(check_list(d, (void *const *)m, n, "replicas"));
    for (size_t i = 0; i < n; i++) {
        if (!m[i]->built) return fail(d, HCL_ERR_INVALID_ARGUMENT, "replica %zu is not built", i);
        params[i] = m[i]->params;
    }
    return HCL_OK;
}

/* ------------------------------------------------------------------ gradient engine */

typedef struct dist_bucket {
    size_t start, count; /* arena elements */
    size_t params;       /* parameters whose gradients it holds */
} dist_bucket;

enum { B_READING = 0, B_REDUCING = 1, B_DONE = 2 };

typedef struct dist_run dist_run;
typedef struct dist_hook {
    dist_run *r;
    size_t replica;
} dist_hook;

struct dist_run {
    hcl_dist *d;
    hcl_params **params;
    size_t n, np, nb;
    int *active;          /* replica i has rows: its gradients are read and summed */
    dist_bucket *b;
    size_t *bucket_of;    /* parameter -> bucket */
    size_t *final_pos;    /* parameter -> node position after which it is final (train step) */
    size_t *pending;      /* [i * nb + k]: parameters of bucket k still to finish on replica i */
    cl_event *rev;        /* [i * nb + k]: the read, NULL before it is queued */
    hcl_transport_request **req;
    int *state;
    dist_hook *hooks;
};

static void run_free(dist_run *r) {
    if (!r) return;
    for (size_t j = 0; r->rev && j < r->n * r->nb; j++) /* reads still write into the stage */
        if (r->rev[j]) {
            clWaitForEvents(1, &r->rev[j]);
            clReleaseEvent(r->rev[j]);
        }
    char ignored[16];
    for (size_t k = 0; r->req && k < r->nb; k++) /* transport requests still use the sum */
        if (r->req[k]) r->d->t->sum_wait(r->d->t, r->req[k], ignored, sizeof ignored);
    free(r->active);
    free(r->b);
    free(r->bucket_of);
    free(r->final_pos);
    free(r->pending);
    free(r->rev);
    free(r->req);
    free(r->state);
    free(r->hooks);
    free(r);
}

/* Parameters in arena order cut into buckets of about bucket_bytes F32 bytes; the buckets cover
 * the whole arena (padding included) so every element is written back. */
static hcl_status make_buckets(dist_run *r) {
    hcl_params *p = r->params[0];
    size_t np = r->np, *ord = malloc((np ? np : 1) * sizeof *ord);
    r->b = calloc(np ? np : 1, sizeof *r->b);
    r->bucket_of = calloc(np ? np : 1, sizeof *r->bucket_of);
    if (!ord || !r->b || !r->bucket_of) {
        free(ord);
        return fail(r->d, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    for (size_t i = 0; i < np; i++) ord[i] = i;
    for (size_t i = 1; i < np; i++) /* insertion sort by offset (declaration order already is) */
        for (size_t j = i; j > 0 && p->p[ord[j - 1]].offset > p->p[ord[j]].offset; j--) {
            size_t t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    /* Cut from the end of the arena down, as the backward finishes the parameters (last layer
     * first): the top bucket fills with the last layers and is ready early, and the first layer's
     * backward overlaps the sums of the rest (cut from the start, one large layer would share its
     * bucket with the first layer and wait for the whole backward). */
    size_t limit = r->d->opt.bucket_bytes / 4, nb = 0;
    if (limit < 1) limit = 1;
    for (size_t j = np; j-- > 0;) {
        const hcl_param *q = &p->p[ord[j]];
        if (nb == 0 || r->b[nb - 1].count >= limit) { /* open a bucket ending where the last began */
            size_t end = nb ? r->b[nb - 1].start : p->arena_numel;
            r->b[nb].start = end;
            r->b[nb].count = 0;
            nb++;
        }
        dist_bucket *b = &r->b[nb - 1];
        b->count += b->start - q->offset;
        b->start = q->offset;
        b->params++;
        r->bucket_of[ord[j]] = nb - 1;
    }
    if (nb == 0) { /* no parameter: one empty bucket over the (empty) arena */
        r->b[0].start = 0;
        r->b[0].count = p->arena_numel;
        nb = 1;
    }
    r->b[nb - 1].count += r->b[nb - 1].start; /* the lowest bucket starts the arena */
    r->b[nb - 1].start = 0;
    for (size_t k = 0; k < nb / 2; k++) { /* ascending arena order, as the rest of this file expects */
        dist_bucket t = r->b[k];
        r->b[k] = r->b[nb - 1 - k];
        r->b[nb - 1 - k] = t;
    }
    for (size_t i = 0; i < np; i++) r->bucket_of[i] = nb - 1 - r->bucket_of[i];
    r->nb = nb;
    free(ord);
    return HCL_OK;
}

/* Host buffers for n replicas of numel elements of esize bytes (kept when they fit). */
static hcl_status stage_prepare(hcl_dist *d, size_t n, size_t numel, size_t esize) {
    dist_stage *s = &d->stage;
    stage_wait_writes(s);
    if (s->n == n && s->numel == numel && s->esize == esize) return HCL_OK;
    stage_free(s);
    size_t m = numel ? numel : 1;
    s->rd = calloc(n, sizeof *s->rd);
    s->sum = malloc(m * sizeof *s->sum);
    s->out = malloc(m * esize);
    int ok = s->rd && s->sum && s->out;
    if (ok) s->n = n;
    for (size_t i = 0; ok && i < n; i++) ok = (s->rd[i] = malloc(m * esize)) != NULL;
    if (!ok) {
        stage_free(s);
        return fail(d, HCL_ERR_HOST_MEMORY, "out of host memory (gradient staging of %zu x %zu bytes)", n + 1, m * esize);
    }
    s->numel = numel;
    s->esize = esize;
    return HCL_OK;
}

static hcl_status run_create(hcl_dist *d, hcl_params **params, size_t n, const int *active, dist_run **out) {
    *out = NULL;
    dist_run *r = calloc(1, sizeof *r);
    if (!r) return fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    r->d = d;
    r->params = params;
    r->n = n;
    r->np = params[0]->count;
    hcl_status st = make_buckets(r);
    if (st == HCL_OK) {
        size_t nb = r->nb;
        r->active = malloc(n * sizeof *r->active);
        r->pending = malloc(n * nb * sizeof *r->pending);
        r->rev = calloc(n * nb, sizeof *r->rev);
        r->req = calloc(nb, sizeof *r->req);
        r->state = calloc(nb, sizeof *r->state);
        r->hooks = calloc(n, sizeof *r->hooks);
        r->final_pos = calloc(r->np ? r->np : 1, sizeof *r->final_pos);
        if (!r->active || !r->pending || !r->rev || !r->req || !r->state || !r->hooks || !r->final_pos)
            st = fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    if (st == HCL_OK) {
        for (size_t i = 0; i < n; i++) {
            r->active[i] = active[i];
            r->hooks[i] = (dist_hook){r, i};
            for (size_t k = 0; k < r->nb; k++) r->pending[i * r->nb + k] = r->b[k].params;
        }
        st = stage_prepare(d, n, params[0]->arena_numel, hcl_dtype_size(params[0]->grad_dt));
    }
    if (st != HCL_OK) {
        run_free(r);
        return st;
    }
    *out = r;
    return HCL_OK;
}

/* Queues the non-blocking read of bucket k from replica i into its staging buffer. */
static hcl_status enqueue_read(dist_run *r, size_t i, size_t k) {
    hcl_params *p = r->params[i];
    hcl_tensor *g = p->grad_arena;
    size_t es = r->d->stage.esize;
    const dist_bucket *b = &r->b[k];
    cl_event *ev = &r->rev[i * r->nb + k];
    if (*ev || !r->active[i]) return HCL_OK;
    cl_int err = CL_SUCCESS;
    if (b->count)
        err = clEnqueueReadBuffer(p->ctx->queue, g->buffer, CL_FALSE, (g->offset + b->start) * es, b->count * es,
                                  r->d->stage.rd[i] + b->start * es, 0, NULL, ev);
    else
        err = clEnqueueMarkerWithWaitList(p->ctx->queue, 0, NULL, ev);
    if (err == CL_SUCCESS) err = clFlush(p->ctx->queue); /* start it: the host polls its event */
    if (err != CL_SUCCESS)
        return fail_ctx(r->d, hcl_cl_error_at(p->ctx, err, "clEnqueueReadBuffer (gradient bucket)", __FILE__, __LINE__), p->ctx, i);
    return HCL_OK;
}

/* The model's backward hook: the parameters finished at `pos` count down their buckets; a
 * bucket with none left is read at once (overlap). */
static hcl_status on_backward(void *user, hcl_model *m, size_t pos) {
    (void)m;
    dist_hook *h = user;
    dist_run *r = h->r;
    for (size_t q = 0; q < r->np; q++) {
        if (r->final_pos[q] != pos) continue;
        size_t k = r->bucket_of[q], *left = &r->pending[h->replica * r->nb + k];
        if (*left && --*left == 0) HCL_TRY(enqueue_read(r, h->replica, k));
    }
    return HCL_OK;
}

/* Reads of every bucket not yet queued (no overlap, or buckets without parameters). */
static hcl_status enqueue_rest(dist_run *r) {
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = r->nb; k-- > 0;) HCL_TRY(enqueue_read(r, i, k));
    return HCL_OK;
}

/* 1 when replica i's read of bucket k has completed (0: still running). */
static hcl_status read_done(dist_run *r, size_t i, size_t k, int *done) {
    cl_event ev = r->rev[i * r->nb + k];
    *done = 1;
    if (!ev) return HCL_OK;
    cl_int status = CL_QUEUED;
    cl_int err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    hcl_context *ctx = r->params[i]->ctx;
    if (err != CL_SUCCESS) return fail_ctx(r->d, hcl_cl_error_at(ctx, err, "clGetEventInfo", __FILE__, __LINE__), ctx, i);
    if (status < 0)
        return fail_ctx(r->d, hcl_cl_error_at(ctx, status, "gradient read (event status)", __FILE__, __LINE__), ctx, i);
    *done = status == CL_COMPLETE;
    if (*done) {
        clReleaseEvent(ev);
        r->rev[i * r->nb + k] = NULL;
    }
    return HCL_OK;
}

/* F32 value of element j of a staging buffer in the grad dtype. */
static float load_grad(const uint8_t *buf, size_t j, hcl_dtype dt) {
    if (dt == HCL_F32) {
        float v;
        memcpy(&v, buf + 4 * j, 4);
        return v;
    }
    uint16_t u;
    memcpy(&u, buf + 2 * j, 2);
    return dt == HCL_F16 ? hcl_f16_to_f32(u) : hcl_bf16_to_f32(u);
}

/* sum[j] = sum over active replicas, in replica order, of weight_i * g_i[j] (F32, the scaled
 * gradients: an inf/NaN anywhere stays non-finite). */
static void local_sum(dist_run *r, size_t k, const float *w) {
    const dist_bucket *b = &r->b[k];
    hcl_dtype dt = r->params[0]->grad_dt;
    float *s = r->d->stage.sum + b->start;
    for (size_t j = 0; j < b->count; j++) s[j] = 0.0f;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->active[i]) continue;
        const uint8_t *g = r->d->stage.rd[i];
        for (size_t j = 0; j < b->count; j++) s[j] += w[i] * load_grad(g, b->start + j, dt);
    }
}

/* Bucket k's reduced sum back to the grad dtype, written (non-blocking) to every local replica. */
static hcl_status write_back(dist_run *r, size_t k) {
    dist_stage *s = &r->d->stage;
    const dist_bucket *b = &r->b[k];
    hcl_dtype dt = r->params[0]->grad_dt;
    const float *src = s->sum + b->start;
    uint8_t *dst = s->out + b->start * s->esize;
    if (dt == HCL_F32) memcpy(dst, src, b->count * 4);
    else if (dt == HCL_F16) hcl_f32_to_f16_array((uint16_t *)(void *)dst, src, b->count);
    else hcl_f32_to_bf16_array((uint16_t *)(void *)dst, src, b->count);
    if (!b->count) return HCL_OK;
    for (size_t i = 0; i < r->n; i++) {
        if (s->nwev == s->cap_wev) {
            size_t cap = s->cap_wev ? 2 * s->cap_wev : 64;
            cl_event *e = realloc(s->wev, cap * sizeof *e);
            if (!e) return fail(r->d, HCL_ERR_HOST_MEMORY, "out of host memory");
            s->wev = e;
            s->cap_wev = cap;
        }
        hcl_params *p = r->params[i];
        hcl_tensor *g = p->grad_arena;
        cl_int err = clEnqueueWriteBuffer(p->ctx->queue, g->buffer, CL_FALSE, (g->offset + b->start) * s->esize,
                                          b->count * s->esize, dst, 0, NULL, &s->wev[s->nwev]);
        if (err == CL_SUCCESS) s->nwev++;
        if (err == CL_SUCCESS) err = clFlush(p->ctx->queue);
        if (err != CL_SUCCESS)
            return fail_ctx(r->d, hcl_cl_error_at(p->ctx, err, "clEnqueueWriteBuffer (gradient bucket)", __FILE__, __LINE__),
                            p->ctx, i);
    }
    return HCL_OK;
}

static hcl_status transport_call(dist_run *r, hcl_status st, double t0) {
    r->d->stats.reduce_seconds += now_s() - t0;
    return st;
}

/* Starts the group reduction of bucket k once every local read of it has completed. */
static hcl_status try_start(dist_run *r, size_t k, const float *w, int *started) {
    *started = 0;
    for (size_t i = 0; i < r->n; i++) {
        int done;
        HCL_TRY(read_done(r, i, k, &done));
        if (!done) return HCL_OK;
    }
    local_sum(r, k, w);
    hcl_dist *d = r->d;
    const dist_bucket *b = &r->b[k];
    double t0 = now_s();
    HCL_TRY(transport_call(r, d->t->sum_start(d->t, d->stage.sum + b->start, b->count, d->opt.wire_dtype, &r->req[k],
                                              d->error, sizeof d->error),
                           t0));
    if (d->t->size > 1) /* one process: nothing leaves it */
        d->stats.wire_bytes += b->count * (d->opt.wire_dtype == HCL_F16 ? 2 : 4);
    d->stats.buckets++;
    r->state[k] = B_REDUCING;
    *started = 1;
    return HCL_OK;
}

/* Finishes bucket k when its reduction is done (write-back queued). */
static hcl_status try_finish(dist_run *r, size_t k, int *finished) {
    *finished = 0;
    hcl_dist *d = r->d;
    if (r->req[k]) {
        int done = 0;
        double t0 = now_s();
        HCL_TRY(transport_call(r, d->t->sum_test(d->t, r->req[k], &done, d->error, sizeof d->error), t0));
        if (!done) return HCL_OK;
        r->req[k] = NULL;
    }
    HCL_TRY(write_back(r, k));
    r->state[k] = B_DONE;
    *finished = 1;
    return HCL_OK;
}

/* Drives the buckets to the end: reductions start in descending bucket order (the order the
 * backward finishes them, the same on every process), finish as the transport completes them.
 * The host sleeps briefly when nothing moved. */
static hcl_status run_reduce(dist_run *r, const float *w) {
    size_t next = r->nb, done = 0; /* buckets >= next have been started */
    double reads_end = 0.0;
    while (done < r->nb) {
        int moved = 0;
        if (next > 0) {
            int started = 0;
            HCL_TRY(try_start(r, next - 1, w, &started));
            if (started) {
                next--;
                moved = 1;
                if (next == 0) reads_end = now_s(); /* the backward has ended on every replica */
            }
        }
        for (size_t k = next; k < r->nb; k++) {
            if (r->state[k] != B_REDUCING) continue;
            int finished = 0;
            HCL_TRY(try_finish(r, k, &finished));
            if (finished) done++, moved = 1;
        }
        if (!moved) {
            struct timespec ts = {0, DIST_POLL_NS};
            nanosleep(&ts, NULL);
        }
    }
    if (reads_end > 0.0) r->d->stats.exposed_seconds += now_s() - reads_end;
    return HCL_OK;
}

/* Weights as floats for the host sum (replica i's share of the global batch). */
static void to_float_weights(const double *w, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = (float)w[i];
}

/* ------------------------------------------------------------------ train step */

/* Local checks of a train step's arguments (no device work). rows[i] gets replica i's samples. */
static hcl_status check_step(hcl_dist *d, hcl_model **m, size_t n, const hcl_tensor *const *x,
                             const hcl_tensor *const *target, float lr, hcl_params **params, uint64_t *rows) {
    HCL_TRY(check_models(d, m, n, params));
    if (!x || !target) return fail(d, HCL_ERR_NULL_POINTER, "%s is NULL", !x ? "x" : "target");
    if (!isfinite(lr) || lr < 0.0f) return fail(d, HCL_ERR_INVALID_ARGUMENT, "learning rate %g must be finite and >= 0", (double)lr);
    /* F16 on the wire needs the loss scale: unscaled fp32/bf16 gradients below ~6e-8 x replicas
     * would flush to zero and below ~6e-5 lose bits */
    if (d->opt.wire_dtype == HCL_F16 && d->t->size > 1 && n && m[0]->optim->scaler.mode == HCL_SCALER_OFF)
        return fail(d, HCL_ERR_INVALID_ARGUMENT, "an F16 wire needs loss scaling (policy %s has none): use an F32 wire",
                    hcl_precision_name(hcl_model_policy(m[0])));
    for (size_t i = 0; i < n; i++) {
        rows[i] = 0;
        if (!x[i]) continue;
        if (!target[i]) return fail(d, HCL_ERR_NULL_POINTER, "target[%zu] is NULL (x[%zu] is not)", i, i);
        if (x[i]->ctx != m[i]->ctx || target[i]->ctx != m[i]->ctx)
            return fail(d, HCL_ERR_INVALID_ARGUMENT, "x[%zu] / target[%zu] belong to another context than replica %zu", i, i, i);
        if (x[i]->rank < 1 || x[i]->shape[0] < 1) return fail(d, HCL_ERR_SHAPE, "x[%zu] has no rows", i);
        /* the loss averages over the target's elements: labels (N), per-step ids (N, T), or
         * float targets of the output's shape (N x a size every replica shares) */
        rows[i] = (uint64_t)target[i]->count;
    }
    return HCL_OK;
}

/* Forward and backward of every active replica, the hook reading buckets as they finish. */
static hcl_status queue_backwards(dist_run *r, hcl_model **m, const hcl_tensor *const *x, const hcl_tensor *const *target) {
    hcl_dist *d = r->d;
    nn_param_final_positions(m[0], r->final_pos); /* the same graph on every replica */
    for (size_t i = 0; i < r->n; i++) {
        hcl_status st = hcl_params_zero_grad(m[i]->params);
        if (st == HCL_OK && r->active[i]) st = hcl_model_forward(m[i], x[i], 1);
        if (st == HCL_OK && r->active[i]) {
            m[i]->bwd_hook = d->opt.overlap ? on_backward : NULL;
            m[i]->bwd_hook_user = &r->hooks[i];
            st = hcl_model_backward(m[i], target[i]);
            m[i]->bwd_hook = NULL;
            m[i]->bwd_hook_user = NULL;
        }
        if (st != HCL_OK) return d->error[0] ? st : fail_ctx(d, st, m[i]->ctx, i); /* a hook failure set the message */
    }
    return enqueue_rest(r);
}

hcl_status hcl_dist_train_step(hcl_dist *d, hcl_model **m, size_t n, const hcl_tensor *const *x,
                               const hcl_tensor *const *target, float lr) {
    if (!d) return HCL_ERR_NULL_POINTER;
    double t0 = now_s();
    d->error[0] = '\0';
    hcl_params **params = calloc(n ? n : 1, sizeof *params);
    uint64_t *rows = calloc(n ? n : 1, sizeof *rows);
    int *active = calloc(n ? n : 1, sizeof *active);
    float *w = calloc(n ? n : 1, sizeof *w);
    double *wd = calloc(n ? n : 1, sizeof *wd);
    dist_run *r = NULL;
    hcl_status st = params && rows && active && w && wd ? HCL_OK : fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) st = check_step(d, m, n, x, target, lr, params, rows);
    st = agree(d, params, m, n, st);
    hcl_status queued = st;
    if (st == HCL_OK) { /* a failure from here on is this process's alone: it still joins the
                           row-count exchange below, which tells the others to stop */
        for (size_t i = 0; i < n; i++) active[i] = rows[i] > 0;
        queued = run_create(d, params, n, active, &r);
        /* queue everything, then agree on the global row count (and on failures while queueing) */
        if (queued == HCL_OK) queued = queue_backwards(r, m, x, target);
    }
    if (st == HCL_OK) {
        uint64_t v[2] = {0, queued != HCL_OK};
        for (size_t i = 0; i < n; i++) v[0] += rows[i];
        st = d->t->sum_u64(d->t, v, 2, d->error, sizeof d->error);
        if (st == HCL_OK && queued != HCL_OK) st = queued;
        else if (st == HCL_OK && v[1]) st = fail(d, HCL_ERR_INVALID_ARGUMENT, "another process of the group failed its step");
        else if (st == HCL_OK && v[0] == 0) st = fail(d, HCL_ERR_INVALID_ARGUMENT, "the global batch has no rows");
        if (st == HCL_OK) {
            for (size_t i = 0; i < n; i++) wd[i] = (double)rows[i] / (double)v[0];
            to_float_weights(wd, n, w);
            st = run_reduce(r, w);
        }
    }
    for (size_t i = 0; st == HCL_OK && i < n; i++) {
        st = hcl_model_step(m[i], lr);
        if (st != HCL_OK) st = fail_ctx(d, st, m[i]->ctx, i);
    }
    stage_wait_writes(&d->stage); /* the writes are short: the backward had ended */
    if (st == HCL_OK) {
        d->stats.steps++;
        d->stats.step_seconds += now_s() - t0;
    }
    run_free(r);
    free(params);
    free(rows);
    free(active);
    free(w);
    free(wd);
    return st;
}

hcl_status hcl_dist_allreduce_grads(hcl_dist *d, hcl_params **params, const double *weights, size_t n) {
    if (!d) return HCL_ERR_NULL_POINTER;
    d->error[0] = '\0';
    hcl_status st = check_list(d, (void *const *)params, n, "params");
    for (size_t i = 0; st == HCL_OK && i < n; i++)
        if (!params[i]->allocated) st = fail(d, HCL_ERR_INVALID_ARGUMENT, "params[%zu] are not allocated", i);
    for (size_t i = 0; st == HCL_OK && weights && i < n; i++)
        if (!isfinite(weights[i])) st = fail(d, HCL_ERR_INVALID_ARGUMENT, "weights[%zu] = %g is not finite", i, weights[i]);
    st = agree(d, params, NULL, n, st);
    if (st != HCL_OK) return st;
    uint64_t total = n;
    HCL_TRY(d->t->sum_u64(d->t, &total, 1, d->error, sizeof d->error));
    int *active = malloc(n * sizeof *active);
    float *w = malloc(n * sizeof *w);
    dist_run *r = NULL;
    st = active && w ? HCL_OK : fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; st == HCL_OK && i < n; i++) {
        w[i] = weights ? (float)weights[i] : (float)(1.0 / (double)total);
        active[i] = 1; /* every replica's gradients count, whatever its weight (0 * inf is NaN: as asked) */
    }
    if (st == HCL_OK) st = run_create(d, params, n, active, &r);
    if (st == HCL_OK) st = enqueue_rest(r);
    if (st == HCL_OK) st = run_reduce(r, w);
    stage_wait_writes(&d->stage);
    run_free(r);
    free(active);
    free(w);
    return st;
}

/* ------------------------------------------------------------------ broadcast and agreement */

/* The tensors a replica's training state lives in, in a fixed order: the parameter storage
 * (masters, or F16 weights under pure_f16), the working copies when distinct, the optimizer
 * states, the amp words, then batch norm running statistics. Returns the count (at most max). */
static size_t state_tensors(hcl_model *m, hcl_tensor **t, size_t max) {
    size_t k = 0;
    hcl_params *p = m->params;
    hcl_optimizer *o = m->optim;
    hcl_tensor *store = hcl_params_storage_arena(p);
    if (k < max) t[k++] = store;
    if (p->weight_arena != store && k < max) t[k++] = p->weight_arena;
    for (size_t s = 0; s < HCL_OPTIM_MAX_STATES; s++)
        if (o->state[s] && k < max) t[k++] = o->state[s];
    if (k < max) t[k++] = o->amp;
    for (size_t i = 0; i < m->count; i++) {
        nn_node *nd = &m->nodes[i];
        if (nd->kind != HCL_LAYER_BATCHNORM2D) continue;
        if (nd->run_mean && k < max) t[k++] = nd->run_mean;
        if (nd->run_var && k < max) t[k++] = nd->run_var;
    }
    return k;
}

#define DIST_MAX_STATE 1024

static hcl_status bcast_tensor(hcl_dist *d, hcl_model **m, size_t n, size_t which, void *host) {
    hcl_tensor *t[DIST_MAX_STATE];
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        state_tensors(m[i], t, DIST_MAX_STATE);
        bytes = hcl_tensor_bytes(t[which]);
        if (i == 0 && d->t->rank == 0) {
            hcl_status st = hcl_tensor_download_raw(t[which], host, bytes);
            if (st != HCL_OK) return fail_ctx(d, st, m[0]->ctx, 0);
            HCL_TRY(d->t->broadcast(d->t, host, bytes, 0, d->error, sizeof d->error));
        } else {
            if (i == 0) HCL_TRY(d->t->broadcast(d->t, host, bytes, 0, d->error, sizeof d->error));
            hcl_status st = hcl_tensor_upload_raw(t[which], host, bytes);
            if (st != HCL_OK) return fail_ctx(d, st, m[i]->ctx, i);
        }
    }
    return HCL_OK;
}

hcl_status hcl_dist_broadcast(hcl_dist *d, hcl_model **m, size_t n) {
    if (!d) return HCL_ERR_NULL_POINTER;
    d->error[0] = '\0';
    hcl_params **params = calloc(n ? n : 1, sizeof *params);
    hcl_status st = params ? check_models(d, m, n, params) : fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_tensor *t[DIST_MAX_STATE];
    size_t count = 0, bytes = 0;
    if (st == HCL_OK) {
        count = state_tensors(m[0], t, DIST_MAX_STATE);
        if (count == DIST_MAX_STATE) st = fail(d, HCL_ERR_OVERFLOW, "broadcast: more than %d state tensors", DIST_MAX_STATE - 1);
        for (size_t k = 0; k < count; k++)
            if (hcl_tensor_bytes(t[k]) > bytes) bytes = hcl_tensor_bytes(t[k]);
        for (size_t i = 0; st == HCL_OK && i < n; i++)
            if (m[i]->optim->mask)
                st = fail(d, HCL_ERR_INVALID_ARGUMENT, "broadcast: replica %zu has a pruning mask (not broadcast)", i);
    }
    st = agree(d, params, m, n, st);
    void *host = st == HCL_OK ? malloc(bytes ? bytes : 1) : NULL;
    if (st == HCL_OK && !host) st = fail(d, HCL_ERR_HOST_MEMORY, "out of host memory (%zu bytes)", bytes);
    for (size_t k = 0; st == HCL_OK && k < count; k++) st = bcast_tensor(d, m, n, k, host);
    if (st == HCL_OK) { /* host counters: the schedule's step and the dropout stream */
        uint64_t v[2] = {m[0]->optim->host_step, m[0]->rng_offset};
        st = d->t->broadcast(d->t, v, sizeof v, 0, d->error, sizeof d->error);
        for (size_t i = 0; st == HCL_OK && i < n; i++) {
            m[i]->optim->host_step = v[0];
            m[i]->rng_offset = v[1];
        }
    }
    free(host);
    free(params);
    return st;
}

/* Hash of replica m's masters and working copies over the parameters' elements (not padding). */
static hcl_status replica_hash(hcl_dist *d, hcl_model *m, size_t i, void *host, hcl_hash *h) {
    hcl_params *p = m->params;
    hcl_tensor *arenas[2] = {hcl_params_storage_arena(p), p->weight_arena};
    hcl_hash_init(h);
    for (int a = 0; a < 2; a++) {
        if (a == 1 && arenas[1] == arenas[0]) break;
        size_t es = hcl_dtype_size(arenas[a]->dtype);
        hcl_status st = hcl_tensor_download_raw(arenas[a], host, hcl_tensor_bytes(arenas[a]));
        if (st != HCL_OK) return fail_ctx(d, st, m->ctx, i);
        for (size_t q = 0; q < p->count; q++)
            hcl_hash_update(h, (const uint8_t *)host + p->p[q].offset * es, p->p[q].count * es);
    }
    return HCL_OK;
}

/* Hashes of the local replicas: *diff = 1 when one differs from replica 0, h0 = replica 0's. */
static hcl_status local_hashes(hcl_dist *d, hcl_model **m, size_t n, hcl_hash *h0, uint64_t *diff) {
    void *host = malloc(hcl_tensor_bytes(hcl_params_storage_arena(m[0]->params)) + 16);
    if (!host) return fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = HCL_OK;
    for (size_t i = 0; st == HCL_OK && i < n; i++) {
        hcl_hash h;
        st = replica_hash(d, m[i], i, host, &h);
        if (i == 0) *h0 = h;
        else *diff |= h.a != h0->a || h.b != h0->b;
    }
    free(host);
    return st;
}

hcl_status hcl_dist_check_replicas(hcl_dist *d, hcl_model **m, size_t n, int *same) {
    if (!d) return HCL_ERR_NULL_POINTER;
    d->error[0] = '\0';
    if (same) *same = 0;
    hcl_params **params = calloc(n ? n : 1, sizeof *params);
    hcl_status st = params ? check_models(d, m, n, params) : fail(d, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK && !same) st = fail(d, HCL_ERR_NULL_POINTER, "same is NULL");
    st = agree(d, params, m, n, st);
    free(params);
    if (st != HCL_OK) return st; /* the whole group failed agree() alike */
    hcl_hash h0 = {0, 0};
    uint64_t diff = 0;
    st = local_hashes(d, m, n, &h0, &diff);
    /* every process takes part in the exchange, a failed one with a flag */
    uint64_t w[6] = {st != HCL_OK, diff, h0.a, ~h0.a, h0.b, ~h0.b};
    char terr[256] = "";
    hcl_status ts = d->t->max_u64(d->t, w, 6, terr, sizeof terr);
    if (st != HCL_OK) return st;
    if (ts != HCL_OK) return fail(d, ts, "%s", terr);
    if (w[0]) return fail(d, HCL_ERR_INVALID_ARGUMENT, "another process of the group failed its check");
    *same = !w[1] && w[2] == h0.a && w[3] == ~h0.a && w[4] == h0.b && w[5] == ~h0.b;
    return HCL_OK;
}

/* ------------------------------------------------------------------ local devices */

hcl_status hcl_dist_local_devices(size_t max_devices, char (*specs)[HCL_DIST_SPEC_LEN], size_t *count, char *error,
                                  size_t error_len) {
    set_error(error, error_len, "");
    if (!specs || !count) {
        set_error(error, error_len, "specs and count must not be NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *count = 0;
    if (max_devices == 0) {
        set_error(error, error_len, "max_devices is 0");
        return HCL_ERR_INVALID_ARGUMENT;
    }
    hcl_device_info *dev = NULL;
    size_t nd = 0;
    hcl_status st = hcl_devices_list(&dev, &nd);
    if (st != HCL_OK) {
        set_error(error, error_len, "cannot list the OpenCL devices");
        return st;
    }
    size_t got = 0;
    for (size_t i = 0; i < nd && got < max_devices; i++) /* every GPU first */
        if (dev[i].is_gpu) snprintf(specs[got++], HCL_DIST_SPEC_LEN, "%u:%u", dev[i].platform_index, dev[i].device_index);
    if (got == 0) { /* no GPU: the default device (as a context would choose it), split or repeated */
        size_t idx = 0;
        char msg[512] = "";
        const char *env = getenv("HALFCL_DEVICE");
        unsigned sub = 0, parts = 0;
        st = nd ? hcl_device_spec_parse(env, NULL, 0, &sub, &parts, msg, sizeof msg) : HCL_ERR_NO_DEVICE;
        if (st == HCL_OK) st = hcl_device_choose(dev, nd, env, &idx, msg, sizeof msg);
        if (st != HCL_OK) {
            set_error(error, error_len, msg[0] ? msg : "no usable OpenCL device");
        } else {
            unsigned p = dev[idx].platform_index, d = dev[idx].device_index;
            int split = !parts && dev[idx].is_cpu && max_devices >= 2 && max_devices <= HCL_SUBDEVICE_MAX_PARTS &&
                        hcl_device_can_split(p, d, (unsigned)max_devices, NULL, 0) == HCL_OK;
            for (; got < max_devices; got++) {
                if (split) snprintf(specs[got], HCL_DIST_SPEC_LEN, "%u:%u@%zu/%zu", p, d, got, max_devices);
                else if (parts) snprintf(specs[got], HCL_DIST_SPEC_LEN, "%u:%u@%u/%u", p, d, sub, parts);
                else snprintf(specs[got], HCL_DIST_SPEC_LEN, "%u:%u", p, d);
            }
        }
    }
    hcl_devices_free(dev);
    *count = got;
    return st;
}
