/* degrade.c - synthetic degradations for denoising and JPEG-artifact work (NSR.md section 5). */
#include <stdlib.h>
#include <string.h>

#include "nsr.h"

void nsr_add_gaussian_noise(nsr_image *img, double sigma255, uint64_t seed) {
    size_t n = (size_t)img->width * img->height;
    double sigma = sigma255 / 255; /* samples are on the 0..1 scale */
    for (int c = 0; c < img->channels; c++) {
        float *d = nsr_image_plane(img, c);
        /* Each sample's noise is a function of (seed, c, i) alone, so the schedule is free. */
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++)
            d[i] = (float)(d[i] + sigma * nsr_rng_normal(seed, (uint64_t)c, i));
    }
}

int nsr_jpeg_degrade(nsr_image *dst, const nsr_image *src, int quality, nsr_error *err) {
    memset(dst, 0, sizeof *dst);
    if (quality < 1 || quality > 100)
        return nsr_fail(err, "JPEG quality %d is outside 1..100", quality);
    nsr_write_options opts = {NSR_FORMAT_JPEG, quality, 0};
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (nsr_image_encode(src, NSR_FORMAT_JPEG, &opts, &bytes, &size, err)) return -1;
    int rc = nsr_image_read_memory(dst, bytes, size, NULL, err);
    free(bytes);
    if (rc) return -1;
    if (dst->width != src->width || dst->height != src->height || dst->channels != src->channels) {
        nsr_image_free(dst);
        return nsr_fail(err, "JPEG round trip changed the image from %dx%dx%d to %dx%dx%d",
                        src->width, src->height, src->channels, dst->width, dst->height,
                        dst->channels);
    }
    if (src->alpha) {
        size_t n = (size_t)src->width * src->height;
        dst->alpha = malloc(n * sizeof *dst->alpha);
        if (!dst->alpha) {
            nsr_image_free(dst);
            return nsr_fail(err, "out of memory");
        }
        memcpy(dst->alpha, src->alpha, n * sizeof *dst->alpha);
    }
    return 0;
}
