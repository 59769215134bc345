/* test_layers.c - the engine's layers against textbook formulas (the NSR convolution has its
 * own file, test_nsr_conv.c), parameter counts of the published models, the reference init,
 * Adam and the LR schedule. */
#include <stdint.h>

#include "check.h"
#include "nn/engine.h"
#include "compare.h"
#include "testdata.h"


/* ---------------------------------------------------------------- convolution */

/* The definition, one output element at a time, in double: out[n][o][y][x] = b[o] +
 * sum_{c,ky,kx} w[o][c][ky][kx] in[n][c][y+ky-K/2][x+kx-K/2] (zero outside). Also the three
 * gradients for dout, by the chain rule applied to the same sum. */
static void naive_conv(double *out, double *dinp, double *dw, double *db, const float *dout,
                       const float *inp, const float *w, size_t wstride, const float *b, int N,
                       int cin, int cout, int H, int W, int K) {
    const int p = K / 2;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < cout; o++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    const size_t oi = (((size_t)n * cout + o) * H + y) * W + x;
                    const size_t bi = (wstride ? (size_t)n * cout : 0) + o;
                    double acc = b[bi];
                    db[bi] += dout[oi];
                    for (int c = 0; c < cin; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                const int iy = y + ky - p, ix = x + kx - p;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                const size_t ii = (((size_t)n * cin + c) * H + iy) * W + ix;
                                const size_t wi = n * wstride + (((size_t)o * cin + c) * K + ky) * K + kx;
                                acc += (double)w[wi] * inp[ii];
                                dinp[ii] += (double)w[wi] * dout[oi];
                                dw[wi] += (double)inp[ii] * dout[oi];
                            }
                    out[oi] = acc;
                }
}

static void conv_case(int N, int cin, int cout, int H, int W, int K, int per_sample) {
    const size_t in_sz = (size_t)N * cin * H * W, out_sz = (size_t)N * cout * H * W;
    const size_t wset = (size_t)cout * cin * K * K, wsz = per_sample ? N * wset : wset;
    const size_t bsz = per_sample ? (size_t)N * cout : (size_t)cout;
    float *x = test_rand_buf(in_sz, -1, 1), *w = test_rand_buf(wsz, -1, 1), *b = test_rand_buf(bsz, -1, 1);
    float *dout = test_rand_buf(out_sz, -1, 1), *out = test_zero_buf(out_sz);
    float *dx = test_zero_buf(in_sz), *dw = test_zero_buf(wsz), *db = test_zero_buf(bsz);
    double *rout = calloc(out_sz, sizeof(double)), *rdx = calloc(in_sz, sizeof(double));
    double *rdw = calloc(wsz, sizeof(double)), *rdb = calloc(bsz, sizeof(double));
    const size_t ws = per_sample ? wset : 0, bs = per_sample ? (size_t)cout : 0;
    naive_conv(rout, rdx, rdw, rdb, dout, x, w, ws, b, N, cin, cout, H, W, K);
    nn_conv2d_forward(out, x, w, ws, b, bs, N, cin, cout, H, W, K, NULL);
    /* backward accumulates: run it twice from zero and expect twice the gradient */
    for (int rep = 0; rep < 2; rep++)
        nn_conv2d_backward(dx, dw, db, dout, x, w, ws, bs, N, cin, cout, H, W, K, NULL);
    for (size_t i = 0; i < in_sz; i++) rdx[i] *= 2;
    for (size_t i = 0; i < wsz; i++) rdw[i] *= 2;
    for (size_t i = 0; i < bsz; i++) rdb[i] *= 2;
    const double e_out = rel_err_d(out, rout, out_sz), e_dx = rel_err_d(dx, rdx, in_sz);
    const double e_dw = rel_err_d(dw, rdw, wsz), e_db = rel_err_d(db, rdb, bsz);
    printf("  conv N%d %d->%d %dx%d K%d%s: out %.1e dinp %.1e dw %.1e db %.1e\n", N, cin, cout, H,
           W, K, per_sample ? " per-sample" : "", e_out, e_dx, e_dw, e_db);
    CHECK(e_out < 1e-6 && e_dx < 1e-6 && e_dw < 1e-6 && e_db < 1e-6,
          "conv K%d %dx%d: relative errors out %g dinp %g dw %g db %g", K, H, W, e_out, e_dx,
          e_dw, e_db);
    free(x), free(w), free(b), free(dout), free(out), free(dx), free(dw), free(db);
    free(rout), free(rdx), free(rdw), free(rdb);
}

