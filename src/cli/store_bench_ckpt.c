/* `vdb store-bench --checkpoint-latency`: how long a writer waits while a
 * checkpoint runs (issue 13).
 *
 * Loads --n vectors of --dim into a fresh flat store (fsync always, the
 * automatic checkpoint pushed out of the way so the one measured is the
 * only one), then starts one writer thread that adds single vectors back
 * to back, each call timed from entry to its durable acknowledgement. After
 * a second of writes alone (the baseline: an fdatasync per write), the main
 * thread runs vdb_store_checkpoint; the writer keeps going until half a
 * second after it returned. Reported: the checkpoint's duration, and the
 * max / p99 / median latency of the writes that overlapped it, next to the
 * baseline's. Then the store is closed and reopened and every write the
 * writer saw acknowledged must be there (a benchmark of a checkpoint that
 * loses writes would be meaningless). Flat index on purpose: an HNSW build
 * of 1M rows would compete for the CPU and measure the indexer instead.
 * --delete N deletes N loaded rows first, so the checkpoint also compacts
 * (that step still holds writers off for a time that grows with the
 * rows after the first tombstone). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/rng.h"
#include "../store/store.h"
#include "bench.h"

#define LOAD_BATCH 10000

typedef struct ck_write {
    double start, end;
} ck_write;

typedef struct ck_writer {
    vdb_store *store;
    uint32_t dim;
    _Atomic int stop;
    ck_write *log;
    size_t count, cap;
    int rc;
    vdb_error err;
} ck_writer;

static void *ck_writer_main(void *arg)
{
    ck_writer *w = arg;
    float *vector = vdb_malloc(w->dim * sizeof(float));
    vdb_rng rng;
    vdb_rng_seed(&rng, 7);
    w->rc = vector != NULL ? VDB_OK : VDB_ENOMEM;
    while (w->rc == VDB_OK && !atomic_load(&w->stop)) {
        char id[32];
        const char *ids[1] = {id};
        if (w->count == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 4096;
            ck_write *grown = vdb_realloc(w->log, cap * sizeof(*grown));
            if (grown == NULL) {
                w->rc = vdb_error_set(&w->err, VDB_ENOMEM, "out of memory for the log");
                break;
            }
            w->log = grown;
            w->cap = cap;
        }
        for (uint32_t c = 0; c < w->dim; c++)
            vector[c] = (float)(vdb_rng_uniform(&rng) * 2.0 - 1.0);
        snprintf(id, sizeof(id), "w%zu", w->count);
        w->log[w->count].start = vdb_bench_now();
        w->rc = vdb_store_add(w->store, 1, vector, ids, NULL, NULL, &w->err);
        w->log[w->count].end = vdb_bench_now();
        if (w->rc == VDB_OK)
            w->count++;
    }
    vdb_free(vector);
    return NULL;
}

static int ck_load(vdb_store *store, size_t n, uint32_t dim, uint64_t seed, vdb_error *err)
{
    float *vectors = vdb_malloc((size_t)LOAD_BATCH * dim * sizeof(float));
    char **ids = vdb_calloc(LOAD_BATCH, sizeof(char *));
    char *text = vdb_malloc((size_t)LOAD_BATCH * 24);
    vdb_rng rng;
    int rc = VDB_OK;
    if (vectors == NULL || ids == NULL || text == NULL)
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
    vdb_rng_seed(&rng, seed);
    for (size_t first = 0; rc == VDB_OK && first < n; first += LOAD_BATCH) {
        size_t rows = n - first < LOAD_BATCH ? n - first : LOAD_BATCH;
        for (size_t i = 0; i < rows * dim; i++)
            vectors[i] = (float)(vdb_rng_uniform(&rng) * 2.0 - 1.0);
        for (size_t i = 0; i < rows; i++) {
            ids[i] = text + i * 24;
            snprintf(ids[i], 24, "v%zu", first + i);
        }
        rc = vdb_store_add(store, rows, vectors, (const char *const *)ids, NULL, NULL, err);
    }
    vdb_free(text);
    vdb_free(ids);
    vdb_free(vectors);
    return rc;
}

/* Latency stats (ms) of the writes whose [start, end] meets [from, to];
 * *max_at (optional) = when the slowest one started, in s after `from`. */
