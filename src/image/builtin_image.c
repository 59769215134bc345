/* builtin_image.c - a test picture the program draws itself, so that the main job and the tests
 * have an input on any machine: smooth gradients, hard edges at several angles, fine stripes and
 * a zone plate whose frequency rises towards the corners (where upscalers show their aliasing). */
#include <math.h>

#include "nsr.h"

int nsr_render_test_image(nsr_image *img, int width, int height, nsr_error *err) {
    if (nsr_image_create(img, width, height, 3, 0, err)) return -1;
    const double pi = 3.14159265358979323846;
    float *r = nsr_image_plane(img, 0), *g = nsr_image_plane(img, 1), *b = nsr_image_plane(img, 2);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            double u = (x + 0.5) / width, v = (y + 0.5) / height;
            /* background: a colour gradient */
            double cr = 0.2 + 0.6 * u, cg = 0.3 + 0.5 * v, cb = 0.8 - 0.6 * u * v;
            /* a zone plate in the top-right quarter: cos(k r^2) with rising frequency */
            double dx = u - 0.75, dy = v - 0.25, rr = dx * dx + dy * dy;
            if (rr < 0.05) {
                double z = 0.5 + 0.5 * cos(pi * 900.0 * rr);
                cr = cg = cb = z;
            }
            /* a dark disc with a hard, curved edge in the lower left */
            double ex = u - 0.3, ey = v - 0.7;
            if (ex * ex + ey * ey < 0.03) { cr = 0.1; cg = 0.1; cb = 0.15; }
            /* fine vertical and slanted stripes in the top-left quarter */
            if (u < 0.45 && v < 0.4) {
                double s = (u < 0.22) ? sin(2 * pi * x / 3.0) : sin(2 * pi * (x + y) / 4.0);
                double t = s > 0 ? 0.9 : 0.15;
                cr = cg = t;
                cb = 0.5 * t + 0.2;
            }
            /* a red bar rotated by 30 degrees across the lower right */
            double along = (u - 0.7) * cos(pi / 6) + (v - 0.75) * sin(pi / 6);
            double across = -(u - 0.7) * sin(pi / 6) + (v - 0.75) * cos(pi / 6);
            if (fabs(along) < 0.2 && fabs(across) < 0.04) { cr = 0.85; cg = 0.1; cb = 0.1; }
            size_t i = (size_t)y * width + x;
            r[i] = (float)cr;
            g[i] = (float)cg;
            b[i] = (float)cb;
        }
    }
    nsr_image_quantize8(img);
    return 0;
}
