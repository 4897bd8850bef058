/* `vdb export`: writes a store (or every store of a user) to a ZIP archive
 * in the same format as GET /admin/export_zip, so POST /admin/import_zip
 * (and the original's importer, for single stores) reads it back. */
#include <stdio.h>
#include <string.h>

#include "../backup/export.h"
#include "../core/limits.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"

typedef struct models {
    char names[256][VDB_MAX_NAME_LEN + 1];
    size_t n;
} models;

static int collect(void *ctx, const char *user_id, const char *model_id)
{
    models *m = ctx;
    (void)user_id;
    if (m->n == sizeof(m->names) / sizeof(m->names[0]))
        return 1;
    snprintf(m->names[m->n++], VDB_MAX_NAME_LEN + 1, "%s", model_id);
    return 0;
}

/* Adds one store; the handle stays held until the archive is written. */
static int add_one(vdb_registry *registry, vdb_export *ex, const char *user, const char *model,
                   const char *prefix, vdb_store_handle **held, vdb_error *err)
{
    int rc = vdb_registry_acquire(registry, user, model, held, err);
    if (rc == VDB_OK)
        rc = vdb_export_add_store(ex, vdb_registry_store(*held), vdb_registry_dir(*held), model,
                                  prefix, err);
    return rc;
}

int vdb_cmd_export(int argc, char **argv)
{
    vdb_cli_target target = {0};
    static models list;
    vdb_store_handle *held[256] = {0};
    vdb_registry *registry = NULL;
    vdb_export *ex = NULL;
    const char *out = NULL;
    vdb_error err;
    int rc = VDB_OK;
    static const char USAGE[] =
        "usage: vdb export --user U [--model M] --out FILE.zip [--data-dir DIR]\n";
    for (int i = 1; i < argc; i++) {
        int step = vdb_cli_common(&target, USAGE, argc, argv, &i);
        if (step == VDB_CLI_TOOK)
            continue;
        if (step != VDB_CLI_OWN)
            return step == VDB_CLI_HELP ? 0 : 2;
        if (strcmp(argv[i], "--out") == 0) {
            if ((out = vdb_cli_value("export", USAGE, argc, argv, &i)) == NULL)
                return 2;
        } else {
            return vdb_cli_unknown("export", USAGE, argv[i]);
        }
    }
    if (out == NULL || target.user == NULL)
        return vdb_cli_usage_error("export", USAGE, "%s is required",
                                   target.user == NULL ? "--user" : "--out");
    vdb_error_clear(&err);
    if ((registry = vdb_cli_registry(&target, 0)) == NULL)
        return 1;
    list.n = 0;
    if (target.model != NULL) {
        snprintf(list.names[0], sizeof(list.names[0]), "%s", target.model);
        list.n = 1;
    } else {
        rc = vdb_registry_list(registry, target.user, collect, &list, &err);
        if (rc == VDB_OK && list.n == 0)
            rc = vdb_error_set(&err, VDB_ENOTFOUND, "no stores for user %s", target.user);
    }
    if (rc == VDB_OK)
        rc = vdb_export_new(target.user, &ex, &err);
    for (size_t i = 0; rc == VDB_OK && i < list.n; i++)
        rc = add_one(registry, ex, target.user, list.names[i], target.model ? "" : list.names[i],
                     &held[i], &err);
    if (rc == VDB_OK)
        rc = vdb_export_write(ex, out, &err);
    if (rc == VDB_OK)
        printf("exported %zu store(s) of %s to %s\n", list.n, target.user, out);
    else
        fprintf(stderr, "vdb export: %s\n", err.msg);
    vdb_export_free(ex); /* unpins the stores: before their handles go */
    for (size_t i = 0; i < list.n; i++)
        vdb_registry_release(held[i]);
    vdb_registry_free(registry);
    return rc == VDB_OK ? 0 : 1;
}
