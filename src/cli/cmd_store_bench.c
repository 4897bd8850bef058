/* `vdb store-bench`: durable-write and reopen benchmark of one store.
 *
 * Add mode (default): creates a store, adds --n vectors of --dim in
 * batches of --batch from --threads writer threads under the --fsync
 * policy, and reports acknowledged vectors/s (only the vdb_store_add calls
 * are timed; the random vectors are generated before each call), the WAL
 * fdatasync count (group commit) and the time of the closing checkpoint.
 * `--save-input FILE` also writes every added vector, in order, as a
 * float32 .npy (the numpy interop test compares it with vectors.npz).
 * Open mode (`--open DIR`): opens an existing store and reports the open
 * time and the process's resident memory right after it (VmRSS, VmHWM), so
 * a cold-start measurement is not polluted by the add phase.
 * `--checkpoint-latency` and `--optimize-deletes` are in store_bench_ckpt.c
 * and store_bench_optimize.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/rng.h"
#include "../store/store.h"
#include "bench.h"
#include "cli.h"

typedef struct sb_opts {
    const char *dir;
    const char *open_dir;
    const char *save_input;
    size_t n, batch;
    uint32_t dim;
    int threads;
    int keep;
    int json;
    int checkpoint_latency;
    int optimize_deletes;
    double delete_frac;  /* --optimize-deletes */
    size_t queries;      /* --optimize-deletes */
    size_t deletes; /* --checkpoint-latency: rows deleted before the checkpoint */
    uint64_t seed;
    uint64_t checkpoint_mb; /* 0 = the store's default */
    vdb_metric metric;
    vdb_index_kind index;
    vdb_fsync_policy fsync;
} sb_opts;

typedef struct sb_worker {
    const sb_opts *opts;
    vdb_store *store;
    size_t first_batch, batches; /* this worker's batch range */
    float *save;                 /* whole input when --save-input, else NULL */
    double add_seconds;
    double gen_cpu_seconds; /* this thread's CPU generating the input (not the store's work) */
    int rc;
    vdb_error err;
} sb_worker;

static long status_kb(const char *field)
{
    char text[8192]; /* /proc/self/status is ~1.5 KB */
    size_t len = strlen(field);
    if (vdb_fsx_read_text("/proc/self/status", text, sizeof(text), NULL, NULL) != VDB_OK)
        return -1;
    for (const char *line = text; line != NULL && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            return strtol(line + len + 1, NULL, 10);
    }
    return -1;
}

