/* cmd_train.c - `nsr train`: trains a network over image folders (nsr_train), or resumes a run
 * (nsr_train_resume); this file only parses options, shows progress and handles signals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "progress.h"
#include "ranks.h"

/* The options after the architecture's (which come from its table). */
enum {
    INIT, SCALE, NOISE, JPEG, PATCH, BATCH, ITERATIONS, LR, SEED, CHECKPOINT_EVERY, VAL, VAL_EVERY,
    PRINT_EVERY, THREADS, SHARDS, TEMPERATURE, ANNEAL, HARD_FROM, GUMBEL, BALANCE, DATA, RUN, RESUME, FIXED
};
#define COUNT (1000000000000L) /* the most iterations of a run */
static const opt_spec fixed[FIXED] = {
    [INIT] = {.long_name = "init", .kind = OPT_STRING, .arg = "M.nsr",
              .help = "start from this model instead (none of the options above but --channels\n"
                      "and --groups). A task of another scale, or other --channels, keeps its\n"
                      "blocks (and its head when the planes stay) and draws a new tail from\n"
                      "--seed. With --groups K (--cardinals, --shared) a plain model (k = 1,\n"
                      "nsr fold's) is split into K groups, each a copy of its kernels: the\n"
                      "network starts as the plain one, whatever it selects, and a run with\n"
                      "--hard-from 0 trains it for --hard from there. The model records the\n"
                      "steps behind M (train.init_iterations; nsr models shows N+M)"},
    [SCALE] = {.short_name = 's', .long_name = "scale", .kind = OPT_INT, .min = 2, .max = 8, .arg = "S",
               .help = "x S super-resolution, 2..8 (with --init: default the model's scale)", .section = "task (one of):"},
    [NOISE] = {.short_name = 'n', .long_name = "noise", .kind = OPT_STRING, .arg = "SIGMA",
               .help = "Gaussian denoising, SIGMA 0..255 (on the 0-255 scale); LO:HI for a\n"
                       "blind model: each patch's sigma drawn uniformly from LO..HI"},
    [JPEG] = {.long_name = "jpeg", .kind = OPT_STRING, .arg = "Q",
              .help = "JPEG artifact removal at quality 1..100; LO:HI for a blind model\n"
                      "(each patch's quality drawn from LO..HI)"},
    [PATCH] = {.long_name = "patch", .kind = OPT_INT, .min = 1, .max = 1024, .arg = "P",
               .help = "LR patch side (48); smaller images are skipped", .section = "training:"},
    [BATCH] = {.long_name = "batch", .kind = OPT_INT, .min = 1, .max = 4096, .arg = "N", .help = "patches per step (16)"},
    [ITERATIONS] = {.long_name = "iterations", .kind = OPT_INT, .min = 1, .max = COUNT, .range = "a positive count",
                    .arg = "N", .help = "steps (10000)"},
    [LR] = {.long_name = "lr", .kind = OPT_DOUBLE, .dmin = 1e-30, .dmax = 1e30, .range = "a positive number",
            .arg = "R", .help = "Adam's learning rate (0.001)"},
    [SEED] = {.long_name = "seed", .kind = OPT_INT, .min = 0, .max = 2147483647L, .arg = "N",
              .help = "initialisation and data order (1)"},
    [CHECKPOINT_EVERY] = {.long_name = "checkpoint-every", .kind = OPT_INT, .min = 0, .max = COUNT,
                          .range = "a count (0: only at the end)", .arg = "N",
                          .help = "iterations between checkpoints (1000; 0: only when stopped and at\n"
                                  "the end)"},
    [VAL] = {.long_name = "val", .kind = OPT_STRING, .arg = "DIR",
             .help = "held-out images: mean Y-PSNR (pt_ir protocol, whole image) logged; a\n"
                     "blind model at the middle of its range (--noise 0:50: sigma 25); hard\n"
                     "selection once the forward is (--hard-from)"},
    [VAL_EVERY] = {.long_name = "val-every", .kind = OPT_INT, .min = 0, .max = COUNT,
                   .range = "a count (0: only at the end)", .arg = "N",
                   .help = "iterations between validations (1000; 0: only at the end)"},
    [PRINT_EVERY] = {.long_name = "print-every", .kind = OPT_INT, .min = 1, .max = COUNT, .range = "a positive count",
                     .arg = "N",
                     .help = "a plain progress line every N iterations when stderr is not a\n"
                             "terminal (100; on a terminal one line is updated)"},
    [THREADS] = {.short_name = 'j', .kind = OPT_INT, .min = 0, .max = 1024, .range = "a thread count 0..1024",
                 .arg = "N", .help = "threads (default: all cores; the result does not depend on it)"},
    [SHARDS] = {.long_name = "shards", .kind = OPT_INT, .min = 1, .max = 64, .arg = "S",
                .help = "the batch in S shards whose gradients are computed apart and summed\n"
                        "in a fixed tree (a power of 2 dividing the batch; default 1, under\n"
                        "mpirun the rank count): the same run, bit for bit, on any number of\n"
                        "ranks dividing S"},
    [TEMPERATURE] = {.long_name = "temperature", .kind = OPT_STRING, .arg = "T0[:T1]",
                     .help = "softmax temperature, from T0 to T1 (1)",
                     .section = "selection (NSR networks; the defaults are the reference's softmax):"},
    [ANNEAL] = {.long_name = "anneal", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 1, .range = "a fraction of the run, 0..1",
                .arg = "F", .help = "fraction of the run over which it goes from T0 to T1,\n"
                                    "geometrically (0: T1 throughout)"},
    [HARD_FROM] = {.long_name = "hard-from", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 1,
                   .range = "a fraction of the run, 0..1", .arg = "F",
                   .help = "from this fraction of the run on, the forward selects hard (the\n"
                           "argmax group; the backward goes straight through the softmax), so\n"
                           "that --hard inference keeps the quality (1: never)"},
    [GUMBEL] = {.long_name = "gumbel", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 100, .arg = "S",
                .help = "Gumbel noise of scale S on the selection logits (0)"},
    [BALANCE] = {.long_name = "balance", .kind = OPT_DOUBLE, .dmin = 0, .dmax = 100, .arg = "W",
                 .help = "a load-balancing term of weight W in the loss, keeping every group in\n"
                         "use (hard training otherwise settles on one; logged with the loss) (0)"},
    [DATA] = {.long_name = "data", .kind = OPT_STRING, .repeat = 1, .arg = "DIR",
              .help = "training images (may be given several times)", .section = "run:"},
    [RUN] = {.long_name = "run", .kind = OPT_STRING, .arg = "RUN", .help = "the run's folder"},
    [RESUME] = {.long_name = "resume", .kind = OPT_STRING, .arg = "RUN", .help = "continue this run"},
};

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
    int quiet;                 /* a rank other than 0 of a distributed run: prints nothing */
} display;

