/* In-memory core of a store; see vecset.h for the model.
 *
 * Writes are split into a "prepare" phase that validates and allocates
 * everything the batch needs (row capacity, id and metadata copies, id map
 * room) and a "commit" phase that cannot fail. That is what makes a batch
 * all-or-nothing without an undo log. */
#include "vecset.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/finite.h"
#include "../core/limits.h"
#include "../core/pool.h"
#include "../core/vmem.h"
#include "../kernel/dist.h"
#include "idmap.h"

struct vdb_vecset {
    uint32_t dim;
    vdb_metric metric;
    uint32_t rows;      /* rows in use */
    uint32_t capacity;  /* rows allocated */
    size_t live;
    float *data;        /* capacity x dim, 64-byte aligned; = vectors.base */
    vdb_vmem vectors;   /* grows in place: row pointers stay valid */
    float *norms;       /* per row */
    char **ids;         /* per row, owned */
    char **metas;       /* per row, owned, NULL = none */
    uint64_t *deleted;  /* bitset over capacity */
    size_t string_bytes;
    vdb_idmap *map;
    /* Tombstone journal (off unless enabled): rows tombstoned since the
     * last drain, so derived state (payload indexes) can follow deletes
     * without rescanning. `journal_lost` records a failed append. */
    int journal_on;
    int journal_lost;
    uint32_t *journal;
    size_t journal_len, journal_cap;
};

static int validate_strings(const vdb_vecset *set, size_t n, const float *vectors,
                            const char *const *ids, const char *const *metas, vdb_error *err);

static const char *row_key(void *owner, uint32_t row)
{
    return ((vdb_vecset *)owner)->ids[row];
}

int vdb_vecset_new(uint32_t dim, vdb_metric metric, vdb_vecset **out, vdb_error *err)
{
    vdb_vecset *set;
    *out = NULL;
    if (dim == 0 || dim > VDB_MAX_DIM)
        return vdb_error_set(err, VDB_EINVAL, "dimension %u outside 1..%u", dim, VDB_MAX_DIM);
    if (metric != VDB_METRIC_COSINE && metric != VDB_METRIC_L2 && metric != VDB_METRIC_DOT)
        return vdb_error_set(err, VDB_EINVAL, "unknown metric %d", (int)metric);
    set = vdb_calloc(1, sizeof(*set));
    if (set == NULL || (set->map = vdb_idmap_new(row_key, set)) == NULL) {
        vdb_free(set);
        return vdb_error_set(err, VDB_ENOMEM, "vecset: out of memory");
    }
    set->dim = dim;
    vdb_vmem_init(&set->vectors);
    set->metric = metric;
    *out = set;
    return VDB_OK;
}

void vdb_vecset_free(vdb_vecset *set)
{
    if (set == NULL)
        return;
    for (uint32_t r = 0; r < set->rows; r++) {
        vdb_free(set->ids[r]);
        vdb_free(set->metas[r]);
    }
    vdb_idmap_free(set->map);
    vdb_vmem_release(&set->vectors);
    vdb_free(set->norms);
    vdb_free(set->ids);
    vdb_free(set->metas);
    vdb_free(set->deleted);
    vdb_free(set->journal);
    vdb_free(set);
}

uint32_t vdb_vecset_dim(const vdb_vecset *set) { return set->dim; }
size_t vdb_vecset_count(const vdb_vecset *set) { return set->live; }
uint32_t vdb_vecset_rows(const vdb_vecset *set) { return set->rows; }

/* Grows every per-row array to hold `want` rows. On failure the arrays that
 * did grow stay grown (harmless: capacity is only raised once all succeed). */
static int grow(vdb_vecset *set, size_t want)
{
    size_t capacity = set->capacity ? set->capacity : 64;
    size_t bytes;
    void *p;
    if (want <= set->capacity)
        return VDB_OK;
    if (want > VDB_MAX_VECTORS)
        return VDB_ERANGE;
    while (capacity < want)
        capacity = capacity * 2 > VDB_MAX_VECTORS ? VDB_MAX_VECTORS : capacity * 2;
    if (vdb_mul_size(capacity, (size_t)set->dim * sizeof(float), &bytes) != 0)
        return VDB_ERANGE;
    if ((p = vdb_realloc(set->norms, capacity * sizeof(float))) == NULL)
        return VDB_ENOMEM;
    set->norms = p;
    if ((p = vdb_realloc(set->ids, capacity * sizeof(char *))) == NULL)
        return VDB_ENOMEM;
    set->ids = p;
    if ((p = vdb_realloc(set->metas, capacity * sizeof(char *))) == NULL)
        return VDB_ENOMEM;
    set->metas = p;
    if ((p = vdb_realloc(set->deleted, (capacity + 63) / 64 * sizeof(uint64_t))) == NULL)
        return VDB_ENOMEM;
    set->deleted = p;
    memset(set->deleted + (set->capacity + 63) / 64, 0,
           ((capacity + 63) / 64 - (set->capacity + 63) / 64) * sizeof(uint64_t));
    if (vdb_vmem_grow(&set->vectors, bytes) != VDB_OK)
        return VDB_ENOMEM;
    set->data = (float *)(void *)set->vectors.base;
    set->capacity = (uint32_t)capacity;
    return VDB_OK;
}

