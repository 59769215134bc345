/* options.h - the one option parser of the nsr subcommands. A command describes its options in a
 * table (opt_spec) and its positional arguments by count; opt_parse reads argv against it and
 * prints the help from the same table. Accepted forms: -x VALUE, -xVALUE, --name VALUE,
 * --name=VALUE, flags -x and --name, "--" ending the options, "-" as a positional argument.
 * A value is taken as it is, even when it starts with '-' (--seed -1 is a range error, not an
 * unknown option). Every message is one line "nsr COMMAND: ..." on stderr. */
#ifndef NSR_OPTIONS_H
#define NSR_OPTIONS_H

#include <stdio.h>

typedef enum opt_kind {
    OPT_FLAG,   /* no value; giving it twice is harmless */
    OPT_INT,    /* a whole decimal number within [min, max] */
    OPT_DOUBLE, /* a finite number within [dmin, dmax] */
    OPT_STRING  /* any text; the command checks it (formats, protocols, file names) */
} opt_kind;

typedef struct opt_spec {
    char short_name;       /* 'j' for -j, or 0 */
    const char *long_name; /* "threads" for --threads, or NULL */
    opt_kind kind;
    int repeat;            /* may be given more than once (all values kept); else once only */
    long min, max;         /* OPT_INT range */
    double dmin, dmax;     /* OPT_DOUBLE range */
    const char *range;     /* what a bad value must be, for the message, instead of "min..max" */
    const char *arg;       /* the value's name in the help ("N"); NULL for flags */
    const char *help;      /* help text; '\n' starts a continuation line */
    int show_default;      /* the help ends with " (default DEF)" */
    long def;
    const char *section;   /* a heading printed above this option in the help, or NULL */
} opt_spec;

/* What the command line gave for one option. */
typedef struct opt_value {
    int count;          /* times given */
    const char *text;   /* the value as written (the last one for repeatable options) */
    long i;             /* OPT_INT */
    double d;           /* OPT_DOUBLE */
    const char **all;   /* repeatable options with a value: all count values in order */
} opt_value;

typedef struct opt_args opt_args;

/* A command's interface: its name, the help before and after the options, its options, how
 * many positional arguments it takes, and what runs once they are parsed. */
typedef struct opt_command {
    const char *name;
    const char *usage;  /* printed before the options (ends with a blank line) */
    const char *epilog; /* printed after them, or NULL */
    const opt_spec *specs;
    int nspecs;
    int max_args;       /* positional arguments beyond this many are an error */
    int (*run)(const opt_args *a); /* returns the exit status */
} opt_command;

struct opt_args {
    const opt_command *cmd;
    opt_value *v;       /* one per spec, in table order */
    const char **pos;   /* the positional arguments */
    int npos;
    int argc;           /* the command line as given (argv[0]: the command's name) */
    char **argv;
};

/* A command's whole life: parses argv[1..argc-1] (argv[0] is the command's name) and runs
 * cmd->run with the result. Returns its status, 0 after printing the help for -h/--help, or 2
 * after a usage error. */
int opt_main(const opt_command *cmd, int argc, char **argv);

/* The help: usage, every option from the table, epilog. */
void opt_print_help(const opt_command *cmd, FILE *out);

#define OPT_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

#endif
