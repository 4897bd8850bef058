/* HNSW index object: creation, growth, per-thread scratch, level draws,
 * accounting and the invariant validator. Search lives in hnsw_search.c,
 * insertion and build in hnsw_build.c, persistence in hnsw_io.c.
 *
 * Growth copies the node arrays under the exclusive side of grow_lock while
 * every add and search holds the shared side, so readers never see a freed
 * array; reserve ahead of a bulk load to avoid the copies entirely. */
#include "hnsw.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/hash.h"
#include "hnsw_int.h"

void vdb_hnsw_params_default(vdb_hnsw_params *params)
{
    params->m = 16;
    params->ef_construction = 200;
    params->ef_search = 64;
    params->seed = 42;
}

static int init_rwlock(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init(&attr) != 0)
        return -1;
#if defined(__GLIBC__)
    /* Growth must not starve behind a steady stream of searches. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int rc = pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

int vdb_hnsw_new(uint32_t dim, vdb_metric metric, const vdb_hnsw_params *params, vdb_hnsw **out,
                 vdb_error *err)
{
    vdb_hnsw_params p;
    *out = NULL;
    if (params != NULL)
        p = *params;
    else
        vdb_hnsw_params_default(&p);
    if (dim == 0 || dim > (1u << 20)) {
        return vdb_error_set(err, VDB_EINVAL, "hnsw: dimension %u out of range", dim);
    }
    if (metric != VDB_METRIC_COSINE && metric != VDB_METRIC_L2 && metric != VDB_METRIC_DOT) {
        return vdb_error_set(err, VDB_EINVAL, "hnsw: unknown metric %d", (int)metric);
    }
    if (p.m < 2 || p.m > VDB_HNSW_MAX_M) {
        return vdb_error_set(err, VDB_EINVAL, "hnsw: M %u not in 2..%u", p.m, VDB_HNSW_MAX_M);
    }
    if (p.ef_construction < 1 || p.ef_construction > VDB_HNSW_MAX_EF || p.ef_search < 1 ||
        p.ef_search > VDB_HNSW_MAX_EF) {
        return vdb_error_set(err, VDB_EINVAL, "hnsw: ef_construction %u / ef_search %u not in 1..%u",
                      p.ef_construction, p.ef_search, VDB_HNSW_MAX_EF);
    }
    vdb_hnsw *h = vdb_calloc(1, sizeof(*h));
    if (h == NULL) {
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory");
    }
    h->dim = dim;
    h->metric = metric;
    h->m = p.m;
    h->m0 = 2 * p.m;
    h->ef_construction = p.ef_construction;
    h->ef_search = p.ef_search;
    h->seed = p.seed;
    h->level_mult = 1.0 / log((double)p.m);
    h->slot0 = vdb_hnsw__slot0_words(h->m);
    h->slot_up = 1 + (size_t)h->m;
    h->dot = vdb_dist()->dot;
    h->l2sq = vdb_dist()->l2sq;
    h->dot4 = vdb_dist()->dot4;
    h->l2sq4 = vdb_dist()->l2sq4;
    h->entry = ((uint64_t)0 << 32) | VDB_HNSW_NONE;
    if (init_rwlock(&h->grow_lock) != 0) {
        vdb_free(h);
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: cannot create lock");
    }
    pthread_mutex_init(&h->entry_lock, NULL);
    for (size_t i = 0; i < VDB_HNSW_LOCKS; i++)
        pthread_mutex_init(&h->locks[i], NULL);
    *out = h;
    return VDB_OK;
}

void vdb_hnsw_free(vdb_hnsw *h)
{
    if (h == NULL)
        return;
    if (h->upper != NULL)
        for (uint32_t i = 0; i < h->capacity; i++)
            vdb_free(h->upper[i]);
    vdb_free(h->upper);
    vdb_aligned_free(h->links0);
    vdb_free(h->levels);
    for (size_t i = 0; i < VDB_HNSW_LOCKS; i++)
        pthread_mutex_destroy(&h->locks[i]);
    pthread_mutex_destroy(&h->entry_lock);
    pthread_rwlock_destroy(&h->grow_lock);
    vdb_free(h);
}

vdb_hnsw_params vdb_hnsw_get_params(const vdb_hnsw *h)
{
    vdb_hnsw_params p;
    p.m = h->m;
    p.ef_construction = h->ef_construction;
    p.ef_search = __atomic_load_n(&h->ef_search, __ATOMIC_RELAXED);
    p.seed = h->seed;
    return p;
}

uint32_t vdb_hnsw_dim(const vdb_hnsw *h)
{
    return h->dim;
}

vdb_metric vdb_hnsw_metric(const vdb_hnsw *h)
{
    return h->metric;
}

int vdb_hnsw_set_ef_search(vdb_hnsw *h, uint32_t ef, vdb_error *err)
{
    if (ef < 1 || ef > VDB_HNSW_MAX_EF)
        return vdb_error_set(err, VDB_EINVAL, "hnsw: ef %u not in 1..%u", ef, VDB_HNSW_MAX_EF);
    __atomic_store_n(&h->ef_search, ef, __ATOMIC_RELAXED);
    return VDB_OK;
}

/* New arrays are allocated and filled before the old ones are released, so a
 * failure leaves the index as it was. Capacity grows by half again to keep
 * incremental adds amortized O(1). */
