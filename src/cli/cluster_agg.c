/* `vdb cluster aggregate`: answers the cluster-wide routes, which name no
 * tenant and so cannot be routed to one node, by asking every node with
 * plain HTTP on its existing route and merging the answers. HAProxy sends
 * those paths here (deploy/cluster/haproxy.cfg); everything else never
 * reaches this process. It keeps no state and holds no data, so it is not
 * a second proxy: it only serves this fixed list of routes.
 *
 * Merges:
 *   GET /admin/list_stores  {stores: concatenated, each with "node";
 *                            total, total_count: summed}
 *   GET /monitoring/stores  {stores: concatenated with "node"; total_stores: summed}
 *   GET /admin/stats        the per-user arrays concatenated, each entry with "node"
 *   GET /monitoring/metrics/summary, /monitoring/health/detailed,
 *       /monitoring/status, /admin/system_stats, /monitoring/health,
 *       /monitoring/metrics?format=json
 *                           {"nodes": {name: that node's answer}}: their figures
 *                           (latency percentiles, uptime, memory) do not add up;
 *                           /monitoring/health adds "status": "healthy" when
 *                           every node answered healthy, else "degraded"
 *   GET /monitoring/metrics the nodes' Prometheus texts as one exposition
 *                           (cluster_prom.c): each family once, every sample
 *                           with a node="NAME" label
 * Every merged answer has "nodes_answered" and, when a node could not be
 * reached, "partial": true and "unavailable": [{node, error}]. No node
 * reachable: 503. Auth is the nodes' own: the caller's key is forwarded,
 * and a node's 401/403/404/422 is passed back as it is.
 *
 * Nodes are asked one after another: with a handful of nodes on one
 * network a fan-out costs a few loopback round trips, and sequential calls
 * keep one worker thread per request. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../api/http.h"
#include "../core/alloc.h"
#include "cluster_cmd.h"
#include "cluster_prom.h"

typedef enum { MERGE_STORES, MERGE_ARRAY, MERGE_BY_NODE, MERGE_PROM } merge_kind;

typedef struct agg_route {
    const char *path;
    merge_kind kind;
    const char *list;  /* MERGE_STORES: the array member */
    const char *sum[2]; /* MERGE_STORES: integer members summed */
} agg_route;

static const agg_route agg_routes[] = {
    {"/admin/list_stores", MERGE_STORES, "stores", {"total", "total_count"}},
    {"/monitoring/stores", MERGE_STORES, "stores", {"total_stores", NULL}},
    {"/admin/stats", MERGE_ARRAY, NULL, {NULL, NULL}},
    {"/monitoring/metrics/summary", MERGE_BY_NODE, NULL, {NULL, NULL}},
    {"/monitoring/health/detailed", MERGE_BY_NODE, NULL, {NULL, NULL}},
    {"/monitoring/status", MERGE_BY_NODE, NULL, {NULL, NULL}},
    {"/admin/system_stats", MERGE_BY_NODE, NULL, {NULL, NULL}},
    {"/monitoring/health", MERGE_BY_NODE, NULL, {NULL, NULL}},
    {"/monitoring/metrics", MERGE_PROM, NULL, {NULL, NULL}},
};
static const agg_route metrics_json = {"/monitoring/metrics", MERGE_BY_NODE, NULL, {NULL, NULL}};

/* Query parameters passed on to the nodes (names are checked by the nodes). */
static const char *const forwarded_params[] = {"user_id", "model_id", "format"};

static void reply(vdb_http_response *resp, int status, vdb_json *doc)
{
    char *text = vdb_json_dump(doc, VDB_JSON_DUMP_COMPACT);
    size_t len = text ? strlen(text) : 0;
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = vdb_malloc(len + 1);
    if (resp->body != NULL && text != NULL) {
        memcpy(resp->body, text, len + 1);
        resp->body_len = len;
    }
    vdb_json_free_text(text);
    vdb_json_decref(doc);
}

static void reply_error(vdb_http_response *resp, int status, const char *message)
{
    char code[16];
    snprintf(code, sizeof(code), "HTTP_%d", status);
    vdb_json *o = vdb_json_object();
    vdb_json_object_set_new(o, "detail", vdb_json_string(message));
    vdb_json_object_set_new(o, "error", vdb_json_string(message));
    vdb_json_object_set_new(o, "code", vdb_json_string(code));
    reply(resp, status, o);
}

/* Adds "node": name to every object of array `list`, appending to `into`. */
static void append_tagged(vdb_json *into, vdb_json *list, const char *node)
{
    for (size_t i = 0; i < vdb_json_array_size(list); i++) {
        vdb_json *item = vdb_json_array_get(list, i);
        if (vdb_json_typeof(item) == VDB_JSON_OBJECT)
            vdb_json_object_set_new(item, "node", vdb_json_string(node));
        vdb_json_array_append_new(into, vdb_json_incref(item));
    }
}

