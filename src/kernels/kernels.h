/* kernels.h - what the kernel layer (src/kernels/) offers the network layer above it (private to
 * libnsr): 2-D convolutions, with per-sample or mixed kernels, and the mixing of kernel groups.
 * The kernels know nothing of layers, models or NSR's selection: a mixture's coefficients are
 * numbers they are given (or a callback that makes them).
 *
 * Conventions as in nn/engine.h: float * tensors in NCHW order, shapes in the comments; forward
 * functions write (=), backward functions add (+=) into every gradient.
 *
 * Files: conv_dispatch.c (the nn_conv2d_* entry points and the choice of path), conv_direct.c
 * (direct AVX2 kernels), conv_winograd_forward.c and conv_winograd_wgrad.c (Winograd),
 * conv_reference.c (the oracle), kernel_mix.c (mixing), thread_scratch.c (per-thread buffers);
 * micro_kernels.h and conv_paths.h are their internal headers. */
#ifndef NSR_KERNELS_H
#define NSR_KERNELS_H

#include <stddef.h>

/* What a convolution does to its result before storing it (NULL: nothing): adds a residual
 * tensor of the output's shape, applies ReLU, then keeps only the elements where a gate of the
 * output's shape is positive; the fast kernels do it as they store each tile, saving separate
 * passes over the output (a residual block's two convs; the gate is ReLU's backward, fused
 * into the input gradient of the conv that reads the ReLU's output). */
typedef struct nn_conv_post {
    const float *residual; /* (N, cout, H, W) added, or NULL */
    int relu;              /* 1: out = max(out, 0) after the sum */
    const float *gate;     /* (N, cout, H, W): out = gate > 0 ? out : 0, last; or NULL */
} nn_conv_post;

/* 2-D convolution, K x K (K odd), stride 1, zero padding K/2, with bias, then post (or NULL).
 *   out (N, cout, H, W) = conv(inp (N, cin, H, W), w) + b
 * Sample n uses the kernels w + n*wstride, (cout, cin, K, K), and the bias b + n*bstride, (cout):
 * strides of 0 share one set of weights across the batch; NSR's per-sample mixed kernels pass
 * the size of one set. b may be NULL (no bias). */
void nn_conv2d_forward(float *out, const float *inp, const float *w, size_t wstride,
                       const float *b, size_t bstride, int N, int cin, int cout, int H, int W,
                       int K, const nn_conv_post *post);
/* Gradients for dout (N, cout, H, W): dinp (N, cin, H, W) += ..., then dinp_post applied to
 * dinp (NULL: nothing), dw (laid out like w, same stride) += ..., db (like b) += ... With
 * per-sample weights each sample's dw and db are separate; with shared ones they sum over the
 * batch. dinp and db may be NULL. */
void nn_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, size_t wstride, size_t bstride, int N, int cin, int cout,
                        int H, int W, int K, const nn_conv_post *dinp_post);

/* Per-sample kernels given as mixtures of `groups` kernel groups (NSR.md's k), group i at
 * w + i*wstride (cout, cin, K, K), one after another (wstride = cout*cin*K*K, as an NSR conv
 * stores them): sample n's output channel o = j*(cout/cards) + t has the kernel
 *   sum_i coef[(n*groups + i)*cards + j] * (group i's kernel o)
 * (NSR.md section 2, step 4, with coef the selection gamma). */
typedef struct nn_kernel_mix {
    const float *coef; /* (N, groups, cards) */
    int groups, cards; /* cards divides cout */
    /* NULL, or sample n's coefficients (and the biases passed with them) are made by
     * select(select_ctx, n), which the convolution calls once per sample before it uses
     * them, in the thread that runs the sample where it runs samples whole */
    void (*select)(void *select_ctx, int n);
    void *select_ctx;
    int one_hot; /* with select: every sample's coefficients will be one group (hard selection) */
} nn_kernel_mix;
/* The convolution with mixed kernels, without forming them: out = conv(inp, mixed kernels) +
 * b + n*bstride, and the input gradient dinp += ... through them. The mixture is linear, so
 * Winograd's kernel transform is applied to the groups once per call and the transforms are
 * mixed per sample. Return 1 when done, 0 (having written nothing) when no fast path fits
 * (reference kernels, no AVX2, a shape Winograd does not take, no memory): the caller then
 * mixes the kernels itself (nn_kernel_mix_forward) for nn_conv2d_forward/backward. */
