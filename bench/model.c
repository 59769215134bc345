/* model.c - `nsr bench model`: the whole network, end to end, against PyTorch 1.13 running the
 * same model with the same weights (scripts/bench_torch.py, a child of this run): tiled
 * inference of one image, and one training step. The outputs and gradients are compared too, so
 * that a fast wrong answer cannot pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* ---------------------------------------------------------------- the network */

const nsr_arch *bench_net_arch(const bench_opts *o) {
    static const nsr_arch full = {.blocks = 16, .features = 64, .width_mult = 1, .groups = 4,
                                  .cardinals = 16, .scale = 2},
                          quick = {.blocks = 1, .features = 8, .width_mult = 1, .groups = 2,
                                   .cardinals = 2, .scale = 2};
    return o->quick ? &quick : &full;
}

int bench_net_create(bench_net *net, const bench_opts *o) { return bench_net_create_shard(net, o, 0, 1); }

int bench_net_create_shard(bench_net *net, const bench_opts *o, int rank, int ranks) {
    const int side = o->quick ? 192 : 256, patch = o->quick ? 16 : 48;
    const int global_batch = o->quick ? 2 : 16, batch = global_batch / ranks, first = rank * batch;
    const int s = 2, hr = patch * s;
    const size_t in_sz = (size_t)batch * 3 * patch * patch, out_sz = in_sz * s * s;
    nsr_error err;
    memset(net, 0, sizeof *net);
    if (global_batch % ranks) return bench_error("%d ranks do not divide the batch of %d", ranks, global_batch);
    net->infer = (nsr_infer_options){.selection = NSR_SELECT_SOFT, .tiling = NSR_TILE_REFERENCE};
    if (nsr_model_create(&net->model, bench_net_arch(o), 1, &err) ||
        nsr_render_test_image(&net->image, side, side, &err) ||
        eng_trainer_create(&net->trainer, net->model, batch, patch, patch, &err)) {
        bench_error("%s", err.message);
        return -1;
    }
    net->batch = batch, net->patch = patch;
    net->x = bench_alloc(in_sz), net->target = bench_alloc(out_sz);
    if (!net->x || !net->target) return -1;
    /* patches of the test picture at scattered places; the target repeats each pixel s x s
     * (the values only need to be image-like: this is about time) */
    for (int n = 0; n < batch; n++) {
        const int oy = ((first + n) * 37) % (side - patch), ox = ((first + n) * 71) % (side - patch);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < hr; y++)
                for (int x = 0; x < hr; x++) {
                    const float v = nsr_image_plane(&net->image, c)[(size_t)(oy + y / s) * side + ox + x / s];
                    net->target[(((size_t)n * 3 + c) * hr + y) * hr + x] = v;
                    if (y % s == 0 && x % s == 0)
                        net->x[(((size_t)n * 3 + c) * patch + y / s) * patch + x / s] = v;
                }
    }
    return 0;
}

void bench_net_free(bench_net *net) {
    nsr_model_free(net->model);
    nsr_image_free(&net->image);
    eng_trainer_free(net->trainer);
    free(net->x), free(net->target);
    memset(net, 0, sizeof *net);
}

void bench_net_infer(void *ctx) {
    bench_net *net = ctx;
    nsr_image out;
    nsr_error err;
    if (nsr_model_infer_tiled(net->model, &net->image, &out, &net->infer, &err)) {
        bench_error("%s", err.message); /* only out of memory: the sizes are fixed */
        exit(1);
    }
    nsr_image_free(&out);
}

void bench_net_train(void *ctx) {
    bench_net *net = ctx;
    net->loss = eng_trainer_loss_and_grad(net->trainer, net->x, net->target);
    eng_trainer_step(net->trainer, 1e-3f);
}

/* ---------------------------------------------------------------- PyTorch */

/* What scripts/bench_torch.py reported (its lines are "key value ..."). */
typedef struct torch_result {
    char version[32];
    bench_stats infer, train;
    double out_diff, out_max;                /* inference output: max |nsr - torch|, max |torch| */
    double loss_diff, grad_diff, grad_max;   /* training: |loss difference|, gradients likewise */
    int have_infer, have_train;
    char why[300];                           /* why not, when it could not run */
} torch_result;

