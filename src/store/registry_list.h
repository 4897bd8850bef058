/* Listing the stores on disk: walks <data_dir>/user_<u>/<m>/store.json without
 * opening any store (the registry's open stores play no part). Thread-safe
 * (reads the directory tree only). Included by registry.h: callers include
 * that. */
#ifndef VDB_STORE_REGISTRY_LIST_H
#define VDB_STORE_REGISTRY_LIST_H

#include "../core/err.h"

typedef struct vdb_registry vdb_registry;

/* Calls fn for every store on disk (user_id NULL = every user), sorted by
 * user then model. Does not open stores. Stops when fn returns nonzero.
 * A directory that cannot be read fails the listing: a partial list is
 * never returned as if it were whole. Errors: VDB_EINVAL (bad user_id),
 * VDB_EBUSY (out of descriptors), VDB_EIO, VDB_ENOMEM. */
typedef int (*vdb_registry_visit_fn)(void *ctx, const char *user_id, const char *model_id);
int vdb_registry_list(vdb_registry *registry, const char *user_id, vdb_registry_visit_fn fn,
                      void *ctx, vdb_error *err);

#endif
