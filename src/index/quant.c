/* Quantized codes and code scans with exact re-ranking; see quant.h.
 *
 * Why this shape: single-query exact search on float rows is already at the
 * memory-bandwidth limit, so the only way to scan faster is to read fewer
 * bytes. The int8 scan ranks by an integer dot product against a query
 * quantized once per search (asymmetric in the trained scales, symmetric in
 * the kernel), which keeps the inner loop to one VNNI/SDOT pass per row;
 * the binary scan is one XOR+POPCNT pass. Approximation error only decides
 * which rows reach the candidate set: the returned distances come from the
 * float rows. Rows are scanned in blocks so the kernel's output stays in L1
 * and the top-candidate heap sees one compare per row. */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/limits.h"
#include "../kernel/qdist.h"
#include "../kernel/topk.h"
#include "flat.h"
#include "quant_int.h"

int vdb_quant_kind_parse(const char *name)
{
    if (strcmp(name, "none") == 0)
        return VDB_QUANT_NONE;
    if (strcmp(name, "int8") == 0)
        return VDB_QUANT_INT8;
    if (strcmp(name, "binary") == 0)
        return VDB_QUANT_BINARY;
    return -1;
}

const char *vdb_quant_kind_name(vdb_quant_kind kind)
{
    switch (kind) {
    case VDB_QUANT_NONE:
        return "none";
    case VDB_QUANT_INT8:
        return "int8";
    case VDB_QUANT_BINARY:
        return "binary";
    }
    return "unknown";
}

/* An int8 code: v clamped to +-VDB_QDIST_I8_MAX, rounded half away from
 * zero by hand (without -msse4.1 nearbyintf is a libm call per element:
 * most of the encode time, and 5% of an int8 graph query at 10k x 384);
 * NaN (a non-finite row appended later) gives 0. */
static inline int round_i8(float v)
{
    return v >= VDB_QDIST_I8_MAX    ? VDB_QDIST_I8_MAX
           : v <= -VDB_QDIST_I8_MAX ? -VDB_QDIST_I8_MAX
           : v == v                 ? (int)(v + (v >= 0.0f ? 0.5f : -0.5f))
                                    : 0;
}

/* Centre = mean and int8 scale = max |x - mean| / 127 per dimension, over an
 * evenly strided sample of live rows; accumulated in double. */
static int train(vdb_quant *q, const vdb_vecview *view, vdb_error *err)
{
    uint32_t dim = q->dim, step = view->n > VDB_QUANT_TRAIN_ROWS ? view->n / VDB_QUANT_TRAIN_ROWS : 1;
    double *sum = vdb_calloc(dim, sizeof(double));
    if (sum == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "quant: %u training sums", dim);
    size_t used = 0;
    for (uint32_t r = 0; r < view->n; r += step) {
        if (vdb_vecview_is_deleted(view, r))
            continue;
        const float *row = view->data + (size_t)r * dim;
        for (uint32_t d = 0; d < dim; d++) {
            if (!isfinite(row[d])) {
                vdb_free(sum);
                return vdb_error_set(err, VDB_EINVAL, "quant: row %u component %u is not finite",
                                     r, d);
            }
            sum[d] += row[d];
        }
        used++;
    }
    if (used == 0) {
        vdb_free(sum);
        return VDB_OK; /* nothing live yet: the first append trains */
    }
    q->center_norm = 0.0;
    for (uint32_t d = 0; d < dim; d++) {
        q->center[d] = (float)(sum[d] / (double)used);
        q->scale[d] = 0.0f;
        q->center_norm += (double)q->center[d] * q->center[d];
    }
    q->center_norm = sqrt(q->center_norm);
    vdb_free(sum);
    for (uint32_t r = 0; r < view->n; r += step) {
        if (vdb_vecview_is_deleted(view, r))
            continue;
        const float *row = view->data + (size_t)r * dim;
        for (uint32_t d = 0; d < dim; d++) {
            float dev = fabsf(row[d] - q->center[d]);
            if (q->kind == VDB_QUANT_BINARY)
                q->scale[d] += dev / (float)used;
            else if (dev > q->scale[d])
                q->scale[d] = dev;
        }
    }
    for (uint32_t d = 0; d < dim; d++) {
        /* int8: a constant dimension still needs a positive scale (its
         * codes are all 0); FLT_MIN-ish values would overflow 1/scale.
         * binary: the scale is the magnitude a sign bit stands for (the
         * mean |x_d - mu_d|), 0 for a constant dimension. */
        if (q->kind == VDB_QUANT_BINARY)
            continue;
        q->scale[d] = q->scale[d] > 1e-30f ? q->scale[d] / (float)VDB_QDIST_I8_MAX : 1.0f;
    }
    q->trained = 1;
    return VDB_OK;
}

