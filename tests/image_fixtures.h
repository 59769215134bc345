/* image_fixtures.h - test inputs shared by test_image_io.c and test_corrupt.c: synthetic
 * images, files written with libpng/libjpeg directly (the forms libnsr's own writers never
 * produce), EXIF segments and ICC profiles. */
#ifndef NSR_TEST_IMAGE_FIXTURES_H
#define NSR_TEST_IMAGE_FIXTURES_H

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "nsr.h"

/* A deterministic image whose samples all lie on the depth's levels (k / 255 or k / 65535),
 * so that exact formats must give them back bit for bit. */
static inline int make_image(nsr_image *img, int w, int h, int channels, int alpha, int depth) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, alpha, &err)) return -1;
    img->bit_depth = depth;
    unsigned max = depth == 16 ? 65535 : 255;
    size_t plane = (size_t)w * h;
    uint32_t s = 12345u + (uint32_t)(w * 31 + h * 7 + channels);
    for (size_t i = 0; i < plane * channels; i++) {
        s = s * 1664525u + 1013904223u;
        img->data[i] = (float)((s >> 8) % (max + 1)) / (float)max;
    }
    for (size_t i = 0; alpha && i < plane; i++) {
        s = s * 1664525u + 1013904223u;
        img->alpha[i] = (float)((s >> 8) % (max + 1)) / (float)max;
    }
    return 0;
}

/* A smooth image (gentle gradients, different in each plane), which lossy codecs reproduce
 * closely at any size; meant for sizes up to about 100x100. */
static inline int make_smooth(nsr_image *img, int w, int h, int channels) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, 0, &err)) return -1;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                nsr_image_plane(img, c)[y * w + x] =
                    roundf(255.0f * (0.2f + 0.6f * (float)(x + c * y) / 300.0f)) / 255.0f;
    return 0;
}

/* A growing buffer for files the tests write with libpng/libjpeg directly. */
typedef struct membuf {
    uint8_t *data;
    size_t size;
} membuf;

static inline void membuf_add(membuf *m, const void *p, size_t n) {
    m->data = realloc(m->data, m->size + n);
    if (!m->data) abort();
    memcpy(m->data + m->size, p, n);
    m->size += n;
}

static inline void png_to_membuf(png_structp png, png_bytep p, size_t n) { membuf_add(png_get_io_ptr(png), p, n); }

/* Writes a PNG with libpng's own API: rows of already-packed samples (stride bytes each), an
 * optional palette and tRNS (palette alphas or a single transparent colour). */
typedef struct raw_png {
    int width, height, color_type, bit_depth, interlace;
    const png_color *palette;
    int palette_size;
    const png_byte *trans_alpha;
    int trans_count;
    const png_color_16 *trans_color;
} raw_png;

static inline int write_raw_png(membuf *out, const raw_png *spec, const uint8_t *pixels, size_t stride) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, out, png_to_membuf, NULL);
    png_set_IHDR(png, info, spec->width, spec->height, spec->bit_depth, spec->color_type, spec->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (spec->palette) png_set_PLTE(png, info, spec->palette, spec->palette_size);
    if (spec->trans_alpha || spec->trans_color)
        png_set_tRNS(png, info, spec->trans_alpha, spec->trans_count, spec->trans_color);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < spec->height; y++) png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* Encodes with libjpeg directly: components 1 (grey), 3 (RGB) or 4 (CMYK, stored as YCCK when
 * ycck); interleaved 8-bit samples. */
static inline void write_raw_jpeg(membuf *out, int w, int h, int components, int progressive, int ycck,
                           const uint8_t *pixels) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &buf, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (ycck) jpeg_set_colorspace(&c, JCS_YCCK);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)pixels + (size_t)c.next_scanline * w * components;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    membuf_add(out, buf, size);
    free(buf);
}

static inline void put16(uint8_t *p, unsigned v, int big) {
    p[big ? 0 : 1] = (uint8_t)(v >> 8);
    p[big ? 1 : 0] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v, int big) {
    put16(p + (big ? 0 : 2), v >> 16, big);
    put16(p + (big ? 2 : 0), v & 0xffff, big);
}

/* An APP1 Exif payload whose IFD0 holds a Make tag and then the Orientation tag; flaw != 0
 * spoils it in one of several ways, after which a reader must ignore the orientation. */
