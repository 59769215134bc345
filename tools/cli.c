/* cli.c - helpers shared by the subcommands: errors, number parsing, threads, progress. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("nsr: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nsr %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try 'nsr %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_regime(const char *s, int *out) {
    if (s && !strcmp(s, "fixed-flops")) *out = NSR_REGIME_FIXED_FLOPS;
    else if (s && !strcmp(s, "fixed-size")) *out = NSR_REGIME_FIXED_SIZE;
    else return -1;
    return 0;
}

int cli_set_threads(const char *arg) {
    long n = 0;
    if (arg && cli_parse_int(arg, 0, 1024, &n)) return -1;
    omp_set_num_threads(n > 0 ? (int)n : omp_get_num_procs());
    return 0;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void cli_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

void cli_json_field(const char *sep, const char *key, double value) {
    printf("%s\"%s\": ", sep, key);
    if (isfinite(value)) printf("%.6f", value);
    else fputs("null", stdout);
}

static int progress_shown;

void cli_progress(double fraction, const char *label) {
    static int enabled = -1;
    if (enabled < 0) {
        const char *force = getenv("NSR_PROGRESS");
        enabled = force ? atoi(force) != 0 : isatty(STDERR_FILENO);
    }
    if (!enabled) return;
    fprintf(stderr, "\r%6.2f%% %s\033[K", 100.0 * fraction, label ? label : "");
    fflush(stderr);
    progress_shown = 1;
}

void cli_progress_done(void) {
    if (progress_shown) fputc('\n', stderr);
    progress_shown = 0;
}
