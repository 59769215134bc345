/* test_model_file.c - the .nsr container (src/nn/model_file.c, docs/model-format.md): round trips,
 * one expected message per broken field, truncation at every length, and a fuzz loop of mutated
 * files (with and without the checksum repaired, so that the structural checks are reached). */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "testdata.h"
#include "nsr.h"

/* ---------------------------------------------------------------- helpers */


static void put_le(uint8_t *p, uint64_t v, int width) {
    for (int i = 0; i < width; i++) p[i] = (uint8_t)(v >> (8 * i));
}
/* Rewrites the trailing CRC-32 so that only the structural checks can object. */
static void fix_checksum(uint8_t *b, size_t n) {
    if (n >= 4) put_le(b + n - 4, test_crc32(b, n - 4), 4);
}
static int starts_with(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

/* The small file whose layout the table in docs/model-format.md walks through:
 *   metadata "a" = int 7, "s" = string "hi"; tensors "t" 2x3 (0..5), "u" 5 (10..14). */
static nsr_model_file *small_model(void) {
    nsr_model_file *f = nsr_model_file_new();
    nsr_error err;
    const float t[6] = {0, 1, 2, 3, 4, 5}, u[5] = {10, 11, 12, 13, 14};
    int dt[2] = {2, 3}, du[1] = {5};
    if (!f || nsr_model_file_set_int(f, "a", 7, &err) || nsr_model_file_set_string(f, "s", "hi", &err) ||
        nsr_model_file_add_tensor(f, "t", 2, dt, t, &err) ||
        nsr_model_file_add_tensor(f, "u", 1, du, u, &err)) {
        nsr_model_file_free(f);
        return NULL;
    }
    return f;
}
#define SMALL_SIZE 228 /* header..directory 130, pad to 160, t 160..184, u 192..212, crc at 224 */

static int small_bytes(uint8_t **bytes, size_t *size) {
    nsr_error err;
    nsr_model_file *f = small_model();
    int rc = f ? nsr_model_file_encode(f, bytes, size, &err) : -1;
    nsr_model_file_free(f);
    return rc;
}

/* Loads bytes; on failure checks the message is one non-empty line starting with the label and
 * copies it to msg. Returns the load result. */
static int try_load(const uint8_t *bytes, size_t size, const char *label, char *msg, size_t msg_size) {
    nsr_model_file *f = NULL;
    nsr_error err;
    err.message[0] = 0;
    int rc = nsr_model_file_load_memory(&f, bytes, size, label, &err);
    snprintf(msg, msg_size, "%s", rc ? err.message : "");
    nsr_model_file_free(f);
    return rc;
}

/* ---------------------------------------------------------------- round trip */

static int same_bits(const void *a, const void *b, size_t n) { return !memcmp(a, b, n); }

static void test_round_trip(void) {
    nsr_error err;
    nsr_model_file *f = nsr_model_file_new();
    REQUIRE(f, "new");
    const char *cmdline = "nsr train -m \"x.nsr\" --blocks 16\twith a tab,\nnewline and UTF-8 \xc3\xa9";
    struct { const char *key; double v; } floats[] = {
        {"sigma", 25.5}, {"tiny", 4.9406564584124654e-324}, {"negzero", -0.0}, {"inf", INFINITY},
        {"nan", NAN}, {"big", 1.7976931348623157e308}};
    struct { const char *key; int64_t v; } ints[] = {
        {"nsr.blocks", 16}, {"min", INT64_MIN}, {"max", INT64_MAX}, {"neg", -5}, {"zero", 0}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        REQUIRE(!nsr_model_file_set_int(f, ints[i].key, ints[i].v, &err), "%s", err.message);
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        REQUIRE(!nsr_model_file_set_float(f, floats[i].key, floats[i].v, &err), "%s", err.message);
    REQUIRE(!nsr_model_file_set_string(f, "task", "denoise", &err), "%s", err.message);
    REQUIRE(!nsr_model_file_set_string(f, "empty", "", &err), "%s", err.message);
    REQUIRE(!nsr_model_file_set_string(f, "train.command", cmdline, &err), "%s", err.message);
    /* Setting again replaces in place (value and type), keeping the position. */
    REQUIRE(!nsr_model_file_set_string(f, "zero", "was an int", &err), "%s", err.message);
    REQUIRE(!nsr_model_file_set_int(f, "nsr.blocks", 32, &err), "%s", err.message);
    size_t n_meta = nsr_model_file_meta_count(f);
    CHECK(n_meta == 14, "meta count %zu", n_meta);

    int shapes[][5] = {/* ndim, dims */
                       {4, 8, 3, 3, 3}, {1, 8}, {2, 4, 8}, {1, 1}, {3, 2, 3, 4}, {4, 64, 64, 3, 3}};
    const char *names[] = {"head.v", "head.b", "side.w", "one", "cube", "body.0.conv1.v"};
    enum { NT = 6 };
    float *data[NT];
    for (int i = 0; i < NT; i++) {
        size_t n = 1;
        for (int d = 0; d < shapes[i][0]; d++) n *= (size_t)shapes[i][1 + d];
        data[i] = malloc(n * sizeof(float));
        REQUIRE(data[i], "malloc");
        for (size_t k = 0; k < n; k++) {
            uint32_t bits = (uint32_t)test_rand_u64();
            memcpy(&data[i][k], &bits, 4); /* any bit pattern, NaNs included, must survive */
        }
        REQUIRE(!nsr_model_file_add_tensor(f, names[i], shapes[i][0], &shapes[i][1], data[i], &err),
                "%s", err.message);
        data[i][0] = 42; /* add_tensor copied: later changes to the caller's buffer do not leak in */
    }

    char dir[] = "/tmp/nsr-test-model-file-XXXXXX", path[64];
    REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/model.nsr", dir);
    REQUIRE(!nsr_model_file_save(f, path, &err), "%s", err.message);
    nsr_model_file *g = NULL;
    int loaded = nsr_model_file_load(&g, path, &err);
    uint8_t *file = NULL, *again = NULL;
    size_t file_size = 0, again_size = 0;
    int read = nsr_read_file(path, &file, &file_size, &err);
    unlink(path);
    rmdir(dir);
    if (loaded || read) {
        CHECK(0, "%s", err.message);
        goto done;
    }
    CHECK(file_size % 32 == 4, "file size %zu: the checksum sits on a 32-byte boundary", file_size);

    CHECK(nsr_model_file_meta_count(g) == n_meta, "meta count %zu", nsr_model_file_meta_count(g));
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = nsr_model_file_meta_key(f, i), *k2 = nsr_model_file_meta_key(g, i);
        CHECK(k2 && !strcmp(k, k2), "key %zu: %s vs %s", i, k, k2 ? k2 : "(null)");
        CHECK(nsr_model_file_meta_type(g, k) == nsr_model_file_meta_type(f, k), "type of %s", k);
    }
    CHECK(nsr_model_file_meta_key(g, n_meta) == NULL, "key past the end");
    int64_t iv;
    double fv;
    const char *sv;
    for (size_t i = 1; i < sizeof ints / sizeof ints[0] - 1; i++)
        CHECK(!nsr_model_file_get_int(g, ints[i].key, &iv, &err) && iv == ints[i].v, "%s", ints[i].key);
    CHECK(!nsr_model_file_get_int(g, "nsr.blocks", &iv, &err) && iv == 32, "replaced int");
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        CHECK(!nsr_model_file_get_float(g, floats[i].key, &fv, &err) && same_bits(&fv, &floats[i].v, 8),
              "%s", floats[i].key);
    CHECK(!nsr_model_file_get_string(g, "train.command", &sv, &err) && !strcmp(sv, cmdline), "command");
    CHECK(!nsr_model_file_get_string(g, "empty", &sv, &err) && !strcmp(sv, ""), "empty");
    CHECK(!nsr_model_file_get_string(g, "zero", &sv, &err) && !strcmp(sv, "was an int"), "retyped");
    CHECK(!nsr_model_file_get_string(g, "task", &sv, &err) && !strcmp(sv, "denoise"), "task");

    CHECK(nsr_model_file_tensor_count(g) == NT, "tensor count %zu", nsr_model_file_tensor_count(g));
    for (int i = 0; i < NT; i++) {
        const nsr_model_tensor *a = nsr_model_file_tensor_at(f, (size_t)i);
        const nsr_model_tensor *b = nsr_model_file_tensor_at(g, (size_t)i);
        REQUIRE(a && b && !strcmp(b->name, names[i]), "tensor %d name", i);
        CHECK(b->ndim == shapes[i][0] && b->count == a->count, "tensor %s shape", names[i]);
        for (int d = 0; d < 4; d++)
            CHECK(b->dims[d] == (d < b->ndim ? shapes[i][1 + d] : 1), "tensor %s dim %d", names[i], d);
        CHECK(same_bits(a->data, b->data, a->count * 4), "tensor %s data", names[i]);
        CHECK(a->data[0] != 42, "tensor %s was not copied", names[i]);
        const float *p;
        CHECK(!nsr_model_file_get_tensor(g, names[i], shapes[i][0], &shapes[i][1], &p, &err) && p == b->data,
              "get %s: %s", names[i], err.message);
        CHECK(nsr_model_file_find_tensor(g, names[i]) == b, "find %s", names[i]);
    }
    CHECK(nsr_model_file_tensor_at(g, NT) == NULL, "tensor past the end");
    /* Canonical: a loaded file encodes to exactly its own bytes. */
    CHECK(!nsr_model_file_encode(g, &again, &again_size, &err) && again_size == file_size &&
              same_bits(again, file, file_size),
          "re-encoding changed the bytes");
done:
    free(file);
    free(again);
    for (int i = 0; i < NT; i++) free(data[i]);
    nsr_model_file_free(f);
    nsr_model_file_free(g);
}

static void test_empty_file(void) {
    nsr_error err;
    nsr_model_file *f = nsr_model_file_new(), *g = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    REQUIRE(f && !nsr_model_file_encode(f, &b, &n, &err), "encode");
    CHECK(n == 36, "an empty container is header, padding to 32 and the checksum: %zu bytes", n);
    CHECK(!nsr_model_file_load_memory(&g, b, n, NULL, &err), "%s", err.message);
    CHECK(g && nsr_model_file_meta_count(g) == 0 && nsr_model_file_tensor_count(g) == 0, "empty");
    free(b);
    nsr_model_file_free(f);
    nsr_model_file_free(g);
}

/* ---------------------------------------------------------------- API errors */

static void expect_error(int rc, const nsr_error *err, const char *want, int line) {
    if (rc == 0)
        check_fail_at(__FILE__, line, "succeeded, expected \"%s\"", want);
    else if (!strstr(err->message, want))
        check_fail_at(__FILE__, line, "message \"%s\" lacks \"%s\"", err->message, want);
}
#define EXPECT_ERROR(call, want) expect_error((call), &err, (want), __LINE__)

static void test_api_errors(void) {
    nsr_error err;
    nsr_model_file *f = small_model();
    REQUIRE(f, "small model");
    float x[4] = {0};
    int d1[1] = {4}, d0[2] = {2, 0}, dneg[1] = {-3}, dbig[4] = {INT_MAX, INT_MAX, INT_MAX, INT_MAX};
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    EXPECT_ERROR(nsr_model_file_set_int(f, "", 1, &err), "model file: metadata has an empty key");
    EXPECT_ERROR(nsr_model_file_set_int(f, "with space", 1, &err), "byte 0x20 at position 4");
    EXPECT_ERROR(nsr_model_file_set_float(f, "tab\there", 1, &err), "byte 0x09");
    EXPECT_ERROR(nsr_model_file_set_string(f, long_key, "v", &err), "key of 299 bytes (at most 255)");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "t", 1, d1, x, &err), "duplicate tensor name 't'");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "", 1, d1, x, &err), "tensor has an empty name");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "v", 0, d1, x, &err), "tensor 'v' has 0 dimensions (1 to 4 allowed)");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "v", 5, dbig, x, &err), "5 dimensions");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "v", 2, d0, x, &err), "tensor 'v' dimension 1 is 0");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "v", 1, dneg, x, &err), "dimension 0 is -3");
    EXPECT_ERROR(nsr_model_file_add_tensor(f, "v", 4, dbig, x, &err), "too large");
    CHECK(nsr_model_file_tensor_count(f) == 2 && nsr_model_file_meta_count(f) == 2, "failed calls added nothing");

    int64_t iv;
    double fv;
    const char *sv;
    const float *p;
    int d23[2] = {2, 3}, d32[2] = {3, 2}, d6[1] = {6};
    EXPECT_ERROR(nsr_model_file_get_int(f, "nope", &iv, &err), "model file: no metadata 'nope'");
    EXPECT_ERROR(nsr_model_file_get_string(f, "a", &sv, &err), "metadata 'a' is an integer, not a string");
    EXPECT_ERROR(nsr_model_file_get_float(f, "a", &fv, &err), "metadata 'a' is an integer, not a float");
    EXPECT_ERROR(nsr_model_file_get_int(f, "s", &iv, &err), "metadata 's' is a string, not an integer");
    CHECK(nsr_model_file_meta_type(f, "nope") == NSR_META_NONE && nsr_model_file_meta_type(f, "s") == NSR_META_STRING,
          "meta_type");
    EXPECT_ERROR(nsr_model_file_get_tensor(f, "w", 2, d23, &p, &err), "model file: no tensor 'w'");
    EXPECT_ERROR(nsr_model_file_get_tensor(f, "t", 2, d32, &p, &err), "tensor 't' has shape 2x3, expected 3x2");
    EXPECT_ERROR(nsr_model_file_get_tensor(f, "t", 1, d6, &p, &err), "has shape 2x3, expected 6");
    CHECK(nsr_model_file_find_tensor(f, "w") == NULL, "find missing");

    nsr_model_file *g = NULL;
    EXPECT_ERROR(nsr_model_file_load(&g, "/nonexistent/dir/m.nsr", &err), "/nonexistent/dir/m.nsr: cannot open");
    CHECK(g == NULL, "failed load leaves NULL");
    EXPECT_ERROR(nsr_model_file_save(f, "/nonexistent/dir/m.nsr", &err), "/nonexistent/dir/m.nsr");
    nsr_model_file_free(f);
}

