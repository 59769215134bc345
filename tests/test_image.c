#include "check.h"
#include "nsr.h"
static void test_modcrop(void) {
    nsr_image img;
    nsr_error err;
    REQUIRE(nsr_image_create(&img, 7, 5, 3, 1, &err) == 0, "%s", err.message);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 35; i++) nsr_image_plane(&img, c)[i] = (float)(c * 100 + i);
    for (int i = 0; i < 35; i++) img.alpha[i] = (float)i;
    REQUIRE(nsr_image_modcrop(&img, 3, &err) == 0, "%s", err.message);
    CHECK(img.width == 6 && img.height == 3, "size %dx%d", img.width, img.height);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 6; x++)
                CHECK(nsr_image_plane(&img, c)[y * 6 + x] == (float)(c * 100 + y * 7 + x), "c%d y%d x%d", c, y, x);
    CHECK(img.alpha[2 * 6 + 5] == (float)(2 * 7 + 5), "alpha");
    nsr_image_free(&img);
}
static void test_quantize8(void) {
    nsr_image img;
    nsr_error err;
    REQUIRE(nsr_image_create(&img, 4, 1, 1, 0, &err) == 0, "%s", err.message);
    img.data[0] = -0.1f; img.data[1] = 1.5f; img.data[2] = 100.4f / 255; img.data[3] = 100.6f / 255;
    nsr_image_quantize8(&img);
    CHECK(img.data[0] == 0 && img.data[1] == 1, "clamp");
    CHECK(img.data[2] * 255 == 100.0f && img.data[3] * 255 == 101.0f, "round %g %g", img.data[2] * 255, img.data[3] * 255);
    nsr_image_free(&img);
}
int main(void) {
    RUN(test_modcrop);
    RUN(test_quantize8);
    return test_summary();
}
