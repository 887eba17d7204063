#!/usr/bin/python3
"""bench-mount-read.py - the readers of scripts/bench-mount.sh.

Reads files and discards the bytes (readinto one reused 1 MiB buffer: no
writes anywhere, little CPU of its own), and prints one line per file
"bytes seconds name" and a last line "TOTAL bytes seconds".

  bench-mount-read.py seq FILE...      the files one after another, in order
  bench-mount-read.py par N FILE...    N threads: with several files each
                                       thread takes the next unread file;
                                       with one file, each reads 1/N of it
  bench-mount-read.py hot FILE...      each file read twice, the kernel's
                                       page cache dropped in between
                                       (root: echo 1 > drop_caches); the
                                       second read is the one timed
  bench-mount-read.py mmap FILE...     safetensors.numpy.load_file of each
                                       file (its default backend mmaps the
                                       file, so the bytes come in through
                                       page faults), then one byte of every
                                       page of every tensor touched (run
                                       with a Python that has safetensors,
                                       numpy and ml_dtypes)
"""
import os
import sys
import threading
import time

BUF = 1 << 20


def read_range(path, start, end, buf):
    fd = os.open(path, os.O_RDONLY)
    try:
        mv = memoryview(buf)
        off = start
        while off < end:
            n = os.preadv(fd, [mv[: min(BUF, end - off)]], off)
            if n <= 0:
                break
            off += n
        return off - start
    finally:
        os.close(fd)


def read_file(path, buf):
    fd = os.open(path, os.O_RDONLY)
    try:
        got = 0
        while True:
            n = os.readv(fd, [buf])
            if n <= 0:
                return got
            got += n
    finally:
        os.close(fd)


def mode_seq(files):
    buf = bytearray(BUF)
    total = 0
    t0 = time.perf_counter()
    for f in files:
        a = time.perf_counter()
        n = read_file(f, buf)
        print(n, "%.6f" % (time.perf_counter() - a), f)
        total += n
    return total, time.perf_counter() - t0


def drop_page_cache():
    """The kernel's page cache only (1): dentries and inodes stay, so a
    FUSE daemon keeps its open files and what it cached."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1")


def mode_hot(files):
    buf = bytearray(BUF)
    total = 0
    spent = 0.0
    for f in files:
        read_file(f, buf)
        drop_page_cache()
        a = time.perf_counter()
        n = read_file(f, buf)
        dt = time.perf_counter() - a
        print(n, "%.6f" % dt, f)
        total += n
        spent += dt
    return total, spent


def mode_par(nthr, files):
    lock = threading.Lock()
    got = [0]
    if len(files) == 1:
        size = os.stat(files[0]).st_size
        step = -(-size // nthr)
        step = -(-step // BUF) * BUF
        jobs = [(files[0], i * step, min(size, (i + 1) * step))
                for i in range(nthr) if i * step < size]
    else:
        jobs = [(f, 0, None) for f in files]

    def worker():
        buf = bytearray(BUF)
        while True:
            with lock:
                if not jobs:
                    return
                f, a, b = jobs.pop(0)
            n = read_file(f, buf) if b is None else read_range(f, a, b, buf)
            with lock:
                got[0] += n

    t0 = time.perf_counter()
    th = [threading.Thread(target=worker) for _ in range(nthr)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return got[0], time.perf_counter() - t0


def mode_mmap(files):
    import ml_dtypes  # numpy learns bfloat16 and the fp8 types
    import numpy as np

    for name in ("float8_e4m3fn", "float8_e5m2"):  # where safetensors looks
        if not hasattr(np, name):
            setattr(np, name, getattr(ml_dtypes, name))
    from safetensors.numpy import load_file

    total = 0
    t0 = time.perf_counter()
    for f in files:
        a = time.perf_counter()
        for t in load_file(f).values():
            # Touch one byte of every page, in case a tensor is a view of
            # the mapping rather than a copy out of it.
            b = t.reshape(-1).view(np.uint8)
            int(b[::4096].sum())
        n = os.stat(f).st_size
        print(n, "%.6f" % (time.perf_counter() - a), f)
        total += n
    return total, time.perf_counter() - t0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode = sys.argv[1]
    if mode == "seq":
        n, t = mode_seq(sys.argv[2:])
    elif mode == "par":
        n, t = mode_par(int(sys.argv[2]), sys.argv[3:])
    elif mode == "mmap":
        n, t = mode_mmap(sys.argv[2:])
    elif mode == "hot":
        n, t = mode_hot(sys.argv[2:])
    else:
        sys.exit(__doc__)
    print("TOTAL", n, "%.6f" % t)


if __name__ == "__main__":
    main()
