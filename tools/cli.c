/* cli.c - helpers shared by the subcommands: messages, numbers, threads, formats, the overwrite
 * guard. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "progress.h"

static const char *command = "nsr";

void cli_set_command(const char *name) { command = name; }

static void message(const char *fmt, va_list ap) {
    progress_clear(); /* the terminal's progress line gives way to the message */
    fprintf(stderr, "nsr %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    message(fmt, ap);
    va_end(ap);
    return 1;
}

void cli_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    message(fmt, ap);
    va_end(ap);
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

void cli_set_threads(const opt_value *j) {
    omp_set_num_threads(j->count && j->i > 0 ? (int)j->i : omp_get_num_procs());
}

/* The architecture fields taking part: all, or all but the scale (a task option of nsr train). */
static int arch_field_used(const nsr_arch_field *f, int with_scale) { return with_scale || strcmp(f->name, "scale"); }

opt_spec *cli_arch_specs(const opt_spec *fixed, int nfixed, int with_scale, const char *section, int *n) {
    opt_spec *specs = calloc(nsr_arch_field_count() + (size_t)nfixed, sizeof *specs);
    if (!specs) return NULL;
    *n = 0;
    for (size_t i = 0; i < nsr_arch_field_count(); i++) {
        const nsr_arch_field *f = nsr_arch_field_at(i);
        if (!arch_field_used(f, with_scale)) continue;
        specs[*n] = (opt_spec){.long_name = f->flag,
                               .kind = f->is_flag ? OPT_FLAG : f->names ? OPT_CHOICE : OPT_INT,
                               .min = f->min, .max = f->max, .arg = f->arg, .help = f->help,
                               .show_default = !f->is_flag, .def = f->def,
                               .section = *n ? NULL : section, .choices = f->names};
        ++*n;
    }
    for (int i = 0; i < nfixed; i++) specs[(*n)++] = fixed[i];
    return specs;
}

int cli_arch_apply(const opt_value *v, int with_scale, nsr_arch *arch) {
    int n = 0, given = 0;
    for (size_t i = 0; i < nsr_arch_field_count(); i++) {
        const nsr_arch_field *f = nsr_arch_field_at(i);
        if (!arch_field_used(f, with_scale)) continue;
        if (v[n].count) nsr_arch_set(arch, i, f->is_flag ? 1 : (int)v[n].i), given++;
        n++;
    }
    return given;
}

int cli_arch_given(const opt_value *v, int with_scale, const char *name) {
    int n = 0;
    for (size_t i = 0; i < nsr_arch_field_count(); i++) {
        const nsr_arch_field *f = nsr_arch_field_at(i);
        if (!arch_field_used(f, with_scale)) continue;
        if (!strcmp(f->name, name)) return v[n].count > 0;
        n++;
    }
    return 0;
}

int cli_parse_format(const char *name, nsr_format *out) {
    static const struct { const char *name; nsr_format format; } formats[] = {
        {"png", NSR_FORMAT_PNG}, {"jpeg", NSR_FORMAT_JPEG}, {"jpg", NSR_FORMAT_JPEG}, {"webp", NSR_FORMAT_WEBP},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcasecmp(name, formats[i].name)) {
            *out = formats[i].format;
            return 0;
        }
    return -1;
}

int cli_parse_tiling(const char *cmd, const opt_value *tile, nsr_tiling *out) {
    *out = NSR_TILE_AUTO;
    if (tile->count && nsr_tiling_parse(tile->text, out))
        return cli_usage_error(cmd, "--tile must be auto, reference or whole, not '%s'", tile->text);
    return 0;
}

int cli_check_overwrite(const char *in, const char *out, int overwrite) {
    struct stat si, so;
    if (overwrite || stat(in, &si) != 0 || stat(out, &so) != 0) return 0;
    if (si.st_dev != so.st_dev || si.st_ino != so.st_ino) return 0;
    return cli_error("%s: refusing to overwrite the input (use --overwrite)", out);
}

const char *cli_grouped(size_t n, char *buf, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < size; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

void cli_json_metrics(const nsr_metrics *m, int with_psnr_b) {
    json_write_number(stdout, ", ", "psnr_y", m->psnr_y);
    json_write_number(stdout, ", ", "ssim_y", m->ssim_y);
    json_write_number(stdout, ", ", "psnr_rgb", m->psnr_rgb);
    if (with_psnr_b) json_write_number(stdout, ", ", "psnr_b", m->psnr_b);
}
