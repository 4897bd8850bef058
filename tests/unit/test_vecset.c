/* The in-memory store core: id map, add/upsert/delete semantics, batch
 * all-or-nothing, duplicate ids within a batch (last wins), bad input,
 * compaction, allocation failures leaving the set unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "core/rng.h"
#include "store/idmap.h"
#include "store/vecset.h"

static const char *key_of(void *owner, uint32_t row)
{
    return ((char **)owner)[row];
}

static void test_idmap_random_ops(void **state)
{
    enum { N = 5000 };
    char **keys = calloc(N, sizeof(char *));
    int *present = calloc(N, sizeof(int));
    vdb_idmap *map = vdb_idmap_new(key_of, keys);
    vdb_rng rng;
    size_t live = 0;
    (void)state;
    vdb_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "key-%d", i);
        keys[i] = strdup(buf);
    }
    /* Random puts and removes checked against a plain array model. */
    for (int step = 0; step < 40000; step++) {
        uint32_t k = (uint32_t)vdb_rng_below(&rng, N);
        if (vdb_rng_below(&rng, 3) == 0) {
            assert_int_equal(vdb_idmap_remove(map, keys[k]), present[k]);
            live -= (size_t)present[k];
            present[k] = 0;
        } else {
            assert_int_equal(vdb_idmap_put(map, keys[k], k), VDB_OK);
            live += (size_t)!present[k];
            present[k] = 1;
        }
    }
    assert_int_equal(vdb_idmap_size(map), live);
    for (int i = 0; i < N; i++)
        assert_int_equal(vdb_idmap_get(map, keys[i]), present[i] ? i : -1);
    assert_int_equal(vdb_idmap_get(map, "absent"), -1);
    vdb_idmap_free(map);
    for (int i = 0; i < N; i++)
        free(keys[i]);
    free(keys);
    free(present);
}

static vdb_vecset *make_set(uint32_t dim, vdb_metric metric)
{
    vdb_vecset *set = NULL;
    assert_int_equal(vdb_vecset_new(dim, metric, &set, NULL), VDB_OK);
    assert_non_null(set);
    return set;
}

static void test_add_get_count(void **state)
{
    vdb_vecset *set = make_set(3, VDB_METRIC_L2);
    float v[] = {1, 2, 3, 4, 5, 6};
    const char *ids[] = {"a", "b"};
    const char *metas[] = {"{\"x\":1}", NULL};
    uint32_t rows[2];
    size_t replaced = 9;
    (void)state;
    assert_int_equal(vdb_vecset_upsert(set, 2, v, ids, metas, rows, &replaced, NULL), VDB_OK);
    assert_int_equal(replaced, 0);
    assert_int_equal(vdb_vecset_count(set), 2);
    assert_int_equal(rows[0], 0);
    assert_int_equal(rows[1], 1);
    assert_int_equal(vdb_vecset_find(set, "b"), 1);
    assert_memory_equal(vdb_vecset_vector(set, 1), v + 3, 3 * sizeof(float));
    assert_string_equal(vdb_vecset_meta(set, 0), "{\"x\":1}");
    assert_null(vdb_vecset_meta(set, 1));
    assert_string_equal(vdb_vecset_id(set, 0), "a");
    assert_float_equal(vdb_vecset_norm(set, 0), sqrtf(14.0f), 1e-5);
    assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
    vdb_vecset_free(set);
}

