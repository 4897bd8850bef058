/* Simulated power loss (reliability plan D3). A fixed sequence of store
 * operations (open, adds, a checkpoint, a delete, close) runs with the
 * power cut at I/O operation N, for N = 1, 2, ... until the sequence
 * completes: from the cut on every I/O fails, and the simulator
 * (core/fsx_sim.h) keeps only what was fsynced (file contents) and
 * directory-fsynced (names). The store is then recovered from that image
 * and must hold every acknowledged operation, the one in flight all or
 * nothing, nothing else. Must-fail checks: with fsync or directory fsync
 * turned into no-ops (test knobs) the same loop must find a loss, which
 * proves the test can see the bug it guards against. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_testutil.h"

#include "core/alloc.h"
#include "core/fsx.h"
#include "core/fsx_sim.h"
#include "core/log.h"
#include "store/store.h"
#include "store/vecset.h"

#define DIM 8
#define ROWS 4

enum { OP_OPEN, OP_ADD1, OP_ADD2, OP_ADD3, OP_CHECKPOINT, OP_ADD4, OP_DELETE, OP_ADD5, OP_COUNT };

TU_ROOT_FIXTURE("powerloss", VDB_LOG_OFF)

static int add_batch(vdb_store *store, uint32_t batch)
{
    char ids[ROWS][32], metas[ROWS][48];
    const char *idp[ROWS], *metap[ROWS];
    float v[ROWS * DIM];
    for (uint32_t r = 0; r < ROWS; r++) {
        snprintf(ids[r], sizeof(ids[r]), "b%u-r%u", batch, r);
        snprintf(metas[r], sizeof(metas[r]), "{\"b\":%u,\"r\":%u}", batch, r);
        idp[r] = ids[r];
        metap[r] = metas[r];
    }
    tu_fill(v, batch, ROWS, DIM);
    return vdb_store_add(store, ROWS, v, idp, metap, NULL, NULL);
}

/* Rows of `batch` present with the right bytes; -1 on a wrong row. */
static int rows_present(vdb_store *store, uint32_t batch)
{
    float v[ROWS * DIM], got[DIM];
    const char *idp[ROWS];
    char ids[ROWS][32];
    vdb_vecset *ref = NULL;
    assert_int_equal(vdb_vecset_new(DIM, VDB_METRIC_COSINE, &ref, NULL), VDB_OK);
    int present = 0;
    tu_fill(v, batch, ROWS, DIM);
    for (uint32_t r = 0; r < ROWS; r++) {
        snprintf(ids[r], sizeof(ids[r]), "b%u-r%u", batch, r);
        idp[r] = ids[r];
    }
    vdb_vecset_upsert(ref, ROWS, v, idp, NULL, NULL, NULL, NULL);
    for (uint32_t r = 0; r < ROWS; r++) {
        if (vdb_store_get(store, ids[r], got, NULL, NULL) != VDB_OK)
            continue;
        if (memcmp(got, vdb_vecset_vector(ref, r), sizeof(got)) != 0)
            present = -1000;
        present++;
    }
    vdb_vecset_free(ref);
    return present;
}

/* Runs the sequence; status[op] = 1 acknowledged, -1 failed (in flight),
 * 0 never issued. */
static void run_sequence(const char *dir, int status[OP_COUNT])
{
    vdb_store *store = tu_store_open(dir, NULL, NULL);
    const char *victim[1] = {"b1-r0"};
    memset(status, 0, sizeof(int) * OP_COUNT);
    status[OP_OPEN] = store != NULL ? 1 : -1;
    for (int op = OP_ADD1; store != NULL && op < OP_COUNT; op++) {
        int rc;
        switch (op) {
        case OP_CHECKPOINT: rc = vdb_store_checkpoint(store, NULL); break;
        case OP_DELETE: rc = vdb_store_delete(store, 1, victim, NULL, NULL); break;
        case OP_ADD4: rc = add_batch(store, 4); break;
        case OP_ADD5: rc = add_batch(store, 5); break;
        default: rc = add_batch(store, (uint32_t)(op - OP_ADD1 + 1)); break;
        }
        status[op] = rc == VDB_OK ? 1 : -1;
        if (rc != VDB_OK)
            break; /* the power is off */
    }
    vdb_store_close(store);
}

static int batch_op(uint32_t batch)
{
    return batch <= 3 ? OP_ADD1 + (int)batch - 1 : batch == 4 ? OP_ADD4 : OP_ADD5;
}

