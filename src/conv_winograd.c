/* conv_winograd.c - 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for
 * the forward and the input gradient when there are channels enough to amortise the
 * transforms.
 *
 * Each 2x2 block of output pixels (a tile) of output channel o is
 *   Y = A^T [ sum_c (G g_oc G^T) . (B^T d_c B) ] A
 * with d_c the 4x4 input patch around the tile, g_oc the 3x3 kernel and . the elementwise
 * product; 16 multiply-adds per input channel give 4 outputs where the direct convolution
 * spends 36, so 2.25 times fewer. The sum over c at each of the 16 frequencies xi is a matrix
 * product U_xi (cout x cin) x V_xi (cin x tiles), run by the direct convolution's micro-kernel
 * with K = 1 (6 output channels x 16 tiles per call).
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * Numerical error: B and A only add and subtract, and G's halves are exact, so the result is
 * the direct sum reassociated, with the kernel sums g0 +- g1 + g2 formed first; against the
 * reference (double-checked by tests/test_conv_fast.c) the largest difference is about 1e-7 of
 * the element's magnitude (sum of |w||x|), like the direct kernels'.
 *
 * Blocking: work items are blocks of tiles of one sample (a few tile rows, or a segment of a
 * long one), about 50 tiles, so that a block's transformed input V (16 x cin x T) and products
 * M (16 x cout x T) stay in L2. Per block: input transform, 16 products, output transform (+
 * bias, stores clipped to the image). The transforms run on 8 horizontally adjacent tiles at
 * once: each input row of a block is split into its even and odd columns once, after which
 * every column of every tile is a plain (unaligned) vector load. */
#include <string.h>

#include <omp.h>

#include "conv_fast.h"

#if FAST_X86

#define SEG_MAX 64           /* tiles per block row, at most */
#define BLOCK_FLOATS 98304   /* aim for a block's V and M together (384 KB) */
#define SPLIT_CH 4           /* channels whose rows are split before they are transformed */

/* The block geometry of one call, and its per-thread scratch. */
typedef struct wino_job {
    float *out;
    const float *inp, *U, *b; /* U: transformed kernels, (sets, 16, cout/CO, cin, CO) */
    size_t ustride, bstride;
    int N, cin, cout, coutp, H, W, accumulate;
    int tiles_x, tiles_y;  /* tiles per sample */
    int seg, nseg;         /* tiles per block row (a multiple of 8), blocks across */
    int trows, nrow_blocks; /* tile rows per block, blocks down */
    int T;                 /* tiles per block: trows * seg */
    size_t scratch_floats; /* per thread: V, M, the split rows */
    float *scratch;
} wino_job;

/* u (4x4) = G g G^T for one 3x3 kernel g (row-major, element (ky, kx) at g[ky*sy + kx*sx]). */
static void kernel_transform(float u[16], const float *g, ptrdiff_t sy, ptrdiff_t sx) {
    float t[4][3];
    for (int x = 0; x < 3; x++) {
        const float g0 = g[x * sx], g1 = g[sy + x * sx], g2 = g[2 * sy + x * sx];
        t[0][x] = g0;
        t[1][x] = 0.5f * (g0 + g1 + g2);
        t[2][x] = 0.5f * (g0 - g1 + g2);
        t[3][x] = g2;
    }
    for (int i = 0; i < 4; i++) {
        const float g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
        u[4 * i + 0] = g0;
        u[4 * i + 1] = 0.5f * (g0 + g1 + g2);
        u[4 * i + 2] = 0.5f * (g0 - g1 + g2);
        u[4 * i + 3] = g2;
    }
}

/* U (16, coutp/CO, cin, CO) of one weight set: the micro-kernel's packing, per frequency;
 * output channels past cout are zero. Transposed: w is (cin, cout, 3, 3) of the convolution
 * cout -> cin, read in <-> out and flipped. */
static void transform_kernels(float *U, const float *w, int cin, int cout, int coutp,
                              int transposed) {
    const size_t nob = (size_t)coutp / CO;
    for (int o = 0; o < coutp; o++) {
        for (int c = 0; c < cin; c++) {
            float u[16] = {0};
            if (o < cout) {
                if (transposed) /* flipped: element (ky, kx) at (2 - ky, 2 - kx) */
                    kernel_transform(u, w + ((size_t)c * cout + o) * 9 + 8, -3, -1);
                else
                    kernel_transform(u, w + ((size_t)o * cin + c) * 9, 3, 1);
            }
            for (int xi = 0; xi < 16; xi++)
                U[((xi * nob + o / CO) * cin + c) * CO + o % CO] = u[xi];
        }
    }
}

