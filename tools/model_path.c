/* model_path.c - the model search path of the nsr program (model_path.h). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_path.h"

/* Set by the Makefile to the PREFIX the program is built for (make install PREFIX=...). */
#ifndef NSR_PREFIX
#define NSR_PREFIX "/usr/local"
#endif

#define MODEL_EXT ".nsr"

/* Appends dir (len bytes of it) unless empty or already there. */
static int add(model_path *p, const char *dir, size_t len) {
    if (!len) return 0;
    for (int i = 0; i < p->count; i++)
        if (strlen(p->dirs[i]) == len && !strncmp(p->dirs[i], dir, len)) return 0;
    char **grown = realloc(p->dirs, (size_t)(p->count + 1) * sizeof *grown);
    if (!grown) return -1;
    p->dirs = grown;
    if (!(p->dirs[p->count] = strndup(dir, len))) return -1;
    p->count++;
    return 0;
}

/* base + "/" + leaf, added. */
static int add_under(model_path *p, const char *base, const char *leaf) {
    char dir[PATH_MAX];
    int len = snprintf(dir, sizeof dir, "%s/%s", base, leaf);
    return len > 0 && (size_t)len < sizeof dir ? add(p, dir, (size_t)len) : 0;
}

int model_path_init(model_path *p) {
    p->dirs = NULL;
    p->count = 0;
    int rc = 0;
    for (const char *s = getenv("NSR_MODELS"); s && *s && !rc;) {
        const char *colon = strchr(s, ':');
        size_t len = colon ? (size_t)(colon - s) : strlen(s);
        rc = add(p, s, len);
        s = colon ? colon + 1 : NULL;
    }
    /* The program's folder's parent, from the resolved path of the running program (so a
     * symbolic link to it finds the models of the real install). */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0 && !rc) {
        exe[n] = 0;
        for (int up = 0; up < 2; up++) *(strrchr(exe, '/') ? strrchr(exe, '/') : exe) = 0;
        rc = add_under(p, exe, "models") || add_under(p, exe, "share/nsr/models");
    }
    if (!rc) rc = add_under(p, NSR_PREFIX, "share/nsr/models");
    if (rc) model_path_free(p);
    return rc;
}

void model_path_free(model_path *p) {
    for (int i = 0; i < p->count; i++) free(p->dirs[i]);
    free(p->dirs);
    p->dirs = NULL;
    p->count = 0;
}

char *model_path_find(const model_path *p, const char *name) {
    for (int i = 0; i < p->count; i++) {
        size_t size = strlen(p->dirs[i]) + strlen(name) + sizeof MODEL_EXT + 1;
        char *path = malloc(size);
        if (!path) return NULL;
        snprintf(path, size, "%s/%s" MODEL_EXT, p->dirs[i], name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) return path;
        free(path);
    }
    return NULL;
}

const char *model_path_describe(const model_path *p, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < p->count; i++) {
        int len = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", p->dirs[i]);
        if (len < 0 || (size_t)len >= size - used) { /* cut: end with "..." */
            if (size >= 4) memcpy(buf + size - 4, "...", 4);
            break;
        }
        used += (size_t)len;
    }
    return buf;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A model file's name: NAME.nsr with a NAME, not hidden (temporary files of atomic writes end
 * in their own suffix and are left out too). */
static int is_model_file(const char *name) {
    size_t len = strlen(name), ext = strlen(MODEL_EXT);
    return name[0] != '.' && len > ext && !strcmp(name + len - ext, MODEL_EXT);
}

int model_path_list(const char *dir, char ***paths, size_t *count) {
    *paths = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL && !rc) {
        if (!is_model_file(e->d_name)) continue;
        size_t size = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(size), **grown = realloc(*paths, (*count + 1) * sizeof *grown);
        if (grown) *paths = grown;
        if (!path || !grown) {
            free(path);
            rc = -1;
            break;
        }
        snprintf(path, size, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) (*paths)[(*count)++] = path;
        else free(path);
    }
    closedir(d);
    if (rc) {
        model_path_list_free(*paths, *count);
        *paths = NULL;
        *count = 0;
        return -1;
    }
    if (*count) qsort(*paths, *count, sizeof **paths, by_name);
    return 0;
}

void model_path_list_free(char **paths, size_t count) {
    for (size_t i = 0; i < count; i++) free(paths[i]);
    free(paths);
}
