/* test_conv_kernels.c - the fast convolutions (conv_direct.c, conv_winograd_*.c) against the
 * reference (conv_reference.c) on many shapes: sizes and channel counts that do not divide the
 * vector width or the blocking, K 1, 3 and 5, shared and per-sample kernels, with and without
 * bias; forward, input gradient and weight gradient (the backward ones accumulating onto
 * non-zero gradients); mixed kernels. Also: the same bits for any number of threads, and the
 * NSR_KERNELS=reference switch.
 *
 * Tolerance: |fast - reference| <= 1e-5 x the element's magnitude, the same sum taken over the
 * absolute values of its terms (|w| * |x| + |b| for the forward, and so on), which bounds what
 * reordering a float sum can change whatever the cancellation in it. */
#include <float.h>
#include <omp.h>
#include <stdint.h>

#include "check.h"
#include "kernels/conv_paths.h"
#include "kernels/kernels.h"

#define TOL 1e-5

static uint64_t rng_state = 2024;
static float urand(void) { /* [-1, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (float)((double)((z ^ (z >> 31)) >> 11) * 0x1p-52 - 1.0);
}
static float *rand_buf(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = urand();
    return x;
}
static float *abs_copy(const float *x, size_t n) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = fabsf(x[i]);
    return a;
}
static float *copy_buf(const float *x, size_t n) {
    float *c = malloc((n ? n : 1) * sizeof *c);
    memcpy(c, x, n * sizeof *c);
    return c;
}

/* Largest |a - b| / (mag + slack) over n elements, where mag[i] - base[i] is the magnitude of
 * what was added to element i (base: its value before, or NULL for 0), and slack allows for
 * the final roundings of a[i] and b[i] themselves (two additions of a small gradient to a
 * large base can differ by ulps of the base, whatever the kernel). */
static double worst_ratio(const float *a, const float *b, const float *mag, const float *base,
                          size_t n, size_t *where) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double m = fabs((double)mag[i] - (base ? base[i] : 0)) + 1e-30;
        const double slack = 4 * FLT_EPSILON * fabs((double)b[i]) / TOL;
        const double r = fabs((double)a[i] - b[i]) / (m + slack);
        if (r > worst || r != r) worst = r, *where = i;
    }
    return worst;
}

typedef struct shape {
    int N, cin, cout, H, W, K, per_sample, bias;
    int sparse; /* dout zero past column 8: a few wrong terms stand out in a long sum */
} shape;

static void describe(char *s, size_t n, const shape *c) {
    snprintf(s, n, "N%d %d->%d %dx%d K%d%s%s", c->N, c->cin, c->cout, c->H, c->W, c->K,
             c->per_sample ? " per-sample" : "", c->bias ? "" : " no bias");
}

/* A set of kernels under test, with nn_conv2d_*_fast's signatures and return values, and the
 * tolerances of its forward-style passes (forward, input gradient) and weight gradient. */
typedef struct kernels {
    int (*forward)(float *, const float *, const float *, size_t, const float *, size_t, int,
                   int, int, int, int, int, const nn_conv_post *);
    int (*backward)(float *, float *, float *, const float *, const float *, const float *,
                    size_t, size_t, int, int, int, int, int, int, const nn_conv_post *);
    double tol_fwd, tol_dw;
} kernels;

static const kernels fast = {nn_conv2d_forward_fast, nn_conv2d_backward_fast, TOL, TOL};

#if FAST_X86
/* Winograd alone, even where the dispatch would not choose it (any channel count, tiny
 * images): its forward, input gradient and weight gradient. */
