/* cli_jobs.h - the files of a restoring command: each input (-i, repeatable: image files, folders
 * of images, or "-" for standard input) paired with its output (-o: a file, a folder, or "-" for
 * standard output). */
#ifndef NSR_CLI_JOBS_H
#define NSR_CLI_JOBS_H

#include <stddef.h>

#include "nsr.h"

#define CLI_STDIO "-"

typedef struct cli_job {
    char *in;  /* an image file, CLI_STDIO, or NULL for the built-in test picture */
    char *out; /* the file to write, or CLI_STDIO */
    const char *same_out_as; /* an earlier job's input writing the same output, or NULL */
} cli_job;

typedef struct cli_jobs {
    cli_job *jobs;
    size_t count;
    int batch; /* several inputs or a folder: outputs go into the folder -o, an existing output is
                * skipped unless --overwrite, and a bad file does not stop the others */
    const char *folder; /* a batch's output folder (-o), made by cli_jobs_make_folder */
} cli_jobs;

/* Pairs inputs[0..ninputs) with their outputs under -o output. One image (a file, "-", or none:
 * the built-in picture) goes to output itself, or into it when output is a folder. Several, or
 * a folder's images (nsr_list_images), go into the folder output (cli_jobs_make_folder),
 * under their own names, the extension that of format when given (else the input's; a name
 * with no image extension gets ".png"). "-" must be alone; "-" as output takes one image.
 * Writes nothing. Prints one line and returns 2 for a usage error, 1 for another failure (a
 * folder that cannot be listed). */
int cli_jobs_plan(cli_jobs *j, const char *command, const char *const *inputs, int ninputs, const char *output,
                  nsr_format format);
void cli_jobs_free(cli_jobs *j);
/* Makes a batch's output folder when it is missing (its parent must exist); 1 after one line. */
int cli_jobs_make_folder(const cli_jobs *j);

/* Reads standard input whole and decodes the image in it. */
int cli_read_stdin(nsr_image *img, const nsr_read_options *opts, nsr_error *err);
/* Encodes img as format and writes it to standard output. */
int cli_write_stdout(const nsr_image *img, nsr_format format, const nsr_write_options *opts, nsr_error *err);

#endif
