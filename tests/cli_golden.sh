# Golden check of the evaluation protocol (needs ../shared/data): bicubic x2/x3/x4 under the
# matlab Y convention reproduces the published Y-PSNR within 0.03 dB (ANCHORS.md), and our own
# recorded numbers (RESULTS.md) to 0.001 dB. BSD100 and Urban100 take a minute or two, so the
# sanitizer build checks Set5 and Set14 only.
. tests/clilib.sh
[ -n "$DATA" ] || { echo "SKIP golden: no ../shared/data"; exit 0; }

# set scale published ours(psnr) ours(ssim)
cat >"$WORK/table" <<'T'
Set5 2 33.66 33.640 0.9292
Set5 3 30.39 30.385 0.8678
Set5 4 28.42 28.416 0.8101
Set14 2 30.24 30.218 0.8683
Set14 3 27.55 27.530 0.7737
Set14 4 26.00 25.990 0.7023
BSD100 2 29.56 29.547 0.8425
BSD100 3 27.21 27.201 0.7386
BSD100 4 25.96 25.956 0.6672
Urban100 2 26.88 26.870 0.8397
Urban100 3 24.46 24.454 0.7345
Urban100 4 23.14 23.138 0.6573
T
while read -r set scale published ours ssim; do
    case "$set" in BSD100|Urban100) [ "${NSR_SANITIZE:-0}" = 1 ] && continue ;; esac
    name="golden_bicubic_${set}_x$scale"
    line=$("$NSR" eval --data "$DATA/$set" --scale "$scale" --protocol matlab --json 2>"$WORK/err" | tail -n 1)
    got=$(echo "$line" | sed -n 's/.*"psnr_y": \([0-9.]*\).*/\1/p')
    got_ssim=$(echo "$line" | sed -n 's/.*"ssim_y": \([0-9.]*\).*/\1/p')
    if [ -z "$got" ]; then fail "$name" "no result: $(head -c 200 "$WORK/err")"; continue; fi
    verdict=$(awk -v g="$got" -v p="$published" -v o="$ours" -v s="$got_ssim" -v os="$ssim" 'BEGIN {
        d = g - p; if (d < 0) d = -d; e = g - o; if (e < 0) e = -e; f = s - os; if (f < 0) f = -f;
        if (d > 0.03) print "off the published " p " by " d " dB";
        else if (e > 0.001 || f > 0.0001) print "moved from our recorded " o " (" os ")";
        else print "ok" }')
    if [ "$verdict" = ok ]; then pass "$name"; else fail "$name" "Y-PSNR $got SSIM $got_ssim: $verdict"; fi
done <"$WORK/table"
