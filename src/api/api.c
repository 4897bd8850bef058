/* The server core: start/stop and request dispatch (route, auth, handler,
 * error envelope, metrics). The top of api/: it calls the route table and
 * the shared operations (ops.c) and replies (reply.c); nothing in api/
 * calls back into it.
 *
 * Order of checks for every request: draining (503) -> routing (404/405)
 * -> declared body size (413) -> key (401) -> role (403) -> query
 * parameters holding NUL or invalid UTF-8 (422) -> rate limit (429) ->
 * Content-Type of a JSON body (415); all of these run in the transport's
 * gate on the request head, before a byte of the body is read. Then the
 * handler validates fields (400/422) and touches stores
 * (404/409/503/507). */
#include "api_int.h"
#include "qcache.h"
#include "ratelimit.h"
#include "batchops.h"
#include "freeze.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/alloc.h"
#include "../core/log.h"
#include "../store/query.h"
#include "../store/store_codes.h"


static const char *presented_key(const vdb_http_request *http)
{
    const char *key = vdb_http_header(http, "X-API-Key");
    if (key != NULL && key[0] != '\0')
        return key;
    const char *authz = vdb_http_header(http, "Authorization");
    if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0) {
        authz += 7;
        while (*authz == ' ')
            authz++;
        return authz;
    }
    return NULL;
}

static int authorize(vdb_req *req)
{
    const vdb_route *route = req->route;
    int rc = vdb_auth_check(req->api->auth, presented_key(req->http), &req->who);
    if (route->access == VDB_ACCESS_PUBLIC)
        return VDB_OK;
    if (rc != VDB_OK) {
        vdb_counter_add(&req->api->auth_failures, 1);
        return vdb_error_set(&req->err, VDB_EAUTH,
                             presented_key(req->http)
                                 ? "Invalid API key"
                                 : "API key required. Use Authorization: Bearer <key> or "
                                   "X-API-Key header");
    }
    if ((route->access == VDB_ACCESS_STORES && req->who.role < VDB_ROLE_STORES) ||
        (route->access == VDB_ACCESS_ADMIN && req->who.role < VDB_ROLE_ADMIN))
        return vdb_error_set(&req->err, VDB_EFORBIDDEN, "Admin privileges required");
    return VDB_OK;
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < VDB_NSTATUS && vdb_api_statuses[i] != 0; i++)
        if (vdb_api_statuses[i] == status)
            return i;
    return VDB_NSTATUS - 1; /* other */
}

static void record(vdb_api *api, const vdb_route *route, int status, double seconds)
{
    size_t slot = vdb_router_index(route);
    vdb_histogram_observe(&api->route_hist[slot], seconds);
    vdb_counter_add(&api->route_status[slot][status_slot(status)], 1);
}

/* The rate class of a route: keyless routes count per client address;
 * the rest per key, by what they cost. */
static int rate_class(const vdb_route *route)
{
    static const char *const adds[] = {"/vectors/add", "/vectors/delete", "/vectors/create",
                                       "/admin/add_test_vectors", "/admin/create_store", NULL};
    static const char *const batches[] = {"/vectors/batch_query", "/vectors/stream_query",
                                          "/admin/import_zip",    "/admin/export_zip",
                                          "/vectors/benchmark",   "/performance/benchmark",
                                          NULL};
    if (route->access == VDB_ACCESS_PUBLIC)
        return VDB_RATE_PUBLIC;
    for (size_t i = 0; adds[i]; i++)
        if (strcmp(route->path, adds[i]) == 0)
            return VDB_RATE_ADD;
    for (size_t i = 0; batches[i]; i++)
        if (strcmp(route->path, batches[i]) == 0)
            return VDB_RATE_BATCH;
    if (strstr(route->path, "batch") != NULL)
        return VDB_RATE_BATCH;
    if (strncmp(route->path, "/vectors/", 9) == 0)
        return VDB_RATE_QUERY;
    return VDB_RATE_ADMIN;
}

static int rate_init(vdb_api *api, vdb_error *err)
{
    const vdb_config *c = &api->config;
    double rates[VDB_RATE_NCLASSES] = {c->rate_query, c->rate_add, c->rate_batch, c->rate_admin,
                                       c->rate_public};
    double bursts[VDB_RATE_NCLASSES];
    if (!c->rate_limit)
        return VDB_OK;
    for (size_t i = 0; i < VDB_RATE_NCLASSES; i++)
        bursts[i] = rates[i] * c->rate_burst_s;
    return vdb_ratelimit_new(rates, bursts, VDB_RATE_NCLASSES, &api->ratelimit, err);
}

