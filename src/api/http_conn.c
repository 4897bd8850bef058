/* One HTTP connection's state machine (see http_int.h): HEAD (reading
 * the request head) -> BODY -> WRITE -> HEAD again for keep-alive, or
 * DRAIN (reading and discarding what the client still sends after an early
 * answer, for at most LINGER_MS, so it sees the answer rather than a
 * reset). Each step returns GO_ON, WAIT (for the network) or CLOSE;
 * vdb_http__drive loops over them. */
#include "http_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "../core/alloc.h"

#define TRIM_AFTER_BYTES (4u << 20) /* give memory back after requests this big */

/* Request body buffers are kept for the next request, on any connection:
 * a fresh buffer is zeroed and faulted in by the kernel page by page, and
 * on a VM that hands freed memory back to its host (free page reporting)
 * first touch ran at 0.1-0.3 GB/s against 3-12 GB/s for memory touched
 * before (measured, BENCHMARKS.md issue 12, 14:12 UTC): receiving a
 * 150 MB upload into fresh memory cost more than parsing and logging it.
 * One pool for the server rather than one spare per connection: a loader
 * that opens a connection per request (curl in a loop, a client without a
 * session) reuses too, and an idle connection pins nothing. Bounded per
 * buffer and in total; small bodies come from malloc's own free lists. */
#define SPARE_MIN ((size_t)1 << 20)
#define SPARE_MAX_ONE ((size_t)256 << 20)
#define SPARE_BUDGET ((size_t)320 << 20)

/* Takes the smallest kept buffer with room for `need` bytes; NULL when
 * there is none. */
static char *spare_take(vdb_http_server *s, size_t need, size_t *cap)
{
    char *buf = NULL;
    int best = -1;
    if (need < SPARE_MIN)
        return NULL;
    pthread_mutex_lock(&s->spare_lock);
    for (int i = 0; i < VDB_HTTP_SPARE_SLOTS; i++)
        if (s->spare[i] != NULL && s->spare_cap[i] >= need &&
            (best < 0 || s->spare_cap[i] < s->spare_cap[best]))
            best = i;
    if (best >= 0) {
        buf = s->spare[best];
        *cap = s->spare_cap[best];
        s->spare_total -= s->spare_cap[best];
        s->spare[best] = NULL;
        s->spare_cap[best] = 0;
    }
    pthread_mutex_unlock(&s->spare_lock);
    return buf;
}

/* Keeps a finished request's body buffer when the bounds allow, in a free
 * slot or in place of a smaller one (which is freed); 1 when kept (the
 * caller must not free it). */
static int spare_put(vdb_http_server *s, char *buf, size_t cap)
{
    char *evicted = NULL;
    int slot = -1;
    if (buf == NULL || cap < SPARE_MIN || cap > SPARE_MAX_ONE)
        return 0;
    pthread_mutex_lock(&s->spare_lock);
    for (int i = 0; i < VDB_HTTP_SPARE_SLOTS && slot < 0; i++)
        if (s->spare[i] == NULL && s->spare_total + cap <= SPARE_BUDGET)
            slot = i;
    for (int i = 0; i < VDB_HTTP_SPARE_SLOTS && slot < 0; i++)
        if (s->spare[i] != NULL && s->spare_cap[i] < cap &&
            s->spare_total - s->spare_cap[i] + cap <= SPARE_BUDGET)
            slot = i;
    if (slot >= 0) {
        evicted = s->spare[slot];
        s->spare_total += cap - s->spare_cap[slot];
        s->spare[slot] = buf;
        s->spare_cap[slot] = cap;
    }
    pthread_mutex_unlock(&s->spare_lock);
    vdb_free(evicted);
    return slot >= 0;
}

void vdb_http__spares_free(vdb_http_server *s)
{
    for (int i = 0; i < VDB_HTTP_SPARE_SLOTS; i++) {
        vdb_free(s->spare[i]);
        s->spare[i] = NULL;
        s->spare_cap[i] = 0;
    }
    s->spare_total = 0;
}

#define STREAM_BUF 16384u                /* one reader call's output at most */

enum { GO_ON, WAIT, CLOSE };

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
void vdb_http__refuse(int fd, int status, const char *msg)
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
    if (resp->reader != NULL && !no_body && !head_only)
        c->close_after = 1; /* a stream is delimited by the close */
    else if (!no_body)
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
        if (resp->reader != NULL && resp->reader_free != NULL)
            resp->reader_free(resp->reader_ctx);
    } else if (resp->reader != NULL) {
        vdb_free(resp->body);
        c->out_body = vdb_malloc(STREAM_BUF);
        c->out_body_len = 0;
        c->reader = resp->reader;
        c->reader_free = resp->reader_free;
        c->reader_ctx = resp->reader_ctx;
        if (c->out_body == NULL) {
            c->reader = NULL; /* the head goes out; the body ends at once */
            if (resp->reader_free != NULL)
                resp->reader_free(resp->reader_ctx);
        }
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
    resp->reader = NULL;
    c->state = VDB_HTTP_C_WRITE;
    c->phase_start = vdb_http__now_ms();
    c->moved = 0;
    return 0;
}

