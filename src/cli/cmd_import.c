/* `vdb import`: loads a float32/float64 .npy (n x dim) into a store, in
 * batches through the store's normal write path (WAL included), with a
 * progress report. Ids and metadata come from an optional JSONL file, one
 * object per row, in the store's own metadata.jsonl format or the seed's
 * (see USAGE); rows without an id get generated ones. The store is created with the
 * file's dimension when it does not exist. When the store has an HNSW
 * graph, the command then waits (with a second progress bar) until the
 * graph covers every row, so the closing checkpoint saves the whole graph
 * and the next open loads it instead of building it again. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "bench.h"
#include "../core/limits.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"
#include "progress.h"
#include "../store/vecfile.h"

/* An .npz (key "vectors", float32, stored) through the store's own reader,
 * the same one /v1/batch/upload uses. */
static int read_npz(const char *path, float **data, size_t *rows, size_t *cols, vdb_error *err)
{
    vdb_vecfile *file = NULL;
    int rc = vdb_vecfile_open(path, &file, err);
    if (rc != VDB_OK)
        return rc;
    *rows = vdb_vecfile_rows(file);
    *cols = vdb_vecfile_dim(file);
    size_t total;
    rc = vdb_mul_size(*rows ? *rows : 1, *cols, &total) != 0 ||
                 (*data = vdb_malloc(total * sizeof(float))) == NULL
             ? vdb_error_set(err, VDB_ENOMEM, "%s: too large", path)
             : vdb_vecfile_read_rows(file, 0, *rows, *data, err);
    vdb_vecfile_close(file);
    return rc;
}

typedef struct import_opts {
    vdb_cli_target target;
    const char *npy, *metadata;
    size_t batch;
    vdb_metric metric;
    int metric_given; /* --metric was on the command line */
} import_opts;

static const char USAGE[] =
    "usage: vdb import --user U --model M FILE.npy [--metadata FILE.jsonl]\n"
    "                  [--batch N] [--metric cosine|euclidean|dot] [--data-dir DIR]\n"
    "\n"
    "FILE.npy is a 2-D float32 or float64 array (rows x dim). A new store gets\n"
    "the file's dimension and --metric (default cosine); an existing store must\n"
    "have the same dimension (and metric, when --metric is given).\n"
    "\n"
    "--metadata FILE.jsonl has one JSON object per row, in row order, in either\n"
    "of two formats:\n"
    "  {\"id\": \"a\", \"metadata\": {\"source\": \"x\"}}   the store's own metadata.jsonl\n"
    "      (exactly the keys id and metadata): id is the vector's id, metadata its payload\n"
    "  {\"id\": \"a\", \"source\": \"x\"}                  the seed's format: the whole\n"
    "      object is the payload, its string \"id\" (if any) the vector's id\n"
    "Rows without an id get generated ones.\n";

#define FAIL(...) vdb_cli_usage_error("import", USAGE, __VA_ARGS__)

/* Returns 0 to go on, 1 after --help, 2 on a usage error (printed). */
static int parse(int argc, char **argv, import_opts *o)
{
    unsigned long long n;
    o->batch = 1000;
    o->metric = VDB_METRIC_COSINE;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *v;
        int step = vdb_cli_common(&o->target, USAGE, argc, argv, &i);
        if (step == VDB_CLI_TOOK)
            continue;
        if (step != VDB_CLI_OWN)
            return step == VDB_CLI_HELP ? 1 : 2;
        if (flag[0] != '-') {
            if (o->npy != NULL)
                return FAIL("unexpected argument '%s' (one .npy file per import)", flag);
            o->npy = flag;
            continue;
        }
        if (strcmp(flag, "--metadata") != 0 && strcmp(flag, "--batch") != 0 &&
            strcmp(flag, "--metric") != 0)
            return vdb_cli_unknown("import", USAGE, flag);
        if ((v = vdb_cli_value("import", USAGE, argc, argv, &i)) == NULL)
            return 2;
        if (strcmp(flag, "--metadata") == 0) {
            o->metadata = v;
        } else if (strcmp(flag, "--batch") == 0) {
            if (vdb_cli_parse_uint("import", USAGE, "--batch", v, 1, VDB_MAX_BATCH, &n))
                return 2;
            o->batch = (size_t)n;
        } else {
            int m = vdb_metric_parse(v);
            if (m < 0)
                return FAIL("unknown metric '%s' (cosine, euclidean, l2 or dot)", v);
            o->metric = (vdb_metric)m;
            o->metric_given = 1;
        }
    }
    if (o->target.user == NULL || o->target.model == NULL)
        return FAIL("%s is required", o->target.user == NULL ? "--user" : "--model");
    if (o->npy == NULL)
        return FAIL("which .npy file? (give its path)");
    return 0;
}

