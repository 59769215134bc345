/* test_soak.c - the kill soak: `nsr train` of a tiny network killed with SIGKILL again and again,
 * at random moments and at the dangerous ones, and resumed each time until it finishes; its
 * log (loss and learning rate to the last bit), final model and checkpoint (parameters and Adam's
 * moments) must equal those of a run never interrupted, and no temporary file may be left.
 *
 * The dangerous moments are caught with inotify on the run folder, so the kill lands right
 * there (not a polling interval later): a checkpoint half written (its temporary file modified),
 * a checkpoint just renamed into place, the final checkpoint in place and model.nsr not yet
 * written (its temporary file created), model.nsr half written, and log.csv being cut back on
 * resume. Runs the program named by $NSR_BIN (make test sets it). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "nsr.h"

#define ITERATIONS "150"
#define HALF 75
#define MAX_SESSIONS 60
#define EARLY 24 /* sessions killed at random and early dangerous moments */

static char root[] = "/tmp/nsr-soak-XXXXXX";
static char data_dir[64], run_dir[64], ref_dir[64], err_path[64]; /* err: the sessions' stderr */
static const char *nsr_bin;

/* When a session is killed: after a random delay, or at the first inotify event of this kind on
 * a file whose name starts with prefix. */
typedef struct moment {
    const char *what;
    uint32_t event;
    const char *prefix;
} moment;

static const moment dangerous[] = {
    {"inside a checkpoint write", IN_MODIFY, "checkpoint.nsr.tmp-"},
    {"just after a checkpoint", IN_MOVED_TO, "checkpoint.nsr"},
    {"while log.csv is cut back", IN_CREATE, "log.csv.tmp-"},
    {"between the last checkpoint and model.nsr", IN_CREATE, "model.nsr.tmp-"},
    {"inside the model.nsr write", IN_MODIFY, "model.nsr.tmp-"},
};

static int read_all(const char *path, char **text, size_t *size) {
    nsr_error err;
    uint8_t *bytes;
    if (nsr_read_file(path, &bytes, size, &err)) return -1;
    *text = (char *)bytes;
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Starts nsr with args (NULL-terminated), output to the void. */
static pid_t start(const char *const *args) {
    const pid_t pid = fork();
    if (pid == 0) {
        const int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0666), 2);
        execv(nsr_bin, (char *const *)args);
        _exit(127);
    }
    return pid;
}

/* Waits for pid; kills it with SIGKILL at moment m (when not NULL) or after delay seconds (when
 * positive), whichever comes first. Returns its exit status, -1 when it was killed, and sets
 * *hit when moment m was met. */
