#!/bin/sh
# nsr convert: format changes, depth, the input-overwrite guard, one-line errors with exit 1
# (usage errors exit 2), and no temporary file left behind by a failed write.
. tests/clilib.sh

# A 13x7 RGBA 8-bit PNG made by libnsr (the tests need no shared data).
base64 -d >"$WORK/in.png" <<'EOF'
iVBORw0KGgoAAAANSUhEUgAAAA0AAAAHCAYAAADTcMcaAAABfklEQVQYlQFzAYz+AwAAAABvlLkLp94WEd6o8haW8s8czbwrIYUG
CCe80OQsdJrBMqvkHTfjrvo9mvjWQtLCM0gAo4RljxIYHpqBrNel8ECQsF/USbvOaALGPfy70ayQdNwbJC3nirjm8vlMn/1o4FgI
13QREwBGCMoetZyDKSQwPDSTxPU/AliuSnHsZ1XggCBgTxTZa76oknYtPEuBnNAEjAtkvZd6+HaiAOmML61YIOi4x7ShwzZIWs6l
3BPZFHDM5IMEhe/ymD76YSz3BdDAsBA/VGkbrugiJh182zEAjBCUPPukTUdqOAZS2cy/XUhgeGi39DFzJojqfpUco4kEsFyUc0QV
n+LYzqpRbIe1wABAwAAvlPnLniiy1g28a+F8UCTs6+Td91p4lgLJDE8NOKAIGKc0wSMWyHouhVwzOfTw7ERjhKVPANIYXlpBrBdl
sEDQcB/UiXuOaEKG/fz7kWyQtJzbJG2nSrgmsrlM370o4JjIl3RR0wYICt44kLSfoRyyqQAAAABJRU5ErkJggg==
EOF
cp "$WORK/in.png" "$WORK/original.png"

# magic FILE: the file's first bytes as hex (enough to tell PNG, JPEG and WebP apart).
magic() { od -An -tx1 -N12 "$1" | tr -d ' \n'; }
# check NAME CONDITION...: PASS when the test command succeeds.
check() {
    name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}
is_png() { case $(magic "$1") in 89504e470d0a1a0a*) return 0 ;; esac; return 1; }
is_jpeg() { case $(magic "$1") in ffd8ff*) return 0 ;; esac; return 1; }
is_webp() { case $(magic "$1") in 52494646????????57454250) return 0 ;; esac; return 1; }
# The PNG bit depth: byte 24 of the file (in IHDR).
png_depth() { od -An -tu1 -j24 -N1 "$1" | tr -d ' '; }
# expect_failure NAME CMD...: expect_error, and the exit status is exactly 1.
expect_failure() {
    expect_error "$@"
    [ "$rc" -eq 1 ] || fail "$1 (status)" "exit $rc instead of 1"
}

expect_ok to_jpeg "$NSR" convert "$WORK/in.png" "$WORK/a.jpg"
check jpeg_written is_jpeg "$WORK/a.jpg"
expect_ok to_webp "$NSR" convert "$WORK/in.png" "$WORK/a.webp"
check webp_written is_webp "$WORK/a.webp"
expect_ok lossy_webp "$NSR" convert "$WORK/in.png" "$WORK/lossy.webp" -q 70
expect_ok jpeg_to_png "$NSR" convert "$WORK/a.jpg" "$WORK/from_jpeg.png"
check png_written is_png "$WORK/from_jpeg.png"
# Lossless WebP keeps every sample, alpha included: both PNGs come out byte for byte the same.
expect_ok png_again "$NSR" convert "$WORK/in.png" "$WORK/direct.png"
expect_ok webp_to_png "$NSR" convert "$WORK/a.webp" "$WORK/via_webp.png"
check webp_lossless cmp -s "$WORK/direct.png" "$WORK/via_webp.png"
expect_ok depth16 "$NSR" convert "$WORK/in.png" "$WORK/d16.png" --depth 16
check depth16_written test "$(png_depth "$WORK/d16.png")" = 16
expect_ok depth16_kept "$NSR" convert "$WORK/d16.png" "$WORK/d16b.png"
check depth16_kept_written test "$(png_depth "$WORK/d16b.png")" = 16
expect_ok depth8 "$NSR" convert "$WORK/d16.png" "$WORK/d8.png" --depth 8
check depth8_same cmp -s "$WORK/d8.png" "$WORK/direct.png"
expect_ok format_option "$NSR" convert "$WORK/in.png" "$WORK/out.dat" --format webp
check format_option_written is_webp "$WORK/out.dat"
expect_ok format_jpg "$NSR" convert -f JPG "$WORK/in.png" "$WORK/out.jpeg"
check format_jpg_written is_jpeg "$WORK/out.jpeg"
expect_ok help "$NSR" convert --help

