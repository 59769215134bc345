/* cli_model.h - the restorer of the restoring commands and nsr eval: -m (bicubic, a model file
 * or a model's name on the search path), what a model file says of itself, the checks and
 * warnings before a model runs, and -v's description of it. */
#ifndef NSR_CLI_MODEL_H
#define NSR_CLI_MODEL_H

#include <stdint.h>

#include "nsr.h"

typedef struct cli_model {
    nsr_model *model;              /* NULL for bicubic */
    nsr_restorer *owned;           /* the model's restorer, or NULL */
    const nsr_restorer *restorer;  /* what restores: owned, or &nsr_bicubic_restorer */
    char label[256];               /* its name in messages: the model's name, or the file's */
    char task[16];                 /* its "task" metadata (sr, denoise, jpeg), "" when none */
    int trained;                   /* 1 when its metadata records training steps */
} cli_model;

/* What a model file records beside the network (nsr train writes it; nsr new only the seed).
 * The strings point into the file. */
typedef struct cli_model_meta {
    const char *task;       /* "sr", "denoise" or "jpeg"; NULL when not recorded */
    int64_t iterations;     /* training steps done ("train.iteration"); 0 when none recorded */
    int64_t init_iterations; /* the steps behind the model its run began from (--init), 0 */
    const char *data;       /* the training folders, ':'-separated ("train.data"), or NULL */
    const char *val;        /* the validation folder ("train.val"), or NULL */
    double val_psnr;        /* mean Y-PSNR (pt_ir convention, whole image, soft selection) on
                             * val at the last validation ("train.val_psnr"); NAN when none */
} cli_model_meta;
void cli_model_meta_read(const nsr_model_file *f, cli_model_meta *meta);

/* Loads a model file and its network; messages name the path. */
int cli_model_load(const char *path, nsr_model_file **f, nsr_model **m, nsr_error *err);

/* Opens spec: "bicubic"; a model file (a path with a '/', or a file that exists); else the name
 * of a model on the search path (model_path.h; "NAME" or "NAME.nsr"). Restores with opts
 * (copied). On failure prints one line (cli_error) and returns 1, with cm empty. */
int cli_model_open(cli_model *cm, const char *spec, const nsr_infer_options *opts);
/* Opens the model file path, named label in messages. */
int cli_model_open_file(cli_model *cm, const char *path, const char *label, const nsr_infer_options *opts);
void cli_model_close(cli_model *cm);

/* At -v, one line on what restores: the model (file, architecture, parameters) or bicubic,
 * the tiling and its tile size, the selection, TTA, the threads. */
void cli_model_describe(const cli_model *cm, const char *spec, const nsr_infer_options *opts);

/* Refuses (one line, returns 1) a model made for something else than the task of command
 * (upscale: x scale super-resolution, scale 0 taking the model's; denoise; dejpeg), saying what
 * the model is for and what to give instead. Bicubic only upscales. */
int cli_model_check_use(const cli_model *cm, const char *command, nsr_task_kind kind, int scale);

/* One line each, on stderr, for a model about to run: untrained (no training recorded: its
 * output is of no use); --hard on a model not trained for hard selection, or without groups. */
void cli_model_warn(const cli_model *cm, const nsr_infer_options *opts);

#endif
