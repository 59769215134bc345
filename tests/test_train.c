/* test_train.c - training: patches (alignment with the bicubic LR, flips, borders, grey to RGB,
 * noise and JPEG degradations), batches as a pure function of (seed, iteration) also through the
 * loader thread, a tiny network that learns, a stopped-and-resumed run that is bit for bit the
 * uninterrupted one, a non-finite loss that keeps the last checkpoint, and the errors.
 * Everything runs on small pictures the test draws itself. */
#include <ftw.h>
#include <omp.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "nn/engine.h"
#include "train/patches.h"

/* ---------------------------------------------------------------- fixtures */

static char root[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A new empty folder under root. */
static const char *folder(const char *name) {
    static char paths[32][128];
    static int n;
    char *p = paths[n++ % 32];
    snprintf(p, 128, "%s/%s", root, name);
    mkdir(p, 0777);
    return p;
}

/* Writes the built-in test picture at w x h (grey: its green plane) as dir/name. */
static int write_picture(const char *dir, const char *name, int w, int h, int grey) {
    nsr_image img, out;
    nsr_error err;
    char path[256];
    if (nsr_render_test_image(&img, w, h, &err)) return -1;
    if (grey) {
        if (nsr_image_create(&out, w, h, 1, 0, &err)) return -1;
        memcpy(out.data, nsr_image_plane(&img, 1), (size_t)w * h * sizeof(float));
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = nsr_image_write(grey ? &out : &img, path, NULL, &err);
    nsr_image_free(&img);
    if (grey) nsr_image_free(&out);
    return rc;
}

/* The training set of most tests: three colour pictures of different sizes and a grey one. */
static const char *train_dir(void) {
    static const char *dir;
    if (!dir) {
        dir = folder("train");
        write_picture(dir, "a.png", 64, 48, 0);
        write_picture(dir, "b.png", 51, 57, 0);
        write_picture(dir, "c.webp", 40, 40, 0);
        write_picture(dir, "d.png", 45, 38, 1);
    }
    return dir;
}

static const char *val_dir(void) {
    static const char *dir;
    if (!dir) {
        dir = folder("val");
        write_picture(dir, "v1.png", 36, 30, 0);
        write_picture(dir, "v2.png", 30, 26, 1);
    }
    return dir;
}

static const nsr_arch tiny_arch = {.blocks = 1, .features = 8, .width_mult = 2, .groups = 2,
                                   .cardinals = 2, .scale = 2, .shared_selection = 0};

static nsr_train_options tiny_options(const char *run) {
    static const char *dirs[1];
    dirs[0] = train_dir();
    nsr_train_options o;
    nsr_train_defaults(&o);
    o.arch = tiny_arch;
    o.task = (nsr_task){.kind = NSR_TASK_SR, .scale = 2};
    o.data_dirs = dirs;
    o.data_dir_count = 1;
    o.run_dir = run;
    o.patch = 8;
    o.batch = 3;
    o.iterations = 24;
    o.lr = 2e-3;
    o.seed = 7;
    o.checkpoint_every = 5;
    o.val_every = 8;
    return o;
}

static const nsr_task sr2 = {.kind = NSR_TASK_SR, .scale = 2};

/* ---------------------------------------------------------------- patches */

/* What copy_patch should give: pixel (y, x) of the transformed window. */
static float expected_at(const nsr_image *img, int c, int x0, int y0, int size, unsigned flips,
                         int y, int x) {
    int u = flips & TR_TRANSPOSE ? x : y, v = flips & TR_TRANSPOSE ? y : x;
    if (flips & TR_VFLIP) u = size - 1 - u;
    if (flips & TR_HFLIP) v = size - 1 - v;
    return nsr_image_plane(img, c)[(size_t)(y0 + u) * img->width + x0 + v];
}

static void test_patches_come_from_the_pairs(void) {
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &sr2, 8, 3, NULL, NULL, &err) == 0, "%s", err.message);
    CHECK(ds.total == 4 && ds.count == 4, "%zu of %zu images kept", ds.count, ds.total);
    float lr[3 * 8 * 8], hr[3 * 16 * 16];
    for (int i = 0; i < 40; i++) {
        tr_origin o;
        REQUIRE(tr_make_sample(&ds, 99, 3, 40, i, lr, hr, &o, &err) == 0, "%s", err.message);
        const tr_pair *p = &ds.pairs[o.image];
        /* the LR is the bicubic LR made once: the HR cropped to even sizes, halved */
        CHECK(p->lr.width == p->hr.width / 2 && p->lr.height == p->hr.height / 2 &&
              p->hr.width % 2 == 0 && p->hr.height % 2 == 0, "LR %dx%d of HR %dx%d",
              p->lr.width, p->lr.height, p->hr.width, p->hr.height);
        /* the 2-pixel LR border is never sampled */
        CHECK(o.x >= 2 && o.y >= 2 && o.x + 8 <= p->lr.width - 2 && o.y + 8 <= p->lr.height - 2,
              "window at (%d, %d) in %dx%d", o.x, o.y, p->lr.width, p->lr.height);
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) {
                    if (y < 8 && x < 8)
                        bad += lr[(c * 8 + y) * 8 + x] != expected_at(&p->lr, c, o.x, o.y, 8, o.flips, y, x);
                    bad += hr[(c * 16 + y) * 16 + x] != expected_at(&p->hr, c, 2 * o.x, 2 * o.y, 16, o.flips, y, x);
                }
        CHECK(bad == 0, "sample %d: %d samples differ from the window", i, bad);
    }
    tr_dataset_free(&ds);
}

/* The LR patch is the bicubic downscale of its HR patch away from the patch's edges (where the
 * kernel would reach outside): the two are aligned, flips and transposition included. */
