#ifndef ENGRAM_CKERNELS_H
#define ENGRAM_CKERNELS_H

#include <stddef.h>

/// out[r] = dot(rows + r * stride, query) for r in [0, count), each row `dimension` floats long.
/// Compiled for AVX-512, AVX2 and baseline x86-64; the loader picks the best clone for the CPU.
void engram_scores_f32(const float *rows, size_t count, size_t dimension, size_t stride,
                       const float *query, float *out);



#include <stdint.h>

/// out[r] = dot(rows + r * stride, query) for IEEE half-precision rows (stride in elements): a fused
/// convert-and-multiply scan, so float16 storage is read once at half the bytes.
void engram_scores_f16(const uint16_t *rows, size_t count, size_t dimension, size_t stride,
                       const float *query, float *out);

/// Converts floats to IEEE half precision (round to nearest even).
void engram_f32_to_f16(const float *source, uint16_t *destination, size_t count);

/// Converts IEEE half precision to floats (exact).
void engram_f16_to_f32(const uint16_t *source, float *destination, size_t count);

/// In place, x = 0.5 x (1 + erf(x / sqrt 2)): GELU with erf from Abramowitz & Stegun 7.1.26
/// (absolute error below 1.5e-7, i.e. float rounding), vectorised.
void engram_gelu(float *values, size_t count);

#endif
