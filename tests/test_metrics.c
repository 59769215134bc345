/* test_metrics.c - PSNR (RGB, Y under both conventions), SSIM and PSNR-B on hand-computed
 * cases, against a direct 2-D SSIM oracle, their error cases, and (with the shared data) the
 * published bicubic numbers of Set5. */
#include <omp.h>

#include "check.h"
#include "nsr.h"

/* An image whose every pixel has the 8-bit levels rgb[0..channels-1]. */
static void fill(nsr_image *img, int w, int h, int channels, const int *levels) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, 0, &err)) abort();
    for (int c = 0; c < channels; c++)
        for (int i = 0; i < w * h; i++) nsr_image_plane(img, c)[i] = levels[c] / 255.0f;
}

static nsr_metrics compute(const nsr_image *ref, const nsr_image *test, int shave, int shave_rgb,
                           nsr_y_convention y) {
    nsr_metrics m = {0, 0, 0, 0};
    nsr_error err;
    if (nsr_metrics_compute(ref, test, shave, shave_rgb, y, &m, &err)) {
        fprintf(stderr, "%s\n", err.message);
        m.psnr_y = m.psnr_rgb = m.psnr_b = m.ssim_y = NAN;
    }
    return m;
}

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

/* Identical images: PSNR is +infinity (reported as such, never a cap), SSIM exactly 1. */
static void test_identical(void) {
    nsr_image a, b;
    int rgb[3] = {10, 200, 77};
    fill(&a, 16, 16, 3, rgb);
    fill(&b, 16, 16, 3, rgb);
    for (int y = 0; y < 2; y++) {
        nsr_metrics m = compute(&a, &b, 0, 0, (nsr_y_convention)y);
        CHECK(isinf(m.psnr_y) && m.psnr_y > 0 && isinf(m.psnr_rgb) && isinf(m.psnr_b),
              "%s: psnr %g %g %g", nsr_y_convention_name(y), m.psnr_y, m.psnr_rgb, m.psnr_b);
        CHECK(NEAR(m.ssim_y, 1, 1e-12), "ssim %.17g", m.ssim_y);
    }
    nsr_image_free(&a);
    nsr_image_free(&b);
}

/* One level off everywhere: MSE 1, PSNR 10 log10(255^2) = 48.1308 dB on RGB, and on grey Y. */
static void test_offset_one_level(void) {
    nsr_image a, b;
    int l100[3] = {100, 100, 100}, l101[3] = {101, 101, 101};
    fill(&a, 16, 16, 3, l100);
    fill(&b, 16, 16, 3, l101);
    nsr_metrics m = compute(&a, &b, 0, 0, NSR_Y_PT_IR);
    CHECK(NEAR(m.psnr_rgb, 48.1308036087, 1e-9), "rgb %.10f", m.psnr_rgb);
    /* pt_ir: the difference in Y is 0.257 + 0.504 + 0.098 = 0.859 levels. */
    CHECK(NEAR(m.psnr_y, 10 * log10(65025 / (0.859 * 0.859)), 1e-9), "pt_ir y %.10f", m.psnr_y);
    /* matlab: Y = 16 + 219 v / 255 rounded: 101.88 -> 102 and 102.74 -> 103, one level. */
    m = compute(&a, &b, 0, 0, NSR_Y_MATLAB);
    CHECK(NEAR(m.psnr_y, 48.1308036087, 1e-9), "matlab y %.10f", m.psnr_y);
    nsr_image_free(&a);
    nsr_image_free(&b);
    fill(&a, 16, 16, 1, l100);
    fill(&b, 16, 16, 1, l101);
    for (int y = 0; y < 2; y++) {
        m = compute(&a, &b, 0, 0, (nsr_y_convention)y);
        CHECK(NEAR(m.psnr_y, 48.1308036087, 1e-9) && NEAR(m.psnr_rgb, 48.1308036087, 1e-9),
              "grey %s: %.10f %.10f", nsr_y_convention_name(y), m.psnr_y, m.psnr_rgb);
    }
    nsr_image_free(&a);
    nsr_image_free(&b);
}

