/* Request field helpers: the JSON body, typed fields from the query string
 * or the body, store names with the tenant check, and float matrices.
 * Every failure names the field (FastAPI-style messages), and happens
 * before any store is touched. */
#include "api_int.h"
#include "freeze.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/alloc.h"
#include "../core/limits.h"
#include "floatparse.h"

static int content_type_ok(const char *type)
{
    if (type == NULL)
        return 1; /* lenient: clients that send JSON without a type still work */
    while (*type == ' ')
        type++;
    if (strncasecmp(type, "application/json", 16) == 0)
        return 1;
    const char *semi = strchr(type, ';');
    size_t n = semi ? (size_t)(semi - type) : strlen(type);
    return n >= 5 && strncasecmp(type + n - 5, "+json", 5) == 0;
}

/* A body the JSON parser refused with `rc`: 413 when its parse tree would
 * pass the per-request memory bound (VDB_MAX_JSON_PARSE_BYTES), else 400. */
static int parse_failed(vdb_req *req, const char *text, size_t len, int rc, const vdb_error *perr)
{
    if (rc == VDB_ENOMEM)
        return vdb_error_set(&req->err, rc, "%s", perr->msg);
    if (rc == VDB_ETOOBIG && vdb_json_parse_cost(text, len) > VDB_MAX_JSON_PARSE_BYTES) {
        req->status_override = 413;
        return vdb_error_set(&req->err, VDB_ETOOBIG, "request body too large to parse: %s", perr->msg);
    }
    req->status_override = 400;
    return vdb_error_set(&req->err, VDB_EPARSE, "malformed JSON body: %s", perr->msg);
}

int vdb_req_body(vdb_req *req, int required, vdb_json **out)
{
    *out = NULL;
    if (req->body_parsed) {
        *out = req->body;
        if (req->body == NULL && required)
            return vdb_error_set(&req->err, VDB_EINVAL, "request body required (a JSON object)");
        return VDB_OK;
    }
    req->body_parsed = 1;
    const char *text = req->http->body;
    size_t len = req->http->body_len;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
        i++;
    if (i == len) {
        if (required)
            return vdb_error_set(&req->err, VDB_EINVAL, "request body required (a JSON object)");
        return VDB_OK;
    }
    if (!content_type_ok(vdb_http_header(req->http, "Content-Type"))) {
        req->status_override = 415;
        return vdb_error_set(&req->err, VDB_EUNSUPPORTED,
                             "Content-Type must be application/json, not %s",
                             vdb_http_header(req->http, "Content-Type"));
    }
    vdb_error perr;
    vdb_error_clear(&perr);
    vdb_json *body = NULL;
    int rc = vdb_json_parse(text, len, VDB_MAX_JSON_DEPTH, &body, &perr);
    if (rc != VDB_OK)
        return parse_failed(req, text, len, rc, &perr);
    if (vdb_jtype(body) != VDB_JSON_OBJECT) {
        vdb_json_decref(body);
        return vdb_error_set(&req->err, VDB_EINVAL, "request body must be a JSON object");
    }
    req->body = body;
    *out = body;
    return VDB_OK;
}

/* Fast path for a body whose big member `key` is a float matrix (see
 * floatparse.h): parses it directly and the rest of the body through the
 * JSON adapter (which then serves vdb_req_str & co). VDB_ENOTFOUND means
 * "not a matrix body: use vdb_req_body + vdb_req_matrix instead" (only
 * vdb_req_body_or_matrix below sees that). */
static int vdb_req_body_matrix(vdb_req *req, const char *key, int nested, size_t max_rows,
                        vdb_floatmatrix *matrix, vdb_json **body)
{
    *body = NULL;
    if (req->body_parsed || req->http->body_len == 0)
        return VDB_ENOTFOUND;
    if (!content_type_ok(vdb_http_header(req->http, "Content-Type")))
        return VDB_ENOTFOUND; /* vdb_req_body answers 415 */
    int rc = vdb_floatparse_member(req->http->body, req->http->body_len, key, nested, max_rows,
                                   VDB_MAX_DIM, matrix, &req->err);
    if (rc == VDB_ENOTFOUND)
        return rc;
    if (rc == VDB_EPARSE)
        req->status_override = 400;
    if (rc != VDB_OK)
        return rc;
    vdb_error perr;
    vdb_error_clear(&perr);
    req->body_parsed = 1;
    rc = vdb_json_parse(matrix->rest, matrix->rest_len, VDB_MAX_JSON_DEPTH, &req->body, &perr);
    if (rc != VDB_OK) {
        rc = parse_failed(req, matrix->rest, matrix->rest_len, rc, &perr);
        vdb_floatmatrix_free(matrix);
        return rc;
    }
    if (vdb_jtype(req->body) != VDB_JSON_OBJECT) {
        vdb_floatmatrix_free(matrix);
        return vdb_error_set(&req->err, VDB_EINVAL, "request body must be a JSON object");
    }
    *body = req->body;
    return VDB_OK;
}

