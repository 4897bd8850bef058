/* Helpers shared by the C benchmarks in bench/ (quant_scan.c,
 * store_exact.c): a monotonic clock and whole-file .npy loading.
 * Benchmark-only code: a failure prints and exits. */
#ifndef VDB_BENCH_BENCH_UTIL_H
#define VDB_BENCH_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/npy.h"
#include "index/flat.h"

typedef struct matrix {
    void *data;
    size_t rows, cols;
} matrix;

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The calling thread's CPU time in seconds (time descheduled does not
 * count: for A/B timing on a loaded machine). */
static inline double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* DIR/NAME, a 2-d .npy of dtype `want`, read whole into a 64-byte aligned
 * buffer (as a store maps rows); caller frees data with vdb_aligned_free. */
static inline matrix load(const char *dir, const char *name, vdb_npy_dtype want)
{
    char path[4096];
    unsigned char head[4096];
    vdb_npy_info info;
    vdb_error err = {0};
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    size_t got = f != NULL ? fread(head, 1, sizeof(head), f) : 0;
    if (f == NULL || vdb_npy_parse(head, got, &info, &err) != VDB_OK || info.dtype != want ||
        info.ndim != 2) {
        fprintf(stderr, "%s: not a 2-d .npy of the expected type %s\n", path, err.msg);
        exit(1);
    }
    size_t bytes = info.shape[0] * info.shape[1] * info.item_size;
    matrix m = {vdb_aligned_alloc(64, bytes + 64), info.shape[0], info.shape[1]};
    if (m.data == NULL || fseek(f, (long)info.data_off, SEEK_SET) != 0 ||
        fread(m.data, 1, bytes, f) != bytes) {
        fprintf(stderr, "%s: short read\n", path);
        exit(1);
    }
    fclose(f);
    return m;
}

/* Prepares the data in place as a store holds it (cosine rows normalized)
 * and the first nq queries as a search expects them; returns the view over
 * the rows. Exits on a non-finite query. */
static inline vdb_vecview prepare_view(matrix *data, matrix *queries, size_t nq, int metric)
{
    uint32_t dim = (uint32_t)data->cols;
    float *rows = data->data, *qs = queries->data;
    vdb_error err = {0};
    if (metric == VDB_METRIC_COSINE)
        for (size_t r = 0; r < data->rows; r++)
            vdb_flat_prepare_query(VDB_METRIC_COSINE, rows + r * dim, rows + r * dim, dim, NULL);
    for (size_t i = 0; i < nq; i++)
        if (vdb_flat_prepare_query((vdb_metric)metric, qs + i * dim, qs + i * dim, dim, &err)) {
            fprintf(stderr, "query %zu: %s\n", i, err.msg);
            exit(1);
        }
    return (vdb_vecview){rows, NULL, (uint32_t)data->rows, dim, (vdb_metric)metric};
}

#endif
