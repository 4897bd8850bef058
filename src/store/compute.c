/* The BLAS product's self-test, warm-up and name for the API (compute.h):
 * kept in the store layer so api/ never includes kernel/. The generated
 * data comes from the seeded rng, so every run checks the same products. */
#include "compute.h"

#include <math.h>
#include <stddef.h>

#include "../core/alloc.h"
#include "../core/rng.h"
#include "../kernel/gemm.h"

/* Multiplies 100 random 384-d queries by 100 rows through the BLAS and
 * checks the products against a double-precision loop. */
int vdb_store_compute_selftest(double *worst_out, vdb_error *err)
{
    enum { N = VDB_STORE_SELFTEST_N, D = VDB_STORE_SELFTEST_D };
    float *a = vdb_malloc(N * D * sizeof(float)), *b = vdb_malloc(N * D * sizeof(float));
    float *c = vdb_malloc(N * N * sizeof(float));
    vdb_rng rng;
    double worst = 0;
    if (a == NULL || b == NULL || c == NULL) {
        vdb_free(a), vdb_free(b), vdb_free(c);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    vdb_rng_seed(&rng, 7);
    for (size_t i = 0; i < N * D; i++) {
        a[i] = (float)vdb_rng_gauss(&rng);
        b[i] = (float)vdb_rng_gauss(&rng);
    }
    vdb_gemm_qxt(a, N, b, N, D, c, N);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            double ref = 0;
            for (size_t k = 0; k < D; k++)
                ref += (double)a[i * D + k] * b[j * D + k];
            double e = fabs(ref - c[i * N + j]) / (1.0 + fabs(ref));
            worst = e > worst ? e : worst;
        }
    vdb_free(a), vdb_free(b), vdb_free(c);
    *worst_out = worst;
    return VDB_OK;
}

/* README-era warmup for a dimension (POST /performance/warmup): an sgemm
 * of queries against rows on generated data of that width. */
int vdb_store_compute_warm(uint32_t dim, vdb_error *err)
{
    enum { ROWS = 1024, QUERIES = 16 };
    float *rows = vdb_malloc((size_t)ROWS * dim * sizeof(float));
    float *q = vdb_malloc((size_t)QUERIES * dim * sizeof(float));
    float *scores = vdb_malloc((size_t)QUERIES * ROWS * sizeof(float));
    vdb_rng rng;
    if (rows == NULL || q == NULL || scores == NULL) {
        vdb_free(rows), vdb_free(q), vdb_free(scores);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for the warmup data");
    }
    vdb_rng_seed(&rng, dim);
    for (size_t i = 0; i < (size_t)ROWS * dim; i++)
        rows[i] = (float)vdb_rng_gauss(&rng);
    for (size_t i = 0; i < (size_t)QUERIES * dim; i++)
        q[i] = (float)vdb_rng_gauss(&rng);
    vdb_gemm_qxt(q, QUERIES, rows, ROWS, dim, scores, ROWS);
    vdb_free(rows), vdb_free(q), vdb_free(scores);
    return VDB_OK;
}

const char *vdb_store_compute_backend(void)
{
    return vdb_gemm_backend();
}