static void free_strings(uint32_t n, char **ids, char **metas)
{
    for (uint32_t i = 0; i < n; i++) {
        vdb_free(ids[i]);
        vdb_free(metas ? metas[i] : NULL);
    }
}

/* Takes the snapshot's strings and builds the id map; the vectors are
 * already in place. Frees what it took on failure. */
static int adopt_rows(vdb_vecset *set, uint32_t n, char **ids, char **metas, vdb_error *err)
{
    uint32_t r;
    for (r = 0; r < n; r++) {
        if (ids[r] == NULL || vdb_idmap_get(set->map, ids[r]) >= 0) {
            int rc = vdb_error_set(err, VDB_ECORRUPT, "snapshot row %u: %s id", r,
                                   ids[r] == NULL ? "missing" : "duplicate");
            /* Rows [0, r) are owned by the set now; the rest are not. */
            free_strings(n - r, ids + r, metas ? metas + r : NULL);
            return rc;
        }
        set->ids[r] = ids[r];
        set->metas[r] = metas ? metas[r] : NULL;
        set->rows = r + 1;
        set->live++;
        set->string_bytes += strlen(ids[r]) + 1 + (set->metas[r] ? strlen(set->metas[r]) + 1 : 0);
        vdb_idmap_put(set->map, ids[r], r); /* reserved */
    }
    return VDB_OK;
}

int vdb_vecset_open_mapped(uint32_t dim, vdb_metric metric, int fd, unsigned long long offset,
                           uint32_t n, char **ids_take, char **metas_take, const float *norms,
                           vdb_vecset **out, vdb_error *err)
{
    vdb_vecset *set;
    size_t bytes = (size_t)n * dim * sizeof(float);
    int rc = vdb_vecset_new(dim, metric, &set, err);
    *out = NULL;
    if (rc != VDB_OK) {
        free_strings(n, ids_take, metas_take);
        return rc;
    }
    rc = vdb_vmem_map_file(&set->vectors, fd, offset, bytes, 0);
    if (rc != VDB_OK) {
        vdb_error_set(err, rc, "cannot map %zu bytes of vectors at offset %llu", bytes, offset);
        goto fail;
    }
    /* grow() sees the mapped bytes as in use and keeps them. */
    if ((rc = grow(set, n ? n : 1)) != VDB_OK ||
        (rc = vdb_idmap_reserve(set->map, n)) != VDB_OK) {
        vdb_error_set(err, rc, "cannot index %u snapshot rows", n);
        goto fail;
    }
    for (uint32_t r = 0; r < n; r++)
        set->norms[r] = norms ? norms[r]
                              : sqrtf(vdb_dist()->dot(set->data + (size_t)r * dim,
                                                      set->data + (size_t)r * dim, dim));
    if ((rc = adopt_rows(set, n, ids_take, metas_take, err)) != VDB_OK) {
        vdb_vecset_free(set);
        return rc;
    }
    *out = set;
    return VDB_OK;
fail:
    free_strings(n, ids_take, metas_take);
    vdb_vecset_free(set);
    return rc;
}

int vdb_vecset_reserve(vdb_vecset *set, size_t rows, vdb_error *err)
{
    int rc = grow(set, rows);
    if (rc == VDB_OK)
        rc = vdb_idmap_reserve(set->map, rows);
    if (rc != VDB_OK)
        return vdb_error_set(err, rc, "cannot reserve %zu rows", rows);
    return VDB_OK;
}

/* Index of the first NaN/Inf component of a row, or dim. */
static uint32_t first_nonfinite(const float *v, uint32_t dim)
{
    return (uint32_t)vdb_first_nonfinite(v, dim);
}

int vdb_vecset_validate(const vdb_vecset *set, size_t n, const float *vectors,
                        const char *const *ids, const char *const *metas, vdb_error *err)
{
    int rc = validate_strings(set, n, vectors, ids, metas, err);
    if (rc != VDB_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = first_nonfinite(vectors + i * set->dim, set->dim);
        if (c < set->dim)
            return vdb_error_set(err, VDB_EINVAL, "vector %zu component %u is not finite", i,
                                 c);
    }
    return VDB_OK;
}

