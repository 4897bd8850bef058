/* The declared recall target end to end, per data family: what the
 * store's planner (store/query.c, calibrated by store/calib.c) delivers on
 * held-out queries it never saw, and at what speed next to exact search.
 *
 * Per family (tests/unit/families.h, the shapes of issue 9's table): a
 * store at default settings (fsync off: ingest is not what is measured)
 * gets N rows, optimize waits for the graph and the calibration, then Q
 * fresh queries run one at a time on one thread at target 1.0 (exact: the
 * truth and the exact QPS), 0.99, 0.95 and 0.90. A hit counts when its
 * distance is within the exact k-th distance (ties are not misses).
 * Rounds alternate the targets and keep the best time of each; recall is
 * the same every round (the plan is deterministic once calibrated).
 *
 * Beside wall-clock QPS (best round), CPU QPS (best round): queries per
 * second of the query thread's CPU time (with --threads 1 every query,
 * exact scans included, runs on it), which other load on the machine does
 * not inflate, and of the whole process's CPU time (a check that no other
 * thread of the store worked meanwhile).
 * Prints one line per family and target, and one JSON line per family with
 * --json. Build: make bench-recall. Benchmarks only: run under
 * env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE.
 * With --filters every row also gets {"b": row % 1000} and, after the
 * targets, the store's default plan runs under filters matching 0.1%, 1%,
 * 10%, 50% and 100% of the rows: recall against the exact filtered answer,
 * and latency next to the bound, the larger of 3x the unfiltered
 * plan and the exact search over the filter's candidates.
 * Usage: recall_planner [--n N] [--queries Q] [--rounds R] [--only NAME]
 *                       [--json] [--curve] [--filters] [--write-trace] [--threads T]
 *                       [--warm W]
 *                       [--quantization auto|none|int8|binary]
 *                       [--dir TMPDIR]
 *                       [--data F.npy --query-file Q.npy [--metric cosine|l2|dot]]
 * --write-trace runs a writer beside optimize (which waits for the graph
 * and the first calibration): from the moment the calibration starts
 * measuring, 10 rows every 100 ms (under the 20% growth that would make it
 * stale), and prints how many writes completed while it measured and
 * their latency (p50, p99, max): the proof that writes are not held off.
 * --threads sizes the global pool (default 1: QPS per core, exact scans
 * included); more threads build the graph faster for calibration-cost runs
 * at 1M rows, and then the exact scans split over them too.
 * With --data the store gets F's rows (at most N) and the timed queries are
 * Q's first ones; the calibration's real-query warm-up uses Q's last W
 * (--warm, default 400; apart from the timed ones when Q has room for
 * both: a store that saw more real queries calibrates on more of them). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"
#include "filter/filter.h"
#include "core/rng.h"
#include "index/index.h"
#include "store/calib.h"
#include "store/store.h"
#include "store/vecfile.h"
#include "../tests/unit/families.h"

#define K 10
#define NTARGETS 4

/* --quantization: the stores' setting (default: the store default, auto). */
static int quantization = VDB_DEFAULT_QUANTIZATION;
/* --warm: real queries the store sees before the timed rounds. */
static size_t warm_queries = 400;

typedef struct fam_case {
    const char *name;
    family f;
    uint32_t dim;
    vdb_metric metric;
    const float *data, *queries; /* given data (--data): rows, then queries */
    size_t rows, nqueries;
} fam_case;

static const fam_case cases[] = {
    {"uniform-64-cos", FAM_UNIFORM, 64, VDB_METRIC_COSINE, NULL, NULL, 0, 0},
    {"uniform-256-cos", FAM_UNIFORM, 256, VDB_METRIC_COSINE, NULL, NULL, 0, 0},
    {"clustered-384-cos", FAM_CLUSTERED, 384, VDB_METRIC_COSINE, NULL, NULL, 0, 0},
    {"norms25x-128-l2", FAM_NORMS_L2, 128, VDB_METRIC_L2, NULL, NULL, 0, 0},
    {"norms4x-96-dot", FAM_NORMS_DOT, 96, VDB_METRIC_DOT, NULL, NULL, 0, 0},
    {"duplicates-64-cos", FAM_DUPLICATES, 64, VDB_METRIC_COSINE, NULL, NULL, 0, 0},
    {"lowdim-3-l2", FAM_LOWDIM, 3, VDB_METRIC_L2, NULL, NULL, 0, 0},
    {"copies-64-cos", FAM_COPIES, 64, VDB_METRIC_COSINE, NULL, NULL, 0, 0},
};

