/* The calibration's measurement: probes, exact answers per selectivity
 * band, the ef ladder per k band, and the re-check after a local repair;
 * part of the calibration module (calib_int.h, model in calib.h). */
#include "calib_int.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "../core/pool.h"
#include "../core/rng.h"
#include "../index/flat.h"
#include "../index/quant.h"
#include "../kernel/topk.h"
#include "calib_int.h"
#include "query.h"
#include "store_codes.h"
#include "store_index.h"
#include "store_int.h"

/* The steps added to the old 1.5x ladder. Only the plain curve (k <= 10,
 * unfiltered: every unfiltered top-10 query, and the one that reads every
 * real probe) measures them; the filtered and k <= 100 curves keep the
 * old steps (their picks pass over the empty fine entries). All eight
 * curves at the fine steps cost ~1.5x the CPU per calibration (20k x 384
 * clustered, both calibrations: 44.8 s against ~30 s with the old ladder;
 * the plain curve alone fine: 33.8 s; BENCHMARKS.md issue 9). */
static const uint8_t ladder_fine_only[VDB_CALIB_NEF] = {0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
                                                        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0};


typedef struct band_hook {
    uint32_t n0;      /* rows that existed when calibration started */
    uint64_t limit;   /* accept when the row's hash is below this */
    uint64_t seed;
    const uint64_t *deleted;
} band_hook;

static int band_accept(void *ctx, uint32_t row)
{
    const band_hook *h = ctx;
    return row < h->n0 && (h->limit == UINT64_MAX || vdb_hash_mix64(row ^ h->seed) < h->limit);
}


/* Per-dimension mean and spread of up to FIT_ROWS sampled live rows
 * (mean[dim], sd[dim]); rw held shared. */
#define FIT_ROWS 1024u
static void fit_gaussian(const vdb_vecview *view, vdb_rng *rng, uint32_t dim, double *mean,
                         double *sd)
{
    size_t used = 0;
    for (uint32_t j = 0; j < dim; j++)
        mean[j] = sd[j] = 0;
    for (uint32_t t = 0; t < 4 * FIT_ROWS && used < FIT_ROWS; t++) {
        uint32_t r = (uint32_t)vdb_rng_below(rng, view->n);
        if (vdb_vecview_is_deleted(view, r))
            continue;
        const float *x = view->data + (size_t)r * dim;
        for (uint32_t j = 0; j < dim; j++) {
            mean[j] += x[j];
            sd[j] += (double)x[j] * x[j];
        }
        used++;
    }
    for (uint32_t j = 0; j < dim && used > 0; j++) {
        mean[j] /= (double)used;
        double var = sd[j] / (double)used - mean[j] * mean[j];
        sd[j] = var > 0 ? sqrt(var) : 0;
    }
}

/* The three probe classes (calib.h): alternately a near probe (a stored
 * row perturbed at one of four noise scales) and a spread probe (drawn
 * from a Gaussian fitted to the data's per-dimension mean and spread),
 * then the reservoir of real queries. */
