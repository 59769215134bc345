/* test_tiling.c - inference on real images (src/run/tiling.c, src/run/restore.c): the reference's
 * tiled mode against an independent, straightforward implementation of NSR.md section 5's
 * description; whole-image equality below 192 x 192; auto tiles against the whole image; the
 * same bits on any number of threads; bounded memory; grey, alpha, ICC and bit depth; the
 * restorer's tasks. */
#include <malloc.h>
#include <omp.h>
#include <stdint.h>

#include "check.h"
#include "nsr.h"
#include "restore_fixtures.h"

/* Bytes allocated and not freed: ASan's count under the sanitizers (its allocator replaces
 * malloc; declared here as gcc ships no header for it), glibc's otherwise. */
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static size_t heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

static const nsr_infer_options reference = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_REFERENCE};

static nsr_model *tiny_model(int scale, int groups, uint64_t seed) {
    return model_of_arch((nsr_arch){.blocks = 1, .features = 4, .width_mult = 2, .groups = groups,
                                    .cardinals = 2, .scale = scale, .shared_selection = 0},
                         seed);
}

/* A picture with structure at several scales, so that tiles differ in their statistics. */
static double scales_pattern(int x, int y, int c, int w, int h) {
    (void)w, (void)h;
    return 0.5 + 0.3 * sin(0.05 * x * (c + 1) + 0.002 * y * y) + 0.2 * ((x / 13 + y / 7 + c) % 3 == 0);
}

static int picture(nsr_image *img, int w, int h, int channels) {
    return draw_picture(img, w, h, channels, scales_pattern);
}

static int same_image(const nsr_image *a, const nsr_image *b) {
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           !memcmp(a->data, b->data, (size_t)a->channels * a->width * a->height * sizeof(float));
}

/* ---------------------------------------------------------------- the straightforward version */

/* The skip branch's kernel g V / ||V|| (3s^2, 3, 5, 5) and bias, in double. */
static int skip_kernel(const nsr_model *m, double *wk, double *bias) {
    const int C = 3 * nsr_model_arch(m)->scale * nsr_model_arch(m)->scale;
    nsr_error err;
    nsr_model_file *f = nsr_model_file_new();
    const float *V, *g, *b;
    int rc = !f || nsr_model_to_file(m, f, &err) ||
             nsr_model_file_get_tensor(f, "skip.v", 4, (int[]){C, 3, 5, 5}, &V, &err) ||
             nsr_model_file_get_tensor(f, "skip.g", 1, (int[]){C}, &g, &err) ||
             nsr_model_file_get_tensor(f, "skip.b", 1, (int[]){C}, &b, &err);
    for (int o = 0; o < C && !rc; o++) {
        double norm = 0;
        for (int k = 0; k < 75; k++) norm += (double)V[o * 75 + k] * V[o * 75 + k];
        for (int k = 0; k < 75; k++) wk[o * 75 + k] = g[o] * V[o * 75 + k] / sqrt(norm);
        bias[o] = b[o];
    }
    nsr_model_file_free(f);
    return rc ? -1 : 0;
}

/* The skip branch, written out: out (3s^2, h, w) = 5x5 conv of x - 0.5 (3, h, w) with zero
 * padding and the kernel of skip_kernel; for s = 1, x - 0.5 itself. */
static void skip_branch(int s, const double *wk, const double *bias, const float *x, int h, int w,
                        double *out) {
    if (s == 1) {
        for (size_t i = 0; i < (size_t)3 * h * w; i++) out[i] = x[i] - 0.5;
        return;
    }
    for (int o = 0; o < 3 * s * s; o++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                double acc = bias[o];
                for (int c = 0; c < 3; c++)
                    for (int ky = 0; ky < 5; ky++)
                        for (int kx = 0; kx < 5; kx++) {
                            int iy = y + ky - 2, ix = xx + kx - 2;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            acc += wk[((o * 3 + c) * 5 + ky) * 5 + kx] * (x[((size_t)c * h + iy) * w + ix] - 0.5);
                        }
                out[((size_t)o * h + y) * w + xx] = acc;
            }
}

/* The tiled output as NSR.md section 5 describes it, computed the plain way: pad, cut every tile
 * of the five groups, get each tile's body as (network output on the tile) - 0.5 - (the tile's
 * own skip branch), average the kept centres with weights, add the whole image's skip branch,
 * shuffle, add 0.5. */