static int have_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static int wino_forward(float *out, const float *inp, const float *w, size_t wstride,
                        const float *b, size_t bstride, int N, int cin, int cout, int H, int W,
                        int K, const nn_conv_post *post) {
    return K == 3 && have_avx2() &&
           wino_conv3x3(out, inp, w, wstride, NULL, 0, b, bstride, N, cin, cout, H, W, 0, post);
}
static int wino_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, size_t wstride, size_t bstride, int N, int cin,
                         int cout, int H, int W, int K, const nn_conv_post *dinp_post) {
    if (K != 3 || !have_avx2()) return 0;
    wino_wgrad *plan = wino_wgrad_plan(dw, db, dout, inp, wstride, bstride, N, cin, cout, H, W);
    if (!plan) return 0;
    wino_wgrad_run(plan);
    return !dinp ||
           wino_conv3x3(dinp, dout, w, wstride, NULL, 1, NULL, 0, N, cout, cin, H, W, 1, dinp_post);
}
/* Tolerances of Winograd alone, which here also runs shapes the dispatch never sends it (under
 * 16 channels or 8x8 pixels; every dispatched shape stays within TOL). Its weight gradient sums
 * each tile's products before the adjoint transform separates the taps, so its rounding is
 * relative to the tile's whole gradient rather than to one tap's terms: on images of a pixel or
 * two, where a tap at the edge has far fewer terms than the others, 3e-5 of the tap's own
 * magnitude. F(4x4, 3x3) in the forward and the input gradient rounds at about 1e-6 of the
 * magnitude with 64 channels, but up to 4e-5 with one or two, where its transforms' rounding
 * (scaled by up to 8 and 24) is not averaged over channels. */
static const kernels winograd = {wino_forward, wino_backward, 1e-4, 1e-4};
#endif

/* One shape: forward, then the backward with and without the input gradient, kernels k
 * against the reference. Returns 0 when k is not available here. */
