#!/usr/bin/python3
"""make-golden.py - regenerate the golden corrupt files in tests/golden/.

    tests/golden/make-golden.py PATH/TO/wcodec-pack

Builds a small model (base.safetensors: several dtypes, so the container has
zstd, JOINT, rANS-coded PLANES, constant and stored chunks at 4 KiB), packs
it into base.wcodec, then writes damaged copies of the container and
malformed safetensors files, and MANIFEST: one line per file with what must
happen.
The expectations are derived here from the format (man/wcodec.5) and the
edit made, not from running the library:

  NAME.wcodec open=CODE [bad=K:CODE,...] [verify=CODE] unpack=EXIT
      open: wcodec_open's result (OK or an error name without WCODEC_E_);
      with open=OK every chunk is read on its own: the chunks in bad= fail
      with that code, every other chunk returns the bytes of
      base.safetensors; verify: wcodec_verify's result; unpack: the exit
      status of wcodec-unpack (1 = a one-line message naming the file and
      no output left behind).
  NAME.safetensors st=CODE pack=EXIT
      st: wc_st_header_len + wc_st_parse; pack: exit status of wcodec-pack.

base.chunks lists the chunk extents of base.wcodec ("K OFFSET LENGTH"), for
the tests that read through the mount. Needs numpy and libxxhash (ctypes).
Deterministic: same wcodec-pack, same files. The committed files are the
reference; rerun only to add cases (and review the diff).
"""

import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
XXH = ctypes.CDLL("libxxhash.so.0")
XXH.XXH3_64bits.restype = ctypes.c_uint64
XXH.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

MAGIC = b"\x89WCODEC\n"
SUPER, SEG, CHK, DIG = 80, 40, 24, 16
CS = 4096


def xxh64(b):
    b = bytes(b)
    return XXH.XXH3_64bits(b, len(b))


def u16(b, o): return struct.unpack_from("<H", b, o)[0]
def u32(b, o): return struct.unpack_from("<I", b, o)[0]
def u64(b, o): return struct.unpack_from("<Q", b, o)[0]


# ---- the base model -----------------------------------------------------

def bf16(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def safetensors(tensors, meta=None, gap=b""):
    hdr, data = {}, b""
    if meta:
        hdr["__metadata__"] = meta
    for name, dtype, shape, arr in tensors:
        b = arr.tobytes()
        hdr[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [len(data), len(data) + len(b)]}
        data += b + gap
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def head_weight(rng):
    x = (rng.standard_normal(1536) * 0.02).astype(np.float32)
    x[::16] = 0
    x[5::256] = 4.0
    return bf16(x)


def base_model():
    rng = np.random.default_rng(2026)
    g = lambda n, s: (rng.standard_normal(n) * s).astype(np.float32)
    return safetensors([
        # 5 KiB of bf16 weights: JOINT, two chunks
        ("emb.weight", "BF16", [40, 64], bf16(g(2560, 0.02))),
        # a layernorm near 1: f32 planes
        ("norm.weight", "F32", [256], (1 + g(256, 0.01)).astype(np.float32)),
        # all zero: one constant plane, 0-byte payloads
        ("mask", "U8", [1536], np.zeros(1536, np.uint8)),
        # random bits: stored raw
        ("noise", "BF16", [1024],
         rng.integers(0, 65536, 1024).astype(np.uint16)),
        ("ids", "I64", [300], rng.integers(0, 50, 300).astype(np.int64)),
        # bf16 whose exponents span more than 128 values (zeros next to
        # values of 2 and more): JOINT cannot code it, so PLANES with a
        # rANS exponent plane, one chunk
        ("head.weight", "BF16", [1536], head_weight(rng)),
    ], meta={"format": "pt", "note": "wcodec golden base"}, gap=b"\0" * 8)


# ---- container structure ---------------------------------------------------

class Container:
    def __init__(self, b):
        self.b = bytes(b)
        assert b[:8] == MAGIC
        self.file_size = u64(b, 16)
        self.ioff, self.isz = u64(b, 24), u64(b, 32)
        self.nchunks, self.cs, self.nseg = u64(b, 40), u32(b, 48), u32(b, 52)
        self.seg_at = self.ioff + DIG
        self.chunk_at = self.seg_at + SEG * self.nseg
        self.params_at = self.chunk_at + CHK * self.nchunks
        self.segs, self.chunks = [], []
        for i in range(self.nseg):
            o = self.seg_at + SEG * i
            s = dict(i=i, at=o, offset=u64(b, o), length=u64(b, o + 8),
                     first=u64(b, o + 16), po=u32(b, o + 24),
                     ps=u32(b, o + 28), codec=b[o + 32], dtype=b[o + 33])
            s["n"] = (s["length"] + self.cs - 1) // self.cs
            s["planes"] = self.parse_params(s) if s["codec"] == 2 else []
            s["joint"] = self.parse_joint(s) if s["codec"] == 3 else None
            self.segs.append(s)
        for k in range(self.nchunks):
            o = self.chunk_at + CHK * k
            seg = next(s for s in self.segs
                       if s["first"] <= k < s["first"] + s["n"])
            fo = seg["offset"] + (k - seg["first"]) * self.cs
            ln = min(self.cs, seg["offset"] + seg["length"] - fo)
            self.chunks.append(dict(k=k, at=o, poff=u64(b, o),
                                    psize=u32(b, o + 8), flags=b[o + 12],
                                    sum=u64(b, o + 16), seg=seg, off=fo,
                                    len=ln))

    def parse_table(self, p, t):
        """A rANS table at p (bitmap, then u16 frequencies) into t; returns
        the offset after it."""
        b = self.b
        t["bitmap_at"] = p
        syms = [x for x in range(256) if b[p + x // 8] >> (x % 8) & 1]
        p += 32
        t["freq_at"] = {x: p + 2 * i for i, x in enumerate(syms)}
        return p + 2 * len(syms)

    def parse_joint(self, s):
        """JOINT parameters: u8 base, then the symbol table."""
        p = self.params_at + s["po"]
        j = dict(base_at=p, base=self.b[p])
        assert self.parse_table(p + 1, j) == p + s["ps"]
        return j

    def parse_params(self, s):
        b, p = self.b, self.params_at + s["po"]
        planes = []
        esize = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 2,
                 10: 4, 11: 4, 12: 4, 13: 8, 14: 8, 15: 8}[s["dtype"]]
        for _ in range(esize):
            mode = b[p]
            pl = dict(mode=mode, at=p)
            p += 1
            if mode == 1:
                pl["cval_at"] = p
                p += 1
            elif mode == 2:
                p = self.parse_table(p, pl)
            planes.append(pl)
        assert p == self.params_at + s["po"] + s["ps"]
        return planes


# ---- writing cases ---------------------------------------------------------

MANIFEST = []


def emit(name, data, line):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))
    MANIFEST.append(f"{name} {line}")