static int show(void *ctx, const nsr_train_progress *p) {
    display *d = ctx;
    char line[256], left[32];
    if (d->quiet) return stop_signal != 0;
    if (p->event == NSR_TRAIN_LOADING) {
        snprintf(line, sizeof line, "loading training images %zu/%zu", p->images_done, p->images_total);
        progress_draw((double)p->images_done / (double)p->images_total, line);
        return stop_signal != 0;
    }
    if (p->event == NSR_TRAIN_START) {
        const nsr_arch *a = p->arch;
        progress_end();
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
             progress_duration(left, sizeof left, rate > 0 ? (double)(p->iterations - p->iteration) / rate : 0));
    const int last = p->iteration == p->iterations;
    /* a terminal line redrawn at most ten times a second (tiny networks take 1000s of steps/s) */
    if (last || p->seconds - d->shown_seconds >= 0.1) {
        progress_draw((double)p->iteration / (double)p->iterations, line);
        d->shown_seconds = p->seconds;
    }
    if (d->plain && (p->iteration % d->print_every == 0 || last)) printf("%s\n", line);
    if (p->iteration % d->print_every == 0) d->window_loss = 0, d->window_steps = 0;
    if (p->val_psnr == p->val_psnr) {
        progress_end();
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
    const char *resume;
    long print_every;
} train_args;

/* Fills t from the options; 0 on success, else the usage error's exit status. */
static int parse_args(const opt_args *a, train_args *t) {
    const opt_value *v = a->v, *f = v + a->cmd->nspecs - FIXED;
    nsr_train_options *o = &t->o;
    const int arch_given = cli_arch_apply(v, 0, &o->arch);
    const int channels_given = cli_arch_given(v, 0, "channels");
    if (channels_given) o->init_channels = o->arch.channels;
    /* with --init, --groups (and its --cardinals, --shared) split a plain model */
    const int groups_given = cli_arch_given(v, 0, "groups");
    const int split_given = groups_given + cli_arch_given(v, 0, "cardinals") +
                            cli_arch_given(v, 0, "shared_selection");
    if (groups_given) {
        o->init_groups = o->arch.groups;
        o->init_cardinals = o->arch.cardinals;
        o->init_shared = o->arch.shared_selection;
    }
    int others = 0; /* options --resume refuses */
    for (int i = 0; i < a->cmd->nspecs; i++)
        if (v[i].count && v + i != f + THREADS && v + i != f + PRINT_EVERY && v + i != f + RESUME) others = 1;
    const int tasks = f[SCALE].count + f[NOISE].count + f[JPEG].count;
    double lo, hi;
    if (f[SCALE].count)
        o->task = (nsr_task){.kind = NSR_TASK_SR, .scale = (int)f[SCALE].i}, o->arch.scale = (int)f[SCALE].i;
    if (f[NOISE].count) {
        if (parse_range(f[NOISE].text, 0, 255, &lo, &hi))
            return cli_usage_error("train", "--noise must be SIGMA or LO:HI within 0..255, not '%s'", f[NOISE].text);
        o->task = (nsr_task){.kind = NSR_TASK_DENOISE, .scale = 1, .noise_sigma = lo, .noise_sigma_max = hi};
        o->arch.scale = 1;
    }
    if (f[JPEG].count) {
        if (parse_range(f[JPEG].text, 1, 100, &lo, &hi) || lo != (int)lo || hi != (int)hi)
            return cli_usage_error("train", "--jpeg must be Q or LO:HI, integers within 1..100, not '%s'", f[JPEG].text);
        o->task = (nsr_task){.kind = NSR_TASK_JPEG, .scale = 1, .jpeg_quality = (int)lo, .jpeg_quality_max = (int)hi};
        o->arch.scale = 1;
    }
    if (f[TEMPERATURE].count && parse_pair(f[TEMPERATURE].text, 1e-3, 1e3, &o->select_t0, &o->select_t1))
        return cli_usage_error("train", "--temperature must be T or T0:T1, each 0.001..1000, not '%s'",
                               f[TEMPERATURE].text);
    if (f[ANNEAL].count) o->select_anneal = f[ANNEAL].d;
    if (f[HARD_FROM].count) o->select_hard_from = f[HARD_FROM].d;
    if (f[GUMBEL].count) o->select_gumbel = f[GUMBEL].d;
    if (f[BALANCE].count) o->select_balance = f[BALANCE].d;
    if (f[SHARDS].count) o->shards = (int)f[SHARDS].i;
    o->data_dirs = f[DATA].all;
    o->data_dir_count = f[DATA].count;
    o->run_dir = f[RUN].text;
    o->val_dir = f[VAL].text;
    o->init_path = f[INIT].text;
    t->resume = f[RESUME].text;
    if (f[PATCH].count) o->patch = (int)f[PATCH].i;
    if (f[BATCH].count) o->batch = (int)f[BATCH].i;
    if (f[ITERATIONS].count) o->iterations = f[ITERATIONS].i;
    if (f[LR].count) o->lr = f[LR].d;
    if (f[SEED].count) o->seed = (uint64_t)f[SEED].i;
    if (f[CHECKPOINT_EVERY].count) o->checkpoint_every = f[CHECKPOINT_EVERY].i;
    if (f[VAL_EVERY].count) o->val_every = f[VAL_EVERY].i;
    t->print_every = f[PRINT_EVERY].count ? f[PRINT_EVERY].i : 100;
    const char *usage = NULL;
    if (t->resume && others) usage = "--resume takes only -j and --print-every: the run keeps its options";
    else if (!t->resume && !o->data_dir_count) usage = "--data DIR is required";
    else if (!t->resume && !o->run_dir) usage = "--run DIR is required";
    else if (!t->resume && tasks > 1) usage = "give only one of --scale, --noise, --jpeg";
    else if (!t->resume && !tasks && !o->init_path) usage = "give one of --scale, --noise, --jpeg";
    else if (o->init_path && arch_given > channels_given + split_given)
        usage = "--init takes its model's architecture: no --blocks, --features, --wm, --regime (--channels "
                "and the task may change its planes and scale, --groups split a plain model)";
    else if (o->init_path && split_given && !o->init_groups)
        usage = "--cardinals and --shared with --init come with --groups K (a plain model split into K groups)";
    else if (o->init_path && split_given && o->init_groups < 2)
        usage = "--groups with --init splits a plain model: K must be at least 2";
    if (usage) return cli_usage_error("train", "%s", usage);
    cli_set_threads(&f[THREADS]);
    if (o->init_path && !tasks) o->task.scale = 0; /* super-resolution at the model's scale */
    return 0;
}

static int run(const opt_args *a) {
    train_args t;
    memset(&t, 0, sizeof t);
    nsr_train_defaults(&t.o);
    int status = parse_args(a, &t);
    if (status) return status;
    nsr_train_comm comm;
    if (ranks_start(&comm, a->argc, a->argv)) return 1;
    nsr_error err;
    if (comm.size) {
        t.o.comm = &comm;
        if (!a->v[a->cmd->nspecs - FIXED + SHARDS].count) t.o.shards = comm.size;
    }
    char *command = t.resume ? NULL : command_line(a->argc, a->argv);
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
                 .run = t.resume ? t.resume : t.o.run_dir, .quiet = comm.rank != 0};
    int rc = t.resume ? nsr_train_resume(t.resume, t.o.comm, show, &d, &err)
                      : nsr_train(&t.o, show, &d, &err);
    progress_end();
    if (rc < 0 && comm.size) {
        ranks_fail(&comm, err.message); /* stops every rank */
        status = 1;
    } else if (rc < 0) {
        status = cli_error("%s", err.message);
    } else if (d.quiet) {
        status = rc == NSR_TRAIN_STOPPED ? 128 + (stop_signal ? (int)stop_signal : SIGINT) : 0;
    } else if (rc == NSR_TRAIN_STOPPED) {
        if (d.iteration > 0)
            cli_note("stopped at iteration %ld; the checkpoint is in %s (continue with "
                     "'nsr train --resume %s')", d.iteration, d.run, d.run);
        else
            cli_note("stopped before the first step (continue with 'nsr train --resume %s')", d.run);
        status = 128 + (stop_signal ? (int)stop_signal : SIGINT);
    } else {
        printf("done: %s/model.nsr\n", d.run);
        status = 0;
    }
    free(command);
    ranks_stop();
    return status;
}

