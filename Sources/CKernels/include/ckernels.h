#ifndef ENGRAM_CKERNELS_H
#define ENGRAM_CKERNELS_H

#include <stddef.h>

/// out[r] = dot(rows + r * stride, query) for r in [0, count), each row `dimension` floats long.
/// Compiled for AVX-512, AVX2 and baseline x86-64; the loader picks the best clone for the CPU.
void engram_scores_f32(const float *rows, size_t count, size_t dimension, size_t stride,
                       const float *query, float *out);

#endif
