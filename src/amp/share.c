/* Weight sharing (Deep Compression, issue 11): a parameter becomes 2^bits shared F32 values (a
 * codebook) and one U8 index per weight. k-means runs on the host at add time (linear init over
 * [min, max], Lloyd iterations until the centroids stop changing: deterministic), over the weights
 * the optimizer's mask keeps (pruned ones are written back as 0). The cluster of
 * every weight is then fixed, so the per-cluster gradient sums of fine-tuning use a precomputed
 * permutation grouped by cluster (compress.cl: one work-group per cluster, fixed-order sums).
 * The indices and codebooks are saved and loaded beside a checkpoint (not in it) to resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "amp/amp_internal.h"
#include "halfcl/io.h"
#include "ops/ops_internal.h"

#define SHARE_MAX_ITERS 1000
#define SHARE_WG 64

typedef struct share_param {
    size_t index;
    int bits;
    hcl_tensor *indices;  /* U8, the parameter's shape */
    hcl_tensor *codebook; /* F32 (2^bits) */
    hcl_tensor *perm;     /* I32 (count): weight positions grouped by cluster */
    hcl_tensor *seg;      /* I32 (2^bits + 1): cluster k = perm[seg[k] .. seg[k+1]) */
} share_param;

struct hcl_weight_share {
    hcl_optimizer *opt;
    hcl_params *params;
    hcl_context *ctx;
    share_param *p;
    size_t n, cap;
    size_t local; /* work-group size of share_update (fixed per object: deterministic sums) */
};

hcl_status hcl_weight_share_create(hcl_optimizer *opt, hcl_weight_share **out) {
    if (!opt) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(opt->ctx, out);
    *out = NULL;
    hcl_weight_share *s = calloc(1, sizeof *s);
    if (!s) return hcl_error(opt->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    s->opt = opt;
    s->params = opt->params;
    s->ctx = opt->ctx;
    *out = s;
    return HCL_OK;
}

static void free_param(share_param *q) {
    hcl_tensor_free(q->indices);
    hcl_tensor_free(q->codebook);
    hcl_tensor_free(q->perm);
    hcl_tensor_free(q->seg);
}

void hcl_weight_share_free(hcl_weight_share *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free_param(&s->p[i]);
    free(s->p);
    free(s);
}

static const share_param *find(const hcl_weight_share *s, size_t index) {
    if (!s) return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].index == index) return &s->p[i];
    return NULL;
}

const hcl_tensor *hcl_weight_share_indices(const hcl_weight_share *s, size_t index) {
    const share_param *q = find(s, index);
    return q ? q->indices : NULL;
}

