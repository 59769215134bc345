/* test_corrupt.c - damaged image files. From small valid files of every kind the readers
 * handle, a corpus is made in memory: every truncation, single flipped bytes (for PNG also with
 * the chunk CRC made right again, so that the damage gets past the checksum into libpng's
 * parsers and zlib), wrong magic, empty input, absurd header dimensions and too many
 * progressive scans. Each input must give an image or -1 with one line of message: no crash,
 * hang, leak (the sanitizer build checks) or output on stderr. */
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "image_fixtures.h"

enum { MAX_SEEDS = 16 };

typedef struct seed {
    const char *name;
    membuf file;
} seed;

static seed seeds[MAX_SEEDS];
static int nseeds;
/* The corpus is decoded under this limit: far above every seed's size, and low enough that a
 * flipped size byte cannot make the sanitizer build allocate gigabytes of zeros. */
static const nsr_read_options corpus_limit = {.max_pixels = 1u << 20};
static long decoded, refused;

static void add_seed(const char *name, const membuf *file) {
    if (nseeds < MAX_SEEDS && file->data) seeds[nseeds++] = (seed){name, *file};
}

static void add_encoded(const char *name, const nsr_image *img, nsr_format format, int quality) {
    nsr_write_options opts = {.quality = quality};
    nsr_error err;
    membuf file = {0};
    if (nsr_image_encode(img, format, &opts, &file.data, &file.size, &err) == 0) add_seed(name, &file);
}

static void make_seeds(void) {
    nsr_image grey, rgba, rgb16, smooth, smooth_grey;
    make_image(&grey, 24, 16, 1, 0, 8);
    make_image(&rgba, 24, 16, 3, 1, 8);
    make_image(&rgb16, 20, 12, 3, 0, 16);
    make_smooth(&smooth, 24, 16, 3);
    make_smooth(&smooth_grey, 24, 16, 1);
    add_encoded("PNG grey", &grey, NSR_FORMAT_PNG, 0);
    add_encoded("PNG RGBA", &rgba, NSR_FORMAT_PNG, 0);
    add_encoded("PNG 16-bit", &rgb16, NSR_FORMAT_PNG, 0);
    static const png_color palette[3] = {{1, 2, 3}, {200, 100, 0}, {9, 99, 199}};
    static const png_byte alphas[2] = {0, 128};
    uint8_t indices[16][24];
    for (int i = 0; i < 16 * 24; i++) indices[i / 24][i % 24] = (uint8_t)(i * 7 % 3);
    raw_png spec = {.width = 24, .height = 16, .color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 8,
                    .interlace = PNG_INTERLACE_ADAM7, .palette = palette, .palette_size = 3,
                    .trans_alpha = alphas, .trans_count = 2};
    membuf file = {0};
    if (write_raw_png(&file, &spec, indices[0], 24) == 0) add_seed("PNG interlaced palette+tRNS", &file);

    /* A baseline JPEG with an ICC profile and EXIF orientation 6, so that damage also reaches
     * the APP2 and APP1 parsers. */
    smooth.icc = make_icc(300, "RGB ");
    smooth.icc_size = 300;
    uint8_t *jpeg;
    size_t size;
    nsr_error err;
    if (nsr_image_encode(&smooth, NSR_FORMAT_JPEG, NULL, &jpeg, &size, &err) == 0) {
        uint8_t exif[64];
        size_t n = make_exif(exif, 1, 6, 0);
        membuf with_exif = {0};
        insert_app1(&with_exif, jpeg, size, exif, n);
        add_seed("JPEG baseline+ICC+EXIF", &with_exif);
        free(jpeg);
    }
    uint8_t pixels[16 * 24 * 3];
    for (int i = 0; i < 16 * 24 * 3; i++) pixels[i] = (uint8_t)(i * 3 + i / 72 * 5);
    memset(&file, 0, sizeof file);
    write_raw_jpeg(&file, 24, 16, 1, 1, 0, pixels);
    add_seed("JPEG progressive grey", &file);
    memset(&file, 0, sizeof file);
    write_raw_jpeg(&file, 24, 16, 3, 1, 0, pixels);
    add_seed("JPEG progressive colour", &file);
    add_encoded("JPEG grey", &smooth_grey, NSR_FORMAT_JPEG, 80);

    add_encoded("WebP lossy", &smooth, NSR_FORMAT_WEBP, 80); /* with the ICC profile: VP8X */
    nsr_image_free(&smooth);
    add_encoded("WebP lossless", &grey, NSR_FORMAT_WEBP, 0);
    add_encoded("WebP lossless alpha", &rgba, NSR_FORMAT_WEBP, 0);
    add_encoded("WebP lossy alpha", &rgba, NSR_FORMAT_WEBP, 60);
    nsr_image_free(&grey);
    nsr_image_free(&rgba);
    nsr_image_free(&rgb16);
    nsr_image_free(&smooth_grey);
}

