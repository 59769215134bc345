/* test_tta.c - test-time augmentation (nsr_infer_options.tta, src/run/tta.c): the result is the
 * mean of the 8 flipped/transposed restorations mapped back, computed here independently from
 * elementary flips and a transpose (any scale, grey and RGB networks, every tiling mode); it
 * makes the restorer equivariant to flips and transposes, which the plain network is not; its
 * progress rises to 1 over the passes; a grey image through an RGB network stays grey. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "nsr.h"
#include "restore_fixtures.h"

static nsr_model *tiny_model(int scale, int channels, uint64_t seed) {
    return model_of_arch((nsr_arch){.blocks = 1, .features = 4, .width_mult = 2, .groups = 2,
                                    .cardinals = 2, .scale = scale, .channels = channels},
                         seed);
}

/* A picture without symmetry (each plane its own pattern). */
static double asymmetric_pattern(int x, int y, int c, int w, int h) {
    (void)w, (void)h;
    return 0.5 + 0.3 * sin(0.07 * x * (c + 1) + 0.003 * y * y + 0.01 * x * y) +
           0.2 * ((x / 5 + y / 3 + c) % 4 == 0);
}

static int picture(nsr_image *img, int w, int h, int channels) {
    return draw_picture(img, w, h, channels, asymmetric_pattern);
}

/* ---------------------------------------------------------------- the 8 transforms, by hand */

enum { MIRROR_X = 'x', MIRROR_Y = 'y', TRANSPOSE = 't' };

/* One elementary operation on img, in place (a new buffer). */
static void apply_op(nsr_image *img, char op) {
    const int w = img->width, h = img->height, C = img->channels;
    const int ow = op == TRANSPOSE ? h : w, oh = op == TRANSPOSE ? w : h;
    float *d = malloc((size_t)C * w * h * sizeof *d);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                const int sy = op == TRANSPOSE ? x : op == MIRROR_Y ? h - 1 - y : y;
                const int sx = op == TRANSPOSE ? y : op == MIRROR_X ? w - 1 - x : x;
                d[((size_t)c * oh + y) * ow + x] = img->data[((size_t)c * h + sy) * w + sx];
            }
    free(img->data);
    img->data = d;
    img->width = ow, img->height = oh;
}

/* The 8 elements of the square's symmetry group as words of operations (applied left to right). */
static const char *const group[8] = {"", "x", "y", "xy", "t", "xt", "yt", "xyt"};

static void transform(nsr_image *img, const char *word) {
    for (const char *p = word; *p; p++) apply_op(img, *p);
}

/* Every operation is its own inverse: the word backwards undoes it. */
static void untransform(nsr_image *img, const char *word) {
    for (size_t i = strlen(word); i > 0; i--) apply_op(img, word[i - 1]);
}

static int copy_image(nsr_image *dst, const nsr_image *src) {
    nsr_error err;
    if (nsr_image_create(dst, src->width, src->height, src->channels, 0, &err)) return -1;
    memcpy(dst->data, src->data, (size_t)src->channels * src->width * src->height * sizeof(float));
    dst->bit_depth = src->bit_depth;
    return 0;
}

/* mean = (1/8) sum over g of g^-1(restore(g(in))), restore being opts without TTA. */
static int mean_of_transforms(const nsr_model *m, const nsr_image *in, const nsr_infer_options *opts,
                              nsr_image *mean) {
    nsr_infer_options once = *opts;
    nsr_error err;
    once.tta = 0;
    memset(mean, 0, sizeof *mean);
    for (int g = 0; g < 8; g++) {
        nsr_image t, y;
        if (copy_image(&t, in)) return -1;
        transform(&t, group[g]);
        int rc = nsr_model_infer_tiled(m, &t, &y, &once, &err);
        nsr_image_free(&t);
        if (rc) return -1;
        untransform(&y, group[g]);
        if (g == 0) {
            *mean = y;
            continue;
        }
        for (size_t i = 0; i < (size_t)y.channels * y.width * y.height; i++) mean->data[i] += y.data[i];
        nsr_image_free(&y);
    }
    for (size_t i = 0; i < (size_t)mean->channels * mean->width * mean->height; i++) mean->data[i] /= 8;
    return 0;
}

/* -x is the mean of the 8 transformed restorations: x2 RGB in auto tiles (several tiles, laid
 * out differently once transposed), x3 grey whole, x1 in reference tiles, x4 hard selection. */
