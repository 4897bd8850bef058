/* HNSW (hierarchical navigable small world) approximate nearest-neighbour
 * index over a store's rows.
 *
 * The index does not own vectors: it holds only the graph and reads row
 * vectors from the vdb_vecview the caller passes to every call (row id ==
 * node id), so it sits beside the store's vecset without a second copy.
 * Distances are vdb's internal "lower is better" ones (index.h); queries must
 * be prepared like for exact search (vdb_flat_prepare_query: normalized for
 * cosine).
 *
 * Layout (hnsw_int.h): level-0 links live in one flat array of fixed-size
 * slots (count + 2M ids per node), so a node's neighbours are one or two
 * cache lines at a computable address; the rare upper levels (about 1/M of
 * the nodes) get one small array per node. A node's level is drawn from a
 * hash of (seed, row), so the graph's shape does not depend on insert order
 * or thread timing.
 *
 * Exact copies (many rows holding one vector) get a capped share of a
 * list (hnsw_copy_quota: 1/8 of the links, the copies chosen per node by a
 * hash), and an insertion's search keeps the new row's copies out of its
 * ef results: otherwise a group of more copies than links linked only to
 * itself and searches that entered it could not leave (BENCHMARKS.md,
 * "Exact copies of one vector"). Other rows' copies hold one place in an
 * insertion's results (which copy, by a hash of both ids among those met,
 * so the group's in-links spread) and at most k in a query's (a query groups them
 * once it meets two equal distances in a row), so that they cannot fill
 * the beam at one distance and end the search there (BENCHMARKS.md,
 * "Copies of one vector in the beam").
 *
 * Limits:
 *   M (links per node on levels > 0; level 0 gets 2M): 2..VDB_HNSW_MAX_M.
 *   ef_construction: 1..VDB_HNSW_MAX_EF; ef at query time: 1..VDB_HNSW_MAX_EF
 *   (raised to k when smaller).
 *   Rows: up to UINT32_MAX - 1; levels 0..VDB_HNSW_MAX_LEVEL.
 *
 * Thread-safety: vdb_hnsw_add, vdb_hnsw_build and vdb_hnsw_search may all run
 * concurrently on one index. Inserts lock one node at a time (striped
 * mutexes) while rewriting its link list; searches read links without locks
 * through relaxed atomic loads, which may observe a list mid-rewrite - every
 * id they see is still a valid, fully inserted-or-inserting node, which is
 * all a best-first search needs. Growing the node arrays takes an exclusive
 * lock for the few microseconds of the copy. vdb_hnsw_save, vdb_hnsw_check
 * and vdb_hnsw_free must not overlap adds (save and check exclude them
 * themselves; free requires that nothing else uses the index).
 *
 * Deletes are the view's tombstones (view->deleted): a deleted row is never
 * returned but keeps routing searches. After heavy deletes call
 * vdb_hnsw_repair (local reconnection, a fraction of a rebuild's cost) or
 * vdb_hnsw_rebuild to drop them from the graph.
 *
 * How a store uses it:
 *   open:       h = vdb_hnsw_load(path, dim, metric); on VDB_ENOTFOUND or
 *               VDB_ECORRUPT log it and h = vdb_hnsw_new(...); then catch up
 *               with vdb_hnsw_build(h, view, vdb_hnsw_rows(h), view->n)
 *               (rows appended by WAL replay since the last save).
 *   add batch:  vdb_hnsw_build(h, view, first_new_row, view->n) for large
 *               batches, vdb_hnsw_add per row for small ones.
 *   query:      vdb_hnsw_search(h, view, prepared_query, k, ef, hook, ...).
 *   optimize:   vdb_hnsw_repair(h, view) then, once the rows are compacted,
 *               vdb_hnsw_renumber(h, old_to_new) (node id == row); or, after
 *               very heavy deletes, fresh = vdb_hnsw_rebuild(h, view), swapped
 *               under the store's lock.
 *   checkpoint: vdb_hnsw_save(h, tmp_path), then rename into place. */
#ifndef VDB_INDEX_HNSW_H
#define VDB_INDEX_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "index.h"

#define VDB_HNSW_MAX_M 128
#define VDB_HNSW_MAX_EF 100000
#define VDB_HNSW_MAX_LEVEL 30

typedef struct vdb_hnsw vdb_hnsw;

/* Per-search working memory: the visited bitset and the candidate
 * and result heaps. One scratch serves one search at a time; it grows to the
 * largest index it has searched and is then reused with no allocation. */
typedef struct vdb_hnsw_scratch vdb_hnsw_scratch;

