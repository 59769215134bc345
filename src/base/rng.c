/* rng.c - counter-based random numbers: every value is a hash of (seed, stream, counter).
 *
 * Noise for pixel i of plane c must be the same on every machine and at any thread count
 * (NSR.md section 5: "from a fixed seed per image"), so there is no generator state to advance:
 * a stream key is derived from (seed, stream), and element `counter` of the stream is the
 * splitmix64 output for the state key + (counter + 1) * gamma, as if splitmix64 (Steele, Lea and
 * Flood, 2014) had been stepped counter + 1 times from that key. The integers and uniforms are
 * bit-identical everywhere; the normals go through libm's log and cos, whose rare last-bit
 * differences between libm builds would almost never survive rounding a noisy sample to float. */
#include <math.h>

#include "nsr.h"

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ull

/* splitmix64's output function (a variant of Stafford's Mix13): a bijection on 64 bits that
 * mixes every input bit into every output bit. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t nsr_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    /* Mixing the seed before adding the stream keeps (seed, stream) and (seed + 1, stream - 1)
     * apart; mixing the sum spreads nearby streams across the whole key space. */
    uint64_t key = mix64(mix64(seed) + (stream + 1) * GOLDEN_GAMMA);
    return mix64(key + (counter + 1) * GOLDEN_GAMMA);
}

double nsr_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    /* The top 53 bits, centred in their interval: (k + 0.5) / 2^53, never 0 or 1. */
    return ((double)(nsr_rng_u64(seed, stream, counter) >> 11) + 0.5) * 0x1p-53;
}

double nsr_rng_normal(uint64_t seed, uint64_t stream, uint64_t counter) {
    /* Box-Muller: sqrt(-2 ln u1) cos(2 pi u2) is standard normal for independent uniforms
     * u1, u2 in (0, 1). The sine half is dropped so each normal has its own two counters. */
    double u1 = nsr_rng_uniform(seed, stream, 2 * counter);
    double u2 = nsr_rng_uniform(seed, stream, 2 * counter + 1);
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}