/* Takes a token for this request; on refusal answers 429 with Retry-After
 * and the X-RateLimit-* headers of the original's limiter. */
static int rate_check(vdb_req *req, int *answered)
{
    char identity[96], value[32];
    vdb_ratelimit_result result;
    if (req->api->ratelimit == NULL)
        return VDB_OK;
    int klass = rate_class(req->route);
    if (klass == VDB_RATE_PUBLIC) {
        char peer[64];
        vdb_http_peer(req->http, peer, sizeof(peer));
        snprintf(identity, sizeof(identity), "ip:%s", peer);
    } else if (req->who.key_id[0] != '\0') {
        snprintf(identity, sizeof(identity), "key:%s", req->who.key_id);
    } else {
        snprintf(identity, sizeof(identity), "role:%d", (int)req->who.role);
    }
    if (vdb_ratelimit_take(req->api->ratelimit, (unsigned)klass, identity, vdb_now_ms() / 1e3,
                           &result))
        return VDB_OK;
    vdb_counter_add(&req->api->rate_limited[klass], 1);
    char msg[96];
    snprintf(msg, sizeof(msg), "Rate limit exceeded (%s requests)", vdb_rate_class_names[klass]);
    vdb_reply_error(req, 429, msg);
    snprintf(value, sizeof(value), "%.0f", result.retry_after_s < 1 ? 1 : result.retry_after_s + 0.999);
    vdb_http_response_header(req->resp, "Retry-After", value);
    snprintf(value, sizeof(value), "%u", result.limit);
    vdb_http_response_header(req->resp, "X-RateLimit-Limit", value);
    snprintf(value, sizeof(value), "%u", result.remaining);
    vdb_http_response_header(req->resp, "X-RateLimit-Remaining", value);
    snprintf(value, sizeof(value), "%.0f", vdb_unix_time() + result.reset_s + 0.999);
    vdb_http_response_header(req->resp, "X-RateLimit-Reset", value);
    *answered = 1;
    return VDB_OK;
}

static int json_route(const vdb_route *route)
{
    return route->request != NULL && strcmp(route->request, "ZipUpload") != 0;
}

/* Content-Type of a JSON body: application/json or a +json type, with or
 * without parameters; anything else (or none) is 415. */
static int json_type_ok(const char *type)
{
    if (type == NULL)
        return 0;
    while (*type == ' ')
        type++;
    size_t n = strcspn(type, "; ");
    return (n == 16 && strncasecmp(type, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(type + n - 5, "+json", 5) == 0);
}

/* The checks that need only the request head, in the order of the file's
 * opening comment. Returns VDB_OK to go on, or a code with req->err set
 * (or a reply already made, *answered set). */
static int precheck(vdb_req *req, int *answered, char *allow, size_t allow_size)
{
    const vdb_http_request *http = req->http;
    int path_known = 0;
    *answered = 1;
    req->route = vdb_router_match(http->method, http->path, &path_known, allow, allow_size);
    if (atomic_load(&req->api->draining)) {
        vdb_reply_error(req, 503, "server is shutting down");
    } else if (req->route == NULL && path_known) {
        vdb_reply_error(req, 405, "Method Not Allowed");
        vdb_http_response_header(req->resp, "Allow", allow);
    } else if (req->route == NULL) {
        vdb_reply_error(req, 404, "Not Found");
    } else if (http->body_too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes",
                 req->api->config.max_body_bytes);
        vdb_reply_error(req, 413, msg);
    } else {
        *answered = 0;
        int rc = authorize(req);
        if (rc != VDB_OK)
            return rc;
        if (http->bad_param != NULL) {
            req->status_override = 422;
            return vdb_error_set(&req->err, VDB_EINVAL,
                                 "query parameter '%s' holds a NUL byte or invalid UTF-8",
                                 http->bad_param);
        }
        return VDB_OK;
    }
    return VDB_OK;
}

