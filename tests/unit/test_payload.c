/* Payload index tests: indexes kept right through set/remove/re-set/remap,
 * the bitmap evaluation against the naive evaluator on random data (the
 * oracle test), the planner's choices, and rejected inputs. */
#include <pthread.h>
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
#include "filter/payload.h"

static vdb_filter *compile(const char *text)
{
    vdb_error err;
    vdb_filter *f;
    if (vdb_filter_compile_text(text, strlen(text), &f, &err) != VDB_OK) {
        fprintf(stderr, "filter %s: %s\n", text, err.msg);
        fail();
    }
    return f;
}

/* The naive answer: every live row the reference evaluator accepts. */
static size_t naive_rows(const vdb_payload *p, const vdb_filter *f, uint32_t max_row,
                         uint32_t *out)
{
    size_t n = 0;
    for (uint32_t r = 0; r < max_row; r++)
        if (vdb_payload_is_live(p, r) && vdb_filter_match(f, vdb_payload_meta(p, r)))
            out[n++] = r;
    return n;
}

/* Checks match_rows and the accept hook of an unmaterialized selection
 * against the naive evaluator. */
static void check_filter(const vdb_payload *p, const char *text, uint32_t max_row, int hnsw)
{
    vdb_filter *f = compile(text);
    uint32_t *want = vdb_malloc((max_row + 1) * sizeof(*want));
    assert_non_null(want);
    size_t nwant = naive_rows(p, f, max_row, want);
    uint32_t *got = NULL;
    size_t ngot = 0;
    vdb_error err;
    assert_int_equal(vdb_payload_match_rows(p, f, &got, &ngot, &err), VDB_OK);
    if (ngot != nwant || (nwant && memcmp(got, want, nwant * sizeof(*got)) != 0)) {
        fprintf(stderr, "filter %s: %zu rows from the indexes, %zu naive\n", text, ngot, nwant);
        fail();
    }
    vdb_free(got);
    vdb_plan_input input = {10, 64, hnsw, 0, 0, NULL, NULL, 0, 0};
    vdb_selection *sel = NULL;
    assert_int_equal(vdb_payload_selection_new(p, f, &input, &sel, &err), VDB_OK);
    assert_non_null(sel);
    const vdb_plan *plan = vdb_selection_plan(sel);
    if (plan->estimate_exact)
        assert_int_equal(plan->estimate, nwant);
    size_t hits = 0;
    for (uint32_t r = 0; r < max_row; r++) {
        int accept = vdb_selection_accept(sel, r);
        if (accept && (hits >= nwant || want[hits] != r)) {
            fprintf(stderr, "filter %s: hook accepts row %u wrongly (%s)\n", text, r,
                    plan->explain);
            fail();
        }
        hits += (size_t)(accept != 0);
    }
    assert_int_equal(hits, nwant);
    size_t counted = 0;
    assert_int_equal(vdb_payload_count(p, f, &counted, &err), VDB_OK);
    assert_int_equal(counted, nwant);
    size_t nids;
    const uint32_t *ids = vdb_selection_ids(sel, &nids);
    if (plan->kind == VDB_PLAN_EXACT_IDS) {
        assert_int_equal(nids, nwant);
        assert_true(nwant == 0 || memcmp(ids, want, nwant * sizeof(*ids)) == 0);
    }
    vdb_selection_free(sel);
    vdb_free(want);
    vdb_filter_free(f);
}

static void set_ok(vdb_payload *p, uint32_t row, const char *meta)
{
    vdb_error err;
    if (vdb_payload_set(p, row, meta, &err) != VDB_OK) {
        fprintf(stderr, "set %u: %s\n", row, err.msg);
        fail();
    }
}

static void check_ok(const vdb_payload *p)
{
    vdb_error err;
    if (vdb_payload_check(p, &err) != VDB_OK) {
        fprintf(stderr, "check: %s\n", err.msg);
        fail();
    }
}

