/* Internals shared by hnsw.c, hnsw_search.c, hnsw_build.c and hnsw_io.c:
 * the struct layouts, link-slot addressing, atomic link access, distance
 * helpers and the two heaps of the best-first search.
 *
 * Internal distances: cosine and dot use -dot(q, x) during traversal (the
 * same order as cosine's 1 - dot, one subtraction cheaper); results add 1
 * back for cosine. L2 is squared L2 throughout. */
#ifndef VDB_INDEX_HNSW_INT_H
#define VDB_INDEX_HNSW_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/prefetch.h"
#include "../kernel/dist.h"
#include "hnsw.h"

/* Striped node locks: a node's link lists are rewritten under
 * locks[id % VDB_HNSW_LOCKS]. A fixed table keeps memory independent of the
 * node count (hnswlib spends a 40-byte mutex per node) at the cost of rare
 * false sharing of a lock between two inserting threads. */
#define VDB_HNSW_LOCKS 4096

#define VDB_HNSW_ABSENT 0xFFu    /* levels[] value of a row not in the graph */
#define VDB_HNSW_NONE UINT32_MAX /* no entry point */

#ifndef VDB_HNSW_ALIGN_SLOTS
#define VDB_HNSW_ALIGN_SLOTS 0
#endif

struct vdb_hnsw {
    uint32_t dim;
    vdb_metric metric;
    uint32_t m;               /* max links on levels > 0 */
    uint32_t m0;              /* max links on level 0 (2m) */
    uint32_t ef_construction;
    uint32_t ef_search;       /* accessed atomically */
    uint64_t seed;
    double level_mult;        /* 1 / ln(m) */
    size_t slot0;             /* u32 per level-0 slot: 1 + m0 */
    size_t slot_up;           /* u32 per upper-level list: 1 + m */
    vdb_dist_pair_fn dot;
    vdb_dist_pair_fn l2sq;
    vdb_dist_four_fn dot4;    /* 4 rows at once, bit-identical to dot */
    vdb_dist_four_fn l2sq4;

    /* Held shared by adds and searches, exclusively to grow the arrays and
     * while saving or checking. */
    pthread_rwlock_t grow_lock;
    uint32_t capacity;        /* rows the arrays below cover */
    uint32_t *links0;         /* capacity * slot0: [count, ids...] */
    uint32_t **upper;         /* capacity; level L node: L * slot_up u32 */
    uint8_t *levels;          /* capacity; VDB_HNSW_ABSENT when not in graph */

    pthread_mutex_t entry_lock;  /* serializes growth of the top level */
    uint64_t entry;              /* atomic: (max_level << 32) | entry row */
    size_t count;                /* atomic: nodes present */
    uint32_t covered;            /* atomic: see vdb_hnsw_rows */
    size_t upper_u32;            /* atomic: u32 in all upper lists */
    pthread_mutex_t locks[VDB_HNSW_LOCKS];
};

/* A (distance, id) pair of the search heaps (kernel/heap.h). */
typedef vdb_hit vdb_hnsw_cand;

/* One group of identical rows met by a search (see
 * vdb_hnsw__search_level): the distance's bits, the first row met, how many
 * more were met. */
typedef struct vdb_hnsw_group {
    uint32_t key;
    uint32_t id;
    uint32_t more;
    uint32_t stamp;  /* the slot is empty unless it equals the search's */
    uint32_t pick;   /* insertion: the row of the group that is linked */
} vdb_hnsw_group;

struct vdb_hnsw_scratch {
    /* The visited set: one bit a row (bit id % 64 of word id / 64), so
     * that at 1M rows it is 128 KiB and stays in L2 (an epoch tag per row,
     * 2 bytes, was 2 MiB: every test missed to L3, about an eighth of the
     * search's time at 1M x 128). The words set since the last clear are
     * logged in vlog and cleared one by one; past vlog_cap the log stops
     * and the next clear zeroes the whole set (see hnsw_visit). */
    uint64_t *visited;
    size_t visited_words;
    uint32_t *vlog;           /* ids whose bit was set, vlog_n of them */
    size_t vlog_n;
    size_t vlog_cap;
    int vlog_full;            /* ids were set without a log entry */
    vdb_hnsw_cand *cand;      /* min-heap: nodes still to expand */
    size_t cand_cap;
    size_t ncand;
    vdb_hnsw_cand *res;       /* max-heap: the best ef accepted nodes */
    size_t res_cap;
    size_t nres;
    vdb_hnsw_cand *sel;       /* sorted candidates / neighbour selection */
    size_t sel_cap;
    uint32_t copies[VDB_HNSW_MAX_M]; /* insertion: exact copies of the row met */
    vdb_hnsw_group *groups;   /* open addressing, a power of two */
    size_t groups_cap;
    size_t ngroups;
    uint32_t gstamp;          /* the current search's stamp */
    uint32_t gsalt;           /* insertion: the inserted row (picks) */
    size_t ncopies;
    uint32_t *batch;          /* unvisited neighbours of one expansion */
    size_t batch_cap;
    float *dists;             /* their distances (rounded up to fours) */
    size_t dists_cap;
    vdb_hnsw_cand *chosen;    /* insertion: level l's picks at [l * m] */
    size_t chosen_cap;
    uint32_t nchosen[VDB_HNSW_MAX_LEVEL + 1];
};

