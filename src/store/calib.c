/* Self-calibration of a store's graph search; see calib.h for the model. */
#include "calib.h"

#include <limits.h>
#include <math.h>
#include <fcntl.h>
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
#include "query.h"
#include "store_codes.h"
#include "store_index.h"
#include "store_int.h"

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
/* 6 added the re-check line; a 5 file is read without it. */
#define CALIB_FORMAT "vdb-calib 6"
#define CALIB_FORMAT_5 "vdb-calib 5"
#define CALIB_FILE_MAX (4u << 20) /* the file is ~30 KB; more is not ours */
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
/* The steps added to the old 1.5x ladder. Only the plain curve (k <= 10,
 * unfiltered: every unfiltered top-10 query, and the one that reads every
 * real probe) measures them; the filtered and k <= 100 curves keep the
 * old steps (their picks pass over the empty fine entries). All eight
 * curves at the fine steps cost ~1.5x the CPU per calibration (20k x 384
 * clustered, both calibrations: 44.8 s against ~30 s with the old ladder;
 * the plain curve alone fine: 33.8 s; BENCHMARKS.md issue 9). */
static const uint8_t ladder_fine_only[VDB_CALIB_NEF] = {0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
                                                        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0};
const uint32_t vdb_calib_k_bands[VDB_CALIB_NK] = {10, 100};
const double vdb_calib_s_bands[VDB_CALIB_NS] = {1.0, 0.5, 0.1, 0.02};

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
static int entry_measured(const vdb_calib_curve *curve, uint32_t i)
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
        if (!entry_measured(curve, i))
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
static uint32_t real_usable(const vdb_store_calib *c, uint32_t dim, uint64_t rows)
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

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- persistence --------------------------------------------------------- */

static int calib_path(const vdb_store *store, char *path, size_t cap)
{
    return vdb_fsx_path(path, cap, store->dir, VDB_CALIB_FILE, NULL);
}

