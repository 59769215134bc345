/* metrics.c - PSNR (RGB and Y), SSIM and PSNR-B under named protocols (NSR.md section 5).
 *
 * Every metric starts from 8-bit levels ("output quantised to 8 bit (round, clamp) before any
 * metric"), so a float image and the PNG written from it score the same. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nsr.h"

#define PEAK2 (255.0 * 255.0)

const char *nsr_y_convention_name(nsr_y_convention y) {
    return y == NSR_Y_MATLAB ? "matlab" : "pt_ir";
}

int nsr_y_convention_parse(const char *name, nsr_y_convention *y) {
    if (!strcmp(name, "pt_ir")) *y = NSR_Y_PT_IR;
    else if (!strcmp(name, "matlab")) *y = NSR_Y_MATLAB;
    else return -1;
    return 0;
}

/* A pair of images as 8-bit levels (channels planes each) and their Y planes. */
typedef struct metric_pair {
    int width, height, channels;
    nsr_y_convention y;
    uint8_t *ref, *test;
    double *ref_y, *test_y;
} metric_pair;

/* The region left after removing `shave` pixels from each side. */
typedef struct region {
    int x0, y0, width, height;
} region;

static region shaved(const metric_pair *p, int shave) {
    region r = {shave, shave, p->width - 2 * shave, p->height - 2 * shave};
    return r;
}

static void pair_free(metric_pair *p) {
    free(p->ref);
    free(p->test);
    free(p->ref_y);
    free(p->test_y);
}

/* Y of one pixel from 8-bit levels r, g, b (nsr.h, nsr_y_convention). */
static double luma(nsr_y_convention y, int r, int g, int b) {
    if (y == NSR_Y_PT_IR) return 16 + 0.257 * r + 0.504 * g + 0.098 * b;
    /* MATLAB rgb2ycbcr on uint8 scales its matrix by 1/255 and keeps the offset 16, combines the
     * planes in double (imlincomb: products in plane order, then the offset) and converts back
     * to uint8, rounding half away from zero. */
    double v = 65.481 / 255 * r + 128.553 / 255 * g + 24.966 / 255 * b + 16;
    return v >= 255 ? 255 : floor(v + 0.5);
}

int nsr_image_luma(nsr_image *dst, const nsr_image *src, nsr_error *err) {
    memset(dst, 0, sizeof *dst);
    if (src->channels != 1 && src->channels != 3)
        return nsr_fail(err, "luma of an image with %d channels", src->channels);
    if (nsr_image_create(dst, src->width, src->height, 1, 0, err)) return -1;
    dst->bit_depth = 8;
    const size_t n = (size_t)src->width * src->height;
    for (size_t i = 0; i < n; i++) {
        const int r = nsr_level8(src->data[i]);
        dst->data[i] = (float)((src->channels == 1
                                    ? r
                                    : luma(NSR_Y_MATLAB, r, nsr_level8(src->data[n + i]),
                                           nsr_level8(src->data[2 * n + i]))) / 255.0);
    }
    return 0;
}

static void levels_and_y(const nsr_image *img, nsr_y_convention y, uint8_t *lv, double *luma_out) {
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n * img->channels; i++) lv[i] = (uint8_t)nsr_level8(img->data[i]);
    for (size_t i = 0; i < n; i++)
        luma_out[i] = img->channels == 1 ? lv[i] : luma(y, lv[i], lv[n + i], lv[2 * n + i]);
}

static int pair_init(metric_pair *p, const nsr_image *ref, const nsr_image *test,
                     nsr_y_convention y, nsr_error *err) {
    memset(p, 0, sizeof *p);
    if (!ref->data || !test->data) return nsr_fail(err, "metrics: an image is empty");
    if (ref->width != test->width || ref->height != test->height || ref->channels != test->channels)
        return nsr_fail(err, "sizes differ: the reference is %dx%d with %d channel(s), the test "
                        "image %dx%d with %d", ref->width, ref->height, ref->channels, test->width,
                        test->height, test->channels);
    if (y != NSR_Y_PT_IR && y != NSR_Y_MATLAB)
        return nsr_fail(err, "unknown Y convention %d", (int)y);
    p->width = ref->width;
    p->height = ref->height;
    p->channels = ref->channels;
    p->y = y;
    size_t n = (size_t)p->width * p->height;
    p->ref = malloc(n * p->channels);
    p->test = malloc(n * p->channels);
    p->ref_y = malloc(n * sizeof(double));
    p->test_y = malloc(n * sizeof(double));
    if (!p->ref || !p->test || !p->ref_y || !p->test_y) {
        pair_free(p);
        return nsr_fail(err, "out of memory for metrics of a %dx%d image", p->width, p->height);
    }
    levels_and_y(ref, y, p->ref, p->ref_y);
    levels_and_y(test, y, p->test, p->test_y);
    return 0;
}

