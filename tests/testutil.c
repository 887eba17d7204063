/* testutil.c - see testutil.h. */
#include "testutil.h"

#include "rans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "codec.h"

/* ---- random -------------------------------------------------------------- */

uint64_t tu_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_unif(uint64_t *s)
{
    return (double)(tu_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

double tu_gauss(uint64_t *s)
{
    double u = tu_unif(s), v = tu_unif(s);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void tu_fill_random(uint64_t *s, uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t r = tu_rand(s);
        memcpy(p + i, &r, 8);
    }
    uint64_t r = tu_rand(s);
    for (; i < n; i++, r >>= 8)
        p[i] = (uint8_t)r;
}

/* ---- conversions ----------------------------------------------------------- */

uint16_t tu_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)(x >> 16 | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

uint16_t tu_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffff;
    if (a >= 0x7f800000)
        return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
    if (a >= 0x477ff000) /* rounds to >= 65520: infinity */
        return sign | 0x7c00;
    if (a < 0x38800000) { /* below 2^-14: subnormal, step 2^-24 */
        float v;
        memcpy(&v, &a, 4);
        return sign | (uint16_t)lrintf(v * 16777216.0f);
    }
    uint32_t h = ((a >> 23) - 127 + 15) << 10 | (a & 0x7fffff) >> 13;
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return sign | (uint16_t)h;
}

uint8_t tu_f32_to_e5m2(float f)
{
    /* E5M2 is the top byte of F16: round the low byte away (ties even). */
    uint16_t h = tu_f32_to_f16(f);
    if ((h & 0x7fff) >= 0x7c00)
        return (uint8_t)(h >> 8);
    uint32_t r = (uint32_t)h + 0x7f + ((h >> 8) & 1);
    return (uint8_t)(r >> 8);
}

uint8_t tu_f32_to_e4m3(float f)
{
    uint8_t s = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (isnan(a))
        return s | 0x7f;
    if (a >= 448.0f)
        return s | 0x7e;
    if (a < 0.015625f) /* 2^-6: subnormal, step 2^-9 */
        return s | (uint8_t)lrintf(a * 512.0f);
    int e;
    frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int E = e - 1;
    long m = lrintf((ldexpf(a, -E) - 1.0f) * 8.0f);
    int be = E + 7;
    if (m == 8) {
        m = 0;
        be++;
    }
    if (be > 15 || (be == 15 && m == 7))
        return s | 0x7e;
    return s | (uint8_t)(be << 3 | m);
}

/* ---- tensor data ---------------------------------------------------------- */

const char *const tu_kind_name[TU_KINDS] = {"real", "smallint", "const",
                                            "zero", "random"};

static void put(uint8_t *dst, size_t i, unsigned es, uint64_t v)
{
    for (unsigned k = 0; k < es; k++)
        dst[es * i + k] = (uint8_t)(v >> 8 * k);
}

static uint64_t f32bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static uint64_t f64bits(double f)
{
    uint64_t x;
    memcpy(&x, &f, 8);
    return x;
}

/* One element of dtype holding the number v (floats and ints alike). */
static uint64_t encode_num(int dt, double v)
{
    switch (dt) {
    case WC_DT_BF16: return tu_f32_to_bf16((float)v);
    case WC_DT_F16: return tu_f32_to_f16((float)v);
    case WC_DT_F8_E4M3: return tu_f32_to_e4m3((float)v);
    case WC_DT_F8_E5M2: return tu_f32_to_e5m2((float)v);
    case WC_DT_F32: return f32bits((float)v);
    case WC_DT_F64: return f64bits(v);
    case WC_DT_BOOL: return v != 0;
    default: return (uint64_t)(int64_t)llround(v);
    }
}

void tu_gen(int dt, int kind, uint8_t *dst, size_t n, uint64_t *seed)
{
    unsigned es = wc_dtype_size(dt);
    if (kind == TU_ZERO) {
        memset(dst, 0, n * es);
        return;
    }
    if (kind == TU_RANDOM) {
        tu_fill_random(seed, dst, n * es);
        return;
    }
    if (kind == TU_CONST) {
        uint64_t v = encode_num(dt, dt == WC_DT_BOOL ? 1 : 3.0);
        for (size_t i = 0; i < n; i++)
            put(dst, i, es, v);
        return;
    }
    if (kind == TU_SMALLINT) {
        for (size_t i = 0; i < n; i++) {
            double v = (double)(tu_rand(seed) & 7);
            put(dst, i, es, encode_num(dt, dt == WC_DT_BOOL ? v > 3 : v));
        }
        return;
    }
    /* REAL: rows of 256 elements, each with its own scale (lognormal around
     * the dtype's typical magnitude), like weight matrices. */
    double scale = 1;
    for (size_t i = 0; i < n; i++) {
        if (i % 256 == 0)
            scale = exp(0.5 * tu_gauss(seed));
        double g = tu_gauss(seed);
        uint64_t v;
        switch (dt) {
        case WC_DT_BOOL: v = tu_unif(seed) < 0.2; break;
        case WC_DT_U8: v = (uint64_t)(-log(1 - tu_unif(seed)) * 4); break;
        case WC_DT_I8: {
            double q = g * 30 * scale;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            v = encode_num(dt, q);
            break;
        }
        case WC_DT_F8_E4M3: v = encode_num(dt, g * 100 * scale); break;
        case WC_DT_F8_E5M2: v = encode_num(dt, g * scale); break;
        case WC_DT_I16: v = encode_num(dt, g * 300 * scale); break;
        case WC_DT_U16: /* token ids, Zipf-like */
            v = (uint64_t)exp(tu_unif(seed) * log(32000.0));
            break;
        case WC_DT_I32: v = encode_num(dt, g * 1000 * scale); break;
        case WC_DT_U32: v = (uint64_t)exp(tu_unif(seed) * log(150000.0)); break;
        case WC_DT_I64: v = i % 4096; break; /* position ids */
        case WC_DT_U64: v = (uint64_t)(-log(1 - tu_unif(seed)) * 1000); break;
        case WC_DT_F64: v = encode_num(dt, g * scale); break;
        default: v = encode_num(dt, g * 0.02 * scale); break; /* BF16 F16 F32 */
        }
        put(dst, i, es, v);
    }
}

/* ---- guarded memory ---------------------------------------------------- */

static size_t page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

void *tu_guard_alloc(size_t n)
{
    size_t pg = page();
    size_t body = (n + pg - 1) / pg * pg;
    uint8_t *m = mmap(NULL, body + pg, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    if (mprotect(m + body, pg, PROT_NONE)) {
        perror("mprotect");
        abort();
    }
    memset(m, 0xA5, body);
    return m + body - n;
}

void tu_guard_free(void *p, size_t n)
{
    size_t pg = page();
    size_t body = (n + pg - 1) / pg * pg;
    munmap((uint8_t *)p + n - body, body + pg);
}

/* ---- files ---------------------------------------------------------------- */

char *tu_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char *p;
    if (asprintf(&p, "%s/wcodec-test.XXXXXX", t && *t ? t : "/tmp") < 0)
        abort();
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    return p;
}

static void rmrf_rec(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char *sub = tu_path(path, e->d_name);
                rmrf_rec(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void tu_rmrf(const char *path)
{
    rmrf_rec(path);
}

char *tu_path(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

int tu_write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const uint8_t *b = p;
    while (n) {
        ssize_t r = write(fd, b, n);
        if (r <= 0) {
            close(fd);
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return close(fd);
}

uint8_t *tu_read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return NULL;
    }
    size_t sz = (size_t)st.st_size;
    uint8_t *b = malloc(sz ? sz : 1);
    size_t got = 0;
    while (b && got < sz) {
        ssize_t r = read(fd, b + got, sz - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *n = got;
    return b;
}

int tu_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

void tu_xxh128(const void *p, size_t n, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
    memcpy(out, c.digest, 16);
}

/* ---- safetensors ---------------------------------------------------------- */

uint8_t *tu_st_file(const char *header, size_t hlen, const void *data,
                    size_t dlen, size_t *out_len)
{
    size_t n = 8 + hlen + dlen;
    uint8_t *b = malloc(n ? n : 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> 8 * i);
    memcpy(b + 8, header, hlen);
    if (dlen)
        memcpy(b + 8 + hlen, data, dlen);
    *out_len = n;
    return b;
}

void tu_str_addf(tu_str *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int r = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (r < 0)
            abort();
        if ((size_t)r < room) {
            b->len += (size_t)r;
            return;
        }
        size_t nc = (b->cap + (size_t)r + 1) * 2;
        char *ns = realloc(b->s, nc);
        if (!ns)
            abort();
        b->s = ns;
        b->cap = nc;
    }
}

void tu_str_free(tu_str *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

int tu_simd_skip(void)
{
    const char *e = getenv("WCODEC_SIMD");
    if (!e || !*e)
        return 0;
    int l = rans_simd_from_name(e);
    if (l >= 0 && rans_simd_supported(l))
        return 0;
    printf("1..0 # SKIP WCODEC_SIMD=%s: not on this CPU or build\n", e);
    return 1;
}

static int tu_is_st(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 12 && !strcmp(e->d_name + n - 12, ".safetensors");
}

int tu_corpus_files(char **dir, char ***names)
{
    const char *env = getenv("WCODEC_CORPUS");
    const char *sr = getenv("WCODEC_SOURCE_ROOT");
    if (env && *env)
        *dir = strdup(env);
    else if (asprintf(dir, "%s/../shared/corpus", sr ? sr : ".") < 0)
        abort();
    struct dirent **list;
    int n = scandir(*dir, &list, tu_is_st, alphasort);
    if (n < 0)
        n = 0;
    *names = malloc((size_t)(n ? n : 1) * sizeof **names);
    for (int i = 0; i < n; i++) {
        (*names)[i] = strdup(list[i]->d_name);
        free(list[i]);
    }
    if (n)
        free(list);
    return n;
}
