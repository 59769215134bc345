/* test_nsr_conv.c - the NSR convolution (src/nn/nsr_conv.c, NSR.md section 2): selection against
 * the softmax written out, NSR.md section 1's identity (the mixed-kernel conv is the mixture of
 * the group convs), the fused selection + conv against the two steps, every gradient against
 * finite differences, and the fast paths against the plain reading: mixing and its backward
 * give the bits of the straightforward loops, whatever the thread count; hard selection reads
 * only the chosen group; the pooled mean is the mean. */
#include <omp.h>
#include <stdint.h>

#include "check.h"
#include "compare.h"
#include "nn/engine.h"
#include "testdata.h"

/* ---------------------------------------------------------------- selection and the identity */

/* Selection against its definition: the means, the logits z = A p + a (plus gumbel times
 * -log(-log(u)) noise, u the counter-based uniform of (seed, stream, n*k*d + r)), the softmax
 * of z / T over the groups of each cardinal, and for hard selection the argmax one-hot with
 * the softmax beside it for the straight-through backward. */
static void test_select_softmax(void) {
    const nn_nsr_dims dm = {.n = 2, .cin = 3, .cout = 4, .h = 3, .w = 2, .ksize = 3, .groups = 3, .cards = 2};
    const size_t in_sz = (size_t)dm.n * dm.cin * dm.h * dm.w, kd = 6;
    float *x = test_rand_buf(in_sz, -1, 1), *A = test_rand_buf(kd * dm.cin, -2, 2), *a = test_rand_buf(kd, -1, 1);
    const nn_select_opts modes[] = {
        {.temperature = 1},                    /* the reference (also as NULL below) */
        {.temperature = 0.5f},                 /* sharper */
        {.temperature = 0.5f, .hard = 1},      /* hard, with its softmax */
        {.temperature = 2, .hard = 1, .gumbel = 1.5f, .seed = 11, .stream = 5},
        {.temperature = 0.7f, .gumbel = 1, .seed = 3, .stream = 1},
    };
    for (int mode = -1; mode < (int)(sizeof modes / sizeof modes[0]); mode++) {
        const nn_select_opts *so = mode < 0 ? NULL : &modes[mode];
        const double T = so ? so->temperature : 1, noise = so ? so->gumbel : 0;
        float gamma[12], soft[12], pooled[6];
        nn_select_forward(gamma, soft, pooled, x, A, a, &dm, so);
        for (int n = 0; n < dm.n; n++) {
            double z[6];
            for (int c = 0; c < dm.cin; c++) {
                double m = 0;
                for (int i = 0; i < dm.h * dm.w; i++) m += x[(n * dm.cin + c) * dm.h * dm.w + i];
                CHECK(fabs(pooled[n * 3 + c] - m / 6) < 1e-6, "mean of channel %d", c);
            }
            for (int r = 0; r < 6; r++) {
                z[r] = a[r];
                for (int c = 0; c < 3; c++) z[r] += (double)A[r * 3 + c] * pooled[n * 3 + c];
                if (noise > 0)
                    z[r] -= noise * log(-log(nsr_rng_uniform(so->seed, so->stream, (uint64_t)n * kd + r)));
            }
            for (int j = 0; j < 2; j++) {
                double sum = 0;
                int best = 0;
                for (int i = 0; i < 3; i++) {
                    sum += exp(z[i * 2 + j] / T);
                    if (z[i * 2 + j] > z[best * 2 + j]) best = i;
                }
                for (int i = 0; i < 3; i++) {
                    const int e = n * 6 + i * 2 + j;
                    const double want = exp(z[i * 2 + j] / T) / sum;
                    CHECK(fabs(soft[e] - want) < 1e-5, "mode %d: softmax[%d][%d] of sample %d %g, want %g",
                          mode, i, j, n, soft[e], want);
                    if (so && so->hard)
                        CHECK(gamma[e] == (i == best), "mode %d: hard gamma[%d][%d]", mode, i, j);
                    else
                        CHECK(gamma[e] == soft[e], "mode %d: soft gamma[%d][%d]", mode, i, j);
                }
            }
        }
    }
    free(x), free(A), free(a);
}

/* NSR.md section 1: sum_i gamma_i (W_i * x + b_i) = (sum_i gamma_i W_i) * x + sum_i gamma_i b_i.
 * Left: k ordinary convolutions, one per group, then the gamma-weighted sum of their outputs
 * (gamma of cardinal j for output channel o = j*(cout/d) + t). Right: the NSR convolution. */
