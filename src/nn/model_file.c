/* model_file.c - the .nsr model file: typed metadata and named f32 tensors in one
 * self-describing, checksummed file. docs/model-format.md is the specification; this file
 * follows it field by field.
 *
 * The loader treats every byte as hostile. Each count and length is checked against the bytes
 * that remain before anything is allocated or read, so a corrupt file costs at most memory in
 * proportion to its size, and every rejection is one line that names the field. The layout is
 * canonical (fixed order, fixed padding, zero padding bytes), so a file that loads re-encodes to
 * exactly the same bytes: nothing in it goes unchecked. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nsr.h"

#define MAGIC "NSRM"
#define FORMAT_VERSION 1u
#define ALIGNMENT 32u
#define HEADER_SIZE 16u
#define CHECKSUM_SIZE 4u
#define DTYPE_F32 1u
/* The smallest possible entries (a 1-byte name; an empty string value; one dimension): what
 * each counted entry must at least occupy, so that a count can be checked against the file size
 * before anything is parsed. */
#define MIN_META_ENTRY (4u + 1u + 4u + 4u)
#define MIN_TENSOR_ENTRY (4u + 1u + 4u + 4u + 8u + 8u + 8u)
#define DEFAULT_LABEL "model file"

typedef struct meta {
    char *key;
    nsr_meta_type type;
    union {
        int64_t i;
        double f;
        char *s;
    } v;
} meta;

typedef struct tensor {
    nsr_model_tensor view; /* what the API hands out; name and data are owned here */
    uint64_t offset, size; /* where the data lies in the file being loaded */
} tensor;

struct nsr_model_file {
    char *label; /* prefixes error messages: the path it was loaded from, or NULL */
    meta *meta;
    size_t n_meta, cap_meta;
    tensor *tensors;
    size_t n_tensors, cap_tensors;
};

static const char *label_of(const nsr_model_file *f) { return f->label ? f->label : DEFAULT_LABEL; }

