/* libmicrohttpd adapter (the only file that includes microhttpd.h).
 *
 * MHD calls the access handler several times per request: once with the
 * headers, then once per body chunk, then once with no data. We check the
 * declared Content-Length against the limit on the first call, so an
 * oversized upload is refused before a byte of it is buffered; chunked
 * bodies are counted as they arrive. The complete request goes to the
 * application handler on the last call. A per-request state struct carries
 * the buffer and the start time; the completion callback frees it and
 * reports status and duration (for metrics). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../core/alloc.h"
#include "../core/log.h"

struct vdb_http_server {
    struct MHD_Daemon *daemon;
    vdb_http_handler handler;
    vdb_http_done_fn done;
    void *ctx;
    size_t max_body;
    unsigned port;
    atomic_uint in_flight;
};

typedef struct req_state {
    char *body;
    size_t len;
    size_t cap;
    int too_large;
    int status;
    struct timespec start;
} req_state;

static double elapsed_s(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

const char *vdb_http_query(const vdb_http_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}

const char *vdb_http_header(const vdb_http_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

void vdb_http_peer(const vdb_http_request *req, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(
        (struct MHD_Connection *)req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, size, "unknown");
    if (info == NULL || info->client_addr == NULL)
        return;
    if (info->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)info->client_addr;
        inet_ntop(AF_INET, &in4->sin_addr, out, (socklen_t)size);
    } else if (info->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)info->client_addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)size);
    }
}

void vdb_http_response_header(vdb_http_response *resp, const char *name, const char *value)
{
    if (resp->nheaders >= VDB_HTTP_MAX_HEADERS)
        return;
    snprintf(resp->headers[resp->nheaders].name, sizeof(resp->headers[0].name), "%s", name);
    snprintf(resp->headers[resp->nheaders].value, sizeof(resp->headers[0].value), "%s", value);
    resp->nheaders++;
}

static int append_body(req_state *state, const char *data, size_t size, size_t max_body)
{
    if (state->too_large)
        return 0;
    if (size > max_body - state->len) {
        state->too_large = 1;
        vdb_free(state->body);
        state->body = NULL;
        state->len = state->cap = 0;
        return 0;
    }
    if (state->len + size + 1 > state->cap) {
        size_t cap = state->cap ? state->cap : 4096;
        while (cap < state->len + size + 1)
            cap *= 2;
        char *grown = vdb_realloc(state->body, cap);
        if (grown == NULL)
            return -1;
        state->body = grown;
        state->cap = cap;
    }
    memcpy(state->body + state->len, data, size);
    state->len += size;
    state->body[state->len] = '\0';
    return 0;
}

/* A streamed body: adapts the handler's reader to MHD's content reader. */
typedef struct stream_body {
    long (*reader)(void *ctx, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *ctx;
} stream_body;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_body *s = cls;
    (void)pos;
    long n = s->reader(s->ctx, buf, max);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_body *s = cls;
    if (s->reader_free != NULL)
        s->reader_free(s->ctx);
    vdb_free(s);
}

static struct MHD_Response *make_stream(vdb_http_response *out)
{
    stream_body *s = vdb_malloc(sizeof(*s));
    struct MHD_Response *response = NULL;
    if (s != NULL) {
        *s = (stream_body){out->reader, out->reader_free, out->reader_ctx};
        response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s,
                                                     stream_free);
    }
    if (response == NULL) {
        vdb_free(s);
        if (out->reader_free != NULL)
            out->reader_free(out->reader_ctx);
    }
    out->reader = NULL; /* owned by the response (or freed) now */
    return response;
}

static struct MHD_Response *make_response(vdb_http_response *out)
{
    struct MHD_Response *response;
    if (out->reader != NULL) {
        vdb_free(out->body);
        out->body = NULL;
        response = make_stream(out);
    } else if (out->body_fd >= 0) {
        response = MHD_create_response_from_fd64(out->fd_size, out->body_fd);
        out->body_fd = -1; /* MHD closes it */
    } else {
        response = MHD_create_response_from_buffer_with_free_callback(
            out->body_len, out->body ? out->body : (char *)"", out->body ? vdb_free : NULL);
        out->body = NULL;
    }
    if (response == NULL)
        return NULL;
    if (out->content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, out->content_type);
    for (int i = 0; i < out->nheaders; i++)
        MHD_add_response_header(response, out->headers[i].name, out->headers[i].value);
    return response;
}

