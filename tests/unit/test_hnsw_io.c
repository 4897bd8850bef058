/* hnsw.idx consistency: a save taken while nodes exist beyond the covered
 * rows (an insert between its unlock and the covered update, or a parallel
 * build that has not finished) must still write a file whose header agrees
 * with its body, so the next open loads it instead of rebuilding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fsx.h"
#include "core/rng.h"
#include "index/hnsw.h"
#include "index/hnsw_int.h"

enum { DIM = 16, ROWS = 600, COVERED = 400 };

static float *random_rows(uint32_t n)
{
    vdb_rng rng;
    float *data = malloc((size_t)n * DIM * sizeof(float));
    vdb_rng_seed(&rng, 7);
    for (size_t i = 0; i < (size_t)n * DIM; i++)
        data[i] = (float)vdb_rng_uniform(&rng);
    return data;
}

static void test_save_with_nodes_beyond_covered(void **state)
{
    (void)state;
    char path[] = "/tmp/vdb_hnsw_io_XXXXXX";
    int fd = mkstemp(path);
    float *data = random_rows(ROWS);
    vdb_vecview view = {data, NULL, ROWS, DIM, VDB_METRIC_L2};
    vdb_error err;
    uint32_t rows = 0;
    size_t nodes = 0;
    assert_true(fd >= 0);
    close(fd);
    vdb_error_clear(&err);
    vdb_hnsw *h = NULL;
    assert_int_equal(vdb_hnsw_new(DIM, VDB_METRIC_L2, NULL, &h, &err), VDB_OK);
    assert_non_null(h);
    assert_int_equal(vdb_hnsw_build(h, &view, 0, ROWS, &err), VDB_OK);
    /* The state a checkpoint sees mid-import: every node inserted, covered
     * not yet advanced past COVERED. */
    h->covered = COVERED;
    assert_int_equal(vdb_hnsw_save(h, path, &err), VDB_OK);
    h->covered = ROWS;
    assert_int_equal(vdb_hnsw_file_check(path, &rows, &nodes, &err), VDB_OK);
    assert_int_equal(rows, COVERED);
    assert_int_equal(nodes, COVERED);
    /* And the store's path: load, then catch up the remaining rows. */
    vdb_hnsw *back = NULL;
    assert_int_equal(vdb_hnsw_load(path, DIM, VDB_METRIC_L2, &back, &err), VDB_OK);
    assert_non_null(back);
    assert_int_equal(vdb_hnsw_build(back, &view, COVERED, ROWS, &err), VDB_OK);
    assert_int_equal(vdb_hnsw_count(back), ROWS);
    assert_int_equal(vdb_hnsw_check(back, &err), VDB_OK);
    vdb_hnsw_free(back);
    vdb_hnsw_free(h);
    free(data);
    unlink(path);
}

static void test_file_check_rejects_garbage(void **state)
{
    (void)state;
    char path[] = "/tmp/vdb_hnsw_io_XXXXXX";
    int fd = mkstemp(path);
    vdb_error err;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "VDBHNSW1 but not really a file", 30), 30);
    close(fd);
    vdb_error_clear(&err);
    assert_int_equal(vdb_hnsw_file_check(path, NULL, NULL, &err), VDB_ECORRUPT);
    unlink(path);
    assert_int_equal(vdb_hnsw_file_check(path, NULL, NULL, &err), VDB_ENOTFOUND);
}

/* The save goes through the I/O funnel: an injected write, fsync or ENOSPC
 * fault surfaces as the matching error (never a half file reported as
 * saved), and with the fault gone the next save loads. */
static void test_save_faults_surface(void **state)
{
    static const struct {
        unsigned mask;
        vdb_fsx_fault kind;
        int want;
    } cases[] = {{VDB_FSX_OPEN, VDB_FSX_FAULT_EIO, VDB_EIO},
                 {VDB_FSX_WRITE, VDB_FSX_FAULT_ENOSPC, VDB_ENOSPC},
                 {VDB_FSX_WRITE, VDB_FSX_FAULT_SHORT, VDB_EIO},
                 {VDB_FSX_FSYNC, VDB_FSX_FAULT_EIO, VDB_EIO}};
    (void)state;
    char path[] = "/tmp/vdb_hnsw_io_XXXXXX";
    int fd = mkstemp(path);
    float *data = random_rows(ROWS);
    vdb_vecview view = {data, NULL, ROWS, DIM, VDB_METRIC_L2};
    vdb_error err;
    assert_true(fd >= 0);
    close(fd);
    vdb_error_clear(&err);
    vdb_hnsw *h = NULL;
    assert_int_equal(vdb_hnsw_new(DIM, VDB_METRIC_L2, NULL, &h, &err), VDB_OK);
    assert_non_null(h);
    assert_int_equal(vdb_hnsw_build(h, &view, 0, ROWS, &err), VDB_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t hits = vdb_fsx_fault_hits();
        vdb_fsx_fault_set(cases[i].mask, 1, cases[i].kind, 0);
        vdb_error_clear(&err);
        assert_int_equal(vdb_hnsw_save(h, path, &err), cases[i].want);
        assert_true(vdb_fsx_fault_hits() > hits);
        assert_true(err.msg[0] != 0);
        vdb_fsx_fault_set(0, 0, VDB_FSX_FAULT_EIO, 0);
    }
    assert_int_equal(vdb_hnsw_save(h, path, &err), VDB_OK);
    vdb_hnsw *back = NULL;
    assert_int_equal(vdb_hnsw_load(path, DIM, VDB_METRIC_L2, &back, &err), VDB_OK);
    assert_non_null(back);
    assert_int_equal(vdb_hnsw_count(back), ROWS);
    vdb_hnsw_free(back);
    vdb_hnsw_free(h);
    free(data);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_with_nodes_beyond_covered),
        cmocka_unit_test(test_file_check_rejects_garbage),
        cmocka_unit_test(test_save_faults_surface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
