/* micro_kernels_avx512.c - fwd_micro's matrix product (K = 1) on 512-bit vectors, for the CPUs
 * that have AVX-512 (micro_kernels.h). Winograd's per-frequency products and the weight
 * gradient's sums are such products; where AVX-512's units are as wide as its registers (AMD's
 * Zen 5, Intel's server cores), a 16-lane FMA does twice an 8-lane one's work in the same time.
 *
 * Each output element is the same chain of FMAs as in fwd_micro, in the same order (over c,
 * from the accumulator's start at 0), only more lanes at a time, so both give the same bits:
 * tests/test_conv_kernels.c holds them equal, and a training run resumed on the other kind of
 * CPU continues as it would have. */
#include <stdlib.h>
#include <string.h>

#include "kernels/micro_kernels.h"

int wino_avx512(void) {
    const char *k = getenv("NSR_KERNELS");
    return cpu_has_avx512f() && !(k && strcmp(k, "avx2") == 0);
}

#if FAST_X86

#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define NZMAX 2 /* 16-lane vectors of pixels per call */

/* CW output channels x NZ vectors of 16 pixels: dst[j*oplane + p] (=, or += with accumulate) =
 * sum_{c < cin} wp[c*CW + j] src[c*cplane + p] for j < nj and p < n (n <= 16*NZ), reading
 * and writing no pixel past n (masked lanes). CW*NZ accumulators in registers (12 at 6 x 2: enough
 * to cover the FMA's latency at two per cycle). */
INLINE AVX512 void product_body(float *dst, size_t oplane, int nj, int n, const float *src,
                                size_t cplane, const float *wp, int cin, int accumulate,
                                const int CW, const int NZ) {
    __m512 acc[CO][NZMAX];
#pragma GCC unroll 8
    for (int j = 0; j < CW; j++)
#pragma GCC unroll 2
        for (int v = 0; v < NZ; v++) acc[j][v] = _mm512_setzero_ps();
    __mmask16 keep[NZMAX];
#pragma GCC unroll 2
    for (int v = 0; v < NZ; v++) {
        const int left = n - 16 * v;
        keep[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
    }
    for (int c = 0; c < cin; c++, src += cplane, wp += CW) {
        __m512 x[NZMAX];
#pragma GCC unroll 2
        for (int v = 0; v < NZ; v++) x[v] = _mm512_maskz_loadu_ps(keep[v], src + 16 * v);
#pragma GCC unroll 8
        for (int j = 0; j < CW; j++) {
            const __m512 wb = _mm512_set1_ps(wp[j]);
#pragma GCC unroll 2
            for (int v = 0; v < NZ; v++) acc[j][v] = _mm512_fmadd_ps(wb, x[v], acc[j][v]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < CW; j++) {
        if (j >= nj) break;
        float *d = dst + j * oplane;
#pragma GCC unroll 2
        for (int v = 0; v < NZ; v++) {
            __m512 a = acc[j][v];
            if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(keep[v], d + 16 * v));
            _mm512_mask_storeu_ps(d + 16 * v, keep[v], a);
        }
    }
}

/* Two blocks of CO output channels whose weights lie apart (wp0, wp1), on one vector of 16
 * pixels: 12 accumulators where one block alone has 6, too few to cover the FMA's latency. */
AVX512 void product_pair_avx512(float *dst0, float *dst1, size_t oplane, int n, const float *src,
                                size_t cplane, const float *wp0, const float *wp1, int cin,
                                int accumulate) {
    __m512 acc[2][CO];
#pragma GCC unroll 8
    for (int j = 0; j < CO; j++) acc[0][j] = acc[1][j] = _mm512_setzero_ps();
    const __mmask16 keep = n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
    for (int c = 0; c < cin; c++, src += cplane, wp0 += CO, wp1 += CO) {
        const __m512 x = _mm512_maskz_loadu_ps(keep, src);
#pragma GCC unroll 8
        for (int j = 0; j < CO; j++) {
            acc[0][j] = _mm512_fmadd_ps(_mm512_set1_ps(wp0[j]), x, acc[0][j]);
            acc[1][j] = _mm512_fmadd_ps(_mm512_set1_ps(wp1[j]), x, acc[1][j]);
        }
    }
    float *dst[2] = {dst0, dst1};
#pragma GCC unroll 2
    for (int b = 0; b < 2; b++)
#pragma GCC unroll 8
        for (int j = 0; j < CO; j++) {
            __m512 a = acc[b][j];
            float *d = dst[b] + j * oplane;
            if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(keep, d));
            _mm512_mask_storeu_ps(d, keep, a);
        }
}

AVX512 void product_avx512(float *dst, size_t oplane, int nj, int n, const float *src,
                           size_t cplane, const float *wp, int cin, int accumulate, int cw) {
    const int two = n > 16;
    if (cw == CO && two) product_body(dst, oplane, nj, n, src, cplane, wp, cin, accumulate, CO, 2);
    else if (cw == CO) product_body(dst, oplane, nj, n, src, cplane, wp, cin, accumulate, CO, 1);
    else if (two) product_body(dst, oplane, nj, n, src, cplane, wp, cin, accumulate, CO_NARROW, 2);
    else product_body(dst, oplane, nj, n, src, cplane, wp, cin, accumulate, CO_NARROW, 1);
}

#endif
