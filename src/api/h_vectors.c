/* /vectors handlers: add, query, batch/stream query, count, delete, stats,
 * health, create, users, models, ping.
 *
 * Result items carry the structural fields (id, metadata, similarity_score,
 * distance, rank, index) plus top-level copies of the metadata's keys, so
 * both SDK generations read them (api-contract.md); a structural field wins
 * a clash. Everything a request asks for is validated before the store is
 * touched; a batch is added all or nothing. */
#include "api_int.h"
#include "qcache.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/limits.h"
#include "../filter/filter.h"
#include "floatparse.h"

/* queries x k per request: bounds the response (each item is ~150 bytes
 * of JSON plus its metadata). */
#define VDB_MAX_RESULT_ITEMS 1000000u

int vdb_h_vectors_add(vdb_req *req)
{
    vdb_json *result = NULL;
    int rc = vdb_vectors_add(req, 1, &result);
    return rc == VDB_OK ? vdb_reply_json(req, 200, result) : rc;
}

/* ---- query ---- */

typedef struct hits_ctx {
    vdb_json *results; /* array: of items (single) or of arrays (batch) */
    int batch;
    int failed;
} hits_ctx;

static int collect_hits(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    hits_ctx *c = ctx;
    (void)query;
    vdb_json *list = c->batch ? vdb_json_array() : c->results;
    if (list == NULL) {
        c->failed = 1;
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        vdb_json *item = vdb_api_hit_item(&hits[i], i + 1);
        if (item == NULL || vdb_json_array_append_new(list, item) != VDB_OK) {
            c->failed = 1;
            break;
        }
    }
    if (c->batch && vdb_json_array_append_new(c->results, list) != VDB_OK)
        c->failed = 1;
    return c->failed;
}

/* The request's filter spec: filter_metadata (the seed's name) or filter. */
static vdb_json *filter_spec(vdb_json *body, const char **name)
{
    vdb_json *spec = vdb_json_object_get(body, "filter_metadata");
    *name = "filter_metadata";
    if (spec == NULL || vdb_jtype(spec) == VDB_JSON_NULL) {
        spec = vdb_json_object_get(body, "filter");
        *name = "filter";
    }
    return spec;
}

static int compile_filter(vdb_req *req, vdb_json *body, vdb_filter **out)
{
    const char *name;
    vdb_json *spec = filter_spec(body, &name);
    *out = NULL;
    if (spec == NULL || vdb_jtype(spec) == VDB_JSON_NULL)
        return VDB_OK;
    if (vdb_jtype(spec) != VDB_JSON_OBJECT)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s must be an object", name);
    vdb_error ferr;
    vdb_error_clear(&ferr);
    int rc = vdb_filter_compile(spec, out, &ferr);
    if (rc != VDB_OK)
        return vdb_error_set(&req->err, rc, "%s: %s", name, ferr.msg);
    return VDB_OK;
}

typedef struct query_job {
    vdb_store_handle *handle;
    float *queries;
    size_t nq;
    char *filter_text;  /* canonical filter JSON (sorted keys), for the cache key */
    int explain;        /* the request asked for the query plan */
    char plan[VDB_EXPLAIN_MAX];
    vdb_query_params params;
    vdb_filter *filter;
    size_t searched;
    double ms;
} query_job;

static void query_job_free(query_job *job)
{
    vdb_filter_free(job->filter);
    vdb_json_free_text(job->filter_text);
    vdb_free(job->queries);
    vdb_registry_release(job->handle);
}

/* Parses and checks a query request; `field` is "query" (one vector) or
 * "queries" (a matrix). */
