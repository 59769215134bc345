/* test_selection.c - the selections nsr maps draws (src/run/selection.c): that the weights it
 * reports are those the forward mixed its kernels by (the network recomputed from the layers
 * with the reported weights gives the whole-image output; with a group swapped it does not),
 * that a window of a grid selects as the same pixels run alone, the reference grid's
 * geometry, the weights' sums, one selection per block where the network has one, and the
 * refusals. */
#include "check.h"
#include "nn/engine.h"
#include "restore_fixtures.h"

static nsr_model *model_of(int blocks, int groups, int cards, int shared, int regime) {
    return model_of_arch((nsr_arch){.blocks = blocks, .features = 4, .width_mult = 2,
                                    .groups = groups, .cardinals = cards, .scale = 2,
                                    .shared_selection = shared, .regime = regime},
                         7);
}

/* A picture whose parts differ in their statistics, so that windows select differently. */
static double halves_pattern(int x, int y, int c, int w, int h) {
    (void)h;
    return 0.5 + 0.4 * sin(0.03 * x * x / (1 + y) + c) * (x > w / 2 ? 1 : 0.2);
}

static int picture(nsr_image *img, int w, int h, int channels) {
    return draw_picture(img, w, h, channels, halves_pattern);
}

/* The network's output on x (C, h, w) recomputed layer by layer, every NSR conv mixing by the
 * given selections (sel: nsr_selection_map's gamma for one window) instead of selecting:
 * NSR.md section 3, fixed-FLOPs regime. out is (C, h s, w s). */
static void forward_with(const nsr_model *m, const float *x, int h, int w, const float *sel,
                         float *out) {
    const nsr_arch *a = &m->arch;
    const int F = a->features, hid = F * a->width_mult, C = a->channels, s = a->scale;
    const int per_block = m->conv[ENG_BLOCK_CONV(0, 1)].side ? 2 : 1;
    const size_t plane = (size_t)h * w, kd = (size_t)a->groups * a->cardinals;
    float *wn = malloc(m->nparams * sizeof *wn), *x0 = malloc(C * plane * sizeof *x0);
    float *feat = malloc(F * plane * sizeof *feat), *next = malloc(F * plane * sizeof *next);
    float *hidden = malloc(hid * plane * sizeof *hidden);
    float *body = malloc(C * s * s * plane * sizeof *body);
    float *skip = malloc(C * s * s * plane * sizeof *skip);
    float *wmix = malloc((size_t)hid * F * 9 * sizeof *wmix), *bmix = malloc(hid * sizeof *bmix);
    const nn_mix_scratch sc = {wmix, bmix, NULL, NULL};
    eng_weightnorm(m, wn);
    nn_add_scalar(x0, x, -0.5f, C * plane);
    const eng_conv *head = &m->conv[ENG_HEAD], *tail = &m->conv[ENG_TAIL(a->blocks)];
    nn_conv2d_forward(feat, x0, wn + head->v, 0, m->params + head->b, 0, 1, C, F, h, w, 3, NULL);
    for (int b = 0; b < a->blocks; b++) {
        const float *gamma1 = sel + (size_t)b * per_block * kd;
        const float *gamma2 = per_block == 2 ? gamma1 + kd : gamma1; /* shared: the first's */
        const eng_conv *c1 = &m->conv[ENG_BLOCK_CONV(b, 0)], *c2 = &m->conv[ENG_BLOCK_CONV(b, 1)];
        const nn_nsr_dims d1 = {1, c1->cin, c1->cout, h, w, 3, c1->groups, c1->cards};
        const nn_nsr_dims d2 = {1, c2->cin, c2->cout, h, w, 3, c2->groups, c2->cards};
        nn_mixconv_forward(hidden, feat, wn + c1->v, m->params + c1->b, gamma1, &d1, &sc, NULL);
        nn_relu_forward(hidden, hidden, hid * plane);
        nn_mixconv_forward(next, hidden, wn + c2->v, m->params + c2->b, gamma2, &d2, &sc, NULL);
        nn_add_inplace(next, feat, F * plane);
        float *t = feat;
        feat = next, next = t;
    }
    nn_conv2d_forward(body, feat, wn + tail->v, 0, m->params + tail->b, 0, 1, F, C * s * s, h, w,
                      3, NULL);
    eng_forward_finish(m, wn, x0, skip, body, out, 1, h, w);
    free(wn), free(x0), free(feat), free(next), free(hidden), free(body), free(skip);
    free(wmix), free(bmix);
}

