/* micro_kernels.h - the AVX2 micro-kernels that the direct convolution (conv_direct.c) and
 * Winograd's per-frequency matrix products (conv_winograd_forward.c, conv_winograd_wgrad.c)
 * both run (with an AVX-512 product beside them, micro_kernels_avx512.c), and the small helpers
 * they share. x86 only: elsewhere only wino_avx512 is defined. */
#ifndef NSR_MICRO_KERNELS_H
#define NSR_MICRO_KERNELS_H

#include <stddef.h>

#include "kernels/cpu.h"

/* Whether Winograd's products run on 512-bit vectors (product_avx512 below): the CPU has
 * AVX-512F and NSR_KERNELS is not "avx2" (which keeps them to fwd_micro, for tests and
 * benchmarks; the bits are the same). 0 elsewhere than on x86. */
int wino_avx512(void);

#if FAST_X86

#define CO 6        /* output channels per micro-kernel block */
#define CO_NARROW 4 /* ... in the narrow blocks of Winograd's products */
#define NVMAX 2 /* vectors of 8 output pixels per micro-kernel */

static inline size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* The weight-gradient pieces [*gp0, *gp1) of chunk [g0, g0 + np) that the chunk's kernel set
 * si sums: every piece when the kernels are shared (per_sample = 0), else only the pieces
 * (bands of `bands` per sample) of sample n0 + si. */
static inline void wgrad_set_pieces(int per_sample, int n0, int si, int bands, int g0, int np,
                                    int *gp0, int *gp1) {
    *gp0 = g0;
    *gp1 = g0 + np;
    if (per_sample) {
        if ((n0 + si) * bands > g0) *gp0 = (n0 + si) * bands;
        if ((n0 + si + 1) * bands < g0 + np) *gp1 = (n0 + si + 1) * bands;
    }
}

/* Lane masks: mask_src + 8 - n as 8 ints has its first n lanes set. */
static const int mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* The first n (0..8) lanes of p, zero elsewhere; p is not read past them. */
INLINE AVX2 __m256 load_lanes(const float *p, int n) {
    if (n >= 8) return _mm256_loadu_ps(p);
    if (n <= 0) return _mm256_setzero_ps();
    return _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(mask_src + 8 - n)));
}

/* The micro-kernel: CW (CO, or CO_NARROW) output channels x NV vectors of 8 pixels,
 *   dst[j*oplane + 8v + i] (=, or += with accumulate) = bias[j]
 *       + sum_{c,ky,kx} wp[(c*K*K + ky*K + kx)*CW + j] src[c*cplane + ky*Wp + kx + 8v + i]
 * for j < nj (bias may be NULL); the last vector stores its first `lanes` lanes only. CW, K
 * and NV are constants after inlining, so the taps unroll and the CW*NV accumulators live in
 * registers: per tap it loads NV input vectors, broadcasts CW weights and issues CW*NV FMAs.
 * Of the shapes that fill the 16 registers (4x3, 3x3, 5x2, 6x2) 6x2 ran fastest here (about
 * 88% of the FMA peak, against 80% for 4x3, whose 16 live registers made the compiler reload
 * inputs). With K = 1 it is a matrix product: Winograd's per-frequency products run it so, with
 * the narrow 4x2 shape for the last rows where 6 would compute rows past the output's (8
 * accumulators still cover the FMA's latency at two per cycle). */
INLINE AVX2 void fwd_micro(float *dst, size_t oplane, int nj, int lanes, const float *src,
                           size_t cplane, int Wp, const float *wp, int cin, const float *bias,
                           int accumulate, const int CW, const int K, const int NV) {
    __m256 acc[CO][NVMAX];
#pragma GCC unroll 8
    for (int j = 0; j < CW; j++) {
        const __m256 b = _mm256_set1_ps(bias && j < nj ? bias[j] : 0.0f);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[j][v] = b;
    }
    for (int c = 0; c < cin; c++, src += cplane, wp += K * K * CW) {
#pragma GCC unroll 5
        for (int ky = 0; ky < K; ky++) {
            const float *row = src + (size_t)ky * Wp;
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) {
                __m256 x[NVMAX];
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) x[v] = _mm256_loadu_ps(row + kx + 8 * v);
                const float *wt = wp + (ky * K + kx) * CW;
#pragma GCC unroll 8
                for (int j = 0; j < CW; j++) {
                    const __m256 wb = _mm256_broadcast_ss(wt + j);
#pragma GCC unroll 8
                    for (int v = 0; v < NV; v++) acc[j][v] = _mm256_fmadd_ps(wb, x[v], acc[j][v]);
                }
            }
        }
    }
    const __m256i tail = _mm256_loadu_si256((const __m256i *)(mask_src + 8 - lanes));