const hcl_tensor *hcl_weight_share_codebook(const hcl_weight_share *s, size_t index) {
    const share_param *q = find(s, index);
    return q ? q->codebook : NULL;
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Index of the centroid nearest to v among sorted c[0..K) (ties: the lower index). */
static int nearest(const double *c, int K, double v) {
    int lo = 0, hi = K; /* first centroid >= v */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    if (lo == K) return K - 1;
    if (lo == 0) return 0;
    /* the lowest index holding the value c[lo - 1] (equal centroids: the lower wins) */
    int a = lo - 1;
    while (a > 0 && c[a - 1] == c[a]) a--;
    return fabs(v - c[a]) <= fabs(c[lo] - v) ? a : lo;
}

/* 1-D k-means of x (n) into K centroids c (sorted ascending); the cluster of a value is then
 * nearest(c, K, value). Deterministic. No values at all (n == 0: all pruned): every centroid 0. */
static hcl_status kmeans(hcl_context *ctx, const float *x, size_t n, int K, double *c) {
    if (n == 0) {
        for (int k = 0; k < K; k++) c[k] = 0.0;
        return HCL_OK;
    }
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    for (int k = 0; k < K; k++) c[k] = mn + (mx - mn) * (double)k / (double)(K - 1);
    double *sum = malloc((size_t)K * sizeof *sum), *nc = malloc((size_t)K * sizeof *nc);
    size_t *cnt = malloc((size_t)K * sizeof *cnt);
    if (!sum || !nc || !cnt) {
        free(sum); free(nc); free(cnt);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    }
    for (int it = 0; it < SHARE_MAX_ITERS; it++) {
        memset(sum, 0, (size_t)K * sizeof *sum);
        memset(cnt, 0, (size_t)K * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            int k = nearest(c, K, x[i]);
            sum[k] += x[i];
            cnt[k]++;
        }
        for (int k = 0; k < K; k++) nc[k] = cnt[k] ? sum[k] / (double)cnt[k] : c[k]; /* empty: stays */
        qsort(nc, (size_t)K, sizeof *nc, dcmp);
        int same = !memcmp(nc, c, (size_t)K * sizeof *c);
        memcpy(c, nc, (size_t)K * sizeof *c);
        if (same) break;
    }
    free(sum); free(nc); free(cnt);
    return HCL_OK;
}

static hcl_status tensor_from(hcl_context *ctx, hcl_dtype dt, int rank, const int64_t *shape, const void *data, size_t bytes,
                              hcl_tensor **t) {
    HCL_TRY(hcl_tensor_create(ctx, dt, rank, shape, t));
    return hcl_tensor_upload_raw(*t, data, bytes);
}

/* The optimizer's mask of parameter pr (1 keep, 0 pruned) -> a new host array of pr->count. */
static hcl_status mask_download(hcl_optimizer *o, const hcl_param *pr, unsigned char **keep) {
    int64_t shape[1] = {(int64_t)pr->count};
    hcl_tensor *v = NULL;
    *keep = malloc(pr->count);
    if (!*keep) return hcl_error(o->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    hcl_status st = hcl_tensor_view(o->mask, pr->offset, 1, shape, &v);
    if (st == HCL_OK) st = hcl_tensor_download_raw(v, *keep, pr->count);
    hcl_tensor_free(v);
    if (st != HCL_OK) {
        free(*keep);
        *keep = NULL;
    }
    return st;
}

/* The device tensors of q (index and bits set) from host indices idx (pr->count, each < 2^bits)
 * and codebook cb (2^bits): also the permutation grouped by cluster (counting sort, positions
 * ascending within a cluster) and the cluster segments. On failure q's tensors are freed. */
static hcl_status make_param(hcl_context *ctx, const hcl_param *pr, const unsigned char *idx, const float *cb, share_param *q) {
    size_t n = pr->count;
    int K = 1 << q->bits;
    if (n > (size_t)INT32_MAX) return hcl_error(ctx, HCL_ERR_OVERFLOW, "parameter %s has more than 2^31 - 1 weights", pr->name);
    int32_t *perm = malloc(n * sizeof *perm), *seg = calloc((size_t)K + 1, sizeof *seg), *fill = malloc((size_t)K * sizeof *fill);
    hcl_status st = perm && seg && fill ? HCL_OK : hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) {
        for (size_t i = 0; i < n; i++) seg[idx[i] + 1]++;
        for (int k = 0; k < K; k++) seg[k + 1] += seg[k];
        memcpy(fill, seg, (size_t)K * sizeof *fill);
        for (size_t i = 0; i < n; i++) perm[fill[idx[i]]++] = (int32_t)i;
    }
    int64_t kshape[1] = {K}, k1[1] = {K + 1}, nshape[1] = {(int64_t)n};
    if (st == HCL_OK) st = tensor_from(ctx, HCL_U8, pr->rank, pr->shape, idx, n, &q->indices);
    if (st == HCL_OK) st = tensor_from(ctx, HCL_F32, 1, kshape, cb, (size_t)K * sizeof *cb, &q->codebook);
    if (st == HCL_OK) st = tensor_from(ctx, HCL_I32, 1, nshape, perm, n * sizeof *perm, &q->perm);
    if (st == HCL_OK) st = tensor_from(ctx, HCL_I32, 1, k1, seg, ((size_t)K + 1) * sizeof *seg, &q->seg);
    free(perm); free(seg); free(fill);
    if (st != HCL_OK) {
        free_param(q);
        memset(q, 0, sizeof *q);
    }
    return st;
}

hcl_status hcl_weight_share_add(hcl_weight_share *s, size_t index, int bits) {
    if (!s) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = s->ctx;
    hcl_params *ps = s->params;
    if (index >= ps->count) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameter index %zu out of range (%zu parameters)", index, ps->count);
    if (bits < 2 || bits > 8) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "bits %d is not in 2..8", bits);
    if (find(s, index)) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "parameter %zu (%s) is already shared", index, ps->p[index].name);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        share_param *np = realloc(s->p, cap * sizeof *np);
        if (!np) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        s->p = np;
        s->cap = cap;
    }
    const hcl_param *pr = &ps->p[index];
    size_t n = pr->count;
    int K = 1 << bits;
    float *x = malloc(n * sizeof *x);
    double *c = malloc((size_t)K * sizeof *c);
    float *cb = malloc((size_t)K * sizeof *cb);
    unsigned char *idx = malloc(n);
    share_param q = {.index = index, .bits = bits};
    hcl_status st = x && c && cb && idx ? HCL_OK : hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == HCL_OK) st = hcl_params_download(ps, index, x, n);
    for (size_t i = 0; st == HCL_OK && i < n; i++)
        if (!isfinite(x[i])) st = hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "weight %zu is not finite (%g): cannot cluster", i, (double)x[i]);
    /* weights pruned by the optimizer's mask are left out of the clustering and stay 0 */
    unsigned char *keep = NULL;
    if (st == HCL_OK && s->opt->mask) st = mask_download(s->opt, pr, &keep);
    float *live = NULL; /* the unpruned weights, in order (x itself without a mask) */
    size_t nl = n;
    if (st == HCL_OK && keep) {
        live = malloc(n * sizeof *live);
        if (!live) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        nl = 0;
        for (size_t i = 0; st == HCL_OK && i < n; i++)
            if (keep[i]) live[nl++] = x[i];
    }
    if (st == HCL_OK) st = kmeans(ctx, live ? live : x, nl, K, c);
    if (st == HCL_OK) {
        /* every weight gets its nearest centroid (a pruned one: the centroid nearest 0; it is never
         * trained while pruned and decodes to 0) */
        for (size_t i = 0; i < n; i++) idx[i] = (unsigned char)nearest(c, K, keep && !keep[i] ? 0.0 : (double)x[i]);
        for (int k = 0; k < K; k++) cb[k] = (float)c[k];
        for (size_t i = 0; i < n; i++) x[i] = keep && !keep[i] ? 0.0f : cb[idx[i]];
    }
    free(live);
    free(keep);
    if (st == HCL_OK) st = make_param(ctx, pr, idx, cb, &q);
    if (st == HCL_OK) st = hcl_params_upload(ps, index, x, n); /* masters (and working copies) = codebook[index], pruned 0 */
    free(x); free(c); free(cb); free(idx);
    if (st != HCL_OK) {
        free_param(&q);
        return st;
    }
    s->p[s->n++] = q;
    return HCL_OK;
}

