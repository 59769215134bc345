/* cmd_convert.c - nsr convert IN OUT: rewrite an image in another format, bit depth or quality. */
#include <stdio.h>

#include "cli.h"
#include "cli_output.h"
#include "commands.h"

enum { QUALITY, DEPTH, FORMAT, MAX_PIXELS, OVERWRITE };
static const opt_spec specs[] = {
    [QUALITY] = CLI_OPT_QUALITY("JPEG or WebP quality 1..100 (default: JPEG 95, WebP lossless);\n"
                                "refused for PNG, which is lossless"),
    [DEPTH] = {.long_name = "depth", .kind = OPT_INT, .min = 8, .max = 16, .range = "8 or 16", .arg = "8|16",
               .help = "bit depth (default: the input's, 16 for 16-bit PNG); 16 is refused for\n"
                       "JPEG and WebP, which hold 8 bits"},
    [FORMAT] = CLI_OPT_FORMAT("png, jpeg (or jpg) or webp; refused when OUT's extension names\n"
                              "another format (an unknown extension is left to -f)"),
    [MAX_PIXELS] = CLI_OPT_MAX_PIXELS,
    [OVERWRITE] = {.long_name = "overwrite", .help = "allow OUT to be IN itself"},
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    nsr_read_options ropts = {(uint64_t)v[MAX_PIXELS].i};
    nsr_write_options wopts;
    if (a->npos != 2) return cli_usage_error(a->cmd->name, "needs an input and an output file");
    const char *in = a->pos[0], *out = a->pos[1];
    if (cli_output_options(a->cmd->name, &v[FORMAT], &v[QUALITY], &v[DEPTH], out, &wopts)) return 2;
    if (cli_check_overwrite(in, out, v[OVERWRITE].count)) return 1;
    nsr_image img;
    nsr_error err;
    if (nsr_image_read(&img, in, &ropts, &err)) return cli_error("%s", err.message);
    int rc = cli_write_image(&img, out, &wopts);
    nsr_image_free(&img);
    return rc;
}

static const opt_command command = {
    "convert",
    "usage: nsr convert IN OUT [options]\n"
    "\n"
    "Reads IN (PNG, JPEG or WebP, recognised by its content) and writes OUT in the format\n"
    "of its extension (.png, .jpg, .jpeg, .webp) or of --format. Grey stays grey; alpha, the\n"
    "ICC profile, EXIF and the resolution (DPI) are kept where the output format can hold\n"
    "them (JPEG drops alpha, with a warning; WebP keeps a resolution only in EXIF); the EXIF\n"
    "orientation is applied to the pixels and written as 1. A 16-bit image written as JPEG\n"
    "or WebP is rounded to 8 bits, with a warning. The output appears only once complete.\n"
    "\n"
    "options:\n",
    NULL, specs, OPT_COUNT(specs), 2, run,
};

int cmd_convert(int argc, char **argv) { return opt_main(&command, argc, argv); }
