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
 * frequency a product dM_xi (cout x tiles) x V_xi^T (tiles x cin), a sum over tiles. The
 * forward's micro-kernel runs it too, with the tiles as its input channels: the transforms
 * store V with the channels contiguous and dM packed like kernels, turning each 8 tiles x 8
 * channels block over (an 8x8 transpose). Dot products along the tiles instead (the direct
 * weight gradient's kernel, on the transforms' natural layout) ran 1.3x slower: they reload
 * both operands for every 9 multiply-adds, where the outer product reuses a 16-channel block
 * of V from L1 across output channels.
 *
 * Numerical error: B and A only add and subtract, and G's halves are exact, so each result is
 * the direct sum reassociated. A float64 model of the forward puts its largest error at about
 * 2x the direct kernels' (6e-8 of the element's magnitude, the sum of |terms|, against 3e-8 at
 * 64 channels; F(4x4, 3x3) would be 25x, 9e-7, which is why it is not used), and
 * tests/test_conv_fast.c holds all three passes to 1e-5 of the magnitude against the
 * reference, like the direct kernels, except the weight gradient on images of a pixel or two:
 * its rounding is relative to a tile's whole gradient, which there can be 10x a tap's own.
 *
 * Blocking: the forward's work items are blocks of tiles of one sample (a few tile rows, or a
 * segment of a long one) whose transformed input V (16 x cin x T) and products M (16 x cout x
 * T) stay in L2: input transform, 16 products, output transform (+ bias, stores clipped to the
 * image). The weight gradient transforms chunks of bands of tile rows (threads split the
 * channels), then sums (threads split output x input channel blocks), in float along a band
 * (as the reference does along a row) and in double across bands, each item adding its own
 * weights' sums to dw, like the direct one.
 * The transforms run on 8 horizontally adjacent tiles at once: each image row is split into
 * its even and odd columns once, after which every column of every tile is a vector load. */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "conv_fast.h"

#if FAST_X86

#define SEG_MAX 64          /* tiles per block row in the forward, at most */
#define BLOCK_FLOATS 131072 /* aim for a forward block's V and M together (512 KB) */
#define SPLIT_CH 8          /* channels whose rows are split before they are transformed */
#define WG_CHUNK (8u << 20) /* the weight gradient's transformed bands per chunk */
#define WG_OB 4             /* output blocks (of CO) per weight-gradient item */
#define WG_SUB 256          /* tiles per product call: 16 channels x 256 tiles, 16 KB, in L1 */

/* A block of tiles of one sample: tile rows [ty0, ty0 + trows) x columns [tx0, tx0 + seg),
 * seg a multiple of 8. Tile (ty, tx) covers output pixels (2ty + a, 2tx + b), a, b < 2, and
 * reads input pixels (2ty - 1 + i, 2tx - 1 + j), i, j < 4. */
typedef struct tile_block {
    int ty0, tx0, trows, seg;
} tile_block;

/* ---------------------------------------------------------------- transforms */

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

/* U (16, coutp/CO, cin, CO) of one weight set, u = G g G^T for each 3x3 kernel g: the
 * micro-kernel's packing, per frequency; output channels past cout are zero. Transposed: w is
 * (cin, cout, 3, 3) of the convolution cout -> cin, read in <-> out and flipped. The CO
 * kernels of a block and input channel are transformed together, a lane each (gathered), and
 * each frequency's CO values stored as one vector whose last lanes the next store overwrites
 * (the block's very last row is stored lane by lane instead, as nothing follows it). */