static void test_tta_is_the_mean(void) {
    const struct { int scale, channels, w, h; nsr_tiling tiling; int tile; nsr_selection sel; } cases[] = {
        {2, 3, 150, 101, NSR_TILE_AUTO, 64, NSR_SELECT_SOFT},
        {3, 1, 37, 23, NSR_TILE_WHOLE, 0, NSR_SELECT_SOFT},
        {1, 3, 200, 193, NSR_TILE_REFERENCE, 0, NSR_SELECT_SOFT},
        {4, 3, 19, 30, NSR_TILE_AUTO, 0, NSR_SELECT_HARD},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nsr_model *m = tiny_model(cases[k].scale, cases[k].channels, 30 + k);
        nsr_image in, tta, mean, plain;
        nsr_error err;
        const nsr_infer_options opts = {.selection = cases[k].sel, .tiling = cases[k].tiling,
                                        .tile_size = cases[k].tile, .tta = 1};
        const nsr_infer_options no_tta = {.selection = cases[k].sel, .tiling = cases[k].tiling,
                                          .tile_size = cases[k].tile};
        REQUIRE(m && !picture(&in, cases[k].w, cases[k].h, cases[k].channels), "setup");
        REQUIRE(!nsr_model_infer_tiled(m, &in, &tta, &opts, &err), "case %zu: %s", k, err.message);
        REQUIRE(!mean_of_transforms(m, &in, &opts, &mean), "case %zu: the transforms", k);
        REQUIRE(!nsr_model_infer_tiled(m, &in, &plain, &no_tta, &err), "case %zu: %s", k, err.message);
        const int s = cases[k].scale;
        CHECK(tta.width == cases[k].w * s && tta.height == cases[k].h * s && tta.channels == cases[k].channels,
              "case %zu: %dx%d x%d", k, tta.width, tta.height, tta.channels);
        const double d = max_abs_diff(&tta, &mean), change = max_abs_diff(&tta, &plain);
        CHECK(d < 1e-5, "case %zu (x%d, %d channel(s)): TTA differs from the mean of the 8 by %g", k, s,
              cases[k].channels, d);
        CHECK(change > 1e-4, "case %zu: TTA changed nothing (%g)", k, change);
        nsr_image_free(&in);
        nsr_image_free(&tta);
        nsr_image_free(&mean);
        nsr_image_free(&plain);
        nsr_model_free(m);
    }
}

/* With TTA, restoring a flipped or transposed image gives the flipped or transposed result
 * (up to the order of the 8 additions); without it, the network does not. */
static void test_tta_is_equivariant(void) {
    nsr_model *m = tiny_model(2, 3, 41);
    nsr_image in, base, plain;
    nsr_error err;
    const nsr_infer_options tta = {.tiling = NSR_TILE_WHOLE, .tta = 1}, once = {.tiling = NSR_TILE_WHOLE};
    REQUIRE(m && !picture(&in, 31, 20, 3), "setup");
    REQUIRE(!nsr_model_infer_tiled(m, &in, &base, &tta, &err), "%s", err.message);
    REQUIRE(!nsr_model_infer_tiled(m, &in, &plain, &once, &err), "%s", err.message);
    double worst_tta = 0, least_plain = INFINITY;
    for (int g = 1; g < 8; g++) {
        nsr_image t, y, expect, z, expect_plain;
        REQUIRE(!copy_image(&t, &in) && !copy_image(&expect, &base) && !copy_image(&expect_plain, &plain), "copy");
        transform(&t, group[g]);
        transform(&expect, group[g]);
        transform(&expect_plain, group[g]);
        REQUIRE(!nsr_model_infer_tiled(m, &t, &y, &tta, &err), "%s", err.message);
        REQUIRE(!nsr_model_infer_tiled(m, &t, &z, &once, &err), "%s", err.message);
        const double d = max_abs_diff(&y, &expect), p = max_abs_diff(&z, &expect_plain);
        if (d > worst_tta) worst_tta = d;
        if (p < least_plain) least_plain = p;
        nsr_image_free(&t);
        nsr_image_free(&y);
        nsr_image_free(&z);
        nsr_image_free(&expect);
        nsr_image_free(&expect_plain);
    }
    CHECK(worst_tta < 1e-5, "TTA of a transformed image is off the transformed TTA by %g", worst_tta);
    CHECK(least_plain > 1e-4, "the plain network is already equivariant (%g): the test shows nothing", least_plain);
    nsr_image_free(&in);
    nsr_image_free(&base);
    nsr_image_free(&plain);
    nsr_model_free(m);
}

