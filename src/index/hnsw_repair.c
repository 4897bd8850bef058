/* Deletes without a rebuild (issue 13): vdb_hnsw_repair removes the view's
 * deleted rows from the graph and reconnects their neighbourhoods locally.
 *
 * Why local repair: a rebuild pays an ef_construction search (thousands of
 * distances) for every live node, although a delete only damages the lists
 * that pointed at the deleted node. Here each live node whose list on some
 * level holds a deleted node gets that list chosen again from its live
 * neighbours plus the deleted neighbours' live neighbours (the two-hop set
 * FreshDiskANN's consolidation and hnswlib's repair use), with the same
 * diversity heuristic an insert uses, then topped up with the surviving
 * links (top_up): about (M + dead * M) distances plus the heuristic per
 * affected list. A second pass gives each rewritten list's neighbours a
 * link back where they have room (backlink_task), as an insert's
 * neighbours get one. Nodes that never pointed at a deleted node are
 * untouched otherwise.
 *
 * Why the heuristic always and the backlinks (test_store_repair, 8,000
 * rows, 10% deleted, recall@10 against a rebuild of the same rows):
 * hnswlib's repair keeps every two-hop candidate when they fit in the list
 * (no heuristic below M links); that grew level 0 from 14.1 links a node
 * (the rebuild's) to 17.9 on clustered data and still lost 0.003-0.005 at
 * ef 64 on euclidean data with norms spread 25x, where the deleted nodes'
 * neighbours lost the links back to the nodes that had routed to them. With
 * the heuristic always and the backlinks: 15.8 links and +0.000-0.001
 * there, +0.001-0.008 on clustered and +0.013-0.019 on uniform cosine.
 *
 * It runs with the grow lock held exclusively (the pool's workers do the
 * lists under it, see repair_task), so no add or search sees a
 * list being rewritten or a slot being freed; lists are written with the
 * same atomic stores as inserts anyway. On ENOMEM the lists already
 * repaired stay (each is valid on its own) and no node is removed, so the
 * graph stays valid. */
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/pool.h"
#include "hnsw_int.h"

static int dead(const vdb_hnsw *h, const vdb_vecview *view, uint32_t id)
{
    return id < view->n && vdb_vecview_is_deleted(view, id) && h->levels[id] != VDB_HNSW_ABSENT;
}

static int id_cmp(const void *a, const void *b)
{
    const vdb_hnsw_cand *x = a, *y = b;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Tops the heuristic's `kept` picks (buf[0, kept)) up to `want` links with
 * candidates it passed over (all[0, n), nearest first): first those the
 * list held before (`list`, `cnt` ids), then the nearest others. The
 * heuristic alone leaves lists sparse: an insert's list also collects
 * backlinks later, unpruned until full, while a repaired list would keep
 * only the few diverse picks. Measured at 20k x 64 (10% deleted, ef 12):
 * heuristic-only repair lost 0.025 recall against a rebuild and searched
 * 2.5x faster for it (the lists had shrunk); topped up to the list's old
 * length it matches the rebuild. Topped up with the nearest alone, lists
 * traded the surviving links the build had made (backlinks from farther
 * nodes included) for near ones: on euclidean data with norms spread 25x
 * (test_store_repair, 8,000 x 48) that lost 0.010-0.015 recall@10 against
 * a rebuild, where keeping the old links first lost 0.003-0.005 (BENCHMARKS.md,
 * issue 13, opt13) and, with the backlinks (top of file), nothing. No
 * distance is computed for this. */
static int has_id(const uint32_t *ids, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static size_t top_up(vdb_hnsw_cand *buf, size_t kept, const vdb_hnsw_cand *all, size_t n,
                     const uint32_t *list, uint32_t cnt, size_t want)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n && kept < want; i++) {
            if (pass == 0 && !has_id(list, cnt, all[i].id))
                continue;
            size_t j = 0;
            while (j < kept && buf[j].id != all[i].id)
                j++;
            if (j == kept)
                buf[kept++] = all[i];
        }
    return kept;
}

/* Chooses node's list on `level` again when it holds a deleted node;
 * `buf` has room for 2 * (max + max * max) candidates (the second half
 * keeps the sorted candidates for top_up). */
