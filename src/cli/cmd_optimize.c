/* `vdb optimize`: compacts a store's deleted rows and repairs or rebuilds
 * its HNSW graph, without a server (the same call as POST
 * /performance/optimize). By default the graph is repaired locally while
 * few rows are deleted and rebuilt past that (store.h:
 * VDB_STORE_GRAPH_AUTO); --rebuild and --repair force one of the two, so an
 * operator can compare them or fall back to a rebuild. Prints one JSON
 * object with what was done and how long it took. A repaired store that
 * scans at its target returns before its full calibration (store.h); the
 * command waits for that too (the store closes when it ends, and a
 * calibration cut short runs again at the next open) and reports it
 * apart, as calibration_seconds. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/json.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"

static const char USAGE[] =
    "usage: vdb optimize --user U --model M [--rebuild | --repair] [--data-dir DIR]\n"
    "  --rebuild   build a fresh graph from the live rows\n"
    "  --repair    repair the graph locally whatever the deleted fraction\n";

/* Returns 0 to go on, 1 after --help, 2 on a usage error (printed). */
static int parse(int argc, char **argv, vdb_cli_target *t, vdb_store_graph_mode *mode)
{
    *mode = VDB_STORE_GRAPH_AUTO;
    for (int i = 1; i < argc; i++) {
        int step = vdb_cli_common(t, USAGE, argc, argv, &i);
        if (step == VDB_CLI_TOOK)
            continue;
        if (step != VDB_CLI_OWN)
            return step == VDB_CLI_HELP ? 1 : 2;
        if (strcmp(argv[i], "--rebuild") != 0 && strcmp(argv[i], "--repair") != 0)
            return vdb_cli_unknown("optimize", USAGE, argv[i]);
        if (*mode != VDB_STORE_GRAPH_AUTO)
            return vdb_cli_usage_error("optimize", USAGE, "give at most one of --rebuild, --repair");
        *mode = strcmp(argv[i], "--rebuild") == 0 ? VDB_STORE_GRAPH_REBUILD
                                                  : VDB_STORE_GRAPH_REPAIR;
    }
    if (t->user == NULL || t->model == NULL)
        return vdb_cli_usage_error("optimize", USAGE, "%s is required",
                                   t->user == NULL ? "--user" : "--model");
    return 0;
}

static void print_info(const vdb_store_optimize_info *info, double seconds, double calib)
{
    vdb_json *out = vdb_json_object();
    char *text;
    vdb_json_object_set_new(out, "graph", vdb_json_string(info->graph));
    vdb_json_object_set_new(out, "graph_seconds", vdb_json_real(info->graph_seconds));
    vdb_json_object_set_new(out, "rows_dropped", vdb_json_int((long long)info->rows_dropped));
    vdb_json_object_set_new(out, "deleted_fraction", vdb_json_real(info->deleted_fraction));
    vdb_json_object_set_new(out, "vectors", vdb_json_int((long long)info->vectors));
    vdb_json_object_set_new(out, "seconds", vdb_json_real(seconds));
    if (info->calibrating)
        vdb_json_object_set_new(out, "calibration_seconds", vdb_json_real(calib));
    text = vdb_json_dump(out, VDB_JSON_DUMP_COMPACT);
    printf("%s\n", text ? text : "{}");
    vdb_json_free_text(text);
    vdb_json_decref(out);
}

int vdb_cmd_optimize(int argc, char **argv)
{
    vdb_cli_target target = {0};
    vdb_store_graph_mode mode;
    vdb_store_optimize_info info;
    vdb_registry *registry;
    vdb_store_handle *handle;
    vdb_error err;
    struct timespec t0, t1;
    int rc;
    if ((rc = parse(argc, argv, &target, &mode)) != 0)
        return rc == 1 ? 0 : rc;
    if ((registry = vdb_cli_registry(&target, 0)) == NULL)
        return 1;
    if ((handle = vdb_cli_acquire(registry, &target)) == NULL) {
        vdb_registry_free(registry);
        return 1;
    }
    vdb_error_clear(&err);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = vdb_store_optimize_mode(vdb_registry_store(handle), mode, &info, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == VDB_OK) {
        double calib = 0;
        if (info.calibrating) {
            struct timespec t2;
            vdb_store_wait_idle(vdb_registry_store(handle));
            clock_gettime(CLOCK_MONOTONIC, &t2);
            calib = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) * 1e-9;
        }
        print_info(&info,
                   (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
                   calib);
    } else {
        fprintf(stderr, "vdb optimize: %s\n", err.msg);
    }
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return rc == VDB_OK ? 0 : 1;
}
