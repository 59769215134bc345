/* test_gradcheck.c - every backward against central finite differences (ggml style); the NSR
 * convolution's are in test_nsr_conv.c.
 *
 * Each case defines a scalar L = sum(R * f(inputs)) for a fixed random R (for the L1 loss, L is
 * the loss itself), runs the backward once with dout = R, then perturbs every input element by
 * +-eps and compares (L+ - L-) / (x+ - x-) with the analytic gradient. L is summed in double
 * from the float forward, so the difference quotient's rounding noise is about
 * 1e-7 * |terms| / eps; linear layers use a large eps (no truncation error), non-linear ones a
 * small one. The error reported is the worst |numeric - analytic| over the tensor, relative to
 * the tensor's largest analytic gradient. */
#include <stdint.h>

#include "check.h"
#include "nn/engine.h"
#include "compare.h"
#include "testdata.h"


/* ---------------------------------------------------------------- conv */

typedef struct {
    int N, cin, cout, H, W, K;
    size_t wstride, bstride;
    float *x, *w, *b, *R, *out;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *c = p;
    nn_conv2d_forward(c->out, c->x, c->w, c->wstride, c->b, c->bstride, c->N, c->cin, c->cout,
                      c->H, c->W, c->K, NULL);
    return dot_d(c->R, c->out, (size_t)c->N * c->cout * c->H * c->W);
}

static void conv_case(int K, int per_sample) {
    conv_ctx c = {.N = 2, .cin = 3, .cout = 2, .H = 5, .W = 6, .K = K};
    const size_t in_sz = (size_t)c.N * c.cin * c.H * c.W, out_sz = (size_t)c.N * c.cout * c.H * c.W;
    const size_t wset = (size_t)c.cout * c.cin * K * K;
    const size_t wsz = per_sample ? c.N * wset : wset, bsz = per_sample ? (size_t)c.N * c.cout : (size_t)c.cout;
    c.wstride = per_sample ? wset : 0;
    c.bstride = per_sample ? (size_t)c.cout : 0;
    c.x = test_rand_buf(in_sz, -1, 1), c.w = test_rand_buf(wsz, -1, 1), c.b = test_rand_buf(bsz, -1, 1);
    c.R = test_rand_buf(out_sz, -1, 1), c.out = test_zero_buf(out_sz);
    float *dx = test_zero_buf(in_sz), *dw = test_zero_buf(wsz), *db = test_zero_buf(bsz);
    nn_conv2d_backward(dx, dw, db, c.R, c.x, c.w, c.wstride, c.bstride, c.N, c.cin, c.cout, c.H,
                       c.W, K, NULL);
    char what[64];
    snprintf(what, sizeof what, "conv K%d%s", K, per_sample ? " per-sample" : "");
    report_gradient(what, "input", fd_error(conv_loss, &c, c.x, dx, in_sz, 0.25));
    report_gradient(what, "w", fd_error(conv_loss, &c, c.w, dw, wsz, 0.25));
    report_gradient(what, "bias", fd_error(conv_loss, &c, c.b, db, bsz, 0.25));
    free(c.x), free(c.w), free(c.b), free(c.R), free(c.out), free(dx), free(dw), free(db);
}

static void test_conv_gradients(void) {
    for (int K = 1; K <= 5; K += 2) conv_case(K, 0);
    conv_case(3, 1);
}

/* ---------------------------------------------------------------- weight norm */

typedef struct {
    int rows, cols;
    float *v, *g, *R, *w;
} wn_ctx;

static double wn_loss(void *p) {
    wn_ctx *c = p;
    nn_weightnorm_forward(c->w, c->v, c->g, c->rows, c->cols);
    return dot_d(c->R, c->w, (size_t)c->rows * c->cols);
}

