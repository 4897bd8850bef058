/* Payload indexes: per-store metadata state that makes filtered search fast.
 *
 * A vdb_payload keeps, per row, the parsed metadata (so evaluating a filter
 * on a row costs a few hash lookups, not a JSON parse) and, for the fields
 * someone asked to index (vdb_payload_create_index), inverted indexes built
 * with CRoaring bitmaps:
 *   - value -> rows for strings, numbers and booleans (numbers keyed by
 *     Python equality: 1, 1.0 and true share one key), and null;
 *   - element -> rows for the scalar elements of array values ($contains);
 *   - rows where the field is present ($exists, and "missing equals null");
 *   - a sorted (value, row) array for numeric ranges ($gt & co.), with a
 *     small unsorted tail merged in when it grows, so adds stay O(log n)
 *     amortized.
 * Indexes live in memory only and are rebuilt when a store opens (replaying
 * set() for every row, then create_index() for each persisted field name;
 * the store keeps the names, e.g. in store.json).
 *
 * Query side: vdb_payload_selection_new evaluates a compiled filter against the
 * indexes. When every clause is indexed the result is the exact set of
 * matching rows; otherwise indexed clauses under an AND give a superset that
 * is checked row by row, and the cardinality is estimated by sampling. The
 * planner then picks one of:
 *   VDB_PLAN_EXACT_IDS  exact search over the candidate rows
 *                       (vdb_flat_search_ids): small result sets, recall 1;
 *   VDB_PLAN_HNSW       filter-aware HNSW (vdb_hnsw_search with the
 *                       selection's accept hook) with an ef chosen for the
 *                       selectivity (payload_plan.c explains the model);
 *   VDB_PLAN_FLAT       exact search over all rows with the accept hook
 *                       (flat stores, or HNSW is unavailable);
 * and writes a one-line explain string saying why.
 *
 * How a store wires it in (all under the store's locks):
 *   open/create:  vdb_payload_new(&p, err); then vdb_payload_set(p, row,
 *                 meta) for every live row in row order, then
 *                 vdb_payload_create_index(p, path) for each persisted field;
 *   add/upsert:   vdb_payload_set(p, row, meta) for each new row and
 *                 vdb_payload_remove(p, old_row) for each replaced row;
 *   delete:       vdb_payload_remove(p, row);
 *   compaction:   vdb_payload_remap(p, old_to_new, old_rows) with the array
 *                 vdb_vecset_compact filled;
 *   query:        vdb_payload_selection_new(p, filter, &input, &sel, err); switch on
 *                 vdb_selection_plan(sel)->kind; the hook for flat/HNSW is
 *                 {vdb_selection_accept, sel}; vdb_selection_free(sel);
 *                 e.g., for one prepared query q:
 *                   vdb_plan_input in = {.k = k, .ef = ef, .hnsw = hnsw != NULL};
 *                   vdb_selection *sel;
 *                   vdb_payload_selection_new(p, filter, &in, &sel, err);
 *                   const vdb_plan *plan = vdb_selection_plan(sel);
 *                   vdb_filter_hook hook = {vdb_selection_accept, sel};
 *                   switch (plan->kind) {
 *                   case VDB_PLAN_EXACT_IDS:
 *                       ids = vdb_selection_ids(sel, &nids);
 *                       rc = vdb_flat_search_ids(&view, q, ids, nids, k, out, &nout, err);
 *                       break;
 *                   case VDB_PLAN_HNSW:
 *                       rc = vdb_hnsw_search(hnsw, &view, q, k, plan->ef, &hook, NULL,
 *                                            out, &nout, err);
 *                       break;
 *                   case VDB_PLAN_FLAT: (VDB_PLAN_ALL: the unfiltered path)
 *                       rc = vdb_flat_search(&view, q, k, &hook, out, &nout, err);
 *                   }
 *                   vdb_selection_free(sel);
 *                 and plan->explain goes into the response's debug/explain field;
 *   batch query:  one selection serves every query of the batch;
 *   count:        vdb_payload_count(p, filter, &n, err);
 *   delete_where/scroll: vdb_payload_match_rows(p, filter, &rows, &n, err);
 *   close:        vdb_payload_free(p).
 *
 * Thread-safety: writers (set, remove, remap, create/drop_index) need
 * exclusive access (the store's write lock); select, match_rows, the
 * accept hook and the read accessors may run concurrently with each other
 * (the store's read guard). A selection borrows the payload and the filter:
 * free it before either changes. CRoaring allocates with the C library's
 * malloc (this Debian version has no allocator hook), so its bytes are
 * counted by vdb_payload_index_memory but not by vdb_alloc_count, and its
 * own allocation failures are not reported (CRoaring 0.2 does not check
 * every malloc). */