/* CPU seconds of `clock` (the process's or the calling thread's). */
static double cpu_now(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sb_worker_main(void *arg)
{
    sb_worker *w = arg;
    const sb_opts *o = w->opts;
    float *vectors = vdb_malloc(o->batch * o->dim * sizeof(float));
    char **ids = vdb_calloc(o->batch, sizeof(char *));
    char **metas = vdb_calloc(o->batch, sizeof(char *));
    char *text = vdb_malloc(o->batch * 64);
    vdb_rng rng;
    w->rc = VDB_OK;
    if (vectors == NULL || ids == NULL || metas == NULL || text == NULL) {
        w->rc = vdb_error_set(&w->err, VDB_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t b = w->first_batch; b < w->first_batch + w->batches && w->rc == VDB_OK; b++) {
        size_t first = b * o->batch;
        size_t rows = first + o->batch <= o->n ? o->batch : o->n - first;
        double t0, c0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
        vdb_rng_seed(&rng, o->seed ^ (b * 0x9E3779B97F4A7C15ull));
        for (size_t i = 0; i < rows * o->dim; i++)
            vectors[i] = (float)(vdb_rng_uniform(&rng) * 2.0 - 1.0);
        for (size_t i = 0; i < rows; i++) {
            ids[i] = text + i * 64;
            metas[i] = text + i * 64 + 24;
            snprintf(ids[i], 24, "v%zu", first + i);
            snprintf(metas[i], 40, "{\"i\":%zu,\"src\":\"bench\"}", first + i);
        }
        if (w->save != NULL)
            memcpy(w->save + first * o->dim, vectors, rows * o->dim * sizeof(float));
        w->gen_cpu_seconds += cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0;
        t0 = vdb_bench_now();
        w->rc = vdb_store_add(w->store, rows, vectors, (const char *const *)ids,
                              (const char *const *)metas, NULL, &w->err);
        w->add_seconds += vdb_bench_now() - t0;
    }
cleanup:
    vdb_free(text);
    vdb_free(metas);
    vdb_free(ids);
    vdb_free(vectors);
    return NULL;
}

static int sb_open(const sb_opts *o)
{
    vdb_error err;
    vdb_store_options options;
    vdb_store_stats stats;
    double t0 = vdb_bench_now(), seconds;
    vdb_store *store;
    long rss, hwm;
    vdb_store_options_default(&options);
    int rc = vdb_store_open(o->open_dir, &options, &store, &err);
    seconds = vdb_bench_now() - t0;
    rss = status_kb("VmRSS");
    hwm = status_kb("VmHWM");
    if (rc != VDB_OK) {
        fprintf(stderr, "vdb store-bench: %s\n", err.msg);
        return 1;
    }
    vdb_store_get_stats(store, &stats);
    if (o->json)
        printf("{\"open_seconds\": %.4f, \"vectors\": %zu, \"dim\": %u, \"data_bytes\": %zu, "
               "\"rss_kb_after_open\": %ld, \"peak_rss_kb\": %ld}\n",
               seconds, stats.vectors, vdb_store_get_config(store)->dim,
               stats.rows * vdb_store_get_config(store)->dim * sizeof(float), rss, hwm);
    else
        printf("open %s: %.3f s, %zu vectors x %u (%.1f MiB of vectors), RSS after open %.1f MiB, "
               "peak %.1f MiB\n",
               o->open_dir, seconds, stats.vectors, vdb_store_get_config(store)->dim,
               (double)stats.rows * vdb_store_get_config(store)->dim * 4 / 1048576.0,
               rss / 1024.0, hwm / 1024.0);
    /* Exit without vdb_store_close: the measurement is the open alone, and
     * a close would checkpoint. The kernel releases the lock. */
    return 0;
}

static int sb_add(const sb_opts *o)
{
    char dir[512];
    vdb_store_config config;
    vdb_store_options options;
    vdb_store_stats stats;
    vdb_error err;
    vdb_store *store;
    sb_worker *workers;
    float *save = NULL;
    size_t batches = (o->n + o->batch - 1) / o->batch, done = 0;
    double t0, wall, close_seconds;
    pthread_t *threads;
    int rc = 0;
    if (o->dir != NULL)
        snprintf(dir, sizeof(dir), "%s", o->dir);
    else
        snprintf(dir, sizeof(dir), "/tmp/vdb-store-bench-%ld", (long)getpid());
    vdb_store_config_default(&config);
    config.dim = o->dim;
    config.metric = o->metric;
    config.index = o->index;
    vdb_store_options_default(&options);
    options.fsync = o->fsync;
    if (o->checkpoint_mb > 0)
        options.wal_checkpoint_bytes = o->checkpoint_mb << 20;
    if (vdb_store_create(dir, &config, &options, &store, &err) != VDB_OK) {
        fprintf(stderr, "vdb store-bench: %s\n", err.msg);
        return 1;
    }
    if (o->save_input != NULL && (save = vdb_malloc(o->n * o->dim * sizeof(float))) == NULL) {
        fprintf(stderr, "vdb store-bench: out of memory for --save-input\n");
        vdb_store_close(store);
        return 1;
    }
    workers = vdb_calloc((size_t)o->threads, sizeof(*workers));
    threads = vdb_calloc((size_t)o->threads, sizeof(*threads));
    t0 = vdb_bench_now();
    double cpu0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
    for (int t = 0; t < o->threads; t++) {
        size_t share = batches / (size_t)o->threads + ((size_t)t < batches % (size_t)o->threads);
        workers[t] = (sb_worker){.opts = o, .store = store, .first_batch = done,
                                 .batches = share, .save = save};
        done += share;
        pthread_create(&threads[t], NULL, sb_worker_main, &workers[t]);
    }
    for (int t = 0; t < o->threads; t++) {
        pthread_join(threads[t], NULL);
        if (workers[t].rc != VDB_OK) {
            fprintf(stderr, "vdb store-bench: add failed: %s\n", workers[t].err.msg);
            rc = 1;
        }
    }
    wall = vdb_bench_now() - t0;
    /* The process's CPU over the add phase (writers, indexer, checkpointer,
     * pools) less the writers' own CPU generating the input: what the
     * store spent, comparable with a server's CPU per vector. */
    double add_cpu = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    for (int t = 0; t < o->threads; t++)
        add_cpu -= workers[t].gen_cpu_seconds;
    double add_seconds = 0;
    for (int t = 0; t < o->threads; t++)
        if (workers[t].add_seconds > add_seconds)
            add_seconds = workers[t].add_seconds;
    vdb_store_get_stats(store, &stats);
    t0 = vdb_bench_now();
    vdb_store_close(store);
    close_seconds = vdb_bench_now() - t0;
    if (rc == 0 && save != NULL &&
        vdb_bench_npy_write_f32(o->save_input, save, o->n, o->dim, &err) != VDB_OK) {
        fprintf(stderr, "vdb store-bench: %s\n", err.msg);
        rc = 1;
    }
    if (rc == 0 && o->json)
        printf("{\"n\": %zu, \"dim\": %u, \"batch\": %zu, \"threads\": %d, \"fsync\": \"%s\", "
               "\"durable_add_vectors_per_s\": %.0f, \"wall_vectors_per_s\": %.0f, "
               "\"wall_seconds\": %.3f, \"add_cpu_seconds\": %.3f, \"wal_syncs\": %llu, "
               "\"checkpoints_during_add\": %llu, \"close_checkpoint_seconds\": %.3f, "
               "\"dir\": \"%s\"}\n",
               o->n, o->dim, o->batch, o->threads,
               o->fsync == VDB_FSYNC_ALWAYS ? "always"
               : o->fsync == VDB_FSYNC_INTERVAL ? "interval" : "off",
               (double)o->n / add_seconds, (double)o->n / wall, wall, add_cpu,
               (unsigned long long)stats.wal_syncs,
               (unsigned long long)stats.checkpoints, close_seconds, dir);
    else if (rc == 0)
        printf("durable add: %zu x %u in batches of %zu, %d thread(s), fsync %s: %.0f vectors/s "
               "(%.3f s in add calls of the slowest writer; %.0f vectors/s over %.3f s wall incl. "
               "generating the data; %.3f s of the process's CPU, not counting generation), "
               "%llu WAL fdatasyncs, %llu checkpoints; closing checkpoint %.3f s\n",
               o->n, o->dim, o->batch, o->threads,
               o->fsync == VDB_FSYNC_ALWAYS ? "always"
               : o->fsync == VDB_FSYNC_INTERVAL ? "interval" : "off",
               (double)o->n / add_seconds, add_seconds, (double)o->n / wall, wall, add_cpu,
               (unsigned long long)stats.wal_syncs, (unsigned long long)stats.checkpoints,
               close_seconds);
    if (!o->keep && o->dir == NULL) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "vdb store-bench: could not remove %s\n", dir);
    }
    vdb_free(threads);
    vdb_free(workers);
    vdb_free(save);
    return rc;
}

