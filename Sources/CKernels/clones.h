#ifndef ENGRAM_CLONES_H
#define ENGRAM_CLONES_H

// Kernels are compiled for AVX-512, AVX2 and baseline x86-64; the loader picks one per CPU through an
// ifunc resolver. Under ThreadSanitizer or AddressSanitizer that resolver is instrumented and runs
// before the sanitizer's runtime exists (a crash at load, found by `make tsan`), so sanitized builds
// use the baseline code only.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ENGRAM_SANITIZED 1
#endif
#endif

#if defined(__x86_64__) && defined(__clang__) && !defined(ENGRAM_SANITIZED)
#define ENGRAM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENGRAM_CLONES
#endif

#endif
