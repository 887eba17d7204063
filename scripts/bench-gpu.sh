#!/bin/sh
# bench-gpu.sh - GPU decode throughput of wcodec on a CUDA machine (H100
# target: >= 1 TB/s of bf16 decoded output, kernels alone).
#
#   scripts/bench-gpu.sh [BUILD_DIR [SIZE_MB]]
#
# 1. wcodec-gpubench: generates one trained-looking model per dtype (bf16,
#    fp16, fp32, fp8, int8; SIZE_MB MiB each, default 2048) in $WORK, packs
#    them (256 KiB chunks), checks every GPU result against the CPU decoder
#    and prints per dtype:
#      kernel GB/s   decode kernels alone, input and output in device memory,
#                    all chunks of the dtype in one batch (thousands of
#                    chunks per launch), best of 10;
#      +hash GB/s    the same with the XXH3-64 verification kernel;
#    and end to end (warm page cache): wcodec_pread_cuda into device memory,
#    GPU and CPU decode into host memory, plain pread + cudaMemcpy of the
#    original file.
# 2. Through wcodec-mount (if built and /dev/fuse is usable): reading each
#    presented .safetensors with --device=cuda, --device=cpu, and the plain
#    original file, with dd (cold mount, warm page cache of the container).
#
# Environment: WORK (default /tmp/wcodec-gpubench), ITERS (10),
# DTYPES (bf16,fp16,fp32,fp8,int8), CHUNK (bytes, 0 = default 256 KiB).
# Needs about 4 x SIZE_MB per dtype of disk in $WORK, and GPU memory for
# input + output of the largest file (2 GiB files: ~6 GiB).
#
# Also worth running on the GPU box:
#   meson test -C BUILD_DIR --suite cuda --print-errorlogs        (parity)
#   WCODEC_CORPUS=/path/to/corpus BUILD_DIR/tests/cuda/check_cuda_parity
#   compute-sanitizer --tool memcheck --error-exitcode 1 BUILD_DIR/tests/cuda/check_cuda_parity
#   compute-sanitizer --tool racecheck --error-exitcode 1 \
#       BUILD_DIR/bench/wcodec-gpubench --size-mb 64 --iters 1 --no-e2e
#   ncu --set full -k regex:wc_k_planes -c 3 BUILD_DIR/bench/wcodec-gpubench \
#       --size-mb 512 --dtypes bf16 --iters 1 --no-e2e
set -eu

BUILD=${1:-build}
SIZE=${2:-2048}
WORK=${WORK:-/tmp/wcodec-gpubench}
ITERS=${ITERS:-10}
DTYPES=${DTYPES:-bf16,fp16,fp32,fp8,int8}
CHUNK=${CHUNK:-0}

if [ ! -x "$BUILD/bench/wcodec-gpubench" ]; then
    echo "bench-gpu: $BUILD/bench/wcodec-gpubench not built (is nvcc found by meson?)" >&2
    exit 1
fi
mkdir -p "$WORK"
if [ -n "$(command -v nvidia-smi)" ]; then
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total \
        --format=csv,noheader || true
fi

echo "== kernels and end to end (wcodec-gpubench) =="
rc=0
"$BUILD/bench/wcodec-gpubench" --dir "$WORK" --size-mb "$SIZE" --dtypes "$DTYPES" \
    --iters "$ITERS" --chunk-size "$CHUNK" || rc=$?
if [ "$rc" = 77 ]; then
    echo "bench-gpu: no usable CUDA GPU" >&2
    exit 77
fi
[ "$rc" = 0 ] || { echo "bench-gpu: wcodec-gpubench failed ($rc)" >&2; exit 1; }

echo "== through the mount =="
MOUNT="$BUILD/src/cli/wcodec-mount"
if [ ! -x "$MOUNT" ] || [ ! -e /dev/fuse ] || ! [ -n "$(command -v fusermount3)" ]; then
    echo "skipped: wcodec-mount, /dev/fuse or fusermount3 missing"
    exit 0
fi

# One folder of containers (hard links to the packed files), one mount point.
SRC="$WORK/mountsrc"
MNT="$WORK/mnt"
rm -rf "$SRC"
mkdir -p "$SRC" "$MNT"
for f in "$WORK"/bench-*-"${SIZE}M-c${CHUNK}.wcodec"; do
    [ -e "$f" ] || continue
    n="$SRC/$(basename "$f" "-c${CHUNK}.wcodec").wcodec"
    ln "$f" "$n" 2>>"$WORK/quiet" || cp "$f" "$n"
done

rate() { # bytes seconds
    awk -v b="$1" -v s="$2" 'BEGIN { printf "%8.2f GB/s", b / s / 1e9 }'
}
readall() { # file -> seconds
    s=$(date +%s.%N)
    python3 "$(dirname "$0")/readall" "$1"
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { print e - s }'
}

for dev in cuda cpu; do
    # Foreground (-f) in the background: the daemon's fork would come after
    # the CUDA runtime was initialised, which CUDA does not support.
    "$MOUNT" -f --device="$dev" -o cache_size=1G "$SRC" "$MNT" 2>"$WORK/mount-$dev.log" &
    pid=$!
    i=0
    while ! mountpoint -q "$MNT" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if ! mountpoint -q "$MNT"; then
        echo "mount --device=$dev failed:"; cat "$WORK/mount-$dev.log"
        kill "$pid" 2>>"$WORK/quiet" || true
        continue
    fi
    for f in "$MNT"/*.safetensors; do
        b=$(stat -c %s "$f")
        t=$(readall "$f")
        printf '%-6s %-40s %s\n' "$dev" "$(basename "$f")" "$(rate "$b" "$t")"
    done
    fusermount3 -u "$MNT"
    wait "$pid" || true
done
for f in "$WORK"/bench-*-"${SIZE}M".safetensors; do
    [ -e "$f" ] || continue
    b=$(stat -c %s "$f")
    t=$(readall "$f")
    printf '%-6s %-40s %s\n' plain "$(basename "$f")" "$(rate "$b" "$t")"
done
