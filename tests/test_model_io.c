/* test_model_io.c - networks to and from model files (src/nn/model_io.c, docs/model-format.md
 * "The wdsr_nsr network"): bit-exact round trips, one expected message per broken field, and
 * thousands of mutated files from a tiny real model, each either refused with one line or
 * loaded into a model that runs. */
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "testdata.h"
#include "nsr.h"


/* The tiny model every test starts from: every feature of the format (side layers on both
 * convs, a skip branch) at a few thousand parameters. */
static const nsr_arch tiny = {.blocks = 1, .features = 4, .width_mult = 2, .groups = 2,
                              .cardinals = 2, .scale = 2, .shared_selection = 0};

/* A small RGB test picture, values not all equal so that every conv sees structure. */
static int test_picture(nsr_image *img, int w, int h) {
    nsr_error err;
    if (nsr_image_create(img, w, h, 3, 0, &err)) return -1;
    for (size_t i = 0; i < (size_t)3 * w * h; i++) img->data[i] = (float)((i * 37) % 101) / 100.0f;
    img->bit_depth = 8;
    return 0;
}

/* Runs m on the test picture; 0 when it ran. */
static int run_model(const nsr_model *m, nsr_selection sel, nsr_image *out) {
    nsr_image in;
    nsr_error err;
    if (test_picture(&in, 7, 5)) return -1;
    int rc = nsr_model_infer(m, &in, out, sel, &err);
    nsr_image_free(&in);
    return rc;
}

static int one_line(const char *msg) { return msg[0] && !strchr(msg, '\n'); }

/* ---------------------------------------------------------------- round trips */

static void round_trip(const nsr_arch *arch) {
    nsr_error err;
    nsr_model *m = NULL, *back = NULL;
    nsr_image a = {0}, b = {0};
    char dir[] = "/tmp/nsr_test_model_io_XXXXXX", path[64];
    REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/m.nsr", dir);
    REQUIRE(!nsr_model_create(&m, arch, 7, &err), "%s", err.message);
    int saved = nsr_model_save(m, path, &err);
    int loaded = !saved ? nsr_model_load(&back, path, &err) : -1;
    unlink(path);
    rmdir(dir);
    if (saved || loaded) {
        CHECK(0, "%s", err.message);
        goto done;
    }
    const nsr_arch *x = nsr_model_arch(back), *y = nsr_model_arch(m);
    CHECK(!memcmp(x, y, sizeof *x), "architecture changed: B%d F%d wm%d k%d d%d s%d shared%d",
          x->blocks, x->features, x->width_mult, x->groups, x->cardinals, x->scale,
          x->shared_selection);
    CHECK(nsr_model_param_count(back) == nsr_model_param_count(m), "parameter count");
    for (int sel = NSR_SELECT_SOFT; sel <= NSR_SELECT_HARD; sel++) {
        nsr_image_free(&a);
        nsr_image_free(&b);
        REQUIRE(!run_model(m, (nsr_selection)sel, &a) && !run_model(back, (nsr_selection)sel, &b),
                "inference failed");
        CHECK(!memcmp(a.data, b.data, (size_t)3 * a.width * a.height * sizeof(float)),
              "outputs differ after the round trip (selection %d)", sel);
    }
done:
    nsr_image_free(&a);
    nsr_image_free(&b);
    nsr_model_free(m);
    nsr_model_free(back);
}

static void test_round_trip_nsr(void) { round_trip(&tiny); }
static void test_round_trip_shared_denoise(void) {
    nsr_arch a = tiny;
    a.shared_selection = 1, a.scale = 1, a.blocks = 2;
    round_trip(&a);
}
static void test_round_trip_plain_x3(void) {
    nsr_arch a = {.blocks = 2, .features = 6, .width_mult = 1, .groups = 1, .cardinals = 1,
                  .scale = 3, .shared_selection = 0};
    round_trip(&a);
}

/* The file carries exactly the documented keys and the engine's tensors, and other metadata or
 * reserved tensors next to them do not disturb loading. */
