/* Quantized codes of a store's rows and exact search on them.
 *
 * A vdb_quant holds derived, in-memory codes for the rows of one vecview;
 * the float32 rows stay the source of truth (on disk and mapped) and are
 * only read to re-rank a small candidate set, so a scan reads 4x (int8) or
 * 32x (binary) fewer bytes than the float scan.
 *
 *   VDB_QUANT_INT8    per-dimension centre mu_d and scale s_d trained on the
 *                     view's own rows (mean, and the largest |x_d - mu_d|
 *                     over 127, so no trained row clips); code
 *                     c_d = round((x_d - mu_d) / s_d) in [-127, 127]. The
 *                     scan quantizes the query's weights w_d = q_d s_d
 *                     (cosine, dot) or (q_d - mu_d) s_d (L2) to int8 with one
 *                     per-query scale, so ranking needs one integer dot per
 *                     row (kernel/qdist.h), plus for L2 the exact per-row
 *                     term |x - mu|^2. Per row: dim bytes, |c| and the
 *                     residual norm |x - mu - s c| (the exact scan's error
 *                     bound), and the L2 term: dim + 8 (+ 4 for L2) bytes.
 *   VDB_QUANT_BINARY  one sign bit of x_d - mu_d per dimension, standing for
 *                     +-sigma_d (the trained mean |x_d - mu_d|), plus one
 *                     exact float per row (|x - mu|^2 for L2, <mu, x - mu>
 *                     otherwise). The query stays richer than the codes
 *                     (asymmetric, as in RaBitQ, without its rotation): its
 *                     centred weights are quantized to 4 bits and evaluated
 *                     as bit planes with the Hamming kernel. dim/8 bytes
 *                     (whole 64-bit words) + 8 per row (the exact float and
 *                     the residual norm).
 *
 * vdb_quant_search scans every code, keeps the `candidates` best by the
 * approximate distance (skipping deleted rows and rows the filter refuses),
 * then re-ranks them exactly on the float rows (vdb_flat_search_ids), so the
 * returned distances are exact and recall against the float scan is 1.0
 * whenever the true top-k are among the candidates; the margin
 * (candidates / k) is the caller's knob (BENCHMARKS.md measures it).
 *
 * How a store uses it (store/store_codes.c): a store with `quantization:
 * int8|binary` keeps one vdb_quant beside its float rows, built
 * (vdb_quant_build) when the store opens or its codes are missing, extended
 * (vdb_quant_append) as rows are added and compacted (vdb_quant_compact)
 * with the rows, under the same write lock that changes the vecset; its
 * single exact queries run vdb_quant_search_exact (bounded, equal to the
 * float scan) and its graph queries traverse the int8 codes
 * (vdb_quant_traversal + vdb_hnsw_search_codes). Nothing is persisted:
 * codes are derived data. vdb_quant_search (a fixed candidate margin) is
 * the approximate variant the margin benchmark measures (bench/quant_scan.c).
 *
 * Thread-safety: build/append/free need exclusive access; any number of
 * threads may search one vdb_quant concurrently, each with its own scratch. */
#ifndef VDB_INDEX_QUANT_H
#define VDB_INDEX_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "hnsw.h"
#include "index.h"

typedef enum {
    VDB_QUANT_NONE = 0,
    VDB_QUANT_INT8 = 1,
    VDB_QUANT_BINARY = 2
} vdb_quant_kind;

/* Rows sampled (evenly strided) to train the int8 centre and scales. */
#define VDB_QUANT_TRAIN_ROWS 65536u
/* Most candidates one search may re-rank (bounds the scratch). */
#define VDB_QUANT_MAX_CANDIDATES 65536u

typedef struct vdb_quant vdb_quant;
typedef struct vdb_quant_scratch vdb_quant_scratch;

/* Parses "none", "int8", "binary"; -1 when unknown (no error code). */
int vdb_quant_kind_parse(const char *name);
/* "none", "int8", "binary". */
const char *vdb_quant_kind_name(vdb_quant_kind kind);

/* Trains on the view's live rows and encodes all view->n rows into *out,
 * which the caller frees with vdb_quant_free (NULL on failure). Errors:
 * VDB_EINVAL (kind NONE or unknown, dim 0 or above VDB_MAX_DIM, a
 * non-finite row), VDB_ENOMEM. An empty view is allowed (the first append
 * trains). */
int vdb_quant_build(vdb_quant_kind kind, const vdb_vecview *view, vdb_quant **out,
                    vdb_error *err);

/* Trains on the view's live rows exactly as vdb_quant_build would and
 * encodes none of them; room for `reserve` rows is allocated (0: none), so
 * a caller can encode in pieces with vdb_quant_append (a store's trial
 * codes, chunk by chunk between lock holds) and end with the codes
 * vdb_quant_build would have made. *out as vdb_quant_build's. Errors:
 * VDB_EINVAL, VDB_ENOMEM, as vdb_quant_build. */
int vdb_quant_new_trained(vdb_quant_kind kind, const vdb_vecview *view, uint32_t reserve,
                          vdb_quant **out, vdb_error *err);

