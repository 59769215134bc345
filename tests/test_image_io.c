/* test_image_io.c - image files: format detection, exact and near round trips through every
 * format, inputs written with libpng/libjpeg directly (palette, tRNS, low bit depths, interlace,
 * progressive, CMYK), ICC profiles, EXIF orientation, the pixel limit, and the shared data. */
#include <omp.h>
#include <unistd.h>
#include <webp/mux.h>
#include <zlib.h>

#include "check.h"
#include "image_fixtures.h"

/* ---------------------------------------------------------------- helpers */

/* Largest difference, in units of 1/max, between two images' planes (alpha included); -1 when
 * their shapes differ. */
static double max_level_diff(const nsr_image *a, const nsr_image *b, unsigned max) {
    if (a->width != b->width || a->height != b->height || a->channels != b->channels ||
        !a->alpha != !b->alpha)
        return -1;
    size_t n = (size_t)a->width * a->height;
    double worst = 0;
    for (size_t i = 0; i < n * a->channels; i++) worst = fmax(worst, fabs(a->data[i] - b->data[i]) * max);
    for (size_t i = 0; a->alpha && i < n; i++) worst = fmax(worst, fabs(a->alpha[i] - b->alpha[i]) * max);
    return worst;
}

static double mean_abs_diff(const nsr_image *a, const nsr_image *b) {
    size_t n = (size_t)a->width * a->height * a->channels;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += fabs(a->data[i] - b->data[i]);
    return sum / (double)n;
}

/* Encodes img and decodes the result into out. */
static int round_trip(const nsr_image *img, nsr_format format, const nsr_write_options *opts,
                      nsr_image *out, nsr_error *err) {
    uint8_t *bytes;
    size_t size;
    if (nsr_image_encode(img, format, opts, &bytes, &size, err)) return -1;
    int rc = nsr_detect_format(bytes, size) == format ? nsr_image_read_memory(out, bytes, size, NULL, err)
                                                       : nsr_fail(err, "encoded data not detected as %s", nsr_format_name(format));
    free(bytes);
    return rc;
}

/* Packs one sample of depth bits (1, 2, 4, 8) at index i of a row, as PNG orders them. */
static void pack_sample(uint8_t *row, int i, int depth, unsigned v) {
    if (depth == 8) {
        row[i] = (uint8_t)v;
        return;
    }
    int bit = i * depth;
    row[bit / 8] |= (uint8_t)(v << (8 - depth - bit % 8));
}

static int decode_membuf(membuf *m, nsr_image *img, nsr_error *err) {
    int rc = nsr_image_read_memory(img, m->data, m->size, NULL, err);
    free(m->data);
    m->data = NULL;
    m->size = 0;
    return rc;
}

/* ---------------------------------------------------------------- tests */

static void test_detect_format(void) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const uint8_t jpeg[3] = {0xff, 0xd8, 0xff};
    static const uint8_t webp[12] = {'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'E', 'B', 'P'};
    static const uint8_t riff_wave[12] = {'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'A', 'V', 'E'};
    CHECK(nsr_detect_format(png, 8) == NSR_FORMAT_PNG, "png");
    CHECK(nsr_detect_format(png, 7) == NSR_FORMAT_UNKNOWN, "short png");
    CHECK(nsr_detect_format(jpeg, 3) == NSR_FORMAT_JPEG, "jpeg");
    CHECK(nsr_detect_format(jpeg, 2) == NSR_FORMAT_UNKNOWN, "short jpeg");
    CHECK(nsr_detect_format(webp, 12) == NSR_FORMAT_WEBP, "webp");
    CHECK(nsr_detect_format(riff_wave, 12) == NSR_FORMAT_UNKNOWN, "wave");
    CHECK(nsr_detect_format(NULL, 0) == NSR_FORMAT_UNKNOWN, "null");
    CHECK(nsr_format_from_path("a/b.PNG") == NSR_FORMAT_PNG, "PNG");
    CHECK(nsr_format_from_path("x.jpg") == NSR_FORMAT_JPEG && nsr_format_from_path("x.JPEG") == NSR_FORMAT_JPEG, "jpg");
    CHECK(nsr_format_from_path("x.webp") == NSR_FORMAT_WEBP, "webp name");
    CHECK(nsr_format_from_path("x.bmp") == NSR_FORMAT_UNKNOWN, "bmp");
    CHECK(nsr_format_from_path("dir.png/file") == NSR_FORMAT_UNKNOWN, "dot in a folder name");
    CHECK(nsr_format_from_path("noext") == NSR_FORMAT_UNKNOWN, "no extension");
    CHECK(!strcmp(nsr_format_name(NSR_FORMAT_WEBP), "WebP") && !strcmp(nsr_format_name(NSR_FORMAT_UNKNOWN), "unknown"), "names");
    /* Content wins over the name. */
    nsr_image img, back;
    nsr_error err;
    REQUIRE(make_image(&img, 5, 4, 3, 0, 8) == 0, "create");
    char path[] = "/tmp/nsr_test_detect_XXXXXX.jpg";
    int fd = mkstemps(path, 4);
    REQUIRE(fd >= 0, "mkstemps");
    close(fd);
    nsr_write_options opts = {.format = NSR_FORMAT_PNG};
    CHECK(nsr_image_write(&img, path, &opts, &err) == 0, "%s", err.message);
    CHECK(nsr_image_read(&back, path, NULL, &err) == 0, "%s", err.message);
    CHECK(max_level_diff(&img, &back, 255) == 0, "PNG content under a .jpg name read exactly");
    unlink(path);
    nsr_image_free(&back);
    nsr_image_free(&img);
}

static void test_png_round_trip(void) {
    static const int sizes[][2] = {{1, 1}, {7, 3}, {3, 7}, {33, 17}};
    int cases = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int channels = 1; channels <= 3; channels += 2)
            for (int alpha = 0; alpha <= 1; alpha++)
                for (int depth = 8; depth <= 16; depth += 8) {
                    nsr_image img, back;
                    nsr_error err;
                    REQUIRE(make_image(&img, sizes[s][0], sizes[s][1], channels, alpha, depth) == 0, "create");
                    int rc = round_trip(&img, NSR_FORMAT_PNG, NULL, &back, &err);
                    CHECK(rc == 0, "%s", err.message);
                    if (rc == 0) {
                        double d = max_level_diff(&img, &back, depth == 16 ? 65535 : 255);
                        CHECK(d == 0, "%dx%d c%d a%d %d-bit: max difference %g levels", img.width, img.height, channels, alpha, depth, d);
                        CHECK(back.bit_depth == depth, "bit depth %d, wanted %d", back.bit_depth, depth);
                        cases++;
                    }
                    nsr_image_free(&back);
                    nsr_image_free(&img);
                }
    CHECK(cases == 32, "%d cases", cases);
}

