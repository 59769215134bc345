/* cli_model.c - the restorer of the restoring commands and nsr eval: bicubic, a model file or a
 * model by name; its checks and warnings (cli_model.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_model.h"
#include "model_path.h"
#include "progress.h"

void cli_model_meta_read(const nsr_model_file *f, cli_model_meta *meta) {
    nsr_error err;
    *meta = (cli_model_meta){NULL, 0, 0, NULL, NULL, NAN};
    if (nsr_model_file_meta_type(f, "task") == NSR_META_STRING) nsr_model_file_get_string(f, "task", &meta->task, &err);
    if (nsr_model_file_meta_type(f, "train.iteration") == NSR_META_INT)
        nsr_model_file_get_int(f, "train.iteration", &meta->iterations, &err);
    if (nsr_model_file_meta_type(f, "train.init_iterations") == NSR_META_INT)
        nsr_model_file_get_int(f, "train.init_iterations", &meta->init_iterations, &err);
    if (nsr_model_file_meta_type(f, "train.data") == NSR_META_STRING)
        nsr_model_file_get_string(f, "train.data", &meta->data, &err);
    if (nsr_model_file_meta_type(f, "train.val") == NSR_META_STRING)
        nsr_model_file_get_string(f, "train.val", &meta->val, &err);
    if (nsr_model_file_meta_type(f, "train.val_psnr") == NSR_META_FLOAT)
        nsr_model_file_get_float(f, "train.val_psnr", &meta->val_psnr, &err);
}

int cli_model_load(const char *path, nsr_model_file **f, nsr_model **m, nsr_error *err) {
    *m = NULL;
    if (nsr_model_file_load(f, path, err)) return -1;
    nsr_error why;
    if (nsr_model_from_file(m, *f, &why)) {
        nsr_model_file_free(*f);
        *f = NULL;
        return nsr_fail(err, "%s: %s", path, why.message);
    }
    return 0;
}

int cli_model_open_file(cli_model *cm, const char *path, const char *label, const nsr_infer_options *opts) {
    nsr_error err;
    nsr_model_file *f;
    memset(cm, 0, sizeof *cm);
    snprintf(cm->label, sizeof cm->label, "%s", label);
    if (cli_model_load(path, &f, &cm->model, &err)) return cli_error("%s", err.message);
    cli_model_meta meta;
    cli_model_meta_read(f, &meta);
    snprintf(cm->task, sizeof cm->task, "%s", meta.task ? meta.task : "");
    cm->trained = meta.iterations > 0;
    nsr_model_file_free(f);
    if (nsr_model_restorer_create(&cm->owned, cm->model, cm->label, opts, &err)) {
        cli_model_close(cm);
        return cli_error("%s", err.message);
    }
    cm->restorer = cm->owned;
    return 0;
}

int cli_model_open(cli_model *cm, const char *spec, const nsr_infer_options *opts) {
    memset(cm, 0, sizeof *cm);
    if (!strcmp(spec, "bicubic")) {
        cm->restorer = &nsr_bicubic_restorer;
        snprintf(cm->label, sizeof cm->label, "bicubic");
        if (opts->tta) cli_note("-x is for models: bicubic restores every flip alike, so it runs once");
        return 0;
    }
    if (strchr(spec, '/') || access(spec, F_OK) == 0)
        return cli_model_open_file(cm, spec, strrchr(spec, '/') ? strrchr(spec, '/') + 1 : spec, opts);
    /* a name: NAME or NAME.nsr on the search path */
    char name[256];
    snprintf(name, sizeof name, "%s", spec);
    size_t len = strlen(name);
    if (len > 4 && !strcmp(name + len - 4, ".nsr")) name[len - 4] = 0;
    model_path search;
    if (model_path_init(&search)) return cli_error("out of memory");
    char *path = model_path_find(&search, name);
    if (!path) {
        char where[1024];
        model_path_describe(&search, where, sizeof where);
        model_path_free(&search);
        return cli_error("%s: no such file, and no model of that name (looked for %s.nsr in %s; "
                         "nsr models lists the models there)", spec, name, where);
    }
    model_path_free(&search);
    int rc = cli_model_open_file(cm, path, name, opts);
    free(path);
    return rc;
}

void cli_model_close(cli_model *cm) {
    nsr_model_restorer_free(cm->owned);
    nsr_model_free(cm->model);
    memset(cm, 0, sizeof *cm);
}