/* Encodes rows [codes' count, view->n) with the trained parameters (values
 * outside the trained range clip to +-127). Trains first if no row was
 * trained yet. Errors: VDB_EINVAL (view dim or metric differs, fewer rows
 * than already encoded), VDB_ENOMEM (the codes are then unchanged). */
int vdb_quant_append(vdb_quant *q, const vdb_vecview *view, vdb_error *err);

/* Follows a compaction of the view (vecset.h's vdb_vecset_compact): row r
 * moves to old_to_new[r], UINT32_MAX drops it; the renumbering must keep
 * the rows' order (it is checked before anything moves). The trained
 * parameters stay. Errors: VDB_EINVAL (old_rows is not the encoded count,
 * or a renumbering that reorders; the codes are then unchanged). */
int vdb_quant_compact(vdb_quant *q, const uint32_t *old_to_new, uint32_t old_rows,
                      vdb_error *err);

/* Releases everything; NULL is a no-op. */
void vdb_quant_free(vdb_quant *q);

/* Rows encoded, and bytes a scan reads per row (codes + per-row terms). */
uint32_t vdb_quant_count(const vdb_quant *q);
size_t vdb_quant_row_bytes(const vdb_quant *q);
/* Heap bytes held (codes, per-row terms, trained parameters). */
size_t vdb_quant_memory(const vdb_quant *q);
vdb_quant_kind vdb_quant_kind_of(const vdb_quant *q);

/* Scratch for one searching thread, for up to `max_candidates` candidates
 * (at most VDB_QUANT_MAX_CANDIDATES), into *out (NULL on failure). Caller
 * frees with vdb_quant_scratch_free (NULL is a no-op). Errors: VDB_EINVAL
 * (max_candidates 0 or above the cap), VDB_ENOMEM. */
int vdb_quant_scratch_new(const vdb_quant *q, size_t max_candidates, vdb_quant_scratch **out,
                          vdb_error *err);
void vdb_quant_scratch_free(vdb_quant_scratch *scratch);

/* Top-k for one query prepared with vdb_flat_prepare_query: scans the codes,
 * keeps max(k, candidates) candidates, re-ranks them on view's float rows.
 * `out` has room for k hits, *nout receives the count; hits are sorted best
 * first with exact distances. `filter` may be NULL. The view must be the one
 * the codes were built from (same dim and metric, view->n == count).
 * Errors: VDB_EINVAL (k 0, candidates above the scratch's capacity, view
 * mismatch), VDB_ENOMEM from the re-rank. */
int vdb_quant_search(const vdb_quant *q, const vdb_vecview *view, const float *query, size_t k,
                     size_t candidates, const vdb_filter_hook *filter,
                     vdb_quant_scratch *scratch, vdb_hit *out, size_t *nout, vdb_error *err);

/* Exact top-k on the codes (quant_exact.c): every row gets an interval
 * that provably holds its distance (from the per-row code and residual
 * norms), rows whose lower bound exceeds the k-th smallest upper bound are
 * skipped, the rest are re-ranked on the float rows. The hits equal
 * vdb_flat_search's up to rows at equal distance (ties), on any data; how
 * many rows were re-ranked goes to *reranked (optional), which is the cost
 * the bounds could not avoid. When more than max_rerank rows (0: no limit)
 * would need re-ranking, the scan stops early with VDB_ETOOBIG: the caller
 * is better off with the float scan (binary codes' worst-case bounds are
 * loose, see quant_exact.c). Arguments as vdb_quant_search (the scratch
 * needs max_candidates >= k; its candidate list grows as needed).
 * Errors: VDB_EINVAL (k 0 or above the scratch, view mismatch), VDB_ENOMEM
 * (candidate list), VDB_ETOOBIG. */
int vdb_quant_search_exact(const vdb_quant *q, const vdb_vecview *view, const float *query,
                           size_t k, const vdb_filter_hook *filter, size_t max_rerank,
                           vdb_quant_scratch *scratch, vdb_hit *out, size_t *nout,
                           size_t *reranked, vdb_error *err);

/* Fills `out` for HNSW traversal on these codes (vdb_hnsw_search_codes)
 * with the query prepared into the scratch: `out` borrows the codes and
 * the scratch, valid until the next write to the codes or the next use of
 * the scratch. Both kinds drive a traversal: int8 by its integer dot
 * product, binary by the scan's bit-plane estimate. The store wires only
 * int8: binary traversal measured dominated by float traversal on recall
 * at equal cost (BENCHMARKS.md), so binary stores traverse the float rows
 * and keep their codes for exact scans. Errors: VDB_EINVAL (a scratch of
 * another dim). */
int vdb_quant_traversal(const vdb_quant *q, const float *query, vdb_quant_scratch *scratch,
                        vdb_hnsw_codes *out, vdb_error *err);

/* Invariants (codes in range, binary padding bits clear, scales finite and
 * positive): VDB_OK or VDB_ECORRUPT naming the first bad row. */
int vdb_quant_check(const vdb_quant *q, vdb_error *err);

#endif
