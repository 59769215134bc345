# Frame check (issue 9, needs ../shared/data and models/nsr_x2.nsr): the default upscale's
# outer 4-pixel band of the HR image is at least as good as bicubic's, by Y-PSNR (pt_ir) against
# the ground truth, x2 from MATLAB bicubic LR; also in small auto tiles. The reference's tiles (reflect padding at the
# edge) fail it on barbara, which shows the check sees a frame. The sanitizer build checks one
# image.
. tests/clilib.sh
MODEL=models/nsr_x2.nsr
[ -n "$DATA" ] && [ -f "$MODEL" ] || { echo "SKIP frame: no ../shared/data or $MODEL"; exit 0; }

# Y-PSNR of TEST against REF with SHAVE pixels shaved, to full precision.
psnr() { "$NSR" metrics "$1" "$2" --shave "$3" --json | sed 's/.*"psnr_y": \([^,}]*\).*/\1/'; }
# The Y-PSNR of the outer 4-pixel band of a W x H image, from the whole image's and the inner
# part's: their mean squared errors weighed by pixel counts (PSNR = 10 log10(peak^2 / MSE)).
band_psnr() {
    full=$(psnr "$1" "$2" 0) inner=$(psnr "$1" "$2" 4)
    awk -v f="$full" -v i="$inner" -v w="$3" -v h="$4" 'BEGIN {
        n = w * h; m = (w - 8) * (h - 8);
        mse = (n * 10 ^ (-f / 10) - m * 10 ^ (-i / 10)) / (n - m);
        printf "%.3f", -10 * log(mse) / log(10) }'
}

# Kodak's kodim01..17 (and the last row of kodim20..23) carry the scan's own frame, lines of
# one value 1-2 pixels wide (kodim03: grey 99 at the top and both sides, the last row black).
# Half of it is gone in the LR, so the band there measures how a network redraws that frame, not
# whether it draws one of its own; the Kodak images here have natural edges on all four sides.
images="Set14/barbara.webp Kodak24/kodim19.webp Kodak24/kodim24.webp Set5/baby.webp"
[ "${NSR_SANITIZE:-0}" = 1 ] && images="Set5/baby.webp"
for img in $images; do
    name=$(basename "$img" | sed 's/\..*//')
    "$NSR" convert "$DATA/$img" "$WORK/gt.png" || { fail "frame $name" "cannot read $img"; continue; }
    set -- $(png_head "$WORK/gt.png")
    w=$1 h=$2
    if [ $((w % 2)) -ne 0 ] || [ $((h % 2)) -ne 0 ]; then fail "frame $name" "odd size ${w}x$h"; continue; fi
    "$NSR" resize "$WORK/gt.png" "$WORK/lr.png" --scale 1/2 &&
        "$NSR" upscale -m bicubic -i "$WORK/lr.png" -o "$WORK/bic.png" 2>/dev/null &&
        "$NSR" upscale -m "$MODEL" -i "$WORK/lr.png" -o "$WORK/sr.png" 2>/dev/null ||
        { fail "frame $name" "upscaling failed"; continue; }
    bic=$(band_psnr "$WORK/gt.png" "$WORK/bic.png" "$w" "$h")
    sr=$(band_psnr "$WORK/gt.png" "$WORK/sr.png" "$w" "$h")
    if awk -v a="$sr" -v b="$bic" 'BEGIN { exit !(a >= b) }'; then
        pass "frame $name: outer band $sr dB, bicubic $bic dB"
    else
        fail "frame $name" "default upscale's outer band $sr dB is below bicubic's $bic dB"
    fi
    if [ "$name" = barbara ]; then
        # 360x288 LR fits one default tile; small tiles (128, or the least this network's
        # receptive field allows, which its error names) put tile edges on the image edge too
        least=$("$NSR" upscale -m "$MODEL" -t 1 -i "$WORK/lr.png" -o "$WORK/t.png" 2>&1 | sed -n 's/.*at least \([0-9]*\).*/\1/p')
        t=$((${least:-128} > 128 ? ${least:-128} : 128))
        "$NSR" upscale -m "$MODEL" -t "$t" -i "$WORK/lr.png" -o "$WORK/t128.png" 2>/dev/null
        t128=$(band_psnr "$WORK/gt.png" "$WORK/t128.png" "$w" "$h")
        if awk -v a="$t128" -v b="$bic" 'BEGIN { exit !(a >= b) }'; then
            pass "frame $name, auto tiles of $t: outer band $t128 dB"
        else
            fail "frame $name, auto tiles of $t" "outer band $t128 dB is below bicubic's $bic dB"
        fi
        "$NSR" upscale -m "$MODEL" --tile reference -i "$WORK/lr.png" -o "$WORK/ref.png" 2>/dev/null
        ref=$(band_psnr "$WORK/gt.png" "$WORK/ref.png" "$w" "$h")
        if awk -v a="$ref" -v b="$bic" 'BEGIN { exit !(a < b) }'; then
            pass "frame check sees the reference's frame: $ref dB < bicubic $bic dB"
        else
            fail "frame check sees the reference's frame" "reference tiles' band $ref dB, bicubic $bic dB"
        fi
    fi
done
