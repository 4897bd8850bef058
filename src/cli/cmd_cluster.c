/* `vdb cluster`: operating a multi-node deployment (deploy/cluster/,
 * docs/scale-out.md) through the nodes' own HTTP API.
 *
 *   vdb cluster status    [--dir RUN_DIR | --nodes N=H:P,...] [--key K] [--json]
 *   vdb cluster aggregate [--dir RUN_DIR | --nodes ...] --port P [--host H]
 *   vdb cluster move USER --to NODE [--dir RUN_DIR] [--resume] [--freeze-wait S]
 *
 * RUN_DIR defaults to $VDB_CLUSTER_DIR. This file parses the options and
 * implements `status`: per node, health (GET /health), the tenants, stores,
 * vectors and memory of its stores (GET /admin/list_stores) and the
 * tenants frozen there by a move (GET /admin/freeze). Exit status 1 when a
 * node is unreachable or unhealthy, so scripts can use it as a check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "cli.h"
#include "cli_args.h"
#include "cluster_cmd.h"

static const char USAGE[] =
    "usage: vdb cluster status    [--dir RUN_DIR | --nodes NAME=HOST:PORT,...] [--key KEY] [--json]\n"
    "       vdb cluster aggregate [--dir RUN_DIR | --nodes ...] [--key KEY] --port PORT [--host H]\n"
    "       vdb cluster move USER --to NODE [--dir RUN_DIR] [--key KEY] [--resume]\n"
    "                        [--freeze-wait SECONDS]  (retry the freeze while the tenant's\n"
    "                        batch operations run; default 60)\n"
    "RUN_DIR defaults to $VDB_CLUSTER_DIR; the key to $VECTOR_DB_ADMIN_KEY, then "
    "RUN_DIR/cluster.env.\n";

#define CMD "cluster"

typedef struct node_report {
    const char *health; /* "healthy", the node's status, or "unreachable" */
    vdb_json *tenants;  /* array of user ids */
    vdb_json *frozen;
    long long stores, vectors;
    double memory_mb;
    char error[sizeof(((vdb_error *)0)->msg)];
} node_report;

static int seen(const vdb_json *list, const char *user)
{
    for (size_t i = 0; i < vdb_json_array_size(list); i++)
        if (strcmp(vdb_json_string_value(vdb_json_array_get(list, i)), user) == 0)
            return 1;
    return 0;
}

static void probe(const vdb_cluster *c, const vdb_cluster_node *node, node_report *r)
{
    vdb_json *doc = NULL;
    vdb_error err = {0};
    memset(r, 0, sizeof(*r));
    r->tenants = vdb_json_array();
    r->health = "unreachable";
    if (vdb_cluster_json(c, node, "GET", "/health", NULL, NULL, &doc, &err) != VDB_OK) {
        snprintf(r->error, sizeof(r->error), "%s", err.msg);
        r->frozen = vdb_json_array();
        return;
    }
    vdb_json *st = vdb_json_object_get(doc, "status");
    r->health = st && vdb_json_typeof(st) == VDB_JSON_STRING &&
                        strcmp(vdb_json_string_value(st), "healthy") == 0
                    ? "healthy"
                    : "unhealthy";
    vdb_json_decref(doc);
    doc = NULL;
    if (vdb_cluster_json(c, node, "GET", "/admin/list_stores", NULL, NULL, &doc, &err) == VDB_OK) {
        vdb_json *stores = vdb_json_object_get(doc, "stores");
        for (size_t i = 0; i < vdb_json_array_size(stores); i++) {
            vdb_json *s = vdb_json_array_get(stores, i);
            vdb_json *u = vdb_json_object_get(s, "user_id");
            r->stores++;
            r->vectors += vdb_json_int_value(vdb_json_object_get(s, "vector_count"));
            r->memory_mb += vdb_json_number_value(vdb_json_object_get(s, "memory_usage_mb"));
            if (u && vdb_json_typeof(u) == VDB_JSON_STRING && !seen(r->tenants, vdb_json_string_value(u)))
                vdb_json_array_append_new(r->tenants, vdb_json_string(vdb_json_string_value(u)));
        }
    } else {
        snprintf(r->error, sizeof(r->error), "%s", err.msg);
        r->health = "unhealthy";
    }
    vdb_json_decref(doc);
    doc = NULL;
    if (vdb_cluster_json(c, node, "GET", "/admin/freeze", NULL, NULL, &doc, &err) == VDB_OK) {
        r->frozen = vdb_json_incref(vdb_json_object_get(doc, "frozen"));
        vdb_json_decref(doc);
    }
    if (r->frozen == NULL)
        r->frozen = vdb_json_array();
}

