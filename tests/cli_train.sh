#!/bin/sh
# nsr train: usage errors (exit 2), failures (exit 1, one line), a short run and its files, and a
# run stopped by SIGINT (exit 130), resumed, stopped by SIGTERM (143), killed, resumed again: its
# log is row for row (loss and learning rate to the last bit) that of a run never interrupted.
. tests/clilib.sh

check() {
    name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}
rows() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# wait_rows LOG N: until LOG has more than N lines (header included), at most ~60 s.
wait_rows() {
    i=0
    while [ "$(rows "$1")" -le "$2" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
}
# The log without the seconds column (the only one that may differ between runs).
steps() { cut -d, -f1,2,3,5 "$1"; }

# Training pictures made by nsr itself: the built-in test picture, upscaled, and a smaller copy.
mkdir "$WORK/data" "$WORK/val"
"$NSR" upscale -o "$WORK/data/a.png" 2>/dev/null
"$NSR" resize "$WORK/data/a.png" "$WORK/data/b.webp" --scale 0.75
"$NSR" resize "$WORK/data/a.png" "$WORK/val/v.png" --scale 0.25
TINY="--blocks 1 --features 8 --wm 1 --groups 2 --cardinals 2 --patch 8 --batch 2"

expect_ok help "$NSR" train --help
expect_usage no_options "$NSR" train
expect_usage no_run "$NSR" train --data "$WORK/data" --scale 2
expect_usage no_task "$NSR" train --data "$WORK/data" --run "$WORK/r"
expect_usage two_tasks "$NSR" train --data "$WORK/data" --run "$WORK/r" --scale 2 --noise 25
expect_usage init_and_arch "$NSR" train --data "$WORK/data" --run "$WORK/r" --init m.nsr --blocks 4
expect_usage resume_and_options "$NSR" train --resume "$WORK/r" --scale 2
expect_usage bad_patch "$NSR" train --data "$WORK/data" --run "$WORK/r" --scale 2 --patch 0
expect_usage bad_lr "$NSR" train --data "$WORK/data" --run "$WORK/r" --scale 2 --lr x
expect_usage unknown_option "$NSR" train --data "$WORK/data" --run "$WORK/r" --scale 2 --speed 9
check no_run_folder_from_usage_errors test ! -e "$WORK/r"

expect_error missing_data "$NSR" train --data "$WORK/none" --run "$WORK/r0" --scale 2 $TINY
expect_error bad_cardinals "$NSR" train --data "$WORK/data" --run "$WORK/r0" --scale 2 $TINY --cardinals 3
expect_error too_small "$NSR" train --data "$WORK/data" --run "$WORK/r0" --scale 2 $TINY --patch 200
expect_error resume_nothing "$NSR" train --resume "$WORK/nothing"
expect_error nan_loss "$NSR" train --data "$WORK/data" --run "$WORK/nan" --scale 2 $TINY --lr 1e30 --checkpoint-every 1
check nan_message grep -q "the loss is" "$WORK/err"
check nan_keeps_checkpoint test -f "$WORK/nan/checkpoint.nsr" -a ! -f "$WORK/nan/model.nsr"

# A short run: its files, plain progress lines when piped, validation in the log.
"$NSR" train --data "$WORK/data" --run "$WORK/short" --scale 2 $TINY --iterations 40 \
    --val "$WORK/val" --val-every 20 --print-every 10 -j 1 >"$WORK/out" 2>"$WORK/err"
check short_run test $? -eq 0
check short_files test -f "$WORK/short/model.nsr" -a -f "$WORK/short/checkpoint.nsr"
check short_log test "$(rows "$WORK/short/log.csv")" -eq 41
check short_log_header test "$(head -n 1 "$WORK/short/log.csv")" = "iteration,loss,lr,seconds,val_psnr"
check short_validation test "$(cut -d, -f5 "$WORK/short/log.csv" | grep -c '^[0-9]')" -eq 2
check short_plain_lines test "$(grep -c '^iteration [0-9]*/40 loss' "$WORK/out")" -eq 4
check short_done grep -q "model.nsr" "$WORK/out"
check short_quiet_stderr test ! -s "$WORK/err"
expect_error run_taken "$NSR" train --data "$WORK/data" --run "$WORK/short" --scale 2 $TINY
expect_error resume_finished "$NSR" train --resume "$WORK/short"

# A run trained for hard selection validates with hard selection once its forward is hard: the
# logged value is nsr eval --hard's (pt_ir, whole image), not the soft one's.
"$NSR" train --data "$WORK/data" --run "$WORK/hardval" --scale 2 $TINY --iterations 4 \
    --hard-from 0.5 --val "$WORK/val" --val-every 4 -j 1 >/dev/null 2>&1
logged=$(tail -n 1 "$WORK/hardval/log.csv" | cut -d, -f5)
measure() {
    "$NSR" eval --model "$WORK/hardval/model.nsr" --data "$WORK/val" --scale 2 --tile whole "$@" \
        --json --quiet | tail -n 1 | sed 's/.*"psnr_y": \([0-9.]*\).*/\1/'
}
hard=$(measure --hard) soft=$(measure)
check hard_validation awk -v l="$logged" -v h="$hard" -v s="$soft" \
    'BEGIN { d = l - h; e = l - s; exit !(d < 1e-4 && d > -1e-4 && (e > 1e-4 || e < -1e-4)) }'

# Interrupted: far more iterations than will run, so the signals always land mid-training.
LONG="--data $WORK/data --scale 2 $TINY --iterations 100000 --checkpoint-every 50 --seed 5"
"$NSR" train $LONG --run "$WORK/cut" -j 1 >"$WORK/out1" 2>"$WORK/err1" &
pid=$!
wait_rows "$WORK/cut/log.csv" 5
kill -INT $pid
wait $pid; rc=$?
check sigint_status test "$rc" -eq 130
check sigint_message grep -q "stopped at iteration" "$WORK/err1"
"$NSR" train --resume "$WORK/cut" -j 2 >"$WORK/out2" 2>"$WORK/err2" &
pid=$!
wait_rows "$WORK/cut/log.csv" $(($(rows "$WORK/cut/log.csv") + 5))
kill -TERM $pid
wait $pid; rc=$?
check sigterm_status test "$rc" -eq 143
"$NSR" train --resume "$WORK/cut" >"$WORK/out3" 2>"$WORK/err3" &
pid=$!
wait_rows "$WORK/cut/log.csv" $(($(rows "$WORK/cut/log.csv") + 70))
kill -KILL $pid
{ wait $pid; } 2>/dev/null
"$NSR" train --resume "$WORK/cut" >"$WORK/out4" 2>"$WORK/err4" &
pid=$!
wait_rows "$WORK/cut/log.csv" $(($(rows "$WORK/cut/log.csv") + 5))
kill -INT $pid
wait $pid; rc=$?
check sigint_again_status test "$rc" -eq 130
n=$(($(rows "$WORK/cut/log.csv") - 1))
check consecutive_rows test "$(cut -d, -f1 "$WORK/cut/log.csv" | sed 1d | awk '$1 != NR' | wc -l)" -eq 0

# The same run, never interrupted (stopped once it has gone further).
"$NSR" train $LONG --run "$WORK/whole" -j 1 >/dev/null 2>&1 &
pid=$!
wait_rows "$WORK/whole/log.csv" $((n + 1))
kill -INT $pid
wait $pid
steps "$WORK/cut/log.csv" >"$WORK/cut.steps"
steps "$WORK/whole/log.csv" | head -n $((n + 1)) >"$WORK/whole.steps"
check resumed_log_identical cmp -s "$WORK/cut.steps" "$WORK/whole.steps"
check compared_rows test "$n" -gt 50

# --init with a task of another scale, or --channels: the blocks carried over, a new tail
"$NSR" new -o "$WORK/x2.nsr" --blocks 1 --features 8 --wm 1 --groups 2 --cardinals 2 2>/dev/null
INIT_RUN="--data $WORK/data --init $WORK/x2.nsr --patch 8 --batch 2 --iterations 2 --val-every 0"
expect_ok init_new_scale "$NSR" train $INIT_RUN --run "$WORK/x3" --scale 3
expect_out init_new_scale_model "x3 super-resolution, RGB" "$NSR" info "$WORK/x3/model.nsr"
expect_ok init_grey_denoiser "$NSR" train $INIT_RUN --run "$WORK/grey" --noise 0:50 --channels 1
expect_out init_grey_denoiser_model "same size.*grey" "$NSR" info "$WORK/grey/model.nsr"
# A run from a trained model records the steps behind it (the init's own and those behind the
# init), so that a chain of runs adds up; nsr models lists them as N+M.
CHAIN_RUN="--data $WORK/data --patch 8 --batch 2 --iterations 2 --val-every 0"
"$NSR" info "$WORK/x3/model.nsr" >"$WORK/x3.info" 2>&1
check init_untrained_no_count test -z "$(grep init_iterations "$WORK/x3.info")"
expect_ok init_from_trained "$NSR" train $CHAIN_RUN --init "$WORK/x3/model.nsr" --run "$WORK/x3b"
expect_out init_iterations_recorded "train.init_iterations  *2$" "$NSR" info "$WORK/x3b/model.nsr"
expect_ok init_chain "$NSR" train $CHAIN_RUN --init "$WORK/x3b/model.nsr" --run "$WORK/x3c"
expect_out init_iterations_chain "train.init_iterations  *4$" "$NSR" info "$WORK/x3c/model.nsr"
mkdir -p "$WORK/listed" && cp "$WORK/x3c/model.nsr" "$WORK/listed/chain.nsr"
expect_out init_iterations_listed "^chain .*, 4+2 it\. " env NSR_MODELS="$WORK/listed" "$NSR" models

# --init of a plain model with --groups: split into equal groups (sparse upcycling), trained hard
"$NSR" new -o "$WORK/plain.nsr" --blocks 1 --features 8 --wm 1 --groups 1 2>/dev/null
SPLIT_RUN="--data $WORK/data --init $WORK/plain.nsr --patch 8 --batch 2 --iterations 2 --val-every 0"
expect_ok split_plain "$NSR" train $SPLIT_RUN --run "$WORK/split" --groups 2 --cardinals 2 --hard-from 0
expect_out split_plain_model "2 sparsity groups, 2 cardinals" "$NSR" info "$WORK/split/model.nsr"
expect_out split_plain_trained_hard "trained_hard *1" "$NSR" info "$WORK/split/model.nsr"
expect_error split_nsr_model "$NSR" train --data "$WORK/data" --init "$WORK/x2.nsr" --run "$WORK/split2" --groups 2
expect_usage split_cardinals_alone "$NSR" train $SPLIT_RUN --run "$WORK/split3" --cardinals 2
expect_usage split_one_group "$NSR" train $SPLIT_RUN --run "$WORK/split4" --groups 1