static void test_set_remove_reset(void **state)
{
    (void)state;
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    set_ok(p, 0, "{\"cat\": \"a\", \"n\": 1, \"tags\": [\"x\", 2]}");
    set_ok(p, 1, "{\"cat\": \"b\", \"n\": 2.5}");
    assert_int_equal(vdb_payload_create_index(p, "cat", &err), VDB_OK);
    assert_int_equal(vdb_payload_create_index(p, "n", &err), VDB_OK);
    assert_int_equal(vdb_payload_create_index(p, "n", &err), VDB_OK); /* idempotent */
    assert_int_equal(vdb_payload_create_index(p, "tags", &err), VDB_OK);
    assert_int_equal(vdb_payload_index_count(p), 3);
    set_ok(p, 2, NULL);
    set_ok(p, 3, "{\"cat\": \"a\", \"n\": true, \"tags\": []}");
    check_ok(p);
    check_filter(p, "{\"cat\": \"a\"}", 8, 0);
    check_filter(p, "{\"n\": 1}", 8, 0);     /* 1 and true */
    check_filter(p, "{\"n\": {\"$gte\": 1}}", 8, 0); /* not true */
    check_filter(p, "{\"cat\": null}", 8, 0); /* row 2 */
    check_filter(p, "{\"tags\": {\"$contains\": 2.0}}", 8, 0);
    /* Remove, then re-set rows with other values; stale range entries must
     * not leak back. */
    vdb_payload_remove(p, 0);
    vdb_payload_remove(p, 0); /* ignored */
    assert_false(vdb_payload_is_live(p, 0));
    assert_null(vdb_payload_meta(p, 0));
    check_filter(p, "{\"n\": {\"$lt\": 2}}", 8, 0);
    set_ok(p, 0, "{\"n\": 100}");
    set_ok(p, 1, "{\"n\": -7}"); /* live re-set replaces */
    check_ok(p);
    check_filter(p, "{\"n\": {\"$gt\": 2}}", 8, 0);
    check_filter(p, "{\"n\": {\"$lt\": 0}}", 8, 0);
    check_filter(p, "{\"cat\": \"b\"}", 8, 0);
    assert_int_equal(vdb_payload_live(p), 4);
    assert_int_equal(vdb_payload_drop_index(p, "cat", &err), VDB_OK);
    assert_int_equal(vdb_payload_drop_index(p, "cat", &err), VDB_ENOTFOUND);
    check_filter(p, "{\"cat\": \"a\"}", 8, 0); /* now by scan */
    vdb_payload_free(p);
    vdb_payload_free(NULL);
}

static void test_bad_input(void **state)
{
    (void)state;
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    set_ok(p, 0, "{\"a\": 1}");
    assert_int_equal(vdb_payload_set(p, 0, "{broken", &err), VDB_EINVAL);
    assert_non_null(strstr(err.msg, "row 0"));
    assert_int_equal(vdb_payload_set(p, 0, "[1, 2]", &err), VDB_EINVAL);
    assert_non_null(strstr(err.msg, "not an object"));
    /* The failed sets changed nothing. */
    assert_true(vdb_payload_is_live(p, 0));
    assert_int_equal(vdb_json_int_value(vdb_json_object_get(vdb_payload_meta(p, 0), "a")), 1);
    assert_int_equal(vdb_payload_set(p, UINT32_MAX, NULL, &err), VDB_ERANGE);
    assert_int_equal(vdb_payload_create_index(p, "a..b", &err), VDB_EINVAL);
    assert_int_equal(vdb_payload_create_index(p, "", &err), VDB_EINVAL);
    char name[32];
    for (unsigned i = 0; i < VDB_PAYLOAD_MAX_INDEXES; i++) {
        snprintf(name, sizeof(name), "f%u", i);
        assert_int_equal(vdb_payload_create_index(p, name, &err), VDB_OK);
    }
    assert_int_equal(vdb_payload_create_index(p, "one.more", &err), VDB_ERANGE);
    uint32_t bad[1] = {UINT32_MAX};
    assert_int_equal(vdb_payload_remap(p, bad, 1, &err), VDB_EINVAL);
    assert_true(vdb_payload_is_live(p, 0));
    vdb_plan_input input = {0, 0, 0, 0, 0, NULL, NULL, 0, 0};
    vdb_selection *none = NULL;
    assert_int_equal(vdb_payload_selection_new(p, NULL, &input, &none, &err), VDB_EINVAL);
    assert_null(none);
    assert_int_equal(err.code, VDB_EINVAL);
    assert_int_equal(vdb_payload_selection_new(p, NULL, &input, &none, NULL), VDB_EINVAL);
    vdb_payload_free(p);
}