#define CODE_ALIGN 64

static int grow(vdb_quant *q, uint32_t need, vdb_error *err)
{
    if (need <= q->cap)
        return VDB_OK;
    /* The first sizing is exact (codes built for a whole store: doubling
     * from 1024 held 1.31x the codes of a 100k-row store); appends after
     * it double, so a growing store pays amortized copies. */
    uint32_t cap = q->cap ? q->cap : (need > 1024 ? need : 1024);
    while (cap < need)
        cap = cap > UINT32_MAX / 2 ? need : cap * 2;
    size_t row = q->kind == VDB_QUANT_INT8 ? q->dim : q->words * sizeof(uint64_t), bytes;
    if (vdb_mul_size(cap, row, &bytes) != 0)
        return vdb_error_set(err, VDB_ENOMEM, "quant: %u rows of %zu bytes overflow", cap, row);
    /* Cache-line aligned: a row whose dim is a multiple of 64 then starts
     * a line, so its codes span dim / 64 lines rather than one more, and
     * no vector load of them splits two lines (malloc's 16-byte offset
     * did both to every row). */
    void *codes = vdb_aligned_alloc(CODE_ALIGN, bytes);
    if (codes == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "quant: %zu bytes of codes", bytes);
    void *old = q->kind == VDB_QUANT_INT8 ? (void *)q->codes : (void *)q->bits;
    if (old != NULL)
        memcpy(codes, old, (size_t)q->n * row);
    vdb_aligned_free(old);
    if (q->kind == VDB_QUANT_INT8)
        q->codes = codes;
    else
        q->bits = codes;
    /* Each per-row float array grows on its own; one that fails leaves the
     * others larger than cap, which only wastes the excess. */
    float **terms[3] = {&q->row_rho, &q->row_term, &q->row_gamma};
    int need_term = q->metric == VDB_METRIC_L2 || q->kind == VDB_QUANT_BINARY;
    int need_gamma = q->kind == VDB_QUANT_INT8;
    for (int t = 0; t < 3; t++) {
        if ((t == 1 && !need_term) || (t == 2 && !need_gamma))
            continue;
        float *grown = vdb_realloc(*terms[t], (size_t)cap * sizeof(float));
        if (grown == NULL)
            return vdb_error_set(err, VDB_ENOMEM, "quant: %u row terms", cap);
        *terms[t] = grown;
    }
    q->cap = cap;
    return VDB_OK;
}

/* Rounds a non-negative bound up to the next float, so storing it as float
 * never makes it smaller than the double it came from. */
static float bound_up(double v)
{
    float f = (float)v;
    return (double)f < v ? nextafterf(f, INFINITY) : f;
}

/* Encodes row r and records its exact per-row terms: |x - mu|^2 (L2) or
 * <mu, x - mu> (binary, other metrics), the code norm |c| (int8) and the
 * residual norm |x - mu - decoded|, which is what lets quant_exact.c bound
 * every estimate (clipped components included: the residual then holds
 * what the code could not). */
