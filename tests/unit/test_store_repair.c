/* Deletes without a rebuild (issue 13): optimize on a store with 10% of
 * its rows deleted repairs the HNSW graph locally and carries it over the
 * compaction (renumbered) instead of rebuilding it.
 *   - per data family (families.h: clustered and uniform cosine,
 *     euclidean with 25x norm spread, inner product with 4x norm spread,
 *     each held to 0.005; stored duplicates, held to 0.015, see
 *     test_repair_duplicates), two copies of
 *     one store get the same deletes; one is optimized with the default (must pick
 *     "repaired"), the other with VDB_STORE_GRAPH_REBUILD. Neither ever
 *     returns a deleted id, and the repaired graph's recall@10 against
 *     exact search (at two small ef values, where graph quality shows) is
 *     within the family's tolerance of the rebuilt one's; the repaired
 *     store's calibration was re-checked (calib.h), not measured again,
 *     and records it;
 *   - the repaired graph is saved: a reopen loads it covering every row at
 *     once and answers exactly as before the reopen;
 *   - a power cut at each I/O operation of an open + repair-optimize +
 *     close (core/fsx_sim.h) leaves a store that opens with every row, never
 *     returns a deleted one, and whose graph (loaded or rebuilt) has recall. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>

#include "families.h"
#include "store_testutil.h"

#include "core/fsx.h"
#include "core/fsx_sim.h"
#include "core/log.h"
#include "index/quant.h"
#include "store/calib.h"
#include "store/query.h"
#include "store/store.h"
#include "store/store_index.h"

enum { NQ = 400, K = 10 };

typedef struct answers {
    uint32_t row[K];
    float dist[K];
    size_t count;
} answers;

TU_ROOT_FIXTURE("repair", VDB_LOG_OFF)

static int take(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    answers *a = (answers *)ctx + q;
    a->count = count;
    for (size_t i = 0; i < count; i++) {
        a->row[i] = (uint32_t)strtoul(hits[i].id + 1, NULL, 10); /* ids are "v<row>" */
        a->dist[i] = hits[i].distance;
    }
    return 0;
}

static int is_deleted(uint32_t row)
{
    /* A fixed 10%, spread over the store (a hash, not a stride). */
    uint32_t h = row * 2654435761u;
    return (h >> 16) % 10 == 3;
}

/* Recall@K at `ef` against the store's exact search (a hit counts when its
 * distance is within the K-th true one, so ties do not matter); fails the
 * test when any answer is a deleted row. */
static double recall(vdb_store *store, const float *queries, size_t nq, uint32_t ef)
{
    vdb_query_params approx = {K, ef, NULL, 0, NULL, 0}, exact = {K, 0, NULL, 1, NULL, 0};
    answers *got = calloc(nq, sizeof(*got)), *truth = calloc(nq, sizeof(*truth));
    size_t hit = 0, total = 0;
    assert_int_equal(vdb_store_query(store, queries, nq, &approx, take, got, NULL), VDB_OK);
    assert_int_equal(vdb_store_query(store, queries, nq, &exact, take, truth, NULL), VDB_OK);
    for (size_t q = 0; q < nq; q++) {
        for (size_t i = 0; i < got[q].count; i++)
            if (is_deleted(got[q].row[i]))
                fail_msg("query %zu returned deleted row %u", q, got[q].row[i]);
        if (truth[q].count == 0)
            continue;
        double kth = truth[q].dist[truth[q].count - 1];
        for (size_t i = 0; i < got[q].count; i++)
            hit += got[q].dist[i] <= kth + 1e-5 * (fabs(kth) + 1);
        total += truth[q].count;
    }
    free(got);
    free(truth);
    return total ? (double)hit / (double)total : 1.0;
}

static vdb_store *open_store(const char *dir)
{
    vdb_store_options options;
    vdb_error err;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = tu_store_open(dir, &options, &err);
    if (store == NULL)
        fail_msg("open %s: %s", dir, err.msg);
    return store;
}

