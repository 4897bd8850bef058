/* Private to the calibration module: calib.c (the ladder, the curves'
 * bounds, the per-store state and marks, the run and what it publishes),
 * calib_file.c (calib.txt and calib.pending) and calib_measure.c (the
 * probes, the exact answers and the ef ladder's measurement, and the
 * re-check after a repair). The model is in calib.h.
 *
 * Ownership and threads as in calib.h: one vdb_store_calib per store,
 * its fields under its mutex unless marked atomic; a calibration run
 * (vdb_store__calib_run) owns its probe set and measurements. */
#ifndef VDB_STORE_CALIB_INT_H
#define VDB_STORE_CALIB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "../core/rng.h"
#include "calib.h"

/* A 95% bound of 0.99 needs about 300 probe queries that all succeed
 * (Wilson, n = queries): each class gets that many. */
#define CALIB_PROBES 640u      /* sampled probes, half near, half spread */
/* The reservoir of real queries (vdb_calib_reservoir_cap): every store may keep
 * CALIB_RESERVOIR_MIN of them in CALIB_RESERVOIR_BYTES; a bigger store up
 * to CALIB_RESERVOIR_MAX, in at most 1/CALIB_RESERVOIR_SHARE of its float
 * rows' bytes (3%: 4.8 MB for 100k x 384) and no more than the truth
 * budget lets a calibration use. With 400 real queries a 95% bound of
 * 0.99 needs a measured mean of 0.9982, with 2,000 0.9937: on 100k x 384
 * clustered data that is ef 48 instead of 96 (BENCHMARKS.md issue 9). */
#define CALIB_RESERVOIR_MIN 512u
#define CALIB_RESERVOIR_BYTES (1u << 20) /* up to VDB_MAX_OPEN_STORES stores hold one */
#define CALIB_RESERVOIR_MAX 4096u
#define CALIB_RESERVOIR_SHARE 32u
/* Truth for real probes costs probes x rows x dim multiply-adds of GEMM:
 * at most this many (the reservoir floor excepted). 2e11 is ~520 probes at
 * 1M x 384, what calibration took before the reservoir grew, so a 1M
 * store's calibration costs what it did; at 100k x 384 the share caps
 * first (3,125 probes: 1.2e11). */
#define CALIB_TRUTH_BUDGET 2e11
#define CALIB_REAL_MIN 320u    /* real queries that take over from the others */
/* A calibration is due again when the usable real queries reached this
 * multiple of those the last one used: a few recalibrations while the
 * reservoir fills (320, 640, 1280, 2560, ...), their total cost under
 * twice the last one's. */
#define CALIB_REAL_GROWTH 2u
#define CALIB_SMALL_BAND 320u  /* probes per class for the filtered/big-k bands */
/* Screening: an ef is first measured on CALIB_SCREEN probes per class; only
 * when each class's mean there reaches CALIB_SCREEN_RECALL (below every
 * practical target) does it get the rest. Low efs, which no target will
 * pick, then cost a tenth; their bounds stay weak, which is what they are. */
#define CALIB_SCREEN 64u
#define CALIB_SCREEN_RECALL 0.9
#define CALIB_CHUNK 4u         /* probes per read-guard hold (graph searches) */
/* The exact answers (truth) run as GEMM over TRUTH_PROBES probes at a
 * time, TRUTH_BLOCK rows per read-guard hold: a writer's commit waits for
 * at most one block (32 x 16384 x 384-d: ~0.4 GFLOP), whatever the store's
 * size. One GEMM over all rows per hold stalled writers up to 2.7 s at
 * 1M x 384 on a loaded machine (BENCHMARKS.md issue 9). A multiple of 64:
 * a block's tombstones are whole words of the bitmap. */
#define TRUTH_PROBES 32u
#define TRUTH_BLOCK 16384u
#define CALIB_MIN_ROWS 64u     /* below this there is nothing to calibrate */
#define CALIB_STOP_LCB 0.999   /* a curve stops once this bound is reached */
#define CALIB_OFFER_EVERY 16u  /* sample real queries without a lock per query */

