/* report.c - timing, result lines (JSON or table) and child processes for `nsr bench`. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "bench.h"

double bench_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Min and median of n values (sorts them). */
static bench_stats stats_of(double *ms, int n) {
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    const double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
    return (bench_stats){ms[0], median};
}

void bench_time(bench_case *cases, int ncases, int reps) {
    double *ms = malloc((size_t)ncases * reps * sizeof *ms);
    if (!ms) { /* nothing sensible to time without a place for the times */
        bench_error("out of memory for the timings");
        exit(1);
    }
    for (int c = 0; c < ncases; c++) cases[c].run(cases[c].ctx);
    for (int r = 0; r < reps; r++)
        for (int c = 0; c < ncases; c++) {
            const double t0 = bench_now_ms();
            cases[c].run(cases[c].ctx);
            ms[(size_t)c * reps + r] = bench_now_ms() - t0;
        }
    for (int c = 0; c < ncases; c++) cases[c].stats = stats_of(ms + (size_t)c * reps, reps);
    free(ms);
}

/* ---------------------------------------------------------------- results */

void bench_heading(const bench_opts *o, const char *title) {
    if (o->json) return;
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("\n%s\n(%d thread%s, %d round%s, nsr's %s convolution, load average %.2f %.2f %.2f)\n",
           title, o->threads, o->threads == 1 ? "" : "s", o->reps, o->reps == 1 ? "" : "s",
           eng_bench_kernels(), load[0], load[1], load[2]);
    printf("%-42s %19s  %-36s %19s %8s %15s %7s\n", "case", "nsr min / median", "reference",
           "ref min / median", "ratio", "GFLOP/s nsr/ref", "target");
}

void bench_report(const bench_opts *o, const bench_result *r) {
    const int have_ref = !r->unavailable;
    const double ratio = have_ref ? r->ref.min_ms / r->nsr.min_ms : NAN;
    const double ratio_med = have_ref ? r->ref.median_ms / r->nsr.median_ms : NAN;
    const double nsr_gf = r->gflop > 0 ? r->gflop / (r->nsr.min_ms * 1e-3) : NAN;
    const double ref_gflop = r->ref_gflop > 0 ? r->ref_gflop : r->gflop;
    const double ref_gf = r->gflop > 0 && have_ref ? ref_gflop / (r->ref.min_ms * 1e-3) : NAN;
    if (!o->json) {
        char ref_cell[48], ratio_cell[16], gf[32], tgt[16];
        if (have_ref) snprintf(ref_cell, sizeof ref_cell, "%9.2f %9.2f", r->ref.min_ms, r->ref.median_ms);
        else snprintf(ref_cell, sizeof ref_cell, "%19s", "unavailable");
        if (have_ref) snprintf(ratio_cell, sizeof ratio_cell, "%7.2fx", ratio);
        else snprintf(ratio_cell, sizeof ratio_cell, "%8s", "-");
        if (r->gflop > 0) snprintf(gf, sizeof gf, "%6.1f / %6.1f", nsr_gf, ref_gf);
        else snprintf(gf, sizeof gf, "%15s", "");
        /* a missed target is marked with '!' */
        if (r->target > 0) snprintf(tgt, sizeof tgt, ">= %.2f%s", r->target, have_ref && ratio < r->target ? "!" : "");
        else tgt[0] = 0;
        printf("%-42s %9.2f %9.2f  %-36.36s %s %s %s %7s\n", r->name, r->nsr.min_ms,
               r->nsr.median_ms, r->reference, ref_cell, ratio_cell, gf, tgt);
        if (r->unavailable) printf("    reference unavailable: %s\n", r->unavailable);
        if (r->extra) printf("    %s\n", r->extra);
        if (r->note) printf("    %s\n", r->note);
        fflush(stdout);
        return;
    }
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    char key[64];
#define FIELD(fmt, value) (snprintf(key, sizeof key, fmt, r->unit), json_write_number(stdout, ", ", key, value))
    printf("{\"bench\": ");
    json_write_string(stdout, r->bench);
    printf(", \"case\": ");
    json_write_string(stdout, r->name);
    printf(", \"threads\": %d, \"reps\": %d, \"kernels\": ", o->threads, o->reps);
    json_write_string(stdout, eng_bench_kernels());
    FIELD("nsr_%s", r->nsr.min_ms);
    FIELD("nsr_median_%s", r->nsr.median_ms);
    printf(", \"reference\": ");
    json_write_string(stdout, r->reference);
    FIELD("reference_%s", have_ref ? r->ref.min_ms : NAN);
    FIELD("reference_median_%s", have_ref ? r->ref.median_ms : NAN);
#undef FIELD
    json_write_number(stdout, ", ", "ratio", ratio);
    json_write_number(stdout, ", ", "ratio_median", ratio_med);
    if (r->gflop > 0) {
        json_write_number(stdout, ", ", "gflop", r->gflop);
        json_write_number(stdout, ", ", "nsr_gflops", nsr_gf);
        json_write_number(stdout, ", ", "reference_gflops", ref_gf);
    }
    if (r->target > 0) {
        json_write_number(stdout, ", ", "target", r->target);
        printf(", \"meets_target\": %s", !have_ref ? "null" : ratio >= r->target ? "true" : "false");
    }
    if (r->unavailable) {
        printf(", \"unavailable\": ");
        json_write_string(stdout, r->unavailable);
    }
    if (r->extra) printf(", %s", r->extra);
    if (r->note) {
        printf(", \"note\": ");
        json_write_string(stdout, r->note);
    }
    printf(", \"load\": [%.2f, %.2f, %.2f]}\n", load[0], load[1], load[2]);
    fflush(stdout);
}