static int check_shape(const shape *c, const kernels *k) {
    const size_t in_sz = (size_t)c->N * c->cin * c->H * c->W;
    const size_t out_sz = (size_t)c->N * c->cout * c->H * c->W;
    const size_t wset = (size_t)c->cout * c->cin * c->K * c->K;
    const size_t w_sz = c->per_sample ? c->N * wset : wset;
    const size_t b_sz = c->per_sample ? (size_t)c->N * c->cout : (size_t)c->cout;
    const size_t ws = c->per_sample ? wset : 0, bs = c->per_sample ? (size_t)c->cout : 0;
    const int N = c->N, ci = c->cin, co = c->cout, H = c->H, W = c->W, K = c->K;
    float *x = rand_buf(in_sz), *w = rand_buf(w_sz), *b = c->bias ? rand_buf(b_sz) : NULL;
    float *dy = rand_buf(out_sz), *ax = abs_copy(x, in_sz), *aw = abs_copy(w, w_sz);
    for (size_t i = 0; c->sparse && i < out_sz; i++)
        if (i % W >= 8) dy[i] = 0;
    float *ab = b ? abs_copy(b, b_sz) : NULL, *ady = abs_copy(dy, out_sz);
    float *y_fast = rand_buf(out_sz), *y_ref = rand_buf(out_sz), *y_mag = rand_buf(out_sz);
    /* gradients start from the same non-zero values: the backward must add to them */
    float *dx0 = rand_buf(in_sz), *dw0 = rand_buf(w_sz), *db0 = rand_buf(b_sz);
    float *dx_fast = copy_buf(dx0, in_sz), *dw_fast = copy_buf(dw0, w_sz);
    float *db_fast = copy_buf(db0, b_sz), *dx_ref = copy_buf(dx0, in_sz);
    float *dw_ref = copy_buf(dw0, w_sz), *db_ref = copy_buf(db0, b_sz);
    float *dx_mag = copy_buf(dx0, in_sz), *dw_mag = copy_buf(dw0, w_sz);
    float *db_mag = copy_buf(db0, b_sz);
    char name[96];
    describe(name, sizeof name, c);
    size_t at = 0;
    int ran = k->forward(y_fast, x, w, ws, b, bs, N, ci, co, H, W, K, NULL);
    if (!ran) goto done;
    nn_conv2d_forward_ref(y_ref, x, w, ws, b, bs, N, ci, co, H, W, K);
    nn_conv2d_forward_ref(y_mag, ax, aw, ws, ab, bs, N, ci, co, H, W, K);
    double e = worst_ratio(y_fast, y_ref, y_mag, NULL, out_sz, &at);
    CHECK(e <= k->tol_fwd, "%s forward: element %zu is %.9g, reference %.9g (%.2g of its magnitude)",
          name, at, y_fast[at], y_ref[at], e);

    /* the same with a residual added and ReLU applied as the result is stored */
    {
        float *res = rand_buf(out_sz), *y_post = rand_buf(out_sz), *want = rand_buf(out_sz);
        const nn_conv_post post = {.residual = res, .relu = 1};
        for (size_t i = 0; i < out_sz; i++) {
            const float v = y_ref[i] + res[i];
            want[i] = v > 0 ? v : 0;
            y_mag[i] += fabsf(res[i]);
        }
        CHECK(k->forward(y_post, x, w, ws, b, bs, N, ci, co, H, W, K, &post),
              "%s: the forward with post did not run", name);
        e = worst_ratio(y_post, want, y_mag, NULL, out_sz, &at);
        CHECK(e <= k->tol_fwd, "%s forward with residual and ReLU: element %zu is %.9g, wanted %.9g",
              name, at, y_post[at], want[at]);
        free(res), free(y_post), free(want);
    }

    /* full backward, then the weight gradient alone (dinp NULL) a second time */
    for (int pass = 0; pass < 2; pass++) {
        float *dx_f = pass ? NULL : dx_fast, *dx_r = pass ? NULL : dx_ref;
        float *db_f = c->bias ? db_fast : NULL, *db_r = c->bias ? db_ref : NULL;
        CHECK(k->backward(dx_f, dw_fast, db_f, dy, x, w, ws, bs, N, ci, co, H, W, K, NULL),
              "%s: the backward did not run", name);
        nn_conv2d_backward_ref(dx_r, dw_ref, db_r, dy, x, w, ws, bs, N, ci, co, H, W, K);
        nn_conv2d_backward_ref(pass ? NULL : dx_mag, dw_mag, c->bias ? db_mag : NULL, ady, ax,
                               aw, ws, bs, N, ci, co, H, W, K);
    }
    e = worst_ratio(dx_fast, dx_ref, dx_mag, dx0, in_sz, &at);
    CHECK(e <= k->tol_fwd, "%s input gradient: element %zu is %.9g, reference %.9g (%.2g)", name, at,
          dx_fast[at], dx_ref[at], e);
    e = worst_ratio(dw_fast, dw_ref, dw_mag, dw0, w_sz, &at);
    CHECK(e <= k->tol_dw, "%s weight gradient: element %zu is %.9g, reference %.9g (%.2g)", name, at,
          dw_fast[at], dw_ref[at], e);
    e = worst_ratio(db_fast, db_ref, db_mag, db0, b_sz, &at);
    CHECK(e <= TOL, "%s bias gradient: element %zu is %.9g, reference %.9g (%.2g)", name, at,
          db_fast[at], db_ref[at], e);

    /* the input gradient gated as it is stored (a ReLU's backward): kept where the gate is
     * positive, the same sum as above; zero elsewhere, exactly */
    {
        float *gate = rand_buf(in_sz), *dx_gated = copy_buf(dx0, in_sz), *dw_any = rand_buf(w_sz);
        const nn_conv_post gated = {.gate = gate};
        CHECK(k->backward(dx_gated, dw_any, NULL, dy, x, w, ws, bs, N, ci, co, H, W, K, &gated),
              "%s: the gated backward did not run", name);
        size_t open = 0, wrong = 0;
        for (size_t i = 0; i < in_sz; i++) {
            if (gate[i] > 0) {
                open++;
            } else {
                wrong += dx_gated[i] != 0.0f;
                dx_gated[i] = dx_ref[i]; /* checked: left out of the comparison below */
            }
        }
        CHECK(wrong == 0 && (in_sz < 8 || (open > 0 && open < in_sz)),
              "%s gated input gradient: %zu closed elements not zero (%zu open)", name, wrong, open);
        e = worst_ratio(dx_gated, dx_ref, dx_mag, dx0, in_sz, &at);
        CHECK(e <= k->tol_fwd, "%s gated input gradient: element %zu is %.9g, reference %.9g",
              name, at, dx_gated[at], dx_ref[at]);
        free(gate), free(dx_gated), free(dw_any);
    }
done:
    free(x), free(w), free(b), free(dy), free(ax), free(aw), free(ab), free(ady);
    free(y_fast), free(y_ref), free(y_mag), free(dx0), free(dw0), free(db0);
    free(dx_fast), free(dw_fast), free(db_fast), free(dx_ref), free(dw_ref), free(db_ref);
    free(dx_mag), free(dw_mag), free(db_mag);
    return ran;
}

/* Every kernel size in ks with every awkward size or channel count, one at a time, around a
 * small base shape; then a pseudo-random sample of the whole grid. Returns the number of
 * shapes, 0 when the kernels are not available. */
