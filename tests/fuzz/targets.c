/* targets.c - fuzz targets (contracts in targets.h).
 *
 * Input layouts:
 *   fz_rans:  u8 m (m % FZ_RANS_MAXSYM + 1 pairs follow), u8 flags (bit 0:
 *             merge as BF16, else HI_LO; bits 1-7: the JOINT base, lowered
 *             until every symbol makes an exponent), m x (u8 symbol, u8
 *             weight), u24 LE n (symbols to decode, masked to 16 bits:
 *             larger n only costs time, the paths are the same), then the
 *             block.
 *             The table is rans_normalize() of counts[symbol] += weight + 1
 *             (a second symbol is added when only one is named).
 *   fz_chunk: u8 codec (% 5: 0 RAW, 1 ZSTD, 2 PLANES, 3 JOINT, 4 unknown),
 *             u8 dtype (% WC_DT_COUNT), u16 LE params length L, u32 LE
 *             decoded bytes (% FZ_CHUNK_MAX_BYTES + 1), L bytes of
 *             parameters, then the payload.
 *   fz_container, fz_safetensors: the file itself.
 * fz_rans and fz_chunk also decode on every rANS path the CPU has and
 * require the scalar path's verdict and bytes from each.
 */
#include "targets.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "codec.h"
#include "container.h"
#include "rans.h"
#include "safetensors.h"
#include "wcodec.h"

__attribute__((noreturn, format(printf, 1, 2))) static void
fz_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FUZZ PROPERTY BROKEN: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static void *fz_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fz_die("out of memory in the harness (%zu bytes)", n);
    return p;
}

/* The detail of the last failure must name the file it is about. */
static void fz_check_detail(const char *name, int rc, const char *what)
{
    const char *d = wcodec_errdetail();
    if (!d || !strstr(d, name))
        fz_die("%s: error %s with a detail that does not name %s: '%s'", what,
               wcodec_strerror(rc), name, d ? d : "(null)");
    if (strchr(d, '\n'))
        fz_die("%s: detail is not one line: '%s'", what, d);
}

/* ---- container ------------------------------------------------------------ */

#define FZ_NAME "fuzz.wcodec"
#define FZ_READ_CAP (1u << 20)          /* largest pread the harness makes */
#define FZ_VERIFY_CAP (64ull << 20)     /* decoded bytes verify may cost */

typedef struct {
    const uint8_t *d;
    size_t n;
    wcodec *w;
    uint64_t size;
    uint64_t nchunks;
    uint64_t *off; /* chunk extents and checksums from the raw index */
    uint32_t *len;
    uint64_t *sum;
} fz_ct;

static int fz_open_error_known(int rc)
{
    switch (-rc) {
    case WCODEC_E_NOT_CONTAINER:
    case WCODEC_E_VERSION:
    case WCODEC_E_TRUNCATED:
    case WCODEC_E_CORRUPT:
    case WCODEC_E_IO:
    case WCODEC_E_NOMEM:
        return 1;
    default:
        return 0;
    }
}

static int fz_read_error_known(int rc)
{
    return rc == -WCODEC_E_CORRUPT || rc == -WCODEC_E_TRUNCATED ||
           rc == -WCODEC_E_IO || rc == -WCODEC_E_NOMEM;
}

