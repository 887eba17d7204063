#!/bin/sh
# read.sh - mount packed folders and read them back: every file byte for
# byte (cmp), the listing and sizes, random preads, mmap (MAP_PRIVATE and
# MAP_SHARED), 8 concurrent readers (with a roomy and a tiny cache), name
# rules (a container hides a plain file of its name; links and subfolders
# pass through), stable inode numbers, and EROFS for every kind of write.
. "$(dirname "$0")/common.sh"
need_fuse
need_python

SRC=$TMP/orig
PK=$TMP/packed
MNT=$TMP/mnt
mkdir -p "$SRC" "$PK"

note "generating a sharded model"
$PY "$GENMODEL" -q --size 24M --shards 3 --all-dtypes --seed 1 "$SRC/model" ||
    { echo "wcodec-genmodel failed"; exit 1; }
"$WCODEC_PACK" -q "$SRC/model" "$PK/model" || { echo "pack failed"; exit 1; }
if [ -d "$CORPUS" ]; then
    note "corpus: $CORPUS"
    cp -r "$CORPUS" "$SRC/corpus"
    "$WCODEC_PACK" -q "$SRC/corpus" "$PK/corpus" || { echo "pack failed"; exit 1; }
else
    note "no corpus at $CORPUS: generated model only"
fi

# Name rules, in a folder of their own (so the others compare as trees).
mkdir -p "$SRC/extras/sub" "$PK/extras/sub"
shard=$(cd "$SRC/model" && ls model-*.safetensors | head -n 1)
cp "$SRC/model/$shard" "$SRC/extras/a.safetensors"
cp "$PK/model/${shard%.safetensors}.wcodec" "$PK/extras/a.wcodec"
echo "plain file hidden by a.wcodec" > "$PK/extras/a.safetensors"
cp "$PK/model/${shard%.safetensors}.wcodec" "$PK/extras/sub/deep.wcodec"
ln -s ../model/config.json "$PK/extras/config-link.json"

mount_start "$PK" "$MNT" || exit 1

note "trees: names, kinds and sizes"
for d in model corpus; do
    [ -d "$SRC/$d" ] || continue
    (cd "$SRC/$d" && find . -printf '%y %s %p\n' | sort) > "$TMP/want.$d"
    (cd "$MNT/$d" && find . -printf '%y %s %p\n' | sort) > "$TMP/got.$d"
    # Folder sizes are whatever the file systems say: compare files only.
    grep -v '^d' "$TMP/want.$d" > "$TMP/want.f"; grep -v '^d' "$TMP/got.$d" > "$TMP/got.f"
    cmp -s "$TMP/want.f" "$TMP/got.f" || { fail "$d: listing differs"; diff "$TMP/want.f" "$TMP/got.f" | head; }
done

note "every file byte for byte"
n=0
for d in model corpus; do
    [ -d "$SRC/$d" ] || continue
    for f in $(cd "$SRC/$d" && find . -type f | sort); do
        cmp "$SRC/$d/$f" "$MNT/$d/$f" || fail "$d/$f differs"
        n=$((n + 1))
    done
done
note "$n files compared"

note "name rules"
ls "$MNT/extras" | sort | tr '\n' ' ' > "$TMP/ls"
[ "$(cat "$TMP/ls")" = "a.safetensors config-link.json sub " ] ||
    fail "extras listing: $(cat "$TMP/ls")"
cmp "$SRC/extras/a.safetensors" "$MNT/extras/a.safetensors" ||
    fail "the container does not win over the plain file of its name"
cmp "$SRC/model/$shard" "$MNT/extras/sub/deep.safetensors" || fail "nested container"
[ "$(readlink "$MNT/extras/config-link.json")" = ../model/config.json ] ||
    fail "symlink target"
cmp "$SRC/model/config.json" "$MNT/extras/config-link.json" || fail "through the link"
[ -e "$MNT/extras/a.wcodec" ] && fail "a.wcodec visible under its own name"
[ -e "$MNT/extras/nothing.safetensors" ] && fail "a missing name exists"
i1=$(stat -c %i "$PK/extras/a.wcodec")
i2=$(stat -c %i "$MNT/extras/a.safetensors")
[ "$i1" = "$i2" ] || fail "inode number $i2 is not the container's $i1"
i3=$(stat -c %i "$MNT/model/config.json")
[ "$i3" = "$(stat -c %i "$PK/model/config.json")" ] || fail "inode of a plain file"

note "writes fail with EROFS"
for cmd in "touch $MNT/new" "mkdir $MNT/newdir" "rm -f $MNT/model/config.json" \
           "mv $MNT/model/config.json $MNT/model/c2.json" \
           "ln -s x $MNT/newlink" "chmod 600 $MNT/model/config.json" \
           "truncate -s 0 $MNT/extras/a.safetensors"; do
    out=$($cmd 2>&1) && fail "'$cmd' succeeded"
    case $out in *"Read-only file system"*) ;; *) fail "'$cmd': $out" ;; esac
