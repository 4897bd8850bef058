/* HTTP transport: the only module that knows libmicrohttpd.
 *
 * The server hands every complete request (method, path, query, headers,
 * fully buffered body) to one handler callback and sends back the response
 * the handler filled in. Bodies are limited: a Content-Length above
 * max_body_bytes is refused before anything is buffered, and a chunked body
 * that grows past the limit stops being buffered; in both cases the handler
 * sees req->body_too_large set and answers 413.
 *
 * Threading: a pool of `threads` workers, each with its own epoll loop
 * (keep-alive connections stay on one worker). The handler runs on those
 * workers, concurrently, so it must be thread-safe. */
#ifndef VDB_API_HTTP_H
#define VDB_API_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

typedef struct vdb_http_server vdb_http_server;

typedef struct vdb_http_request {
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* decoded path without the query string */
    const char *body;     /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    int body_too_large;   /* the body passed max_body_bytes (not buffered) */
    void *conn;           /* transport handle for the lookups below */
} vdb_http_request;

/* A query-string argument or request header (case-insensitive name), or
 * NULL. Borrowed; valid during the handler call. */
const char *vdb_http_query(const vdb_http_request *req, const char *name);
const char *vdb_http_header(const vdb_http_request *req, const char *name);
/* The peer's address as text ("127.0.0.1"), into out (at least 64 bytes). */
void vdb_http_peer(const vdb_http_request *req, char *out, size_t size);

#define VDB_HTTP_MAX_HEADERS 6

typedef struct vdb_http_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* vdb_malloc'd; the server frees it */
    size_t body_len;
    int body_fd;              /* >= 0: send fd_size bytes from this fd instead (closed after) */
    uint64_t fd_size;
    /* Streamed body (server-sent events): when set, the body is produced by
     * reader(ctx, buf, max) until it returns 0 (end) or a negative value
     * (abort); it runs on the worker thread and may block briefly between
     * events. reader_free(ctx) runs once when the response is done. */
    long (*reader)(void *ctx, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *reader_ctx;
    int nheaders;
    struct {
        char name[48];
        char value[256];
    } headers[VDB_HTTP_MAX_HEADERS];
} vdb_http_response;

/* Adds a response header (silently dropped when the table is full). */
void vdb_http_response_header(vdb_http_response *resp, const char *name, const char *value);

typedef void (*vdb_http_handler)(void *ctx, const vdb_http_request *req,
                                 vdb_http_response *resp);
/* Called once per finished request with its status and duration. */
typedef void (*vdb_http_done_fn)(void *ctx, int status, double seconds);

typedef struct vdb_http_options {
    const char *host;          /* bind address, e.g. "127.0.0.1" or "0.0.0.0" */
    unsigned port;
    unsigned threads;          /* worker threads (>= 1) */
    unsigned max_connections;
    unsigned timeout_s;        /* idle/slow connection timeout */
    size_t max_body_bytes;
} vdb_http_options;

/* Binds and starts serving. Errors: VDB_EINVAL (bad host), VDB_EIO (bind). */
vdb_http_server *vdb_http_start(const vdb_http_options *options, vdb_http_handler handler,
                                vdb_http_done_fn done, void *ctx, vdb_error *err);

/* The port actually bound (useful when options->port was 0). */
unsigned vdb_http_port(const vdb_http_server *server);

/* Number of requests being handled right now. */
unsigned vdb_http_in_flight(const vdb_http_server *server);

/* Graceful stop: stops accepting, waits up to grace_ms for in-flight
 * requests to finish, then closes every connection and frees. */
void vdb_http_stop(vdb_http_server *server, unsigned grace_ms);

#endif
