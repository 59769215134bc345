# nsr fold: a plain model written with the NSR model's task and provenance and fold.* records,
# restoring close to the NSR model (an untrained network's selections hardly vary); its summary
# line; the refusals (plain model, no data, no window fits, output exists, output is the input).
. tests/clilib.sh

"$NSR" new --blocks 2 --features 8 --wm 2 --groups 4 --cardinals 2 -o "$WORK/k4.nsr" >/dev/null &&
    "$NSR" new --blocks 2 --features 8 --wm 2 --groups 2 --cardinals 2 --regime fixed-size -o "$WORK/fixed.nsr" >/dev/null &&
    "$NSR" new --blocks 1 --features 8 --wm 1 --groups 1 -o "$WORK/plain.nsr" >/dev/null &&
    "$NSR" new --blocks 1 --features 8 --wm 1 --groups 2 --cardinals 2 --scale 1 -o "$WORK/x1.nsr" >/dev/null ||
    { fail fold_models "nsr new failed"; exit 0; }
mkdir "$WORK/data" "$WORK/small"
"$NSR" upscale -m bicubic -o "$WORK/data/a.png" 2>/dev/null # the built-in picture, 512x384
"$NSR" resize "$WORK/data/a.png" "$WORK/small/s.png" --size 20x20 2>/dev/null

expect_ok fold_help "$NSR" fold --help
expect_usage fold_no_model "$NSR" fold --data "$WORK/data" -o "$WORK/o.nsr"
expect_usage fold_no_data "$NSR" fold "$WORK/k4.nsr" -o "$WORK/o.nsr"
expect_usage fold_no_output "$NSR" fold "$WORK/k4.nsr" --data "$WORK/data"
expect_error fold_plain "$NSR" fold "$WORK/plain.nsr" --data "$WORK/data" -o "$WORK/o.nsr"
expect_error fold_missing_data "$NSR" fold "$WORK/k4.nsr" --data "$WORK/none" -o "$WORK/o.nsr"
expect_error fold_no_window_fits "$NSR" fold "$WORK/k4.nsr" --data "$WORK/small" -o "$WORK/o.nsr" --quiet
expect_usage fold_noise_for_sr "$NSR" fold "$WORK/k4.nsr" --data "$WORK/data" -o "$WORK/o.nsr" --noise 25
expect_usage fold_as_is_and_noise "$NSR" fold "$WORK/x1.nsr" --data "$WORK/data" -o "$WORK/o.nsr" --as-is --noise 25
expect_usage fold_x1_without_task "$NSR" fold "$WORK/x1.nsr" --data "$WORK/data" -o "$WORK/o.nsr"
expect_error fold_onto_input "$NSR" fold "$WORK/k4.nsr" --data "$WORK/data" -o "$WORK/k4.nsr" --quiet
[ ! -e "$WORK/o.nsr" ] && pass fold_nothing_written || fail fold_nothing_written "o.nsr was written"

for net in k4 fixed; do
    "$NSR" fold "$WORK/$net.nsr" --data "$WORK/data" --data "$WORK/small" -o "$WORK/$net-plain.nsr" \
        --window 32 -j 1 >"$WORK/$net.out" 2>"$WORK/$net.err"
    if [ $? -eq 0 ] && grep -q "folded by the mean selection of [0-9]* windows of 32x32 (2 images, the inputs of x2 super-resolution)" "$WORK/$net.out"; then
        pass "fold_$net"
    else fail "fold_$net" "$(cat "$WORK/$net.out" "$WORK/$net.err" | head -c 300)"; fi
    "$NSR" info "$WORK/$net-plain.nsr" --json >"$WORK/$net.json" 2>&1
    if grep -q '"groups": 1' "$WORK/$net.json" && grep -q '"fold.windows": [1-9]' "$WORK/$net.json" &&
        grep -q '"fold.spread": ' "$WORK/$net.json" && grep -q '"nsr.init_seed": 1' "$WORK/$net.json"; then
        pass "fold_${net}_records"
    else fail "fold_${net}_records" "$(head -c 400 "$WORK/$net.json")"; fi
    # the folded network restores as the NSR one, to the selections' spread
    "$NSR" upscale -m "$WORK/$net.nsr" -i "$WORK/small/s.png" -o "$WORK/$net-nsr.png" -j 1 2>/dev/null
    "$NSR" upscale -m "$WORK/$net-plain.nsr" -i "$WORK/small/s.png" -o "$WORK/$net-folded.png" -j 1 2>/dev/null
    psnr=$("$NSR" metrics "$WORK/$net-nsr.png" "$WORK/$net-folded.png" --json 2>&1 | sed -n 's/.*"psnr_rgb": \([0-9.]*\).*/\1/p')
    if [ -n "$psnr" ] && awk -v p="$psnr" 'BEGIN { exit !(p > 40) }'; then pass "fold_${net}_restores_alike"
    else fail "fold_${net}_restores_alike" "PSNR '$psnr' between the two"; fi
done
# a scale-1 model: its inputs at the level given, or the images as they are
expect_out fold_x1_noise "the inputs of denoising sigma 25" "$NSR" fold "$WORK/x1.nsr" --data "$WORK/data" -o "$WORK/x1n.nsr" --noise 25 --quiet
expect_out fold_x1_as_is "the images as they are" "$NSR" fold "$WORK/x1.nsr" --data "$WORK/data" -o "$WORK/x1a.nsr" --as-is --quiet
expect_differ fold_inputs_matter "$WORK/x1n.nsr" "$WORK/x1a.nsr"
expect_error fold_exists "$NSR" fold "$WORK/k4.nsr" --data "$WORK/data" -o "$WORK/k4-plain.nsr"
expect_ok fold_overwrite "$NSR" fold "$WORK/k4.nsr" --data "$WORK/data" -o "$WORK/k4-plain.nsr" --overwrite --quiet
