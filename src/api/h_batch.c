/* /v1/batch: chunked adds, batch queries, file uploads, operation progress
 * (JSON and server-sent events), the operations list and an ingest
 * benchmark.
 *
 * Every add and upload is parsed and validated completely (shape, dtype,
 * finiteness, metadata count, ids, the store's dimension) before the first
 * vector is written, so an invalid request changes nothing. The rows then
 * go into the store in chunks of `batch_size`/`chunk_size`; each chunk is
 * one vdb_store_add (one WAL record, fsynced before the next chunk starts),
 * so each chunk is atomic and a crash or I/O failure leaves a prefix of
 * whole chunks; the operation's items_processed says how many. Progress
 * advances per committed chunk. Uploads and adds with enable_streaming run
 * in a background thread (batchops.c) and answer at once with the
 * operation id; operations are tenant-scoped like stores (a per-user key
 * sees only its own user's operations, others read as 404). */
#include "api_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/finite.h"
#include "../core/limits.h"
#include "../core/rng.h"
#include "../filter/filter.h"
#include "../store/vecfile.h"
#include "batchops.h"
#include "floatparse.h"
#include "httpparse.h"

#define BATCH_DEFAULT_CHUNK 1000
#define BATCH_MAX_CHUNK 100000
#define SSE_INTERVAL_MS 500
#define SSE_MAX_SECONDS 3600 /* a stream ends after an hour even if the op does not */
/* Open progress streams at most. A stream is parked between events (it
 * holds no worker), so the bound is on what each one pins: a connection
 * slot, a 16 KiB send buffer and its operation's record. */
#define SSE_MAX_STREAMS 64

/* ---- the ingest job, shared by add and upload, sync and background ---- */

typedef struct ingest {
    vdb_api *api;
    vdb_store_handle *handle;
    add_batch batch;  /* vectors and metadata texts (owned) */
    char **ids;       /* owned copies of the given ids (NULL = generated) */
    char **ids_out;   /* sync adds: the final ids */
    size_t chunk;
} ingest;

static void ingest_free(void *arg)
{
    ingest *job = arg;
    if (job == NULL)
        return;
    for (size_t i = 0; i < job->batch.n; i++) {
        vdb_free(job->ids ? job->ids[i] : NULL);
        vdb_free(job->ids_out ? job->ids_out[i] : NULL);
    }
    vdb_free(job->ids);
    vdb_free(job->ids_out);
    vdb_add_batch_free(&job->batch);
    vdb_registry_release(job->handle);
    vdb_free(job);
}

/* Takes the parsed batch; copies the ids it borrows from the request, and
 * for a background job (which outlives the request) the vectors too when
 * they point into the body. */
