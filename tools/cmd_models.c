/* cmd_models.c - `nsr models`: every model on the search path (model_path.h) with what it does,
 * its size, its training and its measured quality, and where it is. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"
#include "model_path.h"

enum { JSON };
static const opt_spec specs[] = {
    [JSON] = CLI_OPT_JSON("one JSON object per model"),
};

/* The file's base name without ".nsr": the model's name. */
static void model_name(const char *path, char *buf, size_t size) {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(buf, size, "%.*s", (int)(strlen(base) - 4), base);
}

/* "x2 super-resolution", "denoising sigma 0-55", "JPEG q10 artifacts", ... */
static void describe_task(const nsr_model_file *f, const nsr_arch *arch, const char *task, char *buf, size_t size) {
    nsr_error err;
    double lo = 0, hi = 0;
    int64_t qlo = 0, qhi = 0;
    if (arch->scale > 1) snprintf(buf, size, "x%d super-resolution", arch->scale);
    else if (task && !strcmp(task, "denoise")) {
        nsr_model_file_get_float(f, "noise", &lo, &err);
        if (nsr_model_file_get_float(f, "noise_max", &hi, &err) == 0 && hi > lo)
            snprintf(buf, size, "denoising sigma %g-%g", lo, hi);
        else snprintf(buf, size, "denoising sigma %g", lo);
    } else if (task && !strcmp(task, "jpeg")) {
        nsr_model_file_get_int(f, "jpeg_quality", &qlo, &err);
        if (nsr_model_file_get_int(f, "jpeg_quality_max", &qhi, &err) == 0 && qhi > qlo)
            snprintf(buf, size, "JPEG q%" PRId64 "-%" PRId64 " artifacts", qlo, qhi);
        else snprintf(buf, size, "JPEG q%" PRId64 " artifacts", qlo);
    } else snprintf(buf, size, "same size, task unknown");
}

/* The training folders by their last names: "../data/T91:../data/BSD200" -> "T91+BSD200". */
static void short_folders(const char *dirs, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (const char *s = dirs; s && *s && used + 1 < size;) {
        const char *end = strchr(s, ':');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len > 1 && s[len - 1] == '/') len--;
        const char *base = s;
        for (size_t k = 0; k + 1 < len; k++)
            if (s[k] == '/') base = s + k + 1;
        int n = snprintf(buf + used, size - used, "%s%.*s", used ? "+" : "", (int)(len - (size_t)(base - s)), base);
        if (n < 0) break;
        used += (size_t)n < size - used ? (size_t)n : size - used - 1;
        s = end ? end + 1 : NULL;
    }
}

/* One model: a row of the table, or a JSON object. hidden: an earlier folder has its name. */
static void print_model(const char *path, const nsr_model_file *f, const nsr_model *m, int hidden, int json) {
    const nsr_arch *arch = nsr_model_arch(m);
    cli_model_meta meta;
    cli_model_meta_read(f, &meta);
    char name[256], task[64], data[128], params[32], quality[96], val[64];
    model_name(path, name, sizeof name);
    describe_task(f, arch, meta.task, task, sizeof task);
    short_folders(meta.data, data, sizeof data);
    short_folders(meta.val, val, sizeof val);
    if (json) {
        printf("{\"name\": ");
        json_write_string(stdout, name);
        printf(", \"file\": ");
        json_write_string(stdout, path);
        printf(", \"hidden\": %s, \"task\": ", hidden ? "true" : "false");
        if (meta.task || arch->scale > 1) json_write_string(stdout, meta.task ? meta.task : "sr");
        else fputs("null", stdout);
        printf(", \"restores\": ");
        json_write_string(stdout, task);
        printf(", \"scale\": %d, \"channels\": %d, \"params\": %zu, \"iterations\": %" PRId64
               ", \"init_iterations\": %" PRId64,
               arch->scale, arch->channels == 1 ? 1 : 3, nsr_model_param_count(m), meta.iterations,
               meta.init_iterations);
        printf(", \"data\": ");
        if (meta.data) json_write_string(stdout, meta.data);
        else fputs("null", stdout);
        printf(", \"val\": ");
        if (meta.val) json_write_string(stdout, meta.val);
        else fputs("null", stdout);
        /* the metric is nsr train's validation: mean Y-PSNR, pt_ir, whole image, soft selection */
        if (isnan(meta.val_psnr)) printf(", \"val_psnr_y_pt_ir\": null");
        else json_write_number(stdout, ", ", "val_psnr_y_pt_ir", meta.val_psnr);
        printf("}\n");
        return;
    }
    cli_grouped(nsr_model_param_count(m), params, sizeof params);
    if (!meta.iterations) snprintf(quality, sizeof quality, "untrained");
    else if (isnan(meta.val_psnr)) snprintf(quality, sizeof quality, "not measured");
    else snprintf(quality, sizeof quality, "%.2f dB on %s", meta.val_psnr, *val ? val : "?");
    char training[192] = "-";
    /* a run begun from another model (--init): the steps behind it, then its own */
    char before[24] = "";
    if (meta.init_iterations) snprintf(before, sizeof before, "%" PRId64 "+", meta.init_iterations);
    if (meta.iterations)
        snprintf(training, sizeof training, "%s, %s%" PRId64 " it.", *data ? data : "?", before,
                 meta.iterations);
    printf("%-16s %-24s %-4s %10s  %-28s %-20s %s%s\n", name, task, arch->channels == 1 ? "grey" : "RGB",
           params, training, quality, path, hidden ? "  (hidden by the one above of that name)" : "");
}