static size_t ck_window(const ck_writer *w, double from, double to, double *max_ms,
                        double *p99_ms, double *p50_ms, double *max_at)
{
    double *lat = vdb_malloc((w->count + 1) * sizeof(double)), worst = -1;
    size_t n = 0;
    *max_ms = *p99_ms = *p50_ms = 0;
    if (lat == NULL)
        return 0;
    for (size_t i = 0; i < w->count; i++)
        if (w->log[i].start <= to && w->log[i].end >= from) {
            lat[n++] = w->log[i].end - w->log[i].start;
            if (lat[n - 1] > worst && max_at != NULL) {
                worst = lat[n - 1];
                *max_at = w->log[i].start - from;
            }
        }
    if (n > 0) {
        vdb_bench_percentiles(lat, n, p50_ms, p99_ms);
        *max_ms = lat[n - 1] * 1e3;
    }
    vdb_free(lat);
    return n;
}

/* Prints the `top` slowest writes that met [from, to], with when each
 * started (s after `from`), so each can be matched to the checkpoint's
 * phases (the info log gives their durations). */
static void ck_slowest(const ck_writer *w, double from, double to, size_t top)
{
    size_t *pick = vdb_calloc(top + 1, sizeof(size_t)), n = 0;
    if (pick == NULL)
        return;
    for (size_t i = 0; i < w->count; i++) {
        double lat = w->log[i].end - w->log[i].start;
        size_t at;
        if (w->log[i].start > to || w->log[i].end < from)
            continue;
        for (at = n; at > 0 && lat > w->log[pick[at - 1]].end - w->log[pick[at - 1]].start; at--)
            if (at < top)
                pick[at] = pick[at - 1];
        if (at < top) {
            pick[at] = i;
            if (n < top)
                n++;
        }
    }
    printf("slowest writes during it:");
    for (size_t k = 0; k < n; k++)
        printf(" %.1f ms at +%.3f s%s", (w->log[pick[k]].end - w->log[pick[k]].start) * 1e3,
               w->log[pick[k]].start - from, k + 1 < n ? "," : "\n");
    if (n == 0)
        printf(" none\n");
    vdb_free(pick);
}

static void ck_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Reopens the store and checks that every acknowledged write is there. */
static int ck_verify(const char *dir, const ck_writer *w, vdb_error *err)
{
    vdb_store *store;
    int rc = vdb_store_open(dir, NULL, &store, err);
    if (rc != VDB_OK)
        return rc;
    for (size_t i = 0; i < w->count && rc == VDB_OK; i++) {
        char id[32];
        snprintf(id, sizeof(id), "w%zu", i);
        if (vdb_store_get(store, id, NULL, NULL, err) != VDB_OK)
            rc = vdb_error_set(err, VDB_ECORRUPT, "acknowledged write %s missing after reopen",
                               id);
    }
    vdb_store_close(store);
    return rc;
}

/* Deletes `count` loaded rows spread evenly, so the checkpoint has
 * tombstones to compact (the part that still holds writers off). */