static void encode_row(vdb_quant *q, const float *row, uint32_t r)
{
    uint32_t dim = q->dim;
    double term = 0.0, dev2 = 0.0, resid = 0.0, gamma = 0.0;
    if (q->kind == VDB_QUANT_BINARY) {
        uint64_t *out = q->bits + (size_t)r * q->words;
        memset(out, 0, q->words * sizeof(uint64_t));
        for (uint32_t d = 0; d < dim; d++) {
            double dev = (double)row[d] - q->center[d];
            if (dev == dev) {
                term += q->metric == VDB_METRIC_L2 ? dev * dev : dev * q->center[d];
                dev2 += dev * dev;
            }
            if (row[d] > q->center[d])
                out[d >> 6] |= 1ull << (d & 63);
            double e = dev - (row[d] > q->center[d] ? 1.0 : -1.0) * q->scale[d];
            resid += e == e ? e * e : 0.0;
        }
        q->row_term[r] = (float)term;
    } else {
        int8_t *out = q->codes + (size_t)r * dim;
        for (uint32_t d = 0; d < dim; d++) {
            float v = (row[d] - q->center[d]) / q->scale[d];
            /* Any rounding will do: the residual norm records it. */
            int c = round_i8(v);
            out[d] = (int8_t)c;
            double dev = (double)row[d] - q->center[d];
            double e = dev - (double)q->scale[d] * c;
            dev2 += dev == dev ? dev * dev : 0.0;
            resid += e == e ? e * e : 0.0;
            gamma += (double)c * c;
        }
        q->row_gamma[r] = bound_up(sqrt(gamma));
        if (q->row_term != NULL)
            q->row_term[r] = (float)dev2;
    }
    q->row_rho[r] = bound_up(sqrt(resid));
    if (sqrt(dev2) > q->max_dev)
        q->max_dev = sqrt(dev2);
}

int vdb_quant_append(vdb_quant *q, const vdb_vecview *view, vdb_error *err)
{
    if (view->dim != q->dim || view->metric != q->metric)
        return vdb_error_set(err, VDB_EDIM, "quant: view is %u-d %s, codes are %u-d %s",
                             view->dim, vdb_metric_name(view->metric), q->dim,
                             vdb_metric_name(q->metric));
    if (view->n < q->n)
        return vdb_error_set(err, VDB_EINVAL, "quant: view has %u rows, %u already encoded",
                             view->n, q->n);
    if (!q->trained) {
        int rc = train(q, view, err);
        if (rc != VDB_OK)
            return rc;
        if (!q->trained)
            return VDB_OK; /* still no live row */
        q->n = 0; /* rows encoded before training used no parameters */
    }
    int rc = grow(q, view->n, err);
    if (rc != VDB_OK)
        return rc;
    for (uint32_t r = q->n; r < view->n; r++)
        encode_row(q, view->data + (size_t)r * q->dim, r);
    q->n = view->n;
    return VDB_OK;
}

/* A handle for `kind` codes of the view's shape, untrained and empty. */
static int quant_alloc(vdb_quant_kind kind, const vdb_vecview *view, vdb_quant **out,
                       vdb_error *err)
{
    *out = NULL;
    if (kind != VDB_QUANT_INT8 && kind != VDB_QUANT_BINARY)
        return vdb_error_set(err, VDB_EINVAL, "quant: kind %d is not int8 or binary", (int)kind);
    if (view->dim == 0 || view->dim > VDB_MAX_DIM)
        return vdb_error_set(err, VDB_EINVAL, "quant: dim %u outside 1..%u", view->dim,
                             VDB_MAX_DIM);
    vdb_quant *q = vdb_calloc(1, sizeof(*q));
    if (q == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "quant: handle");
    q->kind = kind;
    q->metric = view->metric;
    q->dim = view->dim;
    q->words = vdb_qdist_bits_words(view->dim);
    q->ops = vdb_qdist();
    q->center = vdb_calloc(view->dim, sizeof(float));
    q->scale = vdb_calloc(view->dim, sizeof(float));
    if (q->center == NULL || q->scale == NULL) {
        vdb_quant_free(q);
        return vdb_error_set(err, VDB_ENOMEM, "quant: %u-d parameters", view->dim);
    }
    *out = q;
    return VDB_OK;
}

int vdb_quant_build(vdb_quant_kind kind, const vdb_vecview *view, vdb_quant **out,
                    vdb_error *err)
{
    vdb_quant *q;
    int rc = quant_alloc(kind, view, &q, err);
    if (rc == VDB_OK && (rc = vdb_quant_append(q, view, err)) != VDB_OK) {
        vdb_quant_free(q);
        q = NULL;
    }
    *out = q;
    return rc;
}