typedef struct progress_log {
    int calls, backwards;
    double last;
} progress_log;

static void record(void *ctx, double fraction) {
    progress_log *p = ctx;
    if (fraction < p->last || fraction <= 0 || fraction > 1) p->backwards = 1;
    p->last = fraction;
    p->calls++;
}

/* Progress: a whole image reports once, with 1; TTA reports each of its passes, rising to 1,
 * and in auto tiles each tile of each pass. A TTA value other than 0 or 1 is refused. */
static void test_tta_progress_and_errors(void) {
    nsr_model *m = tiny_model(2, 3, 42);
    nsr_image in, out;
    nsr_error err;
    progress_log log = {0};
    REQUIRE(m && !picture(&in, 120, 90, 3), "setup");
    nsr_infer_options opts = {.tiling = NSR_TILE_WHOLE, .progress = record, .progress_ctx = &log};
    CHECK(!nsr_model_infer_tiled(m, &in, &out, &opts, &err), "%s", err.message);
    CHECK(log.calls == 1 && log.last == 1.0, "whole: %d calls, last %g", log.calls, log.last);
    nsr_image_free(&out);
    log = (progress_log){0};
    opts.tta = 1;
    CHECK(!nsr_model_infer_tiled(m, &in, &out, &opts, &err), "%s", err.message);
    CHECK(log.calls == 8 && !log.backwards && log.last == 1.0, "whole, TTA: %d calls, last %g", log.calls, log.last);
    nsr_image_free(&out);
    log = (progress_log){0};
    opts.tiling = NSR_TILE_AUTO, opts.tile_size = 64;
    CHECK(!nsr_model_infer_tiled(m, &in, &out, &opts, &err), "%s", err.message);
    CHECK(log.calls >= 8 * 4 && !log.backwards && log.last == 1.0, "auto tiles, TTA: %d calls, last %g",
          log.calls, log.last);
    nsr_image_free(&out);
    opts.tta = 2;
    CHECK(nsr_model_infer_tiled(m, &in, &out, &opts, &err) && strstr(err.message, "0 or 1"), "tta 2: %s",
          err.message);
    nsr_image_free(&in);
    nsr_model_free(m);
}

/* nsr_model_restore with TTA: a grey image through an RGB network stays grey, and is the TTA of
 * its RGB copy made grey (the mean of the planes). */
static void test_tta_restore_grey(void) {
    nsr_model *m = tiny_model(2, 3, 43);
    nsr_image grey, rgb, out, rgb_out;
    nsr_error err;
    const nsr_infer_options opts = {.tiling = NSR_TILE_AUTO, .tta = 1};
    REQUIRE(m && !picture(&grey, 40, 28, 1) && !nsr_image_create(&rgb, 40, 28, 3, 0, &err), "setup");
    for (int c = 0; c < 3; c++) memcpy(nsr_image_plane(&rgb, c), grey.data, 40 * 28 * sizeof(float));
    REQUIRE(!nsr_model_restore(m, &grey, &out, &opts, &err), "%s", err.message);
    REQUIRE(!nsr_model_infer_tiled(m, &rgb, &rgb_out, &opts, &err), "%s", err.message);
    CHECK(out.channels == 1 && out.width == 80 && out.height == 56, "%dx%d x%d", out.width, out.height, out.channels);
    double worst = 0;
    for (size_t i = 0; i < 80 * 56; i++) {
        const size_t plane = 80 * 56;
        const double mean = (rgb_out.data[i] + rgb_out.data[plane + i] + rgb_out.data[2 * plane + i]) / 3.0;
        if (fabs(mean - out.data[i]) > worst) worst = fabs(mean - out.data[i]);
    }
    CHECK(worst < 1e-6, "grey TTA is off its RGB copy's by %g", worst);
    nsr_image_free(&grey);
    nsr_image_free(&rgb);
    nsr_image_free(&out);
    nsr_image_free(&rgb_out);
    nsr_model_free(m);
}

int main(void) {
    RUN(test_tta_is_the_mean);
    RUN(test_tta_is_equivariant);
    RUN(test_tta_progress_and_errors);
    RUN(test_tta_restore_grey);
    return test_summary();
}
