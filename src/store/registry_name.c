/* Store names, paths and message scrubbing (see registry_name.h). */
#include "registry_name.h"

#include <stdio.h>
#include <string.h>

#include "../core/limits.h"
#include "registry_int.h"

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

int vdb_registry_check_names(const char *user_id, const char *model_id, vdb_error *err)
{
    int rc = vdb_registry_check_name("user_id", user_id, err);
    return rc != VDB_OK ? rc : vdb_registry_check_name("model_id", model_id, err);
}

/* snprintf into out[cap]; VDB_EINVAL (out "") when it does not fit. */
static int fit(int n, char *out, size_t cap, const char *user_id, vdb_error *err)
{
    if (n >= 0 && (size_t)n < cap)
        return VDB_OK;
    if (cap > 0)
        out[0] = '\0';
    return vdb_error_set(err, VDB_EINVAL, "a directory of user %s is too long a path", user_id);
}

int vdb_registry_store_path(char *out, size_t cap, const char *data_dir, const char *user_id,
                            const char *model_id, vdb_error *err)
{
    return fit(snprintf(out, cap, "%s/" VDB_REGISTRY_USER_PREFIX "%s/%s", data_dir, user_id,
                        model_id),
               out, cap, user_id, err);
}

int vdb_registry_user_path(char *out, size_t cap, const char *data_dir, const char *user_id,
                           vdb_error *err)
{
    return fit(snprintf(out, cap, "%s/" VDB_REGISTRY_USER_PREFIX "%s", data_dir, user_id), out,
               cap, user_id, err);
}

/* Removes every occurrence of `prefix` + "/" from msg, in place. */
static void strip_prefix(char *msg, const char *prefix)
{
    size_t plen = strlen(prefix);
    char *at;
    if (plen == 0)
        return;
    while ((at = strstr(msg, prefix)) != NULL) {
        size_t cut = plen + (at[plen] == '/');
        memmove(at, at + cut, strlen(at + cut) + 1);
    }
}

void vdb_registry_scrub(const vdb_registry *registry, char *msg)
{
    if (registry == NULL || msg == NULL)
        return;
    strip_prefix(msg, registry->real_dir);
    strip_prefix(msg, registry->data_dir);
}