static const double targets[NTARGETS] = {1.0, 0.99, 0.95, 0.90};

typedef struct answer {
    float dist[K];
    size_t count;
} answer;

static int take(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    answer *a = (answer *)ctx + q;
    a->count = count < K ? count : K;
    for (size_t i = 0; i < a->count; i++)
        a->dist[i] = hits[i].distance;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread): the timed rounds run
 * with no background work left, so this is the queries' own CPU, which a
 * loaded machine does not inflate the way it inflates wall time. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* CPU seconds of the calling thread: with a one-thread pool (the default)
 * every query runs on it, exact scans included, so this is the queries'
 * own CPU; other threads (the store's indexer, idle BLAS workers) and other
 * processes are not charged to it. */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Progress on stderr (long runs at 1M rows): phase, wall and process CPU. */
static void phase(const char *name, const char *what, double t0, double c0)
{
    fprintf(stderr, "[%s] %s: %.1f s wall, %.1f s process CPU since start\n", name, what,
            now() - t0, cpu_now() - c0);
}

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "recall_planner: %s: %s\n", what, err != NULL ? err->msg : "");
    exit(1);
}

static double recall_of(const answer *truth, const answer *got, size_t nq)
{
    size_t hit = 0, total = 0;
    for (size_t q = 0; q < nq; q++) {
        if (truth[q].count == 0)
            continue;
        float kth = truth[q].dist[truth[q].count - 1];
        for (size_t i = 0; i < got[q].count; i++)
            hit += got[q].dist[i] <= kth + 1e-5f * (fabsf(kth) + 1);
        total += truth[q].count;
    }
    return total ? (double)hit / (double)total : 1.0;
}

/* --write-trace: a writer beside optimize. */
typedef struct write_trace {
    vdb_store *store;
    const fam_case *c;
    const float *centres;
    _Atomic int stop;
    double lat[1 << 16]; /* seconds, writes that overlapped a calibration */
    size_t n, total;
} write_trace;

