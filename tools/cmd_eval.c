/* cmd_eval.c - `nsr eval`: the evaluation protocol over a folder of ground-truth images. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"
#include "progress.h"

enum { DATA, SCALE, NOISE, JPEG, MODEL, TILE, TILE_SIZE, HARD, TTA, PROTOCOL, GREY, SEED, LIMIT, JSON, THREADS,
       VERBOSE, QUIET };
static const opt_spec specs[] = {
    [DATA] = {.long_name = "data", .kind = OPT_STRING, .arg = "DIR", .help = "the ground-truth images"},
    [SCALE] = {.short_name = 's', .long_name = "scale", .kind = OPT_INT, .min = 2, .max = 8, .arg = "S",
               .help = "x S super-resolution, 2..8", .section = "task (one of):"},
    [NOISE] = {.short_name = 'n', .long_name = "noise", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 255, .arg = "SIGMA",
               .help = "Gaussian denoising, SIGMA 0..255"},
    [JPEG] = {.long_name = "jpeg", .kind = OPT_INT, .min = 1, .max = 100, .arg = "Q",
              .help = "JPEG artifact removal at quality 1..100"},
    [MODEL] = {.short_name = 'm', .long_name = "model", .kind = OPT_STRING, .arg = "M",
               .help = "a model fitting the task (a x S model for --scale S, a scale-1 model\n"
                       "for noise and JPEG): its name (nsr models lists them) or its file\n"
                       "(.nsr); or bicubic (default: MATLAB bicubic upscaling, or the\n"
                       "degraded input itself for noise and JPEG)",
               .section = "options:"},
    [TILE] = CLI_OPT_TILE,
    [TILE_SIZE] = CLI_OPT_TILE_SIZE,
    [HARD] = {.long_name = "hard", .help = "hard sparsity selection (argmax group) instead of the soft one"},
    [TTA] = CLI_OPT_TTA,
    [PROTOCOL] = {.long_name = "protocol", .kind = OPT_STRING, .arg = "P",
                  .help = "Y convention: pt_ir (the NSR reference: luma weights on the difference,\n"
                          "default) or matlab (rgb2ycbcr rounded to 8 bit, as most published tables)"},
    [GREY] = {.long_name = "grey",
              .help = "measure on grey images: each ground truth becomes its MATLAB Y (rgb2ycbcr,\n"
                      "rounded to 8 bit) before it is degraded, as the grey denoising and JPEG\n"
                      "tables are made (grey models need it)"},
    [SEED] = {.long_name = "seed", .kind = OPT_INT, .min = 0, .max = 2147483647L, .arg = "N",
              .help = "added to every image's noise seed (default 0)"},
    [LIMIT] = {.long_name = "limit", .kind = OPT_INT, .min = 1, .max = 1000000, .range = "a positive count",
               .arg = "N", .help = "only the first N images (in name order)"},
    [JSON] = CLI_OPT_JSON("one JSON object per image and a final summary object"),
    [THREADS] = CLI_OPT_THREADS,
    [VERBOSE] = PROGRESS_OPT_VERBOSE,
    [QUIET] = PROGRESS_OPT_QUIET,
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    const char *data_dir = v[DATA].text, *model = v[MODEL].count ? v[MODEL].text : "bicubic";
    const char *protocol = v[PROTOCOL].count ? v[PROTOCOL].text : "pt_ir";
    const int json = v[JSON].count;
    nsr_infer_options iopts = {.selection = v[HARD].count ? NSR_SELECT_HARD : NSR_SELECT_SOFT,
                               .tiling = NSR_TILE_AUTO, .progress = progress_library,
                               .tile_size = (int)v[TILE_SIZE].i, .tta = v[TTA].count > 0};
    if (cli_parse_tiling("eval", &v[TILE], &iopts.tiling)) return 2;
    if (!data_dir) return cli_usage_error("eval", "--data DIR is required");
    if (v[SCALE].count + v[NOISE].count + v[JPEG].count != 1)
        return cli_usage_error("eval", "give exactly one of --scale, --noise, --jpeg");
    nsr_y_convention y;
    if (nsr_y_convention_parse(protocol, &y))
        return cli_usage_error("eval", "unknown protocol '%s' (pt_ir or matlab)", protocol);
    if (progress_set_level("eval", &v[VERBOSE], &v[QUIET])) return 2;
    cli_set_threads(&v[THREADS]);

    nsr_task task = {.kind = NSR_TASK_SR, .scale = 1};
    if (v[SCALE].count) task.kind = NSR_TASK_SR, task.scale = (int)v[SCALE].i;
    else if (v[NOISE].count) task.kind = NSR_TASK_DENOISE, task.noise_sigma = v[NOISE].d;
    else task.kind = NSR_TASK_JPEG, task.jpeg_quality = (int)v[JPEG].i;

    nsr_error err;
    cli_model cm;
    if (cli_model_open(&cm, model, &iopts)) return 1;
    cli_model_describe(&cm, model, &iopts);
    const nsr_restorer *restorer = cm.restorer;
    nsr_path_list list;
    if ((cm.model && nsr_model_check_task(cm.model, &task, cm.label, &err)) ||
        nsr_list_images(&list, data_dir, &err)) {
        cli_model_close(&cm);
        return cli_error("%s", err.message);
    }
    cli_model_warn(&cm, &iopts);
    size_t count = v[LIMIT].count && (size_t)v[LIMIT].i < list.count ? (size_t)v[LIMIT].i : list.count;
    char what[64];
    nsr_task_describe(&task, what, sizeof what);
    /* without a model, noise and JPEG measure the degraded input itself (the bicubic restorer
     * at scale 1 leaves it as it is) */
    const int input_only = !cm.model && task.kind != NSR_TASK_SR;
    const char *restored_by = input_only ? "none" : restorer->name;
    if (!json) {
        printf("%s, %s on %s, protocol %s\n", what,
               input_only ? "no model (the degraded input itself)" : restorer->name, data_dir, protocol);
        printf("%-28s %9s %9s %8s %9s%s\n", "image", "size", "PSNR-Y", "SSIM-Y", "PSNR-RGB",
               task.kind == NSR_TASK_JPEG ? "    PSNR-B" : "");
    }
    nsr_metrics sum = {0, 0, 0, 0};
    size_t failed = 0; /* a bad file is reported and left out of the mean; the exit says so */
    progress_job(count);
    for (size_t i = 0; i < count; i++) {
        const char *path = list.paths[i];
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        progress_item(i, name);
        progress_stage("evaluating", 0, 1);
        nsr_image gt;
        nsr_metrics m;
        if (nsr_image_read(&gt, path, NULL, &err)) {
            cli_error("%s (left out)", err.message);
            failed++;
            continue;
        }
        if (v[GREY].count && gt.channels == 3) {
            nsr_image y_img;
            if (nsr_image_luma(&y_img, &gt, &err)) {
                nsr_image_free(&gt);
                cli_error("%s: %s (left out)", path, err.message);
                failed++;
                continue;
            }
            nsr_image_free(&gt);
            gt = y_img;
        }
        int w = gt.width - gt.width % task.scale, h = gt.height - gt.height % task.scale;
        int rc = nsr_eval_image(&gt, &task, restorer, y, nsr_seed_from_name(path) + (uint64_t)v[SEED].i, &m, &err);
        nsr_image_free(&gt);
        if (rc) {
            cli_error("%s: %s (left out)", path, err.message);
            failed++;
            continue;
        }
        progress_item_done();
        sum.psnr_y += m.psnr_y;
        sum.ssim_y += m.ssim_y;
        sum.psnr_rgb += m.psnr_rgb;
        sum.psnr_b += m.psnr_b;
        if (json) {
            printf("{\"image\": ");
            json_write_string(stdout, name);
            printf(", \"width\": %d, \"height\": %d", w, h);
            cli_json_metrics(&m, task.kind == NSR_TASK_JPEG);
            printf("}\n");
        } else {
            char size[24];
            snprintf(size, sizeof size, "%dx%d", w, h);
            printf("%-28s %9s %9.4f %8.4f %9.4f", name, size, m.psnr_y, m.ssim_y, m.psnr_rgb);
            if (task.kind == NSR_TASK_JPEG) printf(" %9.4f", m.psnr_b);
            printf("\n");
        }
        fflush(stdout);
    }
    progress_closing("%zu image%s in %.2f s", count - failed, count - failed == 1 ? "" : "s",
                     progress_job_seconds());
    if (failed < count) {
        double n = (double)(count - failed);
        if (json) {
            printf("{\"summary\": true, \"dataset\": ");
            json_write_string(stdout, data_dir);
            printf(", \"images\": %zu, \"failed\": %zu, \"task\": \"%s\", \"scale\": %d",
                   count - failed, failed, task.kind == NSR_TASK_SR ? "sr" : task.kind == NSR_TASK_DENOISE ? "denoise" : "jpeg", task.scale);
            if (task.kind == NSR_TASK_DENOISE) printf(", \"noise\": %g", task.noise_sigma);
            if (task.kind == NSR_TASK_JPEG) printf(", \"quality\": %d", task.jpeg_quality);
            printf(", \"model\": ");
            json_write_string(stdout, restored_by);
            printf(", \"protocol\": \"%s\"", protocol);
            const nsr_metrics mean = {sum.psnr_y / n, sum.ssim_y / n, sum.psnr_rgb / n, sum.psnr_b / n};
            cli_json_metrics(&mean, task.kind == NSR_TASK_JPEG);
            printf("}\n");
        } else {
            printf("%-28s %9zu %9.4f %8.4f %9.4f", "mean", count - failed, sum.psnr_y / n, sum.ssim_y / n, sum.psnr_rgb / n);
            if (task.kind == NSR_TASK_JPEG) printf(" %9.4f", sum.psnr_b / n);
            printf("\n");
        }
    }
    nsr_path_list_free(&list);
    cli_model_close(&cm);
    if (failed) return cli_error("%zu of %zu images failed (left out of the mean)", failed, count);
    return 0;
}

static const opt_command command = {
    "eval",
    "usage: nsr eval --data DIR (--scale S | --noise SIGMA | --jpeg Q) [options]\n"
    "\n"
    "Degrades every image of DIR as NSR.md section 5 says (crop to a multiple of S and MATLAB\n"
    "bicubic downscale; Gaussian noise of SIGMA on the 0-255 scale, unclipped, seeded by the file\n"
    "name; or a JPEG round trip at quality Q), restores it, and prints PSNR and SSIM per image and\n"
    "their mean.\n"
    "\n",
    "Y metrics shave S pixels each side and RGB PSNR S + 6 (0 for noise and JPEG); SSIM is Wang\n"
    "et al.'s (11x11 Gaussian, sigma 1.5) on Y. An infinite PSNR prints as inf (null in JSON).\n"
    "The table goes to stdout.\n" PROGRESS_HELP,
    specs, OPT_COUNT(specs), 0, run,
};

int cmd_eval(int argc, char **argv) { return opt_main(&command, argc, argv); }
