/* exif.c - the few EXIF tags the codecs need (image_io.h): the orientation applied on reading,
 * the resolution, and the tags made true again before writing (orientation 1, the pixel size,
 * the resolution). EXIF is a TIFF structure: a byte-order mark ("II" little-endian, "MM"
 * big-endian), 42, the offset of IFD0; an IFD is a count and 12-byte entries (tag, type, count,
 * the value itself when it fits in 4 bytes, else its offset). Every offset is checked against
 * the size; anything that does not add up reads as absent. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_io.h"

enum {
    TAG_ORIENTATION = 0x0112,
    TAG_X_RESOLUTION = 0x011a,
    TAG_Y_RESOLUTION = 0x011b,
    TAG_RESOLUTION_UNIT = 0x0128,
    TAG_EXIF_IFD = 0x8769,
    TAG_PIXEL_X_DIMENSION = 0xa002,
    TAG_PIXEL_Y_DIMENSION = 0xa003,
    TYPE_SHORT = 3,
    TYPE_LONG = 4,
    TYPE_RATIONAL = 5,
    UNIT_INCH = 2,
    UNIT_CM = 3
};

typedef struct tiff {
    uint8_t *p; /* written only by put16/put32, on the copies of imgio_set_exif and
                 * imgio_exif_for_output; the readers take a const buffer through it */
    size_t n;
    int big;
} tiff;

static unsigned get16(const tiff *t, size_t at) {
    const uint8_t *q = t->p + at;
    return t->big ? q[0] << 8 | q[1] : q[1] << 8 | q[0];
}

static uint32_t get32(const tiff *t, size_t at) {
    return t->big ? (uint32_t)get16(t, at) << 16 | get16(t, at + 2)
                  : (uint32_t)get16(t, at + 2) << 16 | get16(t, at);
}

static void put16(tiff *t, size_t at, unsigned v) {
    uint8_t *q = t->p + at;
    q[t->big ? 0 : 1] = (uint8_t)(v >> 8);
    q[t->big ? 1 : 0] = (uint8_t)v;
}

static void put32(tiff *t, size_t at, uint32_t v) {
    put16(t, at + (t->big ? 0 : 2), v >> 16);
    put16(t, at + (t->big ? 2 : 0), v & 0xffff);
}

/* 0 when bytes start with a TIFF header, filling t. */
static int open_tiff(tiff *t, const uint8_t *bytes, size_t size) {
    *t = (tiff){(uint8_t *)bytes, size, 0};
    if (size < 8) return -1;
    if (!memcmp(bytes, "MM", 2)) t->big = 1;
    else if (memcmp(bytes, "II", 2)) return -1;
    return get16(t, 2) == 42 ? 0 : -1;
}

/* The offset of the entry of tag in the IFD at offset ifd, or 0 when there is none. */
static size_t find_entry(const tiff *t, size_t ifd, unsigned tag) {
    if (ifd < 8 || ifd > t->n - 2) return 0;
    unsigned count = get16(t, ifd);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + 12 * (size_t)i;
        if (e + 12 > t->n) return 0;
        if (get16(t, e) == tag) return e;
    }
    return 0;
}

/* The value of a one-value SHORT or LONG entry, or 0. */
static uint32_t entry_uint(const tiff *t, size_t e) {
    if (!e || get32(t, e + 4) != 1) return 0;
    unsigned type = get16(t, e + 2);
    return type == TYPE_SHORT ? get16(t, e + 8) : type == TYPE_LONG ? get32(t, e + 8) : 0;
}

/* The offset of a one-value RATIONAL entry's 8 bytes, or 0. */
static size_t rational_at(const tiff *t, size_t e) {
    if (!e || get16(t, e + 2) != TYPE_RATIONAL || get32(t, e + 4) != 1) return 0;
    size_t at = get32(t, e + 8);
    return at >= 8 && at <= t->n - 8 ? at : 0;
}

static size_t ifd0(const tiff *t) { return get32(t, 4); }

int imgio_exif_orientation(const uint8_t *exif, size_t size) {
    tiff t;
    if (open_tiff(&t, exif, size)) return 1;
    size_t e = find_entry(&t, ifd0(&t), TAG_ORIENTATION);
    uint32_t v = e && get16(&t, e + 2) == TYPE_SHORT ? entry_uint(&t, e) : 0; /* as EXIF has it */
    return v >= 1 && v <= 8 ? (int)v : 1;
}

