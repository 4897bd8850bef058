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

/* `writer` serializes writers (WAL order = apply order); `checkpoint`
 * serializes checkpoints, compaction, index saves and dimension adoption
 * (checkpoint.c); `rw` guards the vecset: shared for reads and for each
 * chunk a snapshot copies, exclusive only while a record is applied in
 * memory or tombstones are compacted. Lock order: checkpoint, writer, rw. */
struct vdb_store {
    char *dir;
    vdb_store_config config;
    vdb_store_options options;
    vdb_lockfile *lock;
    vdb_vecset *set;
    vdb_wal *wal;
    pthread_rwlock_t rw;
    pthread_mutex_t writer;
    pthread_mutex_t checkpoint;
    /* snapshot_lsn and snapshot_bytes change with checkpoint and writer
     * both held, so either one makes reading them safe. */
    uint64_t snapshot_lsn;
    uint64_t snapshot_bytes; /* vectors.npz + metadata.jsonl of the last snapshot */
    /* The background checkpointer (checkpoint.c), started on first need. */
    pthread_mutex_t bg_mutex;      /* guards bg_pending, bg_stop, bg_running */
    pthread_cond_t bg_wake;
    pthread_t bg_thread;
    int bg_running, bg_pending, bg_stop;
    uint64_t bg_failed_at;         /* WAL size at the last failed attempt (checkpoint mutex) */
    _Atomic uint64_t checkpoints; /* read by stats without the writer mutex */
    uint64_t wal_dropped;
    struct vdb_store_index *index; /* store_index.c: HNSW graph and its indexer */
    struct vdb_store_calib *calib; /* calib.c: measured recall/cost curves */
    struct vdb_payload *payload;   /* store_filter.c: NULL until a filter is used */
    struct vdb_store_codes *codes; /* store_codes.c: quantized codes (rw guard) */
    pthread_mutex_t fields_mutex;  /* guards fields_pending */
    char *fields_pending;          /* newline-terminated field paths to index (indexer) */
    _Atomic uint64_t q_exact, q_graph, q_candidates, q_widened; /* query.c plan counters */
    int config_dirty;              /* config changed since store.json (writer mutex) */
    unsigned pins;                 /* snapshot pins (writer mutex): no checkpoint while > 0 */
    uint64_t instance;             /* random per open: tells stores with one name apart */
    _Atomic uint64_t generation;   /* bumped by every applied write and compaction */
};

/* store.c: VDB_OK, or VDB_EREADONLY when opened read-only or the WAL failed. */
int vdb_store__writable(vdb_store *store, vdb_error *err);

/* checkpoint.c. With `checkpoint` held (and not `writer`): writes a
 * snapshot while writers go on, then shrinks the WAL and compacts. */
int vdb_store__checkpoint(vdb_store *store, vdb_error *err);
/* After a durable write (no lock held): wakes the background checkpointer
 * when the WAL has grown past the threshold. Never waits for it. */
void vdb_store__checkpoint_soon(vdb_store *store);
/* Stops and joins the background checkpointer (close, before the final
 * checkpoint). */
void vdb_store__checkpointer_stop(vdb_store *store);

#endif
