/* testdata.h - random test tensors for the C tests, drawn from the library's own counter-based
 * generator (src/base/rng.c) so that every test file has the same, reproducible source. */
#ifndef NSR_TEST_DATA_H
#define NSR_TEST_DATA_H

#include <stdlib.h>

#include "nsr.h"

static uint64_t test_rand_seed = 1;
static uint64_t test_rand_counter;

/* Uniform in (0, 1); the next value of the test file's stream. */
static inline double test_urand(void) {
    return nsr_rng_uniform(test_rand_seed, 0, test_rand_counter++);
}
/* n floats uniform in (lo, hi); the caller frees. */
static inline float *test_rand_buf(size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * test_urand());
    return x;
}
/* Raw 64-bit values and integers below n from the same stream (n = 0 gives 0). */
static inline uint64_t test_rand_u64(void) {
    return nsr_rng_u64(test_rand_seed, 0, test_rand_counter++);
}
static inline size_t test_rand_below(size_t n) { return n ? (size_t)(test_rand_u64() % n) : 0; }
static inline float *test_zero_buf(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* CRC-32 as docs/model-format.md defines it (the reflected 0xEDB88320 polynomial), written out
 * here rather than taken from zlib, so that the tests pin the documented algorithm and can
 * repair the checksum of a mutated model file. */
static inline uint32_t test_crc32(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

#endif
