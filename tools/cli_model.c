/* cli_model.c - the restorer of nsr upscale and nsr eval: bicubic or a model file. */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_model.h"
#include "progress.h"

#define DEFAULT_MODEL "nsr_x2.nsr"

const char *cli_default_model(char *buf, size_t size) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0; /* the program's folder */
    const char *places[] = {"../models", "../share/nsr/models"};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        int len = snprintf(buf, size, "%s/%s/%s", exe, places[i], DEFAULT_MODEL);
        if (len > 0 && (size_t)len < size && access(buf, R_OK) == 0) return buf;
    }
    return NULL;
}

int cli_model_open(cli_model *cm, const char *spec, const nsr_infer_options *opts) {
    nsr_error err;
    memset(cm, 0, sizeof *cm);
    if (!strcmp(spec, "bicubic")) {
        cm->restorer = &nsr_bicubic_restorer;
        if (opts->tta) cli_note("-x is for models: bicubic restores every flip alike, so it runs once");
        return 0;
    }
    const char *label = strrchr(spec, '/') ? strrchr(spec, '/') + 1 : spec;
    if (nsr_model_load(&cm->model, spec, &err) ||
        nsr_model_restorer_create(&cm->owned, cm->model, label, opts, &err)) {
        cli_model_close(cm);
        return cli_error("%s", err.message);
    }
    cm->restorer = cm->owned;
    /* hard selection is the model's to allow: the reference's softmax training does not make
     * the softmax peaked, and its argmax can lose most of the quality */
    if (opts->selection == NSR_SELECT_HARD && nsr_model_arch(cm->model)->groups == 1)
        cli_note("%s is a plain network (no sparsity groups): --hard changes nothing", label);
    else if (opts->selection == NSR_SELECT_HARD && !nsr_model_trained_hard(cm->model))
        cli_note("%s was not trained for hard selection (nsr train --hard-from): expect it to "
                 "restore worse than without --hard", label);
    return 0;
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
