/* nsr_conv.c - the NSR convolution of NSR.md section 2: a side layer on the spatial mean of the
 * conv's input selects, per sample and per cardinal, a softmax mixture of k groups of kernels;
 * the mixed kernel is then one ordinary convolution (the conv in conv.c, with per-sample
 * weights). Selection and mixing are separate layers so that a residual block can share one
 * selection between its two convolutions. */
#include <math.h>
#include <string.h>

#include "engine.h"

void nn_select_forward(float *gamma, float *pooled, const float *inp, const float *A,
                       const float *a, const nn_nsr_dims *dm, int hard) {
    const int cin = dm->cin, k = dm->groups, d = dm->cards;
    const size_t plane = (size_t)dm->h * dm->w;
    for (int n = 0; n < dm->n; n++) {
        /* 1. "p = spatial mean of the conv's own input x_n (length c_in)" */
        float *p = pooled + (size_t)n * cin;
        for (int c = 0; c < cin; c++) {
            const float *xc = inp + ((size_t)n * cin + c) * plane;
            double sum = 0;
            for (size_t i = 0; i < plane; i++) sum += xc[i];
            p[c] = (float)(sum / (double)plane);
        }
        /* 2. "logits = A p + a, read as a k x d table, index i*d + j (group-major)" */
        float *gn = gamma + (size_t)n * k * d;
        for (int r = 0; r < k * d; r++) {
            double z = a[r];
            for (int c = 0; c < cin; c++) z += (double)A[(size_t)r * cin + c] * p[c];
            gn[r] = (float)z;
        }
        /* 3. "gamma[i][j] = softmax over i (the k groups), separately for each cardinal j";
         * hard selection keeps only the argmax group. */
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
}

void nn_select_backward(float *dinp, float *dA, float *da, const float *dgamma, const float *gamma,
                        const float *pooled, const float *A, const nn_nsr_dims *dm) {
    const int cin = dm->cin, k = dm->groups, d = dm->cards, kd = k * d;
    const size_t plane = (size_t)dm->h * dm->w;
    double dlogit[NN_MAX_SELECT];
    for (int n = 0; n < dm->n; n++) {
        const float *gn = gamma + (size_t)n * kd, *dgn = dgamma + (size_t)n * kd;
        const float *p = pooled + (size_t)n * cin;
        /* softmax over i: dz[i] = gamma[i] (dgamma[i] - sum_i' gamma[i'] dgamma[i']) */
        for (int j = 0; j < d; j++) {
            double dot = 0;
            for (int i = 0; i < k; i++) dot += (double)gn[i * d + j] * dgn[i * d + j];
            for (int i = 0; i < k; i++)
                dlogit[i * d + j] = gn[i * d + j] * (dgn[i * d + j] - dot);
        }
        for (int r = 0; r < kd; r++) {
            da[r] += (float)dlogit[r];
            for (int c = 0; c < cin; c++) dA[(size_t)r * cin + c] += (float)(dlogit[r] * p[c]);
        }
        if (!dinp) continue;
        /* through the mean: every pixel of channel c gets dp[c] / (h*w) */
        for (int c = 0; c < cin; c++) {
            double dp = 0;
            for (int r = 0; r < kd; r++) dp += (double)A[(size_t)r * cin + c] * dlogit[r];
            const float share = (float)(dp / (double)plane);
            float *dxc = dinp + ((size_t)n * cin + c) * plane;
            for (size_t i = 0; i < plane; i++) dxc[i] += share;
        }
    }
}

/* 4. "Output channel o = j*(c_out/d) + t gets mixed kernel
 *     Wmix[o] = sum_i gamma[i][j] * W[i*c_out + o]  and bias  bmix[o] = sum_i gamma[i][j] * b[i*c_out + o]" */
void nn_mix_forward(float *wmix, float *bmix, const float *w, const float *b, const float *gamma,
                    const nn_nsr_dims *dm) {
    const int cout = dm->cout, k = dm->groups, d = dm->cards, per_card = cout / d;
    const size_t wsz = (size_t)dm->cin * dm->ksize * dm->ksize;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < dm->n; n++) {
        for (int o = 0; o < cout; o++) {
            const float *gn = gamma + (size_t)n * k * d;
            const int j = o / per_card;
            float *wm = wmix + ((size_t)n * cout + o) * wsz;
            double bm = 0;
            memset(wm, 0, wsz * sizeof *wm);
            for (int i = 0; i < k; i++) {
                const float gi = gn[i * d + j];
                if (gi == 0.0f) continue;
                const float *wi = w + ((size_t)i * cout + o) * wsz;
                for (size_t e = 0; e < wsz; e++) wm[e] += gi * wi[e];
                bm += (double)gi * b[(size_t)i * cout + o];
            }
            bmix[(size_t)n * cout + o] = (float)bm;
        }
    }
}

