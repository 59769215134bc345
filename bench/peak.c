/* peak.c - the machine's FMA throughput, timed in the same rounds as the convolutions it is
 * compared with (what a shared machine gives a process changes from second to second).
 *
 * Each thread runs CHAINS independent dependency chains acc = acc * m + c on 256-bit registers.
 * An FMA has a latency of about 4 cycles and two of them can start per cycle (Zen 3, and Intel
 * cores since Haswell), so at least 8 chains are needed to keep both units busy; 12 leave room
 * and still fit the 16 ymm registers with m and c. m < 1 keeps the values bounded (they tend to
 * c / (1 - m)), so no overflow or denormal slows the loop down. The build targets x86-64-v2, so
 * the loop is compiled for AVX2+FMA on its own and only run when the CPU has both.
 *
 * Where the convolutions' products run on 512-bit vectors (the kernels "avx512": the CPU has
 * AVX-512F, and NSR_KERNELS does not say "avx2"), the peak is that of 512-bit FMAs, the same
 * chains on zmm registers: a core whose units are 512 bits wide (Zen 5) does twice the work per
 * FMA, and a share of a 256-bit peak would then overstate what the kernels reach. */
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "bench.h"

#define CHAINS 12

/* The 512-bit chains, as fma_chains below. */
__attribute__((target("avx512f"))) static float fma_chains_512(long iters, float seed) {
    const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    __m512 a[CHAINS];
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps(seed + (float)i);
    for (long t = 0; t < iters; t++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
#pragma GCC unroll 12
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, a[i]);
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    return lanes[0] + lanes[15];
}

/* iters rounds of CHAINS FMAs; returns a sum of the chains so that none can be dropped. */
__attribute__((target("avx2,fma"))) static float fma_chains(long iters, float seed) {
    const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
    __m256 a0 = _mm256_set1_ps(seed), a1 = _mm256_set1_ps(seed + 1), a2 = _mm256_set1_ps(seed + 2);
    __m256 a3 = _mm256_set1_ps(seed + 3), a4 = _mm256_set1_ps(seed + 4), a5 = _mm256_set1_ps(seed + 5);
    __m256 a6 = _mm256_set1_ps(seed + 6), a7 = _mm256_set1_ps(seed + 7), a8 = _mm256_set1_ps(seed + 8);
    __m256 a9 = _mm256_set1_ps(seed + 9), a10 = _mm256_set1_ps(seed + 10), a11 = _mm256_set1_ps(seed + 11);
    for (long t = 0; t < iters; t++) {
        a0 = _mm256_fmadd_ps(a0, m, c), a1 = _mm256_fmadd_ps(a1, m, c), a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c), a4 = _mm256_fmadd_ps(a4, m, c), a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c), a7 = _mm256_fmadd_ps(a7, m, c), a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c), a10 = _mm256_fmadd_ps(a10, m, c), a11 = _mm256_fmadd_ps(a11, m, c);
    }
    const __m256 s = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                      _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))),
        _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[0] + lanes[7];
}

int bench_fma_init(bench_fma *f, double gflop, int threads) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return -1;
    f->wide = strcmp(eng_bench_kernels(), "avx512") == 0;
    /* flops of one loop round */
    const double per_round = (double)threads * CHAINS * (f->wide ? 16 : 8) * 2;
    f->threads = threads;
    f->iters = (long)(gflop * 1e9 / per_round) + 1;
    f->gflop = (double)f->iters * per_round * 1e-9;
    return 0;
}

void bench_fma_run(void *ctx) {
    bench_fma *f = ctx;
    float total = 0;
#pragma omp parallel num_threads(f->threads) reduction(+ : total)
    total += (f->wide ? fma_chains_512 : fma_chains)(f->iters, (float)omp_get_thread_num());
    f->sink = total;
}