static void identity_case(int hard) {
    const nn_nsr_dims dm = {.n = 3, .cin = 4, .cout = 6, .h = 5, .w = 4, .ksize = 3, .groups = 3, .cards = 2};
    const int k = dm.groups, d = dm.cards, per = dm.cout / d;
    const size_t in_sz = (size_t)dm.n * dm.cin * dm.h * dm.w, out_sz = (size_t)dm.n * dm.cout * dm.h * dm.w;
    const size_t wg = (size_t)dm.cout * dm.cin * 9, plane = (size_t)dm.h * dm.w;
    float *x = test_rand_buf(in_sz, -1, 1), *w = test_rand_buf(k * wg, -1, 1), *b = test_rand_buf(k * dm.cout, -1, 1);
    float *A = test_rand_buf((size_t)k * d * dm.cin, -3, 3), *a = test_rand_buf((size_t)k * d, -1, 1);
    float *gamma = test_zero_buf((size_t)dm.n * k * d), *pooled = test_zero_buf((size_t)dm.n * dm.cin);
    nn_select_forward(gamma, NULL, pooled, x, A, a, &dm, &(nn_select_opts){.temperature = 1, .hard = hard});
    float *group = test_zero_buf(out_sz), *out = test_zero_buf(out_sz);
    double *sum = calloc(out_sz, sizeof(double));
    for (int i = 0; i < k; i++) {
        nn_conv2d_forward(group, x, w + i * wg, 0, b + i * dm.cout, 0, dm.n, dm.cin, dm.cout, dm.h,
                          dm.w, 3, NULL);
        for (int n = 0; n < dm.n; n++)
            for (int o = 0; o < dm.cout; o++)
                for (size_t p = 0; p < plane; p++) {
                    const size_t e = ((size_t)n * dm.cout + o) * plane + p;
                    sum[e] += (double)gamma[(n * k + i) * d + o / per] * group[e];
                }
    }
    nn_mix_scratch sc = {test_zero_buf(dm.n * wg), test_zero_buf((size_t)dm.n * dm.cout), NULL, NULL};
    nn_mixconv_forward(out, x, w, b, gamma, &dm, &sc, NULL);
    const double e = rel_err_d(out, sum, out_sz);
    printf("  identity (%s selection): relative error %.1e\n", hard ? "hard" : "soft", e);
    CHECK(e < 1e-6, "%s: mixed-kernel conv differs from the mixture of group convs by %g",
          hard ? "hard" : "soft", e);
    free(x), free(w), free(b), free(A), free(a), free(gamma), free(pooled), free(group), free(out);
    free(sum), free(sc.wmix), free(sc.bmix);
}

/* nn_nsr_conv_forward, which lets the fast convolution select each sample where it runs it,
 * gives the bits of nn_select_forward then nn_mixconv_forward: soft and hard selection,
 * batches that run whole samples per thread (selected in the convolution) and smaller ones
 * (selected first), cardinals, a residual and ReLU after the sum. */
