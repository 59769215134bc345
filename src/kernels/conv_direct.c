/* conv_direct.c - the direct convolutions (AVX2 + FMA, K = 1, 3, 5) that conv_dispatch.c runs
 * where Winograd does not suit (conv_paths.h).
 *
 * Forward: direct convolution with register blocking. The micro-kernel (micro_kernels.h) keeps
 * CO = 6 output channels x NV <= 2 vectors of 8 output pixels of one row (12 accumulators) in
 * registers for the whole sum over input channels and taps. The bias is the accumulators'
 * initial value. Weights are repacked once per call
 * (per sample for NSR's per-sample kernels) into [output block][input channel][tap][CO], the
 * order in which the micro-kernel broadcasts them; a last block with fewer than CO channels
 * is padded with zero kernels and its extra rows are not stored.
 *
 * Zero padding: each thread copies a band of input rows, for all input channels, into a
 * buffer with K/2 zero rows and columns around it and each row rounded up to whole vectors,
 * so the micro-kernel never tests an edge; the last vector of a row stores only its valid
 * lanes (masked store). Loops: for each output row of the band, for each group of NV vectors,
 * every output block in turn: the input the group reads (cin x K rows x 8*NV+K-1 floats, 14
 * KB at 64 channels) stays in L1 while all the weights stream from L2.
 *
 * Input gradient: the same kernel on dout with the kernels transposed (in <-> out) and
 * flipped (tap t -> K*K-1-t), storing with += instead of =.
 *
 * Weight gradient: dw[o][c][ky][kx] = sum over pixels of dout[o][q] * in[c][q + ky*Wp + kx],
 * with q running over a chunk of rows flattened at the padded pitch Wp (dout's columns past W
 * are copied as zeros, so the padding columns add nothing). The micro-kernel accumulates
 * CO_W output channels x K taps kx (9 or 10 vector accumulators) over 8 pixels at a time;
 * per 8 pixels it loads K input and CO_W dout vectors. Every SUB pixels the lanes are summed
 * and added to a double accumulator per weight, as the reference does per row.
 *
 * Threads: the forward and the input gradient split (sample, band of rows) items, the weight
 * gradient splits (output block, input channel group) items; in both every output element is
 * computed by one thread in an order that does not depend on the split, so results are the
 * same bit for bit for any number of threads. They differ from the reference's by float
 * rounding only (the reference adds channel by channel, tap by tap too, but the weight
 * gradient sums lanes in another order). */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "kernels/conv_paths.h"
#include "kernels/micro_kernels.h"
#include "kernels/thread_scratch.h"

#if FAST_X86

#define BAND_FLOATS 65536 /* aim for the forward's per-thread input band (256 KB) */
#define CHUNK_BYTES (8u << 20) /* the weight gradient's buffers per chunk: bigger ran slower */
#define CGROUP 16               /* input channels per weight-gradient work item */

/* Row pitch of the padded copies: every vector a row's last group reads stays inside. */
static int padded_pitch(int W, int K) { return (int)round_up((size_t)W, 8) + K - 1; }

/* ---------------------------------------------------------------- weight packing */

static size_t packed_size(int cin, int cout, int K) {
    return round_up((size_t)cout, CO) * cin * K * K;
}

/* dst (ceil(cout/CO), cin, K*K, CO) from the kernels of a convolution cin -> cout: w itself,
 * (cout, cin, K, K); or, with transposed, the forward kernels (cin, cout, K, K) of the
 * convolution cout -> cin whose input gradient this is, read in <-> out and flipped. */
static void pack_weights(float *dst, const float *w, int cin, int cout, int K, int transposed) {
    const int KK = K * K;
    const size_t blocks = round_up((size_t)cout, CO) / CO;
    for (size_t blk = 0; blk < blocks; blk++)
        for (int c = 0; c < cin; c++)
            for (int t = 0; t < KK; t++)
                for (int j = 0; j < CO; j++) {
                    const size_t o = blk * CO + j;
                    float v = 0.0f;
                    if (o < (size_t)cout)
                        v = transposed ? w[((size_t)c * cout + o) * KK + (KK - 1 - t)]
                                       : w[(o * cin + c) * KK + t];
                    *dst++ = v;
                }
}

