/* Open-addressing hash table of (hash, reference) slots; see htab.h. */
#include "htab.h"

#include "alloc.h"
#include "err.h"

#define MIN_CAP 16

static vdb_htab_slot *alloc_slots(size_t cap)
{
    vdb_htab_slot *slots = vdb_malloc(cap * sizeof(*slots));
    if (slots == NULL)
        return NULL;
    for (size_t i = 0; i < cap; i++)
        slots[i].ref = VDB_HTAB_NONE;
    return slots;
}

static int rehash(vdb_htab *t, size_t cap)
{
    vdb_htab_slot *fresh = alloc_slots(cap);
    if (fresh == NULL)
        return VDB_ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].ref == VDB_HTAB_NONE)
            continue;
        size_t at = t->slots[i].hash & (cap - 1);
        while (fresh[at].ref != VDB_HTAB_NONE)
            at = (at + 1) & (cap - 1);
        fresh[at] = t->slots[i];
    }
    vdb_free(t->slots);
    t->slots = fresh;
    t->cap = cap;
    return VDB_OK;
}

/* Index of the slot holding the key, or of the empty slot where it would
 * go; t->cap > 0. The hash is compared first, so `eq` runs only on a full
 * 64-bit match. */
static size_t probe(const vdb_htab *t, uint64_t hash, vdb_htab_eq_fn eq, const void *ctx)
{
    size_t mask = t->cap - 1, at = hash & mask;
    for (;;) {
        const vdb_htab_slot *s = &t->slots[at];
        if (s->ref == VDB_HTAB_NONE || (s->hash == hash && eq(ctx, s->ref)))
            return at;
        at = (at + 1) & mask;
    }
}

uint32_t vdb_htab_get(const vdb_htab *t, uint64_t hash, vdb_htab_eq_fn eq, const void *ctx)
{
    return t->cap == 0 ? VDB_HTAB_NONE : t->slots[probe(t, hash, eq, ctx)].ref;
}

int vdb_htab_put(vdb_htab *t, uint64_t hash, uint32_t ref, vdb_htab_eq_fn eq, const void *ctx,
                 uint32_t *old)
{
    if ((t->size + 1) * 2 > t->cap) {
        int rc = rehash(t, t->cap == 0 ? MIN_CAP : t->cap * 2);
        if (rc != VDB_OK)
            return rc;
    }
    vdb_htab_slot *s = &t->slots[probe(t, hash, eq, ctx)];
    if (old != NULL)
        *old = s->ref;
    if (s->ref == VDB_HTAB_NONE)
        t->size++;
    s->hash = hash;
    s->ref = ref;
    return VDB_OK;
}

uint32_t vdb_htab_remove(vdb_htab *t, uint64_t hash, vdb_htab_eq_fn eq, const void *ctx)
{
    if (t->cap == 0)
        return VDB_HTAB_NONE;
    size_t mask = t->cap - 1, at = probe(t, hash, eq, ctx);
    uint32_t ref = t->slots[at].ref;
    if (ref == VDB_HTAB_NONE)
        return ref;
    /* Backward shift: pull later members of the probe run into the hole
     * whenever their home slot lies cyclically outside (hole, member]. */
    for (size_t next = (at + 1) & mask; t->slots[next].ref != VDB_HTAB_NONE;
         next = (next + 1) & mask) {
        size_t home = t->slots[next].hash & mask;
        int between = at <= next ? (at < home && home <= next) : (at < home || home <= next);
        if (!between) {
            t->slots[at] = t->slots[next];
            at = next;
        }
    }
    t->slots[at].ref = VDB_HTAB_NONE;
    t->size--;
    return ref;
}

int vdb_htab_reserve(vdb_htab *t, size_t count)
{
    if (count == 0)
        return VDB_OK;
    size_t cap = t->cap == 0 ? MIN_CAP : t->cap;
    while (count * 2 > cap)
        cap *= 2;
    return cap == t->cap ? VDB_OK : rehash(t, cap);
}

int vdb_htab_has_room(const vdb_htab *t, size_t count)
{
    return count <= t->cap / 2;
}

void vdb_htab_renumber(vdb_htab *t, const uint32_t *to, size_t n)
{
    for (size_t i = 0; i < t->cap; i++) {
        uint32_t ref = t->slots[i].ref;
        if (ref != VDB_HTAB_NONE && ref < n && to[ref] != VDB_HTAB_NONE)
            t->slots[i].ref = to[ref];
    }
}

void vdb_htab_clear(vdb_htab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        t->slots[i].ref = VDB_HTAB_NONE;
    t->size = 0;
}

void vdb_htab_destroy(vdb_htab *t)
{
    vdb_free(t->slots);
    t->slots = NULL;
    t->cap = t->size = 0;
}

size_t vdb_htab_memory(const vdb_htab *t)
{
    return t->cap * sizeof(vdb_htab_slot);
}
