// Counter-based randomness: Philox4x32-10 (Salmon et al., SC 2011) and the fills built on it
// (uniform, normal by Box-Muller, dropout forward/backward that regenerate their mask).
// Built with -DY_DT= (output) and -DX_DT= (dropout input) float dtypes.
//
// Stream mapping (the contract of every kernel here and of the host reference in random.c):
// a call with (seed, offset) gives its element i the stream element e = offset + i (uint64,
// wrapping). Element e reads counter block j = e / 4 and word w = e % 4 of
//     philox4x32_10(counter = (lo32(j), hi32(j), 0, 0), key = (lo32(seed), hi32(seed))).
// So a value depends only on (seed, e): a sub-range filled at offset o equals elements o.. of a
// fill at offset 0, on any device and any launch shape. A caller that draws n elements and
// then advances offset by n never reuses a word.
//   uniform: u = (word >> 8) * 2^-24 in [0, 1), y = fma(hi - lo, u, lo) in float.
//   normal:  words (w0, w1) of a block give elements 4j, 4j+1, words (w2, w3) give 4j+2, 4j+3:
//            u1 = ((w_even >> 8) + 1) * 2^-24 in (0, 1], u2 = (w_odd >> 8) * 2^-24,
//            r = sqrt(-2 ln u1), z = r cos(2 pi u2) (even e) or r sin(2 pi u2) (odd e),
//            y = fma(stddev, z, mean).
//   dropout: keep element i when (word >> 8) * 2^-24 >= p (probability 1 - p),
//            y = x * (keep ? scale : 0) with scale = 1 / (1 - p) computed in float on the host
//            (so a NaN or inf input gives NaN even where dropped, as in PyTorch).
#include "common.h"

#ifndef Y_DT
#define Y_DT f32
#endif
#ifndef X_DT
#define X_DT f32
#endif

// the 4 words of counter block j for key seed
inline uint4 hcl_philox_block(ulong j, ulong seed) {
    return philox4x32_10((uint4)((uint)j, (uint)(j >> 32), 0u, 0u), (uint2)((uint)seed, (uint)(seed >> 32)));
}

inline float hcl_u24(uint x) { return (float)(x >> 8) * 5.9604644775390625e-8f; } // [0, 1)

// One work-item per counter block: block j = offset / 4 + gid covers stream elements [4j, 4j+4),
// of which those in [offset, offset + n) are written (all four on the fast path; the first and
// last blocks of a call may be partial). global = ceil((offset % 4 + n) / 4).
#define HCL_BLOCK_BEGIN                                       \
    size_t g = get_global_id(0);                              \
    ulong j = offset / 4 + g;                                 \
    if (g >= (offset % 4 + n + 3) / 4) return;                \
    uint4 r = hcl_philox_block(j, seed);                      \
    ulong i0 = j * 4 - offset; /* wraps in a partial first block */ \
    int full = j * 4 >= offset && i0 + 4 <= n;

// y (n) Y_DT = uniform [lo, hi)
kernel void random_uniform(global HCL_T(Y_DT) *y, ulong y_off, ulong n, float lo, float hi, ulong seed, ulong offset) {
    HCL_BLOCK_BEGIN
    float span = hi - lo;
    float4 v = (float4)(fma(span, hcl_u24(r.x), lo), fma(span, hcl_u24(r.y), lo), fma(span, hcl_u24(r.z), lo),
                        fma(span, hcl_u24(r.w), lo));
    if (full) {
        HCL_STORE(Y_DT, y, y_off + i0, v.x);
        HCL_STORE(Y_DT, y, y_off + i0 + 1, v.y);
        HCL_STORE(Y_DT, y, y_off + i0 + 2, v.z);
        HCL_STORE(Y_DT, y, y_off + i0 + 3, v.w);
        return;
    }
    float vs[4] = {v.x, v.y, v.z, v.w};
    for (uint w = 0; w < 4; w++) {
        ulong i = i0 + w;
        if (i < n) HCL_STORE(Y_DT, y, y_off + i, vs[w]);
    }
}

// The Box-Muller pair of words (a, b) -> (r cos(2 pi u2), r sin(2 pi u2)).
inline float2 hcl_box_muller(uint a, uint b) {
    float u1 = (float)((a >> 8) + 1u) * 5.9604644775390625e-8f;
    float u2 = hcl_u24(b);
    float rad = sqrt(-2.0f * log(u1));
    return (float2)(rad * cospi(2.0f * u2), rad * sinpi(2.0f * u2));
}

// y (n) Y_DT = normal(mean, stddev), Box-Muller on word pairs
kernel void random_normal(global HCL_T(Y_DT) *y, ulong y_off, ulong n, float mean, float stddev, ulong seed,
                          ulong offset) {
    HCL_BLOCK_BEGIN
    float2 z01 = hcl_box_muller(r.x, r.y), z23 = hcl_box_muller(r.z, r.w);
    float vs[4] = {fma(stddev, z01.x, mean), fma(stddev, z01.y, mean), fma(stddev, z23.x, mean), fma(stddev, z23.y, mean)};
    if (full) {
        for (uint w = 0; w < 4; w++) HCL_STORE(Y_DT, y, y_off + i0 + w, vs[w]);
        return;
    }
    for (uint w = 0; w < 4; w++) {
        ulong i = i0 + w;
        if (i < n) HCL_STORE(Y_DT, y, y_off + i, vs[w]);
    }
}

// y (n) Y_DT = x (n) X_DT * keep * scale; keep regenerated from (seed, offset). Used for the
// forward (x = input) and the backward (x = dy, y = dx): the same mask both ways.
kernel void dropout(global HCL_T(Y_DT) *y, ulong y_off, const global HCL_T(X_DT) *x, ulong x_off, ulong n, float p,
                    float scale, ulong seed, ulong offset) {
    HCL_BLOCK_BEGIN
    float m[4] = {hcl_u24(r.x) >= p ? scale : 0.0f, hcl_u24(r.y) >= p ? scale : 0.0f, hcl_u24(r.z) >= p ? scale : 0.0f,
                  hcl_u24(r.w) >= p ? scale : 0.0f};
    if (full) {
        for (uint w = 0; w < 4; w++) HCL_STORE(Y_DT, y, y_off + i0 + w, HCL_LOAD(X_DT, x, x_off + i0 + w) * m[w]);
        return;
    }
    for (uint w = 0; w < 4; w++) {
        ulong i = i0 + w;
        if (i < n) HCL_STORE(Y_DT, y, y_off + i, HCL_LOAD(X_DT, x, x_off + i) * m[w]); // NaN/inf inputs stay NaN
    }
}