/* 16-bit images written at 8 bits round to the nearest level; out-of-range and NaN samples clamp. */
/* Images whose rows fill several of the encoder's pieces (about 1 MiB of filtered rows each,
 * deflated on separate threads and joined into one stream): exact round trips, and the same
 * bytes on 1 thread as on 2. */
static void test_png_pieces(void) {
    static const struct { int w, h, channels, alpha, depth; } cases[] = {
        {700, 900, 3, 1, 16}, /* 5600 bytes a row: 5 pieces */
        {1500, 1000, 1, 0, 8}, /* 2 pieces */
        {300000, 3, 3, 0, 8},  /* a row larger than a piece: a piece a row */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nsr_image img, back;
        nsr_error err;
        uint8_t *bytes[2] = {NULL, NULL};
        size_t size[2] = {0, 0};
        REQUIRE(make_image(&img, cases[c].w, cases[c].h, cases[c].channels, cases[c].alpha,
                           cases[c].depth) == 0, "create");
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            CHECK(nsr_image_encode(&img, NSR_FORMAT_PNG, NULL, &bytes[t], &size[t], &err) == 0,
                  "%s", err.message);
        }
        CHECK(bytes[0] && bytes[1] && size[0] == size[1] && !memcmp(bytes[0], bytes[1], size[0]),
              "%dx%d: %zu bytes on 1 thread, %zu on 2, or different", img.width, img.height,
              size[0], size[1]);
        int rc = bytes[1] ? nsr_image_read_memory(&back, bytes[1], size[1], NULL, &err) : -1;
        CHECK(rc == 0, "%s", err.message);
        if (rc == 0) {
            const double d = max_level_diff(&img, &back, cases[c].depth == 16 ? 65535 : 255);
            CHECK(d == 0, "%dx%d: max difference %g levels", img.width, img.height, d);
            nsr_image_free(&back);
        }
        free(bytes[0]), free(bytes[1]);
        nsr_image_free(&img);
    }
}

static void test_png_depth_and_clamp(void) {
    nsr_image img, back;
    nsr_error err;
    REQUIRE(nsr_image_create(&img, 6, 1, 1, 0, &err) == 0, "%s", err.message);
    img.bit_depth = 16;
    const float in[6] = {-0.5f, 1.5f, NAN, 100.49f / 255, 100.51f / 255, 0.5f};
    const float want8[6] = {0, 255, 0, 100, 101, 128};
    memcpy(img.data, in, sizeof in);
    nsr_write_options opts = {.bit_depth = 8};
    REQUIRE(round_trip(&img, NSR_FORMAT_PNG, &opts, &back, &err) == 0, "%s", err.message);
    CHECK(back.bit_depth == 8, "depth %d", back.bit_depth);
    for (int i = 0; i < 6; i++) CHECK(back.data[i] == want8[i] / 255.0f, "sample %d: %g levels", i, back.data[i] * 255);
    nsr_image_free(&back);
    REQUIRE(round_trip(&img, NSR_FORMAT_PNG, NULL, &back, &err) == 0, "%s", err.message);
    CHECK(back.bit_depth == 16, "16-bit by default, got %d", back.bit_depth);
    CHECK(back.data[5] == 32768 / 65535.0f, "0.5 at 16 bits: %g", back.data[5] * 65535);
    nsr_image_free(&back);
    nsr_image_free(&img);
}

/* A written 8-bit PNG holds the levels the metrics measure (nsr_level8): samples just under
 * and at a half level, where v * 255 + 0.5 in float would round up. */
static void test_png_levels_as_metrics(void) {
    nsr_image img, back;
    nsr_error err;
    const int n = 3 * 255;
    REQUIRE(nsr_image_create(&img, n, 1, 1, 0, &err) == 0, "%s", err.message);
    img.bit_depth = 8;
    for (int k = 0; k < 255; k++) {
        const float half = (k + 0.5f) / 255.0f;
        img.data[3 * k] = nextafterf(half, 0);
        img.data[3 * k + 1] = nextafterf(nextafterf(half, 0), 0);
        img.data[3 * k + 2] = half;
    }
    REQUIRE(round_trip(&img, NSR_FORMAT_PNG, NULL, &back, &err) == 0, "%s", err.message);
    int wrong = 0, first = -1;
    for (int i = 0; i < n; i++)
        if (back.data[i] != nsr_level8(img.data[i]) / 255.0f && wrong++ == 0) first = i;
    CHECK(wrong == 0, "%d of %d samples not at nsr_level8's level (first: %.9g written as %g levels, "
          "nsr_level8 %d)", wrong, n, first >= 0 ? img.data[first] : 0, first >= 0 ? back.data[first] * 255 : 0,
          first >= 0 ? nsr_level8(img.data[first]) : 0);
    nsr_image_free(&back);
    nsr_image_free(&img);
}

