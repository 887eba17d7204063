#!/bin/sh
# mount-kill.sh - wcodec-mount killed with SIGKILL while readers are busy:
# the readers get errors (never wrong bytes), the dead mount stays listed
# until `fusermount3 -u` clears it, and a new daemon on the same mount
# point serves the file correctly. Repeated at random moments.
. "$(dirname "$0")/../mount/common.sh"
need_fuse
need_python
FAULTS=0 WRONG=0
ROUNDS=${KILL_ROUNDS:-3}
SEED=${FAULTS_SEED:-$$}
echo "-- FAULTS_SEED=$SEED"
SRC=$TMP/orig
PK=$TMP/packed
MNT=$TMP/mnt
mkdir -p "$SRC" "$PK"
$PY "$GENMODEL" -q --size 24M --seed 41 "$SRC/a.safetensors" 2>>"$TMP/quiet" ||
    { echo "wcodec-genmodel failed"; exit 1; }
"$WCODEC_PACK" -q "$SRC/a.safetensors" "$PK/a.wcodec" || { echo "pack failed"; exit 1; }
O=$SRC/a.safetensors
FR=$(dirname "$0")/faultread.py

r=0
while [ $r -lt "$ROUNDS" ]; do
    r=$((r + 1))
    mount_start "$PK" "$MNT" -o cache_size=16M || exit 1
    # four readers, random and sequential, until the daemon dies
    i=0 rp=""
    while [ $i -lt 4 ]; do
        $PY "$FR" random --seconds 60 --seed $((SEED + r * 10 + i)) \
            "$O" "$MNT/a.safetensors" > "$TMP/reader.$i" 2>&1 &
        rp="$rp $!"
        i=$((i + 1))
    done
    d=$(awk -v s="$SEED" -v r="$r" 'BEGIN { srand(s + r); printf "%.2f", 0.3 + rand() * 1.5 }')
    sleep "$d"
    kill -KILL "$MOUNT_PID"
    wait "$MOUNT_PID" 2>>"$TMP/quiet"
    FAULTS=$((FAULTS + 1))
    for p in $rp; do
        wait "$p" 2>>"$TMP/quiet"
    done
    if grep -q 'WRONG' "$TMP"/reader.*; then
        WRONG=$((WRONG + 1))
        fail "round $r: a reader got wrong bytes: $(grep -h WRONG "$TMP"/reader.* | head -3)"
    fi
    grep -q "stopped by" "$TMP"/reader.* ||
        fail "round $r: no reader saw the daemon die"
    note "round $r: readers: $(grep -h '^reads' "$TMP"/reader.* | awk '{r+=$2; s+=$6} END {print r " reads, " s " short"}'), then $(grep -h 'stopped by' "$TMP"/reader.* | sort -u | tr '\n' ' ')"
    is_mounted "$MNT" || fail "round $r: the dead mount vanished by itself"
    out=$(ls "$MNT" 2>&1) && fail "round $r: the dead mount still answers: $out"
    fusermount3 -u "$MNT" || fail "round $r: fusermount3 -u did not clear the dead mount"
    is_mounted "$MNT" && { fail "round $r: still mounted"; fusermount3 -uz "$MNT"; }
    note "round $r: killed after ${d}s, cleared with fusermount3 -u"
    mount_start "$PK" "$MNT" || exit 1
    cmp "$O" "$MNT/a.safetensors" || { WRONG=$((WRONG + 1)); fail "round $r: new mount serves wrong bytes"; }
    mount_stop "$MNT" "$MOUNT_PID"
done
echo "-- faults injected: $FAULTS, wrong bytes observed: $WRONG"
finish
