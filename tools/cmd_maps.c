/* cmd_maps.c - `nsr maps`: which sparsity group each region of an image selects, block by block
 * (the paper's Fig. 5): for each chosen block conv, a picture of the selected group per region
 * in a fixed palette over a faded copy of the image, and one of the selection's certainty (its
 * largest softmax weight, 1/k..1) as a heat map, each with a legend; a summary line per map on
 * stdout. The selections are those the network's forward makes (nsr_model_select_windows). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_model.h"
#include "commands.h"
#include "draw.h"

enum { INPUT, OUTPUT, MODEL, BLOCKS, CARDINAL, WINDOW, STRIDE, STRETCH, MAX_PIXELS, OVERWRITE, THREADS };
static const opt_spec specs[] = {
    [INPUT] = {.short_name = 'i', .long_name = "input", .kind = OPT_STRING, .arg = "IN",
               .help = "the image, as the network would take it (default: the built-in test\n"
                       "picture, 256x192)"},
    [OUTPUT] = {.short_name = 'o', .long_name = "output", .kind = OPT_STRING, .arg = "DIR",
                .help = "the folder to write the maps into (created when missing)"},
    [MODEL] = {.short_name = 'm', .long_name = "model", .kind = OPT_STRING, .arg = "M",
               .help = "an NSR model: its name (nsr models lists them) or its file (default:\n"
                       "nsr_x2)"},
    [BLOCKS] = {.long_name = "blocks", .kind = OPT_STRING, .arg = "LIST",
                .help = "blocks to map, from 0, comma-separated, or all (default: the first,\n"
                        "the middle (B/2) and the last)"},
    [CARDINAL] = {.long_name = "cardinal", .kind = OPT_STRING, .arg = "J",
                  .help = "with d cardinals, each making its own selection: the one to map,\n"
                          "0..d-1, or all (a pair of maps each; default 0)"},
    [WINDOW] = {.long_name = "window", .kind = OPT_INT, .min = 8, .max = 4096, .arg = "N",
                .help = "regions: N x N windows of the image (crops, zero-padded by the\n"
                        "convolutions as training patches are) instead of the reference tiles"},
    [STRIDE] = {.long_name = "stride", .kind = OPT_INT, .min = 1, .max = 4096, .arg = "S",
                .help = "with --window: a window every S pixels (default N); each is drawn\n"
                        "over the S x S cell round its centre, so a small S gives a finer map"},
    [STRETCH] = {.long_name = "stretch",
                 .help = "spread the heat map's colours over the certainties of the map itself\n"
                         "(default: over 1/k..1, the same for every map)"},
    [MAX_PIXELS] = CLI_OPT_MAX_PIXELS,
    [OVERWRITE] = {.long_name = "overwrite", .help = "allow a map to replace the input file"},
    [THREADS] = CLI_OPT_THREADS,
};

/* The reference tiling's tiles (NSR.md section 5; nsr upscale --tile reference). */
static const nsr_window_grid reference_tiles = {48, 32, 4};

#define MAX_GROUPS 64 /* the architecture's limit on k (src/nn/arch.c) */

/* ---------------------------------------------------------------- colours */

