/* Request bodies: the general JSON parser (core/json) and the float-array
 * fast path (api/floatparse) on the same bytes.
 * Properties: no crash or leak; a parsed document dumps and re-parses to an
 * equal document (reals to 15 significant digits: vdb_json_dump prints
 * %.15g on purpose, so a double's last 1-2 digits are not kept); a matrix the fast path accepts has rows x dim finite
 * values within the limits it was given, and its `rest` parses as JSON
 * whenever the whole body does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/floatparse.h"
#include "../../src/core/alloc.h"
#include "../../src/core/json.h"
#include "../../src/core/limits.h"
#include "fuzz_common.h"

void fuzz_init(void) {}

/* vdb_json_equal, except that reals need only agree to the 15 digits the
 * dump keeps. */
static int same(const vdb_json *a, const vdb_json *b)
{
    vdb_json_type t = vdb_json_typeof(a);
    if (t == VDB_JSON_REAL && vdb_json_typeof(b) == VDB_JSON_REAL) {
        double x = vdb_json_number_value(a), y = vdb_json_number_value(b);
        return fabs(x - y) <= 1e-14 * fmax(fabs(x), fabs(y)) || fabs(x - y) <= 1e-300;
    }
    if (t != vdb_json_typeof(b))
        return 0;
    if (t == VDB_JSON_ARRAY) {
        if (vdb_json_array_size(a) != vdb_json_array_size(b))
            return 0;
        for (size_t i = 0; i < vdb_json_array_size(a); i++)
            if (!same(vdb_json_array_get(a, i), vdb_json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (t == VDB_JSON_OBJECT) {
        if (vdb_json_object_size(a) != vdb_json_object_size(b))
            return 0;
        for (void *it = vdb_json_object_iter((vdb_json *)a); it != NULL;
             it = vdb_json_object_next((vdb_json *)a, it)) {
            vdb_json *other = vdb_json_object_get(b, vdb_json_iter_key(it));
            if (other == NULL || !same(vdb_json_iter_value(it), other))
                return 0;
        }
        return 1;
    }
    return vdb_json_equal(a, b);
}

static void check_matrix(const char *body, size_t len, const char *key, int nested, int whole_ok)
{
    vdb_floatmatrix m;
    vdb_error err;
    memset(&m, 0, sizeof(m));
    if (vdb_floatparse_member(body, len, key, nested, 64, 512, &m, &err) != VDB_OK)
        return;
    if (m.rows == 0 || m.rows > 64 || m.dim == 0 || m.dim > 512 || (!nested && m.rows != 1))
        abort();
    for (size_t i = 0; i < m.rows * m.dim; i++)
        if (!isfinite(m.data[i]))
            abort();
    if (whole_ok) {
        vdb_json *rest = NULL;
        if (vdb_json_parse(m.rest, m.rest_len, VDB_MAX_JSON_DEPTH, &rest, &err) != VDB_OK) {
            fprintf(stderr, "floatparse rest does not parse: %s\n", err.msg);
            abort();
        }
        vdb_json_decref(rest);
    }
    vdb_floatmatrix_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    vdb_error err;
    vdb_json *doc = NULL;
    int rc = vdb_json_parse(text, size, VDB_MAX_JSON_DEPTH, &doc, &err);
    if ((rc == VDB_OK) != (doc != NULL)) {
        fprintf(stderr, "vdb_json_parse returned %d with node %p\n", rc, (void *)doc);
        abort();
    }
    if (doc != NULL) {
        fuzz_accepted++;
        char *dumped = vdb_json_dump(doc, VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_ANY);
        if (dumped != NULL) {
            vdb_json *again = NULL;
            (void)vdb_json_parse(dumped, strlen(dumped), VDB_MAX_JSON_DEPTH + 1, &again, &err);
            if (again == NULL || !same(doc, again)) {
                fprintf(stderr, "JSON round trip differs: %s\n", dumped);
                abort();
            }
            vdb_json_decref(again);
            vdb_json_free_text(dumped);
        }
        vdb_json *vectors = vdb_json_object_get(doc, "vectors");
        float out[64];
        size_t got = 0;
        for (size_t i = 0; i < vdb_json_array_size(vectors) && i < 4; i++)
            (void)vdb_json_to_floats(vdb_json_array_get(vectors, i), out, 64, &got, &err);
    }
    check_matrix(text, size, "vectors", 1, doc != NULL);
    check_matrix(text, size, "query", 0, doc != NULL);
    vdb_json_decref(doc);
    return 0;
}

void fuzz_seeds(const char *dir)
{
    /* The request shapes of docs/api-contract.md. */
    static const char *const seeds[] = {
        "{\"user_id\":\"u\",\"model_id\":\"m\",\"vectors\":[[0.1,0.2,0.3],[1e-3,-2.5E+2,0]],"
        "\"metadata\":[{\"a\":1},{\"b\":[true,null,\"x\"]}],\"ids\":[\"a\",\"b\"]}",
        "{\"user_id\":\"u\",\"model_id\":\"m\",\"query\":[1,2,3.5],\"k\":5,"
        "\"filter\":{\"price\":{\"$lt\":10},\"$or\":[{\"t\":\"a\"},{\"t\":{\"$in\":[\"b\",\"c\"]}}]}}",
        "{\"user_id\":\"u\",\"model_id\":\"m\",\"queries\":[[1,0],[0,1]],\"k\":2,\"exact\":true}",
        "{\"user_id\":\"u\",\"model_id\":\"m\",\"dimension\":384,\"metric\":\"cosine\",\"index\":\"hnsw\"}",
        "{\"ids\":[\"x\",\"\\u00e9\\ud83d\\ude00\"],\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        "[1,-0,0.5e10,-1.25E-7,{\"\":{}},[[]]]",
        "{\"vectors\":[[3.4028235e38,-3.4028235e38,1.17549435e-38,1e-45]]}",
    };
    char name[32];
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        snprintf(name, sizeof(name), "seed%zu.json", i);
        fuzz_seed(dir, name, seeds[i], strlen(seeds[i]));
    }
}
