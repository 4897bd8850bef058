/* Filter language tests: the seed's plain-object form with Python equality,
 * every operator, dotted paths, type mismatches and rejected filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/rng.h"
#include "filter/filter.h"

/* Compiles `filter` and evaluates it on `meta` (NULL = no metadata). The
 * filter must compile. */
static int match(const char *filter, const char *meta)
{
    vdb_error err;
    vdb_filter *f;
    if (vdb_filter_compile_text(filter, strlen(filter), &f, &err) != VDB_OK) {
        fprintf(stderr, "filter %s: %s\n", filter, err.msg);
        fail();
    }
    int by_text = vdb_filter_match_text(f, meta);
    int by_json = by_text;
    if (meta != NULL) {
        vdb_json *m = NULL;
        assert_int_equal(vdb_json_parse(meta, strlen(meta), 0, &m, NULL), VDB_OK);
        assert_non_null(m);
        by_json = vdb_filter_match(f, m);
        vdb_json_decref(m);
    }
    assert_int_equal(by_text, by_json);
    vdb_filter_free(f);
    return by_text;
}

/* Expects the filter to be rejected with VDB_EINVAL and a message holding
 * every given fragment. */
static void rejects(const char *filter, const char *frag1, const char *frag2)
{
    vdb_error err;
    vdb_filter *f = (vdb_filter *)&err; /* must come back NULL */
    int rc = vdb_filter_compile_text(filter, strlen(filter), &f, &err);
    assert_null(f);
    /* The same code without an error record. */
    assert_int_equal(vdb_filter_compile_text(filter, strlen(filter), &f, NULL), rc);
    if (rc != VDB_EINVAL || err.code != VDB_EINVAL || (frag1 && !strstr(err.msg, frag1)) ||
        (frag2 && !strstr(err.msg, frag2))) {
        fprintf(stderr, "filter %s: code %d msg '%s' (want '%s', '%s')\n", filter, err.code,
                err.msg, frag1 ? frag1 : "", frag2 ? frag2 : "");
        fail();
    }
}

static void test_seed_plain_form(void **state)
{
    (void)state;
    const char *meta = "{\"source\": \"test\", \"lang\": \"de\", \"n\": 1, \"x\": 2.5}";
    assert_true(match("{\"source\": \"test\"}", meta));
    assert_true(match("{\"source\": \"test\", \"lang\": \"de\"}", meta));
    assert_false(match("{\"source\": \"test\", \"lang\": \"en\"}", meta));
    assert_false(match("{\"source\": \"Test\"}", meta)); /* case-sensitive */
    assert_true(match("{\"n\": 1.0}", meta));            /* 1 == 1.0 */
    assert_true(match("{\"n\": true}", meta));           /* true == 1 */
    assert_false(match("{\"n\": false}", meta));
    assert_false(match("{\"n\": \"1\"}", meta));         /* no string coercion */
    assert_true(match("{\"x\": 2.5}", meta));
    assert_false(match("{\"x\": 2}", meta));
    assert_true(match("{\"b\": 0}", "{\"b\": false}")); /* false == 0 */
    assert_true(match("{\"b\": 0.0}", "{\"b\": false}"));
    assert_true(match("{\"b\": true}", "{\"b\": 1.0}"));
    /* A missing key equals null; so does an explicit null. */
    assert_true(match("{\"missing\": null}", meta));
    assert_true(match("{\"k\": null}", "{\"k\": null}"));
    assert_false(match("{\"source\": null}", meta));
    assert_true(match("{\"k\": null}", NULL));
    assert_false(match("{\"k\": 1}", NULL));
    /* Lists element-wise, in order, with Python equality inside. */
    assert_true(match("{\"l\": [1, \"a\", true]}", "{\"l\": [1.0, \"a\", 1]}"));
    assert_false(match("{\"l\": [2, 1]}", "{\"l\": [1, 2]}"));
    assert_false(match("{\"l\": [1]}", "{\"l\": [1, 2]}"));
    /* Objects as unordered maps; a missing key is not null inside them. */
    assert_true(match("{\"o\": {\"b\": 2, \"a\": 1}}", "{\"o\": {\"a\": 1.0, \"b\": 2}}"));
    assert_false(match("{\"o\": {\"a\": 1, \"b\": null}}", "{\"o\": {\"a\": 1, \"c\": null}}"));
    assert_false(match("{\"o\": {\"a\": 1}}", "{\"o\": {\"a\": 1, \"b\": 2}}"));
    assert_true(match("{\"o\": {}}", "{\"o\": {}}"));
    /* Unparsable metadata never matches, not even an all-null filter. */
    vdb_error err;
    vdb_filter *f = NULL;
    assert_int_equal(vdb_filter_compile_text("{\"k\": null}", 11, &f, &err), VDB_OK);
    assert_non_null(f);
    assert_false(vdb_filter_match_text(f, "{not json"));
    assert_true(vdb_filter_match_text(f, "{}"));
    vdb_filter_free(f);
}

