#!/bin/sh
# corrupt.sh - damaged containers: a flipped byte inside one chunk's
# payload fails the reads that touch that chunk with EIO (logged with the
# file and chunk), and only those; containers that cannot be opened
# (truncated, not a container) are listed, give EIO and are logged; every
# other file stays readable.
. "$(dirname "$0")/common.sh"
need_fuse
need_python

SRC=$TMP/orig
PK=$TMP/packed
MNT=$TMP/mnt
mkdir -p "$SRC" "$PK/bad"
$PY "$GENMODEL" -q --size 6M --seed 2 "$SRC/model" || { echo "wcodec-genmodel failed"; exit 1; }
"$WCODEC_PACK" -q "$SRC/model" "$PK/model" || { echo "pack failed"; exit 1; }
W=$PK/model/model.wcodec
cp "$W" "$PK/bad/good.wcodec"
cp "$W" "$PK/bad/model.wcodec"
# Flip one byte in the middle: tensor payload (they start at byte 80).
size=$(stat -c %s "$W")
$PY - "$PK/bad/model.wcodec" $((size / 2)) <<'EOF'
import sys
path, pos = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(pos)
    b = f.read(1)
    f.seek(pos)
    f.write(bytes([b[0] ^ 0x5A]))
EOF
head -c $((size / 2)) "$W" > "$PK/bad/trunc.wcodec"
head -c 100000 /dev/urandom > "$PK/bad/junk.wcodec"
O=$SRC/model/model.safetensors

mount_start "$PK" "$MNT" || exit 1

note "listing"
got=$(ls "$MNT/bad" | tr '\n' ' ')
[ "$got" = "good.safetensors junk.safetensors model.safetensors trunc.safetensors " ] ||
    fail "listing: $got"

note "containers that cannot be opened"
for n in trunc junk; do
    out=$(cat "$MNT/bad/$n.safetensors" 2>&1 >"$TMP/sink") && fail "$n read"
    case $out in *"Input/output error"*) ;; *) fail "$n: $out" ;; esac
    grep -q "bad/$n.wcodec" "$LOG" || fail "$n not in the log"
done

note "a flipped byte: EIO, logged, and only there"
out=$(cat "$MNT/bad/model.safetensors" 2>&1 >"$TMP/sink") && fail "reading the damaged file succeeded"
case $out in *"Input/output error"*) ;; *) fail "damaged file: $out" ;; esac
grep -q "bad/model.wcodec.*chunk [0-9]" "$LOG" || fail "no log line naming the file and chunk"
$PY "$HERE/readcheck.py" blocks --block 65536 "$O" "$MNT/bad/model.safetensors" > "$TMP/blocks" ||
    fail "wrong bytes or other errors around the damage: $(cat "$TMP/blocks")"
cat "$TMP/blocks"
set -- $(grep '^EIO' "$TMP/blocks")
if [ $# -ne 4 ]; then
    fail "no block failed"
else
    # One chunk (256 KiB = 4 blocks), give or take a read-ahead neighbour.
    [ $(($3 - $2 + 1)) -eq "$4" ] || fail "failing blocks not contiguous"
    [ "$4" -le 8 ] || fail "$4 blocks failed: more than the damaged chunk"
fi

note "everything else still reads right"
cmp "$O" "$MNT/bad/good.safetensors" || fail "good copy"
cmp "$O" "$MNT/model/model.safetensors" || fail "model"
cmp "$SRC/model/config.json" "$MNT/model/config.json" || fail "config.json"
out=$(cat "$MNT/bad/model.safetensors" 2>&1 >"$TMP/sink") && fail "second read succeeded"

mount_stop "$MNT" "$MOUNT_PID"
finish
