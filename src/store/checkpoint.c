/* Checkpoints of a store: a new snapshot written while writers go on, then
 * the WAL shrunk to what the snapshot lacks (issue 13).
 *
 * Until issue 13 a checkpoint held the writer mutex from start to end: at
 * 1M x 384 every write waited ~4-9 s for the closing one. Now the writer
 * mutex is held only for three short steps, and the long work runs beside
 * the writers:
 *
 *   1. CAPTURE (writer mutex): the LSN, the WAL end offset and the row
 *      count, plus a copy of the tombstone bits (rows/64 words). Rows are
 *      append-only between compactions and a row's vector never changes,
 *      so "rows [0, R) minus those tombstones" is exactly the state at
 *      that LSN, and stays readable while later writes append past R.
 *   2. WRITE (no writer mutex): the snapshot of those rows, read under the
 *      rw lock a chunk at a time (snapshot.h: vdb_snapshot_rows), then its
 *      commit (manifest, renames). Writers keep appending to the WAL.
 *   3. WAL (writer mutex only for the tail): the records after the
 *      captured offset, i.e. the writes that came in during step 2, are
 *      copied into a new log while writers go on; with the mutex held,
 *      the last few are copied and the new log renamed into place
 *      (wal.h: vdb_wal_rewrite_*).
 *   4. COMPACT (only when the capture had tombstones): drop the rows the
 *      snapshot left out, and only those, so row numbers in memory equal
 *      what a reopen rebuilds (snapshot rows, then every row the tail's
 *      replay appends). The snapshot just written holds exactly the kept
 *      rows in order, so the new row array is that file, mapped as an
 *      open maps it, plus a copy of the rows appended since the capture
 *      (vecset.h: relocation), built beside the writers; the writer mutex
 *      and the rw lock are held only to copy the last few appended rows,
 *      renumber the id map (one pass over its slots) and swap: 24 ms at
 *      1M x 384, where moving the rows in place took 0.6-2.4 s (that
 *      remains the fallback, e.g. when the file cannot be mapped).
 *      Before it, the graph is repaired locally around the dropped rows
 *      (store_index.h); the compaction then renumbers the graph with the
 *      rows instead of rebuilding it, and the graph is saved again. The
 *      filter's, codes' and graph's renumbering still run with writers
 *      held off (each linear in its own size).
 *
 * Crash safety is the snapshot's and the WAL's: a crash before the
 * snapshot commit leaves the old snapshot and the whole WAL; after it, the
 * new snapshot and either the whole old WAL or the rewritten one, and
 * replay skips records at or below the snapshot LSN in both.
 *
 * `store->checkpoint` serializes checkpoints, compaction, index saves and
 * dimension adoption (lock order: checkpoint, then writer, then rw).
 * Checkpoints past the WAL threshold run on a background thread, so the
 * write that crosses the threshold returns as soon as it is durable. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/alloc.h"
#include "../core/log.h"
#include "../core/pool.h"
#include "calib.h"
#include "snapshot.h"
#include "store_codes.h"
#include "store_filter.h"
#include "store_index.h"
#include "store_int.h"

/* The commit step copies at most about this much with the writer mutex
 * held; larger tails are copied in rounds beside the writers first. */
#define TAIL_LOCKED_BYTES (1u << 20)
#define TAIL_ROUNDS 4

/* Saves the HNSW graph beside a snapshot with the same row numbering; a
 * failure only costs a rebuild at the next open, so it is logged. */
static void save_index(vdb_store *store)
{
    vdb_error err;
    vdb_error_clear(&err);
    if (vdb_store__index_save(store, &err) != VDB_OK)
        vdb_log_warn("%s: saving the index failed (it is rebuilt at the next open): %s",
                     store->dir, err.msg);
}

