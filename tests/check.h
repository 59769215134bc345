/* check.h - the tiny test harness every tests/test_*.c uses.
 *
 *   static void test_something(void) { CHECK(x == 1, "x is %d", x); }
 *   int main(void) { RUN(test_something); return test_summary(); }
 *
 * Each RUN prints one line, "PASS name", "FAIL name: first failure" or "SKIP name: why";
 * tests/run.sh counts them. A binary that dies without printing counts as a failure there. */
#ifndef NSR_TEST_CHECK_H
#define NSR_TEST_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int check_current_failed;
static int check_current_skipped;
static char check_first_failure[768];
static int check_total_failed;

static inline void check_fail_at(const char *file, int line, const char *fmt, ...) {
    if (!check_current_failed) {
        int n = snprintf(check_first_failure, sizeof check_first_failure, "%s:%d: ", file, line);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(check_first_failure + n, sizeof check_first_failure - (size_t)n, fmt, ap);
        va_end(ap);
    }
    check_current_failed = 1;
}

/* CHECK(condition, printf-style message): records a failure and carries on. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) check_fail_at(__FILE__, __LINE__, __VA_ARGS__);                       \
    } while (0)
/* REQUIRE: like CHECK, but leaves the test function at once. */
#define REQUIRE(cond, ...)                                                                 \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            check_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                \
            return;                                                                        \
        }                                                                                  \
    } while (0)
/* Marks the running test as skipped (for tests that need ../shared/data or a tool). */
#define SKIP(...)                                                                          \
    do {                                                                                   \
        check_current_skipped = 1;                                                         \
        snprintf(check_first_failure, sizeof check_first_failure, __VA_ARGS__);            \
        return;                                                                            \
    } while (0)

static inline void check_run(const char *name, void (*fn)(void)) {
    check_current_failed = 0;
    check_current_skipped = 0;
    check_first_failure[0] = 0;
    fn();
    if (check_current_failed) {
        printf("FAIL %s: %s\n", name, check_first_failure);
        check_total_failed++;
    } else if (check_current_skipped) {
        printf("SKIP %s: %s\n", name, check_first_failure);
    } else {
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}
#define RUN(fn) check_run(#fn, fn)

static inline int test_summary(void) { return check_total_failed ? 1 : 0; }

/* The shared benchmark images: $NSR_DATA, else ../shared/data beside the checkout; NULL when
 * neither exists (tests that need them then SKIP). */
static inline const char *test_data_dir(void) {
    const char *env = getenv("NSR_DATA");
    struct stat st;
    if (env && *env) return stat(env, &st) == 0 ? env : NULL;
    return stat("../shared/data/Set5", &st) == 0 ? "../shared/data" : NULL;
}

/* Largest |a - b| / max(|b|, floor) over n floats, and where it is. */
static inline double check_max_rel_diff(const float *a, const float *b, size_t n, double floor,
                                        size_t *where) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = fabs((double)b[i]) > floor ? fabs((double)b[i]) : floor;
        double d = fabs((double)a[i] - (double)b[i]) / scale;
        if (d > worst || d != d) {
            worst = d;
            if (where) *where = i;
        }
    }
    return worst;
}

#endif