/* pw (sets, packed_size) for sets = N with per-sample kernels (wstride != 0), else 1. */
static void pack_all(float *pw, const float *w, size_t wstride, int sets, int cin, int cout,
                     int K, int transposed) {
    const size_t psz = packed_size(cin, cout, K);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < sets; s++)
        pack_weights(pw + s * psz, w + s * wstride, cin, cout, K, transposed);
}

/* ---------------------------------------------------------------- padded copies */

/* dst (cin, rows, Wp) = rows [y0 - K/2, y0 - K/2 + rows) of x (cin, H, W), shifted right by
 * K/2 columns, zero outside the image. */
static void copy_padded(float *dst, const float *x, int cin, int H, int W, int K, int y0,
                        int rows, int Wp) {
    const int p = K / 2;
    for (int c = 0; c < cin; c++)
        for (int r = 0; r < rows; r++) {
            float *d = dst + ((size_t)c * rows + r) * Wp;
            const int iy = y0 - p + r;
            memset(d, 0, (size_t)Wp * sizeof *d);
            if (iy >= 0 && iy < H) memcpy(d + p, x + ((size_t)c * H + iy) * W, W * sizeof *d);
        }
}

/* ---------------------------------------------------------------- forward micro-kernel */

/* What one forward-style call computes: out (N, cout, H, W) (=, or += with accumulate) =
 * conv(inp (N, cin, H, W)) + b, with packed kernels pw + set*pstride (pstride 0: shared),
 * set = set_of[n], or n when set_of is NULL. */
typedef struct fwd_job {
    float *out;
    const float *inp, *pw, *b;
    const int *set_of;
    size_t pstride, bstride;
    int N, cin, cout, H, W, K, accumulate;
    /* set by fwd_plan: */
    int Wp, band, nbands, threads; /* padded pitch, rows per band, bands per sample */
    size_t band_floats;             /* per thread */
    float *bands;
} fwd_job;

/* Output rows [y0, y0 + rows) of sample n, every output channel, from the padded band. */
INLINE AVX2 void fwd_band(const fwd_job *jb, const float *band, int n, int y0, int rows,
                          const int K) {
    const int W = jb->W, H = jb->H, cout = jb->cout, cin = jb->cin, Wp = jb->Wp;
    const size_t oplane = (size_t)H * W, cplane = (size_t)(rows + K - 1) * Wp;
    const float *pw = jb->pw + (jb->set_of ? jb->set_of[n] : n) * jb->pstride;
    const float *bias = jb->b ? jb->b + n * jb->bstride : NULL;
    for (int r = 0; r < rows; r++) {
        for (int x0 = 0; x0 < W; x0 += 8 * NVMAX) {
            const int left = W - x0, nv = left >= 8 * NVMAX ? NVMAX : (left + 7) / 8;
            const int lanes = left - 8 * (nv - 1) < 8 ? left - 8 * (nv - 1) : 8;
            const float *src = band + (size_t)r * Wp + x0;
            for (int o0 = 0; o0 < cout; o0 += CO) {
                float *dst = jb->out + (((size_t)n * cout + o0) * H + y0 + r) * W + x0;
                const int nj = cout - o0 < CO ? cout - o0 : CO;
                const float *wb = pw + (size_t)o0 * cin * K * K, *bb = bias ? bias + o0 : NULL;
                if (nv == 2)
                    fwd_micro(dst, oplane, nj, lanes, src, cplane, Wp, wb, cin, bb,
                              jb->accumulate, CO, K, 2);
                else
                    fwd_micro(dst, oplane, nj, lanes, src, cplane, Wp, wb, cin, bb,
                              jb->accumulate, CO, K, 1);
            }
        }
    }
}

