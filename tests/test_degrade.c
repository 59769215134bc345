/* test_degrade.c - seeded Gaussian noise (statistics, reproducibility across threads and image
 * shapes, fixed bits) and the JPEG round trip. */
#include <omp.h>

#include "check.h"
#include "nsr.h"

/* The generator's bits are part of the protocol ("noise from a fixed seed per image"): changing
 * them changes every published denoising number, so they are pinned. */
static void test_rng_golden(void) {
    CHECK(nsr_rng_u64(0, 0, 0) == 0xa706dd2f4d197e6full, "u64(0,0,0)");
    CHECK(nsr_rng_u64(1, 2, 3) == 0xcb4231b3c036e95dull, "u64(1,2,3)");
    CHECK(nsr_rng_u64(UINT64_MAX, 7, 1000000) == 0x4dc2560b5da5ff8full, "u64(max,7,1e6)");
    CHECK(fabs(nsr_rng_normal(42, 0, 0) - 0.76378344974492296) < 1e-15, "normal(42,0,0) = %.17g",
          nsr_rng_normal(42, 0, 0));
    double lo = 1, hi = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        double u = nsr_rng_uniform(5, 1, i);
        lo = fmin(lo, u), hi = fmax(hi, u);
    }
    CHECK(lo > 0 && lo < 1e-4 && hi < 1 && hi > 1 - 1e-4, "uniform range %g..%g", lo, hi);
}

static int grey_level(nsr_image *img, int w, int h, int channels, float v) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, 0, &err)) return -1;
    for (size_t i = 0; i < (size_t)w * h * channels; i++) img->data[i] = v;
    return 0;
}

/* Over 512x512x3 samples at sigma 25 on a dark grey (10 levels): mean 0 within 0.1 level (4
 * standard errors), standard deviation within 0.5%, 68.27% within one sigma, and no clipping. */
static void test_noise_statistics(void) {
    nsr_image img;
    REQUIRE(grey_level(&img, 512, 512, 3, 10.0f / 255) == 0, "create");
    nsr_add_gaussian_noise(&img, 25, 1234);
    size_t n = (size_t)512 * 512 * 3, within = 0, below0 = 0;
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        double e = img.data[i] * 255.0 - 10;
        sum += e, sum2 += e * e;
        within += fabs(e) <= 25;
        below0 += img.data[i] < 0;
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean), frac = (double)within / n;
    CHECK(fabs(mean) < 0.1, "mean %g", mean);
    CHECK(fabs(sd - 25) < 0.125, "sd %g", sd);
    CHECK(fabs(frac - 0.6827) < 0.003, "within 1 sigma %g", frac);
    CHECK(below0 > 0, "noise was clipped at 0");
    nsr_image_free(&img);
}

/* Same seed: the same bits at 1 and 2 threads, and for any image shape (the noise of sample i
 * of plane c depends on (seed, c, i) only). Another seed or another plane: different noise. */
static void test_noise_reproducible(void) {
    nsr_image a, b, c, d;
    REQUIRE(grey_level(&a, 64, 40, 3, 0.25f) == 0 && grey_level(&b, 64, 40, 3, 0.25f) == 0 &&
                grey_level(&c, 40, 64, 3, 0.25f) == 0 && grey_level(&d, 64, 40, 3, 0.25f) == 0,
            "create");
    size_t n = (size_t)64 * 40 * 3;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    nsr_add_gaussian_noise(&a, 15, 7);
    omp_set_num_threads(2);
    nsr_add_gaussian_noise(&b, 15, 7);
    nsr_add_gaussian_noise(&c, 15, 7);
    nsr_add_gaussian_noise(&d, 15, 8);
    omp_set_num_threads(threads);
    CHECK(memcmp(a.data, b.data, n * sizeof(float)) == 0, "1 and 2 threads differ");
    CHECK(memcmp(a.data, c.data, n * sizeof(float)) == 0, "64x40 and 40x64 differ");
    size_t same_seed = 0, same_plane = 0;
    for (size_t i = 0; i < n; i++) same_seed += a.data[i] == d.data[i];
    for (size_t i = 0; i < n / 3; i++) same_plane += a.data[i] == a.data[n / 3 + i];
    CHECK(same_seed < n / 100, "seeds 7 and 8 agree on %zu of %zu samples", same_seed, n);
    CHECK(same_plane < n / 300, "planes 0 and 1 agree on %zu samples", same_plane);
    nsr_image_free(&a);
    nsr_image_free(&b);
    nsr_image_free(&c);
    nsr_image_free(&d);
}

/* A picture with smooth areas and edges, 8-bit levels. */
static int picture(nsr_image *img, int channels, int alpha) {
    nsr_error err;
    if (nsr_image_create(img, 64, 48, channels, alpha, &err)) return -1;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 64; x++) {
                int v = 10 + x + y + c * 25 + ((x / 9 + y / 7) % 2) * 60; /* edges in luma */
                nsr_image_plane(img, c)[y * 64 + x] = (float)v / 255;
            }
    if (alpha)
        for (int i = 0; i < 64 * 48; i++) img->alpha[i] = (float)(i % 256) / 255;
    return 0;
}

static void test_jpeg(void) {
    for (int channels = 1; channels <= 3; channels += 2) {
        nsr_image src, q10, q95;
        nsr_error err;
        nsr_metrics m10, m95;
        REQUIRE(picture(&src, channels, 1) == 0, "create");
        REQUIRE(nsr_jpeg_degrade(&q10, &src, 10, &err) == 0, "%s", err.message);
        REQUIRE(nsr_jpeg_degrade(&q95, &src, 95, &err) == 0, "%s", err.message);
        CHECK(q10.channels == channels && q10.width == 64 && q10.height == 48,
              "%d channels came back as %dx%dx%d", channels, q10.width, q10.height, q10.channels);
        CHECK(q10.alpha && memcmp(q10.alpha, src.alpha, 64 * 48 * sizeof(float)) == 0,
              "alpha not carried through");
        REQUIRE(nsr_metrics_compute(&src, &q10, 0, 0, NSR_Y_PT_IR, &m10, &err) == 0, "%s", err.message);
        REQUIRE(nsr_metrics_compute(&src, &q95, 0, 0, NSR_Y_PT_IR, &m95, &err) == 0, "%s", err.message);
        CHECK(m10.psnr_rgb < 35 && m95.psnr_rgb > m10.psnr_rgb + 5, "%d channels: q10 %.2f dB, q95 %.2f dB",
              channels, m10.psnr_rgb, m95.psnr_rgb);
        nsr_image_free(&src);
        nsr_image_free(&q10);
        nsr_image_free(&q95);
    }
    nsr_image src, dst;
    nsr_error err;
    REQUIRE(picture(&src, 3, 0) == 0, "create");
    CHECK(nsr_jpeg_degrade(&dst, &src, 0, &err) != 0 && strstr(err.message, "quality"),
          "quality 0 accepted: %s", err.message);
    CHECK(nsr_jpeg_degrade(&dst, &src, 101, &err) != 0, "quality 101 accepted");
    nsr_image_free(&src);
}

int main(void) {
    RUN(test_rng_golden);
    RUN(test_noise_statistics);
    RUN(test_noise_reproducible);
    RUN(test_jpeg);
    return test_summary();
}
