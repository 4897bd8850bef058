/* GET /admin/export_zip and POST /admin/import_zip.
 *
 * Export checkpoints the store (so vectors.npz and metadata.jsonl hold
 * every acknowledged write), then zips its snapshot files at the archive
 * root, as the original did, plus store.json and a manifest.json with the
 * SHA-256 of every member. Without model_id, every store of the user goes
 * in, one folder per model. The archive is written to a temporary file
 * that is unlinked at once and streamed from its descriptor.
 *
 * Import accepts the original's two-member archives and vdb's own, as a
 * multipart field `file` or a raw application/zip body. The archive is
 * hostile input: zipio checks names, counts, sizes and ratios; the npz and
 * metadata are parsed and cross-checked (rows == lines, manifest hashes)
 * completely before an existing store is replaced, and a failed import
 * removes the half-built store, so a bad archive never changes anything. */
#include "api_int.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "../backup/export.h"
#include "../backup/zipio.h"
#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/limits.h"
#include "../core/npy.h"
#include "../core/rng.h"
#include "../core/sha256.h"
#include "httpparse.h"

#define IMPORT_BATCH 10000

static vdb_zip_limits archive_limits(const vdb_api *api, int subdirs)
{
    vdb_zip_limits l;
    l.max_entries = 64;
    l.max_entry_bytes = 4ull << 30;
    l.max_total_bytes = 8ull << 30;
    l.max_ratio = 200;
    l.allow_subdirs = subdirs;
    (void)api;
    return l;
}

/* ---- export ---- */

typedef struct export_job {
    vdb_export *ex;
    vdb_store_handle **handles; /* one per exported store, held until sent */
    size_t nhandles;
} export_job;

static int export_store(vdb_req *req, export_job *job, vdb_store_handle *handle, const char *prefix)
{
    return vdb_export_add_store(job->ex, vdb_registry_store(handle), vdb_registry_dir(handle),
                                vdb_registry_model(handle), prefix, &req->err);
}

/* Every model of the user, however many: a backup that silently leaves
 * stores out is worse than one that fails. */
typedef struct user_stores {
    char **models;
    size_t n, cap;
    int failed;
} user_stores;

static int collect_model(void *ctx, const char *user_id, const char *model_id)
{
    user_stores *u = ctx;
    (void)user_id;
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 64;
        char **grown = vdb_realloc(u->models, cap * sizeof(*grown));
        if (grown == NULL) {
            u->failed = 1;
            return 1;
        }
        u->models = grown;
        u->cap = cap;
    }
    if ((u->models[u->n] = vdb_strdup(model_id)) == NULL) {
        u->failed = 1;
        return 1;
    }
    u->n++;
    return 0;
}

static void user_stores_free(user_stores *u)
{
    for (size_t i = 0; i < u->n; i++)
        vdb_free(u->models[i]);
    vdb_free(u->models);
}

static int gather_user(vdb_req *req, export_job *job, const char *user_id, user_stores *u)
{
    int rc = VDB_OK;
    if (vdb_req_sees_user(req, user_id) &&
        (rc = vdb_registry_list(req->api->registry, user_id, collect_model, u, &req->err)) !=
            VDB_OK)
        return rc;
    if (u->failed)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory listing the stores of %s",
                             user_id);
    if (u->n == 0)
        return vdb_error_set(&req->err, VDB_ENOTFOUND, "no stores for user %s", user_id);
    if ((job->handles = vdb_calloc(u->n, sizeof(*job->handles))) == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    /* A store listed but gone (deleted meanwhile) or unopenable fails the
     * whole export, naming it, rather than being skipped. */
    for (size_t i = 0; rc == VDB_OK && i < u->n; i++) {
        rc = vdb_registry_acquire(req->api->registry, user_id, u->models[i], &job->handles[i],
                                  &req->err);
        if (rc == VDB_OK) {
            job->nhandles = i + 1;
            rc = export_store(req, job, job->handles[i], u->models[i]);
        }
    }
    return rc;
}

