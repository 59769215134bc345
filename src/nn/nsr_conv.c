/* nsr_conv.c - the NSR convolution of NSR.md section 2: a side layer on the spatial mean of the
 * conv's input selects, per sample and per cardinal, a softmax mixture of k groups of kernels;
 * the mixed kernel is then one ordinary convolution (the conv in conv.c, with per-sample
 * weights). Selection and mixing are separate layers so that a residual block can share one
 * selection between its two convolutions. */
#include <math.h>
#include <string.h>

#include "nn/engine.h"

/* The loops below are written so that GCC vectorises them: fixed-width blocks of independent
 * lanes, no reassociation needed (the build has no -ffast-math and, being ISO C, no FMA
 * contraction). Each is compiled twice, for the build's baseline and for AVX2, and the AVX2 copy
 * is taken when the CPU has it. Both copies do the same operations in the same order, so they give
 * the same bits; and every output element is computed by one thread, so the thread count does
 * not change them either. */
#define NSR_AVX2 __attribute__((target("avx2,fma")))
#define INLINE_BODY static inline __attribute__((always_inline))

static int have_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* Terms per weighted_sum call: a whole mixture (k <= 64 in a model) or a chunk of a batch. */
#define MAX_TERMS 64
/* Floats per block of weighted_sum: 4 AVX registers of accumulators. */
#define SUM_LANES 32

/* dst[e] = (add ? dst[e] : 0) + sum over t < m of g[t] src[idx[t] stride + e], summed in
 * increasing t, for e < len; m <= MAX_TERMS. One pass over dst: each block of SUM_LANES
 * accumulates all m terms in registers before it is stored. */
INLINE_BODY void weighted_sum_body(float *dst, int add, const float *src, size_t stride,
                                   const int *idx, const float *g, int m, size_t len) {
    size_t e = 0;
    for (; e + SUM_LANES <= len; e += SUM_LANES) {
        float acc[SUM_LANES];
        /* fully unrolled, so that acc lives in registers and the SLP vectoriser packs it */
#pragma GCC unroll 32
        for (int l = 0; l < SUM_LANES; l++) acc[l] = add ? dst[e + l] : 0.0f;
        for (int t = 0; t < m; t++) {
            const float gt = g[t], *st = src + (size_t)idx[t] * stride + e;
#pragma GCC unroll 32
            for (int l = 0; l < SUM_LANES; l++) acc[l] += gt * st[l];
        }
#pragma GCC unroll 32
        for (int l = 0; l < SUM_LANES; l++) dst[e + l] = acc[l];
    }
    for (; e < len; e++) {
        float acc = add ? dst[e] : 0.0f;
        for (int t = 0; t < m; t++) acc += g[t] * src[(size_t)idx[t] * stride + e];
        dst[e] = acc;
    }
}

static void weighted_sum_plain(float *dst, int add, const float *src, size_t stride,
                               const int *idx, const float *g, int m, size_t len) {
    weighted_sum_body(dst, add, src, stride, idx, g, m, len);
}

NSR_AVX2 static void weighted_sum_avx2(float *dst, int add, const float *src, size_t stride,
                                       const int *idx, const float *g, int m, size_t len) {
    weighted_sum_body(dst, add, src, stride, idx, g, m, len);
}

/* Double lanes of the sums below: 4 AVX registers, enough independent chains to hide the
 * latency of the additions. */
#define DOT_LANES 16

/* sum of x[e] (y == NULL) or of x[e] y[e], e < len, in double: DOT_LANES partial sums, added in
 * a fixed order, then the tail. */
