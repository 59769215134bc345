/* upscale.c - libnsr from a program of your own: load a model, restore an image in memory,
 * write it. Built by `make` (build/examples/upscale); against an installed libnsr:
 *     cc upscale.c $(pkg-config --cflags --libs nsr) -o upscale
 *     ./upscale /usr/local/share/nsr/models/nsr_x2.nsr photo.png photo_x2.png */
#include <stdio.h>

#include <nsr.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL IN OUT\n", argv[0]);
        return 2;
    }
    nsr_error err;
    nsr_model *model = NULL;
    nsr_image in = {0}, out = {0};
    /* NULL options: soft selection, --tile auto. Alpha, ICC, EXIF and DPI come along. */
    int ok = !nsr_model_load(&model, argv[1], &err) && !nsr_image_read(&in, argv[2], NULL, &err) &&
             !nsr_model_restore(model, &in, &out, NULL, &err) &&
             !nsr_image_write(&out, argv[3], NULL, &err);
    if (ok) printf("%dx%d -> %dx%d\n", in.width, in.height, out.width, out.height);
    else fprintf(stderr, "upscale: %s\n", err.message);
    /* Each free accepts what a failed call left empty. */
    nsr_image_free(&out);
    nsr_image_free(&in);
    nsr_model_free(model);
    return ok ? 0 : 1;
}
