/* test_file.c - atomic writes and the removal of the temporary files that interrupted writes
 * leave (NAME.tmp-PID-XXXXXX): which names count, and that only those of gone processes go. */
#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "nsr.h"

static char dir[] = "/tmp/nsr-file-XXXXXX";

static void touch(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

static int exists(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The PID of a process that has exited. */
static long gone_pid(void) {
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return (long)pid;
}

static void test_stale_temp_files(void) {
    REQUIRE(mkdtemp(dir), "mkdtemp failed");
    const long gone = gone_pid(), live = (long)getppid();
    char stale[64], stale_other[64], odd_base[64], live_one[64], short_random[64], not_file[64],
        near_name[64], no_base[64];
    snprintf(stale, sizeof stale, "a.png.tmp-%ld-abcdef", gone);
    snprintf(stale_other, sizeof stale_other, "b.nsr.tmp-%ld-Z09xyz", gone);
    snprintf(odd_base, sizeof odd_base, "c.tmp-1-aaaaaa.png.tmp-%ld-QQQQQQ", gone);
    snprintf(live_one, sizeof live_one, "a.png.tmp-%ld-abcdef", live);
    snprintf(short_random, sizeof short_random, "a.png.tmp-%ld-abcde", gone);
    snprintf(not_file, sizeof not_file, "a.png.tmp-%ld-folder", gone);
    snprintf(near_name, sizeof near_name, "a.pngx.tmp-%ld-abcdef", gone);
    snprintf(no_base, sizeof no_base, ".tmp-%ld-abcdef", gone);
    const char *removed[] = {stale, stale_other, odd_base, near_name};
    const char *kept[] = {live_one, short_random, no_base, "a.png.tmp--abcdef", "a.png.tmp-12x-abcdef", "a.png"};
    for (size_t i = 0; i < 4; i++) touch(removed[i]);
    for (size_t i = 0; i < 6; i++) touch(kept[i]);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, not_file);
    mkdir(path, 0777);

    nsr_error err;
    CHECK(nsr_remove_stale_temp_files(dir, "a.png", &err) == 1, "not just a.png's stale file");
    CHECK(!exists(stale) && exists(stale_other) && exists(near_name), "not a.png's alone");
    CHECK(nsr_remove_stale_temp_files(dir, NULL, &err) == 3, "not the other stale files");
    for (size_t i = 0; i < 4; i++) CHECK(!exists(removed[i]), "%s is still there", removed[i]);
    for (size_t i = 0; i < 6; i++) CHECK(exists(kept[i]), "%s was removed", kept[i]);
    CHECK(exists(not_file), "a folder was removed");
    CHECK(nsr_remove_stale_temp_files("/nonexistent/folder", NULL, &err) < 0 && strstr(err.message, "nonexistent"),
          "a missing folder: %s", err.message);

    /* an atomic write clears its own destination's stale files first */
    snprintf(stale, sizeof stale, "d.bin.tmp-%ld-abcdef", gone);
    touch(stale);
    snprintf(path, sizeof path, "%s/d.bin", dir);
    CHECK(nsr_write_file_atomic(path, "x", 1, &err) == 0, "%s", err.message);
    CHECK(!exists(stale) && exists("d.bin"), "the write left its stale temporary file");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    RUN(test_stale_temp_files);
    if (dir[sizeof dir - 2] != 'X') nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