static void merge_one(const agg_route *r, vdb_json *out, vdb_json *doc, const char *node,
                      long long sums[2])
{
    if (r->kind == MERGE_ARRAY) {
        append_tagged(out, doc, node);
    } else if (r->kind == MERGE_STORES) {
        append_tagged(vdb_json_object_get(out, r->list), vdb_json_object_get(doc, r->list), node);
        for (int k = 0; k < 2; k++)
            if (r->sum[k] != NULL)
                sums[k] += vdb_json_int_value(vdb_json_object_get(doc, r->sum[k]));
    } else {
        vdb_json_object_set(vdb_json_object_get(out, "nodes"), node, doc);
    }
}

/* The target to send: the path plus the forwarded query parameters. */
static void build_target(const vdb_http_request *req, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", req->path);
    char sep = '?';
    for (size_t i = 0; i < sizeof(forwarded_params) / sizeof(forwarded_params[0]); i++) {
        const char *v = vdb_http_query(req, forwarded_params[i]);
        /* Names are [A-Za-z0-9_.-]; anything else is left to the node to
         * refuse, so only safe bytes are copied into the URL. */
        if (v == NULL || n >= size || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                "0123456789_.-") != strlen(v))
            continue;
        n += (size_t)snprintf(out + n, size - n, "%c%s=%s", sep, forwarded_params[i], v);
        sep = '&';
    }
}

static const char *caller_key(const vdb_http_request *req)
{
    const char *key = vdb_http_header(req, "X-API-Key");
    const char *bearer = vdb_http_header(req, "Authorization");
    if (key != NULL)
        return key;
    if (bearer != NULL && strncasecmp(bearer, "Bearer ", 7) == 0)
        return bearer + 7;
    return "";
}

/* /monitoring/health: healthy only when every node answered healthy. */
static int all_healthy(vdb_json *out, const vdb_json *unavailable)
{
    vdb_json *nodes = vdb_json_object_get(out, "nodes");
    if (vdb_json_array_size(unavailable) > 0)
        return 0;
    for (void *it = vdb_json_object_iter(nodes); it; it = vdb_json_object_next(nodes, it)) {
        vdb_json *status = vdb_json_object_get(vdb_json_iter_value(it), "status");
        if (vdb_json_typeof(status) != VDB_JSON_STRING ||
            strcmp(vdb_json_string_value(status), "healthy") != 0)
            return 0;
    }
    return 1;
}

/* GET /monitoring/metrics (Prometheus text): every node's exposition,
 * merged by vdb_cluster_prom_*; a node's refusal is passed back as it is. */
static void handle_prom(const vdb_cluster *c, const vdb_http_request *req, const char *target,
                        vdb_http_response *resp)
{
    vdb_cluster_prom *merged = vdb_cluster_prom_new();
    char missing[256] = "";
    size_t answered = 0;
    for (size_t i = 0; merged != NULL && i < c->nnodes; i++) {
        vdb_httpc_response nr;
        vdb_error err = {0};
        if (vdb_cluster_call(c, &c->nodes[i], caller_key(req), "GET", target, NULL, NULL, 0, 30.0,
                             &nr, &err) != VDB_OK) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof(missing) - used, "%s%s", used ? "," : "",
                     c->nodes[i].name);
            continue;
        }
        if (nr.status != 200) {
            resp->status = nr.status;
            resp->content_type = "application/json";
            resp->body = nr.body;
            resp->body_len = nr.body_len;
            vdb_cluster_prom_free(merged);
            return;
        }
        int rc = vdb_cluster_prom_add(merged, nr.body, nr.body_len, c->nodes[i].name);
        vdb_httpc_response_free(&nr);
        if (rc != VDB_OK)
            break;
        answered++;
    }
    size_t len = 0;
    char *text = answered > 0 ? vdb_cluster_prom_text(merged, answered, missing, &len) : NULL;
    vdb_cluster_prom_free(merged);
    if (text == NULL) {
        reply_error(resp, answered == 0 ? 503 : 500,
                    answered == 0 ? "no node of the cluster answered" : "out of memory");
        return;
    }
    if (missing[0] != '\0')
        vdb_http_response_header(resp, "X-Vdb-Unavailable", missing);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    resp->body = text;
    resp->body_len = len;
}