static void test_remap(void **state)
{
    (void)state;
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    assert_int_equal(vdb_payload_create_index(p, "n", &err), VDB_OK);
    char meta[64];
    for (uint32_t r = 0; r < 100; r++) {
        snprintf(meta, sizeof(meta), "{\"n\": %u, \"odd\": %s}", r, r % 2 ? "true" : "false");
        set_ok(p, r, meta);
    }
    for (uint32_t r = 0; r < 100; r += 3)
        vdb_payload_remove(p, r);
    uint32_t map[100], next = 0;
    for (uint32_t r = 0; r < 100; r++)
        map[r] = vdb_payload_is_live(p, r) ? next++ : UINT32_MAX;
    assert_int_equal(vdb_payload_remap(p, map, 100, &err), VDB_OK);
    assert_int_equal(vdb_payload_live(p), next);
    check_ok(p);
    /* Row 0 was old row 1, row 1 old row 2, row 2 old row 4. */
    assert_int_equal(vdb_json_int_value(vdb_json_object_get(vdb_payload_meta(p, 2), "n")), 4);
    check_filter(p, "{\"n\": {\"$gte\": 50}}", 100, 0);
    check_filter(p, "{\"n\": 4}", 100, 0);
    check_filter(p, "{\"odd\": true}", 100, 0);
    vdb_payload_free(p);
}

/* Large integers cannot use the double-keyed range index; results must
 * still be exact. */
static void test_large_integers(void **state)
{
    (void)state;
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    assert_int_equal(vdb_payload_create_index(p, "id", &err), VDB_OK);
    set_ok(p, 0, "{\"id\": 9007199254740993}");
    set_ok(p, 1, "{\"id\": 9007199254740992}");
    set_ok(p, 2, "{\"id\": 9007199254740992.0}");
    check_filter(p, "{\"id\": {\"$gt\": 9007199254740992}}", 4, 0);
    check_filter(p, "{\"id\": 9007199254740992}", 4, 0);
    check_filter(p, "{\"id\": 9007199254740993}", 4, 0);
    vdb_payload_free(p);
}

/* ---- the oracle test ------------------------------------------------------ */

static const char *const CATS[] = {"\"a\"", "\"b\"", "\"c\"", "\"d\"", "\"\"", "\"A\""};

static void random_scalar(vdb_rng *rng, char *out, size_t cap)
{
    switch (vdb_rng_below(rng, 8)) {
    case 0:
        snprintf(out, cap, "null");
        break;
    case 1:
        snprintf(out, cap, vdb_rng_below(rng, 2) ? "true" : "false");
        break;
    case 2:
        snprintf(out, cap, "%.1f", (double)vdb_rng_below(rng, 20) / 2.0 - 3.0);
        break;
    case 3:
    case 4:
        snprintf(out, cap, "%s", CATS[vdb_rng_below(rng, 6)]);
        break;
    default:
        snprintf(out, cap, "%d", (int)vdb_rng_below(rng, 12) - 3);
        break;
    }
}

static void random_meta(vdb_rng *rng, char *out, size_t cap)
{
    static const char *const fields[] = {"cat", "n", "x", "flag", "tags", "nested"};
    char value[64];
    size_t len = (size_t)snprintf(out, cap, "{");
    int first = 1;
    for (size_t i = 0; i < 6; i++) {
        if (vdb_rng_below(rng, 5) == 0)
            continue; /* missing */
        if (strcmp(fields[i], "tags") == 0 && vdb_rng_below(rng, 4) != 0) {
            char a[32], b[32];
            random_scalar(rng, a, sizeof(a));
            random_scalar(rng, b, sizeof(b));
            snprintf(value, sizeof(value), vdb_rng_below(rng, 3) ? "[%s, %s]" : "[%s]", a, b);
        } else if (strcmp(fields[i], "nested") == 0 && vdb_rng_below(rng, 4) != 0) {
            char a[32];
            random_scalar(rng, a, sizeof(a));
            snprintf(value, sizeof(value), "{\"v\": %s}", a);
        } else {
            random_scalar(rng, value, sizeof(value));
        }
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\": %s", first ? "" : ", ",
                                fields[i], value);
        first = 0;
    }
    snprintf(out + len, cap - len, "}");
}

