/* nsr_conv.c - the NSR convolution of NSR.md section 2: a side layer on the spatial mean of the
 * conv's input selects, per sample and per cardinal, a softmax mixture of k groups of kernels;
 * the mixed kernel is then one ordinary convolution. Selection is done here; the mixing and the
 * convolution are the kernel layer's (src/kernels/: kernel_mix.c, and nn_conv2d_forward_mix,
 * which mixes on the fly where it can). Selection and mixing are separate layers so that a
 * residual block can share one selection between its two convolutions. */
#include <math.h>
#include <string.h>

#include "nn/engine.h"

/* 1. "p = spatial mean of the conv's own input x_n (length c_in)", channel c of sample n */
static float spatial_mean(const float *inp, const nn_nsr_dims *dm, int n, int c) {
    const size_t plane = (size_t)dm->h * dm->w;
    const float *x = inp + ((size_t)n * dm->cin + c) * plane;
    return (float)(nn_lane_sum(x, NULL, plane) / (double)plane);
}

/* Steps 2-3 for sample n from its means p (cin) into gn (k*d). */
static void select_from_means(float *gn, const float *p, const float *A, const float *a,
                              const nn_nsr_dims *dm, int hard) {
    const int cin = dm->cin, k = dm->groups, d = dm->cards;
    /* 2. "logits = A p + a, read as a k x d table, index i*d + j (group-major)" */
    for (int r = 0; r < k * d; r++) {
        double z = a[r];
        for (int c = 0; c < cin; c++) z += (double)A[(size_t)r * cin + c] * p[c];
        gn[r] = (float)z;
    }
    /* 3. "gamma[i][j] = softmax over i (the k groups), separately for each cardinal j"; hard
     * selection keeps only the argmax group. */
    for (int j = 0; j < d; j++) {
        int best = 0;
        for (int i = 1; i < k; i++)
            if (gn[i * d + j] > gn[best * d + j]) best = i;
        if (hard) {
            for (int i = 0; i < k; i++) gn[i * d + j] = i == best ? 1.0f : 0.0f;
            continue;
        }
        const double zmax = gn[best * d + j];
        double sum = 0;
        for (int i = 0; i < k; i++) sum += exp(gn[i * d + j] - zmax);
        for (int i = 0; i < k; i++) gn[i * d + j] = (float)(exp(gn[i * d + j] - zmax) / sum);
    }
}

void nn_select_forward(float *gamma, float *pooled, const float *inp, const float *A,
                       const float *a, const nn_nsr_dims *dm, int hard) {
    const int cin = dm->cin, kd = dm->groups * dm->cards;
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < dm->n * cin; nc++) pooled[nc] = spatial_mean(inp, dm, nc / cin, nc % cin);
    for (int n = 0; n < dm->n; n++)
        select_from_means(gamma + (size_t)n * kd, pooled + (size_t)n * cin, A, a, dm, hard);
}

/* The logits' gradient of sample n: through the softmax over i,
 * dz[i] = gamma[i] (dgamma[i] - sum_i' gamma[i'] dgamma[i']), for each cardinal. */
static void logit_gradient(double *dlogit, const float *gn, const float *dgn, int k, int d) {
    for (int j = 0; j < d; j++) {
        double dot = 0;
        for (int i = 0; i < k; i++) dot += (double)gn[i * d + j] * dgn[i * d + j];
        for (int i = 0; i < k; i++) dlogit[i * d + j] = gn[i * d + j] * (dgn[i * d + j] - dot);
    }
}

void nn_select_backward(float *dinp, float *dA, float *da, const float *dgamma, const float *gamma,
                        const float *pooled, const float *A, const nn_nsr_dims *dm) {
    const int cin = dm->cin, k = dm->groups, d = dm->cards, kd = k * d;
    const size_t plane = (size_t)dm->h * dm->w;
    /* the side layer's gradients sum over the samples: in increasing n, in one thread */
    for (int n = 0; n < dm->n; n++) {
        double dlogit[NN_MAX_SELECT];
        const float *p = pooled + (size_t)n * cin;
        logit_gradient(dlogit, gamma + (size_t)n * kd, dgamma + (size_t)n * kd, k, d);
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
        logit_gradient(dlogit, gamma + (size_t)n * kd, dgamma + (size_t)n * kd, k, d);
        for (int c = 0; c < cin; c++) {
            double dp = 0;
            for (int r = 0; r < kd; r++) dp += (double)A[(size_t)r * cin + c] * dlogit[r];
            const float share = (float)(dp / (double)plane);
            float *dxc = dinp + ((size_t)n * cin + c) * plane;
            for (size_t i = 0; i < plane; i++) dxc[i] += share;
        }
    }
}

