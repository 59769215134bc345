/* conv_winograd_forward.c - the forward and the input gradient of a 3x3 convolution (stride 1,
 * zero padding 1) by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms
 * for Convolutional Neural Networks", 2016), when there are channels enough to amortise the
 * transforms. (The weight gradient, conv_winograd_wgrad.c, uses F(2x2, 3x3).)
 *
 * Each 4x4 block of output pixels (a tile) of output channel o is
 *   Y = A^T [ sum_c (G g_oc G^T) . (B^T d_c B) ] A
 * with d_c the 6x6 input patch around the tile, g_oc the 3x3 kernel and . the elementwise
 * product: 36 multiply-adds per input channel give 16 outputs where the direct convolution
 * spends 144, 4 times fewer (F(2x2, 3x3): 2.25). The sum over c at each of the 36 frequencies
 * xi is a matrix product U_xi (cout x cin) x V_xi (cin x tiles), run by the direct convolution's
 * micro-kernel with K = 1 (6 output channels x 16 tiles per call). With the interpolation
 * points 0, 1, -1, 2, -2 and infinity:
 *
 *   B^T = [4  0 -5  0 1 0]   G = [ 1/4     0    0]   A^T = [1 1  1 1  1 0]
 *         [0 -4 -4  1 1 0]       [-1/6  -1/6 -1/6]         [0 1 -1 2 -2 0]
 *         [0  4 -4 -1 1 0]       [-1/6   1/6 -1/6]         [0 1  1 4  4 0]
 *         [0 -2 -1  2 1 0]       [ 1/24 1/12  1/6]         [0 1 -1 8 -8 1]
 *         [0  2 -1 -2 1 0]       [ 1/24 -1/12 1/6]
 *         [0  4  0 -5 0 1]       [ 0     0     1 ]
 *
 * Numerical error: the larger tile multiplies and divides by up to 8 and 24, so the rounding
 * grows: a float32 model of 64 input channels (200 random tiles against a float64 direct sum)
 * puts the worst error at 1.05e-6 of the element's magnitude (the sum of |terms|), against
 * about 6e-8 for F(2x2, 3x3) and 3e-8 for the direct kernels; tests/test_conv_kernels.c holds it
 * to 1e-5 of the magnitude like every fast path.
 *
 * Per-sample kernels (NSR's mixtures) need their own transforms per sample, 36 x cout x cin
 * floats: each sample's kernels are mixed (mix_kernels) and transformed by the thread that
 * runs the sample, into its own buffer; a one-hot mixture (hard selection) uses its group's
 * transforms, made once per call. (The transform is linear, so mixing the groups' transforms
 * would do too, but it reads 36 floats per kernel and group where the kernels have 9.) A mixture
 * may leave the selection itself to the convolution (nn_kernel_mix.select): the thread that
 * runs a sample whole selects it first, reading the input it is about to transform.
 *
 * Blocking: the work items are blocks of tiles of one sample (a few tile rows, or a segment of
 * a long one) whose transformed input V (36 x cin x T) and products M (36 x cout x T) stay in
 * L2: input transform, 36 products, output transform (+ bias, then the caller's residual and
 * ReLU, nn_conv_post; stores clipped to the image).
 * The tiles of a block are numbered row after row without padding (48 pixels: 12 tiles a row),
 * and the transforms take 8 tiles of a row at a time, one per vector lane: each input row is
 * split into its 4 phases (columns 4k + p - 1) once, after which every column of 8 adjacent
 * tiles is one vector load. 8 tiles that run past the end of their row compute on the next
 * row's pixels (or zeros) in the extra lanes, whose stores the next row's overwrite and whose
 * outputs are never stored. */
#include <string.h>

#include <omp.h>

#include "kernels/conv_paths.h"
#include "kernels/micro_kernels.h"
#include "kernels/thread_scratch.h"

#if FAST_X86

