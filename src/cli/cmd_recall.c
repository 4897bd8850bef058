/* `vdb recall DIR [--queries N] [--k K] [--target T] [--seed S]
 * [--query-file Q.npy]`: measures a store's recall on demand and prints a
 * table.
 *
 * Opens the store directory (it must not be served at the same time: the
 * store lock says so), waits for its background indexer and calibration
 * (vdb_store_optimize is NOT called: the store is left as it is; the wait
 * is the indexer's), then runs N queries -- stored rows perturbed by
 * Gaussian noise, drawn with a seed the calibration did not use, or the
 * first N rows of a given .npy (--query-file: the user's own queries,
 * which sampled ones can only approximate) -- through the default plan at
 * the target and through exact search, and prints recall@k with the plans
 * chosen, next to the calibration's per-band table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/rng.h"
#include "../store/calib.h"
#include "../store/query.h"
#include "../store/store.h"
#include "bench.h"
#include "cli.h"
#include "cli_args.h"

typedef struct rc_hits {
    double dist[1000];
    size_t count;
} rc_hits;

static int take_hits(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    rc_hits *h = (rc_hits *)ctx + q;
    h->count = count < 1000 ? count : 1000;
    for (size_t i = 0; i < h->count; i++)
        h->dist[i] = hits[i].distance;
    return 0;
}

typedef struct rc_id {
    char id[512];
    int found;
} rc_id;

static int take_id(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    rc_id *r = ctx;
    (void)q;
    r->found = count > 0 && strlen(hits[0].id) < sizeof(r->id);
    if (r->found)
        memcpy(r->id, hits[0].id, strlen(hits[0].id) + 1);
    return 0;
}

#define USAGE                                                                           \
    "usage: vdb recall STORE_DIR [--queries N (200)] [--k K (10, <= 1000)]\n"            \
    "                  [--target T (store's)] [--seed S] [--wait SECONDS (120)]\n"          \
    "                  [--query-file Q.npy (its first N rows; default: sampled)]\n"

/* Through the shared helpers (cli_args.h) like every command: a bad
 * argument says what is wrong before the usage. 0 when parsed, 1 after
 * --help, 2 on a usage error. */
static int parse(int argc, char **argv, const char **dir, unsigned long long *nq,
                 unsigned long long *k, double *target, unsigned long long *seed,
                 unsigned long long *wait_s, const char **query_file)
{
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *v;
        if (vdb_cli_is_help(flag)) {
            fputs(USAGE, stdout);
            return 1;
        }
        if (flag[0] != '-' || flag[1] == '\0') {
            if (*dir != NULL)
                return vdb_cli_unknown("recall", USAGE, flag);
            *dir = flag;
            continue;
        }
        if (strcmp(flag, "--queries") != 0 && strcmp(flag, "--k") != 0 &&
            strcmp(flag, "--target") != 0 && strcmp(flag, "--seed") != 0 &&
            strcmp(flag, "--wait") != 0 && strcmp(flag, "--query-file") != 0)
            return vdb_cli_unknown("recall", USAGE, flag);
        if ((v = vdb_cli_value("recall", USAGE, argc, argv, &i)) == NULL)
            return 2;
        if (strcmp(flag, "--query-file") == 0) {
            *query_file = v;
        } else if (strcmp(flag, "--target") == 0) {
            char *end = NULL;
            *target = strtod(v, &end);
            if (end == v || *end != '\0' || !(*target >= 0 && *target <= 1))
                return vdb_cli_usage_error("recall", USAGE,
                                           "--target '%s' is not a recall between 0 and 1", v);
        } else if (strcmp(flag, "--queries") == 0) {
            if (vdb_cli_parse_uint("recall", USAGE, flag, v, 1, 100000, nq))
                return 2;
        } else if (strcmp(flag, "--k") == 0) {
            if (vdb_cli_parse_uint("recall", USAGE, flag, v, 1, 1000, k))
                return 2;
        } else if (strcmp(flag, "--seed") == 0) {
            if (vdb_cli_parse_uint("recall", USAGE, flag, v, 0, UINT64_MAX, seed))
                return 2;
        } else if (vdb_cli_parse_uint("recall", USAGE, flag, v, 0, 86400, wait_s)) {
            return 2;
        }
    }
    if (*dir == NULL)
        return vdb_cli_usage_error("recall", USAGE, "which store? give its directory (STORE_DIR)");
    return 0;
}