static int save(const vdb_store *store, const vdb_calib *cal, vdb_error *err)
{
    size_t cap = 128 * 1024, len = 0;
    char *text = vdb_malloc(cap);
    int rc;
    if (text == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory to save the calibration");
#define PUT(...) len += (size_t)snprintf(text + len, len < cap ? cap - len : 0, __VA_ARGS__)
    PUT("%s\n%lld %llu %u %u %.17g %.17g %.17g %.17g %.17g\n", CALIB_FORMAT, (long long)cal->when,
        (unsigned long long)cal->live, cal->probes, cal->real_probes, cal->seconds, cal->cpu_seconds,
        cal->scan_ns_row, cal->ids_ns_row, cal->gemm_ns_row);
    for (int s = 0; s < VDB_CALIB_NS; s++)
        for (int k = 0; k < VDB_CALIB_NK; k++) {
            const vdb_calib_curve *c = &cal->curve[s][k];
            PUT("%u %u", c->measured, c->classes);
            for (uint32_t i = 0; i < c->measured; i++) {
                PUT(" %.17g", c->ns[i]);
                for (int k2 = 0; k2 < VDB_CALIB_NCLASS; k2++)
                    PUT(" %llu %llu %u", (unsigned long long)c->hits[k2][i],
                        (unsigned long long)c->total[k2][i], c->probes[k2][i]);
            }
            PUT("\n");
        }
    PUT("%d %d %.17g %.17g %.17g %d\n", cal->path, cal->auto_kind, cal->auto_ns[0],
        cal->auto_ns[1], cal->auto_target, cal->auto_real);
    const vdb_calib_recheck *r = &cal->recheck;
    PUT("%d %lld %llu %u %u %u %d %u %.17g %.17g %.17g %.17g %.17g\n", r->outcome,
        (long long)r->when, (unsigned long long)r->live, r->probes, r->entries, r->moved,
        r->failed_band, r->ef, r->recall, r->recall_lo, r->before, r->seconds, r->cpu_seconds);
#undef PUT
    if (len >= cap) {
        vdb_free(text);
        return vdb_error_set(err, VDB_EINTERNAL, "calibration text too long");
    }
    /* fsx's one atomic replace (temp, fsync, rename, directory fsync), so
     * the fault-injection and crash tests that drive fsx reach this file. */
    rc = vdb_fsx_replace_file(store->dir, VDB_CALIB_FILE, text, len, 0644, err);
    vdb_free(text);
    return rc;
}

/* The re-check line (save); 0 when it is malformed. */
static int load_recheck(FILE *f, vdb_calib_recheck *r)
{
    long long when;
    unsigned long long live;
    if (fscanf(f, "%d %lld %llu %u %u %u %d %u %lg %lg %lg %lg %lg", &r->outcome, &when, &live,
               &r->probes, &r->entries, &r->moved, &r->failed_band, &r->ef, &r->recall,
               &r->recall_lo, &r->before, &r->seconds, &r->cpu_seconds) != 13 ||
        r->outcome < VDB_CALIB_RECHECK_NONE || r->outcome > VDB_CALIB_RECHECK_FAILED ||
        r->failed_band < -1 || r->failed_band >= VDB_CALIB_NS * VDB_CALIB_NK)
        return 0;
    r->when = when;
    r->live = live;
    return 1;
}

/* Reads calib.txt; 0 when it is absent or unusable (measured again). */
static int load(const vdb_store *store, vdb_calib *cal)
{
    char path[PATH_MAX], head[32];
    long long when;
    unsigned long long live;
    int ok = 0;
    if (calib_path(store, path, sizeof(path)) != VDB_OK)
        return 0;
    /* Read whole through fsx, parsed with stdio over the memory. */
    char *text = NULL;
    size_t size = 0;
    if (vdb_fsx_read_file(path, CALIB_FILE_MAX, &text, &size, NULL) != VDB_OK)
        return 0;
    FILE *f = size > 0 ? fmemopen(text, size, "r") : NULL;
    if (f == NULL) {
        vdb_free(text);
        return 0;
    }
    memset(cal, 0, sizeof(*cal));
    /* The whole first line: an older format (a shorter ladder, no real
     * probe count) is measured again; 5 differs only by the missing
     * re-check line. */
    if (fgets(head, sizeof(head), f) == NULL)
        goto done;
    head[strcspn(head, "\n")] = 0;
    int v5 = strcmp(head, CALIB_FORMAT_5) == 0;
    if (!v5 && strcmp(head, CALIB_FORMAT) != 0)
        goto done;
    if (fscanf(f, "%lld %llu %u %u %lg %lg %lg %lg %lg", &when, &live, &cal->probes,
               &cal->real_probes, &cal->seconds, &cal->cpu_seconds, &cal->scan_ns_row,
               &cal->ids_ns_row, &cal->gemm_ns_row) != 9 ||
        cal->real_probes > cal->probes)
        goto done;
    cal->when = when;
    cal->live = live;
    for (int s = 0; s < VDB_CALIB_NS; s++)
        for (int k = 0; k < VDB_CALIB_NK; k++) {
            vdb_calib_curve *c = &cal->curve[s][k];
            if (fscanf(f, "%u %u", &c->measured, &c->classes) != 2 ||
                c->measured > VDB_CALIB_NEF || c->classes >= (1u << VDB_CALIB_NCLASS))
                goto done;
            for (uint32_t i = 0; i < c->measured; i++) {
                if (fscanf(f, "%lg", &c->ns[i]) != 1)
                    goto done;
                for (int k2 = 0; k2 < VDB_CALIB_NCLASS; k2++) {
                    unsigned long long h, t;
                    unsigned q;
                    if (fscanf(f, "%llu %llu %u", &h, &t, &q) != 3 || h > t || q > t)
                        goto done;
                    c->hits[k2][i] = h;
                    c->total[k2][i] = t;
                    c->probes[k2][i] = q;
                }
            }
        }
    if (fscanf(f, "%d %d %lg %lg %lg %d", &cal->path, &cal->auto_kind, &cal->auto_ns[0],
               &cal->auto_ns[1], &cal->auto_target, &cal->auto_real) != 6 ||
        (cal->auto_real != 0 && cal->auto_real != 1) ||
        (cal->path != VDB_CALIB_PATH_FLOAT && cal->path != VDB_CALIB_PATH_INT8) ||
        cal->auto_kind < -1 || cal->auto_kind > VDB_QUANT_INT8)
        goto done;
    cal->recheck.failed_band = -1;
    if (!v5 && !load_recheck(f, &cal->recheck))
        goto done;
    ok = cal->scan_ns_row > 0 && cal->gemm_ns_row > 0 && cal->ids_ns_row > 0;
done:
    fclose(f);
    vdb_free(text);
    cal->valid = ok;
    return ok;
}

/* calib.pending: a mark (calib_mark) outlives a restart. The flags alone
 * lived in memory, so a store stopped between a compaction (or a rebuild,
 * a quantization change) and the run it asked for reopened with calib.txt
 * as if it still described the store, and planned on curves measured on
 * the graph before it: its declared recall no longer measured. The file
 * holds "stale" or "recheck"; publish removes it once a run that no mark
 * overtook has saved calib.txt. Written through fsx's atomic replace: a
 * compaction, which is what marks, writes a whole snapshot anyway. */
#define CALIB_PENDING_FILE "calib.pending"
enum { PENDING_NONE, PENDING_RECHECK, PENDING_STALE };

static int load_pending(const vdb_store *store)
{
    char path[PATH_MAX], text[16];
    size_t len = 0;
    if (vdb_fsx_path(path, sizeof(path), store->dir, CALIB_PENDING_FILE, NULL) != VDB_OK ||
        vdb_fsx_read_text(path, text, sizeof(text), &len, NULL) != VDB_OK)
        return PENDING_NONE;
    /* Anything else (a torn or foreign file) asks for the full run: the
     * safe reading of "something was pending". */
    return strncmp(text, "recheck", 7) == 0 ? PENDING_RECHECK : PENDING_STALE;
}

/* Under c->pending_lock. Failing leaves the in-memory flag (this process
 * still runs the calibration); only a restart before it would forget. */
static void save_pending(const vdb_store *store, int kind)
{
    static const char stale[] = "stale\n", recheck[] = "recheck\n";
    vdb_error err;
    vdb_error_clear(&err);
    if (store->options.read_only)
        return;
    if (vdb_fsx_replace_file(store->dir, CALIB_PENDING_FILE, kind == PENDING_STALE ? stale : recheck,
                             kind == PENDING_STALE ? sizeof(stale) - 1 : sizeof(recheck) - 1, 0644,
                             &err) != VDB_OK)
        vdb_log_warn("%s: cannot note the pending calibration (a restart before it would "
                     "plan on the old curves): %s", store->dir, err.msg);
}

static void drop_pending(const vdb_store *store)
{
    char path[PATH_MAX];
    if (!store->options.read_only &&
        vdb_fsx_path(path, sizeof(path), store->dir, CALIB_PENDING_FILE, NULL) == VDB_OK)
        vdb_fsx_unlink(path, NULL);
}

/* ---- state --------------------------------------------------------------- */

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
    if (load(store, &c->cal)) {
        int pending = load_pending(store);
        c->stale = pending == PENDING_STALE;
        c->recheck = pending == PENDING_RECHECK;
        vdb_log_info("%s: calibration loaded (measured on %llu rows)%s", store->dir,
                     (unsigned long long)c->cal.live,
                     pending == PENDING_STALE     ? "; marked for a full run before a restart"
                     : pending == PENDING_RECHECK ? "; marked for a re-check before a restart"
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
           real_due(c, real_usable(c, dim, live));
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
    int kind = c->stale ? PENDING_STALE : PENDING_RECHECK;
    pthread_mutex_unlock(&c->mutex);
    save_pending(store, kind);
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
    int was_due = real_due(c, real_usable(c, dim, rows));
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
    kick = !was_due && real_due(c, real_usable(c, dim, rows));
    pthread_mutex_unlock(&c->mutex);
    if (kick)
        vdb_store__index_kick(store);
}

/* ---- measurement --------------------------------------------------------- */

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

typedef struct probe_set {
    float *q;          /* nprobes x dim, prepared */
    uint32_t *src;     /* row to exclude, UINT32_MAX for none */
    uint8_t *cls;      /* VDB_CALIB_NEAR / _SPREAD / _REAL */
    uint32_t n;
    uint32_t nclass[VDB_CALIB_NCLASS];
} probe_set;

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
static int make_probes(vdb_store *store, vdb_rng *rng, probe_set *ps, vdb_error *err)
{
    static const double scales[] = {0.05, 0.2, 0.5, 1.0};
    vdb_store_calib *c = store->calib;
    uint32_t dim = store->config.dim;
    uint64_t rows = vdb_store_count(store);
    pthread_mutex_lock(&c->mutex);
    uint32_t real = real_usable(c, dim, rows);
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
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
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
        double t = scan_cost(now_s(CLOCK_MONOTONIC) - w0,
                             now_s(CLOCK_PROCESS_CPUTIME_ID) - c0, threads);
        scan = t < scan ? t : scan;
        if (list == NULL)
            continue;
        for (size_t j = 0; j < take; j++)
            list[j] = (uint32_t)((j * 10 + i) % view.n);
        double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        vdb_flat_search_ids(&view, q, list, take, 10, m->got, &cnt, NULL);
        t = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
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
            double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
            if (rc == VDB_OK)
                rc = vdb_flat_search_batch(&view, m->qbuf, np, m->kmax, sb >= 1.0 ? NULL : &fh,
                                           m->tbuf, m->tcbuf, m->err);
            if (s == 0) {
                /* The batch path splits over the whole pool. */
                m->gemm_ns += scan_cost(now_s(CLOCK_MONOTONIC) - w0,
                                        now_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
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
    double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    int rc = vdb_store__query_graph(m->store, view, ps->q + (size_t)p * m->dim, 1, k + 1, ef, use,
                                   codes, m->got, &cnt, m->err);
    *ns += (now_s(CLOCK_THREAD_CPUTIME_ID) - t0) * 1e9;
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

static void keep_free(truth_keep *k)
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
        keep_free(keep); /* the trial measures its own */
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
            keep_free(keep);
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

static int measure(vdb_store *store, const probe_set *ps, vdb_calib *cal, int trial, int what,
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

/* ---- re-check after a local repair (calib.h) ----------------------------- */

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
        if (entry_measured(curve, i))
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
 * different probe basis or traversal than `prev`'s, or no band on the
 * graph at the target, fails it (nothing to re-check: the full
 * calibration is what restores the curves). */
static int recheck(vdb_store *store, const probe_set *ps, const vdb_calib *prev, vdb_calib *cal,
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
    if (rc == VDB_OK && held && any) {
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
 * describe them change together for every planner. */
static void publish(vdb_store *store, vdb_calib *cal, int trial_end, int adopt, uint64_t marks)
{
    vdb_store_calib *c = store->calib;
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
    pthread_mutex_unlock(&c->mutex);
    if (trial_end)
        pthread_rwlock_unlock(&store->rw);
    vdb_error e2;
    vdb_error_clear(&e2);
    if (!store->options.read_only && save(store, cal, &e2) != VDB_OK) {
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
    if (clear)
        drop_pending(store);
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
        rc = measure(store, ps, alt, 1, MEASURE_PLAIN, keep, stop, err);
    if (rc == VDB_OK) {
        f = plan_cost(flt, target);
        i8 = plan_cost(alt, target);
        adopt = i8 < CALIB_AUTO_GAIN * f;
        /* Kept codes need every curve measured on them. */
        if (adopt)
            rc = measure(store, ps, alt, 1, MEASURE_REST, keep, stop, err);
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
    won->seconds = now_s(CLOCK_MONOTONIC) - wall0;
    won->cpu_seconds = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    won->auto_kind = adopt ? VDB_QUANT_INT8 : VDB_QUANT_NONE;
    won->auto_ns[0] = f;
    won->auto_ns[1] = i8;
    won->auto_target = target;
    won->auto_real = ps->nclass[VDB_CALIB_REAL] >= CALIB_REAL_MIN;
    publish(store, won, 1, adopt, marks);
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
    pthread_mutex_lock(&c->mutex);
    *prev = c->cal;
    *marks = c->marks;
    int only = c->recheck && !full_due(c, store->config.dim, vdb_store_count(store));
    pthread_mutex_unlock(&c->mutex);
    return only;
}

/* The re-check (recheck), timed; publishes the calibration when it held.
 * rk->outcome FAILED (rc VDB_OK) leaves the full calibration to the caller. */
static int run_recheck(vdb_store *store, const probe_set *ps, const vdb_calib *prev,
                       vdb_calib *cal, vdb_calib_recheck *rk, double wall0, double cpu0,
                       uint64_t marks, const _Atomic int *stop, vdb_error *err)
{
    int rc = recheck(store, ps, prev, cal, rk, stop, err);
    if (rc != VDB_OK)
        return rc;
    rk->when = (int64_t)time(NULL);
    rk->live = vdb_store_count(store);
    rk->seconds = now_s(CLOCK_MONOTONIC) - wall0;
    rk->cpu_seconds = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    if (rk->outcome != VDB_CALIB_RECHECK_KEPT) {
        vdb_log_info("%s: calibration re-check after the repair missed in band %d (%u entries "
                     "measured in %.2f s): measuring the whole ladder",
                     store->dir, rk->failed_band, rk->entries, rk->seconds);
        return VDB_OK;
    }
    cal->recheck = *rk;
    publish(store, cal, 0, 0, marks);
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
    double wall0 = now_s(CLOCK_MONOTONIC), cpu0 = now_s(CLOCK_THREAD_CPUTIME_ID);
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
    rc = make_probes(store, &rng, &ps, err);
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
        if (rc != VDB_OK || rk.outcome == VDB_CALIB_RECHECK_KEPT)
            goto out;
    }
    if (rc == VDB_OK)
        rc = measure(store, &ps, cal, 0, MEASURE_ALL, trial ? &keep : NULL, stop, err);
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
        cal->seconds = now_s(CLOCK_MONOTONIC) - wall0;
        cal->cpu_seconds = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
        publish(store, cal, 0, 0, marks);
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
    atomic_store(&c->running, 0);
    keep_free(&keep);
    vdb_free(ps.q);
    vdb_free(ps.src);
    vdb_free(ps.cls);
    vdb_free(cal);
    return rc;
}

int vdb_store_calib_running(vdb_store *store)
{
    return store->calib != NULL && atomic_load(&store->calib->running);
}