/* ---------------------------------------------------------------- one broken field at a time */

/* Patches of the small file (offsets as in docs/model-format.md), checksum repaired after. */
static const struct patch {
    size_t offset;
    int width;
    uint64_t value;
    const char *want;
} patches[] = {
    {0, 1, 'X', "small.nsr: not an nsr model file (it does not start with \"NSRM\")"},
    {4, 4, 2, "small.nsr: unsupported model file format version 2 (this nsr reads version 1); a newer nsr wrote it"},
    {4, 4, 0, "unsupported model file format version 0 (this nsr reads version 1)"},
    {8, 4, UINT32_MAX, "small.nsr: truncated: 4294967295 metadata entries and 2 tensors need at least 55834574929 bytes, file has 228 bytes (or the counts are corrupt)"},
    {12, 4, UINT32_MAX, "2 metadata entries and 4294967295 tensors need at least"},
    {12, 4, 6, "2 metadata entries and 6 tensors need at least 268 bytes"},
    {16, 4, UINT32_MAX, "small.nsr: metadata entry 0 has a key of 4294967295 bytes (at most 255)"},
    {16, 4, 0, "small.nsr: metadata entry 0 has an empty key"},
    {20, 1, ' ', "metadata entry 0 has a key with byte 0x20 at position 0"},
    {21, 4, 9, "small.nsr: metadata 'a' has unknown type 9 (1 = int, 2 = float, 3 = string)"},
    {37, 1, 'a', "small.nsr: duplicate metadata key 'a'"},
    {42, 4, UINT32_MAX, "small.nsr: truncated: metadata 's' needs 4294967295 bytes at offset 46, file has 228 bytes"},
    {46, 1, 0, "small.nsr: metadata 's': string value has a NUL byte at position 0"},
    {48, 4, 1000, "tensor entry 0 has a name of 1000 bytes"},
    {53, 4, 2, "small.nsr: tensor 't' has unknown dtype 2 (this nsr reads 1 = f32)"},
    {57, 4, 0, "small.nsr: tensor 't' has 0 dimensions (1 to 4 allowed)"},
    {57, 4, 5, "tensor 't' has 5 dimensions"},
    {61, 8, 0, "small.nsr: tensor 't' dimension 0 is 0 (must be 1..2147483647)"},
    {69, 8, UINT64_MAX, "tensor 't' dimension 1 is 18446744073709551615"},
    {69, 8, 4, "small.nsr: tensor 't' has byte size 24, which does not match its f32 shape 2x4"},
    {85, 8, 20, "tensor 't' has byte size 20, which does not match its f32 shape 2x3"},
    {85, 8, UINT64_MAX, "tensor 't' has byte size 18446744073709551615, which does not match"},
    {97, 1, 't', "small.nsr: duplicate tensor name 't'"},
    {77, 8, 161, "small.nsr: tensor 't' offset 161 is not a multiple of 32"},
    {77, 8, 128, "small.nsr: tensor 't' at offset 128 overlaps the directory (which ends at 130)"},
    {114, 8, 160, "small.nsr: tensor 'u' at offset 160 overlaps tensor 't' (which ends at 184)"},
    {114, 8, 224, "small.nsr: tensor 'u' at offset 224 leaves a gap (expected offset 192)"},
    {114, 8, UINT64_MAX - 31, "leaves a gap"},
    {140, 1, 1, "small.nsr: padding byte at offset 140 is 0x01, not zero"},
    {190, 1, 0xff, "padding byte at offset 190 is 0xff"},
    {223, 1, 7, "padding byte at offset 223"},
};

