/* HNSW insertion, parallel build and rebuild.
 *
 * Insertion follows Malkov & Yashunin: descend greedily to the new node's
 * level, then on each level down to 0 run a beam search with ef_construction,
 * keep M neighbours chosen by the diversity heuristic (a candidate is kept
 * only if it is closer to the new node than to every neighbour already
 * kept), write the new node's list, and add the node to each neighbour's
 * list, re-running the heuristic on a neighbour whose list is full.
 *
 * Locking: a node's list is written only under its striped lock, one lock at
 * a time, so inserts cannot deadlock. A list is rewritten entry by entry with
 * relaxed stores and its count published last with a release store; readers
 * (searches) may see a mix of old and new ids, all valid. An insert that
 * raises the top level holds entry_lock for its whole run so two nodes
 * cannot both become the entry point (hnswlib does the same). */
#include "hnsw.h"

#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/hash.h"
#include "../core/pool.h"
#include "hnsw_int.h"

size_t vdb_hnsw__select_neighbours(const vdb_hnsw *h, const vdb_vecview *view, uint32_t base,
                                   vdb_hnsw_cand *c, size_t n, size_t max)
{
    if (n <= max)
        return n;
    return vdb_hnsw__select_diverse(h, view, base, c, n, max);
}

/* Which of base's exact copies its list keeps: those of smallest rank, a
 * hash of both ids, so each node keeps its own pseudo-random few of a
 * group of copies. Ranking them by id (their sort order: equal distances)
 * would point every list at the same lowest ids and leave the rest of the
 * group unreachable. */
static uint64_t copy_rank(uint32_t base, uint32_t id)
{
    return vdb_hash_mix64(((uint64_t)base << 32) | id);
}

size_t vdb_hnsw__select_diverse(const vdb_hnsw *h, const vdb_vecview *view, uint32_t base,
                                vdb_hnsw_cand *c, size_t n, size_t max)
{
    /* The diversity rule alone keeps every exact copy of the base (a
     * copy is no nearer to a kept copy than to the base: both are at its
     * distance), so a node with more than `max` copies would link only to
     * them: a group of copies became a trap with no way out, where
     * searches ended (recall@10 0.50-0.52 at every ef from 32 to 128 with
     * a fifth of a store copies of one vector; BENCHMARKS.md). Copies are
     * capped at hnsw_copy_quota; the rest of the list follows the rule. */
    const float *brow = hnsw_row(view, base);
    float self_dist = hnsw_dist(h, brow, brow);
    size_t quota = hnsw_copy_quota(max), copies = 0;
    uint64_t ranks[VDB_HNSW_MAX_M / 2]; /* the quota smallest, ascending */
    for (size_t i = 0; i < n; i++) {
        if (!hnsw_is_copy(h, view, brow, self_dist, c[i].dist, c[i].id))
            continue;
        uint64_t r = copy_rank(base, c[i].id);
        size_t at = copies < quota ? copies : quota;
        copies++;
        if (at == quota && r >= ranks[quota - 1])
            continue;
        if (at == quota)
            at--;
        while (at > 0 && ranks[at - 1] > r) {
            ranks[at] = ranks[at - 1];
            at--;
        }
        ranks[at] = r;
    }
    uint64_t cut = copies > quota ? ranks[quota - 1] : UINT64_MAX;
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < max; i++) {
        if (copies > 0 && hnsw_is_copy(h, view, brow, self_dist, c[i].dist, c[i].id)) {
            if (copy_rank(base, c[i].id) <= cut)
                c[kept++] = c[i];
            continue;
        }
        const float *row = hnsw_row(view, c[i].id);
        int good = 1;
        for (size_t j = 0; j < kept; j++) {
            if (hnsw_dist(h, row, hnsw_row(view, c[j].id)) < c[i].dist) {
                good = 0;
                break;
            }
        }
        if (good)
            c[kept++] = c[i];
    }
    return kept;
}