static int tiled_by_hand(const nsr_model *m, const nsr_image *in, nsr_image *out) {
    const int s = nsr_model_arch(m)->scale, C = 3 * s * s, h = in->height, w = in->width;
    const int P = 48, p = 4, S = 32, H = h + 2 * p, W = w + 2 * p;
    const int nh = (H - P) / S + 1, nw = (W - P) / S + 1;
    const int crop_h = H - ((nh - 1) * S + P), crop_w = W - ((nw - 1) * S + P);
    nsr_error err;
    double *sum = calloc((size_t)C * h * w, sizeof(double)), *wsum = calloc((size_t)h * w, sizeof(double));
    double *skip = malloc((size_t)C * h * w * sizeof(double)), *tskip = malloc((size_t)C * P * P * sizeof(double));
    float *padded = malloc((size_t)3 * H * W * sizeof(float));
    nsr_image tile = {0}, tout = {0};
    double wk[27 * 75], bias[27];
    int rc = -1;
    if (!sum || !wsum || !skip || !tskip || !padded || nsr_image_create(&tile, P, P, 3, 0, &err) ||
        (s > 1 && skip_kernel(m, wk, bias)))
        goto done;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sy = y - p, sx = x - p;
                if (sy < 0) sy = -sy;
                if (sy >= h) sy = 2 * h - 2 - sy;
                if (sx < 0) sx = -sx;
                if (sx >= w) sx = 2 * w - 2 - sx;
                padded[((size_t)c * H + y) * W + x] = nsr_image_plane(in, c)[(size_t)sy * w + sx];
            }
    /* (top-left y, x, weight) of every tile: the centred grid, then the four strips */
    int count = 0;
    int (*at)[2] = malloc(sizeof(int[2]) * (size_t)(nh * nw + 2 * nh + 2 * nw));
    double *weight = malloc(sizeof(double) * (size_t)(nh * nw + 2 * nh + 2 * nw));
    if (!at || !weight) {
        free(at);
        free(weight);
        goto done;
    }
    for (int i = 0; i < nh; i++)
        for (int j = 0; j < nw; j++) at[count][0] = crop_h / 2 + i * S, at[count][1] = crop_w / 2 + j * S, weight[count++] = 1;
    for (int j = 0; j < nw; j++) at[count][0] = 0, at[count][1] = j * S, weight[count++] = 0.3;
    for (int i = 0; i < nh; i++) at[count][0] = i * S, at[count][1] = W - P, weight[count++] = 0.3;
    for (int j = 0; j < nw; j++) at[count][0] = H - P, at[count][1] = crop_w + j * S, weight[count++] = 0.3;
    for (int i = 0; i < nh; i++) at[count][0] = crop_h + i * S, at[count][1] = 0, weight[count++] = 0.3;
    for (int t = 0; t < count; t++) {
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < P; y++)
                for (int x = 0; x < P; x++)
                    tile.data[((size_t)c * P + y) * P + x] = padded[((size_t)c * H + at[t][0] + y) * W + at[t][1] + x];
        nsr_image_free(&tout);
        if (nsr_model_infer(m, &tile, &tout, NSR_SELECT_SOFT, &err)) break;
        skip_branch(s, wk, bias, tile.data, P, P, tskip);
        /* channel c*s*s + i*s + j of LR pixel (y, x) is colour c at (y*s + i, x*s + j) */
        for (int c = 0; c < C; c++)
            for (int y = p; y < P - p; y++)
                for (int x = p; x < P - p; x++) {
                    int colour = c / (s * s), i = c % (s * s) / s, j = c % s;
                    double net = tout.data[((size_t)colour * P * s + y * s + i) * P * s + x * s + j];
                    double body = net - 0.5 - tskip[((size_t)c * P + y) * P + x];
                    int iy = at[t][0] + y - p, ix = at[t][1] + x - p;
                    sum[((size_t)c * h + iy) * w + ix] += weight[t] * body;
                    if (c == 0) wsum[(size_t)iy * w + ix] += weight[t];
                }
        if (t == count - 1) rc = 0;
    }
    free(at);
    free(weight);
    if (rc || nsr_image_create(out, w * s, h * s, 3, 0, &err)) {
        rc = -1;
        goto done;
    }
    skip_branch(s, wk, bias, in->data, h, w, skip);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t k = ((size_t)c * h + y) * w + x;
                int colour = c / (s * s), i = c % (s * s) / s, j = c % s;
                out->data[((size_t)colour * h * s + y * s + i) * w * s + x * s + j] =
                    (float)(sum[k] / wsum[(size_t)y * w + x] + skip[k] + 0.5);
            }
