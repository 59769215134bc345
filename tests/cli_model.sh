#!/bin/sh
# Command-line tests of nsr new, nsr info, and model files in nsr upscale and nsr eval.
. "$(dirname "$0")/clilib.sh"


for cmd in new info; do expect_out "$cmd --help" "usage: nsr $cmd" "$NSR" $cmd --help; done

# Parameter counts of the published networks (NSR.md sections 3 and 6).
for s in "2 4877812" "3 4887637" "4 4901392"; do
    set -- $s
    expect_ok "new EDSR+NSR x$1" "$NSR" new --blocks 16 --features 64 --wm 1 --groups 4 --cardinals 16 --scale "$1" -o "$WORK/edsr$1.nsr"
    expect_out "EDSR+NSR x$1 has $2 parameters" "\"params\": $2," "$NSR" info "$WORK/edsr$1.nsr" --json
    rm -f "$WORK/edsr$1.nsr"
done
expect_ok "new plain WDSR" "$NSR" new --blocks 16 --features 32 --wm 4 --groups 1 --scale 2 -o "$WORK/wdsr.nsr"
expect_out "plain WDSR x2 has 1190100 parameters" '"params": 1190100,' "$NSR" info "$WORK/wdsr.nsr" --json
expect_out "info text groups digits" "parameters *1,190,100 in 105 tensors" "$NSR" info "$WORK/wdsr.nsr"
rm -f "$WORK/wdsr.nsr"
expect_ok "new with defaults" "$NSR" new -o "$WORK/default.nsr"
expect_out "default is wdsr_nsr B16 F32 wm4 k4 d16 x2" \
    '"blocks": 16, "features": 32, "width_mult": 4, "groups": 4, "cardinals": 16, "scale": 2, "shared_selection": false' \
    "$NSR" info "$WORK/default.nsr" --json
rm -f "$WORK/default.nsr"

# Tiny models for the rest: same seed, same bytes; --shared and scale 1; the tensor table.
tiny="--blocks 2 --features 8 --wm 2 --groups 2 --cardinals 2"
expect_ok "new tiny x2" "$NSR" new $tiny --scale 2 --seed 3 -o "$WORK/x2.nsr"
expect_ok "new tiny x2 again" "$NSR" new $tiny --scale 2 --seed 3 -o "$WORK/x2b.nsr"
expect_ok "new tiny x2 seed 4" "$NSR" new $tiny --scale 2 --seed 4 -o "$WORK/x2c.nsr"
expect_same "new: same seed, same file" "$WORK/x2.nsr" "$WORK/x2b.nsr"
expect_differ "new: other seed, other weights" "$WORK/x2.nsr" "$WORK/x2c.nsr"
expect_ok "new tiny x1 shared" "$NSR" new $tiny --scale 1 --shared -o "$WORK/x1.nsr"
expect_out "info: shared selection" '"shared_selection": true' "$NSR" info "$WORK/x1.nsr" --json
expect_out "info: seed recorded" '"metadata": {"nsr.init_seed": 1}' "$NSR" info "$WORK/x1.nsr" --json
expect_out "info --tensors lists shapes" "blocks.1.conv1.A  *4x8 " "$NSR" info "$WORK/x2.nsr" --tensors
expect_out "info --json --tensors" '{"name": "skip.v", "shape": \[12, 3, 5, 5\]}' "$NSR" info "$WORK/x2.nsr" --json --tensors

