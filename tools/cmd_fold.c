/* cmd_fold.c - `nsr fold`: an NSR model as the plain network it is when every selection is
 * fixed to its mean over a folder of images (nsr_model_fold). The selections are those of the
 * network's own forward on windows the size of a training patch of its inputs: the images
 * degraded as the model's task degrades them (nsr_task_degrade: the LR of an SR model, noisy or
 * JPEG-coded images for a restoration model), or as they are with --as-is. How much the
 * selections vary between windows is printed, since that is what the fold leaves out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"
#include "progress.h"

enum { DATA, OUTPUT, WINDOW, NOISE, JPEG, AS_IS, OVERWRITE, THREADS, VERBOSE, QUIET };
static const opt_spec specs[] = {
    [DATA] = {.long_name = "data", .kind = OPT_STRING, .arg = "DIR", .repeat = 1,
              .help = "images whose inputs' selections are averaged (may be given several\n"
                      "times; the training images are the natural choice)"},
    [OUTPUT] = {.short_name = 'o', .long_name = "output", .kind = OPT_STRING, .arg = "OUT",
                .help = "the plain model file to write"},
    [WINDOW] = {.long_name = "window", .kind = OPT_INT, .min = 8, .max = 4096, .arg = "N",
                .help = "N x N windows, every N pixels, each selecting as a training patch",
                .show_default = 1, .def = 48},
    [NOISE] = {.short_name = 'n', .long_name = "noise", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 255,
               .arg = "SIGMA", .help = "a denoiser's inputs at this sigma (default: the level it was\n"
                                      "trained at, the middle of a blind model's range)"},
    [JPEG] = {.long_name = "jpeg", .kind = OPT_INT, .min = 1, .max = 100, .arg = "Q",
              .help = "a JPEG model's inputs at this quality (default as for --noise)"},
    [AS_IS] = {.long_name = "as-is", .help = "the images are the network's inputs already: no degradation\n"
                                             "(default: an SR model's LR, bicubic by its scale)"},
    [OVERWRITE] = {.long_name = "overwrite", .help = "replace OUT when it exists"},
    [THREADS] = CLI_OPT_THREADS,
    [VERBOSE] = PROGRESS_OPT_VERBOSE,
    [QUIET] = PROGRESS_OPT_QUIET,
};

/* 1 for metadata that describes the network itself (its architecture, its selection), which the
 * folded model writes for itself. */
static int network_key(const char *key) {
    if (!strcmp(key, "nsr.architecture") || !strncmp(key, "select.", 7)) return 1;
    for (size_t i = 0; i < nsr_arch_field_count(); i++)
        if (!strcmp(key, nsr_arch_field_at(i)->key)) return 1;
    return 0;
}

/* Copies f's metadata but the network's own to out: its task and provenance. */
static int copy_provenance(const nsr_model_file *f, nsr_model_file *out, nsr_error *err) {
    for (size_t i = 0; i < nsr_model_file_meta_count(f); i++) {
        const char *key = nsr_model_file_meta_key(f, i);
        if (network_key(key)) continue;
        int64_t iv;
        double dv;
        const char *sv;
        int rc = 0;
        switch (nsr_model_file_meta_type(f, key)) {
        case NSR_META_INT:
            rc = nsr_model_file_get_int(f, key, &iv, err) || nsr_model_file_set_int(out, key, iv, err);
            break;
        case NSR_META_FLOAT:
            rc = nsr_model_file_get_float(f, key, &dv, err) || nsr_model_file_set_float(out, key, dv, err);
            break;
        case NSR_META_STRING:
            rc = nsr_model_file_get_string(f, key, &sv, err) || nsr_model_file_set_string(out, key, sv, err);
            break;
        default:
            break;
        }
        if (rc) return -1;
    }
    return 0;
}

/* The selections of every window of one image (degraded by task unless NULL) added to sum and
 * sumsq (nsel x k*d); their count added to *windows. An image smaller than a window adds
 * nothing. */
static int add_image(const nsr_model *m, const char *path, const nsr_task *task, int window,
                     double *sum, double *sumsq, size_t *windows, nsr_error *err) {
    nsr_image img;
    if (nsr_image_read(&img, path, NULL, err)) return -1;
    if (nsr_model_arch(m)->channels == 1 && img.channels == 3) {
        nsr_image y;
        const int rc = nsr_image_luma(&y, &img, err);
        nsr_image_free(&img);
        if (rc) return -1;
        img = y;
    } else if (img.channels == 1 && nsr_model_arch(m)->channels == 3) { /* as restoring does */
        nsr_image rgb;
        const int rc = nsr_image_grey_to_rgb(&rgb, &img, err);
        nsr_image_free(&img);
        if (rc) return -1;
        img = rgb;
    }
    if (task) { /* the network's input made from it, as nsr eval makes it */
        nsr_image input;
        const int rc = nsr_task_degrade(&input, &img, task, nsr_seed_from_name(path), err);
        nsr_image_free(&img);
        if (rc) return -1;
        img = input;
    }
    if (img.width < window || img.height < window) {
        nsr_image_free(&img);
        return 0;
    }
    nsr_selection_map map;
    const nsr_window_grid grid = {window, window, 0};
    const int rc = nsr_model_select_windows(m, &img, &grid, &map, err);
    nsr_image_free(&img);
    if (rc) return -1;
    const size_t count = (size_t)map.rows * map.cols, kd = (size_t)map.groups * map.cards;
    const size_t nsel = (size_t)map.blocks * map.per_block;
    for (size_t s = 0; s < nsel; s++)
        for (size_t w = 0; w < count; w++)
            for (size_t r = 0; r < kd; r++) {
                const double g = map.gamma[(s * count + w) * kd + r];
                sum[s * kd + r] += g;
                sumsq[s * kd + r] += g * g;
            }
    *windows += count;
    nsr_selection_map_free(&map);
    return 0;
}

