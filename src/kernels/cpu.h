/* cpu.h - the kernel layer's one CPU check and its AVX2 compile macros. Code for AVX2 + FMA is
 * compiled for it whatever -march says (the build targets x86-64-v2) and called only after
 * cpu_has_avx2_fma() said yes. Elsewhere than on x86 FAST_X86 is 0, AVX2 compiles for the
 * baseline and the check says no. */
#ifndef NSR_KERNELS_CPU_H
#define NSR_KERNELS_CPU_H

#if defined(__x86_64__) || defined(__i386__)
#define FAST_X86 1
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#else
#define FAST_X86 0
#define AVX2
#endif

#define INLINE static inline __attribute__((always_inline))

/* 1 when the CPU has AVX-512F (x86 only), else 0. */
static inline int cpu_has_avx512f(void) {
#if FAST_X86
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* 1 when the CPU has AVX2 and FMA (x86 only), else 0. */
static inline int cpu_has_avx2_fma(void) {
#if FAST_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#endif
