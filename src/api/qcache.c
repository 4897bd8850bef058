/* LRU query-result cache; see qcache.h. One mutex guards a chained hash
 * table and a doubly linked LRU list: lookups are a hash, a memcmp and a
 * list splice, cheap next to the search they replace. Stale entries (old
 * tag) are never returned and are evicted like any other. */
#include "qcache.h"

#include <pthread.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/hash.h"

#define BUCKETS 4096

typedef struct entry {
    struct entry *next_hash;
    struct entry *prev, *next; /* LRU: head = most recent */
    uint64_t hash;
    uint64_t tag[2];
    vdb_json *results;
    size_t bytes;
    size_t len;
    unsigned char key[]; /* len bytes */
} entry;

/* Its own chained table rather than core/htab: entries are separate
 * variable-size allocations (key inline) with no array to number them by,
 * and each sits on the LRU list too, unlinked from both by pointer. */
struct vdb_qcache {
    pthread_mutex_t mu;
    entry *buckets[BUCKETS];
    entry *head, *tail;
    size_t capacity, max_entries, entries, bytes;
    uint64_t hits, misses, inserts, evictions;
};

vdb_qcache *vdb_qcache_new(size_t capacity_bytes, size_t max_entries)
{
    vdb_qcache *cache = vdb_calloc(1, sizeof(*cache));
    if (cache == NULL)
        return NULL;
    pthread_mutex_init(&cache->mu, NULL);
    cache->capacity = capacity_bytes;
    cache->max_entries = max_entries;
    return cache;
}

static void unlink_lru(vdb_qcache *cache, entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        cache->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        cache->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(vdb_qcache *cache, entry *e)
{
    e->prev = NULL;
    e->next = cache->head;
    if (cache->head != NULL)
        cache->head->prev = e;
    cache->head = e;
    if (cache->tail == NULL)
        cache->tail = e;
}

static void remove_entry(vdb_qcache *cache, entry *e)
{
    entry **link = &cache->buckets[e->hash % BUCKETS];
    while (*link != e)
        link = &(*link)->next_hash;
    *link = e->next_hash;
    unlink_lru(cache, e);
    cache->entries--;
    cache->bytes -= e->bytes;
    vdb_json_decref(e->results);
    vdb_free(e);
}

void vdb_qcache_free(vdb_qcache *cache)
{
    if (cache == NULL)
        return;
    vdb_qcache_clear(cache);
    pthread_mutex_destroy(&cache->mu);
    vdb_free(cache);
}

static entry *find(vdb_qcache *cache, uint64_t hash, const void *key, size_t len)
{
    for (entry *e = cache->buckets[hash % BUCKETS]; e != NULL; e = e->next_hash)
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

vdb_json *vdb_qcache_get(vdb_qcache *cache, const void *key, size_t len, const uint64_t tag[2])
{
    uint64_t hash = vdb_hash_keyed(key, len);
    vdb_json *results = NULL;
    entry *e;
    pthread_mutex_lock(&cache->mu);
    e = find(cache, hash, key, len);
    if (e != NULL && e->tag[0] == tag[0] && e->tag[1] == tag[1]) {
        unlink_lru(cache, e);
        push_front(cache, e);
        results = vdb_json_incref(e->results);
        cache->hits++;
    } else {
        if (e != NULL)
            remove_entry(cache, e); /* the store changed since: never valid again */
        cache->misses++;
    }
    pthread_mutex_unlock(&cache->mu);
    return results;
}

void vdb_qcache_put(vdb_qcache *cache, const void *key, size_t len, const uint64_t tag[2],
                    vdb_json *results, size_t bytes)
{
    uint64_t hash = vdb_hash_keyed(key, len);
    entry *e, *old;
    bytes += sizeof(entry) + len;
    if (bytes > cache->capacity / 4 || cache->max_entries == 0)
        return; /* one entry may take at most a quarter of the budget */
    if ((e = vdb_malloc(sizeof(entry) + len)) == NULL)
        return;
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->tag[0] = tag[0];
    e->tag[1] = tag[1];
    e->results = vdb_json_incref(results);
    e->bytes = bytes;
    e->len = len;
    memcpy(e->key, key, len);
    pthread_mutex_lock(&cache->mu);
    if ((old = find(cache, hash, key, len)) != NULL)
        remove_entry(cache, old);
    while (cache->tail != NULL &&
           (cache->bytes + bytes > cache->capacity || cache->entries + 1 > cache->max_entries)) {
        remove_entry(cache, cache->tail);
        cache->evictions++;
    }
    e->next_hash = cache->buckets[hash % BUCKETS];
    cache->buckets[hash % BUCKETS] = e;
    push_front(cache, e);
    cache->entries++;
    cache->bytes += bytes;
    cache->inserts++;
    pthread_mutex_unlock(&cache->mu);
}

size_t vdb_qcache_clear(vdb_qcache *cache)
{
    size_t removed;
    pthread_mutex_lock(&cache->mu);
    removed = cache->entries;
    while (cache->head != NULL)
        remove_entry(cache, cache->head);
    pthread_mutex_unlock(&cache->mu);
    return removed;
}

void vdb_qcache_get_stats(vdb_qcache *cache, vdb_qcache_stats *stats)
{
    pthread_mutex_lock(&cache->mu);
    stats->hits = cache->hits;
    stats->misses = cache->misses;
    stats->inserts = cache->inserts;
    stats->evictions = cache->evictions;
    stats->entries = cache->entries;
    stats->bytes = cache->bytes;
    stats->capacity_bytes = cache->capacity;
    stats->max_entries = cache->max_entries;
    pthread_mutex_unlock(&cache->mu);
}
