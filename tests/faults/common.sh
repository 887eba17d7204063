# common.sh - sourced by the fault-injection tests in this folder: skips,
# a scratch folder, counters of faults injected and wrong bytes seen, and
# millisecond sleeps with a logged random source.
#
# Environment (set by meson): WCODEC_PACK, WCODEC_UNPACK, WCODEC_SOURCE_ROOT;
# FAULTS_SEED makes the random delays reproducible (default: random, and
# printed).
set -u
: "${WCODEC_PACK:?}" "${WCODEC_UNPACK:?}" "${WCODEC_SOURCE_ROOT:?}"
PY=/usr/bin/python3
GENMODEL=$WCODEC_SOURCE_ROOT/scripts/wcodec-genmodel

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "-- $*"; }
FAILED=0
FAULTS=0
WRONG=0

need_python() {
    [ -x $PY ] && $PY -c 'import numpy' 2>>"$T/quiet" ||
        skip "$PY with numpy is needed (wcodec-genmodel)"
}
need_root() {
    [ "$(id -u)" = 0 ] || skip "needs root ($*)"
}

T=$(mktemp -d /tmp/wcodec-faults.XXXXXX)
cleanup_faults() { rm -rf "$T"; }
trap 'cleanup_faults' EXIT
trap 'exit 1' INT TERM

SEED=${FAULTS_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "-- FAULTS_SEED=$SEED"
RNG_N=0
# rand VAR N: set VAR to a number in [0, N), from SEED and a counter
# (reproducible; not in a $(...) subshell, which would lose the counter).
rand() {
    RNG_N=$((RNG_N + 1))
    eval "$1=$(awk -v s="$SEED" -v k="$RNG_N" -v n="$2" \
        'BEGIN { srand(s * 7919 + k); printf "%d\n", rand() * n }')"
}
# sleep_ms MS
sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f\n", m / 1000 }')"; }
# now_ms: monotonic enough for measuring a run
now_ms() { date +%s%3N; }

# gen FILE SIZE SEED [DTYPE]: a generated model file
gen() {
    $PY "$GENMODEL" -q --size "$2" --seed "$3" --dtype "${4:-BF16}" "$1" \
        2>>"$T/quiet" || { echo "wcodec-genmodel failed"; exit 1; }
}

# temporaries of DIR/NAME (wc_tmp: DIR/.NAME.tmpXXXXXX)
temps() { ls -A "$1" 2>>"$T/quiet" | grep "^\.$2\.tmp" ; }

finish() {
    echo "-- faults injected: $FAULTS, wrong bytes observed: $WRONG"
    [ "$WRONG" -eq 0 ] || FAILED=1
    if [ "$FAILED" -ne 0 ]; then
        echo FAILED
        exit 1
    fi
    echo ok
    exit 0
}