static void test_patches_aligned(void) {
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &sr2, 12, 3, NULL, NULL, &err) == 0, "%s", err.message);
    float lr[3 * 12 * 12], hr[3 * 24 * 24];
    double worst = 0;
    for (int i = 0; i < 16; i++) {
        REQUIRE(tr_make_sample(&ds, 5, 0, 16, i, lr, hr, NULL, &err) == 0, "%s", err.message);
        nsr_image h, l;
        REQUIRE(nsr_image_create(&h, 24, 24, 3, 0, &err) == 0, "%s", err.message);
        memcpy(h.data, hr, sizeof hr);
        REQUIRE(nsr_resize_bicubic(&l, &h, 12, 12, 0.5, 0.5, 1, &err) == 0, "%s", err.message);
        for (int c = 0; c < 3; c++)
            for (int y = 3; y < 9; y++)
                for (int x = 3; x < 9; x++)
                    worst = fmax(worst, fabs(lr[(c * 12 + y) * 12 + x] - nsr_image_plane(&l, c)[y * 12 + x]));
        nsr_image_free(&h);
        nsr_image_free(&l);
    }
    /* the passes' order swaps under transposition: one 8-bit level at most */
    CHECK(worst <= 1.01 / 255, "LR and downscaled HR patch differ by %g", worst * 255);
    tr_dataset_free(&ds);
}

static void test_flips_and_images_are_fair(void) {
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &sr2, 4, 3, NULL, NULL, &err) == 0, "%s", err.message);
    int flips[3] = {0, 0, 0}, images[4] = {0, 0, 0, 0};
    const int n = 2000;
    float lr[3 * 4 * 4], hr[3 * 8 * 8];
    for (int i = 0; i < n; i++) {
        tr_origin o;
        REQUIRE(tr_make_sample(&ds, 1, i / 16, 16, i % 16, lr, hr, &o, &err) == 0, "%s", err.message);
        for (int b = 0; b < 3; b++) flips[b] += (o.flips >> b) & 1;
        images[o.image]++;
    }
    for (int b = 0; b < 3; b++)
        CHECK(abs(flips[b] - n / 2) < n / 20, "flip %d taken %d times of %d", b, flips[b], n);
    for (int i = 0; i < 4; i++)
        CHECK(abs(images[i] - n / 4) < n / 20, "image %d drawn %d times of %d", i, images[i], n);
    tr_dataset_free(&ds);
}

static void test_grey_is_replicated(void) {
    const char *dir = folder("grey");
    REQUIRE(write_picture(dir, "g.png", 40, 30, 1) == 0, "cannot write");
    tr_dataset ds;
    nsr_error err;
    REQUIRE(tr_dataset_load(&ds, &dir, 1, &sr2, 6, 3, NULL, NULL, &err) == 0, "%s", err.message);
    const nsr_image *h = &ds.pairs[0].hr, *l = &ds.pairs[0].lr;
    REQUIRE(h->channels == 3 && l->channels == 3, "%d and %d channels", h->channels, l->channels);
    size_t n = (size_t)h->width * h->height, m = (size_t)l->width * l->height;
    CHECK(!memcmp(h->data, h->data + n, n * sizeof(float)) &&
          !memcmp(h->data, h->data + 2 * n, n * sizeof(float)), "HR planes differ");
    CHECK(!memcmp(l->data, l->data + m, m * sizeof(float)) &&
          !memcmp(l->data, l->data + 2 * m, m * sizeof(float)), "LR planes differ");
    tr_dataset_free(&ds);
}

static void test_small_images_skipped(void) {
    const char *dir = folder("small");
    REQUIRE(write_picture(dir, "big.png", 40, 40, 0) == 0 && write_picture(dir, "tiny.png", 27, 40, 0) == 0,
            "cannot write");
    tr_dataset ds;
    nsr_error err;
    /* patch 10 at x2 needs 14 LR pixels: 28 HR */
    REQUIRE(tr_dataset_load(&ds, &dir, 1, &sr2, 10, 3, NULL, NULL, &err) == 0, "%s", err.message);
    CHECK(ds.total == 2 && ds.count == 1 && ds.pairs[0].hr.width == 40, "%zu of %zu kept", ds.count, ds.total);
    tr_dataset_free(&ds);
    CHECK(tr_dataset_load(&ds, &dir, 1, &sr2, 17, 3, NULL, NULL, &err) != 0, "no image is large enough");
    CHECK(strstr(err.message, "large enough") && strstr(err.message, "42x42"), "message: %s", err.message);
}

static void test_noise_patches(void) {
    const nsr_task task = {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 25};
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &task, 16, 3, NULL, NULL, &err) == 0, "%s", err.message);
    CHECK(ds.count == 4, "%zu images large enough for 16 + 4", ds.count);
    enum { B = 8, N = B * 3 * 16 * 16 };
    static float lr[N], hr[N], lr2[N], hr2[N];
    REQUIRE(tr_make_batch(&ds, 3, 0, B, 0, B, lr, hr, &err) == 0, "%s", err.message);
    REQUIRE(tr_make_batch(&ds, 3, 1, B, 0, B, lr2, hr2, &err) == 0, "%s", err.message);
    double sum = 0, sum2 = 0;
    int outside = 0, same = 0;
    for (int i = 0; i < N; i++) {
        const double d = lr[i] - hr[i];
        sum += d;
        sum2 += d * d;
        outside += lr[i] < 0 || lr[i] > 1;
        same += lr[i] - hr[i] == lr2[i] - hr2[i];
    }
    const double sd = sqrt(sum2 / N - (sum / N) * (sum / N)) * 255;
    CHECK(fabs(sd - 25) < 1.5, "noise sd %.3f, not 25", sd);
    CHECK(outside > 0, "noise was clipped");
    CHECK(same < N / 100, "the noise repeats between batches (%d equal)", same);
    tr_dataset_free(&ds);
}