/* One window the size of the image is the whole image: the weights reported, fed to the layers
 * in place of the network's own selection, give nsr_model_infer's output; the same weights
 * with two groups swapped in one selection give another, so the check would see a wrong one.
 * Per-conv and shared selection, one and several cardinals. */
static void test_weights_are_the_forwards(void) {
    const struct { int groups, cards, shared; } cases[] = {{3, 2, 0}, {4, 1, 0}, {2, 4, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nsr_model *m = model_of(2, cases[k].groups, cases[k].cards, cases[k].shared, 0);
        REQUIRE(m, "no model");
        nsr_image img, whole;
        nsr_selection_map map;
        nsr_error err;
        const int side = 24;
        REQUIRE(picture(&img, side, side, 3) == 0, "no picture");
        const nsr_window_grid grid = {side, 1, 0};
        REQUIRE(nsr_model_select_windows(m, &img, &grid, &map, &err) == 0, "%s", err.message);
        REQUIRE(nsr_model_infer(m, &img, &whole, NSR_SELECT_SOFT, &err) == 0, "%s", err.message);
        CHECK(map.rows == 1 && map.cols == 1 && map.first_y == 0 && map.first_x == 0,
              "one window at 0,0: %dx%d at %d,%d", map.rows, map.cols, map.first_y, map.first_x);
        CHECK(map.per_block == (cases[k].shared ? 1 : 2), "per_block %d", map.per_block);
        const size_t n = (size_t)3 * 4 * side * side, kd = (size_t)map.groups * map.cards;
        float *out = malloc(n * sizeof *out);
        forward_with(m, img.data, side, side, map.gamma, out);
        size_t at = 0;
        const double same = check_max_rel_diff(out, whole.data, n, 1e-3, &at);
        CHECK(same < 1e-5, "case %zu: recomputed output differs by %g at %zu", k, same, at);
        /* the last selection of the last block with its groups 0 and 1 swapped */
        float *last = map.gamma + ((size_t)map.blocks * map.per_block - 1) * kd;
        for (int j = 0; j < map.cards; j++) {
            const float t = last[j];
            last[j] = last[map.cards + j], last[map.cards + j] = t;
        }
        forward_with(m, img.data, side, side, map.gamma, out);
        const double other = check_max_rel_diff(out, whole.data, n, 1e-3, &at);
        CHECK(other > 100 * same && other > 1e-5,
              "case %zu: a swapped selection changes the output by only %g", k, other);
        free(out);
        nsr_selection_map_free(&map);
        nsr_image_free(&whole);
        nsr_image_free(&img);
        nsr_model_free(m);
    }
}

/* The reference tiling's grid on a 200x192 image (NSR.md section 5: 5 rows of tiles from
 * padded row 12, 5 columns from 16), every window's weights a distribution over the groups
 * per cardinal, and window (r, c) selecting as its pixels, reflect-padded, run alone. */
static void test_reference_grid(void) {
    nsr_model *m = model_of(2, 3, 2, 0, 0);
    REQUIRE(m, "no model");
    nsr_image img, alone;
    nsr_selection_map map, one;
    nsr_error err;
    REQUIRE(picture(&img, 208, 192, 3) == 0, "no picture");
    const nsr_window_grid grid = {48, 32, 4};
    REQUIRE(nsr_model_select_windows(m, &img, &grid, &map, &err) == 0, "%s", err.message);
    /* rows: (192 + 8 - 48) / 32 + 1 = 5, left over 200 - 176 = 24, from 12 - 4; columns:
     * (208 + 8 - 48) / 32 + 1 = 6, left over 216 - 208 = 8, from 4 - 4 */
    CHECK(map.rows == 5 && map.cols == 6 && map.first_y == 8 && map.first_x == 0,
          "grid %dx%d from %d,%d", map.rows, map.cols, map.first_y, map.first_x);
    const size_t kd = (size_t)map.groups * map.cards, count = (size_t)map.rows * map.cols;
    double worst = 0;
    for (size_t w = 0; w < (size_t)map.blocks * map.per_block * count; w++)
        for (int j = 0; j < map.cards; j++) {
            double sum = 0;
            for (int i = 0; i < map.groups; i++) sum += map.gamma[w * kd + i * map.cards + j];
            if (fabs(sum - 1) > worst) worst = fabs(sum - 1);
        }
    CHECK(worst < 1e-5, "weights sum to 1 within %g", worst);
    /* window (0, 5): rows 8..55, columns 160..207; (4, 0): rows 136..183 and columns -4..43,
     * reflected */
    const int picks[][2] = {{0, 5}, {4, 0}, {2, 3}};
    for (int p = 0; p < 3; p++) {
        const int r = picks[p][0], c = picks[p][1];
        const int y0 = map.first_y + r * 32, x0 = map.first_x + c * 32;
        REQUIRE(nsr_image_create(&alone, 48, 48, 3, 0, &err) == 0, "%s", err.message);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 48; y++)
                for (int x = 0; x < 48; x++) {
                    const int sx = x0 + x < 0 ? -(x0 + x) : x0 + x;
                    nsr_image_plane(&alone, ch)[y * 48 + x] =
                        nsr_image_plane(&img, ch)[(size_t)(y0 + y) * 208 + sx];
                }
        const nsr_window_grid whole = {48, 48, 0};
        REQUIRE(nsr_model_select_windows(m, &alone, &whole, &one, &err) == 0, "%s", err.message);
        double diff = 0;
        for (size_t s = 0; s < (size_t)map.blocks * map.per_block; s++)
            for (size_t i = 0; i < kd; i++) {
                const double d = fabs(one.gamma[s * kd + i] -
                                      map.gamma[(s * count + (size_t)r * map.cols + c) * kd + i]);
                if (d > diff) diff = d;
            }
        CHECK(diff < 1e-6, "window (%d, %d) alone selects differently by %g", r, c, diff);
        nsr_selection_map_free(&one);
        nsr_image_free(&alone);
    }
    /* the windows do not all select alike */
    int differ = 0;
    for (size_t w = 1; w < count; w++) differ |= map.gamma[w * kd] != map.gamma[0];
    CHECK(differ, "every window has the same weights");
    nsr_selection_map_free(&map);
    nsr_image_free(&img);
    nsr_model_free(m);
}

