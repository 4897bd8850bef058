/* Store registry (see registry.h).
 *
 * One mutex guards a small list of open entries. Opening a store happens
 * under that mutex: opens are rare (first use after start) and doing them
 * there guarantees a store directory is opened by exactly one vdb_store,
 * which its flock would otherwise refuse. Reference counts are plain
 * integers under the same mutex; a condition variable wakes a pending
 * delete when the last handle goes. */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/limits.h"
#include "../core/log.h"

struct vdb_store_handle {
    vdb_registry *registry;
    struct vdb_store_handle *next;
    char user[VDB_MAX_NAME_LEN + 1];
    char model[VDB_MAX_NAME_LEN + 1];
    char *dir;
    vdb_store *store;
    size_t refs;
    int doomed;
};

struct vdb_registry {
    pthread_mutex_t lock;
    pthread_cond_t released;
    char *data_dir;
    vdb_store_options options;
    vdb_store_handle *entries;
};

int vdb_registry_name_ok(const char *name)
{
    size_t n = 0;
    if (name == NULL)
        return 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        if (n >= VDB_MAX_NAME_LEN)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int vdb_registry_check_name(const char *field, const char *name, vdb_error *err)
{
    if (name == NULL)
        return vdb_error_set(err, VDB_EINVAL, "%s is required", field);
    if (!vdb_registry_name_ok(name))
        return vdb_error_set(err, VDB_EINVAL,
                             "%s must be 1..%u characters of [A-Za-z0-9_.-] and not '.' or '..'",
                             field, VDB_MAX_NAME_LEN);
    return VDB_OK;
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            buf[i] = saved;
        }
    }
    return 0;
}