done:
    free(sum);
    free(wsum);
    free(skip);
    free(tskip);
    free(padded);
    nsr_image_free(&tile);
    nsr_image_free(&tout);
    return rc;
}

/* ---------------------------------------------------------------- tests */

static void test_small_images_run_whole(void) {
    nsr_model *m = tiny_model(2, 2, 1);
    REQUIRE(m, "model");
    const int sizes[][2] = {{191, 250}, {250, 191}, {40, 30}, {1, 1}};
    for (int k = 0; k < 4; k++) {
        nsr_image in, a, b;
        nsr_error err;
        REQUIRE(!picture(&in, sizes[k][0], sizes[k][1], 3), "picture");
        CHECK(!nsr_model_infer_tiled(m, &in, &a, &reference, &err), "%s", err.message);
        CHECK(!nsr_model_infer(m, &in, &b, NSR_SELECT_SOFT, &err), "%s", err.message);
        CHECK(same_image(&a, &b), "%dx%d: reference tiling is not the whole image", sizes[k][0], sizes[k][1]);
        nsr_image_free(&in);
        nsr_image_free(&a);
        nsr_image_free(&b);
    }
    nsr_model_free(m);
}

/* Tiled equals the plain reading of NSR.md, at x2 and x1 (identity skip), on sizes that are and
 * are not multiples of the stride (odd leftovers split unevenly), down to the 192 threshold. */
static void test_tiled_matches_description(void) {
    const int cases[][3] = {/* scale, width, height */
                            {2, 230, 200}, {2, 192, 192}, {1, 213, 199}, {3, 200, 257}};
    for (int k = 0; k < 4; k++) {
        nsr_model *m = tiny_model(cases[k][0], 2, 5 + k);
        nsr_image in, tiled, hand = {0};
        nsr_error err;
        REQUIRE(m && !picture(&in, cases[k][1], cases[k][2], 3), "setup");
        CHECK(!nsr_model_infer_tiled(m, &in, &tiled, &reference, &err), "%s", err.message);
        CHECK(!tiled_by_hand(m, &in, &hand), "by hand failed");
        double d = max_abs_diff(&tiled, &hand);
        CHECK(d < 2e-5, "x%d %dx%d: tiled differs from the description by %g", cases[k][0], cases[k][1], cases[k][2], d);
        nsr_image_free(&in);
        nsr_image_free(&tiled);
        nsr_image_free(&hand);
        nsr_model_free(m);
    }
}

/* Each tile pools its own statistics: not equal to the whole image, but close away from the
 * border. The plain network (k = 1) has no pooling and, with one block, a receptive field of
 * radius 4 = the padding, so away from the border it is the whole image up to rounding. At the
 * border the tiles' reflect padding meets the whole image's zero padding: an untrained network
 * differs there by whatever its weights make of that. */
static void test_tiled_close_to_whole(void) {
    for (int groups = 1; groups <= 2; groups++) {
        nsr_model *m = tiny_model(2, groups, 9);
        nsr_image in, tiled, whole;
        nsr_error err;
        nsr_infer_options whole_opts = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_WHOLE};
        REQUIRE(m && !picture(&in, 260, 200, 3), "setup");
        REQUIRE(!nsr_model_infer_tiled(m, &in, &tiled, &reference, &err), "%s", err.message);
        REQUIRE(!nsr_model_infer_tiled(m, &in, &whole, &whole_opts, &err), "%s", err.message);
        double d = max_abs_diff(&tiled, &whole), inner = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 40; y < 400 - 40; y++)
                for (int x = 40; x < 520 - 40; x++) {
                    size_t i = ((size_t)c * 400 + y) * 520 + x;
                    double e = fabs((double)tiled.data[i] - whole.data[i]);
                    if (e > inner) inner = e;
                }
        if (groups == 1) {
            CHECK(inner < 1e-5, "plain network: tiled and whole differ by %g inside", inner);
        } else {
            CHECK(inner > 0, "NSR network: tiled equals whole");
            CHECK(inner < 0.05, "NSR network: tiled and whole differ by %g inside", inner);
        }
        printf("  k=%d: tiled vs whole, largest difference %.3g (%.3g away from the border)\n", groups, d, inner);
        nsr_image_free(&in);
        nsr_image_free(&tiled);
        nsr_image_free(&whole);
        nsr_model_free(m);
    }
}

