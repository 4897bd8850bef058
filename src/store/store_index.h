/* The store's HNSW index manager: when a store uses HNSW, how the graph is
 * loaded, caught up, kept current and saved, and what a search needs of it
 * (the graph and the rows it covers). Searching is query.c's: the graph is
 * searched there, with the not-yet-indexed tail merged, so a query passes
 * through one store file on its way to the index (docs/architecture.md).
 *
 * Writes never wait for the graph. A background indexer thread per store
 * inserts the rows appended since the graph's last row ("upto"), in small
 * chunks under the store's read guard, so a write is acknowledged as soon
 * as its WAL record is durable and searches keep running while the graph
 * grows. A query searches the graph for rows below upto and scans the
 * not-yet-indexed tail exactly, then merges (query.c): results are always
 * complete. While most of the store is unindexed (just after a rebuild
 * started) the graph is not offered and the whole query is exact.
 *
 * The graph's row ids are the vecset's rows. A checkpoint that compacts
 * tombstones renumbers rows, so it first removes the saved index file
 * (durably). Below VDB_STORE_REPAIR_MAX_FRACTION deleted (issue 13) it then
 * repairs the graph locally around the deleted nodes, renumbers it with the
 * rows and saves it again; past it (or when asked) it starts a fresh graph
 * that the indexer rebuilds. A crash between the removal and the save
 * leaves no hnsw.idx, which the next open rebuilds, as before.
 * The index file (hnsw.idx) is derived data: missing, corrupt or stale
 * files are rebuilt with a log line, never trusted.
 *
 * All functions are called by store.c / checkpoint.c / query.c / calib.c
 * with the locks noted. */
#ifndef VDB_STORE_STORE_INDEX_H
#define VDB_STORE_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../index/index.h"
#include "store.h"

struct vdb_hnsw;

#define VDB_STORE_INDEX_FILE "hnsw.idx"

typedef struct vdb_store_index vdb_store_index;

/* After the snapshot and WAL are loaded (no locks needed: not shared yet):
 * loads hnsw.idx when the store should use HNSW (or rebuilds it) and starts
 * the indexer. Never fails the open for index trouble: a bad file is
 * logged and rebuilt. Errors: VDB_ENOMEM only. */
int vdb_store__index_open(vdb_store *store, vdb_error *err);

/* Stops the indexer and frees the graph. NULL-safe. No locks held. */
void vdb_store__index_close(vdb_store *store);

/* After a successful write, with the writer mutex held (no rw lock): starts
 * using HNSW when the store crossed its threshold, and wakes the indexer. */
void vdb_store__index_after_write(vdb_store *store);

/* Wakes the background indexer (starting it when needed) for work other
 * than graph rows: pending field indexes (store_filter.h), calibration.
 * No locks held. */
void vdb_store__index_kick(vdb_store *store);

/* Before a checkpoint that will renumber rows (checkpoint mutex held): removes
 * the saved index file and syncs the directory. Errors: VDB_EINVAL (path
 * too long), vdb_fsx_dirsync's (VDB_ENOTFOUND, VDB_EBUSY, VDB_EIO). */
int vdb_store__index_before_compact(vdb_store *store, vdb_error *err);

/* The deleted fraction below which a compaction repairs the graph instead
 * of rebuilding it (VDB_STORE_GRAPH_AUTO). Measured with `vdb bench --index
 * hnsw --ef 12` and VDB_BENCH_HNSW_REPAIR_FRAC at 20k x 64 (BENCHMARKS.md,
 * issue 13): the repair's recall matched or beat the rebuild's at 10%, 30%
 * and 50% deleted, but its cost grows with the fraction (more dead
 * neighbours per list, larger candidate sets) while a rebuild's shrinks:
 * 6.6%, 13.8% and 18.6% of the rebuild's time. Up to 30% it stays under
 * the 15% goal; past it a rebuild is the better buy. */
#define VDB_STORE_REPAIR_MAX_FRACTION 0.30

/* Before a compaction that drops the captured tombstones `dropped` among
 * rows [0, rows) (checkpoint mutex held, not writer or rw): when the store
 * has a graph and `mode` (store.h) picks repair for this deleted fraction,
 * removes exactly the `dropped` rows from the graph and reconnects their
 * neighbourhoods (vdb_hnsw_repair) under the rw guard held shared (writers
 * wait for it; graph searches wait on the graph's lock, exact ones run); the
 * graph then carries over the compaction (vdb_store__index_after_compact).
 * Returns 1 when it repaired, 0 when the compaction should rebuild (no
 * graph, the mode or fraction says so, or the repair ran out of memory:
 * logged, never an error: it never fails). *seconds gets the repair's
 * time. */
