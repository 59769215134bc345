#!/bin/sh
# scripts/models.sh NAME: trains (or continues) one of the bundled models in models/, from the
# repository root, and copies it to models/NAME.nsr when its run is finished. The run goes to
# runs/NAME; a stopped run (Ctrl-C, a session's end) continues where it stopped, bit for bit.
#
#   nsr_x2             x2 SR: B12 F32 wm2, NSR k4 d16 (fixed FLOPs, the softmax selection)
#   nsr_x3, nsr_x4     x3 / x4 from nsr_x2's blocks (--init, a new tail)
#   nsr_denoise        colour, blind Gaussian noise, sigma 0..55: B8 F32 wm2, NSR k4 d16
#   nsr_denoise_grey   grey, from nsr_denoise's blocks
#   nsr_dejpeg         colour, blind JPEG, quality 5..95
#   nsr_dejpeg_grey    grey, from nsr_dejpeg's blocks
#
# Data: T91 + BSD200 (../shared/data, or $DATA); the validation curve on Set5 for every task
# (a blind model at the middle of its range; Set5 is none of the restoration tables' sets). Environment: NSR (default ./build/nsr), DATA, THREADS (default all).
# models/README.md gives every model's card: this command, its curve, time and quality.
set -eu
[ $# -eq 1 ] || { echo "usage: scripts/models.sh NAME" >&2; exit 2; }
name=$1
NSR=${NSR:-./build/nsr}
DATA=${DATA:-../shared/data}
threads=${THREADS:+-j $THREADS}
# The selection is the reference's softmax: every way of training for hard selection measured so
# far (RESULTS.md, "Experiments") lands at the plain network's quality, and at fixed FLOPs hard
# selection saves only the kernel mixing; the speed of --hard is the fixed-size network's.
net="--blocks 12 --features 32 --wm 2 --groups 4 --cardinals 16"
# restoration: a shallower body (B8), its budget half the colour models' 4 hours of 2 cores
restore_net="--blocks 8 --features 32 --wm 2 --groups 4 --cardinals 16"
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

run=runs/$name
mkdir -p runs
if [ -f "$run/model.nsr" ]; then
    :
elif [ -f "$run/checkpoint.nsr" ]; then
    $NSR train --resume "$run" $threads
else
    # shellcheck disable=SC2086 # the options are words
    $NSR train $args --run "$run" --val-every 1000 --checkpoint-every 500 --print-every 250 $threads
fi
cp "$run/model.nsr" "models/$name.nsr"
echo "models.sh: models/$name.nsr"
