// Kernels of the MiniLM encoder. The linear layers are a matrix product against weights packed once at
// load time, with bias, GELU and the residual sum fused into the product's epilogue; OpenBLAS repacks
// the weights on every call (27 % of the encoder's time in a profile on this project's machine) and
// needs separate passes for the rest.
#include "ckernels.h"
#include "clones.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#endif


#define PANEL ENGRAM_PANEL_WIDTH  // output columns per packed panel: two 8-float vectors
#define MR 6                      // rows per register block: 6 x 2 accumulators + 2 weights + 1 broadcast

typedef float v8f __attribute__((ext_vector_type(8)));

// Unaligned vector load and store, as macros: a function taking or returning v8f would change the ABI
// of the baseline (non-AVX) clone.
#define load8(p) ({ v8f v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store8(p, v) do { v8f v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)

void engram_pack_panels(const float *restrict weights, size_t outputs, size_t inputs, float *restrict packed) {
    for (size_t p = 0; p < outputs / PANEL; p++)
        for (size_t k = 0; k < inputs; k++)
            for (size_t j = 0; j < PANEL; j++)
                packed[(p * inputs + k) * PANEL + j] = weights[(p * PANEL + j) * inputs + k];
}

ENGRAM_BODY void pack_panels_f16(const float *restrict weights, size_t outputs, size_t inputs, uint16_t *restrict packed) {
    _Float16 *halves = (_Float16 *)packed;
    for (size_t p = 0; p < outputs / PANEL; p++)
        for (size_t k = 0; k < inputs; k++)
            for (size_t j = 0; j < PANEL; j++)
                halves[(p * inputs + k) * PANEL + j] = (_Float16)weights[(p * PANEL + j) * inputs + k];
}
ENGRAM_KERNEL_VOID(engram_pack_panels_f16, pack_panels_f16,
                   (const float *restrict weights, size_t outputs, size_t inputs, uint16_t *restrict packed),
                   (weights, outputs, inputs, packed))

// e^x for x <= 0, clamped at -87 (near the smallest normal float; the result never goes subnormal):
// Cody-Waite reduction to |r| <= ln 2 / 2 and a degree-7 Taylor polynomial, relative error ~5e-9 before
// rounding. The rounding trick needs the default rounding mode and no reassociation, which is why no fp
// pragma covers these functions. One scalar form, which loops vectorise, and one on eight lanes.
#define EXP_MAGIC 12582912.0f  // 1.5 * 2^23: adding it rounds to an integer
#define EXP_ROUND(x) (((x) * 1.44269504088896341f + EXP_MAGIC) - EXP_MAGIC)
#define EXP_REDUCE(x, n) ((x) - (n) * 0.693145751953125f - (n) * 1.42860682030941723e-6f)
#define EXP_POLY(r) \
    (1.0f + (r) * (1.0f + (r) * (0.5f + (r) * (1.0f / 6 + (r) * (1.0f / 24 + (r) * (1.0f / 120 + (r) * (1.0f / 720 + (r) * (1.0f / 5040))))))))

static inline float exp_nonpositive(float x) {
    x = fmaxf(x, -87.0f);
    const float n = EXP_ROUND(x), r = EXP_REDUCE(x, n);
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return EXP_POLY(r) * scale;
}

typedef int32_t v8i __attribute__((ext_vector_type(8)));

// Vectors go by pointer, for the reason load8 is a macro.
static inline __attribute__((always_inline)) void exp8_nonpositive(v8f *value) {
    const v8f x = __builtin_elementwise_max(*value, (v8f)-87.0f);
    const v8f n = EXP_ROUND(x), r = EXP_REDUCE(x, n);
    const v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
    *value = EXP_POLY(r) * (v8f)bits;
}