/* Cases worked by hand where the two Y conventions part. */
static void test_y_conventions(void) {
    nsr_image a, b;
    /* Green 100 -> 101: pt_ir sees 0.504 of a level; MATLAB's rounded Y does not move
     * (16 + 219 * 100 / 255 = 101.88 and + 128.553 / 255 = 102.39, both 102). */
    int g100[3] = {100, 100, 100}, g101[3] = {100, 101, 100};
    fill(&a, 12, 12, 3, g100);
    fill(&b, 12, 12, 3, g101);
    nsr_metrics m = compute(&a, &b, 0, 0, NSR_Y_PT_IR);
    CHECK(NEAR(m.psnr_y, 10 * log10(65025 / (0.504 * 0.504)), 1e-9), "pt_ir %.10f", m.psnr_y);
    m = compute(&a, &b, 0, 0, NSR_Y_MATLAB);
    CHECK(isinf(m.psnr_y), "matlab %.10f", m.psnr_y);
    CHECK(NEAR(m.psnr_rgb, 10 * log10(65025 * 3.0), 1e-9), "rgb %.10f", m.psnr_rgb);
    nsr_image_free(&a);
    nsr_image_free(&b);
    /* Pure red against black: MATLAB Y 16 + 65.481 = 81.48 -> 81 against 16, 65 levels;
     * pt_ir 0.257 * 255 = 65.535 levels. */
    int red[3] = {255, 0, 0}, black[3] = {0, 0, 0};
    fill(&a, 12, 12, 3, red);
    fill(&b, 12, 12, 3, black);
    m = compute(&a, &b, 0, 0, NSR_Y_MATLAB);
    CHECK(NEAR(m.psnr_y, 10 * log10(65025.0 / (65 * 65)), 1e-9), "matlab red %.10f", m.psnr_y);
    m = compute(&a, &b, 0, 0, NSR_Y_PT_IR);
    CHECK(NEAR(m.psnr_y, 10 * log10(65025 / (65.535 * 65.535)), 1e-9), "pt_ir red %.10f", m.psnr_y);
    /* Two constant images: SSIM = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1) on their Y:
     * MATLAB Y(255, 0, 0) = 81, Y(0, 0, 0) = 16. */
    m = compute(&a, &b, 0, 0, NSR_Y_MATLAB);
    double c1 = 6.5025;
    CHECK(NEAR(m.ssim_y, (2 * 81.0 * 16 + c1) / (81.0 * 81 + 16 * 16 + c1), 1e-9), "ssim %.10f", m.ssim_y);
    nsr_image_free(&a);
    nsr_image_free(&b);
}

/* Metrics see 8-bit levels: 100.4 and 99.6 both round to 100. */
static void test_quantised_first(void) {
    nsr_image a, b;
    int l100[1] = {100};
    fill(&a, 12, 12, 1, l100);
    fill(&b, 12, 12, 1, l100);
    for (int i = 0; i < 144; i++) b.data[i] = (i % 2 ? 100.4f : 99.6f) / 255;
    nsr_metrics m = compute(&a, &b, 0, 0, NSR_Y_PT_IR);
    CHECK(isinf(m.psnr_y) && isinf(m.psnr_rgb), "psnr %g %g", m.psnr_y, m.psnr_rgb);
    nsr_image_free(&a);
    nsr_image_free(&b);
}

/* Differences only in a 2-pixel border vanish with shave 2; the RGB shave is separate. */
static void test_shave(void) {
    nsr_image a, b;
    int l50[3] = {50, 60, 70};
    fill(&a, 20, 14, 3, l50);
    fill(&b, 20, 14, 3, l50);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 14; y++)
            for (int x = 0; x < 20; x++)
                if (x < 2 || y < 2 || x >= 18 || y >= 12) nsr_image_plane(&b, c)[y * 20 + x] = 0;
    nsr_metrics m = compute(&a, &b, 2, 1, NSR_Y_MATLAB);
    CHECK(isinf(m.psnr_y) && !isinf(m.psnr_rgb), "shave 2 / 1: %g %g", m.psnr_y, m.psnr_rgb);
    m = compute(&a, &b, 1, 2, NSR_Y_MATLAB);
    CHECK(!isinf(m.psnr_y) && isinf(m.psnr_rgb), "shave 1 / 2: %g %g", m.psnr_y, m.psnr_rgb);
    CHECK(isnan(m.ssim_y) == 0, "ssim on 18x12 is defined");
    m = compute(&a, &b, 2, 2, NSR_Y_MATLAB);
    CHECK(isnan(m.ssim_y) && isinf(m.psnr_y), "ssim on 16x10 must be NaN, got %g", m.ssim_y);
    nsr_image_free(&a);
    nsr_image_free(&b);
}

/* Direct 2-D SSIM as ssim_index.m computes it: the normalised 11x11 window exp(-(x^2 + y^2) /
 * (2 * 1.5^2)) at every 'valid' position. */
