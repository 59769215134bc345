/* cmd_convert.c - nsr convert IN OUT: rewrite an image in another format, bit depth or quality. */
#include <stdio.h>

#include "cli.h"
#include "commands.h"

enum { QUALITY, DEPTH, FORMAT, MAX_PIXELS, OVERWRITE };
static const opt_spec specs[] = {
    [QUALITY] = CLI_OPT_QUALITY("JPEG or WebP quality 1..100 (default: JPEG 95, WebP lossless)"),
    [DEPTH] = {.long_name = "depth", .kind = OPT_INT, .min = 8, .max = 16, .range = "8 or 16", .arg = "8|16",
               .help = "PNG bit depth (default: the input's, 16 for 16-bit PNG)"},
    [FORMAT] = CLI_OPT_FORMAT("png, jpeg (or jpg) or webp, whatever OUT is called"),
    [MAX_PIXELS] = CLI_OPT_MAX_PIXELS,
    [OVERWRITE] = {.long_name = "overwrite", .help = "allow OUT to be IN itself"},
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    nsr_read_options ropts = {(uint64_t)v[MAX_PIXELS].i};
    nsr_write_options wopts = {NSR_FORMAT_UNKNOWN, (int)v[QUALITY].i, (int)v[DEPTH].i};
    if (v[DEPTH].count && v[DEPTH].i != 8 && v[DEPTH].i != 16)
        return cli_usage_error(a->cmd->name, "--depth must be 8 or 16, not '%s'", v[DEPTH].text);
    if (v[FORMAT].count && cli_parse_format(v[FORMAT].text, &wopts.format))
        return cli_usage_error(a->cmd->name, "unknown format '%s' (png, jpeg, jpg or webp)", v[FORMAT].text);
    if (a->npos != 2) return cli_usage_error(a->cmd->name, "needs an input and an output file");
    const char *in = a->pos[0], *out = a->pos[1];
    if (cli_check_overwrite(in, out, v[OVERWRITE].count)) return 1;
    nsr_image img;
    nsr_error err;
    if (nsr_image_read(&img, in, &ropts, &err)) return cli_error("%s", err.message);
    int rc = nsr_image_write(&img, out, &wopts, &err);
    nsr_image_free(&img);
    return rc ? cli_error("%s", err.message) : 0;
}

static const opt_command command = {
    "convert",
    "usage: nsr convert IN OUT [options]\n"
    "\n"
    "Reads IN (PNG, JPEG or WebP, recognised by its content) and writes OUT in the format\n"
    "of its extension (.png, .jpg, .jpeg, .webp) or of --format. Grey stays grey; alpha and\n"
    "the ICC profile are kept where the output format can hold them (JPEG drops alpha);\n"
    "JPEG EXIF orientation is applied. The output appears only once it is complete.\n"
    "\n"
    "options:\n",
    NULL, specs, OPT_COUNT(specs), 2, run,
};

int cmd_convert(int argc, char **argv) { return opt_main(&command, argc, argv); }
