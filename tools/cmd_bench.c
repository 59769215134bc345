/* cmd_bench.c - `nsr bench`: speed against the references users compare nsr with (oneDNN, the
 * FMA peak, the rebuttal's table, PyTorch), threads and memory. The benchmarks are in bench/;
 * BENCHMARKS.md says what each measures and lists results. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench.h"
#include "cli.h"
#include "commands.h"

static const char bench_help[] =
    "usage: nsr bench NAME [options]\n"
    "\n"
    "Times nsr against a reference in the same run and prints the ratio reference / nsr\n"
    "(above 1: nsr is faster), of the min times; times are the min and the median of the\n"
    "rounds, in ms. A '!' marks a ratio under its target. BENCHMARKS.md has the details.\n"
    "\n"
    "  conv       conv3x3 64->64 at N=16 48x48 and N=1 256x256: oneDNN, the FMA peak\n"
    "  rebuttal   one conv layer, plain against NSR at fixed model size and fixed FLOPs,\n"
    "             k = 2, 4, 8, 16, at N=100 64x64 and N=16 48x48 (the rebuttal's table)\n"
    "  model      EDSR+NSR x2 against PyTorch with the same weights: tiled inference of a\n"
    "             256x256 image, one training step on 16 patches of 48x48\n"
    "  scaling    1 thread against all; peak memory of upscaling 4096x4096 with tiles\n"
    "  all        all of the above\n"
    "\n"
    "  --json         one JSON object per measurement and line\n"
    "  --reps N       timed rounds per case (default 5; --quick: 1)\n"
    "  --quick        tiny sizes, one round: checks that everything runs, measures nothing\n"
    "  --no-reference skip oneDNN and PyTorch (reported as unavailable)\n"
    "  -j N           threads (default: all cores)\n"
    "\n"
    "PyTorch runs as a child: $NSR_BENCH_PYTHON (default /usr/bin/python3) with\n"
    "scripts/bench_torch.py ($NSR_BENCH_SCRIPT). NSR_KERNELS=reference forces nsr's reference\n"
    "convolution.\n";

static const struct {
    const char *name;
    int (*run)(const bench_opts *o);
} benches[] = {
    {"conv", bench_conv}, {"rebuttal", bench_rebuttal}, {"model", bench_model}, {"scaling", bench_scaling},
};

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.reps = 0};
    const char *name = NULL, *threads = NULL;
    long reps = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(bench_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--quick")) {
            o.quick = 1;
        } else if (!strcmp(a, "--no-reference")) {
            o.no_reference = 1;
        } else if (!strcmp(a, "--reps") || !strcmp(a, "-j")) {
            if (!v) return cli_usage_error("bench", "%s needs a value", a);
            i++;
            if (!strcmp(a, "-j")) threads = v;
            else if (cli_parse_int(v, 1, 1000, &reps))
                return cli_usage_error("bench", "--reps must be 1..1000, not '%s'", v);
        } else if (a[0] == '-' || name) {
            return cli_usage_error("bench", "unknown option or extra argument: %s", a);
        } else {
            name = a;
        }
    }
    if (!name) return cli_usage_error("bench", "which benchmark? conv, rebuttal, model, scaling or all");
    if (cli_set_threads(threads)) return cli_usage_error("bench", "-j must be a thread count, not '%s'", threads);
    o.threads = omp_get_max_threads();
    o.reps = reps ? (int)reps : o.quick ? 1 : 5;
    int found = 0, rc = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(name, "all") && strcmp(name, benches[i].name)) continue;
        found = 1;
        if (benches[i].run(&o)) rc = 1;
    }
    if (!found)
        return cli_usage_error("bench", "unknown benchmark '%s' (conv, rebuttal, model, scaling, all)", name);
    return rc;
}