/* The tiles' batches run in parallel, but the output is the same bits on 1, 2, 3 and 8 threads,
 * with soft and with hard selection (whose kernels depend on the groups a batch's samples use).
 * 192 x 192 makes 45 tiles: in batches of 8 (the last of 5) on 1 thread; in rounds of a batch
 * per thread, of 8 but the last round's 7 + 6 on 2 threads and 7 + 7 + 7 on 3; one round of 6
 * (the last of 3) on 8. */
static void test_tiled_any_thread_count(void) {
    const nsr_arch a = {.blocks = 1, .features = 16, .width_mult = 1, .groups = 4, .cardinals = 4,
                        .scale = 2, .shared_selection = 0};
    const int threads[] = {1, 2, 3, 8}, saved = omp_get_max_threads();
    nsr_model *m = NULL;
    nsr_image in, out[4] = {0};
    nsr_error err;
    REQUIRE(!nsr_model_create(&m, &a, 11, &err), "%s", err.message);
    REQUIRE(!picture(&in, 192, 192, 3), "picture");
    for (int hard = 0; hard <= 1; hard++) {
        const nsr_infer_options opts = {.selection = hard ? NSR_SELECT_HARD : NSR_SELECT_SOFT,
                                        .tiling = NSR_TILE_REFERENCE};
        for (int k = 0; k < 4; k++) {
            omp_set_num_threads(threads[k]);
            CHECK(!nsr_model_infer_tiled(m, &in, &out[k], &opts, &err), "%d threads: %s",
                  threads[k], err.message);
            CHECK(k == 0 || same_image(&out[k], &out[0]), "%s, %d threads: not the bits of 1 thread",
                  hard ? "hard" : "soft", threads[k]);
        }
        for (int k = 0; k < 4; k++) nsr_image_free(&out[k]);
    }
    omp_set_num_threads(saved);
    nsr_image_free(&in);
    nsr_model_free(m);
}

typedef struct progress_log {
    int calls;
    double last;
    int backwards;
    size_t baseline, peak;
} progress_log;

static void record(void *ctx, double fraction) {
    progress_log *p = ctx;
    if (fraction < p->last) p->backwards = 1;
    p->last = fraction;
    p->calls++;
    size_t used = heap_in_use();
    if (used > p->peak) p->peak = used;
}

/* While tiles run, the memory in use is the accumulators (3s^2 + 1 floats per LR pixel) plus a
 * constant for the tiles per thread (its batch and workspace), on one thread far below a
 * whole-image forward of a wide network. */