enum { EXIF_FLAWS = 7 };
static inline size_t make_exif(uint8_t *seg, int big, int orientation, int flaw) {
    memset(seg, 0, 64);
    memcpy(seg, "Exif\0\0", 6);
    uint8_t *t = seg + 6;
    memcpy(t, big ? "MM" : "II", 2);
    put16(t + 2, 42, big);
    put32(t + 4, flaw == 1 ? 0xfffffff0u : 8, big);  /* flaw 1: IFD0 beyond the data */
    put16(t + 8, 2, big);
    put16(t + 10, 0x010f, big);                      /* Make, ASCII, 4 bytes inline */
    put16(t + 12, 2, big);
    put32(t + 14, 4, big);
    memcpy(t + 18, "abc", 4);
    put16(t + 22, 0x0112, big);                      /* Orientation */
    put16(t + 24, flaw == 3 ? 4 : 3, big);           /* flaw 3: type LONG instead of SHORT */
    put32(t + 26, 1, big);
    put16(t + 30, flaw == 4 ? 9 : (unsigned)orientation, big); /* flaw 4: no such orientation */
    if (flaw == 5) memcpy(t, "XM", 2);               /* flaw 5: no byte order */
    if (flaw == 2) return 6 + 30;                    /* flaw 2: cut inside the Orientation entry */
    if (flaw == 6) return 10;                        /* flaw 6: cut inside the TIFF header */
    return 6 + 38;
}

/* jpeg with an APP1 segment (payload) inserted right after SOI. */
static inline void insert_app1(membuf *out, const uint8_t *jpeg, size_t size, const uint8_t *payload, size_t n) {
    uint8_t marker[4] = {0xff, 0xe1, (uint8_t)((n + 2) >> 8), (uint8_t)(n + 2)};
    membuf_add(out, jpeg, 2);
    membuf_add(out, marker, 4);
    membuf_add(out, payload, n);
    membuf_add(out, jpeg + 2, size - 2);
}

/* A fuller EXIF, as cameras write it (TIFF structure, no "Exif\0\0"): IFD0 with Orientation,
 * XResolution and YResolution (x_res/1 and y_res/1 in unit: 2 inch, 3 cm), ResolutionUnit and
 * the Exif IFD's pointer; the Exif IFD with PixelXDimension (SHORT) and PixelYDimension (LONG).
 * FULL_EXIF_SIZE bytes. */
enum { FULL_EXIF_SIZE = 120 };
static inline void make_full_exif(uint8_t *t, int big, int orientation, uint32_t x_res, uint32_t y_res,
                                  int unit, unsigned width, unsigned height) {
    static const struct { unsigned tag, type; } ifd0[5] = {
        {0x0112, 3}, {0x011a, 5}, {0x011b, 5}, {0x0128, 3}, {0x8769, 4}};
    const uint32_t ifd0_values[5] = {(uint32_t)orientation, 74, 82, (uint32_t)unit, 90};
    memset(t, 0, FULL_EXIF_SIZE);
    memcpy(t, big ? "MM" : "II", 2);
    put16(t + 2, 42, big);
    put32(t + 4, 8, big);
    put16(t + 8, 5, big);
    for (int i = 0; i < 5; i++) {
        uint8_t *e = t + 10 + 12 * i;
        put16(e, ifd0[i].tag, big);
        put16(e + 2, ifd0[i].type, big);
        put32(e + 4, 1, big);
        if (ifd0[i].type == 3) put16(e + 8, ifd0_values[i], big);
        else put32(e + 8, ifd0_values[i], big);
    }
    put32(t + 74, x_res, big); /* the rationals */
    put32(t + 78, 1, big);
    put32(t + 82, y_res, big);
    put32(t + 86, 1, big);
    put16(t + 90, 2, big);     /* the Exif IFD */
    put16(t + 92, 0xa002, big);
    put16(t + 94, 3, big);
    put32(t + 96, 1, big);
    put16(t + 100, width, big);
    put16(t + 104, 0xa003, big);
    put16(t + 106, 4, big);
    put32(t + 108, 1, big);
    put32(t + 112, height, big);
}

/* A minimal ICC profile that libpng accepts: a v2 header for colour space space ("RGB " or
 * "GRAY"), no tags, then filler up to size bytes (a multiple of 4). */
static inline uint8_t *make_icc(size_t size, const char *space) {
    uint8_t *p = malloc(size);
    if (!p) abort();
    for (size_t i = 0; i < size; i++) p[i] = (uint8_t)(i * 7 + 3);
    memset(p, 0, 132);
    put32(p, (uint32_t)size, 1);
    put32(p + 8, 0x02100000, 1);
    memcpy(p + 12, "mntr", 4);
    memcpy(p + 16, space, 4);
    memcpy(p + 20, "XYZ ", 4);
    memcpy(p + 36, "acsp", 4);
    put32(p + 68, 0x0000f6d6, 1); /* the D50 illuminant */
    put32(p + 72, 0x00010000, 1);
    put32(p + 76, 0x0000d32d, 1);
    return p;
}

#endif