/* Grey at 1, 2 and 4 bits scales to the full range, as the PNG specification says. */
static void test_png_low_bit_grey(void) {
    for (int depth = 1; depth <= 4; depth *= 2) {
        for (int interlace = 0; interlace <= 1; interlace++) {
            enum { W = 13, H = 5 };
            uint8_t pixels[H][W] = {{0}};
            unsigned max = (1u << depth) - 1;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) pack_sample(pixels[y], x, depth, (unsigned)(x + y) & max);
            raw_png spec = {.width = W, .height = H, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = depth,
                            .interlace = interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE};
            membuf m = {0};
            REQUIRE(write_raw_png(&m, &spec, pixels[0], W) == 0, "libpng write");
            nsr_image img;
            nsr_error err;
            REQUIRE(decode_membuf(&m, &img, &err) == 0, "%s", err.message);
            CHECK(img.channels == 1 && !img.alpha && img.bit_depth == 8 && img.width == W && img.height == H,
                  "%d-bit: c%d depth %d", depth, img.channels, img.bit_depth);
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    unsigned v = (unsigned)(x + y) & max;
                    CHECK(img.data[y * W + x] == (float)(v * (255 / max)) / 255.0f, "%d-bit (%d,%d): %g", depth, x, y,
                          img.data[y * W + x] * 255);
                }
            nsr_image_free(&img);
        }
    }
}

/* Palettes become RGB; tRNS becomes an alpha plane (palette alphas, or one transparent colour). */
static void test_png_palette_and_trns(void) {
    static const png_color palette[4] = {{255, 0, 0}, {0, 128, 0}, {10, 20, 30}, {200, 201, 202}};
    static const png_byte alphas[2] = {0, 77}; /* entries 2 and 3 stay opaque */
    enum { W = 7, H = 3 };
    for (int depth = 2; depth <= 8; depth += 6)
        for (int with_trns = 0; with_trns <= 1; with_trns++) {
            uint8_t pixels[H][W] = {{0}};
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) pack_sample(pixels[y], x, depth, (unsigned)(x * 3 + y) % 4);
            raw_png spec = {.width = W, .height = H, .color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = depth,
                            .palette = palette, .palette_size = 4,
                            .trans_alpha = with_trns ? alphas : NULL, .trans_count = 2};
            membuf m = {0};
            REQUIRE(write_raw_png(&m, &spec, pixels[0], W) == 0, "libpng write");
            nsr_image img;
            nsr_error err;
            REQUIRE(decode_membuf(&m, &img, &err) == 0, "%s", err.message);
            REQUIRE(img.channels == 3 && !img.alpha == !with_trns && img.bit_depth == 8, "c%d alpha %d", img.channels, !!img.alpha);
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int k = (x * 3 + y) % 4, i = y * W + x;
                    CHECK(nsr_image_plane(&img, 0)[i] == palette[k].red / 255.0f &&
                              nsr_image_plane(&img, 1)[i] == palette[k].green / 255.0f &&
                              nsr_image_plane(&img, 2)[i] == palette[k].blue / 255.0f,
                          "%d-bit palette colour at (%d,%d)", depth, x, y);
                    if (with_trns) CHECK(img.alpha[i] == (k < 2 ? alphas[k] : 255) / 255.0f, "alpha at (%d,%d)", x, y);
                }
            nsr_image_free(&img);
        }
    /* Grey 8-bit with a transparent grey level, and RGB 16-bit with a transparent colour. */
    uint8_t grey[2][3] = {{7, 8, 7}, {0, 7, 255}};
    png_color_16 grey_key = {.gray = 7};
    raw_png spec = {.width = 3, .height = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8, .trans_color = &grey_key};
    membuf m = {0};
    REQUIRE(write_raw_png(&m, &spec, grey[0], 3) == 0, "libpng write");
    nsr_image img;
    nsr_error err;
    REQUIRE(decode_membuf(&m, &img, &err) == 0, "%s", err.message);
    REQUIRE(img.channels == 1 && img.alpha, "grey+tRNS: c%d alpha %d", img.channels, !!img.alpha);
    for (int i = 0; i < 6; i++) {
        CHECK(img.data[i] == grey[i / 3][i % 3] / 255.0f, "grey %d", i);
        CHECK(img.alpha[i] == (grey[i / 3][i % 3] == 7 ? 0.0f : 1.0f), "grey alpha %d", i);
    }
    nsr_image_free(&img);
    uint8_t rgb16[1][12] = {{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xff, 0xff, 0, 0, 0x00, 0x01}};
    png_color_16 rgb_key = {.red = 0xffff, .green = 0, .blue = 1};
    raw_png spec16 = {.width = 2, .height = 1, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 16, .trans_color = &rgb_key};
    REQUIRE(write_raw_png(&m, &spec16, rgb16[0], 12) == 0, "libpng write");
    REQUIRE(decode_membuf(&m, &img, &err) == 0, "%s", err.message);
    REQUIRE(img.channels == 3 && img.alpha && img.bit_depth == 16, "rgb16+tRNS: c%d alpha %d depth %d", img.channels, !!img.alpha, img.bit_depth);
    CHECK(nsr_image_plane(&img, 0)[0] == 0x1234 / 65535.0f && nsr_image_plane(&img, 2)[0] == 0x9abc / 65535.0f, "16-bit samples");
    CHECK(img.alpha[0] == 1.0f && img.alpha[1] == 0.0f, "16-bit tRNS alpha %g %g", img.alpha[0], img.alpha[1]);
    nsr_image_free(&img);
}

