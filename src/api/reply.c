/* Replies and clocks for every api/ file: the JSON and text reply helpers
 * (the error envelope included) and the monotonic / wall clocks handlers
 * stamp responses with. They sit at the bottom of api/: everything above
 * (handlers, shared operations, the dispatcher in api.c) calls down here,
 * and this file calls nothing in api/ but the transport's header setter. */
#include "api_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"

double vdb_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

double vdb_unix_time(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

double vdb_api_uptime(const vdb_api *api)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - api->started_mono.tv_sec) +
           (double)(now.tv_nsec - api->started_mono.tv_nsec) / 1e9;
}

void vdb_set(vdb_json *object, const char *key, vdb_json *value)
{
    vdb_json_object_set_new(object, key, value);
}

int vdb_reply_text(vdb_req *req, int status, const char *content_type, char *text, size_t len)
{
    vdb_free(req->resp->body);
    req->resp->status = status;
    req->resp->content_type = content_type;
    req->resp->body = text;
    req->resp->body_len = len;
    return VDB_OK;
}

int vdb_reply_json(vdb_req *req, int status, vdb_json *json)
{
    char *text = json ? vdb_json_dump(json, VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_ANY) : NULL;
    vdb_json_decref(json);
    if (text == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory building the response");
    /* The dump's memory comes from jansson's allocator, which json.c points
     * at vdb_malloc, but copy anyway so the transport frees what it got. */
    size_t len = strlen(text);
    char *body = vdb_malloc(len + 1);
    if (body == NULL) {
        vdb_json_free_text(text);
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory building the response");
    }
    memcpy(body, text, len + 1);
    vdb_json_free_text(text);
    return vdb_reply_text(req, status, "application/json", body, len);
}

void vdb_reply_error(vdb_req *req, int status, const char *message)
{
    char code[16];
    snprintf(code, sizeof(code), "HTTP_%d", status);
    vdb_json *obj = vdb_json_object();
    if (obj != NULL) {
        vdb_set(obj, "detail", vdb_json_string(message));
        vdb_set(obj, "error", vdb_json_string(message));
        vdb_set(obj, "code", vdb_json_string(code));
        vdb_set(obj, "timestamp", vdb_json_real(vdb_unix_time()));
    }
    if (obj == NULL || vdb_reply_json(req, status, obj) != VDB_OK) {
        static const char fallback[] = "{\"detail\":\"out of memory\"}";
        char *body = vdb_malloc(sizeof(fallback));
        if (body != NULL)
            memcpy(body, fallback, sizeof(fallback));
        vdb_reply_text(req, status, "application/json", body, body ? sizeof(fallback) - 1 : 0);
    }
    if (status == 401)
        vdb_http_response_header(req->resp, "WWW-Authenticate", "Bearer");
}