#!/bin/sh
# mountpoint.sh - the mount never hides or widens what a user has (issue
# 15): a file is shown with its container's permission bits less every
# write bit (a 0600 source packs to 0600 and shows 0400), folders likewise;
# a second mount on a live mountpoint, or on a mount of anything else, is
# refused (exit 1, one mount left); a non-empty mountpoint is refused
# without -o nonempty and mounted with it; the same through mount.fuse3
# (what mount -t fuse.wcodec-mount and fstab run; root only).
. "$(dirname "$0")/common.sh"
need_fuse
need_python

SRC=$TMP/src
MNT=$TMP/mnt
mkdir -p "$SRC/sub" "$MNT"
$PY "$GENMODEL" -q --size 2M --seed 9 "$TMP/m.safetensors" || { echo "wcodec-genmodel failed"; exit 1; }
chmod 600 "$TMP/m.safetensors"
"$WCODEC_PACK" -q "$TMP/m.safetensors" "$SRC/m.wcodec" || { echo "pack failed"; exit 1; }
echo notes > "$SRC/sub/notes.txt"
chmod 640 "$SRC/sub/notes.txt"
chmod 750 "$SRC/sub"
chmod 755 "$SRC"
mode() { stat -c %a "$1"; }
mounts_at() { grep -c " $1 fuse" /proc/mounts; }

note "modes: the container's bits less the write bits"
[ "$(mode "$SRC/m.wcodec")" = 600 ] || fail "a 0600 source packed to $(mode "$SRC/m.wcodec")"
mount_start "$SRC" "$MNT" || exit 1
[ "$(mode "$MNT/m.safetensors")" = 400 ] || fail "0600 container shown as $(mode "$MNT/m.safetensors")"
[ "$(mode "$MNT/sub")" = 550 ] || fail "0750 folder shown as $(mode "$MNT/sub")"
[ "$(mode "$MNT/sub/notes.txt")" = 440 ] || fail "0640 file shown as $(mode "$MNT/sub/notes.txt")"
[ "$(mode "$MNT")" = 555 ] || fail "0755 top folder shown as $(mode "$MNT")"
cmp -s "$MNT/m.safetensors" "$TMP/m.safetensors" || fail "mounted bytes differ"

note "a second mount on a live mountpoint is refused"
MOUNTS="$MOUNTS $MNT"  # cleanup unmounts twice should one stack
for o in "" "-o nonempty"; do
    # shellcheck disable=SC2086
    timeout 60 "$WCODEC_MOUNT" $o "$SRC" "$MNT" 2>"$TMP/err"
    st=$?
    [ $st -eq 1 ] || fail "second mount ($o): exit $st, want 1"
    grep -q "already a mount point" "$TMP/err" || fail "second mount ($o): message: $(cat "$TMP/err")"
    [ "$(mounts_at "$MNT")" = 1 ] || fail "second mount ($o): $(mounts_at "$MNT") mounts at $MNT"
done
# (the 0.2.0 daemon stacked a mount on top: take it off to reach ours)
while [ "$(mounts_at "$MNT")" -gt 1 ]; do fusermount3 -u "$MNT" || break; done
cmp -s "$MNT/m.safetensors" "$TMP/m.safetensors" || fail "the first mount no longer serves"
mount_stop "$MNT" "$MOUNT_PID"

note "a mountpoint that is a mount of another file system is refused"
if [ "$(id -u)" = 0 ] && mkdir "$TMP/tm" && mount -t tmpfs -o size=1M wcodec-test "$TMP/tm" 2>"$TMP/err"; then
    timeout 60 "$WCODEC_MOUNT" "$SRC" "$TMP/tm" 2>"$TMP/err"
    st=$?
    [ $st -eq 1 ] || fail "mount over a tmpfs mount: exit $st, want 1"
    grep -q "already a mount point, of wcodec-test (tmpfs)" "$TMP/err" ||
        fail "mount over a tmpfs mount: message: $(cat "$TMP/err")"
    is_mounted "$TMP/tm" && { fail "mounted over the tmpfs"; fusermount3 -u "$TMP/tm"; }
    umount "$TMP/tm"
else
    note "skipped (needs root to mount a tmpfs)"
fi

note "a non-empty mountpoint: refused, then mounted with -o nonempty"
NE=$TMP/ne
mkdir -p "$NE"
echo keep > "$NE/keep"
timeout 60 "$WCODEC_MOUNT" "$SRC" "$NE" 2>"$TMP/err"
st=$?
MOUNTS="$MOUNTS $NE"
[ $st -eq 1 ] || fail "non-empty mountpoint: exit $st, want 1"
grep -q "not empty.*-o nonempty" "$TMP/err" || fail "non-empty mountpoint: message: $(cat "$TMP/err")"
is_mounted "$NE" && fail "non-empty mountpoint: mounted anyway"
mount_start "$SRC" "$NE" -o nonempty || exit 1
[ -e "$NE/m.safetensors" ] || fail "-o nonempty: not served"
mount_stop "$NE" "$MOUNT_PID"
[ "$(cat "$NE/keep")" = keep ] || fail "the mountpoint's file is gone after unmounting"

note "the same through mount.fuse3 (mount -t fuse.wcodec-mount, fstab)"
if [ -n "$(command -v mount.fuse3)" ] && [ "$(id -u)" = 0 ]; then
    # mount(8) runs its helpers with a default PATH: call the helper
    # directly, with the build folder in the PATH.
    mf() { PATH=$(dirname "$WCODEC_MOUNT"):$PATH timeout 60 mount.fuse3 "$@"; }
    mf "$SRC" "$NE" -t fuse.wcodec-mount 2>"$TMP/err" &&
        fail "mount.fuse3 onto a non-empty folder succeeded"
    is_mounted "$NE" && { fail "mount.fuse3: mounted a non-empty folder"; umount "$NE"; }
    grep -q "not empty" "$TMP/err" || fail "mount.fuse3 non-empty: message: $(cat "$TMP/err")"
    if mf "$SRC" "$NE" -t fuse.wcodec-mount -o nonempty,cache_size=64M 2>"$TMP/err"; then
        [ -e "$NE/m.safetensors" ] || fail "mount.fuse3 -o nonempty: not served"
        mf "$SRC" "$NE" -t fuse.wcodec-mount -o nonempty 2>"$TMP/err" &&
            fail "mount.fuse3 a second time on a live mount succeeded"
        [ "$(mounts_at "$NE")" = 1 ] || fail "mount.fuse3: $(mounts_at "$NE") mounts at $NE"
        umount "$NE" || fail "umount"
        is_mounted "$NE" && umount "$NE"
    else
        fail "mount.fuse3 -o nonempty failed: $(cat "$TMP/err")"
    fi
else
    note "skipped (needs root and mount.fuse3)"
fi

finish