static void test_no_filter(void **state)
{
    (void)state;
    vdb_error err;
    vdb_filter *f = (vdb_filter *)&err; /* "no filter" comes back as NULL */
    assert_int_equal(vdb_filter_compile_text("{}", 2, &f, &err), VDB_OK);
    assert_null(f);
    assert_int_equal(err.code, VDB_OK);
    f = (vdb_filter *)&err;
    assert_int_equal(vdb_filter_compile_text("null", 4, &f, NULL), VDB_OK);
    assert_null(f);
    f = (vdb_filter *)&err;
    assert_int_equal(vdb_filter_compile(NULL, &f, &err), VDB_OK);
    assert_null(f);
    assert_int_equal(err.code, VDB_OK);
    assert_true(vdb_filter_match(NULL, NULL));
    assert_true(vdb_filter_match_text(NULL, "{\"a\": 1}"));
    vdb_filter_free(NULL);
}

static void test_comparison_operators(void **state)
{
    (void)state;
    const char *meta = "{\"p\": 10, \"r\": 2.5, \"s\": \"banana\", \"b\": true, \"z\": null}";
    assert_true(match("{\"p\": {\"$eq\": 10.0}}", meta));
    assert_false(match("{\"p\": {\"$eq\": 11}}", meta));
    assert_true(match("{\"p\": {\"$ne\": 11}}", meta));
    assert_false(match("{\"p\": {\"$ne\": 10}}", meta));
    assert_true(match("{\"p\": {\"$gt\": 9}}", meta));
    assert_false(match("{\"p\": {\"$gt\": 10}}", meta));
    assert_true(match("{\"p\": {\"$gte\": 10}}", meta));
    assert_true(match("{\"p\": {\"$gte\": 9.5}}", meta));
    assert_false(match("{\"p\": {\"$gte\": 10.5}}", meta));
    assert_true(match("{\"p\": {\"$lt\": 10.01}}", meta));
    assert_false(match("{\"p\": {\"$lt\": 10}}", meta));
    assert_true(match("{\"p\": {\"$lte\": 10}}", meta));
    assert_true(match("{\"r\": {\"$gt\": 2, \"$lt\": 3}}", meta)); /* ANDed */
    assert_false(match("{\"r\": {\"$gt\": 2, \"$lt\": 2.5}}", meta));
    assert_true(match("{\"s\": {\"$gt\": \"apple\", \"$lt\": \"cherry\"}}", meta));
    assert_false(match("{\"s\": {\"$gte\": \"bananas\"}}", meta));
    assert_true(match("{\"s\": {\"$lte\": \"banana\"}}", meta));
    /* $eq takes its operand literally, even an object with $ keys. */
    assert_true(match("{\"o\": {\"$eq\": {\"$gt\": 5}}}", "{\"o\": {\"$gt\": 5}}"));
    assert_false(match("{\"o\": {\"$eq\": {\"$gt\": 5}}}", "{\"o\": 6}"));
    /* $ne / $nin are exact negations: they match missing fields. */
    assert_true(match("{\"nope\": {\"$ne\": 1}}", meta));
    assert_false(match("{\"nope\": {\"$ne\": null}}", meta));
    assert_false(match("{\"z\": {\"$ne\": null}}", meta));
    /* Large integers compare exactly, not through double. */
    const char *big = "{\"id\": 9007199254740993}";
    assert_false(match("{\"id\": 9007199254740992.0}", big));
    assert_true(match("{\"id\": {\"$gt\": 9007199254740992.0}}", big));
    assert_true(match("{\"id\": 9007199254740993}", big));
    assert_true(match("{\"id\": {\"$lt\": 1e300}}", big));
    assert_true(match("{\"id\": {\"$gt\": -1e300}}", big));
    assert_true(match("{\"n\": {\"$lt\": -2}}", "{\"n\": -2.5}"));
    assert_false(match("{\"n\": {\"$gt\": -2}}", "{\"n\": -2.5}"));
}

