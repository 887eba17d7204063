#!/bin/sh
# hub.sh - folder packs keep what a Hugging Face cache is made of, without
# PyTorch (tests/loader/hf.sh runs the real loaders):
#  - safetensors found by content under any name (blobs/HASH) become
#    containers under that name; look-alikes stay plain (a header with no
#    tensor, offsets past the end, JSON, a short file);
#  - symbolic links stay links with their target text (inside the tree, to
#    a folder, dangling, and leaving it: kept, and said once); -L follows;
#  - hard links are packed once and stay links (pack, mount, unpack);
#  - the mount shows such containers under their names, decoded, and the
#    links resolve to decoded bytes; unpack gives the tree back
#    (diff -r --no-dereference);
#  - a source file that is a container by content is refused; --delete
#    needs --update.
. "$(dirname "$0")/common.sh"
need_fuse
need_python

SRC=$TMP/src
PK=$TMP/packed
MNT=$TMP/mnt
R=$SRC/models--org--m
mkdir -p "$R/blobs" "$R/snapshots/r1/sub" "$R/refs" "$TMP/gen"
$PY "$GENMODEL" -q --preset tiny --shards 2 --seed 3 "$TMP/gen" || { echo "genmodel failed"; exit 1; }
s1=$(ls "$TMP/gen"/*.safetensors | head -n 1)
s2=$(ls "$TMP/gen"/*.safetensors | tail -n 1)
h1=$(sha256sum "$s1" | cut -c1-64) h2=$(sha256sum "$s2" | cut -c1-64)
cp "$s1" "$R/blobs/$h1"
cp "$s2" "$R/blobs/$h2"
cp "$TMP/gen/config.json" "$R/blobs/cfg0"
# Look-alikes: a metadata-only header, offsets past the end, too short.
$PY - "$R/blobs" <<'PYEOF'
import json, struct, sys
d = sys.argv[1]
def st(path, header, data=b""):
    h = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
st(d + "/meta0", {"__metadata__": {"format": "pt"}})
st(d + "/badoff", {"w": {"dtype": "U8", "shape": [64], "data_offsets": [0, 64]}}, b"x" * 10)
open(d + "/short", "wb").write(b"\x02\0\0\0\0\0\0\0{}")
PYEOF
ln "$R/blobs/$h2" "$R/hardlink-to-shard2"
ln "$R/blobs/cfg0" "$R/hardlink-to-cfg"
ln -s "../../blobs/$h1" "$R/snapshots/r1/model-1.safetensors"
ln -s "../../../blobs/$h2" "$R/snapshots/r1/sub/model-2.safetensors"
ln -s ../../blobs/cfg0 "$R/snapshots/r1/config.json"
ln -s ../../blobs/meta0 "$R/snapshots/r1/meta.safetensors"
ln -s r1 "$R/snapshots/latest"
ln -s ../../blobs/missing "$R/snapshots/r1/dangling"
ln -s /etc/hostname "$R/snapshots/r1/absolute"
ln -s ../../../../outside "$R/snapshots/r1/climbs-out"
printf r1 >"$R/refs/main"
cp "$s1" "$SRC/named.safetensors"

note "pack"
"$WCODEC_PACK" -q "$SRC" "$PK" 2>"$TMP/err" || fail "wcodec-pack: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "2 symbolic links point outside" "$TMP/err" ||
    fail "want one line about 2 links leaving SRC, got: $(cat "$TMP/err")"
is_wc() { head -c 8 "$1" | grep -q WCODEC; }
for b in "$h1" "$h2"; do is_wc "$PK/models--org--m/blobs/$b" || fail "blobs/$b is not a container"; done
for b in cfg0 meta0 badoff short; do
    cmp -s "$R/blobs/$b" "$PK/models--org--m/blobs/$b" || fail "blobs/$b should be copied as it is"
done
[ -f "$PK/named.wcodec" ] || fail "named.safetensors should become named.wcodec"
for l in $(cd "$SRC" && find . -type l); do
    [ -L "$PK/$l" ] && [ "$(readlink "$PK/$l")" = "$(readlink "$SRC/$l")" ] ||
        fail "$l: not the same symbolic link in the pack"
done
ino() { stat -c %i "$1"; }
[ "$(ino "$PK/models--org--m/hardlink-to-shard2")" = "$(ino "$PK/models--org--m/blobs/$h2")" ] ||
    fail "hard link to a shard: not one packed file"
[ "$(ino "$PK/models--org--m/hardlink-to-cfg")" = "$(ino "$PK/models--org--m/blobs/cfg0")" ] ||
    fail "hard link to a plain file: not one copy"
"${WCODEC_INFO:-$(dirname "$WCODEC_PACK")/wcodec-info}" "$PK/models--org--m/snapshots/r1/model-1.safetensors" >>"$TMP/quiet" 2>&1 ||
    fail "wcodec-info through the packed tree's link"

note "mount"
mount_start "$PK" "$MNT" || { fail "mount"; finish; }
M=$MNT/models--org--m
for b in "$h1" "$h2" cfg0 meta0 badoff short; do
    cmp -s "$R/blobs/$b" "$M/blobs/$b" || fail "blobs/$b differs through the mount"
    [ "$(stat -c %s "$M/blobs/$b")" = "$(stat -c %s "$R/blobs/$b")" ] || fail "blobs/$b: size"
done
for l in $(cd "$SRC" && find . -type l); do
    [ -L "$MNT/$l" ] && [ "$(readlink "$MNT/$l")" = "$(readlink "$SRC/$l")" ] ||
        fail "$l: not the same symbolic link through the mount"
done
cmp -s "$s1" "$M/snapshots/latest/model-1.safetensors" || fail "link to a folder, then to a blob"
cmp -s "$s2" "$M/snapshots/r1/sub/model-2.safetensors" || fail "link from a subfolder"
cmp -s "$s1" "$MNT/named.safetensors" || fail "named.safetensors through the mount"
[ "$(ino "$M/hardlink-to-shard2")" = "$(ino "$M/blobs/$h2")" ] || fail "hard link: two inodes through the mount"
[ "$(ls "$M/blobs" | wc -l)" -eq 6 ] || fail "blobs listing: $(ls "$M/blobs")"
mount_stop "$MNT" "$MOUNT_PID"

note "unpack"
"$WCODEC_UNPACK" -q "$PK" "$TMP/unpacked" || fail "wcodec-unpack"
diff -r --no-dereference "$SRC" "$TMP/unpacked" >"$TMP/diff" 2>&1 || fail "unpacked tree differs: $(head -n 5 "$TMP/diff")"
U=$TMP/unpacked/models--org--m
[ "$(ino "$U/hardlink-to-shard2")" = "$(ino "$U/blobs/$h2")" ] || fail "unpack: hard link lost"

note "-L follows links; a container in the source is refused"
mkdir -p "$TMP/s3"
ln -s "$s1" "$TMP/s3/shard"
"$WCODEC_PACK" -q -L "$TMP/s3" "$TMP/p3" 2>"$TMP/err" || fail "pack -L: $(cat "$TMP/err")"
is_wc "$TMP/p3/shard" && [ ! -L "$TMP/p3/shard" ] || fail "-L: the link's target should be packed"
[ -s "$TMP/err" ] && fail "-L: unexpected message: $(cat "$TMP/err")"
mkdir -p "$TMP/s4"
cp "$PK/named.wcodec" "$TMP/s4/blob"
"$WCODEC_PACK" -q "$TMP/s4" "$TMP/p4" 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "is a wcodec container already" "$TMP/err" ||
    fail "a container in the source: want exit 1 and a message, got: $(cat "$TMP/err")"
"$WCODEC_PACK" --delete "$SRC" "$TMP/p5" 2>>"$TMP/quiet"
[ $? -eq 2 ] || fail "--delete without --update: want exit 2"
finish
