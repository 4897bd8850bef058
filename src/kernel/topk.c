/* Heap maintenance for top-k selection; see topk.h. */
#include "topk.h"

#include <math.h>
#include <stdlib.h>

static void sift_down(vdb_hit *h, size_t size, size_t i)
{
    vdb_hit item = h[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= size)
            break;
        if (child + 1 < size && vdb_hit_worse(&h[child + 1], &h[child]))
            child++;
        if (!vdb_hit_worse(&h[child], &item))
            break;
        h[i] = h[child];
        i = child;
    }
    h[i] = item;
}

static void sift_up(vdb_hit *h, size_t i)
{
    vdb_hit item = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!vdb_hit_worse(&item, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = item;
}

void vdb_topk__insert(vdb_topk *top, float dist, uint32_t id)
{
    vdb_hit hit = {dist, id};
    if (top->k == 0)
        return;
    if (top->size < top->k) {
        top->items[top->size] = hit;
        sift_up(top->items, top->size++);
        return;
    }
    if (!vdb_hit_worse(&top->items[0], &hit))
        return;
    top->items[0] = hit;
    sift_down(top->items, top->size, 0);
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
        sift_down(top->items, end - 1, 0);
    }
    top->size = 0;
    return n;
}