#ifndef VDB_FILTER_PAYLOAD_H
#define VDB_FILTER_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../core/json.h"
#include "filter.h"

#define VDB_PAYLOAD_MAX_INDEXES 64u /* indexed fields per store */

typedef struct vdb_payload vdb_payload;

/* ---- maintenance (exclusive access) ------------------------------------ */

/* An empty payload into *out (NULL on failure); the caller frees it with
 * vdb_payload_free. Errors: VDB_ENOMEM. */
int vdb_payload_new(vdb_payload **out, vdb_error *err);
void vdb_payload_free(vdb_payload *payload); /* NULL is a no-op */

/* Row `row` now holds metadata `meta_json` (JSON object text; NULL = no
 * metadata) and is live. Setting a live row again replaces its metadata.
 * Errors: VDB_EINVAL (text not a JSON object), VDB_ERANGE (row ==
 * UINT32_MAX): nothing changes; VDB_ENOMEM: nothing changes when the row
 * array could not grow, otherwise the row is left removed (not live), so
 * the caller should fail the write (or retry the set). */
int vdb_payload_set(vdb_payload *payload, uint32_t row, const char *meta_json, vdb_error *err);

/* Same with parsed metadata (borrowed; a reference is kept, so the caller
 * must not modify it afterwards). NULL = no metadata. Errors: VDB_ERANGE
 * (row out of range), VDB_EINVAL (not an object), VDB_ENOMEM. */
int vdb_payload_set_json(vdb_payload *payload, uint32_t row, vdb_json *meta, vdb_error *err);

/* Row `row` is deleted: it leaves every index and its metadata is dropped.
 * A row that is not live is ignored. */
void vdb_payload_remove(vdb_payload *payload, uint32_t row);

/* Renumbers rows after compaction: old row r becomes old_to_new[r] for r <
 * old_rows (UINT32_MAX = dropped). Live rows must map to distinct rows.
 * Indexes are rebuilt. Errors: VDB_EINVAL (a live row without a target, or
 * two rows on one target; nothing changes), VDB_ENOMEM. */
int vdb_payload_remap(vdb_payload *payload, const uint32_t *old_to_new, uint32_t old_rows,
                      vdb_error *err);

/* Indexes field `path` (dotted, as in filters) over the current and future
 * rows. Indexing a field twice is a no-op. Errors: VDB_EINVAL (bad path),
 * VDB_ERANGE (more than VDB_PAYLOAD_MAX_INDEXES), VDB_ENOMEM. */
int vdb_payload_create_index(vdb_payload *payload, const char *path, vdb_error *err);

/* Indexes every field the filter compares (a store may call this, under
 * its write lock, after a query whose plan->rows_scanned was large, to
 * index fields on first use). Already indexed fields are kept. Errors: as
 * vdb_payload_create_index (VDB_EINVAL, VDB_ERANGE, VDB_ENOMEM); fields
 * indexed before an error stay indexed. */
int vdb_payload_index_filter_fields(vdb_payload *payload, const vdb_filter *filter,
                                    vdb_error *err);

/* Drops the index on `path`. VDB_ENOTFOUND when there is none. */
int vdb_payload_drop_index(vdb_payload *payload, const char *path, vdb_error *err);

/* ---- read accessors (shared access) -------------------------------------- */

size_t vdb_payload_index_count(const vdb_payload *payload);
/* 1 when `path` has an index, else 0; never fails. */
int vdb_payload_has_index(const vdb_payload *payload, const char *path);

/* Live rows. */
size_t vdb_payload_live(const vdb_payload *payload);
/* 1 when `row` is live, else 0; never fails. */
int vdb_payload_is_live(const vdb_payload *payload, uint32_t row);

/* The cached metadata of a live row (borrowed, valid until the row changes)
 * or NULL (no metadata or not live). */
const vdb_json *vdb_payload_meta(const vdb_payload *payload, uint32_t row);

/* Bytes held by the indexes (bitmaps, maps, sorted arrays, columns); the
 * cached metadata is not counted (jansson allocates it; `vdb filter-bench`
 * measures it: about 350 bytes per row for {"bucket": n}). */
size_t vdb_payload_index_memory(const vdb_payload *payload);

