#!/bin/sh
# bench-mount.sh - wcodec-mount against squashfuse and the plain file, side
# by side in one run, on a generated bf16 model.
#
# Usage: scripts/bench-mount.sh [--size 2G] [--runs 3] [--work DIR]
#                               [--build DIR] [--cache-size 256M]
#                               [--block 1M] [--keep]
#
# Measures (median of --runs, GiB/s of presented bytes):
#   cold   sequential read, dd bs=1M, page cache dropped before each run
#   warm   the same read again, without dropping (page-cache speed)
#   4x     4 concurrent sequential readers, one quarter of the file each,
#          cold (aggregate rate)
#   and the daemon's CPU seconds for each cold read (steadier than rates
#   on a shared machine)
# for: the plain file, wcodec-mount, squashfuse_ll on a mksquashfs -comp
# zstd image of the same folder (block size --block), and reports the
# daemon's VmHWM against cache_size + 64 MiB. Needs root (drop_caches),
# /dev/fuse; squashfs rows are skipped without mksquashfs/squashfuse_ll.
# Everything is written under --work (default /tmp/wcodec-bench-mount):
# model, packed folder, image, mounts, results.txt. Nothing in the repo.
set -eu

SIZE=2G RUNS=3 WORK=/tmp/wcodec-bench-mount CACHE=256M BLOCK=1M KEEP=0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
while [ $# -gt 0 ]; do
    case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --cache-size) CACHE=$2; shift 2 ;;
    --block) BLOCK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-mount: unknown argument $1" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || { echo "bench-mount: needs root (drop_caches)" >&2; exit 1; }
[ -c /dev/fuse ] || { echo "bench-mount: no /dev/fuse" >&2; exit 1; }
MOUNT_BIN=$BUILD/src/cli/wcodec-mount
[ -x "$MOUNT_BIN" ] || { echo "bench-mount: build $MOUNT_BIN first" >&2; exit 1; }

mkdir -p "$WORK"
RES=$WORK/results.txt
: > "$RES"
say() { echo "$*" | tee -a "$RES"; }

MODEL=$WORK/model-$SIZE
PACKED=$WORK/packed-$SIZE
SQFS=$WORK/model-$SIZE-$BLOCK.sqfs
if [ ! -f "$MODEL/model.safetensors" ]; then
    say "generating a $SIZE bf16 model in $MODEL"
    /usr/bin/python3 "$ROOT/scripts/wcodec-genmodel" -q --force --size "$SIZE" \
        --seed 1 "$MODEL"
fi
if [ ! -f "$PACKED/model.wcodec" ]; then
    rm -rf "$PACKED"
    "$BUILD/src/cli/wcodec-pack" -q "$MODEL" "$PACKED"
fi
HAVE_SQ=0
if [ -n "$(command -v mksquashfs)" ] && [ -n "$(command -v squashfuse_ll)" ]; then
    HAVE_SQ=1
    [ -f "$SQFS" ] || mksquashfs "$MODEL" "$SQFS" -comp zstd -b "$BLOCK" \
        -noappend -quiet >"$WORK/mksquashfs.log"
fi

M_WC=$WORK/mnt-wcodec M_SQ=$WORK/mnt-squashfs
mkdir -p "$M_WC" "$M_SQ"
WC_PID="" SQ_PID=""
cleanup() {
    for m in "$M_WC" "$M_SQ"; do
        if grep -q " $m " /proc/mounts; then
            fusermount3 -u "$m" 2>>"$WORK/quiet" || fusermount3 -uz "$m" || true
        fi
    done
    [ -n "$WC_PID" ] && wait "$WC_PID" 2>>"$WORK/quiet" || true
    [ -n "$SQ_PID" ] && wait "$SQ_PID" 2>>"$WORK/quiet" || true
    if [ "$KEEP" = 0 ]; then rm -rf "$PACKED" "$SQFS"; fi
}
trap cleanup EXIT INT TERM

fifo=$WORK/notify
rm -f "$fifo"
mkfifo "$fifo"
"$MOUNT_BIN" -f -o cache_size="$CACHE" --notify-fd=3 "$PACKED" "$M_WC" \
    3>"$fifo" 2>"$WORK/mount.log" &
