/* Shared plumbing of the store commands; see cli_store.h. */
#include "cli_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/config.h"
#include "../core/fsx.h"
#include "cli_args.h"

/* Consumes --data-dir/--user/--model at argv[*i] (advancing *i); returns 1
 * when it took the flag, 0 when the flag is not one of them, -1 when the
 * value is missing. */
static int vdb_cli_target_flag(vdb_cli_target *t, int argc, char **argv, int *i)
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
        fprintf(stderr, "vdb: %s needs a value (see --help)\n", argv[*i]);
        return -1;
    }
    *slot = argv[++*i];
    return 1;
}

vdb_cli_step vdb_cli_common(vdb_cli_target *t, const char *usage, int argc, char **argv, int *i)
{
    int took;
    if (vdb_cli_is_help(argv[*i])) {
        fputs(usage, stdout);
        return VDB_CLI_HELP;
    }
    took = vdb_cli_target_flag(t, argc, argv, i);
    if (took < 0) {
        fputs(usage, stderr);
        return VDB_CLI_BAD;
    }
    return took ? VDB_CLI_TOOK : VDB_CLI_OWN;
}

int vdb_cli_data_dir(vdb_cli_target *t)
{
    vdb_config config;
    vdb_error err;
    char *no_flags[] = {(char *)"vdb", NULL};
    if (t->data_dir != NULL) {
        snprintf(t->resolved, sizeof(t->resolved), "%s", t->data_dir);
        return 0;
    }
    /* The server's own rule (VECTOR_DB_DATA_DIR, then ./.env, then
     * ~/.team_mind_data/vector_stores), so the CLI and a server started
     * from the same place see the same stores and keys. */
    vdb_error_clear(&err);
    if (vdb_config_load(&config, 1, no_flags, &err) != VDB_OK) {
        fprintf(stderr, "vdb: %s\n", err.msg);
        return -1;
    }
    snprintf(t->resolved, sizeof(t->resolved), "%s", config.data_dir);
    return 0;
}

vdb_registry *vdb_cli_registry(vdb_cli_target *t, int create)
{
    vdb_store_options options;
    vdb_registry *registry;
    vdb_error err;
    struct stat st;
    vdb_error_clear(&err);
    if (vdb_cli_data_dir(t) != 0)
        return NULL;
    /* Reading a directory that is not there is a mistake (a typo, the
     * wrong default), not an empty result. */
    if (!create && stat(t->resolved, &st) != 0) {
        fprintf(stderr,
                "vdb: data directory %s does not exist (pass --data-dir or set "
                "VECTOR_DB_DATA_DIR to the server's)\n",
                t->resolved);
        return NULL;
    }
    if (!create && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "vdb: data directory %s is not a directory\n", t->resolved);
        return NULL;
    }
    vdb_store_options_default(&options);
    if (vdb_registry_new(t->resolved, &options, &registry, &err) != VDB_OK)
        fprintf(stderr, "vdb: cannot use data directory %s: %s\n", t->resolved, err.msg);
    return registry;
}

vdb_store_handle *vdb_cli_acquire(vdb_registry *registry, const vdb_cli_target *t)
{
    vdb_store_handle *handle = NULL;
    vdb_error err;
    vdb_error_clear(&err);
    if (t->user == NULL || t->model == NULL) {
        fprintf(stderr, "vdb: %s is required (see --help)\n",
                t->user == NULL ? "--user" : "--model");
        return NULL;
    }
    if (vdb_registry_acquire(registry, t->user, t->model, &handle, &err) != VDB_OK) {
        /* The registry's messages already name the store. */
        fprintf(stderr, "vdb: %s\n", err.msg);
        return NULL;
    }
    return handle;
}

int vdb_cli_dir_writable(const char *dir, int create, char *why, size_t cap)
{
    char probe[4200];
    struct stat st;
    int fd;
    if (stat(dir, &st) != 0) {
        if (!create || errno != ENOENT) {
            snprintf(why, cap, "%s", strerror(errno));
            return -1;
        }
        /* mkdir -p, as the registry does on the first create_store. */
        vdb_error err;
        vdb_error_clear(&err);
        if (vdb_fsx_mkdirs(dir, 0700, &err) != VDB_OK) {
            snprintf(why, cap, "cannot create it: %s", err.msg);
            return -1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(why, cap, "not a directory");
        return -1;
    }
    /* access(W_OK) answers for the real uid and ignores read-only mounts
     * and ACL subtleties; creating a file is the question really asked. */
    snprintf(probe, sizeof(probe), "%s/.vdb-write-probe.%ld", dir, (long)getpid());
    vdb_error err;
    vdb_error_clear(&err);
    fd = vdb_fsx_open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
    if (fd < 0) {
        snprintf(why, cap, "cannot create files in it: %s", vdb_err_text(fd));
        return -1;
    }
    vdb_fsx_close(fd, probe, NULL);
    vdb_fsx_unlink(probe, NULL);
    return 0;
}
