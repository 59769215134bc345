/* tiling.c - running the network on an image in tiles: the reference's tiled inference (NSR.md
 * section 5, --tile reference), and the default, auto tiling (--tile auto), which reproduces
 * the whole image in bounded memory (within 0.0004 dB in tiles of 128 on Set5, Set14 and
 * Kodak24 x2; RESULTS.md).
 *
 * ---------------- reference tiles
 *
 * NSR.md section 5: "if the LR input is at least 192 x 192, the body runs on 48x48 tiles
 * (reflect-pad 4, stride 32, keep the inner 40x40, average overlaps; border strips weigh 0.3);
 * the skip branch runs on the whole image." Worked out exactly (h x w is the LR input; P = 48,
 * p = 4, S = 32, K = P - 2p = 40):
 *
 *  - The condition: tiles when both h >= 192 and w >= 192 (4P); otherwise the whole image is one
 *    sample, exactly as nsr_model_infer.
 *  - The input, already shifted by -0.5, is reflect-padded by p on every side (mirror without
 *    repeating the edge: padded row -1 is row 1), giving (h + 2p) x (w + 2p). Tiles are P x P
 *    windows of the padded image; each is one sample of the body (head, blocks, tail), so every
 *    NSR conv pools its own tile (why tiled and whole outputs differ everywhere), and every conv
 *    zero-pads at the tile's edge (why only the inner K x K of each tile is kept: a 3x3 conv's
 *    zero padding reaches one pixel further per layer, and the kept part is p pixels in).
 *  - The kept K x K of the tile whose top-left padded corner is (ty, tx) lies at image rows
 *    ty .. ty + K - 1 and columns tx .. tx + K - 1 (the padding p and the inner offset p cancel).
 *  - The grid: nh = floor((h + 2p - P) / S) + 1 rows of tiles and nw likewise; the span they cover,
 *    (nh - 1) S + P, falls short of h + 2p by crop_h = h + 2p - ((nh - 1) S + P), 0 <= crop_h < S
 *    (likewise crop_w). The grid is centred: tile (i, j) at (crop_h / 2 + i S, crop_w / 2 + j S)
 *    (integer division: an odd leftover puts the extra pixel at the bottom or right). Weight 1.
 *  - The grid alone leaves the image's outer band uncovered (up to crop/2 + p pixels). Four
 *    strips of tiles cover it, each weighing 0.3 (so where the grid reaches, it dominates):
 *      top    row 0 of the padded image, tiles at columns j S, j < nw;
 *      bottom row h + 2p - P, columns crop_w + j S, j < nw;
 *      left   column 0, rows crop_h + i S, i < nh;
 *      right  column w + 2p - P, rows i S, i < nh.
 *    (The top and left strips start at the padded image's origin, the bottom and right ones end
 *    at its far edges; each is the grid's step pattern shifted to that side.) Together with the
 *    grid they cover every pixel, so no weight sum is 0: the top strip covers rows 0 .. K - 1 of
 *    columns 0 .. w - crop_w - 1, the right strip the last K columns of rows 0 .. h - crop_h - 1,
 *    and so on round the image, with K > S > crop.
 *  - Every kept pixel adds weight x value to an accumulator and weight to a weight sum; the body
 *    output is accumulator / weight sum ("average overlaps"), computed on the 3s^2 channels before
 *    the pixel shuffle. Then, as in the whole-image network, the skip branch of the whole image is
 *    added, the channels are shuffled into the s-times larger image and 0.5 is added back.
 *    (Shuffling only moves values, so the accumulator is kept in the output image's layout from
 *    the start, and the skip branch is added band by band, by the engine's own end of the
 *    forward, eng_forward_finish.)
 *
 * Memory: per thread, a batch of up to TILE_BATCH tiles (48 x 48 each, whatever the image size)
 * and a workspace for it, a few MB each (the batches run in parallel, one per thread); the output
 * image (3s^2 floats per LR pixel), which is also the accumulator, the weight sum (1) and a band
 * of the skip branch's input and output (FINISH_BAND rows); never a whole-image activation. The
 * tiles are independent samples, so the batch size changes how fast, not what, is computed.
 *
 * ---------------- auto tiles
 *
 * The reference's tiles differ from what the network learned in two ways: reflect padding at
 * the image edge where training saw zero padding (a frame of artefacts about 4 pixels wide),
 * and 48x48 tiles that keep only their centres (2.5 times the work). Auto tiling cuts the
 * image into large tiles that are plain crops of it, each run through the whole network
 * (eng_forward) as one sample, exactly as the whole image would be:
 *
 *  - Zero padding only at the image's edge: a tile at the edge gets the convolutions' zero
 *    padding there, as the whole image and the training patches do; an interior tile edge
 *    sees zeros too, but only the outputs within the receptive radius r of it
 *    (eng_receptive_radius: 10 for B = 4) can feel them, and those get no weight.
 *  - Overlap: neighbouring tiles overlap by 2r + AUTO_BLEND LR pixels at least; across the
 *    part of it valid in both (AUTO_BLEND or more), their outputs are cross-faded with linear
 *    weights summing to 1. The outputs are not equal there (every tile pools its own
 *    selection, NSR.md section 2, as each training patch did), so a hard cut would be a seam;
 *    the fade spreads the difference over 2 AUTO_BLEND HR pixels or more.
 *  - Layout: along each axis, n = ceil((len - overlap) / (tile - overlap)) tiles, all of one
 *    size (one workspace), the smallest that n tiles overlapping by the minimum cover len with
 *    (ceil((len + (n - 1) overlap) / n) <= the tile size), spread evenly from edge to edge. One
 *    tile in both axes is the whole image, run as such (nsr_model_infer): bit for bit --tile
 *    whole.
 *  - Tile size: -t, else the largest multiple of 16 up to AUTO_TILE_MAX whose workspace fits
 *    AUTO_BUDGET; at least 2 overlaps. A large tile keeps the overlap's extra work small (16%
 *    at 512 for B = 4) and its selection close to the whole image's; the layers spread each
 *    tile over all threads, as for a whole image.
 *  - Memory: the output image, one tile's workspace (<= AUTO_BUDGET) and its input crop.
 *  - Order: tiles one after another, each added into the output with its weights; the sums'
 *    order is fixed, and a tile's output does not depend on the thread count, so neither does
 *    the image. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"
#include "run/tta.h"
#include "run/window.h"

#define TILE 48          /* P: the reference's lr_patch_size */
#define TILE_PAD 4       /* p */
#define TILE_STRIDE 32   /* S = P - 2p - 8 */
#define TILE_KEEP (TILE - 2 * TILE_PAD)
#define TILE_MIN (4 * TILE) /* 192: smaller inputs run whole */
#define STRIP_WEIGHT 0.3f
#define TILE_BATCH 8

