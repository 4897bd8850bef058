/* Exact search; see flat.h for the contract.
 *
 * Single query: rows are scored in chunks of CHUNK_ROWS by the dispatched
 * "many" kernel into a small stack buffer, then offered to a bounded heap;
 * the test against the heap's threshold rejects almost every row with one
 * compare. Views above PARALLEL_MIN_FLOATS are split into SLICE_ROWS slices
 * run on the global pool, each with its own heap, merged at the end.
 *
 * Batch: OpenBLAS runs single-threaded inside our pool; each task owns a
 * block of queries and walks the rows in ROW_BLOCK tiles: one sgemm fills a
 * (queries x ROW_BLOCK) score tile, then each query's heap takes the tile.
 * Keeping one task per query block means no heap is shared between
 * threads, and the tile (<= 4 MiB) stays in L2/L3 between the product and
 * the selection. */
#include "flat.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/pool.h"
#include "../kernel/dist.h"
#include "../kernel/gemm.h"
#include "../kernel/topk.h"

#define CHUNK_ROWS 256
#define SLICE_ROWS 8192
#define PARALLEL_MIN_FLOATS (1u << 20)
#define ROW_BLOCK 2048
#define QUERY_BLOCK_MAX 256

int vdb_flat_prepare_query(vdb_metric metric, const float *in, float *out, uint32_t dim,
                           vdb_error *err)
{
    for (uint32_t i = 0; i < dim; i++)
        if (!isfinite(in[i]))
            return vdb_error_set(err, VDB_EINVAL, "query component %u is not finite", i);
    if (out != in)
        memmove(out, in, dim * sizeof(float));
    if (metric == VDB_METRIC_COSINE)
        vdb_dist_normalize(out, dim);
    return VDB_OK;
}

float vdb_flat_distance(const vdb_vecview *view, const float *query, uint32_t id)
{
    const float *row = view->data + (size_t)id * view->dim;
    const vdb_dist_ops *ops = vdb_dist();
    switch (view->metric) {
    case VDB_METRIC_COSINE:
        return 1.0f - ops->dot(query, row, view->dim);
    case VDB_METRIC_DOT:
        return -ops->dot(query, row, view->dim);
    case VDB_METRIC_L2:
    default:
        return ops->l2sq(query, row, view->dim);
    }
}

static int eligible(const vdb_vecview *view, const vdb_filter_hook *filter, uint32_t id)
{
    if (vdb_vecview_is_deleted(view, id))
        return 0;
    return filter == NULL || filter->accept == NULL || filter->accept(filter->ctx, id);
}

/* Scores rows [begin, end) against one query into `top`. */
static void scan_range(const vdb_vecview *view, const float *query, uint32_t begin, uint32_t end,
                       const vdb_filter_hook *filter, vdb_topk *top)
{
    const vdb_dist_ops *ops = vdb_dist();
    float scores[CHUNK_ROWS];
    int is_l2 = view->metric == VDB_METRIC_L2;
    float base = view->metric == VDB_METRIC_COSINE ? 1.0f : 0.0f;
    for (uint32_t at = begin; at < end; at += CHUNK_ROWS) {
        uint32_t count = end - at < CHUNK_ROWS ? end - at : CHUNK_ROWS;
        const float *rows = view->data + (size_t)at * view->dim;
        if (is_l2)
            ops->l2sq_many(query, rows, count, view->dim, scores);
        else
            ops->dot_many(query, rows, count, view->dim, scores);
        for (uint32_t i = 0; i < count; i++) {
            float dist = is_l2 ? scores[i] : base - scores[i];
            uint32_t id = at + i;
            if (top->size == top->k &&
                (dist > top->items[0].dist || (dist == top->items[0].dist && id > top->items[0].id)))
                continue;
            if (eligible(view, filter, id))
                vdb_topk__insert(top, dist, id);
        }
    }
}

typedef struct single_job {
    const vdb_vecview *view;
    const float *query;
    const vdb_filter_hook *filter;
    size_t k;
    vdb_hit *heaps; /* one k-sized heap per slice */
    size_t *sizes;
} single_job;

static void single_slice(void *arg, size_t task, int worker)
{
    single_job *job = arg;
    vdb_topk top;
    uint32_t begin = (uint32_t)(task * SLICE_ROWS);
    uint32_t end = begin + SLICE_ROWS < job->view->n ? begin + SLICE_ROWS : job->view->n;
    (void)worker;
    vdb_topk_init(&top, job->heaps + task * job->k, job->k);
    scan_range(job->view, job->query, begin, end, job->filter, &top);
    job->sizes[task] = top.size;
}