WC_PID=$!
[ "$(head -c1 "$fifo")" = m ] || { echo "wcodec-mount failed:"; cat "$WORK/mount.log"; exit 1; }
rm -f "$fifo"
if [ $HAVE_SQ = 1 ]; then
    squashfuse_ll -f "$SQFS" "$M_SQ" &
    SQ_PID=$!
    for _ in $(seq 100); do grep -q " $M_SQ " /proc/mounts && break; sleep 0.1; done
fi

F=model.safetensors
BYTES=$(stat -c %s "$MODEL/$F")
cmp "$MODEL/$F" "$M_WC/$F" || { echo "wcodec-mount: content differs"; exit 1; }

now() { date +%s.%N; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
rate() { awk -v b="$BYTES" -v t0="$1" -v t1="$2" 'BEGIN { printf "%.2f", b / (t1 - t0) / 1073741824 }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# read_one FILE COLD: one sequential dd; prints GiB/s.
read_one() {
    [ "$2" = cold ] && drop
    t0=$(now); /usr/bin/python3 "$ROOT/scripts/readall" "$1"; t1=$(now)
    rate "$t0" "$t1"
}
# read_four FILE: 4 concurrent readers of one quarter each, cold.
read_four() {
    drop
    t0=$(now) pids=""
    for i in 0 1 2 3; do
        /usr/bin/python3 "$ROOT/scripts/readall" --part $i/4 "$1" &
        pids="$pids $!"
    done
    wait $pids
    t1=$(now)
    rate "$t0" "$t1"
}

# CPU seconds (user + system) a process has used so far.
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }

row() {  # row NAME FILE [DAEMON_PID]
    c="" w="" f="" cpu=""
    for _ in $(seq "$RUNS"); do
        [ -n "${3:-}" ] && c0=$(cpu_s "$3")
        c="$c $(read_one "$2" cold)"
        [ -n "${3:-}" ] && cpu="$cpu $(awk -v a="$c0" -v b="$(cpu_s "$3")" 'BEGIN { printf "%.2f", b - a }')"
        w="$w $(read_one "$2" warm)"
        f="$f $(read_four "$2")"
    done
    printf '%-14s %8s %8s %8s    (cold:%s | warm:%s | 4x:%s)\n' "$1" \
        "$(echo $c | median)" "$(echo $w | median)" "$(echo $f | median)" \
        "$c" "$w" "$f" | tee -a "$RES"
    [ -z "$cpu" ] || say "$(printf '%-14s daemon CPU per cold read, s:%s' "" "$cpu")"
}

psz=$(stat -c %s "$PACKED/model.wcodec")
say "model: $(awk -v b="$BYTES" 'BEGIN { printf "%.2f GiB", b / 1073741824 }') bf16," \
    "wcodec container $(awk -v a="$psz" -v b="$BYTES" 'BEGIN { printf "%.1f%%", 100 * a / b }')" \
    "of it$([ $HAVE_SQ = 1 ] && awk -v a="$(stat -c %s "$SQFS")" -v b="$BYTES" \
        'BEGIN { printf ", squashfs zstd %s image %.1f%%", "'"$BLOCK"'", 100 * a / b }')"
say "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); runs: $RUNS (median, GiB/s)"
say "$(printf '%-14s %8s %8s %8s' source cold warm 4x-cold)"
row plain "$MODEL/$F"
row wcodec-mount "$M_WC/$F" "$WC_PID"
[ $HAVE_SQ = 1 ] && row squashfuse_ll "$M_SQ/$F"

hwm=$(awk '/VmHWM/ { print $2 }' /proc/$WC_PID/status)
cache_kib=$(awk -v s="$CACHE" 'BEGIN { n = s + 0; u = substr(s, length(s));
    m = u == "G" ? 1048576 : u == "M" ? 1024 : u == "K" ? 1 : 1 / 1024; print int(n * m) }')
say "wcodec-mount VmHWM: $((hwm / 1024)) MiB (cache_size $CACHE + 64 MiB = $(( (cache_kib + 65536) / 1024 )) MiB)"
fusermount3 -u "$M_WC"
wait "$WC_PID" || true
WC_PID=""
tail -n 1 "$WORK/mount.log" | tee -a "$RES"
echo "results in $RES"