static int prepare_query(vdb_req *req, const char *field, query_job *job)
{
    vdb_json *body;
    long long k = 10, ef = 0;
    int exact = 0;
    vdb_floatmatrix fast;
    uint32_t fast_dim = 0;
    int nested = strcmp(field, "query") != 0;
    memset(job, 0, sizeof(*job));
    int have_fast;
    int rc = vdb_req_body_or_matrix(req, field, nested, nested ? req->api->config.max_batch : 1,
                                    &fast, &have_fast, &body);
    if (have_fast) {
        job->queries = fast.data;
        job->nq = fast.rows;
        fast_dim = fast.dim;
        fast.data = NULL;
        vdb_floatmatrix_free(&fast);
    }
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "k", 10, 1, req->api->config.max_k, &k);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "ef", 0, 0, 100000, &ef);
    if (rc == VDB_OK)
        rc = vdb_req_bool(req, "exact", 0, &exact);
    if (rc == VDB_OK)
        rc = vdb_req_bool(req, "explain", 0, &job->explain);
    if (rc == VDB_OK)
        rc = vdb_req_target(req, body, "target_recall", &job->params.target_recall);
    if (rc == VDB_OK)
        rc = compile_filter(req, body, &job->filter);
    if (rc == VDB_OK && job->filter != NULL) {
        const char *name;
        job->filter_text = vdb_json_dump(filter_spec(body, &name),
                                         VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_SORT_KEYS);
        if (job->filter_text == NULL)
            rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &job->handle);
    if (rc != VDB_OK)
        return rc;
    uint32_t dim = vdb_store_get_config(vdb_registry_store(job->handle))->dim;
    vdb_json *value = vdb_json_object_get(body, field);
    if (have_fast) {
        if (fast_dim != dim)
            rc = vdb_error_set(&req->err, VDB_EDIM, "%s has %u components, expected %u", field,
                               fast_dim, dim);
    } else if (strcmp(field, "query") == 0) {
        if (value == NULL || vdb_jtype(value) != VDB_JSON_ARRAY)
            return vdb_error_set(&req->err, VDB_EINVAL, "query must be an array of numbers");
        /* A length other than the store's is a dimension error, decided
         * here by the code rather than from a parser's message text. */
        if (vdb_json_array_size(value) != dim)
            return vdb_error_set(&req->err, VDB_EDIM, "query has %zu components, expected %u "
                                 "(the store's dimension is %u)", vdb_json_array_size(value),
                                 dim, dim);
        vdb_json *wrapped = vdb_json_array();
        if (wrapped == NULL)
            return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
        vdb_json_array_append_new(wrapped, vdb_json_incref(value));
        rc = vdb_req_matrix(req, wrapped, "query", 1, &dim, &job->queries, &job->nq);
        vdb_json_decref(wrapped);
    } else {
        vdb_json *first = value != NULL && vdb_jtype(value) == VDB_JSON_ARRAY
                              ? vdb_json_array_get(value, 0) : NULL;
        if (first != NULL && vdb_jtype(first) == VDB_JSON_ARRAY &&
            vdb_json_array_size(first) != dim)
            return vdb_error_set(&req->err, VDB_EDIM, "%s[0] has %zu components, expected %u "
                                 "(the store's dimension is %u)", field,
                                 vdb_json_array_size(first), dim, dim);
        rc = vdb_req_matrix(req, value, field, req->api->config.max_batch, &dim, &job->queries,
                            &job->nq);
    }
    if (rc == VDB_EDIM)
        rc = vdb_api_with_store_dim(req, vdb_store_get_config(vdb_registry_store(job->handle))->dim);
    if (rc == VDB_OK && (double)job->nq * (double)k > VDB_MAX_RESULT_ITEMS)
        rc = vdb_error_set(&req->err, VDB_EINVAL,
                           "%zu queries x k %lld is over %u result items per request", job->nq, k,
                           VDB_MAX_RESULT_ITEMS);
    job->params.k = (size_t)k;
    job->params.ef = (uint32_t)ef;
    job->params.exact = exact;
    job->params.filter = job->filter;
    job->params.explain = job->explain ? job->plan : NULL;
    return rc;
}