static vdb_json *report_json(const vdb_cluster_node *node, const node_report *r)
{
    vdb_json *o = vdb_json_object();
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%u", node->host, node->port);
    vdb_json_object_set_new(o, "node", vdb_json_string(node->name));
    vdb_json_object_set_new(o, "address", vdb_json_string(addr));
    vdb_json_object_set_new(o, "health", vdb_json_string(r->health));
    vdb_json_object_set(o, "tenants", r->tenants);
    vdb_json_object_set_new(o, "stores", vdb_json_int(r->stores));
    vdb_json_object_set_new(o, "vectors", vdb_json_int(r->vectors));
    vdb_json_object_set_new(o, "memory_bytes", vdb_json_int((long long)(r->memory_mb * 1048576.0)));
    vdb_json_object_set_new(o, "frozen", r->frozen ? vdb_json_incref(r->frozen) : vdb_json_array());
    if (r->error[0] != '\0')
        vdb_json_object_set_new(o, "error", vdb_json_string(r->error));
    return o;
}

static void print_text(const vdb_cluster_node *node, const node_report *r)
{
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%u", node->host, node->port);
    printf("%-8s %-21s %-11s %7zu %7lld %11lld %10.1f\n", node->name, addr, r->health,
           vdb_json_array_size(r->tenants), r->stores, r->vectors, r->memory_mb);
    if (vdb_json_array_size(r->tenants) > 0) {
        printf("         tenants:");
        for (size_t i = 0; i < vdb_json_array_size(r->tenants) && i < 20; i++)
            printf(" %s", vdb_json_string_value(vdb_json_array_get(r->tenants, i)));
        printf("%s\n", vdb_json_array_size(r->tenants) > 20 ? " ..." : "");
    }
    if (vdb_json_array_size(r->frozen) > 0) {
        printf("         frozen (writes refused, a move in progress or done):");
        for (size_t i = 0; i < vdb_json_array_size(r->frozen); i++)
            printf(" %s", vdb_json_string_value(vdb_json_array_get(r->frozen, i)));
        printf("\n");
    }
    if (r->error[0] != '\0')
        printf("         error: %s\n", r->error);
}

static int status_main(const vdb_cluster *c, const vdb_cluster_args *args)
{
    int bad = 0;
    vdb_json *all = vdb_json_array();
    if (!args->json)
        printf("%-8s %-21s %-11s %7s %7s %11s %10s\n", "node", "address", "health", "tenants",
               "stores", "vectors", "memory MB");
    for (size_t i = 0; i < c->nnodes; i++) {
        node_report r;
        probe(c, &c->nodes[i], &r);
        bad |= strcmp(r.health, "healthy") != 0;
        if (args->json)
            vdb_json_array_append_new(all, report_json(&c->nodes[i], &r));
        else
            print_text(&c->nodes[i], &r);
        vdb_json_decref(r.tenants);
        vdb_json_decref(r.frozen);
    }
    if (args->json) {
        vdb_json *root = vdb_json_object();
        vdb_json_object_set_new(root, "healthy", vdb_json_bool(!bad));
        vdb_json_object_set_new(root, "nodes", all);
        char *text = vdb_json_dump(root, 0);
        printf("%s\n", text ? text : "{}");
        vdb_json_free_text(text);
        vdb_json_decref(root);
    } else {
        vdb_json_decref(all);
    }
    return bad ? 1 : 0;
}

