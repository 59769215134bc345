/* cmd_resize.c - `nsr resize`: MATLAB-compatible bicubic resize of one image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_output.h"
#include "commands.h"

/* A positive scale written as a number ("0.5") or a fraction ("1/3", kept exact as 1.0 / 3). */
static int parse_scale(const char *s, double *out) {
    const char *slash = strchr(s, '/');
    double num, den;
    if (!slash) return cli_parse_double(s, 1e-6, 1e4, out);
    char buf[64];
    size_t n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (cli_parse_double(buf, 1e-6, 1e4, &num) || cli_parse_double(slash + 1, 1e-6, 1e4, &den)) return -1;
    *out = num / den;
    return *out >= 1e-6 && *out <= 1e4 ? 0 : -1;
}

static int parse_size(const char *s, int *w, int *h) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return -1;
    const char *rest = end + 1;
    long b = strtol(rest, &end, 10);
    if (end == rest || *end || a < 1 || b < 1 || a > 1 << 30 || b > 1 << 30) return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

enum { SCALE, SIZE, FLOAT, THREADS, OVERWRITE };
static const opt_spec specs[] = {
    [SCALE] = {.short_name = 's', .long_name = "scale", .kind = OPT_STRING, .arg = "S",
               .help = "scale factor, a number or a fraction such as 1/3 (give shrinks by 3 as\n"
                       "1/3: the kernel uses S itself); the output is ceil(S * size)"},
    [SIZE] = {.long_name = "size", .kind = OPT_STRING, .arg = "WxH",
              .help = "output size; the kernel scales by W/width and H/height"},
    [FLOAT] = {.long_name = "float",
               .help = "resize the samples as floats, no rounding between the passes (always\n"
                       "so for 16-bit input)"},
    [THREADS] = {.short_name = 'j', .kind = OPT_INT, .min = 0, .max = 1024, .range = "a thread count 0..1024",
                 .arg = "N", .help = "threads (default: all cores); the result does not depend on it"},
    [OVERWRITE] = CLI_OPT_OVERWRITE,
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    const char *const *paths = a->pos;
    int out_w = 0, out_h = 0;
    double scale = 0;
    if (v[SCALE].count && parse_scale(v[SCALE].text, &scale))
        return cli_usage_error("resize", "--scale must be a positive number or fraction (0.5, 1/3), not '%s'",
                               v[SCALE].text);
    if (v[SIZE].count && parse_size(v[SIZE].text, &out_w, &out_h))
        return cli_usage_error("resize", "--size must be WxH with positive integers, not '%s'", v[SIZE].text);
    if (a->npos != 2) return cli_usage_error("resize", "needs IN and OUT");
    if ((scale > 0) == (out_w > 0)) return cli_usage_error("resize", "give one of --scale S or --size WxH");
    cli_set_threads(&v[THREADS]);
    if (cli_check_overwrite(paths[0], paths[1], v[OVERWRITE].count)) return 1;
    const int float_mode = v[FLOAT].count;

    nsr_error err;
    nsr_image in, out;
    if (nsr_image_read(&in, paths[0], NULL, &err)) return cli_error("%s", err.message);
    int rc = nsr_resize_bicubic(&out, &in, out_w, out_h, scale, scale, in.bit_depth == 8 && !float_mode, &err);
    nsr_image_free(&in);
    if (rc) return cli_error("%s: %s", paths[0], err.message);
    rc = cli_write_image(&out, paths[1], NULL);
    nsr_image_free(&out);
    return rc;
}

static const opt_command command = {
    "resize",
    "usage: nsr resize IN OUT (--scale S | --size WxH) [--float] [-j N] [--overwrite]\n"
    "\n"
    "Resizes IN with MATLAB's imresize(IN, S, 'bicubic') semantics (NSR.md section 5) and writes\n"
    "OUT (PNG, JPEG or WebP by its extension). 8-bit input is resized as MATLAB does on uint8:\n"
    "the image is rounded to 8 bit after each of the two passes, which reproduces the standard\n"
    "LR test images exactly. Alpha, the ICC profile and EXIF are kept where OUT's format can\n"
    "hold them; the resolution (DPI) is scaled with the size, keeping the physical size.\n"
    "\n",
    NULL, specs, OPT_COUNT(specs), 2, run,
};

int cmd_resize(int argc, char **argv) { return opt_main(&command, argc, argv); }