INLINE_BODY double lane_sum_body(const float *x, const float *y, size_t len) {
    double part[DOT_LANES] = {0};
    size_t e = 0;
    /* fully unrolled, so that part lives in registers, as in weighted_sum_body */
    if (y)
        for (; e + DOT_LANES <= len; e += DOT_LANES)
#pragma GCC unroll 16
            for (int l = 0; l < DOT_LANES; l++) part[l] += (double)x[e + l] * y[e + l];
    else
        for (; e + DOT_LANES <= len; e += DOT_LANES)
#pragma GCC unroll 16
            for (int l = 0; l < DOT_LANES; l++) part[l] += x[e + l];
    double sum = 0;
    for (int l = 0; l < DOT_LANES; l++) sum += part[l];
    for (; e < len; e++) sum += y ? (double)x[e] * y[e] : x[e];
    return sum;
}

static double lane_sum_plain(const float *x, const float *y, size_t len) {
    return lane_sum_body(x, y, len);
}

NSR_AVX2 static double lane_sum_avx2(const float *x, const float *y, size_t len) {
    return lane_sum_body(x, y, len);
}

/* 1. "p = spatial mean of the conv's own input x_n (length c_in)", channel c of sample n */
static float spatial_mean(const float *inp, const nn_nsr_dims *dm, int n, int c) {
    const size_t plane = (size_t)dm->h * dm->w;
    const float *x = inp + ((size_t)n * dm->cin + c) * plane;
    return (float)((have_avx2() ? lane_sum_avx2 : lane_sum_plain)(x, NULL, plane) / (double)plane);
}

/* Gumbel(0, 1) noise for logit r of sample n: -log(-log(u)), u uniform in (0, 1). */
static double gumbel_noise(const nn_select_opts *so, int n, int r, int kd) {
    return -log(-log(nsr_rng_uniform(so->seed, so->stream, (so->sample0 + (uint64_t)n) * kd + r)));
}

/* Steps 2-3 for sample n from its means p (cin) into gn (k*d), and the softmax weights the
 * backward differentiates into sn (k*d, may be NULL). */
static void select_from_means(float *gn, float *sn, const float *p, const float *A, const float *a,
                              const nn_nsr_dims *dm, const nn_select_opts *so, int n) {
    const int cin = dm->cin, k = dm->groups, d = dm->cards;
    const double inv_t = so ? 1.0 / so->temperature : 1.0;
    const int hard = so && so->hard;
    /* 2. "logits = A p + a, read as a k x d table, index i*d + j (group-major)"; in training,
     * optionally perturbed by Gumbel noise, so that the argmax samples the softmax */
    double z[NN_MAX_SELECT];
    for (int r = 0; r < k * d; r++) {
        double zr = a[r];
        for (int c = 0; c < cin; c++) zr += (double)A[(size_t)r * cin + c] * p[c];
        z[r] = (float)zr;
        if (so && so->gumbel > 0) z[r] = (float)(z[r] + so->gumbel * gumbel_noise(so, n, r, k * d));
    }
    /* 3. "gamma[i][j] = softmax over i (the k groups), separately for each cardinal j", of
     * z / T with a temperature T (the reference's T = 1); hard selection keeps only the argmax
     * group (the first maximum on ties), and the softmax, when asked for, is what a
     * straight-through backward differentiates in its place. */
    for (int j = 0; j < d; j++) {
        int best = 0;
        for (int i = 1; i < k; i++)
            if (z[i * d + j] > z[best * d + j]) best = i;
        float *soft = hard ? sn : gn;
        if (soft) {
            double sum = 0;
            for (int i = 0; i < k; i++) sum += exp((z[i * d + j] - z[best * d + j]) * inv_t);
            for (int i = 0; i < k; i++)
                soft[i * d + j] = (float)(exp((z[i * d + j] - z[best * d + j]) * inv_t) / sum);
        }
        if (hard)
            for (int i = 0; i < k; i++) gn[i * d + j] = i == best ? 1.0f : 0.0f;
        else if (sn)
            for (int i = 0; i < k; i++) sn[i * d + j] = gn[i * d + j];
    }
}

