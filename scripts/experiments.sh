#!/bin/sh
# scripts/experiments.sh VARIANT SEED: trains one row of the x2 experiments (issue: the paper's
# claims measured by nsr) and evaluates it on Set5, Set14, BSD100 and Urban100 (x2, protocol
# matlab, whole image), soft and hard selection, and folded (nsr fold: every selection fixed to
# its mean over inputs made from T91, the plain network that is). Every row has the same budget: the bundled
# model's data (T91 + BSD200), 48x48 LR patches, batch 16, Adam lr 1e-3 with the reference
# schedule, ITERATIONS steps (default 6000).
#
# The run goes to results/runs/VARIANT-sSEED (kept out of git), the model to
# results/models/VARIANT-sSEED.nsr, and the rows to results/experiments.jsonl, replacing the
# rows of the same variant, seed and task. Environment: NSR (the program, default
# ./build/nsr), DATA (default ../shared/data), THREADS (default: all cores), ITERATIONS, TASK.
#
# TASK (default sr2) asks whether the claims carry to the restoration tasks, at one level each:
#   sr2       x2 super-resolution, evaluated as above
#   noise25   colour denoising at sigma 25, evaluated on CBSD68 (PSNR on RGB and on Y)
#   jpeg20    grey JPEG artifact removal at quality 20 (--channels 1), evaluated on LIVE1 and
#             Classic5 as the grey JPEG tables are made (nsr eval --grey; PSNR and PSNR-B)
#   noise-blind  colour denoising blind to the level (sigma 0..55 per patch, as the bundled
#             denoiser), evaluated on CBSD68 at sigma 15, 25 and 50 (a row per level, with
#             "level"): whether the selection follows the noise level (the fold is taken at
#             the middle of the range, 27.5, as nsr fold's default)
# A row of another task carries "task", and its run and model the task's name (plain-noise25-s1).
#
# Variants (the network: B4 F32 wm2, like the bundled model, unless the name says otherwise):
#   plain               k = 1: the plain WDSR network
#   nsr-kK-dD           NSR at fixed FLOPs, K groups, D cardinals, a selection per conv
#   nsr-kK-dD-shared    the same with one selection per block, shared by its two convs
#   nsr-kK-dD-fixed     the fixed-model-size network: a block's hidden channels in K groups
#                       (combines with the training suffixes below: nsr-k4-d16-fixed-anneal)
#   nsr-kK-dD-anneal    trained for hard selection: softmax temperature 1 -> 0.1 over the first
#                       half, hard forward (straight through) from 2/3 of the run on
#   nsr-kK-dD-ste       trained hard (straight through the T = 1 softmax) from the start
#   nsr-kK-dD-gumbel    Gumbel noise 1 on the logits, temperature 1 -> 0.2 over the first 2/3,
#                       hard forward from 5/6 on
#   nsr-kK-dD-cold      the softmax alone, cooled: temperature 1 -> 0.02 over the first 2/3, no
#                       hard forward (the gradient stays the softmax's own)
#   ...-balance         any of the above with the load-balancing term, weight 0.01 (--balance):
#                       nsr-k4-d16-ste-balance
#   nsr-kK-dD-upcycle   the row nsr-kK-dD (trained first when missing), folded (nsr fold), split
#                       into K equal groups (--init FOLDED --groups K) and trained hard (straight
#                       through, T = 0.1) for FINETUNE more steps (default 1000) at the base's last
#                       learning rate, 4e-5: a network trained for --hard from the soft one's quality
#   nsr-kK-dD-extend    its control at the same budget: the row nsr-kK-dD trained on as it is, soft,
#                       for the same FINETUNE steps at the same learning rate
set -eu
[ $# -eq 2 ] || { echo "usage: scripts/experiments.sh VARIANT SEED" >&2; exit 2; }
variant=$1
seed=$2
NSR=${NSR:-./build/nsr}
DATA=${DATA:-../shared/data}
ITERATIONS=${ITERATIONS:-6000}
FINETUNE=${FINETUNE:-1000}
threads=${THREADS:+-j $THREADS}

case $variant in
plain) net="--groups 1 --cardinals 1" ;;
nsr-k*-d*)
    k=${variant#nsr-k}; k=${k%%-*}
    d=${variant#nsr-k*-d}; d=${d%%-*}
    net="--groups $k --cardinals $d"
    case $variant in *-shared*) net="$net --shared" ;; esac
    case $variant in *-fixed*) net="$net --regime fixed-size" ;; esac
    case ${variant%-balance} in
    *-anneal) net="$net --temperature 1:0.1 --anneal 0.5 --hard-from 0.6667" ;;
    *-ste) net="$net --hard-from 0" ;;
    *-gumbel) net="$net --gumbel 1 --temperature 1:0.2 --anneal 0.6667 --hard-from 0.8333" ;;
    *-cold) net="$net --temperature 1:0.02 --anneal 0.6667" ;;
    esac
    case $variant in *-balance) net="$net --balance 0.01" ;; esac ;;
*) echo "experiments.sh: unknown variant '$variant'" >&2; exit 2 ;;
esac

TASK=${TASK:-sr2}
case $TASK in
sr2) task="--scale 2"; sets="Set5 Set14 BSD100 Urban100"; eval_task="--scale 2 --protocol matlab"
     name=$variant-s$seed; key="\"variant\": \"$variant\", \"seed\": $seed, \"iterations\"" ;;
