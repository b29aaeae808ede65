/* On-disk cache of compiled program binaries. An entry is "<family>-<key>.bin" holding a magic,
 * the key, the payload size and a payload checksum; anything that does not match exactly is
 * rejected (and removed), never loaded. Writes go to a temporary file that is renamed. */
#ifndef HCL_RUNTIME_CACHE_H
#define HCL_RUNTIME_CACHE_H
#include <stddef.h>
#include "runtime/internal.h"

/* Reads the entry for (family, key). Returns 1 and a malloc'd payload when a valid entry exists,
 * 0 when there is none, -1 when one existed but was invalid (it is removed). */
int hcl_cache_read(hcl_context *ctx, const char *family, const char *key_hex, unsigned char **payload,
                   size_t *size);
/* Writes an entry atomically; failures are logged, not fatal (returns 0 on success). */
int hcl_cache_write(hcl_context *ctx, const char *family, const char *key_hex, const unsigned char *payload,
                    size_t size);
/* Removes the entry (used when the driver rejects a binary that passed the checks). */
void hcl_cache_remove(hcl_context *ctx, const char *family, const char *key_hex);
/* The path of an entry, for tests and tools. */
int hcl_cache_entry_path(const hcl_context *ctx, const char *family, const char *key_hex, char *out, size_t len);

#endif