static AVX2 void transform_kernels(float *U, const float *w, int cin, int cout, int coutp,
                                   int transposed) {
    const int nob = coutp / CO;
    const size_t fstride = (size_t)coutp * cin; /* one frequency */
    /* element (ky, kx) of kernel (o, c) at w0 + o*so + c*sc + ky*sy + kx*sx */
    const int so = transposed ? 9 : 9 * cin, sc = transposed ? 9 * cout : 9;
    const int sy = transposed ? -3 : 3, sx = transposed ? -1 : 1;
    const float *w0 = transposed ? w + 8 : w;
    const __m256 half = _mm256_set1_ps(0.5f);
    for (int ob = 0; ob < nob; ob++) {
        const int lanes = cout - ob * CO < CO ? cout - ob * CO : CO;
        const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                              _mm256_set1_epi32(so));
        const __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
            _mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
        for (int c = 0; c < cin; c++) {
            const float *base = w0 + (size_t)ob * CO * so + (size_t)c * sc;
            __m256 t[4][3], u[16];
            for (int x = 0; x < 3; x++) { /* G down the columns */
                __m256 g[3];
                for (int y = 0; y < 3; y++)
                    g[y] = lanes > 0 ? _mm256_mask_i32gather_ps(_mm256_setzero_ps(),
                                                                base + y * sy + x * sx, at,
                                                                mask, 4)
                                     : _mm256_setzero_ps();
                const __m256 s02 = _mm256_add_ps(g[0], g[2]);
                t[0][x] = g[0];
                t[1][x] = _mm256_mul_ps(half, _mm256_add_ps(s02, g[1]));
                t[2][x] = _mm256_mul_ps(half, _mm256_sub_ps(s02, g[1]));
                t[3][x] = g[2];
            }
            for (int i = 0; i < 4; i++) { /* then across the rows */
                const __m256 s02 = _mm256_add_ps(t[i][0], t[i][2]);
                u[4 * i + 0] = t[i][0];
                u[4 * i + 1] = _mm256_mul_ps(half, _mm256_add_ps(s02, t[i][1]));
                u[4 * i + 2] = _mm256_mul_ps(half, _mm256_sub_ps(s02, t[i][1]));
                u[4 * i + 3] = t[i][2];
            }
            float *dst = U + ((size_t)ob * cin + c) * CO;
            for (int xi = 0; xi < 16; xi++) {
                if (ob < nob - 1 || c < cin - 1) {
                    _mm256_storeu_ps(dst + xi * fstride, u[xi]);
                } else {
                    float v[8];
                    _mm256_storeu_ps(v, u[xi]);
                    memcpy(dst + xi * fstride, v, CO * sizeof *v);
                }
            }
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

/* The 16 frequencies of B^T d B for the 8 tiles k .. k + 7 of a tile row, from its 4 input
 * rows split into even and odd columns (rows[2i*sl], rows[(2i + 1)*sl]): frequency xi of tile
 * k + l at dst[xi*fstride + l]. Patch column j of tile k is even[k + j/2] (j even) or odd[k +
 * j/2] (j odd); per j, B^T across the columns of each row i, then down the rows: xi = 4i + j
 * (few live registers: all 16 at once spill). */
INLINE AVX2 void input_tiles(float *dst, size_t fstride, const float *rows, int sl, int k) {
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
        float *dj = dst + j * fstride;
        _mm256_storeu_ps(dj, _mm256_sub_ps(u[0], u[2]));
        _mm256_storeu_ps(dj + 4 * fstride, _mm256_add_ps(u[1], u[2]));
        _mm256_storeu_ps(dj + 8 * fstride, _mm256_sub_ps(u[2], u[1]));
        _mm256_storeu_ps(dj + 12 * fstride, _mm256_sub_ps(u[1], u[3]));
    }
}

/* The 16 frequencies of A dY A^T for the 8 tiles k .. k + 7 of a tile row, from its 2 dout
 * rows split (split[2a*sl] even, split[(2a + 1)*sl] odd columns of row a), to dst[xi*fstride +
 * l]. A's columns are (1 0), (1 1), (1 -1), (0 -1): per column b the rows are y0, y0 + y1,
 * y0 - y1, -y1, and the same across. */
INLINE AVX2 void dout_tiles(float *dst, size_t fstride, const float *split, int sl, int k) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 p[4][2];
    for (int b = 0; b < 2; b++) {
        const __m256 y0 = _mm256_loadu_ps(split + b * sl + k);
        const __m256 y1 = _mm256_loadu_ps(split + (2 + b) * sl + k);
        p[0][b] = y0;
        p[1][b] = _mm256_add_ps(y0, y1);
        p[2][b] = _mm256_sub_ps(y0, y1);
        p[3][b] = _mm256_sub_ps(zero, y1);
    }
    for (int i = 0; i < 4; i++) {
        float *di = dst + 4 * i * fstride;
        _mm256_storeu_ps(di, p[i][0]);
        _mm256_storeu_ps(di + fstride, _mm256_add_ps(p[i][0], p[i][1]));
        _mm256_storeu_ps(di + 2 * fstride, _mm256_sub_ps(p[i][0], p[i][1]));
        _mm256_storeu_ps(di + 3 * fstride, _mm256_sub_ps(zero, p[i][1]));
    }
}