// 0.5 x (1 + erf(x / sqrt 2)) on eight values in registers, erf from Abramowitz & Stegun 7.1.26 (absolute
// error below 1.5e-7). Applied to the accumulators before they are stored: a scalar loop over the stored
// outputs, even vectorised by the compiler, cost the 1536-wide product a fifth of its time.
static inline __attribute__((always_inline)) void gelu8(v8f *value) {
    const v8f x = *value, z = x * 0.70710678118654752f;
    const v8i sign = (v8i)z & (int32_t)0x80000000;
    const v8f a = (v8f)((v8i)z & (int32_t)0x7fffffff);
    const v8f t = 1.0f / (1.0f + 0.3275911f * a);
    const v8f poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    v8f e = -a * a;
    exp8_nonpositive(&e);
    const v8f erf_abs = 1.0f - poly * e;
    *value = 0.5f * x * (1.0f + (v8f)((v8i)erf_abs | sign));
}

typedef _Float16 v8h __attribute__((ext_vector_type(8)));

// Sixteen weights of a panel row as two float vectors, widened from half precision when `half`.
#define weights16(half, panel, t, w0, w1)                                                      \
    do {                                                                                       \
        if (half) {                                                                            \
            v8h h0_, h1_;                                                                      \
            memcpy(&h0_, (const _Float16 *)(panel) + (t) * PANEL, sizeof h0_);                 \
            memcpy(&h1_, (const _Float16 *)(panel) + (t) * PANEL + 8, sizeof h1_);             \
            w0 = __builtin_convertvector(h0_, v8f);                                            \
            w1 = __builtin_convertvector(h1_, v8f);                                            \
        } else {                                                                               \
            w0 = load8((const float *)(panel) + (t) * PANEL);                                  \
            w1 = load8((const float *)(panel) + (t) * PANEL + 8);                              \
        }                                                                                      \
    } while (0)

// One block of `mr` rows by one panel of 16 outputs over the whole depth, accumulators in registers.
// The rows come interleaved (`rows[t * MR + i]` is row i's input t), so each step reads two weight vectors
// and `mr` consecutive floats. `mr` and `half` (weights in half precision) are constants at every call
// site, so the row loops unroll and the element type is fixed.
static inline __attribute__((always_inline)) void block(
    const int mr, const int half, const float *restrict rows, size_t depth, const void *restrict panel,
    const float *restrict bias, float *restrict out, size_t ldo, enum engram_epilogue epilogue, const char *next) {
#pragma clang fp contract(fast)
    v8f lo[MR], hi[MR];
    const v8f b0 = load8(bias), b1 = load8(bias + 8);
    for (int i = 0; i < mr; i++) {
        lo[i] = b0;
        hi[i] = b1;
    }
#pragma clang loop unroll_count(4)
    for (size_t t = 0; t < depth; t++) {
        v8f w0, w1;
        weights16(half, panel, t, w0, w1);
        if (next) __builtin_prefetch(next + t * PANEL * (half ? 2 : 4));
        for (int i = 0; i < mr; i++) {
            const v8f s = rows[t * MR + i];
            lo[i] += s * w0;
            hi[i] += s * w1;
        }
    }
    for (int i = 0; i < mr; i++) {
        float *o = out + i * ldo;
        if (epilogue == ENGRAM_EPILOGUE_ADD) {
            lo[i] += load8(o);
            hi[i] += load8(o + 8);
        }
        if (epilogue == ENGRAM_EPILOGUE_GELU) {
            gelu8(&lo[i]);
            gelu8(&hi[i]);
        }
        store8(o, lo[i]);
        store8(o + 8, hi[i]);
    }
}

// Rows in groups whose interleaved copy (at most this many bytes) stays in the 512 KiB L2 while every
// weight panel passes over it.
#ifndef GROUP_BYTES
#define GROUP_BYTES (48 * 1024)
#endif

#define PREFETCH_ROWS (4 * MR)

// Copies rows [r0, r1) of x into blocks of `mr_max` rows, each stored input by input (`block_rows[t *
// mr_max + i]` is row i's input t), so the kernel reads one block's inputs at a step as consecutive floats.
static inline __attribute__((always_inline)) void interleave(
    const float *restrict x, size_t r0, size_t r1, size_t inputs, size_t mr_max, float *restrict interleaved) {
    for (size_t r = r0; r < r1; r += mr_max) {
        size_t mr = r1 - r < mr_max ? r1 - r : mr_max;
        float *block_rows = interleaved + (r - r0) * inputs;
        for (size_t i = 0; i < mr; i++)
            for (size_t t = 0; t < inputs; t++) block_rows[t * mr_max + i] = x[(r + i) * inputs + t];
    }
}

