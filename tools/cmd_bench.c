/* cmd_bench.c - `nsr bench`: speed against the references users compare nsr with (oneDNN, the
 * FMA peak, the rebuttal's table, PyTorch), threads and memory. The benchmarks are in bench/;
 * BENCHMARKS.md says what each measures and lists results. */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "../bench/bench.h"
#include "cli.h"
#include "commands.h"
#include "ranks.h"

enum { JSON, REPS, QUICK, NO_REFERENCE, THREADS };
static const opt_spec specs[] = {
    [JSON] = CLI_OPT_JSON("one JSON object per measurement and line"),
    [REPS] = {.long_name = "reps", .kind = OPT_INT, .min = 1, .max = 1000, .arg = "N",
              .help = "timed rounds per case (default 5; --quick: 1)"},
    [QUICK] = {.long_name = "quick", .help = "tiny sizes, one round: checks that everything runs, measures nothing"},
    [NO_REFERENCE] = {.long_name = "no-reference", .help = "skip oneDNN and PyTorch (reported as unavailable)"},
    [THREADS] = CLI_OPT_THREADS,
};

static const struct {
    const char *name;
    int (*run)(const bench_opts *o);
} benches[] = {
    {"conv", bench_conv}, {"rebuttal", bench_rebuttal}, {"model", bench_model},
    {"scaling", bench_scaling}, {"ranks", bench_ranks}, {"upscale", bench_upscale},
};

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    if (!a->npos) return cli_usage_error("bench", "which benchmark? conv, rebuttal, model, scaling, ranks, upscale or all");
    const char *name = a->pos[0];
    nsr_train_comm comm;
    if (ranks_start(&comm, a->argc, a->argv)) return 1;
    if (comm.size && strcmp(name, "ranks")) {
        if (comm.rank == 0) cli_usage_error("bench", "under mpirun only 'nsr bench ranks' runs");
        ranks_stop();
        return 2;
    }
    bench_opts o = {.json = v[JSON].count, .quick = v[QUICK].count, .no_reference = v[NO_REFERENCE].count,
                    .comm = comm.size ? &comm : NULL};
    cli_set_threads(&v[THREADS]);
    o.threads = omp_get_max_threads();
    o.reps = v[REPS].count ? (int)v[REPS].i : o.quick ? 1 : 5;
    int found = 0, rc = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(name, "all") && strcmp(name, benches[i].name)) continue;
        found = 1;
        if (benches[i].run(&o)) rc = 1;
    }
    ranks_stop();
    if (!found)
        return cli_usage_error("bench", "unknown benchmark '%s' (conv, rebuttal, model, scaling, ranks, upscale, all)", name);
    return rc;
}

static const opt_command command = {
    "bench",
    "usage: nsr bench NAME [options]\n"
    "\n"
    "Times nsr against a reference in the same run and prints the ratio reference / nsr\n"
    "(above 1: nsr is faster), of the min times; times are the min and the median of the\n"
    "rounds, in ms. A '!' marks a ratio under its target. BENCHMARKS.md has the details.\n"
    "\n"
    "  conv       conv3x3 64->64 at N=16 48x48 and N=1 256x256: oneDNN, the FMA peak\n"
    "  rebuttal   one conv layer, plain against NSR at fixed model size and fixed FLOPs,\n"
    "             k = 2, 4, 8, 16, at N=100 64x64 and N=16 48x48 (the rebuttal's table);\n"
    "             then the fixed-size x2 network (k = 2, 4, 8, hard) against the plain\n"
    "             one of the same parameters, 256x256 and 1000x750\n"
    "  model      EDSR+NSR x2 against PyTorch with the same weights: tiled inference of a\n"
    "             256x256 image, one training step on 16 patches of 48x48\n"
    "  scaling    1 thread against all; peak memory of upscaling 4096x4096 with tiles\n"
    "  ranks      a training step of the model's network in its parts (compute, wait,\n"
    "             gradient exchange, update): 1 rank on all threads against 2 ranks under\n"
    "             mpirun with half the threads each (under mpirun: that rank count alone)\n"
    "  upscale    the main job with each bundled model: PNG of 1000x750 to PNG, auto\n"
    "             tiles, against nsr's conv rate (target: 70% of it) and PyTorch\n"
    "  all        all of the above\n"
    "\n",
    "PyTorch runs as a child: $NSR_BENCH_PYTHON (default /usr/bin/python3) with\n"
    "scripts/bench_torch.py ($NSR_BENCH_SCRIPT). NSR_KERNELS=reference forces nsr's reference\n"
    "convolution; NSR_KERNELS=avx2 keeps Winograd's products on 256-bit vectors (and the FMA\n"
    "peak with them) where the CPU has AVX-512.\n",
    specs, OPT_COUNT(specs), 1, run,
};

int cmd_bench(int argc, char **argv) { return opt_main(&command, argc, argv); }
