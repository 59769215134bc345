/* conv_dispatch.c - the kernel layer's convolution entry points (kernels.h: nn_conv2d_*) and the
 * choice of path behind them: the reference (conv_reference.c) where the CPU has no AVX2 + FMA or
 * NSR_KERNELS asks for it; else 3x3 convolutions with enough channels and pixels go to Winograd
 * (conv_winograd_forward.c for the forward and the input gradient, conv_winograd_wgrad.c for the
 * weight gradient), the rest to the direct kernels (conv_direct.c); and the reference again when
 * a fast path's scratch memory runs out. */
#include <stdlib.h>
#include <string.h>

#include "kernels/conv_paths.h"
#include "kernels/kernels.h"
#include "kernels/micro_kernels.h"

/* NSR_KERNELS, for tests and benchmarks: "reference" forces the reference, "direct" the fast
 * kernels without Winograd, "avx2" Winograd's products on 256-bit vectors where the CPU has
 * AVX-512. */
static int kernels_are(const char *name) {
    const char *k = getenv("NSR_KERNELS");
    return k && strcmp(k, name) == 0;
}
static int fast_wanted(void) { return !kernels_are("reference") && cpu_has_avx2_fma(); }
static int winograd_wanted(void) { return !kernels_are("direct"); }

const char *nn_conv2d_kernels(void) {
    return !fast_wanted()      ? "reference"
           : !winograd_wanted() ? "avx2-direct"
           : wino_avx512()      ? "avx512"
                                : "avx2";
}

/* post as a pass of its own, where a kernel does not apply it as it stores: the residual's
 * sum, then ReLU, then the gate (the order the fast kernels' stores use; all exact, so any
 * split of the work gives the same bits). One fused loop here, since the kernels may not call
 * the layers of src/nn/ above them. */
static void apply_post(float *out, const nn_conv_post *post, size_t n) {
    if (!post || (!post->residual && !post->relu && !post->gate)) return;
    const float *res = post->residual, *gate = post->gate;
    const int relu = post->relu;
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) {
        const float v = res ? out[i] + res[i] : out[i];
        out[i] = (relu && !(v > 0)) || (gate && !(gate[i] > 0)) ? 0 : v;
    }
}

void nn_conv2d_forward(float *out, const float *inp, const float *w, size_t wstride,
                       const float *b, size_t bstride, int N, int cin, int cout, int H, int W,
                       int K, const nn_conv_post *post) {
    if (fast_wanted() &&
        nn_conv2d_forward_fast(out, inp, w, wstride, b, bstride, N, cin, cout, H, W, K, post))
        return;
    nn_conv2d_forward_ref(out, inp, w, wstride, b, bstride, N, cin, cout, H, W, K);
    apply_post(out, post, (size_t)N * cout * H * W);
}

void nn_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, size_t wstride, size_t bstride, int N, int cin, int cout,
                        int H, int W, int K, const nn_conv_post *dinp_post) {
    if (fast_wanted() && nn_conv2d_backward_fast(dinp, dw, db, dout, inp, w, wstride, bstride, N,
                                                 cin, cout, H, W, K, dinp_post))
        return;
    nn_conv2d_backward_ref(dinp, dw, db, dout, inp, w, wstride, bstride, N, cin, cout, H, W, K);
    if (dinp) apply_post(dinp, dinp_post, (size_t)N * cin * H * W);
}

#if FAST_X86

static int fast_shape(int K) { return K == 1 || K == 3 || K == 5; }

/* A forward-style convolution (the forward, or with transposed and accumulate the input
 * gradient): by Winograd where it suits and NSR_KERNELS is not "direct", else by the direct
 * kernels. 0 when out of memory, having written nothing. */
static int forward_style(float *out, const float *inp, const float *w, size_t wstride,
                         int transposed, const float *b, size_t bstride, int N, int cin,
                         int cout, int H, int W, int K, int accumulate,
                         const nn_conv_post *post) {
    if (K == 3 && winograd_wanted() && wino_suits(cin, cout, H, W) &&
        wino_conv3x3(out, inp, w, wstride, NULL, transposed, b, bstride, N, cin, cout, H, W,
                     accumulate, post))
        return 1;
    if (!direct_forward(out, inp, w, wstride, wstride ? N : 1, NULL, transposed, b, bstride, N,
                        cin, cout, H, W, K, accumulate))
        return 0;
    apply_post(out, post, (size_t)N * cout * H * W);
    return 1;
}

int nn_conv2d_forward_fast(float *out, const float *inp, const float *w, size_t wstride,
                           const float *b, size_t bstride, int N, int cin, int cout, int H,
                           int W, int K, const nn_conv_post *post) {
    if (!cpu_has_avx2_fma() || !fast_shape(K)) return 0;
    return forward_style(out, inp, w, wstride, 0, b, bstride, N, cin, cout, H, W, K, 0, post);
}

/* Mixed kernels go straight into Winograd's transformed kernels; the direct kernels take a
 * mixture only when each sample's is one set (hard selection), each set packed once. */
