/* The kernel sources embedded at build time by tools/embed_kernels.py (includes resolved),
 * sorted by family name. */
#ifndef HCL_RUNTIME_EMBEDDED_H
#define HCL_RUNTIME_EMBEDDED_H
#include <stddef.h>

typedef struct hcl_embedded_source {
    const char *family;
    const char *source;
    size_t length;
} hcl_embedded_source;

extern const hcl_embedded_source hcl_embedded_sources[];
extern const size_t hcl_embedded_source_count;

#endif