typedef struct vdb_hnsw_params {
    uint32_t m;               /* default 16 */
    uint32_t ef_construction; /* default 200 */
    uint32_t ef_search;       /* default query ef: 64 */
    uint64_t seed;            /* level draws; default 42 */
} vdb_hnsw_params;

/* Fills the defaults above. */
void vdb_hnsw_params_default(vdb_hnsw_params *params);

/* ---- core ---------------------------------------------------------------- */

/* An empty index for rows of `dim` floats under `metric`, into *out (NULL on
 * failure; the caller frees it with vdb_hnsw_free). params NULL means
 * defaults. Errors: VDB_EINVAL (dim, M, ef out of range), VDB_ENOMEM. */
int vdb_hnsw_new(uint32_t dim, vdb_metric metric, const vdb_hnsw_params *params, vdb_hnsw **out,
                 vdb_error *err);

/* Releases everything. NULL is a no-op. Nothing may use the index. */
void vdb_hnsw_free(vdb_hnsw *index);

/* The parameters in force (ef_search as last set). */
vdb_hnsw_params vdb_hnsw_get_params(const vdb_hnsw *index);
uint32_t vdb_hnsw_dim(const vdb_hnsw *index);
vdb_metric vdb_hnsw_metric(const vdb_hnsw *index);

/* Sets the default query ef (1..VDB_HNSW_MAX_EF). Thread-safe. Errors:
 * VDB_EINVAL (ef outside that range; nothing changes). */
int vdb_hnsw_set_ef_search(vdb_hnsw *index, uint32_t ef, vdb_error *err);

/* Makes room for rows [0, rows) so adds do not regrow. Errors: VDB_ENOMEM. */
int vdb_hnsw_reserve(vdb_hnsw *index, uint32_t rows, vdb_error *err);

/* Inserts row `row` of `view` (row < view->n). A row already in the graph is
 * left as it is (returns 0). `scratch` may be NULL (a per-thread scratch is
 * used). Thread-safe against other adds and searches. Errors: VDB_EINVAL
 * (row out of the view, wrong metric), VDB_EDIM (wrong dim), VDB_ENOMEM. */
int vdb_hnsw_add(vdb_hnsw *index, const vdb_vecview *view, uint32_t row,
                 vdb_hnsw_scratch *scratch, vdb_error *err);

/* Inserts rows [from, to) that are neither deleted in the view nor already
 * in the graph, in parallel on the global thread pool (vdb_pool_global).
 * Thread-safe like vdb_hnsw_add. Errors: VDB_EINVAL (rows outside the
 * view, wrong metric), VDB_EDIM (wrong dim), VDB_ENOMEM. */
int vdb_hnsw_build(vdb_hnsw *index, const vdb_vecview *view, uint32_t from, uint32_t to,
                   vdb_error *err);

/* Top-k search. ef 0 means the index's ef_search; ef is raised to k.
 * Hits (at most k) go to out, sorted best first with ties broken by row id;
 * *nout gets their count. Deleted rows (view->deleted) are never returned;
 * when `filter` is not NULL only rows it accepts are returned, while the
 * others still route the search (filter-aware traversal: the search keeps
 * going until ef accepted rows are found or the reachable graph is spent).
 * The view must cover every row the index routes through (view->n >= the
 * index's rows); rows beyond view->n (added concurrently) are ignored.
 * `scratch` may be NULL (a per-thread scratch is used). Thread-safe.
 * Errors: VDB_EINVAL (k == 0, ef too large, metric mismatch, view older
 * than the entry point), VDB_EDIM (view dim != index dim), VDB_ENOMEM
 * (scratch growth). */
int vdb_hnsw_search(const vdb_hnsw *index, const vdb_vecview *view, const float *query,
                    size_t k, size_t ef, const vdb_filter_hook *filter,
                    vdb_hnsw_scratch *scratch, vdb_hit *out, size_t *nout, vdb_error *err);

/* Traversal on quantized codes (index/quant.h, vdb_quant_traversal fills
 * it): the search ranks nodes by an estimate computed on the row's code
 * instead of its float row, then re-ranks the ef results on the float rows,
 * so returned distances are exact. Keys are the codes' estimates up to a
 * per-query constant. Two forms:
 *   int8   (bits == NULL) an integer dot product on row codes of dim bytes
 *          (4x fewer bytes per visited node than the float row);
 *   binary (bits != NULL) one sign bit per dimension against the query's
 *          weights held as VDB_HNSW_QPLANES bit planes: the estimate is
 *          step * sum_j 2^j popcount(plane_j AND code) + lo * popcount(code),
 *          from `words` 64-bit words per node (32x fewer bytes). */
