#include "ckernels.h"
#include "clones.h"


// One row at a time, read front to back: a single sequential stream that the hardware prefetcher
// follows well. Measured on this project's machine (AMD EPYC, AVX2), it scanned 100k x 384 in 13.5-14.7 ms,
// against 22-26 ms for a four-rows-at-a-time variant and 13.7-21 ms for Debian's OpenBLAS sgemv.
// Reassociation lets clang split the sum over several vector accumulators.
ENGRAM_BODY void scores_f32(const float *restrict rows, size_t count, size_t dimension, size_t stride,
                       const float *restrict query, float *restrict out) {
#pragma clang fp reassociate(on) contract(fast)
    for (size_t r = 0; r < count; r++) {
        const float *row = rows + r * stride;
        float sum = 0.0f;
        for (size_t j = 0; j < dimension; j++) sum += row[j] * query[j];
        out[r] = sum;
    }
}
ENGRAM_KERNEL_VOID(engram_scores_f32, scores_f32,
                   (const float *restrict rows, size_t count, size_t dimension, size_t stride, const float *restrict query, float *restrict out),
                   (rows, count, dimension, stride, query, out))

// Four queries per pass over a row: one load of each row chunk feeds four multiply-adds (the single
// kernel needs two loads per multiply-add), and the row is read once for the four. Left-over queries
// (one to three) use the single kernel.
ENGRAM_BODY void scores_multi_f32(const float *restrict rows, size_t count, size_t dimension, size_t stride,
                             const float *restrict queries, size_t query_count, float *restrict out) {
#pragma clang fp reassociate(on) contract(fast)
    size_t q = 0;
    for (; q + 4 <= query_count; q += 4) {
        const float *q0 = queries + q * dimension, *q1 = q0 + dimension, *q2 = q1 + dimension, *q3 = q2 + dimension;
        float *o0 = out + q * count, *o1 = o0 + count, *o2 = o1 + count, *o3 = o2 + count;
        for (size_t r = 0; r < count; r++) {
            const float *row = rows + r * stride;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (size_t j = 0; j < dimension; j++) {
                float x = row[j];
                s0 += x * q0[j];
                s1 += x * q1[j];
                s2 += x * q2[j];
                s3 += x * q3[j];
            }
            o0[r] = s0;
            o1[r] = s1;
            o2[r] = s2;
            o3[r] = s3;
        }
    }
    for (; q < query_count; q++) {
        scores_f32(rows, count, dimension, stride, queries + q * dimension, out + q * count);
    }
}
ENGRAM_KERNEL_VOID(engram_scores_multi_f32, scores_multi_f32,
                   (const float *restrict rows, size_t count, size_t dimension, size_t stride, const float *restrict queries, size_t query_count, float *restrict out),
                   (rows, count, dimension, stride, queries, query_count, out))

// Half precision: `_Float16` converts with F16C/AVX-512 instructions in the v3/v4 variants; the default
// variant falls back to compiler-rt calls (slow, but only on CPUs without AVX2).
ENGRAM_BODY void scores_f16(const uint16_t *restrict rows16, size_t count, size_t dimension, size_t stride,
                       const float *restrict query, float *restrict out) {
#pragma clang fp reassociate(on) contract(fast)
    const _Float16 *rows = (const _Float16 *)rows16;
    for (size_t r = 0; r < count; r++) {
        const _Float16 *row = rows + r * stride;
        float sum = 0.0f;
        for (size_t j = 0; j < dimension; j++) sum += (float)row[j] * query[j];
        out[r] = sum;
    }
}
ENGRAM_KERNEL_VOID(engram_scores_f16, scores_f16,
                   (const uint16_t *restrict rows16, size_t count, size_t dimension, size_t stride, const float *restrict query, float *restrict out),
                   (rows16, count, dimension, stride, query, out))

ENGRAM_BODY void f32_to_f16(const float *restrict source, uint16_t *restrict destination, size_t count) {
    _Float16 *d = (_Float16 *)destination;
    for (size_t i = 0; i < count; i++) d[i] = (_Float16)source[i];
}
ENGRAM_KERNEL_VOID(engram_f32_to_f16, f32_to_f16,
                   (const float *restrict source, uint16_t *restrict destination, size_t count),
                   (source, destination, count))

ENGRAM_BODY void f16_to_f32(const uint16_t *restrict source, float *restrict destination, size_t count) {
    const _Float16 *s = (const _Float16 *)source;
    for (size_t i = 0; i < count; i++) destination[i] = (float)s[i];
}
ENGRAM_KERNEL_VOID(engram_f16_to_f32, f16_to_f32,
                   (const uint16_t *restrict source, float *restrict destination, size_t count),
                   (source, destination, count))

// Positions of the scores above a threshold, in order. A scan keeps only scores above its heap's
// smallest once the heap is full, which after the first rows is nearly none: sixteen scores are
// compared at once and a group with none above costs one vector compare (the Swift loop it replaces
// tested and branched on each score, 13 % of a 1,000-query batch beside the GEMM).
ENGRAM_BODY size_t indices_above(const float *restrict scores, size_t count, float threshold, int32_t *restrict out) {
    size_t found = 0, i = 0;
    for (; i + 16 <= count; i += 16) {
        int any = 0;
        for (int j = 0; j < 16; j++) any |= scores[i + j] > threshold;
        if (!any) continue;
        for (int j = 0; j < 16; j++)
            if (scores[i + j] > threshold) out[found++] = (int32_t)(i + j);
    }
    for (; i < count; i++)
        if (scores[i] > threshold) out[found++] = (int32_t)i;
    return found;
}
ENGRAM_KERNEL(size_t, engram_indices_above, indices_above,
              (const float *restrict scores, size_t count, float threshold, int32_t *restrict out),
              (scores, count, threshold, out))
