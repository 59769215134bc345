/* cmd_eval.c - `nsr eval`: the evaluation protocol over a folder of ground-truth images. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"

static const char eval_help[] =
    "usage: nsr eval --data DIR (--scale S | --noise SIGMA | --jpeg Q) [options]\n"
    "\n"
    "Degrades every image of DIR as NSR.md section 5 says (crop to a multiple of S and MATLAB\n"
    "bicubic downscale; Gaussian noise of SIGMA on the 0-255 scale, unclipped, seeded by the file\n"
    "name; or a JPEG round trip at quality Q), restores it, and prints PSNR and SSIM per image and\n"
    "their mean. Under --protocol pt_ir the LR is made as the reference code made it (bicubic in\n"
    "floating point, one rounding at the end). A file that cannot be read or restored is reported\n"
    "and left out of the mean, and the exit status is then 1.\n"
    "\n"
    "  --model M          a model file (.nsr) fitting the task (a x S model for --scale S, a\n"
    "                     scale-1 model for noise and JPEG), or bicubic (default: MATLAB\n"
    "                     bicubic upscaling, or the degraded input itself for noise and JPEG)\n"
    "  --tile T           auto (default: large overlapping tiles, seamless, zero padding only\n"
    "                     at the image edge; within 0.02 dB of whole), reference (48x48 tiles on\n"
    "                     inputs of at least 192x192, as the published numbers were made) or\n"
    "                     whole (each image in one piece)\n"
    "  -t N               tile size in input pixels for --tile auto (default: from the model)\n"
    "  --hard             hard sparsity selection (argmax group) instead of the soft one\n"
    "  --protocol P       Y convention: pt_ir (the NSR reference: luma weights on the difference,\n"
    "                     default) or matlab (rgb2ycbcr rounded to 8 bit, as most published tables)\n"
    "  --seed N           added to every image's noise seed (default 0)\n"
    "  --limit N          only the first N images (in name order)\n"
    "  --json             one JSON object per image and a final summary object\n"
    "  -j N               threads (default: all cores)\n"
    "\n"
    "Y metrics shave S pixels each side and RGB PSNR S + 6 (0 for noise and JPEG); SSIM is Wang\n"
    "et al.'s (11x11 Gaussian, sigma 1.5) on Y. An infinite PSNR prints as inf (null in JSON).\n";

int cmd_eval(int argc, char **argv) {
    const char *data_dir = NULL, *model = "bicubic", *protocol = "pt_ir", *threads = NULL;
    long scale = 0, quality = 0, limit = 0, seed = 0;
    double sigma = -1;
    int json = 0, kinds = 0;
    nsr_infer_options iopts = {NSR_SELECT_SOFT, NSR_TILE_AUTO, NULL, NULL, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(eval_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        } else if (!strcmp(a, "--hard")) {
            iopts.selection = NSR_SELECT_HARD;
            continue;
        }
        if (!v) return cli_usage_error("eval", "unknown option or missing value: %s", a);
        i++;
        if (!strcmp(a, "--data")) data_dir = v;
        else if (!strcmp(a, "--model") || !strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "--protocol")) protocol = v;
        else if (!strcmp(a, "--tile")) {
            if (nsr_tiling_parse(v, &iopts.tiling)) return cli_usage_error("eval", "--tile must be auto, reference or whole, not '%s'", v);
        } else if (!strcmp(a, "-t")) {
            long t;
            if (cli_parse_int(v, 1, 1 << 20, &t)) return cli_usage_error("eval", "-t must be a tile size in pixels, not '%s'", v);
            iopts.tile_size = (int)t;
        }
        else if (!strcmp(a, "-j")) threads = v;
        else if (!strcmp(a, "--scale") || !strcmp(a, "-s")) {
            if (cli_parse_int(v, 2, 8, &scale)) return cli_usage_error("eval", "--scale must be 2..8, not '%s'", v);
            kinds++;
        } else if (!strcmp(a, "--noise") || !strcmp(a, "-n")) {
            if (cli_parse_double(v, 0, 255, &sigma)) return cli_usage_error("eval", "--noise must be 0..255, not '%s'", v);
            kinds++;
        } else if (!strcmp(a, "--jpeg")) {
            if (cli_parse_int(v, 1, 100, &quality)) return cli_usage_error("eval", "--jpeg must be 1..100, not '%s'", v);
            kinds++;
        } else if (!strcmp(a, "--limit")) {
            if (cli_parse_int(v, 1, 1000000, &limit)) return cli_usage_error("eval", "--limit must be a positive count, not '%s'", v);
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_int(v, 0, 2147483647L, &seed)) return cli_usage_error("eval", "--seed must be 0..2147483647, not '%s'", v);
        } else return cli_usage_error("eval", "unknown option %s", a);
    }
    if (!data_dir) return cli_usage_error("eval", "--data DIR is required");
    if (kinds != 1) return cli_usage_error("eval", "give exactly one of --scale, --noise, --jpeg");
    nsr_y_convention y;
    if (nsr_y_convention_parse(protocol, &y))
        return cli_usage_error("eval", "unknown protocol '%s' (pt_ir or matlab)", protocol);
    if (cli_set_threads(threads)) return cli_usage_error("eval", "-j must be a thread count, not '%s'", threads);

    nsr_task task = {NSR_TASK_SR, 1, 0, 0};
    if (scale) task.kind = NSR_TASK_SR, task.scale = (int)scale;
    else if (sigma >= 0) task.kind = NSR_TASK_DENOISE, task.noise_sigma = sigma;
    else task.kind = NSR_TASK_JPEG, task.jpeg_quality = (int)quality;

    nsr_error err;
    cli_model cm;
    if (cli_model_open(&cm, model, &iopts)) return 1;
    const nsr_restorer *restorer = cm.restorer;
    nsr_path_list list;
    if ((cm.model && nsr_model_check_task(cm.model, &task, model, &err)) ||
        nsr_list_images(&list, data_dir, &err)) {
        cli_model_close(&cm);
        return cli_error("%s", err.message);
    }
    size_t count = limit && (size_t)limit < list.count ? (size_t)limit : list.count;
    char what[64];
    nsr_task_describe(&task, what, sizeof what);
    if (!json) {
        printf("%s, %s on %s, protocol %s\n", what, restorer->name, data_dir, protocol);
        printf("%-28s %9s %9s %8s %9s%s\n", "image", "size", "PSNR-Y", "SSIM-Y", "PSNR-RGB",
               task.kind == NSR_TASK_JPEG ? "    PSNR-B" : "");
    }
    nsr_metrics sum = {0, 0, 0, 0};
    size_t failed = 0; /* a bad file is reported and left out of the mean; the exit says so */
    for (size_t i = 0; i < count; i++) {
        const char *path = list.paths[i];
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char label[96];
        snprintf(label, sizeof label, "%zu/%zu %s", i + 1, count, name);
        cli_progress((double)i / count, label);
        nsr_image gt;
        nsr_metrics m;
        if (nsr_image_read(&gt, path, NULL, &err)) {
            cli_progress_done();
            cli_error("%s (left out)", err.message);
            failed++;
            continue;
        }
        int w = gt.width - gt.width % task.scale, h = gt.height - gt.height % task.scale;
        int rc = nsr_eval_image(&gt, &task, restorer, y, nsr_seed_from_name(path) + (uint64_t)seed, &m, &err);
        nsr_image_free(&gt);
        if (rc) {
            cli_progress_done();
            cli_error("%s: %s (left out)", path, err.message);
            failed++;
            continue;
        }
        sum.psnr_y += m.psnr_y;
        sum.ssim_y += m.ssim_y;
        sum.psnr_rgb += m.psnr_rgb;
        sum.psnr_b += m.psnr_b;
        if (json) {
            printf("{\"image\": ");
            cli_json_string(name);
            printf(", \"width\": %d, \"height\": %d", w, h);
            cli_json_field(", ", "psnr_y", m.psnr_y);
            cli_json_field(", ", "ssim_y", m.ssim_y);
            cli_json_field(", ", "psnr_rgb", m.psnr_rgb);
            if (task.kind == NSR_TASK_JPEG) cli_json_field(", ", "psnr_b", m.psnr_b);
            printf("}\n");
        } else {
            char size[24];
            snprintf(size, sizeof size, "%dx%d", w, h);
            cli_progress_done();
            printf("%-28s %9s %9.4f %8.4f %9.4f", name, size, m.psnr_y, m.ssim_y, m.psnr_rgb);
            if (task.kind == NSR_TASK_JPEG) printf(" %9.4f", m.psnr_b);
            printf("\n");
        }
        fflush(stdout);
    }
    cli_progress_done();
    if (failed < count) {
        double n = (double)(count - failed);
        if (json) {
            printf("{\"summary\": true, \"dataset\": ");
            cli_json_string(data_dir);
            printf(", \"images\": %zu, \"failed\": %zu, \"task\": \"%s\", \"scale\": %d",
                   count - failed, failed, task.kind == NSR_TASK_SR ? "sr" : task.kind == NSR_TASK_DENOISE ? "denoise" : "jpeg", task.scale);
            if (task.kind == NSR_TASK_DENOISE) printf(", \"noise\": %g", task.noise_sigma);
            if (task.kind == NSR_TASK_JPEG) printf(", \"quality\": %d", task.jpeg_quality);
            printf(", \"model\": ");
            cli_json_string(restorer->name);
            printf(", \"protocol\": \"%s\"", protocol);
            cli_json_field(", ", "psnr_y", sum.psnr_y / n);
            cli_json_field(", ", "ssim_y", sum.ssim_y / n);
            cli_json_field(", ", "psnr_rgb", sum.psnr_rgb / n);
            if (task.kind == NSR_TASK_JPEG) cli_json_field(", ", "psnr_b", sum.psnr_b / n);
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
