#!/usr/bin/python3
"""faultread.py - readers for the fault and stress tests. Every byte a read
returns is compared with the original; a read may fail (EIO, ENOTCONN, ...)
or come back short when the daemon dies under it, but what it returns must
be right. Standard library only. Prints one summary line
("reads N ok N short N errors N wrong N ...") and exits 1 if any byte was
wrong.

  faultread.py random ORIG MOUNTED [--seconds S] [--seed N]
      random preads (1 B .. 2 MiB, some across the end) until S seconds
      pass or a read fails with other than EIO
  faultread.py blocks ORIG MOUNTED [--alt ALT] [--block B]
      every B-byte block on its own with the page cache dropped; each must
      be EIO or equal ORIG's block (or ALT's: a file replaced while
      mounted may show the old or the new content, never a mix)
  faultread.py stress --threads N --seconds S [--rss-pid PID --rss-max KB]
                      ORIG MOUNTED [ORIG MOUNTED ...]
      N threads for S seconds, each over the files in turn: sequential runs
      (64 KiB .. 2 MiB requests) and random preads, page cache dropped now
      and then so reads reach the daemon; a sampler reads VmRSS of PID every
      0.1 s and fails if it ever exceeds KB
"""

import argparse
import errno
import mmap
import os
import random
import sys
import threading
import time


def mapped(path):
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)


def close(fd):
    try:
        os.close(fd)
    except OSError:  # ENOTCONN from a dead daemon's release
        pass