/* The benchmark's directory: --dir, else a temporary one named by `tag`. */
static void sb_dir(const sb_opts *o, const char *tag, char *dir, size_t cap)
{
    if (o->dir != NULL)
        snprintf(dir, cap, "%s", o->dir);
    else
        snprintf(dir, cap, "/tmp/vdb-%s-bench-%ld", tag, (long)getpid());
}

/* Removes the benchmark's directory unless --keep. */
static void sb_cleanup(const sb_opts *o, const char *dir)
{
    char cmd[600];
    if (o->keep)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "vdb store-bench: could not remove %s\n", dir);
}

static int sb_checkpoint_latency(const sb_opts *o)
{
    char dir[512];
    sb_dir(o, "ckpt", dir, sizeof(dir));
    int rc = vdb_bench_store_checkpoint(dir, o->n, o->dim, o->seed, o->deletes, o->json);
    sb_cleanup(o, dir);
    return rc;
}

static int sb_optimize_deletes(const sb_opts *o)
{
    char dir[512];
    sb_dir(o, "optimize", dir, sizeof(dir));
    int rc = vdb_bench_store_optimize(dir, o->n, o->dim, o->delete_frac > 0 ? o->delete_frac : 0.1,
                                      o->queries ? o->queries : 500, o->seed, o->json);
    sb_cleanup(o, dir);
    return rc;
}

