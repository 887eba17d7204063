#!/bin/sh
# Every man page lints clean with groff, and every long option a command's
# --help lists is documented in its man page (and the reverse).
# Args: SOURCE_ROOT then pairs of PROGRAM MANPAGE.
set -u
root=$1
shift
[ -n "$(command -v groff)" ] || { echo "SKIP: groff is not installed"; exit 77; }
bad=0
for page in "$root"/man/*.[1-8]; do
    out=$(groff -t -man -ww -z "$page" 2>&1)
    if [ -n "$out" ]; then
        echo "FAIL: $page: $out"
        bad=1
    fi
    secs='NAME SYNOPSIS DESCRIPTION SEE_ALSO'
    case $page in *.1) secs="$secs OPTIONS EXIT_STATUS EXAMPLES" ;; esac
    for sec in $secs; do
        sec=$(echo "$sec" | tr _ ' ')
        grep -q "^\.SH \"*$sec" "$page" || { echo "FAIL: $page has no $sec section"; bad=1; }
    done
done
while [ $# -ge 2 ]; do
    prog=$1 page=$2
    shift 2
    [ -x "$prog" ] || continue
    help=$("$prog" --help) || { echo "FAIL: $prog --help exits non-zero"; bad=1; }
    # long options in --help, and \-\-options in the page
    hopts=$(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
    mopts=$(sed 's/\\-/-/g' "$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
    for o in $hopts; do
        printf '%s\n' "$mopts" | grep -qx -- "$o" ||
            { echo "FAIL: $page does not document $o from $(basename "$prog") --help"; bad=1; }
    done
    for o in $mopts; do
        printf '%s\n' "$hopts" | grep -qx -- "$o" ||
            { echo "FAIL: $page documents $o but $(basename "$prog") --help does not list it"; bad=1; }
    done
    # -o options of the mount
    for o in $(printf '%s\n' "$help" | grep -o -- '-o [a-z_]*=' | sed 's/-o //;s/=//' | sort -u); do
        grep -q "$o" "$page" || { echo "FAIL: $page does not document -o $o"; bad=1; }
    done
    echo "checked $(basename "$prog") against $(basename "$page")"
done
[ $bad -eq 0 ] && echo ok
exit $bad
