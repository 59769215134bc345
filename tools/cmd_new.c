/* cmd_new.c - `nsr new`: write an untrained network (the reference initialisation) to a model
 * file, the starting point of training or of a parameter count. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char new_help[] =
    "usage: nsr new [options] -o M.nsr\n"
    "\n"
    "Writes an untrained wdsr_nsr network (NSR.md section 3, the reference initialisation drawn\n"
    "from --seed) to M.nsr. The defaults are the reference's default wdsr_nsr: B16 F32 wm4 k4 d16\n"
    "at x2.\n"
    "\n"
    "  --blocks B         residual blocks (default 16)\n"
    "  --features F       channels between blocks (default 32)\n"
    "  --wm W             width multiplier: a block's hidden layer has F*W channels (default 4)\n"
    "  --groups K         sparsity groups; 1 is the plain network (default 4)\n"
    "  --cardinals D      cardinals, dividing F (default 16; ignored when K = 1)\n"
    "  --scale S          1 (denoising, JPEG) or the super-resolution factor 2..8 (default 2)\n"
    "  --shared           one selection per block, shared by its two convs (default: one per conv)\n"
    "  --regime R         fixed-flops (default: k groups of kernels mixed per sample) or\n"
    "                     fixed-size (a block's F*W hidden channels split into k groups, one\n"
    "                     selection per block; --hard computes only the chosen group)\n"
    "  --grey             a grey network: one image plane in and out (default: RGB)\n"
    "  --seed N           initialisation seed (default 1)\n"
    "  -o, --output M     the model file to write\n"
    "\n"
    "EDSR+NSR as published: --blocks 16 --features 64 --wm 1 --groups 4 --cardinals 16.\n";

int cmd_new(int argc, char **argv) {
    nsr_arch arch = {.blocks = 16, .features = 32, .width_mult = 4, .groups = 4,
                     .cardinals = 16, .scale = 2, .shared_selection = 0};
    const char *out_path = NULL;
    long seed = 1;
    static const struct { const char *flag; size_t offset; long lo, hi; } ints[] = {
        {"--blocks", offsetof(nsr_arch, blocks), 1, 1024},
        {"--features", offsetof(nsr_arch, features), 1, 4096},
        {"--wm", offsetof(nsr_arch, width_mult), 1, 64},
        {"--groups", offsetof(nsr_arch, groups), 1, 64},
        {"--cardinals", offsetof(nsr_arch, cardinals), 1, 4096},
        {"--scale", offsetof(nsr_arch, scale), 1, 8},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(new_help, stdout);
            return 0;
        } else if (!strcmp(a, "--shared")) {
            arch.shared_selection = 1;
            continue;
        } else if (!strcmp(a, "--grey")) {
            arch.channels = 1;
            continue;
        }
        if (!v) return cli_usage_error("new", "unknown option or missing value: %s", a);
        i++;
        size_t k = 0;
        while (k < sizeof ints / sizeof ints[0] && strcmp(a, ints[k].flag)) k++;
        if (k < sizeof ints / sizeof ints[0]) {
            long n;
            if (cli_parse_int(v, ints[k].lo, ints[k].hi, &n))
                return cli_usage_error("new", "%s must be %ld..%ld, not '%s'", a, ints[k].lo, ints[k].hi, v);
            *(int *)((char *)&arch + ints[k].offset) = (int)n;
        } else if (!strcmp(a, "--regime")) {
            if (cli_parse_regime(v, &arch.regime))
                return cli_usage_error("new", "--regime must be fixed-flops or fixed-size, not '%s'", v);
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_int(v, 0, 2147483647L, &seed)) return cli_usage_error("new", "--seed must be 0..2147483647, not '%s'", v);
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out_path = v;
        } else {
            return cli_usage_error("new", "unknown option %s", a);
        }
    }
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
