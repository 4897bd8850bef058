/* vdb's HTTP/1.1 server (see http.h for the contract and the limits).
 *
 * Why our own: libmicrohttpd 0.9.75 restarts its connection timeout on
 * every byte (1,100 slowloris connections kept the service unavailable for
 * 40 s), stops accepting when its connection table is full (so idle
 * connections locked new clients out), answers its own errors in HTML
 * with no way to change them, sent two status lines for `Content-Length:
 * -1`, never answered `Transfer-Encoding: gzip` or a huge chunk size, and
 * read a whole body before the application could refuse it. Each of those
 * is a few lines here.
 *
 * Shape: `threads` workers share one non-blocking listening socket; each
 * polls its own connections and accepts new ones. A connection is a small
 * state machine: HEAD (reading the request head) -> BODY (reading the
 * body) -> WRITE (sending the answer) -> HEAD again for keep-alive, or
 * DRAIN (reading and discarding what the client still sends after an
 * early answer, for at most LINGER_MS, so it sees the answer rather than a
 * reset). Every 250 ms a worker checks its connections' deadlines. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "../core/alloc.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "httpparse.h"

#define TICK_MS 250
#define LINGER_MS 2000
#define IDLE_UNDER_PRESSURE_MS 1000 /* idle connections dropped when nearly full */
#define PEER_BUCKETS 1024
#define ACCEPT_BATCH 64
#define BODY_FIRST_ALLOC (16u << 20)
#define TRIM_AFTER_BYTES (4u << 20) /* give memory back after requests this big */

enum { C_HEAD, C_BODY, C_WRITE, C_DRAIN };
enum { GO_ON, WAIT, CLOSE };

typedef struct worker worker;

typedef struct conn {
    struct conn *prev, *next;
    worker *w;
    int fd;
    int state;
    char peer[64];
    unsigned char peer_key[17];
    size_t peer_key_len;
    char *in; /* bytes received and not yet consumed */
    size_t in_len, in_cap;
    double wait_start, first_byte, phase_start;
    uint64_t moved; /* body bytes received or answer bytes sent in this phase */
    /* The request being handled. */
    int active;
    double req_start;
    char *head_buf;
    vdb_http_head head;
    char *body;
    size_t body_len, body_cap;
    vdb_http_chunker chunker;
    int close_after;
    int status;
    /* The answer. */
    char *out_head;
    size_t out_head_len;
    char *out_body;
    size_t out_body_len, out_off;
    int file_fd;
    uint64_t file_off, file_size;
} conn;

struct worker {
    vdb_http_server *server;
    pthread_t thread;
    int wake[2];
    conn *conns;
    size_t nconns;
    struct pollfd *pfds;
    conn **pconn;
    size_t pcap;
    int listening;
    double accept_pause_until;
};

typedef struct peer_entry {
    struct peer_entry *next;
    unsigned char key[17];
    size_t key_len;
    unsigned count;
} peer_entry;

struct vdb_http_server {
    int listen_fd;
    unsigned port;
    worker *workers;
    unsigned nworkers;
    vdb_http_gate gate;
    vdb_http_handler handler;
    vdb_http_done_fn done;
    void *ctx;
    vdb_http_options opt;
    atomic_uint in_flight;
    atomic_uint nconns;
    atomic_int accepting;
    atomic_uint unlistened;
    atomic_int stopping;
    pthread_mutex_t peers_lock;
    peer_entry *peers[PEER_BUCKETS];
    atomic_uint_fast64_t st_accepted, st_peer, st_full, st_evicted, st_timeout, st_malformed;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- lookups for the handlers ---- */

const char *vdb_http_query(const vdb_http_request *req, const char *name)
{
    return vdb_httpparse_arg(&((conn *)req->conn)->head, name);
}

const char *vdb_http_header(const vdb_http_request *req, const char *name)
{
    return vdb_httpparse_field(&((conn *)req->conn)->head, name);
}

void vdb_http_peer(const vdb_http_request *req, char *out, size_t size)
{
    snprintf(out, size, "%s", ((conn *)req->conn)->peer);
}

void vdb_http_response_header(vdb_http_response *resp, const char *name, const char *value)
{
    if (resp->nheaders >= VDB_HTTP_MAX_HEADERS)
        return;
    snprintf(resp->headers[resp->nheaders].name, sizeof(resp->headers[0].name), "%s", name);
    snprintf(resp->headers[resp->nheaders].value, sizeof(resp->headers[0].value), "%s", value);
    resp->nheaders++;
}

/* ---- per-peer connection counts ---- */

/* Keyed: a client with many IPv6 addresses must not be able to pile them
 * into one bucket. */
static size_t peer_hash(const unsigned char *key, size_t len)
{
    return (size_t)(vdb_hash_keyed(key, len) % PEER_BUCKETS);
}

/* Counts one more connection for the peer; 0, or -1 when it already has
 * max_per_peer (nothing counted). */
static int peer_enter(vdb_http_server *s, const unsigned char *key, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&s->peers_lock);
    peer_entry **slot = &s->peers[peer_hash(key, len)], *e = *slot;
    while (e != NULL && (e->key_len != len || memcmp(e->key, key, len) != 0))
        e = e->next;
    if (e == NULL && (e = vdb_calloc(1, sizeof(*e))) != NULL) {
        memcpy(e->key, key, len);
        e->key_len = len;
        e->next = *slot;
        *slot = e;
    }
    if (e == NULL || e->count >= s->opt.max_per_peer)
        rc = -1;
    else
        e->count++;
    pthread_mutex_unlock(&s->peers_lock);
    return rc;
}

