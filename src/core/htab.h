/* The one hash table of the code base: open addressing with linear probing
 * over a power-of-two array of (64-bit hash, u32 reference) slots. It holds
 * no keys and no values: a reference is whatever the owner numbers its
 * entries by (a vecset row for store/idmap, an index into an entry array
 * for filter/payload), and lookups ask the owner, through `eq`, whether the
 * key behind a reference is the one sought - so each key exists once, in
 * its owner. Load stays at or below 1/2; deletion is by backward shift (no
 * tombstones), so lookups do not degrade after many deletes.
 *
 * The hash comes from core/hash: vdb_hash_keyed for client-chosen keys.
 * A zeroed vdb_htab is a valid empty table. Not thread-safe. Errors:
 * VDB_ENOMEM only (growing the slot array). */
#ifndef VDB_CORE_HTAB_H
#define VDB_CORE_HTAB_H

#include <stddef.h>
#include <stdint.h>

/* No reference: what vdb_htab_get returns for a missing key, and the one
 * value a reference may not take. */
#define VDB_HTAB_NONE UINT32_MAX

typedef struct vdb_htab_slot {
    uint64_t hash;
    uint32_t ref; /* VDB_HTAB_NONE: empty */
} vdb_htab_slot;

typedef struct vdb_htab {
    vdb_htab_slot *slots;
    size_t cap; /* 0, or a power of two >= 16 */
    size_t size;
} vdb_htab;

/* 1 when the key behind `ref` is the key the caller looks for (`ctx`). */
typedef int (*vdb_htab_eq_fn)(const void *ctx, uint32_t ref);

/* The reference stored under the key (hash, eq/ctx), or VDB_HTAB_NONE. */
uint32_t vdb_htab_get(const vdb_htab *t, uint64_t hash, vdb_htab_eq_fn eq, const void *ctx);

/* Stores `ref` under the key, replacing the reference it had (then *old,
 * optional, gets that one; else VDB_HTAB_NONE). VDB_OK or VDB_ENOMEM (the
 * table is unchanged). ref != VDB_HTAB_NONE. */
int vdb_htab_put(vdb_htab *t, uint64_t hash, uint32_t ref, vdb_htab_eq_fn eq, const void *ctx,
                 uint32_t *old);

/* Removes the key; returns its reference, or VDB_HTAB_NONE if absent. */
uint32_t vdb_htab_remove(vdb_htab *t, uint64_t hash, vdb_htab_eq_fn eq, const void *ctx);

/* Grows so that `count` keys fit without growing again. VDB_OK or
 * VDB_ENOMEM. */
int vdb_htab_reserve(vdb_htab *t, size_t count);

/* 1 when vdb_htab_reserve(t, count) would not grow the table, else 0;
 * never fails. */
int vdb_htab_has_room(const vdb_htab *t, size_t count);

/* Replaces every stored reference r with to[r] (r < n), keeping each
 * slot where it is: a renumbering of the owner's entries that keeps their
 * keys (a compaction) costs one pass over the slots, no hashing. Slots
 * whose reference is >= n, or whose to[r] is VDB_HTAB_NONE, are left
 * unchanged: the caller renumbers only live entries. Never fails. */
void vdb_htab_renumber(vdb_htab *t, const uint32_t *to, size_t n);

/* Empties the table, keeping its slot array. */
void vdb_htab_clear(vdb_htab *t);

/* Frees the slot array; the table is empty and zeroed after. */
void vdb_htab_destroy(vdb_htab *t);

/* Bytes of the slot array. */
size_t vdb_htab_memory(const vdb_htab *t);

#endif
