/* Store registry: the lifecycle of open stores (see registry.h; names and
 * paths are in registry_name.c, listing the disk in registry_list.c).
 *
 * One mutex guards a list of entries, one per store that is open, being
 * opened, closed, created or deleted, or quarantined. The slow work (open,
 * create, close with its checkpoint, directory removal) runs with the
 * mutex released, while the entry is in a transitional state: callers that
 * need the same store wait on the registry's condition variable for that
 * entry to settle, callers for other stores are not held up (issue 11 item
 * 16). Because every operation on a store goes through its entry, and a
 * transitional entry makes the others wait for the outcome, each operation
 * takes effect at one instant: a caller never sees a state that did not
 * exist (item 10).
 *
 * Idle stores are closed least-recently-used first once more than
 * `max_open` are open (item 2); a store with handles held is never closed.
 * A store whose open failed for a reason that does not go away by itself
 * (corrupt or unreadable files) is quarantined: the failure is remembered
 * and answered without touching the disk until `quarantine_ms` have passed,
 * after which the next request retries the open once. */
#include "registry.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/limits.h"
#include "../core/log.h"
#include "../core/rng.h"
#include "lockfile.h"
#include "registry_int.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* The default cap on open stores: each open store holds 2 descriptors
 * (wal.log, .store.lock), so a quarter of the descriptor limit left after
 * a reserve for sockets and transient files (256, or half the limit when
 * that is less), within [16, 4096]: at most half the limit goes to stores. */
static size_t default_max_open(void)
{
    struct rlimit rl;
    size_t cap = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t limit = (size_t)rl.rlim_cur, reserve = limit / 2 < 256 ? limit / 2 : 256;
        cap = (limit - reserve) / 4;
    }
    return cap < 16 ? 16 : cap > 4096 ? 4096 : cap;
}

int vdb_registry_new(const char *data_dir, const vdb_store_options *options, vdb_registry **out,
                     vdb_error *err)
{
    char real[PATH_MAX];
    *out = NULL;
    /* The operator's own path: this error goes to the console at start,
     * never into an HTTP answer. */
    int rc = vdb_fsx_mkdirs(data_dir, 0700, err);
    if (rc != VDB_OK)
        return rc;
    vdb_registry *registry = vdb_calloc(1, sizeof(*registry));
    if (registry == NULL || (registry->data_dir = vdb_strdup(data_dir)) == NULL ||
        (registry->real_dir = vdb_strdup(realpath(data_dir, real) ? real : data_dir)) == NULL) {
        if (registry != NULL)
            vdb_free(registry->data_dir);
        vdb_free(registry);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&registry->lock, NULL);
    pthread_cond_init(&registry->changed, NULL);
    if (options != NULL)
        registry->options = *options;
    else
        vdb_store_options_default(&registry->options);
    registry->max_open = default_max_open();
    registry->quarantine_ms = (long long)VDB_REGISTRY_QUARANTINE_S * 1000;
    *out = registry;
    return VDB_OK;
}

void vdb_registry_set_limits(vdb_registry *registry, size_t max_open, unsigned quarantine_s)
{
    pthread_mutex_lock(&registry->lock);
    if (max_open > 0)
        registry->max_open = max_open;
    registry->quarantine_ms = (long long)quarantine_s * 1000;
    pthread_mutex_unlock(&registry->lock);
}

static void entry_free(vdb_store_handle *entry)
{
    if (entry == NULL)
        return;
    vdb_store_close(entry->store);
    vdb_free(entry->dir);
    vdb_free(entry);
}

/* Closes the stores of `entries` on up to 8 threads: each close is a
 * checkpoint (a few fsyncs), so 2,000 open stores closed one after another
 * took 15 s; in parallel the fsyncs overlap. */
typedef struct closer {
    vdb_store_handle **entries;
    size_t n;
    _Atomic size_t next;
} closer;

static void *closer_main(void *arg)
{
    closer *c = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->n)
            return NULL;
        entry_free(c->entries[i]);
    }
}

