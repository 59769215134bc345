/* fuzz_model.c - libFuzzer harness: the .nsr loader (docs/model-format.md).
 * Every input is loaded twice: as it is (a mutated file almost always fails its CRC-32, which
 * tests that check) and with the checksum fixed up, so that mutations reach the parser behind
 * it. A file that loads must encode back to the same bytes (the layout is canonical); a network
 * built from it runs once on a tiny image when it is small. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"

/* Networks up to this many parameters are run (a fuzzed file can describe a large one only by
 * holding its tensors, but running even those would slow every input down). */
#define MAX_RUN_PARAMS 20000

static void try_network(const nsr_model_file *f) {
    nsr_model *m;
    nsr_error err;
    if (nsr_model_from_file(&m, f, &err) != 0) return;
    const nsr_arch *a = nsr_model_arch(m);
    if (nsr_model_param_count(m) <= MAX_RUN_PARAMS && a->scale <= 4) {
        nsr_image in, out;
        FUZZ_ASSERT(nsr_image_create(&in, 5, 3, a->channels, 0, &err) == 0, "%s", err.message);
        for (size_t i = 0; i < (size_t)a->channels * 5 * 3; i++) in.data[i] = (float)(i % 7) / 6.0f;
        FUZZ_ASSERT(nsr_model_infer(m, &in, &out, NSR_SELECT_SOFT, &err) == 0, "infer: %s", err.message);
        FUZZ_ASSERT(out.width == 5 * a->scale && out.height == 3 * a->scale, "%dx%d out",
                    out.width, out.height);
        nsr_image_free(&in);
        nsr_image_free(&out);
    }
    nsr_model_free(m);
}

static void load(const uint8_t *data, size_t size) {
    nsr_model_file *f;
    nsr_error err;
    if (nsr_model_file_load_memory(&f, data, size, "fuzz", &err) != 0) return;
    uint8_t *bytes;
    size_t n;
    FUZZ_ASSERT(nsr_model_file_encode(f, &bytes, &n, &err) == 0, "encode: %s", err.message);
    FUZZ_ASSERT(n == size && !memcmp(bytes, data, size), "a loaded file encodes differently");
    free(bytes);
    try_network(f);
    nsr_model_file_free(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_one_thread();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load(data, size);
    if (size < 4) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    const uint32_t crc = (uint32_t)crc32_z(0, fixed, size - 4);
    for (int i = 0; i < 4; i++) fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    if (memcmp(fixed, data, size)) load(fixed, size);
    free(fixed);
    return 0;
}
