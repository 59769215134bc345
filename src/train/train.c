/* train.c - the training loop of NSR.md section 4: Adam on the L1 loss over patch batches,
 * multi-step learning rate, validation by the evaluation protocol, checkpoints that make an
 * interrupted run resume bit for bit, and the run folder (checkpoint.nsr, log.csv, model.nsr).
 *
 * What makes resuming exact: batch t is a pure function of (seed, t) (patches.c); the network,
 * Adam's moments and the step count are saved as f32/i64 exactly; the learning rate is a
 * function of the step; and no engine result depends on the thread count (each output element
 * is summed by one thread in a fixed order). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nn/engine.h"
#include "train/patches.h"

#define CHECKPOINT_FILE "checkpoint.nsr"
#define MODEL_FILE "model.nsr"
#define LOG_FILE "log.csv"
#define LOG_HEADER "iteration,loss,lr,seconds,val_psnr\n"
/* The folders of train.data are kept as one string, separated as in PATH. */
#define DIR_SEPARATOR ':'
#define MAX_ITERATIONS 1000000000000L
/* The most shards a batch may be cut into (a step keeps a loss per shard on the stack). */
#define MAX_SHARDS 64

void nsr_train_defaults(nsr_train_options *o) {
    memset(o, 0, sizeof *o);
    nsr_arch_defaults(&o->arch);
    o->task = (nsr_task){.kind = NSR_TASK_SR, .scale = 2};
    o->patch = 48;
    o->batch = 16;
    o->iterations = 10000;
    o->lr = 1e-3;
    o->seed = 1;
    o->checkpoint_every = 1000;
    o->val_every = 1000;
    o->select_t0 = o->select_t1 = 1;
    o->select_anneal = 0;
    o->select_hard_from = 1;
    o->select_gumbel = 0;
    o->select_balance = 0;
    o->shards = 1;
}

/* The selection of step iter (0-based) of the run: a pure function of the options and iter, so
 * that a resumed run selects as an uninterrupted one. The temperature falls geometrically, so
 * each step sharpens the softmax by the same factor. */
static nn_select_opts select_at(const nsr_train_options *o, long iter) {
    const double span = o->select_anneal * (double)o->iterations;
    const double T = span > 0 && (double)iter < span
                         ? o->select_t0 * pow(o->select_t1 / o->select_t0, (double)iter / span)
                         : o->select_t1;
    return (nn_select_opts){.temperature = (float)T,
                            .hard = (double)iter >= o->select_hard_from * (double)o->iterations,
                            .gumbel = (float)o->select_gumbel,
                            .balance = (float)o->select_balance,
                            .seed = o->seed,
                            .stream = (uint64_t)iter};
}

/* ---------------------------------------------------------------- the state of a run */

