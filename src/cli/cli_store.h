/* What the store commands (create, import, query, count, list) share: the
 * common flags (--data-dir, --user, --model) and opening a store through
 * the registry, the same layer the server uses, so the CLI sees exactly the
 * server's on-disk layout and honours its lock. */
#ifndef VDB_CLI_CLI_STORE_H
#define VDB_CLI_CLI_STORE_H

#include <stddef.h>

#include "../store/registry.h"

typedef struct vdb_cli_target {
    const char *data_dir; /* --data-dir; else as the server: $VECTOR_DB_DATA_DIR, .env, default */
    const char *user;     /* --user */
    const char *model;    /* --model */
    char resolved[4096];
} vdb_cli_target;

/* What vdb_cli_common did with argv[*i]. */
typedef enum { VDB_CLI_OWN = 0, VDB_CLI_TOOK = 1, VDB_CLI_HELP = 2, VDB_CLI_BAD = 3 } vdb_cli_step;

/* The common head of each store command's argument loop: --help/-h prints
 * usage on stdout (VDB_CLI_HELP: exit 0); --data-dir/--user/--model are
 * consumed (VDB_CLI_TOOK; VDB_CLI_BAD with the reason printed when the
 * value is missing); anything else is VDB_CLI_OWN, the command's own. */
vdb_cli_step vdb_cli_common(vdb_cli_target *t, const char *usage, int argc, char **argv, int *i);

/* Resolves the data directory into t->resolved: --data-dir, else the
 * server's rule (VECTOR_DB_DATA_DIR, ./.env, ~/.team_mind_data/vector_stores).
 * Returns 0, or prints the error and returns -1 (no error code) when the
 * configuration is unreadable. */
int vdb_cli_data_dir(vdb_cli_target *t);

/* Resolves the data directory and opens the registry; create is 0 for
 * commands that only read (a missing directory is then an error, not an
 * empty list). Prints the error and returns NULL on failure. */
vdb_registry *vdb_cli_registry(vdb_cli_target *t, int create);

/* 0 when files can be created in dir (created first, with its parents,
 * when create is set and it is missing); otherwise -1 (no error code) with
 * the reason in why. Leaves nothing behind. */
int vdb_cli_dir_writable(const char *dir, int create, char *why, size_t cap);

/* Opens --user/--model (both required); prints the error on failure. */
vdb_store_handle *vdb_cli_acquire(vdb_registry *registry, const vdb_cli_target *t);

#endif
