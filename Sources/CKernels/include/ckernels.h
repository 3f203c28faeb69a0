#ifndef ENGRAM_CKERNELS_H
#define ENGRAM_CKERNELS_H

#include <stddef.h>

/// Kernel levels: each kernel below is compiled for these and runs the level engram_kernel_level() says.
enum engram_kernels { ENGRAM_KERNELS_BASELINE = 1, ENGRAM_KERNELS_AVX2 = 3, ENGRAM_KERNELS_AVX512 = 4 };

/// The widest level this CPU runs (x86-64-v4: AVX-512 F/BW/CD/DQ/VL; x86-64-v3: AVX2, FMA, F16C, BMI).
int engram_kernel_level_supported(void);

/// The level in use. Chosen at the first call: $ENGRAM_KERNELS (`avx512`, `avx2`, `baseline` or `auto`)
/// when it names a level this CPU runs, else the widest it runs.
int engram_kernel_level(void);

/// Uses `level` (lowered to what the CPU runs) for calls from this thread only; 0 goes back to the process's
/// level. Returns the level set. For tests.
int engram_use_kernel_level_on_this_thread(int level);

/// The level a name means: `avx512`, `avx2`, `baseline`; 0 for `auto`, empty or NULL; -1 for others.
int engram_kernel_level_named(const char *name);

/// out[r] = dot(rows + r * stride, query) for r in [0, count), each row `dimension` floats long.
void engram_scores_f32(const float *rows, size_t count, size_t dimension, size_t stride,
                       const float *query, float *out);

/// out[q * count + r] = dot(rows + r * stride, queries + q * dimension) for q in [0, query_count):
/// several queries per pass, each row chunk loaded once for four queries, for small batches where a
/// GEMM's packing of the rows costs more than the arithmetic.
void engram_scores_multi_f32(const float *rows, size_t count, size_t dimension, size_t stride,
                             const float *queries, size_t query_count, float *out);

#include <stdint.h>

/// out[r] = dot(rows + r * stride, query) for IEEE half-precision rows (stride in elements): a fused
/// convert-and-multiply scan, so float16 storage is read once at half the bytes.
void engram_scores_f16(const uint16_t *rows, size_t count, size_t dimension, size_t stride,
                       const float *query, float *out);

/// Writes to out the positions r in [0, count) with scores[r] > threshold, in order, and returns how
/// many (out must hold count). NaN scores are never above.
size_t engram_indices_above(const float *scores, size_t count, float threshold, int32_t *out);

/// out[r] = sum_j query[j] * codes[r * dimension + j]: integer scores of 8-bit quantised rows (the
/// approximate index's codes). The caller keeps |query[j]| * 255 * dimension below 2^31.
void engram_scores_u8(const uint8_t *codes, size_t count, size_t dimension, const int16_t *query,
                      int32_t *out);

/// Integer scores of 4-bit codes, two per byte in groups of 64 dimensions: byte i of group g holds
/// dimension 64g + i in its low half and 64g + 32 + i in its high half; rows are 32 bytes per group
/// apart. `query` holds 64 signed 8-bit weights per group (zeros past the dimension).
void engram_scores_u4(const uint8_t *codes, size_t count, size_t dimension, const int8_t *query,
                      int32_t *out);

/// The plain C loops behind engram_scores_u8 and engram_scores_u4 for one row, for tests of the
/// vectorised ones.
int32_t engram_scores_u8_reference(const uint8_t *codes, size_t dimension, const int16_t *query);
int32_t engram_scores_u4_reference(const uint8_t *codes, size_t dimension, const int8_t *query);

/// Converts floats to IEEE half precision (round to nearest even).
void engram_f32_to_f16(const float *source, uint16_t *destination, size_t count);

/// Converts IEEE half precision to floats (exact).
void engram_f16_to_f32(const uint16_t *source, float *destination, size_t count);

/// Output columns per packed weight panel; a packed layer's output count must be a multiple of it.
#define ENGRAM_PANEL_WIDTH 16

/// What `engram_linear` does with each output after the product and bias.
enum engram_epilogue {
    ENGRAM_EPILOGUE_NONE = 0,  ///< out = x W^T + b
    ENGRAM_EPILOGUE_GELU = 1,  ///< out = gelu(x W^T + b)
    ENGRAM_EPILOGUE_ADD = 2,   ///< out += x W^T + b (a residual sum)
};