static char *dup_bytes(const void *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Grows an array (given as its current pointer) to hold at least `need` elements; returns the
 * new pointer, or NULL with the old one still valid. */
static void *reserve(void *items, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return items;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    void *p = realloc(items, c * elem);
    if (p) *cap = c;
    return p;
}

static uint64_t align_up(uint64_t x) { return (x + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT; }

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t checksum(const uint8_t *p, size_t n) { return (uint32_t)crc32_z(0, p, n); }

/* "64x3x3x3" */
static const char *format_shape(char *buf, size_t size, int ndim, const int *dims) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && used < size; i++) {
        int n = snprintf(buf + used, size - used, i ? "x%d" : "%d", dims[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    return buf;
}

/* Checks a key or tensor name: 1..NSR_MODEL_MAX_NAME visible ASCII bytes, so that every name
 * can be quoted in a one-line message. s may be NULL to check only the length (the loader
 * refuses an absurd length before it looks for that many bytes). */
static int check_name(const char *label, const char *what, const char *kind, const uint8_t *s,
                      size_t len, nsr_error *err) {
    if (len == 0) return nsr_fail(err, "%s: %s has an empty %s", label, what, kind);
    if (len > NSR_MODEL_MAX_NAME)
        return nsr_fail(err, "%s: %s has a %s of %zu bytes (at most %d)", label, what, kind, len,
                        NSR_MODEL_MAX_NAME);
    for (size_t i = 0; s && i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return nsr_fail(err,
                            "%s: %s has a %s with byte 0x%02x at position %zu (only visible "
                            "ASCII, no spaces)",
                            label, what, kind, s[i], i);
    return 0;
}

/* Byte size of an f32 tensor of this shape; -1 when it does not fit in a size_t. */
static int shape_bytes(int ndim, const int *dims, size_t *bytes) {
    size_t n = sizeof(float);
    for (int i = 0; i < ndim; i++) {
        if ((size_t)dims[i] > SIZE_MAX / n) return -1;
        n *= (size_t)dims[i];
    }
    *bytes = n;
    return 0;
}

/* ---------------------------------------------------------------- building */

nsr_model_file *nsr_model_file_new(void) { return calloc(1, sizeof(nsr_model_file)); }

void nsr_model_file_free(nsr_model_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        if (f->meta[i].type == NSR_META_STRING) free(f->meta[i].v.s);
    }
    for (size_t i = 0; i < f->n_tensors; i++) {
        free((void *)f->tensors[i].view.name);
        free((void *)f->tensors[i].view.data);
    }
    free(f->meta);
    free(f->tensors);
    free(f->label);
    free(f);
}

static meta *find_meta(const nsr_model_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key)) return &f->meta[i];
    return NULL;
}

/* A new entry with no value yet (type NSR_META_NONE); NULL when out of memory. */
static meta *append_meta(nsr_model_file *f, const void *key, size_t len) {
    meta *items = reserve(f->meta, &f->cap_meta, f->n_meta + 1, sizeof *items);
    if (!items) return NULL;
    f->meta = items;
    char *k = dup_bytes(key, len);
    if (!k) return NULL;
    meta *m = &f->meta[f->n_meta++];
    m->key = k;
    m->type = NSR_META_NONE;
    return m;
}

/* The entry a setter writes into: the existing one for key (its old value released), else a
 * new one. */
static meta *meta_slot(nsr_model_file *f, const char *key, nsr_error *err) {
    if (check_name(label_of(f), "metadata", "key", (const uint8_t *)key, strlen(key), err))
        return NULL;
    meta *m = find_meta(f, key);
    if (m) {
        if (m->type == NSR_META_STRING) free(m->v.s);
        m->type = NSR_META_NONE;
        return m;
    }
    m = append_meta(f, key, strlen(key));
    if (!m) nsr_fail(err, "%s: out of memory", label_of(f));
    return m;
}

int nsr_model_file_set_int(nsr_model_file *f, const char *key, int64_t value, nsr_error *err) {
    meta *m = meta_slot(f, key, err);
    if (!m) return -1;
    m->type = NSR_META_INT;
    m->v.i = value;
    return 0;
}

int nsr_model_file_set_float(nsr_model_file *f, const char *key, double value, nsr_error *err) {
    meta *m = meta_slot(f, key, err);
    if (!m) return -1;
    m->type = NSR_META_FLOAT;
    m->v.f = value;
    return 0;
}

int nsr_model_file_set_string(nsr_model_file *f, const char *key, const char *value,
                              nsr_error *err) {
    size_t len = strlen(value);
    if (len > UINT32_MAX)
        return nsr_fail(err, "%s: metadata string value of %zu bytes is too long (at most %" PRIu32 ")",
                        label_of(f), len, UINT32_MAX);
    char *s = dup_bytes(value, len);
    if (!s) return nsr_fail(err, "%s: out of memory", label_of(f));
    meta *m = meta_slot(f, key, err);
    if (!m) {
        free(s);
        return -1;
    }
    m->type = NSR_META_STRING;
    m->v.s = s;
    return 0;
}

/* Appends a tensor that takes ownership of data (which may be NULL, to be filled later);
 * NULL when out of memory. */
static tensor *append_tensor(nsr_model_file *f, const void *name, size_t len, int ndim,
                             const int *dims, size_t count, float *data) {
    tensor *items = reserve(f->tensors, &f->cap_tensors, f->n_tensors + 1, sizeof *items);
    if (!items) return NULL;
    f->tensors = items;
    char *n = dup_bytes(name, len);
    if (!n) return NULL;
    tensor *t = &f->tensors[f->n_tensors++];
    memset(t, 0, sizeof *t);
    t->view.name = n;
    t->view.ndim = ndim;
    for (int i = 0; i < NSR_MODEL_MAX_DIMS; i++) t->view.dims[i] = i < ndim ? dims[i] : 1;
    t->view.count = count;
    t->view.data = data;
    return t;
}

int nsr_model_file_add_tensor(nsr_model_file *f, const char *name, int ndim, const int *dims,
                              const float *data, nsr_error *err) {
    const char *label = label_of(f);
    if (check_name(label, "tensor", "name", (const uint8_t *)name, strlen(name), err)) return -1;
    if (nsr_model_file_find_tensor(f, name))
        return nsr_fail(err, "%s: duplicate tensor name '%s'", label, name);
    if (ndim < 1 || ndim > NSR_MODEL_MAX_DIMS)
        return nsr_fail(err, "%s: tensor '%s' has %d dimensions (1 to %d allowed)", label, name,
                        ndim, NSR_MODEL_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 1)
            return nsr_fail(err, "%s: tensor '%s' dimension %d is %d (must be at least 1)",
                            label, name, i, dims[i]);
    size_t bytes;
    char shape[64];
    if (shape_bytes(ndim, dims, &bytes))
        return nsr_fail(err, "%s: tensor '%s' of shape %s is too large", label, name,
                        format_shape(shape, sizeof shape, ndim, dims));
    float *copy = malloc(bytes);
    if (!copy) return nsr_fail(err, "%s: out of memory for tensor '%s'", label, name);
    memcpy(copy, data, bytes);
    if (!append_tensor(f, name, strlen(name), ndim, dims, bytes / sizeof(float), copy)) {
        free(copy);
        return nsr_fail(err, "%s: out of memory", label);
    }
    return 0;
}

/* ---------------------------------------------------------------- writing */

int nsr_model_file_encode(const nsr_model_file *f, uint8_t **out, size_t *out_size,
                          nsr_error *err) {
    *out = NULL;
    *out_size = 0;
    /* Sizes are sums of things already in memory plus a few bytes per entry: no overflow. */
    size_t head = HEADER_SIZE;
    for (size_t i = 0; i < f->n_meta; i++) {
        const meta *m = &f->meta[i];
        head += 4 + strlen(m->key) + 4 + (m->type == NSR_META_STRING ? 4 + strlen(m->v.s) : 8);
    }
    for (size_t i = 0; i < f->n_tensors; i++)
        head += 4 + strlen(f->tensors[i].view.name) + 4 + 4 +
                8 * (size_t)f->tensors[i].view.ndim + 8 + 8;
    size_t end = align_up(head);
    for (size_t i = 0; i < f->n_tensors; i++)
        end = align_up(end + f->tensors[i].view.count * sizeof(float));
    if (f->n_meta > UINT32_MAX || f->n_tensors > UINT32_MAX)
        return nsr_fail(err, "%s: too many entries to save", label_of(f));
    uint8_t *buf = calloc(1, end + CHECKSUM_SIZE); /* calloc: the padding must be zero */
    if (!buf) return nsr_fail(err, "%s: out of memory encoding %zu bytes", label_of(f), end);

    memcpy(buf, MAGIC, 4);
    put_u32(buf + 4, FORMAT_VERSION);
    put_u32(buf + 8, (uint32_t)f->n_meta);
    put_u32(buf + 12, (uint32_t)f->n_tensors);
    uint8_t *p = buf + HEADER_SIZE;
    for (size_t i = 0; i < f->n_meta; i++) {
        const meta *m = &f->meta[i];
        size_t len = strlen(m->key);
        put_u32(p, (uint32_t)len);
        memcpy(p + 4, m->key, len);
        p += 4 + len;
        put_u32(p, (uint32_t)m->type);
        p += 4;
        if (m->type == NSR_META_STRING) {
            len = strlen(m->v.s);
            put_u32(p, (uint32_t)len);
            memcpy(p + 4, m->v.s, len);
            p += 4 + len;
        } else {
            uint64_t bits;
            if (m->type == NSR_META_INT)
                memcpy(&bits, &m->v.i, 8);
            else
                memcpy(&bits, &m->v.f, 8);
            put_u64(p, bits);
            p += 8;
        }
    }
    uint64_t offset = align_up(head);
    for (size_t i = 0; i < f->n_tensors; i++) {
        const nsr_model_tensor *t = &f->tensors[i].view;
        size_t len = strlen(t->name), size = t->count * sizeof(float);
        put_u32(p, (uint32_t)len);
        memcpy(p + 4, t->name, len);
        p += 4 + len;
        put_u32(p, DTYPE_F32);
        put_u32(p + 4, (uint32_t)t->ndim);
        p += 8;
        for (int d = 0; d < t->ndim; d++, p += 8) put_u64(p, (uint64_t)t->dims[d]);
        put_u64(p, offset);
        put_u64(p + 8, size);
        p += 16;
        for (size_t k = 0; k < t->count; k++) {
            uint32_t bits;
            memcpy(&bits, &t->data[k], 4);
            put_u32(buf + offset + 4 * k, bits);
        }
        offset = align_up(offset + size);
    }
    put_u32(buf + end, checksum(buf, end));
    *out = buf;
    *out_size = end + CHECKSUM_SIZE;
    return 0;
}

int nsr_model_file_save(const nsr_model_file *f, const char *path, nsr_error *err) {
    uint8_t *bytes;
    size_t size;
    if (nsr_model_file_encode(f, &bytes, &size, err)) return -1;
    int rc = nsr_write_file_atomic(path, bytes, size, err);
    free(bytes);
    return rc;
}

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    const uint8_t *bytes;
    size_t size; /* the whole file */
    size_t end;  /* where the checksum starts: no field may reach past it */
    size_t pos;
    const char *label;
    nsr_error *err;
} reader;

