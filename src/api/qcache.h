/* The query result cache behind /vectors/query and /vectors/batch_query,
 * reported by GET /performance/cache/stats and emptied by POST
 * /performance/cache/clear.
 *
 * Entries map a request's identity (store, k, ef, exact, filter, the query
 * floats) to its results array. Each entry carries the store's cache tag
 * (vdb_store_cache_tag: instance + write generation), so any write to the
 * store, a compaction or a reopen makes its entries unreachable; they age
 * out by LRU within a byte budget. Cached results are immutable JSON shared
 * by reference. All functions are thread-safe. */
#ifndef VDB_API_QCACHE_H
#define VDB_API_QCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/json.h"

typedef struct vdb_qcache vdb_qcache;

typedef struct vdb_qcache_stats {
    uint64_t hits, misses, inserts, evictions;
    size_t entries, bytes, capacity_bytes, max_entries;
} vdb_qcache_stats;

/* capacity_bytes 0 disables the cache (every lookup misses, nothing is
 * kept). NULL on allocation failure. */
vdb_qcache *vdb_qcache_new(size_t capacity_bytes, size_t max_entries);
void vdb_qcache_free(vdb_qcache *cache);

/* A new reference to the cached results for `key` (len bytes) under `tag`,
 * or NULL (counted as a miss). */
vdb_json *vdb_qcache_get(vdb_qcache *cache, const void *key, size_t len, const uint64_t tag[2]);

/* Stores `results` (borrowed: a reference is taken; the caller must not
 * modify it afterwards) for `key` under `tag`; `bytes` estimates its size.
 * Silently does nothing when it does not fit or memory is short. */
void vdb_qcache_put(vdb_qcache *cache, const void *key, size_t len, const uint64_t tag[2],
                    vdb_json *results, size_t bytes);

/* Drops every entry; returns how many there were. */
size_t vdb_qcache_clear(vdb_qcache *cache);

/* Fills *stats under the cache's lock; thread-safe, never fails. */
void vdb_qcache_get_stats(vdb_qcache *cache, vdb_qcache_stats *stats);

#endif
