/* nsr.h - public API of libnsr: Neural Sparse Representation image restoration.
 *
 * Conventions used throughout:
 *  - Functions that can fail return 0 on success and non-zero on failure, and fill the
 *    caller's nsr_error with one human-readable line (no trailing newline).
 *  - Images are float planes, values on the 0..1 scale (8-bit value v is v/255, 16-bit v/65535),
 *    colour planes stored plane after plane (C, H, W) so that the data is directly a network
 *    input tensor. Alpha, when present, is a separate plane.
 *  - No global state; every allocation has a matching free.
 */
#ifndef NSR_H
#define NSR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NSR_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef struct nsr_error {
    char message[512];
} nsr_error;

/* Formats message into err (if err is non-NULL) and returns -1, so callers can write
 * `return nsr_fail(err, "...", ...);`. */
int nsr_fail(nsr_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------- images */

typedef struct nsr_image {
    int width, height;
    int channels;        /* colour planes: 1 (grey) or 3 (RGB) */
    int bit_depth;       /* precision of the source: 8 or 16; writers keep it where the format can */
    float *data;         /* channels * height * width, plane after plane, 0..1 */
    float *alpha;        /* height * width, 0..1, or NULL when the image has no alpha */
    uint8_t *icc;        /* ICC profile bytes carried from input to output, or NULL */
    size_t icc_size;
} nsr_image;

/* Allocates an image with zeroed planes (alpha only when with_alpha). */
int nsr_image_create(nsr_image *img, int width, int height, int channels, int with_alpha,
                     nsr_error *err);
void nsr_image_free(nsr_image *img);
int nsr_image_copy(nsr_image *dst, const nsr_image *src, nsr_error *err);
/* Pointer to colour plane c. */
static inline float *nsr_image_plane(const nsr_image *img, int c) {
    return img->data + (size_t)c * img->width * img->height;
}
/* Crops to the top-left (width - width % m) x (height - height % m), as MATLAB's modcrop. */
int nsr_image_modcrop(nsr_image *img, int m, nsr_error *err);
/* Rounds every sample to the nearest 8-bit level, clamped to 0..255 (the quantisation that
 * precedes every metric, NSR.md section 5). */
void nsr_image_quantize8(nsr_image *img);

/* ---------------------------------------------------------------- image files */

typedef enum nsr_format {
    NSR_FORMAT_UNKNOWN = 0,
    NSR_FORMAT_PNG,
    NSR_FORMAT_JPEG,
    NSR_FORMAT_WEBP
} nsr_format;

typedef struct nsr_read_options {
    uint64_t max_pixels;  /* refuse images with more pixels than this; 0 means the default */
} nsr_read_options;

#define NSR_DEFAULT_MAX_PIXELS 400000000ull /* 400 megapixels */

typedef struct nsr_write_options {
    nsr_format format;    /* NSR_FORMAT_UNKNOWN: from the file name's extension */
    int quality;          /* JPEG 1..100, WebP 1..100; 0 = default (JPEG 95, WebP lossless) */
    int bit_depth;        /* PNG: 8 or 16; 0 = the image's own bit_depth */
} nsr_write_options;

/* Detects the format from the first bytes of a file's content. */
nsr_format nsr_detect_format(const uint8_t *bytes, size_t size);
const char *nsr_format_name(nsr_format format);
/* Format from a file name's extension (.png, .jpg/.jpeg, .webp), or NSR_FORMAT_UNKNOWN. */
nsr_format nsr_format_from_path(const char *path);

/* Reads PNG, JPEG or WebP (detected from content). opts may be NULL. */
int nsr_image_read(nsr_image *img, const char *path, const nsr_read_options *opts,
                   nsr_error *err);
int nsr_image_read_memory(nsr_image *img, const uint8_t *bytes, size_t size,
                          const nsr_read_options *opts, nsr_error *err);
/* Writes atomically: to a temporary file in the same folder, then renamed over path. */
int nsr_image_write(const nsr_image *img, const char *path, const nsr_write_options *opts,
                    nsr_error *err);
/* Encodes into a malloc'd buffer (*out, *out_size); the caller frees it. */
int nsr_image_encode(const nsr_image *img, nsr_format format, const nsr_write_options *opts,
                     uint8_t **out, size_t *out_size, nsr_error *err);

/* Writes size bytes to path atomically (temporary name in the same folder, fsync, rename). */
int nsr_write_file_atomic(const char *path, const void *bytes, size_t size, nsr_error *err);
/* Reads a whole file into a malloc'd buffer. */
int nsr_read_file(const char *path, uint8_t **bytes, size_t *size, nsr_error *err);

/* ---------------------------------------------------------------- resampling (src/resize.c) */

/* ---------------------------------------------------------------- metrics (src/metrics.c) */

/* ---------------------------------------------------------------- degradations (src/degrade.c, src/rng.c) */

/* ---------------------------------------------------------------- evaluation (src/eval.c) */

/* ---------------------------------------------------------------- engine: tensors, layers, model (issue 3) */

#ifdef __cplusplus
}
#endif
#endif /* NSR_H */
