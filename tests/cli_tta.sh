#!/bin/sh
# Test-time augmentation (-x) in nsr upscale and nsr eval: it changes the result, keeps the
# size, works at scale 1 and 3, in every tiling mode and with --hard, does not depend on the
# threads, is named in eval's output, and is a no-op (said so) for bicubic. That -x is the mean
# of the 8 flipped and transposed restorations (grey and RGB, any scale) and equivariant is
# tests/test_tta.c's.
. "$(dirname "$0")/clilib.sh"

tiny="--blocks 2 --features 8 --wm 2 --groups 2 --cardinals 2"
"$NSR" new $tiny --scale 2 --seed 5 -o "$WORK/x2.nsr" 2>/dev/null
"$NSR" new $tiny --scale 3 --seed 6 -o "$WORK/x3.nsr" 2>/dev/null
"$NSR" new $tiny --scale 1 --seed 7 -o "$WORK/x1.nsr" 2>/dev/null
"$NSR" upscale -m bicubic -o "$WORK/big.png" 2>/dev/null # 256x192
"$NSR" resize "$WORK/big.png" "$WORK/small.png" --size 41x29 --float

expect_out "upscale --help names -x" "-x, --tta" "$NSR" upscale --help
expect_out "eval --help names -x" "-x, --tta" "$NSR" eval --help

expect_ok "upscale -x" "$NSR" upscale -m "$WORK/x2.nsr" -x -i "$WORK/small.png" -o "$WORK/tta.png"
expect_ok "upscale without -x" "$NSR" upscale -m "$WORK/x2.nsr" -i "$WORK/small.png" -o "$WORK/plain.png"
expect_head "-x keeps the size" "$WORK/tta.png" "82 58 8 2"
expect_differ "-x changes the result" "$WORK/tta.png" "$WORK/plain.png"
expect_ok "upscale --tta again" "$NSR" upscale -m "$WORK/x2.nsr" --tta -j 1 -i "$WORK/small.png" -o "$WORK/tta1.png"
expect_same "-x: the same bits on 1 thread" "$WORK/tta.png" "$WORK/tta1.png"
expect_ok "-x at x3" "$NSR" upscale -m "$WORK/x3.nsr" -x -i "$WORK/small.png" -o "$WORK/tta3.png"
expect_head "-x at x3: the size" "$WORK/tta3.png" "123 87 8 2"
expect_ok "-x at scale 1" "$NSR" denoise -m "$WORK/x1.nsr" -x -i "$WORK/small.png" -o "$WORK/tta1x.png"
expect_head "-x at scale 1: the size" "$WORK/tta1x.png" "41 29 8 2"
expect_ok "-x in auto tiles" "$NSR" upscale -m "$WORK/x2.nsr" -x -t 96 -i "$WORK/big.png" -o "$WORK/ttat.png"
expect_ok "-x in reference tiles" "$NSR" upscale -m "$WORK/x2.nsr" -x --tile reference -i "$WORK/big.png" -o "$WORK/ttar.png"
expect_head "-x in tiles: the size" "$WORK/ttat.png" "512 384 8 2"
expect_differ "-x: the tiling still matters" "$WORK/ttat.png" "$WORK/ttar.png"
expect_ok "-x with --hard" "$NSR" upscale -m "$WORK/x2.nsr" -x --hard -i "$WORK/small.png" -o "$WORK/ttah.png"
expect_differ "-x --hard differs from -x" "$WORK/tta.png" "$WORK/ttah.png"

# bicubic: said, and the same image
"$NSR" upscale -m bicubic -x -i "$WORK/small.png" -o "$WORK/bx.png" 2>"$WORK/err"
"$NSR" upscale -m bicubic -i "$WORK/small.png" -o "$WORK/b.png" 2>/dev/null
if grep -q "^nsr upscale: -x is for models" "$WORK/err" && cmp -s "$WORK/bx.png" "$WORK/b.png"; then pass "-x with bicubic: noted, same image"
else fail "-x with bicubic: noted, same image" "$(head -c 300 "$WORK/err")"; fi

# nsr eval -x: named in the output, and another result
mkdir "$WORK/set" && cp "$WORK/big.png" "$WORK/small.png" "$WORK/set/"
expect_out "eval -x is named" '"model": "x2.nsr (auto tiles, soft selection, TTA x8)"' "$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" -x --json
expect_out "eval -x --tile whole is named" 'x2.nsr (whole image, soft selection, TTA x8)' "$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" -x --tile whole
"$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" -x --json 2>/dev/null | tail -n 1 | sed 's/.*"psnr_y"//' >"$WORK/e_tta"
"$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" --json 2>/dev/null | tail -n 1 | sed 's/.*"psnr_y"//' >"$WORK/e_plain"
if [ -s "$WORK/e_tta" ] && ! cmp -s "$WORK/e_tta" "$WORK/e_plain"; then pass "eval -x measures another result"
else fail "eval -x measures another result" "$(cat "$WORK/e_tta" "$WORK/e_plain")"; fi
