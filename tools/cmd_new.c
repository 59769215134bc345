/* cmd_new.c - `nsr new`: write an untrained network (the reference initialisation) to a model
 * file, the starting point of training or of a parameter count. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

/* The options after the architecture's. */
enum { SEED, OUTPUT, FIXED };

static int run(const opt_args *a) {
    const opt_value *v = a->v, *fixed = v + nsr_arch_field_count();
    nsr_arch arch;
    nsr_arch_defaults(&arch);
    cli_arch_apply(v, 1, &arch);
    const long seed = fixed[SEED].count ? fixed[SEED].i : 1;
    const char *out_path = fixed[OUTPUT].text;
    if (!out_path) return cli_usage_error("new", "-o M.nsr is required");
    nsr_error err;
    if (nsr_arch_check(&arch, &err)) return cli_usage_error("new", "%s", err.message);
    nsr_model *m;
    nsr_model_file *f = nsr_model_file_new();
    if (!f) return cli_error("out of memory");
    int rc = nsr_model_create(&m, &arch, (uint64_t)seed, &err);
    if (!rc) {
        rc = nsr_model_to_file(m, f, &err) || nsr_model_file_set_int(f, "nsr.init_seed", seed, &err) ||
             nsr_model_file_save(f, out_path, &err);
        nsr_model_free(m);
    }
    nsr_model_file_free(f);
    return rc ? cli_error("%s", err.message) : 0;
}

int cmd_new(int argc, char **argv) {
    static const opt_spec fixed[FIXED] = {
        [SEED] = {.long_name = "seed", .kind = OPT_INT, .min = 0, .max = 2147483647L, .arg = "N",
                  .help = "initialisation seed", .show_default = 1, .def = 1},
        [OUTPUT] = {.short_name = 'o', .long_name = "output", .kind = OPT_STRING, .arg = "M",
                    .help = "the model file to write"},
    };
    /* the architecture's options come from its table, so they are made here */
    int n;
    opt_spec *specs = cli_arch_specs(fixed, FIXED, 1, NULL, &n);
    if (!specs) return cli_error("out of memory");
    const opt_command command = {
        "new",
        "usage: nsr new [options] -o M.nsr\n"
        "\n"
        "Writes an untrained wdsr_nsr network (NSR.md section 3, the reference initialisation drawn\n"
        "from --seed) to M.nsr. The defaults are the reference's default wdsr_nsr: B16 F32 wm4 k4 d16\n"
        "at x2.\n"
        "\n",
        "EDSR+NSR as published: --blocks 16 --features 64 --wm 1 --groups 4 --cardinals 16.\n",
        specs, n, 0, run,
    };
    int status = opt_main(&command, argc, argv);
    free(specs);
    return status;
}
