#include "cli.h"
#include "commands.h"
int cmd_convert(int argc, char **argv) { (void)argc; (void)argv; return cli_error("not yet"); }