static int repair_list(const vdb_hnsw *h, const vdb_vecview *view, uint32_t node, int level,
                       vdb_hnsw_cand *buf)
{
    uint32_t *list = hnsw_links(h, node, level), cnt = list[0], max = hnsw_max_links(h, level);
    size_t n = 0, w = 0;
    int damaged = 0;
    for (uint32_t j = 0; j < cnt; j++)
        damaged |= dead(h, view, list[1 + j]);
    if (!damaged)
        return 0;
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t id = list[1 + j];
        if (!dead(h, view, id)) {
            buf[n++].id = id;
            continue;
        }
        const uint32_t *second = hnsw_links(h, id, level);
        for (uint32_t k = 0; k < second[0]; k++)
            if (second[1 + k] != node && !dead(h, view, second[1 + k]))
                buf[n++].id = second[1 + k];
    }
    /* One entry per id, then nearest first for the heuristic. */
    qsort(buf, n, sizeof(*buf), id_cmp);
    for (size_t i = 0; i < n; i++)
        if (w == 0 || buf[w - 1].id != buf[i].id)
            buf[w++] = buf[i];
    const float *base = hnsw_row(view, node);
    for (size_t i = 0; i < w; i++)
        buf[i].dist = hnsw_dist(h, base, hnsw_row(view, buf[i].id));
    qsort(buf, w, sizeof(*buf), vdb_hnsw__cand_cmp);
    vdb_hnsw_cand *all = buf + (size_t)max + (size_t)max * max;
    memcpy(all, buf, w * sizeof(*buf));
    size_t kept = vdb_hnsw__select_diverse(h, view, node, buf, w, max);
    kept = top_up(buf, kept, all, w, list + 1, cnt, cnt < max ? cnt : max);
    for (size_t j = 0; j < kept; j++)
        hnsw_store(list + 1 + j, buf[j].id);
    hnsw_store_release(list, (uint32_t)kept);
    return 1;
}

/* Frees the deleted nodes' slots and moves the entry point off them. */
static size_t remove_dead(vdb_hnsw *h, const vdb_vecview *view, uint32_t limit)
{
    uint64_t entry = h->entry;
    uint32_t best = VDB_HNSW_NONE;
    int best_level = -1;
    size_t removed = 0;
    for (uint32_t id = 0; id < limit; id++) {
        if (!dead(h, view, id))
            continue;
        int level = h->levels[id];
        vdb_free(h->upper[id]);
        __atomic_store_n(&h->upper[id], NULL, __ATOMIC_RELEASE);
        hnsw_store(h->links0 + (size_t)id * h->slot0, 0);
        __atomic_store_n(&h->levels[id], (uint8_t)VDB_HNSW_ABSENT, __ATOMIC_RELEASE);
        __atomic_fetch_sub(&h->upper_u32, (size_t)level * h->slot_up, __ATOMIC_RELAXED);
        removed++;
    }
    __atomic_fetch_sub(&h->count, removed, __ATOMIC_RELAXED);
    if ((uint32_t)entry == VDB_HNSW_NONE || h->levels[(uint32_t)entry] != VDB_HNSW_ABSENT)
        return removed;
    for (uint32_t id = 0; id < limit; id++)
        if (h->levels[id] != VDB_HNSW_ABSENT && (int)h->levels[id] > best_level) {
            best_level = h->levels[id];
            best = id;
        }
    __atomic_store_n(&h->entry,
                     best == VDB_HNSW_NONE ? (uint64_t)VDB_HNSW_NONE
                                           : ((uint64_t)best_level << 32) | best,
                     __ATOMIC_RELEASE);
    return removed;
}

/* Lists are repaired in parallel over the global pool: a task rewrites
 * only its own nodes' lists and reads, besides them, only deleted nodes'
 * lists, which nobody rewrites, so tasks never see each other's writes. */
#define REPAIR_CHUNK 1024

typedef struct repair_job {
    const vdb_hnsw *h;
    const vdb_vecview *view;
    uint32_t limit;
    vdb_hnsw_cand *bufs; /* one per worker, `cap` each */
    size_t cap;
    uint8_t *touched;    /* limit; bit `level` set: that list was rewritten */
} repair_job;

