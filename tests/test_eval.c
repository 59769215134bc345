/* test_eval.c - the evaluation protocol (src/run/eval.c, NSR.md section 5) on small made-up
 * images, against the numbers worked out by hand here: the crop to a multiple of the scale,
 * the shaves (s for Y, s + 6 for RGB), the per-image noise seed, the task names and the check
 * of the restorer's output size, the LR each protocol makes. No files are read. */
#include <stdint.h>

#include "check.h"
#include "nsr.h"

/* A w x h RGB ground truth of 8-bit levels 20..219 (no clamping within +-30 of them). */
static nsr_image ground_truth(int w, int h) {
    nsr_image img;
    nsr_error err;
    if (nsr_image_create(&img, w, h, 3, 0, &err)) abort();
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < w * h; i++)
            nsr_image_plane(&img, c)[i] = (float)(20 + (i * 7 + c * 31) % 200) / 255.0f;
    return img;
}

/* A restorer that knows the answer: the ground truth's top-left corner at the restored size,
 * each level raised by `offset`, except the pixels at distance band0 <= dist < band1 from the
 * border, which are set to black (what a shave must hide, or must not). */
typedef struct oracle {
    const nsr_image *gt;
    int scale, offset, band0, band1, wrong_size;
} oracle;

static int restore_oracle(void *ctx, const nsr_task *task, const nsr_image *in, nsr_image *out,
                          nsr_error *err) {
    const oracle *o = ctx;
    const int s = task->kind == NSR_TASK_SR ? task->scale : 1;
    const int w = in->width * s + o->wrong_size, h = in->height * s;
    if (nsr_image_create(out, w, h, 3, 0, err)) return -1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int dx = x < w - 1 - x ? x : w - 1 - x, dy = y < h - 1 - y ? y : h - 1 - y;
                const int dist = dx < dy ? dx : dy;
                const float v = nsr_image_plane(o->gt, c)[(size_t)y * o->gt->width + x];
                nsr_image_plane(out, c)[(size_t)y * w + x] =
                    dist >= o->band0 && dist < o->band1 ? 0.0f : v + o->offset / 255.0f;
            }
    return 0;
}

/* PSNR of a constant error of e levels on the 0-255 scale. */
static double psnr_of(double e) { return 10 * log10(255.0 * 255.0 / (e * e)); }

static void test_sr_shaves_and_crop(void) {
    /* 35 x 27 is cropped to 34 x 26 at x2; the restorer's +2 levels everywhere give
     * PSNR-RGB = psnr_of(2) and, on Y (pt_ir: 0.257 R + 0.504 G + 0.098 B on the difference),
     * psnr_of(2 * 0.859). */
    nsr_image gt = ground_truth(35, 27);
    const nsr_task task = {.kind = NSR_TASK_SR, .scale = 2};
    const double want_y = psnr_of(2 * (0.257 + 0.504 + 0.098)), want_rgb = psnr_of(2);
    /* black border of width 2 (= s): both shaves hide it */
    oracle o = {&gt, 2, 2, 0, 2, 0};
    nsr_restorer r = {"oracle", &o, restore_oracle};
    nsr_metrics m;
    nsr_error err = {{0}};
    REQUIRE(nsr_eval_image(&gt, &task, &r, NSR_Y_PT_IR, 0, &m, &err) == 0, "%s", err.message);
    CHECK(fabs(m.psnr_y - want_y) < 1e-9, "PSNR-Y %.12f, by hand %.12f", m.psnr_y, want_y);
    CHECK(fabs(m.psnr_rgb - want_rgb) < 1e-9, "PSNR-RGB %.12f, by hand %.12f", m.psnr_rgb,
          want_rgb);
    CHECK(m.ssim_y < 1 && m.ssim_y > 0.99, "SSIM-Y %.6f for a shift of 2 levels", m.ssim_y);
    CHECK(gt.width == 35 && gt.height == 27, "the caller's ground truth was cropped");
    /* black from 2 to 8 pixels in: the Y shave (2) keeps it, the RGB shave (8) hides it */
    o.band0 = 2, o.band1 = 8;
    REQUIRE(nsr_eval_image(&gt, &task, &r, NSR_Y_PT_IR, 0, &m, &err) == 0, "%s", err.message);
    CHECK(m.psnr_y < want_y - 10, "PSNR-Y %.3f: the band inside the shave was not measured",
          m.psnr_y);
    CHECK(fabs(m.psnr_rgb - want_rgb) < 1e-9, "PSNR-RGB %.12f, by hand %.12f", m.psnr_rgb,
          want_rgb);
    /* a restored image of the wrong size is an error naming the restorer */
    o.wrong_size = 1;
    CHECK(nsr_eval_image(&gt, &task, &r, NSR_Y_PT_IR, 0, &m, &err) != 0, "a wrong size passed");
    CHECK(strstr(err.message, "oracle produced 35x26x3 for a 34x26x3 ground truth") != NULL,
          "message: %s", err.message);
    nsr_image_free(&gt);
}

/* Denoising with the identity restorer: the error is the noise itself, sample i of plane c
 * being sigma/255 * nsr_rng_normal(seed, c, i), measured after both images are rounded to
 * 8-bit levels; no shave. */