int vdb_hnsw__grow(vdb_hnsw *h, uint32_t rows)
{
    if (rows <= h->capacity)
        return VDB_OK;
    uint64_t want = (uint64_t)h->capacity + h->capacity / 2;
    if (want < rows)
        want = rows;
    if (want < 1024)
        want = 1024;
    if (want > UINT32_MAX - 1)
        want = UINT32_MAX - 1;
    size_t cap = (size_t)want, bytes0;
    if (vdb_mul_size(cap, h->slot0 * sizeof(uint32_t), &bytes0) != 0)
        return VDB_ENOMEM;
    uint32_t *links0 = vdb_aligned_alloc(64, bytes0);
    uint32_t **upper = vdb_calloc(cap, sizeof(*upper));
    uint8_t *levels = vdb_malloc(cap);
    if (links0 == NULL || upper == NULL || levels == NULL) {
        vdb_aligned_free(links0);
        vdb_free(upper);
        vdb_free(levels);
        return VDB_ENOMEM;
    }
    size_t old = h->capacity;
    if (old > 0) {
        memcpy(links0, h->links0, old * h->slot0 * sizeof(uint32_t));
        memcpy(upper, h->upper, old * sizeof(*upper));
        memcpy(levels, h->levels, old);
    }
    memset(links0 + old * h->slot0, 0, (cap - old) * h->slot0 * sizeof(uint32_t));
    memset(levels + old, VDB_HNSW_ABSENT, cap - old);
    vdb_aligned_free(h->links0);
    vdb_free(h->upper);
    vdb_free(h->levels);
    h->links0 = links0;
    h->upper = upper;
    h->levels = levels;
    h->capacity = (uint32_t)cap;
    return VDB_OK;
}

int vdb_hnsw_reserve(vdb_hnsw *h, uint32_t rows, vdb_error *err)
{
    pthread_rwlock_wrlock(&h->grow_lock);
    int rc = vdb_hnsw__grow(h, rows);
    pthread_rwlock_unlock(&h->grow_lock);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "hnsw: cannot reserve %u rows", rows);
    return VDB_OK;
}

size_t vdb_hnsw__slot0_words(uint32_t m)
{
    size_t words = 1 + 2 * (size_t)m;
#if VDB_HNSW_ALIGN_SLOTS
    words = (words + 15) & ~(size_t)15;
#endif
    return words;
}

int vdb_hnsw__draw_level(const vdb_hnsw *h, uint32_t row)
{
    /* A full-avalanche mix, so consecutive rows draw independent levels. */
    uint64_t bits = vdb_hash_mix64(h->seed ^ vdb_hash_mix64(row));
    double u = ((double)(bits >> 11) + 1.0) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double level = -log(u) * h->level_mult;
    if (level >= VDB_HNSW_MAX_LEVEL)
        return VDB_HNSW_MAX_LEVEL;
    return (int)level;
}

size_t vdb_hnsw_count(const vdb_hnsw *h)
{
    return __atomic_load_n(&h->count, __ATOMIC_RELAXED);
}

uint32_t vdb_hnsw_rows(const vdb_hnsw *h)
{
    return __atomic_load_n(&h->covered, __ATOMIC_RELAXED);
}

