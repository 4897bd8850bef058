/* Self-calibration of a store's graph search; see calib.h for the model.
 * This file: the ladder and the curves' bounds, the per-store state and
 * marks, and the run (calib_int.h names the other two files). */
#include "calib.h"

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

/* An auto store keeps int8 codes when their plan costs under this share of
 * the float plan's: the codes add a quarter of the float rows' bytes in
 * RAM, so a gain inside the measurement's noise does not pay for them. */
#define CALIB_AUTO_GAIN 0.9

/* Steps of 1.2-1.33x (three a doubling): the planner takes the smallest
 * ladder ef whose bound passes, so a coarse ladder overshoots the ef the
 * target needs by up to a step (ef 64 -> 96 is 1.5x the search cost). */
const uint32_t vdb_calib_ef_ladder[VDB_CALIB_NEF] = {
    10,  12,  16,  20,  24,  32,  40,  48,  64,   80,   96,   128,
    160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048};
const uint32_t vdb_calib_k_bands[VDB_CALIB_NK] = {10, 100};
const double vdb_calib_s_bands[VDB_CALIB_NS] = {1.0, 0.5, 0.1, 0.02};

double vdb_calib_lcb(double p, uint64_t queries)
{
    if (queries == 0)
        return 0.0;
    const double z = 1.6449; /* one-sided 95% */
    double n = (double)queries;
    double centre = p + z * z / (2 * n);
    double spread = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n));
    double lcb = (centre - spread) / (1 + z * z / n);
    return lcb < 0 ? 0 : lcb;
}

void vdb_calib_s_bands_around(double s, int *above, int *below)
{
    /* The bands run from 1.0 down: the last one >= s is the smallest above,
     * the first one <= s the largest below (the search for the latter once
     * ran from the small end and always found the 2% band, so a query
     * matching half the rows was planned with the 2% band's ef and cost:
     * exact at 7-21 ms where the graph takes 2 ms on 100k x 384). */
    *above = 0;
    *below = VDB_CALIB_NS - 1;
    for (int b = 0; b < VDB_CALIB_NS; b++)
        if (vdb_calib_s_bands[b] >= s)
            *above = b;
    for (int b = 0; b < VDB_CALIB_NS; b++)
        if (vdb_calib_s_bands[b] <= s) {
            *below = b;
            break;
        }
}

int vdb_calib_k_band(size_t k)
{
    for (int b = 0; b < VDB_CALIB_NK; b++)
        if (k <= vdb_calib_k_bands[b])
            return b;
    return VDB_CALIB_NK;
}

double vdb_calib_curve_lcb(const vdb_calib_curve *curve, uint32_t i, double *mean)
{
    double lo = 0, m = 0;
    int any = 0;
    if (i < curve->measured)
        for (int c = 0; c < VDB_CALIB_NCLASS; c++) {
            uint64_t h = curve->hits[c][i], t = curve->total[c][i];
            if (!(curve->classes & (1u << c)) || t == 0)
                continue;
            double b = vdb_calib_lcb((double)h / (double)t, curve->probes[c][i]);
            if (!any || b < lo) {
                lo = b;
                m = (double)h / (double)t;
            }
            any = 1;
        }
    if (mean != NULL)
        *mean = m;
    return lo;
}

/* 1 when ladder entry i has counts (a curve that keeps the coarse steps
 * leaves the fine ones empty: not on its ladder, not a failure). */
int vdb_calib__entry_measured(const vdb_calib_curve *curve, uint32_t i)
{
    for (int c = 0; c < VDB_CALIB_NCLASS; c++)
        if ((curve->classes & (1u << c)) && curve->total[c][i] > 0)
            return 1;
    return 0;
}

int vdb_calib_pick(const vdb_calib_curve *curve, double target)
{
    int pick = -1;
    for (uint32_t i = curve->measured; i-- > 0;) {
        if (!vdb_calib__entry_measured(curve, i))
            continue;
        if (vdb_calib_curve_lcb(curve, i, NULL) < target)
            break;
        pick = (int)i;
    }
    return pick;
}

/* Reservoir slots for a store of `rows` rows of `dim` floats: the floor
 * (CALIB_RESERVOIR_MIN, fewer for vectors so wide that they would not fit
 * CALIB_RESERVOIR_BYTES), or more for a bigger store: up to
 * CALIB_RESERVOIR_MAX within 1/CALIB_RESERVOIR_SHARE of its rows' bytes
 * and the truth budget. Also the real probes one calibration uses. */
