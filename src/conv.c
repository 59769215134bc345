/* conv.c - the reference 2-D convolution (K x K, stride 1, zero padding K/2) and its backward.
 *
 * Direct loops, no im2col: every output row is accumulated tap by tap from whole input rows,
 * so the innermost loop is a contiguous axpy (or dot product) that the compiler vectorises and
 * the rows it touches stay in L1. Zero padding is done by clipping each tap's row range rather
 * than by copying the input. Threads split the batch and the output (or input) channels, so
 * no two threads write the same element. This stays as the oracle for faster kernels. */
#include <string.h>

#include "engine.h"

/* The span [lo, hi) of output positions for which position + off lies inside [0, n). */
static inline void clip_range(int off, int n, int *lo, int *hi) {
    *lo = off < 0 ? -off : 0;
    *hi = off > 0 ? n - off : n;
}

void nn_conv2d_forward(float *out, const float *inp, const float *w, size_t wstride,
                       const float *b, size_t bstride, int N, int cin, int cout, int H, int W,
                       int K) {
    const int pad = K / 2;
    const size_t plane = (size_t)H * W, ksz = (size_t)K * K;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < cout; o++) {
            const float *wo = w + n * wstride + (size_t)o * cin * ksz;
            const float bias = b ? b[n * bstride + o] : 0.0f;
            const float *xn = inp + (size_t)n * cin * plane;
            float *yo = out + ((size_t)n * cout + o) * plane;
            for (int y = 0; y < H; y++) {
                float *orow = yo + (size_t)y * W;
                for (int x = 0; x < W; x++) orow[x] = bias;
                for (int c = 0; c < cin; c++) {
                    for (int ky = 0; ky < K; ky++) {
                        const int iy = y + ky - pad;
                        if (iy < 0 || iy >= H) continue;
                        const float *irow = xn + (size_t)c * plane + (size_t)iy * W;
                        const float *wk = wo + (size_t)c * ksz + (size_t)ky * K;
                        for (int kx = 0; kx < K; kx++) {
                            const int dx = kx - pad;
                            const float wv = wk[kx];
                            int x0, x1;
                            clip_range(dx, W, &x0, &x1);
                            const float *src = irow + dx;
#pragma omp simd
                            for (int x = x0; x < x1; x++) orow[x] += wv * src[x];
                        }
                    }
                }
            }
        }
    }
}

/* dinp[n][c][y][x] += sum_o sum_taps w[o][c][ky][kx] dout[n][o][y-ky+pad][x-kx+pad]: the
 * forward's loops read backwards, one input row at a time. */
static void conv2d_backward_input(float *dinp, const float *dout, const float *w, size_t wstride,
                                  int N, int cin, int cout, int H, int W, int K) {
    const int pad = K / 2;
    const size_t plane = (size_t)H * W, ksz = (size_t)K * K;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < cin; c++) {
            const float *wn = w + n * wstride;
            const float *dyn = dout + (size_t)n * cout * plane;
            float *dxc = dinp + ((size_t)n * cin + c) * plane;
            for (int y = 0; y < H; y++) {
                float *drow = dxc + (size_t)y * W;
                for (int o = 0; o < cout; o++) {
                    for (int ky = 0; ky < K; ky++) {
                        const int oy = y - ky + pad;
                        if (oy < 0 || oy >= H) continue;
                        const float *orow = dyn + (size_t)o * plane + (size_t)oy * W;
                        const float *wk = wn + ((size_t)o * cin + c) * ksz + (size_t)ky * K;
                        for (int kx = 0; kx < K; kx++) {
                            const int dx = pad - kx;
                            const float wv = wk[kx];
                            int x0, x1;
                            clip_range(dx, W, &x0, &x1);
                            const float *src = orow + dx;
#pragma omp simd
                            for (int x = x0; x < x1; x++) drow[x] += wv * src[x];
                        }
                    }
                }
            }
        }
    }
}

/* dw[o][c][ky][kx] += sum_{n,y,x} dout[n][o][y][x] inp[n][c][y+ky-pad][x+kx-pad] and
 * db[o] += sum dout[n][o]. Each row's dot product is summed in float and the rows in double, so
 * large images do not lose the small contributions. With shared weights (wstride 0) a thread
 * owns an output channel across the whole batch; with per-sample weights, one (n, o) pair. */
static void conv2d_backward_weights(float *dw, float *db, const float *dout, const float *inp,
                                    size_t wstride, size_t bstride, int N, int cin, int cout,
                                    int H, int W, int K) {
    const int pad = K / 2;
    const size_t plane = (size_t)H * W, ksz = (size_t)K * K;
    const int sets = wstride ? N : 1;
#pragma omp parallel for collapse(2) schedule(static)
    for (int set = 0; set < sets; set++) {
        for (int o = 0; o < cout; o++) {
            const int n0 = wstride ? set : 0, n1 = wstride ? set + 1 : N;
            float *dwo = dw + set * wstride + (size_t)o * cin * ksz;
            if (db) {
                double acc = 0;
                for (int n = n0; n < n1; n++) {
                    const float *dy = dout + ((size_t)n * cout + o) * plane;
                    for (size_t i = 0; i < plane; i++) acc += dy[i];
                }
                db[set * bstride + o] += (float)acc;
            }
            for (int c = 0; c < cin; c++) {
                for (int ky = 0; ky < K; ky++) {
                    for (int kx = 0; kx < K; kx++) {
                        const int dy_ = ky - pad, dx = kx - pad;
                        int y0, y1, x0, x1;
                        clip_range(dy_, H, &y0, &y1);
                        clip_range(dx, W, &x0, &x1);
                        double acc = 0;
                        for (int n = n0; n < n1; n++) {
                            const float *dyo = dout + ((size_t)n * cout + o) * plane;
                            const float *xc = inp + ((size_t)n * cin + c) * plane;
                            for (int y = y0; y < y1; y++) {
                                const float *grow = dyo + (size_t)y * W;
                                const float *src = xc + (size_t)(y + dy_) * W + dx;
                                float row = 0;
#pragma omp simd reduction(+ : row)
                                for (int x = x0; x < x1; x++) row += grow[x] * src[x];
                                acc += row;
                            }
                        }
                        dwo[(size_t)c * ksz + (size_t)ky * K + kx] += (float)acc;
                    }
                }
            }
        }
    }
}

void nn_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, size_t wstride, size_t bstride, int N, int cin, int cout,
                        int H, int W, int K) {
    if (dinp) conv2d_backward_input(dinp, dout, w, wstride, N, cin, cout, H, W, K);
    conv2d_backward_weights(dw, db, dout, inp, wstride, bstride, N, cin, cout, H, W, K);
}
