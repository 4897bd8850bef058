/* `vdb import`: loads a float32/float64 .npy (n x dim) into a store, in
 * batches through the store's normal write path (WAL included), with a
 * progress bar. Ids and metadata come from an optional metadata.jsonl (one
 * object per line, its "id" field is the vector's id, as the seed stores
 * them); rows without one get generated ids. The store is created with the
 * file's dimension when it does not exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/json.h"
#include "bench.h"
#include "cli.h"
#include "cli_store.h"
#include "progress.h"
#include "../store/vecfile.h"

/* An .npz (key "vectors", float32, stored) through the store's own reader,
 * the same one /v1/batch/upload uses. */
static int read_npz(const char *path, float **data, size_t *rows, size_t *cols, vdb_error *err)
{
    vdb_vecfile *file = vdb_vecfile_open(path, err);
    if (file == NULL)
        return err->code;
    *rows = vdb_vecfile_rows(file);
    *cols = vdb_vecfile_dim(file);
    size_t total;
    int rc = vdb_mul_size(*rows ? *rows : 1, *cols, &total) != 0 ||
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
} import_opts;

static int parse(int argc, char **argv, import_opts *o)
{
    o->batch = 1000;
    o->metric = VDB_METRIC_COSINE;
    for (int i = 1; i < argc; i++) {
        int took = vdb_cli_target_flag(&o->target, argc, argv, &i);
        if (took < 0)
            return 2;
        if (took)
            continue;
        if (strcmp(argv[i], "--metadata") == 0 && i + 1 < argc) {
            o->metadata = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            o->batch = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--metric") == 0 && i + 1 < argc) {
            int m = vdb_metric_parse(argv[++i]);
            if (m < 0)
                return 2;
            o->metric = (vdb_metric)m;
        } else if (argv[i][0] != '-' && o->npy == NULL) {
            o->npy = argv[i];
        } else {
            return 2;
        }
    }
    return o->npy && o->target.user && o->target.model && o->batch > 0 ? 0 : 2;
}

/* Reads one metadata line per row: ids[i] (NULL when the line has none) and
 * metas[i] (the line's JSON text). */
static int read_metadata(const char *path, size_t rows, char **ids, char **metas)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, row = 0;
    ssize_t len;
    if (f == NULL) {
        fprintf(stderr, "vdb import: cannot open %s\n", path);
        return -1;
    }
    while (row < rows && (len = getline(&line, &cap, f)) > 0) {
        vdb_error err;
        vdb_json *obj, *id;
        if (len <= 1)
            continue; /* blank lines carry no row */
        obj = vdb_json_parse(line, (size_t)len, 0, &err);
        if (obj == NULL || vdb_json_typeof(obj) != VDB_JSON_OBJECT) {
            fprintf(stderr, "vdb import: %s line for row %zu: %s\n", path, row,
                    obj ? "not an object" : err.msg);
            vdb_json_decref(obj);
            free(line);
            fclose(f);
            return -1;
        }
        id = vdb_json_object_get(obj, "id");
        if (id != NULL && vdb_json_typeof(id) == VDB_JSON_STRING)
            ids[row] = vdb_strdup(vdb_json_string_value(id));
        metas[row] = vdb_strndup(line, line[len - 1] == '\n' ? (size_t)len - 1 : (size_t)len);
        vdb_json_decref(obj);
        row++;
    }
    free(line);
    fclose(f);
    if (row < rows) {
        fprintf(stderr, "vdb import: %s has %zu lines for %zu rows\n", path, row, rows);
        return -1;
    }
    return 0;
}

static vdb_store_handle *open_or_create(vdb_registry *registry, const import_opts *o, uint32_t dim)
{
    vdb_store_handle *handle = NULL;
    vdb_store_config config;
    vdb_error err;
    vdb_error_clear(&err);
    if (vdb_registry_acquire(registry, o->target.user, o->target.model, &handle, &err) == VDB_OK)
        return handle;
    if (err.code != VDB_ENOTFOUND) {
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
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: vdb import --user U --model M FILE.npy|FILE.npz [--metadata FILE.jsonl]\n"
                        "                  [--batch N] [--metric M] [--data-dir DIR]\n");
        return 2;
    }
    vdb_error_clear(&err);
    size_t plen = strlen(o.npy);
    int npz = plen > 4 && strcmp(o.npy + plen - 4, ".npz") == 0;
    if ((npz ? read_npz(o.npy, &data, &rows, &cols, &err)
             : vdb_bench_npy_read(o.npy, &data, &rows, &cols, &err)) != VDB_OK) {
        fprintf(stderr, "vdb import: %s\n", err.msg);
        return 1;
    }
    ids = vdb_calloc(rows ? rows : 1, sizeof(char *));
    metas = vdb_calloc(rows ? rows : 1, sizeof(char *));
    if (ids == NULL || metas == NULL || (o.metadata && read_metadata(o.metadata, rows, ids, metas)))
        goto cleanup;
    if ((registry = vdb_cli_registry(&o.target)) == NULL ||
        (handle = open_or_create(registry, &o, (uint32_t)cols)) == NULL)
        goto cleanup;
    t0 = vdb_bench_now();
    if (load(vdb_registry_store(handle), data, rows, (uint32_t)cols, o.batch, ids, metas) != 0)
        goto cleanup;
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