static size_t random_filter(vdb_rng *rng, char *out, size_t cap, unsigned depth)
{
    static const char *const paths[] = {"cat", "n", "x", "flag", "tags", "nested.v", "nested"};
    static const char *const ops[] = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in",
                                      "$nin", "$exists", "$contains"};
    char value[64], value2[64];
    unsigned pick = (unsigned)vdb_rng_below(rng, depth < 3 ? 10 : 7);
    if (pick >= 7) {
        const char *logic = pick == 7 ? "$and" : pick == 8 ? "$or" : "$not";
        size_t len = (size_t)snprintf(out, cap, "{\"%s\": %s", logic, pick == 9 ? "" : "[");
        unsigned n = pick == 9 ? 1 : 1 + (unsigned)vdb_rng_below(rng, 3);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                len += (size_t)snprintf(out + len, cap - len, ", ");
            len += random_filter(rng, out + len, cap - len, depth + 1);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s}", pick == 9 ? "" : "]");
        return len;
    }
    const char *path = paths[vdb_rng_below(rng, 7)];
    const char *op = ops[vdb_rng_below(rng, 10)];
    random_scalar(rng, value, sizeof(value));
    if (pick == 0) /* the seed's plain form */
        return (size_t)snprintf(out, cap, "{\"%s\": %s}", path, value);
    if (strcmp(op, "$in") == 0 || strcmp(op, "$nin") == 0) {
        random_scalar(rng, value2, sizeof(value2));
        return (size_t)snprintf(out, cap, "{\"%s\": {\"%s\": [%s, %s]}}", path, op, value, value2);
    }
    if (strcmp(op, "$exists") == 0)
        return (size_t)snprintf(out, cap, "{\"%s\": {\"$exists\": %s}}", path,
                                vdb_rng_below(rng, 2) ? "true" : "false");
    if (op[1] == 'g' || op[1] == 'l') {
        /* Ordering needs a number or a string operand. */
        if (value[0] != '"' && (value[0] < '0' || value[0] > '9') && value[0] != '-')
            snprintf(value, sizeof(value), "%d", (int)vdb_rng_below(rng, 8) - 2);
    }
    return (size_t)snprintf(out, cap, "{\"%s\": {\"%s\": %s}}", path, op, value);
}

static void test_oracle_random(void **state)
{
    (void)state;
    vdb_rng rng;
    vdb_rng_seed(&rng, 20261124);
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    const uint32_t rows = 3000;
    char meta[512], filter[2048];
    for (uint32_t r = 0; r < rows; r++) {
        random_meta(&rng, meta, sizeof(meta));
        set_ok(p, r, meta);
    }
    /* Index a varying subset so exact, superset and unknown paths all run. */
    for (int round = 0; round < 6; round++) {
        if (round == 1) {
            assert_int_equal(vdb_payload_create_index(p, "cat", &err), VDB_OK);
            assert_int_equal(vdb_payload_create_index(p, "n", &err), VDB_OK);
        } else if (round == 2) {
            assert_int_equal(vdb_payload_create_index(p, "x", &err), VDB_OK);
            assert_int_equal(vdb_payload_create_index(p, "flag", &err), VDB_OK);
            assert_int_equal(vdb_payload_create_index(p, "tags", &err), VDB_OK);
            assert_int_equal(vdb_payload_create_index(p, "nested.v", &err), VDB_OK);
            assert_int_equal(vdb_payload_create_index(p, "nested", &err), VDB_OK);
        } else if (round >= 3) {
            /* Churn: deletes, re-sets and new rows, then a compaction. */
            for (int i = 0; i < 600; i++) {
                uint32_t r = (uint32_t)vdb_rng_below(&rng, rows);
                if (vdb_rng_below(&rng, 2)) {
                    vdb_payload_remove(p, r);
                } else {
                    random_meta(&rng, meta, sizeof(meta));
                    set_ok(p, r, meta);
                }
            }
            if (round == 5) {
                uint32_t *map = vdb_malloc(rows * sizeof(*map));
                assert_non_null(map);
                uint32_t next = 0;
                for (uint32_t r = 0; r < rows; r++)
                    map[r] = vdb_payload_is_live(p, r) ? next++ : UINT32_MAX;
                assert_int_equal(vdb_payload_remap(p, map, rows, &err), VDB_OK);
                vdb_free(map);
            }
            check_ok(p);
        }
        for (int i = 0; i < 150; i++) {
            random_filter(&rng, filter, sizeof(filter), 0);
            check_filter(p, filter, rows, i % 2);
        }
    }
    vdb_payload_free(p);
}

