/* file.c - whole-file reads and atomic writes.
 * Outputs and checkpoints are written to a temporary name in the destination's folder and then
 * renamed, so a killed process never leaves a half-written file under the real name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsr.h"

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
    snprintf(tmp, len + 32, "%s.tmp-%ld-XXXXXX", path, (long)getpid());
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return nsr_fail(err, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    const uint8_t *p = bytes;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return nsr_fail(err, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    /* mkstemp makes the file 0600; give it the usual permissions for a new file. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return nsr_fail(err, "%s: cannot finish writing: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return nsr_fail(err, "%s: cannot rename the finished file into place: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}
