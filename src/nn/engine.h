/* engine.h - the NSR engine inside libnsr (private): layers as forward/backward pairs, the model
 * with its parameter block, the training workspace, and the optimiser.
 *
 * Conventions (llm.c style):
 *  - Tensors are float * in NCHW order; each function states its shapes in a comment.
 *  - A forward function writes its output (=). A backward function ADDS (+=) into every gradient
 *    it produces, parameter and input gradients alike; callers zero them once per step. An input
 *    gradient pointer may be NULL when nobody needs it.
 *  - Forward passes never fail: sizes are checked and memory is allocated before they run. */
#ifndef NSR_ENGINE_H
#define NSR_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "nsr.h"
#include "kernels/kernels.h"
#include "nn/tensor.h"

/* ---------------------------------------------------------------- layers.c */

/* Weight normalisation, per output channel: W[o] = g[o] V[o] / ||V[o]||.
 * v, w (rows, cols); g (rows). */
void nn_weightnorm_forward(float *w, const float *v, const float *g, int rows, int cols);
/* dv (rows, cols) += ..., dg (rows) += ..., from dw (rows, cols). */
void nn_weightnorm_backward(float *dv, float *dg, const float *dw, const float *v,
                            const float *g, int rows, int cols);

/* out = max(inp, 0), n elements; out may equal inp. */
void nn_relu_forward(float *out, const float *inp, size_t n);
/* dinp += dout where out > 0 (out is the forward's output). */
void nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n);

/* out = inp + c, n elements (the mean shift: c = -0.5 on the way in, +0.5 on the way out; its
 * backward is the identity, so it has no backward function). out may equal inp. */
void nn_add_scalar(float *out, const float *inp, float c, size_t n);
/* x = 0, n elements (the gradient buffers, once per step; threaded, unlike memset). */
void nn_zero(float *x, size_t n);
/* out += inp, n elements (residual connections; the backward of a sum copies the gradient to
 * both addends, which the callers do by sharing the gradient buffer). */
void nn_add_inplace(float *out, const float *inp, size_t n);

/* Pixel shuffle with PyTorch's channel order: inp (N, C*s*s, H, W) -> out (N, C, H*s, W*s),
 * channel c*s*s + i*s + j going to pixel (i, j) of each s x s cell of colour c. */
void nn_pixel_shuffle_forward(float *out, const float *inp, int N, int C, int H, int W, int s);
/* dinp (N, C*s*s, H, W) += the inverse permutation of dout (N, C, H*s, W*s). */
void nn_pixel_shuffle_backward(float *dinp, const float *dout, int N, int C, int H, int W, int s);

/* L1 loss, torch.nn.L1Loss with reduction 'mean': mean over n of |pred - target|. */
double nn_l1_forward(const float *pred, const float *target, size_t n);
/* dpred += dloss * sign(pred - target) / n, with sign(0) = 0 as in PyTorch. */
void nn_l1_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);

/* ---------------------------------------------------------------- nsr_conv.c */

/* Largest k*d a selection may have (the backward keeps one sample's logit gradients on the
 * stack). */
#define NN_MAX_SELECT 1024

/* Dimensions of one NSR convolution (NSR.md section 2): k groups of cout stored output channels
 * each (k*cout in all), d cardinals; cout % d == 0. */
typedef struct nn_nsr_dims {
    int n, cin, cout, h, w, ksize; /* batch, channels, spatial size, kernel size */
    int groups, cards;             /* k, d */
} nn_nsr_dims;

/* How a selection turns its logits z into gamma (NSR.md section 2, step 3, and ours beyond it).
 * The reference is the softmax over the groups with T = 1, soft (opts NULL means that). A
 * temperature T sharpens it, softmax(z / T); hard takes the one-hot argmax instead (the
 * forward of hard inference, and of straight-through training, whose backward differentiates
 * the softmax in its place); gumbel > 0 adds gumbel * Gumbel(0, 1) noise to every logit
 * first, logit r of sample n drawn as nsr_rng_uniform(seed, stream, (sample0 + n)*k*d + r), so that the
 * hard argmax samples the softmax (training only). */
typedef struct nn_select_opts {
    float temperature; /* T > 0 */
    int hard;
    float balance;     /* training: the load-balancing term's weight, shared out over the
                        * model's selections (eng_loss_and_grad); 0: none */
    float gumbel;
    uint64_t seed, stream;
    uint64_t sample0; /* the noise of sample n is that of sample sample0 + n (a batch's part) */
} nn_select_opts;

/* Selection (steps 1-3): pooled (n, cin) = spatial mean of inp (n, cin, h, w);
 * logits = A pooled + a, A (k*d, cin), a (k*d); gamma (n, k*d), index i*d + j, per so (NULL:
 * the reference's softmax). soft (n, k*d), when not NULL, receives the softmax weights the
 * backward differentiates (equal to gamma unless so->hard). pooled and soft are kept for the
 * backward. */
