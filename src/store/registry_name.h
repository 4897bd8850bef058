/* Store names and where they live: which user_id/model_id are acceptable,
 * the directory layout <data_dir>/user_<user_id>/<model_id>/, and the
 * scrubbing of the data directory's path out of messages that reach
 * clients. Pure functions of their arguments (scrub reads the registry's
 * immutable paths), thread-safe. Included by registry.h: callers include
 * that. */
#ifndef VDB_STORE_REGISTRY_NAME_H
#define VDB_STORE_REGISTRY_NAME_H

#include <stddef.h>

#include "../core/err.h"

typedef struct vdb_registry vdb_registry;

/* What a user's directory name starts with, before the user_id. */
#define VDB_REGISTRY_USER_PREFIX "user_"

/* 1 when `name` is a valid user_id/model_id: [A-Za-z0-9_.-]{1,64}, not "."
 * or "..", so no name reaches outside the data directory; else 0. Never
 * fails. */
int vdb_registry_name_ok(const char *name);

/* Validates a name. Errors: VDB_EINVAL naming `field` (missing or not
 * acceptable). */
int vdb_registry_check_name(const char *field, const char *name, vdb_error *err);

/* Validates both names of a store. Errors: VDB_EINVAL (as above). */
int vdb_registry_check_names(const char *user_id, const char *model_id, vdb_error *err);

/* A store's directory, <data_dir>/user_<user_id>/<model_id>, into
 * out[cap]. Names must be valid. Errors: VDB_EINVAL when it does not fit
 * (out is then ""). */
int vdb_registry_store_path(char *out, size_t cap, const char *data_dir, const char *user_id,
                            const char *model_id, vdb_error *err);

/* A user's directory, <data_dir>/user_<user_id>, into out[cap]. Errors:
 * VDB_EINVAL when it does not fit (out is then ""). */
int vdb_registry_user_path(char *out, size_t cap, const char *data_dir, const char *user_id,
                           vdb_error *err);

/* Removes the data directory's path (as given and as resolved) from a
 * message in place, so errors name files relative to the data directory
 * and never the server's absolute path. NULL registry is a no-op. */
void vdb_registry_scrub(const vdb_registry *registry, char *msg);

#endif
