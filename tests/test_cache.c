/* The on-disk program binary cache (src/runtime/cache.c, program.c): a fresh folder is filled by
 * source builds and then served from; every kind of damaged or foreign entry is rejected, rebuilt
 * from source and rewritten, with correct results; "off" writes nothing; an unusable folder
 * only costs the cache; no temporary file stays behind; the key follows options and source. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "helpers.h"
#include "runtime/cache.h"
#include "runtime/internal.h"

#define HEADER_BYTES 56 /* magic 8, key 32, payload size 8, checksum 8 (cache.c) */

/* ---------------------------------------------------------------- small local helpers ---- */

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A file of the source tree: $HALFCL_SOURCE_ROOT (meson test sets it), else . or its parents. */
static char *source_text(const char *rel) {
    const char *root = getenv("HALFCL_SOURCE_ROOT");
    const char *tries[] = {root, ".", "..", "../.."};
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        if (!tries[i]) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", tries[i], rel);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        size_t n;
        char *t = (char *)read_file(path, &n);
        t[n] = '\0';
        return t;
    }
    ck_abort_msg("cannot find %s: set HALFCL_SOURCE_ROOT to the source tree", rel);
    return NULL;
}

/* The entries of a cache folder: "<family>-<32 hex>.bin"; any other file fails the test
 * (temporary files in particular must never stay behind). Folders are skipped: with
 * XDG_CACHE_HOME or HOME pointed into a test folder, drivers put their own caches there. */
#define MAX_ENTRIES 16
typedef struct entry_list { size_t n; char name[MAX_ENTRIES][256]; } entry_list;

static int is_entry_name(const char *name) {
    size_t len = strlen(name);
    if (len < 4 + 1 + 32 + 1 || strcmp(name + len - 4, ".bin") != 0) return 0;
    const char *key = name + len - 4 - 32;
    if (key[-1] != '-') return 0;
    for (int i = 0; i < 32; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f'))) return 0;
    return 1;
}

static entry_list list_entries(const char *dir) {
    entry_list l;
    memset(&l, 0, sizeof l);
    DIR *d = opendir(dir);
    if (!d) return l;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4400];
        struct stat sb;
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) continue; /* e.g. the driver's own cache */
        ck_assert_msg(!strstr(e->d_name, ".tmp"), "temporary file left behind: %s/%s", dir, e->d_name);
        ck_assert_msg(is_entry_name(e->d_name), "unexpected file in the cache: %s/%s", dir, e->d_name);
        ck_assert_uint_lt(l.n, MAX_ENTRIES);
        snprintf(l.name[l.n++], sizeof l.name[0], "%s", e->d_name);
    }
    closedir(d);
    return l;
}

/* The one entry of `now` that `before` lacks. */
static const char *new_entry(const entry_list *before, const entry_list *now) {
    const char *found = NULL;
    for (size_t i = 0; i < now->n; i++) {
        int old = 0;
        for (size_t j = 0; j < before->n; j++) old |= !strcmp(now->name[i], before->name[j]);
        if (!old) {
            ck_assert_msg(found == NULL, "more than one new entry");
            found = now->name[i];
        }
    }
    ck_assert_msg(found != NULL, "no new entry");
    return found;
}

/* A well-formed entry: magic, the key of its file name, the payload size, the file size. */
static void check_entry(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    unsigned char *b = read_file(path, &len);
    ck_assert_msg(len > HEADER_BYTES, "%s: %zu bytes", name, len);
    ck_assert_msg(!memcmp(b, "HCLBIN01", 8), "%s: bad magic", name);
    ck_assert_msg(!memcmp(b + 8, name + strlen(name) - 4 - 32, 32), "%s: header key differs from its name", name);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[40 + i] << (8 * i);
    ck_assert_msg(n == len - HEADER_BYTES, "%s: payload size %llu in a file of %zu", name, (unsigned long long)n, len);
    free(b);
}