/* One instance per kernel size, so that K is a constant in the micro-kernel. */
static AVX2 void fwd_band_k1(const fwd_job *jb, const float *band, int n, int y0, int rows) {
    fwd_band(jb, band, n, y0, rows, 1);
}
static AVX2 void fwd_band_k3(const fwd_job *jb, const float *band, int n, int y0, int rows) {
    fwd_band(jb, band, n, y0, rows, 3);
}
static AVX2 void fwd_band_k5(const fwd_job *jb, const float *band, int n, int y0, int rows) {
    fwd_band(jb, band, n, y0, rows, 5);
}

/* Chooses the bands and allocates one padded band per thread; 0 when out of memory. */
static int fwd_plan(fwd_job *jb) {
    const int K = jb->K;
    jb->threads = omp_get_max_threads();
    jb->Wp = padded_pitch(jb->W, K);
    /* Bands of about BAND_FLOATS of padded input, and at least four items per thread, so that
     * a thread finishing early finds work; the split changes no result. */
    const size_t per_row = (size_t)jb->cin * jb->Wp;
    int rows = (int)(BAND_FLOATS / per_row) - (K - 1);
    rows = rows < 1 ? 1 : rows > jb->H ? jb->H : rows;
    int nb = (jb->H + rows - 1) / rows;
    const int want = (4 * jb->threads + jb->N - 1) / jb->N;
    if (nb < want) nb = want < jb->H ? want : jb->H;
    jb->band = (jb->H + nb - 1) / nb;
    jb->nbands = (jb->H + jb->band - 1) / jb->band;
    jb->band_floats = round_up(per_row * (jb->band + K - 1), 16);
    jb->bands = thread_scratch(SCRATCH_DIRECT_BANDS, jb->band_floats * jb->threads);
    return jb->bands != NULL;
}

/* Runs a planned job. */
static void fwd_exec(fwd_job *jb) {
    void (*run)(const fwd_job *, const float *, int, int, int) =
        jb->K == 1 ? fwd_band_k1 : jb->K == 3 ? fwd_band_k3 : fwd_band_k5;
    const int items = jb->N * jb->nbands;
#pragma omp parallel num_threads(jb->threads)
    {
        float *band = jb->bands + jb->band_floats * omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int n = it / jb->nbands, y0 = (it % jb->nbands) * jb->band;
            const int rows = jb->H - y0 < jb->band ? jb->H - y0 : jb->band;
            copy_padded(band, jb->inp + (size_t)n * jb->cin * jb->H * jb->W, jb->cin, jb->H,
                        jb->W, jb->K, y0, rows + jb->K - 1, jb->Wp);
            run(jb, band, n, y0, rows);
        }
    }
}

/* ---------------------------------------------------------------- weight gradient */

/* Output channels per weight-gradient block: CO_W*K accumulators, K input vectors and one dout
 * vector within the 16 registers (3x3 rather than 4x3: at 16 live registers the compiler
 * reloads inputs, and 3x3 ran faster). */
#define CO_W(K) ((K) == 1 ? 8 : (K) == 3 ? 3 : 2)
#define WG_ACC (2 * CGROUP * 25) /* the largest CO_W(K) * CGROUP * K * K, at K = 5 */

/* The weight gradient of one call. The batch is cut into pieces, a band of rows of one sample
 * each (the whole sample when it is small enough), and the pieces into chunks that share one
 * buffer: per piece, the padded input (cin, iplane: rows + K - 1 rows of Wp and room for the
 * last vector's reads) and dout (cout rounded up to CO_W, dplane: rows of Wp, zero columns
 * past W and zero after the last row). Per chunk: copy (threads split the channels), then sum
 * (threads split items: a group of pieces, all of one weight set, x an output block x an input
 * channel group), each item adding its own weights' chunk sums to dw. With shared kernels and
 * several chunks a weight thus gets one float addition per chunk: a few per training batch
 * (16 patches of 48x48 at 64 channels make three chunks). */