static int grid(const kernels *k, const int *ks, int nks, const int *sizes, int nsizes,
                const int *chans, int nchans) {
    int cases = 0;
    for (int i = 0; i < nks; i++) {
        for (int j = 0; j < nsizes; j++) {
            const shape a = {2, 3, 5, sizes[j], 9, ks[i], j % 2, 1, 0};
            const shape b = {1, 5, 3, 7, sizes[j], ks[i], 1 - j % 2, j % 3 != 0, 0};
            if (!check_shape(&a, k)) return 0;
            check_shape(&b, k);
            cases += 2;
        }
        for (int j = 0; j < nchans; j++) {
            const shape a = {3, chans[j], 13, 9, 17, ks[i], j % 2, 1, 0};
            const shape b = {2, 13, chans[j], 17, 7, ks[i], 1 - j % 2, j % 2, 0};
            check_shape(&a, k), check_shape(&b, k);
            cases += 2;
        }
    }
    for (int t = 0; t < 120; t++) {
        uint64_t r = (uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull;
        const shape c = {1 + (int)(r % 3), chans[(r >> 8) % nchans], chans[(r >> 16) % nchans],
                         sizes[(r >> 24) % nsizes], sizes[(r >> 32) % nsizes],
                         ks[(r >> 40) % nks], (int)((r >> 48) & 1), (int)((r >> 49) % 4 != 0),
                         0};
        /* keep the big ones few: the reference runs under the sanitizers too */
        if ((size_t)c.cin * c.cout * c.H * c.W > 64 * 64 * 17 * 17) continue;
        check_shape(&c, k);
        cases++;
    }
    return cases;
}

/* NSR_KERNELS for one test, then back to what the test run started with. */
static const char *kernels_at_start;
static void set_kernels(const char *value) {
    if (value) setenv("NSR_KERNELS", value, 1);
    else if (kernels_at_start) setenv("NSR_KERNELS", kernels_at_start, 1);
    else unsetenv("NSR_KERNELS");
}

static const int sizes[] = {1, 2, 3, 7, 9, 17, 48}, chans[] = {1, 3, 5, 8, 13, 64};
static const int ks[] = {1, 3, 5};

/* The fast kernels as dispatched (Winograd where it suits), and the direct ones alone
 * (NSR_KERNELS=direct), over the grid. */
static void test_shapes(void) {
    const int cases = grid(&fast, ks, 3, sizes, 7, chans, 6);
    if (!cases) SKIP("no fast kernels on this CPU");
    printf("  %d shapes\n", cases);
}
static void test_shapes_direct(void) {
    set_kernels("direct");
    const int cases = grid(&fast, ks, 3, sizes, 7, chans, 6);
    set_kernels(NULL);
    if (!cases) SKIP("no fast kernels on this CPU");
}

/* Winograd on its own grid: odd sizes (a last tile half outside the image), rows of more
 * than one block segment (130 pixels: 65 tiles), channel counts around the output blocking,
 * some of each below the dispatch's threshold. */
static void test_winograd(void) {
#if FAST_X86
    static const int wsizes[] = {1, 2, 3, 4, 5, 9, 17, 48, 130}, wchans[] = {1, 3, 6, 7, 16, 17, 64};
    static const int k3[] = {3};
    const int cases = grid(&winograd, k3, 1, wsizes, 9, wchans, 7);
    if (!cases) SKIP("no AVX2 on this CPU");
    /* a long row in the forward; rows so long that the weight gradient takes one band of
     * one tile row at a time, a chunk each (per-sample and shared kernels) */
    const shape wide[] = {{1, 17, 13, 6, 300, 3, 1, 1, 0},
                          {2, 16, 16, 5, 4000, 3, 1, 1, 0},
                          {2, 16, 17, 5, 4000, 3, 0, 1, 0}};
    for (int i = 0; i < 3; i++) check_shape(&wide[i], &winograd);
    printf("  %d shapes\n", cases + 3);
#else
    SKIP("no Winograd kernels on this CPU");
#endif
}

/* The shapes the networks run, scaled down to keep the reference quick: 64 channels on a 48x48
 * training patch (pixel sums longer than one sub-block) and on smaller ones, a whole image cut
 * into bands (N = 1), the head (3 ->), the tail (-> 3s^2), the 5x5 skip, wide hidden layers
 * and 256 channels; as dispatched, and direct. */
static void test_network_shapes(void) {
    const shape list[] = {
        {1, 64, 64, 48, 48, 3, 0, 1, 0},   {2, 64, 64, 16, 16, 3, 1, 1, 0},
        {1, 64, 64, 29, 43, 3, 0, 1, 0},   {2, 3, 64, 24, 40, 3, 0, 1, 0},
        {2, 64, 12, 24, 24, 3, 0, 1, 0},   {2, 3, 12, 24, 24, 5, 0, 1, 0},
        {2, 32, 128, 12, 12, 3, 1, 1, 0},  {2, 128, 32, 12, 12, 3, 1, 1, 0},
        {1, 256, 256, 8, 8, 3, 1, 1, 0},   {1, 160, 200, 7, 9, 5, 0, 1, 0},
    };
    for (int direct = 0; direct < 2; direct++) {
        if (direct) set_kernels("direct");
        for (size_t i = 0; i < sizeof list / sizeof *list; i++)
            if (!check_shape(&list[i], &fast)) {
                set_kernels(NULL);
                SKIP("no fast kernels on this CPU");
            }
        set_kernels(NULL);
    }
}

/* Rows so wide that the weight gradient cuts each sample into bands (a longer one, then a
 * shorter one in a buffer a longer one used) and the bands into chunks, a sample's bands
 * falling into two chunks. */
static void test_weight_gradient_chunks(void) {
    const shape a = {3, 1, 1, 5, 140001, 3, 1, 1, 1}, b = {3, 1, 2, 5, 140001, 3, 0, 1, 1};
    if (!check_shape(&a, &fast)) SKIP("no fast kernels on this CPU");
    check_shape(&b, &fast);
}

/* The same bits for 1, 2 and 3 threads: direct kernels (13 -> 17 channels at 23x31) and
 * Winograd (24 -> 26 at 33x34). */
static void test_threads_bit_identical(void) {
    for (int wide = 0; wide < 2; wide++) {
        const int N = 2, ci = wide ? 24 : 13, co = wide ? 26 : 17, K = 3;
        const int H = wide ? 33 : 23, W = wide ? 34 : 31;
        const size_t in_sz = (size_t)N * ci * H * W, out_sz = (size_t)N * co * H * W;
        const size_t wset = (size_t)co * ci * K * K;
        float *x = rand_buf(in_sz), *w = rand_buf(N * wset), *b = rand_buf((size_t)N * co);
        float *dy = rand_buf(out_sz), *res[3][4];
        const int saved = omp_get_max_threads();
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(t + 1);
            res[t][0] = calloc(out_sz, sizeof(float));
            res[t][1] = calloc(in_sz, sizeof(float));
            res[t][2] = calloc(N * wset, sizeof(float));
            res[t][3] = calloc((size_t)N * co, sizeof(float));
            if (!nn_conv2d_forward_fast(res[t][0], x, w, wset, b, co, N, ci, co, H, W, K, NULL)) {
                omp_set_num_threads(saved);
                SKIP("no fast kernels on this CPU");
            }
            nn_conv2d_backward_fast(res[t][1], res[t][2], res[t][3], dy, x, w, wset, co, N, ci,
                                    co, H, W, K, NULL);
        }
        omp_set_num_threads(saved);
        const size_t sz[4] = {out_sz, in_sz, N * wset, (size_t)N * co};
        const char *what[4] = {"output", "input gradient", "weight gradient", "bias gradient"};
        for (int t = 1; t < 3; t++)
            for (int i = 0; i < 4; i++)
                CHECK(memcmp(res[0][i], res[t][i], sz[i] * sizeof(float)) == 0,
                      "%d -> %d channels: %s differs between 1 and %d threads", ci, co, what[i],
                      t + 1);
        for (int t = 0; t < 3; t++)
            for (int i = 0; i < 4; i++) free(res[t][i]);
        free(x), free(w), free(b), free(dy);
    }
}

