/* The process-group transport under src/dist/dist.c: what one process exchanges with the others.
 * dist.c first sums the local replicas' gradients on the host (F32), then hands the process's
 * F32 bucket to the transport. Two implementations: transport_local.c (one process: every call
 * is the identity) and transport_mpi.c (MPI_COMM_WORLD; built when meson finds MPI, which
 * defines HCL_HAVE_MPI). Not installed. */
#ifndef HCL_DIST_TRANSPORT_H
#define HCL_DIST_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include "halfcl/runtime.h"
#include "halfcl/tensor.h"

typedef struct hcl_transport hcl_transport;
typedef struct hcl_transport_request hcl_transport_request; /* one reduction in flight */

struct hcl_transport {
    int rank, size;
    /* Starts the in-place sum over all processes of `count` floats at data (every process calls
     * it with the same count, in the same order). wire: HCL_F32 or HCL_F16; for F16 the values
     * are converted (round to nearest even; beyond F16's range they become inf, which the loss
     * scaler then sees on every process alike) and each pairwise sum is computed in F32 and
     * rounded to F16; the result is written back to data as F32. Every process gets bit-identical
     * results. *req is NULL when the sum completed inside the call. data must stay untouched until
     * the request completes. */
    hcl_status (*sum_start)(hcl_transport *t, float *data, size_t count, hcl_dtype wire, hcl_transport_request **req,
                            char *error, size_t error_len);
    /* Progress: *done = 1 when req finished (it is then freed); never blocks. On an error the
     * request stays the caller's: sum_wait still frees it. */
    hcl_status (*sum_test)(hcl_transport *t, hcl_transport_request *req, int *done, char *error, size_t error_len);
    /* Blocks until req finished (then frees it). */
    hcl_status (*sum_wait)(hcl_transport *t, hcl_transport_request *req, char *error, size_t error_len);
    /* Blocking: bytes from process `root` to all. */
    hcl_status (*broadcast)(hcl_transport *t, void *data, size_t bytes, int root, char *error, size_t error_len);
    /* Blocking: in-place sum of `count` uint64 (replica counts, hashes, byte counts). */
    hcl_status (*sum_u64)(hcl_transport *t, uint64_t *data, size_t count, char *error, size_t error_len);
    /* Blocking: in-place max of `count` uint64 (flags, mismatch checks). */
    hcl_status (*max_u64)(hcl_transport *t, uint64_t *data, size_t count, char *error, size_t error_len);
    /* Ends every process of the group (MPI_Abort); the one-process transport returns. Only
     * hcl_dist_abort calls it, at the application's request. */
    void (*abort_group)(hcl_transport *t, int code);
    void (*free)(hcl_transport *t);
    void *impl;
};

/* The one-process transport (rank 0, size 1). */
hcl_status hcl_transport_local_create(hcl_transport **out, char *error, size_t error_len);

#ifdef HCL_HAVE_MPI
/* MPI_COMM_WORLD. Initializes MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) unless it already
 * is, and finalizes it in free only then. */
hcl_status hcl_transport_mpi_create(hcl_transport **out, int *argc, char ***argv, char *error, size_t error_len);
#endif

/* 1 when the environment says this process was started by mpirun/srun with more than one
 * process (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE... > 1). */
int hcl_transport_launched_by_mpi(void);

#endif /* HCL_DIST_TRANSPORT_H */