static void test_memory_bounded(void) {
    nsr_arch a = {.blocks = 1, .features = 1, .width_mult = 64, .groups = 2, .cardinals = 1,
                  .scale = 2, .shared_selection = 0};
    nsr_model *m = NULL;
    nsr_image in, out;
    nsr_error err;
    const int w = 384, h = 384, saved = omp_get_max_threads();
    REQUIRE(!nsr_model_create(&m, &a, 3, &err), "%s", err.message);
    REQUIRE(!picture(&in, w, h, 3), "picture");
    const double px = (double)w * h, mb = 1 << 20;
    const double accumulators = 13 * 4 * px;
    const double whole = (3 + 2 * 1 + 64 + 3 * 12) * 4 * px; /* x0, 2 features, hidden, skip/body/out */
    for (int threads = 1; threads <= 2; threads++) {
        progress_log log = {0};
        nsr_infer_options opts = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_REFERENCE, .progress = record, .progress_ctx = &log};
        omp_set_num_threads(threads);
        log.baseline = heap_in_use();
        CHECK(!nsr_model_infer_tiled(m, &in, &out, &opts, &err), "%s", err.message);
        const double used = (double)(log.peak - log.baseline);
        CHECK(log.calls > 1 && !log.backwards && log.last == 1.0, "progress: %d calls, last %g", log.calls, log.last);
        CHECK(used < accumulators + threads * 12 * mb, "%d threads: tiles used %.1f MB (accumulators %.1f MB)",
              threads, used / mb, accumulators / mb);
        CHECK(threads > 1 || used < whole / 3, "tiles used %.1f MB, a whole-image forward %.1f MB", used / mb, whole / mb);
        printf("  %dx%d, hidden width 64, %d thread%s: %.1f MB in use during tiles; a whole-image forward needs %.1f MB\n",
               w, h, threads, threads > 1 ? "s" : "", used / mb, whole / mb);
        nsr_image_free(&out);
    }
    /* auto tiles of 128: the output (12 floats per LR pixel) and one tile's workspace */
    progress_log log = {0};
    nsr_infer_options opts = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_AUTO, .progress = record, .progress_ctx = &log, .tile_size = 128};
    log.baseline = heap_in_use();
    CHECK(!nsr_model_infer_tiled(m, &in, &out, &opts, &err), "%s", err.message);
    const double used = (double)(log.peak - log.baseline);
    CHECK(used < whole / 3, "auto tiles used %.1f MB, a whole-image forward %.1f MB", used / mb, whole / mb);
    printf("  auto tiles of 128: %.1f MB in use\n", used / mb);
    nsr_image_free(&out);
    omp_set_num_threads(saved);
    nsr_image_free(&in);
    nsr_model_free(m);
}

/* ---------------------------------------------------------------- auto tiles */

static nsr_infer_options auto_tiles(int tile_size) {
    return (nsr_infer_options){.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_AUTO, .tile_size = tile_size};
}

/* The default is auto, and an image that fits one tile runs whole, bit for bit. */
static void test_auto_small_is_whole(void) {
    nsr_model *m = tiny_model(2, 2, 12);
    nsr_image in, a, b;
    nsr_error err;
    REQUIRE(m && !picture(&in, 300, 211, 3), "setup");
    CHECK(!nsr_model_infer_tiled(m, &in, &a, NULL, &err), "%s", err.message);
    CHECK(!nsr_model_infer(m, &in, &b, NSR_SELECT_SOFT, &err), "%s", err.message);
    CHECK(same_image(&a, &b), "300x211 in auto tiles is not the whole image");
    nsr_image_free(&in);
    nsr_image_free(&a);
    nsr_image_free(&b);
    nsr_model_free(m);
}

/* nsr_infer_tile_size says which tile side auto tiling takes when given none: a multiple of 16
 * up to 512 (the small model's activations fit the budget at 512; a wide one's do not), and
 * asking for that side gives the same bits as asking for none. */
static void test_auto_tile_size(void) {
    static const nsr_arch wide = {.blocks = 4, .features = 64, .width_mult = 4, .groups = 4,
                                  .cardinals = 4, .scale = 2};
    nsr_model *m = tiny_model(2, 2, 17), *big = NULL;
    nsr_image in, a, b;
    nsr_error err;
    REQUIRE(m && !nsr_model_create(&big, &wide, 1, &err), "setup");
    const int t = nsr_infer_tile_size(m, NULL), tb = nsr_infer_tile_size(big, NULL);
    CHECK(t == 512, "the small model's tile: %d", t);
    CHECK(tb % 16 == 0 && tb < 512 && tb >= 2 * (2 * 10 + 16), "the wide model's tile: %d", tb);
    REQUIRE(!picture(&in, 600, 90, 3), "setup");
    const nsr_infer_options chosen = auto_tiles(t);
    CHECK(!nsr_model_infer_tiled(m, &in, &a, NULL, &err), "%s", err.message);
    CHECK(!nsr_model_infer_tiled(m, &in, &b, &chosen, &err), "%s", err.message);
    CHECK(same_image(&a, &b), "tile %d given differs from the auto choice", t);
    nsr_image_free(&in);
    nsr_image_free(&a);
    nsr_image_free(&b);
    nsr_model_free(big);
    nsr_model_free(m);
}

/* Tiles are plain crops with the network's own zero padding only at the image's edge and at
 * least the receptive radius of overlap: a network without selection (k = 1) gives the whole
 * image everywhere, edges and blends included, up to the weights' float rounding. With
 * selection, each tile pools its own means: close, not equal. Tile 64 on 260x200 (x2) and
 * 213x199 (x1) makes 5 x 4 tiles of unequal overlaps; 100 makes crowded tiles on a short axis. */
