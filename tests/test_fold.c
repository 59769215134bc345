/* test_fold.c - nsr_model_fold and nsr_model_split (src/nn/fold.c): folded with an input's own selections (read by
 * nsr_model_select_windows from a window that is the whole input), the plain network restores
 * that input as the NSR network's soft inference does, in every regime (selection per conv,
 * shared, fixed size; RGB x2 and grey x1), and still after a save and load; folded with other
 * weights it does not; a plain network split into equal groups restores as it did, softly and
 * hard, and folds back to itself; and the refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "nsr.h"
#include "restore_fixtures.h"

#define SIDE 20

static nsr_model *model_of(int groups, int cards, int shared, int regime, int scale, int channels) {
    return model_of_arch((nsr_arch){.blocks = 2, .features = 8, .width_mult = 2, .groups = groups,
                                    .cardinals = cards, .scale = scale, .shared_selection = shared,
                                    .regime = regime, .channels = channels},
                         11);
}

/* A square picture with structure in it, so that the selection is not the untrained mean. */
static double waves_pattern(int x, int y, int c, int w, int h) {
    (void)h;
    return 0.5 + 0.45 * sin(0.7 * x + 0.3 * y * y / w + c);
}

static int picture(nsr_image *img, int channels) {
    return draw_picture(img, SIDE, SIDE, channels, waves_pattern);
}

/* Soft inference of m against its fold by the picture's own selections; then against its fold
 * by equal weights (1/k), which must differ. */
static void check_regime(const char *what, int groups, int cards, int shared, int regime, int scale,
                         int channels) {
    nsr_model *m = model_of(groups, cards, shared, regime, scale, channels), *plain = NULL,
              *even = NULL, *loaded = NULL;
    nsr_image in = {0}, soft = {0}, folded = {0}, reloaded = {0}, other = {0};
    nsr_selection_map map = {0};
    nsr_error err;
    char path[] = "/tmp/nsr_test_fold_XXXXXX";
    const int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    REQUIRE(m && !picture(&in, channels) && fd >= 0, "%s: setup", what);
    const nsr_window_grid whole = {SIDE, SIDE, 0};
    REQUIRE(!nsr_model_select_windows(m, &in, &whole, &map, &err), "%s: %s", what, err.message);
    REQUIRE(map.rows == 1 && map.cols == 1, "%s: %dx%d windows", what, map.cols, map.rows);
    const size_t nsel = (size_t)map.blocks * map.per_block * map.groups * map.cards;
    float *uniform = malloc(nsel * sizeof *uniform);
    REQUIRE(uniform, "%s: memory", what);
    for (size_t i = 0; i < nsel; i++) uniform[i] = 1.0f / (float)groups;
    CHECK(!nsr_model_fold(&plain, m, map.gamma, &err), "%s: %s", what, err.message);
    CHECK(!nsr_model_fold(&even, m, uniform, &err), "%s: %s", what, err.message);
    if (plain && even) {
        const nsr_arch *pa = nsr_model_arch(plain);
        CHECK(pa->groups == 1 && pa->blocks == 2 && pa->scale == scale && pa->channels == channels,
              "%s: the folded architecture", what);
        CHECK(nsr_model_param_count(plain) == nsr_arch_param_count(pa), "%s: parameters", what);
        REQUIRE(!nsr_model_infer(m, &in, &soft, NSR_SELECT_SOFT, &err) &&
                    !nsr_model_infer(plain, &in, &folded, NSR_SELECT_SOFT, &err) &&
                    !nsr_model_infer(even, &in, &other, NSR_SELECT_SOFT, &err),
                "%s: %s", what, err.message);
        const double d = max_abs_diff(&soft, &folded), e = max_abs_diff(&soft, &other);
        CHECK(d < 2e-5, "%s: the fold by its own selections is off by %g", what, d);
        CHECK(e > 1e-3, "%s: the fold by equal weights is as close (%g): the selection is not used", what, e);
        REQUIRE(!nsr_model_save(plain, path, &err) && !nsr_model_load(&loaded, path, &err) &&
                    !nsr_model_infer(loaded, &in, &reloaded, NSR_SELECT_SOFT, &err),
                "%s: %s", what, err.message);
        CHECK(max_abs_diff(&folded, &reloaded) == 0, "%s: the saved fold restores otherwise", what);
    }
    remove(path);
    free(uniform);
    nsr_selection_map_free(&map);
    nsr_image_free(&in), nsr_image_free(&soft), nsr_image_free(&folded);
    nsr_image_free(&reloaded), nsr_image_free(&other);
    nsr_model_free(m), nsr_model_free(plain), nsr_model_free(even), nsr_model_free(loaded);
}