/* The script: $NSR_BENCH_SCRIPT, else scripts/bench_torch.py beside this program's build folder
 * (BUILD/nsr -> scripts/), else under the current folder. */
static int torch_script(char *path, size_t size) {
    const char *env = getenv("NSR_BENCH_SCRIPT");
    if (env && *env) return snprintf(path, size, "%s", env) < (int)size ? 0 : -1;
    char exe[4096];
    if (!bench_self_exe(exe, sizeof exe)) {
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (snprintf(path, size, "%s/../scripts/bench_torch.py", exe) < (int)size &&
                access(path, R_OK) == 0)
                return 0;
        }
    }
    snprintf(path, size, "scripts/bench_torch.py");
    return access(path, R_OK);
}

void bench_torch_run(const bench_opts *o, const char *model_path, const char *data_path,
                     const char *const *extra, void (*on_line)(void *ctx, const char *line),
                     void *ctx, char *version, size_t version_size, char *why, size_t why_size) {
    char script[4096], threads[16], reps[16];
    version[0] = why[0] = 0;
    if (torch_script(script, sizeof script)) {
        snprintf(why, why_size, "scripts/bench_torch.py not found (set NSR_BENCH_SCRIPT)");
        return;
    }
    const char *python = getenv("NSR_BENCH_PYTHON");
    if (!python || !*python) python = "/usr/bin/python3"; /* where Debian's python3-torch is */
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(reps, sizeof reps, "%d", o->reps);
    const char *argv[24] = {python, script, "--model", model_path, "--data", data_path,
                            "--threads", threads, "--reps", reps};
    int n = 10;
    for (int i = 0; extra && extra[i] && n < 23; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    char *out;
    struct rusage ru;
    const int rc = bench_spawn((char *const *)argv, 0, &out, &ru);
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!strncmp(line, "unavailable ", 12)) snprintf(why, why_size, "%s", line + 12);
        else if (!strncmp(line, "version ", 8)) snprintf(version, version_size, "%s", line + 8);
        else on_line(ctx, line);
    }
    if (!why[0] && rc) /* its first line, when it failed: why it could not start, say */
        snprintf(why, why_size, "%.60s %.100s exited with status %d%s%.100s", python, script, rc,
                 out && *out ? ": " : "", out ? out : "");
    free(out);
}

/* The model benchmark's lines: "infer MIN MEDIAN OUT_DIFF OUT_MAX" and "train MIN MEDIAN
 * LOSS_DIFF GRAD_DIFF GRAD_MAX". */
static void torch_model_line(void *ctx, const char *line) {
    torch_result *t = ctx;
    t->have_infer |= sscanf(line, "infer %lf %lf %lf %lf", &t->infer.min_ms, &t->infer.median_ms,
                            &t->out_diff, &t->out_max) == 4;
    t->have_train |= sscanf(line, "train %lf %lf %lf %lf %lf", &t->train.min_ms, &t->train.median_ms,
                            &t->loss_diff, &t->grad_diff, &t->grad_max) == 5;
}

static void run_torch(const bench_opts *o, const char *model_path, const char *data_path,
                      torch_result *t) {
    memset(t, 0, sizeof *t);
    bench_torch_run(o, model_path, data_path, NULL, torch_model_line, t, t->version,
                    sizeof t->version, t->why, sizeof t->why);
}

/* ---------------------------------------------------------------- the benchmark */

/* The inputs and nsr's answers, for the script to compare with its own. */
static int write_data(const char *path, const bench_net *net, const nsr_image *out,
                      double loss, nsr_error *err) {
    const int s = nsr_model_arch(net->model)->scale, h = net->image.height, w = net->image.width;
    const int n = net->batch, p = net->patch;
    const float lossf = (float)loss;
    nsr_model_file *f = nsr_model_file_new();
    if (!f) return nsr_fail(err, "out of memory");
    const int rc = nsr_model_file_add_tensor(f, "infer.x", 4, (int[]){1, 3, h, w}, net->image.data, err) ||
        nsr_model_file_add_tensor(f, "infer.out", 4, (int[]){1, 3, h * s, w * s}, out->data, err) ||
        nsr_model_file_add_tensor(f, "train.x", 4, (int[]){n, 3, p, p}, net->x, err) ||
        nsr_model_file_add_tensor(f, "train.target", 4, (int[]){n, 3, p * s, p * s}, net->target, err) ||
        nsr_model_file_add_tensor(f, "train.loss", 1, (int[]){1}, &lossf, err) ||
        nsr_model_file_add_tensor(f, "train.grads", 1, (int[]){(int)nsr_model_param_count(net->model)}, eng_trainer_grads(net->trainer), err) ||
        nsr_model_file_save(f, path, err);
    nsr_model_file_free(f);
    return rc ? -1 : 0;
}

