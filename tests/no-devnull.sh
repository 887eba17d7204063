#!/bin/sh
# No test, benchmark or script writes to a device node: not even /dev/null
# (a test that replaces or writes a real device can break the machine, and
# one that only redirects there hides where it would). Output to discard
# goes to a file in the script's own temporary folder; full reads go
# through scripts/readall. Reading from /dev/null (</dev/null) is allowed.
root=${1:?usage: no-devnull.sh SOURCE_ROOT}
cd "$root" || exit 1
hits=$(grep -rnE '(>|of=)[[:space:]]*/dev/|open\([^)]*/dev/(null|zero)|os\.devnull|DEVNULL' \
    scripts tests .ci 2>&1 | grep -v '^tests/no-devnull.sh:' | grep -v '^scripts/readall:')
if [ -n "$hits" ]; then
    echo "writes to a device node:"
    echo "$hits"
    exit 1
fi
echo "no writes to device nodes in scripts/, tests/, .ci/"
