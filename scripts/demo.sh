#!/bin/sh
# The whole product in one command: install dependencies, build, generate a
# sample Llama-shaped model, pack it, mount it, read it back through the
# mount (checking every byte), show sizes and read speed, unmount.
#   scripts/demo.sh [SIZE]     (default 512M of bf16 weights)
# Quiet apart from its own lines: the installer's and the build's output is
# shown only when they fail. WCODEC_BUILD names the build folder (default
# build); WCODEC_DEMO_DROP=0 keeps the page cache (no cold reads).
set -eu
cd "$(dirname "$0")/.."
SIZE=${1:-512M}
B=${WCODEC_BUILD:-build}

work=$(mktemp -d /tmp/wcodec-demo.XXXXXX)
mnt=$work/mnt
cleanup() {
    if grep -qs " $mnt " /proc/mounts; then fusermount3 -u "$mnt"; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# quietly CMD...: its output goes to a log, printed (to stderr) only when
# it fails: the installer keeps its errors, not its chatter.
quietly() {
    if ! "$@" > "$work/setup.log" 2>&1; then
        echo "demo: $* failed:" >&2
        cat "$work/setup.log" >&2
        exit 1
    fi
}
quietly scripts/install-deps.sh
[ -d "$B" ] || quietly meson setup "$B"
quietly ninja -C "$B"

echo "== generating a $SIZE bf16 Llama-shaped model (2 shards)"
/usr/bin/python3 scripts/wcodec-genmodel -q --size "$SIZE" --shards 2 --seed 7 "$work/model"
ls -l "$work/model"

echo "== packing"
"$B"/src/cli/wcodec-pack "$work/model" "$work/packed"
orig=$(du -sb "$work/model" | cut -f1)
packed=$(du -sb "$work/packed" | cut -f1)
echo "folder: $orig -> $packed bytes ($(echo "scale=2; 100 * $packed / $orig" | bc)%)"

rate() { # bytes seconds -> MiB/s
    echo "scale=0; $1 / 1048576 / $2" | bc
}
drop() {
    sync
    if [ "${WCODEC_DEMO_DROP:-1}" != 0 ] && [ "$(id -u)" -eq 0 ]; then
        echo 3 > /proc/sys/vm/drop_caches
    fi
}
# readall FILE: read it through (nothing is written anywhere)
readall() { /usr/bin/python3 scripts/readall "$1"; }

if [ ! -e /dev/fuse ] || [ ! -x "$B"/src/cli/wcodec-mount ]; then
    echo "== no /dev/fuse or no wcodec-mount: unpacking instead of mounting"
    "$B"/src/cli/wcodec-unpack "$work/packed" "$work/unpacked"
    diff -r "$work/model" "$work/unpacked" && echo "unpacked folder is identical"
    exit 0
fi

echo "== mounting $work/packed on $mnt"
mkdir "$mnt"
"$B"/src/cli/wcodec-mount "$work/packed" "$mnt"
for i in $(seq 50); do grep -qs " $mnt " /proc/mounts && break; sleep 0.1; done
ls -l "$mnt"

echo "== reading back through the mount (every byte compared)"
diff -r "$work/model" "$mnt" && echo "mounted folder is identical to the original"

for f in "$work"/model/*.safetensors; do
    b=$(basename "$f")
    drop
    t0=$(date +%s.%N); readall "$f"; t1=$(date +%s.%N)
    drop
    t2=$(date +%s.%N); readall "$mnt/$b"; t3=$(date +%s.%N)
    t4=$(date +%s.%N); readall "$mnt/$b"; t5=$(date +%s.%N)
    sz=$(stat -c %s "$f")
    echo "$b: plain file $(rate $sz "$(echo "$t1 - $t0" | bc)") MiB/s," \
         "mount cold $(rate $sz "$(echo "$t3 - $t2" | bc)") MiB/s," \
         "mount warm $(rate $sz "$(echo "$t5 - $t4" | bc)") MiB/s"
done
echo "== unmounting"
fusermount3 -u "$mnt"
echo "done"
