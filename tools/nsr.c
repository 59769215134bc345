/* nsr.c - the command-line program: a table of subcommands over libnsr. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const cli_command commands[] = {
#define NSR_COMMAND(name, summary) {#name, summary, cmd_##name},
#include "commands.h"
#undef NSR_COMMAND
};

static void print_help(FILE *out) {
    fprintf(out,
            "nsr %s - image restoration with Neural Sparse Representation networks\n\n"
            "usage: nsr COMMAND [options]     (nsr COMMAND --help for its options)\n\n"
            "commands:\n",
            NSR_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nsr %s\n", NSR_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            cli_set_command(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "nsr: unknown command '%s' (try 'nsr --help')\n", argv[1]);
    return 2;
}