static void test_jpeg_patches(void) {
    const nsr_task task = {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 20};
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &task, 16, 3, NULL, NULL, &err) == 0, "%s", err.message);
    float lr[3 * 16 * 16], hr[3 * 16 * 16];
    REQUIRE(tr_make_sample(&ds, 3, 2, 4, 1, lr, hr, NULL, &err) == 0, "%s", err.message);
    nsr_image clean, coded;
    REQUIRE(nsr_image_create(&clean, 16, 16, 3, 0, &err) == 0, "%s", err.message);
    memcpy(clean.data, hr, sizeof hr);
    REQUIRE(nsr_jpeg_degrade(&coded, &clean, 20, &err) == 0, "%s", err.message);
    CHECK(!memcmp(coded.data, lr, sizeof lr), "LR is not the patch's JPEG round trip");
    CHECK(memcmp(hr, lr, sizeof lr), "JPEG changed nothing");
    nsr_image_free(&clean);
    nsr_image_free(&coded);
    tr_dataset_free(&ds);
}

/* Blind training: each patch's level drawn from the range, uniformly (noise sigma 0..50: the
 * patches' residual deviations spread over the range), and within it (JPEG 10..90: every
 * patch is the round trip at some quality of the range). */
static void test_blind_levels(void) {
    const nsr_task noise = {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 0, .noise_sigma_max = 50};
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &noise, 16, 3, NULL, NULL, &err) == 0, "%s", err.message);
    enum { B = 32, P = 3 * 16 * 16 };
    static float lr[B * P], hr[B * P];
    REQUIRE(tr_make_batch(&ds, 5, 0, B, 0, B, lr, hr, &err) == 0, "%s", err.message);
    double lo = 1e9, hi = 0;
    for (int b = 0; b < B; b++) {
        double sum2 = 0;
        for (int i = 0; i < P; i++) sum2 += (double)(lr[b * P + i] - hr[b * P + i]) * (lr[b * P + i] - hr[b * P + i]);
        const double sd = sqrt(sum2 / P) * 255;
        lo = fmin(lo, sd), hi = fmax(hi, sd);
    }
    CHECK(lo < 10 && hi > 38 && hi < 56, "patch noise deviations %.1f..%.1f for sigma 0..50", lo, hi);
    tr_dataset_free(&ds);

    const nsr_task jpeg = {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 10, .jpeg_quality_max = 90};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &jpeg, 16, 3, NULL, NULL, &err) == 0, "%s", err.message);
    int qmin = 101, qmax = 0;
    for (int b = 0; b < 12; b++) {
        REQUIRE(tr_make_sample(&ds, 5, 0, 12, b, lr, hr, NULL, &err) == 0, "%s", err.message);
        nsr_image clean;
        REQUIRE(nsr_image_create(&clean, 16, 16, 3, 0, &err) == 0, "%s", err.message);
        memcpy(clean.data, hr, P * sizeof(float));
        int found = 0;
        for (int q = 10; q <= 90 && !found; q++) {
            nsr_image coded;
            REQUIRE(nsr_jpeg_degrade(&coded, &clean, q, &err) == 0, "%s", err.message);
            if (!memcmp(coded.data, lr, P * sizeof(float))) {
                found = q;
                qmin = q < qmin ? q : qmin, qmax = q > qmax ? q : qmax;
            }
            nsr_image_free(&coded);
        }
        CHECK(found, "patch %d is no round trip at a quality of 10..90", b);
        nsr_image_free(&clean);
    }
    CHECK(qmax - qmin > 30, "qualities %d..%d: not spread over 10..90", qmin, qmax);
    tr_dataset_free(&ds);
}

/* Batch t depends on (seed, t) only, whoever makes it, in any order. */
static void test_batches_pure_and_prefetched(void) {
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &sr2, 8, 3, NULL, NULL, &err) == 0, "%s", err.message);
    enum { B = 4, L = B * 3 * 8 * 8, H = 4 * L };
    static float lr[12][L], hr[12][H], lr2[L], hr2[H];
    for (int t = 11; t >= 0; t--)
        REQUIRE(tr_make_batch(&ds, 42, t, B, 0, B, lr[t], hr[t], &err) == 0, "%s", err.message);
    REQUIRE(tr_make_batch(&ds, 42, 5, B, 0, B, lr2, hr2, &err) == 0, "%s", err.message);
    CHECK(!memcmp(lr2, lr[5], sizeof lr2) && !memcmp(hr2, hr[5], sizeof hr2), "batch 5 changed");
    CHECK(memcmp(lr[4], lr[5], sizeof lr2), "batches 4 and 5 are equal");
    REQUIRE(tr_make_batch(&ds, 43, 5, B, 0, B, lr2, hr2, &err) == 0, "%s", err.message);
    CHECK(memcmp(lr2, lr[5], sizeof lr2), "the seed changes nothing");
    tr_loader ld;
    REQUIRE(tr_loader_start(&ld, &ds, 42, B, 0, B, 3, 12, &err) == 0, "%s", err.message);
    for (long t = 3; t < 12; t++) {
        const float *x, *y;
        if (tr_loader_get(&ld, t, &x, &y, &err)) {
            CHECK(0, "batch %ld: %s", t, err.message);
            break;
        }
        CHECK(!memcmp(x, lr[t], sizeof lr2) && !memcmp(y, hr[t], sizeof hr2),
              "the loader's batch %ld differs", t);
        tr_loader_release(&ld, t);
    }
    const float *x, *y;
    CHECK(tr_loader_get(&ld, 12, &x, &y, &err) != 0, "batch past the end");
    tr_loader_stop(&ld);
    /* stopped while the thread waits for a free slot */
    REQUIRE(tr_loader_start(&ld, &ds, 42, B, 0, B, 0, 1000, &err) == 0, "%s", err.message);
    REQUIRE(tr_loader_get(&ld, 0, &x, &y, &err) == 0, "%s", err.message);
    tr_loader_stop(&ld);
    tr_dataset_free(&ds);
}

