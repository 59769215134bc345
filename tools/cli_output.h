/* cli_output.h - what every command that writes an image (convert, resize, degrade, upscale)
 * shares about its output: the checks of -f, -q and --depth against the file written, and the
 * warnings for what the format cannot hold. */
#ifndef NSR_CLI_OUTPUT_H
#define NSR_CLI_OUTPUT_H

#include "nsr.h"
#include "options.h"

/* Fills opts from -f (format), -q (quality) and --depth (depth); each may be NULL for a command
 * without the option. out_path: the file to write, or NULL when there is no single file (a
 * folder, stdout; -f then decides alone). Returns 0, or 2 after one usage line for a misuse:
 * an unknown -f name; -f contradicting OUT's extension (an extension nsr does not know leaves
 * the format to -f); -q with PNG output (lossless: there is no quality to set); --depth 16 with
 * JPEG or WebP output (they hold 8 bits). */
int cli_output_options(const char *cmd, const opt_value *format, const opt_value *quality,
                       const opt_value *depth, const char *out_path, nsr_write_options *opts);

/* nsr_image_write, after one warning line (cli_note) for each thing of img that the format
 * written drops: alpha (JPEG), samples of 16 bits (JPEG, WebP; --depth 8 asks for it, so no
 * warning then). Returns 0, or 1 after the error line. */
int cli_write_image(const nsr_image *img, const char *path, const nsr_write_options *opts);

#endif
