/* thread_scratch.h - scratch memory the calling thread keeps between calls (thread_scratch.c),
 * for the fast convolutions. */
#ifndef NSR_THREAD_SCRATCH_H
#define NSR_THREAD_SCRATCH_H

#include <stddef.h>

/* Slot's block of at least n floats (64-byte aligned, contents left from before), or NULL when
 * out of memory; freed when the thread ends. A training step or a tiled inference runs the
 * same convolutions over and over: allocated afresh each call, their megabytes of scratch made
 * the kernel map and clear pages every time (both threads waiting on it: 6% of a 64 -> 64 conv
 * on 2 threads). Each user has its own slot, so one may hold its block while it calls another
 * (the weight gradient's plan while the input gradient runs). Not cleared: every float the
 * kernels read is written first (clearing megabytes per call would cost more than some
 * convolutions). */
enum {
    SCRATCH_WINO_KERNELS, SCRATCH_WINO, SCRATCH_WGRAD_PIECES, SCRATCH_WGRAD,
    SCRATCH_DIRECT_KERNELS, SCRATCH_DIRECT_BANDS, SCRATCH_DIRECT_WGRAD, SCRATCH_SLOTS
};
float *thread_scratch(int slot, size_t n);

#endif