/* The first n (0..8) lanes of p, zero elsewhere; p is not read past them. */
static AVX2 __m256 load_lanes(const float *p, int n) {
    if (n >= 8) return _mm256_loadu_ps(p);
    if (n <= 0) return _mm256_setzero_ps();
    return _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(mask_src + 8 - n)));
}

/* One input row y, split for the block's tiles tx0 + k, k < n (n a multiple of 8): the
 * patch columns of tile tx are x = 2tx - 1 .. 2tx + 2, so even[k] = x[2(tx0 + k) - 1] and
 * odd[k] = x[2(tx0 + k)], zero outside the image (or for rows outside it, row == NULL). Then
 * patch column j of block tile k is even[k + j/2] (j even) or odd[k + j/2] (j odd). */
static AVX2 void split_row(float *even, float *odd, const float *row, int W, int tx0, int n) {
    for (int k = 0; k < n; k += 8) {
        /* the 16 columns x .. x + 15; only the image's first block starts left of it, at -1,
         * and is read from 0 and shifted by one column */
        const int x = 2 * (tx0 + k) - 1, from = x < 0 ? 0 : x;
        __m256 a = _mm256_setzero_ps(), b = a;
        if (row) {
            a = load_lanes(row + from, W - from);
            if (W - from > 8) b = load_lanes(row + from + 8, W - from - 8);
        }
        /* per 128-bit lane (a0 a2 b0 b2 | a4 a6 b4 b6), then the middle quarters swapped */
        const __m256d e = _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
        const __m256d o = _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
        __m256 ev = _mm256_castpd_ps(_mm256_permute4x64_pd(e, 0xD8));
        __m256 od = _mm256_castpd_ps(_mm256_permute4x64_pd(o, 0xD8));
        if (x < 0) { /* columns 0 .. 15: even ones are odd[], odd ones shifted in with a 0 */
            const __m256 shifted = _mm256_permutevar8x32_ps(od, _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6));
            od = ev;
            ev = _mm256_blend_ps(shifted, _mm256_setzero_ps(), 1);
        }
        _mm256_storeu_ps(even + k, ev);
        _mm256_storeu_ps(odd + k, od);
    }
}

/* V (16, cin, T) of one block: tiles (ty0 + r, tx0 + k) for r < trows, k < seg at column
 * r*seg + k. split: scratch for SPLIT_CH channels' 2*trows + 2 input rows, even and odd
 * columns. The rows of SPLIT_CH channels are split before any is read back, so that the
 * unaligned loads of a row do not wait on its stores still in flight. */
static AVX2 void input_transform(const wino_job *jb, float *V, float *split, const float *x,
                                 int ty0, int tx0) {
    const int seg = jb->seg, H = jb->H, W = jb->W, T = jb->T, sl = seg + 8;
    const int nrows = 2 * jb->trows + 2;
    const size_t f = (size_t)jb->cin * T, per_ch = 2 * (size_t)nrows * sl;
    for (int c0 = 0; c0 < jb->cin; c0 += SPLIT_CH) {
        const int c1 = c0 + SPLIT_CH < jb->cin ? c0 + SPLIT_CH : jb->cin;
        for (int c = c0; c < c1; c++) {
            const float *xc = x + (size_t)c * H * W;
            float *sp = split + (c - c0) * per_ch;
            for (int i = 0; i < nrows; i++) {
                const int y = 2 * ty0 - 1 + i;
                split_row(sp + 2 * i * sl, sp + (2 * i + 1) * sl,
                          y >= 0 && y < H ? xc + (size_t)y * W : NULL, W, tx0, sl);
            }
        }
        for (int c = c0; c < c1; c++) {
            for (int r = 0; r < jb->trows; r++) {
                /* tile row r reads split rows 2r .. 2r + 3 */
                const float *rows = split + (c - c0) * per_ch + 4 * (size_t)r * sl;
                float *v = V + (size_t)c * T + (size_t)r * seg;
                for (int k = 0; k < seg; k += 8) {
                    /* per patch column j, B^T across the columns of each row i, then down
                     * the rows: xi = 4i + j (few live registers: all 16 at once spill) */
                    for (int j = 0; j < 4; j++) {
                        __m256 u[4];
                        for (int i = 0; i < 4; i++) {
                            const float *e = rows + 2 * i * sl + k, *o = e + sl;
                            switch (j) {
                            case 0: u[i] = _mm256_sub_ps(_mm256_loadu_ps(e), _mm256_loadu_ps(e + 1)); break;
                            case 1: u[i] = _mm256_add_ps(_mm256_loadu_ps(o), _mm256_loadu_ps(e + 1)); break;
                            case 2: u[i] = _mm256_sub_ps(_mm256_loadu_ps(e + 1), _mm256_loadu_ps(o)); break;
                            default: u[i] = _mm256_sub_ps(_mm256_loadu_ps(o), _mm256_loadu_ps(o + 1));
                            }
                        }
                        float *vj = v + j * f + k;
                        _mm256_storeu_ps(vj, _mm256_sub_ps(u[0], u[2]));
                        _mm256_storeu_ps(vj + 4 * f, _mm256_add_ps(u[1], u[2]));
                        _mm256_storeu_ps(vj + 8 * f, _mm256_sub_ps(u[2], u[1]));
                        _mm256_storeu_ps(vj + 12 * f, _mm256_sub_ps(u[1], u[3]));
                    }
                }
            }
        }
    }
}

