/* file.c - whole-file reads and atomic writes.
 * Outputs and checkpoints are written to a temporary name in the destination's folder,
 * NAME.tmp-PID-XXXXXX, and then renamed, so a killed process never leaves a half-written file
 * under the real name. What it may leave is the temporary file: a signal handler can remove the
 * ones being written (nsr_remove_temp_files_in_flight), and the PID in the name tells later
 * processes whether its writer is gone (nsr_remove_stale_temp_files). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsr.h"

#define TEMP_MARK ".tmp-"
#define TEMP_RANDOM 6 /* the XXXXXX of mkstemp */

/* The temporary files this process is writing, for a signal handler, which can reach only
 * global state. Process-wide by nature (a signal ends the whole process), so the one global
 * state of the library. A slot is FREE, CLAIMED (its path being copied in) or LIVE; writes
 * from several threads take different slots, and when all are taken a write goes unregistered
 * (its temporary file is then left to nsr_remove_stale_temp_files). */
enum { SLOT_FREE, SLOT_CLAIMED, SLOT_LIVE };
#define TEMP_SLOTS 16
static atomic_int temp_state[TEMP_SLOTS];
static char temp_path[TEMP_SLOTS][PATH_MAX];

static int temp_register(const char *path) {
    if (strlen(path) >= PATH_MAX) return -1;
    for (int i = 0; i < TEMP_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (atomic_compare_exchange_strong(&temp_state[i], &expected, SLOT_CLAIMED)) {
            strcpy(temp_path[i], path);
            atomic_store(&temp_state[i], SLOT_LIVE);
            return i;
        }
    }
    return -1;
}

static void temp_unregister(int slot) {
    if (slot >= 0) atomic_store(&temp_state[slot], SLOT_FREE);
}

void nsr_remove_temp_files_in_flight(void) {
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (atomic_load(&temp_state[i]) == SLOT_LIVE) unlink(temp_path[i]);
}

/* The writer's PID when name is a temporary file of an atomic write of `base` (of any file when
 * base is NULL), else 0. Read from the end, BASE.tmp-PID-XXXXXX, since base may hold anything. */
static long temp_writer(const char *name, const char *base) {
    const size_t len = strlen(name), mark = strlen(TEMP_MARK);
    if (len < mark + TEMP_RANDOM + 3) return 0;
    const char *dash = name + len - TEMP_RANDOM - 1, *digits = dash;
    if (*dash != '-') return 0;
    while (digits > name && dash - digits < 10 && digits[-1] >= '0' && digits[-1] <= '9') digits--;
    if (digits == dash || (size_t)(digits - name) < mark + 1) return 0;
    const char *m = digits - mark;
    const size_t base_len = (size_t)(m - name);
    if (strncmp(m, TEMP_MARK, mark) ||
        (base && (strlen(base) != base_len || strncmp(name, base, base_len))))
        return 0;
    long pid = 0;
    for (const char *p = digits; p < dash; p++) pid = pid * 10 + (*p - '0');
    return pid <= INT_MAX ? pid : 0;
}

int nsr_remove_stale_temp_files(const char *dir, const char *name, nsr_error *err) {
    DIR *d = opendir(dir);
    if (!d) return nsr_fail(err, "%s: cannot list the folder: %s", dir, strerror(errno));
    const size_t dir_len = strlen(dir);
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const long pid = temp_writer(e->d_name, name);
        /* kill(pid, 0) fails with ESRCH only when no such process exists; a PID in use by
         * another program (EPERM, or reused) keeps the file: never remove what may be written */
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = malloc(dir_len + strlen(e->d_name) + 2);
        if (!path) continue;
        sprintf(path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0) removed++;
        free(path);
    }
    closedir(d);
    return removed;
}

/* The stale temporary files of path's own earlier writes, before a new one: the folder and the
 * name split at the last '/'. Best effort: a folder that cannot be listed fails the write
 * itself a moment later with a clearer reason. */
static void remove_stale_temps_of(const char *path) {
    const char *slash = strrchr(path, '/');
    nsr_error ignored;
    if (!slash) {
        nsr_remove_stale_temp_files(".", path, &ignored);
        return;
    }
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir) return;
    nsr_remove_stale_temp_files(*dir ? dir : "/", slash + 1, &ignored);
    free(dir);
}

int nsr_read_file(const char *path, uint8_t **bytes, size_t *size, nsr_error *err) {
    *bytes = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nsr_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return nsr_fail(err, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return nsr_fail(err, "%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        int e = errno;
        free(buf);
        fclose(f);
        return nsr_fail(err, "%s: read failed: %s", path, e ? strerror(e) : "short read");
    }
    fclose(f);
    *bytes = buf;
    *size = n;
    return 0;
}

int nsr_write_file_atomic(const char *path, const void *bytes, size_t size, nsr_error *err) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    if (!tmp) return nsr_fail(err, "%s: out of memory", path);
    /* Same folder as the destination, so that rename() stays on one file system. */
    snprintf(tmp, len + 32, "%s" TEMP_MARK "%ld-XXXXXX", path, (long)getpid());
    remove_stale_temps_of(path);
    /* signals that would end the process wait while the file is created and registered, so
     * that it never exists unregistered */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    int fd = mkstemp(tmp);
    const int slot = fd < 0 ? -1 : temp_register(tmp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return nsr_fail(err, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    const uint8_t *p = bytes;
    size_t left = size;
    const char *failed = NULL; /* the step that failed, with errno e */
    int e = 0;
    while (left > 0 && !failed) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            failed = "write failed", e = w < 0 ? errno : EIO;
        } else {
            p += w;
            left -= (size_t)w;
        }
    }
    /* mkstemp makes the file 0600; give it the usual permissions for a new file. */
    mode_t mask = umask(0);
    umask(mask);
    if (!failed && (fchmod(fd, 0666 & ~mask) != 0 || fsync(fd) != 0))
        failed = "cannot finish writing", e = errno;
    if (close(fd) != 0 && !failed) failed = "cannot finish writing", e = errno;
    if (!failed && rename(tmp, path) != 0)
        failed = "cannot rename the finished file into place", e = errno;
    if (failed) unlink(tmp);
    temp_unregister(slot);
    free(tmp);
    return failed ? nsr_fail(err, "%s: %s: %s", path, failed, strerror(e)) : 0;
}