/* ---------------------------------------------------------------- training runs */

/* What a run reported, step by step. */
typedef struct record {
    int steps;
    long iteration[64];
    double loss[64], val[64];
    float lr[64];
    int stop_at;         /* ask to stop after this iteration (0: never) */
    int stop_loading;    /* ask to stop while loading */
    int starts;
    long start_iteration;
    size_t params, skipped;
} record;

static int recorder(void *ctx, const nsr_train_progress *p) {
    record *r = ctx;
    if (p->event == NSR_TRAIN_LOADING) return r->stop_loading;
    if (p->event == NSR_TRAIN_START) {
        r->starts++;
        r->start_iteration = p->iteration;
        r->params = p->params;
        r->skipped = p->images_skipped;
        return 0;
    }
    if (r->steps < 64) {
        r->iteration[r->steps] = p->iteration;
        r->loss[r->steps] = p->loss;
        r->val[r->steps] = p->val_psnr;
        r->lr[r->steps] = (float)p->lr;
        r->steps++;
    }
    return r->stop_at && p->iteration == r->stop_at;
}

static char *read_text(const char *dir, const char *name) {
    char path[256];
    uint8_t *bytes;
    size_t size;
    nsr_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (nsr_read_file(path, &bytes, &size, &err)) return NULL;
    char *s = realloc(bytes, size + 1);
    if (!s) {
        free(bytes);
        return NULL;
    }
    s[size] = 0;
    return s;
}

/* The log without its seconds column (the only one that may differ between runs). */
static char *log_without_time(const char *dir) {
    char *s = read_text(dir, "log.csv");
    if (!s) return NULL;
    char *out = s;
    for (const char *line = s; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) + 1 : strlen(line);
        int comma = 0;
        for (size_t i = 0; i < len; i++) {
            comma += line[i] == ',';
            if (comma != 3 || line[i] == ',') *out++ = line[i];
        }
        line += len;
    }
    *out = 0;
    return s;
}

static nsr_model *load_model(const char *dir, const char *name) {
    char path[256];
    nsr_model *m;
    nsr_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return nsr_model_load(&m, path, &err) ? NULL : m;
}

static int64_t checkpoint_int(const char *dir, const char *key) {
    char path[256];
    nsr_model_file *f;
    nsr_error err;
    int64_t v = -1;
    snprintf(path, sizeof path, "%s/checkpoint.nsr", dir);
    if (nsr_model_file_load(&f, path, &err)) return -2;
    nsr_model_file_get_int(f, key, &v, &err);
    nsr_model_file_free(f);
    return v;
}

static void test_tiny_network_learns(void) {
    const char *run = folder("learn");
    nsr_train_options o = tiny_options(run);
    o.iterations = 60;
    o.batch = 4;
    o.lr = 5e-3;
    o.val_every = 0;
    o.checkpoint_every = 0;
    record r = {0};
    nsr_error err;
    REQUIRE(nsr_train(&o, recorder, &r, &err) == 0, "%s", err.message);
    REQUIRE(r.steps == 60 && r.starts == 1, "%d steps, %d starts", r.steps, r.starts);
    CHECK(r.params == nsr_arch_param_count(&tiny_arch), "%zu parameters", r.params);
    double first = 0, last = 0;
    for (int i = 0; i < 10; i++) first += r.loss[i], last += r.loss[50 + i];
    CHECK(last < 0.7 * first, "the loss went from %.4f to %.4f", first / 10, last / 10);
    /* lr x0.2 after 2/3 (40) and 5/6 (50) of the steps: the update of step t uses t - 1 done */
    CHECK(r.lr[39] == 5e-3f && r.lr[40] == (float)(5e-3 * 0.2) && r.lr[49] == r.lr[40] &&
              r.lr[50] == (float)(5e-3 * 0.2 * 0.2), "schedule %g %g %g %g", r.lr[39], r.lr[40],
          r.lr[49], r.lr[50]);
    /* model.nsr is the trained network; the checkpoint is at the end */
    nsr_model *m = load_model(run, "model.nsr"), *c = load_model(run, "checkpoint.nsr");
    REQUIRE(m && c, "model.nsr or checkpoint.nsr does not load");
    CHECK(!memcmp(m->params, c->params, m->nparams * sizeof(float)), "model and checkpoint differ");
    CHECK(checkpoint_int(run, "train.iteration") == 60, "checkpoint at %lld",
          (long long)checkpoint_int(run, "train.iteration"));
    char *log = read_text(run, "log.csv");
    int lines = 0;
    for (const char *p = log; p && *p; p++) lines += *p == '\n';
    CHECK(log && !strncmp(log, "iteration,loss,lr,seconds,val_psnr\n1,", 37) && lines == 61,
          "log.csv has %d lines", lines);
    free(log);
    nsr_model_free(m);
    nsr_model_free(c);
}

/* The heart of resuming: stopped at 9, resumed (with another thread count), then stopped at 17
 * after rows past the checkpoint were logged, and resumed again - every step's loss, the log and
 * the final network are bit for bit those of the run that was never stopped. */