static double oracle_ssim(const float *a, const float *b, int w, int h) {
    double win[11][11], sum = 0, total = 0;
    for (int i = 0; i < 11; i++)
        for (int j = 0; j < 11; j++) sum += win[i][j] = exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / 4.5);
    for (int y = 0; y + 11 <= h; y++)
        for (int x = 0; x + 11 <= w; x++) {
            double m1 = 0, m2 = 0, s11 = 0, s22 = 0, s12 = 0;
            for (int i = 0; i < 11; i++)
                for (int j = 0; j < 11; j++) {
                    double u = nsr_level8(a[(y + i) * w + x + j]), v = nsr_level8(b[(y + i) * w + x + j]);
                    double g = win[i][j] / sum;
                    m1 += g * u, m2 += g * v, s11 += g * u * u, s22 += g * v * v, s12 += g * u * v;
                }
            double c1 = 6.5025, c2 = 58.5225;
            total += (2 * m1 * m2 + c1) * (2 * (s12 - m1 * m2) + c2) /
                     ((m1 * m1 + m2 * m2 + c1) * (s11 - m1 * m1 + s22 - m2 * m2 + c2));
        }
    return total / ((w - 10) * (h - 10));
}

static void test_ssim_oracle_and_threads(void) {
    nsr_image a, b;
    int zero[1] = {0};
    fill(&a, 31, 23, 1, zero);
    fill(&b, 31, 23, 1, zero);
    unsigned s = 7;
    for (int i = 0; i < 31 * 23; i++) {
        s = s * 1103515245u + 12345u;
        a.data[i] = (float)((s >> 16) % 256) / 255;
        b.data[i] = fminf(1, fmaxf(0, a.data[i] + (float)((int)((s >> 8) % 41) - 20) / 255));
    }
    double want = oracle_ssim(a.data, b.data, 31, 23);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    nsr_metrics m1 = compute(&a, &b, 0, 0, NSR_Y_PT_IR);
    omp_set_num_threads(3);
    nsr_metrics m3 = compute(&a, &b, 0, 0, NSR_Y_PT_IR);
    omp_set_num_threads(threads);
    CHECK(NEAR(m1.ssim_y, want, 1e-12) && want < 0.99 && want > 0.1, "ssim %.15f, oracle %.15f",
          m1.ssim_y, want);
    CHECK(memcmp(&m1, &m3, sizeof m1) == 0, "1 and 3 threads differ");
    nsr_image_free(&a);
    nsr_image_free(&b);
}

/* PSNR-B on a worked case: a 16x16 grey test image that steps from 100 to 110 at the block
 * boundary x = 7|8, against a flat 100. Across-boundary pairs: 16 horizontal with d^2 = 100 and
 * 16 vertical with 0, D_B = 50; all other pairs 0; eta = log2 8 / log2 16 = 3/4; BEF = 37.5;
 * MSE = 50 (half the pixels 10 off); PSNR-B = 10 log10(255^2 / 87.5). */
static void test_psnr_b(void) {
    nsr_image ref, test;
    int l100[1] = {100};
    fill(&ref, 16, 16, 1, l100);
    fill(&test, 16, 16, 1, l100);
    for (int y = 0; y < 16; y++)
        for (int x = 8; x < 16; x++) test.data[y * 16 + x] = 110.0f / 255;
    nsr_metrics m = compute(&ref, &test, 0, 0, NSR_Y_PT_IR);
    CHECK(NEAR(m.psnr_y, 10 * log10(65025 / 50.0), 1e-9), "psnr %.10f", m.psnr_y);
    CHECK(NEAR(m.psnr_b, 10 * log10(65025 / 87.5), 1e-9), "psnr-b %.10f", m.psnr_b);
    /* Shaved by 1 the grid stays that of the image: 14 rows cross x = 7|8, D_B = 50 again,
     * eta = 3 / log2 14, MSE = 50 (7 of 14 columns off). */
    m = compute(&ref, &test, 1, 1, NSR_Y_MATLAB);
    CHECK(NEAR(m.psnr_b, 10 * log10(65025 / (50 + 3 / log2(14) * 50)), 1e-9), "shaved psnr-b %.10f", m.psnr_b);
    /* The same step off the grid (x = 3|4) is an edge, not blocking: PSNR-B = PSNR. */
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) test.data[y * 16 + x] = (x < 4 ? 100.0f : 110.0f) / 255;
    m = compute(&ref, &test, 0, 0, NSR_Y_PT_IR);
    CHECK(m.psnr_b == m.psnr_y, "edge: psnr-b %.10f psnr %.10f", m.psnr_b, m.psnr_y);
    nsr_image_free(&ref);
    nsr_image_free(&test);
}

