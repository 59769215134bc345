/* fuzz.h - what the libFuzzer harnesses share: a check that aborts (libFuzzer then keeps the
 * input as a crash), and running the library on one thread (faster per input, and a finding
 * replays the same way). */
#ifndef NSR_FUZZ_H
#define NSR_FUZZ_H

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "nsr.h"

#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static inline void fuzz_one_thread(void) { omp_set_num_threads(1); }

#endif
