/* Internals shared by the api/ files: the server state, the per-request
 * context handlers receive, the replies (reply.c), the request fields
 * (reqparse.c) and the operations handlers share (ops.c). Handlers return
 * VDB_OK after replying, or a VDB_E* code with req->err filled; the
 * dispatcher (api.c) turns that into the error envelope.
 *
 * Calls run one way (scripts/arch_check.py checks it): api.c -> router.c
 * -> h_*.c -> ops.c / reqparse.c -> reply.c. No handler file calls another,
 * and nothing calls back up into api.c or router.c. */
#ifndef VDB_API_API_INT_H
#define VDB_API_API_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../core/json.h"
#include "../metrics/metrics.h"
#include "../store/registry.h"
#include "api.h"
#include "auth.h"
#include "config.h"
#include "http.h"
#include "router.h"

#define VDB_ROUTES_MAX 96
#define VDB_NSTATUS 16
#define VDB_NERRCODES 20

/* Rate-limit route classes, in metrics order (names in ops.c). */
enum { VDB_RATE_QUERY, VDB_RATE_ADD, VDB_RATE_BATCH, VDB_RATE_ADMIN, VDB_RATE_PUBLIC,
       VDB_RATE_NCLASSES };
extern const char *const vdb_rate_class_names[VDB_RATE_NCLASSES];

extern const int vdb_api_statuses[VDB_NSTATUS];

/* vdb_json_typeof that accepts NULL (an absent member reads as null). */
static inline vdb_json_type vdb_jtype(const vdb_json *node)
{
    return node ? vdb_json_typeof(node) : VDB_JSON_NULL;
}

struct vdb_api {
    vdb_config config;
    vdb_registry *registry;
    vdb_auth *auth;
    vdb_http_server *http;
    time_t started;
    struct timespec started_mono;
    atomic_int draining;
    /* Metrics: per route (the last slot counts unknown paths). */
    vdb_histogram route_hist[VDB_ROUTES_MAX + 1];
    vdb_counter route_status[VDB_ROUTES_MAX + 1][VDB_NSTATUS];
    vdb_histogram query_hist;  /* one per /query call or batch */
    vdb_histogram add_hist;
    vdb_counter queries;       /* query vectors searched */
    vdb_counter additions;     /* vectors added */
    vdb_counter deletions;
    vdb_counter errors[VDB_NERRCODES]; /* by -code */
    vdb_counter auth_failures;
    struct vdb_ratelimit *ratelimit; /* NULL when VDB_RATE_LIMIT=false */
    vdb_counter rate_limited[VDB_RATE_NCLASSES]; /* 429s by route class */
    struct vdb_qcache *qcache; /* query results (qcache.h) */
    struct vdb_batchops *batchops; /* /v1/batch operations (batchops.h) */
    struct vdb_freeze *freeze; /* tenants whose writes are refused (freeze.h) */
    /* The route table (router.c), read by handlers that list routes; set at
     * start so no handler calls router.c, whose table points at them. */
    const vdb_route *routes;
    size_t nroutes;
};

typedef struct vdb_req {
    vdb_api *api;
    const vdb_http_request *http;
    vdb_http_response *resp;
    const vdb_route *route;
    vdb_principal who;
    vdb_json *body;  /* parsed lazily by vdb_req_body */
    int body_parsed;
    int status_override; /* answer this status instead of the code's */
    vdb_error err;
} vdb_req;

/* ---- replies (reply.c) ---- */
/* Takes ownership of `json`; serializes it compactly. Always VDB_OK unless
 * out of memory. */
int vdb_reply_json(vdb_req *req, int status, vdb_json *json);
/* Takes ownership of `text` (vdb_malloc'd). */
int vdb_reply_text(vdb_req *req, int status, const char *content_type, char *text, size_t len);
/* Fills the error envelope for `status` with `message`. */
void vdb_reply_error(vdb_req *req, int status, const char *message);

/* ---- request fields (reqparse.c) ---- */
/* The JSON object body. Errors: 415 (VDB_EUNSUPPORTED with status 415 set
 * in req), 400 malformed, 422 not an object / missing when required. */
int vdb_req_body(vdb_req *req, int required, vdb_json **out);
struct vdb_floatmatrix;
/* The body of a request whose member `key` is a float matrix: the fast
 * path when it applies (*have_matrix 1, the matrix in *matrix), else the
 * JSON body (*have_matrix 0; read the matrix with vdb_req_matrix). Errors
 * as vdb_req_body, plus the matrix parser's (vdb_floatparse_member):
 * VDB_EPARSE (400), VDB_EINVAL / VDB_EDIM naming the bad value. */