static void test_errors(void) {
    nsr_image a, b, g;
    int l[3] = {1, 2, 3};
    nsr_metrics m;
    nsr_error err;
    fill(&a, 16, 16, 3, l);
    fill(&b, 16, 15, 3, l);
    fill(&g, 16, 16, 1, l);
    CHECK(nsr_metrics_compute(&a, &b, 0, 0, NSR_Y_PT_IR, &m, &err) != 0 && strstr(err.message, "16x15"),
          "size mismatch: %s", err.message);
    CHECK(nsr_metrics_compute(&a, &g, 0, 0, NSR_Y_PT_IR, &m, &err) != 0 && strstr(err.message, "channel"),
          "channel mismatch: %s", err.message);
    CHECK(nsr_metrics_compute(&a, &a, 8, 0, NSR_Y_PT_IR, &m, &err) != 0 && strstr(err.message, "shave 8"),
          "shave 8: %s", err.message);
    CHECK(nsr_metrics_compute(&a, &a, 0, -1, NSR_Y_PT_IR, &m, &err) != 0, "negative shave accepted");
    nsr_y_convention y;
    CHECK(nsr_y_convention_parse("matlab", &y) == 0 && y == NSR_Y_MATLAB, "parse matlab");
    CHECK(nsr_y_convention_parse("pt_ir", &y) == 0 && y == NSR_Y_PT_IR, "parse pt_ir");
    CHECK(nsr_y_convention_parse("bt709", &y) != 0, "parse bt709 accepted");
    nsr_image_free(&a);
    nsr_image_free(&b);
    nsr_image_free(&g);
}

/* With ../shared/data: bicubic super-resolution of Set5 (LR by our MATLAB resize of the
 * mod-cropped HR, then enlarged by s the same way), Y-PSNR and SSIM under the matlab convention
 * with shave s, averaged over the five images, equal the published bicubic numbers in
 * ANCHORS.md to their last printed digit. */
static void test_set5_bicubic_anchors(void) {
    const char *data = test_data_dir();
    if (!data) SKIP("no ../shared/data");
    static const char *names[] = {"baby", "bird", "butterfly", "head", "woman"};
    static const double psnr_want[] = {33.640, 30.385, 28.416}, ssim_want[] = {0.9292, 0.8678, 0.8101};
    nsr_image hr[5];
    nsr_error err;
    char path[1024];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/Set5/%s.webp", data, names[i]);
        if (nsr_image_read(&hr[i], path, NULL, &err)) {
            CHECK(0, "%s", err.message);
            for (int j = 0; j < i; j++) nsr_image_free(&hr[j]);
            return;
        }
    }
    for (int s = 2; s <= 4; s++) {
        double psnr = 0, ssim = 0;
        for (int i = 0; i < 5; i++) {
            nsr_image gt, lr, sr;
            nsr_metrics m = {0, 0, 0, 0};
            int ok = nsr_image_copy(&gt, &hr[i], &err) == 0 && nsr_image_modcrop(&gt, s, &err) == 0 &&
                     nsr_resize_bicubic(&lr, &gt, 0, 0, 1.0 / s, 1.0 / s, 1, &err) == 0 &&
                     nsr_resize_bicubic(&sr, &lr, 0, 0, s, s, 1, &err) == 0 &&
                     nsr_metrics_compute(&gt, &sr, s, s + 6, NSR_Y_MATLAB, &m, &err) == 0;
            CHECK(ok, "%s x%d: %s", names[i], s, err.message);
            psnr += m.psnr_y / 5;
            ssim += m.ssim_y / 5;
            nsr_image_free(&gt);
            nsr_image_free(&lr);
            nsr_image_free(&sr);
        }
        CHECK(fabs(psnr - psnr_want[s - 2]) <= 0.0005 && fabs(ssim - ssim_want[s - 2]) <= 0.00005,
              "x%d: %.5f dB (%.6f), ANCHORS.md %.3f (%.4f)", s, psnr, ssim, psnr_want[s - 2], ssim_want[s - 2]);
    }
    for (int i = 0; i < 5; i++) nsr_image_free(&hr[i]);
}

int main(void) {
    RUN(test_identical);
    RUN(test_offset_one_level);
    RUN(test_y_conventions);
    RUN(test_quantised_first);
    RUN(test_shave);
    RUN(test_ssim_oracle_and_threads);
    RUN(test_psnr_b);
    RUN(test_errors);
    RUN(test_set5_bicubic_anchors);
    return test_summary();
}