typedef struct capture {
    uint64_t lsn;
    uint64_t wal_from;     /* WAL offset of the first record after lsn */
    uint32_t rows;
    uint64_t *dropped;     /* tombstones among rows [0, rows); NULL when none */
    vdb_store_config config;
    int config_dirty;
    uint64_t number;       /* this checkpoint's count */
    int pinned;            /* an export holds the files: touch nothing */
} capture;

/* Step 1. Returns 1 when there is something to write, 0 when not, or a
 * negative code. */
static int capture_state(vdb_store *store, capture *c, vdb_error *err)
{
    int rc;
    memset(c, 0, sizeof(*c));
    pthread_mutex_lock(&store->writer);
    if ((rc = vdb_store__writable(store, err)) != VDB_OK)
        goto out;
    if (store->pins > 0) {
        c->pinned = 1; /* an export is reading the files; the WAL keeps the data */
        goto out;
    }
    vdb_wal_mark(store->wal, &c->lsn, &c->wal_from);
    c->rows = vdb_vecset_rows(store->set);
    if (c->lsn == store->snapshot_lsn && c->rows == vdb_vecset_count(store->set) &&
        !store->config_dirty)
        goto out; /* the data is unchanged (the graph may have grown) */
    if (c->rows != vdb_vecset_count(store->set)) {
        c->dropped = vdb_malloc(((size_t)c->rows + 63) / 64 * sizeof(uint64_t));
        if (c->dropped == NULL) {
            rc = vdb_error_set(err, VDB_ENOMEM, "checkpoint: no memory for %u rows", c->rows);
            goto out;
        }
        vdb_vecset_tombstones(store->set, c->rows, c->dropped);
    }
    c->config = store->config;
    c->config_dirty = store->config_dirty;
    store->config_dirty = 0; /* a change from now on sets it again */
    c->number = atomic_load(&store->checkpoints) + 1;
    rc = 1;
out:
    pthread_mutex_unlock(&store->writer);
    return rc;
}

/* Step 3: the WAL keeps only the records after the capture. A failure
 * before the rename leaves the longer log in use, which replay handles
 * (it skips what the snapshot holds). */
static int shrink_wal(vdb_store *store, uint64_t from, double *held_ms, vdb_error *err)
{
    double t0;
    vdb_wal_rewrite *rewrite;
    uint64_t lsn, to, copied;
    int rc, renamed = 0;
    pthread_mutex_lock(&store->writer);
    vdb_wal_mark(store->wal, &lsn, &to);
    pthread_mutex_unlock(&store->writer);
    if ((rc = vdb_wal_rewrite_begin(store->wal, from, to, &rewrite, err)) != VDB_OK)
        return rc;
    copied = to;
    for (int round = 0; round < TAIL_ROUNDS; round++) {
        pthread_mutex_lock(&store->writer);
        vdb_wal_mark(store->wal, &lsn, &to);
        pthread_mutex_unlock(&store->writer);
        if (to - copied <= TAIL_LOCKED_BYTES)
            break;
        if ((rc = vdb_wal_rewrite_copy(rewrite, to, err)) != VDB_OK) {
            vdb_wal_rewrite_abort(rewrite);
            return rc;
        }
        copied = to;
    }
    pthread_mutex_lock(&store->writer);
    t0 = vdb_now_ms();
    rc = vdb_wal_rewrite_commit(store->wal, rewrite, &renamed, err);
    *held_ms = vdb_now_ms() - t0;
    pthread_mutex_unlock(&store->writer);
    if (renamed)
        vdb_wal_rewrite_free(rewrite); /* closes the old log: slow, so unlocked */
    return rc;
}

/* Derived state follows a compaction (rw held exclusively). */
static void after_compact(vdb_store *store, const uint32_t *old_to_new, uint32_t old_rows,
                          int *carried)
{
    atomic_fetch_add(&store->generation, 1); /* row numbers changed */
    vdb_store__filter_remap(store, old_to_new, old_rows);
    vdb_store__codes_after_compact(store, old_to_new, old_rows);
    *carried = vdb_store__index_after_compact(store, old_to_new, old_rows);
}