static int gather(vdb_req *req, export_job *job, const char *user_id, const char *model_id)
{
    int rc;
    if (model_id != NULL) {
        if ((job->handles = vdb_calloc(1, sizeof(*job->handles))) == NULL)
            return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
        rc = vdb_req_store(req, &job->handles[0]);
        if (rc == VDB_OK) {
            job->nhandles = 1;
            rc = export_store(req, job, job->handles[0], "");
        }
        return rc;
    }
    if ((rc = vdb_registry_check_name("user_id", user_id, &req->err)) != VDB_OK)
        return rc;
    user_stores u = {NULL, 0, 0, 0};
    rc = gather_user(req, job, user_id, &u);
    user_stores_free(&u);
    return rc;
}

static int send_zip(vdb_req *req, export_job *job, const char *user_id, const char *model_id)
{
    char path[4300], uuid[VDB_UUID_LEN], header[256];
    vdb_rng_uuid(uuid);
    snprintf(path, sizeof(path), "%s/.export-%s.zip", vdb_registry_data_dir(req->api->registry), uuid);
    int rc = vdb_export_write(job->ex, path, &req->err);
    if (rc != VDB_OK)
        return rc;
    int fd = vdb_fsx_open(path, O_RDONLY, 0, NULL);
    vdb_fsx_unlink(path, NULL); /* the open descriptor keeps the data until it is sent */
    uint64_t size = 0;
    if (fd < 0 || vdb_fsx_size(fd, &size, path, NULL) != VDB_OK) {
        vdb_fsx_close(fd, path, NULL);
        return vdb_error_set(&req->err, VDB_EIO, "cannot reopen the export");
    }
    req->resp->status = 200;
    req->resp->content_type = "application/zip";
    req->resp->body_fd = fd;
    req->resp->fd_size = size;
    snprintf(header, sizeof(header), "attachment; filename=\"store_export_%s_%s.zip\"", user_id,
             model_id ? model_id : "all");
    vdb_http_response_header(req->resp, "Content-Disposition", header);
    if (model_id != NULL) {
        /* The snapshot is pinned until the job is freed, so this is exactly
         * the last write the archive holds: a mover catches up from here
         * with /admin/wal_tail (h_wal.c, docs/scale-out.md). */
        uint64_t lsn = vdb_store_snapshot_lsn(vdb_registry_store(job->handles[0]));
        snprintf(header, sizeof(header), "%llu", (unsigned long long)lsn);
        vdb_http_response_header(req->resp, "X-Vdb-Wal-Lsn", header);
    }
    return VDB_OK;
}

int vdb_h_admin_export_zip(vdb_req *req)
{
    const char *user_id, *model_id = NULL;
    export_job *job = vdb_calloc(1, sizeof(*job));
    if (job == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    int rc = vdb_req_str(req, "user_id", 1, &user_id);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "model_id", 0, &model_id);
    if (rc == VDB_OK)
        rc = vdb_export_new(user_id, &job->ex, &req->err);
    if (rc == VDB_OK)
        rc = gather(req, job, user_id, model_id);
    if (rc == VDB_OK)
        rc = send_zip(req, job, user_id, model_id);
    vdb_export_free(job->ex); /* unpins the stores: before their handles go */
    for (size_t i = 0; i < job->nhandles; i++)
        vdb_registry_release(job->handles[i]);
    vdb_free(job->handles);
    vdb_free(job);
    return rc;
}

/* ---- import ---- */

/* The uploaded archive: the multipart part named "file", or the raw body. */
static int upload_bytes(vdb_req *req, const char **data, size_t *len)
{
    vdb_http_part part;
    const char *why, *ct;
    size_t ct_len;
    *data = req->http->body;
    *len = req->http->body_len;
    switch (vdb_httpparse_form_part(vdb_http_header(req->http, "Content-Type"), req->http->body,
                                    req->http->body_len, "file", &part, &why)) {
    case VDB_HTTP_FORM_OK:
        ct = vdb_httpparse_part_field(&part, "Content-Type", &ct_len);
        if (ct != NULL && !(ct_len >= 15 && strncasecmp(ct, "application/zip", 15) == 0) &&
            !(ct_len >= 17 && strncasecmp(ct, "application/x-zip", 17) == 0) &&
            !(ct_len >= 24 && strncasecmp(ct, "application/octet-stream", 24) == 0))
            return vdb_error_set(&req->err, VDB_EPARSE,
                                 "Invalid file type: %.*s. Only ZIP files allowed",
                                 (int)(ct_len < 40 ? ct_len : 40), ct);
        *data = part.data;
        *len = part.len;
        return VDB_OK;
    case VDB_HTTP_FORM_BAD:
        return vdb_error_set(&req->err, VDB_EPARSE, "%s", why);
    case VDB_HTTP_FORM_NO_PART:
        return vdb_error_set(&req->err, VDB_EINVAL, "multipart form has no field 'file'");
    default: /* not multipart: the body is the archive */
        break;
    }
    if (*len == 0)
        return vdb_error_set(&req->err, VDB_EPARSE, "Uploaded ZIP file is empty.");
    return VDB_OK;
}

