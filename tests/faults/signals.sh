#!/bin/sh
# signals.sh - SIGINT, SIGTERM and SIGHUP to wcodec-pack and wcodec-unpack
# at random moments: the tool exits 128+signal and removes its temporary
# (no output, no .NAME.tmpXXXXXX left), or it had finished (exit 0, output
# whole). Also in folder mode, where the folder stays DST.partial (files
# already finished in it whole) and DST appears only complete.
. "$(dirname "$0")/common.sh"
need_python
R=${SIGNAL_ROUNDS:-5}
gen "$T/a.safetensors" 64M 21
t0=$(now_ms)
"$WCODEC_PACK" -q "$T/a.safetensors" "$T/a.wcodec" || { echo "pack failed"; exit 1; }
P=$(($(now_ms) - t0))
t0=$(now_ms)
"$WCODEC_UNPACK" -q "$T/a.wcodec" "$T/a2.safetensors" || { echo "unpack failed"; exit 1; }
U=$(($(now_ms) - t0))
rm -f "$T/a2.safetensors"
mkdir -p "$T/model"
gen "$T/model/model-00001-of-00002.safetensors" 24M 22
gen "$T/model/model-00002-of-00002.safetensors" 24M 23
echo '{"x": 1}' > "$T/model/config.json"
note "pack $P ms, unpack $U ms"

# A signal that lands after the output was renamed into place (while the
# tool exits) stops it with 128+sig although the output is whole: allowed,
# counted as "late". What must never be is a partial output or a temporary.
stopped=0 finished=0 late=0
round() { # round TOOL SIG
    tool=$1 sig=$2
    rm -rf "$T/out"
    mkdir "$T/out"
    case $tool in
    pack)   rand d $((P + 1))
            "$WCODEC_PACK" -q "$T/a.safetensors" "$T/out/a.wcodec" 2>>"$T/quiet" &
            out=a.wcodec ;;
    unpack) rand d $((U + 1))
            "$WCODEC_UNPACK" -q "$T/a.wcodec" "$T/out/a.safetensors" 2>>"$T/quiet" &
            out=a.safetensors ;;
    folder) rand d $((P + 1))
            "$WCODEC_PACK" -q "$T/model" "$T/out/m" 2>>"$T/quiet" &
            out=m ;;
    esac
    pid=$!
    sleep_ms "$d"
    kill -"$sig" $pid 2>>"$T/quiet"
    wait $pid 2>>"$T/quiet"
    st=$?
    FAULTS=$((FAULTS + 1))
    what="$tool, SIG$sig after $d ms"
    left=$(find "$T/out" -name '.*.tmp*')
    [ -z "$left" ] || fail "$what: temporaries left: $left"
    if [ $st -eq 0 ]; then
        finished=$((finished + 1))
    else
        stopped=$((stopped + 1))
        case $sig in HUP) want=129 ;; INT) want=130 ;; TERM) want=143 ;; esac
        [ $st -eq $want ] || fail "$what: exit status $st, expected $want"
    fi
    case $tool in
    pack)
        if [ -e "$T/out/a.wcodec" ]; then
            [ $st -eq 0 ] || late=$((late + 1))
            "$WCODEC_UNPACK" -q "$T/out/a.wcodec" "$T/out/c.safetensors" &&
                cmp -s "$T/out/c.safetensors" "$T/a.safetensors" ||
                { WRONG=$((WRONG + 1)); fail "$what: a.wcodec not whole"; }
        fi ;;
    unpack)
        if [ -e "$T/out/a.safetensors" ]; then
            [ $st -eq 0 ] || late=$((late + 1))
            cmp -s "$T/out/a.safetensors" "$T/a.safetensors" ||
                { WRONG=$((WRONG + 1)); fail "$what: output not whole"; }
        fi ;;
    folder)
        # the folder is built as m.partial: m exists only once complete
        if [ -e "$T/out/m" ]; then
            [ $st -eq 0 ] || late=$((late + 1))
            [ -e "$T/out/m.partial" ] && fail "$what: both m and m.partial"
            [ -e "$T/out/m/.wcodec-partial" ] && fail "$what: m holds the manifest"
            for n in model-00001-of-00002 model-00002-of-00002; do
                [ -f "$T/out/m/$n.wcodec" ] || fail "$what: m lacks $n.wcodec"
            done
        elif [ $st -eq 0 ]; then
            fail "$what: exit 0 but no m"
        fi
        # every .wcodec that exists is whole
        for w in "$T"/out/m/*.wcodec "$T"/out/m.partial/*.wcodec; do
            [ -e "$w" ] || continue
            n=$(basename "$w" .wcodec)
            "$WCODEC_UNPACK" -q "$w" "$T/out/c.safetensors" &&
                cmp -s "$T/out/c.safetensors" "$T/model/$n.safetensors" ||
                { WRONG=$((WRONG + 1)); fail "$what: $n.wcodec not whole"; }
            rm -f "$T/out/c.safetensors"
        done ;;
    esac
}

for sig in INT TERM HUP; do
    note "SIG$sig: $R x pack, $R x unpack, $R x folder pack"
    i=0
    while [ $i -lt "$R" ]; do
        round pack $sig
        round unpack $sig
        round folder $sig
        i=$((i + 1))
    done
done
note "$stopped stopped by the signal ($late of them after the output was complete), $finished finished first"
[ $stopped -ge $((R * 9 / 2)) ] || fail "too few runs were stopped in flight"
finish
