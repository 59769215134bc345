#!/bin/sh
# Command-line tests of nsr new, nsr info, and model files in nsr upscale and nsr eval.
. "$(dirname "$0")/clilib.sh"

# expect_out NAME PATTERN CMD...: the command exits 0 and its output matches the grep pattern.
expect_out() {
    name=$1 pattern=$2; shift 2
    if out=$("$@" 2>&1) && echo "$out" | grep -q -- "$pattern"; then pass "$name"
    else fail "$name" "no '$pattern' in: $(echo "$out" | head -c 300)"; fi
}
# expect_same NAME A B / expect_differ NAME A B: byte comparison of two files.
expect_same() { if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$2 and $3 differ"; fi; }
expect_differ() { if cmp -s "$2" "$3"; then fail "$1" "$2 and $3 are equal"; else pass "$1"; fi; }

for cmd in new info; do expect_out "$cmd --help" "usage: nsr $cmd" "$NSR" $cmd --help; done

# Parameter counts of the published networks (NSR.md sections 3 and 6).
for s in "2 4877812" "3 4887637" "4 4901392"; do
    set -- $s
    expect_ok "new EDSR+NSR x$1" "$NSR" new --blocks 16 --features 64 --wm 1 --groups 4 --cardinals 16 --scale "$1" -o "$WORK/edsr$1.nsr"
    expect_out "EDSR+NSR x$1 has $2 parameters" "\"params\": $2," "$NSR" info "$WORK/edsr$1.nsr" --json
    rm -f "$WORK/edsr$1.nsr"
done
expect_ok "new plain WDSR" "$NSR" new --blocks 16 --features 32 --wm 4 --groups 1 --scale 2 -o "$WORK/wdsr.nsr"
expect_out "plain WDSR x2 has 1190100 parameters" '"params": 1190100,' "$NSR" info "$WORK/wdsr.nsr" --json
expect_out "info text groups digits" "parameters *1,190,100 in 105 tensors" "$NSR" info "$WORK/wdsr.nsr"
rm -f "$WORK/wdsr.nsr"
expect_ok "new with defaults" "$NSR" new -o "$WORK/default.nsr"
expect_out "default is wdsr_nsr B16 F32 wm4 k4 d16 x2" \
    '"blocks": 16, "features": 32, "width_mult": 4, "groups": 4, "cardinals": 16, "scale": 2, "shared_selection": false' \
    "$NSR" info "$WORK/default.nsr" --json
rm -f "$WORK/default.nsr"

# Tiny models for the rest: same seed, same bytes; --shared and scale 1; the tensor table.
tiny="--blocks 2 --features 8 --wm 2 --groups 2 --cardinals 2"
expect_ok "new tiny x2" "$NSR" new $tiny --scale 2 --seed 3 -o "$WORK/x2.nsr"
expect_ok "new tiny x2 again" "$NSR" new $tiny --scale 2 --seed 3 -o "$WORK/x2b.nsr"
expect_ok "new tiny x2 seed 4" "$NSR" new $tiny --scale 2 --seed 4 -o "$WORK/x2c.nsr"
expect_same "new: same seed, same file" "$WORK/x2.nsr" "$WORK/x2b.nsr"
expect_differ "new: other seed, other weights" "$WORK/x2.nsr" "$WORK/x2c.nsr"
expect_ok "new tiny x1 shared" "$NSR" new $tiny --scale 1 --shared -o "$WORK/x1.nsr"
expect_out "info: shared selection" '"shared_selection": true' "$NSR" info "$WORK/x1.nsr" --json
expect_out "info: seed recorded" '"metadata": {"nsr.init_seed": 1}' "$NSR" info "$WORK/x1.nsr" --json
expect_out "info --tensors lists shapes" "blocks.1.conv1.A  *4x8 " "$NSR" info "$WORK/x2.nsr" --tensors
expect_out "info --json --tensors" '{"name": "skip.v", "shape": \[12, 3, 5, 5\]}' "$NSR" info "$WORK/x2.nsr" --json --tensors

# Errors of new and info.
expect_error "new without -o" "$NSR" new $tiny
expect_error "new: cardinals must divide features" "$NSR" new --features 8 --cardinals 3 -o "$WORK/bad.nsr"
expect_error "new: bad scale" "$NSR" new --scale 9 -o "$WORK/bad.nsr"
expect_error "new: unknown option" "$NSR" new --bogus 1 -o "$WORK/bad.nsr"
expect_error "new into a missing folder" "$NSR" new $tiny -o "$WORK/missing/m.nsr"
[ -e "$WORK/bad.nsr" ] && fail "new: no file on errors" "bad.nsr was written" || pass "new: no file on errors"
expect_error "info: missing file" "$NSR" info "$WORK/missing.nsr"
expect_error "info: no file given" "$NSR" info
printf 'not a model' >"$WORK/junk.nsr"
expect_error "info: not a model file" "$NSR" info "$WORK/junk.nsr"
head -c 1000 "$WORK/x2.nsr" >"$WORK/cut.nsr"
expect_error "info: truncated model" "$NSR" info "$WORK/cut.nsr"