static void test_denoise_noise_and_seed(void) {
    nsr_image gt = ground_truth(16, 12);
    const nsr_task task = {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 15};
    const uint64_t seed = nsr_seed_from_name("some/folder/bird.png");
    CHECK(seed == nsr_seed_from_name("bird.png"), "the seed depends on the folder");
    const size_t n = (size_t)gt.width * gt.height;
    double se = 0;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) {
            const float v = nsr_image_plane(&gt, c)[i];
            const float noisy = v + (float)(15 / 255.0 * nsr_rng_normal(seed, c, i));
            const double d = nsr_level8(noisy) - nsr_level8(v);
            se += d * d;
        }
    const double want_rgb = 10 * log10(255.0 * 255.0 / (se / (3.0 * n)));
    nsr_metrics m;
    nsr_error err = {{0}};
    REQUIRE(nsr_eval_image(&gt, &task, &nsr_bicubic_restorer, NSR_Y_PT_IR, seed, &m, &err) == 0,
            "%s", err.message);
    CHECK(fabs(m.psnr_rgb - want_rgb) < 1e-9, "PSNR-RGB %.12f, by hand %.12f", m.psnr_rgb,
          want_rgb);
    nsr_image_free(&gt);
}

static void test_task_names_and_seeds(void) {
    char buf[64];
    const nsr_task sr = {.kind = NSR_TASK_SR, .scale = 3};
    const nsr_task dn = {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 25};
    const nsr_task jp = {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 10};
    CHECK(!strcmp(nsr_task_describe(&sr, buf, sizeof buf), "x3 super-resolution"), "%s", buf);
    CHECK(!strcmp(nsr_task_describe(&dn, buf, sizeof buf), "denoising sigma 25"), "%s", buf);
    CHECK(!strcmp(nsr_task_describe(&jp, buf, sizeof buf), "JPEG q10 artifact removal"), "%s",
          buf);
    /* FNV-1a's steps on the base name, from the basis eval.c has used since its first results
     * (1469598103934665603, a digit short of FNV's published 14695981039346656037): pinned,
     * since every published noise number depends on it */
    CHECK(nsr_seed_from_name("") == 0x14650fb0739d0383ull, "seed of \"\"");
    CHECK(nsr_seed_from_name("dir/a") == 0x44bd8ad473cd9906ull, "seed of \"a\"");
}

/* A restorer that keeps a copy of its input (the LR) and returns bicubic's output. */
static int restore_keeping_input(void *ctx, const nsr_task *task, const nsr_image *in,
                                 nsr_image *out, nsr_error *err) {
    nsr_image *kept = ctx;
    nsr_image_free(kept);
    if (nsr_image_copy(kept, in, err)) return -1;
    return nsr_bicubic_restorer.restore(NULL, task, in, out, err);
}

/* The LR of super-resolution: MATLAB's uint8 path (a rounding after each pass) under matlab;
 * under pt_ir, as the reference code made it, the float resize rounded once at the end. The
 * two differ in some pixels of a textured image. */
static void test_sr_lr_by_protocol(void) {
    nsr_image gt = ground_truth(63, 48), lr = {0}, want_matlab, want_pt_ir;
    const nsr_task task = {.kind = NSR_TASK_SR, .scale = 3};
    nsr_restorer r = {"keeper", &lr, restore_keeping_input};
    nsr_metrics m;
    nsr_error err = {{0}};
    gt.bit_depth = 8;
    REQUIRE(!nsr_resize_bicubic(&want_matlab, &gt, 21, 16, 1.0 / 3, 1.0 / 3, 1, &err) &&
            !nsr_resize_bicubic(&want_pt_ir, &gt, 21, 16, 1.0 / 3, 1.0 / 3, 0, &err), "%s",
            err.message);
    nsr_image_quantize8(&want_pt_ir);
    const size_t n = (size_t)3 * 21 * 16;
    REQUIRE(nsr_eval_image(&gt, &task, &r, NSR_Y_MATLAB, 0, &m, &err) == 0, "%s", err.message);
    CHECK(lr.width == 21 && lr.height == 16 && !memcmp(lr.data, want_matlab.data, n * sizeof(float)),
          "matlab: the LR is not MATLAB's uint8 resize");
    REQUIRE(nsr_eval_image(&gt, &task, &r, NSR_Y_PT_IR, 0, &m, &err) == 0, "%s", err.message);
    CHECK(lr.width == 21 && lr.height == 16 && !memcmp(lr.data, want_pt_ir.data, n * sizeof(float)),
          "pt_ir: the LR is not the float resize rounded once");
    CHECK(memcmp(want_matlab.data, want_pt_ir.data, n * sizeof(float)), "the two LRs are equal here");
    nsr_image *all[] = {&gt, &lr, &want_matlab, &want_pt_ir};
    for (int i = 0; i < 4; i++) nsr_image_free(all[i]);
}

int main(void) {
    RUN(test_sr_shaves_and_crop);
    RUN(test_sr_lr_by_protocol);
    RUN(test_denoise_noise_and_seed);
    RUN(test_task_names_and_seeds);
    return test_summary();
}