int vdb_calib__make_probes(vdb_store *store, vdb_rng *rng, probe_set *ps, vdb_error *err)
{
    static const double scales[] = {0.05, 0.2, 0.5, 1.0};
    vdb_store_calib *c = store->calib;
    uint32_t dim = store->config.dim;
    uint64_t rows = vdb_store_count(store);
    pthread_mutex_lock(&c->mutex);
    uint32_t real = vdb_calib__real_usable(c, dim, rows);
    pthread_mutex_unlock(&c->mutex);
    uint32_t want = CALIB_PROBES + real;
    ps->q = vdb_malloc((size_t)want * dim * sizeof(float));
    ps->src = vdb_malloc(want * sizeof(uint32_t));
    ps->cls = vdb_malloc(want);
    ps->n = 0;
    memset(ps->nclass, 0, sizeof(ps->nclass));
    if (ps->q == NULL || ps->src == NULL || ps->cls == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for calibration probes");
    double *mean = vdb_malloc((size_t)dim * 2 * sizeof(double)), *sd = mean ? mean + dim : NULL;
    if (mean == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for calibration probes");
    pthread_rwlock_rdlock(&store->rw);
    vdb_vecview view = vdb_vecset_view(store->set);
    fit_gaussian(&view, rng, dim, mean, sd);
    for (uint32_t tries = 0; ps->n < CALIB_PROBES && tries < 20 * CALIB_PROBES; tries++) {
        if (tries % 2 == 1) {
            float *q = ps->q + (size_t)ps->n * dim;
            for (uint32_t j = 0; j < dim; j++)
                q[j] = (float)(mean[j] + sd[j] * vdb_rng_gauss(rng));
            if (vdb_flat_prepare_query(view.metric, q, q, dim, NULL) == VDB_OK) {
                ps->cls[ps->n] = VDB_CALIB_SPREAD;
                ps->nclass[VDB_CALIB_SPREAD]++;
                ps->src[ps->n++] = UINT32_MAX;
            }
            continue;
        }
        uint32_t a = (uint32_t)vdb_rng_below(rng, view.n), b = (uint32_t)vdb_rng_below(rng, view.n);
        if (a == b || vdb_vecview_is_deleted(&view, a) || vdb_vecview_is_deleted(&view, b))
            continue;
        const float *x = view.data + (size_t)a * dim, *y = view.data + (size_t)b * dim;
        float *q = ps->q + (size_t)ps->n * dim;
        double d2 = 0;
        for (uint32_t j = 0; j < dim; j++)
            d2 += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
        double sigma = scales[(tries / 2) % 4] * sqrt(d2 / dim);
        for (uint32_t j = 0; j < dim; j++)
            q[j] = (float)(x[j] + sigma * vdb_rng_gauss(rng));
        if (vdb_flat_prepare_query(view.metric, q, q, dim, NULL) != VDB_OK)
            continue;
        ps->cls[ps->n] = VDB_CALIB_NEAR;
        ps->nclass[VDB_CALIB_NEAR]++;
        ps->src[ps->n++] = a;
    }
    pthread_rwlock_unlock(&store->rw);
    vdb_free(mean);
    /* `real` of the reservoir's queries, evenly spread over it when it
     * holds more than the truth budget lets this calibration use (a store
     * that shrank, or more queries arrived since `real` was read). */
    pthread_mutex_lock(&c->mutex);
    uint32_t held = c->nreservoir, take = real < held ? real : held;
    for (uint32_t t = 0; t < take; t++) {
        size_t i = (size_t)t * held / take;
        memcpy(ps->q + (size_t)ps->n * dim, c->reservoir + i * dim, dim * sizeof(float));
        ps->cls[ps->n] = VDB_CALIB_REAL;
        ps->nclass[VDB_CALIB_REAL]++;
        ps->src[ps->n++] = UINT32_MAX;
    }
    pthread_mutex_unlock(&c->mutex);
    return VDB_OK;
}

/* Drops `src` from a result list of up to k+1 and keeps k; returns count. */
static size_t strip(vdb_hit *hits, size_t count, uint32_t src, size_t k)
{
    size_t o = 0;
    for (size_t i = 0; i < count && o < k; i++)
        if (hits[i].id != src)
            hits[o++] = hits[i];
    return o;
}

/* Matches of `got` within the exact answer's k-th distance (ties count). */
static uint64_t matched(const vdb_hit *truth, size_t ntruth, const vdb_hit *got, size_t ngot)
{
    if (ntruth == 0)
        return 0;
    float kth = truth[ntruth - 1].dist;
    float slack = fabsf(kth) * 1e-5f + 1e-6f;
    uint64_t m = 0;
    for (size_t i = 0; i < ngot && i < ntruth; i++)
        if (got[i].dist <= kth + slack)
            m++;
    return m;
}

/* What one calibration shares between its steps. */
typedef struct meas {
    vdb_store *store;
    const probe_set *ps;
    vdb_calib *cal;
    const _Atomic int *stop;
    vdb_error *err;
    uint32_t dim;
    size_t kmax;          /* the largest k band + 1 (a near probe's source is dropped) */
    uint32_t classes;     /* probe classes that count (calib.h) */
    int trial;            /* measuring the trial int8 codes (store_codes.h) */
    int path;             /* VDB_CALIB_PATH_* being measured */
    uint64_t epoch;       /* index epoch at the start: a change means rows renumbered */
    band_hook hook;
    vdb_filter_hook fh;
    vdb_hit *truth;       /* ps->n x kmax exact answers of the current band */
    size_t *tcount;
    vdb_hit *got;         /* one graph answer */
    uint8_t *done;        /* probes measured at the current ef */
    uint32_t *rank;       /* each probe's position within its class */
    float *qbuf;          /* CALIB_CHUNK gathered probes ... */
    vdb_hit *tbuf;        /* ... and their exact answers */
    size_t tcbuf[TRUTH_PROBES];
    double gemm_ns, gemm_rows;
} meas;

/* The int8 codes the measured path traverses (rw held shared): the trial
 * codes, or the store's own for the int8 path, NULL for the float path. */
static const vdb_quant *path_codes(meas *m, const vdb_vecview *view)
{
    return m->trial ? vdb_store__codes_trial(m->store, view)
                    : vdb_store__codes_traversal(m->store, view, 0);
}

/* Takes the read guard for one chunk; fails (and still holds it) when the
 * calibration was stopped, the rows were renumbered meanwhile, or the
 * path measured is gone (trial codes dropped, the store's codes changed):
 * its curves would describe a path no query runs. */
static int chunk_lock(meas *m, vdb_vecview *view, const vdb_quant **codes)
{
    int rc = VDB_OK;
    if (atomic_load(m->stop))
        rc = vdb_error_set(m->err, VDB_EBUSY, "calibration stopped");
    pthread_rwlock_rdlock(&m->store->rw);
    *view = vdb_vecset_view(m->store->set);
    if (rc == VDB_OK && vdb_store__index_epoch(m->store) != m->epoch)
        rc = vdb_error_set(m->err, VDB_EBUSY, "rows renumbered during calibration");
    if (codes != NULL) {
        *codes = path_codes(m, view);
        int path = *codes != NULL ? VDB_CALIB_PATH_INT8 : VDB_CALIB_PATH_FLOAT;
        if (rc == VDB_OK && path != m->path)
            rc = vdb_error_set(m->err, VDB_EBUSY, "the store's codes changed during calibration");
    }
    return rc;
}

/* A scan's cost from one timed run: its process CPU time shared over the
 * threads it ran on, or its wall time when that is less. The graph is
 * timed in thread CPU time (measure_probe), so a busy machine's
 * preemption is charged to neither side: wall time alone read 4.9 us a
 * row (0.49 s for 100k x 384) under a load of 14 on 2 cores where an idle
 * scan takes ~6 ms, which would send a store whose graph is slower than
 * its scan to the graph. The calling thread's CPU time alone misses the
 * pool's share of a split scan (8 us for a 10k x 256 scan). Other work in
 * the process during the run can only raise the CPU figure, which the
 * wall time then caps. */
static double scan_cost(double wall, double cpu, int threads)
{
    double shared = cpu / (threads > 1 ? threads : 1);
    return shared < wall ? shared : wall;
}

/* Exact scan costs on this machine, single query and candidate list: the
 * best of a few runs (scan_cost). The candidate-list scan runs on the
 * calling thread: its thread CPU time. */
static void measure_scan_costs(meas *m)
{
    double scan = INFINITY, ids = INFINITY;
    size_t cnt;
    vdb_store *store = m->store;
    const probe_set *ps = m->ps;
    pthread_rwlock_rdlock(&store->rw);
    vdb_vecview full = vdb_vecset_view(store->set), view = full;
    view.n = m->hook.n0;
    /* The codes must cover every row, so a code scan runs over all of them
     * (the few written since the start included) and is charged per row. */
    const vdb_quant *codes = m->trial ? vdb_store__codes_trial(store, &full)
                                      : vdb_store__codes_current(store, &full);
    double scan_rows = codes != NULL ? full.n : view.n;
    size_t take = view.n / 10 + 1;
    uint32_t *list = vdb_malloc(take * sizeof(uint32_t));
    for (uint32_t i = 0; i < 5 && i < ps->n; i++) {
        const float *q = ps->q + (size_t)i * m->dim;
        double w0 = vdb_calib__now(CLOCK_MONOTONIC), c0 = vdb_calib__now(CLOCK_PROCESS_CPUTIME_ID);
        int threads = 1;
        /* The single-query scan the planner would run: on the codes when
         * the store is quantized (store_codes.h; counted as one thread,
         * which the wall time caps if it is more). */
        if (codes != NULL) {
            vdb_store__query_scan_codes(store, codes, &full, q, 10, NULL, m->got, &cnt, NULL);
        } else {
            threads = vdb_flat_parallelism(&view);
            vdb_flat_search(&view, q, 10, NULL, m->got, &cnt, NULL);
        }
        double t = scan_cost(vdb_calib__now(CLOCK_MONOTONIC) - w0,
                             vdb_calib__now(CLOCK_PROCESS_CPUTIME_ID) - c0, threads);
        scan = t < scan ? t : scan;
        if (list == NULL)
            continue;
        for (size_t j = 0; j < take; j++)
            list[j] = (uint32_t)((j * 10 + i) % view.n);
        double t0 = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID);
        vdb_flat_search_ids(&view, q, list, take, 10, m->got, &cnt, NULL);
        t = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID) - t0;
        ids = t < ids ? t : ids;
    }
    pthread_rwlock_unlock(&store->rw);
    m->cal->scan_ns_row = scan * 1e9 / scan_rows;
    m->cal->ids_ns_row = list != NULL ? ids * 1e9 / (double)take : m->cal->scan_ns_row;
    vdb_free(list);
}

