/* thread_scratch.c - per-thread scratch blocks (thread_scratch.h), kept in a pthread key whose
 * destructor frees them when the thread ends. */
#include <pthread.h>
#include <stdlib.h>

#include "base/memory.h"
#include "kernels/thread_scratch.h"

typedef struct scratch_cache {
    float *block[SCRATCH_SLOTS];
    size_t floats[SCRATCH_SLOTS];
} scratch_cache;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_cache_free(void *p) {
    scratch_cache *c = p;
    for (int s = 0; s < SCRATCH_SLOTS; s++) free(c->block[s]);
    free(c);
}
static void scratch_key_create(void) {
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_cache_free) == 0;
}

/* A 64-byte aligned block of n floats (n > 0), or NULL: the AVX2 kernels' aligned loads and
 * cache-line-sized pieces. aligned_alloc wants a multiple of the alignment. */
static float *alloc_floats(size_t n) {
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    mem_advise_huge(p, bytes);
    return p;
}

float *thread_scratch(int slot, size_t n) {
    pthread_once(&scratch_once, scratch_key_create);
    scratch_cache *c = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
    if (!c) { /* the thread's first call */
        if (!(c = calloc(1, sizeof *c))) return NULL;
        if (!scratch_key_ok || pthread_setspecific(scratch_key, c)) {
            free(c);
            return NULL;
        }
    }
    if (c->floats[slot] < n) {
        free(c->block[slot]);
        c->block[slot] = alloc_floats(n);
        c->floats[slot] = c->block[slot] ? n : 0;
    }
    return c->block[slot];
}