/* Group i's colour: Tableau's ten categorical colours, then hues a golden angle apart. */
static draw_rgb group_colour(int i) {
    static const unsigned ten[] = {0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f,
                                   0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
    if (i < 10)
        return (draw_rgb){(ten[i] >> 16) / 255.0f, (ten[i] >> 8 & 255) / 255.0f, (ten[i] & 255) / 255.0f};
    const double h = fmod(i * 0.381966, 1.0) * 6, v = i % 2 ? 0.75 : 0.95, s = 0.7;
    const double f = h - floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    const double rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    const double *c = rgb[(int)h % 6];
    return (draw_rgb){(float)c[0], (float)c[1], (float)c[2]};
}

/* The heat map's colour of t in 0..1: viridis, interpolated between five of its stops. */
static draw_rgb heat_colour(double t) {
    static const float stops[5][3] = {{0.267f, 0.005f, 0.329f}, {0.231f, 0.322f, 0.545f},
                                      {0.129f, 0.565f, 0.553f}, {0.365f, 0.784f, 0.388f},
                                      {0.992f, 0.906f, 0.145f}};
    const double x = fmin(fmax(t, 0), 1) * 4;
    const int i = x >= 4 ? 3 : (int)x;
    const float f = (float)(x - i);
    return (draw_rgb){stops[i][0] + f * (stops[i + 1][0] - stops[i][0]),
                      stops[i][1] + f * (stops[i + 1][1] - stops[i][1]),
                      stops[i][2] + f * (stops[i + 1][2] - stops[i][2])};
}

static const draw_rgb ink = {0.1f, 0.1f, 0.1f}, paper = {1, 1, 1};

/* ---------------------------------------------------------------- one map */

/* What one pair of pictures shows: selection sel of the map, cardinal card, read at every
 * region as its group (the largest weight, the first on ties) and certainty (that weight). */
typedef struct map_view {
    const nsr_selection_map *map;
    int sel, card;
    int stretch;    /* the heat map's colours span lo..hi rather than 1/k..1 */
    int *best;      /* (rows * cols) */
    float *certain; /* (rows * cols) */
    double share[MAX_GROUPS], mean_certainty;
    float lo, hi;   /* the least and the largest certainty */
} map_view;

/* The heat colour of a certainty c: its place between the ends of the view's scale. */
static draw_rgb certainty_colour(const map_view *v, float c) {
    const double lo = v->stretch ? v->lo : 1.0 / v->map->groups, hi = v->stretch ? v->hi : 1;
    return heat_colour(hi > lo ? (c - lo) / (hi - lo) : 1);
}

static void read_view(map_view *v) {
    const nsr_selection_map *m = v->map;
    const size_t count = (size_t)m->rows * m->cols, kd = (size_t)m->groups * m->cards;
    memset(v->share, 0, sizeof v->share);
    v->mean_certainty = 0;
    v->lo = 1, v->hi = 0;
    for (size_t w = 0; w < count; w++) {
        const float *g = m->gamma + ((size_t)v->sel * count + w) * kd + v->card;
        int best = 0;
        for (int i = 1; i < m->groups; i++)
            if (g[i * m->cards] > g[best * m->cards]) best = i;
        v->best[w] = best;
        v->certain[w] = g[best * m->cards];
        v->share[best] += 1.0 / count;
        v->mean_certainty += v->certain[w] / count;
        v->lo = fminf(v->lo, v->certain[w]), v->hi = fmaxf(v->hi, v->certain[w]);
    }
}

/* The region (window) index drawn at each pixel along an axis of len: the window whose centre
 * is nearest, so that each window rules the stride-wide cell round its centre. */
static void regions_along(int *out, int len, int first, int n, const nsr_selection_map *m) {
    for (int p = 0; p < len; p++) {
        const double at = (p + 0.5 - first - m->size / 2.0) / m->stride + 0.5;
        const int r = (int)floor(at);
        out[p] = r < 0 ? 0 : r >= n ? n - 1 : r;
    }
}

#define FONT 2    /* font pixels are 2 x 2 */
#define MARGIN 8
#define MIN_WIDTH 400
#define SWATCH 14
#define LINE (draw_text_height(FONT) + MARGIN)

/* The legend below the map from y0 in a canvas of width w; draws it when img is not NULL and
 * returns its height. Groups: a swatch per group with its share of the regions; certainty:
 * the colour bar from 1/k to 1 and the mean. */
static int legend(nsr_image *img, int y0, int w, const map_view *v, int certainty) {
    char text[64];
    const int k = v->map->groups;
    if (certainty) {
        const char *num = v->stretch ? "%.3f" : "%.2f";
        snprintf(text, sizeof text, num, v->stretch ? v->lo : 1.0 / k);
        int x = MARGIN;
        if (img) x += draw_text(img, x, y0, FONT, text, ink) + MARGIN;
        else x += draw_text_width(text, FONT) + MARGIN;
        const int bar = 200;
        for (int i = 0; img && i < bar; i++)
            draw_rect(img, x + i, y0, 1, SWATCH, heat_colour((i + 0.5) / bar));
        snprintf(text, sizeof text, num, v->stretch ? v->hi : 1.0);
        if (img) draw_text(img, x + bar + MARGIN, y0, FONT, text, ink);
        snprintf(text, sizeof text, "MEAN %.3f RANGE %.3f..%.3f", v->mean_certainty, v->lo, v->hi);
        if (img) draw_text(img, MARGIN, y0 + LINE, FONT, text, ink);
        return 2 * LINE;
    }
    int x = MARGIN, y = y0;
    for (int i = 0; i < k; i++) {
        snprintf(text, sizeof text, "G%d %.0f%%", i, 100 * v->share[i]);
        const int width = SWATCH + MARGIN / 2 + draw_text_width(text, FONT);
        if (x > MARGIN && x + width > w - MARGIN) x = MARGIN, y += LINE;
        if (img) {
            draw_rect(img, x, y, SWATCH, SWATCH, ink);
            draw_rect(img, x + 1, y + 1, SWATCH - 2, SWATCH - 2, group_colour(i));
            draw_text(img, x + SWATCH + MARGIN / 2, y, FONT, text, ink);
        }
        x += width + 2 * MARGIN;
    }
    return y + LINE - y0;
}

/* The picture of one view: title, map (the image zoomed by zoom, faded to grey, each region
 * coloured by its group or certainty, region edges darkened when they are far enough apart to
 * see), legend. */
static int render(nsr_image *out, const nsr_image *in, const map_view *v, int certainty,
                  const char *title, int zoom, nsr_error *err) {
    const nsr_selection_map *m = v->map;
    const int mw = in->width * zoom, mh = in->height * zoom;
    const int width = (mw > MIN_WIDTH ? mw : MIN_WIDTH) + 2 * MARGIN, top = LINE + MARGIN;
    const int height = top + mh + MARGIN + legend(NULL, 0, width, v, certainty);
    int *row = malloc((size_t)in->height * sizeof *row), *col = malloc((size_t)in->width * sizeof *col);
    if (!row || !col || nsr_image_create(out, width, height, 3, 0, err)) {
        free(row), free(col);
        return row && col ? -1 : nsr_fail(err, "out of memory for a map");
    }
    out->bit_depth = 8;
    draw_rect(out, 0, 0, width, height, paper);
    draw_text(out, MARGIN, MARGIN, FONT, title, ink);
    regions_along(row, in->height, m->first_y, m->rows, m);
    regions_along(col, in->width, m->first_x, m->cols, m);
    const size_t plane = (size_t)in->width * in->height;
    const int edges = m->stride * zoom >= 24;
    for (int Y = 0; Y < mh; Y++)
        for (int X = 0; X < mw; X++) {
            const int y = Y / zoom, x = X / zoom, w = row[y] * m->cols + col[x];
            const size_t at = (size_t)y * in->width + x;
            const float lum = in->channels == 1 ? in->data[at]
                                                : 0.299f * in->data[at] + 0.587f * in->data[plane + at] +
                                                      0.114f * in->data[2 * plane + at];
            const float base = 0.3f + 0.7f * fminf(fmaxf(lum, 0), 1);
            const draw_rgb c = certainty ? certainty_colour(v, v->certain[w]) : group_colour(v->best[w]);
            const float a = certainty ? 0.65f : 0.55f;
            const int edge = edges && ((X > 0 && col[(X - 1) / zoom] != col[x]) ||
                                       (Y > 0 && row[(Y - 1) / zoom] != row[y]));
            const float shade = edge ? 0.6f : 1.0f, rgb[3] = {c.r, c.g, c.b};
            for (int ch = 0; ch < 3; ch++)
                nsr_image_plane(out, ch)[(size_t)(top + Y) * width + MARGIN + X] =
                    shade * ((1 - a) * base + a * rgb[ch]);
        }
    legend(out, top + mh + MARGIN, width, v, certainty);
    free(row), free(col);
    return 0;
}

/* ---------------------------------------------------------------- the command */

/* --blocks: "all" or a comma-separated list of 0..B-1; chosen[b] set for each. */
static int parse_blocks(const char *text, int B, char *chosen) {
    if (!strcmp(text, "all")) {
        memset(chosen, 1, (size_t)B);
        return 0;
    }
    for (const char *p = text;;) {
        char *end;
        errno = 0;
        const long b = strtol(p, &end, 10);
        if (end == p || errno || b < 0 || b >= B || (*end && *end != ',')) return -1;
        chosen[b] = 1;
        if (!*end) return 0;
        p = end + 1;
    }
}

/* The folder, created when missing. */
static int make_folder(const char *dir) {
    struct stat st;
    if (mkdir(dir, 0777) && errno != EEXIST) return cli_error("%s: cannot create the folder: %s", dir, strerror(errno));
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return cli_error("%s: not a folder", dir);
    return 0;
}

/* The name of a view's maps, blockB_convC[_cardJ]. */
static void view_name(char *name, size_t size, const map_view *v) {
    const nsr_selection_map *m = v->map;
    const int n = snprintf(name, size, "block%d_conv%d", v->sel / m->per_block, v->sel % m->per_block + 1);
    if (m->cards > 1) snprintf(name + n, size - (size_t)n, "_card%d", v->card);
}

/* The file of one of a view's pictures: DIR/NAME_groups.png or DIR/NAME_certainty.png. */
static void view_path(char *path, size_t size, const char *dir, const map_view *v, int certainty) {
    char name[64];
    view_name(name, sizeof name, v);
    snprintf(path, size, "%s/%s_%s.png", dir, name, certainty ? "certainty" : "groups");
}

/* Writes the pair of pictures of one view and prints its summary line. */
static int write_view(map_view *v, const nsr_image *in, const char *dir, const char *regions,
                      int zoom) {
    const nsr_selection_map *m = v->map;
    const int b = v->sel / m->per_block, conv = v->sel % m->per_block + 1;
    char name[64], title[64], path[4200], card[24] = "";
    if (m->cards > 1) snprintf(card, sizeof card, " CARD %d", v->card);
    snprintf(title, sizeof title, "BLOCK %d CONV%d%s%s", b, conv, m->per_block == 1 ? "+2" : "", card);
    view_name(name, sizeof name, v);
    read_view(v);
    for (int certainty = 0; certainty < 2; certainty++) {
        nsr_image pic;
        nsr_error err;
        view_path(path, sizeof path, dir, v, certainty);
        if (render(&pic, in, v, certainty, title, zoom, &err)) return cli_error("%s", err.message);
        const int rc = nsr_image_write(&pic, path, NULL, &err);
        nsr_image_free(&pic);
        if (rc) return cli_error("%s", err.message);
    }
    printf("%s: %d regions (%s); groups", name, m->rows * m->cols, regions);
    for (int i = 0; i < m->groups; i++) printf(" %d:%.1f%%", i, 100 * v->share[i]);
    printf("; certainty mean %.3f, %.3f..%.3f (of %.3f..1)\n", v->mean_certainty, v->lo, v->hi,
           1.0 / m->groups);
    return 0;
}

/* The image as the network takes it: a grey image replicated to RGB for an RGB network. */
static int network_input(nsr_image *img, const nsr_model *model, nsr_error *err) {
    if (img->channels != 1 || nsr_model_arch(model)->channels != 3) return 0;
    nsr_image rgb;
    if (nsr_image_grey_to_rgb(&rgb, img, err)) return -1;
    nsr_image_free(img);
    *img = rgb;
    return 0;
}

static int run(const opt_args *a) {
    const opt_value *v = a->v;
    const char *in_path = v[INPUT].text, *dir = v[OUTPUT].text, *spec = v[MODEL].count ? v[MODEL].text : "nsr_x2";
    if (!dir) return cli_usage_error("maps", "-o DIR is required");
    if (v[STRIDE].count && !v[WINDOW].count) return cli_usage_error("maps", "--stride goes with --window");
    const nsr_window_grid grid = v[WINDOW].count
        ? (nsr_window_grid){(int)v[WINDOW].i, v[STRIDE].count ? (int)v[STRIDE].i : (int)v[WINDOW].i, 0}
        : reference_tiles;
    cli_set_threads(&v[THREADS]);
    if (!strcmp(spec, "bicubic"))
        return cli_error("bicubic has no sparsity groups: -m takes an NSR model");
    cli_model cm;
    nsr_error err;
    if (cli_model_open(&cm, spec, &(nsr_infer_options){.selection = NSR_SELECT_SOFT})) return 1;
    const nsr_model *model = cm.model;
    const nsr_arch *arch = nsr_model_arch(model);
    const char *label = cm.label;
    int rc = 1, card0 = 0, cards = 1;
    char *chosen = calloc((size_t)arch->blocks, 1);
    nsr_image in = {0};
    nsr_selection_map map = {0};
    map_view view = {0};
    int *views = NULL; /* the maps to draw: selection s, cardinal j as s * d + j */
    long card;
    if (!chosen) {
        cli_error("out of memory");
        goto done;
    }
    if (arch->groups == 1) {
        cli_error("%s is a plain network (1 sparsity group): it selects nothing to map", label);
        goto done;
    }
    if (v[BLOCKS].count && parse_blocks(v[BLOCKS].text, arch->blocks, chosen)) {
        rc = cli_usage_error("maps", "--blocks must be all or block numbers 0..%d separated by "
                             "commas, not '%s'", arch->blocks - 1, v[BLOCKS].text);
        goto done;
    }
    if (!v[BLOCKS].count) chosen[0] = chosen[arch->blocks / 2] = chosen[arch->blocks - 1] = 1;
    if (v[CARDINAL].count && !strcmp(v[CARDINAL].text, "all")) {
        cards = arch->cardinals;
    } else if (v[CARDINAL].count) {
        if (cli_parse_int(v[CARDINAL].text, 0, arch->cardinals - 1, &card)) {
            rc = cli_usage_error("maps", "--cardinal must be all or 0..%d (%s has %d cardinal%s), "
                                 "not '%s'", arch->cardinals - 1, label, arch->cardinals,
                                 arch->cardinals > 1 ? "s" : "", v[CARDINAL].text);
            goto done;
        }
        card0 = (int)card;
    }
    nsr_read_options ropts = {(uint64_t)v[MAX_PIXELS].i};
    if (in_path ? nsr_image_read(&in, in_path, &ropts, &err) : nsr_render_test_image(&in, 256, 192, &err)) {
        cli_error("%s", err.message);
        goto done;
    }
    if (network_input(&in, model, &err) || nsr_model_select_windows(model, &in, &grid, &map, &err)) {
        cli_error("%s: %s", in_path ? in_path : "test picture", err.message);
        goto done;
    }
    char regions[96];
    if (v[WINDOW].count)
        snprintf(regions, sizeof regions, "windows %dx%d every %d", grid.size, grid.size, grid.stride);
    else
        snprintf(regions, sizeof regions, "reference tiles 48x48 every 32%s",
                 in.width < 192 || in.height < 192 ? ", which --tile reference uses from 192x192" : "");
    view.map = &map;
    view.stretch = v[STRETCH].count;
    view.best = malloc((size_t)map.rows * map.cols * sizeof *view.best);
    view.certain = malloc((size_t)map.rows * map.cols * sizeof *view.certain);
    views = malloc((size_t)arch->blocks * map.per_block * arch->cardinals * sizeof *views);
    if (!view.best || !view.certain || !views) {
        cli_error("out of memory");
        goto done;
    }
    if (make_folder(dir)) goto done;
    if (!in_path) cli_note("no -i given: mapping the built-in test picture (256x192)");
    const int zoom = in.width >= 384 ? 1 : (384 + in.width - 1) / in.width > 8 ? 8 : (384 + in.width - 1) / in.width;
    /* every map's (selection, cardinal), and none of their files the input */
    int nviews = 0;
    for (int b = 0; b < arch->blocks; b++)
        for (int t = 0; chosen[b] && t < map.per_block; t++)
            for (int j = card0; j < card0 + cards; j++) {
                views[nviews++] = (b * map.per_block + t) * arch->cardinals + j;
                view.sel = b * map.per_block + t, view.card = j;
                for (int certainty = 0; in_path && certainty < 2; certainty++) {
                    char path[4200];
                    view_path(path, sizeof path, dir, &view, certainty);
                    if (cli_check_overwrite(in_path, path, v[OVERWRITE].count)) goto done;
                }
            }
    for (int n = 0; n < nviews; n++) {
        view.sel = views[n] / arch->cardinals, view.card = views[n] % arch->cardinals;
        if (write_view(&view, &in, dir, regions, zoom)) goto done;
    }
    rc = 0;
done:
    free(view.best), free(view.certain), free(views);
    nsr_selection_map_free(&map);
    nsr_image_free(&in);
    free(chosen);
    cli_model_close(&cm);
    return rc;
}

static const opt_command command = {
    "maps",
    "usage: nsr maps [-i IN] -o DIR [-m MODEL] [options]\n"
    "\n"
    "Shows which sparsity group each region of IN selects, block by block (the paper's Fig. 5).\n"
    "Each region runs through the network as one sample, and every NSR conv of a chosen block\n"
    "selects from it a softmax mixture of its k groups (one per cardinal). For each, DIR gets\n"
    "  blockB_convC[_cardJ]_groups.png     the group of largest weight per region, in a fixed\n"
    "                                      palette over a faded copy of IN\n"
    "  blockB_convC[_cardJ]_certainty.png  that weight (1/k: undecided .. 1: one group) as a\n"
    "                                      heat map\n"
    "and stdout a line with each group's share of the regions and the certainties. CONV1+2 in\n"
    "a title: one selection per block, used by both convs. Regions: by default the 48x48 tiles\n"
    "of --tile reference (every 32 pixels, reflect-padded by 4 at the image edge), each drawn\n"
    "over the 32x32 cell round its centre; --tile auto selects once per tile of up to 512\n"
    "pixels, which would leave most images one colour.\n"
    "\n",
    NULL, specs, OPT_COUNT(specs), 0, run,
};

int cmd_maps(int argc, char **argv) { return opt_main(&command, argc, argv); }