/* ---------------------------------------------------------------- helpers */

int bench_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("nsr bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void bench_fill(float *x, size_t n, float scale, unsigned long long seed) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((2.0 * nsr_rng_uniform(seed, 0, i) - 1.0) * scale);
}

float *bench_alloc(size_t n) {
    float *p = calloc(n, sizeof(float));
    if (!p) bench_error("out of memory for %zu floats", n);
    return p;
}

double bench_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* a NaN difference sticks */
    }
    return m;
}

double bench_conv_gflop(int N, int cin, int cout, int H, int W, int K) {
    return 2.0 * N * H * W * (double)cout * cin * K * K * 1e-9;
}

int bench_tmpdir(char *buf, size_t size) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    if (snprintf(buf, size, "%s/nsr-bench-XXXXXX", base) >= (int)size) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

void bench_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    char path[4096];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int bench_self_exe(char *buf, size_t size) {
    const ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0) return -1;
    buf[n] = 0;
    return 0;
}

int bench_spawn(char *const argv[], int merge_stderr, char **out, struct rusage *ru) {
    int fd[2];
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    *out = buf;
    memset(ru, 0, sizeof *ru);
    if (!buf) return -1;
    buf[0] = 0;
    if (pipe(fd)) {
        snprintf(buf, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    /* posix_spawn, not fork: a forked parent's pages stay copy-on-write until the child has
     * exec'd, and the parent's next write to each page faults (16 MB of a conv's output: 4096
     * faults, a conv timed right after a child 8 times slower) */
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&fa);
    if (!rc) {
        rc = posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
        if (!rc && merge_stderr) rc = posix_spawn_file_actions_adddup2(&fa, fd[1], STDERR_FILENO);
        if (!rc) rc = posix_spawn_file_actions_addclose(&fa, fd[0]);
        if (!rc) rc = posix_spawn_file_actions_addclose(&fa, fd[1]);
        if (!rc) rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(fd[1]);
    if (rc) { /* as a shell says it: the command could not be run */
        snprintf(buf, cap, "cannot run %s: %s\n", argv[0], strerror(rc));
        close(fd[0]);
        return 127;
    }
    for (;;) {
        /* once memory runs out, the rest is read and dropped, so the child never blocks */
        char sink[4096], *dst = sink;
        size_t room = sizeof sink;
        if (cap - len < 2048) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger) buf = *out = bigger, cap *= 2;
        }
        if (cap - len >= 2048) dst = buf + len, room = cap - len - 1;
        const ssize_t got = read(fd[0], dst, room);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (dst != sink) len += (size_t)got;
    }
    buf[len] = 0;
    close(fd[0]);
    int status;
    while (wait4(pid, &status, 0, ru) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
