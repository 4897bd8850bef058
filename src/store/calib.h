/* Self-calibration of a store's graph search: how good and how costly the
 * HNSW answers are on THIS store's data, measured, so the query planner
 * (query.c) can honour a declared recall target and pick exact search
 * whenever it is cheaper.
 *
 * What is measured (vdb_store__calib_run, background, by the indexer thread
 * once the graph has caught up):
 *   probes   three classes, each bounded on its own (the planner needs
 *            every counted class to meet the target; near and spread
 *            count until real queries take over):
 *            near    stored rows perturbed by Gaussian noise at several
 *                    scales (relative to the distance to another random
 *                    row, so it works for every metric and norm spread;
 *                    the source row is excluded from both answers);
 *            spread  drawn from a Gaussian fitted to the data's
 *                    per-dimension mean and spread, near no row in
 *                    particular: the graph's hard case, standing in for
 *                    real queries until enough have been seen;
 *            real    a reservoir of recent distinct real queries (every
 *                    query until it is full, then 1 in CALIB_OFFER_EVERY),
 *                    sized by the store: 512 at least (at most 1 MiB),
 *                    up to 4096 within 1/32 of the store's float rows, and
 *                    no more than a calibration's truth budget (probes x
 *                    rows x dim) lets it use; once it holds CALIB_REAL_MIN
 *                    they alone decide (the workload's own queries beat a
 *                    guess at them), and a calibration is due then and
 *                    again each time the usable real queries doubled
 *                    since the last one (a tighter bound: 0.99 from 400
 *                    queries needs a measured mean of 0.9982, from 2,000
 *                    0.9937);
 *   truth    exact top-k through the GEMM batch path (vdb_flat_search_batch),
 *            only for the probes a curve reads (the counted classes; in
 *            the filtered bands the first CALIB_SMALL_BAND of each);
 *   curves   for each k band (k <= 10, k <= 100) and selectivity band
 *            (100%, 50%, 10%, 2%: random row subsets through a filter hook),
 *            and each ef of a fixed ladder (steps of 1.2-1.33x on the
 *            plain curve, k <= 10 unfiltered, so the pick overshoots the
 *            ef the target needs by at most a third; the other curves
 *            measure the 1.5x steps only and leave the rest empty):
 *            matched neighbours / total, the
 *            probe queries behind them, and the mean single-query search
 *            time (thread CPU). A hit counts when its distance is within
 *            the exact k-th distance, so exact ties are not misses. Each ef
 *            is screened on CALIB_SCREEN probes per class first and gets
 *            the rest only when its screened recall reaches 0.9;
 *   costs    ns per row of a single-query exact scan, of an exact scan over
 *            a candidate list and of the GEMM batch scan, on this machine,
 *            from CPU time like the graph's (a busy machine's preemption
 *            is charged to neither side; a scan split over the pool counts
 *            its CPU time shared over its threads, capped by wall time).
 * The planner takes, per query, the smallest ef whose Wilson lower
 * confidence bound (95%, one-sided, over probe queries: 0.99 needs about
 * 300 of them) on recall reaches the target; when no
 * ef does, or the exact scan is cheaper, it scans.
 *
 * Writes never wait for calibration: it holds the store's read guard for
 * one chunk of probes at a time and only considers rows that existed when
 * it started (a hook hides later rows). It is redone when the store's live
 * count changed by CALIB_STALE_FRACTION since the last one, after
 * optimize, and when the graph is rebuilt; the result is persisted in
 * calib.txt (derived data: a bad file is ignored and measured again).
 *
 * Re-check after a local repair (vdb_store__calib_recheck, issue 13): a
 * compaction that repaired the graph instead of rebuilding it leaves
 * nearly the same graph, and the whole ladder again cost ~70% of a
 * rebuild's optimize (100k x 128: 231 s against 336 s). Instead, on fresh
 * probes over the repaired graph and the rows it now serves, every band
 * that runs the graph at the store's target has that entry (its pick)
 * measured again, truth included: its bound must still reach the target,
 * else the next entry up is tried (the pick moves one step), and if that
 * misses too the full calibration runs at once. Only the re-measured
 * entries stay in the curves: the others were measured before the
 * deletes and can be optimistic after them, so until the next full
 * calibration (20% drift, real queries doubling, an optimize without a
 * repair) a per-query target other than the store's runs at the entry
 * kept when its bound allows, else exactly. A store that runs no band on
 * the graph at its target (it scans there: at 1M rows and 0.99 no ef's
 * bound on the synthetic probes reached the target) has nothing to
 * re-check: its answers at the target are exact whatever the graph. Its
 * calibration is published with every curve dropped (outcome SCANS: every
 * target scans), which settles it for optimize (vdb_store__calib_settled),
 * and the full calibration follows in the background to restore the
 * curves for other targets: at 1M x 128 it took 140-200 s, 3-4x the
 * repair-optimize it followed. The outcome is kept with the calibration
 * (vdb_calib.recheck: stats, `vdb recall`).
 *
 * Thread-safety: all functions are thread-safe; the state has its own
 * mutex and is copied out for planning (vdb_store_calib_get). */
