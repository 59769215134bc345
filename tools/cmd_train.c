/* cmd_train.c - `nsr train`: trains a network over image folders (nsr_train), or resumes a run
 * (nsr_train_resume); this file only parses options, shows progress and handles signals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

static const char train_help[] =
    "usage: nsr train --data DIR [--data DIR ...] --run RUN (--scale S | --noise SIGMA | --jpeg Q)\n"
    "                 [options]\n"
    "       nsr train --resume RUN [-j N] [--print-every N]\n"
    "\n"
    "Trains an NSR network as NSR.md section 4 says: random LR patches of the images of every DIR\n"
    "(PNG, JPEG, WebP; grey is replicated to RGB) with their aligned HR patches, random flips and\n"
    "transposition; Adam on the L1 loss; learning rate x0.2 after 2/3 and 5/6 of the iterations.\n"
    "For --scale the LR images are made once, by MATLAB-compatible bicubic; for --noise (Gaussian,\n"
    "unclipped) and --jpeg (each patch round-tripped through libjpeg) the degradation is drawn\n"
    "afresh for every patch.\n"
    "\n"
    "RUN (created if missing) receives checkpoint.nsr (at the start, every --checkpoint-every\n"
    "iterations, when stopped, and at the end), log.csv (iteration,loss,lr,seconds,val_psnr)\n"
    "and, at the end, model.nsr. --resume RUN continues from the checkpoint with the run's own\n"
    "options; the result is bit for bit that of an uninterrupted run (a finished run killed\n"
    "before model.nsr gets it). Folders are saved as given: resume from the same working\n"
    "folder, or give absolute paths.\n"
    "\n"
    "task (one of):\n"
    "  -s, --scale S         x S super-resolution, 2..8 (with --init: the model's scale)\n"
    "  -n, --noise SIGMA     Gaussian denoising, SIGMA 0..255 (on the 0-255 scale)\n"
    "  --jpeg Q              JPEG artifact removal at quality 1..100\n"
    "network (a new one):\n"
    "  --blocks B            residual blocks (16)\n"
    "  --features F          channels between blocks (32)\n"
    "  --wm W                width multiplier of a block's hidden layer (4)\n"
    "  --groups K            sparsity groups (4; 1 is the plain WDSR network)\n"
    "  --cardinals D         cardinals, dividing F (16)\n"
    "  --shared              one selection per block, shared by its two convolutions\n"
    "  --init M.nsr          start from this model instead (none of the options above)\n"
    "training:\n"
    "  --patch P             LR patch side (48); smaller images are skipped\n"
    "  --batch N             patches per step (16)\n"
    "  --iterations N        steps (10000)\n"
    "  --lr R                Adam's learning rate (0.001)\n"
    "  --seed N              initialisation and data order (1)\n"
    "  --checkpoint-every N  iterations between checkpoints (1000; 0: only when stopped and at\n"
    "                        the end)\n"
    "  --val DIR             held-out images: mean Y-PSNR (pt_ir protocol, whole image) logged\n"
    "  --val-every N         iterations between validations (1000; 0: only at the end)\n"
    "  --print-every N       a plain progress line every N iterations when stderr is not a\n"
    "                        terminal (100; on a terminal one line is updated)\n"
    "  -j N                  threads (default: all cores; the result does not depend on it)\n"
    "\n"
    "Ctrl-C or SIGTERM stops after the current step, saves a checkpoint and exits with 130\n"
    "(SIGINT) or 143 (SIGTERM); a second one stops at once (the last checkpoint stays valid).\n"
    "A loss that is not finite stops the run with status 1, keeping the last checkpoint.\n";

static volatile sig_atomic_t stop_signal;

/* The first SIGINT/SIGTERM asks for a clean stop after the current step; a second one ends the
 * process at once, as the signal's default action, without leaving the temporary file of a
 * checkpoint being written. */
