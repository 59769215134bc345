/* conv_paths.h - the fast convolution paths among which conv_dispatch.c chooses (x86 only:
 * elsewhere nothing here is defined, and the dispatch takes the reference). */
#ifndef NSR_CONV_PATHS_H
#define NSR_CONV_PATHS_H

#include <stddef.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"

#if FAST_X86

/* A kernel set is one (cout, cin, K, K) block of kernels: a call has one (shared kernels), N
 * (per-sample kernels) or a mixture's groups (kernels.h's nn_kernel_mix). */

/* conv_direct.c: the direct kernels, K = 1, 3, 5. Forward-style (the forward, or with
 * transposed and accumulate the input gradient, as for Winograd below): kernel sets at
 * w + s*wstride, s < sets, each packed once, sample n using set set_of[n] (set_of NULL: set n
 * with per-sample kernels, wstride != 0, else 0); no post. 0 when out of memory, having written
 * nothing. */
int direct_forward(float *out, const float *inp, const float *w, size_t wstride, int sets,
                   const int *set_of, int transposed, const float *b, size_t bstride, int N,
                   int cin, int cout, int H, int W, int K, int accumulate);
/* The direct weight gradient, like nn_conv2d_backward's (dw, db += ..., db may be NULL), in two
 * steps as Winograd's below: plan (NULL when out of memory), then run, which frees the plan (or
 * free it unrun). */
typedef struct direct_wgrad direct_wgrad;
direct_wgrad *direct_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                                size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                                int W, int K);
void direct_wgrad_run(direct_wgrad *plan);
void direct_wgrad_free(direct_wgrad *plan);

/* conv_winograd_forward.c and conv_winograd_wgrad.c: whether Winograd should run this 3x3
 * convolution's forward (or input gradient), or weight gradient (enough channels and pixels to
 * amortise its transforms), and the convolution itself, forward-style like the direct one:
 *   out (N, cout, H, W) (=, or += with accumulate) = conv3x3(inp (N, cin, H, W)) + b
 * with kernels w + n*wstride, (cout, cin, 3, 3); or, with transposed, the kernels of the
 * convolution cout -> cin, (cin, cout, 3, 3), read in <-> out and flipped (the input gradient).
 * With mix (else NULL), sample n's kernels are the mixture of mix->groups groups at
 * w + i*wstride (kernels.h's nn_kernel_mix; with transposed, the mixture's output channels are
 * this convolution's input channels). post (NULL: none): as nn_conv2d_forward's, applied after
 * the sum with accumulate. b may be NULL. Returns 0, having written nothing, when scratch
 * memory runs out. */
int wino_suits(int cin, int cout, int H, int W);
int wino_wgrad_suits(int cin, int cout, int H, int W);
int wino_conv3x3(float *out, const float *inp, const float *w, size_t wstride,
                 const nn_kernel_mix *mix, int transposed, const float *b, size_t bstride, int N,
                 int cin, int cout, int H, int W, int accumulate, const nn_conv_post *post);
/* And the weight gradient of a 3x3 convolution, like nn_conv2d_backward's (dw, db += ..., db
 * may be NULL), in two steps so that a caller can allocate everything before adding anything:
 * plan (NULL when out of memory), then run, which frees the plan (or free it unrun). */
typedef struct wino_wgrad wino_wgrad;
wino_wgrad *wino_wgrad_plan(float *dw, float *db, const float *dout, const float *inp,
                            size_t wstride, size_t bstride, int N, int cin, int cout, int H,
                            int W);
void wino_wgrad_run(wino_wgrad *plan);
void wino_wgrad_free(wino_wgrad *plan);

#endif
#endif