static int run_query(vdb_req *req, query_job *job, vdb_store_hits_fn emit, void *ctx)
{
    vdb_store *store = vdb_registry_store(job->handle);
    double start = vdb_now_ms();
    job->searched = vdb_store_count(store);
    int rc = vdb_store_query(store, job->queries, job->nq, &job->params, emit, ctx, &req->err);
    job->ms = vdb_now_ms() - start;
    if (rc == VDB_OK) {
        vdb_counter_add(&req->api->queries, job->nq);
        vdb_histogram_observe(&req->api->query_hist, job->ms / 1e3);
    }
    return rc;
}

/* The cache key: everything that decides a query's answer. */
static char *cache_key(const query_job *job, int batch, size_t *len)
{
    const char *user = vdb_registry_user(job->handle), *model = vdb_registry_model(job->handle);
    const char *filter = job->filter_text ? job->filter_text : "";
    uint32_t dim = vdb_store_get_config(vdb_registry_store(job->handle))->dim;
    size_t floats = job->nq * dim * sizeof(float);
    size_t head = strlen(user) + strlen(model) + strlen(filter) + 128;
    char *key = vdb_malloc(head + floats);
    int n;
    if (key == NULL)
        return NULL;
    n = snprintf(key, head, "%s/%s|%d|%zu|%u|%d|%.17g|%s|", user, model, batch, job->params.k,
                 job->params.ef, job->params.exact, job->params.target_recall, filter);
    memcpy(key + n, job->queries, floats);
    *len = (size_t)n + floats;
    return key;
}

/* A JSON text answer built as the queries finish: one query's hits at a
 * time become a DOM, are written out as text and freed, so a large answer
 * costs its text, not a DOM of every hit (1,000 queries x k 1,000 built as
 * one DOM peaked at 2.1 GB RSS). */
typedef struct text_out {
    char *text;
    size_t len, cap;
    int failed;
    const char *sep;   /* written between two queries' lists */
    size_t lists;      /* lists written so far */
} text_out;

static int text_put(text_out *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 65536;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = vdb_realloc(t->text, cap);
        if (grown == NULL) {
            t->failed = 1;
            return 1;
        }
        t->text = grown;
        t->cap = cap;
    }
    memcpy(t->text + t->len, s, n);
    t->len += n;
    t->text[t->len] = '\0';
    return 0;
}

/* One query's list: after the separator for every list but the first
 * (batch JSON: ","), or ending each (NDJSON: "\n", sep_after). */
static int text_hits(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    text_out *t = ctx;
    hits_ctx one = {vdb_json_array(), 0, 0};
    if (one.results == NULL || collect_hits(&one, query, hits, count) != 0) {
        vdb_json_decref(one.results);
        t->failed = 1;
        return 1;
    }
    char *list = vdb_json_dump(one.results, VDB_JSON_DUMP_COMPACT);
    vdb_json_decref(one.results);
    int newline = strcmp(t->sep, "\n") == 0;
    if (list == NULL || (!newline && t->lists > 0 && text_put(t, t->sep, strlen(t->sep))) ||
        text_put(t, list, strlen(list)) || (newline && text_put(t, "\n", 1))) {
        vdb_json_free_text(list);
        t->failed = 1;
        return 1;
    }
    vdb_json_free_text(list);
    t->lists++;
    return 0;
}

/* Above this many hits (queries x k) a batch answer is written as text as
 * it is produced and not cached (query caching pays for small answers). */
#define TEXT_ANSWER_HITS 4096u