/* Step 4, in place: every row after the first dropped one moves with the
 * set to itself (seconds at 1M x 384). The fallback of relocate below.
 * Cannot fail; without memory for the row map the filter, codes and graph
 * are rebuilt instead of renumbered (each takes a NULL map that way). */
static void compact_in_place(vdb_store *store, const capture *c, double *held_ms, int *carried)
{
    uint32_t old_rows;
    uint32_t *old_to_new;
    double t0;
    pthread_mutex_lock(&store->writer);
    t0 = vdb_now_ms();
    old_rows = vdb_vecset_rows(store->set);
    old_to_new = vdb_malloc(((size_t)old_rows + 1) * sizeof(uint32_t));
    pthread_rwlock_wrlock(&store->rw);
    vdb_vecset_compact_some(store->set, c->rows, c->dropped, old_to_new);
    after_compact(store, old_to_new, old_rows, carried);
    pthread_rwlock_unlock(&store->rw);
    *held_ms = vdb_now_ms() - t0;
    pthread_mutex_unlock(&store->writer);
    vdb_free(old_to_new);
}

/* Rows copied per round with the readers' guard held shared (~1 ms each
 * for the per-row entries); once fewer than RELOC_LOCKED_ROWS appended rows
 * are left, the commit copies them with the set to itself. */
#define RELOC_CHUNK_ROWS 65536u
#define RELOC_LOCKED_ROWS 4096u
#define RELOC_TAIL_ROUNDS 8

/* Step 4 beside the writers (vecset.h: relocation): the snapshot just
 * written holds the kept rows in order, so they are mapped from it instead
 * of moved; the rows appended since are copied behind them in rounds, and
 * only the last few, the id map's renumbering (one pass over its slots)
 * and the swap hold writers off. Returns 0, or -1 when it could not (the
 * caller then compacts in place; nothing changed). */
static int compact_relocate(vdb_store *store, const capture *c, const vdb_snapshot_info *snap,
                            double *held_ms, int *carried)
{
    vdb_vecfile *file = NULL;
    vdb_vecset_reloc *reloc = NULL;
    const uint32_t *old_to_new;
    uint32_t old_rows, left = UINT32_MAX;
    vdb_error err;
    double t0;
    int rc, rounds = 0, max_rounds = (int)(c->rows / RELOC_CHUNK_ROWS) + 1 + RELOC_TAIL_ROUNDS;
    vdb_error_clear(&err);
    if ((rc = vdb_snapshot_open_vectors(store->dir, snap, &file, &err)) == VDB_OK) {
        pthread_rwlock_rdlock(&store->rw);
        rc = vdb_vecset_relocate_begin(store->set, vdb_vecfile_fd(file),
                                       vdb_vecfile_data_offset(file), (uint32_t)snap->rows,
                                       c->rows, c->dropped, &reloc, &err);
        pthread_rwlock_unlock(&store->rw);
        vdb_vecfile_close(file); /* the mapping keeps the file */
    }
    /* The kept rows first, then the appended ones until few are left. */
    while (rc == VDB_OK && left > RELOC_LOCKED_ROWS && rounds++ < max_rounds) {
        pthread_rwlock_rdlock(&store->rw);
        rc = vdb_vecset_relocate_copy(store->set, reloc, RELOC_CHUNK_ROWS, &left, &err);
        pthread_rwlock_unlock(&store->rw);
    }
    if (rc == VDB_OK) {
        pthread_mutex_lock(&store->writer);
        t0 = vdb_now_ms();
        pthread_rwlock_wrlock(&store->rw);
        rc = vdb_vecset_relocate_commit(store->set, reloc, &old_to_new, &old_rows, &err);
        if (rc == VDB_OK)
            after_compact(store, old_to_new, old_rows, carried);
        pthread_rwlock_unlock(&store->rw);
        *held_ms = vdb_now_ms() - t0;
        pthread_mutex_unlock(&store->writer);
    }
    /* The replaced rows' memory goes back with no lock held (unmapping
     * 1.5 GB takes a while). */
    vdb_vecset_relocate_free(reloc);
    if (rc != VDB_OK) {
        vdb_log_warn("%s: compacting beside the writers failed, compacting in place: %s",
                     store->dir, err.msg);
        return -1;
    }
    return 0;
}

