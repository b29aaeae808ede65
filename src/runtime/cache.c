/* Disk cache of program binaries (see cache.h for the entry format and the rules). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/cache.h"
#include "runtime/hash.h"

#define MAGIC "HCLBIN01"
#define HEADER_BYTES (8 + 32 + 8 + 8)
#define MAX_ENTRY_BYTES ((size_t)1 << 30)

int hcl_cache_entry_path(const hcl_context *ctx, const char *family, const char *key_hex, char *out, size_t len) {
    if (!ctx->cache_dir) return -1;
    int n = snprintf(out, len, "%s/%s-%s.bin", ctx->cache_dir, family, key_hex);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static uint64_t checksum(const unsigned char *p, size_t n) {
    hcl_hash h;
    hcl_hash_init(&h);
    hcl_hash_update(&h, p, n);
    return h.a ^ (h.b * 0x9e3779b97f4a7c15ULL);
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int hcl_cache_read(hcl_context *ctx, const char *family, const char *key_hex, unsigned char **payload, size_t *size) {
    char path[4200];
    *payload = NULL;
    *size = 0;
    if (hcl_cache_entry_path(ctx, family, key_hex, path, sizeof path)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char hdr[HEADER_BYTES];
    const char *why = NULL;
    unsigned char *data = NULL;
    uint64_t n = 0;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) why = "cannot stat";
    else if (fread(hdr, 1, HEADER_BYTES, f) != HEADER_BYTES) why = "truncated header";
    else if (memcmp(hdr, MAGIC, 8) != 0) why = "bad magic";
    else if (memcmp(hdr + 8, key_hex, 32) != 0) why = "key mismatch (foreign entry)";
    else if ((n = get_u64(hdr + 40)) == 0 || n > MAX_ENTRY_BYTES || (uint64_t)sb.st_size != HEADER_BYTES + n)
        why = "size does not match the file";
    else if (!(data = malloc((size_t)n))) why = "out of host memory";
    else if (fread(data, 1, (size_t)n, f) != (size_t)n) why = "truncated payload";
    else if (checksum(data, (size_t)n) != get_u64(hdr + 48)) why = "checksum mismatch";
    fclose(f);
    if (why) {
        free(data);
        hcl_log(ctx, HCL_LOG_WARN, "kernel cache entry %s rejected (%s); rebuilding", path, why);
        unlink(path);
        return -1;
    }
    *payload = data;
    *size = (size_t)n;
    return 1;
}

static int mkdir_p(const char *dir) {
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

int hcl_cache_write(hcl_context *ctx, const char *family, const char *key_hex, const unsigned char *payload, size_t size) {
    char path[4200], tmp[4300];
    if (hcl_cache_entry_path(ctx, family, key_hex, path, sizeof path)) return -1;
    if (mkdir_p(ctx->cache_dir) != 0) {
        hcl_log(ctx, HCL_LOG_WARN, "cannot create kernel cache folder %s: %s", ctx->cache_dir, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%p", path, (long)getpid(), (void *)payload);
    hcl_remove_stale_temps(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        hcl_log(ctx, HCL_LOG_WARN, "cannot write kernel cache entry %s: %s", tmp, strerror(errno));
        return -1;
    }
    unsigned char hdr[HEADER_BYTES];
    memcpy(hdr, MAGIC, 8);
    memcpy(hdr + 8, key_hex, 32);
    put_u64(hdr + 40, size);
    put_u64(hdr + 48, checksum(payload, size));
    int ok = write(fd, hdr, HEADER_BYTES) == HEADER_BYTES;
    size_t done = 0;
    while (ok && done < size) {
        ssize_t w = write(fd, payload + done, size - done);
        if (w <= 0) ok = 0; else done += (size_t)w;
    }
    if (ok && fsync(fd) != 0) ok = 0;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        hcl_log(ctx, HCL_LOG_WARN, "writing kernel cache entry %s failed: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void hcl_cache_remove(hcl_context *ctx, const char *family, const char *key_hex) {
    char path[4200];
    if (!hcl_cache_entry_path(ctx, family, key_hex, path, sizeof path)) unlink(path);
}