/* batch_query with a large answer: the same JSON as query_common's. */
static int batch_query_text(vdb_req *req, query_job *job)
{
    text_out t = {NULL, 0, 0, 0, ",", 0};
    int rc = VDB_OK;
    if (text_put(&t, "{\"results\":[", 12) == 0)
        rc = run_query(req, job, text_hits, &t);
    if (rc == VDB_OK && t.failed)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory building results");
    if (rc == VDB_OK) {
        /* The remaining fields through jansson, spliced after the list. */
        vdb_json *tail = vdb_json_object();
        vdb_set(tail, "query_time_ms", vdb_json_real(job->ms));
        vdb_set(tail, "total_vectors_searched", vdb_json_int((long long)job->searched));
        vdb_set(tail, "total_queries", vdb_json_int((long long)job->nq));
        vdb_set(tail, "avg_query_time_ms", vdb_json_real(job->ms / (double)job->nq));
        if (job->explain)
            vdb_set(tail, "explain", vdb_json_string(job->plan[0] ? job->plan : "no filter: "
                                                     "index or exact search over every row"));
        char *rest = tail ? vdb_json_dump(tail, VDB_JSON_DUMP_COMPACT) : NULL;
        vdb_json_decref(tail);
        if (rest == NULL || rest[0] != '{' || text_put(&t, "],", 2) ||
            text_put(&t, rest + 1, strlen(rest + 1)))
            rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory building results");
        vdb_json_free_text(rest);
    }
    if (rc == VDB_OK) {
        rc = vdb_reply_text(req, 200, "application/json", t.text, t.len);
        t.text = NULL;
    }
    vdb_free(t.text);
    return rc;
}

static int query_common(vdb_req *req, int batch)
{
    query_job job;
    hits_ctx ctx = {NULL, batch, 0};
    uint64_t tag[2];
    size_t key_len = 0;
    char *key = NULL;
    double start = vdb_now_ms();
    int rc = prepare_query(req, batch ? "queries" : "query", &job);
    if (rc == VDB_OK && batch && (double)job.nq * (double)job.params.k > TEXT_ANSWER_HITS) {
        rc = batch_query_text(req, &job);
        query_job_free(&job);
        return rc;
    }
    if (rc == VDB_OK) {
        /* The tag is read before the search: a write landing meanwhile
         * moves the tag on, so this result can only be served to requests
         * that started before that write. */
        vdb_store_cache_tag(vdb_registry_store(job.handle), tag);
        key = job.explain ? NULL : cache_key(&job, batch, &key_len);
        if (key != NULL)
            ctx.results = vdb_qcache_get(req->api->qcache, key, key_len, tag);
    }
    if (rc == VDB_OK && ctx.results != NULL) {
        job.searched = vdb_store_count(vdb_registry_store(job.handle));
        job.ms = vdb_now_ms() - start; /* the request's own time: a cache hit */
        vdb_counter_add(&req->api->queries, job.nq);
    } else if (rc == VDB_OK) {
        if ((ctx.results = vdb_json_array()) == NULL)
            rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
        if (rc == VDB_OK)
            rc = run_query(req, &job, collect_hits, &ctx);
        if (rc == VDB_OK && ctx.failed)
            rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory building results");
        if (rc == VDB_OK && key != NULL)
            vdb_qcache_put(req->api->qcache, key, key_len, tag, ctx.results,
                           256 * vdb_json_array_size(ctx.results) * (batch ? job.params.k : 1));
    }
    if (rc == VDB_OK) {
        vdb_json *out = vdb_json_object();
        vdb_set(out, "results", vdb_json_incref(ctx.results));
        vdb_set(out, "query_time_ms", vdb_json_real(job.ms));
        vdb_set(out, "total_vectors_searched", vdb_json_int((long long)job.searched));
        if (batch) {
            vdb_set(out, "total_queries", vdb_json_int((long long)job.nq));
            vdb_set(out, "avg_query_time_ms", vdb_json_real(job.ms / (double)job.nq));
        }
        if (job.explain)
            vdb_set(out, "explain", vdb_json_string(job.plan[0] ? job.plan : "no filter: "
                                                    "index or exact search over every row"));
        rc = vdb_reply_json(req, 200, out);
    }
    vdb_free(key);
    vdb_json_decref(ctx.results);
    query_job_free(&job);
    return rc;
}

int vdb_h_vectors_query(vdb_req *req)
{
    return query_common(req, 0);
}

int vdb_h_vectors_batch_query(vdb_req *req)
{
    return query_common(req, 1);
}

