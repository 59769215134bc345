/* bench_api.h - what `nsr bench` (bench/) needs of the engine beyond nsr.h, and nothing more:
 * the convolution layers it times alone and a training step of a whole network. Internal to the
 * repository (not installed); bench/ includes this and nsr.h, never the engine's own headers. */
#ifndef NSR_NN_BENCH_API_H
#define NSR_NN_BENCH_API_H

#include "nsr.h"

/* The convolution path the engine takes ("avx2+fma", "reference", ...), for the reports. */
const char *eng_bench_kernels(void);

/* A 3x3 convolution with shared weights: out (n, cout, h, w) = conv(inp (n, cin, h, w), wt) + b. */
void eng_bench_conv3x3(float *out, const float *inp, const float *wt, const float *b, int n, int cin,
                       int cout, int h, int w);

/* One 3x3 NSR convolution with one cardinal (d = 1): selection from inp by A (k, cin) and a (k),
 * soft or hard, then the mixed-kernel convolution of k groups of cout stored kernels (wt, b).
 * gamma (n, k), pooled (n, cin), wmix (n, cout, cin, 3, 3) and bmix (n, cout) are scratch. */
void eng_bench_nsr_conv3x3(float *out, float *gamma, float *pooled, float *wmix, float *bmix,
                           const float *inp, const float *A, const float *a, const float *wt,
                           const float *b, int n, int cin, int cout, int h, int w, int k, int hard);

/* Training of a model on batches of n patches of h x w: loss and gradients, and an Adam step
 * that updates the model's parameters. */
typedef struct eng_trainer eng_trainer;
int eng_trainer_create(eng_trainer **t, nsr_model *model, int n, int h, int w, nsr_error *err);
void eng_trainer_free(eng_trainer *t);
/* Zeroes the gradients, runs forward, the L1 loss against target (n, 3, h*s, w*s) and backward
 * on x (n, 3, h, w); returns the loss. */
double eng_trainer_loss_and_grad(eng_trainer *t, const float *x, const float *target);
/* The gradients of the last eng_trainer_loss_and_grad, laid out like the parameters; the caller
 * may change them before eng_trainer_step (the ranks benchmark sums them over the ranks). */
float *eng_trainer_grads(eng_trainer *t);
/* One Adam step with learning rate lr from those gradients. */
void eng_trainer_step(eng_trainer *t, float lr);

#endif
