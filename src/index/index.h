/* What every index searches: a read-only view of a store's vectors, the
 * metric, the hit type and the filter hook.
 *
 * Distances are "lower is better" everywhere inside vdb, so one heap order
 * serves every metric:
 *   cosine: 1 - dot(q, x)   (q and x unit-normalized at insert/query time)
 *   dot:    -dot(q, x)
 *   l2:     |q - x|^2       (squared; the API reports the square root)
 * Ties are broken by the smaller internal id, so results are deterministic. */
#ifndef VDB_INDEX_INDEX_H
#define VDB_INDEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/heap.h" /* vdb_hit: lower dist is better; see above */

typedef enum {
    VDB_METRIC_COSINE = 0,
    VDB_METRIC_L2 = 1,
    VDB_METRIC_DOT = 2
} vdb_metric;

/* Parses "cosine", "euclidean"/"l2", "dot"/"inner_product"/"dot_product";
 * returns -1 when unknown (no error code). */
int vdb_metric_parse(const char *name);

/* Canonical name: "cosine", "euclidean", "dot". */
const char *vdb_metric_name(vdb_metric metric);

/* Filter hook: returns nonzero when row `id` may appear in results. Called
 * from search threads concurrently, so it must be thread-safe. */
typedef int (*vdb_accept_fn)(void *ctx, uint32_t id);

typedef struct vdb_filter_hook {
    vdb_accept_fn accept;
    void *ctx;
} vdb_filter_hook;

/* A borrowed, read-only view of a store's rows: row i is data[i*dim ...].
 * `deleted` is a bitset over rows (bit i set = tombstone) or NULL. The view
 * is valid while the store's read guard is held. */
typedef struct vdb_vecview {
    const float *data;
    const uint64_t *deleted;
    uint32_t n;
    uint32_t dim;
    vdb_metric metric;
} vdb_vecview;

/* 1 when row `id` (< view->n) is deleted, else 0; never fails. */
static inline int vdb_vecview_is_deleted(const vdb_vecview *view, uint32_t id)
{
    return view->deleted != NULL && ((view->deleted[id >> 6] >> (id & 63)) & 1u);
}

/* Turns an internal distance into the API's figures (api-contract.md):
 * cosine: distance 1-cos, similarity max(0,cos); l2: distance sqrt, similarity
 * 1/(1+d); dot: distance -dot, similarity max(0,dot). */
void vdb_metric_report(vdb_metric metric, float dist, double *distance, double *similarity);

#endif
