/* What the store commands (create, import, query, count, list) share: the
 * common flags (--data-dir, --user, --model) and opening a store through
 * the registry, the same layer the server uses, so the CLI sees exactly the
 * server's on-disk layout and honours its lock. */
#ifndef VDB_CLI_CLI_STORE_H
#define VDB_CLI_CLI_STORE_H

#include "../store/registry.h"

typedef struct vdb_cli_target {
    const char *data_dir; /* --data-dir, $VECTOR_DB_DATA_DIR, ~/.team_mind_data/vector_stores */
    const char *user;     /* --user */
    const char *model;    /* --model */
    char resolved[4096];
} vdb_cli_target;

/* Consumes --data-dir/--user/--model at argv[*i] (advancing *i); returns 1
 * when it took the flag, 0 when the flag is not one of them, -1 when the
 * value is missing. */
int vdb_cli_target_flag(vdb_cli_target *t, int argc, char **argv, int *i);

/* Resolves the data directory and opens the registry; prints the error and
 * returns NULL on failure. */
vdb_registry *vdb_cli_registry(vdb_cli_target *t);

/* Opens --user/--model (both required); prints the error on failure. */
vdb_store_handle *vdb_cli_acquire(vdb_registry *registry, const vdb_cli_target *t);

#endif
