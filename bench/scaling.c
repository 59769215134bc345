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

/* Times cases[0] (on o->threads threads) and cases[1] (the same work on 1) interleaved, and
 * reports the speed-up. */
static void scale_report(const bench_opts *o, const char *name, bench_case cases[2], double gflop) {
    bench_time(cases, 2, o->reps);
    omp_set_num_threads(o->threads);
    char full_name[96];
    snprintf(full_name, sizeof full_name, "%s, 1 -> %d threads", name, o->threads);
    bench_report(o, &(bench_result){
        .bench = "scaling", .name = full_name, .unit = "ms", .nsr = cases[0].stats,
        .reference = "the same on 1 thread", .ref = cases[1].stats, .gflop = gflop,
        .target = 0.925 * o->threads}); /* 1.85 on 2 threads */
}

/* Times run(ctx) on 1 and on o->threads threads. */
static void scale_case(const bench_opts *o, const char *name, void (*run)(void *), void *ctx,
                       double gflop) {
    threaded one = {run, ctx, 1}, all = {run, ctx, o->threads};
    bench_case cases[] = {{run_threaded, &all, {0, 0}}, {run_threaded, &one, {0, 0}}};
    scale_report(o, name, cases, gflop);
}

/* Peak resident MiB (wait4's ru_maxrss) of `nsr upscale -m model -i in.png -o out.jpg` (this
 * program, as a child) on a generated side x side picture; the child's seconds in *seconds.
 * Returns 0, or -1 with why. */
static int child_peak(const nsr_model *m, int side, int threads, double *mb, double *seconds,
                      char *why, size_t why_size) {
    char dir[4096], model_path[4200], image_path[4200], out_path[4200], exe[4096], nthreads[16];
    nsr_error err;
    nsr_image img = {0};
    int rc = -1;
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || bench_tmpdir(dir, sizeof dir)) {
        snprintf(why, why_size, "cannot find this program or make a temporary folder");
        return -1;
    }
    exe[n] = 0;
    snprintf(model_path, sizeof model_path, "%s/model.nsr", dir);
    snprintf(image_path, sizeof image_path, "%s/in.png", dir);
    snprintf(out_path, sizeof out_path, "%s/out.jpg", dir);
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    if (nsr_model_save(m, model_path, &err) || nsr_render_test_image(&img, side, side, &err) ||
        nsr_image_write(&img, image_path, NULL, &err)) {
        snprintf(why, why_size, "%s", err.message);
    } else {
        nsr_image_free(&img); /* before the child runs: the machine's memory is shared */
        char *argv[] = {exe, "upscale", "-m", model_path, "-i", image_path, "-o", out_path,
                        "-j", nthreads, NULL};
        char *out;
        struct rusage ru;
        const double t0 = bench_now_ms();
        const int status = bench_spawn(argv, 1, &out, &ru);
        *seconds = (bench_now_ms() - t0) * 1e-3;
        *mb = (double)ru.ru_maxrss / 1024.0; /* KiB */
        if (status) {
            char *last = out ? strrchr(out, '\n') : NULL; /* its last message line */
            while (last && last > out && last[1] == 0) *last = 0, last = strrchr(out, '\n');
            snprintf(why, why_size, "nsr upscale exited with status %d: %.300s", status,
                     out ? (last ? last + 1 : out) : "");
        } else {
            rc = 0;
        }
        free(out);
    }
    nsr_image_free(&img);
    bench_rmdir(dir);
    return rc;
}

/* Peak memory of upscaling a side x side picture with the benchmark network, reference tiles.
 * The network's compute at 4096x4096 would take many minutes, while the memory is mostly image
 * sized, so it is measured in parts: a small network of the same family (B1 F16) on the large
 * picture, plus what the benchmark network costs beyond the small one, both on the smallest
 * input that still tiles (192x192): peak = small(side) + net(192) - small(192). */
static void memory_case(const bench_opts *o, const bench_net *net, int side) {
    const nsr_arch small_arch = {1, 16, 1, 4, 4, net->model->arch.scale, 0};
    nsr_model *small = NULL;
    nsr_error err;
    char name[96], extra[300], why[sizeof err.message] = "";
    double big = 0, net192 = 0, small192 = 0, t_big = 0, t = 0;
    if (nsr_model_create(&small, &small_arch, 1, &err))
        snprintf(why, sizeof why, "%s", err.message);
    else if (!child_peak(small, side, o->threads, &big, &t_big, why, sizeof why) &&
             !child_peak(net->model, 192, o->threads, &net192, &t, why, sizeof why))
        child_peak(small, 192, o->threads, &small192, &t, why, sizeof why);
    nsr_model_free(small);
    const double peak = big + net192 - small192, target_mb = 1536; /* 1.5 GiB */
    snprintf(name, sizeof name, "upscale x%d %dx%d, tiled: peak RSS", net->model->arch.scale, side, side);
    snprintf(extra, sizeof extra,
             "\"peak_small_net_mb\": %.1f, \"peak_bench_net_192_mb\": %.1f, "
             "\"peak_small_net_192_mb\": %.1f, \"small_net_seconds\": %.3g",
             big, net192, small192, t_big);
    bench_report(o, &(bench_result){
        .bench = "scaling", .name = name, .unit = "mib", .nsr = {peak, peak},
        .reference = "target: 1.5 GiB", .ref = {target_mb, target_mb},
        .unavailable = why[0] ? why : NULL, .target = 1.0, .extra = extra,
        .note = "peak resident MiB of `nsr upscale` children (PNG in, JPEG out): a B1 F16 network "
                "on the large picture plus the benchmark network's own cost measured at 192x192 "
                "(see BENCHMARKS.md); ratio = target / peak"});
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
        const double gflop = bench_conv_gflop(n, 64, 64, hw, hw, 3);
        bench_fma fma_one, fma_all;
        if (!bench_fma_init(&fma_one, gflop, 1) && !bench_fma_init(&fma_all, gflop, o->threads)) {
            /* what the machine itself gives two threads right now: the bound for the rest */
            bench_case cases[] = {{bench_fma_run, &fma_all, {0, 0}}, {bench_fma_run, &fma_one, {0, 0}}};
            scale_report(o, "FMA peak loop, the conv's FLOPs", cases, fma_all.gflop);
        }
        snprintf(name, sizeof name, "conv N=%d %dx%d 64->64", n, hw, hw);
        scale_case(o, name, run_conv, &job, gflop);
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
