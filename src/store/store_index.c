/* HNSW index manager of a store; see store_index.h for the model.
 *
 * Locking: the graph pointer is replaced only under the store's rw lock held
 * exclusively; the indexer inserts under the rw lock held shared (the HNSW
 * index supports concurrent inserts and searches), one chunk at a time so a
 * writer waiting for the exclusive lock waits at most one chunk. `upto` is
 * atomic: searches read it under the shared lock and treat rows at or past
 * it as the unindexed tail. */
#include "store_index.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/log.h"
#include "../core/pool.h"
#include "../index/hnsw.h"
#include "calib.h"
#include "store_filter.h"
#include "store_int.h"

/* Rows inserted per read-guard hold by the indexer, per pool thread: a
 * write waits for the exclusive guard (only to publish its rows: the copy
 * happens outside it) at most one chunk, and the lock prefers writers, so
 * one gets in between chunks. 16 inserts per thread are ~3-5 ms at 384-d
 * (64 rows in all on 2 threads made JSON ingest wait ~10-20 ms per batch
 * while the indexer ran). */
#define INDEX_CHUNK_PER_THREAD 16

/* The indexer saves hnsw.idx once the graph has grown by a quarter since
 * the last save and by at least this many rows (see maybe_save). */
#define INDEX_SAVE_MIN 4096

struct vdb_store_index {
    vdb_hnsw *hnsw;          /* NULL: the store searches exactly */
    _Atomic uint32_t upto;   /* rows [0, upto) were offered to the graph */
    uint32_t saved_rows;     /* graph rows in hnsw.idx (checkpoint mutex) */
    pthread_t thread;
    int thread_running;
    pthread_mutex_t mutex;
    pthread_cond_t wake;     /* new rows, or stop */
    pthread_cond_t idle;     /* the indexer caught up */
    _Atomic int stopping;  /* read by catch_up without the mutex */
    _Atomic int stop_calib; /* set with stopping: calibration polls it */
    _Atomic uint64_t epoch;  /* bumped when rows are renumbered (compaction) */
    int pending;
    int busy;
    int repaired;            /* the graph lost this compaction's rows (checkpoint mutex) */
};

static int hnsw_wanted(const vdb_store *store)
{
    const vdb_store_config *c = &store->config;
    if (c->index == VDB_INDEX_HNSW)
        return 1;
    return c->index == VDB_INDEX_AUTO && vdb_vecset_count(store->set) >= c->hnsw_threshold;
}

static int new_graph(const vdb_store *store, vdb_hnsw **out, vdb_error *err)
{
    vdb_hnsw_params params;
    vdb_hnsw_params_default(&params);
    params.m = store->config.hnsw_m;
    params.ef_construction = store->config.hnsw_ef_construction;
    params.ef_search = store->config.hnsw_ef_search;
    return vdb_hnsw_new(store->config.dim, store->config.metric, &params, out, err);
}

/* Saves the graph from the indexer once it has grown by a quarter since the
 * last save (and by INDEX_SAVE_MIN rows). Before, hnsw.idx was written only
 * at checkpoints, which a store under the WAL threshold (64 MiB: 40,000
 * vectors of 384-d) never reaches: after every kill -9 the whole graph was
 * rebuilt, and writes competed with the rebuild (issue 11 item 11). Now a
 * restart re-indexes at most the unsaved tail, and the quarter keeps the
 * total cost of saving linear in the rows indexed. The save runs under the
 * checkpoint mutex, which orders it against a compaction (that removes the
 * file before renumbering rows); trylock, so a running checkpoint is never
 * waited for and the next chunk tries again. A saved graph that covers rows a
 * crash then lost is refused at open (load_graph's row check). The
 * checkpoint mutex (not the writer's, since issue 13) is what orders the
 * save against a compaction, which removes the file before renumbering. */
