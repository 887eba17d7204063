#!/bin/sh
# A real loader through the mount: the Python safetensors package (numpy
# framework, ml_dtypes for bf16 and fp8) reads every tensor of every corpus
# file and of generated models of every dtype from wcodec-mount, and each is
# compared with the same tensor read from the original file.
# Needs /dev/fuse and PyPI (a venv of the test's own under the build
# folder); skips where either is missing.
. "$WCODEC_SOURCE_ROOT/tests/mount/common.sh"
need_fuse
need_python

VENV=${WCODEC_BUILD_ROOT:-$TMP}/loader-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import safetensors, numpy, ml_dtypes' 2>>"$TMP/quiet"; then
    note "creating $VENV with safetensors, numpy, ml_dtypes from PyPI"
    $PY -m venv "$VENV" >>"$TMP/quiet" 2>&1 || skip "python3 -m venv failed (python3-venv missing?)"
    "$VENV/bin/pip" install -q --disable-pip-version-check safetensors numpy ml_dtypes \
        >"$TMP/pip.log" 2>&1 || skip "pip install from PyPI failed: $(tail -n 1 "$TMP/pip.log")"
fi

ORIG=$TMP/orig
mkdir -p "$ORIG/corpus"
if [ -d "$CORPUS" ]; then
    for f in "$CORPUS"/*.safetensors; do ln -s "$f" "$ORIG/corpus/"; done
else
    note "no corpus at $CORPUS: generated models only"
fi
for d in BF16 F16 F32 F8_E4M3 F8_E5M2 I8; do
    $PY "$GENMODEL" -q --preset tiny --all-dtypes --shards 2 --dtype $d \
        --seed 11 "$ORIG/gen-$d" || fail "genmodel $d"
done

# -L: the corpus files are links leaving the tree, packed as files.
"$WCODEC_PACK" -q -L "$ORIG" "$TMP/packed" || fail "wcodec-pack"
mount_start "$TMP/packed" "$TMP/mnt" || { fail "mount"; finish; }

"$VENV/bin/python" "$WCODEC_SOURCE_ROOT/tests/loader/compare.py" "$ORIG" "$TMP/mnt" ||
    fail "tensors read through the mount differ from the originals"

mount_stop "$TMP/mnt" "$MOUNT_PID"
finish