/* ---- the planner ------------------------------------------------------------ */

static void test_planner(void **state)
{
    (void)state;
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    const uint32_t rows = 20000;
    char meta[64];
    for (uint32_t r = 0; r < rows; r++) {
        snprintf(meta, sizeof(meta), "{\"b\": %u, \"u\": %u}", r % 1000, r % 1000);
        set_ok(p, r, meta);
    }
    assert_int_equal(vdb_payload_create_index(p, "b", &err), VDB_OK);
    vdb_plan_input hnsw = {10, 64, 1, 0, 0, NULL, NULL, 0, 0}, flat = {10, 64, 0, 0, 0, NULL, NULL, 0, 0};
    struct {
        const char *filter;
        vdb_plan_input *input;
        vdb_plan_kind kind;
        int exact;
    } cases[] = {
        {"{\"b\": {\"$lt\": 1}}", &hnsw, VDB_PLAN_EXACT_IDS, 1},   /* 0.1%, indexed */
        {"{\"b\": {\"$lt\": 500}}", &hnsw, VDB_PLAN_HNSW, 1},      /* 50% */
        {"{\"b\": {\"$lt\": 500}}", &flat, VDB_PLAN_EXACT_IDS, 1}, /* half: ids */
        {"{\"b\": {\"$gte\": 0}}", &flat, VDB_PLAN_FLAT, 1},       /* all */
        {"{\"u\": {\"$lt\": 1}}", &hnsw, VDB_PLAN_EXACT_IDS, 1},   /* unindexed, rare: scan */
        {"{\"u\": {\"$lt\": 500}}", &hnsw, VDB_PLAN_HNSW, 0},      /* unindexed: sampled */
        {"{\"b\": {\"$lt\": 500}, \"u\": 3}", &hnsw, VDB_PLAN_EXACT_IDS, 1}, /* superset refined */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vdb_filter *f = compile(cases[i].filter);
        vdb_selection *sel = NULL;
        assert_int_equal(vdb_payload_selection_new(p, f, cases[i].input, &sel, &err), VDB_OK);
        assert_non_null(sel);
        const vdb_plan *plan = vdb_selection_plan(sel);
        if (plan->kind != cases[i].kind || plan->estimate_exact != cases[i].exact) {
            fprintf(stderr, "%s: %s\n", cases[i].filter, plan->explain);
            fail();
        }
        if (plan->kind == VDB_PLAN_HNSW)
            assert_true(plan->ef >= 16 && plan->ef <= 64);
        vdb_selection_free(sel);
        check_filter(p, cases[i].filter, rows, cases[i].input->hnsw);
        vdb_filter_free(f);
    }
    /* Filtered HNSW explores about ef/s rows, so ef narrows as selectivity
     * drops (exact search held off with a small exact_max), never below
     * 16 or 1.5k; a filter matching everything keeps the full ef. */
    vdb_plan_input forced = {10, 64, 1, 100, 0, NULL, NULL, 0, 0};
    vdb_filter *f10 = compile("{\"b\": {\"$lt\": 100}}");
    vdb_filter *f50 = compile("{\"b\": {\"$lt\": 500}}");
    vdb_filter *f100 = compile("{\"b\": {\"$gte\": 0}}");
    vdb_selection *s10 = NULL;
    assert_int_equal(vdb_payload_selection_new(p, f10, &forced, &s10, &err), VDB_OK);
    vdb_selection *s50 = NULL;
    assert_int_equal(vdb_payload_selection_new(p, f50, &forced, &s50, &err), VDB_OK);
    vdb_selection *s100 = NULL;
    assert_int_equal(vdb_payload_selection_new(p, f100, &forced, &s100, &err), VDB_OK);
    assert_non_null(s10);
    assert_non_null(s50);
    assert_non_null(s100);
    assert_int_equal(vdb_selection_plan(s10)->kind, VDB_PLAN_HNSW);
    assert_int_equal(vdb_selection_plan(s100)->ef, 64);
    assert_true(vdb_selection_plan(s50)->ef < 64);
    assert_true(vdb_selection_plan(s10)->ef < vdb_selection_plan(s50)->ef);
    assert_true(vdb_selection_plan(s10)->ef >= 16);
    assert_non_null(strstr(vdb_selection_plan(s10)->explain, "filter-aware HNSW"));
    assert_non_null(strstr(vdb_selection_plan(s10)->explain, "indexed: b"));
    vdb_selection_free(s10);
    vdb_selection_free(s50);
    vdb_selection_free(s100);
    vdb_filter_free(f100);
    vdb_plan_input bigk = {5000, 64, 1, 100, 0, NULL, NULL, 0, 0};
    assert_int_equal(vdb_payload_selection_new(p, f50, &bigk, &s50, &err), VDB_OK);
    assert_non_null(s50);
    assert_true(vdb_selection_plan(s50)->ef >= 5000);
    vdb_selection_free(s50);
    vdb_filter_free(f10);
    vdb_filter_free(f50);
    /* Indexing a filter's fields turns the scan into an index lookup. */
    vdb_filter *fu = compile("{\"$or\": [{\"u\": {\"$lt\": 2}}, {\"b\": 7}]}");
    vdb_selection *before = NULL;
    assert_int_equal(vdb_payload_selection_new(p, fu, &hnsw, &before, &err), VDB_OK);
    assert_non_null(before);
    assert_true(vdb_selection_plan(before)->rows_scanned > 0);
    vdb_selection_free(before);
    assert_int_equal(vdb_payload_index_filter_fields(p, fu, &err), VDB_OK);
    assert_true(vdb_payload_has_index(p, "u"));
    assert_int_equal(vdb_payload_index_count(p), 2);
    vdb_selection *after = NULL;
    assert_int_equal(vdb_payload_selection_new(p, fu, &hnsw, &after, &err), VDB_OK);
    assert_non_null(after);
    assert_int_equal(vdb_selection_plan(after)->rows_scanned, 0);
    assert_int_equal(vdb_selection_plan(after)->kind, VDB_PLAN_EXACT_IDS);
    assert_int_equal(vdb_selection_plan(after)->estimate, 60);
    vdb_selection_free(after);
    check_filter(p, "{\"$or\": [{\"u\": {\"$lt\": 2}}, {\"b\": 7}]}", rows, 1);
    vdb_filter_free(fu);
    /* No filter. */
    vdb_selection *all = NULL;
    assert_int_equal(vdb_payload_selection_new(p, NULL, &hnsw, &all, &err), VDB_OK);
    assert_non_null(all);
    assert_int_equal(vdb_selection_plan(all)->kind, VDB_PLAN_ALL);
    assert_int_equal(vdb_selection_plan(all)->estimate, rows);
    assert_true(vdb_selection_accept(all, 5));
    assert_false(vdb_selection_accept(all, rows + 5));
    vdb_selection_free(all);
    printf("index memory for %u rows, one field: %zu bytes\n", rows, vdb_payload_index_memory(p));
    vdb_payload_free(p);
}

