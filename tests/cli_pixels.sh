#!/bin/sh
# Command-line tests of nsr resize, metrics and degrade: results, reproducibility, errors.
. "$(dirname "$0")/clilib.sh"

# Two tiny PNGs written byte by byte (16x12, a gradient with a step at x = 8): RGB and grey.
printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\020\000\000\000\014\010\002\000\000\000\344\205\252\326\000\000\000\120\111\104\101\124\170\332\143\224\063\162\143\307\006\024\024\024\260\212\063\052\233\173\223\246\101\303\046\200\064\015\272\216\241\244\151\060\162\213\042\115\203\271\167\074\151\032\154\002\122\110\323\340\030\232\111\232\006\267\250\074\322\064\170\307\027\223\246\041\040\245\202\064\015\241\231\265\044\151\000\000\323\110\035\073\347\225\357\066\000\000\000\000\111\105\116\104\256\102\140\202' >"$WORK/rgb.png"
printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\020\000\000\000\014\010\000\000\000\000\116\214\142\135\000\000\000\061\111\104\101\124\170\332\143\024\341\204\000\103\050\315\050\216\056\040\205\056\040\213\056\240\200\056\240\214\056\240\206\056\240\211\056\240\203\056\240\217\056\140\204\056\140\212\046\000\000\345\241\011\367\274\000\177\050\000\000\000\000\111\105\116\104\256\102\140\202' >"$WORK/grey.png"


for cmd in resize metrics degrade; do expect_out "$cmd --help" "usage: nsr $cmd" "$NSR" $cmd --help; done

# resize: MATLAB sizes (ceil(scale * size)), given sizes, grey kept, thread count irrelevant.
expect_ok "resize x2" "$NSR" resize "$WORK/rgb.png" "$WORK/up.png" --scale 2 -j 1
expect_head "resize x2 size" "$WORK/up.png" "32 24 8 2"
expect_ok "resize x2, 2 threads" "$NSR" resize "$WORK/rgb.png" "$WORK/up2.png" --scale 2 -j 2
expect_same "resize same at -j 1 and -j 2" "$WORK/up.png" "$WORK/up2.png"
expect_ok "resize 1/3" "$NSR" resize "$WORK/grey.png" "$WORK/third.png" --scale 1/3
expect_head "resize 1/3 size and grey" "$WORK/third.png" "6 4 8 0"
expect_ok "resize --size" "$NSR" resize "$WORK/rgb.png" "$WORK/sized.png" --size 7x30 --float
expect_head "resize --size size" "$WORK/sized.png" "7 30 8 2"
expect_ok "resize x2 then 1/2" "$NSR" resize "$WORK/up.png" "$WORK/back.png" --scale 0.5
expect_out "resize round trip is close" '"psnr_rgb": [34-9][0-9]\.' "$NSR" metrics "$WORK/rgb.png" "$WORK/back.png" --json --shave 2

# metrics: identical images, protocols, JSON.
expect_out "metrics identical: inf" "psnr_y *inf dB" "$NSR" metrics "$WORK/rgb.png" "$WORK/rgb.png"
expect_out "metrics identical json: null" '"psnr_rgb": null' "$NSR" metrics "$WORK/rgb.png" "$WORK/rgb.png" --json
expect_out "metrics identical ssim 1" '"ssim_y": 1.000000' "$NSR" metrics "$WORK/grey.png" "$WORK/grey.png" --json
expect_out "metrics matlab protocol" '"protocol": "matlab", "shave": 1, "shave_rgb": 3' \
    "$NSR" metrics "$WORK/rgb.png" "$WORK/back.png" --json --protocol matlab --shave 1 --shave-rgb 3