static void repair_task(void *arg, size_t task, int worker)
{
    repair_job *job = arg;
    uint32_t from = (uint32_t)(task * REPAIR_CHUNK);
    uint32_t to = job->limit - from > REPAIR_CHUNK ? from + REPAIR_CHUNK : job->limit;
    vdb_hnsw_cand *buf = job->bufs + (size_t)worker * job->cap;
    for (uint32_t id = from; id < to; id++) {
        if (job->h->levels[id] == VDB_HNSW_ABSENT || vdb_vecview_is_deleted(job->view, id))
            continue;
        uint8_t bits = 0;
        for (int level = 0; level <= (int)job->h->levels[id]; level++)
            if (repair_list(job->h, job->view, id, level, buf) && level < 8)
                bits |= (uint8_t)(1u << level);
        job->touched[id] = bits;
    }
}

/* Second phase: a rewritten list's neighbours get a link back where their
 * own list has room, as an insert's neighbours do (connect in
 * hnsw_build.c appends without pruning until the list is full). A task
 * writes other tasks' nodes' lists here, so each append holds the node's
 * striped lock; a list's own reader sees its count with acquire and only
 * appends after it, so reading it unlocked sees a valid prefix. No
 * distance is computed: a full list is left as it is. */
static void backlink_task(void *arg, size_t task, int worker)
{
    repair_job *job = arg;
    const vdb_hnsw *h = job->h;
    uint32_t from = (uint32_t)(task * REPAIR_CHUNK);
    uint32_t to = job->limit - from > REPAIR_CHUNK ? from + REPAIR_CHUNK : job->limit;
    (void)worker;
    for (uint32_t id = from; id < to; id++) {
        if (job->touched[id] == 0)
            continue;
        for (int level = 0; level < 8 && level <= (int)h->levels[id]; level++) {
            if (!(job->touched[id] & (1u << level)))
                continue;
            const uint32_t *list = hnsw_links(h, id, level);
            uint32_t cnt = hnsw_load_acquire(list), max = hnsw_max_links(h, level);
            for (uint32_t j = 0; j < cnt; j++) {
                uint32_t q = hnsw_load(list + 1 + j);
                pthread_mutex_t *lock = hnsw_node_lock(h, q);
                pthread_mutex_lock(lock);
                uint32_t *other = hnsw_links(h, q, level), n = other[0], k = 0;
                while (k < n && other[1 + k] != id)
                    k++;
                if (k == n && n < max) {
                    hnsw_store(other + 1 + n, id);
                    hnsw_store_release(other, n + 1);
                }
                pthread_mutex_unlock(lock);
            }
        }
    }
}

int vdb_hnsw_repair(vdb_hnsw *h, const vdb_vecview *view, size_t *removed, vdb_error *err)
{
    repair_job job = {h, view, 0, NULL, 2 * ((size_t)h->m0 + (size_t)h->m0 * h->m0), NULL};
    vdb_pool *pool = vdb_pool_global();
    size_t gone = 0;
    int rc = vdb_hnsw__check_view(h, view, err);
    if (rc != VDB_OK)
        return rc;
    if (view->deleted != NULL) {
        job.bufs = vdb_malloc((size_t)vdb_pool_threads(pool) * job.cap * sizeof(vdb_hnsw_cand));
        job.touched = vdb_calloc(view->n + 1, 1);
        if (job.bufs == NULL || job.touched == NULL) {
            vdb_free(job.bufs);
            vdb_free(job.touched);
            return vdb_error_set(err, VDB_ENOMEM, "hnsw: no memory to repair the graph");
        }
        pthread_rwlock_wrlock(&h->grow_lock);
        job.limit = h->capacity < view->n ? h->capacity : view->n;
        size_t tasks = (job.limit + REPAIR_CHUNK - 1) / REPAIR_CHUNK;
        vdb_pool_run(pool, tasks, repair_task, &job);
        vdb_pool_run(pool, tasks, backlink_task, &job);
        gone = remove_dead(h, view, job.limit);
        pthread_rwlock_unlock(&h->grow_lock);
        vdb_free(job.bufs);
        vdb_free(job.touched);
    }
    if (removed != NULL)
        *removed = gone;
    return VDB_OK;
}