// Rows per group for blocks of `mr_max` rows (at least one block), and a buffer for their interleaved copy.
static inline __attribute__((always_inline)) float *row_group(size_t inputs, size_t mr_max, size_t *group) {
    *group = (GROUP_BYTES / (inputs * sizeof(float))) / mr_max * mr_max;
    if (*group < mr_max) *group = mr_max;
    float *interleaved = malloc(*group * inputs * sizeof(float));
    if (!interleaved) abort();  // a few dozen KiB; nothing sensible to do without it
    return interleaved;
}

static inline __attribute__((always_inline)) void linear(
    const int half, const float *restrict x, size_t rows, size_t inputs, const void *restrict packed,
    const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride, enum engram_epilogue epilogue) {
    const size_t panel_bytes = inputs * PANEL * (half ? 2 : 4);
    size_t group;
    float *interleaved = row_group(inputs, MR, &group);
    for (size_t r0 = 0; r0 < rows; r0 += group) {
        size_t r1 = r0 + group < rows ? r0 + group : rows;
        interleave(x, r0, r1, inputs, MR, interleaved);
        for (size_t p = 0; p < outputs / PANEL; p++) {
            const char *panel = (const char *)packed + p * panel_bytes;
            const float *b = bias + p * PANEL;
            // With few rows (one sentence) the weights stream from memory and the product would wait for
            // them, so the first row block pulls the next panel in line by line (+10 % single sentences
            // here); with many rows the next panel is needed late enough to come on its own.
            const char *next = rows <= PREFETCH_ROWS && p + 1 < outputs / PANEL ? panel + panel_bytes : NULL;
            for (size_t r = r0; r < r1; r += MR, next = NULL) {
                const float *a = interleaved + (r - r0) * inputs;
                float *o = out + r * out_stride + p * PANEL;
                switch (r1 - r < MR ? r1 - r : MR) {
                case 6: block(6, half, a, inputs, panel, b, o, out_stride, epilogue, next); break;
                case 5: block(5, half, a, inputs, panel, b, o, out_stride, epilogue, next); break;
                case 4: block(4, half, a, inputs, panel, b, o, out_stride, epilogue, next); break;
                case 3: block(3, half, a, inputs, panel, b, o, out_stride, epilogue, next); break;
                case 2: block(2, half, a, inputs, panel, b, o, out_stride, epilogue, next); break;
                default: block(1, half, a, inputs, panel, b, o, out_stride, epilogue, next); break;
                }
            }
        }
    }
    free(interleaved);
}

#if defined(__x86_64__) && defined(__clang__)
#define ENGRAM_TILE16 1
#define AVX512 __attribute__((target("avx512f")))
#define MR16 12  // rows per 16-lane block: 12 accumulators (8 and 16 measure the same; 20 spills, half the speed)

typedef float v16f __attribute__((ext_vector_type(16)));
typedef _Float16 v16h __attribute__((ext_vector_type(16)));

// Starts a 16-lane block's `mr` accumulators at the panel's bias.
static inline __attribute__((always_inline)) AVX512 void start16(const int mr, v16f *restrict acc, const float *restrict bias) {
    v16f b;
    memcpy(&b, bias, sizeof b);
    for (int i = 0; i < mr; i++) acc[i] = b;
}

// Stores a 16-lane block's `mr` accumulators (bias and products summed) through the epilogue.
static inline __attribute__((always_inline)) AVX512 void finish16(
    const int mr, v16f *restrict acc, float *restrict out, size_t ldo, enum engram_epilogue epilogue) {
    for (int i = 0; i < mr; i++) {
        float *o = out + i * ldo;
        if (epilogue == ENGRAM_EPILOGUE_ADD) {
            v16f sum;
            memcpy(&sum, o, sizeof sum);
            acc[i] += sum;
        }
        if (epilogue == ENGRAM_EPILOGUE_GELU) {  // the 8-lane GELU on each half
            v8f lo = acc[i].lo, hi = acc[i].hi;
            gelu8(&lo);
            gelu8(&hi);
            acc[i].lo = lo;
            acc[i].hi = hi;
        }
        memcpy(o, &acc[i], sizeof acc[i]);
    }
}