/* The input rows tile rows [0, trows) of block b read, 2*trows + 2, of channels [cs, ce) of x
 * (cin, H, W), split: channel c's row i at split + (c - cs)*per_ch + 2i*sl (even), + sl (odd). */
static AVX2 void split_input(float *split, size_t per_ch, const float *x, int H, int W,
                             tile_block b, int cs, int ce) {
    const int sl = b.seg + 8;
    for (int c = cs; c < ce; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *sp = split + (c - cs) * per_ch;
        for (int i = 0; i < 2 * b.trows + 2; i++) {
            const int y = 2 * b.ty0 - 1 + i;
            split_row(sp + 2 * i * sl, sp + (2 * i + 1) * sl,
                      y >= 0 && y < H ? xc + (size_t)y * W : NULL, W, 2 * b.tx0 - 1, sl);
        }
    }
}

/* Floats of split_input's scratch for SPLIT_CH channels of blocks of trows x seg tiles. */
static size_t split_floats(int trows, int seg) {
    return SPLIT_CH * 2 * (size_t)(2 * trows + 2) * (seg + 8);
}

/* V[xi*fstride + c*cstride + r*seg + k] = (B^T d B)[xi] for channels [c0, c1) of x (cin, H, W)
 * and the block's tiles (ty0 + r, tx0 + k). The rows of SPLIT_CH channels are split before
 * any is read back, so that the unaligned loads of a row do not wait on its stores. */
static AVX2 void input_transform(float *V, size_t cstride, size_t fstride, float *split,
                                 const float *x, int H, int W, tile_block b, int c0, int c1) {
    const int sl = b.seg + 8;
    const size_t per_ch = 2 * (size_t)(2 * b.trows + 2) * sl;
    for (int cs = c0; cs < c1; cs += SPLIT_CH) {
        const int ce = cs + SPLIT_CH < c1 ? cs + SPLIT_CH : c1;
        split_input(split, per_ch, x, H, W, b, cs, ce);
        for (int c = cs; c < ce; c++)
            for (int r = 0; r < b.trows; r++) /* tile row r reads split rows 2r .. 2r + 3 */
                for (int k = 0; k < b.seg; k += 8)
                    input_tiles(V + c * cstride + (size_t)r * b.seg + k, fstride,
                                split + (c - cs) * per_ch + 4 * (size_t)r * sl, sl, k);
    }
}

/* ---------------------------------------------------------------- forward and input gradient */

/* The geometry of one forward-style call, and its per-thread scratch. */
typedef struct wino_job {
    float *out;
    const float *inp, *U, *b; /* U: transformed kernels, (sets, 16, coutp/CO, cin, CO) */
    size_t ustride, bstride;  /* ustride: one set of U, 0 when all samples share set 0 */
    const nn_kernel_mix *mix; /* per-sample mixtures of the sets of U, or NULL */
    int transposed;
    int N, cin, cout, coutp, H, W, accumulate;
    int nseg, nrow_blocks;  /* blocks across and down a sample */
    int seg, trows, T;      /* every block's tiles per row, rows, in all */
    size_t scratch_floats;  /* per thread: V, M, the split rows; with mix, a sample's U and
                             * the coefficient table */
    float *scratch;
} wino_job;

/* Sample n's mixture when it is one set (gamma one-hot: hard selection): that set, else -1. */
static int single_set(const nn_kernel_mix *mix, int n) {
    const float *g = mix->coef + (size_t)n * mix->sets * mix->cards;
    int only = -1;
    for (int s = 0; s < mix->sets; s++) {
        const int ones = g[s * mix->cards] == 1.0f;
        for (int j = 0; j < mix->cards; j++)
            if (g[s * mix->cards + j] != (ones ? 1.0f : 0.0f)) return -1;
        if (ones) {
            if (only >= 0) return -1;
            only = s;
        }
    }
    return only;
}