void nn_mix_backward(float *dw, float *db, float *dgamma, const float *dwmix, const float *dbmix,
                     const float *w, const float *b, const float *gamma, const nn_nsr_dims *dm) {
    const int N = dm->n, cout = dm->cout, k = dm->groups, d = dm->cards, per_card = cout / d;
    const size_t wsz = (size_t)dm->cin * dm->ksize * dm->ksize;
    /* dW[i*c_out+o] += sum_n gamma[n][i][j] dWmix[n][o], and the same for the bias */
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < k; i++) {
        for (int o = 0; o < cout; o++) {
            const int j = o / per_card;
            float *dwi = dw + ((size_t)i * cout + o) * wsz;
            double dbi = 0;
            for (int n = 0; n < N; n++) {
                const float gi = gamma[((size_t)n * k + i) * d + j];
                const float *dwm = dwmix + ((size_t)n * cout + o) * wsz;
                for (size_t e = 0; e < wsz; e++) dwi[e] += gi * dwm[e];
                dbi += (double)gi * dbmix[(size_t)n * cout + o];
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
                    const float *dwm = dwmix + ((size_t)n * cout + o) * wsz;
                    const float *wi = w + ((size_t)i * cout + o) * wsz;
                    for (size_t e = 0; e < wsz; e++) acc += (double)dwm[e] * wi[e];
                    acc += (double)dbmix[(size_t)n * cout + o] * b[(size_t)i * cout + o];
                }
                dgamma[((size_t)n * k + i) * d + j] += (float)acc;
            }
        }
    }
}

/* 5. "out_n = conv2d(x_n, Wmix, bmix), stride 1, zero padding K/2" */
void nn_mixconv_forward(float *out, const float *inp, const float *w, const float *b,
                        const float *gamma, const nn_nsr_dims *dm, const nn_mix_scratch *sc) {
    const size_t wsz = (size_t)dm->cout * dm->cin * dm->ksize * dm->ksize;
    nn_mix_forward(sc->wmix, sc->bmix, w, b, gamma, dm);
    nn_conv2d_forward(out, inp, sc->wmix, wsz, sc->bmix, (size_t)dm->cout, dm->n, dm->cin,
                      dm->cout, dm->h, dm->w, dm->ksize);
}

void nn_mixconv_backward(float *dinp, float *dw, float *db, float *dgamma, const float *dout,
                         const float *inp, const float *w, const float *b, const float *gamma,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc) {
    const size_t wsz = (size_t)dm->cout * dm->cin * dm->ksize * dm->ksize;
    nn_mix_forward(sc->wmix, sc->bmix, w, b, gamma, dm);
    memset(sc->dwmix, 0, (size_t)dm->n * wsz * sizeof(float));
    memset(sc->dbmix, 0, (size_t)dm->n * dm->cout * sizeof(float));
    nn_conv2d_backward(dinp, sc->dwmix, sc->dbmix, dout, inp, sc->wmix, wsz, (size_t)dm->cout,
                       dm->n, dm->cin, dm->cout, dm->h, dm->w, dm->ksize);
    nn_mix_backward(dw, db, dgamma, sc->dwmix, sc->dbmix, w, b, gamma, dm);
}