/* Every allocation failure (through vdb_malloc) is a clean VDB_ENOMEM that
 * leaves the payload consistent; run under ASan it also proves no leaks. */
static void test_out_of_memory(void **state)
{
    (void)state;
    int completed = 0;
    /* Every allocation up to the 64th, then every ~1.5%: jansson's parses
     * allocate through vdb_malloc too, so one pass makes thousands. */
    for (uint64_t nth = 1; nth < 200000 && !completed; nth += 1 + nth / 64) {
        vdb_error err;
        vdb_payload *p = NULL;
        assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
        assert_non_null(p);
        vdb_filter *f = compile("{\"n\": {\"$lt\": 3}, \"t\": {\"$contains\": \"x1\"}}");
        vdb_alloc_fail_at(nth, 0);
        int rc = VDB_OK;
        char meta[64];
        for (uint32_t r = 0; r < 3000 && rc == VDB_OK; r += 2) {
            snprintf(meta, sizeof(meta), "{\"n\": %u, \"t\": [\"x%u\"]}", r % 50, r % 7);
            rc = vdb_payload_set(p, r, meta, &err);
            if (r == 1000 && rc == VDB_OK)
                rc = vdb_payload_create_index(p, "n", &err);
            if (r == 2000 && rc == VDB_OK)
                rc = vdb_payload_create_index(p, "t", &err);
        }
        uint32_t *rows = NULL;
        size_t count = 0;
        int qrc = vdb_payload_match_rows(p, f, &rows, &count, &err);
        vdb_alloc_fail_at(0, 0);
        assert_true(rc == VDB_OK || rc == VDB_ENOMEM);
        assert_true(qrc == VDB_OK || qrc == VDB_ENOMEM);
        vdb_free(rows);
        check_ok(p);
        completed = rc == VDB_OK && qrc == VDB_OK && vdb_alloc_count() > 0 &&
                    vdb_payload_index_count(p) == 2;
        if (completed)
            check_filter(p, "{\"n\": {\"$lt\": 3}, \"t\": {\"$contains\": \"x1\"}}", 3000, 1);
        vdb_filter_free(f);
        vdb_payload_free(p);
        if (completed)
            printf("allocation failures injected at points 1..%llu\n", (unsigned long long)nth - 1);
    }
    assert_true(completed);
}