int vdb_quant_new_trained(vdb_quant_kind kind, const vdb_vecview *view, uint32_t reserve,
                          vdb_quant **out, vdb_error *err)
{
    vdb_quant *q;
    int rc = quant_alloc(kind, view, &q, err);
    if (rc == VDB_OK &&
        ((rc = train(q, view, err)) != VDB_OK || (rc = grow(q, reserve, err)) != VDB_OK)) {
        vdb_quant_free(q);
        q = NULL;
    }
    *out = q;
    return rc;
}

int vdb_quant_compact(vdb_quant *q, const uint32_t *old_to_new, uint32_t old_rows,
                      vdb_error *err)
{
    if (old_rows != q->n)
        return vdb_error_set(err, VDB_EINVAL, "quant: compaction of %u rows, %u encoded", old_rows,
                             q->n);
    size_t code_bytes = q->kind == VDB_QUANT_INT8 ? q->dim : q->words * sizeof(uint64_t);
    unsigned char *codes = q->kind == VDB_QUANT_INT8 ? (unsigned char *)q->codes
                                                     : (unsigned char *)q->bits;
    uint32_t kept = 0;
    /* Checked first: a renumbering that is not "drop and keep order" would
     * leave codes half moved. */
    for (uint32_t r = 0; r < old_rows; r++) {
        if (old_to_new[r] == UINT32_MAX)
            continue;
        if (old_to_new[r] != kept)
            return vdb_error_set(err, VDB_EINVAL, "quant: row %u moves to %u, not %u", r,
                                 old_to_new[r], kept);
        kept++;
    }
    kept = 0;
    for (uint32_t r = 0; r < old_rows; r++) {
        if (old_to_new[r] == UINT32_MAX)
            continue;
        if (kept != r) {
            memcpy(codes + (size_t)kept * code_bytes, codes + (size_t)r * code_bytes, code_bytes);
            q->row_rho[kept] = q->row_rho[r];
            if (q->row_term != NULL)
                q->row_term[kept] = q->row_term[r];
            if (q->row_gamma != NULL)
                q->row_gamma[kept] = q->row_gamma[r];
        }
        kept++;
    }
    q->n = kept;
    return VDB_OK;
}

void vdb_quant_free(vdb_quant *q)
{
    if (q == NULL)
        return;
    vdb_free(q->center);
    vdb_free(q->scale);
    vdb_aligned_free(q->codes);
    vdb_free(q->row_term);
    vdb_free(q->row_gamma);
    vdb_free(q->row_rho);
    vdb_aligned_free(q->bits);
    vdb_free(q);
}

uint32_t vdb_quant_count(const vdb_quant *q)
{
    return q->n;
}

vdb_quant_kind vdb_quant_kind_of(const vdb_quant *q)
{
    return q->kind;
}

size_t vdb_quant_row_bytes(const vdb_quant *q)
{
    /* Codes, the residual norm, and the exact term (L2 and binary) and
     * code norm (int8) that bound each estimate. */
    if (q->kind == VDB_QUANT_BINARY)
        return q->words * sizeof(uint64_t) + 2 * sizeof(float);
    return q->dim + 2 * sizeof(float) + (q->metric == VDB_METRIC_L2 ? sizeof(float) : 0);
}

size_t vdb_quant_memory(const vdb_quant *q)
{
    return sizeof(*q) + 2 * (size_t)q->dim * sizeof(float) + (size_t)q->cap * vdb_quant_row_bytes(q);
}

