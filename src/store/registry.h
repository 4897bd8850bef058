/* The multi-tenant layer: (user_id, model_id) -> open vdb_store, kept at
 * <data_dir>/user_<user_id>/<model_id>/.
 *
 * Names are validated ([A-Za-z0-9_.-]{1,64}, not "." or "..") before they
 * touch the file system, so no name reaches outside the data directory.
 *
 * Stores open lazily on first use. At most `max_open` stay open (each holds
 * 2 file descriptors): beyond that the least recently used store with no
 * handle held is closed (checkpointed) and reopened transparently on its
 * next use. The cap (the server's VDB_MAX_OPEN_STORES) is by default a
 * quarter of the descriptor limit (RLIMIT_NOFILE) left after a reserve of
 * 256 (or half the limit when smaller), within [16, 4096], so stores use at
 * most half the limit. Stores whose handles are held are never closed: the
 * cap can be exceeded by the number of stores in use at once.
 *
 * Opening, creating, closing and deleting run outside the registry's lock:
 * a slow or broken store holds up only the requests for that store. Each
 * operation on one store takes effect at a single instant (linearizable):
 * a delete makes the store invisible at once (acquire: VDB_ENOTFOUND) and
 * a create or replace issued meanwhile waits for the delete to finish, so
 * nobody sees "already exists" for a store that is going away.
 *
 * A failed open for a reason that does not go away by itself (VDB_ECORRUPT,
 * VDB_EIO, ...) quarantines the store: later acquires get the same error,
 * saying "quarantined", without touching the disk, for VDB_QUARANTINE_S
 * seconds (the server's setting; default VDB_REGISTRY_QUARANTINE_S); then the next acquire tries
 * the open once more. A lock held by another process, a descriptor or
 * memory shortage are not remembered.
 *
 * Handles are reference counted; a delete or replace waits until every
 * handle is released before it closes the store, so a request never sees a
 * freed store. All functions are thread-safe.
 *
 * Three files: registry.c (this header: open, create, close, delete, the
 * LRU cap and quarantine), registry_name.c (registry_name.h: names, the
 * directory layout, scrubbing paths out of messages) and registry_list.c
 * (registry_list.h: listing the stores on disk). This header includes the
 * other two, so callers include only this one. */
#ifndef VDB_STORE_REGISTRY_H
#define VDB_STORE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "registry_list.h"
#include "registry_name.h"
#include "store.h"

#define VDB_REGISTRY_QUARANTINE_S 30

typedef struct vdb_registry vdb_registry;
typedef struct vdb_store_handle vdb_store_handle;

/* A registry over data_dir into *out (NULL on failure; freed with
 * vdb_registry_free); creates the directory (mkdir -p) when missing.
 * `options` (NULL: defaults) apply to every store it opens. Errors:
 * VDB_EINVAL (empty or too long path), VDB_EEXIST (a file is in the way),
 * VDB_ENOSPC, VDB_EIO, VDB_ENOMEM. */
int vdb_registry_new(const char *data_dir, const vdb_store_options *options, vdb_registry **out,
                     vdb_error *err);

/* Closes every open store (each checkpoints; on up to 8 threads) and
 * frees. Call when no handle is held any more. NULL is a no-op. */
void vdb_registry_free(vdb_registry *registry);

/* The data directory as given to vdb_registry_new (borrowed until free);
 * never fails. */
const char *vdb_registry_data_dir(const vdb_registry *registry);

/* Overrides the open-store cap (0 keeps it) and the quarantine time
 * (tests, tools). */
void vdb_registry_set_limits(vdb_registry *registry, size_t max_open, unsigned quarantine_s);

/* Looks a store up, opening it from disk when needed. Release the handle
 * with vdb_registry_release. Errors: VDB_EINVAL (bad name), VDB_ENOTFOUND
 * (no such store, or a delete of it in progress), VDB_ENOMEM, and the
 * store's open errors (vdb_store_open: VDB_ELOCKED, VDB_ECORRUPT, VDB_EIO,
 * VDB_EBUSY when out of descriptors), the lasting ones of which are
 * answered again while the store is quarantined. */