/* Winograd's products on 512-bit vectors (product_avx512) and on 256-bit ones (NSR_KERNELS=avx2):
 * the same bits for the forward, the input gradient and the weight and bias gradients, shared
 * and per-sample kernels. The shapes leave every tail: 8, 16 and 24 pixels past the last whole
 * 32 in the products, and 4, 8 or 16 channels in the weight gradient's last block. */
static void test_avx512_same_bits(void) {
    if (!cpu_has_avx512f() || !cpu_has_avx2_fma()) SKIP("no AVX-512 on this CPU");
    static const int list[][5] = {{2, 24, 26, 33, 34}, {1, 64, 64, 48, 48}, {2, 16, 40, 37, 61},
                                  {3, 64, 32, 45, 45}, {2, 20, 18, 32, 50}, {1, 40, 64, 40, 36}};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        for (int per_sample = 0; per_sample < 2; per_sample++) {
            const int N = list[i][0], ci = list[i][1], co = list[i][2], H = list[i][3], W = list[i][4];
            const size_t in_sz = (size_t)N * ci * H * W, out_sz = (size_t)N * co * H * W;
            const size_t wset = (size_t)co * ci * 9, ws = per_sample ? wset : 0;
            const size_t sz[4] = {out_sz, in_sz, (per_sample ? N : 1) * wset,
                                  (size_t)(per_sample ? N : 1) * co};
            float *x = rand_buf(in_sz), *w = rand_buf(sz[2]), *b = rand_buf(sz[3]);
            float *dy = rand_buf(out_sz), *res[2][4];
            for (int narrow = 0; narrow < 2; narrow++) {
                set_kernels(narrow ? "avx2" : NULL);
                for (int k = 0; k < 4; k++) res[narrow][k] = calloc(sz[k], sizeof(float));
                nn_conv2d_forward_fast(res[narrow][0], x, w, ws, b, per_sample ? co : 0, N, ci, co,
                                       H, W, 3, NULL);
                nn_conv2d_backward_fast(res[narrow][1], res[narrow][2], res[narrow][3], dy, x, w,
                                        ws, per_sample ? co : 0, N, ci, co, H, W, 3, NULL);
            }
            set_kernels(NULL);
            const char *what[4] = {"output", "input gradient", "weight gradient", "bias gradient"};
            for (int k = 0; k < 4; k++) {
                CHECK(memcmp(res[0][k], res[1][k], sz[k] * sizeof(float)) == 0,
                      "N%d %d -> %d %dx%d%s: the %s differs between AVX-512 and AVX2", N, ci, co,
                      H, W, per_sample ? " per-sample" : "", what[k]);
                free(res[0][k]), free(res[1][k]);
            }
            free(x), free(w), free(b), free(dy);
        }
}