/* 1 when probe p is measured in selectivity band s: its class counts, and
 * in the filtered bands it is among the first CALIB_SMALL_BAND of its
 * class (measure_curve's quota; measure_ef takes them in probe order). */
static int probe_needed(const meas *m, int s, uint32_t p)
{
    return (m->classes & (1u << m->ps->cls[p])) && (s == 0 || m->rank[p] < CALIB_SMALL_BAND);
}

/* Exact answers of the probes band s measures (probe_needed): GEMM batch
 * over CALIB_CHUNK probes per read-guard hold, gathered into `qbuf` and
 * scattered back. Truth for probes no curve reads (the synthetic classes
 * once real queries decide, the filtered bands' surplus) is skipped: at
 * 1M rows it is most of a calibration's cost. Band 0 also times the GEMM. */
/* Row numbers of a block seen as a view of its own, handed to the band's
 * hook as the store's row numbers. */
typedef struct block_hook {
    const vdb_filter_hook *inner;
    uint32_t base;
} block_hook;

static int block_accept(void *ctx, uint32_t row)
{
    const block_hook *b = ctx;
    return b->inner->accept(b->inner->ctx, row + b->base);
}

static int measure_truth(meas *m, int s, double sb)
{
    const probe_set *ps = m->ps;
    int rc = VDB_OK;
    for (uint32_t p0 = 0; p0 < ps->n && rc == VDB_OK;) {
        uint32_t idx[TRUTH_PROBES], np = 0;
        vdb_topk top[TRUTH_PROBES];
        for (; p0 < ps->n && np < TRUTH_PROBES; p0++)
            if (probe_needed(m, s, p0)) {
                memcpy(m->qbuf + (size_t)np * m->dim, ps->q + (size_t)p0 * m->dim,
                       m->dim * sizeof(float));
                vdb_topk_init(&top[np], m->truth + (size_t)p0 * m->kmax, m->kmax);
                idx[np++] = p0;
            }
        if (np == 0)
            break;
        for (uint32_t base = 0; base < m->hook.n0 && rc == VDB_OK; base += TRUTH_BLOCK) {
            vdb_vecview view;
            rc = chunk_lock(m, &view, NULL);
            /* Rows [base, base + n) of the rows calibration considers. */
            view.data += (size_t)base * m->dim;
            if (view.deleted != NULL)
                view.deleted += base / 64;
            view.n = m->hook.n0 - base < TRUTH_BLOCK ? m->hook.n0 - base : TRUTH_BLOCK;
            block_hook bh = {&m->fh, base};
            vdb_filter_hook fh = {block_accept, &bh};
            double w0 = vdb_calib__now(CLOCK_MONOTONIC);
            double c0 = vdb_calib__now(CLOCK_PROCESS_CPUTIME_ID);
            if (rc == VDB_OK)
                rc = vdb_flat_search_batch(&view, m->qbuf, np, m->kmax, sb >= 1.0 ? NULL : &fh,
                                           m->tbuf, m->tcbuf, m->err);
            if (s == 0) {
                /* The batch path splits over the whole pool. */
                m->gemm_ns += scan_cost(vdb_calib__now(CLOCK_MONOTONIC) - w0,
                                        vdb_calib__now(CLOCK_PROCESS_CPUTIME_ID) - c0,
                                        vdb_pool_threads(vdb_pool_global())) *
                              1e9;
                m->gemm_rows += (double)np * view.n;
            }
            pthread_rwlock_unlock(&m->store->rw);
            for (uint32_t i = 0; i < np && rc == VDB_OK; i++)
                for (size_t j = 0; j < m->tcbuf[i]; j++) {
                    const vdb_hit *h = &m->tbuf[(size_t)i * m->kmax + j];
                    vdb_topk_push(&top[i], h->dist, h->id + base);
                }
        }
        for (uint32_t i = 0; i < np; i++)
            m->tcount[idx[i]] = vdb_topk_sort(&top[i]);
    }
    return rc;
}