/* M (16, coutp, T) = U_xi V_xi for each frequency xi. */
static AVX2 void products(const wino_job *jb, float *M, const float *V, const float *U) {
    const int cin = jb->cin, coutp = jb->coutp, T = jb->T;
    for (int xi = 0; xi < 16; xi++) {
        const float *Vx = V + (size_t)xi * cin * T, *Ux = U + (size_t)xi * coutp * cin;
        float *Mx = M + (size_t)xi * coutp * T;
        for (int t = 0; t < T; t += 8 * NVMAX) {
            const int nv = T - t >= 8 * NVMAX ? NVMAX : 1;
            for (int o0 = 0; o0 < coutp; o0 += CO) {
                if (nv == NVMAX)
                    fwd_micro(Mx + (size_t)o0 * T + t, T, CO, 8, Vx + t, T, 0,
                              Ux + (size_t)o0 * cin, cin, NULL, 0, 1, NVMAX);
                else
                    fwd_micro(Mx + (size_t)o0 * T + t, T, CO, 8, Vx + t, T, 0,
                              Ux + (size_t)o0 * cin, cin, NULL, 0, 1, 1);
            }
        }
    }
}

/* Stores 16 output pixels of row y from x (tile columns 0) and y1 (columns 1) of 8 tiles,
 * starting at image column x0: only columns < W, adding to out with accumulate. */
static AVX2 void store_pairs(float *row, int x0, int W, __m256 y0, __m256 y1, int accumulate) {
    const __m256 lo = _mm256_unpacklo_ps(y0, y1), hi = _mm256_unpackhi_ps(y0, y1);
    const __m256 p[2] = {_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31)};
    for (int h = 0; h < 2; h++) {
        const int at = x0 + 8 * h, lanes = W - at < 8 ? W - at : 8;
        if (lanes <= 0) break;
        __m256 a = p[h];
        if (lanes == 8) {
            if (accumulate) a = _mm256_add_ps(a, _mm256_loadu_ps(row + at));
            _mm256_storeu_ps(row + at, a);
        } else {
            const __m256i m = _mm256_loadu_si256((const __m256i *)(mask_src + 8 - lanes));
            if (accumulate) a = _mm256_add_ps(a, _mm256_maskload_ps(row + at, m));
            _mm256_maskstore_ps(row + at, m, a);
        }
    }
}