/* Step 4 (only with tombstones at the capture). Cannot fail. */
static void compact(vdb_store *store, const capture *c, const vdb_snapshot_info *snap,
                    double *held_ms, int *carried)
{
    if (compact_relocate(store, c, snap, held_ms, carried) != 0)
        compact_in_place(store, c, held_ms, carried);
}

/* A checkpoint with the graph handled per `mode` (store.h) when it
 * compacts; `info` (optional) says what was done. */
static int checkpoint_run(vdb_store *store, vdb_store_graph_mode mode,
                          vdb_store_optimize_info *info, vdb_error *err)
{
    vdb_snapshot_info snap;
    vdb_snapshot_rows sel;
    capture c;
    double start = vdb_now_ms(), written, wal_ms = 0, compact_ms = 0, repair_s = 0;
    int carried = 0;
    int rc = capture_state(store, &c, err);
    if (rc <= 0) {
        if (rc == 0 && !c.pinned)
            save_index(store);
        return rc;
    }
    /* Compaction renumbers rows: the saved graph must go first. */
    if (c.dropped != NULL && (rc = vdb_store__index_before_compact(store, err)) != VDB_OK)
        goto fail;
    sel.rows = c.rows;
    sel.deleted = c.dropped;
    sel.guard = &store->rw;
    if ((rc = vdb_snapshot_write(store->dir, &c.config, c.lsn, c.number, store->set, &sel, &snap,
                                 err)) != VDB_OK)
        goto fail;
    pthread_mutex_lock(&store->writer);
    store->snapshot_lsn = c.lsn;
    store->snapshot_bytes = snap.vectors_size + snap.meta_size;
    atomic_store(&store->checkpoints, c.number);
    pthread_mutex_unlock(&store->writer);
    /* The snapshot is committed: whatever happens next, it stands. */
    written = vdb_now_ms();
    rc = shrink_wal(store, c.wal_from, &wal_ms, err);
    if (c.dropped != NULL) {
        vdb_store__index_repair(store, c.rows, c.dropped, mode, &repair_s);
        compact(store, &c, &snap, &compact_ms, &carried);
        if (info != NULL) {
            info->rows_dropped = c.rows - (size_t)snap.rows;
            info->deleted_fraction = c.rows > 0 ? (double)info->rows_dropped / c.rows : 0;
            pthread_rwlock_rdlock(&store->rw);
            int graph = vdb_store__index_ops_of(store)->kind == VDB_STORE_ENGINE_HNSW;
            pthread_rwlock_unlock(&store->rw);
            info->graph = carried ? "repaired" : graph ? "rebuilt" : "none";
            info->graph_seconds = repair_s;
        }
    }
    /* Without renumbering, or with the repaired graph renumbered: the
     * graph matches the new snapshot's rows. */
    if (c.dropped == NULL || carried)
        save_index(store);
    /* The figures issue 13 is about: how long writers were held off. */
    vdb_log_info("%s: checkpoint %llu (LSN %llu, %llu rows): snapshot %.0f ms beside the "
                 "writers, WAL %.0f ms; writers held off %.1f ms for the WAL switch, %.1f ms "
                 "for compaction", store->dir, (unsigned long long)c.number,
                 (unsigned long long)c.lsn, (unsigned long long)snap.rows, written - start,
                 vdb_now_ms() - written, wal_ms, compact_ms);
    vdb_free(c.dropped);
    return rc;
fail:
    if (c.config_dirty) {
        pthread_mutex_lock(&store->writer);
        store->config_dirty = 1;
        pthread_mutex_unlock(&store->writer);
    }
    vdb_free(c.dropped);
    return rc;
}

