/* halfcl/dist.h: data-parallel training. A group of replicas of one model, each on its own
 * device (several in one process: GPUs, or CPU sub-devices) and/or in its own process (MPI, one
 * or more replicas per process), trains as one model over a global batch: every replica runs the
 * forward and backward of its shard, the gradients are summed over all replicas in buckets while
 * the backward still runs (F32 sums; F16 or F32 on the wire between processes), and every replica
 * then takes the same optimizer step with the same loss-scaler decision (an inf/NaN gradient on
 * any replica reaches every replica through the sum, so the step is skipped everywhere and the
 * scales stay identical). Uses nn, amp and the runtime; MPI is an optional build dependency
 * (meson option `mpi`, default auto): without it only the in-process transport exists. */
#ifndef HALFCL_DIST_H
#define HALFCL_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "halfcl/runtime.h"
#include "halfcl/amp.h"
#include "halfcl/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this build of halfcl has the MPI transport. */
int hcl_dist_mpi_available(void);

typedef enum hcl_dist_transport {
    HCL_DIST_AUTO = 0,  /* MPI when built with it and started by mpirun (more than one process, or
                           OMPI_COMM_WORLD_SIZE / PMI_SIZE set), else in-process */
    HCL_DIST_LOCAL = 1, /* one process: the replicas given to each call are the whole group */
    HCL_DIST_MPI = 2    /* MPI_COMM_WORLD; HCL_ERR_INVALID_ARGUMENT when built without MPI */
} hcl_dist_transport;

typedef struct hcl_dist_options {
    hcl_dist_transport transport; /* AUTO */
    hcl_dtype wire_dtype;         /* gradients between processes: HCL_F32 or HCL_F16 (F32). F16
                                     halves the bytes; each pairwise sum is still computed in F32
                                     (then rounded to F16 on the wire) */
    size_t bucket_bytes;          /* gradient bucket size in F32 bytes (0 = 1 MiB): whole parameters
                                     from the last layer down until a bucket reaches it; a bucket is
                                     reduced as soon as the backward has produced all its gradients
                                     (Open MPI 4.1's non-blocking sums grew 4-30x slower per byte
                                     above 1 MiB on the 2-core development machine) */
    int overlap;                  /* 1: reduce buckets while the backward runs (1); 0: after it */
    int *argc;                    /* passed to MPI_Init when halfcl initializes MPI (may be NULL) */
    char ***argv;
} hcl_dist_options;
void hcl_dist_options_init(hcl_dist_options *options);

typedef struct hcl_dist hcl_dist;

/* Joins the process group. With MPI, initializes MPI (MPI_Init_thread, FUNNELED) unless the
 * application already did, and hcl_dist_free finalizes it only in the first case. On failure
 * *dist is NULL and the reason is written to error. */
hcl_status hcl_dist_create(hcl_dist **dist, const hcl_dist_options *options, char *error, size_t error_len);
void hcl_dist_free(hcl_dist *dist); /* NULL is a no-op */

hcl_dist_transport hcl_dist_transport_used(const hcl_dist *dist); /* LOCAL or MPI */
/* Ends every process of the group now (MPI_Abort with `code`), for an application whose process
 * failed outside the collective calls while the others wait in one. halfcl never calls it
 * itself. With one process (or NULL) it returns and does nothing. */
void hcl_dist_abort(hcl_dist *dist, int code);
int hcl_dist_rank(const hcl_dist *dist); /* this process: 0..size-1 (0 for NULL) */
int hcl_dist_size(const hcl_dist *dist); /* processes (1 for NULL) */
/* The last error of the group's calls (transport failures, mismatched calls, and a replica's own
 * failure as "replica i: <its context's message>"); never NULL. */
const char *hcl_dist_last_error(const hcl_dist *dist);