typedef struct trainer {
    nsr_train_options o;     /* its strings point into owned[] on resume */
    char **owned;            /* strings this trainer allocated */
    size_t nowned;
    const char **dirs;       /* o.data_dirs when rebuilt from a checkpoint */
    nsr_model *model;
    nn_adam adam;
    long iter;               /* steps done */
    int64_t init_iterations; /* the steps behind the init model (its own and its init's), 0 */
    long saved_iter;         /* the iteration of the newest checkpoint, -1 when none */
    int loaded;              /* the data and validation images are in memory */
    double seconds;          /* training time up to the last step, all sessions together */
    double loss, val_psnr;   /* the last ones, NAN until known */
    char *checkpoint_path, *model_path, *log_path;
    FILE *log;
    tr_dataset data;
    nsr_image *val;          /* validation ground truths, with their paths (for noise seeds) */
    nsr_path_list val_list;
    nsr_train_callback cb;
    void *ctx;
} trainer;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Keeps a malloc'd string for the trainer's lifetime; NULL when out of memory (s is freed). */
static char *own(trainer *t, char *s) {
    char **grown = s ? realloc(t->owned, (t->nowned + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(s);
        return NULL;
    }
    t->owned = grown;
    t->owned[t->nowned++] = s;
    return s;
}

static char *own_copy(trainer *t, const char *s) { return own(t, strdup(s)); }

static char *own_join(trainer *t, const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return own(t, s);
}

static void trainer_free(trainer *t) {
    if (t->log) fclose(t->log);
    nsr_model_free(t->model);
    nn_adam_free(&t->adam);
    tr_dataset_free(&t->data);
    for (size_t i = 0; i < t->val_list.count; i++) nsr_image_free(&t->val[i]);
    free(t->val);
    nsr_path_list_free(&t->val_list);
    for (size_t i = 0; i < t->nowned; i++) free(t->owned[i]);
    free(t->owned);
    free(t->dirs);
}

static void trainer_init(trainer *t, nsr_train_callback cb, void *ctx) {
    memset(t, 0, sizeof *t);
    t->saved_iter = -1;
    t->loss = t->val_psnr = NAN;
    t->cb = cb;
    t->ctx = ctx;
}

static int set_paths(trainer *t, nsr_error *err) {
    t->checkpoint_path = own_join(t, t->o.run_dir, CHECKPOINT_FILE);
    t->model_path = own_join(t, t->o.run_dir, MODEL_FILE);
    t->log_path = own_join(t, t->o.run_dir, LOG_FILE);
    if (!t->checkpoint_path || !t->model_path || !t->log_path) return nsr_fail(err, "out of memory");
    return 0;
}

/* ---------------------------------------------------------------- options */

static const char *task_name(nsr_task_kind kind) {
    return kind == NSR_TASK_SR ? "sr" : kind == NSR_TASK_DENOISE ? "denoise" : "jpeg";
}

/* The options against each other and against the network's scale. */
static int check_options(const nsr_train_options *o, int scale, nsr_error *err) {
    if (!o->run_dir || !*o->run_dir) return nsr_fail(err, "no run folder given");
    if (o->data_dir_count < 1 || !o->data_dirs) return nsr_fail(err, "no training data folder given");
    for (int i = 0; i < o->data_dir_count; i++)
        if (!o->data_dirs[i] || !*o->data_dirs[i] || strchr(o->data_dirs[i], DIR_SEPARATOR))
            return nsr_fail(err, "training data folder '%s': empty, or has a '%c' (the folders "
                            "are saved as one '%c'-separated list)", o->data_dirs[i] ? o->data_dirs[i] : "",
                            DIR_SEPARATOR, DIR_SEPARATOR);
    if (o->patch < 1 || o->patch > 1024) return nsr_fail(err, "patch size %d not in 1..1024", o->patch);
    if (o->batch < 1 || o->batch > 4096) return nsr_fail(err, "batch size %d not in 1..4096", o->batch);
    if (o->iterations < 1 || o->iterations > MAX_ITERATIONS)
        return nsr_fail(err, "iterations %ld not in 1..%ld", o->iterations, MAX_ITERATIONS);
    if (!isfinite(o->lr) || o->lr <= 0) return nsr_fail(err, "learning rate %g must be positive", o->lr);
    if (o->checkpoint_every < 0 || o->val_every < 0)
        return nsr_fail(err, "checkpoint and validation intervals must not be negative");
    if (!(o->select_t0 >= 1e-3 && o->select_t0 <= 1e3 && o->select_t1 >= 1e-3 && o->select_t1 <= 1e3))
        return nsr_fail(err, "selection temperatures %g and %g not in 0.001..1000", o->select_t0,
                        o->select_t1);
    if (!(o->select_anneal >= 0 && o->select_anneal <= 1) ||
        !(o->select_hard_from >= 0 && o->select_hard_from <= 1))
        return nsr_fail(err, "the annealing span %g and the start of hard selection %g must be "
                        "fractions of the run (0..1)", o->select_anneal, o->select_hard_from);
    if (!(o->select_gumbel >= 0 && o->select_gumbel <= 100))
        return nsr_fail(err, "Gumbel noise scale %g not in 0..100", o->select_gumbel);
    if (!(o->select_balance >= 0 && o->select_balance <= 100))
        return nsr_fail(err, "load-balancing weight %g not in 0..100", o->select_balance);
    if (o->shards < 1 || o->shards > MAX_SHARDS || (o->shards & (o->shards - 1)) ||
        o->batch % o->shards)
        return nsr_fail(err, "shards %d: must be a power of 2 up to %d dividing the batch %d",
                        o->shards, MAX_SHARDS, o->batch);
    if (o->comm && (o->comm->size < 1 || (o->comm->size & (o->comm->size - 1)) ||
                    o->shards % o->comm->size || o->comm->rank < 0 || o->comm->rank >= o->comm->size))
        return nsr_fail(err, "%d ranks: the rank count must be a power of 2 dividing the shards "
                        "(%d)", o->comm->size, o->shards);
    switch (o->task.kind) {
    case NSR_TASK_SR:
        if (o->task.scale != scale || scale < 2)
            return nsr_fail(err, "x%d super-resolution needs a network of that scale (this one is x%d)",
                            o->task.scale, scale);
        return 0;
    case NSR_TASK_DENOISE:
        if (!isfinite(o->task.noise_sigma) || o->task.noise_sigma < 0 || o->task.noise_sigma > 255)
            return nsr_fail(err, "noise sigma %g not in 0..255", o->task.noise_sigma);
        if (o->task.noise_sigma_max != 0 &&
            !(o->task.noise_sigma_max >= o->task.noise_sigma && o->task.noise_sigma_max <= 255))
            return nsr_fail(err, "noise sigma range %g..%g: not within 0..255 or reversed",
                            o->task.noise_sigma, o->task.noise_sigma_max);
        break;
    case NSR_TASK_JPEG:
        if (o->task.jpeg_quality < 1 || o->task.jpeg_quality > 100)
            return nsr_fail(err, "JPEG quality %d not in 1..100", o->task.jpeg_quality);
        if (o->task.jpeg_quality_max != 0 &&
            (o->task.jpeg_quality_max < o->task.jpeg_quality || o->task.jpeg_quality_max > 100))
            return nsr_fail(err, "JPEG quality range %d..%d: not within 1..100 or reversed",
                            o->task.jpeg_quality, o->task.jpeg_quality_max);
        break;
    default: return nsr_fail(err, "unknown task %d", (int)o->task.kind);
    }
    if (scale != 1)
        return nsr_fail(err, "%s training needs a network of scale 1 (this one is x%d)",
                        task_name(o->task.kind), scale);
    return 0;
}

/* ---------------------------------------------------------------- files of the run */

/* mkdir -p. */
static int make_folder(const char *path, nsr_error *err) {
    char *p = strdup(path);
    if (!p) return nsr_fail(err, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        const char saved = *s;
        *s = 0;
        struct stat st;
        if (mkdir(p, 0777) != 0 && (errno != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
            nsr_fail(err, "%s: cannot create the run folder: %s", p,
                     errno == EEXIST ? "a file has that name" : strerror(errno));
            free(p);
            return -1;
        }
        *s = saved;
        if (!saved) break;
    }
    free(p);
    return 0;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Metadata shared by checkpoints and the final model: the task (what the model restores) and
 * the run's provenance and options. */
static int add_metadata(const trainer *t, nsr_model_file *f, nsr_error *err) {
    const nsr_train_options *o = &t->o;
    size_t len = 1;
    for (int i = 0; i < o->data_dir_count; i++) len += strlen(o->data_dirs[i]) + 1;
    char *dirs = malloc(len), *end = dirs;
    if (!dirs) return nsr_fail(err, "out of memory");
    for (int i = 0; i < o->data_dir_count; i++) {
        if (i) *end++ = DIR_SEPARATOR;
        end = stpcpy(end, o->data_dirs[i]);
    }
    int rc = nsr_model_file_set_string(f, "task", task_name(o->task.kind), err) ||
             (o->task.kind == NSR_TASK_DENOISE && nsr_model_file_set_float(f, "noise", o->task.noise_sigma, err)) ||
             (o->task.kind == NSR_TASK_JPEG && nsr_model_file_set_int(f, "jpeg_quality", o->task.jpeg_quality, err)) ||
             (o->task.kind == NSR_TASK_DENOISE && o->task.noise_sigma_max > o->task.noise_sigma &&
              nsr_model_file_set_float(f, "noise_max", o->task.noise_sigma_max, err)) ||
             (o->task.kind == NSR_TASK_JPEG && o->task.jpeg_quality_max > o->task.jpeg_quality &&
              nsr_model_file_set_int(f, "jpeg_quality_max", o->task.jpeg_quality_max, err)) ||
             (o->command && nsr_model_file_set_string(f, "train.command", o->command, err)) ||
             nsr_model_file_set_string(f, "train.data", dirs, err) ||
             (o->val_dir && nsr_model_file_set_string(f, "train.val", o->val_dir, err)) ||
             (o->init_path && nsr_model_file_set_string(f, "train.init", o->init_path, err)) ||
             (t->init_iterations &&
              nsr_model_file_set_int(f, "train.init_iterations", t->init_iterations, err)) ||
             nsr_model_file_set_int(f, "train.iterations", o->iterations, err) ||
             nsr_model_file_set_int(f, "train.iteration", t->iter, err) ||
             nsr_model_file_set_int(f, "train.seed", (int64_t)o->seed, err) ||
             nsr_model_file_set_float(f, "train.lr", o->lr, err) ||
             nsr_model_file_set_int(f, "train.batch", o->batch, err) ||
             nsr_model_file_set_int(f, "train.patch", o->patch, err) ||
             nsr_model_file_set_int(f, "train.checkpoint_every", o->checkpoint_every, err) ||
             nsr_model_file_set_int(f, "train.val_every", o->val_every, err) ||
             nsr_model_file_set_float(f, "train.select_t0", o->select_t0, err) ||
             nsr_model_file_set_float(f, "train.select_t1", o->select_t1, err) ||
             nsr_model_file_set_float(f, "train.select_anneal", o->select_anneal, err) ||
             nsr_model_file_set_float(f, "train.select_hard_from", o->select_hard_from, err) ||
             nsr_model_file_set_float(f, "train.select_gumbel", o->select_gumbel, err) ||
             nsr_model_file_set_float(f, "train.select_balance", o->select_balance, err) ||
             nsr_model_file_set_int(f, "train.shards", o->shards, err) ||
             nsr_model_file_set_float(f, "train.seconds", t->seconds, err) ||
             (isfinite(t->loss) && nsr_model_file_set_float(f, "train.loss", t->loss, err)) ||
             (!isnan(t->val_psnr) && nsr_model_file_set_float(f, "train.val_psnr", t->val_psnr, err))
                 ? -1 : 0;
    free(dirs);
    return rc;
}

/* The model (and with optimizer, Adam's moments: the step count is the iteration) to path. */
static int save(const trainer *t, const char *path, int optimizer, nsr_error *err) {
    nsr_model_file *f = nsr_model_file_new();
    if (!f) return nsr_fail(err, "%s: out of memory", path);
    const size_t n = t->model->nparams;
    const int dims[1] = {(int)n};
    int rc = nsr_model_to_file(t->model, f, err) || add_metadata(t, f, err) ||
             (optimizer && (nsr_model_file_add_tensor(f, "train.adam.m", 1, dims, t->adam.m, err) ||
                            nsr_model_file_add_tensor(f, "train.adam.v", 1, dims, t->adam.v, err))) ||
             nsr_model_file_save(f, path, err) ? -1 : 0;
    nsr_model_file_free(f);
    return rc;
}

static int save_checkpoint(trainer *t, nsr_error *err) {
    if (save(t, t->checkpoint_path, 1, err)) return -1;
    t->saved_iter = t->iter;
    return 0;
}

/* Cuts log.csv back to the rows of the first `iter` steps (a session may have logged steps
 * after its last checkpoint, and a killed one may have left half a line). */
static int cut_log(const trainer *t, nsr_error *err) {
    uint8_t *bytes;
    size_t size;
    if (!file_exists(t->log_path)) return 0;
    if (nsr_read_file(t->log_path, &bytes, &size, err)) return -1;
    size_t keep = 0;
    for (size_t pos = 0; pos < size;) {
        const uint8_t *eol = memchr(bytes + pos, '\n', size - pos);
        if (!eol) break;
        const long row = pos == 0 ? 0 : strtol((const char *)bytes + pos, NULL, 10);
        if (row > t->iter) break;
        pos = (size_t)(eol - bytes) + 1;
        keep = pos;
    }
    int rc = keep == size ? 0 : nsr_write_file_atomic(t->log_path, bytes, keep, err);
    free(bytes);
    return rc;
}

/* Opens log.csv for appending, with its header when it is new or empty. */
static int open_log(trainer *t, int fresh, nsr_error *err) {
    t->log = fopen(t->log_path, fresh ? "w" : "a");
    if (!t->log) return nsr_fail(err, "%s: cannot write: %s", t->log_path, strerror(errno));
    if (ftell(t->log) == 0 && fputs(LOG_HEADER, t->log) == EOF)
        return nsr_fail(err, "%s: cannot write: %s", t->log_path, strerror(errno));
    return 0;
}

static int log_row(trainer *t, double loss, float lr, double seconds, double val, nsr_error *err) {
    /* %.17g: the loss exactly, so logs of a resumed and an uninterrupted run compare as text */
    fprintf(t->log, "%ld,%.17g,%.9g,%.3f,", t->iter, loss, (double)lr, seconds);
    if (!isnan(val)) fprintf(t->log, "%.6f", val);
    fputc('\n', t->log);
    if (fflush(t->log) != 0 || ferror(t->log))
        return nsr_fail(err, "%s: cannot write: %s", t->log_path, strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------- validation */

static int load_validation(trainer *t, nsr_error *err) {
    if (!t->o.val_dir) return 0;
    if (nsr_list_images(&t->val_list, t->o.val_dir, err)) return -1;
    t->val = calloc(t->val_list.count, sizeof *t->val);
    if (!t->val) return nsr_fail(err, "out of memory");
    for (size_t i = 0; i < t->val_list.count; i++) {
        nsr_error why;
        /* a grey network is validated on the images' MATLAB Y, as it is trained */
        if (nsr_image_read(&t->val[i], t->val_list.paths[i], NULL, err)) return -1;
        if (t->model->arch.channels == 1 && tr_image_to_channels(&t->val[i], 1, &why))
            return nsr_fail(err, "%s: %s", t->val_list.paths[i], why.message);
    }
    return 0;
}

/* Mean Y-PSNR (pt_ir) over the validation images, by the evaluation protocol, with the
 * network run on the whole image with soft selection (as trained; grey goes through as RGB).
 * A blind model (a range of levels) is validated at the middle of its range: one fixed level,
 * so that the curve is comparable along the run, and neither end of the range. */
static int validate(const trainer *t, double *psnr, nsr_error *err) {
    /* with the selection the network is being trained for: hard once the forward is (--hard-from),
     * so that the curve of a run trained for hard selection shows what --hard will give */
    const nsr_infer_options opts = {.selection = t->model->trained_hard ? NSR_SELECT_HARD : NSR_SELECT_SOFT,
                                    .tiling = NSR_TILE_WHOLE};
    nsr_task task = t->o.task;
    if (task.kind == NSR_TASK_DENOISE && task.noise_sigma_max > task.noise_sigma)
        task.noise_sigma = 0.5 * (task.noise_sigma + task.noise_sigma_max), task.noise_sigma_max = 0;
    if (task.kind == NSR_TASK_JPEG && task.jpeg_quality_max > task.jpeg_quality)
        task.jpeg_quality = (task.jpeg_quality + task.jpeg_quality_max) / 2, task.jpeg_quality_max = 0;
    nsr_restorer *network;
    if (nsr_model_restorer_create(&network, t->model, "network in training", &opts, err)) return -1;
    double sum = 0;
    int rc = 0;
    for (size_t i = 0; i < t->val_list.count && rc == 0; i++) {
        const char *path = t->val_list.paths[i];
        nsr_metrics m;
        nsr_error why;
        rc = nsr_eval_image(&t->val[i], &task, network, NSR_Y_PT_IR,
                            nsr_seed_from_name(path), &m, &why);
        if (rc) nsr_fail(err, "validation on %s: %s", path, why.message);
        else sum += m.psnr_y;
    }
    nsr_model_restorer_free(network);
    *psnr = sum / (double)t->val_list.count;
    return rc;
}

/* ---------------------------------------------------------------- the loop */

/* The progress of the run so far, for event. */
static nsr_train_progress progress(const trainer *t, nsr_train_event event) {
    const size_t total = t->data.total;
    return (nsr_train_progress){.event = event, .iteration = t->iter,
                                .iterations = t->o.iterations, .loss = NAN, .lr = NAN,
                                .seconds = t->seconds, .val_psnr = NAN, .images_done = total,
                                .images_total = total, .images_skipped = total - t->data.count,
                                .arch = t->model ? &t->model->arch : NULL,
                                .params = t->model ? t->model->nparams : 0};
}

static int report(trainer *t, const nsr_train_progress *p) { return t->cb ? t->cb(t->ctx, p) : 0; }

static int loading_progress(void *ctx, size_t done, size_t total) {
    trainer *t = ctx;
    nsr_train_progress p = progress(t, NSR_TRAIN_LOADING);
    p.images_done = done;
    p.images_total = total;
    p.images_skipped = 0;
    return report(t, &p);
}

/* Rank 0 of a distributed run, or a process training alone: the one that writes the run. */
static int writes(const trainer *t) { return !t->o.comm || t->o.comm->rank == 0; }

/* The buffers of a step: this rank's shards' gradients (one each, the first being the step's
 * gradient), the output gradient of one shard. */
typedef struct step_buffers {
    int shards;   /* this rank's */
    int shard_n;  /* patches per shard */
    float **grads;
    float *dout;
} step_buffers;

/* Step iter's mean L1 loss over the batch and its gradient, into sb->grads[0]. This rank's
 * shards (x, y: its patches of the batch, shard after shard) each give their loss and
 * gradient alone; they are added as the binary tree over the shards (neighbours first), and
 * the comm adds the ranks' sums as the tree over the ranks, so every rank count computes the
 * tree of the single process. The mean over shards of equal size is the mean over the batch;
 * dividing by a power of 2 is exact. */
static double step_gradient(trainer *t, eng_workspace *ws, const float *x, const float *y,
                            const step_buffers *sb, long iter, nsr_error *err) {
    const nsr_train_options *o = &t->o;
    const nsr_model *m = t->model;
    const int s = m->arch.scale, rank = o->comm ? o->comm->rank : 0;
    const size_t in_n = (size_t)m->arch.channels * o->patch * o->patch, out_n = in_n * s * s;
    double loss[MAX_SHARDS];
    for (int q = 0; q < sb->shards; q++) {
        ws->select = select_at(o, iter);
        /* the selection's noise follows each patch's place in the whole batch */
        ws->select.sample0 = (uint64_t)(rank * sb->shards + q) * (uint64_t)sb->shard_n;
        loss[q] = eng_loss_and_grad(m, ws, x + (size_t)q * sb->shard_n * in_n,
                                    y + (size_t)q * sb->shard_n * out_n, sb->dout, sb->grads[q]);
    }
    for (int width = 1; width < sb->shards; width *= 2)
        for (int q = 0; q + width < sb->shards; q += 2 * width) {
            nn_add_inplace(sb->grads[q], sb->grads[q + width], m->nparams);
            loss[q] += loss[q + width];
        }
    if (o->comm && (o->comm->sum(o->comm->ctx, sb->grads[0], m->nparams, 0, err) ||
                    o->comm->sum(o->comm->ctx, &loss[0], 1, 1, err)))
        return NAN;
    if (o->shards > 1) {
        const float inv = 1.0f / (float)o->shards;
        for (size_t i = 0; i < m->nparams; i++) sb->grads[0][i] *= inv;
        loss[0] /= o->shards;
    }
    return loss[0];
}

/* Whether any rank was asked to stop (each rank's callback sees its own signals): the ranks
 * stop after the same step. */
static int agree_to_stop(const trainer *t, int stop, nsr_error *err) {
    if (!t->o.comm) return stop;
    double v = stop;
    if (t->o.comm->sum(t->o.comm->ctx, &v, 1, 1, err)) return -1;
    return v > 0;
}

/* Loads the data, then takes the steps from t->iter on. Returns 0, NSR_TRAIN_STOPPED or -1. */
static int run(trainer *t, nsr_error *err) {
    const nsr_train_options *o = &t->o;
    int rc = tr_dataset_load(&t->data, o->data_dirs, o->data_dir_count, &o->task, o->patch,
                             t->model->arch.channels, loading_progress, t, err);
    if (rc) return rc < 0 ? -1 : NSR_TRAIN_STOPPED;
    if (writes(t) && load_validation(t, err)) return -1;
    t->loaded = 1;

    nsr_model *m = t->model;
    const int s = m->arch.scale, ranks = o->comm ? o->comm->size : 1;
    const int rank = o->comm ? o->comm->rank : 0;
    step_buffers sb = {.shards = o->shards / ranks, .shard_n = o->batch / o->shards};
    const size_t out_size = (size_t)sb.shard_n * m->arch.channels * o->patch * s * o->patch * s;
    eng_workspace ws;
    memset(&ws, 0, sizeof ws);
    tr_loader loader;
    memset(&loader, 0, sizeof loader);
    sb.grads = calloc((size_t)sb.shards, sizeof *sb.grads);
    sb.dout = malloc(out_size * sizeof *sb.dout);
    rc = -1;
    if (!sb.grads || !sb.dout) {
        nsr_fail(err, "out of memory for the gradients");
        goto done;
    }
    for (int q = 0; q < sb.shards; q++)
        if (!(sb.grads[q] = malloc(m->nparams * sizeof(float)))) {
            nsr_fail(err, "out of memory for the gradients");
            goto done;
        }
    if (eng_workspace_create(&ws, m, sb.shard_n, o->patch, o->patch, 1, err)) goto done;
    /* the data seed is derived so that it does not coincide with the initialisation's draws;
     * this rank makes its patches of every batch */
    const uint64_t data_seed = nsr_rng_u64(o->seed, 0, 0);
    if (tr_loader_start(&loader, &t->data, data_seed, o->batch, rank * sb.shards * sb.shard_n,
                        sb.shards * sb.shard_n, t->iter, o->iterations, err))
        goto done;

    nsr_train_progress p = progress(t, NSR_TRAIN_START);
    int stop = agree_to_stop(t, report(t, &p), err);
    if (stop) {
        rc = stop < 0 ? -1 : NSR_TRAIN_STOPPED;
        goto done;
    }
    const long milestones[2] = {o->iterations * 2 / 3, o->iterations * 5 / 6};
    const double earlier = t->seconds, start = now_seconds();
    while (t->iter < o->iterations) {
        const float *x, *y;
        if (tr_loader_get(&loader, t->iter, &x, &y, err)) goto done;
        const float lr = nn_lr_multistep((float)o->lr, t->iter, milestones, 2, 0.2f);
        err->message[0] = 0;
        const double loss = step_gradient(t, &ws, x, y, &sb, t->iter, err);
        tr_loader_release(&loader, t->iter);
        if (err->message[0]) goto done; /* the ranks could not sum */
        if (!isfinite(loss)) {
            nsr_fail(err, "the loss is %g at iteration %ld: training stopped without that "
                     "update; the checkpoint of iteration %ld is kept in %s", loss, t->iter + 1,
                     t->saved_iter, t->checkpoint_path);
            goto done;
        }
        nn_adam_step(&t->adam, m->params, sb.grads[0], lr);
        /* what the model was last trained with: its soft inference, validation included,
         * uses this temperature */
        m->select_temperature = ws.select.temperature;
        m->trained_hard = ws.select.hard;
        t->iter++;
        t->loss = loss;
        const int last = t->iter == o->iterations;
        double val = NAN;
        if (writes(t) && t->val_list.count &&
            (last || (o->val_every && t->iter % o->val_every == 0))) {
            if (validate(t, &val, err)) goto done;
            t->val_psnr = val;
        }
        t->seconds = earlier + (now_seconds() - start);
        if (writes(t) && log_row(t, loss, lr, t->seconds, val, err)) goto done;
        const int checkpoint = last || (o->checkpoint_every && t->iter % o->checkpoint_every == 0);
        if (writes(t) && checkpoint &&
            (save_checkpoint(t, err) || (last && save(t, t->model_path, 0, err))))
            goto done;
        p = progress(t, NSR_TRAIN_STEP);
        p.loss = loss;
        p.lr = lr;
        p.val_psnr = val;
        p.checkpointed = checkpoint;
        stop = agree_to_stop(t, report(t, &p), err);
        if (stop < 0) goto done;
        if (stop && !last) {
            if (writes(t) && !checkpoint && save_checkpoint(t, err)) goto done;
            rc = NSR_TRAIN_STOPPED;
            goto done;
        }
    }
    rc = 0;
done:
    tr_loader_stop(&loader);
    eng_workspace_free(&ws);
    for (int q = 0; sb.grads && q < sb.shards; q++) free(sb.grads[q]);
    free(sb.grads);
    free(sb.dout);
    return rc;
}

/* ---------------------------------------------------------------- entry points */

/* Undoes the start of a new run in t->o.run_dir: its files, and the folder when it was made for
 * the run (rmdir leaves it when anything else is in it). */
static void remove_run(trainer *t, int folder_existed) {
    if (t->log) fclose(t->log);
    t->log = NULL;
    unlink(t->log_path);
    unlink(t->checkpoint_path);
    if (!folder_existed) rmdir(t->o.run_dir);
}

/* Whether the tensor's layer ("blocks.3.conv1" of "blocks.3.conv1.v") has every tensor in
 * from, of the same shape: a layer is carried over whole or not at all (the gain g of a
 * weight-normalised conv means nothing with another direction v). */
static int layer_in(const nsr_model *to, const nsr_model *from, const char *name) {
    const char *dot = strrchr(name, '.');
    const size_t prefix = dot ? (size_t)(dot - name) + 1 : strlen(name);
    for (int i = 0; i < eng_model_num_tensors(to); i++) {
        const eng_tensor *t = eng_model_tensor(to, i);
        if (strncmp(t->name, name, prefix) || strchr(t->name + prefix, '.')) continue;
        const eng_tensor *f = eng_model_find_tensor(from, t->name);
        if (!f || f->ndim != t->ndim || memcmp(f->shape, t->shape, sizeof t->shape)) return 0;
    }
    return 1;
}

/* The training steps that made the model at path: its own ("train.iteration") and those behind
 * its own init model ("train.init_iterations"), so that a model's record counts every step from
 * the first random network (a fold keeps the records of the model it folds). 0 when the file
 * has no record or cannot be read: the count is information, not a condition of the run. */
static int64_t lineage_iterations(const char *path) {
    nsr_model_file *f;
    nsr_error err;
    if (nsr_model_file_load(&f, path, &err)) return 0;
    int64_t own = 0, before = 0;
    if (nsr_model_file_meta_type(f, "train.iteration") == NSR_META_INT)
        nsr_model_file_get_int(f, "train.iteration", &own, &err);
    if (nsr_model_file_meta_type(f, "train.init_iterations") == NSR_META_INT)
        nsr_model_file_get_int(f, "train.init_iterations", &before, &err);
    nsr_model_file_free(f);
    return own > 0 && before >= 0 ? own + before : 0;
}

/* The network a run starts from (nsr_train_options.init_path says how a model of another
 * scale or other image planes is carried over): the body learned for one task is a good start
 * for another, while a tail of another shape has nothing to take over. A plain model split into
 * groups (init_groups) starts as the network it was, whatever it selects. */
static int start_model(trainer *t, nsr_error *err) {
    const nsr_train_options *o = &t->o;
    if (!o->init_path) return nsr_model_create(&t->model, &o->arch, o->seed, err);
    if (o->init_channels && o->init_channels != 1 && o->init_channels != 3)
        return nsr_fail(err, "image planes %d: a network takes 1 (grey) or 3 (RGB)", o->init_channels);
    nsr_model *init;
    if (nsr_model_load(&init, o->init_path, err)) return -1;
    t->init_iterations = lineage_iterations(o->init_path);
    if (o->init_groups) {
        nsr_model *split;
        const int failed = nsr_model_split(&split, init, o->init_groups, o->init_cardinals, o->init_shared,
                                           o->seed, err);
        nsr_model_free(init);
        if (failed) return -1;
        init = split;
    }
    nsr_arch arch = init->arch;
    if (o->task.kind != NSR_TASK_SR) arch.scale = 1;
    else if (o->task.scale) arch.scale = o->task.scale;
    if (o->init_channels) arch.channels = o->init_channels;
    if (arch.scale == init->arch.scale && arch.channels == init->arch.channels) {
        t->model = init;
        return 0;
    }
    if (nsr_model_create(&t->model, &arch, o->seed, err)) {
        nsr_model_free(init);
        return -1;
    }
    for (int i = 0; i < eng_model_num_tensors(t->model); i++) {
        const eng_tensor *to = eng_model_tensor(t->model, i), *from = eng_model_find_tensor(init, to->name);
        if (layer_in(t->model, init, to->name))
            memcpy(t->model->params + to->offset, init->params + from->offset, to->size * sizeof *t->model->params);
    }
    t->model->select_temperature = init->select_temperature;
    nsr_model_free(init);
    return 0;
}

int nsr_train(const nsr_train_options *opts, nsr_train_callback cb, void *ctx, nsr_error *err) {
    trainer t;
    trainer_init(&t, cb, ctx);
    t.o = *opts;
    int rc = -1;
    if (start_model(&t, err)) goto done;
    if (t.o.task.kind == NSR_TASK_SR && t.o.task.scale == 0) t.o.task.scale = t.model->arch.scale;
    if (check_options(&t.o, t.model->arch.scale, err) || set_paths(&t, err)) goto done;
    if (writes(&t) && (file_exists(t.checkpoint_path) || file_exists(t.model_path))) {
        nsr_fail(err, "%s already holds a training run (resume it, or choose another folder)",
                 opts->run_dir);
        goto done;
    }
    /* The checkpoint of iteration 0 (the options, the initial network, Adam's zero moments) is
     * the run's first file, before the log and the data loading: from the moment the folder
     * holds a run, a kill leaves something --resume can start (a kill before it leaves no run,
     * and the original command still works). Only the rank that writes the run touches it. */
    struct stat st;
    const int existed = stat(opts->run_dir, &st) == 0;
    if ((writes(&t) && (make_folder(opts->run_dir, err) ||
                        nsr_remove_stale_temp_files(opts->run_dir, NULL, err) < 0)) ||
        nn_adam_init(&t.adam, t.model->nparams, err) ||
        (writes(&t) && (save_checkpoint(&t, err) || open_log(&t, 1, err)))) {
        if (writes(&t)) remove_run(&t, existed);
        goto done;
    }
    rc = run(&t, err);
    /* Data that cannot be loaded (a wrong folder, images too small for the patch) is a mistake
     * in the command: leave no run behind, so that the corrected command can use the folder. */
    if (rc < 0 && !t.loaded && writes(&t)) remove_run(&t, existed);
done:
    trainer_free(&t);
    return rc;
}

/* An integer of the checkpoint at path, within [lo, hi]. */
static int read_long(const nsr_model_file *f, const char *path, const char *key, long lo,
                     long hi, long *out, nsr_error *err) {
    int64_t v;
    if (nsr_model_file_get_int(f, key, &v, err)) return -1;
    if (v < lo || v > hi)
        return nsr_fail(err, "%s: metadata '%s' = %lld is out of range", path, key, (long long)v);
    *out = (long)v;
    return 0;
}

/* An optional string of the checkpoint, copied; NULL when absent. */
static int read_string(trainer *t, const nsr_model_file *f, const char *key, const char **out,
                       nsr_error *err) {
    const char *s;
    *out = NULL;
    if (nsr_model_file_meta_type(f, key) == NSR_META_NONE) return 0;
    if (nsr_model_file_get_string(f, key, &s, err)) return -1;
    if (!(*out = own_copy(t, s))) return nsr_fail(err, "out of memory");
    return 0;
}

/* The options, model, optimiser state and progress saved in a checkpoint. */
static int read_checkpoint(trainer *t, const nsr_model_file *f, nsr_error *err) {
    nsr_train_options *o = &t->o;
    const char *path = t->checkpoint_path, *task, *data;
    long patch = 0, batch = 0, quality = 0, seed = 0;
    double sigma = 0;
    if (nsr_model_file_get_string(f, "task", &task, err)) return -1;
    if (!strcmp(task, "sr")) o->task.kind = NSR_TASK_SR;
    else if (!strcmp(task, "denoise")) o->task.kind = NSR_TASK_DENOISE;
    else if (!strcmp(task, "jpeg")) o->task.kind = NSR_TASK_JPEG;
    else return nsr_fail(err, "%s: unknown task '%.32s'", path, task);
    if ((o->task.kind == NSR_TASK_DENOISE && nsr_model_file_get_float(f, "noise", &sigma, err)) ||
        (o->task.kind == NSR_TASK_JPEG && read_long(f, path, "jpeg_quality", 1, 100, &quality, err)) ||
        read_long(f, path, "train.iterations", 1, MAX_ITERATIONS, &o->iterations, err) ||
        read_long(f, path, "train.iteration", 0, o->iterations, &t->iter, err) ||
        read_long(f, path, "train.seed", LONG_MIN, LONG_MAX, &seed, err) ||
        nsr_model_file_get_float(f, "train.lr", &o->lr, err) ||
        read_long(f, path, "train.batch", 1, 4096, &batch, err) ||
        read_long(f, path, "train.patch", 1, 1024, &patch, err) ||
        read_long(f, path, "train.checkpoint_every", 0, MAX_ITERATIONS, &o->checkpoint_every, err) ||
        read_long(f, path, "train.val_every", 0, MAX_ITERATIONS, &o->val_every, err) ||
        nsr_model_file_get_float(f, "train.seconds", &t->seconds, err) ||
        nsr_model_file_get_string(f, "train.data", &data, err) ||
        read_string(t, f, "train.command", &o->command, err) ||
        read_string(t, f, "train.val", &o->val_dir, err) ||
        read_string(t, f, "train.init", &o->init_path, err))
        return -1;
    o->task.noise_sigma = sigma;
    o->task.jpeg_quality = (int)quality;
    /* blind tasks: the top of the range (absent: one level) */
    long quality_max = 0;
    if ((nsr_model_file_meta_type(f, "noise_max") != NSR_META_NONE &&
         nsr_model_file_get_float(f, "noise_max", &o->task.noise_sigma_max, err)) ||
        (nsr_model_file_meta_type(f, "jpeg_quality_max") != NSR_META_NONE &&
         read_long(f, path, "jpeg_quality_max", 1, 100, &quality_max, err)))
        return -1;
    o->task.jpeg_quality_max = (int)quality_max;
    o->seed = (uint64_t)seed;
    o->batch = (int)batch;
    o->patch = (int)patch;
    /* checkpoints of earlier builds have no selection keys: the reference's softmax */
    o->select_t0 = o->select_t1 = 1;
    o->select_anneal = o->select_gumbel = o->select_balance = 0;
    o->select_hard_from = 1;
    const struct { const char *key; double *value; } select_keys[] = {
        {"train.select_t0", &o->select_t0}, {"train.select_t1", &o->select_t1},
        {"train.select_anneal", &o->select_anneal}, {"train.select_hard_from", &o->select_hard_from},
        {"train.select_gumbel", &o->select_gumbel}, {"train.select_balance", &o->select_balance}};
    for (size_t i = 0; i < sizeof select_keys / sizeof select_keys[0]; i++)
        if (nsr_model_file_meta_type(f, select_keys[i].key) != NSR_META_NONE &&
            nsr_model_file_get_float(f, select_keys[i].key, select_keys[i].value, err))
            return -1;
    long shards = 1; /* earlier builds: the batch in one piece */
    if (nsr_model_file_meta_type(f, "train.shards") != NSR_META_NONE &&
        read_long(f, path, "train.shards", 1, MAX_SHARDS, &shards, err))
        return -1;
    o->shards = (int)shards;
    if (nsr_model_file_meta_type(f, "train.loss") == NSR_META_FLOAT)
        nsr_model_file_get_float(f, "train.loss", &t->loss, err);
    /* runs begun by earlier builds have no count: their init model's, when it is still there */
    if (nsr_model_file_meta_type(f, "train.init_iterations") != NSR_META_NONE) {
        if (nsr_model_file_get_int(f, "train.init_iterations", &t->init_iterations, err)) return -1;
    } else if (o->init_path) {
        t->init_iterations = lineage_iterations(o->init_path);
    }
    if (nsr_model_file_meta_type(f, "train.val_psnr") == NSR_META_FLOAT)
        nsr_model_file_get_float(f, "train.val_psnr", &t->val_psnr, err);

    /* the data folders: one string, split at the separators in place */
    char *dirs = own_copy(t, data);
    if (!dirs) return nsr_fail(err, "out of memory");
    int n = 1;
    for (const char *c = dirs; *c; c++) n += *c == DIR_SEPARATOR;
    if (!(t->dirs = calloc((size_t)n, sizeof *t->dirs))) return nsr_fail(err, "out of memory");
    o->data_dirs = t->dirs;
    o->data_dir_count = n;
    for (int i = 0; i < n; i++) {
        t->dirs[i] = dirs;
        char *end = strchr(dirs, DIR_SEPARATOR);
        dirs = end ? end + 1 : dirs + strlen(dirs);
        if (end) *end = 0;
    }

    nsr_error why;
    if (nsr_model_from_file(&t->model, f, &why))
        return nsr_fail(err, "%s: %s", path, why.message);
    const size_t np = t->model->nparams;
    const int dims[1] = {(int)np};
    const float *m, *v;
    if (nn_adam_init(&t->adam, np, err) ||
        nsr_model_file_get_tensor(f, "train.adam.m", 1, dims, &m, err) ||
        nsr_model_file_get_tensor(f, "train.adam.v", 1, dims, &v, err))
        return -1;
    memcpy(t->adam.m, m, np * sizeof *m);
    memcpy(t->adam.v, v, np * sizeof *v);
    t->adam.t = t->iter; /* Adam starts with the run (also from an init model) */
    o->task.scale = o->task.kind == NSR_TASK_SR ? t->model->arch.scale : 1;
    t->saved_iter = t->iter;
    return check_options(o, t->model->arch.scale, err);
}

int nsr_train_resume(const char *run_dir, const nsr_train_comm *comm, nsr_train_callback cb,
                     void *ctx, nsr_error *err) {
    trainer t;
    trainer_init(&t, cb, ctx);
    nsr_model_file *f = NULL;
    int rc = -1;
    if (!(t.o.run_dir = own_copy(&t, run_dir)) || set_paths(&t, err)) goto done;
    if (!file_exists(t.checkpoint_path)) {
        nsr_fail(err, "%s: no training run to resume (no %s)", run_dir, CHECKPOINT_FILE);
        goto done;
    }
    t.o.comm = comm;
    /* what killed sessions of the run left half-written */
    if (writes(&t) && nsr_remove_stale_temp_files(run_dir, NULL, err) < 0) goto done;
    if (nsr_model_file_load(&f, t.checkpoint_path, err) || read_checkpoint(&t, f, err)) goto done;
    nsr_model_file_free(f);
    f = NULL;
    if (t.iter >= t.o.iterations) {
        /* A kill between the final checkpoint and model.nsr leaves this: the final model is
         * the checkpoint's network with the same metadata, so it is written now, the same
         * bytes the uninterrupted run writes. */
        if (!file_exists(t.model_path)) rc = writes(&t) ? save(&t, t.model_path, 0, err) : 0;
        else nsr_fail(err, "%s: the run is already finished (%ld iterations)", run_dir, t.o.iterations);
        goto done;
    }
    if (writes(&t) && (cut_log(&t, err) || open_log(&t, 0, err))) goto done;
    rc = run(&t, err);
done:
    nsr_model_file_free(f);
    trainer_free(&t);
    return rc;
}