/* A store of `rows` rows "v0".."v<rows-1>" with its graph built and saved. */
static void make_store(const char *dir, family f, uint32_t dim, vdb_metric metric, uint32_t rows,
                       const float *centres, double target)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_rng rng;
    char names[500][16];
    const char *ids[500];
    float *batch = malloc((size_t)500 * dim * sizeof(float));
    vdb_store_config_default(&config);
    config.dim = dim;
    config.metric = metric;
    config.index = VDB_INDEX_HNSW;
    config.hnsw_ef_construction = 100;
    /* The float graph is the subject (recall compared exactly across a
     * reopen); int8 codes are retrained from the compacted rows at an open,
     * so an auto store that kept them could answer a hair differently. */
    config.quantization = VDB_QUANT_NONE;
    /* At the default 0.99 these small stores scan at their target (the
     * graph is no cheaper there), which leaves a calibration re-check
     * nothing to check; at 0.9 the clustered one runs its graph. */
    config.target_recall = target;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(dir, &config, &options, &store, NULL), VDB_OK);
    assert_non_null(store);
    vdb_rng_seed(&rng, 5);
    for (uint32_t at = 0; at < rows; at += 500) {
        uint32_t n = rows - at < 500 ? rows - at : 500;
        for (uint32_t i = 0; i < n; i++) {
            gen(f, &rng, dim, batch + (size_t)i * dim, centres);
            snprintf(names[i], sizeof(names[i]), "v%u", at + i);
            ids[i] = names[i];
        }
        assert_int_equal(vdb_store_add(store, n, batch, ids, NULL, NULL, NULL), VDB_OK);
    }
    free(batch);
    assert_int_equal(vdb_store_optimize(store, NULL, NULL), VDB_OK);
    vdb_store_close(store);
}

/* Deletes the is_deleted rows; returns how many. */
static size_t delete_tenth(vdb_store *store, uint32_t rows)
{
    size_t gone = 0;
    for (uint32_t r = 0; r < rows; r++) {
        char name[16];
        const char *ids[1] = {name};
        size_t deleted = 0;
        if (!is_deleted(r))
            continue;
        snprintf(name, sizeof(name), "v%u", r);
        assert_int_equal(vdb_store_delete(store, 1, ids, &deleted, NULL), VDB_OK);
        assert_int_equal(deleted, 1);
        gone++;
    }
    return gone;
}

/* After the repair-optimize the calibration was re-checked, not measured
 * again (calib.h): the outcome is recorded, nothing is due, and when it
 * held, every band that reaches the target still does at its (possibly
 * moved) pick, measured on the repaired graph. The rebuilt copy got the
 * full calibration, which records no re-check. */
static double a_target(vdb_store *store)
{
    double target, lower;
    uint32_t ef;
    vdb_store_recall_summary(store, &target, &lower, &ef);
    return target;
}

/* `scanned`: the optimize of `a` returned on a SCANS re-check (the store
 * scanned at its target) and its full calibration has run since
 * (vdb_store_wait_idle): that full run records no re-check. */
static vdb_calib_recheck check_recheck(vdb_store *a, vdb_store *b, int scanned, const char *tag)
{
    vdb_calib cal;
    vdb_store_calib_get(b, &cal);
    assert_true(cal.valid);
    assert_int_equal(cal.recheck.outcome, VDB_CALIB_RECHECK_NONE);
    vdb_store_calib_get(a, &cal);
    assert_true(cal.valid);
    assert_int_equal(vdb_store_calib_due(a), 0);
    const vdb_calib_recheck *rk = &cal.recheck;
    if (scanned) {
        print_message("%s: the store scanned at its target: optimize returned before the full "
                      "calibration (%.2f s)\n",
                      tag, cal.seconds);
        assert_int_equal(rk->outcome, VDB_CALIB_RECHECK_NONE);
        return *rk;
    }
    print_message("%s: calibration re-check %s: %u entries, %u picks moved up, %.2f s "
                  "(full calibration %.2f s)\n",
                  tag, rk->outcome == VDB_CALIB_RECHECK_KEPT ? "held" : "missed, recalibrated",
                  rk->entries, rk->moved, rk->seconds, cal.seconds);
    assert_true(rk->outcome == VDB_CALIB_RECHECK_KEPT || rk->outcome == VDB_CALIB_RECHECK_FAILED);
    assert_int_equal(rk->live, vdb_store_count(a));
    if (rk->outcome == VDB_CALIB_RECHECK_KEPT) {
        assert_true(rk->entries > 0);
        assert_int_equal(rk->failed_band, -1);
        /* Only re-measured entries are left: every curve holds at most
         * the two the re-check may write (the pick and one step up). */
        for (int sb = 0; sb < VDB_CALIB_NS; sb++)
            for (int kb = 0; kb < VDB_CALIB_NK; kb++) {
                uint32_t left = 0;
                for (uint32_t i = 0; i < cal.curve[sb][kb].measured; i++)
                    left += vdb_calib_curve_lcb(&cal.curve[sb][kb], i, NULL) > 0;
                assert_true(left <= 2);
            }
        /* When the plain band's pick is the entry it re-measured, the
         * bound there is the new one and reaches the target. */
        int pick = vdb_calib_pick(&cal.curve[0][0], a_target(a));
        if (pick >= 0 && vdb_calib_ef_ladder[pick] == rk->ef)
            assert_true(rk->recall_lo >= a_target(a));
    }
    return *rk;
}