def drop_cache(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class Count:
    def __init__(self):
        self.lock = threading.Lock()
        self.reads = self.ok = self.short = self.errors = self.wrong = 0
        self.bytes = 0
        self.msgs = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def say(self, m):
        with self.lock:
            if len(self.msgs) < 10:
                self.msgs.append(m)

    def line(self, extra=""):
        return (f"reads {self.reads} ok {self.ok} short {self.short} "
                f"errors {self.errors} wrong {self.wrong} "
                f"MiB {self.bytes >> 20}{extra}")


def check(c, want, got, off, ln, what):
    """One read's result: right bytes (maybe short), or a wrong byte."""
    n = len(want)
    exp = max(0, min(ln, n - off))
    c.add(reads=1, bytes=len(got))
    if got != want[off:off + len(got)]:
        c.add(wrong=1)
        c.say(f"{what}: WRONG BYTES in pread({ln}, {off})")
        return False
    if len(got) < exp:
        c.add(short=1)
    else:
        c.add(ok=1)
    return True


def cmd_random(a):
    want = mapped(a.orig)
    c = Count()
    rng = random.Random(a.seed)
    end = time.monotonic() + a.seconds
    fd = os.open(a.mounted, os.O_RDONLY)
    try:
        while time.monotonic() < end:
            off = rng.randrange(0, len(want) + 4096)
            ln = rng.choice([1, 4096, rng.randrange(1, 1 << 16),
                             rng.randrange(1, 2 << 20)])
            try:
                got = os.pread(fd, ln, off)
            except OSError as e:
                c.add(reads=1, errors=1)
                if e.errno != errno.EIO:
                    c.say(f"stopped by {e.strerror}")
                    break
                continue
            check(c, want, got, off, ln, a.mounted)
            if rng.random() < 0.05:
                drop_cache(fd)
    finally:
        close(fd)
    return c


def cmd_blocks(a):
    want = mapped(a.orig)
    alt = mapped(a.alt) if a.alt else None
    c = Count()
    fd = os.open(a.mounted, os.O_RDONLY)
    seen = {"orig": 0, "alt": 0}
    try:
        for off in range(0, len(want), a.block):
            drop_cache(fd)
            ln = min(a.block, len(want) - off)
            try:
                got = os.pread(fd, ln, off)
            except OSError as e:
                c.add(reads=1, errors=1)
                if e.errno != errno.EIO:
                    c.say(f"block at {off}: {e.strerror}")
                continue
            c.add(reads=1, bytes=len(got))
            if got == want[off:off + len(got)]:
                seen["orig"] += 1
            elif alt is not None and got == alt[off:off + len(got)]:
                seen["alt"] += 1
            else:
                c.add(wrong=1)
                c.say(f"block at {off}: WRONG BYTES ({len(got)} returned)")
                continue
            c.add(ok=1) if len(got) == ln else c.add(short=1)
    finally:
        close(fd)
    return c, f" orig_blocks {seen['orig']} alt_blocks {seen['alt']}"


def cmd_stress(a):
    files = list(zip(a.files[0::2], a.files[1::2]))
    if not files or len(a.files) % 2:
        sys.exit("stress: expected ORIG MOUNTED pairs")
    wants = [mapped(o) for o, _ in files]
    c = Count()
    stop = time.monotonic() + a.seconds
    rss = {"max": 0, "over": 0, "samples": 0}

    def sampler():
        while time.monotonic() < stop:
            try:
                with open(f"/proc/{a.rss_pid}/status") as f:
                    for l in f:
                        if l.startswith("VmRSS:"):
                            kb = int(l.split()[1])
                            rss["max"] = max(rss["max"], kb)
                            rss["samples"] += 1
                            if a.rss_max and kb > a.rss_max:
                                rss["over"] += 1
            except OSError:
                c.say("daemon gone")
                return
            time.sleep(0.1)

    def worker(i):
        rng = random.Random(a.seed * 1000 + i)
        k = i % len(files)
        fds = [os.open(m, os.O_RDONLY) for _, m in files]
        try:
            while time.monotonic() < stop:
                k = (k + 1) % len(files)
                fd, want = fds[k], wants[k]
                n = len(want)
                if rng.random() < 0.1:
                    drop_cache(fd)
                try:
                    if rng.random() < 0.5:  # a sequential run
                        step = (64 << 10) << rng.randrange(0, 6)
                        pos = rng.randrange(0, n) // 4096 * 4096
                        stop_at = min(n, pos + rng.randrange(1, 16) * step)
                        while pos < stop_at and time.monotonic() < stop:
                            got = os.pread(fd, step, pos)
                            if not check(c, want, got, pos, step, files[k][1]):
                                return
                            if not got:
                                break
                            pos += len(got)
                    else:  # random preads
                        for _ in range(rng.randrange(1, 32)):
                            off = rng.randrange(0, n + 4096)
                            ln = rng.choice([1, 512, 4096,
                                             rng.randrange(1, 1 << 16),
                                             rng.randrange(1, 2 << 20)])
                            got = os.pread(fd, ln, off)
                            if not check(c, want, got, off, ln, files[k][1]):
                                return
                except OSError as e:
                    c.add(reads=1, errors=1)
                    c.say(f"thread {i}: {files[k][1]}: {e.strerror}")
                    return
        finally:
            for fd in fds:
                close(fd)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    if a.rss_pid:
        ts.append(threading.Thread(target=sampler))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if rss["over"]:
        c.say(f"VmRSS over {a.rss_max} kB in {rss['over']} of "
              f"{rss['samples']} samples")
    extra = f" rss_max_kb {rss['max']} rss_samples {rss['samples']}"
    return c, extra, rss["over"] > 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random")
    r.add_argument("orig")
    r.add_argument("mounted")
    r.add_argument("--seconds", type=float, default=10)
    r.add_argument("--seed", type=int, default=1)
    b = sub.add_parser("blocks")
    b.add_argument("orig")
    b.add_argument("mounted")
    b.add_argument("--alt")
    b.add_argument("--block", type=int, default=1 << 18)
    s = sub.add_parser("stress")
    s.add_argument("--threads", type=int, default=16)
    s.add_argument("--seconds", type=float, default=20)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--rss-pid", type=int, default=0)
    s.add_argument("--rss-max", type=int, default=0)
    s.add_argument("files", nargs="+")
    a = p.parse_args()
    failed = False
    extra = ""
    if a.cmd == "random":
        c = cmd_random(a)
    elif a.cmd == "blocks":
        c, extra = cmd_blocks(a)
    else:
        c, extra, failed = cmd_stress(a)
    for m in c.msgs:
        print(m)
    print(c.line(extra))
    sys.exit(1 if c.wrong or failed else 0)


if __name__ == "__main__":
    main()