static void *trace_writer(void *arg)
{
    write_trace *w = arg;
    float *rows = malloc((size_t)10 * w->c->dim * sizeof(float));
    vdb_rng rng;
    vdb_error err;
    vdb_rng_seed(&rng, 777);
    while (!atomic_load(&w->stop) && !vdb_store_calib_running(w->store))
        usleep(10000);
    while (rows != NULL && !atomic_load(&w->stop)) {
        for (int i = 0; i < 10; i++)
            gen(w->c->f, &rng, w->c->dim, rows + (size_t)i * w->c->dim, w->centres);
        int during = vdb_store_calib_running(w->store);
        double t0 = now();
        if (vdb_store_add(w->store, 10, rows, NULL, NULL, NULL, &err) != VDB_OK)
            die("add during calibration", &err);
        double t = now() - t0;
        during |= vdb_store_calib_running(w->store);
        w->total++;
        if (during && w->n < sizeof(w->lat) / sizeof(w->lat[0]))
            w->lat[w->n++] = t;
        usleep(100000);
    }
    free(rows);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Filtered plans at the store's default target (--filters): `unfiltered_s`
 * is the unfiltered default plan's best time for the same nq queries. */
static void run_filters(vdb_store *store, const float *queries, size_t nq, uint32_t dim,
                        int rounds, double unfiltered_s, int json)
{
    static const char *filters[] = {"{\"b\": {\"$lt\": 1}}", "{\"b\": {\"$lt\": 10}}",
                                    "{\"b\": {\"$lt\": 100}}", "{\"b\": {\"$lt\": 500}}",
                                    "{\"b\": {\"$gte\": 0}}"};
    static const char *names[] = {"0.1%", "1%", "10%", "50%", "100%"};
    answer *truth = calloc(nq, sizeof(answer)), *got = calloc(nq, sizeof(answer));
    vdb_error err;
    if (truth == NULL || got == NULL)
        die("out of memory", NULL);
    vdb_error_clear(&err);
    for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
        vdb_filter *filter = NULL;
        char plan[VDB_EXPLAIN_MAX];
        double best_exact = INFINITY, best_plan = INFINITY;
        if (vdb_filter_compile_text(filters[f], strlen(filters[f]), &filter, &err) != VDB_OK ||
            filter == NULL)
            die("filter", &err);
        /* Alternate the exact candidate scan and the default plan. */
        for (int r = 0; r < rounds; r++)
            for (int mode = 0; mode < 2; mode++) {
                vdb_query_params p = {.k = K, .filter = filter, .exact = mode == 0};
                double s = now();
                for (size_t q = 0; q < nq; q++)
                    if (vdb_store_query(store, queries + q * dim, 1, &p, take,
                                        (mode == 0 ? truth : got) + q, &err) != VDB_OK)
                        die("filtered query", &err);
                s = now() - s;
                if (mode == 0)
                    best_exact = s < best_exact ? s : best_exact;
                else
                    best_plan = s < best_plan ? s : best_plan;
            }
        vdb_query_params p = {.k = K, .filter = filter, .explain = plan};
        answer one;
        if (vdb_store_query(store, queries, 1, &p, take, &one, &err) != VDB_OK)
            die("filtered query", &err);
        double rec = recall_of(truth, got, nq);
        double us = best_plan * 1e6 / (double)nq, bound_s = 3 * unfiltered_s;
        if (best_exact > bound_s)
            bound_s = best_exact;
        double bound_us = bound_s * 1e6 / (double)nq;
        if (json)
            printf("{\"filter\":\"%s\",\"recall\":%.4f,\"us\":%.1f,\"exact_us\":%.1f,"
                   "\"unfiltered_us\":%.1f,\"bound_us\":%.1f,\"within\":%s}\n",
                   names[f], rec, us, best_exact * 1e6 / (double)nq,
                   unfiltered_s * 1e6 / (double)nq, bound_us, us <= bound_us ? "true" : "false");
        else
            printf("  filter %-5s recall@10 %.4f  %8.1f us/query  (exact over candidates %8.1f us,"
                   " bound %8.1f us: %s) | %s\n",
                   names[f], rec, us, best_exact * 1e6 / (double)nq, bound_us,
                   us <= bound_us ? "within" : "ABOVE", plan);
        vdb_filter_free(filter);
    }
    fflush(stdout);
    free(truth);
    free(got);
}

/* calib.c's CALIB_REAL_MIN: real queries that take over from the others. */
#define CALIB_REAL_MIN_BENCH 320u

static void wait_calibrated(vdb_store *store)
{
    for (int waited = 0; waited < 6000; waited++) {
        if (!vdb_store_calib_due(store) && !vdb_store_calib_running(store))
            break;
        usleep(100000);
    }
}

/* Warm-up queries `from` .. `from + count - 1` (seed 4242, or the given
 * queries' tail, apart from the timed ones). */
static void warm_queries_run(vdb_store *store, const fam_case *c, const float *centres,
                             size_t from, size_t count)
{
    float *warm = malloc(c->dim * sizeof(float));
    vdb_query_params p = {.k = K};
    answer one;
    vdb_error err;
    vdb_rng rng;
    vdb_error_clear(&err);
    vdb_rng_seed(&rng, 4242);
    for (size_t i = 0; warm != NULL && i < from + count; i++) {
        if (c->queries != NULL)
            memcpy(warm, c->queries + (c->nqueries - 1 - i % c->nqueries) * c->dim,
                   c->dim * sizeof(float));
        else
            gen_query(c->f, &rng, c->dim, warm, centres);
        if (i >= from && vdb_store_query(store, warm, 1, &p, take, &one, &err) != VDB_OK)
            die("query", &err);
    }
    free(warm);
}