typedef struct import_data {
    float *vectors;
    size_t rows;
    uint32_t dim;
    char **ids;
    char **metas;
    size_t nlines;
    vdb_metric metric;
    vdb_index_kind index;
} import_data;

static void import_data_free(import_data *d)
{
    for (size_t i = 0; i < d->nlines; i++) {
        vdb_free(d->ids ? d->ids[i] : NULL);
        vdb_free(d->metas ? d->metas[i] : NULL);
    }
    vdb_free(d->ids);
    vdb_free(d->metas);
    vdb_free(d->vectors);
}

/* Parses an .npy (versions 1-3, core/npy) holding a C-order 2-D '<f4' or
 * '<f8' array. */
static int parse_npy(vdb_req *req, const char *buf, size_t len, import_data *d)
{
    vdb_npy_info info;
    vdb_error perr;
    if (vdb_npy_parse((const unsigned char *)buf, len, &info, &perr) != VDB_OK)
        return vdb_error_set(&req->err, VDB_EINVAL, "vectors.npy: %s", perr.msg);
    int f8 = info.dtype == VDB_NPY_F8;
    if (info.dtype == VDB_NPY_I4)
        return vdb_error_set(&req->err, VDB_EINVAL, "vectors.npy must hold <f4 or <f8 values");
    if (info.ndim != 2)
        return vdb_error_set(&req->err, VDB_EINVAL, "vectors.npy must be a 2-D (N, D) array");
    unsigned long long rows = info.shape[0], cols = info.shape[1];
    size_t off = info.data_off;
    if (cols == 0 || cols > req->api->config.max_dim || rows > VDB_MAX_VECTORS)
        return vdb_error_set(&req->err, VDB_EINVAL, "vectors.npy shape (%llu, %llu) is out of range",
                             rows, cols);
    size_t item = info.item_size, data = len - off;
    if ((unsigned long long)data != rows * cols * item)
        return vdb_error_set(&req->err, VDB_EINVAL, "vectors.npy holds %zu data bytes, expected %llu",
                             data, rows * cols * item);
    d->rows = (size_t)rows;
    d->dim = (uint32_t)cols;
    d->vectors = vdb_malloc(rows * cols * sizeof(float) + 1);
    if (d->vectors == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    const char *src = buf + off;
    for (size_t i = 0; i < rows * cols; i++) {
        if (f8) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            d->vectors[i] = (float)v;
        } else {
            memcpy(&d->vectors[i], src + 4 * i, 4);
        }
        if (!isfinite(d->vectors[i]))
            return vdb_error_set(&req->err, VDB_EINVAL,
                                 "vectors.npy row %zu component %zu is not a finite float32",
                                 i / (size_t)cols, i % (size_t)cols);
    }
    return VDB_OK;
}

static int read_vectors(vdb_req *req, const char *npz, size_t len, import_data *d)
{
    vdb_zip_limits limits = archive_limits(req->api, 0);
    vdb_error zerr;
    vdb_zipio *zip;
    int opened = vdb_zipio_open_buffer(npz, len, &limits, &zip, &zerr);
    if (opened != VDB_OK)
        return vdb_error_set(&req->err, opened == VDB_ETOOBIG ? VDB_ETOOBIG : VDB_EINVAL,
                             "vectors.npz: %s", zerr.msg);
    char *npy = NULL;
    size_t npy_len = 0;
    int rc = vdb_zipio_read(zip, "vectors.npy", &npy, &npy_len, &zerr);
    if (rc != VDB_OK)
        rc = vdb_error_set(&req->err, rc == VDB_ETOOBIG ? VDB_ETOOBIG : VDB_EINVAL,
                           "vectors.npz: %s (it must hold the key 'vectors')", zerr.msg);
    else
        rc = parse_npy(req, npy, npy_len, d);
    vdb_free(npy);
    vdb_zipio_close(zip);
    return rc;
}

