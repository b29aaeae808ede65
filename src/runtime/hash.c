/* 128-bit hash for cache keys: two 64-bit FNV-1a lanes with different offsets, the second one
 * also mixing the byte position, finished with a murmur-style avalanche. */
#include <stdio.h>
#include "runtime/hash.h"

#define FNV_PRIME 0x100000001b3ULL

void hcl_hash_init(hcl_hash *h) {
    h->a = 0xcbf29ce484222325ULL;
    h->b = 0x84222325cbf29ce4ULL;
}

void hcl_hash_update(hcl_hash *h, const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t a = h->a, b = h->b;
    for (size_t i = 0; i < len; i++) {
        a = (a ^ p[i]) * FNV_PRIME;
        b = (b ^ (p[i] + (uint64_t)(i & 0xff) * 131u)) * 0x9e3779b97f4a7c15ULL;
        b ^= b >> 29;
    }
    h->a = a;
    h->b = b;
}

void hcl_hash_str(hcl_hash *h, const char *s) {
    size_t n = 0;
    while (s && s[n]) n++;
    hcl_hash_update(h, s ? s : "", n + (s ? 1 : 0));
    if (!s) hcl_hash_update(h, "\0", 1);
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void hcl_hash_hex(const hcl_hash *h, char out[33]) {
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)mix(h->a), (unsigned long long)mix(h->b));
}
