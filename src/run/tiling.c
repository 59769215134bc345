/* tiling.c - running a network on real images: the reference's tiled inference (NSR.md section
 * 5), and the model restorer that wraps it for any image (grey, alpha, ICC, bit depth) and task.
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
 *    the start, and the skip branch is added band by band.)
 *
 * Memory: per thread, a batch of up to TILE_BATCH tiles (48 x 48 each, whatever the image size)
 * and a workspace for it, a few MB each (the batches run in parallel, one per thread); the output
 * image (3s^2 floats per LR pixel), which is also the accumulator, the weight sum (1) and a band
 * of the skip branch's input and output (SKIP_BAND rows); never a whole-image activation. The
 * tiles are independent samples, so the batch size changes how fast, not what, is computed. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

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

/* Padded coordinate q (0 .. n + 2p - 1) to an image coordinate, mirrored without repeating the
 * edge (PyTorch's 'reflect'); n > p. */
static int reflect(int q, int n) {
    int r = q - TILE_PAD;
    return r < 0 ? -r : r >= n ? 2 * (n - 1) - r : r;
}

/* dst (3, P, P) = the tile at (ty, tx) of the padded rgb (3, h, w). */
static void cut_tile(float *dst, const float *rgb, int h, int w, int ty, int tx) {
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < TILE; y++) {
            const float *row = rgb + ((size_t)c * h + reflect(ty + y, h)) * w;
            float *out = dst + ((size_t)c * TILE + y) * TILE;
            for (int x = 0; x < TILE; x++) out[x] = row[reflect(tx + x, w)];
        }
}

/* The kept K x K of body (3s^2, P, P), times the tile's weight, added straight into out, the
 * (3, h s, w s) output image, where the pixel shuffle puts it (channel (c s + i) s + j, pixel
 * (y, x) goes to colour c, pixel (y s + i, x s + j)): accumulating in the output's own layout
 * spares a second image-sized buffer. wsum (h, w) += weight there. Serial: a few thousand
 * additions against the body's millions of multiply-adds per tile. */
