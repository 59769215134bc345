/* cmd_metrics.c - `nsr metrics`: PSNR, SSIM and PSNR-B of one image against a reference. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"

enum { SHAVE, SHAVE_RGB, PROTOCOL, JSON, THREADS };
static const opt_spec specs[] = {
    [SHAVE] = {.long_name = "shave", .kind = OPT_INT, .min = 0, .max = 1 << 20, .range = "a pixel count >= 0",
               .arg = "N",
               .help = "pixels removed from each side first (super-resolution by s: s;\n"
                       "denoising, JPEG: 0, the default)"},
    [SHAVE_RGB] = {.long_name = "shave-rgb", .kind = OPT_INT, .min = 0, .max = 1 << 20,
                   .range = "a pixel count >= 0", .arg = "N",
                   .help = "shave for PSNR on RGB (default: --shave; the NSR protocol uses s + 6)"},
    [PROTOCOL] = {.long_name = "protocol", .kind = OPT_STRING, .arg = "P",
                  .help = "how Y is made from RGB: pt_ir (default; 0.257 R + 0.504 G + 0.098 B on\n"
                          "8-bit levels, unrounded, as the NSR reference code) or matlab (MATLAB\n"
                          "rgb2ycbcr, rounded to 8 bit). Grey images are their own Y under both"},
    [JSON] = CLI_OPT_JSON("one JSON object instead of text"),
    [THREADS] = CLI_OPT_THREADS,
};

static void text_value(const char *key, double v, const char *unit, const char *note) {
    if (isnan(v)) printf("%-9s n/a%s\n", key, note);
    else printf("%-9s %.4f%s%s\n", key, v, unit, note);
}

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    const char *const *paths = a->pos, *protocol = v[PROTOCOL].count ? v[PROTOCOL].text : "pt_ir";
    const int json = v[JSON].count;
    const long shave = v[SHAVE].i, shave_rgb = v[SHAVE_RGB].count ? v[SHAVE_RGB].i : shave;
    nsr_y_convention y;
    if (a->npos != 2) return cli_usage_error("metrics", "needs REF and TEST");
    if (nsr_y_convention_parse(protocol, &y))
        return cli_usage_error("metrics", "--protocol must be pt_ir or matlab, not '%s'", protocol);
    cli_set_threads(&v[THREADS]);

    nsr_error err;
    nsr_image ref, test;
    nsr_metrics m;
    if (nsr_image_read(&ref, paths[0], NULL, &err)) return cli_error("%s", err.message);
    if (nsr_image_read(&test, paths[1], NULL, &err)) {
        nsr_image_free(&ref);
        return cli_error("%s", err.message);
    }
    int rc = nsr_metrics_compute(&ref, &test, (int)shave, (int)shave_rgb, y, &m, &err);
    nsr_image_free(&ref);
    nsr_image_free(&test);
    if (rc) return cli_error("%s vs %s: %s", paths[0], paths[1], err.message);

    if (json) {
        fputs("{\"reference\": ", stdout);
        json_write_string(stdout, paths[0]);
        fputs(", \"test\": ", stdout);
        json_write_string(stdout, paths[1]);
        printf(", \"protocol\": \"%s\", \"shave\": %ld, \"shave_rgb\": %ld", nsr_y_convention_name(y),
               shave, shave_rgb);
        cli_json_metrics(&m, 1);
        fputs("}\n", stdout);
    } else {
        char note[96];
        snprintf(note, sizeof note, "  (Y: %s, shave %ld)", nsr_y_convention_name(y), shave);
        text_value("psnr_y", m.psnr_y, " dB", note);
        text_value("ssim_y", m.ssim_y, "", "");
        snprintf(note, sizeof note, "  (shave %ld)", shave_rgb);
        text_value("psnr_rgb", m.psnr_rgb, " dB", note);
        text_value("psnr_b", m.psnr_b, " dB", "");
    }
    return 0;
}

static const opt_command command = {
    "metrics",
    "usage: nsr metrics REF TEST [--shave N] [--shave-rgb N] [--protocol pt_ir|matlab] [--json]\n"
    "\n"
    "Compares TEST with the reference REF (same size and channel count), both quantised to\n"
    "8 bit first, and prints PSNR on Y, SSIM on Y, PSNR on RGB and PSNR-B on Y (the blocking\n"
    "effect factor is TEST's, on the 8x8 grid). Alpha is ignored.\n"
    "\n",
    "Identical images have infinite PSNR: printed as inf, and as null in JSON. SSIM needs 11x11\n"
    "pixels after the shave; on smaller images it is n/a (null in JSON).\n",
    specs, OPT_COUNT(specs), 2, run,
};

int cmd_metrics(int argc, char **argv) { return opt_main(&command, argc, argv); }
