/* tta.c - test-time augmentation (waifu2x's and EDSR's "self-ensemble", -x): the network
 * restores the 8 images that flips and a transpose make of the input (the dihedral group of
 * the square), each output is turned back by the inverse transform, and the 8 are averaged.
 *
 * Transform k (0..7): bit 0 mirrors the columns, bit 1 mirrors the rows, bit 2 then
 * transposes. Pixel (i, j) of the transformed image is the source pixel at index
 * base + i di + j dj of its plane; the same map on the HR grid (flips and transposes of
 * h s x w s) takes the restored transform's pixel (i, j) back to where it belongs, so the
 * inverse is the same map used to scatter instead of gather, exact for any scale. The sum
 * runs k = 0..7 in order into the output, then is divided by 8 (exactly: a power of 2), so
 * the result does not depend on the threads. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "run/tta.h"

#define TTA_PASSES 8

/* Transform k of an h x w plane: the transformed image is th x tw, its pixel (i, j) the
 * source's base + i di + j dj. */
typedef struct plane_map {
    int th, tw;
    ptrdiff_t base, di, dj;
} plane_map;

static plane_map map_of(int k, int h, int w) {
    const ptrdiff_t down = k & 2 ? -(ptrdiff_t)w : w, right = k & 1 ? -1 : 1;
    plane_map p = {h, w, (k & 2 ? (ptrdiff_t)(h - 1) * w : 0) + (k & 1 ? w - 1 : 0), down, right};
    if (k & 4) p = (plane_map){w, h, p.base, right, down};
    return p;
}

/* dst (C, th, tw) = transform k of src (C, h, w). */
static void gather(float *dst, const float *src, int C, int h, int w, int k) {
    const plane_map p = map_of(k, h, w);
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < p.th; i++) {
            const float *s = src + (size_t)c * h * w + p.base + i * p.di;
            float *d = dst + ((size_t)c * p.th + i) * p.tw;
            for (int j = 0; j < p.tw; j++) d[j] = s[j * p.dj];
        }
}

/* acc (C, h, w) += the inverse of transform k applied to y (C, th, tw): every pixel of y goes
 * back to the one place it came from, so no two threads write one value. */
static void scatter_add(float *acc, const float *y, int C, int h, int w, int k) {
    const plane_map p = map_of(k, h, w);
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < p.th; i++) {
            float *d = acc + (size_t)c * h * w + p.base + i * p.di;
            const float *s = y + ((size_t)c * p.th + i) * p.tw;
            for (int j = 0; j < p.tw; j++) d[j * p.dj] += s[j];
        }
}

/* A pass's progress, as a share of the whole: pass k reports (k + fraction) / 8. */
typedef struct pass_progress {
    const nsr_infer_options *outer;
    int pass;
} pass_progress;

static void report_pass(void *ctx, double fraction) {
    const pass_progress *p = ctx;
    p->outer->progress(p->outer->progress_ctx, (p->pass + fraction) / TTA_PASSES);
}

int tta_infer(const nsr_model *m, const nsr_image *in, nsr_image *out,
              const nsr_infer_options *opts, nsr_error *err) {
    const int C = in->channels, h = in->height, w = in->width;
    pass_progress pp = {opts, 0};
    nsr_infer_options once = *opts;
    once.tta = 0;
    if (opts->progress) once.progress = report_pass, once.progress_ctx = &pp;
    /* pass 0, the identity, makes the output; the others are added into it */
    if (nsr_model_infer_tiled(m, in, out, &once, err)) return -1;
    const int H = out->height, W = out->width;
    nsr_image t = *in, y = {0};
    t.data = malloc((size_t)C * h * w * sizeof *t.data);
    t.alpha = NULL, t.icc = NULL, t.icc_size = 0;
    if (!t.data) {
        nsr_image_free(out);
        return nsr_fail(err, "out of memory for the flipped copy of a %dx%d image", w, h);
    }
    for (int k = 1; k < TTA_PASSES; k++) {
        const plane_map p = map_of(k, h, w);
        gather(t.data, in->data, C, h, w, k);
        t.height = p.th, t.width = p.tw;
        pp.pass = k;
        if (nsr_model_infer_tiled(m, &t, &y, &once, err)) {
            free(t.data);
            nsr_image_free(out);
            return -1;
        }
        scatter_add(out->data, y.data, C, H, W, k);
        nsr_image_free(&y);
    }
    free(t.data);
    const size_t n = (size_t)C * H * W;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out->data[i] *= 1.0f / TTA_PASSES;
    return 0;
}
