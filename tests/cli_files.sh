#!/bin/sh
# The files of the restoring commands: -i DIR -o DIR, several -i, outputs that exist skipped
# unless --overwrite, bad files passed over with a summary and exit 1, outputs of the same name,
# "-" for standard input and output, and inputs never overwritten unless asked. Bicubic keeps it
# quick; the commands share this code whatever restores.
. "$(dirname "$0")/clilib.sh"

"$NSR" upscale -m bicubic -o "$WORK/big.png" 2>/dev/null
mkdir -p "$WORK/in" "$WORK/more"
"$NSR" resize "$WORK/big.png" "$WORK/in/a.png" --size 40x30 --float
"$NSR" resize "$WORK/big.png" "$WORK/in/b.jpg" --size 20x16
"$NSR" convert "$WORK/in/a.png" "$WORK/more/c.webp"
printf 'not an image' >"$WORK/more/bad.png"
cp "$WORK/in/a.png" "$WORK/one.png"

# A folder into a folder (made when missing): the same names, in the input's format.
"$NSR" upscale -m bicubic -i "$WORK/in/" -o "$WORK/up" >/dev/null 2>"$WORK/err"; rc=$?
if [ "$rc" -eq 0 ] && [ "$(ls "$WORK/up" | tr '\n' ' ')" = "a.png b.jpg " ] &&
   grep -q "^nsr upscale: 2 done, 0 skipped, 0 failed$" "$WORK/err"; then pass "folder to folder"
else fail "folder to folder" "exit $rc: $(ls "$WORK/up" 2>&1) $(cat "$WORK/err")"; fi
expect_head "folder: a.png upscaled" "$WORK/up/a.png" "80 60 8 2"
"$NSR" upscale -m bicubic -i "$WORK/in/a.png" -o "$WORK/a2.png" 2>/dev/null
expect_same "folder: the same result as one file" "$WORK/up/a.png" "$WORK/a2.png"
# Run again: every output exists, each skipped and said so.
"$NSR" upscale -m bicubic -i "$WORK/in" -o "$WORK/up/" 2>"$WORK/err"; rc=$?
if [ "$rc" -eq 0 ] && grep -q "nsr upscale: $WORK/up/a.png exists: skipped (--overwrite replaces it)$" "$WORK/err" &&
   grep -q "up/b.jpg exists: skipped" "$WORK/err" && grep -q "0 done, 2 skipped, 0 failed$" "$WORK/err"; then
    pass "existing outputs skipped"
else fail "existing outputs skipped" "exit $rc: $(cat "$WORK/err")"; fi
"$NSR" upscale -m bicubic -s 3 -i "$WORK/in" -o "$WORK/up" --overwrite 2>"$WORK/err"
if grep -q "2 done, 0 skipped, 0 failed$" "$WORK/err"; then pass "--overwrite replaces them"
else fail "--overwrite replaces them" "$(cat "$WORK/err")"; fi
expect_head "replaced by the x3 result" "$WORK/up/a.png" "120 90 8 2"

# -f: the outputs' format and extension. Several -i, files and folders; a bad file is reported,
# the others go on, and the exit status says one failed.
"$NSR" upscale -m bicubic -i "$WORK/in" -i "$WORK/more/" -i "$WORK/one.png" -o "$WORK/webp" -f webp \
    >/dev/null 2>"$WORK/err"; rc=$?
if [ "$rc" -eq 1 ] && [ "$(ls "$WORK/webp" | tr '\n' ' ')" = "a.webp b.webp c.webp one.webp " ] &&
   grep -q "^nsr upscale: $WORK/more/bad.png: not a PNG, JPEG or WebP file" "$WORK/err" &&
   [ "$(tail -n 1 "$WORK/err")" = "nsr upscale: 4 done, 0 skipped, 1 failed" ]; then pass "several -i, -f webp, a bad file"
else fail "several -i, -f webp, a bad file" "exit $rc: $(ls "$WORK/webp" 2>&1) $(cat "$WORK/err")"; fi
if [ "$(head -c 4 "$WORK/webp/b.webp")" = RIFF ]; then pass "-f webp writes WebP"; else fail "-f webp writes WebP" "not RIFF"; fi
# Two inputs of one output name: the second fails, the first's output stays.
cp "$WORK/in/b.jpg" "$WORK/more/a.jpg"
"$NSR" upscale -m bicubic -i "$WORK/in/a.png" -i "$WORK/more/a.jpg" -o "$WORK/same" -f png 2>"$WORK/err"; rc=$?
if [ "$rc" -eq 1 ] && grep -q "more/a.jpg: .*same/a.png is also the output of .*in/a.png (rename one of them)" "$WORK/err"; then
    pass "one output name for two inputs"
