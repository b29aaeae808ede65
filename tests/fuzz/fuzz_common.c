/* Helpers shared by the libFuzzer harnesses (see fuzz_common.h): temporary files, the gzip and
 * safetensors file builders, the host-only context and the --write-seeds / --to-file options. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "fuzz_common.h"

static char tmpdir[512];

static void remove_tmpdir(void) {
    if (!tmpdir[0]) return;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

const char *fuzz_tmpdir(void) {
    if (tmpdir[0]) return tmpdir;
    const char *env = getenv("TMPDIR");
    const char *bases[] = {"/dev/shm", env && *env ? env : NULL, "/tmp"};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        if (!bases[i]) continue;
        snprintf(tmpdir, sizeof tmpdir, "%s/halfcl-fuzz-XXXXXX", bases[i]);
        if (mkdtemp(tmpdir)) {
            atexit(remove_tmpdir);
            return tmpdir;
        }
    }
    fprintf(stderr, "fuzz: cannot create a temporary folder: %s\n", strerror(errno));
    exit(1);
}

char *fuzz_tmp_path(const char *name) {
    const char *dir = fuzz_tmpdir();
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int fuzz_write_file(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    const unsigned char *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { close(fd); return -1; }
        done += (size_t)w;
    }
    return close(fd);
}

int fuzz_write_gzip(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int ok = n == 0 || gzwrite(g, data, (unsigned)n) == (int)n;
    return gzclose(g) == Z_OK && ok ? 0 : -1;
}

int fuzz_write_safetensors_parts(const char *path, const uint8_t *data, size_t n) {
    const uint8_t *nul = memchr(data, 0, n);
    size_t hlen = nul ? (size_t)(nul - data) : n;
    size_t rest = nul ? n - hlen - 1 : 0;
    uint8_t *buf = malloc(8 + hlen + rest + 1);
    if (!buf) return -1;
    for (int b = 0; b < 8; b++) buf[b] = (uint8_t)((uint64_t)hlen >> (8 * b));
    if (hlen) memcpy(buf + 8, data, hlen);
    if (rest) memcpy(buf + 8 + hlen, nul + 1, rest);
    int r = fuzz_write_file(path, buf, 8 + hlen + rest);
    free(buf);
    return r;
}

int fuzz_read_file(const char *path, uint8_t **data, size_t *n) {
    *data = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, have = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + have, 1, cap - have, f);
        have += r;
        if (have < cap) break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) { free(buf); buf = NULL; break; }
        buf = grown;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) { free(buf); return -1; }
    *data = buf;
    *n = have;
    return 0;
}

static void drop_message(void *user, hcl_log_level level, const char *message) {
    (void)user;
    (void)level;
    (void)message;
}

hcl_context *fuzz_host_context(void) {
    static hcl_context ctx;
    ctx.log = drop_message;
    ctx.log_level = HCL_LOG_DEBUG;
    return &ctx;
}

int fuzz_seed(const char *dir, const char *name, uint8_t mode, const void *data, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *buf = malloc(n + 1);
    if (!buf) return -1;
    buf[0] = mode;
    if (n) memcpy(buf + 1, data, n);
    int r = fuzz_write_file(path, buf, n + 1);
    free(buf);
    if (r) fprintf(stderr, "fuzz: cannot write seed %s: %s\n", path, strerror(errno));
    return r;
}

int fuzz_seed_from_file(const char *dir, const char *name, uint8_t mode, const char *path) {
    uint8_t *data;
    size_t n;
    if (fuzz_read_file(path, &data, &n)) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        return -1;
    }
    int r = fuzz_seed(dir, name, mode, data, n);
    free(data);
    return r;
}

void fuzz_handle_options(int *argc, char ***argv, fuzz_seed_fn write_seeds, fuzz_file_fn make_file) {
    char **a = *argv;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(a[i], "--write-seeds")) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "usage: %s --write-seeds DIR\n", a[0]);
                exit(2);
            }
            if (mkdir(a[i + 1], 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "fuzz: cannot create %s: %s\n", a[i + 1], strerror(errno));
                exit(1);
            }
            exit(write_seeds(a[i + 1]) ? 1 : 0);
        }
        if (!strcmp(a[i], "--to-file")) {
            if (i + 2 >= *argc) {
                fprintf(stderr, "usage: %s --to-file INPUT OUTPUT\n", a[0]);
                exit(2);
            }
            uint8_t *data;
            size_t n;
            if (fuzz_read_file(a[i + 1], &data, &n)) {
                fprintf(stderr, "fuzz: cannot read %s\n", a[i + 1]);
                exit(1);
            }
            int r = make_file(data, n, a[i + 2]);
            free(data);
            exit(r ? 1 : 0);
        }
    }
}