int vdb_h_vectors_stream_query(vdb_req *req)
{
    query_job job;
    text_out s = {NULL, 0, 0, 0, "\n", 0};
    int rc = prepare_query(req, "queries", &job);
    if (rc == VDB_OK)
        rc = run_query(req, &job, text_hits, &s);
    if (rc == VDB_OK && s.failed)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory building results");
    if (rc == VDB_OK) {
        rc = vdb_reply_text(req, 200, "application/x-ndjson", s.text, s.len);
        s.text = NULL;
    }
    vdb_free(s.text);
    query_job_free(&job);
    return rc;
}

/* ---- count, delete, stats ---- */

int vdb_h_vectors_count(vdb_req *req)
{
    vdb_store_handle *handle;
    int rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    long long n = (long long)vdb_store_count(vdb_registry_store(handle));
    vdb_registry_release(handle);
    vdb_json *out = vdb_json_object();
    vdb_set(out, "count", vdb_json_int(n));
    vdb_set(out, "vectors", vdb_json_int(n));
    vdb_set(out, "metadata", vdb_json_int(n));
    return vdb_reply_json(req, 200, out);
}

static int collect_ids(vdb_req *req, vdb_json *array, const char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (array == NULL || vdb_jtype(array) == VDB_JSON_NULL)
        return VDB_OK;
    if (vdb_jtype(array) != VDB_JSON_ARRAY)
        return vdb_error_set(&req->err, VDB_EINVAL, "ids must be an array of strings");
    size_t count = vdb_json_array_size(array);
    if (count > req->api->config.max_batch)
        return vdb_error_set(&req->err, VDB_EINVAL, "ids has %zu entries, at most %u allowed",
                             count, req->api->config.max_batch);
    *ids = vdb_calloc(count ? count : 1, sizeof(**ids));
    if (*ids == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *id = vdb_json_string_value(vdb_json_array_get(array, i));
        if (id == NULL)
            return vdb_error_set(&req->err, VDB_EINVAL, "ids[%zu] must be a string", i);
        (*ids)[i] = id;
    }
    *n = count;
    return VDB_OK;
}

int vdb_h_vectors_delete(vdb_req *req)
{
    vdb_json *body;
    vdb_filter *filter = NULL;
    vdb_store_handle *handle = NULL;
    const char **ids = NULL;
    size_t nids = 0, deleted = 0, matched = 0;
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK && vdb_json_object_get(body, "indices") != NULL)
        rc = vdb_error_set(&req->err, VDB_EINVAL,
                           "indices are not stable across compaction; delete by ids or filter");
    if (rc == VDB_OK)
        rc = collect_ids(req, vdb_json_object_get(body, "ids"), &ids, &nids);
    if (rc == VDB_OK)
        rc = compile_filter(req, body, &filter);
    if (rc == VDB_OK && ids == NULL && filter == NULL)
        rc = vdb_error_set(&req->err, VDB_EINVAL,
                           "give ids or a non-empty filter_metadata (to drop a whole store use "
                           "DELETE /admin/store)");
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &handle);
    if (rc == VDB_OK && nids > 0)
        rc = vdb_store_delete(vdb_registry_store(handle), nids, ids, &deleted, &req->err);
    if (rc == VDB_OK && filter != NULL)
        rc = vdb_store_delete_where(vdb_registry_store(handle), filter, &matched, &req->err);
    if (rc == VDB_OK) {
        deleted += matched;
        vdb_counter_add(&req->api->deletions, deleted);
        vdb_json *out = vdb_json_object();
        vdb_set(out, "deleted_count", vdb_json_int((long long)deleted));
        vdb_set(out, "deleted", vdb_json_int((long long)deleted));
        vdb_set(out, "remaining_count",
                vdb_json_int((long long)vdb_store_count(vdb_registry_store(handle))));
        rc = vdb_reply_json(req, 200, out);
    }
    vdb_registry_release(handle);
    vdb_filter_free(filter);
    vdb_free((void *)ids);
    return rc;
}