static int ingest_new(vdb_req *req, vdb_store_handle *handle, add_batch *batch, size_t chunk,
                      int background, ingest **out)
{
    ingest *job = vdb_calloc(1, sizeof(*job));
    if (job == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    job->api = req->api;
    job->handle = handle;
    job->batch = *batch;
    memset(batch, 0, sizeof(*batch));
    job->chunk = chunk;
    job->ids = vdb_calloc(job->batch.n + 1, sizeof(char *));
    int rc = job->ids ? VDB_OK : VDB_ENOMEM;
    if (rc == VDB_OK && background && job->batch.vectors_borrowed) {
        size_t bytes = job->batch.n * job->batch.dim * sizeof(float); /* fits: it is in the body */
        float *copy = vdb_malloc(bytes);
        if (copy == NULL)
            rc = VDB_ENOMEM;
        else
            memcpy(copy, job->batch.vectors, bytes);
        job->batch.vectors = copy;
        job->batch.vectors_borrowed = 0;
    }
    for (size_t i = 0; rc == VDB_OK && i < job->batch.n; i++)
        if (job->batch.ids[i] != NULL && (job->ids[i] = vdb_strdup(job->batch.ids[i])) == NULL)
            rc = VDB_ENOMEM;
    if (rc != VDB_OK) {
        ingest_free(job);
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    *out = job;
    return VDB_OK;
}

static int ingest_run(vdb_batch_op *op, void *arg, vdb_error *err)
{
    ingest *job = arg;
    vdb_store *store = vdb_registry_store(job->handle);
    size_t n = job->batch.n, dim = job->batch.dim;
    for (size_t at = 0; at < n; at += job->chunk) {
        size_t m = n - at < job->chunk ? n - at : job->chunk;
        if (vdb_batchops_cancelled(op))
            return vdb_error_set(err, VDB_EBUSY, "server shutting down after %zu of %zu items", at,
                                 n);
        vdb_error chunk_err;
        vdb_error_clear(&chunk_err);
        int rc = vdb_store_add(store, m, job->batch.vectors + at * dim,
                               (const char *const *)job->ids + at,
                               (const char *const *)job->batch.metas + at,
                               job->ids_out ? job->ids_out + at : NULL, &chunk_err);
        if (rc != VDB_OK)
            return vdb_error_set(err, rc, "chunk at item %zu failed after %zu items committed: %s",
                                 at, at, chunk_err.msg);
        vdb_counter_add(&job->api->additions, m);
        vdb_batchops_advance(op, m);
    }
    return VDB_OK;
}

static size_t nbatches(size_t n, size_t chunk)
{
    return n == 0 ? 0 : (n - 1) / chunk + 1;
}

/* The store for an add of `dim`-wide rows: acquired, or created (cosine,
 * the server's index settings) when missing. */
static int store_for_add(vdb_req *req, const char *user_id, const char *model_id, uint32_t dim,
                         vdb_store_handle **out)
{
    int rc = vdb_registry_acquire(req->api->registry, user_id, model_id, out, &req->err);
    if (rc == VDB_ENOTFOUND) {
        vdb_store_config config;
        vdb_api_store_config(req->api, dim, &config);
        rc = vdb_registry_create(req->api->registry, user_id, model_id, &config, out, &req->err);
        if (rc == VDB_EEXIST)
            rc = vdb_registry_acquire(req->api->registry, user_id, model_id, out, &req->err);
    }
    if (rc == VDB_OK)
        rc = vdb_store_adopt_dim(vdb_registry_store(*out), dim, &req->err);
    if (rc != VDB_OK) {
        vdb_registry_release(*out);
        *out = NULL;
        return rc;
    }
    uint32_t have = vdb_store_get_config(vdb_registry_store(*out))->dim;
    if (have != dim) {
        vdb_registry_release(*out);
        *out = NULL;
        return vdb_error_set(&req->err, VDB_EDIM,
                             "vectors have %u components, the store's dimension is %u", dim, have);
    }
    return VDB_OK;
}

static vdb_json *started_json(vdb_batch_op *op, size_t total, size_t chunk)
{
    char url[160];
    vdb_json *out = vdb_json_object();
    vdb_set(out, "operation_id", vdb_json_string(vdb_batchops_id(op)));
    vdb_set(out, "status", vdb_json_string("started"));
    vdb_set(out, "streaming_enabled", vdb_json_bool(1));
    snprintf(url, sizeof(url), "/v1/batch/progress/%s", vdb_batchops_id(op));
    vdb_set(out, "progress_url", vdb_json_string(url));
    snprintf(url, sizeof(url), "/v1/batch/stream/%s", vdb_batchops_id(op));
    vdb_set(out, "stream_url", vdb_json_string(url));
    vdb_set(out, "total_items", vdb_json_int((long long)total));
    vdb_set(out, "total_batches", vdb_json_int((long long)nbatches(total, chunk)));
    return out;
}

/* Runs the job: in the background (answers with the operation id), or
 * now (answers with the result). Takes the job. */
static int start_ingest(vdb_req *req, const char *type, const char *user_id, const char *model_id,
                        ingest *job, int background)
{
    vdb_batch_op *op = NULL;
    size_t n = job->batch.n;
    int rc = vdb_batchops_begin(req->api->batchops, type, user_id, model_id, n,
                                nbatches(n, job->chunk), &op, &req->err);
    if (rc != VDB_OK) {
        ingest_free(job);
        return rc;
    }
    if (background) {
        rc = vdb_batchops_spawn(req->api->batchops, op, ingest_run, job, ingest_free, &req->err);
        if (rc == VDB_OK)
            rc = vdb_reply_json(req, 202, started_json(op, n, job->chunk));
        vdb_batchops_release(op);
        return rc;
    }
    double start = vdb_now_ms();
    if (job->ids_out == NULL && (job->ids_out = vdb_calloc(n + 1, sizeof(char *))) == NULL)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    if (rc == VDB_OK)
        rc = ingest_run(op, job, &req->err);
    vdb_batchops_finish(op, rc, &req->err);
    if (rc == VDB_OK) {
        double ms = vdb_now_ms() - start;
        vdb_histogram_observe(&req->api->add_hist, ms / 1e3);
        vdb_json *out = vdb_batchops_json(op), *ids = vdb_json_array();
        for (size_t i = 0; ids != NULL && i < n; i++)
            vdb_json_array_append_new(ids, vdb_json_string(job->ids_out[i] ? job->ids_out[i] : ""));
        vdb_set(out, "success", vdb_json_bool(1));
        vdb_set(out, "streaming_enabled", vdb_json_bool(0));
        vdb_set(out, "total_processed", vdb_json_int((long long)n));
        vdb_set(out, "total_errors", vdb_json_int(0));
        vdb_set(out, "processing_time_ms", vdb_json_real(ms));
        vdb_set(out, "throughput_items_per_sec", vdb_json_real(ms > 0 ? (double)n / (ms / 1e3) : 0));
        vdb_set(out, "results", ids);
        vdb_set(out, "total_vectors",
                vdb_json_int((long long)vdb_store_count(vdb_registry_store(job->handle))));
        rc = vdb_reply_json(req, 200, out);
    }
    vdb_batchops_release(op);
    ingest_free(job);
    return rc;
}

static int chunk_size(vdb_req *req, const char *name, size_t *out)
{
    long long v;
    int rc = vdb_req_int(req, name, BATCH_DEFAULT_CHUNK, 1, BATCH_MAX_CHUNK, &v);
    *out = (size_t)v;
    return rc;
}

/* Validated rows to their store (created when missing), then run: the
 * tail shared by add and upload. Frees the batch. */
static int launch(vdb_req *req, const char *type, const char *user_id, const char *model_id,
                  add_batch *batch, size_t chunk, int background)
{
    vdb_store_handle *handle = NULL;
    ingest *job = NULL;
    int rc = batch->n == 0 ? vdb_error_set(&req->err, VDB_EINVAL, "no vectors to add") : VDB_OK;
    if (rc == VDB_OK)
        rc = store_for_add(req, user_id, model_id, batch->dim, &handle);
    if (rc == VDB_OK)
        rc = ingest_new(req, handle, batch, chunk, background, &job);
    else
        vdb_registry_release(handle);
    vdb_add_batch_free(batch);
    return rc == VDB_OK ? start_ingest(req, type, user_id, model_id, job, background) : rc;
}

/* ---- POST /v1/batch/vectors/add ---- */

int vdb_h_batch_add(vdb_req *req)
{
    vdb_json *body;
    const char *user_id, *model_id;
    vdb_floatmatrix fast;
    add_batch batch;
    int streaming = 0;
    size_t chunk = 0;
    memset(&batch, 0, sizeof(batch));
    int have_fast;
    int rc = vdb_req_body_or_matrix(req, "vectors", 1, req->api->config.max_batch, &fast,
                                    &have_fast, &body);
    if (rc == VDB_OK)
        rc = vdb_req_names(req, &user_id, &model_id);
    if (rc == VDB_OK)
        rc = vdb_req_bool(req, "enable_streaming", 0, &streaming);
    if (rc == VDB_OK)
        rc = chunk_size(req, "batch_size", &chunk);
    if (rc == VDB_OK)
        rc = vdb_add_batch_parse(req, body, 0, have_fast ? &fast : NULL, &batch);
    if (have_fast)
        vdb_floatmatrix_free(&fast);
    if (rc != VDB_OK) {
        vdb_add_batch_free(&batch);
        return rc;
    }
    return launch(req, "add_vectors", user_id, model_id, &batch, chunk, streaming);
}

/* ---- POST /v1/batch/vectors/query ---- */

typedef struct bq_ctx {
    vdb_json *results;
    int failed;
} bq_ctx;

static int bq_collect(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    bq_ctx *c = ctx;
    vdb_json *group = vdb_json_object(), *items = vdb_json_array();
    for (size_t i = 0; items != NULL && i < count; i++)
        if (vdb_json_array_append_new(items, vdb_api_hit_item(&hits[i], i + 1)) != VDB_OK)
            c->failed = 1;
    vdb_set(group, "query_index", vdb_json_int((long long)query));
    vdb_set(group, "results", items);
    if (group == NULL || items == NULL || vdb_json_array_append_new(c->results, group) != VDB_OK)
        c->failed = 1;
    return c->failed;
}

int vdb_h_batch_query(vdb_req *req)
{
    vdb_json *body;
    vdb_store_handle *handle = NULL;
    vdb_filter *filter = NULL;
    float *queries = NULL;
    size_t nq = 0;
    long long k = 10;
    bq_ctx ctx = {vdb_json_array(), 0};
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "k", 10, 1, 100, &k);
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &handle);
    if (rc == VDB_OK) {
        uint32_t dim = vdb_store_get_config(vdb_registry_store(handle))->dim;
        rc = vdb_req_matrix(req, vdb_json_object_get(body, "queries"), "queries",
                            req->api->config.max_batch, &dim, &queries, &nq);
    }
    if (rc == VDB_OK && nq == 0)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "queries must hold at least one vector");
    vdb_json *spec = vdb_json_object_get(body, "filter");
    if (spec == NULL || vdb_jtype(spec) == VDB_JSON_NULL)
        spec = vdb_json_object_get(body, "filter_metadata");
    if (rc == VDB_OK && spec != NULL && vdb_jtype(spec) != VDB_JSON_NULL) {
        vdb_error ferr;
        vdb_error_clear(&ferr);
        if (vdb_jtype(spec) != VDB_JSON_OBJECT)
            rc = vdb_error_set(&req->err, VDB_EINVAL, "filter must be an object");
        else if ((rc = vdb_filter_compile(spec, &filter, &ferr)) != VDB_OK)
            rc = vdb_error_set(&req->err, rc, "filter: %s", ferr.msg);
    }
    vdb_query_params params = {(size_t)k, 0, filter, 0, NULL, 0};
    if (rc == VDB_OK)
        rc = vdb_req_target(req, body, "target_recall", &params.target_recall);
    double start = vdb_now_ms();
    if (rc == VDB_OK) {
        rc = vdb_store_query(vdb_registry_store(handle), queries, nq, &params, bq_collect, &ctx,
                             &req->err);
        if (rc == VDB_OK && (ctx.failed || ctx.results == NULL))
            rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    if (rc == VDB_OK) {
        double ms = vdb_now_ms() - start;
        vdb_counter_add(&req->api->queries, nq);
        vdb_histogram_observe(&req->api->query_hist, ms / 1e3);
        vdb_json *out = vdb_json_object();
        vdb_set(out, "success", vdb_json_bool(1));
        vdb_set(out, "results", vdb_json_incref(ctx.results));
        vdb_set(out, "total_queries", vdb_json_int((long long)nq));
        vdb_set(out, "processing_time_ms", vdb_json_real(ms));
        vdb_set(out, "throughput_queries_per_sec", vdb_json_real(ms > 0 ? (double)nq / (ms / 1e3) : 0));
        rc = vdb_reply_json(req, 200, out);
    }
    vdb_json_decref(ctx.results);
    vdb_filter_free(filter);
    vdb_free(queries);
    vdb_registry_release(handle);
    return rc;
}