/* Marks entries superseded by a later duplicate id in the same batch
 * (keep[i] = 0). Returns the number kept, or 0 with *rc set on failure. */
static const char *batch_key(void *owner, uint32_t row)
{
    return ((const char *const *)owner)[row];
}

static size_t mark_last_wins(size_t n, const char *const *ids, unsigned char *keep, int *rc)
{
    vdb_idmap *seen = vdb_idmap_new(batch_key, (void *)ids);
    size_t kept = 0;
    *rc = VDB_OK;
    if (seen == NULL || vdb_idmap_reserve(seen, n) != VDB_OK) {
        vdb_idmap_free(seen);
        *rc = VDB_ENOMEM;
        return 0;
    }
    for (size_t i = n; i-- > 0;) {
        keep[i] = vdb_idmap_get(seen, ids[i]) < 0;
        if (keep[i]) {
            vdb_idmap_put(seen, ids[i], (uint32_t)i); /* room reserved: cannot fail */
            kept++;
        }
    }
    vdb_idmap_free(seen);
    return kept;
}

/* Copies of the batch's strings, made before anything changes. */
typedef struct batch_strings {
    char **ids;
    char **metas;
    size_t count;
} batch_strings;

static void batch_strings_free(batch_strings *b)
{
    for (size_t i = 0; i < b->count; i++) {
        vdb_free(b->ids[i]);
        vdb_free(b->metas[i]);
    }
    vdb_free(b->ids);
    vdb_free(b->metas);
}

static int batch_strings_copy(batch_strings *b, size_t n, const unsigned char *keep,
                              const char *const *ids, const char *const *metas)
{
    b->count = 0;
    b->ids = vdb_calloc(n, sizeof(char *));
    b->metas = vdb_calloc(n, sizeof(char *));
    if (b->ids == NULL || b->metas == NULL)
        return VDB_ENOMEM;
    b->count = n;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        if ((b->ids[i] = vdb_strdup(ids[i])) == NULL)
            return VDB_ENOMEM;
        if (metas != NULL && metas[i] != NULL && (b->metas[i] = vdb_strdup(metas[i])) == NULL)
            return VDB_ENOMEM;
    }
    return VDB_OK;
}

static void set_deleted(vdb_vecset *set, uint32_t row)
{
    set->deleted[row >> 6] |= (uint64_t)1 << (row & 63);
    if (!set->journal_on || set->journal_lost)
        return;
    if (set->journal_len == set->journal_cap) {
        size_t cap = set->journal_cap ? set->journal_cap * 2 : 256;
        uint32_t *grown = vdb_realloc(set->journal, cap * sizeof(uint32_t));
        if (grown == NULL) {
            set->journal_lost = 1; /* the consumer rebuilds from scratch */
            return;
        }
        set->journal = grown;
        set->journal_cap = cap;
    }
    set->journal[set->journal_len++] = row;
}

void vdb_vecset_journal_enable(vdb_vecset *set, int on)
{
    set->journal_on = on;
    set->journal_len = 0;
    set->journal_lost = 0;
}

int vdb_vecset_journal_drain(vdb_vecset *set, const uint32_t **rows, size_t *count)
{
    int lost = set->journal_lost;
    *rows = set->journal;
    *count = lost ? 0 : set->journal_len;
    set->journal_len = 0;
    set->journal_lost = 0;
    return lost ? VDB_ENOMEM : VDB_OK;
}

/* Stages a batch's vectors into the rows just past the live ones (capacity
 * already reserved, invisible to readers until `rows` moves): copy, check
 * finiteness, record the norm, normalize for cosine. Runs in parallel over
 * the global pool; each task reports the first bad vector it saw. */
typedef struct stage_job {
    vdb_vecset *set;
    const float *vectors;
    const size_t *source;  /* kept batch index for each staged row */
    size_t count;
    size_t *bad;           /* per task: first bad batch index, or SIZE_MAX */
    void (*side)(void *ctx); /* NULL, or task 0 (upsert_prepare_beside) */
    void *side_ctx;
} stage_job;

#define STAGE_ROWS 512

