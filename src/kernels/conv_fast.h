/* conv_fast.h - what the fast convolutions (conv_fast.c: direct kernels and dispatch;
 * conv_winograd_forward.c: Winograd F(4x4, 3x3) forward and input gradient; conv_winograd_wgrad.c:
 * Winograd F(2x2, 3x3) weight gradient) share: the AVX2 micro-kernels, which both the direct
 * convolution and Winograd's per-frequency matrix products run, and small helpers. x86 only:
 * elsewhere FAST_X86 is 0 and nothing else here is defined. */
#ifndef NSR_CONV_FAST_H
#define NSR_CONV_FAST_H

#include <stddef.h>
#include <stdlib.h>

#include "nn/engine.h"

#if defined(__x86_64__) || defined(__i386__)
#define FAST_X86 1
#include <immintrin.h>
#else
#define FAST_X86 0
#endif

#if FAST_X86

/* Compiled for AVX2 + FMA whatever -march says; called only after the run-time CPU check. */
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

#define CO 6    /* output channels per micro-kernel block */
#define NVMAX 2 /* vectors of 8 output pixels per micro-kernel */

static inline size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* The weight-gradient pieces [*gp0, *gp1) of chunk [g0, g0 + np) that one kernel group sums:
 * every piece when the kernels are shared (per_sample = 0), else only the pieces (bands of
 * `bands` per sample) of sample n0 + grp. */
static inline void wgrad_group_pieces(int per_sample, int n0, int grp, int bands, int g0, int np,
                                      int *gp0, int *gp1) {
    *gp0 = g0;
    *gp1 = g0 + np;
    if (per_sample) {
        if ((n0 + grp) * bands > g0) *gp0 = (n0 + grp) * bands;
        if ((n0 + grp + 1) * bands < g0 + np) *gp1 = (n0 + grp + 1) * bands;
    }
}

/* A 64-byte aligned block of n floats (n > 0), or NULL. Not cleared: every float the kernels
 * read is written first (clearing megabytes per call would cost more than some convolutions). */
static inline float *alloc_floats(size_t n) {
    return aligned_alloc(64, round_up(n * sizeof(float), 64));
}

/* Scratch memory the calling thread keeps between calls: slot's block of at least n floats
 * (64-byte aligned, contents left from before), or NULL when out of memory; freed when the
 * thread ends. A training step or a tiled inference runs the same convolutions over and over:
 * allocated afresh each call, their megabytes of scratch made the kernel map and clear pages
 * every time (both threads waiting on it: 6% of a 64 -> 64 conv on 2 threads). Each user has
 * its own slot, so one may hold its block while it calls another (the weight gradient's plan
 * while the input gradient runs). */
enum {
    SCRATCH_WINO_KERNELS, SCRATCH_WINO, SCRATCH_WGRAD_PIECES, SCRATCH_WGRAD,
    SCRATCH_DIRECT_KERNELS, SCRATCH_DIRECT_BANDS, SCRATCH_DIRECT_WGRAD, SCRATCH_SLOTS
};
float *thread_scratch(int slot, size_t n);

/* Lane masks: mask_src + 8 - n as 8 ints has its first n lanes set. */
static const int mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* The first n (0..8) lanes of p, zero elsewhere; p is not read past them. */
INLINE AVX2 __m256 load_lanes(const float *p, int n) {
    if (n >= 8) return _mm256_loadu_ps(p);
    if (n <= 0) return _mm256_setzero_ps();
    return _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(mask_src + 8 - n)));
}

/* The micro-kernel: CO output channels x NV vectors of 8 pixels,
 *   dst[j*oplane + 8v + i] (=, or += with accumulate) = bias[j]
 *       + sum_{c,ky,kx} wp[(c*K*K + ky*K + kx)*CO + j] src[c*cplane + ky*Wp + kx + 8v + i]
 * for j < nj (bias may be NULL); the last vector stores its first `lanes` lanes only. K and
 * NV are constants after inlining, so the taps unroll and the 12 accumulators live in
 * registers: per tap it loads NV input vectors, broadcasts CO weights and issues CO*NV FMAs.
 * Of the shapes that fill the 16 registers (4x3, 3x3, 5x2, 6x2) 6x2 ran fastest here (about
 * 88% of the FMA peak, against 80% for 4x3, whose 16 live registers made the compiler reload
 * inputs). With K = 1 it is a matrix product: Winograd's per-frequency products run it so. */
