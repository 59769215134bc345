/* fuzz_cli.c - libFuzzer harness: the option parser of the nsr subcommands (tools/options.c) on
 * every command's own option table. The first byte picks the command (in the order of
 * tools/commands.h); the rest is split into argv words at NUL and newline bytes (at most
 * MAX_WORDS; empty words are kept, they are valid command-line words).
 *
 * How the real tables are reached without running the commands: the harness calls the real
 * entry points cmd_NAME(argc, argv), linked from the tools' objects (build-fuzz/libtools.a,
 * nsr.c left out), and the link wraps opt_main (-Wl,--wrap=opt_main): every call a command makes
 * to opt_main lands in __wrap_opt_main below, which runs the real parser (__real_opt_main) on a
 * copy of the command whose run is check_args. So the tables are exactly those nsr uses,
 * including the ones nsr new and nsr train build at run time from the architecture's fields, no
 * tools/ file changes for the harness, and nothing a command does after parsing (reading images,
 * writing files, training) can run. Including cmd_*.c here instead would not compile: their enum
 * constants (SEED, THREADS, JSON, ...) clash.
 *
 * Checked per input: opt_main returns 0 (help, or a parse that reached run) or 2 (usage error);
 * a usage error prints exactly one line "nsr NAME: ... (try 'nsr NAME --help')" on stderr and
 * anything else prints nothing there; what reaches run is consistent with the table (positional
 * count, once-only options, ranges, choices, the values of repeatable options). stderr and stdout
 * are swapped for a memory stream and /dev/null around the parse only, so the sanitizers' and
 * libFuzzer's own reports (written to fd 2, or through the FILE libFuzzer kept) still show. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "../tools/cli.h"
#include "../tools/commands.h"

/* Far more words than any real command line needs; bounds the work per input. */
#define MAX_WORDS 64

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
#define NSR_COMMAND(name, summary) {#name, cmd_##name},
#include "../tools/commands.h"
#undef NSR_COMMAND
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static FILE *devnull, *real_stderr;
static int reached_run;

/* The stand-in for every command's run: checks what the parser hands over, does nothing else. */
static int check_args(const opt_args *a) {
    const opt_command *cmd = a->cmd;
    /* a failed check must reach the terminal, not the captured messages */
    FILE *captured = stderr;
    stderr = real_stderr;
    reached_run = 1;
    FUZZ_ASSERT(a->npos >= 0 && a->npos <= cmd->max_args, "%d positional arguments, at most %d", a->npos,
                cmd->max_args);
    for (int k = 0; k < a->npos; k++) FUZZ_ASSERT(a->pos[k], "positional argument %d is NULL", k);
    for (int k = 0; k < cmd->nspecs; k++) {
        const opt_spec *s = &cmd->specs[k];
        const opt_value *v = &a->v[k];
        FUZZ_ASSERT(v->count >= 0 && v->count < a->argc, "option %d given %d times", k, v->count);
        if (!v->count) continue;
        if (!s->repeat && s->kind != OPT_FLAG) FUZZ_ASSERT(v->count == 1, "once-only option %d given %d times", k, v->count);
        if (s->kind == OPT_FLAG) continue;
        FUZZ_ASSERT(v->text, "option %d given without a value", k);
        if (s->kind == OPT_INT)
            FUZZ_ASSERT(v->i >= s->min && v->i <= s->max, "option %d: %ld outside %ld..%ld", k, v->i, s->min, s->max);
        else if (s->kind == OPT_DOUBLE)
            FUZZ_ASSERT(isfinite(v->d) && v->d >= s->dmin && v->d <= s->dmax, "option %d: %g outside %g..%g", k,
                        v->d, s->dmin, s->dmax);
        else if (s->kind == OPT_CHOICE) {
            long n = 0;
            while (s->choices[n]) n++;
            FUZZ_ASSERT(v->i >= 0 && v->i < n && !strcmp(s->choices[v->i], v->text), "option %d: choice %ld of %ld",
                        k, v->i, n);
        }
        if (s->repeat) {
            FUZZ_ASSERT(v->all, "repeatable option %d keeps no values", k);
            for (int c = 0; c < v->count; c++) FUZZ_ASSERT(v->all[c], "value %d of option %d is NULL", c, k);
            FUZZ_ASSERT(v->all[v->count - 1] == v->text, "option %d: the last value is not the text", k);
        }
    }
    stderr = captured;
    return 0;
}

