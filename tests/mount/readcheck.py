#!/usr/bin/python3
"""readcheck.py - read files through a wcodec mount the ways loaders do and
compare with the originals. Standard library only.

  readcheck.py random  ORIG MOUNTED [--count N] [--seed S]
      preads at random offsets and lengths (0 .. 3 MiB, some past the end)
  readcheck.py mmap    ORIG MOUNTED
      the whole file through mmap, MAP_PRIVATE then MAP_SHARED, read in
      page-fault order (forward, then random pages)
  readcheck.py concurrent --readers N ORIG MOUNTED [ORIG MOUNTED ...]
      N threads at once, reader i on pair i % pairs, each sequential from
      its own starting offset with its own request size
  readcheck.py blocks  ORIG MOUNTED --block B
      every B-byte block on its own; prints the blocks that fail with EIO
      as "EIO first_block last_block" and fails on any wrong byte or other
      error

Page cache of the mounted file is dropped first (posix_fadvise DONTNEED),
so reads reach the daemon even when the file was read before.
Exit status 0 when everything matched.
"""

import argparse
import errno
import mmap
import os
import random
import sys
import threading


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def load(path):
    with open(path, "rb") as f:
        return f.read()


def cmd_random(a):
    want = load(a.orig)
    drop_cache(a.mounted)
    rng = random.Random(a.seed)
    n = len(want)
    fd = os.open(a.mounted, os.O_RDONLY)
    bad = 0
    try:
        for _ in range(a.count):
            off = rng.randrange(0, n + 4096)
            ln = rng.choice([1, 7, 4096, rng.randrange(1, 1 << 16),
                             rng.randrange(1, 3 << 20)])
            got = os.pread(fd, ln, off)
            if got != want[off:off + ln]:
                print(f"{a.mounted}: pread({ln}, {off}) differs "
                      f"({len(got)} bytes)")
                bad += 1
    finally:
        os.close(fd)
    return bad


def cmd_mmap(a):
    want = load(a.orig)
    bad = 0
    for flag, name in ((mmap.MAP_PRIVATE, "MAP_PRIVATE"),
                       (mmap.MAP_SHARED, "MAP_SHARED")):
        drop_cache(a.mounted)
        with open(a.mounted, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, flags=flag, prot=mmap.PROT_READ)
            try:
                if len(m) != len(want):
                    print(f"{name}: length {len(m)} != {len(want)}")
                    bad += 1
                    continue
                rng = random.Random(len(want))
                pages = list(range(0, len(want), 4096))
                rng.shuffle(pages)
                for p in pages[:2000]:
                    if m[p:p + 4096] != want[p:p + 4096]:
                        print(f"{name}: page at {p} differs")
                        bad += 1
                        break
                if m[:] != want:
                    print(f"{name}: content differs")
                    bad += 1
            finally:
                m.close()
    return bad


def cmd_concurrent(a):
    pairs = list(zip(a.files[0::2], a.files[1::2]))
    if not pairs or len(a.files) % 2:
        sys.exit("concurrent: expected ORIG MOUNTED pairs")
    wants = {o: load(o) for o, _ in pairs}
    for _, m in pairs:
        drop_cache(m)
    errors = []
    start = threading.Barrier(a.readers)

    def reader(i):
        orig, mnt = pairs[i % len(pairs)]
        want = wants[orig]
        step = (64 << 10) << (i % 5)              # 64 KiB .. 1 MiB
        off = (len(want) * i // a.readers) // 4096 * 4096
        fd = os.open(mnt, os.O_RDONLY)
        try:
            start.wait()
            # The whole file once: from off to the end, then up to off.
            for lo, hi in ((off, len(want)), (0, off)):
                pos = lo
                while pos < hi:
                    n = min(step, hi - pos)
                    if os.pread(fd, n, pos) != want[pos:pos + n]:
                        errors.append(f"reader {i}: {mnt} at {pos} differs")
                        return
                    pos += n
        except OSError as e:
            errors.append(f"reader {i}: {mnt}: {e}")
        finally:
            os.close(fd)

    ts = [threading.Thread(target=reader, args=(i,))
          for i in range(a.readers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for e in errors:
        print(e)
    return len(errors)


def cmd_blocks(a):
    want = load(a.orig)
    drop_cache(a.mounted)
    fd = os.open(a.mounted, os.O_RDONLY)
    failed = []
    bad = 0
    try:
        for b in range(0, (len(want) + a.block - 1) // a.block):
            off = b * a.block
            end = min(off + a.block, len(want))
            # Each block on its own, its pages not cached (the kernel may
            # still read a little around it). A read that meets the damage
            # may first come back short: what it returns must be right.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            pos = off
            try:
                while pos < end:
                    got = os.pread(fd, end - pos, pos)
                    if not got or got != want[pos:pos + len(got)]:
                        print(f"block {b}: wrong bytes at {pos}")
                        bad += 1
                        break
                    pos += len(got)
            except OSError as e:
                if e.errno != errno.EIO:
                    print(f"block {b}: {e}")
                    bad += 1
                failed.append(b)
    finally:
        os.close(fd)
    if failed:
        print(f"EIO {failed[0]} {failed[-1]} {len(failed)}")
    return bad


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random")
    r.add_argument("orig")
    r.add_argument("mounted")
    r.add_argument("--count", type=int, default=300)
    r.add_argument("--seed", type=int, default=1)
    m = sub.add_parser("mmap")
    m.add_argument("orig")
    m.add_argument("mounted")
    c = sub.add_parser("concurrent")
    c.add_argument("--readers", type=int, default=8)
    c.add_argument("files", nargs="+")
    b = sub.add_parser("blocks")
    b.add_argument("orig")
    b.add_argument("mounted")
    b.add_argument("--block", type=int, default=65536)
    a = p.parse_args()
    bad = {"random": cmd_random, "mmap": cmd_mmap,
           "concurrent": cmd_concurrent, "blocks": cmd_blocks}[a.cmd](a)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