int cmd_train(int argc, char **argv) {
    /* the architecture's options come from its table, so they are made here */
    int n;
    opt_spec *specs = cli_arch_specs(fixed, FIXED, 0, "network (a new one):", &n);
    if (!specs) return cli_error("out of memory");
    const opt_command command = {
        "train",
        "usage: nsr train --data DIR [--data DIR ...] --run RUN (--scale S | --noise SIGMA | --jpeg Q)\n"
        "                 [options]\n"
        "       nsr train --resume RUN [-j N] [--print-every N]\n"
        "\n"
        "Trains an NSR network as NSR.md section 4 says: random LR patches of the images of every DIR\n"
        "(PNG, JPEG, WebP; grey is replicated to RGB, or RGB made grey for --channels 1) with their\n"
        "aligned HR patches, random flips and transposition; Adam on the L1 loss; learning rate\n"
        "x0.2 after 2/3 and 5/6 of the iterations.\n"
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
        "\n",
        "Under mpirun (nsr built with Open MPI), every rank runs the same command: each computes its\n"
        "shards of every batch with -j threads, rank 0 writes the run folder. --resume works on any\n"
        "rank count dividing the run's shards.\n"
        "\n"
        "Ctrl-C or SIGTERM stops after the current step, saves a checkpoint and exits with 130\n"
        "(SIGINT) or 143 (SIGTERM); a second one stops at once (the last checkpoint stays valid).\n"
        "A loss that is not finite stops the run with status 1, keeping the last checkpoint.\n",
        specs, n, 0, run,
    };
    int status = opt_main(&command, argc, argv);
    free(specs);
    return status;
}