void cli_model_describe(const cli_model *cm, const char *spec, const nsr_infer_options *opts) {
    const int threads = omp_get_max_threads();
    if (!cm->model) {
        progress_detail("model: bicubic (MATLAB-compatible); %d thread%s", threads, threads > 1 ? "s" : "");
        return;
    }
    const nsr_arch *a = nsr_model_arch(cm->model);
    char tiles[64];
    if (opts->tiling == NSR_TILE_AUTO) {
        const int t = nsr_infer_tile_size(cm->model, opts);
        snprintf(tiles, sizeof tiles, ", tiles of %dx%d input pixels%s", t, t, opts->tile_size ? " (-t)" : "");
    } else {
        tiles[0] = 0;
    }
    progress_detail("model: %s (B %d, F %d, wm %d, k %d, d %d, x%d, %s, %zu parameters); "
                    "tiling %s%s; %s selection; TTA %s; %d thread%s",
                    spec, a->blocks, a->features, a->width_mult, a->groups, a->cardinals, a->scale,
                    a->channels == 1 ? "grey" : "RGB", nsr_model_param_count(cm->model),
                    nsr_tiling_name(opts->tiling), tiles,
                    opts->selection == NSR_SELECT_HARD ? "hard" : "soft", opts->tta ? "x8" : "off",
                    threads, threads > 1 ? "s" : "");
}

/* "use nsr denoise -m M": the command for a scale-1 model's task as its metadata records it. */
static int same_size_command(const char *task, const char *m, char *buf, size_t size) {
    if (!strcmp(task, "denoise") || !strcmp(task, "jpeg"))
        return snprintf(buf, size, "use nsr %s -m %s", !strcmp(task, "jpeg") ? "dejpeg" : "denoise", m);
    return snprintf(buf, size, "use nsr denoise -m %s or nsr dejpeg -m %s", m, m);
}

int cli_model_check_use(const cli_model *cm, const char *command, nsr_task_kind kind, int scale) {
    const char *m = cm->label;
    char instead[600];
    same_size_command(cm->task, m, instead, sizeof instead);
    if (!cm->model) {
        if (kind == NSR_TASK_SR) return 0;
        return cli_error("bicubic only upscales: nsr %s needs a model (-m NAME or -m FILE.nsr)", command);
    }
    const int s = nsr_model_arch(cm->model)->scale;
    if (kind == NSR_TASK_SR && s == 1)
        return cli_error("%s restores at the same size (%s model): %s", m,
                         !strcmp(cm->task, "denoise") ? "a denoising" : !strcmp(cm->task, "jpeg") ? "a JPEG artifact"
                                                                                             : "a denoising or JPEG artifact",
                         instead);
    if (kind == NSR_TASK_SR && scale && scale != s)
        return cli_error("%s is a x%d model: leave out -s (or give -s %d) to upscale x%d, or give a x%d "
                         "model (-m nsr_x%d)", m, s, s, s, scale, scale);
    if (kind != NSR_TASK_SR && s > 1)
        return cli_error("%s is a x%d super-resolution model: use nsr upscale -m %s", m, s, m);
    const char *wanted = kind == NSR_TASK_DENOISE ? "denoise" : "jpeg";
    if (kind != NSR_TASK_SR && *cm->task && strcmp(cm->task, wanted))
        return cli_error("%s was trained for %s, not %s: %s", m,
                         !strcmp(cm->task, "jpeg") ? "JPEG artifacts" : "noise",
                         kind == NSR_TASK_DENOISE ? "noise" : "JPEG artifacts", instead);
    return 0;
}

void cli_model_warn(const cli_model *cm, const nsr_infer_options *opts) {
    if (!cm->model) return;
    if (!cm->trained)
        cli_note("%s is untrained (no training recorded in it, as nsr new writes them): its output "
                 "is not a restoration", cm->label);
    /* hard selection is the model's to allow: the reference's softmax training does not make
     * the softmax peaked, and its argmax can lose most of the quality */
    if (opts->selection == NSR_SELECT_HARD && nsr_model_arch(cm->model)->groups == 1)
        cli_note("%s is a plain network (no sparsity groups): --hard changes nothing", cm->label);
    else if (opts->selection == NSR_SELECT_HARD && !nsr_model_trained_hard(cm->model))
        cli_note("%s was not trained for hard selection (nsr train --hard-from): expect it to "
                 "restore worse than without --hard (nsr fold makes it a plain network that "
                 "restores as it does)", cm->label);
}