#define NF 36                /* frequencies of a 6x6 tile */
#define SEG_MAX 32           /* tiles per block row, at most */
#define BLOCK_FLOATS 229376  /* a block's V and M together, about (896 KB) */
#define SPLIT_CH 8           /* channels whose rows are split before they are transformed */

/* A block of tiles of one sample: tile rows [ty0, ty0 + trows) x columns [tx0, tx0 + seg).
 * Tile (ty, tx) covers output pixels (4ty + a, 4tx + b), a, b < 4, and reads input pixels
 * (4ty - 1 + i, 4tx - 1 + j), i, j < 6. */
typedef struct tile_block {
    int ty0, tx0, trows, seg;
} tile_block;

/* ---------------------------------------------------------------- the three transforms */

/* r = B^T v for 6 vectors (a row or a column of 8 tiles' patches, a tile per lane). */
INLINE AVX2 void input_1d(__m256 r[6], const __m256 v[6]) {
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 five = _mm256_set1_ps(5.0f);
    const __m256 t1 = _mm256_fnmadd_ps(four, v[2], v[4]), t2 = _mm256_fnmadd_ps(four, v[1], v[3]);
    const __m256 t3 = _mm256_sub_ps(v[4], v[2]), t4 = _mm256_mul_ps(two, _mm256_sub_ps(v[3], v[1]));
    r[0] = _mm256_fmadd_ps(four, v[0], _mm256_fnmadd_ps(five, v[2], v[4]));
    r[1] = _mm256_add_ps(t1, t2);
    r[2] = _mm256_sub_ps(t1, t2);
    r[3] = _mm256_add_ps(t3, t4);
    r[4] = _mm256_sub_ps(t3, t4);
    r[5] = _mm256_fmadd_ps(four, v[1], _mm256_fnmadd_ps(five, v[3], v[5]));
}

/* y = A^T m for 6 vectors: 4 outputs. */
INLINE AVX2 void output_1d(__m256 y[4], const __m256 m[6]) {
    const __m256 s = _mm256_add_ps(m[1], m[2]), d = _mm256_sub_ps(m[1], m[2]);
    const __m256 s2 = _mm256_add_ps(m[3], m[4]), d2 = _mm256_sub_ps(m[3], m[4]);
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s), s2);
    y[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d2, d);
    y[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s2, s);
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d2, d), m[5]);
}

/* t = G g for 3 vectors: 6 outputs. */
INLINE AVX2 void kernel_1d(__m256 t[6], __m256 g0, __m256 g1, __m256 g2) {
    const __m256 sixth = _mm256_set1_ps(-1.0f / 6.0f), s02 = _mm256_add_ps(g0, g2);
    const __m256 a = _mm256_fmadd_ps(g0, _mm256_set1_ps(1.0f / 24.0f),
                                     _mm256_mul_ps(g2, _mm256_set1_ps(1.0f / 6.0f)));
    const __m256 b = _mm256_mul_ps(g1, _mm256_set1_ps(1.0f / 12.0f));
    t[0] = _mm256_mul_ps(g0, _mm256_set1_ps(0.25f));
    t[1] = _mm256_mul_ps(_mm256_add_ps(s02, g1), sixth);
    t[2] = _mm256_mul_ps(_mm256_sub_ps(s02, g1), sixth);
    t[3] = _mm256_add_ps(a, b);
    t[4] = _mm256_sub_ps(a, b);
    t[5] = g2;
}

/* The products' output channels: blocks of CO rows, then (where CO would compute rows past
 * cout) one or two blocks of CO_NARROW: 8 = 4 + 4 rather than 12, 16 = 6 + 6 + 4 rather than 18,
 * 32 = 4 x 6 + 4 + 4 rather than 36 (the hard selection's narrow convs at k = 8 and 4, and the
 * residual blocks' second convs). wide: the channels in blocks of CO; rows: all the rows. */
typedef struct out_blocks {
    int wide, rows;
} out_blocks;

