/* safetensors.c - safetensors header parsing with jansson. */
#include "safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "error.h"

int wc_st_header_len(const uint8_t *buf, size_t avail, uint64_t file_size,
                     const char *name, uint64_t *header_len)
{
    if (file_size < 8 || avail < 8)
        return wc_fail(WCODEC_E_ST_FORMAT,
                       "%s: not a safetensors file: %llu bytes, too short for "
                       "a header",
                       name, (unsigned long long)file_size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    if (n > file_size - 8)
        return wc_fail(WCODEC_E_ST_FORMAT,
                       "%s: not a safetensors file: header length %llu runs "
                       "past the end of the file (%llu bytes)",
                       name, (unsigned long long)n,
                       (unsigned long long)file_size);
    if (n > WC_ST_MAX_HEADER)
        return wc_fail(WCODEC_E_ST_FORMAT,
                       "%s: header length %llu exceeds the safetensors limit "
                       "of %u bytes",
                       name, (unsigned long long)n, WC_ST_MAX_HEADER);
    if (n < 2)
        return wc_fail(WCODEC_E_ST_FORMAT,
                       "%s: not a safetensors file: header length %llu",
                       name, (unsigned long long)n);
    *header_len = n;
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const wc_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int get_u64(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int wc_st_parse(const uint8_t *buf, uint64_t file_size, const char *name,
                wc_st_file *out)
{
    memset(out, 0, sizeof *out);
    uint64_t hl;
    int rc = wc_st_header_len(buf, 8, file_size, name, &hl);
    if (rc)
        return rc;
    const char *js = (const char *)buf + 8;
    if (js[0] != '{')
        return wc_fail(WCODEC_E_ST_JSON,
                       "%s: safetensors header does not start with '{'", name);

    json_error_t jerr;
    json_t *root = json_loadb(js, hl, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return wc_fail(WCODEC_E_ST_JSON,
                       "%s: invalid JSON in safetensors header at byte %d: %s",
                       name, jerr.position, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return wc_fail(WCODEC_E_ST_JSON, "%s: header is not a JSON object",
                       name);
    }
    out->header_len = hl;
    out->data_start = 8 + hl;
    uint64_t data_len = file_size - out->data_start;

    size_t cap = json_object_size(root);
    out->t = calloc(cap ? cap : 1, sizeof *out->t);
    if (!out->t) {
        json_decref(root);
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", name);
    }
    const char *key;
    json_t *val;
    rc = 0;
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val)) {
                rc = wc_fail(WCODEC_E_ST_JSON,
                             "%s: __metadata__ is not a JSON object", name);
                break;
            }
            continue;
        }
        json_t *jd = json_object_get(val, "dtype");
        json_t *js_ = json_object_get(val, "shape");
        json_t *jo = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(jd) ||
            !json_is_array(js_) || !json_is_array(jo) ||
            json_array_size(jo) != 2) {
            rc = wc_fail(WCODEC_E_ST_JSON,
                         "%s: tensor '%s' needs dtype, shape and "
                         "data_offsets [begin, end]",
                         name, key);
            break;
        }
        int dt = wc_dtype_from_name(json_string_value(jd));
        if (dt < 0) {
            rc = wc_fail(WCODEC_E_ST_DTYPE, "%s: tensor '%s': unknown dtype '%s'",
                         name, key, json_string_value(jd));
            break;
        }
        uint64_t b, e, nel = 1;
        if (get_u64(json_array_get(jo, 0), &b) ||
            get_u64(json_array_get(jo, 1), &e) || b > e) {
            rc = wc_fail(WCODEC_E_ST_OFFSETS,
                         "%s: tensor '%s': data_offsets must be two "
                         "integers 0 <= begin <= end",
                         name, key);
            break;
        }
        if (e > data_len) {
            rc = wc_fail(WCODEC_E_ST_OFFSETS,
                         "%s: tensor '%s': data_offsets [%llu, %llu] run past "
                         "the end of the data (%llu bytes)",
                         name, key, (unsigned long long)b,
                         (unsigned long long)e, (unsigned long long)data_len);
            break;
        }
        size_t i;
        json_t *d;
        int bad = 0;
        json_array_foreach(js_, i, d)
        {
            uint64_t dim;
            if (get_u64(d, &dim) || __builtin_mul_overflow(nel, dim, &nel)) {
                bad = 1;
                break;
            }
        }
        uint64_t bytes;
        if (bad || __builtin_mul_overflow(nel, wc_dtype_size(dt), &bytes) ||
            bytes != e - b) {
            rc = wc_fail(WCODEC_E_ST_SHAPE,
                         "%s: tensor '%s': %s shape does not match its %llu "
                         "data bytes",
                         name, key, json_string_value(jd),
                         (unsigned long long)(e - b));
            break;
        }
        wc_st_tensor *t = &out->t[out->n++];
        t->name = strdup(key);
        t->dtype = dt;
        t->begin = out->data_start + b;
        t->end = out->data_start + e;
        t->ndim = (unsigned)json_array_size(js_);
        t->shape = malloc((t->ndim ? t->ndim : 1) * sizeof *t->shape);
        if (t->shape)
            for (unsigned k = 0; k < t->ndim; k++)
                t->shape[k] = (uint64_t)json_integer_value(json_array_get(js_, k));
        if (!t->name || !t->shape) {
            rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", name);
            break;
        }
    }
    json_decref(root);
    if (rc) {
        wc_st_free(out);
        return rc;
    }
    qsort(out->t, out->n, sizeof *out->t, cmp_begin);
    /* Empty tensors may sit anywhere; compare each non-empty tensor with
     * the last non-empty one before it. */
    const wc_st_tensor *prev = NULL;
    for (size_t i = 0; i < out->n; i++) {
        const wc_st_tensor *t = &out->t[i];
        if (t->begin == t->end)
            continue;
        if (prev && t->begin < prev->end) {
            rc = wc_fail(WCODEC_E_ST_OFFSETS,
                         "%s: tensors '%s' and '%s' overlap", name, prev->name,
                         t->name);
            wc_st_free(out);
            return rc;
        }
        prev = t;
    }
    return 0;
}

void wc_st_free(wc_st_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].shape);
    }
    free(f->t);
    memset(f, 0, sizeof *f);
}