#ifndef VDB_STORE_CALIB_H
#define VDB_STORE_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "store.h"

#define VDB_CALIB_FILE "calib.txt"
#define VDB_CALIB_NEF 24      /* ef ladder length */
#define VDB_CALIB_NK 2        /* k bands: <= 10, <= 100 */
#define VDB_CALIB_NS 4        /* selectivity bands: 1, 0.5, 0.1, 0.02 */
#define VDB_CALIB_STALE_FRACTION 0.2

extern const uint32_t vdb_calib_ef_ladder[VDB_CALIB_NEF];
extern const uint32_t vdb_calib_k_bands[VDB_CALIB_NK];
extern const double vdb_calib_s_bands[VDB_CALIB_NS];

/* Probe classes, measured separately: a bound over a pooled mix would let
 * many easy probes hide a hard class (on uniform 64-d data the pooled bound
 * said 0.90 where fresh queries got 0.82). */
enum {
    VDB_CALIB_NEAR = 0, /* stored rows perturbed at several scales */
    VDB_CALIB_SPREAD,   /* drawn from a Gaussian fitted to the data's spread */
    VDB_CALIB_REAL,     /* the reservoir of real queries */
    VDB_CALIB_NCLASS
};

typedef struct vdb_calib_curve {
    uint32_t measured;               /* ladder entries measured (a prefix) */
    uint32_t classes;                /* bit c: class c counts towards the bound */
    /* neighbours found within the exact k-th distance / asked for */
    uint64_t hits[VDB_CALIB_NCLASS][VDB_CALIB_NEF];
    uint64_t total[VDB_CALIB_NCLASS][VDB_CALIB_NEF];
    /* probe queries behind those counts: the bound's sample size (the k
     * neighbours of one query are not independent trials) */
    uint32_t probes[VDB_CALIB_NCLASS][VDB_CALIB_NEF];
    double ns[VDB_CALIB_NEF];        /* mean single-query graph search time */
} vdb_calib_curve;

/* The traversal a calibration's curves measured: they hold for that path
 * only (the planner scans when the store's path differs). */
enum { VDB_CALIB_PATH_FLOAT = 0, VDB_CALIB_PATH_INT8 = 1 };

/* The last re-check since the full calibration (none: outcome NONE). */
enum {
    VDB_CALIB_RECHECK_NONE = 0, /* no repair since the full calibration */
    VDB_CALIB_RECHECK_KEPT,     /* every band held: the curves kept, picks re-measured */
    VDB_CALIB_RECHECK_FAILED,   /* a band missed: this is the full calibration that followed */
    VDB_CALIB_RECHECK_SCANS     /* no band ran the graph at the target (the store scans
                                 * there): nothing to re-measure; the curves are dropped
                                 * (every target scans) until the full calibration,
                                 * which follows in the background */
};

