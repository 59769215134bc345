/* cmd_degrade.c - `nsr degrade`: add seeded Gaussian noise or JPEG artifacts to one image. */
#include <stdio.h>

#include "cli.h"
#include "cli_output.h"
#include "commands.h"

enum { NOISE, SEED, JPEG, THREADS, OVERWRITE };
static const opt_spec specs[] = {
    [NOISE] = {.long_name = "noise", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 255, .range = "a sigma in 0..255",
               .arg = "SIGMA",
               .help = "add Gaussian noise, SIGMA on the 0-255 scale (15, 25, 50 are usual);\n"
                       "the noise is added in float and not clipped, but OUT holds it rounded\n"
                       "and clipped to its bit depth"},
    [SEED] = {.long_name = "seed", .kind = OPT_INT, .min = 0, .max = LONG_MAX, .range = "an integer 0..2^63-1",
              .arg = "N",
              .help = "noise seed, 0..2^63-1 (default 0); the noise of each pixel depends\n"
                      "only on the seed, the colour plane and the pixel's position, so it is\n"
                      "the same on every machine and at any -j"},
    [JPEG] = {.long_name = "jpeg", .kind = OPT_INT, .min = 1, .max = 100, .range = "a quality in 1..100",
              .arg = "Q",
              .help = "JPEG round trip at quality Q (1..100; 10, 20, 30, 40 are usual) with\n"
                      "libjpeg's standard tables, 4:2:0 for colour; grey stays grey. Write OUT\n"
                      "as PNG to keep the decoded artifacts as they are"},
    [THREADS] = CLI_OPT_THREADS,
    [OVERWRITE] = CLI_OPT_OVERWRITE,
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    if (a->npos != 2) return cli_usage_error("degrade", "needs IN and OUT");
    if (v[NOISE].count == v[JPEG].count) return cli_usage_error("degrade", "give one of --noise SIGMA or --jpeg Q");
    cli_set_threads(&v[THREADS]);
    if (cli_check_overwrite(a->pos[0], a->pos[1], v[OVERWRITE].count)) return 1;

    nsr_error err;
    nsr_image in, out;
    if (nsr_image_read(&in, a->pos[0], NULL, &err)) return cli_error("%s", err.message);
    int rc = 0;
    if (v[JPEG].count) {
        rc = nsr_jpeg_degrade(&out, &in, (int)v[JPEG].i, &err);
        nsr_image_free(&in);
        if (rc) return cli_error("%s: %s", a->pos[0], err.message);
    } else {
        out = in; /* noise is added in place */
        nsr_add_gaussian_noise(&out, v[NOISE].d, (uint64_t)v[SEED].i);
    }
    rc = cli_write_image(&out, a->pos[1], NULL);
    nsr_image_free(&out);
    return rc;
}

static const opt_command command = {
    "degrade",
    "usage: nsr degrade IN OUT (--noise SIGMA | --jpeg Q) [--seed N] [-j N] [--overwrite]\n"
    "\n"
    "Degrades IN as the denoising and JPEG benchmarks do (NSR.md section 5) and writes OUT.\n"
    "\n",
    NULL, specs, OPT_COUNT(specs), 2, run,
};

int cmd_degrade(int argc, char **argv) { return opt_main(&command, argc, argv); }
