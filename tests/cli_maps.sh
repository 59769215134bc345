# nsr maps: the files it writes (names, sizes), its summary lines, the regions, and its refusals.
. tests/clilib.sh

"$NSR" new --blocks 3 --features 8 --wm 1 --groups 3 --cardinals 2 -o "$WORK/k3.nsr" >/dev/null &&
    "$NSR" new --blocks 2 --features 8 --wm 1 --groups 4 --cardinals 1 --shared -o "$WORK/shared.nsr" >/dev/null &&
    "$NSR" new --blocks 2 --features 8 --wm 1 --groups 1 -o "$WORK/plain.nsr" >/dev/null ||
    { fail maps_models "nsr new failed"; exit 0; }

# Default: the first, middle and last block, both convs, cardinal 0, over the 256x192 test
# picture's 35 reference tiles (5 x 7 of 48x48 every 32); a line per map whose shares add up
# to 100%.
"$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/maps" >"$WORK/lines" 2>"$WORK/err"
files=$(cd "$WORK/maps" 2>/dev/null && ls | tr '\n' ' ')
want=""
for b in 0 1 2; do for c in 1 2; do for kind in certainty groups; do
    want="${want}block${b}_conv${c}_card0_$kind.png "
done; done; done
[ "$files" = "$want" ] && pass maps_default_files || fail maps_default_files "got: $files"
[ "$(wc -l <"$WORK/lines")" -eq 6 ] && grep -q '^block1_conv2_card0: 35 regions (reference tiles 48x48 every 32); groups 0:' "$WORK/lines" &&
    pass maps_summary_lines || fail maps_summary_lines "$(head -c 300 "$WORK/lines")"
if awk -F'groups ' '{ split($2, g, ";"); n = split(g[1], s, " "); t = 0
        for (i = 1; i <= n; i++) { sub(/^[0-9]+:/, "", s[i]); t += s[i] }
        if (t < 99.8 || t > 100.2) bad = 1 } END { exit bad }' "$WORK/lines"; then pass maps_shares_add_up
else fail maps_shares_add_up "$(head -n 1 "$WORK/lines")"; fi
grep -q "test picture" "$WORK/err" && pass maps_says_test_picture || fail maps_says_test_picture "$(cat "$WORK/err")"
# 256 pixels zoomed x2 between 8-pixel margins; a 30-pixel title, the map, a margin and the
# legend: one row of three swatches (22) or the colour bar and its line (44)
expect_head maps_groups_size "$WORK/maps/block0_conv1_card0_groups.png" "528 444 8 2"
expect_head maps_certainty_size "$WORK/maps/block2_conv2_card0_certainty.png" "528 466 8 2"

# --blocks and --cardinal all: a pair per conv and cardinal; --stretch changes the heat map only
expect_ok maps_cardinals "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/cards" --blocks 1 --cardinal all --stretch
files=$(cd "$WORK/cards" && ls | tr '\n' ' ')
[ "$files" = "block1_conv1_card0_certainty.png block1_conv1_card0_groups.png block1_conv1_card1_certainty.png block1_conv1_card1_groups.png block1_conv2_card0_certainty.png block1_conv2_card0_groups.png block1_conv2_card1_certainty.png block1_conv2_card1_groups.png " ] &&
    pass maps_cardinal_files || fail maps_cardinal_files "got: $files"
expect_same maps_stretch_keeps_groups "$WORK/maps/block1_conv1_card0_groups.png" "$WORK/cards/block1_conv1_card0_groups.png"
expect_differ maps_stretch_heat "$WORK/maps/block1_conv1_card0_certainty.png" "$WORK/cards/block1_conv1_card0_certainty.png"

# Sliding windows: 32x32 every 16 over 256x192 are (192-32)/16+1 = 11 rows of 15
expect_out maps_windows "^block0_conv1_card0: 165 regions (windows 32x32 every 16)" \
    "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/win" --window 32 --stride 16 --blocks 0

# One selection per block (shared): conv1 only, "+2" in its title; one cardinal: no _card
expect_ok maps_shared "$NSR" maps -m "$WORK/shared.nsr" -o "$WORK/shared" --blocks all
files=$(cd "$WORK/shared" && ls | tr '\n' ' ')
[ "$files" = "block0_conv1_certainty.png block0_conv1_groups.png block1_conv1_certainty.png block1_conv1_groups.png " ] &&
    pass maps_shared_files || fail maps_shared_files "got: $files"

# Refusals: one line, non-zero, nothing written
expect_error maps_plain "$NSR" maps -m "$WORK/plain.nsr" -o "$WORK/none"
grep -q "plain network (1 sparsity group)" "$WORK/err" && pass maps_plain_says_why || fail maps_plain_says_why "$(cat "$WORK/err")"
expect_error maps_bicubic "$NSR" maps -m bicubic -o "$WORK/none"
expect_error maps_window_too_large "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" --window 200
expect_error maps_missing_input "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" -i "$WORK/nothing.png"
printf 'not a model' >"$WORK/bad.nsr"
expect_error maps_bad_model "$NSR" maps -m "$WORK/bad.nsr" -o "$WORK/none"
[ ! -e "$WORK/none" ] && pass maps_refusals_write_nothing || fail maps_refusals_write_nothing "$WORK/none was made"
expect_error maps_output_is_a_file "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/k3.nsr"
# the input among the maps to write (the last one): refused before any is written
mkdir "$WORK/ow" && cp "$WORK/maps/block2_conv2_card0_groups.png" "$WORK/ow/" && cp "$WORK/ow/block2_conv2_card0_groups.png" "$WORK/in.png"
expect_error maps_no_overwriting_input "$NSR" maps -m "$WORK/k3.nsr" -i "$WORK/ow/block2_conv2_card0_groups.png" -o "$WORK/ow"
expect_same maps_input_kept "$WORK/in.png" "$WORK/ow/block2_conv2_card0_groups.png"
[ "$(ls "$WORK/ow" | wc -l)" -eq 1 ] && pass maps_overwrite_refused_first || fail maps_overwrite_refused_first "$(ls "$WORK/ow")"
expect_usage maps_no_output "$NSR" maps -m "$WORK/k3.nsr"
expect_usage maps_bad_cardinal "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" --cardinal 2
expect_usage maps_bad_blocks "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" --blocks 0,3
expect_usage maps_empty_block "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" --blocks 0,
expect_usage maps_stride_alone "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" --stride 8
expect_usage maps_small_window "$NSR" maps -m "$WORK/k3.nsr" -o "$WORK/none" --window 4

# The bundled model on a real image: a map per default block conv (first, middle, last block)
if [ -n "$DATA" ] && [ -f models/nsr_x2.nsr ] && [ "${NSR_SANITIZE:-0}" != 1 ]; then
    "$NSR" maps -m models/nsr_x2.nsr -i "$DATA/Set5/baby.webp" -o "$WORK/baby" >"$WORK/lines" 2>"$WORK/err"
    [ "$(grep -c '^block[0-9]*_conv[12]_card0: 225 regions' "$WORK/lines")" -eq 6 ] && pass maps_bundled_model ||
        fail maps_bundled_model "$(cat "$WORK/err" "$WORK/lines" | head -c 300)"
    # a grey image is mapped through the RGB network as nsr upscale runs it (replicated)
    expect_out maps_grey_image "^block3_conv2_card0: 49 regions" \
        "$NSR" maps -m models/nsr_x2.nsr -i "$DATA/Set12/01.png" -o "$WORK/grey" --blocks 3
else
    echo "SKIP maps_bundled_model: no ../shared/data or models/nsr_x2.nsr (or a sanitizer build)"
fi