void vdb_registry_free(vdb_registry *registry)
{
    if (registry == NULL)
        return;
    size_t n = 0;
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        n++;
    vdb_store_handle **all = n ? vdb_malloc(n * sizeof(*all)) : NULL;
    size_t i = 0;
    for (vdb_store_handle *e = registry->entries, *next; e != NULL; e = next) {
        next = e->next;
        if (e->refs != 0)
            vdb_log_warn("closing store %s/%s with %zu handles held", e->user, e->model, e->refs);
        if (all != NULL)
            all[i++] = e;
        else
            entry_free(e);
    }
    if (all != NULL) {
        closer c = {all, n, 0};
        pthread_t threads[8];
        size_t started = 0;
        for (size_t t = 0; t < 8 && t < n / 16 + 1; t++)
            if (pthread_create(&threads[started], NULL, closer_main, &c) == 0)
                started++;
        closer_main(&c);
        for (size_t t = 0; t < started; t++)
            pthread_join(threads[t], NULL);
        vdb_free(all);
    }
    pthread_mutex_destroy(&registry->lock);
    pthread_cond_destroy(&registry->changed);
    vdb_free(registry->data_dir);
    vdb_free(registry->real_dir);
    vdb_free(registry);
}

const char *vdb_registry_data_dir(const vdb_registry *registry)
{
    return registry->data_dir;
}

static vdb_store_handle *find_locked(vdb_registry *registry, const char *user_id,
                                     const char *model_id)
{
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        if (strcmp(e->user, user_id) == 0 && strcmp(e->model, model_id) == 0)
            return e;
    return NULL;
}

/* A new entry in `state`, linked. NULL (err set) on VDB_ENOMEM, or
 * VDB_EINVAL when the store's path is too long. */
static vdb_store_handle *entry_add_locked(vdb_registry *registry, const char *user_id,
                                          const char *model_id, entry_state state,
                                          vdb_error *err)
{
    char dir[PATH_MAX];
    if (vdb_registry_store_path(dir, sizeof(dir), registry->data_dir, user_id, model_id, err) !=
        VDB_OK)
        return NULL;
    vdb_store_handle *entry = vdb_calloc(1, sizeof(*entry));
    if (entry == NULL || (entry->dir = vdb_strdup(dir)) == NULL) {
        vdb_free(entry);
        vdb_error_set(err, VDB_ENOMEM, "out of memory");
        return NULL;
    }
    entry->registry = registry;
    entry->state = state;
    snprintf(entry->user, sizeof(entry->user), "%s", user_id);
    snprintf(entry->model, sizeof(entry->model), "%s", model_id);
    entry->next = registry->entries;
    registry->entries = entry;
    return entry;
}

static void unlink_locked(vdb_registry *registry, vdb_store_handle *entry)
{
    for (vdb_store_handle **p = &registry->entries; *p != NULL; p = &(*p)->next)
        if (*p == entry) {
            *p = entry->next;
            return;
        }
}

/* Failures that go away by themselves are not remembered: a lock another
 * process holds, a descriptor or memory shortage. */
static int transient(int code)
{
    return code == VDB_ELOCKED || code == VDB_EBUSY || code == VDB_ENOMEM ||
           code == VDB_ENOTFOUND;
}

/* Closes idle open stores, least recently used first, while more than
 * max_open are open. Called and returns with the lock held; drops it
 * around each close (the entry is CLOSING meanwhile). */
static void evict_locked(vdb_registry *registry)
{
    while (registry->open_count > registry->max_open) {
        vdb_store_handle *victim = NULL;
        for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
            if (e->state == ENTRY_OPEN && e->refs == 0 &&
                (victim == NULL || e->last_used < victim->last_used))
                victim = e;
        if (victim == NULL)
            return; /* every open store is in use: over the cap until released */
        victim->state = ENTRY_CLOSING;
        registry->open_count--;
        registry->evictions++;
        pthread_mutex_unlock(&registry->lock);
        vdb_store_close(victim->store);
        victim->store = NULL;
        pthread_mutex_lock(&registry->lock);
        unlink_locked(registry, victim);
        entry_free(victim);
        pthread_cond_broadcast(&registry->changed);
    }
}

