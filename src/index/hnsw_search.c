/* HNSW search: greedy descent through the upper levels, then a best-first
 * beam search on level 0 (also used, per level, by insertion).
 *
 * The beam step is where the time goes, and nearly all of it is waiting for
 * row vectors that are not in cache (a 384-d row is 24 cache lines at a
 * random address). So each expansion first collects the node's unvisited
 * neighbours (marking them visited), requests all their rows into L2 at
 * once (prefetch_node), and only then computes their distances: every
 * row's misses are in flight together, and the distance loads hit L2.
 * On float rows the distances are computed four rows per kernel call; the
 * upper levels' greedy descent scores its neighbours the same way (about a
 * fifth of a query's distances at M 16).
 * The whole link slot of the next candidate is prefetched as soon as it is
 * known: when it is popped, and when a scored neighbour becomes the nearest
 * candidate (it is expanded next).
 * Every prefetch here is in an always-inlined helper (core/prefetch.h):
 * GCC deleted plain static helpers that only prefetched, and until
 * 2026-12-06 the row and code prefetches were not in the binary at all.
 * See BENCHMARKS.md, issue 13, "Prefetches that the compiler deleted".
 * Links are read with relaxed atomic loads so searches run beside inserts
 * (see hnsw.h); the count is clamped, so a list caught mid-rewrite yields
 * only valid ids. */
#include "hnsw.h"

#include <string.h>

#include "../core/alloc.h"
#include "../core/hash.h"
#include "../kernel/topk.h"
#include "hnsw_int.h"

/* Requests into L2 what the traversal distance of row `id` reads. A
 * search asks for a whole batch of neighbours at once and then scores them:
 * into L2 the requests all travel together (core/prefetch.h), and the loads
 * that follow hit L2. Against prefetching the next few rows into L1 as
 * they are scored, measured in one process on Zen 5: float 1.33-1.38x at
 * 1M x 128, 1.52-1.67x at 100k x 384; int8 1.03-1.12x and 1.35-1.75x
 * (BENCHMARKS.md, "Prefetches that the compiler deleted"). */
VDB_ALWAYS_INLINE void prefetch_node(const vdb_hnsw *h, const vdb_vecview *view,
                                    const vdb_hnsw_codes *codes, uint32_t id)
{
    if (codes == NULL) {
        hnsw_prefetch_row_l2(view, id);
        return;
    }
    if (codes->bits != NULL) {
        vdb_prefetch_l2(codes->bits + (size_t)id * codes->words,
                               codes->words * sizeof(uint64_t));
        __builtin_prefetch(codes->row_term + id, 0, 2);
        return;
    }
    vdb_prefetch_l2(codes->codes + (size_t)id * h->dim, h->dim);
}

void vdb_hnsw__greedy(const vdb_hnsw *h, const vdb_vecview *view, const vdb_hnsw_codes *codes,
                      const float *query, uint32_t limit, int level, uint32_t *cur,
                      float *cur_dist)
{
    uint32_t best = *cur;
    float best_dist = *cur_dist;
    int changed = 1;
    while (changed) {
        changed = 0;
        const uint32_t *list = hnsw_links(h, best, level);
        uint32_t cnt = hnsw_load_acquire(list);
        if (cnt > h->m)
            cnt = h->m;
        uint32_t ids[VDB_HNSW_MAX_M];
        uint32_t n = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t id = hnsw_load(list + 1 + j);
            if (id < limit)
                ids[n++] = id;
        }
        /* On float rows, four rows per kernel call as on level 0 (the
         * same distances, so the same descent). */
        uint32_t fours = codes == NULL ? n & ~3u : 0;
        /* Every neighbour's row or code requested into L2 at once. */
        for (uint32_t j = 0; j < n; j++)
            prefetch_node(h, view, codes, ids[j]);
        float four[4];
        for (uint32_t j = 0; j < n; j++) {
            uint32_t id = ids[j];
            float d;
            if (j < fours) {
                if ((j & 3) == 0) {
                    const float *rows[4] = {hnsw_row(view, id), hnsw_row(view, ids[j + 1]),
                                            hnsw_row(view, ids[j + 2]),
                                            hnsw_row(view, ids[j + 3])};
                    hnsw_dist4(h, query, rows, four);
                }
                d = four[j & 3];
            } else {
                d = hnsw_trav_dist(h, view, codes, query, id);
            }
            if (d < best_dist) {
                best_dist = d;
                best = id;
                changed = 1;
            }
        }
    }
    *cur = best;
    *cur_dist = best_dist;
}