int vdb_registry_acquire(vdb_registry *registry, const char *user_id, const char *model_id,
                         vdb_store_handle **out, vdb_error *err);

/* Creates a new store; waits for a delete of the same store in progress.
 * Errors: VDB_EINVAL (bad name or config), VDB_EEXIST (one is there: on
 * disk, open or quarantined), VDB_ENOSPC or VDB_EIO (its directory cannot
 * be made), VDB_ENOMEM, and vdb_store_create's errors. */
int vdb_registry_create(vdb_registry *registry, const char *user_id, const char *model_id,
                        const vdb_store_config *config, vdb_store_handle **out, vdb_error *err);

/* Creates a store, replacing any existing one (open, on disk or
 * quarantined) in one step: other callers wait for the new store, and
 * never see it missing. Waits for the old store's handles. On failure no
 * store is left. Errors: as vdb_registry_create (but never VDB_EEXIST),
 * plus VDB_ELOCKED when another process holds the old store and
 * VDB_EIO when the old store's directory cannot be removed. */
int vdb_registry_replace(vdb_registry *registry, const char *user_id, const char *model_id,
                         const vdb_store_config *config, vdb_store_handle **out, vdb_error *err);

/* Borrowed; valid until the handle is released. */
vdb_store *vdb_registry_store(vdb_store_handle *handle);
const char *vdb_registry_user(const vdb_store_handle *handle);
const char *vdb_registry_model(const vdb_store_handle *handle);
/* The store's directory, borrowed like the store. */
const char *vdb_registry_dir(const vdb_store_handle *handle);

void vdb_registry_release(vdb_store_handle *handle); /* NULL is a no-op */

/* Deletes a store: hides it, waits for its handles to go, closes it and
 * removes its directory. Errors: VDB_EINVAL (bad name), VDB_ENOTFOUND
 * (absent), VDB_ELOCKED (another process has it open), VDB_EIO (its
 * directory could not be removed), VDB_ENOMEM. */
int vdb_registry_delete(vdb_registry *registry, const char *user_id, const char *model_id,
                        vdb_error *err);

/* A scratch store for a measurement (the server's /performance/benchmark):
 * created at the top of the data directory as ".bench-<uuid>", beside the
 * user_<id> directories that alone hold stores, so no request and no
 * listing reaches it, and never registered (the open-store cap does not
 * count it). *out is the caller's until
 * vdb_registry_scratch_drop; `dir` (cap bytes) receives its directory for
 * that call. Errors: VDB_EINVAL (the path does not fit), and
 * vdb_store_create's (VDB_EIO, VDB_ENOSPC, VDB_ENOMEM, ...). */
int vdb_registry_scratch_open(vdb_registry *registry, const vdb_store_config *config,
                              const vdb_store_options *options, vdb_store **out, char *dir,
                              size_t cap, vdb_error *err);

/* Closes a scratch store and removes its directory (best effort: a
 * leftover directory is invisible to requests and listings). */
void vdb_registry_scratch_drop(vdb_store *store, const char *dir);

/* Calls fn for every store open right now (no disk access), with a handle
 * it may use during the call. */
typedef void (*vdb_registry_loaded_fn)(void *ctx, vdb_store_handle *handle);
void vdb_registry_each_loaded(vdb_registry *registry, vdb_registry_loaded_fn fn, void *ctx);

/* Number of stores open right now. */
size_t vdb_registry_loaded_count(vdb_registry *registry);

typedef struct vdb_registry_stat {
    size_t open;        /* stores open now */
    size_t max_open;    /* the cap */
    size_t quarantined; /* stores whose failed open is remembered now */
    uint64_t evictions; /* idle stores closed for the cap since start */
} vdb_registry_stat;
void vdb_registry_stats(vdb_registry *registry, vdb_registry_stat *out);

#endif
