#!/bin/sh
# make-corpus.sh BUILD - regenerate the committed seed corpus in
# tests/fuzz/corpus/<target>/ from tiny generated models:
#   container    real containers (4 KiB chunks, every codec and plane mode)
#   safetensors  the tiny source models and hand-written edge-case headers
#   rans         valid rANS blocks in the fz_rans layout (fuzz-mkseeds)
#   chunk        real chunk parameters and payloads in the fz_chunk layout
# BUILD is a configured build folder (wcodec-pack and fuzz-mkseeds are
# built there). Deterministic: same inputs, same files.
set -eu
B=$(cd "${1:?usage: make-corpus.sh BUILD}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
C=$HERE/corpus
PY=/usr/bin/python3
ninja -C "$B" src/cli/wcodec-pack tests/fuzz/fuzz-mkseeds >>"$T/quiet"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# Tiny hand-made models: one tensor per interesting plane layout, so each
# container is a few KiB.
$PY - "$T" <<'PYEOF'
import json, struct, sys
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(6)

def bf16(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)

def write(name, tensors, gap=b"", meta=True):
    hdr, data = {}, b""
    if meta:
        hdr["__metadata__"] = {"format": "pt"}
    for tname, dtype, shape, arr in tensors:
        b = arr.tobytes()
        hdr[tname] = {"dtype": dtype, "shape": shape,
                      "data_offsets": [len(data), len(data) + len(b)]}
        data += b + gap
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(f"{out}/{name}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)

g = lambda n, s=0.02: (rng.standard_normal(n) * s).astype(np.float32)
write("bf16", [("w", "BF16", [20, 32], bf16(g(640)))])
write("mixed", [
    ("a.bf16", "BF16", [640], bf16(g(640))),
    ("b.f32", "F32", [300], g(300)),
    ("c.f16", "F16", [600], g(600).astype(np.float16)),
    ("d.i8", "I8", [1500], rng.integers(-3, 4, 1500).astype(np.int8)),
    ("e.f64", "F64", [160], g(160).astype(np.float64)),
    ("f.zero", "U8", [2048], np.zeros(2048, np.uint8)),
    ("g.i64", "I64", [200], rng.integers(0, 9, 200).astype(np.int64)),
    ("h.small", "F32", [3], g(3)),
    ("i.empty", "BF16", [0], np.zeros(0, np.uint16)),
    ("j.scalar", "I32", [], np.array([7], np.int32)),
], gap=b"\0" * 8)
write("f32multi", [("w", "F32", [5000], g(5000, 1.0))], meta=False)
write("random", [("r", "BF16", [3000],
                  rng.integers(0, 65536, 3000).astype(np.uint16))])
# JOINT with element counts that leave unused bits in the last packed byte
# of a chunk: one chunk of 999, then chunks of 2048 and 953. The top
# mantissa bit follows the exponent, so JOINT wins even this small.
def joint_w(n):
    k = rng.integers(-8, -3, n)
    m = np.where(k % 2 == 0, 1.0, 1.5) + rng.random(n) * 0.5
    return bf16(np.ldexp(m, k) * rng.choice([-1.0, 1.0], n))
write("uneven-joint", [("a", "BF16", [999], joint_w(999)),
                       ("b", "BF16", [3001], joint_w(3001))], gap=b"\0" * 8)
PYEOF
GEN="$PY $ROOT/scripts/wcodec-genmodel -q --hidden 32 --intermediate 32 \
     --layers 1 --vocab 32 --heads 2 --kv-heads 1 --all-dtypes"
$GEN --seed 1 --dtype BF16 "$T/gen-bf16.safetensors" 2>>"$T/quiet"
$GEN --seed 2 --dtype F8_E4M3 "$T/gen-fp8.safetensors" 2>>"$T/quiet"

rm -rf "$C"
mkdir -p "$C/container" "$C/safetensors" "$C/rans" "$C/chunk"
for f in "$T"/*.safetensors; do
    n=$(basename "$f" .safetensors)
    "$B/src/cli/wcodec-pack" -q -j 1 -c 4K "$f" "$C/container/$n.wcodec"
    # only the header matters to the parser (fz_safetensors also parses it
    # as the start of a larger file): keep the seeds small
    $PY -c 'import struct,sys; d=open(sys.argv[1],"rb").read()
open(sys.argv[2],"wb").write(d[:8+struct.unpack("<Q",d[:8])[0]+16])' \
        "$f" "$C/safetensors/$n.safetensors"
done
# one with the default chunk size, and an empty model
"$B/src/cli/wcodec-pack" -q -j 1 "$T/bf16.safetensors" "$C/container/bf16-256k.wcodec"
printf '\010\0\0\0\0\0\0\0{}      ' > "$T/empty.safetensors"
"$B/src/cli/wcodec-pack" -q -j 1 "$T/empty.safetensors" "$C/container/empty.wcodec"

# Header edge cases for the parser (valid and not).
st() { # st NAME JSON [DATA-BYTES]
    $PY - "$C/safetensors/$1" "$2" "${3:-0}" <<'PYEOF'
import struct, sys
path, js, nd = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
open(path, "wb").write(struct.pack("<Q", len(js)) + js + bytes(nd))
PYEOF
}
st h-empty '{}'
st h-meta '{"__metadata__":{"a":"b"}}'
st h-scalar '{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}' 4
st h-zero '{"x":{"dtype":"BF16","shape":[3,0],"data_offsets":[0,0]}}'
st h-gap '{"x":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}' 8
st h-overlap '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}' 8
st h-shape '{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}' 16
st h-dtype '{"x":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}' 1
st h-past '{"x":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}}' 8
st h-big '{"x":{"dtype":"U64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}' 8
st h-neg '{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}' 1
st h-dup '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' 1
st h-array '[1,2,3]'
st h-trunc '{"x":{"dtype":"U8","shape":[1],"data_off'
printf '\377\377\377\377\377\377\377\377{}' > "$C/safetensors/h-hugelen"

"$B/tests/fuzz/fuzz-mkseeds" rans "$C/rans"
"$B/tests/fuzz/fuzz-mkseeds" chunk "$C/chunk" "$C"/container/*.wcodec
du -sh "$C"/*