static void test_nsr_conv_fused(void) {
    const nn_nsr_dims shapes[] = {
        {.n = 6, .cin = 16, .cout = 16, .h = 12, .w = 12, .ksize = 3, .groups = 4, .cards = 4},
        {.n = 1, .cin = 32, .cout = 24, .h = 9, .w = 17, .ksize = 3, .groups = 2, .cards = 1},
        {.n = 9, .cin = 64, .cout = 64, .h = 16, .w = 16, .ksize = 3, .groups = 4, .cards = 16},
        {.n = 4, .cin = 3, .cout = 8, .h = 6, .w = 6, .ksize = 3, .groups = 2, .cards = 2}};
    for (int t = 0; t < 8; t++) {
        const nn_nsr_dims dm = shapes[t / 2];
        const int hard = t % 2;
        const int kd = dm.groups * dm.cards;
        const size_t in_sz = (size_t)dm.n * dm.cin * dm.h * dm.w;
        const size_t out_sz = (size_t)dm.n * dm.cout * dm.h * dm.w;
        const size_t wsz = (size_t)dm.cout * dm.cin * 9;
        float *x = test_rand_buf(in_sz, -1, 1), *res = test_rand_buf(out_sz, -1, 1);
        float *w = test_rand_buf(dm.groups * wsz, -0.2f, 0.2f), *b = test_rand_buf((size_t)dm.groups * dm.cout, -1, 1);
        float *A = test_rand_buf((size_t)kd * dm.cin, -3, 3), *a = test_rand_buf(kd, -1, 1);
        float *g1 = test_zero_buf((size_t)dm.n * kd), *g2 = test_zero_buf((size_t)dm.n * kd);
        float *p1 = test_zero_buf((size_t)dm.n * dm.cin), *p2 = test_zero_buf((size_t)dm.n * dm.cin);
        float *o1 = test_zero_buf(out_sz), *o2 = test_zero_buf(out_sz);
        /* scratch of their own: nothing one leaves there can stand in for the other's work */
        nn_mix_scratch sc1 = {test_zero_buf(dm.n * wsz), test_zero_buf((size_t)dm.n * dm.cout), NULL, NULL};
        nn_mix_scratch sc2 = {test_zero_buf(dm.n * wsz), test_zero_buf((size_t)dm.n * dm.cout), NULL, NULL};
        const nn_conv_post post = {.residual = res, .relu = 1};
        const nn_select_opts so = {.temperature = 1, .hard = hard};
        nn_select_forward(g1, NULL, p1, x, A, a, &dm, &so);
        nn_mixconv_forward(o1, x, w, b, g1, &dm, &sc1, &post);
        nn_nsr_conv_forward(o2, g2, NULL, p2, x, A, a, w, b, &dm, &sc2, &so, &post);
        CHECK(!memcmp(g1, g2, (size_t)dm.n * kd * sizeof *g1), "case %d: selections differ", t);
        CHECK(!memcmp(p1, p2, (size_t)dm.n * dm.cin * sizeof *p1), "case %d: means differ", t);
        CHECK(!memcmp(o1, o2, out_sz * sizeof *o1), "case %d: outputs differ", t);
        free(x), free(res), free(w), free(b), free(A), free(a), free(g1), free(g2), free(p1);
        free(p2), free(o1), free(o2), free(sc1.wmix), free(sc1.bmix), free(sc2.wmix), free(sc2.bmix);
    }
}

static void test_nsr_identity(void) {
    identity_case(0);
    identity_case(1);
}

/* ---------------------------------------------------------------- gradients */

/* The whole NSR conv as the model uses it: W = weightnorm(V, g), gamma = select(x; A, a),
 * out = mixconv(x; W, b, gamma). The input gradient includes the path through the mean. */
typedef struct {
    nn_nsr_dims dm;
    float *x, *v, *g, *b, *A, *a, *R;
    float *w, *gamma, *pooled, *out;
    nn_mix_scratch sc;
    nn_select_opts so; /* soft: a temperature, Gumbel noise (a fixed shift of the logits) */
    float balance;     /* the weight of the load-balancing term added to the loss */
} nsr_ctx;

static double nsr_loss(void *p) {
    nsr_ctx *c = p;
    const nn_nsr_dims *dm = &c->dm;
    nn_weightnorm_forward(c->w, c->v, c->g, dm->groups * dm->cout, dm->cin * dm->ksize * dm->ksize);
    nn_select_forward(c->gamma, NULL, c->pooled, c->x, c->A, c->a, dm, &c->so);
    nn_mixconv_forward(c->out, c->x, c->w, c->b, c->gamma, dm, &c->sc, NULL);
    return dot_d(c->R, c->out, (size_t)dm->n * dm->cout * dm->h * dm->w) +
           (c->balance > 0 ? nn_select_balance_forward(c->gamma, dm, c->balance) : 0);
}

