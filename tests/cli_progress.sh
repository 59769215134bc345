#!/bin/sh
# Progress, -v and --quiet of nsr upscale and nsr eval (tools/progress.c): plain lines when
# stderr is not a terminal (a tenth of a file's work each, with an ETA, encoding as the last
# step), one line redrawn in place on a terminal, the closing line with size, bytes and time.
. "$(dirname "$0")/clilib.sh"

"$NSR" upscale -m bicubic -o "$WORK/big.png" 2>/dev/null # 256x192: tiles of 96 make 12 of them
# a model trained for one step: an untrained one (nsr new) would add its warning to stderr
mkdir "$WORK/data" && cp "$WORK/big.png" "$WORK/data/"
"$NSR" train --data "$WORK/data" --run "$WORK/run" --scale 2 --blocks 2 --features 8 --wm 2 --groups 2 \
    --cardinals 2 --patch 16 --batch 2 --iterations 1 --val-every 0 --seed 3 -j 1 >/dev/null 2>&1
cp "$WORK/run/model.nsr" "$WORK/x2.nsr"

# Piped: lines "NN.NN% big.png: restoring, h:mm:ss left" at each tenth, rising, then encoding,
# done, and the closing line.
"$NSR" upscale -m "$WORK/x2.nsr" -t 96 -i "$WORK/big.png" -o "$WORK/out.png" 2>"$WORK/err"
restoring=$(grep -c '^ *[0-9.]*% .*/big.png: restoring, [0-9]*:[0-9][0-9]:[0-9][0-9] left$' "$WORK/err")
if [ "$restoring" -ge 5 ]; then pass "piped: a line per tenth of the work, with ETA"
else fail "piped: a line per tenth of the work, with ETA" "$restoring lines: $(head -c 300 "$WORK/err")"; fi
if sed -n 's/^ *\([0-9.]*\)% .*/\1/p' "$WORK/err" | awk 'NR > 1 && $1 < last { bad = 1 } { last = $1 } END { exit bad || last != 100 }'
then pass "piped: percentages rise to 100"; else fail "piped: percentages rise to 100" "$(cat "$WORK/err")"; fi
if grep -q '^ 90.00% .*/big.png: encoding' "$WORK/err" && grep -q '^100.00% .*/big.png: done$' "$WORK/err"
then pass "piped: encoding is the last step"; else fail "piped: encoding is the last step" "$(cat "$WORK/err")"; fi
bytes=$(wc -c <"$WORK/out.png")
if grep -q "^nsr upscale: wrote $WORK/out.png: 512x384, $bytes bytes, [0-9.]* s$" "$WORK/err"
then pass "closing line: size, bytes, time"; else fail "closing line: size, bytes, time" "$(tail -n 1 "$WORK/err")"; fi

# bicubic has no steps inside: still a line for the file
"$NSR" upscale -m bicubic -i "$WORK/big.png" -o "$WORK/bic.png" 2>"$WORK/err"
if grep -q '^100.00% .*/big.png: done$' "$WORK/err" && grep -q 'wrote .*bic.png: 512x384' "$WORK/err"
then pass "piped: a line per file"; else fail "piped: a line per file" "$(cat "$WORK/err")"; fi

# --quiet: nothing on stderr, the same file
"$NSR" upscale -m "$WORK/x2.nsr" -t 96 --quiet -i "$WORK/big.png" -o "$WORK/quiet.png" 2>"$WORK/err"
if [ ! -s "$WORK/err" ]; then pass "--quiet: nothing on stderr"; else fail "--quiet: nothing on stderr" "$(head -c 300 "$WORK/err")"; fi
expect_same "--quiet: the same image" "$WORK/out.png" "$WORK/quiet.png"
expect_error "--quiet keeps errors" "$NSR" upscale -m "$WORK/x2.nsr" --quiet -i "$WORK/missing.png" -o "$WORK/e.png"
expect_error "an error after the progress began: one line" "$NSR" upscale -m "$WORK/x2.nsr" -t 40 -i "$WORK/big.png" -o "$WORK/e.png"