static void stage_task(void *arg, size_t task, int worker)
{
    stage_job *job = arg;
    vdb_vecset *set = job->set;
    if (job->side != NULL) {
        /* Task 0, claimed first: the long side task starts at once and the
         * other threads stage meanwhile. */
        if (task == 0) {
            job->side(job->side_ctx);
            return;
        }
        task--;
    }
    size_t begin = task * STAGE_ROWS;
    size_t end = begin + STAGE_ROWS < job->count ? begin + STAGE_ROWS : job->count;
    (void)worker;
    job->bad[task] = SIZE_MAX;
    for (size_t j = begin; j < end; j++) {
        size_t row = (size_t)set->rows + j;
        const float *src = job->vectors + job->source[j] * set->dim;
        float *dst = set->data + row * set->dim;
        float norm;
        if (first_nonfinite(src, set->dim) < set->dim) {
            job->bad[task] = job->source[j];
            return;
        }
        memcpy(dst, src, set->dim * sizeof(float));
        norm = sqrtf(vdb_dist()->dot(dst, dst, set->dim));
        if (set->metric == VDB_METRIC_COSINE && norm > 0.0f) {
            float inv = 1.0f / norm;
            for (uint32_t c = 0; c < set->dim; c++)
                dst[c] *= inv;
        }
        set->norms[row] = norm;
    }
}

static int stage_vectors(vdb_vecset *set, const float *vectors, const size_t *source,
                         size_t count, void (*side)(void *ctx), void *side_ctx, int *side_ran,
                         vdb_error *err)
{
    size_t tasks = (count + STAGE_ROWS - 1) / STAGE_ROWS;
    size_t bad = SIZE_MAX;
    stage_job job = {set, vectors, source, count, vdb_malloc((tasks ? tasks : 1) * sizeof(size_t)),
                     side, side_ctx};
    if (job.bad == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory staging %zu vectors", count);
    vdb_pool_run(vdb_pool_global(), tasks + (side != NULL), stage_task, &job);
    if (side != NULL)
        *side_ran = 1;
    for (size_t t = 0; t < tasks; t++)
        if (job.bad[t] < bad)
            bad = job.bad[t];
    vdb_free(job.bad);
    if (bad != SIZE_MAX)
        return vdb_error_set(err, VDB_EINVAL, "vector %zu component %u is not finite", bad,
                             first_nonfinite(vectors + bad * set->dim, set->dim));
    return VDB_OK;
}

/* The commit phase: cannot fail, every allocation was made beforehand. */
static void commit_row(vdb_vecset *set, char *id, char *meta)
{
    uint32_t row = set->rows++;
    set->ids[row] = id;
    set->metas[row] = meta;
    set->string_bytes += strlen(id) + 1 + (meta ? strlen(meta) + 1 : 0);
    vdb_idmap_put(set->map, id, row); /* room reserved by the caller */
    set->live++;
}

/* Checks what stage_vectors does not: ids and metadata sizes. */
static int validate_strings(const vdb_vecset *set, size_t n, const float *vectors,
                            const char *const *ids, const char *const *metas, vdb_error *err)
{
    if (n == 0)
        return vdb_error_set(err, VDB_EINVAL, "empty batch");
    if (vectors == NULL || ids == NULL)
        return vdb_error_set(err, VDB_EINVAL, "vectors and ids are required");
    if ((size_t)set->rows + n > VDB_MAX_VECTORS)
        return vdb_error_set(err, VDB_ERANGE, "store would exceed %u rows", VDB_MAX_VECTORS);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (ids[i] == NULL || (len = strlen(ids[i])) == 0 || len > VDB_MAX_ID_LEN)
            return vdb_error_set(err, VDB_EINVAL, "vector %zu: id must be 1..%u bytes", i,
                                 VDB_MAX_ID_LEN);
        if (metas != NULL && metas[i] != NULL && strlen(metas[i]) > VDB_MAX_META_BYTES)
            return vdb_error_set(err, VDB_ETOOBIG, "vector %zu: metadata over %u bytes", i,
                                 VDB_MAX_META_BYTES);
    }
    return VDB_OK;
}

int vdb_vecset_upsert_room(const vdb_vecset *set, size_t n)
{
    return (size_t)set->rows + n <= set->capacity &&
           vdb_idmap_has_room(set->map, vdb_idmap_size(set->map) + n);
}

void vdb_vecset_pending_free(vdb_vecset_pending *pending)
{
    batch_strings strings = {pending->id_copies, pending->meta_copies,
                             pending->id_copies != NULL ? pending->n : 0};
    batch_strings_free(&strings);
    vdb_free(pending->keep);
    memset(pending, 0, sizeof(*pending));
}

int vdb_vecset_upsert_prepare(vdb_vecset *set, size_t n, const float *vectors,
                              const char *const *ids, const char *const *metas,
                              vdb_vecset_pending *pending, vdb_error *err)
{
    return vdb_vecset_upsert_prepare_beside(set, n, vectors, ids, metas, NULL, NULL, NULL,
                                            pending, err);
}

