#include "ckernels.h"
#include "clones.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The index's code scans. The plain loops are the reference and the fallback; the hand-vectorised AVX2
// loops below run instead when the kernel level (see clones.h) includes AVX2. Sums fit in 32 bits
// because callers bound the query's magnitude.

static void scores_u8_plain(const uint8_t *restrict codes, size_t count, size_t dimension,
                            const int16_t *restrict query, int32_t *restrict out) {
    for (size_t r = 0; r < count; r++) {
        const uint8_t *row = codes + r * dimension;
        int32_t sum = 0;
        for (size_t j = 0; j < dimension; j++) sum += (int32_t)query[j] * (int32_t)row[j];
        out[r] = sum;
    }
}

static void scores_u4_plain(const uint8_t *restrict codes, size_t count, size_t dimension,
                            const int8_t *restrict query, int32_t *restrict out) {
    size_t groups = (dimension + 63) / 64;
    for (size_t r = 0; r < count; r++) {
        const uint8_t *row = codes + r * groups * 32;
        int32_t sum = 0;
        for (size_t g = 0; g < groups; g++) {
            const uint8_t *p = row + 32 * g;
            const int8_t *q = query + 64 * g;
            for (size_t i = 0; i < 32; i++) {
                sum += (int32_t)q[i] * (int32_t)(p[i] & 15) + (int32_t)q[32 + i] * (int32_t)(p[i] >> 4);
            }
        }
        out[r] = sum;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static inline int32_t horizontal_sum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// Sixteen codes widen to 16-bit lanes and meet sixteen weights in one vpmaddwd (eight 32-bit sums); the
// row is summed across lanes once, at its end.
__attribute__((target("avx2"))) static void scores_u8_avx2(const uint8_t *restrict codes, size_t count,
                                                           size_t dimension, const int16_t *restrict query,
                                                           int32_t *restrict out) {
    size_t whole = dimension / 16 * 16;
    for (size_t r = 0; r < count; r++) {
        const uint8_t *row = codes + r * dimension;
        __m256i acc = _mm256_setzero_si256();
        for (size_t j = 0; j < whole; j += 16) {
            __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + j)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(c, _mm256_loadu_si256((const __m256i *)(query + j))));
        }
        int32_t sum = horizontal_sum(acc);
        for (size_t j = whole; j < dimension; j++) sum += (int32_t)query[j] * (int32_t)row[j];
        out[r] = sum;
    }
}

// One 32-byte load is 64 dimensions: the low halves (a mask) and the high halves (a shift and a mask) are
// unsigned bytes already, so vpmaddubsw multiplies them by the signed 8-bit weights and adds pairs (at
// most 2 x 15 x 127 each: no saturation), the two products add in 16 bits (at most 7,620), and one
// vpmaddwd by ones widens the sums to 32 bits.
__attribute__((target("avx2"))) static void scores_u4_avx2(const uint8_t *restrict codes, size_t count,
                                                           size_t dimension, const int8_t *restrict query,
                                                           int32_t *restrict out) {
    size_t groups = (dimension + 63) / 64;
    const __m256i low = _mm256_set1_epi8(15);
    const __m256i ones = _mm256_set1_epi16(1);
    size_t bytes_per_row = groups * 32;
    for (size_t r = 0; r < count; r++) {
        const uint8_t *row = codes + r * bytes_per_row;
        __m256i acc = _mm256_setzero_si256();
        for (size_t g = 0; g < groups; g++) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(row + 32 * g));
            __m256i lo = _mm256_and_si256(bytes, low);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
            const int8_t *q = query + 64 * g;
            __m256i pairs = _mm256_add_epi16(
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q)),
                _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q + 32))));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        }
        out[r] = horizontal_sum(acc);
    }
}

static int has_avx2(void) { return engram_kernel_level() >= ENGRAM_KERNELS_AVX2; }
#endif

void engram_scores_u8(const uint8_t *restrict codes, size_t count, size_t dimension,
                      const int16_t *restrict query, int32_t *restrict out) {
#if defined(__x86_64__)
    if (has_avx2()) {
        scores_u8_avx2(codes, count, dimension, query, out);
        return;
    }
#endif
    scores_u8_plain(codes, count, dimension, query, out);
}

void engram_scores_u4(const uint8_t *restrict codes, size_t count, size_t dimension,
                      const int8_t *restrict query, int32_t *restrict out) {
#if defined(__x86_64__)
    if (has_avx2()) {
        scores_u4_avx2(codes, count, dimension, query, out);
        return;
    }
#endif
    scores_u4_plain(codes, count, dimension, query, out);
}

int32_t engram_scores_u8_reference(const uint8_t *codes, size_t dimension, const int16_t *query) {
    int32_t out;
    scores_u8_plain(codes, 1, dimension, query, &out);
    return out;
}

int32_t engram_scores_u4_reference(const uint8_t *codes, size_t dimension, const int8_t *query) {
    int32_t out;
    scores_u4_plain(codes, 1, dimension, query, &out);
    return out;
}