static int finish(pid_t pid, int inotify, const moment *m, double delay, int *hit) {
    const double deadline = now() + delay;
    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (delay > 0 && now() >= deadline) break;
        struct pollfd p = {.fd = inotify, .events = POLLIN};
        if (poll(&p, 1, 1) <= 0) continue;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        const ssize_t n = read(inotify, buf, sizeof buf);
        for (ssize_t off = 0; off < n;) {
            const struct inotify_event *e = (const struct inotify_event *)(buf + off);
            if (m && (e->mask & m->event) && e->len && !strncmp(e->name, m->prefix, strlen(m->prefix)))
                *hit = 1;
            off += (ssize_t)(sizeof *e + e->len);
        }
        if (*hit) break;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_command(const char *const *args) {
    const pid_t pid = start(args);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The train command for the run in dir (the soak's own run folder, so that the provenance in
 * the files, which holds the command, is the same for the reference). */
#define TRAIN_ARGS(dir)                                                                          \
    {nsr_bin, "train", "--data", data_dir, "--run", dir, "--scale", "2", "--blocks", "1",         \
     "--features", "8", "--wm", "1", "--groups", "2", "--cardinals", "2", "--patch", "8",       \
     "--batch", "2", "--iterations", ITERATIONS, "--checkpoint-every", "7", "--seed", "11",     \
     "-j", "1", NULL}

/* log.csv without its seconds column (the one column that may differ between runs). */
static char *steps(const char *dir) {
    char path[128], *text;
    size_t size;
    snprintf(path, sizeof path, "%s/log.csv", dir);
    if (read_all(path, &text, &size)) return NULL;
    char *out = malloc(size + 1), *o = out;
    int field = 0;
    for (size_t i = 0; i < size; i++) {
        if (text[i] == ',') field++;
        if (text[i] == '\n') field = 0;
        if (field != 3) *o++ = text[i]; /* the comma before the seconds goes with them */
    }
    *o = 0;
    free(text);
    return out;
}

/* Every tensor and every metadata value of two model files equal, except train.seconds. */
static void check_same_file(const char *name) {
    char a_path[128], b_path[128];
    snprintf(a_path, sizeof a_path, "%s/%s", ref_dir, name);
    snprintf(b_path, sizeof b_path, "%s/%s", run_dir, name);
    nsr_model_file *a, *b;
    nsr_error err;
    REQUIRE(nsr_model_file_load(&a, a_path, &err) == 0, "%s", err.message);
    if (nsr_model_file_load(&b, b_path, &err)) {
        nsr_model_file_free(a);
        REQUIRE(0, "%s", err.message);
    }
    CHECK(nsr_model_file_tensor_count(a) == nsr_model_file_tensor_count(b), "%s: tensor counts", name);
    for (size_t i = 0; i < nsr_model_file_tensor_count(a); i++) {
        const nsr_model_tensor *ta = nsr_model_file_tensor_at(a, i);
        const nsr_model_tensor *tb = nsr_model_file_find_tensor(b, ta->name);
        CHECK(tb && tb->count == ta->count && !memcmp(tb->data, ta->data, ta->count * sizeof(float)),
              "%s: tensor %s differs from the uninterrupted run's", name, ta->name);
    }
    CHECK(nsr_model_file_meta_count(a) == nsr_model_file_meta_count(b), "%s: metadata counts", name);
    for (size_t i = 0; i < nsr_model_file_meta_count(a); i++) {
        const char *key = nsr_model_file_meta_key(a, i);
        const nsr_meta_type type = nsr_model_file_meta_type(a, key);
        if (!strcmp(key, "train.seconds")) continue;
        CHECK(nsr_model_file_meta_type(b, key) == type, "%s: metadata %s", name, key);
        if (type == NSR_META_STRING) {
            const char *va, *vb;
            CHECK(!nsr_model_file_get_string(a, key, &va, &err) && !nsr_model_file_get_string(b, key, &vb, &err) &&
                  !strcmp(va, vb), "%s: metadata %s differs", name, key);
        } else if (type == NSR_META_INT) {
            int64_t va, vb;
            CHECK(!nsr_model_file_get_int(a, key, &va, &err) && !nsr_model_file_get_int(b, key, &vb, &err) &&
                  va == vb, "%s: metadata %s differs", name, key);
        } else {
            double va, vb;
            CHECK(!nsr_model_file_get_float(a, key, &va, &err) && !nsr_model_file_get_float(b, key, &vb, &err) &&
                  !memcmp(&va, &vb, sizeof va), "%s: metadata %s differs", name, key);
        }
    }
    nsr_model_file_free(a);
    nsr_model_file_free(b);
}

/* The iteration of the run's checkpoint, 0 when there is none yet. */
static long saved_iteration(void) {
    char path[96];
    snprintf(path, sizeof path, "%s/checkpoint.nsr", run_dir);
    nsr_model_file *f;
    nsr_error err;
    int64_t it = 0;
    if (nsr_model_file_load(&f, path, &err)) return 0;
    nsr_model_file_get_int(f, "train.iteration", &it, &err);
    nsr_model_file_free(f);
    return (long)it;
}

static int temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_kill_soak(void) {
    if (!(nsr_bin = getenv("NSR_BIN"))) SKIP("NSR_BIN is not set (make test sets it)");
    REQUIRE(mkdtemp(root), "mkdtemp: %s", strerror(errno));
    snprintf(data_dir, sizeof data_dir, "%s/data", root);
    snprintf(run_dir, sizeof run_dir, "%s/run", root);
    snprintf(ref_dir, sizeof ref_dir, "%s/ref", root);
    snprintf(err_path, sizeof err_path, "%s/err", root);
    char picture[96];
    snprintf(picture, sizeof picture, "%s/a.png", data_dir);
    mkdir(data_dir, 0777);
    const char *make_picture[] = {nsr_bin, "upscale", "-o", picture, NULL};
    REQUIRE(run_command(make_picture) == 0, "nsr upscale failed");

    /* the uninterrupted run, made in the soak's folder and moved aside */
    const char *train[] = TRAIN_ARGS(run_dir);
    const double t0 = now();
    REQUIRE(run_command(train) == 0, "the uninterrupted run failed");
    const double whole = now() - t0;
    REQUIRE(rename(run_dir, ref_dir) == 0, "rename: %s", strerror(errno));

    /* the soak: sessions start the run, then resume it */
    mkdir(run_dir, 0777);
    const int inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    REQUIRE(inotify >= 0 && inotify_add_watch(inotify, run_dir, IN_CREATE | IN_MODIFY | IN_MOVED_TO) >= 0,
            "inotify: %s", strerror(errno));
    const char *resume[] = {nsr_bin, "train", "--resume", run_dir, "-j", "1", NULL};
    unsigned seed = (unsigned)time(NULL);
    int sessions = 0, killed = 0, status = -1, hits[sizeof dangerous / sizeof *dangerous] = {0};
    for (; sessions < MAX_SESSIONS && status != 0; sessions++) {
        /* Up to EARLY sessions, while the run is not half done, alternate a random moment
         * (up to a quarter of the uninterrupted run's time, so that such a session cannot
         * finish the run) and the first three dangerous ones (or a quarter of the run's time,
         * if not met first: the log is cut only when a kill left rows past the checkpoint).
         * Then a checkpoint write, if none was met yet, and the two moments at the end, each
         * until it is met, and the sessions left finish the run. */
        const moment *m = NULL;
        double delay = 0;
        if (sessions < EARLY && saved_iteration() < HALF) {
            delay = whole / 4 * (double)rand_r(&seed) / RAND_MAX;
            if (sessions % 2) m = &dangerous[(size_t)sessions / 2 % 3], delay = whole / 4;
        } else if (!hits[0]) {
            m = &dangerous[0];
        } else if (!hits[3]) {
            m = &dangerous[3];
        } else if (!hits[4]) {
            m = &dangerous[4];
        }
        char buf[4096];
        while (read(inotify, buf, sizeof buf) > 0) continue; /* events of earlier sessions */
        /* A kill meant for the model.nsr write can land after its rename, the run's last write
         * (on a busy machine the session runs on between the event and the signal): then the
         * run is finished, and resuming it again rightly fails. */
        char checkpoint[96], model[96];
        snprintf(model, sizeof model, "%s/model.nsr", run_dir);
        if (status < 0 && access(model, F_OK) == 0) {
            status = 0;
            break;
        }
        /* until the run's first checkpoint exists, the folder holds no run: the command again */
        snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.nsr", run_dir);
        const pid_t pid = start(access(checkpoint, F_OK) == 0 ? resume : train);
        REQUIRE(pid > 0, "fork: %s", strerror(errno));
        int hit = 0;
        status = finish(pid, inotify, m, delay, &hit);
        killed += status < 0;
        if (hit) hits[m - dangerous]++;
        if (status > 0) {
            char *text;
            size_t size;
            const int got = read_all(err_path, &text, &size) == 0;
            if (got) text[size ? size - 1 : 0] = 0;
            for (size_t i = 0; got && i < size; i++) /* the report is one line */
                if (text[i] == '\n') text[i] = '|';
            CHECK(0, "session %d exited with %d: %s", sessions, status, got ? text : "");
            if (got) free(text);
            break;
        }
    }
    close(inotify);
    REQUIRE(status == 0, "the run did not finish in %d sessions", sessions);
    printf("%d sessions, %d killed (seed %u); killed", sessions, killed, seed);
    for (size_t i = 0; i < sizeof dangerous / sizeof *dangerous; i++)
        printf("%s %s: %d", i ? "," : "", dangerous[i].what, hits[i]);
    printf("\n");
    CHECK(hits[0] > 0 && hits[3] > 0 && hits[4] > 0, "the kills inside a checkpoint write, "
          "before model.nsr and inside its write did not all happen (%d, %d, %d)", hits[0], hits[3], hits[4]);

    char *a = steps(ref_dir), *b = steps(run_dir);
    CHECK(a && b && !strcmp(a, b), "the log differs from the uninterrupted run's");
    free(a);
    free(b);
    check_same_file("model.nsr");
    check_same_file("checkpoint.nsr");
    CHECK(temp_files(run_dir) == 0, "%d temporary files left in the run folder", temp_files(run_dir));
    CHECK(run_command(resume) == 1, "resuming the finished run did not fail");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    RUN(test_kill_soak);
    if (*data_dir) nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* set once root is made */
    return test_summary();
}