static void test_auto_matches_whole(void) {
    const int cases[][4] = {/* scale, width, height, tile */
                            {2, 260, 200, 64}, {1, 213, 199, 64}, {3, 150, 101, 100}};
    for (int k = 0; k < 3; k++)
        for (int groups = 1; groups <= 2; groups++) {
            nsr_model *m = tiny_model(cases[k][0], groups, 13 + k);
            nsr_image in, tiled, whole;
            nsr_error err;
            const nsr_infer_options opts = auto_tiles(cases[k][3]);
            REQUIRE(m && !picture(&in, cases[k][1], cases[k][2], 3), "setup");
            REQUIRE(!nsr_model_infer_tiled(m, &in, &tiled, &opts, &err), "%s", err.message);
            REQUIRE(!nsr_model_infer(m, &in, &whole, NSR_SELECT_SOFT, &err), "%s", err.message);
            const double d = max_abs_diff(&tiled, &whole);
            if (groups == 1)
                CHECK(d < 1e-5, "x%d %dx%d, plain network: auto differs from whole by %g",
                      cases[k][0], cases[k][1], cases[k][2], d);
            else
                CHECK(d > 0 && d < 0.05, "x%d %dx%d, NSR network: auto differs from whole by %g",
                      cases[k][0], cases[k][1], cases[k][2], d);
            nsr_image_free(&in);
            nsr_image_free(&tiled);
            nsr_image_free(&whole);
            nsr_model_free(m);
        }
}

/* The same bits on 1, 2 and 3 threads; progress rises to 1; a tile size below twice the
 * overlap (2 x (2 x 4 + 16) for one block: radius 1 + 2 + 1) and a tile size for another mode are refused. */
static void test_auto_threads_progress_errors(void) {
    nsr_model *m = tiny_model(2, 2, 16);
    nsr_image in, out[3] = {0}, bad;
    nsr_error err;
    progress_log log = {0};
    nsr_infer_options opts = {.selection = NSR_SELECT_HARD, .tiling = NSR_TILE_AUTO, .progress = record, .progress_ctx = &log, .tile_size = 50};
    const int saved = omp_get_max_threads();
    REQUIRE(m && !picture(&in, 230, 170, 3), "setup");
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(k + 1);
        log = (progress_log){0};
        CHECK(!nsr_model_infer_tiled(m, &in, &out[k], &opts, &err), "%s", err.message);
        CHECK(k == 0 || same_image(&out[k], &out[0]), "%d threads: not the bits of 1 thread", k + 1);
    }
    omp_set_num_threads(saved);
    CHECK(log.calls > 3 && !log.backwards && log.last == 1.0, "progress: %d calls, last %g", log.calls, log.last);
    opts.tile_size = 47;
    CHECK(nsr_model_infer_tiled(m, &in, &bad, &opts, &err) && strstr(err.message, "at least 48"),
          "tile 47: %s", err.message);
    opts.tiling = NSR_TILE_WHOLE, opts.tile_size = 64;
    CHECK(nsr_model_infer_tiled(m, &in, &bad, &opts, &err) && strstr(err.message, "auto tiling only"),
          "tile size with whole: %s", err.message);
    for (int k = 0; k < 3; k++) nsr_image_free(&out[k]);
    nsr_image_free(&in);
    nsr_model_free(m);
}

static void test_hard_selection(void) {
    nsr_model *m = tiny_model(2, 2, 4);
    nsr_image in, soft, hard, small, a, b;
    nsr_error err;
    nsr_infer_options h = {.selection = NSR_SELECT_HARD, .tiling = NSR_TILE_REFERENCE};
    REQUIRE(m && !picture(&in, 200, 200, 3) && !picture(&small, 50, 60, 3), "setup");
    CHECK(!nsr_model_infer_tiled(m, &in, &soft, &reference, &err), "%s", err.message);
    CHECK(!nsr_model_infer_tiled(m, &in, &hard, &h, &err), "%s", err.message);
    CHECK(!same_image(&soft, &hard), "hard selection changed nothing");
    CHECK(!nsr_model_infer_tiled(m, &small, &a, &h, &err), "%s", err.message);
    CHECK(!nsr_model_infer(m, &small, &b, NSR_SELECT_HARD, &err), "%s", err.message);
    CHECK(same_image(&a, &b), "hard selection on a small image is not nsr_model_infer's");
    nsr_image *all[] = {&in, &soft, &hard, &small, &a, &b};
    for (int i = 0; i < 6; i++) nsr_image_free(all[i]);
    nsr_model_free(m);
}

