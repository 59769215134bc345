/* image_io.h - private interface between the image-file dispatcher (image_io.c) and the codecs
 * (png_io.c, jpeg_io.c, webp_io.c), and the helpers the codecs share (codec_common.c).
 *
 * Decoders get the whole file in memory and fill an nsr_image; they name the format and the
 * reason in err but not the file (nsr_image_read adds the name). Encoders append the file to an
 * imgio_buf. All of them return 0 or -1 and leave nothing allocated on failure. */
#ifndef NSR_IMAGE_IO_H
#define NSR_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "nsr.h"

/* A growing output buffer (malloc'd; data is NULL until the first append). */
typedef struct imgio_buf {
    uint8_t *data;
    size_t size, cap;
} imgio_buf;

int imgio_buf_append(imgio_buf *b, const void *bytes, size_t n);

/* Checks width x height against max_pixels and what nsr_image can hold. Decoders call it as
 * soon as the header is parsed, before their libraries allocate anything for the pixels. */
int imgio_check_size(uint64_t width, uint64_t height, uint64_t max_pixels, const char *format,
                     nsr_error *err);
/* imgio_check_size, then allocates the image (bit_depth 8) of a width x height file as it is
 * shown once the EXIF orientation (1..8) is applied: 5..8 swap width and height. */
int imgio_create(nsr_image *img, uint64_t width, uint64_t height, int orientation, int channels,
                 int with_alpha, uint64_t max_pixels, const char *format, nsr_error *err);
/* Copies an ICC profile into img->icc. */
int imgio_set_icc(nsr_image *img, const uint8_t *icc, size_t size, nsr_error *err);

/* EXIF (exif.c): the TIFF structure from its byte-order mark on. The orientation of IFD0, 1..8
 * (1 when absent or malformed); its resolution in pixels per inch (0 and 0 when absent). */
int imgio_exif_orientation(const uint8_t *exif, size_t size);
void imgio_exif_resolution(const uint8_t *exif, size_t size, double *dpi_x, double *dpi_y);
/* Copies EXIF into img->exif (a leading "Exif\0\0" dropped; nothing kept when it is not a TIFF
 * structure) with its orientation set to 1, as the decoder applies it to the pixels. */
int imgio_set_exif(nsr_image *img, const uint8_t *exif, size_t size, nsr_error *err);
/* A malloc'd copy of img->exif (img->exif_size bytes; NULL when none) made true for the
 * pixels written: orientation 1, the pixel size img's, the resolution img's when it has one. */
int imgio_exif_for_output(const nsr_image *img, uint8_t **out, nsr_error *err);
/* Where row y of a stored width x height image lands when orientation is applied, for
 * imgio_store_row: plane offset base + x * step for pixel x. */
void imgio_orient_row(int orientation, size_t width, size_t height, size_t y, size_t *base,
                      ptrdiff_t *step);

/* Decoded rows arrive as count pixels of interleaved samples: the image's colour samples, then
 * alpha when the image has an alpha plane; bytes_per_sample 1, or 2 for big-endian 16-bit.
 * Pixel x of the row goes to plane offset base + x * step, which lets the JPEG reader rotate
 * while it decodes. */
void imgio_store_row(nsr_image *img, const uint8_t *row, int count, int bytes_per_sample,
                     size_t base, ptrdiff_t step);
/* The reverse for encoders: row y as interleaved samples, rounded to nearest and clamped.
 * out_channels is 1 or 3 (a grey image is repeated into three samples when 3), followed by
 * alpha when with_alpha (255 or 65535 where the image has none). */
void imgio_load_row(const nsr_image *img, int y, uint8_t *row, int bytes_per_sample,
                    int out_channels, int with_alpha);

int imgio_png_decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                     nsr_error *err);
int imgio_jpeg_decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                      nsr_error *err);
int imgio_webp_decode(nsr_image *img, const uint8_t *bytes, size_t size, uint64_t max_pixels,
                      nsr_error *err);

/* bit_depth 8 or 16. */
int imgio_png_encode(const nsr_image *img, int bit_depth, imgio_buf *out, nsr_error *err);
/* quality 1..100; alpha is dropped. */
int imgio_jpeg_encode(const nsr_image *img, int quality, imgio_buf *out, nsr_error *err);
/* quality 0 for lossless, else lossy 1..100. */
int imgio_webp_encode(const nsr_image *img, int quality, imgio_buf *out, nsr_error *err);

#endif