/* Adam7 interlaced RGB (8 bit) and grey+alpha (16 bit), including sizes where passes are empty. */
static void test_png_interlaced(void) {
    static const int sizes[][2] = {{1, 1}, {7, 3}, {2, 9}, {17, 13}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = 0; kind < 2; kind++) {
            int w = sizes[s][0], h = sizes[s][1], depth = kind ? 16 : 8, n = kind ? 2 : 3;
            nsr_image want, img;
            nsr_error err;
            REQUIRE(make_image(&want, w, h, kind ? 1 : 3, kind, depth) == 0, "create");
            size_t stride = (size_t)w * n * depth / 8;
            uint8_t *pixels = malloc(stride * h);
            REQUIRE(pixels, "malloc");
            /* Interleave the planes as libpng wants them. */
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < n; c++) {
                        float v = c < want.channels ? nsr_image_plane(&want, c)[y * w + x] : want.alpha[y * w + x];
                        unsigned q = (unsigned)lrintf(v * (depth == 16 ? 65535 : 255));
                        uint8_t *p = pixels + y * stride + ((size_t)x * n + c) * (depth / 8);
                        if (depth == 16) {
                            p[0] = (uint8_t)(q >> 8);
                            p[1] = (uint8_t)q;
                        } else {
                            p[0] = (uint8_t)q;
                        }
                    }
            raw_png spec = {.width = w, .height = h, .color_type = kind ? PNG_COLOR_TYPE_GRAY_ALPHA : PNG_COLOR_TYPE_RGB,
                            .bit_depth = depth, .interlace = PNG_INTERLACE_ADAM7};
            membuf m = {0};
            int rc = write_raw_png(&m, &spec, pixels, stride);
            free(pixels);
            REQUIRE(rc == 0, "libpng write");
            REQUIRE(decode_membuf(&m, &img, &err) == 0, "%s", err.message);
            double d = max_level_diff(&want, &img, depth == 16 ? 65535 : 255);
            CHECK(d == 0 && img.bit_depth == depth, "interlaced %dx%d %s: difference %g", w, h, kind ? "grey+alpha 16" : "RGB 8", d);
            nsr_image_free(&img);
            nsr_image_free(&want);
        }
}

static void test_webp_round_trip(void) {
    static const int sizes[][2] = {{1, 1}, {7, 3}, {40, 23}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int alpha = 0; alpha <= 1; alpha++) {
            nsr_image img, back;
            nsr_error err;
            REQUIRE(make_image(&img, sizes[s][0], sizes[s][1], 3, alpha, 8) == 0, "create");
            REQUIRE(round_trip(&img, NSR_FORMAT_WEBP, NULL, &back, &err) == 0, "%s", err.message);
            double d = max_level_diff(&img, &back, 255);
            CHECK(d == 0, "lossless %dx%d a%d: max difference %g levels", img.width, img.height, alpha, d);
            nsr_image_free(&back);
            nsr_image_free(&img);
        }
    /* Grey has no WebP form: it comes back as three equal planes. */
    nsr_image grey, back;
    nsr_error err;
    REQUIRE(make_image(&grey, 9, 5, 1, 1, 8) == 0, "create");
    REQUIRE(round_trip(&grey, NSR_FORMAT_WEBP, NULL, &back, &err) == 0, "%s", err.message);
    CHECK(back.channels == 3 && back.alpha, "grey+alpha came back with %d channels", back.channels);
    for (int c = 0; c < 3 && back.channels == 3; c++)
        CHECK(!memcmp(nsr_image_plane(&back, c), grey.data, 45 * sizeof(float)), "plane %d", c);
    CHECK(!memcmp(back.alpha, grey.alpha, 45 * sizeof(float)), "alpha");
    nsr_image_free(&back);
    nsr_image_free(&grey);
    /* Lossy: close on a smooth image, and alpha stays exact. */
    nsr_image img;
    REQUIRE(make_smooth(&img, 64, 48, 3) == 0, "create");
    nsr_write_options opts = {.quality = 90};
    REQUIRE(round_trip(&img, NSR_FORMAT_WEBP, &opts, &back, &err) == 0, "%s", err.message);
    double mad = mean_abs_diff(&img, &back) * 255;
    CHECK(mad < 2.0, "lossy WebP q90 mean error %.3f levels", mad);
    nsr_image_free(&back);
    nsr_image_free(&img);
}

static void test_jpeg_round_trip(void) {
    static const int sizes[][2] = {{1, 1}, {7, 3}, {64, 48}, {37, 21}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int channels = 1; channels <= 3; channels += 2) {
            nsr_image img, back;
            nsr_error err;
            REQUIRE(make_smooth(&img, sizes[s][0], sizes[s][1], channels) == 0, "create");
            REQUIRE(round_trip(&img, NSR_FORMAT_JPEG, NULL, &back, &err) == 0, "%s", err.message);
            CHECK(back.channels == channels && back.width == img.width && back.height == img.height && !back.alpha,
                  "shape %dx%d c%d", back.width, back.height, back.channels);
            if (back.channels == channels) {
                double mad = mean_abs_diff(&img, &back) * 255, d = max_level_diff(&img, &back, 255);
                CHECK(mad < 1.0 && d <= 3, "%dx%d c%d q95: mean error %.3f, max %g levels", img.width, img.height, channels, mad, d);
            }
            nsr_image_free(&back);
            nsr_image_free(&img);
        }
}

/* Progressive files read like baseline ones; CMYK and YCCK are refused by name. */
static void test_jpeg_inputs(void) {
    enum { W = 23, H = 11 };
    nsr_image want;
    nsr_error err;
    for (int channels = 1; channels <= 3; channels += 2) {
        REQUIRE(make_smooth(&want, W, H, channels) == 0, "create");
        uint8_t pixels[W * H * 3];
        for (int i = 0; i < W * H; i++)
            for (int c = 0; c < channels; c++) pixels[i * channels + c] = (uint8_t)lrintf(nsr_image_plane(&want, c)[i] * 255);
        membuf m = {0};
        write_raw_jpeg(&m, W, H, channels, 1, 0, pixels);
        nsr_image img;
        int rc = decode_membuf(&m, &img, &err);
        CHECK(rc == 0, "progressive: %s", err.message);
        if (rc == 0) {
            double mad = mean_abs_diff(&want, &img) * 255;
            CHECK(img.channels == channels && mad < 1.0, "progressive c%d: c%d, mean error %.3f levels", channels, img.channels, mad);
        }
        nsr_image_free(&img);
        nsr_image_free(&want);
    }
    uint8_t cmyk[8 * 8 * 4];
    for (size_t i = 0; i < sizeof cmyk; i++) cmyk[i] = (uint8_t)(i * 5);
    for (int ycck = 0; ycck <= 1; ycck++) {
        membuf m = {0};
        write_raw_jpeg(&m, 8, 8, 4, 0, ycck, cmyk);
        nsr_image img;
        err.message[0] = 0;
        CHECK(decode_membuf(&m, &img, &err) == -1 && strstr(err.message, "CMYK"), "%s: %s", ycck ? "YCCK" : "CMYK", err.message);
        CHECK(img.data == NULL, "nothing left allocated");
    }
}