void nn_select_forward(float *gamma, float *soft, float *pooled, const float *inp, const float *A,
                       const float *a, const nn_nsr_dims *dm, const nn_select_opts *so) {
    const int cin = dm->cin, kd = dm->groups * dm->cards;
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < dm->n * cin; nc++) pooled[nc] = spatial_mean(inp, dm, nc / cin, nc % cin);
    for (int n = 0; n < dm->n; n++)
        select_from_means(gamma + (size_t)n * kd, soft ? soft + (size_t)n * kd : NULL,
                          pooled + (size_t)n * cin, A, a, dm, so, n);
}

/* The logits' gradient of sample n: through the softmax of z / T over i,
 * dz[i] = gamma[i] (dgamma[i] - sum_i' gamma[i'] dgamma[i']) / T, for each cardinal. */
static void logit_gradient(double *dlogit, const float *gn, const float *dgn, int k, int d,
                           double inv_t) {
    for (int j = 0; j < d; j++) {
        double dot = 0;
        for (int i = 0; i < k; i++) dot += (double)gn[i * d + j] * dgn[i * d + j];
        for (int i = 0; i < k; i++)
            dlogit[i * d + j] = gn[i * d + j] * (dgn[i * d + j] - dot) * inv_t;
    }
}

void nn_select_backward(float *dinp, float *dA, float *da, const float *dgamma, const float *soft,
                        const float *pooled, const float *A, const nn_nsr_dims *dm,
                        float temperature) {
    const int cin = dm->cin, k = dm->groups, d = dm->cards, kd = k * d;
    const size_t plane = (size_t)dm->h * dm->w;
    const double inv_t = 1.0 / temperature;
    /* the side layer's gradients sum over the samples: in increasing n, in one thread */
    for (int n = 0; n < dm->n; n++) {
        double dlogit[NN_MAX_SELECT];
        const float *p = pooled + (size_t)n * cin;
        logit_gradient(dlogit, soft + (size_t)n * kd, dgamma + (size_t)n * kd, k, d, inv_t);
        for (int r = 0; r < kd; r++) {
            da[r] += (float)dlogit[r];
            for (int c = 0; c < cin; c++) dA[(size_t)r * cin + c] += (float)(dlogit[r] * p[c]);
        }
    }
    if (!dinp) return;
    /* through the mean: every pixel of channel c gets dp[c] / (h*w); samples are independent */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < dm->n; n++) {
        double dlogit[NN_MAX_SELECT];
        logit_gradient(dlogit, soft + (size_t)n * kd, dgamma + (size_t)n * kd, k, d, inv_t);
        for (int c = 0; c < cin; c++) {
            double dp = 0;
            for (int r = 0; r < kd; r++) dp += (double)A[(size_t)r * cin + c] * dlogit[r];
            const float share = (float)(dp / (double)plane);
            float *dxc = dinp + ((size_t)n * cin + c) * plane;
            for (size_t i = 0; i < plane; i++) dxc[i] += share;
        }
    }
}

/* bmix[o] of step 4 below for one sample's gn: the groups with a weight, in increasing i. */
static float mixed_bias(const float *gn, const float *b, int o, const nn_nsr_dims *dm) {
    const int k = dm->groups, d = dm->cards, j = o / (dm->cout / d);
    double bm = 0;
    for (int i = 0; i < k; i++)
        if (gn[i * d + j] != 0.0f) bm += (double)gn[i * d + j] * b[(size_t)i * dm->cout + o];
    return (float)bm;
}

/* 4. "Output channel o = j*(c_out/d) + t gets mixed kernel
 *     Wmix[o] = sum_i gamma[i][j] * W[i*c_out + o]  and bias  bmix[o] = sum_i gamma[i][j] * b[i*c_out + o]" */