/* ---- POST /v1/batch/upload ---- */

/* One multipart/form-data part by name: its bytes, borrowed from the body.
 * VDB_ENOTFOUND when the body is not multipart (or its boundary is unusable)
 * or has no such part; the caller says which field it missed. */
static int form_part(vdb_req *req, const char *name, const char **data, size_t *len)
{
    vdb_http_part part;
    const char *why;
    if (vdb_httpparse_form_part(vdb_http_header(req->http, "Content-Type"), req->http->body,
                                req->http->body_len, name, &part, &why) != VDB_HTTP_FORM_OK)
        return VDB_ENOTFOUND;
    *data = part.data;
    *len = part.len;
    return VDB_OK;
}

/* A text field from the query string, else the multipart form. */
static int form_field(vdb_req *req, const char *name, char *out, size_t size)
{
    const char *value = vdb_http_query(req->http, name), *data;
    size_t len;
    out[0] = '\0';
    if (value != NULL) {
        snprintf(out, size, "%s", value);
        return VDB_OK;
    }
    if (form_part(req, name, &data, &len) != VDB_OK)
        return VDB_ENOTFOUND;
    if (len >= size)
        return vdb_error_set(&req->err, VDB_EINVAL, "form field %s is too long", name);
    memcpy(out, data, len);
    out[len] = '\0';
    return VDB_OK;
}