/* JPEG has no alpha: the alpha plane is dropped and the colour kept as it is (no compositing). */
/* The encoder is libjpeg with its defaults (standard tables scaled by quality, 4:2:0 for colour,
 * one component for grey): its files are byte for byte those of a plain libjpeg program. */
static void test_jpeg_is_standard(void) {
    enum { W = 19, H = 13 };
    for (int channels = 1; channels <= 3; channels += 2) {
        nsr_image img;
        nsr_error err;
        REQUIRE(make_image(&img, W, H, channels, 0, 8) == 0, "create");
        uint8_t pixels[W * H * 3];
        for (int i = 0; i < W * H; i++)
            for (int c = 0; c < channels; c++) pixels[i * channels + c] = (uint8_t)lrintf(nsr_image_plane(&img, c)[i] * 255);
        membuf want = {0};
        write_raw_jpeg(&want, W, H, channels, 0, 0, pixels);
        nsr_write_options opts = {.quality = 90}; /* write_raw_jpeg's quality */
        uint8_t *bytes;
        size_t size;
        REQUIRE(nsr_image_encode(&img, NSR_FORMAT_JPEG, &opts, &bytes, &size, &err) == 0, "%s", err.message);
        CHECK(size == want.size && !memcmp(bytes, want.data, size), "c%d: %zu bytes, libjpeg's defaults give %zu", channels,
              size, want.size);
        free(bytes);
        free(want.data);
        nsr_image_free(&img);
    }
}

static void test_jpeg_drops_alpha(void) {
    nsr_image img, back;
    nsr_error err;
    REQUIRE(nsr_image_create(&img, 16, 16, 3, 1, &err) == 0, "%s", err.message);
    for (int i = 0; i < 256; i++) {
        img.data[i] = 200 / 255.0f;
        img.data[256 + i] = 100 / 255.0f;
        img.data[512 + i] = 50 / 255.0f;
        img.alpha[i] = 0;
    }
    REQUIRE(round_trip(&img, NSR_FORMAT_JPEG, NULL, &back, &err) == 0, "%s", err.message);
    CHECK(!back.alpha && back.channels == 3, "alpha dropped");
    float d = fabsf(back.data[0] * 255 - 200) + fabsf(back.data[256] * 255 - 100) + fabsf(back.data[512] * 255 - 50);
    CHECK(d <= 3, "colour kept: %g %g %g", back.data[0] * 255, back.data[256] * 255, back.data[512] * 255);
    nsr_image_free(&back);
    nsr_image_free(&img);
}

/* Orientation o maps displayed pixel (x, y) to stored pixel (sx, sy) of a w x h JPEG (the
 * EXIF 2.3 table, written out case by case). */
static void stored_pixel(int o, int w, int h, int x, int y, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = w - 1 - x; *sy = y; break;
    case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;
    case 4: *sx = x; *sy = h - 1 - y; break;
    case 5: *sx = y; *sy = x; break;
    case 6: *sx = y; *sy = h - 1 - x; break;         /* displayed after turning 90 degrees clockwise */
    case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;
    case 8: *sx = w - 1 - y; *sy = x; break;         /* turned 90 degrees anticlockwise */
    default: *sx = x; *sy = y; break;
    }
}

/* file (of format f) with EXIF (a TIFF structure of n bytes) added as the format keeps it: JPEG's
 * APP1 after SOI, PNG's eXIf after IHDR, WebP's EXIF chunk (by libwebp's mux). */
static void add_exif(membuf *out, nsr_format f, const uint8_t *file, size_t size, const uint8_t *exif, size_t n) {
    if (f == NSR_FORMAT_JPEG) {
        uint8_t *payload = malloc(n + 6);
        if (!payload) abort();
        memcpy(payload, "Exif\0\0", 6);
        memcpy(payload + 6, exif, n);
        insert_app1(out, file, size, payload, n + 6);
        free(payload);
    } else if (f == NSR_FORMAT_PNG) {
        const size_t after_ihdr = 8 + 4 + 4 + 13 + 4;
        uint8_t head[8], crc[4];
        put32(head, (uint32_t)n, 1);
        memcpy(head + 4, "eXIf", 4);
        uLong c = crc32(crc32(0, head + 4, 4), exif, (uInt)n);
        put32(crc, (uint32_t)c, 1);
        membuf_add(out, file, after_ihdr);
        membuf_add(out, head, 8);
        membuf_add(out, exif, n);
        membuf_add(out, crc, 4);
        membuf_add(out, file + after_ihdr, size - after_ihdr);
    } else {
        WebPData image = {file, size}, chunk = {exif, n}, assembled;
        WebPDataInit(&assembled);
        WebPMux *mux = WebPMuxCreate(&image, 0);
        if (!mux || WebPMuxSetChunk(mux, "EXIF", &chunk, 0) != WEBP_MUX_OK ||
            WebPMuxAssemble(mux, &assembled) != WEBP_MUX_OK)
            abort();
        membuf_add(out, assembled.bytes, assembled.size);
        WebPMuxDelete(mux);
        WebPDataClear(&assembled);
    }
}

static const nsr_format all_formats[3] = {NSR_FORMAT_PNG, NSR_FORMAT_JPEG, NSR_FORMAT_WEBP};

/* All eight orientations, little- and big-endian, applied by every reader; spoiled EXIF is
 * ignored (orientation 1), and the EXIF read says 1 once the pixels are upright. */