/* The warm-up, then held-out timed rounds: the timed queries are real
 * queries too and enter the store's reservoir while it fills, and a
 * calibration is due once the usable real queries reach CALIB_REAL_MIN and
 * twice what the last calibration used. Without care the timed rounds
 * would trigger one (seen at 100k: 400 warm + 500 timed crossed 640), which
 * then calibrates on timed queries and runs beside the timing. So the
 * warm-up is topped up (at most a few doublings) until the `nq` timed ones
 * cannot make a calibration due; the caller checks afterwards that none
 * ran. Returns the warm-up queries issued; *cal is the calibration after. */
static size_t warm_up(vdb_store *store, const fam_case *c, const float *centres, size_t count,
                      size_t done, size_t nq, vdb_calib *cal)
{
    warm_queries_run(store, c, centres, done, count);
    done += count;
    wait_calibrated(store);
    vdb_store_calib_get(store, cal);
    for (int round = 0; round < 6 && cal->valid; round++) {
        uint64_t cap = vdb_calib_reservoir_cap(c->dim, vdb_store_count(store));
        uint64_t need = 2 * (uint64_t)cal->real_probes;
        need = need > CALIB_REAL_MIN_BENCH ? need : CALIB_REAL_MIN_BENCH;
        if (need > cap || done + nq < need)
            break;
        warm_queries_run(store, c, centres, done, (size_t)(need - done));
        done = (size_t)need;
        usleep(200000); /* the indexer picks the due calibration up */
        wait_calibrated(store);
        vdb_store_calib_get(store, cal);
    }
    return done;
}