/* Un (16, coutp/CO, cin, CO) = sum_s C_s . U_s, the transformed kernels of sample n: the
 * kernel transform is linear, so the transform of the mixture is the mixture of the sets'
 * transforms. C (sets, coutp/CO, cin, CO) holds each element's coefficient, the same for the
 * 16 frequencies: output channel o's (input channel c's when transposed, where the mixture's
 * output channels are this convolution's inputs). Per 8 elements, 8 frequencies at a time
 * accumulate over the sets in registers. */
static AVX2 void mix_kernels(const wino_job *jb, float *Un, float *C, int n) {
    const nn_kernel_mix *mix = jb->mix;
    const int sets = mix->sets, cin = jb->cin, coutp = jb->coutp;
    const int mix_cout = jb->transposed ? cin : jb->cout, per_card = mix_cout / mix->cards;
    const float *g = mix->coef + (size_t)n * sets * mix->cards;
    const size_t slice = (size_t)coutp * cin; /* one frequency of one set */
    /* the coefficient of the mixture's output channel m (of set s): o = ob*CO + l, or c
     * when transposed (whose lanes past cout hold zero kernels: any coefficient will do) */
#define COEF(s, m) ((m) < mix_cout ? g[(s) * mix->cards + (m) / per_card] : 0.0f)
    for (int s = 0; s < sets; s++)
        for (int ob = 0; ob < coutp / CO; ob++) {
            float *row = C + s * slice + (size_t)ob * cin * CO;
            for (int c = 0; c < cin; c++) {
                if (jb->transposed) {
                    const float v = COEF(s, c);
                    for (int l = 0; l < CO; l++) row[c * CO + l] = v;
                } else if (c == 0) {
                    for (int l = 0; l < CO; l++) row[l] = COEF(s, ob * CO + l);
                } else {
                    memcpy(row + c * CO, row, CO * sizeof *row);
                }
            }
        }
#undef COEF
    /* set by set, each a sequential stream (k sets of U do not fit L2 together), into Un,
     * which does */
    for (int s = 0; s < sets; s++) {
        const float *u = jb->U + s * jb->ustride, *cs = C + s * slice;
        for (int xi = 0; xi < 16; xi++, u += slice) {
            float *un = Un + xi * slice;
            size_t e = 0;
            for (; e + 8 <= slice; e += 8) {
                const __m256 a = s ? _mm256_loadu_ps(un + e) : _mm256_setzero_ps();
                _mm256_storeu_ps(un + e, _mm256_fmadd_ps(_mm256_loadu_ps(cs + e),
                                                         _mm256_loadu_ps(u + e), a));
            }
            for (; e < slice; e++) un[e] = fmaf(cs[e], u[e], s ? un[e] : 0.0f);
        }
    }
}

/* The transformed kernels of sample n: a set of U, or the sample's mixture, made in the
 * thread's own buffer unless it already holds it (*held: the sample it holds, or -1). */