def container_case(name, data, open_="OK", bad=None, verify=None):
    bad = bad or {}
    if open_ != "OK":
        emit(name, data, f"open={open_} unpack=1")
        return
    if verify is None:
        verify = bad[min(bad)] if bad else "OK"
    line = "open=OK"
    if bad:
        line += " bad=" + ",".join(f"{k}:{c}" for k, c in sorted(bad.items()))
    line += f" verify={verify} unpack={0 if verify == 'OK' else 1}"
    emit(name, data, line)


def fix(b, index=True, superblock=True):
    """Recompute the index and superblock checksums after an edit."""
    b = bytearray(b)
    ioff, isz = u64(b, 24), u64(b, 32)
    if index and ioff + isz <= len(b):
        struct.pack_into("<Q", b, 56, xxh64(b[ioff:ioff + isz]))
    if superblock:
        struct.pack_into("<Q", b, 72, xxh64(b[:72]))
    return b


def edit(b, off, fmt, val):
    b = bytearray(b)
    struct.pack_into(fmt, b, off, val)
    return b


def flip(b, off, bit=0):
    b = bytearray(b)
    b[off] ^= 1 << bit
    return b


def insert_params_byte(B, C, s, val):
    """One byte more at the end of segment s's parameters: the bytes after
    it (the rest of the parameters area, the end of the index) move up one,
    so do the parameter offsets of the segments after it, and the index
    grows by one byte. Checksums recomputed."""
    at = C.params_at + s["po"] + s["ps"]
    b = bytearray(B[:at]) + bytes([val]) + bytearray(B[at:])
    for t in C.segs:
        if t is not s and t["po"] >= s["po"] + s["ps"]:
            struct.pack_into("<I", b, t["at"] + 24, t["po"] + 1)
    struct.pack_into("<I", b, s["at"] + 28, s["ps"] + 1)
    struct.pack_into("<Q", b, 32, C.isz + 1)
    return fix(b)


