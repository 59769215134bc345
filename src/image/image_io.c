/* image_io.c - image files: format detection, size limits, sample conversion, and the dispatch
 * between the public API and the codecs (png_io.c, jpeg_io.c, webp_io.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/image_io.h"

nsr_format nsr_detect_format(const uint8_t *bytes, size_t size) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!bytes) return NSR_FORMAT_UNKNOWN;
    if (size >= 8 && !memcmp(bytes, png_magic, 8)) return NSR_FORMAT_PNG;
    if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) return NSR_FORMAT_JPEG;
    if (size >= 12 && !memcmp(bytes, "RIFF", 4) && !memcmp(bytes + 8, "WEBP", 4))
        return NSR_FORMAT_WEBP;
    return NSR_FORMAT_UNKNOWN;
}

const char *nsr_format_name(nsr_format format) {
    switch (format) {
    case NSR_FORMAT_PNG: return "PNG";
    case NSR_FORMAT_JPEG: return "JPEG";
    case NSR_FORMAT_WEBP: return "WebP";
    default: return "unknown";
    }
}

nsr_format nsr_format_from_path(const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/')) return NSR_FORMAT_UNKNOWN;
    if (!strcasecmp(dot, ".png")) return NSR_FORMAT_PNG;
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return NSR_FORMAT_JPEG;
    if (!strcasecmp(dot, ".webp")) return NSR_FORMAT_WEBP;
    return NSR_FORMAT_UNKNOWN;
}

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

int imgio_create(nsr_image *img, uint64_t width, uint64_t height, int channels, int with_alpha,
                 uint64_t max_pixels, const char *format, nsr_error *err) {
    memset(img, 0, sizeof *img);
    if (imgio_check_size(width, height, max_pixels, format, err)) return -1;
    return nsr_image_create(img, (int)width, (int)height, channels, with_alpha, err);
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

int nsr_image_read_memory(nsr_image *img, const uint8_t *bytes, size_t size,
                          const nsr_read_options *opts, nsr_error *err) {
    memset(img, 0, sizeof *img);
    uint64_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : NSR_DEFAULT_MAX_PIXELS;
    if (!bytes || size == 0) return nsr_fail(err, "empty file");
    switch (nsr_detect_format(bytes, size)) {
    case NSR_FORMAT_PNG: return imgio_png_decode(img, bytes, size, max_pixels, err);
    case NSR_FORMAT_JPEG: return imgio_jpeg_decode(img, bytes, size, max_pixels, err);
    case NSR_FORMAT_WEBP: return imgio_webp_decode(img, bytes, size, max_pixels, err);
    default: return nsr_fail(err, "not a PNG, JPEG or WebP file (unrecognised content)");
    }
}

int nsr_image_read(nsr_image *img, const char *path, const nsr_read_options *opts,
                   nsr_error *err) {
    memset(img, 0, sizeof *img);
    uint8_t *bytes;
    size_t size;
    if (nsr_read_file(path, &bytes, &size, err)) return -1;
    nsr_error inner;
    int rc = nsr_image_read_memory(img, bytes, size, opts, &inner);
    free(bytes);
    if (rc) return nsr_fail(err, "%s: %s", path, inner.message);
    return 0;
}

int nsr_image_encode(const nsr_image *img, nsr_format format, const nsr_write_options *opts,
                     uint8_t **out, size_t *out_size, nsr_error *err) {
    *out = NULL;
    *out_size = 0;
    int quality = opts ? opts->quality : 0;
    int depth = opts && opts->bit_depth ? opts->bit_depth : img->bit_depth == 16 ? 16 : 8;
    if (!img->data || img->width <= 0 || img->height <= 0 ||
        (img->channels != 1 && img->channels != 3))
        return nsr_fail(err, "cannot encode an invalid image (%dx%d, %d channels)", img->width,
                        img->height, img->channels);
    if (quality < 0 || quality > 100)
        return nsr_fail(err, "quality %d is out of range (1..100, or 0 for the default)", quality);
    if (depth != 8 && depth != 16)
        return nsr_fail(err, "bit depth %d is not supported (8 or 16)", depth);
    imgio_buf buf = {0};
    int rc;
    switch (format) {
    case NSR_FORMAT_PNG: rc = imgio_png_encode(img, depth, &buf, err); break;
    case NSR_FORMAT_JPEG: rc = imgio_jpeg_encode(img, quality ? quality : 95, &buf, err); break;
    case NSR_FORMAT_WEBP: rc = imgio_webp_encode(img, quality, &buf, err); break;
    default: return nsr_fail(err, "cannot encode: unknown output format");
    }
    if (rc) {
        free(buf.data);
        return -1;
    }
    *out = buf.data;
    *out_size = buf.size;
    return 0;
}

int nsr_image_write(const nsr_image *img, const char *path, const nsr_write_options *opts,
                    nsr_error *err) {
    nsr_format format = opts && opts->format ? opts->format : nsr_format_from_path(path);
    if (format == NSR_FORMAT_UNKNOWN) {
        const char *dot = strrchr(path, '.'), *hint = "(use .png, .jpg, .jpeg or .webp)";
        if (!dot || strchr(dot, '/'))
            return nsr_fail(err, "%s: no extension to tell the image format %s", path, hint);
        return nsr_fail(err, "%s: unknown image format extension '%s' %s", path, dot, hint);
    }
    uint8_t *bytes;
    size_t size;
    nsr_error inner;
    if (nsr_image_encode(img, format, opts, &bytes, &size, &inner))
        return nsr_fail(err, "%s: %s", path, inner.message);
    int rc = nsr_write_file_atomic(path, bytes, size, err);
    free(bytes);
    return rc;
}
