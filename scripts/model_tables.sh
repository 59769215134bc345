#!/bin/sh
# scripts/model_tables.sh MODEL.nsr: evaluates a bundled model on the benchmark sets of its
# task, as the published tables are made, and writes one row per (set, level, protocol, tile) to
# results/models.jsonl, replacing that model's earlier rows; `python3 scripts/model_tables.py`
# prints the tables of RESULTS.md and models/README.md from them.
#
#   x S super-resolution   Set5, Set14, BSD100, Urban100: --protocol matlab --tile whole (the
#                          VDSR-style tables), pt_ir whole, and pt_ir --tile reference (NSR.md
#                          section 6, the reference code's own numbers); a model trained for
#                          --hard also matlab whole under --hard ("inference": "hard")
#   denoising, RGB         CBSD68, Kodak24, McMaster at sigma 15, 25, 50 (PSNR on RGB and Y)
#   denoising, grey        BSD68, Set12 at sigma 15, 25, 50 (--grey)
#   JPEG, RGB              LIVE1 at quality 10, 20, 30, 40 (PSNR on RGB and Y, PSNR-B)
#   JPEG, grey             LIVE1, Classic5 at quality 10, 20, 30, 40 (--grey; PSNR-B)
#
# Every restoration row carries the degraded input's own numbers too ("input": {...}).
# Environment: NSR (default ./build/nsr), DATA (default ../shared/data), THREADS (default all).
set -eu
[ $# -eq 1 ] || { echo "usage: scripts/model_tables.sh MODEL.nsr" >&2; exit 2; }
model=$1
NSR=${NSR:-./build/nsr}
DATA=${DATA:-../shared/data}
threads=${THREADS:+-j $THREADS}
[ -f "$model" ] || { echo "model_tables.sh: no model file '$model'" >&2; exit 1; }

json=$($NSR info "$model" --json)
field() { echo "$json" | sed -n "s/.*\"$1\": \"*\([^,\"}]*\).*/\1/p"; }
scale=$(field scale)
channels=$(field channels)
task=$(field task)

rows=$(mktemp)
trap 'rm -f "$rows" "$rows.old"' EXIT
# eval_row SET LEVEL PROTOCOL TILE EVAL-OPTIONS...: one row; the input's numbers for restoration
eval_row() {
    set=$1 level=$2 protocol=$3 tile=$4; shift 4
    inference=soft
    case " $* " in *" --hard "*) inference=hard ;; esac
    # shellcheck disable=SC2086 # the options are words
    out=$($NSR eval --model "$model" --data "$DATA/$set" --protocol "$protocol" --tile "$tile" \
        "$@" $threads --json --quiet | tail -n 1)
    measures=$(echo "$out" | sed -n 's/.*\("psnr_y": .*[0-9]\)}$/\1/p')
    input=
    if [ "$task" != sr ]; then
        # shellcheck disable=SC2086
        in=$($NSR eval --data "$DATA/$set" --protocol "$protocol" "$@" $threads --json --quiet | tail -n 1)
        input=", \"input\": {$(echo "$in" | sed -n 's/.*\("psnr_y": .*[0-9]\)}$/\1/p')}"
    fi
    printf '{"model": "%s", "task": "%s", "channels": %s, "set": "%s", "level": %s, "protocol": "%s", "tile": "%s", "inference": "%s", %s%s}\n' \
        "$model" "$task" "$channels" "$set" "$level" "$protocol" "$tile" "$inference" "$measures" "$input" >>"$rows"
    echo "model_tables.sh: $set $level $protocol $tile $inference done" >&2
}

case $task in
sr)
    hard=$(echo "$json" | sed -n 's/.*"select.trained_hard": \([0-9]\).*/\1/p')
    for set in Set5 Set14 BSD100 Urban100; do
        eval_row "$set" "$scale" matlab whole --scale "$scale"
        [ "${hard:-0}" = 1 ] && eval_row "$set" "$scale" matlab whole --scale "$scale" --hard
        eval_row "$set" "$scale" pt_ir whole --scale "$scale"
        eval_row "$set" "$scale" pt_ir reference --scale "$scale"
    done ;;
denoise)
    if [ "$channels" = 1 ]; then sets="BSD68 Set12"; grey=--grey; else sets="CBSD68 Kodak24 McMaster"; grey=; fi
    for set in $sets; do for s in 15 25 50; do
        eval_row "$set" "$s" matlab whole --noise "$s" $grey
    done; done ;;
jpeg)
    if [ "$channels" = 1 ]; then sets="LIVE1 Classic5"; grey=--grey; else sets=LIVE1; grey=; fi
    for set in $sets; do for q in 10 20 30 40; do
        eval_row "$set" "$q" matlab whole --jpeg "$q" $grey
    done; done ;;
*) echo "model_tables.sh: '$model' has no task this script knows ('$task')" >&2; exit 1 ;;
esac

touch results/models.jsonl
grep -v "\"model\": \"$model\"" results/models.jsonl >"$rows.old" || true
cat "$rows.old" "$rows" >results/models.jsonl
echo "model_tables.sh: $model done"
