/* Token buckets (see ratelimit.h). A bucket stores its tokens and the time
 * they were last computed; refill is done lazily on each take, so idle
 * buckets cost nothing. Sixteen shards, each a small open hash table with
 * its own mutex, keep contention low under many keys. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/hash.h"

#define SHARDS 16
#define SHARD_SLOTS (VDB_RATELIMIT_MAX_BUCKETS / SHARDS)
#define IDENT_MAX 72

typedef struct bucket {
    int used;
    unsigned klass;
    char identity[IDENT_MAX];
    double tokens;
    double stamp;
} bucket;

/* Fixed-size shards, not a growing map (core/htab): a
 * client inventing identities must not grow memory, so a full shard fails
 * open after sweeping idle buckets, and each shard has its own lock. */
typedef struct shard {
    pthread_mutex_t lock;
    size_t count;
    bucket slots[SHARD_SLOTS];
} shard;

struct vdb_ratelimit {
    double rate[VDB_RATELIMIT_CLASSES];
    double burst[VDB_RATELIMIT_CLASSES];
    size_t nclasses;
    shard *shards;
};

int vdb_ratelimit_new(const double *rates, const double *bursts, size_t nclasses,
                      vdb_ratelimit **out, vdb_error *err)
{
    *out = NULL;
    if (nclasses > VDB_RATELIMIT_CLASSES)
        return vdb_error_set(err, VDB_EINVAL, "at most %d rate classes", VDB_RATELIMIT_CLASSES);
    vdb_ratelimit *limiter = vdb_calloc(1, sizeof(*limiter));
    if (limiter == NULL || (limiter->shards = vdb_calloc(SHARDS, sizeof(shard))) == NULL) {
        vdb_free(limiter);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for the rate limiter");
    }
    limiter->nclasses = nclasses;
    for (size_t i = 0; i < nclasses; i++) {
        limiter->rate[i] = rates[i];
        limiter->burst[i] = bursts[i] > 0 ? bursts[i] : (rates[i] >= 1 ? rates[i] : 1);
    }
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_init(&limiter->shards[i].lock, NULL);
    *out = limiter;
    return VDB_OK;
}

void vdb_ratelimit_free(vdb_ratelimit *limiter)
{
    if (limiter == NULL)
        return;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&limiter->shards[i].lock);
    vdb_free(limiter->shards);
    vdb_free(limiter);
}

/* Keyed (identities include client addresses), so a client cannot choose
 * identities that all probe the same slots. */
static uint64_t hash(unsigned klass, const char *s)
{
    char key[IDENT_MAX + 4];
    size_t n = strnlen(s, IDENT_MAX - 1);
    key[0] = (char)klass;
    memcpy(key + 1, s, n);
    return vdb_hash_keyed(key, n + 1);
}

static double refilled(const vdb_ratelimit *l, const bucket *b, double now)
{
    double tokens = b->tokens + (now - b->stamp) * l->rate[b->klass];
    return tokens > l->burst[b->klass] ? l->burst[b->klass] : tokens;
}

/* Drops the buckets of a full shard that are back to full (a new bucket
 * would look the same), rebuilding the table without them. */
static void sweep(const vdb_ratelimit *l, shard *sh, double now)
{
    /* Linear probing has no tombstones: after clearing, every survivor is
     * taken out and reinserted from its home slot. */
    for (size_t i = 0; i < SHARD_SLOTS; i++)
        if (sh->slots[i].used && refilled(l, &sh->slots[i], now) >= l->burst[sh->slots[i].klass]) {
            sh->slots[i].used = 0;
            sh->count--;
        }
    for (size_t i = 0; i < SHARD_SLOTS; i++) {
        if (!sh->slots[i].used)
            continue;
        bucket b = sh->slots[i];
        sh->slots[i].used = 0;
        size_t j = (size_t)(hash(b.klass, b.identity) / SHARDS % SHARD_SLOTS);
        while (sh->slots[j].used)
            j = (j + 1) % SHARD_SLOTS;
        sh->slots[j] = b;
    }
}

int vdb_ratelimit_take(vdb_ratelimit *l, unsigned klass, const char *identity, double now,
                       vdb_ratelimit_result *out)
{
    memset(out, 0, sizeof(*out));
    out->allowed = 1;
    if (klass >= l->nclasses || l->rate[klass] <= 0)
        return 1;
    out->limit = (unsigned)l->burst[klass];
    uint64_t h = hash(klass, identity);
    shard *sh = &l->shards[h % SHARDS];
    pthread_mutex_lock(&sh->lock);
    size_t j = (size_t)(h / SHARDS % SHARD_SLOTS);
    bucket *b = NULL;
    for (size_t probes = 0; probes < SHARD_SLOTS; probes++, j = (j + 1) % SHARD_SLOTS) {
        bucket *s = &sh->slots[j];
        if (!s->used)
            break;
        if (s->klass == klass && strncmp(s->identity, identity, IDENT_MAX - 1) == 0) {
            b = s;
            break;
        }
    }
    if (b == NULL) {
        /* Keep the table at most 3/4 full so probes stay short. */
        if (sh->count >= SHARD_SLOTS * 3 / 4) {
            sweep(l, sh, now);
            if (sh->count >= SHARD_SLOTS * 3 / 4) {
                pthread_mutex_unlock(&sh->lock);
                out->remaining = out->limit;
                return 1; /* fail open */
            }
            j = (size_t)(h / SHARDS % SHARD_SLOTS);
            while (sh->slots[j].used)
                j = (j + 1) % SHARD_SLOTS;
        }
        b = &sh->slots[j];
        memset(b, 0, sizeof(*b));
        b->used = 1;
        b->klass = klass;
        strncpy(b->identity, identity, IDENT_MAX - 1);
        b->tokens = l->burst[klass];
        b->stamp = now;
        sh->count++;
    }
    b->tokens = refilled(l, b, now);
    b->stamp = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        out->allowed = 0;
        out->retry_after_s = (1.0 - b->tokens) / l->rate[klass];
    }
    out->remaining = (unsigned)b->tokens;
    out->reset_s = (l->burst[klass] - b->tokens) / l->rate[klass];
    pthread_mutex_unlock(&sh->lock);
    return out->allowed;
}
