#!/bin/sh
# bench-decode.sh - one-core, in-memory decode speed of wcodec against
# `zstd -d` on the same files, side by side in one run (issue 16).
#
#   scripts/bench-decode.sh [--build DIR] [--corpus DIR] [--gen-size 64M]
#                           [--rounds 3] [--work DIR] [--no-zstd19]
#
# Files: every *.safetensors of the corpus (default ../shared/corpus), an
# int8 cast of the corpus OCR model (tessdata, per-row symmetric, as an
# int8 checkpoint stores it: little LZ redundancy), and generated models
# (scripts/wcodec-genmodel) of I8, F8_E4M3 and F16 weights (--gen-size
# each). Each is packed with wcodec-pack; then, per round, wcodec-bench
# (in memory, checksums on, best of 5 passes) and `zstd -b3 -T1` (the
# decompression speed of its own -3 frame of the same file, in memory)
# run back to back, alternating. Figures are medians over the rounds.
# Besides the table, wcodec-bench's per-codec lines (bytes, GB/s, cycles
# per byte at the core clock it measured) are printed for each file, and
# for the I8 files the packed size against `zstd -19` of the same file.
#
# Everything is written under --work (default: a new folder in /tmp), which
# is removed at the end.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=$ROOT/build CORPUS=$ROOT/../shared/corpus GEN=64M ROUNDS=3 WORK= Z19=1
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --corpus) CORPUS=$2; shift 2 ;;
    --gen-size) GEN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --no-zstd19) Z19=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-decode.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
BENCH=$BUILD/wcodec-bench
[ -x "$BENCH" ] || BENCH=$BUILD/bench/wcodec-bench
PACK=$BUILD/wcodec-pack
[ -x "$PACK" ] || PACK=$BUILD/src/cli/wcodec-pack
for p in "$BENCH" "$PACK"; do
    [ -x "$p" ] || { echo "bench-decode.sh: no $p (build first)" >&2; exit 1; }
done
if [ -z "$WORK" ]; then
    WORK=$(mktemp -d /tmp/wcodec-bench-decode.XXXXXX)
else
    mkdir -p "$WORK"
fi
trap 'rm -rf "$WORK"' EXIT
# output to discard goes to a file here, never to a device node
command -v zstd >"$WORK/log" || { echo "bench-decode.sh: needs zstd" >&2; exit 1; }
PY=python3
$PY -c 'import numpy' 2>"$WORK/log" || PY=/usr/bin/python3

# ---- inputs ----
files=""
for f in "$CORPUS"/*.safetensors; do
    [ -f "$f" ] && files="$files $f"
done
ocr=$(ls "$CORPUS"/tessdata*.safetensors 2>"$WORK/log" | grep -v bf16 | head -1 || true)
if [ -n "$ocr" ]; then
    # int8 cast: every F32 tensor of rank >= 2 quantised per row
    # (scale = absmax / 127, round half to even); the rest as it was.
    $PY - "$ocr" "$WORK/ocr-int8.I8.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
src, dst = sys.argv[1], sys.argv[2]
b = open(src, 'rb').read()
hl = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + hl]); data = b[8 + hl:]
meta = h.pop('__metadata__', None)
out, parts, off = {}, [], 0
for k, v in sorted(h.items(), key=lambda kv: kv[1]['data_offsets'][0]):
    s, e = v['data_offsets']; raw = data[s:e]; dt = v['dtype']
    if dt == 'F32' and len(v['shape']) >= 2 and e > s:
        a = np.frombuffer(raw, '<f4').reshape(v['shape'][0], -1)
        sc = np.abs(a).max(axis=1, keepdims=True) / 127.0
        sc[sc == 0] = 1
        raw = np.clip(np.rint(a / sc), -127, 127).astype(np.int8).tobytes()
        dt = 'I8'
    out[k] = {'dtype': dt, 'shape': v['shape'], 'data_offsets': [off, off + len(raw)]}
    parts.append(raw); off += len(raw)
if meta is not None:
    out = {'__metadata__': meta, **out}
hj = json.dumps(out, separators=(',', ':')).encode()
hj += b' ' * (-len(hj) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(parts))
EOF
    files="$files $WORK/ocr-int8.I8.safetensors"
fi
for d in I8 F8_E4M3 F16; do
    $PY "$HERE/wcodec-genmodel" -q --size "$GEN" --dtype $d \
        "$WORK/gen-$GEN.$d.safetensors"
    files="$files $WORK/gen-$GEN.$d.safetensors"
done

zstd_speed() { # GB/s of `zstd -d` (its -3 frame), one thread, in memory
    zstd -b3 -i1 -T1 "$1" 2>&1 | tr '\r' '\n' |
        sed -n 's/.*MB\/s, *\([0-9.]*\) MB\/s.*/\1/p' | tail -1 |
        awk '{printf "%.3f", $1 / 1000}'
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

printf '%s\n' "# wcodec-bench vs zstd -b3, one core, in memory, median of $ROUNDS alternating rounds"
rows=$WORK/rows
: >"$rows"
for f in $files; do
    b=$(basename "$f" .safetensors)
    c=$WORK/$b.wcodec
    "$PACK" -q -f "$f" "$c"
    : >"$WORK/w" && : >"$WORK/z"
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        "$BENCH" "$c" 5 >"$WORK/out"
        sed -n 1p "$WORK/out" | awk '{print $4}' >>"$WORK/w"
        zstd_speed "$f" >>"$WORK/z"
        echo >>"$WORK/z"
        r=$((r + 1))
    done
    ratio=$(sed -n 1p "$WORK/out" | awk '{print $3}')
    ws=$(median <"$WORK/w")
    zs=$(grep . "$WORK/z" | median)
    # the codec class holding most bytes, and its cycles per byte
    main=$(sed -n '4,$p' "$WORK/out" | sort -k4 -n | tail -1)
    echo "$b $ratio $ws $zs $(echo "$main" | awk '{print $2, $8}')" >>"$rows"
    echo "## $b"
    sed -n '2,$p' "$WORK/out"
    if [ $Z19 = 1 ] && echo "$b" | grep -q 'I8$'; then
        z19=$(zstd -19 -T1 -c "$f" | wc -c)
        sz=$(wc -c <"$f")
        wz=$(wc -c <"$c")
        echo "$b" "$sz" "$wz" "$z19" | awk '{printf "## %s packs to %.4f, zstd -19 to %.4f (%s)\n", $1, $3 / $2, $4 / $2, $3 <= $4 ? "wcodec smaller" : "ZSTD SMALLER"}'
    fi
done
echo
printf '| %s | %s | %s | %s | %s | %s | %s |\n' file packed "wcodec GB/s" \
    "zstd -d GB/s" ratio "main codec" "its cyc/B"
echo '|---|---:|---:|---:|---:|---|---:|'
awk '{printf "| %s | %.4f | %.2f | %.2f | %.2fx | %s | %.2f |\n", $1, $2, $3, $4, $3 / $4, $5, $6}' "$rows"
