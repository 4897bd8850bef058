/* API keys: who is calling.
 *
 * Three kinds of key:
 *  - the admin key (VECTOR_DB_ADMIN_KEY, or generated at first start and
 *    kept only as a SHA-256 hash in <data_dir>/.vdb_auth.json): everything;
 *  - VECTOR_DB_API_KEY: every store, but not key management (as the
 *    original's user key);
 *  - per-user keys, created by the admin, bound to one user_id and stored
 *    only as hashes: that user's stores only.
 * Presented keys are hashed and compared with every candidate hash in
 * constant time (no early exit), so timing reveals neither key nor match.
 * Thread-safe (a rwlock guards the key table). */
#ifndef VDB_API_AUTH_H
#define VDB_API_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../core/limits.h"

typedef struct vdb_auth vdb_auth;

typedef enum {
    VDB_ROLE_NONE = 0,
    VDB_ROLE_USER = 1,   /* per-user key: one user_id */
    VDB_ROLE_STORES = 2, /* VECTOR_DB_API_KEY: all stores */
    VDB_ROLE_ADMIN = 3
} vdb_role;

typedef struct vdb_principal {
    vdb_role role;
    char user_id[VDB_MAX_NAME_LEN + 1]; /* for VDB_ROLE_USER */
    char key_id[17];                    /* public id of a per-user key */
} vdb_principal;

#define VDB_AUTH_KEY_MAX 80

/* The key file's size limit (about 400,000 keys); a larger file is refused
 * whole (VDB_ETOOBIG), never read in part. */
#define VDB_AUTH_FILE_MAX (64u << 20)

/* Loads or initialises the key file in data_dir. admin_key / api_key are
 * the configured keys ("" = unset). When no admin key is configured and
 * none is stored, one is generated and written (hashed) and its plain text
 * is copied to generated_out (VDB_AUTH_KEY_MAX bytes) for printing once;
 * otherwise generated_out[0] is set to 0. With generated_out NULL nothing
 * is generated (tools such as `vdb keys` that only manage per-user keys).
 * The key file is shared with other processes: changes are made under an
 * flock of <data_dir>/.vdb_auth.lock from the file's current contents, and
 * a running server accepts a key added elsewhere at its first use and
 * picks up other changes (revocations) within a second. The
 * table goes to *out (NULL on failure; freed with vdb_auth_free). Errors:
 * VDB_ECORRUPT (the key file is not a key table), VDB_ETOOBIG (over
 * VDB_AUTH_FILE_MAX), VDB_EIO (reading, writing a generated key, or no
 * random bytes), VDB_ENOSPC, VDB_ENOMEM. */
int vdb_auth_open(const char *data_dir, const char *admin_key, const char *api_key,
                  char *generated_out, vdb_auth **out, vdb_error *err);
void vdb_auth_free(vdb_auth *auth);

/* Identifies `key` (NULL/empty = none). VDB_OK with *out filled, or
 * VDB_EAUTH. */
int vdb_auth_check(vdb_auth *auth, const char *key, vdb_principal *out);

/* Creates a per-user key. The plain key goes to key_out (VDB_AUTH_KEY_MAX
 * bytes) and its public id to key_id_out (17 bytes); only the hash is kept.
 * Errors: VDB_EINVAL (user_id), VDB_EIO/VDB_ENOSPC (key file). */
int vdb_auth_create_key(vdb_auth *auth, const char *user_id, char *key_out, char *key_id_out,
                        vdb_error *err);

/* Revokes per-user keys by key id, or every key of user_id when key_id is
 * NULL. *revoked gets the count; VDB_ENOTFOUND when none matched. */
int vdb_auth_revoke(vdb_auth *auth, const char *key_id, const char *user_id, size_t *revoked,
                    vdb_error *err);

/* Calls fn for every per-user key (user_id NULL = all users). */
typedef void (*vdb_auth_visit_fn)(void *ctx, const char *key_id, const char *user_id,
                                  long long created);
void vdb_auth_list(vdb_auth *auth, const char *user_id, vdb_auth_visit_fn fn, void *ctx);

#endif