static void maybe_save(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    vdb_error err;
    if (pthread_mutex_trylock(&store->checkpoint) != 0)
        return;
    if (!atomic_load(&ix->stopping) && ix->hnsw != NULL) {
        uint32_t rows = vdb_hnsw_rows(ix->hnsw), saved = ix->saved_rows;
        vdb_error_clear(&err);
        if (rows >= saved + INDEX_SAVE_MIN && rows - saved >= saved / 4 &&
            vdb_store__index_save(store, &err) != VDB_OK)
            vdb_log_warn("%s: saving the index failed (the next save retries): %s", store->dir,
                         err.msg);
    }
    pthread_mutex_unlock(&store->checkpoint);
}

/* Inserts rows until the graph covers the vecset or the store stops. */
static void catch_up(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    for (;;) {
        vdb_vecview view;
        vdb_error err;
        uint32_t from, to, chunk;
        int rc;
        pthread_rwlock_rdlock(&store->rw);
        view = vdb_vecset_view(store->set);
        from = atomic_load(&ix->upto);
        if (ix->hnsw == NULL || from >= view.n || ix->stopping) {
            pthread_rwlock_unlock(&store->rw);
            return;
        }
        chunk = (uint32_t)vdb_pool_threads(vdb_pool_global()) * INDEX_CHUNK_PER_THREAD;
        to = view.n - from > chunk ? from + chunk : view.n;
        vdb_error_clear(&err);
        rc = vdb_hnsw_build(ix->hnsw, &view, from, to, &err);
        if (rc == VDB_OK)
            atomic_store(&ix->upto, to);
        pthread_rwlock_unlock(&store->rw);
        if (rc != VDB_OK) {
            /* Queries stay correct (the tail is scanned exactly); the next
             * write retries. */
            vdb_log_error("%s: HNSW indexing of rows %u..%u failed: %s", store->dir, from, to,
                          err.msg);
            return;
        }
        maybe_save(store);
    }
}

/* Once the graph covers every row, measures it when the calibration is
 * missing or stale (calib.h). Runs on the indexer thread, so it never
 * delays a write; a write arriving meanwhile is indexed afterwards (its
 * rows are scanned exactly as the tail until then). */
static void maybe_calibrate(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    vdb_error err;
    int covered;
    pthread_rwlock_rdlock(&store->rw);
    covered = ix->hnsw != NULL && atomic_load(&ix->upto) >= vdb_vecset_rows(store->set);
    pthread_rwlock_unlock(&store->rw);
    if (!covered || ix->stopping || !vdb_store_calib_due(store))
        return;
    vdb_error_clear(&err);
    if (vdb_store__calib_run(store, &ix->stop_calib, &err) != VDB_OK) {
        if (!ix->stopping)
            vdb_log_warn("%s: calibration not finished: %s", store->dir, err.msg);
        return;
    }
    /* Due again already (real queries doubled or the store grew while it
     * measured): once more, after catching up. Nothing else would start
     * it: the query that made it due kicked while this one ran. */
    if (vdb_store_calib_due(store)) {
        pthread_mutex_lock(&ix->mutex);
        ix->pending = 1;
        pthread_mutex_unlock(&ix->mutex);
    }
}

static void *indexer_main(void *arg)
{
    vdb_store *store = arg;
    vdb_store_index *ix = store->index;
    /* Background work yields the CPU to requests: on a busy server the
     * indexer ran at the same weight as the request threads and took half
     * of two cores from JSON ingest (issue 12). Searches stay correct while
     * it lags (the unindexed tail is scanned exactly). This lowers the
     * thread to VDB_POOL_BACKGROUND_NICE and sends its graph inserts,
     * repairs and calibration to the background pool, whose workers are
     * niced too (a thread's nice value does not pass to the process-wide
     * pool's workers, which did most of the inserts at full priority). */
    vdb_pool_use_background();
    pthread_mutex_lock(&ix->mutex);
    while (!ix->stopping) {
        if (!ix->pending) {
            ix->busy = 0;
            pthread_cond_broadcast(&ix->idle);
            pthread_cond_wait(&ix->wake, &ix->mutex);
            continue;
        }
        ix->pending = 0;
        ix->busy = 1;
        pthread_mutex_unlock(&ix->mutex);
        catch_up(store);
        /* The graph is whole now: wake vdb_store__index_wait_graph before
         * the field indexes and calibration. */
        pthread_mutex_lock(&ix->mutex);
        pthread_cond_broadcast(&ix->idle);
        pthread_mutex_unlock(&ix->mutex);
        vdb_store__filter_index_pending(store);
        maybe_calibrate(store);
        pthread_mutex_lock(&ix->mutex);
    }
    ix->busy = 0;
    pthread_cond_broadcast(&ix->idle);
    pthread_mutex_unlock(&ix->mutex);
    return NULL;
}

