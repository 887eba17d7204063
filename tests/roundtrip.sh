#!/bin/bash
# roundtrip.sh - the tools end to end:
#   1. every .safetensors of the corpus (WCODEC_CORPUS, default
#      SOURCE_ROOT/../shared/corpus): wcodec-pack --verify, wcodec-unpack,
#      cmp with the original;
#   2. models from scripts/wcodec-genmodel, every weight dtype with
#      --all-dtypes, and a sharded Hugging Face folder packed and unpacked
#      in folder mode (diff -r);
#   3. CLI errors: malformed inputs exit 1 with one line on stderr naming
#      the file and leave no output; existing outputs are kept without
#      --force; usage errors exit 2; --help exits 0.
# A part whose inputs are missing is skipped with a message.
#
# usage: roundtrip.sh WCODEC_PACK WCODEC_UNPACK SOURCE_ROOT
set -u
PACK=$1
UNPACK=$2
SRCROOT=$3
PY=${WCODEC_PYTHON:-/usr/bin/python3}
CORPUS=${WCODEC_CORPUS:-$SRCROOT/../shared/corpus}
GENMODEL=$SRCROOT/scripts/wcodec-genmodel

work=$(mktemp -d "${TMPDIR:-/tmp}/wcodec-roundtrip.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail=0
bad() {
    echo "FAIL: $*"
    fail=1
}

# roundtrip SRC [PACK OPTIONS...]: pack --verify, unpack, cmp
n_rt=0
roundtrip() {
    local src=$1
    shift
    local base
    base=$(basename "$src" .safetensors)
    local c="$work/rt/$base.wcodec" u="$work/rt/$base.safetensors"
    mkdir -p "$work/rt"
    rm -f "$c" "$u"
    if ! "$PACK" -q --verify "$@" "$src" "$c"; then
        bad "pack $* $src"
        return
    fi
    if ! "$UNPACK" -q "$c" "$u"; then
        bad "unpack $c"
        return
    fi
    cmp -s "$src" "$u" || bad "$src: unpacked file differs"
    n_rt=$((n_rt + 1))
    rm -f "$c" "$u"
}

# ---- 1. corpus -------------------------------------------------------------
shopt -s nullglob
corpus_files=("$CORPUS"/*.safetensors)
if [ ${#corpus_files[@]} = 0 ]; then
    echo "SKIP corpus: no .safetensors files in $CORPUS"
else
    for f in "${corpus_files[@]}"; do
        roundtrip "$f"
    done
    echo "corpus: ${#corpus_files[@]} files"
fi

# ---- 2. generated models -----------------------------------------------------
if [ ! -f "$GENMODEL" ]; then
    echo "SKIP generated models: $GENMODEL not found"
elif ! "$PY" -c 'import numpy' 2>>"$work/quiet"; then
    echo "SKIP generated models: $PY has no numpy"
else
    gen() {
        "$PY" "$GENMODEL" -q "$@" || bad "wcodec-genmodel $* failed"
    }
    seed=1
    for dt in BF16 F16 F32 F8_E4M3 F8_E5M2 I8; do
        gen --all-dtypes --dtype "$dt" --seed $seed "$work/gen-$dt.safetensors"
        roundtrip "$work/gen-$dt.safetensors"
        seed=$((seed + 1))
    done
    # small chunks (many, and partial ones), few threads; big chunks
    roundtrip "$work/gen-BF16.safetensors" -c 4K -j 1
    roundtrip "$work/gen-F8_E4M3.safetensors" -c 4096 -j 3
    roundtrip "$work/gen-F32.safetensors" -c 16M
    gen --size 6M --seed 9 --no-metadata "$work/gen-6m.safetensors"
    roundtrip "$work/gen-6m.safetensors"

    # interrupted (SIGINT part-way): exit 130 or 0, never a temporary left,
    # and the output absent or complete (the signal may land after the
    # rename, in which case the status is still 130)
    gen --size 64M --seed 11 "$work/sig.safetensors"
    mkdir -p "$work/sig"
    interrupt() {
        local out=$1
        shift
        "$@" &
        local pid=$!
        sleep 0.2
        kill -INT $pid 2>>"$work/quiet"
        wait $pid
        local rc=$?
        local tmps
        tmps=$(find "$work/sig" -name '.*' -print)
        [ -z "$tmps" ] || bad "interrupted $(basename "$1") left $tmps"
        case $rc in
        130|0) ;;
        *) bad "interrupted $(basename "$1"): exit $rc" ;;
        esac
        echo "interrupted $(basename "$1"): exit $rc"
    }
    interrupt "$work/sig/sig.wcodec" "$PACK" -q -j 1 "$work/sig.safetensors" "$work/sig/sig.wcodec"
    if [ -e "$work/sig/sig.wcodec" ]; then
        "$UNPACK" -q "$work/sig/sig.wcodec" "$work/sig-check.safetensors" &&
            cmp -s "$work/sig.safetensors" "$work/sig-check.safetensors" ||
            bad "pack finished around SIGINT but its output differs"
        rm -f "$work/sig-check.safetensors"
    fi
    rm -f "$work/sig/sig.wcodec"
    "$PACK" -q "$work/sig.safetensors" "$work/sig.wcodec" || bad "pack sig"
    interrupt "$work/sig/sig.safetensors" "$UNPACK" -q "$work/sig.wcodec" "$work/sig/sig.safetensors"
    if [ -e "$work/sig/sig.safetensors" ]; then
        cmp -s "$work/sig.safetensors" "$work/sig/sig.safetensors" || bad "unpack finished around SIGINT but its output differs"
    fi
    # the source truncated while it is packed: a clear error, exit 1, no
    # output and no temporary (or, on a machine quicker than the truncate,
    # a finished pack)
    cp "$work/sig.safetensors" "$work/sig/cut.safetensors"
    "$PACK" -q -j 1 "$work/sig/cut.safetensors" "$work/sig/cut.wcodec" 2>"$work/sig/err" &
    pid=$!
    sleep 0.15
    truncate -s 1M "$work/sig/cut.safetensors"
    wait $pid
    rc=$?
    case $rc in
    1) grep -q "truncated while being read" "$work/sig/err" || bad "truncated source: $(cat "$work/sig/err")"
       [ -e "$work/sig/cut.wcodec" ] && bad "truncated source: output written" ;;
    0) echo "truncated source: pack finished first" ;;
    *) bad "truncated source: exit $rc ($(cat "$work/sig/err"))" ;;
    esac
    [ -z "$(find "$work/sig" -name '.*')" ] || bad "truncated source: temporary left"
    rm -f "$work/sig/cut.safetensors" "$work/sig/cut.wcodec" "$work/sig/err"

    # temporaries a SIGKILL left: the next run into that folder removes
    # those no process holds and nobody wrote for a minute, and no others
    mkdir -p "$work/sweep"
    for t in stale1 stale2 fresh1 held11; do echo x > "$work/sweep/.sig.wcodec.tmp$t"; done
    echo x > "$work/sweep/.other.wcodec.tmpstale9"
    touch -d '2 hours ago' "$work/sweep/.sig.wcodec.tmpstale1" "$work/sweep/.sig.wcodec.tmpstale2" \
        "$work/sweep/.sig.wcodec.tmpheld11" "$work/sweep/.other.wcodec.tmpstale9"
    flock "$work/sweep/.sig.wcodec.tmpheld11" sleep 30 </dev/null >>"$work/quiet" 2>&1 &
    holder=$!
    sleep 0.3
    "$PACK" -q "$work/sig.safetensors" "$work/sweep/sig.wcodec" || bad "pack into sweep/"
    left=$(cd "$work/sweep" && ls -A | sort | tr '\n' ' ')
    [ "$left" = ".other.wcodec.tmpstale9 .sig.wcodec.tmpfresh1 .sig.wcodec.tmpheld11 sig.wcodec " ] ||
        bad "stale temporaries: left '$left'"
    pkill -P $holder sleep 2>>"$work/quiet"; wait $holder 2>>"$work/quiet"
    rm -rf "$work/sweep"
    rm -rf "$work/sig" "$work/sig.safetensors" "$work/sig.wcodec"

    # folder mode: a sharded model with config and tokenizer files
    m=$work/model
    gen --shards 3 --all-dtypes --seed 4 "$m"
    n_st=$(find "$m" -name '*.safetensors' | wc -l)
    [ "$n_st" = 3 ] || bad "genmodel --shards 3 made $n_st shards"
    if ! "$PACK" -q --verify "$m" "$work/packed"; then
        bad "folder pack"
    else
        # every .safetensors became .wcodec, everything else is a copy
        (cd "$m" && find . -type f | sort) >"$work/src.list"
        while read -r f; do
            case $f in
            *.safetensors)
                w=${f%.safetensors}.wcodec
                [ -f "$work/packed/$w" ] || bad "folder pack: no $w"
                [ -e "$work/packed/$f" ] && bad "folder pack: $f copied as is"
                ;;
            *)
                cmp -s "$m/$f" "$work/packed/$f" || bad "folder pack: $f not copied"
                ;;
            esac
        done <"$work/src.list"
        if ! "$UNPACK" -q "$work/packed" "$work/unpacked"; then
            bad "folder unpack"
        else
            diff -r "$m" "$work/unpacked" >>"$work/quiet" ||
                bad "folder round trip differs: $(diff -rq "$m" "$work/unpacked")"
        fi
        # an existing folder is not written into without --force
        "$PACK" -q "$m" "$work/packed" 2>"$work/err"
        rc=$?
        [ $rc = 1 ] || bad "folder pack onto an existing folder: exit $rc, want 1"
        "$PACK" -q --force "$m" "$work/packed" || bad "folder pack --force"
        diff -r "$m" "$work/unpacked" >>"$work/quiet" || bad "unpacked folder changed"
        n_rt=$((n_rt + 1))
    fi
fi

# ---- 3. CLI errors ---------------------------------------------------------------
e=$work/errors
mkdir -p "$e"

# st NAME HEADER [DATA_BYTES]: a safetensors file with a literal header and
# that many zero bytes of data
st() {
    local h=$2 n=${#2}
    {
        printf "\\$(printf %03o $((n % 256)))\\$(printf %03o $((n / 256)))"
        printf '\0\0\0\0\0\0%s' "$h"
        head -c "${3:-0}" /dev/zero
    } >"$e/$1"
}

# expect_error WHAT RC WANT_RC ERRFILE NAME: exit code, one stderr line
# naming NAME
expect_error() {
    local what=$1 rc=$2 want=$3 err=$4 name=$5
    [ "$rc" = "$want" ] || bad "$what: exit $rc, want $want"
    local lines
    lines=$(wc -l <"$err")
    [ "$lines" = 1 ] || bad "$what: $lines lines on stderr: $(cat "$err")"
    grep -q -- "$name" "$err" || bad "$what: message does not name $name: $(cat "$err")"
}

# no_output DIR: nothing but the inputs (no .wcodec, no temporaries)
no_output() {
    local left
    left=$(find "$1" -maxdepth 1 \( -name '*.wcodec' -o -name '.*tmp*' \) -print)
    [ -z "$left" ] || bad "output left behind: $left"
}

T='"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}'
head -c 5 /dev/zero >"$e/short.safetensors"
printf '\377\0\0\0\0\0\0\0{}' >"$e/pastend.safetensors"
st badjson.safetensors '{"t":' 4
st array.safetensors '[1,2,3]' 4
st nodtype.safetensors '{"t":{"shape":[4],"data_offsets":[0,4]}}' 4
st dtype.safetensors '{"t":{"dtype":"F12","shape":[4],"data_offsets":[0,4]}}' 4
st shape.safetensors '{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,4]}}' 4
st offsets.safetensors "{$T}" 3
st overlap.safetensors "{$T,\"u\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}" 8
for f in short pastend badjson array nodtype dtype shape offsets overlap; do
    "$PACK" -q "$e/$f.safetensors" "$e/$f.wcodec" 2>"$e/err"
    expect_error "pack $f" $? 1 "$e/err" "$f.safetensors"
done
"$PACK" -q "$e/missing.safetensors" "$e/missing.wcodec" 2>"$e/err"
expect_error "pack a missing file" $? 1 "$e/err" missing.safetensors
no_output "$e"

# unpack: not a container, truncated, damaged payload
st good.safetensors "{$T}" 4
"$UNPACK" -q "$e/good.safetensors" "$e/x.safetensors" 2>"$e/err"
expect_error "unpack a safetensors file" $? 1 "$e/err" good.safetensors
[ -e "$e/x.safetensors" ] && bad "unpack of a non-container wrote output"
if [ ${#corpus_files[@]} -gt 0 ] || [ -f "$work/gen-BF16.safetensors" ]; then
    big=${corpus_files[0]:-$work/gen-BF16.safetensors}
    "$PACK" -q -c 64K "$big" "$e/big.wcodec" || bad "pack $big"
    size=$(stat -c %s "$e/big.wcodec")
    head -c $((size - 100)) "$e/big.wcodec" >"$e/cut.wcodec"
    "$UNPACK" -q "$e/cut.wcodec" "$e/cut.safetensors" 2>"$e/err"
    expect_error "unpack a truncated container" $? 1 "$e/err" cut.wcodec
    [ -e "$e/cut.safetensors" ] && bad "unpack of a truncated container wrote output"
    # flip a byte in the middle of the payloads
    cp "$e/big.wcodec" "$e/flip.wcodec"
    printf '\125' | dd of="$e/flip.wcodec" bs=1 seek=$((size / 2)) conv=notrunc status=none
    cmp -s "$e/big.wcodec" "$e/flip.wcodec" && bad "flip did not change the container"
    "$UNPACK" -q "$e/flip.wcodec" "$e/flip.safetensors" 2>"$e/err"
    expect_error "unpack a damaged container" $? 1 "$e/err" flip.wcodec
    [ -e "$e/flip.safetensors" ] && bad "unpack of a damaged container wrote output"
    rm -f "$e/big.wcodec" "$e/cut.wcodec" "$e/flip.wcodec"
fi

# existing outputs: kept without --force, replaced with it
"$PACK" -q "$e/good.safetensors" "$e/good.wcodec" || bad "pack good"
cp "$e/good.wcodec" "$e/good.saved"
echo "not a container" >"$e/other.wcodec"
"$PACK" -q "$e/good.safetensors" "$e/other.wcodec" 2>"$e/err"
expect_error "pack onto an existing file" $? 1 "$e/err" other.wcodec
[ "$(cat "$e/other.wcodec")" = "not a container" ] || bad "existing output changed"
"$PACK" -q --force "$e/good.safetensors" "$e/other.wcodec" || bad "pack --force"
cmp -s "$e/good.wcodec" "$e/other.wcodec" || bad "pack --force did not write the container"
echo "keep me" >"$e/out.safetensors"
"$UNPACK" -q "$e/good.wcodec" "$e/out.safetensors" 2>"$e/err"
expect_error "unpack onto an existing file" $? 1 "$e/err" out.safetensors
[ "$(cat "$e/out.safetensors")" = "keep me" ] || bad "existing unpack output changed"
"$UNPACK" -q -f "$e/good.wcodec" "$e/out.safetensors" || bad "unpack --force"
cmp -s "$e/good.safetensors" "$e/out.safetensors" || bad "unpack --force output differs"
cmp -s "$e/good.wcodec" "$e/good.saved" || bad "container changed"

# DST a folder: NAME.wcodec inside it
mkdir "$e/into"
"$PACK" -q "$e/good.safetensors" "$e/into" || bad "pack into a folder"
[ -f "$e/into/good.wcodec" ] || bad "pack into a folder: no good.wcodec"

# a destination inside the source folder: refused, or packed once, but
# never packed into itself again and again
mkdir -p "$e/nest"
cp "$e/good.safetensors" "$e/nest/good.safetensors"
timeout 60 "$PACK" -q "$e/nest" "$e/nest/packed" 2>"$e/err"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || bad "pack into a folder inside the source: exit $rc"
[ -e "$e/nest/packed/packed" ] && bad "pack into a folder inside the source recursed: $(find "$e/nest" -type d | wc -l) folders"
rm -rf "$e/nest/packed"
"$PACK" -q "$e/nest" "$e/nest.packed" || bad "pack nest"
timeout 60 "$UNPACK" -q "$e/nest.packed" "$e/nest.packed/out" 2>"$e/err"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || bad "unpack into a folder inside the source: exit $rc"
[ -e "$e/nest.packed/out/out" ] && bad "unpack into a folder inside the source recursed: $(find "$e/nest.packed" -type d | wc -l) folders"
rm -rf "$e/nest" "$e/nest.packed"

# usage errors: exit 2, nothing written
usage() {
    local tool=$1
    shift
    "$tool" "$@" >>"$work/quiet" 2>"$e/err"
    local rc=$?
    [ $rc = 2 ] || bad "$(basename "$tool") $*: exit $rc, want 2"
    [ -s "$e/err" ] || bad "$(basename "$tool") $*: no message"
}
G=$e/good.safetensors
usage "$PACK"
usage "$PACK" "$G"
usage "$PACK" "$G" "$e/u1.wcodec" "$e/u2.wcodec"
usage "$PACK" --bogus "$G" "$e/u.wcodec"
usage "$PACK" -j 0 "$G" "$e/u.wcodec"
usage "$PACK" -j 257 "$G" "$e/u.wcodec"
usage "$PACK" -j x "$G" "$e/u.wcodec"
usage "$PACK" --chunk-size 1000 "$G" "$e/u.wcodec"
usage "$PACK" --chunk-size 3K "$G" "$e/u.wcodec"
usage "$PACK" --chunk-size 32M "$G" "$e/u.wcodec"
usage "$PACK" -c "" "$G" "$e/u.wcodec"
usage "$PACK" --level 0 "$G" "$e/u.wcodec"
usage "$PACK" --level 23 "$G" "$e/u.wcodec"
usage "$PACK" "$G" "$e/u.wcodec" -c
usage "$UNPACK"
usage "$UNPACK" "$e/good.wcodec"
usage "$UNPACK" --bogus "$e/good.wcodec" "$e/u.safetensors"
usage "$UNPACK" "$e/good.wcodec" "$e/u1" "$e/u2"
[ -e "$e/u.wcodec" ] || [ -e "$e/u.safetensors" ] && bad "a usage error wrote output"

for tool in "$PACK" "$UNPACK"; do
    out=$("$tool" --help 2>>"$work/quiet")
    rc=$?
    [ $rc = 0 ] || bad "$(basename "$tool") --help: exit $rc"
    echo "$out" | grep -q "Usage" || bad "$(basename "$tool") --help prints no usage"
    "$tool" -h >>"$work/quiet" 2>&1 || bad "$(basename "$tool") -h: exit $?"
    "$tool" --version | grep -q "[0-9]\.[0-9]" || bad "$(basename "$tool") --version"
done

# --stats: a line per (dtype, class) of the source's tensors, the tensor
# counts add up, and bf16 data packs within 1% of its order-0 bound
gen --size 4M --all-dtypes --seed 21 "$e/stats.safetensors"
"$PACK" -q --stats "$e/stats.safetensors" "$e/stats.wcodec" >"$e/stats.txt" ||
    bad "pack --stats: exit $?"
"$PY" - "$e/stats.safetensors" "$e/stats.txt" <<'PYEOF' || bad "pack --stats output: $(cat "$e/stats.txt")"
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = {k: v for k, v in json.loads(raw[8:8 + n]).items() if k != "__metadata__"}
want = {}
for v in hdr.values():
    if v["data_offsets"][1] > v["data_offsets"][0]:
        want[v["dtype"]] = want.get(v["dtype"], 0) + 1
lines = [l.split() for l in open(sys.argv[2]).read().splitlines()]
assert lines and lines[0][:2] == ["DTYPE", "CLASS"], lines[:1]
got = {}
for l in lines[1:]:
    if l[0] != "(all)" and l[1] != "(all)":
        got[l[0]] = got.get(l[0], 0) + int(l[2])
assert got == want, (got, want)
bf = [l for l in lines if l[0] == "BF16" and l[1] == "(all)"][0]
bound, packed = float(bf[5].rstrip("%")), float(bf[6].rstrip("%"))
assert 50 < bound < 80 and packed <= bound + 1, (bound, packed)
PYEOF

echo "$n_rt round trips"
if [ $fail = 0 ]; then
    echo "PASS"
fi
exit $fail
