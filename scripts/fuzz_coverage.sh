#!/bin/sh
# fuzz_coverage.sh NAME DIR...: line and function coverage of nsr's own code (src/) by the inputs
# in DIR... (a fuzzing campaign's corpus) through harness fuzz/fuzz_NAME.c. Builds the harness
# and the library with clang's source-based coverage (no sanitizers: only which code runs
# matters) into build-fuzz/cov/, runs every input once, and prints llvm-cov's report.
set -e
name=$1; shift
out=build-fuzz/cov
mkdir -p "$out"
clang -O1 -g -std=c11 -fopenmp -march=x86-64-v2 -D_GNU_SOURCE -Iinclude -Isrc -Ifuzz \
    -fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer -w \
    -o "$out/fuzz_$name" "fuzz/fuzz_$name.c" \
    $(ls src/*/*.c | grep -v "$([ "$name" = tiling ] && echo src/run/tiling.c || echo '^$')") \
    $(pkg-config --libs libpng libjpeg libwebp libwebpdemux libwebpmux zlib) -lm
rm -f "$out/$name".prof*
LLVM_PROFILE_FILE="$out/$name.profraw" "$out/fuzz_$name" -runs=0 "$@" >"$out/$name.log" 2>&1
llvm-profdata merge -sparse "$out/$name.profraw" -o "$out/$name.profdata"
llvm-cov report "$out/fuzz_$name" -instr-profile="$out/$name.profdata" \
    -ignore-filename-regex='(fuzz|include)/' src