/* The block's outputs from M: A^T m A (+ bias) for each tile inside the image. */
static AVX2 void output_transform(const wino_job *jb, float *out, const float *M,
                                  const float *bias, int ty0, int tx0) {
    const int H = jb->H, W = jb->W, T = jb->T, seg = jb->seg;
    const size_t f = (size_t)jb->coutp * T; /* one frequency */
    for (int o = 0; o < jb->cout; o++) {
        const __m256 b = _mm256_set1_ps(bias ? bias[o] : 0.0f);
        float *oc = out + (size_t)o * H * W;
        for (int r = 0; r < jb->trows && 2 * (ty0 + r) < H; r++) {
            const int y = 2 * (ty0 + r);
            for (int k = 0; k < seg && 2 * (tx0 + k) < W; k += 8) {
                const float *m = M + (size_t)o * T + (size_t)r * seg + k;
                __m256 s[2][4];
                for (int j = 0; j < 4; j++) { /* A^T down the rows */
                    const __m256 m0 = _mm256_loadu_ps(m + (size_t)j * f);
                    const __m256 m1 = _mm256_loadu_ps(m + (size_t)(4 + j) * f);
                    const __m256 m2 = _mm256_loadu_ps(m + (size_t)(8 + j) * f);
                    const __m256 m3 = _mm256_loadu_ps(m + (size_t)(12 + j) * f);
                    s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                    s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
                }
                for (int a = 0; a < 2 && y + a < H; a++) { /* then across the columns */
                    const __m256 y0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[a][0], s[a][1]), s[a][2]), b);
                    const __m256 y1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[a][1], s[a][2]), s[a][3]), b);
                    store_pairs(oc + (size_t)(y + a) * W, 2 * (tx0 + k), W, y0, y1, jb->accumulate);
                }
            }
        }
    }
}

/* Measured here: Winograd wins from 16 channels in and out on 16x16 images (64 -> 64 at
 * 48x48: 1.55x), ties at 8x8, loses below (the transforms are not amortised). */
int wino_suits(int cin, int cout, int H, int W) {
    return cin >= 16 && cout >= 16 && H >= 8 && W >= 8;
}

int wino_conv3x3(float *out, const float *inp, const float *w, size_t wstride, int transposed,
                 const float *b, size_t bstride, int N, int cin, int cout, int H, int W,
                 int accumulate) {
    wino_job jb = {.out = out, .inp = inp, .b = b, .bstride = bstride, .N = N, .cin = cin,
                   .cout = cout, .coutp = (int)round_up((size_t)cout, CO), .H = H, .W = W,
                   .accumulate = accumulate};
    jb.tiles_x = (W + 1) / 2, jb.tiles_y = (H + 1) / 2;
    jb.nseg = (jb.tiles_x + SEG_MAX - 1) / SEG_MAX;
    jb.seg = (int)round_up((size_t)(jb.tiles_x + jb.nseg - 1) / jb.nseg, 8);
    int trows = (int)(BLOCK_FLOATS / (16 * (size_t)(cin + jb.coutp) * jb.seg));
    trows = trows < 1 ? 1 : trows > jb.tiles_y ? jb.tiles_y : trows;
    jb.nrow_blocks = (jb.tiles_y + trows - 1) / trows;
    jb.trows = (jb.tiles_y + jb.nrow_blocks - 1) / jb.nrow_blocks;
    jb.T = jb.trows * jb.seg;
    const int sets = wstride ? N : 1, threads = omp_get_max_threads();
    jb.ustride = wstride ? 16 * (size_t)jb.coutp * cin : 0;
    jb.scratch_floats = 16 * (size_t)(cin + jb.coutp) * jb.T +
                        SPLIT_CH * 2 * (size_t)(2 * jb.trows + 2) * (jb.seg + 8);
    float *U = alloc_floats(16 * (size_t)jb.coutp * cin * sets);
    jb.scratch = alloc_floats(jb.scratch_floats * threads);
    if (!U || !jb.scratch) {
        free(U), free(jb.scratch);
        return 0;
    }
#pragma omp parallel for schedule(static)
    for (int s = 0; s < sets; s++)
        transform_kernels(U + s * jb.ustride, w + s * wstride, cin, cout, jb.coutp, transposed);
    jb.U = U;
    const int per_sample = jb.nrow_blocks * jb.nseg, items = N * per_sample;
#pragma omp parallel num_threads(threads)
    {
        float *V = jb.scratch + jb.scratch_floats * omp_get_thread_num();
        float *M = V + 16 * (size_t)cin * jb.T, *split = M + 16 * (size_t)jb.coutp * jb.T;
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int n = it / per_sample, blk = it % per_sample;
            const int ty0 = blk / jb.nseg * jb.trows, tx0 = blk % jb.nseg * jb.seg;
            input_transform(&jb, V, split, inp + (size_t)n * cin * H * W, ty0, tx0);
            products(&jb, M, V, jb.U + n * jb.ustride);
            output_transform(&jb, out + (size_t)n * cout * H * W, M,
                             b ? b + n * bstride : NULL, ty0, tx0);
        }
    }
    free(U), free(jb.scratch);
    return 1;
}

#endif
