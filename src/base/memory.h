/* memory.h - large allocations (internal to the library). */
#ifndef NSR_BASE_MEMORY_H
#define NSR_BASE_MEMORY_H

#include <stddef.h>

/* calloc(n, size), whose pages, when the block is large, the kernel may back with huge pages
 * (transparent huge pages, where the system allows them on request); freed with free(). */
void *mem_calloc_large(size_t n, size_t size);

/* Asks the kernel to back the block at p (bytes long, from malloc and its kin) with huge pages
 * as it is first touched; nothing happens where that is not possible. */
void mem_advise_huge(void *p, size_t bytes);

#endif
