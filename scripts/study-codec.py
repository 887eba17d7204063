#!/usr/bin/env python3
"""Would these compression techniques beat wcodec's byte planes? Numbers from the corpus.

Estimates, for the real checkpoints in the corpus (X.safetensors = fp32,
X.bf16.safetensors = its bf16 rounding), the coded size of each tensor under
today's wcodec model and under candidate techniques, all with static in-sample
tables (built from the data they code, as wcodec does) and with every table and
piece of side information counted:

  1. bf16/fp32 exponent context modelling (previous exponent in the row, the
     exponent above, per-row class, per-column class, a few products of these)
  2. row reordering by mean exponent (permutation counted): one table,
     per-256-KiB-chunk tables, and the context models of 1, before vs after
  3. exponent coded jointly with the top 1 / 2 mantissa bits
  4. fp8 (E4M3, E5M2; per-tensor and per-row absmax scaling) made from the fp32
     tensors: whole byte order-0 vs exponent-field context models
  5. int8 (per-row symmetric absmax) made from the fp32 tensors: byte order-0 vs
     per-tile spatial prediction (8x8, 16x16) and an integer Haar (S-transform)
  6. per-tensor best-of choice among all of the above, per dtype

Cost model (the baseline is what wcodec does today, see man/wcodec.5):
  * A coded stream costs sum(-log2(f/4096)) over its symbols, where f is the
    12-bit normalised frequency table built from the stream itself (rANS at
    12-bit precision, no coder overhead), plus a table cost of 16 bits + 12 bits
    per symbol present, per table (per context / chunk / class).
  * A stream is coded only if that saves >= 3% over storing it raw; otherwise
    it costs its raw bits (8 per byte plane, the field width for sub-byte fields).
  * bf16 planes: exponent (x>>7)&0xff | sign<<7|mantissa[6:0];
    fp32 planes: exponent | sign<<7|mantissa[22:16] | mantissa[15:8] | [7:0];
    1-byte dtypes: the whole byte.  One table per plane per tensor.
  * Only tensors with >= 2 dims and >= 4096 elements take part.  Size-1 dims are
    dropped, then the tensor is viewed as rows x last dim; when that last dim is
    < 16 (conv kernels like [C,1,3,3]) it is viewed as dim0 x rest instead.
  * "file %" for bf16/fp32 = saved bytes / estimated wcodec-packed size of the
    whole file (header raw, tensors >= 1 KiB by the baseline planes model,
    smaller ones raw, + superblock/index).  For fp8/int8, which are made here
    from the fp32 files, the "file" is the quantised participating tensors and
    the % is of their baseline (whole byte order-0) size.
  * Quantile buckets: an exponent is put in one of K classes by the K-quantiles
    of the tensor's exponent histogram (edges cost 8 bits each); row/column
    classes are the K-quantiles of the row/column mean (or max) exponent (edges
    16 bits each, plus log2(classes used) bits per row/column).  The first
    column (row) uses the tensor's most frequent exponent as "previous" ("above").

Usage: .venv/bin/python scripts/study-codec.py [--corpus DIR] [--out PATH]
           [--only SUBSTR] [--max-elems N] [--pack build/src/cli/wcodec-pack]
"""
import argparse
import glob
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

import ml_dtypes
import numpy as np

PREC = 12
TOT = 1 << PREC
TABLE_FIXED = 16          # bits per table
TABLE_PER_SYM = 12        # bits per present symbol
RAW_GAIN = 0.97           # code a stream only if it saves >= 3%
MIN_ELEMS = 4096
CHUNK_BYTES = 256 * 1024

# --------------------------------------------------------------------------
# entropy / cost primitives


def qcost(C):
    """C: (k, A) symbol counts per table. Returns (coded bits, present symbols)
    per row, coding with 12-bit normalised frequencies of the row itself."""
    C = np.asarray(C, dtype=np.int64)
    if C.ndim == 1:
        C = C[None]
    n = C.sum(1)
    pres = C > 0
    f = np.where(pres, np.maximum(1, np.rint(C * (TOT / np.maximum(n, 1))[:, None])), 0)
    f = f.astype(np.int64)
    d = TOT - f.sum(1)
    am = C.argmax(1)
    r = np.arange(len(C))
    f[r, am] = np.where(n > 0, np.maximum(f[r, am] + d, 1), 0)
    F = np.maximum(f.sum(1), 1)
    L = np.log2(F)[:, None] - np.log2(np.where(f > 0, f, 1))
    return (C * L).sum(1), pres.sum(1)


def table_bits(C, tables=True):
    """Total bits of coding each row of C with its own table, tables included
    (tables=False: the tables' own cost left out, a lower bound)."""
    bits, present = qcost(C)
    used = present > 0
    return float(bits.sum() + tables * (TABLE_FIXED + TABLE_PER_SYM * present[used]).sum())


def code_or_raw(coded, n, rawbits):
    raw = float(n) * rawbits
    return coded if coded < RAW_GAIN * raw else raw


def ctx_bits(sym, ctx, A, nctx, tables=True):
    """Bits of sym (ints in [0,A)) coded with one static table per context."""
    s = np.asarray(sym, dtype=np.int64)
    if ctx is None:
        C = np.bincount(s.ravel(), minlength=A)
        return table_bits(C[None], tables)
    c = np.broadcast_to(np.asarray(ctx, dtype=np.int64), s.shape)
    C = np.bincount((c * A + s).ravel(), minlength=nctx * A).reshape(nctx, A)
    return table_bits(C, tables)


def plane_bits(sym, A=256, rawbits=8):
    """A plane as wcodec codes it: one order-0 table, or raw if < 3% saved."""
    return code_or_raw(ctx_bits(sym, None, A, 1), np.size(sym), rawbits)


