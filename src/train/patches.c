/* patches.c - training data (NSR.md section 4): image folders read once into memory as aligned
 * HR/LR pairs, random patches with flips and transposition, and a thread that makes the next
 * batch while the current one is computed.
 *
 * Every random choice of sample i of batch t is drawn from the counter-based nsr_rng with the
 * stream t * batch + i, so a batch is a pure function of (seed, t): which thread makes it, and
 * whether the run was interrupted and resumed before it, changes nothing. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "train/patches.h"

/* Counters of a sample's stream, one per choice. */
enum { DRAW_IMAGE, DRAW_X, DRAW_Y, DRAW_FLIPS, DRAW_DEGRADE, DRAW_LEVEL };

/* No patch corner within this many LR pixels of an image edge (the reference's crop). */
#define BORDER 2

int tr_image_to_channels(nsr_image *img, int channels, nsr_error *err) {
    free(img->alpha);
    free(img->icc);
    free(img->exif);
    img->alpha = NULL;
    img->icc = NULL;
    img->icc_size = 0;
    img->exif = NULL;
    img->exif_size = 0;
    if (img->channels == channels) return 0;
    if (channels == 1) {
        nsr_image y;
        if (nsr_image_luma(&y, img, err)) return -1;
        nsr_image_free(img);
        *img = y;
        return 0;
    }
    const size_t n = (size_t)img->width * img->height;
    float *rgb = realloc(img->data, 3 * n * sizeof *rgb);
    if (!rgb) return nsr_fail(err, "out of memory for a %dx%d image", img->width, img->height);
    memcpy(rgb + n, rgb, n * sizeof *rgb);
    memcpy(rgb + 2 * n, rgb, n * sizeof *rgb);
    img->data = rgb;
    img->channels = 3;
    return 0;
}

void tr_dataset_free(tr_dataset *ds) {
    for (size_t i = 0; i < ds->count; i++) {
        nsr_image_free(&ds->pairs[i].hr);
        nsr_image_free(&ds->pairs[i].lr);
    }
    free(ds->pairs);
    memset(ds, 0, sizeof *ds);
}

/* Reads one image into pair as the network's planes with its LR; *kept is 0 when it is too small for a patch. */
static int load_pair(tr_pair *pair, int *kept, const char *path, const nsr_task *task, int patch,
                     int channels, nsr_error *err) {
    const int s = task->kind == NSR_TASK_SR ? task->scale : 1, need = patch + 2 * BORDER;
    memset(pair, 0, sizeof *pair);
    *kept = 0;
    if (nsr_image_read(&pair->hr, path, NULL, err)) return -1;
    if (pair->hr.width / s < need || pair->hr.height / s < need) {
        nsr_image_free(&pair->hr);
        return 0;
    }
    nsr_error why;
    if (tr_image_to_channels(&pair->hr, channels, &why) ||
        (s > 1 && nsr_task_degrade(&pair->lr, &pair->hr, task, 0, &why))) {
        nsr_image_free(&pair->hr);
        nsr_image_free(&pair->lr);
        return nsr_fail(err, "%s: %s", path, why.message);
    }
    *kept = 1;
    return 0;
}

int tr_dataset_load(tr_dataset *ds, const char *const *dirs, int ndirs, const nsr_task *task,
                    int patch, int channels, tr_load_callback cb, void *ctx, nsr_error *err) {
    memset(ds, 0, sizeof *ds);
    ds->task = *task;
    ds->patch = patch;
    ds->channels = channels;
    if (channels != 1 && channels != 3) return nsr_fail(err, "%d image planes (1 or 3)", channels);
    if (ndirs < 1) return nsr_fail(err, "no training data folder given");
    if (patch < 1) return nsr_fail(err, "patch size %d must be positive", patch);
    nsr_path_list *lists = calloc((size_t)ndirs, sizeof *lists);
    if (!lists) return nsr_fail(err, "out of memory");
    int rc = -1;
    for (int d = 0; d < ndirs; d++) {
        if (nsr_list_images(&lists[d], dirs[d], err)) goto done;
        ds->total += lists[d].count;
    }
    ds->pairs = calloc(ds->total, sizeof *ds->pairs);
    if (!ds->pairs) {
        nsr_fail(err, "out of memory for %zu images", ds->total);
        goto done;
    }
    size_t done = 0;
    for (int d = 0; d < ndirs; d++) {
        for (size_t i = 0; i < lists[d].count; i++) {
            int kept;
            if (load_pair(&ds->pairs[ds->count], &kept, lists[d].paths[i], task, patch, channels, err))
                goto done;
            ds->count += (size_t)kept;
            if (cb && cb(ctx, ++done, ds->total)) {
                rc = 1;
                goto done;
            }
        }
    }
    if (ds->count == 0) {
        const int s = task->kind == NSR_TASK_SR ? task->scale : 1;
        const int side = (patch + 2 * BORDER) * s;
        nsr_fail(err, "none of the %zu training images is large enough for %dx%d patches%s "
                 "(at least %dx%d pixels)", ds->total, patch, patch, s > 1 ? " in LR" : "",
                 side, side);
        goto done;
    }
    rc = 0;
done:
    for (int d = 0; d < ndirs; d++) nsr_path_list_free(&lists[d]);
    free(lists);
    if (rc) tr_dataset_free(ds);
    return rc;
}

