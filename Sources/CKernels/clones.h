#ifndef ENGRAM_CLONES_H
#define ENGRAM_CLONES_H

#include "ckernels.h"

// Each kernel is compiled three times, for x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA, F16C) and baseline
// x86-64, and every call goes to the variant of engram_kernel_level(): the widest the CPU runs, or the
// narrower one $ENGRAM_KERNELS asks for. An explicit switch on one cached level instead of
// target_clones: an ifunc is resolved once at load time, so the AVX2 path could not be chosen (or
// measured) on an AVX-512 machine, and its resolver ran before the sanitizers' runtimes (a crash at load
// under `make tsan`). The switch costs one predictable branch per call; every kernel loops over rows.
//
// A kernel is written once as an always-inline body, ENGRAM_BODY; ENGRAM_KERNEL (for functions
// returning a value) and ENGRAM_KERNEL_VOID define the variants and the exported function from it.
#define ENGRAM_BODY static inline __attribute__((always_inline))

#if defined(__x86_64__) && defined(__clang__)
#define ENGRAM_VARIANTS(ret, name, body, params, args, result)                                    \
    __attribute__((target("arch=x86-64-v4"))) static ret name##_v4 params { result body args; } \
    __attribute__((target("arch=x86-64-v3"))) static ret name##_v3 params { result body args; } \
    static ret name##_v1 params { result body args; }                                           \
    ret name params {                                                                            \
        switch (engram_kernel_level()) {                                                         \
        case ENGRAM_KERNELS_AVX512: result name##_v4 args; break;                                \
        case ENGRAM_KERNELS_AVX2: result name##_v3 args; break;                                  \
        default: result name##_v1 args; break;                                                   \
        }                                                                                        \
    }
#else
#define ENGRAM_VARIANTS(ret, name, body, params, args, result) \
    ret name params { result body args; }
#endif

#define ENGRAM_KERNEL(ret, name, body, params, args) ENGRAM_VARIANTS(ret, name, body, params, args, return)
#define ENGRAM_KERNEL_VOID(name, body, params, args) ENGRAM_VARIANTS(void, name, body, params, args, )

#endif
