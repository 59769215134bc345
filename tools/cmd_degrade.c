/* cmd_degrade.c - `nsr degrade`: add seeded Gaussian noise or JPEG artifacts to one image. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char degrade_help[] =
    "usage: nsr degrade IN OUT (--noise SIGMA | --jpeg Q) [--seed N] [-j N] [--overwrite]\n"
    "\n"
    "Degrades IN as the denoising and JPEG benchmarks do (NSR.md section 5) and writes OUT.\n"
    "\n"
    "  --noise SIGMA    add Gaussian noise, SIGMA on the 0-255 scale (15, 25, 50 are usual);\n"
    "                   the noise is added in float and not clipped, but OUT holds it rounded\n"
    "                   and clipped to its bit depth\n"
    "  --seed N         noise seed, 0..2^63-1 (default 0); the noise of each pixel depends\n"
    "                   only on the seed, the colour plane and the pixel's position, so it is\n"
    "                   the same on every machine and at any -j\n"
    "  --jpeg Q         JPEG round trip at quality Q (1..100; 10, 20, 30, 40 are usual) with\n"
    "                   libjpeg's standard tables, 4:2:0 for colour; grey stays grey. Write OUT\n"
    "                   as PNG to keep the decoded artifacts as they are\n"
    "  -j N             threads (default: all cores)\n"
    "  --overwrite      allow OUT to be the input file\n";

int cmd_degrade(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *threads = NULL;
    int npaths = 0, overwrite = 0;
    double sigma = -1;
    long quality = 0, seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(degrade_help, stdout);
            return 0;
        } else if (!strcmp(a, "--overwrite")) {
            overwrite = 1;
        } else if (a[0] != '-' || !a[1]) {
            if (npaths == 2) return cli_usage_error("degrade", "unexpected argument '%s'", a);
            paths[npaths++] = a;
        } else if (!v) {
            return cli_usage_error("degrade", "unknown option or missing value: %s", a);
        } else {
            i++;
            if (!strcmp(a, "--noise")) {
                if (cli_parse_double(v, 0, 255, &sigma))
                    return cli_usage_error("degrade", "--noise must be a sigma in 0..255, not '%s'", v);
            } else if (!strcmp(a, "--jpeg")) {
                if (cli_parse_int(v, 1, 100, &quality))
                    return cli_usage_error("degrade", "--jpeg must be a quality in 1..100, not '%s'", v);
            } else if (!strcmp(a, "--seed")) {
                if (cli_parse_int(v, 0, LONG_MAX, &seed))
                    return cli_usage_error("degrade", "--seed must be an integer 0..2^63-1, not '%s'", v);
            } else if (!strcmp(a, "-j")) {
                threads = v;
            } else {
                return cli_usage_error("degrade", "unknown option %s", a);
            }
        }
    }
    if (npaths != 2) return cli_usage_error("degrade", "needs IN and OUT");
    if ((sigma >= 0) == (quality > 0)) return cli_usage_error("degrade", "give one of --noise SIGMA or --jpeg Q");
    if (cli_set_threads(threads)) return cli_usage_error("degrade", "-j must be a thread count, not '%s'", threads);
    if (!overwrite && cli_same_file(paths[0], paths[1]))
        return cli_error("%s: refusing to overwrite the input (use --overwrite)", paths[1]);

    nsr_error err;
    nsr_image in, out;
    if (nsr_image_read(&in, paths[0], NULL, &err)) return cli_error("%s", err.message);
    int rc = 0;
    if (quality > 0) {
        rc = nsr_jpeg_degrade(&out, &in, (int)quality, &err);
        nsr_image_free(&in);
        if (rc) return cli_error("%s: %s", paths[0], err.message);
    } else {
        out = in; /* noise is added in place */
        nsr_add_gaussian_noise(&out, sigma, (uint64_t)seed);
    }
    rc = nsr_image_write(&out, paths[1], NULL, &err);
    nsr_image_free(&out);
    return rc ? cli_error("%s", err.message) : 0;
}
