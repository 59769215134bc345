/* fixed_size.c - the rebuttal's "fixed model size" row as a whole network (`nsr bench rebuttal`,
 * after the one-layer table): the fixed-size NSR network under hard selection against the plain
 * network with the same parameters (less the side layers), x2, both restoring the same picture
 * as the library does for a user (nsr_model_infer_tiled, auto tiles; no file I/O). The networks
 * are those of the experiment rows and of models/nsr_x2_fixed.nsr (B4 F32 wm2, d 16, or 8 at
 * k = 8, where a group has 8 hidden channels), newly
 * initialised: the time does not depend on the weights, only the hard path's choice does, and
 * every group costs the same. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define NKF 3
static const int fixed_ks[NKF] = {2, 4, 8};

typedef struct infer_job {
    const nsr_model *m;
    const nsr_image *in;
    nsr_image out;
    nsr_infer_options opts;
    int failed;
} infer_job;

static void run_infer(void *ctx) {
    infer_job *j = ctx;
    nsr_error err;
    nsr_image_free(&j->out);
    if (nsr_model_infer_tiled(j->m, j->in, &j->out, &j->opts, &err)) {
        bench_error("%s", err.message);
        exit(1); /* only out of memory: the sizes are fixed */
    }
}

/* The rows of one picture size: every fixed-size network against the plain one. */
static int fixed_size_picture(const bench_opts *o, nsr_model *const *nets, int w, int h) {
    nsr_error err;
    nsr_image in = {0};
    if (nsr_render_test_image(&in, w, h, &err)) return bench_error("%s", err.message);
    infer_job jobs[1 + NKF];
    bench_case cases[1 + NKF];
    for (int i = 0; i <= NKF; i++) {
        jobs[i] = (infer_job){.m = nets[i], .in = &in,
                              .opts = {.selection = i ? NSR_SELECT_HARD : NSR_SELECT_SOFT,
                                       .tiling = NSR_TILE_AUTO}};
        cases[i] = (bench_case){run_infer, &jobs[i], {0, 0}};
    }
    bench_time(cases, 1 + NKF, o->reps);
    const nsr_arch *pa = nsr_model_arch(nets[0]);
    /* direct-conv FLOPs of the plain network (the fixed-size one under hard selection does 1/k
     * of its blocks' share) */
    const double F = pa->features, hid = F * pa->width_mult;
    const double plain_gflop =
        2e-9 * w * h * (3 * F * 9 + pa->blocks * 2 * F * hid * 9 + F * 3 * 4 * 9 + 3 * 3 * 4 * 25);
    for (int i = 1; i <= NKF; i++) {
        const int k = fixed_ks[i - 1];
        const double gflop = plain_gflop - 2e-9 * w * h * pa->blocks * 2 * F * hid * 9 * (1 - 1.0 / k);
        char name[96], extra[96];
        snprintf(name, sizeof name, "x2 network %dx%d, fixed size k=%d hard", w, h, k);
        snprintf(extra, sizeof extra, "\"params\": %zu, \"plain_params\": %zu, \"tile\": %d",
                 nsr_model_param_count(nets[i]), nsr_model_param_count(nets[0]),
                 nsr_infer_tile_size(nets[i], NULL));
        bench_report(o, &(bench_result){
            .bench = "rebuttal", .name = name, .unit = "ms", .nsr = cases[i].stats,
            .reference = "nsr plain network, same parameters", .ref = cases[0].stats,
            .gflop = gflop, .ref_gflop = plain_gflop, .target = k == 4 ? 2.0 : 0, .extra = extra,
            .note = "B4 F32 wm2 d16 (the experiments' and nsr_x2_fixed's shape) against B4 F32 wm2 "
                    "plain, auto tiles, picture in memory: nsr_model_infer_tiled"});
    }
    for (int i = 0; i <= NKF; i++) nsr_image_free(&jobs[i].out);
    nsr_image_free(&in);
    return 0;
}

int bench_fixed_size(const bench_opts *o) {
    nsr_model *nets[1 + NKF] = {0};
    nsr_error err;
    int rc = 0;
    for (int i = 0; !rc && i <= NKF; i++) {
        const nsr_arch a = {.blocks = o->quick ? 1 : 4, .features = 32, .width_mult = 2,
                            .groups = i ? fixed_ks[i - 1] : 1, .cardinals = !i ? 1 : fixed_ks[i - 1] < 8 ? 16 : 8, .scale = 2,
                            .regime = i ? NSR_REGIME_FIXED_SIZE : NSR_REGIME_FIXED_FLOPS,
                            .channels = 3};
        if (nsr_model_create(&nets[i], &a, 1, &err)) rc = bench_error("%s", err.message);
    }
    static const int sizes[][2] = {{256, 256}, {1000, 750}}, quick[][2] = {{32, 24}, {48, 36}};
    for (int s = 0; !rc && s < 2; s++)
        rc = fixed_size_picture(o, nets, o->quick ? quick[s][0] : sizes[s][0],
                                o->quick ? quick[s][1] : sizes[s][1]);
    for (int i = 0; i <= NKF; i++) nsr_model_free(nets[i]);
    return rc;
}