int vdb_vecset_upsert_prepare_beside(vdb_vecset *set, size_t n, const float *vectors,
                                     const char *const *ids, const char *const *metas,
                                     void (*side)(void *ctx), void *side_ctx, int *side_ran,
                                     vdb_vecset_pending *pending, vdb_error *err)
{
    batch_strings strings = {0};
    size_t *source = NULL;
    size_t kept, staged = 0;
    int rc;
    memset(pending, 0, sizeof(*pending));
    if (side_ran != NULL)
        *side_ran = 0;
    if ((rc = validate_strings(set, n, vectors, ids, metas, err)) != VDB_OK)
        return rc;
    pending->keep = vdb_malloc(n);
    source = vdb_malloc(n * sizeof(size_t));
    if (pending->keep == NULL || source == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "cannot add %zu vectors: out of memory", n);
        goto cleanup;
    }
    kept = mark_last_wins(n, ids, pending->keep, &rc);
    if (rc != VDB_OK || (rc = grow(set, (size_t)set->rows + kept)) != VDB_OK ||
        (rc = vdb_idmap_reserve(set->map, vdb_idmap_size(set->map) + kept)) != VDB_OK ||
        (rc = batch_strings_copy(&strings, n, pending->keep, ids, metas)) != VDB_OK) {
        vdb_error_set(err, rc, "cannot add %zu vectors: %s", n, vdb_err_text(rc));
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        if (pending->keep[i])
            source[staged++] = i;
    if ((rc = stage_vectors(set, vectors, source, staged, side, side_ctx, side_ran, err)) !=
        VDB_OK)
        goto cleanup;
    pending->n = n;
    pending->staged = staged;
    pending->ids = ids;
    pending->id_copies = strings.ids;
    pending->meta_copies = strings.metas;
    strings.ids = strings.metas = NULL;
    strings.count = 0;
cleanup:
    batch_strings_free(&strings);
    vdb_free(source);
    if (rc != VDB_OK) {
        vdb_free(pending->keep);
        memset(pending, 0, sizeof(*pending));
    }
    return rc;
}

void vdb_vecset_upsert_commit(vdb_vecset *set, vdb_vecset_pending *pending, uint32_t *rows_out,
                              size_t *replaced)
{
    size_t replaced_count = 0;
    for (size_t i = 0; i < pending->n; i++) {
        int64_t old;
        if (!pending->keep[i]) {
            if (rows_out != NULL)
                rows_out[i] = UINT32_MAX;
            continue;
        }
        old = vdb_idmap_get(set->map, pending->ids[i]);
        if (old >= 0) {
            set_deleted(set, (uint32_t)old);
            set->live--;
            replaced_count++;
        }
        if (rows_out != NULL)
            rows_out[i] = set->rows;
        commit_row(set, pending->id_copies[i], pending->meta_copies[i]);
        pending->id_copies[i] = pending->meta_copies[i] = NULL; /* now owned by the set */
    }
    if (replaced != NULL)
        *replaced = replaced_count;
    vdb_vecset_pending_free(pending);
}

int vdb_vecset_upsert(vdb_vecset *set, size_t n, const float *vectors, const char *const *ids,
                      const char *const *metas, uint32_t *rows_out, size_t *replaced,
                      vdb_error *err)
{
    vdb_vecset_pending pending;
    int rc = vdb_vecset_upsert_prepare(set, n, vectors, ids, metas, &pending, err);
    if (rc == VDB_OK)
        vdb_vecset_upsert_commit(set, &pending, rows_out, replaced);
    return rc;
}

int vdb_vecset_delete_row(vdb_vecset *set, uint32_t row)
{
    if (row >= set->rows || vdb_vecset_is_deleted(set, row))
        return 0;
    set_deleted(set, row);
    vdb_idmap_remove(set->map, set->ids[row]);
    set->live--;
    return 1;
}

int vdb_vecset_delete(vdb_vecset *set, size_t n, const char *const *ids, size_t *deleted,
                      vdb_error *err)
{
    size_t count = 0;
    if (n > 0 && ids == NULL)
        return vdb_error_set(err, VDB_EINVAL, "ids are required");
    for (size_t i = 0; i < n; i++) {
        int64_t row;
        if (ids[i] == NULL)
            continue;
        row = vdb_idmap_get(set->map, ids[i]);
        if (row >= 0)
            count += (size_t)vdb_vecset_delete_row(set, (uint32_t)row);
    }
    if (deleted != NULL)
        *deleted = count;
    return VDB_OK;
}

int64_t vdb_vecset_find(const vdb_vecset *set, const char *id)
{
    int64_t row = vdb_idmap_get(set->map, id);
    return row >= 0 ? row : VDB_ENOTFOUND;
}

const float *vdb_vecset_vector(const vdb_vecset *set, uint32_t row)
{
    return set->data + (size_t)row * set->dim;
}

