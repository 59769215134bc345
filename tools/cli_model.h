/* cli_model.h - what nsr upscale and nsr eval share about their restorer: --model (bicubic or a
 * model file), the default model found next to the program, and -v's description of it. */
#ifndef NSR_CLI_MODEL_H
#define NSR_CLI_MODEL_H

#include "nsr.h"

typedef struct cli_model {
    nsr_model *model;              /* NULL for bicubic */
    nsr_restorer *owned;           /* the model's restorer, or NULL */
    const nsr_restorer *restorer;  /* what restores: owned, or &nsr_bicubic_restorer */
} cli_model;

/* The default model of nsr upscale, models/nsr_x2.nsr, looked up relative to the program:
 * DIR/../models/ (a build folder in the checkout) and DIR/../share/nsr/models/ (an install under
 * a prefix, DIR being PREFIX/bin). Written into buf; NULL when neither file exists. */
const char *cli_default_model(char *buf, size_t size);

/* Opens spec, "bicubic" or a model file, restoring with opts (copied). On failure prints one
 * line (cli_error) and returns 1, with cm empty. */
int cli_model_open(cli_model *cm, const char *spec, const nsr_infer_options *opts);
void cli_model_close(cli_model *cm);

/* At -v, one line on what restores: the model (file, architecture, parameters) or bicubic,
 * the tiling and its tile size, the selection, TTA, the threads. */
void cli_model_describe(const cli_model *cm, const char *spec, const nsr_infer_options *opts);

#endif
