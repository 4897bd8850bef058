/* String id -> row map; see idmap.h. A core/htab table whose references are
 * rows: each slot costs 12-16 bytes and the id strings stay in the owner
 * (compared by row on a full hash match). Ids are client-chosen, so they are
 * hashed with the keyed vdb_hash_keyed. */
#include "idmap.h"

#include <string.h>

#include "../core/alloc.h"
#include "../core/err.h"
#include "../core/hash.h"
#include "../core/htab.h"

struct vdb_idmap {
    vdb_htab table;
    vdb_idmap_key_fn key_of;
    void *owner;
};

typedef struct lookup {
    const vdb_idmap *map;
    const char *key;
} lookup;

static int key_is(const void *ctx, uint32_t row)
{
    const lookup *l = ctx;
    return strcmp(l->map->key_of(l->map->owner, row), l->key) == 0;
}

static uint64_t key_hash(const char *key)
{
    return vdb_hash_keyed(key, strlen(key));
}

vdb_idmap *vdb_idmap_new(vdb_idmap_key_fn key_of, void *owner)
{
    vdb_idmap *map = vdb_calloc(1, sizeof(*map));
    if (map == NULL)
        return NULL;
    map->key_of = key_of;
    map->owner = owner;
    return map;
}

void vdb_idmap_free(vdb_idmap *map)
{
    if (map == NULL)
        return;
    vdb_htab_destroy(&map->table);
    vdb_free(map);
}

int vdb_idmap_reserve(vdb_idmap *map, size_t count)
{
    return vdb_htab_reserve(&map->table, count);
}

int vdb_idmap_has_room(const vdb_idmap *map, size_t count)
{
    return vdb_htab_has_room(&map->table, count);
}

int64_t vdb_idmap_get(const vdb_idmap *map, const char *key)
{
    lookup l = {map, key};
    uint32_t row = vdb_htab_get(&map->table, key_hash(key), key_is, &l);
    return row == VDB_HTAB_NONE ? -1 : (int64_t)row;
}

int vdb_idmap_put(vdb_idmap *map, const char *key, uint32_t row)
{
    lookup l = {map, key};
    return vdb_htab_put(&map->table, key_hash(key), row, key_is, &l, NULL);
}

int vdb_idmap_remove(vdb_idmap *map, const char *key)
{
    lookup l = {map, key};
    return vdb_htab_remove(&map->table, key_hash(key), key_is, &l) != VDB_HTAB_NONE;
}

size_t vdb_idmap_size(const vdb_idmap *map)
{
    return map->table.size;
}

size_t vdb_idmap_memory(const vdb_idmap *map)
{
    return sizeof(*map) + vdb_htab_memory(&map->table);
}

void vdb_idmap_renumber(vdb_idmap *map, const uint32_t *old_to_new, uint32_t rows)
{
    vdb_htab_renumber(&map->table, old_to_new, rows);
}

void vdb_idmap_clear(vdb_idmap *map)
{
    vdb_htab_clear(&map->table);
}