typedef struct tile {
    int y, x;     /* top-left corner in the padded image */
    float weight;
} tile;

/* The tiles of an h x w input, grid first, then the top, right, bottom and left strips; *count
 * of them in a malloc'd array (NULL when out of memory). */
static tile *list_tiles(int h, int w, int *count) {
    const int nh = (h + 2 * TILE_PAD - TILE) / TILE_STRIDE + 1;
    const int nw = (w + 2 * TILE_PAD - TILE) / TILE_STRIDE + 1;
    const int crop_h = h + 2 * TILE_PAD - ((nh - 1) * TILE_STRIDE + TILE);
    const int crop_w = w + 2 * TILE_PAD - ((nw - 1) * TILE_STRIDE + TILE);
    const int far_y = h + 2 * TILE_PAD - TILE, far_x = w + 2 * TILE_PAD - TILE;
    tile *t = malloc(((size_t)nh * nw + 2 * (size_t)nh + 2 * (size_t)nw) * sizeof *t);
    int n = 0;
    if (!t) return NULL;
    for (int i = 0; i < nh; i++)
        for (int j = 0; j < nw; j++)
            t[n++] = (tile){crop_h / 2 + i * TILE_STRIDE, crop_w / 2 + j * TILE_STRIDE, 1.0f};
    for (int j = 0; j < nw; j++) t[n++] = (tile){0, j * TILE_STRIDE, STRIP_WEIGHT};
    for (int i = 0; i < nh; i++) t[n++] = (tile){i * TILE_STRIDE, far_x, STRIP_WEIGHT};
    for (int j = 0; j < nw; j++) t[n++] = (tile){far_y, crop_w + j * TILE_STRIDE, STRIP_WEIGHT};
    for (int i = 0; i < nh; i++) t[n++] = (tile){crop_h + i * TILE_STRIDE, 0, STRIP_WEIGHT};
    *count = n;
    return t;
}