INLINE AVX2 void fwd_micro(float *dst, size_t oplane, int nj, int lanes, const float *src,
                           size_t cplane, int Wp, const float *wp, int cin, const float *bias,
                           int accumulate, const int K, const int NV) {
    __m256 acc[CO][NVMAX];
#pragma GCC unroll 8
    for (int j = 0; j < CO; j++) {
        const __m256 b = _mm256_set1_ps(bias && j < nj ? bias[j] : 0.0f);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[j][v] = b;
    }
    for (int c = 0; c < cin; c++, src += cplane, wp += K * K * CO) {
#pragma GCC unroll 5
        for (int ky = 0; ky < K; ky++) {
            const float *row = src + (size_t)ky * Wp;
#pragma GCC unroll 5
            for (int kx = 0; kx < K; kx++) {
                __m256 x[NVMAX];
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) x[v] = _mm256_loadu_ps(row + kx + 8 * v);
                const float *wt = wp + (ky * K + kx) * CO;
#pragma GCC unroll 8
                for (int j = 0; j < CO; j++) {
                    const __m256 wb = _mm256_broadcast_ss(wt + j);
#pragma GCC unroll 8
                    for (int v = 0; v < NV; v++) acc[j][v] = _mm256_fmadd_ps(wb, x[v], acc[j][v]);
                }
            }
        }
    }
    const __m256i tail = _mm256_loadu_si256((const __m256i *)(mask_src + 8 - lanes));
#pragma GCC unroll 8
    for (int j = 0; j < CO; j++) {
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

/* The one kernel set sample n's mixture is (its coefficients one-hot on the same set for
 * every cardinal: hard selection), or -1. */
int mix_single_set(const nn_kernel_mix *mix, int n);

/* conv_winograd_forward.c and conv_winograd_wgrad.c: whether Winograd should run this 3x3
 * convolution's forward (or input gradient), or weight gradient (enough channels and pixels to
 * amortise its transforms), and the convolution itself, forward-style like the direct one:
 *   out (N, cout, H, W) (=, or += with accumulate) = conv3x3(inp (N, cin, H, W)) + b
 * with kernels w + n*wstride, (cout, cin, 3, 3); or, with transposed, the kernels of the
 * convolution cout -> cin, (cin, cout, 3, 3), read in <-> out and flipped (the input gradient).
 * With mix (else NULL), sample n's kernels are the mixture of mix->sets sets at w + s*wstride
 * (engine.h's nn_kernel_mix; with transposed, the mixture's output channels are this
 * convolution's input channels). post (NULL: none): as nn_conv2d_forward's, applied after
 * the sum with accumulate. b may be NULL. Returns 0, having written nothing, when scratch
 * memory runs out. */
int wino_suits(int cin, int cout, int H, int W);
int wino_wgrad_suits(int cin, int cout, int H, int W);
int wino_conv3x3(float *out, const float *inp, const float *w, size_t wstride,
                 const nn_kernel_mix *mix, int transposed, const float *b, size_t bstride, int N,
                 int cin, int cout, int H, int W, int accumulate, const nn_conv_post *post);
/* And the weight gradient of a 3x3 convolution, like nn_conv2d_backward's (dw, db += ..., db
 * may be NULL), in two steps so that a caller can allocate everything before adding anything:
 * plan (NULL when out of memory), then run, which frees the plan (or free it unrun). */
typedef struct wino_wgrad wino_wgrad;
wino_wgrad *wino_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                            size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                            int W);
void wino_wgrad_run(wino_wgrad *plan);
void wino_wgrad_free(wino_wgrad *plan);

#endif
#endif