static void test_conv_matches_definition(void) {
    const int ks[] = {1, 3, 5};
    for (int i = 0; i < 3; i++) {
        conv_case(2, 3, 4, 6, 7, ks[i], 0);
        conv_case(3, 2, 5, 5, 4, ks[i], 1);
        conv_case(1, 4, 2, 2, 3, ks[i], 0); /* image smaller than the kernel */
        conv_case(2, 1, 1, 1, 1, ks[i], 1);
    }
}

/* ---------------------------------------------------------------- small layers */

static void test_weightnorm(void) {
    const int rows = 5, cols = 7;
    float *v = test_rand_buf(rows * cols, -1, 1), *g = test_rand_buf(rows, 0.5f, 2), *w = test_zero_buf(rows * cols);
    nn_weightnorm_forward(w, v, g, rows, cols);
    for (int o = 0; o < rows; o++) {
        double nw = 0, nv = 0, dot = 0;
        for (int i = 0; i < cols; i++) {
            nw += (double)w[o * cols + i] * w[o * cols + i];
            nv += (double)v[o * cols + i] * v[o * cols + i];
            dot += (double)w[o * cols + i] * v[o * cols + i];
        }
        CHECK(fabs(sqrt(nw) - g[o]) < 1e-6 * g[o], "row %d: ||W|| %g, g %g", o, sqrt(nw), g[o]);
        CHECK(fabs(dot - sqrt(nw) * sqrt(nv)) < 1e-6 * dot, "row %d: W not parallel to V", o);
    }
    free(v), free(g), free(w);
}

static void test_relu_and_shift(void) {
    float x[6] = {-2, -0.0f, 0, 0.5f, 3, -1e-30f}, y[6], dx[6] = {0}, dy[6] = {1, 2, 3, 4, 5, 6};
    nn_relu_forward(y, x, 6);
    const float ry[6] = {0, 0, 0, 0.5f, 3, 0}, rdx[6] = {0, 0, 0, 4, 5, 0};
    nn_relu_backward(dx, dy, y, 6);
    for (int i = 0; i < 6; i++) CHECK(y[i] == ry[i] && dx[i] == rdx[i], "relu element %d", i);
    nn_add_scalar(y, x, -0.5f, 6);
    CHECK(y[3] == 0 && y[4] == 2.5f, "mean shift");
    nn_add_inplace(y, x, 6);
    CHECK(y[4] == 5.5f, "in-place sum");
}

/* PyTorch's order, spelled out for s = 2: input channel c*4 + i*2 + j holds pixel (i, j) of every
 * 2x2 cell of colour c. */
static void test_pixel_shuffle_order(void) {
    const int N = 2, C = 3, H = 2, W = 3, s = 2;
    const size_t n = (size_t)N * C * s * s * H * W;
    float *in = test_zero_buf(n), *out = test_zero_buf(n), *back = test_zero_buf(n);
    for (size_t i = 0; i < n; i++) in[i] = (float)i;
    nn_pixel_shuffle_forward(out, in, N, C, H, W, s);
    for (int b = 0; b < N; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < s; i++)
                for (int j = 0; j < s; j++)
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++) {
                            const size_t src = (((size_t)b * C * s * s + c * s * s + i * s + j) * H + y) * W + x;
                            const size_t dst = (((size_t)b * C + c) * H * s + y * s + i) * W * s + x * s + j;
                            CHECK(out[dst] == in[src], "pixel (%d,%d) of cell (%d,%d) colour %d", i,
                                  j, y, x, c);
                        }
    /* backward is the inverse permutation, accumulated */
    nn_pixel_shuffle_backward(back, out, N, C, H, W, s);
    nn_pixel_shuffle_backward(back, out, N, C, H, W, s);
    for (size_t i = 0; i < n; i++) CHECK(back[i] == 2 * in[i], "backward element %zu", i);
    free(in), free(out), free(back);
}

