/* conv_winograd.c - 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): the
 * forward, the input gradient and the weight gradient, when there are channels enough to
 * amortise the transforms.
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
 * The weight gradient is the same computation read backwards: with dM = A dY A^T per tile (dY
 * the tile's 2x2 output gradient), dg_oc = G^T [ sum over tiles of dM_o . V_c ] G, so per
 * frequency a product dM_xi (cout x tiles) x V_xi^T (tiles x cin), a sum over tiles that the
 * direct weight gradient's micro-kernel (dot products over pixels) runs 3 output x 3 input
 * channels at a time, summing lanes into double every SUB tiles.
 *
 * Numerical error: B and A only add and subtract, and G's halves are exact, so each result is
 * the direct sum reassociated; tests/test_conv_fast.c holds all three to 1e-5 of the element's
 * magnitude (sum of |terms|) against the reference, like the direct kernels. A float64 model
 * of these transforms puts the largest error at about 2x the direct kernels' (6e-8 of the
 * magnitude against 3e-8 at 64 channels; F(4x4, 3x3) would be 25x, 9e-7, which is why it is not
 * used).
 *
 * Blocking: the forward's work items are blocks of tiles of one sample (a few tile rows, or a
 * segment of a long one) whose transformed input V (16 x cin x T) and products M (16 x cout x
 * T) stay in L2: input transform, 16 products, output transform (+ bias, stores clipped to the
 * image). The weight gradient transforms chunks of bands of tile rows (threads split the
 * channels), then sums (threads split output x input channel blocks), like the direct one.
 * The transforms run on 8 horizontally adjacent tiles at once: each image row is split into
 * its even and odd columns once, after which every column of every tile is a vector load. */
#include <string.h>

#include <omp.h>

#include "conv_fast.h"

#if FAST_X86

#define SEG_MAX 64          /* tiles per block row in the forward, at most */
#define BLOCK_FLOATS 131072 /* aim for a forward block's V and M together (512 KB) */
#define SPLIT_CH 4          /* channels whose rows are split before they are transformed */
#define WG_CHUNK (8u << 20) /* the weight gradient's transformed bands per chunk */
#define WG_OB 12            /* output channels per weight-gradient item: 4 blocks of 3 */
#define WG_CG 15            /* input channels per weight-gradient item: 5 blocks of 3 */
#define WG_SUB 192          /* tiles per step: 27 channels x 192 tiles, 20 KB, stay in L1 */

/* A block of tiles of one sample: tile rows [ty0, ty0 + trows) x columns [tx0, tx0 + seg),
 * seg a multiple of 8. Tile (ty, tx) covers output pixels (2ty + a, 2tx + b), a, b < 2, and
 * reads input pixels (2ty - 1 + i, 2tx - 1 + j), i, j < 4. */
typedef struct tile_block {
    int ty0, tx0, trows, seg;
} tile_block;

/* ---------------------------------------------------------------- transforms */

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

