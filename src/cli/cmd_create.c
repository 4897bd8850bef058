/* `vdb create`: creates an empty store with a dimension, metric and index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/limits.h"
#include "../index/quant.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"

static const char USAGE[] =
    "usage: vdb create --user U --model M --dim D [--metric cosine|euclidean|dot]\n"
    "                  [--index auto|flat|hnsw] [--m M] [--ef-construction E]\n"
    "                  [--quantization auto|none|int8|binary] [--data-dir DIR]\n";

#define FAIL(...) vdb_cli_usage_error("create", USAGE, __VA_ARGS__)

/* Returns 0 to go on, 1 after --help, 2 on a usage error (already printed). */
static int parse(int argc, char **argv, vdb_cli_target *t, vdb_store_config *c)
{
    unsigned long long n;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int step = vdb_cli_common(t, USAGE, argc, argv, &i);
        if (step == VDB_CLI_TOOK)
            continue;
        if (step != VDB_CLI_OWN)
            return step == VDB_CLI_HELP ? 1 : 2;
        if (strcmp(argv[i], "--dim") != 0 && strcmp(argv[i], "--metric") != 0 &&
            strcmp(argv[i], "--index") != 0 && strcmp(argv[i], "--m") != 0 &&
            strcmp(argv[i], "--ef-construction") != 0 && strcmp(argv[i], "--quantization") != 0)
            return vdb_cli_unknown("create", USAGE, argv[i]);
        if ((v = vdb_cli_value("create", USAGE, argc, argv, &i)) == NULL)
            return 2;
        if (strcmp(argv[i - 1], "--dim") == 0) {
            if (vdb_cli_parse_uint("create", USAGE, "--dim", v, 1, VDB_MAX_DIM, &n))
                return 2;
            c->dim = (uint32_t)n;
        } else if (strcmp(argv[i - 1], "--metric") == 0) {
            int m = vdb_metric_parse(v);
            if (m < 0)
                return FAIL("unknown metric '%s' (cosine, euclidean, l2 or dot)", v);
            c->metric = (vdb_metric)m;
        } else if (strcmp(argv[i - 1], "--index") == 0) {
            int kind = vdb_index_kind_parse(v);
            if (kind < 0)
                return FAIL("unknown index '%s' (auto, flat or hnsw)", v);
            c->index = (vdb_index_kind)kind;
        } else if (strcmp(argv[i - 1], "--quantization") == 0) {
            int kind = vdb_store_quant_parse(v);
            if (kind < 0)
                return FAIL("unknown quantization '%s' (auto, none, int8 or binary)", v);
            c->quantization = kind;
        } else if (strcmp(argv[i - 1], "--m") == 0) {
            if (vdb_cli_parse_uint("create", USAGE, "--m", v, 2, 1024, &n))
                return 2;
            c->hnsw_m = (uint32_t)n;
        } else {
            if (vdb_cli_parse_uint("create", USAGE, "--ef-construction", v, 1, 100000, &n))
                return 2;
            c->hnsw_ef_construction = (uint32_t)n;
        }
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
    if (target.user == NULL || target.model == NULL || config.dim == 0)
        return FAIL("%s is required", target.user == NULL    ? "--user"
                                      : target.model == NULL ? "--model"
                                                             : "--dim");
    if ((registry = vdb_cli_registry(&target, 1)) == NULL)
        return 1;
    vdb_error_clear(&err);
    rc = vdb_registry_create(registry, target.user, target.model, &config, &handle, &err);
    if (rc == VDB_OK)
        printf("created %s/%s: dim %u, %s, quantization %s, in %s\n", target.user, target.model,
               config.dim, vdb_metric_name(config.metric),
               vdb_store_quant_name(config.quantization), target.resolved);
    else
        fprintf(stderr, "vdb create: %s\n", err.msg);
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return rc == VDB_OK ? 0 : 1;
}