# Errors of new and info.
expect_error "new without -o" "$NSR" new $tiny
expect_error "new: cardinals must divide features" "$NSR" new --features 8 --cardinals 3 -o "$WORK/bad.nsr"
expect_error "new: bad scale" "$NSR" new --scale 9 -o "$WORK/bad.nsr"
expect_error "new: unknown option" "$NSR" new --bogus 1 -o "$WORK/bad.nsr"
expect_error "new into a missing folder" "$NSR" new $tiny -o "$WORK/missing/m.nsr"
[ -e "$WORK/bad.nsr" ] && fail "new: no file on errors" "bad.nsr was written" || pass "new: no file on errors"
expect_error "info: missing file" "$NSR" info "$WORK/missing.nsr"
expect_error "info: no file given" "$NSR" info
printf 'not a model' >"$WORK/junk.nsr"
expect_error "info: not a model file" "$NSR" info "$WORK/junk.nsr"
head -c 1000 "$WORK/x2.nsr" >"$WORK/cut.nsr"
expect_error "info: truncated model" "$NSR" info "$WORK/cut.nsr"

# ---------------------------------------------------------------- models in nsr upscale and nsr eval
# Two 16x12 PNGs written byte by byte: grey with alpha (left half opaque, clilib.sh), and RGBA.
write_grey_alpha_png "$WORK/ga.png"
printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\020\000\000\000\014\010\006\000\000\000\153\347\075\201\000\000\000\374\111\104\101\124\170\332\025\314\041\141\246\041\000\000\320\077\302\304\002\040\047\011\060\101\004\042\040\026\000\171\222\000\023\104\040\002\142\001\220\223\004\070\101\004\032\334\275\117\074\373\136\257\127\373\367\106\040\222\310\024\052\215\316\140\262\330\034\056\257\327\273\200\100\044\221\051\124\032\235\301\144\261\071\334\367\047\370\020\020\210\044\062\205\112\243\063\230\054\066\207\373\361\004\237\002\002\221\104\246\120\151\164\006\223\305\346\160\077\237\040\013\010\104\022\231\102\245\321\031\114\026\233\303\315\117\360\045\040\020\111\144\012\225\106\147\060\131\154\016\367\353\011\376\264\364\106\040\222\310\024\052\215\316\140\262\330\034\056\257\327\267\200\100\044\221\051\124\032\235\301\144\261\071\334\357\047\030\002\002\221\104\246\120\151\164\006\223\305\346\160\307\023\374\010\010\104\022\231\102\245\321\031\114\026\233\303\375\171\202\137\001\201\110\042\123\250\064\072\203\311\142\163\270\277\117\360\127\100\040\222\310\024\052\215\316\140\262\330\034\056\377\001\153\250\204\060\021\013\360\136\000\000\000\000\111\105\116\104\256\102\140\202' >"$WORK/rgba.png"
# A large input (256x192: tiles) and a small one (40x30: whole), made by nsr itself.
"$NSR" upscale -m bicubic -o "$WORK/big.png" 2>/dev/null
"$NSR" resize "$WORK/big.png" "$WORK/small.png" --size 40x30 --float
"$NSR" convert "$WORK/small.png" "$WORK/small16.png" --depth 16
# A trained tiny model (2 steps, ending with hard selection), for the errors found after a model
# is opened (an untrained one adds its warning line) and the --hard notes.
mkdir "$WORK/hdata" && cp "$WORK/small.png" "$WORK/hdata/a.png"
"$NSR" train --data "$WORK/hdata" --run "$WORK/hrun" --scale 2 --blocks 1 --features 4 --wm 1 --groups 2 \
    --cardinals 2 --patch 8 --batch 2 --iterations 2 --hard-from 0 --val-every 0 >/dev/null 2>&1

for cmd in upscale eval; do
    expect_out "$cmd --help names --tile" "--tile T" "$NSR" $cmd --help
    expect_out "$cmd --help names --hard" "--hard" "$NSR" $cmd --help
