/* eval.c - the evaluation protocol of NSR.md section 5, one image at a time:
 * ground truth -> degraded input -> restored output -> metrics. The restorer is an interface, so
 * that bicubic, a trained network, or any later backend is evaluated by the same code. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nsr.h"

const char *nsr_task_describe(const nsr_task *task, char *buf, size_t size) {
    switch (task->kind) {
    case NSR_TASK_SR: snprintf(buf, size, "x%d super-resolution", task->scale); break;
    case NSR_TASK_DENOISE: snprintf(buf, size, "denoising sigma %g", task->noise_sigma); break;
    case NSR_TASK_JPEG: snprintf(buf, size, "JPEG q%d artifact removal", task->jpeg_quality); break;
    }
    return buf;
}

int nsr_task_degrade(nsr_image *input, nsr_image *gt, const nsr_task *task, uint64_t seed,
                     nsr_error *err) {
    memset(input, 0, sizeof *input);
    switch (task->kind) {
    case NSR_TASK_SR:
        /* HR is cropped to a multiple of s first; LR = MATLAB bicubic by 1/s on uint8. */
        if (nsr_image_modcrop(gt, task->scale, err)) return -1;
        return nsr_resize_bicubic(input, gt, gt->width / task->scale, gt->height / task->scale,
                                  1.0 / task->scale, 1.0 / task->scale, 1, err);
    case NSR_TASK_DENOISE:
        /* Noise in float, not clipped, from a fixed seed per image. */
        if (nsr_image_copy(input, gt, err)) return -1;
        nsr_add_gaussian_noise(input, task->noise_sigma, seed);
        return 0;
    case NSR_TASK_JPEG:
        return nsr_jpeg_degrade(input, gt, task->jpeg_quality, err);
    }
    return nsr_fail(err, "unknown task");
}

/* Bicubic baseline: MATLAB imresize by s for super-resolution (uint8 semantics for 8-bit
 * input, float for 16-bit, so that 16-bit images keep their precision); for denoising and JPEG
 * there is nothing to undo, so the input is the output. */
static int restore_bicubic(void *ctx, const nsr_task *task, const nsr_image *in, nsr_image *out,
                           nsr_error *err) {
    (void)ctx;
    if (task->kind != NSR_TASK_SR) return nsr_image_copy(out, in, err);
    return nsr_resize_bicubic(out, in, in->width * task->scale, in->height * task->scale,
                              task->scale, task->scale, in->bit_depth == 8, err);
}

const nsr_restorer nsr_bicubic_restorer = {"bicubic", NULL, restore_bicubic};

uint64_t nsr_seed_from_name(const char *name) {
    /* FNV-1a of the base name: the noise of an image does not depend on which other images
     * are in the folder or where the folder is. */
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)base; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* The degraded input under a protocol: as nsr_task_degrade, except for super-resolution under
 * pt_ir, whose LR is made as the reference code makes it (NSR.md section 7): MATLAB's bicubic
 * in floating point and one rounding to 8 bit at the end, not the rounding after each pass of
 * MATLAB's uint8 path. */
static int degrade(nsr_image *input, nsr_image *gt, const nsr_task *task, nsr_y_convention y,
                   uint64_t seed, nsr_error *err) {
    if (task->kind != NSR_TASK_SR || y != NSR_Y_PT_IR)
        return nsr_task_degrade(input, gt, task, seed, err);
    memset(input, 0, sizeof *input);
    const int s = task->scale;
    if (nsr_image_modcrop(gt, s, err) ||
        nsr_resize_bicubic(input, gt, gt->width / s, gt->height / s, 1.0 / s, 1.0 / s, 0, err))
        return -1;
    nsr_image_quantize8(input);
    input->bit_depth = 8;
    return 0;
}

int nsr_eval_image(const nsr_image *ground_truth, const nsr_task *task,
                   const nsr_restorer *restorer, nsr_y_convention y, uint64_t seed,
                   nsr_metrics *metrics, nsr_error *err) {
    nsr_image gt, input, output;
    memset(&input, 0, sizeof input);
    memset(&output, 0, sizeof output);
    if (nsr_image_copy(&gt, ground_truth, err)) return -1;
    int rc = -1;
    if (degrade(&input, &gt, task, y, seed, err)) goto done;
    if (restorer->restore(restorer->ctx, task, &input, &output, err)) goto done;
    if (output.width != gt.width || output.height != gt.height || output.channels != gt.channels) {
        nsr_fail(err, "%s produced %dx%dx%d for a %dx%dx%d ground truth", restorer->name,
                 output.width, output.height, output.channels, gt.width, gt.height, gt.channels);
        goto done;
    }
    /* Y metrics shave s pixels for super-resolution, RGB PSNR s + 6; nothing otherwise. */
    int shave = task->kind == NSR_TASK_SR ? task->scale : 0;
    int shave_rgb = task->kind == NSR_TASK_SR ? task->scale + 6 : 0;
    rc = nsr_metrics_compute(&gt, &output, shave, shave_rgb, y, metrics, err);
done:
    nsr_image_free(&gt);
    nsr_image_free(&input);
    nsr_image_free(&output);
    return rc;
}
