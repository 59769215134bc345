/* onednn.c - the oneDNN convolution nsr's conv is measured against (built when the Makefile
 * finds oneDNN's header and library, NSR_HAVE_DNNL; otherwise every creation says why not).
 *
 * oneDNN is at its best in its own blocked layouts (nChw8c and friends on AVX2), so the
 * primitive is created with format_tag any for src, weights and dst and the data are reordered
 * into what it chose once, at creation: bench_onednn_run times the convolution alone, not the
 * reorders a caller holding NCHW data would also pay. Threads: this oneDNN uses OpenMP, the
 * same runtime (and thread count) as nsr.
 *
 * ISA: nsr's kernels are AVX2 + FMA (the machines of ANCHORS.md have nothing wider), so oneDNN
 * is held to AVX2 as well, unless DNNL_MAX_CPU_ISA is set, which oneDNN itself reads (ALL lets
 * it use AVX-512 where the CPU has it; the reference's name says which code it ran). */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#ifdef NSR_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

struct bench_onednn {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t conv;
    dnnl_memory_t src, weights, bias, dst;
    dnnl_memory_desc_t dst_nchw;
    char name[96];
};

/* Reorders the memory from (plain, data) into a new memory of layout to; NULL on failure. */
static dnnl_memory_t reorder_in(bench_onednn *c, const dnnl_memory_desc_t *plain, void *data,
                                const dnnl_memory_desc_t *to) {
    dnnl_memory_t from = NULL, out = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    int ok = dnnl_memory_create(&from, plain, c->engine, data) == dnnl_success &&
             dnnl_memory_create(&out, to, c->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
             dnnl_reorder_primitive_desc_create(&pd, plain, c->engine, to, c->engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&r, pd) == dnnl_success;
    if (ok) {
        const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, out}};
        ok = dnnl_primitive_execute(r, c->stream, 2, args) == dnnl_success &&
             dnnl_stream_wait(c->stream) == dnnl_success;
    }
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (from) dnnl_memory_destroy(from);
    if (!ok && out) dnnl_memory_destroy(out);
    return ok ? out : NULL;
}

bench_onednn *bench_onednn_create(const float *inp, const float *w, const float *b, int N,
                                  int cin, int cout, int H, int W, int K, const char **why) {
    bench_onednn *c = calloc(1, sizeof *c);
    if (!c) {
        *why = "out of memory";
        return NULL;
    }
    const dnnl_dims_t src_dims = {N, cin, H, W}, w_dims = {cout, cin, K, K}, b_dims = {cout},
                      dst_dims = {N, cout, H, W}, strides = {1, 1}, pad = {K / 2, K / 2};
    dnnl_memory_desc_t src_any, w_any, dst_any, b_md, src_nchw, w_oihw;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl = "?";
    *why = "oneDNN refused the convolution";
    if (!getenv("DNNL_MAX_CPU_ISA")) dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2); /* once; later calls fail harmlessly */
    int ok = dnnl_engine_create(&c->engine, dnnl_cpu, 0) == dnnl_success &&
             dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&w_any, 4, w_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_a) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&src_nchw, 4, src_dims, dnnl_f32, dnnl_nchw) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&w_oihw, 4, w_dims, dnnl_f32, dnnl_oihw) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&c->dst_nchw, 4, dst_dims, dnnl_f32, dnnl_nchw) == dnnl_success &&
             dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_auto,
                                                &src_any, &w_any, &b_md, &dst_any, strides, pad,
                                                pad) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &cd, NULL, c->engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&c->conv, pd) == dnnl_success;
    if (ok) {
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        const dnnl_version_t *v = dnnl_version();
        snprintf(c->name, sizeof c->name, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch, impl);
        /* the library's own copies in its layouts; our buffers are only read */
        c->src = reorder_in(c, &src_nchw, (void *)inp, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0));
        c->weights = reorder_in(c, &w_oihw, (void *)w, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
        ok = c->src && c->weights &&
             dnnl_memory_create(&c->bias, &b_md, c->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
             dnnl_memory_create(&c->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                c->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success;
        void *bias = NULL;
        if (ok && dnnl_memory_get_data_handle(c->bias, &bias) == dnnl_success)
            for (int o = 0; o < cout; o++) ((float *)bias)[o] = b[o];
        if (!ok) *why = "oneDNN could not reorder the data into its layouts";
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!ok) {
        bench_onednn_free(c);
        return NULL;
    }
    return c;
}

void bench_onednn_run(void *ctx) {
    bench_onednn *c = ctx;
    const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->weights},
                                    {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, c->dst}};
    dnnl_primitive_execute(c->conv, c->stream, 4, args);
    dnnl_stream_wait(c->stream);
}

void bench_onednn_output(bench_onednn *c, float *out) {
    const dnnl_memory_desc_t *md;
    dnnl_memory_t plain = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    if (dnnl_memory_get_memory_desc(c->dst, &md) == dnnl_success &&
        dnnl_memory_create(&plain, &c->dst_nchw, c->engine, out) == dnnl_success &&
        dnnl_reorder_primitive_desc_create(&pd, md, c->engine, &c->dst_nchw, c->engine, NULL) == dnnl_success &&
        dnnl_primitive_create(&r, pd) == dnnl_success) {
        const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, c->dst}, {DNNL_ARG_TO, plain}};
        dnnl_primitive_execute(r, c->stream, 2, args);
        dnnl_stream_wait(c->stream);
    }
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (plain) dnnl_memory_destroy(plain);
}

const char *bench_onednn_name(const bench_onednn *c) { return c->name; }

void bench_onednn_free(bench_onednn *c) {
    if (!c) return;
    dnnl_memory_t mems[] = {c->src, c->weights, c->bias, c->dst};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (c->conv) dnnl_primitive_destroy(c->conv);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

#else /* no oneDNN: the comparison is reported as unavailable */

struct bench_onednn {
    int unused;
};

bench_onednn *bench_onednn_create(const float *inp, const float *w, const float *b, int N,
                                  int cin, int cout, int H, int W, int K, const char **why) {
    (void)inp, (void)w, (void)b, (void)N, (void)cin, (void)cout, (void)H, (void)W, (void)K;
    *why = "nsr was built without oneDNN (install libdnnl-dev and rebuild)";
    return NULL;
}
void bench_onednn_run(void *ctx) { (void)ctx; }
void bench_onednn_output(bench_onednn *c, float *out) { (void)c, (void)out; }
const char *bench_onednn_name(const bench_onednn *c) { (void)c; return "oneDNN"; }
void bench_onednn_free(bench_onednn *c) { (void)c; }

#endif
