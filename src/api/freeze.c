/* Tenant write freeze (see freeze.h): a small set of user ids behind a
 * mutex, persisted as <data_dir>/.vdb_frozen.json = {"version":1,
 * "frozen":["user", ...]}, plus a writer-preferring rwlock used as the
 * barrier between "freeze set" and "no write of that tenant in flight".
 *
 * The set is tiny (a move freezes one tenant per node), so a linear scan
 * under the mutex is cheaper than any index; an atomic count lets every
 * write skip the mutex while nothing is frozen, which is always except
 * during a move. */
#include "freeze.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/limits.h"
#include "router.h"

#define FROZEN_FILE ".vdb_frozen.json"
#define FROZEN_FILE_MAX (VDB_FREEZE_MAX * (VDB_MAX_NAME_LEN + 8) + 64)

struct vdb_freeze {
    char dir[4096];
    pthread_mutex_t mu;      /* guards users/n and the file */
    pthread_rwlock_t gate;   /* shared: a write request; exclusive: the barrier */
    atomic_size_t count;     /* == n, readable without the mutex */
    char (*users)[VDB_MAX_NAME_LEN + 1];
    size_t n;
};

/* Routes that take a body but change no store. Everything else that is
 * not a GET counts as a write: a new write route is frozen by default,
 * which is the safe mistake. */
static const char *const read_only_posts[] = {
    "/vectors/query",       "/vectors/batch_query",     "/vectors/stream_query",
    "/vectors/benchmark",   "/performance/warmup",      "/performance/benchmark",
    "/performance/cache/clear", "/v1/batch/vectors/query", "/v1/batch/benchmark",
    "/monitoring/alerts/test", "/admin/keys",           "/admin/freeze",
};

int vdb_freeze_is_write(const struct vdb_route *route)
{
    if (route == NULL || strcmp(route->method, "GET") == 0)
        return 0;
    for (size_t i = 0; i < sizeof(read_only_posts) / sizeof(read_only_posts[0]); i++)
        if (strcmp(route->path, read_only_posts[i]) == 0)
            return 0;
    return 1;
}

static int load(vdb_freeze *fz, vdb_error *err)
{
    char path[4200], *text = NULL;
    size_t len = 0;
    int rc = vdb_fsx_path(path, sizeof(path), fz->dir, FROZEN_FILE, err);
    if (rc == VDB_OK)
        rc = vdb_fsx_read_file(path, FROZEN_FILE_MAX, &text, &len, err);
    if (rc == VDB_ENOTFOUND)
        return VDB_OK;
    if (rc != VDB_OK)
        return rc == VDB_ETOOBIG ? vdb_error_set(err, VDB_ECORRUPT, FROZEN_FILE " is too large")
                                 : rc;
    vdb_json *root = NULL;
    rc = vdb_json_parse(text, len, 4, &root, err);
    vdb_free(text);
    if (rc == VDB_ENOMEM)
        return rc;
    vdb_json *list = root ? vdb_json_object_get(root, "frozen") : NULL;
    rc = VDB_OK;
    if (list == NULL || vdb_json_typeof(list) != VDB_JSON_ARRAY ||
        vdb_json_array_size(list) > VDB_FREEZE_MAX)
        rc = vdb_error_set(err, VDB_ECORRUPT, FROZEN_FILE " is malformed");
    for (size_t i = 0; rc == VDB_OK && i < vdb_json_array_size(list); i++) {
        vdb_json *item = vdb_json_array_get(list, i);
        const char *user = vdb_json_typeof(item) == VDB_JSON_STRING ? vdb_json_string_value(item)
                                                                     : NULL;
        if (user == NULL || user[0] == '\0' || strlen(user) > VDB_MAX_NAME_LEN)
            rc = vdb_error_set(err, VDB_ECORRUPT, FROZEN_FILE ": entry %zu is not a user id", i);
        else
            memcpy(fz->users[fz->n++], user, strlen(user) + 1);
    }
    vdb_json_decref(root);
    atomic_store(&fz->count, fz->n);
    return rc;
}

int vdb_freeze_open(const char *data_dir, vdb_freeze **out, vdb_error *err)
{
    *out = NULL;
    vdb_freeze *fz = vdb_calloc(1, sizeof(*fz));
    pthread_rwlockattr_t attr;
    if (fz == NULL || (fz->users = vdb_calloc(VDB_FREEZE_MAX, sizeof(*fz->users))) == NULL) {
        vdb_free(fz);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for the freeze set");
    }
    snprintf(fz->dir, sizeof(fz->dir), "%s", data_dir);
    pthread_mutex_init(&fz->mu, NULL);
    pthread_rwlockattr_init(&attr);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&fz->gate, &attr);
    pthread_rwlockattr_destroy(&attr);
    int rc = load(fz, err);
    if (rc != VDB_OK) {
        vdb_freeze_free(fz);
        return rc;
    }
    *out = fz;
    return VDB_OK;
}

