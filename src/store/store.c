/* A durable store: lock, snapshot, WAL and the in-memory vecset tied
 * together; the contract is in store.h.
 *
 * WRITE PATH. Writers take `writer` (a mutex: WAL order = apply order),
 * validate everything first (so a rejected request leaves no trace), append
 * one WAL record, then apply it to the vecset under the rwlock held
 * exclusively for just that in-memory step, release `writer`, and finally
 * wait for durability outside every lock (vdb_wal_commit), which is what
 * lets concurrent writers share one fdatasync. If applying fails after the
 * append (out of memory) the record is cut off again before anyone could
 * have acknowledged it. Readers take the rwlock shared and are never
 * blocked by an fsync.
 *
 * CHECKPOINT (checkpoint.c). Captures the LSN and row count under
 * `writer` for an instant, writes the snapshot while writers go on, then
 * shrinks the WAL to the records that came in meanwhile and compacts the
 * tombstones the snapshot left out. It runs on a background thread when
 * the WAL passes its threshold (the write that crossed it does not wait),
 * on optimize and on a clean close.
 *
 * RECOVERY (open). Finish or discard an interrupted checkpoint, map the
 * snapshot, replay WAL records with LSN > the snapshot's (so replay is
 * idempotent: records the snapshot already holds are skipped), drop a torn
 * tail, refuse mid-log corruption.
 *
 * INDEX SEAM. store.json records the index kind, HNSW parameters and the
 * recall target. Queries are planned and run by query.c (exact, graph or
 * exact over filter candidates, by measured cost against the target);
 * store_index.c keeps the graph and calib.c measures it. */
#include "store.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "../core/limits.h"
#include "../core/log.h"
#include "../core/rng.h"
#include "../filter/filter.h"
#include "../index/flat.h"
#include "../index/quant.h"
#include "lockfile.h"
#include "calib.h"
#include "store_codes.h"
#include "store_filter.h"
#include "store_index.h"
#include "store_int.h"
#include "meta.h"
#include "snapshot.h"
#include "vecset.h"
#include "wal.h"
#include "walrec.h"

#define WAL_NAME "wal.log"

void vdb_store_config_default(vdb_store_config *config)
{
    memset(config, 0, sizeof(*config));
    config->metric = VDB_METRIC_COSINE;
    config->index = VDB_INDEX_AUTO;
    config->hnsw_m = 16;
    config->hnsw_ef_construction = 200;
    config->hnsw_ef_search = 64;
    config->hnsw_threshold = 10000;
    config->target_recall = VDB_DEFAULT_TARGET_RECALL;
    config->quantization = VDB_DEFAULT_QUANTIZATION;
}

void vdb_store_options_default(vdb_store_options *options)
{
    memset(options, 0, sizeof(*options));
    options->fsync = VDB_FSYNC_ALWAYS;
    options->fsync_interval_ms = 1000;
    options->wal_checkpoint_bytes = 64ull << 20;
}

static int check_config(const vdb_store_config *c, vdb_error *err)
{
    if (c->dim == 0 || c->dim > VDB_MAX_DIM)
        return vdb_error_set(err, VDB_EINVAL, "dimension %u outside 1..%u", c->dim, VDB_MAX_DIM);
    if (c->metric != VDB_METRIC_COSINE && c->metric != VDB_METRIC_L2 &&
        c->metric != VDB_METRIC_DOT)
        return vdb_error_set(err, VDB_EINVAL, "unknown metric %d", (int)c->metric);
    if (c->index != VDB_INDEX_AUTO && c->index != VDB_INDEX_FLAT && c->index != VDB_INDEX_HNSW)
        return vdb_error_set(err, VDB_EINVAL, "unknown index kind %d", (int)c->index);
    if (!(c->target_recall > 0.0 && c->target_recall <= 1.0))
        return vdb_error_set(err, VDB_EINVAL, "target_recall %g outside (0, 1]", c->target_recall);
    if (c->quantization != VDB_QUANT_NONE && c->quantization != VDB_QUANT_INT8 &&
        c->quantization != VDB_QUANT_BINARY && c->quantization != VDB_STORE_QUANT_AUTO)
        return vdb_error_set(err, VDB_EINVAL, "unknown quantization %d", c->quantization);
    return VDB_OK;
}

