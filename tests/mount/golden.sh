#!/bin/sh
# golden.sh - the golden corrupt containers (tests/golden, MANIFEST) through
# the mount: a container that cannot be opened is listed but gives EIO
# (and the log names it); one that opens is read 4 KiB block by block with
# its page cache dropped: blocks of damaged chunks give EIO, every other
# block the bytes of base.safetensors, and never a wrong byte; undamaged
# ones compare equal whole. The daemon must survive all of it.
. "$(dirname "$0")/common.sh"
need_fuse
need_python
GOLDEN=$WCODEC_SOURCE_ROOT/tests/golden
SRC=$TMP/src
MNT=$TMP/mnt
mkdir -p "$SRC"
cp "$GOLDEN"/*.wcodec "$SRC/"
ORIG=$GOLDEN/base.safetensors

mount_start "$SRC" "$MNT" || exit 1

n=0 eio=0 blocks=0
while read -r file a b c d; do
    case $file in *.wcodec) ;; *) continue ;; esac
    name=${file%.wcodec}.safetensors
    open=${a#open=}
    case "$b" in bad=*) badl=${b#bad=} ;; *) badl= ;; esac
    n=$((n + 1))
    if [ "$open" != OK ]; then
        out=$(cat "$MNT/$name" 2>&1 >"$TMP/sink") && { fail "$name: read succeeded"; continue; }
        case $out in *"Input/output error"*) eio=$((eio + 1)) ;;
        *) fail "$name: $out" ;; esac
        grep -q "$file" "$LOG" || fail "$file not named in the log"
        continue
    fi
    if ! $PY "$HERE/readcheck.py" blocks --block 4096 "$ORIG" "$MNT/$name" > "$TMP/blocks"; then
        fail "$name: wrong bytes or other errors: $(cat "$TMP/blocks")"
        continue
    fi
    blocks=$((blocks + 1))
    if [ -n "$badl" ]; then
        grep -q '^EIO' "$TMP/blocks" || fail "$name: damaged chunks ($badl) read without error"
        eio=$((eio + 1))
    else
        grep -q '^EIO' "$TMP/blocks" && fail "$name: EIO on an undamaged file: $(cat "$TMP/blocks")"
        cmp -s "$ORIG" "$MNT/$name" || fail "$name: differs from base.safetensors"
    fi
done < "$GOLDEN/MANIFEST"
note "$n containers: $eio gave EIO as expected, $blocks read block by block"
kill -0 "$MOUNT_PID" 2>>"$TMP/quiet" || fail "daemon died"
cmp -s "$ORIG" "$MNT/base.safetensors" || fail "base.safetensors differs at the end"

mount_stop "$MNT" "$MOUNT_PID"
finish