static int mix_wanted(int cin, int cout, int H, int W, int K) {
    return fast_wanted() && winograd_wanted() && K == 3 && wino_suits(cin, cout, H, W);
}

int nn_conv2d_forward_mix(float *out, const float *inp, const float *w, size_t wstride,
                          const nn_kernel_mix *mix, const float *b, size_t bstride, int N,
                          int cin, int cout, int H, int W, int K, const nn_conv_post *post) {
    if (mix_wanted(cin, cout, H, W, K))
        return wino_conv3x3(out, inp, w, wstride, mix, 0, b, bstride, N, cin, cout, H, W, 0,
                            post);
    /* the direct path needs every sample's set first: a caller's selection is its own */
    if (!fast_wanted() || !fast_shape(K) || mix->select) return 0;
    int *set_of = malloc((size_t)N * sizeof *set_of), ok = set_of != NULL;
    for (int n = 0; ok && n < N; n++) ok = (set_of[n] = nn_kernel_mix_one_group(mix, n)) >= 0;
    ok = ok && direct_forward(out, inp, w, wstride, mix->groups, set_of, 0, b, bstride, N, cin,
                              cout, H, W, K, 0);
    free(set_of);
    if (ok) apply_post(out, post, (size_t)N * cout * H * W);
    return ok;
}

int nn_conv2d_backward_input_mix(float *dinp, const float *dout, const float *w, size_t wstride,
                                 const nn_kernel_mix *mix, int N, int cin, int cout, int H,
                                 int W, int K, const nn_conv_post *dinp_post) {
    return mix_wanted(cout, cin, H, W, K) &&
           wino_conv3x3(dinp, dout, w, wstride, mix, 1, NULL, 0, N, cout, cin, H, W, 1, dinp_post);
}

int nn_conv2d_backward_fast(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, size_t wstride, size_t bstride,
                            int N, int cin, int cout, int H, int W, int K,
                            const nn_conv_post *dinp_post) {
    if (!cpu_has_avx2_fma() || !fast_shape(K)) return 0;
    wino_wgrad *ww = NULL;
    direct_wgrad *dw_plan = NULL;
    /* the weight gradient's buffers first and its sums last, so that running out of memory
     * leaves no half result; the input gradient is the forward of dout through the
     * transposed, flipped kernels */
    if (K == 3 && winograd_wanted() && wino_wgrad_suits(cin, cout, H, W))
        ww = wino_wgrad_plan(dw, db, dout, inp, wstride, bstride, N, cin, cout, H, W);
    if (!ww && !(dw_plan = direct_wgrad_plan(dw, db, dout, inp, wstride, bstride, N, cin, cout,
                                             H, W, K)))
        return 0;
    if (dinp &&
        !forward_style(dinp, dout, w, wstride, 1, NULL, 0, N, cout, cin, H, W, K, 1, dinp_post)) {
        if (ww) wino_wgrad_free(ww);
        else direct_wgrad_free(dw_plan);
        return 0;
    }
    if (ww) wino_wgrad_run(ww);
    else direct_wgrad_run(dw_plan);
    return 1;
}

#else /* no x86: the reference everywhere */

int nn_conv2d_forward_mix(float *out, const float *inp, const float *w, size_t wstride,
                          const nn_kernel_mix *mix, const float *b, size_t bstride, int N,
                          int cin, int cout, int H, int W, int K, const nn_conv_post *post) {
    (void)out, (void)inp, (void)w, (void)wstride, (void)mix, (void)b, (void)bstride, (void)N;
    (void)cin, (void)cout, (void)H, (void)W, (void)K, (void)post;
    return 0;
}

int nn_conv2d_backward_input_mix(float *dinp, const float *dout, const float *w, size_t wstride,
                                 const nn_kernel_mix *mix, int N, int cin, int cout, int H,
                                 int W, int K, const nn_conv_post *dinp_post) {
    (void)dinp, (void)dout, (void)w, (void)wstride, (void)mix, (void)N, (void)cin, (void)cout;
    (void)H, (void)W, (void)K, (void)dinp_post;
    return 0;
}

int nn_conv2d_forward_fast(float *out, const float *inp, const float *w, size_t wstride,
                           const float *b, size_t bstride, int N, int cin, int cout, int H,
                           int W, int K, const nn_conv_post *post) {
    (void)out, (void)inp, (void)w, (void)wstride, (void)b, (void)bstride, (void)N, (void)cin;
    (void)cout, (void)H, (void)W, (void)K, (void)post;
    return 0;
}

int nn_conv2d_backward_fast(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, size_t wstride, size_t bstride,
                            int N, int cin, int cout, int H, int W, int K,
                            const nn_conv_post *dinp_post) {
    (void)dinp, (void)dw, (void)db, (void)dout, (void)inp, (void)w, (void)wstride, (void)bstride;
    (void)N, (void)cin, (void)cout, (void)H, (void)W, (void)K, (void)dinp_post;
    return 0;
}

#endif
