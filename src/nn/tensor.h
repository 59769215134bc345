/* tensor.h - named tensors inside one parameter block (private to libnsr).
 *
 * A model's parameters are one float allocation (llm.c style). Each tensor is a name, a shape
 * and an offset into that block; gradients and Adam moments are blocks of the same size, so one
 * offset finds a tensor's parameters, gradient and moments alike. This is also what the model
 * file format enumerates to save and restore a model. */
#ifndef NSR_TENSOR_H
#define NSR_TENSOR_H

#include <stddef.h>

#define ENG_NAME_MAX 40
#define ENG_MAX_DIMS 4

typedef struct eng_tensor {
    char name[ENG_NAME_MAX]; /* e.g. "head.v", "blocks.3.conv1.A" */
    int ndim;
    int shape[ENG_MAX_DIMS]; /* PyTorch order: (out, in, K, K) for kernels */
    size_t offset;           /* index of its first element in the block */
    size_t size;             /* number of elements, the product of shape */
} eng_tensor;

#endif