/* Chunk holding file offset off, by bisection over the raw extents. */
static uint64_t fz_chunk_of(const fz_ct *t, uint64_t off)
{
    uint64_t lo = 0, hi = t->nchunks;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (t->off[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The raw index of an accepted container, parsed here without the library:
 * what the library accepted must be a well-formed container. */
static void fz_raw_index(fz_ct *t)
{
    const uint8_t *d = t->d;
    if (t->n < WC_SUPER_SIZE)
        fz_die("accepted a %zu-byte file (shorter than the superblock)", t->n);
    if (memcmp(d, WC_MAGIC, 8) || XXH3_64bits(d, 72) != wc_get64(d + 72))
        fz_die("accepted a bad magic or superblock checksum");
    uint64_t ioff = wc_get64(d + 24), isz = wc_get64(d + 32);
    uint64_t nchunks = wc_get64(d + 40);
    uint32_t cs = wc_get32(d + 48), nseg = wc_get32(d + 52);
    if (ioff > t->n || isz > t->n - ioff)
        fz_die("accepted an index outside the file");
    const uint8_t *ix = d + ioff;
    if (XXH3_64bits(ix, isz) != wc_get64(d + 56))
        fz_die("accepted an index checksum mismatch");
    if (isz < WC_DIGEST_SIZE ||
        (isz - WC_DIGEST_SIZE) / WC_SEG_REC < nseg ||
        (isz - WC_DIGEST_SIZE - (uint64_t)nseg * WC_SEG_REC) / WC_CHUNK_REC <
            nchunks)
        fz_die("accepted counts that do not fit the index");
    if (wcodec_size(t->w) != wc_get64(d + 16) ||
        wcodec_chunk_count(t->w) != nchunks || wcodec_chunk_size(t->w) != cs ||
        wcodec_segment_count(t->w) != nseg ||
        wcodec_packed_size(t->w) != t->n)
        fz_die("sizes or counts differ from the superblock");
    t->size = wc_get64(d + 16);
    t->nchunks = nchunks;
    t->off = fz_alloc(nchunks * sizeof *t->off);
    t->len = fz_alloc(nchunks * sizeof *t->len);
    t->sum = fz_alloc(nchunks * sizeof *t->sum);
    const uint8_t *s = ix + WC_DIGEST_SIZE;
    const uint8_t *c = s + (uint64_t)nseg * WC_SEG_REC;
    uint64_t pos = 0, k = 0;
    for (uint32_t i = 0; i < nseg; i++, s += WC_SEG_REC) {
        uint64_t so = wc_get64(s), sl = wc_get64(s + 8), fc = wc_get64(s + 16);
        if (so != pos || sl == 0 || sl > t->size - pos || fc != k)
            fz_die("accepted a segment table that is not contiguous");
        for (uint64_t o = 0; o < sl; o += cs, k++) {
            if (k >= nchunks)
                fz_die("accepted segments needing more chunks than listed");
            t->off[k] = so + o;
            t->len[k] = (uint32_t)(sl - o < cs ? sl - o : cs);
            const uint8_t *r = c + k * WC_CHUNK_REC;
            uint64_t po = wc_get64(r);
            uint32_t psz = wc_get32(r + 8);
            if (po < WC_SUPER_SIZE || po > ioff || psz > ioff - po)
                fz_die("accepted chunk %llu with a payload outside "
                       "[80, index_offset)", (unsigned long long)k);
            if ((r[12] & WC_CHUNK_F_RAW) && psz != t->len[k])
                fz_die("accepted a stored chunk whose size is not its length");
            t->sum[k] = wc_get64(r + 16);
        }
        pos += sl;
    }
    if (pos != t->size || k != nchunks)
        fz_die("accepted segments that do not cover the file");
    for (k = 0; k < nchunks; k++) {
        uint64_t o;
        uint32_t l;
        if (wcodec_chunk_extent(t->w, k, &o, &l) || o != t->off[k] ||
            l != t->len[k])
            fz_die("wcodec_chunk_extent(%llu) disagrees with the index",
                   (unsigned long long)k);
    }
}

/* Bytes [off, off + r) were returned by a successful read: every chunk
 * they touch must decode whole to its stored checksum, and the returned
 * bytes must be that chunk's bytes. */
static void fz_check_read(fz_ct *t, const uint8_t *buf, uint64_t off, size_t r)
{
    uint64_t end = off + r;
    while (off < end) {
        uint64_t k = fz_chunk_of(t, off), got;
        if (wcodec_chunk_find(t->w, off, &got) || got != k)
            fz_die("wcodec_chunk_find(%llu) disagrees with the index",
                   (unsigned long long)off);
        uint8_t *full = fz_alloc(t->len[k]);
        int rc = wcodec_chunk_decode(t->w, k, full);
        if (rc)
            fz_die("a read of chunk %llu succeeded but decoding it whole "
                   "failed (%s)", (unsigned long long)k, wcodec_strerror(rc));
        if (XXH3_64bits(full, t->len[k]) != t->sum[k])
            fz_die("chunk %llu returned bytes that fail its checksum",
                   (unsigned long long)k);
        uint64_t skip = off - t->off[k];
        uint64_t take = t->len[k] - skip;
        if (take > end - off)
            take = end - off;
        if (memcmp(buf, full + skip, take))
            fz_die("read bytes differ from chunk %llu", (unsigned long long)k);
        free(full);
        buf += take;
        off += take;
    }
}

static void fz_read(fz_ct *t, uint64_t off, size_t len)
{
    if (len > FZ_READ_CAP)
        len = FZ_READ_CAP;
    uint8_t *buf = fz_alloc(len);
    ssize_t r = wcodec_pread(t->w, buf, len, off);
    if (r < 0) {
        if (!fz_read_error_known((int)r))
            fz_die("pread: unexpected error %s", wcodec_strerror((int)r));
        fz_check_detail(FZ_NAME, (int)r, "pread");
    } else {
        uint64_t want = off >= t->size ? 0 : t->size - off;
        if (want > len)
            want = len;
        if ((uint64_t)r != want)
            fz_die("pread(%zu, %llu) returned %zd, not %llu", len,
                   (unsigned long long)off, r, (unsigned long long)want);
        fz_check_read(t, buf, off, (size_t)r);
    }
    free(buf);
}

static void fz_verify(fz_ct *t)
{
    if (t->size > FZ_VERIFY_CAP)
        return;
    int rc = wcodec_verify(t->w);
    if (rc) {
        if (!fz_read_error_known(rc) && rc != -WCODEC_E_DIGEST)
            fz_die("verify: unexpected error %s", wcodec_strerror(rc));
        fz_check_detail(FZ_NAME, rc, "verify");
        return;
    }
    /* Verified: every chunk must match its checksum and the whole the
     * digest, recomputed here. */
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        fz_die("out of memory in the harness");
    XXH3_128bits_reset(h);
    for (uint64_t k = 0; k < t->nchunks; k++) {
        uint8_t *b = fz_alloc(t->len[k]);
        rc = wcodec_chunk_decode(t->w, k, b);
        if (rc || XXH3_64bits(b, t->len[k]) != t->sum[k])
            fz_die("verify passed but chunk %llu does not decode to its "
                   "checksum", (unsigned long long)k);
        XXH3_128bits_update(h, b, t->len[k]);
        free(b);
    }
    XXH128_canonical_t cn;
    XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(h));
    XXH3_freeState(h);
    uint8_t dg[16];
    wcodec_digest(t->w, dg);
    if (memcmp(cn.digest, dg, 16) ||
        memcmp(dg, t->d + wc_get64(t->d + 24), 16))
        fz_die("verify passed but the file does not match its digest");
}

static int fz_container_one(const uint8_t *d, size_t n)
{
    int fd = memfd_create("fz-container", MFD_CLOEXEC);
    if (fd < 0)
        fz_die("memfd_create failed");
    for (size_t done = 0; done < n;) {
        ssize_t r = write(fd, d + done, n - done);
        if (r <= 0)
            fz_die("write to memfd failed");
        done += (size_t)r;
    }
    fz_ct t = {.d = d, .n = n};
    int rc = wcodec_open_fd(fd, FZ_NAME, &t.w);
    if (rc) {
        if (!fz_open_error_known(rc) || t.w)
            fz_die("open: unexpected result %d (%s)", rc, wcodec_strerror(rc));
        fz_check_detail(FZ_NAME, rc, "open");
        close(fd);
        return 0;
    }
    fz_raw_index(&t);

    for (uint32_t i = 0; i < wcodec_segment_count(t.w); i++) {
        wcodec_segment_info si;
        if (wcodec_describe_segment(t.w, i, &si) || !si.codec || !si.dtype)
            fz_die("describe_segment(%u) failed", i);
    }
    wcodec_segment_info si;
    if (wcodec_describe_segment(t.w, wcodec_segment_count(t.w), &si) !=
        -WCODEC_E_RANGE)
        fz_die("describe_segment past the end did not fail with RANGE");

    uint64_t sz = t.size, cs = wcodec_chunk_size(t.w);
    uint64_t h = XXH3_64bits(d, n);
    fz_read(&t, 0, 4096 + 17);
    fz_read(&t, sz / 2 > 3000 ? sz / 2 - 3000 : 0, 7000);
    fz_read(&t, sz > 100 ? sz - 100 : 0, 300);
    fz_read(&t, sz, 10);
    fz_read(&t, sz + 5, 1);
    fz_read(&t, UINT64_MAX - 3, 8);
    fz_read(&t, h % (sz + 1), (size_t)((h >> 32) % (2 * cs + 1)));
    fz_read(&t, (h >> 16) % (sz + 1), 1);

    /* Chunk-level calls: the first few and the last, singly and batched. */
    uint64_t nk = t.nchunks < 4 ? t.nchunks : 4;
    size_t batch = 0;
    for (uint64_t k = 0; k < nk; k++)
        batch += t.len[k];
    if (batch <= 4 * FZ_READ_CAP) {
        uint8_t *b = fz_alloc(batch);
        rc = wcodec_decode_chunks(t.w, 0, nk, b, WCODEC_DEVICE_CPU);
        if (!rc) {
            size_t o = 0;
            for (uint64_t k = 0; k < nk; o += t.len[k], k++)
                if (XXH3_64bits(b + o, t.len[k]) != t.sum[k])
                    fz_die("decode_chunks: chunk %llu fails its checksum",
                           (unsigned long long)k);
        } else if (!fz_read_error_known(rc)) {
            fz_die("decode_chunks: unexpected error %s", wcodec_strerror(rc));
        }
        free(b);
    }
    if (wcodec_decode_chunks(t.w, t.nchunks, 1, NULL, WCODEC_DEVICE_CPU) !=
            -WCODEC_E_RANGE ||
        wcodec_decode_chunks(t.w, 1, UINT64_MAX, NULL, WCODEC_DEVICE_CPU) !=
            -WCODEC_E_RANGE)
        fz_die("decode_chunks out of range did not fail with RANGE");
    if (t.nchunks) {
        uint64_t k = t.nchunks - 1;
        uint8_t *b = fz_alloc(t.len[k]);
        rc = wcodec_chunk_decode(t.w, k, b);
        if (!rc && XXH3_64bits(b, t.len[k]) != t.sum[k])
            fz_die("last chunk fails its checksum");
        if (rc && !fz_read_error_known(rc))
            fz_die("chunk_decode: unexpected error %s", wcodec_strerror(rc));
        free(b);
    }
    uint64_t k;
    if (wcodec_chunk_find(t.w, sz, &k) != -WCODEC_E_RANGE)
        fz_die("chunk_find at the end did not fail with RANGE");

    fz_verify(&t);

    wcodec_close(t.w);
    close(fd);
    free(t.off);
    free(t.len);
    free(t.sum);
    return 0;
}

/* Mutated inputs almost never keep their XXH3 checksums, which would stop
 * the fuzzer at the first check: each input also runs with its superblock
 * and index checksums recomputed, reaching the structure checks behind. */
int fz_container(const uint8_t *d, size_t n)
{
    fz_container_one(d, n);
    if (n < WC_SUPER_SIZE || memcmp(d, WC_MAGIC, 8))
        return 0;
    uint8_t *f = fz_alloc(n);
    memcpy(f, d, n);
    uint64_t ioff = wc_get64(f + 24), isz = wc_get64(f + 32);
    if (ioff >= WC_SUPER_SIZE && ioff <= n && isz <= n - ioff)
        wc_put64(f + 56, XXH3_64bits(f + ioff, isz));
    wc_put64(f + 72, XXH3_64bits(f, 72));
    if (memcmp(f, d, n))
        fz_container_one(f, n);
    free(f);
    return 0;
}

/* ---- rANS ------------------------------------------------------------------ */

/* Every decoder path (rans.h: scalar, AVX2, AVX-512, those the CPU has)
 * must give the scalar path's verdict and bytes. decode(arg, out) runs one
 * decode on the selected path; out holds ob bytes. */
static void fz_paths(int (*decode)(void *arg, uint8_t *out), void *arg,
                     size_t ob, const char *what)
{
    int was = rans_simd_active();
    uint8_t *want = fz_alloc(ob), *got = fz_alloc(ob);
    rans_simd_select(RANS_SIMD_SCALAR);
    int wrc = decode(arg, want);
    for (int l = 1; l < RANS_SIMD_COUNT; l++) {
        if (rans_simd_select(l))
            continue;
        memset(got, 0xA5, ob);
        int rc = decode(arg, got);
        if ((rc == 0) != (wrc == 0))
            fz_die("%s: the %s path returns %d, scalar %d", what,
                   rans_simd_name(l), rc, wrc);
        if (!wrc && memcmp(got, want, ob))
            fz_die("%s: the %s path decodes other bytes than scalar", what,
                   rans_simd_name(l));
    }
    rans_simd_select(was);
    free(want);
    free(got);
}

typedef struct {
    const rans_dtab *dt;
    const uint8_t *blk, *side;
    size_t len, ns;
    unsigned base;
    int call; /* 0 decode, 1 BF16, 2 HI_LO, 3 JOINT */
    uint8_t *tmp;
} fz_rans_call;

static int fz_rans_run1(fz_rans_call *c, uint8_t *out)
{
    switch (c->call) {
    case 0:
        return rans_decode(c->dt, c->blk, c->len, out, c->ns);
    case 1:
    case 2:
        return rans_decode_merge16(c->dt, c->blk, c->len, c->side, out, c->ns,
                                   c->tmp,
                                   c->call == 1 ? RANS_MERGE_BF16
                                                : RANS_MERGE_HI_LO);
    default:
        return rans_decode_joint(c->dt, c->blk, c->len, c->side, c->base, out,
                                 c->ns, c->tmp);
    }
}

/* The call, then the same block twice through rans_decode_pair: both
 * halves must give the single call's verdict and bytes. */
static int fz_rans_run(void *arg, uint8_t *out)
{
    static const int how[4] = {0, RANS_MERGE_BF16, RANS_MERGE_HI_LO,
                               RANS_MERGE_JOINT};
    fz_rans_call *c = arg;
    int rc = fz_rans_run1(c, out);
    size_t ob = c->call ? 2 * c->ns : c->ns;
    uint8_t *o1 = fz_alloc(ob), *o2 = fz_alloc(ob), *t2 = fz_alloc(c->ns);
    rans_job a = {.t = c->dt, .src = c->blk, .len = c->len, .side = c->side,
                  .dst = o1, .n = c->ns, .tmp = c->tmp, .how = how[c->call],
                  .base = c->base};
    rans_job b = a;
    b.dst = o2;
    b.tmp = t2;
    int m = rans_decode_pair(&a, &b);
    if (m != (rc ? 3 : 0))
        fz_die("rans_decode_pair returns %d where the single call returns %d",
               m, rc);
    if (!rc && (memcmp(o1, out, ob) || memcmp(o2, out, ob)))
        fz_die("rans_decode_pair decodes other bytes than the single call");
    free(o1);
    free(o2);
    free(t2);
    return rc;
}

typedef struct {
    const wc_segcodec *c;
    const uint8_t *pay;
    size_t plen, bytes;
    uint8_t *scratch;
} fz_chunk_call;

/* The chunk alone, then twice through wc_chunk_decode_pair: both halves
 * must give the single call's verdict and bytes. */
static int fz_chunk_run(void *arg, uint8_t *out)
{
    fz_chunk_call *c = arg;
    int rc = wc_chunk_decode(c->c, c->pay, c->plen, out, c->bytes, c->scratch);
    uint8_t *o1 = fz_alloc(c->bytes), *o2 = fz_alloc(c->bytes);
    uint8_t *s2 = fz_alloc(2 * c->bytes);
    int m = wc_chunk_decode_pair(c->c, c->pay, c->plen, o1, c->bytes, c->c,
                                 c->pay, c->plen, o2, c->bytes, s2);
    if (m != (rc ? 3 : 0))
        fz_die("wc_chunk_decode_pair returns %d where wc_chunk_decode "
               "returns %d", m, rc);
    if (!rc && (memcmp(o1, out, c->bytes) || memcmp(o2, out, c->bytes)))
        fz_die("wc_chunk_decode_pair decodes other bytes than "
               "wc_chunk_decode");
    free(o1);
    free(o2);
    free(s2);
    return rc;
}

int fz_rans(const uint8_t *d, size_t n)
{
    if (n < 2)
        return 0;
    size_t m = d[0] % FZ_RANS_MAXSYM + 1;
    int bf16 = d[1] & 1;
    size_t hdr = 2 + 2 * m + 3;
    if (n < hdr)
        return 0;
    uint64_t counts[256] = {0};
    int distinct = 0;
    for (size_t i = 0; i < m; i++) {
        uint8_t s = d[2 + 2 * i];
        distinct += counts[s] == 0;
        counts[s] += (uint64_t)d[3 + 2 * i] + 1;
    }
    if (distinct < 2)
        counts[(uint8_t)(d[2] + 1)] += 1;
    uint16_t freq[256];
    rans_normalize(counts, freq);
    if (rans_freq_valid(freq))
        fz_die("rans_normalize made an invalid table");
    for (int s = 0; s < 256; s++)
        if ((counts[s] != 0) != (freq[s] != 0))
            fz_die("rans_normalize: symbol %d count %llu freq %u", s,
                   (unsigned long long)counts[s], freq[s]);
    const uint8_t *p = d + 2 + 2 * m;
    size_t ns = ((size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16) &
                0xFFFF;
    const uint8_t *blk = p + 3;
    size_t len = n - hdr;

    rans_dtab *dt = fz_alloc(sizeof *dt);
    rans_etab et;
    rans_dtab_init(dt, freq);
    rans_etab_init(&et, freq);
    uint8_t *out = fz_alloc(ns);
    int rc = rans_decode(dt, blk, len, out, ns);

    /* Fused decode + merge must agree with decode, then merge. */
    uint8_t *plane1 = fz_alloc(ns), *m2 = fz_alloc(2 * ns), *tmp = fz_alloc(ns);
    for (size_t i = 0; i < ns; i++)
        plane1[i] = (uint8_t)(i * 151u + 7u);
    enum rans_merge how = bf16 ? RANS_MERGE_BF16 : RANS_MERGE_HI_LO;
    int rc2 = rans_decode_merge16(dt, blk, len, plane1, m2, ns, tmp, how);
    if ((rc == 0) != (rc2 == 0))
        fz_die("rans_decode %d but rans_decode_merge16 %d", rc, rc2);
    if (!rc) {
        uint8_t *m1 = fz_alloc(2 * ns);
        rans_merge16(out, plane1, ns, m1, how);
        if (memcmp(m1, m2, 2 * ns))
            fz_die("fused decode+merge differs from decode then merge");
        free(m1);
    }
    /* Fused JOINT decode (rANS, 7-bit unpack, merge) must agree with
     * decode, then rans_merge_joint; the packed bits in a buffer of their
     * exact size. */
    int smax = 255;
    while (smax > 0 && !freq[smax])
        smax--;
    unsigned base = d[1] >> 1;
    if (base + (unsigned)(smax >> 1) > 255)
        base = 255 - (unsigned)(smax >> 1);
    size_t r7 = rans_raw7_size(ns);
    uint8_t *raw7 = fz_alloc(r7), *j2 = fz_alloc(2 * ns);
    for (size_t i = 0; i < r7; i++)
        raw7[i] = (uint8_t)(i * 73u + 11u);
    int rc3 = rans_decode_joint(dt, blk, len, raw7, base, j2, ns, tmp);
    if ((rc == 0) != (rc3 == 0))
        fz_die("rans_decode %d but rans_decode_joint %d", rc, rc3);
    if (!rc) {
        uint8_t *j1 = fz_alloc(2 * ns);
        rans_merge_joint(out, raw7, ns, base, j1);
        if (memcmp(j1, j2, 2 * ns))
            fz_die("fused JOINT decode differs from decode then merge "
                   "(%zu symbols, base %u)", ns, base);
        free(j1);
    }
    for (int call = 0; call < 4; call++) {
        fz_rans_call fc = {.dt = dt, .blk = blk, .side = call == 3 ? raw7 : plane1,
                           .len = len, .ns = ns, .base = base, .call = call,
                           .tmp = tmp};
        fz_paths(fz_rans_run, &fc, call ? 2 * ns : ns, "rans block");
    }
    free(raw7);
    free(j2);
    if (!rc) {
        /* Valid blocks are exactly the encoder's outputs. */
        size_t cap = rans_bound(ns);
        uint8_t *enc = fz_alloc(cap);
        size_t el = rans_encode(&et, out, ns, enc, cap);
        if (el != len || memcmp(enc, blk, len))
            fz_die("a decodable block (%zu bytes, %zu symbols) does not "
                   "re-encode to itself (%zu bytes)", len, ns, el);
        free(enc);
    }
    free(plane1);
    free(m2);
    free(tmp);
    free(out);
    free(dt);
    return 0;
}

/* ---- chunk codecs ---------------------------------------------------------- */

int fz_chunk(const uint8_t *d, size_t n)
{
    if (n < FZ_CHUNK_HDR)
        return 0;
    wc_segcodec c;
    memset(&c, 0, sizeof c);
    c.codec = d[0] % FZ_CHUNK_CODECS;
    c.dtype = d[1] % WC_DT_COUNT;
    c.nplanes = (uint8_t)wc_dtype_size(c.dtype);
    size_t pl = wc_get16(d + 2);
    size_t bytes = wc_get32(d + 4) % (FZ_CHUNK_MAX_BYTES + 1);
    if (n - FZ_CHUNK_HDR < pl)
        return 0;
    /* Parameters in a buffer of their exact size, as over-reads of the
     * index would not be caught otherwise. */
    uint8_t *params = fz_alloc(pl);
    memcpy(params, d + FZ_CHUNK_HDR, pl);
    int prc = wc_segcodec_params_parse(&c, params, pl);
    free(params);
    if (prc) {
        for (int k = 0; k < WC_MAX_PLANES; k++)
            if (c.dtab[k])
                fz_die("params_parse failed but left a table allocated");
        return 0;
    }
    if ((c.codec == WC_CODEC_PLANES || c.codec == WC_CODEC_JOINT) &&
        wc_segcodec_params_size(&c) != pl)
        fz_die("params_parse accepted %zu bytes, params_size says %zu", pl,
               wc_segcodec_params_size(&c));
    const uint8_t *pay = d + FZ_CHUNK_HDR + pl;
    size_t plen = n - FZ_CHUNK_HDR - pl;
    uint8_t *dst = fz_alloc(bytes), *scratch = fz_alloc(bytes);
    int rc = wc_chunk_decode(&c, pay, plen, dst, bytes, scratch);
    fz_chunk_call fc = {.c = &c, .pay = pay, .plen = plen, .bytes = bytes,
                        .scratch = scratch};
    fz_paths(fz_chunk_run, &fc, bytes, "chunk");
    if (!rc) {
        size_t cap = wc_chunk_bound(bytes);
        uint8_t *enc = fz_alloc(cap), *s2 = fz_alloc(bytes);
        rans_etab et[WC_MAX_PLANES];
        for (unsigned k = 0; k < c.nplanes; k++)
            if ((c.codec == WC_CODEC_PLANES || c.codec == WC_CODEC_JOINT) &&
                c.mode[k] == WC_PLANE_RANS)
                rans_etab_init(&et[k], c.freq[k]);
        if (c.codec == WC_CODEC_RAW) {
            if (plen != bytes || memcmp(dst, pay, bytes))
                fz_die("RAW chunk decoded to other bytes");
        } else if (c.codec == WC_CODEC_PLANES) {
            size_t r = wc_chunk_encode(&c, et, dst, bytes, enc, cap, s2, 0);
            if (r != plen || memcmp(enc, pay, plen))
                fz_die("a PLANES payload (dtype %s, %zu bytes) that decodes "
                       "does not re-encode to itself", wc_dtype_name(c.dtype),
                       bytes);
        } else if (c.codec == WC_CODEC_JOINT) {
            /* Every decoded exponent is (sym >> 1) + base with a symbol of
             * the table, so the elements split back; the rANS block is the
             * encoder's, and the 7-bit values pack to the same bytes (the
             * decoder rejects set padding bits, as wcodec.5 requires). */
            size_t r = wc_chunk_encode(&c, et, dst, bytes, enc, cap, s2, 0);
            if (r != plen || memcmp(enc, pay, plen))
                fz_die("a JOINT payload (%zu bytes) that decodes does not "
                       "re-encode to itself", bytes);
        } else if (c.codec == WC_CODEC_ZSTD) {
            size_t r = wc_chunk_encode(&c, et, dst, bytes, enc, cap, s2, 1);
            uint8_t *back = fz_alloc(bytes);
            if (r == WC_ENCODE_FAIL ||
                wc_chunk_decode(&c, enc, r, back, bytes, s2) ||
                memcmp(back, dst, bytes))
                fz_die("ZSTD chunk does not round-trip");
            free(back);
        } else {
            fz_die("unknown codec %u decoded", c.codec);
        }
        free(enc);
        free(s2);
    }
    free(dst);
    free(scratch);
    wc_segcodec_free(&c);
    return 0;
}

/* ---- safetensors ----------------------------------------------------------- */

#define FZ_ST_NAME "fuzz.safetensors"

static void fz_st_check(const uint8_t *d, uint64_t file_size, uint64_t hl)
{
    wc_st_file f;
    int rc = wc_st_parse(d, file_size, FZ_ST_NAME, &f);
    if (rc) {
        if (rc != -WCODEC_E_ST_FORMAT && rc != -WCODEC_E_ST_JSON &&
            rc != -WCODEC_E_ST_DTYPE && rc != -WCODEC_E_ST_SHAPE &&
            rc != -WCODEC_E_ST_OFFSETS && rc != -WCODEC_E_NOMEM)
            fz_die("wc_st_parse: unexpected error %s", wcodec_strerror(rc));
        fz_check_detail(FZ_ST_NAME, rc, "wc_st_parse");
        if (f.t || f.n)
            fz_die("wc_st_parse failed but left tensors");
        return;
    }
    if (f.header_len != hl || f.data_start != 8 + hl)
        fz_die("wc_st_parse: header length %llu, wc_st_header_len said %llu",
               (unsigned long long)f.header_len, (unsigned long long)hl);
    const wc_st_tensor *prev = NULL;
    for (size_t i = 0; i < f.n; i++) {
        const wc_st_tensor *t = &f.t[i];
        if (!t->name || t->dtype <= WC_DT_NONE || t->dtype >= WC_DT_COUNT)
            fz_die("tensor %zu: no name or bad dtype %d", i, t->dtype);
        if (t->begin < f.data_start || t->begin > t->end ||
            t->end > file_size)
            fz_die("tensor '%s' [%llu, %llu) outside the data region",
                   t->name, (unsigned long long)t->begin,
                   (unsigned long long)t->end);
        if ((t->end - t->begin) % wc_dtype_size(t->dtype))
            fz_die("tensor '%s' is not a whole number of elements", t->name);
        if (i && t->begin < f.t[i - 1].begin)
            fz_die("tensors not sorted by offset");
        if (t->begin == t->end)
            continue;
        if (prev && t->begin < prev->end)
            fz_die("tensors '%s' and '%s' overlap", prev->name, t->name);
        prev = t;
    }
    wc_st_free(&f);
    if (f.t || f.n)
        fz_die("wc_st_free left tensors");
}

int fz_safetensors(const uint8_t *d, size_t n)
{
    uint64_t hl;
    int rc = wc_st_header_len(d, n, n, FZ_ST_NAME, &hl);
    if (rc) {
        if (rc != -WCODEC_E_ST_FORMAT)
            fz_die("wc_st_header_len: unexpected error %s",
                   wcodec_strerror(rc));
        fz_check_detail(FZ_ST_NAME, rc, "wc_st_header_len");
        return 0;
    }
    if (hl > n - 8 || hl > WC_ST_MAX_HEADER)
        fz_die("header length %llu accepted for a %zu-byte file",
               (unsigned long long)hl, n);
    /* Less data than the file claims: wc_st_header_len must refuse it. */
    if (n > 8 && wc_st_header_len(d, n, 8 + hl - 1, FZ_ST_NAME, &hl) == 0)
        fz_die("a header longer than the file was accepted");
    fz_st_check(d, n, hl);
    /* The same header in a larger file (only the header is read), which
     * reaches the offset checks without large inputs. */
    fz_st_check(d, n + 4096 + d[n - 1] * 1000003ull, hl);
    fz_st_check(d, UINT64_MAX, hl);
    return 0;
}