/* One metadata line: vdb's {"id", "metadata"} form or the original's bare
 * metadata object (its "id" member, when a string, is the id). */
static int parse_meta_line(vdb_req *req, const char *line, size_t len, size_t lineno, import_data *d)
{
    vdb_json *obj = NULL;
    int rc = vdb_json_parse(line, len, 0, &obj, NULL);
    if (rc == VDB_ENOMEM)
        return vdb_error_set(&req->err, rc, "out of memory parsing metadata.jsonl line %zu", lineno);
    if (obj == NULL || vdb_jtype(obj) != VDB_JSON_OBJECT) {
        vdb_json_decref(obj);
        return vdb_error_set(&req->err, VDB_EINVAL, "Invalid JSON in metadata.jsonl at line %zu",
                             lineno);
    }
    vdb_json *meta = obj, *id = vdb_json_object_get(obj, "id");
    vdb_json *inner = vdb_json_object_get(obj, "metadata");
    if (vdb_json_object_size(obj) == 2 && vdb_jtype(id) == VDB_JSON_STRING && inner != NULL &&
        (vdb_jtype(inner) == VDB_JSON_OBJECT || vdb_jtype(inner) == VDB_JSON_NULL))
        meta = inner;
    size_t i = d->nlines;
    /* The store's own limits, checked here so that an overwrite is refused
     * before the existing store is replaced. */
    size_t id_len = vdb_json_string_length(id);
    if (vdb_jtype(id) == VDB_JSON_STRING && (id_len == 0 || id_len > VDB_MAX_ID_LEN)) {
        vdb_json_decref(obj);
        return vdb_error_set(&req->err, VDB_EINVAL, "metadata.jsonl line %zu: id must be 1..%u bytes",
                             lineno, VDB_MAX_ID_LEN);
    }
    if (vdb_jtype(id) == VDB_JSON_STRING)
        d->ids[i] = vdb_strdup(vdb_json_string_value(id));
    if (vdb_jtype(meta) == VDB_JSON_OBJECT) {
        char *text = vdb_json_dump(meta, VDB_JSON_DUMP_COMPACT);
        d->metas[i] = text ? vdb_strdup(text) : NULL;
        vdb_json_free_text(text);
        if (d->metas[i] != NULL && strlen(d->metas[i]) > VDB_MAX_META_BYTES) {
            d->nlines++;
            vdb_json_decref(obj);
            return vdb_error_set(&req->err, VDB_EINVAL, "metadata.jsonl line %zu is over %u bytes",
                                 lineno, VDB_MAX_META_BYTES);
        }
    }
    vdb_json_decref(obj);
    d->nlines++;
    return VDB_OK;
}

static int read_metadata(vdb_req *req, const char *text, size_t len, import_data *d)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    lines += len > 0 && text[len - 1] != '\n';
    d->ids = vdb_calloc(lines + 1, sizeof(char *));
    d->metas = vdb_calloc(lines + 1, sizeof(char *));
    if (d->ids == NULL || d->metas == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    size_t lineno = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        size_t blank = 0;
        while (blank < n && (p[blank] == ' ' || p[blank] == '\r' || p[blank] == '\t'))
            blank++;
        if (blank < n) {
            int rc = parse_meta_line(req, p, n, lineno, d);
            if (rc != VDB_OK)
                return rc;
        }
        p += n + 1;
    }
    return VDB_OK;
}

/* Member `name` parsed as JSON into *doc: NULL when it is missing or not
 * JSON (the callers judge what that means). Only running out of memory is
 * an error (VDB_ENOMEM, in req->err). */
static int read_json_member(vdb_req *req, vdb_zipio *zip, const char *name, vdb_json **doc)
{
    char *text = NULL;
    size_t len = 0;
    vdb_error zerr;
    *doc = NULL;
    int rc = vdb_zipio_read(zip, name, &text, &len, &zerr);
    if (rc == VDB_OK)
        rc = vdb_json_parse(text, len, 0, doc, &zerr);
    vdb_free(text);
    return rc == VDB_ENOMEM ? vdb_error_set(&req->err, rc, "%s", zerr.msg) : VDB_OK;
}

