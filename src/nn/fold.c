/* fold.c - an NSR network whose selections are fixed, as the plain network it then is
 * (nsr_model_fold), and the converse: a plain network as an NSR network of equal groups that
 * computes what it computes (nsr_model_split).
 *
 * Soft selection mixes an NSR conv's k kernel groups per output channel o of cardinal j (NSR.md
 * section 2, step 4):
 *   W[o] = sum_i gamma[i*d + j] W_i[o],   b[o] = sum_i gamma[i*d + j] b_i[o]
 * with W_i = g v / ||v|| the weight-normalised kernels of group i. With gamma fixed that is one
 * kernel per output channel: a plain conv, with the plain network's FLOPs and no selection. In a
 * fixed-size block the selection scales hidden channel ch (group i, cardinal j) after the ReLU;
 * gamma >= 0 commutes with it, and the scaled channel is conv2's input channel ch, so
 *   W2[o][ch] = gamma[i*d + j] W2[o][ch]
 * while conv1 keeps every hidden channel as it is.
 *
 * The plain network stores each folded kernel W as v = W, g = ||W||, which its weight
 * normalisation turns back into W (to rounding). With gamma the selection of one input, the
 * folded network computes what the NSR network computes on that input; with the selections'
 * mean over many inputs, what it computes on all of them to the extent that the selection does
 * not depend on the input (RESULTS.md: at our scale it hardly does). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

/* Writes the plain conv pc of p: kernels W (cout x cin*K*K, not normalised) and bias b. */
static void store_plain(nsr_model *p, const eng_conv *pc, const float *W, const float *b) {
    const size_t fan = (size_t)pc->cin * pc->ksize * pc->ksize;
    for (int o = 0; o < pc->cout; o++) {
        const float *wo = W + (size_t)o * fan;
        float *vo = p->params + pc->v + (size_t)o * fan;
        double ss = 0;
        for (size_t i = 0; i < fan; i++) ss += (double)wo[i] * wo[i];
        if (ss > 0) {
            memcpy(vo, wo, fan * sizeof *vo);
        } else { /* a zero kernel: any direction, length 0 */
            memset(vo, 0, fan * sizeof *vo);
            vo[0] = 1;
        }
        p->params[pc->g + o] = (float)sqrt(ss);
        p->params[pc->b + o] = b[o];
    }
}

/* The selection (row of gamma) conv ci of block b uses: nsel rows per block as the selection
 * map counts them (2: every conv its own; 1: the block's, shared or weighting the hidden
 * layer). */
static const float *selection_of(const nsr_model *m, const float *gamma, int b, int second) {
    const int per_block = nsr_model_selections_per_block(m);
    const size_t kd = (size_t)m->arch.groups * m->arch.cardinals;
    return gamma + ((size_t)b * per_block + (per_block == 2 && second)) * kd;
}