// One block of `mr` rows by one panel over the whole depth on AVX-512: a panel row is one 16-float vector,
// so a step is one weight load (and one widening from half precision) for `mr` fused multiply-adds, each
// taking its row's input straight from memory as a broadcast operand. The 8-lane tile spends two weight
// loads and conversions and `mr` separate broadcasts on twice as few multiply-adds; on this project's
// Zen 4 machine, which splits 512-bit operations in two, the wide tile still gains by issuing fewer
// instructions per multiply-add.
static inline __attribute__((always_inline)) AVX512 void block16(
    const int mr, const int half, const float *restrict rows, size_t depth, const void *restrict panel,
    const float *restrict bias, float *restrict out, size_t ldo, enum engram_epilogue epilogue) {
#pragma clang fp contract(fast)
    v16f acc[MR16];
    start16(mr, acc, bias);
#pragma clang loop unroll_count(4)
    for (size_t t = 0; t < depth; t++) {
        v16f w;
        if (half) {
            v16h h;
            memcpy(&h, (const _Float16 *)panel + t * PANEL, sizeof h);
            w = __builtin_convertvector(h, v16f);
        } else {
            memcpy(&w, (const float *)panel + t * PANEL, sizeof w);
        }
        for (int i = 0; i < mr; i++) acc[i] += rows[t * MR16 + i] * w;
    }
    finish16(mr, acc, out, ldo, epilogue);
}

// `linear` with 16-lane blocks of MR16 rows. Unlike the 8-lane tile it does not prefetch the next panel
// for a few rows (one sentence): one sentence at a time gained as much as batches without it (84 -> 101
// and 101 -> 122 whole memories/s), and a prefetch variant was not tried.
static AVX512 void linear16(const int half, const float *restrict x, size_t rows, size_t inputs,
                            const void *restrict packed, const float *restrict bias, size_t outputs,
                            float *restrict out, size_t out_stride, enum engram_epilogue epilogue) {
    const size_t panel_bytes = inputs * PANEL * (half ? 2 : 4);
    size_t group;
    float *interleaved = row_group(inputs, MR16, &group);
    for (size_t r0 = 0; r0 < rows; r0 += group) {
        size_t r1 = r0 + group < rows ? r0 + group : rows;
        interleave(x, r0, r1, inputs, MR16, interleaved);
        for (size_t p = 0; p < outputs / PANEL; p++) {
            const char *panel = (const char *)packed + p * panel_bytes;
            const float *b = bias + p * PANEL;
            for (size_t r = r0; r < r1; r += MR16) {
                const float *a = interleaved + (r - r0) * inputs;
                float *o = out + r * out_stride + p * PANEL;
#define BLOCK16(n) case n: if (half) block16(n, 1, a, inputs, panel, b, o, out_stride, epilogue); \
                           else block16(n, 0, a, inputs, panel, b, o, out_stride, epilogue); break
                switch (r1 - r < MR16 ? r1 - r : MR16) {
                BLOCK16(12); BLOCK16(11); BLOCK16(10); BLOCK16(9); BLOCK16(8); BLOCK16(7);
                BLOCK16(6); BLOCK16(5); BLOCK16(4); BLOCK16(3); BLOCK16(2); default: BLOCK16(1);
                }
#undef BLOCK16
            }
        }
    }
    free(interleaved);
}

// bfloat16: the top half of a float32, rounded to nearest even (a NaN stays a NaN).
static inline uint16_t bf16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float float_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#define BF16 __attribute__((target("avx512f,avx512bf16")))

