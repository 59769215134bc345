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

# row_options: the nsr eval options of the row $row when it is one this test measures again
# (tiling and protocol aside); nothing otherwise. Rows of experiments.jsonl carry "variant".
row_options() {
    set=$(field set) opts=
    if [ -n "$(field variant)" ]; then
        case $(field task):$set in
        :Set5) opts="--scale $(field scale)" ;;
        jpeg20:Classic5) opts="--jpeg 20 --grey" ;;
        esac
    else
        case $(field task):$(field channels):$set:$(field level) in
        sr:*:Set5:*) opts="--scale $(field level)" ;;
        denoise:3:McMaster:25) opts="--noise 25" ;;
        denoise:1:Set12:25) opts="--noise 25 --grey" ;;
        jpeg:3:LIVE1:20) opts="--jpeg 20" ;;
        jpeg:1:Classic5:20) opts="--jpeg 20 --grey" ;;
        esac
    fi
    [ -n "$opts" ] || return 0
    [ "$sanitize" = 1 ] && [ "$set" != Set5 ] && return 0
    case $(field inference) in
    soft | "") echo "$opts" ;; # the oldest rows of models.jsonl name no inference: soft
    hard) echo "$opts --hard" ;;
    esac
}

checked=0
for file in results/models.jsonl results/experiments.jsonl; do
    [ -f "$file" ] || continue
    while IFS= read -r row; do
        model=$(field model)
        [ -f "$model" ] || continue
        opts=$(row_options)
        [ -n "$opts" ] || continue
        tile=$(field tile) # experiments.jsonl rows are all of the whole image
        # shellcheck disable=SC2086 # the options are words
        check_row "$model" "$(field set)" "$(field protocol)" "${tile:-whole}" "$(field psnr_y)" $opts
        checked=$((checked + 1))
        [ "$sanitize" = 1 ] && break
    done <"$file"
done
[ "$checked" -gt 0 ] || echo "SKIP tables: no committed model has rows in results/*.jsonl"
