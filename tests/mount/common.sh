# common.sh - sourced by the wcodec-mount tests: skips, temporary folder,
# mounting with a notify pipe (no polling), unmounting, cleanup.
#
# Environment (set by meson): WCODEC_MOUNT, WCODEC_PACK, WCODEC_UNPACK,
# WCODEC_SOURCE_ROOT; optional WCODEC_CORPUS (default
# $WCODEC_SOURCE_ROOT/../shared/corpus), MOUNT_WRAP (a command the daemon
# runs under, e.g. valgrind).

set -u

: "${WCODEC_MOUNT:?}" "${WCODEC_PACK:?}" "${WCODEC_SOURCE_ROOT:?}"
PY=/usr/bin/python3
HERE=$WCODEC_SOURCE_ROOT/tests/mount
GENMODEL=$WCODEC_SOURCE_ROOT/scripts/wcodec-genmodel
CORPUS=${WCODEC_CORPUS:-$WCODEC_SOURCE_ROOT/../shared/corpus}
MOUNT_WRAP=${MOUNT_WRAP:-}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "-- $*"; }
FAILED=0

need_fuse() {
    [ -c /dev/fuse ] || skip "/dev/fuse is missing (no FUSE in this environment)"
    [ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "/dev/fuse is not readable and writable"
    [ -n "$(command -v fusermount3)" ] || skip "fusermount3 is not installed"
}

need_python() {
    [ -x $PY ] && $PY -c 'import numpy' 2>>"$TMP/quiet" ||
        skip "$PY with numpy is needed (wcodec-genmodel, read helpers)"
}

TMP=$(mktemp -d /tmp/wcodec-mount-test.XXXXXX)
LOG=$TMP/mount.log
MOUNTS=""
PIDS=""
NOTIFY_N=0

cleanup() {
    for m in $MOUNTS; do
        grep -q " $m " /proc/mounts 2>>"$TMP/quiet" && fusermount3 -uz "$m" 2>>"$TMP/quiet"
    done
    for p in $PIDS; do
        kill "$p" 2>>"$TMP/quiet"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

is_mounted() { grep -q " $1 fuse" /proc/mounts; }
# Linux at least MAJOR.MINOR? (6 6: the kernel lets a daemon allow shared
# mmap of direct_io files, FUSE_DIRECT_IO_ALLOW_MMAP)
kernel_at_least() {
    uname -r | awk -F'[.-]' -v a="$1" -v b="$2" '{ exit !($1 * 1000 + $2 >= a * 1000 + b) }'
}

# mount_start SRC MNT [OPTIONS...]: run the daemon in the foreground (under
# $MOUNT_WRAP) and wait for its notify byte. Sets MOUNT_PID. Returns 1 if
# the daemon exited first.
mount_start() {
    src=$1 mnt=$2
    shift 2
    mkdir -p "$mnt"
    NOTIFY_N=$((NOTIFY_N + 1))
    fifo=$TMP/notify.$NOTIFY_N
    mkfifo "$fifo"
    # shellcheck disable=SC2086
    $MOUNT_WRAP "$WCODEC_MOUNT" -f "$@" --notify-fd=3 "$src" "$mnt" \
        3>"$fifo" 2>>"$LOG" &
    MOUNT_PID=$!
    PIDS="$PIDS $MOUNT_PID"
    MOUNTS="$MOUNTS $mnt"
    byte=$(timeout 120 head -c1 "$fifo")
    rm -f "$fifo"
    if [ "$byte" != m ]; then
        # Environments with /dev/fuse but no right to mount (containers
        # without CAP_SYS_ADMIN, no setuid fusermount3) skip; anything else
        # is a failure of the daemon.
        if grep -Eq "(mount failed|/dev/fuse).*(Permission denied|Operation not permitted)" "$LOG"; then
            skip "mounting is not permitted here: $(grep -E 'Permission denied|Operation not permitted' "$LOG" | head -n 1)"
        fi
        echo "daemon did not mount $mnt; log:"
        cat "$LOG"
        return 1
    fi
    is_mounted "$mnt" || { echo "$mnt not in /proc/mounts"; return 1; }
    return 0
}

# mount_stop MNT PID: unmount with fusermount3 and check the daemon exits 0.
mount_stop() {
    fusermount3 -u "$1" || { fail "fusermount3 -u $1"; fusermount3 -uz "$1"; }
    wait "$2"
    st=$?
    [ $st -eq 0 ] || fail "daemon exited with status $st after unmount"
    is_mounted "$1" && fail "$1 still mounted"
    return 0
}

finish() {
    if [ "$FAILED" -ne 0 ]; then
        echo "daemon log:"
        tail -n 40 "$LOG" 2>>"$TMP/quiet"
        echo FAILED
        exit 1
    fi
    echo ok
    exit 0
}
