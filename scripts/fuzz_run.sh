#!/bin/sh
# fuzz_run.sh SECONDS HARNESS...: runs each libFuzzer harness (build-fuzz/fuzz_NAME) for SECONDS
# on its seed corpus fuzz/corpus/NAME, one process, one job. New inputs go to a scratch folder
# (the committed seeds stay as they are); a crash is kept in build-fuzz/crashes/ with the
# command that replays it. Prints "PASS fuzz_NAME: executions, coverage" or "FAIL fuzz_NAME"
# per harness and exits non-zero when any failed.
seconds=$1; shift
crashes=build-fuzz/crashes
mkdir -p "$crashes" || exit 1
scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
failed=0
for bin in "$@"; do
    name=$(basename "$bin"); seeds=fuzz/corpus/${name#fuzz_}
    mkdir -p "$scratch/$name"
    if "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/$name-" "$scratch/$name" "$seeds" >"$scratch/$name.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$name.log")
        cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$scratch/$name.log" | tail -n 1)
        echo "PASS $name: $runs executions in ${seconds} s, $cov"
    else
        echo "FAIL $name: replay with: $bin $crashes/$name-*"
        grep -E 'ERROR|check failed|SUMMARY' "$scratch/$name.log" | head -n 5
        failed=1
    fi
done
exit $failed
