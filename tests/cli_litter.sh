#!/bin/sh
# Temporary files of interrupted atomic writes (NAME.tmp-PID-XXXXXX) do not pile up: a process
# stopped by SIGTERM/SIGINT removes its own, and the next use of a run folder, or the next
# write of the same output, removes those whose process is gone (those of live processes stay).
. tests/clilib.sh

check() {
    name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}
temps() { ls "$1" | grep -c '\.tmp-' ; }

mkdir "$WORK/data" "$WORK/out"
"$NSR" upscale -o "$WORK/data/a.png" 2>/dev/null
TINY="--blocks 1 --features 8 --wm 1 --groups 2 --cardinals 2 --patch 8 --batch 2"
dead=$(sh -c 'echo $$')  # a process that has exited
live=$$                  # this shell

# A run folder with the temporary files of killed writers, and one of a live writer.
"$NSR" train --data "$WORK/data" --run "$WORK/run" --scale 2 $TINY --iterations 20 \
    --checkpoint-every 5 -j 1 >/dev/null 2>&1 &
pid=$!
while [ ! -f "$WORK/run/log.csv" ]; do sleep 0.01; done
kill -KILL $pid
{ wait $pid; } 2>/dev/null
for f in checkpoint.nsr.tmp-$dead-a1B2c3 model.nsr.tmp-$dead-zZ9y8X log.csv.tmp-$dead-000000; do
    head -c 1000 /dev/zero >"$WORK/run/$f"
done
: >"$WORK/run/checkpoint.nsr.tmp-$live-QwErTy"
: >"$WORK/run/notes.tmp-x-abcdef"
expect_ok resume_with_litter "$NSR" train --resume "$WORK/run"
check stale_run_temps_removed test ! -e "$WORK/run/checkpoint.nsr.tmp-$dead-a1B2c3" \
    -a ! -e "$WORK/run/model.nsr.tmp-$dead-zZ9y8X" -a ! -e "$WORK/run/log.csv.tmp-$dead-000000"
check live_temp_kept test -e "$WORK/run/checkpoint.nsr.tmp-$live-QwErTy"
check other_names_kept test -e "$WORK/run/notes.tmp-x-abcdef"

# An output written again: its stale temporary files go, other outputs' stay until theirs are.
: >"$WORK/out/x.png.tmp-$dead-abcdef"
: >"$WORK/out/y.png.tmp-$dead-abcdef"
expect_ok write_output "$NSR" upscale -o "$WORK/out/x.png"
check stale_output_temp_removed test ! -e "$WORK/out/x.png.tmp-$dead-abcdef"
check other_output_temp_kept test -e "$WORK/out/y.png.tmp-$dead-abcdef"

# SIGTERM twice: the first asks for a clean stop, which writes a checkpoint (of a network large
# enough that writing it takes a while); the second, sent while that write is under way, ends
# the process at once, and the writer removes its own temporary file. (A second signal sent
# before the first is delivered would merge with it: the first is sent once training runs.)
BIG="--blocks 6 --features 64 --wm 4 --groups 2 --cardinals 2 --patch 8 --batch 1"
"$NSR" train --data "$WORK/data" --run "$WORK/big" --scale 2 $BIG --iterations 100000 \
    --checkpoint-every 0 -j 1 >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(cat "$WORK/big/log.csv" 2>/dev/null | wc -l)" -lt 3 ] && [ $i -lt 3000 ]; do
    sleep 0.01; i=$((i + 1))
done
kill -TERM $pid
i=0
while ! ls "$WORK/big" | grep -q '^checkpoint\.nsr\.tmp-' && [ $i -lt 100000 ]; do i=$((i + 1)); done
kill -TERM $pid
{ wait $pid; } 2>/dev/null
rc=$?
check sigterm_twice_status test $rc -eq 143
check own_temp_removed_on_sigterm test "$(temps "$WORK/big")" -eq 0
expect_ok checkpoint_intact_after_sigterm "$NSR" info "$WORK/big/checkpoint.nsr"