size_t vdb_hnsw_memory(const vdb_hnsw *h)
{
    /* Shared lock: capacity changes only under the exclusive side. */
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->grow_lock);
    size_t capacity = h->capacity;
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->grow_lock);
    size_t bytes = sizeof(*h);
    bytes += capacity * (h->slot0 * sizeof(uint32_t) + sizeof(uint32_t *) + 1);
    bytes += __atomic_load_n(&h->upper_u32, __ATOMIC_RELAXED) * sizeof(uint32_t);
    return bytes;
}

/* ---- scratch ------------------------------------------------------------- */

int vdb_hnsw_scratch_new(vdb_hnsw_scratch **out, vdb_error *err)
{
    if ((*out = vdb_calloc(1, sizeof(**out))) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory for scratch");
    return VDB_OK;
}

void vdb_hnsw_scratch_free(vdb_hnsw_scratch *s)
{
    if (s == NULL)
        return;
    vdb_free(s->visited);
    vdb_free(s->vlog);
    vdb_free(s->cand);
    vdb_free(s->res);
    vdb_free(s->sel);
    vdb_free(s->batch);
    vdb_free(s->dists);
    vdb_free(s->chosen);
    vdb_free(s->groups);
    vdb_free(s);
}

int vdb_hnsw__grow_array(void **ptr, size_t *cap, size_t want, size_t elem)
{
    if (*cap >= want)
        return VDB_OK;
    size_t bytes;
    if (vdb_mul_size(want, elem, &bytes) != 0)
        return VDB_ENOMEM;
    void *p = vdb_realloc(*ptr, bytes);
    if (p == NULL)
        return VDB_ENOMEM;
    *ptr = p;
    *cap = want;
    return VDB_OK;
}

int vdb_hnsw__scratch_prepare(vdb_hnsw_scratch *s, size_t rows, size_t ef, size_t m0)
{
    size_t words = rows / 64 + 1;
    if (s->visited_words < words) {
        /* Grow with headroom so an index growing row by row does not
         * reallocate the visited set on every search. */
        size_t want = words + words / 4 + 16;
        uint64_t *v = vdb_realloc(s->visited, want * sizeof(uint64_t));
        if (v == NULL)
            return VDB_ENOMEM;
        memset(v, 0, want * sizeof(uint64_t));
        s->visited = v;
        s->visited_words = want;
        s->vlog_n = 0;
        s->vlog_full = 0;
    }
    size_t heap = ef + m0 + 1;
    size_t vlog = VDB_HNSW_VLOG_CAP > m0 + 1 ? VDB_HNSW_VLOG_CAP : m0 + 1;
    if (vdb_hnsw__grow_array((void **)&s->vlog, &s->vlog_cap, vlog, sizeof(uint32_t)) != 0 ||
        vdb_hnsw__grow_array((void **)&s->cand, &s->cand_cap, heap * 2, sizeof(vdb_hnsw_cand)) != 0 ||
        vdb_hnsw__grow_array((void **)&s->res, &s->res_cap, heap, sizeof(vdb_hnsw_cand)) != 0 ||
        vdb_hnsw__grow_array((void **)&s->sel, &s->sel_cap, heap, sizeof(vdb_hnsw_cand)) != 0 ||
        vdb_hnsw__grow_array((void **)&s->batch, &s->batch_cap, m0 + 1, sizeof(uint32_t)) != 0 ||
        vdb_hnsw__grow_array((void **)&s->dists, &s->dists_cap, m0 + 4, sizeof(float)) != 0)
        return VDB_ENOMEM;
    if (s->vlog_full)
        memset(s->visited, 0, s->visited_words * sizeof(uint64_t));
    else
        for (size_t i = 0; i < s->vlog_n; i++)
            s->visited[s->vlog[i] >> 6] = 0;
    s->vlog_n = 0;
    s->vlog_full = 0;
    s->ncand = 0;
    s->nres = 0;
    return VDB_OK;
}

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_destroy(void *p)
{
    vdb_hnsw_scratch_free(p);
}

static void scratch_key_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

vdb_hnsw_scratch *vdb_hnsw__thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (!scratch_key_ok)
        return NULL;
    vdb_hnsw_scratch *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        if (vdb_hnsw_scratch_new(&s, NULL) != VDB_OK)
            return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            vdb_hnsw_scratch_free(s);
            return NULL;
        }
    }
    return s;
}

/* ---- invariants ---------------------------------------------------------- */

