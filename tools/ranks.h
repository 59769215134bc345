/* ranks.h - `nsr train` as one rank of an MPI job (ranks.c). */
#ifndef NSR_TOOLS_RANKS_H
#define NSR_TOOLS_RANKS_H

#include "nsr.h"

/* When started by mpirun (and built with MPI): initialises MPI, fills comm (rank, size, the
 * tree sum) and checks that every rank got the same arguments. Otherwise comm->size is 0: the
 * process runs alone. 0, or -1 after the failure's line (ranks_fail) with MPI stopped. */
int ranks_start(nsr_train_comm *comm, int argc, char **argv);
/* A rank that failed: prints "nsr: rank R of N: message" and stops the whole job. */
void ranks_fail(const nsr_train_comm *comm, const char *message);
/* Finalises MPI if ranks_start initialised it. */
void ranks_stop(void);

#endif