static void test_broken_fields(void) {
    uint8_t *good;
    size_t n;
    char msg[512];
    REQUIRE(!small_bytes(&good, &n), "encode");
    REQUIRE(n == SMALL_SIZE, "the small file is %zu bytes, the documented layout says %d", n, SMALL_SIZE);
    /* Byte for byte what the worked example in docs/model-format.md shows. */
    static const uint8_t doc[130] = {
        'N', 'S', 'R', 'M', 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0,  /* magic, version, counts */
        1, 0, 0, 0, 'a', 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,    /* a = int 7 */
        1, 0, 0, 0, 's', 3, 0, 0, 0, 2, 0, 0, 0, 'h', 'i',      /* s = string "hi" */
        1, 0, 0, 0, 't', 1, 0, 0, 0, 2, 0, 0, 0,                /* t: f32, ndim 2 */
        2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,         /* dims 2, 3 */
        160, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0,      /* offset, size */
        1, 0, 0, 0, 'u', 1, 0, 0, 0, 1, 0, 0, 0,                /* u: f32, ndim 1 */
        5, 0, 0, 0, 0, 0, 0, 0,                                 /* dim 5 */
        192, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0};     /* offset, size */
    CHECK(!memcmp(good, doc, sizeof doc), "header and directory differ from the documented bytes");
    float t2;
    memcpy(&t2, good + 160 + 8, 4);
    CHECK(t2 == 2 && good[190] == 0 && good[223] == 0, "data and padding where documented");
    CHECK(test_crc32((const uint8_t *)"123456789", 9) == 0xcbf43926u, "the test's CRC-32 is the standard one");
    CHECK(test_crc32(good, 224) == (uint32_t)(good[224] | good[225] << 8 | good[226] << 16 | (uint32_t)good[227] << 24),
          "stored checksum is the documented CRC-32");
    CHECK(!try_load(good, n, "small.nsr", msg, sizeof msg), "the unbroken file: %s", msg);
    uint8_t *b = malloc(n + 32);
    REQUIRE(b, "malloc");
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        const struct patch *p = &patches[i];
        memcpy(b, good, n);
        put_le(b + p->offset, p->value, p->width);
        fix_checksum(b, n);
        if (try_load(b, n, "small.nsr", msg, sizeof msg) == 0)
            CHECK(0, "patch at %zu loaded, expected \"%s\"", p->offset, p->want);
        else
            CHECK(strstr(msg, p->want), "patch at %zu: \"%s\" lacks \"%s\"", p->offset, msg, p->want);
    }
    /* The checksum itself: a flipped data bit, a flipped checksum bit. */
    const size_t flips[] = {170, 225};
    for (size_t i = 0; i < 2; i++) {
        memcpy(b, good, n);
        b[flips[i]] ^= 0x10;
        CHECK(try_load(b, n, "small.nsr", msg, sizeof msg) && !strcmp(msg, "small.nsr: checksum mismatch (file is corrupt)"),
              "flip at %zu: \"%s\"", flips[i], msg);
    }
    /* Trailing garbage, even with a checksum that covers it. */
    memcpy(b, good, n - 4);
    memset(b + n - 4, 0, 32);
    fix_checksum(b, n + 32);
    CHECK(try_load(b, n + 32, "small.nsr", msg, sizeof msg) &&
              !strcmp(msg, "small.nsr: 32 bytes of trailing data (the model ends at offset 228)"),
          "trailing: \"%s\"", msg);
    free(b);
    free(good);
}