/* The names seen so far (a later file of the same name is hidden by the first). */
typedef struct names {
    char **v;
    size_t count;
} names;

static int seen(names *n, const char *name) {
    for (size_t i = 0; i < n->count; i++)
        if (!strcmp(n->v[i], name)) return 1;
    char **grown = realloc(n->v, (n->count + 1) * sizeof *grown);
    if (grown && (grown[n->count] = strdup(name))) n->count++;
    if (grown) n->v = grown;
    return 0;
}

static int run(const opt_args *a) {
    const int json = a->v[JSON].count;
    model_path search;
    if (model_path_init(&search)) return cli_error("out of memory");
    names shown = {NULL, 0};
    size_t found = 0, bad = 0;
    if (!json)
        printf("%-16s %-24s %-4s %10s  %-28s %-20s %s\n", "NAME", "TASK", "CH", "PARAMETERS",
               "TRAINED ON, ITERATIONS", "VAL Y-PSNR (pt_ir)", "FILE");
    for (int d = 0; d < search.count; d++) {
        char **paths;
        size_t count;
        if (model_path_list(search.dirs[d], &paths, &count)) {
            bad++;
            cli_error("%s: out of memory listing the folder", search.dirs[d]);
            continue;
        }
        for (size_t i = 0; i < count; i++) {
            nsr_model_file *f;
            nsr_model *m;
            nsr_error err;
            char name[256];
            if (cli_model_load(paths[i], &f, &m, &err)) {
                cli_error("%s (left out)", err.message);
                bad++;
                continue;
            }
            model_name(paths[i], name, sizeof name);
            print_model(paths[i], f, m, seen(&shown, name), json);
            nsr_model_free(m);
            nsr_model_file_free(f);
            found++;
        }
        model_path_list_free(paths, count);
    }
    if (!json) {
        printf("%ssearched in this order (-m NAME takes the first NAME.nsr):", found ? "" : "no models found; ");
        for (int d = 0; d < search.count; d++) {
            struct stat st;
            printf("%s %s%s", d ? "," : "", search.dirs[d],
                   stat(search.dirs[d], &st) == 0 && S_ISDIR(st.st_mode) ? "" : " (missing)");
        }
        printf("\n");
    }
    for (size_t i = 0; i < shown.count; i++) free(shown.v[i]);
    free(shown.v);
    model_path_free(&search);
    if (bad) return cli_error("%zu model file%s could not be read (left out)", bad, bad == 1 ? "" : "s");
    return 0;
}

static const opt_command command = {
    "models",
    "usage: nsr models [--json]\n"
    "\n"
    "Lists the models that -m NAME finds, in search order: the folders of $NSR_MODELS (separated\n"
    "by ':'), then models/ beside the program (../models or ../share/nsr/models from its folder),\n"
    "then the install prefix's share/nsr/models. For each: its name (the file name without\n"
    ".nsr), task, image channels, parameters, training data and iterations (N+M: M steps from a\n"
    "model of N, nsr train --init), quality and file.\n"
    "\n",
    "Quality is what nsr train measured last on its validation folder: the mean Y-PSNR under\n"
    "the pt_ir convention (the NSR reference's), whole images, soft selection; nsr eval gives\n"
    "the full measurement. A file that is not a valid model is reported and left out (exit\n"
    "status 1).\n",
    specs, OPT_COUNT(specs), 0, run,
};

int cmd_models(int argc, char **argv) { return opt_main(&command, argc, argv); }