/* The task whose inputs the images are made into (scale 0 with --as-is: none), from the options
 * and the model's records; a usage error (printed, 2) when they do not fit. */
static int inputs_of(const nsr_model_file *f, const nsr_arch *arch, const opt_value *v, nsr_task *task) {
    const char *kind = "";
    nsr_error ignored;
    if (nsr_model_file_meta_type(f, "task") == NSR_META_STRING) nsr_model_file_get_string(f, "task", &kind, &ignored);
    memset(task, 0, sizeof *task);
    if (v[AS_IS].count + (v[NOISE].count > 0) + (v[JPEG].count > 0) > 1)
        return cli_usage_error("fold", "give one of --as-is, --noise, --jpeg");
    if (v[AS_IS].count) return 0;
    if (arch->scale > 1) {
        if (v[NOISE].count || v[JPEG].count)
            return cli_usage_error("fold", "an x%d model takes LR images: --noise and --jpeg are for "
                                   "restoration models", arch->scale);
        *task = (nsr_task){.kind = NSR_TASK_SR, .scale = arch->scale};
        return 0;
    }
    double lo = 0, hi = 0;
    int64_t q = 0, qmax = 0;
    const int denoiser = !strcmp(kind, "denoise"), jpeg = !strcmp(kind, "jpeg");
    if ((v[NOISE].count && jpeg) || (v[JPEG].count && denoiser))
        return cli_usage_error("fold", "this is a %s model: %s", kind,
                               denoiser ? "--noise SIGMA, not --jpeg" : "--jpeg Q, not --noise");
    if (v[NOISE].count || (denoiser && !v[JPEG].count)) {
        nsr_model_file_get_float(f, "noise", &lo, &ignored);
        hi = lo;
        nsr_model_file_get_float(f, "noise_max", &hi, &ignored);
        *task = (nsr_task){.kind = NSR_TASK_DENOISE, .scale = 1,
                           .noise_sigma = v[NOISE].count ? v[NOISE].d : 0.5 * (lo + (hi > lo ? hi : lo))};
    } else if (v[JPEG].count || jpeg) {
        nsr_model_file_get_int(f, "jpeg_quality", &q, &ignored);
        qmax = q;
        nsr_model_file_get_int(f, "jpeg_quality_max", &qmax, &ignored);
        *task = (nsr_task){.kind = NSR_TASK_JPEG, .scale = 1,
                           .jpeg_quality = v[JPEG].count ? (int)v[JPEG].i : (int)((q + (qmax > q ? qmax : q)) / 2)};
    } else {
        return cli_usage_error("fold", "the model records no task: say what its inputs are (--noise, "
                               "--jpeg, or --as-is)");
    }
    if (task->kind == NSR_TASK_JPEG && task->jpeg_quality < 1)
        return cli_usage_error("fold", "the model records no JPEG quality: give --jpeg Q");
    return 0;
}

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    if (a->npos != 1) return cli_usage_error("fold", "give one model file: nsr fold M.nsr --data DIR -o OUT.nsr");
    if (!v[DATA].count) return cli_usage_error("fold", "--data DIR is required");
    const char *in_path = a->pos[0], *out_path = v[OUTPUT].text;
    if (!out_path) return cli_usage_error("fold", "-o OUT.nsr is required");
    if (progress_set_level("fold", &v[VERBOSE], &v[QUIET])) return 2;
    cli_set_threads(&v[THREADS]);
    if (!v[OVERWRITE].count && access(out_path, F_OK) == 0)
        return cli_error("%s exists (--overwrite replaces it)", out_path);
    const int window = v[WINDOW].count ? (int)v[WINDOW].i : 48;

    nsr_error err;
    nsr_model_file *f = NULL, *out = NULL;
    nsr_model *m = NULL, *plain = NULL;
    nsr_path_list lists[8] = {0};
    double *sum = NULL, *sumsq = NULL;
    float *mean = NULL;
    int nlists = 0, rc = 1;
    if (cli_model_load(in_path, &f, &m, &err)) {
        cli_error("%s", err.message);
        goto done;
    }
    const nsr_arch *arch = nsr_model_arch(m);
    nsr_task task;
    if (inputs_of(f, arch, v, &task)) {
        rc = 2;
        goto done;
    }
    if (arch->groups == 1) {
        cli_error("%s is a plain network (1 sparsity group): it has no selection to fold", in_path);
        goto done;
    }
    if (v[DATA].count > (int)(sizeof lists / sizeof lists[0])) {
        cli_usage_error("fold", "at most %zu --data folders", sizeof lists / sizeof lists[0]);
        rc = 2;
        goto done;
    }
    size_t images = 0;
    for (int i = 0; i < v[DATA].count; i++, nlists++) {
        if (nsr_list_images(&lists[i], v[DATA].all[i], &err)) {
            cli_error("%s", err.message);
            goto done;
        }
        images += lists[i].count;
    }
    const int per_block = nsr_model_selections_per_block(m);
    const size_t kd = (size_t)arch->groups * arch->cardinals, n = (size_t)arch->blocks * per_block * kd;
    sum = calloc(n, sizeof *sum), sumsq = calloc(n, sizeof *sumsq), mean = malloc(n * sizeof *mean);
    if (!sum || !sumsq || !mean) {
        cli_error("out of memory");
        goto done;
    }
    size_t windows = 0, index = 0;
    progress_job(images);
    for (int i = 0; i < nlists; i++)
        for (size_t j = 0; j < lists[i].count; j++, index++) {
            const char *path = lists[i].paths[j];
            progress_item(index, strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
            progress_stage("selecting", 0, 1);
            if (add_image(m, path, task.scale ? &task : NULL, window, sum, sumsq, &windows, &err)) {
                cli_error("%s: %s", path, err.message);
                goto done;
            }
            progress_item_done();
        }
    if (!windows) {
        cli_error("no image of the --data folders holds a %dx%d window", window, window);
        goto done;
    }
    double spread = 0; /* the mean over the weights of their standard deviation over windows */
    for (size_t r = 0; r < n; r++) {
        const double mu = sum[r] / (double)windows, var = sumsq[r] / (double)windows - mu * mu;
        mean[r] = (float)mu;
        spread += sqrt(var > 0 ? var : 0) / (double)n;
    }
    out = nsr_model_file_new();
    if (!out) {
        cli_error("out of memory");
        goto done;
    }
    char inputs[80] = "the images as they are";
    if (task.scale) {
        char what[64];
        snprintf(inputs, sizeof inputs, "the inputs of %s", nsr_task_describe(&task, what, sizeof what));
    }
    char data[4096] = "";
    for (int i = 0; i < v[DATA].count; i++)
        snprintf(data + strlen(data), sizeof data - strlen(data), "%s%s", i ? ":" : "", v[DATA].all[i]);
    if (nsr_model_fold(&plain, m, mean, &err) || copy_provenance(f, out, &err) ||
        nsr_model_to_file(plain, out, &err) ||
        nsr_model_file_set_string(out, "fold.from", in_path, &err) ||
        nsr_model_file_set_string(out, "fold.data", data, &err) ||
        nsr_model_file_set_int(out, "fold.window", window, &err) ||
        nsr_model_file_set_string(out, "fold.inputs", inputs, &err) ||
        nsr_model_file_set_int(out, "fold.windows", (int64_t)windows, &err) ||
        nsr_model_file_set_float(out, "fold.spread", spread, &err) ||
        nsr_model_file_save(out, out_path, &err)) {
        cli_error("%s", err.message);
        goto done;
    }
    printf("%s: %s folded by the mean selection of %zu windows of %dx%d (%zu images, %s); the "
           "weights vary between windows by %.4f on average (standard deviation; each averages "
           "1/%d); %zu parameters instead of %zu\n",
           out_path, in_path, windows, window, window, images, inputs, spread, arch->groups,
           nsr_model_param_count(plain), nsr_model_param_count(m));
    progress_closing("%zu images in %.2f s", images, progress_job_seconds());
    rc = 0;
done:
    for (int i = 0; i < nlists; i++) nsr_path_list_free(&lists[i]);
    free(sum), free(sumsq), free(mean);
    nsr_model_free(m), nsr_model_free(plain);
    nsr_model_file_free(f), nsr_model_file_free(out);
    return rc;
}

static const opt_command command = {
    "fold",
    "usage: nsr fold M.nsr --data DIR [--data DIR ...] -o OUT.nsr [options]\n"
    "\n"
    "Writes the plain network (1 sparsity group) that NSR model M is when each of its selections\n"
    "is fixed to its mean over N x N windows of its inputs made from the images of every DIR as\n"
    "nsr eval makes them (an SR model's bicubic LR; a denoiser's noisy, a JPEG model's coded\n"
    "images, seeded by file name): each conv's groups mixed into one kernel by those weights\n"
    "(a fixed-size block: its hidden channels weighted), so OUT\n"
    "runs at the plain network's cost with no selection. It restores as M does to the extent\n"
    "that M's selection does not depend on the input: the line printed says how much it varies\n"
    "between windows (RESULTS.md measures what folding costs). OUT keeps M's task and training\n"
    "records, with fold.* beside them.\n"
    "\n",
    PROGRESS_HELP,
    specs, OPT_COUNT(specs), 1, run,
};

int cmd_fold(int argc, char **argv) { return opt_main(&command, argc, argv); }