struct vdb_store_calib {
    pthread_mutex_t mutex;
    pthread_mutex_t pending_lock; /* orders calib.pending's writes and removal
                                   * with the marks (calib_mark, publish) */
    vdb_calib cal;
    int stale;                   /* invalidated: redo even without growth */
    int recheck;                 /* a local repair since: re-check the picks */
    uint64_t marks;              /* bumped by every invalidate/recheck: a run
                                  * clears the flags only when none came
                                  * while it measured */
    uint64_t settled;            /* the marks seen by the last run that
                                  * published curves describing the current
                                  * graph at the store's target (a full run,
                                  * a re-check that held, or one that found
                                  * the store scanning there) */
    int trialing;                /* an auto store's float calibration is
                                  * published and its int8 trial still runs:
                                  * not settled until that run ends */
    float *reservoir;            /* rslots x dim prepared queries */
    uint64_t *rhash;             /* their hashes: a repeated query enters once */
    uint32_t nreservoir;         /* queries held */
    uint32_t rslots;             /* slots allocated (grown as it fills, up to the cap) */
    uint64_t offered;
    _Atomic int running;         /* a calibration is measuring now */
    _Atomic int filling;         /* the reservoir has room: every query is offered */
    _Atomic uint64_t seen;       /* queries seen: 1 in CALIB_OFFER_EVERY is offered */
    vdb_rng rng;                 /* reservoir sampling */
};

/* The probes of one calibration run (calib_measure.c makes them). */
typedef struct probe_set {
    float *q;          /* nprobes x dim, prepared */
    uint32_t *src;     /* row to exclude, UINT32_MAX for none */
    uint8_t *cls;      /* VDB_CALIB_NEAR / _SPREAD / _REAL */
    uint32_t n;
    uint32_t nclass[VDB_CALIB_NCLASS];
} probe_set;

/* Which curves one measure() takes: an auto trial decides on the plain
 * curve (k <= 10, unfiltered) alone and measures the rest only for codes
 * it keeps. */
enum { MEASURE_ALL, MEASURE_PLAIN, MEASURE_REST };

/* The unfiltered band's exact answers, kept from the float run for the
 * trial: the same probes over the same rows (the trial hides rows added
 * since; a compaction in between voids them), so the int8 path is scored
 * against the same truth and the GEMM is not paid twice. */
typedef struct truth_keep {
    vdb_hit *hits;    /* probes x kmax */
    size_t *count;
    uint32_t n0;
    uint64_t epoch;
    int have;
} truth_keep;

/* calib.c */
/* The clock's seconds. */
double vdb_calib__now(clockid_t clock);
/* 1 when ladder entry i has counts (a curve that keeps the coarse steps
 * leaves the fine ones empty: not on its ladder, not a failure). */
int vdb_calib__entry_measured(const vdb_calib_curve *curve, uint32_t i);
/* Real queries the next calibration would use (c->mutex held). */
uint32_t vdb_calib__real_usable(const vdb_store_calib *c, uint32_t dim, uint64_t rows);

/* calib_file.c */
/* Writes calib.txt atomically (fsx). Errors: VDB_ENOMEM, VDB_EINTERNAL
 * (text too long), those of vdb_fsx_replace_file. */
int vdb_calib__save(const vdb_store *store, const vdb_calib *cal, vdb_error *err);
/* Reads calib.txt into *cal; 1 when usable, 0 when absent or unusable
 * (measured again). Never fails otherwise. */
int vdb_calib__load(const vdb_store *store, vdb_calib *cal);
enum { VDB_CALIB_PENDING_NONE, VDB_CALIB_PENDING_RECHECK, VDB_CALIB_PENDING_STALE };
/* calib.pending's mark, VDB_CALIB_PENDING_NONE when there is none. */
int vdb_calib__pending_load(const vdb_store *store);
/* Writes the mark (c->pending_lock held); a failure is logged. */
void vdb_calib__pending_save(const vdb_store *store, int kind);
/* Removes the mark (c->pending_lock held). */
void vdb_calib__pending_drop(const vdb_store *store);

/* calib_measure.c */
/* The run's probes: sampled rows (near), synthetic Gaussian ones (spread)
 * and the reservoir's real queries. Errors: VDB_ENOMEM. */
int vdb_calib__make_probes(vdb_store *store, vdb_rng *rng, probe_set *ps, vdb_error *err);
/* Measures `what` curves of `cal` on the probes (the trial codes when
 * `trial`); `keep` carries band 0's truth between the float run and the
 * trial. Errors: VDB_ENOMEM, VDB_EBUSY (rows renumbered or stopped). */
int vdb_calib__measure(vdb_store *store, const probe_set *ps, vdb_calib *cal, int trial, int what,
                       truth_keep *keep, const _Atomic int *stop, vdb_error *err);
void vdb_calib__keep_free(truth_keep *k);
/* The re-check after a local repair (calib.h); rk->outcome says whether
 * it held. Errors: those of vdb_calib__measure. */
int vdb_calib__recheck(vdb_store *store, const probe_set *ps, const vdb_calib *prev,
                       vdb_calib *cal, vdb_calib_recheck *rk, const _Atomic int *stop,
                       vdb_error *err);

#endif
