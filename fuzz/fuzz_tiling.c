/* fuzz_tiling.c - libFuzzer harness: the geometry of the reference tiling (src/run/tiling.c).
 * For an image size and scale drawn from the input, the tiles that list_tiles lays out are
 * added by add_tile, the function inference uses, with a body that holds a constant per output
 * channel. Checked: every kept tile lies inside the image; every pixel's weight sum is the sum
 * of the weights of the tiles whose kept part covers it (counted here independently), and is
 * positive; and every output sample of every colour and sub-pixel received exactly that weight
 * (so after dividing by the weight sum it is the constant again): no sample is missed, doubled
 * or misplaced. The file is included to reach its static functions. */
#include <math.h>

#include "fuzz.h"
#include "run/tiling.c"

/* Sizes from the smallest tiled input up to this: every leftover (crop) of the grid, 0..31, for
 * grids of 5 to 7 tiles a side; with scales 1 and 2 (the scale only moves samples within
 * add_tile) each input is cheap enough to run thousands a minute under the sanitizers. */
#define MAX_SIDE 256

static int side(const uint8_t *p) { return TILE_MIN + (p[0] | p[1] << 8) % (MAX_SIDE - TILE_MIN + 1); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_one_thread();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    const int h = side(data), w = side(data + 2), s = 1 + data[4] % 2;
    int count;
    tile *tiles = list_tiles(h, w, &count);
    FUZZ_ASSERT(tiles, "out of memory");
    const size_t pixels = (size_t)h * w, plane = pixels * s * s, bsize = (size_t)3 * s * s * TILE * TILE;
    float *out = calloc(3 * plane, sizeof *out), *wsum = calloc(pixels, sizeof *wsum);
    double *expect = calloc(pixels, sizeof *expect);
    float *body = malloc(bsize * sizeof *body);
    FUZZ_ASSERT(out && wsum && expect && body, "out of memory");
    /* output channel k (colour c, sub-pixel i, j) holds k + 1 everywhere in the tile */
    for (size_t k = 0; k < (size_t)3 * s * s; k++)
        for (size_t q = 0; q < TILE * TILE; q++) body[k * TILE * TILE + q] = (float)(k + 1);
    for (int t = 0; t < count; t++) {
        const tile *ti = &tiles[t];
        FUZZ_ASSERT(ti->y >= 0 && ti->x >= 0 && ti->y + TILE_KEEP <= h && ti->x + TILE_KEEP <= w,
                    "tile %d at (%d, %d) leaves the %dx%d image", t, ti->y, ti->x, w, h);
        FUZZ_ASSERT(ti->weight == 1.0f || ti->weight == STRIP_WEIGHT, "weight %g", ti->weight);
        add_tile(out, wsum, body, 3, s, h, w, ti);
        for (int y = 0; y < TILE_KEEP; y++)
            for (int x = 0; x < TILE_KEEP; x++) expect[(size_t)(ti->y + y) * w + ti->x + x] += ti->weight;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t p = (size_t)y * w + x;
            FUZZ_ASSERT(wsum[p] > 0, "pixel (%d, %d) of %dx%d is covered by no tile", x, y, w, h);
            FUZZ_ASSERT(fabs(wsum[p] - expect[p]) <= 1e-5 * expect[p], "weight sum %g, not %g at (%d, %d)",
                        wsum[p], expect[p], x, y);
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < s; i++)
                    for (int j = 0; j < s; j++) {
                        const float v = out[c * plane + ((size_t)y * s + i) * w * s + (size_t)x * s + j];
                        const float k = (float)((c * s + i) * s + j + 1);
                        FUZZ_ASSERT(fabsf(v / wsum[p] - k) <= 1e-4f * k, "colour %d sub-pixel (%d, %d) "
                                    "of (%d, %d): %g, not %g", c, i, j, x, y, v / wsum[p], k);
                    }
        }
    free(tiles);
    free(out);
    free(wsum);
    free(expect);
    free(body);
    return 0;
}