/* Appends the JSON lines in text as objects to `array`. A line may be the
 * original's bare metadata object or vdb's {"id", "metadata"} form.
 * With `vectors` (JSONL uploads), each line is {"vector", "metadata"}. */
static int read_lines(vdb_req *req, const char *what, const char *text, size_t len,
                      vdb_json *metas, vdb_json *vectors)
{
    size_t lineno = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        p += n + 1;
        lineno++;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        if (n == 0)
            continue;
        vdb_json *obj = NULL;
        if (vdb_json_parse(line, n, 0, &obj, NULL) == VDB_ENOMEM)
            return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory parsing %s line %zu",
                                 what, lineno);
        if (vdb_jtype(obj) != VDB_JSON_OBJECT) {
            vdb_json_decref(obj);
            return vdb_error_set(&req->err, VDB_EINVAL, "%s line %zu is not a JSON object", what,
                                 lineno);
        }
        vdb_json *meta = vdb_json_incref(obj), *id = vdb_json_object_get(obj, "id");
        vdb_json *inner = vdb_json_object_get(obj, "metadata");
        if (vectors != NULL) {
            vdb_json *vec = vdb_json_object_get(obj, "vector");
            if (vdb_jtype(vec) != VDB_JSON_ARRAY) {
                vdb_json_decref(meta);
                vdb_json_decref(obj);
                return vdb_error_set(&req->err, VDB_EINVAL, "%s line %zu has no \"vector\" array",
                                     what, lineno);
            }
            vdb_json_array_append_new(vectors, vdb_json_incref(vec));
            vdb_json_decref(meta);
            meta = inner ? vdb_json_incref(inner) : vdb_json_null();
        } else if (vdb_json_object_size(obj) == 2 && id != NULL && inner != NULL &&
                   (vdb_jtype(inner) == VDB_JSON_OBJECT || vdb_jtype(inner) == VDB_JSON_NULL)) {
            /* vdb's metadata.jsonl form: the id goes into the metadata. */
            vdb_json_decref(meta);
            meta = vdb_jtype(inner) == VDB_JSON_OBJECT ? vdb_json_deep_copy(inner) : vdb_json_object();
            if (meta != NULL && vdb_json_object_get(meta, "id") == NULL)
                vdb_json_object_set(meta, "id", id);
        }
        vdb_json_decref(obj);
        if (meta == NULL || vdb_json_array_append_new(metas, meta) != VDB_OK)
            return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    return VDB_OK;
}