/* dg (3x3, row-major) += G^T m G, the kernel transform's adjoint, in double. */
static void kernel_transform_adjoint(float *dg, const double m[16]) {
    double t[3][4];
    for (int j = 0; j < 4; j++) {
        const double m0 = m[j], m1 = m[4 + j], m2 = m[8 + j], m3 = m[12 + j];
        t[0][j] = m0 + 0.5 * (m1 + m2);
        t[1][j] = 0.5 * (m1 - m2);
        t[2][j] = 0.5 * (m1 + m2) + m3;
    }
    for (int y = 0; y < 3; y++) {
        const double m0 = t[y][0], m1 = t[y][1], m2 = t[y][2], m3 = t[y][3];
        dg[3 * y + 0] += (float)(m0 + 0.5 * (m1 + m2));
        dg[3 * y + 1] += (float)(0.5 * (m1 - m2));
        dg[3 * y + 2] += (float)(0.5 * (m1 + m2) + m3);
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

/* even[k] = row[x0 + 2k], odd[k] = row[x0 + 2k + 1] for k < n (n a multiple of 8), zero
 * outside [0, W) and for rows outside the image (row NULL). x0 >= -1: the input's first
 * column is -1 (a tile's patch starts one column left of it), dout's 0. */
static AVX2 void split_row(float *even, float *odd, const float *row, int W, int x0, int n) {
    for (int k = 0; k < n; k += 8) {
        /* the 16 columns x .. x + 15; a block at the image's left edge starts at -1, and is
         * read from 0 and shifted by one column */
        const int x = x0 + 2 * k, from = x < 0 ? 0 : x;
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
            const __m256i by_one = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
            const __m256 shifted = _mm256_permutevar8x32_ps(od, by_one);
            od = ev;
            ev = _mm256_blend_ps(shifted, _mm256_setzero_ps(), 1);
        }
        _mm256_storeu_ps(even + k, ev);
        _mm256_storeu_ps(odd + k, od);
    }
}

/* Scratch floats of input_transform and dout_transform for blocks of trows x seg tiles. */
static size_t split_floats(int trows, int seg) {
    return SPLIT_CH * 2 * (size_t)(2 * trows + 2) * (seg + 8);
}

/* V[xi*fstride + c*cstride + r*seg + k] = (B^T d B)[xi] for channels [c0, c1) of x (cin, H, W)
 * and the block's tiles (ty0 + r, tx0 + k). The rows of SPLIT_CH channels are split before
 * any is read back, so that the unaligned loads of a row do not wait on its stores. */
static AVX2 void input_transform(float *V, size_t cstride, size_t fstride, float *split,
                                 const float *x, int H, int W, tile_block b, int c0, int c1) {
    const int sl = b.seg + 8, nrows = 2 * b.trows + 2;
    const size_t per_ch = 2 * (size_t)nrows * sl;
    for (int cs = c0; cs < c1; cs += SPLIT_CH) {
        const int ce = cs + SPLIT_CH < c1 ? cs + SPLIT_CH : c1;
        for (int c = cs; c < ce; c++) {
            const float *xc = x + (size_t)c * H * W;
            float *sp = split + (c - cs) * per_ch;
            for (int i = 0; i < nrows; i++) {
                const int y = 2 * b.ty0 - 1 + i;
                split_row(sp + 2 * i * sl, sp + (2 * i + 1) * sl,
                          y >= 0 && y < H ? xc + (size_t)y * W : NULL, W, 2 * b.tx0 - 1, sl);
            }
        }
        for (int c = cs; c < ce; c++) {
            for (int r = 0; r < b.trows; r++) {
                /* tile row r reads split rows 2r .. 2r + 3; patch column j of tile k is
                 * even[k + j/2] (j even) or odd[k + j/2] (j odd) */
                const float *rows = split + (c - cs) * per_ch + 4 * (size_t)r * sl;
                float *v = V + c * cstride + (size_t)r * b.seg;
                for (int k = 0; k < b.seg; k += 8) {
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
                        float *vj = v + j * fstride + k;
                        _mm256_storeu_ps(vj, _mm256_sub_ps(u[0], u[2]));
                        _mm256_storeu_ps(vj + 4 * fstride, _mm256_add_ps(u[1], u[2]));
                        _mm256_storeu_ps(vj + 8 * fstride, _mm256_sub_ps(u[2], u[1]));
                        _mm256_storeu_ps(vj + 12 * fstride, _mm256_sub_ps(u[1], u[3]));
                    }
                }
            }
        }
    }
}

/* dM[xi*fstride + o*ostride + r*seg + k] = (A dY A^T)[xi] for channels [o0, o1) of dy
 * (cout, H, W) and the block's tiles, dY zero outside the image. A's columns: (1 0), (1 1),
 * (1 -1), (0 -1), so per column b the rows are y0, y0 + y1, y0 - y1, -y1, and the same
 * across. */
