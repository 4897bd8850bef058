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
 * reset). Every 250 ms a worker checks its connections' deadlines. A
 * streamed answer whose reader has no event yet is parked (not polled,
 * resumed by the worker's clock), so long-lived streams never hold a
 * worker. */
#include "http.h"
#include "http_int.h"

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
#include <time.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "httpparse.h"

#define TICK_MS 250
#define IDLE_UNDER_PRESSURE_MS 1000 /* idle connections dropped when nearly full */
#define ACCEPT_BATCH 64

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

/* A small chained table of its own rather than core/htab: an entry owns
 * its key and count and is freed when the count drops to zero, all under
 * the server's lock; there is no owner array for htab references to index. */

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

void vdb_http__peer_leave(vdb_http_server *s, const unsigned char *key, size_t len)
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

/* The connection that has waited longest for a request head, to make room
 * for a new one; NULL when every connection is busy with a request. */
static conn *oldest_waiting(worker *w)
{
    conn *best = NULL;
    for (conn *c = w->conns; c; c = c->next)
        if (c->state == VDB_HTTP_C_HEAD && !c->active && (best == NULL || c->wait_start < best->wait_start))
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
                    vdb_http__conn_close(victim);
                }
                w->accept_pause_until = vdb_http__now_ms() + 50;
            }
            return;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn *c = vdb_calloc(1, sizeof(*c));
        if (c == NULL) {
            vdb_http__refuse(fd, 503, "out of memory");
            continue;
        }
        c->fd = fd;
        c->file_fd = -1;
        c->w = w;
        peer_of(&ss, c);
        if (peer_enter(s, c->peer_key, c->peer_key_len) != 0) {
            atomic_fetch_add(&s->st_peer, 1);
            vdb_free(c);
            vdb_http__refuse(fd, 429, "too many connections from this address");
            continue;
        }
        if (w->nconns >= share) {
            conn *victim = oldest_waiting(w);
            if (victim == NULL) {
                atomic_fetch_add(&s->st_full, 1);
                vdb_http__peer_leave(s, c->peer_key, c->peer_key_len);
                vdb_free(c);
                vdb_http__refuse(fd, 503, "server at its connection limit");
                continue;
            }
            atomic_fetch_add(&s->st_evicted, 1);
            vdb_http__conn_close(victim);
        }
        c->state = VDB_HTTP_C_HEAD;
        c->wait_start = vdb_http__now_ms();
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
        case VDB_HTTP_C_HEAD:
            if (c->first_byte == 0) {
                double limit = pressure ? IDLE_UNDER_PRESSURE_MS : idle_ms;
                if (now - c->wait_start > limit) {
                    atomic_fetch_add(pressure ? &s->st_evicted : &s->st_timeout, 1);
                    vdb_http__conn_close(c);
                }
            } else if (now - c->first_byte > header_ms) {
                atomic_fetch_add(&s->st_timeout, 1);
                c->in_len = 0;
                vdb_http__answer_error(c, 408, "request head not received in time");
                vdb_http__drive(c);
            }
            break;
        case VDB_HTTP_C_BODY:
            allowed = header_ms + (double)c->moved * 1e3 / VDB_HTTP_MIN_RATE;
            if (now - c->phase_start > allowed) {
                atomic_fetch_add(&s->st_timeout, 1);
                c->in_len = 0;
                vdb_http__answer_error(c, 408, "request body not received in time");
                vdb_http__drive(c);
            }
            break;
        case VDB_HTTP_C_WRITE:
            allowed = header_ms + (double)c->moved * 1e3 / VDB_HTTP_MIN_RATE;
            if (now - c->phase_start > allowed) {
                atomic_fetch_add(&s->st_timeout, 1);
                vdb_http__conn_close(c);
            }
            break;
        default:
            if (now - c->phase_start > LINGER_MS)
                vdb_http__conn_close(c);
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
    w->next_resume = 0;
    w->pfds[n].fd = w->wake[0];
    w->pfds[n++].events = POLLIN;
    w->pfds[n].fd = listen ? w->server->listen_fd : -1;
    w->pfds[n++].events = POLLIN;
    for (conn *c = w->conns; c; c = c->next) {
        w->pfds[n].fd = c->fd;
        w->pfds[n].events = c->state == VDB_HTTP_C_WRITE ? POLLOUT : POLLIN;
        if (c->resume_at > 0) {
            /* A parked stream: only a hang-up or an error wakes it early. */
            w->pfds[n].events = 0;
            if (w->next_resume == 0 || c->resume_at < w->next_resume)
                w->next_resume = c->resume_at;
        }
        w->pfds[n].revents = 0;
        w->pconn[n++] = c;
    }
    return n;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    vdb_http_server *s = w->server;
    double last_tick = vdb_http__now_ms();
    while (!atomic_load(&s->stopping)) {
        if (w->listening && !atomic_load(&s->accepting)) {
            w->listening = 0;
            atomic_fetch_add(&s->unlistened, 1);
        }
        int listen = w->listening && vdb_http__now_ms() >= w->accept_pause_until;
        size_t n = build_pollset(w, listen);
        if (n == 0) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        int timeout = TICK_MS;
        if (w->next_resume > 0) {
            double due = w->next_resume - vdb_http__now_ms();
            timeout = due <= 0 ? 0 : due < TICK_MS ? (int)due + 1 : TICK_MS;
        }
        int ready = poll(w->pfds, (nfds_t)n, timeout);
        if (ready > 0) {
            if (w->pfds[0].revents) {
                char drain[64];
                (void)!read(w->wake[0], drain, sizeof(drain));
            }
            for (size_t i = 2; i < n; i++) {
                if (!w->pfds[i].revents)
                    continue;
                if (w->pconn[i]->resume_at > 0)
                    vdb_http__conn_close(w->pconn[i]); /* a parked stream's peer is gone */
                else
                    vdb_http__drive(w->pconn[i]);
            }
            if (listen && w->pfds[1].revents)
                accept_some(w);
        }
        double now = vdb_http__now_ms();
        if (w->next_resume > 0 && now >= w->next_resume) {
            conn *next;
            for (conn *c = w->conns; c; c = next) {
                next = c->next; /* driving c may close (and free) it, never another */
                if (c->resume_at > 0 && now >= c->resume_at) {
                    c->resume_at = 0;
                    vdb_http__drive(c);
                }
            }
        }
        if (now - last_tick >= TICK_MS) {
            check_deadlines(w, now);
            last_tick = now;
        }
    }
    while (w->conns)
        vdb_http__conn_close(w->conns);
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

