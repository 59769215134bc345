#!/bin/sh
# Runs every test program and script given as arguments; each prints PASS/FAIL/SKIP lines.
# Prints the tally "N passed, N failed" (and skips, when any) and exits non-zero on any failure.
# A program that exits non-zero without having printed a FAIL line (a crash, a sanitizer report)
# counts as one more failure.
passed=0 failed=0 skipped=0
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
for t in "$@"; do
    case "$t" in
        *.sh) sh "$t" >"$tmp" 2>&1 ;;
        *) "$t" >"$tmp" 2>&1 ;;
    esac
    rc=$?
    grep -E '^(FAIL|SKIP)' "$tmp"
    p=$(grep -c '^PASS' "$tmp"); f=$(grep -c '^FAIL' "$tmp"); s=$(grep -c '^SKIP' "$tmp")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t: exited with status $rc; its last output:"
        tail -n 20 "$tmp"
        f=1
    fi
    echo "  $t: $p passed, $f failed${s:+, $s skipped}" | sed 's/, 0 skipped//'
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped: see the SKIP lines above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
