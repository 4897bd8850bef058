/* The store's HNSW index manager: when a store uses HNSW, how the graph is
 * loaded, caught up, kept current and saved, and how queries use it.
 *
 * Writes never wait for the graph. A background indexer thread per store
 * inserts the rows appended since the graph's last row ("upto"), in small
 * chunks under the store's read guard, so a write is acknowledged as soon
 * as its WAL record is durable and searches keep running while the graph
 * grows. A query searches the graph for rows below upto and scans the
 * not-yet-indexed tail exactly, then merges: results are always complete.
 * While most of the store is unindexed (just after a rebuild started) the
 * whole query is exact.
 *
 * The graph's row ids are the vecset's rows. A checkpoint that compacts
 * tombstones renumbers rows, so it first removes the saved index file
 * (durably), and afterwards starts a fresh graph that the indexer rebuilds.
 * The index file (hnsw.idx) is derived data: missing, corrupt or stale
 * files are rebuilt with a log line, never trusted.
 *
 * All functions are called by store.c / store_read.c with the locks noted. */
#ifndef VDB_STORE_STORE_INDEX_H
#define VDB_STORE_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../index/index.h"
#include "store.h"

#define VDB_STORE_INDEX_FILE "hnsw.idx"

typedef struct vdb_store_index vdb_store_index;

/* After the snapshot and WAL are loaded (no locks needed: not shared yet):
 * loads hnsw.idx when the store should use HNSW (or rebuilds it) and starts
 * the indexer. Never fails the open for index trouble: a bad file is
 * logged and rebuilt. Errors: VDB_ENOMEM only. */
int vdb_store_index_open(vdb_store *store, vdb_error *err);

/* Stops the indexer and frees the graph. NULL-safe. No locks held. */
void vdb_store_index_close(vdb_store *store);

/* After a successful write, with the writer mutex held (no rw lock): starts
 * using HNSW when the store crossed its threshold, and wakes the indexer. */
void vdb_store_index_after_write(vdb_store *store);

/* Wakes the background indexer (starting it when needed) for work other
 * than graph rows: pending field indexes (store_filter.h), calibration.
 * No locks held. */
void vdb_store_index_kick(vdb_store *store);

/* Before a checkpoint that will renumber rows (checkpoint mutex held): removes
 * the saved index file and syncs the directory. */
int vdb_store_index_before_compact(vdb_store *store, vdb_error *err);

/* After compaction renumbered rows (rw held exclusively): drops the graph
 * and starts a fresh one for the indexer to rebuild. */
void vdb_store_index_after_compact(vdb_store *store);

/* After a snapshot committed without renumbering (checkpoint mutex held,
 * writers may run): saves
 * the graph to hnsw.idx atomically (temp name, fsync, rename, dir sync). */
int vdb_store_index_save(vdb_store *store, vdb_error *err);

/* Blocks until the indexer has caught up with every row (optimize). */
void vdb_store_index_wait(vdb_store *store);

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
const vdb_store_index_ops *vdb_store_index_ops_of(vdb_store *store);

/* 1 when the graph can answer queries over `view` (rw held shared): there
 * is one and it covers at least half of the rows; else the caller scans. */
int vdb_store_index_ready(vdb_store *store, const vdb_vecview *view);

/* One query through the graph with the tail merged (rw held shared);
 * as vdb_store_index_search with nq 1. */
int vdb_store_index_graph(vdb_store *store, const vdb_vecview *view, const float *query, size_t k,
                          uint32_t ef, const vdb_filter_hook *hook, vdb_hit *hits, size_t *count,
                          vdb_error *err);

/* Bumped whenever rows are renumbered (compaction); lets a long reader
 * (calibration) notice that row ids changed between its lock holds. */
uint64_t vdb_store_index_epoch(vdb_store *store);

/* Answers queries from the graph (rw held shared); only when
 * vdb_store_index_ready said yes (VDB_EINTERNAL otherwise). ef 0 = store
 * default. Errors: VDB_ENOMEM and the search's. */
int vdb_store_index_search(vdb_store *store, const vdb_vecview *view, const float *queries,
                           size_t nq, size_t k, uint32_t ef, const vdb_filter_hook *hook,
                           vdb_hit *hits, size_t *counts, vdb_error *err);

/* For stats (rw held shared): "hnsw" or "flat", graph bytes, indexed rows. */
const char *vdb_store_index_name(vdb_store *store);
size_t vdb_store_index_memory(vdb_store *store);
uint32_t vdb_store_index_rows(vdb_store *store);

#endif