void nn_mix_forward(float *wmix, float *bmix, const float *w, const float *b, const float *gamma,
                    const nn_nsr_dims *dm) {
    const int cout = dm->cout, k = dm->groups, d = dm->cards, per_card = cout / d;
    const size_t wsz = (size_t)dm->cin * dm->ksize * dm->ksize;
    void (*const wsum)(float *, int, const float *, size_t, const int *, const float *, int,
                       size_t) = have_avx2() ? weighted_sum_avx2 : weighted_sum_plain;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < dm->n; n++) {
        for (int o = 0; o < cout; o++) {
            const float *gn = gamma + (size_t)n * k * d;
            const int j = o / per_card;
            float *wm = wmix ? wmix + ((size_t)n * cout + o) * wsz : NULL;
            /* only the groups with a weight: hard selection reads one group's kernels */
            int idx[MAX_TERMS], m = 0, add = 0;
            float g[MAX_TERMS];
            for (int i = 0; i < k; i++) {
                const float gi = gn[i * d + j];
                if (gi != 0.0f) {
                    idx[m] = i;
                    g[m++] = gi;
                }
                if (wm && (m == MAX_TERMS || (i == k - 1 && (m > 0 || !add)))) {
                    wsum(wm, add, w + (size_t)o * wsz, (size_t)cout * wsz, idx, g, m, wsz);
                    add = 1;
                    m = 0;
                }
            }
            if (bmix) bmix[(size_t)n * cout + o] = mixed_bias(gn, b, o, dm);
        }
    }
}

void nn_mix_backward(float *dw, float *db, float *dgamma, const float *dwmix, const float *dbmix,
                     const float *w, const float *b, const float *gamma, const nn_nsr_dims *dm) {
    const int N = dm->n, cout = dm->cout, k = dm->groups, d = dm->cards, per_card = cout / d;
    const size_t wsz = (size_t)dm->cin * dm->ksize * dm->ksize;
    const int avx2 = have_avx2();
    void (*const wsum)(float *, int, const float *, size_t, const int *, const float *, int,
                       size_t) = avx2 ? weighted_sum_avx2 : weighted_sum_plain;
    double (*const lane_sum)(const float *, const float *, size_t) =
        avx2 ? lane_sum_avx2 : lane_sum_plain;
    /* dW[i*c_out+o] += sum_n gamma[n][i][j] dWmix[n][o], and the same for the bias, summed in
     * increasing n, MAX_TERMS samples per pass over dW[i*c_out+o] */
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < k; i++) {
        for (int o = 0; o < cout; o++) {
            const int j = o / per_card;
            float *dwi = dw + ((size_t)i * cout + o) * wsz;
            double dbi = 0;
            for (int n0 = 0; n0 < N; n0 += MAX_TERMS) {
                const int m = N - n0 < MAX_TERMS ? N - n0 : MAX_TERMS;
                int idx[MAX_TERMS];
                float g[MAX_TERMS];
                for (int t = 0; t < m; t++) {
                    idx[t] = n0 + t;
                    g[t] = gamma[((size_t)(n0 + t) * k + i) * d + j];
                    dbi += (double)g[t] * dbmix[(size_t)(n0 + t) * cout + o];
                }
                wsum(dwi, 1, dwmix + (size_t)o * wsz, (size_t)cout * wsz, idx, g, m, wsz);
            }
            db[(size_t)i * cout + o] += (float)dbi;
        }
    }
    /* dgamma[n][i][j] += sum over the channels o of cardinal j of <dWmix[n][o], W[i*c_out+o]>
     * + dbmix[n][o] b[i*c_out+o] */
#pragma omp parallel for collapse(3) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < d; j++) {
                double acc = 0;
                for (int o = j * per_card; o < (j + 1) * per_card; o++) {
                    acc += lane_sum(dwmix + ((size_t)n * cout + o) * wsz,
                                    w + ((size_t)i * cout + o) * wsz, wsz);
                    acc += (double)dbmix[(size_t)n * cout + o] * b[(size_t)i * cout + o];
                }
                dgamma[((size_t)n * k + i) * d + j] += (float)acc;
            }
        }
    }
}

/* 5. "out_n = conv2d(x_n, Wmix, bmix), stride 1, zero padding K/2". Where the fast
 * convolution takes the mixture itself (nn_conv2d_forward_mix), Wmix is never formed. */