/* ---- the sharing state beside a checkpoint ---- */

#define SHARE_FORMAT "halfcl-weight-share-1"

static char *entry_name(const char *param, const char *what) {
    size_t n = strlen(param) + strlen(what) + 8;
    char *e = malloc(n);
    if (e) snprintf(e, n, "share.%s.%s", param, what);
    return e;
}

hcl_status hcl_weight_share_save(const hcl_weight_share *s, const char *path) {
    if (!s) return HCL_ERR_NULL_POINTER;
    HCL_CHECK_NULL(s->ctx, path);
    size_t n = 2 * s->n;
    char **names = calloc(n ? n : 1, sizeof *names);
    const hcl_tensor **ts = calloc(n ? n : 1, sizeof *ts);
    hcl_status st = names && ts ? HCL_OK : hcl_error(s->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; st == HCL_OK && i < s->n; i++) {
        const char *pn = s->params->p[s->p[i].index].name;
        names[2 * i] = entry_name(pn, "indices");
        names[2 * i + 1] = entry_name(pn, "codebook");
        if (!names[2 * i] || !names[2 * i + 1]) st = hcl_error(s->ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        ts[2 * i] = s->p[i].indices;
        ts[2 * i + 1] = s->p[i].codebook;
    }
    hcl_safetensors_meta meta[1] = {{"halfcl.format", SHARE_FORMAT}};
    if (st == HCL_OK) st = hcl_safetensors_save_tensors(s->ctx, path, (const char *const *)names, ts, n, meta, 1);
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(ts);
    return st;
}

/* Checks the entries of parameter pr in f: absent (*ti = *tc = NULL), or indices U8 of its shape
 * and a finite F32 codebook of 2^bits (bits 2..8) that every index fits. */
static hcl_status load_entries(hcl_context *ctx, const hcl_safetensors *f, const char *path, const hcl_param *pr,
                               const hcl_safetensors_tensor **ti, const hcl_safetensors_tensor **tc, int *bits) {
    char *ni = entry_name(pr->name, "indices"), *nc = entry_name(pr->name, "codebook");
    hcl_status st = ni && nc ? HCL_OK : hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    *ti = *tc = NULL;
    if (st == HCL_OK) {
        *ti = hcl_safetensors_find(f, ni);
        *tc = hcl_safetensors_find(f, nc);
    }
    if (st == HCL_OK && (!*ti != !*tc)) st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %s has indices or a codebook, not both", path, pr->name);
    if (st == HCL_OK && *ti) {
        const hcl_safetensors_tensor *i = *ti, *c = *tc;
        int same = i->dtype == HCL_U8 && i->rank == pr->rank;
        for (int d = 0; same && d < pr->rank; d++) same = i->shape[d] == pr->shape[d];
        *bits = 0;
        while (*bits <= 8 && ((size_t)1 << *bits) < c->count) (*bits)++;
        if (!same) st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %s is not U8 of the parameter's shape", path, ni);
        else if (c->dtype != HCL_F32 || c->rank != 1 || *bits < 2 || *bits > 8 || ((size_t)1 << *bits) != c->count)
            st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %s is not F32 of 2^bits values (bits 2..8)", path, nc);
        for (size_t k = 0; st == HCL_OK && k < c->count; k++) {
            float v;
            memcpy(&v, (const char *)c->data + 4 * k, 4);
            if (!isfinite(v)) st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %s holds a non-finite value", path, nc);
        }
        const unsigned char *ix = i->data;
        for (size_t k = 0; st == HCL_OK && k < i->count; k++)
            if (ix[k] >= c->count) st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %s holds index %u of a %zu-value codebook", path, ni, ix[k], c->count);
    }
    free(ni);
    free(nc);
    return st;
}

hcl_status hcl_weight_share_load(hcl_weight_share *s, const char *path) {
    if (!s) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = s->ctx;
    HCL_CHECK_NULL(ctx, path);
    if (s->n) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "weight_share_load: %zu parameters are already shared (load into a new share object)", s->n);
    hcl_params *ps = s->params;
    hcl_safetensors *f = NULL;
    HCL_TRY(hcl_safetensors_load(ctx, path, &f));
    hcl_status st = HCL_OK;
    const char *fmt = hcl_safetensors_metadata(f, "halfcl.format");
    if (!fmt || strcmp(fmt, SHARE_FORMAT)) st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: not a halfcl weight-sharing file", path);
    share_param *qs = calloc(ps->count ? ps->count : 1, sizeof *qs);
    if (st == HCL_OK && !qs) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    size_t m = 0;
    float *x = NULL;
    /* check everything, then make every parameter's tensors: nothing is adopted before all exist */
    for (size_t pi = 0; st == HCL_OK && pi < ps->count; pi++) {
        const hcl_safetensors_tensor *ti, *tc;
        int bits = 0;
        if ((st = load_entries(ctx, f, path, &ps->p[pi], &ti, &tc, &bits)) != HCL_OK || !ti) continue;
        qs[m] = (share_param){.index = pi, .bits = bits};
        float cb[256];
        memcpy(cb, tc->data, tc->bytes);
        if ((st = make_param(ctx, &ps->p[pi], ti->data, cb, &qs[m])) == HCL_OK) m++;
    }
    if (st == HCL_OK && 2 * m != hcl_safetensors_count(f))
        st = hcl_error(ctx, HCL_ERR_FORMAT, "%s: %zu tensors, %zu expected (indices and codebook of parameters of this set)", path,
                       hcl_safetensors_count(f), 2 * m);
    if (st == HCL_OK && m > s->cap) {
        share_param *np = realloc(s->p, m * sizeof *np);
        if (!np) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        else {
            s->p = np;
            s->cap = m;
        }
    }
    size_t maxn = 0;
    for (size_t k = 0; k < m; k++) maxn = ps->p[qs[k].index].count > maxn ? ps->p[qs[k].index].count : maxn;
    if (st == HCL_OK && m && !(x = malloc(maxn * sizeof *x))) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    if (st != HCL_OK) {
        for (size_t k = 0; k < m; k++) free_param(&qs[k]);
        free(qs);
        hcl_safetensors_free(f);
        return st;
    }
    /* adopt, then masters and working copies = codebook[index] (pruned weights 0) */
    for (size_t k = 0; k < m; k++) s->p[s->n++] = qs[k];
    for (size_t k = 0; st == HCL_OK && k < m; k++) {
        const hcl_param *pr = &ps->p[qs[k].index];
        char *ni = entry_name(pr->name, "indices"), *nc = entry_name(pr->name, "codebook");
        const hcl_safetensors_tensor *ti = ni ? hcl_safetensors_find(f, ni) : NULL, *tc = nc ? hcl_safetensors_find(f, nc) : NULL;
        free(ni);
        free(nc);
        unsigned char *keep = NULL;
        if (!ti || !tc) st = hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
        if (st == HCL_OK && s->opt->mask) st = mask_download(s->opt, pr, &keep);
        for (size_t i = 0; st == HCL_OK && i < pr->count; i++)
            if (keep && !keep[i]) x[i] = 0.0f;
            else memcpy(&x[i], (const char *)tc->data + 4 * ((const unsigned char *)ti->data)[i], 4);
        if (st == HCL_OK) st = hcl_params_upload(ps, qs[k].index, x, pr->count);
        free(keep);
    }
    free(x);
    free(qs);
    hcl_safetensors_free(f);
    return st;
}

