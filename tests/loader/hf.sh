#!/bin/sh
# The Hugging Face cache, packed and served as it is, read by the loaders
# users run: PyTorch (Debian's python3-torch), transformers (< 4.47, the
# last line for that torch) and safetensors.torch.
#
# A hub-layout cache (models--ORG--NAME/{blobs,snapshots/REV,refs}) of two
# repos: a tiny Llama made here (random weights, transformers' LlamaConfig,
# save_pretrained sharded) and corpus files. It is packed, and the test
# checks, against the original cache:
#  - the packed cache is <= 0.72 of its size;
#  - through the mount every snapshot entry is a symbolic link with the
#    original target text and reads back the original bytes (cmp);
#  - from_pretrained(repo id) with HF_HUB_CACHE at the mount and
#    HF_HUB_OFFLINE=1 gives logits equal (bytes) to those from the original;
#    safetensors.torch.load_file and safe_open(..., "pt") slices likewise;
#  - wcodec-unpack gives the input tree back (diff -r --no-dereference);
#  - after a new revision is added, --update packs only its new blobs (the
#    others are reused), and the remounted cache loads both revisions;
#  - after the old revision is deleted, --update --delete removes it and
#    unpack gives the cache back again.
# Needs /dev/fuse, python3-torch (scripts/install-deps.sh) and PyPI for a
# venv with transformers and safetensors (made once, under the build folder
# or at $WCODEC_HF_VENV); skips with the reason where one is missing.
. "$WCODEC_SOURCE_ROOT/tests/mount/common.sh"
need_fuse
need_python
HERE=$WCODEC_SOURCE_ROOT/tests/loader

$PY -c 'import torch' 2>>"$TMP/quiet" ||
    skip "PyTorch is not installed for $PY (Debian's python3-torch: scripts/install-deps.sh installs it)"
VENV=${WCODEC_HF_VENV:-${WCODEC_BUILD_ROOT:-$TMP}/hf-venv}
VPY=$VENV/bin/python
if ! "$VPY" -c 'import torch, transformers, safetensors.torch' 2>>"$TMP/quiet"; then
    note "creating $VENV (system site packages for torch) with transformers<4.47, safetensors from PyPI"
    $PY -m venv --system-site-packages "$VENV" >>"$TMP/quiet" 2>&1 ||
        skip "python3 -m venv failed (python3-venv missing?)"
    # Never PyPI's torch (GBs of CUDA libraries): Debian's is the one seen.
    "$VENV/bin/pip" install -q --disable-pip-version-check 'transformers<4.47' safetensors \
        >"$TMP/pip.log" 2>&1 || skip "pip install from PyPI failed: $(tail -n 1 "$TMP/pip.log")"
fi
"$VPY" -c 'import torch, transformers, safetensors.torch' 2>"$TMP/import.log" ||
    skip "torch/transformers do not import: $(tail -n 1 "$TMP/import.log")"
note "$("$VPY" -c 'import torch, transformers, safetensors; print("torch", torch.__version__, "from", torch.__file__, "| transformers", transformers.__version__, "| safetensors", safetensors.__version__)')"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false

ORIG=$TMP/hub
PACKED=$TMP/hub.packed
MNT=$TMP/mnt
LLAMA=org/tiny-llama