static void test_resume_is_exact(void) {
    const char *a = folder("whole"), *b = folder("stopped");
    nsr_train_options o = tiny_options(a);
    const char *dirs[2] = {train_dir(), val_dir()}; /* two folders, for the resume to restore */
    o.data_dirs = dirs;
    o.data_dir_count = 2;
    o.val_dir = val_dir();
    record whole = {0}, part = {0};
    nsr_error err;
    REQUIRE(nsr_train(&o, recorder, &whole, &err) == 0, "%s", err.message);
    REQUIRE(whole.steps == 24, "%d steps", whole.steps);
    CHECK(!isnan(whole.val[7]) && !isnan(whole.val[15]) && !isnan(whole.val[23]) &&
          isnan(whole.val[8]) && whole.val[23] > 10, "validation PSNR %g %g %g", whole.val[7],
          whole.val[15], whole.val[23]);

    o.run_dir = b;
    part.stop_at = 9;
    REQUIRE(nsr_train(&o, recorder, &part, &err) == NSR_TRAIN_STOPPED, "not stopped: %s", err.message);
    CHECK(checkpoint_int(b, "train.iteration") == 9, "checkpoint at %lld",
          (long long)checkpoint_int(b, "train.iteration"));
    const int threads = omp_get_max_threads();
    omp_set_num_threads(threads > 1 ? 1 : 2);
    part.stop_at = 17;
    int rc = nsr_train_resume(b, NULL, recorder, &part, &err);
    omp_set_num_threads(threads);
    REQUIRE(rc == NSR_TRAIN_STOPPED, "resume: %s", err.message);
    CHECK(part.start_iteration == 9, "resumed at %ld", part.start_iteration);
    /* a session killed after logging past its checkpoint, mid-line */
    char path[256];
    snprintf(path, sizeof path, "%s/log.csv", b);
    FILE *f = fopen(path, "a");
    REQUIRE(f, "cannot append to the log");
    fputs("18,0.5,0.001,1.0,\n19,0.2", f);
    fclose(f);
    part.stop_at = 0;
    REQUIRE(nsr_train_resume(b, NULL, recorder, &part, &err) == 0, "resume: %s", err.message);
    REQUIRE(part.steps == 24 && part.starts == 3, "%d steps in %d sessions", part.steps, part.starts);
    int same = 1;
    for (int i = 0; i < 24; i++)
        same &= part.iteration[i] == i + 1 && part.loss[i] == whole.loss[i] &&
                part.lr[i] == whole.lr[i] &&
                (part.val[i] == whole.val[i] || (isnan(part.val[i]) && isnan(whole.val[i])));
    CHECK(same, "the resumed run's steps differ from the uninterrupted run's");
    char *la = log_without_time(a), *lb = log_without_time(b);
    CHECK(la && lb && !strcmp(la, lb), "logs differ:\n%s\n---\n%s", la ? la : "", lb ? lb : "");
    free(la);
    free(lb);
    nsr_model *ma = load_model(a, "model.nsr"), *mb = load_model(b, "model.nsr");
    REQUIRE(ma && mb, "no model.nsr");
    CHECK(!memcmp(ma->params, mb->params, ma->nparams * sizeof(float)), "final networks differ");
    nsr_model_free(ma);
    nsr_model_free(mb);
    CHECK(nsr_train_resume(b, NULL, NULL, NULL, &err) != 0 && strstr(err.message, "already finished"),
          "resuming a finished run: %s", err.message);
}

/* A grey network's data: every image as its MATLAB Y (the grey tables' convention), patches of
 * one plane; a tiny grey denoiser trains. */
static void test_grey_data(void) {
    const nsr_task noise = {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 25};
    tr_dataset ds;
    nsr_error err;
    const char *dirs[1] = {train_dir()};
    REQUIRE(tr_dataset_load(&ds, dirs, 1, &noise, 16, 1, NULL, NULL, &err) == 0, "%s", err.message);
    nsr_image rgb, y;
    const nsr_image *hr = &ds.pairs[0].hr;
    CHECK(hr->channels == 1, "%d planes", hr->channels);
    nsr_path_list list;
    REQUIRE(nsr_list_images(&list, train_dir(), &err) == 0, "%s", err.message);
    REQUIRE(nsr_image_read(&rgb, list.paths[0], NULL, &err) == 0, "%s", err.message);
    REQUIRE(nsr_image_luma(&y, &rgb, &err) == 0, "%s", err.message);
    CHECK(y.width == hr->width && !memcmp(y.data, hr->data, (size_t)y.width * y.height * sizeof(float)),
          "the grey image is not the MATLAB Y of %s", list.paths[0]);
    nsr_image_free(&rgb), nsr_image_free(&y), nsr_path_list_free(&list);
    tr_dataset_free(&ds);
    nsr_train_options o = tiny_options(folder("grey"));
    o.task = noise;
    o.arch.scale = 1, o.arch.channels = 1;
    REQUIRE(nsr_train(&o, NULL, NULL, &err) == 0, "%s", err.message);
    nsr_model *m = load_model(folder("grey"), "model.nsr");
    REQUIRE(m, "no model.nsr");
    CHECK(m->arch.channels == 1, "the model has %d planes", m->arch.channels);
    nsr_model_free(m);
}

/* Training for hard selection: the temperature annealed from 1 to 0.2 over the first half, the
 * forward hard from 60% of the run on, Gumbel noise and the load-balancing term throughout.
 * Stopped inside the annealing
 * and resumed, it is bit for bit the uninterrupted run (the selection of a step is a function
 * of the step); it differs from the reference's softmax training, and the model says how it
 * selects: its last temperature and that it ended hard. */