const char *vdb_vecset_id(const vdb_vecset *set, uint32_t row) { return set->ids[row]; }
const char *vdb_vecset_meta(const vdb_vecset *set, uint32_t row) { return set->metas[row]; }
float vdb_vecset_norm(const vdb_vecset *set, uint32_t row) { return set->norms[row]; }

int vdb_vecset_is_deleted(const vdb_vecset *set, uint32_t row)
{
    return (set->deleted[row >> 6] >> (row & 63)) & 1u;
}

vdb_vecview vdb_vecset_view(const vdb_vecset *set)
{
    vdb_vecview view;
    view.data = set->data;
    view.deleted = set->live == set->rows ? NULL : set->deleted;
    view.n = set->rows;
    view.dim = set->dim;
    view.metric = set->metric;
    return view;
}

static int bit_get(const uint64_t *bits, uint32_t i) { return (bits[i >> 6] >> (i & 63)) & 1u; }

void vdb_vecset_tombstones(const vdb_vecset *set, uint32_t rows, uint64_t *bits)
{
    size_t words = ((size_t)rows + 63) / 64;
    if (words == 0)
        return;
    memcpy(bits, set->deleted, words * sizeof(uint64_t));
    if (rows & 63)
        bits[words - 1] &= ((uint64_t)1 << (rows & 63)) - 1;
}

/* Moves kept row r to row out (out <= r, so reading r before writing out
 * works in place, tombstone bit included). */
static void move_row(vdb_vecset *set, uint32_t r, uint32_t out)
{
    uint64_t mask = (uint64_t)1 << (out & 63);
    int dead = vdb_vecset_is_deleted(set, r);
    if (out == r)
        return;
    memmove(set->data + (size_t)out * set->dim, set->data + (size_t)r * set->dim,
            set->dim * sizeof(float));
    set->norms[out] = set->norms[r];
    set->ids[out] = set->ids[r];
    set->metas[out] = set->metas[r];
    set->deleted[out >> 6] = dead ? set->deleted[out >> 6] | mask : set->deleted[out >> 6] & ~mask;
}

void vdb_vecset_compact_some(vdb_vecset *set, uint32_t upto, const uint64_t *drop,
                             uint32_t *old_to_new)
{
    uint32_t out = 0, rows = set->rows;
    if (upto > rows)
        upto = rows;
    for (uint32_t r = 0; r < rows; r++) {
        /* Only tombstones go, whatever `drop` says: a live row is data. */
        if (r < upto && vdb_vecset_is_deleted(set, r) && (drop == NULL || bit_get(drop, r))) {
            set->string_bytes -= strlen(set->ids[r]) + 1 +
                                 (set->metas[r] ? strlen(set->metas[r]) + 1 : 0);
            vdb_free(set->ids[r]);
            vdb_free(set->metas[r]);
            if (old_to_new != NULL)
                old_to_new[r] = UINT32_MAX;
            continue;
        }
        move_row(set, r, out);
        if (old_to_new != NULL)
            old_to_new[r] = out;
        out++;
    }
    /* Clear the bits past the last row (whole words from the next one on). */
    if (out & 63)
        set->deleted[out >> 6] &= ((uint64_t)1 << (out & 63)) - 1;
    for (size_t w = ((size_t)out + 63) / 64; w < ((size_t)set->capacity + 63) / 64; w++)
        set->deleted[w] = 0;
    set->rows = out;
    vdb_idmap_clear(set->map);
    for (uint32_t r = 0; r < out; r++)
        if (!vdb_vecset_is_deleted(set, r))
            vdb_idmap_put(set->map, set->ids[r], r); /* table only shrank in use */
}

/* ---- compaction beside readers and writers (vecset.h) ---- */

struct vdb_vecset_reloc {
    uint32_t dim;
    uint32_t kept, upto;    /* snapshot rows mapped; captured rows they stand for */
    const uint64_t *drop;   /* borrowed until the commit */
    vdb_vmem vectors;       /* the new rows: `kept` mapped, then copies */
    float *norms;           /* new per-row arrays, `cap` entries */
    char **ids, **metas;    /* borrowed strings until the commit */
    uint32_t cap;
    uint32_t *old_to_new;   /* `map_cap` entries; filled below `next` */
    uint32_t map_cap;
    uint32_t next;          /* next old row to copy */
    uint32_t out;           /* new rows filled */
    size_t dropped_bytes;   /* string bytes of the dropped rows */
    int committed;
    /* After the commit: what the set had, freed by vdb_vecset_relocate_free. */
    vdb_vmem old_vectors;
    float *old_norms;
    char **old_ids, **old_metas;
    uint64_t *old_deleted;
    uint32_t old_rows;
};