/* Runs one graph search for probe p at ladder entry e and counts it. The
 * time is the calling thread's CPU time: a graph search runs on one
 * thread, and on a busy machine wall time would charge it for being
 * preempted (which stopped the ladder early and sent uniform 64-d data to
 * the scan under load). */
static int measure_probe(meas *m, const vdb_vecview *view, const vdb_filter_hook *use,
                         const vdb_quant *codes, uint32_t p, size_t k, uint32_t ef,
                         vdb_calib_curve *curve, int e, double *ns)
{
    const probe_set *ps = m->ps;
    size_t cnt = 0, nt;
    int pc = ps->cls[p];
    double t0 = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID);
    int rc = vdb_store__query_graph(m->store, view, ps->q + (size_t)p * m->dim, 1, k + 1, ef, use,
                                   codes, m->got, &cnt, m->err);
    *ns += (vdb_calib__now(CLOCK_THREAD_CPUTIME_ID) - t0) * 1e9;
    if (rc != VDB_OK)
        return rc;
    vdb_hit *truth = m->truth + (size_t)p * m->kmax;
    nt = strip(truth, m->tcount[p], ps->src[p], k);
    cnt = strip(m->got, cnt, ps->src[p], k);
    curve->hits[pc][e] += matched(truth, nt, m->got, cnt);
    curve->total[pc][e] += nt;
    curve->probes[pc][e] += nt > 0;
    return VDB_OK;
}

/* 1 when every counted class's recall at entry e reaches
 * CALIB_SCREEN_RECALL: the entry is worth the rest of the probes. */
static int promising(const meas *m, const vdb_calib_curve *curve, int e)
{
    for (int c = 0; c < VDB_CALIB_NCLASS; c++)
        if ((m->classes & (1u << c)) && curve->total[c][e] > 0 &&
            (double)curve->hits[c][e] < CALIB_SCREEN_RECALL * (double)curve->total[c][e])
            return 0;
    return 1;
}

/* Ladder entry e of one curve: screened on CALIB_SCREEN probes per class,
 * then up to `quota` per class when promising. */
