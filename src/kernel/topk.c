/* Heap maintenance for top-k selection; see topk.h. */
#include "topk.h"

#include <math.h>
#include <stdlib.h>

void vdb_topk__insert(vdb_topk *top, float dist, uint32_t id)
{
    vdb_hit hit = {dist, id};
    if (top->k == 0)
        return;
    if (top->size < top->k) {
        vdb_heap_max_push(top->items, &top->size, hit);
        return;
    }
    if (!vdb_hit_worse(&top->items[0], &hit))
        return;
    top->items[0] = hit;
    vdb_heap_max_sift_down(top->items, top->size, 0);
}

float vdb_topk_threshold(const vdb_topk *top)
{
    return top->size < top->k ? INFINITY : top->items[0].dist;
}

void vdb_topk_merge(vdb_topk *top, const vdb_topk *other)
{
    for (size_t i = 0; i < other->size; i++)
        vdb_topk_push(top, other->items[i].dist, other->items[i].id);
}

size_t vdb_topk_sort(vdb_topk *top)
{
    /* Heap sort: repeatedly move the worst to the end. */
    size_t n = top->size;
    for (size_t end = n; end > 1; end--) {
        vdb_hit tmp = top->items[0];
        top->items[0] = top->items[end - 1];
        top->items[end - 1] = tmp;
        vdb_heap_max_sift_down(top->items, end - 1, 0);
    }
    top->size = 0;
    return n;
}
