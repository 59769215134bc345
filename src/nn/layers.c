/* layers.c - the small layers of the network: weight normalisation, ReLU, the mean shift,
 * residual sums, pixel shuffle and the L1 loss, each forward beside its backward. */
#include <math.h>

#include "nn/engine.h"

/* These layers split their elements (rows, for weight normalisation) among the threads, each
 * element one thread's, so that the result does not depend on their number, once there are
 * enough to pay for a parallel region: serial, they would leave the other threads idle
 * between the convolutions. */
#define PARALLEL_MIN 65536

/* NSR.md section 2: "W[o] = g[o] V[o] / ||V[o]||" (norm over the c_in*K*K of each stored output
 * channel). The norm is summed in double: a row can hold thousands of weights. */
void nn_weightnorm_forward(float *w, const float *v, const float *g, int rows, int cols) {
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= PARALLEL_MIN)
    for (int o = 0; o < rows; o++) {
        const float *vo = v + (size_t)o * cols;
        double ss = 0;
        for (int i = 0; i < cols; i++) ss += (double)vo[i] * vo[i];
        const float scale = (float)(g[o] / sqrt(ss));
        float *wo = w + (size_t)o * cols;
        for (int i = 0; i < cols; i++) wo[i] = scale * vo[i];
    }
}

/* With u = V/||V|| and W = g u: dg = <dW, u> and dV = (g/||V||) (dW - dg u), the component of
 * dW orthogonal to V (a change of V along itself leaves W unchanged). */
void nn_weightnorm_backward(float *dv, float *dg, const float *dw, const float *v,
                            const float *g, int rows, int cols) {
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= PARALLEL_MIN)
    for (int o = 0; o < rows; o++) {
        const float *vo = v + (size_t)o * cols, *dwo = dw + (size_t)o * cols;
        double ss = 0, dot = 0;
        for (int i = 0; i < cols; i++) {
            ss += (double)vo[i] * vo[i];
            dot += (double)dwo[i] * vo[i];
        }
        const double norm = sqrt(ss);
        const double dgo = dot / norm;
        dg[o] += (float)dgo;
        const double a = g[o] / norm, c = dgo / norm;
        float *dvo = dv + (size_t)o * cols;
        for (int i = 0; i < cols; i++) dvo[i] += (float)(a * (dwo[i] - c * vo[i]));
    }
}

void nn_relu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0;
}

void nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] += out[i] > 0 ? dout[i] : 0.0f;
}

void nn_add_scalar(float *out, const float *inp, float c, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] + c;
}

void nn_add_inplace(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] += inp[i];
}

void nn_zero(float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) x[i] = 0.0f;
}

/* Where pixel (Y, X) of colour c of the shuffled (C, H*s, W*s) image comes from in the
 * unshuffled (C*s*s, H, W) tensor: channel c*s*s + (Y%s)*s + X%s, position (Y/s, X/s). */
static inline size_t unshuffled_index(int c, int Y, int X, int H, int W, int s) {
    const int ch = (c * s + Y % s) * s + X % s;
    return ((size_t)ch * H + Y / s) * W + X / s;
}

void nn_pixel_shuffle_forward(float *out, const float *inp, int N, int C, int H, int W, int s) {
    const size_t sample = (size_t)C * s * s * H * W, out_w = (size_t)W * s;
#pragma omp parallel for collapse(3) schedule(static) if (sample * N >= PARALLEL_MIN)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int Y = 0; Y < H * s; Y++) {
                float *row = out + n * sample + ((size_t)c * H * s + Y) * out_w;
                for (int X = 0; X < W * s; X++)
                    row[X] = inp[n * sample + unshuffled_index(c, Y, X, H, W, s)];
            }
}

void nn_pixel_shuffle_backward(float *dinp, const float *dout, int N, int C, int H, int W, int s) {
    const size_t sample = (size_t)C * s * s * H * W;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int Y = 0; Y < H * s; Y++)
                for (int X = 0; X < W * s; X++)
                    dinp[n * sample + unshuffled_index(c, Y, X, H, W, s)] += *dout++;
}

double nn_l1_forward(const float *pred, const float *target, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += fabs((double)pred[i] - target[i]);
    return sum / (double)n;
}

void nn_l1_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    const float step = dloss / (float)n;
    for (size_t i = 0; i < n; i++) {
        const float diff = pred[i] - target[i];
        dpred[i] += diff > 0 ? step : diff < 0 ? -step : 0.0f;
    }
}
