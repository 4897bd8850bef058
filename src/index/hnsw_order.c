/* Node order for memory locality (issue 13): vdb_hnsw_locality_order and
 * vdb_hnsw_permute.
 *
 * Why: a search reads ~450 rows per query at random addresses, and rows are
 * numbered in insertion order, which is unrelated to the graph. Numbering
 * the nodes so that graph neighbours get nearby numbers puts the rows (and
 * link slots, and visited-set entries) a query touches into fewer pages and
 * DRAM rows (Coleman et al. 2021 measured such orders on HNSW graphs). The
 * order is a breadth-first walk of level 0 from the entry point: each
 * node's list is kept nearest first by the insert heuristic, so a node's
 * closest neighbours are numbered right after the nodes already queued;
 * nodes the walk does not reach, and rows not in the graph, keep their
 * relative order at the end.
 *
 * Permuting is out of place (a second link array, then a swap): a general
 * permutation cannot be done in place without a cycle walk that would leave
 * the graph half renumbered on the way, and the copy costs the level-0
 * array's size once (13 MB at 100k x M 16). */
#include <string.h>

#include "../core/alloc.h"
#include "hnsw_int.h"

int vdb_hnsw_locality_order(const vdb_hnsw *h, uint32_t *old_to_new, vdb_error *err)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->grow_lock);
    uint32_t rows = hnsw_load(&h->covered);
    uint64_t entry = hnsw_entry_load(h);
    uint32_t *queue = vdb_malloc(((size_t)rows + 1) * sizeof(uint32_t));
    int rc = VDB_OK;
    if (queue == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "hnsw: no memory to order %u rows", rows);
        goto out;
    }
    /* old_to_new doubles as the seen mark until a row is numbered. */
    for (uint32_t id = 0; id < rows; id++)
        old_to_new[id] = UINT32_MAX;
    size_t head = 0, tail = 0;
    uint32_t start = (uint32_t)entry;
    if (start != VDB_HNSW_NONE && start < rows) {
        queue[tail++] = start;
        old_to_new[start] = 0;
    }
    while (head < tail) {
        const uint32_t *list = hnsw_links(h, queue[head++], 0);
        uint32_t cnt = hnsw_load(list);
        if (cnt > h->m0)
            cnt = h->m0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t id = hnsw_load(list + 1 + j);
            if (id < rows && old_to_new[id] == UINT32_MAX) {
                old_to_new[id] = (uint32_t)tail;
                queue[tail++] = id;
            }
        }
    }
    for (uint32_t id = 0; id < rows; id++)
        if (old_to_new[id] == UINT32_MAX)
            old_to_new[id] = (uint32_t)tail++;
out:
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->grow_lock);
    vdb_free(queue);
    return rc;
}

/* VDB_EINVAL unless old_to_new is a bijection on [0, rows). */
static int check_bijection(const uint32_t *old_to_new, uint32_t rows, vdb_error *err)
{
    uint8_t *seen = vdb_calloc((size_t)rows + 1, 1);
    if (seen == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: no memory to check a %u-row order", rows);
    int rc = VDB_OK;
    for (uint32_t id = 0; id < rows && rc == VDB_OK; id++) {
        uint32_t to = old_to_new[id];
        if (to >= rows || seen[to])
            rc = vdb_error_set(err, VDB_EINVAL, "hnsw: row %u renumbered to %u: not a "
                               "permutation of %u rows", id, to, rows);
        else
            seen[to] = 1;
    }
    vdb_free(seen);
    return rc;
}

static void map_list(uint32_t *dst, const uint32_t *src, const uint32_t *old_to_new,
                     uint32_t rows)
{
    uint32_t cnt = src[0], kept = 0;
    for (uint32_t j = 0; j < cnt; j++)
        if (src[1 + j] < rows)
            dst[1 + kept++] = old_to_new[src[1 + j]];
    dst[0] = kept;
}

int vdb_hnsw_permute(vdb_hnsw *h, const uint32_t *old_to_new, uint32_t rows, vdb_error *err)
{
    int rc;
    uint32_t *links0 = NULL;
    uint32_t **upper = NULL;
    uint8_t *levels = NULL;
    pthread_rwlock_wrlock(&h->grow_lock);
    if (rows != h->covered) {
        rc = vdb_error_set(err, VDB_EINVAL, "hnsw: permutation of %u rows, graph covers %u",
                           rows, h->covered);
        goto out;
    }
    if ((rc = check_bijection(old_to_new, rows, err)) != VDB_OK)
        goto out;
    size_t cap = h->capacity;
    links0 = vdb_aligned_alloc(64, cap * h->slot0 * sizeof(uint32_t));
    upper = vdb_calloc(cap ? cap : 1, sizeof(*upper));
    levels = vdb_malloc(cap ? cap : 1);
    if (links0 == NULL || upper == NULL || levels == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "hnsw: no memory to permute %zu slots", cap);
        goto out;
    }
    /* Slots past the covered rows hold no node (covered is one past the
     * highest row ever offered): they keep their place. */
    memcpy(links0 + (size_t)rows * h->slot0, h->links0 + (size_t)rows * h->slot0,
           (cap - rows) * h->slot0 * sizeof(uint32_t));
    memcpy(upper + rows, h->upper + rows, (cap - rows) * sizeof(*upper));
    memcpy(levels + rows, h->levels + rows, cap - rows);
    for (uint32_t id = 0; id < rows; id++) {
        uint32_t to = old_to_new[id];
        uint32_t *dst = links0 + (size_t)to * h->slot0;
        memset(dst, 0, h->slot0 * sizeof(uint32_t));
        map_list(dst, h->links0 + (size_t)id * h->slot0, old_to_new, rows);
        levels[to] = h->levels[id];
        upper[to] = h->upper[id];
        /* Upper lists are the node's own allocation: mapped in place. */
        for (int level = 1; levels[to] != VDB_HNSW_ABSENT && level <= (int)levels[to]; level++) {
            uint32_t *list = upper[to] + (size_t)(level - 1) * h->slot_up;
            map_list(list, list, old_to_new, rows);
        }
    }
    vdb_aligned_free(h->links0);
    vdb_free(h->upper);
    vdb_free(h->levels);
    h->links0 = links0;
    h->upper = upper;
    h->levels = levels;
    links0 = NULL;
    upper = NULL;
    levels = NULL;
    if ((uint32_t)h->entry != VDB_HNSW_NONE)
        h->entry = (h->entry & ~(uint64_t)UINT32_MAX) | old_to_new[(uint32_t)h->entry];
out:
    pthread_rwlock_unlock(&h->grow_lock);
    vdb_aligned_free(links0);
    vdb_free(upper);
    vdb_free(levels);
    return rc;
}
