/* Data families on which a fixed HNSW ef is known to fail (issue 9's
 * table), shared by the recall tests (test_recall.c) and the planner
 * benchmark (bench/recall_planner.c) so both measure the same shapes.
 *
 * Header-only (static functions): each user is one program. Deterministic
 * for a given vdb_rng seed. Ownership: callers own every buffer. */
#ifndef VDB_TESTS_FAMILIES_H
#define VDB_TESTS_FAMILIES_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define FAM_NCENTRES 400u

typedef enum {
    FAM_UNIFORM,     /* unit vectors, uniform on the sphere */
    FAM_CLUSTERED,   /* text-like: tight clusters around 40 centres */
    FAM_NORMS_L2,    /* Gaussian directions, norms spread 25x, euclidean */
    FAM_NORMS_DOT,   /* inner product, norms spread 4x */
    FAM_DUPLICATES,  /* 400 base vectors, each stored many times: exact ties */
    FAM_LOWDIM,      /* 3-d */
    FAM_COPIES       /* clustered, a fifth of the rows one vector between the
                      * clusters (the same text stored again and again) */
} family;

/* One vector of family f into v[dim]; `centres` (family_centres) for the
 * clustered and duplicate families, ignored otherwise. */
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
    case FAM_COPIES: {
        if (vdb_rng_below(rng, 5) == 0) {
            /* halfway between two of the clusters, where searches pass */
            for (uint32_t j = 0; j < dim; j++)
                v[j] = 0.5f * (centres[j] + centres[dim + j]);
            return;
        }
        const float *c = centres + vdb_rng_below(rng, 40) * dim;
        for (uint32_t j = 0; j < dim; j++)
            v[j] = c[j] + (float)(0.35 * vdb_rng_gauss(rng));
        return;
    }
    case FAM_DUPLICATES: {
        const float *c = centres + vdb_rng_below(rng, FAM_NCENTRES) * dim;
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

/* A held-out query of family f: a fresh draw, and for the duplicate family
 * a base vector with small noise (an exact copy would only test ties); for
 * the copies family an ordinary clustered row (the copies are what its
 * searches must not get caught in). */
static inline void gen_query(family f, vdb_rng *rng, uint32_t dim, float *v, const float *centres)
{
    gen(f == FAM_COPIES ? FAM_CLUSTERED : f, rng, dim, v, centres);
    if (f == FAM_DUPLICATES)
        for (uint32_t j = 0; j < dim; j++)
            v[j] += (float)(0.05 * vdb_rng_gauss(rng));
}

/* FAM_NCENTRES x dim Gaussian centres (malloc; the caller frees). */
static inline float *family_centres(uint32_t dim, uint64_t seed)
{
    vdb_rng rng;
    float *c = malloc((size_t)FAM_NCENTRES * dim * sizeof(float));
    vdb_rng_seed(&rng, seed);
    for (size_t i = 0; c != NULL && i < (size_t)FAM_NCENTRES * dim; i++)
        c[i] = (float)vdb_rng_gauss(&rng);
    return c;
}

#endif