typedef struct vdb_calib_recheck {
    int outcome;          /* VDB_CALIB_RECHECK_* */
    int64_t when;         /* unix seconds */
    uint64_t live;        /* live rows then */
    uint32_t probes;      /* probe queries it drew */
    uint32_t entries;     /* curve entries re-measured, over every band */
    uint32_t moved;       /* bands whose pick moved one step up */
    /* FAILED: s * VDB_CALIB_NK + k of the band that missed; -1 otherwise */
    int failed_band;
    /* The plain band (k <= 10, unfiltered), when it runs the graph at the
     * store's target: the ef re-measured last, the recall measured there
     * on the repaired graph and its bound, and the full calibration's
     * mean at that ef; 0 when not measured. */
    uint32_t ef;
    double recall, recall_lo, before;
    double seconds, cpu_seconds;
} vdb_calib_recheck;

typedef struct vdb_calib {
    int valid;
    int path;                /* VDB_CALIB_PATH_* */
    /* An auto store's decision (store_codes.h), carried by every later
     * calibration and persisted with it: VDB_QUANT_NONE or _INT8, -1 none */
    int auto_kind;
    /* The trial behind it: per query cost of the plan at the store's target
     * (graph at the picked ef, or the exact scan when cheaper), float path
     * and int8 path, in ns; 0 when not measured. */
    double auto_ns[2];
    double auto_target;      /* the target those costs were planned for */
    int auto_real;           /* 1: decided on real queries; 0: on the synthetic
                              * probes (a "none" is then tried again once
                              * real queries decide) */
    int64_t when;            /* unix seconds of the measurement */
    uint64_t live;           /* live rows when measured */
    uint32_t probes;
    uint32_t real_probes;    /* real queries among them (0 when they did not decide) */
    double seconds;          /* wall time the calibration took */
    double cpu_seconds;      /* CPU time of the calibrating thread */
    double scan_ns_row;      /* single-query exact scan, per row */
    double ids_ns_row;       /* exact scan over a candidate list, per candidate */
    double gemm_ns_row;      /* batch (GEMM) exact scan, per row and query */
    vdb_calib_curve curve[VDB_CALIB_NS][VDB_CALIB_NK];
    vdb_calib_recheck recheck;
} vdb_calib;

typedef struct vdb_store_calib vdb_store_calib;

/* The state: created at open (loads calib.txt when present and matching).
 * Errors: VDB_ENOMEM. */
int vdb_store__calib_open(vdb_store *store, vdb_error *err);
void vdb_store__calib_close(vdb_store *store);

/* Copies the current calibration out (valid 0 when none yet). An auto
 * store publishes a calibration together with its codes (under the
 * store's rw guard held exclusively), so a planner that reads it with the
 * guard held shared sees curves of the path it will run. */
void vdb_store_calib_get(vdb_store *store, vdb_calib *out);

/* The auto decision of the loaded calibration (for open): VDB_QUANT_NONE
 * or VDB_QUANT_INT8, -1 when none is recorded (a kind, not an error code;
 * never fails). */
int vdb_store__calib_auto_kind(vdb_store *store);

/* 1 when a (re)calibration is due: none yet, stale by growth/shrink,
 * invalidated (vdb_store__calib_invalidate), a re-check asked for
 * (vdb_store__calib_recheck), or the reservoir holds
 * CALIB_REAL_MIN usable real queries and twice as many as the last
 * calibration used; 0 while the store has no graph
 * (it scans: there is nothing to measure) or when the store was opened
 * with skip_calibration. Never fails. */
int vdb_store_calib_due(vdb_store *store);

/* 1 while a calibration is measuring, else 0 (for stats and tests);
 * never fails. */
int vdb_store_calib_running(vdb_store *store);

/* The marks counter (every invalidate and re-check mark bumps it), 0
 * without a calibration state. A counter, never fails. */
uint64_t vdb_store__calib_marks(vdb_store *store);

/* 1 when the published calibration describes the current graph at the
 * store's target for every mark up to `since` (a counter from
 * vdb_store__calib_marks): nothing is due, or a run that began after
 * those marks published a full calibration, a re-check that held, or a
 * re-check that found the store scanning at its target (whose full run
 * may still be to come); never while an auto store's int8 trial runs
 * after its float calibration (the trial may switch the codes). Takes the calibration's mutex only (callers may
 * hold the indexer's). Never fails. */
int vdb_store__calib_settled(vdb_store *store, uint64_t since);

