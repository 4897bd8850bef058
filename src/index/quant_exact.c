/* Exact top-k on quantized codes: a code scan whose answer equals the float
 * scan's (up to rows at exactly equal distance), see vdb_quant_search_exact
 * in quant.h.
 *
 * Why bounds and not a candidate margin: a fixed margin (re-rank the best
 * m*k by estimate) is exact only on data where the estimate's error is
 * small next to the gap between the k-th and the (m*k)-th neighbour, which
 * no constant guarantees (duplicates, tight clusters, spread norms). So
 * every row gets an interval [a - E, a + E] that provably holds its true
 * distance (up to the constant every row shares), from quantities recorded
 * at encode time:
 *
 *   int8    <q', x - mu> = alpha <qcode, c> + <e_q, c> + <q', r>, where q'
 *           is q - mu (L2) or q (cosine, dot), e_q the query's rounding
 *           (weights minus alpha qcode), c the row's code and r its residual
 *           x - mu - s*c. Cauchy-Schwarz: |<e_q, c>| <= |e_q| |c| and
 *           |<q', r>| <= |q'| |r|, with |c| and |r| stored per row (so a
 *           clipped component, whose residual exceeds s/2, stays bounded).
 *   binary  <q - mu, x - mu> = sum w (2b - 1) + <q - mu, r>; the scan's
 *           4-bit query weights err by at most 2 sum |w - w^| in total, and
 *           |<q - mu, r>| <= |q - mu| |r|.
 *
 * The L2 distance holds -2 <q - mu, x - mu> (twice the error); |x - mu|^2
 * is stored exactly. A row whose lower bound exceeds the k-th smallest upper
 * bound among eligible rows cannot be in the top-k, so only the rest are
 * re-ranked on the float rows. A slack of (dim + 16) * 2^-23 times the
 * largest magnitude involved covers float rounding, both in these keys and
 * in the float kernels the reference scan uses (recursive summation errs by
 * at most dim * 2^-24 of the sum of magnitudes).
 *
 * One pass: the k-th upper bound only falls as the scan proceeds, so a row
 * is kept as a candidate when its lower bound is below the current one; the
 * list is pruned against the falling threshold whenever it fills, and grows
 * (doubling) only when pruning frees less than half. */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../kernel/topk.h"
#include "flat.h"
#include "quant_int.h"

#define FIRST_CANDIDATES 1024u

typedef struct bounds {
    float alpha; /* int8: weights ~ alpha * qcode */
    float eq;    /* int8: |e_q|; binary: 2 sum |w - w^| */
    float qn;    /* |q - mu| (L2, binary) or |q| (int8 cosine/dot) */
    float mult;  /* 2 for L2, whose distance holds -2 <., .>; else 1 */
    float slack; /* float rounding */
} bounds;

static double norm_of(const float *v, const float *minus, uint32_t dim)
{
    double sum = 0.0;
    for (uint32_t d = 0; d < dim; d++) {
        double x = (double)v[d] - (minus != NULL ? minus[d] : 0.0f);
        sum += x * x;
    }
    return sqrt(sum);
}

static void prepare(const vdb_quant *q, const float *query, vdb_quant_scratch *s,
                    vdb_quant__bquery *bq, bounds *b)
{
    double eq = 0.0;
    int centred = q->metric == VDB_METRIC_L2 || q->kind == VDB_QUANT_BINARY;
    double qn = norm_of(query, centred ? q->center : NULL, q->dim);
    if (q->kind == VDB_QUANT_INT8) {
        b->alpha = vdb_quant__prepare_int8(q, query, s);
        for (uint32_t d = 0; d < q->dim; d++) {
            double e = (double)s->weights[d] - (double)b->alpha * s->qcode[d];
            eq += e * e;
        }
        eq = sqrt(eq);
    } else {
        vdb_quant__prepare_binary(q, query, s, bq);
        unsigned levels = (1u << QUERY_PLANES) - 1;
        for (uint32_t d = 0; d < q->dim; d++) {
            unsigned u = (unsigned)nearbyintf((s->weights[d] - bq->lo) / bq->step);
            u = u > levels ? levels : u;
            eq += fabs((double)s->weights[d] - ((double)bq->lo + (double)bq->step * u));
        }
        eq *= 2.0;
        b->alpha = 0.0f;
    }
    double big = qn + q->center_norm + q->max_dev;
    b->eq = (float)(eq * (1.0 + 1e-6));
    b->qn = (float)(qn * (1.0 + 1e-6));
    b->mult = q->metric == VDB_METRIC_L2 ? 2.0f : 1.0f;
    b->slack = (float)((q->dim + 16.0) * ldexp(1.0, -23) * big * big);
}

/* Keys and error bounds of rows [r0, r0+m). */
static void block_bounds(const vdb_quant *q, const vdb_quant__bquery *bq, const bounds *b,
                         vdb_quant_scratch *s, uint32_t r0, uint32_t m, float *key, float *err)
{
    const float *rho = q->row_rho + r0;
    if (q->kind == VDB_QUANT_INT8) {
        const float *gamma = q->row_gamma + r0;
        q->ops->dot_i8_many(s->qcode, q->codes + (size_t)r0 * q->dim, m, q->dim, s->iscore);
        for (uint32_t i = 0; i < m; i++) {
            float ip = b->alpha * (float)s->iscore[i];
            key[i] = q->metric == VDB_METRIC_L2 ? q->row_term[r0 + i] - 2.0f * ip : -ip;
            err[i] = b->mult * (b->eq * gamma[i] + b->qn * rho[i]) + b->slack;
        }
        return;
    }
    vdb_quant__binary_ips(q, bq, s, r0, m, key);
    for (uint32_t i = 0; i < m; i++) {
        float ip = key[i];
        key[i] = q->metric == VDB_METRIC_L2 ? q->row_term[r0 + i] - 2.0f * ip
                                            : -(ip + q->row_term[r0 + i]);
        err[i] = b->mult * (b->eq + b->qn * rho[i]) + b->slack;
    }
}

