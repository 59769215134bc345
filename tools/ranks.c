/* ranks.c - the ranks of a data-parallel `nsr train` under mpirun (Open MPI): the library's
 * nsr_train_comm made of MPI point-to-point messages. Built with MPI when its development files
 * are there (the Makefile's HAVE_MPI); without them, or when the program was not started by
 * mpirun, the program trains alone and nothing here touches MPI.
 *
 * The sum is recursive doubling: at level l each rank exchanges its whole buffer with rank
 * r ^ 2^l and adds the two. Every level pairs the same subtrees on both sides and a + b == b + a
 * in IEEE arithmetic, so all ranks end with the same bits, the sum of the binary tree over the
 * ranks in order: the tree the library builds over the shards of one process. (MPI_Allreduce
 * chooses its own order of additions, which may differ between rank counts, so it is not used.)
 * Each level moves the whole buffer: log2(R) x 4 bytes per parameter; a ring allreduce moves
 * 2 (R-1)/R but adds in an order that depends on R. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ranks.h"

#ifdef NSR_HAVE_MPI
#include <mpi.h>

/* Started by mpirun: Open MPI's launcher sets this in every rank's environment. Without it the
 * program does not initialise MPI (a singleton MPI_Init would start a runtime of its own). */
static int under_mpirun(void) { return getenv("OMPI_COMM_WORLD_SIZE") != NULL; }

static int started;

/* MPI messages count in int: buffers go in pieces of at most this many elements. */
#define PIECE (1 << 28)

static int tree_sum(void *ctx, void *buf, size_t count, int is_double, nsr_error *err) {
    (void)ctx;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const size_t esize = is_double ? sizeof(double) : sizeof(float);
    void *other = malloc(count * esize);
    if (!other) return nsr_fail(err, "out of memory for a message of %zu values", count);
    for (int level = 1; level < size; level *= 2) {
        const int peer = rank ^ level;
        for (size_t at = 0; at < count; at += PIECE) {
            const int n = (int)(count - at < PIECE ? count - at : PIECE);
            const MPI_Datatype type = is_double ? MPI_DOUBLE : MPI_FLOAT;
            if (MPI_Sendrecv((char *)buf + at * esize, n, type, peer, level,
                             (char *)other + at * esize, n, type, peer, level, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                free(other);
                return nsr_fail(err, "exchange with rank %d failed", peer);
            }
        }
        if (is_double)
            for (size_t i = 0; i < count; i++) ((double *)buf)[i] += ((double *)other)[i];
        else
            for (size_t i = 0; i < count; i++) ((float *)buf)[i] += ((float *)other)[i];
    }
    free(other);
    return 0;
}

/* FNV-1a over the arguments, NUL-separated, but for the thread count: ranks on unlike nodes
 * may use unlike -j (the result does not depend on it). */
static uint64_t args_hash(int argc, char **argv, int from) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = from; i < argc; i++) {
        if (!strcmp(argv[i], "-j")) {
            i++;
            continue;
        }
        if (!strncmp(argv[i], "-j", 2)) continue;
        for (const char *c = argv[i];; c++) {
            h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
            if (!*c) break;
        }
    }
    return h;
}

static int start(nsr_train_comm *comm, int argc, char **argv, nsr_error *err) {
    memset(comm, 0, sizeof *comm);
    if (!under_mpirun()) return 0;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return nsr_fail(err, "MPI_Init failed");
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm->size);
    comm->sum = tree_sum;
    /* every rank must run the same training: the same arguments after the program name */
    uint64_t mine = args_hash(argc, argv, 1), *all = malloc((size_t)comm->size * sizeof *all);
    if (!all) return nsr_fail(err, "out of memory");
    MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int differs = -1;
    for (int r = 0; r < comm->size && differs < 0; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (differs >= 0)
        return nsr_fail(err, "rank %d was started with other options than rank 0: every rank "
                        "must run the same command", differs);
    return 0;
}

void ranks_fail(const nsr_train_comm *comm, const char *message) {
    fprintf(stderr, "nsr: rank %d of %d: %s\n", comm->rank, comm->size, message);
    fflush(stderr);
    /* the other ranks would wait for this one's messages forever */
    MPI_Abort(MPI_COMM_WORLD, 1);
}

void ranks_stop(void) {
    if (started) MPI_Finalize();
    started = 0;
}

#else

static int start(nsr_train_comm *comm, int argc, char **argv, nsr_error *err) {
    (void)argc, (void)argv;
    memset(comm, 0, sizeof *comm);
    if (getenv("OMPI_COMM_WORLD_SIZE"))
        return nsr_fail(err, "started by mpirun, but this nsr was built without MPI (install "
                        "libopenmpi-dev and rebuild)");
    return 0;
}

void ranks_fail(const nsr_train_comm *comm, const char *message) {
    (void)comm;
    fprintf(stderr, "nsr: %s\n", message);
}

void ranks_stop(void) {}

#endif

int ranks_start(nsr_train_comm *comm, int argc, char **argv) {
    nsr_error err;
    if (!start(comm, argc, argv, &err)) return 0;
    ranks_fail(comm, err.message);
    ranks_stop();
    return -1;
}
