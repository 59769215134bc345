/* restore.c - the network meets any image and task: grey, alpha, metadata and bit depth around the
 * network of tiling.c (RGB, or grey for a grey network), the check that a model fits a task, and the restorer interface
 * (nsr_restorer) that nsr eval and nsr upscale run a model through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

int nsr_model_restore(const nsr_model *m, const nsr_image *in, nsr_image *out,
                      const nsr_infer_options *opts, nsr_error *err) {
    const int s = m->arch.scale;
    nsr_image rgb = {0}, net = {0};
    memset(out, 0, sizeof *out);
    if ((in->channels != 1 && in->channels != 3) || !in->data)
        return nsr_fail(err, "cannot restore an image of %d channels", in->channels);
    const nsr_image *x = in;
    const int grey_net = m->arch.channels == 1;
    if (grey_net && in->channels != 1)
        return nsr_fail(err, "this model restores grey images, not colour ones (a colour model "
                        "of the same task restores them)");
    if (in->channels == 1 && !grey_net) { /* the network sees RGB: grey replicated to the three planes */
        if (nsr_image_grey_to_rgb(&rgb, in, err)) return -1;
        x = &rgb;
    }
    int rc = nsr_model_infer_tiled(m, x, &net, opts, err);
    nsr_image_free(&rgb);
    if (rc) return -1;
    const size_t plane = (size_t)net.width * net.height;
    if (in->channels == 1 && !grey_net) {
        /* back to grey: the mean of the three planes (equal for a network that keeps grey
         * grey; otherwise the plain average, with no colour weighting to prefer) */
        if (nsr_image_create(out, net.width, net.height, 1, 0, err)) goto fail;
        for (size_t i = 0; i < plane; i++)
            out->data[i] = (net.data[i] + net.data[plane + i] + net.data[2 * plane + i]) / 3.0f;
        nsr_image_free(&net);
    } else {
        *out = net;
        net = (nsr_image){0};
    }
    out->bit_depth = in->bit_depth;
    if (in->alpha) {
        /* alpha is not the network's business: MATLAB bicubic in float, as a grey image */
        if (s == 1) {
            out->alpha = malloc(plane * sizeof(float));
            if (!out->alpha) {
                nsr_fail(err, "out of memory for the alpha plane");
                goto fail;
            }
            memcpy(out->alpha, in->alpha, plane * sizeof(float));
        } else {
            const nsr_image alpha_in = {.width = in->width, .height = in->height, .channels = 1,
                                        .bit_depth = in->bit_depth, .data = in->alpha};
            nsr_image alpha_out;
            if (nsr_resize_bicubic(&alpha_out, &alpha_in, out->width, out->height, s, s, 0, err))
                goto fail;
            out->alpha = alpha_out.data; /* taken over from alpha_out, which is not freed */
        }
    }
    if (nsr_image_copy_metadata(out, in, err)) goto fail;
    return 0;
fail:
    nsr_image_free(&net);
    nsr_image_free(out);
    return -1;
}

/* The restorer: a model, its options and its name in one allocation. */
typedef struct model_restorer {
    nsr_restorer base;
    const nsr_model *model;
    nsr_infer_options opts;
    char label[96]; /* names the model in messages */
    char name[160]; /* label and mode, for result tables */
} model_restorer;

int nsr_model_check_task(const nsr_model *m, const nsr_task *task, const char *label,
                         nsr_error *err) {
    const int s = m->arch.scale;
    char what[64];
    if (!label) label = "the model";
    if (s == 1 && task->kind == NSR_TASK_SR)
        return nsr_fail(err, "%s restores at the same size (denoising, JPEG); it cannot do %s",
                        label, nsr_task_describe(task, what, sizeof what));
    if (s > 1 && (task->kind != NSR_TASK_SR || task->scale != s))
        return nsr_fail(err, "%s is a x%d super-resolution network; it cannot do %s", label, s,
                        nsr_task_describe(task, what, sizeof what));
    return 0;
}

static int restore_model(void *ctx, const nsr_task *task, const nsr_image *in, nsr_image *out,
                         nsr_error *err) {
    const model_restorer *r = ctx;
    memset(out, 0, sizeof *out);
    if (nsr_model_check_task(r->model, task, r->label, err)) return -1;
    return nsr_model_restore(r->model, in, out, &r->opts, err);
}

int nsr_model_restorer_create(nsr_restorer **out, const nsr_model *m, const char *label,
                              const nsr_infer_options *opts, nsr_error *err) {
    const nsr_infer_options defaults = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_AUTO};
    model_restorer *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return nsr_fail(err, "out of memory");
    r->model = m;
    r->opts = opts ? *opts : defaults;
    snprintf(r->label, sizeof r->label, "%s", label ? label : "the model");
    const char *tiling = r->opts.tiling == NSR_TILE_WHOLE       ? "whole image"
                         : r->opts.tiling == NSR_TILE_REFERENCE ? "reference tiles"
                                                                : "auto tiles";
    snprintf(r->name, sizeof r->name, "%s (%s, %s selection%s)", r->label, tiling,
             r->opts.selection == NSR_SELECT_HARD ? "hard" : "soft", r->opts.tta ? ", TTA x8" : "");
    r->base = (nsr_restorer){r->name, r, restore_model};
    *out = &r->base;
    return 0;
}

void nsr_model_restorer_free(nsr_restorer *r) {
    free(r); /* base is the first member: r is the allocation */
}
