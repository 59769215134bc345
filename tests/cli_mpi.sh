#!/bin/sh
# nsr train under mpirun (data parallel, tools/ranks.c): a run on 2 and on 4 ranks is the
# single-process run with the same shards, loss column and final network bit for bit; a run
# stopped on 2 ranks is resumed alone to the same end; ranks started with other options are
# refused with a message naming the rank. Skipped when mpirun is missing or nsr was built
# without MPI.
. tests/clilib.sh

if ! command -v mpirun >/dev/null 2>&1; then echo "SKIP mpi: no mpirun (Debian: openmpi-bin)"; exit 0; fi
# as root, Open MPI wants to be told; Open MPI's own allocations are no leaks of ours
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
if $MPIRUN -np 1 "$NSR" train --help 2>&1 | grep -q 'built without MPI'; then
    echo "SKIP mpi: nsr was built without MPI (libopenmpi-dev)"; exit 0
fi

check() {
    name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}
steps() { cut -d, -f1,2,3 "$1"; }

mkdir "$WORK/data"
"$NSR" upscale -o "$WORK/data/a.png" 2>/dev/null
"$NSR" resize "$WORK/data/a.png" "$WORK/data/b.webp" --scale 0.75
# long enough (about 40 ms a step) for the stop below to land inside the run
RUN="--data $WORK/data --scale 2 --blocks 2 --features 16 --wm 1 --groups 2 --cardinals 2 --patch 24
     --batch 8 --iterations 40 --gumbel 0.5 --checkpoint-every 4 --val-every 0 --shards 4"

expect_ok alone "$NSR" train $RUN --run "$WORK/r1" -j 1
expect_ok two_ranks $MPIRUN -np 2 "$NSR" train $RUN --run "$WORK/r2" -j 1
expect_ok four_ranks $MPIRUN -np 4 "$NSR" train $RUN --run "$WORK/r4" -j 1
for r in r1 r2 r4; do
    steps "$WORK/$r/log.csv" >"$WORK/$r.steps"
    "$NSR" upscale -m "$WORK/$r/model.nsr" -o "$WORK/$r.png" 2>/dev/null
done
check two_ranks_rows test "$(wc -l <"$WORK/r2.steps")" -eq 41
expect_same two_ranks_log "$WORK/r1.steps" "$WORK/r2.steps"
expect_same four_ranks_log "$WORK/r1.steps" "$WORK/r4.steps"
expect_same two_ranks_network "$WORK/r1.png" "$WORK/r2.png"
expect_same four_ranks_network "$WORK/r1.png" "$WORK/r4.png"
check one_rank_writes test "$(ls "$WORK/r2" | tr '\n' ' ')" = "checkpoint.nsr log.csv model.nsr "

# stopped on 2 ranks, resumed by one process
$MPIRUN -np 2 "$NSR" train $RUN --run "$WORK/half" -j 1 >"$WORK/half.out" 2>&1 &
pid=$!
i=0
while ! grep -q '^[5-9],' "$WORK/half/log.csv" 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
# the ranks held still, signalled (as Slurm signals every task), then let go: each stops after
# the step it is in, however fast the steps are
pkill -STOP -f "^[^ ]*nsr train .*$WORK/half"
pkill -TERM -f "^[^ ]*nsr train .*$WORK/half"
pkill -CONT -f "^[^ ]*nsr train .*$WORK/half"
wait $pid
check stopped_midway test "$(wc -l <"$WORK/half/log.csv")" -lt 41
expect_ok resumed_alone "$NSR" train --resume "$WORK/half" -j 2
steps "$WORK/half/log.csv" >"$WORK/half.steps"
expect_same resume_2_to_1_log "$WORK/r1.steps" "$WORK/half.steps"

# every rank must run the same command (-j may differ)
$MPIRUN -np 1 "$NSR" train $RUN --run "$WORK/m" : -np 1 "$NSR" train $RUN --run "$WORK/m" --lr 0.002 \
    >"$WORK/mism.out" 2>"$WORK/mism.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'rank 1 was started with other options' "$WORK/mism.err"; then pass mismatched_options
else fail mismatched_options "exit $rc: $(head -c 300 "$WORK/mism.err")"; fi
expect_ok other_thread_counts $MPIRUN -np 1 "$NSR" train $RUN --run "$WORK/j" -j 1 : -np 1 "$NSR" train $RUN --run "$WORK/j" -j 2

# nsr bench ranks: alone it starts itself on 2 ranks and reports both steps' parts; under
# mpirun rank 0 alone reports that rank count; the other benchmarks are refused there
"$NSR" bench ranks --quick --json -j 2 >"$WORK/ranks.json" 2>"$WORK/ranks.err"
if grep -q '"case": "step B1 F8 k2 d2, 2 ranks".*"ranks": 2, "threads_per_rank": 1, "compute_ms": .*"one_ranks": 1, "one_threads_per_rank": 2' "$WORK/ranks.json"
then pass bench_ranks_alone; else fail bench_ranks_alone "$(head -c 300 "$WORK/ranks.json" "$WORK/ranks.err")"; fi
$MPIRUN -np 2 "$NSR" bench ranks --quick --json -j 1 >"$WORK/ranks2.json" 2>"$WORK/ranks2.err"
if [ "$(grep -c '"ranks": 2, "threads_per_rank": 1' "$WORK/ranks2.json")" -eq 1 ] &&
    [ "$(grep -c '"bench"' "$WORK/ranks2.json")" -eq 1 ]
then pass bench_ranks_under_mpirun; else fail bench_ranks_under_mpirun "$(head -c 300 "$WORK/ranks2.json" "$WORK/ranks2.err")"; fi
$MPIRUN -np 2 "$NSR" bench conv --quick >"$WORK/conv.out" 2>"$WORK/conv.err"
rc=$?
if [ $rc -ne 0 ] && grep -q "under mpirun only 'nsr bench ranks' runs" "$WORK/conv.err"; then pass bench_conv_under_mpirun_refused
else fail bench_conv_under_mpirun_refused "exit $rc: $(head -c 300 "$WORK/conv.err")"; fi
