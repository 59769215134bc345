#!/bin/sh
# The restoring commands by task (nsr upscale, nsr denoise, nsr dejpeg), models by name on the
# search path ($NSR_MODELS, beside the program, the install prefix), nsr models, the refusals
# of a model made for something else, the untrained warning, and no bicubic without -m bicubic.
. "$(dirname "$0")/clilib.sh"

for cmd in upscale denoise dejpeg models; do expect_out "$cmd --help" "usage: nsr $cmd" "$NSR" $cmd --help; done
expect_out "upscale --help: bicubic only when asked" "bicubic only with -m bicubic" "$NSR" upscale --help
expect_out "denoise --help: the grey rule" "nsr_denoise_grey for grey ones" "$NSR" denoise --help
expect_usage "denoise takes no -s" "$NSR" denoise -s 2 -o "$WORK/x.png"

# Pictures made by nsr itself (a 256x192 colour one and a 40x30 copy), and a 16x12 grey one
# with alpha.
"$NSR" upscale -m bicubic -o "$WORK/big.png" 2>/dev/null
"$NSR" resize "$WORK/big.png" "$WORK/small.png" --size 40x30 --float
write_grey_alpha_png "$WORK/grey.png"

# Tiny models, trained for two steps so that they record their task (an untrained one would add
# its warning to every message): x2 super-resolution, blind colour denoising, blind grey JPEG;
# and an untrained x4 one from nsr new.
mkdir -p "$WORK/data" "$WORK/models"
cp "$WORK/small.png" "$WORK/data/a.png"
tiny="--blocks 1 --features 4 --wm 1 --groups 2 --cardinals 2"
for t in "nsr_x2 --scale 2" "nsr_denoise --noise 0:55" "nsr_dejpeg_grey --jpeg 10:90 --channels 1"; do
    set -- $t
    name=$1; shift
    "$NSR" train --data "$WORK/data" --run "$WORK/run_$name" "$@" $tiny --patch 8 --batch 2 --iterations 2 \
        --val-every 0 >/dev/null 2>&1 && cp "$WORK/run_$name/model.nsr" "$WORK/models/$name.nsr" ||
        fail "train $name" "nsr train failed"
done
"$NSR" new $tiny --scale 4 -o "$WORK/models/nsr_x4.nsr"
M="$WORK/models"
export NSR_MODELS="$WORK/empty:$M"
# the program where no bundled model is beside it, for the cases that need a model to be
# missing (the checkout's models/ grows as models are trained)
mkdir -p "$WORK/lone/bin" && cp "$NSR" "$WORK/lone/bin/nsr"
LONE="$WORK/lone/bin/nsr"

# nsr models: every model on the path, NSR_MODELS's first, with task, channels, parameters,
# training and quality, the bundled x2 model hidden by the one of the same name before it.
"$NSR" models >"$WORK/list" 2>"$WORK/err"; rc=$?
row() { grep "^$1 " "$WORK/list" | head -n 1; }
if [ "$rc" -eq 0 ] && [ ! -s "$WORK/err" ] &&
   row nsr_x2 | grep -q "x2 super-resolution *RGB .* data, 2 it\. .*not measured *$M/nsr_x2.nsr$" &&
   row nsr_denoise | grep -q "denoising sigma 0-55 *RGB" &&
   row nsr_dejpeg_grey | grep -q "JPEG q10-90 artifacts *grey" &&
   row nsr_x4 | grep -q "x4 super-resolution .* untrained"; then pass "models: lists NSR_MODELS's"
else fail "models: lists NSR_MODELS's" "exit $rc: $(cat "$WORK/err" "$WORK/list" | head -c 600)"; fi
BUNDLED=$(dirname "$(dirname "$NSR")")/models
# the bundled model's validation Y-PSNR as its file records it (it changes when the model is retrained)
bundled_val() { "$NSR" info "$BUNDLED/nsr_x2.nsr" --json | sed -n 's/.*"train.val_psnr": \([0-9.]*\).*/\1/p'; }
if [ -f "$BUNDLED/nsr_x2.nsr" ]; then
    val=$(printf '%.2f' "$(bundled_val)")
    if grep "$BUNDLED/nsr_x2.nsr" "$WORK/list" | grep -q "$val dB on Set5 .*(hidden by the one above"; then
        pass "models: the bundled one, hidden, with its quality"
    else fail "models: the bundled one, hidden, with its quality" "$(cat "$WORK/list")"; fi
fi
if tail -n 1 "$WORK/list" | grep -q "searched in this order.*: $WORK/empty (missing), $M, "; then pass "models: the folders searched"
else fail "models: the folders searched" "$(tail -n 1 "$WORK/list")"; fi
expect_out "models --json" "{\"name\": \"nsr_denoise\", \"file\": \"$M/nsr_denoise.nsr\", \"hidden\": false, \"task\": \"denoise\", \"restores\": \"denoising sigma 0-55\", \"scale\": 1, \"channels\": 3, \"params\": 878, \"iterations\": 2, \"init_iterations\": 0, \"data\": \"$WORK/data\", \"val\": null, \"val_psnr_y_pt_ir\": null}" \
    "$NSR" models --json
