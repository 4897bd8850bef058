/* Bounded top-k selection: a max-heap of the k best (lowest-distance) hits
 * seen so far, ordered by (dist, id) so ties are deterministic. The caller
 * provides the storage (k hits); nothing is allocated. The hot path is the
 * inline threshold test in vdb_topk_push: once the heap is full most
 * candidates are rejected by one compare. */
#ifndef VDB_KERNEL_TOPK_H
#define VDB_KERNEL_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"

typedef struct vdb_topk {
    vdb_hit *items; /* heap; items[0] is the worst kept hit */
    size_t k;
    size_t size;
} vdb_topk;

static inline void vdb_topk_init(vdb_topk *top, vdb_hit *storage, size_t k)
{
    top->items = storage;
    top->k = k;
    top->size = 0;
}

/* Inserts when the hit beats the worst kept one (slow path in topk.c). */
void vdb_topk__insert(vdb_topk *top, float dist, uint32_t id);

static inline void vdb_topk_push(vdb_topk *top, float dist, uint32_t id)
{
    if (top->size == top->k) {
        const vdb_hit *worst = &top->items[0];
        if (dist > worst->dist || (dist == worst->dist && id > worst->id))
            return;
    }
    vdb_topk__insert(top, dist, id);
}

/* Distance a candidate must beat (or tie with a smaller id) to enter; +inf
 * while the heap is not full. */
float vdb_topk_threshold(const vdb_topk *top);

/* Merges every hit of `other` into `top`. */
void vdb_topk_merge(vdb_topk *top, const vdb_topk *other);

/* Sorts the kept hits best first, in place (the heap is consumed); returns
 * the number of hits. */
size_t vdb_topk_sort(vdb_topk *top);

#endif