float vdb_hnsw__binary_dist(const vdb_hnsw_codes *c, uint32_t id)
{
    const uint64_t *b = c->bits + (size_t)id * c->words;
    uint32_t ham[VDB_HNSW_QPLANES];
    for (unsigned j = 0; j < VDB_HNSW_QPLANES; j++)
        ham[j] = c->hamming(c->qbits + j * c->words, b, c->words);
    float ip = vdb_hnsw_binary_ip(c->step, c->lo, c->wsum, c->plane_pop,
                                  c->hamming(c->zero, b, c->words), ham);
    return vdb_hnsw_binary_key(c->l2, c->row_term[id], ip);
}

static inline int accepted(const vdb_vecview *view, const vdb_filter_hook *filter,
                           int skip_deleted, uint32_t id)
{
    if (skip_deleted && vdb_vecview_is_deleted(view, id))
        return 0;
    return filter == NULL || filter->accept(filter->ctx, id);
}

/* Collects the unvisited neighbours of `node` below `limit` into s->batch
 * and marks them visited; returns how many. `branchless`: without a branch
 * on the visited test, whose outcome is a coin toss the predictor loses.
 * Measured on Zen 5, 100k x 384, one process alternating: on codes +2-4%
 * search QPS, on float rows -1-3% (there the rows' transfer bounds the
 * search and the extra stores cost more than the mispredictions), so only
 * the codes path takes it. */
static size_t gather(const vdb_hnsw *h, uint32_t node, int level, uint32_t limit,
                     vdb_hnsw_scratch *s, int branchless)
{
    const uint32_t *list = hnsw_links(h, node, level);
    uint32_t cnt = hnsw_load_acquire(list);
    uint32_t max = hnsw_max_links(h, level);
    if (cnt > max)
        cnt = max;
    hnsw_visit_room(s, cnt);
    uint32_t *batch = s->batch;
    size_t n = 0;
    if (branchless) {
        /* An id past `limit` reads row 0's word and leaves it alone. */
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t id = hnsw_load(list + 1 + j);
            uint32_t in = id < limit;
            batch[n] = id;
            n += hnsw_visit(s, in ? id : 0, in);
        }
        return n;
    }
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t id = hnsw_load(list + 1 + j);
        if (id < limit && hnsw_visit(s, id, 1))
            batch[n++] = id;
    }
    return n;
}

/* Prefetches every cache line of a node's link list (up to 1 + 2M u32). */
VDB_ALWAYS_INLINE void prefetch_links(const vdb_hnsw *h, uint32_t id, int level)
{
    vdb_prefetch(hnsw_links(h, id, level),
                        (1 + (size_t)hnsw_max_links(h, level)) * sizeof(uint32_t));
}

/* Insertion: notes `id` as an exact copy of the row being inserted when it
 * is one; the first h->m copies are listed, and only those are expanded. */
static inline int note_copy(const vdb_hnsw *h, const vdb_vecview *view, const float *self,
                            float self_dist, float dist, uint32_t id, vdb_hnsw_scratch *s,
                            int *listed)
{
    if (self == NULL || !hnsw_is_copy(h, view, self, self_dist, dist, id))
        return 0;
    *listed = s->ncopies < h->m;
    if (*listed)
        s->copies[s->ncopies++] = id;
    return 1;
}

/* Starts a search's table of the groups of identical rows met: room for
 * twice the results it can push before it stops recording (past half
 * full, new rows go unrecorded and count as unique). A new stamp empties
 * the table without touching it. 0 or VDB_ENOMEM. */
static int groups_reset(vdb_hnsw_scratch *s, size_t ef, size_t m0)
{
    size_t want = 64;
    while (want < 4 * (ef + m0))
        want *= 2;
    size_t had = s->groups_cap;
    if (vdb_hnsw__grow_array((void **)&s->groups, &s->groups_cap, want, sizeof(*s->groups)) !=
        VDB_OK)
        return VDB_ENOMEM;
    if (s->groups_cap != had)
        s->gstamp = UINT32_MAX; /* new slots hold garbage: zero them below */
    /* Stamps run 1, 2, ...: slots left at 0 are empty for every search. */
    if (s->gstamp == UINT32_MAX) {
        memset(s->groups, 0, s->groups_cap * sizeof(*s->groups));
        s->gstamp = 0;
    }
    s->gstamp++;
    s->ngroups = 0;
    return VDB_OK;
}