int bench_model(const bench_opts *o) {
    char dir[4096], model_path[4200], data_path[4200];
    bench_net net;
    nsr_error err;
    nsr_image out = {0};
    if (bench_net_create(&net, o)) {
        bench_net_free(&net);
        return 1;
    }
    const nsr_arch *a = nsr_model_arch(net.model);
    char title[160];
    snprintf(title, sizeof title, "model: wdsr_nsr B%d F%d wm%d k%d d%d x%d (%zu parameters), fp32",
             a->blocks, a->features, a->width_mult, a->groups, a->cardinals, a->scale,
             nsr_model_param_count(net.model));
    bench_heading(o, title);
    if (bench_tmpdir(dir, sizeof dir)) {
        bench_net_free(&net);
        return bench_error("cannot make a temporary folder");
    }
    snprintf(model_path, sizeof model_path, "%s/model.nsr", dir);
    snprintf(data_path, sizeof data_path, "%s/data.nsr", dir);
    /* answers from the initial weights, before any timed step changes them */
    int rc = nsr_model_save(net.model, model_path, &err) ||
             nsr_model_infer_tiled(net.model, &net.image, &out, &net.infer, &err);
    if (!rc) {
        const double loss = eng_trainer_loss_and_grad(net.trainer, net.x, net.target);
        rc = write_data(data_path, &net, &out, loss, &err);
    }
    nsr_image_free(&out);
    if (rc) {
        bench_error("%s", err.message);
        bench_rmdir(dir);
        bench_net_free(&net);
        return 1;
    }
    bench_case cases[] = {{bench_net_infer, &net, {0, 0}}, {bench_net_train, &net, {0, 0}}};
    bench_time(cases, 2, o->reps);
    torch_result t;
    if (o->no_reference) {
        memset(&t, 0, sizeof t);
        snprintf(t.why, sizeof t.why, "skipped (--no-reference)");
    } else {
        run_torch(o, model_path, data_path, &t);
    }
    bench_rmdir(dir);
    char ref[64], infer_name[64], train_name[64], infer_extra[160], train_extra[200];
    snprintf(ref, sizeof ref, "PyTorch%s%s, same model and weights", t.version[0] ? " " : "", t.version);
    snprintf(infer_name, sizeof infer_name, "inference %dx%d, tiled", net.image.width, net.image.height);
    snprintf(train_name, sizeof train_name, "train step N=%d %dx%d", net.batch, net.patch, net.patch);
    snprintf(infer_extra, sizeof infer_extra, "\"max_abs_diff\": %.3g, \"max_abs_output\": %.3g",
             t.out_diff, t.out_max);
    snprintf(train_extra, sizeof train_extra,
             "\"loss_abs_diff\": %.3g, \"grad_max_abs_diff\": %.3g, \"grad_max_abs\": %.3g",
             t.loss_diff, t.grad_diff, t.grad_max);
    const char *why = t.why[0] ? t.why : "the script gave no result";
    bench_report(o, &(bench_result){
        .bench = "model", .name = infer_name, .unit = "ms", .nsr = cases[0].stats,
        .reference = ref, .ref = t.infer, .unavailable = t.have_infer ? NULL : why, .target = 4,
        .extra = t.have_infer ? infer_extra : NULL,
        .note = "soft selection; the reference's tiles (48x48, stride 32, skip on the whole image) "
                "in both"});
    bench_report(o, &(bench_result){
        .bench = "model", .name = train_name, .unit = "ms", .nsr = cases[1].stats,
        .reference = ref, .ref = t.train, .unavailable = t.have_train ? NULL : why, .target = 2,
        .extra = t.have_train ? train_extra : NULL,
        .note = "forward, L1 loss, backward, Adam; differences are of the first step's loss and "
                "gradients"});
    bench_net_free(&net);
    return 0;
}