static int measure_ef(meas *m, double sb, size_t k, uint32_t quota, vdb_calib_curve *curve, int e)
{
    const probe_set *ps = m->ps;
    uint32_t ef = vdb_calib_ef_ladder[e], np = 0, used[VDB_CALIB_NCLASS] = {0};
    double ns = 0;
    int rc = VDB_OK;
    memset(m->done, 0, ps->n);
    for (int pass = 0; pass < 2 && rc == VDB_OK; pass++) {
        uint32_t limit = pass == 0 && CALIB_SCREEN < quota ? CALIB_SCREEN : quota;
        if (pass == 1 && (limit <= CALIB_SCREEN || !promising(m, curve, e)))
            break;
        for (uint32_t p0 = 0; p0 < ps->n && rc == VDB_OK; p0 += CALIB_CHUNK) {
            vdb_vecview view;
            const vdb_quant *codes = NULL;
            rc = chunk_lock(m, &view, &codes);
            const vdb_filter_hook *use = sb >= 1.0 && view.n == m->hook.n0 ? NULL : &m->fh;
            for (uint32_t p = p0; p < p0 + CALIB_CHUNK && p < ps->n && rc == VDB_OK; p++) {
                int pc = ps->cls[p];
                if (m->done[p] || !(m->classes & (1u << pc)) || used[pc] >= limit)
                    continue;
                m->done[p] = 1;
                used[pc]++;
                np++;
                rc = measure_probe(m, &view, use, codes, p, k, ef, curve, e, &ns);
            }
            pthread_rwlock_unlock(&m->store->rw);
        }
    }
    curve->ns[e] = ns / (np ? np : 1);
    curve->measured = (uint32_t)e + 1;
    return rc;
}

/* 1 when the ladder can stop after entry e: every counted class perfect,
 * the bound past CALIB_STOP_LCB, the graph no better than the scan the
 * planner would pick instead (a full scan, or for a filtered band an exact
 * search over its candidates), or ef covering every row. */
static int ladder_done(const meas *m, const vdb_calib_curve *curve, int e, double sb)
{
    double scan = sb >= 1.0 ? m->cal->scan_ns_row * m->hook.n0
                            : m->cal->ids_ns_row * sb * m->hook.n0;
    int perfect = 1;
    for (int c = 0; c < VDB_CALIB_NCLASS; c++)
        if ((m->classes & (1u << c)) && curve->hits[c][e] != curve->total[c][e])
            perfect = 0;
    return perfect || vdb_calib_curve_lcb(curve, (uint32_t)e, NULL) >= CALIB_STOP_LCB ||
           curve->ns[e] > 2.0 * scan || vdb_calib_ef_ladder[e] >= m->hook.n0;
}

/* Skipped entries below k (the search uses ef = k) repeat the first
 * measured one after them; skipped fine steps stay empty. */
static void fill_skipped(vdb_calib_curve *curve, size_t k)
{
    for (uint32_t e = 0; e < curve->measured && vdb_calib_ef_ladder[e] < k; e++) {
        if (curve->ns[e] != 0)
            continue;
        for (uint32_t f = e + 1; f < curve->measured; f++) {
            if (curve->ns[f] <= 0)
                continue;
            for (int c = 0; c < VDB_CALIB_NCLASS; c++) {
                curve->hits[c][e] = curve->hits[c][f];
                curve->total[c][e] = curve->total[c][f];
                curve->probes[c][e] = curve->probes[c][f];
            }
            curve->ns[e] = curve->ns[f];
            break;
        }
    }
}

/* The ef ladder of one (selectivity, k) band. */
static int measure_curve(meas *m, int s, int kb)
{
    double sb = vdb_calib_s_bands[s];
    size_t k = vdb_calib_k_bands[kb];
    vdb_calib_curve *curve = &m->cal->curve[s][kb];
    /* Filtered bands and the big-k band need fewer probes for a tight
     * bound (more neighbours per probe, or a cheaper truth):
     * CALIB_SMALL_BAND of each class. */
    uint32_t quota = s == 0 && kb == 0 ? UINT32_MAX : CALIB_SMALL_BAND;
    int rc = VDB_OK;
    memset(curve, 0, sizeof(*curve));
    curve->classes = m->classes;
    for (int e = 0; e < VDB_CALIB_NEF && rc == VDB_OK; e++) {
        int below_k = vdb_calib_ef_ladder[e] < k;
        if (below_k && e + 1 < VDB_CALIB_NEF && vdb_calib_ef_ladder[e + 1] <= k)
            continue; /* below k the search uses ef = k anyway */
        if (!(s == 0 && kb == 0) && ladder_fine_only[e] && !below_k)
            continue; /* the old steps only (ladder_fine_only) */
        rc = measure_ef(m, sb, k, quota, curve, e);
        if (rc == VDB_OK && ladder_done(m, curve, e, sb))
            break;
    }
    fill_skipped(curve, k);
    return rc;
}

/* One calibration: scan costs, then per selectivity band the truth for
 * every probe and the ef ladder per k band. */


