/* model.c - the NSR network of NSR.md section 3 (WDSR-style): its parameter block and tensor
 * table, the reference initialisation, the forward (training and inference) and the backward.
 *
 *   x -> -0.5 -> head conv3x3 (3 -> F) -> B x [NSR conv3x3 (F -> F*wm), ReLU,
 *        NSR conv3x3 (F*wm -> F), + identity] -> tail conv3x3 (F -> 3s^2)
 *     + skip conv5x5 (3 -> 3s^2) of x - 0.5 (the identity when s = 1)
 *     -> pixel shuffle s -> +0.5
 *
 * Every conv is weight-normed; only the 2B block convs are NSR convs (when k > 1).
 *
 * Shared selection: each block has one side layer, owned by its first conv and computed from
 * that conv's input, the block input. The second conv has no side layer and uses the same
 * gamma table (k x d) with its own output channels: output channel o = j*(F/d) + t of the
 * second conv mixes its k stored groups with gamma[i][j], exactly as if the table had been
 * computed by a side layer of its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "nn/engine.h"

/* ---------------------------------------------------------------- architecture and layout */

/* Appends one tensor to the table (when there is one) and returns the new total size. */
static size_t add_tensor(eng_tensor *table, int *count, size_t total, const char *name, int ndim,
                         int d0, int d1, int d2, int d3, size_t *offset) {
    const int dims[ENG_MAX_DIMS] = {d0, d1, d2, d3};
    size_t size = 1;
    for (int i = 0; i < ndim; i++) size *= (size_t)dims[i];
    if (table) {
        eng_tensor *t = &table[*count];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = ndim;
        for (int i = 0; i < ENG_MAX_DIMS; i++) t->shape[i] = i < ndim ? dims[i] : 1;
        t->offset = total;
        t->size = size;
    }
    if (offset) *offset = total;
    (*count)++;
    return total + size;
}

/* Lays out one conv's tensors (v, g, b, then A, a with a side layer) under the prefix. */
static size_t add_conv(eng_conv *c, eng_tensor *table, int *count, size_t total, const char *prefix) {
    char name[ENG_NAME_MAX];
    const int stored = c->groups * c->cout;
    snprintf(name, sizeof name, "%s.v", prefix);
    total = add_tensor(table, count, total, name, 4, stored, c->cin, c->ksize, c->ksize, &c->v);
    snprintf(name, sizeof name, "%s.g", prefix);
    total = add_tensor(table, count, total, name, 1, stored, 1, 1, 1, &c->g);
    snprintf(name, sizeof name, "%s.b", prefix);
    total = add_tensor(table, count, total, name, 1, stored, 1, 1, 1, &c->b);
    if (c->side) {
        const int kd = c->groups * c->cards;
        snprintf(name, sizeof name, "%s.A", prefix);
        total = add_tensor(table, count, total, name, 2, kd, c->cin, 1, 1, &c->A);
        snprintf(name, sizeof name, "%s.a", prefix);
        total = add_tensor(table, count, total, name, 1, kd, 1, 1, 1, &c->a);
    }
    return total;
}

static int arch_nconv(const nsr_arch *a) { return 2 * a->blocks + (a->scale > 1 ? 3 : 2); }

/* Fills the conv descriptors (array of arch_nconv entries) and, when table is non-NULL, the
 * tensor table; returns the parameter count and sets *ntensor. a must be valid. */
/* The image planes of a network: 3 unless it says 1 (0 came before the field: RGB). */
static int arch_channels(const nsr_arch *a) { return a->channels == 1 ? 1 : 3; }