/* One selection per block in the fixed-size regime; grey networks take grey images. */
static void test_one_per_block(void) {
    nsr_model *m = model_of(3, 2, 2, 0, NSR_REGIME_FIXED_SIZE);
    REQUIRE(m, "no model");
    nsr_image img;
    nsr_selection_map map;
    nsr_error err;
    REQUIRE(picture(&img, 40, 30, 3) == 0, "no picture");
    const nsr_window_grid grid = {16, 8, 0};
    REQUIRE(nsr_model_select_windows(m, &img, &grid, &map, &err) == 0, "%s", err.message);
    /* (30 - 16) / 8 + 1 = 2 rows from (14 - 8) / 2 = 3; (40 - 16) / 8 + 1 = 4 columns from 0 */
    CHECK(map.per_block == 1 && map.blocks == 3 && map.rows == 2 && map.cols == 4 &&
              map.first_y == 3 && map.first_x == 0,
          "per_block %d, %d blocks, %dx%d from %d,%d", map.per_block, map.blocks, map.rows,
          map.cols, map.first_y, map.first_x);
    nsr_selection_map_free(&map);
    nsr_image_free(&img);
    nsr_model_free(m);
}

static void test_refusals(void) {
    nsr_model *plain = model_of(1, 1, 1, 0, 0), *m = model_of(1, 2, 2, 0, 0);
    REQUIRE(plain && m, "no model");
    nsr_image img, grey;
    nsr_selection_map map;
    nsr_error err;
    REQUIRE(picture(&img, 40, 30, 3) == 0 && picture(&grey, 40, 30, 1) == 0, "no picture");
    const struct { const nsr_model *m; const nsr_image *img; nsr_window_grid g; const char *says; } bad[] = {
        {plain, &img, {16, 8, 0}, "selects nothing"},
        {m, &grey, {16, 8, 0}, "RGB images"},
        {m, &img, {31, 8, 0}, "does not fit"},
        {m, &img, {40, 8, 4}, "does not fit"},
        {m, &img, {16, 0, 0}, "positive"},
        {m, &img, {16, 8, 30}, "not smaller"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err.message[0] = 0;
        CHECK(nsr_model_select_windows(bad[k].m, bad[k].img, &bad[k].g, &map, &err) != 0,
              "case %zu accepted", k);
        CHECK(strstr(err.message, bad[k].says), "case %zu says '%s'", k, err.message);
        CHECK(!map.gamma, "case %zu left weights", k);
    }
    nsr_image_free(&img);
    nsr_image_free(&grey);
    nsr_model_free(plain);
    nsr_model_free(m);
}

int main(void) {
    RUN(test_weights_are_the_forwards);
    RUN(test_reference_grid);
    RUN(test_one_per_block);
    RUN(test_refusals);
    return test_summary();
}