/* The kept K x K of body (Cs^2, P, P), times the tile's weight, added straight into out, the
 * (C, h s, w s) output image, where the pixel shuffle puts it (channel (c s + i) s + j, pixel
 * (y, x) goes to colour c, pixel (y s + i, x s + j)): accumulating in the output's own layout
 * spares a second image-sized buffer. wsum (h, w) += weight there. Serial: a few thousand
 * additions against the body's millions of multiply-adds per tile. */
static void add_tile(float *out, float *wsum, const float *body, int C, int s, int h, int w,
                     const tile *t) {
    const size_t out_w = (size_t)w * s, out_plane = out_w * h * s;
    for (int y = 0; y < TILE_KEEP; y++) {
        float *ws = wsum + (size_t)(t->y + y) * w + t->x;
        for (int x = 0; x < TILE_KEEP; x++) ws[x] += t->weight;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < s; i++) {
                float *dst = out + c * out_plane + ((size_t)(t->y + y) * s + i) * out_w +
                             (size_t)t->x * s;
                for (int j = 0; j < s; j++) {
                    const float *src = body + (((size_t)(c * s + i) * s + j) * TILE + TILE_PAD + y) * TILE + TILE_PAD;
                    for (int x = 0; x < TILE_KEEP; x++) dst[(size_t)x * s + j] += t->weight * src[x];
                }
            }
    }
}

/* A thread's part of run_tiles: its batch of tiles and the workspace its body runs in. */
typedef struct tile_worker {
    float *batch; /* (n, C, P, P) */
    eng_workspace ws;
} tile_worker;

/* The batch size of a round: TILE_BATCH tiles, or the left tiles shared evenly among the
 * workers when there are fewer (a batch is a thread's whole share of a round: an uneven split
 * of the last round would leave threads idle while others finish). */
static int round_size(int left, int workers) {
    const int even = (left + workers - 1) / workers;
    return even < TILE_BATCH ? even : TILE_BATCH;
}

/* How many of the count tiles the batch of up to size tiles from tile first holds: size, fewer
 * at the end, 0 past it. */
static int batch_tiles(int count, int first, int size) {
    const int left = count - first;
    return left < 0 ? 0 : left < size ? left : size;
}

/* The body of every tile, weighted into out (the output image's layout) with wsum (h, w).
 *
 * The batches run in parallel, a batch per thread, each in the thread's own workspace; the layers
 * of a batch then run on that one thread (a parallel region inside an active one gets one
 * thread), which spares them a team's barrier at the end of each of their many short parallel
 * loops. The work goes in rounds of a batch per worker: the workers compute their batches'
 * bodies, then one thread adds the round's tiles in tile order. A tile's body depends on the
 * tile alone (every sample is computed on its own), not on its batch or the thread count, and
 * the additions into out keep their order, so the output is the same bits on any number of
 * threads. The adding is serial, but small against the bodies (see add_tile). Every allocation,
 * and so every error, is in the serial part. */
