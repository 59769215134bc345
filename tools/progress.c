/* progress.c - the progress display of the nsr program (progress.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define REDRAW_SECONDS 0.1 /* a terminal line is redrawn at most this often */
#define PLAIN_STEPS 10     /* plain lines per item: one per tenth of its work */

static progress_level level = PROGRESS_NORMAL;

/* The job and its current item. */
static struct {
    size_t count, index;
    char label[256];
    const char *stage;
    double from, to;        /* the stage's share of the item */
    double done;            /* the item's fraction done */
    int steps_shown;        /* tenths of the item reported by plain lines */
    double job_start, item_start, drawn_at;
} job;

static int line_shown; /* a terminal line is on screen */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int on_terminal(void) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO);
    return tty;
}

int progress_set_level(const char *cmd, const opt_value *verbose, const opt_value *quiet) {
    if (verbose->count && quiet->count) return cli_usage_error(cmd, "-v and --quiet contradict each other");
    level = quiet->count ? PROGRESS_QUIET : verbose->count ? PROGRESS_VERBOSE : PROGRESS_NORMAL;
    return 0;
}

progress_level progress_get_level(void) { return level; }

static void note(const char *fmt, va_list ap) {
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    cli_note("%s", line);
}

void progress_detail(const char *fmt, ...) {
    if (level < PROGRESS_VERBOSE) return;
    va_list ap;
    va_start(ap, fmt);
    note(fmt, ap);
    va_end(ap);
}

void progress_closing(const char *fmt, ...) {
    if (level < PROGRESS_NORMAL) return;
    va_list ap;
    va_start(ap, fmt);
    note(fmt, ap);
    va_end(ap);
}

const char *progress_duration(char *buf, size_t size, double seconds) {
    long s = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

void progress_draw(double fraction, const char *text) {
    if (level < PROGRESS_NORMAL || !on_terminal()) return;
    fprintf(stderr, "\r%6.2f%% %s\033[K", 100.0 * fraction, text);
    fflush(stderr);
    line_shown = 1;
}

void progress_end(void) {
    if (line_shown) fputc('\n', stderr);
    line_shown = 0;
}

void progress_clear(void) {
    if (line_shown) fputs("\r\033[K", stderr);
    line_shown = 0;
}

void progress_job(size_t count) {
    memset(&job, 0, sizeof job);
    job.count = count;
    job.job_start = now();
}

/* The job's fraction done, and the line's text: "[i/n ]label: stage[ NN%][, h:mm:ss left]". */
static double describe(char *text, size_t size) {
    const double f = job.count ? ((double)job.index + job.done) / (double)job.count : 1;
    const double elapsed = now() - job.job_start;
    int n = job.count > 1 ? snprintf(text, size, "%zu/%zu ", job.index + 1, job.count) : 0;
    n += snprintf(text + n, size - (size_t)n, "%s: %s", job.label, job.stage);
    if (job.count > 1 && job.done > 0 && job.done < 1 && (size_t)n < size)
        n += snprintf(text + n, size - (size_t)n, " %.0f%%", floor(100 * job.done));
    if (f > 0 && f < 1 && (size_t)n < size) {
        char left[32];
        snprintf(text + n, size - (size_t)n, ", %s left",
                 progress_duration(left, sizeof left, elapsed * (1 - f) / f));
    }
    return f;
}

/* Shows the state. On a terminal the line is redrawn when redraw is set, else at most every
 * REDRAW_SECONDS; a plain line is printed when the item passed another tenth of its work, or
 * when announce is set. */
static void show(int redraw, int announce) {
    if (level < PROGRESS_NORMAL) return;
    char text[512];
    if (on_terminal()) {
        const double t = now();
        if (!redraw && t - job.drawn_at < REDRAW_SECONDS) return;
        job.drawn_at = t;
        progress_draw(describe(text, sizeof text), text);
        return;
    }
    const int steps = (int)floor(job.done * PLAIN_STEPS + 1e-9);
    if (!announce && steps <= job.steps_shown) return;
    job.steps_shown = steps;
    const double f = describe(text, sizeof text);
    fprintf(stderr, "%6.2f%% %s\n", 100.0 * f, text);
    fflush(stderr);
}

void progress_item(size_t index, const char *label) {
    job.index = index;
    snprintf(job.label, sizeof job.label, "%s", label);
    job.stage = "reading";
    job.from = job.to = job.done = 0;
    job.steps_shown = 0;
    job.item_start = now();
    show(1, 0);
}

void progress_stage(const char *what, double from, double to) {
    job.stage = what;
    job.from = from;
    job.to = to;
    if (from > job.done) job.done = from;
    /* a later stage says so at once, on its own line when plain */
    show(1, from > 0);
}

void progress_update(double fraction) {
    const double done = job.from + fraction * (job.to - job.from);
    if (done <= job.done) return;
    job.done = done;
    show(done >= 1, 0);
}

void progress_library(void *ctx, double fraction) {
    (void)ctx;
    progress_update(fraction);
}

void progress_item_done(void) {
    job.done = 1;
    job.stage = "done";
    show(0, 0);
    progress_clear();
}

double progress_item_seconds(void) { return now() - job.item_start; }

double progress_job_seconds(void) { return now() - job.job_start; }

void progress_input(const char *label, const nsr_image *img) {
    progress_detail("%s: %dx%d %s%s, %d-bit", label, img->width, img->height,
                    img->channels == 1 ? "grey" : "RGB", img->alpha ? " + alpha" : "", img->bit_depth);
}

void progress_wrote(const char *path, const nsr_image *img) {
    struct stat st;
    char bytes[64] = "";
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        snprintf(bytes, sizeof bytes, ", %lld bytes", (long long)st.st_size);
    progress_closing("wrote %s: %dx%d%s, %.2f s", path, img->width, img->height, bytes,
                     progress_item_seconds());
}
