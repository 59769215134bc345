/* cmd_upscale.c - the restoring commands: `nsr upscale` (super-resolution), `nsr denoise` and
 * `nsr dejpeg` (restoration at the same size). One implementation and one option table; a
 * command differs only in its task, the bundled model it picks by default, and (upscale) -s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_jobs.h"
#include "cli_model.h"
#include "cli_output.h"
#include "commands.h"
#include "model_path.h"
#include "progress.h"

/* The share of an image's work that restoring takes in the progress; encoding takes the rest. */
#define RESTORE_SHARE 0.9

/* SCALE is last: denoise and dejpeg take the table without it. */
enum { INPUT, OUTPUT, MODEL, TILE, TILE_SIZE, HARD, TTA, FORMAT, QUALITY, MAX_PIXELS, OVERWRITE, THREADS,
       VERBOSE, QUIET, SCALE, NSPECS };
static const opt_spec specs[] = {
    [INPUT] = {.short_name = 'i', .long_name = "input", .kind = OPT_STRING, .repeat = 1, .arg = "IN",
               .help = "an image, a folder of images, or - (standard input); repeat it for\n"
                       "several (default: the built-in test picture)"},
    [OUTPUT] = {.short_name = 'o', .long_name = "output", .kind = OPT_STRING, .arg = "OUT",
                .help = "the image to write, or - (standard output, with -f); a folder for a\n"
                        "folder or several inputs (made when missing)"},
    [MODEL] = {.short_name = 'm', .long_name = "model", .kind = OPT_STRING, .arg = "M",
               .help = "a model's name (nsr models lists them), a model file (.nsr), or\n"
                       "bicubic (MATLAB-compatible; upscale only). Default: the command's\n"
                       "bundled model (below)"},
    [TILE] = CLI_OPT_TILE,
    [TILE_SIZE] = CLI_OPT_TILE_SIZE,
    [HARD] = {.long_name = "hard", .help = "hard sparsity selection (argmax group) instead of the trained soft one"},
    [TTA] = CLI_OPT_TTA,
    [FORMAT] = CLI_OPT_FORMAT("png, jpeg or webp (default: from OUT's extension; in a folder, the\n"
                              "input's; refused when OUT's extension names another format)"),
    [QUALITY] = CLI_OPT_QUALITY("JPEG/WebP quality 1..100 (WebP default: lossless); refused for PNG"),
    [MAX_PIXELS] = CLI_OPT_MAX_PIXELS,
    [OVERWRITE] = {.long_name = "overwrite",
                   .help = "replace outputs that exist in a folder (else skipped), and allow OUT\n"
                           "to be the input"},
    [THREADS] = CLI_OPT_THREADS,
    [VERBOSE] = PROGRESS_OPT_VERBOSE,
    [QUIET] = PROGRESS_OPT_QUIET,
    [SCALE] = {.short_name = 's', .long_name = "scale", .kind = OPT_INT, .min = 2, .max = 8, .arg = "S",
               .help = "scale factor 2..8 (default: -m's, else 2); a model does its own only"},
};
_Static_assert(SCALE == NSPECS - 1 && OPT_COUNT(specs) == NSPECS, "SCALE must be the table's last option");

/* What a restoring command does. */
typedef struct restoring {
    const char *name;
    nsr_task_kind kind;
    const char *model; /* its bundled model's name; upscale: nsr_xS */
    const char *what;  /* for messages: "denoising" */
} restoring;

/* The models that restore: -m's for every image, or the bundled ones, colour (NAME) and grey
 * (NAME_grey), as found. */
typedef struct models {
    cli_model colour, grey;
    int given;             /* -m was given: colour is it, for every image */
    char name[64], where[1024]; /* the bundled model's name, and the folders searched */
} models;

/* Opens the model file of name when the search path has one; 0 when it has not (m empty). */
static int open_named(cli_model *m, const model_path *search, const char *name, const nsr_infer_options *opts) {
    char *path = model_path_find(search, name);
    memset(m, 0, sizeof *m);
    if (!path) return 0;
    int rc = cli_model_open_file(m, path, name, opts);
    free(path);
    return rc;
}