int vdb_req_body_or_matrix(vdb_req *req, const char *key, int nested, size_t max_rows,
                           struct vdb_floatmatrix *matrix, int *have_matrix, vdb_json **body);
/* A string field from the query string, else the body. *out NULL when
 * absent and not required. */
int vdb_req_str(vdb_req *req, const char *name, int required, const char **out);
/* An integer field (query or body) in [min, max], default when absent. */
int vdb_req_int(vdb_req *req, const char *name, long long def, long long min, long long max,
                long long *out);
int vdb_req_bool(vdb_req *req, const char *name, int def, int *out);
/* A recall target field of `obj` (target_recall, ...): absent or null leaves
 * *out unchanged; else a number in (0, 1] or VDB_EINVAL. */
int vdb_req_target(vdb_req *req, vdb_json *obj, const char *name, double *out);
/* Validates user_id/model_id, checks the caller may see that user (a
 * per-user key asking for another user gets VDB_ENOTFOUND, exactly as a
 * missing store) and acquires the store. */
int vdb_req_store(vdb_req *req, vdb_store_handle **out);
/* VDB_OK unless this is a write route and user_id is frozen (a tenant
 * move, freeze.h): then VDB_EBUSY, answered 503 with Retry-After. The admin
 * key with the header X-Vdb-Freeze-Override: 1 passes (the mover deleting
 * the source copy after the switch). */
int vdb_req_writable(vdb_req *req, const char *user_id);
/* Reads and checks user_id and model_id (and the tenant) without opening;
 * on a write route, also vdb_req_writable. */
int vdb_req_names(vdb_req *req, const char **user_id, const char **model_id);
/* 1 when the caller may see this user's stores. */
int vdb_req_sees_user(const vdb_req *req, const char *user_id);
/* The tenant failure: VDB_ENOTFOUND with the store-not-found message. */
int vdb_req_not_found(vdb_req *req, const char *user_id, const char *model_id);
/* A JSON array of arrays of numbers as a row-major float matrix. dim_io:
 * in = required width (0 = any), out = the width. Caller frees *out with
 * vdb_free. Errors (VDB_EINVAL) name field[i][j]. */
int vdb_req_matrix(vdb_req *req, const vdb_json *array, const char *field, size_t max_rows,
                   uint32_t *dim_io, float **out, size_t *rows);

/* ---- shared operations (ops.c; the clocks and vdb_set are reply.c's) ---- */
double vdb_api_uptime(const vdb_api *api);
double vdb_now_ms(void); /* monotonic milliseconds */
double vdb_unix_time(void);
/* Process resident set size in bytes (0 when unknown). */
size_t vdb_api_rss_bytes(void);
/* System memory totals in bytes (0 when unknown). */
void vdb_api_mem_info(size_t *total, size_t *available);
/* Data directory disk figures in bytes. */
void vdb_api_disk_info(const vdb_api *api, uint64_t *total, uint64_t *free_bytes);
/* Totals over open stores the caller may see. */
void vdb_api_store_totals(vdb_req *req, size_t *stores, size_t *vectors, size_t *bytes);

/* The same totals over every open store, whoever asks (anonymous /health). */
void vdb_api_store_totals_all(vdb_api *api, size_t *stores, size_t *vectors, size_t *bytes);
/* The store's stats as a JSON object (the /admin/store/stats core). */
vdb_json *vdb_api_store_json(vdb_store_handle *handle);
/* One store's listing entry: its figures (vdb_api_store_json) with "state":
 * "loaded", or, when it cannot be opened, its names with "state"
 * ("quarantined", "locked" or "unavailable") and the "reason". Caller owns
 * the result; NULL when out of memory. */
vdb_json *vdb_api_store_entry(vdb_req *req, const char *user_id, const char *model_id);
/* Opens nothing; runs one exact query over the store so its pages and
 * caches are warm. */
int vdb_api_warm_store(vdb_store_handle *handle, vdb_error *err);
/* Appends the store's dimension to the dimension error in req->err and
 * returns VDB_EDIM. */
int vdb_api_with_store_dim(vdb_req *req, uint32_t dim);
/* Adds an object member; convenience for builders (ignores ENOMEM, which
 * vdb_reply_json reports when dumping fails). */
void vdb_set(vdb_json *object, const char *key, vdb_json *value);

/* ---- handlers, one file per router ---- */
int vdb_h_vectors_add(vdb_req *req);
int vdb_h_vectors_query(vdb_req *req);
int vdb_h_vectors_batch_query(vdb_req *req);
int vdb_h_vectors_stream_query(vdb_req *req);
int vdb_h_vectors_count(vdb_req *req);
int vdb_h_vectors_delete(vdb_req *req);
int vdb_h_vectors_stats(vdb_req *req);
int vdb_h_vectors_health(vdb_req *req);
int vdb_h_vectors_users(vdb_req *req);
int vdb_h_vectors_models(vdb_req *req);
int vdb_h_vectors_ping(vdb_req *req);