[ -f "$BUNDLED/nsr_x2.nsr" ] && expect_out "models: quality named and measured" \
    "\"val_psnr_y_pt_ir\": $(bundled_val | cut -c1-6)" env NSR_MODELS= "$NSR" models --json
mkdir "$WORK/badmodels" && printf 'not a model' >"$WORK/badmodels/junk.nsr"
NSR_MODELS="$WORK/badmodels:$M" "$NSR" models >"$WORK/list" 2>"$WORK/err"; rc=$?
if [ "$rc" -eq 1 ] && grep -q "junk.nsr.*(left out)" "$WORK/err" && grep -q "^nsr_x4 " "$WORK/list"; then
    pass "models: a bad file reported, the others listed"
else fail "models: a bad file reported, the others listed" "exit $rc: $(cat "$WORK/err")"; fi

# The model picked by task, scale and channels: the same bytes as naming it.
expect_ok "upscale: nsr_x2 by default" "$NSR" upscale -i "$WORK/small.png" -o "$WORK/u2.png"
expect_ok "upscale -m nsr_x2" "$NSR" upscale -m nsr_x2 -i "$WORK/small.png" -o "$WORK/u2m.png"
expect_ok "upscale -m nsr_x2.nsr" "$NSR" upscale -m nsr_x2.nsr -i "$WORK/small.png" -o "$WORK/u2n.png"
expect_ok "upscale -m FILE" "$NSR" upscale -m "$M/nsr_x2.nsr" -i "$WORK/small.png" -o "$WORK/u2f.png"
expect_same "default is nsr_x2 of NSR_MODELS" "$WORK/u2.png" "$WORK/u2f.png"
expect_same "-m nsr_x2 is the file" "$WORK/u2m.png" "$WORK/u2f.png"
expect_same "-m nsr_x2.nsr is the file" "$WORK/u2n.png" "$WORK/u2f.png"
"$NSR" upscale -s 4 -i "$WORK/small.png" -o "$WORK/u4.png" 2>"$WORK/err"
expect_head "upscale -s 4: nsr_x4" "$WORK/u4.png" "160 120 8 2"
if grep -q "nsr_x4 is untrained" "$WORK/err"; then pass "untrained model: warned"
else fail "untrained model: warned" "$(cat "$WORK/err")"; fi
"$NSR" upscale --quiet -i "$WORK/small.png" -o "$WORK/u2.png" 2>"$WORK/err"
if [ -s "$WORK/err" ]; then fail "trained model: no warning" "$(cat "$WORK/err")"; else pass "trained model: no warning"; fi
expect_ok "upscale a grey image: nsr_x2 (no nsr_x2_grey)" "$NSR" upscale -i "$WORK/grey.png" -o "$WORK/g2.png"
expect_head "grey upscaled stays grey" "$WORK/g2.png" "32 24 8 4"
expect_ok "denoise: nsr_denoise" "$NSR" denoise -i "$WORK/small.png" -o "$WORK/dn.png"
expect_ok "denoise -m nsr_denoise" "$NSR" denoise -m nsr_denoise -i "$WORK/small.png" -o "$WORK/dnm.png"
expect_same "denoise's default is nsr_denoise" "$WORK/dn.png" "$WORK/dnm.png"
expect_head "denoise keeps the size" "$WORK/dn.png" "40 30 8 2"
expect_error "denoise: grey image, no nsr_denoise_grey" "$LONE" denoise -i "$WORK/grey.png" -o "$WORK/e.png"
if grep -q "grey.png: a grey image, and no nsr_denoise_grey model found (looked in $WORK/empty, $M, .*); -m nsr_denoise runs the colour model on it" "$WORK/err"; then
    pass "denoise: grey refusal says what to do"
else fail "denoise: grey refusal says what to do" "$(cat "$WORK/err")"; fi
expect_ok "denoise -m nsr_denoise: a grey image when asked" "$NSR" denoise -m nsr_denoise -i "$WORK/grey.png" -o "$WORK/gdn.png"
expect_ok "dejpeg: a grey image, nsr_dejpeg_grey" "$NSR" dejpeg -i "$WORK/grey.png" -o "$WORK/gdj.png"
expect_ok "dejpeg -m nsr_dejpeg_grey" "$NSR" dejpeg -m nsr_dejpeg_grey -i "$WORK/grey.png" -o "$WORK/gdjm.png"
expect_same "dejpeg's grey default is nsr_dejpeg_grey" "$WORK/gdj.png" "$WORK/gdjm.png"
expect_head "dejpeg: grey stays grey, same size" "$WORK/gdj.png" "16 12 8 4"
expect_error "dejpeg: a colour image, only a grey model" "$LONE" dejpeg -i "$WORK/small.png" -o "$WORK/e.png"
if grep -q "a colour image, and nsr_dejpeg_grey restores grey images only: no nsr_dejpeg model found" "$WORK/err"; then
    pass "dejpeg: colour refusal"
