# The bundled models reproduce their tables (needs ../shared/data): for every model in models/
# with rows in results/models.jsonl (scripts/model_tables.sh wrote them), the rows of one set per
# task are measured again by nsr eval and must give the recorded Y-PSNR to within 0.0005 dB
# (the file keeps 6 decimals). One set each keeps it short: Set5 for super-resolution (every
# protocol, tiling and inference recorded), McMaster / Set12 at sigma 25 for colour / grey
# denoising, LIVE1 / Classic5 at quality 20 for colour / grey JPEG. The sanitizer build checks
# one Set5 row only.
. tests/clilib.sh
ROWS=results/models.jsonl
[ -n "$DATA" ] && [ -f "$ROWS" ] || { echo "SKIP tables: no ../shared/data or $ROWS"; exit 0; }

# field NAME: the value of "NAME" in the row $row (a string's quotes dropped), outside the
# nested "input": {...} (the degraded input's own numbers)
field() { echo "$row" | sed -n "s/^{\([^{]*, \)\{0,1\}\"$1\": \"*\([^,\"}]*\).*/\2/p"; }

sets="Set5|McMaster|Set12|LIVE1|Classic5"
[ "${NSR_SANITIZE:-0}" = 1 ] && sets=Set5
grep -E "\"set\": \"($sets)\"" "$ROWS" >"$WORK/rows"
checked=0
while IFS= read -r row; do
    model=$(field model) task=$(field task) channels=$(field channels) set=$(field set)
    level=$(field level) protocol=$(field protocol) tile=$(field tile) inference=$(field inference)
    want=$(field psnr_y)
    [ -f "$model" ] || continue
    case $task:$channels:$set:$level in
    sr:*:Set5:*) opts="--scale $level" ;;
    denoise:3:McMaster:25 | denoise:1:Set12:25) opts="--noise $level" ;;
    jpeg:3:LIVE1:20 | jpeg:1:Classic5:20) opts="--jpeg $level" ;;
    *) continue ;;
    esac
    [ "$channels" = 1 ] && opts="$opts --grey"
    [ "$inference" = hard ] && opts="$opts --hard"
    name="tables: $model $set $opts, $protocol, $tile"
    # shellcheck disable=SC2086 # the options are words
    got=$("$NSR" eval --model "$model" --data "$DATA/$set" --protocol "$protocol" --tile "$tile" $opts \
        --json --quiet 2>"$WORK/err" | tail -n 1 | sed -n 's/.*"psnr_y": \([0-9.]*\).*/\1/p')
    if [ -z "$got" ]; then
        fail "$name" "nsr eval gave no result: $(head -c 300 "$WORK/err")"
    elif awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 0.0005 && d > -0.0005) }'; then
        pass "$name: $got dB as recorded"
    else
        fail "$name" "$got dB, recorded $want"
    fi
    checked=$((checked + 1))
    [ "${NSR_SANITIZE:-0}" = 1 ] && break
done <"$WORK/rows"
[ "$checked" -gt 0 ] || echo "SKIP tables: no bundled model has rows in $ROWS"