int vdb_store__checkpoint(vdb_store *store, vdb_error *err)
{
    return checkpoint_run(store, VDB_STORE_GRAPH_AUTO, NULL, err);
}

int vdb_store_checkpoint(vdb_store *store, vdb_error *err)
{
    int rc;
    pthread_mutex_lock(&store->checkpoint);
    rc = vdb_store__checkpoint(store, err);
    pthread_mutex_unlock(&store->checkpoint);
    return rc;
}

/* ---- the background checkpointer ---- */

/* The WAL size that triggers a checkpoint: the configured bytes, or half
 * the last snapshot when that is larger. A checkpoint rewrites the whole
 * snapshot, so a fixed threshold would make bulk loading quadratic (a
 * 1.5 GB store rewritten every 64 MiB); tying it to the snapshot size keeps
 * the rewrite cost a constant factor per byte logged (Redis'
 * auto-aof-rewrite-percentage), at the price of a longer replay after a
 * crash (bounded by half the data). Read with the checkpoint mutex held
 * (snapshot_bytes changes only under it). */
static uint64_t checkpoint_threshold(const vdb_store *store)
{
    uint64_t half = store->snapshot_bytes / 2;
    uint64_t limit = half > store->options.wal_checkpoint_bytes
                         ? half : store->options.wal_checkpoint_bytes;
    /* After a failure, wait for another threshold's worth of log instead of
     * rewriting the whole snapshot again after every write. */
    return store->bg_failed_at > 0 ? store->bg_failed_at + limit : limit;
}

static void background_checkpoint(vdb_store *store)
{
    vdb_error err;
    vdb_error_clear(&err);
    pthread_mutex_lock(&store->checkpoint);
    if (vdb_wal_size(store->wal) >= checkpoint_threshold(store)) {
        if (vdb_store__checkpoint(store, &err) != VDB_OK) {
            store->bg_failed_at = vdb_wal_size(store->wal);
            vdb_log_warn("%s: checkpoint failed (the WAL keeps the data): %s", store->dir,
                         err.msg);
        } else {
            store->bg_failed_at = 0;
        }
    }
    pthread_mutex_unlock(&store->checkpoint);
}

static void *checkpointer_main(void *arg)
{
    vdb_store *store = arg;
    /* Background work yields the CPU to requests, as the indexer does: at
     * normal priority the checkpoints a bulk load triggers (snapshot
     * copies, ~0.75 s of CPU per 100k x 384 rows) ran beside the request
     * threads on a 2-core machine (issue 12). Writers never wait for the
     * long phase; the writer mutex is held only for its short steps. */
    vdb_pool_use_background();
    pthread_mutex_lock(&store->bg_mutex);
    while (!store->bg_stop) {
        if (!store->bg_pending) {
            pthread_cond_wait(&store->bg_wake, &store->bg_mutex);
            continue;
        }
        store->bg_pending = 0;
        pthread_mutex_unlock(&store->bg_mutex);
        background_checkpoint(store);
        pthread_mutex_lock(&store->bg_mutex);
    }
    pthread_mutex_unlock(&store->bg_mutex);
    return NULL;
}

void vdb_store__checkpoint_soon(vdb_store *store)
{
    if (vdb_wal_size(store->wal) < store->options.wal_checkpoint_bytes)
        return;
    pthread_mutex_lock(&store->bg_mutex);
    if (!store->bg_running && !store->bg_stop) {
        if (pthread_create(&store->bg_thread, NULL, checkpointer_main, store) == 0)
            store->bg_running = 1;
        else
            vdb_log_error("%s: cannot start the checkpointer; the WAL keeps growing",
                          store->dir);
    }
    store->bg_pending = 1;
    pthread_cond_signal(&store->bg_wake);
    pthread_mutex_unlock(&store->bg_mutex);
}