noise25) task="--noise 25"; sets="CBSD68"; eval_task="--noise 25" ;;
jpeg20) task="--jpeg 20 --channels 1"; sets="LIVE1 Classic5"; eval_task="--jpeg 20 --grey" ;;
noise-blind) task="--noise 0:55"; sets="CBSD68"; eval_task=; levels="15 25 50" ;;
*) echo "experiments.sh: unknown TASK '$TASK' (sr2, noise25, jpeg20, noise-blind)" >&2; exit 2 ;;
esac
task_field=
if [ "$TASK" != sr2 ]; then
    name=$variant-$TASK-s$seed
    key="\"variant\": \"$variant\", \"seed\": $seed, \"task\": \"$TASK\""
    task_field=" \"task\": \"$TASK\","
fi
run=results/runs/$name
model=results/models/$name.nsr
mkdir -p results/runs results/models
if [ -f "$model" ] && [ ! -f "$run/model.nsr" ]; then
    # a committed model of the row: evaluated again as it is (delete it to train anew)
    run=
elif [ -f "$run/model.nsr" ]; then
    :
elif [ -f "$run/checkpoint.nsr" ]; then
    $NSR train --resume "$run" $threads
elif [ "${variant%-upcycle}" != "$variant" ] || [ "${variant%-extend}" != "$variant" ]; then
    base=${variant%-*}
    from=results/models/$base${name#"$variant"}.nsr
    [ -f "$from" ] || sh "$0" "$base" "$seed"
    start="--init $from"
    if [ "${variant%-upcycle}" != "$variant" ]; then
        # shellcheck disable=SC2086
        $NSR fold "$from" --data "$DATA/T91" -o "$run-folded.nsr" --overwrite --quiet $threads
        start="--init $run-folded.nsr $net --hard-from 0 --temperature 0.1"
    fi
    # shellcheck disable=SC2086
    $NSR train --data "$DATA/T91" --data "$DATA/BSD200" --val "$DATA/Set5" --run "$run" $task $start \
        --seed "$seed" --lr 4e-5 --iterations "$FINETUNE" --val-every 500 --checkpoint-every 500 \
        --print-every 250 $threads
else
    $NSR train --data "$DATA/T91" --data "$DATA/BSD200" --val "$DATA/Set5" --run "$run" \
        $task --blocks 4 --features 32 --wm 2 $net --seed "$seed" \
        --iterations "$ITERATIONS" --val-every 1000 --checkpoint-every 500 --print-every 250 $threads
fi
[ -z "$run" ] || cp "$run/model.nsr" "$model"

params=$($NSR info "$model" | sed -n "s/^ *parameters *\([0-9,]*\).*/\1/p" | tr -d ,)
iterations=$($NSR info "$model" | sed -n "s/^ *train.iteration  *\([0-9]*\).*/\1/p")
case $variant in *-upcycle | *-extend) iterations=$((iterations + ITERATIONS)) ;; esac
scale=$($NSR info "$model" --json | sed -n 's/^{[^{]*"scale": \([0-9]*\),.*/\1/p')
rows=$(mktemp)
folded=$(mktemp --suffix=.nsr)
trap 'rm -f "$rows" "$rows.old" "$folded"' EXIT
inferences="soft hard"
if [ $variant = plain ]; then
    inferences=soft
else
    # the NSR network with every selection fixed to its mean over the 48x48 windows of its
    # inputs made from T91 (x2 LR, noisy or JPEG-coded, as nsr eval makes them), as the plain
    # network it then is (nsr fold)
    inferences="soft hard folded"
    # shellcheck disable=SC2086
    $NSR fold "$model" --data "$DATA/T91" -o "$folded" --overwrite --quiet $threads
    folded_params=$($NSR info "$folded" | sed -n "s/^ *parameters *\([0-9,]*\).*/\1/p" | tr -d ,)
fi
for set in $sets; do for level in ${levels:-none}; do
    level_opt= level_field=
    if [ "$level" != none ]; then level_opt="--noise $level" level_field=" \"level\": $level,"; fi
    for inference in $inferences; do
        flag= net=$model
        [ $inference = hard ] && flag=--hard
        [ $inference = folded ] && net=$folded
        # shellcheck disable=SC2086 # the options are words
        summary=$($NSR eval --model "$net" --data "$DATA/$set" $eval_task $level_opt --tile whole $flag \
            $threads --json | tail -n 1)
        protocol=$(echo "$summary" | sed -n 's/.*"protocol": "\([a-z_]*\)".*/\1/p')
        # the summary's measures as they are: psnr_y, ssim_y, and psnr_rgb / psnr_b where given
        measures=$(echo "$summary" | sed -n 's/.*\("psnr_y": .*[0-9]\)}$/\1/p')
        n=$params
        [ $inference = folded ] && n=$folded_params
        printf '{"variant": "%s", "seed": %s,%s "iterations": %s, "params": %s, "scale": %s, "set": "%s",%s "inference": "%s", "protocol": "%s", %s, "model": "%s"}\n' \
            "$variant" "$seed" "$task_field" "$iterations" "$n" "$scale" \
            "$set" "$level_field" "$inference" "$protocol" "$measures" "$model" >>"$rows"
    done
done; done
touch results/experiments.jsonl
grep -v "$key" results/experiments.jsonl >"$rows.old" || true
cat "$rows.old" "$rows" >results/experiments.jsonl
echo "experiments.sh: $name done"