static void test_l1(void) {
    const float pred[4] = {0.5f, 0.25f, 1, 0.75f}, target[4] = {0.25f, 0.5f, 1, 0};
    CHECK(fabs(nn_l1_forward(pred, target, 4) - (0.25 + 0.25 + 0 + 0.75) / 4) < 1e-12, "L1 value");
    float d[4] = {1, 1, 1, 1};
    nn_l1_backward(d, pred, target, 4, 2.0f);
    CHECK(d[0] == 1.5f && d[1] == 0.5f && d[2] == 1 && d[3] == 1.5f,
          "L1 gradient (sign(0) = 0): %g %g %g %g", d[0], d[1], d[2], d[3]);
}

/* ---------------------------------------------------------------- model */

/* An architecture by position (nsr.h's field order): B, F, wm, k, d, s, shared, regime, C. */
#define ARCH(B, F, WM, K, D, S, SHARED, REGIME, C)                                                  \
    {.blocks = B, .features = F, .width_mult = WM, .groups = K, .cardinals = D, .scale = S,       \
     .shared_selection = SHARED, .regime = REGIME, .channels = C}
#define FIXED_SIZE NSR_REGIME_FIXED_SIZE

static void test_param_counts(void) {
    const struct {
        nsr_arch arch;
        size_t expect;
    } cases[] = {
        {ARCH(16, 64, 1, 4, 16, 2, 0, 0, 3), 4877812}, /* EDSR+NSR x2 */
        {ARCH(16, 64, 1, 4, 16, 3, 0, 0, 3), 4887637}, /* x3 */
        {ARCH(16, 64, 1, 4, 16, 4, 0, 0, 3), 4901392}, /* x4 */
        {ARCH(16, 32, 4, 1, 1, 2, 0, 0, 3), 1190100},  /* plain WDSR x2 */
        /* fixed size, k 4, d 16: plain WDSR and a side layer (64 x 32, 64) per block */
        {ARCH(16, 32, 4, 4, 16, 2, 0, FIXED_SIZE, 3), 1190100 + 16 * 64 * 33},
        /* grey plain WDSR x2: head 32 x (1 x 9 + 2), tail 4 x (32 x 9 + 2), skip 4 x (25 + 2)
         * where RGB has 32 x (3 x 9 + 2), 12 x (32 x 9 + 2), 12 x (3 x 25 + 2) */
        {ARCH(16, 32, 4, 1, 1, 2, 0, 0, 1), 1190100 - (32 * 29 + 12 * 290 + 12 * 77) + (32 * 11 + 4 * 290 + 4 * 27)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_t got = nsr_arch_param_count(&cases[i].arch);
        CHECK(got == cases[i].expect, "case %zu: %zu parameters, expected %zu", i, got,
              cases[i].expect);
    }
    /* the built model agrees with the count, and its tensors tile the block exactly */
    const nsr_arch archs[] = {ARCH(16, 64, 1, 4, 16, 4, 0, 0, 3), ARCH(3, 8, 2, 2, 4, 3, 1, 0, 3),
                              ARCH(2, 6, 3, 1, 1, 1, 0, 0, 3), ARCH(3, 8, 2, 2, 4, 2, 0, FIXED_SIZE, 3),
                              ARCH(2, 6, 2, 2, 3, 2, 0, 0, 1)}; /* the last grey */
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        nsr_model *m;
        nsr_error err;
        REQUIRE(nsr_model_create(&m, &archs[i], 1, &err) == 0, "%s", err.message);
        size_t next = 0;
        for (int t = 0; t < eng_model_num_tensors(m); t++) {
            const eng_tensor *tt = eng_model_tensor(m, t);
            size_t prod = 1;
            for (int dd = 0; dd < tt->ndim; dd++) prod *= (size_t)tt->shape[dd];
            CHECK(tt->offset == next && tt->size == prod, "tensor %s", tt->name);
            CHECK(eng_model_find_tensor(m, tt->name) == tt, "find %s", tt->name);
            next += tt->size;
        }
        CHECK(next == nsr_model_param_count(m) && next == nsr_arch_param_count(&archs[i]),
              "arch %zu: tensors %zu, model %zu, count %zu", i, next, nsr_model_param_count(m),
              nsr_arch_param_count(&archs[i]));
        nsr_model_free(m);
    }
    /* shared selection: one side layer per block */
    nsr_arch shared = ARCH(16, 64, 1, 4, 16, 2, 1, 0, 3);
    CHECK(nsr_arch_param_count(&shared) == 4877812 - 16 * (64 * 65),
          "shared selection x2: %zu", nsr_arch_param_count(&shared));
}