static AVX2 const float *sample_kernels(const wino_job *jb, int n, float *ubuf, int *held) {
    if (!jb->mix) return jb->U + n * jb->ustride;
    const int s = single_set(jb->mix, n);
    if (s >= 0) return jb->U + s * jb->ustride;
    if (*held != n) {
        mix_kernels(jb, ubuf, ubuf + 16 * (size_t)jb->coutp * jb->cin, n);
        *held = n;
    }
    return ubuf;
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

/* Measured here (one thread, batches of 16): the forward wins from 16 channels in and out on
 * 16x16 images (64 -> 64 at 48x48: 1.55x the direct kernels), ties at 8x8 and loses below,
 * where the transforms are not amortised. The weight gradient needs more: it wins from 32x32
 * images (64 -> 64: 1.7x; 1.6x at 48x48), ties at 24x24, and loses at 16 -> 16 channels. */
int wino_suits(int cin, int cout, int H, int W) {
    return cin >= 16 && cout >= 16 && H >= 8 && W >= 8;
}
int wino_wgrad_suits(int cin, int cout, int H, int W) {
    return cin >= 16 && cout >= 16 && cin + cout >= 48 && H >= 32 && W >= 32;
}

int wino_conv3x3(float *out, const float *inp, const float *w, size_t wstride,
                 const nn_kernel_mix *mix, int transposed, const float *b, size_t bstride, int N,
                 int cin, int cout, int H, int W, int accumulate) {
    wino_job jb = {.out = out, .inp = inp, .b = b, .bstride = bstride, .mix = mix,
                   .transposed = transposed, .N = N, .cin = cin, .cout = cout,
                   .coutp = (int)round_up((size_t)cout, CO), .H = H, .W = W,
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
    const int sets = mix ? mix->sets : wstride ? N : 1, threads = omp_get_max_threads();
    const size_t uset = 16 * (size_t)jb.coutp * cin; /* one set's transformed kernels */
    jb.ustride = sets > 1 ? uset : 0;
    jb.scratch_floats = 16 * (size_t)(cin + jb.coutp) * jb.T + split_floats(jb.trows, jb.seg);
    if (mix) jb.scratch_floats += uset + (size_t)mix->sets * jb.coutp * cin;
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
    /* with mixtures, whole samples per thread when there are samples enough, so that each
     * sample's kernels are mixed once */
    const int chunk = mix && N >= 2 * threads ? per_sample : 1;
    const size_t f = (size_t)cin * jb.T;
#pragma omp parallel num_threads(threads)
    {
        float *V = jb.scratch + jb.scratch_floats * omp_get_thread_num();
        float *M = V + 16 * f, *split = M + 16 * (size_t)jb.coutp * jb.T;
        float *ubuf = split + split_floats(jb.trows, jb.seg);
        int held = -1;
#pragma omp for schedule(dynamic, chunk)
        for (int it = 0; it < items; it++) {
            const int n = it / per_sample, blk = it % per_sample;
            const tile_block tb = {blk / jb.nseg * jb.trows, blk % jb.nseg * jb.seg, jb.trows,
                                   jb.seg};
            input_transform(V, jb.T, f, split, inp + (size_t)n * cin * H * W, H, W, tb, 0, cin);
            products(&jb, M, V, sample_kernels(&jb, n, ubuf, &held));
            output_transform(&jb, out + (size_t)n * cout * H * W, M,
                             b ? b + n * bstride : NULL, tb);
        }
    }
    free(U), free(jb.scratch);
    return 1;
}

/* ---------------------------------------------------------------- weight gradient */

/* One call's weight gradient. Pieces: bands of trows tile rows of one sample, all its tile
 * columns (seg); chunks of pieces share one buffer. Per piece (T = trows*seg tiles) the
 * products' operands, laid out for the outer-product micro-kernel: VT (16, T, cin8), the
 * transformed input with the channels contiguous (16 of them per call, as the forward's
 * pixels), and DM (16, cout6/CO, T, CO), the transformed output gradient packed as the
 * forward's kernels (see dm_block); channel counts rounded up to 8 and CO, with zeros there. */
struct wino_wgrad {
    float *dw, *db;
    const float *dout, *inp;
    size_t wstride, bstride;
    int N, cin, cout, cin8, nob, H, W; /* nob: output blocks of CO */
    int seg, trows, bands, pieces, T, threads;
    int solo; /* a thread per sample (per-sample kernels, a sample per piece): a piece each */
    size_t piece_floats, scratch_floats; /* scratch: per thread, split rows, tmp, sums */
    float *buf, *scratch;
};

static float *piece_vt(const wino_wgrad *jb, int p) { return jb->buf + p * jb->piece_floats; }
static float *piece_dm(const wino_wgrad *jb, int p) {
    return piece_vt(jb, p) + 16 * (size_t)jb->T * jb->cin8;
}

/* v[i] (8 lanes l) -> rows: row l holds v[0][l] .. v[7][l], stored to dst + l*stride in
 * increasing l, all 8 lanes: with stride < 8 a row overwrites the start of the next, which
 * is stored after it, and the last one 8 - stride floats past its block. */
INLINE AVX2 void transpose8_store(float *dst, size_t stride, const __m256 *v) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    const __m256 r[8] = {
        _mm256_permute2f128_ps(s0, s4, 0x20), _mm256_permute2f128_ps(s1, s5, 0x20),
        _mm256_permute2f128_ps(s2, s6, 0x20), _mm256_permute2f128_ps(s3, s7, 0x20),
        _mm256_permute2f128_ps(s0, s4, 0x31), _mm256_permute2f128_ps(s1, s5, 0x31),
        _mm256_permute2f128_ps(s2, s6, 0x31), _mm256_permute2f128_ps(s3, s7, 0x31)};
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) _mm256_storeu_ps(dst + l * stride, r[l]);
}