int vdb_vecset_relocate_begin(const vdb_vecset *set, int fd, unsigned long long offset,
                              uint32_t kept, uint32_t upto, const uint64_t *drop,
                              vdb_vecset_reloc **out, vdb_error *err)
{
    vdb_vecset_reloc *r;
    size_t row_bytes = (size_t)set->dim * sizeof(float);
    int rc;
    *out = NULL;
    if (upto > set->rows || kept > upto || drop == NULL)
        return vdb_error_set(err, VDB_EINVAL, "relocation of %u rows (%u kept) over a set of %u",
                             upto, kept, set->rows);
    if ((r = vdb_calloc(1, sizeof(*r))) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "relocation: out of memory");
    r->dim = set->dim;
    r->kept = kept;
    r->upto = upto;
    r->drop = drop;
    vdb_vmem_init(&r->vectors);
    vdb_vmem_init(&r->old_vectors);
    /* As much room as the set has now: it grows in place until then. */
    rc = vdb_vmem_map_file(&r->vectors, fd, offset, (size_t)kept * row_bytes,
                           set->vectors.reserved > (size_t)set->capacity * row_bytes
                               ? set->vectors.reserved
                               : (size_t)set->capacity * row_bytes);
    if (rc != VDB_OK) {
        vdb_free(r);
        return vdb_error_set(err, rc == VDB_EINVAL ? VDB_EIO : rc,
                             "relocation: cannot map %u rows at offset %llu", kept, offset);
    }
    *out = r;
    return VDB_OK;
}

/* Room for `rows` new rows and `old_rows` map entries (the caller's own
 * arrays: no lock involved). */
static int reloc_room(vdb_vecset_reloc *r, size_t rows, size_t old_rows)
{
    void *p;
    if (rows > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < rows)
            cap *= 2;
        if ((p = vdb_realloc(r->norms, cap * sizeof(float))) == NULL)
            return VDB_ENOMEM;
        r->norms = p;
        if ((p = vdb_realloc(r->ids, cap * sizeof(char *))) == NULL)
            return VDB_ENOMEM;
        r->ids = p;
        if ((p = vdb_realloc(r->metas, cap * sizeof(char *))) == NULL)
            return VDB_ENOMEM;
        r->metas = p;
        r->cap = (uint32_t)cap;
    }
    if (old_rows > r->map_cap) {
        size_t cap = r->map_cap ? r->map_cap : 1024;
        while (cap < old_rows)
            cap *= 2;
        if ((p = vdb_realloc(r->old_to_new, cap * sizeof(uint32_t))) == NULL)
            return VDB_ENOMEM;
        r->old_to_new = p;
        r->map_cap = (uint32_t)cap;
    }
    return VDB_OK;
}

int vdb_vecset_relocate_copy(const vdb_vecset *set, vdb_vecset_reloc *r, uint32_t max_rows,
                             uint32_t *left, vdb_error *err)
{
    size_t row_bytes = (size_t)r->dim * sizeof(float);
    uint32_t end = set->rows - r->next > max_rows ? r->next + max_rows : set->rows;
    if (reloc_room(r, (size_t)r->out + (end - r->next), end) != VDB_OK)
        return vdb_error_set(err, VDB_ENOMEM, "relocation: out of memory for %u rows", end);
    for (uint32_t o = r->next; o < end; o++) {
        if (o < r->upto && bit_get(r->drop, o)) {
            if (!vdb_vecset_is_deleted(set, o))
                return vdb_error_set(err, VDB_ECORRUPT, "relocation: dropped row %u is live", o);
            r->dropped_bytes +=
                strlen(set->ids[o]) + 1 + (set->metas[o] ? strlen(set->metas[o]) + 1 : 0);
            r->old_to_new[o] = UINT32_MAX;
            continue;
        }
        if (o < r->upto ? r->out >= r->kept : r->out != r->kept + (o - r->upto))
            return vdb_error_set(err, VDB_ECORRUPT,
                                 "relocation: the snapshot holds %u rows, row %u does not fit",
                                 r->kept, o);
        if (o >= r->upto) {
            /* Appended since the capture: not in the file, copied. */
            size_t need = ((size_t)r->out + 1) * row_bytes;
            if (need > r->vectors.reserved || vdb_vmem_grow(&r->vectors, need) != VDB_OK)
                return vdb_error_set(err, VDB_ENOMEM, "relocation: no room for row %u", o);
            memcpy(r->vectors.base + (size_t)r->out * row_bytes, set->data + (size_t)o * r->dim,
                   row_bytes);
        }
        r->norms[r->out] = set->norms[o];
        r->ids[r->out] = set->ids[o];
        r->metas[r->out] = set->metas[o];
        r->old_to_new[o] = r->out++;
    }
    r->next = end;
    *left = set->rows - r->next;
    return VDB_OK;
}