int nn_conv2d_forward_mix(float *out, const float *inp, const float *w, size_t wstride,
                          const nn_kernel_mix *mix, const float *b, size_t bstride, int N,
                          int cin, int cout, int H, int W, int K, const nn_conv_post *post);
int nn_conv2d_backward_input_mix(float *dinp, const float *dout, const float *w, size_t wstride,
                                 const nn_kernel_mix *mix, int N, int cin, int cout, int H,
                                 int W, int K, const nn_conv_post *dinp_post);
/* nn_conv2d_forward and nn_conv2d_backward run the fast kernels (AVX2 + FMA, K = 1, 3, 5: the
 * direct ones of conv_direct.c; 3x3 from 16 channels by Winograd: F(4x4, 3x3) in the forward
 * and the input gradient, conv_winograd_forward.c, F(2x2, 3x3) in the weight gradient,
 * conv_winograd_wgrad.c) when the CPU has them, and the reference otherwise, or when the
 * environment variable NSR_KERNELS is "reference", or when the fast kernels' scratch memory
 * cannot be allocated; NSR_KERNELS=direct keeps the fast kernels without Winograd. Results are
 * the same bit for bit for any number of threads; the paths differ by float rounding.
 * nn_conv2d_kernels() names the path taken: "avx2", "avx2-direct" or "reference". */
const char *nn_conv2d_kernels(void);
/* The reference (conv_reference.c): plain direct loops, the oracle the fast kernels are tested
 * against. */
void nn_conv2d_forward_ref(float *out, const float *inp, const float *w, size_t wstride,
                           const float *b, size_t bstride, int N, int cin, int cout, int H,
                           int W, int K);
void nn_conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, size_t wstride, size_t bstride,
                            int N, int cin, int cout, int H, int W, int K);
/* The fast kernels alone (for tests and benchmarks): return 1 when they ran, 0 (having
 * written nothing) when this CPU or K has none or scratch memory ran out. */
int nn_conv2d_forward_fast(float *out, const float *inp, const float *w, size_t wstride,
                           const float *b, size_t bstride, int N, int cin, int cout, int H,
                           int W, int K, const nn_conv_post *post);
int nn_conv2d_backward_fast(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, size_t wstride, size_t bstride,
                            int N, int cin, int cout, int H, int W, int K,
                            const nn_conv_post *dinp_post);

/* ---------------------------------------------------------------- kernel_mix.c */

/* The mixed kernels and biases themselves, for N samples (mix->select is not called: the
 * coefficients must be there). With ksz = cin*K*K, for output channel o = j*(cout/cards) + t:
 *   wmix[n][o] = sum_i coef[n][i][j] w[i*cout + o],  bmix[n][o] = sum_i coef[n][i][j] b[i*cout + o]
 * w (groups*cout, ksz), b (groups*cout); wmix (N, cout, ksz), bmix (N, cout); either may be
 * NULL (then w or b may be too). Groups with a coefficient of exactly 0 (hard selection) are
 * skipped, so only the chosen group's kernel is read. The sums run in increasing i, in float
 * for the kernels and in double for the biases. */
void nn_kernel_mix_forward(float *wmix, float *bmix, const float *w, const float *b,
                           const nn_kernel_mix *mix, int N, int cout, size_t ksz);
/* dw (groups*cout, ksz), db (groups*cout), dcoef (N, groups, cards) += ... from dwmix, dbmix. */
void nn_kernel_mix_backward(float *dw, float *db, float *dcoef, const float *dwmix,
                            const float *dbmix, const float *w, const float *b,
                            const nn_kernel_mix *mix, int N, int cout, size_t ksz);
/* The one group sample n's mixture is (its coefficients one-hot on the same group for every
 * cardinal: hard selection), or -1. */
int nn_kernel_mix_one_group(const nn_kernel_mix *mix, int n);
/* sum over e < len of x[e] (y NULL) or x[e] y[e], in double, added in a fixed order, so that
 * the AVX2 and the plain build give the same bits (a spatial mean, a dot product). */
double nn_lane_sum(const float *x, const float *y, size_t len);
/* x[e] += c for e < len, then x[e] = +0 where gate (NULL: none) is not positive: a constant's
 * gradient added to a plane, through a ReLU whose output is gate. Exact: the same bits on every
 * CPU. */
void nn_add_gated(float *x, const float *gate, float c, size_t len);

#endif
