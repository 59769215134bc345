/* cmd_info.c - `nsr info`: what a model file holds: the network, its parameter count, the task
 * it was trained for, its training provenance, any other metadata, and (--tensors) its tensors. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

enum { JSON, TENSORS };
static const opt_spec specs[] = {
    [JSON] = CLI_OPT_JSON("one JSON object (metadata as an object, in file order)"),
    [TENSORS] = {.long_name = "tensors", .help = "also the tensor table: name, shape, values"},
};

/* The metadata that the architecture lines already show. */
static int is_arch_key(const char *k) {
    for (size_t i = 0; i < nsr_arch_field_count(); i++)
        if (!strcmp(k, nsr_arch_field_at(i)->key)) return 1;
    return !strcmp(k, "nsr.architecture");
}
/* The task a trainer records beside the network (src/train/train.c). */
static int is_task_key(const char *k) {
    return !strcmp(k, "task") || !strcmp(k, "noise") || !strcmp(k, "jpeg_quality") ||
           !strcmp(k, "noise_max") || !strcmp(k, "jpeg_quality_max");
}

/* A metadata value: as JSON (non-finite floats have no JSON form: null) or as text. */
static void print_value(const nsr_model_file *f, const char *key, int json) {
    nsr_error err;
    int64_t i;
    double d;
    const char *s;
    switch (nsr_model_file_meta_type(f, key)) {
    case NSR_META_INT:
        nsr_model_file_get_int(f, key, &i, &err);
        printf("%" PRId64, i);
        break;
    case NSR_META_FLOAT:
        nsr_model_file_get_float(f, key, &d, &err);
        if (json && !isfinite(d)) fputs("null", stdout);
        else printf("%.17g", d);
        break;
    default:
        nsr_model_file_get_string(f, key, &s, &err);
        if (json) json_write_string(stdout, s);
        else printf("%s", s);
    }
}

static void print_text(const char *path, const nsr_model *m, const nsr_model_file *f, int tensors) {
    const nsr_arch *a = nsr_model_arch(m);
    char buf[40];
    printf("%s\n", path);
    printf("  architecture  wdsr_nsr: %d blocks, %d features, width x%d, ", a->blocks, a->features,
           a->width_mult);
    if (a->groups > 1 && a->regime == NSR_REGIME_FIXED_SIZE)
        printf("%d sparsity groups, %d cardinals, fixed size (hidden channels in groups, one "
               "selection per block)\n", a->groups, a->cardinals);
    else if (a->groups > 1)
        printf("%d sparsity groups, %d cardinals, selection %s\n", a->groups, a->cardinals,
               a->shared_selection ? "shared by a block's two convs" : "per conv");
    else
        printf("plain convolutions (1 group)\n");
    printf("  parameters    %s in %zu tensors\n", cli_grouped(nsr_model_param_count(m), buf, sizeof buf),
           nsr_model_file_tensor_count(f));
    if (a->scale > 1) printf("  restores      x%d super-resolution", a->scale);
    else printf("  restores      at the same size (denoising, JPEG artifacts)");
    printf(", %s images\n", a->channels == 1 ? "grey" : "RGB");
    const char *titles[] = {"task (as trained)", "training", "other metadata"};
    for (int group = 0; group < 3; group++) {
        int shown = 0;
        for (size_t i = 0; i < nsr_model_file_meta_count(f); i++) {
            const char *k = nsr_model_file_meta_key(f, i);
            int g = is_task_key(k) ? 0 : !strncmp(k, "train.", 6) ? 1 : 2;
            if (g != group || is_arch_key(k)) continue;
            if (!shown++) printf("  %s:\n", titles[group]);
            printf("    %-22s ", k);
            print_value(f, k, 0);
            putchar('\n');
        }
    }
    if (!tensors) return;
    printf("  tensors:\n");
    for (size_t i = 0; i < nsr_model_file_tensor_count(f); i++) {
        const nsr_model_tensor *t = nsr_model_file_tensor_at(f, i);
        char shape[64];
        int n = 0;
        for (int d = 0; d < t->ndim; d++) n += snprintf(shape + n, sizeof shape - (size_t)n, d ? "x%d" : "%d", t->dims[d]);
        printf("    %-28s %-16s %s\n", t->name, shape, cli_grouped(t->count, buf, sizeof buf));
    }
}

static void print_json(const char *path, const nsr_model *m, const nsr_model_file *f, int tensors) {
    const nsr_arch *a = nsr_model_arch(m);
    printf("{\"file\": ");
    json_write_string(stdout, path);
    printf(", \"architecture\": \"wdsr_nsr\"");
    for (size_t i = 0; i < nsr_arch_field_count(); i++) {
        const nsr_arch_field *field = nsr_arch_field_at(i);
        const int v = nsr_arch_get(a, i);
        if (field->is_flag) printf(", \"%s\": %s", field->name, v ? "true" : "false");
        else if (field->names) printf(", \"%s\": \"%s\"", field->name, field->names[v]);
        else printf(", \"%s\": %d", field->name, v);
    }
    printf(", \"params\": %zu, \"metadata\": {", nsr_model_param_count(m));
    int shown = 0;
    for (size_t i = 0; i < nsr_model_file_meta_count(f); i++) {
        const char *k = nsr_model_file_meta_key(f, i);
        if (is_arch_key(k)) continue;
        if (shown++) fputs(", ", stdout);
        json_write_string(stdout, k);
        printf(": ");
        print_value(f, k, 1);
    }
    printf("}");
    if (tensors) {
        printf(", \"tensors\": [");
        for (size_t i = 0; i < nsr_model_file_tensor_count(f); i++) {
            const nsr_model_tensor *t = nsr_model_file_tensor_at(f, i);
            printf("%s{\"name\": ", i ? ", " : "");
            json_write_string(stdout, t->name);
            printf(", \"shape\": [");
            for (int d = 0; d < t->ndim; d++) printf("%s%d", d ? ", " : "", t->dims[d]);
            printf("]}");
        }
        printf("]");
    }
    printf("}\n");
}

static int run(const opt_args *a) {
    if (!a->npos) return cli_usage_error("info", "which model file?");
    const char *path = a->pos[0];
    const int json = a->v[JSON].count, tensors = a->v[TENSORS].count;
    nsr_error err;
    nsr_model_file *f;
    nsr_model *m;
    if (nsr_model_file_load(&f, path, &err)) return cli_error("%s", err.message);
    if (nsr_model_from_file(&m, f, &err)) {
        nsr_model_file_free(f);
        return cli_error("%s: %s", path, err.message);
    }
    if (json) print_json(path, m, f, tensors);
    else print_text(path, m, f, tensors);
    nsr_model_free(m);
    nsr_model_file_free(f);
    return 0;
}

static const opt_command command = {
    "info",
    "usage: nsr info M.nsr [--json] [--tensors]\n"
    "\n"
    "Checks that M.nsr is a valid network (as nsr upscale would load it) and prints its\n"
    "architecture, parameter count, the task it was trained for and its training provenance\n"
    "when recorded, and any other metadata.\n"
    "\n",
    NULL, specs, OPT_COUNT(specs), 1, run,
};

int cmd_info(int argc, char **argv) { return opt_main(&command, argc, argv); }
