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
# write_grey_alpha_png FILE: a 16x12 8-bit grey PNG with alpha (left half opaque), byte by byte.
write_grey_alpha_png() {
    printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\020\000\000\000\014\010\004\000\000\000\301\356\365\012\000\000\001\120\111\104\101\124\170\332\005\301\011\150\010\140\000\200\321\337\104\133\144\263\105\144\071\333\042\162\106\104\063\023\021\215\021\131\326\206\065\021\071\043\213\354\143\131\064\071\043\232\314\310\332\042\206\246\311\062\263\210\310\331\104\344\230\150\313\142\054\332\232\174\173\057\004\143\034\354\130\223\135\350\012\067\011\107\070\107\005\167\171\316\047\132\010\135\215\163\230\023\234\351\142\263\335\152\076\307\271\300\015\352\170\305\027\132\011\335\355\153\242\223\234\355\122\127\273\335\002\116\122\312\115\036\360\232\157\374\045\104\331\337\021\116\161\256\351\256\065\327\003\234\246\234\133\074\342\055\115\264\023\172\032\357\050\247\071\337\014\327\273\313\203\234\341\062\325\074\341\075\315\374\043\104\073\310\061\116\167\201\131\156\064\317\303\024\163\225\032\236\361\221\237\110\210\165\250\343\115\161\221\253\334\342\136\217\161\236\353\334\343\045\015\374\046\202\320\307\004\047\072\313\045\346\270\315\175\236\340\042\225\334\247\236\257\374\241\033\241\237\303\235\354\034\227\271\306\035\356\367\024\145\124\361\220\067\064\322\106\044\141\200\043\235\352\074\227\273\316\235\026\132\304\045\156\363\230\167\174\247\203\036\204\201\216\066\311\124\063\335\340\156\017\171\226\053\334\341\051\037\370\301\177\172\021\206\070\316\031\246\271\322\315\356\361\250\045\134\243\226\027\174\346\027\135\350\115\047\106\344\357\001\260\165\244\045\000\000\000\000\111\105\116\104\256\102\140\202' >"$1"
}