static int run_tiles(const nsr_model *m, const float *x, int h, int w, int hard, float *out,
                     float *wsum, const nsr_infer_options *opts, nsr_error *err) {
    const int s = m->arch.scale, C = m->arch.channels, threads = omp_get_max_threads();
    const size_t tile_in = (size_t)C * TILE * TILE, tile_out = (size_t)C * s * s * TILE * TILE;
    int count;
    tile *tiles = list_tiles(h, w, &count);
    if (!tiles) return nsr_fail(err, "out of memory for the tiles");
    /* no more workers than the first round has batches for; no round's batches are larger */
    const int most = round_size(count, threads), batches = (count + most - 1) / most;
    const int workers = threads < batches ? threads : batches;
    tile_worker *wk = calloc((size_t)workers, sizeof *wk);
    int rc = -1, ok = wk != NULL;
    for (int k = 0; ok && k < workers; k++)
        ok = (wk[k].batch = malloc(most * tile_in * sizeof(float))) != NULL;
    if (!ok) {
        nsr_fail(err, "out of memory for the tiles");
        goto done;
    }
    for (int first = 0, size; first < count; first += workers * size) {
        size = round_size(count - first, workers);
        const int end = first + workers * size < count ? first + workers * size : count;
        for (int k = 0; k < workers; k++) {
            const int n = batch_tiles(count, first + k * size, size);
            if (n && wk[k].ws.n != n) { /* the first round, and the smaller batches of the last */
                eng_workspace_free(&wk[k].ws);
                if (eng_workspace_create(&wk[k].ws, m, n, TILE, TILE, 0, err)) goto done;
            }
        }
#pragma omp parallel for num_threads(workers)
        for (int k = 0; k < workers; k++) {
            const int b0 = first + k * size, n = batch_tiles(count, b0, size);
            /* The layers get one thread here, but size their scratch and split their work by
             * omp_get_max_threads(), which would still read `threads`: 1 instead, for this
             * thread until the region ends. */
            omp_set_num_threads(1);
            for (int j = 0; j < n; j++)
                /* the tile at (y, x) of the image padded by p: image pixel (y - p, x - p) */
                window_cut(wk[k].batch + j * tile_in, x, C, h, w, TILE, tiles[b0 + j].y - TILE_PAD,
                           tiles[b0 + j].x - TILE_PAD);
            if (n) eng_forward_body(m, &wk[k].ws, wk[k].batch, hard);
        }
        for (int t = first; t < end; t++)
            add_tile(out, wsum, wk[(t - first) / size].ws.body + (t - first) % size * tile_out, C,
                     s, h, w, &tiles[t]);
        if (opts->progress) opts->progress(opts->progress_ctx, (double)end / count);
    }
    rc = 0;
done:
    for (int k = 0; wk && k < workers; k++) {
        eng_workspace_free(&wk[k].ws);
        free(wk[k].batch);
    }
    free(wk);
    free(tiles);
    return rc;
}

#define FINISH_BAND 64 /* LR rows finished at a time */

/* out (C, h s, w s), holding the weighted sum of the tiles' bodies, becomes the image: the body
 * is that sum / the weight sum ("average overlaps"), and eng_forward_finish adds the whole
 * image's skip branch, shuffles and adds 0.5. FINISH_BAND rows at a time, so its buffers stay a
 * few MiB whatever the image size: each band's input has the receptive radius's rows of the
 * image above and below it (so zero padding only at the image's own edges); the outputs of
 * those halo rows are not kept, and their body is left 0. A band's body is read from out before
 * its rows of the image are written back, so out is both accumulator and image. */
static int finish_reference(const nsr_model *m, const float *x, int h, int w, float *out,
                            const float *wsum, nsr_error *err) {
    const int s = m->arch.scale, C = m->arch.channels, halo = eng_receptive_radius(m);
    const size_t out_w = (size_t)w * s, out_plane = out_w * h * s;
    const size_t band = (size_t)(FINISH_BAND + 2 * halo) * w, body_sz = (size_t)C * s * s * band;
    float *wn = malloc(nsr_model_param_count(m) * sizeof(float));
    float *x0 = malloc(C * band * sizeof(float));
    float *buf = malloc(3 * body_sz * sizeof(float)); /* skip, body, output of a band */
    int rc = 0;
    if (!wn || !x0 || !buf) {
        rc = nsr_fail(err, "out of memory for the skip branch of a %dx%d image", w, h);
        goto done;
    }
    float *skip = buf, *body = buf + body_sz, *band_out = buf + 2 * body_sz;
    eng_weightnorm(m, wn);
    for (int y0 = 0; y0 < h; y0 += FINISH_BAND) {
        const int y1 = y0 + FINISH_BAND < h ? y0 + FINISH_BAND : h;
        const int top = y0 - halo > 0 ? y0 - halo : 0, bottom = y1 + halo < h ? y1 + halo : h;
        const int rows = bottom - top;
        for (int ch = 0; ch < C; ch++)
            nn_add_scalar(x0 + (size_t)ch * rows * w, x + ((size_t)ch * h + top) * w, -0.5f,
                          (size_t)rows * w);
        /* body (C s^2, rows, w) from image row top: channel (ch s + i) s + j, pixel (y, x) is
         * out's colour ch, pixel (y s + i, x s + j) */
        memset(body, 0, (size_t)C * s * s * rows * w * sizeof(float));
        for (int y = y0; y < y1; y++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < s; i++) {
                    const float *src = out + ch * out_plane + ((size_t)y * s + i) * out_w;
                    const float *ws = wsum + (size_t)y * w;
                    for (int j = 0; j < s; j++) {
                        float *dst = body + (((size_t)(ch * s + i) * s + j) * rows + (y - top)) * w;
                        for (int x = 0; x < w; x++) dst[x] = src[(size_t)x * s + j] / ws[x];
                    }
                }
        eng_forward_finish(m, wn, x0, skip, body, band_out, 1, rows, w);
        for (int ch = 0; ch < C; ch++)
            memcpy(out + ch * out_plane + (size_t)y0 * s * out_w,
                   band_out + ((size_t)ch * rows + (y0 - top)) * s * out_w,
                   (size_t)(y1 - y0) * s * out_w * sizeof(float));
    }
done:
    free(buf);
    free(x0);
    free(wn);
    return rc;
}

