/* Distance kernels with runtime CPU dispatch.
 *
 * Each ISA lives in its own file built with its own CFLAGS (dist_scalar.c is
 * the reference, then dist_avx2.c, dist_avx512.c, dist_neon.c) and exports one
 * ops table; vdb_dist() picks the best table this CPU runs, once. Kernels
 * accept any dimension >= 1 and unaligned pointers; they are pure functions
 * and thread-safe. Cosine is served by the dot kernels on vectors normalized
 * at insert time. */
#ifndef VDB_KERNEL_DIST_H
#define VDB_KERNEL_DIST_H

#include <stddef.h>

#include "../core/cpu.h"

typedef float (*vdb_dist_pair_fn)(const float *a, const float *b, size_t dim);

/* out[i] = f(query, rows + i*dim) for i in [0, n): one query against n
 * consecutive rows, the inner loop of exact search. */
typedef void (*vdb_dist_many_fn)(const float *query, const float *rows, size_t n, size_t dim,
                                 float *out);

/* out[i] = f(query, rows[i]) for 4 rows at any addresses, each result
 * bit-identical to the pair kernel's: HNSW's beam search scores a node's
 * neighbours in fours, so one query load serves 4 rows and the 4 rows'
 * loads are in flight together. */
typedef void (*vdb_dist_four_fn)(const float *query, const float *const rows[4], size_t dim,
                                 float out[4]);

typedef struct vdb_dist_ops {
    vdb_isa isa;
    vdb_dist_pair_fn dot;      /* sum a[i]*b[i] */
    vdb_dist_pair_fn l2sq;     /* sum (a[i]-b[i])^2 */
    vdb_dist_many_fn dot_many;
    vdb_dist_many_fn l2sq_many;
    vdb_dist_four_fn dot4;
    vdb_dist_four_fn l2sq4;
} vdb_dist_ops;

/* The ops for the best ISA of this CPU (see vdb_cpu_best_isa); never NULL. */
const vdb_dist_ops *vdb_dist(void);

/* The ops for one ISA, or NULL when it is not built in or this CPU cannot run
 * it. Tests use this to check every path against the reference. */
const vdb_dist_ops *vdb_dist_for(vdb_isa isa);

/* Scales v to unit L2 norm in place; returns its original norm. A zero vector
 * is left as it is (norm 0). */
float vdb_dist_normalize(float *v, size_t dim);

/* Per-ISA tables; NULL-equivalent entries are absent on other architectures. */
extern const vdb_dist_ops vdb_dist_ops_scalar;
#if defined(__x86_64__)
extern const vdb_dist_ops vdb_dist_ops_avx2;
extern const vdb_dist_ops vdb_dist_ops_avx512;
#endif
#if defined(__aarch64__)
extern const vdb_dist_ops vdb_dist_ops_neon;
#endif

#endif
