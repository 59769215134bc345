/* cmd_upscale.c - `nsr upscale`: restore one image with a model (or bicubic) and write it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"

enum { INPUT, OUTPUT, MODEL, SCALE, TILE, TILE_SIZE, HARD, FORMAT, QUALITY, MAX_PIXELS, OVERWRITE, THREADS };
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
    [TILE] = CLI_OPT_TILE,
    [TILE_SIZE] = CLI_OPT_TILE_SIZE,
    [HARD] = {.long_name = "hard", .help = "hard sparsity selection (argmax group) instead of the trained soft one"},
    [FORMAT] = CLI_OPT_FORMAT("png, jpeg or webp (default: from OUT's extension)"),
    [QUALITY] = CLI_OPT_QUALITY("JPEG/WebP quality 1..100 (WebP default: lossless)"),
    [MAX_PIXELS] = CLI_OPT_MAX_PIXELS,
    [OVERWRITE] = CLI_OPT_OVERWRITE,
    [THREADS] = CLI_OPT_THREADS,
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    const char *in_path = v[INPUT].text, *out_path = v[OUTPUT].text, *model = v[MODEL].text;
    const long scale = v[SCALE].i;
    nsr_infer_options iopts = {v[HARD].count ? NSR_SELECT_HARD : NSR_SELECT_SOFT, NSR_TILE_AUTO,
                               cli_model_progress, NULL, (int)v[TILE_SIZE].i};
    nsr_write_options wopts = {NSR_FORMAT_UNKNOWN, (int)v[QUALITY].i, 0};
    if (cli_parse_tiling("upscale", &v[TILE], &iopts.tiling)) return 2;
    if (v[FORMAT].count && cli_parse_format(v[FORMAT].text, &wopts.format))
        return cli_usage_error("upscale", "unknown format '%s' (png, jpeg, jpg or webp)", v[FORMAT].text);
    if (!out_path) return cli_usage_error("upscale", "-o OUT is required");
    cli_set_threads(&v[THREADS]);
    if (in_path && cli_check_overwrite(in_path, out_path, v[OVERWRITE].count)) return 1;
    char default_model[4096];
    if (!model) model = cli_default_model(default_model, sizeof default_model);
    if (!model) model = "bicubic";
    iopts.progress_ctx = (void *)(in_path ? in_path : "test picture");
    cli_model m;
    if (cli_model_open(&m, model, &iopts)) return 1;
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
    if (in_path ? nsr_image_read(&in, in_path, &ropts, &err) : nsr_render_test_image(&in, 128, 96, &err)) {
        cli_model_close(&m);
        return cli_error("%s", err.message);
    }
    if (!in_path) cli_note("no -i given: upscaling the built-in test picture (128x96)");
    int rc = m.restorer->restore(m.restorer->ctx, &task, &in, &out, &err);
    cli_progress_done();
    cli_model_close(&m);
    nsr_image_free(&in);
    if (rc) return cli_error("%s: %s", in_path ? in_path : "test picture", err.message);
    rc = nsr_image_write(&out, out_path, &wopts, &err);
    nsr_image_free(&out);
    if (rc) return cli_error("%s", err.message);
    return 0;
}

static const opt_command command = {
    "upscale",
    "usage: nsr upscale [-i IN] -o OUT [options]\n"
    "\n"
    "Upscales IN (PNG, JPEG or WebP) and writes OUT (format from its extension, or -f).\n"
    "Without -i, upscales the built-in test picture. Grey stays grey, alpha and the ICC profile\n"
    "are kept, 16-bit input gives 16-bit PNG output.\n"
    "\n",
    NULL, specs, OPT_COUNT(specs), 0, run,
};

int cmd_upscale(int argc, char **argv) { return opt_main(&command, argc, argv); }
