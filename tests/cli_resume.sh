#!/bin/sh
# nsr train --resume of runs left by a kill at awkward moments: after the last checkpoint but
# before model.nsr (resume writes the model, the same bytes an uninterrupted run writes), and
# before the first step (the run folder holds its options from creation, so resume starts it);
# a run whose data fails to load leaves no run behind (its command, corrected, works again).
. tests/clilib.sh

check() {
    name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}
steps() { cut -d, -f1,2,3,5 "$1"; }

mkdir "$WORK/data"
"$NSR" upscale -o "$WORK/data/a.png" 2>/dev/null
TINY="--blocks 1 --features 8 --wm 1 --groups 2 --cardinals 2 --patch 8 --batch 2 --seed 3"
RUN="--data $WORK/data --scale 2 $TINY --iterations 30 --checkpoint-every 10 -j 1"

# Killed between the final checkpoint and model.nsr: the same state as a finished run whose
# model.nsr is gone.
"$NSR" train $RUN --run "$WORK/fin" >/dev/null 2>&1
cp "$WORK/fin/model.nsr" "$WORK/model.ref"
rm "$WORK/fin/model.nsr"
expect_ok resume_writes_missing_model "$NSR" train --resume "$WORK/fin"
expect_same resumed_model_identical "$WORK/model.ref" "$WORK/fin/model.nsr"
expect_error resume_complete_run "$NSR" train --resume "$WORK/fin"
check resume_complete_message grep -q "already finished" "$WORK/err"

# Killed while loading the data (many images, so loading lasts long enough to be caught in it),
# once the run folder shows its log.
mkdir "$WORK/many"
i=0
while [ $i -lt 40 ]; do cp "$WORK/data/a.png" "$WORK/many/$i.png"; i=$((i + 1)); done
MANY="--data $WORK/many --scale 2 $TINY --iterations 20 --checkpoint-every 10 -j 1"
"$NSR" train $MANY --run "$WORK/early" >/dev/null 2>&1 &
pid=$!
i=0
while [ ! -f "$WORK/early/log.csv" ] && [ $i -lt 1200 ]; do sleep 0.01; i=$((i + 1)); done
kill -KILL $pid
{ wait $pid; } 2>/dev/null
check killed_while_loading test ! -f "$WORK/early/model.nsr"
expect_ok resume_before_first_step "$NSR" train --resume "$WORK/early"
"$NSR" train $MANY --run "$WORK/early_ref" >/dev/null 2>&1
steps "$WORK/early/log.csv" >"$WORK/early.steps"
steps "$WORK/early_ref/log.csv" >"$WORK/early_ref.steps"
expect_same early_resume_log_identical "$WORK/early_ref.steps" "$WORK/early.steps"

# A data folder that does not load leaves no run: the corrected command starts afresh.
expect_error missing_data "$NSR" train --data "$WORK/none" --run "$WORK/bad" $TINY --scale 2
check failed_run_leaves_nothing test ! -e "$WORK/bad"
mkdir "$WORK/mine"
expect_error missing_data_own_folder "$NSR" train --data "$WORK/none" --run "$WORK/mine" $TINY --scale 2
check own_folder_kept test -d "$WORK/mine" -a ! -f "$WORK/mine/checkpoint.nsr"
expect_ok corrected_command "$NSR" train --data "$WORK/data" --run "$WORK/mine" $TINY --scale 2 --iterations 5