/* Fails unless n more bytes lie before the checksum; what names the field's owner. */
static int need(reader *r, uint64_t n, const char *what) {
    if (n > r->end - r->pos)
        return nsr_fail(r->err, "%s: truncated: %s needs %" PRIu64 " bytes at offset %zu, file has %zu bytes",
                        r->label, what, n, r->pos, r->size);
    return 0;
}
static int read_u32(reader *r, uint32_t *v, const char *what) {
    if (need(r, 4, what)) return -1;
    *v = get_u32(r->bytes + r->pos);
    r->pos += 4;
    return 0;
}
static int read_u64(reader *r, uint64_t *v, const char *what) {
    if (need(r, 8, what)) return -1;
    *v = get_u64(r->bytes + r->pos);
    r->pos += 8;
    return 0;
}
/* A length-prefixed key or name; *s points into the file. */
static int read_name(reader *r, const char *what, const char *kind, const uint8_t **s,
                     size_t *len) {
    uint32_t n;
    if (read_u32(r, &n, what)) return -1;
    if (n >= 1 && n <= NSR_MODEL_MAX_NAME && need(r, n, what)) return -1;
    if (check_name(r->label, what, kind, r->bytes + r->pos, n, r->err)) return -1;
    *s = r->bytes + r->pos;
    *len = n;
    r->pos += n;
    return 0;
}