void vdb_freeze_free(vdb_freeze *fz)
{
    if (fz == NULL)
        return;
    pthread_rwlock_destroy(&fz->gate);
    pthread_mutex_destroy(&fz->mu);
    vdb_free(fz->users);
    vdb_free(fz);
}

void vdb_freeze_enter(vdb_freeze *fz)
{
    pthread_rwlock_rdlock(&fz->gate);
}

void vdb_freeze_leave(vdb_freeze *fz)
{
    pthread_rwlock_unlock(&fz->gate);
}

static size_t find_locked(const vdb_freeze *fz, const char *user_id)
{
    for (size_t i = 0; i < fz->n; i++)
        if (strcmp(fz->users[i], user_id) == 0)
            return i;
    return (size_t)-1;
}

int vdb_freeze_has(vdb_freeze *fz, const char *user_id)
{
    if (atomic_load(&fz->count) == 0)
        return 0;
    pthread_mutex_lock(&fz->mu);
    int found = find_locked(fz, user_id) != (size_t)-1;
    pthread_mutex_unlock(&fz->mu);
    return found;
}

static vdb_json *list_locked(const vdb_freeze *fz)
{
    vdb_json *list = vdb_json_array();
    for (size_t i = 0; list != NULL && i < fz->n; i++)
        if (vdb_json_array_append_new(list, vdb_json_string(fz->users[i])) != 0) {
            vdb_json_decref(list);
            return NULL;
        }
    return list;
}

static int save_locked(vdb_freeze *fz, vdb_error *err)
{
    vdb_json *root = vdb_json_object(), *list = list_locked(fz);
    char *text = NULL;
    int rc = VDB_ENOMEM;
    if (root != NULL && list != NULL) {
        vdb_json_object_set_new(root, "version", vdb_json_int(1));
        vdb_json_object_set_new(root, "frozen", list);
        list = NULL;
        text = vdb_json_dump(root, 0);
    }
    if (text != NULL)
        rc = vdb_fsx_replace_file(fz->dir, FROZEN_FILE, text, strlen(text), 0600, err);
    else
        vdb_error_set(err, rc, "out of memory writing " FROZEN_FILE);
    vdb_json_free_text(text);
    vdb_json_decref(list);
    vdb_json_decref(root);
    return rc;
}

int vdb_freeze_set(vdb_freeze *fz, const char *user_id, int on, vdb_error *err)
{
    int rc = VDB_OK;
    pthread_mutex_lock(&fz->mu);
    size_t at = find_locked(fz, user_id);
    if (on && at == (size_t)-1) {
        if (fz->n == VDB_FREEZE_MAX) {
            rc = vdb_error_set(err, VDB_ERANGE, "%d tenants are frozen already", VDB_FREEZE_MAX);
        } else {
            snprintf(fz->users[fz->n++], sizeof(fz->users[0]), "%s", user_id);
            if ((rc = save_locked(fz, err)) != VDB_OK)
                fz->n--;
        }
    } else if (!on && at != (size_t)-1) {
        char keep[VDB_MAX_NAME_LEN + 1];
        memcpy(keep, fz->users[at], sizeof(keep));
        memcpy(fz->users[at], fz->users[fz->n - 1], sizeof(keep));
        fz->n--;
        if ((rc = save_locked(fz, err)) != VDB_OK) {
            memcpy(fz->users[fz->n], fz->users[at], sizeof(keep));
            memcpy(fz->users[at], keep, sizeof(keep));
            fz->n++;
        }
    }
    atomic_store(&fz->count, fz->n);
    pthread_mutex_unlock(&fz->mu);
    /* The barrier: once every write that entered before the change has left,
     * the tenant's acknowledged writes are all in its stores. */
    if (rc == VDB_OK && on) {
        pthread_rwlock_wrlock(&fz->gate);
        pthread_rwlock_unlock(&fz->gate);
    }
    return rc;
}

vdb_json *vdb_freeze_list(vdb_freeze *fz)
{
    pthread_mutex_lock(&fz->mu);
    vdb_json *list = list_locked(fz);
    pthread_mutex_unlock(&fz->mu);
    return list;
}
