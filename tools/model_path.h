/* model_path.h - where the nsr program finds models by name: the search path and what is on it.
 * The path, in order: the folders of $NSR_MODELS (colon-separated), then models/ beside the
 * program (DIR/../models in a checkout, DIR/../share/nsr/models in an install, DIR being the
 * program's folder), then the build's install prefix's share/nsr/models. A model's name is its
 * file name without ".nsr"; the first folder holding NAME.nsr gives model NAME. */
#ifndef NSR_MODEL_PATH_H
#define NSR_MODEL_PATH_H

#include <stddef.h>

typedef struct model_path {
    char **dirs; /* the folders in search order, without duplicates; some may not exist */
    int count;
} model_path;

/* The search path of this process. -1 when out of memory (p empty). */
int model_path_init(model_path *p);
void model_path_free(model_path *p);

/* The file of model name (NAME.nsr in the first folder holding it), malloc'd; NULL when no
 * folder holds it (or out of memory). */
char *model_path_find(const model_path *p, const char *name);

/* "A, B, C": the folders for messages, cut with "..." to fit buf. Returns buf. */
const char *model_path_describe(const model_path *p, char *buf, size_t size);

/* The model files of folder dir (NAME.nsr, not hidden, sorted by name) as malloc'd paths;
 * *count of them (0 when the folder is missing or empty). NULL with *count 0 when there are
 * none; -1 when out of memory. */
int model_path_list(const char *dir, char ***paths, size_t *count);
void model_path_list_free(char **paths, size_t count);

#endif