static int ck_delete(vdb_store *store, size_t n, size_t count, vdb_error *err)
{
    for (size_t i = 0; i < count; i++) {
        char id[24];
        const char *ids[1] = {id};
        int rc;
        snprintf(id, sizeof(id), "v%zu", i * (n / count));
        if ((rc = vdb_store_delete(store, 1, ids, NULL, err)) != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

int vdb_bench_store_checkpoint(const char *dir, size_t n, uint32_t dim, uint64_t seed,
                               size_t deletes, int json)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err;
    vdb_store *store;
    ck_writer w;
    pthread_t thread;
    double t_load, t0, t1, base_max, base_p99, base_p50, max_ms, p99_ms, p50_ms, max_at = 0;
    size_t base_n, during_n;
    int rc;
    memset(&w, 0, sizeof(w));
    vdb_store_config_default(&config);
    config.dim = dim;
    config.index = VDB_INDEX_FLAT;
    vdb_store_options_default(&options);
    options.wal_checkpoint_bytes = 1ull << 50; /* only the measured checkpoint */
    if (vdb_store_create(dir, &config, &options, &store, &err) != VDB_OK) {
        fprintf(stderr, "vdb store-bench: %s\n", err.msg);
        return 1;
    }
    t_load = vdb_bench_now();
    if ((rc = ck_load(store, n, dim, seed, &err)) != VDB_OK) {
        fprintf(stderr, "vdb store-bench: load failed: %s\n", err.msg);
        vdb_store_close(store);
        return 1;
    }
    t_load = vdb_bench_now() - t_load;
    if (deletes > 0 && (rc = ck_delete(store, n, deletes < n ? deletes : n, &err)) != VDB_OK) {
        fprintf(stderr, "vdb store-bench: delete failed: %s\n", err.msg);
        vdb_store_close(store);
        return 1;
    }
    w.store = store;
    w.dim = dim;
    if (pthread_create(&thread, NULL, ck_writer_main, &w) != 0) {
        fprintf(stderr, "vdb store-bench: cannot start the writer\n");
        vdb_store_close(store);
        return 1;
    }
    ck_sleep(1.0);
    t0 = vdb_bench_now();
    rc = vdb_store_checkpoint(store, &err);
    t1 = vdb_bench_now();
    ck_sleep(0.5);
    atomic_store(&w.stop, 1);
    pthread_join(thread, NULL);
    vdb_store_close(store);
    if (rc != VDB_OK || w.rc != VDB_OK) {
        fprintf(stderr, "vdb store-bench: %s\n", rc != VDB_OK ? err.msg : w.err.msg);
        vdb_free(w.log);
        return 1;
    }
    base_n = ck_window(&w, 0, t0 - 1e-9, &base_max, &base_p99, &base_p50, NULL);
    during_n = ck_window(&w, t0, t1, &max_ms, &p99_ms, &p50_ms, &max_at);
    if ((rc = ck_verify(dir, &w, &err)) != VDB_OK) {
        fprintf(stderr, "vdb store-bench: %s\n", err.msg);
        vdb_free(w.log);
        return 1;
    }
    if (json)
        printf("{\"n\": %zu, \"dim\": %u, \"load_seconds\": %.2f, \"checkpoint_seconds\": %.3f, "
               "\"writes_during\": %zu, \"max_ms\": %.2f, \"max_at_s\": %.3f, "
               "\"p99_ms\": %.2f, \"p50_ms\": %.2f, "
               "\"baseline_writes\": %zu, \"baseline_max_ms\": %.2f, \"baseline_p99_ms\": %.2f, "
               "\"baseline_p50_ms\": %.2f, \"acknowledged\": %zu, \"verified\": true}\n",
               n, dim, t_load, t1 - t0, during_n, max_ms, max_at, p99_ms, p50_ms, base_n, base_max,
               base_p99, base_p50, w.count);
    else
        printf("checkpoint of %zu x %u: %.3f s; %zu writes overlapped it: max %.2f ms (at +%.3f s), p99 %.2f "
               "ms, median %.2f ms (baseline before it, %zu writes: max %.2f ms, p99 %.2f ms, "
               "median %.2f ms); all %zu acknowledged writes present after reopen\n",
               n, dim, t1 - t0, during_n, max_ms, max_at, p99_ms, p50_ms, base_n, base_max, base_p99,
               base_p50, w.count);
    if (!json)
        ck_slowest(&w, t0, t1, 8);
    vdb_free(w.log);
    return 0;
}