struct direct_wgrad {
    float *dw, *db;
    const float *dout, *inp;
    size_t wstride, bstride;
    int N, cin, cout, H, W, K;
    /* set by wgrad_plan: */
    int Wp, rows, bands, pieces; /* rows per piece, pieces per sample, per chunk */
    int solo, threads;           /* solo: a thread per sample, pieces: one per thread */
    size_t iplane, dplane, piece_floats;
    float *buf;
};

static float *piece_inp(const direct_wgrad *jb, int p) { return jb->buf + p * jb->piece_floats; }
static float *piece_dout(const direct_wgrad *jb, int p) {
    return piece_inp(jb, p) + jb->cin * jb->iplane;
}
static int piece_rows(const direct_wgrad *jb, int gp) {
    const int y0 = gp % jb->bands * jb->rows;
    return jb->H - y0 < jb->rows ? jb->H - y0 : jb->rows;
}

/* Copies channel ch (input channels first, then dout's) of global piece gp into chunk slot p,
 * with the zeros around it that the sums read. */
static void wgrad_copy(const direct_wgrad *jb, int p, int gp, int ch) {
    const int n = gp / jb->bands, y0 = gp % jb->bands * jb->rows, r = piece_rows(jb, gp);
    const size_t plane = (size_t)jb->H * jb->W;
    if (ch < jb->cin) {
        /* past the copied rows the sums read zero dout, but must read numbers (0 * NaN) */
        float *d = piece_inp(jb, p) + ch * jb->iplane;
        const size_t used = (size_t)(r + jb->K - 1) * jb->Wp;
        copy_padded(d, jb->inp + ((size_t)n * jb->cin + ch) * plane, 1, jb->H, jb->W, jb->K, y0,
                    r + jb->K - 1, jb->Wp);
        memset(d + used, 0, (jb->iplane - used) * sizeof *d);
        return;
    }
    const int o = ch - jb->cin;
    float *d = piece_dout(jb, p) + o * jb->dplane;
    for (int y = 0; y < r; y++) {
        float *row = d + (size_t)y * jb->Wp;
        memcpy(row, jb->dout + ((size_t)n * jb->cout + o) * plane + (size_t)(y0 + y) * jb->W,
               jb->W * sizeof *d);
        memset(row + jb->W, 0, (size_t)(jb->Wp - jb->W) * sizeof *d);
    }
    memset(d + (size_t)r * jb->Wp, 0, (jb->dplane - (size_t)r * jb->Wp) * sizeof *d);
}

/* Item: chunk pieces [p0, p1) (global index gp0 for p0) x output block ob x input channel
 * group cg, whose weight (and, for channel group 0, bias) gradients of weight set `set` it
 * sums in double and then adds; no other item of the chunk touches them. */
INLINE AVX2 void wgrad_item(const direct_wgrad *jb, int p0, int p1, int gp0, int set, int ob,
                            int cg, const int K) {
    const int COW = CO_W(K), o0 = ob * COW, c0 = cg * CGROUP, cin = jb->cin;
    const int c1 = c0 + CGROUP < cin ? c0 + CGROUP : cin;
    const int nj = jb->cout - o0 < COW ? jb->cout - o0 : COW;
    double acc[WG_ACC], bacc[8] = {0}; /* [j][c - c0][ky][kx], [j] */
    memset(acc, 0, (size_t)COW * CGROUP * K * K * sizeof *acc);
    __m256 part[12];
    for (int p = p0; p < p1; p++) {
        const int len = (int)round_up((size_t)piece_rows(jb, gp0 + p - p0) * jb->Wp, 8);
        const float *inb = piece_inp(jb, p), *dob = piece_dout(jb, p) + o0 * jb->dplane;
        /* sub-blocks of SUB pixels: the block's dout stays in L1 across the channels */
        for (int q0 = 0; q0 < len; q0 += SUB) {
            const int sub = len - q0 < SUB ? len - q0 : SUB;
            for (int c = c0; c < c1; c++) {
                for (int ky = 0; ky < K; ky++) {
                    for (int i = 0; i < COW * K; i++) part[i] = _mm256_setzero_ps();
                    dot_micro(part, dob + q0, jb->dplane,
                              inb + c * jb->iplane + (size_t)ky * jb->Wp + q0, 1, sub, COW, K);
                    for (int j = 0; j < nj; j++)
                        for (int kx = 0; kx < K; kx++)
                            acc[((j * CGROUP + c - c0) * K + ky) * K + kx] += hsum(part[j * K + kx]);
                }
            }
            for (int j = 0; cg == 0 && j < nj; j++)
                bacc[j] += vsum(dob + j * jb->dplane + q0, sub);
        }
    }
    float *dw = jb->dw + set * jb->wstride;
    for (int j = 0; j < nj; j++)
        for (int c = c0; c < c1; c++)
            for (int t = 0; t < K * K; t++)
                dw[((size_t)(o0 + j) * cin + c) * K * K + t] +=
                    (float)acc[(j * CGROUP + c - c0) * K * K + t];
    for (int j = 0; jb->db && cg == 0 && j < nj; j++)
        jb->db[set * jb->bstride + o0 + j] += (float)bacc[j];
}

