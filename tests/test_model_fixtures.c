/* test_model_fixtures.c - the whole engine against PyTorch (llm.c style, but failing on a
 * mismatch). scripts/make_fixtures.py wrote tests/fixtures/model_*.bin from its own float64
 * PyTorch model; for each file this loads the same parameters into our model and compares the
 * forward output, the selections, the L1 loss, every parameter gradient, the parameters after
 * three Adam steps, and soft and hard inference on an image of another size, printing the worst
 * difference per tensor.
 *
 * Differences are relative to the largest magnitude in the reference tensor (max |ours - ref| /
 * max |ref|): elementwise ratios are meaningless for gradients that cancel to near zero. After
 * an Adam step the difference is measured in units of the learning rate, the size of a step. */
#include <dirent.h>
#include <stdint.h>

#include "check.h"
#include "nn/engine.h"

#define FIXTURE_DIR "tests/fixtures"
#define TOL_OUT 1e-5  /* outputs, selections, loss */
#define TOL_GRAD 1e-4 /* gradients */
#define TOL_STEP 1e-3 /* parameters after an Adam step, in learning rates */

typedef struct {
    char name[96];
    int ndim, dims[4];
    size_t count;
    float *data;
} record;

typedef struct {
    int n;
    record *r;
} fixture;

static void fixture_free(fixture *f) {
    for (int i = 0; i < f->n; i++) free(f->r[i].data);
    free(f->r);
    f->n = 0, f->r = NULL;
}

static int read_u32(FILE *fp, uint32_t *v) {
    unsigned char b[4];
    if (fread(b, 1, 4, fp) != 4) return -1;
    *v = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

/* Reads the format make_fixtures.py documents; returns 0 or -1 with why in msg. */
static int fixture_load(fixture *f, const char *path, char *msg, size_t msg_size) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return snprintf(msg, msg_size, "cannot open %s (run from the repository root)", path), -1;
    char magic[8];
    uint32_t count;
    int ok = fread(magic, 1, 8, fp) == 8 && !memcmp(magic, "NSRFIX01", 8) && !read_u32(fp, &count) &&
             count < 100000;
    if (ok) f->r = calloc(count, sizeof *f->r);
    for (uint32_t i = 0; ok && i < count; i++) {
        record *r = &f->r[f->n++];
        uint32_t len = 0, ndim = 0, d = 0;
        ok = !read_u32(fp, &len) && len < sizeof r->name && fread(r->name, 1, len, fp) == len &&
             !read_u32(fp, &ndim) && ndim >= 1 && ndim <= 4;
        r->ndim = (int)ndim;
        r->count = 1;
        for (int k = 0; ok && k < r->ndim; k++) {
            ok = !read_u32(fp, &d) && d >= 1 && d < (1u << 24);
            r->dims[k] = (int)d;
            r->count *= d;
        }
        if (ok) r->data = malloc(r->count * sizeof(float));
        ok = ok && r->data && fread(r->data, sizeof(float), r->count, fp) == r->count;
    }
    fclose(fp);
    if (!ok) {
        fixture_free(f);
        return snprintf(msg, msg_size, "%s is truncated or malformed", path), -1;
    }
    return 0;
}

static const record *find(const fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->r[i].name, name)) return &f->r[i];
    return NULL;
}

/* max |a - ref| / max |ref| */
static double tensor_diff(const float *a, const float *ref, size_t n) {
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - ref[i]);
        worst = d > worst || d != d ? d : worst;
        scale = fmax(scale, fabs(ref[i]));
    }
    return worst / scale;
}

static double worst_class[4]; /* outputs, gradients, steps, inference: over every fixture */

/* Compares n floats with the record called name (which must have n elements); prints and
 * checks the difference. cls indexes worst_class. */
static void compare(const fixture *f, const char *name, const float *ours, size_t n, double unit,
                    double tol, int cls) {
    const record *r = find(f, name);
    CHECK(r != NULL, "fixture has no %s", name);
    if (!r) return;
    CHECK(r->count == n, "%s: %zu elements in the fixture, %zu here", name, r->count, n);
    if (r->count != n) return;
    double d = unit > 0 ? 0 : tensor_diff(ours, r->data, n);
    if (unit > 0) /* absolute, in units */
        for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)ours[i] - r->data[i]) / unit);
    printf("  %-36s %9zu  %.2e%s\n", name, n, d, d <= tol ? "" : "  <-- MISMATCH");
    worst_class[cls] = fmax(worst_class[cls], d);
    CHECK(d <= tol, "%s differs by %g (tolerance %g)", name, d, tol);
}