/* The table slot a distance's bits hash to (multiplicative hashing, the
 * product's high bits; tables stay below 2^24 slots). */
static inline size_t group_slot(uint32_t key, size_t mask)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

/* Insertion: which row of a group the inserted row `salt` links to is
 * the met row of least rank, a hash of both ids, so that the group's
 * in-links spread over its rows instead of all going to the rows met
 * first (the few the rest of the graph links to). */
static inline uint64_t group_rank(uint32_t salt, uint32_t id)
{
    return vdb_hash_mix64(((uint64_t)salt << 32) | id);
}

/* Notes row `id` at distance `dist` among the groups of identical rows the
 * search has met; returns how many rows of its values were met before it
 * (0: the first, recorded). Rows with equal values have bit-equal
 * distances (the same kernel on the same values, codes included), so only
 * an equal distance leads to a compare of the rows. */
static uint32_t group_note(const vdb_hnsw *h, const vdb_vecview *view, vdb_hnsw_scratch *s,
                           float dist, uint32_t id)
{
    uint32_t key;
    memcpy(&key, &dist, sizeof(key));
    size_t mask = s->groups_cap - 1;
    for (size_t i = group_slot(key, mask);; i = (i + 1) & mask) {
        vdb_hnsw_group *g = &s->groups[i];
        if (g->stamp != s->gstamp) {
            if (2 * s->ngroups < s->groups_cap) {
                *g = (vdb_hnsw_group){key, id, 0, s->gstamp, id};
                s->ngroups++;
            }
            return 0;
        }
        if (g->key == key &&
            memcmp(hnsw_row(view, id), hnsw_row(view, g->id), (size_t)h->dim * sizeof(float)) == 0) {
            if (group_rank(s->gsalt, id) < group_rank(s->gsalt, g->pick))
                g->pick = id;
            return ++g->more;
        }
    }
}

/* Starts grouping on results already held: a fresh table, then notes each
 * of res[0, nres) and keeps those within the first `repeats` of their
 * values, as a max-heap again (rebuilt in place: an entry is read before
 * any push can reach its slot). Returns how many are kept, SIZE_MAX when
 * out of memory. Out of line: the hot loop only tests for the tie. */
__attribute__((noinline, cold)) static size_t
groups_start(const vdb_hnsw *h, const vdb_vecview *view, vdb_hnsw_scratch *s, size_t ef,
             vdb_hnsw_cand *res, size_t nres, size_t repeats)
{
    if (groups_reset(s, ef, h->m0) != VDB_OK)
        return SIZE_MAX;
    size_t kept = 0;
    for (size_t i = 0; i < nres; i++) {
        vdb_hnsw_cand c = res[i];
        if (group_note(h, view, s, c.dist, c.id) < repeats)
            vdb_heap_max_push(res, &kept, c);
    }
    return kept;
}

/* Insertion: each result that stands for a group becomes the group's
 * pick (the same values, so the same distance: the heap order holds). */
static void groups_pick(vdb_hnsw_scratch *s, vdb_hnsw_cand *res, size_t nres)
{
    size_t mask = s->groups_cap - 1;
    for (size_t r = 0; r < nres; r++) {
        uint32_t key;
        memcpy(&key, &res[r].dist, sizeof(key));
        for (size_t i = group_slot(key, mask); s->groups[i].stamp == s->gstamp;
             i = (i + 1) & mask) {
            vdb_hnsw_group *g = &s->groups[i];
            if (g->key == key && g->id == res[r].id) {
                res[r].id = g->pick;
                break;
            }
        }
    }
}