/* Publishes the outcome of an open/create begun on `entry` (lock held). */
static int settle_locked(vdb_registry *registry, vdb_store_handle *entry, vdb_store *store,
                         int rc, const vdb_error *failure, vdb_store_handle **out)
{
    if (rc == VDB_OK) {
        entry->store = store;
        entry->state = ENTRY_OPEN;
        entry->refs = 1;
        entry->last_used = ++registry->tick;
        registry->open_count++;
        *out = entry;
    } else if (transient(rc)) {
        unlink_locked(registry, entry);
        entry_free(entry);
    } else {
        entry->state = ENTRY_FAILED;
        entry->failed_at_ms = mono_ms();
        entry->failure = *failure;
        vdb_log_error("store %s/%s quarantined for %lld s: %s", entry->user, entry->model,
                      registry->quarantine_ms / 1000, failure->msg);
    }
    pthread_cond_broadcast(&registry->changed);
    evict_locked(registry);
    return rc;
}

static int quarantined(const vdb_store_handle *entry, long long left_ms, vdb_error *err)
{
    return vdb_error_set(err, entry->failure.code,
                         "store %s/%s is quarantined after a failed open (retried in %lld s): %s",
                         entry->user, entry->model, (left_ms + 999) / 1000, entry->failure.msg);
}

/* Whether the store's directory exists (0/1), or a negative code. */
static int dir_exists(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode);
    return errno == ENOENT || errno == ENOTDIR ? 0 : VDB_EIO;
}

int vdb_registry_acquire(vdb_registry *registry, const char *user_id, const char *model_id,
                         vdb_store_handle **out, vdb_error *err)
{
    int rc = vdb_registry_check_names(user_id, model_id, err);
    vdb_store_handle *entry;
    if (rc != VDB_OK)
        return rc;
    pthread_mutex_lock(&registry->lock);
    for (;;) {
        entry = find_locked(registry, user_id, model_id);
        if (entry == NULL)
            break;
        if (entry->state == ENTRY_OPEN) {
            entry->refs++;
            entry->last_used = ++registry->tick;
            *out = entry;
            pthread_mutex_unlock(&registry->lock);
            return VDB_OK;
        }
        if (entry->state == ENTRY_DELETING) {
            pthread_mutex_unlock(&registry->lock);
            return vdb_error_set(err, VDB_ENOTFOUND, "store %s/%s not found", user_id, model_id);
        }
        if (entry->state == ENTRY_FAILED) {
            long long left = entry->failed_at_ms + registry->quarantine_ms - mono_ms();
            if (left > 0) {
                rc = quarantined(entry, left, err);
                pthread_mutex_unlock(&registry->lock);
                return rc;
            }
            entry->state = ENTRY_OPENING; /* the backoff is over: one retry */
            break;
        }
        pthread_cond_wait(&registry->changed, &registry->lock);
    }
    if (entry == NULL &&
        (entry = entry_add_locked(registry, user_id, model_id, ENTRY_OPENING, err)) == NULL) {
        pthread_mutex_unlock(&registry->lock);
        return VDB_ENOMEM;
    }
    pthread_mutex_unlock(&registry->lock);
    /* The slow part, with no registry lock held. */
    vdb_error local;
    vdb_error_clear(&local);
    vdb_store *store = NULL;
    rc = dir_exists(entry->dir);
    if (rc == 0)
        rc = vdb_error_set(&local, VDB_ENOTFOUND, "store %s/%s not found", user_id, model_id);
    else if (rc < 0)
        rc = vdb_error_set(&local, rc, "cannot look up store %s/%s", user_id, model_id);
    else
        rc = vdb_store_open(entry->dir, &registry->options, &store, &local);
    vdb_registry_scrub(registry, local.msg);
    if (rc != VDB_OK && err != NULL)
        *err = local;
    pthread_mutex_lock(&registry->lock);
    rc = settle_locked(registry, entry, store, rc, &local, out);
    pthread_mutex_unlock(&registry->lock);
    return rc;
}