static void peer_leave(vdb_http_server *s, const unsigned char *key, size_t len)
{
    pthread_mutex_lock(&s->peers_lock);
    for (peer_entry **p = &s->peers[peer_hash(key, len)]; *p; p = &(*p)->next) {
        peer_entry *e = *p;
        if (e->key_len == len && memcmp(e->key, key, len) == 0) {
            if (--e->count == 0) {
                *p = e->next;
                vdb_free(e);
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->peers_lock);
}

/* ---- answers ---- */

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Status";
    }
}

/* The JSON error envelope the API uses (api.c vdb_reply_error), for the
 * errors the transport raises itself. Messages are ours and plain ASCII;
 * quotes and backslashes are dropped rather than escaped. */
static size_t error_json(char *out, size_t size, int status, const char *msg)
{
    char clean[256];
    size_t n = 0;
    for (const char *p = msg; *p && n + 1 < sizeof(clean); p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
            clean[n++] = *p;
    clean[n] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int len = snprintf(out, size,
                       "{\"detail\":\"%s\",\"error\":\"%s\",\"code\":\"HTTP_%d\",\"timestamp\":%.5f}",
                       clean, clean, status, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return len < 0 ? 0 : ((size_t)len < size ? (size_t)len : size - 1);
}

/* Answers on a connection we will not read from (refused at accept):
 * best effort, one non-blocking send, then close. */
static void refuse(int fd, int status, const char *msg)
{
    char body[512], all[1024];
    size_t blen = error_json(body, sizeof(body), status, msg);
    int n = snprintf(all, sizeof(all),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n%s",
                     status, reason(status), blen, status == 503 ? "Retry-After: 1\r\n" : "", body);
    if (n > 0)
        (void)!send(fd, all, (size_t)n < sizeof(all) ? (size_t)n : sizeof(all) - 1, MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static int header_safe(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

/* Takes the handler's response into the connection's output. */
static int queue_response(conn *c, vdb_http_response *resp)
{
    vdb_http_server *s = c->w->server;
    int head_only = c->head.method && strcmp(c->head.method, "HEAD") == 0;
    int no_body = resp->status == 204 || resp->status == 304 || resp->status < 200;
    uint64_t length = resp->body_fd >= 0 ? resp->fd_size : resp->body_len;
    if (!c->head.keep_alive || atomic_load(&s->accepting) == 0)
        c->close_after = 1;
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    size_t cap = 512 + (size_t)resp->nheaders * 320;
    char *head = vdb_malloc(cap);
    if (head == NULL)
        return -1;
    int n = snprintf(head, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n", resp->status,
                     reason(resp->status), date);
    if (resp->content_type && header_safe(resp->content_type))
        n += snprintf(head + n, cap - (size_t)n, "Content-Type: %s\r\n", resp->content_type);
    if (!no_body)
        n += snprintf(head + n, cap - (size_t)n, "Content-Length: %llu\r\n",
                      (unsigned long long)length);
    if (c->close_after)
        n += snprintf(head + n, cap - (size_t)n, "Connection: close\r\n");
    else if (c->head.minor == 0)
        n += snprintf(head + n, cap - (size_t)n, "Connection: keep-alive\r\n");
    for (int i = 0; i < resp->nheaders; i++)
        if (header_safe(resp->headers[i].name) && header_safe(resp->headers[i].value))
            n += snprintf(head + n, cap - (size_t)n, "%s: %s\r\n", resp->headers[i].name,
                          resp->headers[i].value);
    n += snprintf(head + n, cap - (size_t)n, "\r\n");
    c->out_head = head;
    c->out_head_len = (size_t)n < cap ? (size_t)n : cap - 1;
    c->out_off = 0;
    c->status = resp->status;
    if (head_only || no_body) {
        vdb_free(resp->body);
        if (resp->body_fd >= 0)
            close(resp->body_fd);
    } else if (resp->body_fd >= 0) {
        c->file_fd = resp->body_fd;
        c->file_size = resp->fd_size;
        c->file_off = 0;
        vdb_free(resp->body);
    } else {
        c->out_body = resp->body;
        c->out_body_len = resp->body_len;
    }
    resp->body = NULL;
    resp->body_fd = -1;
    c->state = C_WRITE;
    c->phase_start = now_ms();
    c->moved = 0;
    return 0;
}

static void begin_request(conn *c)
{
    if (!c->active) {
        c->active = 1;
        c->req_start = now_ms();
        atomic_fetch_add(&c->w->server->in_flight, 1);
    }
}

/* A transport-level error answer; the connection closes after it. */
static void answer_error(conn *c, int status, const char *msg)
{
    vdb_http_response resp;
    char body[512];
    memset(&resp, 0, sizeof(resp));
    begin_request(c);
    resp.status = status;
    resp.content_type = "application/json";
    resp.body_fd = -1;
    size_t len = error_json(body, sizeof(body), status, msg);
    resp.body = vdb_malloc(len + 1);
    if (resp.body != NULL) {
        memcpy(resp.body, body, len + 1);
        resp.body_len = len;
    }
    if (status == 503)
        vdb_http_response_header(&resp, "Retry-After", "1");
    c->close_after = 1;
    if (status >= 400 && status != 408)
        atomic_fetch_add(&c->w->server->st_malformed, 1);
    if (queue_response(c, &resp) != 0) {
        vdb_free(resp.body);
        c->state = C_DRAIN;
    }
}

static void end_request(conn *c, int completed)
{
    vdb_http_server *s = c->w->server;
    if (c->active) {
        if (s->done != NULL)
            s->done(s->ctx, completed ? c->status : 0, (now_ms() - c->req_start) / 1e3);
        atomic_fetch_sub(&s->in_flight, 1);
        c->active = 0;
    }
    size_t big = c->body_cap + c->out_body_len;
    vdb_free(c->head_buf);
    vdb_free(c->body);
    vdb_free(c->out_head);
    vdb_free(c->out_body);
#ifdef __GLIBC__
    /* glibc keeps freed heap in its arenas; after a large request or answer
     * (a big batch builds hundreds of MB of JSON) hand it back to the OS
     * so the process does not stay at its peak. */
    if (big >= TRIM_AFTER_BYTES)
        malloc_trim(0);
#else
    (void)big;
#endif
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->head_buf = c->body = c->out_head = c->out_body = NULL;
    c->body_len = c->body_cap = c->out_head_len = c->out_body_len = c->out_off = 0;
    c->file_fd = -1;
    memset(&c->head, 0, sizeof(c->head));
    memset(&c->chunker, 0, sizeof(c->chunker));
}

/* ---- reading ---- */

static void request_view(conn *c, vdb_http_request *req)
{
    memset(req, 0, sizeof(*req));
    req->method = c->head.method;
    req->path = c->head.path;
    req->body = c->body ? c->body : "";
    req->body_len = c->body_len;
    req->content_length = c->head.chunked ? -1 : c->head.content_length;
    req->body_too_large = c->head.content_length > (int64_t)c->w->server->opt.max_body_bytes;
    req->bad_param = c->head.bad_arg ? c->head.bad_arg_name : NULL;
    req->conn = c;
}

static int run_handler(conn *c)
{
    vdb_http_server *s = c->w->server;
    vdb_http_request req;
    vdb_http_response resp;
    request_view(c, &req);
    memset(&resp, 0, sizeof(resp));
    resp.body_fd = -1;
    s->handler(s->ctx, &req, &resp);
    if (queue_response(c, &resp) != 0) {
        vdb_free(resp.body);
        if (resp.body_fd >= 0)
            close(resp.body_fd);
        return CLOSE;
    }
    return GO_ON;
}

static int consume(conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    return 0;
}

/* One recv into the input buffer. GO_ON when bytes came, WAIT, CLOSE. */
static int fill(conn *c)
{
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
        if (cap > VDB_HTTP_MAX_HEAD + 1)
            cap = VDB_HTTP_MAX_HEAD + 1;
        if (cap == c->in_cap)
            return GO_ON; /* full: the caller decides */
        char *grown = vdb_realloc(c->in, cap);
        if (grown == NULL)
            return CLOSE;
        c->in = grown;
        c->in_cap = cap;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n > 0) {
        c->in_len += (size_t)n;
        if (c->first_byte == 0)
            c->first_byte = now_ms();
        return GO_ON;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return WAIT;
    return CLOSE; /* closed or half-closed by the peer: reap it now */
}

static int start_body(conn *c)
{
    vdb_http_server *s = c->w->server;
    if (c->head.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)!send(c->fd, cont, sizeof(cont) - 1, MSG_DONTWAIT);
    }
    size_t first = BODY_FIRST_ALLOC;
    if (!c->head.chunked && (uint64_t)c->head.content_length < first)
        first = (size_t)c->head.content_length;
    if (c->head.chunked && first > 64 * 1024)
        first = 64 * 1024;
    if (first + 1 > s->opt.max_body_bytes + 1)
        first = s->opt.max_body_bytes;
    if ((c->body = vdb_malloc(first + 1)) == NULL)
        return CLOSE;
    c->body_cap = first + 1;
    c->body[0] = '\0';
    c->state = C_BODY;
    c->phase_start = now_ms();
    c->moved = 0;
    return GO_ON;
}

static int step_head(conn *c)
{
    vdb_http_server *s = c->w->server;
    /* Empty lines before a request line are allowed (RFC 9112 2.2). */
    size_t skip = 0;
    while (skip + 1 < c->in_len && c->in[skip] == '\r' && c->in[skip + 1] == '\n')
        skip += 2;
    if (skip)
        consume(c, skip);
    char *end = c->in_len >= 4 ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
    if (end == NULL) {
        if (c->in_len >= VDB_HTTP_MAX_HEAD) {
            answer_error(c, 431, "request head larger than 16384 bytes");
            return GO_ON;
        }
        return fill(c);
    }
    size_t head_len = (size_t)(end - c->in) + 4;
    if ((c->head_buf = vdb_malloc(head_len + 1)) == NULL)
        return CLOSE;
    memcpy(c->head_buf, c->in, head_len);
    consume(c, head_len);
    begin_request(c);
    char why[160];
    int status = vdb_httpparse_head(c->head_buf, head_len - 2, &c->head, why, sizeof(why));
    if (status != 0) {
        answer_error(c, status, why);
        return GO_ON;
    }
    vdb_http_request req;
    vdb_http_response resp;
    request_view(c, &req);
    memset(&resp, 0, sizeof(resp));
    resp.body_fd = -1;
    int has_body = c->head.chunked || c->head.content_length > 0;
    if (s->gate != NULL && s->gate(s->ctx, &req, &resp)) {
        /* Answered from the head: the body (if any) is never read. */
        if (has_body)
            c->close_after = 1;
        if (queue_response(c, &resp) != 0) {
            vdb_free(resp.body);
            return CLOSE;
        }
        return GO_ON;
    }
    if (req.body_too_large) { /* a gate that does not check sizes */
        answer_error(c, 413, "request body too large");
        return GO_ON;
    }
    if (has_body)
        return start_body(c);
    return run_handler(c);
}

static int body_append(conn *c, const char *data, size_t n)
{
    size_t max = c->w->server->opt.max_body_bytes;
    if (n > max - c->body_len)
        return 413;
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap * 2;
        if (cap < c->body_len + n + 1)
            cap = c->body_len + n + 1;
        if (cap > max + 1)
            cap = max + 1;
        char *grown = vdb_realloc(c->body, cap);
        if (grown == NULL)
            return 500;
        c->body = grown;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    c->moved += n;
    return 0;
}

static int step_body_chunked(conn *c)
{
    while (c->in_len > 0) {
        size_t used = 0, len = 0;
        const char *data = NULL, *why = NULL;
        int rc = vdb_httpparse_chunk(&c->chunker, c->in, c->in_len, &used, &data, &len, &why);
        if (rc == VDB_HTTP_CHUNK_BAD) {
            consume(c, c->in_len);
            answer_error(c, 400, why);
            return GO_ON;
        }
        if (rc == VDB_HTTP_CHUNK_DATA) {
            int status = body_append(c, data, len);
            if (status != 0) {
                consume(c, c->in_len);
                answer_error(c, status, status == 413 ? "request body exceeds the limit"
                                                      : "out of memory reading the body");
                return GO_ON;
            }
        }
        consume(c, used);
        if (rc == VDB_HTTP_CHUNK_DONE)
            return run_handler(c);
    }
    return fill(c);
}

static int step_body(conn *c)
{
    if (c->head.chunked)
        return step_body_chunked(c);
    size_t want = (size_t)c->head.content_length - c->body_len;
    if (c->in_len > 0) {
        size_t n = c->in_len < want ? c->in_len : want;
        if (body_append(c, c->in, n) != 0)
            return CLOSE;
        consume(c, n);
        want -= n;
    }
    if (want == 0)
        return run_handler(c);
    /* Large bodies go straight from the socket into the body buffer. */
    if (c->body_len + want + 1 > c->body_cap) {
        size_t cap = c->body_cap * 2 < c->body_len + want + 1 ? c->body_cap * 2
                                                               : c->body_len + want + 1;
        char *grown = vdb_realloc(c->body, cap);
        if (grown == NULL)
            return CLOSE;
        c->body = grown;
        c->body_cap = cap;
    }
    size_t room = c->body_cap - 1 - c->body_len;
    ssize_t n = recv(c->fd, c->body + c->body_len, room < want ? room : want, 0);
    if (n > 0) {
        c->body_len += (size_t)n;
        c->body[c->body_len] = '\0';
        c->moved += (uint64_t)n;
        return GO_ON;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return WAIT;
    return CLOSE;
}

/* ---- writing ---- */

static int step_write(conn *c)
{
    size_t mem = c->out_head_len + c->out_body_len;
    while (c->out_off < mem) {
        struct iovec iov[2];
        int cnt = 0;
        if (c->out_off < c->out_head_len) {
            iov[cnt].iov_base = c->out_head + c->out_off;
            iov[cnt++].iov_len = c->out_head_len - c->out_off;
            if (c->out_body_len) {
                iov[cnt].iov_base = c->out_body;
                iov[cnt++].iov_len = c->out_body_len;
            }
        } else {
            iov[cnt].iov_base = c->out_body + (c->out_off - c->out_head_len);
            iov[cnt++].iov_len = mem - c->out_off;
        }
        ssize_t n = writev(c->fd, iov, cnt);
        if (n < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? WAIT : CLOSE;
        c->out_off += (size_t)n;
        c->moved += (uint64_t)n;
    }
    while (c->file_fd >= 0 && c->file_off < c->file_size) {
        size_t chunk = c->file_size - c->file_off > (1u << 20) ? (1u << 20)
                                                              : (size_t)(c->file_size - c->file_off);
#ifdef __linux__
        off_t off = (off_t)c->file_off;
        ssize_t n = sendfile(c->fd, c->file_fd, &off, chunk);
#else
        char buf[65536];
        ssize_t n = pread(c->file_fd, buf, chunk < sizeof(buf) ? chunk : sizeof(buf),
                          (off_t)c->file_off);
        if (n > 0)
            n = send(c->fd, buf, (size_t)n, 0);
#endif
        if (n < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? WAIT : CLOSE;
        if (n == 0)
            return CLOSE; /* the file is shorter than announced */
        c->file_off += (uint64_t)n;
        c->moved += (uint64_t)n;
    }
    end_request(c, 1);
    if (c->close_after) {
        shutdown(c->fd, SHUT_WR);
        c->state = C_DRAIN;
        c->phase_start = now_ms();
        return GO_ON;
    }
    c->state = C_HEAD;
    c->wait_start = now_ms();
    c->first_byte = c->in_len > 0 ? c->wait_start : 0;
    return GO_ON;
}

static int step_drain(conn *c)
{
    char sink[16384];
    c->in_len = 0;
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return CLOSE;
        if (n < 0)
            return WAIT;
    }
    return WAIT;
}

/* ---- connections ---- */

static void conn_close(conn *c)
{
    worker *w = c->w;
    vdb_http_server *s = w->server;
    end_request(c, 0);
    close(c->fd);
    peer_leave(s, c->peer_key, c->peer_key_len);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    atomic_fetch_sub(&s->nconns, 1);
    vdb_free(c->in);
    vdb_free(c);
}

/* Runs the connection until it has to wait for the network. */
static void drive(conn *c)
{
    for (int guard = 0; guard < 1024; guard++) {
        int rc;
        switch (c->state) {
        case C_HEAD: rc = step_head(c); break;
        case C_BODY: rc = step_body(c); break;
        case C_WRITE: rc = step_write(c); break;
        default: rc = step_drain(c); break;
        }
        if (rc == WAIT)
            return;
        if (rc == CLOSE) {
            conn_close(c);
            return;
        }
    }
}

/* The connection that has waited longest for a request head, to make room
 * for a new one; NULL when every connection is busy with a request. */
static conn *oldest_waiting(worker *w)
{
    conn *best = NULL;
    for (conn *c = w->conns; c; c = c->next)
        if (c->state == C_HEAD && !c->active && (best == NULL || c->wait_start < best->wait_start))
            best = c;
    return best;
}

static void peer_of(const struct sockaddr_storage *ss, conn *c)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->peer, sizeof(c->peer));
        c->peer_key[0] = 6;
        memcpy(c->peer_key + 1, &in6->sin6_addr, 16);
        c->peer_key_len = 17;
    } else {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in4->sin_addr, c->peer, sizeof(c->peer));
        c->peer_key[0] = 4;
        memcpy(c->peer_key + 1, &in4->sin_addr, 4);
        c->peer_key_len = 5;
    }
}

static void accept_some(worker *w)
{
    vdb_http_server *s = w->server;
    unsigned share = s->opt.max_connections / s->nworkers;
    if (share == 0)
        share = 1;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: drop the oldest idle connection and
                 * pause accepting briefly instead of spinning. */
                conn *victim = oldest_waiting(w);
                if (victim != NULL) {
                    atomic_fetch_add(&s->st_evicted, 1);
                    conn_close(victim);
                }
                w->accept_pause_until = now_ms() + 50;
            }
            return;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn *c = vdb_calloc(1, sizeof(*c));
        if (c == NULL) {
            refuse(fd, 503, "out of memory");
            continue;
        }
        c->fd = fd;
        c->file_fd = -1;
        c->w = w;
        peer_of(&ss, c);
        if (peer_enter(s, c->peer_key, c->peer_key_len) != 0) {
            atomic_fetch_add(&s->st_peer, 1);
            vdb_free(c);
            refuse(fd, 429, "too many connections from this address");
            continue;
        }
        if (w->nconns >= share) {
            conn *victim = oldest_waiting(w);
            if (victim == NULL) {
                atomic_fetch_add(&s->st_full, 1);
                peer_leave(s, c->peer_key, c->peer_key_len);
                vdb_free(c);
                refuse(fd, 503, "server at its connection limit");
                continue;
            }
            atomic_fetch_add(&s->st_evicted, 1);
            conn_close(victim);
        }
        c->state = C_HEAD;
        c->wait_start = now_ms();
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        w->nconns++;
        atomic_fetch_add(&s->nconns, 1);
        atomic_fetch_add(&s->st_accepted, 1);
    }
}

