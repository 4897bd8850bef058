/* The store's read side: lookups, counts and stats (queries: query.c). Everything
 * here holds the rwlock shared, so reads run in parallel with each other
 * and with the fsync wait of writers; only the short in-memory apply of a
 * write excludes them. */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "store_codes.h"
#include "store_filter.h"
#include "store_index.h"
#include "store_int.h"

int vdb_store_get(vdb_store *store, const char *id, float *vector_out, char **meta_out,
                  vdb_error *err)
{
    int64_t row;
    char *meta = NULL;
    int rc = VDB_OK;
    if (id == NULL)
        return vdb_error_set(err, VDB_EINVAL, "id is required");
    pthread_rwlock_rdlock(&store->rw);
    row = vdb_vecset_find(store->set, id);
    if (row < 0) {
        rc = vdb_error_set(err, VDB_ENOTFOUND, "id '%s' not found", id);
    } else {
        const char *stored = vdb_vecset_meta(store->set, (uint32_t)row);
        if (meta_out != NULL && stored != NULL && (meta = vdb_strdup(stored)) == NULL)
            rc = vdb_error_set(err, VDB_ENOMEM, "no memory for metadata");
        else if (vector_out != NULL)
            memcpy(vector_out, vdb_vecset_vector(store->set, (uint32_t)row),
                   store->config.dim * sizeof(float));
    }
    pthread_rwlock_unlock(&store->rw);
    if (rc == VDB_OK && meta_out != NULL)
        *meta_out = meta;
    return rc;
}

size_t vdb_store_count(vdb_store *store)
{
    size_t count;
    pthread_rwlock_rdlock(&store->rw);
    count = vdb_vecset_count(store->set);
    pthread_rwlock_unlock(&store->rw);
    return count;
}

int vdb_store_count_where(vdb_store *store, const struct vdb_filter *filter, size_t *count,
                          vdb_error *err)
{
    int rc;
    if (filter == NULL) {
        *count = vdb_store_count(store);
        return VDB_OK;
    }
    /* A writer can drop the payload between ensure and the guard (an
     * out-of-memory sync): check under the guard and build it again. */
    for (int attempt = 0; attempt < 4; attempt++) {
        if ((rc = vdb_store__filter_ensure(store, err)) != VDB_OK)
            return rc;
        pthread_rwlock_rdlock(&store->rw);
        if (vdb_store__filter_payload(store) != NULL) {
            rc = vdb_payload_count(vdb_store__filter_payload(store), filter, count, err);
            pthread_rwlock_unlock(&store->rw);
            return rc;
        }
        pthread_rwlock_unlock(&store->rw);
    }
    return vdb_error_set(err, VDB_EBUSY, "filter indexes keep being rebuilt; retry");
}

void vdb_store_get_stats(vdb_store *store, vdb_store_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    pthread_rwlock_rdlock(&store->rw);
    stats->vectors = vdb_vecset_count(store->set);
    stats->rows = vdb_vecset_rows(store->set);
    stats->memory_bytes = vdb_vecset_memory(store->set) + vdb_store__index_memory(store) +
                          vdb_store__codes_memory(store);
    stats->index_name = vdb_store__index_name(store);
    stats->index_rows = vdb_store__index_rows(store);
    pthread_rwlock_unlock(&store->rw);
    stats->wal_bytes = vdb_wal_size(store->wal);
    stats->checkpoints = atomic_load(&store->checkpoints);
    stats->wal_dropped_bytes = store->wal_dropped;
    stats->wal_lsn = vdb_wal_last_lsn(store->wal);
    stats->wal_syncs = vdb_wal_syncs(store->wal);
    stats->read_only = store->options.read_only || vdb_wal_failed(store->wal);
}