/* Checks manifest.json's SHA-256 of each root member it lists. */
static int verify_manifest(vdb_req *req, vdb_zipio *zip)
{
    char *member = NULL, hex[65];
    size_t mlen = 0;
    vdb_error zerr;
    vdb_json *doc;
    if (!vdb_zipio_has(zip, "manifest.json"))
        return VDB_OK;
    int rc = read_json_member(req, zip, "manifest.json", &doc);
    if (rc != VDB_OK)
        return rc;
    vdb_json *store = vdb_json_array_get(vdb_json_object_get(doc, "stores"), 0);
    vdb_json *files = vdb_json_object_get(store, "files");
    if (doc == NULL || vdb_json_array_size(vdb_json_object_get(doc, "stores")) != 1 ||
        vdb_jtype(files) != VDB_JSON_OBJECT) {
        vdb_json_decref(doc);
        return vdb_error_set(&req->err, VDB_EINVAL,
                             "manifest.json is unreadable or describes more than one store");
    }
    rc = VDB_OK;
    for (void *it = vdb_json_object_iter(files); it && rc == VDB_OK; it = vdb_json_object_next(files, it)) {
        const char *name = vdb_json_iter_key(it);
        const char *want = vdb_json_string_value(vdb_json_object_get(vdb_json_iter_value(it), "sha256"));
        if (vdb_zipio_read(zip, name, &member, &mlen, &zerr) != VDB_OK || want == NULL) {
            rc = vdb_error_set(&req->err, VDB_EINVAL, "manifest lists %s, which is missing", name);
            break;
        }
        vdb_sha256_hex(member, mlen, hex);
        vdb_free(member);
        member = NULL;
        if (strcmp(hex, want) != 0)
            rc = vdb_error_set(&req->err, VDB_EINVAL, "%s does not match its SHA-256 in the manifest",
                               name);
    }
    vdb_json_decref(doc);
    return rc;
}

/* The metric from store.json; cosine when the archive has none or it is
 * unreadable (archives from other tools carry no store.json). Running out
 * of memory is VDB_ENOMEM rather than a silent cosine. */
static int read_store_json(vdb_req *req, vdb_zipio *zip, import_data *d)
{
    vdb_json *doc;
    d->metric = VDB_METRIC_COSINE;
    int rc = read_json_member(req, zip, "store.json", &doc);
    if (rc != VDB_OK)
        return rc;
    const char *metric = vdb_json_string_value(vdb_json_object_get(doc, "metric"));
    int parsed = metric ? vdb_metric_parse(metric) : -1;
    if (parsed >= 0)
        d->metric = (vdb_metric)parsed;
    vdb_json_decref(doc);
    return VDB_OK;
}

static int read_archive(vdb_req *req, const char *data, size_t len, import_data *d)
{
    vdb_zip_limits limits = archive_limits(req->api, 0);
    vdb_error zerr;
    char *npz = NULL, *meta = NULL;
    size_t npz_len = 0, meta_len = 0;
    vdb_zipio *zip;
    int rc = vdb_zipio_open_buffer(data, len, &limits, &zip, &zerr);
    if (rc != VDB_OK) {
        if (rc == VDB_EPARSE)
            req->status_override = 400;
        return vdb_error_set(&req->err, rc == VDB_ETOOBIG ? VDB_ETOOBIG : VDB_EINVAL, "%s",
                             rc == VDB_EPARSE ? "Invalid ZIP file format." : zerr.msg);
    }
    if (!vdb_zipio_has(zip, "vectors.npz") || !vdb_zipio_has(zip, "metadata.jsonl"))
        rc = vdb_error_set(&req->err, VDB_EINVAL,
                           "ZIP missing files: it must hold vectors.npz and metadata.jsonl at its root");
    if (rc == VDB_OK)
        rc = verify_manifest(req, zip);
    if (rc == VDB_OK && (rc = vdb_zipio_read(zip, "vectors.npz", &npz, &npz_len, &zerr)) != VDB_OK)
        rc = vdb_error_set(&req->err, rc == VDB_ETOOBIG ? rc : VDB_EINVAL, "%s", zerr.msg);
    if (rc == VDB_OK && (rc = vdb_zipio_read(zip, "metadata.jsonl", &meta, &meta_len, &zerr)) != VDB_OK)
        rc = vdb_error_set(&req->err, rc == VDB_ETOOBIG ? rc : VDB_EINVAL, "%s", zerr.msg);
    if (rc == VDB_OK)
        rc = read_vectors(req, npz, npz_len, d);
    if (rc == VDB_OK)
        rc = read_metadata(req, meta, meta_len, d);
    if (rc == VDB_OK && d->rows != d->nlines)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "Data inconsistency: %zu vectors but %zu metadata entries",
                           d->rows, d->nlines);
    if (rc == VDB_OK)
        rc = read_store_json(req, zip, d);
    vdb_free(npz);
    vdb_free(meta);
    vdb_zipio_close(zip);
    return rc;
}