// One block of `mr` rows by one panel with the CPU's bfloat16 dot products: each step multiplies a pair of
// inputs by a pair of weights in each of 16 lanes and adds both products to the float32 accumulator, twice
// the multiply-adds of a float32 FMA per instruction. `pairs[t * MR16 + i]` holds row i's inputs 2t and
// 2t + 1, broadcast to every lane; a panel row holds 16 outputs' weight pairs.
static inline __attribute__((always_inline)) BF16 void block_bf16(
    const int mr, const uint32_t *restrict pairs, size_t depth, const uint16_t *restrict panel,
    const float *restrict bias, float *restrict out, size_t ldo, enum engram_epilogue epilogue) {
    v16f acc[MR16];
    start16(mr, acc, bias);
#pragma clang loop unroll_count(4)
    for (size_t t = 0; t < depth; t++) {
        const __m512bh w = (__m512bh)_mm512_loadu_si512(panel + t * 2 * PANEL);
        for (int i = 0; i < mr; i++)
            acc[i] = (v16f)_mm512_dpbf16_ps((__m512)acc[i], (__m512bh)_mm512_set1_epi32((int)pairs[t * MR16 + i]), w);
    }
    finish16(mr, acc, out, ldo, epilogue);
}

static BF16 void linear_bf16(const float *restrict x, size_t rows, size_t inputs, const uint16_t *restrict packed,
                             const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride,
                             enum engram_epilogue epilogue) {
    const size_t depth = inputs / 2;
    size_t group;
    uint32_t *pairs = (uint32_t *)row_group(inputs, MR16, &group);  // half the bytes of the float copy
    for (size_t r0 = 0; r0 < rows; r0 += group) {
        size_t r1 = r0 + group < rows ? r0 + group : rows;
        for (size_t r = r0; r < r1; r += MR16) {
            size_t mr = r1 - r < MR16 ? r1 - r : MR16;
            uint32_t *block_pairs = pairs + (r - r0) * depth;
            for (size_t i = 0; i < mr; i++)
                for (size_t t = 0; t < depth; t++)
                    block_pairs[t * MR16 + i] = (uint32_t)bf16_from_float(x[(r + i) * inputs + 2 * t]) |
                                                (uint32_t)bf16_from_float(x[(r + i) * inputs + 2 * t + 1]) << 16;
        }
        for (size_t p = 0; p < outputs / PANEL; p++) {
            const uint16_t *panel = packed + p * inputs * PANEL;
            const float *b = bias + p * PANEL;
            for (size_t r = r0; r < r1; r += MR16) {
                const uint32_t *a = pairs + (r - r0) * depth;
                float *o = out + r * out_stride + p * PANEL;
#define BLOCK_BF16(n) case n: block_bf16(n, a, depth, panel, b, o, out_stride, epilogue); break
                switch (r1 - r < MR16 ? r1 - r : MR16) {
                BLOCK_BF16(12); BLOCK_BF16(11); BLOCK_BF16(10); BLOCK_BF16(9); BLOCK_BF16(8); BLOCK_BF16(7);
                BLOCK_BF16(6); BLOCK_BF16(5); BLOCK_BF16(4); BLOCK_BF16(3); BLOCK_BF16(2); default: BLOCK_BF16(1);
                }
#undef BLOCK_BF16
            }
        }
    }
    free(pairs);
}
#endif

int engram_bf16_supported(void) {
#ifdef ENGRAM_TILE16
    return engram_kernel_level() >= ENGRAM_KERNELS_AVX512 && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

void engram_pack_panels_bf16(const float *restrict weights, size_t outputs, size_t inputs, uint16_t *restrict packed) {
    for (size_t p = 0; p < outputs / PANEL; p++)
        for (size_t t = 0; t < inputs / 2; t++)
            for (size_t j = 0; j < PANEL; j++)
                for (size_t e = 0; e < 2; e++)
                    packed[((p * (inputs / 2) + t) * PANEL + j) * 2 + e] =
                        bf16_from_float(weights[(p * PANEL + j) * inputs + 2 * t + e]);
}

void engram_linear_bf16(const float *restrict x, size_t rows, size_t inputs, const uint16_t *restrict packed,
                        const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride,
                        enum engram_epilogue epilogue, enum engram_tile tile) {
#ifdef ENGRAM_TILE16
    if (tile != ENGRAM_TILE_8 && engram_bf16_supported())
        return linear_bf16(x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue);
#endif
    // Elsewhere the same products of the same rounded operands, one at a time: correct on any CPU, but slow
    // (Engram prefers bfloat16 weights only where the CPU has the dot products).
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < outputs; o++) {
            const uint16_t *w = packed + (o / PANEL) * inputs * PANEL + (o % PANEL) * 2;
            float sum = bias[o];
            for (size_t t = 0; t < inputs / 2; t++)
                for (size_t e = 0; e < 2; e++)
                    sum += float_from_bf16(bf16_from_float(x[r * inputs + 2 * t + e])) *
                           float_from_bf16(w[t * 2 * PANEL + e]);
            float *y = out + r * out_stride + o;
            if (epilogue == ENGRAM_EPILOGUE_ADD) sum += *y;
            if (epilogue == ENGRAM_EPILOGUE_GELU) sum = 0.5f * sum * (1.0f + erff(sum * 0.70710678118654752f));
            *y = sum;
        }
}

