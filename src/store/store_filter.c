/* Lazily built, then maintained, payload indexes of a store; see
 * store_filter.h. */
#include "store_filter.h"

#include <string.h>

#include "../core/alloc.h"
#include "../core/log.h"
#include "store_index.h"
#include "store_int.h"

/* Fills a fresh payload from every live row into *out (written only on
 * success). Called with the writer mutex (no writes) and the shared guard
 * (readers may run). Errors: VDB_ENOMEM, VDB_ECORRUPT (a row whose stored
 * metadata is not an object). */
static int build(vdb_store *store, vdb_payload **out, vdb_error *err)
{
    uint32_t rows = vdb_vecset_rows(store->set);
    vdb_payload *payload;
    int built = vdb_payload_new(&payload, err);
    if (built != VDB_OK)
        return built;
    for (uint32_t r = 0; r < rows; r++) {
        int rc;
        if (vdb_vecset_is_deleted(store->set, r))
            continue;
        rc = vdb_payload_set(payload, r, vdb_vecset_meta(store->set, r), err);
        if (rc != VDB_OK) {
            vdb_payload_free(payload);
            if (rc == VDB_EINVAL)
                rc = vdb_error_set(err, VDB_ECORRUPT, "%s: row %u holds metadata that is not a "
                                   "JSON object", store->dir, r);
            return rc;
        }
    }
    *out = payload;
    return VDB_OK;
}

void (*vdb_store__filter_ensure_hook)(vdb_store *store);

static int ensure(vdb_store *store, vdb_error *err)
{
    vdb_payload *payload;
    int rc = VDB_OK;
    /* The pointer changes only under the exclusive guard, so the shared
     * guard makes this read well-defined. */
    pthread_rwlock_rdlock(&store->rw);
    payload = store->payload;
    pthread_rwlock_unlock(&store->rw);
    if (payload != NULL)
        return VDB_OK;
    pthread_mutex_lock(&store->writer);
    if (store->payload == NULL) {
        pthread_rwlock_rdlock(&store->rw);
        rc = build(store, &payload, err);
        pthread_rwlock_unlock(&store->rw);
        if (rc == VDB_OK) {
            pthread_rwlock_wrlock(&store->rw);
            vdb_vecset_journal_enable(store->set, 1);
            store->payload = payload;
            pthread_rwlock_unlock(&store->rw);
        }
    }
    pthread_mutex_unlock(&store->writer);
    return rc;
}

int vdb_store__filter_ensure(vdb_store *store, vdb_error *err)
{
    int rc = ensure(store, err);
    if (vdb_store__filter_ensure_hook != NULL)
        vdb_store__filter_ensure_hook(store);
    return rc;
}

static void drop(vdb_store *store, const char *why)
{
    vdb_log_warn("%s: filter indexes dropped (%s); they are rebuilt on the next filtered query",
                 store->dir, why);
    vdb_payload_free(store->payload);
    store->payload = NULL;
    vdb_vecset_journal_enable(store->set, 0);
}

void vdb_store__filter_drop(vdb_store *store)
{
    pthread_mutex_lock(&store->writer);
    pthread_rwlock_wrlock(&store->rw);
    if (store->payload != NULL)
        drop(store, "dropped on purpose (test seam)");
    pthread_rwlock_unlock(&store->rw);
    pthread_mutex_unlock(&store->writer);
}

void vdb_store__filter_sync(vdb_store *store, uint32_t rows_before)
{
    const uint32_t *gone;
    size_t ngone;
    uint32_t rows = vdb_vecset_rows(store->set);
    vdb_error err;
    if (store->payload == NULL)
        return;
    if (vdb_vecset_journal_drain(store->set, &gone, &ngone) != VDB_OK) {
        drop(store, "tombstone journal overflow");
        return;
    }
    for (size_t i = 0; i < ngone; i++)
        vdb_payload_remove(store->payload, gone[i]);
    vdb_error_clear(&err);
    for (uint32_t r = rows_before; r < rows; r++) {
        if (vdb_vecset_is_deleted(store->set, r))
            continue;
        if (vdb_payload_set(store->payload, r, vdb_vecset_meta(store->set, r), &err) != VDB_OK) {
            drop(store, err.msg);
            return;
        }
    }
}

void vdb_store__filter_remap(vdb_store *store, const uint32_t *old_to_new, uint32_t old_rows)
{
    vdb_error err;
    const uint32_t *gone;
    size_t ngone;
    if (store->payload == NULL)
        return;
    /* Tombstones compaction just dropped are in the journal too. */
    vdb_vecset_journal_drain(store->set, &gone, &ngone);
    vdb_error_clear(&err);
    if (old_to_new == NULL)
        drop(store, "no memory for the compaction map");
    else if (vdb_payload_remap(store->payload, old_to_new, old_rows, &err) != VDB_OK)
        drop(store, err.msg);
}

void vdb_store__filter_want_fields(vdb_store *store, const struct vdb_filter *filter)
{
    char *paths;
    pthread_rwlock_rdlock(&store->rw);
    paths = store->payload != NULL ? vdb_payload_unindexed_paths(store->payload, filter) : NULL;
    pthread_rwlock_unlock(&store->rw);
    if (paths == NULL)
        return;
    pthread_mutex_lock(&store->fields_mutex);
    if (store->fields_pending == NULL) {
        store->fields_pending = paths;
        paths = NULL;
    }
    pthread_mutex_unlock(&store->fields_mutex);
    /* One request at a time: a second one asks again after this is built. */
    vdb_free(paths);
    vdb_store__index_kick(store);
}

void vdb_store__filter_index_pending(vdb_store *store)
{
    char *paths;
    pthread_mutex_lock(&store->fields_mutex);
    paths = store->fields_pending;
    store->fields_pending = NULL;
    pthread_mutex_unlock(&store->fields_mutex);
    for (char *path = paths, *end; path != NULL && *path != '\0'; path = end + 1) {
        vdb_error err;
        if ((end = strchr(path, '\n')) == NULL)
            break;
        *end = '\0';
        vdb_error_clear(&err);
        pthread_mutex_lock(&store->writer);
        pthread_rwlock_wrlock(&store->rw);
        if (store->payload != NULL && vdb_payload_create_index(store->payload, path, &err) != VDB_OK)
            vdb_log_warn("%s: cannot index field '%s': %s", store->dir, path, err.msg);
        pthread_rwlock_unlock(&store->rw);
        pthread_mutex_unlock(&store->writer);
    }
    vdb_free(paths);
}

void vdb_store__filter_init(vdb_store *store)
{
    store->payload = NULL;
    store->fields_pending = NULL;
    pthread_mutex_init(&store->fields_mutex, NULL);
}

void vdb_store__filter_close(vdb_store *store)
{
    vdb_free(store->fields_pending);
    store->fields_pending = NULL;
    vdb_payload_free(store->payload);
    store->payload = NULL;
    pthread_mutex_destroy(&store->fields_mutex);
}

vdb_payload *vdb_store__filter_payload(vdb_store *store)
{
    return store->payload;
}
