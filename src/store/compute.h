/* The compute behind a store's exact scan, as the API reports and warms it:
 * the BLAS product (kernel/gemm.h) that exact search over many queries runs
 * on. The API reaches it here, through the store layer, rather than
 * including kernel/ itself (issue 10: one floor at a time). Thread-safe. */
#ifndef VDB_STORE_COMPUTE_H
#define VDB_STORE_COMPUTE_H

#include <stdint.h>

#include "../core/err.h"

/* The self-test's shape: VDB_STORE_SELFTEST_N rows of
 * VDB_STORE_SELFTEST_D floats on each side. */
enum { VDB_STORE_SELFTEST_N = 100, VDB_STORE_SELFTEST_D = 384 };

/* Multiplies two generated N x D matrices with the sgemm backend and checks
 * the products against a double-precision reference; *worst = the largest
 * relative error (written on success only). Errors: VDB_ENOMEM. */
int vdb_store_compute_selftest(double *worst, vdb_error *err);

/* Runs one 16 x 1024 sgemm on generated data of width `dim`, so the BLAS
 * code and its threads are hot before a timed run. Errors: VDB_ENOMEM. */
int vdb_store_compute_warm(uint32_t dim, vdb_error *err);

/* The BLAS in use, e.g. "openblas 0.3.21 (SkylakeX)": a static string;
 * never fails. */
const char *vdb_store_compute_backend(void);

#endif
