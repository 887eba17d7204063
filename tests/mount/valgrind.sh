#!/bin/sh
# valgrind.sh - one mount's whole life under valgrind: listing, stat, whole
# and random reads, mmap, concurrent readers, a corrupt chunk (EIO path), a
# container that cannot be opened, forgets (drop_caches when root), then
# unmount. Fails on any memory error or definite/indirect leak.
. "$(dirname "$0")/common.sh"
need_fuse
need_python
[ -n "$(command -v valgrind)" ] || skip "valgrind is not installed"

SRC=$TMP/orig
PK=$TMP/packed
MNT=$TMP/mnt
VG=$TMP/valgrind.log
mkdir -p "$SRC" "$PK/bad"
$PY "$GENMODEL" -q --shards 2 --seed 3 "$SRC/model" || { echo "wcodec-genmodel failed"; exit 1; }
"$WCODEC_PACK" -q "$SRC/model" "$PK/model" || { echo "pack failed"; exit 1; }
shard=$(cd "$SRC/model" && ls model-*.safetensors | head -n 1)
W=$PK/model/${shard%.safetensors}.wcodec
cp "$W" "$PK/bad/model.wcodec"
size=$(stat -c %s "$W")
$PY - "$PK/bad/model.wcodec" $((size / 2)) <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x5A]))
EOF
echo "not a container" > "$PK/bad/junk.wcodec"

MOUNT_WRAP="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
--log-file=$VG"
mount_start "$PK" "$MNT" -o cache_size=2M || { cat "$VG"; exit 1; }

# Exit status 1: junk.safetensors cannot be looked up (EIO), by design.
ls -lR "$MNT" > "$TMP/ls" 2>&1
grep -q "junk.safetensors.*Input/output error" "$TMP/ls" || fail "ls -lR: $(cat "$TMP/ls")"
grep -q " model.safetensors.index.json" "$TMP/ls" || fail "ls -lR lacks the index"
for f in $(cd "$SRC/model" && find . -type f | sort); do
    cmp "$SRC/model/$f" "$MNT/model/$f" || fail "model/$f differs"
done
$PY "$HERE/readcheck.py" random --count 40 "$SRC/model/$shard" "$MNT/model/$shard" ||
    fail "random reads"
$PY "$HERE/readcheck.py" mmap "$SRC/model/$shard" "$MNT/model/$shard" || fail "mmap"
$PY "$HERE/readcheck.py" concurrent --readers 4 "$SRC/model/$shard" "$MNT/model/$shard" ||
    fail "concurrent readers"
$PY "$WCODEC_SOURCE_ROOT/scripts/readall" "$MNT/bad/model.safetensors" 2>>"$TMP/quiet" && fail "corrupt read succeeded"
stat "$MNT/bad/junk.safetensors" >>"$TMP/quiet" 2>&1 && fail "junk container stat succeeded"
# Make the kernel forget inodes (containers get closed) while mounted.
[ -w /proc/sys/vm/drop_caches ] && sync && echo 2 > /proc/sys/vm/drop_caches
cmp "$SRC/model/$shard" "$MNT/model/$shard" || fail "read after forgets"

mount_stop "$MNT" "$MOUNT_PID"
if [ -s "$VG" ]; then
    fail "valgrind reported:"
    cat "$VG"
fi
finish
