/* Portable scalar kernels: the reference every SIMD path is tested against,
 * and the fallback on CPUs without a SIMD path. Four independent partial sums
 * let the compiler pipeline (and auto-vectorize) without -ffast-math. */
#include "dist.h"
#include "dist_int.h"

static float dot_scalar(const float *a, const float *b, size_t dim)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < dim; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float l2sq_scalar(const float *a, const float *b, size_t dim)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

VDB_DIST_MANY(dot_many_scalar, dot_scalar)
VDB_DIST_MANY(l2sq_many_scalar, l2sq_scalar)
VDB_DIST_FOUR(dot4_scalar, dot_scalar)
VDB_DIST_FOUR(l2sq4_scalar, l2sq_scalar)

const vdb_dist_ops vdb_dist_ops_scalar = {
    VDB_ISA_SCALAR, dot_scalar, l2sq_scalar, dot_many_scalar, l2sq_many_scalar,
    dot4_scalar, l2sq4_scalar,
};