static int oom(reader *r) { return nsr_fail(r->err, "%s: out of memory", r->label); }

static int read_meta_entry(reader *r, nsr_model_file *f, uint32_t index) {
    char what[300];
    snprintf(what, sizeof what, "metadata entry %" PRIu32, index);
    const uint8_t *key;
    size_t key_len;
    uint32_t type;
    if (read_name(r, what, "key", &key, &key_len)) return -1;
    snprintf(what, sizeof what, "metadata '%.*s'", (int)key_len, (const char *)key);
    if (read_u32(r, &type, what)) return -1;
    uint64_t bits = 0;
    uint32_t str_len = 0;
    const uint8_t *str = NULL;
    if (type == NSR_META_INT || type == NSR_META_FLOAT) {
        if (read_u64(r, &bits, what)) return -1;
    } else if (type == NSR_META_STRING) {
        if (read_u32(r, &str_len, what) || need(r, str_len, what)) return -1;
        str = r->bytes + r->pos;
        r->pos += str_len;
        /* Values are handed out as C strings: a NUL inside would silently cut them. */
        const uint8_t *nul = memchr(str, 0, str_len);
        if (nul)
            return nsr_fail(r->err, "%s: %s: string value has a NUL byte at position %zu",
                            r->label, what, (size_t)(nul - str));
    } else {
        return nsr_fail(r->err, "%s: %s has unknown type %" PRIu32 " (1 = int, 2 = float, 3 = string)",
                        r->label, what, type);
    }
    meta *m = append_meta(f, key, key_len);
    if (!m) return oom(r);
    if (type == NSR_META_STRING) {
        if (!(m->v.s = dup_bytes(str, str_len))) return oom(r);
    } else if (type == NSR_META_INT) {
        memcpy(&m->v.i, &bits, 8);
    } else {
        memcpy(&m->v.f, &bits, 8);
    }
    m->type = (nsr_meta_type)type;
    return 0;
}

