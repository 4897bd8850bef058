/* The route table: every endpoint as data (method, path, who may call it,
 * handler, and what the OpenAPI document says about it). Dispatch, the
 * /debug/routes listing, /metrics and openapi.c all read this one table.
 *
 * The table points at every handler, so handlers must not call into
 * router.c (that would be a circle): they read the table through
 * vdb_api.routes, which api.c fills at start, and use the two helpers
 * below, which are inline for that reason. */
#ifndef VDB_API_ROUTER_H
#define VDB_API_ROUTER_H

#include <stddef.h>
#include <string.h>

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

/* Index of a route in the table (for per-route metrics). */
size_t vdb_router_index(const vdb_route *route);

/* The value of a route's trailing {parameter} in a matched path, or NULL
 * when the route has none. Borrowed from path. */
static inline const char *vdb_router_param(const vdb_route *route, const char *path)
{
    const char *brace = strchr(route->path, '{');
    return brace ? path + (brace - route->path) : NULL;
}

/* The access level's name in /debug/routes and the OpenAPI document. */
static inline const char *vdb_access_name(vdb_access access)
{
    switch (access) {
    case VDB_ACCESS_PUBLIC:
        return "public";
    case VDB_ACCESS_USER:
        return "key";
    case VDB_ACCESS_STORES:
        return "admin-or-api-key";
    case VDB_ACCESS_ADMIN:
        return "admin";
    }
    return "?";
}

#endif
