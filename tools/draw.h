/* draw.h - drawing on an RGB nsr_image for the pictures the program makes (nsr maps):
 * rectangles, and text in a 5x7 bitmap font of digits, capitals and a few signs. */
#ifndef NSR_DRAW_H
#define NSR_DRAW_H

#include "nsr.h"

/* A colour, 0..1 per channel. */
typedef struct draw_rgb {
    float r, g, b;
} draw_rgb;

/* The x by y pixels of img (RGB) from (x0, y0), clipped to the image, painted c. */
void draw_rect(nsr_image *img, int x0, int y0, int w, int h, draw_rgb c);
/* text drawn with its top-left corner at (x0, y0), each font pixel a scale x scale square;
 * characters the font lacks are left blank. Returns the width it took (draw_text_width). */
int draw_text(nsr_image *img, int x0, int y0, int scale, const char *text, draw_rgb c);
/* The width of text at scale: 6 font pixels per character but the last (5). */
int draw_text_width(const char *text, int scale);
/* The height of a line of text at scale: 7 font pixels. */
int draw_text_height(int scale);

#endif