#define VDB_HNSW_QPLANES 4u
typedef struct vdb_hnsw_codes {
    const int8_t *codes;   /* int8: row r at codes + r * dim */
    const float *row_term; /* L2: |x - mu|^2 per row; binary non-L2: <mu, x - mu>; else NULL */
    const int8_t *qcode;   /* int8: the query's weights (dim) */
    float alpha;           /* int8: weights ~ alpha * qcode */
    uint32_t rows;         /* rows encoded: the search never goes past them */
    int32_t (*dot)(const int8_t *a, const int8_t *b, size_t dim);
    /* binary */
    const uint64_t *bits;  /* row r at bits + r * words */
    size_t words;
    const uint64_t *qbits; /* VDB_HNSW_QPLANES planes of `words` words */
    const uint64_t *zero;  /* `words` zero words (a code's popcount as its Hamming to 0) */
    uint32_t plane_pop[VDB_HNSW_QPLANES]; /* popcount of each plane */
    float step, lo, wsum;  /* the query weights' 4-bit quantization and their sum */
    int l2;                /* key: L2 row_term - 2 ip; otherwise -(ip + row_term) */
    uint32_t (*hamming)(const uint64_t *a, const uint64_t *b, size_t words);
} vdb_hnsw_codes;

/* The binary estimate of <q - mu, x - mu> for one code, shared by the
 * binary traversal and quant.c's binary scan so that both rank alike: from
 * the code's popcount and its Hamming distance to each query plane,
 * popcount(plane AND code) = (|plane| + |code| - hamming) / 2, weighted by
 * 2^j; est = sum_d w_d b_d, and <q - mu, x - mu> ~ sum_d w_d (2 b_d - 1). */
static inline float vdb_hnsw_binary_ip(float step, float lo, float wsum,
                                       const uint32_t plane_pop[VDB_HNSW_QPLANES], uint32_t pop,
                                       const uint32_t ham[VDB_HNSW_QPLANES])
{
    int64_t sum = 0;
    for (unsigned j = 0; j < VDB_HNSW_QPLANES; j++)
        sum += ((int64_t)plane_pop[j] + pop - ham[j]) << j;
    float est = step * (float)sum * 0.5f + lo * (float)pop;
    return 2.0f * est - wsum;
}

/* A binary row's key (lower is better) from its estimate ip and row term:
 * L2 |q - x|^2 = |q - mu|^2 - 2 <q - mu, x - mu> + |x - mu|^2 (row term
 * |x - mu|^2); cosine and dot -<q, x> = -(<q - mu, x - mu> + <mu, x - mu>)
 * - <q, mu> (row term <mu, x - mu>), per-query constants dropped. */
static inline float vdb_hnsw_binary_key(int l2, float row_term, float ip)
{
    return l2 ? row_term - 2.0f * ip : -(ip + row_term);
}

/* vdb_hnsw_search with traversal on `codes` (above) and float re-rank of
 * the ef results. Same contract as vdb_hnsw_search; rows at or past
 * codes->rows are not visited. Errors: vdb_hnsw_search's (VDB_EINVAL,
 * VDB_EDIM, VDB_ENOMEM), and VDB_EINVAL for incomplete codes. */
int vdb_hnsw_search_codes(const vdb_hnsw *index, const vdb_vecview *view, const float *query,
                          const vdb_hnsw_codes *codes, size_t k, size_t ef,
                          const vdb_filter_hook *filter, vdb_hnsw_scratch *scratch, vdb_hit *out,
                          size_t *nout, vdb_error *err);

/* ---- scratch ------------------------------------------------------------- */

/* Scratch for one searching thread into *out (NULL on failure); the caller
 * frees it with vdb_hnsw_scratch_free (NULL is a no-op). Errors:
 * VDB_ENOMEM. */
int vdb_hnsw_scratch_new(vdb_hnsw_scratch **out, vdb_error *err);
void vdb_hnsw_scratch_free(vdb_hnsw_scratch *scratch);

/* ---- maintenance --------------------------------------------------------- */

/* A new index with the same parameters over the view's live rows only
 * (deleted rows dropped from the graph): the store's optimize after heavy
 * deletes. The old index is only read and may keep serving searches; the
 * caller swaps them. *out receives it (NULL on failure); the caller frees it
 * with vdb_hnsw_free. Errors: VDB_ENOMEM, and vdb_hnsw_build's. */