void vdb_calib__keep_free(truth_keep *k)
{
    vdb_free(k->hits);
    vdb_free(k->count);
    memset(k, 0, sizeof(*k));
}

/* Band 0's truth: from `keep` when it holds it for these rows, else
 * measured (and kept when asked). */
static int band0_truth(meas *m, truth_keep *keep)
{
    size_t hits = (size_t)m->ps->n * m->kmax;
    if (keep != NULL && keep->have) {
        memcpy(m->truth, keep->hits, hits * sizeof(vdb_hit));
        memcpy(m->tcount, keep->count, m->ps->n * sizeof(size_t));
        return VDB_OK;
    }
    int rc = measure_truth(m, 0, 1.0);
    if (rc != VDB_OK || keep == NULL)
        return rc;
    keep->hits = vdb_malloc(hits * sizeof(vdb_hit));
    keep->count = vdb_malloc((m->ps->n ? m->ps->n : 1) * sizeof(size_t));
    if (keep->hits == NULL || keep->count == NULL) {
        vdb_calib__keep_free(keep); /* the trial measures its own */
        return VDB_OK;
    }
    memcpy(keep->hits, m->truth, hits * sizeof(vdb_hit));
    memcpy(keep->count, m->tcount, m->ps->n * sizeof(size_t));
    keep->n0 = m->hook.n0;
    keep->epoch = m->epoch;
    keep->have = 1;
    return VDB_OK;
}

/* Sets up one measurement of `ps` into `cal` (meas_close frees it, also
 * on error): the counted classes, the buffers, the path the store runs,
 * the rows considered (those present now, or `keep`'s). Errors:
 * VDB_ENOMEM, VDB_EBUSY (the trial codes are gone). */