int engram_tile16_supported(void) {
#ifdef ENGRAM_TILE16
    return engram_kernel_level() >= ENGRAM_KERNELS_AVX512;
#else
    return 0;
#endif
}

// The tile for a call: ENGRAM_TILE_AUTO means the widest the CPU runs; a tile it cannot run falls back.
static int use_tile16(enum engram_tile tile) {
    return tile != ENGRAM_TILE_8 && engram_tile16_supported();
}

ENGRAM_BODY void linear_layer(const float *restrict x, size_t rows, size_t inputs, const float *restrict packed,
                   const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride,
                   enum engram_epilogue epilogue, enum engram_tile tile) {
#ifdef ENGRAM_TILE16
    if (use_tile16(tile)) return linear16(0, x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue);
#endif
    linear(0, x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue);
}
ENGRAM_KERNEL_VOID(engram_linear, linear_layer,
                   (const float *restrict x, size_t rows, size_t inputs, const float *restrict packed, const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride, enum engram_epilogue epilogue, enum engram_tile tile),
                   (x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue, tile))

ENGRAM_BODY void linear_layer_f16(const float *restrict x, size_t rows, size_t inputs, const uint16_t *restrict packed,
                       const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride,
                       enum engram_epilogue epilogue, enum engram_tile tile) {
#ifdef ENGRAM_TILE16
    if (use_tile16(tile)) return linear16(1, x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue);
#endif
    linear(1, x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue);
}
ENGRAM_KERNEL_VOID(engram_linear_f16, linear_layer_f16,
                   (const float *restrict x, size_t rows, size_t inputs, const uint16_t *restrict packed, const float *restrict bias, size_t outputs, float *restrict out, size_t out_stride, enum engram_epilogue epilogue, enum engram_tile tile),
                   (x, rows, inputs, packed, bias, outputs, out, out_stride, epilogue, tile))

ENGRAM_BODY void layer_norm(float *restrict x, size_t rows, size_t width, const float *restrict weight,
                       const float *restrict bias, float epsilon) {
#pragma clang fp reassociate(on)
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * width;
        double mean = 0;
        for (size_t j = 0; j < width; j++) mean += row[j];
        mean /= (double)width;
        double variance = 0;
        for (size_t j = 0; j < width; j++) {
            double d = row[j] - mean;
            variance += d * d;
        }
        variance /= (double)width;
        double inverse = 1 / sqrt(variance + epsilon);
        for (size_t j = 0; j < width; j++) row[j] = (float)((row[j] - mean) * inverse) * weight[j] + bias[j];
    }
}
ENGRAM_KERNEL_VOID(engram_layer_norm, layer_norm,
                   (float *restrict x, size_t rows, size_t width, const float *restrict weight, const float *restrict bias, float epsilon),
                   (x, rows, width, weight, bias, epsilon))