static void test_truncated_everywhere(void) {
    uint8_t *good;
    size_t n;
    char msg[512];
    REQUIRE(!small_bytes(&good, &n), "encode");
    for (size_t len = 0; len < n; len++) {
        /* An exact-size copy, so that the sanitizer sees any read past the end. */
        uint8_t *b = malloc(len ? len : 1);
        REQUIRE(b, "malloc");
        memcpy(b, good, len);
        int rc = try_load(len ? b : NULL, len, "small.nsr", msg, sizeof msg);
        free(b);
        CHECK(rc && starts_with(msg, "small.nsr: truncated: "), "length %zu: \"%s\"", len, msg);
    }
    CHECK(try_load(good, 200, "small.nsr", msg, sizeof msg) &&
              !strcmp(msg, "small.nsr: truncated: tensor 'u' needs 20 bytes at offset 192, file has 200 bytes"),
          "\"%s\"", msg);
    CHECK(try_load(good, 220, "small.nsr", msg, sizeof msg) &&
              !strcmp(msg, "small.nsr: truncated: padding needs 12 bytes at offset 212, file has 220 bytes"),
          "\"%s\"", msg);
    free(good);
}

/* ---------------------------------------------------------------- fuzz */

/* Values that sit on the edges of every check: counts, lengths, dims, offsets. */
static uint64_t extreme(size_t n) {
    const uint64_t v[] = {0, 1, 2, 3, 4, 5, 31, 32, 33, 255, 256, 0x7fffffff, 0x80000000,
                          0xfffffffe, 0xffffffff, 0x100000000ull, UINT64_MAX, UINT64_MAX - 31,
                          1ull << 63, n, n - 4, n + 1, n / 2};
    return v[test_rand_below(sizeof v / sizeof v[0])];
}
/* Where the small file keeps its u32 and u64 fields (counts, lengths, types, dims, offsets). */
static const size_t small_u32[] = {4, 8, 12, 16, 21, 33, 38, 42, 48, 53, 57, 93, 98, 102};
static const size_t small_u64[] = {25, 61, 69, 77, 85, 106, 114, 122};

