/* test_resize.c - MATLAB-compatible bicubic resize: against a dense-matrix oracle written from
 * MATLAB's definition, on invariants (constants, linear ramps), and, with ../shared/data, against
 * the Set5 LR images (every pixel). */
#include <omp.h>
#include <stdint.h>

#include "check.h"
#include "nsr.h"

/* ---- the oracle: MATLAB's contributions() as a dense out x in matrix, mirrored taps summed */

static double oracle_cubic(double x) {
    double a = fabs(x);
    if (a <= 1) return 1.5 * a * a * a - 2.5 * a * a + 1;
    if (a <= 2) return -0.5 * a * a * a + 2.5 * a * a - 4 * a + 2;
    return 0;
}

/* Returns a calloc'd out_len x in_len matrix M with out = M * in along one dimension. */
static double *oracle_matrix(int in_len, int out_len, double scale) {
    double *m = calloc((size_t)out_len * in_len, sizeof *m);
    double width = scale < 1 ? 4 / scale : 4;
    int taps = (int)ceil(width) + 2;
    double *w = malloc(taps * sizeof *w);
    for (int i = 1; i <= out_len; i++) {
        double u = i / scale + 0.5 * (1 - 1 / scale), sum = 0;
        int left = (int)floor(u - width / 2);
        for (int k = 0; k < taps; k++) {
            double d = u - (left + k);
            w[k] = scale < 1 ? scale * oracle_cubic(scale * d) : oracle_cubic(d);
            sum += w[k];
        }
        for (int k = 0; k < taps; k++) {
            int j = left + k; /* 1-based; reflect until inside 1..in_len */
            while (j < 1 || j > in_len) j = j < 1 ? 1 - j : 2 * in_len + 1 - j;
            m[(size_t)(i - 1) * in_len + (j - 1)] += w[k] / sum;
        }
    }
    free(w);
    return m;
}

/* out = My * plane * Mx^T for one plane, in double. */
static void oracle_resize(double *out, const float *in, int w, int h, int ow, int oh, double sx,
                          double sy) {
    double *mx = oracle_matrix(w, ow, sx), *my = oracle_matrix(h, oh, sy);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            double s = 0;
            for (int j = 0; j < h; j++)
                for (int i = 0; i < w; i++) s += my[(size_t)y * h + j] * mx[(size_t)x * w + i] * in[(size_t)j * w + i];
            out[(size_t)y * ow + x] = s;
        }
    free(mx);
    free(my);
}

/* A deterministic pseudo-random image with values in 0..1 (8-bit levels when levels). */
static int make_image(nsr_image *img, int w, int h, int c, int alpha, int levels) {
    nsr_error err;
    if (nsr_image_create(img, w, h, c, alpha, &err)) return -1;
    uint32_t s = 12345u + (uint32_t)(w * 31 + h);
    size_t n = (size_t)w * h;
    for (int p = 0; p < c + alpha; p++) {
        float *d = p < c ? nsr_image_plane(img, p) : img->alpha;
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            float v = (float)(s >> 8) / 16777216.0f;
            d[i] = levels ? (float)nsr_level8(v) / 255.0f : v;
        }
    }
    return 0;
}

/* Float mode against the oracle, every plane (alpha included), worst difference. */
static double worst_vs_oracle(const nsr_image *src, int ow, int oh, double sx, double sy,
                              const char **why) {
    nsr_image dst;
    nsr_error err;
    *why = NULL;
    if (nsr_resize_bicubic(&dst, src, ow, oh, sx, sy, 0, &err)) {
        *why = "resize failed";
        return INFINITY;
    }
    if (ow == 0) ow = (int)ceil(sx * src->width);
    if (oh == 0) oh = (int)ceil(sy * src->height);
    if (sx == 0) sx = (double)ow / src->width;
    if (sy == 0) sy = (double)oh / src->height;
    double worst = 0;
    if (dst.width != ow || dst.height != oh) {
        *why = "wrong size";
        worst = INFINITY;
    } else {
        double *ref = malloc((size_t)ow * oh * sizeof *ref);
        for (int p = 0; p < src->channels + (src->alpha ? 1 : 0); p++) {
            const float *in = p < src->channels ? nsr_image_plane(src, p) : src->alpha;
            const float *got = p < src->channels ? nsr_image_plane(&dst, p) : dst.alpha;
            oracle_resize(ref, in, src->width, src->height, ow, oh, sx, sy);
            for (size_t i = 0; i < (size_t)ow * oh; i++) {
                double d = fabs(got[i] - ref[i]);
                if (d > worst) worst = d;
            }
        }
        free(ref);
    }
    nsr_image_free(&dst);
    return worst;
}