void nn_select_forward(float *gamma, float *soft, float *pooled, const float *inp, const float *A,
                       const float *a, const nn_nsr_dims *dm, const nn_select_opts *so);
/* From dgamma (n, k*d): dinp (n, cin, h, w) += the path through the mean, then, with a gate
 * (NULL: none) of dinp's shape, dinp = gate > 0 ? dinp : 0 (the backward of the ReLU whose
 * output the gate is, in the same pass); dA, da += ..., all through the softmax soft of
 * temperature T (for a hard forward: straight through). */
void nn_select_backward(float *dinp, float *dA, float *da, const float *dgamma, const float *soft,
                        const float *pooled, const float *A, const nn_nsr_dims *dm,
                        float temperature, const float *gate);
/* The load-balancing term of a batch's selection soft (n, k*d) (nsr_conv.c says why):
 * weight * (k/d) * sum over groups and cardinals of the squared mean weight over the samples.
 * The backward adds its gradient to dsoft, which nn_select_backward then takes through the
 * softmax (straight through for a hard forward, like the rest of dgamma). */
double nn_select_balance_forward(const float *soft, const nn_nsr_dims *dm, float weight);
void nn_select_balance_backward(float *dsoft, const float *soft, const nn_nsr_dims *dm, float weight);

/* Mixing (step 4): for output channel o = j*(cout/d) + t,
 *   wmix[n][o] = sum_i gamma[n][i*d+j] w[i*cout+o],  bmix[n][o] = sum_i gamma[n][i*d+j] b[i*cout+o]
 * w (k*cout, cin, K, K) are the weight-normed stored kernels, b (k*cout);
 * wmix (n, cout, cin, K, K), bmix (n, cout); either may be NULL (then b may be too). Groups with
 * gamma exactly 0 (hard selection) are skipped, so only the chosen group's kernel is read.
 * (The kernel layer's nn_kernel_mix_forward, with gamma as the coefficients.) */
void nn_mix_forward(float *wmix, float *bmix, const float *w, const float *b, const float *gamma,
                    const nn_nsr_dims *dm);
/* dw (k*cout, cin, K, K), db (k*cout), dgamma (n, k*d) += ... from dwmix, dbmix. */
void nn_mix_backward(float *dw, float *db, float *dgamma, const float *dwmix, const float *dbmix,
                     const float *w, const float *b, const float *gamma, const nn_nsr_dims *dm);

/* Scratch of one NSR convolution: wmix (n, cout, cin, K, K), bmix (n, cout), and in the
 * backward dwmix, dbmix of the same sizes. */
typedef struct nn_mix_scratch {
    float *wmix, *bmix, *dwmix, *dbmix;
} nn_mix_scratch;

/* The NSR convolution given its selection (steps 4-5):
 *   out (n, cout, h, w) = conv2d(inp (n, cin, h, w), wmix[n], bmix[n]), then post (or NULL) */
void nn_mixconv_forward(float *out, const float *inp, const float *w, const float *b,
                        const float *gamma, const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                        const nn_conv_post *post);
/* Selection and the NSR convolution together: nn_select_forward then nn_mixconv_forward,
 * with each sample selected where the fast convolution runs it, if it takes the selection
 * (whole samples per thread), so that the input is read for its means just before it is
 * convolved. The same results as the two calls. */
void nn_nsr_conv_forward(float *out, float *gamma, float *soft, float *pooled, const float *inp,
                         const float *A, const float *a, const float *w, const float *b,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                         const nn_select_opts *so, const nn_conv_post *post);
/* dinp (may be NULL), dw, db, dgamma += ..., then dinp_post (NULL: nothing) applied to dinp;
 * recomputes the mixed kernels into sc. */
void nn_mixconv_backward(float *dinp, float *dw, float *db, float *dgamma, const float *dout,
                         const float *inp, const float *w, const float *b, const float *gamma,
                         const nn_nsr_dims *dm, const nn_mix_scratch *sc,
                         const nn_conv_post *dinp_post);

/* The fixed-size regime (NSR.md section 7; include/nsr.h NSR_REGIME_FIXED_SIZE): a block's
 * hidden layer of k*c channels is k groups of c = dm->cout channels, and one selection gamma
 * (n, k*d) per block weights them. Channel i*c + o, o = j*(c/d) + t, has group i, cardinal j:
 *   out[n][i*c + o] = gamma[n][i*d + j] inp[n][i*c + o],   inp, out (n, k*c, h, w) */
