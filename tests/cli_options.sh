#!/bin/sh
# The option parser every command shares (tools/options.c): --opt=value, -j1, "--", and one-line
# usage errors (exit 2) prefixed "nsr COMMAND: " for unknown options, missing values, stray
# arguments and a single-value option given twice.
. tests/clilib.sh

# expect_usage_prefix NAME COMMAND CMD...: a usage error whose line starts with "nsr COMMAND: ".
expect_usage_prefix() {
    name=$1 cmd=$2; shift 2
    expect_usage "$name" "$@"
    grep -q "^nsr $cmd: " "$WORK/err" || fail "$name (prefix)" "$(head -c 200 "$WORK/err")"
}

"$NSR" upscale -m bicubic -o "$WORK/in.png" 2>/dev/null
"$NSR" upscale -m bicubic -i "$WORK/in.png" -o "$WORK/spaced.png" -s 3 -j 1 2>/dev/null

# --opt=value and -j1 give what --opt value and -j 1 give.
expect_ok equals_form "$NSR" upscale -m bicubic --input="$WORK/in.png" --output="$WORK/equals.png" --scale=3 -j1
expect_same equals_same_output "$WORK/spaced.png" "$WORK/equals.png"
expect_ok attached_short "$NSR" upscale -mbicubic -i"$WORK/in.png" -o"$WORK/attached.png" -s3
expect_same attached_same_output "$WORK/spaced.png" "$WORK/attached.png"

# "--" ends the options: a file named like an option is a file.
cp "$WORK/in.png" "$WORK/-x.png"
(cd "$WORK" && "$NSR" convert -- -x.png -y.png) && [ -f "$WORK/-y.png" ] && pass double_dash ||
    fail double_dash "-- -x.png -y.png did not convert"
expect_usage_prefix double_dash_stray convert "$NSR" convert -- a.png b.png c.png

# Errors, each one line with the command's prefix.
expect_usage_prefix unknown_option upscale "$NSR" upscale --frobnicate -o "$WORK/x.png"
expect_usage_prefix unknown_short metrics "$NSR" metrics -Z "$WORK/in.png" "$WORK/in.png"
expect_usage_prefix missing_value upscale "$NSR" upscale -o
expect_usage_prefix flag_with_value eval "$NSR" eval --json=1 --data "$WORK" --scale 2
expect_usage_prefix stray_argument upscale "$NSR" upscale -o "$WORK/x.png" stray
expect_usage_prefix stray_argument_info info "$NSR" info a.nsr b.nsr
expect_usage_prefix repeated_output upscale "$NSR" upscale -i "$WORK/in.png" -o "$WORK/x.png" -o "$WORK/y.png"
expect_usage_prefix repeated_mixed_spelling resize "$NSR" resize "$WORK/in.png" "$WORK/x.png" -s 2 --scale=3
expect_usage_prefix bad_number degrade "$NSR" degrade "$WORK/in.png" "$WORK/x.png" --jpeg=0
expect_usage_prefix bad_threads bench "$NSR" bench conv -jx
expect_usage_prefix bad_format upscale "$NSR" upscale -m bicubic -o "$WORK/x.png" -f bmp

# A repeatable option keeps every value; flags may be given twice.
expect_ok repeated_flag "$NSR" upscale -m bicubic -i "$WORK/in.png" -o "$WORK/hard.png" --hard --hard
expect_out train_data_repeatable "--data DIR" "$NSR" train --help

# The same wording of the overwrite guard everywhere, with the command's prefix.
for cmd in convert resize degrade; do
    case $cmd in
        convert) set -- ;;
        resize) set -- --scale 2 ;;
        degrade) set -- --noise 5 ;;
    esac
    "$NSR" $cmd "$WORK/in.png" "$WORK/in.png" "$@" 2>"$WORK/err"
    if grep -q "^nsr $cmd: .*refusing to overwrite the input (use --overwrite)$" "$WORK/err"; then pass "overwrite_$cmd"
    else fail "overwrite_$cmd" "$(head -c 200 "$WORK/err")"; fi
done
"$NSR" upscale -m bicubic -i "$WORK/in.png" -o "$WORK/in.png" 2>"$WORK/err"
grep -q "^nsr upscale: .*(use --overwrite)$" "$WORK/err" && pass overwrite_upscale || fail overwrite_upscale "$(cat "$WORK/err")"

# The help lists the architecture options from their table, with defaults.
expect_out new_help_from_table "--cardinals D .*(default 16)" "$NSR" new --help
expect_out info_help "--tensors" "$NSR" info -h