void vdb_store__checkpointer_init(vdb_store *store)
{
    pthread_mutex_init(&store->bg_mutex, NULL);
    pthread_cond_init(&store->bg_wake, NULL);
}

void vdb_store__checkpointer_destroy(vdb_store *store)
{
    pthread_cond_destroy(&store->bg_wake);
    pthread_mutex_destroy(&store->bg_mutex);
}

void vdb_store__checkpointer_stop(vdb_store *store)
{
    int running;
    pthread_mutex_lock(&store->bg_mutex);
    store->bg_stop = 1;
    running = store->bg_running;
    pthread_cond_signal(&store->bg_wake);
    pthread_mutex_unlock(&store->bg_mutex);
    if (running)
        pthread_join(store->bg_thread, NULL);
}

/* ---- pins, optimize ---- */

int vdb_store_snapshot_pin(vdb_store *store, vdb_error *err)
{
    int rc;
    pthread_mutex_lock(&store->checkpoint);
    rc = vdb_store__checkpoint(store, err);
    if (rc == VDB_OK) {
        pthread_mutex_lock(&store->writer);
        store->pins++;
        pthread_mutex_unlock(&store->writer);
    }
    pthread_mutex_unlock(&store->checkpoint);
    return rc;
}

void vdb_store_snapshot_unpin(vdb_store *store)
{
    pthread_mutex_lock(&store->writer);
    if (store->pins > 0)
        store->pins--;
    pthread_mutex_unlock(&store->writer);
}

int vdb_store_optimize_mode(vdb_store *store, vdb_store_graph_mode mode,
                            vdb_store_optimize_info *info, vdb_error *err)
{
    vdb_store_optimize_info local = {0, 0, 0, "none", 0, 0};
    double t0;
    int rc;
    /* The checkpoint compacts tombstones, repairing the graph or restarting
     * it per `mode`; optimize then waits until the graph covers every row,
     * so recall is whole again when it returns. */
    pthread_mutex_lock(&store->checkpoint);
    rc = checkpoint_run(store, mode, &local, err);
    if (rc == VDB_OK && mode == VDB_STORE_GRAPH_REBUILD && local.rows_dropped == 0 &&
        vdb_store__index_restart(store))
        local.graph = "rebuilt";
    pthread_mutex_unlock(&store->checkpoint);
    if (rc == VDB_OK) {
        /* ... and measured again: optimize is when an operator asks for
         * the store's best state, recall figures included. A repaired
         * graph is re-checked (its compaction asked for that, calib.h):
         * the whole ladder again cost ~70% of a rebuild's optimize. When
         * the store scans at its target there is nothing to re-check and
         * its answers there are exact: the full run that restores the
         * other targets' curves is not waited for (at 1M x 128 it was
         * 3-4x the rest of the call). */
        if (strcmp(local.graph, "repaired") != 0)
            vdb_store__calib_invalidate(store);
        uint64_t marks = vdb_store__calib_marks(store);
        t0 = vdb_now_ms();
        vdb_store__index_wait_graph(store);
        if (strcmp(local.graph, "rebuilt") == 0)
            local.graph_seconds = (vdb_now_ms() - t0) / 1e3;
        vdb_store__index_wait_settled(store, marks);
        local.calibrating = vdb_store_calib_due(store) || vdb_store_calib_running(store);
        local.vectors = vdb_store_count(store);
        if (info != NULL)
            *info = local;
    }
    return rc;
}

void vdb_store_wait_idle(vdb_store *store)
{
    vdb_store__index_wait(store);
}

void vdb_store_wait_indexed(vdb_store *store)
{
    vdb_store__index_wait_graph(store);
}

int vdb_store_optimize(vdb_store *store, size_t *vectors_out, vdb_error *err)
{
    vdb_store_optimize_info info;
    int rc = vdb_store_optimize_mode(store, VDB_STORE_GRAPH_AUTO, &info, err);
    if (rc == VDB_OK && vectors_out != NULL)
        *vectors_out = info.vectors;
    return rc;
}