int vdb_hnsw__cand_cmp(const void *a, const void *b)
{
    const vdb_hnsw_cand *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Adds `node` (at distance `dist` from `to`) to `to`'s list on `level`,
 * pruning with the heuristic when the list is full. */
static void connect(const vdb_hnsw *h, const vdb_vecview *view, uint32_t to, uint32_t node,
                    float dist, int level, vdb_hnsw_cand *tmp)
{
    uint32_t max = hnsw_max_links(h, level);
    pthread_mutex_lock(hnsw_node_lock(h, to));
    uint32_t *list = hnsw_links(h, to, level);
    uint32_t cnt = list[0];
    for (uint32_t j = 0; j < cnt; j++)
        if (list[1 + j] == node)
            goto done;
    if (cnt < max) {
        hnsw_store(list + 1 + cnt, node);
        hnsw_store_release(list, cnt + 1);
        goto done;
    }
    const float *base = hnsw_row(view, to);
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t id = list[1 + j];
        tmp[j] = (vdb_hnsw_cand){hnsw_dist(h, base, hnsw_row(view, id)), id};
    }
    tmp[cnt] = (vdb_hnsw_cand){dist, node};
    qsort(tmp, cnt + 1, sizeof(*tmp), vdb_hnsw__cand_cmp);
    size_t kept = vdb_hnsw__select_neighbours(h, view, to, tmp, cnt + 1, max);
    for (size_t j = 0; j < kept; j++)
        hnsw_store(list + 1 + j, tmp[j].id);
    hnsw_store_release(list, (uint32_t)kept);
done:
    pthread_mutex_unlock(hnsw_node_lock(h, to));
}

/* Moves the result heap into s->sel sorted nearest first; returns count. */
static size_t drain_sorted(vdb_hnsw_scratch *s)
{
    size_t n = s->nres;
    for (size_t i = n; i > 0; i--)
        s->sel[i - 1] = vdb_heap_max_pop(s->res, &s->nres);
    return n;
}

/* Links `row` (level `level`) into the graph below the entry snapshot. */
static int link_node(vdb_hnsw *h, const vdb_vecview *view, uint32_t row, int level,
                     uint64_t entry, vdb_hnsw_scratch *s)
{
    const float *q = hnsw_row(view, row);
    uint32_t limit = h->capacity < view->n ? h->capacity : view->n;
    uint32_t cur = (uint32_t)entry;
    int top = (int)(entry >> 32);
    int from = level < top ? level : top;
    if (cur >= limit)
        return VDB_EINVAL;
    size_t need = (size_t)(from + 1) * h->m;
    if (vdb_hnsw__grow_array((void **)&s->chosen, &s->chosen_cap, need, sizeof(*s->chosen)) !=
        VDB_OK)
        return VDB_ENOMEM;
    float cur_dist = hnsw_dist(h, q, hnsw_row(view, cur));
    for (int l = top; l > level; l--)
        vdb_hnsw__greedy(h, view, NULL, q, limit, l, &cur, &cur_dist);
    /* Phase 1: choose and write the node's own lists on every level while
     * no other node links to it yet, so no concurrent insert can reach it
     * half-built (an empty level-0 list would strand that insert) or have
     * its link to it overwritten here. hnswlib gets the same effect by
     * holding the node's lock for the whole insertion. */
    for (int l = from; l >= 0; l--) {
        s->nchosen[l] = 0;
        if (vdb_hnsw__scratch_prepare(s, limit, h->ef_construction, h->m0) != VDB_OK)
            return VDB_ENOMEM;
        int rc = vdb_hnsw__search_level(h, view, NULL, q, q, limit, cur, cur_dist, l,
                                        h->ef_construction, NULL, 0, 1, s);
        if (rc != VDB_OK)
            return rc;
        /* The row's exact copies met (kept out of the results, see
         * search_level) go first: they are its nearest, and the selection
         * keeps a few of them. sel has room: ef + m0 + 1 entries. */
        size_t n = drain_sorted(s), nc = s->ncopies;
        memmove(s->sel + nc, s->sel, n * sizeof(*s->sel));
        float self_dist = hnsw_dist(h, q, q);
        for (size_t i = 0; i < nc; i++)
            s->sel[i] = (vdb_hnsw_cand){self_dist, s->copies[i]};
        n += nc;
        if (nc > 0) /* under dot products other rows can be nearer than a copy */
            qsort(s->sel, n, sizeof(*s->sel), vdb_hnsw__cand_cmp);
        /* A re-offered row can meet itself; it must not link to itself. */
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (s->sel[i].id != row)
                s->sel[w++] = s->sel[i];
        n = w;
        if (n == 0)
            continue;
        cur = s->sel[0].id;
        cur_dist = s->sel[0].dist;
        size_t kept = vdb_hnsw__select_neighbours(h, view, row, s->sel, n, h->m);
        uint32_t *list = hnsw_links(h, row, l);
        pthread_mutex_lock(hnsw_node_lock(h, row));
        for (size_t j = 0; j < kept; j++)
            hnsw_store(list + 1 + j, s->sel[j].id);
        hnsw_store_release(list, (uint32_t)kept);
        pthread_mutex_unlock(hnsw_node_lock(h, row));
        memcpy(s->chosen + (size_t)l * h->m, s->sel, kept * sizeof(vdb_hnsw_cand));
        s->nchosen[l] = (uint32_t)kept;
    }
    /* Phase 2: the reverse links make the node reachable. s->res is free
     * again and serves as connect()'s buffer (m0 + 1 entries). */
    for (int l = from; l >= 0; l--)
        for (uint32_t j = 0; j < s->nchosen[l]; j++) {
            const vdb_hnsw_cand *c = &s->chosen[(size_t)l * h->m + j];
            connect(h, view, c->id, row, c->dist, l, s->res);
        }
    return VDB_OK;
}