/* Applies one random mutation to b[0..*n) (capacity cap) in place. */
static void mutate(uint8_t *b, size_t *n, size_t cap, int small) {
    size_t len = *n, at = test_rand_below(len);
    switch (test_rand_below(small ? 9 : 8)) {
    case 0: /* flip a few bits */
        for (int k = 1 + (int)test_rand_below(4); k > 0 && len; k--) b[test_rand_below(len)] ^= (uint8_t)(1u << test_rand_below(8));
        break;
    case 1: /* a random byte */
        if (len) b[at] = (uint8_t)test_rand_u64();
        break;
    case 2: { /* insert bytes */
        size_t k = 1 + test_rand_below(8);
        if (len + k > cap) break;
        memmove(b + at + k, b + at, len - at);
        for (size_t i = 0; i < k; i++) b[at + i] = (uint8_t)test_rand_u64();
        *n = len + k;
        break;
    }
    case 3: { /* delete bytes */
        size_t k = 1 + test_rand_below(8);
        if (at + k > len) k = len - at;
        memmove(b + at, b + at + k, len - at - k);
        *n = len - k;
        break;
    }
    case 4: /* truncate */
        *n = test_rand_below(len + 1);
        break;
    case 5: /* an extreme u32 anywhere */
        if (len >= 4) put_le(b + test_rand_below(len - 3), extreme(len), 4);
        break;
    case 6: /* an extreme u64 anywhere */
        if (len >= 8) put_le(b + test_rand_below(len - 7), extreme(len), 8);
        break;
    case 7: { /* copy a chunk over another place */
        size_t from = test_rand_below(len), k = 1 + test_rand_below(16);
        if (from + k <= len && at + k <= len) memmove(b + at, b + from, k);
        break;
    }
    default: /* an extreme value in a real length, count or offset field */
        if (test_rand_below(2)) {
            size_t o = small_u32[test_rand_below(sizeof small_u32 / sizeof small_u32[0])];
            if (o + 4 <= len) put_le(b + o, extreme(len), 4);
        } else {
            size_t o = small_u64[test_rand_below(sizeof small_u64 / sizeof small_u64[0])];
            if (o + 8 <= len) put_le(b + o, extreme(len), 8);
        }
        break;
    }
}

