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
 *   run       on the chosen engine, here, calling index/ directly (hnsw,
 *             quant, flat): the graph path searches the graph that
 *             store_index.c keeps and merges the not-yet-indexed tail
 *             exactly; an exact query of a quantized store scans the codes
 *             that store_codes.c keeps; a filtered graph query that found
 *             fewer than k rows is re-run exactly, so k results come back
 *             whenever k rows match;
 *   emit      materialize ids and metadata under the read guard.
 *
 * The plan is described in one line (params->explain) and counted in the
 * per-store plan counters (reported by vdb_store_recall_json). Thread-safe.
 *
 * So this is the one store file a query passes through between the
 * handler and the index (docs/architecture.md); the calibration (calib.c)
 * measures the same two searches through vdb_store__query_graph and
 * vdb_store__query_scan_codes, so what it measures is what queries run. */
#ifndef VDB_STORE_QUERY_H
#define VDB_STORE_QUERY_H

#include <stdint.h>

#include "../index/index.h"
#include "store.h"

struct vdb_quant;

/* ---- store-internal: calib.c measures what queries run ---- */

/* The graph path of nq prepared queries (rw held shared; the pool runs
 * them): HNSW over the rows the graph covers, an exact scan of the live
 * rows past it that `hook` accepts, merged into k hits per query (k per
 * query in `hits`, the counts in `counts`). Only when
 * vdb_store__index_ready said yes. ef 0 = the store's default. `codes`:
 * int8 codes covering every row to traverse on (float re-rank of the ef
 * results), or NULL for the float rows; the caller chooses (the planner
 * the store's, the calibration the path it measures). Errors:
 * VDB_EINTERNAL (no ready graph), VDB_ETOOBIG (nq x k overflows),
 * VDB_ENOMEM, and the search's. */
int vdb_store__query_graph(vdb_store *store, const vdb_vecview *view, const float *queries,
                          size_t nq, size_t k, uint32_t ef, const vdb_filter_hook *hook,
                          const struct vdb_quant *codes, vdb_hit *hits, size_t *counts,
                          vdb_error *err);

/* Exact top-k of one prepared query on `codes` (the store's or the trial
 * ones covering every row of `view`; rw shared), counted in the codes'
 * stats; the float scan answers when the bounds leave over an eighth of
 * the rows to re-rank. Errors: VDB_ENOMEM, VDB_EINVAL as
 * vdb_quant_search_exact. */
int vdb_store__query_scan_codes(vdb_store *store, const struct vdb_quant *codes,
                               const vdb_vecview *view, const float *query, size_t k,
                               const vdb_filter_hook *filter, vdb_hit *out, size_t *nout,
                               vdb_error *err);

/* ---- for the API ---- */

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