static int eligible(const vdb_vecview *view, const vdb_filter_hook *filter, uint32_t id)
{
    return !vdb_vecview_is_deleted(view, id) &&
           (filter == NULL || filter->accept == NULL || filter->accept(filter->ctx, id));
}

/* Drops candidates above the threshold; grows the list when that frees
 * less than half of it. VDB_ETOOBIG when more than max_rerank remain, or
 * when the share of the `scanned` of `rows` rows still kept, carried over
 * all rows, exceeds 4x max_rerank: the threshold only falls as the scan
 * goes on, so 4x is a generous projection, and it stops a hopeless scan
 * (binary codes keep nearly every row) after its first thousand rows
 * instead of an eighth of the store. */
static int make_room(vdb_quant_scratch *s, size_t *count, float threshold, size_t max_rerank,
                     size_t scanned, size_t rows, vdb_error *err)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (s->cand[i].lo <= threshold)
            s->cand[kept++] = s->cand[i];
    *count = kept;
    if (max_rerank > 0 && (kept > max_rerank || (double)kept * (double)rows >
                                                    4.0 * (double)max_rerank * (double)scanned))
        return vdb_error_set(err, VDB_ETOOBIG, "quant: %zu of %zu rows scanned still to re-rank",
                             kept, scanned);
    if (kept < s->cand_cap / 2 && s->cand_cap > 0)
        return VDB_OK;
    size_t cap = s->cand_cap ? s->cand_cap * 2 : FIRST_CANDIDATES;
    vdb_quant__cand *grown = vdb_realloc(s->cand, cap * sizeof(*grown));
    if (grown == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "quant: %zu exact-scan candidates", cap);
    s->cand = grown;
    s->cand_cap = cap;
    return VDB_OK;
}

static int scan(const vdb_quant *q, const vdb_vecview *view, const vdb_quant__bquery *bq,
                const bounds *b, const vdb_filter_hook *filter, vdb_quant_scratch *s,
                vdb_topk *upper, size_t max_rerank, size_t *count, vdb_error *err)
{
    float key[SCAN_BLOCK], bound[SCAN_BLOCK], threshold = INFINITY;
    *count = 0;
    for (uint32_t r0 = 0; r0 < q->n; r0 += SCAN_BLOCK) {
        uint32_t m = q->n - r0 < SCAN_BLOCK ? q->n - r0 : SCAN_BLOCK;
        block_bounds(q, bq, b, s, r0, m, key, bound);
        for (uint32_t i = 0; i < m; i++) {
            float lo = key[i] - bound[i];
            if (lo > threshold || !eligible(view, filter, r0 + i))
                continue;
            vdb_topk_push(upper, key[i] + bound[i], r0 + i);
            threshold = vdb_topk_threshold(upper);
            int rc;
            if (*count == s->cand_cap &&
                (rc = make_room(s, count, threshold, max_rerank, r0 + i + 1, q->n, err)) !=
                    VDB_OK)
                return rc;
            s->cand[*count].lo = lo;
            s->cand[*count].id = r0 + i;
            (*count)++;
        }
    }
    return VDB_OK;
}

int vdb_quant_search_exact(const vdb_quant *q, const vdb_vecview *view, const float *query,
                           size_t k, const vdb_filter_hook *filter, size_t max_rerank,
                           vdb_quant_scratch *scratch, vdb_hit *out, size_t *nout,
                           size_t *reranked, vdb_error *err)
{
    vdb_quant__bquery bq = {0};
    bounds b;
    vdb_topk upper;
    size_t count = 0, kept = 0;
    if (k == 0)
        return vdb_error_set(err, VDB_EINVAL, "quant: k must be at least 1");
    if (k > scratch->max_candidates || scratch->dim != q->dim)
        return vdb_error_set(err, VDB_EINVAL,
                             "quant: k %zu of %u-d needs a larger scratch (%zu of %u-d)", k,
                             q->dim, scratch->max_candidates, scratch->dim);
    if (view->dim != q->dim || view->metric != q->metric || view->n != q->n)
        return vdb_error_set(err, VDB_EINVAL,
                             "quant: view (%u rows, %u-d %s) is not the encoded one (%u, %u-d %s)",
                             view->n, view->dim, vdb_metric_name(view->metric), q->n, q->dim,
                             vdb_metric_name(q->metric));
    if (q->n == 0) {
        *nout = 0;
        if (reranked != NULL)
            *reranked = 0;
        return VDB_OK;
    }
    prepare(q, query, scratch, &bq, &b);
    vdb_topk_init(&upper, scratch->heap, k);
    int rc = scan(q, view, &bq, &b, filter, scratch, &upper, max_rerank, &count, err);
    if (rc != VDB_OK)
        return rc;
    float threshold = vdb_topk_threshold(&upper);
    uint32_t *ids = vdb_realloc(scratch->cand_ids, (count ? count : 1) * sizeof(uint32_t));
    if (ids == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "quant: %zu re-rank ids", count);
    scratch->cand_ids = ids;
    for (size_t i = 0; i < count; i++)
        if (scratch->cand[i].lo <= threshold)
            ids[kept++] = scratch->cand[i].id;
    if (max_rerank > 0 && kept > max_rerank)
        return vdb_error_set(err, VDB_ETOOBIG, "quant: %zu rows to re-rank, over %zu", kept,
                             max_rerank);
    if (reranked != NULL)
        *reranked = kept;
    return vdb_flat_search_ids(view, query, ids, kept, k, out, nout, err);
}