typedef void wgrad_item_fn(const direct_wgrad *, int, int, int, int, int, int);
static AVX2 void wgrad_item_k1(const direct_wgrad *jb, int p0, int p1, int gp0, int set, int ob,
                               int cg) {
    wgrad_item(jb, p0, p1, gp0, set, ob, cg, 1);
}
static AVX2 void wgrad_item_k3(const direct_wgrad *jb, int p0, int p1, int gp0, int set, int ob,
                               int cg) {
    wgrad_item(jb, p0, p1, gp0, set, ob, cg, 3);
}
static AVX2 void wgrad_item_k5(const direct_wgrad *jb, int p0, int p1, int gp0, int set, int ob,
                               int cg) {
    wgrad_item(jb, p0, p1, gp0, set, ob, cg, 5);
}

/* Chooses pieces and chunks (a chunk's buffers within CHUNK_BYTES, as long as one piece
 * fits) and allocates them; 0 when out of memory. */
static int wgrad_plan(direct_wgrad *jb) {
    const int K = jb->K, H = jb->H;
    const size_t coutp = round_up((size_t)jb->cout, CO_W(K));
    jb->Wp = padded_pitch(jb->W, K);
    /* rows per piece: the whole sample, or bands whose copies fit in a quarter of the budget */
    const size_t per_row = ((size_t)jb->cin + coutp) * jb->Wp;
    int rows = (int)(CHUNK_BYTES / 4 / sizeof(float) / per_row);
    rows = rows < 1 ? 1 : rows > H ? H : rows;
    jb->bands = (H + rows - 1) / rows;
    jb->rows = (H + jb->bands - 1) / jb->bands;
    /* the sums run over whole vectors, up to 7 pixels past a piece's rows, and the input is
     * read K - 1 rows and K - 1 pixels further */
    jb->dplane = round_up((size_t)jb->rows * jb->Wp, 8);
    jb->iplane = jb->dplane + (size_t)K * jb->Wp;
    jb->piece_floats = jb->cin * jb->iplane + coutp * jb->dplane;
    const size_t total = (size_t)jb->N * jb->bands;
    size_t pieces = CHUNK_BYTES / (jb->piece_floats * sizeof(float));
    pieces = pieces < 1 ? 1 : pieces > total ? total : pieces;
    jb->threads = omp_get_max_threads();
    jb->solo = jb->wstride && jb->bands == 1;
    if (jb->solo) pieces = (size_t)jb->threads;
    jb->pieces = (int)pieces;
    if (!(jb->buf = thread_scratch(SCRATCH_DIRECT_WGRAD, jb->piece_floats * pieces))) return 0;
    /* the dout rows of the channels past cout, summed and never copied */
    for (size_t p = 0; p < pieces; p++)
        memset(piece_dout(jb, (int)p) + jb->cout * jb->dplane, 0,
               (coutp - jb->cout) * jb->dplane * sizeof(float));
    return 1;
}

