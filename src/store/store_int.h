/* The store's state, shared by store.c (open, writes, checkpoint) and
 * store_read.c (queries, lookups, stats). Not part of the API. */
#ifndef VDB_STORE_STORE_INT_H
#define VDB_STORE_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lockfile.h"
#include "store.h"
#include "vecset.h"
#include "wal.h"

/* `writer` serializes writers (WAL order = apply order) and checkpoints;
 * `rw` guards the vecset: shared for reads and snapshot writing, exclusive
 * only while a record is applied in memory or tombstones are compacted. */
struct vdb_store {
    char *dir;
    vdb_store_config config;
    vdb_store_options options;
    vdb_lockfile *lock;
    vdb_vecset *set;
    vdb_wal *wal;
    pthread_rwlock_t rw;
    pthread_mutex_t writer;
    uint64_t snapshot_lsn;
    uint64_t snapshot_bytes; /* vectors.npz + metadata.jsonl of the last snapshot */
    _Atomic uint64_t checkpoints; /* read by stats without the writer mutex */
    uint64_t wal_dropped;
    struct vdb_store_index *index; /* store_index.c: HNSW graph and its indexer */
    struct vdb_store_calib *calib; /* calib.c: measured recall/cost curves */
    struct vdb_payload *payload;   /* store_filter.c: NULL until a filter is used */
    pthread_mutex_t fields_mutex;  /* guards fields_pending */
    char *fields_pending;          /* newline-terminated field paths to index (indexer) */
    _Atomic uint64_t q_exact, q_graph, q_candidates, q_widened; /* query.c plan counters */
    int config_dirty;              /* config changed since store.json (writer mutex) */
    unsigned pins;                 /* snapshot pins (writer mutex): no checkpoint while > 0 */
    uint64_t instance;             /* random per open: tells stores with one name apart */
    _Atomic uint64_t generation;   /* bumped by every applied write and compaction */
    struct vdb_store_bg *bg;       /* store_bg.c: background checkpoints; NULL = inline */
};

/* Checkpoints when the WAL is past the threshold (store.c), under the
 * writer mutex; a failure is logged. Called by the background thread. */
void vdb_store__checkpoint_if_due(vdb_store *store);

#endif
