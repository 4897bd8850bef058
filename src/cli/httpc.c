/* Blocking HTTP/1.1 client (see httpc.h). One connection per request with
 * "Connection: close": the cluster commands make few, large requests
 * (exports, imports, listings), so connection reuse would buy nothing and
 * reading to EOF keeps the framing simple. The answer's framing is still
 * honoured (Content-Length or chunked), so a node that dies mid-answer is
 * an error (VDB_EIO), never a silently truncated archive. */
#include "httpc.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../core/alloc.h"

#define HEAD_MAX (64u * 1024u)

static int dial(const vdb_httpc_request *rq, double timeout_s, vdb_error *err)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", rq->port);
    int gai = getaddrinfo(rq->host, port, &hints, &res);
    if (gai != 0)
        return vdb_error_set(err, VDB_EIO, "cannot resolve %s: %s", rq->host, gai_strerror(gai));
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return vdb_error_set(err, VDB_EIO, "cannot connect to %s:%u: %s", rq->host, rq->port,
                             strerror(errno));
    return fd;
}

static int send_all(int fd, const void *data, size_t len, const vdb_httpc_request *rq,
                    vdb_error *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vdb_error_set(err, VDB_EIO, "sending to %s:%u: %s", rq->host, rq->port,
                                 n < 0 ? strerror(errno) : "connection closed");
        p += n;
        len -= (size_t)n;
    }
    return VDB_OK;
}

/* Reads until EOF into a growing buffer of at most `max` bytes. */
static int read_all(int fd, size_t max, char **out, size_t *len, const vdb_httpc_request *rq,
                    vdb_error *err)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = vdb_malloc(cap + 1);
    if (buf == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                vdb_free(buf);
                return vdb_error_set(err, VDB_ETOOBIG, "answer from %s:%u over %zu bytes",
                                     rq->host, rq->port, max);
            }
            size_t grown = cap * 2 > max ? max : cap * 2;
            char *next = vdb_realloc(buf, grown + 1);
            if (next == NULL) {
                vdb_free(buf);
                return vdb_error_set(err, VDB_ENOMEM, "out of memory for a %zu-byte answer", grown);
            }
            buf = next;
            cap = grown;
        }
        ssize_t got = recv(fd, buf + n, cap - n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            vdb_free(buf);
            return vdb_error_set(err, VDB_EIO, "receiving from %s:%u: %s", rq->host, rq->port,
                                 errno == EAGAIN ? "timed out" : strerror(errno));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return VDB_OK;
}

/* The value of header `name` in the head [head, end), copied into out. */
static int header(const char *head, const char *end, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL && line + 2 < end;
         line = strstr(line + 2, "\r\n")) {
        const char *p = line + 2;
        if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            size_t v = strcspn(p, "\r\n");
            if (v >= size)
                v = size - 1;
            memcpy(out, p, v);
            out[v] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Decodes a chunked body in place; VDB_EIO when it ends before the last
 * (zero-size) chunk: the sender died mid-answer. */
static int dechunk(char *body, size_t len, size_t *out_len, const vdb_httpc_request *rq,
                   vdb_error *err)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *endp;
        if (in >= len)
            break;
        unsigned long long size = strtoull(body + in, &endp, 16);
        char *eol = strstr(body + in, "\r\n");
        if (endp == body + in || eol == NULL)
            break;
        in = (size_t)(eol - body) + 2;
        if (size == 0) {
            *out_len = out;
            body[out] = '\0';
            return VDB_OK;
        }
        if (size > len - in || len - in - size < 2)
            break;
        memmove(body + out, body + in, size);
        out += size;
        in += size + 2;
    }
    return vdb_error_set(err, VDB_EIO, "answer from %s:%u ended mid-body (chunked)", rq->host,
                         rq->port);
}

static int parse(char *raw, size_t len, vdb_httpc_response *out, const vdb_httpc_request *rq,
                 vdb_error *err)
{
    char value[64];
    char *end = strstr(raw, "\r\n\r\n");
    int status = 0;
    if (end == NULL || (size_t)(end - raw) > HEAD_MAX || sscanf(raw, "HTTP/1.%*d %d", &status) != 1 ||
        status < 100 || status > 599)
        return vdb_error_set(err, len == 0 ? VDB_EIO : VDB_EPARSE, "%s from %s:%u",
                             len == 0 ? "no answer" : "not an HTTP answer", rq->host, rq->port);
    end += 2; /* keep the last header's CRLF: header() scans line starts */
    char *body = end + 2;
    size_t body_len = len - (size_t)(body - raw);
    out->status = status;
    header(raw, end, "Content-Type", out->content_type, sizeof(out->content_type));
    header(raw, end, "Retry-After", out->retry_after, sizeof(out->retry_after));
    header(raw, end, "X-Vdb-Wal-Lsn", out->wal_lsn, sizeof(out->wal_lsn));
    if (header(raw, end, "Transfer-Encoding", value, sizeof(value)) && strcasestr(value, "chunked")) {
        int rc = dechunk(body, body_len, &body_len, rq, err);
        if (rc != VDB_OK)
            return rc;
    } else if (header(raw, end, "Content-Length", value, sizeof(value))) {
        unsigned long long want = strtoull(value, NULL, 10);
        if (want > body_len)
            return vdb_error_set(err, VDB_EIO, "answer from %s:%u ended at %zu of %llu bytes",
                                 rq->host, rq->port, body_len, want);
        body_len = (size_t)want;
    }
    memmove(raw, body, body_len);
    raw[body_len] = '\0';
    out->body = raw;
    out->body_len = body_len;
    return VDB_OK;
}

int vdb_httpc_send(const vdb_httpc_request *rq, vdb_httpc_response *out, vdb_error *err)
{
    char head[2048];
    char *raw = NULL;
    size_t raw_len = 0;
    vdb_httpc_response resp;
    memset(&resp, 0, sizeof(resp));
    double timeout = rq->timeout_s > 0 ? rq->timeout_s : 30.0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n"
                     "User-Agent: vdb-cluster/" VDB_VERSION "\r\n",
                     rq->method, rq->target, rq->host, rq->port);
    if (rq->api_key != NULL && n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "X-API-Key: %s\r\n", rq->api_key);
    if (rq->content_type != NULL && n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n", rq->content_type);
    if (rq->extra_header != NULL && n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n", rq->extra_header);
    if (n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n\r\n",
                      rq->body_len);
    if (n < 0 || (size_t)n >= sizeof(head))
        return vdb_error_set(err, VDB_EINVAL, "request head too long");
    int fd = dial(rq, timeout, err);
    if (fd < 0)
        return fd;
    int rc = send_all(fd, head, (size_t)n, rq, err);
    if (rc == VDB_OK && rq->body_len > 0)
        rc = send_all(fd, rq->body, rq->body_len, rq, err);
    if (rc == VDB_OK)
        rc = read_all(fd, rq->max_response ? rq->max_response : (size_t)1 << 30, &raw, &raw_len,
                      rq, err);
    close(fd);
    if (rc == VDB_OK)
        rc = parse(raw, raw_len, &resp, rq, err);
    if (rc != VDB_OK) {
        vdb_free(raw);
        return rc;
    }
    *out = resp;
    return VDB_OK;
}

void vdb_httpc_response_free(vdb_httpc_response *response)
{
    if (response == NULL)
        return;
    vdb_free(response->body);
    response->body = NULL;
}
