/* progress.h - the one progress display of the nsr program's long jobs (nsr upscale, nsr eval,
 * nsr train), on stderr, and the -v / --quiet levels of detail.
 *
 * A job is count items (files); an item's work is stages ("restoring", then "encoding"), each
 * a share of it; the library's progress callback moves the current stage. Shown as:
 *  - on a terminal, one line redrawn in place (at most ten times a second):
 *        " 45.00% 2/5 photo.png: restoring 60%, 0:00:07 left"
 *  - when stderr is not a terminal, the same text as plain lines: one each time the item
 *    passes a tenth of its work, and one at each later stage's start ("encoding"), so at
 *    least one per item.
 * The percentage leading the line is the job's (all items), which GUIs read; the ETA is the
 * job's time so far scaled to its rest. Nothing at PROGRESS_QUIET. Single-threaded: the
 * program calls it from its main thread (the library calls back on the caller's thread). */
#ifndef NSR_PROGRESS_H
#define NSR_PROGRESS_H

#include <stddef.h>

#include "nsr.h"
#include "options.h"

typedef enum progress_level {
    PROGRESS_QUIET = -1,  /* --quiet: errors and warnings only */
    PROGRESS_NORMAL = 0,  /* progress and the closing lines */
    PROGRESS_VERBOSE = 1  /* -v: and the details (model, tiling, tile size, threads, inputs) */
} progress_level;

/* -v and --quiet as the options of a command (opt_spec initialisers), and the level they give:
 * 0, or the usage error's status when both are given (cmd names the command). */
#define PROGRESS_OPT_VERBOSE                                                                       \
    {.short_name = 'v', .long_name = "verbose",                                                    \
     .help = "more detail: model, tiling, tile size, threads, each input"}
#define PROGRESS_OPT_QUIET                                                                         \
    {.long_name = "quiet", .help = "no progress, details or closing lines: only errors and warnings"}
int progress_set_level(const char *cmd, const opt_value *verbose, const opt_value *quiet);
/* What the help of a command with a progress display says about it. */
#define PROGRESS_HELP                                                                              \
    "Progress goes to stderr: on a terminal one line updated in place, otherwise a line per\n"     \
    "tenth of each file's work (\"NN.NN% FILE: restoring, h:mm:ss left\"; the percentage is the\n" \
    "whole job's), then a closing line; --quiet leaves only errors and warnings.\n"
progress_level progress_get_level(void);

/* "nsr CMD: ..." on stderr: a detail only at PROGRESS_VERBOSE, a closing line unless quiet. */
void progress_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_closing(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* At -v: "LABEL: WxH grey|RGB[ + alpha], N-bit". */
void progress_input(const char *label, const nsr_image *img);
/* The closing line of an image written to path: "wrote PATH: WxH, N bytes, T s" (T: the
 * item's seconds so far, reading to writing). */
void progress_wrote(const char *path, const nsr_image *img);

/* A job of count items begins (its clock starts); then each item: progress_item, its stages
 * (progress_stage, progress_update), progress_item_done. */
void progress_job(size_t count);
/* Item index (0-based) begins, named label (copied), at the stage "reading" (no share of the
 * work); its clock starts (progress_item_seconds). */
void progress_item(size_t index, const char *label);
/* From here the item's work is `what` (a constant string), the share from..to (0..1) of it. */
void progress_stage(const char *what, double from, double to);
/* The fraction (0..1) of the current stage done; a fraction below the last is ignored. */
void progress_update(double fraction);
/* An nsr_infer_options progress callback: progress_update (ctx unused). */
void progress_library(void *ctx, double fraction);
/* The item is all done: its last line (100% of it) when not drawn yet; the terminal line is
 * cleared, for the closing line or the table row that follows. */
void progress_item_done(void);
/* Seconds since the current item, or the job, began. */
double progress_item_seconds(void);
double progress_job_seconds(void);

/* The terminal line, for nsr train's own text: drawn as " NN.NN% text" when stderr is a
 * terminal (and not quiet); nothing otherwise. progress_end keeps the line (a newline after
 * it), progress_clear erases it; both do nothing when none is shown. cli_error and cli_note
 * clear it before their message. */
void progress_draw(double fraction, const char *text);
void progress_end(void);
void progress_clear(void);

/* seconds as h:mm:ss into buf; returns buf. */
const char *progress_duration(char *buf, size_t size, double seconds);

#endif