static void on_signal(int sig) {
    if (stop_signal) {
        nsr_remove_temp_files_in_flight();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

/* What the progress display remembers between calls. */
typedef struct display {
    int plain;                 /* stderr is not a terminal: plain lines */
    long print_every;
    long first_iteration;      /* where this session started */
    double first_seconds;
    double window_loss;        /* sum of the losses since the last plain line */
    long window_steps;
    long iteration;            /* the last one reported */
    double shown_seconds;      /* when the terminal line was last drawn */
    const char *run;
} display;

/* h:mm:ss */
static const char *duration(char *buf, size_t size, double seconds) {
    long s = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

static int show(void *ctx, const nsr_train_progress *p) {
    display *d = ctx;
    char line[256], left[32];
    if (p->event == NSR_TRAIN_LOADING) {
        snprintf(line, sizeof line, "loading training images %zu/%zu", p->images_done, p->images_total);
        cli_progress((double)p->images_done / (double)p->images_total, line);
        return stop_signal != 0;
    }
    if (p->event == NSR_TRAIN_START) {
        const nsr_arch *a = p->arch;
        cli_progress_done();
        d->first_iteration = d->iteration = p->iteration;
        d->first_seconds = p->seconds;
        printf("network: B %d, F %d, wm %d, k %d, d %d, x%d%s (%zu parameters)\n", a->blocks,
               a->features, a->width_mult, a->groups, a->cardinals, a->scale,
               a->shared_selection ? ", shared selection" : "", p->params);
        printf("data: %zu images", p->images_total - p->images_skipped);
        if (p->images_skipped) printf(" (%zu more too small for the patch size, skipped)", p->images_skipped);
        printf("\n%s at iteration %ld of %ld in %s\n", p->iteration ? "resuming" : "training",
               p->iteration, p->iterations, d->run);
        fflush(stdout);
        return stop_signal != 0;
    }
    d->iteration = p->iteration;
    d->window_loss += p->loss;
    d->window_steps++;
    const double session = p->seconds - d->first_seconds;
    const double rate = session > 0 ? (double)(p->iteration - d->first_iteration) / session : 0;
    snprintf(line, sizeof line, "iteration %ld/%ld loss %.5f lr %.3g %.2f it/s %s left",
             p->iteration, p->iterations, d->window_loss / (double)d->window_steps, p->lr, rate,
             duration(left, sizeof left, rate > 0 ? (double)(p->iterations - p->iteration) / rate : 0));
    const int last = p->iteration == p->iterations;
    /* a terminal line redrawn at most ten times a second (tiny networks take 1000s of steps/s) */
    if (last || p->seconds - d->shown_seconds >= 0.1) {
        cli_progress((double)p->iteration / (double)p->iterations, line);
        d->shown_seconds = p->seconds;
    }
    if (d->plain && (p->iteration % d->print_every == 0 || last)) printf("%s\n", line);
    if (p->iteration % d->print_every == 0) d->window_loss = 0, d->window_steps = 0;
    if (p->val_psnr == p->val_psnr) {
        cli_progress_done();
        printf("iteration %ld: validation PSNR-Y %.4f dB\n", p->iteration, p->val_psnr);
    }
    if (d->plain && p->checkpointed) printf("iteration %ld: checkpoint saved\n", p->iteration);
    fflush(stdout);
    return stop_signal != 0;
}

/* The command line, for the model's provenance: arguments with spaces or quotes in '...'. */
static char *command_line(int argc, char **argv) {
    size_t n = 16;
    for (int i = 0; i < argc; i++) n += 4 * strlen(argv[i]) + 3;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "nsr");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const int quote = !*a || strpbrk(a, " \t\n'\"\\$`*?;&|<>()") != NULL;
        *p++ = ' ';
        if (quote) *p++ = '\'';
        for (; *a; a++) {
            if (quote && *a == '\'') p += sprintf(p, "'\\''");
            else *p++ = *a;
        }
        if (quote) *p++ = '\'';
    }
    *p = 0;
    return s;
}

/* The parsed command line. */
typedef struct train_args {
    nsr_train_options o;
    const char **dirs; /* argc entries */
    const char *threads, *resume;
    long print_every;
    int tasks, arch_given, others; /* task options; architecture options; options --resume refuses */
} train_args;

/* Fills t from the arguments; returns -1 to go on, or the exit status (help, usage error). */
static int parse_args(int argc, char **argv, train_args *t) {
    nsr_train_options *o = &t->o;
    long v = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(train_help, stdout);
            return 0;
        } else if (!strcmp(a, "--shared")) {
            o->arch.shared_selection = 1;
            t->arch_given = t->others = 1;
            continue;
        }
        if (!val) return cli_usage_error("train", "unknown option or missing value: %s", a);
        i++;
        if (strcmp(a, "-j") && strcmp(a, "--print-every") && strcmp(a, "--resume")) t->others = 1;
/* parses val as an integer in lo..hi into v, or leaves with a usage error saying what it must be */
#define INT_OPTION(lo, hi, what)                                                                   \
    if (cli_parse_int(val, lo, hi, &v))                                                            \
        return cli_usage_error("train", "%s must be %s, not '%s'", a, what, val);
        if (!strcmp(a, "--data")) t->dirs[o->data_dir_count++] = val;
        else if (!strcmp(a, "--run")) o->run_dir = val;
        else if (!strcmp(a, "--resume")) t->resume = val;
        else if (!strcmp(a, "--val")) o->val_dir = val;
        else if (!strcmp(a, "--init")) o->init_path = val;
        else if (!strcmp(a, "-j")) t->threads = val;
        else if (!strcmp(a, "-s") || !strcmp(a, "--scale")) {
            INT_OPTION(2, 8, "2..8");
            o->task = (nsr_task){NSR_TASK_SR, (int)v, 0, 0};
            o->arch.scale = (int)v;
            t->tasks++;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--noise")) {
            double sigma;
            if (cli_parse_double(val, 0, 255, &sigma))
                return cli_usage_error("train", "%s must be 0..255, not '%s'", a, val);
            o->task = (nsr_task){NSR_TASK_DENOISE, 1, sigma, 0};
            o->arch.scale = 1;
            t->tasks++;
        } else if (!strcmp(a, "--jpeg")) {
            INT_OPTION(1, 100, "1..100");
            o->task = (nsr_task){NSR_TASK_JPEG, 1, 0, (int)v};
            o->arch.scale = 1;
            t->tasks++;
        } else if (!strcmp(a, "--blocks")) {
            INT_OPTION(1, 1024, "1..1024");
            o->arch.blocks = (int)v, t->arch_given = 1;
        } else if (!strcmp(a, "--features")) {
            INT_OPTION(1, 4096, "1..4096");
            o->arch.features = (int)v, t->arch_given = 1;
        } else if (!strcmp(a, "--wm")) {
            INT_OPTION(1, 64, "1..64");
            o->arch.width_mult = (int)v, t->arch_given = 1;
        } else if (!strcmp(a, "--groups")) {
            INT_OPTION(1, 64, "1..64");
            o->arch.groups = (int)v, t->arch_given = 1;
        } else if (!strcmp(a, "--cardinals")) {
            INT_OPTION(1, 4096, "1..4096");
            o->arch.cardinals = (int)v, t->arch_given = 1;
        } else if (!strcmp(a, "--patch")) {
            INT_OPTION(1, 1024, "1..1024");
            o->patch = (int)v;
        } else if (!strcmp(a, "--batch")) {
            INT_OPTION(1, 4096, "1..4096");
            o->batch = (int)v;
        } else if (!strcmp(a, "--iterations")) {
            INT_OPTION(1, 1000000000000L, "a positive count");
            o->iterations = v;
        } else if (!strcmp(a, "--lr")) {
            if (cli_parse_double(val, 1e-30, 1e30, &o->lr))
                return cli_usage_error("train", "--lr must be a positive number, not '%s'", val);
        } else if (!strcmp(a, "--seed")) {
            INT_OPTION(0, 2147483647L, "0..2147483647");
            o->seed = (uint64_t)v;
        } else if (!strcmp(a, "--checkpoint-every")) {
            INT_OPTION(0, 1000000000000L, "a count (0: only at the end)");
            o->checkpoint_every = v;
        } else if (!strcmp(a, "--val-every")) {
            INT_OPTION(0, 1000000000000L, "a count (0: only at the end)");
            o->val_every = v;
        } else if (!strcmp(a, "--print-every")) {
            INT_OPTION(1, 1000000000000L, "a positive count");
            t->print_every = v;
        } else {
            return cli_usage_error("train", "unknown option %s", a);
        }
#undef INT_OPTION
    }
    const char *usage = NULL;
    if (t->resume && t->others) usage = "--resume takes only -j and --print-every: the run keeps its options";
    else if (!t->resume && !o->data_dir_count) usage = "--data DIR is required";
    else if (!t->resume && !o->run_dir) usage = "--run DIR is required";
    else if (!t->resume && t->tasks > 1) usage = "give only one of --scale, --noise, --jpeg";
    else if (!t->resume && !t->tasks && !o->init_path) usage = "give one of --scale, --noise, --jpeg";
    else if (o->init_path && t->arch_given)
        usage = "--init takes its model's architecture: no --blocks, --features, --wm, --groups, --cardinals, --shared";
    if (usage) return cli_usage_error("train", "%s", usage);
    if (cli_set_threads(t->threads))
        return cli_usage_error("train", "-j must be a thread count, not '%s'", t->threads);
    if (o->init_path && !t->tasks) o->task.scale = 0; /* super-resolution at the model's scale */
    return -1;
}

