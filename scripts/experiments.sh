#!/bin/sh
# scripts/experiments.sh VARIANT SEED: trains one row of the x2 experiments (issue: the paper's
# claims measured by nsr) and evaluates it on Set5, Set14, BSD100 and Urban100 (x2, protocol
# matlab, whole image), soft and hard selection. Every row has the same budget: the bundled
# model's data (T91 + BSD200), 48x48 LR patches, batch 16, Adam lr 1e-3 with the reference
# schedule, ITERATIONS steps (default 6000).
#
# The run goes to results/runs/VARIANT-sSEED (kept out of git), the model to
# results/models/VARIANT-sSEED.nsr, and the rows to results/experiments.jsonl, replacing the
# rows of the same variant and seed. Environment: NSR (the program, default ./build/nsr),
# DATA (default ../shared/data), THREADS (default: all cores), ITERATIONS.
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
set -eu
[ $# -eq 2 ] || { echo "usage: scripts/experiments.sh VARIANT SEED" >&2; exit 2; }
variant=$1
seed=$2
NSR=${NSR:-./build/nsr}
DATA=${DATA:-../shared/data}
ITERATIONS=${ITERATIONS:-6000}
threads=${THREADS:+-j $THREADS}

case $variant in
plain) net="--groups 1 --cardinals 1" ;;
nsr-k*-d*)
    k=${variant#nsr-k}; k=${k%%-*}
    d=${variant#nsr-k*-d}; d=${d%%-*}
    net="--groups $k --cardinals $d"
    case $variant in *-shared*) net="$net --shared" ;; esac
    case $variant in *-fixed*) net="$net --regime fixed-size" ;; esac
    case $variant in
    *-anneal) net="$net --temperature 1:0.1 --anneal 0.5 --hard-from 0.6667" ;;
    *-ste) net="$net --hard-from 0" ;;
    *-gumbel) net="$net --gumbel 1 --temperature 1:0.2 --anneal 0.6667 --hard-from 0.8333" ;;
    esac ;;
*) echo "experiments.sh: unknown variant '$variant'" >&2; exit 2 ;;
esac

name=$variant-s$seed
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
else
    $NSR train --data "$DATA/T91" --data "$DATA/BSD200" --val "$DATA/Set5" --run "$run" \
        --scale 2 --blocks 4 --features 32 --wm 2 $net --seed "$seed" \
        --iterations "$ITERATIONS" --val-every 1000 --checkpoint-every 500 --print-every 250 $threads
fi
[ -z "$run" ] || cp "$run/model.nsr" "$model"

params=$($NSR info "$model" | sed -n "s/^ *parameters *\([0-9,]*\).*/\1/p" | tr -d ,)
iterations=$($NSR info "$model" | sed -n "s/^ *train.iteration  *\([0-9]*\).*/\1/p")
rows=$(mktemp)
for set in Set5 Set14 BSD100 Urban100; do
    for inference in soft hard; do
        flag=; [ $inference = hard ] && flag=--hard
        if [ $variant = plain ]; then [ $inference = hard ] && continue; fi
        $NSR eval --model "$model" --data "$DATA/$set" --scale 2 --protocol matlab --tile whole \
            $flag $threads --json | tail -n 1 |
        sed -n 's/.*"psnr_y": \([-0-9.e]*\), "ssim_y": \([-0-9.e]*\).*/\1 \2/p' | {
            read -r psnr ssim
            printf '{"variant": "%s", "seed": %s, "iterations": %s, "params": %s, "scale": 2, "set": "%s", "inference": "%s", "protocol": "matlab", "psnr_y": %s, "ssim_y": %s, "model": "%s"}\n' \
                "$variant" "$seed" "$iterations" "$params" "$set" "$inference" "$psnr" "$ssim" "$model"
        } >>"$rows"
    done
done
touch results/experiments.jsonl
grep -v "\"variant\": \"$variant\", \"seed\": $seed," results/experiments.jsonl >"$rows.old" || true
cat "$rows.old" "$rows" >results/experiments.jsonl
rm -f "$rows" "$rows.old"
echo "experiments.sh: $name done"