/* Queries: a stored row (the nearest to a random Gaussian point, so no id
 * list is needed) plus Gaussian noise at half its RMS component. Fills nq
 * rows of `queries`; `row` is dim floats of scratch. */
static int sample_queries(vdb_store *store, uint32_t dim, size_t nq, unsigned long long seed,
                          float *queries, float *row, vdb_error *err)
{
    vdb_rng rng;
    vdb_rng_seed(&rng, seed);
    vdb_query_params exact1 = {.k = 1, .exact = 1};
    for (size_t q = 0; q < nq; q++) {
        float *v = queries + (size_t)q * dim;
        rc_id near = {{0}, 0};
        double rms = 0;
        for (uint32_t j = 0; j < dim; j++)
            v[j] = (float)vdb_rng_gauss(&rng);
        int rc = vdb_store_query(store, v, 1, &exact1, take_id, &near, err);
        if (rc == VDB_OK && !near.found)
            rc = vdb_error_set(err, VDB_ENOTFOUND, "no row near a sampled point");
        if (rc == VDB_OK)
            rc = vdb_store_get(store, near.id, row, NULL, err);
        if (rc != VDB_OK)
            return rc;
        for (uint32_t j = 0; j < dim; j++)
            rms += (double)row[j] * row[j];
        rms = sqrt(rms / dim);
        for (uint32_t j = 0; j < dim; j++)
            v[j] = (float)(row[j] + 0.5 * rms * vdb_rng_gauss(&rng));
    }
    return VDB_OK;
}

/* --query-file: the file's first *nq rows (fewer when it has fewer: *nq is
 * lowered). Caller frees with vdb_free; NULL with *err set (the reader's
 * codes, or VDB_EDIM when the file's width is not the store's dim). */
static float *given_queries(const char *path, uint32_t dim, unsigned long long *nq,
                            vdb_error *err)
{
    float *q = NULL;
    size_t rows = 0, cols = 0;
    if (vdb_bench_npy_read(path, &q, &rows, &cols, err) != VDB_OK)
        return NULL;
    if (cols != dim || rows == 0) {
        vdb_error_set(err, rows == 0 ? VDB_EINVAL : VDB_EDIM,
                      "%s: %zu queries of dimension %zu, the store's dimension is %u", path, rows,
                      cols, dim);
        vdb_free(q);
        return NULL;
    }
    if (rows < *nq)
        *nq = rows;
    return q;
}

/* The store's calibration: what it measured and the per-band plan at
 * `target`. */
static void print_calibration(vdb_store *store, double target)
{
    vdb_calib cal;
    vdb_store_calib_get(store, &cal);
    if (!cal.valid) {
        printf("not calibrated (no graph, too few rows, or still measuring): queries scan "
               "exactly\n");
        return;
    }
    printf("calibration: %llu rows, %u probes, %.2f s (%.2f s CPU); exact scan %.2f ns/row\n",
           (unsigned long long)cal.live, cal.probes, cal.seconds, cal.cpu_seconds,
           cal.scan_ns_row);
    if (cal.recheck.outcome != VDB_CALIB_RECHECK_NONE)
        printf("re-checked after a graph repair on %llu rows: %s (%u entries measured, %u "
               "picks moved up, %.2f s)\n",
               (unsigned long long)cal.recheck.live,
               cal.recheck.outcome == VDB_CALIB_RECHECK_KEPT ? "held, curves kept"
                                                             : "missed, recalibrated",
               cal.recheck.entries, cal.recheck.moved, cal.recheck.seconds);
    printf("%-6s %-11s %-6s %-8s %-12s %-10s\n", "k<=", "selectivity", "ef", "recall",
           "lower bound", "graph us");
    for (int sb = 0; sb < VDB_CALIB_NS; sb++)
        for (int kb = 0; kb < VDB_CALIB_NK; kb++) {
            const vdb_calib_curve *cv = &cal.curve[sb][kb];
            int i = vdb_calib_pick(cv, target);
            if (i < 0) {
                printf("%-6u %-11.3g %-6s %-8s %-12s %-10s\n", vdb_calib_k_bands[kb],
                       vdb_calib_s_bands[sb], "-", "-", "-", "(exact)");
                continue;
            }
            double mean, lo = vdb_calib_curve_lcb(cv, (uint32_t)i, &mean);
            printf("%-6u %-11.3g %-6u %-8.4f %-12.4f %-10.1f\n", vdb_calib_k_bands[kb],
                   vdb_calib_s_bands[sb], vdb_calib_ef_ladder[i], mean, lo, cv->ns[i] / 1e3);
        }
}

