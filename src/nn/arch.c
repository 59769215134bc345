/* arch.c - the fields of nsr_arch in one table: what the model file calls them, what the command
 * line calls them, their ranges, defaults and help. The loader, nsr_arch_check, `nsr new`,
 * `nsr train` and `nsr info` all read it, so that a field is added or changed in one place. */
#include <stddef.h>

#include "nn/engine.h"

#define MAX_PARAMS ((size_t)1 << 31)

static const nsr_arch_field fields[] = {
    {"blocks", "nsr.blocks", "blocks", "B", "blocks", 1, 1024, 16, 0, 0, "residual blocks"},
    {"features", "nsr.features", "features", "F", "features", 1, 4096, 32, 0, 0,
     "channels between blocks"},
    {"width_mult", "nsr.width_mult", "wm", "W", "width multiplier", 1, 64, 4, 0, 0,
     "width multiplier: a block's hidden layer has F*W channels"},
    {"groups", "nsr.groups", "groups", "K", "groups", 1, 64, 4, 0, 0,
     "sparsity groups; 1 is the plain network"},
    {"cardinals", "nsr.cardinals", "cardinals", "D", "cardinals", 1, 4096, 16, 0, 1,
     "cardinals, dividing F; ignored when K = 1"},
    {"scale", "nsr.scale", "scale", "S", "scale", 1, 8, 2, 0, 0,
     "1 (denoising, JPEG) or the super-resolution factor 2..8"},
    {"shared_selection", "nsr.shared_selection", "shared", NULL, "shared selection flag", 0, 1, 0, 1, 0,
     "one selection per block, shared by its two convs (default: one per conv)"},
};

/* Where each field lives, in the order of the table. */
static const size_t offsets[] = {
    offsetof(nsr_arch, blocks), offsetof(nsr_arch, features), offsetof(nsr_arch, width_mult),
    offsetof(nsr_arch, groups), offsetof(nsr_arch, cardinals), offsetof(nsr_arch, scale),
    offsetof(nsr_arch, shared_selection),
};
_Static_assert(sizeof offsets / sizeof offsets[0] == sizeof fields / sizeof fields[0],
               "one offset per architecture field");
_Static_assert(sizeof(nsr_arch) == sizeof offsets / sizeof offsets[0] * sizeof(int),
               "every nsr_arch member is in the table");

size_t nsr_arch_field_count(void) { return sizeof fields / sizeof fields[0]; }

const nsr_arch_field *nsr_arch_field_at(size_t i) { return i < nsr_arch_field_count() ? &fields[i] : NULL; }

int nsr_arch_get(const nsr_arch *a, size_t i) { return *(const int *)((const char *)a + offsets[i]); }

void nsr_arch_set(nsr_arch *a, size_t i, int value) { *(int *)((char *)a + offsets[i]) = value; }

void nsr_arch_defaults(nsr_arch *a) {
    for (size_t i = 0; i < nsr_arch_field_count(); i++) nsr_arch_set(a, i, fields[i].def);
}

int nsr_arch_check(const nsr_arch *a, nsr_error *err) {
    for (size_t i = 0; i < nsr_arch_field_count(); i++) {
        const nsr_arch_field *f = &fields[i];
        const int v = nsr_arch_get(a, i);
        if (f->with_groups && a->groups == 1) continue;
        if (f->is_flag && v != 0 && v != 1) return nsr_fail(err, "%s %d is not 0 or 1", f->what, v);
        if (v < f->min || v > f->max) return nsr_fail(err, "%s %d not in %d..%d", f->what, v, f->min, f->max);
    }
    if (a->groups > 1) {
        if (a->features % a->cardinals)
            return nsr_fail(err, "cardinals %d must divide the features %d", a->cardinals, a->features);
        if (a->groups * a->cardinals > NN_MAX_SELECT)
            return nsr_fail(err, "groups x cardinals %d exceeds %d", a->groups * a->cardinals, NN_MAX_SELECT);
    }
    if (nsr_arch_param_count(a) > MAX_PARAMS)
        return nsr_fail(err, "model too large (%zu parameters, at most %zu)", nsr_arch_param_count(a), MAX_PARAMS);
    return 0;
}
