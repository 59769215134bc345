/* cli.h - what the subcommands of the nsr program share. */
#ifndef NSR_CLI_H
#define NSR_CLI_H

#include <limits.h>

#include "base/json.h"
#include "nsr.h"
#include "options.h"

/* One subcommand: name, one-line summary, entry point (argv[0] is the subcommand's name).
 * Returns the process exit status: 0 success, 1 failure, 2 usage error. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

/* The running subcommand's name, which every message of cli_error and cli_note starts with. */
void cli_set_command(const char *name);
/* Prints "nsr <cmd>: <message>" as one line on stderr and returns 1 (the exit status for failure). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line for a remark that is no failure. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "nsr <cmd>: <message> (try 'nsr <cmd> --help')" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number within [lo, hi]. 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);

/* Options several commands share, as opt_spec initialisers. */
#define CLI_OPT_THREADS                                                                            \
    {.short_name = 'j', .kind = OPT_INT, .min = 0, .max = 1024, .range = "a thread count 0..1024", \
     .arg = "N", .help = "threads (default: all cores)"}
#define CLI_OPT_TTA                                                                                \
    {.short_name = 'x', .long_name = "tta",                                                        \
     .help = "test-time augmentation: the 8 flips and transposes of the input restored\n"          \
             "and averaged (a little better, 8 times slower; models only)"}
#define CLI_OPT_OVERWRITE {.long_name = "overwrite", .help = "allow OUT to be the input file"}
#define CLI_OPT_JSON(what) {.long_name = "json", .help = what}
#define CLI_OPT_MAX_PIXELS                                                                         \
    {.long_name = "max-pixels", .kind = OPT_INT, .min = 1, .max = LONG_MAX,                        \
     .range = "a positive count", .arg = "N", .help = "refuse inputs larger than N pixels (default 400000000)"}
#define CLI_OPT_FORMAT(help_text)                                                                  \
    {.short_name = 'f', .long_name = "format", .kind = OPT_STRING, .arg = "F", .help = help_text}
/* The tiling of the restoring commands (read by cli_parse_tiling) and its tile size. */
#define CLI_OPT_TILE                                                                               \
    {.long_name = "tile", .kind = OPT_STRING, .arg = "T",                                          \
     .help = "auto (default: large overlapping tiles, seamless, zero padding only at\n"            \
             "the image edge, bounded memory; within 0.001 dB of whole), reference\n"              \
             "(48x48 tiles on inputs of at least 192x192, as the published numbers;\n"            \
             "a frame at the edge) or whole (the image in one piece)"}
#define CLI_OPT_TILE_SIZE                                                                          \
    {.short_name = 't', .kind = OPT_INT, .min = 1, .max = 1 << 20, .arg = "N",                     \
     .help = "tile size in input pixels for --tile auto (default: from the model)"}
/* The tiling from --tile (not given: NSR_TILE_AUTO); 0, or 2 after a usage error of cmd. */
int cli_parse_tiling(const char *cmd, const opt_value *tile, nsr_tiling *out);
#define CLI_OPT_QUALITY(help_text)                                                                 \
    {.short_name = 'q', .long_name = "quality", .kind = OPT_INT, .min = 1, .max = 100, .arg = "Q", \
     .help = help_text}

/* A command's options: those of the architecture fields (nsr_arch_field_at; scale left out
 * unless with_scale), the first under the heading section, then the nfixed of fixed. A malloc'd
 * array of *n specs, or NULL when out of memory. */
opt_spec *cli_arch_specs(const opt_spec *fixed, int nfixed, int with_scale, const char *section, int *n);
/* Sets the fields given by those options (their values v) in arch; returns how many were given. */
int cli_arch_apply(const opt_value *v, int with_scale, nsr_arch *arch);
/* Whether the architecture field of this name (its nsr_arch member) was given. */
int cli_arch_given(const opt_value *v, int with_scale, const char *name);

/* Sets the thread count from -j (not given or 0: all cores). */
void cli_set_threads(const opt_value *j);

/* An output format by name: png, jpeg, jpg or webp (any case). 0 on success. */
int cli_parse_format(const char *name, nsr_format *out);

/* The overwrite guard: fails with "OUT: refusing to overwrite the input (use --overwrite)"
 * when out is the file in (under any name) and overwrite was not asked. */
int cli_check_overwrite(const char *in, const char *out, int overwrite);

/* A count with thousands separators: 4877812 -> "4,877,812". Returns buf. */
const char *cli_grouped(size_t n, char *buf, size_t size);

/* The metrics of nsr metrics and nsr eval as JSON members: ", \"psnr_y\": ..." and so on, PSNR-B
 * only when with_psnr_b. */
void cli_json_metrics(const nsr_metrics *m, int with_psnr_b);

#endif