static void test_set_operators(void **state)
{
    (void)state;
    const char *meta = "{\"lang\": \"de\", \"n\": 3, \"tags\": [\"a\", \"b\", 7], \"t\": \"a\"}";
    assert_true(match("{\"lang\": {\"$in\": [\"en\", \"de\"]}}", meta));
    assert_false(match("{\"lang\": {\"$in\": [\"en\", \"fr\"]}}", meta));
    assert_false(match("{\"lang\": {\"$in\": []}}", meta));
    assert_true(match("{\"lang\": {\"$nin\": []}}", meta));
    assert_true(match("{\"n\": {\"$in\": [1, 3.0]}}", meta));
    assert_true(match("{\"lang\": {\"$nin\": [\"en\", \"fr\"]}}", meta));
    assert_false(match("{\"lang\": {\"$nin\": [\"de\"]}}", meta));
    assert_true(match("{\"missing\": {\"$in\": [null, 1]}}", meta));
    assert_true(match("{\"missing\": {\"$nin\": [1]}}", meta));
    assert_true(match("{\"tags\": {\"$contains\": \"b\"}}", meta));
    assert_true(match("{\"tags\": {\"$contains\": 7.0}}", meta));
    assert_false(match("{\"tags\": {\"$contains\": \"c\"}}", meta));
    assert_false(match("{\"t\": {\"$contains\": \"a\"}}", meta)); /* not an array */
    assert_false(match("{\"missing\": {\"$contains\": \"a\"}}", meta));
    assert_true(match("{\"lang\": {\"$exists\": true}}", meta));
    assert_false(match("{\"lang\": {\"$exists\": false}}", meta));
    assert_true(match("{\"missing\": {\"$exists\": false}}", meta));
    assert_true(match("{\"z\": {\"$exists\": true}}", "{\"z\": null}"));
}

static void test_logical_operators(void **state)
{
    (void)state;
    const char *meta = "{\"a\": 1, \"b\": \"x\", \"c\": [1, 2]}";
    assert_true(match("{\"$and\": [{\"a\": 1}, {\"b\": \"x\"}]}", meta));
    assert_false(match("{\"$and\": [{\"a\": 1}, {\"b\": \"y\"}]}", meta));
    assert_true(match("{\"$or\": [{\"a\": 2}, {\"b\": \"x\"}]}", meta));
    assert_false(match("{\"$or\": [{\"a\": 2}, {\"b\": \"y\"}]}", meta));
    assert_true(match("{\"$not\": {\"a\": 2}}", meta));
    assert_false(match("{\"$not\": {\"a\": 1}}", meta));
    assert_true(match("{\"a\": {\"$not\": {\"$gt\": 5}}}", meta));
    assert_false(match("{\"a\": {\"$not\": {\"$lt\": 5}}}", meta));
    /* Field keys AND with logical operators at the same level. */
    assert_true(match("{\"a\": 1, \"$or\": [{\"b\": \"y\"}, {\"c\": {\"$contains\": 2}}]}", meta));
    assert_false(match("{\"a\": 2, \"$or\": [{\"b\": \"x\"}]}", meta));
    assert_true(match("{\"$or\": [{\"$and\": [{\"a\": 1}, {\"$not\": {\"b\": \"y\"}}]}, {\"a\": 3}]}",
                      meta));
    assert_true(match("{\"$and\": [{}]}", meta)); /* {} inside matches all */
}

static void test_nested_paths(void **state)
{
    (void)state;
    const char *meta = "{\"user\": {\"name\": \"ana\", \"age\": 31, \"addr\": {\"city\": \"Bonn\"}},"
                       " \"a.b\": 5, \"a\": {\"b\": 6}, \"s\": \"str\"}";
    assert_true(match("{\"user.name\": \"ana\"}", meta));
    assert_true(match("{\"user.addr.city\": \"Bonn\"}", meta));
    assert_true(match("{\"user.age\": {\"$gte\": 30, \"$lt\": 32}}", meta));
    assert_false(match("{\"user.addr.zip\": {\"$exists\": true}}", meta));
    assert_true(match("{\"user.addr.zip\": null}", meta));
    assert_true(match("{\"s.x\": null}", meta)); /* through a non-object: missing */
    assert_false(match("{\"s.x\": {\"$exists\": true}}", meta));
    assert_true(match("{\"a.b\": 5}", meta)); /* the literal key wins */
    assert_true(match("{\"user\": {\"age\": 31, \"name\": \"ana\", \"addr\": {\"city\": \"Bonn\"}}}",
                      meta));
    assert_true(match("{\"x.y\": 1}", "{\"x\": {\"y\": 1.0}}"));
}