int vdb_hnsw_rebuild(const vdb_hnsw *index, const vdb_vecview *view, vdb_hnsw **out,
                     vdb_error *err);

/* Deletes without a rebuild (issue 13): removes the view's deleted rows
 * from the graph and repairs it locally. Every live node that linked to a
 * deleted one, on any level, gets its list chosen again (same heuristic as
 * an insert) from its live neighbours plus the deleted neighbours' live
 * neighbours (FreshDiskANN's consolidation, hnswlib's repair); the deleted
 * nodes' slots become free (the row can be added again, e.g. when a store
 * reuses it) and the entry point moves to a live node of the highest level
 * when it was deleted. Costs about the candidates' distances per affected
 * node instead of an ef_construction search per node. Excludes adds and
 * searches while it runs (exclusive grow lock). *removed (optional) gets
 * the number of nodes removed. Errors: VDB_EINVAL (metric mismatch),
 * VDB_EDIM, VDB_ENOMEM (the graph is then unchanged or partly repaired,
 * and valid either way). */
int vdb_hnsw_repair(vdb_hnsw *index, const vdb_vecview *view, size_t *removed, vdb_error *err);

/* Follows a compaction of the rows (issue 13): `old_to_new` has `old_rows`
 * entries, each row's new number or UINT32_MAX when dropped; kept rows must
 * be numbered 0, 1, 2, ... in their old order (what vdb_vecset_compact
 * does). Every node moves to its new row and every link is mapped, so a
 * repaired graph survives the compaction instead of being rebuilt; covered
 * rows and the entry point follow. No allocation, no distances. Excludes
 * adds and searches while it runs. Errors: VDB_EINVAL when a dropped row is
 * still a node (call vdb_hnsw_repair with those rows deleted first), a node
 * lies past old_rows, or the map is not such a compaction; the graph is
 * then unchanged. */
int vdb_hnsw_renumber(vdb_hnsw *index, const uint32_t *old_to_new, uint32_t old_rows,
                      vdb_error *err);

/* Nodes in the graph. */
size_t vdb_hnsw_count(const vdb_hnsw *index);

/* One past the highest row offered to add/build (inserted or skipped as
 * deleted): the store catches the index up from here after a load. */
uint32_t vdb_hnsw_rows(const vdb_hnsw *index);

/* Bytes held by the graph (links, levels, locks; not the vectors). */
size_t vdb_hnsw_memory(const vdb_hnsw *index);

/* Validates the invariants: link counts within M/2M, every link to a present
 * node other than itself at a level it has, no duplicate links, entry point
 * present at the top level, node count. 0 or VDB_ECORRUPT with the first
 * violation. Excludes concurrent adds while it runs. */
int vdb_hnsw_check(const vdb_hnsw *index, vdb_error *err);

/* ---- serialization ------------------------------------------------------- */

/* Writes the graph to `path` (created or truncated) through core/fsx and
 * fsyncs it; the format is documented in hnsw_io.c. Atomic replacement
 * (temp name + rename) is the caller's checkpoint's job. Excludes
 * concurrent adds. Errors: VDB_ENOMEM, VDB_EIO, VDB_ENOSPC, and open's
 * (VDB_ENOTFOUND when the directory is gone). */
int vdb_hnsw_save(const vdb_hnsw *index, const char *path, vdb_error *err);

/* Reads an index saved by vdb_hnsw_save with one sequential pass, for rows of
 * `dim` floats under `metric`. The bytes are treated as hostile: any
 * inconsistency (size, checksum, parameters, levels, links) gives NULL with
 * VDB_ECORRUPT, never a crash; the caller then rebuilds. Errors: VDB_EIO
 * (cannot open/read), VDB_ENOTFOUND (no file), VDB_ECORRUPT, VDB_EINVAL
 * (dim/metric differ from the file's), VDB_ENOMEM. *out receives the index
 * (NULL on failure); the caller frees it with vdb_hnsw_free. */
int vdb_hnsw_load(const char *path, uint32_t dim, vdb_metric metric, vdb_hnsw **out,
                  vdb_error *err);

/* Validates an index file on its own (vdb doctor, tests): loads it with the
 * dim and metric its header names, runs every check vdb_hnsw_load runs, and
 * reports the rows it covers and the nodes it holds (either may be NULL).
 * Errors: VDB_ENOTFOUND (no file), VDB_EBUSY (out of descriptors), VDB_EIO,
 * VDB_ECORRUPT (not an HNSW file, or any check failed), VDB_ENOMEM. */
int vdb_hnsw_file_check(const char *path, uint32_t *rows, size_t *nodes, vdb_error *err);

#endif