int vdb_flat_parallelism(const vdb_vecview *view)
{
    size_t slices = ((size_t)view->n + SLICE_ROWS - 1) / SLICE_ROWS;
    int threads = vdb_pool_threads(vdb_pool_global());
    if ((size_t)view->n * view->dim < PARALLEL_MIN_FLOATS || slices < 2 || threads < 2)
        return 1;
    return slices < (size_t)threads ? (int)slices : threads;
}

int vdb_flat_search(const vdb_vecview *view, const float *query, size_t k,
                    const vdb_filter_hook *filter, vdb_hit *out, size_t *nout, vdb_error *err)
{
    vdb_topk top;
    size_t slices;
    single_job job;
    if (k == 0)
        return vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
    if (k > view->n)
        k = view->n == 0 ? 1 : view->n;
    slices = ((size_t)view->n + SLICE_ROWS - 1) / SLICE_ROWS;
    if ((size_t)view->n * view->dim < PARALLEL_MIN_FLOATS || slices < 2 ||
        vdb_pool_threads(vdb_pool_global()) < 2) {
        vdb_topk_init(&top, out, k);
        scan_range(view, query, 0, view->n, filter, &top);
        *nout = vdb_topk_sort(&top);
        return VDB_OK;
    }
    job.view = view;
    job.query = query;
    job.filter = filter;
    job.k = k;
    size_t heap_bytes = 0;
    if (vdb_mul_size(slices, k, &heap_bytes) != 0 ||
        vdb_mul_size(heap_bytes, sizeof(vdb_hit), &heap_bytes) != 0 ||
        heap_bytes > SIZE_MAX - slices * sizeof(size_t))
        return vdb_error_set(err, VDB_ETOOBIG, "search: %zu heaps of %zu overflow", slices, k);
    job.heaps = vdb_malloc(heap_bytes + slices * sizeof(size_t));
    if (job.heaps == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "search: out of memory for %zu heaps", slices);
    job.sizes = (size_t *)(job.heaps + slices * k);
    vdb_pool_run(vdb_pool_global(), slices, single_slice, &job);
    vdb_topk_init(&top, out, k);
    for (size_t s = 0; s < slices; s++) {
        vdb_topk part = {job.heaps + s * k, k, job.sizes[s]};
        vdb_topk_merge(&top, &part);
    }
    *nout = vdb_topk_sort(&top);
    vdb_free(job.heaps);
    return VDB_OK;
}

int vdb_flat_search_ids(const vdb_vecview *view, const float *query, const uint32_t *ids,
                        size_t nids, size_t k, vdb_hit *out, size_t *nout, vdb_error *err)
{
    vdb_topk top;
    if (k == 0)
        return vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
    vdb_topk_init(&top, out, k);
    for (size_t i = 0; i < nids; i++) {
        if (ids[i] >= view->n || vdb_vecview_is_deleted(view, ids[i]))
            continue;
        vdb_topk_push(&top, vdb_flat_distance(view, query, ids[i]), ids[i]);
    }
    *nout = vdb_topk_sort(&top);
    return VDB_OK;
}

typedef struct batch_job {
    const vdb_vecview *view;
    const float *queries;
    size_t nq;
    size_t k;
    size_t qblock;
    const vdb_filter_hook *filter;
    const float *row_sqnorms; /* L2 only */
    float *tiles;             /* one qblock x ROW_BLOCK tile per worker */
    vdb_hit *out;
    size_t *counts;
} batch_job;

/* Offers one score tile (qn queries x rn rows starting at row r0) to the
 * queries' heaps, converting dot products to internal distances. */
static void select_tile(const batch_job *job, const float *tile, size_t q0, size_t qn, uint32_t r0,
                        size_t rn, vdb_topk *tops)
{
    const vdb_vecview *view = job->view;
    float base = view->metric == VDB_METRIC_COSINE ? 1.0f : 0.0f;
    for (size_t qi = 0; qi < qn; qi++) {
        const float *scores = tile + qi * ROW_BLOCK;
        vdb_topk *top = &tops[qi];
        float qnorm = 0.0f;
        if (view->metric == VDB_METRIC_L2) {
            const float *q = job->queries + (q0 + qi) * view->dim;
            qnorm = vdb_dist()->dot(q, q, view->dim);
        }
        for (size_t j = 0; j < rn; j++) {
            uint32_t id = r0 + (uint32_t)j;
            float dist = view->metric == VDB_METRIC_L2
                             ? fmaxf(0.0f, qnorm + job->row_sqnorms[id] - 2.0f * scores[j])
                             : base - scores[j];
            if (top->size == top->k && (dist > top->items[0].dist ||
                                        (dist == top->items[0].dist && id > top->items[0].id)))
                continue;
            if (eligible(view, job->filter, id))
                vdb_topk__insert(top, dist, id);
        }
    }
}

