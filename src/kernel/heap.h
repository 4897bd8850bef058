/* The one binary heap of (distance, id) hits, on caller storage: a max-heap
 * ordered by (dist, id), so the worst kept hit sits at a[0] and ties break
 * deterministically by id (top-k selection, HNSW's result set), and a
 * min-heap on dist (HNSW's candidates still to expand). Everything is
 * static inline: these are the innermost loops of every search. The caller
 * guarantees capacity; nothing here allocates or checks bounds. */
#ifndef VDB_KERNEL_HEAP_H
#define VDB_KERNEL_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* One search result: a row and its distance (lower is better). */
typedef struct vdb_hit {
    float dist;
    uint32_t id; /* internal row id */
} vdb_hit;

/* 1 when a is worse than b (larger distance, or equal distance and larger
 * id), else 0; never fails. */
static inline int vdb_hit_worse(const vdb_hit *a, const vdb_hit *b)
{
    return a->dist > b->dist || (a->dist == b->dist && a->id > b->id);
}

/* Restores the max-heap below i after a[i] was replaced. */
static inline void vdb_heap_max_sift_down(vdb_hit *a, size_t size, size_t i)
{
    vdb_hit item = a[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= size)
            break;
        if (child + 1 < size && vdb_hit_worse(&a[child + 1], &a[child]))
            child++;
        if (!vdb_hit_worse(&a[child], &item))
            break;
        a[i] = a[child];
        i = child;
    }
    a[i] = item;
}

static inline void vdb_heap_max_push(vdb_hit *a, size_t *n, vdb_hit c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) >> 1;
        if (!vdb_hit_worse(&c, &a[parent]))
            break;
        a[i] = a[parent];
        i = parent;
    }
    a[i] = c;
}

/* Removes and returns the worst hit; *n > 0. */
static inline vdb_hit vdb_heap_max_pop(vdb_hit *a, size_t *n)
{
    vdb_hit top = a[0];
    if (--(*n) > 0) {
        a[0] = a[*n];
        vdb_heap_max_sift_down(a, *n, 0);
    }
    return top;
}

static inline void vdb_heap_min_push(vdb_hit *a, size_t *n, vdb_hit c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) >> 1;
        if (a[parent].dist <= c.dist)
            break;
        a[i] = a[parent];
        i = parent;
    }
    a[i] = c;
}

/* Removes and returns the nearest hit; *n > 0. */
static inline vdb_hit vdb_heap_min_pop(vdb_hit *a, size_t *n)
{
    vdb_hit top = a[0];
    vdb_hit last = a[--(*n)];
    size_t size = *n, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= size)
            break;
        if (child + 1 < size && a[child + 1].dist < a[child].dist)
            child++;
        if (last.dist <= a[child].dist)
            break;
        a[i] = a[child];
        i = child;
    }
    if (size > 0)
        a[i] = last;
    return top;
}

#endif
