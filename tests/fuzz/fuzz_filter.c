/* The metadata filter language (src/filter): compile arbitrary JSON text as
 * a filter, then evaluate it three ways over a fixed set of metadata rows
 * of mixed types: row by row (vdb_filter_match), through an unindexed
 * payload, and through a payload with every compared field indexed.
 * Property: no crash or leak, and all three agree on the matching rows and
 * the count (the planner's index paths must not change answers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/alloc.h"
#include "../../src/core/json.h"
#include "../../src/filter/filter.h"
#include "../../src/filter/payload.h"
#include "fuzz_common.h"

static const char *const rows[] = {
    "{\"price\":5,\"tag\":\"a\",\"tags\":[\"x\",\"y\"],\"ok\":true,\"n\":{\"d\":1.5}}",
    "{\"price\":5.0,\"tag\":\"b\",\"tags\":[],\"ok\":false}",
    "{\"price\":-1e300,\"tag\":\"\",\"tags\":[1,2,3],\"n\":{\"d\":null}}",
    "{\"price\":\"5\",\"tag\":[\"a\"],\"ok\":null}",
    "{\"price\":9007199254740993,\"tag\":\"\\u00e9\",\"tags\":\"x\"}",
    "{\"price\":1e-7,\"n\":{\"d\":[1.5,\"z\"]},\"ok\":1}",
    "{}",
    NULL, /* a row without metadata */
    "{\"price\":[5,6],\"tag\":{\"$eq\":\"a\"},\"tags\":[[\"x\"]],\"n\":{}}",
    "{\"price\":0,\"tag\":\"a\",\"ok\":true,\"tags\":[\"y\",null,false]}",
    "{\"price\":-0.0,\"tag\":\"A\",\"n\":{\"d\":-1.5}}",
    "{\"price\":1.7976931348623157e308,\"tag\":\"ab\",\"tags\":[1.5,\"1.5\"]}",
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static vdb_payload *plain;
static vdb_json *parsed[NROWS];

static vdb_payload *fill(void)
{
    vdb_error err;
    vdb_payload *p;
    if (vdb_payload_new(&p, &err) != VDB_OK)
        abort();
    for (uint32_t i = 0; i < NROWS; i++)
        if (vdb_payload_set(p, i, rows[i], &err) != VDB_OK)
            abort();
    vdb_payload_remove(p, 10); /* a deleted row never matches */
    return p;
}

void fuzz_init(void)
{
    vdb_error err;
    plain = fill();
    for (size_t i = 0; i < NROWS; i++) {
        parsed[i] = NULL;
        if (rows[i] != NULL)
            (void)vdb_json_parse(rows[i], strlen(rows[i]), 32, &parsed[i], &err);
    }
}

static void compare(const vdb_payload *p, const vdb_filter *f, const uint32_t *want, size_t nwant,
                    const char *what)
{
    vdb_error err;
    uint32_t *got = NULL;
    size_t ngot = 0, count = 0;
    if (vdb_payload_match_rows(p, f, &got, &ngot, &err) != VDB_OK)
        return; /* out of memory under the fuzzer's malloc limit */
    if (ngot != nwant || (ngot && memcmp(got, want, ngot * sizeof(*got)) != 0)) {
        fprintf(stderr, "%s: match_rows gives %zu rows, row-by-row %zu\n", what, ngot, nwant);
        abort();
    }
    vdb_free(got);
    if (vdb_payload_count(p, f, &count, &err) == VDB_OK && count != nwant) {
        fprintf(stderr, "%s: count %zu, row-by-row %zu\n", what, count, nwant);
        abort();
    }
    vdb_plan_input in = {.k = 3, .materialize = 1};
    vdb_selection *sel = NULL;
    if (vdb_payload_selection_new(p, f, &in, &sel, &err) == VDB_OK) {
        size_t n = 0;
        const uint32_t *ids = vdb_selection_ids(sel, &n);
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= NROWS || !vdb_selection_accept(sel, ids[i]))
                abort();
        vdb_selection_free(sel);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdb_error err;
    vdb_filter *f = NULL;
    int rc = vdb_filter_compile_text((const char *)data, size, &f, &err);
    if (rc != VDB_OK && f != NULL) /* a failure must not hand back a filter */
        abort();
    if (f == NULL)
        return 0;
    fuzz_accepted++;
    uint32_t want[NROWS];
    size_t nwant = 0;
    for (uint32_t i = 0; i < NROWS; i++) {
        int m = vdb_filter_match(f, parsed[i]);
        if (m != vdb_filter_match_text(f, rows[i]))
            abort();
        if (m && i != 10)
            want[nwant++] = i;
    }
    compare(plain, f, want, nwant, "unindexed");
    vdb_payload *indexed = fill();
    if (vdb_payload_index_filter_fields(indexed, f, &err) == VDB_OK)
        compare(indexed, f, want, nwant, "indexed");
    vdb_payload_free(indexed);
    vdb_filter_free(f);
    return 0;
}

void fuzz_seeds(const char *dir)
{
    static const char *const seeds[] = {
        "{\"tag\":\"a\"}",
        "{\"price\":{\"$gt\":1,\"$lte\":5}}",
        "{\"$or\":[{\"tag\":{\"$in\":[\"a\",\"b\"]}},{\"ok\":{\"$exists\":false}}]}",
        "{\"$and\":[{\"tags\":{\"$contains\":\"x\"}},{\"$not\":{\"price\":{\"$ne\":5}}}]}",
        "{\"n.d\":{\"$gte\":-2,\"$lt\":1.5}}",
        "{\"tag\":{\"$nin\":[\"a\",1,null,true]},\"price\":{\"$eq\":5}}",
        "{\"ok\":true,\"price\":{\"$not\":{\"$in\":[0,5]}}}",
        "{\"tag\":{\"$eq\":{\"$eq\":\"a\"}}}",
        "{\"price\":{\"$gt\":\"4\"}}",
    };
    char name[32];
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        snprintf(name, sizeof(name), "seed%zu.json", i);
        fuzz_seed(dir, name, seeds[i], strlen(seeds[i]));
    }
}
