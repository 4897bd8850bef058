/* The `vdb cluster` subcommands, one file each: status (cmd_cluster.c),
 * aggregate (cluster_agg.c) and move (cluster_move.c). cmd_cluster.c parses
 * the shared options and loads the cluster; each subcommand gets it ready.
 * All run on main's thread (the aggregator then serves on its own). */
#ifndef VDB_CLI_CLUSTER_CMD_H
#define VDB_CLI_CLUSTER_CMD_H

#include "cluster.h"

typedef struct vdb_cluster_args {
    const char *user;     /* move: the tenant */
    const char *to;       /* move: --to NODE */
    int resume;           /* move: --resume (finish the journalled move) */
    unsigned freeze_wait_s; /* move: --freeze-wait (default 60) */
    int json;             /* status: --json */
    const char *host;     /* aggregate: --host (default 127.0.0.1) */
    unsigned port;        /* aggregate: --port */
    unsigned threads;     /* aggregate: --threads (default 2) */
} vdb_cluster_args;

/* Each returns the process exit status (not an error code): 0 done, 1
 * failed (the message is printed), 2 usage error. */
int vdb_cluster_aggregate_main(const vdb_cluster *c, const vdb_cluster_args *args);
int vdb_cluster_move_main(const vdb_cluster *c, const vdb_cluster_args *args);

#endif
