/* fuzz_image.c - libFuzzer harness: image decoding from memory (PNG, JPEG, WebP by content).
 * Whatever decodes must be a well-formed image; a small one is then encoded in every format and
 * read back, and PNG, being lossless, must give back exactly the samples (and alpha) it got. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* A cap on decoded pixels keeps a fuzzed header from asking for gigabytes; small enough that
 * every execution stays fast, large enough for every code path of the decoders. */
#define MAX_PIXELS (1u << 20)
/* Re-encoding costs more than decoding: only images up to this many pixels go round. */
#define ROUND_TRIP_PIXELS 4096

static void check_well_formed(const nsr_image *img) {
    FUZZ_ASSERT(img->width >= 1 && img->height >= 1, "%dx%d", img->width, img->height);
    FUZZ_ASSERT((uint64_t)img->width * img->height <= MAX_PIXELS, "over the pixel cap");
    FUZZ_ASSERT(img->channels == 1 || img->channels == 3, "%d channels", img->channels);
    FUZZ_ASSERT(img->bit_depth == 8 || img->bit_depth == 16, "bit depth %d", img->bit_depth);
    const size_t n = (size_t)img->channels * img->width * img->height;
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(img->data[i] >= 0.0f && img->data[i] <= 1.0f, "sample %zu = %g", i, img->data[i]);
    if (img->alpha)
        for (size_t i = 0; i < (size_t)img->width * img->height; i++)
            FUZZ_ASSERT(img->alpha[i] >= 0.0f && img->alpha[i] <= 1.0f, "alpha %zu", i);
}

static void round_trip(const nsr_image *img, nsr_format format) {
    const nsr_write_options wopts = {.format = format};
    const nsr_read_options ropts = {.max_pixels = MAX_PIXELS};
    uint8_t *bytes;
    size_t size;
    nsr_error err;
    FUZZ_ASSERT(nsr_image_encode(img, format, &wopts, &bytes, &size, &err) == 0,
                "%s encode: %s", nsr_format_name(format), err.message);
    nsr_image back;
    FUZZ_ASSERT(nsr_image_read_memory(&back, bytes, size, &ropts, &err) == 0,
                "%s re-read: %s", nsr_format_name(format), err.message);
    free(bytes);
    check_well_formed(&back);
    FUZZ_ASSERT(back.width == img->width && back.height == img->height, "%s changed the size",
                nsr_format_name(format));
    if (format == NSR_FORMAT_PNG) {
        FUZZ_ASSERT(back.channels == img->channels && back.bit_depth == img->bit_depth &&
                        !back.alpha == !img->alpha, "PNG changed the layout");
        const size_t n = (size_t)img->channels * img->width * img->height;
        FUZZ_ASSERT(!memcmp(back.data, img->data, n * sizeof *img->data), "PNG changed samples");
        if (img->alpha)
            FUZZ_ASSERT(!memcmp(back.alpha, img->alpha, (size_t)img->width * img->height * sizeof *img->alpha),
                        "PNG changed alpha");
    }
    nsr_image_free(&back);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_one_thread();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const nsr_read_options ropts = {.max_pixels = MAX_PIXELS};
    nsr_image img;
    nsr_error err;
    if (nsr_image_read_memory(&img, data, size, &ropts, &err) != 0) return 0;
    check_well_formed(&img);
    if ((size_t)img.width * img.height <= ROUND_TRIP_PIXELS) {
        round_trip(&img, NSR_FORMAT_PNG);
        round_trip(&img, NSR_FORMAT_JPEG);
        round_trip(&img, NSR_FORMAT_WEBP);
    }
    nsr_image_free(&img);
    return 0;
}