static double psnr_from_mse(double mse) { return mse > 0 ? 10 * log10(PEAK2 / mse) : INFINITY; }

static double mse_rgb(const metric_pair *p, region r) {
    size_t n = (size_t)p->width * p->height;
    double sum = 0;
    for (int c = 0; c < p->channels; c++)
        for (int y = r.y0; y < r.y0 + r.height; y++)
            for (int x = r.x0; x < r.x0 + r.width; x++) {
                size_t i = c * n + (size_t)y * p->width + x;
                double d = (double)p->ref[i] - p->test[i];
                sum += d * d;
            }
    return sum / ((double)r.width * r.height * p->channels);
}

/* MSE on Y. pt_ir on colour applies its weights to the 8-bit difference, as the reference code
 * does ("convert the difference with weights (0.257, 0.504, 0.098)"), rather than differencing
 * two offset luma planes; otherwise it is the difference of the Y planes. */
static double mse_y(const metric_pair *p, region r) {
    size_t n = (size_t)p->width * p->height;
    int weighted = p->y == NSR_Y_PT_IR && p->channels == 3;
    double sum = 0;
    for (int y = r.y0; y < r.y0 + r.height; y++)
        for (int x = r.x0; x < r.x0 + r.width; x++) {
            size_t i = (size_t)y * p->width + x;
            double d = weighted ? 0.257 * ((double)p->ref[i] - p->test[i]) +
                                      0.504 * ((double)p->ref[n + i] - p->test[n + i]) +
                                      0.098 * ((double)p->ref[2 * n + i] - p->test[2 * n + i])
                                : p->ref_y[i] - p->test_y[i];
            sum += d * d;
        }
    return sum / ((double)r.width * r.height);
}

/* ---- SSIM (Wang, Bovik, Sheikh, Simoncelli 2004, as their ssim_index.m): 11x11 Gaussian
 * window, sigma 1.5, normalised to sum 1; K = (0.01, 0.03), L = 255; local statistics by
 * 'valid' filtering;
 *   SSIM = (2 mu1 mu2 + C1)(2 sigma12 + C2) / ((mu1^2 + mu2^2 + C1)(sigma1^2 + sigma2^2 + C2)),
 * sigma1^2 = E[x^2] - mu1^2 etc.; the result is the mean of the map. The Gaussian is separable,
 * so the 2-D window is applied as a row pass and a column pass of the 1-D one. */
#define SSIM_WIN 11

static void gaussian_window(double g[SSIM_WIN]) {
    double sum = 0;
    for (int i = 0; i < SSIM_WIN; i++) {
        double d = i - SSIM_WIN / 2;
        g[i] = exp(-d * d / (2 * 1.5 * 1.5));
        sum += g[i];
    }
    for (int i = 0; i < SSIM_WIN; i++) g[i] /= sum;
}

/* The five local statistics of a window: means, mean squares, mean product. */
enum { ST_X, ST_Y, ST_XX, ST_YY, ST_XY, ST_COUNT };

static double ssim_y(const metric_pair *p, region r, int *ok) {
    *ok = r.width >= SSIM_WIN && r.height >= SSIM_WIN;
    if (!*ok) return NAN;
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    double g[SSIM_WIN];
    gaussian_window(g);
    int ow = r.width - SSIM_WIN + 1, oh = r.height - SSIM_WIN + 1, threads = omp_get_max_threads();
    size_t plane = (size_t)r.height * ow;
    /* rows: the statistics filtered along each row, plane t at rows + t * plane, row y at
     * + y * ow; cols: one row of the fully filtered statistics per thread. */
    double *rows = calloc((size_t)ST_COUNT * plane, sizeof *rows);
    double *cols = malloc((size_t)threads * ST_COUNT * ow * sizeof *cols);
    double *row_mean = malloc((size_t)oh * sizeof *row_mean);
    if (!rows || !cols || !row_mean) {
        free(rows);
        free(cols);
        free(row_mean);
        *ok = -1;
        return NAN;
    }
    /* Both passes add the taps in order k = 0..10 to every sample, looping over x innermost so
     * that the loops vectorise; the sums are those of a per-pixel loop, bit for bit. */
#pragma omp parallel for schedule(static)
    for (int y = 0; y < r.height; y++) {
        const double *a = p->ref_y + (size_t)(r.y0 + y) * p->width + r.x0;
        const double *b = p->test_y + (size_t)(r.y0 + y) * p->width + r.x0;
        double *sx = rows + (size_t)y * ow, *sy = sx + plane, *sxx = sy + plane, *syy = sxx + plane,
               *sxy = syy + plane;
        for (int k = 0; k < SSIM_WIN; k++)
            for (int x = 0; x < ow; x++) {
                double u = a[x + k], v = b[x + k];
                sx[x] += g[k] * u;
                sy[x] += g[k] * v;
                sxx[x] += g[k] * u * u;
                syy[x] += g[k] * v * v;
                sxy[x] += g[k] * u * v;
            }
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < oh; y++) {
        double *s = cols + (size_t)omp_get_thread_num() * ST_COUNT * ow;
        for (size_t i = 0; i < (size_t)ST_COUNT * ow; i++) s[i] = 0;
        for (int t = 0; t < ST_COUNT; t++)
            for (int k = 0; k < SSIM_WIN; k++) {
                const double *src = rows + t * plane + (size_t)(y + k) * ow;
                for (int x = 0; x < ow; x++) s[(size_t)t * ow + x] += g[k] * src[x];
            }
        double sum = 0;
        for (int x = 0; x < ow; x++) {
            double mu1 = s[x], mu2 = s[ow + x];
            double var1 = s[2 * ow + x] - mu1 * mu1, var2 = s[3 * ow + x] - mu2 * mu2;
            double cov = s[4 * ow + x] - mu1 * mu2;
            sum += (2 * mu1 * mu2 + c1) * (2 * cov + c2) /
                   ((mu1 * mu1 + mu2 * mu2 + c1) * (var1 + var2 + c2));
        }
        row_mean[y] = sum / ow;
    }
    /* The row means are added in row order: the same result for any thread count. */
    double total = 0;
    for (int y = 0; y < oh; y++) total += row_mean[y];
    free(rows);
    free(cols);
    free(row_mean);
    return total / oh;
}