static void check_family(family f, uint32_t dim, vdb_metric metric, const uint32_t efs[2],
                         double tolerance, const char *tag)
{
    enum { ROWS = 8000 };
    char a_dir[600], b_dir[600];
    float *centres = family_centres(dim, 7), *queries = malloc((size_t)NQ * dim * sizeof(float));
    vdb_store_optimize_info info;
    vdb_store_stats stats;
    vdb_rng rng;
    snprintf(a_dir, sizeof(a_dir), "%s/%s-repair", root, tag);
    snprintf(b_dir, sizeof(b_dir), "%s/%s-rebuild", root, tag);
    make_store(a_dir, f, dim, metric, ROWS, centres, 0.9);
    mkdir(b_dir, 0755);
    tu_copy_dir(a_dir, b_dir);
    vdb_rng_seed(&rng, 99);
    for (size_t q = 0; q < NQ; q++)
        gen_query(f, &rng, dim, queries + q * dim, centres);

    vdb_store *a = open_store(a_dir), *b = open_store(b_dir);
    size_t gone = delete_tenth(a, ROWS);
    assert_int_equal(delete_tenth(b, ROWS), gone);
    /* For the record: the graph before the repair, deleted nodes still
     * routing. On the spread-norm family it is itself below the rebuild
     * (BENCHMARKS.md issue 13, opt13), so part of the gap is not the
     * repair's. */
    for (int e = 0; e < 2; e++)
        print_message("%s: recall@%d at ef %u before the optimize (deleted nodes route): %.4f\n",
                      tag, K, efs[e], recall(a, queries, NQ, efs[e]));
    assert_int_equal(vdb_store_optimize_mode(a, VDB_STORE_GRAPH_AUTO, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "repaired");
    assert_int_equal(info.rows_dropped, gone);
    assert_int_equal(info.vectors, ROWS - gone);
    int scanned;
    {
        vdb_calib cal;
        vdb_store_calib_get(a, &cal);
        scanned = cal.recheck.outcome == VDB_CALIB_RECHECK_SCANS;
        if (scanned)
            assert_int_equal(info.calibrating, 1);
        vdb_store_wait_idle(a);
    }
    assert_int_equal(vdb_store_optimize_mode(b, VDB_STORE_GRAPH_REBUILD, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "rebuilt");
    vdb_store_get_stats(a, &stats);
    assert_int_equal(stats.rows, ROWS - gone);
    assert_int_equal(stats.index_rows, ROWS - gone);
    vdb_calib_recheck rk = check_recheck(a, b, scanned, tag);
    /* The uniform store usually runs its graph at its target (the others
     * often scan there: their graph is no cheaper): the re-check then has a
     * pick to measure and, on the same graph less 10%, holds. Whether the
     * graph or the scan is cheaper at the target is a timed measurement:
     * under ASan on a loaded machine the uniform store scanned there, so
     * there was nothing to re-check (SCANS; the full run followed). What
     * must never happen is a re-measured pick that missed. */
    if (f == FAM_UNIFORM && !scanned)
        assert_int_equal(rk.outcome, VDB_CALIB_RECHECK_KEPT);
    /* Two ef values per family, where recall is below 1 and graph quality
     * shows (the default ef answers these small stores perfectly). */
    double repaired = 0;
    for (int e = 0; e < 2; e++) {
        double got = recall(a, queries, NQ, efs[e]), want = recall(b, queries, NQ, efs[e]);
        print_message("%s: recall@%d at ef %u after 10%% deletes: repaired %.4f, rebuilt %.4f\n",
                      tag, K, efs[e], got, want);
        assert_true(got >= want - tolerance);
        if (e == 0)
            repaired = got;
    }
    /* Saved with the new numbering: loaded whole at the next open (a
     * rebuild would start from 0 rows), same answers as before. */
    vdb_store_close(a);
    a = open_store(a_dir);
    vdb_store_get_stats(a, &stats);
    assert_int_equal(stats.rows, ROWS - gone);
    assert_int_equal(stats.index_rows, ROWS - gone);
    assert_true(fabs(recall(a, queries, NQ, efs[0]) - repaired) < 1e-9);
    {
        /* The re-check's outcome is saved with the calibration. */
        vdb_calib cal;
        vdb_store_calib_get(a, &cal);
        assert_int_equal(cal.recheck.outcome, rk.outcome);
        assert_int_equal(cal.recheck.entries, rk.entries);
        assert_int_equal(vdb_store_calib_due(a), 0);
    }
    vdb_store_close(a);
    vdb_store_close(b);
    free(centres);
    free(queries);
}

static void test_repair_clustered(void **state)
{
    static const uint32_t efs[2] = {16, 32};
    (void)state;
    check_family(FAM_CLUSTERED, 64, VDB_METRIC_COSINE, efs, 0.005, "clustered");
}

static void test_repair_uniform(void **state)
{
    static const uint32_t efs[2] = {16, 32};
    (void)state;
    check_family(FAM_UNIFORM, 32, VDB_METRIC_COSINE, efs, 0.005, "uniform");
}

/* Euclidean with norms spread 25x was where the repair fell short of a
 * rebuild (0.010-0.015 lower recall@10 at ef 64 and 160) while its
 * top-up preferred the nearest candidates to the surviving links; with
 * the old links first it measured -0.003 to -0.005 at ef 64 (one CI run
 * failed the 0.005 here), and with the backlinks pass -0.001 to +0.001
 * (hnsw_repair.c). Held to the goal like the others. */
static void test_repair_norms_l2(void **state)
{
    static const uint32_t efs[2] = {64, 160};
    (void)state;
    check_family(FAM_NORMS_L2, 48, VDB_METRIC_L2, efs, 0.005, "norms-l2");
}

/* Inner product with norms spread 4x, and stored duplicates (exact ties:
 * 400 base vectors stored about 20 times each), the other families of
 * families.h a graph can get wrong. On the duplicates the repaired graph
 * falls short of a rebuild: -0.0075 recall@10 at ef 16 (0.9900 against
 * 0.9975; the graph before the optimize 0.9950). Before exact copies got a
 * capped share of each list (2026-12-03, hnsw.h) it was -0.0175, with the
 * first build at 0.9775 (BENCHMARKS.md). Held to 0.015 so that it cannot
 * get worse unseen. */
static void test_repair_norms_dot(void **state)
{
    static const uint32_t efs[2] = {16, 32};
    (void)state;
    check_family(FAM_NORMS_DOT, 48, VDB_METRIC_DOT, efs, 0.005, "norms-dot");
}

static void test_repair_duplicates(void **state)
{
    static const uint32_t efs[2] = {16, 32};
    (void)state;
    check_family(FAM_DUPLICATES, 32, VDB_METRIC_COSINE, efs, 0.015, "duplicates");
}

/* Curve entries with probes behind them, over every band. */
static uint32_t measured_entries(const vdb_calib *cal)
{
    uint32_t n = 0;
    for (int s = 0; s < VDB_CALIB_NS; s++)
        for (int kb = 0; kb < VDB_CALIB_NK; kb++)
            for (uint32_t e = 0; e < cal->curve[s][kb].measured; e++)
                for (int c = 0; c < VDB_CALIB_NCLASS; c++)
                    n += cal->curve[s][kb].probes[c][e] > 0;
    return n;
}

/* A store that scans at its target in every band (1.0: no bound reaches
 * it) has nothing to re-check after a repair, and its answers there are
 * exact on any graph: optimize publishes its calibration with every curve
 * dropped (SCANS) and returns before the full calibration, which runs in
 * the background and restores them. Meanwhile every target scans, so even
 * a per-query 0.5 is answered exactly. A restart before that full run
 * still owes it (calib.pending says "stale"). */
static void test_repair_scans_at_target(void **state)
{
    enum { ROWS = 4000, DIM = 32 };
    char dir[600];
    float *centres = family_centres(DIM, 7), *queries = malloc((size_t)NQ * DIM * sizeof(float));
    vdb_store_optimize_info info;
    vdb_calib cal;
    vdb_rng rng;
    (void)state;
    snprintf(dir, sizeof(dir), "%s/scans", root);
    make_store(dir, FAM_CLUSTERED, DIM, VDB_METRIC_COSINE, ROWS, centres, 1.0);
    vdb_rng_seed(&rng, 17);
    for (size_t q = 0; q < NQ; q++)
        gen_query(FAM_CLUSTERED, &rng, DIM, queries + q * DIM, centres);
    vdb_store *store = open_store(dir);
    vdb_store_calib_get(store, &cal);
    assert_true(cal.valid);
    uint32_t full = measured_entries(&cal);
    assert_true(full > 0);
    size_t gone = delete_tenth(store, ROWS);
    assert_int_equal(vdb_store_optimize_mode(store, VDB_STORE_GRAPH_AUTO, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "repaired");
    assert_int_equal(info.vectors, ROWS - gone);
    /* The full run (the whole ladder on 3,600 rows) has not published in
     * the moment since the call returned. */
    vdb_store_calib_get(store, &cal);
    assert_int_equal(cal.recheck.outcome, VDB_CALIB_RECHECK_SCANS);
    assert_int_equal(info.calibrating, 1);
    assert_int_equal(measured_entries(&cal), 0);
    {
        /* Planned while the full run has not published (still due after
         * the query): a scan, at any target. */
        char explain[VDB_EXPLAIN_MAX];
        vdb_query_params low = {K, 0, NULL, 0, explain, 0.5};
        answers got[1];
        assert_int_equal(vdb_store_query(store, queries, 1, &low, take, got, NULL), VDB_OK);
        if (vdb_store_calib_due(store))
            assert_non_null(strstr(explain, "exact scan"));
    }
    vdb_store_wait_idle(store);
    vdb_store_calib_get(store, &cal);
    assert_int_equal(cal.recheck.outcome, VDB_CALIB_RECHECK_NONE);
    assert_true(measured_entries(&cal) > 0);
    assert_int_equal(vdb_store_calib_due(store), 0);
    /* At the target (1.0) the answers are exact. */
    assert_true(recall(store, queries, NQ, 0) >= 1.0 - 1e-12);

    /* Again, closed at once: the full run is cut short by the close. */
    size_t more = 0;
    for (uint32_t r = 0; r < ROWS; r++) {
        char name[16];
        const char *ids[1] = {name};
        size_t deleted = 0;
        if (is_deleted(r) || r % 9 != 0)
            continue;
        snprintf(name, sizeof(name), "v%u", r);
        assert_int_equal(vdb_store_delete(store, 1, ids, &deleted, NULL), VDB_OK);
        more += deleted;
    }
    assert_int_equal(vdb_store_optimize_mode(store, VDB_STORE_GRAPH_AUTO, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "repaired");
    vdb_store_close(store);
    store = open_store(dir);
    vdb_store_calib_get(store, &cal);
    assert_int_equal(vdb_store_count(store), ROWS - gone - more);
    /* calib.txt holds the dropped curves: the full run is still owed. */
    if (cal.recheck.outcome == VDB_CALIB_RECHECK_SCANS)
        assert_int_equal(vdb_store_calib_due(store), 1);
    else
        assert_int_equal(cal.recheck.outcome, VDB_CALIB_RECHECK_NONE);
    vdb_store_wait_idle(store);
    vdb_store_calib_get(store, &cal);
    assert_int_equal(cal.recheck.outcome, VDB_CALIB_RECHECK_NONE);
    assert_true(measured_entries(&cal) > 0);
    vdb_store_close(store);
    free(centres);
    free(queries);
}

/* REBUILD without deletes still builds a fresh graph; AUTO past the
 * threshold rebuilds too. */
static void test_modes(void **state)
{
    enum { ROWS = 1500, DIM = 16 };
    char dir[600];
    vdb_store_optimize_info info;
    (void)state;
    snprintf(dir, sizeof(dir), "%s/modes", root);
    make_store(dir, FAM_UNIFORM, DIM, VDB_METRIC_COSINE, ROWS, NULL, 0.9);
    vdb_store *store = open_store(dir);
    assert_int_equal(vdb_store_optimize_mode(store, VDB_STORE_GRAPH_AUTO, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "none");
    /* A plain checkpoint that compacts 10% repairs too, and the calibration
     * (fresh after the optimize; 10% fewer rows alone would not make it
     * due) is stale afterwards, as after a rebuild. */
    assert_int_equal(vdb_store_calib_due(store), 0);
    size_t gone = delete_tenth(store, ROWS);
    assert_true(gone > ROWS / 20 && gone < ROWS / 5);
    assert_int_equal(vdb_store_checkpoint(store, NULL), VDB_OK);
    assert_int_equal(vdb_store_calib_due(store), 1);
    /* The mark outlives a restart before the run it asked for (calib.pending):
     * calib.txt alone still says "measured on these rows, 10% off", which
     * is not due. */
    vdb_store_close(store);
    store = open_store(dir);
    assert_int_equal(vdb_store_calib_due(store), 1);
    assert_int_equal(vdb_store_optimize_mode(store, VDB_STORE_GRAPH_AUTO, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "none"); /* nothing left to compact */
    /* The optimize waited for the calibration: the mark is gone, on disk too. */
    assert_int_equal(vdb_store_calib_due(store), 0);
    vdb_store_close(store);
    store = open_store(dir);
    assert_int_equal(vdb_store_calib_due(store), 0);
    assert_int_equal(info.vectors, ROWS - gone);
    assert_int_equal(vdb_store_optimize_mode(store, VDB_STORE_GRAPH_REBUILD, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "rebuilt");
    assert_int_equal(info.vectors, ROWS - gone);
    /* Past the threshold: rows "v<r>" with r % 3 != 0 among the live ones,
     * about 60% of them, go. */
    size_t more = 0;
    for (uint32_t r = 0; r < ROWS; r++) {
        char name[16];
        const char *ids[1] = {name};
        size_t deleted = 0;
        if (is_deleted(r) || r % 3 == 0)
            continue;
        snprintf(name, sizeof(name), "v%u", r);
        assert_int_equal(vdb_store_delete(store, 1, ids, &deleted, NULL), VDB_OK);
        more += deleted;
    }
    assert_int_equal(vdb_store_optimize_mode(store, VDB_STORE_GRAPH_AUTO, &info, NULL), VDB_OK);
    assert_string_equal(info.graph, "rebuilt");
    assert_true(info.deleted_fraction >= VDB_STORE_REPAIR_MAX_FRACTION);
    assert_int_equal(info.vectors, ROWS - gone - more);
    vdb_store_close(store);
}

/* Recovers the image of a cut and checks it; returns NULL or why not. */
static const char *verify_cut(const char *image, uint32_t rows, const float *queries, size_t nq,
                              uint32_t dim, char *why, size_t cap)
{
    size_t live = 0;
    vdb_store_stats stats;
    vdb_error err;
    vdb_store_options options;
    why[0] = 0;
    for (uint32_t r = 0; r < rows; r++)
        live += !is_deleted(r);
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    options.skip_calibration = 1; /* the subject is the data and the graph */
    vdb_store *store = tu_store_open(image, &options, &err);
    if (store == NULL) {
        snprintf(why, cap, "open failed: %s", err.msg);
        return why;
    }
    if (vdb_store_count(store) != live)
        snprintf(why, cap, "%zu vectors, expected %zu", vdb_store_count(store), live);
    /* Whatever graph it loaded or rebuilds must cover every row. */
    assert_int_equal(vdb_store_optimize(store, NULL, NULL), VDB_OK);
    vdb_store_get_stats(store, &stats);
    if (!why[0] && stats.index_rows != stats.rows)
        snprintf(why, cap, "graph covers %u of %zu rows", stats.index_rows, (size_t)stats.rows);
    double r = recall(store, queries, nq, 64); /* fails on a deleted row */
    if (!why[0] && r < 0.9)
        snprintf(why, cap, "recall %.3f", r);
    (void)dim;
    vdb_store_close(store);
    return why[0] ? why : NULL;
}

static void test_power_cut_during_repair(void **state)
{
    enum { ROWS = 500, DIM = 8, CUT_NQ = 50 };
    char pristine[600], dir[640], image[660], why[300];
    float queries[CUT_NQ * DIM];
    vdb_rng rng;
    uint64_t cut;
    (void)state;
    snprintf(dir, sizeof(dir), "%s/cut-built", root);
    snprintf(pristine, sizeof(pristine), "%s/cut", root);
    make_store(dir, FAM_UNIFORM, DIM, VDB_METRIC_L2, ROWS, NULL, 0.9);
    {
        vdb_store *store = open_store(dir);
        delete_tenth(store, ROWS);
        /* Copied before the close (whose checkpoint would compact): the
         * deletes are only in the WAL and the saved graph still has the
         * deleted rows, so every cut run repairs. */
        mkdir(pristine, 0755);
        tu_copy_dir(dir, pristine);
        vdb_store_close(store);
    }
    vdb_rng_seed(&rng, 3);
    for (size_t q = 0; q < CUT_NQ; q++)
        gen_query(FAM_UNIFORM, &rng, DIM, queries + q * DIM, NULL);
    /* Under AddressSanitizer every cut (an open, a repair-optimize, a
     * verifying open) costs seconds, and all 173 of them made this test
     * most of CI's sanitizer tier: there it cuts at every CUT_STRIDE-th
     * operation; the plain build cuts at each. */
#if defined(__SANITIZE_ADDRESS__)
#define CUT_STRIDE 5
#else
#define CUT_STRIDE 1
#endif
    for (cut = 1; cut < 1000; cut += CUT_STRIDE) {
        uint64_t hits = vdb_fsx_fault_hits();
        vdb_store_optimize_info info = {0, 0, 0, "none", 0, 0};
        tu_cut_dirs(pristine, dir, sizeof(dir), image, sizeof(image));
        assert_int_equal(vdb_fsx_sim_begin(dir, NULL), VDB_OK);
        vdb_fsx_fault_set(VDB_FSX_ALL, cut, VDB_FSX_FAULT_EIO, 1);
        {
            vdb_store_options options;
            vdb_store_options_default(&options);
            /* The cuts land in the open, the repair and the close, not in a
             * calibration's calib.txt (test_recall covers that file): each
             * cut waited for a recalibration, seconds under ASan. */
            options.skip_calibration = 1;
            vdb_store *store = tu_store_open(dir, &options, NULL);
            if (store != NULL) {
                vdb_store_optimize_mode(store, VDB_STORE_GRAPH_REPAIR, &info, NULL);
                vdb_store_close(store);
            }
        }
        vdb_fsx_fault_set(0, 0, 0, 0);
        assert_int_equal(vdb_fsx_sim_image(image, NULL), VDB_OK);
        vdb_fsx_sim_end();
        if (verify_cut(image, ROWS, queries, CUT_NQ, DIM, why, sizeof(why)) != NULL)
            fail_msg("power cut at I/O #%llu: %s", (unsigned long long)cut, why);
        if (vdb_fsx_fault_hits() == hits) {
            /* The whole sequence ran: it must have repaired, so every
             * earlier cut landed somewhere in a repair-optimize. */
            assert_string_equal(info.graph, "repaired");
            print_message("recovered from a power cut at every %d of %llu I/O operations of an "
                          "open + repair + close\n", CUT_STRIDE, (unsigned long long)(cut - 1));
            assert_true(cut > 20);
            return;
        }
    }
    fail_msg("the sequence never completed");
}

int main(void)
{
    /* VDB_TEST_FILTER runs the matching tests only (while iterating). */
    if (getenv("VDB_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("VDB_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repair_clustered),
        cmocka_unit_test(test_repair_uniform),
        cmocka_unit_test(test_repair_norms_l2),
        cmocka_unit_test(test_repair_norms_dot),
        cmocka_unit_test(test_repair_duplicates),
        cmocka_unit_test(test_repair_scans_at_target),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_power_cut_during_repair),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