int vdb_req_body_or_matrix(vdb_req *req, const char *key, int nested, size_t max_rows,
                           vdb_floatmatrix *matrix, int *have_matrix, vdb_json **body)
{
    int rc = vdb_req_body_matrix(req, key, nested, max_rows, matrix, body);
    *have_matrix = rc == VDB_OK;
    if (rc == VDB_ENOTFOUND)
        rc = vdb_req_body(req, 1, body);
    return rc;
}

/* The body member `name`, or NULL (no body, not an object, or absent). A
 * malformed body is reported by the caller's own vdb_req_body call. */
static vdb_json *body_field(vdb_req *req, const char *name, int *rc)
{
    vdb_json *body = NULL;
    *rc = VDB_OK;
    /* Fields are only read from JSON bodies (an upload's bytes are not). */
    if (req->http->body_len == 0 || !content_type_ok(vdb_http_header(req->http, "Content-Type")))
        return NULL;
    *rc = vdb_req_body(req, 0, &body);
    return body ? vdb_json_object_get(body, name) : NULL;
}

/* A scalar field given as JSON null: refused rather than read as "use the
 * default", so `"dimension": null` cannot silently create a 384-d store.
 * Only fields whose schema says nullable (filter_metadata, metadata, ids)
 * take null, and they do not come through these readers. */
static int null_field(vdb_req *req, const char *name)
{
    return vdb_error_set(&req->err, VDB_EINVAL,
                         "%s must not be null (omit it to use the default)", name);
}

int vdb_req_str(vdb_req *req, const char *name, int required, const char **out)
{
    int rc;
    *out = vdb_http_query(req->http, name);
    if (*out != NULL)
        return VDB_OK;
    vdb_json *value = body_field(req, name, &rc);
    if (rc != VDB_OK)
        return rc;
    if (value != NULL && vdb_jtype(value) == VDB_JSON_NULL)
        return null_field(req, name);
    if (value != NULL) {
        if (vdb_jtype(value) != VDB_JSON_STRING)
            return vdb_error_set(&req->err, VDB_EINVAL, "%s must be a string", name);
        *out = vdb_json_string_value(value);
        return VDB_OK;
    }
    if (required)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s is required", name);
    return VDB_OK;
}

int vdb_req_int(vdb_req *req, const char *name, long long def, long long min, long long max,
                long long *out)
{
    int rc;
    long long v = def;
    const char *text = vdb_http_query(req->http, name);
    if (text != NULL) {
        char *end = NULL;
        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
            return vdb_error_set(&req->err, VDB_EINVAL, "%s must be an integer, got '%s'", name,
                                 text);
    } else {
        vdb_json *value = body_field(req, name, &rc);
        if (rc != VDB_OK)
            return rc;
        if (value != NULL && vdb_jtype(value) == VDB_JSON_NULL)
            return null_field(req, name);
        if (value != NULL) {
            if (vdb_jtype(value) == VDB_JSON_REAL) {
                double d = vdb_json_number_value(value);
                if (d != (double)(long long)d)
                    return vdb_error_set(&req->err, VDB_EINVAL, "%s must be an integer", name);
                v = (long long)d;
            } else if (vdb_jtype(value) == VDB_JSON_INT) {
                v = vdb_json_int_value(value);
            } else {
                return vdb_error_set(&req->err, VDB_EINVAL, "%s must be an integer, not %s",
                                     name, vdb_json_type_name(vdb_jtype(value)));
            }
        }
    }
    if (v < min || v > max)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s must be in %lld..%lld, got %lld", name,
                             min, max, v);
    *out = v;
    return VDB_OK;
}

int vdb_req_bool(vdb_req *req, const char *name, int def, int *out)
{
    int rc;
    const char *text = vdb_http_query(req->http, name);
    *out = def;
    if (text != NULL) {
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes"))
            *out = 1;
        else if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no"))
            *out = 0;
        else
            return vdb_error_set(&req->err, VDB_EINVAL, "%s must be true or false", name);
        return VDB_OK;
    }
    vdb_json *value = body_field(req, name, &rc);
    if (rc != VDB_OK)
        return rc;
    if (value == NULL)
        return VDB_OK;
    if (vdb_jtype(value) == VDB_JSON_NULL)
        return null_field(req, name);
    if (vdb_jtype(value) != VDB_JSON_BOOL)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s must be a boolean", name);
    *out = vdb_json_bool_value(value);
    return VDB_OK;
}

int vdb_req_target(vdb_req *req, vdb_json *obj, const char *name, double *out)
{
    vdb_json *value = obj != NULL ? vdb_json_object_get(obj, name) : NULL;
    if (value == NULL || vdb_jtype(value) == VDB_JSON_NULL)
        return VDB_OK;
    double t = vdb_json_is_number(value) ? vdb_json_number_value(value) : -1;
    if (!(t > 0.0 && t <= 1.0))
        return vdb_error_set(&req->err, VDB_EINVAL, "%s must be a number in (0, 1]", name);
    *out = t;
    return VDB_OK;
}