int vdb_hnsw__search_level(const vdb_hnsw *h, const vdb_vecview *view,
                           const vdb_hnsw_codes *codes, const float *query, const float *self,
                           uint32_t limit, uint32_t entry, float entry_dist, int level, size_t ef,
                           const vdb_filter_hook *filter, int skip_deleted, size_t repeats,
                           vdb_hnsw_scratch *s)
{
    vdb_hnsw_cand *cand = s->cand, *res = s->res;
    size_t ncand = 0, nres = 0;
    /* Distance a new node must beat to matter once the results are full. */
    float bound = __builtin_inff();
    float self_dist = self != NULL ? hnsw_dist(h, self, self) : 0.0f;
    int listed;
    s->ncopies = 0;
    /* Whether rows of equal values are being grouped: from the start for
     * an insert; for a query only once a tie is seen (below), so a store
     * without copies pays one compare a scored row (grouping from the
     * start cost 1-4% of QPS at 1M x 128). */
    int grouping = repeats > 0 && self != NULL;
    float last = __builtin_nanf("");
    if (grouping) {
        if (groups_reset(s, ef, h->m0) != VDB_OK)
            return VDB_ENOMEM;
        s->gsalt = self >= view->data && self < view->data + (size_t)view->n * view->dim
                       ? (uint32_t)((size_t)(self - view->data) / view->dim)
                       : 0;
    }
    hnsw_visit_room(s, 1);
    hnsw_visit(s, entry, 1);
    vdb_heap_min_push(cand, &ncand, (vdb_hnsw_cand){entry_dist, entry});
    /* A copy of the inserted row is expanded but never a result. */
    if (!note_copy(h, view, self, self_dist, entry_dist, entry, s, &listed) &&
        accepted(view, filter, skip_deleted, entry)) {
        if (grouping)
            (void)group_note(h, view, s, entry_dist, entry);
        vdb_heap_max_push(res, &nres, (vdb_hnsw_cand){entry_dist, entry});
        if (nres >= ef)
            bound = res[0].dist;
    }
    while (ncand > 0) {
        vdb_hnsw_cand c = vdb_heap_min_pop(cand, &ncand);
        if (c.dist > bound)
            break;
        if (ncand > 0)
            prefetch_links(h, cand[0].id, level);
        size_t n = gather(h, c.id, level, limit, s, codes != NULL);
        /* The whole batch's rows (or codes) requested into L2 before any is
         * scored. On float rows the neighbours are then scored in fours
         * (hnsw_dist4: one query load serves 4 rows, results bit-identical
         * to one row at a time). */
        size_t fours = codes == NULL ? n : 0;
        for (size_t j = 0; j < n; j++)
            prefetch_node(h, view, codes, s->batch[j]);
        if (ncand + n > s->cand_cap) {
            /* The candidate heap can outgrow its estimate under selective
             * filters; growth is rare and amortized. */
            size_t want = (ncand + n) * 2;
            vdb_hnsw_cand *grown = vdb_realloc(s->cand, want * sizeof(*grown));
            if (grown == NULL) {
                s->ncand = ncand;
                s->nres = nres;
                return VDB_ENOMEM;
            }
            s->cand = cand = grown;
            s->cand_cap = want;
        }
        /* On codes, the batch's distances first, in a loop without
         * data-dependent branches, so that the rows' loads overlap instead
         * of each waiting on the heap decision before it; then the heap
         * updates, in the same order. Measured on Zen 5, 100k x 384, one
         * process alternating: int8 +3-7%. Float rows are scored in fours
         * inside the update loop instead: there the rows' transfer, not
         * their latency, bounds the search, and the heap work fills it
         * (split, float lost 2-3% at ef 16). */
        float *dists = s->dists;
        if (fours == 0)
            for (size_t j = 0; j < n; j++) {
                dists[j] = hnsw_trav_dist(h, view, codes, query, s->batch[j]);
            }
        for (size_t j = 0; j < n; j++) {
            uint32_t id = s->batch[j];
            if (j < fours && (j & 3) == 0) {
                /* A last group of 1-3 rows repeats its last row (in cache
                 * by then) to fill the four: one call, the rows' loads
                 * still together. */
                const float *rows[4];
                for (size_t t = 0; t < 4; t++)
                    rows[t] = hnsw_row(view, s->batch[j + t < n ? j + t : n - 1]);
                hnsw_dist4(h, query, rows, dists + j);
            }
            float d = dists[j];
            if (note_copy(h, view, self, self_dist, d, id, s, &listed)) {
                if (listed)
                    vdb_heap_min_push(cand, &ncand, (vdb_hnsw_cand){d, id});
                continue;
            }
            /* A query meets a group of equal rows as two equal distances
             * in a row (a node's list holds its copies first, and a copy's
             * list more copies). Grouping starts there: the results'
             * surplus repeats leave them. */
            if (__builtin_expect(d == last, 0) && !grouping && repeats > 0) {
                nres = groups_start(h, view, s, ef, res, nres, repeats);
                if (nres == SIZE_MAX) {
                    s->ncand = ncand;
                    s->nres = 0;
                    return VDB_ENOMEM;
                }
                grouping = 1;
                bound = nres >= ef ? res[0].dist : __builtin_inff();
            }
            last = d;
            if (d >= bound)
                continue;
            /* Accepted rows of equal values: only `repeats` of them hold
             * places in the results, and the first h->m repeats are
             * expanded for their links. Without the limit a few hundred
             * copies of one vector filled the ef results at one distance
             * and stopped the search there: inserted rows got lists of a
             * few links (a cluster's late rows became an island) and
             * queries that entered the group never left it. */
            if (__builtin_expect(grouping, 0) && accepted(view, filter, skip_deleted, id)) {
                uint32_t more = group_note(h, view, s, d, id);
                if (more >= repeats) {
                    if (more <= h->m) {
                        vdb_heap_min_push(cand, &ncand, (vdb_hnsw_cand){d, id});
                        if (cand[0].id == id)
                            prefetch_links(h, id, level);
                    }
                    continue;
                }
            }
            vdb_heap_min_push(cand, &ncand, (vdb_hnsw_cand){d, id});
            /* The new nearest candidate is the next one expanded: fetch its
             * links while the rest of the batch is scored. */
            if (cand[0].id == id)
                prefetch_links(h, id, level);
            if (!accepted(view, filter, skip_deleted, id))
                continue;
            vdb_heap_max_push(res, &nres, (vdb_hnsw_cand){d, id});
            if (nres > ef)
                vdb_heap_max_pop(res, &nres);
            if (nres >= ef)
                bound = res[0].dist;
        }
    }
    if (grouping && self != NULL)
        groups_pick(s, res, nres);
    s->ncand = ncand;
    s->nres = nres;
    return VDB_OK;
}

