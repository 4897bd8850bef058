/* Listing the stores on disk (see registry_list.h). */
#include "registry_list.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/alloc.h"
#include "registry.h"

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the subdirectories of `dir` that pass the name check
 * after stripping `prefix`; *count gets how many. Caller frees. */
static char **list_dirs(const char *dir, const char *prefix, const char *marker, size_t *count,
                        int *rc)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    *count = 0;
    *rc = VDB_OK;
    if (d == NULL) {
        /* A missing directory lists nothing; a descriptor or memory
         * shortage must not look like "no stores". */
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
            *rc = VDB_EBUSY;
        else if (errno != ENOENT && errno != ENOTDIR)
            *rc = VDB_EIO;
        return NULL;
    }
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
            if (grown == NULL) {
                *rc = VDB_ENOMEM;
                break;
            }
            names = grown;
        }
        if ((names[n] = vdb_strdup(de->d_name + plen)) == NULL) {
            *rc = VDB_ENOMEM;
            break;
        }
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

/* Visits the user's stores; returns 1 when fn asked to stop, else 0 or a
 * negative code (err set). */
static int list_user(vdb_registry *registry, const char *user, vdb_registry_visit_fn fn,
                     void *ctx, vdb_error *err)
{
    char dir[4096];
    size_t n = 0;
    int stop = 0;
    int rc = vdb_registry_user_path(dir, sizeof(dir), vdb_registry_data_dir(registry), user, err);
    if (rc != VDB_OK)
        return rc;
    char **models = list_dirs(dir, "", "store.json", &n, &rc);
    if (rc != VDB_OK) {
        free_names(models, n);
        return vdb_error_set(err, rc, "cannot list the stores of user %s: %s", user,
                             rc == VDB_EBUSY ? "too many open files" : vdb_err_text(rc));
    }
    for (size_t i = 0; i < n && !stop; i++)
        stop = fn(ctx, user, models[i]);
    free_names(models, n);
    return stop ? 1 : 0;
}

int vdb_registry_list(vdb_registry *registry, const char *user_id, vdb_registry_visit_fn fn,
                      void *ctx, vdb_error *err)
{
    int rc;
    if (user_id != NULL) {
        rc = vdb_registry_check_name("user_id", user_id, err);
        if (rc != VDB_OK)
            return rc;
        rc = list_user(registry, user_id, fn, ctx, err);
        return rc < 0 ? rc : VDB_OK;
    }
    size_t n = 0;
    char **users = list_dirs(vdb_registry_data_dir(registry), VDB_REGISTRY_USER_PREFIX, NULL, &n, &rc);
    if (rc != VDB_OK) {
        free_names(users, n);
        return vdb_error_set(err, rc, "cannot list the users: %s",
                             rc == VDB_EBUSY ? "too many open files" : vdb_err_text(rc));
    }
    for (size_t i = 0; i < n && rc == VDB_OK; i++) {
        int r = list_user(registry, users[i], fn, ctx, err);
        if (r != 0)
            rc = r < 0 ? r : 1;
    }
    free_names(users, n);
    return rc < 0 ? rc : VDB_OK;
}
