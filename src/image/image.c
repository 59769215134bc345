/* image.c - the float-plane image: allocation, copies, crops, quantisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "nsr.h"

int nsr_image_create(nsr_image *img, int width, int height, int channels, int with_alpha,
                     nsr_error *err) {
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0) return nsr_fail(err, "invalid image size %dx%d", width, height);
    if (channels != 1 && channels != 3)
        return nsr_fail(err, "invalid channel count %d (1 or 3)", channels);
    size_t plane = (size_t)width * (size_t)height;
    if (plane > SIZE_MAX / sizeof(float) / 4) return nsr_fail(err, "image too large");
    img->data = mem_calloc_large(plane * (size_t)channels, sizeof(float));
    img->alpha = with_alpha ? calloc(plane, sizeof(float)) : NULL;
    if (!img->data || (with_alpha && !img->alpha)) {
        nsr_image_free(img);
        return nsr_fail(err, "out of memory for a %dx%d image", width, height);
    }
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->bit_depth = 8;
    return 0;
}

void nsr_image_free(nsr_image *img) {
    if (!img) return;
    free(img->data);
    free(img->alpha);
    free(img->icc);
    free(img->exif);
    memset(img, 0, sizeof *img);
}

int nsr_image_grey_to_rgb(nsr_image *dst, const nsr_image *src, nsr_error *err) {
    memset(dst, 0, sizeof *dst);
    if (src->channels != 1) return nsr_fail(err, "not a grey image: %d channels", src->channels);
    if (nsr_image_create(dst, src->width, src->height, 3, 0, err)) return -1;
    for (int c = 0; c < 3; c++)
        memcpy(nsr_image_plane(dst, c), src->data, (size_t)src->width * src->height * sizeof(float));
    dst->bit_depth = src->bit_depth;
    return 0;
}

/* A malloc'd copy of size bytes (NULL for none), or -1 when out of memory. */
static int copy_bytes(uint8_t **dst, size_t *dst_size, const uint8_t *src, size_t size) {
    free(*dst);
    *dst = NULL;
    *dst_size = 0;
    if (!size) return 0;
    if (!(*dst = malloc(size))) return -1;
    memcpy(*dst, src, size);
    *dst_size = size;
    return 0;
}

int nsr_image_copy_metadata(nsr_image *dst, const nsr_image *src, nsr_error *err) {
    if (copy_bytes(&dst->icc, &dst->icc_size, src->icc, src->icc_size) ||
        copy_bytes(&dst->exif, &dst->exif_size, src->exif, src->exif_size))
        return nsr_fail(err, "out of memory for the image's metadata");
    dst->dpi_x = src->width > 0 ? src->dpi_x * dst->width / src->width : 0;
    dst->dpi_y = src->height > 0 ? src->dpi_y * dst->height / src->height : 0;
    return 0;
}

int nsr_image_copy(nsr_image *dst, const nsr_image *src, nsr_error *err) {
    if (nsr_image_create(dst, src->width, src->height, src->channels, src->alpha != NULL, err))
        return -1;
    size_t plane = (size_t)src->width * src->height;
    memcpy(dst->data, src->data, plane * src->channels * sizeof(float));
    if (src->alpha) memcpy(dst->alpha, src->alpha, plane * sizeof(float));
    dst->bit_depth = src->bit_depth;
    if (nsr_image_copy_metadata(dst, src, err)) {
        nsr_image_free(dst);
        return -1;
    }
    return 0;
}

int nsr_image_modcrop(nsr_image *img, int m, nsr_error *err) {
    if (m <= 0) return nsr_fail(err, "invalid crop multiple %d", m);
    int w = img->width - img->width % m, h = img->height - img->height % m;
    if (w <= 0 || h <= 0)
        return nsr_fail(err, "image %dx%d is smaller than the scale %d", img->width, img->height, m);
    if (w == img->width && h == img->height) return 0;
    /* Rows move towards the front in place: each destination row starts at or before its source. */
    int planes = img->channels + (img->alpha ? 1 : 0);
    for (int c = 0; c < planes; c++) {
        float *src = c < img->channels ? nsr_image_plane(img, c) : img->alpha;
        float *dst = c < img->channels ? img->data + (size_t)c * w * h : img->alpha;
        for (int y = 0; y < h; y++) memmove(dst + (size_t)y * w, src + (size_t)y * img->width, w * sizeof(float));
    }
    img->width = w;
    img->height = h;
    return 0;
}

void nsr_image_quantize8(nsr_image *img) {
    size_t n = (size_t)img->width * img->height * img->channels;
    for (size_t i = 0; i < n; i++) img->data[i] = nsr_level8(img->data[i]) / 255.0f;
}