/* Removes a store directory (lock held on it, or no store in it). */
static int remove_dir(const vdb_store_handle *entry, vdb_error *err)
{
    vdb_error rm_err;
    int rc = vdb_fsx_remove_tree(entry->dir, &rm_err);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "cannot remove store %s/%s: %s", entry->user, entry->model,
                             rm_err.msg);
    return VDB_OK;
}

/* Removes a store that is not open here: under its lock file, so a store
 * another process (the CLI) has open is refused with VDB_ELOCKED. */
static int remove_closed(const vdb_store_handle *entry, vdb_error *err)
{
    int rc = dir_exists(entry->dir);
    if (rc == 0)
        return vdb_error_set(err, VDB_ENOTFOUND, "store %s/%s not found", entry->user,
                             entry->model);
    if (rc < 0)
        return vdb_error_set(err, rc, "cannot look up store %s/%s", entry->user, entry->model);
    vdb_lockfile *lock;
    if ((rc = vdb_lockfile_acquire(entry->dir, &lock, err)) != VDB_OK)
        return rc;
    rc = remove_dir(entry, err);
    vdb_lockfile_release(lock);
    return rc;
}

/* Waits until no handle of `entry` is held, then closes its store. Called
 * with the lock held and the entry in a state no new acquire passes. */
static void drain_close_locked(vdb_registry *registry, vdb_store_handle *entry)
{
    while (entry->refs > 0)
        pthread_cond_wait(&registry->changed, &registry->lock);
    if (entry->store != NULL) {
        vdb_store *store = entry->store;
        entry->store = NULL;
        registry->open_count--;
        pthread_mutex_unlock(&registry->lock);
        vdb_store_close(store);
        pthread_mutex_lock(&registry->lock);
    }
}

/* Takes the entry for (user, model) into `state` once it has settled,
 * adding one when there is none. *was_open says whether it held an open
 * store, *was_failed whether it was quarantined. */
static vdb_store_handle *claim_locked(vdb_registry *registry, const char *user_id,
                                      const char *model_id, entry_state state, int *was_open,
                                      int *was_failed, vdb_error *err)
{
    vdb_store_handle *entry;
    for (;;) {
        entry = find_locked(registry, user_id, model_id);
        if (entry == NULL || entry->state == ENTRY_OPEN || entry->state == ENTRY_FAILED)
            break;
        pthread_cond_wait(&registry->changed, &registry->lock);
    }
    *was_open = entry != NULL && entry->state == ENTRY_OPEN;
    *was_failed = entry != NULL && entry->state == ENTRY_FAILED;
    if (entry == NULL)
        return entry_add_locked(registry, user_id, model_id, state, err);
    entry->state = state;
    return entry;
}

static int create_in(vdb_registry *registry, vdb_store_handle *entry,
                     const vdb_store_config *config, vdb_store **store, vdb_error *err)
{
    char user_dir[4096], manifest[4400];
    struct stat st;
    int urc = vdb_registry_user_path(user_dir, sizeof(user_dir), registry->data_dir, entry->user,
                                     err);
    if (urc != VDB_OK)
        return urc;
    snprintf(manifest, sizeof(manifest), "%s/store.json", entry->dir);
    /* Only a manifest makes a store: a directory a crash left between
     * mkdir and the first snapshot is finished by vdb_store_create. */
    if (stat(manifest, &st) == 0)
        return vdb_error_set(err, VDB_EEXIST, "store %s/%s already exists", entry->user,
                             entry->model);
    /* fsx's message names the server's path: this one goes to clients. */
    int mrc = vdb_fsx_mkdirs(user_dir, 0700, NULL);
    if (mrc != VDB_OK)
        return vdb_error_set(err, mrc == VDB_ENOSPC ? VDB_ENOSPC : VDB_EIO,
                             "cannot create the directory of user %s: %s", entry->user,
                             vdb_err_text(mrc));
    return vdb_store_create(entry->dir, config, &registry->options, store, err);
}