int vdb_vecset_relocate_commit(vdb_vecset *set, vdb_vecset_reloc *r, const uint32_t **old_to_new,
                               uint32_t *old_rows, vdb_error *err)
{
    size_t need = (size_t)set->capacity * r->dim * sizeof(float);
    size_t words = ((size_t)set->capacity + 63) / 64;
    uint64_t *deleted;
    uint32_t left;
    int rc = vdb_vecset_relocate_copy(set, r, UINT32_MAX, &left, err);
    if (rc != VDB_OK)
        return rc;
    if (r->out < r->kept)
        return vdb_error_set(err, VDB_ECORRUPT, "relocation: %u of the snapshot's %u rows seen",
                             r->out, r->kept);
    if (need > r->vectors.reserved || reloc_room(r, set->capacity, set->rows + 1) != VDB_OK ||
        (deleted = vdb_calloc(words + 1, sizeof(uint64_t))) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "relocation: no room for %u rows", set->capacity);
    /* Nothing below can fail. */
    if (need > r->vectors.used)
        (void)vdb_vmem_grow(&r->vectors, need); /* within the reservation: cannot fail */
    for (size_t w = 0; w < ((size_t)set->rows + 63) / 64; w++)
        for (uint64_t bits = set->deleted[w]; bits != 0; bits &= bits - 1) {
            uint32_t o = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            if (o < set->rows && r->old_to_new[o] != UINT32_MAX)
                deleted[r->old_to_new[o] >> 6] |= (uint64_t)1 << (r->old_to_new[o] & 63);
        }
    vdb_idmap_renumber(set->map, r->old_to_new, set->rows);
    r->old_vectors = set->vectors;
    r->old_norms = set->norms;
    r->old_ids = set->ids;
    r->old_metas = set->metas;
    r->old_deleted = set->deleted;
    r->old_rows = set->rows;
    set->vectors = r->vectors;
    set->data = (float *)(void *)set->vectors.base;
    set->norms = r->norms;
    set->ids = r->ids;
    set->metas = r->metas;
    set->deleted = deleted;
    set->rows = r->out;
    set->string_bytes -= r->dropped_bytes;
    vdb_vmem_init(&r->vectors);
    r->norms = NULL;
    r->ids = r->metas = NULL;
    r->committed = 1;
    *old_to_new = r->old_to_new;
    *old_rows = r->old_rows;
    return VDB_OK;
}

void vdb_vecset_relocate_free(vdb_vecset_reloc *r)
{
    if (r == NULL)
        return;
    if (r->committed) {
        for (uint32_t o = 0; o < r->old_rows; o++)
            if (r->old_to_new[o] == UINT32_MAX) {
                vdb_free(r->old_ids[o]);
                vdb_free(r->old_metas[o]);
            }
    }
    vdb_vmem_release(&r->old_vectors);
    vdb_vmem_release(&r->vectors);
    vdb_free(r->old_norms);
    vdb_free(r->old_ids);
    vdb_free(r->old_metas);
    vdb_free(r->old_deleted);
    vdb_free(r->norms);
    vdb_free(r->ids);
    vdb_free(r->metas);
    vdb_free(r->old_to_new);
    vdb_free(r);
}

void vdb_vecset_compact(vdb_vecset *set, uint32_t *old_to_new)
{
    vdb_vecset_compact_some(set, set->rows, NULL, old_to_new);
}

size_t vdb_vecset_memory(const vdb_vecset *set)
{
    size_t per_row = (size_t)set->dim * sizeof(float) + sizeof(float) + 2 * sizeof(char *);
    return sizeof(*set) + (size_t)set->capacity * per_row + (set->capacity + 63) / 64 * 8 +
           set->string_bytes + vdb_idmap_memory(set->map);
}

int vdb_vecset_check(const vdb_vecset *set, vdb_error *err)
{
    size_t live = 0;
    for (uint32_t r = 0; r < set->rows; r++) {
        if (set->ids[r] == NULL)
            return vdb_error_set(err, VDB_ECORRUPT, "row %u has no id", r);
        if (vdb_vecset_is_deleted(set, r))
            continue;
        live++;
        if (vdb_idmap_get(set->map, set->ids[r]) != (int64_t)r)
            return vdb_error_set(err, VDB_ECORRUPT, "id '%s' does not map to its row %u",
                                 set->ids[r], r);
    }
    if (live != set->live || live != vdb_idmap_size(set->map))
        return vdb_error_set(err, VDB_ECORRUPT, "live count %zu, counted %zu, map %zu",
                             set->live, live, vdb_idmap_size(set->map));
    return VDB_OK;
}
