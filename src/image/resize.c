/* resize.c - bicubic resampling with MATLAB imresize semantics (NSR.md section 5).
 *
 * MATLAB builds, for each dimension separately, a table of weights: output sample i (1-based)
 * maps to input position u = i / scale + 0.5 * (1 - 1 / scale); the kernel (cubic, a = -0.5;
 * when shrinking, h(x) = scale * cubic(scale * x) with its width 4 widened to 4 / scale) is
 * evaluated at u - j for the ceil(width) + 2 input samples j from floor(u - width / 2); the
 * weights are divided by their sum; out-of-range j are mirrored (1..n, n..1, repeated). The
 * image is then resized along one dimension after the other, the smaller scale first. On uint8
 * images each pass's result is rounded back to uint8 before the next: the LR images everyone
 * evaluates on were made that way, so we do the same, sum for sum, to reproduce them exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nsr.h"

/* The largest kernel (in input samples) we build a table for: a shrink by 1/2.5 million. */
#define RESIZE_MAX_KERNEL_WIDTH 1e7

/* The weight table of one dimension: output sample i reads input samples index[i * taps + k]
 * with weight[i * taps + k], k = 0..taps-1. */
typedef struct resize_axis {
    int in_len, out_len, taps;
    int *index;
    double *weight;
} resize_axis;

static void axis_free(resize_axis *ax) {
    free(ax->index);
    free(ax->weight);
}

/* Keys' cubic with a = -0.5, as MATLAB's cubic(): (1.5|x|^3 - 2.5|x|^2 + 1) for |x| <= 1,
 * (-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2) for 1 < |x| <= 2, else 0. */
static double cubic(double x) {
    double ax = fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
    if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
    if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
    return 0;
}

/* MATLAB's symmetric extension of a 0-based index j into 0..n-1: the sequence 0..n-1, n-1..0
 * repeated, so -1 -> 0, -2 -> 1, n -> n-1, n+1 -> n-2. */
static int mirror_index(long long j, int n) {
    long long period = 2LL * n, m = j % period;
    if (m < 0) m += period;
    return (int)(m < n ? m : period - 1 - m);
}

static int axis_init(resize_axis *ax, int in_len, int out_len, double scale, nsr_error *err) {
    memset(ax, 0, sizeof *ax);
    int antialias = scale < 1;
    double kernel_width = antialias ? 4 / scale : 4;
    if (kernel_width > RESIZE_MAX_KERNEL_WIDTH)
        return nsr_fail(err, "scale %g is too small (the kernel would span %.0f samples)", scale,
                        kernel_width);
    ax->in_len = in_len;
    ax->out_len = out_len;
    ax->taps = (int)ceil(kernel_width) + 2;
    size_t n = (size_t)out_len * (size_t)ax->taps;
    ax->index = malloc(n * sizeof *ax->index);
    ax->weight = malloc(n * sizeof *ax->weight);
    if (!ax->index || !ax->weight) {
        axis_free(ax);
        return nsr_fail(err, "out of memory for a resize table of %zu weights", n);
    }
    for (int i = 0; i < out_len; i++) {
        /* MATLAB's expressions, term for term, with its 1-based i and j. */
        double u = (i + 1) / scale + 0.5 * (1 - 1 / scale);
        double left = floor(u - kernel_width / 2);
        double *w = ax->weight + (size_t)i * ax->taps;
        int *index = ax->index + (size_t)i * ax->taps;
        double sum = 0;
        for (int k = 0; k < ax->taps; k++) {
            double j = left + k;
            w[k] = antialias ? scale * cubic(scale * (u - j)) : cubic(u - j);
            sum += w[k];
            index[k] = mirror_index((long long)j - 1, in_len);
        }
        for (int k = 0; k < ax->taps; k++) w[k] /= sum;
    }
    return 0;
}

/* Rounds to uint8 as MATLAB's conversion does: half away from zero, saturating. */
static double round_level(double v) {
    if (!(v > 0)) return 0;
    return v >= 255 ? 255 : floor(v + 0.5);
}

/* Resizes `planes` stacked planes of ax->in_len rows x cols along the height into
 * ax->out_len rows x cols. */
static void pass_height(double *out, const double *in, int planes, int cols, const resize_axis *ax,
                        int round8) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int p = 0; p < planes; p++) {
        for (int y = 0; y < ax->out_len; y++) {
            double *o = out + ((size_t)p * ax->out_len + y) * cols;
            const double *w = ax->weight + (size_t)y * ax->taps;
            const int *index = ax->index + (size_t)y * ax->taps;
            /* Accumulating tap by tap over whole rows keeps each sum in tap order, the order
             * of the per-pixel sum (0 + w0 v0 + w1 v1 + ...), so results are bit-equal. */
            for (int x = 0; x < cols; x++) o[x] = 0;
            for (int k = 0; k < ax->taps; k++) {
                if (w[k] == 0) continue;
                const double *row = in + ((size_t)p * ax->in_len + index[k]) * cols;
                for (int x = 0; x < cols; x++) o[x] += w[k] * row[x];
            }
            if (round8)
                for (int x = 0; x < cols; x++) o[x] = round_level(o[x]);
        }
    }
}

