#include "ckernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// The kernel level in use: 0 until the first call reads the CPU and $ENGRAM_KERNELS.
static _Atomic int chosen = 0;
// A level for the calling thread only (0: none), which tests use to run each level's kernels without
// changing what other threads run.
static _Thread_local int thread_level = 0;

int engram_kernel_level_supported(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return ENGRAM_KERNELS_AVX512;
    if (__builtin_cpu_supports("x86-64-v3")) return ENGRAM_KERNELS_AVX2;
#endif
    return ENGRAM_KERNELS_BASELINE;
}

int engram_kernel_level_named(const char *name) {
    if (name == NULL || *name == 0 || strcmp(name, "auto") == 0) return 0;
    if (strcmp(name, "avx512") == 0) return ENGRAM_KERNELS_AVX512;
    if (strcmp(name, "avx2") == 0) return ENGRAM_KERNELS_AVX2;
    if (strcmp(name, "baseline") == 0) return ENGRAM_KERNELS_BASELINE;
    return -1;
}

static int set_kernel_level(int level) {
    int supported = engram_kernel_level_supported();
    int set = level <= 0 || level > supported ? supported : level;
    atomic_store_explicit(&chosen, set, memory_order_relaxed);
    return set;
}

int engram_use_kernel_level_on_this_thread(int level) {
    int supported = engram_kernel_level_supported();
    thread_level = level <= 0 ? 0 : level > supported ? supported : level;
    return thread_level;
}

int engram_kernel_level(void) {
    if (thread_level) return thread_level;
    int level = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (level == 0) level = set_kernel_level(engram_kernel_level_named(getenv("ENGRAM_KERNELS")));
    return level;
}