/* Reads a .npy/.npz upload into a float matrix through vecfile's parser
 * and checks every component is finite. The rows stay in the body when
 * they can (*borrowed = 1: fm->data points into `data`, not to be freed);
 * otherwise they are copied out. */
static int read_array(vdb_req *req, const char *data, size_t len, vdb_floatmatrix *fm,
                      int *borrowed)
{
    vdb_error ferr;
    vdb_vecfile *file;
    int rc = vdb_vecfile_open_buffer(data, len, "upload", &file, &ferr);
    if (rc != VDB_OK)
        return vdb_error_set(&req->err, rc == VDB_ENOMEM ? VDB_ENOMEM : VDB_EINVAL,
                             "invalid vector file (a float32 '<f4' C-order 2-D .npy, or an .npz "
                             "with key 'vectors'): %s",
                             ferr.msg);
    size_t rows = vdb_vecfile_rows(file), dim = vdb_vecfile_dim(file), total = 0, bad;
    const float *inplace = vdb_vecfile_buffer_rows(file);
    *borrowed = 0;
    if (dim == 0 || dim > req->api->config.max_dim || rows == 0 || rows > VDB_MAX_VECTORS)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "vector file shape (%zu, %zu) is out of range",
                           rows, dim);
    else if (vdb_mul_size(rows, dim, &total) != 0)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    else if (inplace != NULL)
        fm->data = (float *)inplace, *borrowed = 1;
    else if ((fm->data = vdb_malloc(total * sizeof(float))) == NULL)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    else
        rc = vdb_vecfile_read_rows(file, 0, rows, fm->data, &req->err);
    if (rc == VDB_OK && (bad = vdb_first_nonfinite(fm->data, total)) < total)
        rc = vdb_error_set(&req->err, VDB_EINVAL,
                           "vector file row %zu component %zu is not a finite number", bad / dim,
                           bad % dim);
    fm->rows = rows;
    fm->dim = (uint32_t)dim;
    vdb_vecfile_close(file);
    return rc;
}

/* Parses the upload into `batch`: vectors from the file part (or the raw
 * body) and metadata from the "metadata" part (JSON lines), validated by
 * the same code as /vectors/add. */