static void test_exif_orientation(void) {
    enum { W = 9, H = 5 };
    nsr_image src, plain;
    nsr_error err;
    REQUIRE(make_image(&src, W, H, 3, 0, 8) == 0, "create");
    int checked = 0;
    for (int f = 0; f < 3; f++) {
        const char *name = nsr_format_name(all_formats[f]);
        uint8_t *file;
        size_t size;
        REQUIRE(nsr_image_encode(&src, all_formats[f], NULL, &file, &size, &err) == 0, "%s", err.message);
        REQUIRE(nsr_image_read_memory(&plain, file, size, NULL, &err) == 0, "%s", err.message);
        for (int big = 0; big <= 1; big++)
            for (int o = 1; o <= 8; o++)
                for (int flaw = 0; flaw < EXIF_FLAWS; flaw++) {
                    uint8_t exif[64];
                    size_t n = make_exif(exif, big, o, flaw);
                    membuf m = {0};
                    add_exif(&m, all_formats[f], file, size, exif + 6, n - 6);
                    nsr_image img;
                    int rc = decode_membuf(&m, &img, &err);
                    CHECK(rc == 0, "%s orientation %d flaw %d: %s", name, o, flaw, err.message);
                    if (rc) continue;
                    int applied = flaw ? 1 : o, transposed = applied >= 5;
                    if (img.width != (transposed ? H : W) || img.height != (transposed ? W : H)) {
                        CHECK(0, "%s orientation %d (%s, flaw %d): %dx%d", name, o, big ? "MM" : "II", flaw,
                              img.width, img.height);
                    } else {
                        for (int c = 0; c < 3; c++)
                            for (int y = 0; y < img.height; y++)
                                for (int x = 0; x < img.width; x++) {
                                    int sx, sy;
                                    stored_pixel(applied, W, H, x, y, &sx, &sy);
                                    CHECK(nsr_image_plane(&img, c)[y * img.width + x] ==
                                              nsr_image_plane(&plain, c)[sy * W + sx],
                                          "%s orientation %d (%s, flaw %d): pixel (%d,%d)", name, o,
                                          big ? "MM" : "II", flaw, x, y);
                                }
                        checked++;
                    }
                    if (!flaw) {
                        uint8_t upright[64];
                        make_exif(upright, big, 1, 0);
                        CHECK(img.exif_size == n - 6 && !memcmp(img.exif, upright + 6, n - 6),
                              "%s orientation %d: the EXIF read is not the file's with orientation 1", name, o);
                    }
                    nsr_image_free(&img);
                }
        free(file);
        nsr_image_free(&plain);
    }
    CHECK(checked == 3 * 2 * 8 * EXIF_FLAWS, "%d checked", checked);
    nsr_image_free(&src);
}

/* EXIF and the resolution written by every format and read back: the EXIF made true for the
 * pixels (orientation 1, their size, the image's resolution in the EXIF's own unit); the
 * resolution from pHYs (PNG, to its 1/metre precision), JFIF (JPEG, whole dpi) or the EXIF
 * (WebP). Without EXIF, WebP has nowhere to keep a resolution. */
static void test_exif_and_dpi_written(void) {
    for (int f = 0; f < 3; f++)
        for (int big = 0; big <= 1; big++)
            for (int with_exif = 0; with_exif <= 1; with_exif++) {
                const char *name = nsr_format_name(all_formats[f]);
                const int unit = big ? 3 : 2; /* cm, inch */
                nsr_image img, back;
                nsr_error err;
                REQUIRE(make_smooth(&img, 12, 7, 3) == 0, "create");
                img.dpi_x = 254;
                img.dpi_y = 508;
                if (with_exif) {
                    img.exif = malloc(FULL_EXIF_SIZE);
                    REQUIRE(img.exif, "malloc");
                    img.exif_size = FULL_EXIF_SIZE;
                    make_full_exif(img.exif, big, 6, 72, 72, unit, 3000, 4000);
                }
                REQUIRE(round_trip(&img, all_formats[f], NULL, &back, &err) == 0, "%s", err.message);
                CHECK(back.width == 12 && back.height == 7, "%s: written turned (%dx%d)", name, back.width,
                      back.height);
                if (with_exif) {
                    uint8_t expected[FULL_EXIF_SIZE];
                    make_full_exif(expected, big, 1, unit == 3 ? 100 : 254, unit == 3 ? 200 : 508, unit, 12, 7);
                    CHECK(back.exif_size == FULL_EXIF_SIZE && !memcmp(back.exif, expected, FULL_EXIF_SIZE),
                          "%s %s: the EXIF written is not the image's made true (%zu bytes)", name,
                          big ? "MM" : "II", back.exif_size);
                } else {
                    CHECK(back.exif == NULL && back.exif_size == 0, "%s: EXIF from nowhere", name);
                }
                double tolerance = all_formats[f] == NSR_FORMAT_PNG ? 0.02 : 1e-9;
                if (all_formats[f] == NSR_FORMAT_WEBP && !with_exif)
                    CHECK(back.dpi_x == 0 && back.dpi_y == 0, "WebP without EXIF: %g x %g dpi", back.dpi_x,
                          back.dpi_y);
                else
                    CHECK(fabs(back.dpi_x - 254) < tolerance && fabs(back.dpi_y - 508) < tolerance,
                          "%s%s: %g x %g dpi, not 254 x 508", name, with_exif ? " with EXIF" : "", back.dpi_x,
                          back.dpi_y);
                nsr_image_free(&back);
                nsr_image_free(&img);
            }
}

/* EXIF of more than a JPEG segment holds (65527 bytes) is an error for JPEG, as a too-large ICC
 * profile is; PNG and WebP keep it whole. */
static void test_exif_too_large_for_jpeg(void) {
    enum { SIZE = 70000 };
    nsr_image img, back;
    nsr_error err;
    REQUIRE(make_smooth(&img, 8, 8, 3) == 0, "create");
    REQUIRE((img.exif = calloc(SIZE, 1)) != NULL, "calloc");
    img.exif_size = SIZE;
    make_full_exif(img.exif, 1, 1, 72, 72, 2, 8, 8);
    uint8_t *bytes = NULL;
    size_t size;
    CHECK(nsr_image_encode(&img, NSR_FORMAT_JPEG, NULL, &bytes, &size, &err) == -1 &&
              strstr(err.message, "EXIF too large for JPEG") && !bytes,
          "JPEG: %s", err.message);
    for (int f = 0; f < 3; f += 2) {
        REQUIRE(round_trip(&img, all_formats[f], NULL, &back, &err) == 0, "%s", err.message);
        CHECK(back.exif_size == SIZE, "%s: %zu bytes of EXIF back", nsr_format_name(all_formats[f]), back.exif_size);
        nsr_image_free(&back);
    }
    nsr_image_free(&img);
}

