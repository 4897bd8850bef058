/* Open-addressing hash map from id strings to rows; see idmap.h.
 *
 * Each slot holds the key's 64-bit hash and its row; keys themselves stay in
 * the owner (looked up by row on a hash match), so the map costs 12-16 bytes
 * per id. Deletion uses backward-shift (no tombstones), so lookups never
 * degrade after many deletes. Load factor is kept below 1/2. */
#include "idmap.h"

#include <string.h>

#include "../core/alloc.h"
#include "../core/err.h"
#include "../core/hash.h"

#define EMPTY_ROW UINT32_MAX

typedef struct slot {
    uint64_t hash;
    uint32_t row;
} slot;

struct vdb_idmap {
    slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t size;
    vdb_idmap_key_fn key_of;
    void *owner;
};

static slot *alloc_slots(size_t capacity)
{
    slot *slots = vdb_malloc(capacity * sizeof(slot));
    if (slots == NULL)
        return NULL;
    for (size_t i = 0; i < capacity; i++)
        slots[i].row = EMPTY_ROW;
    return slots;
}

vdb_idmap *vdb_idmap_new(vdb_idmap_key_fn key_of, void *owner)
{
    vdb_idmap *map = vdb_calloc(1, sizeof(*map));
    if (map == NULL)
        return NULL;
    map->slots = alloc_slots(16);
    if (map->slots == NULL) {
        vdb_free(map);
        return NULL;
    }
    map->mask = 15;
    map->key_of = key_of;
    map->owner = owner;
    return map;
}

void vdb_idmap_free(vdb_idmap *map)
{
    if (map == NULL)
        return;
    vdb_free(map->slots);
    vdb_free(map);
}

static int rehash(vdb_idmap *map, size_t capacity)
{
    slot *fresh = alloc_slots(capacity);
    if (fresh == NULL)
        return VDB_ENOMEM;
    for (size_t i = 0; i <= map->mask; i++) {
        if (map->slots[i].row == EMPTY_ROW)
            continue;
        size_t at = map->slots[i].hash & (capacity - 1);
        while (fresh[at].row != EMPTY_ROW)
            at = (at + 1) & (capacity - 1);
        fresh[at] = map->slots[i];
    }
    vdb_free(map->slots);
    map->slots = fresh;
    map->mask = capacity - 1;
    return VDB_OK;
}

int vdb_idmap_reserve(vdb_idmap *map, size_t count)
{
    size_t capacity = map->mask + 1;
    while (count * 2 > capacity)
        capacity *= 2;
    return capacity == map->mask + 1 ? VDB_OK : rehash(map, capacity);
}

int vdb_idmap_has_room(const vdb_idmap *map, size_t count)
{
    return count <= (map->mask + 1) / 2;
}

/* Index of the slot holding key, or of the empty slot where it would go. */
static size_t probe(const vdb_idmap *map, const char *key, uint64_t hash)
{
    size_t at = hash & map->mask;
    for (;;) {
        const slot *s = &map->slots[at];
        if (s->row == EMPTY_ROW)
            return at;
        if (s->hash == hash && strcmp(map->key_of(map->owner, s->row), key) == 0)
            return at;
        at = (at + 1) & map->mask;
    }
}

int64_t vdb_idmap_get(const vdb_idmap *map, const char *key)
{
    size_t at = probe(map, key, vdb_hash_keyed(key, strlen(key)));
    return map->slots[at].row == EMPTY_ROW ? -1 : (int64_t)map->slots[at].row;
}

int vdb_idmap_put(vdb_idmap *map, const char *key, uint32_t row)
{
    uint64_t hash = vdb_hash_keyed(key, strlen(key));
    size_t at;
    if ((map->size + 1) * 2 > map->mask + 1) {
        int rc = rehash(map, (map->mask + 1) * 2);
        if (rc != VDB_OK)
            return rc;
    }
    at = probe(map, key, hash);
    if (map->slots[at].row == EMPTY_ROW)
        map->size++;
    map->slots[at].hash = hash;
    map->slots[at].row = row;
    return VDB_OK;
}

int vdb_idmap_remove(vdb_idmap *map, const char *key)
{
    size_t at = probe(map, key, vdb_hash_keyed(key, strlen(key)));
    size_t next;
    if (map->slots[at].row == EMPTY_ROW)
        return 0;
    /* Backward-shift: pull later members of the probe run into the hole
     * whenever their home bucket lies cyclically outside (hole, member]. */
    for (next = (at + 1) & map->mask; map->slots[next].row != EMPTY_ROW;
         next = (next + 1) & map->mask) {
        size_t home = map->slots[next].hash & map->mask;
        int between = at <= next ? (at < home && home <= next) : (at < home || home <= next);
        if (!between) {
            map->slots[at] = map->slots[next];
            at = next;
        }
    }
    map->slots[at].row = EMPTY_ROW;
    map->size--;
    return 1;
}

size_t vdb_idmap_size(const vdb_idmap *map)
{
    return map->size;
}

size_t vdb_idmap_memory(const vdb_idmap *map)
{
    return sizeof(*map) + (map->mask + 1) * sizeof(slot);
}

void vdb_idmap_clear(vdb_idmap *map)
{
    for (size_t i = 0; i <= map->mask; i++)
        map->slots[i].row = EMPTY_ROW;
    map->size = 0;
}