/// The register tile of the linear kernels.
enum engram_tile {
    ENGRAM_TILE_AUTO = 0,  ///< the widest the CPU runs
    ENGRAM_TILE_8 = 1,     ///< 8-float vectors, 6 rows by 16 outputs (AVX2, or SSE on older CPUs)
    ENGRAM_TILE_16 = 2,    ///< 16-float vectors, 12 rows by 16 outputs (AVX-512 only; elsewhere the 8 tile)
};

/// Whether this CPU (and its operating system) runs the 16-float tile.
int engram_tile16_supported(void);

/// Repacks a PyTorch-layout weight matrix (`outputs` x `inputs`, row-major) into panels of
/// ENGRAM_PANEL_WIDTH output columns, each stored input by input: `outputs * inputs` floats.
void engram_pack_panels(const float *weights, size_t outputs, size_t inputs, float *packed);

/// out (rows x outputs, rows `out_stride` floats apart) = epilogue(x (rows x inputs) . W^T + bias) with W
/// packed by engram_pack_panels. A range of panels is a product of its own: offset `packed` by
/// `p * inputs * ENGRAM_PANEL_WIDTH` and `bias` and `out` by `p * ENGRAM_PANEL_WIDTH`.
/// The GELU is 0.5 y (1 + erf(y / sqrt 2)) with erf from Abramowitz & Stegun 7.1.26 (absolute error
/// below 1.5e-7, float rounding).
void engram_linear(const float *x, size_t rows, size_t inputs, const float *packed, const float *bias,
                   size_t outputs, float *out, size_t out_stride, enum engram_epilogue epilogue,
                   enum engram_tile tile);

/// engram_pack_panels rounding each weight to IEEE half precision (nearest even).
void engram_pack_panels_f16(const float *weights, size_t outputs, size_t inputs, uint16_t *packed);

/// engram_linear with weights packed by engram_pack_panels_f16, widened to float as they are read.
void engram_linear_f16(const float *x, size_t rows, size_t inputs, const uint16_t *packed, const float *bias,
                       size_t outputs, float *out, size_t out_stride, enum engram_epilogue epilogue,
                       enum engram_tile tile);

/// Whether this CPU runs bfloat16 dot products (AVX512_BF16), which engram_linear_bf16 uses.
int engram_bf16_supported(void);

/// engram_pack_panels rounding each weight to bfloat16 (nearest even), in pairs of consecutive inputs:
/// a panel row holds, for each of its ENGRAM_PANEL_WIDTH outputs, the weights of inputs 2t and 2t + 1.
/// `inputs` must be even; `outputs * inputs` values, so a range of panels offsets as in engram_linear.
void engram_pack_panels_bf16(const float *weights, size_t outputs, size_t inputs, uint16_t *packed);

/// engram_linear with weights packed by engram_pack_panels_bf16 and the inputs rounded to bfloat16: each
/// pair of products summed into float32 by the CPU's bfloat16 dot product (16 lanes, 12 rows a block).
/// `inputs` must be even. With ENGRAM_TILE_8, or on a CPU without AVX512_BF16, the same rounded products
/// are computed one by one (slowly).
void engram_linear_bf16(const float *x, size_t rows, size_t inputs, const uint16_t *packed, const float *bias,
                        size_t outputs, float *out, size_t out_stride, enum engram_epilogue epilogue,
                        enum engram_tile tile);

/// LayerNorm of each row in place: (x - mean) / sqrt(variance + epsilon) * weight + bias, statistics in double.
void engram_layer_norm(float *x, size_t rows, size_t width, const float *weight, const float *bias, float epsilon);

/// Scaled dot-product attention of one sequence: q, k and v rows `stride` floats apart, context rows
/// `context_stride` apart, `heads` heads of `width` columns each; context = softmax(scale q k^T) v per
/// head.
void engram_attention(const float *q, const float *k, const float *v, size_t length, size_t stride, size_t heads,
                      size_t width, float scale, float *context, size_t context_stride);

/// A hint to the processor inside a spin-wait loop (x86 PAUSE): the spinning thread yields execution
/// resources to a sibling hardware thread, and leaving the loop does not flush the pipeline.
static inline void engram_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