void nn_group_scale_forward(float *out, const float *inp, const float *gamma, const nn_nsr_dims *dm);
/* dinp += gamma dout; dgamma (n, k*d) += the sum over group i's channels of cardinal j and
 * their pixels of dout * inp. */
void nn_group_scale_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                             const float *gamma, const nn_nsr_dims *dm);
/* Hard selection's kernels for the conv that reads that hidden layer: w (cout, k*c, K, K)
 * keeps, per sample and per channel o of cardinal j, the input channel of the group gamma
 * chooses (its argmax for j): wsel (n, cout, c, K, K). The conv then reads only the c hidden
 * channels the block computed. */
void nn_group_gather_inputs(float *wsel, const float *w, const float *gamma, const nn_nsr_dims *dm,
                            int cout, int ksize);

/* ---------------------------------------------------------------- model.c */

/* One weight-normed convolution of the network: a plain one (groups == 1) or an NSR one. */
typedef struct eng_conv {
    int cin, cout, ksize; /* cout: output channels after mixing; k*cout are stored */
    int groups, cards;    /* k, d (groups == 1: plain conv, no selection) */
    int side;             /* 1: has its own side layer A, a; 0 with groups > 1: borrows the
                           * selection of the block's first conv (shared selection) */
    int scales;           /* fixed-size regime: a block's first conv computes all k*cout
                           * stored channels, which its selection weights (no mixing) */
    size_t v, g, b, A, a; /* offsets of its tensors in the parameter block (A, a: with side) */
} eng_conv;

/* Index of each conv in nsr_model.conv: the head, then block b's two convs, tail, skip. */
#define ENG_HEAD 0
#define ENG_BLOCK_CONV(b, c) (1 + 2 * (b) + (c))
#define ENG_TAIL(B) (1 + 2 * (B))
#define ENG_SKIP(B) (2 + 2 * (B)) /* only when scale > 1 */

struct nsr_model {
    nsr_arch arch;
    int nconv;
    eng_conv *conv;
    int ntensor;
    eng_tensor *tensor;
    size_t nparams;
    float *params; /* one block of nparams floats */
    /* the softmax temperature its soft selection was trained to (1: the reference's), and
     * whether its training ended with hard selection (so that hard inference keeps its
     * quality); the loader reads both from the model file's metadata (select.*) */
    float select_temperature;
    int trained_hard;
};

/* A model of this architecture with its parameter block not yet written (nsr_model_create
 * draws it; a loader copies every tensor into it, and drawing it first would be wasted). */
int eng_model_alloc(nsr_model **model, const nsr_arch *arch, nsr_error *err);
/* Every parameter tensor, in a fixed order (the order of nsr_arch_param_count's sum). */
int eng_model_num_tensors(const nsr_model *model);
const eng_tensor *eng_model_tensor(const nsr_model *model, int i);
/* The tensor with this name, or NULL. */
const eng_tensor *eng_model_find_tensor(const nsr_model *model, const char *name);

/* Activations of one forward (and, for training, the buffers of the backward) for a batch of n
 * LR inputs of h x w. An inference workspace (train = 0) belongs to one model whose parameters
 * do not change while it lives: its first forward weight-normalises the kernels for all the
 * others (tiled inference runs many batches through one). */
typedef struct eng_workspace {
    int n, h, w;
    int train;       /* 1: keeps every activation and has the backward's buffers */
    /* how every selection of the next forward is made: the model's temperature, soft, no noise
     * when created; a trainer sets it per step (its stream then numbers the step: conv ci draws
     * its noise from stream * nconv + ci). The forward's hard argument adds hard selection. */
    nn_select_opts select;
    double balance_loss; /* the last backward's load-balancing term (select.balance > 0) */
    size_t feat_sz;  /* n*F*h*w */
    size_t hid_sz;   /* n*F*wm*h*w */
    size_t gamma_sz; /* n*k*d */
    size_t pool_sz;  /* n*F*wm, the widest NSR conv input */
    float *mem;      /* the one allocation every buffer below points into */
    float *x0;       /* (n, C, h, w): input - 0.5; C the image planes, 3 or 1 */
    float *feat;     /* block inputs, (n, F, h, w) each: B+1 when training, else 2 in turn */
    float *hidden;   /* block hidden activations after ReLU, (n, F*wm, h, w): B or 1; with hard
                      * selection in the fixed-size regime, (n, F*wm/k, h, w) */
    float *scaled;   /* fixed-size regime: hidden weighted by the block's selection, likewise */
    float *gamma;    /* selections (n, k*d), one slot per conv */
    float *soft;     /* their softmax weights for the backward (train only), likewise */
    float *pooled;   /* spatial means (n, <= F*wm), one slot per conv */
    float *wn;       /* weight-normed kernels, at the same offsets as the parameters' v */
    int wn_ready;    /* inference: wn computed (once, by the first forward); training
                      * recomputes it every forward, as the parameters change */
    float *skip;     /* (n, Cs^2, h, w) skip branch (scale > 1) */
    float *body;     /* (n, Cs^2, h, w) tail + skip */
    float *out;      /* (n, C, h*s, w*s) the network's output */
    nn_mix_scratch mix;
    /* backward only */
    float *dfeat, *dhidden, *dmid; /* (n, F, h, w), (n, F*wm, h, w) twice */
    float *dwn;                    /* gradient of wn, same layout */
    float *dgamma;                 /* (n, k*d) */
    float *dbody;                  /* (n, Cs^2, h, w) */
} eng_workspace;