/* The name prefix of a conv ("blocks.0.conv1"), from its V tensor's name. */
static void conv_prefix(const nsr_model *m, int ci, char *out, size_t size) {
    for (int t = 0; t < eng_model_num_tensors(m); t++) {
        const eng_tensor *tt = eng_model_tensor(m, t);
        if (tt->offset == m->conv[ci].v) {
            snprintf(out, size, "%.*s", (int)(strlen(tt->name) - 2), tt->name);
            return;
        }
    }
    out[0] = 0;
}

/* Copies record "<prefix><tensor name>" into every parameter tensor (shapes must match). */
static int set_params(nsr_model *m, float *dst, const fixture *f, const char *prefix) {
    for (int t = 0; t < eng_model_num_tensors(m); t++) {
        const eng_tensor *tt = eng_model_tensor(m, t);
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, tt->name);
        const record *r = find(f, name);
        CHECK(r != NULL, "fixture has no %s", name);
        if (!r) return -1;
        int same = r->ndim == tt->ndim;
        for (int k = 0; same && k < r->ndim; k++) same = r->dims[k] == tt->shape[k];
        CHECK(same, "%s: shape differs from the engine's", name);
        if (!same) return -1;
        memcpy(dst + tt->offset, r->data, tt->size * sizeof(float));
    }
    return 0;
}

static char current_path[512];

