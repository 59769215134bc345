/* tta.h - test-time augmentation inside src/run (private): nsr_model_infer_tiled hands an
 * inference with opts->tta to tta_infer, which runs it 8 times without. */
#ifndef NSR_RUN_TTA_H
#define NSR_RUN_TTA_H

#include "nsr.h"

/* nsr_model_infer_tiled with opts->tta: the mean of the 8 flipped/transposed restorations,
 * each mapped back (nsr.h, nsr_infer_options.tta). The passes run through
 * nsr_model_infer_tiled with tta = 0; progress goes from pass to pass up to 1. */
int tta_infer(const nsr_model *m, const nsr_image *in, nsr_image *out,
              const nsr_infer_options *opts, nsr_error *err);

#endif