static void finish(vdb_req *req, int rc, double start)
{
    const vdb_http_request *http = req->http;
    vdb_api *api = req->api;
    if (rc != VDB_OK) {
        int status = req->status_override ? req->status_override : vdb_err_http_status(rc);
        if (-rc >= 0 && -rc < VDB_NERRCODES)
            vdb_counter_add(&api->errors[-rc], 1);
        if (status >= 500)
            vdb_log_warn("%s %s -> %d: %s", http->method, http->path, status, req->err.msg);
        vdb_registry_scrub(api->registry, req->err.msg); /* no server path in a reply */
        vdb_reply_error(req, status, req->err.msg[0] ? req->err.msg : vdb_err_text(rc));
    }
    vdb_json_decref(req->body);
    double elapsed = vdb_now_ms() - start;
    char timing[32];
    snprintf(timing, sizeof(timing), "%.3fs", elapsed / 1e3);
    vdb_http_response_header(req->resp, "X-Response-Time", timing);
    record(api, req->route, req->resp->status, elapsed / 1e3);
    vdb_log_debug("%s %s -> %d in %.2f ms (%s)", http->method, http->path, req->resp->status,
                  elapsed,
                  req->who.role == VDB_ROLE_USER   ? req->who.user_id
                  : req->who.role == VDB_ROLE_NONE ? "anonymous"
                                                   : "admin/api key");
}

static void req_begin(vdb_req *req, vdb_api *api, const vdb_http_request *http,
                      vdb_http_response *resp)
{
    memset(req, 0, sizeof(*req));
    req->api = api;
    req->http = http;
    req->resp = resp;
}

/* Runs on the request head, before any body byte is read: a request that
 * will be refused (route, size, key, rate, media type) is answered without
 * buffering its body. */
static int gate(void *ctx, const vdb_http_request *http, vdb_http_response *resp)
{
    vdb_api *api = ctx;
    vdb_req req;
    char allow[64];
    int answered = 0;
    double start = vdb_now_ms();
    req_begin(&req, api, http, resp);
    int rc = precheck(&req, &answered, allow, sizeof(allow));
    if (rc == VDB_OK && !answered)
        rc = rate_check(&req, &answered);
    if (rc == VDB_OK && !answered && json_route(req.route) &&
        (http->content_length > 0 || http->content_length < 0) &&
        !json_type_ok(vdb_http_header(http, "Content-Type"))) {
        const char *type = vdb_http_header(http, "Content-Type");
        req.status_override = 415;
        rc = vdb_error_set(&req.err, VDB_EUNSUPPORTED,
                           "Content-Type must be application/json, not %.64s",
                           type ? type : "(none)");
    }
    if (rc == VDB_OK && !answered)
        return 0;
    finish(&req, rc, start);
    return 1;
}

static void handle(void *ctx, const vdb_http_request *http, vdb_http_response *resp)
{
    vdb_api *api = ctx;
    vdb_req req;
    char allow[64];
    int answered = 0;
    double start = vdb_now_ms();
    req_begin(&req, api, http, resp);
    /* The gate passed on this head; this repeats the cheap checks to get
     * the route and the principal (a key revoked in between is refused). */
    int rc = precheck(&req, &answered, allow, sizeof(allow));
    /* A raw NUL is never valid JSON, and C string handling downstream
     * would stop at it: refuse it before any parser sees the body. */
    if (rc == VDB_OK && !answered && json_route(req.route) &&
        memchr(http->body, '\0', http->body_len) != NULL) {
        req.status_override = 400;
        rc = vdb_error_set(&req.err, VDB_EPARSE, "malformed JSON body: raw NUL byte");
    }
    if (rc == VDB_OK && !answered) {
        /* Writes run inside the freeze barrier (freeze.h): a tenant move
         * that freezes the tenant then waits for this one to finish. */
        int write = vdb_freeze_is_write(req.route);
        if (write)
            vdb_freeze_enter(api->freeze);
        rc = req.route->fn(&req);
        if (write)
            vdb_freeze_leave(api->freeze);
    }
    finish(&req, rc, start);
}


static int warm_listed(void *ctx, const char *user_id, const char *model_id)
{
    vdb_api *api = ctx;
    vdb_store_handle *handle;
    vdb_error err;
    if (vdb_registry_acquire(api->registry, user_id, model_id, &handle, &err) != VDB_OK) {
        vdb_log_warn("warmup of %s/%s failed: %s", user_id, model_id, err.msg);
        return 0;
    }
    if (vdb_api_warm_store(handle, &err) != VDB_OK)
        vdb_log_warn("warmup of %s/%s failed: %s", user_id, model_id, err.msg);
    vdb_registry_release(handle);
    return 0;
}

