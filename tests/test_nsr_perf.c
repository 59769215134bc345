/* test_nsr_perf.c - the fast paths of the NSR layer (src/nn/nsr_conv.c) against the plain reading of
 * NSR.md section 2: mixing and its backward give the bits of the straightforward loops, whatever
 * the thread count; hard selection reads only the chosen group; the pooled mean is the mean. */
#include <omp.h>

#include "check.h"
#include "nn/engine.h"
#include "testdata.h"

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
    RUN(test_mix_is_the_plain_sum);
    RUN(test_hard_reads_one_group);
    RUN(test_same_bits_any_threads);
    return test_summary();
}