static void handle(void *ctx, const vdb_http_request *req, vdb_http_response *resp)
{
    const vdb_cluster *c = ctx;
    const agg_route *r = NULL;
    char target[1024];
    for (size_t i = 0; i < sizeof(agg_routes) / sizeof(agg_routes[0]); i++)
        if (strcmp(req->path, agg_routes[i].path) == 0)
            r = &agg_routes[i];
    if (r == NULL || strcmp(req->method, "GET") != 0) {
        reply_error(resp, r == NULL ? 404 : 405, r == NULL ? "Not Found (the aggregator serves only "
                                                             "the cluster-wide routes)"
                                                           : "Method Not Allowed");
        return;
    }
    const char *format = vdb_http_query(req, "format");
    if (r->kind == MERGE_PROM && format != NULL && strcmp(format, "json") == 0)
        r = &metrics_json;
    build_target(req, target, sizeof(target));
    if (r->kind == MERGE_PROM) {
        handle_prom(c, req, target, resp);
        return;
    }
    vdb_json *out = r->kind == MERGE_ARRAY ? vdb_json_array() : vdb_json_object();
    vdb_json *unavailable = vdb_json_array();
    long long sums[2] = {0, 0};
    size_t answered = 0;
    if (r->kind == MERGE_STORES)
        vdb_json_object_set_new(out, r->list, vdb_json_array());
    if (r->kind == MERGE_BY_NODE)
        vdb_json_object_set_new(out, "nodes", vdb_json_object());
    for (size_t i = 0; i < c->nnodes; i++) {
        const vdb_cluster_node *node = &c->nodes[i];
        vdb_httpc_response nr;
        vdb_error err = {0};
        if (vdb_cluster_call(c, node, caller_key(req), "GET", target, NULL, NULL, 0, 30.0, &nr,
                             &err) != VDB_OK) {
            vdb_json *u = vdb_json_object();
            vdb_json_object_set_new(u, "node", vdb_json_string(node->name));
            vdb_json_object_set_new(u, "error", vdb_json_string(err.msg));
            vdb_json_array_append_new(unavailable, u);
            continue;
        }
        vdb_json *doc = NULL;
        if (nr.status == 200)
            (void)vdb_json_parse(nr.body, nr.body_len, 0, &doc, NULL);
        if (doc == NULL) {
            /* The node's own refusal (401, 403, 404, 422 ...) is the answer:
             * the same key gets the same verdict on every node. */
            resp->status = nr.status == 200 ? 502 : nr.status;
            resp->content_type = "application/json";
            resp->body = nr.body;
            resp->body_len = nr.body_len;
            nr.body = NULL;
            vdb_json_decref(out);
            vdb_json_decref(unavailable);
            return;
        }
        merge_one(r, out, doc, node->name, sums);
        vdb_json_decref(doc);
        vdb_httpc_response_free(&nr);
        answered++;
    }
    if (answered == 0) {
        vdb_json_decref(out);
        vdb_json_decref(unavailable);
        reply_error(resp, 503, "no node of the cluster answered");
        return;
    }
    if (r->kind == MERGE_STORES)
        for (int k = 0; k < 2; k++)
            if (r->sum[k] != NULL)
                vdb_json_object_set_new(out, r->sum[k], vdb_json_int(sums[k]));
    if (strcmp(r->path, "/monitoring/health") == 0)
        vdb_json_object_set_new(out, "status", vdb_json_string(all_healthy(out, unavailable)
                                                                   ? "healthy" : "degraded"));
    if (r->kind != MERGE_ARRAY) {
        vdb_json_object_set_new(out, "nodes_answered", vdb_json_int((long long)answered));
        vdb_json_object_set_new(out, "partial", vdb_json_bool(vdb_json_array_size(unavailable) > 0));
        vdb_json_object_set(out, "unavailable", unavailable);
    }
    /* /admin/stats keeps the single node's shape (a bare array); a missing
     * node shows in a header instead of the body. */
    if (r->kind == MERGE_ARRAY && vdb_json_array_size(unavailable) > 0) {
        char names[200] = "";
        for (size_t i = 0; i < vdb_json_array_size(unavailable); i++) {
            const char *n = vdb_json_string_value(
                vdb_json_object_get(vdb_json_array_get(unavailable, i), "node"));
            size_t used = strlen(names);
            snprintf(names + used, sizeof(names) - used, "%s%s", used ? "," : "", n);
        }
        vdb_http_response_header(resp, "X-Vdb-Unavailable", names);
    }
    vdb_json_decref(unavailable);
    reply(resp, 200, out);
}

int vdb_cluster_aggregate_main(const vdb_cluster *c, const vdb_cluster_args *args)
{
    vdb_error err = {0};
    vdb_http_options options;
    memset(&options, 0, sizeof(options));
    options.host = args->host;
    options.port = args->port;
    options.threads = args->threads;
    options.max_connections = 256;
    options.timeout_s = 30;
    options.header_timeout_s = 10;
    options.max_per_peer = 256;
    options.max_body_bytes = 64 * 1024;
    signal(SIGPIPE, SIG_IGN);
    vdb_http_server *server;
    if (vdb_http_start(&options, NULL, handle, NULL, (void *)c, &server, &err) != VDB_OK) {
        fprintf(stderr, "vdb cluster aggregate: %s\n", err.msg);
        return 1;
    }
    printf("vdb cluster aggregate: http://%s:%u over %zu nodes\n", args->host,
           vdb_http_port(server), c->nnodes);
    fflush(stdout);
    /* Stateless: SIGTERM's default action (exit) is a clean stop. */
    for (;;)
        pause();
}
