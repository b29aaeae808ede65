/* Library-internal helpers shared by the io readers and writers: UTF-8 validation and host
 * byte-order checks. Not installed. */
#ifndef HCL_IO_INTERNAL_H
#define HCL_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int hcl_utf8_valid(const unsigned char *s, size_t n);

/* 1 on a little-endian host (the byte order of safetensors data and of our raw transfers). */
static inline int hcl_host_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

#endif