static void run_case(const fam_case *c, const char *tmp, uint32_t n, size_t nq, int rounds,
                     int json, int show_curve, int filters, int trace)
{
    char path[4200];
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err;
    vdb_rng rng;
    float *centres = family_centres(c->dim, 7);
    float *batch = malloc((size_t)1000 * c->dim * sizeof(float));
    char (*meta)[24] = malloc(1000 * sizeof(*meta));
    const char *metas[1000];
    float *queries = malloc(nq * c->dim * sizeof(float));
    answer *got[NTARGETS];
    double best[NTARGETS], best_cpu[NTARGETS], best_tcpu[NTARGETS], recall[NTARGETS];
    char plan[NTARGETS][VDB_EXPLAIN_MAX];
    if (centres == NULL || batch == NULL || meta == NULL || queries == NULL)
        die("out of memory", NULL);
    snprintf(path, sizeof(path), "%s/%s", tmp, c->name);
    vdb_store_config_default(&config);
    config.dim = c->dim;
    config.metric = c->metric;
    config.quantization = quantization;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_error_clear(&err);
    vdb_store *store = NULL;
    if (vdb_store_create(path, &config, &options, &store, &err) != VDB_OK)
        die(path, &err);
    vdb_rng_seed(&rng, 1);
    double t0 = now(), c0 = cpu_now();
    for (uint32_t at = 0; at < n; at += 1000) {
        uint32_t m = n - at < 1000 ? n - at : 1000;
        for (uint32_t i = 0; i < m; i++)
            if (c->data != NULL)
                memcpy(batch + (size_t)i * c->dim, c->data + ((size_t)at + i) * c->dim,
                       c->dim * sizeof(float));
            else
                gen(c->f, &rng, c->dim, batch + (size_t)i * c->dim, centres);
        for (uint32_t i = 0; i < m; i++) {
            snprintf(meta[i], sizeof(meta[i]), "{\"b\":%u}", (at + i) % 1000);
            metas[i] = meta[i];
        }
        if (vdb_store_add(store, m, batch, NULL, filters ? metas : NULL, NULL, &err) != VDB_OK)
            die("add", &err);
    }
    phase(c->name, "rows added", t0, c0);
    write_trace *wt = NULL;
    pthread_t writer;
    if (trace && c->data == NULL) {
        wt = calloc(1, sizeof(*wt));
        if (wt == NULL)
            die("out of memory", NULL);
        wt->store = store;
        wt->c = c;
        wt->centres = centres;
        if (pthread_create(&writer, NULL, trace_writer, wt) != 0)
            die("writer thread", NULL);
    }
    if (vdb_store_optimize(store, NULL, &err) != VDB_OK)
        die("optimize", &err);
    if (wt != NULL) {
        atomic_store(&wt->stop, 1);
        pthread_join(writer, NULL);
        qsort(wt->lat, wt->n, sizeof(double), cmp_double);
        printf("%s write trace: %zu writes of 10 rows beside optimize, %zu while the calibration "
               "measured: latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               c->name, wt->total, wt->n, wt->n ? wt->lat[wt->n / 2] * 1e3 : 0.0,
               wt->n ? wt->lat[wt->n * 99 / 100] * 1e3 : 0.0,
               wt->n ? wt->lat[wt->n - 1] * 1e3 : 0.0);
        free(wt);
    }
    double build_s = now() - t0;
    vdb_calib cal;
    vdb_store_calib_get(store, &cal);
    double first_cal_s = cal.seconds, first_cal_cpu = cal.cpu_seconds;
    phase(c->name, "optimize done (graph and first calibration)", t0, c0);
    fprintf(stderr, "[%s] first calibration %.2f s wall, %.2f s CPU\n", c->name, first_cal_s,
            first_cal_cpu);
    vdb_rng_seed(&rng, 99); /* held out: a seed the store never saw */
    for (size_t q = 0; q < nq; q++)
        if (c->queries != NULL)
            memcpy(queries + q * c->dim, c->queries + (q % c->nqueries) * c->dim,
                   c->dim * sizeof(float));
        else
            gen_query(c->f, &rng, c->dim, queries + q * c->dim, centres);
    /* Real queries join the calibration (calib.h): let the store see some
     * (drawn apart from the measured ones) and finish recalibrating, so no
     * background measurement runs during the timed rounds. */
    size_t warmed = warm_up(store, c, centres, warm_queries, 0, nq, &cal);
    phase(c->name, "warm-up queries and recalibration done", t0, c0);
    printf("%s quantization %s: curves measured on the %s path, on %u real queries", c->name,
           vdb_store_quant_name(quantization), cal.path == VDB_CALIB_PATH_INT8 ? "int8" : "float",
           cal.real_probes);
    if (cal.auto_ns[0] > 0)
        printf("; auto kept %s (plan at %.3g on %s: float %.1f us, int8 %.1f us)",
               cal.auto_kind == 1 ? "int8" : "none", cal.auto_target,
               cal.auto_real ? "real queries" : "synthetic probes", cal.auto_ns[0] / 1e3,
               cal.auto_ns[1] / 1e3);
    printf("\n");
    if (show_curve) {
        const vdb_calib_curve *cv = &cal.curve[0][0];
        printf("%s calibration curve (k <= 10, unfiltered; classes 0x%x; exact %.0f us):\n",
               c->name, cv->classes, cal.scan_ns_row * n / 1e3);
        for (uint32_t e = 0; e < cv->measured; e++) {
            printf("  ef %4u  %7.0f us", vdb_calib_ef_ladder[e], cv->ns[e] / 1e3);
            for (int k = 0; k < VDB_CALIB_NCLASS; k++)
                if (cv->total[k][e] > 0)
                    printf("  class %d %.4f (lb %.4f)", k,
                           (double)cv->hits[k][e] / (double)cv->total[k][e],
                           vdb_calib_lcb((double)cv->hits[k][e] / (double)cv->total[k][e],
                                         cv->probes[k][e]));
            printf("\n");
        }
    }
    for (int t = 0; t < NTARGETS; t++) {
        got[t] = calloc(nq, sizeof(answer));
        if (got[t] == NULL)
            die("out of memory", NULL);
        best[t] = best_cpu[t] = best_tcpu[t] = INFINITY;
    }
    for (int r = 0; r < rounds; r++)
        for (int t = 0; t < NTARGETS; t++) {
            vdb_query_params p = {.k = K, .target_recall = targets[t]};
            double s = now(), cpu = cpu_now(), tcpu = thread_cpu_now();
            for (size_t q = 0; q < nq; q++)
                if (vdb_store_query(store, queries + q * c->dim, 1, &p, take, got[t] + q, &err) !=
                    VDB_OK)
                    die("query", &err);
            s = now() - s;
            cpu = cpu_now() - cpu;
            tcpu = thread_cpu_now() - tcpu;
            best_tcpu[t] = tcpu < best_tcpu[t] ? tcpu : best_tcpu[t];
            best[t] = s < best[t] ? s : best[t];
            best_cpu[t] = cpu < best_cpu[t] ? cpu : best_cpu[t];
        }
    {
        vdb_calib after;
        vdb_store_calib_get(store, &after);
        printf("%s held out: %zu warm-up queries; %s\n", c->name, warmed,
               after.when == cal.when && after.real_probes == cal.real_probes &&
                       after.seconds == cal.seconds
                   ? "no calibration ran during the timed rounds"
                   : "WARNING: the store recalibrated during the timed rounds (on timed queries)");
    }
    for (int t = 0; t < NTARGETS; t++) {
        vdb_query_params p = {.k = K, .target_recall = targets[t], .explain = plan[t]};
        answer one;
        if (vdb_store_query(store, queries, 1, &p, take, &one, &err) != VDB_OK)
            die("query", &err);
        recall[t] = recall_of(got[0], got[t], nq);
    }
    if (json) {
        printf("{\"family\":\"%s\",\"rows\":%u,\"dim\":%u,\"queries\":%zu,\"build_s\":%.2f,"
               "\"calibration_s\":%.3f,\"calibration_cpu_s\":%.3f,\"recalibration_s\":%.3f,"
               "\"recalibration_cpu_s\":%.3f,\"results\":[",
               c->name, n, c->dim, nq, build_s, first_cal_s, first_cal_cpu, cal.seconds,
               cal.cpu_seconds);
        for (int t = 0; t < NTARGETS; t++)
            printf("%s{\"target\":%.2f,\"recall\":%.4f,\"qps\":%.1f,\"vs_exact\":%.2f,"
                   "\"thread_cpu_qps\":%.1f,\"thread_cpu_vs_exact\":%.2f,"
                   "\"process_cpu_qps\":%.1f}",
                   t ? "," : "", targets[t], recall[t], (double)nq / best[t], best[0] / best[t],
                   (double)nq / best_tcpu[t], best_tcpu[0] / best_tcpu[t],
                   (double)nq / best_cpu[t]);
        printf("]}\n");
    } else {
        printf("%-18s rows %u dim %u: build+index+calibration %.1f s (calibration %.2f s wall, "
               "%.2f s CPU; with real queries %.2f s wall, %.2f s CPU)\n",
               c->name, n, c->dim, build_s, first_cal_s, first_cal_cpu, cal.seconds,
               cal.cpu_seconds);
        for (int t = 0; t < NTARGETS; t++)
            printf("  target %.2f  recall@10 %.4f  %8.0f QPS  %5.2fx exact  thread CPU: %8.0f QPS"
                   "  %5.2fx exact  (process CPU %8.0f QPS) | %s\n",
                   targets[t], recall[t], (double)nq / best[t], best[0] / best[t],
                   (double)nq / best_tcpu[t], best_tcpu[0] / best_tcpu[t],
                   (double)nq / best_cpu[t], plan[t]);
    }
    fflush(stdout);
    if (filters)
        run_filters(store, queries, nq, c->dim, rounds, best[1], json);
    for (int t = 0; t < NTARGETS; t++)
        free(got[t]);
    vdb_store_close(store);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "recall_planner: could not remove %s\n", path);
    free(centres);
    free(batch);
    free(meta);
    free(queries);
}