static out_blocks out_blocks_of(int cout) {
    int wide = cout / CO, narrow = 0;
    const int rest = cout % CO;
    if (rest > CO_NARROW) { /* 5: one more wide block */
        wide++;
    } else if (rest > CO - CO_NARROW || (rest > 0 && wide == 0)) { /* 3, 4; a cout of 1, 2 */
        narrow = 1;
    } else if (rest > 0) { /* 1, 2: the last wide block and the rest in two narrow ones */
        wide--;
        narrow = 2;
    }
    return (out_blocks){CO * wide, CO * wide + CO_NARROW * narrow};
}

/* The rows of the block starting at row o0. */
static inline int block_rows(out_blocks ob, int o0) { return o0 < ob.wide ? CO : CO_NARROW; }

/* Floats per frequency of U: rows x cin and a cache line, so that the 36 frequencies of one
 * kernel, which its transform stores together, do not fall on the same cache set when rows x
 * cin is a power of two (64 x 64: 16 KB apart, which made the transform 4 times slower). */
static inline size_t u_stride(out_blocks ob, int cin) { return (size_t)ob.rows * cin + 16; }

/* U (NF, rows, cin) of one weight set, u = G g G^T for each 3x3 kernel g, in the micro-kernel's
 * packing per frequency: each output block (o0, width bw) as (cin, bw); rows past cout are
 * zero. A frequency takes uf floats (u_stride), a little more than rows x cin. Transposed: w
 * is (cin, cout, 3, 3) of the convolution cout -> cin, read in <-> out and flipped. The
 * kernels of a block and input channel are transformed together, a lane each: their taps are
 * loaded as rows and turned over by an 8x8 transpose (half the time of gathering them), and
 * each frequency's bw values stored as one vector whose last lanes the next store overwrites
 * (the set's very last row is stored lane by lane instead, as nothing follows it). */
static AVX2 void transform_kernels(float *U, const float *w, int cin, int cout, out_blocks obs,
                                   size_t uf, int transposed) {
    for (int o0 = 0; o0 < obs.rows; o0 += block_rows(obs, o0)) {
        const int bw = block_rows(obs, o0), lanes = cout - o0 < bw ? cout - o0 : bw;
        for (int c = 0; c < cin; c++) {
            /* kernel l's 9 floats, taps 0..8 (transposed: 8..0, flipped), as row l of an 8x8
             * block (taps 0..7, or 7..0 transposed) and a ninth vector's lane */
            __m256 r[8], g[3][3], t[3][6], u[NF];
            float ninth[8] = {0};
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                const float *k = transposed ? w + ((size_t)c * cout + o0 + l) * 9
                                            : w + ((size_t)(o0 + l) * cin + c) * 9;
                r[l] = l < lanes ? _mm256_loadu_ps(k + transposed) : _mm256_setzero_ps();
                if (l < lanes) ninth[l] = k[transposed ? 0 : 8];
            }
            transpose8(r); /* r[i] lane l: float i (+ 1 transposed) of kernel l */
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const int tap = transposed ? 7 - i : i;
                g[tap / 3][tap % 3] = r[i];
            }
            g[2][2] = _mm256_loadu_ps(ninth);
#pragma GCC unroll 3
            for (int x = 0; x < 3; x++) kernel_1d(t[x], g[0][x], g[1][x], g[2][x]); /* down */
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) kernel_1d(u + 6 * i, t[0][i], t[1][i], t[2][i]); /* across */
            float *dst = U + (size_t)o0 * cin + (size_t)c * bw;
#pragma GCC unroll 6
            for (int xi = 0; xi < NF; xi++) {
                if (o0 + bw < obs.rows || c < cin - 1) {
                    _mm256_storeu_ps(dst + xi * uf, u[xi]);
                } else {
                    float v[8];
                    _mm256_storeu_ps(v, u[xi]);
                    memcpy(dst + xi * uf, v, bw * sizeof *v);
                }
            }
        }
    }
}