/* NSR_KERNELS=reference makes nn_conv2d_* the reference, bit for bit; =direct and =avx2 are
 * named. */
static void test_reference_switch(void) {
    const int N = 2, ci = 5, co = 7, H = 9, W = 11, K = 3;
    const size_t out_sz = (size_t)N * co * H * W;
    float *x = rand_buf((size_t)N * ci * H * W), *w = rand_buf((size_t)co * ci * K * K);
    float *b = rand_buf(co), *y = rand_buf(out_sz), *y_ref = rand_buf(out_sz);
    const char *old = getenv("NSR_KERNELS");
    char *saved = old ? strdup(old) : NULL;
    setenv("NSR_KERNELS", "reference", 1);
    CHECK(strcmp(nn_conv2d_kernels(), "reference") == 0, "kernels: %s", nn_conv2d_kernels());
    nn_conv2d_forward(y, x, w, 0, b, 0, N, ci, co, H, W, K, NULL);
    nn_conv2d_forward_ref(y_ref, x, w, 0, b, 0, N, ci, co, H, W, K);
    CHECK(memcmp(y, y_ref, out_sz * sizeof *y) == 0, "forced reference differs from it");
    setenv("NSR_KERNELS", "direct", 1);
    const int fast = nn_conv2d_forward_fast(y, x, w, 0, b, 0, N, ci, co, H, W, K, NULL);
    CHECK(strcmp(nn_conv2d_kernels(), fast ? "avx2-direct" : "reference") == 0, "kernels: %s",
          nn_conv2d_kernels());
    setenv("NSR_KERNELS", "avx2", 1);
    CHECK(strcmp(nn_conv2d_kernels(), fast ? "avx2" : "reference") == 0, "kernels: %s",
          nn_conv2d_kernels());
    unsetenv("NSR_KERNELS");
    const char *wide = cpu_has_avx512f() ? "avx512" : "avx2";
    CHECK(strcmp(nn_conv2d_kernels(), fast ? wide : "reference") == 0, "kernels: %s",
          nn_conv2d_kernels());
    if (saved) setenv("NSR_KERNELS", saved, 1);
    free(saved), free(x), free(w), free(b), free(y), free(y_ref);
}