static enum MHD_Result dispatch(vdb_http_server *server, struct MHD_Connection *connection,
                                const char *url, const char *method, req_state *state)
{
    vdb_http_request req = {method, url, state->body ? state->body : "", state->len,
                            state->too_large, connection};
    vdb_http_response resp;
    memset(&resp, 0, sizeof(resp));
    resp.body_fd = -1;
    server->handler(server->ctx, &req, &resp);
    struct MHD_Response *response = make_response(&resp);
    if (response == NULL) {
        vdb_free(resp.body);
        if (resp.body_fd >= 0)
            close(resp.body_fd);
        return MHD_NO;
    }
    state->status = resp.status;
    enum MHD_Result rc = MHD_queue_response(connection, (unsigned)resp.status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    vdb_http_server *server = cls;
    req_state *state = *con_cls;
    (void)version;
    if (state == NULL) {
        state = vdb_calloc(1, sizeof(*state));
        if (state == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &state->start);
        atomic_fetch_add(&server->in_flight, 1);
        *con_cls = state;
        const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length != NULL) {
            errno = 0;
            unsigned long long declared = strtoull(length, NULL, 10);
            if (errno != 0 || declared > server->max_body) {
                /* Refused before buffering: answer now, MHD closes the
                 * connection instead of reading the rest. */
                state->too_large = 1;
                return dispatch(server, connection, url, method, state);
            }
            /* Declared and within the limit: allocate up front instead of
             * doubling while the body arrives, but not more than 16 MiB
             * before the bytes are actually there (a client may declare a
             * large body and send nothing). */
            size_t first = declared < (16u << 20) ? (size_t)declared + 1 : (16u << 20);
            if (declared > 0 && (state->body = vdb_malloc(first)) != NULL)
                state->cap = first;
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        if (append_body(state, upload_data, *upload_data_size, server->max_body) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (state->status != 0)
        return MHD_YES; /* already answered (oversized upload) */
    return dispatch(server, connection, url, method, state);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    vdb_http_server *server = cls;
    req_state *state = *con_cls;
    (void)connection;
    if (state == NULL)
        return;
    if (server->done != NULL)
        server->done(server->ctx, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? state->status : 0,
                     elapsed_s(&state->start));
    atomic_fetch_sub(&server->in_flight, 1);
    vdb_free(state->body);
    vdb_free(state);
    *con_cls = NULL;
}

static void on_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    vdb_log_error("libmicrohttpd panic at %s:%u: %s", file ? file : "?", line,
                  reason ? reason : "");
    abort();
}

vdb_http_server *vdb_http_start(const vdb_http_options *options, vdb_http_handler handler,
                                vdb_http_done_fn done, void *ctx, vdb_error *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)options->port);
    if (inet_pton(AF_INET, options->host, &addr.sin_addr) != 1) {
        vdb_error_set(err, VDB_EINVAL, "host '%s' is not an IPv4 address", options->host);
        return NULL;
    }
    vdb_http_server *server = vdb_calloc(1, sizeof(*server));
    if (server == NULL) {
        vdb_error_set(err, VDB_ENOMEM, "out of memory");
        return NULL;
    }
    server->handler = handler;
    server->done = done;
    server->ctx = ctx;
    server->max_body = options->max_body_bytes;
    MHD_set_panic_func(on_panic, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
#ifdef __linux__
    flags |= MHD_USE_EPOLL;
#else
    flags |= MHD_USE_POLL;
#endif
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)options->port, NULL, NULL, on_access, server, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(options->threads ? options->threads : 1), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)options->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)options->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned)1, MHD_OPTION_END);
    if (server->daemon == NULL) {
        vdb_error_set(err, VDB_EIO, "cannot listen on %s:%u (port in use or not permitted)",
                      options->host, options->port);
        vdb_free(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : options->port;
    return server;
}

unsigned vdb_http_port(const vdb_http_server *server)
{
    return server->port;
}

unsigned vdb_http_in_flight(const vdb_http_server *server)
{
    return atomic_load(&((vdb_http_server *)server)->in_flight);
}

void vdb_http_stop(vdb_http_server *server, unsigned grace_ms)
{
    if (server == NULL)
        return;
    MHD_socket listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    for (unsigned waited = 0; waited < grace_ms; waited += 10) {
        if (atomic_load(&server->in_flight) == 0)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    MHD_stop_daemon(server->daemon);
    vdb_free(server);
}