static void test_weightnorm_gradients(void) {
    wn_ctx c = {.rows = 4, .cols = 9};
    const size_t n = (size_t)c.rows * c.cols;
    c.v = test_rand_buf(n, -1, 1), c.g = test_rand_buf(c.rows, 0.5f, 2), c.R = test_rand_buf(n, -1, 1), c.w = test_zero_buf(n);
    float *dv = test_zero_buf(n), *dg = test_zero_buf(c.rows);
    nn_weightnorm_backward(dv, dg, c.R, c.v, c.g, c.rows, c.cols);
    report_gradient("weight norm", "V", fd_error(wn_loss, &c, c.v, dv, n, 1e-2));
    report_gradient("weight norm", "g", fd_error(wn_loss, &c, c.g, dg, c.rows, 0.25));
    free(c.v), free(c.g), free(c.R), free(c.w), free(dv), free(dg);
}

/* ---------------------------------------------------------------- pixel shuffle, ReLU, L1 */

typedef struct {
    int N, C, H, W, s;
    float *x, *R, *out;
} ps_ctx;

static double ps_loss(void *p) {
    ps_ctx *c = p;
    nn_pixel_shuffle_forward(c->out, c->x, c->N, c->C, c->H, c->W, c->s);
    return dot_d(c->R, c->out, (size_t)c->N * c->C * c->s * c->s * c->H * c->W);
}

static void test_pixel_shuffle_gradients(void) {
    for (int s = 2; s <= 3; s++) {
        ps_ctx c = {.N = 2, .C = 3, .H = 2, .W = 3, .s = s};
        const size_t n = (size_t)c.N * c.C * s * s * c.H * c.W;
        c.x = test_rand_buf(n, -1, 1), c.R = test_rand_buf(n, -1, 1), c.out = test_zero_buf(n);
        float *dx = test_zero_buf(n);
        nn_pixel_shuffle_backward(dx, c.R, c.N, c.C, c.H, c.W, s);
        report_gradient(s == 2 ? "pixel shuffle x2" : "pixel shuffle x3", "input",
               fd_error(ps_loss, &c, c.x, dx, n, 0.25));
        free(c.x), free(c.R), free(c.out), free(dx);
    }
}

typedef struct {
    size_t n;
    float *x, *R, *out;
} relu_ctx;

static double relu_loss(void *p) {
    relu_ctx *c = p;
    nn_relu_forward(c->out, c->x, c->n);
    return dot_d(c->R, c->out, c->n);
}

static void test_relu_gradients(void) {
    relu_ctx c = {.n = 40};
    c.x = test_rand_buf(c.n, -1, 1), c.R = test_rand_buf(c.n, -1, 1), c.out = test_zero_buf(c.n);
    for (size_t i = 0; i < c.n; i++) c.x[i] += c.x[i] > 0 ? 0.05f : -0.05f; /* away from the kink */
    float *dx = test_zero_buf(c.n);
    relu_loss(&c);
    nn_relu_backward(dx, c.R, c.out, c.n);
    report_gradient("relu", "input", fd_error(relu_loss, &c, c.x, dx, c.n, 1e-2));
    free(c.x), free(c.R), free(c.out), free(dx);
}

typedef struct {
    size_t n;
    float *pred, *target;
} l1_ctx;

static double l1_loss(void *p) {
    l1_ctx *c = p;
    return nn_l1_forward(c->pred, c->target, c->n);
}

static void test_l1_gradients(void) {
    l1_ctx c = {.n = 30};
    c.target = test_rand_buf(c.n, 0, 1), c.pred = test_zero_buf(c.n);
    for (size_t i = 0; i < c.n; i++) /* at least 0.05 from the kink */
        c.pred[i] = c.target[i] + (float)((test_urand() < 0.5 ? -1 : 1) * (0.05 + 0.5 * test_urand()));
    float *dp = test_zero_buf(c.n);
    nn_l1_backward(dp, c.pred, c.target, c.n, 1.0f);
    report_gradient("L1 loss", "pred", fd_error(l1_loss, &c, c.pred, dp, c.n, 1e-2));
    free(c.pred), free(c.target), free(dp);
}

int main(void) {
    RUN(test_conv_gradients);
    RUN(test_weightnorm_gradients);
    RUN(test_pixel_shuffle_gradients);
    RUN(test_relu_gradients);
    RUN(test_l1_gradients);
    return test_summary();
}