int vdb_quant_scratch_new(const vdb_quant *q, size_t max_candidates, vdb_quant_scratch **out,
                          vdb_error *err)
{
    *out = NULL;
    if (max_candidates == 0 || max_candidates > VDB_QUANT_MAX_CANDIDATES)
        return vdb_error_set(err, VDB_EINVAL, "quant: max candidates %zu outside 1..%u",
                             max_candidates, VDB_QUANT_MAX_CANDIDATES);
    vdb_quant_scratch *s = vdb_calloc(1, sizeof(*s));
    if (s == NULL)
        goto nomem;
    s->max_candidates = max_candidates;
    s->dim = q->dim;
    s->qcode = vdb_malloc(q->dim);
    s->qbits = vdb_malloc(QUERY_PLANES * q->words * sizeof(uint64_t));
    s->zero = vdb_calloc(q->words, sizeof(uint64_t));
    s->weights = vdb_malloc((size_t)q->dim * sizeof(float));
    s->iscore = vdb_malloc(SCAN_BLOCK * sizeof(int32_t));
    s->bscore = vdb_malloc((QUERY_PLANES + 1) * SCAN_BLOCK * sizeof(uint32_t));
    s->heap = vdb_malloc(max_candidates * sizeof(vdb_hit));
    s->ids = vdb_malloc(max_candidates * sizeof(uint32_t));
    if (s->qcode && s->qbits && s->zero && s->weights && s->iscore && s->bscore && s->heap &&
        s->ids) {
        *out = s;
        return VDB_OK;
    }
nomem:
    vdb_quant_scratch_free(s);
    return vdb_error_set(err, VDB_ENOMEM, "quant: scratch for %zu candidates", max_candidates);
}

void vdb_quant_scratch_free(vdb_quant_scratch *s)
{
    if (s == NULL)
        return;
    vdb_free(s->qcode);
    vdb_free(s->qbits);
    vdb_free(s->zero);
    vdb_free(s->weights);
    vdb_free(s->iscore);
    vdb_free(s->bscore);
    vdb_free(s->heap);
    vdb_free(s->ids);
    vdb_free(s->cand);
    vdb_free(s->cand_ids);
    vdb_free(s);
}

/* Quantizes the query's weights into s->qcode; returns their scale alpha
 * (weights ~ alpha * qcode). */
float vdb_quant__prepare_int8(const vdb_quant *q, const float *query, vdb_quant_scratch *s)
{
    float top = 0.0f;
    for (uint32_t d = 0; d < q->dim; d++) {
        float base = q->metric == VDB_METRIC_L2 ? query[d] - q->center[d] : query[d];
        s->weights[d] = base * q->scale[d];
        if (fabsf(s->weights[d]) > top)
            top = fabsf(s->weights[d]);
    }
    float alpha = top > 0.0f ? top / (float)VDB_QDIST_I8_MAX : 1.0f;
    float inv = 1.0f / alpha;
    for (uint32_t d = 0; d < q->dim; d++)
        s->qcode[d] = (int8_t)round_i8(s->weights[d] * inv);
    return alpha;
}

/* Binary query: weights w_d = (q_d - mu_d) * scale_d (centred, so the
 * estimate's error does not scale with the common mean), quantized to
 * QUERY_PLANES-bit unsigned u_d = round((w_d - lo) / step), stored as bit
 * planes, so sum_d w_d b_d = step * sum_d u_d b_d + lo * popcount(b) and
 * sum_d u_d b_d = sum_j 2^j popcount(plane_j AND b), each popcount(p AND b)
 * being (popcount(p) + popcount(b) - hamming(p, b)) / 2: the Hamming kernel
 * alone evaluates the asymmetric estimator (RaBitQ's bit-plane trick). */
void vdb_quant__prepare_binary(const vdb_quant *q, const float *query, vdb_quant_scratch *s,
                               vdb_quant__bquery *bq)
{
    float lo = INFINITY, hi = -INFINITY;
    double wsum = 0.0;
    for (uint32_t d = 0; d < q->dim; d++) {
        s->weights[d] = (query[d] - q->center[d]) * q->scale[d];
        lo = s->weights[d] < lo ? s->weights[d] : lo;
        hi = s->weights[d] > hi ? s->weights[d] : hi;
        wsum += s->weights[d];
    }
    float levels = (float)((1u << QUERY_PLANES) - 1);
    bq->lo = lo;
    bq->step = hi > lo ? (hi - lo) / levels : 1.0f;
    bq->wsum = (float)wsum;
    memset(s->qbits, 0, QUERY_PLANES * q->words * sizeof(uint64_t));
    for (uint32_t d = 0; d < q->dim; d++) {
        unsigned u = (unsigned)nearbyintf((s->weights[d] - lo) / bq->step);
        u = u > (unsigned)levels ? (unsigned)levels : u;
        for (unsigned j = 0; j < QUERY_PLANES; j++)
            if (u >> j & 1u)
                s->qbits[j * q->words + (d >> 6)] |= 1ull << (d & 63);
    }
    for (unsigned j = 0; j < QUERY_PLANES; j++)
        bq->plane_pop[j] = q->ops->hamming(s->qbits + j * q->words, s->zero, q->words);
}