/* The in-lane 4x4 transpose of (v0, v1, v2, v3): applied to 32 consecutive floats it gives
 * their 4 phases (every 4th float from 0, 1, 2, 3) in the lane order 0 2 4 6 1 3 5 7; being
 * its own inverse, it also turns 4 phases in that order back into 32 consecutive floats. */
INLINE AVX2 void transpose4_lanes(__m256 v[4]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    v[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    v[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    v[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    v[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

/* row[q .. q + 7] with zeros outside [0, W) (and for row NULL); q >= -1. */
INLINE AVX2 __m256 load_row(const float *row, int q, int W) {
    if (!row) return _mm256_setzero_ps();
    if (q >= 0) return load_lanes(row + q, W - q);
    /* q = -1, a block at the image's left edge: columns 0 .. 6 shifted in after a zero */
    const __m256 a = _mm256_permutevar8x32_ps(load_lanes(row, W),
                                              _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6));
    return _mm256_blend_ps(a, _mm256_setzero_ps(), 1);
}

/* ph[p*sl + k] = row[x0 + 4k + p] for p < 4, k < n (n a multiple of 8), zero outside [0, W)
 * and for rows outside the image (row NULL); x0 >= -1. */
static AVX2 void split_row4(float *ph, int sl, const float *row, int W, int x0, int n) {
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int k = 0; k < n; k += 8) {
        __m256 v[4];
#pragma GCC unroll 6
        for (int i = 0; i < 4; i++) v[i] = load_row(row, x0 + 4 * k + 8 * i, W);
        transpose4_lanes(v);
#pragma GCC unroll 6
        for (int p = 0; p < 4; p++)
            _mm256_storeu_ps(ph + p * sl + k, _mm256_permutevar8x32_ps(v[p], order));
    }
}

/* The 36 frequencies of B^T d B for the 8 tiles k .. k + 7 of a tile row, from its 6 input
 * rows split into phases (row i's phase p at rows[(4i + p)*sl]): frequency xi = 6a + j of
 * tile k + l to dst[xi*fstride + l]. Patch column j of tile k is phase j % 4 at k + j / 4. */
INLINE AVX2 void input_tiles(float *dst, size_t fstride, const float *rows, int sl, int k) {
    __m256 across[6][6]; /* [row i][column frequency j] */
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        __m256 v[6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++)
            v[j] = _mm256_loadu_ps(rows + (size_t)(4 * i + (j & 3)) * sl + k + (j >> 2));
        input_1d(across[i], v);
    }
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++) {
        __m256 col[6], f[6];
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) col[i] = across[i][j];
        input_1d(f, col);
#pragma GCC unroll 6
        for (int a = 0; a < 6; a++) _mm256_storeu_ps(dst + (size_t)(6 * a + j) * fstride, f[a]);
    }
}

/* ---------------------------------------------------------------- one call */

/* The geometry of one call, and its per-thread scratch. */
typedef struct wino_job {
    float *out;
    const float *inp, *U, *b; /* U: transformed kernels, (sets, NF, rows, cin) */
    size_t ustride, bstride;  /* ustride: one set of U, 0 when all samples share set 0 */
    const float *w;           /* the kernel groups, one after another (nn_kernel_mix) */
    const nn_kernel_mix *mix; /* per-sample mixtures of the groups of U, or NULL */
    int select_here;          /* mix->select is called by sample_kernels */
    const char *transformed;  /* which sets of U are transformed */
    int transposed;
    int N, cin, cout, H, W, accumulate, relu;
    int avx512;            /* the products on 512-bit vectors (wino_avx512) */
    out_blocks ob;         /* the products' output blocks */
    size_t uf;             /* U's frequency stride (u_stride) */
    int nseg, nrow_blocks; /* blocks across and down a sample */
    int seg, trows, T, Tp; /* every block's tiles per row, rows, in all; T rounded up to 8 */
    int sl;                /* floats per split phase row */
    size_t vf;             /* V's frequency stride: cin*Tp and 8 floats for the last lanes */
    size_t scratch_floats; /* per thread: V, M, the split rows; with mix, a sample's U and
                            * its mixed kernels */
    float *scratch;
} wino_job;