else fail "one output name for two inputs" "exit $rc: $(cat "$WORK/err")"; fi
expect_same "the first input's output kept" "$WORK/same/a.png" "$WORK/a2.png"

# A folder into itself: the inputs are outputs that exist, so nothing is touched.
mkdir "$WORK/self" && cp "$WORK/in/a.png" "$WORK/self/a.png"
"$NSR" upscale -m bicubic -i "$WORK/self" -o "$WORK/self" 2>"$WORK/err"
expect_same "inputs never overwritten" "$WORK/self/a.png" "$WORK/in/a.png"
if grep -q "0 done, 1 skipped" "$WORK/err"; then pass "input as output: skipped"; else fail "input as output: skipped" "$(cat "$WORK/err")"; fi
"$NSR" upscale -m bicubic -i "$WORK/one.png" -o "$WORK/one.png" 2>"$WORK/err"; rc=$?
if [ "$rc" -eq 1 ] && grep -q "refusing to overwrite the input (use --overwrite)" "$WORK/err"; then pass "one file: input refused as output"
else fail "one file: input refused as output" "exit $rc: $(cat "$WORK/err")"; fi
# One file into a folder keeps its name; one file replaces an output that exists (as before).
expect_ok "one file into a folder" "$NSR" upscale -m bicubic -i "$WORK/one.png" -o "$WORK/up"
expect_head "one file into a folder: its name" "$WORK/up/one.png" "80 60 8 2"
expect_ok "one file: its output replaced" "$NSR" upscale -m bicubic -s 3 -i "$WORK/one.png" -o "$WORK/a2.png"
expect_head "one file: replaced" "$WORK/a2.png" "120 90 8 2"

# Standard input and output.
"$NSR" upscale -m bicubic --quiet -i - -o - -f png <"$WORK/one.png" >"$WORK/piped.png" 2>"$WORK/err"; rc=$?
"$NSR" upscale -m bicubic -i "$WORK/one.png" -o "$WORK/filed.png" 2>/dev/null
if [ "$rc" -eq 0 ] && [ ! -s "$WORK/err" ]; then pass "stdin to stdout"; else fail "stdin to stdout" "exit $rc: $(cat "$WORK/err")"; fi
expect_same "stdin to stdout: the same image" "$WORK/piped.png" "$WORK/filed.png"
"$NSR" upscale -m bicubic -i - -o "$WORK/fromstdin.jpg" <"$WORK/one.png" 2>/dev/null
expect_ok "stdin to a file" test -s "$WORK/fromstdin.jpg"
"$NSR" upscale -m bicubic -i "$WORK/one.png" -o - -f jpeg >"$WORK/tostdout.jpg" 2>/dev/null
expect_same "a file to stdout, -f jpeg" "$WORK/fromstdin.jpg" "$WORK/tostdout.jpg"
expect_error "stdin: not an image" sh -c "printf junk | \"$NSR\" upscale -m bicubic -i - -o \"$WORK/e.png\""
expect_error "stdin: empty" sh -c ": | \"$NSR\" upscale -m bicubic -i - -o \"$WORK/e.png\""

# Usage errors, one line, before anything is written.
expect_usage "-o - needs -f" "$NSR" upscale -m bicubic -i "$WORK/one.png" -o -
expect_usage "-i - alone" "$NSR" upscale -m bicubic -i - -i "$WORK/one.png" -o "$WORK/o"
expect_usage "-o - takes one image" "$NSR" upscale -m bicubic -i "$WORK/in" -o - -f png
expect_usage "a folder into a file" "$NSR" upscale -m bicubic -i "$WORK/in" -o "$WORK/one.png"
expect_usage "a folder into an image name" "$NSR" upscale -m bicubic -i "$WORK/in" -o "$WORK/new.png"
expect_usage "stdin into a folder" "$NSR" upscale -m bicubic -i - -o "$WORK/up"
[ -e "$WORK/new.png" ] || [ -e "$WORK/o" ] || [ -e "$WORK/e.png" ] && fail "usage errors write nothing" "$(ls "$WORK")" ||
    pass "usage errors write nothing"
mkdir "$WORK/empty"
expect_error "an empty folder among the inputs" "$NSR" upscale -m bicubic -i "$WORK/in" -i "$WORK/empty" -o "$WORK/o"
expect_error "a model error stops before the folder is made" "$NSR" upscale -m "$WORK/missing.nsr" -i "$WORK/in" -o "$WORK/o"
[ -e "$WORK/o" ] && fail "failed runs make no folder" "$WORK/o exists" || pass "failed runs make no folder"
# denoise and dejpeg share it all: a folder, -m bicubic refused before any file.
expect_error "denoise a folder, -m bicubic" "$NSR" denoise -m bicubic -i "$WORK/in" -o "$WORK/o"
