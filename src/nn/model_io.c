/* model_io.c - a network to and from a .nsr model file (docs/model-format.md, section "The
 * wdsr_nsr network"): the architecture as "nsr.*" metadata, every parameter tensor by its engine
 * name and shape. Loading trusts nothing: the architecture passes nsr_arch_check, every tensor the
 * engine expects is there with exactly its shape and finite values, and nothing else is there but
 * tensors under a prefix reserved for extra data (a training checkpoint's "train." tensors). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define ARCH_NAME "wdsr_nsr"
/* Tensor names under these prefixes belong to someone else (a checkpoint's optimiser state) and
 * are left alone by the loader. */
static const char *const reserved_prefixes[] = {"train."};

int nsr_model_to_file(const nsr_model *m, nsr_model_file *f, nsr_error *err) {
    if (nsr_model_file_set_string(f, "nsr.architecture", ARCH_NAME, err)) return -1;
    for (size_t i = 0; i < nsr_arch_field_count(); i++)
        if (nsr_model_file_set_int(f, nsr_arch_field_at(i)->key, nsr_arch_get(&m->arch, i), err)) return -1;
    for (int i = 0; i < m->ntensor; i++) {
        const eng_tensor *t = &m->tensor[i];
        if (nsr_model_file_add_tensor(f, t->name, t->ndim, t->shape, m->params + t->offset, err))
            return -1;
    }
    return 0;
}

static const char *shape_str(char *buf, size_t size, int ndim, const int *dims) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? "x%d" : "%d", dims[i]);
    return buf;
}

static int is_reserved(const char *name) {
    for (size_t i = 0; i < sizeof reserved_prefixes / sizeof reserved_prefixes[0]; i++)
        if (!strncmp(name, reserved_prefixes[i], strlen(reserved_prefixes[i]))) return 1;
    return 0;
}

/* The architecture from the metadata. Messages carry no file name: the caller adds it. */
static int read_arch(const nsr_model_file *f, nsr_arch *a, nsr_error *err) {
    nsr_error ignored;
    const char *name;
    if (nsr_model_file_meta_type(f, "nsr.architecture") != NSR_META_STRING)
        return nsr_fail(err, "not an nsr network: no string metadata 'nsr.architecture'");
    nsr_model_file_get_string(f, "nsr.architecture", &name, &ignored);
    if (strcmp(name, ARCH_NAME))
        return nsr_fail(err, "unknown architecture '%.64s' (this nsr runs '%s')", name, ARCH_NAME);
    memset(a, 0, sizeof *a);
    for (size_t i = 0; i < nsr_arch_field_count(); i++) {
        const char *key = nsr_arch_field_at(i)->key;
        int64_t v;
        if (nsr_model_file_meta_type(f, key) != NSR_META_INT)
            return nsr_fail(err, "no integer metadata '%s'", key);
        nsr_model_file_get_int(f, key, &v, &ignored);
        /* wide enough for nsr_arch_check to name the field; narrow enough to fit an int */
        if (v < -1000000 || v > 1000000)
            return nsr_fail(err, "metadata '%s' = %lld is out of range", key, (long long)v);
        nsr_arch_set(a, i, (int)v);
    }
    nsr_error why;
    if (nsr_arch_check(a, &why)) return nsr_fail(err, "invalid architecture: %s", why.message);
    return 0;
}

/* A corrupt architecture must not cost more memory than the file itself: the model is only
 * allocated (to name the first missing or misshapen tensor) when its parameters fit in the
 * values the file holds, or in a small allowance so that small models still get the precise
 * message. */
#define ALLOWANCE ((size_t)1 << 20)

int nsr_model_from_file(nsr_model **out, const nsr_model_file *f, nsr_error *err) {
    nsr_arch a;
    nsr_model *m;
    *out = NULL;
    if (read_arch(f, &a, err)) return -1;
    size_t held = 0, need = nsr_arch_param_count(&a);
    for (size_t i = 0; i < nsr_model_file_tensor_count(f); i++) {
        const nsr_model_tensor *t = nsr_model_file_tensor_at(f, i);
        if (!is_reserved(t->name)) held += t->count;
    }
    if (need > held && need > ALLOWANCE)
        return nsr_fail(err, "the architecture has %zu parameters, the file's tensors hold only %zu",
                        need, held);
    if (eng_model_alloc(&m, &a, err)) return -1; /* every tensor is copied in below */
    char have[64], want[64];
    for (int i = 0; i < m->ntensor; i++) {
        const eng_tensor *t = &m->tensor[i];
        const nsr_model_tensor *ft = nsr_model_file_find_tensor(f, t->name);
        int same = ft && ft->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = ft->dims[d] == t->shape[d];
        shape_str(want, sizeof want, t->ndim, t->shape);
        if (!ft) {
            nsr_fail(err, "tensor '%s' (%s) is missing", t->name, want);
            goto fail;
        }
        if (!same) {
            nsr_fail(err, "tensor '%s' has shape %s, expected %s", t->name,
                     shape_str(have, sizeof have, ft->ndim, ft->dims), want);
            goto fail;
        }
        for (size_t k = 0; k < t->size; k++)
            if (!isfinite(ft->data[k])) {
                nsr_fail(err, "tensor '%s' has a non-finite value (%g) at index %zu", t->name,
                         (double)ft->data[k], k);
                goto fail;
            }
        memcpy(m->params + t->offset, ft->data, t->size * sizeof(float));
    }
    for (size_t i = 0; i < nsr_model_file_tensor_count(f); i++) {
        const char *name = nsr_model_file_tensor_at(f, i)->name;
        if (!is_reserved(name) && !eng_model_find_tensor(m, name)) {
            nsr_fail(err, "unexpected tensor '%s' (not part of this architecture)", name);
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    nsr_model_free(m);
    return -1;
}

int nsr_model_save(const nsr_model *m, const char *path, nsr_error *err) {
    nsr_model_file *f = nsr_model_file_new();
    if (!f) return nsr_fail(err, "%s: out of memory", path);
    int rc = nsr_model_to_file(m, f, err) || nsr_model_file_save(f, path, err) ? -1 : 0;
    nsr_model_file_free(f);
    return rc;
}

int nsr_model_load(nsr_model **m, const char *path, nsr_error *err) {
    nsr_model_file *f;
    *m = NULL;
    if (nsr_model_file_load(&f, path, err)) return -1;
    nsr_error why;
    int rc = nsr_model_from_file(m, f, &why);
    nsr_model_file_free(f);
    return rc ? nsr_fail(err, "%s: %s", path, why.message) : 0;
}
