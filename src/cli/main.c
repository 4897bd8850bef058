/* vdb entry point: dispatches `vdb <command> [options]` through a table so
 * that adding a command is one line here plus its cmd_<verb>.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"serve", vdb_cmd_serve, "run the REST server"},
    {"keys", vdb_cmd_keys, "create, list and revoke per-user API keys"},
    {"bench", vdb_cmd_bench, "benchmark exact/HNSW search on synthetic or .npy data"},
    {"create", vdb_cmd_create, "create an empty store"},
    {"import", vdb_cmd_import, "load a .npy file (and metadata.jsonl) into a store"},
    {"query", vdb_cmd_query, "top-k search on a store"},
    {"export", vdb_cmd_export, "write a store (or all of a user's) to a ZIP archive"},
    {"count", vdb_cmd_count, "number of vectors in a store"},
    {"list", vdb_cmd_list, "list the stores of a data directory"},
    {"doctor", vdb_cmd_doctor, "check the data directory, port, key file and stores"},
    {"store-bench", vdb_cmd_store_bench, "benchmark durable adds and store reopen"},
    {"filter-bench", vdb_cmd_filter_bench, "benchmark filtered search (planner) vs brute force"},
    {"cluster", vdb_cmd_cluster, "status, move tenants and aggregate a multi-node cluster"},
    {"optimize", vdb_cmd_optimize, "compact deleted rows; repair or rebuild the HNSW graph"},
    {"recall", vdb_cmd_recall, "measure a store's recall@k against exact search, with its calibration"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vdb <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`vdb <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("vdb %s\n", VDB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vdb: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