int vdb_cmd_recall(int argc, char **argv)
{
    unsigned long long nq = 200, k = 10, wait_s = 120, seed = 20261202;
    double target = 0;
    const char *dir = NULL, *query_file = NULL;
    int prc = parse(argc, argv, &dir, &nq, &k, &target, &seed, &wait_s, &query_file);
    if (prc != 0)
        return prc == 1 ? 0 : 2;
    vdb_error err;
    vdb_error_clear(&err);
    vdb_store *store;
    if (vdb_store_open(dir, NULL, &store, &err) != VDB_OK) {
        fprintf(stderr, "vdb recall: %s\n", err.msg);
        return 1;
    }
    const vdb_store_config *config = vdb_store_get_config(store);
    uint32_t dim = config->dim;
    size_t live = vdb_store_count(store);
    /* The calibration runs on the store's indexer after opening: wait. */
    for (unsigned long long waited = 0; waited < wait_s * 10 && vdb_store_calib_due(store); waited++)
        usleep(100000);
    float *queries = NULL, *row = vdb_malloc(dim * sizeof(float));
    rc_hits *got = NULL, *truth = NULL;
    int rc = 0;
    if (query_file != NULL && (queries = given_queries(query_file, dim, &nq, &err)) == NULL) {
        fprintf(stderr, "vdb recall: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    if (queries == NULL)
        queries = vdb_malloc((size_t)nq * dim * sizeof(float));
    got = vdb_calloc((size_t)nq, sizeof(rc_hits));
    truth = vdb_calloc((size_t)nq, sizeof(rc_hits));
    if (queries == NULL || row == NULL || got == NULL || truth == NULL || live == 0) {
        fprintf(stderr, "vdb recall: %s\n", live == 0 ? "the store is empty" : "out of memory");
        rc = 1;
        goto done;
    }
    if (query_file == NULL &&
        sample_queries(store, dim, (size_t)nq, seed, queries, row, &err) != VDB_OK) {
        fprintf(stderr, "vdb recall: cannot sample a query: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    char explain[VDB_EXPLAIN_MAX] = "";
    vdb_query_params approx = {.k = (size_t)k, .target_recall = target, .explain = explain};
    vdb_query_params exact = {.k = (size_t)k, .exact = 1};
    for (size_t q = 0; q < nq; q++)
        if (vdb_store_query(store, queries + (size_t)q * dim, 1, &approx, take_hits, got + q,
                            &err) != VDB_OK) {
            fprintf(stderr, "vdb recall: %s\n", err.msg);
            rc = 1;
            goto done;
        }
    if (vdb_store_query(store, queries, (size_t)nq, &exact, take_hits, truth, &err) != VDB_OK) {
        fprintf(stderr, "vdb recall: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    size_t hit = 0, total = 0;
    for (size_t q = 0; q < nq; q++) {
        if (truth[q].count == 0)
            continue;
        double kth = truth[q].dist[truth[q].count - 1];
        for (size_t i = 0; i < got[q].count; i++)
            hit += got[q].dist[i] <= kth + 1e-5 * (fabs(kth) + 1);
        total += truth[q].count;
    }
    printf("store %s: %zu vectors, dim %u, %s, target %.4g\n", dir, live, dim,
           vdb_metric_name(config->metric), target > 0 ? target : config->target_recall);
    if (query_file != NULL)
        printf("given queries %llu (%s), k %llu: recall@k %.4f\n", nq, query_file, k,
               total ? (double)hit / (double)total : 1.0);
    else
        printf("held-out queries %llu (Gaussian, seed %llu), k %llu: recall@k %.4f\n", nq, seed,
               k, total ? (double)hit / (double)total : 1.0);
    printf("last plan: %s\n", explain);
    print_calibration(store, target > 0 ? target : config->target_recall);
done:
    vdb_free(queries);
    vdb_free(row);
    vdb_free(got);
    vdb_free(truth);
    vdb_store_close(store);
    return rc;
}