static int read_tensor_entry(reader *r, nsr_model_file *f, uint32_t index) {
    char what[300];
    snprintf(what, sizeof what, "tensor entry %" PRIu32, index);
    const uint8_t *name;
    size_t name_len;
    if (read_name(r, what, "name", &name, &name_len)) return -1;
    snprintf(what, sizeof what, "tensor '%.*s'", (int)name_len, (const char *)name);
    uint32_t dtype, ndim;
    if (read_u32(r, &dtype, what)) return -1;
    if (dtype != DTYPE_F32)
        return nsr_fail(r->err, "%s: %s has unknown dtype %" PRIu32 " (this nsr reads 1 = f32)",
                        r->label, what, dtype);
    if (read_u32(r, &ndim, what)) return -1;
    if (ndim < 1 || ndim > NSR_MODEL_MAX_DIMS)
        return nsr_fail(r->err, "%s: %s has %" PRIu32 " dimensions (1 to %d allowed)", r->label,
                        what, ndim, NSR_MODEL_MAX_DIMS);
    int dims[NSR_MODEL_MAX_DIMS];
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t v;
        if (read_u64(r, &v, what)) return -1;
        if (v < 1 || v > INT_MAX)
            return nsr_fail(r->err, "%s: %s dimension %" PRIu32 " is %" PRIu64 " (must be 1..%d)",
                            r->label, what, d, v, INT_MAX);
        dims[d] = (int)v;
    }
    uint64_t offset, size;
    if (read_u64(r, &offset, what) || read_u64(r, &size, what)) return -1;
    size_t bytes;
    char shape[64];
    if (shape_bytes((int)ndim, dims, &bytes) || bytes != size)
        return nsr_fail(r->err, "%s: %s has byte size %" PRIu64 ", which does not match its f32 shape %s",
                        r->label, what, size, format_shape(shape, sizeof shape, (int)ndim, dims));
    tensor *t = append_tensor(f, name, name_len, (int)ndim, dims, bytes / sizeof(float), NULL);
    if (!t) return oom(r);
    t->offset = offset;
    t->size = size;
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The smallest name that occurs twice in names[0..n), or NULL; sorts names (n log n, so that a
 * file with a million entries cannot make this quadratic). */
static const char *first_duplicate(const char **names, size_t n) {
    if (n < 2) return NULL;
    qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) return names[i];
    return NULL;
}

static int check_unique(reader *r, const nsr_model_file *f) {
    size_t n = f->n_meta > f->n_tensors ? f->n_meta : f->n_tensors;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names) return oom(r);
    for (size_t i = 0; i < f->n_meta; i++) names[i] = f->meta[i].key;
    const char *dup = first_duplicate(names, f->n_meta);
    int rc = dup ? nsr_fail(r->err, "%s: duplicate metadata key '%s'", r->label, dup) : 0;
    if (!rc) {
        for (size_t i = 0; i < f->n_tensors; i++) names[i] = f->tensors[i].view.name;
        if ((dup = first_duplicate(names, f->n_tensors)))
            rc = nsr_fail(r->err, "%s: duplicate tensor name '%s'", r->label, dup);
    }
    free(names);
    return rc;
}

/* Padding (what lies between the directory and the data, between tensors, and before the
 * checksum) must be zero, so that the file has exactly one valid encoding. */
static int check_padding(reader *r, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; i++)
        if (r->bytes[i])
            return nsr_fail(r->err, "%s: padding byte at offset %" PRIu64 " is 0x%02x, not zero",
                            r->label, i, r->bytes[i]);
    return 0;
}

/* Tensor data lies in directory order, each block at the first multiple of ALIGNMENT after the
 * previous one (the first after the directory), the last padded up to the checksum. */