int nsr_model_fold(nsr_model **plain, const nsr_model *m, const float *gamma, nsr_error *err) {
    *plain = NULL;
    const nsr_arch *a = &m->arch;
    if (a->groups == 1) return nsr_fail(err, "a plain network (1 sparsity group) has no selection to fold");
    const int per_block = nsr_model_selections_per_block(m), k = a->groups, d = a->cardinals;
    const size_t nsel = (size_t)a->blocks * per_block * k * d;
    for (size_t i = 0; i < nsel; i++)
        if (!(gamma[i] >= 0 && isfinite(gamma[i])))
            return nsr_fail(err, "selection weight %zu is %g: the weights must be finite and not negative",
                            i, (double)gamma[i]);
    nsr_arch pa = *a;
    pa.groups = 1, pa.cardinals = 1, pa.shared_selection = 0, pa.regime = NSR_REGIME_FIXED_FLOPS;
    nsr_model *p;
    if (eng_model_alloc(&p, &pa, err)) return -1;
    size_t most = 0; /* the largest conv's kernels */
    for (int ci = 0; ci < m->nconv; ci++) {
        const eng_conv *c = &p->conv[ci];
        const size_t n = (size_t)c->cout * c->cin * c->ksize * c->ksize;
        most = n > most ? n : most;
    }
    float *wn = malloc(m->nparams * sizeof *wn), *W = malloc(most * sizeof *W);
    float *bias = malloc(most * sizeof *bias);
    if (!wn || !W || !bias) {
        free(wn), free(W), free(bias);
        nsr_model_free(p);
        return nsr_fail(err, "out of memory for folding a network of %zu parameters", m->nparams);
    }
    eng_weightnorm(m, wn);
    for (int ci = 0; ci < m->nconv; ci++) {
        const eng_conv *c = &m->conv[ci], *pc = &p->conv[ci];
        const size_t fan = (size_t)c->cin * c->ksize * c->ksize;
        const int b = ci >= ENG_BLOCK_CONV(0, 0) && ci < ENG_TAIL(a->blocks) ? (ci - 1) / 2 : -1;
        const int second = b >= 0 && ci == ENG_BLOCK_CONV(b, 1);
        /* every stored channel as it is: the head, tail and skip, a fixed-size block's conv1
         * (its k*cout stored channels are the hidden layer), and its conv2 before scaling */
        memcpy(W, wn + c->v, (size_t)pc->cout * fan * sizeof *W);
        memcpy(bias, m->params + c->b, (size_t)pc->cout * sizeof *bias);
        if (c->groups > 1 && !c->scales) { /* a mixing conv */
            const float *g = selection_of(m, gamma, b, second);
            for (int o = 0; o < c->cout; o++) {
                const int j = o / (c->cout / d);
                float *wo = W + (size_t)o * fan;
                memset(wo, 0, fan * sizeof *wo);
                bias[o] = 0;
                for (int i = 0; i < k; i++) {
                    const float gi = g[i * d + j];
                    const float *wi = wn + c->v + ((size_t)i * c->cout + o) * fan;
                    for (size_t t = 0; t < fan; t++) wo[t] += gi * wi[t];
                    bias[o] += gi * m->params[c->b + (size_t)i * c->cout + o];
                }
            }
        } else if (second && m->conv[ci - 1].scales) { /* a fixed-size block's conv2 */
            const float *g = selection_of(m, gamma, b, 0);
            const int group = m->conv[ci - 1].cout, taps = c->ksize * c->ksize;
            for (int o = 0; o < c->cout; o++)
                for (int ch = 0; ch < c->cin; ch++) {
                    const float s = g[ch / group * d + ch % group / (group / d)];
                    float *w = W + (size_t)o * fan + (size_t)ch * taps;
                    for (int t = 0; t < taps; t++) w[t] *= s;
                }
        }
        store_plain(p, pc, W, bias);
    }
    free(wn), free(W), free(bias);
    *plain = p;
    return 0;
}

/* Every mixing conv's k groups a copy of the plain conv's v, g and b: each group's weight
 * normalised kernel is then the plain W, and the mixed kernel sum_i gamma[i*d + j] W = W
 * because a cardinal's softmax weights (or its one-hot hard selection) sum to 1 over i. */
int nsr_model_split(nsr_model **nsr, const nsr_model *plain, int groups, int cardinals, int shared,
                    uint64_t seed, nsr_error *err) {
    *nsr = NULL;
    if (plain->arch.groups != 1)
        return nsr_fail(err, "splitting takes a plain network (1 sparsity group), not one of %d groups "
                        "(nsr fold makes it plain)", plain->arch.groups);
    if (groups < 2) return nsr_fail(err, "splitting into %d sparsity groups: it takes at least 2", groups);
    nsr_arch a = plain->arch;
    a.groups = groups, a.cardinals = cardinals, a.shared_selection = shared, a.regime = NSR_REGIME_FIXED_FLOPS;
    nsr_model *m;
    if (nsr_model_create(&m, &a, seed, err)) return -1;
    for (int ci = 0; ci < m->nconv; ci++) {
        const eng_conv *c = &m->conv[ci], *pc = &plain->conv[ci];
        const size_t n = (size_t)c->cout, fan = (size_t)c->cin * c->ksize * c->ksize;
        for (size_t i = 0; i < (size_t)c->groups; i++) {
            memcpy(m->params + c->v + i * n * fan, plain->params + pc->v, n * fan * sizeof *m->params);
            memcpy(m->params + c->g + i * n, plain->params + pc->g, n * sizeof *m->params);
            memcpy(m->params + c->b + i * n, plain->params + pc->b, n * sizeof *m->params);
        }
    }
    *nsr = m;
    return 0;
}
