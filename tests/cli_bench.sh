#!/bin/sh
# Smoke test of nsr bench: every benchmark runs in --quick mode (tiny sizes, one round: nothing
# is measured) and prints well-formed JSON objects with the fields BENCHMARKS.md documents. A
# reference that is missing (nsr built without oneDNN, no PyTorch) is reported as unavailable,
# which is not a failure: the tests need neither.
. "$(dirname "$0")/clilib.sh"

# check_json NAME FILE BENCHES: FILE is one JSON object per line, each with the common fields
# and either times (nsr_ms, reference_ms) or memory (nsr_mib, reference_mib); every benchmark
# named in BENCHES appears; a reference without a time says why in "unavailable".
check_json() {
    name=$1 file=$2 benches=$3
    if ! [ -s "$file" ]; then fail "$name" "no output"; return; fi
    if command -v python3 >/dev/null 2>&1; then
        if why=$(python3 - "$file" "$benches" 2>&1 <<'EOF'
import json, sys
seen = set()
for i, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    unit = "mib" if "nsr_mib" in o else "ms"
    for key in ("bench", "case", "reference", "ratio", "nsr_" + unit, "reference_" + unit, "load"):
        assert key in o, f"line {i} has no '{key}': {line}"
    assert isinstance(o["nsr_" + unit], (int, float)) and o["nsr_" + unit] >= 0, f"line {i}: {line}"
    if o["reference_" + unit] is None:
        assert o["ratio"] is None and o.get("unavailable"), f"line {i}: no time and no reason: {line}"
    else:
        # printed with 6 decimals: a ratio of a starved run (0.000343) is exact to 5e-7 only
        assert abs(o["ratio"] - o["reference_" + unit] / o["nsr_" + unit]) <= 1e-3 * o["ratio"] + 1e-6, f"line {i}: {line}"
    seen.add(o["bench"])
missing = set(sys.argv[2].split()) - seen
assert not missing, f"no results of {sorted(missing)}"
EOF
        ); then pass "$name"; else fail "$name" "$(echo "$why" | tail -n 1 | head -c 400)"; fi
    elif grep -qv '^{"bench": ".*"load": \[.*\]}$' "$file"; then
        fail "$name" "a line is not an object: $(grep -v '^{"bench"' "$file" | head -n 1)"
    else
        pass "$name"
    fi
}

expect_out "bench --help" "usage: nsr bench NAME" "$NSR" bench --help

# conv with whatever references this build has
if "$NSR" bench conv --quick --json >"$WORK/conv.json" 2>"$WORK/conv.err"; then pass "bench conv --quick --json"
else fail "bench conv --quick --json" "exit $?: $(tail -n 1 "$WORK/conv.err")"; fi
check_json "bench conv: JSON objects" "$WORK/conv.json" "conv"
grep -q '"reference": "FMA peak' "$WORK/conv.json" && pass "bench conv: FMA peak row" ||
    fail "bench conv: FMA peak row" "none in $(head -c 300 "$WORK/conv.json")"

# everything, without the external references: they are marked unavailable
if "$NSR" bench all --quick --json --no-reference -j 2 >"$WORK/all.json" 2>"$WORK/all.err"; then pass "bench all --quick --no-reference"
else fail "bench all --quick --no-reference" "exit $?: $(tail -n 1 "$WORK/all.err")"; fi
check_json "bench all: JSON objects" "$WORK/all.json" "conv rebuttal model scaling ranks upscale"
n=$(grep -c '"unavailable": "skipped (--no-reference)"' "$WORK/all.json")
[ "$n" -eq 5 ] && pass "bench all: oneDNN and PyTorch rows unavailable" ||
    fail "bench all: oneDNN and PyTorch rows unavailable" "$n rows say so, expected 5"

# the bundled models as they are found beside the program: a model of scale 1 runs by the
# command of its task (nsr upscale refuses it), here an untrained denoiser of one tiny block
mkdir -p "$WORK/tree/build" "$WORK/tree/models"
cp "$NSR" "$WORK/tree/build/nsr"
"$NSR" new --blocks 1 --features 8 --wm 1 --groups 1 --scale 1 -o "$WORK/tree/models/tiny_dn.nsr" >/dev/null
if "$WORK/tree/build/nsr" bench upscale --reps 1 --no-reference -j 1 >"$WORK/tree.out" 2>"$WORK/tree.err" &&
    grep -q "^tiny_dn x1 1000x750 PNG, auto tiles" "$WORK/tree.out"; then
    pass "bench upscale: a bundled model of scale 1 (denoise)"
else
    fail "bench upscale: a bundled model of scale 1 (denoise)" "$(tail -n 1 "$WORK/tree.err")"
fi

# the main job: its rate against the conv's (target 0.7), and PyTorch on the same tiles, whose
# output must equal nsr's to float rounding when PyTorch is there
if "$NSR" bench upscale --quick --json >"$WORK/upscale.json" 2>"$WORK/upscale.err"; then pass "bench upscale --quick --json"
else fail "bench upscale --quick --json" "exit $?: $(tail -n 1 "$WORK/upscale.err")"; fi
check_json "bench upscale: JSON objects" "$WORK/upscale.json" "upscale"
grep -q '"bench": "upscale", "case": "tiny x2 96x72 PNG, auto tiles".*"reference": "conv 64->64 N=1 24x24, same FLOPs".*"gflop": [0-9.]*.*"target": 0.7' "$WORK/upscale.json" &&
    pass "bench upscale: rate against the conv's" || fail "bench upscale: rate against the conv's" "$(head -c 400 "$WORK/upscale.json")"
if grep -q '"reference": "PyTorch.*"max_abs_diff"' "$WORK/upscale.json"; then
    diff=$(sed -n 's/.*"reference": "PyTorch.*"max_abs_diff": \([^,]*\),.*/\1/p' "$WORK/upscale.json")
    awk -v d="$diff" 'BEGIN { exit !(d < 1e-4) }' && pass "bench upscale: PyTorch's output equals nsr's" ||
        fail "bench upscale: PyTorch's output equals nsr's" "max_abs_diff $diff"
else
    grep -q '"reference": "PyTorch.*"unavailable": "' "$WORK/upscale.json" && pass "bench upscale: PyTorch unavailable, said why" ||
        fail "bench upscale: PyTorch row" "$(tail -n 1 "$WORK/upscale.json" | head -c 300)"
fi
grep -q '"case": "upscale x2 256x256, tiled: peak RSS".*"nsr_mib"' "$WORK/all.json" &&
    pass "bench scaling: peak memory of a child" || fail "bench scaling: peak memory of a child" "no memory row"

# PyTorch missing: the model benchmark still runs and says why
if NSR_BENCH_PYTHON="$WORK/no-python" "$NSR" bench model --quick --json >"$WORK/model.json" 2>"$WORK/model.err" &&
    grep -q '"reference_ms": null.*"unavailable": ".*no-python' "$WORK/model.json"; then pass "bench model without PyTorch"
else fail "bench model without PyTorch" "$(head -c 300 "$WORK/model.json") $(tail -n 1 "$WORK/model.err")"; fi

expect_out "bench rebuttal: table" "k=16 fixed FLOPs" "$NSR" bench rebuttal --quick

expect_usage "bench: no name" "$NSR" bench
expect_usage "bench: unknown benchmark" "$NSR" bench bogus --quick
expect_usage "bench: bad --reps" "$NSR" bench conv --reps 0
expect_usage "bench: bad -j" "$NSR" bench conv -j x
expect_usage "bench: unknown option" "$NSR" bench conv --fast
