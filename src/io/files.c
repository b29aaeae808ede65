/* Helpers shared by the io readers and writers: UTF-8 decoding, whole-file reads (plain or gzip,
 * buffers growing with the data rather than with a claimed size), atomic writes (temporary file,
 * fsync, rename, folder fsync) and the seeded Philox Fisher-Yates shuffle of the batchers and the
 * text split. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "halfcl/ops.h"
#include "io/io_internal.h"
#include "runtime/internal.h"

/* ---- UTF-8 ---- */

size_t hcl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_out) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp_out = c;
        return 1;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    *cp_out = cp;
    return len;
}

size_t hcl_utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = hcl_utf8_decode(s + i, n - i, &cp);
        if (!len) return i;
        i += len;
    }
    return n;
}

int hcl_utf8_valid(const unsigned char *s, size_t n) { return hcl_utf8_invalid_at(s, n) == n; }

/* ---- reading (plain or gzip) ---- */

hcl_status hcl_gz_open(hcl_context *ctx, const char *kind, const char *path, gzFile *g) {
    errno = 0;
    *g = gzopen(path, "rb");
    if (!*g)
        return hcl_error(ctx, HCL_ERR_IO, "%s %s: cannot open: %s", kind, path, errno ? strerror(errno) : "out of memory");
    gzbuffer(*g, 1u << 17);
    return HCL_OK;
}

hcl_status hcl_gz_read(hcl_context *ctx, const char *kind, const char *path, gzFile g, void *buf, size_t want,
                       size_t *got) {
    unsigned char *p = buf;
    size_t done = 0;
    while (done < want) {
        size_t chunk = want - done < (1u << 30) ? want - done : (1u << 30);
        int r = gzread(g, p + done, (unsigned)chunk);
        if (r <= 0) {
            int zerr = Z_OK;
            const char *msg = gzerror(g, &zerr);
            if (zerr == Z_ERRNO)
                return hcl_error(ctx, HCL_ERR_IO, "%s %s: read failed: %s", kind, path, strerror(errno));
            if (zerr != Z_OK)
                return hcl_error(ctx, HCL_ERR_FORMAT, "%s %s: corrupt or truncated gzip data: %s", kind, path, msg);
            break; /* end of file */
        }
        done += (size_t)r;
    }
    *got = done;
    return HCL_OK;
}

hcl_status hcl_gz_read_all(hcl_context *ctx, const char *kind, const char *path, gzFile g, size_t limit,
                           uint8_t **out, size_t *got) {
    size_t cap = limit < ((size_t)1 << 22) ? limit : ((size_t)1 << 22), have = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    for (;;) {
        size_t n = 0;
        hcl_status st = hcl_gz_read(ctx, kind, path, g, buf + have, cap - have, &n);
        if (st != HCL_OK) { free(buf); return st; }
        have += n;
        if (have < cap || cap == limit) break;
        size_t next = cap > limit / 2 ? limit : cap * 2;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            free(buf);
            return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "%s %s: out of host memory for %zu bytes", kind, path, next);
        }
        buf = grown;
        cap = next;
    }
    *out = buf;
    *got = have;
    return HCL_OK;
}

hcl_status hcl_read_file(hcl_context *ctx, const char *kind, const char *path, size_t limit, char **out,
                         size_t *size) {
    *out = NULL;
    *size = 0;
    gzFile g;
    HCL_TRY(hcl_gz_open(ctx, kind, path, &g));
    uint8_t *buf = NULL;
    size_t got = 0;
    hcl_status st = hcl_gz_read_all(ctx, kind, path, g, limit + 1, &buf, &got); /* one more: detect "too large" */
    gzclose(g);
    if (st != HCL_OK) return st;
    if (got > limit) {
        free(buf);
        return hcl_error(ctx, HCL_ERR_FORMAT, "%s %s: larger than the %zu-byte limit", kind, path, limit);
    }
    char *text = realloc(buf, got + 1);
    if (!text) {
        free(buf);
        return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "%s %s: out of host memory", kind, path);
    }
    text[got] = '\0';
    *out = text;
    *size = got;
    return HCL_OK;
}

/* ---- atomic writes ---- */

static hcl_status write_full(hcl_context *ctx, const char *kind, int fd, const void *buf, size_t n, const char *tmp) {
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < ((size_t)1 << 30) ? n - done : ((size_t)1 << 30);
        ssize_t r = write(fd, p + done, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            return hcl_error(ctx, HCL_ERR_IO, "%s %s: write failed: %s", kind, tmp, strerror(errno));
        }
        if (r == 0) return hcl_error(ctx, HCL_ERR_IO, "%s %s: write wrote nothing", kind, tmp);
        done += (size_t)r;
    }
    return HCL_OK;
}

hcl_status hcl_write_atomic(hcl_context *ctx, const char *kind, const char *path, const hcl_write_chunk *chunks,
                            size_t count) {
    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    if (!tmp) return hcl_error(ctx, HCL_ERR_HOST_MEMORY, "out of host memory");
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    hcl_remove_stale_temps(path); /* left by earlier writers of path that were killed mid-save */
    hcl_status st = HCL_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = hcl_error(ctx, HCL_ERR_IO, "%s save %s: cannot create %s: %s", kind, path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    for (size_t k = 0; st == HCL_OK && k < count; k++)
        if (chunks[k].bytes) st = write_full(ctx, kind, fd, chunks[k].data, chunks[k].bytes, tmp);
    if (st == HCL_OK && fsync(fd) != 0)
        st = hcl_error(ctx, HCL_ERR_IO, "%s save %s: fsync of %s failed: %s", kind, path, tmp, strerror(errno));
    if (close(fd) != 0 && st == HCL_OK)
        st = hcl_error(ctx, HCL_ERR_IO, "%s save %s: close of %s failed: %s", kind, path, tmp, strerror(errno));
    if (st == HCL_OK && rename(tmp, path) != 0)
        st = hcl_error(ctx, HCL_ERR_IO, "%s save %s: rename from %s failed: %s", kind, path, tmp, strerror(errno));
    if (st != HCL_OK) {
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    /* make the rename itself durable (best effort: some file systems refuse fsync on a folder) */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dlen + 2);
    if (dir) {
        if (slash) { memcpy(dir, path, dlen ? dlen : 1); dir[dlen ? dlen : 1] = '\0'; }
        else strcpy(dir, ".");
        int dfd = open(dir, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
        free(dir);
    }
    return HCL_OK;
}

/* ---- shuffling ---- */

void hcl_philox_shuffle(size_t *perm, size_t n, uint64_t seed, uint64_t stream, uint32_t tag) {
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (size_t i = n; i > 1; i--) {
        uint32_t ctr[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), (uint32_t)stream, tag ^ (uint32_t)(stream >> 32)};
        uint32_t r[4];
        hcl_philox4x32_10(ctr, key, r);
        uint64_t v = ((uint64_t)r[0] << 32) | r[1];
        size_t j = (size_t)(v % (uint64_t)i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
