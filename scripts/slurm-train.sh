#!/bin/sh
# scripts/slurm-train.sh: `nsr train` on a Slurm cluster, one MPI rank per node, all of a node's
# cores as the rank's threads (-j). Submit from the repository root, with the run folder and
# the data on a file system every node sees:
#
#     sbatch --nodes 8 scripts/slurm-train.sh runs/x2 --data /shared/T91 --data /shared/BSD200 \
#         --scale 2 --blocks 16 --features 64 --wm 1 --groups 4 --cardinals 16 --shards 8
#
# and continue a stopped run (on any node count dividing its shards) with
#
#     sbatch --nodes 4 scripts/slurm-train.sh runs/x2 --resume
#
# The node count must be a power of 2 dividing --shards (default: the node count), and --shards
# a power of 2 dividing --batch: the run is then the same computation, bit for bit, as a single
# process with those shards. Slurm's SIGTERM at the time limit (or scancel) reaches every rank
# through srun; the ranks stop after the same step and rank 0 saves a checkpoint.
#SBATCH --job-name=nsr-train
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --signal=TERM@120
set -eu
[ $# -ge 1 ] || { echo "usage: sbatch [--nodes N] scripts/slurm-train.sh RUN [--resume | nsr train options]" >&2; exit 2; }
run=$1
shift
NSR=${NSR:-./build/nsr}
threads=${SLURM_CPUS_ON_NODE:-0}
if [ "${1:-}" = --resume ]; then
    exec mpirun "$NSR" train --resume "$run" -j "$threads"
fi
exec mpirun "$NSR" train --run "$run" -j "$threads" "$@"