uint32_t vdb_calib_reservoir_cap(uint32_t dim, uint64_t rows)
{
    double row_bytes = (double)dim * sizeof(float);
    double least = CALIB_RESERVOIR_BYTES / row_bytes;
    if (least > CALIB_RESERVOIR_MIN)
        least = CALIB_RESERVOIR_MIN;
    double share = (double)rows * row_bytes / CALIB_RESERVOIR_SHARE;
    double big = (share > CALIB_RESERVOIR_BYTES ? share : CALIB_RESERVOIR_BYTES) / row_bytes;
    double budget = CALIB_TRUTH_BUDGET / ((double)(rows ? rows : 1) * dim);
    if (big > CALIB_RESERVOIR_MAX)
        big = CALIB_RESERVOIR_MAX;
    if (big > budget)
        big = budget;
    return (uint32_t)(big > least ? big : least);
}

/* Real queries the next calibration would use (c->mutex held). */
uint32_t vdb_calib__real_usable(const vdb_store_calib *c, uint32_t dim, uint64_t rows)
{
    uint32_t cap = vdb_calib_reservoir_cap(dim, rows);
    return c->nreservoir < cap ? c->nreservoir : cap;
}

/* 1 when the real queries alone can decide (CALIB_REAL_MIN) and there
 * are CALIB_REAL_GROWTH times as many as the current calibration used
 * (c->mutex held; none yet is due anyway). */
static int real_due(const vdb_store_calib *c, uint32_t usable)
{
    return c->cal.valid && usable >= CALIB_REAL_MIN &&
           usable >= (uint64_t)CALIB_REAL_GROWTH * c->cal.real_probes;
}

double vdb_calib__now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


int vdb_store__calib_open(vdb_store *store, vdb_error *err)
{
    vdb_store_calib *c = vdb_calloc(1, sizeof(*c));
    if (c == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for the calibration state");
    pthread_mutex_init(&c->mutex, NULL);
    pthread_mutex_init(&c->pending_lock, NULL);
    vdb_rng_seed(&c->rng, store->instance ^ 0x5ca1ab1eull);
    atomic_store(&c->filling, 1);
    store->calib = c;
    if (vdb_calib__load(store, &c->cal)) {
        int pending = vdb_calib__pending_load(store);
        c->stale = pending == VDB_CALIB_PENDING_STALE;
        c->recheck = pending == VDB_CALIB_PENDING_RECHECK;
        vdb_log_info("%s: calibration loaded (measured on %llu rows)%s", store->dir,
                     (unsigned long long)c->cal.live,
                     c->stale     ? "; a full run was pending before the restart"
                     : c->recheck ? "; a re-check was pending before the restart"
                                  : "");
    }
    return VDB_OK;
}

void vdb_store__calib_close(vdb_store *store)
{
    vdb_store_calib *c = store->calib;
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mutex);
    pthread_mutex_destroy(&c->pending_lock);
    vdb_free(c->reservoir);
    vdb_free(c->rhash);
    vdb_free(c);
    store->calib = NULL;
}

void vdb_store_calib_get(vdb_store *store, vdb_calib *out)
{
    vdb_store_calib *c = store->calib;
    if (c == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    pthread_mutex_lock(&c->mutex);
    *out = c->cal;
    pthread_mutex_unlock(&c->mutex);
}

int vdb_store__calib_auto_kind(vdb_store *store)
{
    vdb_store_calib *c = store->calib;
    int k = -1;
    if (c == NULL)
        return -1;
    pthread_mutex_lock(&c->mutex);
    if (c->cal.valid)
        k = c->cal.auto_kind;
    pthread_mutex_unlock(&c->mutex);
    return k;
}

/* 1 when the full calibration is due (c->mutex held): none yet,
 * invalidated, grown or shrunk by VDB_CALIB_STALE_FRACTION, or enough new
 * real queries. */
static int full_due(const vdb_store_calib *c, uint32_t dim, size_t live)
{
    if (!c->cal.valid || c->stale)
        return 1;
    double base = (double)(c->cal.live ? c->cal.live : 1);
    return fabs((double)live - base) > VDB_CALIB_STALE_FRACTION * base ||
           real_due(c, vdb_calib__real_usable(c, dim, live));
}

int vdb_store_calib_due(vdb_store *store)
{
    vdb_store_calib *c = store->calib;
    int due;
    size_t live = vdb_store_count(store);
    /* A store without a graph has nothing to calibrate (it scans): "due"
     * there kept waiters (tests, benchmarks) waiting for a calibration
     * that could never start. */
    if (c == NULL || live < CALIB_MIN_ROWS || vdb_store__index_rows(store) == 0 ||
        store->options.skip_calibration)
        return 0;
    pthread_mutex_lock(&c->mutex);
    due = c->recheck || full_due(c, store->config.dim, live);
    pthread_mutex_unlock(&c->mutex);
    return due;
}

/* Marks the calibration for a full run (stale) or a re-check; `marks`
 * lets a mark that arrives during a run survive it. */
static void calib_mark(vdb_store *store, int stale)
{
    vdb_store_calib *c = store->calib;
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->pending_lock);
    pthread_mutex_lock(&c->mutex);
    if (stale)
        c->stale = 1;
    else
        c->recheck = 1;
    c->marks++;
    int kind = c->stale ? VDB_CALIB_PENDING_STALE : VDB_CALIB_PENDING_RECHECK;
    pthread_mutex_unlock(&c->mutex);
    vdb_calib__pending_save(store, kind);
    pthread_mutex_unlock(&c->pending_lock);
}