static int infer_reference(const nsr_model *m, const nsr_image *in, nsr_image *out,
                       const nsr_infer_options *opts, nsr_error *err) {
    const int h = in->height, w = in->width, s = m->arch.scale;
    float *wsum = calloc((size_t)h * w, sizeof(float));
    if (!wsum) return nsr_fail(err, "out of memory for the tiled output of a %dx%d image", w, h);
    if (nsr_image_create(out, w * s, h * s, m->arch.channels, 0, err) ||
        run_tiles(m, in->data, h, w, opts->selection == NSR_SELECT_HARD, out->data, wsum, opts,
                  err) ||
        finish_reference(m, in->data, h, w, out->data, wsum, err)) {
        nsr_image_free(out);
        free(wsum);
        return -1;
    }
    free(wsum);
    out->bit_depth = in->bit_depth;
    return 0;
}

/* ---------------------------------------------------------------- auto tiles */

#define AUTO_BLEND 16                   /* LR pixels of cross-fade, at least */
#define AUTO_TILE_MAX 512               /* LR pixels: a tile's side, at most */
#define AUTO_BUDGET ((size_t)256 << 20) /* bytes of a tile's activations, at most */

/* The tiles along one axis: n of them, size LR pixels long each, from start[i]; weight
 * (n, size s) is each tile's share of the output along this axis, per HR pixel. */
typedef struct tile_axis {
    int n, size;
    int *start;
    float *weight;
} tile_axis;

static void axis_free(tile_axis *a) {
    free(a->start);
    free(a->weight);
}

/* Lays out the tiles of an axis of len LR pixels (see the top of the file) and weighs them:
 * tile i's HR pixel Y gets up(Y) * down(Y), each a linear ramp across the zone where the tile
 * overlaps a neighbour and both are valid (r LR pixels or more in from both tiles' inner
 * edges), 1 past the zone on the tile's side and 0 before it. The pixel's centre (Y + 0.5)
 * places it on the ramp, so every valid pixel weighs more than 0 and two neighbours' ramps add
 * up to 1; dividing by the sum over the tiles makes that so also where three tiles meet (when
 * the tiles are crowded on a short axis). */