static void add_tile(float *out, float *wsum, const float *body, int s, int h, int w,
                     const tile *t) {
    const size_t out_w = (size_t)w * s, out_plane = out_w * h * s;
    for (int y = 0; y < TILE_KEEP; y++) {
        float *ws = wsum + (size_t)(t->y + y) * w + t->x;
        for (int x = 0; x < TILE_KEEP; x++) ws[x] += t->weight;
        for (int c = 0; c < 3; c++)
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
    float *batch; /* (n, 3, P, P) */
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
static int run_tiles(const nsr_model *m, const float *rgb, int h, int w, int hard, float *out,
                     float *wsum, const nsr_infer_options *opts, nsr_error *err) {
    const int s = m->arch.scale, threads = omp_get_max_threads();
    const size_t tile_in = (size_t)3 * TILE * TILE, tile_out = (size_t)3 * s * s * TILE * TILE;
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
                cut_tile(wk[k].batch + j * tile_in, rgb, h, w, tiles[b0 + j].y, tiles[b0 + j].x);
            if (n) eng_forward_body(m, &wk[k].ws, wk[k].batch, hard);
        }
        for (int t = first; t < end; t++)
            add_tile(out, wsum, wk[(t - first) / size].ws.body + (t - first) % size * tile_out, s,
                     h, w, &tiles[t]);
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

#define SKIP_BAND 64 /* LR rows of the skip branch computed at a time */

/* out (3, h s, w s), holding the weighted sum of the tiles, becomes the image: per pixel
 * (sum / weight + skip) + 0.5, the same operations in the same order as averaging, adding the
 * whole-image skip branch (the 5x5 conv of rgb - 0.5, or rgb - 0.5 itself when s = 1; NSR.md
 * section 3), shuffling and adding 0.5 back would do. The skip branch is computed SKIP_BAND rows
 * at a time, each band's input with K/2 rows of the image above and below it (zero padding only
 * at the image's own edges), so its buffers stay a few MiB whatever the image size. */
static int finish_tiled(const nsr_model *m, const float *rgb, int h, int w, float *out,
                        const float *wsum, nsr_error *err) {
    const int s = m->arch.scale;
    const eng_conv *c = &m->conv[ENG_SKIP(m->arch.blocks)];
    const int halo = s > 1 ? c->ksize / 2 : 0;
    const size_t out_w = (size_t)w * s, out_plane = out_w * h * s;
    const size_t in_rows = (size_t)SKIP_BAND + 2 * halo;
    float *x0 = malloc((size_t)3 * in_rows * w * sizeof(float));
    float *wn = s > 1 ? malloc((size_t)c->cout * c->cin * c->ksize * c->ksize * sizeof(float)) : NULL;
    float *skip = s > 1 ? malloc((size_t)3 * s * s * in_rows * w * sizeof(float)) : x0;
    int rc = 0;
    if (!x0 || (s > 1 && (!wn || !skip))) {
        rc = nsr_fail(err, "out of memory for the skip branch of a %dx%d image", w, h);
        goto done;
    }
    if (s > 1)
        nn_weightnorm_forward(wn, m->params + c->v, m->params + c->g, c->cout,
                              c->cin * c->ksize * c->ksize);
    for (int y0 = 0; y0 < h; y0 += SKIP_BAND) {
        const int y1 = y0 + SKIP_BAND < h ? y0 + SKIP_BAND : h;
        const int top = y0 - halo > 0 ? y0 - halo : 0, bottom = y1 + halo < h ? y1 + halo : h;
        const int rows = bottom - top;
        for (int ch = 0; ch < 3; ch++)
            nn_add_scalar(x0 + (size_t)ch * rows * w, rgb + ((size_t)ch * h + top) * w, -0.5f,
                          (size_t)rows * w);
        if (s > 1)
            nn_conv2d_forward(skip, x0, wn, 0, m->params + c->b, 0, 1, c->cin, c->cout, rows, w,
                              c->ksize, NULL);
        /* skip holds (3 s^2, rows, w) from image row top: pixel (y, x) of channel (ch s + i) s
         * + j lands on out's colour ch, pixel (y s + i, x s + j) */
        for (int y = y0; y < y1; y++)
            for (int ch = 0; ch < 3; ch++)
                for (int i = 0; i < s; i++) {
                    float *dst = out + ch * out_plane + ((size_t)y * s + i) * out_w;
                    const float *ws = wsum + (size_t)y * w;
                    for (int j = 0; j < s; j++) {
                        const float *sk = skip + (((size_t)(ch * s + i) * s + j) * rows + (y - top)) * w;
                        for (int x = 0; x < w; x++) {
                            float *o = dst + (size_t)x * s + j;
                            *o = (*o / ws[x] + sk[x]) + 0.5f;
                        }
                    }
                }
    }
done:
    if (skip != x0) free(skip);
    free(x0);
    free(wn);
    return rc;
}

static int infer_tiled(const nsr_model *m, const nsr_image *in, nsr_image *out,
                       const nsr_infer_options *opts, nsr_error *err) {
    const int h = in->height, w = in->width, s = m->arch.scale;
    float *wsum = calloc((size_t)h * w, sizeof(float));
    if (!wsum) return nsr_fail(err, "out of memory for the tiled output of a %dx%d image", w, h);
    if (nsr_image_create(out, w * s, h * s, 3, 0, err) ||
        run_tiles(m, in->data, h, w, opts->selection == NSR_SELECT_HARD, out->data, wsum, opts,
                  err) ||
        finish_tiled(m, in->data, h, w, out->data, wsum, err)) {
        nsr_image_free(out);
        free(wsum);
        return -1;
    }
    free(wsum);
    out->bit_depth = in->bit_depth;
    return 0;
}

int nsr_model_infer_tiled(const nsr_model *m, const nsr_image *in, nsr_image *out,
                          const nsr_infer_options *opts, nsr_error *err) {
    const nsr_infer_options defaults = {NSR_SELECT_SOFT, NSR_TILE_REFERENCE, NULL, NULL};
    if (!opts) opts = &defaults;
    memset(out, 0, sizeof *out);
    if (opts->tiling != NSR_TILE_REFERENCE && opts->tiling != NSR_TILE_WHOLE)
        return nsr_fail(err, "unknown tiling mode %d", (int)opts->tiling);
    if (opts->tiling == NSR_TILE_WHOLE || in->width < TILE_MIN || in->height < TILE_MIN || in->channels != 3)
        return nsr_model_infer(m, in, out, opts->selection, err);
    if (opts->selection != NSR_SELECT_SOFT && opts->selection != NSR_SELECT_HARD)
        return nsr_fail(err, "unknown selection mode %d", (int)opts->selection);
    const int s = m->arch.scale;
    if (in->width > INT32_MAX / s || in->height > INT32_MAX / s)
        return nsr_fail(err, "image %dx%d too large for scale %d", in->width, in->height, s);
    return infer_tiled(m, in, out, opts, err);
}

const char *nsr_tiling_name(nsr_tiling tiling) {
    return tiling == NSR_TILE_WHOLE ? "whole" : "reference";
}

int nsr_tiling_parse(const char *name, nsr_tiling *tiling) {
    if (!strcmp(name, "reference")) *tiling = NSR_TILE_REFERENCE;
    else if (!strcmp(name, "whole")) *tiling = NSR_TILE_WHOLE;
    else return -1;
    return 0;
}

/* ---------------------------------------------------------------- any image, any task */

int nsr_model_restore(const nsr_model *m, const nsr_image *in, nsr_image *out,
                      const nsr_infer_options *opts, nsr_error *err) {
    const int s = m->arch.scale;
    nsr_image rgb = {0}, net = {0};
    memset(out, 0, sizeof *out);
    if ((in->channels != 1 && in->channels != 3) || !in->data)
        return nsr_fail(err, "cannot restore an image of %d channels", in->channels);
    const nsr_image *x = in;
    if (in->channels == 1) { /* the network sees RGB: grey replicated to the three planes */
        if (nsr_image_create(&rgb, in->width, in->height, 3, 0, err)) return -1;
        for (int c = 0; c < 3; c++)
            memcpy(nsr_image_plane(&rgb, c), in->data, (size_t)in->width * in->height * sizeof(float));
        rgb.bit_depth = in->bit_depth;
        x = &rgb;
    }
    int rc = nsr_model_infer_tiled(m, x, &net, opts, err);
    nsr_image_free(&rgb);
    if (rc) return -1;
    const size_t plane = (size_t)net.width * net.height;
    if (in->channels == 1) {
        /* back to grey: the mean of the three planes (equal for a network that keeps grey
         * grey; otherwise the plain average, with no colour weighting to prefer) */
        if (nsr_image_create(out, net.width, net.height, 1, 0, err)) goto fail;
        for (size_t i = 0; i < plane; i++)
            out->data[i] = (net.data[i] + net.data[plane + i] + net.data[2 * plane + i]) / 3.0f;
        nsr_image_free(&net);
    } else {
        *out = net;
        net = (nsr_image){0};
    }
    out->bit_depth = in->bit_depth;
    if (in->alpha) {
        /* alpha is not the network's business: MATLAB bicubic in float, as a grey image */
        if (s == 1) {
            out->alpha = malloc(plane * sizeof(float));
            if (!out->alpha) {
                nsr_fail(err, "out of memory for the alpha plane");
                goto fail;
            }
            memcpy(out->alpha, in->alpha, plane * sizeof(float));
        } else {
            const nsr_image alpha_in = {.width = in->width, .height = in->height, .channels = 1,
                                        .bit_depth = in->bit_depth, .data = in->alpha};
            nsr_image alpha_out;
            if (nsr_resize_bicubic(&alpha_out, &alpha_in, out->width, out->height, s, s, 0, err))
                goto fail;
            out->alpha = alpha_out.data; /* taken over from alpha_out, which is not freed */
        }
    }
    if (in->icc_size) {
        out->icc = malloc(in->icc_size);
        if (!out->icc) {
            nsr_fail(err, "out of memory for the ICC profile");
            goto fail;
        }
        memcpy(out->icc, in->icc, in->icc_size);
        out->icc_size = in->icc_size;
    }
    return 0;
fail:
    nsr_image_free(&net);
    nsr_image_free(out);
    return -1;
}

/* The restorer: a model, its options and its name in one allocation. */
typedef struct model_restorer {
    nsr_restorer base;
    const nsr_model *model;
    nsr_infer_options opts;
    char label[96]; /* names the model in messages */
    char name[160]; /* label and mode, for result tables */
} model_restorer;

int nsr_model_check_task(const nsr_model *m, const nsr_task *task, const char *label,
                         nsr_error *err) {
    const int s = m->arch.scale;
    char what[64];
    if (!label) label = "the model";
    if (s == 1 && task->kind == NSR_TASK_SR)
        return nsr_fail(err, "%s restores at the same size (denoising, JPEG); it cannot do %s",
                        label, nsr_task_describe(task, what, sizeof what));
    if (s > 1 && (task->kind != NSR_TASK_SR || task->scale != s))
        return nsr_fail(err, "%s is a x%d super-resolution network; it cannot do %s", label, s,
                        nsr_task_describe(task, what, sizeof what));
    return 0;
}

static int restore_model(void *ctx, const nsr_task *task, const nsr_image *in, nsr_image *out,
                         nsr_error *err) {
    const model_restorer *r = ctx;
    memset(out, 0, sizeof *out);
    if (nsr_model_check_task(r->model, task, r->label, err)) return -1;
    return nsr_model_restore(r->model, in, out, &r->opts, err);
}

int nsr_model_restorer_create(nsr_restorer **out, const nsr_model *m, const char *label,
                              const nsr_infer_options *opts, nsr_error *err) {
    const nsr_infer_options defaults = {NSR_SELECT_SOFT, NSR_TILE_REFERENCE, NULL, NULL};
    model_restorer *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return nsr_fail(err, "out of memory");
    r->model = m;
    r->opts = opts ? *opts : defaults;
    snprintf(r->label, sizeof r->label, "%s", label ? label : "the model");
    snprintf(r->name, sizeof r->name, "%s (%s, %s selection)", r->label,
             r->opts.tiling == NSR_TILE_WHOLE ? "whole image" : "reference tiles",
             r->opts.selection == NSR_SELECT_HARD ? "hard" : "soft");
    r->base = (nsr_restorer){r->name, r, restore_model};
    *out = &r->base;
    return 0;
}

void nsr_model_restorer_free(nsr_restorer *r) {
    free(r); /* base is the first member: r is the allocation */
}