static void test_selection_schedule(void) {
    const char *a = folder("select_whole"), *b = folder("select_stopped"), *c = folder("select_ref");
    nsr_train_options o = tiny_options(a);
    o.select_t0 = 1, o.select_t1 = 0.2, o.select_anneal = 0.5, o.select_hard_from = 0.6;
    o.select_gumbel = 0.3;
    o.select_balance = 0.05;
    record whole = {0}, part = {0}, ref = {0};
    nsr_error err;
    REQUIRE(nsr_train(&o, recorder, &whole, &err) == 0, "%s", err.message);
    o.run_dir = b;
    part.stop_at = 7;
    REQUIRE(nsr_train(&o, recorder, &part, &err) == NSR_TRAIN_STOPPED, "not stopped: %s", err.message);
    part.stop_at = 0;
    REQUIRE(nsr_train_resume(b, NULL, recorder, &part, &err) == 0, "resume: %s", err.message);
    int same = part.steps == 24;
    for (int i = 0; same && i < 24; i++) same = part.loss[i] == whole.loss[i];
    CHECK(same, "the resumed run's losses differ from the uninterrupted run's");
    nsr_train_options r = tiny_options(c);
    REQUIRE(nsr_train(&r, recorder, &ref, &err) == 0, "%s", err.message);
    CHECK(ref.loss[0] != whole.loss[0] && ref.loss[23] != whole.loss[23],
          "the schedule changed nothing: losses %g %g as the reference's", whole.loss[0], whole.loss[23]);
    nsr_model *ma = load_model(a, "model.nsr"), *mb = load_model(b, "model.nsr");
    REQUIRE(ma && mb, "no model.nsr");
    CHECK(!memcmp(ma->params, mb->params, ma->nparams * sizeof(float)), "final networks differ");
    CHECK(ma->select_temperature == 0.2f && ma->trained_hard == 1, "model selects at T %g, trained hard %d",
          (double)ma->select_temperature, ma->trained_hard);
    nsr_model_free(ma);
    nsr_model_free(mb);
}

/* The batch in shards (a distributed run's unit, tests/cli_mpi.sh): the same loss as the batch
 * in one piece at the first step, where only the order of the additions differs, and a run
 * that stays within float rounding of it; the options checked. */
static void test_shards(void) {
    const char *a = folder("shards_one"), *b = folder("shards_four");
    nsr_train_options o = tiny_options(a);
    o.batch = 8;
    record one = {0}, four = {0};
    nsr_error err;
    REQUIRE(nsr_train(&o, recorder, &one, &err) == 0, "%s", err.message);
    o.run_dir = b;
    o.shards = 4;
    REQUIRE(nsr_train(&o, recorder, &four, &err) == 0, "%s", err.message);
    CHECK(fabs(one.loss[0] - four.loss[0]) <= 1e-7 * one.loss[0], "first loss %.9g against %.9g",
          four.loss[0], one.loss[0]);
    CHECK(fabs(one.loss[23] - four.loss[23]) <= 1e-3 * one.loss[23], "last loss %.9g against %.9g",
          four.loss[23], one.loss[23]);
    CHECK(checkpoint_int(b, "train.shards") == 4, "shards not kept in the checkpoint");
    o.run_dir = folder("shards_bad");
    o.shards = 3;
    CHECK(nsr_train(&o, NULL, NULL, &err) < 0 && strstr(err.message, "power of 2"), "3 shards: %s", err.message);
    o.shards = 16;
    CHECK(nsr_train(&o, NULL, NULL, &err) < 0 && strstr(err.message, "dividing the batch"), "16 shards of 8: %s", err.message);
}

/* A learning rate so large that the network overflows: the run fails on the first non-finite
 * loss, and the newest checkpoint is the last good step. */
static void test_non_finite_loss_stops(void) {
    const char *run = folder("nan");
    nsr_train_options o = tiny_options(run);
    o.lr = 1e30;
    o.checkpoint_every = 1;
    record r = {0};
    nsr_error err;
    REQUIRE(nsr_train(&o, recorder, &r, &err) != 0, "a run at lr 1e30 finished");
    CHECK(strstr(err.message, "the loss is") && strstr(err.message, "checkpoint.nsr"), "message: %s", err.message);
    CHECK(r.steps >= 1 && r.steps < 24, "%d steps", r.steps);
    CHECK(checkpoint_int(run, "train.iteration") == r.steps, "checkpoint at %lld after %d steps",
          (long long)checkpoint_int(run, "train.iteration"), r.steps);
    char path[256];
    snprintf(path, sizeof path, "%s/model.nsr", run);
    CHECK(access(path, F_OK) != 0, "model.nsr written");
    nsr_model *c = load_model(run, "checkpoint.nsr");
    CHECK(c != NULL, "the kept checkpoint does not load (non-finite parameters?)");
    nsr_model_free(c);
}

static void test_denoise_and_jpeg_runs(void) {
    const nsr_task tasks[2] = {{.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 15}, {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 30}};
    const char *names[2] = {"noise", "jpeg"};
    for (int i = 0; i < 2; i++) {
        nsr_train_options o = tiny_options(folder(names[i]));
        o.arch.scale = 1;
        o.task = tasks[i];
        o.iterations = 4;
        o.val_dir = val_dir();
        o.val_every = 2;
        record r = {0};
        nsr_error err;
        REQUIRE(nsr_train(&o, recorder, &r, &err) == 0, "%s: %s", names[i], err.message);
        CHECK(r.steps == 4 && isfinite(r.val[3]), "%s: %d steps, PSNR %g", names[i], r.steps, r.val[3]);
        char path[256];
        snprintf(path, sizeof path, "%s/model.nsr", o.run_dir);
        nsr_model_file *f;
        const char *task = "";
        REQUIRE(nsr_model_file_load(&f, path, &err) == 0, "%s", err.message);
        nsr_model_file_get_string(f, "task", &task, &err);
        CHECK(!strcmp(task, i ? "jpeg" : "denoise"), "task '%s'", task);
        CHECK(nsr_model_file_find_tensor(f, "train.adam.m") == NULL, "model.nsr holds Adam's moments");
        nsr_model_file_free(f);
    }
}