static void test_type_mismatches(void **state)
{
    (void)state;
    assert_false(match("{\"n\": {\"$gt\": 5}}", "{\"n\": \"7\"}"));
    assert_true(match("{\"n\": {\"$not\": {\"$gt\": 5}}}", "{\"n\": \"7\"}"));
    assert_false(match("{\"n\": {\"$lt\": \"z\"}}", "{\"n\": 7}"));
    assert_false(match("{\"n\": {\"$gte\": 0}}", "{\"n\": true}")); /* booleans do not order */
    assert_false(match("{\"n\": {\"$lte\": 5}}", "{\"n\": null}"));
    assert_false(match("{\"n\": {\"$lte\": 5}}", "{\"n\": [1]}"));
    assert_false(match("{\"n\": {\"$lte\": 5}}", "{\"n\": {\"a\": 1}}"));
    assert_false(match("{\"n\": {\"$lte\": 5}}", "{}"));
    assert_false(match("{\"n\": \"5\"}", "{\"n\": 5}"));
    assert_false(match("{\"n\": [5]}", "{\"n\": 5}"));
    assert_false(match("{\"n\": {\"$in\": [\"5\"]}}", "{\"n\": 5}"));
    assert_false(match("{\"n\": {\"a\": 1}}", "{\"n\": [\"a\", 1]}"));
}

static void test_empty_results(void **state)
{
    (void)state;
    const char *metas[] = {"{\"a\": 1}", "{\"a\": 2}", "{}", NULL};
    vdb_error err;
    const char *spec = "{\"a\": {\"$gt\": 2}}";
    vdb_filter *f = NULL;
    assert_int_equal(vdb_filter_compile_text(spec, strlen(spec), &f, &err), VDB_OK);
    assert_non_null(f);
    for (size_t i = 0; i < 4; i++)
        assert_false(vdb_filter_match_text(f, metas[i]));
    assert_int_equal(vdb_filter_clause_count(f), 1);
    vdb_filter_free(f);
}

