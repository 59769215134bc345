/* conv_winograd_wgrad.c - the weight gradient of a 3x3 convolution (stride 1, zero padding 1) by
 * Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2016), when there are channels and pixels enough to amortise the
 * transforms. (The forward and the input gradient, conv_winograd_forward.c, use F(4x4, 3x3).)
 *
 * In the forward, each 2x2 block of output pixels (a tile) of output channel o is
 *   Y = A^T [ sum_c (G g_oc G^T) . (B^T d_c B) ] A
 * with d_c the 4x4 input patch around the tile, g_oc the 3x3 kernel and . the elementwise
 * product, 16 frequencies xi;
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * The weight gradient is that computation read backwards: with dM = A dY A^T per tile (dY the
 * tile's 2x2 output gradient), dg_oc = G^T [ sum over tiles of dM_o . V_c ] G, so per
 * frequency a product dM_xi (cout x tiles) x V_xi^T (tiles x cin), a sum over tiles: 2.25
 * times fewer multiply-adds than the direct weight gradient. The forward's micro-kernel runs
 * it, with the tiles as its input channels: the transforms store V with the channels
 * contiguous and dM packed like kernels, turning each 8 tiles x 8 channels block over (an 8x8
 * transpose). Dot products along the tiles instead (the direct weight gradient's kernel, on
 * the transforms' natural layout) ran 1.3x slower: they reload both operands for every 9
 * multiply-adds, where the outer product reuses a 16-channel block of V from L1 across output
 * channels.
 *
 * Numerical error: B and A only add and subtract, and G's halves are exact, so each result is
 * the direct sum reassociated (about 2x the direct kernels' rounding; F(4x4, 3x3), whose
 * rounding is 25x, is kept to the forward, where it is one product deep). tests/test_conv_kernels.c
 * holds it to 1e-5 of the magnitude against the reference, except on images of a pixel or
 * two: its rounding is relative to a tile's whole gradient, which there can be 10x a tap's own.
 *
 * Blocking: chunks of bands of tile rows are transformed (threads split the channels), then
 * summed (threads split output x input channel blocks), in float along a band (as the
 * reference does along a row) and in double across bands, each item adding its own weights'
 * sums to dw, like the direct one. The transforms run on 8 horizontally adjacent tiles at
 * once: each image row is split into its even and odd columns once, after which every column
 * of every tile is a vector load. */
#include <string.h>

#include <omp.h>

#include "kernels/conv_paths.h"
#include "kernels/micro_kernels.h"
#include "kernels/thread_scratch.h"

#if FAST_X86

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
    int avx512; /* the sums of 16 channels on 512-bit vectors (wino_avx512) */
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
    __m256 r[8];
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) r[l] = v[l];
    transpose8(r);
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

/* Measured here (one thread, batches of 16): the weight gradient wins from 32x32 images (64 ->
 * 64: 1.7x the direct kernels; 1.6x at 48x48), ties at 24x24, and loses at 16 -> 16 channels. */
int wino_wgrad_suits(int cin, int cout, int H, int W) {
    return cin >= 16 && cout >= 16 && cin + cout >= 48 && H >= 32 && W >= 32;
}

wino_wgrad *wino_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                            size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                            int W) {
    wino_wgrad *jb = calloc(1, sizeof *jb);
    if (!jb) return NULL;
    *jb = (wino_wgrad){.dw = dw, .db = db, .dout = dout, .inp = inp, .wstride = wstride,
                       .bstride = bstride, .N = N, .cin = cin, .cout = cout,
                       .cin8 = (int)round_up((size_t)cin, 8), .nob = (cout + CO - 1) / CO,
                       .H = H, .W = W, .threads = omp_get_max_threads(),
                       .avx512 = wino_avx512()};
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
    jb->buf = thread_scratch(SCRATCH_WGRAD_PIECES, jb->piece_floats * pieces);
    jb->scratch = thread_scratch(SCRATCH_WGRAD, jb->scratch_floats * jb->threads);
    if (!jb->buf || !jb->scratch) {
        wino_wgrad_free(jb);
        return NULL;
    }
    return jb;
}

/* Item: chunk pieces [p0, p1) x output blocks [ob0, ob0 + WG_OB) x input channels [c0, c0 +
 * 16) of weight set `set`. Per frequency and piece, each output block's CO x 16 sums by the
 * forward's micro-kernel (the tiles as its input channels, DM as its kernels), WG_SUB tiles
 * per call (that VT block stays in L1 across the output blocks; on 512-bit vectors two output
 * blocks per call, product_pair_avx512), added up in float over the
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
                int ob = ob0;
                for (; nv == 2 && jb->avx512 && ob + 1 < ob1; ob += 2)
                    product_pair_avx512(mt[ob - ob0], mt[ob + 1 - ob0], 16, 8 + lanes,
                                        vt + (size_t)t0 * jb->cin8, jb->cin8,
                                        dm_block(jb, dm, xi, ob) + (size_t)t0 * CO,
                                        dm_block(jb, dm, xi, ob + 1) + (size_t)t0 * CO, len, more);
                for (; ob < ob1; ob++) {
                    const float *w = dm_block(jb, dm, xi, ob) + (size_t)t0 * CO;
                    if (nv == 2 && jb->avx512)
                        product_avx512(mt[ob - ob0], 16, CO, 8 + lanes, vt + (size_t)t0 * jb->cin8,
                                       jb->cin8, w, len, more, CO);
                    else if (nv == 2)
                        fwd_micro(mt[ob - ob0], 16, CO, lanes, vt + (size_t)t0 * jb->cin8,
                                  jb->cin8, 0, w, len, NULL, more, CO, 1, 2);
                    else
                        fwd_micro(mt[ob - ob0], 16, CO, lanes, vt + (size_t)t0 * jb->cin8,
                                  jb->cin8, 0, w, len, NULL, more, CO, 1, 1);
                }
                for (ob = ob0; xi == 5 && c0 == 0 && ob < ob1; ob++) {
                    const float *w = dm_block(jb, dm, xi, ob) + (size_t)t0 * CO;
                    for (int j = 0; j < CO; j++)
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
    free(jb); /* its buffers are the thread's scratch, kept for the next call */
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
            const int n0 = g0 / bands, nsets = jb->wstride ? (g0 + np - 1) / bands - n0 + 1 : 1;
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < np * (tin + tout); i++) {
                const int p = i / (tin + tout), part = i % (tin + tout), gp = g0 + p;
                const tile_block tb = {gp % bands * jb->trows, 0, jb->trows, jb->seg};
                if (part < tin) wgrad_input(jb, p, gp / bands, tb, 8 * part, split, tmp);
                else wgrad_dout(jb, p, gp / bands, tb, part - tin, split, tmp);
            }
#pragma omp for schedule(dynamic, 1)
            for (int it = 0; it < nsets * nog * ncg; it++) {
                const int si = it / (nog * ncg), og = it / ncg % nog, cg = it % ncg;
                int gp0, gp1;
                wgrad_set_pieces(jb->wstride != 0, n0, si, bands, g0, np, &gp0, &gp1);
                wgrad_item(jb, gp0 - g0, gp1 - g0, jb->wstride ? n0 + si : 0, WG_OB * og,
                           16 * cg, acc);
            }
        }
    }
    wino_wgrad_free(jb);
}

#endif
