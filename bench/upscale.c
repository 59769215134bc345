/* upscale.c - `nsr bench upscale`: the main job with every bundled model: `nsr upscale` (this
 * program, as a child) reads a PNG of 1000x750 (the built-in picture, written first), restores
 * it with auto tiles and soft selection and writes the PNG. Its wall time is set against nsr's own conv3x3
 * 64->64 (`bench conv`'s N=1 256x256 case) timed in the same rounds, as rates of direct-conv
 * FLOPs (the job's convolutions on the image, without the tiles' overlap: the work a user asks
 * for); and against PyTorch running the same model on the same tiles (scripts/bench_torch.py
 * --upscale), whose output is compared with nsr's. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define JOB_W 1000
#define JOB_H 750
#define QUICK_W 96
#define QUICK_H 72
#define CONV_CH 64
#define CONV_SIDE 256
#define MAX_MODELS 16

/* Direct-conv GFLOP of the network on a w x h input: head, 2 convs per block (F -> F wm and
 * back, as mixed: one group's kernels per output channel), tail and skip. */
static double job_gflop(const nsr_arch *a, int w, int h) {
    const double C = a->channels == 1 ? 1 : 3, F = a->features, hid = F * a->width_mult;
    const double s2 = (double)a->scale * a->scale;
    const double per_pixel = C * F * 9 + a->blocks * 2.0 * F * hid * 9 + F * C * s2 * 9 +
                             (a->scale > 1 ? C * C * s2 * 25 : 0);
    return 2.0 * per_pixel * w * h * 1e-9;
}

/* One run of the job: `nsr upscale` itself, a child of this run (the same program), as a user
 * starts it: process, model file, PNG in, tiles, PNG out, all in its time. */
typedef struct upscale_job {
    char *argv[12]; /* argv[7]: the output */
} upscale_job;

static void run_job(void *ctx) {
    upscale_job *j = ctx;
    const char *out_path = j->argv[7];
    char *out;
    struct rusage ru;
    unlink(out_path); /* every run writes it anew: none is skipped or refused as existing */
    const int rc = bench_spawn(j->argv, 1, &out, &ru);
    if (rc || access(out_path, R_OK)) { /* out of memory or a full disk: the sizes are fixed */
        bench_error("nsr upscale exited with status %d without writing %s: %.300s", rc, out_path,
                    out ? out : "");
        exit(1);
    }
    free(out);
}

/* The bundled models: *.nsr in the models folder beside the build folder (BUILD/nsr ->
 * models/), else ./models; sorted paths into paths[], their count returned. */
