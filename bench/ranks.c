/* ranks.c - `nsr bench ranks`: the training step of `mpirun -np N nsr train` in its parts, for
 * the benchmark network (B16 F64 wm1 k4 d16, a global batch of 16 LR patches of 48x48):
 *
 *   compute   forward, L1 loss and backward of this rank's patches (batch / N)
 *   wait      a barrier after compute: how long the rank waits for the slowest one
 *   exchange  the sum of the gradients over the ranks (nsr_train_comm's tree sum: recursive
 *             doubling, log2(N) exchanges of every gradient), then the mean
 *   update    Adam on every rank
 *
 * Alone, the program measures one rank on all its threads, then starts itself under
 * `mpirun -np 2` with half the threads per rank (the same cores: the hybrid use of README's
 * cluster section, ranks x threads = cores) and reports both; the ratio is the 1-rank step over
 * the 2-rank step. Under mpirun (any N), rank 0 reports that rank count's step alone.
 * BENCHMARKS.md projects the exchange to clusters from these parts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* One rank's parts of a step, over the timed rounds. */
typedef struct step_parts {
    bench_stats compute, wait, exchange, update, step;
    size_t floats; /* gradients exchanged */
} step_parts;

static int compare_ms(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bench_stats stats_of(double *ms, int n) {
    qsort(ms, (size_t)n, sizeof *ms, compare_ms);
    return (bench_stats){ms[0], n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2])};
}

/* Every rank waits for all (a sum of one value); alone, nothing. */
static int sync_ranks(const nsr_train_comm *comm) {
    double one = 1;
    nsr_error err;
    if (comm && comm->size > 1 && comm->sum(comm->ctx, &one, 1, 1, &err))
        return bench_error("%s", err.message);
    return 0;
}

/* Times o->reps steps (after one untimed) of this rank's share of the batch. 0, or 1. */
static int time_steps(const bench_opts *o, const nsr_train_comm *comm, step_parts *p) {
    const int ranks = comm && comm->size ? comm->size : 1, rank = comm && comm->size ? comm->rank : 0;
    bench_net net;
    if (bench_net_create_shard(&net, o, rank, ranks)) return 1;
    const size_t floats = nsr_model_param_count(net.model);
    const int rounds = o->reps + 1;
    double *ms = calloc((size_t)5 * rounds, sizeof *ms);
    int rc = ms ? 0 : bench_error("out of memory");
    for (int r = 0; r < rounds && !rc; r++) {
        if (sync_ranks(comm)) {
            rc = 1;
            break;
        }
        const double t0 = bench_now_ms();
        eng_trainer_loss_and_grad(net.trainer, net.x, net.target);
        const double t1 = bench_now_ms();
        rc = sync_ranks(comm);
        const double t2 = bench_now_ms();
        float *grads = eng_trainer_grads(net.trainer);
        nsr_error err;
        if (!rc && ranks > 1) {
            /* the mean over the batch: the sum of the ranks' means over their equal shares / N */
            if (comm->sum(comm->ctx, grads, floats, 0, &err)) rc = bench_error("%s", err.message);
            const float inv = 1.0f / (float)ranks;
            for (size_t i = 0; i < floats; i++) grads[i] *= inv;
        }
        const double t3 = bench_now_ms();
        eng_trainer_step(net.trainer, 1e-3f);
        const double t4 = bench_now_ms();
        if (r == 0) continue; /* the untimed round */
        double *row = ms + (size_t)5 * (r - 1);
        row[0] = t1 - t0, row[1] = t2 - t1, row[2] = t3 - t2, row[3] = t4 - t3, row[4] = t4 - t0;
    }
    if (!rc) {
        /* each part's own min and median over the rounds (the parts of one round are taken
         * apart: a column at a time) */
        double *column = malloc((size_t)o->reps * sizeof *column);
        bench_stats *parts[5] = {&p->compute, &p->wait, &p->exchange, &p->update, &p->step};
        for (int k = 0; column && k < 5; k++) {
            for (int r = 0; r < o->reps; r++) column[r] = ms[(size_t)5 * r + k];
            *parts[k] = stats_of(column, o->reps);
        }
        if (!column) rc = bench_error("out of memory");
        free(column);
        p->floats = floats;
    }
    free(ms);
    bench_net_free(&net);
    return rc;
}

/* The parts as JSON members (also what the child's row carries to the parent). */
static void parts_json(char *buf, size_t size, const char *prefix, int ranks, int threads,
                       const step_parts *p) {
    snprintf(buf, size,
             "\"%sranks\": %d, \"%sthreads_per_rank\": %d, \"%scompute_ms\": %.3f, "
             "\"%swait_ms\": %.3f, \"%sexchange_ms\": %.3f, \"%supdate_ms\": %.3f, "
             "\"%sgradient_floats\": %zu",
             prefix, ranks, prefix, threads, prefix, p->compute.min_ms, prefix, p->wait.min_ms,
             prefix, p->exchange.min_ms, prefix, p->update.min_ms, prefix, p->floats);
}

