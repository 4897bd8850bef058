/* `vdb list` and `vdb count`: what is in a data directory, without a server. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"

static const char LIST_USAGE[] = "usage: vdb list [--user U] [--data-dir DIR]\n";
static const char COUNT_USAGE[] = "usage: vdb count --user U --model M [--data-dir DIR]\n";

/* Returns 0 to go on, 1 after --help, 2 on a usage error (printed). */
static int parse_target(const char *cmd, const char *usage, int argc, char **argv,
                        vdb_cli_target *t)
{
    for (int i = 1; i < argc; i++) {
        int step = vdb_cli_common(t, usage, argc, argv, &i);
        if (step == VDB_CLI_OWN)
            return vdb_cli_unknown(cmd, usage, argv[i]);
        if (step != VDB_CLI_TOOK)
            return step == VDB_CLI_HELP ? 1 : 2;
    }
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
    if ((rc = parse_target("list", LIST_USAGE, argc, argv, &target)) != 0)
        return rc == 1 ? 0 : rc;
    if ((registry = vdb_cli_registry(&target, 0)) == NULL)
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
    int rc;
    if ((rc = parse_target("count", COUNT_USAGE, argc, argv, &target)) != 0)
        return rc == 1 ? 0 : rc;
    if (target.user == NULL || target.model == NULL)
        return vdb_cli_usage_error("count", COUNT_USAGE, "%s is required",
                                   target.user == NULL ? "--user" : "--model");
    if ((registry = vdb_cli_registry(&target, 0)) == NULL)
        return 1;
    handle = vdb_cli_acquire(registry, &target);
    if (handle != NULL)
        printf("%zu\n", vdb_store_count(vdb_registry_store(handle)));
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return handle != NULL ? 0 : 1;
}