/* ---- PSNR-B (Yim and Bovik, "Quality assessment of deblocked images", 2011): MSE-B = MSE +
 * BEF(test), BEF = eta (D_B - D_B^c) when D_B > D_B^c, else 0, where D_B is the mean squared
 * difference of horizontally or vertically neighbouring pixels across 8x8 block boundaries,
 * D_B^c the same over all other neighbouring pairs, and eta = log2(8) / log2(min(width,
 * height)). Boundaries are those of the whole image's grid (a pair (x, x + 1) with
 * (x + 1) % 8 == 0), also when the region is shaved; the counts are of the pairs present. */
#define BLOCK 8

static double blocking_effect_factor(const double *img, int stride, region r) {
    double sum[2] = {0, 0}; /* [0] off the block boundaries, [1] across them */
    double count[2] = {0, 0};
    for (int y = r.y0; y < r.y0 + r.height; y++)
        for (int x = r.x0; x < r.x0 + r.width; x++) {
            double v = img[(size_t)y * stride + x];
            if (x + 1 < r.x0 + r.width) {
                double d = v - img[(size_t)y * stride + x + 1];
                int across = (x + 1) % BLOCK == 0;
                sum[across] += d * d;
                count[across]++;
            }
            if (y + 1 < r.y0 + r.height) {
                double d = v - img[(size_t)(y + 1) * stride + x];
                int across = (y + 1) % BLOCK == 0;
                sum[across] += d * d;
                count[across]++;
            }
        }
    int side = r.width < r.height ? r.width : r.height;
    if (count[0] == 0 || count[1] == 0 || side < 2) return 0;
    double d_b = sum[1] / count[1], d_bc = sum[0] / count[0];
    return d_b > d_bc ? log2(BLOCK) / log2(side) * (d_b - d_bc) : 0;
}

static int check_shave(const char *what, int shave, int width, int height, nsr_error *err) {
    if (shave < 0 || 2 * (long)shave >= width || 2 * (long)shave >= height)
        return nsr_fail(err, "%s %d leaves no pixels of a %dx%d image", what, shave, width, height);
    return 0;
}

int nsr_metrics_compute(const nsr_image *ref, const nsr_image *test, int shave, int shave_rgb,
                        nsr_y_convention y, nsr_metrics *out, nsr_error *err) {
    metric_pair p;
    if (pair_init(&p, ref, test, y, err)) return -1;
    if (check_shave("shave", shave, p.width, p.height, err) ||
        check_shave("RGB shave", shave_rgb, p.width, p.height, err)) {
        pair_free(&p);
        return -1;
    }
    region r = shaved(&p, shave);
    double mse = mse_y(&p, r);
    int ok;
    out->psnr_y = psnr_from_mse(mse);
    out->psnr_rgb = psnr_from_mse(mse_rgb(&p, shaved(&p, shave_rgb)));
    out->psnr_b = psnr_from_mse(mse + blocking_effect_factor(p.test_y, p.width, r));
    out->ssim_y = ssim_y(&p, r, &ok);
    pair_free(&p);
    if (ok < 0) return nsr_fail(err, "out of memory for SSIM of a %dx%d image", ref->width, ref->height);
    return 0;
}