def table_cases(B, prefix, t, bad):
    """Damaged copies of one rANS frequency table t (parse_table's
    bitmap_at, freq_at): frequencies that no longer sum to 4096, a zero and
    a 4096 frequency, one more symbol in the bitmap (the parameters run one
    entry long): all rejected at open. Then two frequencies swapped: still
    a valid table, but not the one the chunks were coded with, so the open
    succeeds and the chunks in bad fail."""
    ix = lambda off, fmt, v: fix(edit(B, off, fmt, v))
    syms = sorted(t["freq_at"])
    f0 = u16(B, t["freq_at"][syms[0]])
    # a second symbol with another frequency, for a swap that keeps the sum
    s1_ = next(x for x in syms if u16(B, t["freq_at"][x]) != f0)
    f1 = u16(B, t["freq_at"][s1_])
    container_case(prefix + "-freq-sum.wcodec",
                   ix(t["freq_at"][syms[0]], "<H", f0 + 1), "CORRUPT")
    container_case(prefix + "-freq-0.wcodec",
                   ix(t["freq_at"][syms[0]], "<H", 0), "CORRUPT")
    container_case(prefix + "-freq-4096.wcodec",
                   ix(t["freq_at"][syms[0]], "<H", 4096), "CORRUPT")
    missing = next(x for x in range(256) if x not in t["freq_at"])
    container_case(prefix + "-bitmap.wcodec",
                   fix(flip(B, t["bitmap_at"] + missing // 8, missing % 8)),
                   "CORRUPT")
    b2 = edit(B, t["freq_at"][syms[0]], "<H", f1)
    container_case(prefix + "-freq-swap.wcodec",
                   fix(edit(b2, t["freq_at"][s1_], "<H", f0)), bad=bad)


def make_joint(B, C, sr):
    """JOINT (codec 3, format 1.1): its segment record, parameters and chunk
    payloads. sr is a BF16 PLANES segment."""
    ix = lambda off, fmt, v: fix(edit(B, off, fmt, v))
    sj = next(s for s in C.segs if s["codec"] == 3)
    j = sj["joint"]
    assert sj["dtype"] == 9
    syms = sorted(j["freq_at"])
    base, smax = j["base"], syms[-1]
    jchunks = [c for c in C.chunks if c["seg"] is sj and not c["flags"] & 1
               and c["psize"]]
    assert len(jchunks) >= 2, "base model must have two coded JOINT chunks"
    jbad = {c["k"]: "CORRUPT" for c in jchunks}

    # -- segment record: JOINT is BF16 only, its parameters are not PLANES'
    container_case("seg-joint-dtype-0.wcodec", ix(sj["at"] + 33, "<B", 0),
                   "CORRUPT")
    # another 2-byte dtype: whole elements, but not BF16
    container_case("seg-joint-dtype-f16.wcodec", ix(sj["at"] + 33, "<B", 8),
                   "CORRUPT")
    # read as PLANES, the base byte is plane 0's mode
    assert base > 2
    container_case("seg-joint-to-planes.wcodec", ix(sj["at"] + 32, "<B", 2),
                   "CORRUPT")
    # read as JOINT, PLANES parameters (mode 2, table, plane 1's mode) are
    # a base, a table and one byte more
    assert sr["planes"][0]["mode"] == 2
    container_case("seg-planes-to-joint.wcodec", ix(sr["at"] + 32, "<B", 3),
                   "CORRUPT")

    # -- parameters: u8 base, a table, consumed exactly
    container_case("joint-params-size-0.wcodec", ix(sj["at"] + 28, "<I", 0),
                   "CORRUPT")
    container_case("joint-params-size-1.wcodec", ix(sj["at"] + 28, "<I", 1),
                   "CORRUPT")
    container_case("joint-params-short.wcodec",
                   ix(sj["at"] + 28, "<I", sj["ps"] - 1), "CORRUPT")
    container_case("joint-params-trailing.wcodec",
                   insert_params_byte(B, C, sj, 0), "CORRUPT")
    # every symbol must make an exponent: (sym >> 1) + base <= 255. At the
    # limit the parameters are valid, but every element's exponent moves,
    # so the coded chunks decode to bytes that fail their checksums
    over = 256 - (smax >> 1)
    assert over <= 255 and over - 1 != base
    container_case("joint-base-overflow.wcodec", ix(j["base_at"], "<B", over),
                   "CORRUPT")
    container_case("joint-base-max.wcodec", ix(j["base_at"], "<B", over - 1),
                   bad=jbad)
    container_case("joint-base-minus1.wcodec",
                   ix(j["base_at"], "<B", base - 1), bad=jbad)
    # base - 1 and every symbol + 2 (the same frequencies): each symbol
    # keeps its slots (nothing below it gained a frequency) and makes the
    # same exponent, so the same payloads decode to the same elements
    assert base >= 1 and smax + 2 <= 255
    b2 = edit(B, j["base_at"], "<B", base - 1)
    b2[j["bitmap_at"]:j["bitmap_at"] + 32] = bytes(32)
    for x in syms:
        b2[j["bitmap_at"] + (x + 2) // 8] |= 1 << ((x + 2) % 8)
    container_case("ok-joint-table-shifted.wcodec", fix(b2))
    table_cases(B, "joint", j, jbad)

    # -- chunk payload: u32 rANS block size, the block, ceil(7n/8) bytes of
    #    7-bit values. A size that moves the border leaves the 7-bit part
    #    the wrong length; the payload bytes are not in the index
    c = jchunks[0]
    rs = u32(B, c["poff"])
    assert 4 + rs + (7 * (c["len"] // 2) + 7) // 8 == c["psize"]
    for tag, v in [("plus1", rs + 1), ("minus1", rs - 1), ("plus8", rs + 8),
                   ("0", 0), ("max", 0xFFFFFFFF)]:
        container_case(f"joint-payload-rsize-{tag}.wcodec",
                       edit(B, c["poff"], "<I", v), bad={c["k"]: "CORRUPT"})
    # the record one byte short (the last 7-bit byte cut off), and a byte
    # longer (the next payload's first byte appended)
    container_case("joint-chunk-size-short.wcodec",
                   ix(c["at"] + 8, "<I", c["psize"] - 1),
                   bad={c["k"]: "CORRUPT"})
    assert c["poff"] + c["psize"] < C.ioff
    container_case("joint-chunk-size-long.wcodec",
                   ix(c["at"] + 8, "<I", c["psize"] + 1),
                   bad={c["k"]: "CORRUPT"})
    # the two coded JOINT chunks' payloads swapped: each record points at
    # the other's bytes (other lengths, other rANS sizes)
    c2 = jchunks[1]
    b2 = edit(B, c["at"], "<Q", c2["poff"])
    b2 = edit(b2, c["at"] + 8, "<I", c2["psize"])
    b2 = edit(b2, c2["at"], "<Q", c["poff"])
    b2 = edit(b2, c2["at"] + 8, "<I", c["psize"])
    container_case("joint-chunks-swapped.wcodec", fix(b2),
                   bad={c["k"]: "CORRUPT", c2["k"]: "CORRUPT"})


def make_containers(base, C):
    B = base
    n = len(B)
    container_case("base.wcodec", B)
    container_case("ok-trailing-bytes.wcodec", B + b"\0" * 100)
    container_case("ok-minor-version.wcodec", fix(edit(B, 10, "<H", 7),
                                                  index=False))

    # -- truncated at many points: the index is at the end, so any cut
    #    loses it (TRUNCATED); under 8 bytes there is no magic at all.
    cuts = sorted({0, 1, 7, 8, 9, 40, 79, 80, 81, 200, n // 4, n // 2,
                   C.ioff - 1, C.ioff, C.ioff + 1, C.ioff + DIG, C.chunk_at,
                   C.params_at, n - 8, n - 1})
    for c in cuts:
        container_case(f"trunc-{c:05d}.wcodec", B[:c],
                       "NOT_CONTAINER" if c < 8 else "TRUNCATED")

    # -- wrong magic / not a container at all
    container_case("magic-cr.wcodec", edit(B, 7, "<B", 0x0D), "NOT_CONTAINER")
    container_case("magic-zero.wcodec", edit(B, 0, "<Q", 0), "NOT_CONTAINER")
    container_case("not-container-safetensors.wcodec", base_model(),
                   "NOT_CONTAINER")
    rng = np.random.default_rng(7)
    container_case("not-container-random.wcodec",
                   rng.integers(0, 256, 4096).astype(np.uint8).tobytes(),
                   "NOT_CONTAINER")

    # -- one flipped bit in each superblock field, checksums left alone
    for off, field in [(8, "major"), (10, "minor"), (12, "flags"),
                       (16, "filesize"), (24, "ioff"), (32, "isize"),
                       (40, "nchunks"), (48, "chunksize"), (52, "nseg"),
                       (56, "isum"), (64, "reserved"), (72, "ssum"),
                       (79, "ssum-hi")]:
        container_case(f"sb-flip-{field}.wcodec", flip(B, off, off % 8),
                       "CORRUPT")

    # -- superblock fields changed, superblock checksum recomputed
    sb = lambda off, fmt, v: fix(edit(B, off, fmt, v), index=False)
    container_case("version-2.wcodec", sb(8, "<H", 2), "VERSION")
    container_case("version-0.wcodec", sb(8, "<H", 0), "VERSION")
    container_case("version-ffff.wcodec", sb(8, "<H", 0xFFFF), "VERSION")
    container_case("flags-1.wcodec", sb(12, "<I", 1), "VERSION")
    container_case("flags-top.wcodec", sb(12, "<I", 0x80000000), "VERSION")
    container_case("sb-reserved.wcodec", sb(64, "<Q", 1), "CORRUPT")
    for v, tag in [(0, "0"), (4095, "4095"), (3 * 4096, "12k"),
                   (32 << 20, "32m"), (0xFFFFFFFF, "max")]:
        container_case(f"chunksize-{tag}.wcodec", sb(48, "<I", v), "CORRUPT")
    # a valid power of two that does not match the segments' chunk counts
    container_case("chunksize-8k.wcodec", sb(48, "<I", 8192), "CORRUPT")
    container_case("filesize-plus1.wcodec", sb(16, "<Q", C.file_size + 1),
                   "CORRUPT")
    container_case("filesize-minus1.wcodec", sb(16, "<Q", C.file_size - 1),
                   "CORRUPT")
    container_case("filesize-huge.wcodec", sb(16, "<Q", 1 << 62), "CORRUPT")
    container_case("ioff-0.wcodec", sb(24, "<Q", 0), "CORRUPT")
    container_case("ioff-79.wcodec", sb(24, "<Q", 79), "CORRUPT")
    container_case("ioff-max.wcodec", sb(24, "<Q", 2**64 - 1), "CORRUPT")
    container_case("ioff-plus1.wcodec", sb(24, "<Q", C.ioff + 1), "TRUNCATED")
    container_case("ioff-minus1.wcodec", sb(24, "<Q", C.ioff - 1), "CORRUPT")
    # hostile sizes: nothing may be allocated for these
    container_case("isize-1tb.wcodec", sb(32, "<Q", 1 << 40), "TRUNCATED")
    container_case("isize-max.wcodec", sb(32, "<Q", 2**64 - 1), "CORRUPT")
    container_case("isize-0.wcodec", sb(32, "<Q", 0), "CORRUPT")
    container_case("isize-15.wcodec", sb(32, "<Q", 15), "CORRUPT")
    container_case("nchunks-2e40.wcodec", sb(40, "<Q", 1 << 40), "CORRUPT")
    container_case("nchunks-max.wcodec", sb(40, "<Q", 2**64 - 1), "CORRUPT")
    container_case("nchunks-plus1.wcodec", sb(40, "<Q", C.nchunks + 1),
                   "CORRUPT")
    container_case("nseg-max.wcodec", sb(52, "<I", 0xFFFFFFFF), "CORRUPT")
    container_case("nseg-plus1.wcodec", sb(52, "<I", C.nseg + 1), "CORRUPT")
    container_case("nseg-0.wcodec", sb(52, "<I", 0), "CORRUPT")
    container_case("isum-wrong.wcodec", sb(56, "<Q", u64(B, 56) ^ 1),
                   "CORRUPT")

    # -- bit flips in the index, checksums left alone: index checksum
    for name, off in [("digest", C.ioff), ("seg", C.seg_at + 8),
                      ("chunk", C.chunk_at + 3), ("chunksum", C.chunk_at + 20),
                      ("params", C.params_at), ("last", n - 1)]:
        container_case(f"ix-flip-{name}.wcodec", flip(B, off, 3), "CORRUPT")

    # -- index edits with both checksums recomputed: structure checks
    ix = lambda off, fmt, v: fix(edit(B, off, fmt, v))
    container_case("digest-wrong.wcodec", fix(flip(B, C.ioff + 5, 1)),
                   verify="DIGEST")
    s0, s1 = C.segs[0], C.segs[1]
    container_case("seg-reserved-34.wcodec", ix(s1["at"] + 34, "<H", 1),
                   "CORRUPT")
    container_case("seg-reserved-36.wcodec", ix(s1["at"] + 36, "<I", 1),
                   "CORRUPT")
    container_case("seg-length-0.wcodec", ix(s1["at"] + 8, "<Q", 0),
                   "CORRUPT")
    container_case("seg-length-huge.wcodec", ix(s1["at"] + 8, "<Q", 2**63),
                   "CORRUPT")
    container_case("seg-offset.wcodec", ix(s1["at"], "<Q", s1["offset"] + 1),
                   "CORRUPT")
    container_case("seg-first-chunk.wcodec",
                   ix(s1["at"] + 16, "<Q", s1["first"] + 1), "CORRUPT")
    container_case("seg-first-chunk-max.wcodec",
                   ix(s1["at"] + 16, "<Q", 2**64 - 1), "CORRUPT")
    # unknown codecs: the first one past JOINT (3, format 1.1), and the last
    container_case("seg-codec-4.wcodec", ix(s1["at"] + 32, "<B", 4),
                   "CORRUPT")
    container_case("seg-codec-ff.wcodec", ix(s1["at"] + 32, "<B", 255),
                   "CORRUPT")
    container_case("seg-dtype-16.wcodec", ix(s1["at"] + 33, "<B", 16),
                   "CORRUPT")
    planes = [s for s in C.segs if s["codec"] == 2]
    rans = [s for s in planes if any(p["mode"] == 2 for p in s["planes"])]
    const = [s for s in planes if any(p["mode"] == 1 for p in s["planes"])]
    assert rans and const, "base model must have rANS and constant planes"
    # a BF16 PLANES segment with a rANS plane (head.weight: JOINT cannot
    # code it)
    sr = next(s for s in rans if s["dtype"] == 9)
    sc = const[0]
    container_case("seg-planes-dtype-0.wcodec", ix(sr["at"] + 33, "<B", 0),
                   "CORRUPT")
    # a 2-byte dtype changed to a 4-byte one: the parameters no longer fit
    container_case("seg-planes-dtype-size.wcodec",
                   ix(sr["at"] + 33, "<B", 12), "CORRUPT")
    container_case("seg-params-offset.wcodec",
                   ix(sr["at"] + 24, "<I", 0xFFFFFFF0), "CORRUPT")
    container_case("seg-params-size.wcodec",
                   ix(sr["at"] + 28, "<I", sr["ps"] + 1), "CORRUPT")
    container_case("seg-params-size-0.wcodec", ix(sr["at"] + 28, "<I", 0),
                   "CORRUPT")
    # parameters on a codec that has none
    zs = next(s for s in C.segs if s["codec"] == 1)
    container_case("seg-zstd-params.wcodec", ix(zs["at"] + 28, "<I", 2),
                   "CORRUPT")

    # -- codec tables (PLANES parameters)
    rp = next(p for p in sr["planes"] if p["mode"] == 2)
    cp = next(p for p in sc["planes"] if p["mode"] == 1)
    sr_chunks = {k: "CORRUPT" for k in range(sr["first"], sr["first"] + sr["n"])
                 if not C.chunks[k]["flags"] & 1}
    sc_chunks = {k: "CORRUPT" for k in range(sc["first"], sc["first"] + sc["n"])
                 if not C.chunks[k]["flags"] & 1}
    container_case("params-mode-3.wcodec", ix(rp["at"], "<B", 3), "CORRUPT")
    table_cases(B, "params", rp, sr_chunks)
    container_case("params-const-value.wcodec",
                   ix(cp["cval_at"], "<B", B[cp["cval_at"]] ^ 0x40),
                   bad=sc_chunks)
    container_case("params-const-to-raw.wcodec", ix(cp["at"], "<B", 0),
                   "CORRUPT")

    make_joint(B, C, sr)

    # -- chunk records
    coded = next(c for c in C.chunks if not c["flags"] & 1 and c["psize"]
                 and c["seg"] is sr)
    zchunk = next(c for c in C.chunks if not c["flags"] & 1 and c["psize"]
                  and c["seg"]["codec"] == 1)
    stored = next(c for c in C.chunks if c["flags"] & 1)
    k, ks = coded["k"], stored["k"]
    container_case("chunk-flags-2.wcodec", ix(coded["at"] + 12, "<B", 2),
                   "CORRUPT")
    container_case("chunk-reserved.wcodec", ix(coded["at"] + 14, "<B", 1),
                   "CORRUPT")
    container_case("chunk-offset-0.wcodec", ix(coded["at"], "<Q", 0),
                   "CORRUPT")
    container_case("chunk-offset-79.wcodec", ix(coded["at"], "<Q", 79),
                   "CORRUPT")
    # payloads must lie inside [80, index_offset): past it, and far past it
    # (offset + size wrapping around 2^64)
    container_case("chunk-offset-in-index.wcodec",
                   ix(coded["at"], "<Q", C.ioff + 8), "CORRUPT")
    container_case("chunk-offset-past-end.wcodec",
                   ix(coded["at"], "<Q", n + 4096), "CORRUPT")
    container_case("chunk-offset-2e63.wcodec", ix(coded["at"], "<Q", 2**63),
                   "CORRUPT")
    container_case("chunk-offset-wrap.wcodec",
                   ix(coded["at"], "<Q", 2**64 - 8), "CORRUPT")
    container_case("chunk-size-past-index.wcodec",
                   ix(coded["at"] + 8, "<I", C.ioff - coded["poff"] + 1),
                   "CORRUPT")
    container_case("chunk-size-max.wcodec", ix(coded["at"] + 8, "<I",
                                              0xFFFFFFFF), "CORRUPT")
    container_case("chunk-stored-size.wcodec",
                   ix(stored["at"] + 8, "<I", stored["psize"] - 1), "CORRUPT")
    # coded payloads are smaller than their chunk (or they are stored)
    assert coded["psize"] < coded["len"]
    container_case("chunk-stored-flag.wcodec", ix(coded["at"] + 12, "<B", 1),
                   "CORRUPT")
    # records that pass every structure check but point at the wrong bytes
    container_case("chunk-checksum.wcodec",
                   ix(coded["at"] + 16, "<Q", coded["sum"] ^ 1),
                   bad={k: "CORRUPT"})
    container_case("chunk-checksum-zstd.wcodec",
                   ix(zchunk["at"] + 16, "<Q", zchunk["sum"] ^ (1 << 63)),
                   bad={zchunk["k"]: "CORRUPT"})
    container_case("chunk-size-short-zstd.wcodec",
                   ix(zchunk["at"] + 8, "<I", zchunk["psize"] - 1),
                   bad={zchunk["k"]: "CORRUPT"})
    container_case("chunk-size-short.wcodec",
                   ix(coded["at"] + 8, "<I", coded["psize"] - 1),
                   bad={k: "CORRUPT"})
    other = next(c for c in C.chunks if c["k"] != k and c["psize"] and
                 c["poff"] + coded["psize"] <= C.ioff)
    container_case("chunk-offset-other.wcodec",
                   ix(coded["at"], "<Q", other["poff"]), bad={k: "CORRUPT"})
    assert stored["poff"] > SUPER
    container_case("chunk-stored-offset.wcodec",
                   ix(stored["at"], "<Q", stored["poff"] - 1),
                   bad={ks: "CORRUPT"})
    # STORED cleared: the payload is decoded with its segment's codec, which
    # for a RAW segment gives the same bytes (and passes), else fails
    container_case("chunk-unstored.wcodec", ix(stored["at"] + 12, "<B", 0),
                   bad={} if stored["seg"]["codec"] == 0 else
                   {ks: "CORRUPT"})

    # -- payload damage, checksums of the index intact: only that chunk
    for c in C.chunks:
        if not c["psize"]:
            continue
        for where, pos in [("first", 0), ("mid", c["psize"] // 2),
                           ("last", c["psize"] - 1)]:
            kind = "stored" if c["flags"] & 1 else \
                ["raw", "zstd", "planes", "joint"][c["seg"]["codec"]]
            bit = (c["k"] + pos) % 8
            if kind == "joint" and where == "last":
                # the last byte holds the last 7-bit values: flip a bit in
                # use, not one of the unused high bits
                used = 7 * (c["len"] // 2) % 8 or 8
                bit %= used
            container_case(f"payload-c{c['k']}-{kind}-{where}.wcodec",
                           flip(B, c["poff"] + pos, bit),
                           bad={c["k"]: "CORRUPT"})
    # several chunks at once, and the whole payload area zeroed
    multi = [c for c in C.chunks if c["psize"]][:3]
    b2 = B
    for c in multi:
        b2 = flip(b2, c["poff"] + c["psize"] // 3, 7)
    container_case("payload-three-chunks.wcodec", b2,
                   bad={c["k"]: "CORRUPT" for c in multi})
    zero = bytearray(B)
    zero[SUPER:C.ioff] = bytes(C.ioff - SUPER)
    # (stored chunks of zero bytes, the gaps between tensors, stay right)
    model = base_model()
    container_case("payload-zeroed.wcodec", zero,
                   bad={c["k"]: "CORRUPT" for c in C.chunks if c["psize"] and
                        not (c["flags"] & 1 and
                             not any(model[c["off"]:c["off"] + c["len"]]))})


def st_case(name, data, code, pack=None):
    if pack is None:
        pack = 0 if code == "OK" else 1
    emit(name, data, f"st={code} pack={pack}")


def make_safetensors():
    def raw(js, nd=0, hl=None):
        js = js.encode() if isinstance(js, str) else js
        return struct.pack("<Q", len(js) if hl is None else hl) + js + \
            bytes(nd)
    t = lambda d, s, o: json.dumps({"x": {"dtype": d, "shape": s,
                                          "data_offsets": o}})
    st_case("st-ok-gaps.safetensors", safetensors(
        [("a", "F32", [3], np.arange(3, dtype=np.float32)),
         ("b", "U8", [5], np.arange(5, dtype=np.uint8))],
        gap=b"\x01\x02\x03") + b"trailing bytes", "OK")
    st_case("st-ok-empty.safetensors", raw("{}      "), "OK")
    st_case("st-ok-empty-tensor.safetensors",
            raw(t("BF16", [3, 0], [0, 0])), "OK")
    st_case("st-empty.safetensors", b"", "ST_FORMAT")
    st_case("st-7-bytes.safetensors", b"\x02\0\0\0\0\0\0", "ST_FORMAT")
    st_case("st-len-past-end.safetensors", raw("{}", hl=1000), "ST_FORMAT")
    st_case("st-len-max.safetensors", raw("{}", hl=2**64 - 1), "ST_FORMAT")
    st_case("st-len-2e63.safetensors", raw("{}", hl=2**63), "ST_FORMAT")
    st_case("st-len-1.safetensors", raw("{", hl=1), "ST_FORMAT")
    st_case("st-len-0.safetensors", raw("", hl=0), "ST_FORMAT")
    st_case("st-leading-space.safetensors", raw(" {}"), "ST_JSON")
    st_case("st-not-json.safetensors", raw('{"x": '), "ST_JSON")
    st_case("st-array.safetensors", raw("[1, 2]"), "ST_JSON")
    st_case("st-dup-key.safetensors",
            raw('{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                '"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
            "ST_JSON")
    st_case("st-meta-not-object.safetensors", raw('{"__metadata__":[1]}'),
            "ST_JSON")
    st_case("st-tensor-not-object.safetensors", raw('{"x":5}'), "ST_JSON")
    st_case("st-no-dtype.safetensors",
            raw('{"x":{"shape":[1],"data_offsets":[0,1]}}', 1), "ST_JSON")
    st_case("st-offsets-3.safetensors", raw(t("U8", [1], [0, 1, 2]), 2),
            "ST_JSON")
    st_case("st-nul-in-header.safetensors",
            raw(b'{"x\0":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
            "ST_JSON")
    st_case("st-bad-utf8.safetensors",
            raw(b'{"\xff\xfe":{"dtype":"U8","shape":[1],'
                b'"data_offsets":[0,1]}}', 1), "ST_JSON")
    st_case("st-deep-nesting.safetensors",
            raw('{"__metadata__":{"a":' + "[" * 5000 + "]" * 5000 + "}}"),
            "ST_JSON")
    st_case("st-offset-too-big-for-json.safetensors",
            raw(t("U8", [1], [0, 18446744073709551615]), 1), "ST_JSON")
    st_case("st-dtype-unknown.safetensors", raw(t("F4", [1], [0, 1]), 1),
            "ST_DTYPE")
    st_case("st-dtype-lower.safetensors", raw(t("bf16", [1], [0, 2]), 2),
            "ST_DTYPE")
    st_case("st-shape-mismatch.safetensors", raw(t("F32", [2, 2], [0, 12]),
                                                 16), "ST_SHAPE")
    st_case("st-shape-overflow.safetensors",
            raw(t("U64", [4294967296, 4294967296], [0, 8]), 8), "ST_SHAPE")
    st_case("st-shape-negative.safetensors", raw(t("U8", [-1], [0, 1]), 1),
            "ST_SHAPE")
    st_case("st-shape-float.safetensors", raw(t("U8", [1.5], [0, 1]), 1),
            "ST_SHAPE")
    st_case("st-offsets-past-end.safetensors", raw(t("U8", [9], [0, 9]), 8),
            "ST_OFFSETS")
    st_case("st-offsets-reversed.safetensors", raw(t("U8", [2], [4, 2]), 8),
            "ST_OFFSETS")
    st_case("st-offsets-negative.safetensors", raw(t("U8", [1], [-1, 0]), 8),
            "ST_OFFSETS")
    st_case("st-offsets-huge.safetensors",
            raw(t("U8", [1], [9223372036854775806, 9223372036854775807]), 8),
            "ST_OFFSETS")
    st_case("st-overlap.safetensors",
            raw('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
                '"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}', 8),
            "ST_OFFSETS")
    # a container is not a safetensors file
    st_case("st-is-container.safetensors",
            open(os.path.join(HERE, "base.wcodec"), "rb").read(), "ST_FORMAT")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pack = sys.argv[1]
    for f in os.listdir(HERE):
        if f.endswith((".wcodec", ".safetensors")) or f in ("MANIFEST",
                                                            "base.chunks"):
            os.unlink(os.path.join(HERE, f))
    model = base_model()
    with open(os.path.join(HERE, "base.safetensors"), "wb") as f:
        f.write(model)
    with tempfile.TemporaryDirectory() as td:
        subprocess.run([pack, "-q", "-j", "1", "-c", "4K",
                        os.path.join(HERE, "base.safetensors"),
                        os.path.join(td, "base.wcodec")], check=True)
        base = open(os.path.join(td, "base.wcodec"), "rb").read()
    C = Container(base)
    with open(os.path.join(HERE, "base.chunks"), "w") as f:
        for c in C.chunks:
            f.write(f"{c['k']} {c['off']} {c['len']}\n")
    make_containers(base, C)
    make_safetensors()
    MANIFEST.sort()
    with open(os.path.join(HERE, "MANIFEST"), "w") as f:
        f.write("# generated by make-golden.py: file and expected outcome "
                "(see its docstring)\n")
        f.write("\n".join(MANIFEST) + "\n")
    print(f"make-golden: {len(MANIFEST)} files, base.wcodec {len(base)} "
          f"bytes, {C.nseg} segments, {C.nchunks} chunks")


if __name__ == "__main__":
    main()
