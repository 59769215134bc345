# The committed models reproduce their tables (needs ../shared/data): the rows of one set per
# task are measured again by nsr eval and must give the recorded Y-PSNR to within 0.0005 dB (the
# files keep 6 decimals).
# - results/models.jsonl (scripts/model_tables.sh), the bundled models in models/: Set5 for
#   super-resolution (every protocol, tiling and inference recorded), McMaster / Set12 at sigma
#   25 for colour / grey denoising, LIVE1 / Classic5 at quality 20 for colour / grey JPEG;
# - results/experiments.jsonl (scripts/experiments.sh), the experiments' committed models in
#   results/models/: Set5 (x2 rows) and Classic5 (grey JPEG rows), soft and hard inference (the
#   folded rows are of a model nsr fold makes on the way, not kept).
# The sanitizer build checks one Set5 row of each file.
. tests/clilib.sh
[ -n "$DATA" ] || { echo "SKIP tables: no ../shared/data"; exit 0; }
sanitize=${NSR_SANITIZE:-0}

# field NAME: the value of "NAME" in the row $row (a string's quotes dropped), outside the
# nested "input": {...} (the degraded input's own numbers)
field() { echo "$row" | sed -n "s/^{\([^{]*, \)\{0,1\}\"$1\": \"*\([^,\"}]*\).*/\2/p"; }

# check_row MODEL SET PROTOCOL TILE WANT EVAL-OPTIONS...: one row measured again
check_row() {
    model=$1 set=$2 protocol=$3 tile=$4 want=$5; shift 5
    name="tables: $model $set $*, $protocol, $tile"
    got=$("$NSR" eval --model "$model" --data "$DATA/$set" --protocol "$protocol" --tile "$tile" "$@" \
        --json --quiet 2>"$WORK/err" | tail -n 1 | sed -n 's/.*"psnr_y": \([0-9.]*\).*/\1/p')
    if [ -z "$got" ]; then
        fail "$name" "nsr eval gave no result: $(head -c 300 "$WORK/err")"
    elif awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 0.0005 && d > -0.0005) }'; then
        pass "$name: $got dB as recorded"
    else
        fail "$name" "$got dB, recorded $want"
    fi
}

checked=0
if [ -f results/models.jsonl ]; then
    while IFS= read -r row; do
        model=$(field model) task=$(field task) channels=$(field channels) set=$(field set)
        level=$(field level) inference=$(field inference)
        [ -f "$model" ] || continue
        case $task:$channels:$set:$level in
        sr:*:Set5:*) opts="--scale $level" ;;
        denoise:3:McMaster:25 | denoise:1:Set12:25) opts="--noise $level" ;;
        jpeg:3:LIVE1:20 | jpeg:1:Classic5:20) opts="--jpeg $level" ;;
        *) continue ;;
        esac
        [ "$sanitize" = 1 ] && [ "$set" != Set5 ] && continue
        [ "$channels" = 1 ] && opts="$opts --grey"
        [ "$inference" = hard ] && opts="$opts --hard"
        # shellcheck disable=SC2086 # the options are words
        check_row "$model" "$set" "$(field protocol)" "$(field tile)" "$(field psnr_y)" $opts
        checked=$((checked + 1))
        [ "$sanitize" = 1 ] && break
    done <results/models.jsonl
fi
if [ -f results/experiments.jsonl ]; then
    while IFS= read -r row; do
        model=$(field model) task=$(field task) set=$(field set) inference=$(field inference)
        [ -f "$model" ] || continue
        case ${task:-sr2}:$set:$inference in
        sr2:Set5:soft) opts="--scale $(field scale)" ;;
        sr2:Set5:hard) opts="--scale $(field scale) --hard" ;;
        jpeg20:Classic5:soft) opts="--jpeg 20 --grey" ;;
        jpeg20:Classic5:hard) opts="--jpeg 20 --grey --hard" ;;
        *) continue ;;
        esac
        [ "$sanitize" = 1 ] && [ "$set" != Set5 ] && continue
        # shellcheck disable=SC2086
        check_row "$model" "$set" "$(field protocol)" whole "$(field psnr_y)" $opts
        checked=$((checked + 1))
        [ "$sanitize" = 1 ] && break
    done <results/experiments.jsonl
fi
[ "$checked" -gt 0 ] || echo "SKIP tables: no committed model has rows in results/*.jsonl"