static void test_arch_check(void) {
    nsr_error err;
    const nsr_arch bad[] = {
        ARCH(0, 8, 1, 2, 2, 2, 0, 0, 3), ARCH(2, 8, 1, 2, 3, 2, 0, 0, 3), ARCH(2, 8, 1, 2, 2, 9, 0, 0, 3),
        ARCH(2, 8, 0, 2, 2, 2, 0, 0, 3), ARCH(2, 8, 1, 2, 2, 2, 2, 0, 3), ARCH(2, 8, 1, 65, 1, 2, 0, 0, 3),
        ARCH(2, 8, 1, 2, 2, 2, 0, 2, 3),          /* no such regime */
        ARCH(2, 8, 1, 2, 2, 2, 0, 0, 2),          /* two image planes */
        ARCH(2, 6, 1, 4, 1, 2, 0, FIXED_SIZE, 3), /* 4 groups of 6 hidden channels */
        ARCH(2, 8, 1, 2, 3, 2, 0, FIXED_SIZE, 3), /* 3 cardinals in groups of 4 */
        ARCH(2, 8, 1, 2, 2, 2, 1, FIXED_SIZE, 3), /* one selection per block already */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.message[0] = 0;
        CHECK(nsr_arch_check(&bad[i], &err) != 0 && err.message[0], "bad arch %zu accepted", i);
    }
    nsr_arch plain = ARCH(2, 8, 1, 1, 3, 2, 0, 0, 3); /* d is ignored without groups */
    CHECK(nsr_arch_check(&plain, &err) == 0, "%s", err.message);
}

