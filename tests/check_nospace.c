/* check_nospace.c - packing and unpacking onto a full file system give
 * WCODEC_E_NOSPACE and leave nothing behind: neither the output nor a
 * temporary. Needs a small, otherwise empty file system at
 * WCODEC_NOSPACE_DIR (tests/nospace.sh mounts a 1 MiB tmpfs there);
 * skipped without one. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "codec.h"
#include "testutil.h"
#include "wcodec.h"

static const char *full; /* the small file system */
static char *root;       /* scratch on a normal one */

#define ck_assert_rc(rc, code)                                              \
    ck_assert_msg((rc) == -(code), "expected %s, got %s: %s",              \
                  wcodec_strerror(code), wcodec_strerror(rc),              \
                  wcodec_errdetail())

/* A safetensors file with one U8 tensor of n random bytes (incompressible:
 * its container is as big as it is). */
static char *random_st(const char *name, size_t n, uint64_t seed)
{
    char h[160];
    int hl = snprintf(h, sizeof h,
                      "{\"w\":{\"dtype\":\"U8\",\"shape\":[%zu],"
                      "\"data_offsets\":[0,%zu]}}",
                      n, n);
    uint8_t *d = malloc(n);
    tu_fill_random(&seed, d, n);
    size_t len;
    uint8_t *f = tu_st_file(h, (size_t)hl, d, n, &len);
    char *p = tu_path(root, name);
    ck_assert_int_eq(tu_write_file(p, f, len), 0);
    free(f);
    free(d);
    return p;
}

static int pack(const char *src, const char *dst, int verify)
{
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    o.chunk_size = 65536;
    o.verify = verify;
    return wcodec_pack_file(src, dst, &o);
}

static uint64_t free_bytes(void)
{
    struct statvfs v;
    ck_assert_int_eq(statvfs(full, &v), 0);
    return (uint64_t)v.f_bavail * v.f_frsize;
}

START_TEST(empty_at_start)
{
    ck_assert_msg(tu_count_entries(full) == 0, "%s is not empty", full);
    ck_assert_msg(free_bytes() < 8u << 20, "%s has %llu bytes free: not a "
                  "small file system", full,
                  (unsigned long long)free_bytes());
}
END_TEST

/* What fits is written: the file system works, so the failures below are
 * about space. */
START_TEST(pack_fits)
{
    char *src = random_st("small.safetensors", 100000, 1);
    char *dst = tu_path(full, "small.wcodec");
    ck_assert_int_eq(pack(src, dst, 1), 0);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(dst, &w), 0);
    ck_assert_int_eq(wcodec_verify(w), 0);
    wcodec_close(w);
    ck_assert_int_eq(unlink(dst), 0);
    free(src);
    free(dst);
}
END_TEST

START_TEST(pack_full)
{
    size_t n = (size_t)free_bytes() * 3;
    char *src = random_st("big.safetensors", n, 2);
    char *dst = tu_path(full, "big.wcodec");
    for (int verify = 0; verify < 2; verify++) {
        ck_assert_rc(pack(src, dst, verify), WCODEC_E_NOSPACE);
        ck_assert_ptr_nonnull(strstr(wcodec_errdetail(), "big.wcodec"));
        ck_assert_int_eq(tu_count_entries(full), 0);
    }
    free(src);
    free(dst);
}
END_TEST

/* Nearly full already: a filler leaves a little room, the container needs
 * more. */
START_TEST(pack_nearly_full)
{
    char *filler = tu_path(full, "filler");
    uint64_t room = free_bytes();
    size_t fill = (size_t)(room - room / 8);
    uint8_t *z = calloc(1, fill);
    ck_assert_int_eq(tu_write_file(filler, z, fill), 0);
    free(z);
    char *src = random_st("mid.safetensors", (size_t)(room / 4), 3);
    char *dst = tu_path(full, "mid.wcodec");
    ck_assert_rc(pack(src, dst, 0), WCODEC_E_NOSPACE);
    ck_assert_int_eq(tu_count_entries(full), 1);
    ck_assert_int_eq(unlink(filler), 0);
    /* with the room back, the same file packs */
    ck_assert_int_eq(pack(src, dst, 1), 0);
    ck_assert_int_eq(unlink(dst), 0);
    free(filler);
    free(src);
    free(dst);
}
END_TEST

START_TEST(unpack_full)
{
    size_t n = (size_t)free_bytes() * 2;
    char *src = random_st("big.safetensors", n, 4);
    char *packed = tu_path(root, "big.wcodec");
    ck_assert_int_eq(pack(src, packed, 0), 0);
    char *dst = tu_path(full, "big.safetensors");
    ck_assert_rc(wcodec_unpack_file(packed, dst, 0), WCODEC_E_NOSPACE);
    ck_assert_int_eq(tu_count_entries(full), 0);
    ck_assert_rc(wcodec_unpack_file(packed, dst, 1), WCODEC_E_NOSPACE);
    ck_assert_int_eq(tu_count_entries(full), 0);
    free(src);
    free(packed);
    free(dst);
}
END_TEST

int main(void)
{
    full = getenv("WCODEC_NOSPACE_DIR");
    if (!full || !*full) {
        printf("1..0 # SKIP WCODEC_NOSPACE_DIR not set (run by "
               "tests/nospace.sh)\n");
        return 0;
    }
    root = tu_tmpdir();
    Suite *s = suite_create("nospace");
    TCase *t = tcase_create("wcodec_pack_file/wcodec_unpack_file (full disk)");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, empty_at_start);
    tcase_add_test(t, pack_fits);
    tcase_add_test(t, pack_full);
    tcase_add_test(t, pack_nearly_full);
    tcase_add_test(t, unpack_full);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_rmrf(root);
    free(root);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