/* A resolution in the EXIF alone is read (the image files of most cameras); a file without one
 * (libjpeg's JFIF default is unit 0, an aspect ratio) has none; a tiny one is written as the
 * least the format holds. */
static void test_dpi_sources(void) {
    nsr_image img, back;
    nsr_error err;
    REQUIRE(make_smooth(&img, 8, 8, 3) == 0, "create");
    for (int f = 0; f < 3; f++) {
        uint8_t *file, exif[FULL_EXIF_SIZE];
        size_t size;
        REQUIRE(nsr_image_encode(&img, all_formats[f], NULL, &file, &size, &err) == 0, "%s", err.message);
        REQUIRE(nsr_image_read_memory(&back, file, size, NULL, &err) == 0, "%s", err.message);
        CHECK(back.dpi_x == 0 && back.dpi_y == 0, "%s with no resolution: %g x %g dpi",
              nsr_format_name(all_formats[f]), back.dpi_x, back.dpi_y);
        nsr_image_free(&back);
        make_full_exif(exif, f == 1, 1, 300, 200, 2, 8, 8);
        membuf m = {0};
        add_exif(&m, all_formats[f], file, size, exif, FULL_EXIF_SIZE);
        REQUIRE(decode_membuf(&m, &back, &err) == 0, "%s", err.message);
        CHECK(back.dpi_x == 300 && back.dpi_y == 200, "%s, EXIF resolution only: %g x %g dpi",
              nsr_format_name(all_formats[f]), back.dpi_x, back.dpi_y);
        nsr_image_free(&back);
        free(file);
    }
    /* A resolution under what the format can write stays a resolution: 1 per metre, 1 dpi. */
    img.dpi_x = img.dpi_y = 0.01;
    for (int f = 0; f < 2; f++) {
        REQUIRE(round_trip(&img, all_formats[f], NULL, &back, &err) == 0, "%s", err.message);
        CHECK(back.dpi_x > 0 && back.dpi_x <= 1 && back.dpi_y == back.dpi_x, "%s: 0.01 dpi came back as %g x %g",
              nsr_format_name(all_formats[f]), back.dpi_x, back.dpi_y);
        nsr_image_free(&back);
    }
    nsr_image_free(&img);
}

/* The metadata follows the pixels through copies, resizes and restores, the resolution scaled
 * by the size so that the physical size stays. */
static void test_metadata_carried(void) {
    nsr_image img, copy, big;
    nsr_error err;
    REQUIRE(make_smooth(&img, 10, 6, 3) == 0, "create");
    img.dpi_x = 72;
    img.dpi_y = 96;
    img.exif = malloc(FULL_EXIF_SIZE);
    REQUIRE(img.exif, "malloc");
    img.exif_size = FULL_EXIF_SIZE;
    make_full_exif(img.exif, 0, 1, 72, 96, 2, 10, 6);
    REQUIRE(nsr_image_copy(&copy, &img, &err) == 0, "%s", err.message);
    CHECK(copy.exif != img.exif && copy.exif_size == img.exif_size && !memcmp(copy.exif, img.exif, img.exif_size),
          "copy: EXIF");
    CHECK(copy.dpi_x == 72 && copy.dpi_y == 96, "copy: %g x %g dpi", copy.dpi_x, copy.dpi_y);
    REQUIRE(nsr_resize_bicubic(&big, &img, 0, 0, 2, 3, 1, &err) == 0, "%s", err.message);
    CHECK(big.exif_size == img.exif_size && !memcmp(big.exif, img.exif, img.exif_size), "resize: EXIF");
    CHECK(big.dpi_x == 144 && big.dpi_y == 288, "resize x2 x3: %g x %g dpi", big.dpi_x, big.dpi_y);
    nsr_image_free(&copy);
    nsr_image_free(&big);
    const nsr_task x4 = {.kind = NSR_TASK_SR, .scale = 4};
    REQUIRE(nsr_bicubic_restorer.restore(NULL, &x4, &img, &big, &err) == 0, "%s", err.message);
    CHECK(big.exif_size == img.exif_size && big.dpi_x == 288 && big.dpi_y == 384,
          "bicubic x4: %zu bytes of EXIF, %g x %g dpi", big.exif_size, big.dpi_x, big.dpi_y);
    nsr_image_free(&big);
    nsr_image_free(&img);
}

static void test_icc(void) {
    static const nsr_format formats[] = {NSR_FORMAT_PNG, NSR_FORMAT_JPEG, NSR_FORMAT_WEBP};
    /* 150000 bytes needs three APP2 markers in a JPEG. */
    static const size_t sizes[] = {200, 1000, 150000};
    for (size_t f = 0; f < 3; f++)
        for (size_t s = 0; s < 3; s++)
            for (int channels = 1; channels <= 3; channels += 2) {
                if (formats[f] == NSR_FORMAT_WEBP && channels == 1) continue; /* WebP has no grey */
                nsr_image img, back;
                nsr_error err;
                REQUIRE(make_smooth(&img, 8, 8, channels) == 0, "create");
                img.icc = make_icc(sizes[s], channels == 3 ? "RGB " : "GRAY");
                img.icc_size = sizes[s];
                REQUIRE(round_trip(&img, formats[f], NULL, &back, &err) == 0, "%s", err.message);
                CHECK(back.icc_size == img.icc_size && back.icc && !memcmp(back.icc, img.icc, img.icc_size),
                      "%s c%d: a %zu-byte profile came back as %zu bytes", nsr_format_name(formats[f]), channels,
                      img.icc_size, back.icc_size);
                nsr_image_free(&back);
                nsr_image_free(&img);
            }
}