/* Deadlines: a whole head within header_timeout of its first byte, an idle
 * connection within timeout_s, bodies and answers at VDB_HTTP_MIN_RATE
 * after a grace of header_timeout, lingering closes within LINGER_MS. When
 * the server is nearly full, idle connections get only
 * IDLE_UNDER_PRESSURE_MS. */
static void check_deadlines(worker *w, double now)
{
    vdb_http_server *s = w->server;
    double header_ms = s->opt.header_timeout_s * 1e3, idle_ms = s->opt.timeout_s * 1e3;
    int pressure = atomic_load(&s->nconns) * 8 >= s->opt.max_connections * 7;
    conn *next;
    for (conn *c = w->conns; c; c = next) {
        next = c->next;
        double allowed;
        switch (c->state) {
        case C_HEAD:
            if (c->first_byte == 0) {
                double limit = pressure ? IDLE_UNDER_PRESSURE_MS : idle_ms;
                if (now - c->wait_start > limit) {
                    atomic_fetch_add(pressure ? &s->st_evicted : &s->st_timeout, 1);
                    conn_close(c);
                }
            } else if (now - c->first_byte > header_ms) {
                atomic_fetch_add(&s->st_timeout, 1);
                c->in_len = 0;
                answer_error(c, 408, "request head not received in time");
                drive(c);
            }
            break;
        case C_BODY:
            allowed = header_ms + (double)c->moved * 1e3 / VDB_HTTP_MIN_RATE;
            if (now - c->phase_start > allowed) {
                atomic_fetch_add(&s->st_timeout, 1);
                c->in_len = 0;
                answer_error(c, 408, "request body not received in time");
                drive(c);
            }
            break;
        case C_WRITE:
            allowed = header_ms + (double)c->moved * 1e3 / VDB_HTTP_MIN_RATE;
            if (now - c->phase_start > allowed) {
                atomic_fetch_add(&s->st_timeout, 1);
                conn_close(c);
            }
            break;
        default:
            if (now - c->phase_start > LINGER_MS)
                conn_close(c);
            break;
        }
    }
}