/* Distinct messages with numbers and quoted names blanked: how many different checks fired. */
enum { MAX_KINDS = 64 };
static char kinds[MAX_KINDS][160];
static int n_kinds;
static void note_kind(const char *msg) {
    char k[160];
    size_t j = 0;
    for (const char *p = msg; *p && j + 2 < sizeof k; p++) {
        if (*p >= '0' && *p <= '9') {
            while (isalnum((unsigned char)p[1])) p++; /* 0x1f, 2x3x3 */
            k[j++] = '#';
        } else if (*p == '\'' && strchr(p + 1, '\'')) {
            p = strchr(p + 1, '\'');
            k[j++] = '*';
        } else {
            k[j++] = *p;
        }
    }
    k[j] = 0;
    for (int i = 0; i < n_kinds; i++)
        if (!strcmp(kinds[i], k)) return;
    if (n_kinds < MAX_KINDS) strcpy(kinds[n_kinds++], k);
}

static void test_fuzz(void) {
    test_rand_seed = 20240601, test_rand_counter = 0;
    nsr_error err;
    uint8_t *base[2];
    size_t base_size[2];
    REQUIRE(!small_bytes(&base[0], &base_size[0]), "encode small");
    /* A second base with every metadata type and a 4-D tensor. */
    nsr_model_file *m = small_model();
    float w[2 * 3 * 2 * 2];
    int dw[4] = {2, 3, 2, 2};
    for (int i = 0; i < 24; i++) w[i] = (float)i / 7;
    REQUIRE(m && !nsr_model_file_set_float(m, "sigma", 25, &err) &&
                !nsr_model_file_set_string(m, "nsr.task", "denoise", &err) &&
                !nsr_model_file_add_tensor(m, "body.0.conv1.v", 4, dw, w, &err) &&
                !nsr_model_file_encode(m, &base[1], &base_size[1], &err),
            "second base");
    nsr_model_file_free(m);

    enum { ROUNDS = 100000, SLACK = 64 };
    long loaded = 0, by_checksum = 0, structural = 0, structural_repaired = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int which = round & 1;
        size_t n = base_size[which], cap = n + SLACK;
        uint8_t *work = malloc(cap);
        REQUIRE(work, "malloc");
        memcpy(work, base[which], n);
        for (int k = 1 + (int)test_rand_below(3); k > 0; k--) mutate(work, &n, cap, which == 0);
        int repaired = test_rand_below(2);
        if (repaired) fix_checksum(work, n);
        /* Exactly n bytes, so that any read past the end is an AddressSanitizer report. */
        uint8_t *b = malloc(n ? n : 1);
        REQUIRE(b, "malloc");
        memcpy(b, work, n);
        free(work);
        nsr_model_file *f = NULL;
        err.message[0] = 0;
        if (nsr_model_file_load_memory(&f, n ? b : NULL, n, "fuzz.nsr", &err) == 0) {
            /* Whatever loads is canonical: it encodes back to the very same bytes. */
            uint8_t *again = NULL;
            size_t again_size = 0;
            CHECK(!nsr_model_file_encode(f, &again, &again_size, &err) && again_size == n &&
                      !memcmp(again, b, n),
                  "round %d: a file that loaded does not re-encode to itself", round);
            free(again);
            loaded++;
        } else {
            CHECK(f == NULL, "round %d: failure left a file", round);
            CHECK(starts_with(err.message, "fuzz.nsr: ") && strlen(err.message) > 10 &&
                      !strchr(err.message, '\n'),
                  "round %d: message \"%s\"", round, err.message);
            note_kind(err.message);
            if (strstr(err.message, "checksum mismatch"))
                by_checksum++;
            else {
                structural++;
                structural_repaired += repaired;
            }
        }
        nsr_model_file_free(f);
        free(b);
    }
    printf("# fuzz: %d mutated files: %ld loaded, %ld checksum mismatches, %ld structural (%ld with the checksum repaired), %d kinds of message\n",
           ROUNDS, loaded, by_checksum, structural, structural_repaired, n_kinds);
    /* Structure is checked before the checksum, so most mutations fail structurally; those that
     * touch only values (tensor data, strings) must reach the checksum; and the mutations must
     * reach most of the loader's distinct checks, not just the first few. */
    CHECK(structural_repaired > ROUNDS / 4, "only %ld structural rejections with repaired checksums", structural_repaired);
    CHECK(loaded > ROUNDS / 100 && by_checksum > ROUNDS / 100, "loaded %ld, checksum %ld", loaded, by_checksum);
    CHECK(n_kinds >= 20, "the mutations reached only %d kinds of message", n_kinds);
    free(base[0]);
    free(base[1]);
}

int main(void) {
    test_rand_seed = 1, test_rand_counter = 0;
    RUN(test_round_trip);
    RUN(test_empty_file);
    RUN(test_api_errors);
    RUN(test_broken_fields);
    RUN(test_truncated_everywhere);
    RUN(test_fuzz);
    return test_summary();
}