else fail "dejpeg: colour refusal" "$(cat "$WORK/err")"; fi

# A model for another task or scale is refused, saying what it is and what to do.
expect_error_line() {
    name=$1 pattern=$2; shift 2
    expect_error "$name" "$@"
    grep -q -- "$pattern" "$WORK/err" || fail "$name (message)" "$(cat "$WORK/err")"
}
expect_error_line "upscale -s 4 with a x2 model" \
    "nsr_x2 is a x2 model: leave out -s (or give -s 2) to upscale x2, or give a x4 model (-m nsr_x4)" \
    "$NSR" upscale -s 4 -m nsr_x2 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "upscale with a denoising model" \
    "nsr_denoise restores at the same size (a denoising model): use nsr denoise -m nsr_denoise" \
    "$NSR" upscale -m nsr_denoise -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "upscale with a JPEG model" "use nsr dejpeg -m nsr_dejpeg_grey" \
    "$NSR" upscale -m nsr_dejpeg_grey -i "$WORK/grey.png" -o "$WORK/e.png"
expect_error_line "denoise with a x2 model" "nsr_x2 is a x2 super-resolution model: use nsr upscale -m nsr_x2" \
    "$NSR" denoise -m nsr_x2 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "dejpeg with a denoising model" \
    "nsr_denoise was trained for noise, not JPEG artifacts: use nsr denoise -m nsr_denoise" \
    "$NSR" dejpeg -m nsr_denoise -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "denoise with a JPEG model" "trained for JPEG artifacts, not noise: use nsr dejpeg" \
    "$NSR" denoise -m nsr_dejpeg_grey -i "$WORK/grey.png" -o "$WORK/e.png"
expect_error_line "denoise -m bicubic" "bicubic only upscales" \
    "$NSR" denoise -m bicubic -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "unknown model name" "nsr_x9: no such file, and no model of that name (looked for nsr_x9.nsr in $WORK/empty, $M, " \
    "$NSR" upscale -m nsr_x9 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "eval -m NAME, other scale" "nsr_x2 is a x2 super-resolution network; it cannot do x3" \
    "$NSR" eval --data "$WORK/data" --scale 3 -m nsr_x2
expect_out "eval -m NAME" '"model": "nsr_x2 (auto tiles, soft selection)"' "$NSR" eval --data "$WORK/data" --scale 2 -m nsr_x2 --json
[ -e "$WORK/e.png" ] && fail "refusals write nothing" "e.png was written" || pass "refusals write nothing"

# No model found: one line saying what and where, and no bicubic unless asked. The program is
# copied where no models are beside it; NSR_MODELS names an empty folder.
mkdir -p "$WORK/bare/bin" "$WORK/empty"
cp "$NSR" "$WORK/bare/bin/nsr"
unset NSR_MODELS
expect_error_line "upscale: no model, no bicubic" \
    "no x2 super-resolution model found (looked for nsr_x2.nsr and nsr_x2_grey.nsr in $WORK/bare/models, $WORK/bare/share/nsr/models, .*): give -m NAME or -m FILE.nsr, or -m bicubic to upscale with bicubic" \
    "$WORK/bare/bin/nsr" upscale -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "upscale -s 3: no model" "no x3 super-resolution model found (looked for nsr_x3.nsr" \
    "$WORK/bare/bin/nsr" upscale -s 3 -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "denoise: no model" "no denoising model found (looked for nsr_denoise.nsr and nsr_denoise_grey.nsr in" \
    "$WORK/bare/bin/nsr" denoise -i "$WORK/small.png" -o "$WORK/e.png"
expect_error_line "dejpeg: no model" "no JPEG artifact removal model found" \
    "$WORK/bare/bin/nsr" dejpeg -i "$WORK/small.png" -o "$WORK/e.png"
[ -e "$WORK/e.png" ] && fail "no model: nothing written" "e.png was written" || pass "no model: nothing written"
expect_ok "upscale -m bicubic without models" "$WORK/bare/bin/nsr" upscale -m bicubic -i "$WORK/small.png" -o "$WORK/b.png"
expect_head "bicubic x2" "$WORK/b.png" "80 60 8 2"
expect_out "models: none found" "^no models found; searched in this order" env NSR_MODELS="$WORK/empty" "$WORK/bare/bin/nsr" models
# Models beside the program: a checkout's models/ and an install's share/nsr/models.
mkdir -p "$WORK/bare/share/nsr/models"
cp "$M/nsr_denoise.nsr" "$WORK/bare/share/nsr/models/"
expect_ok "denoise: installed beside the program" "$WORK/bare/bin/nsr" denoise -i "$WORK/small.png" -o "$WORK/dni.png"
expect_same "the installed model is used" "$WORK/dn.png" "$WORK/dni.png"