static void test_reference_init(void) {
    const nsr_arch arch = ARCH(4, 8, 2, 3, 2, 2, 0, 0, 3);
    nsr_model *m, *m2;
    nsr_error err;
    REQUIRE(nsr_model_create(&m, &arch, 7, &err) == 0, "%s", err.message);
    REQUIRE(nsr_model_create(&m2, &arch, 7, &err) == 0, "%s", err.message);
    CHECK(!memcmp(m->params, m2->params, m->nparams * sizeof(float)), "same seed, other init");
    for (int ci = 0; ci < m->nconv; ci++) {
        const eng_conv *c = &m->conv[ci];
        const size_t stored = (size_t)c->groups * c->cout, fan_in = (size_t)c->cin * c->ksize * c->ksize;
        const int block = ci >= 1 && ci < ENG_TAIL(arch.blocks);
        const float g = !block ? 1.0f : (ci - 1) % 2 == 0 ? 2.0f : 0.5f; /* 1/sqrt(4) */
        const double bound = 1 / sqrt((double)fan_in);
        double vmax = 0, vsum = 0;
        for (size_t i = 0; i < stored * fan_in; i++) {
            vmax = fmax(vmax, fabs(m->params[c->v + i]));
            vsum += m->params[c->v + i];
        }
        CHECK(vmax <= bound && vmax > 0.8 * bound, "conv %d: max |V| %g, bound %g", ci, vmax, bound);
        CHECK(fabs(vsum / (double)(stored * fan_in)) < 0.2 * bound, "conv %d: V mean", ci);
        for (size_t i = 0; i < stored; i++)
            CHECK(m->params[c->g + i] == g && m->params[c->b + i] == 0, "conv %d: g, b", ci);
        CHECK(c->side == block, "conv %d: side layer %d", ci, c->side);
        if (c->side) {
            const size_t kd = (size_t)c->groups * c->cards;
            const double sb = 1 / sqrt((double)c->cin);
            for (size_t i = 0; i < kd * c->cin; i++)
                CHECK(fabs(m->params[c->A + i]) <= sb, "conv %d: A bound", ci);
            for (size_t i = 0; i < kd; i++)
                CHECK(fabs(m->params[c->a + i]) <= sb, "conv %d: a bound", ci);
        }
    }
    nsr_model_free(m2);
    REQUIRE(nsr_model_create(&m2, &arch, 8, &err) == 0, "%s", err.message);
    CHECK(memcmp(m->params, m2->params, m->nparams * sizeof(float)), "other seed, same init");
    nsr_model_free(m), nsr_model_free(m2);
}

/* Samples of a batch are independent (each selects from its own statistics), and the
 * inference workspace (two feature buffers in turn) computes what the training one does. */
static void test_batch_and_inference_agree(void) {
    const nsr_arch arch = ARCH(3, 8, 2, 2, 4, 2, 0, 0, 3);
    const int h = 5, w = 6, s = arch.scale;
    nsr_model *m;
    nsr_error err;
    REQUIRE(nsr_model_create(&m, &arch, 3, &err) == 0, "%s", err.message);
    /* perturb the init so that biases and groups differ */
    for (size_t i = 0; i < m->nparams; i++) m->params[i] += (float)(0.05 * (test_urand() - 0.5));
    eng_workspace batch;
    REQUIRE(eng_workspace_create(&batch, m, 2, h, w, 1, &err) == 0, "%s", err.message);
    float *x = test_rand_buf((size_t)2 * 3 * h * w, 0, 1);
    eng_forward(m, &batch, x, 0);
    const size_t out1 = (size_t)3 * h * s * w * s;
    for (int n = 0; n < 2; n++) {
        nsr_image in = {.width = w, .height = h, .channels = 3, .bit_depth = 16,
                        .data = x + (size_t)n * 3 * h * w};
        nsr_image out;
        REQUIRE(nsr_model_infer(m, &in, &out, NSR_SELECT_SOFT, &err) == 0, "%s", err.message);
        CHECK(out.width == w * s && out.height == h * s && out.channels == 3 && out.bit_depth == 16,
              "output image %dx%d", out.width, out.height);
        const double e = rel_err_f(out.data, batch.out + n * out1, out1);
        CHECK(e == 0, "sample %d: inference differs from the batch by %g", n, e);
        nsr_image_free(&out);
    }
    nsr_image grey = {.width = w, .height = h, .channels = 1, .data = x}, out;
    CHECK(nsr_model_infer(m, &grey, &out, NSR_SELECT_SOFT, &err) != 0, "grey input accepted");
    /* sizes whose products overflow are refused before any allocation */
    eng_workspace huge;
    err.message[0] = 0;
    CHECK(eng_workspace_create(&huge, m, 1 << 30, 1 << 30, 1 << 30, 1, &err) != 0 && err.message[0],
          "absurd batch accepted");
    eng_workspace_free(&batch);
    free(x);
    nsr_model_free(m);
}