void vdb_store__calib_invalidate(vdb_store *store)
{
    calib_mark(store, 1);
}

void vdb_store__calib_recheck(vdb_store *store)
{
    calib_mark(store, 0);
}

void vdb_store__calib_offer(vdb_store *store, const float *query, uint64_t rows)
{
    vdb_store_calib *c = store->calib;
    uint32_t dim = store->config.dim;
    int kick = 0;
    if (c == NULL)
        return;
    /* While the reservoir has room every query enters, so a store learns
     * its workload early; then they are sampled (a lock per query would
     * cost on hot paths). */
    uint64_t seen = atomic_fetch_add(&c->seen, 1);
    if (!atomic_load(&c->filling) && seen % CALIB_OFFER_EVERY != 0)
        return;
    /* A query repeated (a health probe, a retry) is one query: counting it
     * many times would bound recall on one vector. */
    uint64_t h = vdb_hash_keyed(query, dim * sizeof(float));
    pthread_mutex_lock(&c->mutex);
    uint32_t cap = vdb_calib_reservoir_cap(dim, rows);
    for (uint32_t i = 0; i < c->nreservoir; i++)
        if (c->rhash[i] == h) {
            pthread_mutex_unlock(&c->mutex);
            return;
        }
    int was_due = real_due(c, vdb_calib__real_usable(c, dim, rows));
    /* Slots grow as they fill (doubling, up to the cap): a store that sees
     * few queries holds few. Without memory for more it keeps what it has. */
    if (c->nreservoir == c->rslots && c->rslots < cap) {
        uint32_t want = c->rslots ? 2 * c->rslots : 64;
        want = want < cap ? want : cap;
        float *r = vdb_realloc(c->reservoir, (size_t)want * dim * sizeof(float));
        if (r != NULL)
            c->reservoir = r;
        uint64_t *hs = r != NULL ? vdb_realloc(c->rhash, want * sizeof(uint64_t)) : NULL;
        if (hs != NULL) {
            c->rhash = hs;
            c->rslots = want;
        }
    }
    /* Fill the free slots in order, then replace at random (reservoir
     * sampling over the offered queries). */
    uint32_t room = c->rslots < cap ? c->rslots : cap;
    uint64_t slot = c->nreservoir < room ? c->nreservoir : vdb_rng_below(&c->rng, c->offered + 1);
    if (slot < room) {
        memcpy(c->reservoir + slot * dim, query, dim * sizeof(float));
        c->rhash[slot] = h;
        if (slot >= c->nreservoir)
            c->nreservoir = (uint32_t)slot + 1;
    }
    c->offered++;
    atomic_store(&c->filling, c->nreservoir < cap);
    /* Enough (more) real queries to stand for the workload: measure them. */
    kick = !was_due && real_due(c, vdb_calib__real_usable(c, dim, rows));
    pthread_mutex_unlock(&c->mutex);
    if (kick)
        vdb_store__index_kick(store);
}

/* Per query cost of the plain (k <= 10, unfiltered) plan at `target`:
 * the graph at the smallest ef whose bound reaches it, or the exact scan
 * when that is cheaper or no ef does (query.c's plan_plain). */
static double plan_cost(const vdb_calib *cal, double target)
{
    double exact = cal->scan_ns_row * (double)(cal->live ? cal->live : 1);
    const vdb_calib_curve *c = &cal->curve[0][0];
    int i = target < 1.0 ? vdb_calib_pick(c, target) : -1;
    return i >= 0 && c->ns[i] < exact ? c->ns[i] : exact;
}