/* Readers share one payload (the store's read guard): selections, the hook
 * and match_rows from several threads at once must agree with the naive
 * answer (and `make test-tsan` sees no race). */
typedef struct reader_job {
    const vdb_payload *payload;
    const char *const *filters;
    size_t nfilters;
    const size_t *want;
    int failures;
} reader_job;

static void *reader(void *arg)
{
    reader_job *job = arg;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < job->nfilters; i++) {
            vdb_error err;
            vdb_filter *f = NULL;
            if (vdb_filter_compile_text(job->filters[i], strlen(job->filters[i]), &f, &err) !=
                VDB_OK)
                job->failures++; /* per-thread counter, read after the join */
            vdb_plan_input input = {10, 64, round % 2, 0, 0, NULL, NULL, 0, 0};
            vdb_selection *sel = NULL;
            if (vdb_payload_selection_new(job->payload, f, &input, &sel, &err) != VDB_OK)
                job->failures++;
            size_t hits = 0, count = 0;
            for (uint32_t r = 0; sel != NULL && r < 4000; r++)
                hits += (size_t)(vdb_selection_accept(sel, r) != 0);
            if (sel == NULL || hits != job->want[i] ||
                vdb_payload_count(job->payload, f, &count, &err) != VDB_OK || count != hits)
                job->failures++;
            vdb_selection_free(sel);
            vdb_filter_free(f);
        }
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    vdb_error err;
    vdb_payload *p = NULL;
    assert_int_equal(vdb_payload_new(&p, &err), VDB_OK);
    assert_non_null(p);
    char meta[96];
    for (uint32_t r = 0; r < 4000; r++) {
        snprintf(meta, sizeof(meta), "{\"n\": %u, \"c\": \"k%u\", \"t\": [%u]}", r % 100, r % 7,
                 r % 3);
        set_ok(p, r, meta);
    }
    assert_int_equal(vdb_payload_create_index(p, "n", &err), VDB_OK);
    assert_int_equal(vdb_payload_create_index(p, "c", &err), VDB_OK);
    static const char *const filters[] = {
        "{\"n\": {\"$lt\": 3}}", "{\"n\": {\"$gte\": 40}}", "{\"c\": \"k3\"}",
        "{\"t\": {\"$contains\": 2}}", "{\"$or\": [{\"c\": \"k1\"}, {\"t\": [0]}]}",
        "{\"n\": {\"$gt\": 10}, \"c\": {\"$ne\": \"k2\"}}"};
    size_t want[6];
    uint32_t *rows = vdb_malloc(4000 * sizeof(*rows));
    assert_non_null(rows);
    for (size_t i = 0; i < 6; i++) {
        vdb_filter *f = compile(filters[i]);
        want[i] = naive_rows(p, f, 4000, rows);
        vdb_filter_free(f);
    }
    vdb_free(rows);
    pthread_t threads[4];
    reader_job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (reader_job){p, filters, 6, want, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, reader, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
    }
    vdb_payload_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_remove_reset), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_remap),            cmocka_unit_test(test_large_integers),
        cmocka_unit_test(test_oracle_random),    cmocka_unit_test(test_planner),
        cmocka_unit_test(test_out_of_memory),    cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