/* Marks the calibration stale (graph rebuilt, optimize). The mark is kept
 * in calib.pending too (docs/formats.md), so it outlives a restart before
 * the run. Callers may hold store locks (store_index.c holds rw
 * exclusively): that small write and its fsyncs then happen under them,
 * which only compactions, rebuilds and quantization changes pay. A failed
 * write is logged and leaves the in-memory mark. Never fails. Same for
 * vdb_store__calib_recheck. */
void vdb_store__calib_invalidate(vdb_store *store);

/* After a compaction that repaired the graph locally (store_index.c): the
 * next calibration run re-checks the picks instead of the whole ladder
 * (see above); a stale or missing calibration still gets the full one.
 * Never fails. */
void vdb_store__calib_recheck(vdb_store *store);

/* Measures (no locks held on entry; takes the read guard per chunk): the
 * re-check when only that is due, else (or when it fails) the full
 * calibration. A re-check that finds the store scanning at its target
 * (SCANS) publishes and returns; the full run is then due, and the
 * indexer's next call makes it. An auto store without a decision is measured twice: on the float rows,
 * then on trial int8 codes (store_codes.h); it keeps the codes when their
 * plan at the store's target costs under CALIB_AUTO_GAIN of the float
 * plan's, and publishes the matching calibration with them. A "none"
 * decided on the synthetic probes is tried again once, at the first
 * calibration on real queries.
 * `stop` is polled between chunks: nonzero aborts. Errors: VDB_ENOMEM,
 * VDB_EBUSY when the rows were renumbered meanwhile (retry later). */
int vdb_store__calib_run(vdb_store *store, const _Atomic int *stop, vdb_error *err);

/* Offers one prepared real query (dim floats) to the probe reservoir;
 * `rows` is the store's row count (the reservoir's size scales with it).
 * Kicks the indexer when the query makes a calibration due. */
void vdb_store__calib_offer(vdb_store *store, const float *query, uint64_t rows);

/* The real-query reservoir's size for a store of `rows` rows of `dim`
 * floats, and the real probes one calibration uses: 512 (fewer for
 * vectors wider than 512 floats, within 1 MiB), or for a bigger store up
 * to 4096 within 1/32 of its rows' bytes and a truth budget of probes x
 * rows x dim <= 2e11 multiply-adds. A count, never fails. */
uint32_t vdb_calib_reservoir_cap(uint32_t dim, uint64_t rows);

/* Wilson lower bound (one-sided 95%) of a mean recall p measured over n
 * probe queries; 0 when n is 0. Per query, not per neighbour: misses come
 * in clusters (a query between clusters loses several of its k), and a
 * per-neighbour bound from 32 queries claimed 0.992 where held-out queries
 * got 0.971. Recall is in [0, 1], so its variance is at most p(1-p) and
 * the Bernoulli bound is conservative. */
double vdb_calib_lcb(double p, uint64_t n);

/* The selectivity bands around s in (0, 1]: *above the smallest band >= s
 * (0, the unfiltered band, when s is 1), *below the largest band <= s
 * (the last band when s is below every band). */
void vdb_calib_s_bands_around(double s, int *above, int *below);

/* The k band for k (VDB_CALIB_NK when k is beyond the last band); never
 * fails. */
int vdb_calib_k_band(size_t k);

/* The bound the planner uses for ladder entry i of `curve`: the smallest
 * Wilson lower bound over the classes it counts (each must meet the
 * target on its own); *mean, when not NULL, gets that class's measured
 * recall. 0 when nothing was measured. */
double vdb_calib_curve_lcb(const vdb_calib_curve *curve, uint32_t i, double *mean);

/* The ladder index the planner takes for `target`, -1 when none: the
 * entries are tested from the largest measured ef down, and the pick is
 * the smallest one reached before the first whose bound misses the target
 * (a fixed-sequence test: since recall grows with ef, the error rate of
 * the claim stays at the bound's 5% however many efs were measured; taking
 * the smallest passing ef anywhere would let one lucky low ef below a
 * failing one through, a multiple-look error of up to 5% per entry). An
 * index, not an error code; never fails. */
int vdb_calib_pick(const vdb_calib_curve *curve, double target);

#endif