#pragma GCC unroll 8
    for (int j = 0; j < CW; j++) {
        if (j >= nj) break;
        float *d = dst + j * oplane;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
            __m256 a = acc[j][v];
            if (v < NV - 1 || lanes == 8) {
                if (accumulate) a = _mm256_add_ps(a, _mm256_loadu_ps(d + 8 * v));
                _mm256_storeu_ps(d + 8 * v, a);
            } else {
                if (accumulate) a = _mm256_add_ps(a, _mm256_maskload_ps(d + 8 * v, tail));
                _mm256_maskstore_ps(d + 8 * v, tail, a);
            }
        }
    }
}

/* fwd_micro's matrix product (K = 1, no bias) on 512-bit vectors (micro_kernels_avx512.c),
 * for CPUs with AVX-512F only: cw (CO or CO_NARROW) output channels x n pixels, n <= 32,
 *   dst[j*oplane + p] (=, or += with accumulate) = sum_{c < cin} wp[c*cw + j] src[c*cplane + p]
 * for j < nj, p < n; nothing past pixel n is read or written. The same bits as fwd_micro. */
void product_avx512(float *dst, size_t oplane, int nj, int n, const float *src, size_t cplane,
                    const float *wp, int cin, int accumulate, int cw);

/* product_avx512 with cw = CO, n <= 16, for two blocks of CO output channels at once, their
 * weights wp0 and wp1, into dst0 and dst1 (all CO rows of each). */
void product_pair_avx512(float *dst0, float *dst1, size_t oplane, int n, const float *src,
                         size_t cplane, const float *wp0, const float *wp1, int cin,
                         int accumulate);

/* v[i] lane l <- v[l] lane i: an 8x8 transpose in registers. */
INLINE AVX2 void transpose8(__m256 v[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20), v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20), v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31), v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31), v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* The sum of a vector's 8 lanes. */
INLINE AVX2 float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The weight gradients' micro-kernel, a block of dot products over pixels (or tiles):
 *   acc[j*NX + i] += g[j*gstride + q] * x[i*xstride + q]  (lane q % 8), q < len
 * for j < NG, i < NX (constants after inlining, NG*NX <= 12), len a multiple of 8. Each step
 * loads NX x vectors and NG g vectors for NG*NX FMAs into the vector accumulators, which stay
 * in registers through the loop. The direct weight gradient passes one input row shifted by kx
 * as the x rows (xstride 1), Winograd's NX channels of one frequency. */
INLINE AVX2 void dot_micro(__m256 *acc, const float *g, size_t gstride, const float *x,
                           size_t xstride, int len, const int NG, const int NX) {
    enum { MAXACC = 12, MAXX = 5 };
    __m256 a[MAXACC];
#pragma GCC unroll 12
    for (int i = 0; i < NG * NX; i++) a[i] = acc[i];
    for (int q = 0; q < len; q += 8) {
        __m256 xv[MAXX];
#pragma GCC unroll 5
        for (int i = 0; i < NX; i++) xv[i] = _mm256_loadu_ps(x + i * xstride + q);
#pragma GCC unroll 8
        for (int j = 0; j < NG; j++) {
            const __m256 gv = _mm256_loadu_ps(g + j * gstride + q);
#pragma GCC unroll 5
            for (int i = 0; i < NX; i++) a[j * NX + i] = _mm256_fmadd_ps(gv, xv[i], a[j * NX + i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < NG * NX; i++) acc[i] = a[i];
}

/* Pixels (or tiles) per dot_micro call in the weight gradients: its lanes are summed into
 * double every SUB, and the g rows (12 KB for 3) stay in L1 across the calls of a block. */
#define SUB 1024

/* sum_{q < len} g[q], len a multiple of 8 (a bias gradient's share), in double like the
 * reference's: a gradient whose terms cancel exactly, as the L1 loss's +-1/n often do, then
 * comes out exactly 0, and Adam's first step on it stays 0 rather than lr * tiny / (tiny +
 * eps). */
INLINE AVX2 double vsum(const float *g, int len) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (int q = 0; q < len; q += 8) {
        const __m256 v = _mm256_loadu_ps(g + q);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double out[4];
    _mm256_storeu_pd(out, _mm256_add_pd(lo, hi));
    return (out[0] + out[1]) + (out[2] + out[3]);
}

#endif
#endif
