/* window.h - square windows cut from planar images inside src/run (private): the reference
 * tiling's reflect-padded tiles (tiling.c) and the windows nsr maps selects on (selection.c). */
#ifndef NSR_RUN_WINDOW_H
#define NSR_RUN_WINDOW_H

#include <stddef.h>

/* Image coordinate q mirrored into 0 .. n - 1 without repeating the edge (PyTorch's 'reflect',
 * as the reference tiling pads); q is at most n - 1 outside. */
static inline int window_reflect(int q, int n) {
    return q < 0 ? -q : q >= n ? 2 * (n - 1) - q : q;
}

/* dst (C, size, size) = the window of planes (C, h, w) whose top-left pixel is (y0, x0), which
 * may lie outside: pixels outside are the image's reflection. */
static inline void window_cut(float *dst, const float *planes, int C, int h, int w, int size,
                              int y0, int x0) {
    for (int c = 0; c < C; c++)
        for (int y = 0; y < size; y++) {
            const float *row = planes + ((size_t)c * h + window_reflect(y0 + y, h)) * w;
            float *out = dst + ((size_t)c * size + y) * size;
            for (int x = 0; x < size; x++) out[x] = row[window_reflect(x0 + x, w)];
        }
}

#endif