int vdb_http_start(const vdb_http_options *options, vdb_http_gate gate, vdb_http_handler handler,
                   vdb_http_done_fn done, void *ctx, vdb_http_server **out, vdb_error *err)
{
    int rc;
    *out = NULL;
    vdb_http_server *s = vdb_calloc(1, sizeof(*s));
    if (s == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
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
    pthread_mutex_init(&s->spare_lock, NULL);
    atomic_store(&s->accepting, 1);
    /* A client that goes away mid-answer must cost an EPIPE, not the
     * process. */
    signal(SIGPIPE, SIG_IGN);
    if ((rc = open_listener(s, options, err)) != VDB_OK)
        goto fail;
    if ((s->workers = vdb_calloc(s->nworkers, sizeof(worker))) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
        goto fail;
    }
    /* Before the first pthread_create, which orders this store before
     * anything the workers do. */
    if (options->publish != NULL)
        *options->publish = s;
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        w->server = s;
        w->listening = 1;
        w->wake[0] = w->wake[1] = -1;
        if (pipe(w->wake) != 0) {
            rc = vdb_error_set(err, VDB_EIO, "pipe: %s", strerror(errno));
            goto stop;
        }
        fcntl(w->wake[0], F_SETFL, O_NONBLOCK);
        fcntl(w->wake[1], F_SETFL, O_NONBLOCK);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            close(w->wake[0]);
            close(w->wake[1]);
            w->wake[0] = -1;
            rc = vdb_error_set(err, VDB_EIO, "cannot start HTTP worker threads");
            goto stop;
        }
        s->started++;
    }
    *out = s;
    return VDB_OK;
stop:
    vdb_http_stop(s, 0);
    if (options->publish != NULL)
        *options->publish = NULL;
    return rc;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    pthread_mutex_destroy(&s->peers_lock);
    pthread_mutex_destroy(&s->spare_lock);
    vdb_free(s);
    return rc;
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
    unsigned started = s->started;
    /* Stop accepting: every worker drops the listener from its poll set
     * before it is closed, so no accept() can race the close. */
    atomic_store(&s->accepting, 0);
    wake_all(s);
    for (int i = 0; i < 200 && atomic_load(&s->unlistened) < started; i++) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    /* Close the port now, not after the grace period and the stores'
     * shutdown: new connections are refused at once (a proxy answers 503
     * or tries elsewhere) instead of waiting in the kernel's backlog for
     * a server that will never accept them (which HAProxy answered 502). */
    if (atomic_load(&s->unlistened) >= started && s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
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
    /* A worker whose pipe was made but whose thread did not start. */
    if (s->workers && started < s->nworkers && s->workers[started].wake[0] >= 0 &&
        s->workers[started].wake[1] >= 0) {
        close(s->workers[started].wake[0]);
        close(s->workers[started].wake[1]);
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
    vdb_http__spares_free(s);
    pthread_mutex_destroy(&s->spare_lock);
    vdb_free(s->workers);
    vdb_free(s);
}