/* Publishes `cal` (and saves it): under the store's rw guard held
 * exclusively when an auto trial ends, so the codes and the curves that
 * describe them change together for every planner. `then_full`: a
 * re-check that found the store scanning at its target (SCANS), after
 * which the full calibration is still due; its mark is on disk before the
 * curves it stands for are replaced, so a restart between the two still
 * runs it. */
static void publish(vdb_store *store, vdb_calib *cal, int trial_end, int adopt, uint64_t marks,
                    int then_full)
{
    vdb_store_calib *c = store->calib;
    if (then_full) {
        pthread_mutex_lock(&c->pending_lock);
        vdb_calib__pending_save(store, VDB_CALIB_PENDING_STALE);
        pthread_mutex_unlock(&c->pending_lock);
    }
    if (trial_end) {
        pthread_rwlock_wrlock(&store->rw);
        vdb_store__codes_trial_end_locked(store, adopt);
    }
    pthread_mutex_lock(&c->mutex);
    c->cal = *cal;
    /* A mark that came while this run measured (a compaction, a target
     * change) asks for another run: the flags stay. */
    if (c->marks == marks)
        c->stale = c->recheck = 0;
    if (then_full)
        c->stale = 1;
    if (marks > c->settled)
        c->settled = marks;
    pthread_mutex_unlock(&c->mutex);
    if (trial_end)
        pthread_rwlock_unlock(&store->rw);
    vdb_error e2;
    vdb_error_clear(&e2);
    if (!store->options.read_only && vdb_calib__save(store, cal, &e2) != VDB_OK) {
        vdb_log_warn("%s: cannot save the calibration: %s", store->dir, e2.msg);
        return; /* calib.pending stays: the saved curves are the old ones */
    }
    /* After calib.txt is durable, and only when no mark came since this
     * run began (the marks are read under pending_lock, which calib_mark
     * holds until its file is written). */
    pthread_mutex_lock(&c->pending_lock);
    pthread_mutex_lock(&c->mutex);
    int clear = c->marks == marks;
    pthread_mutex_unlock(&c->mutex);
    if (clear && !then_full)
        vdb_calib__pending_drop(store);
    pthread_mutex_unlock(&c->pending_lock);
}

/* An auto store's trial: the float calibration `flt` is in; measure the
 * int8 path on trial codes into `alt` and publish the cheaper one with its
 * codes. A failed trial (no memory, rows renumbered, stopped) keeps the
 * float path undecided: the next calibration tries again. */
static int auto_trial(vdb_store *store, const probe_set *ps, vdb_calib *flt, vdb_calib *alt,
                      truth_keep *keep, double wall0, double cpu0, uint64_t marks,
                      const _Atomic int *stop, vdb_error *err)
{
    double target = store->config.target_recall, f = 0, i8 = 0;
    int adopt = 0;
    int rc = vdb_store__codes_trial_begin(store, err);
    if (rc == VDB_OK)
        rc = vdb_calib__measure(store, ps, alt, 1, MEASURE_PLAIN, keep, stop, err);
    if (rc == VDB_OK) {
        f = plan_cost(flt, target);
        i8 = plan_cost(alt, target);
        adopt = i8 < CALIB_AUTO_GAIN * f;
        /* Kept codes need every curve measured on them. */
        if (adopt)
            rc = vdb_calib__measure(store, ps, alt, 1, MEASURE_REST, keep, stop, err);
    }
    if (rc != VDB_OK) {
        /* Dropped without a decision: the next calibration tries again. */
        pthread_rwlock_wrlock(&store->rw);
        vdb_store__codes_trial_end_locked(store, -1);
        pthread_rwlock_unlock(&store->rw);
        return rc;
    }
    vdb_calib *won = adopt ? alt : flt;
    /* What the calibration cost in all: both paths. */
    won->valid = 1;
    won->when = (int64_t)time(NULL);
    won->seconds = vdb_calib__now(CLOCK_MONOTONIC) - wall0;
    won->cpu_seconds = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    won->auto_kind = adopt ? VDB_QUANT_INT8 : VDB_QUANT_NONE;
    won->auto_ns[0] = f;
    won->auto_ns[1] = i8;
    won->auto_target = target;
    won->auto_real = ps->nclass[VDB_CALIB_REAL] >= CALIB_REAL_MIN;
    publish(store, won, 1, adopt, marks, 0);
    vdb_log_info("%s: quantization auto: %s (plan at target %.4g on %s: float %.1f us, int8 "
                 "%.1f us a query; both paths measured in %.2f s, %.2f s CPU)",
                 store->dir, adopt ? "int8 codes kept" : "float rows only", target,
                 won->auto_real ? "real queries" : "synthetic probes", f / 1e3, i8 / 1e3,
                 won->seconds, won->cpu_seconds);
    return VDB_OK;
}