/* Decodes size bytes from a buffer of exactly that size (so that any read past the end is
 * caught by the sanitizers) and checks the outcome: 1 for a valid image, 0 for -1 with one
 * line of message, -1 for anything else. */
static int try_decode(const uint8_t *bytes, size_t size, const nsr_read_options *opts, nsr_error *err) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, bytes, size);
    nsr_image img;
    err->message[0] = 0;
    int rc = nsr_image_read_memory(&img, copy, size, opts, err);
    free(copy);
    int ok;
    if (rc == 0) {
        ok = img.data && img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3);
        decoded++;
        nsr_image_free(&img);
    } else {
        ok = rc == -1 && err->message[0] && !strchr(err->message, '\n') && !img.data && !img.alpha && !img.icc;
        refused++;
    }
    return ok ? rc == 0 : -1;
}

/* Positions to damage in a file of size bytes: all of them when there are few, else about
 * limit spread over the file (always including the first 64, where the headers are). */
static size_t next_position(size_t pos, size_t size, size_t limit) {
    if (size <= limit || pos < 64) return pos + 1;
    return pos + (size - 64) / (limit - 64) + 1;
}

/* Rewrites the CRC of every PNG chunk, so that the damage reaches what the CRC protects. */
static void fix_png_crcs(uint8_t *p, size_t size) {
    for (size_t at = 8; at + 12 <= size;) {
        uint32_t len = (uint32_t)p[at] << 24 | p[at + 1] << 16 | p[at + 2] << 8 | p[at + 3];
        if (len > size - at - 12) return;
        uint32_t crc = (uint32_t)crc32(0, p + at + 4, len + 4);
        put32(p + at + 8 + len, crc, 1);
        at += 12 + len;
    }
}

static void test_truncations(void) {
    long before = decoded + refused;
    for (int s = 0; s < nseeds; s++) {
        const membuf *f = &seeds[s].file;
        for (size_t n = 0; n < f->size; n = next_position(n, f->size, 1500)) {
            nsr_error err;
            /* Missing data is an error for every format, even where only the end marker is cut. */
            int rc = try_decode(f->data, n, &corpus_limit, &err);
            CHECK(rc == 0, "%s cut to %zu bytes: %s '%s'", seeds[s].name, n, rc > 0 ? "decoded" : "refused badly",
                  err.message);
        }
    }
    printf("# truncations: %ld inputs\n", decoded + refused - before);
}

static void test_flipped_bytes(void) {
    long before = decoded + refused;
    for (int s = 0; s < nseeds; s++) {
        const membuf *f = &seeds[s].file;
        int png = nsr_detect_format(f->data, f->size) == NSR_FORMAT_PNG;
        uint8_t *copy = malloc(f->size);
        if (!copy) abort();
        for (size_t pos = 0; pos < f->size; pos = next_position(pos, f->size, 600)) {
            static const uint8_t masks[2] = {0xff, 0x10};
            for (int m = 0; m < 2; m++)
                for (int fix = 0; fix <= png; fix++) {
                    memcpy(copy, f->data, f->size);
                    copy[pos] ^= masks[m];
                    if (fix) fix_png_crcs(copy, f->size);
                    nsr_error err;
                    CHECK(try_decode(copy, f->size, &corpus_limit, &err) >= 0, "%s with byte %zu ^ 0x%02x%s: '%s'",
                          seeds[s].name, pos, masks[m], fix ? " (CRC fixed)" : "", err.message);
                }
        }
        free(copy);
    }
    printf("# flipped bytes: %ld inputs\n", decoded + refused - before);
}