/* Sorts hits best first, ties by row id (k is small: insertion sort). */
static void sort_hits(vdb_hit *hits, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        vdb_hit x = hits[i];
        size_t j = i;
        while (j > 0 && (hits[j - 1].dist > x.dist ||
                         (hits[j - 1].dist == x.dist && hits[j - 1].id > x.id))) {
            hits[j] = hits[j - 1];
            j--;
        }
        hits[j] = x;
    }
}

int vdb_hnsw__check_view(const vdb_hnsw *h, const vdb_vecview *view, vdb_error *err)
{
    if (view == NULL || (view->n > 0 && view->data == NULL))
        return vdb_error_set(err, VDB_EINVAL, "hnsw: missing view");
    if (view->dim != h->dim)
        return vdb_error_set(err, VDB_EDIM, "hnsw: view dim %u != index dim %u", view->dim,
                             h->dim);
    if (view->metric != h->metric)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: view metric %s != index metric %s",
                             vdb_metric_name(view->metric), vdb_metric_name(h->metric));
    return VDB_OK;
}

static int check_search_args(const vdb_hnsw *h, const vdb_vecview *view, const float *query,
                             size_t k, size_t ef, vdb_error *err)
{
    if (k == 0)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: k must be > 0");
    if (ef > VDB_HNSW_MAX_EF || k > VDB_HNSW_MAX_EF)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: ef %zu / k %zu above %u", ef, k,
                             VDB_HNSW_MAX_EF);
    if (query == NULL)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: missing query");
    return vdb_hnsw__check_view(h, view, err);
}

/* Runs the search with grow_lock held shared; with codes, traversal runs
 * on them and the ef results are re-ranked on the float rows. */
