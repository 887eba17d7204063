#!/bin/bash
# nospace.sh - a full disk: the library gives WCODEC_E_NOSPACE and the tools
# exit 1 with a one-line message, and no output or temporary file is left.
# Mounts a 1 MiB tmpfs, so it needs root; exits 77 (skip) without it.
#
# usage: nospace.sh WCODEC_PACK WCODEC_UNPACK [CHECK_NOSPACE]
set -u
PACK=$1
UNPACK=$2
CHECK=${3:-}

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: not root, cannot mount a small tmpfs"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wcodec-nospace.XXXXXX")
mnt=$work/mnt
mkdir "$mnt"
cleanup() {
    umount "$mnt" 2>>"$work/quiet"
    rm -rf "$work"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=1m,mode=0755 wcodec-nospace "$mnt" 2>"$work/mount.err"; then
    echo "SKIP: cannot mount a tmpfs: $(cat "$work/mount.err")"
    exit 77
fi

fail=0
bad() {
    echo "FAIL: $*"
    fail=1
}

# Nothing but what the test itself put there may be on the small fs.
left_behind() {
    find "$mnt" -mindepth 1 \( -name '*.wcodec' -o -name '*.safetensors' \
        -o -name '.*' \) -print
}

# --- library ------------------------------------------------------------
if [ -n "$CHECK" ]; then
    out=$(WCODEC_NOSPACE_DIR=$mnt CK_TAP_LOG_FILE_NAME=- "$CHECK" 2>&1)
    rc=$?
    echo "$out"
    [ $rc = 0 ] || bad "check_nospace exited $rc"
    echo "$out" | grep -q '^not ok' && bad "check_nospace has failures"
    echo "$out" | grep -q '^ok' || bad "check_nospace ran no test"
fi

# --- tools ----------------------------------------------------------------
# mkst FILE N: one U8 tensor of N random bytes (incompressible).
mkst() {
    local h="{\"w\":{\"dtype\":\"U8\",\"shape\":[$2],\"data_offsets\":[0,$2]}}"
    local n=${#h}
    {
        printf "\\$(printf %03o $((n % 256)))\\$(printf %03o $((n / 256)))"
        printf '\0\0\0\0\0\0%s' "$h"
        head -c "$2" /dev/urandom
    } >"$1"
}

# one_line_error RC STDERR_FILE NAME WHAT: exit 1, one line naming NAME
one_line_error() {
    local rc=$1 err=$2 name=$3 what=$4
    [ "$rc" = 1 ] || bad "$what: exit $rc, want 1"
    [ "$(wc -l <"$err")" = 1 ] || bad "$what: stderr is not one line: $(cat "$err")"
    grep -q -- "$name" "$err" || bad "$what: message does not name $name: $(cat "$err")"
}

mkst "$work/big.safetensors" 3000000
"$PACK" -q "$work/big.safetensors" "$mnt/big.wcodec" 2>"$work/err"
one_line_error $? "$work/err" big.wcodec "pack onto a full disk"
grep -qi "no space\|disk full" "$work/err" || bad "pack: message does not say the disk is full: $(cat "$work/err")"
[ -z "$(left_behind)" ] || bad "pack left: $(left_behind)"

"$PACK" -q "$work/big.safetensors" "$work/big.wcodec" || bad "pack to a normal disk failed"
"$UNPACK" -q "$work/big.wcodec" "$mnt/big.safetensors" 2>"$work/err"
one_line_error $? "$work/err" big.safetensors "unpack onto a full disk"
[ -z "$(left_behind)" ] || bad "unpack left: $(left_behind)"

# folder mode: the first file that does not fit stops the run
mkdir "$work/model"
mkst "$work/model/model-00001-of-00002.safetensors" 1500000
mkst "$work/model/model-00002-of-00002.safetensors" 1500000
echo '{"model_type": "llama"}' >"$work/model/config.json"
"$PACK" -q "$work/model" "$mnt/model" 2>"$work/err"
rc=$?
[ $rc = 1 ] || bad "folder pack onto a full disk: exit $rc, want 1"
grep -q "model-0000" "$work/err" || bad "folder pack: message does not name the file: $(cat "$work/err")"
# it stays model.partial (to resume), with no partial file in it
[ -e "$mnt/model" ] && bad "folder pack onto a full disk: $mnt/model exists"
[ -f "$mnt/model.partial/.wcodec-partial" ] || bad "folder pack onto a full disk: no model.partial to resume"
left=$(find "$mnt/model.partial" -name '.*.tmp*')
[ -z "$left" ] || bad "folder pack left temporaries: $left"
rm -rf "$mnt/model.partial"
[ -z "$(left_behind)" ] || bad "folder pack left: $(left_behind)"

# what fits still works (the tmpfs itself is fine)
mkst "$work/small.safetensors" 100000
"$PACK" -q --verify "$work/small.safetensors" "$mnt/small.wcodec" || bad "a small pack onto the tmpfs failed"
"$UNPACK" -q "$mnt/small.wcodec" "$mnt/small.safetensors" || bad "a small unpack onto the tmpfs failed"
cmp -s "$work/small.safetensors" "$mnt/small.safetensors" || bad "small round trip differs"

if [ $fail = 0 ]; then
    echo "PASS"
fi
exit $fail