/* Renumbering after the store compacts its rows (vdb_hnsw_renumber).
 *
 * Why carry the graph over instead of reusing the deleted rows' slots: the
 * store's row numbers are its on-disk order (the snapshot's rows, then the
 * WAL's appends; checkpoint.c), and a reopen rebuilds exactly that order.
 * Reusing a slot would need the vecset, the snapshot writer and WAL replay
 * to put new rows into holes, and a crash between a slot's reuse and the
 * next snapshot would have to replay into the same hole: a change to every
 * durable format. Compaction already renumbers rows monotonically, so the
 * graph follows it: slots move down in row order and every link id goes
 * through the same map. It is a linear pass with no allocation and no
 * distance computation (a few ms per 100k nodes), so it cannot fail half
 * way once its checks passed. */
static int renumber_check(const vdb_hnsw *h, const uint32_t *old_to_new, uint32_t limit,
                          uint32_t old_rows, vdb_error *err)
{
    uint32_t next = 0;
    for (uint32_t id = limit; id < h->capacity; id++)
        if (h->levels[id] != VDB_HNSW_ABSENT)
            return vdb_error_set(err, VDB_EINVAL, "hnsw: node %u beyond the %u rows renumbered",
                                 id, old_rows);
    for (uint32_t id = 0; id < limit; id++) {
        uint32_t to = old_to_new[id];
        if (to == UINT32_MAX) {
            if (h->levels[id] != VDB_HNSW_ABSENT)
                return vdb_error_set(err, VDB_EINVAL,
                                     "hnsw: row %u is dropped but still in the graph "
                                     "(repair first)", id);
            continue;
        }
        if (to != next)
            return vdb_error_set(err, VDB_EINVAL, "hnsw: row %u renumbered to %u, expected %u",
                                 id, to, next);
        next++;
    }
    return VDB_OK;
}

/* Maps one list's ids; a link to a dropped row (none after a repair of the
 * same rows) is left out rather than kept dangling. */
static void renumber_list(uint32_t *list, const uint32_t *old_to_new, uint32_t limit)
{
    uint32_t cnt = list[0], kept = 0;
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t id = list[1 + j];
        uint32_t to = id < limit ? old_to_new[id] : UINT32_MAX;
        if (to != UINT32_MAX)
            list[1 + kept++] = to;
    }
    list[0] = kept;
}

int vdb_hnsw_renumber(vdb_hnsw *h, const uint32_t *old_to_new, uint32_t old_rows,
                      vdb_error *err)
{
    int rc;
    pthread_rwlock_wrlock(&h->grow_lock);
    uint32_t limit = h->capacity < old_rows ? h->capacity : old_rows, next = 0, covered = 0;
    uint32_t old_covered = h->covered;
    uint64_t entry = h->entry;
    if ((rc = renumber_check(h, old_to_new, limit, old_rows, err)) != VDB_OK)
        goto out;
    for (uint32_t id = 0; id < limit; id++) {
        uint32_t to = old_to_new[id];
        if (to == UINT32_MAX)
            continue;
        if (id < old_covered)
            covered = to + 1;
        if (to != id) {
            memcpy(h->links0 + (size_t)to * h->slot0, h->links0 + (size_t)id * h->slot0,
                   h->slot0 * sizeof(uint32_t));
            h->upper[to] = h->upper[id];
            h->levels[to] = h->levels[id];
        }
        for (int level = 0; h->levels[to] != VDB_HNSW_ABSENT && level <= (int)h->levels[to];
             level++)
            renumber_list(hnsw_links(h, to, level), old_to_new, limit);
        next = to + 1;
    }
    /* The slots past the last kept row held rows that moved down or were
     * dropped: they are free now. */
    for (uint32_t id = next; id < limit; id++) {
        h->links0[(size_t)id * h->slot0] = 0;
        h->upper[id] = NULL;
        h->levels[id] = VDB_HNSW_ABSENT;
    }
    h->covered = covered;
    if ((uint32_t)entry != VDB_HNSW_NONE)
        h->entry = (entry & ~(uint64_t)UINT32_MAX) | old_to_new[(uint32_t)entry];
out:
    pthread_rwlock_unlock(&h->grow_lock);
    return rc;
}