static int plan_axis(tile_axis *a, int len, int tile, int overlap, int r, int s) {
    a->n = len <= tile ? 1 : (len - overlap + (tile - overlap) - 1) / (tile - overlap);
    /* the shortest tiles that n of them cover len with the overlap: n tiles of the full size
     * would overlap by more, which is work for nothing */
    a->size = a->n == 1 ? len : (len + (a->n - 1) * overlap + a->n - 1) / a->n;
    a->start = malloc((size_t)a->n * sizeof *a->start);
    a->weight = malloc((size_t)a->n * a->size * s * sizeof *a->weight);
    double *sum = calloc((size_t)len * s, sizeof *sum);
    if (!a->start || !a->weight || !sum) {
        free(sum);
        return -1;
    }
    for (int i = 0; i < a->n; i++)
        a->start[i] = a->n == 1 ? 0 : (int)((long long)i * (len - a->size) / (a->n - 1));
    for (int i = 0; i < a->n; i++)
        for (int k = 0; k < a->size * s; k++) {
            const double y = (double)a->start[i] * s + k + 0.5;
            double wt = 1;
            if (i > 0) { /* the zone shared with the tile before */
                const double z0 = (double)(a->start[i] + r) * s;
                const double z1 = (double)(a->start[i - 1] + a->size - r) * s;
                wt *= fmin(fmax((y - z0) / (z1 - z0), 0), 1);
            }
            if (i < a->n - 1) { /* and with the tile after */
                const double z0 = (double)(a->start[i + 1] + r) * s;
                const double z1 = (double)(a->start[i] + a->size - r) * s;
                wt *= fmin(fmax((z1 - y) / (z1 - z0), 0), 1);
            }
            a->weight[(size_t)i * a->size * s + k] = (float)wt;
            sum[(size_t)a->start[i] * s + k] += wt;
        }
    for (int i = 0; i < a->n; i++)
        for (int k = 0; k < a->size * s; k++)
            a->weight[(size_t)i * a->size * s + k] /= (float)sum[(size_t)a->start[i] * s + k];
    free(sum);
    return 0;
}

/* The tile size of auto tiling for this model: the largest multiple of 16 up to AUTO_TILE_MAX
 * whose workspace fits AUTO_BUDGET, but not below least. */
static int auto_tile_size(const nsr_model *m, int least) {
    int t = AUTO_TILE_MAX;
    while (t - 16 >= least && eng_workspace_floats(m, 1, t, t, 0) > AUTO_BUDGET / sizeof(float))
        t -= 16;
    return t;
}

/* out (C, H, W) += a tile's output (C, th, tw) placed at (y0, x0), weighed by wy (th) times
 * wx (tw). Each output value is one thread's, so the sums do not depend on the threads. */
static void blend_tile(float *out, int C, int H, int W, const float *t, int th, int tw, int y0,
                       int x0, const float *wy, const float *wx) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < C; c++)
        for (int y = 0; y < th; y++) {
            float *dst = out + ((size_t)c * H + y0 + y) * W + x0;
            const float *src = t + ((size_t)c * th + y) * tw;
            for (int x = 0; x < tw; x++) dst[x] += wy[y] * wx[x] * src[x];
        }
}

/* The least overlap of neighbouring auto tiles: the receptive radius on both sides and the
 * cross-fade. */
static int auto_overlap(const nsr_model *m) { return 2 * eng_receptive_radius(m) + AUTO_BLEND; }

int nsr_infer_tile_size(const nsr_model *m, const nsr_infer_options *opts) {
    return opts && opts->tile_size ? opts->tile_size : auto_tile_size(m, 2 * auto_overlap(m));
}

/* The image as one sample (nsr_model_infer), reported as all the work when done. */
static int infer_whole(const nsr_model *m, const nsr_image *in, nsr_image *out,
                       const nsr_infer_options *opts, nsr_error *err) {
    if (nsr_model_infer(m, in, out, opts->selection, err)) return -1;
    if (opts->progress) opts->progress(opts->progress_ctx, 1.0);
    return 0;
}

