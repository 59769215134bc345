/* compare.h - comparisons the C tests share: whole-tensor relative errors, and gradients against
 * central finite differences (ggml style; tests/test_gradcheck.c says how the cases are built). */
#ifndef NSR_TEST_COMPARE_H
#define NSR_TEST_COMPARE_H

#include "check.h"

/* Largest |a - b| relative to the largest |b| (a whole-tensor relative error). */
static inline double rel_err_d(const float *a, const double *b, size_t n) {
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    return worst / scale;
}
static inline double rel_err_f(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst / scale;
}

/* sum a[i] b[i] in double: the scalar L = sum(R * out) of a finite-difference case. */
static inline double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* A case: forward(ctx) returns L for the current inputs. */
typedef double (*loss_fn)(void *ctx);

/* The worst |central difference of f - analytic| over the n elements of x, relative to the
 * largest |analytic| (x is perturbed by +-eps in place and restored). */
static inline double fd_error(loss_fn f, void *ctx, float *x, const float *analytic, size_t n, double eps) {
    double worst = 0, scale = 1e-12;
    for (size_t i = 0; i < n; i++) {
        const float saved = x[i];
        const float xp = (float)(saved + eps), xm = (float)(saved - eps);
        x[i] = xp;
        const double lp = f(ctx);
        x[i] = xm;
        const double lm = f(ctx);
        x[i] = saved;
        const double numeric = (lp - lm) / ((double)xp - xm);
        worst = fmax(worst, fabs(numeric - analytic[i]));
        scale = fmax(scale, fabs(analytic[i]));
    }
    return worst / scale;
}

#define GRAD_TOL 1e-3

/* Prints the error and fails the test when it exceeds GRAD_TOL. */
static inline void report_gradient(const char *what, const char *tensor, double err) {
    printf("  %-28s %-6s %.1e\n", what, tensor, err);
    CHECK(err < GRAD_TOL, "%s: gradient of %s off by %g (relative)", what, tensor, err);
}

#endif