static size_t build_layout(const nsr_arch *a, eng_conv *conv, eng_tensor *table, int *ntensor) {
    const int F = a->features, hid = F * a->width_mult, s2 = a->scale * a->scale;
    const int C = arch_channels(a);
    const int nsr = a->groups > 1, d = nsr ? a->cardinals : 1;
    size_t total = 0;
    char prefix[ENG_NAME_MAX];
    *ntensor = 0;
    conv[ENG_HEAD] = (eng_conv){.cin = C, .cout = F, .ksize = 3, .groups = 1, .cards = 1};
    total = add_conv(&conv[ENG_HEAD], table, ntensor, total, "head");
    const int fixed_size = nsr && a->regime == NSR_REGIME_FIXED_SIZE;
    for (int b = 0; b < a->blocks; b++) {
        for (int c = 0; c < 2; c++) {
            eng_conv *e = &conv[ENG_BLOCK_CONV(b, c)];
            if (fixed_size) /* conv1: k groups of hid/k channels, weighted; conv2: plain */
                *e = c ? (eng_conv){.cin = hid, .cout = F, .ksize = 3, .groups = 1, .cards = 1}
                       : (eng_conv){.cin = F, .cout = hid / a->groups, .ksize = 3,
                                    .groups = a->groups, .cards = d, .side = 1, .scales = 1};
            else
                *e = (eng_conv){.cin = c ? hid : F, .cout = c ? F : hid, .ksize = 3,
                                .groups = a->groups, .cards = d,
                                .side = nsr && (c == 0 || !a->shared_selection)};
            snprintf(prefix, sizeof prefix, "blocks.%d.conv%d", b, c + 1);
            total = add_conv(e, table, ntensor, total, prefix);
        }
    }
    conv[ENG_TAIL(a->blocks)] = (eng_conv){.cin = F, .cout = C * s2, .ksize = 3, .groups = 1, .cards = 1};
    total = add_conv(&conv[ENG_TAIL(a->blocks)], table, ntensor, total, "tail");
    if (a->scale > 1) {
        conv[ENG_SKIP(a->blocks)] = (eng_conv){.cin = C, .cout = C * s2, .ksize = 5, .groups = 1, .cards = 1};
        total = add_conv(&conv[ENG_SKIP(a->blocks)], table, ntensor, total, "skip");
    }
    return total;
}

/* Counted without building anything, so that absurd architectures are refused before any
 * allocation: g, V and bias of every conv and the side layers. */
size_t nsr_arch_param_count(const nsr_arch *a) {
    const size_t F = (size_t)a->features, hid = F * (size_t)a->width_mult;
    const size_t s2 = (size_t)a->scale * (size_t)a->scale, k = (size_t)a->groups;
    const size_t kd = a->groups > 1 ? k * (size_t)a->cardinals : 0;
    const int fixed_size = a->groups > 1 && a->regime == NSR_REGIME_FIXED_SIZE;
    const size_t sides = a->groups > 1 ? (a->shared_selection || fixed_size ? 1 : 2) : 0;
    /* fixed size: the plain block's convs (k groups of hid/k channels) */
    const size_t kc = fixed_size ? 1 : k;
    const size_t conv1 = kc * hid * (F * 9 + 2), conv2 = kc * F * (hid * 9 + 2);
    const size_t side = kd * (F + 1) + (sides == 2 ? kd * (hid + 1) : 0);
    const size_t C = (size_t)arch_channels(a);
    size_t total = F * (C * 9 + 2) + C * s2 * (F * 9 + 2);
    if (a->scale > 1) total += C * s2 * (C * 25 + 2);
    return total + (size_t)a->blocks * (conv1 + conv2 + side);
}

/* ---------------------------------------------------------------- model */

/* Fills n values uniform in (-bound, bound), drawn from the project's counter-based generator
 * (src/base/rng.c); stream is the tensor's offset in the parameter block, so every tensor has its own
 * stream and a model is a pure function of (architecture, seed). */
static void fill_uniform(float *x, size_t n, float bound, uint64_t seed, size_t stream) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((2.0 * nsr_rng_uniform(seed, stream, i) - 1.0) * bound);
}

static void fill_const(float *x, size_t n, float value) {
    for (size_t i = 0; i < n; i++) x[i] = value;
}

/* NSR.md section 3's reference init. V: PyTorch's conv default, kaiming-uniform with
 * a = sqrt(5), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = c_in*K*K. Biases 0.
 * g: the given constant in every one of the k*c_out entries (the reference overwrites the
 * whole weight_g tensor with it, so every stored kernel starts with norm g): 1 for head, tail
 * and skip, 2 for a block's first conv, 1/sqrt(B) for its second. Side layer: PyTorch's Linear
 * default, U(-1/sqrt(c_in), 1/sqrt(c_in)) for both A and a. */
