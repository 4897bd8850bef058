/* Data for `vdb bench`: the seeded generator, minimal .npy reading and
 * writing (2-D, C order, little endian), the clock and the recall measure.
 * See bench.h. */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
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

/* Parses "(rows, cols)" out of the header dict. */
static int parse_shape(const char *header, size_t *rows, size_t *cols)
{
    const char *shape = strstr(header, "'shape':");
    unsigned long long r, c;
    if (shape == NULL || sscanf(shape, "'shape': (%llu, %llu)", &r, &c) != 2)
        return -1;
    *rows = (size_t)r;
    *cols = (size_t)c;
    return 0;
}

int vdb_bench_npy_read(const char *path, float **data_out, size_t *rows, size_t *cols,
                       vdb_error *err)
{
    unsigned char pre[10];
    char header[4096];
    size_t header_len, count, width;
    int is_f8;
    float *data = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return vdb_error_set(err, VDB_ENOTFOUND, "cannot open %s", path);
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) {
        fclose(f);
        return vdb_error_set(err, VDB_EPARSE, "%s: not a version 1 .npy file", path);
    }
    header_len = (size_t)pre[8] | ((size_t)pre[9] << 8);
    if (header_len >= sizeof(header) || fread(header, 1, header_len, f) != header_len) {
        fclose(f);
        return vdb_error_set(err, VDB_EPARSE, "%s: bad .npy header", path);
    }
    header[header_len] = '\0';
    is_f8 = strstr(header, "'<f8'") != NULL;
    if ((!is_f8 && strstr(header, "'<f4'") == NULL) || strstr(header, "'fortran_order': True") ||
        parse_shape(header, rows, cols) != 0 || *cols == 0) {
        /* Name what the file has (its shape, dtype) rather than echoing the
         * padded header dict. */
        const char *shape = strstr(header, "'shape':");
        const char *descr = strstr(header, "'descr':");
        int shape_len = shape ? (int)strcspn(shape, ")") + 1 : 0;
        int descr_len = descr ? (int)strcspn(descr + 8, ",}") + 8 : 0;
        fclose(f);
        return vdb_error_set(err, VDB_EPARSE,
                             "%s: need a 2-D C-order float32 or float64 array (rows x dim); "
                             "this file has %.*s%s%.*s%s",
                             path, descr_len, descr ? descr : "", descr ? ", " : "", shape_len,
                             shape ? shape : "", strstr(header, "'fortran_order': True")
                                                     ? ", Fortran order" : "");
    }
    width = is_f8 ? 8 : 4;
    count = *rows * *cols;
    data = vdb_malloc((count ? count : 1) * sizeof(float) * (is_f8 ? 2 : 1));
    if (data == NULL || fread(data, width, count, f) != count) {
        vdb_free(data);
        fclose(f);
        return vdb_error_set(err, VDB_EPARSE, "%s: truncated data", path);
    }
    fclose(f);
    if (is_f8) {
        const double *wide = (const double *)(void *)data;
        for (size_t i = 0; i < count; i++)
            data[i] = (float)wide[i]; /* in place: reading index >= writing index */
    }
    *data_out = data;
    return VDB_OK;
}

static int npy_write(const char *path, const char *descr, const void *data, size_t width,
                     size_t rows, size_t cols, vdb_error *err)
{
    char header[256];
    int len = snprintf(header, sizeof(header),
                       "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr,
                       rows, cols);
    size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return vdb_error_set(err, VDB_EIO, "cannot create %s", path);
    pre[8] = (unsigned char)((len + 1 + pad) & 0xFF);
    pre[9] = (unsigned char)((len + 1 + pad) >> 8);
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)len, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, width, rows * cols, f);
    if (fclose(f) != 0)
        return vdb_error_set(err, VDB_EIO, "write to %s failed", path);
    return VDB_OK;
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
