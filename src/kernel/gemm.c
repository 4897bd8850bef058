/* BLAS adapter: sgemm for batched exact search. OpenBLAS exposes its thread
 * count and core name through extensions we call when present. */
#include "gemm.h"

#include <stdio.h>

#if defined(VDB_USE_ACCELERATE)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

void vdb_gemm_qxt(const float *q, size_t nq, const float *x, size_t nx, size_t dim, float *out,
                  size_t ldo)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nx, (int)dim, 1.0f, q,
                (int)dim, x, (int)dim, 0.0f, out, (int)ldo);
}

#if defined(VDB_USE_ACCELERATE)
void vdb_gemm_set_threads(int nthreads)
{
    (void)nthreads;
}

const char *vdb_gemm_backend(void)
{
    return "accelerate";
}
#else
void vdb_gemm_set_threads(int nthreads)
{
    if (nthreads > 0)
        openblas_set_num_threads(nthreads);
}

const char *vdb_gemm_backend(void)
{
    static char name[96];
    if (name[0] == '\0')
        snprintf(name, sizeof(name), "openblas (%s, %d threads)", openblas_get_corename(),
                 openblas_get_num_threads());
    return name;
}
#endif
