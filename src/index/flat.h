/* Exact (brute-force) search over a vecview: the ground truth every other
 * index is measured against, and the default for small stores.
 *
 * Single queries stream the rows once through the SIMD kernels with a bounded
 * heap, split over the global thread pool when the view is large. Batches
 * use BLAS sgemm on (query block x row block) tiles, then per-query top-k
 * selection, parallel over query blocks. Results are sorted best first with
 * ties broken by the smaller row id; deleted rows and rows the filter refuses
 * never appear. k larger than the number of eligible rows returns them all.
 *
 * Queries must be prepared with vdb_flat_prepare_query (normalized for
 * cosine). All functions are thread-safe for concurrent readers of a view. */
#ifndef VDB_INDEX_FLAT_H
#define VDB_INDEX_FLAT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "index.h"

/* Copies `in` to `out` (may alias) and normalizes it for cosine views.
 * Returns VDB_EINVAL (with the component index) for NaN or Inf. */
int vdb_flat_prepare_query(vdb_metric metric, const float *in, float *out, uint32_t dim,
                           vdb_error *err);

/* Top-k for one query. `out` has room for k hits; *nout receives the count.
 * Errors: VDB_EINVAL for k == 0, VDB_ENOMEM. */
int vdb_flat_search(const vdb_vecview *view, const float *query, size_t k,
                    const vdb_filter_hook *filter, vdb_hit *out, size_t *nout, vdb_error *err);

/* Top-k for nq queries (row-major nq x dim). Query i's hits go to
 * out[i*k ...], its count to counts[i]. Errors: VDB_EINVAL for k == 0,
 * VDB_ENOMEM (the per-thread scratch). */
int vdb_flat_search_batch(const vdb_vecview *view, const float *queries, size_t nq, size_t k,
                          const vdb_filter_hook *filter, vdb_hit *out, size_t *counts,
                          vdb_error *err);

/* How many threads a single-query vdb_flat_search over `view` runs on (1
 * when it stays on the caller): for callers that time it. Never fails. */
int vdb_flat_parallelism(const vdb_vecview *view);

/* Top-k among the listed rows only (the filter planner's small candidate
 * sets). Deleted rows in `ids` are skipped; ids must be < view->n.
 * Errors: VDB_EINVAL for k == 0. */
int vdb_flat_search_ids(const vdb_vecview *view, const float *query, const uint32_t *ids,
                        size_t nids, size_t k, vdb_hit *out, size_t *nout, vdb_error *err);

/* Internal distance between a prepared query and row `id` (see index.h). */
float vdb_flat_distance(const vdb_vecview *view, const float *query, uint32_t id);

#endif
