#!/bin/sh
# full-disk.sh - wcodec-pack and wcodec-unpack onto a tmpfs too small for
# the output, at many sizes so the disk fills at different stages (first
# payload write, mid-payload, the index, the superblock, fsync): each run
# exits 1 with one line that names the output and says the disk is full,
# and leaves nothing behind (no output, no temporary); with room to spare
# the same run succeeds and is exact. A folder pack stopped by a full disk
# keeps the files it finished whole. Root only (mounts a tmpfs): skipped
# otherwise. (tests/nospace.sh covers the library calls at one size.)
. "$(dirname "$0")/common.sh"
need_python
need_root "mounts a tmpfs"
MNT=$T/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=64k,mode=0755 wcodec-faults "$MNT" 2>"$T/err" ||
    skip "cannot mount a tmpfs: $(cat "$T/err")"
cleanup_faults() { umount "$MNT" 2>>"$T/quiet"; rm -rf "$T"; }

gen "$T/a.safetensors" 6M 31
"$WCODEC_PACK" -q "$T/a.safetensors" "$T/a.wcodec" || { echo "pack failed"; exit 1; }
A=$(stat -c %s "$T/a.safetensors")
W=$(stat -c %s "$T/a.wcodec")
note "model $A bytes, container $W bytes"

# resize KB: the tmpfs emptied and resized to KB KiB (at least 4)
resize() {
    rm -rf "$MNT"/* "$MNT"/.[!.]* 2>>"$T/quiet"
    mount -o remount,size="$1"k "$MNT" || { echo "remount failed"; exit 1; }
}

# attempt WHAT OUTNAME ORIG CMD...: run CMD writing MNT/OUTNAME
attempt() {
    what=$1 out=$2 orig=$3
    shift 3
    "$@" 2>"$T/err" >>"$T/quiet"
    st=$?
    FAULTS=$((FAULTS + 1))
    if [ $st -eq 0 ]; then
        ok_runs=$((ok_runs + 1))
        case $out in
        *.wcodec) "$WCODEC_UNPACK" -q "$MNT/$out" "$T/c.safetensors" &&
                      cmp -s "$T/c.safetensors" "$orig" ;;
        *) cmp -s "$MNT/$out" "$orig" ;;
        esac || { WRONG=$((WRONG + 1)); fail "$what: succeeded with wrong output"; }
        rm -f "$T/c.safetensors"
        return
    fi
    full_runs=$((full_runs + 1))
    [ $st -eq 1 ] || fail "$what: exit $st, expected 1"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$what: not one line: $(cat "$T/err")"
    grep -q "$out" "$T/err" || fail "$what: message does not name $out: $(cat "$T/err")"
    grep -qi "disk full\|no space" "$T/err" || fail "$what: message does not say the disk is full: $(cat "$T/err")"
    left=$(ls -A "$MNT")
    [ -z "$left" ] || fail "$what: left behind: $left"
}

ok_runs=0 full_runs=0
for pct in 1 10 25 50 75 90 95 99 100 101 110; do
    kb=$((W * pct / 100 / 1024))
    [ $kb -ge 4 ] || kb=4
    resize $kb
    attempt "pack into ${kb}k ($pct% of the container)" a.wcodec "$T/a.safetensors" \
        "$WCODEC_PACK" -q "$T/a.safetensors" "$MNT/a.wcodec"
    kb=$((A * pct / 100 / 1024))
    [ $kb -ge 4 ] || kb=4
    resize $kb
    attempt "unpack into ${kb}k ($pct% of the file)" a.safetensors "$T/a.safetensors" \
        "$WCODEC_UNPACK" -q "$T/a.wcodec" "$MNT/a.safetensors"
done
# plenty of room: must succeed
resize $((A * 3 / 1024))
attempt "pack with room" a.wcodec "$T/a.safetensors" "$WCODEC_PACK" -q "$T/a.safetensors" "$MNT/a.wcodec"
attempt "unpack with room" a.safetensors "$T/a.safetensors" "$WCODEC_UNPACK" -q "$T/a.wcodec" "$MNT/a.safetensors"
[ -s "$MNT/a.wcodec" ] && [ -s "$MNT/a.safetensors" ] || fail "runs with room did not write"

# folder: room for one shard only (shards may be packed in parallel: one
# of them meets the full disk; what was finished is whole, the rest absent)
mkdir -p "$T/model"
cp "$T/a.safetensors" "$T/model/model-00001-of-00002.safetensors"
cp "$T/a.safetensors" "$T/model/model-00002-of-00002.safetensors"
resize $((W * 3 / 2 / 1024))
"$WCODEC_PACK" -q "$T/model" "$MNT/m" 2>"$T/err"
st=$?
FAULTS=$((FAULTS + 1))
[ $st -eq 1 ] || fail "folder pack onto a full disk: exit $st"
grep -qi "model-0000[12]-of-00002.wcodec.*disk full" "$T/err" ||
    fail "folder pack: no message naming a shard and the full disk: $(cat "$T/err")"
[ -z "$(find "$MNT" -name '.*tmp*')" ] || fail "folder pack left temporaries"
whole=0
for w in "$MNT"/m/*.wcodec; do
    [ -e "$w" ] || continue
    "$WCODEC_UNPACK" -q "$w" "$T/c.safetensors" &&
        cmp -s "$T/c.safetensors" "$T/a.safetensors" ||
        { WRONG=$((WRONG + 1)); fail "folder pack: $(basename "$w") is not whole"; }
    rm -f "$T/c.safetensors"
    whole=$((whole + 1))
done
[ $whole -le 1 ] || fail "folder pack: both shards written into room for one"

note "$full_runs runs hit a full disk, $ok_runs had room"
[ $full_runs -ge 16 ] || fail "only $full_runs runs hit the full disk"
finish