static size_t build_pollset(worker *w, int listen)
{
    size_t need = w->nconns + 2;
    if (need > w->pcap) {
        size_t cap = need * 2;
        struct pollfd *pfds = vdb_realloc(w->pfds, cap * sizeof(*pfds));
        if (pfds != NULL)
            w->pfds = pfds;
        conn **pconn = vdb_realloc(w->pconn, cap * sizeof(*pconn));
        if (pconn != NULL)
            w->pconn = pconn;
        if (pfds == NULL || pconn == NULL)
            return 0;
        w->pcap = cap;
    }
    size_t n = 0;
    w->pfds[n].fd = w->wake[0];
    w->pfds[n++].events = POLLIN;
    w->pfds[n].fd = listen ? w->server->listen_fd : -1;
    w->pfds[n++].events = POLLIN;
    for (conn *c = w->conns; c; c = c->next) {
        w->pfds[n].fd = c->fd;
        w->pfds[n].events = c->state == C_WRITE ? POLLOUT : POLLIN;
        w->pfds[n].revents = 0;
        w->pconn[n++] = c;
    }
    return n;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    vdb_http_server *s = w->server;
    double last_tick = now_ms();
    while (!atomic_load(&s->stopping)) {
        if (w->listening && !atomic_load(&s->accepting)) {
            w->listening = 0;
            atomic_fetch_add(&s->unlistened, 1);
        }
        int listen = w->listening && now_ms() >= w->accept_pause_until;
        size_t n = build_pollset(w, listen);
        if (n == 0) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        int ready = poll(w->pfds, (nfds_t)n, TICK_MS);
        if (ready > 0) {
            if (w->pfds[0].revents) {
                char drain[64];
                (void)!read(w->wake[0], drain, sizeof(drain));
            }
            for (size_t i = 2; i < n; i++)
                if (w->pfds[i].revents)
                    drive(w->pconn[i]);
            if (listen && w->pfds[1].revents)
                accept_some(w);
        }
        double now = now_ms();
        if (now - last_tick >= TICK_MS) {
            check_deadlines(w, now);
            last_tick = now;
        }
    }
    while (w->conns)
        conn_close(w->conns);
    if (w->listening)
        atomic_fetch_add(&s->unlistened, 1);
    return NULL;
}