# degrade: noise reproducible across runs and threads, seeds differ; JPEG keeps grey grey.
expect_ok "degrade noise" "$NSR" degrade "$WORK/rgb.png" "$WORK/n1.png" --noise 25 --seed 5 -j 1
expect_ok "degrade noise again" "$NSR" degrade "$WORK/rgb.png" "$WORK/n2.png" --noise 25 --seed 5 -j 2
expect_ok "degrade noise seed 6" "$NSR" degrade "$WORK/rgb.png" "$WORK/n3.png" --noise 25 --seed 6
expect_same "noise same for a seed at -j 1 and -j 2" "$WORK/n1.png" "$WORK/n2.png"
expect_differ "noise differs between seeds" "$WORK/n1.png" "$WORK/n3.png"
expect_out "noise sigma 25 costs ~20 dB" '"psnr_rgb": 2[0-2]\.' "$NSR" metrics "$WORK/rgb.png" "$WORK/n1.png" --json
expect_ok "degrade jpeg grey" "$NSR" degrade "$WORK/grey.png" "$WORK/j.png" --jpeg 10
expect_head "jpeg keeps grey" "$WORK/j.png" "16 12 8 0"
expect_differ "jpeg changes the image" "$WORK/grey.png" "$WORK/j.png"
expect_ok "degrade jpeg colour" "$NSR" degrade "$WORK/rgb.png" "$WORK/jc.png" --jpeg 30
expect_head "jpeg keeps colour" "$WORK/jc.png" "16 12 8 2"

# Errors: one line on stderr, non-zero exit.
expect_error "resize bad scale" "$NSR" resize "$WORK/rgb.png" "$WORK/x.png" --scale -2
expect_error "resize zero fraction" "$NSR" resize "$WORK/rgb.png" "$WORK/x.png" --scale 0/3
expect_error "resize bad size" "$NSR" resize "$WORK/rgb.png" "$WORK/x.png" --size 7x
expect_error "resize scale and size" "$NSR" resize "$WORK/rgb.png" "$WORK/x.png" --scale 2 --size 3x3
expect_error "resize missing file" "$NSR" resize "$WORK/missing.png" "$WORK/x.png" --scale 2
expect_error "resize onto its input" "$NSR" resize "$WORK/rgb.png" "$WORK/rgb.png" --scale 2
expect_error "resize unknown option" "$NSR" resize "$WORK/rgb.png" "$WORK/x.png" --scale 2 --bogus
expect_error "metrics size mismatch" "$NSR" metrics "$WORK/rgb.png" "$WORK/up.png"
expect_error "metrics grey vs colour" "$NSR" metrics "$WORK/rgb.png" "$WORK/grey.png"
expect_error "metrics missing file" "$NSR" metrics "$WORK/rgb.png" "$WORK/missing.png"
expect_error "metrics bad protocol" "$NSR" metrics "$WORK/rgb.png" "$WORK/rgb.png" --protocol bt709
expect_error "metrics shave too large" "$NSR" metrics "$WORK/rgb.png" "$WORK/rgb.png" --shave 6
expect_error "degrade nothing to do" "$NSR" degrade "$WORK/rgb.png" "$WORK/x.png"
expect_error "degrade noise and jpeg" "$NSR" degrade "$WORK/rgb.png" "$WORK/x.png" --noise 5 --jpeg 5
expect_error "degrade bad quality" "$NSR" degrade "$WORK/rgb.png" "$WORK/x.png" --jpeg 101
expect_error "degrade bad sigma" "$NSR" degrade "$WORK/rgb.png" "$WORK/x.png" --noise abc
[ -e "$WORK/x.png" ] && fail "no output on errors" "x.png was written" || pass "no output on errors"

# With the shared data: the Set5 LR images, end to end (baby is 512x512, a multiple of 2 and 4).
if [ -n "$DATA" ]; then
    for s in 2 4; do
        expect_ok "resize Set5 baby 1/$s" "$NSR" resize "$DATA/Set5/baby.webp" "$WORK/babyx$s.png" --scale 1/$s
        expect_out "Set5 baby x$s equals the reference LR" '"psnr_rgb": null' \
            "$NSR" metrics "$DATA/Set5_LR_bicubic/X$s/babyx$s.png" "$WORK/babyx$s.png" --json
    done
else
    echo "SKIP Set5 LR end to end: no shared data"
fi