int vdb_req_sees_user(const vdb_req *req, const char *user_id)
{
    if (req->who.role >= VDB_ROLE_STORES)
        return 1;
    return req->who.role == VDB_ROLE_USER && user_id != NULL &&
           strcmp(req->who.user_id, user_id) == 0;
}

int vdb_req_not_found(vdb_req *req, const char *user_id, const char *model_id)
{
    return vdb_error_set(&req->err, VDB_ENOTFOUND, "Store not found: %s/%s", user_id,
                         model_id);
}

int vdb_req_writable(vdb_req *req, const char *user_id)
{
    if (!vdb_freeze_is_write(req->route) || !vdb_freeze_has(req->api->freeze, user_id))
        return VDB_OK;
    /* The mover itself deletes the frozen source copy once the placement
     * map has flipped; only the admin key may say so. */
    const char *override = vdb_http_header(req->http, "X-Vdb-Freeze-Override");
    if (override != NULL && strcmp(override, "1") == 0 && req->who.role == VDB_ROLE_ADMIN)
        return VDB_OK;
    char retry[16];
    snprintf(retry, sizeof(retry), "%d", VDB_FREEZE_RETRY_S);
    vdb_http_response_header(req->resp, "Retry-After", retry);
    req->status_override = 503;
    return vdb_error_set(&req->err, VDB_EBUSY,
                         "tenant '%s' is frozen here (moving, or moved, to another node); "
                         "retry the write",
                         user_id);
}

int vdb_req_names(vdb_req *req, const char **user_id, const char **model_id)
{
    int rc = vdb_req_str(req, "user_id", 1, user_id);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "model_id", 1, model_id);
    if (rc == VDB_OK)
        rc = vdb_registry_check_name("user_id", *user_id, &req->err);
    if (rc == VDB_OK)
        rc = vdb_registry_check_name("model_id", *model_id, &req->err);
    if (rc == VDB_OK && !vdb_req_sees_user(req, *user_id))
        rc = vdb_req_not_found(req, *user_id, *model_id);
    /* Every handler that writes a store names it through here, so this is
     * the one place a frozen tenant's writes are refused (freeze.h). */
    if (rc == VDB_OK)
        rc = vdb_req_writable(req, *user_id);
    return rc;
}

int vdb_req_store(vdb_req *req, vdb_store_handle **out)
{
    const char *user_id, *model_id;
    int rc = vdb_req_names(req, &user_id, &model_id);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_registry_acquire(req->api->registry, user_id, model_id, out, &req->err);
    if (rc == VDB_ENOTFOUND)
        return vdb_req_not_found(req, user_id, model_id);
    return rc;
}

int vdb_req_matrix(vdb_req *req, const vdb_json *array, const char *field, size_t max_rows,
                   uint32_t *dim_io, float **out, size_t *rows)
{
    size_t n, dim, total;
    *out = NULL;
    *rows = 0;
    if (array == NULL || vdb_jtype(array) != VDB_JSON_ARRAY)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s must be an array of number arrays", field);
    n = vdb_json_array_size(array);
    if (n == 0)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s must not be empty", field);
    if (n > max_rows)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s has %zu rows, at most %zu allowed", field,
                             n, max_rows);
    vdb_json *first = vdb_json_array_get(array, 0);
    if (vdb_jtype(first) != VDB_JSON_ARRAY)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s[0] must be an array of numbers", field);
    dim = *dim_io ? *dim_io : vdb_json_array_size(first);
    if (dim == 0 || dim > VDB_MAX_DIM)
        return vdb_error_set(&req->err, VDB_EINVAL, "%s[0] has %zu components; 1..%u allowed",
                             field, dim, VDB_MAX_DIM);
    if (vdb_mul_size(n, dim, &total) != 0 || vdb_mul_size(total, sizeof(float), &total) != 0)
        return vdb_error_set(&req->err, VDB_ETOOBIG, "%s is too large", field);
    float *data = vdb_malloc(total);
    if (data == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory for %s", field);
    for (size_t i = 0; i < n; i++) {
        vdb_json *row = vdb_json_array_get(array, i);
        size_t len = 0;
        vdb_error rerr;
        if (vdb_jtype(row) != VDB_JSON_ARRAY) {
            vdb_free(data);
            return vdb_error_set(&req->err, VDB_EINVAL, "%s[%zu] must be an array of numbers",
                                 field, i);
        }
        if (vdb_json_array_size(row) != dim) {
            vdb_free(data);
            return vdb_error_set(&req->err, VDB_EDIM, "%s[%zu] has %zu components, expected %zu",
                                 field, i, vdb_json_array_size(row), dim);
        }
        if (vdb_json_to_floats(row, data + i * dim, dim, &len, &rerr) != VDB_OK) {
            vdb_free(data);
            return vdb_error_set(&req->err, VDB_EINVAL, "%s[%zu]: %s", field, i, rerr.msg);
        }
    }
    *dim_io = (uint32_t)dim;
    *out = data;
    *rows = n;
    return VDB_OK;
}
