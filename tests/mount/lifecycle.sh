#!/bin/sh
# lifecycle.sh - the daemon's life and its command line: SIGTERM and SIGINT
# unmount cleanly (nothing left in /proc/mounts, exit 0); daemon mode
# returns once mounted and fusermount3 -u ends it; mount -t fuse.wcodec
# through mount.fuse3 works; exit codes for usage errors and a missing
# GPU; --help lists exactly the options the man page documents.
. "$(dirname "$0")/common.sh"
need_fuse

MAN=$WCODEC_SOURCE_ROOT/man/wcodec-mount.1
SRC=$TMP/src
MNT=$TMP/mnt
mkdir -p "$SRC/sub" "$MNT"
echo hello > "$SRC/sub/hello.txt"
cp "$WCODEC_SOURCE_ROOT/man/wcodec-mount.1" "$SRC/plain.1"

note "--help matches the man page"
"$WCODEC_MOUNT" --help > "$TMP/help" || fail "--help exit status"
# The option column of --help, and the .TP tags of the man page's OPTIONS.
sed -n 's/^  \(-[^ ].*\)$/\1/p' "$TMP/help" | sed 's/   .*//' |
    sed 's/,$//' | sort > "$TMP/help.opts"
awk '/^\.SH OPTIONS/{o=1;next} /^\.SH/{o=0} o&&prev==".TP"{print} {prev=$0}' "$MAN" |
    sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' | sort > "$TMP/man.opts"
if ! cmp -s "$TMP/help.opts" "$TMP/man.opts"; then
    fail "options in --help and the man page differ"
    diff "$TMP/help.opts" "$TMP/man.opts"
fi
[ "$(wc -l < "$TMP/help.opts")" -ge 12 ] || fail "too few options parsed from --help"
if [ -n "$(command -v groff)" ]; then
    [ -z "$(groff -man -ww -z "$MAN" 2>&1)" ] || fail "groff warnings in the man page"
fi
"$WCODEC_MOUNT" --version | grep -q '^wcodec-mount [0-9]' || fail "--version"

note "usage errors exit 2, errors 1"
st() { "$@" >>"$TMP/quiet" 2>&1; echo $?; }
[ "$(st "$WCODEC_MOUNT")" = 2 ] || fail "no arguments"
[ "$(st "$WCODEC_MOUNT" "$SRC")" = 2 ] || fail "no MNT"
[ "$(st "$WCODEC_MOUNT" -o cache_size=lots "$SRC" "$MNT")" = 2 ] || fail "bad cache_size"
[ "$(st "$WCODEC_MOUNT" -o cache_size=100K "$SRC" "$MNT")" = 2 ] || fail "cache_size too small"
[ "$(st "$WCODEC_MOUNT" --device=tpu "$SRC" "$MNT")" = 2 ] || fail "bad device"
[ "$(st "$WCODEC_MOUNT" -o kernel_readahead=2G "$SRC" "$MNT")" = 2 ] || fail "kernel_readahead too big"
[ "$(st "$WCODEC_MOUNT" -o no_such_option "$SRC" "$MNT")" = 2 ] || fail "unknown option"
[ "$(st "$WCODEC_MOUNT" -o source_io=mmap "$SRC" "$MNT")" = 2 ] || fail "bad source_io"
[ "$(st "$WCODEC_MOUNT" "$TMP/nonexistent" "$MNT")" = 1 ] || fail "missing SRC"
out=$("$WCODEC_MOUNT" --device=cuda "$SRC" "$TMP/no-such-mnt" 2>&1)
[ $? = 1 ] || fail "--device=cuda without GPU or mountpoint: not status 1"
case $out in
*"no usable CUDA GPU"*) note "no GPU: clear error" ;;
*) note "a GPU is usable here: --device=cuda got past the check ($out)" ;;
esac
is_mounted "$TMP/no-such-mnt" && fail "mounted anyway"

note "kernel read-ahead raised (root only)"
mount_start "$SRC" "$MNT" -o kernel_readahead=2M || exit 1
if [ "$(id -u)" = 0 ]; then
    ra=$(cat "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb" 2>>"$TMP/quiet")
    [ "$ra" = 2048 ] || fail "read_ahead_kb is $ra, not 2048"
fi
mount_stop "$MNT" "$MOUNT_PID"

for sig in TERM INT; do
    note "SIG$sig unmounts cleanly"
    mount_start "$SRC" "$MNT" || exit 1
    [ "$(cat "$MNT/sub/hello.txt")" = hello ] || fail "read before SIG$sig"
    kill -$sig "$MOUNT_PID"
    wait "$MOUNT_PID"
    st=$?
    [ $st -eq 0 ] || fail "exit status $st after SIG$sig"
    is_mounted "$MNT" && fail "still mounted after SIG$sig"
done

note "daemon mode, then fusermount3 -u"
"$WCODEC_MOUNT" "$SRC" "$MNT" || fail "daemon mode exit status"
is_mounted "$MNT" || fail "daemon mode: not mounted"
grep " $MNT fuse.wcodec " /proc/mounts | grep -q "^$SRC " ||
    fail "source or type in /proc/mounts: $(grep " $MNT " /proc/mounts)"
cmp "$SRC/plain.1" "$MNT/plain.1" || fail "daemon mode read"
pid=$(pgrep -f "^$WCODEC_MOUNT $SRC $MNT\$")
[ -n "$pid" ] || fail "no daemon process found"
fusermount3 -u "$MNT" || fail "fusermount3 -u"
for _ in $(seq 50); do
    [ -n "$pid" ] && kill -0 "$pid" 2>>"$TMP/quiet" || break
    sleep 0.1
done
[ -n "$pid" ] && kill -0 "$pid" 2>>"$TMP/quiet" && fail "daemon still running after unmount"
is_mounted "$MNT" && fail "still mounted"

note "mount.fuse3 (what mount -t fuse.wcodec-mount runs)"
if [ -n "$(command -v mount.fuse3)" ] && [ "$(id -u)" = 0 ]; then
    # mount(8) runs its helpers with a default PATH: call the helper
    # directly, with the build folder in the PATH.
    if PATH=$(dirname "$WCODEC_MOUNT"):$PATH mount.fuse3 "$SRC" "$MNT" \
        -t fuse.wcodec-mount -o cache_size=64M,allow_other; then
        MOUNTS="$MOUNTS $MNT"
        [ "$(cat "$MNT/sub/hello.txt")" = hello ] || fail "read through mount.fuse3"
        grep " $MNT " /proc/mounts | grep -q allow_other || fail "allow_other not passed"
        umount "$MNT" || fail "umount"
        is_mounted "$MNT" && fail "still mounted after umount"
    else
        fail "mount.fuse3 -t fuse.wcodec-mount failed"
    fi
else
    note "skipped (needs root and mount.fuse3)"
fi

finish