static void test_matches_oracle(void) {
    /* {w, h, out_w, out_h, scale_x, scale_y}: shrinks and enlargements, odd sizes, scales that
     * are not 1/integer, given sizes, different scales per dimension (so either pass order). */
    static const struct { int w, h, ow, oh; double sx, sy; } cases[] = {
        {12, 12, 0, 0, 0.5, 0.5},   {13, 7, 0, 0, 1.0 / 3, 1.0 / 3}, {9, 11, 0, 0, 2, 2},
        {17, 5, 0, 0, 0.37, 1.7},   {6, 15, 0, 0, 2.5, 0.3},        {13, 7, 5, 11, 0, 0},
        {20, 20, 7, 0, 0, 0.25},    {8, 9, 8, 9, 0, 0},             {3, 2, 0, 0, 4, 3},
        {1, 6, 0, 0, 3, 0.5},       {31, 3, 0, 0, 0.1, 1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        nsr_image src;
        REQUIRE(make_image(&src, cases[t].w, cases[t].h, 3, 1, 0) == 0, "create");
        const char *why;
        double worst = worst_vs_oracle(&src, cases[t].ow, cases[t].oh, cases[t].sx, cases[t].sy, &why);
        CHECK(worst < 1e-6, "case %zu (%dx%d): %s, worst difference %g", t, cases[t].w,
              cases[t].h, why ? why : "values", worst);
        nsr_image_free(&src);
    }
}

static void test_output_sizes(void) {
    nsr_image src, dst;
    nsr_error err;
    REQUIRE(make_image(&src, 7, 5, 1, 0, 1) == 0, "create");
    REQUIRE(nsr_resize_bicubic(&dst, &src, 0, 0, 2, 2, 1, &err) == 0, "%s", err.message);
    CHECK(dst.width == 14 && dst.height == 10 && dst.channels == 1 && !dst.alpha,
          "x2: %dx%d", dst.width, dst.height);
    nsr_image_free(&dst);
    /* MATLAB: ceil(scale * size), so 7 * 0.5 -> 4 and 5 * 0.5 -> 3. */
    REQUIRE(nsr_resize_bicubic(&dst, &src, 0, 0, 0.5, 0.5, 1, &err) == 0, "%s", err.message);
    CHECK(dst.width == 4 && dst.height == 3, "x0.5: %dx%d", dst.width, dst.height);
    nsr_image_free(&dst);
    REQUIRE(nsr_resize_bicubic(&dst, &src, 3, 9, 0, 0, 0, &err) == 0, "%s", err.message);
    CHECK(dst.width == 3 && dst.height == 9, "given size: %dx%d", dst.width, dst.height);
    nsr_image_free(&dst);
    nsr_image_free(&src);
}

/* A constant stays exactly constant (the weights of every output sample sum to 1), in both
 * modes, shrinking and enlarging. */
static void test_constant(void) {
    static const double scales[] = {0.5, 1.0 / 3, 0.37, 1, 1.5, 2, 4};
    nsr_image src, dst;
    nsr_error err;
    REQUIRE(nsr_image_create(&src, 11, 9, 3, 1, &err) == 0, "%s", err.message);
    for (size_t i = 0; i < (size_t)11 * 9 * 3; i++) src.data[i] = 77.0f / 255;
    for (size_t i = 0; i < (size_t)11 * 9; i++) src.alpha[i] = 1;
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++)
        for (int round8 = 0; round8 < 2; round8++) {
            REQUIRE(nsr_resize_bicubic(&dst, &src, 0, 0, scales[s], scales[s], round8, &err) == 0,
                    "%s", err.message);
            size_t n = (size_t)dst.width * dst.height;
            double worst = 0;
            for (size_t i = 0; i < n * 3; i++) worst = fmax(worst, fabs(dst.data[i] * 255.0 - 77));
            for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(dst.alpha[i] - 1.0) * 255);
            CHECK(worst < 1e-4, "scale %g round8 %d: off by %g levels",
                  scales[s], round8, worst);
            nsr_image_free(&dst);
        }
    nsr_image_free(&src);
}