/* Runs a planned job. */
static void wgrad_exec(const direct_wgrad *jb) {
    const int K = jb->K, cin = jb->cin, cout = jb->cout, bands = jb->bands;
    const int nob = (int)(round_up((size_t)cout, CO_W(K)) / CO_W(K));
    const int ncg = (cin + CGROUP - 1) / CGROUP, total = jb->N * bands;
    wgrad_item_fn *item = K == 1 ? wgrad_item_k1 : K == 3 ? wgrad_item_k3 : wgrad_item_k5;
    if (jb->solo) {
        /* per-sample kernels, a sample per piece: a thread takes a whole sample, copies and
         * sums, into its own piece, so no thread waits for another (a preempted one would
         * hold up every barrier) */
#pragma omp parallel num_threads(jb->threads)
        {
            const int p = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
            for (int n = 0; n < jb->N; n++) {
                for (int ch = 0; ch < cin + cout; ch++) wgrad_copy(jb, p, n, ch);
                for (int it = 0; it < nob * ncg; it++) item(jb, p, p + 1, n, n, it / ncg, it % ncg);
            }
        }
        return;
    }
    /* one team for the whole call, two barriers per chunk: after the copies, and after the
     * sums (before the next chunk's copies overwrite the buffers) */
#pragma omp parallel
    for (int g0 = 0; g0 < total; g0 += jb->pieces) {
        const int np = total - g0 < jb->pieces ? total - g0 : jb->pieces;
        const int n0 = g0 / bands, nsets = jb->wstride ? (g0 + np - 1) / bands - n0 + 1 : 1;
#pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < np * (cin + cout); i++) {
            const int p = i / (cin + cout);
            wgrad_copy(jb, p, g0 + p, i % (cin + cout));
        }
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < nsets * nob * ncg; it++) {
            const int si = it / (nob * ncg), ob = it / ncg % nob, cg = it % ncg;
            int gp0, gp1;
            wgrad_set_pieces(jb->wstride != 0, n0, si, bands, g0, np, &gp0, &gp1);
            item(jb, gp0 - g0, gp1 - g0, gp0, jb->wstride ? n0 + si : 0, ob, cg);
        }
    }
}

int direct_forward(float *out, const float *inp, const float *w, size_t wstride, int sets,
                   const int *set_of, int transposed, const float *b, size_t bstride, int N,
                   int cin, int cout, int H, int W, int K, int accumulate) {
    const size_t psz = packed_size(cin, cout, K);
    fwd_job jb = {.out = out, .inp = inp, .b = b, .set_of = set_of, .pstride = sets > 1 ? psz : 0,
                  .bstride = bstride, .N = N, .cin = cin, .cout = cout, .H = H, .W = W,
                  .K = K, .accumulate = accumulate};
    float *pw = thread_scratch(SCRATCH_DIRECT_KERNELS, psz * sets);
    if (!pw || !fwd_plan(&jb)) return 0;
    pack_all(pw, w, wstride, sets, cin, cout, K, transposed);
    jb.pw = pw;
    fwd_exec(&jb);
    return 1;
}

direct_wgrad *direct_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                                size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                                int W, int K) {
    direct_wgrad *jb = malloc(sizeof *jb);
    if (!jb) return NULL;
    *jb = (direct_wgrad){.dw = dw, .db = db, .dout = dout, .inp = inp, .wstride = wstride,
                         .bstride = bstride, .N = N, .cin = cin, .cout = cout, .H = H, .W = W,
                         .K = K};
    if (!wgrad_plan(jb)) {
        free(jb);
        return NULL;
    }
    return jb;
}

void direct_wgrad_run(direct_wgrad *jb) {
    wgrad_exec(jb);
    direct_wgrad_free(jb);
}

void direct_wgrad_free(direct_wgrad *jb) {
    free(jb); /* its buffer is the thread's scratch, kept for the next call */
}

#endif