static void test_fold_per_conv(void) { check_regime("per conv", 4, 4, 0, NSR_REGIME_FIXED_FLOPS, 2, 3); }
static void test_fold_shared(void) { check_regime("shared", 2, 2, 1, NSR_REGIME_FIXED_FLOPS, 2, 3); }
static void test_fold_fixed_size(void) { check_regime("fixed size", 4, 2, 0, NSR_REGIME_FIXED_SIZE, 2, 3); }
static void test_fold_grey_x1(void) { check_regime("grey x1", 2, 4, 0, NSR_REGIME_FIXED_FLOPS, 1, 1); }

/* A plain network split into equal groups restores as it does, softly and hard, and folding
 * the split by any weights gives it back. */
static void check_split(const char *what, int groups, int cards, int shared, int scale, int channels) {
    nsr_model *plain = model_of(1, 1, 0, NSR_REGIME_FIXED_FLOPS, scale, channels), *m = NULL, *back = NULL;
    nsr_image in = {0}, want = {0}, soft = {0}, hard = {0}, refolded = {0};
    nsr_error err;
    REQUIRE(plain && !picture(&in, channels), "%s: setup", what);
    REQUIRE(!nsr_model_split(&m, plain, groups, cards, shared, 5, &err), "%s: %s", what, err.message);
    const nsr_arch *a = nsr_model_arch(m);
    CHECK(a->groups == groups && a->cardinals == cards && a->shared_selection == shared &&
              a->regime == NSR_REGIME_FIXED_FLOPS && a->scale == scale && a->channels == channels,
          "%s: the split architecture", what);
    const nsr_window_grid whole = {SIDE, SIDE, 0};
    nsr_selection_map map = {0};
    REQUIRE(!nsr_model_select_windows(m, &in, &whole, &map, &err), "%s: %s", what, err.message);
    REQUIRE(!nsr_model_infer(plain, &in, &want, NSR_SELECT_SOFT, &err) &&
                !nsr_model_infer(m, &in, &soft, NSR_SELECT_SOFT, &err) &&
                !nsr_model_infer(m, &in, &hard, NSR_SELECT_HARD, &err) &&
                !nsr_model_fold(&back, m, map.gamma, &err) &&
                !nsr_model_infer(back, &in, &refolded, NSR_SELECT_SOFT, &err),
            "%s: %s", what, err.message);
    const double ds = max_abs_diff(&want, &soft), dh = max_abs_diff(&want, &hard), df = max_abs_diff(&want, &refolded);
    CHECK(ds < 2e-5 && dh < 2e-5 && df < 2e-5, "%s: the split is off by %g soft, %g hard, %g folded back", what,
          ds, dh, df);
    nsr_selection_map_free(&map);
    nsr_image_free(&in), nsr_image_free(&want), nsr_image_free(&soft), nsr_image_free(&hard);
    nsr_image_free(&refolded);
    nsr_model_free(plain), nsr_model_free(m), nsr_model_free(back);
}

static void test_split_per_conv(void) { check_split("split per conv", 4, 4, 0, 2, 3); }
static void test_split_shared(void) { check_split("split shared", 2, 2, 1, 2, 3); }
static void test_split_grey_x1(void) { check_split("split grey x1", 2, 4, 0, 1, 1); }

static void test_refusals(void) {
    nsr_model *plain = model_of(1, 1, 0, NSR_REGIME_FIXED_FLOPS, 2, 3), *m = model_of(2, 2, 0, 0, 2, 3);
    nsr_model *out = (nsr_model *)1;
    nsr_error err;
    float gamma[2 * 2 * 4];
    REQUIRE(plain && m, "setup");
    for (int i = 0; i < 16; i++) gamma[i] = 0.5f;
    CHECK(nsr_model_fold(&out, plain, gamma, &err) && !out, "a plain network folded");
    gamma[5] = -0.1f;
    CHECK(nsr_model_fold(&out, m, gamma, &err) && !out, "a negative weight taken");
    gamma[5] = NAN;
    CHECK(nsr_model_fold(&out, m, gamma, &err) && !out, "a NaN weight taken");
    CHECK(nsr_model_split(&out, m, 2, 2, 0, 1, &err) && !out, "an NSR network split");
    CHECK(nsr_model_split(&out, plain, 1, 1, 0, 1, &err) && !out, "a split into one group");
    CHECK(nsr_model_split(&out, plain, 2, 3, 0, 1, &err) && !out, "cardinals not dividing the features");
    nsr_model_free(plain), nsr_model_free(m);
}

int main(void) {
    RUN(test_fold_per_conv);
    RUN(test_fold_shared);
    RUN(test_fold_fixed_size);
    RUN(test_fold_grey_x1);
    RUN(test_split_per_conv);
    RUN(test_split_shared);
    RUN(test_split_grey_x1);
    RUN(test_refusals);
    return test_summary();
}
