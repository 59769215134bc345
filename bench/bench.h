/* bench.h - what the benchmarks of `nsr bench` share: options, timing, reporting, children,
 * and the references nsr is measured against (oneDNN, the FMA peak, PyTorch through
 * scripts/bench_torch.py).
 *
 * Every comparison is made in one run: nsr and its reference are timed in the same process (or,
 * for PyTorch, in a child started by the same run), round after round, so that both see the same
 * background load. A ratio is always reference / nsr: above 1, nsr is faster (or smaller). */
#ifndef NSR_BENCH_H
#define NSR_BENCH_H

#include <stddef.h>
#include <sys/resource.h>

#include "nn/bench_api.h"
#include "nsr.h"

typedef struct bench_opts {
    int json;         /* one JSON object per line instead of a table */
    int quick;        /* tiny sizes, one repetition: a smoke test, not a measurement */
    int reps;         /* timed rounds per case */
    int threads;      /* threads nsr (and its references) run on */
    int no_reference; /* skip oneDNN and PyTorch (reported as unavailable) */
    const nsr_train_comm *comm; /* the ranks when started by mpirun (size 0 or NULL: alone) */
} bench_opts;

/* ---------------------------------------------------------------- timing (report.c) */

typedef struct bench_stats {
    double min_ms, median_ms; /* (MiB in the memory row) */
} bench_stats;

/* A piece of work to time: run(ctx) does it once. */
typedef struct bench_case {
    void (*run)(void *ctx);
    void *ctx;
    bench_stats stats; /* filled by bench_time */
} bench_case;

/* Runs every case once untimed (first touch of memory, oneDNN's code generation), then reps
 * rounds that time every case once in turn, so that a burst of background load hits all cases
 * alike rather than one of them; fills each case's min and median. */
void bench_time(bench_case *cases, int ncases, int reps);

/* Milliseconds on a monotonic clock. */
double bench_now_ms(void);

/* ---------------------------------------------------------------- results (report.c) */

/* One measurement: nsr against one reference. */
typedef struct bench_result {
    const char *bench;     /* "conv", "rebuttal", "model", "scaling" */
    const char *name;      /* the case */
    const char *unit;      /* "ms" (times) or "mib" (peak resident memory, MiB) */
    bench_stats nsr;
    const char *reference; /* what nsr is compared with */
    bench_stats ref;       /* ignored when unavailable is set */
    const char *unavailable; /* why the reference could not be measured, or NULL */
    double gflop;          /* direct-convolution work of one run, 0 where it does not apply */
    double ref_gflop;      /* the reference's, when it does other work than nsr (else 0) */
    double target;         /* the ratio to reach, 0 where there is none */
    const char *extra;     /* more JSON members, already formatted ("\"max_abs_diff\": 1e-06"),
                            * or NULL; shown as they are in the table's notes */
    const char *note;      /* a sentence for the reader, or NULL */
} bench_result;

/* Prints the table's heading (text mode only); once per benchmark. */
void bench_heading(const bench_opts *o, const char *title);
/* Prints one result: a JSON object on one line, or a table row. */
void bench_report(const bench_opts *o, const bench_result *r);

/* ---------------------------------------------------------------- helpers (report.c) */

/* Prints "nsr bench: <message>" as one line on stderr, as every nsr command does; returns 1. */
int bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fills n floats uniform in [-scale, scale) from a fixed seed (a counter-based generator, so
 * the data do not depend on the thread count). */
void bench_fill(float *x, size_t n, float scale, unsigned long long seed);
/* malloc that reports and returns NULL on failure; the memory is zeroed. */
float *bench_alloc(size_t n);
/* Largest |a[i] - b[i]|. */
double bench_max_abs_diff(const float *a, const float *b, size_t n);
/* 2 * N*H*W * cout * cin * K*K / 1e9: the multiply-adds of a direct convolution. */
double bench_conv_gflop(int N, int cin, int cout, int H, int W, int K);

/* A temporary folder (mkdtemp under $TMPDIR or /tmp) into buf; 0 on success. bench_rmdir
 * removes it with the files bench put there (a flat folder). */
int bench_tmpdir(char *buf, size_t size);
void bench_rmdir(const char *dir);

/* This program's path (/proc/self/exe) into buf; 0 on success. */
int bench_self_exe(char *buf, size_t size);

/* Runs argv[0] (searched in PATH when it has no '/') with argv, collecting its standard output
 * (and its standard error too when merge_stderr) into *out, a malloc'd NUL-terminated string
 * the caller frees. Fills *ru with the child's own resource usage (wait4). Returns the exit
 * status, 128 + the signal when killed, 127 when argv[0] could not be run, or -1 when no pipe
 * could be made (*out then holds why). The child is started by posix_spawn, which leaves the
 * caller's memory as it is (a fork would make every page copy-on-write until the exec). */
int bench_spawn(char *const argv[], int merge_stderr, char **out, struct rusage *ru);