static int create_impl(vdb_registry *registry, const char *user_id, const char *model_id,
                       const vdb_store_config *config, int replace, vdb_store_handle **out,
                       vdb_error *err)
{
    int rc = vdb_registry_check_names(user_id, model_id, err), was_open, was_failed;
    vdb_store *store = NULL;
    vdb_error local;
    if (rc != VDB_OK)
        return rc;
    vdb_error_clear(&local);
    pthread_mutex_lock(&registry->lock);
    vdb_store_handle *entry = claim_locked(registry, user_id, model_id,
                                           replace ? ENTRY_REPLACING : ENTRY_OPENING, &was_open,
                                           &was_failed, err);
    if (entry == NULL) {
        pthread_mutex_unlock(&registry->lock);
        return VDB_ENOMEM;
    }
    if ((was_open || was_failed) && !replace) {
        entry->state = was_open ? ENTRY_OPEN : ENTRY_FAILED; /* untouched */
        pthread_cond_broadcast(&registry->changed);
        pthread_mutex_unlock(&registry->lock);
        return vdb_error_set(err, VDB_EEXIST, "store %s/%s already exists", user_id, model_id);
    }
    if (was_open)
        drain_close_locked(registry, entry);
    pthread_mutex_unlock(&registry->lock);
    rc = VDB_OK;
    if (replace && (rc = was_open ? remove_dir(entry, &local) : remove_closed(entry, &local)) ==
                       VDB_ENOTFOUND)
        rc = VDB_OK;
    if (rc == VDB_OK)
        rc = create_in(registry, entry, config, &store, &local);
    vdb_registry_scrub(registry, local.msg);
    if (rc != VDB_OK && err != NULL)
        *err = local;
    pthread_mutex_lock(&registry->lock);
    if (rc != VDB_OK) {
        /* Nothing usable is left: forget the entry (the next acquire looks
         * at the disk afresh). */
        unlink_locked(registry, entry);
        entry_free(entry);
        pthread_cond_broadcast(&registry->changed);
    } else {
        settle_locked(registry, entry, store, rc, &local, out);
    }
    pthread_mutex_unlock(&registry->lock);
    return rc;
}

int vdb_registry_create(vdb_registry *registry, const char *user_id, const char *model_id,
                        const vdb_store_config *config, vdb_store_handle **out, vdb_error *err)
{
    return create_impl(registry, user_id, model_id, config, 0, out, err);
}

int vdb_registry_replace(vdb_registry *registry, const char *user_id, const char *model_id,
                         const vdb_store_config *config, vdb_store_handle **out, vdb_error *err)
{
    return create_impl(registry, user_id, model_id, config, 1, out, err);
}

vdb_store *vdb_registry_store(vdb_store_handle *handle)
{
    return handle->store;
}

const char *vdb_registry_user(const vdb_store_handle *handle)
{
    return handle->user;
}

const char *vdb_registry_model(const vdb_store_handle *handle)
{
    return handle->model;
}

const char *vdb_registry_dir(const vdb_store_handle *handle)
{
    return handle->dir;
}

void vdb_registry_release(vdb_store_handle *handle)
{
    if (handle == NULL)
        return;
    vdb_registry *registry = handle->registry;
    pthread_mutex_lock(&registry->lock);
    if (handle->refs == 0) {
        vdb_log_error("registry: release of %s/%s without a reference", handle->user,
                      handle->model);
    } else if (--handle->refs == 0) {
        if (handle->state != ENTRY_OPEN)
            pthread_cond_broadcast(&registry->changed); /* a delete/replace waits */
        else
            evict_locked(registry);
    }
    pthread_mutex_unlock(&registry->lock);
}