static int find_models(char paths[][4200], int most) {
    char exe[4096], dir[4096] = "models";
    if (!bench_self_exe(exe, sizeof exe)) {
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(dir, sizeof dir, "%.4000s/../models", exe);
        }
    }
    DIR *d = opendir(dir);
    if (!d) d = opendir(strcpy(dir, "models"));
    int n = 0;
    for (struct dirent *e; d && n < most && (e = readdir(d));) {
        const size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".nsr"))
            snprintf(paths[n++], sizeof paths[0], "%.4000s/%s", dir, e->d_name);
    }
    if (d) closedir(d);
    qsort(paths, (size_t)n, sizeof paths[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

/* What scripts/bench_torch.py --upscale reported ("upscale MIN MEDIAN MAX_DIFF MAX_OUT"). */
typedef struct torch_upscale {
    char version[32], why[300];
    bench_stats stats;
    double out_diff, out_max;
    int have;
} torch_upscale;

/* Its line: "upscale MIN MEDIAN OUT_DIFF OUT_MAX". */
static void torch_upscale_line(void *ctx, const char *line) {
    torch_upscale *t = ctx;
    t->have |= sscanf(line, "upscale %lf %lf %lf %lf", &t->stats.min_ms, &t->stats.median_ms,
                      &t->out_diff, &t->out_max) == 4;
}

static void run_torch(const bench_opts *o, const char *model_path, const char *data_path,
                      int tile, torch_upscale *t) {
    char tile_arg[16];
    memset(t, 0, sizeof *t);
    snprintf(tile_arg, sizeof tile_arg, "%d", tile);
    const char *extra[] = {"--upscale", tile_arg, NULL};
    bench_torch_run(o, model_path, data_path, extra, torch_upscale_line, t, t->version,
                    sizeof t->version, t->why, sizeof t->why);
}

/* The input and nsr's float output (no 8-bit rounding), for the script to compare with. */
static int write_data(const char *path, const nsr_image *in, const nsr_image *out,
                      nsr_error *err) {
    nsr_model_file *f = nsr_model_file_new();
    if (!f) return nsr_fail(err, "out of memory");
    const int c = in->channels;
    const int rc =
        nsr_model_file_add_tensor(f, "upscale.x", 4, (int[]){1, c, in->height, in->width}, in->data, err) ||
        nsr_model_file_add_tensor(f, "upscale.out", 4, (int[]){1, c, out->height, out->width}, out->data, err) ||
        nsr_model_file_save(f, path, err);
    nsr_model_file_free(f);
    return rc ? -1 : 0;
}

/* The rows of one model; conv is the conv case, timed in the same rounds. */
static int bench_one(const bench_opts *o, const char *dir, const char *model_path,
                     const char *label, bench_case *conv, double conv_gflop) {
    nsr_model *m = NULL;
    nsr_image img = {0}, out = {0};
    nsr_error err;
    char in_path[4200], out_path[4200], data_path[4200];
    const int w = o->quick ? QUICK_W : JOB_W, h = o->quick ? QUICK_H : JOB_H;
    snprintf(in_path, sizeof in_path, "%s/in.png", dir);
    snprintf(out_path, sizeof out_path, "%s/out.png", dir);
    snprintf(data_path, sizeof data_path, "%s/data.nsr", dir);
    /* the command a user runs with this model: upscale, or for a model of scale 1 its task's
     * (nsr upscale refuses those: "use nsr dejpeg -m ...") */
    nsr_model_file *file = NULL;
    if (nsr_model_file_load(&file, model_path, &err) || nsr_model_from_file(&m, file, &err)) {
        nsr_model_file_free(file);
        return bench_error("%s: %s", model_path, err.message);
    }
    const char *task = NULL;
    if (nsr_model_file_get_string(file, "task", &task, &err)) task = NULL;
    const nsr_arch *a = nsr_model_arch(m);
    char *command = a->scale > 1 ? "upscale" : task && !strcmp(task, "jpeg") ? "dejpeg" : "denoise";
    nsr_model_file_free(file);
    const nsr_infer_options opts = {.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_AUTO};
    char exe[4096], threads[16];
    snprintf(threads, sizeof threads, "%d", o->threads);
    if (bench_self_exe(exe, sizeof exe)) {
        nsr_model_free(m);
        return bench_error("cannot find this program (/proc/self/exe)");
    }
    upscale_job job = {{exe, command, "-m", (char *)model_path, "-i", in_path, "-o", out_path,
                        "-j", threads, NULL}};
    /* the picture as the job reads it back (8 bits), grey for a grey network */
    nsr_image rgb = {0};
    int rc = nsr_render_test_image(&rgb, w, h, &err) ||
             (a->channels == 1 ? nsr_image_luma(&img, &rgb, &err) : nsr_image_copy(&img, &rgb, &err)) ||
             nsr_image_write(&img, in_path, NULL, &err);
    nsr_image_free(&rgb);
    nsr_image_free(&img);
    rc = rc || nsr_image_read(&img, in_path, NULL, &err) ||
         nsr_model_infer_tiled(m, &img, &out, &opts, &err) ||
         write_data(data_path, &img, &out, &err);
    nsr_image_free(&out);
    if (rc) {
        nsr_image_free(&img);
        nsr_model_free(m);
        return bench_error("%s", err.message);
    }
    bench_case cases[2] = {{run_job, &job, {0, 0}}, *conv};
    bench_time(cases, 2, o->reps);
    *conv = cases[1];
    torch_upscale t;
    if (o->no_reference) {
        memset(&t, 0, sizeof t);
        snprintf(t.why, sizeof t.why, "skipped (--no-reference)");
    } else {
        run_torch(o, model_path, data_path, nsr_infer_tile_size(m, NULL), &t);
    }
    const double gflop = job_gflop(a, w, h), per = gflop / conv_gflop;
    /* the conv's times for the job's FLOPs: the ratio is then the job's rate over the conv's */
    const bench_stats conv_rate = {conv->stats.min_ms * per, conv->stats.median_ms * per};
    char name[128], conv_ref[96], torch_ref[96], extra[200], torch_extra[260];
    snprintf(name, sizeof name, "%s x%d %dx%d PNG, auto tiles", label, a->scale, w, h);
    snprintf(conv_ref, sizeof conv_ref, "conv %d->%d N=1 %dx%d, same FLOPs", CONV_CH,
             CONV_CH, o->quick ? 24 : CONV_SIDE, o->quick ? 24 : CONV_SIDE);
    snprintf(torch_ref, sizeof torch_ref, "PyTorch%s%s, same tiles", t.version[0] ? " " : "",
             t.version);
    snprintf(extra, sizeof extra, "\"tile\": %d, \"conv_gflops\": %.4g", nsr_infer_tile_size(m, NULL),
             conv_gflop / (conv->stats.min_ms * 1e-3));
    snprintf(torch_extra, sizeof torch_extra, "\"tile\": %d, \"max_abs_diff\": %.3g, \"max_abs_output\": %.3g",
             nsr_infer_tile_size(m, NULL), t.out_diff, t.out_max);
    bench_report(o, &(bench_result){
        .bench = "upscale", .name = name, .unit = "ms", .nsr = cases[0].stats,
        .reference = conv_ref, .ref = conv_rate, .gflop = gflop, .target = 0.7, .extra = extra,
        .note = "nsr: `nsr upscale -m MODEL -i in.png -o out.png` as a child (denoise or dejpeg "
                "for a model of scale 1; soft selection); "
                "ratio = the job's rate of direct-conv FLOPs over the conv's, timed in the same "
                "rounds"});
    bench_report(o, &(bench_result){
        .bench = "upscale", .name = name, .unit = "ms", .nsr = cases[0].stats,
        .reference = torch_ref, .ref = t.stats, .unavailable = t.have ? NULL : t.why[0] ? t.why : "the script gave no result",
        .gflop = gflop, .extra = t.have ? torch_extra : NULL,
        .note = "PyTorch: the network and the cross-fade on the decoded image (no PNG), the same "
                "tiles and weights, under no_grad"});
    nsr_image_free(&img);
    nsr_model_free(m);
    return 0;
}

int bench_upscale(const bench_opts *o) {
    static char paths[MAX_MODELS][4200];
    char dir[4096];
    int n = 0;
    bench_heading(o, "upscale: the main job with the bundled models, PNG to PNG");
    if (bench_tmpdir(dir, sizeof dir)) return bench_error("cannot make a temporary folder");
    if (o->quick) { /* a small network of the family stands in for the models */
        static const nsr_arch tiny = {.blocks = 1, .features = 8, .width_mult = 2, .groups = 2,
                                      .cardinals = 2, .scale = 2};
        nsr_model *m;
        nsr_error err;
        snprintf(paths[0], sizeof paths[0], "%s/tiny.nsr", dir);
        if (nsr_model_create(&m, &tiny, 1, &err) || nsr_model_save(m, paths[0], &err)) {
            nsr_model_free(m);
            bench_rmdir(dir);
            return bench_error("%s", err.message);
        }
        nsr_model_free(m);
        n = 1;
    } else if (!(n = find_models(paths, MAX_MODELS))) {
        bench_rmdir(dir);
        return bench_error("no bundled models (*.nsr in the models folder beside the build folder)");
    }
    const int side = o->quick ? 24 : CONV_SIDE;
    const size_t act = (size_t)CONV_CH * side * side, wsz = (size_t)CONV_CH * CONV_CH * 9;
    float *inp = bench_alloc(act), *cout_buf = bench_alloc(act), *w = bench_alloc(wsz);
    float *b = bench_alloc(CONV_CH);
    int rc = !inp || !cout_buf || !w || !b;
    if (!rc) {
        bench_fill(inp, act, 1.0f, 1);
        bench_fill(w, wsz, 1.0f / 24, 2);
        bench_fill(b, CONV_CH, 0.1f, 3);
    }
    bench_conv_job cj = {cout_buf, inp, w, b, 1, CONV_CH, CONV_CH, side, side};
    bench_case conv = {bench_conv_run, &cj, {0, 0}};
    for (int i = 0; !rc && i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        char label[64];
        snprintf(label, sizeof label, "%.*s", (int)strcspn(base + 1, "."), base + 1);
        rc = bench_one(o, dir, paths[i], label, &conv, bench_conv_gflop(1, CONV_CH, CONV_CH, side, side, 3));
    }
    free(inp), free(cout_buf), free(w), free(b);
    bench_rmdir(dir);
    return rc;
}
