/* check_packstats.c - wcodec-pack --stats: the tensor classes. (The table
 * itself is checked end to end by roundtrip.sh.) */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "packstats.h"

START_TEST(classes)
{
    static const struct { const char *name; unsigned ndim; const char *cls; } c[] = {
        {"model.embed_tokens.weight", 2, "embedding"},
        {"transformer.wte.weight", 2, "embedding"},
        {"lm_head.weight", 2, "head"},
        {"output.weight", 2, "head"},
        {"model.layers.0.self_attn.q_proj.weight", 2, "attention"},
        {"layers.3.attention.wq.weight", 2, "attention"},
        {"transformer.h.0.attn.c_attn.weight", 2, "attention"},
        {"model.layers.0.mlp.gate_proj.weight", 2, "mlp"},
        {"layers.1.feed_forward.w1.weight", 2, "mlp"},
        {"backbone.conv1.weight", 4, "conv"},
        {"vad.LSTM.weight_ih_l0", 2, "recurrent"},
        {"model.layers.0.input_layernorm.weight", 1, "vector"},
        {"model.layers.0.self_attn.q_proj.bias", 1, "vector"},
        {"scale", 0, "vector"},
        {"Some.Thing", 2, "other"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        ck_assert_msg(!strcmp(packstats_class(c[i].name, c[i].ndim), c[i].cls),
                      "%s: %s, expected %s", c[i].name,
                      packstats_class(c[i].name, c[i].ndim), c[i].cls);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("packstats");
    TCase *t = tcase_create("classes");
    tcase_add_test(t, classes);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_SILENT);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