static void test_cosine_normalized(void **state)
{
    vdb_vecset *set = make_set(2, VDB_METRIC_COSINE);
    float v[] = {3, 4};
    const char *ids[] = {"a"};
    (void)state;
    assert_int_equal(vdb_vecset_upsert(set, 1, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    assert_float_equal(vdb_vecset_vector(set, 0)[0], 0.6f, 1e-6);
    assert_float_equal(vdb_vecset_vector(set, 0)[1], 0.8f, 1e-6);
    assert_float_equal(vdb_vecset_norm(set, 0), 5.0f, 1e-6);
    assert_float_equal(v[0], 3.0f, 0); /* the caller's buffer is untouched */
    vdb_vecset_free(set);
}

static void test_upsert_replaces(void **state)
{
    vdb_vecset *set = make_set(2, VDB_METRIC_DOT);
    float v1[] = {1, 1, 2, 2}, v2[] = {9, 9};
    const char *ids[] = {"a", "b"}, *again[] = {"a"}, *meta[] = {"{\"v\":2}"};
    size_t replaced;
    vdb_vecview view;
    (void)state;
    assert_int_equal(vdb_vecset_upsert(set, 2, v1, ids, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_upsert(set, 1, v2, again, meta, NULL, &replaced, NULL), VDB_OK);
    assert_int_equal(replaced, 1);
    assert_int_equal(vdb_vecset_count(set), 2);
    assert_int_equal(vdb_vecset_rows(set), 3);
    assert_int_equal(vdb_vecset_find(set, "a"), 2);
    assert_true(vdb_vecset_is_deleted(set, 0));
    assert_string_equal(vdb_vecset_meta(set, 2), "{\"v\":2}");
    view = vdb_vecset_view(set);
    assert_non_null(view.deleted);
    assert_true(vdb_vecview_is_deleted(&view, 0));
    assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
    vdb_vecset_free(set);
}

static void test_duplicates_last_wins(void **state)
{
    vdb_vecset *set = make_set(1, VDB_METRIC_L2);
    float v[] = {1, 2, 3, 4};
    const char *ids[] = {"x", "y", "x", "x"};
    const char *metas[] = {"{\"n\":1}", NULL, "{\"n\":3}", "{\"n\":4}"};
    uint32_t rows[4];
    (void)state;
    assert_int_equal(vdb_vecset_upsert(set, 4, v, ids, metas, rows, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_count(set), 2);
    assert_int_equal(vdb_vecset_rows(set), 2); /* superseded entries are never stored */
    assert_int_equal(rows[0], UINT32_MAX);
    assert_int_equal(rows[2], UINT32_MAX);
    assert_int_equal(vdb_vecset_find(set, "x"), rows[3]);
    assert_float_equal(vdb_vecset_vector(set, rows[3])[0], 4.0f, 0);
    assert_string_equal(vdb_vecset_meta(set, rows[3]), "{\"n\":4}");
    vdb_vecset_free(set);
}

static void test_bad_input_changes_nothing(void **state)
{
    vdb_vecset *set = make_set(2, VDB_METRIC_COSINE);
    float good[] = {1, 2};
    float bad[] = {1, 2, 3, INFINITY, 5, 6};
    const char *ids[] = {"a", "b", "c"}, *one[] = {"z"};
    const char *empty_id[] = {""};
    char long_id[VDB_MAX_ID_LEN + 2];
    const char *long_ids[] = {long_id};
    vdb_error err;
    (void)state;
    assert_int_equal(vdb_vecset_upsert(set, 1, good, one, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_upsert(set, 3, bad, ids, NULL, NULL, NULL, &err), VDB_EINVAL);
    assert_non_null(strstr(err.msg, "vector 1 component 1"));
    assert_int_equal(vdb_vecset_upsert(set, 1, good, empty_id, NULL, NULL, NULL, &err), VDB_EINVAL);
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(vdb_vecset_upsert(set, 1, good, long_ids, NULL, NULL, NULL, &err), VDB_EINVAL);
    assert_int_equal(vdb_vecset_upsert(set, 0, good, one, NULL, NULL, NULL, &err), VDB_EINVAL);
    assert_int_equal(vdb_vecset_count(set), 1);
    assert_int_equal(vdb_vecset_rows(set), 1);
    assert_int_equal(vdb_vecset_find(set, "a"), VDB_ENOTFOUND);
    assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
    vdb_vecset *none = set; /* must come back NULL */
    assert_int_equal(vdb_vecset_new(0, VDB_METRIC_L2, &none, &err), VDB_EINVAL);
    assert_null(none);
    assert_int_equal(err.code, VDB_EINVAL);
    assert_int_equal(vdb_vecset_new(VDB_MAX_DIM + 1, VDB_METRIC_L2, &none, NULL), VDB_EINVAL);
    assert_null(none);
    vdb_vecset_free(set);
}

static void test_alloc_failure_changes_nothing(void **state)
{
    float v[64 * 4];
    char buf[64][16];
    const char *ids[64];
    (void)state;
    for (int i = 0; i < 64 * 4; i++)
        v[i] = (float)i;
    for (int i = 0; i < 64; i++) {
        snprintf(buf[i], sizeof(buf[i]), "id%d", i);
        ids[i] = buf[i];
    }
    /* Fail the Nth allocation for every N until the batch goes through:
     * each failure must leave the set exactly as it was. */
    for (uint64_t nth = 1; nth < 400; nth++) {
        vdb_vecset *set = make_set(4, VDB_METRIC_L2);
        int rc;
        assert_int_equal(vdb_vecset_upsert(set, 2, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
        vdb_alloc_fail_at(nth, 0);
        rc = vdb_vecset_upsert(set, 64, v, ids, NULL, NULL, NULL, NULL);
        vdb_alloc_fail_at(0, 0);
        if (rc == VDB_OK) {
            assert_int_equal(vdb_vecset_count(set), 64);
            vdb_vecset_free(set);
            return;
        }
        assert_int_equal(rc, VDB_ENOMEM);
        assert_int_equal(vdb_vecset_count(set), 2);
        assert_int_equal(vdb_vecset_rows(set), 2);
        assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
        vdb_vecset_free(set);
    }
    fail_msg("batch never succeeded");
}

static void test_delete_and_compact(void **state)
{
    vdb_vecset *set = make_set(1, VDB_METRIC_L2);
    float v[] = {0, 1, 2, 3, 4};
    const char *ids[] = {"a", "b", "c", "d", "e"}, *del[] = {"b", "d", "nope", "b"};
    uint32_t map[5];
    size_t deleted;
    (void)state;
    assert_int_equal(vdb_vecset_upsert(set, 5, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_delete(set, 4, del, &deleted, NULL), VDB_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(vdb_vecset_count(set), 3);
    assert_int_equal(vdb_vecset_find(set, "b"), VDB_ENOTFOUND);
    vdb_vecset_compact(set, map);
    assert_int_equal(vdb_vecset_rows(set), 3);
    assert_int_equal(map[0], 0);
    assert_int_equal(map[1], UINT32_MAX);
    assert_int_equal(map[2], 1);
    assert_int_equal(map[4], 2);
    assert_int_equal(vdb_vecset_find(set, "e"), 2);
    assert_float_equal(vdb_vecset_vector(set, 2)[0], 4.0f, 0);
    assert_null(vdb_vecset_view(set).deleted);
    assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
    vdb_vecset_free(set);
}

static void test_growth_keeps_data(void **state)
{
    enum { N = 20000, D = 24 };
    vdb_vecset *set = make_set(D, VDB_METRIC_L2);
    float *v = malloc(sizeof(float) * 1000 * D);
    char (*names)[16] = malloc(16 * 1000);
    const char *ids[1000];
    (void)state;
    for (int batch = 0; batch < N / 1000; batch++) {
        for (int i = 0; i < 1000; i++) {
            for (int d = 0; d < D; d++)
                v[i * D + d] = (float)(batch * 1000 + i) + (float)d * 0.001f;
            snprintf(names[i], 16, "r%d", batch * 1000 + i);
            ids[i] = names[i];
        }
        assert_int_equal(vdb_vecset_upsert(set, 1000, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    }
    for (uint32_t r = 0; r < N; r += 997)
        assert_float_equal(vdb_vecset_vector(set, r)[1], (float)r + 0.001f, 1e-3);
    assert_int_equal(vdb_vecset_find(set, "r19999"), 19999);
    assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
    free(v);
    free(names);
    vdb_vecset_free(set);
}

static void test_open_mapped(void **state)
{
    enum { N = 300, D = 5, PAGE = 65536 };
    char path[] = "/tmp/vdb-test-mapped-XXXXXX";
    int fd = mkstemp(path);
    float *rows = malloc(sizeof(float) * N * D);
    char **ids = malloc(sizeof(char *) * N), **metas = malloc(sizeof(char *) * N);
    char pad[PAGE];
    float extra[D] = {9, 9, 9, 9, 9};
    const char *extra_id[] = {"new"};
    vdb_vecset *set;
    vdb_error err;
    (void)state;
    assert_true(fd >= 0);
    memset(pad, 0xAB, sizeof(pad));
    assert_int_equal(write(fd, pad, PAGE), PAGE);
    for (int i = 0; i < N * D; i++)
        rows[i] = (float)i;
    assert_int_equal(write(fd, rows, sizeof(float) * N * D), (ssize_t)(sizeof(float) * N * D));
    for (int i = 0; i < N; i++) {
        char buf[16];
        snprintf(buf, sizeof(buf), "m%d", i);
        ids[i] = vdb_strdup(buf);
        metas[i] = i % 2 ? vdb_strdup("{\"odd\":true}") : NULL;
    }
    assert_int_equal(vdb_vecset_open_mapped(D, VDB_METRIC_L2, fd, PAGE, N, ids, metas, NULL, &set, &err), VDB_OK);
    assert_non_null(set);
    assert_int_equal(vdb_vecset_count(set), N);
    assert_float_equal(vdb_vecset_vector(set, 17)[2], 17 * D + 2, 0);
    assert_int_equal(vdb_vecset_find(set, "m299"), 299);
    assert_string_equal(vdb_vecset_meta(set, 1), "{\"odd\":true}");
    /* Appending continues past the mapped rows; writes stay private. */
    assert_int_equal(vdb_vecset_upsert(set, 1, extra, extra_id, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_find(set, "new"), N);
    assert_int_equal(vdb_vecset_delete_row(set, 0), 1);
    vdb_vecset_compact(set, NULL);
    assert_float_equal(vdb_vecset_vector(set, 0)[0], 1 * D, 0);
    assert_int_equal(vdb_vecset_check(set, NULL), VDB_OK);
    vdb_vecset_free(set);
    assert_int_equal(pread(fd, extra, sizeof(float), PAGE), (ssize_t)sizeof(float));
    assert_float_equal(extra[0], 0.0f, 0); /* the file is unchanged */

    /* A duplicate id in a snapshot is corruption, and nothing leaks. */
    ids[0] = vdb_strdup("dup");
    ids[1] = vdb_strdup("dup");
    vdb_vecset *bad = set; /* must come back NULL */
    assert_int_equal(vdb_vecset_open_mapped(D, VDB_METRIC_L2, fd, PAGE, 2, ids, NULL, NULL, &bad,
                                            &err),
                     VDB_ECORRUPT);
    assert_null(bad);
    assert_int_equal(err.code, VDB_ECORRUPT);
    /* The code is the return value: no error record needed to learn it. */
    ids[0] = vdb_strdup("dup");
    ids[1] = vdb_strdup("dup");
    assert_int_equal(vdb_vecset_open_mapped(D, VDB_METRIC_L2, fd, PAGE, 2, ids, NULL, NULL, &bad,
                                            NULL),
                     VDB_ECORRUPT);
    assert_int_not_equal(vdb_vecset_open_mapped(D, VDB_METRIC_L2, fd, 100, 0, ids, NULL, NULL,
                                                &bad, &err),
                         VDB_OK);
    assert_null(bad);
    close(fd);
    unlink(path);
    free(rows);
    free(ids);
    free(metas);
}

/* Relocation (issue 13): the set after vdb_vecset_relocate_* over a file
 * holding the kept rows must equal the same set compacted in place, with
 * rows appended, replaced and deleted between the capture and the commit. */
static void fill_reloc_batch(float *v, char (*names)[16], const char **ids, int first, int n,
                             int dim)
{
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < dim; d++)
            v[i * dim + d] = (float)(first + i) + (float)d * 0.01f;
        snprintf(names[i], 16, "r%d", first + i);
        ids[i] = names[i];
    }
}

static void assert_sets_equal(const vdb_vecset *a, const vdb_vecset *b)
{
    assert_int_equal(vdb_vecset_rows(a), vdb_vecset_rows(b));
    assert_int_equal(vdb_vecset_count(a), vdb_vecset_count(b));
    for (uint32_t r = 0; r < vdb_vecset_rows(a); r++) {
        assert_int_equal(vdb_vecset_is_deleted(a, r), vdb_vecset_is_deleted(b, r));
        assert_string_equal(vdb_vecset_id(a, r), vdb_vecset_id(b, r));
        assert_memory_equal(vdb_vecset_vector(a, r), vdb_vecset_vector(b, r),
                            vdb_vecset_dim(a) * sizeof(float));
        assert_float_equal(vdb_vecset_norm(a, r), vdb_vecset_norm(b, r), 0);
        if (!vdb_vecset_is_deleted(a, r))
            assert_int_equal(vdb_vecset_find(a, vdb_vecset_id(a, r)), r);
    }
    assert_int_equal(vdb_vecset_check(a, NULL), VDB_OK);
}

static void test_relocate_matches_compaction(void **state)
{
    enum { N = 3000, D = 7, PAGE = 65536, MORE = 500 };
    char path[] = "/tmp/vdb-test-reloc-XXXXXX";
    int fd = mkstemp(path);
    vdb_vecset *set = make_set(D, VDB_METRIC_L2), *twin = make_set(D, VDB_METRIC_L2);
    float *v = malloc(sizeof(float) * N * D);
    char(*names)[16] = malloc(16 * (size_t)N);
    const char **ids = malloc(sizeof(char *) * N);
    uint64_t drop[(N + 63) / 64];
    uint32_t *twin_map = malloc(sizeof(uint32_t) * (N + 2 * MORE + 1)), old_rows, left, kept = 0;
    const uint32_t *map;
    char pad[PAGE];
    vdb_vecset_reloc *reloc;
    vdb_error err;
    (void)state;
    assert_true(fd >= 0);
    fill_reloc_batch(v, names, ids, 0, N, D);
    assert_int_equal(vdb_vecset_upsert(set, N, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_upsert(twin, N, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    for (uint32_t r = 5; r < N; r += 7) {
        assert_int_equal(vdb_vecset_delete_row(set, r), 1);
        assert_int_equal(vdb_vecset_delete_row(twin, r), 1);
    }
    /* The capture: its tombstones, and its kept rows written as a
     * snapshot would hold them. */
    vdb_vecset_tombstones(set, N, drop);
    memset(pad, 0, sizeof(pad));
    assert_int_equal(write(fd, pad, PAGE), PAGE);
    for (uint32_t r = 0; r < N; r++)
        if (!vdb_vecset_is_deleted(set, r)) {
            assert_int_equal(write(fd, vdb_vecset_vector(set, r), D * sizeof(float)),
                             (ssize_t)(D * sizeof(float)));
            kept++;
        }
    assert_int_equal(vdb_vecset_relocate_begin(set, fd, PAGE, kept, N, drop, &reloc, &err),
                     VDB_OK);
    assert_int_equal(vdb_vecset_relocate_copy(set, reloc, 1000, &left, &err), VDB_OK);
    assert_int_equal(left, N - 1000);
    /* Writes after the capture, on both sets: appends (growing the arrays
     * past the first round's), a replacement of a kept row, deletes of a
     * kept row and of an appended one. */
    for (int round = 0; round < 2; round++) {
        const char *gone[] = {"r1", round == 0 ? "r3001" : "r2"};
        fill_reloc_batch(v, names, ids, N + round * MORE, MORE, D);
        if (round == 1)
            ids[0] = "r10"; /* replaces kept row 10 */
        assert_int_equal(vdb_vecset_upsert(set, MORE, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
        assert_int_equal(vdb_vecset_upsert(twin, MORE, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
        assert_int_equal(vdb_vecset_delete(set, 2, gone, NULL, &err), VDB_OK);
        assert_int_equal(vdb_vecset_delete(twin, 2, gone, NULL, &err), VDB_OK);
        assert_int_equal(vdb_vecset_relocate_copy(set, reloc, 1700, &left, &err), VDB_OK);
    }
    assert_int_equal(vdb_vecset_relocate_commit(set, reloc, &map, &old_rows, &err), VDB_OK);
    vdb_vecset_compact_some(twin, N, drop, twin_map);
    assert_int_equal(old_rows, N + 2 * MORE);
    assert_memory_equal(map, twin_map, old_rows * sizeof(uint32_t));
    vdb_vecset_relocate_free(reloc);
    assert_sets_equal(set, twin);
    assert_int_equal(vdb_vecset_find(set, "r1"), VDB_ENOTFOUND);
    assert_int_equal(vdb_vecset_find(set, "r10"), vdb_vecset_rows(set) - MORE);
    /* Writes go on over the relocated set, and it compacts again. */
    fill_reloc_batch(v, names, ids, 9000, 10, D);
    assert_int_equal(vdb_vecset_upsert(set, 10, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_vecset_upsert(twin, 10, v, ids, NULL, NULL, NULL, NULL), VDB_OK);
    vdb_vecset_compact(set, NULL);
    vdb_vecset_compact(twin, NULL);
    assert_sets_equal(set, twin);

    /* A file that does not hold the kept rows is refused at the commit,
     * and the set is left as it was. */
    assert_int_equal(vdb_vecset_delete_row(set, 0), 1);
    assert_int_equal(vdb_vecset_delete_row(twin, 0), 1);
    vdb_vecset_tombstones(set, 100, drop);
    assert_int_equal(vdb_vecset_relocate_begin(set, fd, PAGE, 100, 100, drop, &reloc, &err),
                     VDB_OK);
    assert_int_equal(vdb_vecset_relocate_commit(set, reloc, &map, &old_rows, &err),
                     VDB_ECORRUPT);
    vdb_vecset_relocate_free(reloc);
    assert_sets_equal(set, twin);
    vdb_vecset_free(set);
    vdb_vecset_free(twin);
    close(fd);
    unlink(path);
    free(twin_map);
    free(ids);
    free(names);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idmap_random_ops),
        cmocka_unit_test(test_add_get_count),
        cmocka_unit_test(test_cosine_normalized),
        cmocka_unit_test(test_upsert_replaces),
        cmocka_unit_test(test_duplicates_last_wins),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_alloc_failure_changes_nothing),
        cmocka_unit_test(test_delete_and_compact),
        cmocka_unit_test(test_growth_keeps_data),
        cmocka_unit_test(test_open_mapped),
        cmocka_unit_test(test_relocate_matches_compaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
