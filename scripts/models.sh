#!/bin/sh
# scripts/models.sh NAME: trains (or continues) one of the bundled models in models/, from the
# repository root, and copies it to models/NAME.nsr when its run is finished. The run goes to
# runs/NAME; a stopped run (Ctrl-C, a session's end) continues where it stopped, bit for bit.
#
#   nsr_x2             x2 SR: B12 F32 wm2, NSR k4 d16 (fixed FLOPs), trained for --hard (below)
#   nsr_x3, nsr_x4     x3 / x4 from nsr_x2's blocks (--init, a new tail), trained for --hard
#   nsr_denoise        colour, blind Gaussian noise, sigma 0..55: B8 F32 wm2, NSR k4 d16
#   nsr_denoise_grey   grey, from nsr_denoise's blocks
#   nsr_dejpeg         colour, blind JPEG, quality 5..95
#   nsr_dejpeg_grey    grey, from nsr_dejpeg's blocks
#
# Data: T91 + BSD200 (../shared/data, or $DATA); the validation curve on Set5 for every task
# (a blind model at the middle of its range; Set5 is none of the restoration tables' sets).
# Environment: NSR (default ./build/nsr), DATA, THREADS (default all), HARD_STEPS (1500).
# models/README.md gives every model's card: this command, its curve, time and quality.
set -eu
[ $# -eq 1 ] || { echo "usage: scripts/models.sh NAME" >&2; exit 2; }
name=$1
NSR=${NSR:-./build/nsr}
DATA=${DATA:-../shared/data}
threads=${THREADS:+-j $THREADS}
# The SR models are trained in two stages (RESULTS.md, "Training for hard selection"): the
# reference's softmax selection (runs/NAME), then that network folded (nsr fold: every selection
# at its mean over T91's inputs, the plain network it then is), split into 4 equal groups again
# (--init FOLDED --groups 4: it computes what the folded one does, whatever it selects) and
# trained hard (straight through, T = 0.1) for HARD_STEPS more at the first stage's last
# learning rate (runs/NAME_hard), so that --hard keeps the soft network's quality. Trained hard
# from the start, every method measured lands at the plain network's quality instead. The
# restoration models keep the softmax: a blind denoiser's selection follows the noise level,
# which a fold to one level would lose.
net="--blocks 12 --features 32 --wm 2 --groups 4 --cardinals 16"
# restoration: a shallower body (B8), its budget half the colour models' 4 hours of 2 cores
restore_net="--blocks 8 --features 32 --wm 2 --groups 4 --cardinals 16"
HARD_STEPS=${HARD_STEPS:-1500}
data="--data $DATA/T91 --data $DATA/BSD200"

case $name in
nsr_x2) args="$data --val $DATA/Set5 --scale 2 $net --iterations 30000" ;;
nsr_x3) args="$data --val $DATA/Set5 --scale 3 --init models/nsr_x2.nsr --iterations 15000" ;;
nsr_x4) args="$data --val $DATA/Set5 --scale 4 --init models/nsr_x2.nsr --iterations 15000" ;;
nsr_denoise) args="$data --val $DATA/Set5 --noise 0:55 $restore_net --iterations 15000" ;;
nsr_denoise_grey)
    args="$data --val $DATA/Set5 --noise 0:55 --init models/nsr_denoise.nsr --channels 1 --iterations 8000" ;;
nsr_dejpeg) args="$data --val $DATA/Set5 --jpeg 5:95 $restore_net --iterations 15000" ;;
nsr_dejpeg_grey)
    args="$data --val $DATA/Set5 --jpeg 5:95 --init models/nsr_dejpeg.nsr --channels 1 --iterations 8000" ;;
*) echo "models.sh: unknown model '$name'" >&2; exit 2 ;;
esac

# train RUN OPTIONS...: trains (or continues) the run in folder RUN
train() {
    run=$1
    shift
    if [ -f "$run/model.nsr" ]; then
        :
    elif [ -f "$run/checkpoint.nsr" ]; then
        $NSR train --resume "$run" $threads
    else
        # shellcheck disable=SC2086 # the options are words
        $NSR train "$@" --run "$run" --checkpoint-every 500 --print-every 250 $threads
    fi
}

mkdir -p runs
# shellcheck disable=SC2086 # the options are words
train "runs/$name" $args --val-every 1000
final=runs/$name
case $name in
nsr_x*)
    final=runs/${name}_hard
    folded=runs/${name}_folded.nsr
    if [ ! -f "$final/checkpoint.nsr" ]; then
        # shellcheck disable=SC2086
        $NSR fold "runs/$name/model.nsr" --data "$DATA/T91" -o "$folded" --overwrite --quiet $threads
    fi
    # shellcheck disable=SC2086
    train "$final" $data --val "$DATA/Set5" --init "$folded" --groups 4 --cardinals 16 --hard-from 0 \
        --temperature 0.1 --lr 4e-5 --iterations "$HARD_STEPS" --val-every 500 ;;
esac
cp "$final/model.nsr" "models/$name.nsr"
echo "models.sh: models/$name.nsr"