/* Several devices in one process: up to max_devices OpenCL devices for replicas, as device specs
 * that hcl_context_options.device accepts, written into the caller's specs[0..max_devices-1]
 * (HCL_DIST_SPEC_LEN bytes each, always enough). Every GPU first ("P:D"); without a GPU, the
 * default device ($HALFCL_DEVICE, else as hcl_device_choose): when it is a CPU that can be split
 * into max_devices >= 2 equal sub-devices (CL_DEVICE_PARTITION_EQUALLY, at least max_devices
 * compute units), max_devices sub-device specs "P:D@i/max_devices" (each replica on its own
 * compute units); else that device ("P:D", or $HALFCL_DEVICE's own "P:D@s/N" when it names a
 * sub-device) repeated max_devices times (replicas then share it, each on its own context).
 * *count gets the number written. */
#define HCL_DIST_SPEC_LEN 32
hcl_status hcl_dist_local_devices(size_t max_devices, char (*specs)[HCL_DIST_SPEC_LEN], size_t *count, char *error,
                                  size_t error_len);

/* The collective calls below are made by every process of the group in the same order, each
 * with its own local replicas: `replicas` models (n >= 1) built identically (same graph, policy,
 * options) on their own contexts. The group's replica count is the sum of every process's n;
 * replica ranks are process-major (process p's replica i has rank sum(n of processes < p) + i). */

/* Copies replica 0 of process 0 (parameters: masters and working copies; optimizer state and
 * loss scaler; the optimizer's step) to every other replica, bit for bit. Blocking. */
hcl_status hcl_dist_broadcast(hcl_dist *dist, hcl_model **replicas, size_t n);

/* One data-parallel training step: zero_grad, then on every local replica a train-mode forward
 * of x[i] and the backward against target[i] (all replicas' work queued before any waiting), the
 * gradient buckets summed over the group as they become ready, weighted so that the result is
 * the gradient of the loss averaged over all samples of the global batch (replica i's gradient
 * weighs rows_i / sum of rows), written back to every replica, then hcl_model_step(lr) on each.
 * x[i]/target[i]: as hcl_model_train_step; a replica with 0 rows (x[i] NULL) contributes zero
 * gradients. Returns after the step is queued on every replica (the host waits for the gradient
 * reads only). */
hcl_status hcl_dist_train_step(hcl_dist *dist, hcl_model **replicas, size_t n, const hcl_tensor *const *x,
                               const hcl_tensor *const *target, float lr);

/* The lower-level half of it, for custom loops: after the backward of every local replica, sums
 * the gradient arenas over the group with weights[i] for local replica i (the group-wide
 * weights should add up to 1 for an average; NULL = 1 / group replica count), writes the result
 * into every local replica's gradient arena. No overlap. params: the replicas' parameter sets. */
hcl_status hcl_dist_allreduce_grads(hcl_dist *dist, hcl_params **params, const double *weights, size_t n);

/* Agreement check: 1 in *same when every replica's masters (and working copies) are bit-identical
 * to replica 0 of process 0 (a hash compared over the group). Syncs. For tests and tools. */
hcl_status hcl_dist_check_replicas(hcl_dist *dist, hcl_model **replicas, size_t n, int *same);

/* Statistics of the train steps so far (reset by hcl_dist_stats_reset). */
typedef struct hcl_dist_stats {
    uint64_t steps;
    uint64_t buckets;             /* reduced */
    uint64_t wire_bytes;          /* gradient payload this process handed to the transport between
                                     processes (0 with one process): buckets x wire dtype size */
    double reduce_seconds;        /* host time inside the transport's reductions */
    double exposed_seconds;       /* host time waiting for reductions after the backward ended */
    double step_seconds;          /* host time of the train steps */
} hcl_dist_stats;
void hcl_dist_stats_get(const hcl_dist *dist, hcl_dist_stats *stats);
void hcl_dist_stats_reset(hcl_dist *dist);

#ifdef __cplusplus
}
#endif

#endif /* HALFCL_DIST_H */
