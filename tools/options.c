/* options.c - the option parser of the nsr subcommands (options.h). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

/* "-x" or "--name" as the user would write it, for messages. */
static const char *spelling(const opt_spec *s, int use_long, char *buf, size_t size) {
    if (use_long || !s->short_name) snprintf(buf, size, "--%s", s->long_name);
    else snprintf(buf, size, "-%c", s->short_name);
    return buf;
}

/* Checks and stores one occurrence of option s with value text (NULL for a flag). */
static int take(const opt_command *cmd, int index, const char *name, const char *text, int argc,
                opt_args *a) {
    const opt_spec *s = &cmd->specs[index];
    opt_value *v = &a->v[index];
    if (v->count && !s->repeat && s->kind != OPT_FLAG)
        return cli_usage_error(cmd->name, "%s given twice ('%s' and '%s')", name, v->text, text);
    char range[64];
    if (s->kind == OPT_INT) {
        snprintf(range, sizeof range, "%ld..%ld", s->min, s->max);
        if (cli_parse_int(text, s->min, s->max, &v->i))
            return cli_usage_error(cmd->name, "%s must be %s, not '%s'", name, s->range ? s->range : range, text);
    } else if (s->kind == OPT_DOUBLE) {
        snprintf(range, sizeof range, "%g..%g", s->dmin, s->dmax);
        if (cli_parse_double(text, s->dmin, s->dmax, &v->d))
            return cli_usage_error(cmd->name, "%s must be %s, not '%s'", name, s->range ? s->range : range, text);
    }
    if (s->repeat && s->kind != OPT_FLAG) {
        if (!v->all && !(v->all = calloc((size_t)argc, sizeof *v->all)))
            return cli_error("out of memory");
        v->all[v->count] = text;
    }
    v->text = text;
    v->count++;
    return -1;
}

/* The option of argv[*i], with its value (the rest of the word, or the next word). */
static int one_option(const opt_command *cmd, int argc, char **argv, int *i, opt_args *a) {
    const char *arg = argv[*i], *attached = NULL;
    int index = -1, is_long = arg[1] == '-';
    char name[96];
    if (is_long) {
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        for (int k = 0; k < cmd->nspecs && index < 0; k++)
            if (cmd->specs[k].long_name && strlen(cmd->specs[k].long_name) == len &&
                !strncmp(cmd->specs[k].long_name, arg + 2, len))
                index = k;
        if (eq) attached = eq + 1;
    } else {
        for (int k = 0; k < cmd->nspecs && index < 0; k++)
            if (cmd->specs[k].short_name == arg[1]) index = k;
        if (arg[2]) attached = arg + 2;
    }
    if (index < 0) return cli_usage_error(cmd->name, "unknown option '%s'", arg);
    const opt_spec *s = &cmd->specs[index];
    spelling(s, is_long, name, sizeof name);
    if (s->kind == OPT_FLAG) {
        if (attached) return cli_usage_error(cmd->name, "%s takes no value", name);
        return take(cmd, index, name, NULL, argc, a);
    }
    if (!attached) {
        if (*i + 1 >= argc) return cli_usage_error(cmd->name, "%s needs a value (%s)", name, s->arg);
        attached = argv[++*i];
    }
    return take(cmd, index, name, attached, argc, a);
}

/* Fills a from the command line; -1 to go on, else the exit status. */
static int parse(const opt_command *cmd, int argc, char **argv, opt_args *a) {
    if (!a->v || !a->pos) return cli_error("out of memory");
    int options_done = 0, status = -1;
    for (int i = 1; i < argc && status < 0; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || !arg[1]) {
            if (a->npos == cmd->max_args) status = cli_usage_error(cmd->name, "unexpected argument '%s'", arg);
            else a->pos[a->npos++] = arg;
        } else if (!strcmp(arg, "--")) {
            options_done = 1;
        } else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            opt_print_help(cmd, stdout);
            status = 0;
        } else {
            status = one_option(cmd, argc, argv, &i, a);
        }
    }
    return status;
}

int opt_main(const opt_command *cmd, int argc, char **argv) {
    opt_args a = {cmd, calloc((size_t)cmd->nspecs + 1, sizeof *a.v), calloc((size_t)argc, sizeof *a.pos),
                  0, argc, argv};
    int status = parse(cmd, argc, argv, &a);
    if (status < 0) status = cmd->run(&a);
    for (int k = 0; a.v && k < cmd->nspecs; k++) free(a.v[k].all);
    free(a.v);
    free(a.pos);
    return status;
}

/* "  -s, --scale S" */
static int left_column(const opt_spec *s, char *buf, size_t size) {
    int n;
    if (s->short_name && s->long_name) n = snprintf(buf, size, "  -%c, --%s", s->short_name, s->long_name);
    else if (s->short_name) n = snprintf(buf, size, "  -%c", s->short_name);
    else n = snprintf(buf, size, "      --%s", s->long_name);
    if (s->arg) n += snprintf(buf + n, size - (size_t)n, " %s", s->arg);
    return n;
}

void opt_print_help(const opt_command *cmd, FILE *out) {
    char left[96];
    int width = 18;
    for (int k = 0; k < cmd->nspecs; k++) {
        int n = left_column(&cmd->specs[k], left, sizeof left) + 2;
        if (n > width) width = n;
    }
    fputs(cmd->usage, out);
    for (int k = 0; k < cmd->nspecs; k++) {
        const opt_spec *s = &cmd->specs[k];
        if (s->section) fprintf(out, "%s\n", s->section);
        left_column(s, left, sizeof left);
        fprintf(out, "%-*s", width, left);
        for (const char *h = s->help; *h; h++) {
            fputc(*h, out);
            if (*h == '\n') fprintf(out, "%*s", width, "");
        }
        if (s->show_default) fprintf(out, " (default %ld)", s->def);
        fputc('\n', out);
    }
    fprintf(out, "%-*s%s\n", width, "  -h, --help", "show this help");
    if (cmd->epilog) fprintf(out, "\n%s", cmd->epilog);
}