/* Resolution tag of IFD0 in pixels per inch, or 0. */
static double resolution(const tiff *t, unsigned tag) {
    size_t at = rational_at(t, find_entry(t, ifd0(t), tag));
    if (!at || !get32(t, at + 4)) return 0;
    double v = (double)get32(t, at) / get32(t, at + 4);
    uint32_t unit = entry_uint(t, find_entry(t, ifd0(t), TAG_RESOLUTION_UNIT));
    if (unit == UNIT_CM) return v * 2.54;
    return unit == UNIT_INCH || unit == 0 ? v : 0; /* 1: no absolute unit */
}

void imgio_exif_resolution(const uint8_t *exif, size_t size, double *dpi_x, double *dpi_y) {
    tiff t;
    *dpi_x = *dpi_y = 0;
    if (open_tiff(&t, exif, size)) return;
    *dpi_x = resolution(&t, TAG_X_RESOLUTION);
    *dpi_y = resolution(&t, TAG_Y_RESOLUTION);
    if (!(*dpi_x > 0 && *dpi_y > 0)) *dpi_x = *dpi_y = 0;
}

/* Sets a one-value SHORT or LONG entry to v (as LONG when v does not fit a SHORT: the value
 * field holds either). */
static void set_uint(tiff *t, size_t e, uint32_t v) {
    if (!entry_uint(t, e)) return;
    if (get16(t, e + 2) == TYPE_SHORT && v <= 0xffff) {
        put16(t, e + 8, v);
        put16(t, e + 10, 0);
    } else {
        put16(t, e + 2, TYPE_LONG);
        put32(t, e + 8, v);
    }
}

/* Sets a RATIONAL resolution entry to dpi, in the entry's unit. */
static void set_resolution(tiff *t, unsigned tag, double dpi) {
    size_t at = rational_at(t, find_entry(t, ifd0(t), tag));
    if (!at || !(dpi > 0)) return;
    uint32_t unit = entry_uint(t, find_entry(t, ifd0(t), TAG_RESOLUTION_UNIT));
    double v = unit == UNIT_CM ? dpi / 2.54 : dpi;
    uint32_t den = fabs(v - round(v)) < 1e-6 ? 1 : 1000;
    if (v * den >= 4294967295.0) return;
    put32(t, at, (uint32_t)round(v * den));
    put32(t, at + 4, den);
}

static void make_true(tiff *t, int width, int height, double dpi_x, double dpi_y) {
    size_t ifd = ifd0(t);
    set_uint(t, find_entry(t, ifd, TAG_ORIENTATION), 1);
    set_resolution(t, TAG_X_RESOLUTION, dpi_x);
    set_resolution(t, TAG_Y_RESOLUTION, dpi_y);
    size_t exif_ifd = entry_uint(t, find_entry(t, ifd, TAG_EXIF_IFD));
    if (width > 0) set_uint(t, find_entry(t, exif_ifd, TAG_PIXEL_X_DIMENSION), (uint32_t)width);
    if (height > 0) set_uint(t, find_entry(t, exif_ifd, TAG_PIXEL_Y_DIMENSION), (uint32_t)height);
}

int imgio_set_exif(nsr_image *img, const uint8_t *exif, size_t size, nsr_error *err) {
    free(img->exif);
    img->exif = NULL;
    img->exif_size = 0;
    /* WebP writers differ on whether the chunk starts with JPEG's "Exif\0\0". */
    if (size >= 6 && !memcmp(exif, "Exif\0\0", 6)) exif += 6, size -= 6;
    tiff t;
    if (open_tiff(&t, exif, size)) return 0; /* not EXIF: nothing to carry */
    if (!(img->exif = malloc(size))) return nsr_fail(err, "out of memory for %zu bytes of EXIF", size);
    memcpy(img->exif, exif, size);
    img->exif_size = size;
    open_tiff(&t, img->exif, size);
    make_true(&t, 0, 0, 0, 0); /* the orientation: the decoder applies it */
    return 0;
}

int imgio_exif_for_output(const nsr_image *img, uint8_t **out, nsr_error *err) {
    *out = NULL;
    if (!img->exif_size) return 0;
    if (!(*out = malloc(img->exif_size))) return nsr_fail(err, "out of memory for the EXIF");
    memcpy(*out, img->exif, img->exif_size);
    tiff t;
    if (open_tiff(&t, *out, img->exif_size) == 0)
        make_true(&t, img->width, img->height, img->dpi_x, img->dpi_y);
    return 0;
}