typedef struct log_capture { int warnings; char last[1024]; } log_capture;
static void capture_log(void *user, hcl_log_level level, const char *message) {
    log_capture *c = user;
    if (level == HCL_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

/* A context on the device under test with this cache folder (and kernel folder) and the given
 * write policy. */
static hcl_context *cache_context_writes(const char *cache_dir, const char *kernel_dir, log_capture *log,
                                         hcl_cache_writes writes) {
    hcl_context_options o;
    hcl_context_options_init(&o);
    o.cache_dir = cache_dir;
    o.kernel_dir = kernel_dir;
    o.cache_writes = writes;
    if (log) {
        memset(log, 0, sizeof *log);
        o.log = capture_log;
        o.log_user = log;
        o.log_level = HCL_LOG_WARN;
    }
    hcl_context *ctx = NULL;
    char err[2048];
    hcl_status st = hcl_context_create(&ctx, &o, err, sizeof err);
    ck_assert_msg(st == HCL_OK, "context: %s: %s", hcl_status_name(st), err);
    return ctx;
}

/* The disk cache's own tests write on every driver (PoCL's default is read-only, see below). */
static hcl_context *cache_context(const char *cache_dir, const char *kernel_dir, log_capture *log) {
    return cache_context_writes(cache_dir, kernel_dir, log, HCL_CACHE_WRITES_ALWAYS);
}

static hcl_program_stats stats(hcl_context *ctx) {
    hcl_program_stats s;
    hcl_program_stats_get(ctx, &s);
    return s;
}

#define CK_STATS(ctx, builds, loads, rejects, writes)                                                      \
    do {                                                                                                   \
        hcl_program_stats s_ = stats(ctx);                                                                 \
        ck_assert_msg(s_.source_builds == (builds) && s_.cache_loads == (loads) &&                         \
                          s_.cache_rejects == (rejects) && s_.cache_writes == (writes),                    \
                      "stats builds %lu loads %lu rejects %lu writes %lu, want %d %d %d %d", s_.source_builds, \
                      s_.cache_loads, s_.cache_rejects, s_.cache_writes, (builds), (loads), (rejects), (writes)); \
    } while (0)

/* Kernels of the default tensor program: a fill, checked. */
static void run_fill(hcl_context *ctx) {
    const int64_t shape[1] = {37};
    hcl_tensor *t = test_tensor_poisoned(ctx, HCL_F32, 1, shape);
    CK_OK(ctx, hcl_tensor_fill(t, 1.25));
    float got[37];
    CK_OK(ctx, hcl_tensor_download_f32(t, got, 37));
    for (int i = 0; i < 37; i++) ck_assert_float_eq(got[i], 1.25f);
    hcl_tensor_free(t);
}

/* The f32 -> f16 cast program (other options): a cast, checked bit for bit. */
static void run_cast(hcl_context *ctx) {
    const int64_t shape[1] = {37};
    float x[37];
    test_fill_normal(x, 37, 10.0);
    hcl_tensor *src = test_tensor_from(ctx, HCL_F32, 1, shape, x);
    hcl_tensor *dst = test_tensor_poisoned(ctx, HCL_F16, 1, shape);
    CK_OK(ctx, hcl_tensor_cast(dst, src));
    uint16_t got[37];
    CK_OK(ctx, hcl_tensor_download_raw(dst, got, sizeof got));
    for (int i = 0; i < 37; i++) ck_assert_uint_eq(got[i], hcl_f32_to_f16(x[i]));
    hcl_tensor_free(src);
    hcl_tensor_free(dst);
}

/* ------------------------------------------------------------------------- tests ---- */

START_TEST(build_then_load) {
    char *dir = test_make_tmpdir("cache");
    hcl_context *ctx = cache_context(dir, NULL, NULL);
    ck_assert_str_eq(hcl_context_cache_dir(ctx), dir);
    CK_STATS(ctx, 0, 0, 0, 0);
    run_fill(ctx);
    CK_STATS(ctx, 1, 0, 0, 1);
    entry_list one = list_entries(dir);
    ck_assert_uint_eq(one.n, 1);
    ck_assert_msg(!strncmp(one.name[0], "tensor-", 7), "%s", one.name[0]);
    check_entry(dir, one.name[0]);
    run_cast(ctx);
    run_fill(ctx); /* built programs stay on the context */
    CK_STATS(ctx, 2, 0, 0, 2);
    entry_list two = list_entries(dir);
    ck_assert_uint_eq(two.n, 2);
    check_entry(dir, new_entry(&one, &two));
    hcl_context_free(ctx);

    /* a second context loads both from the cache, builds nothing, and the kernels work */
    ctx = cache_context(dir, NULL, NULL);
    run_fill(ctx);
    run_cast(ctx);
    CK_STATS(ctx, 0, 2, 0, 0);
    entry_list again = list_entries(dir);
    ck_assert_uint_eq(again.n, 2);
    hcl_context_free(ctx);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

/* A cache write removes the temporaries of its entry left by writers that were killed (dead
 * pids), never a live writer's (the test runner, our parent). */
START_TEST(stale_temps_removed) {
    char *dir = test_make_tmpdir("cache");
    hcl_context *ctx = cache_context(dir, NULL, NULL);
    run_fill(ctx);
    hcl_context_free(ctx);
    entry_list one = list_entries(dir);
    ck_assert_uint_eq(one.n, 1);
    char entry[4400], stale[4500], stale2[4500], live[4500];
    snprintf(entry, sizeof entry, "%s/%s", dir, one.name[0]);
    long dead = test_dead_pid();
    snprintf(stale, sizeof stale, "%s.tmp.%ld.0x5581", entry, dead);
    snprintf(stale2, sizeof stale2, "%s.tmp.%ld", entry, dead);
    snprintf(live, sizeof live, "%s.tmp.%ld.0x5582", entry, (long)getppid());
    const char *made[3] = {stale, stale2, live};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(made[i], "wb");
        ck_assert_ptr_nonnull(f);
        fputs("partial", f);
        fclose(f);
    }
    ck_assert_int_eq(unlink(entry), 0); /* the next context rebuilds and writes the entry again */
    ctx = cache_context(dir, NULL, NULL);
    run_fill(ctx);
    CK_STATS(ctx, 1, 0, 0, 1);
    hcl_context_free(ctx);
    ck_assert_int_eq(access(entry, F_OK), 0);
    ck_assert_msg(access(stale, F_OK) == -1, "%s was not removed", stale);
    ck_assert_msg(access(stale2, F_OK) == -1, "%s was not removed", stale2);
    ck_assert_msg(access(live, F_OK) == 0, "a live writer's %s was removed", live);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

enum corruption {
    TRUNCATED_PAYLOAD, TRUNCATED_HEADER, PAYLOAD_BYTE, HEADER_KEY_BYTE, HEADER_SIZE_BYTE, HEADER_CHECKSUM_BYTE,
    WRONG_MAGIC, FOREIGN_KEY, ZERO_LENGTH, TRAILING_BYTE, DRIVER_REJECTS, CORRUPTION_COUNT
};
static const char *const corruption_names[CORRUPTION_COUNT] = {
    "truncated payload", "truncated header", "flipped payload byte", "flipped header key byte",
    "flipped header size byte", "flipped header checksum byte", "wrong magic", "foreign key (another entry copied in)",
    "zero-length file", "trailing byte", "well-formed entry the driver rejects"};

/* Damages the cast program's entry one way; the next context must reject it, rebuild from
 * source, give correct results and write a valid entry again. */
START_TEST(damaged_entry_rebuilt) {
    enum corruption kind = (enum corruption)_i;
    const char *what = corruption_names[kind];
    char *dir = test_make_tmpdir("cache");
    hcl_context *ctx = cache_context(dir, NULL, NULL);
    run_fill(ctx);
    entry_list l1 = list_entries(dir);
    run_cast(ctx);
    entry_list l2 = list_entries(dir);
    hcl_context_free(ctx);
    ck_assert_uint_eq(l2.n, 2);
    char fill_path[4096], cast_path[4096], cast_name[256];
    snprintf(fill_path, sizeof fill_path, "%s/%s", dir, l1.name[0]);
    snprintf(cast_name, sizeof cast_name, "%s", new_entry(&l1, &l2));
    snprintf(cast_path, sizeof cast_path, "%s/%s", dir, cast_name);

    size_t len;
    unsigned char *b = read_file(cast_path, &len);
    ck_assert_uint_gt(len, HEADER_BYTES + 16);
    size_t payload = len - HEADER_BYTES;
    switch (kind) {
    case TRUNCATED_PAYLOAD: test_write_file(cast_path, b, HEADER_BYTES + payload / 2); break;
    case TRUNCATED_HEADER: test_write_file(cast_path, b, 20); break;
    case PAYLOAD_BYTE: b[HEADER_BYTES + payload / 2] ^= 0x40; test_write_file(cast_path, b, len); break;
    case HEADER_KEY_BYTE: b[8 + 5] = b[8 + 5] == '0' ? '1' : '0'; test_write_file(cast_path, b, len); break;
    case HEADER_SIZE_BYTE: b[40] ^= 0x01; test_write_file(cast_path, b, len); break;
    case HEADER_CHECKSUM_BYTE: b[50] ^= 0x10; test_write_file(cast_path, b, len); break;
    case WRONG_MAGIC: memcpy(b, "HCLBIN99", 8); test_write_file(cast_path, b, len); break;
    case FOREIGN_KEY: {
        size_t flen;
        unsigned char *f = read_file(fill_path, &flen);
        test_write_file(cast_path, f, flen);
        free(f);
        break;
    }
    case ZERO_LENGTH: test_write_file(cast_path, b, 0); break;
    case TRAILING_BYTE: {
        unsigned char *longer = malloc(len + 1);
        memcpy(longer, b, len);
        longer[len] = 0;
        test_write_file(cast_path, longer, len + 1);
        free(longer);
        break;
    }
    case DRIVER_REJECTS: {
        /* a correct header and checksum around bytes no driver can load. Mesa 22.3 rusticl
         * aborts the process in clCreateProgramWithBinary on such bytes (panic 'unknown
         * version', core/program.rs:191) instead of returning CL_INVALID_BINARY: a driver bug,
         * reproduced by clCreateProgramWithBinary alone; this case is skipped there. */
        hcl_context *w = cache_context(dir, NULL, NULL);
        if (strstr(hcl_context_device(w)->platform_name, "rusticl")) {
            fprintf(stderr, "note: rusticl aborts on unloadable binaries; '%s' skipped\n", what);
            hcl_context_free(w);
            free(b);
            test_rm_rf(dir);
            free(dir);
            return;
        }
        unsigned char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
        char key[33];
        memcpy(key, cast_name + strlen(cast_name) - 4 - 32, 32);
        key[32] = '\0';
        ck_assert_int_eq(hcl_cache_write(w, "tensor", key, junk, sizeof junk), 0);
        hcl_context_free(w);
        check_entry(dir, cast_name);
        break;
    }
    default: ck_abort();
    }
    free(b);

    log_capture log;
    ctx = cache_context(dir, NULL, &log);
    run_fill(ctx);  /* the undamaged entry still loads */
    CK_STATS(ctx, 0, 1, 0, 0);
    run_cast(ctx);  /* the damaged one is rejected, rebuilt, the result correct */
    hcl_program_stats s = stats(ctx);
    ck_assert_msg(s.cache_rejects == 1 && s.source_builds == 1 && s.cache_loads == 1 && s.cache_writes == 1,
                  "%s: builds %lu loads %lu rejects %lu writes %lu", what, s.source_builds, s.cache_loads,
                  s.cache_rejects, s.cache_writes);
    ck_assert_msg(log.warnings >= 1, "%s: the rejection was not logged", what);
    /* caught by the cache's own checks, before any driver saw the bytes (except the last kind) */
    const char *by = kind == DRIVER_REJECTS ? "driver rejected" : "kernel cache entry";
    ck_assert_msg(strstr(log.last, by) && strstr(log.last, "rejected"), "%s: warning '%s'", what, log.last);
    hcl_context_free(ctx);
    /* rewritten, valid */
    entry_list l3 = list_entries(dir);
    ck_assert_uint_eq(l3.n, 2);
    check_entry(dir, cast_name);
    ctx = cache_context(dir, NULL, NULL);
    run_cast(ctx);
    run_fill(ctx);
    CK_STATS(ctx, 0, 2, 0, 0);
    hcl_context_free(ctx);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(cache_off_writes_nothing) {
    char *dir = test_make_tmpdir("cache");
    char xdg[4096], home[4096];
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    /* initialise the driver first: it fixes its own cache folder (PoCL's and Mesa's follow
     * XDG_CACHE_HOME and HOME) at start-up, and a cold driver cache makes every build slow */
    hcl_context *warm = cache_context("off", NULL, NULL);
    test_env_saved e1, e2, e3;
    test_env_push(&e1, "HALFCL_CACHE_DIR", dir);
    test_env_push(&e2, "XDG_CACHE_HOME", xdg);
    test_env_push(&e3, "HOME", home);
    hcl_context *ctx = cache_context("off", NULL, NULL);
    ck_assert_ptr_null(hcl_context_cache_dir(ctx));
    run_fill(ctx);
    run_cast(ctx);
    CK_STATS(ctx, 2, 0, 0, 0);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, 0);
    struct stat sb;
    char path[4200];
    snprintf(path, sizeof path, "%s/halfcl", xdg);
    ck_assert_msg(stat(path, &sb) != 0, "%s was created", path);
    snprintf(path, sizeof path, "%s/.cache/halfcl", home);
    ck_assert_msg(stat(path, &sb) != 0, "%s was created", path);
    /* the same with HALFCL_CACHE_DIR=off */
    test_env_pop(&e1);
    test_env_push(&e1, "HALFCL_CACHE_DIR", "off");
    ctx = cache_context(NULL, NULL, NULL);
    ck_assert_ptr_null(hcl_context_cache_dir(ctx));
    run_fill(ctx);
    CK_STATS(ctx, 1, 0, 0, 0);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, 0);
    test_env_pop(&e1);
    test_env_pop(&e2);
    test_env_pop(&e3);
    hcl_context_free(warm);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

/* NULL cache_dir: $HALFCL_CACHE_DIR, else $XDG_CACHE_HOME/halfcl, else ~/.cache/halfcl. */
START_TEST(cache_dir_from_environment) {
    char *dir = test_make_tmpdir("cache");
    char env_dir[4096], xdg[4096], home[4096], want[4200];
    snprintf(env_dir, sizeof env_dir, "%s/env/nested", dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    hcl_context *warm = cache_context("off", NULL, NULL); /* see cache_off_writes_nothing */
    test_env_saved e1, e2, e3;
    test_env_push(&e1, "HALFCL_CACHE_DIR", env_dir);
    test_env_push(&e2, "XDG_CACHE_HOME", xdg);
    test_env_push(&e3, "HOME", home);
    hcl_context *ctx = cache_context(NULL, NULL, NULL);
    ck_assert_str_eq(hcl_context_cache_dir(ctx), env_dir);
    run_fill(ctx);
    CK_STATS(ctx, 1, 0, 0, 1);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(env_dir).n, 1); /* folders created as needed */

    test_env_pop(&e1);
    test_env_push(&e1, "HALFCL_CACHE_DIR", NULL);
    ctx = cache_context(NULL, NULL, NULL);
    snprintf(want, sizeof want, "%s/halfcl", xdg);
    ck_assert_str_eq(hcl_context_cache_dir(ctx), want);
    run_fill(ctx);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(want).n, 1);

    test_env_pop(&e2);
    test_env_push(&e2, "XDG_CACHE_HOME", NULL);
    ctx = cache_context(NULL, NULL, NULL);
    snprintf(want, sizeof want, "%s/.cache/halfcl", home);
    ck_assert_str_eq(hcl_context_cache_dir(ctx), want);
    run_fill(ctx);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(want).n, 1);
    /* an explicit option wins over all of them */
    test_env_pop(&e1);
    test_env_push(&e1, "HALFCL_CACHE_DIR", env_dir);
    snprintf(want, sizeof want, "%s/option", dir);
    ctx = cache_context(want, NULL, NULL);
    ck_assert_str_eq(hcl_context_cache_dir(ctx), want);
    hcl_context_free(ctx);
    test_env_pop(&e1);
    test_env_pop(&e2);
    test_env_pop(&e3);
    hcl_context_free(warm);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

/* AUTO writes except on PoCL with its own kernel cache on; NEVER only reads, and what it reads
 * was written by another context; an unknown policy is refused. */
START_TEST(cache_write_policy) {
    char *dir = test_make_tmpdir("cache");
    hcl_context *ctx = cache_context_writes(dir, NULL, NULL, HCL_CACHE_WRITES_AUTO);
    const hcl_device_info *d = hcl_context_device(ctx);
    const char *pocl_cache = getenv("POCL_KERNEL_CACHE");
    int pocl = strstr(d->platform_vendor, "pocl") || strstr(d->platform_name, "Portable Computing Language");
    int want = !(pocl && (!pocl_cache || strcmp(pocl_cache, "0")));
    ck_assert_int_eq(hcl_context_cache_writes(ctx), want);
    run_fill(ctx);
    if (want) CK_STATS(ctx, 1, 0, 0, 1);
    else CK_STATS(ctx, 1, 0, 0, 0);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, (unsigned)want);
    test_rm_rf(dir);

    ctx = cache_context_writes(dir, NULL, NULL, HCL_CACHE_WRITES_NEVER);
    ck_assert_int_eq(hcl_context_cache_writes(ctx), 0);
    run_fill(ctx);
    CK_STATS(ctx, 1, 0, 0, 0);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, 0);
    ctx = cache_context_writes(dir, NULL, NULL, HCL_CACHE_WRITES_ALWAYS);
    ck_assert_int_eq(hcl_context_cache_writes(ctx), 1);
    run_fill(ctx);
    CK_STATS(ctx, 1, 0, 0, 1);
    hcl_context_free(ctx);
    ctx = cache_context_writes(dir, NULL, NULL, HCL_CACHE_WRITES_NEVER);
    run_fill(ctx);
    CK_STATS(ctx, 0, 1, 0, 0);
    hcl_context_free(ctx);
    ctx = cache_context_writes("off", NULL, NULL, HCL_CACHE_WRITES_ALWAYS);
    ck_assert_int_eq(hcl_context_cache_writes(ctx), 0);
    hcl_context_free(ctx);

    hcl_context_options o;
    hcl_context_options_init(&o);
    o.cache_dir = dir;
    o.cache_writes = (hcl_cache_writes)7;
    char err[512];
    ck_assert_int_eq(hcl_context_create(&ctx, &o, err, sizeof err), HCL_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(err, "cache_writes"), "%s", err);
    ck_assert_int_eq(hcl_context_cache_writes(NULL), 0);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

/* A folder that cannot be created or written only costs the cache: a warning, no crash. */
START_TEST(unwritable_cache_dir) {
    char *dir = test_make_tmpdir("cache");
    char file[4096], under[4200];
    snprintf(file, sizeof file, "%s/plain-file", dir);
    test_write_file(file, "x", 1);
    snprintf(under, sizeof under, "%s/sub/cache", file);
    const char *bad[2] = {under, file};
    for (int i = 0; i < 2; i++) {
        for (int round = 0; round < 2; round++) {
            log_capture log;
            hcl_context *ctx = cache_context(bad[i], NULL, &log);
            run_fill(ctx);
            run_cast(ctx);
            CK_STATS(ctx, 2, 0, 0, 0);
            ck_assert_msg(log.warnings >= 2, "cache folder %s: %d warnings", bad[i], log.warnings);
            ck_assert_msg(strstr(log.last, "cache"), "warning: %s", log.last);
            hcl_context_free(ctx);
        }
    }
    /* nothing appeared beside the file */
    size_t len;
    unsigned char *b = read_file(file, &len);
    ck_assert_uint_eq(len, 1);
    free(b);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    ck_assert_int_eq(n, 1);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

/* The key covers the build options and the source: each variant gets its own entry. */
START_TEST(key_follows_options_and_source) {
    char *dir = test_make_tmpdir("cache");
    hcl_context *ctx = cache_context(dir, NULL, NULL);
    cl_kernel k;
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=1", "fill_u32", &k));
    entry_list l1 = list_entries(dir);
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=2", "fill_u32", &k));
    entry_list l2 = list_entries(dir);
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=1", "fill_u16", &k)); /* same program */
    ck_assert_uint_eq(l1.n, 1);
    ck_assert_uint_eq(l2.n, 2);
    new_entry(&l1, &l2);
    CK_STATS(ctx, 2, 0, 0, 2);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, 2);

    /* the same options again load; a third set writes a third entry */
    ctx = cache_context(dir, NULL, NULL);
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=2", "copy_u8", &k));
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=1", "fill_u8", &k));
    CK_STATS(ctx, 0, 2, 0, 0);
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=3", "fill_u8", &k));
    CK_STATS(ctx, 1, 2, 0, 1);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, 3);

    /* the same family and options from a changed source (HALFCL_KERNEL_DIR): a new key */
    char *kdir = test_make_tmpdir("cache");
    char path[4096];
    char *common = source_text("cl_kernels/common.h"), *tensor = source_text("cl_kernels/tensor.cl");
    snprintf(path, sizeof path, "%s/common.h", kdir);
    test_write_file(path, common, strlen(common));
    snprintf(path, sizeof path, "%s/tensor.cl", kdir);
    test_write_file(path, tensor, strlen(tensor));
    ctx = cache_context(dir, kdir, NULL);
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=1", "fill_u32", &k));
    hcl_context_free(ctx);
    size_t before_edit = list_entries(dir).n; /* 3, or 4 if the resolved source is not byte-identical */
    ck_assert_uint_ge(before_edit, 3);
    ck_assert_uint_le(before_edit, 4);
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    fputs("\n// an edit\n", f);
    fclose(f);
    ctx = cache_context(dir, kdir, NULL);
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=1", "fill_u32", &k));
    CK_STATS(ctx, 1, 0, 0, 1);
    hcl_context_free(ctx);
    ck_assert_uint_eq(list_entries(dir).n, before_edit + 1);
    ctx = cache_context(dir, kdir, NULL); /* and the edited source's entry serves the next one */
    CK_OK(ctx, hcl_kernel_get(ctx, "tensor", "-DHCL_CACHE_TEST=1", "fill_u32", &k));
    CK_STATS(ctx, 0, 1, 0, 0);
    hcl_context_free(ctx);
    free(common);
    free(tensor);
    test_rm_rf(kdir);
    free(kdir);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

/* Entry paths, and the cache API refusing to work without a folder. */
START_TEST(entry_paths) {
    char *dir = test_make_tmpdir("cache");
    hcl_context *ctx = cache_context(dir, NULL, NULL);
    char path[4096], want[4200];
    const char *key = "0123456789abcdef0123456789abcdef";
    ck_assert_int_eq(hcl_cache_entry_path(ctx, "gemm", key, path, sizeof path), 0);
    snprintf(want, sizeof want, "%s/gemm-%s.bin", dir, key);
    ck_assert_str_eq(path, want);
    ck_assert_int_ne(hcl_cache_entry_path(ctx, "gemm", key, path, 10), 0); /* too small */
    /* write then read back through the API; a missing entry reads as 0 */
    const unsigned char payload[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(hcl_cache_write(ctx, "gemm", key, payload, sizeof payload), 0);
    check_entry(dir, "gemm-0123456789abcdef0123456789abcdef.bin");
    unsigned char *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(hcl_cache_read(ctx, "gemm", key, &got, &n), 1);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(got, payload, 5), 0);
    free(got);
    got = (unsigned char *)ctx;
    ck_assert_int_eq(hcl_cache_read(ctx, "conv", key, &got, &n), 0);
    ck_assert_ptr_null(got);
    hcl_cache_remove(ctx, "gemm", key);
    ck_assert_int_eq(hcl_cache_read(ctx, "gemm", key, &got, &n), 0);
    ck_assert_uint_eq(list_entries(dir).n, 0);
    hcl_context_free(ctx);
    ctx = cache_context("off", NULL, NULL);
    ck_assert_int_ne(hcl_cache_entry_path(ctx, "gemm", key, path, sizeof path), 0);
    ck_assert_int_ne(hcl_cache_write(ctx, "gemm", key, payload, sizeof payload), 0);
    ck_assert_int_eq(hcl_cache_read(ctx, "gemm", key, &got, &n), 0);
    hcl_context_free(ctx);
    test_rm_rf(dir);
    free(dir);
}
END_TEST

static Suite *cache_suite(void) {
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("disk");
    tcase_add_test(tc, build_then_load);
    tcase_add_test(tc, stale_temps_removed);
    tcase_add_loop_test(tc, damaged_entry_rebuilt, 0, CORRUPTION_COUNT);
    tcase_add_test(tc, cache_off_writes_nothing);
    tcase_add_test(tc, cache_dir_from_environment);
    tcase_add_test(tc, unwritable_cache_dir);
    tcase_add_test(tc, cache_write_policy);
    tcase_add_test(tc, key_follows_options_and_source);
    tcase_add_test(tc, entry_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(cache_suite()); }