static int check_layout(reader *r, const nsr_model_file *f) {
    uint64_t prev_end = r->pos, expect = align_up(r->pos);
    const char *prev = NULL; /* name of the block that ends at prev_end; NULL: the directory */
    for (size_t i = 0; i < f->n_tensors; i++) {
        const tensor *t = &f->tensors[i];
        const char *name = t->view.name;
        if (t->offset % ALIGNMENT)
            return nsr_fail(r->err, "%s: tensor '%s' offset %" PRIu64 " is not a multiple of %u",
                            r->label, name, t->offset, ALIGNMENT);
        if (t->offset < prev_end)
            return nsr_fail(r->err, "%s: tensor '%s' at offset %" PRIu64 " overlaps %s%s%s (which ends at %" PRIu64 ")",
                            r->label, name, t->offset, prev ? "tensor '" : "the directory",
                            prev ? prev : "", prev ? "'" : "", prev_end);
        if (t->offset > expect)
            return nsr_fail(r->err, "%s: tensor '%s' at offset %" PRIu64 " leaves a gap (expected offset %" PRIu64 ")",
                            r->label, name, t->offset, expect);
        if (t->offset > r->end || t->size > r->end - t->offset)
            return nsr_fail(r->err, "%s: truncated: tensor '%s' needs %" PRIu64 " bytes at offset %" PRIu64 ", file has %zu bytes",
                            r->label, name, t->size, t->offset, r->size);
        if (check_padding(r, prev_end, t->offset)) return -1;
        prev_end = t->offset + t->size;
        expect = align_up(prev_end);
        prev = name;
    }
    if (expect > r->end)
        return nsr_fail(r->err, "%s: truncated: padding needs %" PRIu64 " bytes at offset %" PRIu64 ", file has %zu bytes",
                        r->label, expect - prev_end, prev_end, r->size);
    if (r->end > expect)
        return nsr_fail(r->err, "%s: %zu bytes of trailing data (the model ends at offset %" PRIu64 ")",
                        r->label, (size_t)(r->end - expect), expect + CHECKSUM_SIZE);
    return check_padding(r, prev_end, expect);
}

static int parse(reader *r, nsr_model_file *f) {
    const uint8_t *b = r->bytes;
    size_t magic_len = r->size < 4 ? r->size : 4;
    if (magic_len && memcmp(b, MAGIC, magic_len))
        return nsr_fail(r->err, "%s: not an nsr model file (it does not start with \"" MAGIC "\")",
                        r->label);
    if (r->size >= 8 && get_u32(b + 4) != FORMAT_VERSION)
        return nsr_fail(r->err, "%s: unsupported model file format version %" PRIu32 " (this nsr reads version %u)%s",
                        r->label, get_u32(b + 4), FORMAT_VERSION,
                        get_u32(b + 4) > FORMAT_VERSION ? "; a newer nsr wrote it" : "");
    if (r->size < HEADER_SIZE + CHECKSUM_SIZE)
        return nsr_fail(r->err, "%s: truncated: file has %zu bytes, a model file has at least %u",
                        r->label, r->size, HEADER_SIZE + CHECKSUM_SIZE);
    r->end = r->size - CHECKSUM_SIZE;
    r->pos = HEADER_SIZE;
    uint32_t n_meta = get_u32(b + 8), n_tensors = get_u32(b + 12);
    /* A cut file and a corrupt count look the same here; the message allows for both. */
    uint64_t least = (uint64_t)n_meta * MIN_META_ENTRY + (uint64_t)n_tensors * MIN_TENSOR_ENTRY;
    if (least > r->end - r->pos)
        return nsr_fail(r->err, "%s: truncated: %" PRIu32 " metadata entries and %" PRIu32 " tensors need at least %" PRIu64 " bytes, file has %zu bytes (or the counts are corrupt)",
                        r->label, n_meta, n_tensors, least + HEADER_SIZE + CHECKSUM_SIZE, r->size);
    for (uint32_t i = 0; i < n_meta; i++)
        if (read_meta_entry(r, f, i)) return -1;
    for (uint32_t i = 0; i < n_tensors; i++)
        if (read_tensor_entry(r, f, i)) return -1;
    if (check_unique(r, f) || check_layout(r, f)) return -1;
    if (get_u32(b + r->end) != checksum(b, r->end))
        return nsr_fail(r->err, "%s: checksum mismatch (file is corrupt)", r->label);
    for (size_t i = 0; i < f->n_tensors; i++) {
        tensor *t = &f->tensors[i];
        float *data = malloc(t->size);
        if (!data) return oom(r);
        for (size_t k = 0; k < t->view.count; k++) {
            uint32_t bits = get_u32(b + t->offset + 4 * k);
            memcpy(&data[k], &bits, 4);
        }
        t->view.data = data;
    }
    return 0;
}

