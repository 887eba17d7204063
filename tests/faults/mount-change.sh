#!/bin/sh
# mount-change.sh - a container changed on disk while mounted (which the
# man page forbids, but disks and people do it): never wrong bytes.
#  - truncated in place: chunks decoded before (cached, verified when
#    decoded) may still be served; every new read of a chunk past the cut
#    is EIO;
#  - overwritten in place by another container, or by garbage: the
#    daemon's index is the old one, so what it serves is the old file or
#    EIO, never the new bytes under the old checksums;
#  - replaced by rename: the open container is the old file, still whole:
#    reads give the old bytes (or, once the kernel looks the name up
#    again, the new file's: whole blocks of one or the other);
# and a fresh mount afterwards serves what is on disk now.
. "$(dirname "$0")/../mount/common.sh"
need_fuse
need_python
FAULTS=0 WRONG=0
FR=$(dirname "$0")/faultread.py
SRC=$TMP/src
MNT=$TMP/mnt
mkdir -p "$SRC"
$PY "$GENMODEL" -q --size 16M --seed 51 "$TMP/a.safetensors" 2>>"$TMP/quiet" &&
$PY "$GENMODEL" -q --size 16M --seed 52 "$TMP/b.safetensors" 2>>"$TMP/quiet" ||
    { echo "wcodec-genmodel failed"; exit 1; }
"$WCODEC_PACK" -q "$TMP/a.safetensors" "$TMP/a.wcodec" &&
"$WCODEC_PACK" -q "$TMP/b.safetensors" "$TMP/b.wcodec" || { echo "pack failed"; exit 1; }
A=$TMP/a.safetensors
SZ=$(stat -c %s "$TMP/a.wcodec")

# blocks WHAT [--alt ALT]: read every 256 KiB block; no wrong bytes
blocks() {
    what=$1
    shift
    $PY "$FR" blocks "$@" "$A" "$MNT/t.safetensors" > "$TMP/out" 2>&1
    st=$?
    FAULTS=$((FAULTS + 1))
    if [ $st -ne 0 ]; then
        grep -q WRONG "$TMP/out" && WRONG=$((WRONG + 1))
        fail "$what: $(cat "$TMP/out")"
    fi
    note "$what: $(tail -n 1 "$TMP/out")"
}
warm() { head -c 4194304 "$MNT/t.safetensors" >"$TMP/sink"; }
errors() { awk '/^reads/ {print $8}' "$TMP/out"; }
oks() { awk '/^reads/ {print $4}' "$TMP/out"; }

note "truncated in place"
cp "$TMP/a.wcodec" "$SRC/t.wcodec"
# no read-ahead: exactly the chunks read before the cut are cached
mount_start "$SRC" "$MNT" -o cache_size=64M,readahead=0 || exit 1
warm
truncate -s $((SZ / 2)) "$SRC/t.wcodec"
blocks "truncated to half"
[ "$(errors)" -gt 0 ] || fail "truncated: no block failed"
[ "$(oks)" -gt 0 ] || fail "truncated: no block read (cached or before the cut)"
truncate -s 0 "$SRC/t.wcodec"
blocks "truncated to 0"
mount_stop "$MNT" "$MOUNT_PID"

note "overwritten in place by another container, then by garbage"
cp "$TMP/a.wcodec" "$SRC/t.wcodec"
mount_start "$SRC" "$MNT" -o cache_size=8M || exit 1
warm
cp "$TMP/b.wcodec" "$SRC/t.wcodec"   # O_TRUNC and write: same inode
blocks "overwritten by b.wcodec"
[ "$(errors)" -gt 0 ] || fail "overwritten: no block failed"
head -c "$SZ" /dev/urandom | dd of="$SRC/t.wcodec" conv=notrunc 2>>"$TMP/quiet"
blocks "overwritten by random bytes"
mount_stop "$MNT" "$MOUNT_PID"

note "replaced by rename"
cp "$TMP/a.wcodec" "$SRC/t.wcodec"
mount_start "$SRC" "$MNT" -o cache_size=8M || exit 1
warm
cp "$TMP/b.wcodec" "$SRC/t.new"
mv "$SRC/t.new" "$SRC/t.wcodec"
blocks "replaced by rename" --alt "$TMP/b.safetensors"
[ "$(errors)" -eq 0 ] || fail "replaced by rename: reads failed"
mount_stop "$MNT" "$MOUNT_PID"

note "a fresh mount serves what is on disk now"
mount_start "$SRC" "$MNT" || exit 1
cmp -s "$TMP/b.safetensors" "$MNT/t.safetensors" || { WRONG=$((WRONG + 1)); fail "fresh mount: not b"; }
mount_stop "$MNT" "$MOUNT_PID"
echo "-- faults injected: $FAULTS, wrong bytes observed: $WRONG"
finish
