/* The route table: every endpoint as data (method, path, who may call it,
 * handler, and what the OpenAPI document says about it). Dispatch, the
 * /debug/routes listing and openapi.c all read this one table. */
#ifndef VDB_API_ROUTER_H
#define VDB_API_ROUTER_H

#include <stddef.h>

struct vdb_req;
typedef int (*vdb_route_fn)(struct vdb_req *req);

typedef enum {
    VDB_ACCESS_PUBLIC = 0, /* no key */
    VDB_ACCESS_USER = 1,   /* any valid key; store routes check the tenant */
    VDB_ACCESS_STORES = 2, /* admin key or VECTOR_DB_API_KEY (server-wide data) */
    VDB_ACCESS_ADMIN = 3   /* admin key only (key management) */
} vdb_access;

typedef struct vdb_route {
    const char *method;
    const char *path;
    vdb_access access;
    vdb_route_fn fn;
    const char *op_id;    /* OpenAPI operationId */
    const char *tag;
    const char *summary;
    const char *params;   /* query parameters: "user_id!,model_id!,k" (! = required) */
    const char *request;  /* request body schema name in components, or NULL */
    const char *response; /* 200 response schema name, or a media type ("text/html") */
} vdb_route;

/* The table and its length. */
const vdb_route *vdb_router_routes(size_t *count);

/* The route for method+path; NULL when none. *path_known is set when the
 * path exists with another method (405), and allow (at least 64 bytes)
 * receives the methods it takes. */
const vdb_route *vdb_router_match(const char *method, const char *path, int *path_known,
                                  char *allow, size_t allow_size);

/* The value of a route's trailing {parameter} in a matched path, or NULL
 * when the route has none. Borrowed from path. */
const char *vdb_router_param(const vdb_route *route, const char *path);

/* Index of a route in the table (for per-route metrics). */
size_t vdb_router_index(const vdb_route *route);

const char *vdb_access_name(vdb_access access);

#endif
