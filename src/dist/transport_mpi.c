/* The MPI transport of src/dist (built when meson finds MPI, with HCL_HAVE_MPI): sums of gradient
 * buckets over all processes (MPI_Iallreduce, F32 or F16 on the wire), broadcasts and small u64
 * reductions, on a private duplicate of MPI_COMM_WORLD whose errors return instead of aborting.
 *
 * Bit-identical results on every process. Each element of a sum is a tree of pairwise additions,
 * and every process must end up with the same bits:
 * - 2 processes: there is only one pairwise sum per element, a+b, and a+b == b+a bit for bit in
 *   IEEE arithmetic (F32 MPI_SUM and our F16 op alike), whichever process computes it.
 * - more processes: Open MPI's MPI_Iallreduce (coll/libnbc) picks binomial (reduce to rank 0,
 *   then broadcast: one tree, copied), reduce-scatter + allgather or ring (each element reduced
 *   on one process, then copied to the others); its recursive doubling keeps the same tree on
 *   both partners of every exchange, again equal by commutativity. In all of them every process
 *   gets a copy of, or a commuted twin of, the same expression tree. tests/test_dist_mpi.c checks
 *   the agreement with 2, 3 and 4 processes on buckets on both sides of libnbc's 64 KiB switch.
 * - NaN: x86 returns the first operand's payload for NaN + NaN, so a+b and b+a can differ there.
 *   The F16 op and the end of every sum make NaNs canonical (0x7fc00000 / 0x7e00), so those bits
 *   agree too (a NaN anywhere skips the step on every process anyway).
 * F16 wire: each pairwise sum converts both F16 operands to F32, adds (F32 has 24 bits >= 2*11+2,
 * so rounding the F32 sum to F16 equals rounding the exact sum: no double-rounding error) and
 * rounds to F16 with round-to-nearest-even, overflow to inf. With 2 processes the result is
 * exactly RNE_f16(f16(a) + f16(b)); with more it depends on the tree, as any F16 reduction does.
 *
 * MPI initialization: MPI_Init_thread (FUNNELED: only the thread that drives hcl_dist calls MPI)
 * when nobody initialized MPI yet, and MPI_Finalize in free only in that case. The application
 * that initialized MPI itself keeps its MPI_COMM_WORLD error handler; ours is set on the dup. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>
#include "dist/transport.h"

/* MPI failures (a peer died, truncation, bad arguments reaching MPI) have no closer status. */
#define TRANSPORT_FAILED HCL_ERR_IO
/* Elements per MPI call: MPI counts are int. */
#define CHUNK_ELEMS ((size_t)1 << 30)
#define F32_CANONICAL_NAN 0x7fc00000u
#define F16_CANONICAL_NAN 0x7e00u

/* Scratch buffers kept between sums: a fresh multi-MiB malloc per bucket is an mmap whose pages
 * fault in on every step (and Open MPI's shared-memory copy path then sees new pages each time). */
#define SPARE_BUFFERS 8

typedef struct mpi_impl {
    MPI_Comm comm;      /* dup of MPI_COMM_WORLD: our traffic and error handler, not the app's */
    MPI_Op f16_sum;     /* commutative F16 sum on MPI_UINT16_T */
    int owns_mpi;       /* 1: we called MPI_Init_thread, so free calls MPI_Finalize */
    void *spare[SPARE_BUFFERS];
    size_t spare_bytes[SPARE_BUFFERS];
} mpi_impl;

struct hcl_transport_request {
    mpi_impl *m;        /* where the scratch buffers go back */
    float *data;        /* the caller's bucket: the result lands here as F32 */
    size_t count;
    hcl_dtype wire;
    void *send;         /* F32: copy of data (not MPI_IN_PLACE: in-place forces libnbc's binomial
                           algorithm, log2(p) times the bytes through rank 0); F16: data as F16 */
    uint16_t *recv16;   /* F16 result (F32 results go straight to data) */
    size_t send_bytes, recv16_bytes;
    int nreq;
    MPI_Request *reqs;  /* one per chunk of CHUNK_ELEMS */
    MPI_Status *statuses;
};

static void set_error(char *error, size_t len, const char *fmt, ...) {
    if (!error || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, len, fmt, ap);
    va_end(ap);
}