# -v: the model, the tiling and its tile size, the threads, the input
"$NSR" upscale -m "$WORK/x2.nsr" -t 96 -v -j 1 -i "$WORK/big.png" -o "$WORK/v.png" 2>"$WORK/err"
if grep -q '^nsr upscale: model: .*x2.nsr (B 2, F 8, wm 2, k 2, d 2, x2, RGB, [0-9]* parameters); tiling auto, tiles of 96x96 input pixels (-t); soft selection; TTA off; 1 thread$' "$WORK/err" &&
   grep -q '^nsr upscale: .*big.png: 256x192 RGB, 8-bit$' "$WORK/err"
then pass "-v: model, tiling, tile size, threads, input"; else fail "-v: model, tiling, tile size, threads, input" "$(head -n 3 "$WORK/err")"; fi
"$NSR" upscale -m "$WORK/x2.nsr" -v -x --tile whole -i "$WORK/big.png" -o "$WORK/v.png" --overwrite 2>"$WORK/err"
if grep -q 'tiling whole; soft selection; TTA x8' "$WORK/err"; then pass "-v: whole, TTA"
else fail "-v: whole, TTA" "$(head -n 1 "$WORK/err")"; fi
"$NSR" upscale -m "$WORK/x2.nsr" -v -i "$WORK/big.png" -o "$WORK/v.png" --overwrite 2>"$WORK/err"
if grep -q 'tiling auto, tiles of [0-9]*x[0-9]* input pixels;' "$WORK/err"; then pass "-v: the chosen tile size"
else fail "-v: the chosen tile size" "$(head -n 1 "$WORK/err")"; fi
expect_usage "-v and --quiet together" "$NSR" upscale -v --quiet -o "$WORK/e.png"
expect_usage "eval: -v and --quiet together" "$NSR" eval -v --quiet --data "$WORK" --scale 2
expect_out "upscale --help: -v, --quiet" "--quiet" "$NSR" upscale --help
expect_out "eval --help: -v, --quiet" "-v, --verbose" "$NSR" eval --help

# On a terminal: one line redrawn in place (carriage returns, no plain lines), then the closing line.
if script -qec "true" /dev/null >/dev/null 2>&1; then
    script -qec "'$NSR' upscale -m '$WORK/x2.nsr' -t 96 -i '$WORK/big.png' -o '$WORK/tty.png'" /dev/null >"$WORK/tty" 2>&1
    cr=$(tr -cd '\r' <"$WORK/tty" | wc -c)
    plain=$(tr '\r' '\n' <"$WORK/tty" | grep -c '% .*/big.png: restoring')
    if [ "$cr" -ge 3 ] && [ "$plain" -ge 1 ] && [ "$(grep -c 'restoring' "$WORK/tty")" -le 1 ] &&
       grep -q 'wrote .*tty.png: 512x384' "$WORK/tty"; then pass "terminal: one line redrawn in place"
    else fail "terminal: one line redrawn in place" "$cr carriage returns: $(head -c 300 "$WORK/tty" | od -c | head -n 5)"; fi
else
    echo "SKIP terminal: one line redrawn in place: no working script(1) for a pseudo-terminal"
fi

# nsr eval: a line per file (its tenths when it has tiles), the closing line; --quiet and -v.
mkdir "$WORK/set"
cp "$WORK/big.png" "$WORK/set/a.png" && cp "$WORK/big.png" "$WORK/set/b.png"
"$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" >"$WORK/out" 2>"$WORK/err"
if grep -q '^ 50.00% 1/2 a.png: evaluating, 0:00:0[0-9] left$' "$WORK/err" && grep -q '^100.00% 2/2 b.png: evaluating$' "$WORK/err" &&
   grep -q '^nsr eval: 2 images in [0-9.]* s$' "$WORK/err"; then pass "eval: a line per file, closing line"
else fail "eval: a line per file, closing line" "$(head -c 400 "$WORK/err")"; fi
"$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" --quiet >"$WORK/qout" 2>"$WORK/err"
if [ ! -s "$WORK/err" ] && cmp -s "$WORK/out" "$WORK/qout"; then pass "eval --quiet: the table only"
else fail "eval --quiet: the table only" "$(head -c 300 "$WORK/err")"; fi
"$NSR" eval --data "$WORK/set" --scale 2 -m "$WORK/x2.nsr" -v --tile reference -j 1 >/dev/null 2>"$WORK/err"
if grep -q '^nsr eval: model: .*x2.nsr (B 2, .*); tiling reference; soft selection; TTA off; 1 thread$' "$WORK/err"
then pass "eval -v"; else fail "eval -v" "$(head -n 1 "$WORK/err")"; fi
