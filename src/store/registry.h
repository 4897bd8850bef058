/* The multi-tenant layer: (user_id, model_id) -> open vdb_store, kept at
 * <data_dir>/user_<user_id>/<model_id>/.
 *
 * Names are validated ([A-Za-z0-9_.-]{1,64}, not "." or "..") before they
 * touch the file system, so no name reaches outside the data directory.
 * Stores open lazily on first use and stay open until the registry is
 * freed or the store is deleted. Handles are reference counted: a store
 * being deleted is first made invisible (new lookups get VDB_ENOTFOUND),
 * then the delete waits until every handle is released before it closes
 * the store and removes its directory, so a request never sees a freed
 * store. All functions are thread-safe. */
#ifndef VDB_STORE_REGISTRY_H
#define VDB_STORE_REGISTRY_H

#include <stddef.h>

#include "../core/err.h"
#include "store.h"

typedef struct vdb_registry vdb_registry;
typedef struct vdb_store_handle vdb_store_handle;

/* Creates the data directory (mkdir -p) when missing. */
vdb_registry *vdb_registry_new(const char *data_dir, const vdb_store_options *options,
                               vdb_error *err);

/* Closes every store (each checkpoints) and frees. Call when no handle is
 * held any more. NULL is a no-op. */
void vdb_registry_free(vdb_registry *registry);

const char *vdb_registry_data_dir(const vdb_registry *registry);

/* 1 when `name` is a valid user_id/model_id. */
int vdb_registry_name_ok(const char *name);

/* Validates a name; VDB_EINVAL naming `field` when it is not acceptable. */
int vdb_registry_check_name(const char *field, const char *name, vdb_error *err);

/* Looks a store up, opening it from disk when needed. Errors: VDB_EINVAL
 * (bad name), VDB_ENOTFOUND, VDB_ELOCKED, VDB_ECORRUPT, ... Release the
 * handle with vdb_registry_release. */
int vdb_registry_acquire(vdb_registry *registry, const char *user_id, const char *model_id,
                         vdb_store_handle **out, vdb_error *err);

/* Creates a new store. VDB_EEXIST when one is there (on disk or open). */
int vdb_registry_create(vdb_registry *registry, const char *user_id, const char *model_id,
                        const vdb_store_config *config, vdb_store_handle **out, vdb_error *err);

/* Borrowed; valid until the handle is released. */
vdb_store *vdb_registry_store(vdb_store_handle *handle);
const char *vdb_registry_user(const vdb_store_handle *handle);
const char *vdb_registry_model(const vdb_store_handle *handle);
/* The store's directory, borrowed like the store. */
const char *vdb_registry_dir(const vdb_store_handle *handle);

void vdb_registry_release(vdb_store_handle *handle); /* NULL is a no-op */

/* Deletes a store: hides it, waits for its handles to go, closes it and
 * removes its directory. VDB_ENOTFOUND when absent. */
int vdb_registry_delete(vdb_registry *registry, const char *user_id, const char *model_id,
                        vdb_error *err);

/* Calls fn for every store on disk (user_id NULL = every user), sorted by
 * user then model. Does not open stores. Stops when fn returns nonzero. */
typedef int (*vdb_registry_visit_fn)(void *ctx, const char *user_id, const char *model_id);
int vdb_registry_list(vdb_registry *registry, const char *user_id, vdb_registry_visit_fn fn,
                      void *ctx, vdb_error *err);

/* Calls fn for every store open right now (no disk access), with a handle
 * it may use during the call. */
typedef void (*vdb_registry_loaded_fn)(void *ctx, vdb_store_handle *handle);
void vdb_registry_each_loaded(vdb_registry *registry, vdb_registry_loaded_fn fn, void *ctx);

/* Number of stores open right now. */
size_t vdb_registry_loaded_count(vdb_registry *registry);

#endif