/* The fixed-size regime's hard inference computes only the chosen group's hidden channels and
 * gives conv2 only those: the same output as computing every channel and weighting it by the
 * one-hot selection (the training workspace's hard forward), at widths the fast kernels take. */
static void test_fixed_size_hard_skips_groups(void) {
    const nsr_arch arch = ARCH(2, 32, 2, 4, 4, 2, 0, FIXED_SIZE, 3);
    const int h = 17, w = 20, s = arch.scale;
    nsr_model *m;
    nsr_error err;
    REQUIRE(nsr_model_create(&m, &arch, 5, &err) == 0, "%s", err.message);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] += (float)(0.05 * (test_urand() - 0.5));
    eng_workspace full;
    REQUIRE(eng_workspace_create(&full, m, 1, h, w, 1, &err) == 0, "%s", err.message);
    full.select.hard = 1;
    float *x = test_rand_buf((size_t)3 * h * w, 0, 1);
    eng_forward(m, &full, x, 0);
    nsr_image in = {.width = w, .height = h, .channels = 3, .bit_depth = 8, .data = x}, out;
    REQUIRE(nsr_model_infer(m, &in, &out, NSR_SELECT_HARD, &err) == 0, "%s", err.message);
    const double e = rel_err_f(out.data, full.out, (size_t)3 * h * s * w * s);
    CHECK(e < 1e-5, "hard inference differs from the full computation by %g", e);
    printf("  fixed size, hard: inference against the full computation %.1e\n", e);
    nsr_image_free(&out);
    REQUIRE(nsr_model_infer(m, &in, &out, NSR_SELECT_SOFT, &err) == 0, "%s", err.message);
    CHECK(rel_err_f(out.data, full.out, (size_t)3 * h * s * w * s) > 1e-3,
          "soft and hard selection gave the same output");
    nsr_image_free(&out);
    eng_workspace_free(&full);
    free(x);
    nsr_model_free(m);
}

/* ---------------------------------------------------------------- optimiser */

static void test_adam(void) {
    nn_adam opt;
    nsr_error err;
    REQUIRE(nn_adam_init(&opt, 3, &err) == 0, "%s", err.message);
    float p[3] = {1, -2, 0.5f};
    double rp[3] = {1, -2, 0.5}, m[3] = {0}, v[3] = {0};
    const float lr = 0.01f;
    for (int t = 1; t <= 4; t++) {
        const float g[3] = {0.3f * t, -1e-3f, (float)t - 2.5f};
        nn_adam_step(&opt, p, g, lr);
        for (int i = 0; i < 3; i++) {
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.999 * v[i] + 0.001 * (double)g[i] * g[i];
            const double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.999, t);
            rp[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + 1e-8);
            CHECK(fabs(p[i] - rp[i]) < 1e-6, "step %d param %d: %g, expected %g", t, i, p[i], rp[i]);
        }
    }
    nn_adam_free(&opt);
    const long ms[2] = {100, 200};
    CHECK(nn_lr_multistep(1e-3f, 0, ms, 2, 0.2f) == 1e-3f, "before the milestones");
    CHECK(fabsf(nn_lr_multistep(1e-3f, 100, ms, 2, 0.2f) - 2e-4f) < 1e-10f, "at the first");
    CHECK(fabsf(nn_lr_multistep(1e-3f, 199, ms, 2, 0.2f) - 2e-4f) < 1e-10f, "between");
    CHECK(fabsf(nn_lr_multistep(1e-3f, 250, ms, 2, 0.2f) - 4e-5f) < 1e-11f, "after both");
}

int main(void) {
    RUN(test_conv_matches_definition);
    RUN(test_weightnorm);
    RUN(test_relu_and_shift);
    RUN(test_pixel_shuffle_order);
    RUN(test_l1);
    RUN(test_param_counts);
    RUN(test_arch_check);
    RUN(test_reference_init);
    RUN(test_batch_and_inference_agree);
    RUN(test_fixed_size_hard_skips_groups);
    RUN(test_adam);
    return test_summary();
}
