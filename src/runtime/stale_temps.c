/* Cleanup for the atomic writers (checkpoints, exports, the kernel cache): each writes
 * "<path>.tmp.<pid>[.<suffix>]" and renames it over <path>; a writer killed in between leaves its
 * temp file behind. The next write of the same path removes those whose writer is gone. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "runtime/internal.h"

/* The pid of a temp-file name of `base` ("<base>.tmp.<digits>" optionally followed by '.' and
 * anything), or 0 when the name is not one. */
static long temp_owner(const char *name, const char *base) {
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0) return 0;
    const char *digits = name + bl + 5;
    char *end = NULL;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (errno || end == digits || pid <= 0 || (*end != '\0' && *end != '.')) return 0;
    return pid;
}

int hcl_remove_stale_temps(const char *path) {
    if (!path || !*path) return 0;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dlen + 2);
    if (!dir) return 0;
    if (slash) {
        memcpy(dir, path, dlen ? dlen : 1); /* "/file" lives in "/" */
        dir[dlen ? dlen : 1] = '\0';
    } else {
        strcpy(dir, ".");
    }
    int removed = 0;
    DIR *d = opendir(dir);
    if (d) {
        long self = (long)getpid();
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            long pid = temp_owner(e->d_name, base);
            /* a live writer (or one we may not signal: EPERM) keeps its file; pid reuse by an
             * unrelated process only delays the cleanup */
            if (pid == 0 || pid == self || (pid_t)pid != pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
            size_t n = strlen(dir) + strlen(e->d_name) + 2;
            char *full = malloc(n);
            if (!full) break;
            snprintf(full, n, "%s/%s", dir, e->d_name);
            if (unlink(full) == 0) removed++;
            free(full);
        }
        closedir(d);
    }
    free(dir);
    return removed;
}
