/* Token-bucket rate limiting: one bucket per (class, identity), where the
 * API uses route classes (query, add, batch, admin, public) and the key id
 * or, for public routes, the peer address as identity. Each class has a
 * rate (tokens per second, 0 = unlimited) and a burst (bucket size).
 *
 * Memory is bounded: at most VDB_RATELIMIT_MAX_BUCKETS buckets; when the
 * table is full, buckets that have refilled completely (indistinguishable
 * from new ones) are dropped, and if none has, the request is allowed
 * rather than tracked (fail open: a limiter must not lock everyone out).
 *
 * Thread-safe (sharded mutexes). Owned by the caller: _new/_free. */
#ifndef VDB_API_RATELIMIT_H
#define VDB_API_RATELIMIT_H

#include <stddef.h>

#include "../core/err.h"

#define VDB_RATELIMIT_CLASSES 8
#define VDB_RATELIMIT_MAX_BUCKETS 65536

typedef struct vdb_ratelimit vdb_ratelimit;

typedef struct vdb_ratelimit_result {
    int allowed;
    unsigned limit;        /* burst of the class */
    unsigned remaining;    /* whole tokens left after this request */
    double retry_after_s;  /* when denied: until one token is back */
    double reset_s;        /* until the bucket is full again */
} vdb_ratelimit_result;

/* rates[i] tokens per second and bursts[i] tokens for class i (nclasses <=
 * VDB_RATELIMIT_CLASSES; a burst of 0 means one second's worth), into *out
 * (NULL on failure). Errors: VDB_ENOMEM, VDB_EINVAL (too many classes). */
int vdb_ratelimit_new(const double *rates, const double *bursts, size_t nclasses,
                      vdb_ratelimit **out, vdb_error *err);
void vdb_ratelimit_free(vdb_ratelimit *limiter);

/* Takes one token from (klass, identity) at time now_s (monotonic
 * seconds). Fills *out; returns out->allowed (1 or 0); never fails. */
int vdb_ratelimit_take(vdb_ratelimit *limiter, unsigned klass, const char *identity, double now_s,
                       vdb_ratelimit_result *out);

#endif
