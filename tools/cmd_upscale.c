/* cmd_upscale.c - `nsr upscale`: restore one image with a model (or bicubic) and write it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"

static const char upscale_help[] =
    "usage: nsr upscale [-i IN] -o OUT [options]\n"
    "\n"
    "Upscales IN (PNG, JPEG or WebP) and writes OUT (format from its extension, or -f).\n"
    "Without -i, upscales the built-in test picture. Grey stays grey, alpha and the ICC profile\n"
    "are kept, 16-bit input gives 16-bit PNG output.\n"
    "\n"
    "  -m, --model M      a model file (.nsr), or bicubic (MATLAB-compatible). Default:\n"
    "                     models/nsr_x2.nsr next to the program (../models/ or\n"
    "                     ../share/nsr/models/ from its folder) when there is one, else bicubic\n"
    "  -s, --scale S      scale factor 2..8 (default: the model's; 2 for bicubic); a model only\n"
    "                     does its own scale. A scale-1 model (denoising, JPEG) restores at the\n"
    "                     same size when -s is not given\n"
    "  --tile T           auto (default: large overlapping tiles, seamless, zero padding only\n"
    "                     at the image edge, bounded memory), reference (48x48 tiles on inputs\n"
    "                     of at least 192x192, as the published numbers; draws a frame at the\n"
    "                     edge) or whole (the image in one piece)\n"
    "  -t N               tile size in input pixels for --tile auto (default: from the model)\n"
    "  --hard             hard sparsity selection (argmax group) instead of the trained soft one\n"
    "  -f, --format F     png, jpeg or webp (default: from OUT's extension)\n"
    "  -q, --quality Q    JPEG/WebP quality 1..100 (WebP default: lossless)\n"
    "  --max-pixels N     refuse inputs larger than N pixels (default 400000000)\n"
    "  --overwrite        allow OUT to be the input file\n"
    "  -j N               threads (default: all cores)\n";

int cmd_upscale(int argc, char **argv) {
    const char *in_path = NULL, *out_path = NULL, *model = NULL, *threads = NULL;
    long scale = 0, quality = 0, max_pixels = 0;
    int overwrite = 0;
    nsr_infer_options iopts = {NSR_SELECT_SOFT, NSR_TILE_AUTO, cli_model_progress, NULL, 0};
    nsr_write_options wopts = {NSR_FORMAT_UNKNOWN, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(upscale_help, stdout);
            return 0;
        } else if (!strcmp(a, "--overwrite")) {
            overwrite = 1;
            continue;
        } else if (!strcmp(a, "--hard")) {
            iopts.selection = NSR_SELECT_HARD;
            continue;
        }
        if (!v) return cli_usage_error("upscale", "unknown option or missing value: %s", a);
        i++;
        if (!strcmp(a, "-i") || !strcmp(a, "--input")) in_path = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out_path = v;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--tile")) {
            if (nsr_tiling_parse(v, &iopts.tiling)) return cli_usage_error("upscale", "--tile must be auto, reference or whole, not '%s'", v);
        } else if (!strcmp(a, "-t")) {
            long t;
            if (cli_parse_int(v, 1, 1 << 20, &t)) return cli_usage_error("upscale", "-t must be a tile size in pixels, not '%s'", v);
            iopts.tile_size = (int)t;
        }
        else if (!strcmp(a, "-j")) threads = v;
        else if (!strcmp(a, "-s") || !strcmp(a, "--scale")) {
            if (cli_parse_int(v, 2, 8, &scale)) return cli_usage_error("upscale", "scale must be 2..8, not '%s'", v);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quality")) {
            if (cli_parse_int(v, 1, 100, &quality)) return cli_usage_error("upscale", "quality must be 1..100, not '%s'", v);
            wopts.quality = (int)quality;
        } else if (!strcmp(a, "--max-pixels")) {
            if (cli_parse_int(v, 1, 1L << 40, &max_pixels)) return cli_usage_error("upscale", "--max-pixels must be a positive count, not '%s'", v);
        } else if (!strcmp(a, "-f") || !strcmp(a, "--format")) {
            char dummy[16];
            snprintf(dummy, sizeof dummy, "x.%s", v);
            wopts.format = nsr_format_from_path(dummy);
            if (wopts.format == NSR_FORMAT_UNKNOWN) return cli_usage_error("upscale", "unknown format '%s' (png, jpeg, webp)", v);
        } else return cli_usage_error("upscale", "unknown option %s", a);
    }
    if (!out_path) return cli_usage_error("upscale", "-o OUT is required");
    if (cli_set_threads(threads)) return cli_usage_error("upscale", "-j must be a thread count, not '%s'", threads);
    if (in_path && !overwrite && cli_same_file(in_path, out_path))
        return cli_error("%s: refusing to overwrite the input (use --overwrite)", out_path);
    char default_model[4096];
    if (!model) model = cli_default_model(default_model, sizeof default_model);
    if (!model) model = "bicubic";
    iopts.progress_ctx = (void *)(in_path ? in_path : "test picture");
    cli_model m;
    if (cli_model_open(&m, model, &iopts)) return 1;
    /* The task: the scale asked, else the model's; a scale-1 model asked for nothing restores
     * at the same size (its restorer takes any same-size task; denoising names it). */
    const int model_scale = m.model ? nsr_model_arch(m.model)->scale : 2;
    nsr_task task = {NSR_TASK_SR, scale ? (int)scale : model_scale, 0, 0};
    if (!scale && model_scale == 1) task = (nsr_task){NSR_TASK_DENOISE, 1, 0, 0};
    nsr_error err;
    if (m.model && nsr_model_check_task(m.model, &task, model, &err)) {
        cli_model_close(&m);
        return cli_error("%s", err.message);
    }

    nsr_image in, out;
    nsr_read_options ropts = {(uint64_t)max_pixels};
    if (in_path ? nsr_image_read(&in, in_path, &ropts, &err) : nsr_render_test_image(&in, 128, 96, &err)) {
        cli_model_close(&m);
        return cli_error("%s", err.message);
    }
    if (!in_path) fprintf(stderr, "nsr: no -i given: upscaling the built-in test picture (128x96)\n");
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
