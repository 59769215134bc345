/* kernel_mix.c - mixing groups of kernels per sample (NSR.md section 2, step 4) and its
 * backward, for NSR's convolution (src/nn/nsr_conv.c) and for Winograd's per-sample mixtures
 * (conv_winograd_forward.c), and the vectorised sums and passes they run.
 *
 * The loops below are written so that GCC vectorises them: fixed-width blocks of independent
 * lanes, no reassociation needed (the build has no -ffast-math and, being ISO C, no FMA
 * contraction). Each is compiled twice, for the build's baseline and for AVX2, and the AVX2 copy
 * is taken when the CPU has it. Both copies do the same operations in the same order, so they give
 * the same bits; and every output element is computed by one thread, so the thread count does
 * not change them either. */
#include "kernels/cpu.h"
#include "kernels/kernels.h"

/* Terms per weighted_sum call: a whole mixture (k <= 64 in a model) or a chunk of a batch. */
#define MAX_TERMS 64
/* Floats per block of weighted_sum: 4 AVX registers of accumulators. */
#define SUM_LANES 32

/* dst[e] = (add ? dst[e] : 0) + sum over t < m of g[t] src[idx[t] stride + e], summed in
 * increasing t, for e < len; m <= MAX_TERMS. One pass over dst: each block of SUM_LANES
 * accumulates all m terms in registers before it is stored. */
INLINE void weighted_sum_body(float *dst, int add, const float *src, size_t stride,
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

AVX2 static void weighted_sum_avx2(float *dst, int add, const float *src, size_t stride,
                                   const int *idx, const float *g, int m, size_t len) {
    weighted_sum_body(dst, add, src, stride, idx, g, m, len);
}

typedef void weighted_sum_fn(float *, int, const float *, size_t, const int *, const float *, int,
                             size_t);
static weighted_sum_fn *weighted_sum(void) {
    return cpu_has_avx2_fma() ? weighted_sum_avx2 : weighted_sum_plain;
}

/* Double lanes of the sums below: 4 AVX registers, enough independent chains to hide the
 * latency of the additions. */
#define DOT_LANES 16

/* nn_lane_sum's sum: DOT_LANES partial sums, added in a fixed order, then the tail. */
INLINE double lane_sum_body(const float *x, const float *y, size_t len) {
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

AVX2 static double lane_sum_avx2(const float *x, const float *y, size_t len) {
    return lane_sum_body(x, y, len);
}

double nn_lane_sum(const float *x, const float *y, size_t len) {
    return (cpu_has_avx2_fma() ? lane_sum_avx2 : lane_sum_plain)(x, y, len);
}

/* nn_add_gated, plainly: the rule itself, and the tail of the AVX2 copy. */
static void add_gated_plain(float *x, const float *gate, float c, size_t len, size_t e) {
    for (; e < len; e++) {
        const float added = x[e] + c;
        x[e] = gate && !(gate[e] > 0) ? 0.0f : added;
    }
}

#if FAST_X86
/* GCC does not vectorise the plain loop: under ISO C's trapping floating point it keeps the
 * comparison a branch. Here both are done on 8 lanes and the mask (ordered: false for NaN,
 * as > is) clears the dropped lanes to +0, the same bits as the plain rule. */
AVX2 static void add_gated_avx2(float *x, const float *gate, float c, size_t len) {
    const __m256 vc = _mm256_set1_ps(c), zero = _mm256_setzero_ps();
    size_t e = 0;
    for (; e + 8 <= len; e += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(x + e), vc);
        if (gate) v = _mm256_and_ps(v, _mm256_cmp_ps(_mm256_loadu_ps(gate + e), zero, _CMP_GT_OQ));
        _mm256_storeu_ps(x + e, v);
    }
    add_gated_plain(x, gate, c, len, e);
}
#endif

void nn_add_gated(float *x, const float *gate, float c, size_t len) {
#if FAST_X86
    if (cpu_has_avx2_fma()) {
        add_gated_avx2(x, gate, c, len);
        return;
    }
#endif
    add_gated_plain(x, gate, c, len, 0);
}

/* bmix[o] for one sample's coefficients cn: the groups with a weight, in increasing i. */
static float mixed_bias(const float *cn, const float *b, int o, const nn_kernel_mix *mix,
                        int cout) {
    const int k = mix->groups, d = mix->cards, j = o / (cout / d);
    double bm = 0;
    for (int i = 0; i < k; i++)
        if (cn[i * d + j] != 0.0f) bm += (double)cn[i * d + j] * b[(size_t)i * cout + o];
    return (float)bm;
}

void nn_kernel_mix_forward(float *wmix, float *bmix, const float *w, const float *b,
                           const nn_kernel_mix *mix, int N, int cout, size_t ksz) {
    const int k = mix->groups, d = mix->cards, per_card = cout / d;
    weighted_sum_fn *const wsum = weighted_sum();
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < cout; o++) {
            const float *cn = mix->coef + (size_t)n * k * d;
            const int j = o / per_card;
            float *wm = wmix ? wmix + ((size_t)n * cout + o) * ksz : NULL;
            /* only the groups with a weight: hard selection reads one group's kernels */
            int idx[MAX_TERMS], m = 0, add = 0;
            float g[MAX_TERMS];
            for (int i = 0; i < k; i++) {
                const float gi = cn[i * d + j];
                if (gi != 0.0f) {
                    idx[m] = i;
                    g[m++] = gi;
                }
                if (wm && (m == MAX_TERMS || (i == k - 1 && (m > 0 || !add)))) {
                    wsum(wm, add, w + (size_t)o * ksz, (size_t)cout * ksz, idx, g, m, ksz);
                    add = 1;
                    m = 0;
                }
            }
            if (bmix) bmix[(size_t)n * cout + o] = mixed_bias(cn, b, o, mix, cout);
        }
    }
}