/* VT of piece p, channels [cs, cs + 8): per 8 tiles, the 8 channels' 16 frequencies into tmp
 * (16, 8, 8), then each frequency's 8 x 8 block turned to tiles x channels. */
static AVX2 void wgrad_input(const wino_wgrad *jb, int p, int n, tile_block b, int cs,
                             float *split, float *tmp) {
    const int sl = b.seg + 8, ce = cs + 8 < jb->cin ? cs + 8 : jb->cin, T = jb->T;
    const size_t per_ch = 2 * (size_t)(2 * b.trows + 2) * sl;
    float *vt = piece_vt(jb, p);
    split_input(split, per_ch, jb->inp + (size_t)n * jb->cin * jb->H * jb->W, jb->H, jb->W, b,
                cs, ce);
    /* lanes of channels past cin are computed on but never stored: zeros, not stale data */
    memset(tmp, 0, 16 * 64 * sizeof *tmp);
    for (int r = 0; r < b.trows; r++)
        for (int k = 0; k < b.seg; k += 8) {
            for (int c = cs; c < ce; c++)
                input_tiles(tmp + (c - cs) * 8, 64, split + (c - cs) * per_ch + 4 * (size_t)r * sl,
                            sl, k);
            const size_t t = (size_t)r * b.seg + k;
            for (int xi = 0; xi < 16; xi++)
                transpose8_store(vt + ((size_t)xi * T + t) * jb->cin8 + cs, jb->cin8,
                                 (const __m256 *)(tmp + xi * 64));
        }
}

/* Block (xi, ob) of a piece's DM: T x CO floats, then 8 - CO of room for transpose8_store's
 * last row (masked stores, which would not need it, are slow on AMD's cores). */
static float *dm_block(const wino_wgrad *jb, float *dm, int xi, int ob) {
    return dm + ((size_t)xi * jb->nob + ob) * ((size_t)jb->T * CO + 8);
}

/* DM of piece p, output block ob: per 8 tiles, the CO channels' 16 frequencies into tmp, then
 * each frequency's block turned to tiles x channels. */
static AVX2 void wgrad_dout(const wino_wgrad *jb, int p, int n, tile_block b, int ob,
                            float *split, float *tmp) {
    const int sl = b.seg + 8, o0 = ob * CO, H = jb->H, W = jb->W;
    const int oe = o0 + CO < jb->cout ? o0 + CO : jb->cout;
    float *dm = piece_dm(jb, p);
    /* rows of channels past cout are computed on but never stored: zeros, not stale data */
    memset(tmp, 0, 16 * 64 * sizeof *tmp);
    for (int r = 0; r < b.trows; r++) {
        for (int o = o0; o < oe; o++) { /* rows 2(ty0 + r) + a of channel o, split */
            const float *yo = jb->dout + ((size_t)n * jb->cout + o) * H * W;
            for (int a = 0; a < 2; a++) {
                const int y = 2 * (b.ty0 + r) + a;
                float *sp = split + (size_t)(o - o0) * 4 * sl + 2 * a * sl;
                split_row(sp, sp + sl, y < H ? yo + (size_t)y * W : NULL, W, 0, sl);
            }
        }
        for (int k = 0; k < b.seg; k += 8) {
            for (int o = o0; o < oe; o++)
                dout_tiles(tmp + (o - o0) * 8, 64, split + (size_t)(o - o0) * 4 * sl, sl, k);
            const size_t t = (size_t)r * b.seg + k;
            for (int xi = 0; xi < 16; xi++) /* t increases: the overlaps are rewritten */
                transpose8_store(dm_block(jb, dm, xi, ob) + t * CO, CO,
                                 (const __m256 *)(tmp + xi * 64));
        }
    }
}