int main(int argc, char **argv)
{
    uint32_t n = 100000;
    size_t nq = 1000;
    int rounds = 3, json = 0, show_curve = 0, filters = 0, threads = 1, trace = 0;
    const char *only = NULL, *base = "/tmp", *data_file = NULL, *query_file = NULL;
    vdb_metric metric = VDB_METRIC_COSINE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            nq = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data_file = argv[++i];
        else if (!strcmp(argv[i], "--query-file") && i + 1 < argc)
            query_file = argv[++i];
        else if (!strcmp(argv[i], "--metric") && i + 1 < argc) {
            int m = vdb_metric_parse(argv[++i]);
            if (m < 0) {
                fprintf(stderr, "recall_planner: unknown metric %s\n", argv[i]);
                return 2;
            }
            metric = (vdb_metric)m;
        }
        else if (!strcmp(argv[i], "--curve"))
            show_curve = 1;
        else if (!strcmp(argv[i], "--filters"))
            filters = 1;
        else if (!strcmp(argv[i], "--write-trace"))
            trace = 1;
        else if (!strcmp(argv[i], "--warm") && i + 1 < argc)
            warm_queries = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quantization") && i + 1 < argc) {
            if ((quantization = vdb_store_quant_parse(argv[++i])) < 0) {
                fprintf(stderr, "recall_planner: unknown quantization %s\n", argv[i]);
                return 2;
            }
        }
        else {
            fprintf(stderr, "usage: recall_planner [--n N] [--queries Q] [--rounds R] "
                            "[--only NAME] [--json] [--curve] [--filters] [--write-trace] [--threads T] "
                            "[--warm W] [--quantization auto|none|int8|binary] [--dir TMPDIR] "
                            "[--data F.npy --query-file Q.npy [--metric M]]\n");
            return 2;
        }
    }
    if (n == 0 || nq == 0 || rounds < 1 || threads < 1) {
        fprintf(stderr, "recall_planner: --n, --queries, --rounds and --threads must be positive\n");
        return 2;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/vdb-recall-planner-XXXXXX", base);
    if (mkdtemp(tmp) == NULL)
        die("mkdtemp", NULL);
    vdb_pool_global_configure(threads); /* 1: QPS per core, exact included */
    if (data_file != NULL) {
        /* Given data (e.g. `vdb bench --save` files, the peers' data set):
         * the queries are held out by whoever made the files. */
        vdb_error err;
        vdb_error_clear(&err);
        vdb_vecfile *df = NULL, *qf = NULL;
        if (vdb_vecfile_open(data_file, &df, &err) == VDB_OK && query_file != NULL)
            vdb_vecfile_open(query_file, &qf, &err);
        if (df == NULL || qf == NULL || vdb_vecfile_dim(df) != vdb_vecfile_dim(qf))
            die("--data and --query-file (same dimension) are needed together", &err);
        fam_case given = {"given", FAM_UNIFORM, vdb_vecfile_dim(df), metric, NULL, NULL,
                          vdb_vecfile_rows(df), vdb_vecfile_rows(qf)};
        float *d = malloc(given.rows * given.dim * sizeof(float));
        float *q = malloc(given.nqueries * given.dim * sizeof(float));
        if (d == NULL || q == NULL ||
            vdb_vecfile_read_rows(df, 0, given.rows, d, &err) != VDB_OK ||
            vdb_vecfile_read_rows(qf, 0, given.nqueries, q, &err) != VDB_OK)
            die("reading --data / --query-file", &err);
        given.data = d;
        given.queries = q;
        if (n > given.rows)
            n = (uint32_t)given.rows;
        if (nq > given.nqueries)
            nq = given.nqueries;
        if (nq + warm_queries > given.nqueries)
            fprintf(stderr, "recall_planner: %zu timed + %zu warm-up queries > the %zu given: "
                            "the warm-up repeats timed ones (not held out)\n",
                    nq, warm_queries, given.nqueries);
        run_case(&given, tmp, n, nq, rounds, json, show_curve, filters, trace);
        vdb_vecfile_close(df);
        vdb_vecfile_close(qf);
        free(d);
        free(q);
        rmdir(tmp);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (only == NULL || strstr(cases[i].name, only) != NULL)
            run_case(&cases[i], tmp, n, nq, rounds, json, show_curve, filters, trace);
    rmdir(tmp);
    return 0;
}