/* The mixture of step 4 as the kernel layer takes it: gamma read as (n, k groups, d cards). */
static nn_kernel_mix gamma_mix(const float *gamma, const nn_nsr_dims *dm) {
    return (nn_kernel_mix){gamma, dm->groups, dm->cards, NULL, NULL, 0};
}

/* Stored floats per kernel: cin*K*K. */
static size_t kernel_floats(const nn_nsr_dims *dm) {
    return (size_t)dm->cin * dm->ksize * dm->ksize;
}

/* 4. "Output channel o = j*(c_out/d) + t gets mixed kernel
 *     Wmix[o] = sum_i gamma[i][j] * W[i*c_out + o]  and bias  bmix[o] = sum_i gamma[i][j] * b[i*c_out + o]" */
void nn_mix_forward(float *wmix, float *bmix, const float *w, const float *b, const float *gamma,
                    const nn_nsr_dims *dm) {
    const nn_kernel_mix mix = gamma_mix(gamma, dm);
    nn_kernel_mix_forward(wmix, bmix, w, b, &mix, dm->n, dm->cout, kernel_floats(dm));
}

void nn_mix_backward(float *dw, float *db, float *dgamma, const float *dwmix, const float *dbmix,
                     const float *w, const float *b, const float *gamma, const nn_nsr_dims *dm) {
    const nn_kernel_mix mix = gamma_mix(gamma, dm);
    nn_kernel_mix_backward(dw, db, dgamma, dwmix, dbmix, w, b, &mix, dm->n, dm->cout,
                           kernel_floats(dm));
}

/* 5. "out_n = conv2d(x_n, Wmix, bmix), stride 1, zero padding K/2". Where the fast
 * convolution takes the mixture itself (nn_conv2d_forward_mix), Wmix is never formed. */
void nn_mixconv_forward(float *out, const float *inp, const float *w, const float *b,
                        const float *gamma, const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                        const nn_conv_post *post) {
    const size_t wsz = (size_t)dm->cout * kernel_floats(dm);
    const nn_kernel_mix mix = gamma_mix(gamma, dm);
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
    float *gamma, *pooled, *bmix;
    const float *inp, *A, *a, *b;
    const nn_nsr_dims *dm;
    int hard;
} sample_selection;

/* Steps 1-3 and the mixed biases of sample n, by the thread about to convolve it: its input
 * is read for the means just before the convolution reads it again, from cache. */
static void select_sample(void *ctx, int n) {
    const sample_selection *ss = ctx;
    const nn_nsr_dims *dm = ss->dm;
    float *p = ss->pooled + (size_t)n * dm->cin, *gn = ss->gamma + (size_t)n * dm->groups * dm->cards;
    for (int c = 0; c < dm->cin; c++) p[c] = spatial_mean(ss->inp, dm, n, c);
    select_from_means(gn, p, ss->A, ss->a, dm, ss->hard);
    const nn_kernel_mix one = gamma_mix(gn, dm);
    nn_kernel_mix_forward(NULL, ss->bmix + (size_t)n * dm->cout, NULL, ss->b, &one, 1, dm->cout,
                          kernel_floats(dm));
}

void nn_nsr_conv_forward(float *out, float *gamma, float *pooled, const float *inp,
                         const float *A, const float *a, const float *w, const float *b,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc, int hard,
                         const nn_conv_post *post) {
    const size_t wsz = (size_t)dm->cout * kernel_floats(dm);
    sample_selection ss = {gamma, pooled, sc->bmix, inp, A, a, b, dm, hard};
    const nn_kernel_mix mix = {gamma, dm->groups, dm->cards, select_sample, &ss, hard};
    if (nn_conv2d_forward_mix(out, inp, w, wsz, &mix, sc->bmix, (size_t)dm->cout, dm->n, dm->cin,
                              dm->cout, dm->h, dm->w, dm->ksize, post))
        return;
    nn_select_forward(gamma, pooled, inp, A, a, dm, hard);
    nn_mixconv_forward(out, inp, w, b, gamma, dm, sc, post);
}

void nn_mixconv_backward(float *dinp, float *dw, float *db, float *dgamma, const float *dout,
                         const float *inp, const float *w, const float *b, const float *gamma,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc) {
    const size_t wsz = (size_t)dm->cout * kernel_floats(dm);
    const nn_kernel_mix mix = gamma_mix(gamma, dm);
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