/* A blind model is validated at the middle of its range: the logged value is the mean over the
 * validation images of nsr_eval_image at that one level (noise 10:30 -> 20, JPEG 20:61 -> 40). */
static void test_blind_validation_level(void) {
    const nsr_task blind[2] = {{.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 10, .noise_sigma_max = 30},
                               {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 20, .jpeg_quality_max = 61}};
    const nsr_task middle[2] = {{.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 20},
                                {.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = 40}};
    const char *names[2] = {"blindval-noise", "blindval-jpeg"};
    for (int i = 0; i < 2; i++) {
        nsr_train_options o = tiny_options(folder(names[i]));
        o.arch.scale = 1;
        o.task = blind[i];
        o.iterations = 2;
        o.val_dir = val_dir();
        o.val_every = 0;
        record r = {0};
        nsr_error err;
        REQUIRE(nsr_train(&o, recorder, &r, &err) == 0, "%s: %s", names[i], err.message);
        nsr_model *m = load_model(o.run_dir, "model.nsr");
        REQUIRE(m != NULL, "%s: no model", names[i]);
        nsr_restorer *network;
        const nsr_infer_options whole = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_WHOLE};
        nsr_path_list list;
        REQUIRE(nsr_model_restorer_create(&network, m, "test", &whole, &err) == 0 &&
                    nsr_list_images(&list, val_dir(), &err) == 0, "%s", err.message);
        double sum = 0;
        for (size_t k = 0; k < list.count; k++) {
            nsr_image gt;
            nsr_metrics metrics;
            REQUIRE(nsr_image_read(&gt, list.paths[k], NULL, &err) == 0 &&
                        nsr_eval_image(&gt, &middle[i], network, NSR_Y_PT_IR, nsr_seed_from_name(list.paths[k]),
                                       &metrics, &err) == 0, "%s", err.message);
            sum += metrics.psnr_y;
            nsr_image_free(&gt);
        }
        const double logged = r.val[r.steps - 1], expected = sum / (double)list.count;
        CHECK(fabs(logged - expected) < 1e-9, "%s: validation %.6f, at the middle level %.6f", names[i], logged, expected);
        nsr_path_list_free(&list);
        nsr_model_restorer_free(network);
        nsr_model_free(m);
    }
}

static void test_init_from_model(void) {
    const char *dir = folder("init");
    char path[256];
    snprintf(path, sizeof path, "%s/start.nsr", dir);
    nsr_model *m;
    nsr_error err;
    nsr_arch arch = tiny_arch;
    arch.shared_selection = 1;
    REQUIRE(nsr_model_create(&m, &arch, 3, &err) == 0 && nsr_model_save(m, path, &err) == 0, "%s", err.message);
    nsr_model_free(m);
    nsr_train_options o = tiny_options(folder("init/run"));
    o.init_path = path;
    o.task.scale = 0; /* the network's */
    o.iterations = 2;
    record r = {0};
    REQUIRE(nsr_train(&o, recorder, &r, &err) == 0, "%s", err.message);
    CHECK(r.params == nsr_arch_param_count(&arch), "%zu parameters, not the init model's", r.params);
}

/* --init with a task of another scale, or other image planes: the blocks (and the head when the
 * planes stay) are the init model's, the tail is new. A learning rate of 1e-30 leaves the
 * carried parameters as they were, to within what Adam's first step can add to zeros. */
static void test_init_with_new_tail(void) {
    const char *dir = folder("newtail");
    char path[256];
    snprintf(path, sizeof path, "%s/x2.nsr", dir);
    nsr_model *start;
    nsr_error err;
    REQUIRE(nsr_model_create(&start, &tiny_arch, 3, &err) == 0 && nsr_model_save(start, path, &err) == 0,
            "%s", err.message);
    const struct {
        const char *run;
        nsr_task task;
        int channels;
    } cases[] = {{"newtail/x3", {.kind = NSR_TASK_SR, .scale = 3}, 0},
                 {"newtail/grey", {.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = 25}, 1}};
    for (int c = 0; c < 2; c++) {
        nsr_train_options o = tiny_options(folder(cases[c].run));
        o.init_path = path;
        o.task = cases[c].task;
        o.init_channels = cases[c].channels;
        o.iterations = 1;
        o.lr = 1e-30;
        record r = {0};
        REQUIRE(nsr_train(&o, recorder, &r, &err) == 0, "%s: %s", cases[c].run, err.message);
        char model_path[256];
        snprintf(model_path, sizeof model_path, "%s/model.nsr", o.run_dir);
        nsr_model *m;
        REQUIRE(nsr_model_load(&m, model_path, &err) == 0, "%s", err.message);
        CHECK(m->arch.scale == (c ? 1 : 3) && m->arch.channels == (c ? 1 : 3), "%s: x%d, %d planes",
              cases[c].run, m->arch.scale, m->arch.channels);
        int carried = 0, fresh = 0;
        for (int i = 0; i < eng_model_num_tensors(m); i++) {
            const eng_tensor *t = eng_model_tensor(m, i), *s = eng_model_find_tensor(start, t->name);
            const int body = !strncmp(t->name, "blocks.", 7), head = !strncmp(t->name, "head.", 5);
            if (!(body || (head && !c))) {
                fresh++;
                continue;
            }
            double worst = 0;
            for (size_t k = 0; k < t->size; k++)
                worst = fmax(worst, fabs(m->params[t->offset + k] - start->params[s->offset + k]));
            CHECK(worst < 1e-20, "%s: %s moved by %g", cases[c].run, t->name, worst);
            carried++;
        }
        CHECK(carried > 0 && fresh > 0, "%s: %d tensors carried, %d new", cases[c].run, carried, fresh);
        nsr_model_free(m);
    }
    nsr_model_free(start);
}

