/* Data for `vdb bench`: the seeded generator, minimal .npy reading and
 * writing (2-D, C order, little endian), the clock and the recall measure.
 * See bench.h. */
#include "bench.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/npy.h"
#include "../core/rng.h"
#include "../kernel/dist.h"

double vdb_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void vdb_bench_percentiles(double *latencies, size_t n, double *p50_ms, double *p99_ms)
{
    size_t p99 = (n * 99) / 100;
    qsort(latencies, n, sizeof(double), cmp_double);
    *p50_ms = latencies[n / 2] * 1e3;
    *p99_ms = latencies[p99 < n ? p99 : n - 1] * 1e3;
}

/* Draws a cluster with probability proportional to 1/(rank+1)^0.5: real
 * corpora have a few big topics and a long tail of small ones. */
static size_t draw_cluster(vdb_rng *rng, const double *cdf, size_t clusters)
{
    double u = vdb_rng_uniform(rng);
    size_t lo = 0, hi = clusters - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void draw_points(vdb_rng *rng, const float *centres, const float *spreads,
                        const double *cdf, size_t clusters, uint32_t dim, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = draw_cluster(rng, cdf, clusters);
        const float *centre = centres + c * dim;
        float *p = out + i * dim;
        for (uint32_t d = 0; d < dim; d++)
            p[d] = centre[d] + spreads[c] * (float)vdb_rng_gauss(rng);
    }
}

int vdb_bench_generate(size_t n, size_t nq, uint32_t dim, size_t clusters, uint64_t seed,
                       float **data_out, float **queries_out, vdb_error *err)
{
    vdb_rng rng;
    float *centres = NULL, *spreads = NULL, *data = NULL, *queries = NULL;
    double *cdf = NULL, total = 0.0;
    int rc = VDB_ENOMEM;
    if (clusters == 0)
        clusters = 1;
    centres = vdb_malloc(clusters * dim * sizeof(float));
    spreads = vdb_malloc(clusters * sizeof(float));
    cdf = vdb_malloc(clusters * sizeof(double));
    data = vdb_malloc((n ? n : 1) * dim * sizeof(float));
    queries = vdb_malloc((nq ? nq : 1) * dim * sizeof(float));
    if (!centres || !spreads || !cdf || !data || !queries) {
        vdb_error_set(err, rc, "generator: out of memory for %zu x %u", n, dim);
        goto cleanup;
    }
    vdb_rng_seed(&rng, seed);
    for (size_t c = 0; c < clusters; c++) {
        float *centre = centres + c * dim;
        for (uint32_t d = 0; d < dim; d++)
            centre[d] = (float)vdb_rng_gauss(&rng);
        vdb_dist_normalize(centre, dim);
        /* Per-dimension noise so a point's offset from its centre has norm
         * 0.35..0.65 of the centre's: clusters overlap like topics do. */
        spreads[c] = (float)((0.35 + 0.3 * vdb_rng_uniform(&rng)) / sqrt((double)dim));
        total += 1.0 / sqrt((double)c + 1.0);
        cdf[c] = total;
    }
    for (size_t c = 0; c < clusters; c++)
        cdf[c] /= total;
    draw_points(&rng, centres, spreads, cdf, clusters, dim, data, n);
    vdb_rng_seed(&rng, seed ^ 0x5EEDF00Dull); /* independent stream: held-out queries */
    draw_points(&rng, centres, spreads, cdf, clusters, dim, queries, nq);
    *data_out = data;
    *queries_out = queries;
    data = queries = NULL;
    rc = VDB_OK;
cleanup:
    vdb_free(centres);
    vdb_free(spreads);
    vdb_free(cdf);
    vdb_free(data);
    vdb_free(queries);
    return rc;
}