/* One metadata line: the store's own format ({"id", "metadata"} and nothing
 * else) or the seed's (the object is the payload). Sets *id (caller frees,
 * NULL when none) and *meta (the payload's JSON text, caller frees). */
static int parse_meta_line(const char *line, size_t len, char **id, char **meta, vdb_error *err)
{
    vdb_json *obj = NULL, *idv, *inner;
    int rc = vdb_json_parse(line, len, 0, &obj, err);
    if (rc != VDB_OK)
        return rc;
    if (vdb_json_typeof(obj) != VDB_JSON_OBJECT) {
        vdb_json_decref(obj);
        return vdb_error_set(err, VDB_EPARSE, "not a JSON object");
    }
    idv = vdb_json_object_get(obj, "id");
    inner = vdb_json_object_get(obj, "metadata");
    if (idv != NULL && vdb_json_typeof(idv) == VDB_JSON_STRING)
        *id = vdb_strdup(vdb_json_string_value(idv));
    if (inner != NULL && vdb_json_object_size(obj) == 2 && idv != NULL) {
        char *text;
        if (vdb_json_typeof(inner) != VDB_JSON_OBJECT) {
            rc = vdb_error_set(err, VDB_EPARSE, "\"metadata\" is not an object");
        } else if ((text = vdb_json_dump(inner, VDB_JSON_DUMP_COMPACT)) != NULL) {
            *meta = vdb_strdup(text);
            vdb_json_free_text(text);
        }
    } else {
        *meta = vdb_strndup(line, len);
    }
    if (rc == VDB_OK && (*meta == NULL || (idv != NULL && vdb_json_typeof(idv) == VDB_JSON_STRING &&
                                           *id == NULL)))
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory");
    vdb_json_decref(obj);
    return rc;
}

/* Reads one metadata line per row into ids[i] (NULL when the line has none)
 * and metas[i]. */
static int read_metadata(const char *path, size_t rows, char **ids, char **metas)
{
    /* Read whole: the parsed texts are held for every row anyway, so the
     * file at most doubles what the import holds for a moment. */
    char *text = NULL, *line, *end, *next;
    size_t size = 0, row = 0, lineno = 0;
    vdb_error err;
    if (vdb_fsx_read_file(path, SIZE_MAX / 2, &text, &size, &err) != VDB_OK) {
        fprintf(stderr, "vdb import: cannot read --metadata: %s\n", err.msg);
        return -1;
    }
    end = text + size;
    for (line = text; row < rows && line < end; line = next) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        next = line + len + (nl != NULL);
        lineno++;
        if (len == 0)
            continue; /* blank lines carry no row */
        vdb_error_clear(&err);
        if (parse_meta_line(line, len, &ids[row], &metas[row], &err) != VDB_OK) {
            fprintf(stderr, "vdb import: %s line %zu (row %zu): %s\n", path, lineno, row, err.msg);
            vdb_free(text);
            return -1;
        }
        row++;
    }
    vdb_free(text);
    if (row < rows) {
        fprintf(stderr, "vdb import: %s has %zu metadata lines for %zu rows\n", path, row, rows);
        return -1;
    }
    return 0;
}

static vdb_store_handle *open_or_create(vdb_registry *registry, const import_opts *o, uint32_t dim)
{
    vdb_store_handle *handle = NULL;
    vdb_store_config config;
    const vdb_store_config *have;
    vdb_error err;
    vdb_error_clear(&err);
    int rc = vdb_registry_acquire(registry, o->target.user, o->target.model, &handle, &err);
    if (rc == VDB_OK) {
        /* Rows are read as the store's dim floats each: a file of another
         * width would be read past its end (or folded into garbage rows). */
        have = vdb_store_get_config(vdb_registry_store(handle));
        if (have->dim != dim) {
            fprintf(stderr,
                    "vdb import: %s has dimension %u but store %s/%s has dimension %u; "
                    "import into a new store (another --model) instead\n",
                    o->npy, dim, o->target.user, o->target.model, have->dim);
            vdb_registry_release(handle);
            return NULL;
        }
        if (o->metric_given && have->metric != o->metric) {
            fprintf(stderr,
                    "vdb import: --metric %s but store %s/%s uses %s (a store's metric is "
                    "fixed when it is created); drop --metric or use another --model\n",
                    vdb_metric_name(o->metric), o->target.user, o->target.model,
                    vdb_metric_name(have->metric));
            vdb_registry_release(handle);
            return NULL;
        }
        return handle;
    }
    if (rc != VDB_ENOTFOUND) {
        fprintf(stderr, "vdb import: %s\n", err.msg);
        return NULL;
    }
    vdb_store_config_default(&config);
    config.dim = dim;
    config.metric = o->metric;
    if (vdb_registry_create(registry, o->target.user, o->target.model, &config, &handle, &err) !=
        VDB_OK) {
        fprintf(stderr, "vdb import: %s\n", err.msg);
        return NULL;
    }
    return handle;
}