static void nsr_case(int k, int d, int K, float temperature, float gumbel, float balance) {
    nsr_ctx c = {.dm = {.n = 2, .cin = 3, .cout = 4, .h = 4, .w = 5, .ksize = K, .groups = k, .cards = d},
                 .so = {.temperature = temperature, .gumbel = gumbel, .seed = 7, .stream = 3},
                 .balance = balance};
    const nn_nsr_dims *dm = &c.dm;
    const size_t in_sz = (size_t)dm->n * dm->cin * dm->h * dm->w;
    const size_t out_sz = (size_t)dm->n * dm->cout * dm->h * dm->w;
    const size_t wcols = (size_t)dm->cin * K * K, stored = (size_t)k * dm->cout, kd = (size_t)k * d;
    const size_t wsz = stored * wcols, msz = (size_t)dm->n * dm->cout * wcols;
    /* a non-zero mean input, so that the path through the mean matters */
    c.x = test_rand_buf(in_sz, -0.5f, 1.5f), c.v = test_rand_buf(wsz, -1, 1), c.g = test_rand_buf(stored, 0.5f, 2);
    c.b = test_rand_buf(stored, -1, 1), c.A = test_rand_buf(kd * dm->cin, -2, 2), c.a = test_rand_buf(kd, -1, 1);
    c.R = test_rand_buf(out_sz, -1, 1);
    c.w = test_zero_buf(wsz), c.gamma = test_zero_buf((size_t)dm->n * kd), c.pooled = test_zero_buf((size_t)dm->n * dm->cin);
    c.out = test_zero_buf(out_sz);
    c.sc = (nn_mix_scratch){test_zero_buf(msz), test_zero_buf((size_t)dm->n * dm->cout), test_zero_buf(msz),
                            test_zero_buf((size_t)dm->n * dm->cout)};
    nsr_loss(&c);
    float *dx = test_zero_buf(in_sz), *dw = test_zero_buf(wsz), *dv = test_zero_buf(wsz), *dg = test_zero_buf(stored);
    float *db = test_zero_buf(stored), *dA = test_zero_buf(kd * dm->cin), *da = test_zero_buf(kd);
    float *dgamma = test_zero_buf((size_t)dm->n * kd);
    nn_mixconv_backward(dx, dw, db, dgamma, c.R, c.x, c.w, c.b, c.gamma, dm, &c.sc, NULL);
    if (balance > 0) nn_select_balance_backward(dgamma, c.gamma, dm, balance);
    nn_select_backward(dx, dA, da, dgamma, c.gamma, c.pooled, c.A, dm, temperature, NULL);
    nn_weightnorm_backward(dv, dg, dw, c.v, c.g, (int)stored, (int)wcols);
    char what[64];
    snprintf(what, sizeof what, "NSR conv k%d d%d K%d T%g%s%s", k, d, K, temperature,
             gumbel > 0 ? " Gumbel" : "", balance > 0 ? " balance" : "");
    report_gradient(what, "input", fd_error(nsr_loss, &c, c.x, dx, in_sz, 1e-2));
    report_gradient(what, "V", fd_error(nsr_loss, &c, c.v, dv, wsz, 1e-2));
    report_gradient(what, "g", fd_error(nsr_loss, &c, c.g, dg, stored, 0.25));
    report_gradient(what, "bias", fd_error(nsr_loss, &c, c.b, db, stored, 0.25));
    report_gradient(what, "A", fd_error(nsr_loss, &c, c.A, dA, kd * dm->cin, 1e-2));
    report_gradient(what, "a", fd_error(nsr_loss, &c, c.a, da, kd, 1e-2));
    free(c.x), free(c.v), free(c.g), free(c.b), free(c.A), free(c.a), free(c.R), free(c.w);
    free(c.gamma), free(c.pooled), free(c.out), free(c.sc.wmix), free(c.sc.bmix);
    free(c.sc.dwmix), free(c.sc.dbmix), free(dx), free(dw), free(dv), free(dg), free(db);
    free(dA), free(da), free(dgamma);
}

static void test_nsr_conv_gradients(void) {
    nsr_case(3, 2, 3, 1, 0, 0);
    nsr_case(2, 4, 1, 1, 0, 0);
    nsr_case(4, 1, 5, 1, 0, 0);
    nsr_case(3, 2, 3, 0.4f, 0, 0);
    nsr_case(4, 2, 3, 2.5f, 1, 0);
    nsr_case(3, 2, 3, 0.5f, 0, 3); /* the balance term's share of A and a's gradients is large */
}

/* ---------------------------------------------------------------- fast paths */

/* Sizes that exercise the blocks of 32 floats and the tails: cin K^2 = 45 (tail only past one
 * block), 576 (blocks only), and k = 70 groups (more than one call's 64 terms). */
static const nn_nsr_dims cases[] = {
    {.n = 3, .cin = 5, .cout = 4, .h = 7, .w = 9, .ksize = 3, .groups = 4, .cards = 2},
    {.n = 2, .cin = 64, .cout = 8, .h = 5, .w = 5, .ksize = 3, .groups = 8, .cards = 1},
    {.n = 70, .cin = 3, .cout = 2, .h = 3, .w = 4, .ksize = 5, .groups = 70, .cards = 1},
};