/* Wrong magic, other formats' magic in front of a file, and nothing at all. */
static void test_magic_and_empty(void) {
    nsr_image img;
    nsr_error err;
    for (int s = 0; s < nseeds; s++) {
        membuf f = seeds[s].file;
        uint8_t *copy = malloc(f.size);
        if (!copy) abort();
        memcpy(copy, f.data, f.size);
        copy[1] ^= 0x20;
        CHECK(nsr_image_read_memory(&img, copy, f.size, NULL, &err) == -1 && strstr(err.message, "not a PNG, JPEG or WebP"),
              "%s with bad magic: '%s'", seeds[s].name, err.message);
        free(copy);
        /* The body of seed s behind the magic of another format. */
        const membuf *other = &seeds[(s + 4) % nseeds].file;
        membuf mixed = {0};
        membuf_add(&mixed, other->data, 12);
        membuf_add(&mixed, f.data + 12, f.size - 12);
        CHECK(try_decode(mixed.data, mixed.size, &corpus_limit, &err) >= 0, "%s behind %s magic: '%s'", seeds[s].name,
              seeds[(s + 4) % nseeds].name, err.message);
        free(mixed.data);
    }
    CHECK(nsr_image_read_memory(&img, NULL, 0, NULL, &err) == -1 && strstr(err.message, "empty"), "NULL: '%s'", err.message);
    CHECK(nsr_image_read_memory(&img, seeds[0].file.data, 0, NULL, &err) == -1 && strstr(err.message, "empty"), "zero size");
    char path[] = "/tmp/nsr_test_empty_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "mkstemp");
    close(fd);
    CHECK(nsr_image_read(&img, path, NULL, &err) == -1 && strstr(err.message, path) && strstr(err.message, "empty"),
          "empty file: '%s'", err.message);
    unlink(path);
}

/* The first seed whose name contains tag. */
static membuf *find_seed(const char *tag) {
    for (int s = 0; s < nseeds; s++)
        if (strstr(seeds[s].name, tag)) return &seeds[s].file;
    return NULL;
}

/* Decodes a copy of f changed by edit, expecting -1 (and the pixel-limit message, which comes
 * before any allocation, when needs_limit_message). */
static void expect_limit(const char *what, const membuf *f, const nsr_read_options *opts, int needs_limit_message,
                         void (*edit)(uint8_t *file, size_t size)) {
    if (!f) {
        CHECK(0, "%s: no seed", what);
        return;
    }
    membuf copy = {0};
    membuf_add(&copy, f->data, f->size);
    edit(copy.data, copy.size);
    nsr_image img;
    nsr_error err;
    int rc = nsr_image_read_memory(&img, copy.data, copy.size, opts, &err);
    free(copy.data);
    if (rc == 0) nsr_image_free(&img);
    CHECK(rc == -1 && (!needs_limit_message || strstr(err.message, "over the limit")), "%s: rc %d '%s'", what, rc,
          rc ? err.message : "");
}

static void png_huge(uint8_t *p, size_t size) {
    (void)size;
    put32(p + 16, 1000000, 1);
    put32(p + 20, 1000000, 1);
    put32(p + 29, (uint32_t)crc32(0, p + 12, 17), 1);
}

static void png_widest(uint8_t *p, size_t size) {
    (void)size;
    put32(p + 16, 0x7fffffff, 1);
    put32(p + 20, 0x7fffffff, 1);
    put32(p + 29, (uint32_t)crc32(0, p + 12, 17), 1);
}

/* SOF0..SOF2: FF Cn, length, precision, height, width. */
static void jpeg_huge(uint8_t *p, size_t size) {
    for (size_t i = 2; i + 9 < size; i++)
        if (p[i] == 0xff && p[i + 1] >= 0xc0 && p[i + 1] <= 0xc2) {
            put16(p + i + 5, 65000, 1);
            put16(p + i + 7, 65000, 1);
            return;
        }
}

/* A simple lossless file: RIFF header, "VP8L", size, 0x2f, then 14 bits of width - 1 and 14
 * of height - 1, least significant first. */
static void webp_lossless_max(uint8_t *p, size_t size) {
    (void)size;
    uint32_t bits = (uint32_t)p[21] | (uint32_t)p[22] << 8 | (uint32_t)p[23] << 16 | (uint32_t)p[24] << 24;
    bits = (bits & ~0x0fffffffu) | 16383u | 16383u << 14;
    put32(p + 21, bits, 0);
}

