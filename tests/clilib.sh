# Helpers for the command-line tests (sourced by tests/cli_*.sh).
# $NSR_BIN is the program under test; every check prints PASS/FAIL lines like the C tests.
NSR=${NSR_BIN:-build/nsr}
WORK=$(mktemp -d) || exit 1
trap 'rm -rf "$WORK"' EXIT
DATA=${NSR_DATA:-../shared/data}
[ -d "$DATA/Set5" ] || DATA=

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# expect_ok NAME CMD...: the command exits 0.
expect_ok() {
    name=$1; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "exit $?: $(echo "$out" | tail -n 1)"; fi
}
# expect_error NAME CMD...: the command exits non-zero (not by a signal) with one line on stderr.
expect_error() {
    name=$1; shift
    "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?
    lines=$(wc -l <"$WORK/err")
    if [ "$rc" -eq 0 ]; then fail "$name" "exited 0"
    elif [ "$rc" -gt 128 ]; then fail "$name" "killed by signal $((rc - 128))"
    elif [ "$lines" -ne 1 ]; then fail "$name" "stderr has $lines lines: $(head -c 300 "$WORK/err")"
    else pass "$name"; fi
}
# expect_usage NAME CMD...: exit status 2 (a usage error) with one line on stderr.
expect_usage() {
    name=$1; shift
    "$@" >/dev/null 2>"$WORK/err"; rc=$?
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ]; then pass "$name"
    else fail "$name" "exit $rc, stderr: $(head -c 300 "$WORK/err")"; fi
}
# expect_out NAME PATTERN CMD...: the command exits 0 and its output matches the grep pattern.
expect_out() {
    name=$1 pattern=$2; shift 2
    if out=$("$@" 2>&1) && echo "$out" | grep -q -- "$pattern"; then pass "$name"
    else fail "$name" "no '$pattern' in: $(echo "$out" | head -c 300)"; fi
}
# expect_same NAME A B / expect_differ NAME A B: byte comparison of two files.
expect_same() { if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$2 and $3 differ"; fi; }
expect_differ() { if cmp -s "$2" "$3"; then fail "$1" "$2 and $3 are equal"; else pass "$1"; fi; }
# png_head FILE: "WIDTH HEIGHT DEPTH COLOUR_TYPE" from the PNG header (IHDR is at byte 16).
png_head() {
    od -An -tu1 -j16 -N10 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8, $9, $10}'
}
# expect_head NAME FILE "W H DEPTH TYPE"
expect_head() {
    got=$(png_head "$2" 2>/dev/null)
    if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "expected '$3', got '$got'"; fi
}