done
expect_ok "upscale with a model" "$NSR" upscale -m "$WORK/x2.nsr" -i "$WORK/small.png" -o "$WORK/s2.png"
expect_head "model x2 doubles the size" "$WORK/s2.png" "80 60 8 2"
expect_ok "upscale -s 2 with a x2 model" "$NSR" upscale -m "$WORK/x2.nsr" -s 2 -i "$WORK/small.png" -o "$WORK/s2b.png"
expect_same "-s 2 is the model's own scale" "$WORK/s2.png" "$WORK/s2b.png"
expect_ok "upscale --tile whole, small input" "$NSR" upscale -m "$WORK/x2.nsr" --tile whole -i "$WORK/small.png" -o "$WORK/s2w.png"
expect_same "small input: reference tiling is the whole image" "$WORK/s2.png" "$WORK/s2w.png"
expect_ok "upscale 256x192 whole" "$NSR" upscale -m "$WORK/x2.nsr" --tile whole -i "$WORK/big.png" -o "$WORK/b2w.png"
expect_ok "upscale 256x192, default (auto)" "$NSR" upscale -m "$WORK/x2.nsr" -i "$WORK/big.png" -o "$WORK/b2a.png"
expect_same "auto: an image that fits one tile runs whole" "$WORK/b2a.png" "$WORK/b2w.png"
expect_ok "upscale 256x192 in reference tiles" "$NSR" upscale -m "$WORK/x2.nsr" --tile reference -i "$WORK/big.png" -o "$WORK/b2r.png"
expect_differ "reference tiles pool their own statistics" "$WORK/b2r.png" "$WORK/b2w.png"
expect_ok "upscale 256x192 in auto tiles of 96" "$NSR" upscale -m "$WORK/x2.nsr" -t 96 -i "$WORK/big.png" -o "$WORK/b2.png"
expect_head "tiled output size" "$WORK/b2.png" "512 384 8 2"
expect_differ "auto tiles pool their own statistics" "$WORK/b2.png" "$WORK/b2w.png"
expect_error "upscale: -t below twice the overlap" "$NSR" upscale -m "$WORK/hrun/model.nsr" -t 40 -i "$WORK/big.png" -o "$WORK/e.png"
expect_error "upscale: -t with --tile reference" "$NSR" upscale -m "$WORK/hrun/model.nsr" -t 96 --tile reference -i "$WORK/big.png" -o "$WORK/e.png"
expect_ok "upscale --hard" "$NSR" upscale -m "$WORK/x2.nsr" --hard -t 96 -i "$WORK/big.png" -o "$WORK/b2h.png"
expect_differ "hard selection differs from soft" "$WORK/b2.png" "$WORK/b2h.png"
expect_ok "upscale -j 1" "$NSR" upscale -m "$WORK/x2.nsr" -j 1 -t 96 -i "$WORK/big.png" -o "$WORK/b2j.png"
expect_same "tiled result does not depend on the thread count" "$WORK/b2.png" "$WORK/b2j.png"
expect_ok "grey and alpha" "$NSR" upscale -m "$WORK/x2.nsr" -i "$WORK/ga.png" -o "$WORK/ga2.png"
expect_head "grey stays grey, alpha kept" "$WORK/ga2.png" "32 24 8 4"
expect_ok "RGBA" "$NSR" upscale -m "$WORK/x2.nsr" -i "$WORK/rgba.png" -o "$WORK/rgba2.png"
expect_head "alpha kept" "$WORK/rgba2.png" "32 24 8 6"
expect_ok "16-bit input" "$NSR" upscale -m "$WORK/x2.nsr" -i "$WORK/small16.png" -o "$WORK/s16.png"
expect_head "16 bits kept" "$WORK/s16.png" "80 60 16 2"
expect_ok "scale-1 model restores at the same size" "$NSR" denoise -m "$WORK/x1.nsr" -i "$WORK/rgba.png" -o "$WORK/same.png"
expect_head "scale-1 output size and alpha" "$WORK/same.png" "16 12 8 6"