# The input is never overwritten unless asked, whatever name it is given.
expect_failure overwrite_refused "$NSR" convert "$WORK/in.png" "$WORK/in.png"
expect_failure overwrite_refused_other_name "$NSR" convert "$WORK/in.png" "$WORK/./../$(basename "$WORK")/in.png"
check input_intact cmp -s "$WORK/in.png" "$WORK/original.png"
expect_ok overwrite_allowed "$NSR" convert "$WORK/in.png" "$WORK/in.png" --overwrite
check overwrite_same_pixels cmp -s "$WORK/in.png" "$WORK/direct.png"

# Errors: one line, exit 1.
expect_failure missing_input "$NSR" convert "$WORK/nothing.png" "$WORK/x.png"
head -c 200 "$WORK/in.png" >"$WORK/truncated.png"
expect_failure truncated_input "$NSR" convert "$WORK/truncated.png" "$WORK/x.png"
: >"$WORK/empty.png"
expect_failure empty_input "$NSR" convert "$WORK/empty.png" "$WORK/x.png"
echo "not an image" >"$WORK/text.png"
expect_failure not_an_image "$NSR" convert "$WORK/text.png" "$WORK/x.png"
expect_failure folder_input "$NSR" convert "$WORK" "$WORK/x.png"
expect_failure unknown_extension "$NSR" convert "$WORK/in.png" "$WORK/x.bmp"
expect_failure no_extension "$NSR" convert "$WORK/in.png" "$WORK/x"
expect_failure missing_folder "$NSR" convert "$WORK/in.png" "$WORK/no/such/x.png"
expect_failure over_pixel_limit "$NSR" convert "$WORK/in.png" "$WORK/x.png" --max-pixels 90
expect_ok at_pixel_limit "$NSR" convert "$WORK/in.png" "$WORK/x.png" --max-pixels 91
mkdir "$WORK/locked"
chmod 555 "$WORK/locked"
if touch "$WORK/locked/probe" 2>/dev/null; then
    rm -f "$WORK/locked/probe"
    echo "SKIP unwritable_folder: running with permission to write anywhere (root)"
else
    expect_failure unwritable_folder "$NSR" convert "$WORK/in.png" "$WORK/locked/x.png"
fi
chmod 755 "$WORK/locked"
# A write that fails at the last step (the name is taken by a folder) leaves nothing behind.
mkdir "$WORK/taken.png"
expect_failure name_is_a_folder "$NSR" convert "$WORK/in.png" "$WORK/taken.png"
check no_temporary_left test -z "$(ls "$WORK" | grep tmp)"
check no_output_from_failures test ! -e "$WORK/x.bmp" -a ! -e "$WORK/no"

# Usage errors: one line, exit 2.
expect_usage no_arguments "$NSR" convert
expect_usage one_argument "$NSR" convert "$WORK/in.png"
expect_usage three_arguments "$NSR" convert "$WORK/in.png" "$WORK/x.png" "$WORK/y.png"
expect_usage unknown_option "$NSR" convert --frobnicate "$WORK/in.png" "$WORK/x.png"
expect_usage bad_quality "$NSR" convert -q 101 "$WORK/in.png" "$WORK/x.jpg"
expect_usage bad_depth "$NSR" convert --depth 12 "$WORK/in.png" "$WORK/x.png"
expect_usage bad_format "$NSR" convert --format gif "$WORK/in.png" "$WORK/x.png"
expect_usage missing_value "$NSR" convert "$WORK/in.png" "$WORK/x.png" --max-pixels

# With the shared data: a real lossless WebP and a grey PNG through the other format and back.
if [ -n "$DATA" ]; then
    expect_ok data_webp_to_png "$NSR" convert "$DATA/Set5/bird.webp" "$WORK/bird.png"
    expect_ok data_png_to_webp "$NSR" convert "$WORK/bird.png" "$WORK/bird.webp"
    expect_ok data_webp_to_png_again "$NSR" convert "$WORK/bird.webp" "$WORK/bird2.png"
    check data_round_trip cmp -s "$WORK/bird.png" "$WORK/bird2.png"
    expect_ok data_grey_to_jpeg "$NSR" convert "$DATA/Set14/bridge.png" "$WORK/bridge.jpg" -q 90
else
    echo "SKIP data_round_trip: no shared data"
fi