static void test_bad_filters(void **state)
{
    (void)state;
    rejects("{\"price\": {\"$gtt\": 5}}", "'price'", "unknown operator '$gtt'");
    rejects("{\"$and\": [{\"a\": 1}, {\"b\": {\"$foo\": 1}}]}", "$and[1].b", "'$foo'");
    rejects("{\"$xor\": [{\"a\": 1}]}", "unknown operator '$xor'", NULL);
    rejects("{\"$gt\": 5}", "'$gt' needs a field", NULL);
    rejects("{\"a\": {\"$in\": 5}}", "'$in' needs an array", "got integer");
    rejects("{\"a\": {\"$nin\": \"x\"}}", "'$nin' needs an array", NULL);
    rejects("{\"a\": {\"$gt\": true}}", "'$gt' needs a number or a string", "got boolean");
    rejects("{\"a\": {\"$lte\": null}}", "'$lte'", "got null");
    rejects("{\"a\": {\"$lt\": [1]}}", "'$lt'", "got array");
    rejects("{\"a\": {\"$exists\": 1}}", "'$exists' needs true or false", NULL);
    rejects("{\"$and\": []}", "'$and' needs a non-empty array", NULL);
    rejects("{\"$or\": {\"a\": 1}}", "'$or' needs a non-empty array", "got object");
    rejects("{\"$and\": [5]}", "$and[0]", "expected an object");
    rejects("{\"$not\": [1]}", "'$not'", "expected an object");
    rejects("{\"a\": {\"$not\": 5}}", "'$not' on a field needs an operator object", NULL);
    rejects("{\"a\": {\"$gt\": 1, \"b\": 2}}", "mixes operator '$gt' with plain key 'b'", NULL);
    rejects("{\"a..b\": 1}", "empty segment", NULL);
    rejects("{\"\": 1}", "empty field name", NULL);
    rejects("[1, 2]", "filter must be a JSON object", "array");
    rejects("\"x\"", "filter must be a JSON object", NULL);
    rejects("{\"a\": ", "not valid JSON", NULL);

    /* Nesting beyond the limit, built from $not chains. */
    char deep[512] = "";
    for (unsigned i = 0; i < VDB_FILTER_MAX_DEPTH; i++)
        strcat(deep, "{\"$not\": ");
    strcat(deep, "{\"a\": 1}");
    for (unsigned i = 0; i < VDB_FILTER_MAX_DEPTH; i++)
        strcat(deep, "}");
    rejects(deep, "nesting deeper than", NULL);
    /* One level less is fine. */
    char ok[512] = "";
    for (unsigned i = 0; i + 1 < VDB_FILTER_MAX_DEPTH; i++)
        strcat(ok, "{\"$not\": ");
    strcat(ok, "{\"a\": 1}");
    for (unsigned i = 0; i + 1 < VDB_FILTER_MAX_DEPTH; i++)
        strcat(ok, "}");
    vdb_error err;
    vdb_filter *f = NULL;
    assert_int_equal(vdb_filter_compile_text(ok, strlen(ok), &f, &err), VDB_OK);
    assert_non_null(f);
    /* An odd number of $not (9) around {"a": 1} → a != 1. */
    assert_int_equal(vdb_filter_match_text(f, "{\"a\": 1}"), (VDB_FILTER_MAX_DEPTH - 1) % 2 == 0);
    vdb_filter_free(f);

    /* $in beyond the limit, and exactly at it. */
    char *huge = vdb_malloc(16 * (VDB_FILTER_MAX_IN + 2) + 64);
    assert_non_null(huge);
    for (unsigned n = VDB_FILTER_MAX_IN; n <= VDB_FILTER_MAX_IN + 1; n++) {
        size_t len = (size_t)sprintf(huge, "{\"a\": {\"$in\": [");
        for (unsigned i = 0; i < n; i++)
            len += (size_t)sprintf(huge + len, "%s%u", i ? "," : "", i);
        strcpy(huge + len, "]}}");
        int rc = vdb_filter_compile_text(huge, strlen(huge), &f, &err);
        assert_int_equal(rc, n == VDB_FILTER_MAX_IN ? VDB_OK : VDB_EINVAL);
        if (n == VDB_FILTER_MAX_IN) {
            assert_non_null(f);
            assert_true(vdb_filter_match_text(f, "{\"a\": 1023}"));
            vdb_filter_free(f);
        } else {
            assert_null(f);
            assert_int_equal(err.code, VDB_EINVAL);
            assert_non_null(strstr(err.msg, "'$in' has 1025 values, limit 1024"));
        }
    }
    vdb_free(huge);

    /* Too many clauses. */
    char *many = vdb_malloc(32 * (VDB_FILTER_MAX_CLAUSES + 2));
    assert_non_null(many);
    size_t len = (size_t)sprintf(many, "{");
    for (unsigned i = 0; i <= VDB_FILTER_MAX_CLAUSES; i++)
        len += (size_t)sprintf(many + len, "%s\"k%u\": 1", i ? "," : "", i);
    strcpy(many + len, "}");
    rejects(many, "more than 256 field comparisons", NULL);
    vdb_free(many);
}

/* Every allocation failure during compilation is a clean VDB_ENOMEM (run
 * under ASan this also proves nothing leaks on the error paths). */
static void test_compile_out_of_memory(void **state)
{
    (void)state;
    const char *spec = "{\"a.b\": {\"$in\": [1, 2]}, \"$or\": [{\"c\": {\"$not\": {\"$gt\": 1}}},"
                       " {\"d\": [1, {\"e\": 2}]}]}";
    vdb_json *json = NULL;
    assert_int_equal(vdb_json_parse(spec, strlen(spec), 0, &json, NULL), VDB_OK);
    assert_non_null(json);
    int saw_success = 0;
    for (uint64_t nth = 1; nth < 400 && !saw_success; nth++) {
        vdb_error err;
        vdb_error *e = nth % 2 ? &err : NULL; /* the code must not need the record */
        vdb_filter *f = NULL;
        vdb_alloc_fail_at((nth + 1) / 2, 0);
        int rc = vdb_filter_compile(json, &f, e);
        vdb_alloc_fail_at(0, 0);
        assert_int_equal(rc == VDB_OK, f != NULL);
        if (rc != VDB_OK && rc != VDB_ENOMEM) {
            fprintf(stderr, "nth %llu: code %d\n", (unsigned long long)nth, rc);
            fail();
        }
        if (f != NULL) {
            saw_success = 1;
            assert_true(vdb_filter_match_text(f, "{\"a\": {\"b\": 2}, \"d\": [1, {\"e\": 2.0}]}"));
            vdb_filter_free(f);
        } else if (e != NULL && err.code != VDB_ENOMEM) {
            /* deep_copy goes through jansson's own allocator, which the
             * hook does not see; every failure we can inject must be
             * ENOMEM. */
            fprintf(stderr, "nth %llu: %s\n", (unsigned long long)nth, err.msg);
            fail();
        }
    }
    assert_true(saw_success);
    vdb_json_decref(json);
}

