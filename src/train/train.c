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

#include "nn/engine.h"
#include "train/patches.h"

#define CHECKPOINT_FILE "checkpoint.nsr"
#define MODEL_FILE "model.nsr"
#define LOG_FILE "log.csv"
#define LOG_HEADER "iteration,loss,lr,seconds,val_psnr\n"
/* The folders of train.data are kept as one string, separated as in PATH. */
#define DIR_SEPARATOR ':'
#define MAX_ITERATIONS 1000000000000L

void nsr_train_defaults(nsr_train_options *o) {
    memset(o, 0, sizeof *o);
    nsr_arch_defaults(&o->arch);
    o->task = (nsr_task){NSR_TASK_SR, 2, 0, 0};
    o->patch = 48;
    o->batch = 16;
    o->iterations = 10000;
    o->lr = 1e-3;
    o->seed = 1;
    o->checkpoint_every = 1000;
    o->val_every = 1000;
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
    long saved_iter;         /* the iteration of the newest checkpoint, -1 when none */
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
    switch (o->task.kind) {
    case NSR_TASK_SR:
        if (o->task.scale != scale || scale < 2)
            return nsr_fail(err, "x%d super-resolution needs a network of that scale (this one is x%d)",
                            o->task.scale, scale);
        return 0;
    case NSR_TASK_DENOISE:
        if (!isfinite(o->task.noise_sigma) || o->task.noise_sigma < 0 || o->task.noise_sigma > 255)
            return nsr_fail(err, "noise sigma %g not in 0..255", o->task.noise_sigma);
        break;
    case NSR_TASK_JPEG:
        if (o->task.jpeg_quality < 1 || o->task.jpeg_quality > 100)
            return nsr_fail(err, "JPEG quality %d not in 1..100", o->task.jpeg_quality);
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
             (o->command && nsr_model_file_set_string(f, "train.command", o->command, err)) ||
             nsr_model_file_set_string(f, "train.data", dirs, err) ||
             (o->val_dir && nsr_model_file_set_string(f, "train.val", o->val_dir, err)) ||
             (o->init_path && nsr_model_file_set_string(f, "train.init", o->init_path, err)) ||
             nsr_model_file_set_int(f, "train.iterations", o->iterations, err) ||
             nsr_model_file_set_int(f, "train.iteration", t->iter, err) ||
             nsr_model_file_set_int(f, "train.seed", (int64_t)o->seed, err) ||
             nsr_model_file_set_float(f, "train.lr", o->lr, err) ||
             nsr_model_file_set_int(f, "train.batch", o->batch, err) ||
             nsr_model_file_set_int(f, "train.patch", o->patch, err) ||
             nsr_model_file_set_int(f, "train.checkpoint_every", o->checkpoint_every, err) ||
             nsr_model_file_set_int(f, "train.val_every", o->val_every, err) ||
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
    for (size_t i = 0; i < t->val_list.count; i++)
        if (nsr_image_read(&t->val[i], t->val_list.paths[i], NULL, err)) return -1;
    return 0;
}

/* Mean Y-PSNR (pt_ir) over the validation images, by the evaluation protocol, with the
 * network run on the whole image with soft selection (as trained; grey goes through as RGB). */
static int validate(const trainer *t, double *psnr, nsr_error *err) {
    const nsr_infer_options opts = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_WHOLE};
    nsr_restorer *network;
    if (nsr_model_restorer_create(&network, t->model, "network in training", &opts, err)) return -1;
    double sum = 0;
    int rc = 0;
    for (size_t i = 0; i < t->val_list.count && rc == 0; i++) {
        const char *path = t->val_list.paths[i];
        nsr_metrics m;
        nsr_error why;
        rc = nsr_eval_image(&t->val[i], &t->o.task, network, NSR_Y_PT_IR,
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

/* Loads the data, then takes the steps from t->iter on. Returns 0, NSR_TRAIN_STOPPED or -1. */
static int run(trainer *t, nsr_error *err) {
    const nsr_train_options *o = &t->o;
    int rc = tr_dataset_load(&t->data, o->data_dirs, o->data_dir_count, &o->task, o->patch,
                             loading_progress, t, err);
    if (rc) return rc < 0 ? -1 : NSR_TRAIN_STOPPED;
    if (load_validation(t, err)) return -1;
    if (t->saved_iter < 0 && save_checkpoint(t, err)) return -1;

    nsr_model *m = t->model;
    const int s = m->arch.scale;
    const size_t out_size = (size_t)o->batch * 3 * o->patch * s * o->patch * s;
    eng_workspace ws;
    tr_loader loader;
    memset(&loader, 0, sizeof loader);
    float *grads = malloc(m->nparams * sizeof *grads), *dout = malloc(out_size * sizeof *dout);
    if (!grads || !dout) {
        free(grads);
        free(dout);
        return nsr_fail(err, "out of memory for the gradients");
    }
    rc = -1;
    if (eng_workspace_create(&ws, m, o->batch, o->patch, o->patch, 1, err)) goto done_buffers;
    /* the data seed is derived so that it does not coincide with the initialisation's draws */
    const uint64_t data_seed = nsr_rng_u64(o->seed, 0, 0);
    if (tr_loader_start(&loader, &t->data, data_seed, o->batch, t->iter, o->iterations, err))
        goto done;

    nsr_train_progress p = progress(t, NSR_TRAIN_START);
    if (report(t, &p)) {
        rc = NSR_TRAIN_STOPPED;
        goto done;
    }
    const long milestones[2] = {o->iterations * 2 / 3, o->iterations * 5 / 6};
    const double earlier = t->seconds, start = now_seconds();
    while (t->iter < o->iterations) {
        const float *x, *y;
        if (tr_loader_get(&loader, t->iter, &x, &y, err)) goto done;
        const float lr = nn_lr_multistep((float)o->lr, t->iter, milestones, 2, 0.2f);
        const double loss = eng_loss_and_grad(m, &ws, x, y, dout, grads);
        tr_loader_release(&loader, t->iter);
        if (!isfinite(loss)) {
            nsr_fail(err, "the loss is %g at iteration %ld: training stopped without that "
                     "update; the checkpoint of iteration %ld is kept in %s", loss, t->iter + 1,
                     t->saved_iter, t->checkpoint_path);
            goto done;
        }
        nn_adam_step(&t->adam, m->params, grads, lr);
        t->iter++;
        t->loss = loss;
        const int last = t->iter == o->iterations;
        double val = NAN;
        if (t->val_list.count && (last || (o->val_every && t->iter % o->val_every == 0))) {
            if (validate(t, &val, err)) goto done;
            t->val_psnr = val;
        }
        t->seconds = earlier + (now_seconds() - start);
        if (log_row(t, loss, lr, t->seconds, val, err)) goto done;
        const int checkpoint = last || (o->checkpoint_every && t->iter % o->checkpoint_every == 0);
        if (checkpoint && (save_checkpoint(t, err) || (last && save(t, t->model_path, 0, err))))
            goto done;
        p = progress(t, NSR_TRAIN_STEP);
        p.loss = loss;
        p.lr = lr;
        p.val_psnr = val;
        p.checkpointed = checkpoint;
        if (report(t, &p) && !last) {
            if (!checkpoint && save_checkpoint(t, err)) goto done;
            rc = NSR_TRAIN_STOPPED;
            goto done;
        }
    }
    rc = 0;
done:
    tr_loader_stop(&loader);
    eng_workspace_free(&ws);
done_buffers:
    free(grads);
    free(dout);
    return rc;
}

/* ---------------------------------------------------------------- entry points */

int nsr_train(const nsr_train_options *opts, nsr_train_callback cb, void *ctx, nsr_error *err) {
    trainer t;
    trainer_init(&t, cb, ctx);
    t.o = *opts;
    int rc = -1;
    if (opts->init_path ? nsr_model_load(&t.model, opts->init_path, err)
                        : nsr_model_create(&t.model, &opts->arch, opts->seed, err))
        goto done;
    if (t.o.task.kind == NSR_TASK_SR && t.o.task.scale == 0) t.o.task.scale = t.model->arch.scale;
    if (check_options(&t.o, t.model->arch.scale, err) || set_paths(&t, err)) goto done;
    if (file_exists(t.checkpoint_path) || file_exists(t.model_path)) {
        nsr_fail(err, "%s already holds a training run (resume it, or choose another folder)",
                 opts->run_dir);
        goto done;
    }
    if (make_folder(opts->run_dir, err) || open_log(&t, 1, err) ||
        nn_adam_init(&t.adam, t.model->nparams, err))
        goto done;
    rc = run(&t, err);
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
    o->seed = (uint64_t)seed;
    o->batch = (int)batch;
    o->patch = (int)patch;
    if (nsr_model_file_meta_type(f, "train.loss") == NSR_META_FLOAT)
        nsr_model_file_get_float(f, "train.loss", &t->loss, err);
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

int nsr_train_resume(const char *run_dir, nsr_train_callback cb, void *ctx, nsr_error *err) {
    trainer t;
    trainer_init(&t, cb, ctx);
    nsr_model_file *f = NULL;
    int rc = -1;
    if (!(t.o.run_dir = own_copy(&t, run_dir)) || set_paths(&t, err)) goto done;
    if (!file_exists(t.checkpoint_path)) {
        nsr_fail(err, "%s: no training run to resume (no %s)", run_dir, CHECKPOINT_FILE);
        goto done;
    }
    if (nsr_model_file_load(&f, t.checkpoint_path, err) || read_checkpoint(&t, f, err)) goto done;
    nsr_model_file_free(f);
    f = NULL;
    if (t.iter >= t.o.iterations) {
        nsr_fail(err, "%s: the run is already finished (%ld iterations)", run_dir, t.o.iterations);
        goto done;
    }
    if (cut_log(&t, err) || open_log(&t, 0, err)) goto done;
    rc = run(&t, err);
done:
    nsr_model_file_free(f);
    trainer_free(&t);
    return rc;
}
