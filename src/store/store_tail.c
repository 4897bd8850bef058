/* The WAL tail of an open store, for online tenant moves (docs/scale-out.md):
 * the records written after a given LSN, read from the store's own wal.log
 * by a second, read-only scan, and the LSN its snapshot files hold.
 *
 * Why this is complete: a checkpoint writes every record up to its LSN
 * into the snapshot and only then truncates the WAL, so the WAL always
 * holds every record past snapshot_lsn. A tail "after A" is therefore
 * whole exactly when snapshot_lsn <= A; otherwise a checkpoint since A
 * has dropped records the caller has not seen (VDB_ERANGE: copy the
 * snapshot instead). The scan runs under the writer mutex, so no write or
 * checkpoint changes the file while it is read. */
#include "store_int.h"

#include <limits.h>
#include <stdio.h>

#include "../core/fsx.h"

typedef struct tail_ctx {
    uint64_t after;
    vdb_store_record_fn fn;
    void *ctx;
} tail_ctx;

static int pass_on(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                   vdb_error *err)
{
    tail_ctx *t = ctx;
    return lsn <= t->after ? VDB_OK : t->fn(t->ctx, lsn, type, payload, len, err);
}

int vdb_store_wal_tail(vdb_store *store, uint64_t after, vdb_store_record_fn fn, void *ctx,
                       uint64_t *last_lsn, vdb_error *err)
{
    char path[PATH_MAX];
    vdb_wal_options wo = {.policy = VDB_WAL_SYNC_OFF, .read_only = 1}; /* a scan, no writes */
    tail_ctx t = {after, fn, ctx};
    int rc = vdb_fsx_path(path, sizeof(path), store->dir, "wal.log", err);
    if (rc != VDB_OK)
        return rc;
    pthread_mutex_lock(&store->writer);
    if (store->snapshot_lsn > after) {
        rc = vdb_error_set(err, VDB_ERANGE,
                           "the WAL no longer holds the records after LSN %llu (checkpointed at "
                           "LSN %llu)",
                           (unsigned long long)after, (unsigned long long)store->snapshot_lsn);
    } else {
        vdb_wal *scan = NULL;
        rc = vdb_wal_open(path, &wo, pass_on, &t, NULL, &scan, err);
        vdb_wal_close(scan);
        if (rc == VDB_OK)
            *last_lsn = vdb_wal_last_lsn(store->wal);
    }
    pthread_mutex_unlock(&store->writer);
    return rc;
}

uint64_t vdb_store_snapshot_lsn(vdb_store *store)
{
    pthread_mutex_lock(&store->writer);
    uint64_t lsn = store->snapshot_lsn;
    pthread_mutex_unlock(&store->writer);
    return lsn;
}
