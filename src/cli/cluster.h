/* The cluster that deploy/cluster/start.sh started, as the `vdb cluster`
 * commands see it: the nodes' addresses, the admin key, the placement map
 * file and HAProxy's runtime socket.
 *
 * Source: RUN_DIR/cluster.conf, written by start.sh, one entry a line:
 *     node NAME HOST PORT        (one line per node, in order)
 *     map ABSOLUTE_PATH          (the placement map HAProxy loaded)
 *     socket ABSOLUTE_PATH       (HAProxy's runtime API)
 * or, without a run directory, --nodes NAME=HOST:PORT,... (no map: the
 * commands that flip placement need the run directory). The admin key
 * comes from --key, else VECTOR_DB_ADMIN_KEY, else RUN_DIR/cluster.env.
 *
 * Thread-safety: a loaded vdb_cluster is read-only and may be shared. */
#ifndef VDB_CLI_CLUSTER_H
#define VDB_CLI_CLUSTER_H

#include <stddef.h>

#include "../core/err.h"
#include "../core/json.h"
#include "httpc.h"

#define VDB_CLUSTER_MAX_NODES 16

typedef struct vdb_cluster_node {
    char name[32];
    char host[256];
    unsigned port;
} vdb_cluster_node;

typedef struct vdb_cluster {
    char dir[4096];    /* "" without a run directory */
    char map[4096];    /* placement map path ("" when unknown) */
    char socket[4096]; /* runtime API socket ("" when unknown) */
    char key[256];
    vdb_cluster_node nodes[VDB_CLUSTER_MAX_NODES];
    size_t nnodes;
} vdb_cluster;

/* Fills *c from a run directory (dir != NULL) or a --nodes list; key may be
 * NULL. Errors: VDB_ENOTFOUND (no cluster.conf), VDB_EINVAL (a malformed
 * line or list, no key found), VDB_ERANGE (too many nodes). */
int vdb_cluster_load(vdb_cluster *c, const char *dir, const char *nodes, const char *key,
                     vdb_error *err);

/* The node called `name`, or NULL. */
const vdb_cluster_node *vdb_cluster_find(const vdb_cluster *c, const char *name);

/* One request to a node with the cluster's key (or `key` when not NULL).
 * Same contract as vdb_httpc_send, the node's name added to the message.
 * Errors: VDB_EIO (unreachable), VDB_EPARSE, VDB_ETOOBIG, VDB_ENOMEM. */
int vdb_cluster_call(const vdb_cluster *c, const vdb_cluster_node *node, const char *key,
                     const char *method, const char *target, const char *content_type,
                     const void *body, size_t body_len, double timeout_s,
                     vdb_httpc_response *out, vdb_error *err);

/* vdb_cluster_call for a JSON answer: *out is the parsed body (caller
 * decrefs) when the status is 200. Errors: those of vdb_cluster_call,
 * VDB_EIO naming the status and the node's message for any other status,
 * VDB_EPARSE for a body that is not JSON. *status gets the HTTP status
 * (0 when unreachable) when not NULL. */
int vdb_cluster_json(const vdb_cluster *c, const vdb_cluster_node *node, const char *method,
                     const char *target, const char *json_body, int *status, vdb_json **out,
                     vdb_error *err);

/* The node the placement map names for user_id: *node gets the name, ""
 * when the map does not have it (read from the map FILE, which
 * vdb_cluster_place keeps equal to the live map; a missing file is an
 * empty map). Errors: VDB_EINVAL (no map configured), VDB_ETOOBIG, VDB_EIO,
 * VDB_ENOMEM (reading the file). */
int vdb_cluster_placed(const vdb_cluster *c, const char *user_id, char *node, size_t size,
                       vdb_error *err);

/* Pins user_id to node in the placement map: rewrites the map file
 * atomically first (what a restarted HAProxy loads), then sets the live
 * map through the runtime API (set map, or add map when absent). Idempotent.
 * Errors: VDB_EINVAL (no runtime socket, map path not absolute), VDB_ERANGE,
 * VDB_ETOOBIG, VDB_EIO, VDB_ENOSPC, VDB_ENOMEM (the file), VDB_EBUSY
 * (HAProxy refused the command). */
int vdb_cluster_place(const vdb_cluster *c, const char *user_id, const char *node,
                      vdb_error *err);

#endif