static void wake_all(vdb_http_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        (void)!write(s->workers[i].wake[1], "x", 1);
}

static int open_listener(vdb_http_server *s, const vdb_http_options *o, vdb_error *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &addr.sin_addr) != 1)
        return vdb_error_set(err, VDB_EINVAL, "host '%s' is not an IPv4 address", o->host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return vdb_error_set(err, VDB_EIO, "socket: %s", strerror(errno));
    /* SO_REUSEADDR only lets us rebind over TIME_WAIT; unlike SO_REUSEPORT
     * it does not let a second server share a port that is in use. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        return vdb_error_set(err, VDB_EIO, "cannot listen on %s:%u: %s%s", o->host, o->port,
                             strerror(e),
                             e == EADDRINUSE ? " (another server is using this port)" : "");
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    s->listen_fd = fd;
    s->port = ntohs(addr.sin_port);
    return VDB_OK;
}

vdb_http_server *vdb_http_start(const vdb_http_options *options, vdb_http_gate gate,
                                vdb_http_handler handler, vdb_http_done_fn done, void *ctx,
                                vdb_error *err)
{
    vdb_http_server *s = vdb_calloc(1, sizeof(*s));
    if (s == NULL) {
        vdb_error_set(err, VDB_ENOMEM, "out of memory");
        return NULL;
    }
    s->listen_fd = -1;
    s->gate = gate;
    s->handler = handler;
    s->done = done;
    s->ctx = ctx;
    s->opt = *options;
    if (s->opt.max_connections == 0)
        s->opt.max_connections = 1;
    if (s->opt.max_per_peer == 0)
        s->opt.max_per_peer = s->opt.max_connections;
    if (s->opt.header_timeout_s == 0)
        s->opt.header_timeout_s = 10;
    if (s->opt.timeout_s == 0)
        s->opt.timeout_s = 30;
    s->nworkers = options->threads ? options->threads : 1;
    pthread_mutex_init(&s->peers_lock, NULL);
    atomic_store(&s->accepting, 1);
    /* A client that goes away mid-answer must cost an EPIPE, not the
     * process. */
    signal(SIGPIPE, SIG_IGN);
    if (open_listener(s, options, err) != VDB_OK)
        goto fail;
    if ((s->workers = vdb_calloc(s->nworkers, sizeof(worker))) == NULL) {
        vdb_error_set(err, VDB_ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        w->server = s;
        w->listening = 1;
        w->wake[0] = w->wake[1] = -1;
        if (pipe(w->wake) != 0) {
            vdb_error_set(err, VDB_EIO, "pipe: %s", strerror(errno));
            goto stop;
        }
        fcntl(w->wake[0], F_SETFL, O_NONBLOCK);
        fcntl(w->wake[1], F_SETFL, O_NONBLOCK);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            close(w->wake[0]);
            close(w->wake[1]);
            w->wake[0] = -1;
            vdb_error_set(err, VDB_EIO, "cannot start HTTP worker threads");
            goto stop;
        }
    }
    return s;
stop:
    vdb_http_stop(s, 0);
    return NULL;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    pthread_mutex_destroy(&s->peers_lock);
    vdb_free(s);
    return NULL;
}