/* Grey in, grey out (the mean of the network's planes on the replicated input); alpha by float
 * bicubic; ICC, EXIF and 16-bit depth carried, the resolution scaled; also through the tiles. */
static void test_restore_grey_alpha_icc(void) {
    nsr_model *m = tiny_model(2, 2, 6);
    REQUIRE(m, "model");
    for (int big = 0; big <= 1; big++) {
        const int w = big ? 200 : 30, h = big ? 196 : 20;
        nsr_image grey, rgb, net, out, alpha = {0}, alpha_up = {0};
        nsr_error err;
        REQUIRE(!picture(&grey, w, h, 1) && !picture(&rgb, w, h, 3), "pictures");
        for (int c = 0; c < 3; c++) memcpy(nsr_image_plane(&rgb, c), grey.data, (size_t)w * h * sizeof(float));
        grey.alpha = malloc((size_t)w * h * sizeof(float));
        grey.icc = malloc(5);
        REQUIRE(grey.alpha && grey.icc, "malloc");
        memcpy(grey.icc, "abcde", 5);
        grey.icc_size = 5;
        grey.exif = malloc(4);
        REQUIRE(grey.exif, "malloc");
        memcpy(grey.exif, "MM\0*", 4);
        grey.exif_size = 4;
        grey.dpi_x = 72;
        grey.dpi_y = 300;
        grey.bit_depth = 16;
        for (int i = 0; i < w * h; i++) grey.alpha[i] = (float)(i % 7) / 6.0f;
        REQUIRE(!nsr_model_restore(m, &grey, &out, NULL, &err), "%s", err.message);
        REQUIRE(!nsr_model_infer_tiled(m, &rgb, &net, NULL, &err), "%s", err.message);
        CHECK(out.channels == 1 && out.width == 2 * w && out.height == 2 * h, "grey output %dx%dx%d",
              out.width, out.height, out.channels);
        const size_t n = (size_t)4 * w * h;
        double worst = 0;
        for (size_t i = 0; i < n && out.channels == 1; i++) {
            double mean = ((double)net.data[i] + net.data[n + i] + net.data[2 * n + i]) / 3;
            if (fabs(mean - out.data[i]) > worst) worst = fabs(mean - out.data[i]);
        }
        CHECK(worst < 1e-6, "grey output is not the mean of the planes (off by %g)", worst);
        alpha = (nsr_image){.width = w, .height = h, .channels = 1, .bit_depth = 16, .data = grey.alpha};
        REQUIRE(!nsr_resize_bicubic(&alpha_up, &alpha, 2 * w, 2 * h, 2, 2, 0, &err), "%s", err.message);
        CHECK(out.alpha && !memcmp(out.alpha, alpha_up.data, n * sizeof(float)), "alpha is not the float bicubic");
        CHECK(out.icc_size == 5 && out.icc && !memcmp(out.icc, "abcde", 5), "ICC profile lost");
        CHECK(out.exif_size == 4 && out.exif && !memcmp(out.exif, "MM\0*", 4), "EXIF lost");
        CHECK(out.dpi_x == 144 && out.dpi_y == 600, "x2 of 72 x 300 dpi gave %g x %g", out.dpi_x, out.dpi_y);
        CHECK(out.bit_depth == 16, "bit depth %d", out.bit_depth);
        nsr_image *all[] = {&grey, &rgb, &net, &out, &alpha_up};
        for (int i = 0; i < 5; i++) nsr_image_free(all[i]);
    }
    nsr_model_free(m);
    /* scale 1: alpha copied */
    m = tiny_model(1, 2, 6);
    nsr_image in, out;
    nsr_error err;
    REQUIRE(m && !picture(&in, 9, 8, 3), "setup");
    in.alpha = calloc(72, sizeof(float));
    REQUIRE(in.alpha, "calloc");
    in.alpha[5] = 0.25f;
    CHECK(!nsr_model_restore(m, &in, &out, NULL, &err), "%s", err.message);
    CHECK(out.alpha && out.width == 9 && out.alpha[5] == 0.25f && out.alpha[4] == 0, "alpha not copied at x1");
    nsr_image_free(&in);
    nsr_image_free(&out);
    nsr_model_free(m);
}