static void batch_block(void *arg, size_t task, int worker)
{
    batch_job *job = arg;
    const vdb_vecview *view = job->view;
    size_t q0 = task * job->qblock;
    size_t qn = job->nq - q0 < job->qblock ? job->nq - q0 : job->qblock;
    float *tile = job->tiles + (size_t)worker * job->qblock * ROW_BLOCK;
    vdb_topk tops[QUERY_BLOCK_MAX];
    for (size_t qi = 0; qi < qn; qi++)
        vdb_topk_init(&tops[qi], job->out + (q0 + qi) * job->k, job->k);
    for (uint32_t r0 = 0; r0 < view->n; r0 += ROW_BLOCK) {
        size_t rn = view->n - r0 < ROW_BLOCK ? view->n - r0 : ROW_BLOCK;
        vdb_gemm_qxt(job->queries + q0 * view->dim, qn, view->data + (size_t)r0 * view->dim, rn,
                     view->dim, tile, ROW_BLOCK);
        select_tile(job, tile, q0, qn, r0, rn, tops);
    }
    for (size_t qi = 0; qi < qn; qi++)
        job->counts[q0 + qi] = vdb_topk_sort(&tops[qi]);
}

static void sqnorm_task(void *arg, size_t task, int worker)
{
    batch_job *job = arg;
    const vdb_vecview *view = job->view;
    uint32_t begin = (uint32_t)(task * SLICE_ROWS);
    uint32_t end = begin + SLICE_ROWS < view->n ? begin + SLICE_ROWS : view->n;
    float *norms = (float *)job->row_sqnorms;
    (void)worker;
    for (uint32_t r = begin; r < end; r++) {
        const float *row = view->data + (size_t)r * view->dim;
        norms[r] = vdb_dist()->dot(row, row, view->dim);
    }
}

int vdb_flat_search_batch(const vdb_vecview *view, const float *queries, size_t nq, size_t k,
                          const vdb_filter_hook *filter, vdb_hit *out, size_t *counts,
                          vdb_error *err)
{
    vdb_pool *pool = vdb_pool_global();
    int threads = vdb_pool_threads(pool);
    batch_job job;
    size_t blocks;
    float *norms = NULL;
    if (k == 0)
        return vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
    if (nq == 0)
        return VDB_OK;
    if (view->n == 0) {
        memset(counts, 0, nq * sizeof(size_t));
        return VDB_OK;
    }
    memset(&job, 0, sizeof(job));
    job.view = view;
    job.queries = queries;
    job.nq = nq;
    job.k = k;
    job.filter = filter;
    job.out = out;
    job.counts = counts;
    /* Enough blocks to keep every thread busy, but big enough for sgemm. */
    job.qblock = (nq + (size_t)threads * 2 - 1) / ((size_t)threads * 2);
    if (job.qblock < 64)
        job.qblock = 64;
    if (job.qblock > QUERY_BLOCK_MAX)
        job.qblock = QUERY_BLOCK_MAX;
    blocks = (nq + job.qblock - 1) / job.qblock;
    job.tiles = vdb_aligned_alloc(64, (size_t)threads * job.qblock * ROW_BLOCK * sizeof(float));
    if (view->metric == VDB_METRIC_L2)
        norms = vdb_malloc((size_t)view->n * sizeof(float));
    if (job.tiles == NULL || (view->metric == VDB_METRIC_L2 && norms == NULL)) {
        vdb_aligned_free(job.tiles);
        vdb_free(norms);
        return vdb_error_set(err, VDB_ENOMEM, "batch search: out of memory");
    }
    job.row_sqnorms = norms;
    if (norms != NULL)
        vdb_pool_run(pool, ((size_t)view->n + SLICE_ROWS - 1) / SLICE_ROWS, sqnorm_task, &job);
    /* Parallelism comes from our pool; a multi-threaded BLAS inside it would
     * oversubscribe the cores. */
    vdb_gemm_set_threads(1);
    vdb_pool_run(pool, blocks, batch_block, &job);
    vdb_aligned_free(job.tiles);
    vdb_free(norms);
    return VDB_OK;
}
