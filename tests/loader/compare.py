"""Compare every tensor (and every other file) of a model tree read through
the mount with the original, using the safetensors package as loaders do.

numpy has no bf16 or fp8 types: ml_dtypes provides them, and safetensors'
numpy backend finds bf16 by name once ml_dtypes is imported, fp8 as numpy
attributes, which are set here. So every safetensors dtype is read."""
import os
import sys

import ml_dtypes
import numpy as np

np.float8_e4m3fn = ml_dtypes.float8_e4m3fn
np.float8_e5m2 = ml_dtypes.float8_e5m2
from safetensors import safe_open  # noqa: E402


def main(orig, mnt):
    files = tensors = 0
    dtypes = set()
    bad = []
    for root, _, names in os.walk(orig):
        for name in sorted(names):
            a = os.path.join(root, name)
            b = os.path.join(mnt, os.path.relpath(a, orig))
            files += 1
            if not name.endswith(".safetensors"):
                if open(a, "rb").read() != open(b, "rb").read():
                    bad.append(f"{b}: differs")
                continue
            with safe_open(a, framework="np") as fa, safe_open(b, framework="np") as fb:
                if fa.metadata() != fb.metadata():
                    bad.append(f"{b}: metadata differs")
                if list(fa.keys()) != list(fb.keys()):
                    bad.append(f"{b}: tensor names differ")
                    continue
                for k in fa.keys():
                    x, y = fa.get_tensor(k), fb.get_tensor(k)
                    tensors += 1
                    dtypes.add(str(x.dtype))
                    if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                        bad.append(f"{b}: tensor {k} differs")
    for m in bad[:20]:
        print("DIFF", m)
    print(f"{files} files, {tensors} tensors compared, dtypes: {' '.join(sorted(dtypes))}")
    return 1 if bad or tensors == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
