/* `vdb recall DIR [--queries N] [--k K] [--target T] [--seed S]`: measures
 * a store's recall on demand and prints a table.
 *
 * Opens the store directory (it must not be served at the same time: the
 * store lock says so), waits for its background indexer and calibration
 * (vdb_store_optimize is NOT called: the store is left as it is; the wait
 * is the indexer's), then runs N queries -- stored rows perturbed by
 * Gaussian noise, drawn with a seed the calibration did not use -- through
 * the default plan at the target and through exact search, and prints
 * recall@k with the plans chosen, next to the calibration's per-band
 * table. */
#include <getopt.h>
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
#include "cli.h"

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

static void usage(FILE *out)
{
    fprintf(out, "usage: vdb recall STORE_DIR [--queries N (200)] [--k K (10, <= 1000)]\n"
                 "                  [--target T (store's)] [--seed S] [--wait SECONDS (120)]\n");
}

int vdb_cmd_recall(int argc, char **argv)
{
    static const struct option longopts[] = {{"queries", required_argument, NULL, 'q'},
                                             {"k", required_argument, NULL, 'k'},
                                             {"target", required_argument, NULL, 't'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"wait", required_argument, NULL, 'w'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    long nq = 200, k = 10, wait_s = 120;
    double target = 0;
    unsigned long long seed = 20261202;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q:k:t:s:w:h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'q': nq = strtol(optarg, &end, 10); break;
        case 'k': k = strtol(optarg, &end, 10); break;
        case 't': target = strtod(optarg, &end); break;
        case 's': seed = strtoull(optarg, &end, 10); break;
        case 'w': wait_s = strtol(optarg, &end, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end == NULL || *end != '\0') {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || nq < 1 || nq > 100000 || k < 1 || k > 1000 || target < 0 ||
        target > 1 || wait_s < 0) {
        usage(stderr);
        return 2;
    }
    vdb_error err;
    vdb_error_clear(&err);
    vdb_store *store = vdb_store_open(argv[optind], NULL, &err);
    if (store == NULL) {
        fprintf(stderr, "vdb recall: %s\n", err.msg);
        return 1;
    }
    const vdb_store_config *config = vdb_store_get_config(store);
    uint32_t dim = config->dim;
    size_t live = vdb_store_count(store);
    /* The calibration runs on the store's indexer after opening: wait. */
    for (long waited = 0; waited < wait_s * 10 && vdb_store_calib_due(store); waited++)
        usleep(100000);
    float *queries = vdb_malloc((size_t)nq * dim * sizeof(float));
    float *row = vdb_malloc(dim * sizeof(float));
    rc_hits *got = vdb_calloc((size_t)nq, sizeof(rc_hits));
    rc_hits *truth = vdb_calloc((size_t)nq, sizeof(rc_hits));
    int rc = 0;
    if (queries == NULL || row == NULL || got == NULL || truth == NULL || live == 0) {
        fprintf(stderr, "vdb recall: %s\n", live == 0 ? "the store is empty" : "out of memory");
        rc = 1;
        goto done;
    }
    /* Queries: a stored row (the nearest to a random Gaussian point, so no
     * id list is needed) plus Gaussian noise at half its RMS component. */
    vdb_rng rng;
    vdb_rng_seed(&rng, seed);
    vdb_query_params exact1 = {.k = 1, .exact = 1};
    for (long q = 0; q < nq; q++) {
        float *v = queries + (size_t)q * dim;
        rc_id near = {{0}, 0};
        double rms = 0;
        for (uint32_t j = 0; j < dim; j++)
            v[j] = (float)vdb_rng_gauss(&rng);
        if (vdb_store_query(store, v, 1, &exact1, take_id, &near, &err) != VDB_OK ||
            !near.found || vdb_store_get(store, near.id, row, NULL, &err) != VDB_OK) {
            fprintf(stderr, "vdb recall: cannot sample a query: %s\n", err.msg);
            rc = 1;
            goto done;
        }
        for (uint32_t j = 0; j < dim; j++)
            rms += (double)row[j] * row[j];
        rms = sqrt(rms / dim);
        for (uint32_t j = 0; j < dim; j++)
            v[j] = (float)(row[j] + 0.5 * rms * vdb_rng_gauss(&rng));
    }
    char explain[VDB_EXPLAIN_MAX] = "";
    vdb_query_params approx = {.k = (size_t)k, .target_recall = target, .explain = explain};
    vdb_query_params exact = {.k = (size_t)k, .exact = 1};
    for (long q = 0; q < nq; q++)
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
    for (long q = 0; q < nq; q++) {
        if (truth[q].count == 0)
            continue;
        double kth = truth[q].dist[truth[q].count - 1];
        for (size_t i = 0; i < got[q].count; i++)
            hit += got[q].dist[i] <= kth + 1e-5 * (fabs(kth) + 1);
        total += truth[q].count;
    }
    printf("store %s: %zu vectors, dim %u, %s, target %.4g\n", argv[optind], live, dim,
           vdb_metric_name(config->metric), target > 0 ? target : config->target_recall);
    printf("held-out queries %ld (Gaussian, seed %llu), k %ld: recall@k %.4f\n", nq, seed, k,
           total ? (double)hit / (double)total : 1.0);
    printf("last plan: %s\n", explain);
    vdb_calib cal;
    vdb_store_calib_get(store, &cal);
    if (!cal.valid) {
        printf("not calibrated (no graph, too few rows, or still measuring): queries scan "
               "exactly\n");
        goto done;
    }
    printf("calibration: %llu rows, %u probes, %.2f s (%.2f s CPU); exact scan %.2f ns/row\n",
           (unsigned long long)cal.live, cal.probes, cal.seconds, cal.cpu_seconds,
           cal.scan_ns_row);
    printf("%-6s %-11s %-6s %-8s %-12s %-10s\n", "k<=", "selectivity", "ef", "recall",
           "lower bound", "graph us");
    for (int sb = 0; sb < VDB_CALIB_NS; sb++)
        for (int kb = 0; kb < VDB_CALIB_NK; kb++) {
            const vdb_calib_curve *cv = &cal.curve[sb][kb];
            int i = vdb_calib_pick(cv, target > 0 ? target : config->target_recall);
            if (i < 0) {
                printf("%-6u %-11.3g %-6s %-8s %-12s %-10s\n", vdb_calib_k_bands[kb],
                       vdb_calib_s_bands[sb], "-", "-", "-", "(exact)");
                continue;
            }
            double mean, lo = vdb_calib_curve_lcb(cv, (uint32_t)i, &mean);
            printf("%-6u %-11.3g %-6u %-8.4f %-12.4f %-10.1f\n", vdb_calib_k_bands[kb],
                   vdb_calib_s_bands[sb], vdb_calib_ef_ladder[i], mean, lo, cv->ns[i] / 1e3);
        }
done:
    vdb_free(queries);
    vdb_free(row);
    vdb_free(got);
    vdb_free(truth);
    vdb_store_close(store);
    return rc;
}