#if FAST_X86
/* Mixed kernels (nn_conv2d_forward_mix, nn_conv2d_backward_input_mix: Winograd's transforms of
 * the groups, mixed per sample) against forming each sample's kernels with nn_kernel_mix_forward and the
 * reference convolution: selections soft, one-hot (hard: one group's transforms used as they
 * are) and half of each; cardinals whose channels do not fill the output blocks (5 or 6 per
 * cardinal against blocks of 6), channel counts off the vector width, and batches that take
 * whole samples per thread. Returns 0 when the mixture path does not run here. */
static int check_mixture(int N, int cin, int cout, int H, int W, int groups, int cards, int mode) {
    const size_t in_sz = (size_t)N * cin * H * W, out_sz = (size_t)N * cout * H * W;
    const size_t wset = (size_t)cout * cin * 9, per_sample = (size_t)N * wset;
    float *x = rand_buf(in_sz), *w = rand_buf(groups * wset), *b = rand_buf((size_t)groups * cout);
    float *dy = rand_buf(out_sz), *gamma = rand_buf((size_t)N * groups * cards);
    float *ax = abs_copy(x, in_sz), *aw = abs_copy(w, groups * wset), *ab = abs_copy(b, (size_t)groups * cout);
    float *ady = abs_copy(dy, out_sz), *wmix = rand_buf(per_sample), *awmix = rand_buf(per_sample);
    float *bmix = rand_buf((size_t)N * cout), *abmix = rand_buf((size_t)N * cout);
    float *y = rand_buf(out_sz), *y_ref = rand_buf(out_sz), *y_mag = rand_buf(out_sz);
    float *dx0 = rand_buf(in_sz), *dx = copy_buf(dx0, in_sz), *dx_ref = copy_buf(dx0, in_sz);
    float *dx_mag = copy_buf(dx0, in_sz), *dw_scratch = rand_buf(per_sample);
    /* gamma >= 0 summing to 1 over the groups of each cardinal (mode 0), one-hot on one group for
     * all cardinals (1), or one-hot on even samples only (2) */
    for (int n = 0; n < N; n++)
        for (int j = 0; j < cards; j++) {
            float sum = 0;
            for (int s = 0; s < groups; s++) sum += gamma[(n * groups + s) * cards + j] = fabsf(gamma[(n * groups + s) * cards + j]) + 0.1f;
            const int hot = mode == 1 || (mode == 2 && n % 2 == 0);
            for (int s = 0; s < groups; s++) {
                float *g = gamma + (n * groups + s) * cards + j;
                *g = hot ? (s == (n + 1) % groups ? 1.0f : 0.0f) : *g / sum;
            }
        }
    const nn_kernel_mix mix = {gamma, groups, cards, NULL, NULL, 0};
    char name[96];
    snprintf(name, sizeof name, "N%d %d->%d %dx%d groups %d cards %d %s", N, cin, cout, H, W, groups,
             cards, mode == 0 ? "soft" : mode == 1 ? "one-hot" : "half one-hot");
    nn_kernel_mix_forward(wmix, bmix, w, b, &mix, N, cout, (size_t)cin * 9);
    nn_kernel_mix_forward(awmix, abmix, aw, ab, &mix, N, cout, (size_t)cin * 9);
    int ran = nn_conv2d_forward_mix(y, x, w, wset, &mix, bmix, (size_t)cout, N, cin, cout, H, W, 3,
                                    NULL);
    if (ran) {
        size_t at = 0;
        nn_conv2d_forward_ref(y_ref, x, wmix, wset, bmix, (size_t)cout, N, cin, cout, H, W, 3);
        nn_conv2d_forward_ref(y_mag, ax, awmix, wset, abmix, (size_t)cout, N, cin, cout, H, W, 3);
        double e = worst_ratio(y, y_ref, y_mag, NULL, out_sz, &at);
        CHECK(e <= TOL, "%s forward: element %zu is %.9g, reference %.9g (%.2g of its magnitude)",
              name, at, y[at], y_ref[at], e);
        /* the input gradient runs by Winograd only (the direct path's mixtures, one group per
         * sample, are hard selection: inference) */
        const int dx_ran =
            nn_conv2d_backward_input_mix(dx, dy, w, wset, &mix, N, cin, cout, H, W, 3, NULL);
        CHECK(dx_ran == wino_suits(cout, cin, H, W), "%s: the input gradient ran: %d", name, dx_ran);
        if (!dx_ran) goto done;
        nn_conv2d_backward_ref(dx_ref, dw_scratch, NULL, dy, x, wmix, wset, 0, N, cin, cout, H, W, 3);
        nn_conv2d_backward_ref(dx_mag, dw_scratch, NULL, ady, ax, awmix, wset, 0, N, cin, cout, H, W, 3);
        e = worst_ratio(dx, dx_ref, dx_mag, dx0, in_sz, &at);
        CHECK(e <= TOL, "%s input gradient: element %zu is %.9g, reference %.9g (%.2g)", name, at,
              dx[at], dx_ref[at], e);
    }
done:
    free(x), free(w), free(b), free(dy), free(gamma), free(ax), free(aw), free(ab), free(ady);
    free(wmix), free(awmix), free(bmix), free(abmix), free(y), free(y_ref), free(y_mag);
    free(dx0), free(dx), free(dx_ref), free(dx_mag), free(dw_scratch);
    return ran;
}