static int load(vdb_store *store, const float *data, size_t rows, uint32_t dim, size_t batch,
                char **ids, char **metas)
{
    vdb_progress bar;
    vdb_error err;
    vdb_progress_start(&bar, "import", rows);
    for (size_t at = 0; at < rows; at += batch) {
        size_t count = rows - at < batch ? rows - at : batch;
        vdb_error_clear(&err);
        if (vdb_store_add(store, count, data + at * dim, (const char *const *)ids + at,
                          (const char *const *)metas + at, NULL, &err) != VDB_OK) {
            vdb_progress_finish(&bar);
            fprintf(stderr, "vdb import: rows %zu..%zu: %s\n", at, at + count - 1, err.msg);
            return -1;
        }
        vdb_progress_update(&bar, at + count);
    }
    vdb_progress_finish(&bar);
    return 0;
}

typedef struct index_waiter {
    vdb_store *store;
    atomic_int done;
} index_waiter;

static void *index_waiter_main(void *arg)
{
    index_waiter *w = arg;
    vdb_store_wait_indexed(w->store);
    atomic_store(&w->done, 1);
    return NULL;
}

/* The wait blocks in the store; this thread only draws the bar from the
 * graph's row count until the waiter returns. */
static void wait_indexed(vdb_store *store)
{
    index_waiter w = {.store = store};
    vdb_store_stats stats;
    vdb_progress bar;
    pthread_t thread;
    vdb_store_get_stats(store, &stats);
    if (strcmp(stats.index_name, "hnsw") != 0 || stats.index_rows >= stats.rows)
        return;
    if (pthread_create(&thread, NULL, index_waiter_main, &w) != 0) {
        vdb_store_wait_indexed(store);
        return;
    }
    vdb_progress_start(&bar, "index", stats.rows);
    for (;;) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        int done = atomic_load(&w.done); /* read first: the draw after it is final */
        vdb_store_get_stats(store, &stats);
        vdb_progress_update(&bar, stats.index_rows < bar.total ? stats.index_rows : bar.total);
        if (done)
            break;
        nanosleep(&tick, NULL);
    }
    pthread_join(thread, NULL);
    vdb_progress_finish(&bar);
}

int vdb_cmd_import(int argc, char **argv)
{
    import_opts o = {0};
    float *data = NULL;
    size_t rows = 0, cols = 0;
    char **ids = NULL, **metas = NULL;
    vdb_registry *registry = NULL;
    vdb_store_handle *handle = NULL;
    vdb_error err;
    double t0;
    int status = 1;
    if ((status = parse(argc, argv, &o)) != 0)
        return status == 1 ? 0 : status;
    status = 1;
    vdb_error_clear(&err);
    size_t plen = strlen(o.npy);
    int npz = plen > 4 && strcmp(o.npy + plen - 4, ".npz") == 0;
    if ((npz ? read_npz(o.npy, &data, &rows, &cols, &err)
             : vdb_bench_npy_read(o.npy, &data, &rows, &cols, &err)) != VDB_OK) {
        fprintf(stderr, "vdb import: %s\n", err.msg);
        return 1;
    }
    if (cols > VDB_MAX_DIM) {
        fprintf(stderr, "vdb import: %s has dimension %zu; the most is %u\n", o.npy, cols,
                VDB_MAX_DIM);
        vdb_free(data);
        return 1;
    }
    ids = vdb_calloc(rows ? rows : 1, sizeof(char *));
    metas = vdb_calloc(rows ? rows : 1, sizeof(char *));
    if (ids == NULL || metas == NULL || (o.metadata && read_metadata(o.metadata, rows, ids, metas)))
        goto cleanup;
    if ((registry = vdb_cli_registry(&o.target, 1)) == NULL ||
        (handle = open_or_create(registry, &o, (uint32_t)cols)) == NULL)
        goto cleanup;
    t0 = vdb_bench_now();
    if (load(vdb_registry_store(handle), data, rows, (uint32_t)cols, o.batch, ids, metas) != 0)
        goto cleanup;
    wait_indexed(vdb_registry_store(handle));
    printf("imported %zu vectors (dim %zu) into %s/%s in %.2f s; store now holds %zu\n", rows,
           cols, o.target.user, o.target.model, vdb_bench_now() - t0,
           vdb_store_count(vdb_registry_store(handle)));
    status = 0;
cleanup:
    for (size_t i = 0; ids && metas && i < rows; i++) {
        vdb_free(ids[i]);
        vdb_free(metas[i]);
    }
    vdb_free(ids);
    vdb_free(metas);
    vdb_free(data);
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return status;
}
