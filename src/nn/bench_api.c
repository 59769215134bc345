/* bench_api.c - the engine as `nsr bench` sees it (bench_api.h): thin wrappers that keep the
 * engine's structures (dimensions, scratch, workspaces, optimiser state) out of bench/. */
#include <stdlib.h>

#include "nn/bench_api.h"
#include "nn/engine.h"

const char *eng_bench_kernels(void) { return nn_conv2d_kernels(); }

void eng_bench_conv3x3(float *out, const float *inp, const float *wt, const float *b, int n, int cin,
                       int cout, int h, int w) {
    nn_conv2d_forward(out, inp, wt, 0, b, 0, n, cin, cout, h, w, 3, NULL);
}

void eng_bench_nsr_conv3x3(float *out, float *gamma, float *pooled, float *wmix, float *bmix,
                           const float *inp, const float *A, const float *a, const float *wt,
                           const float *b, int n, int cin, int cout, int h, int w, int k, int hard) {
    const nn_nsr_dims dm = {n, cin, cout, h, w, 3, k, 1};
    const nn_mix_scratch sc = {wmix, bmix, NULL, NULL};
    const nn_select_opts so = {.temperature = 1, .hard = hard};
    nn_nsr_conv_forward(out, gamma, NULL, pooled, inp, A, a, wt, b, &dm, &sc, &so, NULL);
}

struct eng_trainer {
    nsr_model *model;
    eng_workspace ws;
    nn_adam adam;
    float *dout, *grads;
};

int eng_trainer_create(eng_trainer **out, nsr_model *model, int n, int h, int w, nsr_error *err) {
    eng_trainer *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) return nsr_fail(err, "out of memory");
    t->model = model;
    const size_t s = (size_t)model->arch.scale, out_sz = (size_t)n * model->arch.channels * h * w * s * s;
    if (eng_workspace_create(&t->ws, model, n, h, w, 1, err) || nn_adam_init(&t->adam, model->nparams, err)) {
        eng_trainer_free(t);
        return -1;
    }
    t->dout = calloc(out_sz, sizeof *t->dout);
    t->grads = calloc(model->nparams, sizeof *t->grads);
    if (!t->dout || !t->grads) {
        eng_trainer_free(t);
        return nsr_fail(err, "out of memory");
    }
    *out = t;
    return 0;
}

void eng_trainer_free(eng_trainer *t) {
    if (!t) return;
    eng_workspace_free(&t->ws);
    nn_adam_free(&t->adam);
    free(t->dout);
    free(t->grads);
    free(t);
}

double eng_trainer_loss_and_grad(eng_trainer *t, const float *x, const float *target) {
    return eng_loss_and_grad(t->model, &t->ws, x, target, t->dout, t->grads);
}

float *eng_trainer_grads(eng_trainer *t) { return t->grads; }

void eng_trainer_step(eng_trainer *t, float lr) { nn_adam_step(&t->adam, t->model->params, t->grads, lr); }
