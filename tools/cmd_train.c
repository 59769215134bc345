/* cmd_train.c - `nsr train`: trains a network over image folders (nsr_train), or resumes a run
 * (nsr_train_resume); this file only parses options, shows progress and handles signals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "ranks.h"

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
    "RUN (created if missing) receives checkpoint.nsr (every --checkpoint-every iterations, when\n"
    "stopped, and at the end), log.csv (iteration,loss,lr,seconds,val_psnr) and, at the end,\n"
    "model.nsr. --resume RUN continues from the checkpoint with the run's own options; the result\n"
    "is bit for bit that of an uninterrupted run. Folders are saved as given: resume from the same\n"
    "working folder, or give absolute paths.\n"
    "\n"
    "task (one of):\n"
    "  -s, --scale S         x S super-resolution, 2..8 (with --init: the model's scale)\n"
    "  -n, --noise SIGMA     Gaussian denoising, SIGMA 0..255 (on the 0-255 scale); LO:HI for a\n"
    "                        blind model: each patch's sigma drawn uniformly from LO..HI\n"
    "  --jpeg Q              JPEG artifact removal at quality 1..100; LO:HI for a blind model\n"
    "                        (each patch's quality drawn from LO..HI)\n"
    "network (a new one):\n"
    "  --blocks B            residual blocks (16)\n"
    "  --features F          channels between blocks (32)\n"
    "  --wm W                width multiplier of a block's hidden layer (4)\n"
    "  --groups K            sparsity groups (4; 1 is the plain WDSR network)\n"
    "  --cardinals D         cardinals, dividing F (16)\n"
    "  --shared              one selection per block, shared by its two convolutions\n"
    "  --regime R            fixed-flops (k groups of kernels mixed, default) or fixed-size\n"
    "                        (a block's hidden channels split into k groups)\n"
    "  --grey                a grey network (one plane in and out; colour training images\n"
    "                        become their MATLAB Y, as the grey tables are measured)\n"
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
    "  --shards S            the batch in S shards whose gradients are computed apart and\n"
    "                        summed in a fixed tree (a power of 2 dividing the batch; default 1,\n"
    "                        under mpirun the rank count): the same run, bit for bit, on any\n"
    "                        number of ranks dividing S\n"
    "selection (NSR networks; the defaults are the reference's softmax):\n"
    "  --temperature T0[:T1] softmax temperature, from T0 to T1 (1)\n"
    "  --anneal F            fraction of the run over which it goes from T0 to T1,\n"
    "                        geometrically (0: T1 throughout)\n"
    "  --hard-from F         from this fraction of the run on, the forward selects hard (the\n"
    "                        argmax group; the backward goes straight through the softmax), so\n"
    "                        that --hard inference keeps the quality (1: never)\n"
    "  --gumbel S            Gumbel noise of scale S on the selection logits (0)\n"
    "\n"
    "Under mpirun (nsr built with Open MPI), every rank runs the same command: each computes its\n"
    "shards of every batch with -j threads, rank 0 writes the run folder. --resume works on any\n"
    "rank count dividing the run's shards.\n"
    "\n"
    "Ctrl-C or SIGTERM stops after the current step, saves a checkpoint and exits with 130\n"
    "(SIGINT) or 143 (SIGTERM); a second one stops at once (the last checkpoint stays valid).\n"
    "A loss that is not finite stops the run with status 1, keeping the last checkpoint.\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

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
    int quiet;                 /* a rank other than 0 of a distributed run: prints nothing */
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
    if (d->quiet) return stop_signal != 0;
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

