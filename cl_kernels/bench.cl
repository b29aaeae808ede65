// Kernels used only by tools/hcl-bench to measure the device's ceilings: vector copies (the
// memory-bandwidth ceiling every memory-bound kernel is judged against) and an empty kernel
// (launch cost).
#include "common.h"

// y = x, n float4 vectors
kernel void copy_float4(global float4 *y, const global float4 *x, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    y[i] = x[i];
}

// y = x, n float16 vectors
kernel void copy_float16(global float16 *y, const global float16 *x, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    y[i] = x[i];
}

kernel void empty(void) {}