int eng_workspace_create(eng_workspace *ws, const nsr_model *model, int n, int h, int w,
                         int train, nsr_error *err);
/* The floats eng_workspace_create would allocate (SIZE_MAX when that overflows): what a tiler
 * weighs its tile size by. */
size_t eng_workspace_floats(const nsr_model *model, int n, int h, int w, int train);
void eng_workspace_free(eng_workspace *ws);

/* Forward of the whole network (NSR.md section 3) on x (n, C, h, w) in 0..1; the output is
 * ws->out (n, C, h*s, w*s). hard: hard selection (inference only). */
void eng_forward(const nsr_model *model, eng_workspace *ws, const float *x, int hard);
/* The first part of eng_forward, without the skip branch: ws->body (n, Cs^2, h, w) =
 * tail(blocks(head(x - 0.5))), ws->x0 = x - 0.5. The reference's tiling (src/run/tiling.c)
 * runs this on tiles and eng_forward_finish on bands of the whole image. */
void eng_forward_body(const nsr_model *model, eng_workspace *ws, const float *x, int hard);
/* The rest of eng_forward, given the body: body (n, Cs^2, h, w) += the skip branch of x0
 * (n, C, h, w) = input - 0.5 (its 5x5 conv with the weight-normed kernels wn, computed into
 * skip, body's size, when s > 1; x0 itself when s = 1, and skip is not used), then
 * out (n, C, h s, w s) = pixel shuffle(body) + 0.5. */
void eng_forward_finish(const nsr_model *model, const float *wn, const float *x0, float *skip,
                        float *body, float *out, int n, int h, int w);
/* The selection gamma (ws->n, k*d) conv ci (an NSR conv) used in the last forward: its own,
 * or with shared selection the block's first conv's (the same buffer the forward mixed by). */
const float *eng_conv_selection(const nsr_model *model, const eng_workspace *ws, int ci);
/* wn (nparams, laid out like the parameters) = every conv's weight-normed kernels. */
void eng_weightnorm(const nsr_model *model, float *wn);
/* How far an output pixel's inputs reach (in LR pixels, each way) through the convolutions:
 * the sum of the body's kernel radii, or the skip branch's when larger. The NSR selection's
 * spatial mean reaches the whole sample, which no radius covers. */
int eng_receptive_radius(const nsr_model *model);
/* Backward of the last forward (soft selection, train workspace) from dout (n, C, h*s, w*s):
 * grads (nparams, laid out like the parameters) += d/dparams. */
void eng_backward(const nsr_model *model, eng_workspace *ws, const float *dout, float *grads);
/* One training evaluation: zeroes grads, runs forward, the L1 loss against target
 * (n, C, h*s, w*s) and backward; returns the loss: the L1 loss, plus with ws->select.balance > 0
 * the load-balancing term of every selection, select.balance / the selections' count each (so
 * that the weight means the same for any depth). dout is scratch of the output's size. */
double eng_loss_and_grad(const nsr_model *model, eng_workspace *ws, const float *x,
                         const float *target, float *dout, float *grads);

/* ---------------------------------------------------------------- optim.c */

/* Adam, PyTorch's formulation (torch.optim.Adam, no weight decay, no amsgrad):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
typedef struct nn_adam {
    size_t n;
    float *m, *v; /* moments, laid out like the parameters */
    long t;       /* steps taken */
    double beta1, beta2, eps;
} nn_adam;

int nn_adam_init(nn_adam *opt, size_t n, nsr_error *err); /* betas 0.9/0.999, eps 1e-8 */
void nn_adam_free(nn_adam *opt);
void nn_adam_step(nn_adam *opt, float *params, const float *grads, float lr);

/* Multi-step schedule (torch.optim.lr_scheduler.MultiStepLR): base_lr times factor to the power
 * of the number of milestones <= step (sorted ascending). NSR.md: factor 0.2. */
float nn_lr_multistep(float base_lr, long step, const long *milestones, int count, float factor);

#endif