static vdb_json *latency_json(const vdb_histogram *hist)
{
    uint64_t count, buckets[VDB_HIST_BUCKETS + 1];
    double sum;
    vdb_histogram_read(hist, &count, &sum, buckets);
    vdb_json *obj = vdb_json_object();
    vdb_set(obj, "count", vdb_json_int((long long)count));
    vdb_set(obj, "mean_ms", vdb_json_real(count ? sum * 1e3 / (double)count : 0));
    vdb_set(obj, "p50_ms", vdb_json_real(vdb_histogram_quantile(hist, 0.5) * 1e3));
    vdb_set(obj, "p99_ms", vdb_json_real(vdb_histogram_quantile(hist, 0.99) * 1e3));
    return obj;
}

int vdb_h_vectors_stats(vdb_req *req)
{
    vdb_store_handle *handle;
    int rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    vdb_json *out = vdb_json_object();
    vdb_set(out, "store_stats", vdb_api_store_json(handle));
    vdb_registry_release(handle);
    vdb_json *perf = vdb_json_object();
    vdb_set(perf, "queries_total", vdb_json_int((long long)vdb_counter_get(&req->api->queries)));
    vdb_set(perf, "query_latency", latency_json(&req->api->query_hist));
    vdb_set(perf, "add_latency", latency_json(&req->api->add_hist));
    vdb_set(perf, "note", vdb_json_string("latencies are server-wide, measured per request"));
    vdb_set(out, "performance_info", perf);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_vectors_health(vdb_req *req)
{
    size_t stores, vectors, bytes;
    vdb_api_store_totals(req, &stores, &vectors, &bytes);
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string("healthy"));
    vdb_set(out, "stores_active", vdb_json_int((long long)stores));
    vdb_set(out, "total_vectors", vdb_json_int((long long)vectors));
    vdb_set(out, "memory_usage_mb", vdb_json_real((double)bytes / 1048576.0));
    return vdb_reply_json(req, 200, out);
}

/* ---- users, models, ping ---- */

typedef struct names_ctx {
    vdb_req *req;
    vdb_json *list;
    char last[VDB_MAX_NAME_LEN + 1];
    int models;
} names_ctx;

static int add_name(void *ctx, const char *user_id, const char *model_id)
{
    names_ctx *c = ctx;
    if (!vdb_req_sees_user(c->req, user_id))
        return 0;
    if (c->models) {
        vdb_json_array_append_new(c->list, vdb_json_string(model_id));
    } else if (strcmp(c->last, user_id) != 0) {
        vdb_json_array_append_new(c->list, vdb_json_string(user_id));
        snprintf(c->last, sizeof(c->last), "%s", user_id);
    }
    return 0;
}

int vdb_h_vectors_users(vdb_req *req)
{
    names_ctx c = {req, vdb_json_array(), "", 0};
    int rc = vdb_registry_list(req->api->registry, NULL, add_name, &c, &req->err);
    if (rc != VDB_OK) {
        vdb_json_decref(c.list);
        return rc;
    }
    return vdb_reply_json(req, 200, c.list);
}

int vdb_h_vectors_models(vdb_req *req)
{
    const char *user_id;
    names_ctx c = {req, NULL, "", 1};
    int rc = vdb_req_str(req, "user_id", 1, &user_id);
    if (rc == VDB_OK)
        rc = vdb_registry_check_name("user_id", user_id, &req->err);
    if (rc != VDB_OK)
        return rc;
    c.list = vdb_json_array();
    if (vdb_req_sees_user(req, user_id))
        rc = vdb_registry_list(req->api->registry, user_id, add_name, &c, &req->err);
    if (rc != VDB_OK) {
        vdb_json_decref(c.list);
        return rc;
    }
    return vdb_reply_json(req, 200, c.list);
}

int vdb_h_vectors_ping(vdb_req *req)
{
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string("pong"));
    return vdb_reply_json(req, 200, out);
}