static void sb_usage(FILE *out)
{
    fprintf(out,
            "usage: vdb store-bench [--dir DIR] [--n N] [--dim D] [--batch B] [--threads T]\n"
            "                       [--fsync always|interval|off] [--metric M] [--seed S]\n"
            "                       [--index flat|hnsw|auto (default flat: the WAL alone)]\n"
            "                       [--checkpoint-mb MB] [--save-input FILE.npy] [--keep] [--json]\n"
            "       vdb store-bench --open DIR [--json]\n"
            "       vdb store-bench --checkpoint-latency [--dir DIR] [--n N] [--dim D] [--delete N]\n"
            "                       [--keep] [--json]\n"
            "       vdb store-bench --optimize-deletes [--dir DIR] [--n N] [--dim D]\n"
            "                       [--delete-frac F (0.1)] [--queries Q (500)] [--keep] [--json]\n"
            "Add mode creates DIR (default a temporary directory, removed unless --keep)\n"
            "and times durable adds; open mode times opening an existing store and\n"
            "reports resident memory right after it. --checkpoint-latency loads N vectors,\n"
            "then times a writer's single-vector adds while a checkpoint runs.\n"
            "--optimize-deletes builds an HNSW store of N vectors, deletes a fraction F\n"
            "from two copies and optimizes one with the graph repaired, the other rebuilt.\n");
}

int vdb_cmd_store_bench(int argc, char **argv)
{
    sb_opts o = {.n = 100000, .batch = 1000, .dim = 384, .threads = 1, .seed = 42,
                 .metric = VDB_METRIC_COSINE, .index = VDB_INDEX_FLAT,
                 .fsync = VDB_FSYNC_ALWAYS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sb_usage(stdout);
            return 0;
        } else if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--checkpoint-latency") == 0) {
            o.checkpoint_latency = 1;
        } else if (strcmp(a, "--optimize-deletes") == 0) {
            o.optimize_deletes = 1;
        } else if (v == NULL) {
            /* Say why before the usage, as every command does (cli_args.h). */
            if (a[0] == '-')
                fprintf(stderr, "vdb store-bench: '%s' needs a value (or is not an option)\n", a);
            else
                fprintf(stderr, "vdb store-bench: unexpected argument '%s'\n", a);
            sb_usage(stderr);
            return 2;
        } else if (strcmp(a, "--dir") == 0) {
            o.dir = v, i++;
        } else if (strcmp(a, "--open") == 0) {
            o.open_dir = v, i++;
        } else if (strcmp(a, "--save-input") == 0) {
            o.save_input = v, i++;
        } else if (strcmp(a, "--n") == 0) {
            o.n = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--dim") == 0) {
            o.dim = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--batch") == 0) {
            o.batch = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--threads") == 0) {
            o.threads = atoi(v), i++;
        } else if (strcmp(a, "--index") == 0) {
            int kind = vdb_index_kind_parse(v);
            if (kind >= 0) {
                o.index = (vdb_index_kind)kind;
            } else {
                fprintf(stderr, "vdb store-bench: --index flat|hnsw|auto\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--delete-frac") == 0) {
            o.delete_frac = atof(v), i++;
        } else if (strcmp(a, "--queries") == 0) {
            o.queries = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--delete") == 0) {
            o.deletes = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--checkpoint-mb") == 0) {
            o.checkpoint_mb = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--seed") == 0) {
            o.seed = strtoull(v, NULL, 10), i++;
        } else if (strcmp(a, "--metric") == 0) {
            int m = vdb_metric_parse(v);
            if (m < 0) {
                fprintf(stderr, "vdb store-bench: unknown metric '%s'\n", v);
                return 2;
            }
            o.metric = (vdb_metric)m, i++;
        } else if (strcmp(a, "--fsync") == 0) {
            if (strcmp(v, "always") == 0)
                o.fsync = VDB_FSYNC_ALWAYS;
            else if (strcmp(v, "interval") == 0)
                o.fsync = VDB_FSYNC_INTERVAL;
            else if (strcmp(v, "off") == 0)
                o.fsync = VDB_FSYNC_OFF;
            else {
                fprintf(stderr, "vdb store-bench: --fsync always|interval|off\n");
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "vdb store-bench: %s '%s'\n",
                    a[0] == '-' ? "unknown option" : "unexpected argument", a);
            sb_usage(stderr);
            return 2;
        }
    }
    if (o.open_dir != NULL)
        return sb_open(&o);
    if (o.n == 0 || o.batch == 0 || o.dim == 0 || o.threads < 1 || o.threads > 64) {
        fprintf(stderr, "vdb store-bench: --n, --batch, --dim must be > 0, --threads 1..64\n");
        return 2;
    }
    if (o.checkpoint_latency)
        return sb_checkpoint_latency(&o);
    if (o.optimize_deletes)
        return sb_optimize_deletes(&o);
    return sb_add(&o);
}
