/* test_image_io.c - image files: format detection, exact and near round trips through every
 * format, inputs written with libpng/libjpeg directly (palette, tRNS, low bit depths, interlace,
 * progressive, CMYK), ICC profiles, EXIF orientation, the pixel limit, and the shared data. */
#include <stdio.h>
#include <png.h>
#include <jpeglib.h>
#include <unistd.h>

#include "check.h"
#include "nsr.h"

/* ---------------------------------------------------------------- helpers */

/* A deterministic image whose samples all lie on the depth's levels (k / 255 or k / 65535),
 * so that exact formats must give them back bit for bit. */
static int make_image(nsr_image *img, int w, int h, int channels, int alpha, int depth) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, alpha, &err)) return -1;
    img->bit_depth = depth;
    unsigned max = depth == 16 ? 65535 : 255;
    size_t plane = (size_t)w * h;
    uint32_t s = 12345u + (uint32_t)(w * 31 + h * 7 + channels);
    for (size_t i = 0; i < plane * channels; i++) {
        s = s * 1664525u + 1013904223u;
        img->data[i] = (float)((s >> 8) % (max + 1)) / (float)max;
    }
    for (size_t i = 0; alpha && i < plane; i++) {
        s = s * 1664525u + 1013904223u;
        img->alpha[i] = (float)((s >> 8) % (max + 1)) / (float)max;
    }
    return 0;
}

/* A smooth image (gentle gradients, different in each plane), which lossy codecs reproduce
 * closely at any size; meant for sizes up to about 100x100. */
static int make_smooth(nsr_image *img, int w, int h, int channels) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, 0, &err)) return -1;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                nsr_image_plane(img, c)[y * w + x] =
                    roundf(255.0f * (0.2f + 0.6f * (float)(x + c * y) / 300.0f)) / 255.0f;
    return 0;
}

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
    RUN(test_png_depth_and_clamp);
    RUN(test_webp_round_trip);
    RUN(test_jpeg_round_trip);
    RUN(test_shared_data);
    return test_summary();
}