/* Away from the borders a linear ramp maps to itself sampled at MATLAB's positions: output i
 * (0-based) sits at input coordinate (i + 1) / s + 0.5 (1 - 1 / s) - 1. This pins down the
 * coordinate convention, which the oracle shares with the code. */
static void test_ramp_positions(void) {
    static const double scales[] = {0.5, 0.25, 1.0 / 3, 2, 3, 1.7};
    nsr_image src, dst;
    nsr_error err;
    REQUIRE(nsr_image_create(&src, 64, 1, 1, 0, &err) == 0, "%s", err.message);
    for (int x = 0; x < 64; x++) src.data[x] = (float)x / 64;
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        double sc = scales[s];
        REQUIRE(nsr_resize_bicubic(&dst, &src, 0, 1, sc, 0, 0, &err) == 0, "%s", err.message);
        double worst = 0;
        for (int i = 0; i < dst.width; i++) {
            double pos = (i + 1) / sc + 0.5 * (1 - 1 / sc) - 1;
            double reach = (sc < 1 ? 2 / sc : 2) + 1;
            if (pos - reach < 0 || pos + reach > 63) continue;
            worst = fmax(worst, fabs(dst.data[i] * 64 - pos));
        }
        CHECK(worst < 1e-4, "scale %g: ramp off by %g", sc, worst);
        nsr_image_free(&dst);
    }
    nsr_image_free(&src);
}

/* 8-bit mode: every output is a level, within a level or two of the float result, and the
 * thread count changes nothing (bit for bit, both modes). */
static void test_round8_and_threads(void) {
    nsr_image src, a, b, f;
    nsr_error err;
    REQUIRE(make_image(&src, 37, 29, 3, 1, 1) == 0, "create");
    int threads = omp_get_max_threads();
    for (int round8 = 0; round8 < 2; round8++) {
        omp_set_num_threads(1);
        REQUIRE(nsr_resize_bicubic(&a, &src, 0, 0, 0.3, 0.45, round8, &err) == 0, "%s", err.message);
        omp_set_num_threads(3);
        REQUIRE(nsr_resize_bicubic(&b, &src, 0, 0, 0.3, 0.45, round8, &err) == 0, "%s", err.message);
        size_t n = (size_t)a.width * a.height;
        CHECK(memcmp(a.data, b.data, n * 3 * sizeof(float)) == 0 &&
                  memcmp(a.alpha, b.alpha, n * sizeof(float)) == 0,
              "round8 %d: 1 and 3 threads differ", round8);
        nsr_image_free(&b);
        if (round8) {
            REQUIRE(nsr_resize_bicubic(&f, &src, 0, 0, 0.3, 0.45, 0, &err) == 0, "%s", err.message);
            double worst = 0;
            int non_level = 0;
            for (size_t i = 0; i < n * 3; i++) {
                double v = a.data[i] * 255.0;
                non_level += fabs(v - nsr_level8(a.data[i])) > 1e-3;
                worst = fmax(worst, fabs(v - f.data[i] * 255.0));
            }
            CHECK(non_level == 0, "%d outputs are not 8-bit levels", non_level);
            CHECK(worst <= 1.5, "8-bit and float results differ by %g levels", worst);
            CHECK(a.bit_depth == 8, "bit depth %d", a.bit_depth);
            nsr_image_free(&f);
        }
        nsr_image_free(&a);
    }
    omp_set_num_threads(threads);
    nsr_image_free(&src);
}