/* Random JSON from a grammar biased towards filter syntax: every text
 * either compiles or is refused with VDB_EINVAL and a message, never
 * crashes (run under ASan in `make test-asan`), and compiled filters
 * evaluate on random metadata. */
static size_t random_json(vdb_rng *rng, char *out, size_t cap, unsigned depth)
{
    static const char *const keys[] = {"$and", "$or", "$not", "$eq", "$ne", "$in", "$nin",
                                       "$gt", "$gte", "$lt", "$lte", "$exists", "$contains",
                                       "$bad", "a", "b.c", "", "a..b", "$", "x.y.z"};
    static const char *const scalars[] = {"1", "-2.5", "true", "false", "null", "\"s\"",
                                          "\"\"", "1e300", "9223372036854775807"};
    unsigned pick = (unsigned)vdb_rng_below(rng, depth > 4 ? 3 : 6);
    if (cap < 64)
        return (size_t)snprintf(out, cap, "1");
    if (pick < 3)
        return (size_t)snprintf(out, cap, "%s", scalars[vdb_rng_below(rng, 9)]);
    size_t len = (size_t)snprintf(out, cap, pick == 3 ? "[" : "{");
    unsigned n = (unsigned)vdb_rng_below(rng, 4);
    for (unsigned i = 0; i < n && len + 80 < cap; i++) {
        if (i)
            len += (size_t)snprintf(out + len, cap - len, ", ");
        if (pick != 3) {
            /* Distinct keys: duplicate keys are the JSON parser's error. */
            len += (size_t)snprintf(out + len, cap - len, "\"%s%.*s\": ",
                                    keys[vdb_rng_below(rng, 20)], (int)i, "~~~~");
        }
        len += random_json(rng, out + len, cap - len, depth + 1);
    }
    len += (size_t)snprintf(out + len, cap - len, pick == 3 ? "]" : "}");
    return len;
}

static void test_random_filters_never_crash(void **state)
{
    (void)state;
    vdb_rng rng;
    vdb_rng_seed(&rng, 5);
    char text[4096];
    size_t compiled = 0, refused = 0;
    const char *metas[] = {"{\"a\": 1, \"b\": {\"c\": [1, \"s\"]}}", "{}",
                           "{\"a\": \"s\", \"x\": {\"y\": {\"z\": null}}}"};
    for (int i = 0; i < 20000; i++) {
        random_json(&rng, text, sizeof(text), 0);
        vdb_error err;
        vdb_filter *f = NULL;
        int rc = vdb_filter_compile_text(text, strlen(text), &f, &err);
        if (f != NULL) {
            compiled++;
            assert_int_equal(rc, VDB_OK);
            for (size_t m = 0; m < 3; m++)
                (void)vdb_filter_match_text(f, metas[m]);
            vdb_filter_free(f);
        } else if (rc != VDB_OK) {
            refused++;
            assert_int_equal(rc, VDB_EINVAL);
            assert_int_equal(err.code, VDB_EINVAL);
            assert_true(strlen(err.msg) > 10);
        }
    }
    printf("random filters: %zu compiled, %zu refused\n", compiled, refused);
    assert_true(compiled > 100);
    assert_true(refused > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_plain_form),  cmocka_unit_test(test_no_filter),
        cmocka_unit_test(test_comparison_operators), cmocka_unit_test(test_set_operators),
        cmocka_unit_test(test_logical_operators), cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_type_mismatches),   cmocka_unit_test(test_empty_results),
        cmocka_unit_test(test_bad_filters),       cmocka_unit_test(test_compile_out_of_memory),
        cmocka_unit_test(test_random_filters_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