static int load_rows(vdb_req *req, vdb_store *store, const import_data *d)
{
    int rc = VDB_OK;
    for (size_t at = 0; rc == VDB_OK && at < d->rows; at += IMPORT_BATCH) {
        size_t n = d->rows - at < IMPORT_BATCH ? d->rows - at : IMPORT_BATCH;
        rc = vdb_store_add(store, n, d->vectors + at * d->dim, (const char *const *)d->ids + at,
                           (const char *const *)d->metas + at, NULL, &req->err);
    }
    return rc;
}

int vdb_h_admin_import_zip(vdb_req *req)
{
    const char *user_id, *model_id, *data;
    size_t len;
    int overwrite = 0;
    import_data d;
    vdb_store_handle *handle = NULL;
    memset(&d, 0, sizeof(d));
    int rc = vdb_req_names(req, &user_id, &model_id);
    if (rc == VDB_OK)
        rc = vdb_req_bool(req, "overwrite", 0, &overwrite);
    if (rc == VDB_OK)
        rc = upload_bytes(req, &data, &len);
    if (rc == VDB_OK && len == 0)
        rc = vdb_error_set(&req->err, VDB_EPARSE, "Uploaded ZIP file is empty.");
    if (rc == VDB_OK)
        rc = read_archive(req, data, len, &d);
    if (rc == VDB_OK) {
        /* create refuses an existing store in the same step that would
         * create it, and replace swaps it in one step: no window in which
         * a concurrent import or create sees a state that never was. */
        vdb_store_config config;
        vdb_store_config_default(&config);
        config.dim = d.dim;
        config.metric = d.metric;
        config.index = req->api->config.enable_hnsw ? VDB_INDEX_AUTO : VDB_INDEX_FLAT;
        config.hnsw_threshold = req->api->config.hnsw_threshold;
        rc = overwrite ? vdb_registry_replace(req->api->registry, user_id, model_id, &config,
                                              &handle, &req->err)
                       : vdb_registry_create(req->api->registry, user_id, model_id, &config,
                                             &handle, &req->err);
        if (rc == VDB_EEXIST)
            rc = vdb_error_set(&req->err, VDB_EEXIST,
                               "Store already exists. Set overwrite=true to replace.");
    }
    if (rc == VDB_OK && (rc = load_rows(req, vdb_registry_store(handle), &d)) != VDB_OK) {
        vdb_registry_release(handle);
        handle = NULL;
        vdb_error keep_err = req->err;
        vdb_registry_delete(req->api->registry, user_id, model_id, NULL);
        req->err = keep_err;
    }
    if (rc == VDB_OK) {
        vdb_json *out = vdb_json_object();
        vdb_set(out, "status", vdb_json_string("imported"));
        vdb_set(out, "user_id", vdb_json_string(user_id));
        vdb_set(out, "model_id", vdb_json_string(model_id));
        vdb_set(out, "count", vdb_json_int((long long)vdb_store_count(vdb_registry_store(handle))));
        vdb_set(out, "dimension", vdb_json_int(d.dim));
        vdb_set(out, "metric", vdb_json_string(vdb_metric_name(d.metric)));
        rc = vdb_reply_json(req, 200, out);
    }
    vdb_registry_release(handle);
    import_data_free(&d);
    return rc;
}
