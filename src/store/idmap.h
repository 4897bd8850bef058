/* String id -> u32 row map over core/htab (open addressing, (hash, row)
 * slots, keyed hashing of the client-chosen ids). Keys are not copied: the map
 * stores rows and asks the owner for a row's key through a callback, so each
 * id string exists once (in the vecset). Not thread-safe. */
#ifndef VDB_STORE_IDMAP_H
#define VDB_STORE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vdb_idmap vdb_idmap;

/* Returns the id string of `row` (borrowed from the owner). */
typedef const char *(*vdb_idmap_key_fn)(void *owner, uint32_t row);

/* An empty map whose keys `key_of(owner, row)` gives (owner borrowed for
 * the map's life), hashed under the per-process random key (core/hash.h);
 * freed with vdb_idmap_free (NULL is a no-op). NULL when out of memory. */
vdb_idmap *vdb_idmap_new(vdb_idmap_key_fn key_of, void *owner);
void vdb_idmap_free(vdb_idmap *map);

/* Row for key, or -1. Rows are below UINT32_MAX (core/htab's empty mark). */
int64_t vdb_idmap_get(const vdb_idmap *map, const char *key);

/* Sets key -> row (replacing an existing mapping). 0 or VDB_ENOMEM. */
int vdb_idmap_put(vdb_idmap *map, const char *key, uint32_t row);

/* Removes key; returns 1 if it was present, else 0; never fails. */
int vdb_idmap_remove(vdb_idmap *map, const char *key);

/* Ensures room for `count` entries without rehashing. 0 or VDB_ENOMEM. */
int vdb_idmap_reserve(vdb_idmap *map, size_t count);

/* 1 when vdb_idmap_reserve(map, count) would not rehash, else 0; never
 * fails. */
int vdb_idmap_has_room(const vdb_idmap *map, size_t count);

/* Entries held, and bytes the table takes; never fail. */
size_t vdb_idmap_size(const vdb_idmap *map);
size_t vdb_idmap_memory(const vdb_idmap *map);

/* Renumbers the rows the map holds: row r becomes old_to_new[r] (r <
 * rows), in one pass over the table without hashing an id; a row the map
 * holds must not map to UINT32_MAX (a compaction drops only tombstones,
 * which the map does not hold). The owner's key callback must answer for
 * the new rows from then on. Never fails. */
void vdb_idmap_renumber(vdb_idmap *map, const uint32_t *old_to_new, uint32_t rows);

/* Drops every entry (keeps the table). */
void vdb_idmap_clear(vdb_idmap *map);

#endif