static AVX2 void dout_transform(float *dM, size_t ostride, size_t fstride, float *split,
                                const float *dy, int H, int W, tile_block b, int o0, int o1) {
    const int sl = b.seg + 8;
    const __m256 zero = _mm256_setzero_ps();
    for (int o = o0; o < o1; o++) {
        const float *yo = dy + (size_t)o * H * W;
        for (int r = 0; r < b.trows; r++) {
            for (int a = 0; a < 2; a++) { /* row a: columns 2tx + 0 in even, + 1 in odd */
                const int y = 2 * (b.ty0 + r) + a;
                split_row(split + 2 * a * sl, split + (2 * a + 1) * sl,
                          y < H ? yo + (size_t)y * W : NULL, W, 2 * b.tx0, sl);
            }
            float *m = dM + o * ostride + (size_t)r * b.seg;
            for (int k = 0; k < b.seg; k += 8) {
                __m256 p[4][2]; /* A down the rows, per column b */
                for (int c = 0; c < 2; c++) {
                    const __m256 y0 = _mm256_loadu_ps(split + c * sl + k);
                    const __m256 y1 = _mm256_loadu_ps(split + (2 + c) * sl + k);
                    p[0][c] = y0;
                    p[1][c] = _mm256_add_ps(y0, y1);
                    p[2][c] = _mm256_sub_ps(y0, y1);
                    p[3][c] = _mm256_sub_ps(zero, y1);
                }
                for (int i = 0; i < 4; i++) { /* then across */
                    float *mi = m + 4 * i * fstride + k;
                    _mm256_storeu_ps(mi, p[i][0]);
                    _mm256_storeu_ps(mi + fstride, _mm256_add_ps(p[i][0], p[i][1]));
                    _mm256_storeu_ps(mi + 2 * fstride, _mm256_sub_ps(p[i][0], p[i][1]));
                    _mm256_storeu_ps(mi + 3 * fstride, _mm256_sub_ps(zero, p[i][1]));
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- forward and input gradient */

/* The geometry of one forward-style call, and its per-thread scratch. */
typedef struct wino_job {
    float *out;
    const float *inp, *U, *b; /* U: transformed kernels, (sets, 16, coutp/CO, cin, CO) */
    size_t ustride, bstride;
    int N, cin, cout, coutp, H, W, accumulate;
    int nseg, nrow_blocks;  /* blocks across and down a sample */
    int seg, trows, T;      /* every block's tiles per row, rows, in all */
    size_t scratch_floats;  /* per thread: V, M, the split rows */
    float *scratch;
} wino_job;

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

/* Stores 16 output pixels of a row from y0 (tile columns 0) and y1 (columns 1) of 8 tiles,
 * starting at image column x0: only columns < W, adding to out with accumulate. */
static AVX2 void store_pairs(float *row, int x0, int W, __m256 y0, __m256 y1, int accumulate) {
    const __m256 lo = _mm256_unpacklo_ps(y0, y1), hi = _mm256_unpackhi_ps(y0, y1);
    const __m256 p[2] = {_mm256_permute2f128_ps(lo, hi, 0x20),
                         _mm256_permute2f128_ps(lo, hi, 0x31)};
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
                                  const float *bias, tile_block blk) {
    const int H = jb->H, W = jb->W, T = jb->T;
    const size_t f = (size_t)jb->coutp * T; /* one frequency */
    for (int o = 0; o < jb->cout; o++) {
        const __m256 b = _mm256_set1_ps(bias ? bias[o] : 0.0f);
        float *oc = out + (size_t)o * H * W;
        for (int r = 0; r < blk.trows && 2 * (blk.ty0 + r) < H; r++) {
            const int y = 2 * (blk.ty0 + r);
            for (int k = 0; k < blk.seg && 2 * (blk.tx0 + k) < W; k += 8) {
                const float *m = M + (size_t)o * T + (size_t)r * blk.seg + k;
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
                    const __m256 c0 = _mm256_add_ps(_mm256_add_ps(s[a][0], s[a][1]), s[a][2]);
                    const __m256 c1 = _mm256_sub_ps(_mm256_sub_ps(s[a][1], s[a][2]), s[a][3]);
                    store_pairs(oc + (size_t)(y + a) * W, 2 * (blk.tx0 + k), W,
                                _mm256_add_ps(c0, b), _mm256_add_ps(c1, b), jb->accumulate);
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
    /* blocks: rows of at most SEG_MAX tiles, as many tile rows as fit BLOCK_FLOATS */
    const int tiles_x = (W + 1) / 2, tiles_y = (H + 1) / 2;
    jb.nseg = (tiles_x + SEG_MAX - 1) / SEG_MAX;
    jb.seg = (int)round_up((size_t)(tiles_x + jb.nseg - 1) / jb.nseg, 8);
    int trows = (int)(BLOCK_FLOATS / (16 * (size_t)(cin + jb.coutp) * jb.seg));
    trows = trows < 1 ? 1 : trows > tiles_y ? tiles_y : trows;
    jb.nrow_blocks = (tiles_y + trows - 1) / trows;
    jb.trows = (tiles_y + jb.nrow_blocks - 1) / jb.nrow_blocks;
    jb.T = jb.trows * jb.seg;
    const int sets = wstride ? N : 1, threads = omp_get_max_threads();
    jb.ustride = wstride ? 16 * (size_t)jb.coutp * cin : 0;
    jb.scratch_floats = 16 * (size_t)(cin + jb.coutp) * jb.T + split_floats(jb.trows, jb.seg);
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
    const size_t f = (size_t)cin * jb.T;
#pragma omp parallel num_threads(threads)
    {
        float *V = jb.scratch + jb.scratch_floats * omp_get_thread_num();
        float *M = V + 16 * f, *split = M + 16 * (size_t)jb.coutp * jb.T;
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int n = it / per_sample, blk = it % per_sample;
            const tile_block tb = {blk / jb.nseg * jb.trows, blk % jb.nseg * jb.seg, jb.trows,
                                   jb.seg};
            input_transform(V, jb.T, f, split, inp + (size_t)n * cin * H * W, H, W, tb, 0, cin);
            products(&jb, M, V, jb.U + n * jb.ustride);
            output_transform(&jb, out + (size_t)n * cout * H * W, M,
                             b ? b + n * bstride : NULL, tb);
        }
    }
    free(U), free(jb.scratch);
    return 1;
}

/* ---------------------------------------------------------------- weight gradient */

/* One call's weight gradient. Pieces: bands of trows tile rows of one sample, all its tile
 * columns (seg); per piece, V (16, cinp, T) and dM (16, coutp, T), T = trows * seg, channel
 * counts rounded up to the blocks of 3 (their rows zero). Chunks of pieces share one buffer. */
struct wino_wgrad {
    float *dw, *db;
    const float *dout, *inp;
    size_t wstride, bstride;
    int N, cin, cout, cinp, coutp, H, W;
    int seg, trows, bands, pieces, T, threads;
    size_t piece_floats;
    float *buf, *split; /* split: per thread */
};

static float *piece_v(const wino_wgrad *jb, int p) { return jb->buf + p * jb->piece_floats; }
static float *piece_dm(const wino_wgrad *jb, int p) {
    return piece_v(jb, p) + 16 * (size_t)jb->cinp * jb->T;
}

wino_wgrad *wino_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                            size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                            int W) {
    wino_wgrad *jb = calloc(1, sizeof *jb);
    if (!jb) return NULL;
    *jb = (wino_wgrad){.dw = dw, .db = db, .dout = dout, .inp = inp, .wstride = wstride,
                       .bstride = bstride, .N = N, .cin = cin, .cout = cout,
                       .cinp = (int)round_up((size_t)cin, 3), .coutp = (int)round_up((size_t)cout, 3),
                       .H = H, .W = W, .threads = omp_get_max_threads()};
    const int tiles_y = (H + 1) / 2;
    jb->seg = (int)round_up((size_t)(W + 1) / 2, 8);
    /* bands whose transforms fit in a quarter of the chunk, as long as one tile row does */
    const size_t per_row = 16 * (size_t)(jb->cinp + jb->coutp) * jb->seg * sizeof(float);
    int trows = (int)(WG_CHUNK / 4 / per_row);
    trows = trows < 1 ? 1 : trows > tiles_y ? tiles_y : trows;
    jb->bands = (tiles_y + trows - 1) / trows;
    jb->trows = (tiles_y + jb->bands - 1) / jb->bands;
    jb->T = jb->trows * jb->seg;
    jb->piece_floats = 16 * (size_t)(jb->cinp + jb->coutp) * jb->T;
    const size_t total = (size_t)N * jb->bands;
    size_t pieces = WG_CHUNK / (jb->piece_floats * sizeof(float));
    pieces = pieces < 1 ? 1 : pieces > total ? total : pieces;
    jb->pieces = (int)pieces;
    jb->buf = alloc_floats(jb->piece_floats * pieces);
    jb->split = alloc_floats(split_floats(jb->trows, jb->seg) * jb->threads);
    if (!jb->buf || !jb->split) {
        wino_wgrad_free(jb);
        return NULL;
    }
    /* the rows of the channels past cin and cout, summed and never transformed */
    for (size_t p = 0; p < pieces; p++)
        for (int xi = 0; xi < 16; xi++) {
            memset(piece_v(jb, (int)p) + ((size_t)xi * jb->cinp + cin) * jb->T, 0,
                   (size_t)(jb->cinp - cin) * jb->T * sizeof(float));
            memset(piece_dm(jb, (int)p) + ((size_t)xi * jb->coutp + cout) * jb->T, 0,
                   (size_t)(jb->coutp - cout) * jb->T * sizeof(float));
        }
    return jb;
}

/* Item: chunk pieces [p0, p1) x output channels [o0, o0 + WG_OB) x input channels [c0, c0 +
 * WG_CG) of weight set `set`: per frequency and piece, dot products over the tiles in blocks of
 * 3 x 3 channels, WG_SUB tiles at a time (the dM rows of all WG_OB and the V rows of all WG_CG
 * channels then stay in L1, each read by several blocks), lanes kept in `part` and summed into
 * double per piece; at the end G^T (.) G into dw (and, for c0 = 0, the bias gradient, the sum
 * of dY: dM's frequency 5). */
static AVX2 void wgrad_item(const wino_wgrad *jb, int p0, int p1, int set, int o0, int c0) {
    enum { OB = WG_OB / 3, CB = WG_CG / 3 };
    const int T = jb->T, cin = jb->cin;
    const int o1 = o0 + WG_OB < jb->cout ? o0 + WG_OB : jb->cout;
    const int c1 = c0 + WG_CG < cin ? c0 + WG_CG : cin;
    const int nob = (o1 - o0 + 2) / 3, ncb = (c1 - c0 + 2) / 3;
    double acc[WG_OB][WG_CG][16] = {{{0}}}, bacc[WG_OB] = {0};
    __m256 part[OB][CB][9];
    for (int xi = 0; xi < 16; xi++) {
        for (int p = p0; p < p1; p++) {
            const float *dm = piece_dm(jb, p) + ((size_t)xi * jb->coutp + o0) * T;
            const float *v = piece_v(jb, p) + ((size_t)xi * jb->cinp + c0) * T;
            memset(part, 0, sizeof part);
            for (int q0 = 0; q0 < T; q0 += WG_SUB) {
                const int len = T - q0 < WG_SUB ? T - q0 : WG_SUB;
                for (int ob = 0; ob < nob; ob++)
                    for (int cb = 0; cb < ncb; cb++)
                        dot_micro(part[ob][cb], dm + (size_t)3 * ob * T + q0, T,
                                  v + (size_t)3 * cb * T + q0, T, len, 3, 3);
                for (int o = o0; xi == 5 && c0 == 0 && o < o1; o++)
                    bacc[o - o0] += vsum(dm + (size_t)(o - o0) * T + q0, len);
            }
            for (int o = o0; o < o1; o++)
                for (int c = c0; c < c1; c++)
                    acc[o - o0][c - c0][xi] +=
                        hsum(part[(o - o0) / 3][(c - c0) / 3][(o - o0) % 3 * 3 + (c - c0) % 3]);
        }
    }
    for (int o = o0; o < o1; o++)
        for (int c = c0; c < c1; c++)
            kernel_transform_adjoint(jb->dw + set * jb->wstride + ((size_t)o * cin + c) * 9,
                                     acc[o - o0][c - c0]);
    for (int o = o0; jb->db && c0 == 0 && o < o1; o++)
        jb->db[set * jb->bstride + o] += (float)bacc[o - o0];
}

void wino_wgrad_free(wino_wgrad *jb) {
    if (jb) free(jb->buf), free(jb->split);
    free(jb);
}

void wino_wgrad_run(wino_wgrad *jb) {
    const int cin = jb->cin, cout = jb->cout, bands = jb->bands, total = jb->N * bands;
    const int nob = (cout + WG_OB - 1) / WG_OB, ncg = (cin + WG_CG - 1) / WG_CG;
    /* transform work: a piece x SPLIT_CH input or dout channels */
    const int tin = (cin + SPLIT_CH - 1) / SPLIT_CH, tout = (cout + SPLIT_CH - 1) / SPLIT_CH;
    const size_t sf = split_floats(jb->trows, jb->seg);
    /* one team for the whole call, two barriers per chunk: after the transforms, and after
     * the sums (before the next chunk's transforms overwrite the buffers) */
#pragma omp parallel num_threads(jb->threads)
    {
        float *split = jb->split + sf * omp_get_thread_num();
        for (int g0 = 0; g0 < total; g0 += jb->pieces) {
            const int np = total - g0 < jb->pieces ? total - g0 : jb->pieces;
            const int n0 = g0 / bands, groups = jb->wstride ? (g0 + np - 1) / bands - n0 + 1 : 1;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < np * (tin + tout); i++) {
                const int p = i / (tin + tout), part = i % (tin + tout), gp = g0 + p;
                const int n = gp / bands;
                const tile_block tb = {gp % bands * jb->trows, 0, jb->trows, jb->seg};
                const size_t T = (size_t)jb->T;
                if (part < tin) {
                    const int c = part * SPLIT_CH, ce = c + SPLIT_CH < cin ? c + SPLIT_CH : cin;
                    input_transform(piece_v(jb, p), T, (size_t)jb->cinp * T, split,
                                    jb->inp + (size_t)n * cin * jb->H * jb->W, jb->H, jb->W, tb,
                                    c, ce);
                } else {
                    const int o = (part - tin) * SPLIT_CH, oe = o + SPLIT_CH < cout ? o + SPLIT_CH : cout;
                    dout_transform(piece_dm(jb, p), T, (size_t)jb->coutp * T, split,
                                   jb->dout + (size_t)n * cout * jb->H * jb->W, jb->H, jb->W, tb,
                                   o, oe);
                }
            }
#pragma omp for schedule(dynamic, 1)
            for (int it = 0; it < groups * nob * ncg; it++) {
                const int grp = it / (nob * ncg), ob = it / ncg % nob, cg = it % ncg;
                int gp0 = g0, gp1 = g0 + np; /* shared kernels: one group, every piece */
                if (jb->wstride) {           /* per-sample: the pieces of sample n0 + grp */
                    gp0 = (n0 + grp) * bands > g0 ? (n0 + grp) * bands : g0;
                    gp1 = (n0 + grp + 1) * bands < g0 + np ? (n0 + grp + 1) * bands : g0 + np;
                }
                wgrad_item(jb, gp0 - g0, gp1 - g0, jb->wstride ? n0 + grp : 0, WG_OB * ob,
                           WG_CG * cg);
            }
        }
    }
    wino_wgrad_free(jb);
}

#endif