unsigned vdb_http_port(const vdb_http_server *server)
{
    return server->port;
}

unsigned vdb_http_in_flight(const vdb_http_server *server)
{
    return atomic_load(&((vdb_http_server *)server)->in_flight);
}

void vdb_http_get_stats(const vdb_http_server *server, vdb_http_stats *out)
{
    vdb_http_server *s = (vdb_http_server *)server;
    out->accepted = atomic_load(&s->st_accepted);
    out->open = atomic_load(&s->nconns);
    out->rejected_peer = atomic_load(&s->st_peer);
    out->rejected_full = atomic_load(&s->st_full);
    out->evicted = atomic_load(&s->st_evicted);
    out->timed_out = atomic_load(&s->st_timeout);
    out->malformed = atomic_load(&s->st_malformed);
}

void vdb_http_stop(vdb_http_server *server, unsigned grace_ms)
{
    if (server == NULL)
        return;
    vdb_http_server *s = server;
    unsigned started = 0;
    for (unsigned i = 0; s->workers && i < s->nworkers && s->workers[i].wake[0] >= 0; i++)
        started++;
    /* Stop accepting: every worker drops the listener from its poll set
     * before it is closed, so no accept() can race the close. */
    atomic_store(&s->accepting, 0);
    wake_all(s);
    for (int i = 0; i < 200 && atomic_load(&s->unlistened) < started; i++) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (unsigned waited = 0; waited < grace_ms; waited += 10) {
        if (atomic_load(&s->in_flight) == 0)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    atomic_store(&s->stopping, 1);
    for (unsigned i = 0; i < started; i++) {
        (void)!write(s->workers[i].wake[1], "x", 1);
        pthread_join(s->workers[i].thread, NULL);
        close(s->workers[i].wake[0]);
        close(s->workers[i].wake[1]);
        vdb_free(s->workers[i].pfds);
        vdb_free(s->workers[i].pconn);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    for (size_t b = 0; b < PEER_BUCKETS; b++)
        while (s->peers[b]) {
            peer_entry *e = s->peers[b];
            s->peers[b] = e->next;
            vdb_free(e);
        }
    pthread_mutex_destroy(&s->peers_lock);
    vdb_free(s->workers);
    vdb_free(s);
}