void nn_kernel_mix_backward(float *dw, float *db, float *dcoef, const float *dwmix,
                            const float *dbmix, const float *w, const float *b,
                            const nn_kernel_mix *mix, int N, int cout, size_t ksz) {
    const int k = mix->groups, d = mix->cards, per_card = cout / d;
    const float *coef = mix->coef;
    weighted_sum_fn *const wsum = weighted_sum();
    /* dW[i*c_out+o] += sum_n coef[n][i][j] dWmix[n][o], and the same for the bias, summed in
     * increasing n, MAX_TERMS samples per pass over dW[i*c_out+o] */
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < k; i++) {
        for (int o = 0; o < cout; o++) {
            const int j = o / per_card;
            float *dwi = dw + ((size_t)i * cout + o) * ksz;
            double dbi = 0;
            for (int n0 = 0; n0 < N; n0 += MAX_TERMS) {
                const int m = N - n0 < MAX_TERMS ? N - n0 : MAX_TERMS;
                int idx[MAX_TERMS];
                float g[MAX_TERMS];
                for (int t = 0; t < m; t++) {
                    idx[t] = n0 + t;
                    g[t] = coef[((size_t)(n0 + t) * k + i) * d + j];
                    dbi += (double)g[t] * dbmix[(size_t)(n0 + t) * cout + o];
                }
                wsum(dwi, 1, dwmix + (size_t)o * ksz, (size_t)cout * ksz, idx, g, m, ksz);
            }
            db[(size_t)i * cout + o] += (float)dbi;
        }
    }
    /* dcoef[n][i][j] += sum over the channels o of cardinal j of <dWmix[n][o], W[i*c_out+o]>
     * + dbmix[n][o] b[i*c_out+o] */
#pragma omp parallel for collapse(3) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < d; j++) {
                double acc = 0;
                for (int o = j * per_card; o < (j + 1) * per_card; o++) {
                    acc += nn_lane_sum(dwmix + ((size_t)n * cout + o) * ksz,
                                       w + ((size_t)i * cout + o) * ksz, ksz);
                    acc += (double)dbmix[(size_t)n * cout + o] * b[(size_t)i * cout + o];
                }
                dcoef[((size_t)n * k + i) * d + j] += (float)acc;
            }
        }
    }
}

int nn_kernel_mix_one_group(const nn_kernel_mix *mix, int n) {
    const float *g = mix->coef + (size_t)n * mix->groups * mix->cards;
    int only = -1;
    for (int s = 0; s < mix->groups; s++) {
        const int ones = g[s * mix->cards] == 1.0f;
        for (int j = 0; j < mix->cards; j++)
            if (g[s * mix->cards + j] != (ones ? 1.0f : 0.0f)) return -1;
        if (ones) {
            if (only >= 0) return -1;
            only = s;
        }
    }
    return only;
}
