/* conv_reference.c - the reference 2-D convolution (K x K, stride 1, zero padding K/2) and its backward.
 *
 * Direct loops, no im2col: every output row is accumulated tap by tap from whole input rows,
 * so the innermost loop is a contiguous multiply-add over a row that the compiler vectorises,
 * and the rows it touches stay in L1. Zero padding is done by clipping each tap's column range
 * rather than by copying the input. Channels are taken four at a time so that each input value
 * loaded feeds four multiply-adds (about twice as fast as one channel at a time); the order of
 * the additions into any one element is still the plain one (bias, then input channel by
 * channel, tap by tap). Threads split the batch and the output (or input) channels, so no two
 * threads write the same element. This stays as the oracle for the fast kernels (conv_dispatch.c's
 * nn_conv2d_forward and nn_conv2d_backward choose between them). */
#include <string.h>

#include "kernels/kernels.h"

#define ROWS 4 /* channels per block */

/* The span [lo, hi) of positions x for which x + off lies inside [0, n). */
static inline void clip_range(int off, int n, int *lo, int *hi) {
    *lo = off < 0 ? -off : 0;
    *hi = off > 0 ? n - off : n;
}

/* rows[j][x] += wv[j] * src[x + off] for j < nrows (at most ROWS), x in [x0, x1). The rows and
 * src never overlap. (The offset is applied per element, so that no pointer ever points before
 * its row's array.) */
static inline void axpy_rows(float *const *rows, const float *wv, int nrows, const float *src,
                             int off, int x0, int x1) {
    if (nrows == ROWS) {
        float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
        const float w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3];
#pragma omp simd
        for (int x = x0; x < x1; x++) {
            const float v = src[x + off];
            r0[x] += w0 * v;
            r1[x] += w1 * v;
            r2[x] += w2 * v;
            r3[x] += w3 * v;
        }
        return;
    }
    for (int j = 0; j < nrows; j++) {
        float *r = rows[j];
        const float wj = wv[j];
#pragma omp simd
        for (int x = x0; x < x1; x++) r[x] += wj * src[x + off];
    }
}

/* acc[j] += sum_x rows[j][x] * src[x + off] for j < nrows, x in [x0, x1): the row's sum in
 * float, added to the double total so that large images keep their small contributions. */
static inline void dot_rows(double *acc, const float *const *rows, int nrows, const float *src,
                            int off, int x0, int x1) {
    if (nrows == ROWS) {
        const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int x = x0; x < x1; x++) {
            const float v = src[x + off];
            s0 += r0[x] * v;
            s1 += r1[x] * v;
            s2 += r2[x] * v;
            s3 += r3[x] * v;
        }
        acc[0] += s0, acc[1] += s1, acc[2] += s2, acc[3] += s3;
        return;
    }
    for (int j = 0; j < nrows; j++) {
        const float *r = rows[j];
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int x = x0; x < x1; x++) s += r[x] * src[x + off];
        acc[j] += s;
    }
}

static inline int block_size(int first, int count) {
    return count - first < ROWS ? count - first : ROWS;
}

/* out[n][o][y][x] = b[o] + sum_{c,ky,kx} w[o][c][ky][kx] inp[n][c][y+ky-pad][x+kx-pad] */
void nn_conv2d_forward_ref(float *out, const float *inp, const float *w, size_t wstride,
                           const float *b, size_t bstride, int N, int cin, int cout, int H,
                           int W, int K) {
    const int pad = K / 2, nblk = (cout + ROWS - 1) / ROWS;
    const size_t plane = (size_t)H * W, ksz = (size_t)K * K, ostride = (size_t)cin * ksz;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int blk = 0; blk < nblk; blk++) {
            const int o0 = blk * ROWS, no = block_size(o0, cout);
            const float *wn = w + n * wstride + (size_t)o0 * ostride;
            const float *xn = inp + (size_t)n * cin * plane;
            for (int y = 0; y < H; y++) {
                float *rows[ROWS];
                for (int j = 0; j < no; j++) {
                    rows[j] = out + ((size_t)n * cout + o0 + j) * plane + (size_t)y * W;
                    const float bias = b ? b[n * bstride + o0 + j] : 0.0f;
                    for (int x = 0; x < W; x++) rows[j][x] = bias;
                }
                for (int c = 0; c < cin; c++) {
                    for (int ky = 0; ky < K; ky++) {
                        const int iy = y + ky - pad;
                        if (iy < 0 || iy >= H) continue;
                        const float *irow = xn + (size_t)c * plane + (size_t)iy * W;
                        for (int kx = 0; kx < K; kx++) {
                            float wv[ROWS];
                            for (int j = 0; j < no; j++)
                                wv[j] = wn[j * ostride + (size_t)c * ksz + (size_t)ky * K + kx];
                            int x0, x1;
                            clip_range(kx - pad, W, &x0, &x1);
                            axpy_rows(rows, wv, no, irow, kx - pad, x0, x1);
                        }
                    }
                }
            }
        }
    }
}