/* Checks that every index equals one rebuilt from the cached metadata.
 * 0 or VDB_ECORRUPT naming the field. Slow; for tests (no command runs it). */
int vdb_payload_check(const vdb_payload *payload, vdb_error *err);

/* The fields `filter` compares that have no index yet, each followed by a
 * newline, in a heap string (caller frees with vdb_free); NULL when there
 * are none (or no memory). Shared access. */
char *vdb_payload_unindexed_paths(const vdb_payload *payload, const vdb_filter *filter);

/* ---- query planning (shared access) -------------------------------------- */

typedef enum {
    VDB_PLAN_ALL = 0,   /* no filter: search as usual */
    VDB_PLAN_EXACT_IDS, /* exact search over vdb_selection_ids */
    VDB_PLAN_HNSW,      /* filter-aware HNSW with plan->ef and the accept hook */
    VDB_PLAN_FLAT       /* exact search over every row with the accept hook */
} vdb_plan_kind;

typedef struct vdb_plan_input {
    size_t k;          /* results wanted (>= 1) */
    uint32_t ef;       /* the query's HNSW ef (0: 64) */
    int hnsw;          /* nonzero when the store has an HNSW index to use */
    size_t exact_max;  /* largest candidate set searched exactly; 0: by the
                          cost model (HNSW) or live / 2 (no HNSW) */
    int materialize;   /* nonzero: always compute the exact row set (count,
                          delete, scroll), scanning rows when indexes fall short */
    /* Measured costs (the store's calibration, store/calib.h), used instead
     * of the built-in model when graph_cost is set: graph_cost returns the
     * ns one filtered graph query costs at c matches among live rows and
     * the ef that meets the recall target there (INFINITY when none does);
     * an exact search over c candidates costs c * ids_ns_row ns, and an
     * exact scan of every live row with the filter hook live * scan_ns_row
     * ns (0: not measured, exact search then means the candidates). */
    double (*graph_cost)(void *ctx, double c, double live, uint32_t *ef);
    void *cost_ctx;
    double ids_ns_row;
    double scan_ns_row;
} vdb_plan_input;

typedef struct vdb_plan {
    vdb_plan_kind kind;
    size_t estimate;    /* matching live rows (exact when estimate_exact) */
    int estimate_exact;
    uint32_t ef;        /* for VDB_PLAN_HNSW: the ef to search with */
    size_t rows_scanned; /* rows whose metadata was evaluated while planning */
    int unindexed;       /* the filter compares a field that has no index */
    char explain[256];  /* e.g. "exact over 812 candidates (indexed: price)" */
} vdb_plan;

typedef struct vdb_selection vdb_selection;

/* Evaluates `filter` (borrowed; NULL = none) against the indexes and plans
 * the query into *out (written only on success). Caller frees it with
 * vdb_selection_free, before the payload or the filter changes. Errors:
 * VDB_EINVAL (k == 0), VDB_ENOMEM. */
int vdb_payload_selection_new(const vdb_payload *payload, const vdb_filter *filter,
                              const vdb_plan_input *input, vdb_selection **out, vdb_error *err);
void vdb_selection_free(vdb_selection *selection); /* NULL is a no-op */

/* The plan (borrowed from the selection). */
const vdb_plan *vdb_selection_plan(const vdb_selection *selection);

/* The exact matching rows, ascending (borrowed from the selection), when
 * known: always for VDB_PLAN_EXACT_IDS and with input->materialize; else
 * NULL with *count 0. */
const uint32_t *vdb_selection_ids(const vdb_selection *selection, size_t *count);

/* The accept hook (signature of index.h's vdb_accept_fn): ctx is the
 * selection; nonzero when the row is live and matches, else 0; never fails.
 * Thread-safe; usable
 * for every plan kind (for VDB_PLAN_ALL it accepts live rows). */
int vdb_selection_accept(void *ctx, uint32_t row);

/* Convenience for count/delete_where/scroll: the exact matching live rows
 * in ascending order into *rows (caller frees with vdb_free; NULL when
 * *count is 0). NULL filter: every live row. Errors: VDB_ENOMEM. */
int vdb_payload_match_rows(const vdb_payload *payload, const vdb_filter *filter, uint32_t **rows,
                           size_t *count, vdb_error *err);

/* Counts the live rows the filter matches (NULL filter: all live rows):
 * straight from the index for one indexed clause, else as match_rows.
 * Errors: VDB_ENOMEM. */
int vdb_payload_count(const vdb_payload *payload, const vdb_filter *filter, size_t *count,
                      vdb_error *err);

#endif