static int search_locked(const vdb_hnsw *h, const vdb_vecview *view, const float *query,
                         const vdb_hnsw_codes *codes, size_t k, size_t ef,
                         const vdb_filter_hook *filter, vdb_hnsw_scratch *s, vdb_hit *out,
                         size_t *nout, vdb_error *err)
{
    uint64_t entry = hnsw_entry_load(h);
    uint32_t ep = (uint32_t)entry;
    int max_level = (int)(entry >> 32);
    if (ep == VDB_HNSW_NONE) {
        *nout = 0;
        return VDB_OK;
    }
    uint32_t limit = view->n < h->capacity ? view->n : h->capacity;
    if (codes != NULL && codes->rows < limit)
        limit = codes->rows;
    if (ep >= limit)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: view has %u rows, entry point is row %u",
                             view->n, ep);
    if (vdb_hnsw__scratch_prepare(s, limit, ef, h->m0) != VDB_OK)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory for search scratch");
    float d = hnsw_trav_dist(h, view, codes, query, ep);
    for (int level = max_level; level > 0; level--)
        vdb_hnsw__greedy(h, view, codes, query, limit, level, &ep, &d);
    int rc =
        vdb_hnsw__search_level(h, view, codes, query, NULL, limit, ep, d, 0, ef, filter, 1, k, s);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "hnsw: out of memory during search");
    if (codes != NULL) {
        /* Exact distances for the ef results; the heap order no longer
         * holds, so keep the k best by a plain selection into a topk. */
        vdb_topk top;
        float shift = h->metric == VDB_METRIC_COSINE ? 1.0f : 0.0f;
        vdb_topk_init(&top, out, k);
        /* The float rows are cold here (the traversal read only codes):
         * all ef of them requested into L2 at once, then scored four rows
         * per kernel call. */
        size_t nres = s->nres;
        for (size_t i = 0; i < nres; i++)
            hnsw_prefetch_row_l2(view, s->res[i].id);
        for (size_t i = 0; i < nres; i += 4) {
            /* A last group of 1-3 rows repeats its last row. */
            uint32_t ids[4];
            const float *rows[4];
            float four[4];
            for (size_t t = 0; t < 4; t++) {
                ids[t] = s->res[i + t < nres ? i + t : nres - 1].id;
                rows[t] = hnsw_row(view, ids[t]);
            }
            hnsw_dist4(h, query, rows, four);
            for (size_t t = 0; t < 4 && i + t < nres; t++)
                vdb_topk_push(&top, four[t] + shift, ids[t]);
        }
        *nout = vdb_topk_sort(&top);
        return VDB_OK;
    }
    while (s->nres > k)
        vdb_heap_max_pop(s->res, &s->nres);
    size_t n = s->nres;
    float shift = h->metric == VDB_METRIC_COSINE ? 1.0f : 0.0f;
    for (size_t i = 0; i < n; i++) {
        out[i].dist = s->res[i].dist + shift;
        out[i].id = s->res[i].id;
    }
    sort_hits(out, n);
    *nout = n;
    return VDB_OK;
}

/* Both entry points: argument checks, scratch, grow_lock held shared. */
static int search(const vdb_hnsw *h, const vdb_vecview *view, const float *query,
                  const vdb_hnsw_codes *codes, size_t k, size_t ef, const vdb_filter_hook *filter,
                  vdb_hnsw_scratch *scratch, vdb_hit *out, size_t *nout, vdb_error *err)
{
    if (ef == 0)
        ef = __atomic_load_n(&h->ef_search, __ATOMIC_RELAXED);
    int rc = check_search_args(h, view, query, k, ef, err);
    if (rc != VDB_OK)
        return rc;
    if (ef < k)
        ef = k;
    if (scratch == NULL && (scratch = vdb_hnsw__thread_scratch()) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory for search scratch");
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->grow_lock);
    rc = search_locked(h, view, query, codes, k, ef, filter, scratch, out, nout, err);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->grow_lock);
    return rc;
}

int vdb_hnsw_search(const vdb_hnsw *h, const vdb_vecview *view, const float *query, size_t k,
                    size_t ef, const vdb_filter_hook *filter, vdb_hnsw_scratch *scratch,
                    vdb_hit *out, size_t *nout, vdb_error *err)
{
    return search(h, view, query, NULL, k, ef, filter, scratch, out, nout, err);
}

int vdb_hnsw_search_codes(const vdb_hnsw *h, const vdb_vecview *view, const float *query,
                          const vdb_hnsw_codes *codes, size_t k, size_t ef,
                          const vdb_filter_hook *filter, vdb_hnsw_scratch *scratch, vdb_hit *out,
                          size_t *nout, vdb_error *err)
{
    int int8 = codes != NULL && codes->codes != NULL && codes->qcode != NULL && codes->dot != NULL;
    int bin = codes != NULL && codes->bits != NULL && codes->qbits != NULL && codes->words > 0 &&
              codes->row_term != NULL && codes->zero != NULL && codes->hamming != NULL;
    if (!int8 && !bin)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: incomplete traversal codes");
    return search(h, view, query, codes, k, ef, filter, scratch, out, nout, err);
}
