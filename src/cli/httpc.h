/* A minimal blocking HTTP/1.1 client for the cluster commands (`vdb
 * cluster status|move|aggregate`): one request per connection
 * ("Connection: close"), the whole answer read into memory, Content-Length
 * or chunked bodies. It talks to vdb nodes on a trusted network; it is not
 * a general client (no TLS, no redirects, no proxies).
 *
 * Thread-safety: every call is independent (no shared state), so the
 * aggregator may call it from several server threads at once. */
#ifndef VDB_CLI_HTTPC_H
#define VDB_CLI_HTTPC_H

#include <stddef.h>

#include "../core/err.h"

typedef struct vdb_httpc_response {
    int status;
    char *body;       /* vdb_malloc'd, NUL-terminated; vdb_httpc_response_free */
    size_t body_len;
    char content_type[96];
    char retry_after[16]; /* "" when absent */
    char wal_lsn[24];     /* X-Vdb-Wal-Lsn of an export, "" when absent */
} vdb_httpc_response;

typedef struct vdb_httpc_request {
    const char *host;         /* "127.0.0.1" or a name */
    unsigned port;
    const char *method;       /* "GET", "POST", ... */
    const char *target;       /* path and query, already URL-safe */
    const char *api_key;      /* sent as X-API-Key; NULL for none */
    const char *content_type; /* NULL when no body */
    const char *extra_header; /* one more "Name: value" line, or NULL */
    const void *body;
    size_t body_len;
    double timeout_s;         /* per socket operation; <= 0 means 30 s */
    size_t max_response;      /* bytes; 0 means 1 GiB */
} vdb_httpc_request;

/* Sends the request and reads the answer into *out (written only on
 * success; free it with vdb_httpc_response_free). Any HTTP status is a
 * success here: the caller judges it. Errors: VDB_EIO (resolve, connect,
 * send, receive, timeout: the node is unreachable or died mid-answer),
 * VDB_EPARSE (not an HTTP answer), VDB_ETOOBIG (over max_response),
 * VDB_ENOMEM. */
int vdb_httpc_send(const vdb_httpc_request *request, vdb_httpc_response *out, vdb_error *err);

void vdb_httpc_response_free(vdb_httpc_response *response); /* NULL-safe */

#endif