wino_wgrad *wino_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                            size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                            int W) {
    wino_wgrad *jb = calloc(1, sizeof *jb);
    if (!jb) return NULL;
    *jb = (wino_wgrad){.dw = dw, .db = db, .dout = dout, .inp = inp, .wstride = wstride,
                       .bstride = bstride, .N = N, .cin = cin, .cout = cout,
                       .cin8 = (int)round_up((size_t)cin, 8), .nob = (cout + CO - 1) / CO,
                       .H = H, .W = W, .threads = omp_get_max_threads()};
    const int tiles_y = (H + 1) / 2;
    jb->seg = (int)round_up((size_t)(W + 1) / 2, 8);
    /* bands whose operands fill a chunk (long sums per flush to double), as long as one
     * tile row does */
    const size_t per_row = 16 * (size_t)(jb->cin8 + jb->nob * CO) * jb->seg * sizeof(float);
    int trows = (int)(WG_CHUNK / per_row);
    trows = trows < 1 ? 1 : trows > tiles_y ? tiles_y : trows;
    jb->bands = (tiles_y + trows - 1) / trows;
    jb->trows = (tiles_y + jb->bands - 1) / jb->bands;
    jb->T = jb->trows * jb->seg;
    jb->piece_floats = 16 * ((size_t)jb->cin8 * jb->T + jb->nob * ((size_t)jb->T * CO + 8));
    const size_t total = (size_t)N * jb->bands;
    size_t pieces = WG_CHUNK / (jb->piece_floats * sizeof(float));
    pieces = pieces < 1 ? 1 : pieces > total ? total : pieces;
    jb->solo = wstride && jb->bands == 1;
    if (jb->solo) pieces = (size_t)jb->threads;
    jb->pieces = (int)pieces;
    /* per thread: split rows (SPLIT_CH >= CO channels), tmp (16, 8, 8), and an item's double
     * sums (16 frequencies x WG_OB*CO x 16 channels) */
    const size_t sums = (size_t)WG_OB * CO * 16 * 16 * 2;
    jb->scratch_floats = round_up(split_floats(jb->trows, jb->seg) + 16 * 64 + sums, 16);
    jb->buf = alloc_floats(jb->piece_floats * pieces);
    jb->scratch = alloc_floats(jb->scratch_floats * jb->threads);
    if (!jb->buf || !jb->scratch) {
        wino_wgrad_free(jb);
        return NULL;
    }
    return jb;
}

/* Item: chunk pieces [p0, p1) x output blocks [ob0, ob0 + WG_OB) x input channels [c0, c0 +
 * 16) of weight set `set`. Per frequency and piece, each output block's CO x 16 sums by the
 * forward's micro-kernel (the tiles as its input channels, DM as its kernels), WG_SUB tiles
 * per call (that VT block stays in L1 across the output blocks), added up in float over the
 * piece and then into double; at the end G^T (.) G into dw (and, for c0 = 0, the bias
 * gradient, the sum of dY: DM's frequency 5). acc: scratch for (16, WG_OB*CO, 16) doubles. */
static AVX2 void wgrad_item(const wino_wgrad *jb, int p0, int p1, int set, int ob0, int c0,
                            double *acc) {
    enum { OC = WG_OB * CO };
    const int T = jb->T, cin = jb->cin, cout = jb->cout;
    const int ob1 = ob0 + WG_OB < jb->nob ? ob0 + WG_OB : jb->nob;
    const int nc = cin - c0 < 16 ? cin - c0 : 16, nv = nc > 8 ? 2 : 1, lanes = nc - 8 * (nv - 1);
    double bacc[OC] = {0};
    float mt[WG_OB][CO * 16];
    memset(acc, 0, 16 * OC * 16 * sizeof *acc);
    for (int xi = 0; xi < 16; xi++) {
        for (int p = p0; p < p1; p++) {
            const float *vt = piece_vt(jb, p) + (size_t)xi * T * jb->cin8 + c0;
            float *dm = piece_dm(jb, p);
            for (int t0 = 0; t0 < T; t0 += WG_SUB) {
                const int len = T - t0 < WG_SUB ? T - t0 : WG_SUB, more = t0 > 0;
                for (int ob = ob0; ob < ob1; ob++) {
                    const float *w = dm_block(jb, dm, xi, ob) + (size_t)t0 * CO;
                    if (nv == 2)
                        fwd_micro(mt[ob - ob0], 16, CO, lanes, vt + (size_t)t0 * jb->cin8,
                                  jb->cin8, 0, w, len, NULL, more, 1, 2);
                    else
                        fwd_micro(mt[ob - ob0], 16, CO, lanes, vt + (size_t)t0 * jb->cin8,
                                  jb->cin8, 0, w, len, NULL, more, 1, 1);
                    for (int j = 0; xi == 5 && c0 == 0 && j < CO; j++)
                        for (int t = 0; t < len; t++) bacc[(ob - ob0) * CO + j] += w[t * CO + j];
                }
            }
            for (int ob = ob0; ob < ob1; ob++)
                for (int j = 0; j < CO; j++) {
                    double *a = acc + ((size_t)xi * OC + (ob - ob0) * CO + j) * 16;
                    for (int c = 0; c < nc; c++) a[c] += mt[ob - ob0][j * 16 + c];
                }
        }
    }
    for (int o = ob0 * CO; o < ob1 * CO && o < cout; o++)
        for (int c = c0; c < c0 + nc; c++) {
            double m[16];
            for (int xi = 0; xi < 16; xi++)
                m[xi] = acc[((size_t)xi * OC + o - ob0 * CO) * 16 + c - c0];
            kernel_transform_adjoint(jb->dw + set * jb->wstride + ((size_t)o * cin + c) * 9, m);
        }
    for (int o = ob0 * CO; jb->db && c0 == 0 && o < ob1 * CO && o < cout; o++)
        jb->db[set * jb->bstride + o] += (float)bacc[o - ob0 * CO];
}