/* The kernels of sample n's mixture in the groups' own layout (cout, cin, 3, 3) of the mixture
 * (with transposed, the mixture's output channels are this convolution's inputs), mixed by
 * kernel_mix.c for the one sample. Mixing before the transform reads 9 floats per kernel and
 * group where mixing the groups' transforms would read 36. */
static void mix_kernels(const wino_job *jb, float *wmix, int n) {
    nn_kernel_mix one = *jb->mix;
    one.coef += (size_t)n * one.groups * one.cards;
    const int mix_cin = jb->transposed ? jb->cout : jb->cin;
    nn_kernel_mix_forward(wmix, NULL, jb->w, NULL, &one, 1, jb->transposed ? jb->cin : jb->cout,
                          (size_t)mix_cin * 9);
}

/* The transformed kernels of sample n: a set of U, or the sample's mixture, mixed and
 * transformed in the thread's own buffer on the thread's first block of the sample (*held: the
 * sample it is on, or -1). With select_here, the sample is selected then (a thread runs it
 * whole). */
static AVX2 const float *sample_kernels(const wino_job *jb, int n, float *ubuf, int *held) {
    if (!jb->mix) return jb->U + n * jb->ustride;
    const int first = *held != n;
    *held = n;
    if (first && jb->select_here) jb->mix->select(jb->mix->select_ctx, n);
    const int s = nn_kernel_mix_one_group(jb->mix, n);
    if (s >= 0 && jb->transformed[s]) return jb->U + s * jb->ustride;
    if (first) {
        float *wmix = ubuf + NF * jb->uf;
        mix_kernels(jb, wmix, n);
        transform_kernels(ubuf, wmix, jb->cin, jb->cout, jb->ob, jb->uf, jb->transposed);
    }
    return ubuf;
}

/* V[xi*vf + c*Tp + r*seg + k] = (B^T d B)[xi] for the channels of x (cin, H, W) and the
 * block's tiles (ty0 + r, tx0 + k). The rows of SPLIT_CH channels are split before any is read
 * back, so that the unaligned loads of a row do not wait on its stores. */
static AVX2 void input_transform(const wino_job *jb, float *V, float *split, const float *x,
                                 tile_block b) {
    const int sl = jb->sl, rows = 4 * b.trows + 2, H = jb->H, W = jb->W;
    const size_t per_ch = (size_t)rows * 4 * sl;
    for (int cs = 0; cs < jb->cin; cs += SPLIT_CH) {
        const int ce = cs + SPLIT_CH < jb->cin ? cs + SPLIT_CH : jb->cin;
        for (int c = cs; c < ce; c++)
            for (int i = 0; i < rows; i++) {
                const int y = 4 * b.ty0 - 1 + i;
                split_row4(split + (c - cs) * per_ch + (size_t)i * 4 * sl, sl,
                           y >= 0 && y < H ? x + ((size_t)c * H + y) * W : NULL, W,
                           4 * b.tx0 - 1, sl);
            }
        for (int c = cs; c < ce; c++)
            for (int r = 0; r < b.trows; r++) /* tile row r reads split rows 4r .. 4r + 5 */
                for (int k = 0; k < b.seg; k += 8)
                    input_tiles(V + (size_t)c * jb->Tp + (size_t)r * b.seg + k, jb->vf,
                                split + (c - cs) * per_ch + (size_t)r * 16 * sl, sl, k);
    }
}

/* M (NF, rows, Tp) = U_xi V_xi for each frequency xi: 16 pixels a step, or 32 on 512-bit
 * vectors. */