/* Claims `row` for insertion (so a concurrent add of the same row backs
 * off) and publishes its upper lists; returns 1 when claimed, 0 when the
 * row is already present, or VDB_ENOMEM. */
static int claim_row(vdb_hnsw *h, uint32_t row, int level)
{
    uint32_t *up = NULL;
    if (level > 0) {
        up = vdb_calloc((size_t)level * h->slot_up, sizeof(uint32_t));
        if (up == NULL)
            return VDB_ENOMEM;
    }
    pthread_mutex_lock(hnsw_node_lock(h, row));
    int claimed = h->levels[row] == VDB_HNSW_ABSENT;
    if (claimed) {
        __atomic_store_n(&h->upper[row], up, __ATOMIC_RELEASE);
        __atomic_store_n(&h->levels[row], (uint8_t)level, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(hnsw_node_lock(h, row));
    if (!claimed) {
        vdb_free(up);
        return 0;
    }
    __atomic_fetch_add(&h->upper_u32, (size_t)level * h->slot_up, __ATOMIC_RELAXED);
    return 1;
}

/* Inserts with grow_lock held shared and row < capacity. */
static int insert_locked(vdb_hnsw *h, const vdb_vecview *view, uint32_t row,
                         vdb_hnsw_scratch *s)
{
    int level = vdb_hnsw__draw_level(h, row);
    int rc = claim_row(h, row, level);
    if (rc <= 0)
        return rc;
    uint64_t entry = hnsw_entry_load(h);
    int holds_top = 0;
    if ((uint32_t)entry == VDB_HNSW_NONE || level > (int)(entry >> 32)) {
        pthread_mutex_lock(&h->entry_lock);
        holds_top = 1;
        entry = h->entry;
        if ((uint32_t)entry == VDB_HNSW_NONE) {
            __atomic_store_n(&h->entry, ((uint64_t)level << 32) | row, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&h->entry_lock);
            __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
            return VDB_OK;
        }
        if (level <= (int)(entry >> 32)) {
            pthread_mutex_unlock(&h->entry_lock);
            holds_top = 0;
        }
    }
    rc = link_node(h, view, row, level, entry, s);
    if (holds_top) {
        /* Even after a failure: the node is present at its level, and the
         * validator requires the entry point to be at the top level. */
        __atomic_store_n(&h->entry, ((uint64_t)level << 32) | row, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&h->entry_lock);
    }
    /* On ENOMEM the node stays in the graph with the links made so far: it
     * is reachable or not, but every list stays valid. */
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    return rc;
}

static void note_covered(vdb_hnsw *h, uint32_t rows)
{
    uint32_t cur = __atomic_load_n(&h->covered, __ATOMIC_RELAXED);
    while (cur < rows &&
           !__atomic_compare_exchange_n(&h->covered, &cur, rows, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED)) {
    }
}

/* Grows if needed, then inserts under the shared lock. */
static int add_row(vdb_hnsw *h, const vdb_vecview *view, uint32_t row, vdb_hnsw_scratch *s)
{
    pthread_rwlock_rdlock(&h->grow_lock);
    while (row >= h->capacity) {
        pthread_rwlock_unlock(&h->grow_lock);
        pthread_rwlock_wrlock(&h->grow_lock);
        int rc = vdb_hnsw__grow(h, row + 1);
        pthread_rwlock_unlock(&h->grow_lock);
        if (rc != VDB_OK)
            return rc;
        pthread_rwlock_rdlock(&h->grow_lock);
    }
    int rc = insert_locked(h, view, row, s);
    pthread_rwlock_unlock(&h->grow_lock);
    return rc;
}

int vdb_hnsw_add(vdb_hnsw *h, const vdb_vecview *view, uint32_t row, vdb_hnsw_scratch *scratch,
                 vdb_error *err)
{
    int rc = vdb_hnsw__check_view(h, view, err);
    if (rc != VDB_OK)
        return rc;
    if (row >= view->n || row == UINT32_MAX)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: row %u outside the view's %u rows", row,
                             view->n);
    if (scratch == NULL && (scratch = vdb_hnsw__thread_scratch()) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory for scratch");
    rc = add_row(h, view, row, scratch);
    if (rc == VDB_EINVAL)
        return vdb_error_set(err, rc, "hnsw: view of %u rows is older than the graph", view->n);
    if (rc < 0)
        return vdb_error_set(err, rc, "hnsw: out of memory inserting row %u", row);
    note_covered(h, row + 1);
    return VDB_OK;
}

/* ---- parallel build ------------------------------------------------------ */

#define BUILD_CHUNK 16

typedef struct build_job {
    vdb_hnsw *h;
    const vdb_vecview *view;
    uint32_t from, to;
    vdb_hnsw_scratch **scratch; /* one per pool thread */
    int rc;                     /* atomic: first failure */
} build_job;

static void build_task(void *arg, size_t task, int worker)
{
    build_job *job = arg;
    if (__atomic_load_n(&job->rc, __ATOMIC_RELAXED) != VDB_OK)
        return;
    uint64_t start = (uint64_t)job->from + (uint64_t)task * BUILD_CHUNK;
    uint64_t end = start + BUILD_CHUNK < job->to ? start + BUILD_CHUNK : job->to;
    for (uint64_t r = start; r < end; r++) {
        if (vdb_vecview_is_deleted(job->view, (uint32_t)r))
            continue;
        int rc = add_row(job->h, job->view, (uint32_t)r, job->scratch[worker]);
        if (rc < 0) {
            int expected = VDB_OK;
            __atomic_compare_exchange_n(&job->rc, &expected, rc, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
            return;
        }
    }
}

int vdb_hnsw_build(vdb_hnsw *h, const vdb_vecview *view, uint32_t from, uint32_t to,
                   vdb_error *err)
{
    int rc = vdb_hnsw__check_view(h, view, err);
    if (rc != VDB_OK)
        return rc;
    if (from > to || to > view->n)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: rows [%u, %u) outside the view's %u rows",
                             from, to, view->n);
    if (from == to)
        return VDB_OK;
    if ((rc = vdb_hnsw_reserve(h, to, err)) != VDB_OK)
        return rc;
    vdb_pool *pool = vdb_pool_global();
    int threads = vdb_pool_threads(pool);
    build_job job = {h, view, from, to, NULL, VDB_OK};
    job.scratch = vdb_calloc((size_t)threads, sizeof(*job.scratch));
    if (job.scratch == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory for build");
    for (int i = 0; i < threads; i++)
        if (rc == VDB_OK)
            rc = vdb_hnsw_scratch_new(&job.scratch[i], NULL);
    if (rc == VDB_OK) {
        size_t tasks = ((size_t)(to - from) + BUILD_CHUNK - 1) / BUILD_CHUNK;
        vdb_pool_run(pool, tasks, build_task, &job);
        rc = job.rc;
    }
    for (int i = 0; i < threads; i++)
        vdb_hnsw_scratch_free(job.scratch[i]);
    vdb_free(job.scratch);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "hnsw: building rows [%u, %u): %s", from, to,
                             vdb_err_text(rc));
    note_covered(h, to);
    return VDB_OK;
}

int vdb_hnsw_rebuild(const vdb_hnsw *old, const vdb_vecview *view, vdb_hnsw **out,
                     vdb_error *err)
{
    vdb_hnsw_params p = vdb_hnsw_get_params(old);
    vdb_hnsw *h;
    *out = NULL;
    int rc = vdb_hnsw_new(old->dim, old->metric, &p, &h, err);
    if (rc != VDB_OK)
        return rc;
    if ((rc = vdb_hnsw_build(h, view, 0, view->n, err)) != VDB_OK) {
        vdb_hnsw_free(h);
        return rc;
    }
    *out = h;
    return VDB_OK;
}
