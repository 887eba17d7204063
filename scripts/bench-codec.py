#!/usr/bin/env python3
"""Compression and CPU decode benchmark: wcodec vs zstd vs ZipNN, same run.

For every file of the corpus (../shared/corpus) and generated LLM-shaped
files of each dtype, measure side by side:
  wcodec   packed ratio, pack rate (-j threads), decode GB/s on one thread
           (wcodec-bench: every chunk decoded and checksum-verified, best of 5)
  zstd     ratio and single-thread decode GB/s from `zstd -b` (in memory)
  zipnn    ratio and single-thread decode GB/s through its Python API
           (threads=1), when the zipnn package is importable
Ratios are packed/original. Run from the repo with the venv's python
(scripts/setup-venv.sh) for ZipNN; plain python3 skips it.

Usage: scripts/bench-codec.py [--build build] [--corpus DIR] [--gen-size 256M]
                              [--zstd-level-corpus 19] [--out report.md]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import numpy  # noqa: F401  (the generator needs it)
    PY_NUMPY = sys.executable
except ImportError:
    PY_NUMPY = "/usr/bin/python3"  # Debian's python3-numpy
ROOT = os.path.dirname(HERE)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def zstd_bench(path, level):
    """(ratio, decode GB/s) from zstd's in-memory benchmark, one thread."""
    out = run(["zstd", f"-b{level}", "-i3", "-T1", path]).stderr + \
        run(["zstd", f"-b{level}", "-i3", "-T1", path]).stdout
    # last line: "...: SIZE -> CSIZE (xR), C MB/s, D MB/s"
    m = re.findall(r"(\d+) ->\s+(\d+) \(x?([\d.]+)\),\s*([\d.]+) MB/s,\s*([\d.]+) MB/s", out)
    if not m:
        return None, None
    size, csize, _, _, dspeed = m[-1]
    return int(csize) / int(size), float(dspeed) / 1000.0


ZIPNN_DTYPE = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


def zipnn_bench(path, dtype):
    try:
        from zipnn import ZipNN
    except Exception:
        return None, None, "zipnn not installed"
    zdt = ZIPNN_DTYPE.get(dtype)
    if zdt is None:
        # ZipNN has no fp8/int8 mode: treat the bytes as bf16 pairs, which
        # is what a user of its byte API would do; say so in the table.
        zdt = "bfloat16"
    data = open(path, "rb").read()
    z = ZipNN(input_format="byte", bytearray_dtype=zdt, threads=1)
    # ZipNN's compress rewrites its input buffer in place: give it a copy.
    comp = z.compress(bytes(bytearray(data)))
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        out = z.decompress(comp)
        best = min(best, time.perf_counter() - t)
    if bytes(out) != data:
        return None, None, "zipnn round trip FAILED"
    return len(comp) / len(data), len(data) / best / 1e9, ""


def wcodec_bench(build, path, tmp, threads):
    dst = os.path.join(tmp, os.path.basename(path) + ".wcodec")
    t = time.perf_counter()
    run([os.path.join(build, "src", "cli", "wcodec-pack"), "-q", "-f", "-j", str(threads),
         path, dst])
    pack_s = time.perf_counter() - t
    out = run([os.path.join(build, "bench", "wcodec-bench"), dst, "5"]).stdout.split()
    size, packed = int(out[0]), int(out[1])
    unp = dst + ".out"
    run([os.path.join(build, "src", "cli", "wcodec-unpack"), "-q", "-f", dst, unp])
    same = subprocess.run(["cmp", "-s", path, unp]).returncode == 0
    os.unlink(unp)
    os.unlink(dst)
    return packed / size, size / pack_s / 1e6, float(out[3]), same


def dtype_of(path):
    name = os.path.basename(path)
    for d in ("F8_E4M3", "F8_E5M2", "BF16", "F16", "F32", "I8"):
        if f".{d}." in name or f"-{d}." in name:
            return d
    return "BF16" if ".bf16." in name else "F32"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus"))
    ap.add_argument("--gen-size", default="256M")
    ap.add_argument("--gen-dtypes", default="BF16,F16,F32,F8_E4M3,F8_E5M2,I8")
    ap.add_argument("--zstd-level-corpus", type=int, default=19)
    ap.add_argument("--zstd-level-gen", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-corpus", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="wcodec-bench-")
    files = []
    if not a.no_corpus and os.path.isdir(a.corpus):
        files += [(os.path.join(a.corpus, f), a.zstd_level_corpus)
                  for f in sorted(os.listdir(a.corpus)) if f.endswith(".safetensors")]
    for d in filter(None, a.gen_dtypes.split(",")):
        p = os.path.join(tmp, f"gen-{d}.safetensors")
        run([PY_NUMPY,
             os.path.join(HERE, "wcodec-genmodel"), "-q", "--dtype", d,
             "--size", a.gen_size, "--seed", "1", p])
        files.append((p, a.zstd_level_gen))

    rows = []
    hdr = ("| file | dtype | MB | wcodec ratio | zstd ratio (level) | zipnn ratio "
           "| wcodec pack MB/s | wcodec dec GB/s | zstd dec GB/s | zipnn dec GB/s "
           "| wcodec/zstd dec | exact |")
    print(hdr)
    print("|" + "---|" * 12)
    try:
        for path, zl in files:
            dt = dtype_of(path)
            wr, wpack, wdec, same = wcodec_bench(a.build, path, tmp, a.threads)
            zr, zdec = zstd_bench(path, zl)
            nr, ndec, note = zipnn_bench(path, dt)
            f = lambda v, fmt: (fmt % v) if v is not None else "n/a"
            line = (f"| {os.path.basename(path)} | {dt} | {os.path.getsize(path)/1e6:.1f} "
                    f"| {wr:.4f} | {f(zr, '%.4f')} ({zl}) | {f(nr, '%.4f')}{(' ' + note) if note else ''} "
                    f"| {wpack:.0f} | {wdec:.2f} | {f(zdec, '%.2f')} | {f(ndec, '%.2f')} "
                    f"| {f(wdec / zdec if zdec else None, '%.1fx')} | {'yes' if same else 'NO'} |")
            print(line, flush=True)
            rows.append(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(hdr + "\n" + "|" + "---|" * 12 + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