static void test_fixture(void) {
    fixture f;
    char msg[600];
    REQUIRE(fixture_load(&f, current_path, msg, sizeof msg) == 0, "%s", msg);
    const record *cfg = find(&f, "config"), *x = find(&f, "x"), *xi = find(&f, "infer.x");
    REQUIRE(cfg && cfg->count == 13 && x && x->ndim == 4 && xi && xi->ndim == 4,
            "%s lacks config, x or infer.x", current_path);
    const nsr_arch arch = {.blocks = (int)cfg->data[0], .features = (int)cfg->data[1],
                           .width_mult = (int)cfg->data[2], .groups = (int)cfg->data[3],
                           .cardinals = (int)cfg->data[4], .scale = (int)cfg->data[5],
                           .shared_selection = (int)cfg->data[6], .regime = (int)cfg->data[10],
                           .channels = (int)cfg->data[11]};
    const float lr = cfg->data[7], temperature = cfg->data[8];
    const int straight_through = cfg->data[9] != 0;
    const float balance = cfg->data[12];
    printf("  B%d F%d wm%d k%d d%d x%d %s%s%s selection, T %g%s, batch %d of %dx%d\n", arch.blocks,
           arch.features, arch.width_mult, arch.groups, arch.cardinals, arch.scale,
           arch.channels == 1 ? "grey, " : "", arch.regime == NSR_REGIME_FIXED_SIZE ? "fixed size, " : "",
           arch.regime == NSR_REGIME_FIXED_SIZE ? "block" : arch.shared_selection ? "shared" : "independent",
           temperature,
           straight_through ? ", trained hard (straight through)" : "", x->dims[0], x->dims[3],
           x->dims[2]);
    if (balance > 0) printf("  load-balancing term %g\n", balance);
    nsr_model *m = NULL;
    nsr_error err;
    eng_workspace ws = {0};
    nn_adam opt = {0};
    float *grads = NULL, *dout = NULL;
    int params = 0;
    for (int i = 0; i < f.n; i++) params += !strncmp(f.r[i].name, "param.", 6);
    if (nsr_model_create(&m, &arch, 0, &err)) {
        CHECK(0, "%s", err.message);
        goto done;
    }
    CHECK(params == eng_model_num_tensors(m), "fixture has %d parameter tensors, engine %d",
          params, eng_model_num_tensors(m));
    if (set_params(m, m->params, &f, "param.")) goto done;
    m->select_temperature = temperature;

    /* inference on one image of another size, soft and hard */
    const int s = arch.scale;
    nsr_image in = {.width = xi->dims[3], .height = xi->dims[2], .channels = arch.channels, .bit_depth = 8,
                    .data = xi->data};
    const nsr_selection sels[2] = {NSR_SELECT_SOFT, NSR_SELECT_HARD};
    for (int i = 0; i < 2; i++) {
        nsr_image out;
        if (nsr_model_infer(m, &in, &out, sels[i], &err)) {
            CHECK(0, "%s", err.message);
            goto done;
        }
        compare(&f, i ? "infer.hard" : "infer.soft", out.data, (size_t)arch.channels * out.width * out.height,
                0, TOL_OUT, 3);
        nsr_image_free(&out);
    }

    /* training: forward, selections, loss, gradients, three Adam steps */
    const int N = x->dims[0], h = x->dims[2], w = x->dims[3];
    const size_t out_sz = (size_t)N * arch.channels * h * s * w * s;
    const record *target = find(&f, "target");
    CHECK(target && target->count == out_sz, "target missing or of the wrong size");
    if (!target || target->count != out_sz) goto done;
    if (eng_workspace_create(&ws, m, N, h, w, 1, &err) || nn_adam_init(&opt, m->nparams, &err)) {
        CHECK(0, "%s", err.message);
        goto done;
    }
    ws.select.hard = straight_through;
    ws.select.balance = balance;
    grads = calloc(m->nparams, sizeof(float));
    dout = calloc(out_sz, sizeof(float));
    REQUIRE(grads && dout, "out of memory");
    for (int step = 1; step <= 3; step++) {
        const float loss = (float)eng_loss_and_grad(m, &ws, x->data, target->data, dout, grads);
        char name[96];
        if (step == 1) {
            compare(&f, "out", ws.out, out_sz, 0, TOL_OUT, 0);
            for (int ci = 0; ci < m->nconv; ci++) {
                if (!m->conv[ci].side) continue;
                char prefix[64];
                conv_prefix(m, ci, prefix, sizeof prefix);
                snprintf(name, sizeof name, "gamma.%s", prefix);
                compare(&f, name, ws.gamma + ci * ws.gamma_sz, ws.gamma_sz, 0, TOL_OUT, 0);
            }
            compare(&f, "loss", &loss, 1, 0, TOL_OUT, 0);
            for (int t = 0; t < eng_model_num_tensors(m); t++) {
                const eng_tensor *tt = eng_model_tensor(m, t);
                snprintf(name, sizeof name, "grad.%s", tt->name);
                compare(&f, name, grads + tt->offset, tt->size, 0, TOL_GRAD, 1);
            }
        } else {
            snprintf(name, sizeof name, "loss%d", step);
            compare(&f, name, &loss, 1, 0, TOL_OUT, 0);
        }
        nn_adam_step(&opt, m->params, grads, lr);
        /* after a step, every tensor in units of lr: print the worst tensor only */
        double worst = 0;
        const char *worst_name = "";
        for (int t = 0; t < eng_model_num_tensors(m); t++) {
            const eng_tensor *tt = eng_model_tensor(m, t);
            snprintf(name, sizeof name, "step%d.%s", step, tt->name);
            const record *r = find(&f, name);
            CHECK(r && r->count == tt->size, "fixture lacks %s", name);
            if (!r || r->count != tt->size) goto done;
            for (size_t i = 0; i < tt->size; i++) {
                const double d = fabs((double)m->params[tt->offset + i] - r->data[i]) / lr;
                if (d > worst || d != d) worst = d, worst_name = tt->name;
            }
        }
        printf("  step%d parameters (worst: %-20s)       %.2e lr%s\n", step, worst_name, worst,
               worst <= TOL_STEP ? "" : "  <-- MISMATCH");
        worst_class[2] = fmax(worst_class[2], worst);
        CHECK(worst <= TOL_STEP, "after Adam step %d, %s differs by %g lr", step, worst_name, worst);
    }
done:
    free(grads);
    free(dout);
    nn_adam_free(&opt);
    eng_workspace_free(&ws);
    nsr_model_free(m);
    fixture_free(&f);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    char *names[64];
    int count = 0;
    DIR *dir = opendir(FIXTURE_DIR);
    for (struct dirent *e; dir && (e = readdir(dir)) && count < 64;) {
        const size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "model_", 6) && len > 4 && !strcmp(e->d_name + len - 4, ".bin"))
            names[count++] = strdup(e->d_name);
    }
    if (dir) closedir(dir);
    if (count == 0) {
        printf("FAIL test_model_fixtures: no %s/model_*.bin (run from the repository root; "
               "regenerate with /usr/bin/python3 scripts/make_fixtures.py)\n", FIXTURE_DIR);
        return 1;
    }
    qsort(names, (size_t)count, sizeof *names, cmp_str);
    for (int i = 0; i < count; i++) {
        snprintf(current_path, sizeof current_path, "%s/%s", FIXTURE_DIR, names[i]);
        printf("%s\n", current_path);
        check_run(names[i], test_fixture);
        free(names[i]);
    }
    printf("worst over all fixtures: outputs/selections/loss %.2e, gradients %.2e, "
           "Adam steps %.2e lr, inference %.2e\n",
           worst_class[0], worst_class[1], worst_class[2], worst_class[3]);
    return test_summary();
}
