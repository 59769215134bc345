/* optim.c - Adam as PyTorch computes it, and the multi-step learning-rate schedule. */
#include <math.h>
#include <stdlib.h>

#include "nn/engine.h"

int nn_adam_init(nn_adam *opt, size_t n, nsr_error *err) {
    opt->n = n;
    opt->t = 0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-8;
    opt->m = calloc(n ? 2 * n : 1, sizeof(float));
    opt->v = opt->m ? opt->m + n : NULL;
    if (!opt->m) return nsr_fail(err, "out of memory for the moments of %zu parameters", n);
    return 0;
}

void nn_adam_free(nn_adam *opt) {
    free(opt->m);
    opt->m = opt->v = NULL;
}

/* torch.optim.Adam's step: the bias corrections are computed in double, as Python floats are,
 * and the denominator is sqrt(v)/sqrt(1 - b2^t) + eps (eps outside the correction). */
void nn_adam_step(nn_adam *opt, float *params, const float *grads, float lr) {
    opt->t++;
    const double bc1 = 1.0 - pow(opt->beta1, (double)opt->t);
    const double bc2 = 1.0 - pow(opt->beta2, (double)opt->t);
    const float step = (float)(lr / bc1), sbc2 = (float)sqrt(bc2);
    const float b1 = (float)opt->beta1, b2 = (float)opt->beta2, eps = (float)opt->eps;
    float *m = opt->m, *v = opt->v;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < opt->n; i++) {
        const float g = grads[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        params[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}

float nn_lr_multistep(float base_lr, long step, const long *milestones, int count, float factor) {
    double lr = base_lr;
    for (int i = 0; i < count; i++)
        if (step >= milestones[i]) lr *= factor;
    return (float)lr;
}
