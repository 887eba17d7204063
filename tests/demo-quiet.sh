#!/bin/sh
# demo-quiet.sh - scripts/demo.sh prints its own lines only (issue 15): the
# package manager's and the build's chatter, on either stream, stays out of
# its output, while a failing installer still shows its errors (and stops
# the demo). apt-get, sudo, meson and ninja are stand-ins on the PATH that
# chatter (the build is the test's own, done already); the demo runs on a
# small model, without dropping the page cache.
#
# usage: demo-quiet.sh BUILD_ROOT SOURCE_ROOT
set -u
BUILD=$1
SRCROOT=$2
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/wcodec-demo-quiet.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "-- $*"; }
[ -x $PY ] && $PY -c 'import numpy' 2>"$T/py.err" ||
    { echo "SKIP: $PY with numpy is needed (wcodec-genmodel)"; exit 77; }
command -v bc > "$T/bc" || { echo "SKIP: bc is needed by the demo"; exit 77; }

mkdir "$T/bin"
for tool in apt-get sudo meson ninja; do
    cat > "$T/bin/$tool" <<EOF
#!/bin/sh
[ "$tool" = sudo ] && exec "\$@"
echo "CHATTER-OUT $tool \$*"
echo "debconf: CHATTER-ERR $tool" >&2
if [ "$tool" = apt-get ] && [ -e "$T/apt-fails" ]; then
    echo "E: Unable to locate package APT-ERROR" >&2
    exit 100
fi
exit 0
EOF
    chmod +x "$T/bin/$tool"
done

run_demo() {
    PATH=$T/bin:$PATH WCODEC_BUILD=$BUILD WCODEC_DEMO_DROP=0 \
        sh "$SRCROOT/scripts/demo.sh" 8M > "$T/out" 2>&1
}

note "a demo run prints no installer or build chatter"
run_demo
st=$?
[ $st -eq 0 ] || fail "demo exited $st: $(tail -n 20 "$T/out")"
grep -n CHATTER "$T/out" && fail "the demo's output holds setup chatter"
grep -q '^== packing' "$T/out" || fail "no demo lines: $(head -n 20 "$T/out")"
grep -q 'is identical' "$T/out" || fail "the demo did not check its output"

note "a failing installer keeps its errors and stops the demo"
touch "$T/apt-fails"
run_demo
st=$?
[ $st -ne 0 ] || fail "demo went on after the installer failed"
grep -q 'E: Unable to locate package APT-ERROR' "$T/out" || fail "the installer's error was hidden: $(cat "$T/out")"
grep -q '^== packing' "$T/out" && fail "the demo went on after the installer failed"

if [ $FAILED -ne 0 ]; then
    echo FAILED
    exit 1
fi
echo ok