/* The current calibration into *prev and the marks counter; 1 when only
 * the re-check is due (a repair since, nothing that needs the full one). */
static int run_kind(vdb_store *store, vdb_calib *prev, uint64_t *marks)
{
    vdb_store_calib *c = store->calib;
    /* Counted before the mutex: the count takes the store's read guard,
     * and a compaction marks (calib_mark, this mutex) while it holds that
     * guard exclusively; the other order could deadlock. */
    size_t live = vdb_store_count(store);
    pthread_mutex_lock(&c->mutex);
    *prev = c->cal;
    *marks = c->marks;
    int only = c->recheck && !full_due(c, store->config.dim, live);
    pthread_mutex_unlock(&c->mutex);
    return only;
}

/* The re-check (recheck), timed; publishes the calibration when it held,
 * or with its curves dropped when the store scans at its target (SCANS:
 * the full run is then due, calib.h). rk->outcome FAILED (rc VDB_OK)
 * leaves the full calibration to the caller. */
static int run_recheck(vdb_store *store, const probe_set *ps, const vdb_calib *prev,
                       vdb_calib *cal, vdb_calib_recheck *rk, double wall0, double cpu0,
                       uint64_t marks, const _Atomic int *stop, vdb_error *err)
{
    int rc = vdb_calib__recheck(store, ps, prev, cal, rk, stop, err);
    if (rc != VDB_OK)
        return rc;
    rk->when = (int64_t)time(NULL);
    rk->live = vdb_store_count(store);
    rk->seconds = vdb_calib__now(CLOCK_MONOTONIC) - wall0;
    rk->cpu_seconds = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    if (rk->outcome == VDB_CALIB_RECHECK_FAILED) {
        vdb_log_info("%s: calibration re-check after the repair missed in band %d (%u entries "
                     "measured in %.2f s): measuring the whole ladder",
                     store->dir, rk->failed_band, rk->entries, rk->seconds);
        return VDB_OK;
    }
    cal->recheck = *rk;
    int scans = rk->outcome == VDB_CALIB_RECHECK_SCANS;
    publish(store, cal, 0, 0, marks, scans);
    if (scans) {
        vdb_log_info("%s: calibration after the repair on %llu rows: every band scans at the "
                     "target (exact on any graph); curves dropped until the full calibration, "
                     "which follows (%.2f s)",
                     store->dir, (unsigned long long)rk->live, rk->seconds);
        return VDB_OK;
    }
    char plain[96] = "the plain band scans at the target";
    if (rk->ef > 0)
        snprintf(plain, sizeof(plain), "plain band ef %u recall %.4f (bound %.4f, was %.4f)",
                 rk->ef, rk->recall, rk->recall_lo, rk->before);
    vdb_log_info("%s: calibration re-checked after the repair on %llu rows: %u entries held, %u "
                 "picks moved up; %s; in %.2f s, %.2f s CPU",
                 store->dir, (unsigned long long)rk->live, rk->entries, rk->moved, plain,
                 rk->seconds, rk->cpu_seconds);
    return VDB_OK;
}

