/* cmd_convert.c - nsr convert IN OUT: rewrite an image in another format, bit depth or quality. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char usage[] =
    "usage: nsr convert IN OUT [options]\n"
    "\n"
    "Reads IN (PNG, JPEG or WebP, recognised by its content) and writes OUT in the format\n"
    "of its extension (.png, .jpg, .jpeg, .webp) or of --format. Grey stays grey; alpha and\n"
    "the ICC profile are kept where the output format can hold them (JPEG drops alpha);\n"
    "JPEG EXIF orientation is applied. The output appears only once it is complete.\n"
    "\n"
    "options:\n"
    "  -q, --quality N     JPEG or WebP quality 1..100 (default: JPEG 95, WebP lossless)\n"
    "      --depth 8|16    PNG bit depth (default: the input's, 16 for 16-bit PNG)\n"
    "  -f, --format F      png, jpeg (or jpg) or webp, whatever OUT is called\n"
    "      --max-pixels N  refuse larger inputs (default 400000000)\n"
    "      --overwrite     allow OUT to be IN itself\n"
    "  -h, --help          show this help\n";

/* True when arg is the option's short (may be NULL) or long spelling. */
static int is_option(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && !strcmp(arg, short_name)) || !strcmp(arg, long_name);
}

int cmd_convert(int argc, char **argv) {
    const char *cmd = argv[0], *paths[2] = {NULL, NULL};
    int npaths = 0, overwrite = 0, options_done = 0;
    nsr_read_options ropts = {0};
    nsr_write_options wopts = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || !arg[1]) {
            if (npaths == 2) return cli_usage_error(cmd, "unexpected argument '%s'", arg);
            paths[npaths++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            options_done = 1;
            continue;
        }
        if (is_option(arg, "-h", "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (is_option(arg, NULL, "--overwrite")) {
            overwrite = 1;
            continue;
        }
        int known = is_option(arg, "-q", "--quality") || is_option(arg, NULL, "--depth") ||
                    is_option(arg, "-f", "--format") || is_option(arg, NULL, "--max-pixels");
        if (!known) return cli_usage_error(cmd, "unknown option '%s'", arg);
        if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", arg);
        const char *value = argv[++i];
        long n;
        if (is_option(arg, "-q", "--quality")) {
            if (cli_parse_int(value, 1, 100, &n))
                return cli_usage_error(cmd, "quality must be 1..100, not '%s'", value);
            wopts.quality = (int)n;
        } else if (is_option(arg, NULL, "--depth")) {
            if (cli_parse_int(value, 8, 16, &n) || (n != 8 && n != 16))
                return cli_usage_error(cmd, "depth must be 8 or 16, not '%s'", value);
            wopts.bit_depth = (int)n;
        } else if (is_option(arg, NULL, "--max-pixels")) {
            if (cli_parse_int(value, 1, LONG_MAX, &n))
                return cli_usage_error(cmd, "max-pixels must be a positive number, not '%s'", value);
            ropts.max_pixels = (uint64_t)n;
        } else {
            /* A format is named like an extension. */
            char ext[16];
            snprintf(ext, sizeof ext, ".%s", value);
            wopts.format = strlen(value) < 8 ? nsr_format_from_path(ext) : NSR_FORMAT_UNKNOWN;
            if (wopts.format == NSR_FORMAT_UNKNOWN)
                return cli_usage_error(cmd, "unknown format '%s' (png, jpeg, jpg or webp)", value);
        }
    }
    if (npaths != 2) return cli_usage_error(cmd, "needs an input and an output file");
    const char *in = paths[0], *out = paths[1];
    if (!overwrite && cli_same_file(in, out))
        return cli_error("%s: refusing to overwrite the input (add --overwrite)", out);
    nsr_image img;
    nsr_error err;
    if (nsr_image_read(&img, in, &ropts, &err)) return cli_error("%s", err.message);
    int rc = nsr_image_write(&img, out, &wopts, &err);
    nsr_image_free(&img);
    return rc ? cli_error("%s", err.message) : 0;
}
