/* The query engine of a store: one module owns a query from request to
 * hits (vdb_store_query in store.h is implemented here).
 *
 *   plan      the recall target (request override, else the store's),
 *             the filter's match estimate (filter/payload.h), and the
 *             calibrated curves (calib.h): the smallest ef whose lower
 *             confidence bound on recall reaches the target, its measured
 *             cost, and the measured cost of an exact scan;
 *   choose    exact scan / graph / exact over filter candidates / exact
 *             scan with the filter: the cheapest that meets the target.
 *             Exact whenever the store has no ready graph (small stores),
 *             no calibration yet, a target of 1, a k beyond the calibrated
 *             bands, or no ef reaching the target. An explicit `ef` is an
 *             expert override: the graph is used with it as given;
 *   run       on the chosen engine; the graph path merges the
 *             not-yet-indexed tail exactly (store_index.c); a filtered
 *             graph query that found fewer than k rows is re-run exactly,
 *             so k results come back whenever k rows match;
 *   emit      materialize ids and metadata under the read guard.
 *
 * The plan is described in one line (params->explain) and counted in the
 * per-store query counters (vdb_store_query_stats). Thread-safe. */
#ifndef VDB_STORE_QUERY_H
#define VDB_STORE_QUERY_H

#include <stdint.h>

#include "store.h"

typedef struct vdb_store_query_stats {
    uint64_t exact;      /* queries answered by an exact scan */
    uint64_t graph;      /* by the graph */
    uint64_t candidates; /* by exact search over filter candidates */
    uint64_t widened;    /* filtered graph answers re-run exactly (fewer than k found) */
} vdb_store_query_stats;

void vdb_store_query_stats_get(vdb_store *store, vdb_store_query_stats *out);

/* What the store knows of its recall, for /admin/store/stats and explain:
 * target, whether and when calibrated, measured costs, and per k band and
 * selectivity band the ef the planner uses for the target with its
 * estimated recall and 95% lower bound, plus the plan counters. A new
 * JSON object (caller releases it); NULL when out of memory. */
struct vdb_json;
struct vdb_json *vdb_store_recall_json(vdb_store *store);

/* The unfiltered k <= 10 figures for metrics: target, the lower bound at
 * the planner's ef (-1 when not calibrated or no ef reaches the target,
 * i.e. the store scans exactly), and the ef (0: exact). */
void vdb_store_recall_summary(vdb_store *store, double *target, double *lower_bound,
                              uint32_t *ef);

#endif