# The default model: models/nsr_x2.nsr beside the program's folder, or its install location.
mkdir -p "$WORK/tree/bin" "$WORK/tree/models" "$WORK/inst/bin" "$WORK/inst/share/nsr/models"
cp "$NSR" "$WORK/tree/bin/nsr" && cp "$NSR" "$WORK/inst/bin/nsr"
cp "$WORK/x2.nsr" "$WORK/tree/models/nsr_x2.nsr" && cp "$WORK/x2.nsr" "$WORK/inst/share/nsr/models/nsr_x2.nsr"
expect_ok "default model in a checkout" "$WORK/tree/bin/nsr" upscale -i "$WORK/small.png" -o "$WORK/d1.png"
expect_ok "default model installed" "$WORK/inst/bin/nsr" upscale -i "$WORK/small.png" -o "$WORK/d2.png"
expect_same "the checkout's default model is used" "$WORK/s2.png" "$WORK/d1.png"
expect_same "the installed default model is used" "$WORK/s2.png" "$WORK/d2.png"
rm -rf "$WORK/tree" "$WORK/inst"

# nsr eval with models on a folder of two images.
mkdir -p "$WORK/set"
cp "$WORK/big.png" "$WORK/small.png" "$WORK/set/"
expect_out "eval --model x2" '"model": "x2.nsr (auto tiles, soft selection)"' "$NSR" eval --data "$WORK/set" --scale 2 --model "$WORK/x2.nsr" --json
expect_out "eval --model x2 --tile reference" '"model": "x2.nsr (reference tiles, soft selection)"' "$NSR" eval --data "$WORK/set" --scale 2 --model "$WORK/x2.nsr" --tile reference --json
expect_out "eval --model x2 --tile whole --hard" '"model": "x2.nsr (whole image, hard selection)"' "$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" --tile whole --hard --json
expect_out "eval denoising with a scale-1 model" '"task": "denoise"' "$NSR" eval --data "$WORK/set" --noise 25 --model "$WORK/x1.nsr" --json
expect_out "eval JPEG with a scale-1 model" '"task": "jpeg"' "$NSR" eval --data "$WORK/set" --jpeg 20 --model "$WORK/x1.nsr" --json --limit 1
expect_out "eval bicubic still there" '"model": "bicubic"' "$NSR" eval --data "$WORK/set" --scale 2 --json
# A bad file among them: reported, left out of the mean, and the exit is 1 at the end.
mkdir -p "$WORK/badset"
cp "$WORK/big.png" "$WORK/small.png" "$WORK/badset/"
printf 'not a png' >"$WORK/badset/bad.png"
"$NSR" eval --data "$WORK/badset" --scale 2 -m "$WORK/x2.nsr" --json >"$WORK/out" 2>"$WORK/err"; rc=$?
"$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" --json >"$WORK/good" 2>/dev/null
if [ "$rc" -eq 1 ] && grep -q 'bad.png.*left out' "$WORK/err" && grep -q '1 of 3 images failed' "$WORK/err" &&
   grep -q '"images": 2, "failed": 1' "$WORK/out" &&
   [ "$(tail -n 1 "$WORK/out" | sed 's/.*"psnr_y"//')" = "$(tail -n 1 "$WORK/good" | sed 's/.*"psnr_y"//')" ]; then
    pass "eval carries on past a bad file"
else
    fail "eval carries on past a bad file" "exit $rc: $(cat "$WORK/err" "$WORK/out" | head -c 400)"
fi