/* Copies the size x size window at (x0, y0) of img's planes into dst (C, size, size), flipped
 * vertically, then horizontally, then transposed as flips says. */
static void copy_patch(float *dst, const nsr_image *img, int x0, int y0, int size, unsigned flips) {
    for (int c = 0; c < img->channels; c++) {
        const float *src = nsr_image_plane(img, c) + (size_t)y0 * img->width + x0;
        float *out = dst + (size_t)c * size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int u = flips & TR_TRANSPOSE ? x : y, v = flips & TR_TRANSPOSE ? y : x;
                if (flips & TR_VFLIP) u = size - 1 - u;
                if (flips & TR_HFLIP) v = size - 1 - v;
                out[(size_t)y * size + x] = src[(size_t)u * img->width + v];
            }
        }
    }
}

/* A float buffer seen as an image of the dataset's planes, for the degradations (nothing to
 * free). */
static nsr_image view_patch(float *data, int size, int channels) {
    nsr_image img;
    memset(&img, 0, sizeof img);
    img.width = img.height = size;
    img.channels = channels;
    img.bit_depth = 8;
    img.data = data;
    return img;
}

int tr_make_sample(const tr_dataset *ds, uint64_t seed, long iteration, int batch, int i,
                   float *lr, float *hr, tr_origin *origin, nsr_error *err) {
    const uint64_t stream = (uint64_t)iteration * (uint64_t)batch + (uint64_t)i;
    const int p = ds->patch, sr = ds->task.kind == NSR_TASK_SR, s = sr ? ds->task.scale : 1;
    /* The modulo bias of 64-bit draws over a few thousand choices is below 1e-15. */
    tr_origin o;
    o.image = (size_t)(nsr_rng_u64(seed, stream, DRAW_IMAGE) % ds->count);
    const tr_pair *pair = &ds->pairs[o.image];
    const nsr_image *small = sr ? &pair->lr : &pair->hr;
    o.x = BORDER + (int)(nsr_rng_u64(seed, stream, DRAW_X) % (uint64_t)(small->width - p - 2 * BORDER + 1));
    o.y = BORDER + (int)(nsr_rng_u64(seed, stream, DRAW_Y) % (uint64_t)(small->height - p - 2 * BORDER + 1));
    o.flips = (unsigned)(nsr_rng_u64(seed, stream, DRAW_FLIPS) & 7); /* three fair coins */
    if (origin) *origin = o;
    copy_patch(hr, &pair->hr, o.x * s, o.y * s, p * s, o.flips);
    if (sr) {
        copy_patch(lr, &pair->lr, o.x, o.y, p, o.flips);
        return 0;
    }
    const uint64_t degrade_seed = nsr_rng_u64(seed, stream, DRAW_DEGRADE);
    /* a blind task's level for this sample (a fixed level draws nothing: its streams stay
     * those of earlier builds) */
    const nsr_task *task = &ds->task;
    if (ds->task.kind == NSR_TASK_DENOISE) {
        double sigma = task->noise_sigma;
        if (task->noise_sigma_max > sigma)
            sigma += (task->noise_sigma_max - sigma) * nsr_rng_uniform(seed, stream, DRAW_LEVEL);
        /* fresh noise for every sample, not clipped */
        memcpy(lr, hr, (size_t)ds->channels * p * p * sizeof *lr);
        nsr_image noisy = view_patch(lr, p, ds->channels);
        nsr_add_gaussian_noise(&noisy, sigma, degrade_seed);
        return 0;
    }
    int quality = task->jpeg_quality;
    if (task->jpeg_quality_max > quality)
        quality += (int)(nsr_rng_u64(seed, stream, DRAW_LEVEL) %
                         (uint64_t)(task->jpeg_quality_max - quality + 1));
    /* JPEG: the patch itself is round-tripped, so its 8x8 grid starts at the patch corner */
    nsr_image clean = view_patch(hr, p, ds->channels), coded;
    if (nsr_jpeg_degrade(&coded, &clean, quality, err)) return -1;
    memcpy(lr, coded.data, (size_t)ds->channels * p * p * sizeof *lr);
    nsr_image_free(&coded);
    return 0;
}

