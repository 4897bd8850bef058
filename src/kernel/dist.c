/* Kernel dispatch: chooses an ops table once per process; see dist.h. */
#include "dist.h"

#include <math.h>
#include <pthread.h>

static const vdb_dist_ops *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

const vdb_dist_ops *vdb_dist_for(vdb_isa isa)
{
    if (!vdb_cpu_has(isa))
        return NULL;
    switch (isa) {
    case VDB_ISA_SCALAR:
        return &vdb_dist_ops_scalar;
#if defined(__x86_64__)
    case VDB_ISA_AVX2:
        return &vdb_dist_ops_avx2;
    case VDB_ISA_AVX512:
        return &vdb_dist_ops_avx512;
#endif
#if defined(__aarch64__)
    case VDB_ISA_NEON:
        return &vdb_dist_ops_neon;
#endif
    default:
        return NULL;
    }
}

static void choose(void)
{
    chosen = vdb_dist_for(vdb_cpu_best_isa());
    if (chosen == NULL)
        chosen = &vdb_dist_ops_scalar;
}

const vdb_dist_ops *vdb_dist(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}

float vdb_dist_normalize(float *v, size_t dim)
{
    /* Accumulate in double: the norm of a 8192-d vector must not lose the
     * low bits that make self-similarity exactly 1. */
    double sum = 0.0;
    for (size_t i = 0; i < dim; i++)
        sum += (double)v[i] * (double)v[i];
    double norm = sqrt(sum);
    if (norm > 0.0) {
        float inv = (float)(1.0 / norm);
        for (size_t i = 0; i < dim; i++)
            v[i] *= inv;
    }
    return (float)norm;
}
