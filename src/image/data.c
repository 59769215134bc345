/* data.c - image folders: listing the images of a data set in a stable order. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "nsr.h"

static int has_image_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    static const char *const known[] = {".png", ".jpg", ".jpeg", ".webp"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcasecmp(dot, known[i])) return 1;
    return 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void nsr_path_list_free(nsr_path_list *list) {
    for (size_t i = 0; i < list->count; i++) free(list->paths[i]);
    free(list->paths);
    list->paths = NULL;
    list->count = 0;
}

int nsr_list_images(nsr_path_list *list, const char *dir, nsr_error *err) {
    list->paths = NULL;
    list->count = 0;
    DIR *d = opendir(dir);
    if (!d) return nsr_fail(err, "%s: cannot open folder: %s", dir, strerror(errno));
    size_t capacity = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.' || !has_image_extension(entry->d_name)) continue;
        size_t len = strlen(dir) + strlen(entry->d_name) + 2;
        char *path = malloc(len);
        if (!path) goto oom;
        snprintf(path, len, "%s/%s", dir, entry->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (list->count == capacity) {
            size_t grown = capacity ? 2 * capacity : 64;
            char **p = realloc(list->paths, grown * sizeof *p);
            if (!p) {
                free(path);
                goto oom;
            }
            list->paths = p;
            capacity = grown;
        }
        list->paths[list->count++] = path;
    }
    closedir(d);
    if (list->count == 0) return nsr_fail(err, "%s: no PNG, JPEG or WebP images in this folder", dir);
    /* readdir's order depends on the file system; sort so that tables and seeds are stable. */
    qsort(list->paths, list->count, sizeof *list->paths, compare_strings);
    return 0;
oom:
    closedir(d);
    nsr_path_list_free(list);
    return nsr_fail(err, "%s: out of memory listing the folder", dir);
}
