#!/bin/sh
# stress.sh - load: 16 threads of random and sequential reads over several
# files through one mount whose cache (-o cache_size=8M) is far smaller
# than the working set, page cache dropped now and then so reads reach
# the daemon; every byte is compared with the original, and the daemon's
# VmRSS, sampled every 0.1 s, must stay under a bound all along:
#   RSS at mount + cache_size + STRESS_RSS_SLACK (default 64 MiB: per-thread
#   decode scratch and FUSE buffers of up to 10 serving and 2 prefetch
#   threads, allocator slack).
# STRESS_SECONDS (default 20) and STRESS_THREADS (16) for longer runs by
# hand, e.g. STRESS_SECONDS=600.
. "$(dirname "$0")/common.sh"
need_fuse
need_python
SECS=${STRESS_SECONDS:-20}
THREADS=${STRESS_THREADS:-16}
SLACK=${STRESS_RSS_SLACK:-65536}
FR=$WCODEC_SOURCE_ROOT/tests/faults/faultread.py
SRC=$TMP/orig
PK=$TMP/packed
MNT=$TMP/mnt
mkdir -p "$SRC" "$PK"
gen() { $PY "$GENMODEL" -q "$@" 2>>"$TMP/quiet" || { echo "wcodec-genmodel failed"; exit 1; }; }
gen --size 24M --seed 61 "$SRC/a.safetensors"
gen --size 24M --seed 62 --dtype F32 "$SRC/b.safetensors"
gen --size 16M --seed 63 --dtype F8_E4M3 "$SRC/c.safetensors"
gen --size 8M --seed 64 --dtype F16 --all-dtypes "$SRC/d.safetensors"
for f in a b c d; do
    "$WCODEC_PACK" -q "$SRC/$f.safetensors" "$PK/$f.wcodec" || { echo "pack failed"; exit 1; }
done
total=$(cat "$SRC"/*.safetensors | wc -c)

mount_start "$PK" "$MNT" -o cache_size=8M || exit 1
$PY "$WCODEC_SOURCE_ROOT/scripts/readall" "$MNT/d.safetensors"
base=$(awk '/^VmRSS:/ {print $2}' "/proc/$MOUNT_PID/status")
limit=$((base + 8192 + SLACK))
note "$THREADS threads for $SECS s over $((total >> 20)) MiB in 4 files, cache 8 MiB; VmRSS $base kB at mount, limit $limit kB"
pairs=""
for f in a b c d; do pairs="$pairs $SRC/$f.safetensors $MNT/$f.safetensors"; done
# shellcheck disable=SC2086
$PY "$FR" stress --threads "$THREADS" --seconds "$SECS" --seed $$ \
    --rss-pid "$MOUNT_PID" --rss-max "$limit" $pairs > "$TMP/stress" 2>&1 ||
    fail "stress: $(cat "$TMP/stress")"
note "$(tail -n 1 "$TMP/stress")"
grep -q ' wrong 0 ' "$TMP/stress" || fail "wrong bytes"
grep -q ' errors 0 ' "$TMP/stress" || fail "read errors: $(cat "$TMP/stress")"
kill -0 "$MOUNT_PID" 2>>"$TMP/quiet" || fail "daemon died"
for f in a b c d; do
    cmp -s "$SRC/$f.safetensors" "$MNT/$f.safetensors" || fail "$f differs after the stress"
done
mount_stop "$MNT" "$MOUNT_PID"
tail -n 1 "$LOG"
finish
