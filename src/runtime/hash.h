/* A 128-bit non-cryptographic hash (two independent 64-bit FNV-1a style lanes) used for
 * kernel-cache keys and checksums: enough to tell sources, options and drivers apart. */
#ifndef HCL_RUNTIME_HASH_H
#define HCL_RUNTIME_HASH_H
#include <stddef.h>
#include <stdint.h>

typedef struct hcl_hash { uint64_t a, b; } hcl_hash;

void hcl_hash_init(hcl_hash *h);
void hcl_hash_update(hcl_hash *h, const void *data, size_t len);
/* Adds a string and its terminator, so ("ab","c") and ("a","bc") differ. */
void hcl_hash_str(hcl_hash *h, const char *s);
/* 32 lowercase hex digits + NUL. */
void hcl_hash_hex(const hcl_hash *h, char out[33]);

#endif