done
(echo x >> "$MNT/model/config.json") 2>>"$TMP/quiet" && fail "append succeeded"
$PY -c "import os,sys; os.open(sys.argv[1], os.O_RDWR)" "$MNT/extras/a.safetensors" \
    2>>"$TMP/quiet" && fail "O_RDWR open succeeded"

pairs=""
for f in $(cd "$SRC" && find model corpus -name '*.safetensors' -size +1M 2>>"$TMP/quiet" | sort); do
    pairs="$pairs $SRC/$f $MNT/$f"
done

note "random preads"
for f in $(cd "$SRC" && find model corpus -name '*.safetensors' 2>>"$TMP/quiet" | sort | head -n 6); do
    $PY "$HERE/readcheck.py" random --count 150 "$SRC/$f" "$MNT/$f" || fail "random reads of $f"
done

note "mmap, MAP_PRIVATE and MAP_SHARED"
for f in model/$shard $(cd "$SRC" && find corpus -name '*.bf16.safetensors' 2>>"$TMP/quiet" | head -n 1); do
    $PY "$HERE/readcheck.py" mmap "$SRC/$f" "$MNT/$f" || fail "mmap of $f"
done

note "8 concurrent readers"
# shellcheck disable=SC2086
$PY "$HERE/readcheck.py" concurrent --readers 8 $pairs || fail "concurrent readers"
mount_stop "$MNT" "$MOUNT_PID"

note "8 concurrent readers of one file, 2M cache, no prefetch threads"
mount_start "$PK" "$MNT" -o cache_size=2M,prefetch_threads=0 || exit 1
$PY "$HERE/readcheck.py" concurrent --readers 8 "$SRC/model/$shard" "$MNT/model/$shard" ||
    fail "concurrent readers, tiny cache"
note "8 concurrent readers of all files, 2M cache"
mount_stop "$MNT" "$MOUNT_PID"
mount_start "$PK" "$MNT" -o cache_size=2M,readahead=1M || exit 1
# shellcheck disable=SC2086
$PY "$HERE/readcheck.py" concurrent --readers 8 $pairs || fail "concurrent readers, tiny cache"
mount_stop "$MNT" "$MOUNT_PID"

# every_container LABEL: every container of model and corpus byte for byte
# through $MNT, then 8 concurrent readers.
every_container() {
    for f in $(cd "$SRC" && find model corpus -name '*.safetensors' 2>>"$TMP/quiet" | sort); do
        cmp "$SRC/$f" "$MNT/$f" || fail "$1: $f differs"
    done
    # shellcheck disable=SC2086
    $PY "$HERE/readcheck.py" concurrent --readers 8 $pairs || fail "$1: concurrent readers"
}

# Linux 6.6 lets a daemon allow shared mmap of FOPEN_DIRECT_IO files
# (FUSE_DIRECT_IO_ALLOW_MMAP), which wcodec-mount asks for; before it the
# kernel refuses such a mapping with ENODEV, the documented limit.
if kernel_at_least 6 6; then
    note "direct_io: every container byte for byte, 8 readers, random preads, mmap (Linux $(uname -r))"
else
    note "direct_io: every container byte for byte, 8 readers, random preads; shared mmap refused (Linux $(uname -r), before 6.6)"
fi
mount_start "$PK" "$MNT" -o direct_io || exit 1
every_container direct_io
$PY "$HERE/readcheck.py" random --count 150 "$SRC/model/$shard" "$MNT/model/$shard" ||
    fail "direct_io: random reads"
if kernel_at_least 6 6; then
    # private and shared maps, every page; then read() again: the mapping
    # puts the file in the page cache, reads still come from the daemon
    for f in "model/$shard" corpus/TinyPeLLM_tinypellm_model.bf16.safetensors; do
        [ -f "$SRC/$f" ] || continue
        $PY "$HERE/readcheck.py" mmap "$SRC/$f" "$MNT/$f" || fail "direct_io: mmap of $f"
        cmp "$SRC/$f" "$MNT/$f" || fail "direct_io: read of $f after mmap differs"
    done
else
    $PY -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
except OSError as e:
    sys.exit(0 if e.errno == 19 else 1)
sys.exit(2)' "$MNT/model/$shard"
    case $? in
    0) ;;
    2) fail "direct_io: a kernel before 6.6 maps the file" ;;
    *) fail "direct_io: mmap failed, but not with ENODEV" ;;
    esac
fi
mount_stop "$MNT" "$MOUNT_PID"

note "source_io=buffered: every container byte for byte, 8 readers"
mount_start "$PK" "$MNT" -o source_io=buffered || exit 1
every_container buffered
mount_stop "$MNT" "$MOUNT_PID"

finish