static void test_restorer_tasks(void) {
    nsr_model *x2 = tiny_model(2, 2, 7), *x1 = tiny_model(1, 2, 7);
    nsr_restorer *r2 = NULL, *r1 = NULL;
    nsr_image gt, out;
    nsr_error err;
    nsr_metrics met;
    nsr_infer_options hard = {.selection = NSR_SELECT_HARD, .tiling = NSR_TILE_WHOLE};
    REQUIRE(x2 && x1 && !picture(&gt, 40, 30, 3), "setup");
    REQUIRE(!nsr_model_restorer_create(&r2, x2, "m2.nsr", NULL, &err) &&
            !nsr_model_restorer_create(&r1, x1, "m1.nsr", &hard, &err), "%s", err.message);
    CHECK(!strcmp(r2->name, "m2.nsr (auto tiles, soft selection)"), "name %s", r2->name);
    CHECK(!strcmp(r1->name, "m1.nsr (whole image, hard selection)"), "name %s", r1->name);
    nsr_task sr2 = {.kind = NSR_TASK_SR, .scale = 2}, sr3 = {.kind = NSR_TASK_SR, .scale = 3};
    nsr_task noise = {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 25}, jpeg = {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 20};
    CHECK(!nsr_eval_image(&gt, &sr2, r2, NSR_Y_PT_IR, 1, &met, &err), "x2 on x2: %s", err.message);
    CHECK(!nsr_eval_image(&gt, &noise, r1, NSR_Y_PT_IR, 1, &met, &err), "denoise on x1: %s", err.message);
    CHECK(!nsr_eval_image(&gt, &jpeg, r1, NSR_Y_PT_IR, 1, &met, &err), "jpeg on x1: %s", err.message);
    CHECK(r2->restore(r2->ctx, &sr3, &gt, &out, &err) &&
              !strcmp(err.message, "m2.nsr is a x2 super-resolution network; it cannot do x3 super-resolution"),
          "x3 on x2: %s", err.message);
    CHECK(r2->restore(r2->ctx, &noise, &gt, &out, &err) &&
              !strcmp(err.message, "m2.nsr is a x2 super-resolution network; it cannot do denoising sigma 25"),
          "denoise on x2: %s", err.message);
    CHECK(r1->restore(r1->ctx, &sr2, &gt, &out, &err) &&
              !strcmp(err.message, "m1.nsr restores at the same size (denoising, JPEG); it cannot do x2 super-resolution"),
          "x2 on x1: %s", err.message);
    nsr_model_restorer_free(r1);
    nsr_model_restorer_free(r2);
    nsr_image_free(&gt);
    nsr_model_free(x1);
    nsr_model_free(x2);
}

static void test_names(void) {
    nsr_tiling t;
    CHECK(!nsr_tiling_parse("whole", &t) && t == NSR_TILE_WHOLE && !strcmp(nsr_tiling_name(t), "whole"), "whole");
    CHECK(!nsr_tiling_parse("reference", &t) && t == NSR_TILE_REFERENCE && !strcmp(nsr_tiling_name(t), "reference"), "reference");
    CHECK(!nsr_tiling_parse("auto", &t) && t == NSR_TILE_AUTO && !strcmp(nsr_tiling_name(t), "auto"), "auto");
    CHECK(nsr_tiling_parse("tiles", &t), "unknown name accepted");
}

int main(void) {
    RUN(test_small_images_run_whole);
    RUN(test_tiled_matches_description);
    RUN(test_tiled_close_to_whole);
    RUN(test_tiled_any_thread_count);
    RUN(test_memory_bounded);
    RUN(test_auto_small_is_whole);
    RUN(test_auto_tile_size);
    RUN(test_auto_matches_whole);
    RUN(test_auto_threads_progress_errors);
    RUN(test_hard_selection);
    RUN(test_restore_grey_alpha_icc);
    RUN(test_restorer_tasks);
    RUN(test_names);
    return test_summary();
}