vdb_registry *vdb_registry_new(const char *data_dir, const vdb_store_options *options,
                               vdb_error *err)
{
    if (mkdir_p(data_dir) != 0) {
        vdb_error_set(err, errno == ENOSPC ? VDB_ENOSPC : VDB_EIO,
                      "cannot create data directory %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    vdb_registry *registry = vdb_calloc(1, sizeof(*registry));
    if (registry == NULL || (registry->data_dir = vdb_strdup(data_dir)) == NULL) {
        vdb_free(registry);
        vdb_error_set(err, VDB_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&registry->lock, NULL);
    pthread_cond_init(&registry->released, NULL);
    if (options != NULL)
        registry->options = *options;
    else
        vdb_store_options_default(&registry->options);
    return registry;
}

static void entry_free(vdb_store_handle *entry)
{
    if (entry == NULL)
        return;
    vdb_store_close(entry->store);
    vdb_free(entry->dir);
    vdb_free(entry);
}

void vdb_registry_free(vdb_registry *registry)
{
    if (registry == NULL)
        return;
    vdb_store_handle *entry = registry->entries;
    while (entry != NULL) {
        vdb_store_handle *next = entry->next;
        if (entry->refs != 0)
            vdb_log_warn("closing store %s/%s with %zu handles held", entry->user, entry->model,
                         entry->refs);
        entry_free(entry);
        entry = next;
    }
    pthread_mutex_destroy(&registry->lock);
    pthread_cond_destroy(&registry->released);
    vdb_free(registry->data_dir);
    vdb_free(registry);
}

const char *vdb_registry_data_dir(const vdb_registry *registry)
{
    return registry->data_dir;
}

static char *store_dir(const vdb_registry *registry, const char *user_id, const char *model_id)
{
    size_t size = strlen(registry->data_dir) + strlen(user_id) + strlen(model_id) + 16;
    char *dir = vdb_malloc(size);
    if (dir != NULL)
        snprintf(dir, size, "%s/user_%s/%s", registry->data_dir, user_id, model_id);
    return dir;
}

static vdb_store_handle *find_locked(vdb_registry *registry, const char *user_id,
                                     const char *model_id)
{
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        if (strcmp(e->user, user_id) == 0 && strcmp(e->model, model_id) == 0)
            return e;
    return NULL;
}

static vdb_store_handle *entry_new(vdb_registry *registry, const char *user_id,
                                   const char *model_id, vdb_error *err)
{
    vdb_store_handle *entry = vdb_calloc(1, sizeof(*entry));
    if (entry == NULL || (entry->dir = store_dir(registry, user_id, model_id)) == NULL) {
        vdb_free(entry);
        vdb_error_set(err, VDB_ENOMEM, "out of memory");
        return NULL;
    }
    entry->registry = registry;
    snprintf(entry->user, sizeof(entry->user), "%s", user_id);
    snprintf(entry->model, sizeof(entry->model), "%s", model_id);
    return entry;
}

static void link_locked(vdb_registry *registry, vdb_store_handle *entry)
{
    entry->next = registry->entries;
    registry->entries = entry;
    entry->refs = 1;
}

static int check_names(const char *user_id, const char *model_id, vdb_error *err)
{
    int rc = vdb_registry_check_name("user_id", user_id, err);
    return rc != VDB_OK ? rc : vdb_registry_check_name("model_id", model_id, err);
}

int vdb_registry_acquire(vdb_registry *registry, const char *user_id, const char *model_id,
                         vdb_store_handle **out, vdb_error *err)
{
    int rc = check_names(user_id, model_id, err);
    if (rc != VDB_OK)
        return rc;
    pthread_mutex_lock(&registry->lock);
    vdb_store_handle *entry = find_locked(registry, user_id, model_id);
    if (entry != NULL) {
        if (entry->doomed) {
            rc = vdb_error_set(err, VDB_ENOTFOUND, "store %s/%s not found", user_id, model_id);
        } else {
            entry->refs++;
            *out = entry;
        }
        pthread_mutex_unlock(&registry->lock);
        return rc;
    }
    entry = entry_new(registry, user_id, model_id, err);
    if (entry == NULL) {
        pthread_mutex_unlock(&registry->lock);
        return VDB_ENOMEM;
    }
    struct stat st;
    if (stat(entry->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = vdb_error_set(err, VDB_ENOTFOUND, "store %s/%s not found", user_id, model_id);
    } else {
        entry->store = vdb_store_open(entry->dir, &registry->options, err);
        rc = entry->store ? VDB_OK : (err ? err->code : VDB_EIO);
    }
    if (rc == VDB_OK) {
        link_locked(registry, entry);
        *out = entry;
    } else {
        entry_free(entry);
    }
    pthread_mutex_unlock(&registry->lock);
    return rc;
}

int vdb_registry_create(vdb_registry *registry, const char *user_id, const char *model_id,
                        const vdb_store_config *config, vdb_store_handle **out, vdb_error *err)
{
    int rc = check_names(user_id, model_id, err);
    if (rc != VDB_OK)
        return rc;
    pthread_mutex_lock(&registry->lock);
    vdb_store_handle *entry = NULL;
    struct stat st;
    char user_dir[4096], manifest[4400];
    snprintf(user_dir, sizeof(user_dir), "%s/user_%s", registry->data_dir, user_id);
    if (find_locked(registry, user_id, model_id) != NULL) {
        rc = vdb_error_set(err, VDB_EEXIST, "store %s/%s already exists", user_id, model_id);
    } else if ((entry = entry_new(registry, user_id, model_id, err)) == NULL) {
        rc = VDB_ENOMEM;
    } else if (snprintf(manifest, sizeof(manifest), "%s/store.json", entry->dir) > 0 &&
               stat(manifest, &st) == 0) {
        /* Only a manifest makes a store: a directory a crash left between
         * mkdir and the first snapshot is finished by vdb_store_create. */
        rc = vdb_error_set(err, VDB_EEXIST, "store %s/%s already exists", user_id, model_id);
    } else if (mkdir_p(user_dir) != 0) {
        rc = vdb_error_set(err, errno == ENOSPC ? VDB_ENOSPC : VDB_EIO, "cannot create %s: %s",
                           user_dir, strerror(errno));
    } else {
        entry->store = vdb_store_create(entry->dir, config, &registry->options, err);
        rc = entry->store ? VDB_OK : (err ? err->code : VDB_EIO);
    }
    if (rc == VDB_OK) {
        link_locked(registry, entry);
        *out = entry;
    } else {
        entry_free(entry);
    }
    pthread_mutex_unlock(&registry->lock);
    return rc;
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
    if (handle->refs == 0)
        vdb_log_error("registry: release of %s/%s without a reference", handle->user,
                      handle->model);
    else if (--handle->refs == 0 && handle->doomed)
        pthread_cond_broadcast(&registry->released);
    pthread_mutex_unlock(&registry->lock);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void unlink_locked(vdb_registry *registry, vdb_store_handle *entry)
{
    for (vdb_store_handle **p = &registry->entries; *p != NULL; p = &(*p)->next)
        if (*p == entry) {
            *p = entry->next;
            return;
        }
}

int vdb_registry_delete(vdb_registry *registry, const char *user_id, const char *model_id,
                        vdb_error *err)
{
    vdb_store_handle *entry = NULL;
    int rc = vdb_registry_acquire(registry, user_id, model_id, &entry, err);
    if (rc != VDB_OK)
        return rc;
    pthread_mutex_lock(&registry->lock);
    if (entry->doomed) {
        entry->refs--;
        pthread_mutex_unlock(&registry->lock);
        return vdb_error_set(err, VDB_ENOTFOUND, "store %s/%s not found", user_id, model_id);
    }
    entry->doomed = 1;
    entry->refs--;
    while (entry->refs > 0)
        pthread_cond_wait(&registry->released, &registry->lock);
    pthread_mutex_unlock(&registry->lock);
    /* Nobody can reach the entry now: close the store (releasing its lock
     * file) and remove the directory. The entry stays listed, doomed, until
     * the directory is gone, so a concurrent acquire cannot reopen it. */
    vdb_store_close(entry->store);
    entry->store = NULL;
    if (nftw(entry->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        rc = vdb_error_set(err, VDB_EIO, "cannot remove %s: %s", entry->dir, strerror(errno));
    pthread_mutex_lock(&registry->lock);
    unlink_locked(registry, entry);
    pthread_mutex_unlock(&registry->lock);
    entry_free(entry);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the subdirectories of `dir` that pass the name check
 * after stripping `prefix`; *count gets how many. Caller frees. */
static char **list_dirs(const char *dir, const char *prefix, const char *marker, size_t *count)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    *count = 0;
    if (d == NULL)
        return NULL;
    struct dirent *de;
    size_t plen = strlen(prefix);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, plen) != 0 || !vdb_registry_name_ok(de->d_name + plen))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s%s%s", dir, de->d_name, marker ? "/" : "",
                 marker ? marker : "");
        if (stat(path, &st) != 0 || (!marker && !S_ISDIR(st.st_mode)))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = vdb_realloc(names, cap * sizeof(*names));
            if (grown == NULL)
                break;
            names = grown;
        }
        if ((names[n] = vdb_strdup(de->d_name + plen)) != NULL)
            n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), name_cmp);
    *count = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vdb_free(names[i]);
    vdb_free(names);
}

static int list_user(vdb_registry *registry, const char *user, vdb_registry_visit_fn fn,
                     void *ctx)
{
    char dir[4096];
    size_t n = 0;
    int stop = 0;
    snprintf(dir, sizeof(dir), "%s/user_%s", registry->data_dir, user);
    char **models = list_dirs(dir, "", "store.json", &n);
    for (size_t i = 0; i < n && !stop; i++)
        stop = fn(ctx, user, models[i]);
    free_names(models, n);
    return stop;
}

int vdb_registry_list(vdb_registry *registry, const char *user_id, vdb_registry_visit_fn fn,
                      void *ctx, vdb_error *err)
{
    if (user_id != NULL) {
        int rc = vdb_registry_check_name("user_id", user_id, err);
        if (rc != VDB_OK)
            return rc;
        list_user(registry, user_id, fn, ctx);
        return VDB_OK;
    }
    size_t n = 0;
    char **users = list_dirs(registry->data_dir, "user_", NULL, &n);
    for (size_t i = 0; i < n; i++)
        if (list_user(registry, users[i], fn, ctx))
            break;
    free_names(users, n);
    return VDB_OK;
}

void vdb_registry_each_loaded(vdb_registry *registry, vdb_registry_loaded_fn fn, void *ctx)
{
    size_t n = 0, i = 0;
    pthread_mutex_lock(&registry->lock);
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        n++;
    vdb_store_handle **held = n ? vdb_malloc(n * sizeof(*held)) : NULL;
    for (vdb_store_handle *e = registry->entries; e != NULL && held != NULL; e = e->next)
        if (!e->doomed) {
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
    for (vdb_store_handle *e = registry->entries; e != NULL; e = e->next)
        n += !e->doomed;
    pthread_mutex_unlock(&registry->lock);
    return n;
}
