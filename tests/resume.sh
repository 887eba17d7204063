#!/bin/sh
# resume.sh - folder packs and unpacks never look finished when they are
# not, and resume (issue 15). A folder pack of several files, interrupted
# with SIGINT part way, leaves nothing under the final name (only
# DST.partial, with no temporaries); the same command run again finishes
# it byte-identical to an uninterrupted pack, keeping the containers the
# first run finished (same inodes: not packed again) and packing only the
# rest. A kept file whose source changed since (its mtime, or its bytes
# with size and mtime put back) is packed again; other options pack
# everything again; --force over a finished folder writes every file
# again. The same for a folder unpack.
#
# usage: resume.sh WCODEC_PACK WCODEC_UNPACK SOURCE_ROOT
set -u
PACK=$1
UNPACK=$2
SRCROOT=$3
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/wcodec-resume.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "-- $*"; }

[ -x $PY ] && $PY -c 'import numpy' 2>"$T/py.err" ||
    { echo "SKIP: $PY with numpy is needed (wcodec-genmodel)"; exit 77; }
M=$T/model
$PY "$SRCROOT/scripts/wcodec-genmodel" -q --size 96M --shards 6 --seed 8 "$M" ||
    { echo "wcodec-genmodel failed"; exit 1; }
NSHARDS=$(ls "$M"/*.safetensors | wc -l)

# interrupt DIR SUFFIX N CMD...: run CMD, send it SIGINT once DIR holds at
# least N files ending in SUFFIX; prints CMD's exit status. Polled every
# millisecond (an unpack writes a shard in a few). Files are done one at a
# time, so all but the last of the N are listed in the manifest.
interrupt() {
    $PY - "$@" <<'EOF'
import os, signal, subprocess, sys, time
d, suffix, want, cmd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
while p.poll() is None:
    try:
        n = sum(1 for f in os.listdir(d) if f.endswith(suffix))
    except FileNotFoundError:
        n = 0
    if n >= want:
        p.send_signal(signal.SIGINT)
        break
    time.sleep(0.001)
err = p.stderr.read().decode()
print(p.wait())
sys.stderr.write(err)
EOF
}

# stopped DST SUFFIX N CMD...: CMD... DST interrupted once N outputs are
# there (again when it finished before the signal); checks what it left.
stopped() {
    dst=$1 suffix=$2 n=$3
    shift 3
    tool=$1
    for _ in 1 2 3 4 5; do
        rm -rf "$dst" "$dst.partial"
        st=$(interrupt "$dst.partial" "$suffix" "$n" "$@" "$dst" 2>"$T/err")
        [ "$st" = 130 ] && break
    done
    [ "$st" = 130 ] || { fail "$(basename "$tool"): could not interrupt a run (exit $st)"; return 1; }
    [ -e "$dst" ] && fail "$(basename "$tool") interrupted: $dst exists"
    [ -d "$dst.partial" ] || fail "$(basename "$tool") interrupted: no $dst.partial"
    grep -q "run the same command again to resume" "$T/err" ||
        fail "$(basename "$tool") interrupted: no resume hint: $(cat "$T/err")"
    left=$(find "$dst.partial" -name '.*.tmp*')
    [ -z "$left" ] && return 0
    fail "$(basename "$tool") interrupted: temporaries left: $left"
}

inodes() { # DIR SUFFIX: "name inode" of each output
    for f in "$1"/*"$2"; do [ -e "$f" ] && echo "$(basename "$f") $(stat -c %i "$f")"; done
}
# listed DIR SUFFIX: "name inode" of each output the interrupted run listed
# as finished in its manifest (one renamed into place just before the
# signal, not listed yet, is rightly written again)
listed() {
    inodes "$1" "$2" | while read -r name ino; do
        grep -qx "$name" "$1/.wcodec-partial" && echo "$name $ino"
    done
}

note "uninterrupted pack (the reference)"
"$PACK" -q "$M" "$T/ref" || { echo "pack failed"; exit 1; }

note "pack interrupted with SIGINT part way: nothing under the final name"
# one file at a time (-j 1), so that the signal finds some done, some not
stopped "$T/p" .wcodec 2 "$PACK" -j 1 "$M" || exit 1
listed "$T/p.partial" .wcodec > "$T/before"
k=$(wc -l < "$T/before")
note "$k of $NSHARDS containers done when interrupted"
[ "$k" -ge 1 ] && [ "$k" -lt "$NSHARDS" ] || fail "interrupted with $k of $NSHARDS done"

note "the same command again resumes"
"$PACK" "$M" "$T/p" > "$T/out" 2>"$T/err" || fail "resumed pack: exit $?: $(cat "$T/err")"
[ -e "$T/p.partial" ] && fail "resumed pack: $T/p.partial still there"
[ -e "$T/p/.wcodec-partial" ] && fail "resumed pack: the manifest is in the final folder"
diff -r "$T/ref" "$T/p" > "$T/diff" || fail "resumed pack differs from an uninterrupted one: $(cat "$T/diff")"
for f in "$T"/ref/*.wcodec; do
    cmp -s "$f" "$T/p/$(basename "$f")" || fail "$(basename "$f") not byte-identical"
done
kept=$(grep -c ', kept' "$T/out")
[ "$kept" = "$k" ] || fail "resumed pack kept $kept files, want $k: $(cat "$T/out")"
grep -qE "total: .*, $k files? kept" "$T/out" || fail "the total line does not count the kept files"
inodes "$T/p" .wcodec > "$T/after"
while read -r name ino; do
    grep -qx "$name $ino" "$T/after" || fail "$name was packed again (inode changed)"
done < "$T/before"
[ "$(wc -l < "$T/after")" = "$NSHARDS" ] || fail "resumed pack: not $NSHARDS containers"

note "a kept container whose source changed is packed again"
stopped "$T/q" .wcodec 3 "$PACK" -j 1 "$M" || exit 1
listed "$T/q.partial" .wcodec > "$T/before"
first=$(head -n 1 "$T/before" | cut -d' ' -f1)
second=$(sed -n 2p "$T/before" | cut -d' ' -f1)
src1=$M/${first%.wcodec}.safetensors
src2=$M/${second%.wcodec}.safetensors
touch -d '2024-05-06 07:08:09' "$src1"
# same size, same mtime, other bytes: only the digest tells
cp -p "$src2" "$T/orig2"
$PY -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-3, 2); b = f.read(1); f.seek(-3, 2); f.write(bytes([b[0] ^ 0x40]))
' "$src2"
touch -r "$T/orig2" "$src2"
"$PACK" "$M" "$T/q" > "$T/out" 2>"$T/err" || fail "resumed pack: exit $?: $(cat "$T/err")"
grep "$first" "$T/out" | grep -q ', kept' && fail "$first kept although its source's mtime changed"
grep "$second" "$T/out" | grep -q ', kept' && fail "$second kept although its source's bytes changed"
kept=$(grep -c ', kept' "$T/out")
k2=$(($(wc -l < "$T/before") - 2))
[ "$kept" = "$k2" ] || fail "kept $kept, want $k2"
"$UNPACK" -q "$T/q/$second" "$T/u2.safetensors" && cmp -s "$T/u2.safetensors" "$src2" ||
    fail "$second does not hold the changed source"
cp -p "$T/orig2" "$src2"
rm -f "$T/u2.safetensors"

note "a resume with other options packs every file again"
stopped "$T/r" .wcodec 2 "$PACK" -j 1 "$M" || exit 1
"$PACK" -c 1M "$M" "$T/r" > "$T/out" 2>"$T/err" || fail "pack -c 1M: exit $?"
grep -q ', kept' "$T/out" && fail "pack -c 1M kept files packed with 256K chunks"
grep -q "other options" "$T/err" || fail "pack -c 1M: no message about the options: $(cat "$T/err")"
rm -rf "$T/r"

note "--force over a finished folder writes every file again"
"$PACK" -f "$M" "$T/p" > "$T/out" 2>"$T/err" || fail "pack -f: exit $?: $(cat "$T/err")"
grep -q ', kept' "$T/out" && fail "pack -f kept files"
[ -e "$T/p.partial" ] && fail "pack -f: $T/p.partial left"
diff -r "$T/ref" "$T/p" > "$T/diff" || fail "pack -f differs: $(cat "$T/diff")"
"$PACK" -q "$M" "$T/p" 2>"$T/err" && fail "pack over a finished folder without -f succeeded"

note "a DST.partial that no run left (no manifest) is never written into"
mkdir "$T/x.partial"
echo mine > "$T/x.partial/mine.txt"
"$PACK" -q "$M" "$T/x" 2>"$T/err" && fail "pack into someone's x.partial succeeded"
grep -q "holds no .wcodec-partial" "$T/err" || fail "x.partial: message: $(cat "$T/err")"
[ "$(ls -A "$T/x.partial")" = mine.txt ] || fail "x.partial was written into: $(ls -A "$T/x.partial")"
[ -e "$T/x" ] && fail "x was made"

note "a run killed outright: its fresh temporary is removed by the resumed run, a second run at once is refused"
stopped "$T/k" .wcodec 1 "$PACK" -j 1 "$M" || exit 1
# What SIGKILL leaves: a temporary seconds old, which the per-name sweep
# (sparing those under a minute) would keep.
head -c 1000 "$M/config.json" > "$T/k.partial/.model-00009-of-00009.safetensors.tmpAbC123"
"$PY" -c '
import fcntl, os, subprocess, sys
fd = os.open(sys.argv[1] + "/.wcodec-partial", os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
r = subprocess.run(sys.argv[2:], capture_output=True, text=True)
print(r.returncode, r.stderr.strip())
' "$T/k.partial" "$PACK" -q "$M" "$T/k" > "$T/busy"
grep -q "^1 .*another run is writing it" "$T/busy" || fail "a second run over a locked DST.partial: $(cat "$T/busy")"
"$PACK" -q "$M" "$T/k" 2>"$T/err" || fail "resumed pack after a kill: exit $?: $(cat "$T/err")"
[ -e "$T/k/.model-00009-of-00009.safetensors.tmpAbC123" ] && fail "the killed run's temporary reached the final folder"
diff -r "$T/ref" "$T/k" > "$T/diff" || fail "resumed pack after a kill differs: $(cat "$T/diff")"

note "unpack interrupted part way, then resumed"
stopped "$T/u" .safetensors 2 "$UNPACK" "$T/ref" || exit 1
listed "$T/u.partial" .safetensors > "$T/before"
k=$(wc -l < "$T/before")
note "$k of $NSHARDS files done when interrupted"
"$UNPACK" "$T/ref" "$T/u" > "$T/out" 2>"$T/err" || fail "resumed unpack: exit $?: $(cat "$T/err")"
[ -e "$T/u.partial" ] && fail "resumed unpack: u.partial still there"
diff -r "$M" "$T/u" > "$T/diff" || fail "resumed unpack differs: $(cat "$T/diff")"
kept=$(grep -c ', kept' "$T/out")
[ "$kept" = "$k" ] || fail "resumed unpack kept $kept files, want $k"
inodes "$T/u" .safetensors > "$T/after"
while read -r name ino; do
    grep -qx "$name $ino" "$T/after" || fail "$name was unpacked again (inode changed)"
done < "$T/before"

if [ $FAILED -ne 0 ]; then
    echo FAILED
    exit 1
fi
echo ok
