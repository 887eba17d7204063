#!/bin/sh
# tools.sh - the golden files through the command-line tools: for every
# container in MANIFEST, wcodec-unpack exits with the expected status; a
# failure prints exactly one line, naming the file, and leaves no output
# and no temporary behind; a success writes base.safetensors byte for byte.
# For every safetensors file, wcodec-pack likewise (and a packed one
# unpacks to the original).
set -u
: "${WCODEC_PACK:?}" "${WCODEC_UNPACK:?}" "${GOLDEN:?}"
T=$(mktemp -d /tmp/wcodec-golden.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0 n=0
bad() { echo "FAIL: $*"; fail=1; }

# run TOOL FILE OUT EXPECTED-EXIT
run() {
    tool=$1 file=$2 out=$3 want=$4
    rm -rf "$T/out"
    mkdir "$T/out"
    "$tool" -q "$GOLDEN/$file" "$T/out/$out" >"$T/stdout" 2>"$T/stderr"
    st=$?
    n=$((n + 1))
    if [ $st -ne "$want" ]; then
        bad "$(basename "$tool") $file: exit $st, expected $want: $(head -c 300 "$T/stderr")"
        return 1
    fi
    if [ "$want" -ne 0 ]; then
        lines=$(wc -l < "$T/stderr")
        [ "$lines" -eq 1 ] || bad "$file: $lines lines on stderr: $(cat "$T/stderr")"
        grep -q "$file" "$T/stderr" || bad "$file: message does not name it: $(cat "$T/stderr")"
        [ -z "$(ls -A "$T/out")" ] || bad "$file: left $(ls -A "$T/out")"
        return 1
    fi
    return 0
}

while read -r file a b c d; do
    case $file in '#'*|'') continue ;; esac
    want=
    for kv in $a $b $c $d; do
        case $kv in unpack=*|pack=*) want=${kv#*=} ;; esac
    done
    case $file in
    *.wcodec)
        if run "$WCODEC_UNPACK" "$file" x.safetensors "$want"; then
            cmp -s "$T/out/x.safetensors" "$GOLDEN/base.safetensors" ||
                bad "$file: unpacked bytes differ from base.safetensors"
        fi ;;
    *.safetensors)
        if run "$WCODEC_PACK" "$file" x.wcodec "$want"; then
            "$WCODEC_UNPACK" -q "$T/out/x.wcodec" "$T/out/back.safetensors" &&
                cmp -s "$T/out/back.safetensors" "$GOLDEN/$file" ||
                bad "$file: packed and unpacked, not the same bytes"
        fi ;;
    esac
done < "$GOLDEN/MANIFEST"
echo "# $n golden files through wcodec-pack / wcodec-unpack"
[ $fail -eq 0 ] && echo ok
exit $fail
