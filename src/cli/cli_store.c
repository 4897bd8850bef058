/* Shared plumbing of the store commands; see cli_store.h. */
#include "cli_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vdb_cli_target_flag(vdb_cli_target *t, int argc, char **argv, int *i)
{
    const char **slot = NULL;
    if (strcmp(argv[*i], "--data-dir") == 0)
        slot = &t->data_dir;
    else if (strcmp(argv[*i], "--user") == 0 || strcmp(argv[*i], "--user-id") == 0)
        slot = &t->user;
    else if (strcmp(argv[*i], "--model") == 0 || strcmp(argv[*i], "--model-id") == 0)
        slot = &t->model;
    if (slot == NULL)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "vdb: %s needs a value\n", argv[*i]);
        return -1;
    }
    *slot = argv[++*i];
    return 1;
}

vdb_registry *vdb_cli_registry(vdb_cli_target *t)
{
    vdb_store_options options;
    vdb_registry *registry;
    vdb_error err;
    const char *dir = t->data_dir ? t->data_dir : getenv("VECTOR_DB_DATA_DIR");
    vdb_error_clear(&err);
    if (dir == NULL || dir[0] == '\0') {
        const char *home = getenv("HOME");
        snprintf(t->resolved, sizeof(t->resolved), "%s/.team_mind_data/vector_stores",
                 home ? home : ".");
    } else {
        snprintf(t->resolved, sizeof(t->resolved), "%s", dir);
    }
    vdb_store_options_default(&options);
    registry = vdb_registry_new(t->resolved, &options, &err);
    if (registry == NULL)
        fprintf(stderr, "vdb: cannot use data directory %s: %s\n", t->resolved, err.msg);
    return registry;
}

vdb_store_handle *vdb_cli_acquire(vdb_registry *registry, const vdb_cli_target *t)
{
    vdb_store_handle *handle = NULL;
    vdb_error err;
    vdb_error_clear(&err);
    if (t->user == NULL || t->model == NULL) {
        fprintf(stderr, "vdb: --user and --model are required\n");
        return NULL;
    }
    if (vdb_registry_acquire(registry, t->user, t->model, &handle, &err) != VDB_OK) {
        fprintf(stderr, "vdb: store %s/%s: %s\n", t->user, t->model, err.msg);
        return NULL;
    }
    return handle;
}
