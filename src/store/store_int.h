/* The store's state, shared by the store's parts: store.c (open, writes,
 * close), store_read.c (lookups, counts, stats), store_tail.c (the WAL tail
 * for replicas), checkpoint.c (snapshots, compaction, pins), and the parts
 * with their own headers: store_index.c (store_index.h), store_codes.c
 * (store_codes.h), store_filter.c (store_filter.h), calib.c (calib.h) and
 * query.c (query.h). Not part of the API.
 *
 * The fields are grouped by the part that owns them: only the owner writes
 * them (through its functions, declared with vdb_store__ names in its own
 * header); other parts read the core group directly and reach a part's
 * state only through that part's functions. The query path reads the core
 * group and its own counters, with no call per row. */
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
    /* ---- core (store.c; read by every part) ---- */
    char *dir;
    vdb_store_config config;
    vdb_store_options options;
    vdb_lockfile *lock;
    vdb_vecset *set;
    vdb_wal *wal;
    pthread_rwlock_t rw;
    pthread_mutex_t writer;
    pthread_mutex_t checkpoint;
    int config_dirty;            /* config changed since store.json (writer mutex) */
    uint64_t instance;           /* random per open: tells stores with one name apart */
    _Atomic uint64_t generation; /* bumped by every applied write and compaction */
    uint64_t wal_dropped;        /* WAL bytes dropped at open (a torn tail) */
    /* snapshot_lsn and snapshot_bytes change with checkpoint and writer
     * both held (checkpoint.c, and store.c at open), so either one makes
     * reading them safe. */
    uint64_t snapshot_lsn;
    uint64_t snapshot_bytes; /* vectors.npz + metadata.jsonl of the last snapshot */

    /* ---- checkpoint.c: the background checkpointer and pins ---- */
    pthread_mutex_t bg_mutex; /* guards bg_pending, bg_stop, bg_running */
    pthread_cond_t bg_wake;
    pthread_t bg_thread;
    int bg_running, bg_pending, bg_stop;
    uint64_t bg_failed_at;        /* WAL size at the last failed attempt (checkpoint mutex) */
    _Atomic uint64_t checkpoints; /* read by stats without the writer mutex */
    unsigned pins;                /* snapshot pins (writer mutex): no checkpoint while > 0 */

    /* ---- the parts with their own state, each behind its header ---- */
    struct vdb_store_index *index; /* store_index.c: HNSW graph and its indexer */
    struct vdb_store_codes *codes; /* store_codes.c: quantized codes (rw guard) */
    struct vdb_store_calib *calib; /* calib.c: measured recall/cost curves */

    /* ---- store_filter.c: payload and the fields waiting for an index ---- */
    struct vdb_payload *payload;  /* NULL until a filter is used */
    pthread_mutex_t fields_mutex; /* guards fields_pending */
    char *fields_pending;         /* newline-terminated field paths to index (indexer) */

    /* ---- query.c: plan counters (relaxed atomics) ---- */
    _Atomic uint64_t q_exact, q_graph, q_candidates, q_widened;
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
/* The checkpointer's lock and condition: set up by open before any thread
 * can use them, destroyed by the teardown after the thread is joined. */
void vdb_store__checkpointer_init(vdb_store *store);
void vdb_store__checkpointer_destroy(vdb_store *store);

#endif