static int infer_auto(const nsr_model *m, const nsr_image *in, nsr_image *out,
                      const nsr_infer_options *opts, nsr_error *err) {
    const int h = in->height, w = in->width, s = m->arch.scale, C = m->arch.channels;
    const int r = eng_receptive_radius(m), overlap = auto_overlap(m);
    const int tile = nsr_infer_tile_size(m, opts);
    if (tile < 2 * overlap)
        return nsr_fail(err, "tile size %d is too small for this network: at least %d (twice "
                        "the overlap of %d that its receptive field needs)", tile, 2 * overlap,
                        overlap);
    tile_axis ay = {0}, ax = {0};
    eng_workspace ws = {0};
    float *crop = NULL;
    int rc = -1;
    if (plan_axis(&ay, h, tile, overlap, r, s) || plan_axis(&ax, w, tile, overlap, r, s)) {
        nsr_fail(err, "out of memory for the tiles of a %dx%d image", w, h);
        goto done;
    }
    if (ay.n == 1 && ax.n == 1) { /* one tile: the whole image */
        rc = infer_whole(m, in, out, opts, err);
        goto done;
    }
    const int th = ay.size, tw = ax.size;
    crop = malloc((size_t)C * th * tw * sizeof *crop);
    if (!crop) {
        nsr_fail(err, "out of memory for a %dx%d tile", tw, th);
        goto done;
    }
    if (eng_workspace_create(&ws, m, 1, th, tw, 0, err) ||
        nsr_image_create(out, w * s, h * s, C, 0, err))
        goto done;
    for (int i = 0; i < ay.n; i++)
        for (int j = 0; j < ax.n; j++) {
            for (int c = 0; c < C; c++)
                for (int y = 0; y < th; y++)
                    memcpy(crop + ((size_t)c * th + y) * tw,
                           in->data + ((size_t)c * h + ay.start[i] + y) * w + ax.start[j],
                           (size_t)tw * sizeof *crop);
            eng_forward(m, &ws, crop, opts->selection == NSR_SELECT_HARD);
            blend_tile(out->data, C, h * s, w * s, ws.out, th * s, tw * s, ay.start[i] * s,
                       ax.start[j] * s, ay.weight + (size_t)i * th * s,
                       ax.weight + (size_t)j * tw * s);
            if (opts->progress)
                opts->progress(opts->progress_ctx, (double)(i * ax.n + j + 1) / (ay.n * ax.n));
        }
    out->bit_depth = in->bit_depth;
    rc = 0;
done:
    if (rc) nsr_image_free(out);
    eng_workspace_free(&ws);
    free(crop);
    axis_free(&ay);
    axis_free(&ax);
    return rc;
}

/* ---------------------------------------------------------------- the modes */

int nsr_model_infer_tiled(const nsr_model *m, const nsr_image *in, nsr_image *out,
                          const nsr_infer_options *opts, nsr_error *err) {
    const nsr_infer_options defaults = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_AUTO};
    if (!opts) opts = &defaults;
    memset(out, 0, sizeof *out);
    if (opts->tiling != NSR_TILE_AUTO && opts->tiling != NSR_TILE_REFERENCE &&
        opts->tiling != NSR_TILE_WHOLE)
        return nsr_fail(err, "unknown tiling mode %d", (int)opts->tiling);
    if (opts->tile_size < 0 || (opts->tile_size && opts->tiling != NSR_TILE_AUTO))
        return nsr_fail(err, "a tile size (%d) is for auto tiling only", opts->tile_size);
    if (in->channels != m->arch.channels)
        return nsr_fail(err, "the network takes %s images, not %d channel(s)",
                        m->arch.channels == 1 ? "grey" : "RGB", in->channels);
    if (opts->tta != 0 && opts->tta != 1)
        return nsr_fail(err, "test-time augmentation is 0 or 1, not %d", opts->tta);
    if (opts->tta) return tta_infer(m, in, out, opts, err);
    if (opts->tiling == NSR_TILE_WHOLE ||
        (opts->tiling == NSR_TILE_REFERENCE && (in->width < TILE_MIN || in->height < TILE_MIN)))
        return infer_whole(m, in, out, opts, err);
    if (opts->selection != NSR_SELECT_SOFT && opts->selection != NSR_SELECT_HARD)
        return nsr_fail(err, "unknown selection mode %d", (int)opts->selection);
    const int s = m->arch.scale;
    if (in->width > INT32_MAX / s || in->height > INT32_MAX / s)
        return nsr_fail(err, "image %dx%d too large for scale %d", in->width, in->height, s);
    return opts->tiling == NSR_TILE_AUTO ? infer_auto(m, in, out, opts, err)
                                         : infer_reference(m, in, out, opts, err);
}

static const char *const tiling_names[] = {"auto", "reference", "whole"}; /* by nsr_tiling */

const char *nsr_tiling_name(nsr_tiling tiling) {
    return tiling >= NSR_TILE_AUTO && tiling <= NSR_TILE_WHOLE ? tiling_names[tiling] : "unknown";
}

int nsr_tiling_parse(const char *name, nsr_tiling *tiling) {
    for (int t = NSR_TILE_AUTO; t <= NSR_TILE_WHOLE; t++)
        if (!strcmp(name, tiling_names[t])) {
            *tiling = (nsr_tiling)t;
            return 0;
        }
    return -1;
}