static int parse_upload(vdb_req *req, const char *format, add_batch *batch, vdb_json **holder)
{
    const char *data = req->http->body, *meta_text = NULL;
    size_t len = req->http->body_len, meta_len = 0;
    vdb_json *body = vdb_json_object(), *metas = vdb_json_array(), *vectors = NULL;
    vdb_floatmatrix fm;
    int borrowed = 0;
    memset(&fm, 0, sizeof(fm));
    int multipart = form_part(req, "file", &data, &len) == VDB_OK;
    int rc = body && metas ? VDB_OK : vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    if (rc == VDB_OK && !multipart) {
        const char *type = vdb_http_header(req->http, "Content-Type");
        if (type != NULL && strncasecmp(type, "multipart/", 10) == 0)
            rc = vdb_error_set(&req->err, VDB_EINVAL, "multipart form has no field 'file'");
    }
    if (rc == VDB_OK && len == 0)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "the uploaded file is empty");
    int binary = len >= 6 && (memcmp(data, "\x93NUMPY", 6) == 0 || memcmp(data, "PK\x03\x04", 4) == 0);
    if (rc == VDB_OK && format[0] && (strcmp(format, "npy") == 0 || strcmp(format, "npz") == 0) &&
        !binary)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "file_format is %s but the file is not one",
                           format);
    if (rc == VDB_OK && binary) {
        rc = read_array(req, data, len, &fm, &borrowed);
        if (rc == VDB_OK && form_part(req, "metadata", &meta_text, &meta_len) == VDB_OK)
            rc = read_lines(req, "metadata", meta_text, meta_len, metas, NULL);
    } else if (rc == VDB_OK) {
        vectors = vdb_json_array();
        rc = vectors ? read_lines(req, "file", data, len, metas, vectors)
                     : vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
        vdb_set(body, "vectors", vectors);
    }
    if (rc == VDB_OK && vdb_json_array_size(metas) > 0)
        vdb_set(body, "metadata", vdb_json_incref(metas));
    if (rc == VDB_OK)
        rc = vdb_add_batch_parse(req, body, 0, binary ? &fm : NULL, batch);
    if (batch->vectors != NULL && borrowed)
        batch->vectors_borrowed = 1; /* the body outlives a synchronous ingest */
    if (rc == VDB_OK && batch->n == 0)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "the uploaded file holds no vectors");
    if (!borrowed)
        vdb_free(fm.data);
    vdb_json_decref(metas);
    *holder = body; /* the batch's ids borrow from it until ingest_new copies them */
    return rc;
}

int vdb_h_batch_upload(vdb_req *req)
{
    char user_id[VDB_MAX_NAME_LEN + 2], model_id[VDB_MAX_NAME_LEN + 2], format[16], text[24];
    add_batch batch;
    vdb_json *holder = NULL;
    size_t chunk = BATCH_DEFAULT_CHUNK;
    int wait = 0, rc = VDB_OK;
    memset(&batch, 0, sizeof(batch));
    if ((rc = form_field(req, "user_id", user_id, sizeof(user_id))) == VDB_OK)
        rc = form_field(req, "model_id", model_id, sizeof(model_id));
    if (rc == VDB_ENOTFOUND) /* form_field's "absent": no record was written */
        rc = vdb_error_set(&req->err, VDB_EINVAL, "user_id and model_id are required");
    if (rc == VDB_OK && (rc = vdb_registry_check_name("user_id", user_id, &req->err)) == VDB_OK &&
        (rc = vdb_registry_check_name("model_id", model_id, &req->err)) == VDB_OK &&
        !vdb_req_sees_user(req, user_id))
        rc = vdb_req_not_found(req, user_id, model_id);
    if (rc == VDB_OK)
        rc = vdb_req_writable(req, user_id);
    if (rc == VDB_OK && form_field(req, "chunk_size", text, sizeof(text)) == VDB_OK) {
        char *endp;
        long long v = strtoll(text, &endp, 10);
        if (*endp != '\0' || v < 1 || v > BATCH_MAX_CHUNK)
            rc = vdb_error_set(&req->err, VDB_EINVAL, "chunk_size must be an integer in 1..%d",
                               BATCH_MAX_CHUNK);
        chunk = (size_t)v;
    }
    if (rc == VDB_OK && form_field(req, "wait", text, sizeof(text)) == VDB_OK)
        wait = strcmp(text, "true") == 0 || strcmp(text, "1") == 0;
    if (rc == VDB_OK && form_field(req, "file_format", format, sizeof(format)) != VDB_OK)
        format[0] = '\0';
    if (rc == VDB_OK)
        rc = parse_upload(req, format, &batch, &holder);
    if (rc == VDB_OK)
        rc = launch(req, "upload", user_id, model_id, &batch, chunk, !wait);
    else
        vdb_add_batch_free(&batch);
    vdb_json_decref(holder);
    return rc;
}

/* ---- progress, stream, operations ---- */

static int find_op(vdb_req *req, vdb_batch_op **out)
{
    const char *id = vdb_router_param(req->route, req->http->path);
    vdb_batch_op *op = id ? vdb_batchops_get(req->api->batchops, id) : NULL;
    if (op != NULL && !vdb_req_sees_user(req, vdb_batchops_user(op))) {
        vdb_batchops_release(op);
        op = NULL;
    }
    if (op == NULL)
        return vdb_error_set(&req->err, VDB_ENOTFOUND, "Operation not found: %.80s",
                             id ? id : "");
    *out = op;
    return VDB_OK;
}

int vdb_h_batch_progress(vdb_req *req)
{
    vdb_batch_op *op;
    int rc = find_op(req, &op);
    if (rc != VDB_OK)
        return rc;
    vdb_json *out = vdb_batchops_json(op);
    vdb_batchops_release(op);
    return vdb_reply_json(req, 200, out);
}