void nn_mixconv_forward(float *out, const float *inp, const float *w, const float *b,
                        const float *gamma, const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                        const nn_conv_post *post) {
    const size_t wsz = (size_t)dm->cout * dm->cin * dm->ksize * dm->ksize;
    const nn_kernel_mix mix = {gamma, dm->groups, dm->cards, NULL, NULL, 0};
    nn_mix_forward(NULL, sc->bmix, w, b, gamma, dm);
    if (nn_conv2d_forward_mix(out, inp, w, wsz, &mix, sc->bmix, (size_t)dm->cout, dm->n, dm->cin,
                              dm->cout, dm->h, dm->w, dm->ksize, post))
        return;
    nn_mix_forward(sc->wmix, NULL, w, b, gamma, dm); /* the biases are made above */
    nn_conv2d_forward(out, inp, sc->wmix, wsz, sc->bmix, (size_t)dm->cout, dm->n, dm->cin,
                      dm->cout, dm->h, dm->w, dm->ksize, post);
}

/* What the convolution needs to select sample n itself (nn_kernel_mix's select). */
typedef struct sample_selection {
    float *gamma, *soft, *pooled, *bmix;
    const float *inp, *A, *a, *b;
    const nn_nsr_dims *dm;
    const nn_select_opts *so;
} sample_selection;

/* Steps 1-3 and the mixed biases of sample n, by the thread about to convolve it: its input
 * is read for the means just before the convolution reads it again, from cache. */
static void select_sample(void *ctx, int n) {
    const sample_selection *ss = ctx;
    const nn_nsr_dims *dm = ss->dm;
    const size_t kd = (size_t)dm->groups * dm->cards;
    float *p = ss->pooled + (size_t)n * dm->cin, *gn = ss->gamma + (size_t)n * kd;
    for (int c = 0; c < dm->cin; c++) p[c] = spatial_mean(ss->inp, dm, n, c);
    select_from_means(gn, ss->soft ? ss->soft + (size_t)n * kd : NULL, p, ss->A, ss->a, dm, ss->so, n);
    for (int o = 0; o < dm->cout; o++) ss->bmix[(size_t)n * dm->cout + o] = mixed_bias(gn, ss->b, o, dm);
}

void nn_nsr_conv_forward(float *out, float *gamma, float *soft, float *pooled, const float *inp,
                         const float *A, const float *a, const float *w, const float *b,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                         const nn_select_opts *so, const nn_conv_post *post) {
    const size_t wsz = (size_t)dm->cout * dm->cin * dm->ksize * dm->ksize;
    sample_selection ss = {gamma, soft, pooled, sc->bmix, inp, A, a, b, dm, so};
    const nn_kernel_mix mix = {gamma, dm->groups, dm->cards, select_sample, &ss, so && so->hard};
    if (nn_conv2d_forward_mix(out, inp, w, wsz, &mix, sc->bmix, (size_t)dm->cout, dm->n, dm->cin,
                              dm->cout, dm->h, dm->w, dm->ksize, post))
        return;
    nn_select_forward(gamma, soft, pooled, inp, A, a, dm, so);
    nn_mixconv_forward(out, inp, w, b, gamma, dm, sc, post);
}

void nn_mixconv_backward(float *dinp, float *dw, float *db, float *dgamma, const float *dout,
                         const float *inp, const float *w, const float *b, const float *gamma,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc) {
    const size_t wsz = (size_t)dm->cout * dm->cin * dm->ksize * dm->ksize;
    const nn_kernel_mix mix = {gamma, dm->groups, dm->cards, NULL, NULL, 0};
    /* the input gradient through the mixture where the fast convolution takes it, else
     * through the mixed kernels, formed here (the weight gradient needs no kernels) */
    if (dinp && nn_conv2d_backward_input_mix(dinp, dout, w, wsz, &mix, dm->n, dm->cin, dm->cout,
                                             dm->h, dm->w, dm->ksize))
        dinp = NULL;
    if (dinp) nn_mix_forward(sc->wmix, NULL, w, b, gamma, dm);
    nn_zero(sc->dwmix, (size_t)dm->n * wsz);
    memset(sc->dbmix, 0, (size_t)dm->n * dm->cout * sizeof(float));
    nn_conv2d_backward(dinp, sc->dwmix, sc->dbmix, dout, inp, sc->wmix, wsz, (size_t)dm->cout,
                       dm->n, dm->cin, dm->cout, dm->h, dm->w, dm->ksize);
    nn_mix_backward(dw, db, dgamma, sc->dwmix, sc->dbmix, w, b, gamma, dm);
}