static void test_file_contents(void) {
    nsr_error err;
    nsr_model *m = NULL, *back = NULL;
    nsr_model_file *f = nsr_model_file_new();
    REQUIRE(f, "new");
    REQUIRE(!nsr_model_create(&m, &tiny, 1, &err), "%s", err.message);
    REQUIRE(!nsr_model_file_set_string(f, "nsr.task", "sr", &err), "%s", err.message);
    CHECK(!nsr_model_to_file(m, f, &err), "%s", err.message);
    const char *keys[] = {"nsr.task", "nsr.architecture", "nsr.blocks", "nsr.features",
                          "nsr.width_mult", "nsr.groups", "nsr.cardinals", "nsr.scale",
                          "nsr.shared_selection"};
    const int values[] = {0, 0, 1, 4, 2, 2, 2, 2, 0};
    CHECK(nsr_model_file_meta_count(f) == 9, "%zu metadata keys", nsr_model_file_meta_count(f));
    for (int i = 0; i < 9; i++) {
        const char *k = nsr_model_file_meta_key(f, (size_t)i);
        CHECK(k && !strcmp(k, keys[i]), "key %d is %s, expected %s", i, k ? k : "none", keys[i]);
        int64_t v;
        if (i >= 2)
            CHECK(!nsr_model_file_get_int(f, keys[i], &v, &err) && v == values[i], "%s", keys[i]);
    }
    const char *arch;
    CHECK(!nsr_model_file_get_string(f, "nsr.architecture", &arch, &err) &&
              !strcmp(arch, "wdsr_nsr"), "architecture name");
    /* head, 2 convs with side layers, tail, skip: 3 + 5 + 5 + 3 + 3 tensors */
    CHECK(nsr_model_file_tensor_count(f) == 19, "%zu tensors", nsr_model_file_tensor_count(f));
    size_t total = 0;
    for (size_t i = 0; i < nsr_model_file_tensor_count(f); i++)
        total += nsr_model_file_tensor_at(f, i)->count;
    CHECK(total == nsr_model_param_count(m), "tensors hold %zu values, the model %zu", total,
          nsr_model_param_count(m));
    const float *p;
    CHECK(!nsr_model_file_get_tensor(f, "blocks.0.conv2.A", 2, (int[]){4, 8}, &p, &err), "%s",
          err.message);
    /* A checkpoint's extra tensors are ignored. */
    REQUIRE(!nsr_model_file_add_tensor(f, "train.adam.m", 1, (int[]){3}, (float[]){1, NAN, 3}, &err),
            "%s", err.message);
    CHECK(!nsr_model_from_file(&back, f, &err), "%s", err.message);
    /* to_file adds: a second time, the names are taken. */
    CHECK(nsr_model_to_file(m, f, &err) && strstr(err.message, "duplicate tensor name 'head.v'"),
          "second to_file: %s", err.message);
    nsr_model_free(m);
    nsr_model_free(back);
    nsr_model_file_free(f);
}

/* ---------------------------------------------------------------- one message per fault */

/* A mutation of the tiny model's file, applied while copying it entry by entry. */
typedef struct mutation {
    const char *drop_key;      /* metadata to leave out */
    const char *int_key;       /* metadata to set to int_value */
    int64_t int_value;
    const char *retype_key;    /* metadata to store as a string instead */
    const char *drop_tensor;   /* tensor to leave out */
    const char *reshape;       /* tensor to store flattened to one dimension */
    const char *poison;        /* tensor whose element poison_index becomes poison_value */
    size_t poison_index;
    float poison_value;
    const char *extra;         /* an extra 1-element tensor */
} mutation;

/* Copies src into a new file, applying mu. */
static nsr_model_file *copy_mutated(const nsr_model_file *src, const mutation *mu) {
    nsr_error err;
    nsr_model_file *f = nsr_model_file_new();
    int rc = f ? 0 : -1;
    for (size_t i = 0; !rc && i < nsr_model_file_meta_count(src); i++) {
        const char *k = nsr_model_file_meta_key(src, i);
        int64_t iv;
        double fv;
        const char *sv;
        if (mu->drop_key && !strcmp(k, mu->drop_key)) continue;
        if (mu->int_key && !strcmp(k, mu->int_key)) {
            rc = nsr_model_file_set_int(f, k, mu->int_value, &err);
        } else if (mu->retype_key && !strcmp(k, mu->retype_key)) {
            rc = nsr_model_file_set_string(f, k, "4", &err);
        } else switch (nsr_model_file_meta_type(src, k)) {
            case NSR_META_INT:
                rc = nsr_model_file_get_int(src, k, &iv, &err) || nsr_model_file_set_int(f, k, iv, &err);
                break;
            case NSR_META_FLOAT:
                rc = nsr_model_file_get_float(src, k, &fv, &err) || nsr_model_file_set_float(f, k, fv, &err);
                break;
            default:
                rc = nsr_model_file_get_string(src, k, &sv, &err) || nsr_model_file_set_string(f, k, sv, &err);
            }
    }
    for (size_t i = 0; !rc && i < nsr_model_file_tensor_count(src); i++) {
        const nsr_model_tensor *t = nsr_model_file_tensor_at(src, i);
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        float *data = malloc(t->count * sizeof(float));
        if (!data) {
            rc = -1;
            break;
        }
        memcpy(data, t->data, t->count * sizeof(float));
        if (mu->poison && !strcmp(t->name, mu->poison)) data[mu->poison_index % t->count] = mu->poison_value;
        int flat = (int)t->count;
        if (mu->reshape && !strcmp(t->name, mu->reshape))
            rc = nsr_model_file_add_tensor(f, t->name, 1, &flat, data, &err);
        else
            rc = nsr_model_file_add_tensor(f, t->name, t->ndim, t->dims, data, &err);
        free(data);
    }
    if (!rc && mu->extra) rc = nsr_model_file_add_tensor(f, mu->extra, 1, (int[]){1}, (float[]){0}, &err);
    if (rc) {
        nsr_model_file_free(f);
        return NULL;
    }
    return f;
}

