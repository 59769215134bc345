/* codec_common.c - what the codecs (png_io.c, jpeg_io.c, webp_io.c) share: the output buffer,
 * size limits, the EXIF orientation's geometry, and the conversion between their interleaved rows and nsr_image's planes
 * (image_io.h). Apart from image_io.c, which calls the codecs, so that no two files call each
 * other. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_io.h"

int imgio_buf_append(imgio_buf *b, const void *bytes, size_t n) {
    if (n > SIZE_MAX / 2 - b->size) return -1;
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->size + n) cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->size, bytes, n);
    b->size += n;
    return 0;
}

int imgio_check_size(uint64_t width, uint64_t height, uint64_t max_pixels, const char *format,
                     nsr_error *err) {
    if (width == 0 || height == 0)
        return nsr_fail(err, "invalid %s: image size %llux%llu", format, (unsigned long long)width,
                        (unsigned long long)height);
    if (width > INT_MAX || height > INT_MAX || width * height > max_pixels)
        return nsr_fail(err,
                        "%s image is %llux%llu, over the limit of %llu pixels "
                        "(raise it with max_pixels or --max-pixels)",
                        format, (unsigned long long)width, (unsigned long long)height,
                        (unsigned long long)max_pixels);
    return 0;
}

int imgio_create(nsr_image *img, uint64_t width, uint64_t height, int orientation, int channels,
                 int with_alpha, uint64_t max_pixels, const char *format, nsr_error *err) {
    memset(img, 0, sizeof *img);
    if (imgio_check_size(width, height, max_pixels, format, err)) return -1;
    const int transposed = orientation >= 5;
    return nsr_image_create(img, (int)(transposed ? height : width),
                            (int)(transposed ? width : height), channels, with_alpha, err);
}

void imgio_orient_row(int orientation, size_t width, size_t height, size_t y, size_t *base,
                      ptrdiff_t *step) {
    /* Orientations 5..8 transpose; the others only mirror. */
    static const unsigned char transpose[9] = {0, 0, 0, 0, 0, 1, 1, 1, 1};
    static const unsigned char flip_x[9] = {0, 0, 1, 1, 0, 0, 0, 1, 1};
    static const unsigned char flip_y[9] = {0, 0, 0, 1, 1, 0, 1, 1, 0};
    if (orientation < 1 || orientation > 8) orientation = 1;
    size_t row = flip_y[orientation] ? height - 1 - y : y;
    if (transpose[orientation]) {
        /* Source column x becomes display row x (or width - 1 - x); source row y its column. */
        *base = row + (flip_x[orientation] ? (width - 1) * height : 0);
        *step = flip_x[orientation] ? -(ptrdiff_t)height : (ptrdiff_t)height;
    } else {
        *base = row * width + (flip_x[orientation] ? width - 1 : 0);
        *step = flip_x[orientation] ? -1 : 1;
    }
}

int imgio_set_icc(nsr_image *img, const uint8_t *icc, size_t size, nsr_error *err) {
    free(img->icc);
    img->icc = NULL;
    img->icc_size = 0;
    if (!size) return 0;
    img->icc = malloc(size);
    if (!img->icc) return nsr_fail(err, "out of memory for a %zu-byte ICC profile", size);
    memcpy(img->icc, icc, size);
    img->icc_size = size;
    return 0;
}

void imgio_store_row(nsr_image *img, const uint8_t *row, int count, int bytes_per_sample,
                     size_t base, ptrdiff_t step) {
    int n = img->channels + (img->alpha ? 1 : 0);
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < n; c++) {
        float *dst = (c < img->channels ? img->data + (size_t)c * plane : img->alpha) + base;
        const uint8_t *src = row + (size_t)c * bytes_per_sample;
        size_t stride = (size_t)n * bytes_per_sample;
        if (bytes_per_sample == 1) {
            for (int x = 0; x < count; x++, src += stride) dst[x * step] = src[0] / 255.0f;
        } else {
            for (int x = 0; x < count; x++, src += stride)
                dst[x * step] = (src[0] << 8 | src[1]) / 65535.0f;
        }
    }
}

/* Round to nearest, half away from zero, and clamp; NaN becomes 0. In double, as nsr_level8
 * (which this is for max = 255, so that a written 8-bit file holds the levels the metrics
 * measured): v * max + 0.5 in float rounds some samples just under a half level up. */
static unsigned quantize(float v, unsigned max) {
    const double s = (double)v * max;
    if (!(s > 0)) return 0;
    return s >= max ? max : (unsigned)(s + 0.5);
}

void imgio_load_row(const nsr_image *img, int y, uint8_t *row, int bytes_per_sample,
                    int out_channels, int with_alpha) {
    int n = out_channels + (with_alpha ? 1 : 0);
    unsigned max = bytes_per_sample == 1 ? 255 : 65535;
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < n; c++) {
        const float *src = NULL; /* NULL: an opaque alpha the image does not have */
        if (c < out_channels)
            src = img->data + (size_t)(img->channels == 1 ? 0 : c) * plane;
        else if (img->alpha)
            src = img->alpha;
        uint8_t *dst = row + (size_t)c * bytes_per_sample;
        size_t stride = (size_t)n * bytes_per_sample;
        for (int x = 0; x < img->width; x++, dst += stride) {
            unsigned v = src ? quantize(src[(size_t)y * img->width + x], max) : max;
            if (bytes_per_sample == 1) {
                dst[0] = (uint8_t)v;
            } else {
                dst[0] = (uint8_t)(v >> 8);
                dst[1] = (uint8_t)v;
            }
        }
    }
}