int cmd_train(int argc, char **argv) {
    train_args t;
    memset(&t, 0, sizeof t);
    nsr_train_defaults(&t.o);
    t.print_every = 100;
    t.dirs = calloc((size_t)argc, sizeof *t.dirs);
    if (!t.dirs) return cli_error("out of memory");
    t.o.data_dirs = t.dirs;
    int status = parse_args(argc, argv, &t);
    if (status >= 0) {
        free(t.dirs);
        return status;
    }
    char *command = t.resume ? NULL : command_line(argc, argv);
    t.o.command = command;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    display d = {.plain = !isatty(STDERR_FILENO), .print_every = t.print_every,
                 .run = t.resume ? t.resume : t.o.run_dir};
    nsr_error err;
    int rc = t.resume ? nsr_train_resume(t.resume, show, &d, &err) : nsr_train(&t.o, show, &d, &err);
    cli_progress_done();
    if (rc < 0) {
        status = cli_error("%s", err.message);
    } else if (rc == NSR_TRAIN_STOPPED) {
        if (d.iteration > 0)
            fprintf(stderr, "nsr: stopped at iteration %ld; the checkpoint is in %s (continue with "
                    "'nsr train --resume %s')\n", d.iteration, d.run, d.run);
        else
            fprintf(stderr, "nsr: stopped before the first step (continue with 'nsr train "
                    "--resume %s')\n", d.run);
        status = 128 + (stop_signal ? (int)stop_signal : SIGINT);
    } else {
        printf("done: %s/model.nsr\n", d.run);
        status = 0;
    }
    free(command);
    free(t.dirs);
    return status;
}