/* A parsed add request: vectors (n x dim), ids (NULL = generated; may
 * point into the body or id_bufs) and metadata texts. */
typedef struct add_batch {
    size_t n;
    uint32_t dim;
    float *vectors;
    int vectors_borrowed; /* 1: vectors point into the request body (not freed) */
    const char **ids;
    char **id_bufs; /* ids we formatted from numbers */
    char **metas;
} add_batch;
/* Parses body's vectors (or takes `fast`'s matrix) and metadata; dim 0 =
 * any width. Borrows strings from body: free the batch before it. */
struct vdb_floatmatrix;
int vdb_add_batch_parse(vdb_req *req, vdb_json *body, uint32_t dim, struct vdb_floatmatrix *fast,
                        add_batch *b);
void vdb_add_batch_free(add_batch *b);
/* One result item (id, metadata, similarity_score, distance, rank, index
 * plus top-level copies of the metadata keys); caller owns it. */
struct vdb_store_hit;
vdb_json *vdb_api_hit_item(const struct vdb_store_hit *hit, size_t rank);

/* The configuration of a store created by an add (cosine, the server's
 * index settings) with `dim`. */
void vdb_api_store_config(const vdb_api *api, uint32_t dim, vdb_store_config *config);

/* Shared by /vectors/add and /admin/add_test_vectors. */
int vdb_vectors_add(vdb_req *req, int create_missing, vdb_json **result);

int vdb_h_admin_create_store(vdb_req *req);
int vdb_h_admin_delete_store(vdb_req *req);
int vdb_h_admin_store_stats(vdb_req *req);
int vdb_h_admin_set_target_recall(vdb_req *req);
int vdb_h_admin_set_quantization(vdb_req *req);
int vdb_h_admin_list_stores(vdb_req *req);
int vdb_h_admin_add_test_vectors(vdb_req *req);
int vdb_h_admin_stats(vdb_req *req);
int vdb_h_admin_freeze(vdb_req *req);
int vdb_h_admin_wal_tail(vdb_req *req);
int vdb_h_admin_wal_apply(vdb_req *req);
int vdb_h_admin_frozen(vdb_req *req);
int vdb_h_admin_system_stats(vdb_req *req);
int vdb_h_admin_health(vdb_req *req);
int vdb_h_admin_keys_create(vdb_req *req);
int vdb_h_admin_keys_list(vdb_req *req);
int vdb_h_admin_keys_revoke(vdb_req *req);
int vdb_h_admin_export_zip(vdb_req *req);
int vdb_h_admin_import_zip(vdb_req *req);

int vdb_h_perf_health(vdb_req *req);
int vdb_h_perf_warmup(vdb_req *req);
int vdb_h_perf_benchmark(vdb_req *req);
int vdb_h_perf_optimize(vdb_req *req);
int vdb_h_perf_stats(vdb_req *req);
int vdb_h_perf_cache_stats(vdb_req *req);
int vdb_h_perf_cache_clear(vdb_req *req);
/* The query cache's figures as a JSON object. */
vdb_json *vdb_api_cache_json(const vdb_api *api);

int vdb_h_mon_health(vdb_req *req);
int vdb_h_mon_metrics(vdb_req *req);
int vdb_h_mon_summary(vdb_req *req);
int vdb_h_mon_health_detailed(vdb_req *req);
int vdb_h_mon_status(vdb_req *req);
int vdb_h_mon_stores(vdb_req *req);
int vdb_h_mon_alert_test(vdb_req *req);

int vdb_h_batch_add(vdb_req *req);
int vdb_h_batch_query(vdb_req *req);
int vdb_h_batch_upload(vdb_req *req);
int vdb_h_batch_progress(vdb_req *req);
int vdb_h_batch_stream(vdb_req *req);
int vdb_h_batch_operations(vdb_req *req);
int vdb_h_batch_benchmark(vdb_req *req);

int vdb_h_root(vdb_req *req);
int vdb_h_health(vdb_req *req);
int vdb_h_system_info(vdb_req *req);
int vdb_h_config(vdb_req *req);
int vdb_h_debug_routes(vdb_req *req);
int vdb_h_debug_compute(vdb_req *req);
int vdb_h_openapi(vdb_req *req);
int vdb_h_docs(vdb_req *req);
int vdb_h_redoc(vdb_req *req);
int vdb_h_docs_asset(vdb_req *req);

#endif