/* Equal as numbers (a mixture may be +0 where the plain sum gives -0), NaN nowhere. */
static int same_values(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i])) return 0;
    return 1;
}

static size_t kernel_size(const nn_nsr_dims *dm) {
    return (size_t)dm->cin * dm->ksize * dm->ksize;
}

static float *random_gamma(const nn_nsr_dims *dm) {
    float *x = test_rand_buf((size_t)dm->n * dm->cin * dm->h * dm->w, -1, 1);
    float *A = test_rand_buf((size_t)dm->groups * dm->cards * dm->cin, -2, 2);
    float *a = test_rand_buf((size_t)dm->groups * dm->cards, -1, 1);
    float *pooled = test_zero_buf((size_t)dm->n * dm->cin);
    float *gamma = test_zero_buf((size_t)dm->n * dm->groups * dm->cards);
    if (x && A && a && pooled && gamma) nn_select_forward(gamma, NULL, pooled, x, A, a, dm, NULL);
    free(x);
    free(A);
    free(a);
    free(pooled);
    return gamma;
}

static void test_mix_is_the_plain_sum(void) {
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const nn_nsr_dims *dm = &cases[c];
        const int N = dm->n, k = dm->groups, d = dm->cards, cout = dm->cout;
        const size_t wsz = kernel_size(dm), mixed = (size_t)N * cout * wsz;
        float *w = test_rand_buf((size_t)k * cout * wsz, -1, 1), *b = test_rand_buf((size_t)k * cout, -1, 1);
        float *gamma = random_gamma(dm), *wmix = test_zero_buf(mixed), *bmix = test_zero_buf((size_t)N * cout);
        float *plain = test_zero_buf(mixed);
        REQUIRE(w && b && gamma && wmix && bmix && plain, "malloc");
        nn_mix_forward(wmix, bmix, w, b, gamma, dm);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < cout; o++)
                for (int i = 0; i < k; i++) {
                    const float g = gamma[((size_t)n * k + i) * d + o / (cout / d)];
                    for (size_t e = 0; e < wsz; e++)
                        plain[((size_t)n * cout + o) * wsz + e] += g * w[((size_t)i * cout + o) * wsz + e];
                }
        CHECK(same_values(wmix, plain, mixed), "case %zu: mixed kernels differ from the plain sum", c);
        free(w);
        free(b);
        free(gamma);
        free(wmix);
        free(bmix);
        free(plain);
    }
}

static void test_hard_reads_one_group(void) {
    const nn_nsr_dims *dm = &cases[0];
    const int N = dm->n, k = dm->groups, d = dm->cards, cout = dm->cout;
    const size_t wsz = kernel_size(dm);
    float *w = test_rand_buf((size_t)k * cout * wsz, -1, 1), *b = test_rand_buf((size_t)k * cout, -1, 1);
    float *gamma = test_zero_buf((size_t)N * k * d), *wmix = test_zero_buf((size_t)N * cout * wsz);
    float *bmix = test_zero_buf((size_t)N * cout);
    REQUIRE(w && b && gamma && wmix && bmix, "malloc");
    /* every sample and cardinal picks group 1; the others hold NaN, which would show if read */
    for (int n = 0; n < N; n++)
        for (int j = 0; j < d; j++) gamma[((size_t)n * k + 1) * d + j] = 1.0f;
    for (int i = 0; i < k; i++)
        if (i != 1) {
            for (size_t e = 0; e < (size_t)cout * wsz; e++) w[(size_t)i * cout * wsz + e] = NAN;
            for (int o = 0; o < cout; o++) b[(size_t)i * cout + o] = NAN;
        }
    nn_mix_forward(wmix, bmix, w, b, gamma, dm);
    for (int n = 0; n < N; n++)
        CHECK(!memcmp(wmix + (size_t)n * cout * wsz, w + (size_t)cout * wsz, (size_t)cout * wsz * sizeof(float)) &&
                  !memcmp(bmix + (size_t)n * cout, b + cout, (size_t)cout * sizeof(float)),
              "sample %d: the mixed kernel is not group 1's", n);
    free(w);
    free(b);
    free(gamma);
    free(wmix);
    free(bmix);
}

/* Selection, mixing and the mixing backward at 1 and 3 threads: the same bits. The weight
 * gradient is also the plain sum over the samples in order, added to what dw held. */
