/* `vdb create`: creates an empty store with a dimension, metric and index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_store.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: vdb create --user U --model M --dim D [--metric cosine|euclidean|dot]\n"
                 "                  [--index auto|flat|hnsw] [--m M] [--ef-construction E]\n"
                 "                  [--data-dir DIR]\n");
}

static int parse(int argc, char **argv, vdb_cli_target *t, vdb_store_config *c)
{
    for (int i = 1; i < argc; i++) {
        int took = vdb_cli_target_flag(t, argc, argv, &i);
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (took < 0)
            return 2;
        if (took)
            continue;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--dim") == 0) {
            c->dim = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--metric") == 0) {
            int m = vdb_metric_parse(v);
            if (m < 0) {
                fprintf(stderr, "vdb create: unknown metric '%s'\n", v);
                return 2;
            }
            c->metric = (vdb_metric)m;
        } else if (strcmp(argv[i], "--index") == 0) {
            c->index = strcmp(v, "flat") == 0 ? VDB_INDEX_FLAT
                       : strcmp(v, "hnsw") == 0 ? VDB_INDEX_HNSW : VDB_INDEX_AUTO;
        } else if (strcmp(argv[i], "--m") == 0) {
            c->hnsw_m = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--ef-construction") == 0) {
            c->hnsw_ef_construction = (uint32_t)strtoul(v, NULL, 10);
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    return 0;
}

int vdb_cmd_create(int argc, char **argv)
{
    vdb_cli_target target = {0};
    vdb_store_config config;
    vdb_store_handle *handle = NULL;
    vdb_registry *registry;
    vdb_error err;
    int rc;
    vdb_store_config_default(&config);
    if ((rc = parse(argc, argv, &target, &config)) != 0)
        return rc == 1 ? 0 : rc;
    if (target.user == NULL || target.model == NULL || config.dim == 0) {
        usage(stderr);
        return 2;
    }
    if ((registry = vdb_cli_registry(&target)) == NULL)
        return 1;
    vdb_error_clear(&err);
    rc = vdb_registry_create(registry, target.user, target.model, &config, &handle, &err);
    if (rc == VDB_OK)
        printf("created %s/%s: dim %u, %s, in %s\n", target.user, target.model, config.dim,
               vdb_metric_name(config.metric), target.resolved);
    else
        fprintf(stderr, "vdb create: %s\n", err.msg);
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return rc == VDB_OK ? 0 : 1;
}