/* A number after "key": in text. */
static int json_number(const char *text, const char *key, double *value) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = strstr(text, pattern);
    return at && sscanf(at + strlen(pattern), "%lf", value) == 1 ? 0 : -1;
}

/* The 2-rank step from this program under mpirun; 0, or -1 with why. */
static int two_ranks(const bench_opts *o, step_parts *p, int *threads, char *why, size_t why_size) {
    char exe[4096], reps[16], nthreads[16];
    if (bench_self_exe(exe, sizeof exe)) {
        snprintf(why, why_size, "this program's path is unknown");
        return -1;
    }
    *threads = o->threads / 2 > 0 ? o->threads / 2 : 1;
    snprintf(reps, sizeof reps, "%d", o->reps);
    snprintf(nthreads, sizeof nthreads, "%d", *threads);
    char *argv[16];
    int n = 0;
    argv[n++] = "mpirun", argv[n++] = "-np", argv[n++] = "2", argv[n++] = "--oversubscribe";
    if (geteuid() == 0) argv[n++] = "--allow-run-as-root"; /* containers and CI run as root */
    argv[n++] = exe, argv[n++] = "bench", argv[n++] = "ranks", argv[n++] = "--json";
    argv[n++] = "--reps", argv[n++] = reps, argv[n++] = "-j", argv[n++] = nthreads;
    if (o->quick) argv[n++] = "--quick";
    argv[n] = NULL;
    char *out;
    struct rusage ru;
    const int status = bench_spawn(argv, 1, &out, &ru);
    const char *row = out ? strstr(out, "{\"bench\": \"ranks\"") : NULL;
    double v[7];
    const char *keys[] = {"compute_ms", "wait_ms", "exchange_ms", "update_ms", "nsr_ms",
                          "nsr_median_ms", "gradient_floats"};
    int ok = status == 0 && row;
    for (int k = 0; ok && k < 7; k++) ok = !json_number(row, keys[k], &v[k]);
    if (!ok) {
        if (status < 0) snprintf(why, why_size, "mpirun could not be started (Debian: openmpi-bin)");
        else snprintf(why, why_size, "mpirun -np 2 exited with status %d: %.200s", status, out ? out : "");
        char *nl = strchr(why, '\n');
        if (nl) *nl = 0;
        free(out);
        return -1;
    }
    free(out);
    p->compute.min_ms = v[0], p->wait.min_ms = v[1], p->exchange.min_ms = v[2];
    p->update.min_ms = v[3], p->step = (bench_stats){v[4], v[5]}, p->floats = (size_t)v[6];
    return 0;
}

int bench_ranks(const bench_opts *o) {
    const nsr_train_comm *comm = o->comm && o->comm->size ? o->comm : NULL;
    const nsr_arch *a = bench_net_arch(o);
    char name[96], extra[1024], mine[480], theirs[480];
    step_parts own;
    memset(&own, 0, sizeof own);
    if (time_steps(o, comm, &own)) return 1;
    if (comm) {
        /* under mpirun: this rank count alone, reported by rank 0 */
        if (comm->rank) return 0;
        snprintf(name, sizeof name, "step B%d F%d k%d d%d, %d ranks", a->blocks, a->features,
                 a->groups, a->cardinals, comm->size);
        bench_heading(o, "ranks: the data-parallel training step (mpirun)");
        parts_json(extra, sizeof extra, "", comm->size, o->threads, &own);
        bench_report(o, &(bench_result){
            .bench = "ranks", .name = name, .unit = "ms", .nsr = own.step,
            .reference = "1 rank", .unavailable = "measured by nsr bench ranks without mpirun",
            .extra = extra});
        return 0;
    }
    bench_heading(o, "ranks: the data-parallel training step, 1 rank against 2 (mpirun)");
    step_parts two;
    memset(&two, 0, sizeof two);
    int two_threads = 0;
    char why[300];
    const int have_two = !two_ranks(o, &two, &two_threads, why, sizeof why);
    snprintf(name, sizeof name, "step B%d F%d k%d d%d, %s", a->blocks, a->features, a->groups,
             a->cardinals, have_two ? "2 ranks" : "1 rank (2: unavailable)");
    parts_json(mine, sizeof mine, "one_", 1, o->threads, &own);
    if (have_two) parts_json(theirs, sizeof theirs, "", 2, two_threads, &two);
    snprintf(extra, sizeof extra, "%s%s%s", have_two ? theirs : "", have_two ? ", " : "", mine);
    bench_report(o, &(bench_result){
        .bench = "ranks", .name = name, .unit = "ms", .nsr = have_two ? two.step : own.step,
        .reference = "1 rank (all threads)", .ref = own.step,
        .unavailable = have_two ? NULL : why, .extra = extra,
        .note = "ratio above 1: 2 ranks are faster; the parts are min times (ms)"});
    return 0;
}