/* Resizes `planes` stacked planes of rows x ax->in_len along the width into rows x ax->out_len. */
static void pass_width(double *out, const double *in, int planes, int rows, const resize_axis *ax,
                       int round8) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int p = 0; p < planes; p++) {
        for (int y = 0; y < rows; y++) {
            const double *row = in + ((size_t)p * rows + y) * ax->in_len;
            double *o = out + ((size_t)p * rows + y) * ax->out_len;
            for (int x = 0; x < ax->out_len; x++) {
                const double *w = ax->weight + (size_t)x * ax->taps;
                const int *index = ax->index + (size_t)x * ax->taps;
                double s = 0;
                for (int k = 0; k < ax->taps; k++)
                    if (w[k] != 0) s += w[k] * row[index[k]];
                o[x] = round8 ? round_level(s) : s;
            }
        }
    }
}

/* Fills in whichever of *out_len and *scale is 0 (MATLAB: out = ceil(scale * in) from a scale,
 * scale = out / in from a size). */
static int resolve_dimension(const char *what, int in_len, int *out_len, double *scale,
                             nsr_error *err) {
    if (*out_len < 0 || !(*scale >= 0) || isinf(*scale))
        return nsr_fail(err, "invalid %s: size %d, scale %g", what, *out_len, *scale);
    if (*out_len == 0 && *scale == 0)
        return nsr_fail(err, "resize needs an output %s or a scale for it", what);
    if (*out_len == 0) {
        double n = ceil(*scale * in_len);
        if (n > (double)(1 << 30))
            return nsr_fail(err, "scale %g makes the %s %.0f, too large", *scale, what, n);
        *out_len = (int)n;
    }
    if (*scale == 0) *scale = (double)*out_len / in_len;
    return 0;
}

int nsr_resize_bicubic(nsr_image *dst, const nsr_image *src, int out_width, int out_height,
                       double scale_x, double scale_y, int round8, nsr_error *err) {
    memset(dst, 0, sizeof *dst);
    if (!src->data || src->width <= 0 || src->height <= 0)
        return nsr_fail(err, "resize: the source image is empty");
    if (resolve_dimension("width", src->width, &out_width, &scale_x, err) ||
        resolve_dimension("height", src->height, &out_height, &scale_y, err))
        return -1;
    if ((double)out_width * out_height > (double)NSR_DEFAULT_MAX_PIXELS)
        return nsr_fail(err, "resize to %dx%d exceeds the limit of %llu pixels", out_width,
                        out_height, (unsigned long long)NSR_DEFAULT_MAX_PIXELS);

    resize_axis ax_w, ax_h;
    if (axis_init(&ax_w, src->width, out_width, scale_x, err)) return -1;
    if (axis_init(&ax_h, src->height, out_height, scale_y, err)) {
        axis_free(&ax_w);
        return -1;
    }
    int planes = src->channels + (src->alpha ? 1 : 0);
    int height_first = scale_y <= scale_x; /* MATLAB sorts the scales, stably */
    size_t in_plane = (size_t)src->width * src->height, out_plane = (size_t)out_width * out_height;
    size_t mid_plane = height_first ? (size_t)src->width * out_height : (size_t)out_width * src->height;
    double *in = malloc(in_plane * planes * sizeof *in);
    double *mid = malloc(mid_plane * planes * sizeof *mid);
    double *out = NULL;
    int rc = -1;
    if (!in || !mid) {
        nsr_fail(err, "out of memory resizing a %dx%d image", src->width, src->height);
        goto done;
    }
    for (int p = 0; p < planes; p++) {
        const float *s = p < src->channels ? nsr_image_plane(src, p) : src->alpha;
        double *d = in + in_plane * p;
        for (size_t i = 0; i < in_plane; i++) d[i] = round8 ? nsr_level8(s[i]) : s[i];
    }
    if (height_first)
        pass_height(mid, in, planes, src->width, &ax_h, round8);
    else
        pass_width(mid, in, planes, src->height, &ax_w, round8);
    free(in);
    in = NULL;
    out = malloc(out_plane * planes * sizeof *out);
    if (!out) {
        nsr_fail(err, "out of memory for a %dx%d image", out_width, out_height);
        goto done;
    }
    if (height_first)
        pass_width(out, mid, planes, out_height, &ax_w, round8);
    else
        pass_height(out, mid, planes, out_width, &ax_h, round8);

    if (nsr_image_create(dst, out_width, out_height, src->channels, src->alpha != NULL, err))
        goto done;
    dst->bit_depth = round8 ? 8 : src->bit_depth;
    if (nsr_image_copy_metadata(dst, src, err)) {
        nsr_image_free(dst);
        goto done;
    }
    for (int p = 0; p < planes; p++) {
        float *d = p < src->channels ? nsr_image_plane(dst, p) : dst->alpha;
        const double *s = out + out_plane * p;
        /* Levels become level / 255.0f, the same float that nsr_image_quantize8 gives. */
        for (size_t i = 0; i < out_plane; i++) d[i] = round8 ? (float)s[i] / 255.0f : (float)s[i];
    }
    rc = 0;
done:
    free(in);
    free(mid);
    free(out);
    axis_free(&ax_w);
    axis_free(&ax_h);
    return rc;
}