/* -m, or the bundled models of the task; each checked for the task and warned about. */
static int models_open(models *ms, const restoring *r, const char *spec, int scale, const nsr_infer_options *opts) {
    memset(ms, 0, sizeof *ms);
    if (spec) {
        ms->given = 1;
        if (cli_model_open(&ms->colour, spec, opts)) return 1;
    } else {
        char grey[80];
        if (r->model) snprintf(ms->name, sizeof ms->name, "%s", r->model);
        else snprintf(ms->name, sizeof ms->name, "nsr_x%d", scale ? scale : 2);
        snprintf(grey, sizeof grey, "%s_grey", ms->name);
        model_path search;
        if (model_path_init(&search)) return cli_error("out of memory");
        model_path_describe(&search, ms->where, sizeof ms->where);
        int rc = open_named(&ms->colour, &search, ms->name, opts) || open_named(&ms->grey, &search, grey, opts);
        model_path_free(&search);
        if (rc) return 1;
        char what[64];
        if (r->kind == NSR_TASK_SR) snprintf(what, sizeof what, "x%d %s", scale ? scale : 2, r->what);
        else snprintf(what, sizeof what, "%s", r->what);
        if (!ms->colour.restorer && !ms->grey.restorer)
            return cli_error("no %s model found (looked for %s.nsr and %s.nsr in %s): give -m NAME or -m "
                             "FILE.nsr%s", what, ms->name, grey, ms->where,
                             r->kind == NSR_TASK_SR ? ", or -m bicubic to upscale with bicubic" : "");
    }
    const cli_model *each[2] = {&ms->colour, &ms->grey};
    for (int i = 0; i < 2; i++)
        if (each[i]->restorer && cli_model_check_use(each[i], r->name, r->kind, scale)) return 1;
    for (int i = 0; i < 2; i++)
        if (each[i]->restorer) cli_model_warn(each[i], opts);
    return 0;
}

static void models_close(models *ms) {
    cli_model_close(&ms->colour);
    cli_model_close(&ms->grey);
}

/* The model for image in (named label): -m's; else the grey model for a grey image, the colour
 * one for colour. A grey image without a grey model: upscaled by the colour model (as RGB),
 * but not denoised or de-JPEGed by it (grey noise and grey JPEG artifacts are not what a colour
 * model learned: -m NAME runs it all the same). NULL after one line. */
static const cli_model *model_for(const models *ms, const restoring *r, const nsr_image *in, const char *label) {
    if (ms->given) return &ms->colour;
    if (in->channels == 1 && ms->grey.restorer) return &ms->grey;
    if (in->channels == 1 && ms->colour.restorer && r->kind != NSR_TASK_SR) {
        cli_error("%s: a grey image, and no %s_grey model found (looked in %s); -m %s runs the colour "
                  "model on it", label, ms->name, ms->where, ms->name);
        return NULL;
    }
    if (ms->colour.restorer) return &ms->colour;
    cli_error("%s: a colour image, and %s_grey restores grey images only: no %s model found (looked in %s)",
              label, ms->name, ms->name, ms->where);
    return NULL;
}

enum { DONE, SKIPPED, FAILED };

