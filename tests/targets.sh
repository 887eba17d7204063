#!/bin/sh
# targets.sh - outputs that are not regular files are written through,
# never replaced (issue 15): wcodec-unpack into a FIFO delivers the exact
# bytes to its reader and leaves a FIFO; into a character device node
# (made here, inside the test's own folder, with the null device's numbers;
# root only) leaves a device node; into a socket connects to it; DST -
# writes the bytes to standard output and nothing else. wcodec-pack never
# replaces such a target, with or without -f. A folder onto a non-folder
# is a clear error that leaves it alone.
#
# Nothing here writes to a device outside the test's temporary folder: the
# tools' standard streams go to files in it.
#
# usage: targets.sh WCODEC_PACK WCODEC_UNPACK SOURCE_ROOT
set -u
PACK=$1
UNPACK=$2
SRCROOT=$3
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/wcodec-targets.XXXXXX")
READER=
cleanup() {
    [ -n "$READER" ] && kill "$READER" 2>"$T/kill.err"
    rm -rf "$T"
}
trap cleanup EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "-- $*"; }

[ -x $PY ] && $PY -c 'import numpy' 2>"$T/py.err" ||
    { echo "SKIP: $PY with numpy is needed (wcodec-genmodel)"; exit 77; }
$PY "$SRCROOT/scripts/wcodec-genmodel" -q --size 4M --seed 5 "$T/m.safetensors" ||
    { echo "wcodec-genmodel failed"; exit 1; }
"$PACK" -q "$T/m.safetensors" "$T/m.wcodec" || { echo "pack failed"; exit 1; }

# no temporaries left next to a target
no_temps() {
    left=$(ls -A "$T" | grep '\.tmp' )
    [ -z "$left" ] || fail "$1: temporaries left: $left"
}

# fifo_unpack [OPTIONS...]: unpack into a FIFO read by cat
fifo_unpack() {
    rm -f "$T/fifo" "$T/got"
    mkfifo "$T/fifo"
    timeout 60 cat "$T/fifo" > "$T/got" &
    READER=$!
    "$UNPACK" -q "$@" "$T/m.wcodec" "$T/fifo" > "$T/out" 2> "$T/err"
    rc=$?
    if [ $rc -ne 0 ]; then
        # the reader would wait for a writer that never comes
        kill $READER 2>"$T/kill.err"
    fi
    wait $READER
    READER=
    [ $rc -eq 0 ] || { fail "unpack $* into a FIFO: exit $rc: $(cat "$T/err")"; return; }
    [ -p "$T/fifo" ] || fail "unpack $* into a FIFO: it is no longer a FIFO"
    cmp -s "$T/got" "$T/m.safetensors" || fail "unpack $* into a FIFO: its reader got other bytes"
    no_temps "unpack $* into a FIFO"
}

note "unpack into a FIFO, without and with -f"
fifo_unpack
fifo_unpack -f

note "unpack to standard output (DST -)"
cd "$T" || exit 1 # (so that a file named - would land here)
"$UNPACK" "$T/m.wcodec" - > "$T/stdout" 2> "$T/err" ||
    fail "unpack to -: exit $?: $(cat "$T/err")"
cmp -s "$T/stdout" "$T/m.safetensors" || fail "unpack to -: other bytes on standard output"
[ -e "$T/-" ] && fail "unpack to -: wrote a file named -"
mkdir -p "$T/dir"
"$PACK" -q "$T/m.safetensors" "$T/dir/m.wcodec"
"$UNPACK" "$T/dir" - > "$T/stdout" 2> "$T/err"
rc=$?
[ $rc -eq 2 ] || fail "unpack of a folder to -: exit $rc, want 2"

note "unpack into a socket"
if $PY -c 'import socket; socket.AF_UNIX' 2>"$T/py.err"; then
    timeout 60 $PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
with open(sys.argv[2], "wb") as f:
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        f.write(b)
' "$T/sock" "$T/sock.got" &
    READER=$!
    for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
    "$UNPACK" -q "$T/m.wcodec" "$T/sock" 2> "$T/err" ||
        fail "unpack into a socket: exit $?: $(cat "$T/err")"
    wait $READER
    READER=
    [ -S "$T/sock" ] || fail "unpack into a socket: it is no longer a socket"
    cmp -s "$T/sock.got" "$T/m.safetensors" || fail "unpack into a socket: other bytes received"
    no_temps "unpack into a socket"
else
    note "skipped: no AF_UNIX in $PY"
fi

note "pack never replaces a FIFO (with or without -f)"
rm -f "$T/fifo"
mkfifo "$T/fifo"
for f in "" -f; do
    # shellcheck disable=SC2086
    "$PACK" -q $f "$T/m.safetensors" "$T/fifo" 2> "$T/err"
    rc=$?
    [ $rc -eq 1 ] || fail "pack $f onto a FIFO: exit $rc, want 1"
    [ -p "$T/fifo" ] || fail "pack $f onto a FIFO replaced it"
    grep -q "not a regular file" "$T/err" || fail "pack $f onto a FIFO: message: $(cat "$T/err")"
done
no_temps "pack onto a FIFO"

note "a folder onto a non-folder is a clear error"
echo keep > "$T/plain"
for tool in "$PACK" "$UNPACK"; do
    for f in "" -f; do
        for tgt in plain fifo; do
            # shellcheck disable=SC2086
            timeout 60 "$tool" -q $f "$T/dir" "$T/$tgt" 2> "$T/err"
            rc=$?
            what="$(basename "$tool") $f folder onto a $tgt"
            [ $rc -eq 1 ] || fail "$what: exit $rc, want 1"
            grep -q "not a folder" "$T/err" || fail "$what: message: $(cat "$T/err")"
            [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$what: not one line: $(cat "$T/err")"
        done
        [ "$(cat "$T/plain")" = keep ] || fail "$(basename "$tool") $f: the file was changed"
        [ -p "$T/fifo" ] || fail "$(basename "$tool") $f: the FIFO was replaced"
    done
done
[ -e "$T/plain.partial" ] || [ -e "$T/fifo.partial" ] && fail "a folder was started beside a non-folder"

note "unpack into a character device node (a copy of the null device, made here)"
if [ "$(id -u)" != 0 ]; then
    note "skipped: mknod needs root"
elif ! mknod "$T/null" c 1 3 2>"$T/err"; then
    note "skipped: mknod failed: $(cat "$T/err")"
elif ! { echo probe > "$T/null"; } 2>"$T/err"; then
    note "skipped: device nodes cannot be opened here (nodev?): $(cat "$T/err")"
else
    for f in "" -f; do
        # shellcheck disable=SC2086
        "$UNPACK" -q $f "$T/m.wcodec" "$T/null" 2> "$T/err" ||
            fail "unpack $f into a device node: exit $?: $(cat "$T/err")"
        [ -c "$T/null" ] || fail "unpack $f into a device node: it is no longer a character device"
        "$PACK" -q $f "$T/m.safetensors" "$T/null" 2> "$T/err" &&
            fail "pack $f onto a device node succeeded"
        [ -c "$T/null" ] || fail "pack $f onto a device node replaced it"
    done
    [ "$(stat -c %t:%T "$T/null")" = 1:3 ] || fail "the device node's numbers changed"
    no_temps "device node"
fi

if [ $FAILED -ne 0 ]; then
    echo FAILED
    exit 1
fi
echo ok
