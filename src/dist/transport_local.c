/* The one-process transport: the group is this process alone, so every reduction and broadcast is
 * the identity (dist.c has already summed the local replicas). Also the environment check that
 * tells whether mpirun/srun started this process, which needs no MPI library. */
#include <stdlib.h>
#include <string.h>
#include "dist/transport.h"

static hcl_status local_sum_start(hcl_transport *t, float *data, size_t count, hcl_dtype wire,
                                  hcl_transport_request **req, char *error, size_t error_len) {
    (void)t, (void)data, (void)count, (void)wire, (void)error, (void)error_len;
    *req = NULL; /* a sum over one process: complete at once */
    return HCL_OK;
}

static hcl_status local_sum_test(hcl_transport *t, hcl_transport_request *req, int *done, char *error, size_t error_len) {
    (void)t, (void)req, (void)error, (void)error_len;
    *done = 1;
    return HCL_OK;
}

static hcl_status local_sum_wait(hcl_transport *t, hcl_transport_request *req, char *error, size_t error_len) {
    (void)t, (void)req, (void)error, (void)error_len;
    return HCL_OK;
}

static hcl_status local_broadcast(hcl_transport *t, void *data, size_t bytes, int root, char *error, size_t error_len) {
    (void)t, (void)data, (void)bytes, (void)root, (void)error, (void)error_len;
    return HCL_OK;
}

static hcl_status local_u64(hcl_transport *t, uint64_t *data, size_t count, char *error, size_t error_len) {
    (void)t, (void)data, (void)count, (void)error, (void)error_len;
    return HCL_OK;
}

static void local_abort_group(hcl_transport *t, int code) {
    (void)t;
    (void)code;
}

static void local_free(hcl_transport *t) { free(t); }

hcl_status hcl_transport_local_create(hcl_transport **out, char *error, size_t error_len) {
    *out = NULL;
    hcl_transport *t = calloc(1, sizeof *t);
    if (!t) {
        if (error && error_len) strncpy(error, "out of host memory", error_len - 1), error[error_len - 1] = '\0';
        return HCL_ERR_HOST_MEMORY;
    }
    t->rank = 0;
    t->size = 1;
    t->sum_start = local_sum_start;
    t->sum_test = local_sum_test;
    t->sum_wait = local_sum_wait;
    t->broadcast = local_broadcast;
    t->sum_u64 = local_u64;
    t->max_u64 = local_u64;
    t->abort_group = local_abort_group;
    t->free = local_free;
    *out = t;
    return HCL_OK;
}

/* The world sizes that launchers export to each process they start: Open MPI's mpirun, MPICH's and
 * Intel MPI's hydra and srun (PMI), PMIx launchers. (Not SLURM_NTASKS: a batch script's one
 * process sees it too.) */
int hcl_transport_launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atol(v) > 1) return 1;
    }
    return 0;
}