int nsr_model_file_load_memory(nsr_model_file **out, const uint8_t *bytes, size_t size,
                               const char *label, nsr_error *err) {
    *out = NULL;
    nsr_model_file *f = nsr_model_file_new();
    if (!f || (label && !(f->label = dup_bytes(label, strlen(label))))) {
        nsr_model_file_free(f);
        return nsr_fail(err, "%s: out of memory", label ? label : DEFAULT_LABEL);
    }
    reader r = {bytes, size, 0, 0, label_of(f), err};
    if (parse(&r, f)) {
        nsr_model_file_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

int nsr_model_file_load(nsr_model_file **f, const char *path, nsr_error *err) {
    uint8_t *bytes;
    size_t size;
    *f = NULL;
    if (nsr_read_file(path, &bytes, &size, err)) return -1;
    int rc = nsr_model_file_load_memory(f, bytes, size, path, err);
    free(bytes);
    return rc;
}

/* ---------------------------------------------------------------- lookup */

nsr_meta_type nsr_model_file_meta_type(const nsr_model_file *f, const char *key) {
    const meta *m = find_meta(f, key);
    return m ? m->type : NSR_META_NONE;
}

static const char *type_name(nsr_meta_type t) {
    return t == NSR_META_INT ? "an integer" : t == NSR_META_FLOAT ? "a float" : "a string";
}

static const meta *typed_meta(const nsr_model_file *f, const char *key, nsr_meta_type type,
                              nsr_error *err) {
    const meta *m = find_meta(f, key);
    if (!m)
        nsr_fail(err, "%s: no metadata '%s'", label_of(f), key);
    else if (m->type != type)
        nsr_fail(err, "%s: metadata '%s' is %s, not %s", label_of(f), key, type_name(m->type),
                 type_name(type));
    return m && m->type == type ? m : NULL;
}

int nsr_model_file_get_int(const nsr_model_file *f, const char *key, int64_t *value,
                           nsr_error *err) {
    const meta *m = typed_meta(f, key, NSR_META_INT, err);
    if (!m) return -1;
    *value = m->v.i;
    return 0;
}

int nsr_model_file_get_float(const nsr_model_file *f, const char *key, double *value,
                             nsr_error *err) {
    const meta *m = typed_meta(f, key, NSR_META_FLOAT, err);
    if (!m) return -1;
    *value = m->v.f;
    return 0;
}

int nsr_model_file_get_string(const nsr_model_file *f, const char *key, const char **value,
                              nsr_error *err) {
    const meta *m = typed_meta(f, key, NSR_META_STRING, err);
    if (!m) return -1;
    *value = m->v.s;
    return 0;
}

size_t nsr_model_file_meta_count(const nsr_model_file *f) { return f->n_meta; }

const char *nsr_model_file_meta_key(const nsr_model_file *f, size_t i) {
    return i < f->n_meta ? f->meta[i].key : NULL;
}

size_t nsr_model_file_tensor_count(const nsr_model_file *f) { return f->n_tensors; }

const nsr_model_tensor *nsr_model_file_tensor_at(const nsr_model_file *f, size_t i) {
    return i < f->n_tensors ? &f->tensors[i].view : NULL;
}

const nsr_model_tensor *nsr_model_file_find_tensor(const nsr_model_file *f, const char *name) {
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].view.name, name)) return &f->tensors[i].view;
    return NULL;
}

int nsr_model_file_get_tensor(const nsr_model_file *f, const char *name, int ndim,
                              const int *dims, const float **data, nsr_error *err) {
    const nsr_model_tensor *t = nsr_model_file_find_tensor(f, name);
    if (!t) return nsr_fail(err, "%s: no tensor '%s'", label_of(f), name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->dims[i] == dims[i];
    if (!same) {
        char have[64], want[64];
        return nsr_fail(err, "%s: tensor '%s' has shape %s, expected %s", label_of(f), name,
                        format_shape(have, sizeof have, t->ndim, t->dims),
                        format_shape(want, sizeof want, ndim, dims));
    }
    *data = t->data;
    return 0;
}
