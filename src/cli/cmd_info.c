/* `vdb list` and `vdb count`: what is in a data directory, without a server. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_store.h"

static int parse_target(int argc, char **argv, vdb_cli_target *t)
{
    for (int i = 1; i < argc; i++)
        if (vdb_cli_target_flag(t, argc, argv, &i) != 1)
            return 2;
    return 0;
}

static int print_store(void *ctx, const char *user_id, const char *model_id)
{
    (void)ctx;
    printf("%s\t%s\n", user_id, model_id);
    return 0;
}

int vdb_cmd_list(int argc, char **argv)
{
    vdb_cli_target target = {0};
    vdb_registry *registry;
    vdb_error err;
    int rc;
    if (parse_target(argc, argv, &target) != 0) {
        fprintf(stderr, "usage: vdb list [--user U] [--data-dir DIR]\n");
        return 2;
    }
    if ((registry = vdb_cli_registry(&target)) == NULL)
        return 1;
    vdb_error_clear(&err);
    rc = vdb_registry_list(registry, target.user, print_store, NULL, &err);
    if (rc != VDB_OK)
        fprintf(stderr, "vdb list: %s\n", err.msg);
    vdb_registry_free(registry);
    return rc == VDB_OK ? 0 : 1;
}

int vdb_cmd_count(int argc, char **argv)
{
    vdb_cli_target target = {0};
    vdb_registry *registry;
    vdb_store_handle *handle;
    if (parse_target(argc, argv, &target) != 0) {
        fprintf(stderr, "usage: vdb count --user U --model M [--data-dir DIR]\n");
        return 2;
    }
    if ((registry = vdb_cli_registry(&target)) == NULL)
        return 1;
    handle = vdb_cli_acquire(registry, &target);
    if (handle != NULL)
        printf("%zu\n", vdb_store_count(vdb_registry_store(handle)));
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return handle != NULL ? 0 : 1;
}