static void init_params(nsr_model *m, uint64_t seed) {
    const int B = m->arch.blocks;
    for (int ci = 0; ci < m->nconv; ci++) {
        const eng_conv *c = &m->conv[ci];
        const size_t stored = (size_t)c->groups * c->cout;
        const size_t fan_in = (size_t)c->cin * c->ksize * c->ksize;
        float g = 1.0f;
        if (ci >= ENG_BLOCK_CONV(0, 0) && ci < ENG_TAIL(B))
            g = (ci - ENG_BLOCK_CONV(0, 0)) % 2 == 0 ? 2.0f : (float)(1.0 / sqrt((double)B));
        fill_uniform(m->params + c->v, stored * fan_in, (float)(1.0 / sqrt((double)fan_in)), seed, c->v);
        fill_const(m->params + c->g, stored, g);
        fill_const(m->params + c->b, stored, 0.0f);
        if (c->side) {
            const size_t kd = (size_t)c->groups * c->cards;
            const float bound = (float)(1.0 / sqrt((double)c->cin));
            fill_uniform(m->params + c->A, kd * c->cin, bound, seed, c->A);
            fill_uniform(m->params + c->a, kd, bound, seed, c->a);
        }
    }
}

int eng_model_alloc(nsr_model **model, const nsr_arch *arch, nsr_error *err) {
    *model = NULL;
    if (nsr_arch_check(arch, err)) return -1;
    nsr_model *m = calloc(1, sizeof *m);
    if (!m) return nsr_fail(err, "out of memory for a model");
    m->arch = *arch;
    m->arch.channels = arch_channels(arch);
    m->select_temperature = 1.0f;
    if (m->arch.groups == 1) /* d and the regime mean nothing without groups */
        m->arch.cardinals = 1, m->arch.regime = NSR_REGIME_FIXED_FLOPS;
    m->nconv = arch_nconv(arch);
    m->conv = calloc((size_t)m->nconv, sizeof *m->conv);
    m->tensor = calloc((size_t)m->nconv * 5, sizeof *m->tensor);
    if (m->conv && m->tensor) {
        m->nparams = build_layout(&m->arch, m->conv, m->tensor, &m->ntensor);
        m->params = malloc(m->nparams * sizeof(float));
    }
    if (!m->params) {
        nsr_model_free(m);
        return nsr_fail(err, "out of memory for a model of %zu parameters",
                        nsr_arch_param_count(arch));
    }
    *model = m;
    return 0;
}

int nsr_model_create(nsr_model **model, const nsr_arch *arch, uint64_t seed, nsr_error *err) {
    if (eng_model_alloc(model, arch, err)) return -1;
    init_params(*model, seed);
    return 0;
}

void nsr_model_free(nsr_model *m) {
    if (!m) return;
    free(m->params);
    free(m->tensor);
    free(m->conv);
    free(m);
}

const nsr_arch *nsr_model_arch(const nsr_model *m) { return &m->arch; }
size_t nsr_model_param_count(const nsr_model *m) { return m->nparams; }

int nsr_model_trained_hard(const nsr_model *m) { return m->trained_hard; }

/* A block's second conv has its own side layer when every conv selects from its own input. */
int nsr_model_selections_per_block(const nsr_model *m) {
    return m->arch.groups == 1 ? 0 : m->conv[ENG_BLOCK_CONV(0, 1)].side ? 2 : 1;
}

int eng_model_num_tensors(const nsr_model *m) { return m->ntensor; }
const eng_tensor *eng_model_tensor(const nsr_model *m, int i) { return &m->tensor[i]; }

const eng_tensor *eng_model_find_tensor(const nsr_model *m, const char *name) {
    for (int i = 0; i < m->ntensor; i++)
        if (!strcmp(m->tensor[i].name, name)) return &m->tensor[i];
    return NULL;
}

/* ---------------------------------------------------------------- workspace */

