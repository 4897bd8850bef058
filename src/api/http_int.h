/* Internals shared by the HTTP server's two files: http.c (workers,
 * accepting, deadlines, start/stop, per-peer counts) and http_conn.c (one
 * connection's state machine: reading the head and body, answering,
 * lingering close). Not for use outside src/api/http*.c. */
#ifndef VDB_API_HTTP_INT_H
#define VDB_API_HTTP_INT_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "http.h"
#include "httpparse.h"

#define LINGER_MS 2000 /* lingering close after an early answer */
#define PEER_BUCKETS 1024

enum { VDB_HTTP_C_HEAD, VDB_HTTP_C_BODY, VDB_HTTP_C_WRITE, VDB_HTTP_C_DRAIN };

#define VDB_HTTP_SPARE_SLOTS 8

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
    /* A streamed answer (server-sent events): the handler's reader fills
     * out_body again each time it has been sent; the body ends when the
     * reader returns 0 and the connection closes (no Content-Length). */
    long (*reader)(void *ctx, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *reader_ctx;
    /* A parked stream (its reader answered VDB_HTTP_STREAM_LATER): not
     * polled for writing; the worker drives it again at this time (ms,
     * monotonic; 0 when not parked). */
    double resume_at;
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
    double next_resume; /* earliest resume_at of a parked stream, 0 when none */
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
    unsigned started; /* workers whose thread is running */
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
    /* Finished requests' body buffers, kept for the next request on any
     * connection (http_conn.c: spare_take / spare_put); freed at stop. */
    pthread_mutex_t spare_lock;
    char *spare[VDB_HTTP_SPARE_SLOTS];
    size_t spare_cap[VDB_HTTP_SPARE_SLOTS];
    size_t spare_total;
    atomic_uint_fast64_t st_accepted, st_peer, st_full, st_evicted, st_timeout, st_malformed;
};

static inline double vdb_http__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs a connection until it must wait for the network (may close it). */
void vdb_http__drive(conn *c);
/* Closes and frees a connection (ends its request, uncounts its peer). */
void vdb_http__conn_close(conn *c);
/* Queues a JSON error answer; the connection closes after it. */
void vdb_http__answer_error(conn *c, int status, const char *msg);
/* Answers on a just-accepted socket we will not read from, and closes it. */
void vdb_http__refuse(int fd, int status, const char *msg);
/* Frees the kept body buffers (http_conn.c); at stop, with no worker left. */
void vdb_http__spares_free(vdb_http_server *server);
/* One connection fewer for this peer address (http.c). */
void vdb_http__peer_leave(vdb_http_server *server, const unsigned char *key, size_t len);

#endif
