/* hnsw.idx save and load timed on their own (issue 10: the file's checksum
 * moved to CRC32C in format version 2). Builds one graph over `--n`
 * uniform random rows of dim 8 (M 16, ef_construction 40), then saves and
 * loads it `--repeat` times and prints the best and median of each. The
 * file stays in the page cache, so a load times the loader's CPU work
 * (reads, checksum, validation), not the disk; a save includes its fsync.
 *
 *   build/hnsw_io [--n 40000] [--repeat 25] [--file PATH]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/rng.h"
#include "index/hnsw.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    unsigned n = 40000, repeat = 25, dim = 8;
    const char *path = "/tmp/vdb-hnsw-io-bench.idx";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--file") == 0)
            path = argv[i + 1];
    }
    if (n == 0 || repeat == 0) {
        fprintf(stderr, "usage: hnsw_io [--n N] [--repeat R] [--file PATH]\n");
        return 2;
    }
    float *data = malloc((size_t)n * dim * sizeof(float));
    double *save = malloc(repeat * sizeof(double)), *load = malloc(repeat * sizeof(double));
    vdb_rng rng;
    vdb_rng_seed(&rng, 5);
    for (size_t i = 0; i < (size_t)n * dim; i++)
        data[i] = (float)vdb_rng_uniform(&rng);
    vdb_error err;
    vdb_hnsw_params p;
    vdb_hnsw_params_default(&p);
    p.m = 16;
    p.ef_construction = 40;
    vdb_hnsw *h = NULL;
    vdb_vecview view = {data, NULL, n, dim, VDB_METRIC_L2};
    if (vdb_hnsw_new(dim, VDB_METRIC_L2, &p, &h, &err) != VDB_OK || vdb_hnsw_build(h, &view, 0, n, &err) != VDB_OK) {
        fprintf(stderr, "build: %s\n", err.msg);
        return 1;
    }
    for (unsigned r = 0; r < repeat; r++) {
        double t = now();
        if (vdb_hnsw_save(h, path, &err) != VDB_OK) {
            fprintf(stderr, "save: %s\n", err.msg);
            return 1;
        }
        save[r] = now() - t;
        t = now();
        vdb_hnsw *g = NULL;
        int lrc = vdb_hnsw_load(path, dim, VDB_METRIC_L2, &g, &err);
        load[r] = now() - t;
        if (lrc != VDB_OK) {
            fprintf(stderr, "load: %s\n", err.msg);
            return 1;
        }
        vdb_hnsw_free(g);
    }
    qsort(save, repeat, sizeof(double), cmp_double);
    qsort(load, repeat, sizeof(double), cmp_double);
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f != NULL)
        fclose(f);
    remove(path);
    printf("n %u, file %.2f MB: save best %.2f ms median %.2f ms; load best %.2f ms median %.2f ms\n",
           n, (double)size / 1e6, save[0] * 1e3, save[repeat / 2] * 1e3, load[0] * 1e3,
           load[repeat / 2] * 1e3);
    vdb_hnsw_free(h);
    free(data);
    free(save);
    free(load);
    return 0;
}