def chunked_bits(sym, chunk, A=256, rawbits=8):
    """Flattened plane cut into chunks of `chunk` symbols, one table each,
    each chunk coded or raw by the 3% rule."""
    s = np.asarray(sym, dtype=np.int64).ravel()
    n = len(s)
    nch = -(-n // chunk)
    cid = np.arange(n, dtype=np.int64) // chunk
    C = np.bincount(cid * A + s, minlength=nch * A).reshape(nch, A)
    bits, present = qcost(C)
    coded = bits + TABLE_FIXED + TABLE_PER_SYM * present
    cn = np.full(nch, chunk, dtype=np.float64)
    cn[-1] = n - chunk * (nch - 1)
    raw = cn * rawbits
    return float(np.where(coded < RAW_GAIN * raw, coded, raw).sum())


def int_edges(hist, K):
    """Bucket edges: the K-quantiles of an integer histogram (unique)."""
    cdf = np.cumsum(hist) / max(hist.sum(), 1)
    e = np.searchsorted(cdf, np.arange(1, K) / K - 1e-12, side="left")
    return np.unique(e)


def stat_class(stat, K):
    """Per-row/column class by K-quantiles of stat. Returns (class ids, nclasses,
    side bits: 16 per edge + log2(classes used) per row/column)."""
    edges = np.unique(np.quantile(stat, np.arange(1, K) / K, method="nearest"))
    cls = np.searchsorted(edges, stat, side="left")
    used = len(np.unique(cls))
    side = 16 * len(edges) + (len(stat) * math.log2(used) if used > 1 else 0.0)
    return cls, len(edges) + 1, side


def self_test():
    u = np.tile(np.arange(256), 64)
    assert abs(ctx_bits(u, None, 256, 1) / u.size - 8.0 - (16 + 12 * 256) / u.size) < 1e-9
    assert abs(qcost(np.bincount(u, minlength=256))[0][0] / u.size - 8.0) < 1e-12
    assert qcost(np.bincount(np.full(1000, 7), minlength=256))[0][0] == 0.0
    assert abs(qcost(np.bincount(np.tile([3, 9], 500), minlength=256))[0][0] / 1000 - 1.0) < 1e-12
    # 3:1 source: in-sample entropy 0.8113 bits; 12-bit table is exact (3072/1024)
    h = qcost(np.bincount(np.tile([0, 0, 0, 1], 250), minlength=2))[0][0] / 1000
    assert abs(h - 0.8112781244591328) < 1e-9, h
    assert plane_bits(np.random.default_rng(1).integers(0, 256, 10000)) == 80000.0  # raw
    # per-context tables: a symbol fully determined by its context costs 0 + tables
    x = np.tile(np.arange(4), 100)
    assert ctx_bits(x, x, 4, 4) == 4 * (TABLE_FIXED + TABLE_PER_SYM)
    assert chunked_bits(np.full(300, 5), 100) == 3 * (TABLE_FIXED + TABLE_PER_SYM)
    # integer Haar (S-transform) is exactly invertible
    t = np.random.default_rng(2).integers(-127, 128, (3, 5, 8, 8))
    for lv in (1, 2, 3):
        assert np.array_equal(haar_inv(haar_fwd(t, lv), lv), t)
    # tile sums
    a = np.arange(2 * 20 * 18).reshape(2, 20, 18)
    ts = tile_sum(a, 8)
    assert ts.shape == (2, 3, 3) and ts.sum() == a.sum() and ts[0, 0, 0] == a[0, :8, :8].sum()


# --------------------------------------------------------------------------
# loading


def load_tensors(path):
    """[(name, dtype, shape, raw uint array)] straight from the file, and header size."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    base = 8 + n
    out = []
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        dt = info["dtype"]
        u = {"BF16": np.uint16, "F16": np.uint16, "F32": np.uint32}.get(dt, np.uint8)
        arr = np.frombuffer(data, dtype=u, count=(e - s) // np.dtype(u).itemsize, offset=base + s)
        out.append((name, dt, info["shape"], arr))
    return out, base, len(data)


def as_2d(shape):
    """rows x cols view for a participating tensor, or None."""
    numel = int(np.prod(shape)) if shape else 1
    if len(shape) < 2 or numel < MIN_ELEMS:
        return None
    sh = [d for d in shape if d != 1]
    if len(sh) < 2:
        return None
    if sh[-1] >= 16:
        return (numel // sh[-1], sh[-1])
    return (sh[0], numel // sh[0])


def float_planes(U, dt):
    U = U.astype(np.int64)
    if dt == "BF16":
        E = (U >> 7) & 0xFF
        planes = [E, ((U >> 8) & 0x80) | (U & 0x7F)]
        return E, planes, (U >> 6) & 1, (U >> 5) & 3
    E = (U >> 23) & 0xFF
    planes = [E, ((U >> 24) & 0x80) | ((U >> 16) & 0x7F), (U >> 8) & 0xFF, U & 0xFF]
    return E, planes, (U >> 22) & 1, (U >> 21) & 3


def baseline_tensor_bits(arr, dt):
    """Baseline model for any tensor of the file (used for the file size)."""
    if arr.nbytes < 1024 or dt not in ("BF16", "F32"):
        return arr.nbytes * 8.0
    _, planes, _, _ = float_planes(arr, dt)
    return sum(plane_bits(p) for p in planes)


# --------------------------------------------------------------------------
# 1-3: float exponent models


def neighbours(E, fill):
    """The left and upper neighbour of each element of the 2-D array E,
    fill where there is none (first column, first row)."""
    P = np.empty_like(E)
    P[:, 0] = fill
    P[:, 1:] = E[:, :-1]
    Ab = np.empty_like(E)
    Ab[0, :] = fill
    Ab[1:, :] = E[:-1, :]
    return P, Ab


def exp_context_models(E):
    """Yield (name, exponent bits incl. tables & side info) for each variant."""
    R, C = E.shape
    n = E.size
    hist = np.bincount(E.ravel(), minlength=256)
    P, Ab = neighbours(E, int(hist.argmax()))
    rmean, rmax = E.mean(1), E.max(1)
    cmean, cmax = E.mean(0), E.max(0)

    def fin(bits):
        return code_or_raw(bits, n, 8)

    cache = {}
    for K in (2, 4, 8, 16):
        ed = int_edges(hist, K)
        side = 8.0 * len(ed)
        nc = len(ed) + 1
        cP = np.searchsorted(ed, P)
        cA = np.searchsorted(ed, Ab)
        cache[("prev", K)] = (cP, nc, side)
        cache[("above", K)] = (cA, nc, side)
        yield f"prev{K}", fin(ctx_bits(E, cP, 256, nc) + side)
        yield f"above{K}", fin(ctx_bits(E, cA, 256, nc) + side)
        for sname, st in (("mean", rmean), ("max", rmax)):
            cls, nr, s = stat_class(st, K)
            cache[("row" + sname, K)] = (cls[:, None], nr, s)
            yield f"row{sname}{K}", fin(ctx_bits(E, cls[:, None], 256, nr) + s)
        for sname, st in (("mean", cmean), ("max", cmax)):
            cls, nr, s = stat_class(st, K)
            cache[("col" + sname, K)] = (cls[None, :], nr, s)
            yield f"col{sname}{K}", fin(ctx_bits(E, cls[None, :], 256, nr) + s)
    for a, b in ((("prev", 4), ("rowmean", 4)), (("prev", 8), ("rowmean", 4)),
                 (("prev", 4), ("above", 4)), (("prev", 4), ("colmean", 4)),
                 (("above", 4), ("rowmean", 4))):
        ca, na, sa = cache[a]
        cb, nb, sb = cache[b]
        side = sa + sb if a[0] != b[0] else sa
        ctx = ca * nb + cb
        name = f"{a[0]}{a[1]}+{b[0]}{b[1]}"
        yield name, fin(ctx_bits(E, ctx, 256, na * nb) + side)
        if a == ("prev", 4) and b == ("rowmean", 4):
            yield "nt:" + name, ctx_bits(E, ctx, 256, na * nb, tables=False)
    yield "nt:o0", ctx_bits(E, None, 256, 1, tables=False)
    yield "nt:prev16", ctx_bits(E, cache[("prev", 16)][0], 256, cache[("prev", 16)][1], False)
    yield "nt:above16", ctx_bits(E, cache[("above", 16)][0], 256, cache[("above", 16)][1], False)


def family(name):
    for f in ("prev", "above", "row", "col"):
        if name.startswith(f) and "+" not in name:
            return f
    return "combo"


def analyse_float_tensor(U, dt):
    E, planes, m1, m2 = float_planes(U, dt)
    R, C = E.shape
    n = E.size
    pc = [plane_bits(p) for p in planes]
    base = sum(pc)
    other = base - pc[0]
    cost = {"baseline": base}
    expb = {"baseline": pc[0]}
    for name, eb in exp_context_models(E):
        expb[name] = eb
        if not name.startswith("nt:"):
            cost[name] = eb + other
    # 2. row reordering by mean exponent
    perm = np.argsort(E.mean(1), kind="stable")
    Es = E[perm]
    permbits = R * math.ceil(math.log2(R)) if R > 1 else 0
    o0s = plane_bits(Es)
    assert o0s == pc[0], "order-0 must not depend on row order"
    cost["sorted-o0"] = o0s + other + permbits
    chunk = CHUNK_BYTES // (2 if dt == "BF16" else 4)
    cost["chunk256"] = chunked_bits(E, chunk) + other
    cost["sorted-chunk256"] = chunked_bits(Es, chunk) + other + permbits
    for name, eb in exp_context_models(Es):
        if name.startswith("nt:"):
            continue
        cost["sorted-" + name] = eb + other + permbits
        expb["sorted-" + name] = eb + permbits
    # 3. exponent joint with top mantissa bits (rest of plane 1 raw)
    other1 = other - pc[1]
    cost["joint1"] = code_or_raw(ctx_bits(E * 2 + m1, None, 512, 1), n, 9) + 7.0 * n + other1
    cost["joint2"] = code_or_raw(ctx_bits(E * 4 + m2, None, 1024, 1), n, 10) + 6.0 * n + other1
    expb["joint1"] = cost["joint1"] - 7.0 * n - other1   # exp + 1 mantissa bit
    expb["joint2"] = cost["joint2"] - 6.0 * n - other1
    return cost, expb


# --------------------------------------------------------------------------
# 4: fp8

FP8 = {"e4m3": (ml_dtypes.float8_e4m3fn, 448.0, 4, 3), "e5m2": (ml_dtypes.float8_e5m2, 57344.0, 5, 2)}


def to_fp8(X, fmt, per_row):
    dt, top, _, _ = FP8[fmt]
    a = np.abs(X).max(axis=1, keepdims=True) if per_row else np.abs(X).max()
    s = np.where(a > 0, a / top, 1.0).astype(np.float32)
    y = np.clip(X / s, -top, top)
    return y.astype(dt).view(np.uint8)


def analyse_fp8_tensor(b, fmt):
    """b: (R,C) uint8 fp8 codes. Returns {model: total bits}, {model: exponent-part bits}."""
    _, _, eb, mb = FP8[fmt]
    A = 1 << eb
    R, C = b.shape
    n = b.size
    b = b.astype(np.int64)
    e = (b >> mb) & (A - 1)
    s = b >> 7
    m = b & ((1 << mb) - 1)
    se = (s << eb) | e
    hist = np.bincount(e.ravel(), minlength=A)
    P, Ab = neighbours(e, int(hist.argmax()))
    ed4 = int_edges(hist, 4)
    P4 = np.searchsorted(ed4, P)
    n4 = len(ed4) + 1
    r4, nr4, sr4 = stat_class(e.mean(1), 4)
    r8, nr8, sr8 = stat_class(e.mean(1), 8)
    r4 = r4[:, None]
    r8 = r8[:, None]
    mant = plane_bits(m, 1 << mb, mb)
    exp = {
        "exp-o0": plane_bits(e, A, eb),
        "exp|prev": code_or_raw(ctx_bits(e, P, A, A), n, eb),
        "exp|prev4": code_or_raw(ctx_bits(e, P4, A, n4) + 8 * len(ed4), n, eb),
        "exp|above": code_or_raw(ctx_bits(e, Ab, A, A), n, eb),
        "exp|row4": code_or_raw(ctx_bits(e, r4, A, nr4) + sr4, n, eb),
        "exp|row8": code_or_raw(ctx_bits(e, r8, A, nr8) + sr8, n, eb),
        "exp|prev,row4": code_or_raw(ctx_bits(e, P * nr4 + r4, A, A * nr4) + sr4, n, eb),
        "exp|prev4,row4": code_or_raw(ctx_bits(e, P4 * nr4 + r4, A, n4 * nr4) + sr4 + 8 * len(ed4),
                                      n, eb),
        "exp|prev,above4": code_or_raw(ctx_bits(e, P * n4 + np.searchsorted(ed4, Ab), A, A * n4)
                                       + 8 * len(ed4), n, eb),
    }
    tot = {k: v + n + mant for k, v in exp.items()}          # sign raw, mantissa o0/raw
    exp["nt:exp|prev,row4"] = ctx_bits(e, P * nr4 + r4, A, A * nr4, tables=False)
    exp["nt:exp|prev,above4"] = ctx_bits(e, P * n4 + np.searchsorted(ed4, Ab), A, A * n4, False)
    se_m = {
        "sgnexp-o0": plane_bits(se, 2 * A, eb + 1),
        "sgnexp|prev": code_or_raw(ctx_bits(se, P, 2 * A, A), n, eb + 1),
        "sgnexp|prev,row4": code_or_raw(ctx_bits(se, P * nr4 + r4, 2 * A, A * nr4) + sr4, n, eb + 1),
    }
    for k, v in se_m.items():
        exp[k] = v
        tot[k] = v + mant
    tot["byte|prev"] = code_or_raw(ctx_bits(b, P, 256, A), n, 8)
    tot["byte|row4"] = code_or_raw(ctx_bits(b, r4, 256, nr4) + sr4, n, 8)
    tot["byte-o0"] = plane_bits(b)
    return tot, exp


# --------------------------------------------------------------------------
# 5: int8


def to_int8(X):
    a = np.abs(X).max(axis=1, keepdims=True)
    s = np.where(a > 0, a / 127.0, 1.0)
    return np.clip(np.rint(X / s), -127, 127).astype(np.int64)


def tile_sum(A, T):
    """A: (P,R,C) -> (P, ceil(R/T), ceil(C/T)) sums over TxT tiles (zero padded)."""
    P, R, C = A.shape
    Rp, Cp = -(-R // T) * T, -(-C // T) * T
    B = np.zeros((P, Rp, Cp), dtype=np.float64)
    B[:, :R, :C] = A
    return B.reshape(P, Rp // T, T, Cp // T, T).sum(axis=(2, 4))


def pred_tiles(Q, T, shared):
    """Per-tile choice among 5 predictors. Returns bits incl. tables and choices."""
    R, C = Q.shape
    L = np.zeros_like(Q)
    L[:, 1:] = Q[:, :-1]
    U = np.zeros_like(Q)
    U[1:, :] = Q[:-1, :]
    TL = np.zeros_like(Q)
    TL[1:, 1:] = Q[:-1, :-1]
    preds = [np.zeros_like(Q), L, U, (L + U) >> 1, np.clip(L + U - TL, -128, 127)]
    NP = len(preds)
    res = np.stack([(Q - p) & 0xFF for p in preds])           # (5,R,C) residual mod 256
    sres = np.where(res > 127, 256 - res, res)                # |signed residual|
    choice = tile_sum(sres, T).argmin(0)                      # first guess: least |residual|
    pidx = np.arange(NP)[:, None, None]
    for _ in range(3):                                         # refine with the real tables
        ch = np.repeat(np.repeat(choice, T, 0), T, 1)[:R, :C]
        rc = np.take_along_axis(res, ch[None], 0)[0]
        if shared:
            cnt = np.bincount(rc.ravel(), minlength=256)[None].repeat(NP, 0)
        else:
            cnt = np.bincount((ch * 256 + rc).ravel(), minlength=NP * 256).reshape(NP, 256)
        cnt = cnt + 0.5
        Ltab = np.log2(cnt.sum(1, keepdims=True)) - np.log2(cnt)
        new = tile_sum(Ltab[pidx, res], T).argmin(0)
        if np.array_equal(new, choice):
            break
        choice = new
    ch = np.repeat(np.repeat(choice, T, 0), T, 1)[:R, :C]
    rc = np.take_along_axis(res, ch[None], 0)[0]
    bits = ctx_bits(rc, None, 256, 1) if shared else ctx_bits(rc, ch, 256, NP)
    return code_or_raw(bits + choice.size * math.log2(NP), Q.size, 8)


def _s_fwd(x, axis):
    a = np.take(x, np.arange(0, x.shape[axis], 2), axis)
    b = np.take(x, np.arange(1, x.shape[axis], 2), axis)
    h = a - b
    return np.concatenate([b + (h >> 1), h], axis)


def _s_inv(y, axis):
    k = y.shape[axis] // 2
    lo = np.take(y, np.arange(k), axis)
    h = np.take(y, np.arange(k, 2 * k), axis)
    b = lo - (h >> 1)
    a = h + b
    out = np.stack([a, b], axis=axis % y.ndim + 1)
    return out.reshape(y.shape)


def haar_fwd(t, levels):
    t = t.copy()
    s = 8
    for _ in range(levels):
        blk = _s_fwd(_s_fwd(t[..., :s, :s], -1), -2)
        t[..., :s, :s] = blk
        s //= 2
    return t


def haar_inv(t, levels):
    t = t.copy()
    s = 8 >> (levels - 1)
    for _ in range(levels):
        t[..., :s, :s] = _s_inv(_s_inv(t[..., :s, :s], -2), -1)
        s *= 2
    return t


def haar_classes(levels):
    """8x8 map of coefficient class: 0 = LL, then 3 orientations per level."""
    cls = np.zeros((8, 8), dtype=np.int64)
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    for lv in range(1, levels + 1):
        half = 8 >> lv
        band = (np.maximum(i, j) >= half) & (np.maximum(i, j) < 2 * half)
        orient = np.where(i < half, 0, np.where(j < half, 1, 2))
        cls = np.where(band, 1 + 3 * (lv - 1) + orient, cls)
    return cls, 1 + 3 * levels


def haar_bits(Q, levels):
    R, C = Q.shape
    R8, C8 = R // 8, C // 8
    bits = 0.0
    mask = np.ones(Q.shape, bool)
    if R8 and C8:
        t = Q[:R8 * 8, :C8 * 8].reshape(R8, 8, C8, 8).transpose(0, 2, 1, 3)
        co = haar_fwd(t, levels)
        cls, ncls = haar_classes(levels)
        off = 1024
        assert co.min() >= -off and co.max() < off
        bits += ctx_bits(co + off, np.broadcast_to(cls, co.shape), 2 * off, ncls)
        mask[:R8 * 8, :C8 * 8] = False
    if mask.any():                                             # ragged edge: byte order-0
        bits += ctx_bits(Q[mask] & 0xFF, None, 256, 1)
    return code_or_raw(bits, Q.size, 8)


def analyse_int8_tensor(Q):
    cost = {"byte-o0": plane_bits(Q & 0xFF)}
    for T in (8, 16):
        cost[f"pred{T}"] = pred_tiles(Q, T, shared=False)
        cost[f"pred{T}-shared"] = pred_tiles(Q, T, shared=True)
    cost["haar2"] = haar_bits(Q, 2)
    cost["haar3"] = haar_bits(Q, 3)
    return cost


# --------------------------------------------------------------------------
# driving & reporting


def short(path):
    b = os.path.basename(path).replace(".safetensors", "")
    return b


def md_table(head, rows):
    def cell(x):
        return str(x).replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in head) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(cell(x) for x in r) + " |")
    return "\n".join(out)


def pct(new, base, denom):
    return 100.0 * (new - base) / denom


def f2(x):
    return f"{x:.3f}"


def fp(x):
    return f"{x:+.2f}%"


def analyse_file(path, args, notes):
    tensors, hdr_bytes, fsize = load_tensors(path)
    est = hdr_bytes * 8.0 + 8 * (80 + 40 * len(tensors) + 24 * -(-fsize // CHUNK_BYTES))
    recs = []
    for name, dt, shape, arr in tensors:
        sh = as_2d(shape)
        if sh is None or dt not in ("BF16", "F32"):
            est += baseline_tensor_bits(arr, dt)
            continue
        U = arr.reshape(sh)
        full_base = None
        if U.size > args.max_elems:
            full_base = baseline_tensor_bits(arr, dt)
            step = -(-U.size // args.max_elems)
            U = U[::step]
            notes.append(f"{short(path)}:{name} {list(shape)} subsampled to every {step}th row")
        cost, expb = analyse_float_tensor(U, dt)
        est += full_base if full_base is not None else cost["baseline"]
        recs.append(dict(name=name, dt=dt, n=U.size, U=U, cost=cost, exp=expb,
                         scale=(full_base / cost["baseline"]) if full_base else 1.0))
    return recs, est / 8.0, fsize


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/work/shared/corpus")
    ap.add_argument("--out", default="/tmp/study-codec.md")
    ap.add_argument("--only", default="", help="only files whose name contains this")
    ap.add_argument("--max-elems", type=int, default=1 << 22,
                    help="subsample rows of tensors larger than this (default 4Mi elements)")
    ap.add_argument("--pack", default="", help="wcodec-pack binary: also report real packed sizes")
    args = ap.parse_args()
    t0 = time.time()
    self_test()

    paths = sorted(p for p in glob.glob(os.path.join(args.corpus, "*.safetensors"))
                   if args.only in os.path.basename(p))
    bf16_paths = [p for p in paths if p.endswith(".bf16.safetensors")]
    f32_paths = [p for p in paths if not p.endswith(".bf16.safetensors")]
    notes = []
    out = []

    def emit(s=""):
        print(s, flush=True)
        out.append(s)

    emit("# wcodec technique study: measured on the corpus")
    emit()
    emit(f"Corpus `{args.corpus}`; {len(bf16_paths)} bf16 + {len(f32_paths)} fp32 files. "
         "Costs are in-sample static 12-bit rANS tables, every table (16 b + 12 b/symbol) and "
         "side info counted; a stream is stored raw unless coding saves >= 3%. "
         "bits/elem are over the participating tensors (>= 2-D, >= 4096 elements). "
         "Change % for bf16/fp32 is of the estimated wcodec-packed whole file; for fp8/int8 "
         "of the quantised tensors' baseline (whole-byte order-0) size. See the script's "
         "docstring for the exact model.")
    emit()

    # ---------------- float files
    F = {}   # path -> dict(recs, est, fsize, dtype)
    for p in bf16_paths + f32_paths:
        recs, est, fsize = analyse_file(p, args, notes)
        F[p] = dict(recs=recs, est=est, fsize=fsize, dt="BF16" if p in bf16_paths else "F32")
        print(f"  [{time.time() - t0:6.1f}s] {short(p)}: {len(recs)} tensors", file=sys.stderr)

    def fsum(p, key, what="cost"):
        return sum(r[what][key] for r in F[p]["recs"])

    def nel(p):
        return sum(r["n"] for r in F[p]["recs"])

    def dfile(p, key):
        return pct(fsum(p, key), fsum(p, "baseline"), F[p]["est"] * 8)

    groups = [("bf16", bf16_paths), ("fp32", f32_paths)]
    groups = [(g, ps) for g, ps in groups if ps]

    # baseline sanity
    emit("## 0. Baseline model vs files")
    emit()
    rows = []
    for p in bf16_paths + f32_paths:
        real = ""
        if args.pack:
            with tempfile.TemporaryDirectory() as td:
                o = os.path.join(td, "x.wcodec")
                try:
                    subprocess.run([args.pack, p, o], check=True, capture_output=True)
                    real = f"{os.path.getsize(o) / F[p]['fsize']:.4f}"
                except (subprocess.CalledProcessError, OSError) as e:
                    real = f"error: {e}"
        rows.append([short(p), F[p]["fsize"], len(F[p]["recs"]), nel(p),
                     f2(fsum(p, "baseline") / nel(p)), f2(fsum(p, "baseline", "exp") / nel(p)),
                     f"{F[p]['est'] / F[p]['fsize']:.4f}", real])
    emit(md_table(["file", "bytes", "tensors", "elements", "base bits/elem", "base exp bits/elem",
                   "est. packed/orig", "wcodec-pack packed/orig"], rows))
    emit()
    emit("The estimate is the brief's baseline: planes with one table per tensor. The real packer "
         "(last column, with --pack) also shares tables between neighbouring tensors and uses "
         "ZSTD where it wins (e.g. repeated tensors in ricky0123), so it can be smaller.")
    emit()

    # ---------------- 1. exponent context modelling
    variants = [k for k in F[paths[0]]["recs"][0]["cost"]
                if not k.startswith(("sorted", "chunk", "joint", "baseline"))]
    mean_d = {}
    for g, ps in groups:
        for v in variants:
            mean_d[(g, v)] = float(np.mean([dfile(p, v) for p in ps]))
    emit("## 1. Exponent context modelling (one static table per context)")
    emit()
    emit("prevK/aboveK: previous exponent in the row / exponent above, in K quantile classes; "
         "rowmeanK/rowmaxK/colmeanK/colmaxK: per-row/column class (K quantiles of the row/column "
         "mean or max exponent; class ids cost log2 K bits each); A+B: product context. "
         "Exp bits/elem are means over files; file % = whole-file size change.")
    emit()
    rows = []
    for v in variants:
        r = [v]
        for g, ps in groups:
            eb0 = np.mean([fsum(p, "baseline", "exp") / nel(p) for p in ps])
            eb1 = np.mean([fsum(p, v, "exp") / nel(p) for p in ps])
            ds = [dfile(p, v) for p in ps]
            r += [f"{f2(eb0)} -> {f2(eb1)}", fp(mean_d[(g, v)]),
                  short(ps[int(np.argmin(ds))]).split("_")[0].split("-")[0] + f" {fp(min(ds))}"]
        rows.append(r)
    head = ["variant"]
    for g, _ in groups:
        head += [f"{g} exp b/e", f"{g} file %", f"{g} best file"]
    emit(md_table(head, rows))
    emit()
    for g, ps in groups:
        nt = {k: np.mean([fsum(p, "nt:" + k, "exp") / nel(p) for p in ps])
              for k in ("o0", "prev16", "above16", "prev4+rowmean4")}
        emit(f"{g}: exponent bits/elem if tables were free (lower bound, mean over files): "
             + ", ".join(f"{k} {f2(v)}" for k, v in nt.items()))
        emit()
    fam_best = {}
    for g, ps in groups:
        for fam in ("prev", "above", "row", "col", "combo"):
            vs = [v for v in variants if family(v) == fam]
            fam_best[(g, fam)] = min(vs, key=lambda v: mean_d[(g, v)])
        fam_best[(g, "best")] = min(variants, key=lambda v: mean_d[(g, v)])
    for g, ps in groups:
        emit(f"### 1. per file, {g}: best variant of each family (by mean file %)")
        emit()
        head = ["file", "elements", "base exp b/e", "base b/e", "free-table prev4+rowmean4"]
        fams = ("prev", "above", "row", "col", "combo")
        for fam in fams:
            head += [f"{fam_best[(g, fam)]} exp b/e", "b/e", "file %"]
        rows = []
        for p in ps:
            n = nel(p)
            r = [short(p), n, f2(fsum(p, "baseline", "exp") / n), f2(fsum(p, "baseline") / n),
                 f2(fsum(p, "nt:prev4+rowmean4", "exp") / n)]
            for fam in fams:
                v = fam_best[(g, fam)]
                r += [f2(fsum(p, v, "exp") / n), f2(fsum(p, v) / n), fp(dfile(p, v))]
            rows.append(r)
        emit(md_table(head, rows))
        emit()

    # ---------------- 2. row reordering
    emit("## 2. Row reordering by mean row exponent (permutation: rows*ceil(log2 rows) bits)")
    emit()
    for g, ps in groups:
        best = fam_best[(g, "best")]
        abv = fam_best[(g, "above")]
        emit(f"### 2. {g}  (best item-1 model: {best}; best 'above' model: {abv})")
        emit()
        rows = []
        for p in ps:
            n = nel(p)
            b0 = fsum(p, "baseline")
            r = [short(p), n, f2(b0 / n)]
            for k in ("sorted-o0", "chunk256", "sorted-chunk256", best, "sorted-" + best,
                      abv, "sorted-" + abv):
                r.append(f"{f2(fsum(p, k) / n)} ({fp(dfile(p, k))})")
            rows.append(r)
        emit(md_table(["file", "elements", "base b/e", "(i) 1 table, sorted",
                       "(ii) chunk tables", "(ii) chunk, sorted", f"(iii) {best}",
                       f"(iii) {best}, sorted", abv, f"{abv}, sorted"], rows))
        emit()
    emit("Chunk tables: one order-0 exponent table per 256 KiB of the tensor (131072 bf16 / "
         "65536 fp32 elements); most corpus tensors fit in one chunk.")
    emit()

    # ---------------- 3. joint exponent + mantissa bits
    emit("## 3. Exponent jointly with top mantissa bits (one table; the rest of plane 1 raw)")
    emit()
    for g, ps in groups:
        rows = []
        for p in ps:
            n = nel(p)
            rows.append([short(p), n, f2(fsum(p, "baseline") / n),
                         f2(fsum(p, "joint1") / n), fp(dfile(p, "joint1")),
                         f2(fsum(p, "joint2") / n), fp(dfile(p, "joint2"))])
        emit(f"### 3. {g}")
        emit()
        emit(md_table(["file", "elements", "base b/e", "exp+1 b/e", "file %", "exp+2 b/e",
                       "file %"], rows))
        emit()
    print(f"  [{time.time() - t0:6.1f}s] float done", file=sys.stderr)

    # ---------------- 4. fp8 and 5. int8 from the fp32 tensors
    Q8 = {}    # (group, path) -> list of per-tensor cost dicts; group = fmt/scaling or int8
    E8 = {}
    for p in f32_paths:
        for rec in F[p]["recs"]:
            X = rec["U"].view(np.float32)
            for fmt in ("e4m3", "e5m2"):
                for per_row in (False, True):
                    key = (f"{fmt}-{'row' if per_row else 'tensor'}", p)
                    tot, exp = analyse_fp8_tensor(to_fp8(X, fmt, per_row), fmt)
                    Q8.setdefault(key, []).append(tot)
                    E8.setdefault(key, []).append(exp)
            Q8.setdefault(("int8-row", p), []).append(analyse_int8_tensor(to_int8(X)))
            E8.setdefault(("int8-row", p), []).append({"n": X.size})
        print(f"  [{time.time() - t0:6.1f}s] fp8/int8 {short(p)}", file=sys.stderr)

    def qsum(key, m, d=None):
        return sum(t[m] for t in (d or Q8)[key])

    def d8(key, m):
        b = qsum(key, "byte-o0")
        return pct(qsum(key, m), b, b)

    fp8_groups = ["e4m3-tensor", "e4m3-row", "e5m2-tensor", "e5m2-row"]
    exp_models = ["exp-o0", "exp|prev", "exp|prev4", "exp|above", "exp|row4", "exp|row8",
                  "exp|prev,row4", "exp|prev4,row4", "exp|prev,above4"]
    se_models = ["sgnexp-o0", "sgnexp|prev", "sgnexp|prev,row4"]
    fp8_total_models = [m for m in Q8[(fp8_groups[0], f32_paths[0])][0] if m != "byte-o0"]
    emit("## 4. FP8 made from the fp32 tensors (ml_dtypes, absmax -> 448 / 57344)")
    emit()
    emit("exp b/e: exponent field only (E4M3: 4 bits raw, E5M2: 5 bits). sgnexp: sign and exponent "
         "as one symbol. Totals add sign raw (1 bit) and the mantissa field order-0 (or raw). "
         "Per-row scales are not counted. 'best exp ctx' = best of the exp|... models per file.")
    emit()
    fp8_best = {}
    for g in fp8_groups:
        emit(f"### 4. {g}")
        emit()
        rows = []
        bests = []
        for p in f32_paths:
            key = (g, p)
            n = nel(p)
            eb = {m: sum(t[m] for t in E8[key]) / n
                  for m in exp_models + se_models + ["nt:exp|prev,row4", "nt:exp|prev,above4"]}
            bexp = min(exp_models[1:], key=lambda m: eb[m])
            bse = min(se_models, key=lambda m: eb[m])
            btot = min(fp8_total_models, key=lambda m: qsum(key, m))
            bests.append(btot)
            rows.append([short(p), n, f2(qsum(key, "byte-o0") / n), f2(eb["exp-o0"]),
                         f2(eb["exp|prev"]), f2(eb["exp|prev4"]), f2(eb["exp|row4"]),
                         f2(eb["exp|prev,row4"]),
                         f'{f2(eb["nt:exp|prev,row4"])} / {f2(eb["nt:exp|prev,above4"])}',
                         f"{f2(eb[bexp])} {bexp}",
                         f"{f2(eb[bse])} {bse}", f"{f2(qsum(key, btot) / n)} {btot}",
                         fp(d8(key, btot))])
        fp8_best[g] = min(fp8_total_models,
                          key=lambda m: np.mean([d8((g, p), m) for p in f32_paths]))
        emit(md_table(["file", "elements", "byte o0 b/e", "exp o0", "exp|prev", "exp|prev4",
                       "exp|row4", "exp|prev,row4", "free-table prev,row4 / prev,above4",
                       "best exp ctx", "best sgn+exp",
                       "best total b/e", "% vs byte o0"], rows))
        emit()
        emit(f"Best single model over files (mean %): {fp8_best[g]} "
             f"{fp(np.mean([d8((g, p), fp8_best[g]) for p in f32_paths]))}")
        emit()

    emit("## 5. INT8 made from the fp32 tensors (per-row symmetric absmax, [-127,127])")
    emit()
    emit("predT: per TxT tile the cheapest of none/left/top/avg/clamped gradient (choice log2 5 "
         "bits per tile), residual mod 256 with one table per predictor (-shared: one table). "
         "haarL: L-level integer S-transform on 8x8 tiles, one table per subband class "
         "(ragged edges: byte order-0).")
    emit()
    int8_models = ["pred8", "pred8-shared", "pred16", "pred16-shared", "haar2", "haar3"]
    rows = []
    for p in f32_paths:
        key = ("int8-row", p)
        n = nel(p)
        r = [short(p), n, f2(qsum(key, "byte-o0") / n)]
        for m in int8_models:
            r.append(f"{f2(qsum(key, m) / n)} ({fp(d8(key, m))})")
        rows.append(r)
    emit(md_table(["file", "elements", "byte o0 b/e"] + int8_models, rows))
    emit()
    print(f"  [{time.time() - t0:6.1f}s] quantised done", file=sys.stderr)

    # ---------------- 6. per-tensor choice
    emit("## 6. Per-tensor choice: each tensor takes its cheapest option")
    emit()
    emit("bf16/fp32 options: baseline, every item-1 variant, chunk tables (sorted or not), every "
         "item-1 variant after sorting, joint exp+1/+2. fp8: every model of item 4. int8: every "
         "model of item 5. log2(number of options) bits per tensor for the choice.")
    emit()
    choice_d = {}
    rows = []

    def most_picked(picks, base):
        other = [x for x in picks if x != base]
        return max(sorted(set(other)), key=other.count) if other else "-"

    for g, ps in groups:
        for p in ps:
            b = fsum(p, "baseline")
            c = sum(min(r["cost"].values()) + math.log2(len(r["cost"])) for r in F[p]["recs"])
            picks = [min(r["cost"], key=r["cost"].get) for r in F[p]["recs"]]
            top = most_picked(picks, "baseline")
            d = pct(c, b, F[p]["est"] * 8)
            choice_d[(g, p)] = d
            rows.append([g, short(p), f2(b / nel(p)), f2(c / nel(p)), fp(d),
                         f"{sum(x != 'baseline' for x in picks)}/{len(picks)}", top])
    for g in fp8_groups + ["int8-row"]:
        for p in f32_paths:
            key = (g, p)
            b = qsum(key, "byte-o0")
            c = sum(min(t.values()) + math.log2(len(t)) for t in Q8[key])
            picks = [min(t, key=t.get) for t in Q8[key]]
            top = most_picked(picks, "byte-o0")
            d = pct(c, b, b)
            choice_d[(g, p)] = d
            rows.append([g, short(p), f2(b / nel(p)), f2(c / nel(p)), fp(d),
                         f"{sum(x != 'byte-o0' for x in picks)}/{len(picks)}", top])
    emit(md_table(["dtype", "file", "base b/e", "chosen b/e", "change", "tensors switched",
                   "most picked non-baseline"], rows))
    emit()

    # ---------------- summary
    emit("## Summary")
    emit()
    emit("Mean of per-file size change vs today's codec (negative = smaller). Verdict: worth "
         "implementing if the mean saving is >= 1% of the file (bf16/fp32) or >= 3% (fp8/int8).")
    emit()
    srows = []

    seen = set()

    def add(tech, g, ds, files, onebyte):
        if (tech, g) in seen:
            return
        seen.add((tech, g))
        ds = np.asarray(ds)
        m = float(ds.mean())
        thr = 3.0 if onebyte else 1.0
        verdict = "worth implementing" if m <= -thr else "not worth it"
        bi, wi = int(ds.argmin()), int(ds.argmax())
        srows.append([tech, g, fp(m), f"{short(files[bi])} {fp(ds[bi])}",
                      f"{short(files[wi])} {fp(ds[wi])}", verdict])

    for g, ps in groups:
        for fam in ("prev", "above", "row", "col", "combo"):
            v = fam_best[(g, fam)]
            add(f"1 exp ctx: {v}", g, [dfile(p, v) for p in ps], ps, False)
        add("2(ii) chunk tables, unsorted", g, [dfile(p, "chunk256") for p in ps], ps, False)
        add("2(ii) chunk tables, rows sorted", g, [dfile(p, "sorted-chunk256") for p in ps], ps,
            False)
        best = fam_best[(g, "best")]
        add(f"2(iii) {best}, rows sorted", g, [dfile(p, "sorted-" + best) for p in ps], ps, False)
        abv = fam_best[(g, "above")]
        add(f"2(iii) {abv}, rows sorted", g, [dfile(p, "sorted-" + abv) for p in ps], ps, False)
        add("3 joint exp + 1 mantissa bit", g, [dfile(p, "joint1") for p in ps], ps, False)
        add("3 joint exp + 2 mantissa bits", g, [dfile(p, "joint2") for p in ps], ps, False)
    for g in fp8_groups:
        m = fp8_best[g]
        add(f"4 fp8 {m}", g, [d8((g, p), m) for p in f32_paths], f32_paths, True)
    for m in int8_models:
        add(f"5 int8 {m}", "int8-row", [d8(("int8-row", p), m) for p in f32_paths], f32_paths,
            True)
    for g, ps in groups:
        add("6 per-tensor best-of", g, [choice_d[(g, p)] for p in ps], ps, False)
    for g in fp8_groups + ["int8-row"]:
        add("6 per-tensor best-of", g, [choice_d[(g, p)] for p in f32_paths], f32_paths, True)
    emit(md_table(["technique", "dtype", "mean change", "best file", "worst file", "verdict"],
                  srows))
    emit()
    if "e4m3-tensor" in fp8_groups:
        for g in ("e4m3-tensor", "e4m3-row"):
            vals = []
            for p in f32_paths:
                n = nel(p)
                vals.append(min(sum(t[m] for t in E8[(g, p)]) / n for m in exp_models[1:]))
            emit(f"E4M3 exponent question ({g}): best static-context exponent bits/elem per file "
                 f"{', '.join(f2(v) for v in vals)}; mean {f2(np.mean(vals))}; "
                 f"<= 1.6 in {sum(v <= 1.6 for v in vals)}/{len(vals)} files.")
            emit()
    emit("Notes: " + ("; ".join(notes) if notes else "no tensor was subsampled (all rows used)")
         + f". Runtime {time.time() - t0:.0f} s.")
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {args.out} in {time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
