/* HTTP/1.1 transport: vdb's own server on non-blocking sockets and poll()
 * (it replaced libmicrohttpd 0.9.75, which answered its own errors in HTML,
 * sent a second status line for a bad Content-Length, hung on unknown
 * transfer codings and let slowloris clients hold every slot; see
 * docs/server.md "HTTP layer").
 *
 * Each request goes through two callbacks. `gate` runs as soon as the head
 * has been parsed, before a byte of the body is read: it may answer (route,
 * key, rate limit, declared size, media type) and then the body is never
 * read and the connection is closed. Otherwise the body is buffered (up to
 * max_body_bytes; a chunked body that grows past it is answered 413 at
 * once) and `handler` gets the complete request.
 *
 * Connections are bounded: in total (max_connections), per peer address
 * (max_per_peer), the head must arrive whole within header_timeout_s of
 * the connection's first byte (not per byte), an idle keep-alive
 * connection lasts idle_timeout_s, and a body or an answer must move at
 * least VDB_HTTP_MIN_RATE bytes/s after a grace of header_timeout_s. When
 * every slot is taken, the connection that has waited longest without a
 * complete head is dropped to make room for the new one, so idle
 * connections cannot lock real clients out.
 *
 * Threading: `threads` workers, each running its own poll loop over the
 * connections it accepted. Callbacks run on those workers, concurrently,
 * so they must be thread-safe; a slow callback delays only its worker's
 * connections. */
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
    int body_too_large;   /* the declared body passes max_body_bytes (not read) */
    int64_t content_length; /* declared length (0 when none), -1 when chunked */
    const char *bad_param; /* a query parameter holding NUL or invalid UTF-8, or NULL */
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
     * (abort). It runs on the worker thread and must not wait for its next
     * event: it returns VDB_HTTP_STREAM_LATER instead, and the worker calls
     * it again VDB_HTTP_STREAM_RETRY_MS later, serving its other
     * connections meanwhile (a stream costs a connection slot and a
     * buffer, never a worker). reader_free(ctx) runs once when the
     * response is done. */
    long (*reader)(void *ctx, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *reader_ctx;
    int nheaders;
    struct {
        char name[48];
        char value[256];
    } headers[VDB_HTTP_MAX_HEADERS];
} vdb_http_response;

/* A stream reader's "no event yet": ask again after VDB_HTTP_STREAM_RETRY_MS. */
#define VDB_HTTP_STREAM_LATER (-2L)
#define VDB_HTTP_STREAM_RETRY_MS 50

/* Adds a response header (silently dropped when the table is full). */
void vdb_http_response_header(vdb_http_response *resp, const char *name, const char *value);

typedef void (*vdb_http_handler)(void *ctx, const vdb_http_request *req,
                                 vdb_http_response *resp);
/* Runs on the parsed head (req->body is "" and unread). Returns 1 after
 * filling resp to answer without reading the body, 0 to go on. */
typedef int (*vdb_http_gate)(void *ctx, const vdb_http_request *req, vdb_http_response *resp);
/* Called once per finished request with its status and duration. */
typedef void (*vdb_http_done_fn)(void *ctx, int status, double seconds);

typedef struct vdb_http_options {
    const char *host;          /* bind address, e.g. "127.0.0.1" or "0.0.0.0" */
    unsigned port;
    unsigned threads;          /* worker threads (>= 1) */
    unsigned max_connections;
    unsigned timeout_s;        /* idle keep-alive connection timeout */
    unsigned header_timeout_s; /* whole-head deadline from its first byte */
    unsigned max_per_peer;     /* connections per peer address */
    size_t max_body_bytes;
    /* Request body buffers held at once, over every connection (0 = no
     * bound). A body that would pass it is answered 503 + Retry-After
     * before it is read (a chunked one when it grows past it); the first
     * body is always admitted, so a bound below max_body_bytes still
     * serves one at a time. */
    size_t max_bodies_bytes;
    /* When not NULL, set to the server before its first worker starts, so
     * a handler that reaches the server through its context (stats, port)
     * never sees it unset: a request can arrive while vdb_http_start is
     * still starting workers. Reset to NULL when the start fails. */
    vdb_http_server **publish;
} vdb_http_options;

/* Slowest body or answer transfer accepted after the grace period. */
#define VDB_HTTP_MIN_RATE (16u * 1024u)
/* Largest request head (request line and fields). */
#define VDB_HTTP_MAX_HEAD (16u * 1024u)

/* Binds (without SO_REUSEPORT: a second server on a taken port fails) and
 * starts serving; the server goes to *out (NULL on failure; stopped and
 * freed with vdb_http_stop). Errors: VDB_EINVAL (bad host), VDB_EIO (bind,
 * listen, threads), VDB_ENOMEM. */
int vdb_http_start(const vdb_http_options *options, vdb_http_gate gate, vdb_http_handler handler,
                   vdb_http_done_fn done, void *ctx, vdb_http_server **out, vdb_error *err);

/* Transport counters for metrics (monotonic, relaxed). */
typedef struct vdb_http_stats {
    uint64_t accepted, open, rejected_peer, rejected_full, evicted, timed_out, malformed;
} vdb_http_stats;
void vdb_http_get_stats(const vdb_http_server *server, vdb_http_stats *out);

/* The port actually bound (useful when options->port was 0). */
unsigned vdb_http_port(const vdb_http_server *server);

/* Number of requests being handled right now. */
unsigned vdb_http_in_flight(const vdb_http_server *server);

/* Graceful stop: stops accepting, waits up to grace_ms for in-flight
 * requests to finish, then closes every connection and frees. */
void vdb_http_stop(vdb_http_server *server, unsigned grace_ms);

#endif