/* ---- atomics (GCC/Clang builtins: TSan-visible, plain moves on x86) ---- */

static inline uint32_t hnsw_load(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint32_t hnsw_load_acquire(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void hnsw_store(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void hnsw_store_release(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t hnsw_entry_load(const vdb_hnsw *h)
{
    return __atomic_load_n(&h->entry, __ATOMIC_ACQUIRE);
}

/* The link list of `node` on `level`: [count, id0, id1, ...]. */
static inline uint32_t *hnsw_links(const vdb_hnsw *h, uint32_t node, int level)
{
    if (level == 0)
        return h->links0 + (size_t)node * h->slot0;
    uint32_t *up = __atomic_load_n(&h->upper[node], __ATOMIC_ACQUIRE);
    return up + (size_t)(level - 1) * h->slot_up;
}

/* The striped lock `node`'s link lists are rewritten under (see the top). */
static inline pthread_mutex_t *hnsw_node_lock(const vdb_hnsw *h, uint32_t node)
{
    return (pthread_mutex_t *)&h->locks[node % VDB_HNSW_LOCKS];
}

static inline uint32_t hnsw_max_links(const vdb_hnsw *h, int level)
{
    return level == 0 ? h->m0 : h->m;
}

static inline const float *hnsw_row(const vdb_vecview *view, uint32_t id)
{
    return view->data + (size_t)id * view->dim;
}

/* Traversal distance (see the top of this file). */
static inline float hnsw_dist(const vdb_hnsw *h, const float *a, const float *b)
{
    if (h->metric == VDB_METRIC_L2)
        return h->l2sq(a, b, h->dim);
    return -h->dot(a, b, h->dim);
}

/* Traversal distances of 4 rows, bit-identical to hnsw_dist on each. */
static inline void hnsw_dist4(const vdb_hnsw *h, const float *q, const float *const rows[4],
                              float out[4])
{
    if (h->metric == VDB_METRIC_L2) {
        h->l2sq4(q, rows, h->dim, out);
        return;
    }
    h->dot4(q, rows, h->dim, out);
    for (int r = 0; r < 4; r++)
        out[r] = -out[r];
}

/* Requests a row's cache lines into L2 (core/prefetch.h): for a whole
 * batch of rows at once, ahead of their distances. */
VDB_ALWAYS_INLINE void hnsw_prefetch_row_l2(const vdb_vecview *view, uint32_t id)
{
    vdb_prefetch_l2(hnsw_row(view, id), (size_t)view->dim * sizeof(float));
}

/* Visited-log entries: enough for a search at ef in the hundreds (each
 * expansion logs at most m0 new ids); 32 KiB, cheaper to walk than the
 * bitset of a large index is to zero. */
#define VDB_HNSW_VLOG_CAP 8192

/* Tests and, when `in` is 1, sets the visited bit of row `id` (< the rows
 * scratch_prepare was given): returns 1 if `in` and the bit was clear, that
 * is, `id` is new. With `in` 0 it changes nothing and returns 0. Branch-free,
 * so it runs in the neighbour loops without mispredicting on the outcome.
 * The caller has made room: hnsw_visit_room for each batch of calls. */
static inline uint32_t hnsw_visit(vdb_hnsw_scratch *s, uint32_t id, uint32_t in)
{
    uint64_t *w = s->visited + (id >> 6);
    uint64_t bit = (uint64_t)in << (id & 63);
    uint64_t old = *w;
    *w = old | bit;
    uint32_t fresh = in & ((old & bit) == 0);
    s->vlog[s->vlog_n] = id;
    s->vlog_n += fresh;
    return fresh;
}

/* Makes room in the visited log for `max` more hnsw_visit calls: once the
 * log is full it is dropped and the next clear zeroes the whole set. */
static inline void hnsw_visit_room(vdb_hnsw_scratch *s, size_t max)
{
    if (s->vlog_n + max > s->vlog_cap) {
        s->vlog_full = 1;
        s->vlog_n = 0;
    }
}

/* ---- shared between the module's files ---------------------------------- */

/* Grows the array *ptr of *cap elements of `elem` bytes to at least `want`
 * (contents kept, new elements uninitialized); *cap becomes `want` when it
 * grew. 0 or VDB_ENOMEM (the array is then unchanged). */
int vdb_hnsw__grow_array(void **ptr, size_t *cap, size_t want, size_t elem);

/* Makes the scratch fit a search over `rows` rows with beam `ef` and level-0
 * fan-out `m0`; clears the visited set. 0 or VDB_ENOMEM. */
int vdb_hnsw__scratch_prepare(vdb_hnsw_scratch *s, size_t rows, size_t ef, size_t m0);

/* The calling thread's scratch (created on first use, freed at thread exit),
 * or NULL on allocation failure. */
vdb_hnsw_scratch *vdb_hnsw__thread_scratch(void);

/* Binary traversal key of row `id` (see vdb_hnsw_codes; hnsw_search.c).
 * Out of line so that hnsw_trav_dist, on the float and int8 paths' hot
 * loop, stays small enough to inline. */
float vdb_hnsw__binary_dist(const vdb_hnsw_codes *c, uint32_t id);

/* Traversal distance of row `id`: on the float rows, or on the codes when
 * `codes` is not NULL (search only; inserts always pass NULL). */
static inline float hnsw_trav_dist(const vdb_hnsw *h, const vdb_vecview *view,
                                   const vdb_hnsw_codes *codes, const float *query, uint32_t id)
{
    if (codes == NULL)
        return hnsw_dist(h, query, hnsw_row(view, id));
    if (codes->bits != NULL)
        return vdb_hnsw__binary_dist(codes, id);
    int32_t ip = codes->dot(codes->qcode, codes->codes + (size_t)id * h->dim, h->dim);
    return codes->row_term != NULL ? codes->row_term[id] - 2.0f * codes->alpha * (float)ip
                                   : -codes->alpha * (float)ip;
}

/* Greedy descent on one upper level from *cur (distance *cur_dist). */
void vdb_hnsw__greedy(const vdb_hnsw *h, const vdb_vecview *view, const vdb_hnsw_codes *codes,
                      const float *query, uint32_t limit, int level, uint32_t *cur,
                      float *cur_dist);

/* Best-first beam search on `level` from `entry`. Every reachable node below
 * `limit` routes; only accepted nodes (not deleted when skip_deleted, and
 * passing `filter`) enter the result max-heap s->res, which keeps the ef
 * best. The caller has prepared the scratch. 0 or VDB_ENOMEM.
 * `self` is the row being inserted (NULL for a query): its exact copies
 * stay out of s->res, so that many of them cannot fill the ef results at
 * distance 0 and hide every other node; the first h->m met are listed in
 * s->copies (s->ncopies) and still expanded, so the search routes through
 * them. `repeats` > 0: of other rows with equal values, only the first
 * `repeats` met enter s->res (an insert passes 1: its selection keeps one
 * of equal rows; a query passes k: no more of them can be in its top k),
 * and the first h->m repeats are expanded, so that many equal rows cannot
 * fill the results at one distance and end the search there. 0: no
 * limit. */
int vdb_hnsw__search_level(const vdb_hnsw *h, const vdb_vecview *view,
                           const vdb_hnsw_codes *codes, const float *query, const float *self,
                           uint32_t limit, uint32_t entry, float entry_dist, int level, size_t ef,
                           const vdb_filter_hook *filter, int skip_deleted, size_t repeats,
                           vdb_hnsw_scratch *s);

/* Whether row `id`, at distance `dist` from `base` (whose distance to
 * itself is `self_dist`), holds exactly base's values. The distance test
 * is exact for copies (the same bits give the same sum) and rejects
 * nearly every other row before the compare. */
static inline int hnsw_is_copy(const vdb_hnsw *h, const vdb_vecview *view, const float *base,
                               float self_dist, float dist, uint32_t id)
{
    return dist <= self_dist &&
           memcmp(hnsw_row(view, id), base, (size_t)h->dim * sizeof(float)) == 0;
}

/* Grows the node arrays to at least `rows` (caller holds grow_lock
 * exclusively). 0 or VDB_ENOMEM. */
int vdb_hnsw__grow(vdb_hnsw *h, uint32_t rows);

/* hnsw_build.c: keeps at most `max` of the n candidates (sorted nearest
 * first, distances to the base node) by the diversity heuristic, in place;
 * returns how many. */
size_t vdb_hnsw__select_neighbours(const vdb_hnsw *h, const vdb_vecview *view, uint32_t base,
                                   vdb_hnsw_cand *c, size_t n, size_t max);
size_t vdb_hnsw__select_diverse(const vdb_hnsw *h, const vdb_vecview *view, uint32_t base,
                                vdb_hnsw_cand *c, size_t n, size_t max);
/* The most exact copies of a node a list of `max` links keeps (the rest of
 * the list goes to other nodes, so a node among many copies keeps ways
 * out); which copies, by a hash of the two ids (hnsw_build.c). */
static inline size_t hnsw_copy_quota(size_t max)
{
    return max >= 16 ? max / 8 : 2;
}
/* hnsw_search.c: VDB_EINVAL / VDB_EDIM when the view does not fit the index. */
int vdb_hnsw__check_view(const vdb_hnsw *h, const vdb_vecview *view, vdb_error *err);
/* qsort order of candidates: distance, then id. */
int vdb_hnsw__cand_cmp(const void *a, const void *b);

/* Validates the graph's invariants (caller excludes writers). */
int vdb_hnsw__validate(const vdb_hnsw *h, vdb_error *err);

/* u32 words per level-0 slot for M: [count, 2M ids], rounded up to whole
 * cache lines when VDB_HNSW_ALIGN_SLOTS. */
size_t vdb_hnsw__slot0_words(uint32_t m);

/* The level of a row: a hash of (seed, row) through the exponential law. */
int vdb_hnsw__draw_level(const vdb_hnsw *h, uint32_t row);

#endif
