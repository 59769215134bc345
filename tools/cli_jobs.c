/* cli_jobs.c - the inputs and outputs of a restoring command (cli_jobs.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_jobs.h"

static int is_folder(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *format_extension(nsr_format format) {
    return format == NSR_FORMAT_JPEG ? ".jpg" : format == NSR_FORMAT_WEBP ? ".webp" : ".png";
}

/* dir/NAME for input in: its base name, with format's extension when format is given and is not
 * the input's (a name with no image extension: format's, else ".png"). */
static char *output_in(const char *dir, const char *in, nsr_format format) {
    const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in, *ext;
    const nsr_format own = nsr_format_from_path(base);
    size_t stem = strlen(base), dir_len = strlen(dir);
    if (own == NSR_FORMAT_UNKNOWN) ext = format_extension(format);
    else {
        stem = (size_t)(strrchr(base, '.') - base);
        ext = format != NSR_FORMAT_UNKNOWN && format != own ? format_extension(format) : base + stem;
    }
    while (dir_len > 1 && dir[dir_len - 1] == '/') dir_len--; /* "out/" and "out" alike */
    size_t size = dir_len + stem + strlen(ext) + 2;
    char *out = malloc(size);
    if (out) snprintf(out, size, "%.*s/%.*s%s", (int)dir_len, dir, (int)stem, base, ext);
    return out;
}

static int add_job(cli_jobs *j, const char *in, char *out) {
    cli_job *grown = out ? realloc(j->jobs, (j->count + 1) * sizeof *grown) : NULL;
    char *in_copy = in ? strdup(in) : NULL;
    if (!grown || (in && !in_copy)) {
        free(out);
        free(in_copy);
        return cli_error("out of memory");
    }
    j->jobs = grown;
    j->jobs[j->count++] = (cli_job){in_copy, out, NULL};
    return 0;
}

/* Marks every job whose output an earlier job also writes. */
static int by_output(const void *a, const void *b, void *jobs) {
    const size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const cli_job *job = jobs;
    int c = strcmp(job[x].out, job[y].out);
    return c ? c : (x > y) - (x < y);
}
static int mark_shared_outputs(cli_jobs *j) {
    size_t *order = malloc(j->count * sizeof *order);
    if (!order) return cli_error("out of memory");
    for (size_t i = 0; i < j->count; i++) order[i] = i;
    qsort_r(order, j->count, sizeof *order, by_output, j->jobs);
    for (size_t i = 1, first = order[0]; i < j->count; i++) {
        if (strcmp(j->jobs[order[i]].out, j->jobs[first].out)) first = order[i];
        else j->jobs[order[i]].same_out_as = j->jobs[first].in;
    }
    free(order);
    return 0;
}

/* Several inputs, or a folder: into the folder output. */
static int plan_batch(cli_jobs *j, const char *command, const char *const *inputs, int ninputs,
                      const char *output, nsr_format format) {
    struct stat st;
    if (!strcmp(output, CLI_STDIO))
        return cli_usage_error(command, "-o - (standard output) takes one image, not several");
    /* a missing OUT named like an image is a slip, not a folder to make */
    if (stat(output, &st) == 0 ? !S_ISDIR(st.st_mode) : nsr_format_from_path(output) != NSR_FORMAT_UNKNOWN)
        return cli_usage_error(command, "-o %s: several images need a folder to go into", output);
    for (int i = 0; i < ninputs; i++) {
        if (!is_folder(inputs[i])) {
            if (add_job(j, inputs[i], output_in(output, inputs[i], format))) return 1;
            continue;
        }
        /* "DIR/" as "DIR", so that the inputs are named DIR/NAME */
        char dir[PATH_MAX];
        size_t len = strlen(inputs[i]);
        while (len > 1 && inputs[i][len - 1] == '/') len--;
        snprintf(dir, sizeof dir, "%.*s", (int)len, inputs[i]);
        nsr_path_list list;
        nsr_error err;
        if (nsr_list_images(&list, dir, &err)) return cli_error("%s", err.message);
        int rc = 0;
        for (size_t k = 0; k < list.count && !rc; k++)
            rc = add_job(j, list.paths[k], output_in(output, list.paths[k], format));
        nsr_path_list_free(&list);
        if (rc) return 1;
    }
    j->folder = output;
    return j->count > 1 && mark_shared_outputs(j);
}

int cli_jobs_plan(cli_jobs *j, const char *command, const char *const *inputs, int ninputs, const char *output,
                  nsr_format format) {
    memset(j, 0, sizeof *j);
    int rc = 0;
    for (int i = 0; i < ninputs; i++)
        if (!strcmp(inputs[i], CLI_STDIO) && ninputs > 1)
            return cli_usage_error(command, "-i - (standard input) takes one image: give it alone");
    if (!output) return cli_usage_error(command, "-o OUT is required");
    j->batch = ninputs > 1 || (ninputs == 1 && strcmp(inputs[0], CLI_STDIO) && is_folder(inputs[0]));
    if (j->batch) rc = plan_batch(j, command, inputs, ninputs, output, format);
    else {
        const char *in = ninputs ? inputs[0] : NULL;
        if (!strcmp(output, CLI_STDIO) || !is_folder(output)) rc = add_job(j, in, strdup(output));
        else if (in && strcmp(in, CLI_STDIO)) rc = add_job(j, in, output_in(output, in, format));
        else
            rc = cli_usage_error(command, "-o %s is a folder: name the file to write %s", output,
                                 in ? "standard input's image to" : "the test picture to");
    }
    if (rc) cli_jobs_free(j);
    return rc;
}

void cli_jobs_free(cli_jobs *j) {
    for (size_t i = 0; i < j->count; i++) {
        free(j->jobs[i].in);
        free(j->jobs[i].out);
    }
    free(j->jobs);
    memset(j, 0, sizeof *j);
}

int cli_jobs_make_folder(const cli_jobs *j) {
    if (!j->folder || is_folder(j->folder) || mkdir(j->folder, 0777) == 0) return 0;
    return cli_error("%s: cannot make the output folder: %s", j->folder, strerror(errno));
}

int cli_read_stdin(nsr_image *img, const nsr_read_options *opts, nsr_error *err) {
    size_t size = 0, capacity = 1 << 16;
    uint8_t *bytes = malloc(capacity);
    for (size_t got = 1; bytes && got;) {
        if (size == capacity) {
            uint8_t *grown = realloc(bytes, 2 * capacity);
            if (!grown) break;
            bytes = grown;
            capacity *= 2;
        }
        got = fread(bytes + size, 1, capacity - size, stdin);
        size += got;
    }
    if (!bytes || size == capacity || ferror(stdin)) {
        free(bytes);
        return nsr_fail(err, "standard input: %s", ferror(stdin) ? strerror(errno) : "out of memory");
    }
    nsr_error why;
    int rc = nsr_image_read_memory(img, bytes, size, opts, &why);
    free(bytes);
    return rc ? nsr_fail(err, "standard input: %s", why.message) : 0;
}

int cli_write_stdout(const nsr_image *img, nsr_format format, const nsr_write_options *opts, nsr_error *err) {
    if (isatty(STDOUT_FILENO))
        return nsr_fail(err, "standard output is a terminal: redirect it to a file or a pipe");
    uint8_t *bytes;
    size_t size;
    if (nsr_image_encode(img, format, opts, &bytes, &size, err)) return -1;
    int rc = fwrite(bytes, 1, size, stdout) != size || fflush(stdout) ? -1 : 0;
    free(bytes);
    return rc ? nsr_fail(err, "standard output: %s", strerror(errno)) : 0;
}