int vdb_cmd_cluster(int argc, char **argv)
{
    vdb_cluster_args args;
    const char *dir = getenv("VDB_CLUSTER_DIR"), *nodes = NULL, *key = NULL, *verb = NULL;
    unsigned long long num;
    memset(&args, 0, sizeof(args));
    args.host = "127.0.0.1";
    args.threads = 2;
    args.freeze_wait_s = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (vdb_cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(a, "--dir") == 0 || strcmp(a, "--nodes") == 0 || strcmp(a, "--key") == 0 ||
                   strcmp(a, "--to") == 0 || strcmp(a, "--host") == 0) {
            const char *v = vdb_cli_value(CMD, USAGE, argc, argv, &i);
            if (v == NULL)
                return 2;
            if (a[2] == 'd')
                dir = v;
            else if (a[2] == 'n')
                nodes = v, dir = NULL;
            else if (a[2] == 'k')
                key = v;
            else if (a[2] == 't')
                args.to = v;
            else
                args.host = v;
        } else if (strcmp(a, "--port") == 0 || strcmp(a, "--threads") == 0) {
            const char *v = vdb_cli_value(CMD, USAGE, argc, argv, &i);
            if (v == NULL || vdb_cli_parse_uint(CMD, USAGE, a, v, a[2] == 'p' ? 1 : 1,
                                                a[2] == 'p' ? 65535 : 64, &num) != 0)
                return 2;
            if (a[2] == 'p')
                args.port = (unsigned)num;
            else
                args.threads = (unsigned)num;
        } else if (strcmp(a, "--freeze-wait") == 0) {
            const char *v = vdb_cli_value(CMD, USAGE, argc, argv, &i);
            if (v == NULL || vdb_cli_parse_uint(CMD, USAGE, a, v, 0, 86400, &num) != 0)
                return 2;
            args.freeze_wait_s = (unsigned)num;
        } else if (strcmp(a, "--json") == 0) {
            args.json = 1;
        } else if (strcmp(a, "--resume") == 0) {
            args.resume = 1;
        } else if (a[0] != '-' && verb == NULL) {
            verb = a;
        } else if (a[0] != '-' && verb != NULL && strcmp(verb, "move") == 0 && args.user == NULL) {
            args.user = a;
        } else {
            return vdb_cli_unknown(CMD, USAGE, a);
        }
    }
    if (verb == NULL)
        return vdb_cli_usage_error(CMD, USAGE, "which subcommand: status, aggregate or move?");
    int is_status = strcmp(verb, "status") == 0, is_agg = strcmp(verb, "aggregate") == 0,
        is_move = strcmp(verb, "move") == 0;
    if (!is_status && !is_agg && !is_move)
        return vdb_cli_usage_error(CMD, USAGE, "unknown subcommand '%s'", verb);
    if (is_agg && args.port == 0)
        return vdb_cli_usage_error(CMD, USAGE, "aggregate needs --port");
    if (is_move && (args.user == NULL || args.to == NULL))
        return vdb_cli_usage_error(CMD, USAGE, "move needs USER and --to NODE");
    if (is_move && dir == NULL)
        return vdb_cli_usage_error(CMD, USAGE, "move needs the run directory (--dir or "
                                               "$VDB_CLUSTER_DIR): it flips the placement map");
    vdb_cluster *c = vdb_calloc(1, sizeof(*c));
    vdb_error err = {0};
    if (c == NULL) {
        fprintf(stderr, "vdb cluster: out of memory\n");
        return 1;
    }
    int rc = vdb_cluster_load(c, nodes ? NULL : dir, nodes, key, &err);
    if (rc != VDB_OK) {
        fprintf(stderr, "vdb cluster: %s\n", err.msg);
        rc = rc == VDB_EINVAL ? 2 : 1;
    } else if (is_status) {
        rc = status_main(c, &args);
    } else if (is_agg) {
        rc = vdb_cluster_aggregate_main(c, &args);
    } else {
        rc = vdb_cluster_move_main(c, &args);
    }
    vdb_free(c);
    return rc;
}
