/* selection.c - which sparsity group each part of an image selects (nsr maps; the paper's
 * Fig. 5): windows of the image run through the network's own forward as samples, and the
 * selection weights that forward mixed its kernels by, read back from its workspace
 * (eng_conv_selection). Nothing of the network is computed here. */
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"
#include "run/window.h"

#define WINDOW_BATCH 16                   /* windows per forward, at most */
#define WINDOW_BUDGET ((size_t)256 << 20) /* bytes of a batch's activations, at most (one
                                           * window whatever its size) */

/* The windows along an axis of len pixels: their count, and where the first starts in the
 * image (negative: in the padding). */
static int axis_windows(int len, const nsr_window_grid *g, int *first) {
    const int n = (len + 2 * g->pad - g->size) / g->stride + 1;
    *first = (len + 2 * g->pad - g->size - (n - 1) * g->stride) / 2 - g->pad;
    return n;
}


static int check_grid(const nsr_model *m, const nsr_image *in, const nsr_window_grid *g,
                      nsr_error *err) {
    const int h = in->height, w = in->width;
    if (m->arch.groups == 1)
        return nsr_fail(err, "a plain network (1 sparsity group) selects nothing");
    if (in->channels != m->arch.channels || !in->data)
        return nsr_fail(err, "the network takes %s images, not %d channel(s)",
                        m->arch.channels == 1 ? "grey" : "RGB", in->channels);
    if (g->size < 1 || g->stride < 1 || g->pad < 0)
        return nsr_fail(err, "windows of %d pixels every %d, padded by %d: each must be positive "
                        "(the padding may be 0)", g->size, g->stride, g->pad);
    if (g->pad >= h || g->pad >= w)
        return nsr_fail(err, "padding of %d is not smaller than the %dx%d image", g->pad, w, h);
    if (g->size > h + 2 * g->pad || g->size > w + 2 * g->pad)
        return nsr_fail(err, "a window of %dx%d does not fit the %dx%d image%s", g->size, g->size,
                        w, h, g->pad ? " and its padding" : "");
    return 0;
}

int nsr_model_select_windows(const nsr_model *m, const nsr_image *in, const nsr_window_grid *grid,
                             nsr_selection_map *map, nsr_error *err) {
    memset(map, 0, sizeof *map);
    if (check_grid(m, in, grid, err)) return -1;
    const nsr_arch *a = &m->arch;
    const int per_block = nsr_model_selections_per_block(m);
    const size_t kd = (size_t)a->groups * a->cardinals, nsel = (size_t)a->blocks * per_block;
    const int C = a->channels, size = grid->size;
    *map = (nsr_selection_map){.size = size, .stride = grid->stride, .groups = a->groups,
                               .cards = a->cardinals, .blocks = a->blocks, .per_block = per_block};
    map->rows = axis_windows(in->height, grid, &map->first_y);
    map->cols = axis_windows(in->width, grid, &map->first_x);
    const size_t count = (size_t)map->rows * map->cols, window = (size_t)C * size * size;
    const size_t one = eng_workspace_floats(m, 1, size, size, 0);
    size_t batch = one < SIZE_MAX ? WINDOW_BUDGET / sizeof(float) / one : 0;
    batch = batch < 1 ? 1 : batch > WINDOW_BATCH ? WINDOW_BATCH : batch;
    if (batch > count) batch = count;
    eng_workspace ws = {0};
    float *x = malloc(batch * window * sizeof *x);
    map->gamma = malloc(nsel * count * kd * sizeof *map->gamma);
    if (!x || !map->gamma) {
        nsr_fail(err, "out of memory for the selections of %zu windows", count);
        goto fail;
    }
    if (eng_workspace_create(&ws, m, (int)batch, size, size, 0, err)) goto fail;
    for (size_t first = 0; first < count; first += batch) {
        const size_t n = count - first < batch ? count - first : batch;
        for (size_t t = 0; t < n; t++) {
            const int r = (int)((first + t) / map->cols), c = (int)((first + t) % map->cols);
            window_cut(x + t * window, in->data, in->channels, in->height, in->width, size,
                       map->first_y + r * grid->stride, map->first_x + c * grid->stride);
        }
        /* a short last batch: the workspace's other samples compute on zeros, unread */
        memset(x + n * window, 0, (batch - n) * window * sizeof *x);
        eng_forward_body(m, &ws, x, 0);
        for (size_t s = 0; s < nsel; s++) {
            const int ci = ENG_BLOCK_CONV((int)s / per_block, (int)s % per_block);
            memcpy(map->gamma + (s * count + first) * kd, eng_conv_selection(m, &ws, ci),
                   n * kd * sizeof *map->gamma);
        }
    }
    eng_workspace_free(&ws);
    free(x);
    return 0;
fail:
    eng_workspace_free(&ws);
    free(x);
    nsr_selection_map_free(map);
    return -1;
}

void nsr_selection_map_free(nsr_selection_map *map) {
    free(map->gamma);
    memset(map, 0, sizeof *map);
}
