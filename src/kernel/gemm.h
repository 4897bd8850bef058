/* Matrix products through the platform BLAS (OpenBLAS on Linux, Accelerate
 * on macOS). The only file that includes cblas.h. */
#ifndef VDB_KERNEL_GEMM_H
#define VDB_KERNEL_GEMM_H

#include <stddef.h>

/* out[i*ldo + j] = dot(q_i, x_j): a (nq x dim) block of queries times a
 * (nx x dim) block of rows, transposed. All matrices row-major. Thread-safe;
 * the BLAS may use its own threads. */
void vdb_gemm_qxt(const float *q, size_t nq, const float *x, size_t nx, size_t dim, float *out,
                  size_t ldo);

/* Sets the BLAS library's thread count (no-op where not supported). */
void vdb_gemm_set_threads(int nthreads);

/* Name of the BLAS in use, e.g. "openblas 0.3.21 (SkylakeX)" or
 * "accelerate". Borrowed static string. */
const char *vdb_gemm_backend(void);

#endif
