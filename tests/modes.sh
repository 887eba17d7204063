#!/bin/sh
# modes.sh - modes are kept, never widened (issue 15): a 0600 source gives
# a 0600 container and wcodec-unpack a 0600 file (the container's bits);
# other bits likewise, whatever the umask; modification times go along. In
# folder mode the folders and the copied files keep theirs too. (The mount
# side, 0600 -> 0400, is in tests/mount/mountpoint.sh.)
#
# usage: modes.sh WCODEC_PACK WCODEC_UNPACK SOURCE_ROOT
set -u
PACK=$1
UNPACK=$2
SRCROOT=$3
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/wcodec-modes.XXXXXX")
trap 'chmod -R u+rwx "$T"; rm -rf "$T"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "-- $*"; }
mode() { stat -c %a "$1"; }
mtime() { stat -c %y "$1"; }

[ -x $PY ] && $PY -c 'import numpy' 2>"$T/py.err" ||
    { echo "SKIP: $PY with numpy is needed (wcodec-genmodel)"; exit 77; }
GEN=$SRCROOT/scripts/wcodec-genmodel
$PY "$GEN" -q --size 2M --seed 6 "$T/m.safetensors" || { echo "wcodec-genmodel failed"; exit 1; }
touch -d '2024-01-02 03:04:05.123456789' "$T/m.safetensors"

umask 022
for m in 600 640 400; do
    note "a $m source, umask 022"
    chmod $m "$T/m.safetensors"
    rm -f "$T/m.wcodec" "$T/u.safetensors"
    "$PACK" -q "$T/m.safetensors" "$T/m.wcodec" || { fail "pack"; continue; }
    [ "$(mode "$T/m.wcodec")" = $m ] || fail "$m source: container is $(mode "$T/m.wcodec")"
    [ "$(mtime "$T/m.wcodec")" = "$(mtime "$T/m.safetensors")" ] ||
        fail "$m source: container mtime $(mtime "$T/m.wcodec")"
    "$UNPACK" -q "$T/m.wcodec" "$T/u.safetensors" || { fail "unpack"; continue; }
    [ "$(mode "$T/u.safetensors")" = $m ] || fail "$m container: unpacked file is $(mode "$T/u.safetensors")"
    [ "$(mtime "$T/u.safetensors")" = "$(mtime "$T/m.safetensors")" ] ||
        fail "$m container: unpacked mtime $(mtime "$T/u.safetensors")"
    cmp -s "$T/m.safetensors" "$T/u.safetensors" || fail "round trip differs"
done

note "unpack gives the container's bits (0604 container)"
chmod 604 "$T/m.wcodec"
rm -f "$T/u.safetensors"
"$UNPACK" -q "$T/m.wcodec" "$T/u.safetensors" || fail "unpack"
[ "$(mode "$T/u.safetensors")" = 604 ] || fail "0604 container: unpacked file is $(mode "$T/u.safetensors")"

note "umask 077 does not narrow a 0644 source either (the source's bits)"
chmod 644 "$T/m.safetensors"
rm -f "$T/m.wcodec" "$T/u.safetensors"
( umask 077; "$PACK" -q "$T/m.safetensors" "$T/m.wcodec" ) || fail "pack"
[ "$(mode "$T/m.wcodec")" = 644 ] || fail "umask 077: container is $(mode "$T/m.wcodec")"

note "-f over an existing container gives the source's bits, not the old file's"
chmod 600 "$T/m.safetensors"
chmod 666 "$T/m.wcodec"
"$PACK" -q -f "$T/m.safetensors" "$T/m.wcodec" || fail "pack -f"
[ "$(mode "$T/m.wcodec")" = 600 ] || fail "pack -f: container is $(mode "$T/m.wcodec")"

note "folder mode: folders, containers and copied files keep their bits"
mkdir -p "$T/model/sub"
cp "$T/m.safetensors" "$T/model/a.safetensors"
cp "$T/m.safetensors" "$T/model/sub/b.safetensors"
echo '{}' > "$T/model/config.json"
echo secret > "$T/model/sub/notes.txt"
chmod 600 "$T/model/a.safetensors"
chmod 640 "$T/model/sub/b.safetensors"
chmod 644 "$T/model/config.json"
chmod 600 "$T/model/sub/notes.txt"
chmod 700 "$T/model/sub"
chmod 750 "$T/model"
"$PACK" -q "$T/model" "$T/packed" || fail "folder pack"
"$UNPACK" -q "$T/packed" "$T/unpacked" || fail "folder unpack"
for p in "" /sub /config.json /sub/notes.txt; do
    want=$(mode "$T/model$p")
    [ "$(mode "$T/packed$p")" = "$want" ] || fail "packed$p is $(mode "$T/packed$p"), want $want"
    [ "$(mode "$T/unpacked$p")" = "$want" ] || fail "unpacked$p is $(mode "$T/unpacked$p"), want $want"
done
for n in a sub/b; do
    want=$(mode "$T/model/$n.safetensors")
    [ "$(mode "$T/packed/$n.wcodec")" = "$want" ] || fail "packed/$n.wcodec is $(mode "$T/packed/$n.wcodec"), want $want"
    [ "$(mode "$T/unpacked/$n.safetensors")" = "$want" ] || fail "unpacked/$n.safetensors is $(mode "$T/unpacked/$n.safetensors"), want $want"
    [ "$(mtime "$T/unpacked/$n.safetensors")" = "$(mtime "$T/model/$n.safetensors")" ] ||
        fail "unpacked/$n.safetensors: mtime not kept"
done
diff -r "$T/model" "$T/unpacked" > "$T/diff" || fail "folder round trip differs: $(cat "$T/diff")"

note "a read-only source folder (0555) packs, and the packed one is 0555"
chmod 555 "$T/model/sub"
"$PACK" -q "$T/model" "$T/packed2" || fail "folder pack of a read-only subfolder"
[ "$(mode "$T/packed2/sub")" = 555 ] || fail "packed2/sub is $(mode "$T/packed2/sub")"
[ -f "$T/packed2/sub/b.wcodec" ] || fail "packed2/sub/b.wcodec missing"

if [ $FAILED -ne 0 ]; then
    echo FAILED
    exit 1
fi
echo ok
