#!/bin/sh
# run-fuzz.sh BUILD SECONDS [TARGET...] - run the libFuzzer targets of a
# build configured with -Dfuzz=enabled (see meson.build here), one after
# the other, each for SECONDS on one core, starting from a copy of the
# committed seed corpus. New inputs go to $FUZZ_WORK/<target>/ (default
# /tmp/wcodec-fuzz), crashers to $FUZZ_WORK/crashes/; keep each crasher as
# a golden file (tests/golden/) so fuzz-replay runs it forever.
# Prints libFuzzer's final stats (executions, coverage) per target.
set -u
B=${1:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}
S=${2:?usage: run-fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
W=${FUZZ_WORK:-/tmp/wcodec-fuzz}
[ $# -gt 0 ] || set -- container rans chunk safetensors
mkdir -p "$W/crashes"
rc=0
for t in "$@"; do
    bin=$B/tests/fuzz/fuzz-$t
    [ -x "$bin" ] || { echo "run-fuzz: $bin missing (configure with -Dfuzz=enabled and CC=clang)"; exit 2; }
    mkdir -p "$W/$t"
    cp -n "$HERE/corpus/$t/"* "$W/$t/" 2>>"$W/quiet"
    dict=
    [ -f "$HERE/$t.dict" ] && dict=-dict=$HERE/$t.dict
    echo "== $t: $S s"
    # malloc_limit_mb: any single allocation over 1 GiB is a finding (a
    # hostile size that was not bounded before allocating).
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    "$bin" "$W/$t" $dict -max_total_time="$S" -print_final_stats=1 \
        -timeout=20 -rss_limit_mb=2560 -malloc_limit_mb=1024 \
        -max_len=65536 -artifact_prefix="$W/crashes/$t-" \
        > "$W/$t.log" 2>&1
    st=$?
    grep -E '^(#[0-9]+ *DONE|stat::)' "$W/$t.log" | tail -n 8
    grep -E 'cov: [0-9]+' "$W/$t.log" | tail -n 1
    if [ $st -ne 0 ]; then
        echo "!! $t exited $st; see $W/$t.log"
        grep -E 'ERROR|PROPERTY|SUMMARY' "$W/$t.log" | head -n 5
        rc=1
    fi
done
exit $rc