/* ---------------------------------------------------------------- references */

/* The FMA peak (peak.c) as a timed case: independent chains of 256-bit FMAs (512-bit where the
 * kernels use them) on every thread of an OpenMP team of `threads`, about gflop GFLOP in all (2
 * per lane and FMA), so that its time is what that much work takes at the machine's peak. init
 * fails (-1) when the CPU has no AVX2+FMA. */
typedef struct bench_fma {
    long iters;   /* loop rounds per thread */
    int threads;
    int wide;     /* 512-bit FMAs */
    double gflop; /* the work exactly */
    float sink;   /* the chains' sum: stored, so that the work cannot be left out */
} bench_fma;
int bench_fma_init(bench_fma *f, double gflop, int threads);
void bench_fma_run(void *fma);

/* oneDNN convolution (onednn.c): K x K, stride 1, zero padding K/2, with bias; src, weights and
 * dst in the layouts oneDNN chooses (format_tag any). Creation reorders the NCHW input and the
 * OIHW weights into those layouts once; bench_onednn_run executes the convolution only. */
typedef struct bench_onednn bench_onednn;
/* NULL with *why set when oneDNN is not built in or refuses. */
bench_onednn *bench_onednn_create(const float *inp, const float *w, const float *b, int N,
                                  int cin, int cout, int H, int W, int K, const char **why);
void bench_onednn_run(void *ctx);
/* The last run's output, reordered to NCHW, into out. */
void bench_onednn_output(bench_onednn *c, float *out);
/* "oneDNN 2.6.3 (jit:avx2)": version and the implementation it chose. */
const char *bench_onednn_name(const bench_onednn *c);
void bench_onednn_free(bench_onednn *c);

/* ---------------------------------------------------------------- the network (model.c) */

/* The benchmark network with its inference input and a training batch: EDSR+NSR x2 as published
 * (B16 F64 wm1 k4 d16, reference init from seed 1) on a 256x256 test picture and a batch of 16
 * LR patches of 48x48 (--quick: B1 F8 wm1 k2 d2, 192x192, which still tiles, and 2 of 16x16). */
typedef struct bench_net {
    nsr_model *model;
    nsr_image image;            /* the inference input (the built-in test picture) */
    nsr_infer_options infer;    /* soft selection, the reference's tiles */
    int batch, patch;           /* the training batch: batch LR patches of patch x patch */
    float *x, *target;          /* its inputs and targets */
    eng_trainer *trainer;
    double loss;                /* the last training step's loss */
} bench_net;

/* Its architecture (the model is drawn from seed 1). */
const nsr_arch *bench_net_arch(const bench_opts *o);
int bench_net_create(bench_net *net, const bench_opts *o);
/* The same network with a training batch of this rank's share: patches rank * batch / ranks on
 * (ranks dividing the batch); bench_net_create is rank 0 of 1. */
int bench_net_create_shard(bench_net *net, const bench_opts *o, int rank, int ranks);
void bench_net_free(bench_net *net);
/* One tiled inference of the image (output made and freed). */
void bench_net_infer(void *net);
/* One training step: forward, L1 loss, backward, Adam (lr 1e-3). */
void bench_net_train(void *net);

/* PyTorch as a child (model.c): runs scripts/bench_torch.py ($NSR_BENCH_SCRIPT, else beside the
 * build folder, else under the current folder) with the Python of $NSR_BENCH_PYTHON (else
 * /usr/bin/python3), as `--model M --data D --threads T --reps R` and the NULL-terminated extra
 * arguments (NULL: none). Every line it prints goes to on_line(ctx, line), but for two it reads
 * itself: "version V" (into version) and "unavailable WHY" (into why). why also says when the
 * script is missing or failed; it stays empty when the script ran. */
void bench_torch_run(const bench_opts *o, const char *model_path, const char *data_path,
                     const char *const *extra, void (*on_line)(void *ctx, const char *line),
                     void *ctx, char *version, size_t version_size, char *why, size_t why_size);

/* ---------------------------------------------------------------- nsr's conv as a case (conv.c) */

/* eng_bench_conv3x3: out (n, cout, h, width) = conv(inp, w) + b. */
typedef struct bench_conv_job {
    float *out;
    const float *inp, *w, *b;
    int n, cin, cout, h, width;
} bench_conv_job;
void bench_conv_run(void *job);

/* ---------------------------------------------------------------- benchmarks */

int bench_conv(const bench_opts *o);     /* conv.c */
int bench_rebuttal(const bench_opts *o); /* conv.c; ends with bench_fixed_size */
/* The fixed-size network under hard selection against the plain network (fixed_size.c). */
int bench_fixed_size(const bench_opts *o);
int bench_model(const bench_opts *o);    /* model.c */
int bench_scaling(const bench_opts *o);  /* scaling.c */
int bench_ranks(const bench_opts *o);    /* ranks.c */
int bench_upscale(const bench_opts *o);  /* upscale.c */

#endif