static void begin_request(conn *c)
{
    if (!c->active) {
        c->active = 1;
        c->req_start = vdb_http__now_ms();
        atomic_fetch_add(&c->w->server->in_flight, 1);
    }
}

/* A transport-level error answer; the connection closes after it. */
void vdb_http__answer_error(conn *c, int status, const char *msg)
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
        c->state = VDB_HTTP_C_DRAIN;
    }
}

static void end_request(conn *c, int completed)
{
    vdb_http_server *s = c->w->server;
    if (c->active) {
        if (s->done != NULL)
            s->done(s->ctx, completed ? c->status : 0, (vdb_http__now_ms() - c->req_start) / 1e3);
        atomic_fetch_sub(&s->in_flight, 1);
        c->active = 0;
    }
    size_t big = c->out_body_len;
    if (!spare_put(s, c->body, c->body_cap)) {
        big += c->body_cap;
        vdb_free(c->body);
    }
    vdb_free(c->head_buf);
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
    if (c->reader != NULL && c->reader_free != NULL)
        c->reader_free(c->reader_ctx);
    c->reader = NULL;
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
    /* Neither Content-Length nor chunked: the body is empty (RFC 9112 6.3),
     * so such a DELETE is not refused as a JSON body of no type. */
    req->content_length = c->head.chunked               ? -1
                          : c->head.content_length < 0 ? 0
                                                       : c->head.content_length;
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
            c->first_byte = vdb_http__now_ms();
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
    /* A declared length is allocated whole (it is under the body limit:
     * larger was answered 413 from the head): growing by doubling copied a
     * 150 MB upload four times over. Untouched pages cost nothing, so a
     * client that declares much and sends little holds no memory. */
    size_t first = 64 * 1024;
    if (!c->head.chunked && c->head.content_length >= 0)
        first = (size_t)c->head.content_length;
    if (first + 1 > s->opt.max_body_bytes + 1)
        first = s->opt.max_body_bytes;
    if ((c->body = spare_take(s, first + 1, &c->body_cap)) == NULL) {
        if ((c->body = vdb_malloc(first + 1)) == NULL)
            return CLOSE;
        c->body_cap = first + 1;
    }
    c->body[0] = '\0';
    c->state = VDB_HTTP_C_BODY;
    c->phase_start = vdb_http__now_ms();
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
            vdb_http__answer_error(c, 431, "request head larger than 16384 bytes");
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
        vdb_http__answer_error(c, status, why);
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
        vdb_http__answer_error(c, 413, "request body too large");
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
            vdb_http__answer_error(c, 400, why);
            return GO_ON;
        }
        if (rc == VDB_HTTP_CHUNK_DATA) {
            int status = body_append(c, data, len);
            if (status != 0) {
                consume(c, c->in_len);
                vdb_http__answer_error(c, status, status == 413 ? "request body exceeds the limit"
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
    size_t mem;
    int refilled = 0;
refill:
    mem = c->out_head_len + c->out_body_len;
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
    if (c->reader != NULL) {
        /* One reader call per turn of the event loop, so the worker's other
         * connections are served between events. A reader with no event
         * yet parks the connection instead of waiting on this thread: the
         * worker resumes it after VDB_HTTP_STREAM_RETRY_MS (http.c). */
        if (refilled)
            return WAIT;
        refilled = 1;
        long n = c->reader(c->reader_ctx, c->out_body, STREAM_BUF);
        if (n == VDB_HTTP_STREAM_LATER) {
            double now = vdb_http__now_ms();
            c->resume_at = now + VDB_HTTP_STREAM_RETRY_MS;
            /* Nothing is owed to the client while parked, so the transfer
             * deadline restarts rather than counting the producer's wait. */
            c->phase_start = now;
            c->moved = 0;
            return WAIT;
        }
        if (n < 0)
            return CLOSE;
        if (n > 0) {
            c->out_body_len = (size_t)n;
            c->out_off = c->out_head_len;
            c->phase_start = vdb_http__now_ms();
            c->moved = 0;
            goto refill;
        }
    }
    end_request(c, 1);
    if (c->close_after) {
        shutdown(c->fd, SHUT_WR);
        c->state = VDB_HTTP_C_DRAIN;
        c->phase_start = vdb_http__now_ms();
        return GO_ON;
    }
    c->state = VDB_HTTP_C_HEAD;
    c->wait_start = vdb_http__now_ms();
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

void vdb_http__conn_close(conn *c)
{
    worker *w = c->w;
    vdb_http_server *s = w->server;
    end_request(c, 0);
    close(c->fd);
    vdb_http__peer_leave(s, c->peer_key, c->peer_key_len);
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
void vdb_http__drive(conn *c)
{
    for (int guard = 0; guard < 1024; guard++) {
        int rc;
        switch (c->state) {
        case VDB_HTTP_C_HEAD: rc = step_head(c); break;
        case VDB_HTTP_C_BODY: rc = step_body(c); break;
        case VDB_HTTP_C_WRITE: rc = step_write(c); break;
        default: rc = step_drain(c); break;
        }
        if (rc == WAIT)
            return;
        if (rc == CLOSE) {
            vdb_http__conn_close(c);
            return;
        }
    }
}