static AVX2 void products(const wino_job *jb, float *M, const float *V, const float *U) {
    const int cin = jb->cin, rows = jb->ob.rows, Tp = jb->Tp;
    const int step = jb->avx512 ? 32 : 8 * NVMAX;
    for (int xi = 0; xi < NF; xi++) {
        const float *Vx = V + xi * jb->vf, *Ux = U + xi * jb->uf;
        float *Mx = M + (size_t)xi * rows * Tp;
        for (int t = 0; t < Tp; t += step) {
            const int two = Tp - t >= 8 * NVMAX, n = Tp - t < step ? Tp - t : step;
            for (int o0 = 0; o0 < rows; o0 += block_rows(jb->ob, o0)) {
                float *m = Mx + (size_t)o0 * Tp + t;
                const float *u = Ux + (size_t)o0 * cin;
                const int cw = o0 < jb->ob.wide ? CO : CO_NARROW;
                /* the shapes as constants, so that each call unrolls into its own loop */
                if (jb->avx512)
                    product_avx512(m, Tp, cw, n, Vx + t, Tp, u, cin, 0, cw);
                else if (o0 < jb->ob.wide && two)
                    fwd_micro(m, Tp, CO, 8, Vx + t, Tp, 0, u, cin, NULL, 0, CO, 1, NVMAX);
                else if (o0 < jb->ob.wide)
                    fwd_micro(m, Tp, CO, 8, Vx + t, Tp, 0, u, cin, NULL, 0, CO, 1, 1);
                else if (two)
                    fwd_micro(m, Tp, CO_NARROW, 8, Vx + t, Tp, 0, u, cin, NULL, 0, CO_NARROW, 1,
                              NVMAX);
                else
                    fwd_micro(m, Tp, CO_NARROW, 8, Vx + t, Tp, 0, u, cin, NULL, 0, CO_NARROW, 1, 1);
            }
        }
    }
}

/* Stores the first n (0..32) of 32 output pixels of a row at row: column b of tile l is y[b]
 * lane l, and goes to row[4l + b]; added to what row holds with accumulate, then the residual
 * row res (NULL: none) added, ReLU applied when post says so, and the elements whose gate row
 * (NULL: none) is not positive zeroed. */
static AVX2 void store_row(float *row, int n, const __m256 y[4], int accumulate,
                           const float *res, int relu, const float *gate) {
    const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m256 v[4];
#pragma GCC unroll 6
    for (int b = 0; b < 4; b++) v[b] = _mm256_permutevar8x32_ps(y[b], order);
    transpose4_lanes(v);
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        float *d = row + 8 * q;
        if (8 * q >= n) break;
        const int lanes = n - 8 * q < 8 ? n - 8 * q : 8;
        if (accumulate) v[q] = _mm256_add_ps(v[q], load_lanes(d, lanes));
        if (res) v[q] = _mm256_add_ps(v[q], load_lanes(res + 8 * q, lanes));
        if (relu) v[q] = _mm256_max_ps(v[q], _mm256_setzero_ps());
        if (gate) {
            const __m256 open = _mm256_cmp_ps(load_lanes(gate + 8 * q, lanes),
                                              _mm256_setzero_ps(), _CMP_GT_OQ);
            v[q] = _mm256_and_ps(v[q], open);
        }
        if (lanes == 8) {
            _mm256_storeu_ps(d, v[q]);
        } else {
            const __m256i m = _mm256_loadu_si256((const __m256i *)(mask_src + 8 - lanes));
            _mm256_maskstore_ps(d, m, v[q]);
        }
    }
}

/* The block's outputs from M: A^T m A (+ bias) for each tile, stored inside the image (res
 * and gate: the sample's post tensors, or NULL). */