/* "V" (a = b = V) or "A:B", both within [min, max]. 0 on success. */
static int parse_pair(const char *s, double min, double max, double *a, double *b) {
    const char *colon = strchr(s, ':');
    char first[64];
    snprintf(first, sizeof first, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
    return cli_parse_double(first, min, max, a) || cli_parse_double(colon ? colon + 1 : first, min, max, b);
}

/* A level or a range LO:HI with LO <= HI. */
static int parse_range(const char *s, double min, double max, double *lo, double *hi) {
    return parse_pair(s, min, max, lo, hi) || *lo > *hi ? -1 : 0;
}

/* The parsed command line. */
typedef struct train_args {
    nsr_train_options o;
    const char **dirs; /* argc entries */
    const char *threads, *resume;
    long print_every;
    int tasks, arch_given, others; /* task options; architecture options; options --resume refuses */
    int shards_given;
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
        } else if (!strcmp(a, "--shared") || !strcmp(a, "--grey")) {
            if (a[2] == 's') o->arch.shared_selection = 1;
            else o->arch.channels = 1;
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
            o->task = (nsr_task){.kind = NSR_TASK_SR, .scale = (int)v};
            o->arch.scale = (int)v;
            t->tasks++;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--noise")) {
            double lo, hi;
            if (parse_range(val, 0, 255, &lo, &hi))
                return cli_usage_error("train", "%s must be SIGMA or LO:HI within 0..255, not '%s'", a, val);
            o->task = (nsr_task){.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = lo,
                                 .noise_sigma_max = hi};
            o->arch.scale = 1;
            t->tasks++;
        } else if (!strcmp(a, "--jpeg")) {
            double lo, hi;
            if (parse_range(val, 1, 100, &lo, &hi) || lo != (int)lo || hi != (int)hi)
                return cli_usage_error("train", "--jpeg must be Q or LO:HI, integers within 1..100, not '%s'", val);
            o->task = (nsr_task){.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = (int)lo,
                                 .jpeg_quality_max = (int)hi};
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
        } else if (!strcmp(a, "--regime")) {
            if (cli_parse_regime(val, &o->arch.regime))
                return cli_usage_error("train", "--regime must be fixed-flops or fixed-size, not '%s'", val);
            t->arch_given = 1;
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
        } else if (!strcmp(a, "--temperature")) {
            if (parse_pair(val, 1e-3, 1e3, &o->select_t0, &o->select_t1))
                return cli_usage_error("train", "--temperature must be T or T0:T1, each 0.001..1000, not '%s'", val);
        } else if (!strcmp(a, "--anneal") || !strcmp(a, "--hard-from")) {
            if (cli_parse_double(val, 0, 1, a[2] == 'a' ? &o->select_anneal : &o->select_hard_from))
                return cli_usage_error("train", "%s must be a fraction of the run, 0..1, not '%s'", a, val);
        } else if (!strcmp(a, "--gumbel")) {
            if (cli_parse_double(val, 0, 100, &o->select_gumbel))
                return cli_usage_error("train", "--gumbel must be 0..100, not '%s'", val);
        } else if (!strcmp(a, "--shards")) {
            INT_OPTION(1, 64, "a power of 2, 1..64");
            o->shards = (int)v;
            t->shards_given = 1;
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
        usage = "--init takes its model's architecture: no --blocks, --features, --wm, --groups, --cardinals, --shared, --regime, --grey";
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
    nsr_train_comm comm;
    nsr_error err;
    if (ranks_start(&comm, argc, argv, &err)) {
        free(t.dirs);
        ranks_fail(&comm, err.message);
        ranks_stop();
        return 1;
    }
    if (comm.size) {
        t.o.comm = &comm;
        if (!t.shards_given) t.o.shards = comm.size;
    }
    char *command = t.resume ? NULL : command_line(argc, argv);
    t.o.command = command;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal is not caught: it stops at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    display d = {.plain = !isatty(STDERR_FILENO), .print_every = t.print_every,
                 .run = t.resume ? t.resume : t.o.run_dir, .quiet = comm.rank != 0};
    int rc = t.resume ? nsr_train_resume(t.resume, t.o.comm, show, &d, &err)
                      : nsr_train(&t.o, show, &d, &err);
    cli_progress_done();
    if (rc < 0 && comm.size) {
        ranks_fail(&comm, err.message); /* stops every rank */
        status = 1;
    } else if (rc < 0) {
        status = cli_error("%s", err.message);
    } else if (d.quiet) {
        status = rc == NSR_TRAIN_STOPPED ? 128 + (stop_signal ? (int)stop_signal : SIGINT) : 0;
    } else if (rc == NSR_TRAIN_STOPPED) {
        if (d.iteration > 0)
            fprintf(stderr, "nsr: stopped at iteration %ld; the checkpoint is in %s (continue with "
                    "'nsr train --resume %s')\n", d.iteration, d.run, d.run);
        else
            fprintf(stderr, "nsr: stopped before the first step\n");
        status = 128 + (stop_signal ? (int)stop_signal : SIGINT);
    } else {
        printf("done: %s/model.nsr\n", d.run);
        status = 0;
    }
    free(command);
    free(t.dirs);
    ranks_stop();
    return status;
}