/* dinp[n][c][y][x] += sum_{o,ky,kx} w[o][c][ky][kx] dout[n][o][y-ky+pad][x-kx+pad]: the
 * forward's sum read the other way, one input row at a time. */
static void conv2d_backward_input(float *dinp, const float *dout, const float *w, size_t wstride,
                                  int N, int cin, int cout, int H, int W, int K) {
    const int pad = K / 2, nblk = (cin + ROWS - 1) / ROWS;
    const size_t plane = (size_t)H * W, ksz = (size_t)K * K;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int blk = 0; blk < nblk; blk++) {
            const int c0 = blk * ROWS, nc = block_size(c0, cin);
            const float *wn = w + n * wstride;
            const float *dyn = dout + (size_t)n * cout * plane;
            for (int y = 0; y < H; y++) {
                float *rows[ROWS];
                for (int j = 0; j < nc; j++)
                    rows[j] = dinp + ((size_t)n * cin + c0 + j) * plane + (size_t)y * W;
                for (int o = 0; o < cout; o++) {
                    for (int ky = 0; ky < K; ky++) {
                        const int oy = y - ky + pad;
                        if (oy < 0 || oy >= H) continue;
                        const float *orow = dyn + (size_t)o * plane + (size_t)oy * W;
                        for (int kx = 0; kx < K; kx++) {
                            float wv[ROWS];
                            for (int j = 0; j < nc; j++)
                                wv[j] = wn[((size_t)o * cin + c0 + j) * ksz + (size_t)ky * K + kx];
                            int x0, x1;
                            clip_range(pad - kx, W, &x0, &x1);
                            axpy_rows(rows, wv, nc, orow, pad - kx, x0, x1);
                        }
                    }
                }
            }
        }
    }
}

/* dw[o][c][ky][kx] += sum_{n,y,x} dout[n][o][y][x] inp[n][c][y+ky-pad][x+kx-pad] and
 * db[o] += sum dout[n][o]. With shared weights (wstride 0) a thread owns a block of output
 * channels across the whole batch; with per-sample weights, one sample's block. */
static void conv2d_backward_weights(float *dw, float *db, const float *dout, const float *inp,
                                    size_t wstride, size_t bstride, int N, int cin, int cout,
                                    int H, int W, int K) {
    const int pad = K / 2, nblk = (cout + ROWS - 1) / ROWS, sets = wstride ? N : 1;
    const size_t plane = (size_t)H * W, ksz = (size_t)K * K, ostride = (size_t)cin * ksz;
#pragma omp parallel for collapse(2) schedule(static)
    for (int set = 0; set < sets; set++) {
        for (int blk = 0; blk < nblk; blk++) {
            const int o0 = blk * ROWS, no = block_size(o0, cout);
            const int n0 = wstride ? set : 0, n1 = wstride ? set + 1 : N;
            float *dwb = dw + set * wstride + (size_t)o0 * ostride;
            for (int j = 0; db && j < no; j++) {
                double acc = 0;
                for (int n = n0; n < n1; n++) {
                    const float *g = dout + ((size_t)n * cout + o0 + j) * plane;
                    for (size_t i = 0; i < plane; i++) acc += g[i];
                }
                db[set * bstride + o0 + j] += (float)acc;
            }
            for (int c = 0; c < cin; c++) {
                for (int ky = 0; ky < K; ky++) {
                    for (int kx = 0; kx < K; kx++) {
                        int y0, y1, x0, x1;
                        clip_range(ky - pad, H, &y0, &y1);
                        clip_range(kx - pad, W, &x0, &x1);
                        double acc[ROWS] = {0};
                        for (int n = n0; n < n1; n++) {
                            const float *xc = inp + ((size_t)n * cin + c) * plane;
                            for (int y = y0; y < y1; y++) {
                                const float *rows[ROWS];
                                for (int j = 0; j < no; j++)
                                    rows[j] = dout + ((size_t)n * cout + o0 + j) * plane + (size_t)y * W;
                                dot_rows(acc, rows, no, xc + (size_t)(y + ky - pad) * W,
                                         kx - pad, x0, x1);
                            }
                        }
                        for (int j = 0; j < no; j++)
                            dwb[j * ostride + (size_t)c * ksz + (size_t)ky * K + kx] += (float)acc[j];
                    }
                }
            }
        }
    }
}

void nn_conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, size_t wstride, size_t bstride,
                            int N, int cin, int cout, int H, int W, int K) {
    if (dinp) conv2d_backward_input(dinp, dout, w, wstride, N, cin, cout, H, W, K);
    conv2d_backward_weights(dw, db, dout, inp, wstride, bstride, N, cin, cout, H, W, K);
}