static int store_alloc(const char *dir, const vdb_store_options *options, vdb_store **out,
                       vdb_error *err)
{
    vdb_store *store = vdb_calloc(1, sizeof(*store));
    if (store == NULL || (store->dir = vdb_strdup(dir)) == NULL) {
        vdb_free(store);
        return vdb_error_set(err, VDB_ENOMEM, "store: out of memory");
    }
    if (options != NULL)
        store->options = *options;
    else
        vdb_store_options_default(&store->options);
    {
        vdb_rng seed;
        vdb_rng_seed(&seed, (uint64_t)(uintptr_t)store ^ (uint64_t)time(NULL));
        if (vdb_rng_os_bytes(&store->instance, sizeof(store->instance)) != VDB_OK)
            store->instance = vdb_rng_next(&seed);
    }
    if (store->options.wal_checkpoint_bytes == 0)
        store->options.wal_checkpoint_bytes = 64ull << 20;
    /* Writer-preferring: a steady stream of readers (queries, the index
     * builder) must not starve the short exclusive apply of a write. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&store->rw, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&store->writer, NULL);
    pthread_mutex_init(&store->checkpoint, NULL);
    vdb_store__checkpointer_init(store);
    vdb_store__filter_init(store);
    *out = store;
    return VDB_OK;
}

static void store_free(vdb_store *store)
{
    vdb_store__index_close(store);
    vdb_store__codes_close(store);
    vdb_store__calib_close(store);
    vdb_store__filter_close(store);
    vdb_wal_close(store->wal);
    vdb_vecset_free(store->set);
    vdb_lockfile_release(store->lock);
    pthread_mutex_destroy(&store->writer);
    pthread_mutex_destroy(&store->checkpoint);
    vdb_store__checkpointer_destroy(store);
    pthread_rwlock_destroy(&store->rw);
    vdb_free(store->dir);
    vdb_free(store);
}

/* One write in memory form: what a WAL record says, as the live write
 * path holds it (no encode/decode round trip) and as replay decodes it. */
typedef struct batch_ref {
    int type; /* VDB_WAL_REC_* */
    size_t n;
    const float *vectors;     /* upsert only */
    const char *const *ids;
    const char *const *metas; /* upsert only; may be NULL */
} batch_ref;

static int apply_batch(vdb_vecset *set, const batch_ref *b, vdb_error *err)
{
    if (b->type == VDB_WAL_REC_UPSERT)
        return vdb_vecset_upsert(set, b->n, b->vectors, b->ids, b->metas, NULL, NULL, err);
    return vdb_vecset_delete(set, b->n, b->ids, NULL, err);
}

static int apply_record(vdb_vecset *set, int type, const void *payload, size_t len,
                        vdb_error *err)
{
    vdb_walrec_batch batch;
    int rc = vdb_walrec_decode(type, payload, len, vdb_vecset_dim(set), &batch, err);
    if (rc != VDB_OK)
        return rc;
    batch_ref ref = {type, batch.n, batch.vectors, batch.ids, batch.metas};
    rc = apply_batch(set, &ref, err);
    vdb_walrec_batch_free(&batch);
    return rc;
}

/* Replay callback: records the snapshot already holds are skipped. */
static int replay(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                  vdb_error *err)
{
    vdb_store *store = ctx;
    int rc;
    if (lsn <= store->snapshot_lsn)
        return VDB_OK;
    rc = apply_record(store->set, type, payload, len, err);
    if (rc == VDB_EINVAL || rc == VDB_ERANGE || rc == VDB_ETOOBIG) {
        char msg[VDB_ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
        return vdb_error_set(err, VDB_ECORRUPT, "%s/%s: record LSN %llu cannot be applied: %s",
                             store->dir, WAL_NAME, (unsigned long long)lsn, msg);
    }
    return rc;
}

static int open_wal(vdb_store *store, vdb_error *err)
{
    char path[PATH_MAX];
    vdb_wal_options wo;
    int rc = vdb_fsx_path(path, sizeof(path), store->dir, WAL_NAME, err);
    if (rc != VDB_OK)
        return rc;
    wo.policy = store->options.fsync == VDB_FSYNC_OFF        ? VDB_WAL_SYNC_OFF
                : store->options.fsync == VDB_FSYNC_INTERVAL ? VDB_WAL_SYNC_INTERVAL
                                                             : VDB_WAL_SYNC_ALWAYS;
    wo.interval_ms = store->options.fsync_interval_ms;
    wo.read_only = store->options.read_only;
    wo.repair = store->options.repair_wal;
    if ((rc = vdb_wal_open(path, &wo, replay, store, &store->wal_dropped, &store->wal, err)) !=
        VDB_OK)
        return rc;
    vdb_wal_set_last_lsn(store->wal, store->snapshot_lsn);
    return VDB_OK;
}

/* Loads or rebuilds the HNSW index when the store uses one (store_index.c),
 * and builds the quantized codes (store_codes.c; a failure there is logged:
 * the store works without them and the next write retries). */
static int index_after_load(vdb_store *store, vdb_error *err)
{
    vdb_error cerr;
    /* The calibration first: an auto store's codes follow its decision. */
    int rc = vdb_store__calib_open(store, err);
    if (rc != VDB_OK)
        return rc;
    if (vdb_store__codes_open(store, vdb_store__calib_auto_kind(store), &cerr) != VDB_OK)
        vdb_log_warn("%s: no quantized codes for now: %s", store->dir, cerr.msg);
    return vdb_store__index_open(store, err);
}

/* Removes what a failed create left, so the name can be created again. */
static void remove_partial(const char *dir)
{
    static const char *names[] = {"store.json", "store.json.new", VDB_STORE_INDEX_FILE,
                                  VDB_CALIB_FILE, "calib.pending", "vectors.npz",
                                  "vectors.npz.new", "metadata.jsonl", "metadata.jsonl.new",
                                  WAL_NAME, ".store.lock"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (vdb_fsx_path(path, sizeof(path), dir, names[i], NULL) == VDB_OK)
            vdb_fsx_unlink(path, NULL);
    vdb_fsx_rmdir(dir, NULL);
}

/* fsyncs the parent of `dir`, so the new store directory's entry is durable. */
static int sync_parent(const char *dir, vdb_error *err)
{
    char parent[PATH_MAX];
    char *slash;
    snprintf(parent, sizeof(parent), "%s", dir);
    while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0')
        *slash = '\0';
    slash = strrchr(parent, '/');
    if (slash == NULL)
        return vdb_fsx_dirsync(".", err);
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    return vdb_fsx_dirsync(parent, err);
}

int vdb_store_create(const char *dir, const vdb_store_config *config,
                     const vdb_store_options *options, vdb_store **out, vdb_error *err)
{
    vdb_store *store;
    char manifest[PATH_MAX];
    int rc, made_dir = 0;
    *out = NULL;
    if ((rc = check_config(config, err)) != VDB_OK ||
        (rc = vdb_fsx_path(manifest, sizeof(manifest), dir, "store.json", err)) != VDB_OK)
        return rc;
    if (options != NULL && options->read_only)
        return vdb_error_set(err, VDB_EREADONLY, "cannot create %s read-only", dir);
    rc = vdb_fsx_mkdir(dir, 0755, err);
    if (rc == VDB_EEXIST && access(manifest, F_OK) == 0)
        return vdb_error_set(err, VDB_EEXIST, "a store already exists at %s", dir);
    if (rc != VDB_OK && rc != VDB_EEXIST)
        return rc;
    made_dir = rc == VDB_OK;
    if ((rc = store_alloc(dir, options, &store, err)) != VDB_OK)
        goto fail_dir;
    store->config = *config;
    /* An empty snapshot first: a store always has a manifest to open. */
    if ((rc = vdb_lockfile_acquire(dir, &store->lock, err)) != VDB_OK ||
        (rc = vdb_vecset_new(config->dim, config->metric, &store->set, err)) != VDB_OK ||
        (rc = vdb_snapshot_write(dir, config, 0, 0, store->set, NULL, NULL, err)) != VDB_OK ||
        (rc = open_wal(store, err)) != VDB_OK || (rc = vdb_fsx_dirsync(dir, err)) != VDB_OK ||
        (rc = sync_parent(dir, err)) != VDB_OK || (rc = index_after_load(store, err)) != VDB_OK)
        goto fail;
    *out = store;
    return VDB_OK;
fail:
    store_free(store);
fail_dir:
    if (made_dir)
        remove_partial(dir);
    return rc;
}

/* A store that never reached the checkpoint threshold (64 MiB: 40,000
 * vectors of 384-d) keeps everything in its WAL, and every restart after a
 * crash replayed all of it (issue 11 item 11). When the WAL just replayed
 * is larger than the snapshot (and 1 MiB), checkpoint now: writing the
 * snapshot costs no more than the replay already paid, and the next
 * restart replays only what came after. A failure is logged: the WAL
 * still holds the data. */
static void checkpoint_after_replay(vdb_store *store)
{
    vdb_error cerr;
    uint64_t wal = vdb_wal_size(store->wal);
    if (store->options.read_only || wal < (1u << 20) || wal <= store->snapshot_bytes)
        return;
    if (vdb_store_checkpoint(store, &cerr) != VDB_OK)
        vdb_log_warn("%s: checkpoint after replay failed (the WAL keeps the data): %s",
                     store->dir, cerr.msg);
}

int vdb_store_open(const char *dir, const vdb_store_options *options, vdb_store **out,
                   vdb_error *err)
{
    vdb_store *store;
    vdb_snapshot_info info;
    struct stat st;
    int rc;
    *out = NULL;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return vdb_error_set(err, VDB_ENOTFOUND, "no store at %s", dir);
    if ((rc = store_alloc(dir, options, &store, err)) != VDB_OK)
        return rc;
    if ((rc = vdb_lockfile_acquire(dir, &store->lock, err)) != VDB_OK)
        goto fail;
    if (!store->options.read_only && (rc = vdb_snapshot_recover(dir, err)) != VDB_OK)
        goto fail;
    rc = vdb_snapshot_read_manifest(dir, &info, err);
    if (rc == VDB_ENOTFOUND)
        vdb_error_set(err, VDB_ENOTFOUND, "no store at %s (store.json missing)", dir);
    if (rc != VDB_OK)
        goto fail;
    store->config = info.config;
    store->snapshot_lsn = info.lsn;
    store->snapshot_bytes = info.vectors_size + info.meta_size;
    store->checkpoints = info.checkpoints;
    if ((rc = vdb_snapshot_load(dir, &info, &store->set, err)) != VDB_OK ||
        (rc = open_wal(store, err)) != VDB_OK || (rc = index_after_load(store, err)) != VDB_OK)
        goto fail;
    checkpoint_after_replay(store);
    *out = store;
    return VDB_OK;
fail:
    store_free(store);
    return rc;
}

const vdb_store_config *vdb_store_get_config(const vdb_store *store) { return &store->config; }

/* ---- writes ---- */

int vdb_store__writable(vdb_store *store, vdb_error *err)
{
    if (store->options.read_only)
        return vdb_error_set(err, VDB_EREADONLY, "store %s is open read-only", store->dir);
    if (vdb_wal_failed(store->wal))
        return vdb_error_set(err, VDB_EREADONLY,
                             "store %s is read-only after a write failure; reopen it",
                             store->dir);
    return VDB_OK;
}

/* Metadata must be a JSON object on one line (metadata.jsonl holds it
 * verbatim), ids valid UTF-8 (they are written as JSON strings). */
static int check_strings(size_t n, const char *const *ids, const char *const *metas,
                         vdb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        vdb_json *parsed;
        vdb_error jerr;
        if (ids[i] != NULL && !vdb_meta_valid_utf8(ids[i], strlen(ids[i])))
            return vdb_error_set(err, VDB_EINVAL, "vector %zu: id is not valid UTF-8", i);
        if (metas == NULL || metas[i] == NULL)
            continue;
        if (strpbrk(metas[i], "\r\n") != NULL)
            return vdb_error_set(err, VDB_EINVAL, "vector %zu: metadata must be one line", i);
        if (strlen(metas[i]) > VDB_MAX_META_BYTES)
            return vdb_error_set(err, VDB_ETOOBIG, "vector %zu: metadata over %u bytes", i,
                                 VDB_MAX_META_BYTES);
        int rc = vdb_json_parse(metas[i], strlen(metas[i]), 0, &parsed, &jerr);
        if (rc == VDB_ENOMEM)
            return vdb_error_set(err, rc, "vector %zu: %s", i, jerr.msg);
        if (parsed == NULL || vdb_json_typeof(parsed) != VDB_JSON_OBJECT) {
            vdb_json_decref(parsed);
            return vdb_error_set(err, VDB_EINVAL, "vector %zu: metadata is not a JSON object%s%s",
                                 i, parsed == NULL ? ": " : "", parsed == NULL ? jerr.msg : "");
        }
        vdb_json_decref(parsed);
    }
    return VDB_OK;
}

/* The batch's WAL append, run as a task beside the staging of its rows
 * (log_and_apply). The writer mutex the caller holds serializes it, as
 * the WAL asks; the pool's run orders it before the caller reads rc. */
typedef struct wal_side {
    vdb_store *store;
    const vdb_wal_piece *pieces;
    size_t count;
    int type;
    uint64_t lsn;
    int rc;
    vdb_error err;
} wal_side;

static void wal_side_run(void *ctx)
{
    wal_side *w = ctx;
    w->rc = vdb_wal_append_pieces(w->store->wal, w->type, w->pieces, w->count, &w->lsn, &w->err);
}

/* Logs one record (its payload in pieces) and applies the batch it
 * encodes, with `writer` held. The batch is applied from the caller's
 * arrays, not decoded back from the payload: the same values either way
 * (replay decodes them), without another copy of every vector. On success
 * *lsn is the record to wait for. */
static int log_and_apply(vdb_store *store, const vdb_wal_piece *pieces, size_t count,
                         const batch_ref *batch, uint64_t *lsn, vdb_error *err)
{
    uint32_t rows_before;
    vdb_vecset_pending pending;
    int rc = VDB_OK;
    if (batch->type == VDB_WAL_REC_UPSERT && !vdb_vecset_upsert_room(store->set, batch->n) &&
        (size_t)vdb_vecset_rows(store->set) + batch->n <= VDB_MAX_VECTORS) {
        /* Growing moves arrays readers use: only that holds them off.
         * Before the log: a failure here has nothing to roll back. */
        pthread_rwlock_wrlock(&store->rw);
        rc = vdb_vecset_reserve(store->set, (size_t)vdb_vecset_rows(store->set) + batch->n, err);
        pthread_rwlock_unlock(&store->rw);
        if (rc != VDB_OK)
            return rc;
    }
    if (batch->type == VDB_WAL_REC_UPSERT && vdb_vecset_upsert_room(store->set, batch->n)) {
        /* Copy and normalize the rows with readers (queries, the indexer)
         * still running: they never look past the last row, and the writer
         * mutex keeps every other write out. Only the publish below holds
         * them off, for the few microseconds of the id-map updates.
         *
         * The WAL record is written beside the copy, by another thread of
         * the same pool run: both only read the batch, and nothing is
         * visible before the publish, which waits for both. A 100,000-row
         * binary upload spent its time in the two copies one after the
         * other (the page cache's and the rows'). A batch the staging
         * refuses before it starts (bad ids, no memory) is never logged;
         * one refused while staging (a non-finite value) is rolled back. */
        wal_side side = {store, pieces, count, batch->type, 0, VDB_OK, {0}};
        int ran = 0;
        vdb_error_clear(&side.err);
        rc = vdb_vecset_upsert_prepare_beside(store->set, batch->n, batch->vectors, batch->ids,
                                              batch->metas, wal_side_run, &side, &ran, &pending,
                                              err);
        /* ran: 1 whenever staging started, so always when rc is VDB_OK
         * (stage_vectors runs the side task even with nothing to stage). */
        if (ran && side.rc != VDB_OK) { /* the log failed (the WAL is failed now) */
            if (rc == VDB_OK)
                vdb_vecset_pending_free(&pending);
            if (err != NULL)
                *err = side.err;
            return side.rc;
        }
        if (ran)
            *lsn = side.lsn;
        if (rc != VDB_OK) {
            if (ran)
                vdb_wal_rollback(store->wal, *lsn, NULL);
            return rc;
        }
        pthread_rwlock_wrlock(&store->rw);
        rows_before = vdb_vecset_rows(store->set);
        vdb_vecset_upsert_commit(store->set, &pending, NULL, NULL);
    } else {
        if ((rc = vdb_wal_append_pieces(store->wal, batch->type, pieces, count, lsn, err)) !=
            VDB_OK)
            return rc;
        pthread_rwlock_wrlock(&store->rw);
        rows_before = vdb_vecset_rows(store->set);
        rc = apply_batch(store->set, batch, err);
    }
    if (rc == VDB_OK) {
        vdb_store__filter_sync(store, rows_before);
        vdb_store__codes_after_write(store);
        atomic_fetch_add(&store->generation, 1);
    }
    pthread_rwlock_unlock(&store->rw);
    if (rc != VDB_OK)
        vdb_wal_rollback(store->wal, *lsn, NULL);
    else
        vdb_store__index_after_write(store);
    return rc;
}

static int commit(vdb_store *store, uint64_t lsn, vdb_error *err)
{
    int rc = vdb_wal_commit(store->wal, lsn, err);
    if (rc == VDB_OK)
        vdb_store__checkpoint_soon(store);
    return rc;
}

/* Fills generated ids (random UUIDs) for NULL entries. */
static int resolve_ids(size_t n, const char *const *ids, const char ***out, char **uuids,
                       vdb_error *err)
{
    const char **all = vdb_malloc(n * sizeof(char *));
    char *buf = vdb_malloc(n * VDB_UUID_LEN);
    if (all == NULL || buf == NULL) {
        vdb_free(all);
        vdb_free(buf);
        return vdb_error_set(err, VDB_ENOMEM, "no memory for %zu ids", n);
    }
    for (size_t i = 0; i < n; i++) {
        if (ids != NULL && ids[i] != NULL) {
            all[i] = ids[i];
        } else {
            vdb_rng_uuid(buf + i * VDB_UUID_LEN);
            all[i] = buf + i * VDB_UUID_LEN;
        }
    }
    *out = all;
    *uuids = buf;
    return VDB_OK;
}

static int copy_ids_out(size_t n, const char *const *ids, char **ids_out, vdb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if ((ids_out[i] = vdb_strdup(ids[i])) == NULL) {
            while (i-- > 0) {
                vdb_free(ids_out[i]);
                ids_out[i] = NULL;
            }
            return vdb_error_set(err, VDB_ENOMEM, "no memory for the returned ids");
        }
    }
    return VDB_OK;
}

int vdb_store_add(vdb_store *store, size_t n, const float *vectors, const char *const *ids,
                  const char *const *metas, char **ids_out, vdb_error *err)
{
    const char **all = NULL;
    char *uuids = NULL;
    unsigned char head[8], *tail = NULL;
    size_t tail_len = 0;
    uint64_t lsn = 0;
    int rc;
    if (n == 0 || vectors == NULL)
        return vdb_error_set(err, VDB_EINVAL, "empty batch");
    if (n > VDB_MAX_VECTORS)
        return vdb_error_set(err, VDB_ERANGE, "batch of %zu vectors", n);
    if ((rc = resolve_ids(n, ids, &all, &uuids, err)) != VDB_OK)
        return rc;
    if ((rc = check_strings(n, all, metas, err)) != VDB_OK ||
        (rc = vdb_walrec_encode_upsert_parts(n, store->config.dim, all, metas, head, &tail,
                                             &tail_len, err)) != VDB_OK)
        goto cleanup;
    vdb_wal_piece pieces[3] = {
        {head, sizeof(head)}, {vectors, n * store->config.dim * sizeof(float)}, {tail, tail_len}};
    batch_ref batch = {VDB_WAL_REC_UPSERT, n, vectors, all, metas};
    pthread_mutex_lock(&store->writer);
    if ((rc = vdb_store__writable(store, err)) == VDB_OK &&
        (rc = vdb_vecset_validate(store->set, n, vectors, all, metas, err)) == VDB_OK)
        rc = log_and_apply(store, pieces, 3, &batch, &lsn, err);
    pthread_mutex_unlock(&store->writer);
    if (rc != VDB_OK)
        goto cleanup;
    vdb_free(tail);
    tail = NULL;
    if ((rc = commit(store, lsn, err)) == VDB_OK && ids_out != NULL)
        rc = copy_ids_out(n, all, ids_out, err);
cleanup:
    vdb_free(tail);
    vdb_free(uuids);
    vdb_free(all);
    return rc;
}

/* Logs and applies a delete of the listed ids that are live now (with
 * `writer` held, so "live" cannot change meanwhile). Deleting nothing logs
 * nothing. */
static int delete_live_locked(vdb_store *store, size_t n, const char *const *ids, size_t *deleted,
                              uint64_t *lsn, vdb_error *err)
{
    const char **live = NULL;
    unsigned char *payload = NULL;
    size_t count = 0, len = 0;
    int rc = vdb_store__writable(store, err);
    *deleted = 0;
    *lsn = 0;
    if (rc != VDB_OK || n == 0)
        return rc;
    if ((live = vdb_malloc(n * sizeof(char *))) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory to delete %zu ids", n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] != NULL && vdb_vecset_find(store->set, ids[i]) >= 0)
            live[count++] = ids[i];
    if (count > 0 && (rc = vdb_walrec_encode_delete(count, live, &payload, &len, err)) == VDB_OK) {
        vdb_wal_piece piece = {payload, len};
        batch_ref batch = {VDB_WAL_REC_DELETE, count, NULL, live, NULL};
        if ((rc = log_and_apply(store, &piece, 1, &batch, lsn, err)) == VDB_OK)
            *deleted = count;
    }
    vdb_free(payload);
    vdb_free(live);
    return rc;
}

int vdb_store_delete(vdb_store *store, size_t n, const char *const *ids, size_t *deleted,
                     vdb_error *err)
{
    size_t count = 0;
    uint64_t lsn = 0;
    int rc;
    if (n > 0 && ids == NULL)
        return vdb_error_set(err, VDB_EINVAL, "ids are required");
    pthread_mutex_lock(&store->writer);
    rc = delete_live_locked(store, n, ids, &count, &lsn, err);
    pthread_mutex_unlock(&store->writer);
    if (rc == VDB_OK && lsn != 0)
        rc = commit(store, lsn, err);
    if (rc == VDB_OK && deleted != NULL)
        *deleted = count;
    return rc;
}

int vdb_store_delete_where(vdb_store *store, const struct vdb_filter *filter, size_t *deleted,
                           vdb_error *err)
{
    const char **ids = NULL;
    uint32_t *rows = NULL;
    size_t count = 0, removed = 0;
    uint64_t lsn = 0;
    int rc = VDB_OK;
    if (filter == NULL) {
        if (deleted != NULL)
            *deleted = 0;
        return VDB_OK;
    }
    /* A writer can drop the payload (a failed allocation in its filter
     * sync) between ensure and our writer lock; once we hold the writer
     * mutex no one can, so check there and build it again if it went. */
    for (int attempt = 0;; attempt++) {
        if (attempt == 4)
            return vdb_error_set(err, VDB_EBUSY, "filter indexes keep being rebuilt; retry");
        if ((rc = vdb_store__filter_ensure(store, err)) != VDB_OK)
            return rc;
        pthread_mutex_lock(&store->writer);
        if (vdb_store__filter_payload(store) != NULL)
            break;
        pthread_mutex_unlock(&store->writer);
    }
    pthread_rwlock_rdlock(&store->rw);
    rc = vdb_payload_match_rows(vdb_store__filter_payload(store), filter, &rows, &count, err);
    if (rc == VDB_OK && (ids = vdb_malloc((count + 1) * sizeof(char *))) == NULL)
        rc = vdb_error_set(err, VDB_ENOMEM, "no memory to delete by filter");
    for (size_t i = 0; rc == VDB_OK && i < count; i++)
        ids[i] = vdb_vecset_id(store->set, rows[i]);
    pthread_rwlock_unlock(&store->rw);
    /* The writer mutex keeps the rows (and their id strings) unchanged. */
    if (rc == VDB_OK)
        rc = delete_live_locked(store, count, ids, &removed, &lsn, err);
    pthread_mutex_unlock(&store->writer);
    vdb_free(ids);
    vdb_free(rows);
    if (rc == VDB_OK && lsn != 0)
        rc = commit(store, lsn, err);
    if (rc == VDB_OK && deleted != NULL)
        *deleted = removed;
    return rc;
}

/* ---- checkpoint, close ---- */

/* The store has never held a row (and so its WAL replays nothing that
 * depends on the width): swap in an empty vecset of the new width, write
 * an empty snapshot whose manifest carries the dimension (this is the
 * durable point), truncate the WAL, and rebuild the (empty) index. The
 * writer mutex keeps every write out meanwhile. */
int vdb_store_adopt_dim(vdb_store *store, uint32_t dim, vdb_error *err)
{
    vdb_snapshot_info info;
    vdb_vecset *fresh = NULL, *old;
    int rc = VDB_OK;
    if (dim == 0 || dim > VDB_MAX_DIM)
        return vdb_error_set(err, VDB_EINVAL, "dimension %u outside 1..%u", dim, VDB_MAX_DIM);
    pthread_mutex_lock(&store->checkpoint);
    pthread_mutex_lock(&store->writer);
    if (!store->config.dim_from_first_add || vdb_vecset_rows(store->set) != 0)
        goto out;
    if ((rc = vdb_store__writable(store, err)) != VDB_OK ||
        (rc = vdb_vecset_new(dim, store->config.metric, &fresh, err)) != VDB_OK)
        goto out;
    vdb_store_config config = store->config;
    config.dim = dim;
    config.dim_from_first_add = 0;
    uint64_t lsn = vdb_wal_last_lsn(store->wal);
    rc = vdb_snapshot_write(store->dir, &config, lsn, store->checkpoints + 1, fresh, NULL, &info,
                            err);
    if (rc != VDB_OK) {
        vdb_vecset_free(fresh);
        goto out;
    }
    vdb_store__index_close(store);
    vdb_store__calib_close(store); /* index_after_load opens both again */
    pthread_rwlock_wrlock(&store->rw);
    old = store->set;
    store->set = fresh;
    store->config = config;
    atomic_fetch_add(&store->generation, 1);
    pthread_rwlock_unlock(&store->rw);
    vdb_vecset_free(old);
    store->snapshot_lsn = lsn;
    store->snapshot_bytes = info.vectors_size + info.meta_size;
    store->checkpoints++;
    if ((rc = vdb_wal_reset(store->wal, lsn, err)) == VDB_OK)
        rc = index_after_load(store, err);
out:
    pthread_mutex_unlock(&store->writer);
    pthread_mutex_unlock(&store->checkpoint);
    return rc;
}

void vdb_store_cache_tag(vdb_store *store, uint64_t tag[2])
{
    tag[0] = store->instance;
    tag[1] = atomic_load(&store->generation);
}

int vdb_store_set_target_recall(vdb_store *store, double target, vdb_error *err)
{
    if (!(target > 0.0 && target <= 1.0))
        return vdb_error_set(err, VDB_EINVAL, "target_recall must be in (0, 1], not %g", target);
    if (store->options.read_only)
        return vdb_error_set(err, VDB_EREADONLY, "store opened read-only");
    /* The planner reads the target without the writer mutex: a double
     * store is not atomic in C11, so it is published under the rw guard. */
    pthread_mutex_lock(&store->checkpoint);
    pthread_mutex_lock(&store->writer);
    pthread_rwlock_wrlock(&store->rw);
    store->config.target_recall = target;
    atomic_fetch_add(&store->generation, 1); /* cached answers were planned for the old one */
    pthread_rwlock_unlock(&store->rw);
    /* store.json is rewritten by a checkpoint, which is what makes it
     * durable; config_dirty makes it write even when no vector changed. */
    store->config_dirty = 1;
    pthread_mutex_unlock(&store->writer);
    int rc = vdb_store__checkpoint(store, err);
    pthread_mutex_unlock(&store->checkpoint);
    return rc;
}

int vdb_store_set_quantization(vdb_store *store, int kind, vdb_error *err)
{
    if (kind != VDB_QUANT_NONE && kind != VDB_QUANT_INT8 && kind != VDB_QUANT_BINARY &&
        kind != VDB_STORE_QUANT_AUTO)
        return vdb_error_set(err, VDB_EINVAL, "quantization %d is not none, int8, binary or auto",
                             kind);
    if (store->options.read_only)
        return vdb_error_set(err, VDB_EREADONLY, "store opened read-only");
    /* The checkpoint mutex keeps compaction (which renumbers rows) out
     * while the codes are built; writers go on (store_codes.c appends the
     * rows they add meanwhile when it swaps the codes in). */
    pthread_mutex_lock(&store->checkpoint);
    pthread_mutex_lock(&store->writer);
    int rc = vdb_store__writable(store, err);
    pthread_mutex_unlock(&store->writer);
    if (rc == VDB_OK && kind != store->config.quantization &&
        (rc = vdb_store__codes_rebuild(store, kind, err)) == VDB_OK)
        vdb_store__calib_invalidate(store); /* the exact scan's cost changed */
    if (rc == VDB_OK) {
        /* Durable through the checkpoint's store.json, as the target. */
        pthread_mutex_lock(&store->writer);
        store->config_dirty = 1;
        pthread_mutex_unlock(&store->writer);
        rc = vdb_store__checkpoint(store, err);
    }
    pthread_mutex_unlock(&store->checkpoint);
    return rc;
}

void vdb_store_close(vdb_store *store)
{
    vdb_error err;
    if (store == NULL)
        return;
    vdb_store__checkpointer_stop(store);
    if (!store->options.read_only && !vdb_wal_failed(store->wal) &&
        vdb_store_checkpoint(store, &err) != VDB_OK) {
        vdb_log_warn("%s: checkpoint at close failed (the WAL keeps the data): %s", store->dir,
                     err.msg);
        if (vdb_wal_sync(store->wal, &err) != VDB_OK)
            vdb_log_error("%s: WAL sync at close failed: %s", store->dir, err.msg);
    }
    store_free(store);
}