static void test_max_pixels(void) {
    static const nsr_format formats[] = {NSR_FORMAT_PNG, NSR_FORMAT_JPEG, NSR_FORMAT_WEBP};
    nsr_image img, back;
    nsr_error err;
    REQUIRE(make_image(&img, 20, 5, 3, 0, 8) == 0, "create");
    for (size_t f = 0; f < 3; f++) {
        uint8_t *bytes;
        size_t size;
        REQUIRE(nsr_image_encode(&img, formats[f], NULL, &bytes, &size, &err) == 0, "%s", err.message);
        nsr_read_options tight = {.max_pixels = 99}, exact = {.max_pixels = 100};
        CHECK(nsr_image_read_memory(&back, bytes, size, &tight, &err) == -1 && strstr(err.message, "limit of 99 pixels"),
              "%s over the limit: %s", nsr_format_name(formats[f]), err.message);
        CHECK(back.data == NULL, "nothing allocated");
        CHECK(nsr_image_read_memory(&back, bytes, size, &exact, &err) == 0, "%s", err.message);
        nsr_image_free(&back);
        CHECK(nsr_image_read_memory(&back, bytes, size, NULL, &err) == 0, "default limit: %s", err.message);
        nsr_image_free(&back);
        free(bytes);
    }
    nsr_image_free(&img);
}

static void test_write_errors(void) {
    nsr_image img;
    nsr_error err;
    REQUIRE(make_image(&img, 4, 3, 3, 0, 8) == 0, "create");
    char dir[] = "/tmp/nsr_test_write_XXXXXX", path[256];
    REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/out.bmp", dir);
    CHECK(nsr_image_write(&img, path, NULL, &err) == -1 && strstr(err.message, ".bmp") && strstr(err.message, path),
          "unknown extension: %s", err.message);
    snprintf(path, sizeof path, "%s/missing/out.png", dir);
    CHECK(nsr_image_write(&img, path, NULL, &err) == -1 && strstr(err.message, path), "missing folder: %s", err.message);
    /* The format option wins over the name. */
    snprintf(path, sizeof path, "%s/out.dat", dir);
    nsr_write_options webp = {.format = NSR_FORMAT_WEBP};
    CHECK(nsr_image_write(&img, path, &webp, &err) == 0, "%s", err.message);
    uint8_t *bytes;
    size_t size;
    if (nsr_read_file(path, &bytes, &size, &err) == 0) {
        CHECK(nsr_detect_format(bytes, size) == NSR_FORMAT_WEBP, "written as WebP");
        free(bytes);
    }
    unlink(path);
    CHECK(rmdir(dir) == 0, "no temporary files left in %s", dir);
    nsr_write_options bad_q = {.quality = 101}, bad_depth = {.bit_depth = 12};
    CHECK(nsr_image_encode(&img, NSR_FORMAT_JPEG, &bad_q, &bytes, &size, &err) == -1 && strstr(err.message, "quality"), "%s", err.message);
    CHECK(nsr_image_encode(&img, NSR_FORMAT_PNG, &bad_depth, &bytes, &size, &err) == -1 && strstr(err.message, "12"), "%s", err.message);
    CHECK(nsr_image_encode(&img, (nsr_format)42, NULL, &bytes, &size, &err) == -1, "bad format accepted");
    img.channels = 2;
    CHECK(nsr_image_encode(&img, NSR_FORMAT_PNG, NULL, &bytes, &size, &err) == -1, "2 channels accepted");
    nsr_image_free(&img);
    REQUIRE(nsr_image_create(&img, 16384, 1, 3, 0, &err) == 0, "%s", err.message);
    CHECK(nsr_image_encode(&img, NSR_FORMAT_WEBP, NULL, &bytes, &size, &err) == -1 && strstr(err.message, "16383"),
          "WebP too wide: %s", err.message);
    nsr_image_free(&img);
}

/* ---------------------------------------------------------------- shared data */

static void test_shared_data(void) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("no shared data");
    static const struct { const char *name; int w, h, channels; } files[] = {
        {"Set5/baby.webp", 512, 512, 3},
        {"Set5/bird.webp", 288, 288, 3},
        {"Set14/bridge.png", 512, 512, 1},
        {"Kodak24/kodim01.webp", 768, 512, 3},
        {"Set5_LR_bicubic/X4/babyx4.png", 128, 128, 3},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        nsr_image img;
        nsr_error err;
        int rc = nsr_image_read(&img, path, NULL, &err);
        CHECK(rc == 0, "%s", err.message);
        if (rc) continue;
        CHECK(img.width == files[i].w && img.height == files[i].h && img.channels == files[i].channels && !img.alpha &&
                  img.bit_depth == 8,
              "%s: %dx%d c%d", files[i].name, img.width, img.height, img.channels);
        /* The same pixels through the other lossless format. */
        nsr_image back;
        nsr_format other = nsr_format_from_path(path) == NSR_FORMAT_PNG ? NSR_FORMAT_WEBP : NSR_FORMAT_PNG;
        REQUIRE(round_trip(&img, other, NULL, &back, &err) == 0, "%s", err.message);
        for (int c = 0; c < back.channels; c++)
            CHECK(!memcmp(nsr_image_plane(&back, c), img.data + (size_t)(c % img.channels) * img.width * img.height,
                          (size_t)img.width * img.height * sizeof(float)),
                  "%s through %s: plane %d differs", files[i].name, nsr_format_name(other), c);
        nsr_image_free(&back);
        nsr_image_free(&img);
    }
}

int main(void) {
    RUN(test_detect_format);
    RUN(test_png_round_trip);
    RUN(test_png_pieces);
    RUN(test_png_depth_and_clamp);
    RUN(test_png_levels_as_metrics);
    RUN(test_png_low_bit_grey);
    RUN(test_png_palette_and_trns);
    RUN(test_png_interlaced);
    RUN(test_webp_round_trip);
    RUN(test_jpeg_round_trip);
    RUN(test_jpeg_inputs);
    RUN(test_jpeg_is_standard);
    RUN(test_jpeg_drops_alpha);
    RUN(test_exif_orientation);
    RUN(test_exif_and_dpi_written);
    RUN(test_dpi_sources);
    RUN(test_exif_too_large_for_jpeg);
    RUN(test_metadata_carried);
    RUN(test_icc);
    RUN(test_max_pixels);
    RUN(test_write_errors);
    RUN(test_shared_data);
    return test_summary();
}