int tr_make_batch(const tr_dataset *ds, uint64_t seed, long iteration, int batch, int first,
                  int count, float *lr, float *hr, nsr_error *err) {
    const int s = ds->task.kind == NSR_TASK_SR ? ds->task.scale : 1;
    const size_t lr_size = (size_t)ds->channels * ds->patch * ds->patch, hr_size = lr_size * s * s;
    for (int i = 0; i < count; i++)
        if (tr_make_sample(ds, seed, iteration, batch, first + i, lr + i * lr_size,
                           hr + i * hr_size, NULL, err))
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- the loader thread */

static void *loader_main(void *arg) {
    tr_loader *ld = arg;
    /* Making patches is light; the cores belong to the step being computed meanwhile. */
    omp_set_num_threads(1);
    pthread_mutex_lock(&ld->mu);
    while (!ld->stop && ld->next < ld->end) {
        const long t = ld->next;
        const int slot = (int)(t % 2);
        if (ld->held[slot] != -1) {
            pthread_cond_wait(&ld->cv, &ld->mu);
            continue;
        }
        pthread_mutex_unlock(&ld->mu);
        nsr_error e;
        int rc = tr_make_batch(ld->ds, ld->seed, t, ld->batch, ld->first, ld->count, ld->lr[slot],
                               ld->hr[slot], &e);
        pthread_mutex_lock(&ld->mu);
        if (rc) {
            ld->failed = 1;
            ld->err = e;
        } else {
            ld->held[slot] = t;
            ld->next = t + 1;
        }
        pthread_cond_broadcast(&ld->cv);
        if (rc) break;
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

int tr_loader_start(tr_loader *ld, const tr_dataset *ds, uint64_t seed, int batch,
                    int first_sample, int count, long first, long end, nsr_error *err) {
    memset(ld, 0, sizeof *ld);
    ld->ds = ds;
    ld->seed = seed;
    ld->batch = batch;
    ld->first = first_sample;
    ld->count = count;
    ld->next = first;
    ld->end = end;
    ld->held[0] = ld->held[1] = -1;
    const int s = ds->task.kind == NSR_TASK_SR ? ds->task.scale : 1;
    const size_t lr_size = (size_t)count * ds->channels * ds->patch * ds->patch;
    for (int i = 0; i < 2; i++) {
        ld->lr[i] = malloc(lr_size * sizeof(float));
        ld->hr[i] = malloc(lr_size * s * s * sizeof(float));
        if (!ld->lr[i] || !ld->hr[i]) {
            tr_loader_stop(ld);
            return nsr_fail(err, "out of memory for batches of %d patches", count);
        }
    }
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv, NULL);
    if (pthread_create(&ld->thread, NULL, loader_main, ld)) {
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv);
        tr_loader_stop(ld);
        return nsr_fail(err, "cannot start the data loading thread");
    }
    ld->started = 1;
    return 0;
}

int tr_loader_get(tr_loader *ld, long t, const float **lr, const float **hr, nsr_error *err) {
    if (t < 0 || t >= ld->end) return nsr_fail(err, "batch %ld is outside the loader's range", t);
    const int slot = (int)(t % 2);
    pthread_mutex_lock(&ld->mu);
    while (ld->held[slot] != t && !ld->failed) pthread_cond_wait(&ld->cv, &ld->mu);
    const int ready = ld->held[slot] == t;
    if (!ready) *err = ld->err;
    pthread_mutex_unlock(&ld->mu);
    if (!ready) return -1;
    *lr = ld->lr[slot];
    *hr = ld->hr[slot];
    return 0;
}

void tr_loader_release(tr_loader *ld, long t) {
    pthread_mutex_lock(&ld->mu);
    ld->held[t % 2] = -1;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
}

void tr_loader_stop(tr_loader *ld) {
    if (ld->started) {
        pthread_mutex_lock(&ld->mu);
        ld->stop = 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv);
    }
    for (int i = 0; i < 2; i++) {
        free(ld->lr[i]);
        free(ld->hr[i]);
    }
    memset(ld, 0, sizeof *ld);
}