static atomic_int sse_streams;

typedef struct sse_state {
    vdb_api *api;
    vdb_batch_op *op;
    double started, next;
    int ended;
} sse_state;

/* One event per call: the first at once, then every SSE_INTERVAL_MS until
 * the operation is done (that last event included). Between events it
 * answers VDB_HTTP_STREAM_LATER at once, so the HTTP worker parks the
 * stream and serves its other connections (a stream never holds a
 * worker); the end of the operation or a shutdown is seen within
 * VDB_HTTP_STREAM_RETRY_MS. */
static long sse_read(void *ctx, char *buf, size_t max)
{
    sse_state *s = ctx;
    if (s->ended)
        return 0;
    double now = vdb_now_ms();
    if (now < s->next && !vdb_batchops_done(s->op) && !atomic_load(&s->api->draining))
        return VDB_HTTP_STREAM_LATER;
    s->next = now + SSE_INTERVAL_MS;
    int done = vdb_batchops_done(s->op);
    vdb_json *progress = vdb_batchops_json(s->op);
    char *text = progress ? vdb_json_dump(progress, VDB_JSON_DUMP_COMPACT) : NULL;
    vdb_json_decref(progress);
    if (text == NULL)
        return -1;
    int n = snprintf(buf, max, "data: %s\n\n", text);
    vdb_json_free_text(text);
    if (n < 0 || (size_t)n >= max)
        return -1;
    if (done || atomic_load(&s->api->draining) || now - s->started > SSE_MAX_SECONDS * 1e3)
        s->ended = 1;
    return n;
}

static void sse_free(void *ctx)
{
    sse_state *s = ctx;
    vdb_batchops_release(s->op);
    vdb_free(s);
    atomic_fetch_sub(&sse_streams, 1);
}