static void test_errors(void) {
    nsr_image src, dst;
    nsr_error err;
    REQUIRE(make_image(&src, 8, 8, 1, 0, 1) == 0, "create");
    CHECK(nsr_resize_bicubic(&dst, &src, 0, 0, 0, 0, 1, &err) != 0 && strstr(err.message, "scale"),
          "no size and no scale accepted (%s)", err.message);
    CHECK(nsr_resize_bicubic(&dst, &src, 0, 0, -2, 2, 1, &err) != 0 && dst.data == NULL,
          "negative scale accepted");
    CHECK(nsr_resize_bicubic(&dst, &src, 0, 0, NAN, 2, 1, &err) != 0, "NaN scale accepted");
    CHECK(nsr_resize_bicubic(&dst, &src, -4, 4, 0, 0, 1, &err) != 0, "negative size accepted");
    CHECK(nsr_resize_bicubic(&dst, &src, 0, 0, 1e5, 1e5, 1, &err) != 0 && strstr(err.message, "limit"),
          "huge output accepted (%s)", err.message);
    CHECK(nsr_resize_bicubic(&dst, &src, 0, 0, 1e-9, 1, 1, &err) != 0 && strstr(err.message, "small"),
          "tiny scale accepted (%s)", err.message);
    nsr_image_free(&src);
}

/* ../shared/data/Set5_LR_bicubic X2, X3, X4 equal, every pixel, our 8-bit resize of the
 * mod-cropped HR (X8 was made some other way: NSR.md section 5). */
static void test_set5_lr_exact(void) {
    const char *data = test_data_dir();
    if (!data) SKIP("no ../shared/data");
    static const char *names[] = {"baby", "bird", "butterfly", "head", "woman"};
    char path[1024];
    int compared = 0;
    for (int s = 2; s <= 4; s++) {
        for (int i = 0; i < 5; i++) {
            nsr_image hr, lr, ours;
            nsr_error err;
            snprintf(path, sizeof path, "%s/Set5/%s.webp", data, names[i]);
            REQUIRE(nsr_image_read(&hr, path, NULL, &err) == 0, "%s", err.message);
            snprintf(path, sizeof path, "%s/Set5_LR_bicubic/X%d/%sx%d.png", data, s, names[i], s);
            REQUIRE(nsr_image_read(&lr, path, NULL, &err) == 0, "%s", err.message);
            REQUIRE(nsr_image_modcrop(&hr, s, &err) == 0, "%s", err.message);
            REQUIRE(nsr_resize_bicubic(&ours, &hr, 0, 0, 1.0 / s, 1.0 / s, 1, &err) == 0, "%s",
                    err.message);
            CHECK(ours.width == lr.width && ours.height == lr.height && ours.channels == lr.channels,
                  "%s x%d: %dx%dx%d, reference %dx%dx%d", names[i], s, ours.width, ours.height,
                  ours.channels, lr.width, lr.height, lr.channels);
            if (ours.width == lr.width && ours.height == lr.height && ours.channels == lr.channels) {
                size_t n = (size_t)lr.width * lr.height * lr.channels, off = 0;
                for (size_t k = 0; k < n; k++) off += nsr_level8(ours.data[k]) != nsr_level8(lr.data[k]);
                CHECK(off == 0, "%s x%d: %zu of %zu samples differ", names[i], s, off, n);
                compared++;
            }
            nsr_image_free(&hr);
            nsr_image_free(&lr);
            nsr_image_free(&ours);
        }
    }
    CHECK(compared == 15, "compared %d of 15 images", compared);
}

int main(void) {
    RUN(test_matches_oracle);
    RUN(test_output_sizes);
    RUN(test_constant);
    RUN(test_ramp_positions);
    RUN(test_round8_and_threads);
    RUN(test_errors);
    RUN(test_set5_lr_exact);
    return test_summary();
}