/* An extended file: "VP8X", size, flags (4 bytes), canvas width - 1 and height - 1 (3 bytes
 * each, little-endian). */
static void webp_canvas_max(uint8_t *p, size_t size) {
    (void)size;
    memset(p + 24, 0xff, 6);
}

static void test_absurd_dimensions(void) {
    expect_limit("PNG IHDR 1000000x1000000", find_seed("PNG grey"), NULL, 1, png_huge);
    expect_limit("PNG IHDR 2^31-1 squared", find_seed("PNG RGBA"), NULL, 1, png_widest);
    expect_limit("interlaced PNG IHDR 1000000x1000000", find_seed("PNG interlaced"), NULL, 1, png_huge);
    expect_limit("JPEG SOF 65000x65000", find_seed("JPEG baseline"), NULL, 1, jpeg_huge);
    expect_limit("progressive JPEG SOF 65000x65000", find_seed("JPEG progressive colour"), NULL, 1, jpeg_huge);
    /* WebP cannot exceed 16384x16384, under the default limit: shown with a lower one. */
    nsr_read_options million = {.max_pixels = 1000000};
    expect_limit("WebP lossless 16384x16384", find_seed("WebP lossless"), &million, 1, webp_lossless_max);
    expect_limit("WebP VP8X canvas 2^24 squared", find_seed("WebP lossy"), NULL, 0, webp_canvas_max);
}

/* A progressive file whose last scan is repeated: a few hundred extra scans still decode (with
 * warnings about the bogus progression), but past the scan limit decoding time could be made
 * to grow without bound, so such files are refused. */
static void test_many_scans(void) {
    membuf *f = find_seed("JPEG progressive colour");
    REQUIRE(f && f->size > 4, "no progressive seed");
    size_t sos = 0;
    for (size_t i = 2; i + 1 < f->size - 2; i++)
        if (f->data[i] == 0xff && f->data[i + 1] == 0xda) sos = i; /* never inside entropy-coded data */
    REQUIRE(sos, "no SOS marker");
    static const int repeats[2] = {300, 600};
    for (int r = 0; r < 2; r++) {
        membuf m = {0};
        membuf_add(&m, f->data, f->size - 2);
        for (int k = 0; k < repeats[r]; k++) membuf_add(&m, f->data + sos, f->size - 2 - sos);
        membuf_add(&m, f->data + f->size - 2, 2);
        nsr_image img;
        nsr_error err;
        int rc = nsr_image_read_memory(&img, m.data, m.size, NULL, &err);
        free(m.data);
        if (r == 0) {
            CHECK(rc == 0, "%d extra scans: '%s'", repeats[r], err.message);
            if (rc == 0) nsr_image_free(&img);
        } else {
            CHECK(rc == -1 && strstr(err.message, "too many progressive scans"), "%d extra scans: rc %d '%s'", repeats[r],
                  rc, rc ? err.message : "");
        }
    }
}

static long stderr_bytes;

static void test_nothing_on_stderr(void) { CHECK(stderr_bytes == 0, "%ld bytes were printed on stderr", stderr_bytes); }

static void test_seeds(void) { CHECK(nseeds == 12, "%d of the 12 seed files could be made", nseeds); }

int main(void) {
    make_seeds();
    RUN(test_seeds);
    /* libpng and libjpeg must not print anything themselves: stderr goes to a file meanwhile. */
    fflush(stderr);
    FILE *captured = tmpfile();
    int saved = dup(STDERR_FILENO);
    if (!captured || saved < 0 || dup2(fileno(captured), STDERR_FILENO) < 0) return 1;
    RUN(test_truncations);
    RUN(test_flipped_bytes);
    RUN(test_magic_and_empty);
    RUN(test_absurd_dimensions);
    RUN(test_many_scans);
    fflush(stderr);
    struct stat st;
    stderr_bytes = fstat(fileno(captured), &st) == 0 ? (long)st.st_size : -1;
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(captured);
    RUN(test_nothing_on_stderr);
    printf("# %d seeds: %ld inputs decoded, %ld refused\n", nseeds, decoded, refused);
    for (int s = 0; s < nseeds; s++) free(seeds[s].file.data);
    return test_summary();
}
