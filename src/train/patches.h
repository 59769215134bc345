/* patches.h - the training data inside libnsr (private): images held in memory as aligned HR/LR
 * pairs, batches of random patches that are a pure function of (seed, iteration), and a thread
 * that prepares the next batch while the current one is computed. */
#ifndef NSR_TRAIN_H
#define NSR_TRAIN_H

#include <pthread.h>

#include "nsr.h"

/* One training image: the RGB ground truth and, for super-resolution, its LR made once by
 * nsr_task_degrade (MATLAB bicubic on uint8 from the HR cropped to a multiple of s). At scale 1
 * lr is empty: the degradation is drawn afresh for every patch. */
typedef struct tr_pair {
    nsr_image hr, lr;
} tr_pair;

typedef struct tr_dataset {
    nsr_task task;
    int patch;      /* LR patch side */
    int channels;   /* 3: RGB (grey images replicated); 1: grey (RGB images to their MATLAB Y) */
    size_t count;   /* images kept */
    size_t total;   /* images listed */
    tr_pair *pairs;
} tr_dataset;

/* Called after each image is read (done of total); non-zero stops the loading. */
typedef int (*tr_load_callback)(void *ctx, size_t done, size_t total);

/* Reads every image of the folders, in folder order then name order, as `channels` planes (3 or
 * 1, the network's), and keeps those whose LR is at least patch + 4 on each side (a 2-pixel LR
 * border is never sampled). Returns 0, or 1 when cb stopped it (ds is then empty), or -1 with
 * err (also when no image is large enough). */
int tr_dataset_load(tr_dataset *ds, const char *const *dirs, int ndirs, const nsr_task *task,
                    int patch, int channels, tr_load_callback cb, void *ctx, nsr_error *err);
void tr_dataset_free(tr_dataset *ds);

/* The image as the network's `channels` planes: 3, grey replicated to RGB; 1, RGB to its
 * MATLAB Y (nsr_image_luma). Alpha and the ICC profile are dropped (the network sees colour
 * planes only). */
int tr_image_to_channels(nsr_image *img, int channels, nsr_error *err);

/* Where a sample came from: the image, the LR window's top-left corner, and the flips. */
enum { TR_VFLIP = 1, TR_HFLIP = 2, TR_TRANSPOSE = 4 };
typedef struct tr_origin {
    size_t image;
    int x, y;
    unsigned flips;
} tr_origin;

/* Sample i of batch `iteration`: lr (C, patch, patch) and hr (C, patch*s, patch*s), both in
 * 0..1 (the degraded lr of scale 1 may leave that range: noise is not clipped). origin may be
 * NULL. */
int tr_make_sample(const tr_dataset *ds, uint64_t seed, long iteration, int batch, int i,
                   float *lr, float *hr, tr_origin *origin, nsr_error *err);
/* Samples first .. first + count - 1 of the batch: lr (count, C, patch, patch), hr (count, C,
 * patch*s, patch*s), C = ds->channels; a rank of a distributed run makes its part of every
 * batch so. */
int tr_make_batch(const tr_dataset *ds, uint64_t seed, long iteration, int batch, int first,
                  int count, float *lr, float *hr, nsr_error *err);

/* Batches first .. end-1 (their samples first_sample .. first_sample + count - 1) made in
 * order by a thread, two slots ahead of the consumer. */
typedef struct tr_loader {
    const tr_dataset *ds;
    uint64_t seed;
    int batch;
    int first, count;       /* the samples of each batch it makes */
    long next, end;         /* the next batch the thread makes; one past the last */
    float *lr[2], *hr[2];   /* slot t % 2 holds batch t */
    long held[2];           /* the batch in each slot, or -1 while it is free */
    int stop, failed;
    nsr_error err;          /* why the thread failed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;
} tr_loader;

int tr_loader_start(tr_loader *ld, const tr_dataset *ds, uint64_t seed, int batch,
                    int first_sample, int count, long first, long end, nsr_error *err);
/* Waits for batch t (the next one not yet released) and points lr and hr at it. */
int tr_loader_get(tr_loader *ld, long t, const float **lr, const float **hr, nsr_error *err);
/* Gives batch t's slot back to the thread. */
void tr_loader_release(tr_loader *ld, long t);
/* Stops and joins the thread and frees the slots; safe on a loader that failed to start. */
void tr_loader_stop(tr_loader *ld);

#endif