void vdb_quant__binary_ips(const vdb_quant *q, const vdb_quant__bquery *bq, vdb_quant_scratch *s,
                           uint32_t r0, uint32_t m, float *ip)
{
    const uint64_t *codes = q->bits + (size_t)r0 * q->words;
    uint32_t *pop = s->bscore + QUERY_PLANES * SCAN_BLOCK;
    q->ops->hamming_many(s->zero, codes, m, q->words, pop);
    for (unsigned j = 0; j < QUERY_PLANES; j++)
        q->ops->hamming_many(s->qbits + j * q->words, codes, m, q->words,
                             s->bscore + j * SCAN_BLOCK);
    for (uint32_t i = 0; i < m; i++) {
        uint32_t ham[QUERY_PLANES];
        for (unsigned j = 0; j < QUERY_PLANES; j++)
            ham[j] = s->bscore[j * SCAN_BLOCK + i];
        ip[i] = vdb_hnsw_binary_ip(bq->step, bq->lo, bq->wsum, bq->plane_pop, pop[i], ham);
    }
}

/* Approximate keys of binary rows [r0, r0+m): lower is better. */
static void binary_keys(const vdb_quant *q, const vdb_quant__bquery *bq, vdb_quant_scratch *s,
                        uint32_t r0, uint32_t m, float *keys)
{
    float ip[SCAN_BLOCK];
    vdb_quant__binary_ips(q, bq, s, r0, m, ip);
    for (uint32_t i = 0; i < m; i++)
        keys[i] = vdb_hnsw_binary_key(q->metric == VDB_METRIC_L2, q->row_term[r0 + i], ip[i]);
}

static int eligible(const vdb_vecview *view, const vdb_filter_hook *filter, uint32_t id)
{
    return !vdb_vecview_is_deleted(view, id) &&
           (filter == NULL || filter->accept == NULL || filter->accept(filter->ctx, id));
}

/* Pushes block [r0, r0+m) with approximate keys into the candidate heap. */
static void push_block(vdb_topk *top, float *threshold, const vdb_vecview *view,
                       const vdb_filter_hook *filter, uint32_t r0, uint32_t m, const float *keys)
{
    for (uint32_t i = 0; i < m; i++) {
        if (keys[i] > *threshold || !eligible(view, filter, r0 + i))
            continue;
        vdb_topk_push(top, keys[i], r0 + i);
        *threshold = vdb_topk_threshold(top);
    }
}

static void scan(const vdb_quant *q, const vdb_vecview *view, const float *query,
                 const vdb_filter_hook *filter, vdb_quant_scratch *s, vdb_topk *top)
{
    float keys[SCAN_BLOCK], threshold = INFINITY, alpha = 0.0f;
    vdb_quant__bquery bq = {0};
    if (q->kind == VDB_QUANT_INT8)
        alpha = vdb_quant__prepare_int8(q, query, s);
    else
        vdb_quant__prepare_binary(q, query, s, &bq);
    for (uint32_t r0 = 0; r0 < q->n; r0 += SCAN_BLOCK) {
        uint32_t m = q->n - r0 < SCAN_BLOCK ? q->n - r0 : SCAN_BLOCK;
        if (q->kind == VDB_QUANT_BINARY) {
            binary_keys(q, &bq, s, r0, m, keys);
        } else {
            q->ops->dot_i8_many(s->qcode, q->codes + (size_t)r0 * q->dim, m, q->dim, s->iscore);
            if (q->row_term != NULL) {
                /* |q - x|^2 = |q - mu|^2 - 2 <w, c> + |x - mu|^2 (the row
                 * term, exact); the first term is the same for every row. */
                for (uint32_t i = 0; i < m; i++)
                    keys[i] = q->row_term[r0 + i] - 2.0f * alpha * (float)s->iscore[i];
            } else {
                for (uint32_t i = 0; i < m; i++)
                    keys[i] = -(float)s->iscore[i];
            }
        }
        push_block(top, &threshold, view, filter, r0, m, keys);
    }
}