static void test_stop_while_loading(void) {
    const char *run = folder("early");
    nsr_train_options o = tiny_options(run);
    record r = {.stop_loading = 1};
    nsr_error err;
    CHECK(nsr_train(&o, recorder, &r, &err) == NSR_TRAIN_STOPPED, "not stopped");
    CHECK(r.starts == 0 && r.steps == 0, "%d starts, %d steps", r.starts, r.steps);
    /* the run folder holds the run from its creation, so resume starts it at iteration 0 */
    record again = {0};
    CHECK(nsr_train_resume(run, NULL, recorder, &again, &err) == 0, "resume: %s", err.message);
    CHECK(again.steps == o.iterations, "%d steps after resuming, not %ld", again.steps, o.iterations);
}

static void test_errors(void) {
    nsr_error err;
    nsr_train_options o = tiny_options(folder("errors"));
    const char *missing[1] = {"/nonexistent/folder"}, *colon[1] = {"a:b"};
    struct {
        const char *what, *expect;
        nsr_train_options o;
    } cases[13];
    int n = 0;
    for (int i = 0; i < 13; i++) cases[i].o = o;
    cases[n].what = "no data", cases[n].expect = "no training data", cases[n].o.data_dir_count = 0, n++;
    cases[n].what = "missing data", cases[n].expect = "/nonexistent/folder", cases[n].o.data_dirs = missing, n++;
    cases[n].what = "colon", cases[n].expect = "separated", cases[n].o.data_dirs = colon, n++;
    cases[n].what = "patch", cases[n].expect = "patch size", cases[n].o.patch = 0, n++;
    cases[n].what = "batch", cases[n].expect = "batch size", cases[n].o.batch = 0, n++;
    cases[n].what = "lr", cases[n].expect = "learning rate", cases[n].o.lr = -1, n++;
    cases[n].what = "iterations", cases[n].expect = "iterations", cases[n].o.iterations = 0, n++;
    cases[n].what = "scale", cases[n].expect = "x3 super-resolution", cases[n].o.task.scale = 3, n++;
    cases[n].what = "denoise at x2", cases[n].expect = "scale 1", cases[n].o.task.kind = NSR_TASK_DENOISE, n++;
    cases[n].what = "arch", cases[n].expect = "cardinals", cases[n].o.arch.cardinals = 3, n++;
    cases[n].what = "no run", cases[n].expect = "no run folder", cases[n].o.run_dir = NULL, n++;
    cases[n].what = "bad init", cases[n].expect = "/nonexistent/m.nsr", cases[n].o.init_path = "/nonexistent/m.nsr", n++;
    cases[n].what = "patch too large", cases[n].expect = "large enough", cases[n].o.patch = 40, n++;
    for (int i = 0; i < n; i++) {
        err.message[0] = 0;
        CHECK(nsr_train(&cases[i].o, NULL, NULL, &err) < 0 && strstr(err.message, cases[i].expect),
              "%s: '%s'", cases[i].what, err.message);
    }
    /* a folder that holds a run already */
    const char *run = folder("taken");
    o.run_dir = run;
    o.iterations = 1;
    REQUIRE(nsr_train(&o, NULL, NULL, &err) == 0, "%s", err.message);
    CHECK(nsr_train(&o, NULL, NULL, &err) < 0 && strstr(err.message, "already holds"), "taken: %s", err.message);
    CHECK(nsr_train_resume("/nonexistent/run", NULL, NULL, NULL, &err) < 0 && strstr(err.message, "no training run"),
          "resume of nothing: %s", err.message);
    /* a damaged checkpoint */
    const char *bad = folder("damaged");
    char path[256];
    snprintf(path, sizeof path, "%s/checkpoint.nsr", bad);
    REQUIRE(nsr_write_file_atomic(path, "NSRM", 4, &err) == 0, "%s", err.message);
    CHECK(nsr_train_resume(bad, NULL, NULL, NULL, &err) < 0 && strstr(err.message, path), "damaged: %s", err.message);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/nsr_train_XXXXXX");
    if (!mkdtemp(root)) {
        printf("FAIL setup: cannot make a temporary folder\n");
        return 1;
    }
    RUN(test_patches_come_from_the_pairs);
    RUN(test_patches_aligned);
    RUN(test_flips_and_images_are_fair);
    RUN(test_grey_is_replicated);
    RUN(test_small_images_skipped);
    RUN(test_noise_patches);
    RUN(test_jpeg_patches);
    RUN(test_blind_levels);
    RUN(test_grey_data);
    RUN(test_batches_pure_and_prefetched);
    RUN(test_tiny_network_learns);
    RUN(test_resume_is_exact);
    RUN(test_selection_schedule);
    RUN(test_shards);
    RUN(test_non_finite_loss_stops);
    RUN(test_denoise_and_jpeg_runs);
    RUN(test_blind_validation_level);
    RUN(test_init_from_model);
    RUN(test_init_with_new_tail);
    RUN(test_stop_while_loading);
    RUN(test_errors);
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