int vdb_bench_npy_read(const char *path, float **data_out, size_t *rows, size_t *cols,
                       vdb_error *err)
{
    unsigned char pre[VDB_NPY_PREAMBLE_MAX], *head = NULL;
    size_t data_off, count, bytes;
    uint64_t size;
    vdb_npy_info info;
    vdb_error perr;
    float *data = NULL;
    ssize_t got;
    int rc, fd = vdb_fsx_open(path, O_RDONLY, 0, err);
    if (fd < 0)
        return fd;
    if ((rc = vdb_fsx_size(fd, &size, path, err)) != VDB_OK)
        goto cleanup;
    got = vdb_fsx_read(fd, pre, sizeof pre, 0, path, err);
    if (got < 0) {
        rc = (int)got;
        goto cleanup;
    }
    if (vdb_npy_header_len(pre, (size_t)got, &data_off, &perr) != VDB_OK ||
        data_off > size || (head = vdb_malloc(data_off)) == NULL ||
        vdb_fsx_read(fd, head, data_off, 0, path, err) != (ssize_t)data_off ||
        vdb_npy_parse(head, data_off, &info, &perr) != VDB_OK) {
        rc = vdb_error_set(err, VDB_EPARSE, "%s: not a readable .npy file", path);
        goto cleanup;
    }
    if (info.ndim != 2 || info.shape[1] == 0 || info.dtype == VDB_NPY_I4) {
        /* Say what the file has, not just what was wanted. */
        if (info.ndim != 2)
            rc = vdb_error_set(err, VDB_EPARSE,
                               "%s: need a 2-D float32 or float64 array (rows x dim); this one "
                               "is 1-D, shape (%zu,)",
                               path, info.shape[0]);
        else
            rc = vdb_error_set(err, VDB_EPARSE,
                               "%s: need a 2-D float32 or float64 array (rows x dim); this one "
                               "is %s, shape (%zu, %zu)",
                               path, info.dtype == VDB_NPY_I4 ? "int32" : "float",
                               info.shape[0], info.shape[1]);
        goto cleanup;
    }
    if (vdb_mul_size(info.shape[0], info.shape[1], &count) != 0 ||
        vdb_mul_size(count, info.item_size, &bytes) != 0 || bytes > size - data_off) {
        rc = vdb_error_set(err, VDB_EPARSE, "%s: truncated data", path);
        goto cleanup;
    }
    /* f8 data is read into the same buffer and narrowed in place. */
    data = vdb_malloc(bytes ? bytes : 1);
    if (data == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if (vdb_fsx_read(fd, data, bytes, (off_t)data_off, path, err) != (ssize_t)bytes) {
        rc = vdb_error_set(err, VDB_EPARSE, "%s: truncated data", path);
        goto cleanup;
    }
    if (info.dtype == VDB_NPY_F8) {
        const double *wide = (const double *)(void *)data;
        for (size_t i = 0; i < count; i++)
            data[i] = (float)wide[i]; /* in place: reading index >= writing index */
    }
    *rows = info.shape[0];
    *cols = info.shape[1];
    *data_out = data;
    data = NULL;
    rc = VDB_OK;
cleanup:
    vdb_free(data);
    vdb_free(head);
    vdb_fsx_close(fd, path, NULL);
    return rc;
}

static int npy_write(const char *path, const char *descr, const void *data, size_t width,
                     size_t rows, size_t cols, vdb_error *err)
{
    char header[256];
    size_t header_len = vdb_npy_build(header, sizeof header, descr, rows, cols, 2), count, bytes;
    int rc, fd;
    if (header_len == 0 || vdb_mul_size(rows, cols, &count) != 0 ||
        vdb_mul_size(count, width, &bytes) != 0)
        return vdb_error_set(err, VDB_ERANGE, "%s: array too large", path);
    fd = vdb_fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, err);
    if (fd < 0)
        return fd;
    rc = vdb_fsx_write(fd, header, header_len, -1, path, err);
    if (rc == VDB_OK)
        rc = vdb_fsx_write(fd, data, bytes, -1, path, err);
    /* Keep close's own code: a delayed write error is VDB_ENOSPC, not EIO. */
    int close_rc = vdb_fsx_close(fd, path, rc == VDB_OK ? err : NULL);
    if (rc == VDB_OK)
        rc = close_rc;
    return rc;
}

int vdb_bench_npy_write_f32(const char *path, const float *data, size_t rows, size_t cols,
                            vdb_error *err)
{
    return npy_write(path, "<f4", data, 4, rows, cols, err);
}

int vdb_bench_npy_write_i32(const char *path, const int32_t *data, size_t rows, size_t cols,
                            vdb_error *err)
{
    return npy_write(path, "<i4", data, 4, rows, cols, err);
}

double vdb_bench_recall(const vdb_hit *got, const size_t *got_counts, const vdb_hit *truth,
                        const size_t *truth_counts, size_t nq, size_t k)
{
    size_t found = 0, wanted = 0;
    for (size_t q = 0; q < nq; q++) {
        size_t want = truth_counts[q];
        float kth;
        if (want == 0)
            continue;
        kth = truth[q * k + want - 1].dist;
        for (size_t i = 0; i < got_counts[q] && i < want; i++)
            if (got[q * k + i].dist <= kth + 1e-5f * fmaxf(1.0f, fabsf(kth)))
                found++;
        wanted += want;
    }
    return wanted == 0 ? 1.0 : (double)found / (double)wanted;
}