/* Opens and warms every store on disk (MLX_WARMUP_ON_STARTUP). */
static void vdb_api_warm_all(vdb_api *api)
{
    vdb_error err;
    double start = vdb_now_ms();
    vdb_registry_list(api->registry, NULL, warm_listed, api, &err);
    vdb_log_info("warmed %zu stores in %.0f ms", vdb_registry_loaded_count(api->registry),
                 vdb_now_ms() - start);
}

static vdb_fsync_policy fsync_policy(const char *name)
{
    if (strcmp(name, "interval") == 0)
        return VDB_FSYNC_INTERVAL;
    if (strcmp(name, "off") == 0)
        return VDB_FSYNC_OFF;
    return VDB_FSYNC_ALWAYS;
}

/* Query cache: VDB_QUERY_CACHE_MB (default 64) and at most 10,000 entries
 * (results of repeated queries; any write to a store invalidates its
 * entries). */
#define QCACHE_ENTRIES 10000


int vdb_api_start(const vdb_config *config, vdb_api **out, vdb_error *err)
{
    char generated[VDB_AUTH_KEY_MAX];
    vdb_store_options options;
    vdb_http_server *server;
    int rc;
    *out = NULL;
    vdb_api *api = vdb_calloc(1, sizeof(*api));
    if (api == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    api->config = *config;
    api->started = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &api->started_mono);
    api->routes = vdb_router_routes(&api->nroutes);
    vdb_store_options_default(&options);
    options.fsync = fsync_policy(config->fsync);
    options.fsync_interval_ms = config->fsync_interval_ms;
    if ((rc = vdb_registry_new(config->data_dir, &options, &api->registry, err)) != VDB_OK)
        goto fail;
    vdb_registry_set_limits(api->registry, config->max_open_stores, config->quarantine_s);
    if ((api->qcache = vdb_qcache_new((size_t)config->query_cache_mb << 20, QCACHE_ENTRIES)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory for the query cache");
        goto fail;
    }
    if ((api->batchops = vdb_batchops_new(config->http_threads > 2 ? config->http_threads / 2 : 1,
                                          600.0)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory for the batch operations");
        goto fail;
    }
    if ((rc = vdb_freeze_open(config->data_dir, &api->freeze, err)) != VDB_OK)
        goto fail;
    if ((rc = vdb_auth_open(config->data_dir, config->admin_key, config->api_key, generated,
                            &api->auth, err)) != VDB_OK)
        goto fail;
    if (generated[0] != '\0') {
        printf("vdb: generated admin key (shown once, stored hashed in %s/.vdb_auth.json):\n"
               "  %s\n",
               config->data_dir, generated);
        fflush(stdout);
    }
    if (config->warmup_on_start)
        vdb_api_warm_all(api);
    vdb_http_options http = {config->host,
                             config->port,
                             config->http_threads,
                             config->max_connections,
                             config->conn_timeout_s,
                             config->header_timeout_s,
                             config->max_conn_per_peer,
                             config->max_body_bytes,
                             config->max_bodies_bytes,
                             &api->http};
    if ((rc = rate_init(api, err)) != VDB_OK)
        goto fail;
    /* api->http is published by vdb_http_start before a request can run
     * (options.publish); `server` is the same pointer, received into a
     * local so that workers already reading api->http see no second store. */
    if ((rc = vdb_http_start(&http, gate, handle, NULL, api, &server, err)) != VDB_OK)
        goto fail;
    *out = api;
    return VDB_OK;
fail:
    vdb_ratelimit_free(api->ratelimit);
    vdb_batchops_free(api->batchops);
    vdb_auth_free(api->auth);
    vdb_freeze_free(api->freeze);
    vdb_qcache_free(api->qcache);
    vdb_registry_free(api->registry);
    vdb_free(api);
    return rc;
}

unsigned vdb_api_port(const vdb_api *api)
{
    return vdb_http_port(api->http);
}

void vdb_api_stop(vdb_api *api, unsigned grace_ms)
{
    if (api == NULL)
        return;
    atomic_store(&api->draining, 1);
    vdb_http_stop(api->http, grace_ms);
    vdb_ratelimit_free(api->ratelimit);
    vdb_batchops_free(api->batchops); /* cancels and joins before the stores close */
    vdb_registry_free(api->registry);
    vdb_auth_free(api->auth);
    vdb_freeze_free(api->freeze);
    vdb_qcache_free(api->qcache);
    vdb_free(api);
}