int vdb_quant_search(const vdb_quant *q, const vdb_vecview *view, const float *query, size_t k,
                     size_t candidates, const vdb_filter_hook *filter,
                     vdb_quant_scratch *scratch, vdb_hit *out, size_t *nout, vdb_error *err)
{
    if (k == 0)
        return vdb_error_set(err, VDB_EINVAL, "quant: k must be at least 1");
    size_t want = candidates > k ? candidates : k;
    if (want > scratch->max_candidates || scratch->dim != q->dim)
        return vdb_error_set(err, VDB_EINVAL,
                             "quant: %zu candidates of %u-d need a larger scratch (%zu of %u-d)",
                             want, q->dim, scratch->max_candidates, scratch->dim);
    if (view->dim != q->dim || view->metric != q->metric || view->n != q->n)
        return vdb_error_set(err, VDB_EINVAL,
                             "quant: view (%u rows, %u-d %s) is not the encoded one (%u, %u-d %s)",
                             view->n, view->dim, vdb_metric_name(view->metric), q->n, q->dim,
                             vdb_metric_name(q->metric));
    vdb_topk top;
    vdb_topk_init(&top, scratch->heap, want);
    scan(q, view, query, filter, scratch, &top);
    for (size_t i = 0; i < top.size; i++)
        scratch->ids[i] = top.items[i].id;
    return vdb_flat_search_ids(view, query, scratch->ids, top.size, k, out, nout, err);
}

int vdb_quant_traversal(const vdb_quant *q, const float *query, vdb_quant_scratch *scratch,
                        vdb_hnsw_codes *out, vdb_error *err)
{
    if (scratch->dim != q->dim)
        return vdb_error_set(err, VDB_EINVAL, "quant: a scratch of %u-d for codes of %u-d",
                             scratch->dim, q->dim);
    memset(out, 0, sizeof(*out));
    out->rows = q->n;
    if (q->kind == VDB_QUANT_BINARY) {
        /* The scan's estimator, one row at a time (hnsw_int.h). */
        vdb_quant__bquery bq;
        vdb_quant__prepare_binary(q, query, scratch, &bq);
        out->bits = q->bits;
        out->words = q->words;
        out->qbits = scratch->qbits;
        out->zero = scratch->zero;
        memcpy(out->plane_pop, bq.plane_pop, sizeof(out->plane_pop));
        out->hamming = q->ops->hamming;
        out->step = bq.step;
        out->lo = bq.lo;
        out->wsum = bq.wsum;
        out->row_term = q->row_term;
        out->l2 = q->metric == VDB_METRIC_L2;
        return VDB_OK;
    }
    out->alpha = vdb_quant__prepare_int8(q, query, scratch);
    out->codes = q->codes;
    out->row_term = q->metric == VDB_METRIC_L2 ? q->row_term : NULL;
    out->qcode = scratch->qcode;
    out->dot = q->ops->dot_i8;
    return VDB_OK;
}

int vdb_quant_check(const vdb_quant *q, vdb_error *err)
{
    for (uint32_t d = 0; d < q->dim; d++)
        if (q->kind == VDB_QUANT_INT8 && q->trained &&
            (!isfinite(q->scale[d]) || !(q->scale[d] > 0.0f) || !isfinite(q->center[d])))
            return vdb_error_set(err, VDB_ECORRUPT, "quant: dimension %u scale %g centre %g", d,
                                 (double)q->scale[d], (double)q->center[d]);
    uint64_t pad = q->dim % 64 ? ~((1ull << (q->dim % 64)) - 1) : 0;
    for (uint32_t r = 0; r < q->n; r++) {
        if (q->kind == VDB_QUANT_BINARY) {
            if (q->bits[(size_t)r * q->words + q->words - 1] & pad)
                return vdb_error_set(err, VDB_ECORRUPT, "quant: row %u padding bits set", r);
            continue;
        }
        for (uint32_t d = 0; d < q->dim; d++)
            if (q->codes[(size_t)r * q->dim + d] < -VDB_QDIST_I8_MAX)
                return vdb_error_set(err, VDB_ECORRUPT, "quant: row %u code %u is -128", r, d);
    }
    return VDB_OK;
}