static void wake_indexer(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    pthread_mutex_lock(&ix->mutex);
    ix->pending = 1;
    ix->busy = 1;
    if (!ix->thread_running && !ix->stopping) {
        if (pthread_create(&ix->thread, NULL, indexer_main, store) == 0)
            ix->thread_running = 1;
        else
            vdb_log_error("%s: cannot start the HNSW indexer; searches stay exact", store->dir);
    }
    pthread_cond_signal(&ix->wake);
    pthread_mutex_unlock(&ix->mutex);
}

/* Loads hnsw.idx; NULL (with a log line saying why) when it cannot be used. */
static vdb_hnsw *load_graph(vdb_store *store)
{
    char path[PATH_MAX];
    vdb_error err;
    vdb_hnsw *hnsw;
    vdb_error_clear(&err);
    if (vdb_fsx_path(path, sizeof(path), store->dir, VDB_STORE_INDEX_FILE, &err) != VDB_OK)
        return NULL;
    int rc = vdb_hnsw_load(path, store->config.dim, store->config.metric, &hnsw, &err);
    if (rc != VDB_OK) {
        if (rc != VDB_ENOTFOUND)
            vdb_log_warn("%s: index file unusable, rebuilding it: %s", store->dir, err.msg);
        return NULL;
    }
    if (vdb_hnsw_rows(hnsw) > vdb_vecset_rows(store->set)) {
        vdb_log_warn("%s: index file covers %u rows but the store has %u; rebuilding it",
                     store->dir, vdb_hnsw_rows(hnsw), vdb_vecset_rows(store->set));
        vdb_hnsw_free(hnsw);
        return NULL;
    }
    vdb_hnsw_set_ef_search(hnsw, store->config.hnsw_ef_search, NULL);
    return hnsw;
}