static AVX2 void output_transform(const wino_job *jb, float *out, const float *res,
                                  const float *gate, const float *M, const float *bias,
                                  tile_block blk) {
    const int H = jb->H, W = jb->W, Tp = jb->Tp;
    const size_t f = (size_t)jb->ob.rows * Tp; /* one frequency */
    for (int o = 0; o < jb->cout; o++) {
        const __m256 b = _mm256_set1_ps(bias ? bias[o] : 0.0f);
        float *oc = out + (size_t)o * H * W;
        const float *rc = res ? res + (size_t)o * H * W : NULL;
        const float *gc = gate ? gate + (size_t)o * H * W : NULL;
        for (int r = 0; r < blk.trows && 4 * (blk.ty0 + r) < H; r++) {
            const int y = 4 * (blk.ty0 + r);
            for (int k = 0; k < blk.seg && 4 * (blk.tx0 + k) < W; k += 8) {
                const float *m = M + (size_t)o * Tp + (size_t)r * blk.seg + k;
                const int x = 4 * (blk.tx0 + k), tiles = blk.seg - k < 8 ? blk.seg - k : 8;
                const int n = 4 * tiles < W - x ? 4 * tiles : W - x;
                __m256 down[4][6]; /* A^T down the columns: [output row a][column frequency j] */
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++) {
                    __m256 col[6], y4[4];
#pragma GCC unroll 6
                    for (int i = 0; i < 6; i++) col[i] = _mm256_loadu_ps(m + (size_t)(6 * i + j) * f);
                    output_1d(y4, col);
#pragma GCC unroll 6
                    for (int a = 0; a < 4; a++) down[a][j] = y4[a];
                }
#pragma GCC unroll 4
                for (int a = 0; a < 4; a++) { /* then across the rows */
                    if (y + a >= H) break;
                    __m256 y4[4];
                    output_1d(y4, down[a]);
#pragma GCC unroll 6
                    for (int c = 0; c < 4; c++) y4[c] = _mm256_add_ps(y4[c], b);
                    const size_t at = (size_t)(y + a) * W + x;
                    store_row(oc + at, n, y4, jb->accumulate, rc ? rc + at : NULL, jb->relu,
                              gc ? gc + at : NULL);
                }
            }
        }
    }
}

/* Measured here against the direct kernels (batches of 16 48x48, 2 threads): Winograd wins
 * 1.8x at 64 -> 64, 64 -> 16 and 64 -> 8 (the NSR convs of hard selection with k = 4, 8),
 * 1.7x at 16 -> 8, 1.4-1.5x at 8 -> 16 and 8 -> 64, 1.1-1.2x at 3 or 4 -> 64, and ties or
 * loses at 64 -> 4, 64 -> 3 and 12 -> 12. */
int wino_suits(int cin, int cout, int H, int W) {
    return ((cin >= 16 && cout >= 8) || (cin >= 8 && cout >= 16)) && H >= 8 && W >= 8;
}

