/* check_ratio.c - size regression guard on real checkpoints: every
 * .safetensors file of the corpus (WCODEC_CORPUS, default
 * $WCODEC_SOURCE_ROOT/../shared/corpus) is packed with the default options
 * and must come out below
 *   0.70 of its size when most of it is BF16 tensors,
 *   0.86 of its size when most of it is F32 tensors
 * (trained weights sit near 0.66 and 0.83 at order 0: these bounds leave
 * room for overhead, not for a codec that stopped coding a plane).
 * Skipped (TAP "1..0 # SKIP") where there is no corpus. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "safetensors.h"
#include "testutil.h"
#include "wcodec.h"

static char *corpus;
static char **files;
static int nfiles;
static char *root;

START_TEST(corpus_ratio)
{
    const char *name = files[_i];
    char *src = tu_path(corpus, name);
    char *dst;
    if (asprintf(&dst, "%s/%d.wcodec", root, _i) < 0)
        abort();
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    int rc = wcodec_pack_file(src, dst, &o);
    ck_assert_msg(rc == 0, "%s: pack failed: %s", name, wcodec_errdetail());
    wcodec *w;
    ck_assert_int_eq(wcodec_open(dst, &w), 0);
    ck_assert_int_eq(wcodec_verify(w), 0);
    /* class from the file's own header, not from what the packer made */
    uint64_t size = wcodec_size(w), bf16 = 0, f32 = 0;
    size_t n;
    uint8_t *buf = tu_read_file(src, &n);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(n, size);
    wc_st_file st;
    ck_assert_int_eq(wc_st_parse(buf, n, name, &st), 0);
    for (size_t i = 0; i < st.n; i++) {
        if (st.t[i].dtype == WC_DT_BF16)
            bf16 += st.t[i].end - st.t[i].begin;
        if (st.t[i].dtype == WC_DT_F32)
            f32 += st.t[i].end - st.t[i].begin;
    }
    wc_st_free(&st);
    free(buf);
    double ratio = (double)wcodec_packed_size(w) / (double)size;
    const char *cls = bf16 * 2 > size ? "bf16" : f32 * 2 > size ? "fp32" : NULL;
    printf("# %s: %s, packed to %.4f\n", name, cls ? cls : "no guard", ratio);
    if (cls && !strcmp(cls, "bf16"))
        ck_assert_msg(ratio < 0.70, "%s (bf16): packed to %.4f of its size",
                      name, ratio);
    else if (cls)
        ck_assert_msg(ratio < 0.86, "%s (fp32): packed to %.4f of its size",
                      name, ratio);
    wcodec_close(w);
    unlink(dst);
    free(src);
    free(dst);
}
END_TEST

int main(void)
{
    nfiles = tu_corpus_files(&corpus, &files);
    if (!nfiles) {
        printf("1..0 # SKIP no .safetensors corpus at %s\n", corpus);
        return 0;
    }
    root = tu_tmpdir();

    Suite *s = suite_create("ratio");
    TCase *t = tcase_create("wcodec_pack_file (corpus size)");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, corpus_ratio, 0, nfiles);
    suite_add_tcase(s, t);
    SRunner *sr_ = srunner_create(s);
    srunner_run_all(sr_, CK_SILENT);
    int nf = srunner_ntests_failed(sr_);
    srunner_free(sr_);
    tu_rmrf(root);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