static int meas_open(meas *m, vdb_store *store, const probe_set *ps, vdb_calib *cal, int trial,
                     truth_keep *keep, const _Atomic int *stop, vdb_error *err)
{
    *m = (meas){.store = store, .ps = ps, .cal = cal, .stop = stop, .err = err, .trial = trial};
    int rc = VDB_OK;
    m->dim = store->config.dim;
    m->kmax = vdb_calib_k_bands[VDB_CALIB_NK - 1] + 1;
    /* Until enough real queries have been seen, near and spread probes
     * stand in for them; after that the workload's own queries decide
     * alone. (Near probes at the larger noise scales land between the
     * clusters of clustered data and asked ef 1536 for 0.99 on 100k x 384
     * text-like data, where the real queries reached it at ef 256.) */
    m->classes = ps->nclass[VDB_CALIB_REAL] >= CALIB_REAL_MIN
                    ? 1u << VDB_CALIB_REAL
                    : (1u << VDB_CALIB_NEAR) | (1u << VDB_CALIB_SPREAD);
    for (int c = 0; c < VDB_CALIB_NCLASS; c++)
        if (ps->nclass[c] == 0)
            m->classes &= ~(1u << c);
    m->truth = vdb_malloc((size_t)ps->n * m->kmax * sizeof(vdb_hit));
    m->tcount = vdb_malloc(ps->n * sizeof(size_t));
    m->got = vdb_malloc(m->kmax * sizeof(vdb_hit));
    m->done = vdb_malloc(ps->n ? ps->n : 1);
    m->rank = vdb_malloc((ps->n ? ps->n : 1) * sizeof(uint32_t));
    m->qbuf = vdb_malloc((size_t)TRUTH_PROBES * m->dim * sizeof(float));
    m->tbuf = vdb_malloc((size_t)TRUTH_PROBES * m->kmax * sizeof(vdb_hit));
    m->epoch = vdb_store__index_epoch(store);
    m->fh = (vdb_filter_hook){band_accept, &m->hook};
    if (m->truth == NULL || m->tcount == NULL || m->got == NULL || m->done == NULL ||
        m->rank == NULL || m->qbuf == NULL || m->tbuf == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for calibration results");
    {
        uint32_t seen[VDB_CALIB_NCLASS] = {0};
        for (uint32_t p = 0; p < ps->n; p++) {
            m->rank[p] = seen[ps->cls[p]]++;
            m->tcount[p] = 0;
        }
    }
    pthread_rwlock_rdlock(&store->rw);
    {
        vdb_vecview v0 = vdb_vecset_view(store->set);
        m->hook.n0 = v0.n;
        if (keep != NULL && keep->have && keep->epoch != m->epoch)
            vdb_calib__keep_free(keep);
        if (keep != NULL && keep->have)
            m->hook.n0 = keep->n0;
        m->path = trial || vdb_store__codes_traversal(store, &v0, 0) != NULL
                     ? VDB_CALIB_PATH_INT8
                     : VDB_CALIB_PATH_FLOAT;
        if (trial && vdb_store__codes_trial(store, &v0) == NULL)
            rc = vdb_error_set(err, VDB_EBUSY, "the trial codes are gone");
    }
    pthread_rwlock_unlock(&store->rw);
    cal->path = m->path;
    return rc;
}

static void meas_close(meas *m)
{
    vdb_free(m->truth);
    vdb_free(m->tcount);
    vdb_free(m->got);
    vdb_free(m->done);
    vdb_free(m->rank);
    vdb_free(m->qbuf);
    vdb_free(m->tbuf);
}

/* The hook of selectivity band s (the rows a filtered band accepts). */
static void band_select(meas *m, int s)
{
    double sb = vdb_calib_s_bands[s];
    m->hook.limit = sb >= 1.0 ? UINT64_MAX : (uint64_t)(sb * 18446744073709551615.0);
    m->hook.seed = 0x9e37ull * (uint64_t)(s + 1);
}

/* What the batch figures and the due check read, after a run. */
static void meas_finish(meas *m)
{
    vdb_calib *cal = m->cal;
    const probe_set *ps = m->ps;
    /* Batches scan the float rows by GEMM on every path: a trial that
     * reused the truth keeps the float run's figure. */
    if (m->gemm_rows > 0)
        cal->gemm_ns_row = m->gemm_ns / m->gemm_rows;
    else if (cal->gemm_ns_row <= 0)
        cal->gemm_ns_row = cal->scan_ns_row;
    cal->live = vdb_store_count(m->store);
    cal->probes = ps->n;
    /* What the next due check compares the reservoir with. */
    cal->real_probes = (m->classes & (1u << VDB_CALIB_REAL)) ? ps->nclass[VDB_CALIB_REAL] : 0;
}

int vdb_calib__measure(vdb_store *store, const probe_set *ps, vdb_calib *cal, int trial, int what,
                   truth_keep *keep, const _Atomic int *stop, vdb_error *err)
{
    meas m;
    int rc = meas_open(&m, store, ps, cal, trial, keep, stop, err);
    if (rc != VDB_OK)
        goto done;
    if (what != MEASURE_REST)
        measure_scan_costs(&m);
    for (int s = 0; s < VDB_CALIB_NS && rc == VDB_OK; s++) {
        if (what == MEASURE_PLAIN && s > 0)
            break;
        band_select(&m, s);
        rc = s == 0 ? band0_truth(&m, keep) : measure_truth(&m, s, vdb_calib_s_bands[s]);
        for (int kb = 0; kb < VDB_CALIB_NK && rc == VDB_OK; kb++) {
            if (what == MEASURE_PLAIN && kb > 0)
                break;
            if (what == MEASURE_REST && s == 0 && kb == 0)
                continue;
            rc = measure_curve(&m, s, kb);
        }
    }
    if (rc == VDB_OK)
        meas_finish(&m);
done:
    meas_close(&m);
    return rc;
}


static void copy_entry(vdb_calib_curve *to, const vdb_calib_curve *from, uint32_t e)
{
    for (int c = 0; c < VDB_CALIB_NCLASS; c++) {
        to->hits[c][e] = from->hits[c][e];
        to->total[c][e] = from->total[c][e];
        to->probes[c][e] = from->probes[c][e];
    }
    to->ns[e] = from->ns[e];
}

/* The next entry above e that `curve` measured, -1 when none. */
static int entry_above(const vdb_calib_curve *curve, int e)
{
    for (uint32_t i = (uint32_t)e + 1; i < curve->measured; i++)
        if (vdb_calib__entry_measured(curve, i))
            return (int)i;
    return -1;
}

/* The entry band (s, kb) runs at the store's target on `live` rows: its
 * pick, when the graph there is cheaper than the exact plan the planner
 * weighs it against (the full scan, by its cheaper single or batch
 * figure; a filtered band's exact search over its candidates). -1 when the
 * band scans at the target: no graph answer stands on its curve. */
static int target_entry(const vdb_calib *cal, int s, int kb, double target, uint64_t live)
{
    const vdb_calib_curve *curve = &cal->curve[s][kb];
    double sb = vdb_calib_s_bands[s];
    double row = cal->gemm_ns_row < cal->scan_ns_row ? cal->gemm_ns_row : cal->scan_ns_row;
    double exact = sb >= 1.0 ? row * (double)live : cal->ids_ns_row * sb * (double)live;
    int e = target < 1.0 ? vdb_calib_pick(curve, target) : -1;
    return e >= 0 && curve->ns[e] < exact ? e : -1;
}

/* Re-measures band (s, kb)'s entry `e` on the current graph into m->cal's
 * curve: it must reach the target, else the next measured entry up gets
 * the same test (the pick moves one step). *kept gets the bit of each
 * entry written. Returns VDB_OK with *held 1 when one passed; *held 0
 * means the full calibration is needed. */
static int recheck_band(meas *m, int s, int kb, int e, double target, vdb_calib_recheck *rk,
                        uint32_t *kept, int *held)
{
    vdb_calib_curve *curve = &m->cal->curve[s][kb];
    vdb_calib_curve fresh;
    uint32_t quota = s == 0 && kb == 0 ? UINT32_MAX : CALIB_SMALL_BAND;
    int rc = VDB_OK;
    *held = 0;
    for (int step = 0; step < 2 && e >= 0; step++) {
        memset(&fresh, 0, sizeof(fresh));
        fresh.classes = m->classes;
        rc = measure_ef(m, vdb_calib_s_bands[s], vdb_calib_k_bands[kb], quota, &fresh, e);
        if (rc != VDB_OK)
            break;
        double mean, lo = vdb_calib_curve_lcb(&fresh, (uint32_t)e, &mean), before;
        vdb_calib_curve_lcb(curve, (uint32_t)e, &before);
        *held = lo >= target;
        copy_entry(curve, &fresh, (uint32_t)e);
        *kept |= 1u << e;
        rk->entries++;
        if (s == 0 && kb == 0) {
            rk->ef = vdb_calib_ef_ladder[e];
            rk->recall = mean;
            rk->recall_lo = lo;
            rk->before = before;
        }
        if (*held)
            break;
        e = entry_above(curve, e); /* step 0 missed: one step up */
        rk->moved += e >= 0;
    }
    return rc;
}

/* Leaves only the entries re-measured (bits of `kept`) in `curve`: the
 * others were measured on the graph and rows before the repair, and they
 * can be optimistic after it (at 50k x 128, 10% deleted, the near probes'
 * k <= 100 recall at ef 512-1536 was 0.998-1.000 before and 0.988-0.990
 * after, on a rebuilt graph as on the repaired one). The search costs
 * stay: the planner's cost estimates read them. */
static void keep_entries(vdb_calib_curve *curve, uint32_t kept)
{
    for (uint32_t e = 0; e < curve->measured; e++)
        if (!(kept & (1u << e)))
            for (int c = 0; c < VDB_CALIB_NCLASS; c++)
                curve->hits[c][e] = curve->total[c][e] = curve->probes[c][e] = 0;
}

/* The re-check: `cal` gets `prev` with every band's entry at the store's
 * target (target_entry) re-measured on fresh probes `ps` and every other
 * entry dropped (keep_entries); rk->outcome says whether all held. A
 * different probe basis or traversal than `prev`'s fails it (the full
 * calibration is what restores the curves); no band on the graph at the
 * target gives SCANS, with every entry dropped. */
int vdb_calib__recheck(vdb_store *store, const probe_set *ps, const vdb_calib *prev, vdb_calib *cal,
                   vdb_calib_recheck *rk, const _Atomic int *stop, vdb_error *err)
{
    double target = store->config.target_recall;
    uint32_t kept[VDB_CALIB_NS][VDB_CALIB_NK] = {{0}};
    meas m;
    int rc, held = 1, any = 0;
    *cal = *prev;
    rc = meas_open(&m, store, ps, cal, 0, NULL, stop, err);
    rk->outcome = VDB_CALIB_RECHECK_FAILED;
    rk->probes = ps->n;
    if (rc != VDB_OK || m.path != prev->path || m.classes != prev->curve[0][0].classes)
        goto done;
    measure_scan_costs(&m);
    for (int s = 0; s < VDB_CALIB_NS && rc == VDB_OK && held; s++) {
        int e[VDB_CALIB_NK], want = 0;
        for (int kb = 0; kb < VDB_CALIB_NK; kb++)
            want |= (e[kb] = target_entry(cal, s, kb, target, vdb_store_count(store))) >= 0;
        if (!want)
            continue;
        band_select(&m, s);
        rc = measure_truth(&m, s, vdb_calib_s_bands[s]);
        for (int kb = 0; kb < VDB_CALIB_NK && rc == VDB_OK && held; kb++) {
            if (e[kb] < 0)
                continue;
            any = 1;
            rc = recheck_band(&m, s, kb, e[kb], target, rk, &kept[s][kb], &held);
            if (!held)
                rk->failed_band = s * VDB_CALIB_NK + kb;
        }
    }
    if (rc == VDB_OK && !any) {
        /* Every band scans at the target: its answers there are exact on
         * any graph. The curves were measured before the deletes and can
         * be optimistic now, so none is kept (every target scans) until
         * the full calibration (calib.h). */
        rk->outcome = VDB_CALIB_RECHECK_SCANS;
        for (int s = 0; s < VDB_CALIB_NS; s++)
            for (int kb = 0; kb < VDB_CALIB_NK; kb++)
                keep_entries(&cal->curve[s][kb], 0);
        if (m.gemm_rows > 0)
            cal->gemm_ns_row = m.gemm_ns / m.gemm_rows;
    } else if (rc == VDB_OK && held) {
        rk->outcome = VDB_CALIB_RECHECK_KEPT;
        for (int s = 0; s < VDB_CALIB_NS; s++)
            for (int kb = 0; kb < VDB_CALIB_NK; kb++)
                keep_entries(&cal->curve[s][kb], kept[s][kb]);
        /* The scan costs were measured again (above); the row count and
         * probe counts stay the full calibration's: drift and the real
         * queries' growth are counted from where the whole ladder was
         * measured. */
        if (m.gemm_rows > 0)
            cal->gemm_ns_row = m.gemm_ns / m.gemm_rows;
    }
done:
    meas_close(&m);
    return rc;
}