#endif

static void test_mixture(void) {
#if FAST_X86
    /* 64 -> 8 runs by Winograd; 24 -> 4, too few output channels for it, only one-hot (by the
     * direct kernels, each group packed once) */
    static const int list[][7] = {
        {3, 16, 16, 9, 11, 2, 1}, {2, 20, 24, 8, 17, 3, 4},   {4, 17, 40, 12, 10, 4, 8},
        {1, 33, 18, 9, 9, 5, 2},  {6, 64, 64, 16, 16, 4, 16}, {2, 16, 30, 48, 20, 16, 6},
        {5, 64, 8, 13, 21, 8, 1}, {3, 24, 4, 9, 9, 16, 2}};
    int cases = 0;
    for (int i = 0; i < 8; i++)
        for (int mode = 0; mode < 3; mode++) {
            const int *c = list[i], wino = wino_suits(c[1], c[2], c[3], c[4]);
            const int ran = check_mixture(c[0], c[1], c[2], c[3], c[4], c[5], c[6], mode);
            if (!ran && wino)
                SKIP("the mixed-kernel path does not run here (%s kernels)", nn_conv2d_kernels());
            CHECK(ran == (wino || mode == 1), "shape %d mode %d: the mixture ran: %d", i, mode, ran);
            cases += ran;
        }
    printf("  %d mixtures\n", cases);
#else
    SKIP("no fast kernels on this CPU");
#endif
}

/* nn_add_gated (the selection's gradient through a spatial mean and a ReLU) against its rule,
 * bit for bit: every length up to 3 vectors and a tail, gates of each kind (positive, +0, -0,
 * negative, NaN) and no gate. */
static void test_add_gated(void) {
    enum { LEN = 29 };
    const float kinds[] = {1.5f, 0.0f, -0.0f, -2.0f, 1e-30f, NAN};
    float x0[LEN], gate[LEN], x[LEN];
    for (int e = 0; e < LEN; e++) {
        x0[e] = (float)(e % 7) - 3.25f;
        gate[e] = kinds[(e * 5) % 6];
    }
    for (int gated = 0; gated < 2; gated++)
        for (size_t len = 0; len <= LEN; len++) {
            memcpy(x, x0, sizeof x);
            nn_add_gated(x, gated ? gate : NULL, 0.375f, len);
            for (size_t e = 0; e < LEN; e++) {
                float want = e < len ? x0[e] + 0.375f : x0[e];
                if (e < len && gated && !(gate[e] > 0)) want = 0.0f;
                CHECK(memcmp(&x[e], &want, sizeof want) == 0, "gated %d len %zu: x[%zu] %g, want %g",
                      gated, len, e, x[e], want);
            }
        }
}

int main(void) {
    kernels_at_start = getenv("NSR_KERNELS") ? strdup(getenv("NSR_KERNELS")) : NULL;
    printf("  kernels: %s\n", nn_conv2d_kernels());
    RUN(test_shapes);
    RUN(test_shapes_direct);
    RUN(test_winograd);
    RUN(test_network_shapes);
    RUN(test_mixture);
    RUN(test_add_gated);
    RUN(test_weight_gradient_chunks);
    RUN(test_threads_bit_identical);
    RUN(test_avx512_same_bits);
    RUN(test_reference_switch);
    return test_summary();
}