static nsr_model_file *tiny_file(void) {
    nsr_error err;
    nsr_model *m;
    if (nsr_model_create(&m, &tiny, 3, &err)) return NULL;
    nsr_model_file *f = nsr_model_file_new();
    if (f && nsr_model_to_file(m, f, &err)) {
        nsr_model_file_free(f);
        f = NULL;
    }
    nsr_model_free(m);
    return f;
}

/* Loads the mutated file and returns the message ("" if it loaded), with the file called "M":
 * through a file and nsr_model_load when on_disk, else in memory, prefixing the network
 * loader's messages as nsr_model_load does. */
static const char *load_mutated(const nsr_model_file *base, const mutation *mu, int on_disk) {
    static char msg[600];
    nsr_error err;
    nsr_model *m = NULL;
    nsr_model_file *f = copy_mutated(base, mu), *g = NULL;
    uint8_t *bytes = NULL;
    size_t size;
    char dir[] = "/tmp/nsr_test_model_io_XXXXXX", path[64];
    msg[0] = 0;
    if (!f) {
        snprintf(msg, sizeof msg, "(setup failed)");
    } else if (!on_disk) {
        if (nsr_model_file_encode(f, &bytes, &size, &err)) snprintf(msg, sizeof msg, "(encode: %s)", err.message);
        else if (nsr_model_file_load_memory(&g, bytes, size, "M", &err)) snprintf(msg, sizeof msg, "%s", err.message);
        else if (nsr_model_from_file(&m, g, &err)) snprintf(msg, sizeof msg, "M: %s", err.message);
    } else if (!mkdtemp(dir)) {
        snprintf(msg, sizeof msg, "(mkdtemp failed)");
    } else {
        snprintf(path, sizeof path, "%s/M", dir);
        if (nsr_model_file_save(f, path, &err)) snprintf(msg, sizeof msg, "(save: %s)", err.message);
        else if (nsr_model_load(&m, path, &err))
            snprintf(msg, sizeof msg, "%s", strncmp(err.message, dir, strlen(dir)) ? err.message : err.message + strlen(dir) + 1);
        unlink(path);
        rmdir(dir);
    }
    free(bytes);
    nsr_model_free(m);
    nsr_model_file_free(f);
    nsr_model_file_free(g);
    return msg;
}