int vdb_store__index_repair(vdb_store *store, uint32_t rows, const uint64_t *dropped,
                           int mode, double *seconds);

/* After compaction renumbered rows (rw held exclusively). When the graph
 * was repaired for this compaction and `old_to_new` (old_rows entries) is
 * given, renumbers the graph in place (vdb_hnsw_renumber) and the indexed
 * prefix with it; else drops the graph and starts a fresh one for the
 * indexer to rebuild. The calibration is marked for a re-check in the
 * first case (vdb_store__calib_recheck), stale in the second. Returns 1
 * when the graph was carried over (the caller saves it), 0 otherwise;
 * never fails. */
int vdb_store__index_after_compact(vdb_store *store, const uint32_t *old_to_new,
                                  uint32_t old_rows);

/* optimize with VDB_STORE_GRAPH_REBUILD and nothing to compact (checkpoint
 * mutex held; takes writer and rw): drops the graph and starts a fresh one.
 * Returns 1 when there was a graph to rebuild, else 0; never fails. */
int vdb_store__index_restart(vdb_store *store);

/* After a snapshot committed without renumbering (checkpoint mutex held,
 * writers may run): saves
 * the graph to hnsw.idx atomically (temp name, fsync, rename, dir sync).
 * Errors (the temp file is removed, the old file stays): VDB_EINVAL (path
 * too long), vdb_hnsw_save's (VDB_ENOMEM, VDB_EIO, VDB_ENOSPC,
 * VDB_ENOTFOUND), the rename's and the directory sync's (VDB_ENOSPC,
 * VDB_EIO, VDB_EBUSY). */
int vdb_store__index_save(vdb_store *store, vdb_error *err);

/* Blocks until the indexer has caught up with every row and has no
 * calibration due or running (vdb_store_wait_idle). */
void vdb_store__index_wait(vdb_store *store);

/* Blocks until the indexer is idle or, sooner, the calibration is settled
 * for every mark up to `since` (vdb_store__calib_settled): a full
 * calibration that follows a SCANS re-check is not waited for (optimize).
 * No locks held. */
void vdb_store__index_wait_settled(vdb_store *store, uint64_t since);

/* Blocks until the graph covers the rows present at the call, but not for
 * the field indexes or calibration that the indexer runs afterwards (so
 * optimize can time a rebuild alone). No locks held. */
void vdb_store__index_wait_graph(vdb_store *store);

/* The index kinds a store searches with, and what the planner needs to
 * know of each. The kind is an enum (never a string compare); the name is
 * for stats and explain. */
typedef enum {
    VDB_STORE_ENGINE_FLAT = 0, /* exact scan only */
    VDB_STORE_ENGINE_HNSW = 1  /* HNSW graph plus an exact scan of the unindexed tail */
} vdb_store_engine;

typedef struct vdb_store_index_ops {
    vdb_store_engine kind;
    const char *name;
} vdb_store_index_ops;

/* The store's current index kind (rw held shared). Never NULL. */
const vdb_store_index_ops *vdb_store__index_ops_of(vdb_store *store);

/* The graph when it can answer queries over `view` (rw held shared, and
 * borrowed while it is held: only the exclusive side replaces or frees
 * it): there is one and it covers at least half of the rows. *upto gets
 * the rows it covers, [0, upto); rows at or past it are the unindexed tail
 * a search scans exactly (the indexer may have linked some of them
 * already: a search drops those from the graph's answer). NULL (and *upto
 * untouched) when the caller should scan. */
const struct vdb_hnsw *vdb_store__index_graph(vdb_store *store, const vdb_vecview *view,
                                             uint32_t *upto);

/* 1 when vdb_store__index_graph would return a graph, else 0 (rw held
 * shared). Never fails. */
int vdb_store__index_ready(vdb_store *store, const vdb_vecview *view);

/* Bumped whenever rows are renumbered (compaction); lets a long reader
 * (calibration) notice that row ids changed between its lock holds. */
uint64_t vdb_store__index_epoch(vdb_store *store);

/* For stats (rw held shared): "hnsw" or "flat", graph bytes, indexed rows. */
const char *vdb_store__index_name(vdb_store *store);
size_t vdb_store__index_memory(vdb_store *store);
uint32_t vdb_store__index_rows(vdb_store *store);

#endif
