/* nsr_conv.c - the NSR convolution of NSR.md section 2: a side layer on the spatial mean of the
 * conv's input selects, per sample and per cardinal, a softmax mixture of k groups of kernels;
 * the mixed kernel is then one ordinary convolution. Selection is done here; the mixing and the
 * convolution are the kernel layer's (src/kernels/: kernel_mix.c, and nn_conv2d_forward_mix,
 * which mixes on the fly where it can). Selection and mixing are separate layers so that a
 * residual block can share one selection between its two convolutions. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn/engine.h"

/* 1. "p = spatial mean of the conv's own input x_n (length c_in)", channel c of sample n */
static float spatial_mean(const float *inp, const nn_nsr_dims *dm, int n, int c) {
    const size_t plane = (size_t)dm->h * dm->w;
    const float *x = inp + ((size_t)n * dm->cin + c) * plane;
    return (float)(nn_lane_sum(x, NULL, plane) / (double)plane);
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
                        float temperature, const float *gate) {
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
            const size_t at = ((size_t)n * cin + c) * plane;
            nn_add_gated(dinp + at, gate ? gate + at : NULL, (float)(dp / (double)plane), plane);
        }
    }
}

/* The load balance of a batch's selection (ours; not in the reference, which trains soft): with
 * m[i][j] = (1/n) sum_n soft[n][i*d+j], the mean weight of group i in cardinal j over the n
 * samples,
 *   L = weight * (k/d) * sum_j sum_i m[i][j]^2,
 * which is weight when every group is used alike (m = 1/k) and k * weight when one group takes
 * every sample. Trained hard, a selection tends to settle on one group for every input (the
 * network is then the plain one with unused kernels); the term, as mixture-of-experts training
 * uses one, pulls the groups' shares apart from that. */
static double balance_mean(const float *soft, const nn_nsr_dims *dm, int r) {
    const int kd = dm->groups * dm->cards;
    double m = 0;
    for (int n = 0; n < dm->n; n++) m += soft[(size_t)n * kd + r];
    return m / dm->n;
}

double nn_select_balance_forward(const float *soft, const nn_nsr_dims *dm, float weight) {
    const int kd = dm->groups * dm->cards;
    double sum = 0;
    for (int r = 0; r < kd; r++) {
        const double m = balance_mean(soft, dm, r);
        sum += m * m;
    }
    return weight * (double)dm->groups / dm->cards * sum;
}

/* dL/dsoft[n][r] = weight * (k/d) * 2 m[r] / n, the same for every sample. */
void nn_select_balance_backward(float *dsoft, const float *soft, const nn_nsr_dims *dm, float weight) {
    const int kd = dm->groups * dm->cards;
    for (int r = 0; r < kd; r++) {
        const float g = (float)(weight * (double)dm->groups / dm->cards * 2 * balance_mean(soft, dm, r) / dm->n);
        for (int n = 0; n < dm->n; n++) dsoft[(size_t)n * kd + r] += g;
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
    const nn_kernel_mix one = gamma_mix(gn, dm);
    nn_kernel_mix_forward(NULL, ss->bmix + (size_t)n * dm->cout, NULL, ss->b, &one, 1, dm->cout,
                          kernel_floats(dm));
}

void nn_nsr_conv_forward(float *out, float *gamma, float *soft, float *pooled, const float *inp,
                         const float *A, const float *a, const float *w, const float *b,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                         const nn_select_opts *so, const nn_conv_post *post) {
    const size_t wsz = (size_t)dm->cout * kernel_floats(dm);
    sample_selection ss = {gamma, soft, pooled, sc->bmix, inp, A, a, b, dm, so};
    const nn_kernel_mix mix = {gamma, dm->groups, dm->cards, select_sample, &ss, so && so->hard};
    /* The convolution selects a sample where one thread runs it whole, reading its input just
     * before convolving it; with fewer samples than twice the threads (a large tile, an image)
     * the threads share each sample, and its selection would be one thread's pass over the
     * sample while the others wait: selected here instead, the means spread over the threads
     * (the same values either way). */
    if (dm->n >= 2 * omp_get_max_threads() &&
        nn_conv2d_forward_mix(out, inp, w, wsz, &mix, sc->bmix, (size_t)dm->cout, dm->n, dm->cin,
                              dm->cout, dm->h, dm->w, dm->ksize, post))
        return;
    nn_select_forward(gamma, soft, pooled, inp, A, a, dm, so);
    nn_mixconv_forward(out, inp, w, b, gamma, dm, sc, post);
}

void nn_mixconv_backward(float *dinp, float *dw, float *db, float *dgamma, const float *dout,
                         const float *inp, const float *w, const float *b, const float *gamma,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                         const nn_conv_post *dinp_post) {
    const size_t wsz = (size_t)dm->cout * kernel_floats(dm);
    const nn_kernel_mix mix = gamma_mix(gamma, dm);
    /* the input gradient through the mixture where the fast convolution takes it, else
     * through the mixed kernels, formed here (the weight gradient needs no kernels) */
    if (dinp && nn_conv2d_backward_input_mix(dinp, dout, w, wsz, &mix, dm->n, dm->cin, dm->cout,
                                             dm->h, dm->w, dm->ksize, dinp_post))
        dinp = NULL;
    if (dinp) nn_mix_forward(sc->wmix, NULL, w, b, gamma, dm);
    nn_zero(sc->dwmix, (size_t)dm->n * wsz);
    memset(sc->dbmix, 0, (size_t)dm->n * dm->cout * sizeof(float));
    nn_conv2d_backward(dinp, sc->dwmix, sc->dbmix, dout, inp, sc->wmix, wsz, (size_t)dm->cout,
                       dm->n, dm->cin, dm->cout, dm->h, dm->w, dm->ksize, dinp_post);
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
                    acc += nn_lane_sum(dout + at, inp + at, plane);
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