void wino_wgrad_free(wino_wgrad *jb) {
    if (jb) free(jb->buf), free(jb->scratch);
    free(jb);
}

void wino_wgrad_run(wino_wgrad *jb) {
    const int bands = jb->bands, total = jb->N * bands;
    const int nog = (jb->nob + WG_OB - 1) / WG_OB, ncg = (jb->cin + 15) / 16;
    /* transform work: a piece x 8 input channels or CO output channels */
    const int tin = jb->cin8 / 8, tout = jb->nob;
    /* one team for the whole call, two barriers per chunk: after the transforms, and after
     * the sums (before the next chunk's transforms overwrite the buffers) */
#pragma omp parallel num_threads(jb->threads)
    {
        float *split = jb->scratch + jb->scratch_floats * omp_get_thread_num();
        float *tmp = split + split_floats(jb->trows, jb->seg);
        double *acc = (double *)(tmp + 16 * 64);
        if (jb->solo) {
            /* per-sample kernels, a sample per piece: a thread takes a whole sample,
             * transforms and sums, into its own piece, so no thread waits for another (a
             * preempted one would hold up every barrier) */
            const int p = omp_get_thread_num();
            const tile_block tb = {0, 0, jb->trows, jb->seg};
#pragma omp for schedule(dynamic, 1)
            for (int n = 0; n < jb->N; n++) {
                for (int part = 0; part < tin; part++) wgrad_input(jb, p, n, tb, 8 * part, split, tmp);
                for (int ob = 0; ob < tout; ob++) wgrad_dout(jb, p, n, tb, ob, split, tmp);
                for (int it = 0; it < nog * ncg; it++)
                    wgrad_item(jb, p, p + 1, n, WG_OB * (it / ncg), 16 * (it % ncg), acc);
            }
        }
        for (int g0 = 0; !jb->solo && g0 < total; g0 += jb->pieces) {
            const int np = total - g0 < jb->pieces ? total - g0 : jb->pieces;
            const int n0 = g0 / bands, groups = jb->wstride ? (g0 + np - 1) / bands - n0 + 1 : 1;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < np * (tin + tout); i++) {
                const int p = i / (tin + tout), part = i % (tin + tout), gp = g0 + p;
                const tile_block tb = {gp % bands * jb->trows, 0, jb->trows, jb->seg};
                if (part < tin) wgrad_input(jb, p, gp / bands, tb, 8 * part, split, tmp);
                else wgrad_dout(jb, p, gp / bands, tb, part - tin, split, tmp);
            }
#pragma omp for schedule(dynamic, 1)
            for (int it = 0; it < groups * nog * ncg; it++) {
                const int grp = it / (nog * ncg), og = it / ncg % nog, cg = it % ncg;
                int gp0, gp1;
                wgrad_group_pieces(jb->wstride != 0, n0, grp, bands, g0, np, &gp0, &gp1);
                wgrad_item(jb, gp0 - g0, gp1 - g0, jb->wstride ? n0 + grp : 0, WG_OB * og,
                           16 * cg, acc);
            }
        }
    }
    wino_wgrad_free(jb);
}

#endif
