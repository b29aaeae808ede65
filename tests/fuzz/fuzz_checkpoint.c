/* libFuzzer harness for the checkpoint loader (hcl_checkpoint_load). The loader validates a file
 * against a live optimizer, so one context (HALFCL_DEVICE, e.g. PoCL) and four small models with
 * their optimizers (each precision policy, optimizers with 0 to 3 state arenas) are created once
 * and reused. The first input byte picks the model (bits 1-2) and the mode (bit 0): even, the rest
 * is the file as is; odd, the rest is "JSON header, NUL, data" and the header length is computed
 * here (see fuzz_safetensors.c). Run with -dict=tests/fuzz/safetensors.dict. Exits 77 when no
 * device exists, unless HALFCL_REQUIRE_DEVICE=1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "halfcl/amp.h"
#include "halfcl/io.h"

#define MODELS 4

static char *path;
static hcl_context *ctx;
static hcl_params *params[MODELS];
static hcl_optimizer *optim[MODELS];
static int verbose; /* $FUZZ_VERBOSE: print each load's status and message (triage) */

static int make_file(const uint8_t *data, size_t size, const char *out) {
    if (size == 0) return fuzz_write_file(out, data, 0);
    return (data[0] & 1) ? fuzz_write_safetensors_parts(out, data + 1, size - 1)
                         : fuzz_write_file(out, data + 1, size - 1);
}

/* A failing setup or a failing step after a successful load: abort, so libFuzzer keeps the input. */
static void fail(const char *what, hcl_status st) {
    fprintf(stderr, "fuzz_checkpoint: %s: %s: %s\n", what, hcl_status_name(st), ctx ? hcl_last_error(ctx) : "");
    abort();
}
#define TRY(call) do { hcl_status st_ = (call); if (st_ != HCL_OK) fail(#call, st_); } while (0)

static void setup(void) {
    char err[512];
    hcl_status st = hcl_context_create(&ctx, NULL, err, sizeof err);
    if (st != HCL_OK) {
        const char *req = getenv("HALFCL_REQUIRE_DEVICE");
        fprintf(stderr, "fuzz_checkpoint: no OpenCL device (%s): %s\n", err, req && !strcmp(req, "1") ? "failing" : "skipping");
        exit(req && !strcmp(req, "1") ? 1 : 77);
    }
    static const hcl_precision policy[MODELS] = {HCL_PRECISION_MIXED_F16, HCL_PRECISION_FP32, HCL_PRECISION_PURE_F16,
                                                 HCL_PRECISION_MIXED_BF16};
    static const hcl_optim_kind kind[MODELS] = {HCL_OPTIM_ADAMW, HCL_OPTIM_SGD, HCL_OPTIM_SGD, HCL_OPTIM_RMSPROP};
    static const int64_t s34[2] = {3, 4}, s4[1] = {4}, s5[1] = {5}, s22[2] = {2, 2}, s3[1] = {3}, s231[3] = {2, 3, 1};
    for (int m = 0; m < MODELS; m++) {
        TRY(hcl_params_create(ctx, policy[m], &params[m]));
        switch (m) {
        case 0:
            TRY(hcl_params_add(params[m], "fc.weight", 2, s34, NULL));
            TRY(hcl_params_add(params[m], "fc.bias", 1, s4, NULL));
            break;
        case 1:
            TRY(hcl_params_add(params[m], "w", 1, s5, NULL));
            TRY(hcl_params_add(params[m], "v", 2, s22, NULL));
            break;
        case 2: TRY(hcl_params_add(params[m], "x", 1, s3, NULL)); break;
        default: TRY(hcl_params_add(params[m], "emb", 3, s231, NULL)); break;
        }
        TRY(hcl_params_alloc(params[m]));
        hcl_init init = hcl_init_uniform(-1.0f, 1.0f);
        for (size_t i = 0; i < hcl_params_count(params[m]); i++) TRY(hcl_params_init(params[m], i, &init, 42 + (uint64_t)m));
        hcl_optim_config cfg;
        hcl_optim_config_init(&cfg, kind[m]);
        if (m == 1) cfg.momentum = 0.9f; /* one state: momentum_buffer */
        if (m == 3) { cfg.momentum = 0.5f; cfg.centered = 1; } /* three states */
        TRY(hcl_optimizer_create(params[m], &cfg, NULL, &optim[m]));
    }
    TRY(hcl_finish(ctx));
}

static int write_seeds(const char *dir) {
    setup();
    char *file = fuzz_tmp_path("seed.safetensors");
    int r = 0;
    for (int m = 0; m < MODELS; m++) {
        hcl_checkpoint_meta meta[2] = {{"epoch", "3"}, {"note", "fuzz seed"}};
        hcl_checkpoint_extra ex = {.rng_seed = 1234 + (uint64_t)m, .rng_offset = 99, .meta = meta, .meta_count = (size_t)(m & 1) * 2};
        TRY(hcl_checkpoint_save(optim[m], file, &ex));
        uint8_t *b;
        size_t n;
        if (fuzz_read_file(file, &b, &n) || n < 8) return -1;
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b[i];
        char name[64];
        snprintf(name, sizeof name, "model%d-raw", m);
        r |= fuzz_seed(dir, name, (uint8_t)(m << 1), b, n);
        uint8_t *p = malloc(n);
        if (!p || hlen > n - 8) return -1;
        memcpy(p, b + 8, (size_t)hlen);
        p[hlen] = 0;
        memcpy(p + hlen + 1, b + 8 + hlen, n - 8 - (size_t)hlen);
        snprintf(name, sizeof name, "model%d-parts", m);
        r |= fuzz_seed(dir, name, (uint8_t)(m << 1 | 1), p, n - 7);
        free(p);
        free(b);
    }
    free(file);
    return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_handle_options(argc, argv, write_seeds, make_file);
    setup();
    path = fuzz_tmp_path("input.safetensors");
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (make_file(data, size, path)) abort();
    int m = size ? (data[0] >> 1) & 3 : 0;
    hcl_checkpoint_extra ex = {0};
    hcl_status st = hcl_checkpoint_load(optim[m], path, &ex);
    if (verbose) fprintf(stderr, "model %d: %s: %s\n", m, hcl_status_name(st), st == HCL_OK ? "" : hcl_last_error(ctx));
    if (st == HCL_OK) {
        /* a restored state must be usable: one step on it */
        TRY(hcl_optimizer_step(optim[m], 1e-3f));
        TRY(hcl_finish(ctx));
    }
    return 0;
}
