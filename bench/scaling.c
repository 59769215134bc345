/* scaling.c - `nsr bench scaling`: 1 thread against N (the conv, the model's inference and its
 * training step), and the peak resident memory of the program upscaling a large image with the
 * reference's tiles, measured on a child process (this same program, `nsr upscale`). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Runs the job on a given number of threads. */
typedef struct threaded {
    void (*run)(void *ctx);
    void *ctx;
    int threads;
} threaded;

static void run_threaded(void *ctx) {
    const threaded *t = ctx;
    omp_set_num_threads(t->threads);
    t->run(t->ctx);
}

typedef struct conv_job {
    float *out;
    const float *inp, *w, *b;
    int n, h, w_;
} conv_job;

static void run_conv(void *ctx) {
    const conv_job *j = ctx;
    nn_conv2d_forward(j->out, j->inp, j->w, 0, j->b, 0, j->n, 64, 64, j->h, j->w_, 3);
}

/* Times run(ctx) on 1 and on o->threads threads, interleaved, and reports the speed-up. */
static void scale_case(const bench_opts *o, const char *name, void (*run)(void *), void *ctx,
                       double gflop) {
    threaded one = {run, ctx, 1}, all = {run, ctx, o->threads};
    bench_case cases[] = {{run_threaded, &all, {0, 0}}, {run_threaded, &one, {0, 0}}};
    bench_time(cases, 2, o->reps);
    omp_set_num_threads(o->threads);
    char full_name[96];
    snprintf(full_name, sizeof full_name, "%s, 1 -> %d threads", name, o->threads);
    bench_report(o, &(bench_result){
        .bench = "scaling", .name = full_name, .unit = "ms", .nsr = cases[0].stats,
        .reference = "nsr on 1 thread", .ref = cases[1].stats, .gflop = gflop,
        .target = 0.925 * o->threads}); /* 1.85 on 2 threads */
}

/* Peak resident memory of `nsr upscale -m model -i image` (a child of this run) on a generated
 * side x side picture. */
static void memory_case(const bench_opts *o, const bench_net *net, int side) {
    nsr_error err;
    char dir[4096], model_path[4200], image_path[4200], out_path[4200], threads[16], exe[4096];
    char name[96], extra[200], why[sizeof err.message] = "";
    double peak_mb = 0, seconds = 0;
    nsr_image img = {0};
    snprintf(name, sizeof name, "upscale x%d %dx%d, tiled: peak RSS", net->model->arch.scale, side, side);
    snprintf(threads, sizeof threads, "%d", o->threads);
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || bench_tmpdir(dir, sizeof dir)) {
        snprintf(why, sizeof why, "cannot find this program or make a temporary folder");
    } else {
        exe[n] = 0;
        snprintf(model_path, sizeof model_path, "%s/model.nsr", dir);
        snprintf(image_path, sizeof image_path, "%s/big.png", dir);
        snprintf(out_path, sizeof out_path, "%s/big_x2.jpg", dir);
        if (nsr_model_save(net->model, model_path, &err) ||
            nsr_render_test_image(&img, side, side, &err) ||
            nsr_image_write(&img, image_path, NULL, &err)) {
            snprintf(why, sizeof why, "%s", err.message);
        } else {
            nsr_image_free(&img); /* not part of the child's memory, and not of ours meanwhile */
            char *argv[] = {exe, "upscale", "-m", model_path, "-i", image_path, "-o", out_path,
                            "-j", threads, NULL};
            char *out;
            struct rusage ru;
            const double t0 = bench_now_ms();
            const int rc = bench_spawn(argv, 1, &out, &ru);
            seconds = (bench_now_ms() - t0) * 1e-3;
            peak_mb = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB */
            if (rc) {
                char *last = out ? strrchr(out, '\n') : NULL; /* its last message line */
                while (last && last > out && last[1] == 0) *last = 0, last = strrchr(out, '\n');
                snprintf(why, sizeof why, "nsr upscale exited with status %d: %.300s", rc,
                         out ? (last ? last + 1 : out) : "");
            }
            free(out);
        }
        nsr_image_free(&img);
        bench_rmdir(dir);
    }
    const double target_mb = 1536; /* 1.5 GiB */
    snprintf(extra, sizeof extra, "\"child_seconds\": %.3g, \"image_side\": %d, \"blocks\": %d",
             seconds, side, net->model->arch.blocks);
    bench_report(o, &(bench_result){
        .bench = "scaling", .name = name, .unit = "MB", .nsr = {peak_mb, peak_mb},
        .reference = "target: 1.5 GiB", .ref = {target_mb, target_mb},
        .unavailable = why[0] ? why : NULL, .target = 1.0, .extra = extra,
        .note = "peak resident MiB of the child (wait4's ru_maxrss), reading the PNG, running "
                "the network on tiles and writing a JPEG; ratio = target / peak"});
}

int bench_scaling(const bench_opts *o) {
    const int n = o->quick ? 2 : 16, hw = o->quick ? 16 : 48;
    const size_t act = (size_t)n * 64 * hw * hw, wsz = 64 * 64 * 9;
    bench_heading(o, "scaling: 1 thread against all, and peak memory of a large upscale");
    float *inp = bench_alloc(act), *out = bench_alloc(act), *w = bench_alloc(wsz), *b = bench_alloc(64);
    bench_net net;
    int rc = 1;
    memset(&net, 0, sizeof net); /* freed below even when never created */
    if (inp && out && w && b && !bench_net_create(&net, o)) {
        bench_fill(inp, act, 1.0f, 1);
        bench_fill(w, wsz, 1.0f / 24, 2);
        bench_fill(b, 64, 0.1f, 3);
        conv_job job = {out, inp, w, b, n, hw, hw};
        char name[64];
        snprintf(name, sizeof name, "conv N=%d %dx%d 64->64", n, hw, hw);
        scale_case(o, name, run_conv, &job, bench_conv_gflop(n, 64, 64, hw, hw, 3));
        snprintf(name, sizeof name, "inference %dx%d, tiled", net.image.width, net.image.height);
        scale_case(o, name, bench_net_infer, &net, 0);
        snprintf(name, sizeof name, "train step N=%d %dx%d", net.ws.n, net.ws.h, net.ws.w);
        scale_case(o, name, bench_net_train, &net, 0);
        memory_case(o, &net, o->quick ? 256 : 4096);
        rc = 0;
    }
    bench_net_free(&net);
    free(inp), free(out), free(w), free(b);
    return rc;
}