int vdb_store__calib_run(vdb_store *store, const _Atomic int *stop, vdb_error *err)
{
    vdb_store_calib *c = store->calib;
    probe_set ps = {0};
    vdb_calib *cal = vdb_calloc(2, sizeof(*cal));
    vdb_rng rng;
    int rc;
    double wall0 = vdb_calib__now(CLOCK_MONOTONIC), cpu0 = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID);
    if (c == NULL || cal == NULL) {
        vdb_free(cal);
        return vdb_error_set(err, VDB_ENOMEM, "no memory for a calibration");
    }
    vdb_rng_seed(&rng, store->instance ^ (uint64_t)time(NULL));
    atomic_store(&c->running, 1);
    int auto_kind = vdb_store__codes_auto_kind(store);
    truth_keep keep = {0};
    vdb_calib prev;
    vdb_calib_recheck rk = {.failed_band = -1};
    uint64_t marks;
    int only_recheck = run_kind(store, &prev, &marks);
    rc = vdb_calib__make_probes(store, &rng, &ps, err);
    if (rc == VDB_OK && ps.n == 0)
        rc = vdb_error_set(err, VDB_EBUSY, "no live rows to calibrate on");
    /* An auto store decides at its first calibration, on the synthetic
     * probes, whose hard spread class needs efs far above what real
     * queries need: on 100k x 384 clustered data the two plans at 0.99
     * came out float 2.9 ms / int8 3.5 ms in one run and 7.0 / 2.0 ms in
     * another, where on the real queries int8 runs the same ef at 1.8x.
     * A "none" so decided is tried again once, when real queries first
     * decide. (An int8 decision is kept: trying the float path beside
     * live codes is not built.) */
    int retry = auto_kind == VDB_QUANT_NONE && prev.valid && !prev.auto_real &&
                ps.nclass[VDB_CALIB_REAL] >= CALIB_REAL_MIN;
    int trial = auto_kind == -1 || retry;
    if (rc == VDB_OK && only_recheck && !trial) {
        rc = run_recheck(store, &ps, &prev, cal, &rk, wall0, cpu0, marks, stop, err);
        if (rc != VDB_OK || rk.outcome != VDB_CALIB_RECHECK_FAILED)
            goto out;
    }
    if (rc == VDB_OK)
        rc = vdb_calib__measure(store, &ps, cal, 0, MEASURE_ALL, trial ? &keep : NULL, stop, err);
    if (rc == VDB_OK) {
        cal->recheck = rk; /* NONE, or FAILED: why this full run */
        cal->valid = 1;
        cal->when = (int64_t)time(NULL);
        /* The decision made stays with every later calibration. */
        cal->auto_kind = auto_kind >= 0 ? auto_kind : -1;
        if (auto_kind >= 0) {
            memcpy(cal->auto_ns, prev.auto_ns, sizeof(cal->auto_ns));
            cal->auto_target = prev.auto_target;
            cal->auto_real = prev.auto_real;
        }
        cal->seconds = vdb_calib__now(CLOCK_MONOTONIC) - wall0;
        cal->cpu_seconds = vdb_calib__now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
        /* With a trial to follow, the store is not settled (optimize waits
         * for the codes it may switch to) until this run ends. */
        if (trial && cal->path == VDB_CALIB_PATH_FLOAT) {
            pthread_mutex_lock(&c->mutex);
            c->trialing = 1;
            pthread_mutex_unlock(&c->mutex);
        }
        publish(store, cal, 0, 0, marks, 0);
        vdb_log_info("%s: calibrated on %llu rows with %u probes (%u real) in %.2f s, %.2f s CPU",
                     store->dir, (unsigned long long)cal->live, cal->probes, cal->real_probes,
                     cal->seconds, cal->cpu_seconds);
        if (trial && cal->path == VDB_CALIB_PATH_FLOAT) {
            cal[1] = cal[0];
            vdb_error terr;
            vdb_error_clear(&terr);
            if (auto_trial(store, &ps, &cal[0], &cal[1], &keep, wall0, cpu0, marks, stop,
                           &terr) != VDB_OK)
                vdb_log_info("%s: quantization auto: trial not finished (%s); the next "
                             "calibration tries again",
                             store->dir, terr.msg);
        }
    }
out:
    pthread_mutex_lock(&c->mutex);
    c->trialing = 0;
    pthread_mutex_unlock(&c->mutex);
    atomic_store(&c->running, 0);
    vdb_calib__keep_free(&keep);
    vdb_free(ps.q);
    vdb_free(ps.src);
    vdb_free(ps.cls);
    vdb_free(cal);
    return rc;
}

uint64_t vdb_store__calib_marks(vdb_store *store)
{
    vdb_store_calib *c = store->calib;
    uint64_t marks = 0;
    if (c != NULL) {
        pthread_mutex_lock(&c->mutex);
        marks = c->marks;
        pthread_mutex_unlock(&c->mutex);
    }
    return marks;
}

int vdb_store__calib_settled(vdb_store *store, uint64_t since)
{
    vdb_store_calib *c = store->calib;
    int settled = 1;
    if (c != NULL) {
        pthread_mutex_lock(&c->mutex);
        settled = !c->trialing && ((!c->stale && !c->recheck) || c->settled >= since);
        pthread_mutex_unlock(&c->mutex);
    }
    return settled;
}

int vdb_store_calib_running(vdb_store *store)
{
    return store->calib != NULL && atomic_load(&store->calib->running);
}

