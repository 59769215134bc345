/* cmd_metrics.c - `nsr metrics`: PSNR, SSIM and PSNR-B of one image against a reference. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char metrics_help[] =
    "usage: nsr metrics REF TEST [--shave N] [--shave-rgb N] [--protocol pt_ir|matlab] [--json]\n"
    "\n"
    "Compares TEST with the reference REF (same size and channel count), both quantised to\n"
    "8 bit first, and prints PSNR on Y, SSIM on Y, PSNR on RGB and PSNR-B on Y (the blocking\n"
    "effect factor is TEST's, on the 8x8 grid). Alpha is ignored.\n"
    "\n"
    "  --shave N        pixels removed from each side first (super-resolution by s: s;\n"
    "                   denoising, JPEG: 0, the default)\n"
    "  --shave-rgb N    shave for PSNR on RGB (default: --shave; the NSR protocol uses s + 6)\n"
    "  --protocol P     how Y is made from RGB: pt_ir (default; 0.257 R + 0.504 G + 0.098 B on\n"
    "                   8-bit levels, unrounded, as the NSR reference code) or matlab (MATLAB\n"
    "                   rgb2ycbcr, rounded to 8 bit). Grey images are their own Y under both\n"
    "  --json           one JSON object instead of text\n"
    "  -j N             threads (default: all cores)\n"
    "\n"
    "Identical images have infinite PSNR: printed as inf, and as null in JSON. SSIM needs 11x11\n"
    "pixels after the shave; on smaller images it is n/a (null in JSON).\n";

static void text_value(const char *key, double v, const char *unit, const char *note) {
    if (isnan(v)) printf("%-9s n/a%s\n", key, note);
    else printf("%-9s %.4f%s%s\n", key, v, unit, note);
}

int cmd_metrics(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *threads = NULL, *protocol = "pt_ir";
    int npaths = 0, json = 0;
    long shave = 0, shave_rgb = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(metrics_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] != '-' || !a[1]) {
            if (npaths == 2) return cli_usage_error("metrics", "unexpected argument '%s'", a);
            paths[npaths++] = a;
        } else if (!v) {
            return cli_usage_error("metrics", "unknown option or missing value: %s", a);
        } else {
            i++;
            if (!strcmp(a, "--shave")) {
                if (cli_parse_int(v, 0, 1 << 20, &shave))
                    return cli_usage_error("metrics", "--shave must be a pixel count >= 0, not '%s'", v);
            } else if (!strcmp(a, "--shave-rgb")) {
                if (cli_parse_int(v, 0, 1 << 20, &shave_rgb))
                    return cli_usage_error("metrics", "--shave-rgb must be a pixel count >= 0, not '%s'", v);
            } else if (!strcmp(a, "--protocol")) {
                protocol = v;
            } else if (!strcmp(a, "-j")) {
                threads = v;
            } else {
                return cli_usage_error("metrics", "unknown option %s", a);
            }
        }
    }
    nsr_y_convention y;
    if (npaths != 2) return cli_usage_error("metrics", "needs REF and TEST");
    if (nsr_y_convention_parse(protocol, &y))
        return cli_usage_error("metrics", "--protocol must be pt_ir or matlab, not '%s'", protocol);
    if (cli_set_threads(threads)) return cli_usage_error("metrics", "-j must be a thread count, not '%s'", threads);
    if (shave_rgb < 0) shave_rgb = shave;

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
        cli_json_string(paths[0]);
        fputs(", \"test\": ", stdout);
        cli_json_string(paths[1]);
        printf(", \"protocol\": \"%s\", \"shave\": %ld, \"shave_rgb\": %ld", nsr_y_convention_name(y),
               shave, shave_rgb);
        cli_json_field(", ", "psnr_y", m.psnr_y);
        cli_json_field(", ", "ssim_y", m.ssim_y);
        cli_json_field(", ", "psnr_rgb", m.psnr_rgb);
        cli_json_field(", ", "psnr_b", m.psnr_b);
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