/* Restores job number index, written with wopts; says why when it is skipped or fails. */
static int restore_one(const opt_args *a, const restoring *r, const models *ms, const cli_jobs *jobs,
                       size_t index, int scale, const nsr_write_options *wopts) {
    const cli_job *job = &jobs->jobs[index];
    const opt_value *v = a->v;
    const int overwrite = v[OVERWRITE].count, to_stdout = !strcmp(job->out, CLI_STDIO);
    const char *label = !job->in ? "test picture" : !strcmp(job->in, CLI_STDIO) ? "standard input" : job->in;
    struct stat st;
    if (job->same_out_as) {
        cli_error("%s: %s is also the output of %s (rename one of them)", label, job->out, job->same_out_as);
        return FAILED;
    }
    if (jobs->batch && !overwrite && stat(job->out, &st) == 0) {
        cli_note("%s exists: skipped (--overwrite replaces it)", job->out);
        return SKIPPED;
    }
    if (job->in && !to_stdout && cli_check_overwrite(job->in, job->out, overwrite)) return FAILED;

    nsr_error err;
    nsr_image in, out;
    nsr_read_options ropts = {(uint64_t)v[MAX_PIXELS].i};
    progress_item(index, label);
    int rc = !job->in                        ? nsr_render_test_image(&in, 128, 96, &err)
             : !strcmp(job->in, CLI_STDIO)   ? cli_read_stdin(&in, &ropts, &err)
                                             : nsr_image_read(&in, job->in, &ropts, &err);
    if (rc) {
        cli_error("%s", err.message);
        return FAILED;
    }
    if (!job->in) cli_note("no -i given: the built-in test picture (128x96)");
    progress_input(label, &in);
    const cli_model *m = model_for(ms, r, &in, label);
    if (!m) {
        nsr_image_free(&in);
        return FAILED;
    }
    nsr_task task = {.kind = r->kind, .scale = 1};
    if (r->kind == NSR_TASK_SR) task.scale = scale ? scale : m->model ? nsr_model_arch(m->model)->scale : 2;
    progress_stage("restoring", 0, RESTORE_SHARE);
    rc = m->restorer->restore(m->restorer->ctx, &task, &in, &out, &err);
    nsr_image_free(&in);
    if (rc) {
        cli_error("%s: %s", label, err.message);
        return FAILED;
    }
    progress_stage("encoding", RESTORE_SHARE, 1);
    if (to_stdout) {
        rc = cli_write_stdout(&out, wopts->format, wopts, &err);
        if (rc) cli_error("%s", err.message);
    } else {
        rc = cli_write_image(&out, job->out, wopts);
    }
    if (!rc) {
        progress_item_done();
        if (!to_stdout) progress_wrote(job->out, &out);
    }
    nsr_image_free(&out);
    return rc ? FAILED : DONE;
}

static const restoring tasks[] = {
    {"upscale", NSR_TASK_SR, NULL, "super-resolution"},
    {"denoise", NSR_TASK_DENOISE, "nsr_denoise", "denoising"},
    {"dejpeg", NSR_TASK_JPEG, "nsr_dejpeg", "JPEG artifact removal"},
};

static int run(const opt_args *a) {
    const restoring *r = &tasks[0];
    for (size_t i = 0; i < OPT_COUNT(tasks); i++)
        if (!strcmp(a->cmd->name, tasks[i].name)) r = &tasks[i];
    const opt_value *v = a->v;
    const int scale = a->cmd->nspecs == NSPECS ? (int)v[SCALE].i : 0;
    const char *output = v[OUTPUT].text;
    nsr_infer_options iopts = {.selection = v[HARD].count ? NSR_SELECT_HARD : NSR_SELECT_SOFT,
                               .tiling = NSR_TILE_AUTO, .progress = progress_library,
                               .tile_size = (int)v[TILE_SIZE].i, .tta = v[TTA].count > 0};
    if (cli_parse_tiling(r->name, &v[TILE], &iopts.tiling)) return 2;
    if (output && !strcmp(output, CLI_STDIO) && !v[FORMAT].count)
        return cli_usage_error(r->name, "-o - (standard output) needs -f png, jpeg or webp");
    if (progress_set_level(r->name, &v[VERBOSE], &v[QUIET])) return 2;
    nsr_format format = NSR_FORMAT_UNKNOWN;
    if (v[FORMAT].count && cli_parse_format(v[FORMAT].text, &format))
        return cli_usage_error(r->name, "unknown format '%s' (png, jpeg, jpg or webp)", v[FORMAT].text);
    cli_jobs jobs;
    int rc = cli_jobs_plan(&jobs, r->name, v[INPUT].all, v[INPUT].count, output, format);
    if (rc) return rc;
    /* -f and -q checked against the one output file; a batch's files or standard output: by
     * -f alone */
    const char *one_file = !jobs.batch && strcmp(jobs.jobs[0].out, CLI_STDIO) ? jobs.jobs[0].out : NULL;
    nsr_write_options wopts;
    if (cli_output_options(r->name, &v[FORMAT], &v[QUALITY], NULL, one_file, &wopts)) {
        cli_jobs_free(&jobs);
        return 2;
    }
    cli_set_threads(&v[THREADS]);
    models ms;
    if (models_open(&ms, r, v[MODEL].text, scale, &iopts) || cli_jobs_make_folder(&jobs)) {
        models_close(&ms);
        cli_jobs_free(&jobs);
        return 1;
    }
    if (ms.colour.restorer) cli_model_describe(&ms.colour, ms.colour.label, &iopts);
    if (ms.grey.restorer) cli_model_describe(&ms.grey, ms.grey.label, &iopts);
    size_t count[3] = {0, 0, 0};
    progress_job(jobs.count);
    for (size_t i = 0; i < jobs.count; i++) count[restore_one(a, r, &ms, &jobs, i, scale, &wopts)]++;
    if (jobs.batch) cli_note("%zu done, %zu skipped, %zu failed", count[DONE], count[SKIPPED], count[FAILED]);
    models_close(&ms);
    cli_jobs_free(&jobs);
    return count[FAILED] ? 1 : 0;
}