/* a * b, or SIZE_MAX when it overflows (so a chain of products stays "too large"). */
static size_t mul_sat(size_t a, size_t b) {
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

/* Lays out the buffers of a workspace for a batch of n of h x w: ws's sizes and dimensions,
 * sizes[i] the floats of the i-th buffer of WS_BUFFERS' order; returns the total (SIZE_MAX
 * when it overflows). */
#define WS_BUFFERS 21
static size_t plan_workspace(eng_workspace *ws, size_t sizes[WS_BUFFERS], const nsr_model *m,
                             int n, int h, int w, int train) {
    const nsr_arch *a = &m->arch;
    const int B = a->blocks, s = a->scale, nsr = a->groups > 1;
    const int fixed_size = nsr && a->regime == NSR_REGIME_FIXED_SIZE;
    const size_t F = (size_t)a->features, hidc = F * (size_t)a->width_mult;
    const size_t npix = mul_sat(mul_sat((size_t)n, (size_t)h), (size_t)w);
    const size_t s2 = (size_t)s * s, nconv = (size_t)m->nconv;
    ws->n = n, ws->h = h, ws->w = w, ws->train = train;
    ws->select = (nn_select_opts){.temperature = m->select_temperature};
    ws->feat_sz = mul_sat(npix, F);
    ws->hid_sz = mul_sat(npix, hidc);
    ws->gamma_sz = nsr ? (size_t)n * a->groups * a->cardinals : 0;
    ws->pool_sz = nsr ? (size_t)n * hidc : 0;
    /* both block convs mix (F*wm) x F x 3 x 3 kernels per sample */
    const size_t mixw = nsr ? mul_sat(ws->pool_sz, F * 9) : 0, mixb = ws->pool_sz;
    const size_t C = (size_t)a->channels, body = mul_sat(npix, C * s2);
    /* every buffer, in the order they are pointed into the block */
    const size_t plan[WS_BUFFERS] = {
        mul_sat(npix, C),                                /* x0 */
        mul_sat(ws->feat_sz, train ? (size_t)B + 1 : 2), /* feat */
        mul_sat(ws->hid_sz, train ? (size_t)B : 1),      /* hidden */
        fixed_size ? mul_sat(ws->hid_sz, train ? (size_t)B : 1) : 0, /* scaled */
        mul_sat(ws->gamma_sz, nconv),                    /* gamma */
        train ? mul_sat(ws->gamma_sz, nconv) : 0,        /* soft */
        mul_sat(ws->pool_sz, nconv),                     /* pooled */
        m->nparams,                                      /* wn */
        s > 1 ? body : 0,                                /* skip */
        body,                                            /* body */
        body,                                            /* out */
        mixw, mixb,                                      /* wmix, bmix */
        train ? mixw : 0, train ? mixb : 0,              /* dwmix, dbmix */
        train ? ws->feat_sz : 0,                         /* dfeat */
        train ? ws->hid_sz : 0, train ? ws->hid_sz : 0,  /* dhidden, dmid */
        train ? m->nparams : 0,                          /* dwn */
        train ? ws->gamma_sz : 0,                        /* dgamma */
        train ? body : 0,                                /* dbody */
    };
    size_t total = 0;
    for (int i = 0; i < WS_BUFFERS; i++) {
        sizes[i] = plan[i];
        total = sizes[i] > SIZE_MAX / sizeof(float) - total ? SIZE_MAX : total + sizes[i];
    }
    return total;
}

size_t eng_workspace_floats(const nsr_model *m, int n, int h, int w, int train) {
    eng_workspace ws;
    size_t sizes[WS_BUFFERS];
    return plan_workspace(&ws, sizes, m, n, h, w, train);
}

int eng_workspace_create(eng_workspace *ws, const nsr_model *m, int n, int h, int w, int train,
                         nsr_error *err) {
    memset(ws, 0, sizeof *ws);
    if (n < 1 || h < 1 || w < 1) return nsr_fail(err, "invalid batch %d of %dx%d", n, w, h);
    size_t sizes[WS_BUFFERS];
    const size_t total = plan_workspace(ws, sizes, m, n, h, w, train);
    float **ptrs[WS_BUFFERS] = {&ws->x0, &ws->feat, &ws->hidden, &ws->scaled, &ws->gamma,
                                &ws->soft, &ws->pooled, &ws->wn, &ws->skip, &ws->body, &ws->out,
                                &ws->mix.wmix, &ws->mix.bmix, &ws->mix.dwmix, &ws->mix.dbmix,
                                &ws->dfeat, &ws->dhidden, &ws->dmid, &ws->dwn, &ws->dgamma,
                                &ws->dbody};
    float *block = total < SIZE_MAX / sizeof(float) ? mem_calloc_large(total, sizeof(float)) : NULL;
    ws->mem = block;
    if (!block)
        return nsr_fail(err, "out of memory for the activations of a batch of %d of %dx%d", n,
                        w, h);
    for (int i = 0; i < WS_BUFFERS; i++) {
        *ptrs[i] = sizes[i] ? block : NULL;
        block += sizes[i];
    }
    return 0;
}

void eng_workspace_free(eng_workspace *ws) {
    free(ws->mem);
    memset(ws, 0, sizeof *ws);
}

/* ---------------------------------------------------------------- forward and backward */

/* Block b's input (b = B: the tail's input). Inference keeps two in turn. */
static float *feat_at(const eng_workspace *ws, int b) {
    return ws->feat + (size_t)(ws->train ? b : b % 2) * ws->feat_sz;
}
static float *hidden_at(const eng_workspace *ws, int b) {
    return ws->hidden + (size_t)(ws->train ? b : 0) * ws->hid_sz;
}
/* The selection a conv uses: its own, or with shared selection the block's first conv's. */
static float *gamma_of(const nsr_model *m, const eng_workspace *ws, int ci) {
    return ws->gamma + (size_t)(m->conv[ci].side ? ci : ci - 1) * ws->gamma_sz;
}
static float *scaled_at(const eng_workspace *ws, int b) {
    return ws->scaled + (size_t)(ws->train ? b : 0) * ws->hid_sz;
}
static float *soft_of(const nsr_model *m, const eng_workspace *ws, int ci) {
    return ws->soft ? ws->soft + (size_t)(m->conv[ci].side ? ci : ci - 1) * ws->gamma_sz : NULL;
}
static float *pooled_of(const eng_workspace *ws, int ci) {
    return ws->pooled + (size_t)ci * ws->pool_sz;
}
static nn_nsr_dims dims_of(const eng_conv *c, const eng_workspace *ws) {
    return (nn_nsr_dims){.n = ws->n, .cin = c->cin, .cout = c->cout, .h = ws->h, .w = ws->w,
                         .ksize = c->ksize, .groups = c->groups, .cards = c->cards};
}

/* The selections of m: its convs with a side layer of their own. */
static int selection_count(const nsr_model *m) {
    int count = 0;
    for (int ci = 0; ci < m->nconv; ci++) count += m->conv[ci].groups > 1 && m->conv[ci].side;
    return count;
}

/* Adds the load-balancing term of conv ci's selection to the loss and its gradient to dgamma
 * (nn_select_balance_forward), before the selection's backward takes dgamma. */
static void balance_backward(const nsr_model *m, eng_workspace *ws, int ci, const nn_nsr_dims *dm) {
    if (!(ws->select.balance > 0)) return;
    const float weight = ws->select.balance / (float)selection_count(m);
    ws->balance_loss += nn_select_balance_forward(soft_of(m, ws, ci), dm, weight);
    nn_select_balance_backward(ws->dgamma, soft_of(m, ws, ci), dm, weight);
}

/* How conv ci selects in this forward: the workspace's selection, hard when asked, its noise
 * drawn from the conv's own stream. */
static nn_select_opts select_of(const nsr_model *m, const eng_workspace *ws, int ci, int hard) {
    nn_select_opts so = ws->select;
    so.hard |= hard;
    so.stream = so.stream * (uint64_t)m->nconv + (uint64_t)ci;
    return so;
}

static void conv_forward(const nsr_model *m, eng_workspace *ws, int ci, float *out,
                         const float *in, int hard, const nn_conv_post *post) {
    const eng_conv *c = &m->conv[ci];
    const float *P = m->params;
    if (c->groups == 1) {
        nn_conv2d_forward(out, in, ws->wn + c->v, 0, P + c->b, 0, ws->n, c->cin, c->cout, ws->h,
                          ws->w, c->ksize, post);
        return;
    }
    const nn_nsr_dims dm = dims_of(c, ws);
    float *gamma = gamma_of(m, ws, ci);
    const nn_select_opts so = select_of(m, ws, ci, hard);
    if (c->side)
        nn_nsr_conv_forward(out, gamma, soft_of(m, ws, ci), pooled_of(ws, ci), in, P + c->A,
                            P + c->a, ws->wn + c->v, P + c->b, &dm, &ws->mix, &so, post);
    else
        nn_mixconv_forward(out, in, ws->wn + c->v, P + c->b, gamma, &dm, &ws->mix, post);
}

/* Adds this conv's gradients to grads and, when dinp is non-NULL, to its input's gradient,
 * which then keeps only the elements where gate (NULL: every one) is positive: gate is the
 * ReLU's output that this conv reads, and the input gradient the ReLU's backward takes to its
 * input, in the pass that writes it. A conv without a side layer leaves its dgamma in
 * ws->dgamma for the block's first conv, whose selection backward consumes it and leaves
 * ws->dgamma zero. */
static void conv_backward(const nsr_model *m, eng_workspace *ws, int ci, float *dinp,
                          const float *dout, const float *in, float *G, const float *gate) {
    const eng_conv *c = &m->conv[ci];
    const float *P = m->params;
    const size_t vsize = (size_t)c->groups * c->cout * c->cin * c->ksize * c->ksize;
    float *dwn = ws->dwn + c->v;
    const nn_conv_post gated = {.gate = gate};
    nn_zero(dwn, vsize);
    if (c->groups == 1) {
        nn_conv2d_backward(dinp, dwn, G + c->b, dout, in, ws->wn + c->v, 0, 0, ws->n, c->cin,
                           c->cout, ws->h, ws->w, c->ksize, gate ? &gated : NULL);
    } else {
        const nn_nsr_dims dm = dims_of(c, ws);
        const float *gamma = gamma_of(m, ws, ci);
        /* with a side layer, the gate waits for the gradient through the selection's mean */
        nn_mixconv_backward(dinp, dwn, G + c->b, ws->dgamma, dout, in, ws->wn + c->v, P + c->b,
                            gamma, &dm, &ws->mix, gate && !c->side ? &gated : NULL);
        if (c->side) {
            balance_backward(m, ws, ci, &dm);
            nn_select_backward(dinp, G + c->A, G + c->a, ws->dgamma, soft_of(m, ws, ci),
                               pooled_of(ws, ci), P + c->A, &dm, ws->select.temperature, gate);
            memset(ws->dgamma, 0, ws->gamma_sz * sizeof(float));
        }
    }
    nn_weightnorm_backward(G + c->v, G + c->g, dwn, P + c->v, P + c->g, c->groups * c->cout,
                           c->cin * c->ksize * c->ksize);
}

/* A fixed-size block (include/nsr.h NSR_REGIME_FIXED_SIZE):
 *   out = in + conv2(gamma-weighted relu(conv1(in))), gamma = the block's selection of in.
 * Training and soft inference compute every hidden channel. Hard inference computes only the
 * chosen group's: the one-hot mixture of conv1's groups is the chosen group's kernels (per
 * cardinal), and conv2 is given only the input channels of that group, so the block costs 1/k
 * of the plain block's convolution and equals the full computation with one-hot weights. */
static void fixed_block_forward(const nsr_model *m, eng_workspace *ws, int b, const float *in,
                                float *out, int hard) {
    const int ci = ENG_BLOCK_CONV(b, 0);
    const eng_conv *c1 = &m->conv[ci], *c2 = &m->conv[ci + 1];
    const float *P = m->params;
    const nn_nsr_dims dm = dims_of(c1, ws);
    const nn_select_opts so = select_of(m, ws, ci, hard);
    float *gamma = gamma_of(m, ws, ci), *hid = hidden_at(ws, b);
    const nn_conv_post relu = {.relu = 1}, residual = {.residual = in};
    if (so.hard && !ws->train) {
        nn_nsr_conv_forward(hid, gamma, NULL, pooled_of(ws, ci), in, P + c1->A, P + c1->a,
                            ws->wn + c1->v, P + c1->b, &dm, &ws->mix, &so, &relu);
        nn_group_gather_inputs(ws->mix.wmix, ws->wn + c2->v, gamma, &dm, c2->cout, c2->ksize);
        nn_conv2d_forward(out, hid, ws->mix.wmix, (size_t)c2->cout * dm.cout * c2->ksize * c2->ksize,
                          P + c2->b, 0, ws->n, dm.cout, c2->cout, ws->h, ws->w, c2->ksize, &residual);
        return;
    }
    float *scaled = scaled_at(ws, b);
    nn_select_forward(gamma, soft_of(m, ws, ci), pooled_of(ws, ci), in, P + c1->A, P + c1->a, &dm, &so);
    nn_conv2d_forward(hid, in, ws->wn + c1->v, 0, P + c1->b, 0, ws->n, c1->cin,
                      c1->groups * c1->cout, ws->h, ws->w, c1->ksize, &relu);
    nn_group_scale_forward(scaled, hid, gamma, &dm);
    nn_conv2d_forward(out, scaled, ws->wn + c2->v, 0, P + c2->b, 0, ws->n, c2->cin, c2->cout,
                      ws->h, ws->w, c2->ksize, &residual);
}

/* Its backward, from ws->dfeat = d(out), to which d(in) is added. */
static void fixed_block_backward(const nsr_model *m, eng_workspace *ws, int b, float *G) {
    const int ci = ENG_BLOCK_CONV(b, 0);
    const eng_conv *c1 = &m->conv[ci];
    const float *P = m->params;
    const nn_nsr_dims dm = dims_of(c1, ws);
    float *hid = hidden_at(ws, b), *gamma = gamma_of(m, ws, ci), *in = feat_at(ws, b);
    nn_zero(ws->dhidden, ws->hid_sz);
    conv_backward(m, ws, ci + 1, ws->dhidden, ws->dfeat, scaled_at(ws, b), G, NULL);
    nn_zero(ws->dmid, ws->hid_sz);
    nn_group_scale_backward(ws->dmid, ws->dgamma, ws->dhidden, hid, gamma, &dm);
    nn_zero(ws->dhidden, ws->hid_sz);
    nn_relu_backward(ws->dhidden, ws->dmid, hid, ws->hid_sz);
    const int stored = c1->groups * c1->cout, fan_in = c1->cin * c1->ksize * c1->ksize;
    float *dwn = ws->dwn + c1->v;
    nn_zero(dwn, (size_t)stored * fan_in);
    nn_conv2d_backward(ws->dfeat, dwn, G + c1->b, ws->dhidden, in, ws->wn + c1->v, 0, 0, ws->n,
                       c1->cin, stored, ws->h, ws->w, c1->ksize, NULL);
    nn_weightnorm_backward(G + c1->v, G + c1->g, dwn, P + c1->v, P + c1->g, stored, fan_in);
    balance_backward(m, ws, ci, &dm);
    nn_select_backward(ws->dfeat, G + c1->A, G + c1->a, ws->dgamma, soft_of(m, ws, ci),
                       pooled_of(ws, ci), P + c1->A, &dm, ws->select.temperature, NULL);
    memset(ws->dgamma, 0, ws->gamma_sz * sizeof(float));
}

const float *eng_conv_selection(const nsr_model *m, const eng_workspace *ws, int ci) {
    return gamma_of(m, ws, ci);
}

void eng_weightnorm(const nsr_model *m, float *wn) {
    for (int ci = 0; ci < m->nconv; ci++) {
        const eng_conv *c = &m->conv[ci];
        nn_weightnorm_forward(wn + c->v, m->params + c->v, m->params + c->g,
                              c->groups * c->cout, c->cin * c->ksize * c->ksize);
    }
}

int eng_receptive_radius(const nsr_model *m) {
    const int B = m->arch.blocks;
    int body = 0; /* head, blocks and tail run one after another: their radii add up */
    for (int ci = ENG_HEAD; ci <= ENG_TAIL(B); ci++) body += m->conv[ci].ksize / 2;
    const int skip = m->arch.scale > 1 ? m->conv[ENG_SKIP(B)].ksize / 2 : 0;
    return body > skip ? body : skip;
}

void eng_forward_body(const nsr_model *m, eng_workspace *ws, const float *x, int hard) {
    const int B = m->arch.blocks;
    const size_t in_sz = (size_t)ws->n * m->arch.channels * ws->h * ws->w;
    nn_add_scalar(ws->x0, x, -0.5f, in_sz);
    if (!ws->wn_ready) eng_weightnorm(m, ws->wn);
    ws->wn_ready = !ws->train;
    conv_forward(m, ws, ENG_HEAD, feat_at(ws, 0), ws->x0, hard, NULL);
    for (int b = 0; b < B; b++) {
        /* out = in + conv2(relu(conv1(in))), the ReLU and the residual sum done by the convs
         * as they store */
        float *in = feat_at(ws, b), *out = feat_at(ws, b + 1), *hid = hidden_at(ws, b);
        if (m->conv[ENG_BLOCK_CONV(b, 0)].scales) {
            fixed_block_forward(m, ws, b, in, out, hard);
            continue;
        }
        const nn_conv_post relu = {.relu = 1}, residual = {.residual = in};
        conv_forward(m, ws, ENG_BLOCK_CONV(b, 0), hid, in, hard, &relu);
        conv_forward(m, ws, ENG_BLOCK_CONV(b, 1), out, hid, hard, &residual);
    }
    conv_forward(m, ws, ENG_TAIL(B), ws->body, feat_at(ws, B), hard, NULL);
}

void eng_forward_finish(const nsr_model *m, const float *wn, const float *x0, float *skip,
                        float *body, float *out, int n, int h, int w) {
    const int s = m->arch.scale;
    const size_t body_sz = (size_t)n * m->arch.channels * s * s * h * w;
    if (s > 1) {
        const eng_conv *c = &m->conv[ENG_SKIP(m->arch.blocks)];
        nn_conv2d_forward(skip, x0, wn + c->v, 0, m->params + c->b, 0, n, c->cin, c->cout, h, w,
                          c->ksize, NULL);
        nn_add_inplace(body, skip, body_sz);
    } else {
        nn_add_inplace(body, x0, body_sz);
    }
    nn_pixel_shuffle_forward(out, body, n, m->arch.channels, h, w, s);
    nn_add_scalar(out, out, 0.5f, body_sz);
}

void eng_forward(const nsr_model *m, eng_workspace *ws, const float *x, int hard) {
    eng_forward_body(m, ws, x, hard);
    eng_forward_finish(m, ws->wn, ws->x0, ws->skip, ws->body, ws->out, ws->n, ws->h, ws->w);
}

void eng_backward(const nsr_model *m, eng_workspace *ws, const float *dout, float *G) {
    const int B = m->arch.blocks, s = m->arch.scale;
    const size_t body_sz = (size_t)ws->n * m->arch.channels * s * s * ws->h * ws->w;
    nn_zero(ws->dbody, body_sz);
    if (ws->dgamma) memset(ws->dgamma, 0, ws->gamma_sz * sizeof(float));
    nn_pixel_shuffle_backward(ws->dbody, dout, ws->n, m->arch.channels, ws->h, ws->w, s);
    /* body = tail + skip: both get dbody; the input needs no gradient */
    if (s > 1) conv_backward(m, ws, ENG_SKIP(B), NULL, ws->dbody, ws->x0, G, NULL);
    nn_zero(ws->dfeat, ws->feat_sz);
    conv_backward(m, ws, ENG_TAIL(B), ws->dfeat, ws->dbody, feat_at(ws, B), G, NULL);
    for (int b = B - 1; b >= 0; b--) {
        /* dfeat holds d(block output); through the identity it is also part of d(block input),
         * to which the first conv's backward adds the rest */
        if (m->conv[ENG_BLOCK_CONV(b, 0)].scales) {
            fixed_block_backward(m, ws, b, G);
            continue;
        }
        /* d(hidden) through the second conv and, in the same pass, the ReLU (hid its output) */
        float *hid = hidden_at(ws, b);
        nn_zero(ws->dhidden, ws->hid_sz);
        conv_backward(m, ws, ENG_BLOCK_CONV(b, 1), ws->dhidden, ws->dfeat, hid, G, hid);
        conv_backward(m, ws, ENG_BLOCK_CONV(b, 0), ws->dfeat, ws->dhidden, feat_at(ws, b), G,
                      NULL);
    }
    conv_backward(m, ws, ENG_HEAD, NULL, ws->dfeat, ws->x0, G, NULL);
}

double eng_loss_and_grad(const nsr_model *m, eng_workspace *ws, const float *x,
                         const float *target, float *dout, float *grads) {
    const size_t out_sz = (size_t)ws->n * m->arch.channels * m->arch.scale * m->arch.scale * ws->h * ws->w;
    nn_zero(grads, m->nparams);
    eng_forward(m, ws, x, 0);
    const double loss = nn_l1_forward(ws->out, target, out_sz);
    nn_zero(dout, out_sz);
    nn_l1_backward(dout, ws->out, target, out_sz, 1.0f);
    ws->balance_loss = 0;
    eng_backward(m, ws, dout, grads);
    return loss + ws->balance_loss;
}

/* ---------------------------------------------------------------- inference */

int nsr_model_infer(const nsr_model *m, const nsr_image *in, nsr_image *out, nsr_selection sel,
                    nsr_error *err) {
    memset(out, 0, sizeof *out);
    if (in->channels != m->arch.channels || !in->data)
        return nsr_fail(err, "the network takes %s images, not %d channel(s)",
                        m->arch.channels == 1 ? "grey" : "RGB", in->channels);
    if (sel != NSR_SELECT_SOFT && sel != NSR_SELECT_HARD)
        return nsr_fail(err, "unknown selection mode %d", (int)sel);
    const int s = m->arch.scale;
    if (in->width > INT32_MAX / s || in->height > INT32_MAX / s)
        return nsr_fail(err, "image %dx%d too large for scale %d", in->width, in->height, s);
    eng_workspace ws;
    if (eng_workspace_create(&ws, m, 1, in->height, in->width, 0, err)) return -1;
    if (nsr_image_create(out, in->width * s, in->height * s, m->arch.channels, 0, err)) {
        eng_workspace_free(&ws);
        return -1;
    }
    eng_forward(m, &ws, in->data, sel == NSR_SELECT_HARD);
    memcpy(out->data, ws.out, (size_t)m->arch.channels * out->width * out->height * sizeof(float));
    out->bit_depth = in->bit_depth;
    eng_workspace_free(&ws);
    return 0;
}