static void test_same_bits_any_threads(void) {
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const nn_nsr_dims *dm = &cases[c];
        const int N = dm->n, k = dm->groups, d = dm->cards, cout = dm->cout;
        const size_t wsz = kernel_size(dm), mixed = (size_t)N * cout * wsz, kd = (size_t)k * d;
        const size_t xsz = (size_t)N * dm->cin * dm->h * dm->w;
        float *x = test_rand_buf(xsz, -1, 1), *A = test_rand_buf(kd * dm->cin, -2, 2);
        float *a = test_rand_buf(kd, -1, 1), *w = test_rand_buf((size_t)k * cout * wsz, -1, 1);
        float *b = test_rand_buf((size_t)k * cout, -1, 1), *dwmix = test_rand_buf(mixed, -1, 1);
        float *dbmix = test_rand_buf((size_t)N * cout, -1, 1);
        float *dw0 = test_rand_buf((size_t)k * cout * wsz, -1, 1);
        float *out[2][7];
        REQUIRE(x && A && a && w && b && dwmix && dbmix && dw0, "malloc");
        for (int r = 0; r < 2; r++) {
            float **o = out[r];
            o[0] = test_zero_buf((size_t)N * dm->cin); /* pooled */
            o[1] = test_zero_buf((size_t)N * kd);      /* gamma */
            o[2] = test_zero_buf(mixed);               /* wmix */
            o[3] = test_zero_buf((size_t)N * cout);    /* bmix */
            o[4] = test_zero_buf((size_t)k * cout * wsz);
            o[5] = test_zero_buf((size_t)k * cout);
            o[6] = test_zero_buf((size_t)N * kd);
            for (int i = 0; i < 7; i++) REQUIRE(o[i], "malloc");
            memcpy(o[4], dw0, (size_t)k * cout * wsz * sizeof(float));
            omp_set_num_threads(r ? 3 : 1);
            nn_select_forward(o[1], NULL, o[0], x, A, a, dm, NULL);
            nn_mix_forward(o[2], o[3], w, b, o[1], dm);
            nn_mix_backward(o[4], o[5], o[6], dwmix, dbmix, w, b, o[1], dm);
        }
        const size_t sizes[7] = {(size_t)N * dm->cin, (size_t)N * kd, mixed, (size_t)N * cout,
                                 (size_t)k * cout * wsz, (size_t)k * cout, (size_t)N * kd};
        const char *names[7] = {"pooled", "gamma", "wmix", "bmix", "dw", "db", "dgamma"};
        for (int i = 0; i < 7; i++)
            CHECK(!memcmp(out[0][i], out[1][i], sizes[i] * sizeof(float)), "case %zu: %s differs across threads", c, names[i]);
        for (int i = 0; i < k; i++)
            for (int o = 0; o < cout; o++)
                for (size_t e = 0; e < wsz; e++) {
                    float acc = dw0[((size_t)i * cout + o) * wsz + e];
                    for (int n = 0; n < N; n++)
                        acc += out[0][1][((size_t)n * k + i) * d + o / (cout / d)] *
                               dwmix[((size_t)n * cout + o) * wsz + e];
                    CHECK(acc == out[0][4][((size_t)i * cout + o) * wsz + e], "case %zu: dw is not the plain sum", c);
                }
        for (int n = 0; n < N; n++)
            for (int ch = 0; ch < dm->cin; ch++) {
                double sum = 0;
                for (int p = 0; p < dm->h * dm->w; p++) sum += x[((size_t)n * dm->cin + ch) * dm->h * dm->w + p];
                const float mean = (float)(sum / (dm->h * dm->w)), got = out[0][0][(size_t)n * dm->cin + ch];
                CHECK(fabsf(mean - got) <= 1e-7f, "case %zu: pooled %g, mean %g", c, got, mean);
            }
        omp_set_num_threads(omp_get_num_procs());
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < 7; i++) free(out[r][i]);
        free(x);
        free(A);
        free(a);
        free(w);
        free(b);
        free(dwmix);
        free(dbmix);
        free(dw0);
    }
}

int main(void) {
    RUN(test_select_softmax);
    RUN(test_nsr_identity);
    RUN(test_nsr_conv_fused);
    RUN(test_nsr_conv_gradients);
    RUN(test_mix_is_the_plain_sum);
    RUN(test_hard_reads_one_group);
    RUN(test_same_bits_any_threads);
    return test_summary();
}