int __real_opt_main(const opt_command *cmd, int argc, char **argv);

/* What every cmd_NAME calls instead of opt_main (the link's --wrap): the real parser, with
 * check_args in place of the command's work. */
int __wrap_opt_main(const opt_command *cmd, int argc, char **argv) {
    opt_command parse_only = *cmd;
    parse_only.run = check_args;
    return __real_opt_main(&parse_only, argc, argv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_one_thread();
    devnull = fopen("/dev/null", "w");
    FUZZ_ASSERT(devnull, "cannot open /dev/null");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int c = data[0] % NCOMMANDS;
    const char *name = commands[c].name;
    /* the words, NUL-terminated in a copy of the input; argv exactly as long as needed so that
     * the sanitizer sees any read past its end */
    char *text = malloc(size);
    FUZZ_ASSERT(text, "out of memory");
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    /* argv[0], then the words: the first starts the text, each separator starts one more */
    int argc = 1 + (size > 1);
    for (size_t i = 0; i + 1 < size && argc < MAX_WORDS + 1; i++)
        if (text[i] == 0 || text[i] == '\n') argc++;
    char **argv = malloc((size_t)(argc + 1) * sizeof *argv);
    FUZZ_ASSERT(argv, "out of memory");
    char cmd_name[16];
    snprintf(cmd_name, sizeof cmd_name, "%s", name);
    argv[0] = cmd_name;
    int n = 1;
    if (size > 1) argv[n++] = text;
    for (size_t i = 0; i + 1 < size && n < argc; i++)
        if (text[i] == 0 || text[i] == '\n') {
            text[i] = 0;
            argv[n++] = text + i + 1;
        }
    argv[argc] = NULL;
    /* the words past MAX_WORDS stay in the last one: cut them off there */
    for (char *p = argv[argc - 1]; *p; p++)
        if (*p == '\n') *p = 0;

    char *err = NULL;
    size_t err_len = 0;
    FILE *err_stream = open_memstream(&err, &err_len);
    FUZZ_ASSERT(err_stream, "out of memory");
    FILE *saved_out = stdout;
    real_stderr = stderr;
    stderr = err_stream;
    stdout = devnull;
    reached_run = 0;
    cli_set_command(name);
    const int status = commands[c].run(argc, argv);
    stderr = real_stderr;
    stdout = saved_out;
    FUZZ_ASSERT(fclose(err_stream) == 0, "out of memory");

    FUZZ_ASSERT(status == 0 || status == 2, "nsr %s: status %d", name, status);
    if (status == 2) {
        char head[32], tail[48];
        snprintf(head, sizeof head, "nsr %s: ", name);
        snprintf(tail, sizeof tail, " (try 'nsr %s --help')\n", name);
        const size_t hn = strlen(head), tn = strlen(tail);
        FUZZ_ASSERT(!reached_run, "nsr %s: status 2 after run", name);
        FUZZ_ASSERT(err_len > hn + tn && !memcmp(err, head, hn) && !memcmp(err + err_len - tn, tail, tn),
                    "nsr %s: the usage error is not one message line: '%s'", name, err);
        FUZZ_ASSERT(!memchr(err, '\n', err_len - 1) && strlen(err) == err_len,
                    "nsr %s: the usage error is more than one line: '%s'", name, err);
    } else {
        FUZZ_ASSERT(err_len == 0, "nsr %s: status 0 with a message: '%s'", name, err);
    }
    free(err);
    free(argv);
    free(text);
    return 0;
}
