/* test_data.c - listing a data set's images (src/image/data.c) in a temporary folder made here:
 * which names count as images, the order, and the errors for an empty or missing folder. */
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "nsr.h"

static char dir[64];

/* An empty file dir/name (the listing goes by name, never reads the content). */
static void touch(const char *name) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
}

static void remove_in(const char *name) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
}

/* Images by extension, any case; hidden files, other extensions and folders left out; sorted
 * by name whatever the order readdir gives. */
static void test_lists_images_sorted(void) {
    static const char *const files[] = {"d.jpeg", "b.png", "zeta.WebP", "a.JPG", "notes.txt",
                                        "png", ".hidden.png", "c.webp.bak"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) touch(files[i]);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/folder.png", dir);
    mkdir(sub, 0700);
    nsr_path_list list;
    nsr_error err = {{0}};
    REQUIRE(nsr_list_images(&list, dir, &err) == 0, "listing failed: %s", err.message);
    static const char *const want[] = {"a.JPG", "b.png", "d.jpeg", "zeta.WebP"};
    CHECK(list.count == 4, "%zu images listed, expected 4", list.count);
    for (size_t i = 0; i < list.count && i < 4; i++) {
        char expect[128];
        snprintf(expect, sizeof expect, "%s/%s", dir, want[i]);
        CHECK(strcmp(list.paths[i], expect) == 0, "image %zu is %s, expected %s", i,
              list.paths[i], expect);
    }
    nsr_path_list_free(&list);
    CHECK(list.paths == NULL && list.count == 0, "the freed list is not empty");
    rmdir(sub);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) remove_in(files[i]);
}

static void test_empty_and_missing_folders(void) {
    nsr_path_list list;
    nsr_error err = {{0}};
    touch("readme.txt");
    CHECK(nsr_list_images(&list, dir, &err) != 0, "a folder without images was accepted");
    CHECK(strstr(err.message, "no PNG, JPEG or WebP images") && strstr(err.message, dir),
          "message: %s", err.message);
    CHECK(list.count == 0 && list.paths == NULL, "a failed listing left %zu paths", list.count);
    remove_in("readme.txt");
    char missing[96];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    CHECK(nsr_list_images(&list, missing, &err) != 0, "a missing folder was accepted");
    CHECK(strstr(err.message, "cannot open folder") && strstr(err.message, missing),
          "message: %s", err.message);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/nsr-test-data-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL test_data: cannot make a temporary folder\n");
        return 1;
    }
    RUN(test_lists_images_sorted);
    RUN(test_empty_and_missing_folders);
    rmdir(dir);
    return test_summary();
}
