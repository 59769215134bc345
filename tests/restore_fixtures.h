/* restore_fixtures.h - what the tests of restoring share (test_tiling.c, test_tta.c,
 * test_selection.c, test_fold.c): a newly initialised network of a given shape, pictures drawn
 * from a pattern (each test its own: tiles, flips or windows must differ in their own way), and
 * the largest difference between two images. */
#ifndef NSR_TEST_RESTORE_FIXTURES_H
#define NSR_TEST_RESTORE_FIXTURES_H

#include <math.h>
#include <stdint.h>

#include "nsr.h"

/* A network of shape a, its weights drawn from seed; NULL if it cannot be made. */
static inline nsr_model *model_of_arch(nsr_arch a, uint64_t seed) {
    nsr_model *m = NULL;
    nsr_error err;
    return nsr_model_create(&m, &a, seed, &err) ? NULL : m;
}

/* A sample of a picture w pixels wide: a function of its position and channel. */
typedef double picture_pattern(int x, int y, int c, int w, int h);

/* An 8-bit picture of w x h and channels drawn from pattern; 0, or -1 if out of memory. */
static inline int draw_picture(nsr_image *img, int w, int h, int channels,
                               picture_pattern *pattern) {
    nsr_error err;
    if (nsr_image_create(img, w, h, channels, 0, &err)) return -1;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                nsr_image_plane(img, c)[(size_t)y * w + x] = (float)pattern(x, y, c, w, h);
    img->bit_depth = 8;
    return 0;
}

/* max |a - b| over all samples; infinity when the shapes differ, and for a NaN. */
static inline double max_abs_diff(const nsr_image *a, const nsr_image *b) {
    if (a->width != b->width || a->height != b->height || a->channels != b->channels) return INFINITY;
    double worst = 0;
    for (size_t i = 0; i < (size_t)a->channels * a->width * a->height; i++) {
        const double d = fabs((double)a->data[i] - b->data[i]);
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

#endif
