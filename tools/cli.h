/* cli.h - what the subcommands of the nsr program share. */
#ifndef NSR_CLI_H
#define NSR_CLI_H

#include "nsr.h"

/* One subcommand: name, one-line summary, entry point (argv[0] is the subcommand's name).
 * Returns the process exit status: 0 success, 1 failure, 2 usage error. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

/* Prints "nsr: <message>" as one line on stderr and returns 1 (the exit status for failure). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "nsr <cmd>: <message>" and "Try 'nsr <cmd> --help'." and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number within [lo, hi]. 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);
/* "fixed-flops" or "fixed-size" (NSR_REGIME_*). 0 on success. */
int cli_parse_regime(const char *s, int *out);

/* Sets the thread count from a -j argument ("0" or NULL: all cores). 0 on success. */
int cli_set_threads(const char *arg);

/* True when both names refer to the same existing file (the input-overwrite guard). */
int cli_same_file(const char *a, const char *b);

/* JSON output: a string literal (quotes and control characters escaped), and a field
 * `<sep>"key": value` whose non-finite values, which JSON cannot write, become null. */
void cli_json_string(const char *s);
void cli_json_field(const char *sep, const char *key, double value);

/* Progress: on a terminal, one updating line "NN.NN% label" on stderr; silent when stderr is
 * not a terminal (GUIs that want it piped set NSR_PROGRESS=1). */
void cli_progress(double fraction, const char *label);
void cli_progress_done(void);

#endif