/* "-DG_DT=f16 -DW_DT=f16" */
static const char *options(const hcl_params *ps, char *buf, size_t len) {
    return hcl_dt_options(buf, len, "G", ps->grad_dt, "W", ps->weight_dt, NULL);
}

hcl_status hcl_weight_share_step(hcl_weight_share *s, float lr) {
    if (!s) return HCL_ERR_NULL_POINTER;
    hcl_context *ctx = s->ctx;
    if (!isfinite(lr) || lr < 0.0f) return hcl_error(ctx, HCL_ERR_INVALID_ARGUMENT, "learning rate %g must be finite and >= 0", (double)lr);
    if (s->n == 0) return HCL_OK;
    hcl_params *ps = s->params;
    hcl_optimizer *o = s->opt;
    char opts[96];
    options(ps, opts, sizeof opts);
    cl_kernel ku, kd;
    HCL_TRY(hcl_kernel_get(ctx, "compress", opts, "share_update", &ku));
    HCL_TRY(hcl_kernel_get(ctx, "compress", opts, "share_decode", &kd));
    if (!s->local) {
        size_t kmax = 0;
        HCL_CL_TRY(ctx, clGetKernelWorkGroupInfo(ku, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL));
        size_t cap = ctx->info.is_cpu ? 16 : SHARE_WG, l = 1;
        if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < cap) cap = ctx->info.max_work_group_size;
        if (kmax && kmax < cap) cap = kmax;
        while (l * 2 <= cap) l *= 2;
        s->local = l;
    }
    const hcl_tensor *mask = o->mask;
    hcl_tensor *pt = ps->master_arena, *wt = ps->weight_arena, *gt = ps->grad_arena;
    cl_int has_mask = mask != NULL;
    cl_int write_p = pt != NULL, write_w = pt == NULL || pt != wt;
    cl_mem pb = pt ? pt->buffer : wt->buffer; /* pure_f16: no master, never written */
    for (size_t i = 0; i < s->n; i++) {
        const share_param *q = &s->p[i];
        const hcl_param *pr = &ps->p[q->index];
        cl_mem mb = mask ? mask->buffer : q->indices->buffer; /* never read without a mask */
        cl_ulong cb_off = hcl_off(q->codebook), g_off = hcl_off(gt) + pr->offset, perm_off = hcl_off(q->perm);
        cl_ulong seg_off = hcl_off(q->seg), mk_off = (mask ? hcl_off(mask) : 0) + (has_mask ? pr->offset : 0);
        cl_ulong st_off = hcl_off(o->amp);
        hcl_karg ua[] = {HCL_ARG(q->codebook->buffer), HCL_ARG(cb_off), HCL_ARG(gt->buffer), HCL_ARG(g_off),
                         HCL_ARG(q->perm->buffer), HCL_ARG(perm_off), HCL_ARG(q->seg->buffer), HCL_ARG(seg_off),
                         HCL_ARG(mb), HCL_ARG(mk_off), HCL_ARG(has_mask), HCL_ARG(o->amp->buffer), HCL_ARG(st_off),
                         HCL_ARG(lr), HCL_LOCAL(s->local * sizeof(float))};
        size_t L = s->local, K = (size_t)1 << q->bits;
        HCL_TRY(hcl_launch_1d(ctx, ku, K * L, L, ua, sizeof ua / sizeof ua[0]));
        cl_ulong p_off = (pt ? hcl_off(pt) : hcl_off(wt)) + pr->offset, w_off = hcl_off(wt) + pr->offset;
        cl_ulong idx_off = hcl_off(q->indices), n = pr->count;
        hcl_karg da[] = {HCL_ARG(pb), HCL_ARG(p_off), HCL_ARG(write_p), HCL_ARG(wt->buffer), HCL_ARG(w_off), HCL_ARG(write_w),
                         HCL_ARG(q->codebook->buffer), HCL_ARG(cb_off), HCL_ARG(q->indices->buffer), HCL_ARG(idx_off),
                         HCL_ARG(mb), HCL_ARG(mk_off), HCL_ARG(has_mask), HCL_ARG(n)};
        HCL_TRY(hcl_launch_1d(ctx, kd, pr->count, 0, da, sizeof da / sizeof da[0]));
    }
    return HCL_OK;
}