# size SRC: bytes of its files and symbolic links (folders not counted).
size() { find "$1" \( -type f -o -type l \) -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# --- the cache: a sharded tiny Llama and a repo of corpus files ---------------
"$VPY" "$HERE/hf.py" llama "$TMP/llama1" 5 || { fail "make the tiny Llama"; finish; }
REV1=$($PY "$HERE/hubcache.py" add "$ORIG" $LLAMA "$TMP/llama1")
mkdir -p "$TMP/corpus"
printf '# corpus files as a hub repo\n' >"$TMP/corpus/README.md"
n=0
for f in TinyPeLLM_tinypellm_model.bf16 kunalkohli_SLM_4096_ckpt.bf16 \
         plctlab_stories260K.bf16 saltyduckegg_llama2xs_model.bf16 \
         kunalkohli_SLM_4096_ckpt; do
    [ -f "$CORPUS/$f.safetensors" ] && cp "$CORPUS/$f.safetensors" "$TMP/corpus/" && n=$((n + 1))
done
[ $n -gt 0 ] || note "no corpus at $CORPUS: the second repo holds a README only"
$PY "$HERE/hubcache.py" add "$ORIG" corpus/files "$TMP/corpus" >>"$TMP/quiet"
# The original's logits first: loading may write to the cache (version.txt,
# .no_exist/), and what is packed must be what is compared.
HF_HUB_CACHE=$ORIG "$VPY" "$HERE/hf.py" logits $LLAMA "$TMP/ref1" || fail "from_pretrained from the original cache"
nsnap=$(find "$ORIG"/*/snapshots -type l | wc -l)
note "cache: $(size "$ORIG") bytes, $(find "$ORIG"/*/blobs -type f | wc -l) blobs, $nsnap snapshot links"

# --- pack ----------------------------------------------------------------------
"$WCODEC_PACK" -q "$ORIG" "$PACKED" || fail "wcodec-pack"
a=$(size "$ORIG") b=$(size "$PACKED")
ratio=$(echo "$b $a" | awk '{printf "%.4f", $1 / $2}')
note "packed: $b of $a bytes = $ratio"
echo "$ratio" | awk '{exit !($1 <= 0.72)}' || fail "packed cache is $ratio of its size (> 0.72)"
# is_st FILE / is_wc FILE: a safetensors file ('{' after the length) / a
# container (the magic) by its first bytes.
is_st() { [ "$(head -c 9 "$1" | tail -c 1)" = "{" ]; }
is_wc() { head -c 8 "$1" | grep -q WCODEC; }
nst=0 nwc=0
for f in $(cd "$ORIG" && find . -path '*/blobs/*' -type f); do
    is_st "$ORIG/$f" || continue
    nst=$((nst + 1))
    if is_wc "$PACKED/$f"; then nwc=$((nwc + 1)); else fail "$f: not packed as a container"; fi
done
note "$nwc of $nst safetensors blobs packed as containers under their own names"

# --- through the mount: links, bytes, loaders ----------------------------------
mount_start "$PACKED" "$MNT" || { fail "mount"; finish; }
links=0
for l in $(cd "$ORIG" && find . -path '*/snapshots/*' -type l); do
    if [ ! -L "$MNT/$l" ]; then
        fail "$l is not a symbolic link through the mount"
    elif [ "$(readlink "$MNT/$l")" != "$(readlink "$ORIG/$l")" ]; then
        fail "$l: link target differs through the mount"
    elif ! cmp -s "$MNT/$l" "$ORIG/$l"; then
        fail "$l: bytes through the mount differ from the original"
    else
        links=$((links + 1))
    fi
done
[ $links -eq "$nsnap" ] && note "all $links snapshot entries are links reading the original bytes"
HF_HUB_CACHE=$MNT "$VPY" "$HERE/hf.py" logits $LLAMA "$TMP/mnt1" || fail "from_pretrained through the mount"
cmp -s "$TMP/ref1" "$TMP/mnt1" || fail "logits through the mount differ from the original cache's"
[ -s "$TMP/ref1" ] && cmp -s "$TMP/ref1" "$TMP/mnt1" && note "logits equal ($(wc -c <"$TMP/ref1") bytes)"
"$VPY" "$HERE/hf.py" tensors "$ORIG" "$MNT" || fail "load_file / safe_open through the mount"
mount_stop "$MNT" "$MOUNT_PID"

# --- the same loaders with -o direct_io: they mmap, which Linux 6.6+ allows
if kernel_at_least 6 6; then
    mount_start "$PACKED" "$MNT" -o direct_io || { fail "mount -o direct_io"; finish; }
    HF_HUB_CACHE=$MNT "$VPY" "$HERE/hf.py" logits $LLAMA "$TMP/mnt1d" ||
        fail "from_pretrained through the mount, -o direct_io"
    cmp -s "$TMP/ref1" "$TMP/mnt1d" || fail "logits through the direct_io mount differ from the original cache's"
    "$VPY" "$HERE/hf.py" tensors "$ORIG" "$MNT" || fail "load_file / safe_open through the mount, -o direct_io"
    mount_stop "$MNT" "$MOUNT_PID"
    note "-o direct_io: from_pretrained, load_file and safe_open give the same tensors"
else
    note "-o direct_io: skipped (Linux $(uname -r) refuses mmap of direct_io files before 6.6)"
fi

# --- unpack ----------------------------------------------------------------------
"$WCODEC_UNPACK" -q "$PACKED" "$TMP/unpacked" || fail "wcodec-unpack"
diff -r --no-dereference "$ORIG" "$TMP/unpacked" >"$TMP/diff" 2>&1 ||
    { fail "unpacked cache differs: $(head -n 5 "$TMP/diff")"; }
rm -rf "$TMP/unpacked"

# --- a new revision: --update packs only its new blobs --------------------------
"$VPY" "$HERE/hf.py" llama "$TMP/llama2" 5 "$TMP/llama1" || fail "make revision 2"
REV2=$($PY "$HERE/hubcache.py" add "$ORIG" $LLAMA "$TMP/llama2")
HF_HUB_CACHE=$ORIG "$VPY" "$HERE/hf.py" logits $LLAMA "$TMP/ref2" || fail "from_pretrained rev 2, original"
new=$(cd "$ORIG" && for f in */blobs/*; do [ -e "$PACKED/$f" ] || echo "$f"; done)
newst=$(for f in $new; do is_st "$ORIG/$f" && echo "$f"; done)
old=$nwc
note "revision 2: new blobs $(echo $new | wc -w) (safetensors: $(echo $newst | wc -w)), containers before: $old"
"$WCODEC_PACK" --update "$ORIG" "$PACKED" >"$TMP/update.log" 2>&1 || fail "wcodec-pack --update"
grep -v reused "$TMP/update.log"
want="update: $(echo $newst | wc -w) container"
grep -q "^$want.* packed, $old reused" "$TMP/update.log" ||
    fail "--update should pack $(echo $newst | wc -w) new blob(s) and reuse $old: $(tail -n 1 "$TMP/update.log")"
packed=$(grep ' -> ' "$TMP/update.log" | grep -v 'reused' | sed 's| -> .*||; s|^.*/hub/||' | sort)
[ "$packed" = "$(echo "$newst" | tr ' ' '\n' | sort)" ] ||
    fail "--update packed [$packed], the new blobs are [$newst]"
mount_start "$PACKED" "$MNT" || { fail "remount"; finish; }
HF_HUB_CACHE=$MNT "$VPY" "$HERE/hf.py" logits $LLAMA "$TMP/mnt2" || fail "from_pretrained rev 2, mount"
HF_HUB_CACHE=$MNT "$VPY" "$HERE/hf.py" logits $LLAMA "$TMP/mnt1b" "$REV1" || fail "from_pretrained rev 1, mount"
cmp -s "$TMP/ref2" "$TMP/mnt2" || fail "revision 2 logits through the mount differ"
cmp -s "$TMP/ref1" "$TMP/mnt1b" || fail "revision 1 logits through the updated mount differ"
cmp -s "$TMP/ref1" "$TMP/ref2" && fail "revision 2 gives revision 1's logits (the test did not change the model)"
mount_stop "$MNT" "$MOUNT_PID"

# --- the old revision deleted: --update --delete follows ------------------------
repo=$ORIG/models--org--tiny-llama
rm -rf "$repo/snapshots/$REV1"
for b in "$repo"/blobs/*; do
    find "$repo/snapshots" -lname "*/$(basename "$b")" | grep -q . || rm "$b"
done
"$WCODEC_PACK" --update --delete "$ORIG" "$PACKED" >"$TMP/delete.log" 2>&1 ||
    fail "wcodec-pack --update --delete"
tail -n 1 "$TMP/delete.log"
grep -q "^update: 0 containers packed.*removed" "$TMP/delete.log" || fail "--delete: $(tail -n 1 "$TMP/delete.log")"
"$WCODEC_UNPACK" -q "$PACKED" "$TMP/unpacked" || fail "wcodec-unpack after --delete"
diff -r --no-dereference "$ORIG" "$TMP/unpacked" >"$TMP/diff" 2>&1 ||
    fail "unpacked cache differs after --update --delete: $(head -n 5 "$TMP/diff")"
finish