int vdb_store__index_open(vdb_store *store, vdb_error *err)
{
    vdb_store_index *ix = vdb_calloc(1, sizeof(*ix));
    if (ix == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for the index manager");
    pthread_mutex_init(&ix->mutex, NULL);
    pthread_cond_init(&ix->wake, NULL);
    pthread_cond_init(&ix->idle, NULL);
    store->index = ix;
    if (!hnsw_wanted(store))
        return VDB_OK;
    ix->hnsw = load_graph(store);
    if (ix->hnsw != NULL) {
        atomic_store(&ix->upto, vdb_hnsw_rows(ix->hnsw));
        ix->saved_rows = vdb_hnsw_rows(ix->hnsw);
        vdb_log_info("%s: index loaded (%u rows; %u to catch up)", store->dir,
                     vdb_hnsw_rows(ix->hnsw), vdb_vecset_rows(store->set) - vdb_hnsw_rows(ix->hnsw));
    } else {
        int rc = new_graph(store, &ix->hnsw, err);
        if (rc != VDB_OK)
            return rc;
    }
    /* Rows to catch up, or no usable calibration (none saved, or calib.txt
     * of an older format): without a write to wake it the indexer would
     * not measure, and the store would scan until the next write. */
    if (atomic_load(&ix->upto) < vdb_vecset_rows(store->set) || vdb_store_calib_due(store))
        wake_indexer(store);
    return VDB_OK;
}

void vdb_store__index_close(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    if (ix == NULL)
        return;
    pthread_mutex_lock(&ix->mutex);
    ix->stopping = 1;
    atomic_store(&ix->stop_calib, 1);
    pthread_cond_signal(&ix->wake);
    pthread_mutex_unlock(&ix->mutex);
    if (ix->thread_running)
        pthread_join(ix->thread, NULL);
    vdb_hnsw_free(ix->hnsw);
    pthread_cond_destroy(&ix->idle);
    pthread_cond_destroy(&ix->wake);
    pthread_mutex_destroy(&ix->mutex);
    vdb_free(ix);
    store->index = NULL;
}

void vdb_store__index_after_write(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    if (ix == NULL)
        return;
    if (ix->hnsw == NULL) {
        vdb_error err;
        vdb_hnsw *fresh;
        if (!hnsw_wanted(store))
            return;
        vdb_error_clear(&err);
        if (new_graph(store, &fresh, &err) != VDB_OK) {
            vdb_log_error("%s: cannot create the HNSW index: %s", store->dir, err.msg);
            return;
        }
        pthread_rwlock_wrlock(&store->rw);
        ix->hnsw = fresh;
        atomic_store(&ix->upto, 0);
        pthread_rwlock_unlock(&store->rw);
        vdb_log_info("%s: %zu vectors: building an HNSW index in the background", store->dir,
                     vdb_vecset_count(store->set));
    }
    wake_indexer(store);
}

void vdb_store__index_kick(vdb_store *store)
{
    if (store->index != NULL)
        wake_indexer(store);
}

int vdb_store__index_before_compact(vdb_store *store, vdb_error *err)
{
    char path[PATH_MAX];
    int rc = vdb_fsx_path(path, sizeof(path), store->dir, VDB_STORE_INDEX_FILE, err);
    if (rc != VDB_OK)
        return rc;
    /* The file's row ids are about to change meaning: it must be gone, for
     * sure, before the renumbered snapshot can exist. */
    if (vdb_fsx_unlink(path, NULL) == VDB_OK)
        return vdb_fsx_dirsync(store->dir, err);
    return VDB_OK;
}

/* Drops the graph and starts an empty one for the indexer (rw held
 * exclusively). */
static void restart_graph(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    vdb_error err;
    vdb_hnsw_free(ix->hnsw);
    ix->saved_rows = 0;
    vdb_error_clear(&err);
    if (new_graph(store, &ix->hnsw, &err) != VDB_OK)
        vdb_log_error("%s: cannot restart the HNSW index: %s", store->dir, err.msg);
    atomic_store(&ix->upto, 0);
    if (ix->hnsw != NULL)
        wake_indexer(store);
}

int vdb_store__index_repair(vdb_store *store, uint32_t rows, const uint64_t *dropped,
                           int mode, double *seconds)
{
    vdb_store_index *ix = store->index;
    size_t dead = 0, removed = 0;
    vdb_error err;
    struct timespec t0, t1;
    int rc;
    *seconds = 0;
    if (ix == NULL || dropped == NULL || rows == 0 || mode == VDB_STORE_GRAPH_REBUILD)
        return 0;
    for (size_t w = 0; w < ((size_t)rows + 63) / 64; w++)
        dead += (size_t)__builtin_popcountll(dropped[w]);
    if (mode == VDB_STORE_GRAPH_AUTO && (double)dead >= VDB_STORE_REPAIR_MAX_FRACTION * rows)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vdb_error_clear(&err);
    /* Shared: the rows stay put and no graph swap happens (both need the
     * exclusive side); the repair itself excludes the indexer's inserts and
     * graph searches through the graph's own lock. Exactly the captured
     * tombstones leave the graph, the rows the compaction drops: a row
     * deleted since stays a node (routing, never returned) like any
     * tombstone, so the saved graph holds every row the snapshot plus the
     * WAL bring back, whether or not that later delete survives a crash. */
    pthread_rwlock_rdlock(&store->rw);
    vdb_vecview view = vdb_vecset_view(store->set);
    size_t words = ((size_t)view.n + 63) / 64, had = ((size_t)rows + 63) / 64;
    uint64_t *gone = vdb_calloc(words + 1, sizeof(uint64_t));
    if (gone == NULL) {
        rc = vdb_error_set(&err, VDB_ENOMEM, "no memory for %u tombstone bits", view.n);
    } else if (ix->hnsw == NULL) {
        rc = VDB_ENOTFOUND;
    } else {
        memcpy(gone, dropped, (had < words ? had : words) * sizeof(uint64_t));
        view.deleted = gone;
        rc = vdb_hnsw_repair(ix->hnsw, &view, &removed, &err);
    }
    pthread_rwlock_unlock(&store->rw);
    vdb_free(gone);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (rc != VDB_OK) {
        if (rc != VDB_ENOTFOUND)
            vdb_log_warn("%s: graph repair failed, rebuilding it instead: %s", store->dir,
                         err.msg);
        return 0;
    }
    ix->repaired = 1;
    vdb_log_info("%s: graph repaired: %zu deleted nodes removed (%zu of %u rows) in %.2f s",
                 store->dir, removed, dead, rows, *seconds);
    return 1;
}

int vdb_store__index_after_compact(vdb_store *store, const uint32_t *old_to_new,
                                  uint32_t old_rows)
{
    vdb_store_index *ix = store->index;
    vdb_error err;
    int repaired;
    if (ix == NULL)
        return 0;
    repaired = ix->repaired;
    ix->repaired = 0;
    if (ix->hnsw == NULL)
        return 0;
    atomic_fetch_add(&ix->epoch, 1);
    vdb_error_clear(&err);
    if (repaired && old_to_new != NULL &&
        vdb_hnsw_renumber(ix->hnsw, old_to_new, old_rows, &err) == VDB_OK) {
        /* Nearly the same graph: its picks are re-checked, not the whole
         * ladder measured again (calib.h). */
        vdb_store__calib_recheck(store);
        /* The indexed prefix follows the rows: the kept rows below it. */
        uint32_t upto = atomic_load(&ix->upto), kept = 0;
        for (uint32_t r = 0; r < upto && r < old_rows; r++)
            kept += old_to_new[r] != UINT32_MAX;
        atomic_store(&ix->upto, kept);
        ix->saved_rows = 0; /* hnsw.idx was removed before the compaction */
        wake_indexer(store);
        return 1;
    }
    if (repaired && old_to_new != NULL)
        vdb_log_warn("%s: repaired graph not carried over, rebuilding it: %s", store->dir,
                     err.msg);
    vdb_store__calib_invalidate(store);
    restart_graph(store);
    return 0;
}

int vdb_store__index_restart(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    int had;
    if (ix == NULL)
        return 0;
    pthread_mutex_lock(&store->writer);
    pthread_rwlock_wrlock(&store->rw);
    had = ix->hnsw != NULL;
    if (had) {
        atomic_fetch_add(&ix->epoch, 1);
        vdb_store__calib_invalidate(store);
        restart_graph(store);
    }
    pthread_rwlock_unlock(&store->rw);
    pthread_mutex_unlock(&store->writer);
    return had;
}

int vdb_store__index_save(vdb_store *store, vdb_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    vdb_store_index *ix = store->index;
    vdb_hnsw *hnsw;
    int rc;
    uint32_t rows;
    if (ix == NULL)
        return VDB_OK;
    /* A write may install the first graph meanwhile (under the exclusive
     * guard); only compaction and close replace or free one, and the
     * checkpoint mutex the caller holds keeps both out. So the graph read
     * here stays valid without holding the guard through the save, and
     * writers are not held off while the file is written (vdb_hnsw_save
     * excludes concurrent inserts itself). */
    pthread_rwlock_rdlock(&store->rw);
    hnsw = ix->hnsw;
    pthread_rwlock_unlock(&store->rw);
    if (hnsw == NULL || vdb_hnsw_count(hnsw) == 0)
        return VDB_OK;
    rows = vdb_hnsw_rows(hnsw);
    if (rows == ix->saved_rows)
        return VDB_OK; /* the file already holds this graph */
    if ((rc = vdb_fsx_path(path, sizeof(path), store->dir, VDB_STORE_INDEX_FILE, err)) != VDB_OK ||
        (rc = vdb_fsx_path(tmp, sizeof(tmp), store->dir, VDB_STORE_INDEX_FILE ".new", err)) !=
            VDB_OK)
        return rc;
    rc = vdb_hnsw_save(hnsw, tmp, err);
    if (rc == VDB_OK && (rc = vdb_fsx_rename(tmp, path, err)) == VDB_OK)
        rc = vdb_fsx_dirsync(store->dir, err);
    if (rc != VDB_OK)
        vdb_fsx_unlink(tmp, NULL);
    else
        ix->saved_rows = rows;
    return rc;
}

void vdb_store__index_wait(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    if (ix == NULL || ix->hnsw == NULL)
        return;
    wake_indexer(store);
    pthread_mutex_lock(&ix->mutex);
    while (ix->busy && ix->thread_running && !ix->stopping)
        pthread_cond_wait(&ix->idle, &ix->mutex);
    pthread_mutex_unlock(&ix->mutex);
}

void vdb_store__index_wait_settled(vdb_store *store, uint64_t since)
{
    vdb_store_index *ix = store->index;
    if (ix == NULL || ix->hnsw == NULL)
        return;
    wake_indexer(store);
    /* The indexer broadcasts `idle` after each catch-up, which follows
     * every calibration run that leaves another one due (maybe_calibrate),
     * so a SCANS publish wakes this before its full run starts. Lock
     * order: the indexer's mutex, then the calibration's. */
    pthread_mutex_lock(&ix->mutex);
    while (ix->busy && ix->thread_running && !ix->stopping &&
           !vdb_store__calib_settled(store, since))
        pthread_cond_wait(&ix->idle, &ix->mutex);
    pthread_mutex_unlock(&ix->mutex);
}

void vdb_store__index_wait_graph(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    uint32_t rows;
    if (ix == NULL)
        return;
    pthread_rwlock_rdlock(&store->rw);
    rows = vdb_vecset_rows(store->set);
    int graph = ix->hnsw != NULL;
    pthread_rwlock_unlock(&store->rw);
    if (!graph)
        return;
    wake_indexer(store);
    pthread_mutex_lock(&ix->mutex);
    while (atomic_load(&ix->upto) < rows && ix->busy && ix->thread_running && !ix->stopping)
        pthread_cond_wait(&ix->idle, &ix->mutex);
    pthread_mutex_unlock(&ix->mutex);
}

const vdb_hnsw *vdb_store__index_graph(vdb_store *store, const vdb_vecview *view, uint32_t *upto)
{
    vdb_store_index *ix = store->index;
    if (ix == NULL || ix->hnsw == NULL)
        return NULL;
    uint32_t covered = atomic_load(&ix->upto);
    if (covered > view->n)
        covered = view->n;
    /* Mostly unindexed (a rebuild just started): the merge would be an
     * exact scan of most rows anyway. */
    if (covered == 0 || (size_t)covered * 2 < view->n)
        return NULL;
    *upto = covered;
    return ix->hnsw;
}

int vdb_store__index_ready(vdb_store *store, const vdb_vecview *view)
{
    uint32_t upto;
    return vdb_store__index_graph(store, view, &upto) != NULL;
}

uint64_t vdb_store__index_epoch(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    return ix != NULL ? atomic_load(&ix->epoch) : 0;
}

static const vdb_store_index_ops index_ops[] = {
    [VDB_STORE_ENGINE_FLAT] = {VDB_STORE_ENGINE_FLAT, "flat"},
    [VDB_STORE_ENGINE_HNSW] = {VDB_STORE_ENGINE_HNSW, "hnsw"},
};

const vdb_store_index_ops *vdb_store__index_ops_of(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    return &index_ops[ix != NULL && ix->hnsw != NULL ? VDB_STORE_ENGINE_HNSW
                                                     : VDB_STORE_ENGINE_FLAT];
}

const char *vdb_store__index_name(vdb_store *store)
{
    return vdb_store__index_ops_of(store)->name;
}

size_t vdb_store__index_memory(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    return ix != NULL && ix->hnsw != NULL ? vdb_hnsw_memory(ix->hnsw) : 0;
}

uint32_t vdb_store__index_rows(vdb_store *store)
{
    vdb_store_index *ix = store->index;
    return ix != NULL ? atomic_load(&ix->upto) : 0;
}