int vdb_h_batch_stream(vdb_req *req)
{
    vdb_batch_op *op;
    int rc = find_op(req, &op);
    if (rc != VDB_OK)
        return rc;
    if (atomic_fetch_add(&sse_streams, 1) >= SSE_MAX_STREAMS) {
        atomic_fetch_sub(&sse_streams, 1);
        vdb_batchops_release(op);
        return vdb_error_set(&req->err, VDB_EBUSY,
                             "%d progress streams are open (the limit); "
                             "poll /v1/batch/progress instead", SSE_MAX_STREAMS);
    }
    sse_state *s = vdb_calloc(1, sizeof(*s));
    if (s == NULL) {
        atomic_fetch_sub(&sse_streams, 1);
        vdb_batchops_release(op);
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    *s = (sse_state){req->api, op, vdb_now_ms(), 0, 0};
    req->resp->status = 200;
    req->resp->content_type = "text/event-stream";
    req->resp->reader = sse_read;
    req->resp->reader_free = sse_free;
    req->resp->reader_ctx = s;
    vdb_http_response_header(req->resp, "Cache-Control", "no-cache");
    vdb_http_response_header(req->resp, "X-Accel-Buffering", "no");
    return VDB_OK;
}

typedef struct list_ctx {
    vdb_req *req;
    vdb_json *list;
    size_t active;
} list_ctx;

static void list_one(void *ctx, vdb_batch_op *op)
{
    list_ctx *c = ctx;
    if (!vdb_req_sees_user(c->req, vdb_batchops_user(op)))
        return;
    c->active += !vdb_batchops_done(op);
    vdb_json_array_append_new(c->list, vdb_batchops_json(op));
}

int vdb_h_batch_operations(vdb_req *req)
{
    list_ctx c = {req, vdb_json_array(), 0};
    vdb_batchops_each(req->api->batchops, list_one, &c);
    vdb_json *out = vdb_json_object();
    vdb_set(out, "total_operations", vdb_json_int((long long)vdb_json_array_size(c.list)));
    vdb_set(out, "active_operations", vdb_json_int((long long)c.active));
    vdb_set(out, "operations", c.list);
    return vdb_reply_json(req, 200, out);
}

/* ---- POST /v1/batch/benchmark ---- */

/* Adds `n` generated rows in chunks of `chunk` to a new scratch store
 * (the registry's, as /performance/benchmark's: never registered, never
 * listed), with the server's fsync policy (so the figure is the durable
 * ingest rate), and removes it. */
static int bench_one(vdb_req *req, const float *data, size_t n, uint32_t dim, size_t chunk,
                     vdb_json **out)
{
    char dir[4200];
    vdb_store_config config;
    vdb_api_store_config(req->api, dim, &config);
    vdb_store_options options;
    vdb_store_options_default(&options);
    options.fsync = strcmp(req->api->config.fsync, "off") == 0        ? VDB_FSYNC_OFF
                    : strcmp(req->api->config.fsync, "interval") == 0 ? VDB_FSYNC_INTERVAL
                                                                      : VDB_FSYNC_ALWAYS;
    vdb_store *store;
    int rc = vdb_registry_scratch_open(req->api->registry, &config, &options, &store, dir,
                                       sizeof(dir), &req->err);
    if (rc != VDB_OK)
        return rc;
    double t0 = vdb_now_ms();
    for (size_t at = 0; rc == VDB_OK && at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        rc = vdb_store_add(store, m, data + at * dim, NULL, NULL, NULL, &req->err);
    }
    double ms = vdb_now_ms() - t0;
    vdb_registry_scratch_drop(store, dir);
    if (rc != VDB_OK)
        return rc;
    *out = vdb_json_object();
    vdb_set(*out, "batch_size", vdb_json_int((long long)chunk));
    vdb_set(*out, "vectors", vdb_json_int((long long)n));
    vdb_set(*out, "batches", vdb_json_int((long long)nbatches(n, chunk)));
    vdb_set(*out, "total_time_ms", vdb_json_real(ms));
    vdb_set(*out, "throughput_items_per_sec", vdb_json_real(ms > 0 ? (double)n / (ms / 1e3) : 0));
    vdb_set(*out, "avg_batch_time_ms", vdb_json_real(ms / (double)nbatches(n, chunk)));
    return VDB_OK;
}

int vdb_h_batch_benchmark(vdb_req *req)
{
    vdb_json *body = NULL;
    long long n = 10000, dim = 384;
    size_t sizes[8] = {100, 1000, 5000}, nsizes = 3;
    int rc = vdb_req_body(req, 0, &body);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "num_vectors", 10000, 1, 200000, &n);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "dimension", 384, 1, req->api->config.max_dim, &dim);
    vdb_json *list = body ? vdb_json_object_get(body, "batch_sizes") : NULL;
    if (rc == VDB_OK && list != NULL) {
        nsizes = vdb_json_array_size(list);
        if (vdb_jtype(list) != VDB_JSON_ARRAY || nsizes == 0 || nsizes > 8)
            rc = vdb_error_set(&req->err, VDB_EINVAL, "batch_sizes must be 1..8 integers");
        for (size_t i = 0; rc == VDB_OK && i < nsizes; i++) {
            vdb_json *v = vdb_json_array_get(list, i);
            if (vdb_jtype(v) != VDB_JSON_INT || vdb_json_int_value(v) < 1 ||
                vdb_json_int_value(v) > BATCH_MAX_CHUNK)
                rc = vdb_error_set(&req->err, VDB_EINVAL, "batch_sizes[%zu] must be in 1..%d", i,
                                   BATCH_MAX_CHUNK);
            else
                sizes[i] = (size_t)vdb_json_int_value(v);
        }
    }
    size_t total = (size_t)n * (size_t)dim;
    if (rc == VDB_OK && total > (64u << 20))
        rc = vdb_error_set(&req->err, VDB_EINVAL, "num_vectors x dimension is over 64M floats");
    float *data = rc == VDB_OK ? vdb_malloc(total * sizeof(float)) : NULL;
    if (rc == VDB_OK && data == NULL)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    vdb_rng rng;
    vdb_rng_seed(&rng, (uint64_t)time(NULL));
    for (size_t i = 0; rc == VDB_OK && i < total; i++)
        data[i] = (float)vdb_rng_gauss(&rng);
    vdb_json *results = vdb_json_array();
    double best = 0;
    for (size_t i = 0; rc == VDB_OK && i < nsizes; i++) {
        vdb_json *one = NULL;
        rc = bench_one(req, data, (size_t)n, (uint32_t)dim, sizes[i], &one);
        if (rc == VDB_OK) {
            double rate = vdb_json_number_value(vdb_json_object_get(one, "throughput_items_per_sec"));
            best = rate > best ? rate : best;
            vdb_json_array_append_new(results, one);
        }
    }
    vdb_free(data);
    if (rc != VDB_OK) {
        vdb_json_decref(results);
        return rc;
    }
    vdb_json *out = vdb_json_object();
    vdb_set(out, "success", vdb_json_bool(1));
    vdb_set(out, "num_vectors", vdb_json_int(n));
    vdb_set(out, "dimension", vdb_json_int(dim));
    vdb_set(out, "durability", vdb_json_string("scratch store with the server's fsync policy, "
                                               "one WAL record per batch"));
    vdb_set(out, "results", results);
    vdb_set(out, "best_throughput_items_per_sec", vdb_json_real(best));
    return vdb_reply_json(req, 200, out);
}