# Errors: one line, non-zero exit, no output file.
cp "$WORK/x2.nsr" "$WORK/flipped.nsr"
printf '\377' | dd of="$WORK/flipped.nsr" bs=1 seek=3000 conv=notrunc 2>/dev/null
expect_error "upscale: missing model" "$NSR" upscale -m "$WORK/missing.nsr" -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: not a model" "$NSR" upscale -m "$WORK/junk.nsr" -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: truncated model" "$NSR" upscale -m "$WORK/cut.nsr" -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: corrupt model" "$NSR" upscale -m "$WORK/flipped.nsr" -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: x3 asked of a x2 model" "$NSR" upscale -m "$WORK/x2.nsr" -s 3 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: x2 asked of a scale-1 model" "$NSR" upscale -m "$WORK/x1.nsr" -s 2 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: bad --tile" "$NSR" upscale -m "$WORK/x2.nsr" --tile 64 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error "upscale: model ok, input missing" "$NSR" upscale -m "$WORK/hrun/model.nsr" -i "$WORK/missing.png" -o "$WORK/e.png"
expect_error "eval: missing model" "$NSR" eval --data "$WORK/set" --scale 2 --model "$WORK/missing.nsr"
expect_error "eval: corrupt model" "$NSR" eval --data "$WORK/set" --scale 2 --model "$WORK/flipped.nsr"
expect_error "eval: x3 with a x2 model" "$NSR" eval --data "$WORK/set" --scale 3 --model "$WORK/x2.nsr"
expect_error "eval: denoising with a x2 model" "$NSR" eval --data "$WORK/set" --noise 25 --model "$WORK/x2.nsr"
expect_error "eval: x2 with a scale-1 model" "$NSR" eval --data "$WORK/set" --scale 2 --model "$WORK/x1.nsr"
expect_error "eval: bad --tile" "$NSR" eval --data "$WORK/set" --scale 2 --model "$WORK/x2.nsr" --tile 1
[ -e "$WORK/e.png" ] && fail "upscale: no output on errors" "e.png was written" || pass "upscale: no output on errors"
"$NSR" upscale -m "$WORK/x2.nsr" -s 3 -i "$WORK/small.png" -o "$WORK/e.png" 2>"$WORK/err"
if grep -q "x2.nsr is a x2 model: leave out -s (or give -s 2) to upscale x2, or give a x3 model (-m nsr_x3)" "$WORK/err"; then pass "scale mismatch message"
else fail "scale mismatch message" "$(cat "$WORK/err")"; fi

# --hard says so when the model was not trained for it (and when it has no groups), and is
# quiet for a model that ended its training hard (--quiet: the warnings stay, nothing else)
"$NSR" new --blocks 1 --features 4 --wm 1 --groups 1 --scale 2 -o "$WORK/plain.nsr" 2>/dev/null
for m in x2 plain hrun/model; do
    "$NSR" upscale -m "$WORK/$m.nsr" --hard --quiet -i "$WORK/small.png" -o "$WORK/h.png" --overwrite 2>"$WORK/h_$(basename $m).err"
done
if grep -q "not trained for hard selection" "$WORK/h_x2.err"; then pass "--hard: soft-trained model noted"
else fail "--hard: soft-trained model noted" "$(cat "$WORK/h_x2.err")"; fi
if grep -q "plain network" "$WORK/h_plain.err"; then pass "--hard: plain network noted"
else fail "--hard: plain network noted" "$(cat "$WORK/h_plain.err")"; fi
if [ -s "$WORK/h_model.err" ]; then fail "--hard: hard-trained model quiet" "$(cat "$WORK/h_model.err")"
else pass "--hard: hard-trained model quiet"; fi

# without a model, noise and JPEG measure the degraded input, and say so (not "bicubic")
expect_out "eval: no model for JPEG named none" '"model": "none"' "$NSR" eval --data "$WORK/set" --jpeg 20 --json --limit 1
expect_out "eval: no model for noise, text" "no model (the degraded input itself)" "$NSR" eval --data "$WORK/set" --noise 15 --limit 1

# eval --grey measures the ground truths' MATLAB Y (colour images become grey before degrading)
"$NSR" eval --data "$WORK/set" --jpeg 20 --json >"$WORK/colour.json" 2>/dev/null
"$NSR" eval --data "$WORK/set" --jpeg 20 --grey --json >"$WORK/grey.json" 2>/dev/null
if [ -s "$WORK/grey.json" ] && ! cmp -s "$WORK/colour.json" "$WORK/grey.json" &&
   tail -n 1 "$WORK/grey.json" | grep -q '"psnr_b"'; then pass "eval --grey"
else fail "eval --grey" "$(tail -n 1 "$WORK/grey.json")"; fi