/* NULL when the recovered image matches the acknowledged operations. */
static const char *verify(const char *image, const int status[OP_COUNT], char *why, size_t cap)
{
    vdb_error err;
    vdb_store *store = tu_store_open(image, NULL, &err);
    if (store == NULL) {
        snprintf(why, cap, "recovery failed: %s", err.msg);
        return why;
    }
    why[0] = '\0';
    if (rows_present(store, 0) != ROWS)
        snprintf(why, cap, "batch 0 (durable before the test) damaged");
    for (uint32_t b = 1; b <= 5 && !why[0]; b++) {
        int present = rows_present(store, b), st = status[batch_op(b)];
        int deleted = b == 1 && status[OP_DELETE] == 1;
        int maybe_deleted = b == 1 && status[OP_DELETE] != 0;
        if (present < 0)
            snprintf(why, cap, "batch %u: a row is not bit-identical", b);
        else if (st == 1 && present != ROWS - deleted && !(maybe_deleted && present == ROWS - 1))
            snprintf(why, cap, "batch %u acknowledged but %d of %d rows present", b, present, ROWS);
        else if (st == -1 && present != 0 && present != ROWS)
            snprintf(why, cap, "batch %u in flight and half present (%d rows)", b, present);
        else if (st == 0 && present != 0)
            snprintf(why, cap, "batch %u never sent but present", b);
    }
    vdb_store_close(store);
    return why[0] ? why : NULL;
}

/* The whole loop; returns the number of cuts whose recovery was wrong. */
static int power_loop(const char *tag, int expect_clean)
{
    char pristine[600], dir[640], image[660], why[400];
    int failures = 0;
    vdb_store_config config;
    vdb_store *store;
    snprintf(pristine, sizeof(pristine), "%s/%s", root, tag);
    vdb_store_config_default(&config);
    config.dim = DIM;
    assert_int_equal(vdb_store_create(pristine, &config, NULL, &store, NULL), VDB_OK);
    assert_non_null(store);
    assert_int_equal(add_batch(store, 0), VDB_OK);
    vdb_store_close(store);
    for (uint64_t cut = 1; cut < 400; cut++) {
        int status[OP_COUNT];
        uint64_t hits = vdb_fsx_fault_hits();
        tu_cut_dirs(pristine, dir, sizeof(dir), image, sizeof(image));
        assert_int_equal(vdb_fsx_sim_begin(dir, NULL), VDB_OK);
        vdb_fsx_fault_set(VDB_FSX_ALL, cut, VDB_FSX_FAULT_EIO, 1);
        run_sequence(dir, status);
        vdb_fsx_fault_set(0, 0, 0, 0);
        assert_int_equal(vdb_fsx_sim_image(image, NULL), VDB_OK);
        vdb_fsx_sim_end();
        {
            unsigned skipped = vdb_fsx_sim_skipped();
            vdb_fsx_sim_skip(0); /* recovery itself runs with real syncs */
            if (verify(image, status, why, sizeof(why)) != NULL) {
                failures++;
                if (expect_clean)
                    print_message("power cut at I/O #%llu: %s\n", (unsigned long long)cut, why);
            }
            vdb_fsx_sim_skip(skipped);
        }
        if (vdb_fsx_fault_hits() == hits) {
            if (expect_clean)
                print_message("%s: recovered correctly from a power cut at each of %llu I/O "
                              "operations\n", tag, (unsigned long long)(cut - 1));
            assert_true(cut > 20);
            return failures;
        }
    }
    fail_msg("the sequence never completed");
    return failures;
}

static void test_power_loss(void **state)
{
    (void)state;
    assert_int_equal(power_loop("honest", 1), 0);
}

static void test_power_loss_must_fail(void **state)
{
    int lost;
    (void)state;
    vdb_fsx_sim_skip(VDB_FSX_DIRSYNC);
    lost = power_loop("no-dirsync", 0);
    vdb_fsx_sim_skip(0);
    print_message("without directory fsyncs: %d power cuts lose data\n", lost);
    assert_true(lost > 0);
    vdb_fsx_sim_skip(VDB_FSX_FSYNC);
    lost = power_loop("no-fsync", 0);
    vdb_fsx_sim_skip(0);
    print_message("without file fsyncs: %d power cuts lose data\n", lost);
    assert_true(lost > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_loss),
        cmocka_unit_test(test_power_loss_must_fail),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