#define FILES_HELP                                                                                  \
    "Several images: -i DIR restores DIR's PNG, JPEG and WebP files, and -i may be repeated;\n"     \
    "then -o is a folder (made when missing) and each output keeps its input's name (the\n"         \
    "extension -f's when given). An output that exists is skipped unless --overwrite, a file\n"     \
    "that fails is reported and the others go on, and a last line counts them (exit status 1\n"     \
    "when any failed). -i - reads one image from standard input; -o - writes it to standard\n"      \
    "output in the format -f names. A single image replaces the file OUT, but an input is\n"        \
    "never overwritten unless --overwrite.\n"                                                       \
    "\n"                                                                                            \
    "-m NAME is NAME.nsr in the first folder of: $NSR_MODELS (folders separated by ':'), models/\n" \
    "beside the program (../models or ../share/nsr/models from its folder), the install\n"          \
    "prefix's share/nsr/models; `nsr models` lists them. A model made for another task or scale\n"  \
    "is refused, an untrained one (as nsr new writes) runs with a warning.\n"

static const opt_command commands[] = {
    {"upscale",
     "usage: nsr upscale [-i IN]... -o OUT [-s S] [options]\n"
     "\n"
     "Upscales IN (PNG, JPEG or WebP) by S and writes OUT (format from its extension, or -f). The\n"
     "model: -m, else the bundled nsr_xS (nsr_xS_grey for grey images when there is one); when\n"
     "it is not found nsr upscale says where it looked and fails: bicubic only with -m bicubic.\n"
     "Without -i, upscales the built-in test picture. Grey stays grey, alpha, the ICC profile\n"
     "and EXIF are kept (JPEG drops alpha, with a warning), 16-bit input gives 16-bit PNG\n"
     "output. The EXIF orientation is applied; the resolution (DPI) is multiplied by the\n"
     "scale, so that the print size stays (x2 of a 72 dpi image: 144 dpi).\n"
     "\n",
     FILES_HELP "\n" PROGRESS_HELP, specs, NSPECS, 0, run},
    {"denoise",
     "usage: nsr denoise [-i IN]... -o OUT [options]\n"
     "\n"
     "Removes noise from IN at the same size and writes OUT. The model: -m, else the bundled\n"
     "nsr_denoise for colour images and nsr_denoise_grey for grey ones (a grey image is not\n"
     "given to the colour model, which learned colour noise: -m nsr_denoise asks for it).\n"
     "\n",
     FILES_HELP "\n" PROGRESS_HELP, specs, NSPECS - 1, 0, run},
    {"dejpeg",
     "usage: nsr dejpeg [-i IN]... -o OUT [options]\n"
     "\n"
     "Removes JPEG artifacts from IN at the same size and writes OUT. The model: -m, else the\n"
     "bundled nsr_dejpeg for colour images and nsr_dejpeg_grey for grey ones (a grey image is\n"
     "not given to the colour model: -m nsr_dejpeg asks for it).\n"
     "\n",
     FILES_HELP "\n" PROGRESS_HELP, specs, NSPECS - 1, 0, run},
};

int cmd_upscale(int argc, char **argv) { return opt_main(&commands[0], argc, argv); }
int cmd_denoise(int argc, char **argv) { return opt_main(&commands[1], argc, argv); }
int cmd_dejpeg(int argc, char **argv) { return opt_main(&commands[2], argc, argv); }
