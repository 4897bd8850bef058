/* Data families for store-level tests (test_recall.c, test_store_quant.c):
 * the shapes on which approximate search is known to fail or where exact
 * answers have ties. Test-only code (plain libc allocation is fine). */
#ifndef VDB_TESTS_FAMILIES_H
#define VDB_TESTS_FAMILIES_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

typedef enum {
    FAM_UNIFORM,     /* unit vectors, uniform on the sphere */
    FAM_CLUSTERED,   /* text-like: tight clusters around 40 centres */
    FAM_NORMS_L2,    /* Gaussian directions, norms spread 25x, euclidean */
    FAM_NORMS_DOT,   /* inner product, norms spread 4x */
    FAM_DUPLICATES,  /* 400 base vectors, each stored 25 times: exact ties */
    FAM_LOWDIM       /* 3-d */
} family;

static inline void gen(family f, vdb_rng *rng, uint32_t dim, float *v, const float *centres)
{
    double norm = 0;
    switch (f) {
    case FAM_CLUSTERED: {
        const float *c = centres + vdb_rng_below(rng, 40) * dim;
        for (uint32_t j = 0; j < dim; j++)
            v[j] = c[j] + (float)(0.35 * vdb_rng_gauss(rng));
        return;
    }
    case FAM_DUPLICATES: {
        /* base vectors come from centres (400 x dim); queries perturb them */
        const float *c = centres + vdb_rng_below(rng, 400) * dim;
        memcpy(v, c, dim * sizeof(float));
        return;
    }
    default:
        break;
    }
    for (uint32_t j = 0; j < dim; j++) {
        v[j] = (float)vdb_rng_gauss(rng);
        norm += (double)v[j] * v[j];
    }
    double scale = 1.0 / sqrt(norm);
    if (f == FAM_NORMS_L2)
        scale *= exp(vdb_rng_uniform(rng) * log(25.0));
    else if (f == FAM_NORMS_DOT)
        scale *= 1.0 + 3.0 * vdb_rng_uniform(rng);
    for (uint32_t j = 0; j < dim; j++)
        v[j] = (float)(v[j] * scale);
}

/* The centres CLUSTERED and DUPLICATES draw from (400 x dim Gaussians;
 * caller frees with free()). */
static inline float *family_centres(family f, uint32_t dim, uint64_t seed)
{
    vdb_rng rng;
    float *c = malloc((size_t)400 * dim * sizeof(float));
    vdb_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)400 * dim; i++)
        c[i] = (float)vdb_rng_gauss(&rng);
    (void)f;
    return c;
}

#endif