static void test_messages(void) {
    nsr_model_file *base = tiny_file();
    REQUIRE(base, "tiny model file");
    struct { mutation mu; const char *expect; } cases[] = {
        {{0}, ""},
        {{.extra = "train.step"}, ""},
        {{.drop_key = "nsr.architecture"}, "M: not an nsr network: no string metadata 'nsr.architecture'"},
        {{.retype_key = "nsr.architecture"}, "M: unknown architecture '4' (this nsr runs 'wdsr_nsr')"},
        {{.int_key = "nsr.architecture", .int_value = 1}, "M: not an nsr network: no string metadata 'nsr.architecture'"},
        {{.drop_key = "nsr.scale"}, "M: no integer metadata 'nsr.scale'"},
        {{.retype_key = "nsr.groups"}, "M: no integer metadata 'nsr.groups'"},
        {{.int_key = "nsr.blocks", .int_value = 9999999}, "M: metadata 'nsr.blocks' = 9999999 is out of range"},
        {{.int_key = "nsr.blocks", .int_value = INT64_MIN}, "M: metadata 'nsr.blocks' = -9223372036854775808 is out of range"},
        {{.int_key = "nsr.cardinals", .int_value = 3}, "M: invalid architecture: cardinals 3 must divide the features 4"},
        {{.int_key = "nsr.scale", .int_value = 0}, "M: invalid architecture: scale 0 not in 1..8"},
        {{.int_key = "nsr.shared_selection", .int_value = 2}, "M: invalid architecture: shared selection flag 2 is not 0 or 1"},
        {{.int_key = "nsr.shared_selection", .int_value = 1}, "M: unexpected tensor 'blocks.0.conv2.A' (not part of this architecture)"},
        {{.int_key = "nsr.features", .int_value = 2}, "M: tensor 'head.v' has shape 4x3x3x3, expected 2x3x3x3"},
        {{.int_key = "nsr.blocks", .int_value = 2}, "M: tensor 'blocks.1.conv1.v' (16x4x3x3) is missing"},
        {{.drop_tensor = "tail.g"}, "M: tensor 'tail.g' (12) is missing"},
        {{.reshape = "blocks.0.conv1.A"}, "M: tensor 'blocks.0.conv1.A' has shape 16, expected 4x4"},
        {{.poison = "skip.b", .poison_index = 5, .poison_value = NAN}, "M: tensor 'skip.b' has a non-finite value (nan) at index 5"},
        {{.poison = "head.v", .poison_index = 0, .poison_value = -INFINITY}, "M: tensor 'head.v' has a non-finite value (-inf) at index 0"},
        {{.extra = "trainer.step"}, "M: unexpected tensor 'trainer.step' (not part of this architecture)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = load_mutated(base, &cases[i].mu, 1);
        CHECK(!strcmp(got, cases[i].expect), "case %zu: got \"%s\", expected \"%s\"", i, got,
              cases[i].expect);
    }
    /* A corrupt architecture costs no more memory than the file: it is refused by counting. */
    nsr_arch big = tiny;
    big.features = 4096;
    char expect[200];
    snprintf(expect, sizeof expect, "M: the architecture has %zu parameters, the file's tensors hold only %zu",
             nsr_arch_param_count(&big), nsr_arch_param_count(&tiny));
    const char *got = load_mutated(base, &(mutation){.int_key = "nsr.features", .int_value = 4096}, 1);
    CHECK(!strcmp(got, expect), "huge architecture: got \"%s\", expected \"%s\"", got, expect);
    nsr_model_file_free(base);
}

static void test_file_errors(void) {
    nsr_error err;
    nsr_model *m = (nsr_model *)&err; /* must be set to NULL on failure */
    CHECK(nsr_model_load(&m, "/nonexistent/model.nsr", &err) && !m && one_line(err.message) &&
              strstr(err.message, "/nonexistent/model.nsr"), "missing file: %s", err.message);
    CHECK(nsr_model_load(&m, "/tmp", &err) && !m && one_line(err.message), "a folder: %s", err.message);
    char path[] = "/tmp/nsr_test_model_io_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "mkstemp");
    CHECK(write(fd, "NSRM", 4) == 4, "write");
    close(fd);
    CHECK(nsr_model_load(&m, path, &err) && !m && one_line(err.message) && strstr(err.message, "truncated"),
          "truncated file: %s", err.message);
    unlink(path);
    /* an empty container is a model file, but not a network */
    nsr_model_file *f = nsr_model_file_new();
    REQUIRE(f, "new");
    CHECK(nsr_model_from_file(&m, f, &err) && !m && !strcmp(err.message, "not an nsr network: no string metadata 'nsr.architecture'"),
          "empty container: %s", err.message);
    nsr_model_file_free(f);
    REQUIRE(!nsr_model_create(&m, &tiny, 1, &err), "%s", err.message);
    CHECK(nsr_model_save(m, "/nonexistent/model.nsr", &err) && one_line(err.message),
          "save into a missing folder: %s", err.message);
    nsr_model_free(m);
}

/* ---------------------------------------------------------------- fuzzing */


/* Loads bytes as a network; a success must give a model that runs. Returns 1 if it loaded. */
static int fuzz_one(const uint8_t *bytes, size_t size, int *bad) {
    nsr_error err;
    nsr_model_file *f = NULL;
    nsr_model *m = NULL;
    err.message[0] = 0;
    int ok = !nsr_model_file_load_memory(&f, bytes, size, "fuzz", &err) && !nsr_model_from_file(&m, f, &err);
    if (!ok && !one_line(err.message)) *bad = 1;
    if (ok) {
        nsr_image out;
        if (run_model(m, test_rand_below(2) ? NSR_SELECT_HARD : NSR_SELECT_SOFT, &out)) *bad = 2;
        else nsr_image_free(&out);
    }
    nsr_model_free(m);
    nsr_model_file_free(f);
    return ok;
}

/* Byte mutations of the encoded file with the checksum repaired, so that every later check of
 * the container and of the network loader is reached. */
static void test_fuzz_bytes(void) {
    nsr_error err;
    nsr_model_file *base = tiny_file();
    uint8_t *bytes = NULL;
    size_t size = 0;
    REQUIRE(base && !nsr_model_file_encode(base, &bytes, &size, &err), "encode");
    uint8_t *buf = malloc(size);
    REQUIRE(buf, "malloc");
    int loaded = 0, bad = 0, n = 3000;
    for (int iter = 0; iter < n && !bad; iter++) {
        memcpy(buf, bytes, size);
        int edits = 1 + (int)test_rand_below(4);
        for (int e = 0; e < edits; e++) {
            size_t at = test_rand_below(size - 4);
            switch (test_rand_below(4)) {
            case 0: buf[at] ^= (uint8_t)(1u << test_rand_below(8)); break;        /* a bit */
            case 1: buf[at] = (uint8_t)test_rand_u64(); break;                   /* a byte */
            case 2: buf[at] = (uint8_t)"\x00\x01\x7f\x80\xff"[test_rand_below(5)]; break;
            default: /* a float in the data: NaN, inf, or a large or tiny value */
                if (at + 4 < size - 4) {
                    const uint32_t specials[] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu, 1u};
                    uint32_t v = specials[test_rand_below(5)];
                    memcpy(buf + at, &v, 4);
                }
            }
        }
        uint32_t crc = test_crc32(buf, size - 4);
        for (int k = 0; k < 4; k++) buf[size - 4 + k] = (uint8_t)(crc >> (8 * k));
        loaded += fuzz_one(buf, size, &bad);
    }
    CHECK(!bad, "a mutated file gave %s", bad == 1 ? "a message that is not one line" : "a model that does not run");
    /* some mutations touch only weights and must load; most must not */
    CHECK(loaded > 0 && loaded < n, "%d of %d mutated files loaded", loaded, n);
    free(buf);
    free(bytes);
    nsr_model_file_free(base);
}