static int check_list(const vdb_hnsw *h, uint32_t node, int level, uint32_t *seen_tag,
                      uint32_t tag, vdb_error *err)
{
    const uint32_t *list = hnsw_links(h, node, level);
    uint32_t cnt = list[0];
    if (cnt > hnsw_max_links(h, level))
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: node %u level %d has %u links (max %u)",
                             node, level, cnt, hnsw_max_links(h, level));
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t to = list[1 + j];
        if (to >= h->capacity || h->levels[to] == VDB_HNSW_ABSENT)
            return vdb_error_set(err, VDB_ECORRUPT,
                                 "hnsw: node %u level %d links to missing node %u", node, level,
                                 to);
        if (to == node)
            return vdb_error_set(err, VDB_ECORRUPT, "hnsw: node %u level %d links to itself",
                                 node, level);
        if ((int)h->levels[to] < level)
            return vdb_error_set(err, VDB_ECORRUPT,
                                 "hnsw: node %u level %d links to node %u of level %u", node,
                                 level, to, h->levels[to]);
        if (seen_tag[to] == tag)
            return vdb_error_set(err, VDB_ECORRUPT,
                                 "hnsw: node %u level %d links twice to node %u", node, level, to);
        seen_tag[to] = tag;
    }
    return VDB_OK;
}

int vdb_hnsw__validate(const vdb_hnsw *h, vdb_error *err)
{
    uint64_t entry = h->entry;
    uint32_t ep = (uint32_t)entry;
    int max_level = (int)(entry >> 32);
    size_t present = 0, upper_u32 = 0;
    int rc = VDB_OK;
    uint32_t *seen = NULL;
    if (h->capacity > 0) {
        seen = vdb_calloc(h->capacity, sizeof(uint32_t));
        if (seen == NULL)
            return vdb_error_set(err, VDB_ENOMEM, "hnsw: out of memory for check");
    }
    uint32_t tag = 0;
    for (uint32_t i = 0; i < h->capacity && rc == VDB_OK; i++) {
        uint8_t level = h->levels[i];
        if (level == VDB_HNSW_ABSENT) {
            if (h->links0[(size_t)i * h->slot0] != 0 || h->upper[i] != NULL)
                rc = vdb_error_set(err, VDB_ECORRUPT, "hnsw: absent row %u has links", i);
            continue;
        }
        if (level > VDB_HNSW_MAX_LEVEL || (int)level > max_level)
            rc = vdb_error_set(err, VDB_ECORRUPT, "hnsw: node %u level %u above top %d", i,
                               level, max_level);
        else if (level > 0 && h->upper[i] == NULL)
            rc = vdb_error_set(err, VDB_ECORRUPT, "hnsw: node %u level %u lacks upper links",
                               i, level);
        present++;
        upper_u32 += (size_t)level * h->slot_up;
        for (int l = 0; l <= (int)level && rc == VDB_OK; l++) {
            if (++tag == 0) {
                memset(seen, 0, h->capacity * sizeof(uint32_t));
                tag = 1;
            }
            rc = check_list(h, i, l, seen, tag, err);
        }
    }
    vdb_free(seen);
    if (rc != VDB_OK)
        return rc;
    if (present != h->count)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: %zu nodes present, count says %zu",
                             present, h->count);
    if (upper_u32 != h->upper_u32)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: upper links %zu u32, expected %zu",
                             h->upper_u32, upper_u32);
    if (present == 0)
        return ep == VDB_HNSW_NONE ? VDB_OK
                                   : vdb_error_set(err, VDB_ECORRUPT,
                                                   "hnsw: empty graph with entry point %u", ep);
    if (ep >= h->capacity || h->levels[ep] == VDB_HNSW_ABSENT || (int)h->levels[ep] != max_level)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: entry point %u is not a top-level node",
                             ep);
    if (h->covered > h->capacity)
        return vdb_error_set(err, VDB_ECORRUPT, "hnsw: covered rows %u beyond capacity %u",
                             h->covered, h->capacity);
    return VDB_OK;
}

int vdb_hnsw_check(const vdb_hnsw *h, vdb_error *err)
{
    pthread_rwlock_wrlock((pthread_rwlock_t *)&h->grow_lock);
    int rc = vdb_hnsw__validate(h, err);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->grow_lock);
    return rc;
}
