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

/* Resident memory of this process now (VmRSS), MiB; 0 when unknown. */
static double own_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb / 1024.0;
}

/* Peak resident MiB (wait4's ru_maxrss) of `nsr upscale -m model -i image -o dir/out.jpg`, this
 * program as a child, and its seconds. 0, or -1 with why. */
static int child_peak(const char *exe, const char *model, const char *image, const char *dir,
                      int threads, double *mb, double *seconds, char *why, size_t why_size) {
    char out_path[4200], nthreads[16];
    snprintf(out_path, sizeof out_path, "%s/out.jpg", dir);
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    char *argv[] = {(char *)exe, "upscale", "-m", (char *)model, "-i", (char *)image, "-o",
                    out_path, "-j", nthreads, NULL};
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
    }
    free(out);
    return status ? -1 : 0;
}

/* Writes a network drawn from seed 1 and a generated side x side picture into dir. */
static int write_inputs(const char *dir, const char *name, const nsr_arch *arch, int side,
                        nsr_error *err) {
    char path[4200];
    nsr_model *m;
    nsr_image img;
    snprintf(path, sizeof path, "%s/%s.nsr", dir, name);
    if (nsr_model_create(&m, arch, 1, err)) return -1;
    int rc = nsr_model_save(m, path, err);
    nsr_model_free(m);
    snprintf(path, sizeof path, "%s/%d.png", dir, side);
    if (rc || nsr_render_test_image(&img, side, side, err)) return -1;
    rc = nsr_image_write(&img, path, NULL, err);
    nsr_image_free(&img);
    return rc;
}

/* Peak memory of upscaling a side x side picture with the benchmark network, reference tiles.
 * The network's compute at 4096x4096 would take many minutes, while the memory is mostly image
 * sized, so it is measured in parts: a small network of the same family (B1 F16) on the large
 * picture, plus what the benchmark network costs beyond the small one, both on the smallest
 * input that still tiles (192x192): peak = small(side) + net(192) - small(192).
 *
 * Runs before anything large is allocated: Linux counts the pages a child shares with its
 * parent before it execs (bench_spawn's posix_spawn shares them all) in the child's ru_maxrss,
 * so the parent must be smaller than what is measured (its size at the time is reported as
 * parent_rss_mb). */
static void memory_case(const bench_opts *o, int side) {
    const nsr_arch *net_arch = bench_net_arch(o);
    const nsr_arch small_arch = {.blocks = 1, .features = 16, .width_mult = 1, .groups = 4,
                                 .cardinals = 4, .scale = net_arch->scale};
    nsr_error err;
    char dir[4096], exe[4096], small[4200], net[4200], big_png[4200], png192[4200];
    char name[96], extra[300], why[sizeof err.message] = "";
    double big = 0, net192 = 0, small192 = 0, t_big = 0, t = 0, parent = 0;
    if (bench_self_exe(exe, sizeof exe) || bench_tmpdir(dir, sizeof dir)) {
        snprintf(why, sizeof why, "cannot find this program or make a temporary folder");
    } else {
        snprintf(small, sizeof small, "%s/small.nsr", dir);
        snprintf(net, sizeof net, "%s/net.nsr", dir);
        snprintf(big_png, sizeof big_png, "%s/%d.png", dir, side);
        snprintf(png192, sizeof png192, "%s/192.png", dir);
        if (write_inputs(dir, "small", &small_arch, side, &err) ||
            write_inputs(dir, "net", net_arch, 192, &err))
            snprintf(why, sizeof why, "%s", err.message);
        parent = own_rss_mb();
        if (!why[0] && !child_peak(exe, small, big_png, dir, o->threads, &big, &t_big, why, sizeof why) &&
            !child_peak(exe, net, png192, dir, o->threads, &net192, &t, why, sizeof why))
            child_peak(exe, small, png192, dir, o->threads, &small192, &t, why, sizeof why);
        bench_rmdir(dir);
    }
    const double peak = big + net192 - small192, target_mb = 1536; /* 1.5 GiB */
    snprintf(name, sizeof name, "upscale x%d %dx%d, tiled: peak RSS", net_arch->scale, side, side);
    snprintf(extra, sizeof extra,
             "\"peak_small_net_mb\": %.1f, \"peak_bench_net_192_mb\": %.1f, "
             "\"peak_small_net_192_mb\": %.1f, \"parent_rss_mb\": %.1f, \"small_net_seconds\": %.3g",
             big, net192, small192, parent, t_big);
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
    memory_case(o, o->quick ? 256 : 4096); /* first, while this process is small */
    float *inp = bench_alloc(act), *out = bench_alloc(act), *w = bench_alloc(wsz), *b = bench_alloc(64);
    bench_net net;
    int rc = 1;
    memset(&net, 0, sizeof net); /* freed below even when never created */
    if (inp && out && w && b && !bench_net_create(&net, o)) {
        bench_fill(inp, act, 1.0f, 1);
        bench_fill(w, wsz, 1.0f / 24, 2);
        bench_fill(b, 64, 0.1f, 3);
        bench_conv_job job = {out, inp, w, b, n, 64, 64, hw, hw};
        char name[64];
        const double gflop = bench_conv_gflop(n, 64, 64, hw, hw, 3);
        bench_fma fma_one, fma_all;
        if (!bench_fma_init(&fma_one, gflop, 1) && !bench_fma_init(&fma_all, gflop, o->threads)) {
            /* what the machine itself gives two threads right now: the bound for the rest */
            bench_case cases[] = {{bench_fma_run, &fma_all, {0, 0}}, {bench_fma_run, &fma_one, {0, 0}}};
            scale_report(o, "FMA peak loop, the conv's FLOPs", cases, fma_all.gflop);
        }
        snprintf(name, sizeof name, "conv N=%d %dx%d 64->64", n, hw, hw);
        scale_case(o, name, bench_conv_run, &job, gflop);
        snprintf(name, sizeof name, "inference %dx%d, tiled", net.image.width, net.image.height);
        scale_case(o, name, bench_net_infer, &net, 0);
        snprintf(name, sizeof name, "train step N=%d %dx%d", net.batch, net.patch, net.patch);
        scale_case(o, name, bench_net_train, &net, 0);
        rc = 0;
    }
    bench_net_free(&net);
    free(inp), free(out), free(w), free(b);
    return rc;
}
