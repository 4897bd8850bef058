/* A store's quantized codes (index/quant.h): derived from the float rows,
 * which stay the source of truth on disk with their layout unchanged, and
 * never persisted; built when the store opens (after WAL replay) or its
 * quantization changes, extended on every applied write, compacted with the
 * rows, rebuilt when missing (a failed allocation drops them; the next
 * write rebuilds) and retrained while the store is small (the trained
 * centre and scales come from the rows present at build time: each doubling
 * of the rows, until the training sample is full, trains again, so the
 * first few rows do not set the scales forever).
 *
 * Queries (run by query.c, which reads the codes through
 * vdb_store__codes_current / _traversal / _trial; this file keeps their life
 * cycle and counters): a single exact query of a quantized store runs
 * vdb_quant_search_exact (codes plus float re-rank, equal to the float scan
 * up to ties), reading 4x (int8) or 32x (binary) fewer bytes for the scan.
 * Batches keep the GEMM float path, which reads each row once per block of
 * queries, so fewer bytes per row buys little there. Graph queries of an
 * int8 store traverse the HNSW graph on the codes and re-rank the ef
 * results on the float rows (vdb_hnsw_search_codes); the calibration
 * measures recall on that path, so the planner's ef accounts for it.
 *
 * auto (VDB_STORE_QUANT_AUTO): the store keeps int8 codes only when its
 * calibration measured them cheaper. The first calibration (calib.c)
 * measures the float path, then builds TRIAL codes (trial_begin: chunk by
 * chunk, writers go on), measures the int8 path on them, and ends the
 * trial: adopted (they become the codes) or dropped. No query uses trial
 * codes (traversal/current never return them), so a query's path always
 * matches the calibration it plans with. The decision is persisted with
 * the calibration (calib.txt) and handed back to open.
 *
 * Locking: the codes live under the store's rw guard like the vecset:
 * after_write/after_compact/drop run with it held exclusively, ready/search
 * with it held shared. open and vdb_store_set_quantization take it
 * themselves (with the writer mutex held by the caller for open outside
 * the store's constructor). */
#ifndef VDB_STORE_STORE_CODES_H
#define VDB_STORE_STORE_CODES_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../index/index.h"
#include "store.h"

struct vdb_json;

/* Builds the codes the config asks for (none: nothing; auto: `auto_kind`,
 * the decision persisted with the calibration, -1 undecided), replacing any
 * there were. Writers may go on; the caller keeps compaction out (the
 * checkpoint mutex, or no other thread yet at open). Errors: VDB_ENOMEM (the store still works; exact queries scan
 * floats and the next write retries), VDB_EINVAL from the build. */
int vdb_store__codes_open(vdb_store *store, int auto_kind, vdb_error *err);
/* As open, for `kind` (vdb_quant_kind or VDB_STORE_QUANT_AUTO, then
 * undecided), which becomes the config's quantization once the codes are
 * in; nothing changes on error. Errors: as open, VDB_EINVAL (unknown kind). */
int vdb_store__codes_rebuild(vdb_store *store, int kind, vdb_error *err);

/* auto's decision: VDB_QUANT_NONE or VDB_QUANT_INT8, -1 undecided, -2
 * when the store is not auto (a kind, not an error code; never fails).
 * Takes the read guard (not with it held). */
int vdb_store__codes_auto_kind(vdb_store *store);
/* Builds trial int8 codes for an auto store's calibration (no locks held
 * on entry; the read guard per chunk, then exclusively to swap in); the
 * caller keeps one trial at a time (the indexer thread). Errors:
 * VDB_ENOMEM, VDB_EBUSY (no rows, or rows renumbered meanwhile: retry). */
int vdb_store__codes_trial_begin(vdb_store *store, vdb_error *err);
/* The trial codes when they cover every row of `view`, else NULL (rw
 * shared; a failed append or a compaction drops them). */
const struct vdb_quant *vdb_store__codes_trial(vdb_store *store, const vdb_vecview *view);
/* Ends the trial (rw exclusive): adopt 1 makes the trial codes the store's
 * (auto decided int8), 0 drops them (auto decided none), -1 drops them
 * undecided (the trial failed; the next calibration tries again). */
void vdb_store__codes_trial_end_locked(vdb_store *store, int adopt);
/* Frees the codes (rw exclusive, or no readers). */
void vdb_store__codes_close(vdb_store *store);

/* After a write was applied (rw exclusive): encodes the new rows, or
 * rebuilds (missing codes, retraining). A failure is logged and drops the
 * codes: the write itself stands. */
void vdb_store__codes_after_write(vdb_store *store);
/* After vdb_vecset_compact (rw exclusive); old_to_new may be NULL (then
 * the codes are rebuilt). */
void vdb_store__codes_after_compact(vdb_store *store, const uint32_t *old_to_new,
                                   uint32_t old_rows);

/* The store's codes (int8 or binary) when they cover every row of `view`,
 * else NULL; borrowed while rw is held shared. */
const struct vdb_quant *vdb_store__codes_current(vdb_store *store, const vdb_vecview *view);
/* Counts one exact scan on the codes for the stats (rw shared or not;
 * atomics): `reranked` rows re-ranked on the floats, `fallback` 1 when the
 * bounds left too many to re-rank and the float scan answered. The scan
 * itself is query.c's (vdb_store__query_scan_codes). */
void vdb_store__codes_count_scan(vdb_store *store, size_t reranked, int fallback);

/* The int8 codes covering every row of `view` for HNSW traversal of nq
 * queries (counted in graph_queries; nq 0 only asks), or NULL (none,
 * binary, or not caught up); borrowed while rw is held shared. */
const struct vdb_quant *vdb_store__codes_traversal(vdb_store *store, const vdb_vecview *view,
                                                  size_t nq);

/* Heap bytes of the codes (rw shared); 0 without codes. */
size_t vdb_store__codes_memory(vdb_store *store);

/* {"kind" (the setting), "effective" (the codes kept: none, int8, binary, or
 * "undecided" for auto before its first calibration), "rows", "bytes", "bytes_per_row", "exact_queries", "reranked_rows",
 * "float_fallbacks" (queries whose bounds left too many rows to re-rank, so
 * the float scan answered: see query.c), "graph_queries" (graph
 * searches that traversed the int8 codes)}
 * for the store's stats (takes the read guard itself, so not with it held);
 * a new object, NULL when out of memory. */
struct vdb_json *vdb_store_codes_json(vdb_store *store);

#endif
