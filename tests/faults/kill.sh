#!/bin/sh
# kill.sh - wcodec-pack and wcodec-unpack killed with SIGKILL at random
# moments never leave a file under the final name unless it is complete:
# after each kill the output either does not exist or unpacks (or
# compares) to the original byte for byte. With --force over an existing
# container, the old container stays whole until the new one replaces it.
# Temporaries may remain after SIGKILL (nothing can remove them); they are
# counted and must never have the final name.
. "$(dirname "$0")/common.sh"
need_python
N=${KILL_ROUNDS:-20}
gen "$T/a.safetensors" 100M 11
gen "$T/b.safetensors" 24M 12 F16
"$WCODEC_PACK" -q "$T/b.safetensors" "$T/b.wcodec" || { echo "pack failed"; exit 1; }
t0=$(now_ms)
"$WCODEC_PACK" -q "$T/a.safetensors" "$T/a.wcodec" || { echo "pack failed"; exit 1; }
P=$(($(now_ms) - t0))
t0=$(now_ms)
"$WCODEC_UNPACK" -q "$T/a.wcodec" "$T/a2.safetensors" || { echo "unpack failed"; exit 1; }
U=$(($(now_ms) - t0))
cmp -s "$T/a.safetensors" "$T/a2.safetensors" || { echo "round trip differs"; exit 1; }
rm -f "$T/a2.safetensors"
note "pack of $(stat -c %s "$T/a.safetensors") bytes takes $P ms, unpack $U ms"

# same_as OUT ORIG...: OUT unpacks (container) to one of ORIG
unpacks_to() {
    out=$1
    shift
    rm -f "$T/check.safetensors"
    "$WCODEC_UNPACK" -q "$out" "$T/check.safetensors" 2>"$T/err" ||
        { cat "$T/err"; return 1; }
    for o in "$@"; do
        cmp -s "$T/check.safetensors" "$o" && return 0
    done
    WRONG=$((WRONG + 1))
    return 1
}

killed=0 done_=0 temps_left=0
# round MODE I: one pack/unpack killed after a random delay
round() {
    mode=$1
    rm -rf "$T/out"
    mkdir "$T/out"
    case $mode in
    pack)   rand d $((P * 12 / 10 + 1))
            "$WCODEC_PACK" -q "$T/a.safetensors" "$T/out/a.wcodec" & ;;
    force)  cp "$T/b.wcodec" "$T/out/a.wcodec"
            rand d $((P * 12 / 10 + 1))
            "$WCODEC_PACK" -q -f "$T/a.safetensors" "$T/out/a.wcodec" & ;;
    unpack) rand d $((U * 12 / 10 + 1))
            "$WCODEC_UNPACK" -q "$T/a.wcodec" "$T/out/a.safetensors" & ;;
    esac
    pid=$!
    sleep_ms "$d"
    kill -KILL $pid 2>>"$T/quiet"
    wait $pid 2>>"$T/quiet"
    st=$?
    FAULTS=$((FAULTS + 1))
    [ $st -eq 137 ] && killed=$((killed + 1)) || done_=$((done_ + 1))
    n=$(temps "$T/out" "a.wcodec" | wc -l)
    n=$((n + $(temps "$T/out" "a.safetensors" | wc -l)))
    temps_left=$((temps_left + n))
    case $mode in
    pack)
        if [ -e "$T/out/a.wcodec" ]; then
            unpacks_to "$T/out/a.wcodec" "$T/a.safetensors" ||
                fail "pack killed after $d ms (status $st): a.wcodec is not whole"
        elif [ $st -eq 0 ]; then
            fail "pack exited 0 but wrote no a.wcodec"
        fi ;;
    force)
        [ -e "$T/out/a.wcodec" ] || fail "pack -f killed after $d ms: the old container is gone"
        unpacks_to "$T/out/a.wcodec" "$T/a.safetensors" "$T/b.safetensors" ||
            fail "pack -f killed after $d ms: a.wcodec is neither the old nor the new container" ;;
    unpack)
        if [ -e "$T/out/a.safetensors" ]; then
            cmp -s "$T/out/a.safetensors" "$T/a.safetensors" ||
                { WRONG=$((WRONG + 1)); fail "unpack killed after $d ms: partial a.safetensors"; }
        elif [ $st -eq 0 ]; then
            fail "unpack exited 0 but wrote nothing"
        fi ;;
    esac
}

note "$N x pack killed with SIGKILL"
i=0; while [ $i -lt "$N" ]; do round pack; i=$((i + 1)); done
note "$((N / 4)) x pack --force over an existing container, killed"
i=0; while [ $i -lt $((N / 4)) ]; do round force; i=$((i + 1)); done
note "$((N / 2)) x unpack killed"
i=0; while [ $i -lt $((N / 2)) ]; do round unpack; i=$((i + 1)); done
note "$killed killed in flight, $done_ finished first, $temps_left temporaries left by SIGKILL (never under the final name)"
[ $killed -ge $((N / 2)) ] || fail "only $killed of the runs were killed in flight: delays too long"
finish