/* Random structural mutations with a known verdict: only the unchanged value of an
 * architecture field, a finite weight change or a reserved extra tensor may load. */
static void test_fuzz_structure(void) {
    nsr_model_file *base = tiny_file();
    REQUIRE(base, "tiny model file");
    const size_t nmeta = nsr_model_file_meta_count(base), nt = nsr_model_file_tensor_count(base);
    const int64_t values[] = {-1, 0, 1, 2, 3, 4, 8, 9, 64, 1024, 1025, 4096, INT32_MAX, INT64_MAX, INT64_MIN};
    const float floats[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e-30f, 3.0f};
    int wrong = 0;
    char why[300] = "";
    for (int iter = 0; iter < 2000 && !wrong; iter++) {
        mutation mu = {0};
        int expect_ok = 0;
        const char *key = nsr_model_file_meta_key(base, test_rand_below(nmeta));
        const nsr_model_tensor *t = nsr_model_file_tensor_at(base, test_rand_below(nt));
        int64_t old = 0;
        nsr_error err;
        switch (test_rand_below(7)) {
        case 0: mu.drop_key = key; break;
        case 1: mu.retype_key = key; break;
        case 2:
            mu.int_key = key;
            mu.int_value = values[test_rand_below(sizeof values / sizeof values[0])];
            expect_ok = !nsr_model_file_get_int(base, key, &old, &err) && old == mu.int_value;
            break;
        case 3: mu.drop_tensor = t->name; break;
        case 4: mu.reshape = t->name, expect_ok = t->ndim == 1; break;
        case 5:
            mu.poison = t->name, mu.poison_index = test_rand_u64();
            mu.poison_value = floats[test_rand_below(sizeof floats / sizeof floats[0])];
            expect_ok = isfinite(mu.poison_value);
            break;
        default:
            mu.extra = test_rand_below(2) ? "train.x" : "blocks.0.conv3.v";
            expect_ok = mu.extra[0] == 't';
        }
        const char *got = load_mutated(base, &mu, 0);
        if (expect_ok != !got[0] || (got[0] && (!one_line(got) || strncmp(got, "M: ", 3)))) {
            wrong = 1;
            snprintf(why, sizeof why, "iteration %d: expected %s, got \"%s\"", iter,
                     expect_ok ? "success" : "an error", got);
        }
    }
    CHECK(!wrong, "%s", why);
    nsr_model_file_free(base);
}

int main(void) {
    RUN(test_round_trip_nsr);
    RUN(test_round_trip_shared_denoise);
    RUN(test_round_trip_plain_x3);
    RUN(test_file_contents);
    RUN(test_messages);
    RUN(test_file_errors);
    RUN(test_fuzz_bytes);
    RUN(test_fuzz_structure);
    return test_summary();
}