ENGRAM_BODY void attention(const float *restrict q, const float *restrict k, const float *restrict v, size_t length,
                      size_t stride, size_t heads, size_t width, float scale, float *restrict context,
                      size_t context_stride) {
#pragma clang fp reassociate(on) contract(fast)
    if (length < PANEL) {
        // A short sequence (most sentences), pair by pair: packing the products would cost more than it saves.
        float scores[PANEL];
        for (size_t h = 0; h < heads; h++) {
            const size_t column = h * width;
            for (size_t i = 0; i < length; i++) {
                const float *qi = q + i * stride + column;
                float maximum = -INFINITY;
                for (size_t j = 0; j < length; j++) {
                    const float *kj = k + j * stride + column;
                    float dot = 0;
                    for (size_t d = 0; d < width; d++) dot += qi[d] * kj[d];
                    scores[j] = dot * scale;
                    maximum = fmaxf(maximum, scores[j]);
                }
                float sum = 0;
                for (size_t j = 0; j < length; j++) {
                    scores[j] = exp_nonpositive(scores[j] - maximum);
                    sum += scores[j];
                }
                const float inverse = 1 / sum;
                float *ci = context + i * context_stride + column;
                for (size_t d = 0; d < width; d++) ci[d] = 0;
                for (size_t j = 0; j < length; j++) {
                    const float *vj = v + j * stride + column;
                    const float p = scores[j] * inverse;
                    for (size_t d = 0; d < width; d++) ci[d] += p * vj[d];
                }
            }
        }
        return;
    }
    // Longer sequences: both products of a head, Q Kᵀ and P V, run on the linear layers' kernel with the
    // keys and the transposed values packed as its weights (1.5x faster at 16 tokens, 3.7x at 256, where
    // the pairwise loops cost as much as the layer's linear products).
    const size_t keys = (length + PANEL - 1) / PANEL * PANEL;  // padded with zero keys to whole panels
    const size_t values = (width + PANEL - 1) / PANEL * PANEL;
    const size_t widest = keys > values ? keys : values;
    float *buffer = calloc(length * width + keys * width + values * keys + keys * widest + length * keys
                               + length * values + widest, sizeof(float));
    if (!buffer) abort();  // at most a few MiB; nothing sensible to do without it
    float *queries = buffer;                          // length x width, the head's queries side by side
    float *head_keys = queries + length * width;      // keys x width; rows past `length` stay zero
    float *transposed = head_keys + keys * width;     // values x keys: the head's V transposed, zero-padded
    float *packed = transposed + values * keys;
    float *scores = packed + keys * widest;           // length x keys: scores, then softmax weights
    float *head_context = scores + length * keys;     // length x values
    const float *zeros = head_context + length * values;  // the products' bias
    for (size_t h = 0; h < heads; h++) {
        const size_t column = h * width;
        for (size_t i = 0; i < length; i++) {
            memcpy(queries + i * width, q + i * stride + column, width * sizeof(float));
            memcpy(head_keys + i * width, k + i * stride + column, width * sizeof(float));
            for (size_t d = 0; d < width; d++) transposed[d * keys + i] = v[i * stride + column + d];
        }
        engram_pack_panels(head_keys, keys, width, packed);
        engram_linear(queries, length, width, packed, zeros, keys, scores, keys, ENGRAM_EPILOGUE_NONE, ENGRAM_TILE_AUTO);
        for (size_t i = 0; i < length; i++) {  // softmax of the row's real keys; the padding's weights are 0
            float *row = scores + i * keys;
            float maximum = -INFINITY;
            for (size_t j = 0; j < length; j++) maximum = fmaxf(maximum, row[j]);
            for (size_t j = 0; j < keys; j++) row[j] = exp_nonpositive(fminf((row[j] - maximum) * scale, 0));
            float sum = 0;
            for (size_t j = 0; j < length; j++) sum += row[j];
            const float inverse = 1 / sum;
            for (size_t j = 0; j < keys; j++) row[j] = j < length ? row[j] * inverse : 0;
        }
        engram_pack_panels(transposed, values, keys, packed);
        engram_linear(scores, length, keys, packed, zeros, values, head_context, values, ENGRAM_EPILOGUE_NONE,
                      ENGRAM_TILE_AUTO);
        for (size_t i = 0; i < length; i++)
            memcpy(context + i * context_stride + column, head_context + i * values, width * sizeof(float));
    }
    free(buffer);
}
ENGRAM_KERNEL_VOID(engram_attention, attention,
                   (const float *restrict q, const float *restrict k, const float *restrict v, size_t length, size_t stride, size_t heads, size_t width, float scale, float *restrict context, size_t context_stride),
                   (q, k, v, length, stride, heads, width, scale, context, context_stride))
