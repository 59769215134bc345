/* image_io.c - image files: format detection and the dispatch between the public API and the
 * codecs (png_io.c, jpeg_io.c, webp_io.c; what they share is in codec_common.c). */
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