int vdb_registry_delete(vdb_registry *registry, const char *user_id, const char *model_id,
                        vdb_error *err)
{
    int rc = vdb_registry_check_names(user_id, model_id, err), was_open, was_failed;
    vdb_error local;
    if (rc != VDB_OK)
        return rc;
    vdb_error_clear(&local);
    pthread_mutex_lock(&registry->lock);
    /* From here on acquires answer "not found": the delete takes effect now. */
    vdb_store_handle *entry = claim_locked(registry, user_id, model_id, ENTRY_DELETING,
                                           &was_open, &was_failed, err);
    if (entry == NULL) {
        pthread_mutex_unlock(&registry->lock);
        return VDB_ENOMEM;
    }
    if (was_open)
        drain_close_locked(registry, entry);
    pthread_mutex_unlock(&registry->lock);
    rc = was_open ? remove_dir(entry, &local) : remove_closed(entry, &local);
    vdb_registry_scrub(registry, local.msg);
    if (rc != VDB_OK && err != NULL)
        *err = local;
    pthread_mutex_lock(&registry->lock);
    unlink_locked(registry, entry);
    entry_free(entry);
    pthread_cond_broadcast(&registry->changed);
    pthread_mutex_unlock(&registry->lock);
    return rc;
}

int vdb_registry_scratch_open(vdb_registry *registry, const vdb_store_config *config,
                              const vdb_store_options *options, vdb_store **out, char *dir,
                              size_t cap, vdb_error *err)
{
    char uuid[VDB_UUID_LEN];
    vdb_error local;
    *out = NULL;
    vdb_rng_uuid(uuid);
    int n = snprintf(dir, cap, "%s/.bench-%s", registry->data_dir, uuid);
    if (n < 0 || (size_t)n >= cap)
        return vdb_error_set(err, VDB_EINVAL, "the data directory is too long a path");
    vdb_error_clear(&local);
    int rc = vdb_store_create(dir, config, options, out, &local);
    if (rc == VDB_OK)
        return VDB_OK;
    vdb_registry_scrub(registry, local.msg);
    if (err != NULL)
        *err = local;
    return rc;
}

void vdb_registry_scratch_drop(vdb_store *store, const char *dir)
{
    vdb_store_close(store);
    if (dir != NULL && dir[0] != '\0')
        vdb_fsx_remove_tree(dir, NULL);
}

void vdb_registry_each_loaded(vdb_registry *registry, vdb_registry_loaded_fn fn, void *ctx)
{
    size_t n = 0, i = 0;
    pthread_mutex_lock(&registry->lock);
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        n += e->state == ENTRY_OPEN;
    vdb_store_handle **held = n ? vdb_malloc(n * sizeof(*held)) : NULL;
    for (vdb_store_handle *e = registry->entries; e != NULL && held != NULL; e = e->next)
        if (e->state == ENTRY_OPEN) {
            e->refs++;
            held[i++] = e;
        }
    pthread_mutex_unlock(&registry->lock);
    for (size_t j = 0; j < i; j++) {
        fn(ctx, held[j]);
        vdb_registry_release(held[j]);
    }
    vdb_free(held);
}

size_t vdb_registry_loaded_count(vdb_registry *registry)
{
    size_t n = 0;
    pthread_mutex_lock(&registry->lock);
    n = registry->open_count;
    pthread_mutex_unlock(&registry->lock);
    return n;
}

void vdb_registry_stats(vdb_registry *registry, vdb_registry_stat *out)
{
    long long now = mono_ms();
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&registry->lock);
    out->open = registry->open_count;
    out->max_open = registry->max_open;
    out->evictions = registry->evictions;
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        out->quarantined += e->state == ENTRY_FAILED &&
                            e->failed_at_ms + registry->quarantine_ms > now;
    pthread_mutex_unlock(&registry->lock);
}