static hcl_status mpi_error(int code, const char *call, char *error, size_t len) {
    char text[MPI_MAX_ERROR_STRING];
    int text_len = 0;
    if (MPI_Error_string(code, text, &text_len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error code %d", code);
    set_error(error, len, "%s failed: %s", call, text);
    return TRANSPORT_FAILED;
}

/* The first failing status of an MPI_ERR_IN_STATUS completion. */
static hcl_status mpi_status_error(int code, const MPI_Status *st, int n, const char *call, char *error, size_t len) {
    if (code == MPI_ERR_IN_STATUS)
        for (int i = 0; i < n; i++)
            if (st[i].MPI_ERROR != MPI_SUCCESS && st[i].MPI_ERROR != MPI_ERR_PENDING)
                return mpi_error(st[i].MPI_ERROR, call, error, len);
    return mpi_error(code, call, error, len);
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Branch-free F16 <-> F32 for the wire path (the F16 sum converts three values per element, on
 * the reducing process, inside MPI): the same results as hcl_f16_to_f32 / hcl_f32_to_f16 for every
 * input but NaN, which becomes the canonical NaN here (checked over all 2^16 and 2^32 patterns
 * when written; test_dist_mpi checks sums of all F16 patterns). The loops vectorize: ~10x the
 * speed of the exact-but-branchy library helpers on random data. Both rely on IEEE arithmetic in
 * round-to-nearest without flush-to-zero, which halfcl never changes. */
static inline float f16_to_f32_fast(uint16_t h) {
    uint32_t w = (uint32_t)h << 16, sign = w & 0x80000000u, two_w = w + w; /* two_w: exp and mantissa at the top */
    /* normal, inf, NaN: move exponent and mantissa into place with exponent +224, then x 2^-112
     * brings the exponent to e - 15 + 127 (inf/NaN stay inf/NaN) */
    float normal = bits_f32((two_w >> 4) + (0xe0u << 23)) * 0x1.0p-112f;
    /* subnormal m * 2^-24: 0.5 * (1 + m 2^-23) - 0.5, exact */
    float subnormal = bits_f32((two_w >> 17) | (126u << 23)) - 0.5f;
    uint32_t is_sub = 0u - (uint32_t)(two_w < (1u << 27)); /* masks, not branches: the loops vectorize */
    return bits_f32(sign | (f32_bits(subnormal) & is_sub) | (f32_bits(normal) & ~is_sub));
}

static inline uint16_t f32_to_f16_fast(float f) {
    uint32_t w = f32_bits(f), sign = w & 0x80000000u, two_w = w + w;
    /* |f| x 2^112 x 2^-110: overflows to inf exactly when |f| rounds beyond F16's range */
    float base = (bits_f32(w & 0x7fffffffu) * 0x1.0p+112f) * 0x1.0p-110f;
    /* adding 2^(e+2)-ish shifts the mantissa so that the float addition itself rounds it to F16's
     * 10 bits (RNE); below 2^-14 the fixed bias gives F16's subnormal spacing */
    uint32_t bias = two_w & 0xff000000u, low = 0u - (uint32_t)(bias < 0x71000000u);
    bias = (bias & ~low) | (0x71000000u & low);
    base = bits_f32((bias >> 1) + 0x07800000u) + base;
    uint32_t bits = f32_bits(base), nonsign = ((bits >> 13) & 0x7c00u) + (bits & 0x0fffu);
    uint32_t is_nan = 0u - (uint32_t)(two_w > 0xff000000u);
    return (uint16_t)((F16_CANONICAL_NAN & is_nan) | (((sign >> 16) | nonsign) & ~is_nan));
}

/* inout[i] = in[i] + inout[i] for F16 bit patterns: F32 add, RNE to F16, NaNs canonical so the
 * operand order never shows in the result bits. */
static void f16_sum_op(void *in, void *inout, int *len, MPI_Datatype *type) {
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++) b[i] = f32_to_f16_fast(f16_to_f32_fast(a[i]) + f16_to_f32_fast(b[i]));
}

static void canonicalize_nans(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f32_bits(x[i]), is_nan = 0u - (uint32_t)((u & 0x7fffffffu) > 0x7f800000u);
        x[i] = bits_f32((u & ~is_nan) | (F32_CANONICAL_NAN & is_nan));
    }
}

/* The smallest spare buffer of at least `bytes`, else a new one. */
static void *buffer_get(mpi_impl *m, size_t bytes, size_t *got) {
    int best = -1;
    for (int i = 0; i < SPARE_BUFFERS; i++)
        if (m->spare[i] && m->spare_bytes[i] >= bytes && (best < 0 || m->spare_bytes[i] < m->spare_bytes[best])) best = i;
    if (best >= 0) {
        void *p = m->spare[best];
        *got = m->spare_bytes[best];
        m->spare[best] = NULL;
        return p;
    }
    *got = bytes;
    return malloc(bytes);
}

/* Keeps the buffer in a free slot, or in place of a smaller spare; else frees it. */
static void buffer_put(mpi_impl *m, void *p, size_t bytes) {
    if (!p) return;
    int slot = -1;
    for (int i = 0; i < SPARE_BUFFERS && slot < 0; i++)
        if (!m->spare[i]) slot = i;
    if (slot < 0)
        for (int i = 0; i < SPARE_BUFFERS; i++)
            if (m->spare_bytes[i] < bytes && (slot < 0 || m->spare_bytes[i] < m->spare_bytes[slot])) slot = i;
    if (slot < 0) {
        free(p);
        return;
    }
    free(m->spare[slot]);
    m->spare[slot] = p;
    m->spare_bytes[slot] = bytes;
}

static void request_free(hcl_transport_request *r) {
    if (!r) return;
    buffer_put(r->m, r->send, r->send_bytes);
    buffer_put(r->m, r->recv16, r->recv16_bytes);
    free(r->reqs);
    free(r->statuses);
    free(r);
}

/* The sum arrived: F16 back to F32 into the caller's buffer, NaNs made canonical. */
static void request_finish(hcl_transport_request *r) {
    if (r->wire == HCL_F16)
        for (size_t i = 0; i < r->count; i++) r->data[i] = f16_to_f32_fast(r->recv16[i]);
    canonicalize_nans(r->data, r->count);
    request_free(r);
}

static hcl_status mpi_sum_start(hcl_transport *t, float *data, size_t count, hcl_dtype wire, hcl_transport_request **req,
                                char *error, size_t error_len) {
    if (!req) {
        set_error(error, error_len, "transport sum: req is NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *req = NULL;
    if (!t || (!data && count)) {
        set_error(error, error_len, "transport sum: %s is NULL", t ? "data" : "transport");
        return HCL_ERR_NULL_POINTER;
    }
    if (wire != HCL_F32 && wire != HCL_F16) {
        set_error(error, error_len, "transport sum: wire dtype %s; only f32 and f16 are supported",
                  hcl_dtype_name(wire) ? hcl_dtype_name(wire) : "(invalid)");
        return HCL_ERR_DTYPE;
    }
    if (count == 0) return HCL_OK; /* every process has nothing: no collective needed */
    mpi_impl *m = t->impl;
    size_t nchunks = (count + CHUNK_ELEMS - 1) / CHUNK_ELEMS;
    if (nchunks > INT_MAX) {
        set_error(error, error_len, "transport sum: %zu floats is too many", count);
        return HCL_ERR_OVERFLOW;
    }
    hcl_transport_request *r = calloc(1, sizeof *r);
    size_t elem = wire == HCL_F16 ? 2 : 4;
    if (r) {
        r->m = m;
        r->data = data;
        r->count = count;
        r->wire = wire;
        r->nreq = (int)nchunks;
        r->reqs = malloc(nchunks * sizeof *r->reqs);
        r->statuses = malloc(nchunks * sizeof *r->statuses);
        r->send = buffer_get(m, count * elem, &r->send_bytes);
        if (wire == HCL_F16) r->recv16 = buffer_get(m, count * 2, &r->recv16_bytes);
    }
    if (!r || !r->reqs || !r->statuses || !r->send || (wire == HCL_F16 && !r->recv16)) {
        request_free(r);
        set_error(error, error_len, "transport sum: out of host memory for a %zu-float bucket", count);
        return HCL_ERR_HOST_MEMORY;
    }
    if (wire == HCL_F16) { /* RNE; beyond F16 -> inf */
        uint16_t *send16 = r->send;
        for (size_t i = 0; i < count; i++) send16[i] = f32_to_f16_fast(data[i]);
    }
    else memcpy(r->send, data, count * 4);
    for (size_t c = 0; c < nchunks; c++) {
        size_t off = c * CHUNK_ELEMS, n = count - off < CHUNK_ELEMS ? count - off : CHUNK_ELEMS;
        int rc = wire == HCL_F16
                     ? MPI_Iallreduce((uint16_t *)r->send + off, r->recv16 + off, (int)n, MPI_UINT16_T, m->f16_sum, m->comm,
                                      &r->reqs[c])
                     : MPI_Iallreduce((float *)r->send + off, data + off, (int)n, MPI_FLOAT, MPI_SUM, m->comm, &r->reqs[c]);
        if (rc != MPI_SUCCESS) {
            /* chunks already started cannot be taken back: wait for them (the peers started the
             * same ones) before freeing their buffers */
            if (c) MPI_Waitall((int)c, r->reqs, MPI_STATUSES_IGNORE);
            request_free(r);
            return mpi_error(rc, "MPI_Iallreduce", error, error_len);
        }
    }
    *req = r;
    return HCL_OK;
}

static hcl_status mpi_sum_test(hcl_transport *t, hcl_transport_request *req, int *done, char *error, size_t error_len) {
    if (!t || !req || !done) {
        set_error(error, error_len, "transport sum_test: %s is NULL", !t ? "transport" : !req ? "req" : "done");
        return HCL_ERR_NULL_POINTER;
    }
    *done = 0;
    int flag = 0, rc = MPI_Testall(req->nreq, req->reqs, &flag, req->statuses);
    if (rc != MPI_SUCCESS) /* req stays the caller's: its cleanup sum_wait frees it (dist.c does) */
        return mpi_status_error(rc, req->statuses, req->nreq, "MPI_Testall (gradient sum)", error, error_len);
    if (flag) {
        request_finish(req);
        *done = 1;
    }
    return HCL_OK;
}

static hcl_status mpi_sum_wait(hcl_transport *t, hcl_transport_request *req, char *error, size_t error_len) {
    if (!t || !req) {
        set_error(error, error_len, "transport sum_wait: %s is NULL", !t ? "transport" : "req");
        return HCL_ERR_NULL_POINTER;
    }
    int rc = MPI_Waitall(req->nreq, req->reqs, req->statuses);
    if (rc != MPI_SUCCESS) { /* freed on failure too: nothing else can finish it */
        hcl_status st = mpi_status_error(rc, req->statuses, req->nreq, "MPI_Waitall (gradient sum)", error, error_len);
        request_free(req);
        return st;
    }
    request_finish(req);
    return HCL_OK;
}

static hcl_status mpi_broadcast(hcl_transport *t, void *data, size_t bytes, int root, char *error, size_t error_len) {
    if (!t || (!data && bytes)) {
        set_error(error, error_len, "transport broadcast: %s is NULL", t ? "data" : "transport");
        return HCL_ERR_NULL_POINTER;
    }
    if (root < 0 || root >= t->size) {
        set_error(error, error_len, "transport broadcast: root %d outside 0..%d", root, t->size - 1);
        return HCL_ERR_INVALID_ARGUMENT;
    }
    mpi_impl *m = t->impl;
    for (size_t off = 0; off < bytes; off += INT_MAX) {
        size_t n = bytes - off < (size_t)INT_MAX ? bytes - off : (size_t)INT_MAX;
        int rc = MPI_Bcast((char *)data + off, (int)n, MPI_BYTE, root, m->comm);
        if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Bcast", error, error_len);
    }
    return HCL_OK;
}

static hcl_status allreduce_u64(hcl_transport *t, uint64_t *data, size_t count, MPI_Op op, const char *what, char *error,
                                size_t error_len) {
    if (!t || (!data && count)) {
        set_error(error, error_len, "transport %s: %s is NULL", what, t ? "data" : "transport");
        return HCL_ERR_NULL_POINTER;
    }
    mpi_impl *m = t->impl;
    for (size_t off = 0; off < count; off += CHUNK_ELEMS) {
        size_t n = count - off < CHUNK_ELEMS ? count - off : CHUNK_ELEMS;
        int rc = MPI_Allreduce(MPI_IN_PLACE, data + off, (int)n, MPI_UINT64_T, op, m->comm);
        if (rc != MPI_SUCCESS) return mpi_error(rc, what, error, error_len);
    }
    return HCL_OK;
}

static hcl_status mpi_sum_u64(hcl_transport *t, uint64_t *data, size_t count, char *error, size_t error_len) {
    return allreduce_u64(t, data, count, MPI_SUM, "MPI_Allreduce (u64 sum)", error, error_len);
}

static hcl_status mpi_max_u64(hcl_transport *t, uint64_t *data, size_t count, char *error, size_t error_len) {
    return allreduce_u64(t, data, count, MPI_MAX, "MPI_Allreduce (u64 max)", error, error_len);
}

static void mpi_abort_group(hcl_transport *t, int code) {
    MPI_Abort(((mpi_impl *)t->impl)->comm, code); /* the group exists: create succeeded */
}

static void mpi_free(hcl_transport *t) {
    if (!t) return;
    mpi_impl *m = t->impl;
    if (m) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) { /* the app may have finalized MPI already: then there is nothing to free */
            if (m->f16_sum != MPI_OP_NULL) MPI_Op_free(&m->f16_sum);
            if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
            if (m->owns_mpi) MPI_Finalize();
        }
        for (int i = 0; i < SPARE_BUFFERS; i++) free(m->spare[i]);
        free(m);
    }
    free(t);
}

hcl_status hcl_transport_mpi_create(hcl_transport **out, int *argc, char ***argv, char *error, size_t error_len) {
    if (!out) {
        set_error(error, error_len, "MPI transport: out is NULL");
        return HCL_ERR_NULL_POINTER;
    }
    *out = NULL;
    int initialized = 0, finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
        set_error(error, error_len, "MPI transport: MPI was already finalized in this process (MPI cannot start twice)");
        return HCL_ERR_INVALID_ARGUMENT;
    }
    hcl_transport *t = calloc(1, sizeof *t);
    mpi_impl *m = calloc(1, sizeof *m);
    if (!t || !m) {
        free(t);
        free(m);
        set_error(error, error_len, "MPI transport: out of host memory");
        return HCL_ERR_HOST_MEMORY;
    }
    m->comm = MPI_COMM_NULL;
    m->f16_sum = MPI_OP_NULL;
    t->impl = m;
    t->sum_start = mpi_sum_start;
    t->sum_test = mpi_sum_test;
    t->sum_wait = mpi_sum_wait;
    t->broadcast = mpi_broadcast;
    t->sum_u64 = mpi_sum_u64;
    t->max_u64 = mpi_max_u64;
    t->abort_group = mpi_abort_group;
    t->free = mpi_free;

    MPI_Initialized(&initialized);
    int rc;
    if (!initialized) {
        int provided = 0;
        rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            mpi_free(t);
            return mpi_error(rc, "MPI_Init_thread", error, error_len);
        }
        m->owns_mpi = 1;
        /* MPI is ours: no MPI failure on the world communicator may abort the process */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        if (provided < MPI_THREAD_FUNNELED) { /* halfcl calls MPI from the thread that created it */
            snprintf(error, error_len, "MPI_Init_thread gave thread level %d, below MPI_THREAD_FUNNELED", provided);
            mpi_free(t);
            return HCL_ERR_IO;
        }
    }
    const char *call = "MPI_Comm_dup";
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm)) != MPI_SUCCESS ||
        (call = "MPI_Comm_set_errhandler", rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (call = "MPI_Comm_rank", rc = MPI_Comm_rank(m->comm, &t->rank)) != MPI_SUCCESS ||
        (call = "MPI_Comm_size", rc = MPI_Comm_size(m->comm, &t->size)) != MPI_SUCCESS ||
        (call = "MPI_Op_create", rc = MPI_Op_create(f16_sum_op, 1, &m->f16_sum)) != MPI_SUCCESS) {
        hcl_status st = mpi_error(rc, call, error, error_len);
        mpi_free(t);
        return st;
    }
    *out = t;
    return HCL_OK;
}
