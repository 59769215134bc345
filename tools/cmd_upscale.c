/* cmd_upscale.c - `nsr upscale`: restore one image with a model (or bicubic) and write it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "cli_output.h"
#include "commands.h"
#include "progress.h"

/* The share of an image's work that restoring takes in the progress; encoding takes the rest. */
#define RESTORE_SHARE 0.9

enum { INPUT, OUTPUT, MODEL, SCALE, TILE, TILE_SIZE, HARD, TTA, FORMAT, QUALITY, MAX_PIXELS, OVERWRITE, THREADS,
       VERBOSE, QUIET };
static const opt_spec specs[] = {
    [INPUT] = {.short_name = 'i', .long_name = "input", .kind = OPT_STRING, .arg = "IN",
               .help = "the image (default: the built-in test picture)"},
    [OUTPUT] = {.short_name = 'o', .long_name = "output", .kind = OPT_STRING, .arg = "OUT",
                .help = "the image to write"},
    [MODEL] = {.short_name = 'm', .long_name = "model", .kind = OPT_STRING, .arg = "M",
               .help = "a model file (.nsr), or bicubic (MATLAB-compatible). Default:\n"
                       "models/nsr_x2.nsr next to the program (../models/ or\n"
                       "../share/nsr/models/ from its folder) when there is one, else bicubic"},
    [SCALE] = {.short_name = 's', .long_name = "scale", .kind = OPT_INT, .min = 2, .max = 8, .arg = "S",
               .help = "scale factor 2..8 (default: the model's; 2 for bicubic); a model only\n"
                       "does its own scale. A scale-1 model (denoising, JPEG) restores at the\n"
                       "same size when -s is not given"},
    [TILE] = {.long_name = "tile", .kind = OPT_STRING, .arg = "T",
              .help = "auto (default: large overlapping tiles, seamless, zero padding only at\n"
                      "the image edge, bounded memory; within 0.001 dB of whole), reference\n"
                      "(48x48 tiles on inputs of at least 192x192, as the published numbers;\n"
                      "a frame at the edge) or whole (the image in one piece)"},
    [TILE_SIZE] = {.short_name = 't', .kind = OPT_INT, .min = 1, .max = 1 << 20, .arg = "N",
                   .help = "tile size in input pixels for --tile auto (default: from the model)"},
    [HARD] = {.long_name = "hard", .help = "hard sparsity selection (argmax group) instead of the trained soft one"},
    [TTA] = CLI_OPT_TTA,
    [FORMAT] = CLI_OPT_FORMAT("png, jpeg or webp (default: from OUT's extension; refused when\n"
                              "the extension names another format)"),
    [QUALITY] = CLI_OPT_QUALITY("JPEG/WebP quality 1..100 (WebP default: lossless); refused for PNG"),
    [MAX_PIXELS] = CLI_OPT_MAX_PIXELS,
    [OVERWRITE] = CLI_OPT_OVERWRITE,
    [THREADS] = CLI_OPT_THREADS,
    [VERBOSE] = PROGRESS_OPT_VERBOSE,
    [QUIET] = PROGRESS_OPT_QUIET,
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    const char *in_path = v[INPUT].text, *out_path = v[OUTPUT].text, *model = v[MODEL].text;
    const long scale = v[SCALE].i;
    nsr_infer_options iopts = {.selection = v[HARD].count ? NSR_SELECT_HARD : NSR_SELECT_SOFT,
                               .tiling = NSR_TILE_AUTO, .progress = progress_library,
                               .tile_size = (int)v[TILE_SIZE].i, .tta = v[TTA].count > 0};
    nsr_write_options wopts;
    if (v[TILE].count && nsr_tiling_parse(v[TILE].text, &iopts.tiling))
        return cli_usage_error("upscale", "--tile must be auto, reference or whole, not '%s'", v[TILE].text);
    if (!out_path) return cli_usage_error("upscale", "-o OUT is required");
    if (cli_output_options("upscale", &v[FORMAT], &v[QUALITY], NULL, out_path, &wopts)) return 2;
    if (progress_set_level("upscale", &v[VERBOSE], &v[QUIET])) return 2;
    cli_set_threads(&v[THREADS]);
    if (in_path && cli_check_overwrite(in_path, out_path, v[OVERWRITE].count)) return 1;
    char default_model[4096];
    if (!model) model = cli_default_model(default_model, sizeof default_model);
    if (!model) model = "bicubic";
    cli_model m;
    if (cli_model_open(&m, model, &iopts)) return 1;
    cli_model_describe(&m, model, &iopts);
    /* The task: the scale asked, else the model's; a scale-1 model asked for nothing restores
     * at the same size (its restorer takes any same-size task; denoising names it). */
    const int model_scale = m.model ? nsr_model_arch(m.model)->scale : 2;
    nsr_task task = {.kind = NSR_TASK_SR, .scale = scale ? (int)scale : model_scale};
    if (!scale && model_scale == 1) task = (nsr_task){.kind = NSR_TASK_DENOISE, .scale = 1};
    nsr_error err;
    if (m.model && nsr_model_check_task(m.model, &task, model, &err)) {
        cli_model_close(&m);
        return cli_error("%s", err.message);
    }

    nsr_image in, out;
    nsr_read_options ropts = {(uint64_t)v[MAX_PIXELS].i};
    const char *label = in_path ? in_path : "test picture";
    progress_job(1);
    progress_item(0, label);
    if (in_path ? nsr_image_read(&in, in_path, &ropts, &err) : nsr_render_test_image(&in, 128, 96, &err)) {
        cli_model_close(&m);
        return cli_error("%s", err.message);
    }
    if (!in_path) cli_note("no -i given: upscaling the built-in test picture (128x96)");
    progress_input(label, &in);
    progress_stage("restoring", 0, RESTORE_SHARE);
    int rc = m.restorer->restore(m.restorer->ctx, &task, &in, &out, &err);
    cli_model_close(&m);
    nsr_image_free(&in);
    if (rc) return cli_error("%s: %s", label, err.message);
    progress_stage("encoding", RESTORE_SHARE, 1);
    rc = cli_write_image(&out, out_path, &wopts);
    if (!rc) {
        progress_item_done();
        progress_wrote(out_path, &out);
    }
    nsr_image_free(&out);
    return rc;
}

static const opt_command command = {
    "upscale",
    "usage: nsr upscale [-i IN] -o OUT [options]\n"
    "\n"
    "Upscales IN (PNG, JPEG or WebP) and writes OUT (format from its extension, or -f).\n"
    "Without -i, upscales the built-in test picture. Grey stays grey, alpha, the ICC profile\n"
    "and EXIF are kept (JPEG drops alpha, with a warning), 16-bit input gives 16-bit PNG\n"
    "output. The EXIF orientation is applied; the resolution (DPI) is multiplied by the\n"
    "scale, so that the print size stays (x2 of a 72 dpi image: 144 dpi).\n"
    "\n",
    PROGRESS_HELP, specs, OPT_COUNT(specs), 0, run,
};

int cmd_upscale(int argc, char **argv) { return opt_main(&command, argc, argv); }