/* ---------------------------------------------------------------- the fixed-size regime */

/* Channel ch = i*c + o of a fixed-size block's hidden layer (c = cout per group) is in group i
 * and, with o = j*(c/d) + t, in cardinal j: its weight for sample n is gamma[n][i*d + j]. */
static float group_weight(const float *gamma, const nn_nsr_dims *dm, int n, int ch) {
    const int c = dm->cout, i = ch / c, j = ch % c / (c / dm->cards);
    return gamma[((size_t)n * dm->groups + i) * dm->cards + j];
}

void nn_group_scale_forward(float *out, const float *inp, const float *gamma, const nn_nsr_dims *dm) {
    const size_t plane = (size_t)dm->h * dm->w;
    const int chans = dm->groups * dm->cout;
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < dm->n * chans; nc++) {
        const float g = group_weight(gamma, dm, nc / chans, nc % chans);
        const float *x = inp + (size_t)nc * plane;
        float *y = out + (size_t)nc * plane;
        for (size_t p = 0; p < plane; p++) y[p] = g * x[p];
    }
}

void nn_group_scale_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                             const float *gamma, const nn_nsr_dims *dm) {
    const size_t plane = (size_t)dm->h * dm->w;
    const int k = dm->groups, d = dm->cards, c = dm->cout, per_card = c / d, chans = k * c;
    double (*const lane_sum)(const float *, const float *, size_t) =
        have_avx2() ? lane_sum_avx2 : lane_sum_plain;
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < dm->n * chans; nc++) {
        const float g = group_weight(gamma, dm, nc / chans, nc % chans);
        const float *dy = dout + (size_t)nc * plane;
        float *dx = dinp + (size_t)nc * plane;
        for (size_t p = 0; p < plane; p++) dx[p] += g * dy[p];
    }
    /* dgamma[n][i][j] = sum over cardinal j's channels of group i and their pixels of
     * dout * inp, each entry by one thread in a fixed order */
#pragma omp parallel for collapse(3) schedule(static)
    for (int n = 0; n < dm->n; n++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < d; j++) {
                double acc = 0;
                for (int t = 0; t < per_card; t++) {
                    const size_t at = ((size_t)n * chans + (size_t)i * c + (size_t)j * per_card + t) * plane;
                    acc += lane_sum(dout + at, inp + at, plane);
                }
                dgamma[((size_t)n * k + i) * d + j] += (float)acc;
            }
}

void nn_group_gather_inputs(float *wsel, const float *w, const float *gamma, const nn_nsr_dims *dm,
                            int cout, int ksize) {
    const int k = dm->groups, d = dm->cards, c = dm->cout, per_card = c / d;
    const size_t kk = (size_t)ksize * ksize;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < dm->n; n++)
        for (int f = 0; f < cout; f++)
            for (int o = 0; o < c; o++) {
                const float *gn = gamma + (size_t)n * k * d;
                const int j = o / per_card;
                int best = 0;
                for (int i = 1; i < k; i++)
                    if (gn[i * d + j] > gn[best * d + j]) best = i;
                memcpy(wsel + (((size_t)n * cout + f) * c + o) * kk,
                       w + ((size_t)f * k * c + (size_t)best * c + o) * kk, kk * sizeof(float));
            }
}