int wino_conv3x3(float *out, const float *inp, const float *w, size_t wstride,
                 const nn_kernel_mix *mix, int transposed, const float *b, size_t bstride, int N,
                 int cin, int cout, int H, int W, int accumulate, const nn_conv_post *post) {
    wino_job jb = {.out = out, .inp = inp, .b = b, .bstride = bstride, .w = w, .mix = mix,
                   .transposed = transposed, .N = N, .cin = cin, .cout = cout,
                   .ob = out_blocks_of(cout), .H = H, .W = W,
                   .accumulate = accumulate, .relu = post && post->relu,
                   .avx512 = wino_avx512()};
    const float *res = post ? post->residual : NULL, *gate = post ? post->gate : NULL;
    /* blocks: rows of at most SEG_MAX tiles, as many tile rows as fit BLOCK_FLOATS */
    const int tiles_x = (W + 3) / 4, tiles_y = (H + 3) / 4;
    jb.nseg = (tiles_x + SEG_MAX - 1) / SEG_MAX;
    jb.seg = (tiles_x + jb.nseg - 1) / jb.nseg;
    int trows = (int)(BLOCK_FLOATS / (NF * (size_t)(cin + jb.ob.rows) * jb.seg));
    trows = trows < 1 ? 1 : trows > tiles_y ? tiles_y : trows;
    jb.nrow_blocks = (tiles_y + trows - 1) / trows;
    jb.trows = (tiles_y + jb.nrow_blocks - 1) / jb.nrow_blocks;
    jb.T = jb.trows * jb.seg;
    jb.Tp = (int)round_up((size_t)jb.T, 8);
    jb.sl = (int)round_up((size_t)jb.seg, 8) + 8;
    jb.vf = (size_t)cin * jb.Tp + 8;
    const int sets = mix ? mix->groups : wstride ? N : 1, threads = omp_get_max_threads();
    jb.uf = u_stride(jb.ob, cin);
    const size_t uset = NF * jb.uf; /* one set's transformed kernels */
    const size_t split = SPLIT_CH * (size_t)(4 * jb.trows + 2) * 4 * jb.sl;
    jb.ustride = sets > 1 ? uset : 0;
    jb.scratch_floats = NF * jb.vf + NF * (size_t)jb.ob.rows * jb.Tp + split;
    if (mix) jb.scratch_floats += uset + 9 * (size_t)cout * cin;
    float *U = thread_scratch(SCRATCH_WINO_KERNELS, uset * sets);
    jb.scratch = thread_scratch(SCRATCH_WINO, jb.scratch_floats * threads);
    if (!U || !jb.scratch) return 0;
    const int per_sample = jb.nrow_blocks * jb.nseg, items = N * per_sample;
    /* whole samples per thread when there are samples enough: a block's neighbour shares its
     * input rows, a mixture's kernels are mixed once per sample, and a selection the mixture
     * leaves to the convolution is made where the sample's input is about to be read */
    const int chunk = N >= 2 * threads ? per_sample : 1;
    jb.select_here = mix && mix->select && chunk > 1;
    if (mix && mix->select && !jb.select_here) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) mix->select(mix->select_ctx, n);
    }
    /* a mixture's sets are transformed only where a sample is one of them (hard selection; all
     * of them when the convolution selects, one-hot): the others' mixtures are mixed and
     * transformed per sample */
    char *needed = calloc((size_t)sets, 1);
    if (!needed) return 0;
    for (int n = 0; n < (mix ? N : sets) && !jb.select_here; n++) {
        const int s = mix ? nn_kernel_mix_one_group(mix, n) : n;
        if (s >= 0) needed[s] = 1;
    }
    for (int s = 0; s < sets && jb.select_here && mix->one_hot; s++) needed[s] = 1;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < sets; s++)
        if (needed[s])
            transform_kernels(U + s * jb.ustride, w + s * wstride, cin, cout, jb.ob, jb.uf,
                              transposed);
    jb.transformed = needed;
    jb.U = U;
#pragma omp parallel num_threads(threads)
    {
        float *V = jb.scratch + jb.scratch_floats * omp_get_thread_num();
        float *M = V + NF * jb.vf, *split_rows = M + NF * (size_t)jb.ob.rows * jb.Tp;
        float *ubuf = split_rows + split;
        int held = -1;
        /* lanes past the last tile, which no store may reach: zeros, computed on, never stored */
        for (size_t row = 0; jb.Tp > jb.T && row < NF * (size_t)cin; row++)
            memset(V + row / cin * jb.vf + row % cin * jb.Tp + jb.T, 0,
                   (size_t)(jb.Tp - jb.T) * sizeof *V);
#pragma omp for schedule(dynamic, chunk)
        for (int it = 0; it < items; it++) {
            const int n = it / per_sample, blk = it % per_sample;
            const tile_block tb = {blk / jb.nseg * jb.trows, blk % jb.nseg * jb.seg, jb.trows,
                                   jb.seg};
            input_transform(&jb, V, split_rows, inp + (size_t)n * cin * H * W, tb);
            products(&jb, M, V, sample_kernels(&jb, n, ubuf, &held));
            const size_t at = (size_t)n * cout * H * W;
            output_transform(&jb, out + at, res ? res + at : NULL, gate ? gate + at : NULL, M,
                             b ? b + n * bstride : NULL, tb);
        }
    }
    free(needed);
    return 1;
}

#endif
