#include "ckernels.h"
#include "clones.h"

// One code row at a time, front to back, as engram_scores_f32: a sequential stream of bytes. clang turns
// the widening multiply-add into vpmaddwd (sixteen or thirty-two pairs per instruction) in the v3 and v4
// clones. Sums fit in 32 bits because callers bound the query's magnitude by the dimension.
ENGRAM_CLONES
void engram_scores_u8(const uint8_t *restrict codes, size_t count, size_t dimension,
                      const int16_t *restrict query, int32_t *restrict out) {
    for (size_t r = 0; r < count; r++) {
        const uint8_t *row = codes + r * dimension;
        int32_t sum = 0;
        for (size_t j = 0; j < dimension; j++) sum += (int32_t)query[j] * (int32_t)row[j];
        out[r] = sum;
    }
}

// Two 4-bit codes per byte, dimension 2j in the low half and 2j + 1 in the high half: half the bytes of
// the 8-bit codes per row, unpacked in registers.
ENGRAM_CLONES
void engram_scores_u4(const uint8_t *restrict codes, size_t count, size_t dimension,
                      const int16_t *restrict query, int32_t *restrict out) {
    size_t bytes = (dimension + 1) / 2;
    for (size_t r = 0; r < count; r++) {
        const uint8_t *row = codes + r * bytes;
        int32_t sum = 0;
        for (size_t j = 0; j < bytes; j++) {
            sum += (int32_t)query[2 * j] * (int32_t)(row[j] & 15) + (int32_t)query[2 * j + 1] * (int32_t)(row[j] >> 4);
        }
        out[r] = sum;
    }
}
