/* memory.c - large allocations backed by huge pages.
 *
 * The network's activations, the output image and the kernels' scratch are hundreds of MB,
 * touched first by the layers that fill them: in 4 KiB pages that is one page fault per 4 KiB,
 * and on this project's VM a fault costs about 10 us (x2 of a 1000x750 photo: 48,000 faults,
 * 0.5 s of system time against 1.3 s of computing). Transparent huge pages, which Linux gives
 * madvise'd memory in the default "madvise" mode, fault 2 MiB at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/memory.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define SMALL_PAGE ((size_t)4096)

void mem_advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    if (!p || bytes < 2 * HUGE_PAGE) return; /* a small block would not hold a whole one */
    /* the pages the block covers; the allocator's own header in the first one is left as it
     * is by madvise, which changes only how later faults are served */
    const uintptr_t start = (uintptr_t)p / SMALL_PAGE * SMALL_PAGE;
    const uintptr_t end = ((uintptr_t)p + bytes) / SMALL_PAGE * SMALL_PAGE;
    madvise((void *)start, end - start, MADV_HUGEPAGE); /* a refusal only costs speed */
#else
    (void)p, (void)bytes;
#endif
}

void *mem_calloc_large(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (p) mem_advise_huge(p, n * size); /* calloc checked n * size */
    return p;
}
